//! Consent: a third-party client gets a code only after the user accepted
//! its scopes on the consent page; the answer is remembered per user,
//! client and audience, asked again for more scopes, forced by
//! `prompt=consent`, refused to `prompt=none`; first-party clients never
//! ask. The Management API lists and revokes the grants (Auth0's
//! `/api/v2/grants`), and a revoked grant asks again.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{
    ALICE, CALLBACK, Tenant, authorize, browser, claims, code_params, hidden, location, log_in,
    log_in_alice, query_param, redeem, redirect_error, tenant, with_scope,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    a_third_party_client_gets_no_code_before_accept,
    deny_sends_access_denied_to_the_client,
    a_wider_scope_asks_again_for_the_union,
    prompt_consent_forces_the_page_and_prompt_none_is_refused,
    first_party_clients_never_ask,
    the_consent_form_resists_forgery,
    the_organization_picked_after_login_comes_first,
    administrators_list_and_revoke_grants,
);

const INVOICES: &str = "https://invoices.example/";

/// A [`tenant`] with a third-party client, `Partner`, on its connection,
/// and an API, `Invoices`.
struct Partner {
    t: Tenant,
    client_id: String,
    secret: String,
}

async fn partner_tenant(app: &TestApp) -> Partner {
    let t = tenant(app).await;
    let token = app.admin_token().await;
    let (status, partner) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &token,
            Some(
                json!({"name": "Partner", "app_type": "regular_web", "callbacks": [CALLBACK],
                "is_first_party": false, "organization_usage": "allow"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{partner}");
    let client_id = partner["client_id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{}", t.connection_id),
            &token,
            Some(json!({"enabled_clients": [t.client_id, t.public_client_id, client_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v2/resource-servers",
            &token,
            Some(
                json!({"name": "Invoices", "identifier": INVOICES, "allow_offline_access": true,
                "scopes": [{"value": "read:invoices", "description": "Read your invoices"}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Partner {
        t,
        secret: partner["client_secret"].as_str().unwrap().to_owned(),
        client_id,
    }
}

impl Partner {
    fn params<'a>(
        &'a self,
        scope: &'a str,
        extra: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        with_scope(code_params(&self.client_id, extra), scope)
    }

    async fn redeem(&self, app: &TestApp, code: &str) -> Value {
        let (status, tokens) = redeem(
            app,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("client_id", &self.client_id),
                ("client_secret", &self.secret),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens
    }
}

/// The consent page a login or `/authorize` sent the browser to: its
/// transaction (`state`, `csrf`) and its HTML.
async fn consent_page(app: &TestApp, b: &reqwest::Client, at: &str) -> ((String, String), String) {
    assert!(
        at.starts_with("/u/consent?state="),
        "not the consent page: {at}"
    );
    let response = b.get(app.url(at)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    ((hidden(&html, "state"), hidden(&html, "csrf")), html)
}

async fn answer(
    app: &TestApp,
    b: &reqwest::Client,
    (state, csrf): &(String, String),
    decision: &str,
) -> reqwest::Response {
    b.post(app.url("/u/consent"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap()
}

/// Answers the consent page at `at` with Accept; the code the client gets.
async fn accept(app: &TestApp, b: &reqwest::Client, at: &str) -> String {
    let (form, _) = consent_page(app, b, at).await;
    let response = answer(app, b, &form, "accept").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let callback = location(&response);
    query_param(&callback, "code").unwrap_or_else(|| panic!("no code in {callback}"))
}

/// Where `/authorize` with `params` sends a browser that has a session.
async fn authorize_in_session(
    app: &TestApp,
    b: &reqwest::Client,
    params: &[(&str, &str)],
) -> String {
    let response = authorize(app, b, params).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
}

async fn grants(app: &TestApp, query: &str) -> Value {
    let token = app.admin_token().await;
    let (status, body) = app
        .api(Method::GET, &format!("/api/v2/grants{query}"), &token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn a_third_party_client_gets_no_code_before_accept(backend: Backend) {
    let app = spawn(backend).await;
    let p = partner_tenant(&app).await;
    let params = p.params("openid email profile", &[("organization", "hoekstra")]);
    let b = browser();
    let start = authorize(&app, &b, &params).await;
    let after_login = log_in_alice(&app, &b, start).await;
    assert!(
        !after_login.starts_with(CALLBACK),
        "no code before consent: {after_login}"
    );
    let response = b.get(app.url(&after_login)).send().await.unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' http://localhost:3000"),
        "{csp}"
    );
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let html = response.text().await.unwrap();
    for shown in ["Partner", "hoekstra", ALICE.0, "openid", "email", "profile"] {
        assert!(html.contains(shown), "{shown} not on the page: {html}");
    }
    assert!(html.contains("value=\"accept\"") && html.contains("value=\"deny\""));

    let (form, _) = consent_page(&app, &b, &after_login).await;
    let response = answer(&app, &b, &form, "accept").await;
    let callback = location(&response);
    assert!(callback.starts_with(CALLBACK), "{callback}");
    assert_eq!(query_param(&callback, "state").as_deref(), Some("st-123"));
    assert_eq!(
        query_param(&callback, "iss").as_deref(),
        Some(app.issuer.as_str())
    );
    let tokens = p
        .redeem(&app, &query_param(&callback, "code").unwrap())
        .await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["email"], ALICE.0);
    // The transaction is over: the form cannot be posted twice.
    let again = answer(&app, &b, &form, "accept").await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // Remembered: the SSO session, and a new browser's login, skip the page.
    let silent = authorize_in_session(&app, &b, &params).await;
    assert!(query_param(&silent, "code").is_some(), "{silent}");
    let other = browser();
    let start = authorize(&app, &other, &params).await;
    let callback = log_in_alice(&app, &other, start).await;
    assert!(query_param(&callback, "code").is_some(), "{callback}");
    // Fewer scopes than granted ask nothing either.
    let fewer = authorize_in_session(&app, &b, &p.params("openid", &[])).await;
    assert!(query_param(&fewer, "code").is_some(), "{fewer}");

    let listed = grants(&app, &format!("?client_id={}", p.client_id)).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let grant = &listed[0];
    assert_eq!(grant["clientID"], p.client_id.as_str());
    assert_eq!(grant["user_id"], id_token["sub"]);
    assert_eq!(grant["audience"], format!("{}userinfo", app.issuer));
    assert_eq!(grant["scope"], json!(["email", "openid", "profile"]));
}

async fn deny_sends_access_denied_to_the_client(backend: Backend) {
    let app = spawn(backend).await;
    let p = partner_tenant(&app).await;
    let params = p.params("openid email", &[]);
    let b = browser();
    let start = authorize(&app, &b, &params).await;
    let after_login = log_in_alice(&app, &b, start).await;
    let (form, _) = consent_page(&app, &b, &after_login).await;
    let response = answer(&app, &b, &form, "deny").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let callback = location(&response);
    assert!(callback.starts_with(CALLBACK), "{callback}");
    assert_eq!(redirect_error(&response).as_deref(), Some("access_denied"));
    assert!(query_param(&callback, "code").is_none());
    assert_eq!(query_param(&callback, "state").as_deref(), Some("st-123"));
    assert_eq!(
        query_param(&callback, "iss").as_deref(),
        Some(app.issuer.as_str())
    );
    // Nothing was granted: the session's next request asks again.
    assert_eq!(grants(&app, "").await, json!([]));
    let next = authorize_in_session(&app, &b, &params).await;
    consent_page(&app, &b, &next).await;
}

async fn a_wider_scope_asks_again_for_the_union(backend: Backend) {
    let app = spawn(backend).await;
    let p = partner_tenant(&app).await;
    let b = browser();
    let start = authorize(&app, &b, &p.params("openid email", &[])).await;
    let after_login = log_in_alice(&app, &b, start).await;
    accept(&app, &b, &after_login).await;

    let wider = p.params("openid email profile", &[]);
    let asked = authorize_in_session(&app, &b, &wider).await;
    let (_, html) = consent_page(&app, &b, &asked).await;
    assert!(html.contains("profile"), "{html}");
    accept(&app, &b, &asked).await;
    assert_eq!(
        grants(&app, "").await[0]["scope"],
        json!(["email", "openid", "profile"])
    );
    let silent = authorize_in_session(&app, &b, &p.params("openid profile", &[])).await;
    assert!(query_param(&silent, "code").is_some(), "{silent}");

    // An API is another audience: asked for on its own, named on the page.
    let api = p.params("openid read:invoices", &[("audience", INVOICES)]);
    let asked = authorize_in_session(&app, &b, &api).await;
    let (_, html) = consent_page(&app, &b, &asked).await;
    for shown in ["Invoices", INVOICES, "read:invoices", "Read your invoices"] {
        assert!(html.contains(shown), "{shown} not on the page: {html}");
    }
    accept(&app, &b, &asked).await;
    let listed = grants(&app, &format!("?audience={INVOICES}")).await;
    assert_eq!(listed[0]["scope"], json!(["openid", "read:invoices"]));
    assert_eq!(grants(&app, "").await.as_array().unwrap().len(), 2);
}

async fn prompt_consent_forces_the_page_and_prompt_none_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let p = partner_tenant(&app).await;
    // alice has a session (through the first-party client), no consent yet.
    let b = browser();
    let start = authorize(&app, &b, &code_params(&p.t.client_id, &[])).await;
    assert!(log_in_alice(&app, &b, start).await.starts_with(CALLBACK));

    let none = p.params("openid email", &[("prompt", "none")]);
    let response = authorize(&app, &b, &none).await;
    assert_eq!(
        redirect_error(&response).as_deref(),
        Some("consent_required")
    );
    let callback = location(&response);
    assert!(callback.starts_with(CALLBACK), "{callback}");
    assert_eq!(query_param(&callback, "state").as_deref(), Some("st-123"));
    assert_eq!(
        query_param(&callback, "iss").as_deref(),
        Some(app.issuer.as_str())
    );

    // The session's path to the page: no password asked.
    let asked = authorize_in_session(&app, &b, &p.params("openid email", &[])).await;
    accept(&app, &b, &asked).await;
    let response = authorize(&app, &b, &none).await;
    assert!(query_param(&location(&response), "code").is_some());

    // Granted, yet prompt=consent asks again; Deny then answers access_denied.
    let forced = p.params("openid email", &[("prompt", "consent")]);
    let asked = authorize_in_session(&app, &b, &forced).await;
    let (form, _) = consent_page(&app, &b, &asked).await;
    let response = answer(&app, &b, &form, "deny").await;
    assert_eq!(redirect_error(&response).as_deref(), Some("access_denied"));
    // Also when logging in afresh.
    let other = browser();
    let start = authorize(&app, &other, &forced).await;
    let after_login = log_in_alice(&app, &other, start).await;
    accept(&app, &other, &after_login).await;
}

async fn first_party_clients_never_ask(backend: Backend) {
    let app = spawn(backend).await;
    let p = partner_tenant(&app).await;
    let params = with_scope(
        code_params(&p.t.client_id, &[]),
        "openid email profile offline_access",
    );
    let b = browser();
    let start = authorize(&app, &b, &params).await;
    let callback = log_in_alice(&app, &b, start).await;
    assert!(query_param(&callback, "code").is_some(), "{callback}");
    let mut forced = params.clone();
    forced.push(("prompt", "consent"));
    let silent = authorize_in_session(&app, &b, &forced).await;
    assert!(query_param(&silent, "code").is_some(), "{silent}");
    assert_eq!(grants(&app, "").await, json!([]), "nothing to remember");
}

async fn the_consent_form_resists_forgery(backend: Backend) {
    let app = spawn(backend).await;
    let p = partner_tenant(&app).await;
    let b = browser();
    let start = authorize(&app, &b, &p.params("openid email", &[])).await;
    let login_page = location(&start);
    let state = query_param(&app.url(&login_page), "state").unwrap();
    // Before the login, the consent page is not offered.
    let early = b
        .get(app.url(&format!("/u/consent?state={state}")))
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&early).starts_with("/u/login"),
        "{}",
        location(&early)
    );
    let early_accept = b
        .post(app.url("/u/consent"))
        .form(&[("state", state.as_str()), ("decision", "accept")])
        .send()
        .await
        .unwrap();
    assert_eq!(early_accept.status(), StatusCode::FORBIDDEN);

    let after_login = log_in_alice(&app, &b, start).await;
    let ((state, csrf), _) = consent_page(&app, &b, &after_login).await;
    for forged in [
        vec![
            ("state", state.as_str()),
            ("csrf", "forged"),
            ("decision", "accept"),
        ],
        vec![("state", state.as_str()), ("decision", "accept")],
    ] {
        let response = b
            .post(app.url("/u/consent"))
            .form(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{forged:?}");
        assert!(response.headers().get("location").is_none());
    }
    // The right token from another browser (without the transaction's cookie).
    let other = answer(&app, &browser(), &(state.clone(), csrf.clone()), "accept").await;
    assert_eq!(other.status(), StatusCode::BAD_REQUEST);
    assert!(other.headers().get("location").is_none());
    // A decision that is neither.
    let neither = answer(&app, &b, &(state.clone(), csrf.clone()), "maybe").await;
    assert_eq!(neither.status(), StatusCode::BAD_REQUEST);
    assert_eq!(grants(&app, "").await, json!([]), "nothing was granted");
    // The real form still works.
    let response = answer(&app, &b, &(state, csrf), "accept").await;
    assert!(query_param(&location(&response), "code").is_some());
}

/// `post_login_prompt`: the user picks the organization, then consents;
/// the consent form cannot skip the pick.
async fn the_organization_picked_after_login_comes_first(backend: Backend) {
    let app = spawn(backend).await;
    let p = partner_tenant(&app).await;
    let admin = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", p.client_id),
            &admin,
            Some(json!({"organization_usage": "require", "organization_require_behavior": "post_login_prompt"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, users) = app
        .api(
            Method::GET,
            &format!("/api/v2/users-by-email?email={}", ALICE.0),
            &admin,
            None,
        )
        .await;
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{}/members", p.t.org_id),
            &admin,
            Some(json!({"members": [users[0]["user_id"]]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let params = p.params("openid email", &[]);
    let b = browser();
    let start = authorize(&app, &b, &params).await;
    let pick_page = log_in_alice(&app, &b, start).await;
    assert!(pick_page.starts_with("/u/organization"), "{pick_page}");
    let html = b
        .get(app.url(&pick_page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = (hidden(&html, "state"), hidden(&html, "csrf"));
    // Accepting before the pick gives no code.
    let early = answer(&app, &b, &form, "accept").await;
    assert_eq!(early.status(), StatusCode::BAD_REQUEST);
    assert!(early.headers().get("location").is_none());
    let early_page = b
        .get(app.url(&format!("/u/consent?state={}", form.0)))
        .send()
        .await
        .unwrap();
    assert!(location(&early_page).starts_with("/u/organization"));

    let picked = b
        .post(app.url("/u/organization"))
        .form(&[
            ("state", form.0.as_str()),
            ("csrf", form.1.as_str()),
            ("organization", p.t.org_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let consent_at = location(&picked);
    let (_, html) = consent_page(&app, &b, &consent_at).await;
    assert!(html.contains("hoekstra"), "{html}");
    let tokens = p.redeem(&app, &accept(&app, &b, &consent_at).await).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["org_id"],
        p.t.org_id.as_str()
    );

    // The session's next request: the pick again, and no consent to give.
    let pick_page = authorize_in_session(&app, &b, &params).await;
    assert!(pick_page.starts_with("/u/organization"), "{pick_page}");
    let html = b
        .get(app.url(&pick_page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let picked = b
        .post(app.url("/u/organization"))
        .form(&[
            ("state", hidden(&html, "state").as_str()),
            ("csrf", hidden(&html, "csrf").as_str()),
            ("organization", p.t.org_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(query_param(&location(&picked), "code").is_some());
}

async fn administrators_list_and_revoke_grants(backend: Backend) {
    let app = spawn(backend).await;
    let p = partner_tenant(&app).await;
    let admin = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v2/users",
            &admin,
            Some(json!({"connection": "users", "email": "bob@hoekstra.example", "password": "bob-password-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // alice consents twice (two audiences) with offline access, bob once.
    let alice = browser();
    let offline = p.params("openid email offline_access", &[]);
    let start = authorize(&app, &alice, &offline).await;
    let after_login = log_in_alice(&app, &alice, start).await;
    let tokens = p
        .redeem(&app, &accept(&app, &alice, &after_login).await)
        .await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let alice_id = claims(tokens["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = p.params("openid read:invoices", &[("audience", INVOICES)]);
    let asked = authorize_in_session(&app, &alice, &api).await;
    accept(&app, &alice, &asked).await;
    let bob = browser();
    let start = authorize(&app, &bob, &p.params("openid", &[])).await;
    let after_login = log_in(&app, &bob, start, "bob@hoekstra.example", "bob-password-1").await;
    accept(&app, &bob, &after_login).await;

    // Filters and paging.
    assert_eq!(grants(&app, "").await.as_array().unwrap().len(), 3);
    let of_alice = grants(&app, &format!("?user_id={alice_id}")).await;
    assert_eq!(of_alice.as_array().unwrap().len(), 2);
    let userinfo = format!("{}userinfo", app.issuer);
    let by_audience = grants(
        &app,
        &format!("?user_id={alice_id}&audience={}", urlencode(&userinfo)),
    )
    .await;
    assert_eq!(by_audience.as_array().unwrap().len(), 1);
    assert_eq!(
        by_audience[0]["scope"],
        json!(["email", "offline_access", "openid"])
    );
    assert_eq!(grants(&app, "?client_id=nobody").await, json!([]));
    let page = grants(&app, "?per_page=2&page=1&include_totals=true").await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["start"], 2);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["grants"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .api(Method::GET, "/api/v2/grants?per_page=0", &admin, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The scopes: a client without them gets 403.
    let (client_id, secret) = app.machine_client(&admin, "reader").await;
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &admin,
            Some(json!({"client_id": client_id, "audience": app.management_audience(), "scope": ["read:grants"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .request_token(&client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reader = body["access_token"].as_str().unwrap().to_owned();
    let grant_id = by_audience[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = app.api(Method::GET, "/api/v2/grants", &reader, None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        format!("/api/v2/grants/{grant_id}"),
        format!("/api/v2/grants?user_id={alice_id}"),
    ] {
        let (status, body) = app.api(Method::DELETE, &path, &reader, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["errorCode"], "insufficient_scope", "{body}");
    }
    let (status, body) = app
        .api(Method::DELETE, "/api/v2/grants", &admin, None)
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "user_id is required: {body}"
    );
    assert_eq!(grants(&app, "").await.as_array().unwrap().len(), 3);

    // Deleting alice's /userinfo grant: the page comes back, the refresh
    // token issued under it stops; her API grant stays.
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/grants/{grant_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/grants/{grant_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "deleting again is no error");
    let (status, body) = redeem(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_id", &p.client_id),
            ("client_secret", &p.secret),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    let asked = authorize_in_session(&app, &alice, &offline).await;
    consent_page(&app, &alice, &asked).await;
    let silent = authorize_in_session(&app, &alice, &api).await;
    assert!(query_param(&silent, "code").is_some(), "{silent}");

    // All of a user's grants at once.
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/grants?user_id={alice_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let left = grants(&app, "").await;
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert_ne!(left[0]["user_id"], alice_id.as_str());
    let asked = authorize_in_session(&app, &alice, &api).await;
    consent_page(&app, &alice, &asked).await;

    // Deleting the user takes their grants along.
    let bob_id = left[0]["user_id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/users/{bob_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(grants(&app, "").await, json!([]));
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
