//! Refresh tokens (RFC 6749 §6) as the client's Auth0 `refresh_token`
//! settings say. Rotating (the default; RFC 9700 §4.14.2): every use
//! returns a new token and retires the old one; using a retired token again
//! revokes the whole family, since one of the two parties presenting it is
//! not the client, unless it is the last one used and within the `leeway`
//! (a retried request). Non-rotating: the token is kept and used again. A
//! family ends `token_lifetime` after the login, a token `idle_token_lifetime`
//! after its last use, unless those are infinite. A family stays bound to
//! the client, user and organization it was issued for.

use super::issue::{TokenResponse, UserGrant, issue_user_tokens, usable_user};
use super::request::TokenParams;
use super::{OAuthError, OAuthErrorCode, find_organization, sha256_hex};
use crate::model::client::{Client, GrantType, RefreshTokenSettings};
use crate::model::ids;
use crate::state::AppState;
use crate::store::{RefreshGrant, RefreshOutcome, RefreshUse, Renewal, StoreError};

/// The end of what never expires (9999-12-31, unix ms): a time every
/// store column and date format holds.
pub const NEVER_MS: i64 = 253_402_300_799_000;

/// When a token unused from `now` expires under `settings`.
fn idle_end(settings: &RefreshTokenSettings, now: i64) -> i64 {
    settings
        .idle_lifetime_ms()
        .map_or(NEVER_MS, |idle| now.saturating_add(idle).min(NEVER_MS))
}

/// A refresh token is issued when the scope asks for `offline_access` and
/// the client may use the refresh grant.
pub fn is_wanted(client: &Client, scope: &[String]) -> bool {
    scope.iter().any(|s| s == "offline_access")
        && client.grant_types.contains(&GrantType::RefreshToken)
}

/// Starts the family of the exchange of code `code_hash`: its first token,
/// or `None` when the code was replayed meanwhile (no family is started).
pub async fn start(
    state: &AppState,
    client: &Client,
    grant: &UserGrant<'_>,
    code_hash: &str,
) -> Result<Option<String>, OAuthError> {
    let now = state.clock.now_unix_millis();
    let token = ids::random_alphanumeric(48);
    let family = RefreshGrant {
        id: ids::random_alphanumeric(32),
        client_id: client.client_id.clone(),
        user_id: grant.user.user_id.clone(),
        organization_id: grant.organization_id.map(str::to_owned),
        session_id: grant.session_id.map(str::to_owned),
        scope: grant.scope.to_vec(),
        audience: grant.audience.map(str::to_owned),
        auth_time: grant.auth_time,
        expires_at: client
            .refresh_token
            .absolute_lifetime_ms()
            .map_or(NEVER_MS, |lifetime| {
                now.saturating_add(lifetime).min(NEVER_MS)
            }),
    };
    let started = state
        .store
        .insert_refresh_grant(
            code_hash,
            &family,
            &sha256_hex(&token),
            idle_end(&client.refresh_token, now),
            grant.access_token_id,
        )
        .await?;
    Ok(started.then_some(token))
}

/// The `refresh_token` grant.
pub async fn exchange_refresh_token(
    state: &AppState,
    client: &Client,
    params: &TokenParams,
) -> Result<TokenResponse, OAuthError> {
    let presented = params
        .refresh_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: refresh_token"))?;
    let token_hash = sha256_hex(presented);
    let now = state.clock.now_unix_millis();

    // Everything that can refuse the request is checked before the token is
    // rotated, so that a refused request does not burn the client's token.
    let (found, user, member) = match state
        .store
        .find_refresh_token_with_user(&token_hash, now)
        .await
    {
        Ok(found) => found,
        Err(StoreError::NotFound) => {
            return Err(OAuthError::invalid_grant("Invalid refresh token"));
        }
        Err(e) => return Err(e.into()),
    };
    if found.grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "The refresh token was issued to another client",
        ));
    }
    if let Some(requested) = params.organization.as_deref().filter(|o| !o.is_empty()) {
        let requested_id = match find_organization(state, requested).await {
            Ok(org) => Some(org.id.clone()),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        if requested_id.is_none() || requested_id != found.grant.organization_id {
            return Err(OAuthError::invalid_grant(
                "The refresh token was issued for another organization",
            ));
        }
    }
    let scope = narrowed_scope(&found.grant.scope, params.scope.as_deref())?;
    let user = usable_user(user, member, found.grant.organization_id.as_deref())?;

    let settings = &client.refresh_token;
    let next = settings.is_rotating().then(|| ids::random_alphanumeric(48));
    let next_hash = next.as_deref().map(sha256_hex);
    let access_token_id = ids::random_alphanumeric(22);
    let renewal = match &next_hash {
        Some(next_hash) => Renewal::Rotate {
            next_hash,
            leeway_ms: settings.leeway.saturating_mul(1000),
        },
        None => Renewal::Keep,
    };
    let grant = match state
        .store
        .use_refresh_token(&RefreshUse {
            family: &found.grant,
            token_hash: &token_hash,
            now,
            expires_at: idle_end(settings, now),
            access_token_id: &access_token_id,
            renewal,
        })
        .await?
    {
        RefreshOutcome::Rotated(grant) => grant,
        RefreshOutcome::Reused { grant_id } => {
            tracing::warn!(client_id = %client.client_id, %grant_id, "refresh token reused; its family is revoked");
            return Err(OAuthError::invalid_grant(
                "The refresh token has already been used; all tokens of its grant are revoked",
            ));
        }
        RefreshOutcome::Inactive => {
            return Err(OAuthError::invalid_grant(
                "The refresh token is expired or revoked",
            ));
        }
    };
    let user_grant = UserGrant {
        user: &user,
        organization_id: grant.organization_id.as_deref(),
        scope: &scope,
        audience: grant.audience.as_deref(),
        nonce: None,
        auth_time: grant.auth_time,
        session_id: grant.session_id.as_deref(),
        access_token_id: &access_token_id,
    };
    let tokens = issue_user_tokens(state, client, &user_grant).await?;
    Ok(tokens.into_response(next))
}

/// RFC 6749 §6: a refresh may ask for less than was granted, never more.
fn narrowed_scope(granted: &[String], requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested.filter(|s| !s.trim().is_empty()) else {
        return Ok(granted.to_vec());
    };
    let requested: Vec<String> = requested
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();
    if let Some(extra) = requested.iter().find(|s| !granted.contains(s)) {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            format!("Scope '{extra}' was not granted to this refresh token"),
        ));
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_may_narrow_the_scope_but_not_widen_it() {
        let granted: Vec<String> = ["openid", "email", "offline_access"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(narrowed_scope(&granted, None).ok(), Some(granted.clone()));
        assert_eq!(
            narrowed_scope(&granted, Some("openid email")).ok(),
            Some(vec!["openid".to_owned(), "email".to_owned()])
        );
        assert_eq!(
            narrowed_scope(&granted, Some("openid profile"))
                .err()
                .map(|e| e.code),
            Some(OAuthErrorCode::InvalidScope)
        );
    }
}
