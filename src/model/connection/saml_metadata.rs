//! What a SAML connection knows of its identity provider, read from the
//! IdP's metadata document or from certificates typed by hand. It lives in
//! the model, not in `connectors::saml::idp`, because the options' write
//! check refuses metadata that describes no usable IdP (and the model must
//! not depend on the connectors); the connector re-exports these types.
//!
//! A metadata document is parsed strictly by roxmltree first (no DTD, no
//! entity, a node limit: XXE and billion laughs never reach a parser that
//! would expand them), then read with samael's `EntityDescriptor`.

use std::collections::HashSet;

use base64::Engine;
use samael::metadata::EntityDescriptor;

const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const SAML2_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// The largest metadata document read (Entra's and ADFS's are under 100 KiB;
/// the outbound client caps a fetched one at 256 KiB too).
pub const MAX_METADATA_BYTES: usize = 256 * 1024;
/// Enough for any IdP's metadata, few enough to bound a hostile document.
const MAX_METADATA_NODES: u32 = 50_000;

/// One of the IdP's signing certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpCertificate {
    pub der: Vec<u8>,
    /// Its `notAfter`, for the Management API and the expiry warnings.
    pub not_after_ms: i64,
}

/// What the service provider needs to know of the IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    /// `None` when configured by hand without `idpEntityId`.
    pub entity_id: Option<String>,
    /// SingleSignOnService for the HTTP-Redirect binding.
    pub sso_redirect: Option<String>,
    /// SingleSignOnService for the HTTP-POST binding.
    pub sso_post: Option<String>,
    pub slo: Option<String>,
    /// Several during a rollover; never empty.
    pub certificates: Vec<IdpCertificate>,
    /// The IdP's metadata asks for signed AuthnRequests.
    pub wants_signed_requests: bool,
}

/// What the Management API shows of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// SHA-1 of the DER, lowercase hex: Auth0's `thumbprints`.
    pub thumbprint_sha1: String,
    pub thumbprint_sha256: String,
    pub not_after_ms: i64,
    /// The subject's distinguished name (`CN=…, O=…`).
    pub subject: String,
}

/// `der` as an IdP certificate: an X.509 certificate with an RSA or EC key
/// (what XML signatures use).
pub fn certificate(der: Vec<u8>) -> Result<IdpCertificate, String> {
    let not_after_ms = certificate_facts(&der)?.not_after_ms;
    Ok(IdpCertificate { der, not_after_ms })
}

pub fn certificate_facts(der: &[u8]) -> Result<CertificateFacts, String> {
    use x509_parser::public_key::PublicKey;
    let (rest, x509) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("is not a valid X.509 certificate ({e})"))?;
    if !rest.is_empty() {
        return Err("is not a valid X.509 certificate (data after it)".into());
    }
    match x509.public_key().parsed() {
        Ok(PublicKey::RSA(_) | PublicKey::EC(_)) => {}
        _ => return Err("has a key that is neither RSA nor EC".into()),
    }
    let digest = |algorithm| hex::encode(aws_lc_rs::digest::digest(algorithm, der));
    Ok(CertificateFacts {
        thumbprint_sha1: digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY),
        thumbprint_sha256: digest(&aws_lc_rs::digest::SHA256),
        not_after_ms: x509.validity().not_after.timestamp().saturating_mul(1000),
        subject: x509.subject().to_string(),
    })
}

/// The certificates (DER) in an option's text: one or more PEM blocks; the
/// same base64-encoded (Auth0 documents `signingCert` as the PEM file
/// base64-encoded); or one base64 DER certificate.
pub fn certificates_in_text(value: &str) -> Result<Vec<Vec<u8>>, String> {
    if value.contains("-----BEGIN") {
        return pem_certificates(value.as_bytes());
    }
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| "must be a PEM certificate, or a base64 PEM or DER one".to_owned())?;
    if bytes.starts_with(b"-----BEGIN") {
        pem_certificates(&bytes)
    } else {
        Ok(vec![bytes])
    }
}

fn pem_certificates(text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut found = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(text) {
        let pem = pem.map_err(|_| "is not a PEM certificate".to_owned())?;
        if pem.label != "CERTIFICATE" {
            return Err(format!(
                "holds a {} block: give the IdP's certificate only",
                pem.label
            ));
        }
        found.push(pem.contents);
    }
    if found.is_empty() {
        return Err("is not a PEM certificate".into());
    }
    Ok(found)
}

