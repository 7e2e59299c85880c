//! Resource servers (APIs), role permissions, tenant settings, and the checks
//! that hang off them: client grants and `/authorize` need a registered audience.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::claims;
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    resource_servers_crud_in_auth0_shape,
    resource_server_bodies_are_validated,
    resource_server_identifiers_are_unique,
    routes_require_their_scopes,
    role_permissions_are_scopes_of_an_api,
    removing_scopes_or_apis_removes_role_permissions,
    tenant_settings_read_and_update,
    client_grants_need_a_registered_audience,
    authorize_refuses_an_unknown_audience,
    an_apis_changes_apply_to_the_next_token,
);

const INVOICES: &str = "https://invoices.example.com/api";

fn encoded(identifier: &str) -> String {
    url::form_urlencoded::byte_serialize(identifier.as_bytes()).collect()
}

/// Asserts Auth0's error body and returns its message.
#[track_caller]
fn error_message(status: StatusCode, body: &Value, expected: StatusCode) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["statusCode"], expected.as_u16(), "{body}");
    assert_eq!(
        body["error"],
        expected.canonical_reason().unwrap(),
        "{body}"
    );
    body["message"].as_str().unwrap().to_owned()
}

async fn create_invoices_api(app: &TestApp, token: &str) -> Value {
    let (status, created) = app
        .api(
            Method::POST,
            "/api/v2/resource-servers",
            token,
            Some(json!({
                "name": "Invoices",
                "identifier": INVOICES,
                "scopes": [
                    {"value": "read:invoices", "description": "Read invoices"},
                    {"value": "write:invoices", "description": "Write invoices"},
                    {"value": "approve:invoices"}
                ]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn create_role(app: &TestApp, token: &str, name: &str) -> String {
    let (status, role) = app
        .api(
            Method::POST,
            "/api/v2/roles",
            token,
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{role}");
    role["id"].as_str().unwrap().to_owned()
}

async fn role_permissions(app: &TestApp, token: &str, role_id: &str) -> Vec<String> {
    let (status, list) = app
        .api(
            Method::GET,
            &format!("/api/v2/roles/{role_id}/permissions"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["permission_name"].as_str().unwrap().to_owned())
        .collect()
}

async fn resource_servers_crud_in_auth0_shape(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;

    // Defaults as Auth0's.
    let (status, bare) = app
        .api(
            Method::POST,
            "/api/v2/resource-servers",
            &token,
            Some(json!({"identifier": "urn:reports"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bare}");
    let bare_id = bare["id"].as_str().unwrap().to_owned();
    assert!(bare_id.starts_with("api_"), "{bare}");
    assert_eq!(
        bare,
        json!({
            "id": bare_id,
            "name": "urn:reports",
            "identifier": "urn:reports",
            "scopes": [],
            "signing_alg": "RS256",
            "token_lifetime": 86400,
            "allow_offline_access": false,
            "skip_consent_for_verifiable_first_party_clients": true,
            "enforce_policies": false,
            "token_dialect": "access_token"
        })
    );

    let invoices = create_invoices_api(&app, &token).await;
    let id = invoices["id"].as_str().unwrap().to_owned();
    assert_eq!(
        invoices["scopes"],
        json!([
            {"value": "read:invoices", "description": "Read invoices"},
            {"value": "write:invoices", "description": "Write invoices"},
            {"value": "approve:invoices"}
        ])
    );

    // Read by id, and by the URL-encoded identifier, as Auth0 allows.
    let (status, by_id) = app
        .api(
            Method::GET,
            &format!("/api/v2/resource-servers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id, invoices);
    let (status, by_identifier) = app
        .api(
            Method::GET,
            &format!("/api/v2/resource-servers/{}", encoded(INVOICES)),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{by_identifier}");
    assert_eq!(by_identifier, invoices);

    // Lists: a plain array, with totals, and by checkpoint.
    let (_, list) = app
        .api(Method::GET, "/api/v2/resource-servers", &token, None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (_, totals) = app
        .api(
            Method::GET,
            "/api/v2/resource-servers?include_totals=true&per_page=1&page=1",
            &token,
            None,
        )
        .await;
    assert_eq!(totals["total"], 2);
    assert_eq!(totals["start"], 1);
    assert_eq!(totals["resource_servers"].as_array().unwrap().len(), 1);
    let (_, first) = app
        .api(Method::GET, "/api/v2/resource-servers?take=1", &token, None)
        .await;
    let next = first["next"].as_str().unwrap();
    let (_, second) = app
        .api(
            Method::GET,
            &format!("/api/v2/resource-servers?take=1&from={next}"),
            &token,
            None,
        )
        .await;
    assert!(second.get("next").is_none(), "{second}");
    let mut seen: Vec<&str> = [&first, &second]
        .iter()
        .map(|p| p["resource_servers"][0]["id"].as_str().unwrap())
        .collect();
    seen.sort_unstable();
    let mut expected = vec![bare_id.as_str(), id.as_str()];
    expected.sort_unstable();
    assert_eq!(seen, expected);

    // Update: everything but the identifier.
    let (status, patched) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/resource-servers/{id}"),
            &token,
            Some(json!({
                "name": "Invoices v2",
                "scopes": [{"value": "read:invoices", "description": "Read them"}],
                "token_lifetime": 600,
                "signing_alg": "ES256",
                "allow_offline_access": true,
                "enforce_policies": true,
                "token_dialect": "access_token_authz"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["identifier"], INVOICES);
    assert_eq!(patched["name"], "Invoices v2");
    assert_eq!(
        patched["scopes"],
        json!([{"value": "read:invoices", "description": "Read them"}])
    );
    assert_eq!(patched["token_lifetime"], 600);
    assert_eq!(patched["signing_alg"], "ES256");
    assert_eq!(patched["allow_offline_access"], true);
    assert_eq!(patched["enforce_policies"], true);
    assert_eq!(patched["token_dialect"], "access_token_authz");
    let (_, reread) = app
        .api(
            Method::GET,
            &format!("/api/v2/resource-servers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(reread, patched);

    // Delete, by identifier; then it is gone.
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/resource-servers/{}", encoded(INVOICES)),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = app
        .api(
            Method::GET,
            &format!("/api/v2/resource-servers/{id}"),
            &token,
            None,
        )
        .await;
    error_message(status, &gone, StatusCode::NOT_FOUND);
    assert_eq!(gone["errorCode"], "inexistent_resource_server");
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/resource-servers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn resource_server_bodies_are_validated(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let cases = [
        (json!({"name": "No identifier"}), "identifier"),
        (json!({"identifier": ""}), "identifier"),
        (json!({"identifier": "x".repeat(601)}), "identifier"),
        (
            json!({"identifier": "urn:a", "audience": "urn:a"}),
            "audience",
        ),
        (
            json!({"identifier": "urn:a", "scopes": [{"value": "read"}, {"value": "read"}]}),
            "scopes[1].value",
        ),
        (
            json!({"identifier": "urn:a", "scopes": [{"value": "read all"}]}),
            "scopes[0].value",
        ),
        (
            json!({"identifier": "urn:a", "scopes": [{"value": "read", "kind": "x"}]}),
            "kind",
        ),
        (
            json!({"identifier": "urn:a", "token_lifetime": 0}),
            "token_lifetime",
        ),
        (
            json!({"identifier": "urn:a", "token_lifetime": 2_592_001}),
            "token_lifetime",
        ),
        (
            json!({"identifier": "urn:a", "signing_alg": "HS256"}),
            "HS256",
        ),
        (
            json!({"identifier": "urn:a", "token_dialect": "rfc9068_profile"}),
            "rfc9068_profile",
        ),
        (json!({"identifier": "urn:a", "name": "<script>"}), "name"),
    ];
    for (body, named) in cases {
        let (status, error) = app
            .api(
                Method::POST,
                "/api/v2/resource-servers",
                &token,
                Some(body.clone()),
            )
            .await;
        let message = error_message(status, &error, StatusCode::BAD_REQUEST);
        assert!(message.contains(named), "{body} → {message}");
        assert_eq!(error["errorCode"], "invalid_body", "{error}");
    }
    // The upper bounds themselves are fine.
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v2/resource-servers",
            &token,
            Some(json!({"identifier": "y".repeat(600), "token_lifetime": 2_592_000})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The identifier is fixed; other PATCH fields are checked like on create.
    let api = create_invoices_api(&app, &token).await;
    let path = format!("/api/v2/resource-servers/{}", api["id"].as_str().unwrap());
    for (body, named) in [
        (json!({"identifier": "urn:other"}), "identifier"),
        (json!({"token_lifetime": -5}), "token_lifetime"),
        (json!({"scopes": [{"value": ""}]}), "scopes[0].value"),
        (json!({"nmae": "typo"}), "nmae"),
    ] {
        let (status, error) = app
            .api(Method::PATCH, &path, &token, Some(body.clone()))
            .await;
        let message = error_message(status, &error, StatusCode::BAD_REQUEST);
        assert!(message.contains(named), "{body} → {message}");
    }
    let (_, unchanged) = app.api(Method::GET, &path, &token, None).await;
    assert_eq!(unchanged, api);
}

async fn resource_server_identifiers_are_unique(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    create_invoices_api(&app, &token).await;
    let (status, error) = app
        .api(
            Method::POST,
            "/api/v2/resource-servers",
            &token,
            Some(json!({"identifier": INVOICES, "name": "Copy"})),
        )
        .await;
    let message = error_message(status, &error, StatusCode::CONFLICT);
    assert_eq!(
        message,
        "A resource server with this identifier already exists"
    );
    assert_eq!(error["errorCode"], "already_exists");
    // The Management API's audience is taken too.
    let (status, error) = app
        .api(
            Method::POST,
            "/api/v2/resource-servers",
            &token,
            Some(json!({"identifier": app.management_audience()})),
        )
        .await;
    error_message(status, &error, StatusCode::CONFLICT);
}

/// A Management API token carrying only `scope`.
async fn routes_require_their_scopes(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let api = create_invoices_api(&app, &admin).await;
    let role_id = create_role(&app, &admin, "clerk").await;
    let narrow = app
        .token_with_scopes(&admin, &["read:roles", "read:clients"])
        .await;
    let api_path = format!("/api/v2/resource-servers/{}", api["id"].as_str().unwrap());
    let permissions_path = format!("/api/v2/roles/{role_id}/permissions");
    let permissions_body = json!({"permissions": [
        {"resource_server_identifier": INVOICES, "permission_name": "read:invoices"}]});
    let cases = [
        (
            Method::GET,
            "/api/v2/resource-servers".to_owned(),
            None,
            "read:resource_servers",
        ),
        (
            Method::POST,
            "/api/v2/resource-servers".to_owned(),
            Some(json!({"identifier": "urn:x"})),
            "create:resource_servers",
        ),
        (Method::GET, api_path.clone(), None, "read:resource_servers"),
        (
            Method::PATCH,
            api_path.clone(),
            Some(json!({"name": "x"})),
            "update:resource_servers",
        ),
        (
            Method::DELETE,
            api_path.clone(),
            None,
            "delete:resource_servers",
        ),
        (
            Method::POST,
            permissions_path.clone(),
            Some(permissions_body.clone()),
            "update:roles",
        ),
        (
            Method::DELETE,
            permissions_path.clone(),
            Some(permissions_body),
            "update:roles",
        ),
        (
            Method::GET,
            "/api/v2/tenants/settings".to_owned(),
            None,
            "read:tenant_settings",
        ),
        (
            Method::PATCH,
            "/api/v2/tenants/settings".to_owned(),
            Some(json!({"allow_organization_name_in_authentication_api": true})),
            "update:tenant_settings",
        ),
    ];
    for (method, path, body, scope) in cases {
        let (status, error) = app.api(method.clone(), &path, &narrow, body).await;
        let message = error_message(status, &error, StatusCode::FORBIDDEN);
        assert_eq!(
            message,
            format!("Insufficient scope, expected any of: {scope}"),
            "{method} {path}"
        );
    }
    // read:roles is enough to list a role's permissions.
    let (status, list) = app.api(Method::GET, &permissions_path, &narrow, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    // Nothing changed.
    let (_, still) = app.api(Method::GET, &api_path, &admin, None).await;
    assert_eq!(still, api);
    // Without a token at all: 401.
    let (status, _) = app
        .api(Method::GET, "/api/v2/resource-servers", "not-a-token", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn role_permissions_are_scopes_of_an_api(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    create_invoices_api(&app, &token).await;
    let (_, reports) = app
        .api(
            Method::POST,
            "/api/v2/resource-servers",
            &token,
            Some(json!({"identifier": "urn:reports", "name": "Reports", "scopes": [{"value": "read:reports"}]})),
        )
        .await;
    assert_eq!(reports["identifier"], "urn:reports");
    let role_id = create_role(&app, &token, "clerk").await;
    let path = format!("/api/v2/roles/{role_id}/permissions");
    let add = json!({"permissions": [
        {"resource_server_identifier": INVOICES, "permission_name": "write:invoices"},
        {"resource_server_identifier": INVOICES, "permission_name": "read:invoices"},
        {"resource_server_identifier": "urn:reports", "permission_name": "read:reports"}]});
    let (status, body) = app
        .api(Method::POST, &path, &token, Some(add.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Idempotent per pair.
    let (status, body) = app.api(Method::POST, &path, &token, Some(add)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (_, list) = app.api(Method::GET, &path, &token, None).await;
    assert_eq!(
        list,
        json!([
            {"permission_name": "read:invoices", "description": "Read invoices",
             "resource_server_name": "Invoices", "resource_server_identifier": INVOICES},
            {"permission_name": "write:invoices", "description": "Write invoices",
             "resource_server_name": "Invoices", "resource_server_identifier": INVOICES},
            {"permission_name": "read:reports",
             "resource_server_name": "Reports", "resource_server_identifier": "urn:reports"},
        ])
    );
    let (_, page) = app
        .api(
            Method::GET,
            &format!("{path}?include_totals=true&per_page=2&page=1"),
            &token,
            None,
        )
        .await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["start"], 2);
    assert_eq!(page["permissions"][0]["permission_name"], "read:reports");
    let (status, error) = app
        .api(Method::GET, &format!("{path}?take=2"), &token, None)
        .await;
    error_message(status, &error, StatusCode::BAD_REQUEST);
    assert_eq!(error["errorCode"], "invalid_query_string");

    // Only scopes of an existing API, named in the error.
    for (body, named) in [
        (
            json!({"permissions": [{"resource_server_identifier": INVOICES, "permission_name": "read:invoices"},
                                   {"resource_server_identifier": INVOICES, "permission_name": "delete:invoices"}]}),
            "permissions[1].permission_name",
        ),
        (
            json!({"permissions": [{"resource_server_identifier": "urn:nope", "permission_name": "read:x"}]}),
            "permissions[0].resource_server_identifier",
        ),
        (json!({"permissions": []}), "permissions"),
        (
            json!({"permissions": [{"resource_server_identifier": INVOICES, "permission": "read:invoices"}]}),
            "permission",
        ),
    ] {
        let (status, error) = app
            .api(Method::POST, &path, &token, Some(body.clone()))
            .await;
        let message = error_message(status, &error, StatusCode::BAD_REQUEST);
        assert!(message.contains(named), "{body} → {message}");
    }
    assert_eq!(
        role_permissions(&app, &token, &role_id).await,
        ["read:invoices", "write:invoices", "read:reports"],
        "a refused request added nothing"
    );

    // An unknown role: 404.
    let (status, error) = app
        .api(
            Method::GET,
            "/api/v2/roles/rol_doesnotexist0000000000/permissions",
            &token,
            None,
        )
        .await;
    error_message(status, &error, StatusCode::NOT_FOUND);
    assert_eq!(error["errorCode"], "inexistent_role");

    // Remove some.
    let (status, _) = app
        .api(
            Method::DELETE,
            &path,
            &token,
            Some(json!({"permissions": [
                {"resource_server_identifier": INVOICES, "permission_name": "write:invoices"},
                {"resource_server_identifier": "urn:reports", "permission_name": "read:reports"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        role_permissions(&app, &token, &role_id).await,
        ["read:invoices"]
    );
}

async fn removing_scopes_or_apis_removes_role_permissions(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let api = create_invoices_api(&app, &token).await;
    let api_path = format!("/api/v2/resource-servers/{}", api["id"].as_str().unwrap());
    let role_id = create_role(&app, &token, "approver").await;
    let path = format!("/api/v2/roles/{role_id}/permissions");
    let (status, _) = app
        .api(
            Method::POST,
            &path,
            &token,
            Some(json!({"permissions": [
                {"resource_server_identifier": INVOICES, "permission_name": "read:invoices"},
                {"resource_server_identifier": INVOICES, "permission_name": "approve:invoices"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // A scope dropped by PATCH takes its role permissions along.
    let (status, _) = app
        .api(
            Method::PATCH,
            &api_path,
            &token,
            Some(json!({"scopes": [{"value": "read:invoices"}, {"value": "write:invoices"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        role_permissions(&app, &token, &role_id).await,
        ["read:invoices"]
    );
    // A PATCH that leaves scopes alone leaves permissions alone.
    let (status, _) = app
        .api(
            Method::PATCH,
            &api_path,
            &token,
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = app.api(Method::GET, &path, &token, None).await;
    assert_eq!(list[0]["resource_server_name"], "Renamed");

    // Deleting the API removes the rest.
    let (status, _) = app.api(Method::DELETE, &api_path, &token, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(role_permissions(&app, &token, &role_id).await.is_empty());
    let store = app.store().await;
    assert_eq!(store.count_role_permissions(&role_id).await.unwrap(), 0);
}

async fn tenant_settings_read_and_update(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (status, settings) = app
        .api(Method::GET, "/api/v2/tenants/settings", &token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        settings,
        json!({"allow_organization_name_in_authentication_api": false})
    );
    let (status, patched) = app
        .api(
            Method::PATCH,
            "/api/v2/tenants/settings",
            &token,
            Some(json!({"allow_organization_name_in_authentication_api": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["allow_organization_name_in_authentication_api"],
        true
    );
    let (_, reread) = app
        .api(Method::GET, "/api/v2/tenants/settings", &token, None)
        .await;
    assert_eq!(reread, patched);
    assert!(
        app.store()
            .await
            .tenant_settings()
            .await
            .unwrap()
            .allow_organization_name_in_authentication_api
    );
    // An empty PATCH changes nothing; unknown or mistyped fields are refused.
    let (status, same) = app
        .api(
            Method::PATCH,
            "/api/v2/tenants/settings",
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same, patched);
    for (body, named) in [
        // A setting Auth0 does not have (its others are taken without effect).
        (json!({"friendly_names": "Acme"}), "friendly_names"),
        (json!({"friendly_name": 7}), "invalid type"),
        (
            json!({"allow_organization_name_in_authentication_api": "yes"}),
            "allow_organization_name_in_authentication_api",
        ),
    ] {
        let (status, error) = app
            .api(
                Method::PATCH,
                "/api/v2/tenants/settings",
                &token,
                Some(body.clone()),
            )
            .await;
        let message = error_message(status, &error, StatusCode::BAD_REQUEST);
        assert!(message.contains(named), "{body} → {message}");
    }
}

async fn client_grants_need_a_registered_audience(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (client_id, secret) = app.machine_client(&token, "Billing worker").await;

    // No resource server has this identifier (yet): 404, as Auth0.
    let grant_body =
        json!({"client_id": client_id, "audience": INVOICES, "scope": ["read:invoices"]});
    let (status, error) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &token,
            Some(grant_body.clone()),
        )
        .await;
    let message = error_message(status, &error, StatusCode::NOT_FOUND);
    assert!(
        message.starts_with("No resource server found by identifier"),
        "{message}"
    );
    assert_eq!(error["errorCode"], "inexistent_resource_server");

    create_invoices_api(&app, &token).await;
    // Scopes must be the API's.
    let (status, error) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &token,
            Some(json!({"client_id": client_id, "audience": INVOICES,
                        "scope": ["read:invoices", "delete:invoices"]})),
        )
        .await;
    let message = error_message(status, &error, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("scope[1]") && message.contains("delete:invoices"),
        "{message}"
    );
    let (status, grant) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &token,
            Some(grant_body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let (status, issued) = app.request_token(&client_id, &secret, INVOICES).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["scope"], "read:invoices");

    // PATCH is held to the same scopes.
    let grant_path = format!("/api/v2/client-grants/{}", grant["id"].as_str().unwrap());
    let (status, error) = app
        .api(
            Method::PATCH,
            &grant_path,
            &token,
            Some(json!({"scope": ["launch:missiles"]})),
        )
        .await;
    error_message(status, &error, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .api(
            Method::PATCH,
            &grant_path,
            &token,
            Some(json!({"scope": ["read:invoices", "approve:invoices"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // The Management API's own audience takes its scopes.
    let (status, error) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &token,
            Some(
                json!({"client_id": client_id, "audience": app.management_audience(),
                        "scope": ["read:invoices"]}),
            ),
        )
        .await;
    error_message(status, &error, StatusCode::BAD_REQUEST);

    // Deleting the API deletes its grants: no more tokens for it.
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/resource-servers/{}", encoded(INVOICES)),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, grants) = app
        .api(
            Method::GET,
            &format!("/api/v2/client-grants?client_id={client_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(grants, json!([]));
    let (status, refused) = app.request_token(&client_id, &secret, INVOICES).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
}

async fn authorize_refuses_an_unknown_audience(backend: Backend) {
    const CALLBACK: &str = "http://localhost:3000/callback";
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (_, client) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &token,
            Some(json!({"name": "Web", "app_type": "regular_web", "callbacks": [CALLBACK]})),
        )
        .await;
    let client_id = client["client_id"].as_str().unwrap();
    create_invoices_api(&app, &token).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = |audience: String| {
        browser
            .get(app.url("/authorize"))
            .query(&[
                ("client_id", client_id),
                ("redirect_uri", CALLBACK),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "s1"),
                ("audience", audience.as_str()),
            ])
            .send()
    };
    for audience in [
        "https://unknown.example.com/".to_owned(),
        // The Management API takes machine tokens only.
        app.management_audience(),
    ] {
        let response = authorize(audience.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        assert!(location.as_str().starts_with(CALLBACK), "{location}");
        let param = |name: &str| {
            location
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(param("error").as_deref(), Some("invalid_request"));
        assert_eq!(
            param("error_description"),
            Some(format!("Service not found: {audience}"))
        );
        assert_eq!(param("state").as_deref(), Some("s1"));
    }
    // A registered API is accepted: on to the login page, not back with an
    // error; so is the unknown one once it is registered (its absence,
    // cached, is forgotten).
    let (status, created) = app
        .api(
            Method::POST,
            "/api/v2/resource-servers",
            &token,
            Some(json!({"name": "Late", "identifier": "https://unknown.example.com/"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for audience in [INVOICES, "https://unknown.example.com/"] {
        let response = authorize(audience.to_owned()).await.unwrap();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(
            !location.starts_with(CALLBACK),
            "registered audience refused: {location}"
        );
        assert!(
            response.status().is_success() || response.status().is_redirection(),
            "{}",
            response.status()
        );
    }
}

/// APIs are cached by identifier for the token endpoint: a change made
/// through the Management API applies to the very next token.
async fn an_apis_changes_apply_to_the_next_token(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (client_id, secret) = app.machine_client(&token, "Billing worker").await;
    create_invoices_api(&app, &token).await;
    let (status, grant) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &token,
            Some(json!({"client_id": client_id, "audience": INVOICES, "scope": ["read:invoices"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let lifetime = async || {
        let (status, issued) = app.request_token(&client_id, &secret, INVOICES).await;
        assert_eq!(status, StatusCode::OK, "{issued}");
        let claims = claims(issued["access_token"].as_str().unwrap());
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap()
    };
    assert_eq!(lifetime().await, 86_400, "Auth0's default lifetime");
    let (status, patched) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/resource-servers/{}", encoded(INVOICES)),
            &token,
            Some(json!({"token_lifetime": 600})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(lifetime().await, 600);
}
