//! OpenID Connect Back-Channel Logout: a client that registered a URL gets a
//! logout token when a session it was used for ends.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::on_both_backends;
use crate::support::oidc::{
    ALICE, CHALLENGE, Tenant, authorize, browser, claims, code_params, confirm_logout, location,
    log_in, log_in_alice, query_param, redeem_code, tenant,
};
use crate::support::{Backend, TestApp, spawn, spawn_configured, spawn_resolving};
use switchyard::outbound::StaticNames;

on_both_backends!(
    ended_sessions_are_announced_to_their_clients,
    sessions_ending_otherwise_are_announced_too,
    backchannel_logout_settings_are_validated,
    no_logout_token_reaches_a_name_that_resolves_to_loopback
);

/// A client's back-channel logout endpoint: every form posted to it, in order.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Vec<(String, String)>>) {
    let (sender, received) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/backchannel-logout",
        post(move |axum::Form(form): axum::Form<Vec<(String, String)>>| {
            let sender = sender.clone();
            async move {
                let _ = sender.send(form);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/backchannel-logout",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// The next logout token posted, within 5 s.
async fn next_logout_token(
    received: &mut mpsc::UnboundedReceiver<Vec<(String, String)>>,
) -> String {
    let form = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("no logout token within 5 s")
        .expect("receiver closed");
    form.into_iter()
        .find(|(name, _)| name == "logout_token")
        .map(|(_, value)| value)
        .unwrap_or_else(|| panic!("the form has no logout_token"))
}

fn decoded(token: &str) -> (jsonwebtoken::Header, Value) {
    let header = jsonwebtoken::decode_header(token).unwrap();
    (header, claims(token))
}

/// Logs `email` in through the pages in `b` for the tenant's confidential
/// client (with `extra` parameters); the ID token's claims.
async fn log_in_as(
    app: &TestApp,
    t: &Tenant,
    b: &reqwest::Client,
    (email, password): (&str, &str),
    extra: &[(&str, &str)],
) -> Value {
    let start = authorize(app, b, &code_params(&t.client_id, extra)).await;
    let callback = log_in(app, b, start, email, password).await;
    let code = query_param(&callback, "code").unwrap_or_else(|| panic!("no code: {callback}"));
    let tokens = redeem_code(app, t, &code, None).await;
    claims(tokens["id_token"].as_str().unwrap())
}

const BOB: (&str, &str) = ("bob@hoekstra.example", "bob-password-1");

async fn logged_in(app: &TestApp, t: &Tenant) -> (reqwest::Client, Value) {
    let b = browser();
    let id_token = log_in_as(app, t, &b, ALICE, &[]).await;
    (b, id_token)
}

/// Registers `url` as the tenant's confidential client's back-channel logout URL.
async fn register(app: &TestApp, admin: &str, t: &Tenant, url: &str) -> Value {
    let (status, client) = try_to_register(app, admin, t, url).await;
    assert_eq!(status, StatusCode::OK, "{client}");
    client
}

/// PATCHes `url` in as the tenant's confidential client's back-channel
/// logout URL; the status and the body.
async fn try_to_register(app: &TestApp, admin: &str, t: &Tenant, url: &str) -> (StatusCode, Value) {
    app.api(
        Method::PATCH,
        &format!("/api/v2/clients/{}", t.client_id),
        admin,
        Some(json!({"oidc_logout": {"backchannel_logout_urls": [url]}})),
    )
    .await
}

/// Logs alice in, then ends her session through the Management API; the
/// ID token of that session.
async fn session_ended_by_an_administrator(app: &TestApp, admin: &str, t: &Tenant) -> Value {
    let (_, id_token) = logged_in(app, t).await;
    let sid = id_token["sid"].as_str().unwrap();
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/sessions/{sid}"),
            admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    id_token
}

/// Nothing more is posted: once every back-channel delivery the app has
/// started is done (each is posted to the receiver before its answer comes
/// back), the receiver holds no form.
async fn assert_quiet(
    app: &TestApp,
    received: &mut mpsc::UnboundedReceiver<Vec<(String, String)>>,
    why: &str,
) {
    tokio::time::timeout(Duration::from_secs(10), app.background.settled())
        .await
        .expect("back-channel deliveries still running after 10 s");
    if let Ok(form) = received.try_recv() {
        panic!("{why}: {form:?}");
    }
}

async fn ended_sessions_are_announced_to_their_clients(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let admin = app.admin_token().await;
    let (url, mut received) = receiver().await;
    let client = register(&app, &admin, &t, &url).await;
    assert_eq!(
        client["oidc_logout"],
        json!({"backchannel_logout_urls": [url], "backchannel_logout_initiators": {"mode": "all"}})
    );

    // Another site sends the browser to logout, or forges the confirmation:
    // the session goes on, and nothing is announced.
    let (b, id_token) = logged_in(&app, &t).await;
    let page = b
        .get(app.url("/oidc/logout"))
        .query(&[("client_id", t.client_id.as_str())])
        .send()
        .await
        .unwrap();
    let forged = b
        .post(app.url("/oidc/logout/confirm"))
        .form(&[("client_id", t.client_id.as_str()), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_quiet(
        &app,
        &mut received,
        "a logout the user did not confirm was announced",
    )
    .await;

    // The user confirms (RP-initiated logout): the client gets a logout
    // token for that session.
    let response = confirm_logout(&app, &b, page).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (header, claims) = decoded(&next_logout_token(&mut received).await);
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(claims["iss"], app.issuer);
    assert_eq!(claims["aud"], t.client_id.as_str());
    assert_eq!(claims["sid"], id_token["sid"]);
    assert_eq!(claims["sub"], id_token["sub"]);
    assert_eq!(
        claims["events"],
        json!({"http://schemas.openid.net/event/backchannel-logout": {}})
    );
    assert!(claims.get("nonce").is_none(), "a logout token has no nonce");
    assert!(claims["jti"].is_string());
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());

    // An administrator ends the next session: announced too.
    let id_token = session_ended_by_an_administrator(&app, &admin, &t).await;
    let (_, claims) = decoded(&next_logout_token(&mut received).await);
    assert_eq!(claims["sid"], id_token["sid"]);

    // A session only used by a client without a URL announces nothing; the
    // next token is for the session that used ours, ended with the user's.
    let b = browser();
    let public = code_params(
        &t.public_client_id,
        &[
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let start = authorize(&app, &b, &public).await;
    log_in_alice(&app, &b, start).await;
    let (_, id_token) = logged_in(&app, &t).await;
    let user_id = id_token["sub"].as_str().unwrap();
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/users/{user_id}/sessions"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, claims) = decoded(&next_logout_token(&mut received).await);
    assert_eq!(claims["sid"], id_token["sid"]);
    assert_quiet(
        &app,
        &mut received,
        "a session the client never used was announced to it",
    )
    .await;
    let response = authorize(&app, &b, &public).await;
    assert!(
        location(&response).contains("/u/login"),
        "the user's sessions ended"
    );
}

async fn sessions_ending_otherwise_are_announced_too(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let admin = app.admin_token().await;
    let (url, mut received) = receiver().await;
    register(&app, &admin, &t, &url).await;
    let (status, bob) = app
        .api(
            Method::POST,
            "/api/v2/users",
            &admin,
            Some(json!({"connection": "users", "email": BOB.0, "password": BOB.1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");

    // The same user logging in again in the browser goes on: not announced.
    let b = browser();
    let first = log_in_as(&app, &t, &b, ALICE, &[]).await;
    let again = log_in_as(&app, &t, &b, ALICE, &[("prompt", "login")]).await;
    assert_ne!(first["sid"], again["sid"]);
    assert_quiet(
        &app,
        &mut received,
        "a session replaced by its own user was announced",
    )
    .await;

    // Another user taking over the browser: the previous user's session is.
    let bobs = log_in_as(&app, &t, &b, BOB, &[("prompt", "login")]).await;
    let (_, claims) = decoded(&next_logout_token(&mut received).await);
    assert_eq!(
        (&claims["sid"], &claims["sub"]),
        (&again["sid"], &again["sub"])
    );

    // Deleting a user announces their sessions.
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/users/{}", bob["user_id"].as_str().unwrap()),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, claims) = decoded(&next_logout_token(&mut received).await);
    assert_eq!(
        (&claims["sid"], &claims["sub"]),
        (&bobs["sid"], &bob["user_id"])
    );

    // Blocking a user logs them out everywhere: announced.
    let blocked = log_in_as(&app, &t, &browser(), ALICE, &[]).await;
    let alice_path = format!("/api/v2/users/{}", blocked["sub"].as_str().unwrap());
    for blocking in [true, false] {
        let (status, body) = app
            .api(
                Method::PATCH,
                &alice_path,
                &admin,
                Some(json!({"blocked": blocking})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, claims) = decoded(&next_logout_token(&mut received).await);
    assert_eq!(claims["sid"], blocked["sid"]);
    assert_quiet(&app, &mut received, "unblocking announced something").await;

    // Deleting the connection announces the sessions opened through it.
    let alices = log_in_as(&app, &t, &browser(), ALICE, &[]).await;
    let (_, connections) = app
        .api(Method::GET, "/api/v2/connections?name=users", &admin, None)
        .await;
    let connection_id = connections[0]["id"].as_str().unwrap();
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/connections/{connection_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, claims) = decoded(&next_logout_token(&mut received).await);
    assert_eq!(claims["sid"], alices["sid"]);
    assert_quiet(&app, &mut received, "an ended session was announced twice").await;
}

async fn backchannel_logout_settings_are_validated(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let admin = app.admin_token().await;
    for oidc_logout in [
        json!({"backchannel_logout_urls": ["https://a.example/bcl", "https://b.example/bcl"]}),
        json!({"backchannel_logout_urls": ["http://app.example/bcl"]}),
        json!({"backchannel_logout_urls": ["https://a.example/bcl#x"]}),
        json!({"backchannel_logout_urls": ["not a url"]}),
        json!({"backchannel_logout_urls": ["https://a.example/bcl"],
               "backchannel_logout_initiators": {"mode": "custom"}}),
    ] {
        let (status, error) = app
            .api(
                Method::PATCH,
                &format!("/api/v2/clients/{}", t.client_id),
                &admin,
                Some(json!({"oidc_logout": oidc_logout})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{oidc_logout}: {error}");
    }
    // An empty list turns it off.
    let (_, client) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &admin,
            Some(json!({"oidc_logout": {"backchannel_logout_urls": ["https://a.example/bcl"]}})),
        )
        .await;
    assert_eq!(
        client["oidc_logout"]["backchannel_logout_urls"][0],
        "https://a.example/bcl"
    );
    let (_, client) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &admin,
            Some(json!({"oidc_logout": {"backchannel_logout_urls": []}})),
        )
        .await;
    assert!(client.get("oidc_logout").is_none(), "{client}");

    // A Switchyard that does not run on localhost POSTs to public https
    // hosts only: not to itself or the private network (SSRF).
    let public = spawn_configured(backend, |config| {
        config.issuer = Some("https://id.example.test/".into());
    })
    .await;
    let t = tenant(&public).await;
    let admin = public.admin_token().await;
    for (url, expected) in [
        (
            "http://127.0.0.1:3000/backchannel-logout",
            StatusCode::BAD_REQUEST,
        ),
        (
            "https://169.254.169.254/latest/meta-data",
            StatusCode::BAD_REQUEST,
        ),
        (
            "https://10.0.0.7/backchannel-logout",
            StatusCode::BAD_REQUEST,
        ),
        (
            "https://localhost./backchannel-logout",
            StatusCode::BAD_REQUEST,
        ),
        (
            "https://app.localhost/backchannel-logout",
            StatusCode::BAD_REQUEST,
        ),
        ("https://[::ffff:127.0.0.1]/bcl", StatusCode::BAD_REQUEST),
        ("https://[::127.0.0.1]/bcl", StatusCode::BAD_REQUEST),
        (
            "https://[64:ff9b::a9fe:a9fe]/latest",
            StatusCode::BAD_REQUEST,
        ),
        ("https://[2002:a9fe:a9fe::]/latest", StatusCode::BAD_REQUEST),
        ("https://100.100.100.200/latest", StatusCode::BAD_REQUEST),
        ("https://198.18.0.1/bcl", StatusCode::BAD_REQUEST),
        ("https://0.0.0.0/bcl", StatusCode::BAD_REQUEST),
        ("https://255.255.255.255/bcl", StatusCode::BAD_REQUEST),
        ("https://224.0.0.1/bcl", StatusCode::BAD_REQUEST),
        ("https://app.example.com/backchannel-logout", StatusCode::OK),
    ] {
        let (status, body) = try_to_register(&public, &admin, &t, url).await;
        assert_eq!(status, expected, "{url}: {body}");
    }
}

/// A client of a Switchyard that does not run on localhost registers a
/// back-channel URL on a name that passes the registration check but
/// resolves to loopback (`rebind.test`, from the app's name table): no
/// logout token is sent, and nothing even connects to the port; unless
/// the configuration allows loopback's network.
async fn no_logout_token_reaches_a_name_that_resolves_to_loopback(backend: Backend) {
    for allowed in [false, true] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let names = StaticNames::default().with("rebind.test", &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        let app = spawn_resolving(backend, Arc::new(names), |config| {
            config.issuer = Some("http://switchyard.test/".into());
            if allowed {
                config.outbound.allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
            }
        })
        .await;
        let t = tenant(&app).await;
        let admin = app.admin_token().await;
        // An address literal in the allowed network passes registration too.
        let (status, body) = try_to_register(&app, &admin, &t, "https://127.0.0.2/bcl").await;
        let expected = if allowed {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(status, expected, "{body}");
        register(
            &app,
            &admin,
            &t,
            &format!("https://rebind.test:{port}/backchannel-logout"),
        )
        .await;

        session_ended_by_an_administrator(&app, &admin, &t).await;
        if allowed {
            // Connected to (and closed at once: the TLS handshake fails).
            let accepted = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await;
            assert!(
                matches!(accepted, Ok(Ok(_))),
                "the allowed network was not reached"
            );
        } else {
            tokio::time::timeout(Duration::from_secs(10), app.background.settled())
                .await
                .expect("back-channel deliveries still running after 10 s");
            // A connection completes in the kernel whether or not it is
            // accepted: once the delivery is over, any it made is waiting.
            let listener = listener.into_std().unwrap();
            match listener.accept() {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                other => panic!("the delivery connected to loopback: {other:?}"),
            }
        }
    }
}
