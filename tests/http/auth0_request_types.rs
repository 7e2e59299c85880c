//! Every property of Auth0's create and update requests is accepted: the
//! request types of the `auth0` SDK (tests/peers, Auth0's own generated
//! `requests.d.ts`) are read, and each property of each request a
//! Switchyard route takes is sent alone, with a plausible value, on top of
//! the request's required properties. Any answer but a success fails the
//! test, with the property and the server's message.

use std::collections::BTreeMap;
use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    every_property_of_auth0s_request_types_is_accepted,
    properties_without_effect_are_kept_and_returned
);

/// The SDK's generated types: `SWITCHYARD_PEERS_DIR` (or tests/peers), whose
/// node_modules must be installed; a missing file fails the test.
fn sdk_types(file: &str) -> String {
    let peers = std::env::var_os("SWITCHYARD_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers"));
    let path = peers
        .join("node_modules/auth0/dist/cjs/management/api")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; install the peers (`npm ci` in tests/peers, scripts/setup.sh test does)",
            path.display()
        )
    })
}

/// The properties of `export interface <name> { … }` and their TypeScript types.
fn interface_properties(source: &str, name: &str) -> Vec<(String, String)> {
    let start = source
        .find(&format!("export interface {name} {{"))
        .unwrap_or_else(|| panic!("{name} is not in the SDK's request types"));
    let body = &source[start..];
    let end = body.find("\n}").unwrap();
    body[..end]
        .lines()
        .skip(1)
        .filter_map(|line| {
            let line = line.strip_prefix("    ")?;
            let (name, ty) = line.split_once(':')?;
            let name = name.trim_end_matches('?');
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            valid.then(|| (name.to_owned(), ty.trim().trim_end_matches(';').to_owned()))
        })
        .collect()
}

/// The first value of `export declare const <name>: { readonly A: "a"; … }`.
fn first_enum_value(types: &str, name: &str) -> Option<String> {
    let start = types.find(&format!("export declare const {name}: {{"))?;
    let body = &types[start..];
    let quoted = &body[body.find('"')? + 1..];
    Some(quoted[..quoted.find('"')?].to_owned())
}

/// The right-hand side of `export type <name> = …;`, unless it is an
/// enum's (`(typeof …)`).
fn type_alias<'a>(types: &'a str, name: &str) -> Option<&'a str> {
    let start = types.find(&format!("export type {name} = "))?;
    let rhs = &types[start..];
    let rhs = &rhs[rhs.find(" = ")? + 3..];
    let rhs = &rhs[..rhs.find(";\n")?];
    (!rhs.starts_with("(typeof")).then_some(rhs)
}

/// A plausible value of TypeScript type `ty`: the first alternative of a
/// union, `null` and `undefined` aside; the first value of an enum; what a
/// type alias stands for; an empty object or list for the rest.
fn value_of_type(types: &str, ty: &str) -> Value {
    let ty = ty
        .split('|')
        .map(|t| t.trim().trim_matches(|c| c == '(' || c == ')').trim())
        .find(|t| !matches!(*t, "null" | "undefined" | ""))
        .unwrap_or("unknown");
    if let Some(item) = ty.strip_suffix("[]") {
        return match value_of_type(types, item) {
            Value::Object(map) if map.is_empty() => json!([]),
            Value::String(s) if item.starts_with("Management.") => json!([s]),
            _ => json!([]),
        };
    }
    match ty {
        "string" => json!("walker"),
        "boolean" => json!(false),
        "number" => json!(3600),
        _ => match ty.strip_prefix("Management.") {
            Some(name) => match (first_enum_value(types, name), type_alias(types, name)) {
                (Some(value), _) => Value::from(value),
                (None, Some(alias)) if !alias.starts_with("Record<") => value_of_type(types, alias),
                _ => json!({}),
            },
            None => json!({}),
        },
    }
}

/// Values where the type's first choice means something else here or is
/// refused for what it says (not for its name).
fn chosen_values(app: &TestApp, walk: &Walk) -> BTreeMap<&'static str, Value> {
    BTreeMap::from([
        ("app_type", json!("regular_web")),
        ("token_endpoint_auth_method", json!("client_secret_post")),
        ("signing_alg", json!("RS256")),
        (
            "initiate_login_uri",
            json!("https://walker.example.com/login"),
        ),
        ("callbacks", json!(["https://walker.example.com/callback"])),
        ("oidc_logout", json!({"backchannel_logout_urls": []})),
        (
            "oidc_backchannel_logout",
            json!({"backchannel_logout_urls": []}),
        ),
        ("client_secret", json!("s".repeat(40))),
        ("grant_types", json!(["authorization_code"])),
        (
            "refresh_token",
            json!({"rotation_type": "rotating", "expiration_type": "expiring"}),
        ),
        ("email", json!("walker-2@example.com")),
        ("password", json!("Walker-Passw0rd-2!")),
        ("picture", json!("https://walker.example.com/me.png")),
        ("connection", json!("walkers")),
        ("client_id", json!(walk.client_id)),
        ("enabled_clients", json!([walk.client_id])),
        ("default_audience", json!(app.management_audience())),
        ("strategy", json!("auth0")),
        // The walk's grant is associated with its organization.
        ("organization_usage", json!("allow")),
        // Its role is given the API's scope.
        ("scopes", json!([{"value": "read:x"}])),
    ])
}

