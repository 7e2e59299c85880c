use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use samael::crypto::{CertificateDer, UrlVerifier};

use super::*;
use crate::connectors::saml::connector::tests::rsa_key;
use crate::connectors::saml::sp::SpKey;
use crate::connectors::saml::validate::{LogoutExpectations, validate_logout_response};
use crate::model::connection::{SamlDigestAlgorithm, SamlSignatureAlgorithm};

const SLO: &str = "https://idp.acme.test/slo?tenant=acme";
const SP_ENTITY_ID: &str = "urn:auth0:sy:acme-saml";
const IDP_ENTITY_ID: &str = "https://idp.acme.test";
const LOGOUT_URL: &str = "https://sy.example/logout";

fn subject() -> SamlSessionSubject {
    SamlSessionSubject {
        connection_id: "con_1".into(),
        name_id: "ana&<co>@acme.test".into(),
        name_id_format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into()),
        name_qualifier: Some("https://idp.acme.test".into()),
        sp_name_qualifier: Some(SP_ENTITY_ID.into()),
        session_index: Some("_session\"7".into()),
    }
}

fn message() -> LogoutMessage {
    LogoutMessage {
        id: "_logout1".into(),
        issue_instant_ms: 1_800_000_000_000,
        destination: SLO.into(),
        issuer: SP_ENTITY_ID.into(),
        subject: subject(),
    }
}

fn signing(key: &SpKey) -> RequestSigning {
    RequestSigning {
        key: key.clone(),
        signature: SamlSignatureAlgorithm::RsaSha256,
        digest: SamlDigestAlgorithm::Sha256,
    }
}

fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Checks every field of a LogoutRequest's XML.
fn assert_is_the_request(xml: &str) {
    let document = roxmltree::Document::parse(xml).unwrap();
    let root = document.root_element();
    assert!(root.has_tag_name((NS_PROTOCOL, "LogoutRequest")), "{xml}");
    assert_eq!(root.attribute("ID"), Some("_logout1"));
    assert_eq!(root.attribute("Version"), Some("2.0"));
    assert_eq!(
        root.attribute("IssueInstant"),
        Some("2027-01-15T08:00:00.000Z"),
        "the project's clock"
    );
    assert_eq!(root.attribute("Destination"), Some(SLO));
    let child = |name: &str| {
        root.children()
            .find(|n| n.is_element() && n.tag_name().name() == name)
            .unwrap()
    };
    let issuer = child("Issuer");
    assert_eq!(issuer.tag_name().namespace(), Some(NS_ASSERTION));
    assert_eq!(issuer.text(), Some(SP_ENTITY_ID));
    let name_id = child("NameID");
    assert_eq!(name_id.tag_name().namespace(), Some(NS_ASSERTION));
    assert_eq!(name_id.text(), Some("ana&<co>@acme.test"));
    assert_eq!(
        name_id.attribute("Format"),
        Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
    );
    assert_eq!(
        name_id.attribute("NameQualifier"),
        Some("https://idp.acme.test")
    );
    assert_eq!(name_id.attribute("SPNameQualifier"), Some(SP_ENTITY_ID));
    let index = child("SessionIndex");
    assert_eq!(index.tag_name().namespace(), Some(NS_PROTOCOL));
    assert_eq!(index.text(), Some("_session\"7"));
}

#[test]
fn a_logout_request_leaves_out_what_the_assertion_did_not_say() {
    let mut bare = message();
    bare.subject.name_id_format = None;
    bare.subject.name_qualifier = None;
    bare.subject.sp_name_qualifier = None;
    bare.subject.session_index = None;
    let xml = bare.xml(None).unwrap();
    assert!(!xml.contains("Format="), "{xml}");
    assert!(!xml.contains("Qualifier"), "{xml}");
    assert!(!xml.contains("SessionIndex"), "{xml}");
    assert!(
        xml.contains("<saml:NameID>ana&amp;&lt;co&gt;@acme.test</saml:NameID>"),
        "{xml}"
    );
}

