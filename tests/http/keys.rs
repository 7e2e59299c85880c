//! Signing keys: rotation keeps every key that signed a live token, revocation
//! retires one at once, and the Management API's `/keys/signing`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard::flows::LONGEST_FIXED_TOKEN_LIFETIME;
use switchyard::keys::RETENTION_MARGIN;

use crate::on_both_backends;
use crate::support::oidc::{alice_code, code_params, redeem_code, tenant, userinfo_of};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    rotations_keep_live_tokens_until_they_expire,
    a_revoked_keys_tokens_are_refused_at_once,
    signing_keys_api_shapes_and_scopes,
);

async fn jwks(app: &TestApp) -> Vec<Value> {
    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    jwks["keys"].as_array().unwrap().clone()
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    jwks(app)
        .await
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// alice's access token for `/userinfo` (signed with RS256, the client's algorithm).
async fn alice_access_token(app: &TestApp) -> String {
    let t = tenant(app).await;
    let code = alice_code(app, &code_params(&t.client_id, &[])).await;
    let tokens = redeem_code(app, &t, &code, None).await;
    tokens["access_token"].as_str().unwrap().to_owned()
}

async fn rotate(app: &TestApp) -> Value {
    let admin = app.admin_token().await;
    let (status, rotated) = app
        .api(Method::POST, "/api/v2/keys/signing/rotate", &admin, None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    rotated
}

async fn signing_key(app: &TestApp, kid: &str) -> (StatusCode, Value) {
    let admin = app.admin_token().await;
    app.api(
        Method::GET,
        &format!("/api/v2/keys/signing/{kid}"),
        &admin,
        None,
    )
    .await
}

async fn revoke(app: &TestApp, token: &str, kid: &str) -> (StatusCode, Value) {
    app.api(
        Method::PUT,
        &format!("/api/v2/keys/signing/{kid}/revoke"),
        token,
        None,
    )
    .await
}

async fn rotations_keep_live_tokens_until_they_expire(backend: Backend) {
    let app = spawn(backend).await;
    let access_token = alice_access_token(&app).await;
    let first_kid = kid_of(&access_token);
    let next_kid = rotate(&app).await["kid"].as_str().unwrap().to_owned();
    assert_ne!(next_kid, first_kid);

    // Two and three rotations in a row: the token signed before them still
    // works, and its key is still published.
    for rotations in [2, 3] {
        rotate(&app).await;
        let (status, claims) = userinfo_of(&app, &access_token).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "after {rotations} rotations: {claims}"
        );
        assert!(
            jwks_kids(&app).await.contains(&first_kid),
            "after {rotations} rotations"
        );
    }
    let (status, key) = signing_key(&app, &first_kid).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    assert_eq!(
        (&key["current"], &key["next"], &key["previous"]),
        (&json!(false), &json!(false), &json!(true))
    );
    assert!(key["current_since"].is_string() && key["current_until"].is_string());
    assert_eq!(
        jwks(&app).await.len(),
        3 * 5,
        "per algorithm: current, next, 3 previous"
    );

    // Once every token it signed can have expired, it leaves the JWKS (and
    // the Management API); the current and next keys remain.
    app.clock
        .advance(LONGEST_FIXED_TOKEN_LIFETIME + RETENTION_MARGIN + Duration::from_secs(60));
    let published = jwks_kids(&app).await;
    assert!(!published.contains(&first_kid));
    assert_eq!(published.len(), 3 * 2, "{published:?}");
    let (status, _) = userinfo_of(&app, &access_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = signing_key(&app, &first_kid).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

async fn a_revoked_keys_tokens_are_refused_at_once(backend: Backend) {
    let app = spawn(backend).await;
    let access_token = alice_access_token(&app).await;
    let first_kid = kid_of(&access_token);
    let old_admin = app.admin_token().await;
    assert_eq!(kid_of(&old_admin), first_kid);
    rotate(&app).await;
    assert_eq!(userinfo_of(&app, &access_token).await.0, StatusCode::OK);

    let admin = app.admin_token().await;
    let (status, revoked) = revoke(&app, &admin, &first_kid).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["kid"], first_kid.as_str());
    assert!(
        revoked["cert"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    // Refused at once, everywhere this server checks a token, and unpublished.
    let (status, _) = userinfo_of(&app, &access_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .api(Method::GET, "/api/v2/keys/signing", &old_admin, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!jwks_kids(&app).await.contains(&first_kid));
    let (status, key) = signing_key(&app, &first_kid).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(key["revoked"], true);
    assert_eq!(key["previous"], false);
    assert!(key["revoked_at"].is_string(), "{key}");

    // The current and the next key cannot be revoked; an unknown one is a 404.
    let (_, keys) = app
        .api(Method::GET, "/api/v2/keys/signing", &admin, None)
        .await;
    let rs256 = |flag: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["alg"] == "RS256" && k[flag] == true)
            .unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for kid in [rs256("current"), rs256("next")] {
        let (status, body) = revoke(&app, &admin, &kid).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["statusCode"], 400);
        assert_eq!(body["errorCode"], "invalid_signing_key_state");
        assert!(jwks_kids(&app).await.contains(&kid));
    }
    assert_eq!(
        app.api(Method::GET, "/api/v2/keys/signing", &admin, None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = revoke(&app, &admin, "key_unknown").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"statusCode": 404, "error": "Not Found",
               "message": "The signing key does not exist", "errorCode": "inexistent_signing_key"})
    );
}

async fn signing_keys_api_shapes_and_scopes(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let (status, keys) = app
        .api(Method::GET, "/api/v2/keys/signing", &admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let keys = keys.as_array().unwrap().clone();
    assert_eq!(keys.len(), 6, "a current and a next key per algorithm");
    let published = jwks(&app).await;
    for key in &keys {
        let kid = key["kid"].as_str().unwrap();
        for field in ["current", "next", "previous", "revoked"] {
            assert!(key[field].is_boolean(), "{field}: {key}");
        }
        assert_eq!(key["current"], key["current_since"].is_string(), "{key}");
        assert!(key.get("current_until").is_none() && key.get("revoked_at").is_none());
        // The certificate is the one the JWKS carries (x5c), with its SHA-1
        // as Auth0 writes it: `AB:CD:…` and `ABCD…`.
        let cert = key["cert"].as_str().unwrap();
        let der_b64: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(
            key["pkcs7"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN PKCS7-----"),
            "{key}"
        );
        let jwk = published.iter().find(|k| k["kid"] == kid).unwrap();
        assert_eq!(jwk["x5c"][0], der_b64.as_str());
        let thumbprint = key["thumbprint"].as_str().unwrap();
        assert_eq!(thumbprint.len(), 40);
        assert_eq!(thumbprint, thumbprint.to_ascii_uppercase());
        assert_eq!(
            key["fingerprint"],
            thumbprint
                .as_bytes()
                .chunks(2)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join(":")
        );
        let sha1 = hex::decode(thumbprint).unwrap();
        assert_eq!(jwk["x5t"], URL_SAFE_NO_PAD.encode(&sha1));
        assert!(STANDARD.decode(&der_b64).is_ok());
        // Reading one key gives the same object.
        let (status, one) = app
            .api(
                Method::GET,
                &format!("/api/v2/keys/signing/{kid}"),
                &admin,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&one, key);
    }
    let (status, body) = app
        .api(
            Method::GET,
            "/api/v2/keys/signing/key_unknown",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errorCode"], "inexistent_signing_key");

    // Rotating answers Auth0's `{kid, cert}`: the RS256 key that signs now,
    // which was the next one.
    let next = keys
        .iter()
        .find(|k| k["alg"] == "RS256" && k["next"] == true)
        .unwrap();
    let (status, rotated) = app
        .api(Method::POST, "/api/v2/keys/signing/rotate", &admin, None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    assert_eq!(rotated, json!({"kid": next["kid"], "cert": next["cert"]}));
    assert_eq!(
        kid_of(&app.admin_token().await),
        next["kid"].as_str().unwrap()
    );

    // Each operation needs its scope.
    let reader = app.token_with_scopes(&admin, &["read:signing_keys"]).await;
    let kid = next["kid"].as_str().unwrap();
    let calls = [
        (
            Method::GET,
            "/api/v2/keys/signing".to_owned(),
            "read:signing_keys",
        ),
        (
            Method::GET,
            format!("/api/v2/keys/signing/{kid}"),
            "read:signing_keys",
        ),
        (
            Method::POST,
            "/api/v2/keys/signing/rotate".to_owned(),
            "create:signing_keys",
        ),
        (
            Method::PUT,
            format!("/api/v2/keys/signing/{kid}/revoke"),
            "update:signing_keys",
        ),
    ];
    let unrelated = app.token_with_scopes(&admin, &["read:clients"]).await;
    for (method, path, scope) in calls {
        let (status, body) = app.api(method.clone(), &path, &unrelated, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(body["errorCode"], "insufficient_scope");
        let (status, body) = app.api(method.clone(), &path, &reader, None).await;
        if scope == "read:signing_keys" {
            assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        }
    }

    let openapi: Value = app.get_json("/api/v2/openapi.json").await;
    let paths = openapi["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v2/keys/signing", "get"),
        ("/api/v2/keys/signing/{kid}", "get"),
        ("/api/v2/keys/signing/rotate", "post"),
        ("/api/v2/keys/signing/{kid}/revoke", "put"),
    ] {
        assert!(
            paths[path].get(method).is_some(),
            "OpenAPI lacks {method} {path}"
        );
    }
    for path in [
        "/api/v2/organizations",
        "/api/v2/organizations/{id}/enabled_connections/{connection_id}",
        "/api/v2/connections/{id}",
        "/api/v2/clients",
        "/api/v2/client-grants",
        "/api/v2/users",
        "/api/v2/roles/{id}",
        "/api/v2/organizations/{id}/members/{user_id}/roles",
        "/api/v2/resource-servers",
        "/api/v2/resource-servers/{id}",
        "/api/v2/roles/{id}/permissions",
        "/api/v2/tenants/settings",
    ] {
        assert!(paths.contains_key(path), "OpenAPI lacks {path}");
    }
}