/// The IdP an EntityDescriptor describes, or why it describes none usable.
pub fn parse_metadata(xml: &str) -> Result<IdentityProvider, String> {
    // ADFS serves its metadata with a byte-order mark.
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    if xml.len() > MAX_METADATA_BYTES {
        return Err(format!("is larger than {} KiB", MAX_METADATA_BYTES / 1024));
    }
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_METADATA_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let document = roxmltree::Document::parse_with_options(xml, options)
        .map_err(|e| format!("is not well-formed XML without a DTD ({e})"))?;
    let root = document.root_element();
    if root.tag_name().namespace() != Some(METADATA_NS)
        || root.tag_name().name() != "EntityDescriptor"
    {
        let hint = if root.tag_name().name() == "EntitiesDescriptor" {
            " (an EntitiesDescriptor lists several entities: give the IdP's own EntityDescriptor)"
        } else if root.tag_name().namespace() != Some(METADATA_NS) {
            " of the SAML 2.0 metadata namespace (urn:oasis:names:tc:SAML:2.0:metadata)"
        } else {
            ""
        };
        return Err(format!(
            "is not SAML 2.0 metadata: its root is {} instead of an EntityDescriptor{hint}",
            root.tag_name().name()
        ));
    }
    let entity: EntityDescriptor = xml
        .parse()
        .map_err(|e| format!("is not readable SAML 2.0 metadata ({e})"))?;
    let descriptor = entity
        .idp_sso_descriptors
        .iter()
        .flatten()
        .find(|d| {
            d.protocol_support_enumeration
                .as_deref()
                .is_some_and(|p| p.split_whitespace().any(|p| p == SAML2_PROTOCOL))
        })
        .ok_or("describes no identity provider: it has no IDPSSODescriptor for SAML 2.0")?;
    let endpoint = |services: &[samael::metadata::Endpoint], binding: &str| {
        services
            .iter()
            .find(|s| s.binding == binding)
            .map(|s| check_endpoint(&s.location))
            .transpose()
    };
    let sso_redirect = endpoint(&descriptor.single_sign_on_services, HTTP_REDIRECT)?;
    let sso_post = endpoint(&descriptor.single_sign_on_services, HTTP_POST)?;
    if sso_redirect.is_none() && sso_post.is_none() {
        return Err("has no SingleSignOnService for the HTTP-Redirect or HTTP-POST binding".into());
    }
    let slo = match endpoint(&descriptor.single_logout_services, HTTP_REDIRECT)? {
        Some(slo) => Some(slo),
        None => endpoint(&descriptor.single_logout_services, HTTP_POST)?,
    };
    let mut seen = HashSet::new();
    let mut certificates = Vec::new();
    let mut refused = Vec::new();
    let signing = descriptor
        .key_descriptors
        .iter()
        .filter(|k| k.key_use.as_deref().is_none_or(|u| u == "signing"));
    for text in signing
        .filter_map(|k| k.key_info.x509_data.as_ref())
        .flat_map(|data| &data.certificates)
    {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let parsed = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| "is not base64".to_owned())
            .and_then(certificate);
        match parsed {
            Ok(cert) if seen.insert(cert.der.clone()) => certificates.push(cert),
            Ok(_) => {}
            Err(why) => refused.push(why),
        }
    }
    if certificates.is_empty() {
        let why = refused
            .first()
            .map(|why| format!(" (a certificate there {why})"))
            .unwrap_or_default();
        return Err(format!(
            "has no usable signing certificate: no KeyDescriptor with use=\"signing\" (or no use) holds an X.509 certificate{why}"
        ));
    }
    Ok(IdentityProvider {
        entity_id: entity.entity_id.filter(|id| !id.trim().is_empty()),
        sso_redirect,
        sso_post,
        slo,
        certificates,
        wants_signed_requests: descriptor.want_authn_requests_signed.unwrap_or(false),
    })
}

/// An endpoint of the metadata: the browser is sent there (a redirect or
/// an auto-posted form), so nothing but https (http on loopback).
fn check_endpoint(location: &str) -> Result<String, String> {
    crate::model::check_url("location", location.trim(), false)
        .map(|_| location.trim().to_owned())
        .map_err(|e| format!("names an endpoint {location:?} that {}", e.reason))
}

/// IdP metadata as Okta or samlify publish it: both SSO bindings, a logout
/// endpoint, one signing KeyDescriptor per certificate (DER) given.
#[cfg(test)]
pub fn test_metadata(entity_id: &str, certificates: &[&[u8]]) -> String {
    let keys: String = certificates
        .iter()
        .map(|der| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            format!(
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {keys}
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.acme.test/slo"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.acme.test/sso/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.acme.test/sso/redirect"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

/// A self-signed certificate for `name`, valid until `not_after`.
#[cfg(test)]
pub fn test_certificate(name: &str, not_after: time::OffsetDateTime) -> rcgen::Certificate {
    let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut params =
        rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap_or_else(|e| panic!("{e}"));
    params.not_after = not_after;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.self_signed(&key).unwrap_or_else(|e| panic!("{e}"))
}
