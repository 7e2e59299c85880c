//! Client authentication at the token endpoint (RFC 6749 §2.3):
//! `client_secret_basic` or `client_secret_post`, never both at once.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::OAuthError;
use crate::model::client::Client;

/// Credentials as presented, before they are checked.
#[derive(Clone, Default)]
pub struct PresentedCredentials {
    pub client_id: String,
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for PresentedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedCredentials")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
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
        }),
        (None, Some(id), secret) => Ok(PresentedCredentials {
            client_id: id.to_owned(),
            client_secret: secret.map(str::to_owned),
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
    hex::encode(Sha256::digest(secret.as_bytes()))
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
        let from_post = presented_credentials(None, Some("app"), Some("secret"))?;
        assert_eq!(from_post.client_secret.as_deref(), Some("secret"));
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
