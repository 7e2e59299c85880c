//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ends the
//! browser's SSO session, then returns to the client only at a URL the
//! client registered in `allowed_logout_urls` (never an open redirect).
//!
//! Any site can send a browser to the logout endpoint, so a request ends the
//! session at once only when its `id_token_hint` is an ID token we issued in
//! that very session (§2: such a request comes from one of its relying
//! parties). Any other asks the user first (§3), on a page whose form
//! carries a token that only the browser holding the session cookie can have
//! ([`confirmation_token`]).

use std::sync::Arc;

use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::issue::{IdTokenHint, verify_id_token_hint};
use super::request::{ClientResponse, ResponseMode};
use super::sha256_hex;
use crate::connectors::saml::logout::LOGOUT_PATH;
use crate::connectors::{Begin, CallbackParams, UpstreamLogout};
use crate::model::client::Client;
use crate::model::ids;
use crate::state::AppState;
use crate::store::{StoreError, StoredSamlLogout, StoredSession};

/// How long an IdP has to answer a LogoutRequest.
const UPSTREAM_LOGOUT_LIFETIME_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Default, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub logout_hint: Option<String>,
    pub ui_locales: Option<String>,
}

/// A logout that cannot go on: shown on a page, never redirected.
#[derive(Debug)]
pub enum LogoutRefused {
    /// The request cannot be trusted.
    Invalid { title: &'static str, detail: String },
    /// The store failed: logged, not shown.
    Store(StoreError),
}

fn refused(title: &'static str, detail: impl Into<String>) -> LogoutRefused {
    LogoutRefused::Invalid {
        title,
        detail: detail.into(),
    }
}

/// A logout request whose client and post-logout URL have been checked.
#[derive(Debug)]
pub struct CheckedLogout {
    /// The client it names (by `id_token_hint` or `client_id`).
    pub client: Option<Arc<Client>>,
    /// One of the client's `allowed_logout_urls`, when the request asked for one.
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    hint: Option<IdTokenHint>,
}

impl CheckedLogout {
    /// Where the browser goes once logged out: the client's post-logout URL
    /// with its `state`, or `None` for the "you are logged out" page.
    pub fn redirect(&self) -> Option<String> {
        let uri = self.post_logout_redirect_uri.as_ref()?;
        let response = ClientResponse {
            redirect_uri: uri.clone(),
            mode: ResponseMode::Query,
            params: self
                .state
                .iter()
                .map(|s| ("state".to_owned(), s.clone()))
                .collect(),
        };
        Some(response.query_url())
    }

    /// Whether the request may end `session` without asking the user: its
    /// `id_token_hint` was issued in that session, to its user.
    pub fn hints_at(&self, session: &StoredSession) -> bool {
        self.hint.as_ref().is_some_and(|hint| {
            hint.sub == session.user_id && hint.sid.as_deref() == Some(session.id.as_str())
        })
    }
}

/// Checks a logout request: the hint is ours, `client_id` agrees with it,
/// the client exists and the post-logout URL is one it registered. Ends
/// nothing.
pub async fn check(
    state: &AppState,
    params: &LogoutParams,
) -> Result<CheckedLogout, LogoutRefused> {
    let hint = match params.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        Some(hint) => Some(verified_hint(state, hint)?),
        None => None,
    };
    let requested_client = params.client_id.as_deref().filter(|c| !c.is_empty());
    if let (Some(hint), Some(requested)) = (&hint, requested_client) {
        if hint.aud != requested {
            return Err(refused(
                "Invalid logout request",
                "client_id does not match the audience of id_token_hint.",
            ));
        }
    }
    let client = match hint.as_ref().map(|h| h.aud.as_str()).or(requested_client) {
        Some(client_id) => Some(load_client(state, client_id).await?),
        None => None,
    };
    let post_logout_redirect_uri = match params
        .post_logout_redirect_uri
        .as_deref()
        .filter(|u| !u.is_empty())
    {
        Some(uri) => {
            let client = client.as_ref().ok_or_else(|| {
                refused(
                    "Invalid logout request",
                    "post_logout_redirect_uri needs id_token_hint or client_id to say which application it belongs to.",
                )
            })?;
            if !client
                .allowed_logout_urls
                .iter()
                .any(|allowed| allowed == uri)
            {
                return Err(refused(
                    "Logout URL mismatch",
                    "post_logout_redirect_uri is not one of the application's allowed logout URLs (they are compared exactly).",
                ));
            }
            Some(uri.to_owned())
        }
        None => None,
    };
    Ok(CheckedLogout {
        client,
        post_logout_redirect_uri,
        state: params.state.clone(),
        hint,
    })
}

