//! Driving Switchyard as a relying party and its user's browser would: the
//! tenant most login tests start from, the login pages, the code exchange,
//! and what comes back.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::TestApp;

pub const CALLBACK: &str = "http://localhost:3000/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// alice's email and password in a [`tenant`].
pub const ALICE: (&str, &str) = ("alice@hoekstra.example", "alice-password-1");

/// The tenant most login tests start from.
pub struct Tenant {
    /// `Web`, a confidential client.
    pub client_id: String,
    pub secret: String,
    /// `SPA`, a public client.
    pub public_client_id: String,
    /// `users`, a database connection enabled for both clients.
    pub connection_id: String,
    /// `hoekstra`: membership assigned on login; sign-up enabled in a
    /// [`signup_tenant`].
    pub org_id: String,
    /// `metahexa`: no sign-up; membership assigned on login only in a
    /// [`signup_tenant`].
    pub other_org_id: String,
}

/// Two organizations with the `users` database connection: `hoekstra`
/// (membership assigned on login) and `metahexa` (membership not assigned);
/// a user alice in the connection; a confidential and a public client. The
/// tenant allows organization names in `/authorize` (so tests can say
/// `organization=hoekstra`), and so puts `org_name` in tokens.
pub async fn tenant(app: &TestApp) -> Tenant {
    build_tenant(app, false).await
}

/// As [`tenant`], but people may sign up in `hoekstra`, `metahexa` assigns
/// membership on login too (without sign-up), and bob has an account as well.
pub async fn signup_tenant(app: &TestApp) -> Tenant {
    build_tenant(app, true).await
}

