//! The `samlp` [`RedirectConnector`]: an AuthnRequest out, a Response back.
//!
//! `begin` sends the browser to the IdP's SingleSignOnService with an
//! AuthnRequest whose ID is `"_" + nonce` (the nonce never leaves the server
//! otherwise, so the Response's InResponseTo ties it to this round trip) and
//! RelayState the round trip's `state`; by the binding `protocolBinding`
//! names (Auth0's default HTTP-Redirect) when the IdP offers it, else by the
//! other. A request is signed when the connection says so
//! (`signSAMLRequest`) or the IdP's metadata asks for it: over the query
//! string for HTTP-Redirect (SAML bindings §3.4.4.1, computed here so that a
//! sign-in URL with a query of its own, as Google Workspace's `?idpid=`, keeps
//! it unsigned and intact), enveloped in the XML for HTTP-POST.
//!
//! `finish` has the `SAMLResponse` validated (`validate`, blocking: xmlsec),
//! remembers the assertion's ID so that a replay fails on every node, and
//! maps it to an [`Identity`] (`mapping`).

use std::io::Write as _;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RsaEncoding, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::write::DeflateEncoder;
use samael::crypto::CertificateDer;
use samael::schema::{AuthnRequest, Issuer, NameIdPolicy};
use samael::signature::{DigestAlgorithm, Signature, SignatureAlgorithm};
use samael::traits::ToXml;

use super::idp::{ExpiryWarnings, IdentityProvider, IdpSource};
use super::logout::LogoutMessage;
use super::sp::{self, SpKey, acs_url};
use super::validate::{self, Expectations, LogoutExpectations, SamlError};
use crate::clock::Clock;
use crate::connectors::{
    Begin, BoxFuture, CallbackParams, Identity, RedirectConnector, UpstreamError, UpstreamLogout,
    UpstreamRequest,
};
use crate::model::connection::{
    Connection, SamlDigestAlgorithm, SamlOptions, SamlProtocolBinding, SamlSignatureAlgorithm,
};
use crate::outbound::Outbound;
use crate::store::Store;

/// Where the IdP posts its Response: the ACS binding every request asks for.
const HTTP_POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

pub struct SamlConnector {
    connection: Connection,
    options: SamlOptions,
    idp: IdpSource,
    store: Store,
    /// In the SP entity ID (`urn:auth0:<tenant>:<connection>`).
    tenant: String,
    clock: Clock,
}

impl SamlConnector {
    pub fn new(
        connection: &Connection,
        options: SamlOptions,
        store: Store,
        tenant: &str,
        outbound: Outbound,
        clock: Clock,
        warned: ExpiryWarnings,
    ) -> Self {
        SamlConnector {
            connection: connection.clone(),
            idp: IdpSource::new(options.clone(), outbound, clock.clone(), warned),
            options,
            store,
            tenant: tenant.to_owned(),
            clock,
        }
    }

    fn sp_entity_id(&self) -> String {
        sp::entity_id(&self.tenant, &self.connection)
    }

    async fn sp_keys(&self) -> Result<sp::SpKeys, UpstreamError> {
        sp::keys(&self.store, &self.connection.id)
            .await
            .map_err(|e| UpstreamError::Misconfigured(format!("the SP keys cannot be read: {e}")))
    }

    /// How the connection's requests are signed: with the SP's current key,
    /// by the connection's `signatureAlgorithm` and `digestAlgorithm`.
    pub(super) async fn request_signing(&self) -> Result<RequestSigning, UpstreamError> {
        Ok(RequestSigning {
            key: self.sp_keys().await?.signing,
            signature: self
                .options
                .signature_algorithm
                .unwrap_or(SamlSignatureAlgorithm::RsaSha256),
            digest: self
                .options
                .digest_algorithm
                .unwrap_or(SamlDigestAlgorithm::Sha256),
        })
    }