/// Properties taken whose value, whatever it is, is refused for what it
/// would do to the walk's objects, with the reason the answer gives.
const REFUSED_FOR_THE_VALUE: &[(&str, &str, &str)] = &[
    // Only enterprise connections have a login button of their own.
    (
        "CreateConnectionRequestContent",
        "show_as_button",
        "enterprise connections",
    ),
    (
        "UpdateConnectionRequestContent",
        "show_as_button",
        "enterprise connections",
    ),
];

/// What the walk needs in place: a client, an API, a connection, an
/// organization, a role, a user.
struct Walk {
    client_id: String,
    grant_id: String,
    connection_id: String,
    org_id: String,
    role_id: String,
    rs_id: String,
    user_id: String,
}

async fn created(app: &TestApp, token: &str, path: &str, body: Value, id: &str) -> String {
    let (status, answer) = app.api(Method::POST, path, token, Some(body)).await;
    assert!(status.is_success(), "{path}: {answer}");
    answer[id].as_str().unwrap().to_owned()
}

async fn walk_setup(app: &TestApp, token: &str) -> Walk {
    let client_id = created(
        app,
        token,
        "/api/v2/clients",
        json!({"name": "Walked"}),
        "client_id",
    )
    .await;
    let rs_id = created(
        app,
        token,
        "/api/v2/resource-servers",
        json!({"identifier": "https://walked.example.com/", "scopes": [{"value": "read:x"}]}),
        "id",
    )
    .await;
    let grant_id = created(
        app,
        token,
        "/api/v2/client-grants",
        json!({"client_id": client_id, "audience": "https://walked.example.com/", "scope": ["read:x"],
               "organization_usage": "allow"}),
        "id",
    )
    .await;
    let connection_id = created(
        app,
        token,
        "/api/v2/connections",
        json!({"name": "walkers", "strategy": "auth0", "enabled_clients": [client_id]}),
        "id",
    )
    .await;
    let org_id = created(
        app,
        token,
        "/api/v2/organizations",
        json!({"name": "walked"}),
        "id",
    )
    .await;
    let role_id = created(app, token, "/api/v2/roles", json!({"name": "walked"}), "id").await;
    let user_id = created(
        app,
        token,
        "/api/v2/users",
        json!({"connection": "walkers", "email": "walker@example.com", "password": "Walker-Passw0rd-1!"}),
        "user_id",
    )
    .await;
    Walk {
        client_id,
        grant_id,
        connection_id,
        org_id,
        role_id,
        rs_id,
        user_id,
    }
}

/// One request type and the route that takes it.
struct Route {
    interface: &'static str,
    method: Method,
    path: String,
    /// What the request needs besides the property walked.
    base: Value,
    /// Where what a successful request created is deleted, by the id in
    /// its answer under this name (so that the next one does not collide).
    created_id: Option<&'static str>,
}

