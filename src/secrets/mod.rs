//! Secrets at rest: signing private keys and upstream connection secrets are
//! sealed (AES-256-GCM, aws-lc-rs) under a key-encryption key (KEK) that
//! never sits in the database: a file in the data directory made on first
//! start (see [`files`]), another file, or an environment variable.
//!
//! A sealed value describes itself, `sealed.v1.<kek id>.<nonce>.<ciphertext>`
//! (nonce and ciphertext in unpadded base64url): the KEK id says which key
//! it needs, so a wrong key is named, not guessed at. The associated data
//! binds it to its place ([`SealedField`]: table, column and row), so a
//! sealed value copied into another row does not open.

pub mod files;

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::model::secret::Secret;

/// A KEK is 32 bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// What every sealed value starts with; no base64 text (the form the
/// private keys were stored in) contains a `.`.
const SEALED_PREFIX: &str = "sealed.v1.";

/// The options of a connection that are sealed, as JSON pointers into its
/// `options` (SAML SP private keys join this list when SAML has them).
pub const SEALED_CONNECTION_OPTIONS: &[&str] = &["/client_secret"];

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "the key-encryption key must be {KEY_LEN} bytes, or their base64 (`openssl rand -base64 32`); got {0} bytes"
    )]
    BadKeyLength(usize),
    #[error(
        "{field} was sealed under key-encryption key {sealed_under}, but the configured key-encryption key is {configured}: configure the key it was sealed under"
    )]
    WrongKey {
        field: String,
        sealed_under: String,
        configured: String,
    },
    #[error(
        "{field} does not open under key-encryption key {kek}: it was sealed for another row, or altered"
    )]
    Rejected { field: String, kek: String },
    #[error("{field} is not a sealed value ({reason})")]
    Malformed { field: String, reason: &'static str },
    #[error("{field} is stored in the clear where a sealed value belongs")]
    InTheClear { field: String },
    #[error("no key-encryption key is configured to seal or open {field}")]
    NoKey { field: String },
    #[error("the AEAD refused to seal {field}")]
    Seal { field: String },
}

/// Where a sealed value lives: the associated data it is sealed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedField {
    /// `table.column`, and for a JSON column the pointer inside it.
    place: String,
    /// The row's primary key.
    row: String,
}

impl SealedField {
    /// A signing key's private key (`signing_keys.private_key_der`).
    pub fn signing_key(kid: &str) -> Self {
        SealedField {
            place: "signing_keys.private_key_der".to_owned(),
            row: kid.to_owned(),
        }
    }

    /// A SAML connection's SP private key (`saml_sp_keys.private_key`).
    pub fn saml_sp_key(id: &str) -> Self {
        SealedField {
            place: "saml_sp_keys.private_key".to_owned(),
            row: id.to_owned(),
        }
    }

    /// One of a connection's [`SEALED_CONNECTION_OPTIONS`].
    pub fn connection_option(connection_id: &str, pointer: &str) -> Self {
        SealedField {
            place: format!("connections.options{pointer}"),
            row: connection_id.to_owned(),
        }
    }

    fn associated_data(&self, kek_id: &str) -> String {
        format!("{SEALED_PREFIX}{kek_id}|{}|{}", self.place, self.row)
    }
}

impl std::fmt::Display for SealedField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {}", self.place, self.row)
    }
}

/// Whether `stored` is a sealed value (rather than one still in the clear).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// The id of the key-encryption key a sealed value was sealed under.
pub fn sealed_under(stored: &str) -> Option<&str> {
    stored.strip_prefix(SEALED_PREFIX)?.split('.').next()
}