    /// The identity a `SAMLResponse` at the ACS vouches for: one answering
    /// the AuthnRequest `in_response_to`, or (`None`) an unsolicited one.
    async fn verified(
        &self,
        callback_url: &str,
        in_response_to: Option<String>,
        response: &CallbackParams,
    ) -> Result<Identity, UpstreamError> {
        let saml_response = response
            .get("SAMLResponse")
            .ok_or_else(|| SamlError::Malformed("the callback carries no SAMLResponse".into()))?
            .clone();
        let idp = self.idp.current().await?;
        let keys = self.sp_keys().await?;
        let decryption_keys: Vec<Vec<u8>> = keys
            .decrypting
            .iter()
            .map(|key| key.private_key_pkcs8.clone())
            .collect();
        let certificates: Vec<Vec<u8>> = idp.certificates.iter().map(|c| c.der.clone()).collect();
        let sp_entity_id = self.sp_entity_id();
        let acs = acs_url(callback_url, &self.connection.name);
        let now_ms = self.clock.now_unix_millis();
        let skew_ms = self.options.clock_skew_ms();
        let allow_sha1 = self.options.allows_sha1();
        // libxml2 and xmlsec are blocking C: off the async workers.
        let verified = tokio::task::spawn_blocking(move || {
            validate::validate(
                &saml_response,
                &Expectations {
                    idp_entity_id: idp.entity_id.as_deref(),
                    idp_certificates: &certificates,
                    sp_entity_id: &sp_entity_id,
                    acs_url: &acs,
                    in_response_to: in_response_to.as_deref(),
                    now_ms,
                    skew_ms,
                    allow_sha1,
                    decryption_keys: &decryption_keys,
                },
            )
        })
        .await
        .map_err(|e| UpstreamError::Invalid(format!("the validation stopped: {e}")))??;
        let first_use = sp::remember_assertion(
            &self.store,
            &self.connection.id,
            &verified.assertion_id,
            verified.expires_at_ms,
        )
        .await
        .map_err(|e| {
            UpstreamError::Invalid(format!("the assertion's use cannot be recorded: {e}"))
        })?;
        if !first_use {
            return Err(SamlError::Replayed(verified.assertion_id).into());
        }
        super::mapping::identity_from_assertion(&self.connection.id, &self.options, &verified)
    }
}

impl RedirectConnector for SamlConnector {
    fn uses_pkce(&self) -> bool {
        false
    }

    fn saml_idp(&self) -> Option<&IdpSource> {
        Some(&self.idp)
    }

