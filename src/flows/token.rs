//! The token endpoint (RFC 6749 §3.2): reads the grant type, authenticates
//! the client once for it, and hands the request to the grant's module.

use super::client_auth::authenticate_client;
use super::issue::TokenResponse;
use super::request::TokenParams;
use super::{OAuthError, OAuthErrorCode, client_credentials, code, refresh};
use crate::model::client::GrantType;
use crate::state::AppState;

/// The grants the token endpoint serves (the implicit grant is not one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenGrant {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl TokenGrant {
    fn parse(grant_type: &str) -> Option<Self> {
        match GrantType::parse(grant_type)? {
            GrantType::AuthorizationCode => Some(Self::AuthorizationCode),
            GrantType::RefreshToken => Some(Self::RefreshToken),
            GrantType::ClientCredentials => Some(Self::ClientCredentials),
            GrantType::Implicit => None,
        }
    }

    fn grant_type(self) -> GrantType {
        match self {
            Self::AuthorizationCode => GrantType::AuthorizationCode,
            Self::RefreshToken => GrantType::RefreshToken,
            Self::ClientCredentials => GrantType::ClientCredentials,
        }
    }
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
    let grant = TokenGrant::parse(grant_type).ok_or_else(|| {
        OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            format!("Unsupported grant type: {grant_type}"),
        )
    })?;
    let client = authenticate_client(
        state,
        authorization,
        params.client_id.as_deref(),
        params.client_secret.as_deref(),
        grant.grant_type(),
    )
    .await?;
    let issued = match grant {
        TokenGrant::AuthorizationCode => code::exchange_code(state, &client, &params).await,
        TokenGrant::RefreshToken => refresh::exchange_refresh_token(state, &client, &params).await,
        TokenGrant::ClientCredentials => {
            client_credentials::issue_machine_token(state, &client, &params).await
        }
    }?;
    state.metrics.token_issued(grant.grant_type().as_str());
    Ok(issued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_implicit_grant_is_not_served() {
        assert_eq!(TokenGrant::parse("implicit"), None);
        assert_eq!(TokenGrant::parse("password"), None);
        for grant in [
            TokenGrant::AuthorizationCode,
            TokenGrant::RefreshToken,
            TokenGrant::ClientCredentials,
        ] {
            assert_eq!(TokenGrant::parse(grant.grant_type().as_str()), Some(grant));
        }
    }
}
