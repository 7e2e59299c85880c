//! The token endpoint: parameters, responses, the grant dispatch and the
//! `client_credentials` grant (machine-to-machine). The authorization-code
//! grant lives in `code`, the refresh grant in `refresh`.

use serde::{Deserialize, Serialize};

use super::client_auth::authenticate_client;
use super::{OAuthError, OAuthErrorCode};
use crate::clock::now_unix_seconds;
use crate::model::client::{ClientGrant, GrantType, OrganizationUsage};
use crate::model::ids;
use crate::state::AppState;
use crate::store::StoreError;

/// Access tokens for APIs live a day, as Auth0's default for machine tokens.
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 86_400;

/// Token request parameters (form or JSON body). Unknown parameters are
/// ignored, as RFC 6749 §3.2 requires.
#[derive(Debug, Default, Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub audience: Option<String>,
    pub scope: Option<String>,
    pub organization: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The `aud` claim: one audience, or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// A user's access token: for `/userinfo` alone without an API; for the
    /// API and, when `openid` was asked for, `/userinfo` too (as Auth0 does,
    /// so that one token serves both).
    pub fn of_user_token(state: &AppState, api: Option<&str>, scope: &[String]) -> Self {
        let userinfo = state.issuer.url("/userinfo");
        match api {
            None => Audience::One(userinfo),
            Some(api) if api != userinfo && scope.iter().any(|s| s == "openid") => {
                Audience::Many(vec![api.to_owned(), userinfo])
            }
            Some(api) => Audience::One(api.to_owned()),
        }
    }
}

/// RFC 9068 access-token claims.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Auth0's grant-type marker for machine tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gty: Option<String>,
    /// The organization the user logged in to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// Its name, when the tenant allows names in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_name: Option<String>,
    /// For an API with `token_dialect: access_token_authz`: the user's roles
    /// in the organization and the permissions they grant on the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Why this server's own endpoints refuse an access token.
#[derive(Debug, thiserror::Error)]
pub enum AccessTokenRefused {
    #[error(transparent)]
    Rejected(#[from] crate::keys::TokenRejected),
    #[error("the access token has been revoked")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The access tokens this server's own endpoints (userinfo, introspection,
/// the Management API) accept: [`verify_access_token_offline`], and not
/// revoked (see [`crate::store::ACCESS_TOKEN_MAX_LIFETIME_MS`]).
pub async fn verify_access_token(
    state: &AppState,
    token: &str,
    audience: Option<&str>,
) -> Result<AccessTokenClaims, AccessTokenRefused> {
    let claims = verify_access_token_offline(state, token, audience)?;
    if state.store.is_access_token_revoked(&claims.jti).await? {
        return Err(AccessTokenRefused::Revoked);
    }
    Ok(claims)
}

/// Verifies an access token this server issued for `audience` as an API
/// does offline, without the revocation list: a live key, `typ: at+jwt`,
/// this issuer, unexpired (30 s leeway). `None` accepts any
/// audience (introspection and revocation, where the caller is the client
/// the token was issued to, not its API).
pub fn verify_access_token_offline(
    state: &AppState,
    token: &str,
    audience: Option<&str>,
) -> Result<AccessTokenClaims, crate::keys::TokenRejected> {
    let mut validation = jsonwebtoken::Validation::default();
    validation.set_issuer(&[state.issuer.identifier()]);
    match audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 30;
    state.keys.verify(token, ACCESS_TOKEN_TYP, validation)
}

#[tracing::instrument(skip_all, fields(client_id, grant_type = params.grant_type.as_deref()))]
pub async fn exchange(
    state: &AppState,
    authorization: Option<&str>,
    params: TokenParams,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = params
        .grant_type
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: grant_type"))?;
    match grant_type {
        "client_credentials" => client_credentials(state, authorization, &params).await,
        "authorization_code" => super::code::exchange_code(state, authorization, &params).await,
        "refresh_token" => {
            super::refresh::exchange_refresh_token(state, authorization, &params).await
        }
        other => Err(OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            format!("Unsupported grant type: {other}"),
        )),
    }
}

async fn client_credentials(
    state: &AppState,
    authorization: Option<&str>,
    params: &TokenParams,
) -> Result<TokenResponse, OAuthError> {
    let client = authenticate_client(
        state,
        authorization,
        params.client_id.as_deref(),
        params.client_secret.as_deref(),
        GrantType::ClientCredentials,
    )
    .await?;
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
    let now = now_unix_seconds();
    let claims = AccessTokenClaims {
        iss: state.issuer.identifier().to_owned(),
        sub: format!("{}@clients", client.client_id),
        aud: Audience::One(audience.to_owned()),
        iat: now,
        exp: now + ACCESS_TOKEN_LIFETIME_SECS,
        jti: ids::random_alphanumeric(22),
        client_id: client.client_id.clone(),
        scope: scope.clone(),
        gty: Some("client-credentials".to_owned()),
        org_name: super::organization_name_claim(state, organization_id.as_deref()).await?,
        org_id: organization_id,
        roles: None,
        permissions: None,
    };
    let access_token = state
        .keys
        .sign(client.signing_alg, ACCESS_TOKEN_TYP, &claims)?;
    Ok(TokenResponse {
        access_token,
        id_token: None,
        refresh_token: None,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_LIFETIME_SECS,
        scope: Some(scope),
    })
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
