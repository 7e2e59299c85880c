//! The tokens this server issues and takes back: the ID token (OIDC Core
//! §2) and RFC 9068 access tokens, both carrying the organization the user
//! logged in to; the user tokens every user grant (code, refresh) issues
//! through [`issue_user_tokens`]; and the checks of tokens presented back to
//! this server (an `id_token_hint`, an access token at its own endpoints).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use super::OAuthError;
use crate::model::client::{Client, SigningAlg};
use crate::model::resource_server::TokenDialect;
use crate::model::secret::Secret;
use crate::model::user::User;
use crate::state::AppState;
use crate::store::StoreError;

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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_name: Option<String>,
    #[serde(flatten)]
    pub profile: serde_json::Map<String, serde_json::Value>,
}

/// The claims of an `id_token_hint` (at `/authorize` and logout).
#[derive(Debug, serde::Deserialize)]
pub struct IdTokenHint {
    pub aud: String,
    pub sub: String,
    /// The SSO session it was issued in (logout checks it is the browser's).
    #[serde(default)]
    pub sid: Option<String>,
}

/// Verifies an ID token this server issued, given back as a hint. Expired
/// hints are accepted (a hint names a user, it grants nothing); ones signed
/// by anyone else are not.
pub fn verify_id_token_hint(
    state: &AppState,
    hint: &str,
) -> Result<IdTokenHint, crate::keys::TokenRejected> {
    let mut validation = jsonwebtoken::Validation::default();
    validation.set_issuer(&[state.issuer.identifier()]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "aud", "sub"]);
    state
        .keys
        .verify(hint, "JWT", validation, state.clock.now_unix_seconds())
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
        put("email", user.email.clone().map(Into::into));
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

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: Secret,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
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
    state.keys.verify(
        token,
        ACCESS_TOKEN_TYP,
        validation,
        state.clock.now_unix_seconds(),
    )
}

/// The user a grant is for, if they may still get tokens: the account
/// exists, is not blocked, and is still a member of the organization.
pub async fn live_user(
    state: &AppState,
    user_id: &str,
    organization_id: Option<&str>,
) -> Result<User, OAuthError> {
    let (user, member) = state
        .store
        .get_user_and_membership(user_id, organization_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => OAuthError::invalid_grant("The user no longer exists"),
            other => other.into(),
        })?;
    usable_user(user, member, organization_id)
}

/// `user` if a grant may still issue to them: not blocked, and a member of
/// the grant's organization if it has one (`member`).
pub fn usable_user(
    user: User,
    member: bool,
    organization_id: Option<&str>,
) -> Result<User, OAuthError> {
    if user.blocked {
        return Err(OAuthError::invalid_grant("The user is blocked"));
    }
    if organization_id.is_some() && !member {
        return Err(OAuthError::invalid_grant(
            "The user is no longer a member of the organization",
        ));
    }
    Ok(user)
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
    /// The `jti` of the access token, recorded with the code or refresh
    /// token it is issued for so that revoking those revokes it too.
    pub access_token_id: &'a str,
}

pub struct UserTokens {
    pub access_token: String,
    pub id_token: Option<String>,
    pub expires_in: i64,
    /// The access token's scope (an API's scopes may be narrowed by RBAC).
    pub scope: String,
    /// Whether a refresh token may go with these tokens: always without an
    /// API, else as the API's `allow_offline_access` says.
    pub offline_access_allowed: bool,
}

impl UserTokens {
    pub fn into_response(self, refresh_token: Option<String>) -> TokenResponse {
        TokenResponse {
            access_token: self.access_token.into(),
            id_token: self.id_token.map(Secret::from),
            refresh_token: refresh_token.map(Secret::from),
            token_type: "Bearer",
            expires_in: self.expires_in,
            scope: Some(self.scope),
        }
    }
}

/// Signs the access token (RFC 9068; for the API `audience`, else for
/// `/userinfo`) and, with the `openid` scope, the ID token.
///
/// For an API the access token follows the API's settings, as in Auth0: its
/// lifetime and signing algorithm; with `enforce_policies` only the API scopes
/// the user's roles in the organization permit; with the `access_token_authz`
/// dialect the `roles` and `permissions` claims.
pub async fn issue_user_tokens(
    state: &AppState,
    client: &Client,
    grant: &UserGrant<'_>,
) -> Result<UserTokens, OAuthError> {
    let api = match grant.audience {
        Some(audience) => match state
            .resource_servers
            .by_identifier(&state.store, audience)
            .await
        {
            Ok(api) => Some(api),
            Err(StoreError::NotFound) => {
                return Err(OAuthError::invalid_grant(
                    "The API of this grant no longer exists",
                ));
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let (roles, permissions) = match (&api, grant.organization_id) {
        (Some(api), Some(org_id)) => {
            state
                .store
                .organization_authorization(org_id, &grant.user.user_id, &api.identifier)
                .await?
        }
        _ => (Vec::new(), Vec::new()),
    };
    let org_name = super::organization_name_claim(state, grant.organization_id).await?;
    let access_scope: Vec<&str> = grant
        .scope
        .iter()
        .map(String::as_str)
        .filter(|s| match &api {
            Some(api) if api.has_scope(s) => {
                !api.enforce_policies || permissions.iter().any(|p| p == s)
            }
            _ => true,
        })
        .collect();
    let authz_dialect = api
        .as_ref()
        .is_some_and(|api| api.token_dialect == TokenDialect::AccessTokenAuthz);
    let lifetime = api
        .as_ref()
        .map_or(USER_ACCESS_TOKEN_LIFETIME_SECS, |api| api.token_lifetime);
    let now = state.clock.now_unix_seconds();
    let access_claims = AccessTokenClaims {
        iss: state.issuer.identifier().to_owned(),
        sub: grant.user.user_id.clone(),
        aud: Audience::of_user_token(state, grant.audience, grant.scope),
        iat: now,
        exp: now + lifetime,
        jti: grant.access_token_id.to_owned(),
        client_id: client.client_id.clone(),
        scope: access_scope.join(" "),
        gty: None,
        org_id: grant.organization_id.map(str::to_owned),
        org_name: org_name.clone(),
        roles: authz_dialect.then(|| roles.clone()),
        permissions: authz_dialect.then(|| permissions.clone()),
    };
    let access_alg = api
        .as_ref()
        .map_or(client.signing_alg, |api| api.signing_alg);
    let access_token = state
        .keys
        .sign(access_alg, ACCESS_TOKEN_TYP, &access_claims)?;
    let id_token = if grant.scope.iter().any(|s| s == "openid") {
        let alg = client.signing_alg;
        let claims = IdTokenClaims {
            iss: state.issuer.identifier().to_owned(),
            sub: grant.user.user_id.clone(),
            aud: client.client_id.clone(),
            exp: now + client.id_token_lifetime,
            iat: now,
            auth_time: grant.auth_time,
            nonce: grant.nonce.map(str::to_owned),
            at_hash: at_hash(alg, &access_token),
            sid: grant.session_id.map(str::to_owned),
            org_id: grant.organization_id.map(str::to_owned),
            org_name,
            profile: profile_claims(grant.user, grant.scope),
        };
        Some(state.keys.sign(alg, "JWT", &claims)?)
    } else {
        None
    };
    Ok(UserTokens {
        access_token,
        id_token,
        expires_in: lifetime,
        scope: access_scope.join(" "),
        offline_access_allowed: api.as_ref().is_none_or(|api| api.allow_offline_access),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
