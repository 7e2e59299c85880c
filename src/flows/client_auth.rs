//! Client authentication at the token, revocation and introspection
//! endpoints (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`,
//! or a public client's id alone (`none`), never two at once, and only the
//! method the client registered (`token_endpoint_auth_method`, OIDC Core §9).

use std::sync::Arc;

use base64::Engine;
use subtle::ConstantTimeEq;

use super::{OAuthError, OAuthErrorCode, sha256_hex};
use crate::model::client::{Client, GrantType, TokenEndpointAuthMethod};
use crate::state::AppState;

/// Credentials as presented, before they are checked.
#[derive(Clone)]
pub struct PresentedCredentials {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// How they came: an `Authorization: Basic` header, a secret in the
    /// body, or the client_id alone.
    pub method: TokenEndpointAuthMethod,
}

impl std::fmt::Debug for PresentedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedCredentials")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("method", &self.method)
            .finish()
    }
}

/// Reads the credentials from an `Authorization: Basic` header and/or the
/// body. Using two methods in one request is refused (RFC 6749 §2.3).
pub fn presented_credentials(
    authorization: Option<&str>,
    body_client_id: Option<&str>,
    body_client_secret: Option<&str>,
) -> Result<PresentedCredentials, OAuthError> {
    let basic = authorization
        .map(|value| {
            let encoded = value
                .strip_prefix("Basic ")
                .or_else(|| value.strip_prefix("basic "))
                .ok_or_else(OAuthError::invalid_client)?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| OAuthError::invalid_client())?;
            let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(OAuthError::invalid_client)?;
            // Both parts are form-urlencoded before base64 (RFC 6749 §2.3.1).
            let id = form_decode(id).ok_or_else(OAuthError::invalid_client)?;
            let secret = form_decode(secret).ok_or_else(OAuthError::invalid_client)?;
            Ok::<_, OAuthError>((id, secret))
        })
        .transpose()?;
    match (basic, body_client_id, body_client_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "Use one client authentication method: either HTTP Basic or client_secret in the body",
        )),
        (Some((id, _)), Some(body_id), None) if body_id != id => Err(OAuthError::invalid_request(
            "client_id in the body does not match the HTTP Basic credentials",
        )),
        (Some((id, secret)), _, None) => Ok(PresentedCredentials {
            client_id: id,
            client_secret: Some(secret),
            method: TokenEndpointAuthMethod::ClientSecretBasic,
        }),
        (None, Some(id), secret) => Ok(PresentedCredentials {
            client_id: id.to_owned(),
            client_secret: secret.map(str::to_owned),
            method: if secret.is_some() {
                TokenEndpointAuthMethod::ClientSecretPost
            } else {
                TokenEndpointAuthMethod::None
            },
        }),
        (None, None, _) => Err(OAuthError::invalid_client()),
    }
}

fn form_decode(value: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={value}")).ok()?;
    pairs.into_iter().next().map(|(_, v)| v)
}

/// Client secrets are long random strings: a SHA-256 digest is enough to
/// store them (no password KDF on the token path), compared in constant time.
pub fn hash_client_secret(secret: &str) -> String {
    sha256_hex(secret)
}

/// Checks a confidential client's secret. A public client (no secret hash)
/// never authenticates with a secret.
pub fn verify_client_secret(client: &Client, presented: Option<&str>) -> Result<(), OAuthError> {
    let (Some(expected), Some(presented)) = (client.client_secret_hash.as_deref(), presented)
    else {
        return Err(OAuthError::invalid_client());
    };
    let actual = hash_client_secret(presented);
    if bool::from(actual.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(OAuthError::invalid_client())
    }
}

