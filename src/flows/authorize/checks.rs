//! `/authorize`'s checks, in the order [`super::check_request`] runs them.
//! Each takes the request's parameters and what was loaded for them, and
//! either yields the value it checked or says why the request fails.
//! The first two answer with a page (the redirect URI is not trusted yet);
//! the others with an OAuth error for the client.

use super::{AuthorizeError, Params};
use crate::flows::request::{OrganizationPrompt, ResponseMode};
use crate::flows::{OAuthError, OAuthErrorCode};
use crate::model::client::{
    AppType, Client, GrantType, OrganizationRequireBehavior, OrganizationUsage,
};
use crate::model::ids;
use crate::model::resource_server::ResourceServer;

/// The OpenID Connect scopes any request may ask for; an API adds its own.
pub const OPENID_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The `prompt` values OIDC Core §3.1.2.1 defines.
pub const PROMPT_VALUES: &[&str] = &["none", "login", "select_account", "consent"];

/// The longest value a parameter may have: a `state` or `nonce` is a few
/// dozen characters, a `scope` a few hundred; 2 KB leaves room for any
/// honest use and keeps a login transaction small.
pub const MAX_PARAMETER_BYTES: usize = 2048;
/// An `id_token_hint` is a whole ID token, profile claims included.
pub const MAX_ID_TOKEN_HINT_BYTES: usize = 8192;

/// `redirect_uri` is one of the client's callbacks, compared exactly
/// (RFC 9700 §4.1.3); for a native client, a loopback callback matches
/// with any port (RFC 8252 §7.3).
pub fn redirect_uri<'a>(params: &Params<'a>, client: &Client) -> Result<&'a str, AuthorizeError> {
    let redirect_uri = params.get("redirect_uri").ok_or_else(|| {
        AuthorizeError::page("Missing redirect_uri", "The request has no redirect_uri.")
    })?;
    let matches = |registered: &String| {
        registered == redirect_uri
            || (client.app_type == AppType::Native
                && loopback_matches_any_port(registered, redirect_uri))
    };
    if !client.callbacks.iter().any(matches) {
        return Err(AuthorizeError::page(
            "Callback URL mismatch",
            "The redirect_uri is not one of the application's registered callback URLs (they are compared exactly).",
        ));
    }
    Ok(redirect_uri)
}

/// RFC 8252 §7.3: a native app listens on a loopback port the system picks
/// at run time, so `http://127.0.0.1/cb` or `http://[::1]/cb` registered
/// matches the same URI with any port. Only the port may differ, and only
/// for IP literals (not `localhost`), written exactly as the URL standard
/// writes them (so that no other spelling of an address slips through).
#[must_use]
pub fn loopback_matches_any_port(registered: &str, requested: &str) -> bool {
    let (Ok(mut registered_url), Ok(mut requested_url)) =
        (url::Url::parse(registered), url::Url::parse(requested))
    else {
        return false;
    };
    let is_loopback_literal = |url: &url::Url| {
        url.scheme() == "http"
            && match url.host() {
                Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
                Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
                _ => false,
            }
    };
    if !is_loopback_literal(&registered_url)
        || !is_loopback_literal(&requested_url)
        || requested_url.as_str() != requested
    {
        return false;
    }
    if registered_url.set_port(None).is_err() || requested_url.set_port(None).is_err() {
        return false;
    }
    registered_url == requested_url
}

/// `client_id` and `redirect_uri` given once: with two values, which one was
/// verified is ambiguous, so nothing is redirected.
pub fn client_parameters_once(params: &Params<'_>) -> Result<(), AuthorizeError> {
    match params.repeated() {
        Some(name @ ("client_id" | "redirect_uri")) => Err(AuthorizeError::page(
            "Invalid request",
            format!("Parameter '{name}' was given more than once."),
        )),
        _ => Ok(()),
    }
}

/// Every parameter given once (OAuth 2.0 §3.1).
pub fn parameters_once(params: &Params<'_>) -> Result<(), OAuthError> {
    match params.repeated() {
        Some(name) => Err(OAuthError::invalid_request(format!(
            "Parameter '{name}' was given more than once"
        ))),
        None => Ok(()),
    }
}

/// No parameter longer than [`MAX_PARAMETER_BYTES`] (the login
/// transaction stores them).
pub fn parameter_lengths(params: &Params<'_>) -> Result<(), OAuthError> {
    match params.longer_than(
        MAX_PARAMETER_BYTES,
        &[("id_token_hint", MAX_ID_TOKEN_HINT_BYTES)],
    ) {
        Some(name) => Err(OAuthError::invalid_request(format!(
            "Parameter '{name}' is too long"
        ))),
        None => Ok(()),
    }
}

/// `response_type=code`, the only one served (no implicit or hybrid flows:
/// RFC 9700 §2.1.2).
pub fn response_type(params: &Params<'_>) -> Result<(), OAuthError> {
    match params.get("response_type") {
        Some("code") => Ok(()),
        Some(other) => Err(OAuthError::new(
            OAuthErrorCode::UnsupportedResponseType,
            format!("Unsupported response_type '{other}'; use 'code'"),
        )),
        None => Err(OAuthError::invalid_request(
            "Missing required parameter: response_type",
        )),
    }
}

/// `response_mode`: `query` (the default) or `form_post`.
pub fn response_mode(params: &Params<'_>) -> Result<ResponseMode, OAuthError> {
    match params.get("response_mode") {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(other) => Err(OAuthError::invalid_request(format!(
            "Unsupported response_mode '{other}'; use query or form_post"
        ))),
    }
}

/// The client may use the authorization code grant.
pub fn code_grant_allowed(client: &Client) -> Result<(), OAuthError> {
    if client.grant_types.contains(&GrantType::AuthorizationCode) {
        Ok(())
    } else {
        Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "The client may not use the authorization code grant",
        ))
    }
}

