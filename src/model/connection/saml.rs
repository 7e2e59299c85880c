//! Options of an enterprise SAML 2.0 connection (`strategy: samlp`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::options::{check_domain_aliases, check_optional_url, field};
use super::saml_metadata::{
    CertificateFacts, IdentityProvider, certificate, certificate_facts, certificates_in_text,
    parse_metadata,
};
use crate::model::ValidationError;
use crate::model::client::wire_enum;

/// The clock skew allowed on a response's time conditions unless
/// `clock_skew_seconds` says otherwise.
pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 60;
/// More would let a stolen assertion live on for long after it expired.
pub const MAX_CLOCK_SKEW_SECONDS: u64 = 600;
/// An option at fault (`options.metadataXml`) and why, to read after it.
pub type Refusal = (&'static str, String);
/// SAML 2.0 core §8.3.6: an entity ID is at most 1024 characters.
const MAX_ENTITY_ID_CHARS: usize = 1024;

wire_enum!(
    /// How Switchyard signs its AuthnRequests (`signSAMLRequest`); naming
    /// SHA-1 here or in `digestAlgorithm` also lets the IdP sign with it.
    SamlSignatureAlgorithm {
        RsaSha1 = "rsa-sha1",
        RsaSha256 = "rsa-sha256",
        RsaSha384 = "rsa-sha384",
        RsaSha512 = "rsa-sha512",
    }
);

wire_enum!(
    SamlDigestAlgorithm {
        Sha1 = "sha1",
        Sha256 = "sha256",
        Sha384 = "sha384",
        Sha512 = "sha512",
    }
);

wire_enum!(
    /// How the AuthnRequest travels to the IdP.
    SamlProtocolBinding {
        HttpPost = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        HttpRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
    }
);

/// The IdP is described by its metadata (`metadataXml` or `metadataUrl`), or
/// by hand: `signInEndpoint` and `signingCert`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SamlOptions {
    #[serde(
        rename = "metadataXml",
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata_xml: Option<String>,
    #[serde(
        rename = "metadataUrl",
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata_url: Option<String>,
    #[serde(
        rename = "signInEndpoint",
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub sign_in_endpoint: Option<String>,
    #[serde(
        rename = "signOutEndpoint",
        default,
        deserialize_with = "field::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub sign_out_endpoint: Option<String>,
    /// The IdP's signing certificate(s): PEM (several blocks during a
    /// rollover), the PEM base64-encoded (Auth0's documented form), or
    /// base64 DER.
    #[serde(
        rename = "signingCert",
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub signing_cert: Option<String>,
    /// Auth0's older field for the IdP's certificate (base64 DER); used
    /// beside `signingCert` when both are given.
    #[serde(
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub cert: Option<String>,
    /// The IdP's entity ID (an extension, Keycloak's name), for an IdP
    /// configured by hand: the Issuer its responses must carry. Metadata
    /// gives its own.
    #[serde(
        rename = "idpEntityId",
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub idp_entity_id: Option<String>,
    /// Auth0's `entityId`: the SP entity ID, instead of
    /// `urn:auth0:<tenant>:<connection>`.
    #[serde(
        rename = "entityId",
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub entity_id: Option<String>,
    #[serde(
        rename = "signSAMLRequest",
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub sign_saml_request: Option<bool>,
    #[serde(
        rename = "signatureAlgorithm",
        default,
        deserialize_with = "field::keyword",
        skip_serializing_if = "Option::is_none"
    )]
    pub signature_algorithm: Option<SamlSignatureAlgorithm>,
    #[serde(
        rename = "digestAlgorithm",
        default,
        deserialize_with = "field::keyword",
        skip_serializing_if = "Option::is_none"
    )]
    pub digest_algorithm: Option<SamlDigestAlgorithm>,
    #[serde(
        rename = "protocolBinding",
        default,
        deserialize_with = "field::keyword",
        skip_serializing_if = "Option::is_none"
    )]
    pub protocol_binding: Option<SamlProtocolBinding>,
    /// Email domains whose users log in here (home-realm discovery).
    #[serde(
        default,
        deserialize_with = "field::domain_aliases",
        skip_serializing_if = "Option::is_none"
    )]
    pub domain_aliases: Option<Vec<String>>,
    /// Profile attribute → SAML attribute name(s) (Auth0's `fieldsMap`).
    #[serde(rename = "fieldsMap", default, skip_serializing_if = "Option::is_none")]
    pub fields_map: Option<BTreeMap<String, SamlAttributeNames>>,
    /// The attribute that holds the user id, instead of the NameID.
    #[serde(
        default,
        deserialize_with = "field::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_id_attribute: Option<String>,
    #[serde(
        default,
        deserialize_with = "field::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub icon_url: Option<String>,
    #[serde(
        default,
        deserialize_with = "field::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub tenant_domain: Option<String>,
    /// Auth0's IdP-initiated SSO settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idpinitiated: Option<SamlIdpInitiatedOptions>,
    /// The clock skew allowed on a response's time conditions (an
    /// extension; 60 s unless set, at most 600).
    #[serde(
        default,
        deserialize_with = "skew_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub clock_skew_seconds: Option<u64>,
    /// Switchyard's: lifts the email-domain guard for this IdP (its people's
    /// emails may lie outside the organization's verified domains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_other_email_domains: Option<bool>,
    /// Other options (`debug`, `deflate`, `thumbprints`, …), kept as given.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// One SAML attribute name, or several tried in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SamlAttributeNames {
    One(String),
    Any(Vec<String>),
}