/// Authenticates the client of a token request and checks that it may use
/// `grant`. A public client authenticates by its client_id alone where the
/// grant allows public clients, and never with a secret; a confidential
/// client always with its secret, the way it registered.
pub async fn authenticate_client(
    state: &AppState,
    authorization: Option<&str>,
    body_client_id: Option<&str>,
    body_client_secret: Option<&str>,
    grant: GrantType,
) -> Result<Arc<Client>, OAuthError> {
    let client = identify_client(
        state,
        authorization,
        body_client_id,
        body_client_secret,
        grant.allows_public_clients(),
    )
    .await?;
    if !client.grant_types.contains(&grant) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            format!("Grant type '{}' not allowed for the client", grant.as_str()),
        ));
    }
    Ok(client)
}

/// Authenticates the client of a request to the token, revocation or
/// introspection endpoint, by the method it registered. With
/// `public_allowed`, a public client (`none`) is identified by its client_id
/// and must not send a secret; otherwise only a confidential client passes,
/// with its secret presented as its `token_endpoint_auth_method` says.
pub async fn identify_client(
    state: &AppState,
    authorization: Option<&str>,
    body_client_id: Option<&str>,
    body_client_secret: Option<&str>,
    public_allowed: bool,
) -> Result<Arc<Client>, OAuthError> {
    let credentials = presented_credentials(authorization, body_client_id, body_client_secret)?;
    tracing::Span::current().record("client_id", credentials.client_id.as_str());
    let client = state
        .clients
        .get(&state.store, &credentials.client_id)
        .await?
        .ok_or_else(OAuthError::invalid_client)?;
    check_method(&client, &credentials, public_allowed)?;
    Ok(client)
}

/// Checks the presented credentials against the client's registration.
/// The secret is checked first: only a caller who knows it learns which
/// method the client registered.
fn check_method(
    client: &Client,
    credentials: &PresentedCredentials,
    public_allowed: bool,
) -> Result<(), OAuthError> {
    let registered = client.token_endpoint_auth_method;
    if registered == TokenEndpointAuthMethod::None {
        if public_allowed && credentials.method == TokenEndpointAuthMethod::None {
            return Ok(());
        }
        return Err(OAuthError {
            detail: Some(format!(
                "public client presented {} where public clients are {}",
                credentials.method.as_str(),
                if public_allowed {
                    "allowed"
                } else {
                    "not allowed"
                }
            )),
            ..OAuthError::invalid_client()
        });
    }
    verify_client_secret(client, credentials.client_secret.as_deref())?;
    if credentials.method != registered {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidClient,
            format!(
                "The client authenticates with {} (its token_endpoint_auth_method), not {}",
                registered.as_str(),
                credentials.method.as_str()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    }

    #[test]
    fn basic_and_post_are_read() -> Result<(), OAuthError> {
        let from_basic = presented_credentials(Some(&basic("app", "s%3Acret")), None, None)?;
        assert_eq!(from_basic.client_id, "app");
        assert_eq!(from_basic.client_secret.as_deref(), Some("s:cret"));
        assert_eq!(
            from_basic.method,
            TokenEndpointAuthMethod::ClientSecretBasic
        );
        let from_post = presented_credentials(None, Some("app"), Some("secret"))?;
        assert_eq!(from_post.client_secret.as_deref(), Some("secret"));
        assert_eq!(from_post.method, TokenEndpointAuthMethod::ClientSecretPost);
        let public = presented_credentials(None, Some("app"), None)?;
        assert_eq!(public.method, TokenEndpointAuthMethod::None);
        Ok(())
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let both = presented_credentials(Some(&basic("app", "s")), Some("app"), Some("s"));
        assert_eq!(
            both.err().map(|e| e.code),
            Some(super::super::OAuthErrorCode::InvalidRequest)
        );
        let mismatch = presented_credentials(Some(&basic("app", "s")), Some("other"), None);
        assert!(mismatch.is_err());
        assert!(presented_credentials(Some("Bearer x"), None, None).is_err());
        assert!(presented_credentials(None, None, None).is_err());
    }

    #[test]
    fn secret_hash_is_stable_hex_sha256() {
        assert_eq!(
            hash_client_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
