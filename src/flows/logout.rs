//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ends the
//! browser's SSO session, then returns to the client only at a URL the
//! client registered in `allowed_logout_urls` (never an open redirect).

use serde::Deserialize;

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

/// The claims of an `id_token_hint` that logout reads.
#[derive(Debug, Deserialize)]
struct HintClaims {
    aud: String,
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
            Some(with_state(uri, params.state.as_deref()))
        }
        None => None,
    };
    if let Some(session) = browser_session {
        state
            .store
            .end_session(&session.id)
            .await
            .map_err(store_failure)?;
        tracing::info!(sid = %session.id, "session ended by logout");
    }
    Ok(redirect)
}

/// The client an ID token we issued was for. Expired hints are accepted
/// (the point of logout is often a stale session); foreign ones are not.
fn hinted_client(state: &AppState, hint: &str) -> Result<String, LogoutRefused> {
    let mut validation = jsonwebtoken::Validation::default();
    validation.set_issuer(&[state.issuer.identifier()]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "aud", "sub"]);
    state
        .keys
        .verify::<HintClaims>(hint, "JWT", validation)
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

fn with_state(uri: &str, state: Option<&str>) -> String {
    let Some(state) = state else {
        return uri.to_owned();
    };
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("state", state);
            url.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}
