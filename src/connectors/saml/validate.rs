//! A `SAMLResponse` to the assertion it vouches for: every check of the
//! SAML 2.0 Web Browser SSO profile, on the element the signature covers.
//!
//! ```text
//! decode      size cap, base64, UTF-8 (and no other encoding declared)
//! parse       roxmltree, strictly: no DTD (XXE, billion laughs), a node cap
//! layout      the shape signature wrapping needs is refused before any
//!             signature is looked at: one Response, one Assertion (or
//!             EncryptedAssertion) anywhere, a child of the Response;
//!             each Signature a child of the element its one Reference
//!             names; allowlisted transforms and algorithms; unique IDs;
//!             no comments (they truncate text when c14n drops them)
//! decrypt     an EncryptedAssertion (decrypt.rs), then the same layout
//!             checks on the Assertion as a document of its own
//! verify      samael reduces the document to what the IdP's certificates
//!             signed (every signature must verify); values are read from
//!             that reduced document only
//! conditions  Issuer, Status, Destination, bearer SubjectConfirmation
//!             (Recipient, NotOnOrAfter, InResponseTo), NotBefore and
//!             NotOnOrAfter, Audience, IssueInstant: with the caller's
//!             clock and skew, never the system's
//! ```
//!
//! A Response that is not signed is still read for its Status,
//! Destination, InResponseTo and Issuer: those can only refuse, never admit.
//! Everything here is synchronous and CPU-bound (xmlsec): the connector
//! calls [`validate`] inside `spawn_blocking`.

use std::collections::{BTreeMap, HashSet};

use base64::Engine;
use roxmltree::{Document, Node, ParsingOptions};
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoError, CryptoProvider, ReduceMode,
};

use super::decrypt::{self, DecryptError};

/// What a response must match: the connection's IdP, this service provider,
/// the request it answers, the time. No `Debug`: it holds private keys.
#[derive(Clone)]
pub struct Expectations<'a> {
    /// The IdP's entity ID; `None` when the connection does not know it
    /// (configured by hand without one): the Issuer is then not compared.
    pub idp_entity_id: Option<&'a str>,
    /// The IdP's signing certificates (DER), several during a rollover.
    pub idp_certificates: &'a [Vec<u8>],
    pub sp_entity_id: &'a str,
    /// The ACS URL: Destination and Recipient must equal it.
    pub acs_url: &'a str,
    /// The ID of the AuthnRequest this answers; `None` for an unsolicited
    /// (IdP-initiated) response, which then must carry no InResponseTo.
    pub in_response_to: Option<&'a str>,
    pub now_ms: i64,
    /// Clock skew allowed on every time condition.
    pub skew_ms: i64,
    /// SHA-1 signatures and digests pass only when the connection allows them.
    pub allow_sha1: bool,
    /// The SP's private keys (PKCS#8 DER) that may decrypt an
    /// EncryptedAssertion: the current one and any still in their overlap.
    pub decryption_keys: &'a [Vec<u8>],
}

/// The assertion, once every check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Remembered until `expires_at_ms`, so that a replay fails.
    pub assertion_id: String,
    /// Until when the assertion could be accepted: the earliest
    /// NotOnOrAfter that bounds it (Conditions, the bearer confirmation),
    /// plus the skew.
    pub expires_at_ms: i64,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// The NameID's NameQualifier and SPNameQualifier, as asserted: a
    /// LogoutRequest names the subject with them.
    pub name_qualifier: Option<String>,
    pub sp_name_qualifier: Option<String>,
    pub session_index: Option<String>,
    /// Attribute name → its values, in document order. A value that holds
    /// elements rather than text (eduPersonTargetedID's NameID) is left out,
    /// never cut short.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// Why a response was refused. The `Display` text (logged) has the details,
/// never the assertion itself; [`SamlError::public_message`] is what the
/// person sees, after the connection's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    /// Not a readable SAML response (not base64, not XML, an element
    /// missing or doubled).
    #[error("malformed SAML response: {0}")]
    Malformed(String),
    /// Larger than [`MAX_RESPONSE_LEN`] before decoding.
    #[error("the SAML response has {len} characters, more than {max}", max = MAX_RESPONSE_LEN)]
    TooLarge { len: usize },
    /// Not UTF-8, or an XML declaration naming another encoding (libxml2
    /// would honour it and read other characters than the strict parser).
    #[error("the SAML response is not UTF-8: {0}")]
    NotUtf8(String),
    /// A DTD: entities (XXE, billion laughs) never reach a parser.
    #[error("the SAML response has a DTD")]
    Dtd,
    /// A shape that signature wrapping or comment truncation needs: a
    /// second assertion or Response, a Signature elsewhere than in the
    /// element it signs, a duplicate ID, a comment.
    #[error("the SAML response's structure is refused: {0}")]
    Structure(String),
    /// A canonicalization, transform or signature algorithm outside the
    /// allowlist (XPath, XSLT, comments kept, HMAC, …).
    #[error("the SAML response's signature uses a refused algorithm: {0}")]
    Algorithm(String),
    /// SHA-1 in a SignatureMethod or DigestMethod, not allowed by the connection.
    #[error("the SAML response is signed with SHA-1, which the connection does not allow")]
    Sha1NotAllowed,
    /// No signature covers the assertion.
    #[error("the assertion is not signed")]
    Unsigned,
    /// A signature did not verify with any of the IdP's certificates.
    #[error("the signature did not verify: {0}")]
    BadSignature(String),
    /// The connection has no IdP certificate to check a signature with.
    #[error("the connection has no IdP signing certificate")]
    NoIdpCertificate,
    /// An EncryptedAssertion none of the SP's keys opened or, when the
    /// Response is not signed, whose plaintext was refused before its own
    /// signature verified (any more precise answer would be an oracle).
    #[error("the assertion could not be decrypted: {0}")]
    Undecryptable(String),
    /// An EncryptedAssertion with a refused algorithm (rsa-1_5, tripledes).
    #[error("the assertion's encryption is refused: {0}")]
    EncryptionAlgorithm(String),
    /// The IdP answered with another status than Success.
    #[error("the identity provider answered status {code}{}{}",
        detail.as_ref().map(|d| format!(" / {d}")).unwrap_or_default(),
        message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        code: String,
        detail: Option<String>,
        message: Option<String>,
    },
    #[error("the Issuer is {found:?}, not {expected:?}")]
    Issuer {
        expected: String,
        found: Option<String>,
    },
    #[error("the Response's Destination is {found:?}, not {expected:?}")]
    Destination {
        expected: String,
        found: Option<String>,
    },
    #[error("the bearer confirmation's Recipient is {found:?}, not {expected:?}")]
    Recipient {
        expected: String,
        found: Option<String>,
    },
    #[error("the assertion's Audience is {found:?}, which does not name {expected:?}")]
    Audience {
        expected: String,
        found: Vec<String>,
    },
    /// A NotBefore (or an IssueInstant) still ahead by more than the skew.
    #[error("the assertion becomes valid in {in_ms} ms")]
    NotYetValid { in_ms: i64 },
    /// A NotOnOrAfter passed by more than the skew.
    #[error("the assertion expired {ago_ms} ms ago")]
    Expired { ago_ms: i64 },
    /// An IssueInstant older than [`MAX_AGE_MS`].
    #[error("the response was issued {age_ms} ms ago")]
    TooOld { age_ms: i64 },
    /// A request is expected, the response answers none.
    #[error(
        "the response is unsolicited (no InResponseTo), a reply to request {expected:?} was expected"
    )]
    Unsolicited { expected: String },
    /// An IdP-initiated response that names a request.
    #[error("the response answers request {0:?}, an unsolicited one was expected")]
    UnexpectedInResponseTo(String),
    #[error("the response answers request {found:?}, not {expected:?}")]
    InResponseTo { expected: String, found: String },
    /// No bearer SubjectConfirmation with its data.
    #[error("no usable bearer SubjectConfirmation: {0}")]
    NoBearer(String),
    /// The assertion was used before (checked by the connector, against
    /// the store, after validation).
    #[error("assertion {0} was already used")]
    Replayed(String),
}