#[test]
fn the_redirect_carries_the_logout_request_signed_over_the_query() {
    let key = rsa_key();
    let Begin::Redirect(url) = outgoing(
        &message(),
        SamlProtocolBinding::HttpRedirect,
        "r3lay",
        &signing(&key),
    )
    .unwrap() else {
        panic!("a redirect")
    };
    let url = url::Url::parse(&url).unwrap();
    assert!(
        url.as_str()
            .starts_with("https://idp.acme.test/slo?tenant=acme&SAMLRequest="),
        "{url}"
    );
    assert_eq!(query_param(&url, "RelayState").as_deref(), Some("r3lay"));
    let deflated = STANDARD
        .decode(query_param(&url, "SAMLRequest").unwrap())
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    assert_is_the_request(&xml);
    assert!(
        !xml.contains("Signature"),
        "signed in the query only: {xml}"
    );

    // The signature verifies with the SP certificate, over the octets sent.
    let query = url.query().unwrap();
    let signed = &query[query.find("SAMLRequest=").unwrap()..query.find("&Signature=").unwrap()];
    let signature = STANDARD
        .decode(query_param(&url, "Signature").unwrap())
        .unwrap();
    let certificate = x509_parser::parse_x509_certificate(&key.certificate_der)
        .unwrap()
        .1;
    let public_key = UnparsedPublicKey::new(
        &RSA_PKCS1_2048_8192_SHA256,
        certificate.public_key().subject_public_key.data.to_vec(),
    );
    public_key.verify(signed.as_bytes(), &signature).unwrap();
    assert!(
        public_key
            .verify(signed.replace("r3lay", "other").as_bytes(), &signature)
            .is_err()
    );
    let verifier =
        UrlVerifier::from_x509(&CertificateDer::from(key.certificate_der.clone())).unwrap();
    assert!(verifier.verify_signed_request_url(&url).unwrap());
}

#[test]
fn the_post_carries_the_logout_request_with_an_enveloped_signature() {
    let key = rsa_key();
    let Begin::AutoPost { action, fields } = outgoing(
        &message(),
        SamlProtocolBinding::HttpPost,
        "r3lay",
        &signing(&key),
    )
    .unwrap() else {
        panic!("a form post")
    };
    assert_eq!(action, SLO);
    assert_eq!(fields[1], ("RelayState".into(), "r3lay".into()));
    let xml = String::from_utf8(STANDARD.decode(&fields[0].1).unwrap()).unwrap();
    assert_is_the_request(&xml);
    let certificate = CertificateDer::from(key.certificate_der.clone());
    Crypto::verify_signed_xml(&xml, &certificate, Some("ID")).unwrap();
    let tampered = xml.replace("_session", "_other");
    assert!(Crypto::verify_signed_xml(&tampered, &certificate, Some("ID")).is_err());
    let other = CertificateDer::from(rsa_key().certificate_der);
    assert!(Crypto::verify_signed_xml(&xml, &other, Some("ID")).is_err());
}

/// A LogoutResponse as an IdP writes one.
fn logout_response(in_response_to: &str, status: &str, signature: Option<&str>) -> String {
    format!(
        r#"<samlp:LogoutResponse xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="_resp1" Version="2.0" IssueInstant="2027-01-15T08:00:01Z" Destination="{LOGOUT_URL}" InResponseTo="{in_response_to}"><saml:Issuer>{IDP_ENTITY_ID}</saml:Issuer>{}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:{status}"/></samlp:Status></samlp:LogoutResponse>"#,
        signature.unwrap_or_default()
    )
}

fn signed_logout_response(key: &SpKey, in_response_to: &str) -> String {
    let template = signature_template("_resp1", &signing(key))
        .to_string()
        .unwrap();
    Crypto::sign_xml(
        logout_response(in_response_to, "Success", Some(&template)),
        &key.private_key_pkcs8,
    )
    .unwrap()
}

fn check(xml: &str, certificates: &[Vec<u8>]) -> Result<Option<SamlError>, SamlError> {
    validate_logout_response(
        xml,
        &LogoutExpectations {
            idp_entity_id: Some(IDP_ENTITY_ID),
            idp_certificates: certificates,
            request_id: "_logout1",
            destination: LOGOUT_URL,
            allow_sha1: false,
        },
    )
}

