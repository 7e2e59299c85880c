//! SAML single logout, started by Switchyard (SAML profiles §4.4): when a
//! session whose login came through a SAML connection ends, the browser
//! goes on to the IdP's SingleLogoutService with a LogoutRequest naming the
//! NameID (with its Format and qualifiers, as asserted) and the
//! SessionIndex of that login, signed with the SP's current key: over the
//! query for HTTP-Redirect, enveloped for HTTP-POST (the AuthnRequest's
//! code, `connector`). The IdP's LogoutResponse comes back to `/logout`
//! (Auth0's path for them), by either binding; its XML is checked by
//! `validate::validate_logout_response`, a query signature here.

use std::io::Read as _;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512,
    UnparsedPublicKey, VerificationAlgorithm,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use quick_xml::escape::escape;
use samael::crypto::{Crypto, CryptoProvider as _};
use samael::traits::ToXml as _;

use super::connector::{RequestSigning, misconfigured, redirect_url, signature_template};
use super::validate::{MAX_RESPONSE_LEN, SamlError};
use crate::connectors::{Begin, Identity, UpstreamError};
use crate::model::connection::SamlProtocolBinding;
use crate::store::SamlSessionSubject;

/// Where IdPs send LogoutResponses (Auth0's), by HTTP-Redirect or HTTP-POST.
pub const LOGOUT_PATH: &str = "/logout";

const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// What a LogoutRequest says.
#[derive(Debug, Clone)]
pub(super) struct LogoutMessage {
    /// Random, `_`-prefixed: the response's InResponseTo.
    pub id: String,
    pub issue_instant_ms: i64,
    /// The IdP's SingleLogoutService.
    pub destination: String,
    /// The SP entity ID.
    pub issuer: String,
    pub subject: SamlSessionSubject,
}

impl LogoutMessage {
    /// The request's XML; `signature` (an enveloped signature's template)
    /// goes after the Issuer, where the schema puts it.
    pub(super) fn xml(&self, signature: Option<&str>) -> Result<String, UpstreamError> {
        let instant = chrono::DateTime::from_timestamp_millis(self.issue_instant_ms)
            .ok_or_else(|| misconfigured("the LogoutRequest's IssueInstant", "out of range"))?
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let attribute = |name: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| format!(r#" {name}="{}""#, escape(v)))
                .unwrap_or_default()
        };
        let subject = &self.subject;
        let session_index = subject
            .session_index
            .as_deref()
            .map(|index| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(index)))
            .unwrap_or_default();
        Ok(format!(
            r#"<samlp:LogoutRequest xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}"><saml:Issuer>{issuer}</saml:Issuer>{signature}<saml:NameID{format}{name_qualifier}{sp_name_qualifier}>{name_id}</saml:NameID>{session_index}</samlp:LogoutRequest>"#,
            id = escape(&self.id),
            destination = escape(&self.destination),
            issuer = escape(&self.issuer),
            signature = signature.unwrap_or_default(),
            format = attribute("Format", &subject.name_id_format),
            name_qualifier = attribute("NameQualifier", &subject.name_qualifier),
            sp_name_qualifier = attribute("SPNameQualifier", &subject.sp_name_qualifier),
            name_id = escape(&subject.name_id),
        ))
    }
}

/// The subject an identity of a SAML login was asserted for, as `mapping`
/// keeps it in the profile (Auth0's `nameIdAttributes` and `sessionIndex`):
/// what the session keeps for its LogoutRequest.
pub fn subject_of(identity: &Identity) -> Option<SamlSessionSubject> {
    let name_id = identity.raw.get("nameIdAttributes")?;
    let text = |value: Option<&serde_json::Value>| {
        value.and_then(serde_json::Value::as_str).map(str::to_owned)
    };
    Some(SamlSessionSubject {
        connection_id: identity.connection_id.clone(),
        name_id: text(name_id.get("value"))?,
        name_id_format: text(name_id.get("Format")),
        name_qualifier: text(name_id.get("NameQualifier")),
        sp_name_qualifier: text(name_id.get("SPNameQualifier")),
        session_index: text(identity.raw.get("sessionIndex")),
    })
}

/// Where the browser goes with the signed `message`, by `binding`.
pub(super) fn outgoing(
    message: &LogoutMessage,
    binding: SamlProtocolBinding,
    relay_state: &str,
    signing: &RequestSigning,
) -> Result<Begin, UpstreamError> {
    match binding {
        SamlProtocolBinding::HttpRedirect => redirect_url(
            &message.destination,
            "SAMLRequest",
            &message.xml(None)?,
            relay_state,
            Some(signing),
        )
        .map(Begin::Redirect),
        SamlProtocolBinding::HttpPost => {
            let template = signature_template(&message.id, signing)
                .to_string()
                .map_err(|e| misconfigured("the LogoutRequest's signature", e))?;
            let signed = Crypto::sign_xml(
                message.xml(Some(&template))?,
                &signing.key.private_key_pkcs8,
            )
            .map_err(|e| misconfigured("signing the LogoutRequest", e))?;
            Ok(Begin::AutoPost {
                action: message.destination.clone(),
                fields: vec![
                    ("SAMLRequest".into(), STANDARD.encode(signed)),
                    ("RelayState".into(), relay_state.to_owned()),
                ],
            })
        }
    }
}