impl SamlError {
    /// What the person is told.
    pub fn public_message(&self) -> String {
        match self {
            SamlError::Malformed(_) => {
                "The identity provider's answer is not a SAML response Switchyard accepts.".into()
            }
            SamlError::TooLarge { .. } => format!(
                "The identity provider's answer is larger than the {} KiB Switchyard reads.",
                MAX_RESPONSE_LEN / 1024
            ),
            SamlError::NotUtf8(_) => {
                "The identity provider's answer is not encoded in UTF-8.".into()
            }
            SamlError::Dtd => {
                "The identity provider's answer contains a DTD, which Switchyard refuses.".into()
            }
            SamlError::Structure(_) => "The identity provider's answer has a structure Switchyard \
                refuses (a second assertion, a misplaced signature, a comment): it may have been \
                tampered with."
                .into(),
            SamlError::Algorithm(_) => "The answer's signature uses a transform or algorithm \
                Switchyard does not accept (exclusive or inclusive canonicalization, RSA or ECDSA \
                with SHA-256 or stronger)."
                .into(),
            SamlError::Sha1NotAllowed => {
                "The answer is signed with SHA-1, which this connection does not allow.".into()
            }
            SamlError::Unsigned => "The assertion is not signed.".into(),
            SamlError::BadSignature(_) => {
                "The signature did not verify with the configured certificate.".into()
            }
            SamlError::NoIdpCertificate => {
                "The connection has no certificate of the identity provider to verify the \
                 signature with."
                    .into()
            }
            SamlError::Undecryptable(_) => "The encrypted assertion could not be decrypted and \
                verified: check that the identity provider encrypts with this connection's \
                certificate and signs the assertion with its own."
                .into(),
            SamlError::EncryptionAlgorithm(_) => "The assertion is encrypted with an algorithm \
                Switchyard refuses: use RSA-OAEP for the key and AES-CBC or AES-GCM for the data."
                .into(),
            SamlError::Status { code, detail, .. } => {
                let detail = detail
                    .as_deref()
                    .map(|d| format!(", {}", status_name(d)))
                    .unwrap_or_default();
                format!(
                    "The identity provider refused the sign-in (status {}{detail}).",
                    status_name(code)
                )
            }
            SamlError::Issuer { .. } => "The assertion was issued by another identity provider \
                than the connection's (Issuer)."
                .into(),
            SamlError::Destination { .. } => "The answer is addressed to another URL than this \
                connection's (Destination)."
                .into(),
            SamlError::Recipient { .. } => "The assertion is addressed to another URL than this \
                connection's (Recipient)."
                .into(),
            SamlError::Audience { .. } => {
                "The assertion is addressed to another service provider (Audience).".into()
            }
            SamlError::NotYetValid { in_ms } => format!(
                "The assertion becomes valid only in {}: check the identity provider's clock.",
                duration_text(*in_ms)
            ),
            SamlError::Expired { ago_ms } => format!(
                "The assertion expired {} ago: check the identity provider's clock.",
                duration_text(*ago_ms)
            ),
            SamlError::TooOld { age_ms } => format!(
                "The identity provider's answer was issued {} ago, too long ago to be accepted. \
                 Sign in again.",
                duration_text(*age_ms)
            ),
            SamlError::Unsolicited { .. } => "The identity provider's answer does not reply to \
                this sign-in (no InResponseTo). Sign in again from the application."
                .into(),
            SamlError::UnexpectedInResponseTo(_) => "The identity provider's answer replies to a \
                sign-in request, but none was expected (identity-provider-initiated sign-in)."
                .into(),
            SamlError::InResponseTo { .. } => "The identity provider's answer replies to another \
                sign-in request (InResponseTo). Sign in again."
                .into(),
            SamlError::NoBearer(_) => "The assertion has no bearer subject confirmation this \
                service provider can use."
                .into(),
            SamlError::Replayed(_) => {
                "This answer of the identity provider was already used. Sign in again.".into()
            }
        }
    }
}

/// The largest `SAMLResponse` read (base64 characters, before decoding):
/// a response with a few certificates and attributes is 10–30 KiB.
pub const MAX_RESPONSE_LEN: usize = 256 * 1024;
/// Nodes of one document: a response of the largest size, thousands of
/// group AttributeValues, stays below it.
const MAX_NODES: u32 = 100_000;
/// Element nesting, well above SAML's (about 8).
const MAX_DEPTH: usize = 48;
/// The oldest IssueInstant accepted: a response is posted seconds after it
/// is issued; NotOnOrAfter bounds the rest.
pub const MAX_AGE_MS: i64 = 60 * 60 * 1000;

const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

const STATUS_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:status:";
const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const METHOD_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

