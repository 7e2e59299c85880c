//! Key rotation and the OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, spawn};

on_both_backends!(rotation_keeps_previous_tokens_until_they_leave_the_jwks);

async fn jwks_kids(app: &crate::support::TestApp) -> Vec<String> {
    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn rotation_keeps_previous_tokens_until_they_leave_the_jwks(backend: Backend) {
    let app = spawn(backend).await;
    let first = app.admin_token().await;
    let first_kid = jsonwebtoken::decode_header(&first).unwrap().kid.unwrap();
    let before = jwks_kids(&app).await;
    assert!(before.contains(&first_kid));

    let (status, rotated) = app
        .api(Method::POST, "/api/v2/keys/signing/rotate", &first, None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let new_kid = rotated["kid"].as_str().unwrap();
    assert_ne!(new_kid, first_kid);
    assert!(
        before.contains(&new_kid.to_owned()),
        "the new current key was published as next before it signed"
    );

    // Signed by the previous key: still accepted, still in the JWKS.
    assert!(jwks_kids(&app).await.contains(&first_kid));
    let (status, _) = app
        .api(Method::GET, "/api/v2/organizations", &first, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = app.admin_token().await;
    assert_eq!(
        jsonwebtoken::decode_header(&second).unwrap().kid.as_deref(),
        Some(new_kid)
    );

    let (_, keys) = app
        .api(Method::GET, "/api/v2/keys/signing", &second, None)
        .await;
    let previous: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["previous"] == true)
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(previous.contains(&first_kid.as_str()), "{keys}");

    // A second rotation retires it: gone from the JWKS, and its tokens refused.
    let (status, _) = app
        .api(Method::POST, "/api/v2/keys/signing/rotate", &second, None)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!jwks_kids(&app).await.contains(&first_kid));
    let (status, _) = app
        .api(Method::GET, "/api/v2/organizations", &first, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .api(Method::GET, "/api/v2/organizations", &second, None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Rotating needs both key scopes.
    let openapi: Value = app.get_json("/api/v2/openapi.json").await;
    let paths = openapi["paths"].as_object().unwrap();
    for path in [
        "/api/v2/organizations",
        "/api/v2/organizations/{id}/enabled_connections/{connection_id}",
        "/api/v2/connections/{id}",
        "/api/v2/clients",
        "/api/v2/client-grants",
        "/api/v2/users",
        "/api/v2/roles/{id}",
        "/api/v2/organizations/{id}/members/{user_id}/roles",
        "/api/v2/keys/signing/rotate",
        "/api/v2/resource-servers",
        "/api/v2/resource-servers/{id}",
        "/api/v2/roles/{id}/permissions",
        "/api/v2/tenants/settings",
    ] {
        assert!(paths.contains_key(path), "OpenAPI lacks {path}");
    }
}
