//! Consent, as Auth0 asks for it: a third-party client (`is_first_party`
//! false) gets nothing of a user until the user has allowed it the scopes
//! it asks for, on a page naming the client (and the organization and API).
//! The answer is remembered as a grant per user, client and audience; a
//! request whose scopes the grant already holds is not asked again, one
//! asking for more is (and Accept widens the grant). `prompt=consent` asks
//! even so; `prompt=none` gets `consent_required` instead of the page.
//! First-party clients are never asked. `offline_access` is a scope like
//! the others, as in Auth0.
//!
//! [`super::login`] decides when the page comes (after the user has
//! authenticated, before any code); this module only knows grants.

use super::request::AuthorizationRequest;
use crate::model::client::Client;
use crate::model::ids;
use crate::state::AppState;
use crate::store::{StoreError, UserGrant};

/// What the OpenID Connect scopes let a client have, in the user's words.
const OPENID_SCOPE_DESCRIPTIONS: &[(&str, &str)] = &[
    ("openid", "Know who you are when you sign in"),
    ("profile", "Your profile: name, nickname and picture"),
    ("email", "Your email address and whether it is verified"),
    (
        "offline_access",
        "Keep access while you are not using the application",
    ),
];

/// The audience a request's grant is kept under: its API, or (for the
/// OpenID scopes alone) [`userinfo_audience`].
pub fn grant_audience(state: &AppState, request: &AuthorizationRequest) -> String {
    request
        .audience
        .clone()
        .unwrap_or_else(|| userinfo_audience(state))
}

/// The audience of the grants for the OpenID scopes alone: the issuer's
/// `/userinfo`, as Auth0 shows them.
pub fn userinfo_audience(state: &AppState) -> String {
    state.issuer.url("/userinfo")
}

/// Whether the user must be asked before `client` gets a code for
/// `request`: never for a first-party client; always with
/// `prompt=consent`; otherwise unless the user's grant holds every scope
/// requested.
pub async fn needed(
    state: &AppState,
    client: &Client,
    request: &AuthorizationRequest,
    user_id: &str,
) -> Result<bool, StoreError> {
    if client.is_first_party {
        return Ok(false);
    }
    if request.prompt.iter().any(|p| p == "consent") {
        return Ok(true);
    }
    let granted = state
        .store
        .find_user_grant(user_id, &client.client_id, &grant_audience(state, request))
        .await?;
    Ok(!granted.is_some_and(|grant| {
        request
            .scope
            .iter()
            .all(|asked| grant.scope.contains(asked))
    }))
}

/// The user accepted: their grant to the request's client now holds the
/// requested scopes too.
pub async fn remember(
    state: &AppState,
    request: &AuthorizationRequest,
    user_id: &str,
) -> Result<UserGrant, StoreError> {
    state
        .store
        .grant_user_consent(
            &ids::new_id(ids::USER_GRANT),
            user_id,
            &request.client_id,
            &grant_audience(state, request),
            &request.scope,
        )
        .await
}

/// One scope on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeLine {
    pub value: String,
    pub description: Option<String>,
}

/// The API a request asks access to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiLine {
    pub name: String,
    pub identifier: String,
}

/// What the consent page shows besides the client's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentQuestion {
    /// The organization the login is in (its display name, else its name).
    pub organization: Option<String>,
    pub api: Option<ApiLine>,
    pub scopes: Vec<ScopeLine>,
}

/// The organization, API and scopes of a request, described for the user:
/// OpenID scopes in words, an API's scopes with the API's descriptions.
pub async fn question(
    state: &AppState,
    request: &AuthorizationRequest,
) -> Result<ConsentQuestion, StoreError> {
    let organization = match &request.organization_id {
        Some(id) => {
            let org = super::find_organization(state, id).await?;
            Some(org.display_name.clone().unwrap_or_else(|| org.name.clone()))
        }
        None => None,
    };
    let api = match &request.audience {
        Some(audience) => Some(
            state
                .resource_servers
                .by_identifier(&state.store, audience)
                .await?,
        ),
        None => None,
    };
    let scopes = request
        .scope
        .iter()
        .map(|value| {
            let described = OPENID_SCOPE_DESCRIPTIONS
                .iter()
                .find(|(scope, _)| scope == value)
                .map(|(_, description)| (*description).to_owned())
                .or_else(|| {
                    api.as_ref()?
                        .scopes
                        .iter()
                        .find(|scope| &scope.value == value)?
                        .description
                        .clone()
                });
            ScopeLine {
                value: value.clone(),
                description: described,
            }
        })
        .collect();
    Ok(ConsentQuestion {
        organization,
        api: api.map(|api| ApiLine {
            name: api.name.clone(),
            identifier: api.identifier.clone(),
        }),
        scopes,
    })
}