const C14N_EXCLUSIVE: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const C14N_INCLUSIVE: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const TRANSFORM_ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SHA1_SIGNATURES: [&str; 2] = [
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
];
const SHA1_DIGEST: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
/// The signature algorithms accepted (with their digests), SHA-1 aside.
const STRONG: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// Verifies `saml_response` (the form field, base64) against `expect`.
pub fn validate(saml_response: &str, expect: &Expectations<'_>) -> Result<Verified, SamlError> {
    let xml = decode(saml_response)?;
    let document = parse(&xml)?;
    let layout = response_layout(&document, expect.allow_sha1)?;
    if layout.content == Content::Assertion && !layout.response_signed && !layout.assertion_signed {
        return Err(SamlError::Unsigned);
    }
    let verifier = Verifier::new(expect)?;

    // The Response as far as it can be trusted: what its signature covers,
    // else the document as sent (whose values can then only refuse).
    let reduced_response = if layout.response_signed {
        Some(verifier.reduce(&xml)?)
    } else {
        None
    };
    let response_document = match &reduced_response {
        Some(reduced) => parse(reduced)?,
        None => document,
    };
    let response = signed_root(
        &response_document,
        NS_PROTOCOL,
        "Response",
        &layout.response_id,
    )?;
    let response_facts = ResponseFacts::read(response)?;
    let content = the_assertion(response)?;

    let assertion = match layout.content {
        Content::Encrypted => {
            if expect.decryption_keys.is_empty() {
                return Err(SamlError::Undecryptable(
                    "the connection has no decryption key".into(),
                ));
            }
            let plaintext = decrypt::decrypt_assertion(content, expect.decryption_keys).map_err(
                |e| match e {
                    DecryptError::Algorithm(_) => SamlError::EncryptionAlgorithm(e.to_string()),
                    DecryptError::Malformed(_) | DecryptError::Failed(_) => {
                        SamlError::Undecryptable(e.to_string())
                    }
                },
            )?;
            // Unless the Response's signature covered the ciphertext, an
            // attacker can alter it (CBC is malleable) and learn from the
            // answer whether the plaintext parsed: the XML Encryption
            // oracle (Jager and Somorovsky, 2011). Until the assertion's
            // own signature verifies, every refusal says the same.
            decrypted_assertion(&plaintext, layout.response_signed, &verifier).map_err(|error| {
                if layout.response_signed {
                    error
                } else {
                    SamlError::Undecryptable(format!(
                        "the decrypted assertion was refused: {error}"
                    ))
                }
            })?
        }
        // Covered by the Response's signature (and its own, if it has one:
        // samael verified every signature of the document).
        Content::Assertion if layout.response_signed => AssertionFacts::read(content)?,
        Content::Assertion => {
            let reduced = verifier.reduce(&xml)?;
            let reduced_document = parse(&reduced)?;
            let id = content.attribute("ID").unwrap_or_default();
            AssertionFacts::read(signed_root(
                &reduced_document,
                NS_ASSERTION,
                "Assertion",
                id,
            )?)?
        }
    };
    check(&response_facts, assertion, layout.response_signed, expect)
}

/// What a LogoutResponse must say: who sends it, where, to which request.
#[derive(Debug, Clone)]
pub struct LogoutExpectations<'a> {
    /// As for a Response: `None` leaves the Issuer uncompared.
    pub idp_entity_id: Option<&'a str>,
    pub idp_certificates: &'a [Vec<u8>],
    /// The LogoutRequest's ID: InResponseTo must equal it.
    pub request_id: &'a str,
    /// Where it came back (`/logout`): a Destination, when it has one,
    /// must equal it.
    pub destination: &'a str,
    pub allow_sha1: bool,
}

/// Checks a LogoutResponse (its XML, as the binding decoded it), parsed as
/// strictly as a Response: its enveloped signature, when it has one, must
/// verify with one of the IdP's certificates and is the only part read;
/// then the Issuer, InResponseTo and Destination. A failure Status is no
/// refusal (the session it asked about is gone already): it is answered,
/// for the log.
pub fn validate_logout_response(
    xml: &str,
    expect: &LogoutExpectations<'_>,
) -> Result<Option<SamlError>, SamlError> {
    if xml.len() > MAX_RESPONSE_LEN {
        return Err(SamlError::TooLarge { len: xml.len() });
    }
    let document = parse(xml)?;
    check_nodes(&document)?;
    let root = document.root_element();
    if !is(root, NS_PROTOCOL, "LogoutResponse") {
        return Err(SamlError::Malformed(format!(
            "the root element is {}, not samlp:LogoutResponse",
            printable(root.tag_name().name())
        )));
    }
    let id = root
        .attribute("ID")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| SamlError::Malformed("the LogoutResponse has no ID".into()))?;
    let signed = check_signatures(&document, &[root], expect.allow_sha1)?;
    let reduced = if signed.is_empty() {
        None
    } else {
        if expect.idp_certificates.is_empty() {
            return Err(SamlError::NoIdpCertificate);
        }
        let verifier = Verifier {
            certificates: expect
                .idp_certificates
                .iter()
                .cloned()
                .map(CertificateDer::from)
                .collect(),
            allow_sha1: expect.allow_sha1,
        };
        Some(verifier.reduce(xml)?)
    };
    let reduced_document = reduced.as_deref().map(parse).transpose()?;
    let response = match &reduced_document {
        Some(reduced) => signed_root(reduced, NS_PROTOCOL, "LogoutResponse", id)?,
        None => root,
    };
    check_version(response)?;
    let issuer = at_most_one(response, NS_ASSERTION, "Issuer")?
        .map(|issuer| text_only(issuer, "Issuer").map(|t| t.trim().to_owned()))
        .transpose()?;
    if let Some(expected) = expect.idp_entity_id {
        if issuer.as_deref() != Some(expected) {
            return Err(SamlError::Issuer {
                expected: expected.to_owned(),
                found: issuer.as_deref().map(printable),
            });
        }
    }
    let in_response_to = response.attribute("InResponseTo");
    if in_response_to != Some(expect.request_id) {
        return Err(SamlError::InResponseTo {
            expected: expect.request_id.to_owned(),
            found: printable(in_response_to.unwrap_or_default()),
        });
    }
    if let Some(destination) = response.attribute("Destination") {
        if destination != expect.destination {
            return Err(SamlError::Destination {
                expected: expect.destination.to_owned(),
                found: Some(printable(destination)),
            });
        }
    }
    Ok(refuse_unsuccessful(response).err())
}

