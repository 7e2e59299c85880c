//! PATCH in Auth0's semantics: a property sent as `null` clears it (or
//! resets it to its default), a property left out stays as it was.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(null_clears_optional_properties);

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let (status, created) = app.api(Method::POST, path, token, Some(body)).await;
    // Auth0 answers 200 to POST /roles, 201 elsewhere.
    assert!(
        status == StatusCode::CREATED || status == StatusCode::OK,
        "{status} {created}"
    );
    created
}

/// PATCHes `body` twice: `{}` must leave `fields` as they are, then `body`
/// (each of `fields` null) must clear them; returns the second answer.
async fn patched(app: &TestApp, token: &str, path: &str, body: Value, fields: &[&str]) -> Value {
    let (status, kept) = app.api(Method::PATCH, path, token, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    for field in fields {
        assert!(
            !kept[field].is_null(),
            "{path}: {{}} cleared {field}: {kept}"
        );
    }
    let (status, cleared) = app.api(Method::PATCH, path, token, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    let (status, reread) = app.api(Method::GET, path, token, None).await;
    if status == StatusCode::OK {
        assert_eq!(reread, cleared, "{path}: the change is stored");
    }
    cleared
}

async fn null_clears_optional_properties(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;

    let org = created(&app, &token, "/api/v2/organizations", json!({
        "name": "acme", "display_name": "Acme", "branding": {"logo_url": "https://acme.example/logo.png"},
        "metadata": {"tier": "gold"}})).await;
    let path = format!("/api/v2/organizations/{}", org["id"].as_str().unwrap());
    let org = patched(
        &app,
        &token,
        &path,
        json!({"display_name": null, "branding": null, "metadata": null}),
        &["display_name", "branding"],
    )
    .await;
    assert_eq!(
        (
            &org["display_name"],
            &org["branding"],
            &org["metadata"],
            &org["name"]
        ),
        (&Value::Null, &Value::Null, &json!({}), &json!("acme")),
        "{org}"
    );

    let role = created(
        &app,
        &token,
        "/api/v2/roles",
        json!({"name": "admin", "description": "Admins"}),
    )
    .await;
    let path = format!("/api/v2/roles/{}", role["id"].as_str().unwrap());
    let role = patched(
        &app,
        &token,
        &path,
        json!({"description": null}),
        &["description"],
    )
    .await;
    assert_eq!(
        (&role["description"], &role["name"]),
        (&Value::Null, &json!("admin"))
    );

    created(
        &app,
        &token,
        "/api/v2/connections",
        json!({"name": "users", "strategy": "auth0"}),
    )
    .await;
    let user = created(
        &app,
        &token,
        "/api/v2/users",
        json!({
        "connection": "users", "email": "ann@acme.example", "password": "a long password for ann",
        "name": "Ann A.", "given_name": "Ann", "family_name": "A.", "nickname": "ann",
        "picture": "https://acme.example/ann.png"}),
    )
    .await;
    let path = format!("/api/v2/users/{}", user["user_id"].as_str().unwrap());
    let profile = ["name", "given_name", "family_name", "nickname", "picture"];
    let user = patched(&app, &token, &path,
        json!({"name": null, "given_name": null, "family_name": null, "nickname": null, "picture": null}),
        &profile).await;
    for field in profile {
        assert!(user[field].is_null(), "{field} not cleared: {user}");
    }
    assert_eq!(user["email"], "ann@acme.example");

    let client = created(
        &app,
        &token,
        "/api/v2/clients",
        json!({
        "name": "Sync", "app_type": "non_interactive", "description": "Nightly sync",
        "organization_usage": "allow"}),
    )
    .await;
    let path = format!("/api/v2/clients/{}", client["client_id"].as_str().unwrap());
    let client = patched(&app, &token, &path,
        json!({"description": null, "organization_usage": null, "organization_require_behavior": null}),
        &["description"]).await;
    assert_eq!(
        (
            &client["description"],
            &client["organization_usage"],
            &client["organization_require_behavior"]
        ),
        (&Value::Null, &json!("deny"), &json!("no_prompt")),
        "{client}"
    );

    let api = "https://api.acme.example/";
    created(
        &app,
        &token,
        "/api/v2/resource-servers",
        json!({
        "name": "Acme", "identifier": api, "scopes": [{"value": "read:things"}]}),
    )
    .await;
    let grant = created(
        &app,
        &token,
        "/api/v2/client-grants",
        json!({
        "client_id": client["client_id"], "audience": api, "scope": ["read:things"],
        "organization_usage": "allow", "allow_any_organization": true}),
    )
    .await;
    let path = format!("/api/v2/client-grants/{}", grant["id"].as_str().unwrap());
    let grant = patched(
        &app,
        &token,
        &path,
        json!({"organization_usage": null, "allow_any_organization": null}),
        &["organization_usage"],
    )
    .await;
    assert_eq!(
        (
            &grant["organization_usage"],
            &grant["allow_any_organization"],
            &grant["scope"]
        ),
        (&Value::Null, &json!(false), &json!(["read:things"])),
        "{grant}"
    );
}
