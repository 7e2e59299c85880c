//! What an orchestrator and a scraper ask: `/healthz` (the process
//! answers), `/readyz` (it can serve: the database answers, the signing keys
//! are loaded) and `/metrics` (Prometheus). Outside `/api/v2`, without
//! authentication, and not in the Management API's OpenAPI document.
//!
//! `/metrics` is served on the metrics listener only (`[metrics] listen`),
//! as Keycloak's management port and Dex's telemetry address do: it tells
//! the traffic's shape and names clients' connections, so it stays off the
//! public port, and the operator binds it where only the scraper reaches
//! (loopback, a pod's own address) instead of handing it a token.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::model::client::SigningAlg;
use crate::state::AppState;

/// How long `/readyz` waits for the database: a probe must answer before
/// the orchestrator's own timeout (Kubernetes: one second by default).
const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_millis(900);

/// The route label of a request no route matched.
const UNMATCHED_ROUTE: &str = "unmatched";

/// `/healthz` and `/readyz`, on the public port.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The metrics listener's routes: `/metrics`, the probes beside it, and
/// `/routing/{domain}`.
pub fn metrics_router(state: AppState) -> Router {
    router()
        .route("/metrics", get(metrics))
        .route("/routing/{domain}", get(routing))
        .with_state(state)
}

/// Where this node's routing table (in memory) sends an email of `domain`
/// now: what an operator asks when nodes seem to disagree. On the metrics
/// listener only, as it names the organization that owns a domain.
async fn routing(
    State(state): State<AppState>,
    axum::extract::Path(domain): axum::extract::Path<String>,
) -> Response {
    let Ok(domain) = crate::model::domain::normalize(&domain) else {
        return probe_answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "not a domain name"}),
        );
    };
    match state.routing.route(&domain) {
        Some(route) => probe_answer(
            StatusCode::OK,
            json!({"domain": route.domain, "organization_id": route.organization_id,
                   "connection_id": route.connection_id}),
        ),
        None => probe_answer(StatusCode::NOT_FOUND, json!({"domain": null})),
    }
}

/// Liveness: the process answers; nothing else is asked.
async fn healthz() -> Response {
    probe_answer(StatusCode::OK, json!({"status": "ok"}))
}

/// Readiness: 200 when the database answers a trivial query in time and
/// every algorithm has a current signing key; else 503 naming the check
/// that failed.
async fn readyz(State(state): State<AppState>) -> Response {
    let database = state.store.answers(DATABASE_CHECK_TIMEOUT).await;
    let signing_keys = SigningAlg::ALL
        .iter()
        .all(|alg| state.keys.current_kid(*alg).is_some());
    let verdict = |ok: bool| if ok { "ok" } else { "failed" };
    let ready = database && signing_keys;
    probe_answer(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        json!({
            "status": if ready { "ok" } else { "unavailable" },
            "checks": {
                "database": verdict(database),
                "signing_keys": verdict(signing_keys),
            },
        }),
    )
}

fn probe_answer(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(body),
    )
        .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding the metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Counts every request by method, route template and status, and times
/// it. The route is the template that matched (`/api/v2/clients/{id}`), so
/// ids never make series of their own; unknown methods count as `OTHER`.
pub(super) async fn count_request(
    State(state): State<AppState>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.request(
        method,
        route.as_deref().unwrap_or(UNMATCHED_ROUTE),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
