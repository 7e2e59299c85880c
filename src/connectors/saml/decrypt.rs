//! XML Encryption of assertions: an `EncryptedAssertion` to its `Assertion`.
//!
//! samael's own `EncryptedAssertion::decrypt` accepts RSA PKCS#1 v1.5 key
//! transport (Bleichenbacher), knows neither AES-256 (samlify's, Entra ID's
//! and ADFS's default) nor AES-192, and panics on a short ciphertext. This
//! module does the same job with openssl, refuses every algorithm outside
//! the list below and checks every length before it slices.
//!
//! ```text
//! key transport   rsa-oaep-mgf1p (digest SHA-1 or SHA-2), xmlenc11 rsa-oaep (MGF1 SHA-1 or SHA-2)
//! data            aes128/192/256-cbc, aes128/192/256-gcm
//! ```
//!
//! The plaintext is returned as it is: the caller parses it and checks it
//! as it checks any document (one Assertion, its signature).

use base64::Engine;
use openssl::md::{Md, MdRef};
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};
use roxmltree::Node;

const NS_XMLENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const NS_XMLENC11: &str = "http://www.w3.org/2009/xmlenc11#";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
/// An IdP sends one EncryptedKey per SP certificate it encrypts for.
const MAX_ENCRYPTED_KEYS: usize = 4;
/// RSA private-key operations one response may cost: an EncryptedKey
/// tried with each SP key that may decrypt (current, next, previous).
const MAX_PRIVATE_KEY_OPERATIONS: usize = 6;

/// Why an EncryptedAssertion could not be opened. The texts are for the
/// log: whichever the cause, the person sees one message, so that the
/// answers do not tell a padding error from a wrong key (an oracle).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// Not laid out as XML Encryption says (no EncryptedData, no key, a
    /// CipherValue that is not base64, …).
    #[error("the encrypted assertion is malformed: {0}")]
    Malformed(String),
    /// An algorithm outside the allowlist (rsa-1_5, tripledes, …).
    #[error("the encrypted assertion uses {0}, which is refused")]
    Algorithm(String),
    /// None of the keys opened it, or what it opened is not a valid
    /// ciphertext (wrong key, tampered or truncated data).
    #[error("no decryption key opened the encrypted assertion: {0}")]
    Failed(String),
}

/// The block cipher of the assertion's data.
#[derive(Clone, Copy)]
enum DataCipher {
    Cbc(Cipher),
    Gcm(Cipher),
}

impl DataCipher {
    fn from_uri(uri: &str) -> Result<Self, DecryptError> {
        Ok(match uri {
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => DataCipher::Cbc(Cipher::aes_128_cbc()),
            "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => DataCipher::Cbc(Cipher::aes_192_cbc()),
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => DataCipher::Cbc(Cipher::aes_256_cbc()),
            "http://www.w3.org/2009/xmlenc11#aes128-gcm" => DataCipher::Gcm(Cipher::aes_128_gcm()),
            "http://www.w3.org/2009/xmlenc11#aes192-gcm" => DataCipher::Gcm(Cipher::aes_192_gcm()),
            "http://www.w3.org/2009/xmlenc11#aes256-gcm" => DataCipher::Gcm(Cipher::aes_256_gcm()),
            other => return Err(DecryptError::Algorithm(format!("data encryption {other}"))),
        })
    }

    fn key_len(self) -> usize {
        match self {
            DataCipher::Cbc(cipher) | DataCipher::Gcm(cipher) => cipher.key_len(),
        }
    }