/// Ends the browser's session (and announces it on the back channel).
pub async fn end(state: &AppState, session: &StoredSession) -> Result<(), LogoutRefused> {
    super::backchannel::end_session(state, &session.id)
        .await
        .map_err(LogoutRefused::Store)?;
    tracing::info!(sid = %session.id, "session ended by logout");
    Ok(())
}

/// After `session` ended here: where the browser goes to end the session
/// its SAML login opened at the IdP (single logout), or `None` when there
/// is none to end there. The answer comes back to [`LOGOUT_PATH`], which
/// then sends the browser to `return_to` (the client's post-logout URL with
/// its state; `None`: the logged-out page). Whatever fails here is logged
/// and the logout goes on without the IdP: the session is already over.
pub async fn begin_upstream(
    state: &AppState,
    session: &StoredSession,
    return_to: Option<String>,
) -> Option<Begin> {
    match try_begin_upstream(state, session, return_to).await {
        Ok(begin) => begin,
        Err(error) => {
            tracing::warn!(sid = %session.id, %error, "single logout at the IdP not started");
            None
        }
    }
}

async fn try_begin_upstream(
    state: &AppState,
    session: &StoredSession,
    return_to: Option<String>,
) -> Result<Option<Begin>, String> {
    let Some(subject) = state
        .store
        .get_saml_session_subject(&session.id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let connection = match state.store.get_connection(&subject.connection_id).await {
        Ok(connection) => connection,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let connector = state
        .connectors
        .redirect(&connection)
        .await
        .map_err(|e| e.to_string())?;
    let logout = UpstreamLogout {
        request_id: format!("_{}", ids::random_alphanumeric(40)),
        relay_state: ids::random_alphanumeric(43),
        subject,
    };
    let Some(begin) = connector
        .begin_logout(&logout)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    state
        .store
        .insert_saml_logout_request(&StoredSamlLogout {
            relay_state_hash: sha256_hex(&logout.relay_state),
            connection_id: connection.id.clone(),
            request_id: logout.request_id.clone(),
            return_to,
            expires_at: state.clock.now_unix_millis() + UPSTREAM_LOGOUT_LIFETIME_MS,
        })
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(sid = %session.id, connection = %connection.name, "single logout sent to the IdP");
    Ok(Some(begin))
}

/// The IdP's LogoutResponse at [`LOGOUT_PATH`] (`raw_query`: the query as
/// sent, when it came by redirect): its RelayState names a logout request
/// of ours, once; the response must verify as the answer to it. Then where
/// the browser goes (`None`: the logged-out page), which only the stored
/// request says: a forged response leads nowhere else. A failure status
/// is logged; the session at Switchyard ended before the IdP was asked.
pub async fn finish_upstream(
    state: &AppState,
    params: &CallbackParams,
    raw_query: Option<&str>,
) -> Result<Option<String>, LogoutRefused> {
    if params.contains_key("SAMLRequest") {
        return Err(refused(
            "Logout request not supported",
            "Logouts started at the identity provider are not supported: you may still be \
             logged in here. Log out from the application.",
        ));
    }
    let relay_state = params
        .get("RelayState")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            refused(
                "Invalid logout response",
                "The identity provider's logout answer names no logout in progress (RelayState).",
            )
        })?;
    let record = match state
        .store
        .take_saml_logout_request(&sha256_hex(relay_state), state.clock.now_unix_millis())
        .await
    {
        Ok(record) => record,
        Err(StoreError::NotFound) => {
            tracing::warn!("a SAML logout response for no pending logout request");
            return Err(refused(
                "Unknown logout",
                "This logout answer is for no logout in progress: it is unknown, expired or \
                 was already used.",
            ));
        }
        Err(e) => return Err(LogoutRefused::Store(e)),
    };
    let connection = state
        .store
        .get_connection(&record.connection_id)
        .await
        .map_err(LogoutRefused::Store)?;
    let verified = match state.connectors.redirect(&connection).await {
        Ok(connector) => {
            connector
                .finish_logout(
                    &record.request_id,
                    &state.issuer.url(LOGOUT_PATH),
                    params,
                    raw_query,
                )
                .await
        }
        Err(e) => Err(e),
    };
    match verified {
        Ok(None) => {
            tracing::info!(connection = %connection.name, "the IdP ended its session (single logout)");
        }
        Ok(Some(failure)) => {
            tracing::warn!(connection = %connection.name, %failure,
                "the IdP reports that single logout failed; the session here has ended");
        }
        Err(error) => {
            tracing::warn!(connection = %connection.name, %error, "a SAML logout response was refused");
            return Err(refused(
                "Logout response refused",
                "You are logged out here, but the identity provider's logout answer could not \
                 be verified. Close the browser to end your session there.",
            ));
        }
    }
    Ok(record.return_to)
}

