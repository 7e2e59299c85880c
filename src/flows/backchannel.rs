//! OpenID Connect Back-Channel Logout 1.0: when an SSO session ends (the
//! user logs out, an administrator ends it or the user's sessions, the user
//! or their connection is deleted, another user logs in in that browser),
//! every client it was used for that registered a
//! back-channel logout URL receives a logout token — a JWT naming the
//! session (`sid`) and the user (`sub`) — and ends its own session.
//!
//! Tokens are sent from a background task, at most once and without retries:
//! a logout never waits for, or fails because of, a client that is down.
//! The tasks are the state's `background` ones, so that a test can wait for
//! every delivery to be done. Tokens go through the state's `outbound`
//! client: a URL, or a name it resolves to, that is not an allowed
//! destination gets nothing (the URL was checked when registered, but the
//! rules may have tightened since, and a name can change its answer).

use std::time::Duration;

use serde::Serialize;

use crate::model::client::Client;
use crate::model::ids;
use crate::outbound::{self, Outbound, OutboundError};
use crate::state::AppState;
use crate::store::StoreError;

/// The `typ` of a logout token (§2.4: explicitly typed, so that it cannot
/// pass for an ID token or an access token).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token is used at once; two minutes cover clock skew.
pub const LOGOUT_TOKEN_LIFETIME_SECS: i64 = 120;
/// How long a client may take to answer (§2.5 leaves it to the OP).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize)]
struct LogoutTokenClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sub: &'a str,
    sid: &'a str,
    events: serde_json::Value,
}

/// Ends a session and announces it; true if this call ended it.
pub async fn end_session(state: &AppState, session_id: &str) -> Result<bool, StoreError> {
    let Some(user_id) = state.store.end_session(session_id).await? else {
        return Ok(false);
    };
    announce(state, session_id, &user_id).await;
    Ok(true)
}

/// Ends every session of a user and announces each; how many were live.
pub async fn end_user_sessions(state: &AppState, user_id: &str) -> Result<usize, StoreError> {
    let ended = state.store.end_user_sessions(user_id).await?;
    for session_id in &ended {
        announce(state, session_id, user_id).await;
    }
    Ok(ended.len())
}

/// Ends the sessions opened through a connection, before it is deleted (its
/// users and their sessions go with it), and announces each.
pub async fn end_connection_sessions(
    state: &AppState,
    connection_id: &str,
) -> Result<usize, StoreError> {
    let ended = state.store.end_connection_sessions(connection_id).await?;
    for (session_id, user_id) in &ended {
        announce(state, session_id, user_id).await;
    }
    Ok(ended.len())
}

/// Records that `session_id` logged in to `client`, when the client takes
/// back-channel logout tokens. False when the session ended meanwhile (a
/// logout raced this login): the login must not go on with it.
pub async fn remember_client(
    state: &AppState,
    session_id: &str,
    client: &Client,
) -> Result<bool, StoreError> {
    if client.backchannel_logout_url.is_none() {
        return Ok(true);
    }
    state
        .store
        .add_session_client(session_id, &client.client_id)
        .await
}

/// Sends the ended session's logout token to each client that takes one.
/// The session has ended whatever happens here: failures are logged.
pub async fn announce(state: &AppState, session_id: &str, user_id: &str) {
    let client_ids = match state.store.list_session_clients(session_id).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, sid = %session_id, "cannot read the clients to tell of a logout");
            return;
        }
    };
    for client_id in client_ids {
        let client = match state.clients.get(&state.store, &client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(error = %e, %client_id, "cannot load a client to tell of a logout");
                continue;
            }
        };
        let Some(url) = client.backchannel_logout_url.clone() else {
            continue;
        };
        let now = state.clock.now_unix_seconds();
        let claims = LogoutTokenClaims {
            iss: state.issuer.identifier(),
            aud: &client.client_id,
            iat: now,
            exp: now + LOGOUT_TOKEN_LIFETIME_SECS,
            jti: ids::random_alphanumeric(22),
            sub: user_id,
            sid: session_id,
            events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        };
        let token = match state
            .keys
            .sign(client.signing_alg, LOGOUT_TOKEN_TYP, &claims)
        {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(error = %e, %client_id, "cannot sign a logout token");
                continue;
            }
        };
        state.background.spawn(deliver(
            state.outbound.clone(),
            client.client_id.clone(),
            url,
            token,
        ));
    }
}

/// POSTs a logout token (§2.5: form-encoded `logout_token`).
async fn deliver(outbound: Outbound, client_id: String, url: String, token: String) {
    let sent = async {
        let request = outbound
            .post(&url)?
            .timeout(DELIVERY_TIMEOUT)
            .form(&[("logout_token", token.as_str())]);
        outbound::send(request).await
    }
    .await;
    match sent {
        Ok(response) if response.status().is_success() => {
            tracing::info!(%client_id, "back-channel logout delivered");
        }
        Ok(response) => {
            tracing::warn!(%client_id, status = response.status().as_u16(), "back-channel logout refused by the client");
        }
        Err(OutboundError::Refused(refused)) => {
            tracing::warn!(%client_id, reason = %refused, "back-channel logout URL not allowed: not sent");
        }
        Err(e) => {
            tracing::warn!(%client_id, error = %e, "back-channel logout not delivered");
        }
    }
}