/// The decrypted assertion, checked as a document of its own: signed
/// itself, or covered by the Response's signature (`response_signed`).
fn decrypted_assertion(
    plaintext: &str,
    response_signed: bool,
    verifier: &Verifier,
) -> Result<AssertionFacts, SamlError> {
    let document = parse(plaintext)?;
    let signed = assertion_layout(&document, verifier.allow_sha1)?;
    if !signed {
        return if response_signed {
            AssertionFacts::read(document.root_element())
        } else {
            Err(SamlError::Unsigned)
        };
    }
    let id = document
        .root_element()
        .attribute("ID")
        .unwrap_or_default()
        .to_owned();
    let reduced = verifier.reduce(plaintext)?;
    let reduced_document = parse(&reduced)?;
    AssertionFacts::read(signed_root(
        &reduced_document,
        NS_ASSERTION,
        "Assertion",
        &id,
    )?)
}

/// The form field to the XML it carries.
fn decode(saml_response: &str) -> Result<String, SamlError> {
    if saml_response.len() > MAX_RESPONSE_LEN {
        return Err(SamlError::TooLarge {
            len: saml_response.len(),
        });
    }
    let compact: Vec<u8> = saml_response
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| SamlError::Malformed(format!("not base64: {e}")))?;
    let xml =
        String::from_utf8(bytes).map_err(|e| SamlError::NotUtf8(format!("invalid UTF-8: {e}")))?;
    Ok(match xml.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => xml,
    })
}

/// Parses strictly: well-formed, no DTD, a node cap, UTF-8 declared if
/// anything is.
fn parse(xml: &str) -> Result<Document<'_>, SamlError> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let document = Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected | roxmltree::Error::EntityReferenceLoop(_) => SamlError::Dtd,
        other => SamlError::Malformed(format!("not well-formed XML: {other}")),
    })?;
    if let Some(encoding) = declared(xml, "encoding") {
        if !encoding.eq_ignore_ascii_case("UTF-8") {
            return Err(SamlError::NotUtf8(format!(
                "the XML declaration names {}",
                printable(encoding)
            )));
        }
    }
    // XML 1.1 reads other characters as line ends and names.
    if declared(xml, "version").is_some_and(|version| version != "1.0") {
        return Err(SamlError::Malformed("an XML version other than 1.0".into()));
    }
    Ok(document)
}

/// A pseudo-attribute (`version`, `encoding`) of the XML declaration,
/// which roxmltree checked but does not expose.
fn declared<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let declaration = xml.strip_prefix("<?xml")?;
    if !declaration.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let declaration = declaration.get(..declaration.find("?>")?)?;
    let value = declaration.split_once(name)?.1.trim_start();
    let value = value.strip_prefix('=')?.trim_start();
    let quote = value.chars().next()?;
    let value = value.get(1..)?;
    value.get(..value.find(quote)?)
}

/// What the raw Response holds, checked before any signature is.
struct Layout {
    response_id: String,
    response_signed: bool,
    content: Content,
    /// The Assertion (not encrypted) has a Signature of its own.
    assertion_signed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Assertion,
    Encrypted,
}

fn response_layout(document: &Document<'_>, allow_sha1: bool) -> Result<Layout, SamlError> {
    let root = document.root_element();
    if !is(root, NS_PROTOCOL, "Response") {
        return Err(SamlError::Malformed(format!(
            "the root element is {}, not samlp:Response",
            printable(root.tag_name().name())
        )));
    }
    // An IdP's refusal carries no assertion: say what it said.
    refuse_unsuccessful(root)?;
    check_nodes(document)?;
    let responses = count(document, NS_PROTOCOL, "Response");
    if responses != 1 {
        return Err(SamlError::Structure(format!(
            "{responses} Response elements"
        )));
    }
    let assertions: Vec<Node<'_, '_>> = document
        .descendants()
        .filter(|n| is(*n, NS_ASSERTION, "Assertion") || is(*n, NS_ASSERTION, "EncryptedAssertion"))
        .collect();
    let assertion = match assertions.as_slice() {
        [] => {
            return Err(SamlError::Malformed(
                "the Response holds no assertion".into(),
            ));
        }
        [one] => *one,
        more => {
            return Err(SamlError::Structure(format!(
                "{} assertions in the Response",
                more.len()
            )));
        }
    };
    if assertion.parent_element() != Some(root) {
        return Err(SamlError::Structure(
            "the assertion is not a child of the Response".into(),
        ));
    }
    let content = match assertion.tag_name().name() {
        "Assertion" => Content::Assertion,
        _ => Content::Encrypted,
    };
    let signable: &[Node<'_, '_>] = match content {
        Content::Assertion => &[root, assertion],
        Content::Encrypted => &[root],
    };
    let signed = check_signatures(document, signable, allow_sha1)?;
    Ok(Layout {
        response_id: root
            .attribute("ID")
            .ok_or_else(|| SamlError::Malformed("the Response has no ID".into()))?
            .to_owned(),
        response_signed: signed.contains(&root),
        content,
        assertion_signed: content == Content::Assertion && signed.contains(&assertion),
    })
}

/// Checks a decrypted assertion's document; `true` when it is signed.
fn assertion_layout(document: &Document<'_>, allow_sha1: bool) -> Result<bool, SamlError> {
    let root = document.root_element();
    if !is(root, NS_ASSERTION, "Assertion") {
        return Err(SamlError::Structure(format!(
            "the decrypted element is {}, not an Assertion",
            printable(root.tag_name().name())
        )));
    }
    check_nodes(document)?;
    let others = count(document, NS_ASSERTION, "Assertion").saturating_sub(1)
        + count(document, NS_ASSERTION, "EncryptedAssertion")
        + count(document, NS_PROTOCOL, "Response");
    if others != 0 {
        return Err(SamlError::Structure(
            "the decrypted assertion holds another assertion or Response".into(),
        ));
    }
    Ok(!check_signatures(document, &[root], allow_sha1)?.is_empty())
}

