//! RP-initiated logout (and its CSRF protection), revocation (RFC 7009) and
//! introspection (RFC 7662).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{
    Tenant, alice_code, authorize, browser, claims, code_params, confirm_logout, hidden, location,
    log_in, log_in_alice, other_confidential_client, query_param, redeem, redeem_code,
    signup_tenant, tenant, token_state, userinfo_of, with_scope,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    logout_ends_the_session_and_returns_only_to_allowed_urls,
    only_the_user_or_a_hint_for_the_session_logs_out,
    introspection_tells_a_client_about_its_own_tokens,
    revocation_revokes_refresh_tokens_of_the_client,
    revoked_access_tokens_are_refused_by_this_server
);

const LOGGED_OUT: &str = "http://localhost:3000/logged-out";

/// Registers [`LOGGED_OUT`] as the tenant's confidential client's logout URL.
async fn allow_logout_url(app: &TestApp, t: &Tenant) {
    let admin = app.admin_token().await;
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &admin,
            Some(json!({"allowed_logout_urls": [LOGGED_OUT]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn logged_in_browser(app: &TestApp, t: &Tenant) -> (reqwest::Client, Value) {
    let b = browser();
    let start = authorize(app, &b, &code_params(&t.client_id, &[])).await;
    let callback = log_in_alice(app, &b, start).await;
    let code = query_param(&callback, "code").unwrap();
    let tokens = redeem_code(app, t, &code, None).await;
    (b, tokens)
}

async fn silent_login_works(app: &TestApp, t: &Tenant, b: &reqwest::Client) -> bool {
    let response = authorize(app, b, &code_params(&t.client_id, &[("prompt", "none")])).await;
    query_param(&location(&response), "code").is_some()
}

async fn logout_ends_the_session_and_returns_only_to_allowed_urls(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    allow_logout_url(&app, &t).await;
    let (b, tokens) = logged_in_browser(&app, &t).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert!(silent_login_works(&app, &t, &b).await);

    // Refused requests show a page, redirect nowhere, and end nothing.
    for params in [
        vec![
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![
            ("id_token_hint", id_token),
            (
                "post_logout_redirect_uri",
                "http://localhost:3000/logged-out/x",
            ),
        ],
        vec![("post_logout_redirect_uri", LOGGED_OUT)],
        vec![
            ("id_token_hint", id_token),
            ("client_id", &t.public_client_id),
        ],
        vec![
            ("id_token_hint", "eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0."),
            ("post_logout_redirect_uri", LOGGED_OUT),
        ],
    ] {
        let response = b
            .get(app.url("/oidc/logout"))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(response.headers().get("location").is_none());
    }
    assert!(
        silent_login_works(&app, &t, &b).await,
        "refused logouts end nothing"
    );

    let response = b
        .get(app.url("/oidc/logout"))
        .query(&[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", LOGGED_OUT),
            ("state", "bye-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    assert!(to.starts_with(LOGGED_OUT), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("bye-1"));
    let sid = claims(id_token)["sid"].as_str().unwrap().to_owned();
    assert!(app.store().await.get_session(&sid).await.is_err());
    assert!(!silent_login_works(&app, &t, &b).await, "logged out");

    // With client_id instead of a hint (POST form), once the user confirms;
    // and without a redirect: a page.
    let (b, _) = logged_in_browser(&app, &t).await;
    let page = b
        .post(app.url("/oidc/logout"))
        .form(&[
            ("client_id", t.client_id.as_str()),
            ("post_logout_redirect_uri", LOGGED_OUT),
        ])
        .send()
        .await
        .unwrap();
    let response = confirm_logout(&app, &b, page).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), LOGGED_OUT);
    assert!(!silent_login_works(&app, &t, &b).await);
    let (b, _) = logged_in_browser(&app, &t).await;
    let page = b.get(app.url("/oidc/logout")).send().await.unwrap();
    let response = confirm_logout(&app, &b, page).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("You are logged out")
    );
    assert!(!silent_login_works(&app, &t, &b).await);
}

/// Whether `b`'s session is still alive: it answers `prompt=none`, and the
/// store still has it.
async fn still_logged_in(app: &TestApp, t: &Tenant, b: &reqwest::Client, sid: &str) -> bool {
    silent_login_works(app, t, b).await && app.store().await.get_session(sid).await.is_ok()
}

/// The attacks on logout (RP-Initiated Logout 1.0 §2, §3): another site
/// sending the browser to the logout endpoints, forging the confirmation,
/// or passing a hint that is not this session's, ends nothing.
async fn only_the_user_or_a_hint_for_the_session_logs_out(backend: Backend) {
    let app = spawn(backend).await;
    let t = signup_tenant(&app).await;
    allow_logout_url(&app, &t).await;
    let (b, tokens) = logged_in_browser(&app, &t).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let sid = claims(id_token)["sid"].as_str().unwrap().to_owned();

    // A bare cross-site GET of either endpoint only asks the user; the page
    // names the client when the request does, and is a login-style page.
    for (path, params) in [
        ("/oidc/logout", vec![]),
        (
            "/v2/logout",
            vec![
                ("client_id", t.client_id.as_str()),
                ("returnTo", LOGGED_OUT),
            ],
        ),
        (
            "/oidc/logout",
            vec![
                ("client_id", t.client_id.as_str()),
                ("post_logout_redirect_uri", LOGGED_OUT),
                ("state", "s"),
            ],
        ),
    ] {
        let response = b.get(app.url(path)).query(&params).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path} {params:?}");
        assert!(
            response.headers().get("set-cookie").is_none(),
            "{path}: the session cookie was touched"
        );
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        let html = response.text().await.unwrap();
        assert!(html.contains("Log out?"), "{html}");
        if params.is_empty() {
            assert!(!html.contains("<strong>Web</strong>"), "{html}");
        } else {
            assert!(
                html.contains("<strong>Web</strong> asks to log you out"),
                "{html}"
            );
            assert!(
                csp.contains("form-action 'self' http://localhost:3000"),
                "{csp}"
            );
        }
        assert!(
            still_logged_in(&app, &t, &b, &sid).await,
            "{path} {params:?} logged out"
        );
    }

    // A forged confirmation: no token, another browser's token, or a token
    // made up: refused with a page; nothing ends.
    let (other, other_tokens) = logged_in_browser(&app, &t).await;
    let other_sid = claims(other_tokens["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = other.get(app.url("/oidc/logout")).send().await.unwrap();
    let others_csrf = hidden(&page.text().await.unwrap(), "csrf");
    for csrf in [None, Some(others_csrf.as_str()), Some("0000")] {
        let mut form = vec![
            ("client_id", t.client_id.as_str()),
            ("post_logout_redirect_uri", LOGGED_OUT),
        ];
        form.extend(csrf.map(|csrf| ("csrf", csrf)));
        let response = b
            .post(app.url("/oidc/logout/confirm"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{csrf:?}");
        assert!(response.headers().get("location").is_none());
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("The form could not be verified")
        );
        assert!(
            still_logged_in(&app, &t, &b, &sid).await,
            "forged with {csrf:?}"
        );
    }
    assert!(still_logged_in(&app, &t, &other, &other_sid).await);

    // A hint for another session of the same user, or for another user,
    // does not log out directly: the user is asked.
    let bobs = {
        let b = browser();
        let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
        let callback = log_in(&app, &b, start, "bob@hoekstra.example", "bob-password-1").await;
        let code = query_param(&callback, "code").unwrap();
        redeem_code(&app, &t, &code, None).await
    };
    for hint in [&other_tokens["id_token"], &bobs["id_token"]] {
        let response = b
            .get(app.url("/oidc/logout"))
            .query(&[
                ("id_token_hint", hint.as_str().unwrap()),
                ("post_logout_redirect_uri", LOGGED_OUT),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.text().await.unwrap().contains("Log out?"));
        assert!(still_logged_in(&app, &t, &b, &sid).await);
    }
    // Its own hint with another client's id: an error page, nothing ends.
    let response = b
        .get(app.url("/oidc/logout"))
        .query(&[
            ("id_token_hint", id_token),
            ("client_id", &t.public_client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(still_logged_in(&app, &t, &b, &sid).await);

    // The user confirms: logged out, back to the client with its state.
    let page = b
        .get(app.url("/oidc/logout"))
        .query(&[
            ("client_id", t.client_id.as_str()),
            ("post_logout_redirect_uri", LOGGED_OUT),
            ("state", "bye-2"),
        ])
        .send()
        .await
        .unwrap();
    let response = confirm_logout(&app, &b, page).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("{LOGGED_OUT}?state=bye-2"));
    assert!(!silent_login_works(&app, &t, &b).await);
    assert!(app.store().await.get_session(&sid).await.is_err());
    assert!(
        still_logged_in(&app, &t, &other, &other_sid).await,
        "only that browser's session ended"
    );

    // Without a session there is nothing to protect: straight back.
    let response = b
        .get(app.url("/v2/logout"))
        .query(&[
            ("client_id", t.client_id.as_str()),
            ("returnTo", LOGGED_OUT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), LOGGED_OUT);
    let response = browser()
        .post(app.url("/oidc/logout/confirm"))
        .form(&[
            ("client_id", t.client_id.as_str()),
            ("post_logout_redirect_uri", LOGGED_OUT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), LOGGED_OUT);
}

async fn offline_tokens(app: &TestApp, t: &Tenant) -> Value {
    let params = with_scope(
        code_params(&t.client_id, &[("organization", "hoekstra")]),
        "openid offline_access",
    );
    let code = alice_code(app, &params).await;
    redeem_code(app, t, &code, None).await
}

async fn introspection_tells_a_client_about_its_own_tokens(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let tokens = offline_tokens(&app, &t).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let introspect = "/oauth/introspect";

    let (status, answer) =
        token_state(&app, introspect, &t.client_id, Some(&t.secret), refresh).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["client_id"], t.client_id.as_str());
    assert_eq!(answer["org_id"], t.org_id.as_str());
    assert_eq!(answer["scope"], "openid offline_access");
    let (_, answer) = token_state(&app, introspect, &t.client_id, Some(&t.secret), access).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["org_id"], t.org_id.as_str());

    // Garbage, an ID token, and another client's question: inactive.
    for token in ["garbage", tokens["id_token"].as_str().unwrap()] {
        let (_, answer) = token_state(&app, introspect, &t.client_id, Some(&t.secret), token).await;
        assert_eq!(answer, json!({"active": false}));
    }
    let (other_id, other_secret) = other_confidential_client(&app).await;
    for token in [refresh, access] {
        let (_, answer) =
            token_state(&app, introspect, &other_id, Some(&other_secret), token).await;
        assert_eq!(answer, json!({"active": false}));
    }
    // Public clients and wrong secrets may not introspect.
    let (status, answer) = token_state(&app, introspect, &t.public_client_id, None, access).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, _) = token_state(&app, introspect, &t.client_id, Some("wrong"), access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A rotated-away refresh token is inactive.
    let (status, _) = redeem(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &t.client_id),
            ("client_secret", &t.secret),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, answer) = token_state(&app, introspect, &t.client_id, Some(&t.secret), refresh).await;
    assert_eq!(answer, json!({"active": false}));
}

async fn revocation_revokes_refresh_tokens_of_the_client(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let tokens = offline_tokens(&app, &t).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let revoke = "/oauth/revoke";

    // Another client cannot revoke it.
    let (other_id, other_secret) = other_confidential_client(&app).await;
    let (status, body) = token_state(&app, revoke, &other_id, Some(&other_secret), refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    // Unknown tokens: 200, as RFC 7009 asks.
    let (status, _) = token_state(&app, revoke, &t.client_id, Some(&t.secret), "unknown").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = token_state(&app, revoke, &t.client_id, Some(&t.secret), "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo_of(&app, access).await.0, StatusCode::OK);
    let (status, _) = token_state(&app, revoke, &t.client_id, Some(&t.secret), refresh).await;
    assert_eq!(status, StatusCode::OK);
    // RFC 7009 §2.1: the access token issued with it is revoked too.
    let (status, body) = userinfo_of(&app, access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = redeem(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &t.client_id),
            ("client_secret", &t.secret),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Revoking twice is fine.
    let (status, _) = token_state(&app, revoke, &t.client_id, Some(&t.secret), refresh).await;
    assert_eq!(status, StatusCode::OK);
}

async fn revoked_access_tokens_are_refused_by_this_server(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let tokens = offline_tokens(&app, &t).await;
    let access = tokens["access_token"].as_str().unwrap();
    let introspect = "/oauth/introspect";
    let revoke = "/oauth/revoke";

    // Another client can neither revoke it nor learn about it.
    let (other_id, other_secret) = other_confidential_client(&app).await;
    let (status, body) = token_state(&app, revoke, &other_id, Some(&other_secret), access).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    assert_eq!(userinfo_of(&app, access).await.0, StatusCode::OK);

    // Its client revokes it: userinfo and introspection see it at once.
    let (status, _) = token_state(&app, revoke, &t.client_id, Some(&t.secret), access).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = userinfo_of(&app, access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
    let (_, answer) = token_state(&app, introspect, &t.client_id, Some(&t.secret), access).await;
    assert_eq!(answer, json!({"active": false}));
    // Revoking twice is fine; the refresh token is still good.
    let (status, _) = token_state(&app, revoke, &t.client_id, Some(&t.secret), access).await;
    assert_eq!(status, StatusCode::OK);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (_, answer) = token_state(&app, introspect, &t.client_id, Some(&t.secret), refresh).await;
    assert_eq!(answer["active"], true);

    // A Management API token, revoked by its client, opens nothing more.
    let admin = app.admin_token().await;
    let (status, _) = app
        .api(Method::GET, "/api/v2/organizations", &admin, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = token_state(
        &app,
        revoke,
        crate::support::BOOTSTRAP_ID,
        Some(crate::support::BOOTSTRAP_SECRET),
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .api(Method::GET, "/api/v2/organizations", &admin, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["message"], "Revoked token");
}