fn routes(app: &TestApp, w: &Walk) -> Vec<Route> {
    let route = |interface, method, path: String, base, created_id| Route {
        interface,
        method,
        path,
        base,
        created_id,
    };
    let org = format!("/api/v2/organizations/{}", w.org_id);
    let member_roles = format!("{org}/members/{}/roles", w.user_id);
    let permissions = json!({"permissions": [
        {"resource_server_identifier": "https://walked.example.com/", "permission_name": "read:x"}]});
    vec![
        route(
            "CreateClientRequestContent",
            Method::POST,
            "/api/v2/clients".into(),
            json!({"name": "Walker"}),
            Some("client_id"),
        ),
        route(
            "UpdateClientRequestContent",
            Method::PATCH,
            format!("/api/v2/clients/{}", w.client_id),
            json!({}),
            None,
        ),
        route(
            "CreateClientGrantRequestContent",
            Method::POST,
            "/api/v2/client-grants".into(),
            json!({"client_id": w.client_id, "audience": app.management_audience(), "scope": []}),
            Some("id"),
        ),
        route(
            "UpdateClientGrantRequestContent",
            Method::PATCH,
            format!("/api/v2/client-grants/{}", w.grant_id),
            json!({}),
            None,
        ),
        route(
            "CreateConnectionRequestContent",
            Method::POST,
            "/api/v2/connections".into(),
            json!({"name": "walker", "strategy": "auth0"}),
            Some("id"),
        ),
        route(
            "UpdateConnectionRequestContent",
            Method::PATCH,
            format!("/api/v2/connections/{}", w.connection_id),
            json!({}),
            None,
        ),
        route(
            "CreateOrganizationRequestContent",
            Method::POST,
            "/api/v2/organizations".into(),
            json!({"name": "walker"}),
            Some("id"),
        ),
        route(
            "UpdateOrganizationRequestContent",
            Method::PATCH,
            org.clone(),
            json!({}),
            None,
        ),
        route(
            "AddOrganizationConnectionRequestContent",
            Method::POST,
            format!("{org}/enabled_connections"),
            json!({"connection_id": w.connection_id}),
            Some("connection_id"),
        ),
        route(
            "CreateOrganizationMemberRequestContent",
            Method::POST,
            format!("{org}/members"),
            json!({"members": [w.user_id]}),
            None,
        ),
        route(
            "AssignOrganizationMemberRolesRequestContent",
            Method::POST,
            member_roles.clone(),
            json!({"roles": [w.role_id]}),
            None,
        ),
        route(
            "DeleteOrganizationMemberRolesRequestContent",
            Method::DELETE,
            member_roles,
            json!({"roles": [w.role_id]}),
            None,
        ),
        route(
            "DeleteOrganizationMembersRequestContent",
            Method::DELETE,
            format!("{org}/members"),
            json!({"members": [w.user_id]}),
            None,
        ),
        route(
            "AssociateOrganizationClientGrantRequestContent",
            Method::POST,
            format!("{org}/client-grants"),
            json!({"grant_id": w.grant_id}),
            None,
        ),
        route(
            "CreateResourceServerRequestContent",
            Method::POST,
            "/api/v2/resource-servers".into(),
            json!({"identifier": "https://walker.example.com/"}),
            Some("id"),
        ),
        route(
            "UpdateResourceServerRequestContent",
            Method::PATCH,
            format!("/api/v2/resource-servers/{}", w.rs_id),
            json!({}),
            None,
        ),
        route(
            "CreateRoleRequestContent",
            Method::POST,
            "/api/v2/roles".into(),
            json!({"name": "walker"}),
            Some("id"),
        ),
        route(
            "UpdateRoleRequestContent",
            Method::PATCH,
            format!("/api/v2/roles/{}", w.role_id),
            json!({}),
            None,
        ),
        route(
            "AddRolePermissionsRequestContent",
            Method::POST,
            format!("/api/v2/roles/{}/permissions", w.role_id),
            permissions.clone(),
            None,
        ),
        route(
            "DeleteRolePermissionsRequestContent",
            Method::DELETE,
            format!("/api/v2/roles/{}/permissions", w.role_id),
            permissions,
            None,
        ),
        route(
            "UpdateTenantSettingsRequestContent",
            Method::PATCH,
            "/api/v2/tenants/settings".into(),
            json!({}),
            None,
        ),
        route(
            "CreateUserRequestContent",
            Method::POST,
            "/api/v2/users".into(),
            json!({"connection": "walkers", "email": "walker-3@example.com", "password": "Walker-Passw0rd-3!"}),
            Some("user_id"),
        ),
        route(
            "UpdateUserRequestContent",
            Method::PATCH,
            format!("/api/v2/users/{}", w.user_id),
            json!({}),
            None,
        ),
    ]
}