impl<'de> Deserialize<'de> for SamlAttributeNames {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let refused = || serde::de::Error::custom("must be a string or an array of strings");
        match Value::deserialize(deserializer)? {
            Value::String(name) => Ok(Self::One(name)),
            Value::Array(names) => names
                .into_iter()
                .map(|name| match name {
                    Value::String(name) => Some(name),
                    _ => None,
                })
                .collect::<Option<Vec<String>>>()
                .map(Self::Any)
                .ok_or_else(refused),
            _ => Err(refused()),
        }
    }
}

/// Auth0's `idpinitiated` as exported (`client_protocol: samlp` and empty
/// strings are common while it is disabled).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SamlIdpInitiatedOptions {
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub enabled: Option<bool>,
    /// The client the user goes on to.
    #[serde(
        default,
        deserialize_with = "field::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_id: Option<String>,
    /// `oauth2` (or `oidc`): the only one Switchyard speaks to its clients.
    #[serde(
        default,
        deserialize_with = "field::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_protocol: Option<String>,
    #[serde(
        default,
        deserialize_with = "field::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_authorizequery: Option<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// `clock_skew_seconds`: a whole number of seconds, 0 to 600.
fn skew_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let refused = || {
        serde::de::Error::custom(format!(
            "must be a whole number of seconds from 0 to {MAX_CLOCK_SKEW_SECONDS}"
        ))
    };
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(seconds) if seconds <= MAX_CLOCK_SKEW_SECONDS => Ok(Some(seconds)),
            _ => Err(refused()),
        },
        _ => Err(refused()),
    }
}

/// Auth0's `idpinitiated`, when enabled: unsolicited responses are
/// accepted and the user goes on to this client's `initiate_login_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpInitiated {
    pub client_id: String,
    /// Auth0's `client_authorizequery`, kept as given.
    pub client_authorizequery: Option<String>,
}

impl SamlOptions {
    /// Whether the IdP may sign with SHA-1: only when the connection names
    /// it, in `signatureAlgorithm` or `digestAlgorithm` (Auth0 allows both).
    pub fn allows_sha1(&self) -> bool {
        self.signature_algorithm == Some(SamlSignatureAlgorithm::RsaSha1)
            || self.digest_algorithm == Some(SamlDigestAlgorithm::Sha1)
    }

    /// The clock skew allowed on a response's time conditions.
    pub fn clock_skew_ms(&self) -> i64 {
        let seconds = self
            .clock_skew_seconds
            .unwrap_or(DEFAULT_CLOCK_SKEW_SECONDS)
            .min(MAX_CLOCK_SKEW_SECONDS);
        i64::try_from(seconds).unwrap_or(0) * 1000
    }

    /// IdP-initiated SSO, if the connection enables it.
    pub fn idp_initiated(&self) -> Option<IdpInitiated> {
        let settings = self.idpinitiated.as_ref()?;
        if settings.enabled != Some(true) {
            return None;
        }
        let client_id = settings.client_id.as_deref().map(str::trim)?;
        (!client_id.is_empty()).then(|| IdpInitiated {
            client_id: client_id.to_owned(),
            client_authorizequery: settings
                .client_authorizequery
                .clone()
                .filter(|q| !q.is_empty()),
        })
    }

