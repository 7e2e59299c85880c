#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Store conformance suite: every test runs against SQLite (a fresh file in a
//! temp dir) and against PostgreSQL (a fresh database on the server named by
//! `SWITCHYARD_TEST_POSTGRES_URL`, which `scripts/test.sh` starts). Both
//! backends must give the same answers, down to the constraint names in
//! `StoreError::Conflict`.
//!
//! One file per aggregate, each listing its tests in `on_both_backends!`;
//! this file holds only the list of files and the fixtures several share.

use serde_json::{Map, Value};
use switchyard::model::client::{
    AppType, Client, ClientGrant, OrganizationRequireBehavior, OrganizationUsage, SigningAlg,
    TokenEndpointAuthMethod,
};
use switchyard::model::connection::{
    Connection, ConnectionOptions, EnabledConnection, OrganizationAccessLevel, Strategy,
};
use switchyard::model::ids::{self, new_id};
use switchyard::model::organization::Organization;
use switchyard::model::resource_server::{ResourceServer, Scope, TokenDialect};
use switchyard::model::role::Role;
use switchyard::model::user::User;
use switchyard::store::resource_servers::PermissionRef;
use switchyard::store::{Page, RefreshGrant, Store, StoreError, StoreResult, StoredSession};

#[path = "../support/mod.rs"]
mod support;

mod clients;
mod connections;
mod discovery_domains;
mod domain_verification;
mod foreign_keys;
mod grants;
mod identities;
mod keys;
mod members;
mod organization_picker;
mod organizations;
mod purge;
mod refresh;
mod resource_servers;
mod revocation;
mod roles;
mod saml;
mod schema;
mod sealing;
mod sessions;
mod settings;
mod throttle;
mod updates;
mod upgrade;
mod upstream;
mod users;
mod writer;

// Shared fixtures: builders and assertions that several files use.

fn organization(name: &str) -> Organization {
    Organization {
        id: new_id(ids::ORGANIZATION),
        name: name.to_owned(),
        display_name: None,
        branding: None,
        metadata: Map::new(),
        inert_settings: Map::new(),
        domain_membership: Default::default(),
    }
}

fn connection(name: &str, strategy: Strategy) -> Connection {
    Connection {
        id: new_id(ids::CONNECTION),
        name: name.to_owned(),
        strategy,
        display_name: None,
        options: ConnectionOptions::empty(strategy),
        metadata: Map::new(),
        is_domain_connection: false,
        show_as_button: None,
        realms: vec![name.to_owned()],
        inert_settings: Map::new(),
    }
}

fn client(name: &str) -> Client {
    Client {
        client_id: ids::new_client_id(),
        name: name.to_owned(),
        description: None,
        app_type: AppType::RegularWeb,
        client_secret_hash: Some("a".repeat(64)),
        callbacks: vec!["https://app.example.com/callback".to_owned()],
        allowed_logout_urls: vec![],
        web_origins: vec![],
        allowed_origins: vec![],
        grant_types: AppType::RegularWeb.default_grant_types(),
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        organization_usage: OrganizationUsage::Deny,
        organization_require_behavior: OrganizationRequireBehavior::NoPrompt,
        organization_discovery_methods: None,
        signing_alg: SigningAlg::RS256,
        is_first_party: true,
        client_metadata: Map::new(),
        backchannel_logout_url: None,
        refresh_token: Default::default(),
        initiate_login_uri: None,
        id_token_lifetime: switchyard::model::client::DEFAULT_ID_TOKEN_LIFETIME,
        inert_settings: Default::default(),
    }
}

fn grant(client_id: &str, audience: &str) -> ClientGrant {
    ClientGrant {
        id: new_id(ids::CLIENT_GRANT),
        client_id: client_id.to_owned(),
        audience: audience.to_owned(),
        scope: vec!["read:things".to_owned()],
        organization_usage: None,
        allow_any_organization: false,
        inert_settings: Map::new(),
    }
}

fn user(connection_id: &str, email: &str) -> User {
    User {
        user_id: new_id(ids::USER),
        connection_id: connection_id.to_owned(),
        email: Some(email.to_owned()),
        email_verified: false,
        name: None,
        given_name: None,
        family_name: None,
        nickname: None,
        picture: None,
        blocked: false,
        app_metadata: Map::new(),
        user_metadata: Map::new(),
    }
}

fn role(name: &str) -> Role {
    Role {
        id: new_id(ids::ROLE),
        name: name.to_owned(),
        description: None,
        inert_settings: Map::new(),
    }
}

