//! Signing keys: generated and kept in the store, parsed once into a ring.
//!
//! Per algorithm the ring holds a `current` key (signs), a `next` key
//! (published ahead so relying parties cache it before it signs) and any
//! number of `previous` keys: each still verifies what it signed until every
//! token it signed can have expired (its `verifies_until`, set when it stops
//! signing), or until an administrator revokes it. The JWKS publishes them
//! all; a token whose `kid` is not in the JWKS is rejected. Each key carries
//! a self-signed X.509 certificate of its public key, as Auth0's do (`x5c`
//! in the JWKS, `cert` in the Management API).

mod provider;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, OctetKeyPairParameters, OctetKeyPairType,
    PublicKeyUse, RSAKeyParameters, RSAKeyType,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::model::client::SigningAlg;
use crate::model::ids;
use crate::store::{KeyRetention, Store, StoreError, StoredKey};
use provider::ParsedKeyPair;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no current {0} signing key")]
    NoCurrentKey(&'static str),
    #[error("key material rejected: {0}")]
    BadKey(String),
    #[error("signing failed: {0}")]
    Sign(jsonwebtoken::errors::Error),
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a presented token was not accepted. Callers answer 401 for all of
/// them; the variant is for logs.
#[derive(Debug, thiserror::Error)]
pub enum TokenRejected {
    #[error("malformed token: {0}")]
    Malformed(jsonwebtoken::errors::Error),
    #[error("token type {0:?} is not the expected one")]
    WrongType(Option<String>),
    #[error("unknown key id")]
    UnknownKey,
    #[error("algorithm does not match the key")]
    AlgorithmMismatch,
    #[error("invalid token: {0}")]
    Invalid(jsonwebtoken::errors::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Current,
    Previous,
}

impl KeyState {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "next" => Some(KeyState::Next),
            "current" => Some(KeyState::Current),
            "previous" => Some(KeyState::Previous),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Previous => "previous",
        }
    }
}

struct LoadedKey {
    kid: String,
    alg: SigningAlg,
    state: KeyState,
    created_at: i64,
    /// When a `previous` key leaves the ring (Unix milliseconds).
    verifies_until: Option<i64>,
    /// The certificate made on loading a key stored without one, to store.
    made_certificate: Option<String>,
    /// The PKCS#8 DER; the provider maps it to the parsed pair.
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
}

impl LoadedKey {
    fn verifies_at(&self, now_millis: i64) -> bool {
        self.verifies_until.is_none_or(|end| end > now_millis)
    }
}

/// One immutable snapshot of the live keys; replaced whole on reload, and
/// when the first of its `previous` keys reaches its end.
struct KeySet {
    keys: Vec<Arc<LoadedKey>>,
    jwks_json: Arc<str>,
    /// The earliest `verifies_until` among the keys.
    first_end: Option<i64>,
}

/// The live keys as the `keys` command lists them (never the private part).
#[derive(Debug, Clone, Serialize)]
pub struct KeySummary {
    pub kid: String,
    pub alg: String,
    /// `next`, `current` or `previous`.
    pub state: String,
    pub current: bool,
    pub next: bool,
    pub previous: bool,
    pub created_at: String,
    /// When a `previous` key leaves the JWKS.
    pub verifies_until: Option<String>,
}

pub struct KeyRing {
    set: RwLock<Arc<KeySet>>,
    /// The store's clock: keys leave the ring when it passes their end.
    clock: Clock,
}

/// How long after a key stops signing it stays published, beyond the
/// lifetime of the tokens it signed: the 30 s leeway verification allows
/// past `exp`, the minute a node may go on signing with it before it learns
/// of the rotation (it re-reads keys every minute when it misses the
/// notification), and clock skew between nodes.
pub const RETENTION_MARGIN: Duration = Duration::from_secs(5 * 60);

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing")
    }
}

fn to_jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

/// A new private key for `alg`, as PKCS#8 DER.
pub(crate) fn generate_pkcs8(alg: SigningAlg) -> Result<Vec<u8>, KeyError> {
    let bad = |e: aws_lc_rs::error::Unspecified| KeyError::BadKey(e.to_string());
    match alg {
        SigningAlg::RS256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).map_err(bad)?;
            let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).map_err(bad)?;
            Ok(der.as_ref().to_vec())
        }
        SigningAlg::ES256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(bad)?;
            Ok(pair.to_pkcs8v1().map_err(bad)?.as_ref().to_vec())
        }
        SigningAlg::EdDSA => {
            let pair = Ed25519KeyPair::generate().map_err(bad)?;
            Ok(pair.to_pkcs8v1().map_err(bad)?.as_ref().to_vec())
        }
    }
}

