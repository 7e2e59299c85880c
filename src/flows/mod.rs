//! The OpenID Connect provider's flows. Each flow is a verb over the store,
//! the key ring and the model; errors are OAuth errors that the http layer renders.

pub mod authorize;
pub mod backchannel;
pub mod client_auth;
pub mod client_credentials;
pub mod code;
pub mod consent;
pub mod domain_guard;
pub mod domain_verification;
pub mod federation;
pub mod introspection;
pub mod issue;
pub mod login;
pub mod logout;
pub mod refresh;
pub mod request;
pub mod session;
pub mod signup;
pub mod throttle;
pub mod token;
pub mod upstream;

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// The longest lifetime of a token signed here other than an access token
/// for an API, a user's or a machine's (those follow the API's
/// `token_lifetime`), or an ID token (those follow the client's
/// `jwt_configuration.lifetime_in_seconds`; the key rotation reads both
/// itself): access tokens for `/userinfo`, Management API tokens, logout
/// tokens. A key that stops signing stays published at least this long.
pub const LONGEST_FIXED_TOKEN_LIFETIME: Duration = {
    let lifetimes = [
        issue::USER_ACCESS_TOKEN_LIFETIME_SECS,
        client_credentials::MANAGEMENT_TOKEN_LIFETIME_SECS,
        backchannel::LOGOUT_TOKEN_LIFETIME_SECS,
    ];
    let mut longest = 0;
    let mut i = 0;
    while i < lifetimes.len() {
        if lifetimes[i] > longest {
            longest = lifetimes[i];
        }
        i += 1;
    }
    Duration::from_secs(longest.unsigned_abs())
};

/// Hex SHA-256 of a high-entropy secret (client secrets, authorization codes,
/// browser bindings): what the store keeps instead of the secret itself.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// An OAuth 2.0 error (RFC 6749 §5.2). `description` is shown to the client;
/// `detail` only goes to the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    LoginRequired,
    /// `prompt=none`, and the user would have to consent (OIDC Core §3.1.2.6).
    ConsentRequired,
    ServerError,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::ServerError => "server_error",
        }
    }
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            detail: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    /// The grant (code, refresh token) is invalid, expired, or not this
    /// client's (RFC 6749 §5.2).
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }

    /// Client authentication failed. The description never says whether the
    /// client exists.
    pub fn invalid_client() -> Self {
        Self::new(
            OAuthErrorCode::InvalidClient,
            "Client authentication failed",
        )
    }

    pub fn server_error(detail: impl fmt::Display) -> Self {
        Self {
            code: OAuthErrorCode::ServerError,
            description: "The server could not complete the request".into(),
            detail: Some(detail.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(err: crate::store::StoreError) -> Self {
        OAuthError::server_error(err)
    }
}

impl From<crate::keys::KeyError> for OAuthError {
    fn from(err: crate::keys::KeyError) -> Self {
        OAuthError::server_error(err)
    }
}

/// The organization a request names by id (`org_…`) or by name (as Auth0's
/// `organization` parameter allows), from the cache.
pub async fn find_organization(
    state: &crate::state::AppState,
    id_or_name: &str,
) -> Result<std::sync::Arc<crate::model::organization::Organization>, crate::store::StoreError> {
    state.organizations.find(&state.store, id_or_name).await
}

/// The `org_name` claim: the organization's name, when the tenant setting
/// `allow_organization_name_in_authentication_api` is on (as in Auth0, off by
/// default: names can change and be reused, ids cannot).
pub async fn organization_name_claim(
    state: &crate::state::AppState,
    organization_id: Option<&str>,
) -> Result<Option<String>, crate::store::StoreError> {
    let Some(organization_id) = organization_id else {
        return Ok(None);
    };
    if !state
        .settings
        .get(&state.store)
        .await?
        .allow_organization_name_in_authentication_api
    {
        return Ok(None);
    }
    Ok(Some(
        find_organization(state, organization_id)
            .await?
            .name
            .clone(),
    ))
}
