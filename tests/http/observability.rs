//! What an operator's tooling asks: the probes (`/healthz`, `/readyz`) and
//! Prometheus metrics on the metrics listener, counting what happened.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{
    ALICE, alice_code, authorize, browser, code_params, redeem_code, submit_login, tenant,
};
use crate::support::{Backend, TestApp, spawn, spawn_configured};

on_both_backends!(
    probes_tell_liveness_and_readiness,
    metrics_count_requests_logins_and_tokens
);

async fn probe(app: &TestApp, base: &str, path: &str) -> (StatusCode, Value) {
    let response = app.http.get(format!("{base}{path}")).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn probes_tell_liveness_and_readiness(backend: Backend) {
    let app = spawn(backend).await;
    let metrics_base = app.metrics_base.clone().unwrap();
    for base in [app.base.as_str(), metrics_base.as_str()] {
        assert_eq!(
            probe(&app, base, "/healthz").await,
            (StatusCode::OK, json!({"status": "ok"}))
        );
        assert_eq!(
            probe(&app, base, "/readyz").await,
            (
                StatusCode::OK,
                json!({"status": "ok", "checks": {"database": "ok", "signing_keys": "ok"}})
            )
        );
    }
    // The database goes away under the server: not ready, but alive.
    app.served_store.close().await;
    assert_eq!(
        probe(&app, &app.base, "/readyz").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unavailable", "checks": {"database": "failed", "signing_keys": "ok"}})
        )
    );
    assert_eq!(
        probe(&app, &metrics_base, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        probe(&app, &app.base, "/healthz").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
}

/// The probes and metrics are the operator's, not the Management API's.
#[test]
fn probes_and_metrics_are_not_in_the_openapi_document() {
    let document = switchyard::http::openapi().to_json().unwrap();
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(!document.contains(&format!("\"{path}\"")), "{path}");
    }
}

/// `/metrics` answers on the metrics listener only; without one configured
/// it is nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_the_metrics_listener_only() {
    let app = spawn(Backend::Sqlite).await;
    let public = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let scraped = app
        .http
        .get(format!("{}/metrics", app.metrics_base.as_ref().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert_eq!(
        scraped.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );

    let unscraped = spawn_configured(Backend::Sqlite, |config| config.metrics_listen = None).await;
    assert!(unscraped.metrics_base.is_none());
    let public = unscraped
        .http
        .get(unscraped.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
}

async fn scrape(app: &TestApp) -> String {
    let url = format!("{}/metrics", app.metrics_base.as_ref().unwrap());
    let response = app.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The value of the sample of `name` whose labels include `labels`, or
/// `None` when there is none.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((series_name, rest)) => (series_name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let matches = series_name == name
                && labels.iter().all(|(key, value)| {
                    series_labels
                        .split(',')
                        .any(|pair| pair == format!("{key}=\"{value}\""))
                });
            matches.then(|| value.parse().unwrap())
        })
}

fn count(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or(0.0)
}

async fn metrics_count_requests_logins_and_tokens(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let token = app.admin_token().await;
    let before = scrape(&app).await;

    // A request on a route with an id: counted under the route's template.
    let organization = format!("/api/v2/organizations/{}", t.org_id);
    let (status, _) = app.api(Method::GET, &organization, &token, None).await;
    assert_eq!(status, StatusCode::OK);
    // A token of each grant the flows use.
    app.admin_token().await;
    let code = alice_code(&app, &code_params(&t.client_id, &[])).await;
    redeem_code(&app, &t, &code, None).await;
    // A wrong password.
    let b = browser();
    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    let refused = submit_login(&app, &b, start, ALICE.0, "not-her-password").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "the form again");

    let after = scrape(&app).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        count(&after, name, labels) - count(&before, name, labels)
    };
    let route = [
        ("method", "GET"),
        ("route", "/api/v2/organizations/{id}"),
        ("status", "200"),
    ];
    assert_eq!(moved("switchyard_http_requests_total", &route), 1.0);
    assert!(
        !after.contains(&t.org_id),
        "ids never make series of their own"
    );
    let timed = [("method", "GET"), ("route", "/api/v2/organizations/{id}")];
    assert_eq!(
        moved("switchyard_http_request_duration_seconds_count", &timed),
        1.0
    );
    assert!(
        sample(
            &after,
            "switchyard_http_request_duration_seconds_bucket",
            &timed
        )
        .is_some()
    );
    assert_eq!(
        moved(
            "switchyard_tokens_issued_total",
            &[("grant_type", "client_credentials")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "switchyard_tokens_issued_total",
            &[("grant_type", "authorization_code")]
        ),
        1.0
    );
    let login = |outcome| {
        [
            ("connection", t.connection_id.as_str()),
            ("outcome", outcome),
        ]
    };
    assert_eq!(moved("switchyard_logins_total", &login("success")), 1.0);
    assert_eq!(
        moved("switchyard_logins_total", &login("wrong_password")),
        1.0
    );
    // The client was read on each request: from memory after the first.
    assert!(moved("switchyard_cache_hits_total", &[("cache", "clients")]) >= 1.0);
    assert!(
        sample(
            &after,
            "switchyard_cache_misses_total",
            &[("cache", "clients")]
        )
        .is_some()
    );
    for (name, labels) in [
        ("switchyard_db_pool_connections", &[("state", "idle")][..]),
        ("switchyard_db_pool_connections", &[("state", "in_use")][..]),
        ("switchyard_db_pool_max_connections", &[][..]),
        ("switchyard_password_hashing_queue_depth", &[][..]),
        ("switchyard_password_hashing_busy_refusals_total", &[][..]),
    ] {
        assert!(sample(&after, name, labels).is_some(), "{name} in\n{after}");
    }
    assert!(count(&after, "switchyard_db_pool_max_connections", &[]) >= 1.0);
}
