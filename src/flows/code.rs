//! The authorization-code grant (RFC 6749 §4.1.3, PKCE RFC 7636) and the
//! tokens a login produces: the ID token (OIDC Core §2) and an RFC 9068
//! access token, both carrying the organization the user logged in to.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::client_auth::authenticate_client;
use super::login::CodeGrant;
use super::refresh;
use super::token::{ACCESS_TOKEN_TYP, AccessTokenClaims, TokenParams, TokenResponse};
use super::{OAuthError, OAuthErrorCode, sha256_hex};
use crate::clock::{now_unix_millis, now_unix_seconds};
use crate::model::client::{Client, GrantType, SigningAlg};
use crate::model::ids;
use crate::model::user::User;
use crate::state::AppState;
use crate::store::StoreError;

pub const ID_TOKEN_LIFETIME_SECS: i64 = 3600;
pub const USER_ACCESS_TOKEN_LIFETIME_SECS: i64 = 3600;

#[derive(Debug, Serialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub at_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    #[serde(flatten)]
    pub profile: serde_json::Map<String, serde_json::Value>,
}

pub fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidGrant, description)
}

/// `at_hash`: the left half of the access token's hash, with the hash of the
/// signing algorithm (SHA-512 for Ed25519, as node-oidc-provider does).
pub fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    let digest = match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => Sha256::digest(access_token.as_bytes()).to_vec(),
        SigningAlg::EdDSA => Sha512::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Checks a PKCE verifier against the stored S256 challenge.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// The claims of `user` that `scope` releases (OIDC Core §5.4).
pub fn profile_claims(
    user: &crate::model::user::User,
    scope: &[String],
) -> serde_json::Map<String, serde_json::Value> {
    let mut claims = serde_json::Map::new();
    let mut put = |name: &str, value: Option<serde_json::Value>| {
        if let Some(value) = value {
            claims.insert(name.to_owned(), value);
        }
    };
    if scope.iter().any(|s| s == "email") {
        put("email", Some(user.email.clone().into()));
        put("email_verified", Some(user.email_verified.into()));
    }
    if scope.iter().any(|s| s == "profile") {
        put("name", user.name.clone().map(Into::into));
        put("given_name", user.given_name.clone().map(Into::into));
        put("family_name", user.family_name.clone().map(Into::into));
        put("nickname", user.nickname.clone().map(Into::into));
        put("picture", user.picture.clone().map(Into::into));
    }
    claims
}

pub async fn exchange_code(
    state: &AppState,
    authorization: Option<&str>,
    params: &TokenParams,
) -> Result<TokenResponse, OAuthError> {
    let client = authenticate_client(
        state,
        authorization,
        params.client_id.as_deref(),
        params.client_secret.as_deref(),
        GrantType::AuthorizationCode,
    )
    .await?;
    let code = params
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: code"))?;
    let code_hash = sha256_hex(code);
    let (code_client, grant_json) = match state
        .store
        .consume_authorization_code(&code_hash, now_unix_millis())
        .await
    {
        Ok(found) => found,
        Err(StoreError::NotFound) => {
            if state.store.was_code_consumed(&code_hash).await? {
                // RFC 6749 §4.1.2: a replayed code revokes what it issued.
                if let Some(grant_id) = state.store.code_refresh_grant(&code_hash).await? {
                    state.store.revoke_refresh_grant(&grant_id).await?;
                }
                tracing::warn!(client_id = %client.client_id, "authorization code replayed; its refresh grant is revoked");
                return Err(invalid_grant(
                    "The authorization code has already been used",
                ));
            }
            return Err(invalid_grant("Invalid or expired authorization code"));
        }
        Err(e) => return Err(e.into()),
    };
    if code_client != client.client_id {
        return Err(invalid_grant(
            "The authorization code was issued to another client",
        ));
    }
    let grant: CodeGrant = serde_json::from_str(&grant_json).map_err(OAuthError::server_error)?;
    if params.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&grant.code_challenge, params.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => {}
        (Some(_), Some(_)) => return Err(invalid_grant("PKCE verification failed")),
        (Some(_), None) => return Err(invalid_grant("Missing code_verifier")),
        (None, Some(_)) => {
            return Err(invalid_grant(
                "code_verifier given but no code_challenge was sent",
            ));
        }
        (None, None) => {}
    }

    let user = live_user(state, &grant.user_id, grant.organization_id.as_deref()).await?;
    let user_grant = UserGrant {
        user: &user,
        organization_id: grant.organization_id.as_deref(),
        scope: &grant.scope,
        audience: grant.audience.as_deref(),
        nonce: grant.nonce.as_deref(),
        auth_time: grant.auth_time,
        session_id: grant.session_id.as_deref(),
    };
    let tokens = issue_user_tokens(state, &client, &user_grant).await?;
    let refresh_token = if refresh::is_wanted(&client, &grant.scope) {
        let (token, grant_id) = refresh::start(state, &client, &user_grant).await?;
        state
            .store
            .set_code_refresh_grant(&code_hash, &grant_id)
            .await?;
        Some(token)
    } else {
        None
    };
    Ok(tokens.into_response(grant.scope.join(" "), refresh_token))
}

