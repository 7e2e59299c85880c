//! The SSO session: a second app logs in without a password, `prompt` and
//! `max_age` are honoured, and a session never opens an organization the
//! user may not enter.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{
    CALLBACK, CHALLENGE, VERIFIER, authorize, browser, claims, code_params, hidden, location,
    log_in, log_in_alice, query_param, redeem, redeem_code, redirect_error, submit_login, tenant,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    a_second_app_logs_in_from_the_session,
    prompt_and_max_age_are_honoured,
    a_session_does_not_open_other_organizations,
    select_account_offers_the_session,
    a_new_login_ends_the_previous_session,
    administrators_see_and_end_sessions,
    id_token_hint_names_the_user_a_session_must_be_for
);

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("sy_session="))
}

/// Logs alice in to `params` in browser `b`; returns the callback URL and
/// the session cookie the last step set.
async fn alice_logs_in(
    app: &TestApp,
    b: &reqwest::Client,
    params: &[(&str, &str)],
) -> (String, Option<String>) {
    let start = authorize(app, b, params).await;
    let done = submit_login(app, b, start, "alice@hoekstra.example", "alice-password-1").await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&done);
    (location(&done), cookie)
}

async fn id_token_of(app: &TestApp, client_id: &str, secret: Option<&str>, code: &str) -> Value {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("client_id", client_id),
        ("code_verifier", VERIFIER),
    ];
    if let Some(secret) = secret {
        form.push(("client_secret", secret));
    }
    let (status, tokens) = redeem(app, &form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    claims(tokens["id_token"].as_str().unwrap())
}

fn pkce<'a>(client_id: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = code_params(
        client_id,
        &[
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    params.extend_from_slice(extra);
    params
}