    fn begin<'a>(
        &'a self,
        request: &'a UpstreamRequest,
    ) -> BoxFuture<'a, Result<Begin, UpstreamError>> {
        Box::pin(async move {
            let idp = self.idp.current().await?;
            let (binding, destination) = sso_endpoint(&idp, self.options.protocol_binding)?;
            let signing =
                if self.options.sign_saml_request == Some(true) || idp.wants_signed_requests {
                    Some(self.request_signing().await?)
                } else {
                    None
                };
            let message = AuthnMessage {
                id: format!("_{}", request.nonce),
                issue_instant_ms: self.clock.now_unix_millis(),
                destination,
                acs: acs_url(&request.callback_url, &self.connection.name),
                issuer: self.sp_entity_id(),
            };
            let relay_state = request.state.clone();
            // xmlsec signs an HTTP-POST request: blocking C.
            tokio::task::spawn_blocking(move || {
                outgoing(&message, binding, &relay_state, signing.as_ref())
            })
            .await
            .map_err(|e| UpstreamError::Misconfigured(format!("the AuthnRequest: {e}")))?
        })
    }

    fn finish<'a>(
        &'a self,
        request: &'a UpstreamRequest,
        response: &'a CallbackParams,
    ) -> BoxFuture<'a, Result<Identity, UpstreamError>> {
        Box::pin(self.verified(
            &request.callback_url,
            Some(format!("_{}", request.nonce)),
            response,
        ))
    }

    fn finish_unsolicited<'a>(
        &'a self,
        callback_url: &'a str,
        response: &'a CallbackParams,
    ) -> BoxFuture<'a, Result<Identity, UpstreamError>> {
        Box::pin(async move {
            if self.options.idp_initiated().is_none() {
                return Err(UpstreamError::Invalid(
                    "an unsolicited response, and idpinitiated is off".into(),
                ));
            }
            self.verified(callback_url, None, response).await
        })
    }

    /// A LogoutRequest to the IdP's SingleLogoutService (`signOutEndpoint`
    /// or the metadata's), always signed, by the connection's
    /// `protocolBinding`; none when the IdP has no such service or the
    /// connection says `disableSignout` (Auth0's option).
    fn begin_logout<'a>(
        &'a self,
        logout: &'a UpstreamLogout,
    ) -> BoxFuture<'a, Result<Option<Begin>, UpstreamError>> {
        Box::pin(async move {
            if self.options.extra.get("disableSignout") == Some(&serde_json::Value::Bool(true)) {
                return Ok(None);
            }
            let idp = self.idp.current().await?;
            let Some(destination) = idp.slo.clone() else {
                return Ok(None);
            };
            let signing = self.request_signing().await?;
            let binding = self
                .options
                .protocol_binding
                .unwrap_or(SamlProtocolBinding::HttpRedirect);
            let message = LogoutMessage {
                id: logout.request_id.clone(),
                issue_instant_ms: self.clock.now_unix_millis(),
                destination,
                issuer: self.sp_entity_id(),
                subject: logout.subject.clone(),
            };
            let relay_state = logout.relay_state.clone();
            // xmlsec signs an HTTP-POST request: blocking C.
            tokio::task::spawn_blocking(move || {
                super::logout::outgoing(&message, binding, &relay_state, &signing).map(Some)
            })
            .await
            .map_err(|e| UpstreamError::Misconfigured(format!("the LogoutRequest: {e}")))?
        })
    }

    fn finish_logout<'a>(
        &'a self,
        request_id: &'a str,
        logout_url: &'a str,
        response: &'a CallbackParams,
        raw_query: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, UpstreamError>> {
        Box::pin(async move {
            let field = response.get("SAMLResponse").ok_or_else(|| {
                SamlError::Malformed("the logout answer carries no SAMLResponse".into())
            })?;
            let idp = self.idp.current().await?;
            let certificates: Vec<Vec<u8>> =
                idp.certificates.iter().map(|c| c.der.clone()).collect();
            let allow_sha1 = self.options.allows_sha1();
            let xml = super::logout::decode_response(field, raw_query.is_some())?;
            if let Some(raw_query) = raw_query {
                super::logout::verify_query_signature(raw_query, &certificates, allow_sha1)?;
            }
            let request_id = request_id.to_owned();
            let destination = logout_url.to_owned();
            // libxml2 and xmlsec are blocking C: off the async workers.
            let status = tokio::task::spawn_blocking(move || {
                validate::validate_logout_response(
                    &xml,
                    &LogoutExpectations {
                        idp_entity_id: idp.entity_id.as_deref(),
                        idp_certificates: &certificates,
                        request_id: &request_id,
                        destination: &destination,
                        allow_sha1,
                    },
                )
            })
            .await
            .map_err(|e| UpstreamError::Invalid(format!("the validation stopped: {e}")))??;
            Ok(status.map(|failure| failure.to_string()))
        })
    }
}

/// The IdP's SingleSignOnService for the binding the connection prefers
/// (HTTP-Redirect unless it says HTTP-POST), else for the other one.
fn sso_endpoint(
    idp: &IdentityProvider,
    preferred: Option<SamlProtocolBinding>,
) -> Result<(SamlProtocolBinding, String), UpstreamError> {
    let redirect = || {
        idp.sso_redirect
            .clone()
            .map(|url| (SamlProtocolBinding::HttpRedirect, url))
    };
    let post = || {
        idp.sso_post
            .clone()
            .map(|url| (SamlProtocolBinding::HttpPost, url))
    };
    match preferred.unwrap_or(SamlProtocolBinding::HttpRedirect) {
        SamlProtocolBinding::HttpRedirect => redirect().or_else(post),
        SamlProtocolBinding::HttpPost => post().or_else(redirect),
    }
    .ok_or_else(|| {
        UpstreamError::Misconfigured(
            "the IdP has no SingleSignOnService for HTTP-Redirect or HTTP-POST".into(),
        )
    })
}

