#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Store conformance suite: every test runs against SQLite (a fresh file in a
//! temp dir) and against PostgreSQL (a fresh database on the server named by
//! `SWITCHYARD_TEST_POSTGRES_URL`, which `scripts/test.sh` starts). Both
//! backends must give the same answers, down to the constraint names in
//! `StoreError::Conflict`.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value, json};
use switchyard::keys::{KeyError, KeyRing, TokenRejected};
use switchyard::model::client::{
    AppType, Client, ClientGrant, GrantType, OrganizationRequireBehavior, OrganizationUsage,
    SigningAlg, TokenEndpointAuthMethod,
};
use switchyard::model::connection::{
    Connection, ConnectionOptions, EnabledConnection, OrganizationAccessLevel, Strategy,
};
use switchyard::model::ids::{self, new_id};
use switchyard::model::organization::{Branding, BrandingColors, Organization};
use switchyard::model::resource_server::{ResourceServer, Scope, TokenDialect};
use switchyard::model::role::Role;
use switchyard::model::tenant::TenantSettings;
use switchyard::model::user::User;
use switchyard::store::purge::RETENTION_MS;
use switchyard::store::resource_servers::PermissionRef;
use switchyard::store::{
    Backend, ClientGrantFilter, ConnectionFilter, Page, RefreshGrant, RefreshOutcome, Store,
    StoreError, StoreResult, StoredSession, StoredTransaction, ThrottleWindow,
};

#[path = "../support/mod.rs"]
mod support;

use support::PostgresDatabase;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// A store on a fresh, private database, and what it takes to clean it up.
struct TestDb {
    store: Store,
    /// Keeps the SQLite file alive until the test is done.
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: dropped after the test.
    postgres: Option<PostgresDatabase>,
}

impl TestDb {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("creating a temp dir for the SQLite database");
        let url = switchyard::store::sqlite_url_for(&dir.path().join("switchyard.db"));
        let store = Store::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("opening SQLite store at {url}: {e}"));
        assert_eq!(store.backend(), Backend::Sqlite);
        TestDb {
            store,
            _dir: Some(dir),
            postgres: None,
        }
    }

    async fn postgres() -> Self {
        let database = PostgresDatabase::create().await;
        let store = Store::connect(&database.url)
            .await
            .unwrap_or_else(|e| panic!("opening PostgreSQL store at {}: {e}", database.url));
        assert_eq!(store.backend(), Backend::Postgres);
        TestDb {
            store,
            _dir: None,
            postgres: Some(database),
        }
    }

    /// Runs `test` on this database (in its own task, so that the cleanup
    /// runs even when it panics), cleans up, then re-raises its panic.
    async fn run<F, Fut>(self, test: F)
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let outcome = tokio::spawn(test(self.store.clone())).await;
        self.store.close().await;
        if let Some(database) = &self.postgres {
            database.drop_database().await;
        }
        if let Err(e) = outcome {
            match e.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(e) => panic!("test task failed: {e}"),
            }
        }
    }
}

/// For each `async fn name(store: Store)` listed, a module `name` with two
/// tests, `sqlite` and `postgres`, running it against each backend.
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    crate::TestDb::sqlite().await.run(super::$name).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    crate::TestDb::postgres().await.run(super::$name).await;
                }
            }
        )+
    };
}

mod schema;
mod updates;

conformance!(
    organization_names_are_unique,
    concurrent_organization_inserts_conflict_once,
    organization_insert_is_transactional,
    connection_names_are_unique,
    client_ids_are_unique,
    enabled_connection_is_unique_per_organization,
    organization_connection_name_is_unique_per_organization,
    client_grant_is_unique_per_client_and_audience,
    user_email_is_unique_per_connection,
    role_names_are_unique,
    signup_check_is_enforced_by_the_database,
    foreign_keys_are_enforced,
    deleting_an_organization_cascades,
    deleting_a_connection_cascades,
    deleting_a_user_cascades,
    deleting_a_client_or_role_cascades,
    organization_round_trip,
    connection_round_trip,
    client_round_trip,
    client_grant_round_trip,
    user_round_trip,
    role_round_trip,
    enabled_connection_round_trip,
    members_and_member_roles,
    organizations_paging,
    roles_and_clients_paging,
    connection_filters,
    client_grant_filters,
    signing_keys_are_created_once,
    signing_keys_concurrent_init,
    signing_key_rotation,
    signing_key_conflicts,
    tokens_sign_verify_and_rotate,
    claim_setting_once,
    claim_setting_concurrent,
    concurrent_member_inserts,
    concurrent_rotations,
    login_throttle_windows,
    login_throttle_concurrent_failures,
    resource_server_round_trip,
    resource_server_identifiers_are_unique,
    role_permissions_follow_their_scopes,
    deleting_a_resource_server_cascades,
    organization_authorization_unions_the_member_roles,
    tenant_settings_round_trip,
    sessions_and_refresh_families,
    replayed_codes_and_revoked_families_revoke_their_access_tokens,
    a_rotation_racing_a_revocation_never_escapes_it,
    expired_rows_are_purged,
);

// ---------------------------------------------------------------------------
// Builders and assertions
// ---------------------------------------------------------------------------

fn organization(name: &str) -> Organization {
    Organization {
        id: new_id(ids::ORGANIZATION),
        name: name.to_owned(),
        display_name: None,
        branding: None,
        metadata: Map::new(),
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
        grant_types: AppType::RegularWeb.default_grant_types(),
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        organization_usage: OrganizationUsage::Deny,
        organization_require_behavior: OrganizationRequireBehavior::NoPrompt,
        signing_alg: SigningAlg::RS256,
        is_first_party: true,
        client_metadata: Map::new(),
        backchannel_logout_url: None,
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
    }
}

fn user(connection_id: &str, email: &str) -> User {
    User {
        user_id: new_id(ids::USER),
        connection_id: connection_id.to_owned(),
        email: email.to_owned(),
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
    }
}

