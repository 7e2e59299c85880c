//! Several nodes on one PostgreSQL database: a write made through one node
//! reaches the others' caches at once (LISTEN/NOTIFY), not when their TTL
//! runs out. PostgreSQL only: a SQLite store has one node.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use switchyard::secrets::files::KeySource;

use crate::support::{PostgresDatabase, TestApp, spawn_with, test_config};

/// A fresh database and two nodes on it behind one issuer, with one
/// key-encryption key (in that order, so that the nodes stop before the
/// database is dropped).
async fn two_nodes() -> (PostgresDatabase, TestApp, TestApp) {
    let database = PostgresDatabase::create().await;
    let (_, shared_key) = switchyard::secrets::KeyEncryptionKey::generate().unwrap();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), database.url.clone());
        config.issuer = Some("http://switchyard.test/".into());
        config.key_encryption_key = KeySource::Env(shared_key.clone());
        nodes.push(spawn_with(config, dir).await);
    }
    let b = nodes.pop().unwrap();
    let a = nodes.pop().unwrap();
    (database, a, b)
}

/// Asks `check` every 50 ms for up to 5 s (far below the caches' 30 s TTL)
/// until it holds; whether it ever did.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn jwks(node: &TestApp) -> Value {
    node.get_json("/.well-known/jwks.json").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_one_node_reach_the_others_caches_at_once_postgres() {
    let (_database, a, b) = two_nodes().await;
    let admin = a.admin_token().await;
    let audience = a.management_audience();
    let (client_id, secret) = a.machine_client(&admin, "Sync").await;
    let (status, grant) = a
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &admin,
            Some(json!({"client_id": client_id, "audience": audience, "scope": ["read:clients"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    // Node B serves the client, and caches it and its grant.
    let (status, body) = b.request_token(&client_id, &secret, &audience).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The secret is rotated through A: B refuses the old one at once.
    let (status, rotated) = a
        .api(
            Method::POST,
            &format!("/api/v2/clients/{client_id}/rotate-secret"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert!(
        eventually(|| async {
            b.request_token(&client_id, &secret, &audience).await.0 == StatusCode::UNAUTHORIZED
        })
        .await,
        "node B still accepts the rotated-away secret"
    );
    let (status, body) = b.request_token(&client_id, &new_secret, &audience).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // An organization renamed through A: B no longer knows the old name
    // (the tenant takes organizations by name).
    a.allow_organization_names(&admin, true).await;
    let (status, org) = a
        .api(
            Method::POST,
            "/api/v2/organizations",
            &admin,
            Some(json!({"name": "acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let grant_path = format!("/api/v2/client-grants/{}", grant["id"].as_str().unwrap());
    let (status, body) = a
        .api(
            Method::PATCH,
            &grant_path,
            &admin,
            Some(json!({"organization_usage": "allow", "allow_any_organization": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let org_token = |organization: &'static str| {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", new_secret.as_str()),
            ("audience", audience.as_str()),
            ("organization", organization),
        ];
        let request = b.http.post(b.url("/oauth/token")).form(&form);
        async move { request.send().await.unwrap().status() }
    };
    assert!(
        eventually(|| async { org_token("acme").await == StatusCode::OK }).await,
        "node B does not see the grant's organization usage"
    );
    let (status, body) = a
        .api(
            Method::PATCH,
            &format!("/api/v2/organizations/{}", org["id"].as_str().unwrap()),
            &admin,
            Some(json!({"name": "acme-corp"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        eventually(|| async { org_token("acme").await == StatusCode::BAD_REQUEST }).await,
        "node B still knows the organization by its old name"
    );
    assert_eq!(org_token("acme-corp").await, StatusCode::OK);

    // The grant is deleted through A: B stops issuing for it at once.
    let (status, _) = a.api(Method::DELETE, &grant_path, &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        eventually(|| async {
            b.request_token(&client_id, &new_secret, &audience).await.0 == StatusCode::FORBIDDEN
        })
        .await,
        "node B still issues tokens for a deleted grant"
    );

    // Keys rotated through A: B publishes the same key set at once (its
    // periodic reload is a minute away).
    let (status, _) = a
        .api(Method::POST, "/api/v2/keys/signing/rotate", &admin, None)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let published = jwks(&a).await;
    assert!(
        eventually(|| async { jwks(&b).await == published }).await,
        "node B still publishes the old key set"
    );

    // The key that signed `admin` revoked through A: B refuses its tokens
    // and unpublishes it at once too.
    let revoked_kid = jsonwebtoken::decode_header(&admin).unwrap().kid.unwrap();
    let fresh_admin = a.admin_token().await;
    let (status, body) = a
        .api(
            Method::PUT,
            &format!("/api/v2/keys/signing/{revoked_kid}/revoke"),
            &fresh_admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        eventually(|| async {
            b.api(Method::GET, "/api/v2/keys/signing", &admin, None)
                .await
                .0
                == StatusCode::UNAUTHORIZED
                && !jwks(&b).await.to_string().contains(&revoked_kid)
        })
        .await,
        "node B still accepts the revoked key"
    );
}
