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

/// What the demo seeding created, printed once for the newcomer.
pub struct DemoTenant {
    pub web_client_id: String,
    pub web_client_secret: String,
    pub m2m_client_id: String,
    pub m2m_client_secret: String,
    pub user_email: String,
    pub user_password: String,
}

fn machine_client(client_id: String, name: &str, secret: &str) -> Client {
    Client {
        client_id,
        name: name.to_owned(),
        description: None,
        app_type: AppType::NonInteractive,
        client_secret_hash: Some(crate::flows::client_auth::hash_client_secret(secret)),
        callbacks: vec![],
        allowed_logout_urls: vec![],
        web_origins: vec![],
        allowed_origins: vec![],
        grant_types: vec![GrantType::ClientCredentials],
        // As Auth0's SDKs and the README's curl send it.
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        organization_usage: OrganizationUsage::Deny,
        organization_require_behavior: OrganizationRequireBehavior::NoPrompt,
        signing_alg: SigningAlg::RS256,
        is_first_party: true,
        client_metadata: serde_json::Map::new(),
        backchannel_logout_url: None,
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

/// Seeds the demo tenant on the first start of an empty store. Returns what
/// it created, or `None` when it had been seeded before.
pub async fn seed_demo_tenant(
    store: &Store,
    issuer: &Issuer,
) -> anyhow::Result<Option<DemoTenant>> {
    if !store.claim_setting("demo_seeded", "true").await? {
        return Ok(None);
    }
    let hoekstra = Organization {
        id: ids::new_id(ids::ORGANIZATION),
        name: "hoekstra".into(),
        display_name: Some("Hoekstra".into()),
        branding: None,
        metadata: serde_json::Map::new(),
    };
    let metahexa = Organization {
        id: ids::new_id(ids::ORGANIZATION),
        name: "metahexa".into(),
        display_name: Some("Metahexa".into()),
        branding: None,
        metadata: serde_json::Map::new(),
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
    };
    let web_secret = ids::new_client_secret();
    let web = Client {
        client_id: ids::new_client_id(),
        name: "Demo web app".into(),
        description: Some("Regular web application of the demo tenant".into()),
        app_type: AppType::RegularWeb,
        client_secret_hash: Some(crate::flows::client_auth::hash_client_secret(&web_secret)),
        callbacks: vec!["http://localhost:3000/callback".into()],
        allowed_logout_urls: vec!["http://localhost:3000".into()],
        web_origins: vec![],
        allowed_origins: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        // What express-openid-connect (whose default callback this is) sends.
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        organization_usage: OrganizationUsage::Allow,
        organization_require_behavior: OrganizationRequireBehavior::PreLoginPrompt,
        signing_alg: SigningAlg::RS256,
        is_first_party: true,
        client_metadata: serde_json::Map::new(),
        backchannel_logout_url: None,
    };
    let m2m_secret = ids::new_client_secret();
    let m2m = machine_client(
        ids::new_client_id(),
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
    // The demo's log-in URL names its organization (organization=hoekstra).
    let mut settings = store.tenant_settings().await?;
    settings.allow_organization_name_in_authentication_api = true;
    store.update_tenant_settings(&settings).await?;

    let password = ids::random_alphanumeric(16);
    let user = User {
        user_id: ids::new_id(ids::USER),
        connection_id: database.id.clone(),
        email: Some("demo@hoekstra.example".into()),
        email_verified: true,
        name: Some("Demo User".into()),
        given_name: Some("Demo".into()),
        family_name: Some("User".into()),
        nickname: Some("demo".into()),
        picture: None,
        blocked: false,
        app_metadata: serde_json::Map::new(),
        user_metadata: serde_json::Map::new(),
    };
    let hash = crate::connectors::database::hash_password(password.clone()).await?;
    store.insert_user(&user, Some(&hash)).await?;
    store
        .insert_members(&hoekstra.id, std::slice::from_ref(&user.user_id))
        .await?;

    Ok(Some(DemoTenant {
        web_client_id: web.client_id,
        web_client_secret: web_secret,
        m2m_client_id: m2m.client_id,
        m2m_client_secret: m2m_secret,
        user_email: user.email.unwrap_or_default(),
        user_password: password,
    }))
}