/// The key-encryption key, ready to seal and open. `Debug` shows its id only.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    key: Arc<RandomizedNonceKey>,
    id: String,
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl PartialEq for KeyEncryptionKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl KeyEncryptionKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        if bytes.len() != KEY_LEN {
            return Err(SealError::BadKeyLength(bytes.len()));
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes)
            .map_err(|_| SealError::BadKeyLength(bytes.len()))?;
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &[b"switchyard key-encryption key id\0".as_slice(), bytes].concat(),
        );
        let id = hex::encode(digest.as_ref().get(..8).unwrap_or_default());
        Ok(KeyEncryptionKey {
            key: Arc::new(key),
            id,
        })
    }

    /// The key from its base64 (standard or URL-safe, padded or not; the
    /// environment variable's form).
    pub fn from_base64(text: &Secret) -> Result<Self, SealError> {
        let text = text.trim().trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| SealError::BadKeyLength(0))?;
        Self::from_bytes(&bytes)
    }

    /// The key as a file holds it: the 32 bytes themselves, or their base64.
    pub fn from_file_contents(contents: &[u8]) -> Result<Self, SealError> {
        if contents.len() == KEY_LEN {
            return Self::from_bytes(contents);
        }
        let text = std::str::from_utf8(contents).map_err(|_| SealError::BadKeyLength(0))?;
        Self::from_base64(&Secret::new(text))
    }

    /// 32 new random bytes: the key and what to store of it.
    pub fn generate() -> Result<(Self, Secret), SealError> {
        let mut bytes = [0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SealError::Seal {
            field: "a new key-encryption key".to_owned(),
        })?;
        let key = Self::from_bytes(&bytes)?;
        Ok((key, Secret::new(STANDARD.encode(bytes))))
    }

    /// A short hash of the key: names it in sealed values and messages
    /// without revealing it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext` for `field`.
    pub fn seal(&self, field: &SealedField, plaintext: &str) -> Result<String, SealError> {
        let mut in_out = plaintext.as_bytes().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(
                Aad::from(field.associated_data(&self.id).as_bytes()),
                &mut in_out,
            )
            .map_err(|_| SealError::Seal {
                field: field.to_string(),
            })?;
        Ok(format!(
            "{SEALED_PREFIX}{}.{}.{}",
            self.id,
            URL_SAFE_NO_PAD.encode(nonce.as_ref()),
            URL_SAFE_NO_PAD.encode(&in_out)
        ))
    }

    /// Opens what [`KeyEncryptionKey::seal`] sealed for the same `field`.
    pub fn open(&self, field: &SealedField, sealed: &str) -> Result<Secret, SealError> {
        let malformed = |reason| SealError::Malformed {
            field: field.to_string(),
            reason,
        };
        let Some(rest) = sealed.strip_prefix(SEALED_PREFIX) else {
            return Err(SealError::InTheClear {
                field: field.to_string(),
            });
        };
        let mut parts = rest.split('.');
        let (Some(kek_id), Some(nonce), Some(ciphertext), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not five dot-separated parts"));
        };
        if kek_id != self.id {
            return Err(SealError::WrongKey {
                field: field.to_string(),
                sealed_under: kek_id.to_owned(),
                configured: self.id.clone(),
            });
        }
        let nonce: [u8; NONCE_LEN] = URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| malformed("bad nonce"))?;
        let mut in_out = URL_SAFE_NO_PAD
            .decode(ciphertext)
            .map_err(|_| malformed("bad ciphertext encoding"))?;
        let plaintext = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(field.associated_data(&self.id).as_bytes()),
                &mut in_out,
            )
            .map_err(|_| SealError::Rejected {
                field: field.to_string(),
                kek: self.id.clone(),
            })?;
        let plaintext = String::from_utf8(plaintext.to_vec())
            .map_err(|_| malformed("plaintext is not UTF-8"))?;
        Ok(Secret::new(plaintext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek() -> KeyEncryptionKey {
        KeyEncryptionKey::generate().unwrap().0
    }

    #[test]
    fn a_sealed_value_round_trips_and_hides_its_plaintext() {
        let kek = kek();
        let field = SealedField::signing_key("key_1");
        let sealed = kek.seal(&field, "MIIEvQIBADANBg…").unwrap();
        assert!(is_sealed(&sealed), "{sealed}");
        assert!(sealed.starts_with(&format!("sealed.v1.{}.", kek.id())));
        assert!(!sealed.contains("MIIEvQIBADANBg"));
        assert_eq!(
            kek.open(&field, &sealed).unwrap().expose(),
            "MIIEvQIBADANBg…"
        );
        // A fresh nonce each time: the same plaintext seals differently.
        assert_ne!(kek.seal(&field, "MIIEvQIBADANBg…").unwrap(), sealed);
    }

    #[test]
    fn another_key_is_refused_and_named() {
        let (a, b) = (kek(), kek());
        assert_ne!(a.id(), b.id());
        let field = SealedField::connection_option("con_1", "/client_secret");
        let sealed = a.seal(&field, "upstream-secret").unwrap();
        match b.open(&field, &sealed) {
            Err(SealError::WrongKey {
                sealed_under,
                configured,
                ..
            }) => {
                assert_eq!(sealed_under, a.id());
                assert_eq!(configured, b.id());
            }
            other => panic!("opened under another key: {other:?}"),
        }
        // Even with its id forged to the right one, the AEAD refuses it.
        let forged = sealed.replacen(a.id(), b.id(), 1);
        assert!(matches!(
            b.open(&field, &forged),
            Err(SealError::Rejected { .. })
        ));
    }

    #[test]
    fn a_value_moved_to_another_row_or_column_does_not_open() {
        let kek = kek();
        let sealed = kek
            .seal(
                &SealedField::connection_option("con_1", "/client_secret"),
                "s",
            )
            .unwrap();
        for elsewhere in [
            SealedField::connection_option("con_2", "/client_secret"),
            SealedField::connection_option("con_1", "/other"),
            SealedField::signing_key("con_1"),
        ] {
            assert!(
                matches!(
                    kek.open(&elsewhere, &sealed),
                    Err(SealError::Rejected { .. })
                ),
                "opened as {elsewhere}"
            );
        }
    }

    #[test]
    fn altered_or_clear_values_are_refused() {
        let kek = kek();
        let field = SealedField::signing_key("key_1");
        let sealed = kek.seal(&field, "private").unwrap();
        let mut altered = sealed.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(kek.open(&field, &altered).is_err());
        assert!(matches!(
            kek.open(&field, "TUlJRXZRSUJBREFOQmc="),
            Err(SealError::InTheClear { .. })
        ));
        assert!(matches!(
            kek.open(&field, "sealed.v1.abc"),
            Err(SealError::Malformed { .. })
        ));
    }

    #[test]
    fn keys_read_from_bytes_or_base64_and_refuse_other_lengths() {
        let (kek, base64) = KeyEncryptionKey::generate().unwrap();
        let bytes = STANDARD.decode(base64.expose()).unwrap();
        assert_eq!(KeyEncryptionKey::from_bytes(&bytes).unwrap(), kek);
        assert_eq!(KeyEncryptionKey::from_base64(&base64).unwrap(), kek);
        let url_safe = Secret::new(URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(KeyEncryptionKey::from_base64(&url_safe).unwrap(), kek);
        assert_eq!(KeyEncryptionKey::from_file_contents(&bytes).unwrap(), kek);
        let with_newline = format!("{}\n", base64.expose());
        assert_eq!(
            KeyEncryptionKey::from_file_contents(with_newline.as_bytes()).unwrap(),
            kek
        );
        assert!(KeyEncryptionKey::from_bytes(&[0; 16]).is_err());
        assert!(KeyEncryptionKey::from_base64(&Secret::new("c2hvcnQ=")).is_err());
        assert!(!format!("{kek:?}").contains(base64.expose()));
    }
}