async fn a_second_app_logs_in_from_the_session(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    let (callback, cookie) = alice_logs_in(
        &app,
        &b,
        &pkce(&t.client_id, &[("organization", "hoekstra")]),
    )
    .await;
    let cookie = cookie.expect("the login sets the session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/;"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let first = id_token_of(
        &app,
        &t.client_id,
        Some(&t.secret),
        &query_param(&callback, "code").unwrap(),
    )
    .await;
    let sid = first["sid"].as_str().expect("sid claim").to_owned();

    // The second app (the public SPA) gets a code at once: no login page.
    let response = authorize(
        &app,
        &b,
        &pkce(&t.public_client_id, &[("organization", "hoekstra")]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    assert!(to.starts_with(CALLBACK), "no login page expected: {to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("st-123"));
    let second = id_token_of(
        &app,
        &t.public_client_id,
        None,
        &query_param(&to, "code").unwrap(),
    )
    .await;
    assert_eq!(second["sub"], first["sub"]);
    assert_eq!(second["sid"], sid.as_str());
    assert_eq!(
        second["auth_time"], first["auth_time"],
        "auth_time is the time of the login, not of the SSO"
    );
    assert_eq!(second["org_id"], t.org_id.as_str());
    assert_eq!(second["nonce"], "n-456");

    // Another browser has no session.
    let stranger = browser();
    let response = authorize(&app, &stranger, &pkce(&t.public_client_id, &[])).await;
    assert!(location(&response).starts_with("/u/login"));
    let response = authorize(
        &app,
        &stranger,
        &pkce(&t.public_client_id, &[("prompt", "none")]),
    )
    .await;
    assert_eq!(redirect_error(&response).as_deref(), Some("login_required"));
    // A made-up session cookie is no session either.
    let response = stranger
        .get(app.url("/authorize"))
        .query(&pkce(&t.public_client_id, &[("prompt", "none")]))
        .header("cookie", "sy_session=made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(redirect_error(&response).as_deref(), Some("login_required"));
}

async fn prompt_and_max_age_are_honoured(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    alice_logs_in(&app, &b, &pkce(&t.client_id, &[])).await;

    // prompt=none is answered from the session.
    let response = authorize(&app, &b, &pkce(&t.client_id, &[("prompt", "none")])).await;
    assert!(query_param(&location(&response), "code").is_some());
    // prompt=login always shows the login page.
    let response = authorize(&app, &b, &pkce(&t.client_id, &[("prompt", "login")])).await;
    assert!(location(&response).starts_with("/u/login"));
    // A max_age the login is older than forces a new login, or login_required.
    app.clock.advance(std::time::Duration::from_secs(2));
    let response = authorize(&app, &b, &pkce(&t.client_id, &[("max_age", "0")])).await;
    assert!(location(&response).starts_with("/u/login"));
    let response = authorize(
        &app,
        &b,
        &pkce(&t.client_id, &[("max_age", "0"), ("prompt", "none")]),
    )
    .await;
    assert_eq!(redirect_error(&response).as_deref(), Some("login_required"));
    let response = authorize(&app, &b, &pkce(&t.client_id, &[("max_age", "3600")])).await;
    assert!(query_param(&location(&response), "code").is_some());
}

async fn a_session_does_not_open_other_organizations(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    let (callback, _) = alice_logs_in(
        &app,
        &b,
        &pkce(&t.client_id, &[("organization", "hoekstra")]),
    )
    .await;
    let first = id_token_of(
        &app,
        &t.client_id,
        Some(&t.secret),
        &query_param(&callback, "code").unwrap(),
    )
    .await;
    // metahexa does not assign membership: the session does not get alice in.
    for prompt in [None, Some("none")] {
        let mut params = pkce(&t.client_id, &[("organization", &t.other_org_id)]);
        if let Some(prompt) = prompt {
            params.push(("prompt", prompt));
        }
        let response = authorize(&app, &b, &params).await;
        let to = location(&response);
        assert_eq!(
            query_param(&to, "error").as_deref(),
            Some("access_denied"),
            "{to}"
        );
        assert!(query_param(&to, "code").is_none());
    }
    // A connection the organization has not enabled is not carried over by
    // the session: a third organization without alice's connection.
    let token = app.admin_token().await;
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &token,
            Some(json!({"name": "elsewhere"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let response = authorize(
        &app,
        &b,
        &pkce(
            &t.client_id,
            &[("organization", "elsewhere"), ("prompt", "none")],
        ),
    )
    .await;
    assert_eq!(redirect_error(&response).as_deref(), Some("login_required"));
    // The session remembers the organizations it was used for.
    let response = authorize(&app, &b, &pkce(&t.client_id, &[])).await;
    assert!(query_param(&location(&response), "code").is_some());
    let store = app.store().await;
    let sid = first["sid"].as_str().unwrap();
    assert_eq!(
        store.list_session_organizations(sid).await.unwrap(),
        vec![t.org_id.clone()]
    );
}

async fn select_account_offers_the_session(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    let (callback, _) = alice_logs_in(&app, &b, &pkce(&t.client_id, &[])).await;
    let first = id_token_of(
        &app,
        &t.client_id,
        Some(&t.secret),
        &query_param(&callback, "code").unwrap(),
    )
    .await;
    let response = authorize(
        &app,
        &b,
        &pkce(&t.client_id, &[("prompt", "select_account")]),
    )
    .await;
    let page = b
        .get(app.url(&location(&response)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Continue as alice@hoekstra.example"),
        "{page}"
    );
    let (state, csrf) = (hidden(&page, "state"), hidden(&page, "csrf"));
    // Forged: refused.
    let response = b
        .post(app.url("/u/login/continue"))
        .form(&[("state", state.as_str()), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Another browser holding the form cannot continue as alice.
    let response = browser()
        .post(app.url("/u/login/continue"))
        .form(&[("state", state.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = b
        .post(app.url("/u/login/continue"))
        .form(&[("state", state.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let second = id_token_of(
        &app,
        &t.client_id,
        Some(&t.secret),
        &query_param(&location(&response), "code").unwrap(),
    )
    .await;
    assert_eq!(second["sid"], first["sid"]);
}

async fn a_new_login_ends_the_previous_session(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    let (callback, _) = alice_logs_in(&app, &b, &pkce(&t.client_id, &[])).await;
    let first = id_token_of(
        &app,
        &t.client_id,
        Some(&t.secret),
        &query_param(&callback, "code").unwrap(),
    )
    .await;
    let start = authorize(&app, &b, &pkce(&t.client_id, &[("prompt", "login")])).await;
    let callback = log_in_alice(&app, &b, start).await;
    let second = id_token_of(
        &app,
        &t.client_id,
        Some(&t.secret),
        &query_param(&callback, "code").unwrap(),
    )
    .await;
    assert_ne!(second["sid"], first["sid"]);
    let store = app.store().await;
    assert!(
        store
            .get_session(first["sid"].as_str().unwrap())
            .await
            .is_err(),
        "the first session has ended"
    );
    assert!(
        store
            .get_session(second["sid"].as_str().unwrap())
            .await
            .is_ok()
    );
}

async fn administrators_see_and_end_sessions(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let admin = app.admin_token().await;
    let b = browser();
    let (callback, _) = alice_logs_in(
        &app,
        &b,
        &pkce(&t.client_id, &[("organization", "hoekstra")]),
    )
    .await;
    let id_token = id_token_of(
        &app,
        &t.client_id,
        Some(&t.secret),
        &query_param(&callback, "code").unwrap(),
    )
    .await;
    let user_id = id_token["sub"].as_str().unwrap();
    let sid = id_token["sid"].as_str().unwrap();
    let (status, listed) = app
        .api(
            Method::GET,
            &format!("/api/v2/users/{user_id}/sessions"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["id"], sid);
    // The SDK's request: Auth0's checkpoint wrapper, no `next` on the last page.
    let (status, paged) = app
        .api(
            Method::GET,
            &format!("/api/v2/users/{user_id}/sessions?include_totals=true&take=1"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paged}");
    assert_eq!(paged, json!({"sessions": listed["sessions"]}));
    assert_eq!(sessions[0]["organizations"], json!([t.org_id]));
    let (status, one) = app
        .api(
            Method::GET,
            &format!("/api/v2/sessions/{sid}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (status, one["user_id"].as_str()),
        (StatusCode::OK, Some(user_id))
    );

    // Blocking the user ends their sessions: unblocked, they log in again.
    for blocked in [true, false] {
        app.api(
            Method::PATCH,
            &format!("/api/v2/users/{user_id}"),
            &admin,
            Some(json!({"blocked": blocked})),
        )
        .await;
        let response = authorize(&app, &b, &pkce(&t.client_id, &[("prompt", "none")])).await;
        assert_eq!(
            redirect_error(&response).as_deref(),
            Some("login_required"),
            "blocked: {blocked}"
        );
    }
    alice_logs_in(&app, &b, &pkce(&t.client_id, &[])).await;
    let response = authorize(&app, &b, &pkce(&t.client_id, &[("prompt", "none")])).await;
    assert!(query_param(&location(&response), "code").is_some());

    // Signing the user out everywhere.
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/users/{user_id}/sessions"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let response = authorize(&app, &b, &pkce(&t.client_id, &[("prompt", "none")])).await;
    assert_eq!(redirect_error(&response).as_deref(), Some("login_required"));
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/sessions/{sid}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, listed) = app
        .api(
            Method::GET,
            &format!("/api/v2/users/{user_id}/sessions"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (status, listed["sessions"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
}

async fn id_token_hint_names_the_user_a_session_must_be_for(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let admin = app.admin_token().await;
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v2/users",
            &admin,
            Some(json!({"connection": "users", "email": "bob@hoekstra.example", "password": "bob-password-12"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let b = browser();
    let (callback, _) = alice_logs_in(&app, &b, &pkce(&t.client_id, &[])).await;
    let code = query_param(&callback, "code").unwrap();
    let alice_tokens = redeem_code(&app, &t, &code, Some(VERIFIER)).await;
    let alice_hint = alice_tokens["id_token"].as_str().unwrap().to_owned();
    let other = browser();
    let start = authorize(&app, &other, &pkce(&t.client_id, &[])).await;
    let callback = log_in(
        &app,
        &other,
        start,
        "bob@hoekstra.example",
        "bob-password-12",
    )
    .await;
    let code = query_param(&callback, "code").unwrap();
    let bob_tokens = redeem_code(&app, &t, &code, Some(VERIFIER)).await;
    let bob_hint = bob_tokens["id_token"].as_str().unwrap().to_owned();

    let silent = |hint: &str| {
        pkce(&t.client_id, &[("prompt", "none")])
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .chain([("id_token_hint".to_owned(), hint.to_owned())])
            .collect::<Vec<_>>()
    };
    let send = |params: Vec<(String, String)>| {
        let b = b.clone();
        let url = app.url("/authorize");
        async move { b.get(url).query(&params).send().await.unwrap() }
    };
    let response = send(silent(&alice_hint)).await;
    assert!(query_param(&location(&response), "code").is_some());
    let response = send(silent(&bob_hint)).await;
    assert_eq!(
        redirect_error(&response).as_deref(),
        Some("login_required"),
        "alice's session does not answer for bob"
    );
    let response = send(silent("not-a-token")).await;
    assert_eq!(
        redirect_error(&response).as_deref(),
        Some("invalid_request")
    );
}
