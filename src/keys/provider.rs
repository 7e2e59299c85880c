//! A jsonwebtoken `CryptoProvider` that signs with key pairs parsed once.
//!
//! `jsonwebtoken::encode` asks the process-wide provider for a signer built
//! from the `EncodingKey` bytes; the stock aws-lc-rs provider re-parses the
//! private key on every call, which halves RS256 throughput. The key ring
//! registers each key's parsed pair here when it loads the key, and the
//! factory hands out a signer that borrows it. Keys it has never seen fall
//! back to the stock provider. Verification is the stock provider's.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Once, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner};
use jsonwebtoken::{Algorithm, EncodingKey};

/// A private key parsed once, ready to sign.
pub enum ParsedKeyPair {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl ParsedKeyPair {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        match self {
            ParsedKeyPair::Rsa(pair) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut out)
                    .map_err(signature::Error::from_source)?;
                Ok(out)
            }
            ParsedKeyPair::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(signature::Error::from_source),
            ParsedKeyPair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// Parsed key pairs by their PKCS#8 DER (the `EncodingKey` content).
static PARSED: LazyLock<RwLock<HashMap<Vec<u8>, Arc<ParsedKeyPair>>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

pub fn register(der: &[u8], pair: Arc<ParsedKeyPair>) {
    if let Ok(mut map) = PARSED.write() {
        map.insert(der.to_vec(), pair);
    }
}

pub fn unregister(der: &[u8]) {
    if let Ok(mut map) = PARSED.write() {
        map.remove(der);
    }
}

struct ParsedSigner {
    algorithm: Algorithm,
    pair: Arc<ParsedKeyPair>,
}

impl signature::Signer<Vec<u8>> for ParsedSigner {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        self.pair.sign(message)
    }
}

impl JwtSigner for ParsedSigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

fn signer_factory(
    algorithm: &Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    let registered = PARSED
        .read()
        .ok()
        .and_then(|map| map.get(key.inner()).cloned());
    if let Some(pair) = registered {
        let fits = matches!(
            (pair.as_ref(), algorithm),
            (ParsedKeyPair::Rsa(_), Algorithm::RS256)
                | (ParsedKeyPair::Ecdsa(_), Algorithm::ES256)
                | (ParsedKeyPair::Ed25519(_), Algorithm::EdDSA)
        );
        if fits {
            return Ok(Box::new(ParsedSigner {
                algorithm: *algorithm,
                pair,
            }));
        }
    }
    (jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.signer_factory)(algorithm, key)
}

static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    signer_factory,
    verifier_factory: jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.verifier_factory,
    jwk_utils: jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
        .jwk_utils
        .clone(),
});

/// Installs the provider for the process (idempotent).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let provider: &'static CryptoProvider = &PROVIDER;
        let _ = provider.install_default();
    });
}
