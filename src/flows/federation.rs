//! From an upstream identity to one of Switchyard's users. The identity
//! table maps (connection, upstream subject) to a user, so a person is found
//! again whatever their email does (an upstream may send none). A first
//! login either links the identity to an existing user, as the connection's
//! `account_linking` option allows, or provisions a user just in time. The
//! organization's rules (enabled connection, membership) are applied after,
//! by [`super::login::finish`], for every kind of login alike.

use crate::connectors::Identity;
use crate::model::connection::{AccountLinking, Connection};
use crate::model::user::{User, federated_user_id};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::identities::ProfileData;

use super::login::LoginError;

/// The longest upstream subject kept (SAML NameIDs can be long; OIDC's
/// `sub` is at most 255 ASCII characters). It becomes part of the user id.
const MAX_SUBJECT_LEN: usize = 1024;

/// The user `identity` (just returned by `connection`'s upstream) logs in
/// as: the one its identity is linked to, else an existing user the
/// connection's linking policy links it to, else a new user. The profile of
/// a user provisioned from this identity follows the upstream at every login
/// (Auth0's default). A blocked user is refused.
#[tracing::instrument(skip_all, fields(connection_id = %connection.id))]
pub async fn user_for_identity(
    state: &AppState,
    connection: &Connection,
    identity: &Identity,
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
        let created = match linking_target(state, connection, identity).await? {
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
    let refreshed = User {
        email: identity.email.clone(),
        email_verified: identity.email.is_some() && identity.email_verified,
        name: identity.name.clone(),
        given_name: identity.given_name.clone(),
        family_name: identity.family_name.clone(),
        nickname: identity.nickname.clone(),
        picture: identity.picture.clone(),
        ..user.clone()
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
) -> Result<Option<User>, LoginError> {
    match connection.options.account_linking() {
        AccountLinking::Never => Ok(None),
        AccountLinking::VerifiedEmail => {
            // An email the upstream does not vouch for takes over nothing
            // (nOAuth: anyone can type someone else's address at many IdPs).
            let Some(email) = identity
                .email
                .as_deref()
                .filter(|_| identity.email_verified)
            else {
                return Ok(None);
            };
            let mut candidates: Vec<User> = state
                .store
                .list_users_by_email(email)
                .await?
                .into_iter()
                .map(|stored| stored.user)
                .filter(|user| user.email_verified && user.connection_id != connection.id)
                .collect();
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
