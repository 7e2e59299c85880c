//! The authorization endpoint's request checks, as a table of small named
//! steps. Until the client and its `redirect_uri` are verified, an error is
//! shown on an HTML page (never redirected: no open redirect); after that,
//! errors go back to the client as OAuth errors with `state` and `iss`
//! (RFC 9207).

use std::collections::HashMap;

use super::issue::verify_id_token_hint;
use super::request::{
    AuthorizationRequest, ClientResponse, OrganizationPrompt, ResponseMode, error_response,
};
use super::{OAuthError, OAuthErrorCode};
use crate::model::client::{GrantType, OrganizationRequireBehavior, OrganizationUsage};
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
}

fn page(title: &str, detail: impl Into<String>) -> AuthorizeError {
    AuthorizeError::Page {
        title: title.to_owned(),
        detail: detail.into(),
    }
}

const SUPPORTED_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Checks an `/authorize` request given as its query parameters.
pub async fn check_request(
    state: &AppState,
    params: &[(String, String)],
) -> Result<AuthorizationRequest, AuthorizeError> {
    let mut map: HashMap<&str, &str> = HashMap::new();
    let mut repeated = None;
    for (name, value) in params {
        if map.insert(name.as_str(), value.as_str()).is_some() {
            repeated = Some(name.clone());
        }
    }
    let get = |name: &str| map.get(name).copied().filter(|v| !v.is_empty());

    // 1. The client and its redirect URI, before anything is redirected.
    let client_id = get("client_id")
        .ok_or_else(|| page("Missing client_id", "The request has no client_id."))?;
    let client = state
        .clients
        .get(&state.store, client_id)
        .await
        .map_err(|e| page("Server error", e.to_string()))?
        .ok_or_else(|| {
            page(
                "Unknown client",
                "No application is registered with this client_id.",
            )
        })?;
    let redirect_uri = get("redirect_uri")
        .ok_or_else(|| page("Missing redirect_uri", "The request has no redirect_uri."))?;
    if !client
        .callbacks
        .iter()
        .any(|registered| registered == redirect_uri)
    {
        return Err(page(
            "Callback URL mismatch",
            "The redirect_uri is not one of the application's registered callback URLs (they are compared exactly).",
        ));
    }
    if let Some(name) = &repeated {
        if name == "client_id" || name == "redirect_uri" {
            return Err(page(
                "Invalid request",
                format!("Parameter '{name}' was given more than once."),
            ));
        }
    }
    let client_state = get("state").map(str::to_owned);
    let (response_mode, unknown_mode) = match get("response_mode") {
        None | Some("query") => (ResponseMode::Query, None),
        Some("form_post") => (ResponseMode::FormPost, None),
        Some(other) => (ResponseMode::Query, Some(other)),
    };
    let fail = |code: OAuthErrorCode, description: String| {
        AuthorizeError::ToClient(error_response(
            redirect_uri,
            response_mode,
            client_state.as_deref(),
            state.issuer.identifier(),
            &OAuthError::new(code, description),
        ))
    };
    if let Some(name) = repeated {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            format!("Parameter '{name}' was given more than once"),
        ));
    }

    // 2. What is asked for.
    match get("response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(fail(
                OAuthErrorCode::UnsupportedResponseType,
                format!("Unsupported response_type '{other}'; use 'code'"),
            ));
        }
        None => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "Missing required parameter: response_type".into(),
            ));
        }
    }
    if let Some(mode) = unknown_mode {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            format!("Unsupported response_mode '{mode}'; use query or form_post"),
        ));
    }
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(fail(
            OAuthErrorCode::UnauthorizedClient,
            "The client may not use the authorization code grant".into(),
        ));
    }
    let scope: Vec<String> = get("scope")
        .unwrap_or("openid")
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();

    // 3. PKCE: S256 only; required for public clients.
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(challenge), Some("S256")) => {
            let well_formed = challenge.len() == 43
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err(fail(
                    OAuthErrorCode::InvalidRequest,
                    "code_challenge must be a base64url SHA-256 (43 characters)".into(),
                ));
            }
            Some(challenge.to_owned())
        }
        (Some(_), Some(method)) => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                format!("code_challenge_method '{method}' is not supported; use S256"),
            ));
        }
        (Some(_), None) => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "code_challenge_method is required; 'plain' is not supported, use S256".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "code_challenge_method without code_challenge".into(),
            ));
        }
        (None, None) if client.app_type.is_public() => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "PKCE (code_challenge with S256) is required for public clients".into(),
            ));
        }
        (None, None) if client_state.is_none() => {
            // RFC 9700 §2.1: the callback must be bound to the browser that
            // started the request; without PKCE or state nothing binds it.
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "Send PKCE (code_challenge, S256) or state: without either the callback is open to CSRF"
                    .into(),
            ));
        }
        (None, None) => None,
    };

    // 4. Prompt and max_age.
    let prompt: Vec<String> = get("prompt")
        .unwrap_or("")
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();
    if let Some(unknown) = prompt
        .iter()
        .find(|p| !["none", "login", "select_account", "consent"].contains(&p.as_str()))
    {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            format!("Unsupported prompt value '{unknown}'"),
        ));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values".into(),
        ));
    }
    let max_age = get("max_age")
        .map(|v| v.parse::<i64>().ok().filter(|n| *n >= 0))
        .map(|parsed| {
            parsed.ok_or_else(|| {
                fail(
                    OAuthErrorCode::InvalidRequest,
                    "max_age must be a non-negative integer".into(),
                )
            })
        })
        .transpose()?;

    // 5. The organization, as the client's organization_usage allows.
    let organization_id = match get("organization") {
        Some(value) => {
            if client.organization_usage == OrganizationUsage::Deny {
                return Err(fail(
                    OAuthErrorCode::InvalidRequest,
                    "The client does not use organizations (organization_usage is deny)".into(),
                ));
            }
            match super::find_organization(state, value).await {
                Ok(org) => Some(org.id.clone()),
                Err(StoreError::NotFound) => {
                    return Err(fail(
                        OAuthErrorCode::InvalidRequest,
                        format!("No organization found by that id or name: {value}"),
                    ));
                }
                Err(e) => return Err(fail(OAuthErrorCode::ServerError, e.to_string())),
            }
        }
        None => None,
    };
    let organization_prompt = match (organization_id.is_some(), client.organization_usage) {
        (false, OrganizationUsage::Require) => match client.organization_require_behavior {
            OrganizationRequireBehavior::NoPrompt => {
                return Err(fail(
                    OAuthErrorCode::InvalidRequest,
                    "The client requires an organization: pass the organization parameter".into(),
                ));
            }
            OrganizationRequireBehavior::PreLoginPrompt => Some(OrganizationPrompt::BeforeLogin),
            OrganizationRequireBehavior::PostLoginPrompt => Some(OrganizationPrompt::AfterLogin),
        },
        _ => None,
    };

    // 6. id_token_hint: an ID token we issued to this client.
    let hinted_subject = match get("id_token_hint") {
        Some(hint) => match verify_id_token_hint(state, hint) {
            Ok(claims) if claims.aud == client.client_id => Some(claims.sub),
            _ => {
                return Err(fail(
                    OAuthErrorCode::InvalidRequest,
                    "id_token_hint is not an ID token this server issued to the client".into(),
                ));
            }
        },
        None => None,
    };

    // 7. The API the access token is for, if any: a registered resource
    // server. The scope may name OpenID scopes and that API's scopes.
    let api = match get("audience") {
        Some(value) => Some(
            check_audience(state, value)
                .await
                .map_err(|(code, description)| fail(code, description))?,
        ),
        None => None,
    };
    if let Some(unknown) = scope.iter().find(|s| {
        !SUPPORTED_SCOPES.contains(&s.as_str()) && !api.as_ref().is_some_and(|api| api.has_scope(s))
    }) {
        return Err(fail(
            OAuthErrorCode::InvalidScope,
            format!("Unsupported scope '{unknown}'"),
        ));
    }
    let audience = api.map(|api| api.identifier);

    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope,
        state: client_state.clone(),
        nonce: get("nonce").map(str::to_owned),
        code_challenge,
        organization_id,
        connection: get("connection").map(str::to_owned),
        login_hint: get("login_hint").map(str::to_owned),
        screen_hint: get("screen_hint").map(str::to_owned),
        prompt,
        max_age,
        audience,
        invitation: get("invitation").map(str::to_owned),
        organization_prompt,
        hinted_subject,
        response_mode,
    })
}

/// An `audience` must be the identifier of a registered resource server, as in
/// Auth0. The Management API's own audience is refused too: it takes
/// client-credentials tokens only, never user tokens.
async fn check_audience(
    state: &AppState,
    audience: &str,
) -> Result<ResourceServer, (OAuthErrorCode, String)> {
    match state
        .store
        .get_resource_server_by_identifier(audience)
        .await
    {
        Ok(rs) => Ok(rs),
        Err(StoreError::NotFound) => Err((
            OAuthErrorCode::InvalidRequest,
            format!("Service not found: {audience}"),
        )),
        Err(e) => Err((OAuthErrorCode::ServerError, e.to_string())),
    }
}
