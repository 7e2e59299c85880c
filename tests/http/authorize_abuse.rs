//! `/authorize` and the code it issues as an attacker would use them: every
//! request stores a login transaction, so their size and number are bounded;
//! a code is redeemed by its own client only, and nobody else can burn it.

use reqwest::StatusCode;

use crate::on_both_backends;
use crate::support::oidc::{
    CALLBACK, alice_code, authorize, browser, code_form, code_params, location,
    other_confidential_client, query_param, redeem, tenant,
};
use crate::support::{Backend, spawn};
use switchyard::flows::throttle::{LOGIN_START_LIMIT, LOGIN_START_WINDOW_MS};

on_both_backends!(
    another_client_cannot_burn_a_code,
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

/// A store failure is logged, never shown: the client gets a bare
/// `server_error`, a browser a generic page with the request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_failures_are_not_shown_to_users() {
    use sqlx::{Connection as _, Executor as _};
    let app = spawn(Backend::Sqlite).await;
    let t = tenant(&app).await;
    let b = browser();
    let mut db = sqlx::SqliteConnection::connect(&app.database_url)
        .await
        .unwrap();
    db.execute("alter table resource_servers rename to resource_servers_gone")
        .await
        .unwrap();
    let params = code_params(&t.client_id, &[("audience", "https://api.example.com/")]);
    let response = authorize(&app, &b, &params).await;
    let to = location(&response);
    assert_eq!(query_param(&to, "error").as_deref(), Some("server_error"));
    let description = query_param(&to, "error_description").unwrap();
    assert_eq!(description, "The server could not complete the request");

    // Before the client is known, a page: 500, the request id, no detail.
    db.execute("alter table clients rename to clients_gone")
        .await
        .unwrap();
    let response = authorize(&app, &b, &code_params("an-uncached-client", &[])).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let page = response.text().await.unwrap();
    assert!(page.contains(&request_id), "{page}");
    for leak in ["clients", "sqlite", "no such table", "error returned"] {
        assert!(!page.to_lowercase().contains(leak), "{leak} in {page}");
    }
}

async fn another_client_cannot_burn_a_code(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let code = alice_code(&app, &code_params(&t.client_id, &[])).await;
    // Client B presents client A's code: refused, and the code is not used up.
    let (other_id, other_secret) = other_confidential_client(&app).await;
    let (status, body) = redeem(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", &other_id),
            ("client_secret", &other_secret),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    // Client A's own exchange still succeeds.
    let (status, body) = redeem(&app, &code_form(&t, &code)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());
}