/// What every document read must be: shallow, without comments or
/// processing instructions, with unique IDs.
fn check_nodes(document: &Document<'_>) -> Result<(), SamlError> {
    let mut ids = HashSet::new();
    for node in document.root_element().descendants() {
        if node.is_comment() || node.is_pi() {
            // Canonicalization drops comments: `a<!---->b` is signed as
            // `ab` but read as `a` by many parsers. No IdP writes them.
            return Err(SamlError::Structure(
                "a comment or processing instruction".into(),
            ));
        }
        if !node.is_element() {
            continue;
        }
        if node.ancestors().nth(MAX_DEPTH).is_some() {
            return Err(SamlError::Malformed("elements nested too deep".into()));
        }
        for attribute in node.attributes() {
            match (attribute.namespace(), attribute.name()) {
                (None, "ID") if !ids.insert(attribute.value()) => {
                    return Err(SamlError::Structure(format!(
                        "two elements with ID {}",
                        printable(attribute.value())
                    )));
                }
                // libxml2 registers xml:id as an ID; xmlGetProp("ID")
                // ignores namespaces: either could make a Reference resolve
                // to another element than the one read here.
                (Some(NS_XML), "id") => {
                    return Err(SamlError::Structure("an xml:id attribute".into()));
                }
                (Some(_), "ID") => {
                    return Err(SamlError::Structure("a namespaced ID attribute".into()));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Checks every `ds:Signature` of `document`: a child of one of
/// `signable`, at most one per element, its one Reference naming that
/// element, its algorithms allowlisted. The elements signed.
fn check_signatures<'a, 'input>(
    document: &'a Document<'input>,
    signable: &[Node<'a, 'input>],
    allow_sha1: bool,
) -> Result<Vec<Node<'a, 'input>>, SamlError> {
    let mut signed = Vec::new();
    for signature in document
        .descendants()
        .filter(|n| is(*n, NS_DSIG, "Signature"))
    {
        let parent = signature
            .parent_element()
            .filter(|p| signable.contains(p))
            .ok_or_else(|| {
                SamlError::Structure(
                    "a Signature is not a child of the Response or of the Assertion".into(),
                )
            })?;
        if signed.contains(&parent) {
            return Err(SamlError::Structure(
                "an element with two Signatures".into(),
            ));
        }
        check_signature(signature, parent, allow_sha1)?;
        signed.push(parent);
    }
    Ok(signed)
}

fn check_signature(
    signature: Node<'_, '_>,
    parent: Node<'_, '_>,
    allow_sha1: bool,
) -> Result<(), SamlError> {
    let structure = |what: &str| SamlError::Structure(format!("a Signature {what}"));
    let id = parent
        .attribute("ID")
        .ok_or_else(|| structure("signs an element without ID"))?;
    let mut signed_info = None;
    let mut has_value = false;
    let mut has_key_info = false;
    for child in elements(signature) {
        match dsig_name(child) {
            Some("SignedInfo") if signed_info.is_none() => signed_info = Some(child),
            Some("SignatureValue") if !has_value => has_value = true,
            Some("KeyInfo") if !has_key_info => has_key_info = true,
            // ds:Object and ds:Manifest among them: XSW8 hides the signed
            // assertion in an Object.
            _ => {
                return Err(structure(&format!(
                    "holds {}",
                    printable(child.tag_name().name())
                )));
            }
        }
    }
    let signed_info = signed_info.ok_or_else(|| structure("without SignedInfo"))?;
    if !has_value {
        return Err(structure("without SignatureValue"));
    }

    let mut canonicalization = None;
    let mut method = None;
    let mut reference = None;
    for child in elements(signed_info) {
        match dsig_name(child) {
            Some("CanonicalizationMethod") if canonicalization.is_none() => {
                canonicalization = Some(child)
            }
            Some("SignatureMethod") if method.is_none() => method = Some(child),
            Some("Reference") if reference.is_none() => reference = Some(child),
            Some("Reference") => return Err(structure("with several References")),
            _ => {
                return Err(structure(&format!(
                    "whose SignedInfo holds {}",
                    printable(child.tag_name().name())
                )));
            }
        }
    }
    let canonicalization =
        canonicalization.ok_or_else(|| structure("without CanonicalizationMethod"))?;
    check_canonicalization(canonicalization, "canonicalization")?;

    let method = method.ok_or_else(|| structure("without SignatureMethod"))?;
    let algorithm = method.attribute("Algorithm").unwrap_or_default();
    if SHA1_SIGNATURES.contains(&algorithm) {
        if !allow_sha1 {
            return Err(SamlError::Sha1NotAllowed);
        }
    } else if !STRONG.iter().any(|a| a.signature_uri() == algorithm) {
        return Err(SamlError::Algorithm(format!(
            "signature method {}",
            printable(algorithm)
        )));
    }
    if elements(method).next().is_some() {
        return Err(SamlError::Algorithm(
            "signature method with parameters".into(),
        ));
    }

    let reference = reference.ok_or_else(|| structure("without Reference"))?;
    if reference.attribute("URI") != Some(format!("#{id}").as_str()) {
        return Err(structure(
            "references another element than the one it is in",
        ));
    }
    let mut has_transforms = false;
    let mut digest = None;
    let mut has_digest_value = false;
    for child in elements(reference) {
        match dsig_name(child) {
            Some("Transforms") if !has_transforms => {
                has_transforms = true;
                for transform in elements(child) {
                    if dsig_name(transform) != Some("Transform") {
                        return Err(structure("with an unknown element in Transforms"));
                    }
                    check_canonicalization(transform, "transform")?;
                }
            }
            Some("DigestMethod") if digest.is_none() => digest = Some(child),
            Some("DigestValue") if !has_digest_value => has_digest_value = true,
            _ => {
                return Err(structure(&format!(
                    "whose Reference holds {}",
                    printable(child.tag_name().name())
                )));
            }
        }
    }
    let digest = digest
        .and_then(|d| d.attribute("Algorithm"))
        .ok_or_else(|| structure("without DigestMethod"))?;
    if digest == SHA1_DIGEST {
        if !allow_sha1 {
            return Err(SamlError::Sha1NotAllowed);
        }
    } else if !STRONG.iter().any(|a| a.digest_uri() == digest) {
        return Err(SamlError::Algorithm(format!(
            "digest method {}",
            printable(digest)
        )));
    }
    if !has_digest_value {
        return Err(structure("without DigestValue"));
    }
    Ok(())
}

/// A CanonicalizationMethod or Transform: exclusive or inclusive c14n
/// without comments, or (a transform only) enveloped-signature.
fn check_canonicalization(node: Node<'_, '_>, what: &str) -> Result<(), SamlError> {
    let algorithm = node.attribute("Algorithm").unwrap_or_default();
    let allowed = match algorithm {
        C14N_EXCLUSIVE | C14N_INCLUSIVE => true,
        TRANSFORM_ENVELOPED => what == "transform",
        _ => false,
    };
    if !allowed {
        return Err(SamlError::Algorithm(format!(
            "{what} {}",
            printable(algorithm)
        )));
    }
    // Only exclusive c14n's InclusiveNamespaces PrefixList as a parameter.
    for parameter in elements(node) {
        if algorithm != C14N_EXCLUSIVE || !is(parameter, NS_EXC_C14N, "InclusiveNamespaces") {
            return Err(SamlError::Algorithm(format!(
                "{what} parameter {}",
                printable(parameter.tag_name().name())
            )));
        }
    }
    Ok(())
}

/// Refuses a Response whose Status is not Success, with what it says.
fn refuse_unsuccessful(response: Node<'_, '_>) -> Result<(), SamlError> {
    let status = one(response, NS_PROTOCOL, "Status")?;
    let code = one(status, NS_PROTOCOL, "StatusCode")?;
    let value = code.attribute("Value").unwrap_or_default();
    if value == STATUS_SUCCESS {
        return Ok(());
    }
    let detail = at_most_one(code, NS_PROTOCOL, "StatusCode")?
        .and_then(|c| c.attribute("Value"))
        .map(printable);
    let message = at_most_one(status, NS_PROTOCOL, "StatusMessage")?.map(|m| {
        let text: String = m.children().filter_map(|c| c.text()).collect();
        printable(&text)
    });
    Err(SamlError::Status {
        code: printable(value),
        detail,
        message,
    })
}

/// The last segment of a SAML status code URI, for the page.
fn status_name(code: &str) -> String {
    match code.strip_prefix(STATUS_PREFIX) {
        Some(name) if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()) => {
            name.to_owned()
        }
        _ => "unknown".into(),
    }
}

/// Checks the IdP's certificates against a document's signatures.
struct Verifier {
    certificates: Vec<CertificateDer>,
    allow_sha1: bool,
}

impl Verifier {
    fn new(expect: &Expectations<'_>) -> Result<Self, SamlError> {
        if expect.idp_certificates.is_empty() {
            return Err(SamlError::NoIdpCertificate);
        }
        Ok(Verifier {
            certificates: expect
                .idp_certificates
                .iter()
                .cloned()
                .map(CertificateDer::from)
                .collect(),
            allow_sha1: expect.allow_sha1,
        })
    }

    /// `xml` reduced to what its signatures cover: every signature must
    /// verify with one of the certificates (a rollover passes both).
    fn reduce(&self, xml: &str) -> Result<String, SamlError> {
        // samael knows no SHA-1 variant: with SHA-1 allowed it checks no
        // algorithm, and check_signature's allowlist is the only one.
        let allowed = (!self.allow_sha1).then_some(&STRONG[..]);
        Crypto::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            &self.certificates,
            ReduceMode::ValidateAndMarkNoAncestors,
            allowed,
        )
        .map_err(|e| SamlError::BadSignature(crypto_error_text(&e)))
    }
}

fn crypto_error_text(error: &CryptoError) -> String {
    match std::error::Error::source(error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

/// The root of a reduced document, which must be the element read before
/// reduction (`ns:name` with `id`), else the signature covered another.
fn signed_root<'a, 'input>(
    document: &'a Document<'input>,
    ns: &str,
    name: &str,
    id: &str,
) -> Result<Node<'a, 'input>, SamlError> {
    let root = document.root_element();
    if is(root, ns, name) && root.attribute("ID") == Some(id) {
        Ok(root)
    } else {
        Err(SamlError::BadSignature(format!(
            "the signature covers {} {}, not the {name} {}",
            printable(root.tag_name().name()),
            printable(root.attribute("ID").unwrap_or_default()),
            printable(id)
        )))
    }
}

/// The one Assertion or EncryptedAssertion child of `response`.
fn the_assertion<'a, 'input>(response: Node<'a, 'input>) -> Result<Node<'a, 'input>, SamlError> {
    let mut found = elements(response).filter(|n| {
        is(*n, NS_ASSERTION, "Assertion") || is(*n, NS_ASSERTION, "EncryptedAssertion")
    });
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(one),
        _ => Err(SamlError::BadSignature(
            "the signed Response does not hold the assertion".into(),
        )),
    }
}

/// The Response's values the checks compare.
struct ResponseFacts {
    issue_instant_ms: i64,
    destination: Option<String>,
    in_response_to: Option<String>,
    issuer: Option<String>,
}

impl ResponseFacts {
    fn read(response: Node<'_, '_>) -> Result<Self, SamlError> {
        check_version(response)?;
        Ok(ResponseFacts {
            issue_instant_ms: required_instant(response, "IssueInstant")?,
            destination: response.attribute("Destination").map(str::to_owned),
            in_response_to: response.attribute("InResponseTo").map(str::to_owned),
            issuer: at_most_one(response, NS_ASSERTION, "Issuer")?
                .map(|issuer| text_only(issuer, "Issuer").map(|t| t.trim().to_owned()))
                .transpose()?,
        })
    }
}

/// The assertion's values the checks compare and the connector maps.
struct AssertionFacts {
    id: String,
    issue_instant_ms: i64,
    issuer: String,
    name_id: String,
    name_id_format: Option<String>,
    name_qualifier: Option<String>,
    sp_name_qualifier: Option<String>,
    confirmations: Vec<Confirmation>,
    conditions: Option<Conditions>,
    session_index: Option<String>,
    attributes: BTreeMap<String, Vec<String>>,
}

struct Confirmation {
    method: String,
    data: Option<ConfirmationData>,
}

struct ConfirmationData {
    not_before_ms: Option<i64>,
    not_on_or_after_ms: Option<i64>,
    recipient: Option<String>,
    in_response_to: Option<String>,
}

struct Conditions {
    not_before_ms: Option<i64>,
    not_on_or_after_ms: Option<i64>,
    /// Each AudienceRestriction's Audiences: the SP must be in every one.
    audience_restrictions: Vec<Vec<String>>,
}

impl AssertionFacts {
    fn read(assertion: Node<'_, '_>) -> Result<Self, SamlError> {
        check_version(assertion)?;
        let id = assertion
            .attribute("ID")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| SamlError::Malformed("the assertion has no ID".into()))?;
        let issuer = text_only(one(assertion, NS_ASSERTION, "Issuer")?, "Issuer")?
            .trim()
            .to_owned();
        let subject = at_most_one(assertion, NS_ASSERTION, "Subject")?
            .ok_or_else(|| SamlError::Malformed("the assertion has no Subject".into()))?;
        let name_id = at_most_one(subject, NS_ASSERTION, "NameID")?.ok_or_else(|| {
            SamlError::Malformed("the Subject has no NameID (an EncryptedID is not read)".into())
        })?;
        let name_id_value = text_only(name_id, "NameID")?;
        if name_id_value.trim().is_empty() {
            return Err(SamlError::Malformed("the NameID is empty".into()));
        }
        let confirmations = children(subject, NS_ASSERTION, "SubjectConfirmation")
            .map(Confirmation::read)
            .collect::<Result<_, _>>()?;
        let conditions = at_most_one(assertion, NS_ASSERTION, "Conditions")?
            .map(Conditions::read)
            .transpose()?;
        let session_index = children(assertion, NS_ASSERTION, "AuthnStatement")
            .find_map(|statement| statement.attribute("SessionIndex"))
            .map(str::to_owned);
        let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for statement in children(assertion, NS_ASSERTION, "AttributeStatement") {
            for attribute in children(statement, NS_ASSERTION, "Attribute") {
                let name = attribute
                    .attribute("Name")
                    .ok_or_else(|| SamlError::Malformed("an Attribute has no Name".into()))?;
                let values = attributes.entry(name.to_owned()).or_default();
                for value in children(attribute, NS_ASSERTION, "AttributeValue") {
                    if elements(value).next().is_some() {
                        continue;
                    }
                    values.push(text_only(value, "AttributeValue")?);
                }
            }
        }
        Ok(AssertionFacts {
            id: id.to_owned(),
            issue_instant_ms: required_instant(assertion, "IssueInstant")?,
            issuer,
            name_id: name_id_value,
            name_id_format: name_id.attribute("Format").map(str::to_owned),
            name_qualifier: name_id.attribute("NameQualifier").map(str::to_owned),
            sp_name_qualifier: name_id.attribute("SPNameQualifier").map(str::to_owned),
            confirmations,
            conditions,
            session_index,
            attributes,
        })
    }
}

impl Confirmation {
    fn read(confirmation: Node<'_, '_>) -> Result<Self, SamlError> {
        let data = at_most_one(confirmation, NS_ASSERTION, "SubjectConfirmationData")?
            .map(|data| -> Result<_, SamlError> {
                Ok(ConfirmationData {
                    not_before_ms: instant(data, "NotBefore")?,
                    not_on_or_after_ms: instant(data, "NotOnOrAfter")?,
                    recipient: data.attribute("Recipient").map(str::to_owned),
                    in_response_to: data.attribute("InResponseTo").map(str::to_owned),
                })
            })
            .transpose()?;
        Ok(Confirmation {
            method: confirmation
                .attribute("Method")
                .unwrap_or_default()
                .to_owned(),
            data,
        })
    }
}

impl Conditions {
    fn read(conditions: Node<'_, '_>) -> Result<Self, SamlError> {
        let audience_restrictions = children(conditions, NS_ASSERTION, "AudienceRestriction")
            .map(|restriction| {
                children(restriction, NS_ASSERTION, "Audience")
                    .map(|audience| text_only(audience, "Audience").map(|t| t.trim().to_owned()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        Ok(Conditions {
            not_before_ms: instant(conditions, "NotBefore")?,
            not_on_or_after_ms: instant(conditions, "NotOnOrAfter")?,
            audience_restrictions,
        })
    }
}

/// The profile's checks (SAML 2.0 profiles §4.1.4.3) on what was read.
fn check(
    response: &ResponseFacts,
    assertion: AssertionFacts,
    response_signed: bool,
    expect: &Expectations<'_>,
) -> Result<Verified, SamlError> {
    let (now, skew) = (expect.now_ms, expect.skew_ms);

    if let Some(expected) = expect.idp_entity_id {
        for issuer in [response.issuer.as_deref(), Some(assertion.issuer.as_str())]
            .into_iter()
            .flatten()
        {
            if issuer != expected {
                return Err(SamlError::Issuer {
                    expected: expected.to_owned(),
                    found: Some(printable(issuer)),
                });
            }
        }
    }

    match &response.destination {
        Some(destination) if destination == expect.acs_url => {}
        None if !response_signed => {}
        found => {
            return Err(SamlError::Destination {
                expected: expect.acs_url.to_owned(),
                found: found.as_deref().map(printable),
            });
        }
    }
    check_in_response_to(
        expect.in_response_to,
        response.in_response_to.as_deref(),
        false,
    )?;

    let conditions = assertion.conditions.as_ref();
    if let Some(not_before) = conditions.and_then(|c| c.not_before_ms) {
        check_not_before(not_before, now, skew)?;
    }
    if let Some(not_on_or_after) = conditions.and_then(|c| c.not_on_or_after_ms) {
        check_not_on_or_after(not_on_or_after, now, skew)?;
    }
    let confirmation_ends = bearer_confirmation(&assertion.confirmations, expect)?;
    for issued in [response.issue_instant_ms, assertion.issue_instant_ms] {
        check_not_before(issued, now, skew)?;
        let age = now.saturating_sub(issued);
        if age > MAX_AGE_MS.saturating_add(skew) {
            return Err(SamlError::TooOld { age_ms: age });
        }
    }

    let restrictions = conditions
        .map(|c| c.audience_restrictions.as_slice())
        .unwrap_or_default();
    if restrictions.is_empty()
        || !restrictions
            .iter()
            .all(|audiences| audiences.iter().any(|a| a == expect.sp_entity_id))
    {
        return Err(SamlError::Audience {
            expected: expect.sp_entity_id.to_owned(),
            found: restrictions
                .iter()
                .flatten()
                .map(|a| printable(a))
                .collect(),
        });
    }

    let ends = conditions
        .and_then(|c| c.not_on_or_after_ms)
        .map_or(confirmation_ends, |c| c.min(confirmation_ends));
    Ok(Verified {
        assertion_id: assertion.id,
        expires_at_ms: ends.saturating_add(skew),
        name_id: assertion.name_id,
        name_id_format: assertion.name_id_format,
        name_qualifier: assertion.name_qualifier,
        sp_name_qualifier: assertion.sp_name_qualifier,
        session_index: assertion.session_index,
        attributes: assertion.attributes,
    })
}

/// The first bearer SubjectConfirmation that passes (profiles §4.1.4.2):
/// its NotOnOrAfter. Else why the first one failed.
fn bearer_confirmation(
    confirmations: &[Confirmation],
    expect: &Expectations<'_>,
) -> Result<i64, SamlError> {
    let mut first_failure = None;
    for confirmation in confirmations.iter().filter(|c| c.method == METHOD_BEARER) {
        match check_confirmation(confirmation, expect) {
            Ok(ends) => return Ok(ends),
            Err(error) => {
                first_failure.get_or_insert(error);
            }
        }
    }
    Err(first_failure
        .unwrap_or_else(|| SamlError::NoBearer("no bearer SubjectConfirmation".into())))
}

fn check_confirmation(
    confirmation: &Confirmation,
    expect: &Expectations<'_>,
) -> Result<i64, SamlError> {
    let data = confirmation.data.as_ref().ok_or_else(|| {
        SamlError::NoBearer("a bearer SubjectConfirmation without SubjectConfirmationData".into())
    })?;
    if data.recipient.as_deref() != Some(expect.acs_url) {
        return Err(SamlError::Recipient {
            expected: expect.acs_url.to_owned(),
            found: data.recipient.as_deref().map(printable),
        });
    }
    let ends = data.not_on_or_after_ms.ok_or_else(|| {
        SamlError::NoBearer("a bearer SubjectConfirmationData without NotOnOrAfter".into())
    })?;
    check_not_on_or_after(ends, expect.now_ms, expect.skew_ms)?;
    if let Some(not_before) = data.not_before_ms {
        check_not_before(not_before, expect.now_ms, expect.skew_ms)?;
    }
    check_in_response_to(expect.in_response_to, data.in_response_to.as_deref(), true)?;
    Ok(ends)
}

/// InResponseTo against the request answered; `required` on the bearer
/// confirmation of a solicited response (the Response's is optional).
fn check_in_response_to(
    expected: Option<&str>,
    found: Option<&str>,
    required: bool,
) -> Result<(), SamlError> {
    match (expected, found) {
        (Some(expected), Some(found)) if expected != found => Err(SamlError::InResponseTo {
            expected: expected.to_owned(),
            found: printable(found),
        }),
        (Some(expected), None) if required => Err(SamlError::Unsolicited {
            expected: expected.to_owned(),
        }),
        (None, Some(found)) => Err(SamlError::UnexpectedInResponseTo(printable(found))),
        _ => Ok(()),
    }
}

fn check_not_before(not_before: i64, now: i64, skew: i64) -> Result<(), SamlError> {
    if now.saturating_add(skew) < not_before {
        return Err(SamlError::NotYetValid {
            in_ms: not_before.saturating_sub(now),
        });
    }
    Ok(())
}

fn check_not_on_or_after(not_on_or_after: i64, now: i64, skew: i64) -> Result<(), SamlError> {
    if now.saturating_sub(skew) >= not_on_or_after {
        return Err(SamlError::Expired {
            ago_ms: now.saturating_sub(not_on_or_after),
        });
    }
    Ok(())
}

fn check_version(node: Node<'_, '_>) -> Result<(), SamlError> {
    match node.attribute("Version") {
        Some("2.0") => Ok(()),
        other => Err(SamlError::Malformed(format!(
            "{} Version {}",
            node.tag_name().name(),
            printable(other.unwrap_or("missing"))
        ))),
    }
}

fn instant(node: Node<'_, '_>, attribute: &str) -> Result<Option<i64>, SamlError> {
    node.attribute(attribute)
        .map(|value| {
            parse_instant(value).ok_or_else(|| {
                SamlError::Malformed(format!(
                    "{} {attribute} is not a time: {}",
                    node.tag_name().name(),
                    printable(value)
                ))
            })
        })
        .transpose()
}

fn required_instant(node: Node<'_, '_>, attribute: &str) -> Result<i64, SamlError> {
    instant(node, attribute)?.ok_or_else(|| {
        SamlError::Malformed(format!("{} has no {attribute}", node.tag_name().name()))
    })
}

/// An xs:dateTime in milliseconds since the epoch. SAML times are UTC
/// (core §1.3.3); one written without a zone is read as UTC.
fn parse_instant(value: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let value = value.trim();
    let parsed = time::OffsetDateTime::parse(value, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(&format!("{value}Z"), &Rfc3339))
        .ok()?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `node`'s text, all of it: an element or comment inside is refused
/// rather than skipped (`<NameID>a<!---->b</NameID>` read as `a`).
fn text_only(node: Node<'_, '_>, what: &str) -> Result<String, SamlError> {
    if node.children().any(|c| !c.is_text()) {
        return Err(SamlError::Structure(format!("{what} holds more than text")));
    }
    Ok(node.children().filter_map(|c| c.text()).collect())
}

fn is(node: Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == name
}

fn dsig_name<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    (node.tag_name().namespace() == Some(NS_DSIG)).then(|| node.tag_name().name())
}

fn elements<'a, 'input>(node: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(Node::is_element)
}

fn children<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    ns: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children().filter(move |c| is(*c, ns, name))
}

fn count(document: &Document<'_>, ns: &str, name: &str) -> usize {
    document.descendants().filter(|n| is(*n, ns, name)).count()
}

/// The child `ns:name` of `node`, if any; two are malformed, and the
/// `Err` says where (for decrypt.rs too).
pub(super) fn only_child<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    ns: &'a str,
    name: &'a str,
) -> Result<Option<Node<'a, 'input>>, String> {
    let mut found = children(node, ns, name);
    let first = found.next();
    if found.next().is_some() {
        return Err(format!(
            "{} holds two {name} elements",
            node.tag_name().name()
        ));
    }
    Ok(first)
}

/// The child `ns:name` of `node`, if any; two are malformed.
fn at_most_one<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    ns: &'a str,
    name: &'a str,
) -> Result<Option<Node<'a, 'input>>, SamlError> {
    only_child(node, ns, name).map_err(SamlError::Malformed)
}

/// The one child `ns:name` of `node`.
fn one<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    ns: &'a str,
    name: &'a str,
) -> Result<Node<'a, 'input>, SamlError> {
    at_most_one(node, ns, name)?
        .ok_or_else(|| SamlError::Malformed(format!("{} has no {name}", node.tag_name().name())))
}

/// A value from the response, fit for a log line: printable characters,
/// at most 200 of them.
fn printable(text: &str) -> String {
    crate::connectors::printable(text, 200)
}

/// "4 minutes", "30 seconds", "2 hours", "3 days".
fn duration_text(ms: i64) -> String {
    let seconds = ms.max(0).saturating_add(500) / 1000;
    let (amount, unit) = match seconds {
        0..90 => (seconds, "second"),
        90..5400 => ((seconds + 30) / 60, "minute"),
        5400..129_600 => ((seconds + 1800) / 3600, "hour"),
        _ => ((seconds + 43_200) / 86_400, "day"),
    };
    match amount {
        1 => format!("1 {unit}"),
        _ => format!("{amount} {unit}s"),
    }
}

#[cfg(test)]
mod tests;