/// What an AuthnRequest says.
struct AuthnMessage {
    /// `"_" + nonce`: an XML ID must not start with a digit.
    id: String,
    issue_instant_ms: i64,
    /// The SingleSignOnService it is sent to.
    destination: String,
    acs: String,
    /// The SP entity ID.
    issuer: String,
}

/// How an AuthnRequest (or a LogoutRequest) is signed.
pub(super) struct RequestSigning {
    /// The SP's current key.
    pub(super) key: SpKey,
    pub(super) signature: SamlSignatureAlgorithm,
    /// Of the enveloped signature's reference (HTTP-POST).
    pub(super) digest: SamlDigestAlgorithm,
}

pub(super) fn misconfigured(what: &str, e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Misconfigured(format!("{what}: {e}"))
}

impl AuthnMessage {
    fn authn_request(&self) -> Result<AuthnRequest, UpstreamError> {
        let issue_instant = chrono::DateTime::from_timestamp_millis(self.issue_instant_ms)
            .ok_or_else(|| misconfigured("the AuthnRequest's IssueInstant", "out of range"))?;
        Ok(AuthnRequest {
            id: self.id.clone(),
            version: "2.0".into(),
            issue_instant,
            destination: Some(self.destination.clone()),
            consent: None,
            issuer: Some(Issuer {
                value: Some(self.issuer.clone()),
                ..Issuer::default()
            }),
            signature: None,
            subject: None,
            // No Format: the IdP picks (unspecified); Entra ID refuses
            // some formats, every IdP takes none.
            name_id_policy: Some(NameIdPolicy {
                allow_create: Some(true),
                ..NameIdPolicy::default()
            }),
            conditions: None,
            requested_authn_context: None,
            force_authn: None,
            is_passive: None,
            assertion_consumer_service_index: None,
            assertion_consumer_service_url: Some(self.acs.clone()),
            protocol_binding: Some(HTTP_POST_BINDING.into()),
            attribute_consuming_service_index: None,
            provider_name: None,
        })
    }

    fn xml(&self) -> Result<String, UpstreamError> {
        self.authn_request()?
            .to_string()
            .map_err(|e| misconfigured("the AuthnRequest", e))
    }

    /// The request with an enveloped signature (HTTP-POST): RSA with the
    /// connection's `signatureAlgorithm` and `digestAlgorithm`, exclusive
    /// canonicalization, the SP's certificate in KeyInfo.
    fn signed_xml(&self, signing: &RequestSigning) -> Result<String, UpstreamError> {
        let mut request = self.authn_request()?;
        request.signature = Some(signature_template(&request.id, signing));
        request
            .to_signed_xml(&signing.key.private_key_pkcs8)
            .map_err(|e| misconfigured("signing the AuthnRequest", e))
    }
}

/// The enveloped signature, still to be computed, of the element `id`:
/// RSA with the connection's `signatureAlgorithm` and `digestAlgorithm`,
/// exclusive canonicalization, the SP's certificate in KeyInfo.
pub(super) fn signature_template(id: &str, signing: &RequestSigning) -> Signature {
    let mut signature = Signature::template(
        id,
        &CertificateDer::from(signing.key.certificate_der.clone()),
    );
    signature.signed_info.signature_method.algorithm = xml_signature_algorithm(signing.signature);
    for reference in &mut signature.signed_info.reference {
        // The template's digest is SHA-1.
        reference.digest_method.algorithm = xml_digest_algorithm(signing.digest);
    }
    signature
}