fn load_key(stored: &StoredKey) -> Result<LoadedKey, KeyError> {
    let alg = SigningAlg::parse(&stored.alg)
        .ok_or_else(|| KeyError::BadKey(format!("alg {}", stored.alg)))?;
    let state = KeyState::parse(&stored.state)
        .ok_or_else(|| KeyError::BadKey(format!("state {}", stored.state)))?;
    let der = STANDARD
        .decode(stored.private_key_der.expose())
        .map_err(|e| KeyError::BadKey(e.to_string()))?;
    let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::BadKey(e.to_string());
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    // Keys stored before keys had certificates get one here; reload stores it.
    let certificate = match &stored.certificate {
        Some(pem) => pem.clone(),
        None => self_signed_certificate(alg, &der, &stored.kid, stored.created_at)?,
    };
    let certificate_der = certificate_der(&certificate)?;
    let made_certificate = stored.certificate.is_none().then_some(certificate);
    let (pair, encoding, decoding, params) = match alg {
        SigningAlg::RS256 => {
            let pair = RsaKeyPair::from_pkcs8(&der).map_err(rejected)?;
            let components =
                aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
            let decoding = DecodingKey::from_rsa_raw_components(&components.n, &components.e);
            let params = AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: b64(&components.n),
                e: b64(&components.e),
            });
            (
                ParsedKeyPair::Rsa(pair),
                EncodingKey::from_rsa_der(&der),
                decoding,
                params,
            )
        }
        SigningAlg::ES256 => {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                .map_err(rejected)?;
            let point = pair.public_key().as_ref().to_vec();
            // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
            let (x, y) = match point.as_slice() {
                [4, rest @ ..] if rest.len() == 64 => rest.split_at(32),
                _ => return Err(KeyError::BadKey("unexpected EC point encoding".into())),
            };
            let decoding =
                DecodingKey::from_ec_components(&b64(x), &b64(y)).map_err(KeyError::Sign)?;
            let params = AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P256,
                x: b64(x),
                y: b64(y),
            });
            (
                ParsedKeyPair::Ecdsa(pair),
                EncodingKey::from_ec_der(&der),
                decoding,
                params,
            )
        }
        SigningAlg::EdDSA => {
            let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(rejected)?;
            let public = pair.public_key().as_ref().to_vec();
            let decoding =
                DecodingKey::from_ed_components(&b64(&public)).map_err(KeyError::Sign)?;
            let params = AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: b64(&public),
            });
            (
                ParsedKeyPair::Ed25519(pair),
                EncodingKey::from_ed_der(&der),
                decoding,
                params,
            )
        }
    };
    provider::register(&der, Arc::new(pair));
    let jwk = Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(match alg {
                SigningAlg::RS256 => KeyAlgorithm::RS256,
                SigningAlg::ES256 => KeyAlgorithm::ES256,
                SigningAlg::EdDSA => KeyAlgorithm::EdDSA,
            }),
            key_id: Some(stored.kid.clone()),
            x509_chain: Some(vec![STANDARD.encode(&certificate_der)]),
            x509_sha1_fingerprint: Some(b64(&sha1(&certificate_der))),
            ..CommonParameters::default()
        },
        algorithm: params,
    };
    Ok(LoadedKey {
        kid: stored.kid.clone(),
        alg,
        state,
        created_at: stored.created_at,
        verifies_until: stored.verifies_until,
        made_certificate,
        encoding,
        decoding,
        jwk,
    })
}

impl KeySet {
    /// The key that signs for `alg`.
    fn current(&self, alg: SigningAlg) -> Option<&LoadedKey> {
        self.keys
            .iter()
            .map(AsRef::as_ref)
            .find(|k| k.alg == alg && k.state == KeyState::Current)
    }

