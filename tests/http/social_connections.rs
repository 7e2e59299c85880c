//! Social and generic OAuth 2.0 connections: what the Management API checks
//! of an `oauth2` connection's profile options when they are written, and
//! the way out of the login to such an upstream (the journey against a real
//! OAuth 2.0 server is in tests/peers.rs, oidc-provider).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{authorize, browser, code_params, location, tenant};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    oauth2_profile_options_are_checked_when_written,
    a_social_button_sends_the_browser_to_the_provider_with_pkce,
    a_connection_that_cannot_log_in_ends_on_a_page_naming_it,
);

fn oauth2_options(extra: Value) -> Value {
    let mut options = json!({
        "authorizationURL": "https://idp.example.com/authorize",
        "tokenURL": "https://idp.example.com/token",
        "client_id": "switchyard", "client_secret": "upstream-s3cret",
    });
    for (key, value) in extra.as_object().unwrap() {
        options[key] = value.clone();
    }
    options
}

async fn create(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.api(Method::POST, "/api/v2/connections", token, Some(body))
        .await
}

fn refused_on(body: &Value, field: &str) {
    assert_eq!(body["statusCode"], 400, "{body}");
    assert_eq!(body["error"], "Bad Request", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!("on property {field}")),
        "{field}: {message}"
    );
}

async fn oauth2_profile_options_are_checked_when_written(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    for (extra, field) in [
        (
            json!({"userInfoURL": "http://idp.example.com/me"}),
            "options.userInfoURL",
        ),
        (
            json!({"userInfoURL": ["https://idp.example.com/me"]}),
            "options.userInfoURL",
        ),
        (json!({"userInfoURL": "me"}), "options.userInfoURL"),
        (json!({"profile_map": "sub"}), "options.profile_map"),
        (
            json!({"profile_map": {"email": "mail"}}),
            "options.profile_map",
        ),
        (
            json!({"profile_map": {"subject": "id", "emial": "mail"}}),
            "options.profile_map.emial",
        ),
        (
            json!({"profile_map": {"subject": "id", "email": 3}}),
            "options.profile_map.email",
        ),
        (
            json!({"profile_map": {"subject": ""}}),
            "options.profile_map.subject",
        ),
    ] {
        let (status, body) = create(
            &app,
            &token,
            json!({"name": "partner", "strategy": "oauth2", "options": oauth2_options(extra)}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
        refused_on(&body, field);
    }

    // As an Auth0 export has it (its profile from scripts.fetchUserProfile):
    // accepted, so that provisioning tools can sync it.
    let (status, synced) = create(
        &app,
        &token,
        json!({"name": "partner", "strategy": "oauth2", "options": oauth2_options(
            json!({"scripts": {"fetchUserProfile": "function (token, ctx, cb) { cb(null, {}) }"}}))}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{synced}");
    let path = format!("/api/v2/connections/{}", synced["id"].as_str().unwrap());
    // An update is checked the same way; a good one is kept as sent.
    let (status, body) = app
        .api(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"options": oauth2_options(json!({"userInfoURL": "ftp://idp.example.com/me"}))})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    refused_on(&body, "options.userInfoURL");
    let profile_map = json!({"subject": "/data/id", "email": ["mail", "email"]});
    let (status, body) = app
        .api(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"options": oauth2_options(json!({
                "userInfoURL": "https://idp.example.com/me", "profile_map": profile_map}))})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["options"]["userInfoURL"], "https://idp.example.com/me");
    assert_eq!(body["options"]["profile_map"], profile_map);
    assert!(body["options"].get("client_secret").is_none());
}

/// A connection enabled for the tenant's web client; its id.
async fn enabled_connection(app: &TestApp, client_id: &str, body: Value) -> String {
    let token = app.admin_token().await;
    let mut body = body;
    body["enabled_clients"] = json!([client_id]);
    let (status, created) = create(app, &token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn a_social_button_sends_the_browser_to_the_provider_with_pkce(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    enabled_connection(
        &app,
        &t.client_id,
        json!({"name": "github", "strategy": "github", "display_name": "GitHub",
               "options": {"client_id": "gh-client", "client_secret": "gh-s3cret", "read_org": true}}),
    )
    .await;
    let b = browser();
    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let page = b.get(app.url(&location(&start))).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Continue with GitHub"), "{html}");
    let href = html
        .split("href=\"")
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .find(|href| href.contains("connection=github"))
        .unwrap_or_else(|| panic!("no button: {html}"));
    let upstream = b.get(app.url(&href)).send().await.unwrap();
    assert_eq!(upstream.status(), StatusCode::SEE_OTHER);
    let to = url::Url::parse(&location(&upstream)).unwrap();
    assert_eq!(
        to.as_str().split('?').next(),
        Some("https://github.com/login/oauth/authorize")
    );
    let params: std::collections::BTreeMap<String, String> =
        to.query_pairs().into_owned().collect();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], "gh-client");
    assert_eq!(
        params["redirect_uri"],
        format!("{}login/callback", app.issuer)
    );
    assert_eq!(params["scope"], "read:user user:email read:org");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["code_challenge"].len(), 43);
    assert!(params["state"].len() >= 43);
    assert!(!to.as_str().contains("gh-s3cret"));
}

async fn a_connection_that_cannot_log_in_ends_on_a_page_naming_it(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    // A social connection without a client of its own (Switchyard has no
    // development keys), and an oauth2 one synced without userInfoURL.
    enabled_connection(
        &app,
        &t.client_id,
        json!({"name": "google", "strategy": "google-oauth2", "display_name": "Google Workspace"}),
    )
    .await;
    enabled_connection(
        &app,
        &t.client_id,
        json!({"name": "partner", "strategy": "oauth2", "options": oauth2_options(json!({}))}),
    )
    .await;
    for (name, label) in [("google", "Google Workspace"), ("partner", "partner")] {
        let b = browser();
        let start = authorize(
            &app,
            &b,
            &code_params(&t.client_id, &[("connection", name)]),
        )
        .await;
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let page = b.get(app.url(&location(&start))).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{name}");
        let html = page.text().await.unwrap();
        assert!(
            html.contains(&format!("Cannot sign in with {label}")),
            "{name}: {html}"
        );
        assert!(html.contains("not set up for sign-in"), "{name}: {html}");
        assert!(!html.contains("upstream-s3cret"), "{html}");
    }
}
