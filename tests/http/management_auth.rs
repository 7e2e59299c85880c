//! Who may call the Management API: a bearer token for its audience, signed
//! by a live key, carrying the route's scope, of a client that still exists
//! and still holds that scope.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard::model::client::SigningAlg;

use crate::on_both_backends;
use crate::support::{Backend, spawn};

on_both_backends!(
    missing_garbage_foreign_and_expired_tokens_get_401,
    a_token_without_the_scope_gets_403_naming_it,
    a_token_stops_with_its_client_or_grant
);

async fn missing_garbage_foreign_and_expired_tokens_get_401(backend: Backend) {
    let app = spawn(backend).await;
    let url = app.url("/api/v2/organizations");

    let response = app.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let (_, text) = app
        .documented(&Method::GET, "/api/v2/organizations", app.http.get(&url))
        .await;
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["statusCode"], 401);
    assert_eq!(body["message"], "Missing authentication");

    let (status, _) = app
        .api(Method::GET, "/api/v2/organizations", "not.a.jwt", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let now = app.clock.now_unix_seconds();
    let claims = |iat: i64, exp: i64, aud: &str| {
        json!({
            "iss": app.issuer, "sub": "provisioner@clients", "aud": aud, "iat": iat, "exp": exp,
            "jti": "x", "client_id": "provisioner", "scope": "read:organizations",
        })
    };
    let audience = app.management_audience();

    // Signed by a key Switchyard never published.
    let foreign_store = switchyard::store::Store::connect(&switchyard::store::sqlite_url_for(
        &app.dir.path().join("foreign.db"),
    ))
    .await
    .unwrap()
    .with_key_encryption_key(switchyard::secrets::KeyEncryptionKey::generate().unwrap().0);
    let foreign = switchyard::keys::KeyRing::load_or_init(&foreign_store)
        .await
        .unwrap();
    let forged = foreign
        .sign(
            SigningAlg::RS256,
            "at+jwt",
            &claims(now, now + 600, &audience),
        )
        .unwrap();
    let (status, _) = app
        .api(Method::GET, "/api/v2/organizations", &forged, None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "foreign-signed token accepted"
    );

    // Signed by the real key but expired, for another audience, or of another type.
    let ring = switchyard::keys::KeyRing::load_or_init(&app.store().await)
        .await
        .unwrap();
    let expired = ring
        .sign(
            SigningAlg::RS256,
            "at+jwt",
            &claims(now - 7200, now - 3600, &audience),
        )
        .unwrap();
    let (status, body) = app
        .api(Method::GET, "/api/v2/organizations", &expired, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("Expired"),
        "{body}"
    );
    let other_audience = ring
        .sign(
            SigningAlg::RS256,
            "at+jwt",
            &claims(now, now + 600, "https://api.example.com/"),
        )
        .unwrap();
    let (status, _) = app
        .api(Method::GET, "/api/v2/organizations", &other_audience, None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "token for another audience accepted"
    );
    let id_token_typed = ring
        .sign(SigningAlg::RS256, "JWT", &claims(now, now + 600, &audience))
        .unwrap();
    let (status, _) = app
        .api(Method::GET, "/api/v2/organizations", &id_token_typed, None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "token without typ at+jwt accepted"
    );
    let genuine = ring
        .sign(
            SigningAlg::ES256,
            "at+jwt",
            &claims(now, now + 600, &audience),
        )
        .unwrap();
    let (status, _) = app
        .api(Method::GET, "/api/v2/organizations", &genuine, None)
        .await;
    assert_eq!(status, StatusCode::OK, "a genuine ES256 token is accepted");

    // alg=none with the real kid.
    let header = jsonwebtoken::decode_header(&genuine).unwrap();
    let none_header =
        base64_url(&json!({"alg": "none", "typ": "at+jwt", "kid": header.kid}).to_string());
    let payload = base64_url(&claims(now, now + 600, &audience).to_string());
    let (status, _) = app
        .api(
            Method::GET,
            "/api/v2/organizations",
            &format!("{none_header}.{payload}."),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "alg=none accepted");
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

async fn a_token_without_the_scope_gets_403_naming_it(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let (client_id, secret) = app.machine_client(&admin, "Reader").await;
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &admin,
            Some(json!({"client_id": client_id, "audience": app.management_audience(), "scope": ["read:organizations"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app
        .request_token(&client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reader = body["access_token"].as_str().unwrap();

    let (status, _) = app
        .api(Method::GET, "/api/v2/organizations", reader, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            reader,
            Some(json!({"name": "acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["errorCode"], "insufficient_scope");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("create:organizations"),
        "{body}"
    );
    let (_, list) = app
        .api(Method::GET, "/api/v2/organizations", &admin, None)
        .await;
    assert_eq!(list, json!([]), "the forbidden create wrote nothing");
    let (status, _) = app
        .api(Method::GET, "/api/v2/connections", reader, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn a_token_stops_with_its_client_or_grant(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let audience = app.management_audience();
    let (client_id, secret) = app.machine_client(&admin, "Provisioner").await;
    let grant_for =
        |scope: Value| json!({"client_id": client_id, "audience": audience, "scope": scope});
    let (status, grant) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &admin,
            Some(grant_for(json!(["read:organizations", "read:clients"]))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let grant_path = format!("/api/v2/client-grants/{}", grant["id"].as_str().unwrap());
    let token_of = |body: Value| body["access_token"].as_str().unwrap().to_owned();
    let token = token_of(app.request_token(&client_id, &secret, &audience).await.1);
    let status_of = |path: &'static str, token: String| {
        let app = &app;
        async move { app.api(Method::GET, path, &token, None).await.0 }
    };
    assert_eq!(
        status_of("/api/v2/organizations", token.clone()).await,
        StatusCode::OK
    );

    // The grant narrowed: the token loses the scope at once.
    let (status, _) = app
        .api(
            Method::PATCH,
            &grant_path,
            &admin,
            Some(json!({"scope": ["read:clients"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        status_of("/api/v2/organizations", token.clone()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_of("/api/v2/clients", token.clone()).await,
        StatusCode::OK
    );

    // The grant deleted: the token is refused.
    let (status, _) = app.api(Method::DELETE, &grant_path, &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        status_of("/api/v2/clients", token.clone()).await,
        StatusCode::UNAUTHORIZED
    );

    // Granted again, then the client deleted: its token is refused.
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &admin,
            Some(grant_for(json!(["read:clients"]))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = token_of(app.request_token(&client_id, &secret, &audience).await.1);
    assert_eq!(
        status_of("/api/v2/clients", token.clone()).await,
        StatusCode::OK
    );
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/clients/{client_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.api(Method::GET, "/api/v2/clients", &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}