    fn build(keys: Vec<Arc<LoadedKey>>) -> Self {
        let jwks = JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        };
        let jwks_json = serde_json::to_string(&jwks).unwrap_or_else(|_| "{\"keys\":[]}".into());
        KeySet {
            first_end: keys.iter().filter_map(|k| k.verifies_until).min(),
            keys,
            jwks_json: jwks_json.into(),
        }
    }

    /// This set without the keys past their end, or `None` if none is.
    fn without_ended(&self, now_millis: i64) -> Option<Self> {
        if self.first_end.is_none_or(|end| end > now_millis) {
            return None;
        }
        let keys = self
            .keys
            .iter()
            .filter(|k| k.verifies_at(now_millis))
            .cloned()
            .collect();
        Some(KeySet::build(keys))
    }
}

/// SHA-1 of a certificate: its thumbprint (`x5t`), as Auth0 gives it.
pub fn sha1(der: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .to_vec()
}

/// The DER of a PEM certificate.
pub fn certificate_der(pem: &str) -> Result<Vec<u8>, KeyError> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| KeyError::BadKey(format!("certificate: {e}")))?;
    Ok(parsed.contents)
}

/// A certificate (DER) as a certs-only PKCS#7 (CMS `SignedData`), PEM: what
/// Auth0 gives as a signing key's `pkcs7`.
pub fn pkcs7_pem(certificate_der: &[u8]) -> Result<String, KeyError> {
    use cms::cert::x509::der::{Decode, Encode};
    let bad = |e: cms::cert::x509::der::Error| KeyError::BadKey(format!("pkcs7: {e}"));
    let certificate = cms::cert::x509::Certificate::from_der(certificate_der).map_err(bad)?;
    let bundle = cms::content_info::ContentInfo::try_from(certificate).map_err(bad)?;
    Ok(pem::encode(&pem::Pem::new(
        "PKCS7",
        bundle.to_der().map_err(bad)?,
    )))
}

/// A self-signed certificate of the key `pkcs8` (of `alg`), named after its
/// `kid` (or what else names the key) and valid from its creation for 20
/// years. It only carries the public key, as Auth0's do: nothing checks its
/// dates or chains it to a CA.
pub(crate) fn self_signed_certificate(
    alg: SigningAlg,
    pkcs8: &[u8],
    kid: &str,
    created_at_millis: i64,
) -> Result<String, KeyError> {
    let sign_alg = match alg {
        SigningAlg::RS256 => &rcgen::PKCS_RSA_SHA256,
        SigningAlg::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        SigningAlg::EdDSA => &rcgen::PKCS_ED25519,
    };
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8);
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, sign_alg)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, kid);
    params.not_before =
        time::OffsetDateTime::from_unix_timestamp(created_at_millis.div_euclid(1000))
            .map_err(|e| KeyError::BadKey(e.to_string()))?;
    params.not_after = params.not_before + time::Duration::days(20 * 365);
    Ok(params.self_signed(&key_pair)?.pem())
}