/// The user a grant is for, if they may still get tokens: the account
/// exists, is not blocked, and is still a member of the organization.
pub async fn live_user(
    state: &AppState,
    user_id: &str,
    organization_id: Option<&str>,
) -> Result<User, OAuthError> {
    let user = state.store.get_user(user_id).await.map_err(|e| match e {
        StoreError::NotFound => invalid_grant("The user no longer exists"),
        other => other.into(),
    })?;
    if user.user.blocked {
        return Err(invalid_grant("The user is blocked"));
    }
    if let Some(org_id) = organization_id {
        if !state.store.is_member(org_id, user_id).await? {
            return Err(invalid_grant(
                "The user is no longer a member of the organization",
            ));
        }
    }
    Ok(user.user)
}

/// What user tokens are issued for: a code exchange, or a refresh.
pub struct UserGrant<'a> {
    pub user: &'a User,
    pub organization_id: Option<&'a str>,
    pub scope: &'a [String],
    pub audience: Option<&'a str>,
    /// Only on the code exchange's ID token (OIDC Core §12.2).
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub session_id: Option<&'a str>,
}

pub struct UserTokens {
    pub access_token: String,
    pub id_token: Option<String>,
}

impl UserTokens {
    pub fn into_response(self, scope: String, refresh_token: Option<String>) -> TokenResponse {
        TokenResponse {
            access_token: self.access_token,
            id_token: self.id_token,
            refresh_token,
            token_type: "Bearer",
            expires_in: USER_ACCESS_TOKEN_LIFETIME_SECS,
            scope: Some(scope),
        }
    }
}

/// Signs the access token (RFC 9068; for the API `audience`, else for
/// `/userinfo`) and, with the `openid` scope, the ID token.
pub async fn issue_user_tokens(
    state: &AppState,
    client: &Client,
    grant: &UserGrant<'_>,
) -> Result<UserTokens, OAuthError> {
    let now = now_unix_seconds();
    let alg = client.signing_alg;
    let access_claims = AccessTokenClaims {
        iss: state.issuer.identifier().to_owned(),
        sub: grant.user.user_id.clone(),
        aud: grant
            .audience
            .map_or_else(|| state.issuer.url("/userinfo"), str::to_owned),
        iat: now,
        exp: now + USER_ACCESS_TOKEN_LIFETIME_SECS,
        jti: ids::random_alphanumeric(22),
        client_id: client.client_id.clone(),
        scope: grant.scope.join(" "),
        gty: None,
        org_id: grant.organization_id.map(str::to_owned),
    };
    let access_token = state.keys.sign(alg, ACCESS_TOKEN_TYP, &access_claims)?;
    let id_token = if grant.scope.iter().any(|s| s == "openid") {
        let claims = IdTokenClaims {
            iss: state.issuer.identifier().to_owned(),
            sub: grant.user.user_id.clone(),
            aud: client.client_id.clone(),
            exp: now + ID_TOKEN_LIFETIME_SECS,
            iat: now,
            auth_time: grant.auth_time,
            nonce: grant.nonce.map(str::to_owned),
            at_hash: at_hash(alg, &access_token),
            sid: grant.session_id.map(str::to_owned),
            org_id: grant.organization_id.map(str::to_owned),
            profile: profile_claims(grant.user, grant.scope),
        };
        Some(state.keys.sign(alg, "JWT", &claims)?)
    } else {
        None
    };
    Ok(UserTokens {
        access_token,
        id_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
    }

    #[test]
    fn at_hash_is_the_left_half() {
        // OIDC Core A.3's access token and at_hash (RS256).
        assert_eq!(
            at_hash(
                SigningAlg::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
