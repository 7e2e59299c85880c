//! `/authorize` as a client looping over it would use it: every request
//! stores a login transaction, so their size and number are bounded.

use reqwest::StatusCode;

use crate::on_both_backends;
use crate::support::oidc::{authorize, browser, code_params, location, query_param, tenant};
use crate::support::{Backend, spawn};
use switchyard::flows::throttle::{LOGIN_START_LIMIT, LOGIN_START_WINDOW_MS};

on_both_backends!(
    oversized_parameters_are_refused_before_anything_is_stored,
    one_address_cannot_start_logins_without_end
);

async fn oversized_parameters_are_refused_before_anything_is_stored(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    let huge = "s".repeat(30_000);
    for name in ["state", "nonce", "login_hint"] {
        let mut params = code_params(&t.client_id, &[]);
        params.retain(|(k, _)| *k != name);
        params.push((name, &huge));
        let response = authorize(&app, &b, &params).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let to = location(&response);
        assert!(to.starts_with("http://localhost:3000/callback?"), "{to}");
        assert_eq!(
            query_param(&to, "error").as_deref(),
            Some("invalid_request")
        );
        assert_eq!(
            query_param(&to, "error_description"),
            Some(format!("Parameter '{name}' is too long"))
        );
    }
    // A request of honest size still starts a login.
    let response = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    assert!(location(&response).starts_with("/u/login"));
}

async fn one_address_cannot_start_logins_without_end(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    let params = code_params(&t.client_id, &[]);
    for i in 0..LOGIN_START_LIMIT {
        let response = authorize(&app, &b, &params).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login {i}");
        assert!(location(&response).starts_with("/u/login"), "login {i}");
    }
    let refused = authorize(&app, &b, &params).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.headers()["retry-after"].to_str().unwrap(),
        (LOGIN_START_WINDOW_MS / 1000).to_string()
    );
    assert!(refused.headers().get("set-cookie").is_none());
    // Requests that start no transaction are not refused: a bad one still
    // gets its error at the client.
    let mut bad = params.clone();
    bad.push(("prompt", "bogus"));
    let response = authorize(&app, &b, &bad).await;
    assert_eq!(
        query_param(&location(&response), "error").as_deref(),
        Some("invalid_request")
    );
}