    /// Auth0's `entityId`: the SP entity ID, instead of `urn:auth0:<tenant>:<connection>`.
    pub fn sp_entity_id(&self) -> Option<&str> {
        self.entity_id.as_deref().map(str::trim)
    }

    /// The IdP these options describe; `fetched_metadata` is the document
    /// read from `metadataUrl`. Inline metadata wins, then fetched
    /// metadata, then the endpoint and certificates typed by hand. The
    /// reason of a refusal reads after the name of the option at fault.
    pub fn describe_idp(
        &self,
        fetched_metadata: Option<&str>,
    ) -> Result<IdentityProvider, Refusal> {
        if let Some(xml) = &self.metadata_xml {
            return parse_metadata(xml).map_err(|why| ("options.metadataXml", why));
        }
        if let Some(xml) = fetched_metadata {
            return parse_metadata(xml).map_err(|why| ("options.metadataUrl", why));
        }
        if self.metadata_url.is_some() {
            return Err(("options.metadataUrl", "has not been fetched yet".to_owned()));
        }
        let sign_in = self.sign_in_endpoint.clone().ok_or((
            "options.signInEndpoint",
            "is required (or options.metadataXml / options.metadataUrl)".to_owned(),
        ))?;
        let certificates = self
            .typed_certificates()?
            .into_iter()
            .map(|(field, der)| certificate(der).map_err(|why| (field, why)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IdentityProvider {
            entity_id: self.idp_entity_id.clone(),
            // By hand there is one URL: the IdP takes either binding there.
            sso_redirect: Some(sign_in.clone()),
            sso_post: Some(sign_in),
            slo: self
                .sign_out_endpoint
                .clone()
                .filter(|s| !s.trim().is_empty()),
            certificates,
            wants_signed_requests: false,
        })
    }

    /// The certificates of `signingCert` then `cert` (DER, each once), with
    /// the option each came from.
    fn typed_certificates(&self) -> Result<Vec<(&'static str, Vec<u8>)>, Refusal> {
        let mut found: Vec<(&'static str, Vec<u8>)> = Vec::new();
        for (field, value) in [
            ("options.signingCert", &self.signing_cert),
            ("options.cert", &self.cert),
        ] {
            let Some(value) = value else { continue };
            for der in certificates_in_text(value).map_err(|why| (field, why))? {
                if !found.iter().any(|(_, known)| *known == der) {
                    found.push((field, der));
                }
            }
        }
        if found.is_empty() {
            return Err((
                "options.signingCert",
                "is required (or options.metadataXml / options.metadataUrl)".to_owned(),
            ));
        }
        Ok(found)
    }

    /// What the Management API shows of the IdP's certificates: those of
    /// inline metadata or typed by hand, else of `fetched_metadata` (the
    /// document read from `metadataUrl` at write time); empty when the
    /// options do not describe an IdP.
    pub fn certificate_facts(&self, fetched_metadata: Option<&str>) -> Vec<CertificateFacts> {
        self.describe_idp(fetched_metadata)
            .map(|idp| {
                idp.certificates
                    .iter()
                    .filter_map(|c| certificate_facts(&c.der).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sets the options derived from the certificates, as Auth0 does:
    /// `thumbprints` (SHA-1, lowercase hex) and `expires` (when the last
    /// of them expires, ISO 8601); and `signing_certificates`, ours, with
    /// each certificate's SHA-256 thumbprint, notAfter and subject (Auth0's
    /// `expires` and `subject` speak of one certificate; a rollover has
    /// two). `fetched_metadata` is the document read from `metadataUrl` at
    /// this write; a `metadataUrl` that was not fetched keeps `previous`'s
    /// values when it names the same URL (an update that leaves it alone),
    /// and has none otherwise: a client's own values are never trusted.
    pub fn derive_certificate_options(
        &mut self,
        previous: Option<&SamlOptions>,
        fetched_metadata: Option<&str>,
    ) {
        let derived = ["thumbprints", "expires", "signing_certificates"];
        for key in derived {
            self.extra.remove(key);
        }
        let by_url_alone = self.metadata_xml.is_none() && self.metadata_url.is_some();
        if by_url_alone && fetched_metadata.is_none() {
            let unchanged = previous
                .filter(|p| p.metadata_xml.is_none() && p.metadata_url == self.metadata_url);
            if let Some(previous) = unchanged {
                for key in derived {
                    if let Some(value) = previous.extra.get(key) {
                        self.extra.insert(key.into(), value.clone());
                    }
                }
            }
            return;
        }
        let facts = self.certificate_facts(fetched_metadata);
        if facts.is_empty() {
            return;
        }
        let iso = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default()
        };
        let thumbprints: Vec<Value> = facts
            .iter()
            .map(|f| Value::String(f.thumbprint_sha1.clone()))
            .collect();
        self.extra
            .insert("thumbprints".into(), Value::Array(thumbprints));
        if let Some(last) = facts.iter().map(|f| f.not_after_ms).max() {
            self.extra
                .insert("expires".into(), Value::String(iso(last)));
        }
        let certificates: Vec<Value> = facts
            .iter()
            .map(|f| {
                serde_json::json!({
                    "thumbprint_sha256": f.thumbprint_sha256,
                    "not_after": iso(f.not_after_ms),
                    "subject": f.subject,
                })
            })
            .collect();
        self.extra
            .insert("signing_certificates".into(), Value::Array(certificates));
    }

    pub(super) fn check(&self) -> Result<(), ValidationError> {
        let refusal = |(field, why): (&str, String)| ValidationError::new(field, why);
        // metadataUrl is checked only when there is no metadataXml, as before
        // the options were typed (the XML wins).
        if self.metadata_xml.is_none() {
            check_optional_url("metadataUrl", self.metadata_url.as_deref())?;
        }
        check_optional_url("signInEndpoint", self.sign_in_endpoint.as_deref())?;
        if let Some(slo) = self.sign_out_endpoint.as_deref().filter(|s| !s.is_empty()) {
            check_optional_url("signOutEndpoint", Some(slo))?;
        }
        // Every certificate given is readable, whatever else describes the IdP.
        if self.signing_cert.is_some() || self.cert.is_some() {
            for (field, der) in self.typed_certificates().map_err(refusal)? {
                certificate(der).map_err(|why| ValidationError::new(field, why))?;
            }
        }
        if self.metadata_xml.is_some() || self.metadata_url.is_none() {
            self.describe_idp(None).map_err(refusal)?;
        }
        for (field, value) in [
            ("options.idpEntityId", &self.idp_entity_id),
            ("options.entityId", &self.entity_id),
        ] {
            if let Some(id) = value {
                check_entity_id(field, id)?;
            }
        }
        if let Some(settings) = &self.idpinitiated {
            settings.check()?;
        }
        check_domain_aliases(self.domain_aliases.as_deref())
    }
}

impl SamlIdpInitiatedOptions {
    fn check(&self) -> Result<(), ValidationError> {
        if self.enabled != Some(true) {
            return Ok(());
        }
        if self
            .client_id
            .as_deref()
            .is_none_or(|id| id.trim().is_empty())
        {
            return Err(ValidationError::new(
                "options.idpinitiated.client_id",
                "is required when IdP-initiated login is enabled",
            ));
        }
        match self.client_protocol.as_deref() {
            None | Some("" | "oauth2" | "oidc") => Ok(()),
            Some(_) => Err(ValidationError::new(
                "options.idpinitiated.client_protocol",
                "must be oauth2 (the user goes on to the client by OpenID Connect)",
            )),
        }
    }
}

/// An entity ID: a URI of at most 1024 characters, without whitespace.
fn check_entity_id(field: &str, id: &str) -> Result<(), ValidationError> {
    if id.chars().count() > MAX_ENTITY_ID_CHARS {
        return Err(ValidationError::new(
            field,
            "must be at most 1024 characters",
        ));
    }
    if id.chars().any(char::is_whitespace) {
        return Err(ValidationError::new(field, "must not contain whitespace"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use serde_json::json;

    use super::super::options::tests::{map, refusal, refused};
    use super::super::saml_metadata::{test_certificate, test_metadata};
    use super::super::{ConnectionOptions, Strategy};
    use super::*;

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

    fn certificate() -> rcgen::Certificate {
        test_certificate(
            "idp.acme.test",
            time::macros::datetime!(2031-01-01 0:00 UTC),
        )
    }

    fn parsed(options: Value) -> SamlOptions {
        match ConnectionOptions::parse(Strategy::Saml, map(options)) {
            Ok(ConnectionOptions::Saml(options)) => options,
            other => panic!("{other:?}"),
        }
    }

    fn by_hand(cert: &str) -> Value {
        json!({
            "signInEndpoint": "https://idp.acme.test/sso",
            "signOutEndpoint": "https://idp.acme.test/slo",
            "signingCert": cert,
            "signSAMLRequest": true,
            "signatureAlgorithm": "rsa-sha256",
            "digestAlgorithm": "sha256",
            "protocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            "domain_aliases": ["acme.test"],
            "fieldsMap": {"email": "mail", "name": ["displayName", "cn"]},
            "user_id_attribute": "uid",
            "debug": false,
        })
    }

    #[test]
    fn accepted_shapes() {
        let cert = certificate();
        let der = B64.encode(cert.der());
        // PEM, base64 DER, and the PEM file base64-encoded (Auth0's documented form).
        for given in [der, cert.pem(), B64.encode(cert.pem())] {
            let parsed = ConnectionOptions::parse(Strategy::Saml, map(by_hand(&given)));
            let Ok(ConnectionOptions::Saml(options)) = &parsed else {
                panic!("{parsed:?}")
            };
            assert_eq!(
                options.sign_in_endpoint.as_deref(),
                Some("https://idp.acme.test/sso")
            );
            assert_eq!(options.signing_cert.as_deref(), Some(given.as_str()));
            assert_eq!(options.sign_saml_request, Some(true));
            assert_eq!(
                options.signature_algorithm,
                Some(SamlSignatureAlgorithm::RsaSha256)
            );
            assert_eq!(options.digest_algorithm, Some(SamlDigestAlgorithm::Sha256));
            assert_eq!(
                options.protocol_binding,
                Some(SamlProtocolBinding::HttpRedirect)
            );
            let fields = options.fields_map.clone().unwrap_or_default();
            assert_eq!(fields["email"], SamlAttributeNames::One("mail".into()));
            assert_eq!(
                fields["name"],
                SamlAttributeNames::Any(vec!["displayName".into(), "cn".into()])
            );
            assert_eq!(options.extra["debug"], false);
            assert_eq!(
                serde_json::to_value(parsed.as_ref().ok()).ok(),
                Some(by_hand(&given))
            );
            let idp = options.describe_idp(None).unwrap();
            assert_eq!(idp.certificates.len(), 1);
            assert_eq!(idp.certificates[0].der, cert.der().to_vec());
            assert_eq!(idp.certificates[0].not_after_ms, 1_924_992_000_000);
        }
        // Metadata alone describes the IdP.
        let metadata = test_metadata("urn:acme:idp", &[cert.der()]);
        for options in [
            json!({"metadataXml": metadata}),
            json!({"metadataUrl": "https://idp.acme.test/metadata"}),
            json!({"metadataXml": metadata, "metadataUrl": "not checked"}),
        ] {
            assert!(
                ConnectionOptions::parse(Strategy::Saml, map(options.clone())).is_ok(),
                "{options}"
            );
        }
    }

    /// An Auth0 export of a samlp connection loads unchanged, derived
    /// options (`thumbprints`, `expires`, `subject`, `cert`) and all.
    #[test]
    fn an_auth0_export_loads_unchanged() {
        let cert = certificate();
        let export = json!({
            "signingCert": B64.encode(cert.pem()),
            "cert": B64.encode(cert.der()),
            "signInEndpoint": "https://acme.okta.test/app/exk1/sso/saml",
            "signOutEndpoint": "",
            "signSAMLRequest": false,
            "signatureAlgorithm": "rsa-sha1",
            "digestAlgorithm": "sha1",
            "protocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            "disableSignout": true,
            "debug": false,
            "deflate": true,
            "expires": "2031-01-01T00:00:00.000Z",
            "subject": {"commonName": "idp.acme.test"},
            "thumbprints": ["0123456789abcdef0123456789abcdef01234567"],
            "tenant_domain": "acme.test",
            "domain_aliases": ["acme.test"],
            "fieldsMap": {},
            "user_id_attribute": "",
            "entityId": "urn:acme:switchyard",
            "idpinitiated": {"client_id": "", "client_protocol": "samlp", "client_authorizequery": ""},
        });
        let options = parsed(export.clone());
        assert_eq!(serde_json::to_value(&options).ok(), Some(export));
        assert!(options.allows_sha1());
        assert_eq!(options.sp_entity_id(), Some("urn:acme:switchyard"));
        assert_eq!(options.idp_initiated(), None);
        // signingCert and cert hold the same certificate: one IdP certificate.
        assert_eq!(options.describe_idp(None).unwrap().certificates.len(), 1);
    }

    #[test]
    fn several_certificates_for_a_rollover() {
        let (old, new) = (certificate(), certificate());
        let both = format!("{}\n{}", old.pem(), new.pem());
        for given in [
            json!({"signingCert": both}),
            json!({"signingCert": B64.encode(&both)}),
            json!({"signingCert": new.pem(), "cert": B64.encode(old.der())}),
        ] {
            let mut options = by_hand("");
            for (k, v) in given.as_object().unwrap() {
                options[k] = v.clone();
            }
            let idp = parsed(options).describe_idp(None).unwrap();
            let ders: Vec<&[u8]> = idp.certificates.iter().map(|c| c.der.as_slice()).collect();
            assert_eq!(ders.len(), 2, "{given}");
            assert!(ders.contains(&old.der().as_ref()) && ders.contains(&new.der().as_ref()));
            assert_eq!(
                idp.sso_redirect, idp.sso_post,
                "by hand: one URL, both bindings"
            );
            assert_eq!(idp.slo.as_deref(), Some("https://idp.acme.test/slo"));
            assert_eq!(idp.entity_id, None);
        }
    }

    #[test]
    fn accessors() {
        let cert = certificate().pem();
        let with = |extra: Value| {
            let mut options = by_hand(&cert);
            for (k, v) in extra.as_object().unwrap() {
                options[k] = v.clone();
            }
            parsed(options)
        };
        let plain = with(json!({}));
        assert!(!plain.allows_sha1());
        assert_eq!(plain.clock_skew_ms(), 60_000);
        assert_eq!(plain.idp_initiated(), None);
        assert_eq!(plain.sp_entity_id(), None);
        assert!(with(json!({"signatureAlgorithm": "rsa-sha1"})).allows_sha1());
        assert!(with(json!({"digestAlgorithm": "sha1"})).allows_sha1());
        assert!(
            !with(json!({"signatureAlgorithm": "rsa-sha512", "digestAlgorithm": "sha512"}))
                .allows_sha1()
        );
        assert_eq!(with(json!({"clock_skew_seconds": 0})).clock_skew_ms(), 0);
        assert_eq!(
            with(json!({"clock_skew_seconds": 600})).clock_skew_ms(),
            600_000
        );
        let entity = with(json!({"idpEntityId": "http://www.okta.com/exk1"}));
        assert_eq!(
            entity.describe_idp(None).unwrap().entity_id.as_deref(),
            Some("http://www.okta.com/exk1")
        );
        let initiated = with(
            json!({"idpinitiated": {"enabled": true, "client_id": "app1",
            "client_protocol": "oauth2", "client_authorizequery": "scope=openid"}}),
        );
        assert_eq!(
            initiated.idp_initiated(),
            Some(IdpInitiated {
                client_id: "app1".into(),
                client_authorizequery: Some("scope=openid".into())
            })
        );
        let disabled = with(json!({"idpinitiated": {"enabled": false, "client_id": "app1"}}));
        assert_eq!(disabled.idp_initiated(), None);
    }

    #[test]
    fn metadata_xml_must_describe_a_usable_idp() {
        let cert = certificate();
        let good = test_metadata("urn:acme:idp", &[cert.der()]);
        let idp = parsed(json!({"metadataXml": good}))
            .describe_idp(None)
            .unwrap();
        assert_eq!(idp.entity_id.as_deref(), Some("urn:acme:idp"));
        assert_eq!(
            idp.sso_redirect.as_deref(),
            Some("https://idp.acme.test/sso/redirect")
        );
        assert_eq!(
            idp.sso_post.as_deref(),
            Some("https://idp.acme.test/sso/post")
        );
        assert_eq!(idp.slo.as_deref(), Some("https://idp.acme.test/slo"));
        assert!(idp.wants_signed_requests);
        assert_eq!(idp.certificates[0].der, cert.der().to_vec());

        let key = r#"<md:KeyDescriptor use="signing">"#;
        let refusals = [
            ("<x/>".to_owned(), "is not SAML 2.0 metadata"),
            ("<EntityDescriptor".to_owned(), "is not well-formed XML"),
            (
                format!(
                    "<!DOCTYPE x [<!ENTITY e \"boom\">]>{}",
                    good.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "")
                ),
                "without a DTD",
            ),
            (
                good.replace("IDPSSODescriptor", "Extensions"),
                "no IDPSSODescriptor",
            ),
            (
                good.replace("SingleSignOnService", "NameIDMappingService"),
                "no SingleSignOnService",
            ),
            (
                good.replace(key, r#"<md:KeyDescriptor use="encryption">"#),
                "no usable signing certificate",
            ),
            (
                good.replace(&B64.encode(cert.der()), "bm90IGEgY2VydA=="),
                "not a valid X.509",
            ),
            (
                good.replace("https://idp.acme.test/sso/post", "javascript:alert(1)"),
                "must be an https URL",
            ),
            (
                format!(
                    "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">{}</md:EntitiesDescriptor>",
                    good.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "")
                ),
                "EntitiesDescriptor",
            ),
        ];
        for (xml, why) in refusals {
            let (field, reason) = refusal(Strategy::Saml, json!({"metadataXml": xml}));
            assert_eq!(field, "options.metadataXml");
            assert!(reason.contains(why), "{why}: {reason}");
        }
        // ADFS serves its metadata with a byte-order mark.
        let with_bom = format!("\u{feff}{good}");
        assert!(
            ConnectionOptions::parse(Strategy::Saml, map(json!({"metadataXml": with_bom}))).is_ok()
        );
        // A KeyDescriptor without `use` signs too.
        let no_use = good.replace(key, "<md:KeyDescriptor>");
        assert!(
            ConnectionOptions::parse(Strategy::Saml, map(json!({"metadataXml": no_use}))).is_ok()
        );
    }

    #[test]
    fn derived_certificate_options() {
        let (old, new) = (
            test_certificate(
                "old.acme.test",
                time::macros::datetime!(2027-01-01 0:00 UTC),
            ),
            certificate(),
        );
        let mut options = parsed(json!({
            "signInEndpoint": "https://idp.acme.test/sso",
            "signingCert": format!("{}{}", old.pem(), new.pem()),
            "thumbprints": ["stale"],
        }));
        options.derive_certificate_options(None, None);
        let sha1 = |der: &[u8]| {
            hex::encode(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                der,
            ))
        };
        assert_eq!(
            options.extra["thumbprints"],
            json!([sha1(old.der()), sha1(new.der())])
        );
        assert_eq!(options.extra["expires"], "2031-01-01T00:00:00.000Z");
        let listed = &options.extra["signing_certificates"];
        assert_eq!(listed[0]["not_after"], "2027-01-01T00:00:00.000Z");
        assert_eq!(listed[0]["subject"], "CN=old.acme.test");
        assert_eq!(
            listed[1]["thumbprint_sha256"].as_str().map(str::len),
            Some(64)
        );
        // metadataUrl alone: nothing known without a fetch, nothing stale kept.
        let mut by_url = parsed(json!({"metadataUrl": "https://idp.acme.test/md", "expires": "x"}));
        by_url.derive_certificate_options(None, None);
        assert!(!by_url.extra.contains_key("expires"));
        // What it served at this write is shown, and kept by an update
        // that leaves the URL alone; another URL forgets it.
        let served = test_metadata("urn:acme:idp", &[old.der()]);
        by_url.derive_certificate_options(None, Some(&served));
        assert_eq!(by_url.extra["thumbprints"], json!([sha1(old.der())]));
        assert_eq!(by_url.extra["expires"], "2027-01-01T00:00:00.000Z");
        let mut same = parsed(json!({"metadataUrl": "https://idp.acme.test/md", "expires": "x"}));
        same.derive_certificate_options(Some(&by_url), None);
        assert_eq!(same.extra["expires"], "2027-01-01T00:00:00.000Z");
        assert_eq!(
            same.extra["signing_certificates"],
            by_url.extra["signing_certificates"]
        );
        let mut moved = parsed(json!({"metadataUrl": "https://idp.acme.test/other"}));
        moved.derive_certificate_options(Some(&by_url), None);
        assert!(!moved.extra.contains_key("thumbprints"));
    }

    #[test]
    fn refusals() {
        let saml = |options| refusal(Strategy::Saml, options);
        assert_eq!(
            saml(json!({})),
            refused(
                "options.signInEndpoint",
                "is required (or options.metadataXml / options.metadataUrl)"
            )
        );
        assert_eq!(
            saml(json!({"signInEndpoint": "https://idp.acme.test/sso"})),
            refused(
                "options.signingCert",
                "is required (or options.metadataXml / options.metadataUrl)"
            )
        );
        let endpoint = "https://idp.acme.test/sso";
        assert_eq!(
            saml(json!({"signInEndpoint": endpoint, "signingCert": "bm90IGEgY2VydA=="})).0,
            "options.signingCert"
        );
        assert_eq!(
            saml(json!({"signInEndpoint": endpoint, "signingCert": "%%%"})),
            refused(
                "options.signingCert",
                "must be a PEM certificate, or a base64 PEM or DER one"
            )
        );
        assert_eq!(
            saml(json!({"signInEndpoint": endpoint,
                        "signingCert": "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----"})),
            refused("options.signingCert", "is not a PEM certificate")
        );
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        assert_eq!(
            saml(json!({"signInEndpoint": endpoint, "signingCert": key})),
            refused(
                "options.signingCert",
                "holds a PRIVATE KEY block: give the IdP's certificate only"
            )
        );
        let good = certificate().pem();
        assert_eq!(
            saml(
                json!({"signInEndpoint": endpoint, "signingCert": good, "cert": "bm90IGEgY2VydA=="})
            )
            .0,
            "options.cert"
        );
        assert_eq!(
            saml(json!({"metadataUrl": "http://idp.acme.test/metadata"})),
            refused("options.metadataUrl", "must be an https URL")
        );
        let metadata = test_metadata("urn:acme:idp", &[certificate().der()]);
        // signInEndpoint is checked even beside metadata.
        assert_eq!(
            saml(json!({"metadataXml": metadata, "signInEndpoint": "ftp://idp.acme.test"})),
            refused("options.signInEndpoint", "must be an https URL")
        );
        assert_eq!(
            saml(json!({"metadataXml": " "})),
            refused("options.metadataXml", "must not be empty")
        );
        let with = |key: &str, value: Value| {
            let mut options = by_hand(&good);
            options[key] = value;
            refusal(Strategy::Saml, options)
        };
        assert_eq!(
            with("signatureAlgorithm", json!("rsa-md5")),
            refused(
                "options.signatureAlgorithm",
                "must be one of: rsa-sha1, rsa-sha256, rsa-sha384, rsa-sha512"
            )
        );
        assert_eq!(
            with("digestAlgorithm", json!("md5")),
            refused(
                "options.digestAlgorithm",
                "must be one of: sha1, sha256, sha384, sha512"
            )
        );
        assert_eq!(
            with("protocolBinding", json!("HTTP-POST")).0,
            "options.protocolBinding"
        );
        assert_eq!(
            with("signSAMLRequest", json!("true")),
            refused("options.signSAMLRequest", "must be a boolean")
        );
        assert_eq!(
            with("domain_aliases", json!(["acme"])),
            refused(
                "options.domain_aliases[0]",
                "must be a domain name like example.com"
            )
        );
        assert_eq!(
            with("fieldsMap", json!({"email": 5})),
            refused(
                "options.fieldsMap.email",
                "must be a string or an array of strings"
            )
        );
        assert_eq!(
            with("fieldsMap", json!(["mail"])),
            refused("options.fieldsMap", "must be a map")
        );
        for skew in [json!(601), json!(-1), json!(1.5), json!("60")] {
            assert_eq!(
                with("clock_skew_seconds", skew),
                refused(
                    "options.clock_skew_seconds",
                    "must be a whole number of seconds from 0 to 600"
                )
            );
        }
        assert_eq!(
            with("idpinitiated", json!({"enabled": true})),
            refused(
                "options.idpinitiated.client_id",
                "is required when IdP-initiated login is enabled"
            )
        );
        assert_eq!(
            with(
                "idpinitiated",
                json!({"enabled": true, "client_id": "a", "client_protocol": "wsfed"})
            )
            .0,
            "options.idpinitiated.client_protocol"
        );
        assert_eq!(
            with("idpinitiated", json!({"enabled": "yes"})),
            refused("options.idpinitiated.enabled", "must be a boolean")
        );
        assert_eq!(
            with("entityId", json!("urn:acme sp")),
            refused("options.entityId", "must not contain whitespace")
        );
        assert_eq!(
            with("idpEntityId", json!("x".repeat(1025))),
            refused("options.idpEntityId", "must be at most 1024 characters")
        );
        assert_eq!(
            with("signOutEndpoint", json!("http://idp.acme.test/slo")),
            refused("options.signOutEndpoint", "must be an https URL")
        );
    }
}