/// PKCE (RFC 7636): S256 only, required for public clients; a confidential
/// client without it must at least send `state`. Yields the challenge.
pub fn pkce(params: &Params<'_>, client: &Client) -> Result<Option<String>, OAuthError> {
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (Some(challenge), Some("S256")) => {
            let well_formed = challenge.len() == 43
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err(OAuthError::invalid_request(
                    "code_challenge must be a base64url SHA-256 (43 characters)",
                ));
            }
            Ok(Some(challenge.to_owned()))
        }
        (Some(_), Some(method)) => Err(OAuthError::invalid_request(format!(
            "code_challenge_method '{method}' is not supported; use S256"
        ))),
        (Some(_), None) => Err(OAuthError::invalid_request(
            "code_challenge_method is required; 'plain' is not supported, use S256",
        )),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "code_challenge_method without code_challenge",
        )),
        (None, None) if client.app_type.is_public() => Err(OAuthError::invalid_request(
            "PKCE (code_challenge with S256) is required for public clients",
        )),
        // RFC 9700 §2.1: the callback must be bound to the browser that
        // started the request; without PKCE or state nothing binds it.
        (None, None) if params.get("state").is_none() => Err(OAuthError::invalid_request(
            "Send PKCE (code_challenge, S256) or state: without either the callback is open to CSRF",
        )),
        (None, None) => Ok(None),
    }
}

/// `prompt`: known values only, and `none` alone.
pub fn prompt(params: &Params<'_>) -> Result<Vec<String>, OAuthError> {
    let prompt: Vec<String> = params
        .get("prompt")
        .unwrap_or("")
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();
    if let Some(unknown) = prompt.iter().find(|p| !PROMPT_VALUES.contains(&p.as_str())) {
        return Err(OAuthError::invalid_request(format!(
            "Unsupported prompt value '{unknown}'"
        )));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompt)
}

/// `max_age`: a non-negative number of seconds.
pub fn max_age(params: &Params<'_>) -> Result<Option<i64>, OAuthError> {
    params
        .get("max_age")
        .map(|value| {
            value
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    OAuthError::invalid_request("max_age must be a non-negative integer")
                })
        })
        .transpose()
}

/// `organization`, when the client's `organization_usage` allows one:
/// yields the id or name to look up. A name only when `names_allowed` (the
/// tenant setting `allow_organization_name_in_authentication_api`, as in
/// Auth0); an id always.
pub fn organization<'a>(
    params: &Params<'a>,
    client: &Client,
    names_allowed: bool,
) -> Result<Option<&'a str>, OAuthError> {
    let requested = params.get("organization");
    if requested.is_some() && client.organization_usage == OrganizationUsage::Deny {
        return Err(OAuthError::invalid_request(
            "The client does not use organizations (organization_usage is deny)",
        ));
    }
    if let Some(requested) = requested {
        organization_name_allowed(requested, names_allowed)?;
    }
    Ok(requested)
}

/// Refuses an organization named by name (not an `org_…` id) unless the
/// tenant allows names in the authentication API.
pub fn organization_name_allowed(requested: &str, names_allowed: bool) -> Result<(), OAuthError> {
    if names_allowed || ids::has_prefix(requested, ids::ORGANIZATION) {
        Ok(())
    } else {
        Err(OAuthError::invalid_request(
            "The organization parameter takes an organization id: names are accepted only when \
             the tenant setting allow_organization_name_in_authentication_api is on",
        ))
    }
}

/// A client that requires an organization the request did not name: fail
/// (`no_prompt`), or ask for it before or after the login.
pub fn organization_prompt(
    client: &Client,
    has_organization: bool,
) -> Result<Option<OrganizationPrompt>, OAuthError> {
    if has_organization || client.organization_usage != OrganizationUsage::Require {
        return Ok(None);
    }
    match client.organization_require_behavior {
        OrganizationRequireBehavior::NoPrompt => Err(OAuthError::invalid_request(
            "The client requires an organization: pass the organization parameter",
        )),
        OrganizationRequireBehavior::PreLoginPrompt => Ok(Some(OrganizationPrompt::BeforeLogin)),
        OrganizationRequireBehavior::PostLoginPrompt => Ok(Some(OrganizationPrompt::AfterLogin)),
    }
}

/// `id_token_hint`: an ID token this server issued to this client, as
/// `verify` finds it (yielding its `aud` and `sub`). Yields the subject.
pub fn id_token_hint(
    params: &Params<'_>,
    client: &Client,
    verify: impl FnOnce(&str) -> Option<crate::flows::issue::IdTokenHint>,
) -> Result<Option<String>, OAuthError> {
    let Some(hint) = params.get("id_token_hint") else {
        return Ok(None);
    };
    match verify(hint) {
        Some(claims) if claims.aud == client.client_id => Ok(Some(claims.sub)),
        _ => Err(OAuthError::invalid_request(
            "id_token_hint is not an ID token this server issued to the client",
        )),
    }
}

/// `scope` (default `openid`): OpenID scopes and the requested API's own.
pub fn scope(params: &Params<'_>, api: Option<&ResourceServer>) -> Result<Vec<String>, OAuthError> {
    let scope: Vec<String> = params
        .get("scope")
        .unwrap_or("openid")
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();
    if let Some(unknown) = scope
        .iter()
        .find(|s| !OPENID_SCOPES.contains(&s.as_str()) && !api.is_some_and(|api| api.has_scope(s)))
    {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            format!("Unsupported scope '{unknown}'"),
        ));
    }
    Ok(scope)
}

#[cfg(test)]
mod tests;
