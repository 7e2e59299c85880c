//! The authorization endpoint: a request runs through a table of small named
//! checks ([`checks`]), in order, as node-oidc-provider does. Until the client
//! and its `redirect_uri` are verified, an error is shown on an HTML page
//! (never redirected: no open redirect); after that, errors go back to the
//! client as OAuth errors with `state` and `iss` (RFC 9207).
//!
//! The checks are pure functions of the parameters and what was loaded for
//! them (the client, the organization, the API); the loads happen here.

pub mod checks;

use std::collections::HashMap;
use std::sync::Arc;

use super::OAuthError;
use super::issue::verify_id_token_hint;
use super::request::{AuthorizationRequest, ClientResponse, error_response};
use crate::model::client::Client;
use crate::model::resource_server::ResourceServer;
use crate::state::AppState;
use crate::store::StoreError;

/// Why `/authorize` refused a request.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or the redirect URI cannot be trusted: show a page.
    Page { title: String, detail: String },
    /// Send the error back to the verified redirect URI, with `state` and `iss`.
    ToClient(ClientResponse),
    /// The server failed before the client was verified: a generic page;
    /// the detail is for the log only.
    Internal { detail: String },
}

impl AuthorizeError {
    fn page(title: &str, detail: impl Into<String>) -> Self {
        AuthorizeError::Page {
            title: title.to_owned(),
            detail: detail.into(),
        }
    }
}

/// The query parameters of a request: each name once (the last value wins;
/// a repeated name is remembered and refused by a check), empty values
/// counted as absent.
#[derive(Debug, Default)]
pub struct Params<'a> {
    values: HashMap<&'a str, &'a str>,
    repeated: Option<&'a str>,
}

impl<'a> Params<'a> {
    pub fn new(params: &'a [(String, String)]) -> Self {
        let mut parsed = Params::default();
        for (name, value) in params {
            if parsed.values.insert(name, value).is_some() {
                parsed.repeated = Some(name);
            }
        }
        parsed
    }

    /// The parameter's value, unless absent or empty.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.values.get(name).copied().filter(|v| !v.is_empty())
    }

    /// The first parameter (by name) whose value is longer than `max`
    /// bytes, or than the limit `exceptions` give its name.
    pub fn longer_than(&self, max: usize, exceptions: &[(&str, usize)]) -> Option<&'a str> {
        let mut names: Vec<&'a str> = self.values.keys().copied().collect();
        names.sort_unstable();
        names.into_iter().find(|name| {
            let limit = exceptions
                .iter()
                .find(|(exception, _)| exception == name)
                .map_or(max, |(_, limit)| *limit);
            self.values
                .get(name)
                .is_some_and(|value| value.len() > limit)
        })
    }

    /// A parameter given more than once, if any.
    pub fn repeated(&self) -> Option<&'a str> {
        self.repeated
    }
}

/// Checks an `/authorize` request given as its query parameters.
pub async fn check_request(
    state: &AppState,
    params: &[(String, String)],
) -> Result<AuthorizationRequest, AuthorizeError> {
    let params = Params::new(params);

    // The client and its redirect URI, before anything is redirected.
    let client = load_client(state, &params).await?;
    let redirect_uri = checks::redirect_uri(&params, &client)?;
    checks::client_parameters_once(&params)?;

    // From here on, errors go back to the client.
    let client_state = params.get("state");
    let to_client = |error: OAuthError| {
        if let Some(detail) = &error.detail {
            // `server_error`: the client is told no more than that.
            tracing::error!(%detail, "authorization request failed");
        }
        AuthorizeError::ToClient(error_response(
            redirect_uri,
            checks::response_mode(&params).unwrap_or_default(),
            client_state,
            state.issuer.identifier(),
            &error,
        ))
    };
    checks::parameters_once(&params).map_err(to_client)?;
    checks::parameter_lengths(&params).map_err(to_client)?;
    checks::response_type(&params).map_err(to_client)?;
    let response_mode = checks::response_mode(&params).map_err(to_client)?;
    checks::code_grant_allowed(&client).map_err(to_client)?;
    let code_challenge = checks::pkce(&params, &client).map_err(to_client)?;
    let prompt = checks::prompt(&params).map_err(to_client)?;
    let max_age = checks::max_age(&params).map_err(to_client)?;
    let names_allowed = state
        .settings
        .get(&state.store)
        .await
        .map_err(|e| to_client(OAuthError::server_error(e)))?
        .allow_organization_name_in_authentication_api;
    let organization_id =
        match checks::organization(&params, &client, names_allowed).map_err(to_client)? {
            Some(requested) => Some(
                find_organization(state, requested)
                    .await
                    .map_err(to_client)?,
            ),
            None => None,
        };
    let organization_prompt =
        checks::organization_prompt(&client, organization_id.is_some()).map_err(to_client)?;
    let hinted_subject = checks::id_token_hint(&params, &client, |hint| {
        verify_id_token_hint(state, hint).ok()
    })
    .map_err(to_client)?;
    let api = match params.get("audience") {
        Some(audience) => Some(find_api(state, audience).await.map_err(to_client)?),
        None => None,
    };
    let scope = checks::scope(&params, api.as_deref()).map_err(to_client)?;

    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope,
        state: client_state.map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        organization_id,
        connection: params.get("connection").map(str::to_owned),
        login_hint: params.get("login_hint").map(str::to_owned),
        screen_hint: params.get("screen_hint").map(str::to_owned),
        prompt,
        max_age,
        audience: api.map(|api| api.identifier.clone()),
        invitation: params.get("invitation").map(str::to_owned),
        organization_prompt,
        hinted_subject,
        response_mode,
        organization_by_domain: false,
    })
}

/// The client the request names; a page when there is none.
async fn load_client(
    state: &AppState,
    params: &Params<'_>,
) -> Result<std::sync::Arc<Client>, AuthorizeError> {
    let client_id = params.get("client_id").ok_or_else(|| {
        AuthorizeError::page("Missing client_id", "The request has no client_id.")
    })?;
    state
        .clients
        .get(&state.store, client_id)
        .await
        .map_err(|e| AuthorizeError::Internal {
            detail: e.to_string(),
        })?
        .ok_or_else(|| {
            AuthorizeError::page(
                "Unknown client",
                "No application is registered with this client_id.",
            )
        })
}

/// The organization named by id or name.
async fn find_organization(state: &AppState, requested: &str) -> Result<String, OAuthError> {
    match super::find_organization(state, requested).await {
        Ok(org) => Ok(org.id.clone()),
        Err(StoreError::NotFound) => Err(OAuthError::invalid_request(format!(
            "No organization found by that id or name: {requested}"
        ))),
        Err(e) => Err(OAuthError::server_error(e)),
    }
}

/// An `audience` must be the identifier of a registered resource server, as in
/// Auth0. The Management API's own audience is refused too: it takes
/// client-credentials tokens only, never user tokens.
async fn find_api(state: &AppState, audience: &str) -> Result<Arc<ResourceServer>, OAuthError> {
    match state
        .resource_servers
        .by_identifier(&state.store, audience)
        .await
    {
        Ok(api) => Ok(api),
        Err(StoreError::NotFound) => Err(OAuthError::invalid_request(format!(
            "Service not found: {audience}"
        ))),
        Err(e) => Err(OAuthError::server_error(e)),
    }
}