    /// `data` is IV ‖ ciphertext (‖ tag for GCM), as XML Encryption lays
    /// it out.
    fn decrypt(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, DecryptError> {
        if key.len() != self.key_len() {
            return Err(DecryptError::Failed(format!(
                "the transported key has {} bytes, the cipher wants {}",
                key.len(),
                self.key_len()
            )));
        }
        match self {
            DataCipher::Cbc(cipher) => decrypt_cbc(cipher, key, data),
            DataCipher::Gcm(cipher) => decrypt_gcm(cipher, key, data),
        }
    }
}

const AES_BLOCK: usize = 16;
/// XML Encryption 1.1 §5.2.4: a 96-bit IV and a 128-bit tag.
const GCM_IV: usize = 12;
const GCM_TAG: usize = 16;

fn decrypt_cbc(cipher: Cipher, key: &[u8], data: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let failed = |what: &str| DecryptError::Failed(format!("AES-CBC: {what}"));
    let (iv, ciphertext) = data
        .split_at_checked(AES_BLOCK)
        .ok_or_else(|| failed("shorter than an IV"))?;
    if ciphertext.is_empty() || ciphertext.len() % AES_BLOCK != 0 {
        return Err(failed("not a whole number of blocks"));
    }
    let mut crypter = Crypter::new(cipher, Mode::Decrypt, key, Some(iv))
        .map_err(|_| failed("the cipher refused the key"))?;
    // XML Encryption's padding is not PKCS#7 (only its last byte counts):
    // openssl's padding check is off and the padding is removed below.
    crypter.pad(false);
    let mut plaintext = vec![0; ciphertext.len() + AES_BLOCK];
    let written = crypter
        .update(ciphertext, &mut plaintext)
        .map_err(|_| failed("decryption failed"))?;
    let rest = plaintext
        .get_mut(written..)
        .ok_or_else(|| failed("decryption overran"))?;
    let finished = crypter
        .finalize(rest)
        .map_err(|_| failed("decryption failed"))?;
    plaintext.truncate(written + finished);
    let padding = usize::from(*plaintext.last().ok_or_else(|| failed("empty plaintext"))?);
    if padding == 0 || padding > AES_BLOCK || padding > plaintext.len() {
        return Err(failed("invalid padding"));
    }
    plaintext.truncate(plaintext.len() - padding);
    Ok(plaintext)
}

fn decrypt_gcm(cipher: Cipher, key: &[u8], data: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let failed = |what: &str| DecryptError::Failed(format!("AES-GCM: {what}"));
    let (iv, rest) = data
        .split_at_checked(GCM_IV)
        .ok_or_else(|| failed("shorter than an IV"))?;
    let ciphertext_len = rest
        .len()
        .checked_sub(GCM_TAG)
        .ok_or_else(|| failed("shorter than an IV and a tag"))?;
    let (ciphertext, tag) = rest
        .split_at_checked(ciphertext_len)
        .ok_or_else(|| failed("shorter than an IV and a tag"))?;
    openssl::symm::decrypt_aead(cipher, key, Some(iv), &[], ciphertext, tag)
        .map_err(|_| failed("the tag did not verify"))
}

/// An `EncryptedKey` holding the data key, wrapped with RSA-OAEP.
struct EncryptedKey {
    /// OAEP's hash of the label (DigestMethod; SHA-1 unless said).
    digest: &'static MdRef,
    /// The mask generation function's hash (SHA-1 for rsa-oaep-mgf1p).
    mgf1: &'static MdRef,
    cipher_value: Vec<u8>,
}

impl EncryptedKey {
    fn read(node: Node<'_, '_>) -> Result<Self, DecryptError> {
        let method = child(node, NS_XMLENC, "EncryptionMethod")?
            .ok_or_else(|| malformed("an EncryptedKey has no EncryptionMethod"))?;
        let algorithm = method.attribute("Algorithm").unwrap_or_default();
        let oaep_11 = match algorithm {
            RSA_OAEP_MGF1P => false,
            RSA_OAEP => true,
            other => return Err(DecryptError::Algorithm(format!("key transport {other}"))),
        };
        let mut digest = Md::sha1();
        let mut mgf1 = Md::sha1();
        for parameter in method.children().filter(Node::is_element) {
            let name = parameter.tag_name();
            let uri = parameter.attribute("Algorithm").unwrap_or_default();
            match (name.namespace(), name.name()) {
                (Some(NS_DSIG), "DigestMethod") => digest = md_of_digest(uri)?,
                (Some(NS_XMLENC11), "MGF") if oaep_11 => mgf1 = md_of_mgf(uri)?,
                // A label changes nothing an IdP needs; none sends one.
                _ => {
                    return Err(DecryptError::Algorithm(format!(
                        "key transport parameter {}",
                        name.name()
                    )));
                }
            }
        }
        Ok(EncryptedKey {
            digest,
            mgf1,
            cipher_value: cipher_value(node)?,
        })
    }

    fn unwrap_with(&self, key: &PKey<Private>) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut context = PkeyCtx::new(key)?;
        context.decrypt_init()?;
        context.set_rsa_padding(Padding::PKCS1_OAEP)?;
        context.set_rsa_oaep_md(self.digest)?;
        context.set_rsa_mgf1_md(self.mgf1)?;
        let mut data_key = Vec::new();
        context.decrypt_to_vec(&self.cipher_value, &mut data_key)?;
        Ok(data_key)
    }
}

fn md_of_digest(uri: &str) -> Result<&'static MdRef, DecryptError> {
    Ok(match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => Md::sha1(),
        "http://www.w3.org/2001/04/xmlenc#sha256" => Md::sha256(),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Md::sha384(),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Md::sha512(),
        other => return Err(DecryptError::Algorithm(format!("OAEP digest {other}"))),
    })
}