/// The XML Signature URI of a `signatureAlgorithm` (RFC 6931), which is
/// also the HTTP-Redirect binding's `SigAlg`.
/// `rsa-sha1` only lets the IdP sign with SHA-1 (the connection's explicit
/// opt-in): Switchyard's own requests are signed with SHA-256 still.
fn signature_uri(algorithm: SamlSignatureAlgorithm) -> &'static str {
    match algorithm {
        SamlSignatureAlgorithm::RsaSha1 | SamlSignatureAlgorithm::RsaSha256 => {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        }
        SamlSignatureAlgorithm::RsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        SamlSignatureAlgorithm::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    }
}

fn xml_signature_algorithm(algorithm: SamlSignatureAlgorithm) -> SignatureAlgorithm {
    match algorithm {
        SamlSignatureAlgorithm::RsaSha1 | SamlSignatureAlgorithm::RsaSha256 => {
            SignatureAlgorithm::RsaSha256
        }
        // samael names only SHA-256; xmlsec knows the others by their URI.
        other => SignatureAlgorithm::Unsupported(signature_uri(other).into()),
    }
}

fn xml_digest_algorithm(algorithm: SamlDigestAlgorithm) -> DigestAlgorithm {
    match algorithm {
        // As for signatures: `sha1` is what the IdP may use, not Switchyard.
        SamlDigestAlgorithm::Sha1 | SamlDigestAlgorithm::Sha256 => DigestAlgorithm::Sha256,
        SamlDigestAlgorithm::Sha384 => {
            DigestAlgorithm::Unsupported("http://www.w3.org/2001/04/xmldsig-more#sha384".into())
        }
        SamlDigestAlgorithm::Sha512 => {
            DigestAlgorithm::Unsupported("http://www.w3.org/2001/04/xmlenc#sha512".into())
        }
    }
}

fn rsa_encoding(algorithm: SamlSignatureAlgorithm) -> &'static dyn RsaEncoding {
    match algorithm {
        SamlSignatureAlgorithm::RsaSha1 | SamlSignatureAlgorithm::RsaSha256 => &RSA_PKCS1_SHA256,
        SamlSignatureAlgorithm::RsaSha384 => &RSA_PKCS1_SHA384,
        SamlSignatureAlgorithm::RsaSha512 => &RSA_PKCS1_SHA512,
    }
}

/// Where the browser goes with `message`, by `binding`.
fn outgoing(
    message: &AuthnMessage,
    binding: SamlProtocolBinding,
    relay_state: &str,
    signing: Option<&RequestSigning>,
) -> Result<Begin, UpstreamError> {
    match binding {
        SamlProtocolBinding::HttpRedirect => redirect_url(
            &message.destination,
            "SAMLRequest",
            &message.xml()?,
            relay_state,
            signing,
        )
        .map(Begin::Redirect),
        SamlProtocolBinding::HttpPost => {
            let xml = match signing {
                Some(signing) => message.signed_xml(signing)?,
                None => message.xml()?,
            };
            Ok(Begin::AutoPost {
                action: message.destination.clone(),
                fields: vec![
                    ("SAMLRequest".into(), STANDARD.encode(xml)),
                    ("RelayState".into(), relay_state.to_owned()),
                ],
            })
        }
    }
}

/// The HTTP-Redirect binding (SAML bindings §3.4.4): the message `xml`
/// DEFLATEd and base64-encoded in `parameter` (`SAMLRequest`), then
/// `RelayState`, and when signed `SigAlg` and `Signature` over exactly
/// `SAMLRequest=…&RelayState=…&SigAlg=…` as sent; appended to the IdP
/// endpoint's (`destination`) own query, if it has one.
pub(super) fn redirect_url(
    destination: &str,
    parameter: &str,
    xml: &str,
    relay_state: &str,
    signing: Option<&RequestSigning>,
) -> Result<String, UpstreamError> {
    let mut deflater = DeflateEncoder::new(Vec::new(), Compression::default());
    deflater
        .write_all(xml.as_bytes())
        .map_err(|e| misconfigured("deflating the request", e))?;
    let deflated = deflater
        .finish()
        .map_err(|e| misconfigured("deflating the request", e))?;
    let encode = |value: &str| -> String {
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
    };
    let mut query: String = format!(
        "{parameter}={}&RelayState={}",
        encode(&STANDARD.encode(deflated)),
        encode(relay_state)
    );
    if let Some(signing) = signing {
        query.push_str("&SigAlg=");
        query.push_str(&encode(signature_uri(signing.signature)));
        let key = RsaKeyPair::from_pkcs8(&signing.key.private_key_pkcs8)
            .map_err(|e| misconfigured("the SP key", e))?;
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            rsa_encoding(signing.signature),
            &SystemRandom::new(),
            query.as_bytes(),
            &mut signature,
        )
        .map_err(|e| misconfigured("signing the request", e))?;
        query.push_str("&Signature=");
        query.push_str(&encode(&STANDARD.encode(signature)));
    }
    let mut url =
        url::Url::parse(destination).map_err(|e| misconfigured("the IdP's endpoint", e))?;
    let query = match url.query() {
        Some(own) if !own.is_empty() => format!("{own}&{query}"),
        _ => query,
    };
    url.set_query(Some(&query));
    Ok(url.into())
}

