//! The login's way out to upstream identity providers, and back: what is
//! refused before any IdP answers (the journeys against a real IdP are in
//! tests/peers.rs, oidc-provider).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::on_both_backends;
use crate::support::oidc::{
    CALLBACK, authorize, browser, code_params, location, query_param, redirect_error, tenant,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    the_login_page_offers_an_upstream_connection_as_a_button,
    an_organizations_button_shows_the_connections_display_name,
    an_unreachable_idp_ends_on_a_page_naming_the_connection,
    an_idp_on_a_private_network_is_not_called_unless_allowed,
    callbacks_for_no_pending_request_are_refused,
    only_connections_of_the_login_are_followed,
    an_organizations_connection_needs_the_client_too,
    a_connection_disabled_during_the_round_trip_logs_no_one_in,
);

/// An OIDC connection enabled for the tenant's web client; its id.
async fn oidc_connection(app: &TestApp, client_id: &str, name: &str, issuer: &str) -> String {
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v2/connections",
            &token,
            Some(json!({"name": name, "strategy": "oidc", "display_name": "Acme SSO",
                "enabled_clients": [client_id],
                "options": {"issuer": issuer, "client_id": "switchyard", "client_secret": "s3cret"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// `/authorize` with `params`, following its redirect to the login page.
async fn login_page(
    app: &TestApp,
    b: &reqwest::Client,
    params: &[(&str, &str)],
) -> reqwest::Response {
    let start = authorize(app, b, params).await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    b.get(app.url(&location(&start))).send().await.unwrap()
}

async fn the_login_page_offers_an_upstream_connection_as_a_button(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    oidc_connection(&app, &t.client_id, "acme-sso", "https://idp.acme.example").await;
    let b = browser();
    let page = login_page(&app, &b, &code_params(&t.client_id, &[])).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Continue with Acme SSO"), "{html}");
    assert!(html.contains("/u/login/connection?state="), "{html}");
    assert!(html.contains("connection=acme-sso"), "{html}");
}

async fn an_organizations_button_shows_the_connections_display_name(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let connection =
        oidc_connection(&app, &t.client_id, "acme-sso", "https://idp.acme.example").await;
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{}/enabled_connections", t.org_id),
            &token,
            Some(json!({"connection_id": connection, "show_as_button": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let b = browser();
    let params = code_params(&t.client_id, &[("organization", &t.org_id)]);
    let html = login_page(&app, &b, &params).await.text().await.unwrap();
    assert!(html.contains("Continue with Acme SSO"), "{html}");
    assert!(html.contains("connection=acme-sso"), "{html}");
}

async fn an_unreachable_idp_ends_on_a_page_naming_the_connection(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    // A loopback port nothing listens on (loopback is allowed: the test
    // server's issuer is on localhost).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    oidc_connection(
        &app,
        &t.client_id,
        "acme-sso",
        &format!("http://127.0.0.1:{port}"),
    )
    .await;
    let b = browser();
    let page = login_page(
        &app,
        &b,
        &code_params(&t.client_id, &[("connection", "acme-sso")]),
    )
    .await;
    assert_eq!(page.status(), StatusCode::BAD_GATEWAY);
    let html = page.text().await.unwrap();
    assert!(html.contains("Cannot sign in with Acme SSO"), "{html}");
    assert!(html.contains("could not be reached"), "{html}");
    assert!(
        !html.contains("s3cret") && !html.contains(&port.to_string()),
        "no details on the page: {html}"
    );
}

async fn an_idp_on_a_private_network_is_not_called_unless_allowed(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    oidc_connection(&app, &t.client_id, "intranet-sso", "https://10.255.255.1").await;
    let b = browser();
    let page = login_page(
        &app,
        &b,
        &code_params(&t.client_id, &[("connection", "intranet-sso")]),
    )
    .await;
    // Refused before any packet leaves (no connect timeout waited for).
    assert_eq!(page.status(), StatusCode::BAD_GATEWAY);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Cannot sign in with Acme SSO")
    );
}

async fn callbacks_for_no_pending_request_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    let b = browser();
    let get = b
        .get(app.url("/login/callback?code=c&state=never-issued"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::BAD_REQUEST);
    assert!(
        get.text()
            .await
            .unwrap()
            .contains("Sign-in response not expected")
    );
    let post = b
        .post(app.url("/login/callback"))
        .form(&[("id_token", "x.y.z"), ("state", "never-issued")])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::BAD_REQUEST);
    let no_state = b
        .get(app.url("/login/callback?code=c"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_state.status(), StatusCode::BAD_REQUEST);
    let resume = b
        .get(app.url("/u/login/callback?state=never-issued"))
        .send()
        .await
        .unwrap();
    assert_eq!(resume.status(), StatusCode::BAD_REQUEST);
}

async fn only_connections_of_the_login_are_followed(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    let page = login_page(&app, &b, &code_params(&t.client_id, &[])).await;
    let transaction = page
        .url()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    // The password database is no upstream; an unknown name is no connection.
    for name in ["users", "nope"] {
        let refused = b
            .get(app.url(&format!(
                "/u/login/connection?state={transaction}&connection={name}"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{name}");
    }
    // Another browser cannot send this login anywhere.
    let other = browser()
        .get(app.url(&format!(
            "/u/login/connection?state={transaction}&connection=users"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::BAD_REQUEST);
    assert!(
        other
            .text()
            .await
            .unwrap()
            .contains("Login session expired")
    );
}

/// Enables `connection_id` on an organization, shown as a button.
async fn enable_on_organization(app: &TestApp, org_id: &str, connection_id: &str) {
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{org_id}/enabled_connections"),
            &token,
            Some(json!({"connection_id": connection_id, "show_as_button": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Sets the clients `connection_id` is enabled for.
async fn enable_for_clients(app: &TestApp, connection_id: &str, clients: &[&str]) {
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{connection_id}"),
            &token,
            Some(json!({ "enabled_clients": clients })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// As Auth0: a connection enabled on the organization but not for the
/// application is neither offered, nor followed by `connection=NAME`, nor
/// by its button's URL.
async fn an_organizations_connection_needs_the_client_too(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let connection =
        oidc_connection(&app, &t.client_id, "acme-sso", "https://idp.acme.example").await;
    enable_for_clients(&app, &connection, &[]).await;
    enable_on_organization(&app, &t.org_id, &connection).await;
    let b = browser();
    let in_org = code_params(&t.client_id, &[("organization", &t.org_id)]);
    let page = login_page(&app, &b, &in_org).await;
    assert_eq!(page.status(), StatusCode::OK);
    let transaction = query_param(page.url().as_str(), "state").unwrap();
    let html = page.text().await.unwrap();
    assert!(!html.contains("Acme SSO"), "{html}");
    let followed = b
        .get(app.url(&format!(
            "/u/login/connection?state={transaction}&connection=acme-sso"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), StatusCode::BAD_REQUEST);

    // `connection=acme-sso`: an OAuth error back to the application.
    let named = code_params(
        &t.client_id,
        &[("organization", &t.org_id), ("connection", "acme-sso")],
    );
    let refused = login_page(&app, &browser(), &named).await;
    assert!(refused.status().is_redirection(), "{}", refused.status());
    assert!(location(&refused).starts_with(CALLBACK));
    assert_eq!(redirect_error(&refused).as_deref(), Some("invalid_request"));

    // Enabled for the application as well, it is offered.
    enable_for_clients(&app, &connection, &[&t.client_id]).await;
    let html = login_page(&app, &browser(), &in_org)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Continue with Acme SSO"), "{html}");
}

/// The IdP answers after the connection was disabled for the application:
/// the callback ends with an OAuth error to the application (the upstream's
/// answer is not even verified, no user is made).
async fn a_connection_disabled_during_the_round_trip_logs_no_one_in(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let connection =
        oidc_connection(&app, &t.client_id, "acme-sso", "https://idp.acme.example").await;
    enable_on_organization(&app, &t.org_id, &connection).await;
    let b = browser();
    let page = login_page(
        &app,
        &b,
        &code_params(&t.client_id, &[("organization", &t.org_id)]),
    )
    .await;
    let transaction = query_param(page.url().as_str(), "state").unwrap();
    // The record `begin` leaves for the round trip (begin itself would
    // fetch the IdP's keys).
    let upstream_state = "state-sent-upstream";
    let store = &app.served_state.store;
    assert!(
        store
            .insert_upstream_request(&switchyard::store::StoredUpstreamRequest {
                state_hash: switchyard::flows::sha256_hex(upstream_state),
                transaction_id: transaction,
                connection_id: connection.clone(),
                nonce: "n".into(),
                pkce_verifier: None,
                response: None,
                expires_at: app.clock.now_unix_millis() + 600_000,
            })
            .await
            .unwrap()
    );
    enable_for_clients(&app, &connection, &[]).await;

    let callback = b
        .get(app.url(&format!("/login/callback?code=c&state={upstream_state}")))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    let resumed = b.get(app.url(&location(&callback))).send().await.unwrap();
    assert!(resumed.status().is_redirection(), "{}", resumed.status());
    assert!(location(&resumed).starts_with(CALLBACK));
    assert_eq!(redirect_error(&resumed).as_deref(), Some("access_denied"));
    let token = app.admin_token().await;
    let (_, users) = app
        .api(
            Method::GET,
            "/api/v2/users?connection=acme-sso&include_totals=true",
            &token,
            None,
        )
        .await;
    assert_eq!(users["total"], 0, "{users}");
}