async fn every_property_of_auth0s_request_types_is_accepted(backend: Backend) {
    let requests = sdk_types("requests/requests.d.ts");
    let types = sdk_types("types/types.d.ts");
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let walk = walk_setup(&app, &token).await;
    let chosen = chosen_values(&app, &walk);
    let mut refused = Vec::new();
    let mut sent = 0;
    for route in routes(&app, &walk) {
        let properties = interface_properties(&requests, route.interface);
        assert!(
            !properties.is_empty(),
            "{} has no properties",
            route.interface
        );
        // The required properties once, then each other property alone.
        let mut bodies = vec![("(required)".to_owned(), route.base.clone())];
        for (name, ty) in properties {
            if route.base.get(&name).is_some() {
                continue;
            }
            let value = chosen
                .get(name.as_str())
                .cloned()
                .unwrap_or_else(|| value_of_type(&types, &ty));
            let mut body = route.base.clone();
            body[&name] = value;
            bodies.push((name, body));
        }
        for (name, body) in bodies {
            sent += 1;
            let (status, answer) = app
                .api(
                    route.method.clone(),
                    &route.path,
                    &token,
                    Some(body.clone()),
                )
                .await;
            let known_refusal = REFUSED_FOR_THE_VALUE
                .iter()
                .find(|(interface, property, _)| {
                    *interface == route.interface && *property == name
                });
            if let Some((_, property, reason)) = known_refusal {
                let message = answer["message"].as_str().unwrap_or_default();
                assert!(
                    status == StatusCode::BAD_REQUEST
                        && message.contains(property)
                        && message.contains(reason)
                        && !message.contains("unknown field"),
                    "{}.{name}: {status} {answer}",
                    route.interface
                );
                continue;
            }
            if !status.is_success() {
                refused.push(format!(
                    "{} {} ({}.{name}) {body}: {status} {answer}",
                    route.method, route.path, route.interface
                ));
                continue;
            }
            if let Some(id) = route.created_id {
                let id = answer[id].as_str().unwrap();
                let (status, answer) = app
                    .api(
                        Method::DELETE,
                        &format!("{}/{id}", route.path),
                        &token,
                        None,
                    )
                    .await;
                assert!(status.is_success(), "{}: {answer}", route.path);
            }
        }
    }
    assert!(sent > 200, "only {sent} requests: the types were not read");
    assert!(
        refused.is_empty(),
        "{} of {sent} refused:\n{}",
        refused.len(),
        refused.join("\n")
    );
}

/// The properties without effect of each resource come back as sent, on
/// the answer and on a later read; `null` removes one on PATCH.
async fn properties_without_effect_are_kept_and_returned(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let walk = walk_setup(&app, &token).await;
    let quota = json!({"client_credentials": {"enforce": true, "per_hour": 10}});
    let cases = [
        (
            format!("/api/v2/organizations/{}", walk.org_id),
            json!({"token_quota": quota, "third_party_client_access": "block", "is_app_entitlement_active": true}),
            "token_quota",
        ),
        (
            format!("/api/v2/resource-servers/{}", walk.rs_id),
            json!({"consent_policy": "transactional-authorization-with-mfa", "allow_online_access": true,
                "authorization_details": [{"type": "payment"}]}),
            "consent_policy",
        ),
        (format!("/api/v2/roles/{}", walk.role_id), json!({}), ""),
        (
            format!("/api/v2/client-grants/{}", walk.grant_id),
            json!({"authorization_details_types": ["payment"], "allow_all_scopes": false}),
            "allow_all_scopes",
        ),
        (
            format!("/api/v2/connections/{}", walk.connection_id),
            json!({"authentication": {"active": true}, "connected_accounts": {"active": false}}),
            "authentication",
        ),
        (
            "/api/v2/tenants/settings".to_owned(),
            json!({"friendly_name": "Acme", "session_lifetime": 168, "flags": {"enable_sso": true},
                "enabled_locales": ["en", "nl"]}),
            "friendly_name",
        ),
        (
            format!("/api/v2/users/{}", walk.user_id),
            json!({"phone_number": "+31612345678", "phone_verified": false, "username": "walker",
                "verify_email": false}),
            "username",
        ),
    ];
    for (path, properties, removed) in cases {
        let (status, answer) = app
            .api(Method::PATCH, &path, &token, Some(properties.clone()))
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        // A client grant has no read of its own (only lists): its answer is checked.
        let read = if path.starts_with("/api/v2/client-grants/") {
            answer.clone()
        } else {
            let (status, read) = app.api(Method::GET, &path, &token, None).await;
            assert_eq!(status, StatusCode::OK, "{path}: {read}");
            read
        };
        for (name, value) in properties.as_object().unwrap() {
            if name.starts_with("verify_") {
                assert!(read.get(name).is_none(), "{path}: an action, not kept");
                continue;
            }
            assert_eq!(&answer[name], value, "{path}: {name}");
            assert_eq!(&read[name], value, "{path}: {name}");
        }
        if removed.is_empty() {
            continue;
        }
        let (status, answer) = app
            .api(Method::PATCH, &path, &token, Some(json!({ removed: null })))
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        assert!(answer.get(removed).is_none(), "{path}: {answer}");
    }
    // A role's type and owner are taken when it is created.
    let (status, role) = app
        .api(
            Method::POST,
            "/api/v2/roles",
            &token,
            Some(json!({"name": "typed", "type": "organization", "owner_id": walk.org_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{role}");
    let (_, read) = app
        .api(
            Method::GET,
            &format!("/api/v2/roles/{}", role["id"].as_str().unwrap()),
            &token,
            None,
        )
        .await;
    assert_eq!(
        (&read["type"], &read["owner_id"]),
        (&json!("organization"), &json!(walk.org_id))
    );
}
