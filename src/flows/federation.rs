//! From an upstream identity to one of Switchyard's users. The identity
//! table maps (connection, upstream subject) to a user, so a person is found
//! again whatever their email does (an upstream may send none). A first
//! login either links the identity to an existing user, as the connection's
//! `account_linking` option allows, or provisions a user just in time. The
//! organization's rules (enabled connection, membership) are applied after,
//! by [`super::login::finish`], for every kind of login alike.

use crate::connectors::Identity;
use crate::connectors::database::verify_password;
use crate::model::connection::{AccountLinking, Connection};
use crate::model::user::{User, federated_user_id};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::identities::{PendingLink, ProfileData};

use super::login::{self, Finished, LoginError, Next, Transaction};
use super::throttle;

/// The longest upstream subject kept (SAML NameIDs can be long; OIDC's
/// `sub` is at most 255 ASCII characters). It becomes part of the user id.
const MAX_SUBJECT_LEN: usize = 1024;

/// The user `identity` (just returned by `connection`'s upstream) logs in
/// as: the one its identity is linked to, else an existing user the
/// connection's linking policy links it to, else a new user. The profile of
/// a user provisioned from this identity follows the upstream at every login
/// (Auth0's default). A blocked user is refused.
///
/// With `account_linking: prove_existing`, a first login whose verified
/// email one password user has ends in [`LoginError::ProveExisting`]: the
/// caller then sends the browser on with [`ask_to_prove`].
#[tracing::instrument(skip_all, fields(connection_id = %connection.id))]
pub async fn user_for_identity(
    state: &AppState,
    connection: &Connection,
    identity: &Identity,
) -> Result<User, LoginError> {
    let identity = identity.clone().with_usable_profile();
    resolve(
        state,
        connection,
        &identity,
        connection.options.account_linking(),
    )
    .await
}