impl KeyRing {
    /// Loads the live keys, creating a current and a next key for every
    /// algorithm that lacks one (first start). Safe when several nodes start
    /// at once: the store's unique indexes let one insert win, the others reload.
    pub async fn load_or_init(store: &Store) -> Result<Self, KeyError> {
        provider::install();
        let ring = KeyRing {
            set: RwLock::new(Arc::new(KeySet::build(Vec::new()))),
            clock: store.clock().clone(),
        };
        ring.reload(store).await?;
        let mut created = false;
        for alg in SigningAlg::ALL.iter().copied() {
            for state in [KeyState::Current, KeyState::Next] {
                if !ring
                    .snapshot()
                    .keys
                    .iter()
                    .any(|k| k.alg == alg && k.state == state)
                {
                    let key = new_stored_key(alg, state, store.clock().now_unix_millis())?;
                    match store.insert_signing_key(&key).await {
                        Ok(()) | Err(StoreError::Conflict(_)) => created = true,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        if created {
            ring.reload(store).await?;
        }
        Ok(ring)
    }

    /// Re-reads the live keys from the store (after a rotation or a
    /// revocation anywhere). Keys made before keys had certificates get one.
    pub async fn reload(&self, store: &Store) -> Result<(), KeyError> {
        let mut keys = self.load_live(store).await?;
        let mut made = false;
        for key in &keys {
            if let Some(pem) = &key.made_certificate {
                store.set_signing_key_certificate(&key.kid, pem).await?;
                made = true;
            }
        }
        if made {
            // Another node may have stored its own first: every node uses that one.
            keys = self.load_live(store).await?;
        }
        self.replace_set(KeySet::build(keys), None);
        Ok(())
    }

    async fn load_live(&self, store: &Store) -> Result<Vec<Arc<LoadedKey>>, KeyError> {
        store
            .list_live_signing_keys()
            .await?
            .iter()
            .map(|k| load_key(k).map(Arc::new))
            .collect()
    }

    /// Puts `new_set` in place of the ring's set, or only in place of
    /// `expected` if given (a set pruned from it must not undo a reload
    /// that came in between). Keys that left the ring no longer need their
    /// parsed pairs. Returns the set now in place.
    fn replace_set(&self, new_set: KeySet, expected: Option<&Arc<KeySet>>) -> Arc<KeySet> {
        let new_set = Arc::new(new_set);
        let mut guard = match self.set.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if expected.is_some_and(|expected| !Arc::ptr_eq(expected, &guard)) {
            return Arc::clone(&guard);
        }
        let old = std::mem::replace(&mut *guard, Arc::clone(&new_set));
        drop(guard);
        for key in &old.keys {
            if !new_set.keys.iter().any(|k| k.kid == key.kid) {
                provider::unregister(key.encoding.inner());
            }
        }
        new_set
    }

    /// Rotates the keys of `alg`: next becomes current, current previous, and
    /// a new next key is made. The key that stops signing stays published
    /// for the longest lifetime a token signed now can have:
    /// `longest_fixed_lifetime` (the token kinds whose lifetime is fixed) or
    /// an API's `token_lifetime` if longer, plus [`RETENTION_MARGIN`].
    pub async fn rotate(
        &self,
        store: &Store,
        alg: SigningAlg,
        longest_fixed_lifetime: Duration,
    ) -> Result<String, KeyError> {
        let key = new_stored_key(alg, KeyState::Next, store.clock().now_unix_millis())?;
        let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let retention = KeyRetention {
            fixed_lifetime_ms: millis(longest_fixed_lifetime),
            margin_ms: millis(RETENTION_MARGIN),
        };
        store
            .rotate_signing_keys(alg.as_str(), &key, retention)
            .await?;
        self.reload(store).await?;
        self.current_kid(alg)
            .ok_or(KeyError::NoCurrentKey(alg.as_str()))
    }

    /// Revokes the `previous` key `kid`: it leaves the JWKS and stops
    /// verifying at once (on other nodes, once they hear of the change).
    /// False when `kid` is not a previous key.
    pub async fn revoke(&self, store: &Store, kid: &str) -> Result<bool, KeyError> {
        let revoked = store.revoke_signing_key(kid).await?;
        self.reload(store).await?;
        Ok(revoked)
    }

    /// The live keys, without those whose end has passed by the ring's clock.
    fn snapshot(&self) -> Arc<KeySet> {
        let set = match self.set.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        match set.without_ended(self.clock.now_unix_millis()) {
            None => set,
            Some(pruned) => self.replace_set(pruned, Some(&set)),
        }
    }

    /// The JWKS document, serialized once per reload.
    pub fn jwks_json(&self) -> Arc<str> {
        Arc::clone(&self.snapshot().jwks_json)
    }

    pub fn summaries(&self) -> Vec<KeySummary> {
        self.snapshot()
            .keys
            .iter()
            .map(|k| KeySummary {
                kid: k.kid.clone(),
                alg: k.alg.as_str().to_owned(),
                state: k.state.as_str().to_owned(),
                current: k.state == KeyState::Current,
                next: k.state == KeyState::Next,
                previous: k.state == KeyState::Previous,
                created_at: crate::clock::rfc3339_from_millis(k.created_at),
                verifies_until: k.verifies_until.map(crate::clock::rfc3339_from_millis),
            })
            .collect()
    }

    pub fn current_kid(&self, alg: SigningAlg) -> Option<String> {
        self.snapshot().current(alg).map(|k| k.kid.clone())
    }

    /// Signs `claims` with the current key of `alg`, with header `typ`.
    pub fn sign<T: Serialize>(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &T,
    ) -> Result<String, KeyError> {
        let set = self.snapshot();
        let key = set
            .current(alg)
            .ok_or(KeyError::NoCurrentKey(alg.as_str()))?;
        let mut header = Header::new(to_jwt_alg(alg));
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(KeyError::Sign)
    }

    /// Verifies a token signed by one of the ring's live keys. `typ` must
    /// match the header exactly (RFC 8725 §3.11: explicit typing keeps an ID
    /// token from being replayed as an access token); `validation` carries the
    /// issuer, audience and time checks, its algorithm list is set here from the key.
    /// `exp` and `nbf` are checked against `now_unix_secs` (the server's
    /// clock) with the validation's leeway, not against the system time.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        mut validation: Validation,
        now_unix_secs: i64,
    ) -> Result<T, TokenRejected> {
        let header = jsonwebtoken::decode_header(token).map_err(TokenRejected::Malformed)?;
        if header.typ.as_deref().map(str::to_ascii_lowercase) != Some(typ.to_ascii_lowercase()) {
            return Err(TokenRejected::WrongType(header.typ));
        }
        let set = self.snapshot();
        let kid = header.kid.ok_or(TokenRejected::UnknownKey)?;
        let key = set
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenRejected::UnknownKey)?;
        if !key.verifies_at(now_unix_secs.saturating_mul(1000)) {
            return Err(TokenRejected::UnknownKey);
        }
        // `next` keys verify too: another node may already have rotated and
        // signed with it before this node reloads.
        if header.alg != to_jwt_alg(key.alg) {
            return Err(TokenRejected::AlgorithmMismatch);
        }
        validation.algorithms = vec![header.alg];
        let time = TimeChecks::take_from(&mut validation);
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation)
            .map_err(TokenRejected::Invalid)?
            .claims;
        time.check(&claims, now_unix_secs)?;
        serde_json::from_value(claims)
            .map_err(|e| TokenRejected::Invalid(jsonwebtoken::errors::Error::from(e)))
    }
}

/// The `exp`/`nbf` checks of a [`Validation`], made against the server's
/// clock instead of jsonwebtoken's reading of the system time.
struct TimeChecks {
    exp: bool,
    nbf: bool,
    leeway: i64,
}

impl TimeChecks {
    fn take_from(validation: &mut Validation) -> Self {
        let checks = TimeChecks {
            exp: validation.validate_exp,
            nbf: validation.validate_nbf,
            leeway: i64::try_from(validation.leeway).unwrap_or(i64::MAX),
        };
        validation.validate_exp = false;
        validation.validate_nbf = false;
        checks
    }

