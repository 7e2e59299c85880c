//! First-start data: the bootstrap machine client (from the environment) and
//! the demo tenant.

use crate::http::management::ALL_SCOPES;
use crate::model::client::{
    AppType, Client, ClientGrant, GrantType, OrganizationRequireBehavior, OrganizationUsage,
    SigningAlg, TokenEndpointAuthMethod,
};
use crate::model::connection::{
    Connection, ConnectionOptions, EnabledConnection, EnabledConnectionRequest, Strategy,
};
use crate::model::ids;
use crate::model::organization::Organization;
use crate::model::user::User;
use crate::state::Issuer;
use crate::store::{Store, StoreError};

/// The demo user's password: random, printed once, never stored in the clear.
pub(crate) fn new_demo_password() -> String {
    ids::random_alphanumeric(16)
}

/// The demo tenant's credentials, printed for the newcomer at its first
/// start and again, new ones, by `switchyard demo`.
pub struct DemoTenant {
    /// The issuer it was seeded for: its URLs, the machine client's audience.
    pub issuer: String,
    pub web_client_id: String,
    pub web_client_secret: String,
    pub m2m_client_id: String,
    pub m2m_client_secret: String,
    pub user_email: String,
    pub user_password: String,
}

/// A first-party client of `app_type` with a secret, and nothing more.
fn first_party_client(client_id: String, name: &str, secret: &str, app_type: AppType) -> Client {
    Client {
        client_id,
        name: name.to_owned(),
        description: None,
        app_type,
        client_secret_hash: Some(crate::flows::client_auth::hash_client_secret(secret)),
        callbacks: vec![],
        allowed_logout_urls: vec![],
        web_origins: vec![],
        allowed_origins: vec![],
        grant_types: vec![],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        organization_usage: OrganizationUsage::Deny,
        organization_require_behavior: OrganizationRequireBehavior::NoPrompt,
        organization_discovery_methods: None,
        signing_alg: SigningAlg::RS256,
        is_first_party: true,
        client_metadata: serde_json::Map::new(),
        backchannel_logout_url: None,
        refresh_token: Default::default(),
        initiate_login_uri: None,
        id_token_lifetime: crate::model::client::DEFAULT_ID_TOKEN_LIFETIME,
        inert_settings: Default::default(),
    }
}

fn machine_client(client_id: String, name: &str, secret: &str) -> Client {
    Client {
        grant_types: vec![GrantType::ClientCredentials],
        // As Auth0's SDKs and the README's curl send it.
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        ..first_party_client(client_id, name, secret, AppType::NonInteractive)
    }
}

/// A first-party regular web application with one callback, logging in
/// by authorization code outside organizations, authenticating with
/// `client_secret_basic`: what express-openid-connect (whose default
/// callback the demo app's is) and Switchyard's own OIDC connector send.
pub(crate) fn regular_web_client(
    client_id: String,
    name: &str,
    secret: &str,
    callback: &str,
) -> Client {
    Client {
        callbacks: vec![callback.to_owned()],
        grant_types: vec![GrantType::AuthorizationCode],
        ..first_party_client(client_id, name, secret, AppType::RegularWeb)
    }
}

/// A demo person of the password database `connection_id`, email verified.
pub(crate) struct DemoPerson<'a> {
    pub(crate) user_id: String,
    pub(crate) connection_id: String,
    pub(crate) email: &'a str,
    pub(crate) given_name: &'a str,
    pub(crate) family_name: &'a str,
}

impl DemoPerson<'_> {
    /// Stores the person with a new random password, and returns both.
    pub(crate) async fn insert(self, store: &Store) -> anyhow::Result<(User, String)> {
        let user = User {
            user_id: self.user_id,
            connection_id: self.connection_id,
            email: Some(self.email.to_owned()),
            email_verified: true,
            name: Some(format!("{} {}", self.given_name, self.family_name)),
            given_name: Some(self.given_name.to_owned()),
            family_name: Some(self.family_name.to_owned()),
            nickname: Some(self.given_name.to_lowercase()),
            picture: None,
            blocked: false,
            app_metadata: serde_json::Map::new(),
            user_metadata: serde_json::Map::new(),
        };
        let password = new_demo_password();
        let hash = crate::connectors::database::hash_password(password.clone()).await?;
        store.insert_user(&user, Some(&hash)).await?;
        Ok((user, password))
    }
}