/// [`user_for_identity`] under the linking policy `linking`.
async fn resolve(
    state: &AppState,
    connection: &Connection,
    identity: &Identity,
    linking: AccountLinking,
) -> Result<User, LoginError> {
    if identity.connection_id != connection.id {
        return Err(LoginError::Internal(format!(
            "identity of connection {} offered to connection {}",
            identity.connection_id, connection.id
        )));
    }
    check_subject(&identity.subject)?;
    let profile = profile_data(identity);
    // Twice at most: a first login that loses the race to another first
    // login of the same identity finds the user the other one made.
    for _ in 0..2 {
        let linked = state
            .store
            .find_identity_user(&connection.id, &identity.subject)
            .await?;
        if let Some(stored) = linked {
            return returning_user(state, connection, identity, stored.user, &profile).await;
        }
        let created = match linking_target(state, connection, identity, linking).await? {
            Some(existing) => state
                .store
                .insert_identity(
                    &connection.id,
                    &identity.subject,
                    &existing.user_id,
                    &profile,
                )
                .await
                .map(|()| existing),
            None => {
                let user = provisioned_user(connection, identity);
                state
                    .store
                    .insert_user_with_identity(&user, &identity.subject, &profile)
                    .await
                    .map(|()| user)
            }
        };
        match created {
            Ok(user) if user.blocked => return Err(blocked()),
            Ok(user) => return Ok(user),
            Err(StoreError::Conflict(name))
                if name == "user_identities_pkey" || name == "users_pkey" =>
            {
                tracing::debug!("another login of this identity created its user first");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(LoginError::Internal(
        "the identity's user vanished between two reads".into(),
    ))
}

/// A user already linked: refused when blocked; when this is the identity it
/// was provisioned with, its profile takes the upstream's (a linked identity
/// leaves the profile of the user it joined alone).
async fn returning_user(
    state: &AppState,
    connection: &Connection,
    identity: &Identity,
    user: User,
    profile: &ProfileData,
) -> Result<User, LoginError> {
    if user.blocked {
        return Err(blocked());
    }
    state
        .store
        .update_identity_profile(&connection.id, &identity.subject, profile)
        .await?;
    if user.user_id != federated_user_id(connection.strategy, &connection.name, &identity.subject) {
        return Ok(user);
    }
    // The profile as a first login would make it; the rest is the user's.
    let refreshed = User {
        user_id: user.user_id.clone(),
        connection_id: user.connection_id.clone(),
        blocked: user.blocked,
        app_metadata: user.app_metadata.clone(),
        user_metadata: user.user_metadata.clone(),
        ..provisioned_user(connection, identity)
    };
    if refreshed == user {
        return Ok(user);
    }
    // Read-modify-write: a block or a metadata change made meanwhile stays.
    state
        .store
        .update_user_with(&user.user_id, |current| {
            if current.blocked {
                return Err(blocked());
            }
            Ok(User {
                user_id: current.user_id,
                connection_id: current.connection_id,
                blocked: current.blocked,
                app_metadata: current.app_metadata,
                user_metadata: current.user_metadata,
                ..refreshed
            })
        })
        .await?
}

/// The existing user a first login through `connection` joins, as its
/// `account_linking` option says; `None` provisions a new user.
async fn linking_target(
    state: &AppState,
    connection: &Connection,
    identity: &Identity,
    linking: AccountLinking,
) -> Result<Option<User>, LoginError> {
    if linking == AccountLinking::Never {
        return Ok(None);
    }
    // An email the upstream does not vouch for takes over nothing (nOAuth:
    // anyone can type someone else's address at many IdPs), nor does it
    // learn whether an account has it.
    let Some(email) = identity
        .email
        .as_deref()
        .filter(|_| identity.email_verified)
    else {
        return Ok(None);
    };
    match linking {
        AccountLinking::Never => Ok(None),
        // Tenant-wide, unlike `verified_email`: nothing is joined until the
        // person proves the account's password, so an IdP claiming someone
        // else's email gains nothing, and a person of no organization yet
        // (the usual first SSO login) can still bring their account along.
        AccountLinking::ProveExisting => {
            let mut password_users = Vec::new();
            for stored in state.store.list_users_by_email(email).await? {
                let own = state
                    .store
                    .get_connection(&stored.user.connection_id)
                    .await?;
                if own.strategy.is_database() {
                    password_users.push(stored.user);
                }
            }
            match password_users.as_slice() {
                [existing] => Err(LoginError::ProveExisting(Box::new(PendingLink {
                    connection_id: connection.id.clone(),
                    subject: identity.subject.clone(),
                    user_id: existing.user_id.clone(),
                    profile_data: profile_data(identity),
                }))),
                // None to prove, or several: which is theirs is not guessed.
                _ => Ok(None),
            }
        }
        AccountLinking::VerifiedEmail => {
            let scope = LinkingScope::of(state, connection).await?;
            let mut candidates: Vec<User> = Vec::new();
            for stored in state.store.list_users_by_email(email).await? {
                let user = stored.user;
                if user.email_verified
                    && user.connection_id != connection.id
                    && scope.admits(state, &user).await?
                {
                    candidates.push(user);
                }
            }
            if candidates.len() > 1 {
                // Which account is theirs is not for us to guess.
                tracing::info!(
                    count = candidates.len(),
                    "several verified accounts share the email: a new user, linked to none"
                );
                return Ok(None);
            }
            Ok(candidates.pop())
        }
    }
}

/// The existing users a connection's identities may join by a verified
/// email alone (`verified_email`). A
/// connection enabled on no organization (a tenant admin's social or
/// enterprise connection) vouches tenant-wide. A connection enabled on
/// organizations is their IdP, configured by them: it vouches only for
/// people who belong to those organizations alone. A member of another
/// organization too is not joined (that organization never trusted this
/// IdP, and the account is also the way into it), nor is a user of no
/// organization (the tenant's, not the organization's).
enum LinkingScope {
    Tenant,
    Organizations(Vec<String>),
}

impl LinkingScope {
    async fn of(state: &AppState, connection: &Connection) -> Result<Self, StoreError> {
        let organizations = state
            .store
            .list_connection_organization_ids(&connection.id)
            .await?;
        Ok(if organizations.is_empty() {
            LinkingScope::Tenant
        } else {
            LinkingScope::Organizations(organizations)
        })
    }

    async fn admits(&self, state: &AppState, user: &User) -> Result<bool, StoreError> {
        let LinkingScope::Organizations(enabling) = self else {
            return Ok(true);
        };
        let memberships = state
            .store
            .list_user_organization_ids(&user.user_id)
            .await?;
        let admitted =
            !memberships.is_empty() && memberships.iter().all(|org| enabling.contains(org));
        if !admitted {
            tracing::info!(
                user_id = %user.user_id,
                "an account outside the organizations of the connection is not linked"
            );
        }
        Ok(admitted)
    }
}

/// A user provisioned just in time from its first identity.
fn provisioned_user(connection: &Connection, identity: &Identity) -> User {
    User {
        user_id: federated_user_id(connection.strategy, &connection.name, &identity.subject),
        connection_id: connection.id.clone(),
        email: identity.email.clone(),
        email_verified: identity.email.is_some() && identity.email_verified,
        name: identity.name.clone(),
        given_name: identity.given_name.clone(),
        family_name: identity.family_name.clone(),
        nickname: identity.nickname.clone(),
        picture: identity.picture.clone(),
        blocked: false,
        app_metadata: serde_json::Map::new(),
        user_metadata: serde_json::Map::new(),
    }
}

/// The profile an identity brought, as the Management API shows it for a
/// linked identity (Auth0's `profileData`).
fn profile_data(identity: &Identity) -> ProfileData {
    let mut profile = ProfileData::new();
    let fields = [
        ("email", &identity.email),
        ("name", &identity.name),
        ("given_name", &identity.given_name),
        ("family_name", &identity.family_name),
        ("nickname", &identity.nickname),
        ("picture", &identity.picture),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            profile.insert(key.to_owned(), value.clone().into());
        }
    }
    if identity.email.is_some() {
        profile.insert("email_verified".into(), identity.email_verified.into());
    }
    profile
}

/// The subject becomes part of a user id, a URL path segment and logs.
fn check_subject(subject: &str) -> Result<(), LoginError> {
    if subject.is_empty()
        || subject.len() > MAX_SUBJECT_LEN
        || subject.chars().any(char::is_control)
    {
        return Err(LoginError::Retry(
            "The identity provider did not say who you are (no usable user id).".into(),
        ));
    }
    Ok(())
}

fn blocked() -> LoginError {
    LoginError::Retry("This account is blocked.".into())
}

/// Sends a login that ended in [`LoginError::ProveExisting`] on to the page
/// where the person logs in to the existing account (or goes on with a new
/// one). The pending link is kept with the login transaction.
pub async fn ask_to_prove(
    state: &AppState,
    txn: &Transaction,
    pending: &PendingLink,
) -> Result<Finished, LoginError> {
    state.store.put_pending_link(&txn.id, pending).await?;
    Ok(Finished {
        next: Next::Page(format!("/u/link?state={}", txn.id)),
        session_cookie: None,
        transaction_ended: false,
    })
}

/// What the linking page asks about.
pub struct LinkQuestion {
    /// The existing account's email.
    pub email: String,
    /// The upstream the person came from (its display name, else its name).
    pub connection: String,
}

pub async fn link_question(
    state: &AppState,
    txn: &Transaction,
) -> Result<LinkQuestion, LoginError> {
    let pending = state.store.get_pending_link(&txn.id).await?;
    let user = state.store.get_user(&pending.user_id).await?.user;
    let connection = state.store.get_connection(&pending.connection_id).await?;
    Ok(LinkQuestion {
        email: user.email.ok_or(LoginError::Expired)?,
        connection: connection.label().to_owned(),
    })
}

/// The person proved the existing account with its password: the upstream
/// identity joins it and the login ends as that user's. Brute-force
/// protection counts the attempt as the password page does.
pub async fn submit_link_password(
    state: &AppState,
    txn: &Transaction,
    password: &str,
    client_ip: std::net::IpAddr,
) -> Result<Finished, LoginError> {
    let pending = state.store.get_pending_link(&txn.id).await?;
    let user = state.store.get_user(&pending.user_id).await?.user;
    let email = user.email.clone().ok_or(LoginError::Expired)?;
    let attempt =
        throttle::begin_password_attempt(state, &user.connection_id, &email, client_ip).await?;
    let hash = match state
        .store
        .find_password_user(&user.connection_id, &email)
        .await?
    {
        Some((found, Some(hash))) if found.user.user_id == user.user_id => hash,
        _ => return Err(LoginError::Expired),
    };
    if !verify_password(password.to_owned(), hash).await? {
        return Err(LoginError::Retry("Wrong password.".into()));
    }
    if user.blocked {
        return Err(blocked());
    }
    attempt.succeeded(state).await?;
    if !state.store.delete_pending_link(&txn.id).await? {
        return Err(LoginError::Expired);
    }
    let linked = state
        .store
        .insert_identity(
            &pending.connection_id,
            &pending.subject,
            &user.user_id,
            &pending.profile_data,
        )
        .await;
    match linked {
        Ok(()) => login::finish(state, txn, &user, &pending.connection_id).await,
        // Linked meanwhile (another tab went on with a new account).
        Err(StoreError::Conflict(_)) => Err(LoginError::Expired),
        Err(e) => Err(e.into()),
    }
}

/// The person goes on without the existing account: a new user, as with
/// `account_linking: never`.
pub async fn skip_link(state: &AppState, txn: &Transaction) -> Result<Finished, LoginError> {
    let pending = state.store.get_pending_link(&txn.id).await?;
    if !state.store.delete_pending_link(&txn.id).await? {
        return Err(LoginError::Expired);
    }
    let connection = state.store.get_connection(&pending.connection_id).await?;
    let identity = identity_from_profile(&pending);
    let user = resolve(state, &connection, &identity, AccountLinking::Never).await?;
    login::finish(state, txn, &user, &connection.id).await
}

/// The identity a pending link was made from, back from its profile.
fn identity_from_profile(pending: &PendingLink) -> Identity {
    let text = |key: &str| {
        pending
            .profile_data
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    Identity {
        connection_id: pending.connection_id.clone(),
        subject: pending.subject.clone(),
        email: text("email"),
        email_verified: pending.profile_data.get("email_verified")
            == Some(&serde_json::Value::Bool(true)),
        name: text("name"),
        given_name: text("given_name"),
        family_name: text("family_name"),
        nickname: text("nickname"),
        picture: text("picture"),
        groups: Vec::new(),
        raw: serde_json::Map::new(),
        tenant: crate::connectors::UpstreamTenant::default(),
    }
}

/// Where a login through a connection shared by many organizations
/// (`options.organization_from_upstream_tenant`) goes, decided by the
/// tenant in the identity's verified ID token: `Ok(Some(org))` sets the
/// login's organization (it had none and the client takes organizations),
/// `Ok(None)` leaves the login as it is. In an organization's login the
/// tenant must be that organization's, else the login is refused (a person
/// of another Workspace or Entra tenant does not enter). A tenant that maps
/// to no organization is refused, whatever the client's organization_usage.
pub async fn organization_of_tenant(
    state: &AppState,
    txn: &Transaction,
    connection: &Connection,
    identity: &Identity,
) -> Result<Option<String>, LoginError> {
    use crate::model::client::OrganizationUsage;
    if !connection.options.organization_from_upstream_tenant() {
        return Ok(None);
    }
    let mapped = tenant_organization(state, connection, &identity.tenant).await?;
    let tenant = identity
        .tenant
        .tid
        .as_deref()
        .or(identity.tenant.hd.as_deref())
        .unwrap_or("(none)");
    let label = connection.label();
    match (&txn.request.organization_id, mapped) {
        (Some(asked), Some(mapped)) if *asked == mapped => Ok(None),
        (Some(asked), mapped) => {
            tracing::warn!(
                organization_id = %asked,
                mapped_organization_id = mapped.as_deref().unwrap_or("(none)"),
                connection = %connection.name,
                tenant,
                "shared connection: the upstream tenant is not the organization's"
            );
            Err(LoginError::Retry(format!(
                "Your {label} account belongs to a directory that is not this \
                 organization's, so it cannot sign in here. Sign in with your \
                 organization's account, or ask your administrator."
            )))
        }
        (None, Some(mapped)) if txn.client.organization_usage != OrganizationUsage::Deny => {
            tracing::info!(organization_id = %mapped, connection = %connection.name, tenant,
                "shared connection: the upstream tenant decides the organization");
            Ok(Some(mapped))
        }
        // Without an organization for this client: still someone of a registered tenant.
        (None, Some(_)) => Ok(None),
        // Refused whatever the client's organization_usage: an account of a
        // tenant nobody registered could otherwise sign in here and then be
        // taken into an organization by its SSO session.
        (None, None) => {
            tracing::warn!(
                connection = %connection.name,
                tenant,
                "shared connection: the upstream tenant maps to no organization"
            );
            Err(LoginError::Retry(format!(
                "Your {label} account belongs to a directory that no organization here \
                 has registered, so it cannot sign in here. Ask your administrator to \
                 register it."
            )))
        }
    }
}

/// The organization the upstream `tenant` maps to on `connection`: the one
/// whose enabled connection records the tenant (`upstream_tenant_id`: an
/// Entra `tid`, or a Workspace `hd`), else, for a Workspace `hd`, the
/// organization whose verified domain it is — when it enables the connection.
async fn tenant_organization(
    state: &AppState,
    connection: &Connection,
    tenant: &crate::connectors::UpstreamTenant,
) -> Result<Option<String>, LoginError> {
    // An Entra tenant is its `tid` alone: an `hd` beside it (any IdP may
    // send one) never maps a tenant nobody registered.
    if let Some(tid) = &tenant.tid {
        return Ok(state
            .store
            .find_upstream_tenant_organization(&connection.id, tid)
            .await?);
    }
    let Some(hd) = tenant
        .hd
        .as_deref()
        .and_then(|hd| crate::model::domain::normalize(hd).ok())
    else {
        return Ok(None);
    };
    if let Some(org) = state
        .store
        .find_upstream_tenant_organization(&connection.id, &hd)
        .await?
    {
        return Ok(Some(org));
    }
    let Some(route) = state.routing.lookup(&hd).await? else {
        return Ok(None);
    };
    let enables = state
        .organizations
        .enabled_connections(&state.store, &route.organization_id)
        .await?
        .iter()
        .any(|view| view.enabled.connection_id == connection.id);
    Ok(enables.then_some(route.organization_id))
}
