//! Clients, their secrets, and client grants.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{Backend, spawn};

on_both_backends!(
    client_secrets_are_shown_once_and_rotate,
    client_grants_decide_token_scopes
);

async fn client_secrets_are_shown_once_and_rotate(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (status, created) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &token,
            Some(json!({"name": "Web", "app_type": "regular_web", "callbacks": ["https://app.acme.test/callback"],
                        "organization_usage": "require", "organization_require_behavior": "pre_login_prompt",
                        "jwt_configuration": {"alg": "ES256"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43);
    assert_eq!(created["organization_usage"], "require");
    assert_eq!(created["jwt_configuration"]["alg"], "ES256");
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_post");

    let (_, read) = app
        .api(
            Method::GET,
            &format!("/api/v2/clients/{client_id}"),
            &token,
            None,
        )
        .await;
    assert!(
        read.get("client_secret").is_none(),
        "secret shown again: {read}"
    );
    let stored = app.store().await.get_client(client_id).await.unwrap();
    assert_ne!(
        stored.client_secret_hash.as_deref(),
        Some(secret.as_str()),
        "secret stored in clear"
    );

    // A grant, then the token signed with the client's algorithm.
    let (status, _) = app
        .api(Method::POST, "/api/v2/client-grants", &token,
             Some(json!({"client_id": client_id, "audience": app.management_audience(), "scope": ["read:clients"]})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app
        .request_token(client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let header = jsonwebtoken::decode_header(body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);

    let (status, rotated) = app
        .api(
            Method::POST,
            &format!("/api/v2/clients/{client_id}/rotate-secret"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let (status, _) = app
        .request_token(client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "old secret still works after rotation"
    );
    let (status, _) = app
        .request_token(client_id, new_secret, &app.management_audience())
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, patched) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{client_id}"),
            &token,
            Some(json!({"callbacks": ["https://app.acme.test/cb2"], "name": "Web 2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["callbacks"], json!(["https://app.acme.test/cb2"]));
    for bad in [
        json!({"callbacks": ["http://evil.example/cb"]}),
        json!({"grant_types": ["implicit"]}),
        json!({"app_type": "spa", "token_endpoint_auth_method": "client_secret_post"}),
        json!({"organization_usage": "sometimes"}),
    ] {
        let (status, error) = app
            .api(
                Method::PATCH,
                &format!("/api/v2/clients/{client_id}"),
                &token,
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {error}");
    }

    let (_, spa) = app
        .api(Method::POST, "/api/v2/clients", &token,
             Some(json!({"name": "SPA", "app_type": "spa", "callbacks": ["http://localhost:5173/callback"]})))
        .await;
    assert!(
        spa.get("client_secret").is_none(),
        "public clients get no secret: {spa}"
    );
    assert_eq!(spa["token_endpoint_auth_method"], "none");

    let (_, list) = app
        .api(
            Method::GET,
            "/api/v2/clients?include_totals=true",
            &token,
            None,
        )
        .await;
    assert_eq!(list["total"], 3, "bootstrap + web + spa: {list}");

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/clients/{client_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .request_token(client_id, new_secret, &app.management_audience())
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a deleted client still gets tokens"
    );
}

async fn client_grants_decide_token_scopes(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (client_id, secret) = app.machine_client(&token, "M2M").await;

    let (status, _) = app
        .request_token(&client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no grant yet");

    let grant_body = json!({"client_id": client_id, "audience": app.management_audience(), "scope": ["read:users"]});
    let (status, grant) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &token,
            Some(grant_body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    assert!(grant["id"].as_str().unwrap().starts_with("cgr_"));
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &token,
            Some(grant_body),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, error) = app
        .api(Method::POST, "/api/v2/client-grants", &token,
             Some(json!({"client_id": client_id, "audience": app.management_audience(), "scope": ["launch:missiles"]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &token,
            Some(json!({"client_id": "nobody", "audience": "https://api.acme.test/", "scope": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, body) = app
        .request_token(&client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(body["scope"], "read:users");

    let grant_id = grant["id"].as_str().unwrap();
    let (status, patched) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/client-grants/{grant_id}"),
            &token,
            Some(json!({"scope": ["read:users", "read:roles"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let (_, body) = app
        .request_token(&client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(body["scope"], "read:users read:roles");

    let (_, filtered) = app
        .api(
            Method::GET,
            &format!("/api/v2/client-grants?client_id={client_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/client-grants/{grant_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .request_token(&client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
