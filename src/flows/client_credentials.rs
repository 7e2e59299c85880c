//! The `client_credentials` grant (machine to machine, RFC 6749 §4.4): an
//! access token for an API the client was granted, with the granted scopes,
//! optionally for an organization as the client grant allows.

use super::issue::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience, TokenResponse};
use super::request::TokenParams;
use super::{OAuthError, OAuthErrorCode};
use crate::model::client::{Client, ClientGrant, OrganizationUsage, SigningAlg};
use crate::model::ids;
use crate::state::AppState;
use crate::store::StoreError;

/// Management API tokens live an hour: each can rewrite the tenant, and a
/// provisioning tool asks for a new one in a round trip.
pub const MANAGEMENT_TOKEN_LIFETIME_SECS: i64 = 3600;

/// The `client_credentials` grant for an authenticated `client`.
pub async fn issue_machine_token(
    state: &AppState,
    client: &Client,
    params: &TokenParams,
) -> Result<TokenResponse, OAuthError> {
    let audience = params
        .audience
        .as_deref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: audience"))?;
    let grant = state
        .clients
        .grant(&state.store, &client.client_id, audience)
        .await?
        .ok_or_else(|| {
            OAuthError::new(
                OAuthErrorCode::AccessDenied,
                format!("Client has not been granted scopes for audience {audience}"),
            )
        })?;
    let organization_id =
        machine_organization(state, &grant, params.organization.as_deref()).await?;
    let granted: Vec<&str> = match params.scope.as_deref().filter(|s| !s.trim().is_empty()) {
        None => grant.scope.iter().map(String::as_str).collect(),
        Some(requested) => {
            let requested: Vec<&str> = requested.split_ascii_whitespace().collect();
            if let Some(missing) = requested
                .iter()
                .find(|s| !grant.scope.iter().any(|g| g == *s))
            {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidScope,
                    format!(
                        "Scope '{missing}' has not been granted to the client for this audience"
                    ),
                ));
            }
            requested
        }
    };
    let scope = granted.join(" ");
    let (lifetime, alg) = token_settings(state, client, audience).await?;
    let now = state.clock.now_unix_seconds();
    let claims = AccessTokenClaims {
        iss: state.issuer.identifier().to_owned(),
        sub: format!("{}@clients", client.client_id),
        aud: Audience::One(audience.to_owned()),
        iat: now,
        exp: now + lifetime,
        jti: ids::random_alphanumeric(22),
        client_id: client.client_id.clone(),
        scope: scope.clone(),
        gty: Some("client-credentials".to_owned()),
        org_name: super::organization_name_claim(state, organization_id.as_deref()).await?,
        org_id: organization_id,
        roles: None,
        permissions: None,
    };
    let access_token = state.keys.sign(alg, ACCESS_TOKEN_TYP, &claims)?;
    Ok(TokenResponse {
        access_token: access_token.into(),
        id_token: None,
        refresh_token: None,
        token_type: "Bearer",
        expires_in: lifetime,
        scope: Some(scope),
    })
}

/// The lifetime and signing algorithm of a machine token: the API's
/// `token_lifetime` and `signing_alg`, as in every other grant (Auth0);
/// the Management API's own tokens keep their hour and the client's algorithm.
async fn token_settings(
    state: &AppState,
    client: &Client,
    audience: &str,
) -> Result<(i64, SigningAlg), OAuthError> {
    if audience == state.issuer.management_audience() {
        return Ok((MANAGEMENT_TOKEN_LIFETIME_SECS, client.signing_alg));
    }
    match state
        .resource_servers
        .by_identifier(&state.store, audience)
        .await
    {
        Ok(api) => Ok((api.token_lifetime, api.signing_alg)),
        Err(StoreError::NotFound) => Err(OAuthError::new(
            OAuthErrorCode::AccessDenied,
            format!("No API found with identifier {audience}"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The organization of a machine token, as the client grant's
/// `organization_usage` allows: refused under `deny` (or unset), required
/// under `require`; the organization must be associated with the grant
/// unless the grant allows any organization.
async fn machine_organization(
    state: &AppState,
    grant: &ClientGrant,
    requested: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let usage = grant.organization_usage.unwrap_or(OrganizationUsage::Deny);
    let Some(requested) = requested.filter(|o| !o.is_empty()) else {
        if usage == OrganizationUsage::Require {
            return Err(OAuthError::invalid_request(
                "The client grant requires an organization: pass the organization parameter",
            ));
        }
        return Ok(None);
    };
    if usage == OrganizationUsage::Deny {
        return Err(OAuthError::invalid_request(
            "The client grant does not allow organizations (organization_usage is not allow or require)",
        ));
    }
    let names_allowed = state
        .settings
        .get(&state.store)
        .await?
        .allow_organization_name_in_authentication_api;
    super::authorize::checks::organization_name_allowed(requested, names_allowed)?;
    let organization = match super::find_organization(state, requested).await {
        Ok(org) => org,
        Err(StoreError::NotFound) => {
            return Err(OAuthError::invalid_request(format!(
                "No organization found by that id or name: {requested}"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if !grant.allow_any_organization
        && !state
            .store
            .is_organization_client_grant(&organization.id, &grant.id)
            .await?
    {
        return Err(OAuthError::new(
            OAuthErrorCode::AccessDenied,
            "The client grant is not associated with the organization",
        ));
    }
    Ok(Some(organization.id.clone()))
}
