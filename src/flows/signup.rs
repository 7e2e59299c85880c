//! Sign-up in universal login, as Auth0's (`screen_hint=signup`, or the
//! "Sign up" link of the login pages): a new account in the database
//! connection the login would use, then the same [`login::finish`] as a login.
//!
//! Sign-up is allowed when that connection allows it in the login's context:
//! inside an organization, its enabled connection has `is_signup_enabled`
//! (which the store only accepts together with `assign_membership_on_login`,
//! so `finish` makes the new user a member); without an organization, the
//! connection does not set `options.disable_signup: true`.

use std::net::IpAddr;

use super::login::{self, Finished, LoginError, Transaction};
use super::throttle;
use crate::connectors::database::{check_password_policy, describe_password_policy, hash_password};
use crate::model::connection::Connection;
use crate::model::ids;
use crate::model::user::{User, normalize_email};
use crate::routing::Decision;
use crate::state::AppState;
use crate::store::StoreError;

/// Shown when the account could not be created because the email already
/// has one (or lost a race for it). The same words whatever the reason, so
/// the page never says "this email has an account".
pub const SIGNUP_FAILED: &str = "Something went wrong, please try again.";
pub const SIGNUP_NOT_ALLOWED: &str = "Sign-up is not available here.";

/// Whether the login may offer sign-up (for the "Sign up" links).
pub async fn signup_allowed(state: &AppState, txn: &Transaction) -> Result<bool, LoginError> {
    if txn.require_organization_asked().is_err() {
        return Ok(false);
    }
    let snapshot = login::routing_snapshot(state, &txn.request).await?;
    Ok(crate::routing::signup_connection(&snapshot).is_some())
}

/// The connection new accounts of this login are created in, or `None`
/// when sign-up is not allowed here.
pub async fn signup_connection(
    state: &AppState,
    txn: &Transaction,
) -> Result<Option<Connection>, LoginError> {
    let snapshot = login::routing_snapshot(state, &txn.request).await?;
    match crate::routing::signup_connection(&snapshot) {
        Some(candidate) => Ok(Some(
            state.store.get_connection(&candidate.connection_id).await?,
        )),
        None => Ok(None),
    }
}

/// The sign-up form: creates the account and finishes the login with it.
///
/// An email that already has an account in the connection is refused with
/// [`SIGNUP_FAILED`], and the account is left as it was. We do not sign the
/// person in even when the password matches the existing account: that would
/// turn this form into a second, differently-throttled password check, and
/// whoever knows the password can log in on the login page anyway. The
/// password is hashed before the insert in every case, so an existing email
/// costs the same time as a new one; and the refusal counts as a failure
/// against the client's address, which bounds how fast one address can probe
/// emails. (Without an email round trip, no sign-up form can hide that an
/// email is taken from someone who tries it; it can only not say so, and
/// slow the probing down.)
pub async fn submit_signup(
    state: &AppState,
    txn: &Transaction,
    raw_email: &str,
    password: &str,
    client_ip: IpAddr,
) -> Result<Finished, LoginError> {
    txn.require_organization_asked()?;
    let email = normalize_email(raw_email)
        .map_err(|_| LoginError::Retry("Enter a valid email address.".into()))?;
    state
        .store
        .set_login_transaction_email(&txn.id, &email)
        .await?;
    // A new account never inherits the organization an earlier email's
    // domain chose (nor becomes its member by signing up), and an email
    // whose verified domain routes to an identity provider signs in there:
    // no password account is made for it here.
    let mut txn = txn.clone();
    if txn.request.organization_by_domain {
        txn.request.organization_id = None;
        txn.request.organization_by_domain = false;
    }
    let txn = &txn;
    let snapshot = login::routing_snapshot_for(state, txn, &email).await?;
    let Decision::Password {
        connection_id,
        signup_allowed: true,
        ..
    } = crate::routing::decide(&email, &snapshot)
    else {
        return Err(LoginError::Retry(SIGNUP_NOT_ALLOWED.into()));
    };
    let connection = state.store.get_connection(&connection_id).await?;
    if check_password_policy(&connection.options, password).is_err() {
        return Err(LoginError::Retry(format!(
            "Your password is too weak. It must contain {}.",
            describe_password_policy(&connection.options)
        )));
    }
    throttle::count_signup(state, client_ip).await?;
    let password_hash = hash_password(password.to_owned()).await?;
    let user = User {
        user_id: ids::new_id(ids::USER),
        connection_id: connection_id.clone(),
        email: Some(email),
        email_verified: false,
        name: None,
        given_name: None,
        family_name: None,
        nickname: None,
        picture: None,
        blocked: false,
        app_metadata: serde_json::Map::new(),
        user_metadata: serde_json::Map::new(),
    };
    // The unique constraint, not a lookup before, decides: two sign-ups for
    // one email racing each other cannot both create it, nor overwrite.
    match state.store.insert_user(&user, Some(&password_hash)).await {
        Ok(()) => {}
        Err(StoreError::Conflict(constraint)) if constraint == "users_connection_email_key" => {
            return Err(LoginError::Retry(SIGNUP_FAILED.into()));
        }
        Err(e) => return Err(e.into()),
    }
    login::finish(state, txn, &user, &connection_id).await
}
