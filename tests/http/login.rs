//! The authorization endpoint and the login pages, driven as a browser would
//! (cookie jar, manual redirects), and the attacks on them failing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::on_both_backends;
use crate::support::oidc::{
    CALLBACK, CHALLENGE, VERIFIER, alice_code, authorize, browser, claims, code_form, code_params,
    hidden, location, log_in, log_in_alice, query_param, redeem, redeem_code, redirect_error,
    submit_identifier, submit_login, tenant, userinfo_of,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    code_flow_into_an_organization,
    unregistered_redirect_uris_get_a_page_never_a_redirect,
    pkce_is_enforced,
    codes_are_single_use_and_bound,
    login_forms_resist_forgery_and_other_browsers,
    membership_rules_of_organizations,
    form_post_carries_the_response_in_a_posted_form,
    connection_changes_reach_the_login_at_once,
    organization_changes_reach_the_login_at_once,
    authorize_takes_post_as_well,
    over_https_the_login_cookies_are_host_prefixed
);

async fn code_flow_into_an_organization(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    let start = authorize(
        &app,
        &b,
        &code_params(
            &t.client_id,
            &[
                ("organization", "hoekstra"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        ),
    )
    .await;
    let callback = log_in(
        &app,
        &b,
        start,
        "Alice@Hoekstra.example",
        "alice-password-1",
    )
    .await;
    assert!(callback.starts_with(CALLBACK), "{callback}");
    assert_eq!(query_param(&callback, "state").as_deref(), Some("st-123"));
    assert_eq!(
        query_param(&callback, "iss").as_deref(),
        Some(app.issuer.as_str()),
        "RFC 9207 iss"
    );
    let code = query_param(&callback, "code").unwrap();
    let tokens = redeem_code(&app, &t, &code, Some(VERIFIER)).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["org_id"], t.org_id.as_str());
    assert_eq!(id_token["nonce"], "n-456");
    assert_eq!(id_token["aud"], t.client_id.as_str());
    assert_eq!(id_token["email"], "alice@hoekstra.example");
    assert!(
        id_token.get("name").is_none(),
        "profile claims need the profile scope"
    );
    // Membership was assigned on login.
    let token = app.admin_token().await;
    let (_, members) = app
        .api(
            Method::GET,
            &format!("/api/v2/organizations/{}/members", t.org_id),
            &token,
            None,
        )
        .await;
    assert_eq!(members.as_array().unwrap().len(), 1);
    // userinfo with the access token.
    let (status, userinfo) = userinfo_of(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{userinfo}");
    assert_eq!(userinfo["sub"], id_token["sub"]);
    assert_eq!(userinfo["org_id"], t.org_id.as_str());
    // An ID token is not an access token for userinfo.
    let (status, _) = userinfo_of(&app, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Wrong password and unknown email read the same.
    let b = browser();
    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    let wrong = log_in(
        &app,
        &b,
        start,
        "alice@hoekstra.example",
        "not-her-password",
    )
    .await;
    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    let unknown = log_in(
        &app,
        &b,
        start,
        "nobody@hoekstra.example",
        "not-her-password",
    )
    .await;
    assert!(
        wrong.contains("Wrong email or password") && unknown.contains("Wrong email or password"),
        "{wrong}\n{unknown}"
    );
    assert!(wrong.starts_with("status 401") && unknown.starts_with("status 401"));
}

async fn unregistered_redirect_uris_get_a_page_never_a_redirect(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    for redirect in [
        "https://evil.example/callback",
        "http://localhost:3000/callback/../evil",
        "http://localhost:3000/callback?next=https://evil.example",
        "http://localhost:3000/Callback",
        "http://localhost:3000/callback/",
    ] {
        let response = authorize(
            &app,
            &b,
            &[
                ("client_id", &t.client_id),
                ("redirect_uri", redirect),
                ("response_type", "code"),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{redirect}");
        assert!(
            response.headers().get("location").is_none(),
            "redirected to an unregistered URI: {redirect}"
        );
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("Callback URL mismatch")
        );
    }
    let response = authorize(
        &app,
        &b,
        &[
            ("client_id", "unknown"),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());

    // Once the redirect URI is trusted, errors go back with state and iss.
    let response = authorize(
        &app,
        &b,
        &[
            ("client_id", &t.client_id),
            ("redirect_uri", CALLBACK),
            ("response_type", "token"),
            ("state", "s1"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(query_param(&to, "state").as_deref(), Some("s1"));
    assert_eq!(
        query_param(&to, "iss").as_deref(),
        Some(app.issuer.as_str())
    );
    let response = authorize(
        &app,
        &b,
        &code_params(&t.client_id, &[("organization", "nope")]),
    )
    .await;
    assert_eq!(
        redirect_error(&response).as_deref(),
        Some("invalid_request")
    );
    let response = authorize(&app, &b, &code_params(&t.client_id, &[("prompt", "none")])).await;
    assert_eq!(redirect_error(&response).as_deref(), Some("login_required"));
}

async fn pkce_is_enforced(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    // Without PKCE and without state nothing ties the callback to the
    // browser (CSRF on the client): refused, even for a confidential client.
    let mut stateless = code_params(&t.client_id, &[]);
    stateless.retain(|(k, _)| *k != "state");
    let response = authorize(&app, &b, &stateless).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_request"),
        "{to}"
    );
    assert!(query_param(&to, "state").is_none(), "no state is invented");
    // With PKCE alone it is fine.
    stateless.extend([
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let response = authorize(&app, &b, &stateless).await;
    assert!(location(&response).starts_with("/u/login"));
    // A public client must use PKCE; plain is refused for everyone.
    let response = authorize(&app, &b, &code_params(&t.public_client_id, &[])).await;
    assert_eq!(
        redirect_error(&response).as_deref(),
        Some("invalid_request")
    );
    let response = authorize(
        &app,
        &b,
        &code_params(
            &t.public_client_id,
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ],
        ),
    )
    .await;
    assert_eq!(
        redirect_error(&response).as_deref(),
        Some("invalid_request")
    );
    let response = authorize(
        &app,
        &b,
        &code_params(&t.client_id, &[("code_challenge", CHALLENGE)]),
    )
    .await;
    assert_eq!(
        redirect_error(&response).as_deref(),
        Some("invalid_request"),
        "method defaults to plain: refused"
    );

    // A public client's code needs the right verifier.
    let code = alice_code(
        &app,
        &code_params(
            &t.public_client_id,
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        ),
    )
    .await;
    let wrong_verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx";
    let (status, body) = redeem(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", &t.public_client_id),
            ("code_verifier", wrong_verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let code = alice_code(
        &app,
        &code_params(
            &t.public_client_id,
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        ),
    )
    .await;
    let (status, body) = redeem(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", &t.public_client_id),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "verifier left out"
    );
}

async fn codes_are_single_use_and_bound(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let code = alice_code(&app, &code_params(&t.client_id, &[])).await;
    let good = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("client_id", t.client_id.as_str()),
        ("client_secret", t.secret.as_str()),
    ];

    // Another redirect_uri, or another client, cannot redeem it ...
    let mut other_redirect = good;
    other_redirect[2].1 = "http://localhost:3000/other";
    assert_eq!(
        redeem(&app, &other_redirect).await.1["error"],
        "invalid_grant"
    );
    let (status, _) = redeem(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", &t.client_id),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // ... and a failed attempt consumed it: codes are single-use whatever happens.
    let (status, body) = redeem(&app, &good).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );

    let code = alice_code(&app, &code_params(&t.client_id, &[])).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("client_id", t.client_id.as_str()),
        ("client_secret", t.secret.as_str()),
    ];
    assert_eq!(redeem(&app, &form).await.0, StatusCode::OK);
    let (status, body) = redeem(&app, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "code replay"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already been used")
    );
    let (_, body) = redeem(&app, &code_form(&t, "made-up")).await;
    assert_eq!(body["error"], "invalid_grant");
}

async fn login_forms_resist_forgery_and_other_browsers(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    let login_url = app.url(&location(&start));
    let page = b
        .get(&login_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let state = hidden(&page, "state");

    // A forged form (wrong CSRF token) is refused.
    let response = b
        .post(app.url("/u/login"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", "forged"),
            ("email", "alice@hoekstra.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Another browser (no cookie) cannot use the transaction, even with its CSRF token.
    let csrf = hidden(&page, "csrf");
    let stranger = browser();
    let response = stranger.get(&login_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = stranger
        .post(app.url("/u/login"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("email", "alice@hoekstra.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());

    // Pages are not framable, not cached, and their URLs not sent elsewhere.
    let response = b.get(&login_url).send().await.unwrap();
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["referrer-policy"], "same-origin");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script"), "login needs no JavaScript");
}

async fn membership_rules_of_organizations(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    // metahexa does not assign membership: alice is refused with a reason.
    let start = authorize(
        &app,
        &b,
        &code_params(&t.client_id, &[("organization", &t.other_org_id)]),
    )
    .await;
    let result = log_in_alice(&app, &b, start).await;
    assert_eq!(
        query_param(&result, "error").as_deref(),
        Some("access_denied"),
        "{result}"
    );
    assert!(
        query_param(&result, "error_description")
            .unwrap()
            .contains("not a member")
    );
    assert_eq!(query_param(&result, "state").as_deref(), Some("st-123"));

    // A client that denies organizations refuses the parameter.
    let token = app.admin_token().await;
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &token,
            Some(json!({"organization_usage": "deny"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = authorize(
        &app,
        &b,
        &code_params(&t.client_id, &[("organization", "hoekstra")]),
    )
    .await;
    assert_eq!(
        redirect_error(&response).as_deref(),
        Some("invalid_request")
    );
    // A client that requires one with no_prompt fails without it.
    app.api(
        Method::PATCH,
        &format!("/api/v2/clients/{}", t.client_id),
        &token,
        Some(
            json!({"organization_usage": "require", "organization_require_behavior": "no_prompt"}),
        ),
    )
    .await;
    let response = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    assert_eq!(
        redirect_error(&response).as_deref(),
        Some("invalid_request")
    );
}

/// The hidden fields of a form_post page, after checking its form posts to
/// the callback.
fn posted_fields(html: &str) -> std::collections::HashMap<String, String> {
    assert!(
        html.contains(&format!("<form method=\"post\" action=\"{CALLBACK}\">")),
        "{html}"
    );
    ["code", "state", "iss", "error", "error_description"]
        .into_iter()
        .filter(|name| html.contains(&format!("name=\"{name}\"")))
        .map(|name| (name.to_owned(), hidden(html, name)))
        .collect()
}

async fn form_post_carries_the_response_in_a_posted_form(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    let params = code_params(&t.client_id, &[("response_mode", "form_post")]);
    let start = authorize(&app, &b, &params).await;
    let response = submit_login(
        &app,
        &b,
        start,
        "alice@hoekstra.example",
        "alice-password-1",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "a page, not a redirect");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("form-action http://localhost:3000"), "{csp}");
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
    let fields = posted_fields(&response.text().await.unwrap());
    assert_eq!(fields["state"], "st-123");
    assert_eq!(fields["iss"], app.issuer);
    redeem_code(&app, &t, &fields["code"], None).await;

    // From the session, and for errors, the same mode.
    let response = authorize(&app, &b, &params).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(posted_fields(&response.text().await.unwrap()).contains_key("code"));
    let mut bad = params.clone();
    bad.push(("prompt", "bogus"));
    let response = authorize(&app, &b, &bad).await;
    let fields = posted_fields(&response.text().await.unwrap());
    assert_eq!(fields["error"], "invalid_request");
    assert_eq!(fields["state"], "st-123");
    // An unknown mode is answered in the query.
    let unknown = code_params(&t.client_id, &[("response_mode", "fragment")]);
    let response = authorize(&app, &b, &unknown).await;
    assert_eq!(
        redirect_error(&response).as_deref(),
        Some("invalid_request")
    );
}

async fn connection_changes_reach_the_login_at_once(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    // A first login warms the cache of the client's connections.
    alice_code(&app, &code_params(&t.client_id, &[])).await;
    let admin = app.admin_token().await;
    let (_, connections) = app
        .api(Method::GET, "/api/v2/connections?name=users", &admin, None)
        .await;
    let id = connections[0]["id"].as_str().unwrap();
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{id}"),
            &admin,
            Some(json!({"enabled_clients": [t.public_client_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_no_connection_offered(&app, &code_params(&t.client_id, &[])).await;
}

/// alice's login for an `/authorize` with `params` finds no connection.
async fn assert_no_connection_offered(app: &TestApp, params: &[(&str, &str)]) {
    let b = browser();
    let start = authorize(app, &b, params).await;
    let (_, response) = submit_identifier(app, &b, start, "alice@hoekstra.example").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("No connections are enabled"),
        "the disabled connection is still offered: {body}"
    );
}

async fn organization_changes_reach_the_login_at_once(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let admin = app.admin_token().await;
    // A first login by name warms the organization caches.
    alice_code(
        &app,
        &code_params(&t.client_id, &[("organization", "hoekstra")]),
    )
    .await;

    // Renamed: the old name is unknown at once, the new one works.
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/organizations/{}", t.org_id),
            &admin,
            Some(json!({"name": "hoekstra-bv"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let b = browser();
    let response = authorize(
        &app,
        &b,
        &code_params(&t.client_id, &[("organization", "hoekstra")]),
    )
    .await;
    assert_eq!(
        redirect_error(&response).as_deref(),
        Some("invalid_request")
    );
    alice_code(
        &app,
        &code_params(&t.client_id, &[("organization", "hoekstra-bv")]),
    )
    .await;

    // Its connection disabled: the login offers nothing at once.
    let (_, enabled) = app
        .api(
            Method::GET,
            &format!("/api/v2/organizations/{}/enabled_connections", t.org_id),
            &admin,
            None,
        )
        .await;
    let connection_id = enabled[0]["connection_id"].as_str().unwrap();
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!(
                "/api/v2/organizations/{}/enabled_connections/{connection_id}",
                t.org_id
            ),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_no_connection_offered(
        &app,
        &code_params(&t.client_id, &[("organization", "hoekstra-bv")]),
    )
    .await;
}

async fn authorize_takes_post_as_well(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    let post = |params: Vec<(&'static str, String)>| {
        let b = b.clone();
        let url = app.url("/authorize");
        async move { b.post(url).form(&params).send().await.unwrap() }
    };
    let params = |redirect: &str| {
        vec![
            ("client_id", t.client_id.clone()),
            ("redirect_uri", redirect.to_owned()),
            ("response_type", "code".to_owned()),
            ("scope", "openid email".to_owned()),
            ("state", "st-post".to_owned()),
        ]
    };
    let refused = post(params("https://evil.example/cb")).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.headers().get("location").is_none());
    let start = post(params(CALLBACK)).await;
    let callback = log_in_alice(&app, &b, start).await;
    assert_eq!(query_param(&callback, "state").as_deref(), Some("st-post"));
    redeem_code(&app, &t, &query_param(&callback, "code").unwrap(), None).await;
}

/// Over https the transaction's cookie is `__Host-` prefixed like the
/// session's (`Secure`, `Path=/`, no `Domain`: a sibling subdomain cannot
/// plant one), and a browser that keeps it logs in with it.
async fn over_https_the_login_cookies_are_host_prefixed(backend: Backend) {
    let app = crate::support::spawn_configured(backend, |config| {
        config.tls = switchyard::config::TlsMode::Dev;
    })
    .await;
    assert!(app.base.starts_with("https://"), "{}", app.base);
    let t = tenant(&app).await;
    let pem = std::fs::read(app.dir.path().join("tls/cert.pem")).unwrap();
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let set_cookies = |response: &reqwest::Response| -> Vec<String> {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let attributes = |cookie: &str| -> Vec<String> {
        let mut attributes: Vec<String> = cookie.split("; ").skip(1).map(str::to_owned).collect();
        attributes.sort();
        attributes
    };

    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    let [transaction] = set_cookies(&start).try_into().unwrap();
    let (name, _) = transaction.split_once('=').unwrap();
    assert!(name.starts_with("__Host-sy_login_"), "{transaction}");
    assert_eq!(
        attributes(&transaction),
        [
            "HttpOnly",
            "Max-Age=1800",
            "Path=/",
            "SameSite=Lax",
            "Secure"
        ]
    );

    let done = submit_login(
        &app,
        &b,
        start,
        "alice@hoekstra.example",
        "alice-password-1",
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(query_param(&location(&done), "code").is_some());
    let finished = set_cookies(&done);
    let cleared = finished
        .iter()
        .find(|c| c.starts_with(&format!("{name}=;")))
        .unwrap_or_else(|| panic!("{name} not cleared: {finished:?}"));
    assert_eq!(
        attributes(cleared),
        ["HttpOnly", "Max-Age=0", "Path=/", "SameSite=Lax", "Secure"]
    );
    let session = finished
        .iter()
        .find(|c| c.starts_with("__Host-sy_session="))
        .unwrap_or_else(|| panic!("no session cookie: {finished:?}"));
    for attribute in ["HttpOnly", "Path=/", "SameSite=Lax", "Secure"] {
        assert!(
            attributes(session).iter().any(|a| a == attribute),
            "{session}"
        );
    }
}