/// The XML of a `SAMLResponse` field: base64, and DEFLATEd when it came by
/// redirect; at most [`MAX_RESPONSE_LEN`] either way.
pub(super) fn decode_response(field: &str, deflated: bool) -> Result<String, SamlError> {
    if field.len() > MAX_RESPONSE_LEN {
        return Err(SamlError::TooLarge { len: field.len() });
    }
    let compact: Vec<u8> = field.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes = STANDARD
        .decode(compact)
        .map_err(|e| SamlError::Malformed(format!("not base64: {e}")))?;
    let bytes = if deflated {
        let mut inflated = Vec::new();
        flate2::read::DeflateDecoder::new(bytes.as_slice())
            // An inflation bomb stops at the cap.
            .take(MAX_RESPONSE_LEN as u64 + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| SamlError::Malformed(format!("not DEFLATE: {e}")))?;
        if inflated.len() > MAX_RESPONSE_LEN {
            return Err(SamlError::TooLarge {
                len: inflated.len(),
            });
        }
        inflated
    } else {
        bytes
    };
    String::from_utf8(bytes).map_err(|e| SamlError::NotUtf8(format!("invalid UTF-8: {e}")))
}

/// Checks the HTTP-Redirect binding's signature of a LogoutResponse
/// (bindings §3.4.4.1) over the octets as sent, `SAMLResponse=…`,
/// `&RelayState=…` and `&SigAlg=…` of `raw_query`, with one of the IdP's
/// certificates. `false` when the query is not signed; an error when it is
/// and the signature does not verify.
pub(super) fn verify_query_signature(
    raw_query: &str,
    certificates: &[Vec<u8>],
    allow_sha1: bool,
) -> Result<bool, SamlError> {
    let mut raw = std::collections::BTreeMap::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let name = pair.split('=').next().unwrap_or_default();
        if raw.insert(name, pair).is_some() {
            return Err(SamlError::Structure(format!(
                "the query repeats {}",
                name.chars().take(40).collect::<String>()
            )));
        }
    }
    let decoded = |name: &str| {
        raw.get(name).and_then(|pair| {
            url::form_urlencoded::parse(pair.as_bytes())
                .next()
                .map(|(_, value)| value.into_owned())
        })
    };
    let Some(signature) = decoded("Signature") else {
        return Ok(false);
    };
    let (Some(response), Some(sig_alg)) = (raw.get("SAMLResponse"), decoded("SigAlg")) else {
        return Err(SamlError::Malformed(
            "a query Signature without SAMLResponse or SigAlg".into(),
        ));
    };
    let algorithm: &'static dyn VerificationAlgorithm = match sig_alg.as_str() {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => &RSA_PKCS1_2048_8192_SHA256,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => &RSA_PKCS1_2048_8192_SHA384,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => &RSA_PKCS1_2048_8192_SHA512,
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => &ECDSA_P256_SHA256_ASN1,
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" if allow_sha1 => {
            &RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => return Err(SamlError::Sha1NotAllowed),
        other => {
            return Err(SamlError::Algorithm(
                other.chars().take(80).collect::<String>(),
            ));
        }
    };
    let mut octets = (*response).to_owned();
    if let Some(relay_state) = raw.get("RelayState") {
        octets.push('&');
        octets.push_str(relay_state);
    }
    octets.push('&');
    octets.push_str(raw.get("SigAlg").copied().unwrap_or_default());
    let signature = STANDARD
        .decode(signature.as_bytes())
        .map_err(|e| SamlError::Malformed(format!("the query Signature is not base64: {e}")))?;
    if certificates.is_empty() {
        return Err(SamlError::NoIdpCertificate);
    }
    let verifies = certificates.iter().any(|der| {
        x509_parser::parse_x509_certificate(der).is_ok_and(|(_, certificate)| {
            UnparsedPublicKey::new(algorithm, &certificate.public_key().subject_public_key.data)
                .verify(octets.as_bytes(), &signature)
                .is_ok()
        })
    });
    if verifies {
        Ok(true)
    } else {
        Err(SamlError::BadSignature(
            "the LogoutResponse's query signature did not verify with the IdP's certificates"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests;