/// The CSRF token of the logout confirmation form, bound to the browser by
/// its session cookie: derived from the cookie's secret (which the store
/// does not keep), it is known only to the browser holding the cookie, and
/// is worthless once that session ends.
pub fn confirmation_token(session_secret: &str) -> String {
    sha256_hex(&format!("logout-confirmation:{session_secret}"))
}

/// Whether a posted confirmation carries the token of this browser's session
/// (compared in constant time).
pub fn is_confirmed(session_secret: &str, presented: &str) -> bool {
    bool::from(
        confirmation_token(session_secret)
            .as_bytes()
            .ct_eq(presented.as_bytes()),
    )
}

/// The claims of a hint we issued.
fn verified_hint(state: &AppState, hint: &str) -> Result<IdTokenHint, LogoutRefused> {
    verify_id_token_hint(state, hint).map_err(|e| {
        tracing::info!(reason = %e, "id_token_hint rejected");
        refused(
            "Invalid logout request",
            "id_token_hint is not an ID token issued by this server.",
        )
    })
}

async fn load_client(state: &AppState, client_id: &str) -> Result<Arc<Client>, LogoutRefused> {
    state
        .clients
        .get(&state.store, client_id)
        .await
        .map_err(LogoutRefused::Store)?
        .ok_or_else(|| {
            refused(
                "Unknown client",
                "No application is registered with this client_id.",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_confirmation_token_is_the_sessions_own() {
        let token = confirmation_token("secret-of-this-browser");
        assert!(is_confirmed("secret-of-this-browser", &token));
        assert!(!is_confirmed("secret-of-another-browser", &token));
        assert!(!is_confirmed("secret-of-this-browser", ""));
        // Not the digest the store keeps of the session secret.
        assert_ne!(token, sha256_hex("secret-of-this-browser"));
    }

    #[test]
    fn only_a_hint_from_the_session_itself_skips_the_question() {
        let session = StoredSession {
            id: "sid-1".into(),
            user_id: "usr_1".into(),
            connection_id: "con_1".into(),
            auth_time: 0,
            created_at: 0,
            last_used_at: 0,
            expires_at: 1,
        };
        let with_hint = |sub: &str, sid: Option<&str>| CheckedLogout {
            client: None,
            post_logout_redirect_uri: None,
            state: None,
            hint: Some(IdTokenHint {
                aud: "web".into(),
                sub: sub.into(),
                sid: sid.map(str::to_owned),
            }),
        };
        assert!(with_hint("usr_1", Some("sid-1")).hints_at(&session));
        assert!(
            !with_hint("usr_1", Some("sid-2")).hints_at(&session),
            "another session"
        );
        assert!(
            !with_hint("usr_2", Some("sid-1")).hints_at(&session),
            "another user"
        );
        assert!(
            !with_hint("usr_1", None).hints_at(&session),
            "no session named"
        );
        let no_hint = CheckedLogout {
            hint: None,
            ..with_hint("usr_1", Some("sid-1"))
        };
        assert!(!no_hint.hints_at(&session));
    }
}