fn enabled(organization_id: &str, connection_id: &str) -> EnabledConnection {
    EnabledConnection {
        organization_id: organization_id.to_owned(),
        connection_id: connection_id.to_owned(),
        assign_membership_on_login: false,
        is_signup_enabled: false,
        show_as_button: false,
        organization_connection_name: None,
        organization_access_level: OrganizationAccessLevel::None,
        upstream_tenant_id: None,
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not a JSON object: {other}"),
    }
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: StoreResult<T>, constraint: &str) {
    match result {
        Err(StoreError::Conflict(name)) => assert_eq!(
            name, constraint,
            "conflict reported on the wrong constraint"
        ),
        other => panic!("expected Conflict({constraint:?}), got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: StoreResult<T>) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[track_caller]
fn assert_missing_reference<T: std::fmt::Debug>(result: StoreResult<T>) {
    match result {
        Err(StoreError::MissingReference) => {}
        other => panic!("expected MissingReference, got {other:?}"),
    }
}

/// Inserts a fresh org, connection and user, and makes the user a member.
async fn org_with_member(store: &Store, org_name: &str, con: &Connection) -> (Organization, User) {
    let org = organization(org_name);
    store.insert_organization(&org, &[]).await.unwrap();
    let member = user(&con.id, &format!("{org_name}@example.com"));
    store.insert_user(&member, None).await.unwrap();
    store
        .insert_members(&org.id, std::slice::from_ref(&member.user_id))
        .await
        .unwrap();
    (org, member)
}

fn scope(value: &str) -> Scope {
    Scope {
        value: value.to_owned(),
        description: Some(format!("May {value}")),
    }
}

fn resource_server(identifier: &str, scopes: &[&str]) -> ResourceServer {
    ResourceServer {
        id: new_id(ids::RESOURCE_SERVER),
        name: format!("API {identifier}"),
        identifier: identifier.to_owned(),
        scopes: scopes.iter().map(|s| scope(s)).collect(),
        signing_alg: SigningAlg::RS256,
        token_lifetime: 86_400,
        allow_offline_access: false,
        skip_consent_for_verifiable_first_party_clients: true,
        enforce_policies: false,
        token_dialect: TokenDialect::AccessToken,
        inert_settings: Default::default(),
    }
}

fn permission(rs: &ResourceServer, name: &str) -> PermissionRef {
    PermissionRef {
        resource_server_id: rs.id.clone(),
        permission_name: name.to_owned(),
    }
}

async fn permission_names(store: &Store, role_id: &str) -> Vec<(String, String)> {
    store
        .list_role_permissions(role_id, &Page::all())
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.resource_server_identifier, p.permission_name))
        .collect()
}

fn session_of(user: &User, id: &str, now: i64) -> StoredSession {
    StoredSession {
        id: id.to_owned(),
        user_id: user.user_id.clone(),
        connection_id: user.connection_id.clone(),
        auth_time: now / 1000,
        created_at: now,
        last_used_at: now,
        expires_at: now + 3_600_000,
    }
}

/// A database connection with alice in it, and a web client.
async fn alice_and_web_client(store: &Store) -> (User, Client) {
    let con = connection("users", Strategy::Database);
    store.insert_connection(&con, &[]).await.unwrap();
    let alice = user(&con.id, "alice@hoekstra.example");
    store.insert_user(&alice, None).await.unwrap();
    let web = client("Web");
    store.insert_client(&web).await.unwrap();
    (alice, web)
}

/// Starts family `grant` as the exchange of a fresh code of its client does.
async fn start_family(
    store: &Store,
    grant: &RefreshGrant,
    token_hash: &str,
    token_expires_at: i64,
    access_token_id: &str,
) {
    let code = format!("code-of-{}", grant.id);
    let live = store.clock().now_unix_millis() + 60_000;
    store
        .insert_authorization_code(&code, &grant.client_id, "{}", live)
        .await
        .unwrap();
    assert!(
        store
            .insert_refresh_grant(&code, grant, token_hash, token_expires_at, access_token_id)
            .await
            .unwrap()
    );
}

fn family_of(client: &Client, user: &User, id: &str, expires_at: i64) -> RefreshGrant {
    RefreshGrant {
        id: id.to_owned(),
        client_id: client.client_id.clone(),
        user_id: user.user_id.clone(),
        organization_id: None,
        session_id: None,
        scope: vec!["openid".into(), "offline_access".into()],
        audience: None,
        auth_time: 1,
        expires_at,
    }
}
