//! Access tokens for an API: its scopes, lifetime and offline access as the
//! resource server says; the user's roles and permissions in the
//! organization (RBAC); `org_name` when the tenant allows it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{
    Tenant, alice_code, authorize, browser, claims, code_params, redeem, redeem_code,
    redirect_error, tenant, userinfo_of, with_scope,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(api_tokens_carry_the_organizations_roles_and_permissions);

const API: &str = "https://api.hoekstra.example/";

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let (status, created) = app.api(Method::POST, path, token, Some(body)).await;
    assert!(status.is_success(), "{path}: {status} {created}");
    created
}

/// alice is a member of both organizations: an accountant (read:invoices)
/// in hoekstra, a clerk (write:invoices) in metahexa.
async fn rbac(app: &TestApp, t: &Tenant) -> String {
    let admin = app.admin_token().await;
    created(
        app,
        &admin,
        "/api/v2/resource-servers",
        json!({"name": "Invoices", "identifier": API, "token_lifetime": 600,
               "enforce_policies": true, "token_dialect": "access_token_authz",
               "scopes": [{"value": "read:invoices"}, {"value": "write:invoices"}]}),
    )
    .await;
    let (_, users) = app
        .api(
            Method::GET,
            "/api/v2/users-by-email?email=alice@hoekstra.example",
            &admin,
            None,
        )
        .await;
    let alice = users[0]["user_id"].as_str().unwrap().to_owned();
    for (org, role, permission) in [
        (&t.org_id, "accountant", "read:invoices"),
        (&t.other_org_id, "clerk", "write:invoices"),
    ] {
        let role = created(app, &admin, "/api/v2/roles", json!({"name": role})).await;
        let role_id = role["id"].as_str().unwrap();
        created(
            app,
            &admin,
            &format!("/api/v2/roles/{role_id}/permissions"),
            json!({"permissions": [{"resource_server_identifier": API, "permission_name": permission}]}),
        )
        .await;
        created(
            app,
            &admin,
            &format!("/api/v2/organizations/{org}/members"),
            json!({"members": [alice]}),
        )
        .await;
        created(
            app,
            &admin,
            &format!("/api/v2/organizations/{org}/members/{alice}/roles"),
            json!({"roles": [role_id]}),
        )
        .await;
    }
    admin
}

async fn api_tokens(app: &TestApp, t: &Tenant, org: &str) -> Value {
    api_tokens_with_scope(
        app,
        t,
        org,
        "openid read:invoices write:invoices offline_access",
    )
    .await
}

async fn api_tokens_with_scope(app: &TestApp, t: &Tenant, org: &str, scope: &str) -> Value {
    let params = with_scope(
        code_params(&t.client_id, &[("organization", org), ("audience", API)]),
        scope,
    );
    let code = alice_code(app, &params).await;
    redeem_code(app, t, &code, None).await
}

async fn api_tokens_carry_the_organizations_roles_and_permissions(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let admin = rbac(&app, &t).await;
    // The tenant as Auth0 makes it: organizations by id only, no org_name.
    app.allow_organization_names(&admin, false).await;
    let response = authorize(
        &app,
        &browser(),
        &code_params(&t.client_id, &[("organization", "hoekstra")]),
    )
    .await;
    assert_eq!(
        redirect_error(&response).as_deref(),
        Some("invalid_request"),
        "an organization name needs allow_organization_name_in_authentication_api"
    );

    let tokens = api_tokens(&app, &t, &t.org_id).await;
    let access = claims(tokens["access_token"].as_str().unwrap());
    // With openid, the API's token opens userinfo too (as in Auth0).
    let userinfo = format!("{}/userinfo", app.issuer.trim_end_matches('/'));
    assert_eq!(access["aud"], json!([API, userinfo]));
    let (status, info) = userinfo_of(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["org_id"], t.org_id.as_str());
    // Without openid, it is the API's alone.
    let api_only = api_tokens_with_scope(&app, &t, &t.org_id, "read:invoices").await;
    let api_only = api_only["access_token"].as_str().unwrap();
    assert_eq!(claims(api_only)["aud"], API);
    assert_eq!(
        userinfo_of(&app, api_only).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(access["org_id"], t.org_id.as_str());
    assert_eq!(access["roles"], json!(["accountant"]), "{access}");
    assert_eq!(access["permissions"], json!(["read:invoices"]));
    assert_eq!(
        access["scope"], "openid read:invoices offline_access",
        "enforce_policies drops the API scopes the roles do not permit"
    );
    assert_eq!(
        access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(),
        600
    );
    assert_eq!(tokens["expires_in"], 600);
    assert!(
        access.get("org_name").is_none(),
        "org_name is off by default"
    );
    assert!(
        tokens.get("refresh_token").is_none(),
        "the API does not allow offline access"
    );

    // In metahexa, the roles and permissions of metahexa only.
    let tokens = api_tokens(&app, &t, &t.other_org_id).await;
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["org_id"], t.other_org_id.as_str());
    assert_eq!(access["roles"], json!(["clerk"]));
    assert_eq!(access["permissions"], json!(["write:invoices"]));

    // The tenant allows names; the API allows offline access.
    app.allow_organization_names(&admin, true).await;
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/resource-servers/{}", urlencode(API)),
            &admin,
            Some(json!({"allow_offline_access": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let tokens = api_tokens(&app, &t, "hoekstra").await;
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap())["org_name"],
        "hoekstra"
    );
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["org_name"],
        "hoekstra"
    );
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh token");

    // Permissions are computed afresh on refresh: without the role, none.
    let (_, users) = app
        .api(
            Method::GET,
            "/api/v2/users-by-email?email=alice@hoekstra.example",
            &admin,
            None,
        )
        .await;
    let alice = users[0]["user_id"].as_str().unwrap();
    let roles_path = format!("/api/v2/organizations/{}/members/{alice}/roles", t.org_id);
    let (_, roles) = app.api(Method::GET, &roles_path, &admin, None).await;
    let (status, _) = app
        .api(
            Method::DELETE,
            &roles_path,
            &admin,
            Some(json!({"roles": [roles[0]["id"]]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, refreshed) = redeem(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &t.client_id),
            ("client_secret", &t.secret),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let access = claims(refreshed["access_token"].as_str().unwrap());
    assert_eq!(access["roles"], json!([]));
    assert_eq!(access["permissions"], json!([]));
    assert_eq!(access["scope"], "openid offline_access");

    // A scope the API does not define is refused at /authorize.
    let params = with_scope(
        code_params(&t.client_id, &[("audience", API)]),
        "openid delete:invoices",
    );
    let response = authorize(&app, &browser(), &params).await;
    assert_eq!(redirect_error(&response).as_deref(), Some("invalid_scope"));
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