fn connection_options(strategy: Strategy, value: Value) -> ConnectionOptions {
    ConnectionOptions::decode(strategy, object(value)).unwrap()
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

// ---------------------------------------------------------------------------
// 1. Organization names
// ---------------------------------------------------------------------------

async fn organization_names_are_unique(store: Store) {
    let acme = organization("acme");
    store.insert_organization(&acme, &[]).await.unwrap();

    assert_conflict(
        store.insert_organization(&organization("acme"), &[]).await,
        "organizations_name_key",
    );
    let mut same_id = organization("other");
    same_id.id = acme.id.clone();
    assert_conflict(
        store.insert_organization(&same_id, &[]).await,
        "organizations_pkey",
    );

    // Renaming onto a taken name is refused too, and changes nothing.
    let mut globex = organization("globex");
    store.insert_organization(&globex, &[]).await.unwrap();
    globex.name = "acme".to_owned();
    assert_conflict(
        store.update_organization(&globex).await,
        "organizations_name_key",
    );
    assert_eq!(
        store.get_organization(&globex.id).await.unwrap().name,
        "globex"
    );
    assert_eq!(store.count_organizations().await.unwrap(), 2);
    assert_eq!(
        store.get_organization_by_name("acme").await.unwrap().id,
        acme.id
    );
}

async fn concurrent_organization_inserts_conflict_once(store: Store) {
    const ROUNDS: usize = 12;
    let (first, second) = (store.clone(), store.clone());
    for round in 0..ROUNDS {
        let name = format!("race-{round}");
        let a = organization(&name);
        let b = organization(&name);
        let (ra, rb) = tokio::join!(
            first.insert_organization(&a, &[]),
            second.insert_organization(&b, &[])
        );
        let winner = match (ra, rb) {
            (Ok(()), Err(StoreError::Conflict(c))) | (Err(StoreError::Conflict(c)), Ok(())) => {
                assert_eq!(c, "organizations_name_key", "round {round}");
                store.get_organization_by_name(&name).await.unwrap().id
            }
            other => panic!("round {round}: expected one Ok and one Conflict, got {other:?}"),
        };
        assert!(winner == a.id || winner == b.id, "round {round}");
        let loser = if winner == a.id { &b.id } else { &a.id };
        assert_not_found(store.get_organization(loser).await);
    }
    assert_eq!(store.count_organizations().await.unwrap(), ROUNDS as i64);
}

async fn organization_insert_is_transactional(store: Store) {
    let con = connection("db", Strategy::Database);
    store.insert_connection(&con, &[]).await.unwrap();
    let org = organization("acme");
    // The same connection twice: the second enabled row fails, and the
    // organization inserted before it in the transaction must go too.
    assert_conflict(
        store
            .insert_organization(
                &org,
                &[enabled(&org.id, &con.id), enabled(&org.id, &con.id)],
            )
            .await,
        "organization_connections_pkey",
    );
    assert_not_found(store.get_organization(&org.id).await);
    assert_eq!(store.count_organizations().await.unwrap(), 0);
    assert_eq!(store.count_enabled_connections(&org.id).await.unwrap(), 0);

    // With valid rows, everything lands.
    store
        .insert_organization(&org, &[enabled(&org.id, &con.id)])
        .await
        .unwrap();
    assert_eq!(store.count_enabled_connections(&org.id).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------
// 2. Other uniqueness rules
// ---------------------------------------------------------------------------

async fn connection_names_are_unique(store: Store) {
    store
        .insert_connection(&connection("db", Strategy::Database), &[])
        .await
        .unwrap();
    assert_conflict(
        store
            .insert_connection(&connection("db", Strategy::Oidc), &[])
            .await,
        "connections_name_key",
    );
    assert_eq!(
        store
            .count_connections(&ConnectionFilter::default())
            .await
            .unwrap(),
        1
    );
}

async fn client_ids_are_unique(store: Store) {
    let first = client("First");
    store.insert_client(&first).await.unwrap();
    let mut second = client("Second");
    second.client_id = first.client_id.clone();
    assert_conflict(store.insert_client(&second).await, "clients_pkey");
    assert_eq!(
        store.get_client(&first.client_id).await.unwrap().name,
        "First"
    );
    assert_eq!(store.count_clients().await.unwrap(), 1);
}

async fn enabled_connection_is_unique_per_organization(store: Store) {
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    let con = connection("db", Strategy::Database);
    store.insert_connection(&con, &[]).await.unwrap();
    store
        .insert_enabled_connection(&enabled(&org.id, &con.id))
        .await
        .unwrap();
    let mut again = enabled(&org.id, &con.id);
    again.assign_membership_on_login = true;
    assert_conflict(
        store.insert_enabled_connection(&again).await,
        "organization_connections_pkey",
    );
    assert_eq!(store.count_enabled_connections(&org.id).await.unwrap(), 1);
    assert!(
        !store
            .get_enabled_connection(&org.id, &con.id)
            .await
            .unwrap()
            .enabled
            .assign_membership_on_login
    );
}

async fn organization_connection_name_is_unique_per_organization(store: Store) {
    let acme = organization("acme");
    let globex = organization("globex");
    store.insert_organization(&acme, &[]).await.unwrap();
    store.insert_organization(&globex, &[]).await.unwrap();
    let sso = connection("sso", Strategy::Oidc);
    let saml = connection("saml", Strategy::Saml);
    let db = connection("db", Strategy::Database);
    for con in [&sso, &saml, &db] {
        store.insert_connection(con, &[]).await.unwrap();
    }

    let named = |org: &Organization, con: &Connection, name: Option<&str>| {
        let mut e = enabled(&org.id, &con.id);
        e.organization_connection_name = name.map(str::to_owned);
        e
    };
    store
        .insert_enabled_connection(&named(&acme, &sso, Some("login")))
        .await
        .unwrap();
    assert_conflict(
        store
            .insert_enabled_connection(&named(&acme, &saml, Some("login")))
            .await,
        "organization_connections_connection_name_key",
    );
    // The same name in another organization is fine.
    store
        .insert_enabled_connection(&named(&globex, &saml, Some("login")))
        .await
        .unwrap();
    // No name is no name: several unnamed rows in one organization are fine.
    store
        .insert_enabled_connection(&named(&acme, &saml, None))
        .await
        .unwrap();
    store
        .insert_enabled_connection(&named(&acme, &db, None))
        .await
        .unwrap();
    // Renaming onto a taken name is refused by the update as well.
    assert_conflict(
        store
            .update_enabled_connection(&named(&acme, &db, Some("login")))
            .await,
        "organization_connections_connection_name_key",
    );
    assert_eq!(store.count_enabled_connections(&acme.id).await.unwrap(), 3);
    assert_eq!(
        store.count_enabled_connections(&globex.id).await.unwrap(),
        1
    );
}

async fn client_grant_is_unique_per_client_and_audience(store: Store) {
    let first = client("First");
    let second = client("Second");
    store.insert_client(&first).await.unwrap();
    store.insert_client(&second).await.unwrap();
    let api = "https://api.example.com/";
    let original = grant(&first.client_id, api);
    store.insert_client_grant(&original).await.unwrap();
    assert_conflict(
        store
            .insert_client_grant(&grant(&first.client_id, api))
            .await,
        "client_grants_client_audience_key",
    );
    let mut same_id = grant(&second.client_id, "https://other.example.com/");
    same_id.id = original.id.clone();
    assert_conflict(
        store.insert_client_grant(&same_id).await,
        "client_grants_pkey",
    );
    // Other audience for the same client, same audience for another client: fine.
    store
        .insert_client_grant(&grant(&first.client_id, "https://other.example.com/"))
        .await
        .unwrap();
    store
        .insert_client_grant(&grant(&second.client_id, api))
        .await
        .unwrap();
    assert_eq!(
        store
            .count_client_grants(&ClientGrantFilter::default())
            .await
            .unwrap(),
        3
    );
}

async fn user_email_is_unique_per_connection(store: Store) {
    let db = connection("db", Strategy::Database);
    let google = connection("google", Strategy::Google);
    store.insert_connection(&db, &[]).await.unwrap();
    store.insert_connection(&google, &[]).await.unwrap();
    let email = "alice@example.com";
    let alice = user(&db.id, email);
    store.insert_user(&alice, Some("hash")).await.unwrap();
    assert_conflict(
        store.insert_user(&user(&db.id, email), None).await,
        "users_connection_email_key",
    );
    let mut same_id = user(&google.id, "bob@example.com");
    same_id.user_id = alice.user_id.clone();
    assert_conflict(store.insert_user(&same_id, None).await, "users_pkey");

    // The same email in another connection is another user.
    let alice_google = user(&google.id, email);
    store.insert_user(&alice_google, None).await.unwrap();
    let found = store.list_users_by_email(email).await.unwrap();
    let found_ids: BTreeSet<_> = found.iter().map(|u| u.user.user_id.clone()).collect();
    assert_eq!(
        found_ids,
        BTreeSet::from([alice.user_id.clone(), alice_google.user_id.clone()])
    );

    // Changing an email onto a taken one in the same connection is refused.
    let mut bob = user(&db.id, "bob@example.com");
    store.insert_user(&bob, None).await.unwrap();
    bob.email = email.to_owned();
    assert_conflict(store.update_user(&bob).await, "users_connection_email_key");
}

async fn role_names_are_unique(store: Store) {
    store.insert_role(&role("admin")).await.unwrap();
    assert_conflict(store.insert_role(&role("admin")).await, "roles_name_key");
    let mut viewer = role("viewer");
    store.insert_role(&viewer).await.unwrap();
    viewer.name = "admin".to_owned();
    assert_conflict(store.update_role(&viewer).await, "roles_name_key");
    assert_eq!(store.count_roles().await.unwrap(), 2);
}

// ---------------------------------------------------------------------------
// 3. Check constraint and foreign keys
// ---------------------------------------------------------------------------

async fn signup_check_is_enforced_by_the_database(store: Store) {
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();

    // Built directly, past EnabledConnection::apply's validation.
    let mut bad = enabled(&org.id, &db.id);
    bad.is_signup_enabled = true;
    bad.assign_membership_on_login = false;
    assert_conflict(
        store.insert_enabled_connection(&bad).await,
        "organization_connections_signup_check",
    );
    assert_not_found(store.get_enabled_connection(&org.id, &db.id).await);
    // Also when it comes in with the organization.
    let other = organization("globex");
    let mut bad_other = enabled(&other.id, &db.id);
    bad_other.is_signup_enabled = true;
    assert_conflict(
        store.insert_organization(&other, &[bad_other]).await,
        "organization_connections_signup_check",
    );
    assert_not_found(store.get_organization(&other.id).await);

    // Valid together; turning assign_membership_on_login off afterwards is refused.
    let mut good = enabled(&org.id, &db.id);
    good.is_signup_enabled = true;
    good.assign_membership_on_login = true;
    store.insert_enabled_connection(&good).await.unwrap();
    let mut broken = good.clone();
    broken.assign_membership_on_login = false;
    assert_conflict(
        store.update_enabled_connection(&broken).await,
        "organization_connections_signup_check",
    );
    assert_eq!(
        store
            .get_enabled_connection(&org.id, &db.id)
            .await
            .unwrap()
            .enabled,
        good
    );
}

async fn foreign_keys_are_enforced(store: Store) {
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();

    assert_missing_reference(
        store
            .insert_enabled_connection(&enabled(&org.id, &new_id(ids::CONNECTION)))
            .await,
    );
    assert_missing_reference(
        store
            .insert_enabled_connection(&enabled(&new_id(ids::ORGANIZATION), &db.id))
            .await,
    );
    assert_missing_reference(
        store
            .insert_user(&user(&new_id(ids::CONNECTION), "a@example.com"), None)
            .await,
    );
    assert_missing_reference(
        store
            .insert_client_grant(&grant(&ids::new_client_id(), "https://api.example.com/"))
            .await,
    );
    assert_missing_reference(store.insert_members(&org.id, &[new_id(ids::USER)]).await);
    // Enabling a connection for a missing client rolls the connection back.
    let sso = connection("sso", Strategy::Oidc);
    assert_missing_reference(store.insert_connection(&sso, &[ids::new_client_id()]).await);
    assert_not_found(store.get_connection(&sso.id).await);
    // A role for someone who is not a member.
    let u = user(&db.id, "b@example.com");
    store.insert_user(&u, None).await.unwrap();
    let admin = role("admin");
    store.insert_role(&admin).await.unwrap();
    assert_missing_reference(
        store
            .insert_member_roles(&org.id, &u.user_id, std::slice::from_ref(&admin.id))
            .await,
    );
    assert_eq!(store.count_members(&org.id).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------
// 4. Cascades
// ---------------------------------------------------------------------------

async fn deleting_an_organization_cascades(store: Store) {
    let db = connection("db", Strategy::Database);
    let sso = connection("sso", Strategy::Oidc);
    store.insert_connection(&db, &[]).await.unwrap();
    store.insert_connection(&sso, &[]).await.unwrap();
    let admin = role("admin");
    let viewer = role("viewer");
    store.insert_role(&admin).await.unwrap();
    store.insert_role(&viewer).await.unwrap();
    let role_ids = [admin.id.clone(), viewer.id.clone()];

    let acme = organization("acme");
    store
        .insert_organization(&acme, &[enabled(&acme.id, &db.id)])
        .await
        .unwrap();
    store
        .insert_enabled_connection(&enabled(&acme.id, &sso.id))
        .await
        .unwrap();
    let alice = user(&db.id, "alice@example.com");
    let bob = user(&sso.id, "bob@example.com");
    store.insert_user(&alice, None).await.unwrap();
    store.insert_user(&bob, None).await.unwrap();
    let both = [alice.user_id.clone(), bob.user_id.clone()];
    store.insert_members(&acme.id, &both).await.unwrap();
    store
        .insert_member_roles(&acme.id, &alice.user_id, &role_ids)
        .await
        .unwrap();
    store
        .insert_member_roles(&acme.id, &bob.user_id, &role_ids[..1])
        .await
        .unwrap();

    // A second organization sharing the connections, users and roles.
    let globex = organization("globex");
    store
        .insert_organization(&globex, &[enabled(&globex.id, &db.id)])
        .await
        .unwrap();
    store
        .insert_members(&globex.id, std::slice::from_ref(&alice.user_id))
        .await
        .unwrap();
    store
        .insert_member_roles(&globex.id, &alice.user_id, &role_ids[1..])
        .await
        .unwrap();

    assert_eq!(store.count_enabled_connections(&acme.id).await.unwrap(), 2);
    assert_eq!(store.count_members(&acme.id).await.unwrap(), 2);
    assert_eq!(
        store
            .list_member_roles(&acme.id, &alice.user_id)
            .await
            .unwrap()
            .len(),
        2
    );

    store.delete_organization(&acme.id).await.unwrap();

    assert_not_found(store.get_organization(&acme.id).await);
    assert_eq!(store.count_enabled_connections(&acme.id).await.unwrap(), 0);
    assert_not_found(store.get_enabled_connection(&acme.id, &db.id).await);
    assert_eq!(store.count_members(&acme.id).await.unwrap(), 0);
    assert!(!store.is_member(&acme.id, &alice.user_id).await.unwrap());
    assert!(
        store
            .list_member_roles(&acme.id, &alice.user_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_member_roles(&acme.id, &bob.user_id)
            .await
            .unwrap()
            .is_empty()
    );

    // The other organization and the shared rows are untouched.
    assert_eq!(
        store.count_enabled_connections(&globex.id).await.unwrap(),
        1
    );
    assert!(store.is_member(&globex.id, &alice.user_id).await.unwrap());
    assert_eq!(
        store
            .list_member_roles(&globex.id, &alice.user_id)
            .await
            .unwrap(),
        vec![viewer.clone()]
    );
    store.get_connection(&db.id).await.unwrap();
    store.get_connection(&sso.id).await.unwrap();
    store.get_user(&alice.user_id).await.unwrap();
    store.get_user(&bob.user_id).await.unwrap();
    assert_eq!(store.count_roles().await.unwrap(), 2);

    // A new organization reusing the id starts empty: nothing was left behind.
    let mut reborn = organization("acme");
    reborn.id = acme.id.clone();
    store.insert_organization(&reborn, &[]).await.unwrap();
    assert_eq!(store.count_enabled_connections(&acme.id).await.unwrap(), 0);
    assert_eq!(store.count_members(&acme.id).await.unwrap(), 0);
    store
        .insert_members(&acme.id, std::slice::from_ref(&alice.user_id))
        .await
        .unwrap();
    assert!(
        store
            .list_member_roles(&acme.id, &alice.user_id)
            .await
            .unwrap()
            .is_empty(),
        "member roles of the deleted organization survived"
    );

    assert_not_found(store.delete_organization(&new_id(ids::ORGANIZATION)).await);
}

async fn deleting_a_connection_cascades(store: Store) {
    let web = client("Web");
    store.insert_client(&web).await.unwrap();
    let db = connection("db", Strategy::Database);
    let sso = connection("sso", Strategy::Oidc);
    store
        .insert_connection(&db, std::slice::from_ref(&web.client_id))
        .await
        .unwrap();
    store
        .insert_connection(&sso, std::slice::from_ref(&web.client_id))
        .await
        .unwrap();
    let admin = role("admin");
    store.insert_role(&admin).await.unwrap();

    let (acme, alice) = org_with_member(&store, "acme", &db).await;
    store
        .insert_enabled_connection(&enabled(&acme.id, &db.id))
        .await
        .unwrap();
    store
        .insert_enabled_connection(&enabled(&acme.id, &sso.id))
        .await
        .unwrap();
    store
        .insert_member_roles(&acme.id, &alice.user_id, std::slice::from_ref(&admin.id))
        .await
        .unwrap();
    let bob = user(&sso.id, "bob@example.com");
    store.insert_user(&bob, None).await.unwrap();
    store
        .insert_members(&acme.id, std::slice::from_ref(&bob.user_id))
        .await
        .unwrap();

    store.delete_connection(&db.id).await.unwrap();

    assert_not_found(store.get_connection(&db.id).await);
    assert_not_found(store.get_enabled_connection(&acme.id, &db.id).await);
    assert_eq!(store.count_enabled_connections(&acme.id).await.unwrap(), 1);
    assert_not_found(store.get_user(&alice.user_id).await);
    assert!(
        store
            .list_users_by_email(&alice.email)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!store.is_member(&acme.id, &alice.user_id).await.unwrap());
    assert!(
        store
            .list_member_roles(&acme.id, &alice.user_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_connection_clients(&db.id)
            .await
            .unwrap()
            .is_empty()
    );

    // The rest stays.
    store.get_organization(&acme.id).await.unwrap();
    store.get_client(&web.client_id).await.unwrap();
    store
        .get_enabled_connection(&acme.id, &sso.id)
        .await
        .unwrap();
    store.get_user(&bob.user_id).await.unwrap();
    assert!(store.is_member(&acme.id, &bob.user_id).await.unwrap());
    assert_eq!(store.count_members(&acme.id).await.unwrap(), 1);
    assert_eq!(
        store.list_connection_clients(&sso.id).await.unwrap(),
        vec![web.client_id.clone()]
    );
    store.get_role(&admin.id).await.unwrap();
    assert_not_found(store.delete_connection(&db.id).await);
}

async fn deleting_a_user_cascades(store: Store) {
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();
    let admin = role("admin");
    store.insert_role(&admin).await.unwrap();
    let (acme, alice) = org_with_member(&store, "acme", &db).await;
    let globex = organization("globex");
    store.insert_organization(&globex, &[]).await.unwrap();
    let bob = user(&db.id, "bob@example.com");
    store.insert_user(&bob, None).await.unwrap();
    let both = [alice.user_id.clone(), bob.user_id.clone()];
    store.insert_members(&acme.id, &both).await.unwrap();
    store.insert_members(&globex.id, &both).await.unwrap();
    for org in [&acme, &globex] {
        for u in &both {
            store
                .insert_member_roles(&org.id, u, std::slice::from_ref(&admin.id))
                .await
                .unwrap();
        }
    }

    store.delete_user(&alice.user_id).await.unwrap();

    assert_not_found(store.get_user(&alice.user_id).await);
    for org in [&acme, &globex] {
        assert!(!store.is_member(&org.id, &alice.user_id).await.unwrap());
        assert!(
            store
                .list_member_roles(&org.id, &alice.user_id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.count_members(&org.id).await.unwrap(), 1);
        let members = store.list_members(&org.id, &Page::all()).await.unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].user_id, bob.user_id);
        assert_eq!(
            store
                .list_member_roles(&org.id, &bob.user_id)
                .await
                .unwrap(),
            vec![admin.clone()]
        );
    }
    // The email is free again in that connection.
    store
        .insert_user(&user(&db.id, &alice.email), None)
        .await
        .unwrap();
    assert_not_found(store.delete_user(&alice.user_id).await);
}

async fn deleting_a_client_or_role_cascades(store: Store) {
    let web = client("Web");
    let m2m = client("M2M");
    store.insert_client(&web).await.unwrap();
    store.insert_client(&m2m).await.unwrap();
    let db = connection("db", Strategy::Database);
    store
        .insert_connection(&db, &[web.client_id.clone(), m2m.client_id.clone()])
        .await
        .unwrap();
    let g1 = grant(&web.client_id, "https://a.example.com/");
    let g2 = grant(&web.client_id, "https://b.example.com/");
    let g3 = grant(&m2m.client_id, "https://a.example.com/");
    for g in [&g1, &g2, &g3] {
        store.insert_client_grant(g).await.unwrap();
    }

    store.delete_client(&web.client_id).await.unwrap();
    assert_not_found(store.get_client(&web.client_id).await);
    assert_not_found(store.get_client_grant(&g1.id).await);
    assert_not_found(store.get_client_grant(&g2.id).await);
    assert_eq!(store.get_client_grant(&g3.id).await.unwrap(), g3);
    assert_eq!(
        store.list_connection_clients(&db.id).await.unwrap(),
        vec![m2m.client_id.clone()]
    );
    assert_not_found(store.delete_client(&web.client_id).await);

    // Deleting a role takes it away from members.
    let (acme, alice) = org_with_member(&store, "acme", &db).await;
    let admin = role("admin");
    let viewer = role("viewer");
    store.insert_role(&admin).await.unwrap();
    store.insert_role(&viewer).await.unwrap();
    store
        .insert_member_roles(
            &acme.id,
            &alice.user_id,
            &[admin.id.clone(), viewer.id.clone()],
        )
        .await
        .unwrap();
    store.delete_role(&admin.id).await.unwrap();
    assert_eq!(
        store
            .list_member_roles(&acme.id, &alice.user_id)
            .await
            .unwrap(),
        vec![viewer]
    );
    assert_not_found(store.delete_role(&admin.id).await);
}

// ---------------------------------------------------------------------------
// 5. Round trips
// ---------------------------------------------------------------------------

async fn organization_round_trip(store: Store) {
    let mut full = organization("acme");
    full.display_name = Some("Acme Corp — Ünïcode ✓".to_owned());
    full.branding = Some(Branding {
        logo_url: Some("https://cdn.example.com/logo.png?v=2".to_owned()),
        colors: Some(BrandingColors {
            primary: "#0059d6".to_owned(),
            page_background: "#fff".to_owned(),
        }),
    });
    full.metadata = object(json!({"tier": "gold", "region": "eu-west", "quote": "it's \"x\""}));
    let mut bare = organization("bare");
    bare.branding = Some(Branding::default());
    let minimal = organization("minimal");
    for org in [&full, &bare, &minimal] {
        store.insert_organization(org, &[]).await.unwrap();
        assert_eq!(&store.get_organization(&org.id).await.unwrap(), org);
        assert_eq!(
            &store.get_organization_by_name(&org.name).await.unwrap(),
            org
        );
    }

    // Every field changes.
    let mut updated = full.clone();
    updated.name = "acme-renamed".to_owned();
    updated.display_name = None;
    updated.branding = Some(Branding {
        logo_url: None,
        colors: Some(BrandingColors {
            primary: "#000000".to_owned(),
            page_background: "#abcdef".to_owned(),
        }),
    });
    updated.metadata = object(json!({"tier": "silver"}));
    store.update_organization(&updated).await.unwrap();
    assert_eq!(store.get_organization(&full.id).await.unwrap(), updated);
    assert_not_found(store.get_organization_by_name("acme").await);

    // And back to nothing.
    let mut cleared = updated.clone();
    cleared.display_name = Some("Acme".to_owned());
    cleared.branding = None;
    cleared.metadata = Map::new();
    store.update_organization(&cleared).await.unwrap();
    assert_eq!(store.get_organization(&full.id).await.unwrap(), cleared);
    assert_eq!(store.get_organization(&minimal.id).await.unwrap(), minimal);

    let mut listed = store.list_organizations(&Page::all()).await.unwrap();
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(listed, vec![cleared.clone(), bare.clone(), minimal.clone()]);

    let mut missing = organization("ghost");
    assert_not_found(store.get_organization(&missing.id).await);
    assert_not_found(store.get_organization_by_name("ghost").await);
    assert_not_found(store.update_organization(&missing).await);
    assert_not_found(store.delete_organization(&missing.id).await);
    missing.id = String::new();
    assert_not_found(store.get_organization(&missing.id).await);

    store.delete_organization(&full.id).await.unwrap();
    assert_not_found(store.get_organization(&full.id).await);
    assert_not_found(store.delete_organization(&full.id).await);
    assert_eq!(store.count_organizations().await.unwrap(), 2);
}

async fn connection_round_trip(store: Store) {
    let web = client("Web");
    let spa = client("SPA");
    store.insert_client(&web).await.unwrap();
    store.insert_client(&spa).await.unwrap();

    let mut oidc = connection("acme-oidc", Strategy::Oidc);
    oidc.display_name = Some("Acme SSO".to_owned());
    oidc.options = connection_options(
        Strategy::Oidc,
        json!({
            "client_id": "upstream-client",
            "client_secret": "s3cr3t",
            "issuer": "https://idp.example.com/",
            "type": "back_channel",
            "scope": "openid profile email",
            "domain_aliases": ["acme.test", "acme.example"],
            "nested": {"a": [1, 2.5, -3, true, false, null], "b": {"c": "ü✓"}},
            "big": 9_007_199_254_740_991_i64,
        }),
    );
    oidc.metadata = object(json!({"owner": "it@acme.test"}));
    oidc.is_domain_connection = true;
    oidc.show_as_button = Some(true);
    oidc.realms = vec!["acme.test".to_owned(), "acme.example".to_owned()];
    let mut hidden = connection("hidden-saml", Strategy::Saml);
    hidden.show_as_button = Some(false);
    hidden.realms = vec![];
    let db = connection("Username-Password-Authentication", Strategy::Database);
    assert_eq!(db.show_as_button, None);

    store
        .insert_connection(&oidc, &[web.client_id.clone(), spa.client_id.clone()])
        .await
        .unwrap();
    store.insert_connection(&hidden, &[]).await.unwrap();
    store.insert_connection(&db, &[]).await.unwrap();
    for con in [&oidc, &hidden, &db] {
        assert_eq!(&store.get_connection(&con.id).await.unwrap(), con);
    }
    let mut expected_clients = vec![web.client_id.clone(), spa.client_id.clone()];
    expected_clients.sort();
    assert_eq!(
        store.list_connection_clients(&oidc.id).await.unwrap(),
        expected_clients
    );

    // Update every mutable field; name and strategy are immutable (as in Auth0).
    let mut updated = oidc.clone();
    updated.display_name = None;
    updated.options = connection_options(
        Strategy::Oidc,
        json!({"client_id": "other", "issuer": "https://idp2.example.com/"}),
    );
    updated.metadata = Map::new();
    updated.is_domain_connection = false;
    updated.show_as_button = None;
    updated.realms = vec!["acme.org".to_owned()];
    store
        .update_connection(&updated, Some(std::slice::from_ref(&spa.client_id)))
        .await
        .unwrap();
    assert_eq!(store.get_connection(&oidc.id).await.unwrap(), updated);
    assert_eq!(
        store.list_connection_clients(&oidc.id).await.unwrap(),
        vec![spa.client_id.clone()]
    );
    // None leaves the enabled clients alone; Some(&[]) clears them.
    updated.show_as_button = Some(false);
    store.update_connection(&updated, None).await.unwrap();
    assert_eq!(store.get_connection(&oidc.id).await.unwrap(), updated);
    assert_eq!(
        store.list_connection_clients(&oidc.id).await.unwrap(),
        vec![spa.client_id.clone()]
    );
    store.update_connection(&updated, Some(&[])).await.unwrap();
    assert!(
        store
            .list_connection_clients(&oidc.id)
            .await
            .unwrap()
            .is_empty()
    );
    let mut renamed = updated.clone();
    renamed.name = "renamed".to_owned();
    renamed.strategy = Strategy::Github;
    store.update_connection(&renamed, None).await.unwrap();
    assert_eq!(store.get_connection(&oidc.id).await.unwrap(), updated);

    // A failed update (missing client) changes nothing.
    let mut failing = updated.clone();
    failing.display_name = Some("should not stick".to_owned());
    assert_missing_reference(
        store
            .update_connection(&failing, Some(&[ids::new_client_id()]))
            .await,
    );
    assert_eq!(store.get_connection(&oidc.id).await.unwrap(), updated);

    let missing = connection("ghost", Strategy::Database);
    assert_not_found(store.get_connection(&missing.id).await);
    assert_not_found(store.update_connection(&missing, None).await);
    assert_not_found(store.update_connection(&missing, Some(&[])).await);
    assert_not_found(store.delete_connection(&missing.id).await);
}

async fn client_round_trip(store: Store) {
    // Enough clients that every value of every enum is stored and read back.
    let mut clients = Vec::new();
    for i in 0..6 {
        let mut c = client(&format!("Client {i}"));
        c.app_type = AppType::ALL[i % AppType::ALL.len()];
        c.token_endpoint_auth_method =
            TokenEndpointAuthMethod::ALL[i % TokenEndpointAuthMethod::ALL.len()];
        c.organization_usage = OrganizationUsage::ALL[i % OrganizationUsage::ALL.len()];
        c.organization_require_behavior =
            OrganizationRequireBehavior::ALL[i % OrganizationRequireBehavior::ALL.len()];
        c.signing_alg = SigningAlg::ALL[i % SigningAlg::ALL.len()];
        c.grant_types = GrantType::ALL[..=(i % GrantType::ALL.len())].to_vec();
        c.grant_types.reverse(); // order is kept as given
        c.is_first_party = i % 2 == 0;
        if i % 2 == 1 {
            c.description = Some(format!("Description ✓ {i}"));
            c.client_secret_hash = None;
            c.callbacks = vec![
                "https://a.example.com/cb".to_owned(),
                "com.example.app:/callback".to_owned(),
            ];
            c.allowed_logout_urls = vec!["https://a.example.com/bye".to_owned()];
            c.web_origins = vec!["https://a.example.com".to_owned()];
            c.client_metadata = object(json!({"k": "v", "n": i, "nested": {"x": [1, "y"]}}));
        } else {
            c.callbacks = vec![];
        }
        store.insert_client(&c).await.unwrap();
        clients.push(c);
    }
    for c in &clients {
        assert_eq!(&store.get_client(&c.client_id).await.unwrap(), c);
    }
    clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    assert_eq!(store.list_clients(&Page::all()).await.unwrap(), clients);
    assert_eq!(store.count_clients().await.unwrap(), 6);

    let mut updated = clients[0].clone();
    updated.name = "Renamed".to_owned();
    updated.description = Some("now described".to_owned());
    updated.app_type = AppType::NonInteractive;
    updated.client_secret_hash = Some("b".repeat(64));
    updated.callbacks = vec!["https://new.example.com/cb".to_owned()];
    updated.allowed_logout_urls = vec![];
    updated.web_origins = vec!["https://new.example.com".to_owned()];
    updated.grant_types = vec![GrantType::ClientCredentials];
    updated.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
    updated.organization_usage = OrganizationUsage::Require;
    updated.organization_require_behavior = OrganizationRequireBehavior::PostLoginPrompt;
    updated.signing_alg = SigningAlg::EdDSA;
    updated.is_first_party = !updated.is_first_party;
    updated.client_metadata = object(json!({"changed": "yes"}));
    store.update_client(&updated).await.unwrap();
    assert_eq!(store.get_client(&updated.client_id).await.unwrap(), updated);
    assert_eq!(
        store.get_client(&clients[1].client_id).await.unwrap(),
        clients[1]
    );

    let missing = client("Ghost");
    assert_not_found(store.get_client(&missing.client_id).await);
    assert_not_found(store.update_client(&missing).await);
    assert_not_found(store.delete_client(&missing.client_id).await);
}

async fn client_grant_round_trip(store: Store) {
    let m2m = client("M2M");
    store.insert_client(&m2m).await.unwrap();
    let mut grants = Vec::new();
    let usages = [
        None,
        Some(OrganizationUsage::Deny),
        Some(OrganizationUsage::Allow),
        Some(OrganizationUsage::Require),
    ];
    for (i, usage) in usages.into_iter().enumerate() {
        let mut g = grant(&m2m.client_id, &format!("https://api{i}.example.com/"));
        g.organization_usage = usage;
        g.allow_any_organization = i % 2 == 1;
        g.scope = (0..i).map(|n| format!("scope:{n}")).collect();
        store.insert_client_grant(&g).await.unwrap();
        grants.push(g);
    }
    for g in &grants {
        assert_eq!(&store.get_client_grant(&g.id).await.unwrap(), g);
        assert_eq!(
            store
                .find_client_grant(&m2m.client_id, &g.audience)
                .await
                .unwrap()
                .as_ref(),
            Some(g)
        );
    }
    assert_eq!(
        store
            .find_client_grant(&m2m.client_id, "https://nope.example.com/")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_client_grant(&ids::new_client_id(), &grants[0].audience)
            .await
            .unwrap(),
        None
    );

    let mut updated = grants[0].clone();
    updated.scope = vec!["read:a".to_owned(), "write:b".to_owned()];
    updated.organization_usage = Some(OrganizationUsage::Require);
    updated.allow_any_organization = true;
    store.update_client_grant(&updated).await.unwrap();
    assert_eq!(store.get_client_grant(&updated.id).await.unwrap(), updated);
    updated.organization_usage = None;
    updated.scope = vec![];
    store.update_client_grant(&updated).await.unwrap();
    assert_eq!(store.get_client_grant(&updated.id).await.unwrap(), updated);

    let missing = grant(&m2m.client_id, "https://ghost.example.com/");
    assert_not_found(store.get_client_grant(&missing.id).await);
    assert_not_found(store.update_client_grant(&missing).await);
    assert_not_found(store.delete_client_grant(&missing.id).await);
    store.delete_client_grant(&grants[1].id).await.unwrap();
    assert_not_found(store.get_client_grant(&grants[1].id).await);
    assert_eq!(
        store
            .count_client_grants(&ClientGrantFilter::default())
            .await
            .unwrap(),
        3
    );
}

async fn user_round_trip(store: Store) {
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();
    let mut full = user(&db.id, "alice@example.com");
    full.email_verified = true;
    full.name = Some("Alice Ånström".to_owned());
    full.given_name = Some("Alice".to_owned());
    full.family_name = Some("Ånström".to_owned());
    full.nickname = Some("ali".to_owned());
    full.picture = Some("https://cdn.example.com/a.png".to_owned());
    full.blocked = true;
    full.app_metadata = object(json!({"plan": "pro", "seats": 5, "flags": [true, false]}));
    full.user_metadata = object(json!({"theme": {"dark": true}}));
    let bare = user(&db.id, "bob@example.com");

    let before = switchyard::clock::now_unix_millis();
    store
        .insert_user(&full, Some("$argon2id$hash"))
        .await
        .unwrap();
    store.insert_user(&bare, None).await.unwrap();
    for u in [&full, &bare] {
        let stored = store.get_user(&u.user_id).await.unwrap();
        assert_eq!(&stored.user, u);
        assert!(
            stored.created_at >= before,
            "created_at {}",
            stored.created_at
        );
        assert_eq!(stored.created_at, stored.updated_at);
    }
    let (found, hash) = store
        .find_password_user(&db.id, &full.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user, full);
    assert_eq!(hash.as_deref(), Some("$argon2id$hash"));
    let (_, no_hash) = store
        .find_password_user(&db.id, &bare.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(no_hash, None);
    assert!(
        store
            .find_password_user(&db.id, "nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let created = store.get_user(&full.user_id).await.unwrap().created_at;
    let mut updated = full.clone();
    updated.email = "alice@new.example.com".to_owned();
    updated.email_verified = false;
    updated.name = None;
    updated.given_name = Some("Al".to_owned());
    updated.family_name = None;
    updated.nickname = None;
    updated.picture = None;
    updated.blocked = false;
    updated.app_metadata = Map::new();
    updated.user_metadata = object(json!({"lang": "nl"}));
    store.update_user(&updated).await.unwrap();
    let stored = store.get_user(&full.user_id).await.unwrap();
    assert_eq!(stored.user, updated);
    assert_eq!(stored.created_at, created);
    assert!(stored.updated_at >= created);
    // The password hash survives a profile update and can be replaced.
    let (_, hash) = store
        .find_password_user(&db.id, &updated.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hash.as_deref(), Some("$argon2id$hash"));
    store
        .update_user_password(&full.user_id, "$argon2id$new")
        .await
        .unwrap();
    let (_, hash) = store
        .find_password_user(&db.id, &updated.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(store.get_user(&full.user_id).await.unwrap().user, updated);

    let missing = user(&db.id, "ghost@example.com");
    assert_not_found(store.get_user(&missing.user_id).await);
    assert_not_found(store.update_user(&missing).await);
    assert_not_found(store.update_user_password(&missing.user_id, "x").await);
    assert_not_found(store.delete_user(&missing.user_id).await);
}

async fn role_round_trip(store: Store) {
    let mut admin = role("admin");
    admin.description = Some("Can do everything ✓".to_owned());
    let viewer = role("viewer");
    store.insert_role(&admin).await.unwrap();
    store.insert_role(&viewer).await.unwrap();
    assert_eq!(store.get_role(&admin.id).await.unwrap(), admin);
    assert_eq!(store.get_role(&viewer.id).await.unwrap(), viewer);
    let mut all = vec![admin.clone(), viewer.clone()];
    all.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(store.list_roles(&Page::all()).await.unwrap(), all);

    let mut updated = admin.clone();
    updated.name = "owner".to_owned();
    updated.description = None;
    store.update_role(&updated).await.unwrap();
    assert_eq!(store.get_role(&admin.id).await.unwrap(), updated);
    let mut described = viewer.clone();
    described.description = Some("Reads".to_owned());
    store.update_role(&described).await.unwrap();
    assert_eq!(store.get_role(&viewer.id).await.unwrap(), described);

    let missing = role("ghost");
    assert_not_found(store.get_role(&missing.id).await);
    assert_not_found(store.update_role(&missing).await);
    assert_not_found(store.delete_role(&missing.id).await);
    store.delete_role(&viewer.id).await.unwrap();
    assert_not_found(store.get_role(&viewer.id).await);
    assert_eq!(store.count_roles().await.unwrap(), 1);
}

async fn enabled_connection_round_trip(store: Store) {
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    let sso = connection("acme-sso", Strategy::Oidc);
    let db = connection("db", Strategy::Database);
    store.insert_connection(&sso, &[]).await.unwrap();
    store.insert_connection(&db, &[]).await.unwrap();

    let mut on_sso = enabled(&org.id, &sso.id);
    on_sso.show_as_button = true;
    on_sso.assign_membership_on_login = true;
    on_sso.organization_connection_name = Some("acme-login".to_owned());
    on_sso.organization_access_level = OrganizationAccessLevel::Limited;
    let mut on_db = enabled(&org.id, &db.id);
    on_db.assign_membership_on_login = true;
    on_db.is_signup_enabled = true;
    store.insert_enabled_connection(&on_sso).await.unwrap();
    store.insert_enabled_connection(&on_db).await.unwrap();

    let view = store
        .get_enabled_connection(&org.id, &sso.id)
        .await
        .unwrap();
    assert_eq!(view.enabled, on_sso);
    assert_eq!(view.connection_name, sso.name);
    assert_eq!(view.strategy, Strategy::Oidc);
    let view = store.get_enabled_connection(&org.id, &db.id).await.unwrap();
    assert_eq!(view.enabled, on_db);
    assert_eq!(view.strategy, Strategy::Database);

    let listed = store
        .list_enabled_connections(&org.id, &Page::all())
        .await
        .unwrap();
    let mut expected = vec![on_sso.clone(), on_db.clone()];
    expected.sort_by(|a, b| a.connection_id.cmp(&b.connection_id));
    assert_eq!(
        listed.iter().map(|v| v.enabled.clone()).collect::<Vec<_>>(),
        expected
    );

    for level in [
        OrganizationAccessLevel::None,
        OrganizationAccessLevel::Readonly,
        OrganizationAccessLevel::Full,
    ] {
        let mut updated = on_sso.clone();
        updated.show_as_button = false;
        updated.assign_membership_on_login = false;
        updated.organization_connection_name = None;
        updated.organization_access_level = level;
        store.update_enabled_connection(&updated).await.unwrap();
        assert_eq!(
            store
                .get_enabled_connection(&org.id, &sso.id)
                .await
                .unwrap()
                .enabled,
            updated
        );
    }

    let ghost = enabled(&org.id, &new_id(ids::CONNECTION));
    assert_not_found(
        store
            .get_enabled_connection(&org.id, &ghost.connection_id)
            .await,
    );
    assert_not_found(store.update_enabled_connection(&ghost).await);
    assert_not_found(
        store
            .delete_enabled_connection(&org.id, &ghost.connection_id)
            .await,
    );
    store
        .delete_enabled_connection(&org.id, &db.id)
        .await
        .unwrap();
    assert_not_found(store.get_enabled_connection(&org.id, &db.id).await);
    assert_eq!(store.count_enabled_connections(&org.id).await.unwrap(), 1);
    // The connection itself stays.
    assert_eq!(store.get_connection(&db.id).await.unwrap(), db);
}

async fn members_and_member_roles(store: Store) {
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    let mut users = Vec::new();
    for i in 0..5 {
        let mut u = user(&db.id, &format!("user{i}@example.com"));
        if i % 2 == 0 {
            u.name = Some(format!("User {i}"));
            u.picture = Some(format!("https://cdn.example.com/{i}.png"));
        }
        store.insert_user(&u, None).await.unwrap();
        users.push(u);
    }
    let user_ids: Vec<String> = users.iter().map(|u| u.user_id.clone()).collect();
    store.insert_members(&org.id, &user_ids).await.unwrap();
    // Adding again is a no-op, not a conflict.
    store.insert_members(&org.id, &user_ids[..2]).await.unwrap();
    assert_eq!(store.count_members(&org.id).await.unwrap(), 5);

    let members = store.list_members(&org.id, &Page::all()).await.unwrap();
    let mut sorted = users.clone();
    sorted.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    assert_eq!(members.len(), 5);
    for (m, u) in members.iter().zip(&sorted) {
        assert_eq!(m.user_id, u.user_id);
        assert_eq!(m.email, u.email);
        assert_eq!(m.name, u.name);
        assert_eq!(m.picture, u.picture);
    }
    let page = Page {
        offset: 0,
        limit: 2,
        after_id: Some(sorted[1].user_id.clone()),
    };
    let next: Vec<_> = store
        .list_members(&org.id, &page)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    assert_eq!(
        next,
        vec![sorted[2].user_id.clone(), sorted[3].user_id.clone()]
    );

    let zeta = role("zeta");
    let alpha = role("alpha");
    store.insert_role(&zeta).await.unwrap();
    store.insert_role(&alpha).await.unwrap();
    let both = [zeta.id.clone(), alpha.id.clone()];
    store
        .insert_member_roles(&org.id, &user_ids[0], &both)
        .await
        .unwrap();
    store
        .insert_member_roles(&org.id, &user_ids[0], &both[..1])
        .await
        .unwrap();
    // Ordered by role name.
    assert_eq!(
        store
            .list_member_roles(&org.id, &user_ids[0])
            .await
            .unwrap(),
        vec![alpha.clone(), zeta.clone()]
    );
    store
        .delete_member_roles(&org.id, &user_ids[0], &both[..1])
        .await
        .unwrap();
    assert_eq!(
        store
            .list_member_roles(&org.id, &user_ids[0])
            .await
            .unwrap(),
        vec![alpha.clone()]
    );

    // Removing a member removes their roles in that organization.
    store.delete_members(&org.id, &user_ids[..1]).await.unwrap();
    assert!(!store.is_member(&org.id, &user_ids[0]).await.unwrap());
    assert!(store.is_member(&org.id, &user_ids[1]).await.unwrap());
    assert_eq!(store.count_members(&org.id).await.unwrap(), 4);
    store.insert_members(&org.id, &user_ids[..1]).await.unwrap();
    assert!(
        store
            .list_member_roles(&org.id, &user_ids[0])
            .await
            .unwrap()
            .is_empty()
    );
    // Deleting someone who is not a member is not an error.
    store
        .delete_members(&org.id, &[new_id(ids::USER)])
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// 6. Paging
// ---------------------------------------------------------------------------

async fn organizations_paging(store: Store) {
    const N: usize = 23;
    const LIMIT: i64 = 5;
    let mut expected = Vec::new();
    for i in 0..N {
        let org = organization(&format!("org-{i:02}"));
        store.insert_organization(&org, &[]).await.unwrap();
        expected.push(org.id);
    }
    expected.sort();
    assert_eq!(store.count_organizations().await.unwrap(), N as i64);

    // Checkpoint paging: after_id = the last id of the previous page.
    let mut walked = Vec::new();
    let mut after_id = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_organizations(&Page {
                offset: 0,
                limit: LIMIT,
                after_id: after_id.clone(),
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() as i64 <= LIMIT);
        pages += 1;
        assert!(pages <= N, "checkpoint paging does not end");
        after_id = page.last().map(|o| o.id.clone());
        walked.extend(page.into_iter().map(|o| o.id));
    }
    assert_eq!(
        walked, expected,
        "checkpoint paging: every row once, in id order"
    );
    assert_eq!(pages, N.div_ceil(LIMIT as usize));

    // Offset paging.
    let mut walked = Vec::new();
    for offset in (0..N as i64).step_by(LIMIT as usize) {
        let page = store
            .list_organizations(&Page {
                offset,
                limit: LIMIT,
                after_id: None,
            })
            .await
            .unwrap();
        assert_eq!(
            page.len() as i64,
            LIMIT.min(N as i64 - offset),
            "offset {offset}"
        );
        walked.extend(page.into_iter().map(|o| o.id));
    }
    assert_eq!(
        walked, expected,
        "offset paging: every row once, in id order"
    );
    assert!(
        store
            .list_organizations(&Page {
                offset: N as i64,
                limit: LIMIT,
                after_id: None,
            })
            .await
            .unwrap()
            .is_empty()
    );
    // Both at once: the offset counts from the checkpoint.
    let page = store
        .list_organizations(&Page {
            offset: 2,
            limit: 3,
            after_id: Some(expected[4].clone()),
        })
        .await
        .unwrap();
    assert_eq!(
        page.into_iter().map(|o| o.id).collect::<Vec<_>>(),
        expected[7..10].to_vec()
    );
    // A checkpoint that is not an existing id still works (ids sort as text).
    let page = store
        .list_organizations(&Page {
            offset: 0,
            limit: i64::MAX,
            after_id: Some("org_".to_owned()),
        })
        .await
        .unwrap();
    assert_eq!(page.len(), N);
    assert_eq!(
        store.list_organizations(&Page::all()).await.unwrap().len(),
        N
    );
}

async fn roles_and_clients_paging(store: Store) {
    const N: usize = 11;
    let mut role_ids = Vec::new();
    let mut client_ids = Vec::new();
    for i in 0..N {
        let r = role(&format!("role-{i}"));
        store.insert_role(&r).await.unwrap();
        role_ids.push(r.id);
        let c = client(&format!("Client {i}"));
        store.insert_client(&c).await.unwrap();
        client_ids.push(c.client_id);
    }
    role_ids.sort();
    client_ids.sort();
    assert_eq!(store.count_roles().await.unwrap(), N as i64);
    assert_eq!(store.count_clients().await.unwrap(), N as i64);

    let (mut roles, mut clients) = (Vec::new(), Vec::new());
    let (mut role_after, mut client_after) = (None, None);
    loop {
        let page = Page {
            offset: 0,
            limit: 4,
            after_id: role_after.clone(),
        };
        let got = store.list_roles(&page).await.unwrap();
        if got.is_empty() {
            break;
        }
        role_after = got.last().map(|r| r.id.clone());
        roles.extend(got.into_iter().map(|r| r.id));
    }
    loop {
        let page = Page {
            offset: 0,
            limit: 4,
            after_id: client_after.clone(),
        };
        let got = store.list_clients(&page).await.unwrap();
        if got.is_empty() {
            break;
        }
        client_after = got.last().map(|c| c.client_id.clone());
        clients.extend(got.into_iter().map(|c| c.client_id));
    }
    assert_eq!(roles, role_ids);
    assert_eq!(clients, client_ids);
    let page = Page {
        offset: 8,
        limit: 10,
        after_id: None,
    };
    assert_eq!(
        store
            .list_roles(&page)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        role_ids[8..].to_vec()
    );
}

// ---------------------------------------------------------------------------
// 7. Filters
// ---------------------------------------------------------------------------

async fn connection_filters(store: Store) {
    let mut all = Vec::new();
    for (name, strategy) in [
        ("db-one", Strategy::Database),
        ("db-two", Strategy::Database),
        ("db-three", Strategy::Database),
        ("acme-oidc", Strategy::Oidc),
        ("globex-oidc", Strategy::Oidc),
        ("google-oauth2", Strategy::Google),
    ] {
        let con = connection(name, strategy);
        store.insert_connection(&con, &[]).await.unwrap();
        all.push(con);
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));

    let check = |filter: ConnectionFilter, expected: Vec<Connection>| {
        let store = store.clone();
        async move {
            let listed = store.list_connections(&filter, &Page::all()).await.unwrap();
            assert_eq!(listed, expected, "{filter:?}");
            assert_eq!(
                store.count_connections(&filter).await.unwrap(),
                expected.len() as i64,
                "{filter:?}"
            );
        }
    };
    let with = |pred: &dyn Fn(&Connection) -> bool| -> Vec<Connection> {
        all.iter().filter(|c| pred(c)).cloned().collect()
    };

    check(ConnectionFilter::default(), all.clone()).await;
    for strategy in Strategy::ALL {
        check(
            ConnectionFilter {
                strategy: Some(strategy),
                name: None,
            },
            with(&|c| c.strategy == strategy),
        )
        .await;
    }
    check(
        ConnectionFilter {
            strategy: None,
            name: Some("acme-oidc".to_owned()),
        },
        with(&|c| c.name == "acme-oidc"),
    )
    .await;
    check(
        ConnectionFilter {
            strategy: Some(Strategy::Oidc),
            name: Some("globex-oidc".to_owned()),
        },
        with(&|c| c.name == "globex-oidc"),
    )
    .await;
    check(
        ConnectionFilter {
            strategy: Some(Strategy::Database),
            name: Some("globex-oidc".to_owned()),
        },
        vec![],
    )
    .await;
    check(
        ConnectionFilter {
            strategy: None,
            name: Some("nope".to_owned()),
        },
        vec![],
    )
    .await;
    // Names match exactly, not by prefix or case-insensitively.
    check(
        ConnectionFilter {
            strategy: None,
            name: Some("DB-ONE".to_owned()),
        },
        vec![],
    )
    .await;
    check(
        ConnectionFilter {
            strategy: None,
            name: Some("db".to_owned()),
        },
        vec![],
    )
    .await;

    // Filters combine with paging.
    let databases = with(&|c| c.strategy == Strategy::Database);
    let filter = ConnectionFilter {
        strategy: Some(Strategy::Database),
        name: None,
    };
    let first = store
        .list_connections(
            &filter,
            &Page {
                offset: 0,
                limit: 2,
                after_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(first, databases[..2].to_vec());
    let rest = store
        .list_connections(
            &filter,
            &Page {
                offset: 0,
                limit: 2,
                after_id: Some(first[1].id.clone()),
            },
        )
        .await
        .unwrap();
    assert_eq!(rest, databases[2..].to_vec());
}

async fn client_grant_filters(store: Store) {
    let web = client("Web");
    let m2m = client("M2M");
    store.insert_client(&web).await.unwrap();
    store.insert_client(&m2m).await.unwrap();
    let a = "https://a.example.com/";
    let b = "https://b.example.com/";
    let mut all = vec![
        grant(&web.client_id, a),
        grant(&web.client_id, b),
        grant(&m2m.client_id, a),
    ];
    for g in &all {
        store.insert_client_grant(g).await.unwrap();
    }
    all.sort_by(|x, y| x.id.cmp(&y.id));

    let cases = [
        (None, None),
        (Some(web.client_id.as_str()), None),
        (Some(m2m.client_id.as_str()), None),
        (None, Some(a)),
        (None, Some(b)),
        (Some(web.client_id.as_str()), Some(a)),
        (Some(m2m.client_id.as_str()), Some(b)),
        (Some("unknown-client"), None),
        (None, Some("https://unknown.example.com/")),
    ];
    let expected_counts = [3, 2, 1, 2, 1, 1, 0, 0, 0];
    for ((client_id, audience), count) in cases.into_iter().zip(expected_counts) {
        let filter = ClientGrantFilter {
            client_id: client_id.map(str::to_owned),
            audience: audience.map(str::to_owned),
        };
        let expected: Vec<ClientGrant> = all
            .iter()
            .filter(|g| client_id.is_none_or(|c| g.client_id == c))
            .filter(|g| audience.is_none_or(|x| g.audience == x))
            .cloned()
            .collect();
        assert_eq!(expected.len(), count, "{filter:?}");
        assert_eq!(
            store
                .list_client_grants(&filter, &Page::all())
                .await
                .unwrap(),
            expected,
            "{filter:?}"
        );
        assert_eq!(
            store.count_client_grants(&filter).await.unwrap(),
            count as i64,
            "{filter:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// 8. Signing keys
// ---------------------------------------------------------------------------

fn kids_of(ring: &KeyRing) -> BTreeSet<String> {
    ring.summaries().into_iter().map(|k| k.kid).collect()
}

/// The kid of `alg`'s key in `state`, asserting there is exactly one.
fn kid_in_state(ring: &KeyRing, alg: SigningAlg, state: &str) -> String {
    let matching: Vec<_> = ring
        .summaries()
        .into_iter()
        .filter(|k| k.alg == alg.as_str() && k.state == state)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "{alg:?} keys in state {state}: {matching:?}"
    );
    let key = &matching[0];
    assert_eq!(key.current, state == "current");
    assert_eq!(key.next, state == "next");
    assert_eq!(key.previous, state == "previous");
    key.kid.clone()
}

fn jwks_kids(ring: &KeyRing) -> BTreeSet<String> {
    let jwks: Value = serde_json::from_str(&ring.jwks_json()).unwrap();
    let keys = jwks["keys"].as_array().expect("jwks.keys is an array");
    keys.iter()
        .map(|k| {
            assert!(
                k.get("d").is_none(),
                "private key material in the JWKS: {k}"
            );
            assert_eq!(k["use"], "sig");
            k["kid"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[track_caller]
fn assert_fresh_ring(ring: &KeyRing) {
    let summaries = ring.summaries();
    assert_eq!(summaries.len(), 6, "{summaries:?}");
    for alg in SigningAlg::ALL.iter().copied() {
        let current = kid_in_state(ring, alg, "current");
        let next = kid_in_state(ring, alg, "next");
        assert_ne!(current, next);
        assert_eq!(ring.current_kid(alg), Some(current));
    }
    assert_eq!(jwks_kids(ring), kids_of(ring));
}

async fn signing_keys_are_created_once(store: Store) {
    assert!(store.list_live_signing_keys().await.unwrap().is_empty());
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    assert_fresh_ring(&ring);
    let stored = store.list_live_signing_keys().await.unwrap();
    assert_eq!(stored.len(), 6);
    assert_eq!(
        stored
            .iter()
            .map(|k| k.kid.clone())
            .collect::<BTreeSet<_>>(),
        kids_of(&ring)
    );

    // Loading again (a restart, another node) reuses them.
    let again = KeyRing::load_or_init(&store).await.unwrap();
    assert_eq!(kids_of(&again), kids_of(&ring));
    let (a, b) = tokio::join!(KeyRing::load_or_init(&store), KeyRing::load_or_init(&store));
    assert_eq!(kids_of(&a.unwrap()), kids_of(&ring));
    assert_eq!(kids_of(&b.unwrap()), kids_of(&ring));
    assert_eq!(store.list_live_signing_keys().await.unwrap().len(), 6);
}

async fn signing_keys_concurrent_init(store: Store) {
    // Several nodes starting at once on an empty store agree on one set of keys.
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { KeyRing::load_or_init(&store).await.unwrap() })
        })
        .collect();
    let mut rings = Vec::new();
    for task in tasks {
        rings.push(task.await.unwrap());
    }
    let stored = store.list_live_signing_keys().await.unwrap();
    assert_eq!(
        stored.len(),
        6,
        "{:?}",
        stored
            .iter()
            .map(|k| (&k.alg, &k.state))
            .collect::<Vec<_>>()
    );
    let stored_kids: BTreeSet<_> = stored.iter().map(|k| k.kid.clone()).collect();
    for ring in &rings {
        assert_fresh_ring(ring);
        assert_eq!(kids_of(ring), stored_kids);
    }
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    assert_eq!(kids_of(&ring), stored_kids);
    assert_eq!(store.list_live_signing_keys().await.unwrap().len(), 6);
}

async fn signing_key_rotation(store: Store) {
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    let other_node = KeyRing::load_or_init(&store).await.unwrap();
    let current0 = kid_in_state(&ring, SigningAlg::RS256, "current");
    let next0 = kid_in_state(&ring, SigningAlg::RS256, "next");
    let untouched: BTreeSet<_> = ring
        .summaries()
        .into_iter()
        .filter(|k| k.alg != "RS256")
        .map(|k| (k.kid, k.state))
        .collect();

    let new_current = ring.rotate(&store, SigningAlg::RS256).await.unwrap();
    assert_eq!(new_current, next0, "the old next key becomes current");
    assert_eq!(kid_in_state(&ring, SigningAlg::RS256, "current"), next0);
    assert_eq!(kid_in_state(&ring, SigningAlg::RS256, "previous"), current0);
    let next1 = kid_in_state(&ring, SigningAlg::RS256, "next");
    assert!(next1 != current0 && next1 != next0);
    assert_eq!(ring.current_kid(SigningAlg::RS256), Some(next0.clone()));
    assert_eq!(ring.summaries().len(), 7);
    assert_eq!(jwks_kids(&ring), kids_of(&ring));
    assert!(jwks_kids(&ring).contains(&current0));
    let after: BTreeSet<_> = ring
        .summaries()
        .into_iter()
        .filter(|k| k.alg != "RS256")
        .map(|k| (k.kid, k.state))
        .collect();
    assert_eq!(after, untouched, "rotating RS256 touched other algorithms");

    // Another node sees the rotation after reloading.
    assert_eq!(other_node.summaries().len(), 6);
    other_node.reload(&store).await.unwrap();
    assert_eq!(kids_of(&other_node), kids_of(&ring));
    assert_eq!(
        kid_in_state(&other_node, SigningAlg::RS256, "previous"),
        current0
    );

    // The second rotation retires the first previous key.
    let newer_current = ring.rotate(&store, SigningAlg::RS256).await.unwrap();
    assert_eq!(newer_current, next1);
    assert_eq!(kid_in_state(&ring, SigningAlg::RS256, "previous"), next0);
    let next2 = kid_in_state(&ring, SigningAlg::RS256, "next");
    assert!(![&current0, &next0, &next1].contains(&&next2));
    assert_eq!(ring.summaries().len(), 7);
    assert!(!kids_of(&ring).contains(&current0));
    assert!(!jwks_kids(&ring).contains(&current0));
    assert!(!ring.jwks_json().contains(current0.as_str()));
    let live: BTreeSet<_> = store
        .list_live_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(live, kids_of(&ring));

    // Restarting on a rotated store creates nothing new.
    let restarted = KeyRing::load_or_init(&store).await.unwrap();
    assert_eq!(kids_of(&restarted), kids_of(&ring));

    // Each algorithm rotates on its own.
    for alg in [SigningAlg::ES256, SigningAlg::EdDSA] {
        let next = kid_in_state(&ring, alg, "next");
        assert_eq!(ring.rotate(&store, alg).await.unwrap(), next);
    }
    assert_eq!(ring.summaries().len(), 9);
    assert_eq!(store.list_live_signing_keys().await.unwrap().len(), 9);
}

async fn signing_key_conflicts(store: Store) {
    // The partial unique indexes allow one current and one next key per
    // algorithm; a second is refused as a conflict (which load_or_init relies on).
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    let stored = store.list_live_signing_keys().await.unwrap();
    for state in ["current", "next"] {
        let existing = stored
            .iter()
            .find(|k| k.alg == "ES256" && k.state == state)
            .unwrap();
        let mut duplicate = existing.clone();
        duplicate.kid = new_id(ids::SIGNING_KEY);
        match store.insert_signing_key(&duplicate).await {
            Err(StoreError::Conflict(name)) => assert_eq!(name, "signing_keys_alg_state_key"),
            other => panic!("second {state} ES256 key: expected a Conflict, got {other:?}"),
        }
        // The same kid again (in a state that allows many) is a primary key conflict.
        let mut same_kid = existing.clone();
        same_kid.state = "previous".to_owned();
        assert_conflict(
            store.insert_signing_key(&same_kid).await,
            "signing_keys_pkey",
        );
    }
    // Any number of previous keys is fine.
    let mut old = stored[0].clone();
    old.kid = new_id(ids::SIGNING_KEY);
    old.state = "previous".to_owned();
    store.insert_signing_key(&old).await.unwrap();
    old.kid = new_id(ids::SIGNING_KEY);
    store.insert_signing_key(&old).await.unwrap();
    // An unknown state is refused by the check constraint.
    let mut bogus = stored[0].clone();
    bogus.kid = new_id(ids::SIGNING_KEY);
    bogus.state = "bogus".to_owned();
    assert_conflict(
        store.insert_signing_key(&bogus).await,
        "signing_keys_state_check",
    );
    assert_eq!(store.list_live_signing_keys().await.unwrap().len(), 8);
    drop(ring);
}

const ISSUER: &str = "https://switchyard.test/";
const AUDIENCE: &str = "https://api.example.com/";

fn now_secs() -> i64 {
    switchyard::clock::now_unix_seconds()
}

fn claims(subject: &str) -> Value {
    let now = now_secs();
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "iat": now,
        "exp": now + 300,
        "scope": "read:things",
    })
}

fn validation() -> Validation {
    // The algorithm list is replaced by verify() from the key.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation
}

fn header_kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn tokens_sign_verify_and_rotate(store: Store) {
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    let other_node = KeyRing::load_or_init(&store).await.unwrap();
    for alg in SigningAlg::ALL.iter().copied() {
        let subject = format!("user-{}", alg.as_str());
        let token = ring.sign(alg, "at+jwt", &claims(&subject)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid, ring.current_kid(alg));
        let verified: Value = ring
            .verify(&token, "at+jwt", validation(), now_secs())
            .unwrap();
        assert_eq!(verified["sub"], subject.as_str());
        assert_eq!(verified["iss"], ISSUER);
        assert_eq!(verified["aud"], AUDIENCE);
        assert_eq!(verified["scope"], "read:things");
        let verified: Value = other_node
            .verify(&token, "at+jwt", validation(), now_secs())
            .unwrap();
        assert_eq!(verified["sub"], subject.as_str());

        // Explicit typing: an access token is not an ID token.
        match ring.verify::<Value>(&token, "JWT", validation(), now_secs()) {
            Err(TokenRejected::WrongType(typ)) => assert_eq!(typ.as_deref(), Some("at+jwt")),
            other => panic!("{alg:?}: expected WrongType, got {other:?}"),
        }
        let id_token = ring.sign(alg, "JWT", &claims(&subject)).unwrap();
        match ring.verify::<Value>(&id_token, "at+jwt", validation(), now_secs()) {
            Err(TokenRejected::WrongType(typ)) => assert_eq!(typ.as_deref(), Some("JWT")),
            other => panic!("{alg:?}: expected WrongType, got {other:?}"),
        }
        // Audience and tampering are still checked.
        let mut wrong_audience = validation();
        wrong_audience.set_audience(&["https://other.example.com/"]);
        assert!(matches!(
            ring.verify::<Value>(&token, "at+jwt", wrong_audience, now_secs()),
            Err(TokenRejected::Invalid(_))
        ));
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let mut bytes = signature.as_bytes().to_vec();
        bytes[2] = if bytes[2] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{signed}.{}", String::from_utf8(bytes).unwrap());
        assert!(matches!(
            ring.verify::<Value>(&tampered, "at+jwt", validation(), now_secs()),
            Err(TokenRejected::Invalid(_))
        ));

        // One rotation: the old key is previous and still verifies; the new
        // current key signs. A node that has not reloaded yet still accepts
        // the new key's tokens, because it already knew it as `next`.
        let old_kid = header_kid(&token);
        ring.rotate(&store, alg).await.unwrap();
        let verified: Value = ring
            .verify(&token, "at+jwt", validation(), now_secs())
            .unwrap();
        assert_eq!(verified["sub"], subject.as_str());
        let newer = ring.sign(alg, "at+jwt", &claims(&subject)).unwrap();
        assert_ne!(header_kid(&newer), old_kid);
        let _: Value = ring
            .verify(&newer, "at+jwt", validation(), now_secs())
            .unwrap();
        let _: Value = other_node
            .verify(&newer, "at+jwt", validation(), now_secs())
            .unwrap();

        // Two rotations: the first key is retired and its tokens are rejected.
        ring.rotate(&store, alg).await.unwrap();
        match ring.verify::<Value>(&token, "at+jwt", validation(), now_secs()) {
            Err(TokenRejected::UnknownKey) => {}
            other => panic!("{alg:?}: expected UnknownKey after two rotations, got {other:?}"),
        }
        let _: Value = ring
            .verify(&newer, "at+jwt", validation(), now_secs())
            .unwrap();
        other_node.reload(&store).await.unwrap();
        assert!(matches!(
            other_node.verify::<Value>(&token, "at+jwt", validation(), now_secs()),
            Err(TokenRejected::UnknownKey)
        ));
        let _: Value = other_node
            .verify(&newer, "at+jwt", validation(), now_secs())
            .unwrap();
    }
    // A token without a kid is not verified against some key anyway.
    let unsigned = {
        let header = jsonwebtoken::Header::new(Algorithm::HS256);
        let mut header = header;
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(
            &header,
            &claims("x"),
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .unwrap()
    };
    assert!(matches!(
        ring.verify::<Value>(&unsigned, "at+jwt", validation(), now_secs()),
        Err(TokenRejected::UnknownKey)
    ));
}

// ---------------------------------------------------------------------------
// 9. claim_setting
// ---------------------------------------------------------------------------

async fn claim_setting_once(store: Store) {
    assert_eq!(store.get_setting("demo_seeded").await.unwrap(), None);
    assert!(store.claim_setting("demo_seeded", "first").await.unwrap());
    assert!(!store.claim_setting("demo_seeded", "second").await.unwrap());
    assert_eq!(
        store.get_setting("demo_seeded").await.unwrap().as_deref(),
        Some("first")
    );
    assert!(store.claim_setting("other", "x").await.unwrap());
    assert!(!store.claim_setting("other", "x").await.unwrap());
}

async fn claim_setting_concurrent(store: Store) {
    const ROUNDS: usize = 12;
    let (first, second) = (store.clone(), store.clone());
    for round in 0..ROUNDS {
        let key = format!("once-{round}");
        let (a, b) = tokio::join!(
            first.claim_setting(&key, "a"),
            second.claim_setting(&key, "b")
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(
            a ^ b,
            "round {round}: exactly one claim must win, got {a} and {b}"
        );
        let winner = if a { "a" } else { "b" };
        assert_eq!(
            store.get_setting(&key).await.unwrap().as_deref(),
            Some(winner)
        );
    }
    // Many claimants at once.
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_setting("crowd", &i.to_string()).await })
        })
        .collect();
    let mut wins = HashSet::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if task.await.unwrap().unwrap() {
            wins.insert(i.to_string());
        }
    }
    assert_eq!(wins.len(), 1, "exactly one of the crowd wins: {wins:?}");
    assert_eq!(
        store.get_setting("crowd").await.unwrap(),
        wins.into_iter().next()
    );
}

// ---------------------------------------------------------------------------
// Concurrency: idempotent inserts and rotations racing each other
// ---------------------------------------------------------------------------

/// Adding members (and member roles) is documented as idempotent and is
/// called from concurrent requests: it must neither fail on a busy SQLite
/// database nor report a conflict when two requests add the same member.
async fn concurrent_member_inserts(store: Store) {
    const ROUNDS: usize = 100;
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();
    let admin = role("admin");
    store.insert_role(&admin).await.unwrap();
    let (acme, globex) = (organization("acme"), organization("globex"));
    store.insert_organization(&acme, &[]).await.unwrap();
    store.insert_organization(&globex, &[]).await.unwrap();
    let (first, second) = (store.clone(), store.clone());
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        let u = user(&db.id, &format!("user{round}@example.com"));
        store.insert_user(&u, None).await.unwrap();
        let member = std::slice::from_ref(&u.user_id);
        // Different organizations, and the same organization twice.
        let (a, b) = tokio::join!(
            first.insert_members(&acme.id, member),
            second.insert_members(&globex.id, member)
        );
        let (c, d) = tokio::join!(
            first.insert_members(&acme.id, member),
            second.insert_members(&acme.id, member)
        );
        let roles = std::slice::from_ref(&admin.id);
        let (e, f) = tokio::join!(
            first.insert_member_roles(&acme.id, &u.user_id, roles),
            second.insert_member_roles(&acme.id, &u.user_id, roles)
        );
        for (what, result) in [
            ("two orgs", a),
            ("two orgs", b),
            ("same org", c),
            ("same org", d),
            ("member roles", e),
            ("member roles", f),
        ] {
            if let Err(err) = result {
                failures.push(format!("round {round}, {what}: {err:?}"));
            }
        }
        assert!(store.is_member(&acme.id, &u.user_id).await.unwrap());
        assert!(store.is_member(&globex.id, &u.user_id).await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} of {} concurrent idempotent inserts failed, e.g.: {:#?}",
        failures.len(),
        ROUNDS * 6,
        &failures[..failures.len().min(5)]
    );
    assert_eq!(store.count_members(&acme.id).await.unwrap(), ROUNDS as i64);
}

/// Two nodes (or two admin calls) rotating the same algorithm at once must
/// both succeed or one lose with a conflict, and always leave one current, one next
/// and one previous key.
async fn concurrent_rotations(store: Store) {
    let first = KeyRing::load_or_init(&store).await.unwrap();
    let second = KeyRing::load_or_init(&store).await.unwrap();
    let mut failures = Vec::new();
    for round in 0..10 {
        let (a, b) = tokio::join!(
            first.rotate(&store, SigningAlg::EdDSA),
            second.rotate(&store, SigningAlg::EdDSA)
        );
        for result in [a, b] {
            match result {
                // Losing the race cleanly is acceptable.
                Ok(_) | Err(KeyError::Store(StoreError::Conflict(_))) => {}
                Err(e) => failures.push(format!("round {round}: rotate failed: {e}")),
            }
        }
        let mut states: Vec<_> = store
            .list_live_signing_keys()
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.alg == "EdDSA")
            .map(|k| k.state)
            .collect();
        states.sort();
        if states != ["current", "next", "previous"] {
            failures.push(format!("round {round}: live EdDSA keys {states:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------
// Login throttling: windows, and counting under concurrency
// ---------------------------------------------------------------------------

async fn login_throttle_windows(store: Store) {
    let count = |key: &'static str, now: i64, window: ThrottleWindow| {
        let store = store.clone();
        async move {
            store
                .count_login_attempt(key, now, 1000, window)
                .await
                .unwrap()
        }
    };
    // A fixed window opens at the first attempt and closes one length later.
    let fixed = ThrottleWindow::Fixed;
    assert_eq!(count("ip", 0, fixed).await, 1);
    assert_eq!(count("ip", 10, fixed).await, 2);
    assert_eq!(count("ip", 999, fixed).await, 3);
    assert_eq!(count("ip", 1000, fixed).await, 1, "window passed");
    assert_eq!(count("ip", 1999, fixed).await, 2);
    assert_eq!(count("ip", 2000, fixed).await, 1);

    // Consecutive attempts reopen the window until the limit (3) is reached,
    // which then holds for one window from the attempt that reached it.
    let until = ThrottleWindow::UntilLimit(3);
    assert_eq!(count("acct", 0, until).await, 1);
    assert_eq!(count("acct", 900, until).await, 2);
    assert_eq!(count("acct", 1800, until).await, 3, "no gap of a window");
    assert_eq!(count("acct", 2000, until).await, 4);
    assert_eq!(count("acct", 2799, until).await, 5, "held from the third");
    assert_eq!(count("acct", 2800, until).await, 1, "held one window");
    assert_eq!(count("acct", 3800, until).await, 1, "a gap forgets");

    // Other keys are untouched; uncounting and resetting.
    assert_eq!(count("other", 3800, fixed).await, 1);
    store.uncount_login_attempt("acct").await.unwrap();
    assert_eq!(
        count("acct", 3801, until).await,
        1,
        "uncounted to 0, then 1"
    );
    store.reset_login_attempts("acct").await.unwrap();
    assert_eq!(count("acct", 3802, until).await, 1);
    store.uncount_login_attempt("missing").await.unwrap();
    store.reset_login_attempts("missing").await.unwrap();
    assert_eq!(count("ip", 2001, fixed).await, 2);
}

/// Every concurrent failure is counted exactly once: each attempt gets its
/// own number, so a limit holds against a burst of parallel guesses.
async fn login_throttle_concurrent_failures(store: Store) {
    const ATTEMPTS: i64 = 40;
    let tasks: Vec<_> = (0..ATTEMPTS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .count_login_attempt("burst", 5_000, 60_000, ThrottleWindow::UntilLimit(10))
                    .await
            })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for task in tasks {
        numbers.insert(task.await.unwrap().unwrap());
    }
    assert_eq!(numbers, (1..=ATTEMPTS).collect::<BTreeSet<_>>());
    // Concurrent take-backs are exact too.
    let tasks: Vec<_> = (0..ATTEMPTS / 2)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.uncount_login_attempt("burst").await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let next = store
        .count_login_attempt("burst", 5_001, 60_000, ThrottleWindow::UntilLimit(10))
        .await
        .unwrap();
    assert_eq!(next, ATTEMPTS / 2 + 1);
}

// ---------------------------------------------------------------------------
// Resource servers, role permissions, organization authorization
// ---------------------------------------------------------------------------

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

async fn resource_server_round_trip(store: Store) {
    let mut rs = resource_server(
        "https://invoices.example.com/",
        &["write:invoices", "read:invoices"],
    );
    rs.signing_alg = SigningAlg::ES256;
    rs.token_lifetime = 600;
    rs.allow_offline_access = true;
    rs.skip_consent_for_verifiable_first_party_clients = false;
    rs.enforce_policies = true;
    rs.token_dialect = TokenDialect::AccessTokenAuthz;
    rs.scopes[1].description = None;
    store.insert_resource_server(&rs).await.unwrap();
    // Scopes come back in the order given, descriptions (or none) kept.
    assert_eq!(store.get_resource_server(&rs.id).await.unwrap(), rs);
    assert_eq!(
        store
            .get_resource_server_by_identifier(&rs.identifier)
            .await
            .unwrap(),
        rs
    );
    assert_not_found(
        store
            .get_resource_server_by_identifier("https://nope.example.com/")
            .await,
    );
    assert_not_found(
        store
            .get_resource_server(&new_id(ids::RESOURCE_SERVER))
            .await,
    );

    let bare = resource_server("urn:no-scopes", &[]);
    store.insert_resource_server(&bare).await.unwrap();
    assert_eq!(store.get_resource_server(&bare.id).await.unwrap(), bare);

    let mut all: Vec<ResourceServer> = vec![rs.clone(), bare.clone()];
    for i in 0..3 {
        let extra = resource_server(&format!("urn:api:{i}"), &["a", "b"]);
        store.insert_resource_server(&extra).await.unwrap();
        all.push(extra);
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(store.count_resource_servers().await.unwrap(), 5);
    assert_eq!(
        store.list_resource_servers(&Page::all()).await.unwrap(),
        all
    );
    // A page limits servers, not joined scope rows.
    let second_page = Page {
        offset: 2,
        limit: 2,
        after_id: None,
    };
    assert_eq!(
        store.list_resource_servers(&second_page).await.unwrap(),
        all[2..4].to_vec()
    );
    let after = Page {
        offset: 0,
        limit: 10,
        after_id: Some(all[3].id.clone()),
    };
    assert_eq!(
        store.list_resource_servers(&after).await.unwrap(),
        all[4..].to_vec()
    );

    // Updates change everything but the identifier.
    rs.name = "Invoices".into();
    rs.scopes = vec![scope("read:invoices"), scope("approve:invoices")];
    rs.token_dialect = TokenDialect::AccessToken;
    rs.enforce_policies = false;
    store.update_resource_server(&rs).await.unwrap();
    assert_eq!(store.get_resource_server(&rs.id).await.unwrap(), rs);
    let mut missing = rs.clone();
    missing.id = new_id(ids::RESOURCE_SERVER);
    assert_not_found(store.update_resource_server(&missing).await);
}

async fn resource_server_identifiers_are_unique(store: Store) {
    let first = resource_server("https://api.example.com/", &["read"]);
    store.insert_resource_server(&first).await.unwrap();
    let again = resource_server("https://api.example.com/", &["write"]);
    assert_conflict(
        store.insert_resource_server(&again).await,
        "resource_servers_identifier_key",
    );
    // The refused insert left no scope behind.
    assert_not_found(store.get_resource_server(&again.id).await);
    assert_eq!(
        store
            .get_resource_server_by_identifier("https://api.example.com/")
            .await
            .unwrap(),
        first
    );
    // Identifiers are compared exactly.
    store
        .insert_resource_server(&resource_server("https://api.example.com", &[]))
        .await
        .unwrap();
}

async fn role_permissions_follow_their_scopes(store: Store) {
    let rs = resource_server(
        "urn:invoices",
        &["read:invoices", "write:invoices", "delete:invoices"],
    );
    store.insert_resource_server(&rs).await.unwrap();
    let admin = role("admin");
    store.insert_role(&admin).await.unwrap();
    let all = [
        permission(&rs, "read:invoices"),
        permission(&rs, "write:invoices"),
        permission(&rs, "delete:invoices"),
    ];
    store
        .insert_role_permissions(&admin.id, &all)
        .await
        .unwrap();
    // Adding again is a no-op, not a conflict.
    store
        .insert_role_permissions(&admin.id, &all[..1])
        .await
        .unwrap();
    assert_eq!(store.count_role_permissions(&admin.id).await.unwrap(), 3);
    let listed = store
        .list_role_permissions(&admin.id, &Page::all())
        .await
        .unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|p| p.permission_name.as_str())
            .collect::<Vec<_>>(),
        ["delete:invoices", "read:invoices", "write:invoices"]
    );
    assert_eq!(listed[1].description.as_deref(), Some("May read:invoices"));
    assert_eq!(listed[1].resource_server_name, "API urn:invoices");
    assert_eq!(listed[1].resource_server_identifier, "urn:invoices");
    let page = Page {
        offset: 1,
        limit: 1,
        after_id: None,
    };
    assert_eq!(
        store.list_role_permissions(&admin.id, &page).await.unwrap(),
        listed[1..2].to_vec()
    );

    // A permission must be a scope of the server: the database says so too.
    assert_missing_reference(
        store
            .insert_role_permissions(&admin.id, &[permission(&rs, "launch:missiles")])
            .await,
    );
    assert_missing_reference(
        store
            .insert_role_permissions(&new_id(ids::ROLE), &all[..1])
            .await,
    );

    // A scope removed by an update takes the role permissions naming it along;
    // kept scopes keep theirs.
    let mut updated = rs.clone();
    updated.scopes.retain(|s| s.value != "write:invoices");
    updated.scopes[0].description = Some("Read them".into());
    store.update_resource_server(&updated).await.unwrap();
    let listed = store
        .list_role_permissions(&admin.id, &Page::all())
        .await
        .unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|p| p.permission_name.as_str())
            .collect::<Vec<_>>(),
        ["delete:invoices", "read:invoices"]
    );
    assert_eq!(listed[1].description.as_deref(), Some("Read them"));
    // Putting the scope back does not bring the permission back.
    store.update_resource_server(&rs).await.unwrap();
    assert_eq!(store.count_role_permissions(&admin.id).await.unwrap(), 2);

    store
        .delete_role_permissions(
            &admin.id,
            &[
                permission(&rs, "read:invoices"),
                permission(&rs, "write:invoices"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        permission_names(&store, &admin.id).await,
        [("urn:invoices".to_owned(), "delete:invoices".to_owned())]
    );
    // Deleting the role deletes its permissions.
    store.delete_role(&admin.id).await.unwrap();
    assert_eq!(store.count_role_permissions(&admin.id).await.unwrap(), 0);
}

async fn deleting_a_resource_server_cascades(store: Store) {
    let invoices = resource_server("urn:invoices", &["read:invoices"]);
    let reports = resource_server("urn:reports", &["read:reports"]);
    store.insert_resource_server(&invoices).await.unwrap();
    store.insert_resource_server(&reports).await.unwrap();
    let viewer = role("viewer");
    store.insert_role(&viewer).await.unwrap();
    store
        .insert_role_permissions(
            &viewer.id,
            &[
                permission(&invoices, "read:invoices"),
                permission(&reports, "read:reports"),
            ],
        )
        .await
        .unwrap();
    let m2m = client("m2m");
    store.insert_client(&m2m).await.unwrap();
    let invoices_grant = grant(&m2m.client_id, "urn:invoices");
    let reports_grant = grant(&m2m.client_id, "urn:reports");
    store.insert_client_grant(&invoices_grant).await.unwrap();
    store.insert_client_grant(&reports_grant).await.unwrap();

    let cleared = store.delete_resource_server(&invoices.id).await.unwrap();
    assert_eq!(cleared, vec![m2m.client_id.clone()]);
    assert_not_found(store.get_resource_server(&invoices.id).await);
    assert_eq!(
        permission_names(&store, &viewer.id).await,
        [("urn:reports".to_owned(), "read:reports".to_owned())]
    );
    assert_eq!(
        store
            .find_client_grant(&m2m.client_id, "urn:invoices")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_client_grant(&m2m.client_id, "urn:reports")
            .await
            .unwrap(),
        Some(reports_grant)
    );
    assert_not_found(store.delete_resource_server(&invoices.id).await);
    // The identifier is free again.
    store
        .insert_resource_server(&resource_server("urn:invoices", &[]))
        .await
        .unwrap();
}

async fn organization_authorization_unions_the_member_roles(store: Store) {
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();
    let (acme, alice) = org_with_member(&store, "acme", &db).await;
    let globex = organization("globex");
    store.insert_organization(&globex, &[]).await.unwrap();
    store
        .insert_members(&globex.id, std::slice::from_ref(&alice.user_id))
        .await
        .unwrap();

    let invoices = resource_server(
        "https://invoices.example.com/",
        &[
            "read:invoices",
            "write:invoices",
            "approve:invoices",
            "delete:invoices",
        ],
    );
    let reports = resource_server("https://reports.example.com/", &["read:reports"]);
    store.insert_resource_server(&invoices).await.unwrap();
    store.insert_resource_server(&reports).await.unwrap();

    let (clerk, approver, auditor) = (role("clerk"), role("approver"), role("auditor"));
    for r in [&clerk, &approver, &auditor] {
        store.insert_role(r).await.unwrap();
    }
    store
        .insert_role_permissions(
            &clerk.id,
            &[
                permission(&invoices, "write:invoices"),
                permission(&invoices, "read:invoices"),
            ],
        )
        .await
        .unwrap();
    store
        .insert_role_permissions(
            &approver.id,
            &[
                permission(&invoices, "read:invoices"),
                permission(&invoices, "approve:invoices"),
                permission(&reports, "read:reports"),
            ],
        )
        .await
        .unwrap();
    store
        .insert_role_permissions(&auditor.id, &[permission(&invoices, "delete:invoices")])
        .await
        .unwrap();
    // Alice: clerk and approver in acme; auditor only in globex.
    store
        .insert_member_roles(
            &acme.id,
            &alice.user_id,
            &[approver.id.clone(), clerk.id.clone()],
        )
        .await
        .unwrap();
    store
        .insert_member_roles(
            &globex.id,
            &alice.user_id,
            std::slice::from_ref(&auditor.id),
        )
        .await
        .unwrap();

    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        store
            .organization_authorization(&acme.id, &alice.user_id, "https://invoices.example.com/")
            .await
            .unwrap(),
        (
            strings(&["approver", "clerk"]),
            strings(&["approve:invoices", "read:invoices", "write:invoices"])
        ),
        "roles of both, overlapping permissions once, no other org's or API's"
    );
    assert_eq!(
        store
            .organization_authorization(&acme.id, &alice.user_id, "https://reports.example.com/")
            .await
            .unwrap(),
        (strings(&["approver", "clerk"]), strings(&["read:reports"]))
    );
    assert_eq!(
        store
            .organization_authorization(&globex.id, &alice.user_id, "https://invoices.example.com/")
            .await
            .unwrap(),
        (strings(&["auditor"]), strings(&["delete:invoices"]))
    );
    // An audience no resource server has: the roles, no permissions.
    assert_eq!(
        store
            .organization_authorization(&acme.id, &alice.user_id, "https://unknown.example.com/")
            .await
            .unwrap(),
        (strings(&["approver", "clerk"]), vec![])
    );
    // Identifiers are matched exactly.
    assert_eq!(
        store
            .organization_authorization(&acme.id, &alice.user_id, "https://invoices.example.com")
            .await
            .unwrap()
            .1,
        Vec::<String>::new()
    );
    // A member without roles, and someone who is not a member.
    let (_, bob) = org_with_member(&store, "initech", &db).await;
    store
        .insert_members(&acme.id, std::slice::from_ref(&bob.user_id))
        .await
        .unwrap();
    for user_id in [bob.user_id.clone(), new_id(ids::USER)] {
        assert_eq!(
            store
                .organization_authorization(&acme.id, &user_id, "https://invoices.example.com/")
                .await
                .unwrap(),
            (vec![], vec![])
        );
    }
    // Removing a member's role removes what it granted.
    store
        .delete_member_roles(&acme.id, &alice.user_id, std::slice::from_ref(&approver.id))
        .await
        .unwrap();
    assert_eq!(
        store
            .organization_authorization(&acme.id, &alice.user_id, "https://invoices.example.com/")
            .await
            .unwrap(),
        (
            strings(&["clerk"]),
            strings(&["read:invoices", "write:invoices"])
        )
    );
}

async fn tenant_settings_round_trip(store: Store) {
    assert_eq!(
        store.tenant_settings().await.unwrap(),
        TenantSettings::default()
    );
    assert!(!TenantSettings::default().allow_organization_name_in_authentication_api);
    // Once-only flags share the table and are not settings.
    assert!(store.claim_setting("demo_seeded", "1").await.unwrap());
    let on = TenantSettings {
        allow_organization_name_in_authentication_api: true,
    };
    store.update_tenant_settings(&on).await.unwrap();
    assert_eq!(store.tenant_settings().await.unwrap(), on);
    store
        .update_tenant_settings(&TenantSettings::default())
        .await
        .unwrap();
    assert_eq!(
        store.tenant_settings().await.unwrap(),
        TenantSettings::default()
    );
    assert_eq!(
        store.get_setting("demo_seeded").await.unwrap().as_deref(),
        Some("1")
    );
}

// ---------------------------------------------------------------------------
// Sessions, refresh-token families, purging
// ---------------------------------------------------------------------------

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

/// A refresh racing the revocation of its family: whichever wins, an access
/// token issued by a rotation that succeeded is listed as revoked.
async fn a_rotation_racing_a_revocation_never_escapes_it(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let now = switchyard::clock::now_unix_millis();
    for round in 0..30 {
        let family = format!("race-{round}");
        let token = format!("race-token-{round}");
        let next = format!("race-next-{round}");
        let access = format!("race-at-{round}");
        start_family(
            &store,
            &family_of(&web, &alice, &family, now + 1_000_000),
            &token,
            now + 100_000,
            "race-first",
        )
        .await;
        let (rotated, revoked) = tokio::join!(
            store.rotate_refresh_token(&token, &next, now, now + 100_000, &access),
            store.revoke_refresh_grant(&family),
        );
        assert!(revoked.unwrap(), "round {round}: the family was live");
        if matches!(rotated.unwrap(), RefreshOutcome::Rotated(_)) {
            assert!(
                store.is_access_token_revoked(&access).await.unwrap(),
                "round {round}: a rotation escaped the revocation"
            );
        }
        assert!(
            !store
                .find_refresh_token(&next, now)
                .await
                .map(|t| t.active)
                .unwrap_or(false)
        );
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

/// A code of `client` consumed by an exchange that issued access token `access_token_id`.
async fn used_code(store: &Store, code_hash: &str, client: &Client, access_token_id: &str) {
    let now = switchyard::clock::now_unix_millis();
    store
        .insert_authorization_code(code_hash, &client.client_id, "{}", now + 60_000)
        .await
        .unwrap();
    store
        .consume_authorization_code(code_hash, now, access_token_id)
        .await
        .unwrap();
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
    let live = switchyard::clock::now_unix_millis() + 60_000;
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

async fn sessions_and_refresh_families(store: Store) {
    let con = connection("users", Strategy::Database);
    store.insert_connection(&con, &[]).await.unwrap();
    let (org, alice) = org_with_member(&store, "hoekstra", &con).await;
    let web = client("Web");
    store.insert_client(&web).await.unwrap();
    let now = switchyard::clock::now_unix_millis();

    // A session is found by its cookie's hash while live, not once ended.
    store
        .insert_session(&session_of(&alice, "s1", now), "cookie-1")
        .await
        .unwrap();
    assert_conflict(
        store
            .insert_session(&session_of(&alice, "s2", now), "cookie-1")
            .await,
        "sessions_cookie_hash_key",
    );
    assert_eq!(
        store
            .get_live_session("cookie-1", now, now - 1000)
            .await
            .unwrap()
            .id,
        "s1"
    );
    assert_not_found(store.get_live_session("cookie-1", now + 3_600_001, 0).await);
    assert_not_found(store.get_live_session("cookie-1", now, now + 1).await);
    store.add_session_organization("s1", &org.id).await.unwrap();
    store.add_session_organization("s1", &org.id).await.unwrap();
    store.touch_session("s1", now + 5000).await.unwrap();
    assert_eq!(
        store
            .get_live_session("cookie-1", now, now + 4000)
            .await
            .unwrap()
            .last_used_at,
        now + 5000
    );
    // A blocked user's session is not live.
    let mut blocked = alice.clone();
    blocked.blocked = true;
    store.update_user(&blocked).await.unwrap();
    assert_not_found(store.get_live_session("cookie-1", now, 0).await);
    store.update_user(&alice).await.unwrap();
    assert_eq!(
        store.list_session_organizations("s1").await.unwrap(),
        vec![org.id.clone()]
    );
    // Clients recorded for back-channel logout, once each.
    for client_id in [&web.client_id, &web.client_id] {
        assert!(store.add_session_client("s1", client_id).await.unwrap());
    }
    assert_eq!(
        store.list_session_clients("s1").await.unwrap(),
        vec![web.client_id.clone()]
    );
    assert_eq!(
        store.end_session("s1").await.unwrap(),
        Some(alice.user_id.clone()),
        "ending names the user"
    );
    assert_eq!(store.end_session("s1").await.unwrap(), None);
    assert!(
        !store
            .add_session_client("s1", &web.client_id)
            .await
            .unwrap(),
        "an ended session takes no client"
    );
    assert_not_found(store.get_live_session("cookie-1", now, 0).await);

    // A family rotates; a used token again revokes it, with the access
    // tokens issued with its tokens; then nothing works.
    start_family(
        &store,
        &family_of(&web, &alice, "f1", now + 1_000_000),
        "t1",
        now + 1000,
        "at-1",
    )
    .await;
    match store
        .rotate_refresh_token("t1", "t2", now, now + 1000, "at-2")
        .await
        .unwrap()
    {
        RefreshOutcome::Rotated(grant) => assert_eq!(grant.id, "f1"),
        other => panic!("expected a rotation, got {other:?}"),
    }
    assert!(!store.is_access_token_revoked("at-2").await.unwrap());
    assert_eq!(
        store
            .rotate_refresh_token("t1", "t3", now, now + 1000, "at-3")
            .await
            .unwrap(),
        RefreshOutcome::Reused {
            grant_id: "f1".into()
        }
    );
    for (jti, revoked) in [("at-1", true), ("at-2", true), ("at-3", false)] {
        assert_eq!(
            store.is_access_token_revoked(jti).await.unwrap(),
            revoked,
            "{jti}"
        );
    }
    assert_eq!(
        store
            .rotate_refresh_token("t2", "t4", now, now + 1000, "at-4")
            .await
            .unwrap(),
        RefreshOutcome::Inactive
    );
    assert!(!store.find_refresh_token("t2", now).await.unwrap().active);
    assert_not_found(
        store
            .rotate_refresh_token("unknown", "t5", now, now + 1000, "at-5")
            .await,
    );
    // A new token never outlives its family.
    start_family(
        &store,
        &family_of(&web, &alice, "f2", now + 500),
        "u1",
        now + 400,
        "au-1",
    )
    .await;
    store
        .rotate_refresh_token("u1", "u2", now, now + 10_000, "au-2")
        .await
        .unwrap();
    assert_eq!(
        store
            .find_refresh_token("u2", now)
            .await
            .unwrap()
            .expires_at,
        now + 500
    );
}

async fn replayed_codes_and_revoked_families_revoke_their_access_tokens(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let now = switchyard::clock::now_unix_millis();

    // A code whose exchange started a family that then rotated once.
    used_code(&store, "code-1", &web, "at-code").await;
    assert!(
        store
            .insert_refresh_grant(
                "code-1",
                &family_of(&web, &alice, "fc", now + 1_000_000),
                "c1",
                now + 1000,
                "at-code",
            )
            .await
            .unwrap()
    );
    store
        .rotate_refresh_token("c1", "c2", now, now + 1000, "at-c2")
        .await
        .unwrap();
    assert!(!store.is_access_token_revoked("at-code").await.unwrap());
    // Presented again by another client: refused, and nothing is revoked.
    let other = client("Other");
    store.insert_client(&other).await.unwrap();
    assert!(
        !store
            .revoke_what_code_issued("code-1", &other.client_id, now)
            .await
            .unwrap()
    );
    assert!(!store.is_access_token_revoked("at-code").await.unwrap());
    // Replayed by its client: its access token, its family and the
    // family's access tokens go.
    assert!(
        store
            .revoke_what_code_issued("code-1", &web.client_id, now)
            .await
            .unwrap()
    );
    assert!(store.is_access_token_revoked("at-code").await.unwrap());
    assert!(store.is_access_token_revoked("at-c2").await.unwrap());
    assert!(!store.find_refresh_token("c2", now).await.unwrap().active);

    // A code without a family: its access token alone.
    used_code(&store, "code-2", &web, "at-solo").await;
    assert!(
        store
            .revoke_what_code_issued("code-2", &web.client_id, now)
            .await
            .unwrap()
    );
    assert!(store.is_access_token_revoked("at-solo").await.unwrap());
    assert!(
        !store
            .revoke_what_code_issued("unknown", &web.client_id, now)
            .await
            .unwrap()
    );
    // An unused code is not a replay.
    store
        .insert_authorization_code("code-3", &web.client_id, "{}", now + 60_000)
        .await
        .unwrap();
    assert!(
        !store
            .revoke_what_code_issued("code-3", &web.client_id, now)
            .await
            .unwrap()
    );

    // Replayed while its exchange is still running: the exchange then
    // starts no family.
    store
        .consume_authorization_code("code-3", now, "at-racing")
        .await
        .unwrap();
    assert!(
        store
            .revoke_what_code_issued("code-3", &web.client_id, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_refresh_grant(
                "code-3",
                &family_of(&web, &alice, "f-late", now + 1_000_000),
                "late-1",
                now + 1000,
                "at-racing",
            )
            .await
            .unwrap()
    );
    assert_not_found(store.find_refresh_token("late-1", now).await);
    assert!(store.is_access_token_revoked("at-racing").await.unwrap());

    // Revoking all of a user's families revokes their access tokens too.
    start_family(
        &store,
        &family_of(&web, &alice, "fu", now + 1_000_000),
        "v1",
        now + 1000,
        "at-v1",
    )
    .await;
    assert_eq!(
        store
            .revoke_user_refresh_grants(&alice.user_id)
            .await
            .unwrap(),
        1
    );
    assert!(store.is_access_token_revoked("at-v1").await.unwrap());

    // An access token revoked on its own; twice is fine.
    for _ in 0..2 {
        store
            .revoke_access_token("at-own", now + 1000)
            .await
            .unwrap();
    }
    assert!(store.is_access_token_revoked("at-own").await.unwrap());
    assert!(!store.is_access_token_revoked("at-other").await.unwrap());
}

async fn expired_rows_are_purged(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let now = switchyard::clock::now_unix_millis();
    let long_ago = now - RETENTION_MS - 1;
    for (id, expires_at) in [("old", long_ago), ("live", now + 60_000)] {
        store
            .insert_login_transaction(&StoredTransaction {
                id: id.into(),
                browser_hash: "b".into(),
                csrf_token: "c".into(),
                request: "{}".into(),
                email: None,
                previous_session_id: None,
                authenticated_session_id: None,
                expires_at,
            })
            .await
            .unwrap();
        store
            .insert_authorization_code(&format!("code-{id}"), &web.client_id, "{}", expires_at)
            .await
            .unwrap();
        let mut session = session_of(&alice, &format!("s-{id}"), now);
        session.expires_at = expires_at;
        store
            .insert_session(&session, &format!("cookie-{id}"))
            .await
            .unwrap();
        start_family(
            &store,
            &family_of(&web, &alice, &format!("f-{id}"), expires_at),
            &format!("t-{id}"),
            expires_at,
            &format!("at-{id}"),
        )
        .await;
        store
            .revoke_access_token(&format!("jti-{id}"), expires_at)
            .await
            .unwrap();
    }
    // A session idle for longer than the idle lifetime (plus retention) goes too.
    let mut idle = session_of(&alice, "s-idle", now);
    idle.last_used_at = long_ago - 1000;
    store.insert_session(&idle, "cookie-idle").await.unwrap();

    let purged = store.purge_expired(now, 1000).await.unwrap();
    assert_eq!(purged.login_transactions, 1);
    assert_eq!(purged.authorization_codes, 1);
    assert_eq!(purged.sessions, 2, "{purged:?}");
    assert_eq!(purged.refresh_grants, 1);
    assert_eq!(purged.revoked_access_tokens, 1);
    assert!(!store.is_access_token_revoked("jti-old").await.unwrap());
    assert!(store.is_access_token_revoked("jti-live").await.unwrap());
    assert_not_found(store.get_login_transaction("old", 0).await);
    assert!(store.get_login_transaction("live", now).await.is_ok());
    assert!(store.get_session("s-live").await.is_ok());
    assert_not_found(store.get_session("s-old").await);
    assert_not_found(store.find_refresh_token("t-old", now).await);
    assert!(store.find_refresh_token("t-live", now).await.is_ok());
    assert_eq!(store.purge_expired(now, 1000).await.unwrap().total(), 0);
}