fn md_of_mgf(uri: &str) -> Result<&'static MdRef, DecryptError> {
    Ok(match uri {
        "http://www.w3.org/2009/xmlenc11#mgf1sha1" => Md::sha1(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha224" => Md::sha224(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha256" => Md::sha256(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha384" => Md::sha384(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha512" => Md::sha512(),
        other => {
            return Err(DecryptError::Algorithm(format!(
                "OAEP mask function {other}"
            )));
        }
    })
}

fn malformed(what: &str) -> DecryptError {
    DecryptError::Malformed(what.to_owned())
}

/// The one child `ns:name` of `node`, if any; two are malformed.
fn child<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    ns: &'a str,
    name: &'a str,
) -> Result<Option<Node<'a, 'input>>, DecryptError> {
    super::validate::only_child(node, ns, name).map_err(DecryptError::Malformed)
}

/// The bytes of `node`'s `CipherData/CipherValue` (a `CipherReference`,
/// which would fetch a URL, is refused).
fn cipher_value(node: Node<'_, '_>) -> Result<Vec<u8>, DecryptError> {
    let cipher_data =
        child(node, NS_XMLENC, "CipherData")?.ok_or_else(|| malformed("no CipherData"))?;
    let value = child(cipher_data, NS_XMLENC, "CipherValue")?
        .ok_or_else(|| malformed("no CipherValue (a CipherReference is refused)"))?;
    if value.children().any(|c| !c.is_text()) {
        return Err(malformed("a CipherValue holds more than text"));
    }
    let text: String = value
        .children()
        .filter_map(|c| c.text())
        .flat_map(str::chars)
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| malformed("a CipherValue is not base64"))
}

/// Decrypts `encrypted_assertion` (a `saml:EncryptedAssertion` element)
/// with the first of `keys_pkcs8` (RSA, PKCS#8 DER) that opens it: the
/// plaintext, which should be one `saml:Assertion` element.
pub fn decrypt_assertion(
    encrypted_assertion: Node<'_, '_>,
    keys_pkcs8: &[Vec<u8>],
) -> Result<String, DecryptError> {
    let data = child(encrypted_assertion, NS_XMLENC, "EncryptedData")?
        .ok_or_else(|| malformed("no EncryptedData"))?;
    if let Some(kind) = data.attribute("Type") {
        if kind != TYPE_ELEMENT {
            return Err(DecryptError::Malformed(format!(
                "EncryptedData of Type {kind}"
            )));
        }
    }
    let method = child(data, NS_XMLENC, "EncryptionMethod")?
        .ok_or_else(|| malformed("EncryptedData has no EncryptionMethod"))?;
    let cipher = DataCipher::from_uri(method.attribute("Algorithm").unwrap_or_default())?;
    let ciphertext = cipher_value(data)?;

    // The key travels inside EncryptedData's KeyInfo, or beside
    // EncryptedData (SAML core §2.2.4 allows both).
    let mut key_nodes: Vec<Node<'_, '_>> = Vec::new();
    if let Some(key_info) = child(data, NS_DSIG, "KeyInfo")? {
        key_nodes.extend(key_info.children().filter(|c| is_encrypted_key(*c)));
    }
    key_nodes.extend(
        encrypted_assertion
            .children()
            .filter(|c| is_encrypted_key(*c)),
    );
    if key_nodes.is_empty() {
        return Err(malformed("no EncryptedKey"));
    }
    // Each is tried with each SP key: a private-key operation apiece.
    if key_nodes.len() > MAX_ENCRYPTED_KEYS {
        return Err(DecryptError::Malformed(format!(
            "{} EncryptedKeys",
            key_nodes.len()
        )));
    }
    let wrapped_keys = key_nodes
        .into_iter()
        .map(EncryptedKey::read)
        .collect::<Result<Vec<_>, _>>()?;

    let mut last_failure = DecryptError::Failed("no decryption key is configured".into());
    let mut operations = 0;
    for der in keys_pkcs8 {
        let Ok(private_key) = PKey::private_key_from_pkcs8(der) else {
            last_failure = DecryptError::Failed("a decryption key is not PKCS#8".into());
            continue;
        };
        for wrapped in &wrapped_keys {
            // Work before any signature is checked stays bounded, however
            // many EncryptedKeys and SP keys in their overlap there are.
            if operations == MAX_PRIVATE_KEY_OPERATIONS {
                return Err(last_failure);
            }
            operations += 1;
            let Ok(data_key) = wrapped.unwrap_with(&private_key) else {
                last_failure = DecryptError::Failed("RSA-OAEP did not open the key".into());
                continue;
            };
            // The first key that opens decides: trying the others after a
            // bad padding would make a bad padding slower than a good one
            // (a timing oracle on an unsigned Response's ciphertext).
            let plaintext = cipher.decrypt(&data_key, &ciphertext)?;
            return String::from_utf8(plaintext)
                .map_err(|_| DecryptError::Failed("the plaintext is not UTF-8".into()));
        }
    }
    Err(last_failure)
}

fn is_encrypted_key(node: Node<'_, '_>) -> bool {
    node.is_element()
        && node.tag_name().namespace() == Some(NS_XMLENC)
        && node.tag_name().name() == "EncryptedKey"
}
