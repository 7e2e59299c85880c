//! Bad input gets a clear error in the Management API's shape, and nothing
//! is written.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::openapi::check_response;
use crate::support::{Backend, spawn};

on_both_backends!(bad_bodies_are_refused_and_write_nothing);

async fn bad_bodies_are_refused_and_write_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let url = app.url("/api/v2/organizations");

    let raw = |content_type: &'static str, body: Vec<u8>| {
        let request = app
            .http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let connection = response.headers().get("connection").cloned();
            let content_type = response.headers().get("content-type").cloned();
            let text = response.text().await.unwrap();
            check_response(
                &Method::POST,
                "/api/v2/organizations",
                status,
                content_type.as_ref().and_then(|v| v.to_str().ok()),
                &text,
            );
            (
                status,
                connection,
                serde_json::from_str::<Value>(&text).unwrap(),
            )
        }
    };

    let (status, _, body) = raw("application/json", b"{\"name\": \"acme\"".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "malformed JSON: {body}");
    assert_eq!(body["errorCode"], "invalid_body");

    let (status, _, body) = raw("text/plain", b"{\"name\": \"acme\"}".to_vec()).await;
    assert_eq!(
        status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "wrong content type: {body}"
    );
    assert_eq!(body["statusCode"], 415);

    let huge = format!(
        "{{\"name\": \"acme\", \"display_name\": \"{}\"}}",
        "x".repeat(200 * 1024)
    );
    let (status, connection, body) = raw("application/json", huge.into_bytes()).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "oversized body: {body}"
    );
    assert_eq!(body["statusCode"], 413);
    // The body was not read to its end: the connection must not be reused.
    assert_eq!(
        connection.as_ref().and_then(|v| v.to_str().ok()),
        Some("close")
    );

    let cases = [
        (json!({"name": 5}), "name"),
        (json!({"display_name": "no name"}), "name"),
        (json!({"name": "Acme Corp"}), "name"),
        (json!({"name": "acme", "colour": "red"}), "colour"),
        (
            json!({"name": "acme", "branding": {"colors": {"primary": "red;}", "page_background": "#fff"}}}),
            "branding.colors.primary",
        ),
        (
            json!({"name": "acme", "branding": {"logo_url": "javascript:alert(1)"}}),
            "branding.logo_url",
        ),
        (json!({"name": "acme", "metadata": {"n": 1}}), "metadata.n"),
        (
            json!({"name": "acme", "display_name": "x".repeat(300)}),
            "display_name",
        ),
        (
            json!({"name": "acme", "enabled_connections": [{"connection_id": "con_missing"}]}),
            "connection_id",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = app
            .api(
                Method::POST,
                "/api/v2/organizations",
                &token,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["statusCode"], 400);
        assert_eq!(error["error"], "Bad Request");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "error for {body} should name {field}: {message}"
        );
    }

    let connection_cases = [
        (json!({"name": "x", "strategy": "ldap"}), "strategy"),
        (json!({"name": "bad name", "strategy": "auth0"}), "name"),
        (
            json!({"name": "x", "strategy": "oidc", "options": {"client_id": "c", "client_secret": "s"}}),
            "options.issuer",
        ),
        (
            json!({"name": "x", "strategy": "samlp", "options": {"signInEndpoint": "https://idp.example.com/sso", "signingCert": "bm90IGEgY2VydA=="}}),
            "options.signingCert",
        ),
        (
            json!({"name": "x", "strategy": "oauth2", "options": {"authorizationURL": "http://idp.example.com/auth"}}),
            "options.authorizationURL",
        ),
        (
            json!({"name": "x", "strategy": "auth0", "show_as_button": true}),
            "show_as_button",
        ),
        (
            json!({"name": "x", "strategy": "auth0", "enabled_clients": ["nope"]}),
            "enabled_clients[0]",
        ),
    ];
    for (body, field) in connection_cases {
        let (status, error) = app
            .api(
                Method::POST,
                "/api/v2/connections",
                &token,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "error for {body} should name {field}: {message}"
        );
    }

    // Nothing of the above was written.
    let (_, orgs) = app
        .api(Method::GET, "/api/v2/organizations", &token, None)
        .await;
    assert_eq!(orgs, json!([]));
    let (_, connections) = app
        .api(Method::GET, "/api/v2/connections", &token, None)
        .await;
    assert_eq!(connections, json!([]));

    // Unknown routes and methods answer, never panic.
    let (status, _) = app
        .api(
            Method::GET,
            "/api/v2/organizations/org_missing/enabled_connections/con_x",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

on_both_backends!(unknown_management_routes_answer_in_auth0s_error_shape);

/// A route or method the Management API does not have answers with Auth0's
/// error body (a tool reads `message`), not an empty one; elsewhere a 404
/// stays a plain 404.
async fn unknown_management_routes_answer_in_auth0s_error_shape(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;

    for path in [
        "/api/v2/no-such-resource",
        "/api/v2",
        "/api/v2/organizations/org_x/nothing",
    ] {
        let response = app
            .http
            .get(app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"statusCode": 404, "error": "Not Found", "message": "Not Found"}),
            "{path}"
        );
    }

    let response = app
        .http
        .request(Method::PUT, app.url("/api/v2/organizations"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = response.headers().get("allow").cloned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], 405, "{body}");
    assert_eq!(body["message"], "Method Not Allowed");
    let allow = allow.expect("405 names the methods the route has");
    assert!(allow.to_str().unwrap().contains("POST"), "{allow:?}");

    let response = app.http.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
