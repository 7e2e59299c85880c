//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ends the
//! browser's SSO session, then returns to the client only at a URL the
//! client registered in `allowed_logout_urls` (never an open redirect).

use serde::Deserialize;

use super::issue::verify_id_token_hint;
use super::request::{ClientResponse, ResponseMode};
use crate::model::client::Client;
use crate::state::AppState;
use crate::store::StoredSession;

#[derive(Debug, Default, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub logout_hint: Option<String>,
    pub ui_locales: Option<String>,
}

/// A logout request that cannot be trusted: shown on a page, not redirected.
#[derive(Debug)]
pub struct LogoutRefused {
    pub title: &'static str,
    pub detail: String,
}

fn refused(title: &'static str, detail: impl Into<String>) -> LogoutRefused {
    LogoutRefused {
        title,
        detail: detail.into(),
    }
}

/// Ends `browser_session` and answers where to send the browser: the
/// client's registered post-logout URL (with `state`), or `None` for the
/// "you are logged out" page.
pub async fn logout(
    state: &AppState,
    params: &LogoutParams,
    browser_session: Option<&StoredSession>,
) -> Result<Option<String>, LogoutRefused> {
    let hinted_client = match params.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        Some(hint) => Some(hinted_client(state, hint)?),
        None => None,
    };
    let requested_client = params.client_id.as_deref().filter(|c| !c.is_empty());
    if let (Some(hinted), Some(requested)) = (&hinted_client, requested_client) {
        if hinted != requested {
            return Err(refused(
                "Invalid logout request",
                "client_id does not match the audience of id_token_hint.",
            ));
        }
    }
    let client = match hinted_client.as_deref().or(requested_client) {
        Some(client_id) => Some(load_client(state, client_id).await?),
        None => None,
    };
    let redirect = match params
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
            // Back to the client, with its `state` when it sent one.
            let response = ClientResponse {
                redirect_uri: uri.to_owned(),
                mode: ResponseMode::Query,
                params: params
                    .state
                    .iter()
                    .map(|s| ("state".to_owned(), s.clone()))
                    .collect(),
            };
            Some(response.query_url())
        }
        None => None,
    };
    if let Some(session) = browser_session {
        super::backchannel::end_session(state, &session.id)
            .await
            .map_err(store_failure)?;
        tracing::info!(sid = %session.id, "session ended by logout");
    }
    Ok(redirect)
}

/// The client an ID token we issued was for.
fn hinted_client(state: &AppState, hint: &str) -> Result<String, LogoutRefused> {
    verify_id_token_hint(state, hint)
        .map(|claims| claims.aud)
        .map_err(|e| {
            tracing::info!(reason = %e, "id_token_hint rejected");
            refused(
                "Invalid logout request",
                "id_token_hint is not an ID token issued by this server.",
            )
        })
}

async fn load_client(
    state: &AppState,
    client_id: &str,
) -> Result<std::sync::Arc<Client>, LogoutRefused> {
    state
        .clients
        .get(&state.store, client_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| {
            refused(
                "Unknown client",
                "No application is registered with this client_id.",
            )
        })
}

fn store_failure(error: crate::store::StoreError) -> LogoutRefused {
    tracing::error!(%error, "logout failed");
    refused("Something went wrong", "Please try again later.")
}