    /// As jsonwebtoken does: expired once `exp` is more than the leeway in
    /// the past, immature while `nbf` is more than the leeway ahead.
    fn check(&self, claims: &serde_json::Value, now: i64) -> Result<(), TokenRejected> {
        use jsonwebtoken::errors::ErrorKind;
        let claim = |name: &str| claims.get(name).map(serde_json::Value::as_i64);
        if self.exp {
            match claim("exp") {
                Some(Some(exp)) if exp >= now.saturating_sub(self.leeway) => {}
                Some(Some(_)) => {
                    return Err(TokenRejected::Invalid(ErrorKind::ExpiredSignature.into()));
                }
                Some(None) => {
                    return Err(TokenRejected::Invalid(
                        ErrorKind::InvalidClaimFormat("exp".into()).into(),
                    ));
                }
                None => {
                    return Err(TokenRejected::Invalid(
                        ErrorKind::MissingRequiredClaim("exp".into()).into(),
                    ));
                }
            }
        }
        if self.nbf {
            match claim("nbf") {
                Some(Some(nbf)) if nbf > now.saturating_add(self.leeway) => {
                    return Err(TokenRejected::Invalid(ErrorKind::ImmatureSignature.into()));
                }
                Some(None) => {
                    return Err(TokenRejected::Invalid(
                        ErrorKind::InvalidClaimFormat("nbf".into()).into(),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn new_stored_key(
    alg: SigningAlg,
    state: KeyState,
    created_at: i64,
) -> Result<StoredKey, KeyError> {
    let kid = ids::new_id(ids::SIGNING_KEY);
    let pkcs8 = generate_pkcs8(alg)?;
    let certificate = self_signed_certificate(alg, &pkcs8, &kid, created_at)?;
    Ok(StoredKey {
        kid,
        alg: alg.as_str().to_owned(),
        state: state.as_str().to_owned(),
        private_key_der: STANDARD.encode(pkcs8).into(),
        created_at,
        verifies_until: None,
        certificate: Some(certificate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(leeway: u64) -> TimeChecks {
        let mut validation = Validation::default();
        validation.validate_nbf = true;
        validation.leeway = leeway;
        let checks = TimeChecks::take_from(&mut validation);
        assert!(!validation.validate_exp && !validation.validate_nbf);
        checks
    }

    fn refusal(result: Result<(), TokenRejected>) -> Option<jsonwebtoken::errors::ErrorKind> {
        match result {
            Err(TokenRejected::Invalid(e)) => Some(e.into_kind()),
            _ => None,
        }
    }

    #[test]
    fn expiry_and_not_before_follow_the_given_time_with_leeway() {
        use jsonwebtoken::errors::ErrorKind;
        let claims = serde_json::json!({ "exp": 1000, "nbf": 500 });
        assert!(checks(0).check(&claims, 1000).is_ok());
        assert_eq!(
            refusal(checks(0).check(&claims, 1001)),
            Some(ErrorKind::ExpiredSignature)
        );
        assert!(checks(30).check(&claims, 1030).is_ok());
        assert_eq!(
            refusal(checks(30).check(&claims, 1031)),
            Some(ErrorKind::ExpiredSignature)
        );
        assert_eq!(
            refusal(checks(0).check(&claims, 499)),
            Some(ErrorKind::ImmatureSignature)
        );
        assert!(checks(30).check(&claims, 470).is_ok());
    }

    #[test]
    fn every_algorithm_gets_a_self_signed_certificate_of_its_key() {
        for alg in SigningAlg::ALL.iter().copied() {
            let stored = new_stored_key(alg, KeyState::Next, 1_700_000_000_000).unwrap();
            let pem = stored.certificate.clone().unwrap();
            let der = certificate_der(&pem).unwrap();
            let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
            assert_eq!(cert.subject(), cert.issuer(), "{alg:?}: self-signed");
            assert!(
                cert.subject().to_string().contains(&stored.kid),
                "{alg:?}: {}",
                cert.subject()
            );
            assert_eq!(cert.validity().not_before.timestamp(), 1_700_000_000);
            // The certificate carries the key the JWKS publishes.
            let loaded = load_key(&stored).unwrap();
            let public = cert.public_key().subject_public_key.data.to_vec();
            let published = match &loaded.jwk.algorithm {
                AlgorithmParameters::RSA(rsa) => URL_SAFE_NO_PAD.decode(&rsa.n).unwrap(),
                AlgorithmParameters::EllipticCurve(ec) => URL_SAFE_NO_PAD.decode(&ec.x).unwrap(),
                AlgorithmParameters::OctetKeyPair(okp) => URL_SAFE_NO_PAD.decode(&okp.x).unwrap(),
                other => panic!("{other:?}"),
            };
            assert!(
                public
                    .windows(published.len())
                    .any(|w| w == published.as_slice()),
                "{alg:?}: the certificate's key is not the published one"
            );
            assert_eq!(
                loaded.jwk.common.x509_chain,
                Some(vec![STANDARD.encode(&der)])
            );
            assert_eq!(
                loaded.jwk.common.x509_sha1_fingerprint,
                Some(URL_SAFE_NO_PAD.encode(sha1(&der)))
            );
            // The PKCS#7 carries that certificate and nothing else.
            use cms::cert::x509::der::{Decode, Encode};
            let pkcs7 = pem::parse(pkcs7_pem(&der).unwrap()).unwrap();
            assert_eq!(pkcs7.tag(), "PKCS7");
            let bundle = cms::content_info::ContentInfo::from_der(pkcs7.contents()).unwrap();
            assert_eq!(
                bundle.content_type,
                cms::cert::x509::der::oid::db::rfc5911::ID_SIGNED_DATA
            );
            let signed: cms::signed_data::SignedData = bundle.content.decode_as().unwrap();
            let certificates: Vec<_> = signed.certificates.unwrap().0.into_vec();
            assert_eq!(certificates.len(), 1);
            match &certificates[0] {
                cms::cert::CertificateChoices::Certificate(c) => {
                    assert_eq!(c.to_der().unwrap(), der);
                }
                other => panic!("{other:?}"),
            }
            assert!(signed.signer_infos.0.is_empty());
        }
    }

    #[test]
    fn a_missing_or_malformed_exp_is_refused() {
        use jsonwebtoken::errors::ErrorKind;
        assert_eq!(
            refusal(checks(0).check(&serde_json::json!({}), 0)),
            Some(ErrorKind::MissingRequiredClaim("exp".into()))
        );
        assert_eq!(
            refusal(checks(0).check(&serde_json::json!({ "exp": "soon" }), 0)),
            Some(ErrorKind::InvalidClaimFormat("exp".into()))
        );
    }
}
