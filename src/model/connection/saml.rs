//! Options of an enterprise SAML 2.0 connection (`strategy: samlp`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::options::{check_domain_aliases, check_optional_url, field};
use crate::model::ValidationError;
use crate::model::client::wire_enum;

wire_enum!(
    /// How Switchyard signs its AuthnRequests (`signSAMLRequest`).
    SamlSignatureAlgorithm {
        RsaSha256 = "rsa-sha256",
        RsaSha384 = "rsa-sha384",
        RsaSha512 = "rsa-sha512",
    }
);

wire_enum!(
    SamlDigestAlgorithm {
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
    /// The IdP's signing certificate, PEM or base64 DER.
    #[serde(
        rename = "signingCert",
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub signing_cert: Option<String>,
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
    /// Other options (`debug`, `idpinitiated`, …), kept as given.
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

/// Auth0's `idpinitiated`, when enabled: unsolicited responses are
/// accepted and the user goes on to this client's `initiate_login_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpInitiated {
    pub client_id: String,
    /// Auth0's `client_authorizequery`, kept as given.
    pub client_authorizequery: Option<String>,
}

impl SamlOptions {
    /// Whether the IdP may sign with SHA-1 (refused unless the connection
    /// says so explicitly).
    pub fn allows_sha1(&self) -> bool {
        false
    }

    /// The clock skew allowed on a response's time conditions.
    pub fn clock_skew_ms(&self) -> i64 {
        60_000
    }

    /// IdP-initiated SSO, if the connection enables it.
    pub fn idp_initiated(&self) -> Option<IdpInitiated> {
        None
    }

    /// Auth0's `entityId`: the SP entity ID, instead of `urn:auth0:<tenant>:<connection>`.
    pub fn sp_entity_id(&self) -> Option<&str> {
        None
    }

    pub(super) fn check(&self) -> Result<(), ValidationError> {
        // metadataUrl is checked only when there is no metadataXml, as before
        // the options were typed (the XML wins).
        let has_metadata = self.metadata_xml.is_some()
            || check_optional_url("metadataUrl", self.metadata_url.as_deref())?.is_some();
        let sign_in = check_optional_url("signInEndpoint", self.sign_in_endpoint.as_deref())?;
        if !has_metadata {
            if sign_in.is_none() {
                return Err(ValidationError::new(
                    "options.signInEndpoint",
                    "is required (or options.metadataXml / options.metadataUrl)",
                ));
            }
            match &self.signing_cert {
                None => {
                    return Err(ValidationError::new(
                        "options.signingCert",
                        "is required (or options.metadataXml / options.metadataUrl)",
                    ));
                }
                Some(cert) => check_certificate("options.signingCert", cert)?,
            }
        }
        check_domain_aliases(self.domain_aliases.as_deref())
    }
}

/// An X.509 certificate given as PEM or as base64 DER (Auth0 accepts both).
fn check_certificate(field: &str, value: &str) -> Result<(), ValidationError> {
    use base64::Engine;
    let der = if value.contains("-----BEGIN") {
        x509_parser::pem::parse_x509_pem(value.as_bytes())
            .map(|(_, pem)| pem.contents)
            .map_err(|_| ValidationError::new(field, "is not a PEM certificate"))?
    } else {
        let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| ValidationError::new(field, "must be a PEM or base64 DER certificate"))?
    };
    x509_parser::parse_x509_certificate(&der)
        .map(|_| ())
        .map_err(|_| ValidationError::new(field, "is not a valid X.509 certificate"))
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use serde_json::json;

    use super::super::options::tests::{map, refusal, refused};
    use super::super::{ConnectionOptions, Strategy};
    use super::*;

    fn certificate() -> rcgen::Certificate {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec!["idp.acme.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
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
        let der = base64::engine::general_purpose::STANDARD.encode(cert.der());
        for given in [der, cert.pem()] {
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
        }
        // Metadata alone describes the IdP.
        for metadata in [
            json!({"metadataXml": "<EntityDescriptor/>"}),
            json!({"metadataUrl": "https://idp.acme.test/metadata"}),
            json!({"metadataXml": "<EntityDescriptor/>", "metadataUrl": "not checked"}),
        ] {
            assert!(
                ConnectionOptions::parse(Strategy::Saml, map(metadata.clone())).is_ok(),
                "{metadata}"
            );
        }
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
            saml(json!({"signInEndpoint": endpoint, "signingCert": "bm90IGEgY2VydA=="})),
            refused("options.signingCert", "is not a valid X.509 certificate")
        );
        assert_eq!(
            saml(json!({"signInEndpoint": endpoint, "signingCert": "%%%"})),
            refused(
                "options.signingCert",
                "must be a PEM or base64 DER certificate"
            )
        );
        assert_eq!(
            saml(json!({"signInEndpoint": endpoint,
                        "signingCert": "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----"})),
            refused("options.signingCert", "is not a PEM certificate")
        );
        assert_eq!(
            saml(json!({"metadataUrl": "http://idp.acme.test/metadata"})),
            refused("options.metadataUrl", "must be an https URL")
        );
        // signInEndpoint is checked even beside metadata.
        assert_eq!(
            saml(json!({"metadataXml": "<x/>", "signInEndpoint": "ftp://idp.acme.test"})),
            refused("options.signInEndpoint", "must be an https URL")
        );
        assert_eq!(
            saml(json!({"metadataXml": " "})),
            refused("options.metadataXml", "must not be empty")
        );
        let with = |key: &str, value: Value| {
            let mut options = json!({"metadataXml": "<x/>"});
            options[key] = value;
            refusal(Strategy::Saml, options)
        };
        assert_eq!(
            with("signatureAlgorithm", json!("rsa-sha1")),
            refused(
                "options.signatureAlgorithm",
                "must be one of: rsa-sha256, rsa-sha384, rsa-sha512"
            )
        );
        assert_eq!(
            with("digestAlgorithm", json!("sha1")),
            refused(
                "options.digestAlgorithm",
                "must be one of: sha256, sha384, sha512"
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
    }
}
