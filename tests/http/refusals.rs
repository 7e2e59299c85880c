//! What every response says about the connection and the transport: a
//! refusal sent before the body was read closes the connection cleanly, and
//! a production server pins browsers to https.

use reqwest::StatusCode;

use crate::support::{self, Backend, TestApp};
use switchyard::config::TlsMode;

async fn post_with_body(
    app: &TestApp,
    path: &str,
    content_type: &str,
    bearer: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url(path))
        .header("content-type", content_type)
        .body(vec![b'x'; 32 * 1024]);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

fn connection(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get("connection")
        .and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn refusals_before_the_body_is_read_close_the_connection() {
    let app = support::spawn(Backend::Sqlite).await;
    // No token: 401 before the body is read.
    let response = post_with_body(&app, "/api/v2/organizations", "application/json", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(connection(&response), Some("close"));
    // The wrong content type: 415 before the body is read.
    let token = app.admin_token().await;
    let response = post_with_body(&app, "/api/v2/organizations", "text/plain", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(connection(&response), Some("close"));
    // No such route.
    let response = post_with_body(&app, "/nowhere", "application/json", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(connection(&response), Some("close"));
    // A request without a body keeps its connection.
    let response = app
        .http
        .get(app.url("/api/v2/organizations"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(connection(&response), None);
    // And the client goes on working on new connections.
    let response = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn jwks(app: &TestApp) -> reqwest::Response {
    app.http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
}

async fn spawn_behind(issuer: Option<&str>, tls: TlsMode) -> TestApp {
    support::spawn_configured(Backend::Sqlite, |config| {
        config.issuer = issuer.map(str::to_owned);
        config.tls = tls;
    })
    .await
}

#[tokio::test]
async fn an_https_issuer_sends_hsts_except_with_the_dev_certificate() {
    let hsts = |response: &reqwest::Response| {
        response
            .headers()
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    // Behind a TLS-terminating proxy, the public issuer is https.
    let app = spawn_behind(Some("https://id.example.com/"), TlsMode::InsecureHttp).await;
    let response = jwks(&app).await;
    assert_eq!(hsts(&response).as_deref(), Some("max-age=31536000"));
    // Development: the dev certificate on localhost, no pinning.
    let app = spawn_behind(None, TlsMode::Dev).await;
    let response = jwks(&app).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(hsts(&response), None);
    // Plain http on localhost (tests): none either.
    let app = support::spawn(Backend::Sqlite).await;
    let response = jwks(&app).await;
    assert_eq!(hsts(&response), None);
}