async fn grant_management_api(
    store: &Store,
    issuer: &Issuer,
    client_id: &str,
) -> Result<(), StoreError> {
    let grant = ClientGrant {
        id: ids::new_id(ids::CLIENT_GRANT),
        client_id: client_id.to_owned(),
        audience: issuer.management_audience(),
        scope: ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        organization_usage: None,
        allow_any_organization: false,
        inert_settings: serde_json::Map::new(),
    };
    match store.insert_client_grant(&grant).await {
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the bootstrap client once; a client with that id already there is
/// left as it is (its secret may have been rotated since), but gets its
/// Management API grant back if it lost it.
pub async fn ensure_bootstrap_client(
    store: &Store,
    issuer: &Issuer,
    client_id: &str,
    client_secret: &str,
) -> anyhow::Result<bool> {
    let client = machine_client(
        client_id.to_owned(),
        "Bootstrap provisioning client",
        client_secret,
    );
    let created = match store.insert_client(&client).await {
        Ok(()) => true,
        Err(StoreError::Conflict(_)) => false,
        Err(e) => return Err(e.into()),
    };
    grant_management_api(store, issuer, client_id).await?;
    Ok(created)
}

/// The setting that marks the demo tenant as seeded, once, and records
/// which clients and user are its own ([`DemoRecord`]) for `switchyard demo`.
const DEMO_SEEDED: &str = "demo_seeded";

/// What [`DEMO_SEEDED`] holds (JSON). Versions before `switchyard demo`
/// stored `true`.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct DemoRecord {
    /// The issuer the demo tenant was seeded for.
    pub(crate) issuer: String,
    pub(crate) web_client_id: String,
    m2m_client_id: String,
    user_id: String,
}

/// What the demo tenant recorded of itself, if the store has one (a store
/// seeded before `switchyard demo` recorded nothing).
pub(crate) async fn demo_record(store: &Store) -> anyhow::Result<Option<DemoRecord>> {
    Ok(store
        .get_setting(DEMO_SEEDED)
        .await?
        .and_then(|recorded| serde_json::from_str(&recorded).ok()))
}

/// Seeds the demo tenant on the first start of an empty store. Returns what
/// it created, or `None` when it had been seeded before.
pub async fn seed_demo_tenant(
    store: &Store,
    issuer: &Issuer,
) -> anyhow::Result<Option<DemoTenant>> {
    let record = DemoRecord {
        issuer: issuer.identifier().to_owned(),
        web_client_id: ids::new_client_id(),
        m2m_client_id: ids::new_client_id(),
        user_id: ids::new_id(ids::USER),
    };
    if !store
        .claim_setting(DEMO_SEEDED, &serde_json::to_string(&record)?)
        .await?
    {
        return Ok(None);
    }
    let hoekstra = Organization {
        id: ids::new_id(ids::ORGANIZATION),
        name: "hoekstra".into(),
        display_name: Some("Hoekstra".into()),
        branding: None,
        metadata: serde_json::Map::new(),
        inert_settings: serde_json::Map::new(),
        domain_membership: Default::default(),
    };
    let metahexa = Organization {
        id: ids::new_id(ids::ORGANIZATION),
        name: "metahexa".into(),
        display_name: Some("Metahexa".into()),
        branding: None,
        metadata: serde_json::Map::new(),
        inert_settings: serde_json::Map::new(),
        domain_membership: Default::default(),
    };
    let database = Connection {
        id: ids::new_id(ids::CONNECTION),
        name: "Username-Password-Authentication".into(),
        strategy: Strategy::Database,
        display_name: Some("Email and password".into()),
        options: ConnectionOptions::empty(Strategy::Database),
        metadata: serde_json::Map::new(),
        is_domain_connection: false,
        show_as_button: None,
        realms: vec!["Username-Password-Authentication".into()],
        inert_settings: serde_json::Map::new(),
    };
    let web_secret = ids::new_client_secret();
    let web = Client {
        description: Some("Regular web application of the demo tenant".into()),
        allowed_logout_urls: vec!["http://localhost:3000".into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        organization_usage: OrganizationUsage::Allow,
        organization_require_behavior: OrganizationRequireBehavior::PreLoginPrompt,
        organization_discovery_methods: None,
        ..regular_web_client(
            record.web_client_id,
            "Demo web app",
            &web_secret,
            "http://localhost:3000/callback",
        )
    };
    let m2m_secret = ids::new_client_secret();
    let m2m = machine_client(
        record.m2m_client_id,
        "Demo provisioning client",
        &m2m_secret,
    );

    store.insert_client(&web).await?;
    store.insert_client(&m2m).await?;
    grant_management_api(store, issuer, &m2m.client_id).await?;
    store
        .insert_connection(&database, std::slice::from_ref(&web.client_id))
        .await?;
    let enabled = EnabledConnection::new_default(&hoekstra.id, &database.id).apply(
        Strategy::Database,
        &EnabledConnectionRequest {
            assign_membership_on_login: Some(true),
            is_signup_enabled: Some(true),
            ..Default::default()
        },
    )?;
    store.insert_organization(&hoekstra, &[enabled]).await?;
    store.insert_organization(&metahexa, &[]).await?;
    // metahexa owns its people's domain (created verified, as a tenant admin
    // may): its IdP's logins pass the email-domain guard.
    store
        .insert_discovery_domain(&crate::model::domain::DiscoveryDomain {
            status: crate::model::domain::DomainStatus::Verified,
            ..crate::model::domain::DiscoveryDomain::new(
                &metahexa.id,
                "metahexa.example".to_owned(),
            )
        })
        .await?;
    // The demo's log-in URL names its organization (organization=hoekstra).
    let mut settings = store.tenant_settings().await?;
    settings.allow_organization_name_in_authentication_api = true;
    store.update_tenant_settings(&settings).await?;

    let (user, password) = DemoPerson {
        user_id: record.user_id,
        connection_id: database.id.clone(),
        email: "demo@hoekstra.example",
        given_name: "Demo",
        family_name: "User",
    }
    .insert(store)
    .await?;
    store
        .insert_members(&hoekstra.id, std::slice::from_ref(&user.user_id))
        .await?;

    Ok(Some(DemoTenant {
        issuer: record.issuer,
        web_client_id: web.client_id,
        web_client_secret: web_secret,
        m2m_client_id: m2m.client_id,
        m2m_client_secret: m2m_secret,
        user_email: user.email.unwrap_or_default(),
        user_password: password,
    }))
}

/// `switchyard demo`: gives the demo tenant's clients new secrets and its
/// user a new password (the old ones stop working) and returns them, for
/// the operator who no longer has those printed at the first start.
pub async fn reset_demo_credentials(store: &Store) -> anyhow::Result<DemoTenant> {
    let record = match store.get_setting(DEMO_SEEDED).await?.as_deref() {
        None => anyhow::bail!(
            "this database has no demo tenant: `switchyard serve` seeds it at its first start \
             on an empty database, unless told --no-demo"
        ),
        Some(recorded) => serde_json::from_str::<DemoRecord>(recorded).map_err(|_| {
            anyhow::anyhow!(
                "the demo tenant was seeded by an earlier Switchyard that did not record which \
                 clients and user are the demo's: start on a new data directory for a demo tenant"
            )
        })?,
    };
    let web_client_secret = reset_client_secret(store, &record.web_client_id, "web app").await?;
    let m2m_client_secret =
        reset_client_secret(store, &record.m2m_client_id, "machine client").await?;
    let user = store
        .get_user(&record.user_id)
        .await
        .map_err(|e| gone(e, "user", &record.user_id))?
        .user;
    let user_email = user
        .email
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the demo user {} has no email", user.user_id))?;
    let user_password = new_demo_password();
    let hash = crate::connectors::database::hash_password(user_password.clone()).await?;
    store
        .update_user_password(&user.user_id, &hash)
        .await
        .map_err(|e| gone(e, "user", &user.user_id))?;
    Ok(DemoTenant {
        issuer: record.issuer,
        web_client_id: record.web_client_id,
        web_client_secret,
        m2m_client_id: record.m2m_client_id,
        m2m_client_secret,
        user_email,
        user_password,
    })
}

/// Stores a new secret for the demo's client `client_id` and returns it;
/// running nodes on PostgreSQL drop the old one from their caches at once,
/// on SQLite the server's cache keeps it for up to 30 s.
pub(crate) async fn reset_client_secret(
    store: &Store,
    client_id: &str,
    what: &str,
) -> anyhow::Result<String> {
    let secret = ids::new_client_secret();
    let hash = crate::flows::client_auth::hash_client_secret(&secret);
    let Ok(_) = store
        .update_client_with(client_id, |client| {
            Ok::<_, std::convert::Infallible>(Client {
                client_secret_hash: Some(hash),
                ..client
            })
        })
        .await
        .map_err(|e| gone(e, &format!("{what} client"), client_id))?;
    let change = crate::cache::Change::Client {
        client_id: client_id.to_owned(),
    };
    if let Err(e) = store.notify_change(&change.to_message()).await {
        tracing::warn!(error = %e, "could not tell running nodes of the demo client's new secret; they drop it from their caches within 30 s");
    }
    Ok(secret)
}

/// A demo row that is no longer there (deleted through the Management API)
/// said as such; any other store error as it is.
pub(crate) fn gone(error: StoreError, what: &str, id: &str) -> anyhow::Error {
    match error {
        StoreError::NotFound => {
            anyhow::anyhow!("the demo {what} {id} was deleted: there is nothing to reset")
        }
        other => other.into(),
    }
}
