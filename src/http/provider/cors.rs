//! CORS for browser apps (single-page apps calling the token, revocation
//! and userinfo endpoints from JavaScript), as Auth0 does it: an origin a
//! client registers (`allowed_origins`, `web_origins`, or a callback's
//! origin, see [`Client::cors_origins`]) may read that client's answers,
//! and no other. Discovery and JWKS are public: any origin may read them.
//! Nothing else answers CORS requests: the Management API and the login
//! pages are not for other origins' scripts.
//!
//! A preflight carries no body, so it cannot say which client the request
//! is for: it is allowed for an origin that any client registers (a cached
//! set). The actual response then names its client ([`ReadableBy`]) and
//! keeps `Access-Control-Allow-Origin` only for that client's origins.
//! No credentials mode: these endpoints take no cookies.
//!
//! [`Client::cors_origins`]: crate::model::client::Client::cors_origins

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::MethodRouter;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::state::AppState;

/// How long a browser may cache a preflight's answer (Chromium caps it at
/// two hours); actual responses are checked every time.
const PREFLIGHT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// `methods` with their CORS `layer`, which answers preflights: OPTIONS
/// gets a route of its own, since the router's 405 answer to an unrouted
/// method is not layered.
pub fn with_preflight(methods: MethodRouter<AppState>, layer: CorsLayer) -> MethodRouter<AppState> {
    methods
        .options(|| async { StatusCode::NO_CONTENT })
        .layer(layer)
}

/// Discovery and JWKS: `Access-Control-Allow-Origin: *`.
pub fn public() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET])
        .max_age(PREFLIGHT_MAX_AGE)
}

/// The token, revocation and userinfo endpoints: preflights for `methods`
/// from an origin some client registers; an actual response keeps its
/// `Access-Control-Allow-Origin` only as [`keep_only_the_clients_origins`]
/// decides. The headers are those a browser app sends: `Authorization`
/// (a bearer token), `Content-Type` (JSON bodies) and Auth0's SDKs'
/// `Auth0-Client`.
pub fn for_clients(state: &AppState, methods: &[Method]) -> CorsLayer {
    let state = state.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::async_predicate(
            move |origin: HeaderValue, _| async move {
                match origin.to_str() {
                    Ok(origin) => any_client_registers(&state, origin).await,
                    Err(_) => false,
                }
            },
        ))
        .allow_methods(methods.to_vec())
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("auth0-client"),
        ])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(PREFLIGHT_MAX_AGE)
}

async fn any_client_registers(state: &AppState, origin: &str) -> bool {
    match state.clients.registered_origins(&state.store).await {
        Ok(origins) => origins.allows(origin),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the registered origins");
            false
        }
    }
}

/// Which origins may read a response of the token, revocation or userinfo
/// endpoint: set by the handler as a response extension. A response
/// without one is readable by none.
#[derive(Debug, Clone)]
pub enum ReadableBy {
    /// The client the request was for (its `client_id`, or the access
    /// token's): only its origins.
    Client(String),
    /// An error that names no client (a malformed request, an invalid
    /// access token): it says nothing about anyone, so any registered
    /// origin may read it, and the app learns what went wrong.
    AnyRegisteredOrigin,
}

impl ReadableBy {
    /// `response`, readable by these origins.
    pub fn mark(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

/// Outside [`for_clients`]' layer: removes the `Access-Control-Allow-Origin`
/// it added to an actual response unless the response's client
/// ([`ReadableBy`]) registers the origin.
pub async fn keep_only_the_clients_origins(
    State(state): State<AppState>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let preflight = request.method() == Method::OPTIONS;
    let mut response = next.run(request).await;
    if preflight {
        return response;
    }
    let Some(origin) = response
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return response;
    };
    let readable = match response.extensions().get::<ReadableBy>() {
        Some(ReadableBy::AnyRegisteredOrigin) => true,
        Some(ReadableBy::Client(client_id)) => {
            match state.clients.get(&state.store, client_id).await {
                Ok(Some(client)) => client.cors_origins().allows(origin),
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the client's origins");
                    false
                }
            }
        }
        None => false,
    };
    if !readable {
        let headers = response.headers_mut();
        headers.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
    response
}
