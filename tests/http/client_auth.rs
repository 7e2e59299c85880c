//! Client authentication by the method the client registered (its
//! `token_endpoint_auth_method`, OIDC Core §9): the token, revocation and
//! introspection endpoints refuse any other method with `invalid_client`
//! (401 with `WWW-Authenticate`, RFC 6749 §5.2), even with the right secret.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{authorize, browser, claims, log_in, query_param, tenant};
use crate::support::{BOOTSTRAP_ID, BOOTSTRAP_SECRET, Backend, TestApp, spawn};

on_both_backends!(
    each_endpoint_takes_only_the_registered_method,
    public_clients_present_no_secret,
    the_demo_tenant_logs_in_as_the_readme_says,
    switchyard_demo_replaces_the_demo_credentials
);

/// How a request presents its client.
#[derive(Debug, Clone, Copy)]
enum Presented<'a> {
    /// `client_secret_basic`
    Basic(&'a str, &'a str),
    /// `client_secret_post`
    Post(&'a str, &'a str),
    /// `none`: the client_id alone
    IdOnly(&'a str),
}

struct Answer {
    status: StatusCode,
    www_authenticate: Option<String>,
    body: Value,
}

/// POSTs `form` to `endpoint` with the client presented as `presented`.
async fn call(
    app: &TestApp,
    endpoint: &str,
    presented: Presented<'_>,
    form: &[(&str, &str)],
) -> Answer {
    let mut form = form.to_vec();
    let mut request = app.http.post(app.url(endpoint));
    match presented {
        Presented::Basic(id, secret) => request = request.basic_auth(id, Some(secret)),
        Presented::Post(id, secret) => {
            form.extend([("client_id", id), ("client_secret", secret)]);
        }
        Presented::IdOnly(id) => form.push(("client_id", id)),
    }
    let response = request.form(&form).send().await.unwrap();
    let status = response.status();
    let www_authenticate = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    Answer {
        status,
        www_authenticate,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// `invalid_client`, 401, and the Basic challenge.
fn assert_refused(answer: &Answer, what: &str) {
    assert_eq!(
        (answer.status, answer.body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{what}: {}",
        answer.body
    );
    assert!(
        answer
            .www_authenticate
            .as_deref()
            .is_some_and(|v| v.starts_with("Basic")),
        "{what}: WWW-Authenticate {:?}",
        answer.www_authenticate
    );
}

async fn each_endpoint_takes_only_the_registered_method(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let audience = app.management_audience();
    let (status, created) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &admin,
            Some(
                json!({"name": "Basic machine", "app_type": "non_interactive",
                        "token_endpoint_auth_method": "client_secret_basic"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let basic_id = created["client_id"].as_str().unwrap();
    let basic_secret = created["client_secret"].as_str().unwrap();
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &admin,
            Some(json!({"client_id": basic_id, "audience": audience, "scope": ["read:clients"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // The bootstrap client was registered without a method: Auth0's default
    // for a confidential client, client_secret_post.
    let clients = [
        (
            "client_secret_basic",
            Presented::Basic(basic_id, basic_secret),
            Presented::Post(basic_id, basic_secret),
        ),
        (
            "client_secret_post",
            Presented::Post(BOOTSTRAP_ID, BOOTSTRAP_SECRET),
            Presented::Basic(BOOTSTRAP_ID, BOOTSTRAP_SECRET),
        ),
    ];
    for (registered, right, wrong) in clients {
        let grant = [
            ("grant_type", "client_credentials"),
            ("audience", audience.as_str()),
        ];
        let refused = call(&app, "/oauth/token", wrong, &grant).await;
        assert_refused(&refused, &format!("token, {wrong:?}"));
        // The right secret learns which method to use; a wrong one learns nothing.
        assert!(
            refused.body["error_description"]
                .as_str()
                .unwrap()
                .contains(registered),
            "{}",
            refused.body
        );
        let wrong_secret = match right {
            Presented::Basic(id, _) => Presented::Basic(id, "wrong"),
            Presented::Post(id, _) => Presented::Post(id, "wrong"),
            Presented::IdOnly(_) => unreachable!(),
        };
        let refused = call(&app, "/oauth/token", wrong_secret, &grant).await;
        assert_refused(&refused, "a wrong secret");
        assert_eq!(
            refused.body["error_description"],
            "Client authentication failed"
        );
        let issued = call(&app, "/oauth/token", right, &grant).await;
        assert_eq!(issued.status, StatusCode::OK, "{right:?}: {}", issued.body);
        let token = issued.body["access_token"].as_str().unwrap();
        let about = [("token", token)];

        let refused = call(&app, "/oauth/introspect", wrong, &about).await;
        assert_refused(&refused, &format!("introspection, {wrong:?}"));
        let refused = call(&app, "/oauth/revoke", wrong, &about).await;
        assert_refused(&refused, &format!("revocation, {wrong:?}"));
        let answer = call(&app, "/oauth/introspect", right, &about).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(
            answer.body["active"], true,
            "the refused revocation revoked it"
        );

        let answer = call(&app, "/oauth/revoke", right, &about).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let answer = call(&app, "/oauth/introspect", right, &about).await;
        assert_eq!(answer.body, json!({"active": false}));
    }
}

async fn public_clients_present_no_secret(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let spa = t.public_client_id.as_str();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "not-a-refresh-token"),
    ];
    let unknown = [("token", "not-a-token")];

    // By its id alone the public client passes (the made-up token then fails).
    let answer = call(&app, "/oauth/token", Presented::IdOnly(spa), &refresh).await;
    assert_eq!(
        (answer.status, answer.body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{}",
        answer.body
    );
    let answer = call(&app, "/oauth/revoke", Presented::IdOnly(spa), &unknown).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // With a secret, by either method, it is refused everywhere; it never
    // introspects.
    for presented in [
        Presented::Post(spa, "a-secret"),
        Presented::Basic(spa, "a-secret"),
    ] {
        for (endpoint, form) in [
            ("/oauth/token", &refresh[..]),
            ("/oauth/revoke", &unknown[..]),
            ("/oauth/introspect", &unknown[..]),
        ] {
            let answer = call(&app, endpoint, presented, form).await;
            assert_refused(&answer, &format!("{endpoint}, {presented:?}"));
        }
    }
    let answer = call(&app, "/oauth/introspect", Presented::IdOnly(spa), &unknown).await;
    assert_refused(&answer, "introspection by a public client");

    // A confidential client never passes by its id alone.
    for (endpoint, form) in [
        ("/oauth/token", &refresh[..]),
        ("/oauth/revoke", &unknown[..]),
        ("/oauth/introspect", &unknown[..]),
    ] {
        let answer = call(&app, endpoint, Presented::IdOnly(&t.client_id), form).await;
        assert_refused(
            &answer,
            &format!("{endpoint}, a confidential client's id alone"),
        );
    }
}

/// The README's first steps: the demo web app's login URL ends at its
/// callback with a code, which the web app (express-openid-connect: HTTP
/// Basic) redeems; the machine client gets a Management API token with
/// `-d client_id -d client_secret`.
async fn the_demo_tenant_logs_in_as_the_readme_says(backend: Backend) {
    let app = spawn(backend).await;
    let issuer = switchyard::state::Issuer::new(&app.issuer);
    let demo = switchyard::seed::seed_demo_tenant(&app.store().await, &issuer)
        .await
        .unwrap()
        .expect("a fresh store is seeded");

    let callback = "http://localhost:3000/callback";
    let b = browser();
    let start = authorize(
        &app,
        &b,
        &[
            ("client_id", demo.web_client_id.as_str()),
            ("redirect_uri", callback),
            ("response_type", "code"),
            ("scope", "openid email profile"),
            ("organization", "hoekstra"),
            ("state", "try-it"),
        ],
    )
    .await;
    let landed = log_in(&app, &b, start, &demo.user_email, &demo.user_password).await;
    assert!(landed.starts_with(callback), "{landed}");
    assert_eq!(query_param(&landed, "state").as_deref(), Some("try-it"));
    let code = query_param(&landed, "code").unwrap();
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", callback),
    ];
    let web = &demo.web_client_id;
    let refused = call(
        &app,
        "/oauth/token",
        Presented::Post(web, &demo.web_client_secret),
        &redeem,
    )
    .await;
    assert_refused(&refused, "the demo web app with client_secret_post");
    let tokens = call(
        &app,
        "/oauth/token",
        Presented::Basic(web, &demo.web_client_secret),
        &redeem,
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    let id_token = claims(tokens.body["id_token"].as_str().unwrap());
    assert_eq!(id_token["email"], demo.user_email.as_str());
    assert!(id_token["org_id"].as_str().unwrap().starts_with("org_"));

    let (status, body) = app
        .request_token(
            &demo.m2m_client_id,
            &demo.m2m_client_secret,
            &app.management_audience(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, organizations) = app
        .api(
            Method::GET,
            "/api/v2/organizations",
            body["access_token"].as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        organizations
            .as_array()
            .unwrap()
            .iter()
            .any(|org| org["name"] == "hoekstra"),
        "{organizations}"
    );
}

/// `switchyard demo` (`reset_demo_credentials`): the demo clients' new
/// secrets and the user's new password work, the old secrets no longer do.
async fn switchyard_demo_replaces_the_demo_credentials(backend: Backend) {
    let app = spawn(backend).await;
    let issuer = switchyard::state::Issuer::new(&app.issuer);
    let store = app.store().await;
    let old = switchyard::seed::seed_demo_tenant(&store, &issuer)
        .await
        .unwrap()
        .expect("a fresh store is seeded");
    let new = switchyard::seed::reset_demo_credentials(&store)
        .await
        .unwrap();
    assert_eq!(
        (
            &new.web_client_id,
            &new.m2m_client_id,
            &new.user_email,
            &new.issuer
        ),
        (
            &old.web_client_id,
            &old.m2m_client_id,
            &old.user_email,
            &old.issuer
        )
    );

    let audience = app.management_audience();
    let (status, body) = app
        .request_token(&old.m2m_client_id, &old.m2m_client_secret, &audience)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = app
        .request_token(&new.m2m_client_id, &new.m2m_client_secret, &audience)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let callback = "http://localhost:3000/callback";
    let b = browser();
    let start = authorize(
        &app,
        &b,
        &[
            ("client_id", new.web_client_id.as_str()),
            ("redirect_uri", callback),
            ("response_type", "code"),
            ("scope", "openid"),
            ("organization", "hoekstra"),
            ("state", "after-reset"),
        ],
    )
    .await;
    let landed = log_in(&app, &b, start, &new.user_email, &new.user_password).await;
    let code = query_param(&landed, "code").unwrap_or_else(|| panic!("{landed}"));
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", callback),
    ];
    let web = &new.web_client_id;
    let refused = call(
        &app,
        "/oauth/token",
        Presented::Basic(web, &old.web_client_secret),
        &redeem,
    )
    .await;
    assert_refused(&refused, "the demo web app with its old secret");
    let tokens = call(
        &app,
        "/oauth/token",
        Presented::Basic(web, &new.web_client_secret),
        &redeem,
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
}