#[test]
fn a_logout_response_answers_the_request_from_the_idp() {
    let idp = rsa_key();
    let certificates = vec![idp.certificate_der.clone()];
    assert_eq!(
        check(&logout_response("_logout1", "Success", None), &certificates),
        Ok(None)
    );
    assert!(matches!(
        check(
            &logout_response("_logout1", "Requester", None),
            &certificates
        ),
        Ok(Some(SamlError::Status { .. }))
    ));
    assert!(matches!(
        check(&logout_response("_other", "Success", None), &certificates),
        Err(SamlError::InResponseTo { .. })
    ));
    let elsewhere =
        logout_response("_logout1", "Success", None).replace(LOGOUT_URL, "https://evil.test/");
    assert!(matches!(
        check(&elsewhere, &certificates),
        Err(SamlError::Destination { .. })
    ));
    let other_issuer =
        logout_response("_logout1", "Success", None).replace(IDP_ENTITY_ID, "https://evil.test");
    assert!(matches!(
        check(&other_issuer, &certificates),
        Err(SamlError::Issuer { .. })
    ));
    let dtd = format!(
        "<!DOCTYPE x [<!ENTITY a \"b\">]>{}",
        logout_response("_logout1", "Success", None)
    );
    assert_eq!(check(&dtd, &certificates), Err(SamlError::Dtd));

    // Signed: verified with the IdP's certificates, and only what is signed is read.
    let signed = signed_logout_response(&idp, "_logout1");
    assert_eq!(check(&signed, &certificates), Ok(None));
    assert!(matches!(
        check(&signed, &[rsa_key().certificate_der]),
        Err(SamlError::BadSignature(_))
    ));
    let tampered = signed.replace("_logout1", "_logout2");
    assert!(check(&tampered, &certificates).is_err());
    let answers_another = signed_logout_response(&idp, "_another");
    assert!(matches!(
        check(&answers_another, &certificates),
        Err(SamlError::InResponseTo { .. })
    ));
}

/// A LogoutResponse by HTTP-Redirect, signed by `key` over its query.
fn redirected_response(key: &SpKey, relay_state: &str) -> String {
    let url = redirect_url(
        LOGOUT_URL,
        "SAMLResponse",
        &logout_response("_logout1", "Success", None),
        relay_state,
        Some(&signing(key)),
    )
    .unwrap();
    url::Url::parse(&url).unwrap().query().unwrap().to_owned()
}

#[test]
fn a_redirected_logout_response_is_checked_over_the_query_as_sent() {
    let idp = rsa_key();
    let certificates = vec![idp.certificate_der.clone()];
    let query = redirected_response(&idp, "r3lay/1");
    assert_eq!(
        verify_query_signature(&query, &certificates, false),
        Ok(true)
    );
    // A rollover: any of the IdP's certificates.
    let both = vec![rsa_key().certificate_der, idp.certificate_der.clone()];
    assert_eq!(verify_query_signature(&query, &both, false), Ok(true));
    assert!(matches!(
        verify_query_signature(&query, &[rsa_key().certificate_der], false),
        Err(SamlError::BadSignature(_))
    ));
    let other_relay = query.replace("r3lay%2F1", "r3lay%2F2");
    assert!(matches!(
        verify_query_signature(&other_relay, &certificates, false),
        Err(SamlError::BadSignature(_))
    ));
    let repeated = format!("{query}&RelayState=x");
    assert!(matches!(
        verify_query_signature(&repeated, &certificates, false),
        Err(SamlError::Structure(_))
    ));
    let unsigned = &query[..query.find("&SigAlg=").unwrap()];
    assert_eq!(
        verify_query_signature(unsigned, &certificates, false),
        Ok(false)
    );

    // The field inflates to the response.
    let field = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "SAMLResponse")
        .unwrap()
        .1
        .into_owned();
    let xml = decode_response(&field, true).unwrap();
    assert_eq!(check(&xml, &certificates), Ok(None));
    assert!(decode_response("not base64!", true).is_err());
}