async fn build_tenant(app: &TestApp, signup: bool) -> Tenant {
    let token = app.admin_token().await;
    app.allow_organization_names(&token, true).await;
    let (_, web) = app
        .api(Method::POST, "/api/v2/clients", &token, Some(json!({
            "name": "Web", "app_type": "regular_web", "callbacks": [CALLBACK], "organization_usage": "allow"})))
        .await;
    let (_, spa) = app
        .api(Method::POST, "/api/v2/clients", &token, Some(json!({
            "name": "SPA", "app_type": "spa", "callbacks": [CALLBACK], "organization_usage": "allow"})))
        .await;
    let (_, connection) = app
        .api(Method::POST, "/api/v2/connections", &token, Some(json!({
            "name": "users", "strategy": "auth0", "enabled_clients": [web["client_id"], spa["client_id"]]})))
        .await;
    let mut enabled =
        json!({"connection_id": connection["id"], "assign_membership_on_login": true});
    if signup {
        enabled["is_signup_enabled"] = json!(true);
    }
    let (status, org) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &token,
            Some(json!({
            "name": "hoekstra", "enabled_connections": [enabled]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let (status, other) = app
        .api(Method::POST, "/api/v2/organizations", &token, Some(json!({
            "name": "metahexa",
            "enabled_connections": [{"connection_id": connection["id"], "assign_membership_on_login": signup}]})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let mut users = vec![ALICE];
    if signup {
        users.push(("bob@hoekstra.example", "bob-password-1"));
    }
    for (email, password) in users {
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v2/users",
                &token,
                Some(json!({
                "connection": "users", "email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    Tenant {
        client_id: web["client_id"].as_str().unwrap().into(),
        secret: web["client_secret"].as_str().unwrap().into(),
        public_client_id: spa["client_id"].as_str().unwrap().into(),
        connection_id: connection["id"].as_str().unwrap().into(),
        org_id: org["id"].as_str().unwrap().into(),
        other_org_id: other["id"].as_str().unwrap().into(),
    }
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Every hidden field of a page's form, in order.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once('"').unwrap();
            let value = rest
                .split("value=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// Answers "Log out?" on the confirmation page `page` as the user's click
/// would: posts its form from `browser`; returns the response.
pub async fn confirm_logout(
    app: &TestApp,
    browser: &reqwest::Client,
    page: reqwest::Response,
) -> reqwest::Response {
    assert_eq!(page.status(), StatusCode::OK, "a logout confirmation page");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Log out?"),
        "not the confirmation page: {html}"
    );
    browser
        .post(app.url("/oidc/logout/confirm"))
        .form(&hidden_fields(&html))
        .send()
        .await
        .unwrap()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The `error` in the query of the URL a response redirects to (an
/// authorization error sent back to the client).
pub fn redirect_error(response: &reqwest::Response) -> Option<String> {
    query_param(&location(response), "error")
}

/// Opens `/authorize` with `params`; returns the response (not followed).
pub async fn authorize(
    app: &TestApp,
    browser: &reqwest::Client,
    params: &[(&str, &str)],
) -> reqwest::Response {
    browser
        .get(app.url("/authorize"))
        .query(params)
        .send()
        .await
        .unwrap()
}

/// The identifier page an `/authorize` redirects to: its transaction
/// (`state`, `csrf`) and the response to posting `email` on it.
pub async fn submit_identifier(
    app: &TestApp,
    browser: &reqwest::Client,
    start: reqwest::Response,
    email: &str,
) -> ((String, String), reqwest::Response) {
    assert_eq!(
        start.status(),
        StatusCode::SEE_OTHER,
        "authorize should redirect to the login page"
    );
    let page = browser
        .get(app.url(&location(&start)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (state, csrf) = (hidden(&page, "state"), hidden(&page, "csrf"));
    let response = browser
        .post(app.url("/u/login"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("email", email),
        ])
        .send()
        .await
        .unwrap();
    ((state, csrf), response)
}

/// Goes through the identifier and password pages from an `/authorize`
/// redirect; returns the password step's response.
pub async fn submit_login(
    app: &TestApp,
    browser: &reqwest::Client,
    start: reqwest::Response,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let ((state, csrf), response) = submit_identifier(app, browser, start, email).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "identifier step");
    browser
        .post(app.url("/u/login/password"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// Logs in through the pages from an `/authorize` redirect; returns where the
/// password step redirects to.
pub async fn log_in(
    app: &TestApp,
    browser: &reqwest::Client,
    start: reqwest::Response,
    email: &str,
    password: &str,
) -> String {
    let response = submit_login(app, browser, start, email, password).await;
    match response.status() {
        StatusCode::SEE_OTHER => location(&response),
        status => format!("status {status}: {}", response.text().await.unwrap()),
    }
}

/// Logs alice (of a [`tenant`]) in through the pages from an `/authorize`
/// redirect; returns where the password step redirects to.
pub async fn log_in_alice(
    app: &TestApp,
    browser: &reqwest::Client,
    start: reqwest::Response,
) -> String {
    log_in(app, browser, start, ALICE.0, ALICE.1).await
}

/// Logs alice in through the pages for an `/authorize` with `params`, in a
/// new browser (no SSO session); returns the code the client receives.
pub async fn alice_code(app: &TestApp, params: &[(&str, &str)]) -> String {
    let browser = &browser();
    let start = authorize(app, browser, params).await;
    let callback = log_in_alice(app, browser, start).await;
    query_param(&callback, "code").unwrap_or_else(|| panic!("no code in {callback}"))
}

pub fn code_params<'a>(
    client_id: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "st-123"),
        ("nonce", "n-456"),
    ];
    params.extend_from_slice(extra);
    params
}

/// `params` with `scope` in place of their scope.
pub fn with_scope<'a>(
    mut params: Vec<(&'a str, &'a str)>,
    scope: &'a str,
) -> Vec<(&'a str, &'a str)> {
    params.retain(|(k, _)| *k != "scope");
    params.push(("scope", scope));
    params
}

/// The token request redeeming `code` for the tenant's confidential client.
pub fn code_form<'a>(t: &'a Tenant, code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("client_id", &t.client_id),
        ("client_secret", &t.secret),
    ]
}

/// Redeems `code` for the tenant's confidential client (with the PKCE
/// verifier when given); asserts it succeeds and returns the tokens.
pub async fn redeem_code(app: &TestApp, t: &Tenant, code: &str, verifier: Option<&str>) -> Value {
    let mut form = code_form(t, code);
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier));
    }
    let (status, tokens) = redeem(app, &form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

pub async fn redeem(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// `/userinfo` with `access_token`: the status and the JSON body.
pub async fn userinfo_of(app: &TestApp, access_token: &str) -> (StatusCode, Value) {
    let response = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn token_state(
    app: &TestApp,
    endpoint: &str,
    client_id: &str,
    secret: Option<&str>,
    token: &str,
) -> (StatusCode, Value) {
    let mut form = vec![("token", token), ("client_id", client_id)];
    if let Some(secret) = secret {
        form.push(("client_secret", secret));
    }
    let response = app
        .http
        .post(app.url(endpoint))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub async fn other_confidential_client(app: &TestApp) -> (String, String) {
    let admin = app.admin_token().await;
    let (_, other) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &admin,
            Some(json!({"name": "Other", "app_type": "regular_web", "callbacks": [CALLBACK]})),
        )
        .await;
    (
        other["client_id"].as_str().unwrap().to_owned(),
        other["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// The claims of a JWT, unverified (the tests that verify signatures do so
/// against the JWKS).
pub fn claims(token: &str) -> Value {
    jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .unwrap()
        .claims
}