#[cfg(test)]
pub(super) mod tests {
    use std::io::Read as _;
    use std::str::FromStr as _;

    use aws_lc_rs::signature::{
        RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512,
        UnparsedPublicKey, VerificationAlgorithm,
    };
    use samael::crypto::{Crypto, CryptoProvider as _, UrlVerifier};

    use super::*;

    /// An SP key as `sp::keys` gives one: RSA-2048, self-signed.
    pub(in crate::connectors::saml) fn rsa_key() -> SpKey {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
            .unwrap()
            .as_ref()
            .to_vec();
        let signer = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &rustls::pki_types::PrivatePkcs8KeyDer::from(der.as_slice()),
            &rcgen::PKCS_RSA_SHA256,
        )
        .unwrap();
        let certificate = rcgen::CertificateParams::new(vec!["sp.switchyard.test".into()])
            .unwrap()
            .self_signed(&signer)
            .unwrap();
        SpKey {
            id: "spk_1".into(),
            private_key_pkcs8: der,
            certificate_der: certificate.der().to_vec(),
        }
    }

    fn message(destination: &str) -> AuthnMessage {
        AuthnMessage {
            id: "_n0nce".into(),
            issue_instant_ms: 1_800_000_000_000,
            destination: destination.into(),
            acs: acs_url("https://sy.example/login/callback", "acme saml"),
            issuer: "urn:auth0:sy:acme saml".into(),
        }
    }

    fn signing(key: &SpKey, signature: SamlSignatureAlgorithm) -> RequestSigning {
        RequestSigning {
            key: key.clone(),
            signature,
            digest: SamlDigestAlgorithm::Sha256,
        }
    }

    fn query_param(url: &url::Url, name: &str) -> Option<String> {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The AuthnRequest a redirect URL carries, inflated and parsed.
    fn carried_request(url: &url::Url) -> (String, AuthnRequest) {
        let deflated = STANDARD
            .decode(query_param(url, "SAMLRequest").unwrap())
            .unwrap();
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(deflated.as_slice())
            .read_to_string(&mut xml)
            .unwrap();
        let request = AuthnRequest::from_str(&xml).unwrap();
        (xml, request)
    }

    fn assert_is_the_message(request: &AuthnRequest, destination: &str) {
        assert_eq!(request.id, "_n0nce");
        assert_eq!(request.version, "2.0");
        assert_eq!(request.destination.as_deref(), Some(destination));
        assert_eq!(
            request.assertion_consumer_service_url.as_deref(),
            Some("https://sy.example/login/callback?connection=acme+saml")
        );
        assert_eq!(request.protocol_binding.as_deref(), Some(HTTP_POST_BINDING));
        assert_eq!(
            request.issuer_value().as_deref(),
            Some("urn:auth0:sy:acme saml")
        );
        assert_eq!(
            request.name_id_policy.as_ref().and_then(|p| p.allow_create),
            Some(true)
        );
        assert_eq!(
            request.issue_instant.timestamp_millis(),
            1_800_000_000_000,
            "the project's clock"
        );
    }

    fn redirect(message: &AuthnMessage, signing: Option<&RequestSigning>) -> url::Url {
        let Begin::Redirect(url) = outgoing(
            message,
            SamlProtocolBinding::HttpRedirect,
            "st@te/1",
            signing,
        )
        .unwrap() else {
            panic!("a redirect")
        };
        url::Url::parse(&url).unwrap()
    }

    #[test]
    fn an_unsigned_redirect_carries_the_deflated_request() {
        let sso = "https://idp.acme.test/sso";
        let url = redirect(&message(sso), None);
        assert_eq!(url.origin().ascii_serialization(), "https://idp.acme.test");
        assert_eq!(url.path(), "/sso");
        let (_, request) = carried_request(&url);
        assert_is_the_message(&request, sso);
        assert!(request.signature.is_none());
        assert_eq!(query_param(&url, "RelayState").as_deref(), Some("st@te/1"));
        assert_eq!(query_param(&url, "SigAlg"), None);
        assert_eq!(query_param(&url, "Signature"), None);
    }

    /// The signed part of a redirect URL, as an IdP reads it: the raw
    /// query from `SAMLRequest=` up to `&Signature=`.
    fn signed_octets(url: &url::Url) -> String {
        let query = url.query().unwrap();
        let start = query.find("SAMLRequest=").unwrap();
        let end = query.find("&Signature=").unwrap();
        query[start..end].to_owned()
    }

    #[test]
    fn a_signed_redirect_keeps_the_idps_own_query_out_of_the_signature() {
        let key = rsa_key();
        let certificate = x509_parser::parse_x509_certificate(&key.certificate_der)
            .unwrap()
            .1;
        let public_key = certificate.public_key().subject_public_key.data.to_vec();
        // Google Workspace's sign-in URL has a query of its own.
        let sso = "https://accounts.google.com/o/saml2/idp?idpid=C0abc123";
        for (algorithm, verification, sig_alg) in [
            (
                SamlSignatureAlgorithm::RsaSha256,
                &RSA_PKCS1_2048_8192_SHA256 as &dyn VerificationAlgorithm,
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            ),
            (
                SamlSignatureAlgorithm::RsaSha384,
                &RSA_PKCS1_2048_8192_SHA384,
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            ),
            (
                SamlSignatureAlgorithm::RsaSha512,
                &RSA_PKCS1_2048_8192_SHA512,
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            ),
        ] {
            let url = redirect(&message(sso), Some(&signing(&key, algorithm)));
            assert!(
                url.query()
                    .unwrap()
                    .starts_with("idpid=C0abc123&SAMLRequest="),
                "{url}"
            );
            assert_eq!(query_param(&url, "idpid").as_deref(), Some("C0abc123"));
            assert_eq!(query_param(&url, "SigAlg").as_deref(), Some(sig_alg));
            let (_, request) = carried_request(&url);
            assert_is_the_message(&request, sso);
            let octets = signed_octets(&url);
            assert!(octets.ends_with(&format!(
                "&RelayState=st%40te%2F1&SigAlg={}",
                url::form_urlencoded::byte_serialize(sig_alg.as_bytes()).collect::<String>()
            )));
            let signature = STANDARD
                .decode(query_param(&url, "Signature").unwrap())
                .unwrap();
            let verifier = UnparsedPublicKey::new(verification, &public_key);
            verifier.verify(octets.as_bytes(), &signature).unwrap();
            assert!(
                verifier
                    .verify(url.query().unwrap().as_bytes(), &signature)
                    .is_err(),
                "the IdP's own query is not signed"
            );
        }
        // samael's verifier (SHA-256 only) reads the same three parameters.
        let url = redirect(
            &message(sso),
            Some(&signing(&key, SamlSignatureAlgorithm::RsaSha256)),
        );
        let verifier =
            UrlVerifier::from_x509(&CertificateDer::from(key.certificate_der.clone())).unwrap();
        assert!(verifier.verify_signed_request_url(&url).unwrap());
    }

    fn posted(message: &AuthnMessage, signing: Option<&RequestSigning>) -> (String, String) {
        let Begin::AutoPost { action, fields } =
            outgoing(message, SamlProtocolBinding::HttpPost, "st@te/1", signing).unwrap()
        else {
            panic!("a form post")
        };
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].0, "SAMLRequest");
        assert_eq!(fields[1], ("RelayState".into(), "st@te/1".into()));
        let xml = String::from_utf8(STANDARD.decode(&fields[0].1).unwrap()).unwrap();
        (action, xml)
    }

    #[test]
    fn a_post_carries_the_request_signed_with_sha256_digests() {
        let sso = "https://idp.acme.test/sso/post";
        let (action, xml) = posted(&message(sso), None);
        assert_eq!(action, sso);
        assert_is_the_message(&AuthnRequest::from_str(&xml).unwrap(), sso);
        assert!(!xml.contains("Signature"), "{xml}");

        let key = rsa_key();
        let certificate = CertificateDer::from(key.certificate_der.clone());
        let mut with = signing(&key, SamlSignatureAlgorithm::RsaSha256);
        let (_, xml) = posted(&message(sso), Some(&with));
        let request = AuthnRequest::from_str(&xml).unwrap();
        assert_is_the_message(&request, sso);
        let signature = request.signature.unwrap();
        assert_eq!(
            signature.signed_info.reference[0].uri.as_deref(),
            Some("#_n0nce")
        );
        assert!(
            xml.contains("http://www.w3.org/2001/04/xmlenc#sha256"),
            "{xml}"
        );
        assert!(!xml.contains("xmldsig#sha1"), "no SHA-1: {xml}");
        Crypto::verify_signed_xml(&xml, &certificate, Some("ID")).unwrap();
        let tampered = xml.replace("acme+saml", "evil");
        assert!(Crypto::verify_signed_xml(&tampered, &certificate, Some("ID")).is_err());

        with.signature = SamlSignatureAlgorithm::RsaSha512;
        with.digest = SamlDigestAlgorithm::Sha512;
        let (_, xml) = posted(&message(sso), Some(&with));
        assert!(xml.contains("xmldsig-more#rsa-sha512"), "{xml}");
        assert!(
            xml.contains("http://www.w3.org/2001/04/xmlenc#sha512"),
            "{xml}"
        );
        Crypto::verify_signed_xml(&xml, &certificate, Some("ID")).unwrap();
        let other = CertificateDer::from(rsa_key().certificate_der);
        assert!(Crypto::verify_signed_xml(&xml, &other, Some("ID")).is_err());
    }

    fn idp(redirect: Option<&str>, post: Option<&str>) -> IdentityProvider {
        IdentityProvider {
            entity_id: Some("https://idp.acme.test".into()),
            sso_redirect: redirect.map(str::to_owned),
            sso_post: post.map(str::to_owned),
            slo: None,
            certificates: vec![],
            wants_signed_requests: false,
        }
    }

    #[test]
    fn the_binding_is_the_preferred_one_the_idp_offers() {
        use SamlProtocolBinding::{HttpPost, HttpRedirect};
        let both = idp(Some("https://idp/r"), Some("https://idp/p"));
        let chosen = |idp: &IdentityProvider, preferred| sso_endpoint(idp, preferred).unwrap();
        assert_eq!(chosen(&both, None), (HttpRedirect, "https://idp/r".into()));
        assert_eq!(
            chosen(&both, Some(HttpPost)),
            (HttpPost, "https://idp/p".into())
        );
        let post_only = idp(None, Some("https://idp/p"));
        assert_eq!(chosen(&post_only, None), (HttpPost, "https://idp/p".into()));
        let redirect_only = idp(Some("https://idp/r"), None);
        assert_eq!(
            chosen(&redirect_only, Some(HttpPost)),
            (HttpRedirect, "https://idp/r".into())
        );
        assert!(matches!(
            sso_endpoint(&idp(None, None), None),
            Err(UpstreamError::Misconfigured(_))
        ));
    }
}
