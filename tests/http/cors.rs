//! CORS: the token, revocation and userinfo endpoints answer the origins of
//! the client concerned (`allowed_origins`, `web_origins`, callbacks'
//! origins), discovery and JWKS any origin, and nothing else any.

use reqwest::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
    ORIGIN, VARY,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{
    CALLBACK, CHALLENGE, Tenant, VERIFIER, alice_code, browser, code_params, tenant,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    client_origins_round_trip_and_bad_ones_are_refused,
    preflights_are_answered_for_registered_origins_only,
    responses_are_readable_only_by_the_clients_origins,
    discovery_and_jwks_are_public_and_nothing_else_answers_cors
);

const SPA_ORIGIN: &str = "https://spa.example.com";
/// Registered by the confidential client (`https://*.web.example.com`).
const WEB_ORIGIN: &str = "https://app.web.example.com";
const UNREGISTERED: &str = "https://evil.example";

fn allow_origin(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(ACCESS_CONTROL_ALLOW_ORIGIN)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn header_list(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> reqwest::Response {
    app.http
        .request(Method::OPTIONS, app.url(path))
        .header(ORIGIN, origin)
        .header(ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(ACCESS_CONTROL_REQUEST_HEADERS, "content-type,authorization")
        .send()
        .await
        .unwrap()
}

async fn post_form(
    app: &TestApp,
    path: &str,
    origin: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header(ORIGIN, origin)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn userinfo_from(app: &TestApp, origin: &str, access_token: &str) -> reqwest::Response {
    app.http
        .get(app.url("/userinfo"))
        .header(ORIGIN, origin)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

/// The tenant, its SPA registering [`SPA_ORIGIN`] in `allowed_origins` and
/// its web client `https://*.web.example.com` in `web_origins`.
async fn tenant_with_origins(app: &TestApp) -> Tenant {
    let t = tenant(app).await;
    let token = app.admin_token().await;
    for (client_id, body) in [
        (
            &t.public_client_id,
            json!({"allowed_origins": [SPA_ORIGIN]}),
        ),
        (
            &t.client_id,
            json!({"web_origins": ["https://*.web.example.com"]}),
        ),
    ] {
        let (status, body) = app
            .api(
                Method::PATCH,
                &format!("/api/v2/clients/{client_id}"),
                &token,
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    t
}

async fn client_origins_round_trip_and_bad_ones_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (status, created) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &token,
            Some(json!({"name": "SPA", "app_type": "spa",
                        "web_origins": ["https://spa.example.com", "http://localhost:5173"],
                        "allowed_origins": ["https://*.example.com", "https://spa.example.com:8443"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["client_id"].as_str().unwrap();
    let (_, read) = app
        .api(Method::GET, &format!("/api/v2/clients/{id}"), &token, None)
        .await;
    assert_eq!(
        read["web_origins"],
        json!(["https://spa.example.com", "http://localhost:5173"])
    );
    assert_eq!(
        read["allowed_origins"],
        json!(["https://*.example.com", "https://spa.example.com:8443"])
    );
    let (status, patched) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{id}"),
            &token,
            Some(json!({"allowed_origins": ["https://other.example.com"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["allowed_origins"],
        json!(["https://other.example.com"])
    );
    assert_eq!(patched["web_origins"], read["web_origins"]);

    for (field, value) in [
        ("allowed_origins", "https://spa.example.com/"),
        ("allowed_origins", "https://spa.example.com/app"),
        ("allowed_origins", "https://spa.example.com?x=1"),
        ("web_origins", "https://spa.example.com#x"),
        ("web_origins", "http://spa.example.com"),
        ("web_origins", "https://*.com"),
        ("allowed_origins", "https://a.*.example.com"),
        ("allowed_origins", "*"),
    ] {
        for (method, path) in [
            (Method::POST, "/api/v2/clients".to_owned()),
            (Method::PATCH, format!("/api/v2/clients/{id}")),
        ] {
            let mut body = json!({field: ["https://ok.example.com", value]});
            if method == Method::POST {
                body["name"] = json!("Bad");
            }
            let (status, error) = app.api(method.clone(), &path, &token, Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {value}: {error}");
            let message = error["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("{field}[1]")),
                "{value}: {message}"
            );
        }
    }
    let (_, unchanged) = app
        .api(Method::GET, &format!("/api/v2/clients/{id}"), &token, None)
        .await;
    assert_eq!(
        unchanged["allowed_origins"],
        json!(["https://other.example.com"])
    );
}

async fn preflights_are_answered_for_registered_origins_only(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant_with_origins(&app).await;
    // Any client's origin: the preflight names no client. The callbacks'
    // origin counts too.
    for origin in [SPA_ORIGIN, WEB_ORIGIN, "http://localhost:3000"] {
        for (path, method, allowed) in [
            ("/oauth/token", "POST", "post"),
            ("/oauth/revoke", "POST", "post"),
            ("/userinfo", "GET", "get,post"),
        ] {
            let response = preflight(&app, path, origin, method).await;
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            assert_eq!(allow_origin(&response).as_deref(), Some(origin), "{path}");
            let methods = header_list(&response, ACCESS_CONTROL_ALLOW_METHODS);
            assert_eq!(methods.replace(' ', ""), allowed, "{path}");
            let headers = header_list(&response, ACCESS_CONTROL_ALLOW_HEADERS);
            for header in ["authorization", "content-type", "auth0-client"] {
                assert!(headers.contains(header), "{path}: {headers}");
            }
            assert!(header_list(&response, VARY).contains("origin"));
            assert!(
                response
                    .headers()
                    .get(ACCESS_CONTROL_ALLOW_CREDENTIALS)
                    .is_none()
            );
        }
    }
    for origin in [
        UNREGISTERED,
        "https://spa.example.com.evil.example",
        "http://spa.example.com",
        "https://a.b.web.example.com",
        "null",
    ] {
        let response = preflight(&app, "/oauth/token", origin, "POST").await;
        assert_eq!(allow_origin(&response), None, "{origin}");
        assert!(header_list(&response, VARY).contains("origin"));
    }
    // Removing an origin takes effect at once.
    let token = app.admin_token().await;
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.public_client_id),
            &token,
            Some(json!({"allowed_origins": []})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = preflight(&app, "/oauth/token", SPA_ORIGIN, "POST").await;
    assert_eq!(allow_origin(&response), None);
}

async fn responses_are_readable_only_by_the_clients_origins(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant_with_origins(&app).await;
    let spa = t.public_client_id.as_str();
    let code = alice_code(
        &app,
        &code_params(
            spa,
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        ),
    )
    .await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("client_id", spa),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    let response = post_form(&app, "/oauth/token", SPA_ORIGIN, &exchange).await;
    assert_eq!(allow_origin(&response).as_deref(), Some(SPA_ORIGIN));
    assert!(header_list(&response, VARY).contains("origin"));
    assert!(
        response
            .headers()
            .get(ACCESS_CONTROL_ALLOW_CREDENTIALS)
            .is_none()
    );
    let tokens: Value = response.json().await.unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();

    // The SPA's errors are its own to read; another client's origin (which
    // passes the preflight) reads nothing of the SPA's answers.
    let bogus = [
        ("grant_type", "refresh_token"),
        ("client_id", spa),
        ("refresh_token", "not-a-token"),
    ];
    let response = post_form(&app, "/oauth/token", SPA_ORIGIN, &bogus).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(allow_origin(&response).as_deref(), Some(SPA_ORIGIN));
    for origin in [WEB_ORIGIN, UNREGISTERED] {
        let response = post_form(&app, "/oauth/token", origin, &bogus).await;
        assert_eq!(allow_origin(&response), None, "{origin}");
        let response = post_form(
            &app,
            "/oauth/revoke",
            origin,
            &[("client_id", spa), ("token", "not-a-token")],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(allow_origin(&response), None, "{origin}");
    }
    // The confidential client's own origin, with its Basic credentials.
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .header(ORIGIN, WEB_ORIGIN)
        .basic_auth(&t.client_id, Some(&t.secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(allow_origin(&response).as_deref(), Some(WEB_ORIGIN));
    // A request naming no client: an error anyone registered may read.
    for (origin, readable) in [(WEB_ORIGIN, Some(WEB_ORIGIN)), (UNREGISTERED, None)] {
        let response = post_form(
            &app,
            "/oauth/token",
            origin,
            &[("grant_type", "refresh_token")],
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(allow_origin(&response).as_deref(), readable, "{origin}");
    }

    // /userinfo: the access token's client decides.
    for (origin, readable) in [
        (SPA_ORIGIN, true),
        (WEB_ORIGIN, false),
        (UNREGISTERED, false),
    ] {
        let response = userinfo_from(&app, origin, access_token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(allow_origin(&response).is_some(), readable, "{origin}");
    }

    let response = post_form(
        &app,
        "/oauth/revoke",
        SPA_ORIGIN,
        &[("client_id", spa), ("token", access_token)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(allow_origin(&response).as_deref(), Some(SPA_ORIGIN));
    // Revoked: the refusal names no client, and says nothing of anyone.
    let response = userinfo_from(&app, SPA_ORIGIN, access_token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(allow_origin(&response).as_deref(), Some(SPA_ORIGIN));
}

async fn discovery_and_jwks_are_public_and_nothing_else_answers_cors(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant_with_origins(&app).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        let response = app
            .http
            .get(app.url(path))
            .header(ORIGIN, UNREGISTERED)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(allow_origin(&response).as_deref(), Some("*"), "{path}");
        let response = preflight(&app, path, UNREGISTERED, "GET").await;
        assert!(response.status().is_success(), "{path}");
        assert_eq!(allow_origin(&response).as_deref(), Some("*"), "{path}");
    }
    // Not the Management API, the login pages, introspection or the
    // landing page, even from a registered origin.
    let token = app.admin_token().await;
    let authorize = format!(
        "/authorize?client_id={}&redirect_uri={CALLBACK}&response_type=code&scope=openid",
        t.public_client_id
    );
    for (method, path) in [
        (Method::GET, "/api/v2/clients"),
        (Method::POST, "/api/v2/clients"),
        (Method::GET, authorize.as_str()),
        (Method::GET, "/u/login"),
        (Method::GET, "/u/signup"),
        (Method::POST, "/oauth/introspect"),
        (Method::GET, "/oidc/logout"),
        (Method::GET, "/"),
    ] {
        let response = browser()
            .request(method.clone(), app.url(path))
            .header(ORIGIN, SPA_ORIGIN)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(allow_origin(&response), None, "{method} {path}");
        let response = preflight(&app, path, SPA_ORIGIN, method.as_str()).await;
        assert_eq!(allow_origin(&response), None, "preflight {path}");
        assert!(
            response
                .headers()
                .get(ACCESS_CONTROL_ALLOW_METHODS)
                .is_none(),
            "preflight {path}"
        );
    }
}
