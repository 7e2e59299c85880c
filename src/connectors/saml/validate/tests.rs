//! Responses built as strings, signed by xmlsec through samael with keys
//! made here, then forged the ways published attacks do: each forgery must
//! be refused, for the reason it is.

use std::ops::Range;
use std::sync::OnceLock;

use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};
use openssl::symm::Cipher;
use openssl::x509::{X509, X509NameBuilder};
use samael::crypto::{Crypto, CryptoProvider};

use super::*;

const IDP: &str = "https://idp.example/metadata";
const SP: &str = "urn:auth0:acme:okta";
const ACS: &str = "https://sw.example/login/callback?connection=okta";
const REQUEST: &str = "_req0123456789";
/// 2026-12-07T04:00:00Z.
const NOW: i64 = 1_796_616_000_000;
const SKEW: i64 = 60_000;
const MINUTE: i64 = 60_000;

const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

struct Keys {
    pkcs8: Vec<u8>,
    certificate: Vec<u8>,
    key: PKey<Private>,
}

fn make_keys(common_name: &str) -> Keys {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", common_name).unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    let serial = BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap();
    builder.set_serial_number(&serial).unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::from_unix(1_700_000_000).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::from_unix(2_100_000_000).unwrap())
        .unwrap();
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    Keys {
        pkcs8: key.private_key_to_pkcs8().unwrap(),
        certificate: builder.build().to_der().unwrap(),
        key,
    }
}

/// The IdP's signing key.
fn idp() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| make_keys("idp"))
}

/// Someone else's key (an attacker's, or the IdP's previous one).
fn other() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| make_keys("other"))
}

/// The SP's encryption key.
fn sp() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| make_keys("sp"))
}

fn idp_certificates() -> &'static [Vec<u8>] {
    static CERTIFICATES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CERTIFICATES.get_or_init(|| vec![idp().certificate.clone()])
}

fn sp_keys() -> &'static [Vec<u8>] {
    static KEYS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    KEYS.get_or_init(|| vec![sp().pkcs8.clone()])
}

fn expect() -> Expectations<'static> {
    Expectations {
        idp_entity_id: Some(IDP),
        idp_certificates: idp_certificates(),
        sp_entity_id: SP,
        acs_url: ACS,
        in_response_to: Some(REQUEST),
        now_ms: NOW,
        skew_ms: SKEW,
        allow_sha1: false,
        decryption_keys: sp_keys(),
    }
}

/// What the IdP writes into a response.
#[derive(Clone)]
struct Fx {
    response_issuer: Option<String>,
    issuer: String,
    destination: Option<String>,
    in_response_to: Option<String>,
    recipient: String,
    audience: String,
    name_id: String,
    issued: i64,
    not_before: i64,
    not_on_or_after: i64,
    confirmation_ends: i64,
    status: String,
    signature_method: &'static str,
    digest_method: &'static str,
}

impl Default for Fx {
    fn default() -> Self {
        Fx {
            response_issuer: Some(IDP.into()),
            issuer: IDP.into(),
            destination: Some(ACS.into()),
            in_response_to: Some(REQUEST.into()),
            recipient: ACS.into(),
            audience: SP.into(),
            name_id: "ana@metahexa.example".into(),
            issued: NOW - 5_000,
            not_before: NOW - 5_000,
            not_on_or_after: NOW + 10 * MINUTE,
            confirmation_ends: NOW + 5 * MINUTE,
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            signature_method: RSA_SHA256,
            digest_method: SHA256,
        }
    }
}

fn iso(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn signature_template(fx: &Fx, id: &str, signer: &Keys) -> String {
    let certificate = base64::engine::general_purpose::STANDARD.encode(&signer.certificate);
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##,
        fx.signature_method, fx.digest_method
    )
}

/// The assertion `_a1`, with a signature template when `signer` is given.
fn assertion_xml(fx: &Fx, signer: Option<&Keys>) -> String {
    let template = signer
        .map(|keys| signature_template(fx, "_a1", keys))
        .unwrap_or_default();
    let in_response_to = fx
        .in_response_to
        .as_ref()
        .map(|id| format!(r#" InResponseTo="{id}""#))
        .unwrap_or_default();
    format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_a1" Version="2.0" IssueInstant="{issued}"><saml:Issuer>{issuer}</saml:Issuer>{template}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData{in_response_to} NotOnOrAfter="{confirmation_ends}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{not_before}" NotOnOrAfter="{not_on_or_after}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{issued}" SessionIndex="_session1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue xsi:type="xs:string">ana@metahexa.example</saml:AttributeValue></saml:Attribute><saml:Attribute Name="groups"><saml:AttributeValue>staff</saml:AttributeValue><saml:AttributeValue>admins</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>"#,
        issued = iso(fx.issued),
        issuer = fx.issuer,
        name_id = fx.name_id,
        confirmation_ends = iso(fx.confirmation_ends),
        recipient = xml_escape(&fx.recipient),
        not_before = iso(fx.not_before),
        not_on_or_after = iso(fx.not_on_or_after),
        audience = fx.audience,
    )
}

/// The Response `_r1` around `content`, with a signature template when
/// `signer` is given.
fn response_xml(fx: &Fx, content: &str, signer: Option<&Keys>) -> String {
    let template = signer
        .map(|keys| signature_template(fx, "_r1", keys))
        .unwrap_or_default();
    let attribute = |name: &str, value: &Option<String>| {
        value
            .as_ref()
            .map(|v| format!(r#" {name}="{}""#, xml_escape(v)))
            .unwrap_or_default()
    };
    let issuer = fx
        .response_issuer
        .as_ref()
        .map(|issuer| format!("<saml:Issuer>{issuer}</saml:Issuer>"))
        .unwrap_or_default();
    format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="{}"{}{}>{issuer}{template}<samlp:Status><samlp:StatusCode Value="{}"/></samlp:Status>{content}</samlp:Response>"#,
        iso(fx.issued),
        attribute("Destination", &fx.destination),
        attribute("InResponseTo", &fx.in_response_to),
        fx.status,
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;")
}

/// Signs the first signature template of `xml` with `keys`.
fn sign(xml: &str, keys: &Keys) -> String {
    Crypto::sign_xml(xml, &keys.pkcs8).unwrap()
}

/// A Response whose assertion is signed by the IdP.
fn signed_assertion(fx: &Fx) -> String {
    sign(
        &response_xml(fx, &assertion_xml(fx, Some(idp())), None),
        idp(),
    )
}

/// A signed Response around an unsigned assertion.
fn signed_response(fx: &Fx) -> String {
    sign(
        &response_xml(fx, &assertion_xml(fx, None), Some(idp())),
        idp(),
    )
}

fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

fn run(xml: &str) -> Result<Verified, SamlError> {
    validate(&b64(xml), &expect())
}

fn run_with(
    xml: &str,
    adjust: impl FnOnce(&mut Expectations<'static>),
) -> Result<Verified, SamlError> {
    let mut expectations = expect();
    adjust(&mut expectations);
    validate(&b64(xml), &expectations)
}

/// The byte range of the `nth` element `ns:name` of `xml`.
fn range(xml: &str, ns: &str, name: &str, nth: usize) -> Range<usize> {
    let document = Document::parse(xml).unwrap();
    document
        .descendants()
        .filter(|n| is(*n, ns, name))
        .nth(nth)
        .unwrap_or_else(|| panic!("no {name} #{nth}"))
        .range()
}

fn splice(xml: &str, at: Range<usize>, with: &str) -> String {
    format!("{}{with}{}", &xml[..at.start], &xml[at.end..])
}

/// `xml` with `text` replacing the content of its `nth` `ns:name`.
fn set_text(xml: &str, ns: &str, name: &str, nth: usize, text: &str) -> String {
    let element = range(xml, ns, name, nth);
    let start = element.start + xml[element.clone()].find('>').unwrap() + 1;
    let end = element.start + xml[element.clone()].rfind('<').unwrap();
    splice(xml, start..end, text)
}

/// An element's text without its direct `ds:Signature` child.
fn without_signature(element: &str) -> String {
    let document = Document::parse(element).unwrap();
    let signature = elements(document.root_element())
        .find(|n| is(*n, NS_DSIG, "Signature"))
        .unwrap()
        .range();
    splice(element, signature, "")
}

/// The attacker's version of an assertion: another subject, another ID.
fn evil(assertion: &str) -> String {
    assertion
        .replace(
            ">ana@metahexa.example</saml:NameID>",
            ">admin@metahexa.example</saml:NameID>",
        )
        .replace(r#"ID="_a1""#, r#"ID="_evil""#)
}

fn replace_last(xml: &str, from: &str, to: &str) -> String {
    let at = xml.rfind(from).unwrap();
    splice(xml, at..at + from.len(), to)
}

fn insert_before_last(xml: &str, marker: &str, insert: &str) -> String {
    let at = xml.rfind(marker).unwrap();
    splice(xml, at..at, insert)
}

/// Refused before any signature is checked, for the reason `why` names.
fn assert_structure(result: Result<Verified, SamlError>, why: &str) {
    match result {
        Err(SamlError::Structure(reason)) if reason.contains(why) => {}
        other => panic!("expected a refused structure ({why}), got {other:?}"),
    }
}

// ---- accepted --------------------------------------------------------------

#[test]
fn a_signed_assertion_is_accepted_with_its_values() {
    let verified = run(&signed_assertion(&Fx::default())).unwrap();
    assert_eq!(verified.assertion_id, "_a1");
    assert_eq!(verified.name_id, "ana@metahexa.example");
    assert_eq!(
        verified.name_id_format.as_deref(),
        Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
    );
    assert_eq!(verified.session_index.as_deref(), Some("_session1"));
    assert_eq!(verified.attributes["email"], ["ana@metahexa.example"]);
    assert_eq!(verified.attributes["groups"], ["staff", "admins"]);
    // The bearer confirmation ends first: it bounds the replay cache.
    assert_eq!(verified.expires_at_ms, NOW + 5 * MINUTE + SKEW);
}

#[test]
fn a_signed_response_is_accepted() {
    let verified = run(&signed_response(&Fx::default())).unwrap();
    assert_eq!(verified.name_id, "ana@metahexa.example");
}

#[test]
fn a_response_signed_twice_is_accepted() {
    let fx = Fx::default();
    let assertion_signed = signed_assertion(&fx);
    let template = signature_template(&fx, "_r1", idp());
    let at = assertion_signed.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    let both = sign(&splice(&assertion_signed, at..at, &template), idp());
    assert_eq!(
        Document::parse(&both)
            .unwrap()
            .descendants()
            .filter(|n| is(*n, NS_DSIG, "Signature"))
            .count(),
        2
    );
    assert_eq!(run(&both).unwrap().name_id, "ana@metahexa.example");
}

#[test]
fn the_earliest_not_on_or_after_bounds_the_replay_cache() {
    let fx = Fx {
        not_on_or_after: NOW + 3 * MINUTE,
        ..Fx::default()
    };
    let verified = run(&signed_assertion(&fx)).unwrap();
    assert_eq!(verified.expires_at_ms, NOW + 3 * MINUTE + SKEW);
}

#[test]
fn during_a_rollover_either_certificate_verifies() {
    let certificates = vec![other().certificate.clone(), idp().certificate.clone()];
    let xml = signed_assertion(&Fx::default());
    let verified = run_with(&xml, |e| {
        e.idp_certificates = Box::leak(certificates.into_boxed_slice())
    })
    .unwrap();
    assert_eq!(verified.name_id, "ana@metahexa.example");
}

#[test]
fn an_unsolicited_response_is_accepted_when_one_is_expected() {
    let fx = Fx {
        in_response_to: None,
        ..Fx::default()
    };
    let verified = run_with(&signed_assertion(&fx), |e| e.in_response_to = None).unwrap();
    assert_eq!(verified.name_id, "ana@metahexa.example");
}

#[test]
fn without_an_idp_entity_id_the_issuer_is_not_compared() {
    let fx = Fx {
        issuer: "https://elsewhere.example".into(),
        response_issuer: None,
        ..Fx::default()
    };
    assert!(run_with(&signed_assertion(&fx), |e| e.idp_entity_id = None).is_ok());
}

#[test]
fn an_unsigned_response_needs_no_destination() {
    let fx = Fx {
        destination: None,
        ..Fx::default()
    };
    assert!(run(&signed_assertion(&fx)).is_ok());
}

#[test]
fn base64_with_line_breaks_and_a_utf8_declaration_is_read() {
    let xml = signed_assertion(&Fx::default());
    let body = xml
        .trim_start_matches(|c| c != '>')
        .get(1..)
        .unwrap()
        .trim_start();
    let declared = format!(r#"<?xml version="1.0" encoding="UTF-8"?>{body}"#);
    let wrapped: String = b64(&declared)
        .as_bytes()
        .chunks(76)
        .map(|line| format!("{}\r\n", std::str::from_utf8(line).unwrap()))
        .collect();
    assert!(validate(&wrapped, &expect()).is_ok());
}

// ---- XML signature wrapping (SAMLRaider's XSW1–XSW8) ------------------------

/// XSW1 and XSW2: the signed Response, unsigned, copied to where `at`
/// says (given its Signature's range); the root Response, with new IDs and
/// another subject, becomes the attacker's.
fn wrap_response(at: impl Fn(Range<usize>) -> usize) -> String {
    let signed = signed_response(&Fx::default());
    let original = without_signature(&signed[range(&signed, NS_PROTOCOL, "Response", 0)]);
    let position = at(range(&signed, NS_DSIG, "Signature", 0));
    let forged = splice(&signed, position..position, &original);
    let forged = forged.replacen(r#"ID="_r1""#, r#"ID="_evil""#, 1);
    let forged = replace_last(
        &forged,
        ">ana@metahexa.example<",
        ">admin@metahexa.example<",
    );
    replace_last(&forged, r#"ID="_a1""#, r#"ID="_evil_a1""#)
}

/// XSW1: the copy inside the Response's Signature.
#[test]
fn xsw1_response_copied_into_its_signature_is_refused() {
    let forged = wrap_response(|signature| signature.end - "</ds:Signature>".len());
    assert_structure(run(&forged), "2 Response elements");
}

/// XSW2: the copy before the Signature, as its sibling.
#[test]
fn xsw2_response_copied_beside_its_signature_is_refused() {
    let forged = wrap_response(|signature| signature.start);
    assert_structure(run(&forged), "2 Response elements");
}

/// XSW3: an evil assertion before the signed one.
#[test]
fn xsw3_evil_assertion_before_the_signed_one_is_refused() {
    let signed = signed_assertion(&Fx::default());
    let at = range(&signed, NS_ASSERTION, "Assertion", 0);
    let forged_assertion = evil(&without_signature(&signed[at.clone()]));
    assert_structure(
        run(&splice(&signed, at.start..at.start, &forged_assertion)),
        "2 assertions in the Response",
    );
}

/// XSW4: the signed assertion inside the evil one.
#[test]
fn xsw4_signed_assertion_inside_the_evil_one_is_refused() {
    let signed = signed_assertion(&Fx::default());
    let at = range(&signed, NS_ASSERTION, "Assertion", 0);
    let original = &signed[at.clone()];
    let wrapper = insert_before_last(
        &evil(&without_signature(original)),
        "</saml:Assertion>",
        original,
    );
    assert_structure(
        run(&splice(&signed, at, &wrapper)),
        "2 assertions in the Response",
    );
}

/// XSW5: the signature stays in the changed assertion; an unsigned copy of
/// the original goes to the end of the Response.
#[test]
fn xsw5_copy_of_the_original_at_the_end_is_refused() {
    let signed = signed_assertion(&Fx::default());
    let at = range(&signed, NS_ASSERTION, "Assertion", 0);
    let original = signed[at.clone()].to_owned();
    let forged = splice(&signed, at, &evil(&original));
    let forged = insert_before_last(&forged, "</samlp:Response>", &without_signature(&original));
    assert_structure(run(&forged), "2 assertions in the Response");
}

/// XSW6: the original, unsigned, inside the changed assertion's Signature.
#[test]
fn xsw6_copy_of_the_original_inside_the_signature_is_refused() {
    let signed = signed_assertion(&Fx::default());
    let at = range(&signed, NS_ASSERTION, "Assertion", 0);
    let original = signed[at.clone()].to_owned();
    let forged_assertion = insert_before_last(
        &evil(&original),
        "</ds:Signature>",
        &without_signature(&original),
    );
    assert_structure(
        run(&splice(&signed, at, &forged_assertion)),
        "2 assertions in the Response",
    );
}

/// XSW7: the signed assertion in an Extensions element, the evil one in
/// its place.
#[test]
fn xsw7_signed_assertion_in_extensions_is_refused() {
    let signed = signed_assertion(&Fx::default());
    let at = range(&signed, NS_ASSERTION, "Assertion", 0);
    let original = signed[at.clone()].to_owned();
    let forged = splice(&signed, at, &evil(&without_signature(&original)));
    let issuer_end = forged.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    let extensions = format!("<samlp:Extensions>{original}</samlp:Extensions>");
    assert_structure(
        run(&splice(&forged, issuer_end..issuer_end, &extensions)),
        "2 assertions in the Response",
    );
}

/// XSW8: the original, unsigned, in a ds:Object of the changed assertion's
/// Signature.
#[test]
fn xsw8_copy_of_the_original_in_a_signature_object_is_refused() {
    let signed = signed_assertion(&Fx::default());
    let at = range(&signed, NS_ASSERTION, "Assertion", 0);
    let original = signed[at.clone()].to_owned();
    let object = format!("<ds:Object>{}</ds:Object>", without_signature(&original));
    let forged_assertion = insert_before_last(&evil(&original), "</ds:Signature>", &object);
    assert_structure(
        run(&splice(&signed, at, &forged_assertion)),
        "2 assertions in the Response",
    );
}

#[test]
fn a_signature_moved_out_of_the_assertion_is_refused() {
    let signed = signed_assertion(&Fx::default());
    let signature = range(&signed, NS_DSIG, "Signature", 0);
    let moved = signed[signature.clone()].to_owned();
    let without = splice(&signed, signature, "");
    // Now a child of the Response, still naming the assertion.
    let issuer_end = without.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    assert_structure(
        run(&splice(&without, issuer_end..issuer_end, &moved)),
        "references another element",
    );
    // Deeper inside the assertion it signs.
    let subject = without.find("<saml:Subject>").unwrap() + "<saml:Subject>".len();
    assert_structure(
        run(&splice(&without, subject..subject, &moved)),
        "not a child of the Response or of the Assertion",
    );
}

#[test]
fn a_second_assertion_is_refused() {
    let signed = signed_assertion(&Fx::default());
    let second = evil(&assertion_xml(&Fx::default(), None));
    assert_structure(
        run(&insert_before_last(&signed, "</samlp:Response>", &second)),
        "2 assertions in the Response",
    );
}

#[test]
fn duplicate_ids_are_refused() {
    let signed = signed_assertion(&Fx::default());
    let forged = signed.replacen(r#"ID="_r1""#, r#"ID="_a1""#, 1);
    assert_structure(run(&forged), "two elements with ID _a1");
}

// ---- what the signature covers ---------------------------------------------

#[test]
fn a_changed_attribute_is_refused() {
    let signed = signed_assertion(&Fx::default());
    let forged = signed.replace(">staff<", ">root<");
    assert!(matches!(run(&forged), Err(SamlError::BadSignature(_))));
}

#[test]
fn a_comment_inside_the_name_id_is_refused() {
    // The IdP signs a NameID the attacker registered; the comment would make
    // a careless reader see ana@metahexa.example.
    let fx = Fx {
        name_id: "ana@metahexa.example.evil.example".into(),
        ..Fx::default()
    };
    let signed = signed_assertion(&fx);
    let forged = signed.replace(
        ">ana@metahexa.example.evil.example<",
        ">ana@metahexa.example<!---->.evil.example<",
    );
    assert_structure(run(&forged), "a comment");
}

#[test]
fn an_element_inside_the_name_id_is_refused() {
    // Signed as it is by the IdP: only the text-only rule refuses it.
    let fx = Fx {
        name_id: "ana@metahexa.example<saml:X>.evil.example</saml:X>".into(),
        ..Fx::default()
    };
    let error = run(&signed_response(&fx)).unwrap_err();
    assert_eq!(
        error,
        SamlError::Structure("NameID holds more than text".into())
    );
}

#[test]
fn an_unsigned_assertion_is_refused() {
    let fx = Fx::default();
    let xml = response_xml(&fx, &assertion_xml(&fx, None), None);
    let error = run(&xml).unwrap_err();
    assert_eq!(error, SamlError::Unsigned);
    assert_eq!(error.public_message(), "The assertion is not signed.");
}

#[test]
fn a_response_with_its_signature_stripped_is_refused() {
    let signed = signed_response(&Fx::default());
    let stripped = splice(&signed, range(&signed, NS_DSIG, "Signature", 0), "");
    assert_eq!(run(&stripped), Err(SamlError::Unsigned));
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let fx = Fx::default();
    let xml = sign(
        &response_xml(&fx, &assertion_xml(&fx, Some(other())), None),
        other(),
    );
    let error = run(&xml).unwrap_err();
    assert!(matches!(error, SamlError::BadSignature(_)), "{error:?}");
    assert_eq!(
        error.public_message(),
        "The signature did not verify with the configured certificate."
    );
}

#[test]
fn an_old_certificate_alone_does_not_verify_the_new_key() {
    let certificates = vec![other().certificate.clone()];
    let xml = signed_assertion(&Fx::default());
    let result = run_with(&xml, |e| {
        e.idp_certificates = Box::leak(certificates.into_boxed_slice())
    });
    assert!(matches!(result, Err(SamlError::BadSignature(_))));
}

#[test]
fn no_idp_certificate_is_refused() {
    let xml = signed_assertion(&Fx::default());
    assert_eq!(
        run_with(&xml, |e| e.idp_certificates = &[]),
        Err(SamlError::NoIdpCertificate)
    );
}

#[test]
fn sha1_is_refused_unless_the_connection_allows_it() {
    let fx = Fx {
        signature_method: RSA_SHA1,
        digest_method: SHA1,
        ..Fx::default()
    };
    let xml = signed_assertion(&fx);
    let error = run(&xml).unwrap_err();
    assert_eq!(error, SamlError::Sha1NotAllowed);
    assert_eq!(
        error.public_message(),
        "The answer is signed with SHA-1, which this connection does not allow."
    );
    assert!(run_with(&xml, |e| e.allow_sha1 = true).is_ok());
}

#[test]
fn a_sha1_digest_under_a_sha256_signature_is_refused() {
    let fx = Fx {
        digest_method: SHA1,
        ..Fx::default()
    };
    assert_eq!(run(&signed_assertion(&fx)), Err(SamlError::Sha1NotAllowed));
}

#[test]
fn transforms_outside_the_allowlist_are_refused() {
    let signed = signed_assertion(&Fx::default());
    let enveloped =
        r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#;
    for transform in [
        r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>"#,
        r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"/></ds:Transform>"#,
        r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#WithComments"/>"#,
    ] {
        let forged = signed.replacen(enveloped, &format!("{enveloped}{transform}"), 1);
        assert!(
            matches!(run(&forged), Err(SamlError::Algorithm(_))),
            "{transform}"
        );
    }
    let forged = signed.replacen(
        r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
        r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#WithComments"/>"#,
        1,
    );
    assert!(matches!(run(&forged), Err(SamlError::Algorithm(_))));
}

#[test]
fn a_reference_to_another_element_is_refused() {
    let signed = signed_assertion(&Fx::default());
    assert_structure(
        run(&signed.replacen(r##"URI="#_a1""##, r##"URI="""##, 1)),
        "references another element",
    );
    assert_structure(
        run(&signed.replacen(r##"URI="#_a1""##, r##"URI="#_r1""##, 1)),
        "references another element",
    );
}

// ---- parsing ----------------------------------------------------------------

#[test]
fn a_dtd_is_refused_xxe_and_billion_laughs() {
    let signed = signed_assertion(&Fx::default());
    let body = signed
        .trim_start_matches(|c| c != '>')
        .get(1..)
        .unwrap()
        .trim_start();
    let xxe = format!(
        r#"<?xml version="1.0"?><!DOCTYPE samlp:Response [<!ENTITY x SYSTEM "file:///etc/passwd">]>{}"#,
        body.replacen(">ana@metahexa.example<", ">&x;<", 1)
    );
    assert_eq!(run(&xxe), Err(SamlError::Dtd));
    let laughs = format!(
        r#"<!DOCTYPE samlp:Response [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>{}"#,
        body.replacen(">staff<", ">&d;<", 1)
    );
    assert_eq!(run(&laughs), Err(SamlError::Dtd));
}

#[test]
fn an_oversize_response_is_refused_before_decoding() {
    let huge = "A".repeat(MAX_RESPONSE_LEN + 4);
    assert!(matches!(
        validate(&huge, &expect()),
        Err(SamlError::TooLarge { .. })
    ));
}

#[test]
fn other_encodings_are_refused() {
    let signed = signed_assertion(&Fx::default());
    let body = signed
        .trim_start_matches(|c| c != '>')
        .get(1..)
        .unwrap()
        .trim_start();
    let latin1 = format!(r#"<?xml version="1.0" encoding="ISO-8859-1"?>{body}"#);
    assert!(matches!(run(&latin1), Err(SamlError::NotUtf8(_))));
    let xml11 = format!(r#"<?xml version="1.1"?>{body}"#);
    assert!(matches!(run(&xml11), Err(SamlError::Malformed(_))));
    let not_utf8 = base64::engine::general_purpose::STANDARD.encode(b"<samlp:Response \xff/>");
    assert!(matches!(
        validate(&not_utf8, &expect()),
        Err(SamlError::NotUtf8(_))
    ));
}

#[test]
fn garbage_is_malformed() {
    assert!(matches!(
        validate("not base64!", &expect()),
        Err(SamlError::Malformed(_))
    ));
    assert!(matches!(
        run("<samlp:Response"),
        Err(SamlError::Malformed(_))
    ));
    assert!(matches!(
        run(r#"<Response xmlns="urn:example"/>"#),
        Err(SamlError::Malformed(_))
    ));
}

// ---- the profile's conditions ----------------------------------------------

#[test]
fn an_idp_refusal_names_its_status() {
    let fx = Fx {
        status: "urn:oasis:names:tc:SAML:2.0:status:Responder".into(),
        ..Fx::default()
    };
    let xml = response_xml(&fx, "", None).replace(
        r#"Responder"/>"#,
        r#"Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode><samlp:StatusMessage>locked</samlp:StatusMessage>"#,
    );
    let error = run(&xml).unwrap_err();
    assert!(matches!(error, SamlError::Status { .. }), "{error:?}");
    assert_eq!(
        error.public_message(),
        "The identity provider refused the sign-in (status Responder, AuthnFailed)."
    );
    assert!(error.to_string().contains("locked"));
}

#[test]
fn a_wrong_issuer_is_refused() {
    let fx = Fx {
        issuer: "https://evil.example".into(),
        response_issuer: None,
        ..Fx::default()
    };
    assert!(matches!(
        run(&signed_assertion(&fx)),
        Err(SamlError::Issuer { .. })
    ));
    // The Response's Issuer too, when it has one.
    let fx = Fx {
        response_issuer: Some("https://evil.example".into()),
        ..Fx::default()
    };
    assert!(matches!(
        run(&signed_response(&fx)),
        Err(SamlError::Issuer { .. })
    ));
}

#[test]
fn a_wrong_audience_is_refused() {
    let fx = Fx {
        audience: "urn:auth0:acme:other".into(),
        ..Fx::default()
    };
    let error = run(&signed_assertion(&fx)).unwrap_err();
    assert!(matches!(error, SamlError::Audience { .. }), "{error:?}");
    assert_eq!(
        error.public_message(),
        "The assertion is addressed to another service provider (Audience)."
    );
}

#[test]
fn every_audience_restriction_must_name_the_sp() {
    let signed = signed_response(&Fx::default());
    let forged = signed.replace(
        "</saml:AudienceRestriction>",
        "</saml:AudienceRestriction><saml:AudienceRestriction><saml:Audience>urn:other</saml:Audience></saml:AudienceRestriction>",
    );
    // Re-signed: the IdP itself wrote both restrictions.
    let fx = Fx::default();
    let resigned = sign(
        &response_xml(
            &fx,
            &assertion_xml(&fx, None).replace(
                "</saml:AudienceRestriction>",
                "</saml:AudienceRestriction><saml:AudienceRestriction><saml:Audience>urn:other</saml:Audience></saml:AudienceRestriction>",
            ),
            Some(idp()),
        ),
        idp(),
    );
    assert!(matches!(run(&forged), Err(SamlError::BadSignature(_))));
    assert!(matches!(run(&resigned), Err(SamlError::Audience { .. })));
}

#[test]
fn an_assertion_without_audience_restriction_is_refused() {
    let fx = Fx::default();
    let assertion = assertion_xml(&fx, None);
    let start = assertion.find("<saml:AudienceRestriction>").unwrap();
    let end = assertion.find("</saml:AudienceRestriction>").unwrap()
        + "</saml:AudienceRestriction>".len();
    let xml = sign(
        &response_xml(&fx, &splice(&assertion, start..end, ""), Some(idp())),
        idp(),
    );
    assert!(matches!(run(&xml), Err(SamlError::Audience { .. })));
}

#[test]
fn a_wrong_destination_is_refused() {
    let fx = Fx {
        destination: Some("https://evil.example/acs".into()),
        ..Fx::default()
    };
    assert!(matches!(
        run(&signed_assertion(&fx)),
        Err(SamlError::Destination { .. })
    ));
    // A signed Response must name its destination.
    let fx = Fx {
        destination: None,
        ..Fx::default()
    };
    assert!(matches!(
        run(&signed_response(&fx)),
        Err(SamlError::Destination { found: None, .. })
    ));
}

#[test]
fn a_wrong_recipient_is_refused() {
    let fx = Fx {
        recipient: "https://sw.example/login/callback?connection=other".into(),
        ..Fx::default()
    };
    assert!(matches!(
        run(&signed_assertion(&fx)),
        Err(SamlError::Recipient { .. })
    ));
}

#[test]
fn an_expired_assertion_is_refused_saying_since_when() {
    let xml = signed_assertion(&Fx::default());
    let error = run_with(&xml, |e| e.now_ms = NOW + 14 * MINUTE).unwrap_err();
    assert_eq!(error, SamlError::Expired { ago_ms: 4 * MINUTE });
    assert_eq!(
        error.public_message(),
        "The assertion expired 4 minutes ago: check the identity provider's clock."
    );
    // Within the skew it still passes.
    assert!(run_with(&xml, |e| e.now_ms = NOW + 5 * MINUTE + SKEW - 1).is_ok());
    // The bearer confirmation ends before the Conditions do.
    assert!(matches!(
        run_with(&xml, |e| e.now_ms = NOW + 7 * MINUTE),
        Err(SamlError::Expired { .. })
    ));
}

#[test]
fn an_assertion_not_yet_valid_is_refused() {
    let xml = signed_assertion(&Fx::default());
    let error = run_with(&xml, |e| e.now_ms = NOW - 3 * MINUTE - 5_000).unwrap_err();
    assert_eq!(error, SamlError::NotYetValid { in_ms: 3 * MINUTE });
    assert_eq!(
        error.public_message(),
        "The assertion becomes valid only in 3 minutes: check the identity provider's clock."
    );
    assert!(run_with(&xml, |e| e.now_ms = NOW - 5_000 - SKEW).is_ok());
}

#[test]
fn an_assertion_issued_too_long_ago_is_refused() {
    let fx = Fx {
        issued: NOW - 2 * MAX_AGE_MS,
        not_before: NOW - 2 * MAX_AGE_MS,
        ..Fx::default()
    };
    assert!(matches!(
        run(&signed_assertion(&fx)),
        Err(SamlError::TooOld { .. })
    ));
}

#[test]
fn an_unsolicited_response_is_refused_when_a_reply_is_expected() {
    let fx = Fx {
        in_response_to: None,
        ..Fx::default()
    };
    assert_eq!(
        run(&signed_assertion(&fx)),
        Err(SamlError::Unsolicited {
            expected: REQUEST.into()
        })
    );
}

#[test]
fn a_reply_is_refused_when_an_unsolicited_response_is_expected() {
    let xml = signed_assertion(&Fx::default());
    assert_eq!(
        run_with(&xml, |e| e.in_response_to = None),
        Err(SamlError::UnexpectedInResponseTo(REQUEST.into()))
    );
}

#[test]
fn a_reply_to_another_request_is_refused() {
    let fx = Fx {
        in_response_to: Some("_another_request".into()),
        ..Fx::default()
    };
    assert!(matches!(
        run(&signed_assertion(&fx)),
        Err(SamlError::InResponseTo { .. })
    ));
    // Only on the bearer confirmation (the Response names none).
    let signed = signed_assertion(&fx);
    let unsolicited_response = signed.replacen(r#" InResponseTo="_another_request""#, "", 1);
    assert!(matches!(
        run(&unsolicited_response),
        Err(SamlError::InResponseTo { .. })
    ));
}

#[test]
fn durations_read_as_people_say_them() {
    assert_eq!(duration_text(4 * MINUTE), "4 minutes");
    assert_eq!(duration_text(1_000), "1 second");
    assert_eq!(duration_text(45_000), "45 seconds");
    assert_eq!(duration_text(3 * 3_600_000), "3 hours");
    assert_eq!(duration_text(3 * 86_400_000), "3 days");
}

// ---- encrypted assertions ---------------------------------------------------

const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";

/// An EncryptedAssertion as samlify (xml-encryption) writes it: the AES key
/// in an EncryptedKey inside EncryptedData's KeyInfo, IV ‖ ciphertext.
fn encrypt(assertion: &str, recipient: &Keys, data_method: &str, key_method: &str) -> String {
    let cipher = match data_method {
        AES256_CBC => Cipher::aes_256_cbc(),
        AES128_GCM => Cipher::aes_128_gcm(),
        other => panic!("{other}"),
    };
    let mut key = vec![0; cipher.key_len()];
    openssl::rand::rand_bytes(&mut key).unwrap();
    let data = if data_method == AES128_GCM {
        let mut iv = [0; 12];
        openssl::rand::rand_bytes(&mut iv).unwrap();
        let mut tag = [0; 16];
        let ciphertext = openssl::symm::encrypt_aead(
            cipher,
            &key,
            Some(&iv),
            &[],
            assertion.as_bytes(),
            &mut tag,
        )
        .unwrap();
        [&iv[..], &ciphertext, &tag].concat()
    } else {
        let mut iv = [0; 16];
        openssl::rand::rand_bytes(&mut iv).unwrap();
        let ciphertext =
            openssl::symm::encrypt(cipher, &key, Some(&iv), assertion.as_bytes()).unwrap();
        [&iv[..], &ciphertext].concat()
    };
    let mut context = PkeyCtx::new(&recipient.key).unwrap();
    context.encrypt_init().unwrap();
    context
        .set_rsa_padding(match key_method {
            RSA_1_5 => Padding::PKCS1,
            _ => Padding::PKCS1_OAEP,
        })
        .unwrap();
    let mut wrapped = Vec::new();
    context.encrypt_to_vec(&key, &mut wrapped).unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    format!(
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{data_method}"/><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><e:EncryptedKey xmlns:e="http://www.w3.org/2001/04/xmlenc#"><e:EncryptionMethod Algorithm="{key_method}"><DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></e:EncryptionMethod><e:CipherData><e:CipherValue>{}</e:CipherValue></e:CipherData></e:EncryptedKey></KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
        b64(&wrapped),
        b64(&data)
    )
}

/// Sign, then encrypt (samlify's default): the Response unsigned, the
/// assertion signed inside the encryption.
fn signed_then_encrypted(fx: &Fx, data_method: &str, key_method: &str) -> String {
    let signed = signed_assertion(fx);
    let at = range(&signed, NS_ASSERTION, "Assertion", 0);
    let encrypted = encrypt(&signed[at.clone()], sp(), data_method, key_method);
    splice(&signed, at, &encrypted)
}

#[test]
fn a_signed_assertion_encrypted_with_aes256_cbc_is_accepted() {
    let xml = signed_then_encrypted(&Fx::default(), AES256_CBC, RSA_OAEP_MGF1P);
    assert!(xml.contains("EncryptedAssertion") && !xml.contains("NameID"));
    let verified = run(&xml).unwrap();
    assert_eq!(verified.name_id, "ana@metahexa.example");
    assert_eq!(verified.attributes["groups"], ["staff", "admins"]);
}

#[test]
fn a_signed_response_over_an_aes_gcm_encrypted_assertion_is_accepted() {
    let fx = Fx::default();
    let encrypted = encrypt(&assertion_xml(&fx, None), sp(), AES128_GCM, RSA_OAEP_MGF1P);
    let xml = sign(&response_xml(&fx, &encrypted, Some(idp())), idp());
    assert_eq!(run(&xml).unwrap().name_id, "ana@metahexa.example");
}

#[test]
fn an_encrypted_assertion_signed_by_no_one_is_refused() {
    let fx = Fx::default();
    let encrypted = encrypt(&assertion_xml(&fx, None), sp(), AES256_CBC, RSA_OAEP_MGF1P);
    assert_undecryptable(
        run(&response_xml(&fx, &encrypted, None)),
        "the assertion is not signed",
    );
}

#[test]
fn an_encrypted_assertion_signed_by_another_key_is_refused() {
    let fx = Fx::default();
    let signed = sign(
        &response_xml(&fx, &assertion_xml(&fx, Some(other())), None),
        other(),
    );
    let at = range(&signed, NS_ASSERTION, "Assertion", 0);
    let xml = splice(
        &signed,
        at.clone(),
        &encrypt(&signed[at], sp(), AES256_CBC, RSA_OAEP_MGF1P),
    );
    assert_undecryptable(run(&xml), "the signature did not verify");
}

/// An encrypted assertion in an unsigned Response refused, for `why`
/// (said in the log only: the page says no more than "undecryptable").
fn assert_undecryptable(result: Result<Verified, SamlError>, why: &str) {
    match result {
        Err(SamlError::Undecryptable(reason)) if reason.contains(why) => {}
        other => panic!("expected undecryptable ({why}), got {other:?}"),
    }
}

#[test]
fn encrypted_wrapping_is_refused_inside_the_plaintext() {
    // A second assertion hidden inside the encrypted one.
    let fx = Fx::default();
    let signed = signed_assertion(&fx);
    let at = range(&signed, NS_ASSERTION, "Assertion", 0);
    let original = signed[at.clone()].to_owned();
    let wrapper = insert_before_last(
        &evil(&without_signature(&original)),
        "</saml:Assertion>",
        &original,
    );
    let xml = splice(
        &signed,
        at,
        &encrypt(&wrapper, sp(), AES256_CBC, RSA_OAEP_MGF1P),
    );
    assert_undecryptable(run(&xml), "holds another assertion");
}

#[test]
fn any_overlapping_sp_key_decrypts() {
    let keys = vec![other().pkcs8.clone(), sp().pkcs8.clone()];
    let xml = signed_then_encrypted(&Fx::default(), AES256_CBC, RSA_OAEP_MGF1P);
    assert!(
        run_with(&xml, |e| e.decryption_keys =
            Box::leak(keys.into_boxed_slice()))
        .is_ok()
    );
}

#[test]
fn an_assertion_encrypted_for_another_key_is_refused() {
    let keys = vec![other().pkcs8.clone()];
    let xml = signed_then_encrypted(&Fx::default(), AES256_CBC, RSA_OAEP_MGF1P);
    let result = run_with(&xml, |e| {
        e.decryption_keys = Box::leak(keys.into_boxed_slice())
    });
    assert!(
        matches!(result, Err(SamlError::Undecryptable(_))),
        "{result:?}"
    );
    assert!(matches!(
        run_with(&xml, |e| e.decryption_keys = &[]),
        Err(SamlError::Undecryptable(_))
    ));
}

#[test]
fn rsa_pkcs1_v15_key_transport_is_refused() {
    let xml = signed_then_encrypted(&Fx::default(), AES256_CBC, RSA_1_5);
    assert!(matches!(run(&xml), Err(SamlError::EncryptionAlgorithm(_))));
}

#[test]
fn broken_ciphertexts_are_refused_without_panic() {
    let cbc = signed_then_encrypted(&Fx::default(), AES256_CBC, RSA_OAEP_MGF1P);
    let gcm = signed_then_encrypted(&Fx::default(), AES128_GCM, RSA_OAEP_MGF1P);
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let data_value = |xml: &str| {
        let at = range(xml, "http://www.w3.org/2001/04/xmlenc#", "CipherValue", 1);
        let element = &xml[at];
        let text = &element[element.find('>').unwrap() + 1..element.rfind('<').unwrap()];
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    };
    for xml in [&cbc, &gcm] {
        let data = data_value(xml);
        let key_and_data = |nth: usize, text: &str| {
            set_text(
                xml,
                "http://www.w3.org/2001/04/xmlenc#",
                "CipherValue",
                nth,
                text,
            )
        };
        let mut flipped = data.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x55;
        for (what, forged) in [
            ("empty data", key_and_data(1, "")),
            ("not base64", key_and_data(1, "***")),
            ("5 bytes", key_and_data(1, &b64(&data[..5]))),
            ("an IV and 1 byte", key_and_data(1, &b64(&data[..17]))),
            ("an IV and 15 bytes", key_and_data(1, &b64(&data[..31]))),
            (
                "a block short",
                key_and_data(1, &b64(&data[..data.len() - 16])),
            ),
            ("last byte flipped", key_and_data(1, &b64(&flipped))),
            ("empty key", key_and_data(0, "")),
            ("garbage key", key_and_data(0, &b64(&[7; 256]))),
            ("short key", key_and_data(0, &b64(&[7; 3]))),
        ] {
            let result = run(&forged);
            assert!(
                matches!(
                    result,
                    Err(SamlError::Undecryptable(_)
                        | SamlError::Malformed(_)
                        | SamlError::BadSignature(_))
                ),
                "{what}: {result:?}"
            );
        }
    }
}

#[test]
fn a_flood_of_encrypted_keys_is_refused_before_any_is_tried() {
    let xml = signed_then_encrypted(&Fx::default(), AES256_CBC, RSA_OAEP_MGF1P);
    let key = range(&xml, "http://www.w3.org/2001/04/xmlenc#", "EncryptedKey", 0);
    let five = xml[key.clone()].repeat(5);
    let result = run(&splice(&xml, key, &five));
    assert!(
        matches!(&result, Err(SamlError::Undecryptable(why)) if why.contains("5 EncryptedKeys")),
        "{result:?}"
    );
}

#[test]
fn the_decrypted_content_must_be_one_assertion() {
    let fx = Fx::default();
    for plaintext in [
        "not xml".to_owned(),
        r#"<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">x</saml:Issuer>"#
            .to_owned(),
        format!("{}{}", assertion_xml(&fx, None), assertion_xml(&fx, None)),
    ] {
        let encrypted = encrypt(&plaintext, sp(), AES256_CBC, RSA_OAEP_MGF1P);
        let xml = sign(&response_xml(&fx, &encrypted, Some(idp())), idp());
        let result = run(&xml);
        assert!(
            matches!(
                result,
                Err(SamlError::Malformed(_) | SamlError::Structure(_))
            ),
            "{plaintext}: {result:?}"
        );
    }
}

#[test]
fn an_unsigned_response_tells_no_plaintext_from_another() {
    // With the ciphertext not covered by a signature, whether a (CBC-
    // altered) plaintext parsed must not show: one answer for all.
    let fx = Fx::default();
    let answers: Vec<String> = [
        "not xml".to_owned(),
        r#"<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">x</saml:Issuer>"#
            .to_owned(),
        assertion_xml(&fx, None),
        assertion_xml(&fx, Some(other())),
    ]
    .iter()
    .map(|plaintext| {
        let encrypted = encrypt(plaintext, sp(), AES256_CBC, RSA_OAEP_MGF1P);
        let error = run(&response_xml(&fx, &encrypted, None)).unwrap_err();
        assert!(matches!(error, SamlError::Undecryptable(_)), "{error:?}");
        error.public_message()
    })
    .collect();
    assert!(answers.iter().all(|answer| *answer == answers[0]));
}

// ---- responses of a real IdP (samlify) -------------------------------------

/// tests/fixtures/saml/validate/, written by its gen.sh.
fn fixture(name: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml/validate");
    std::fs::read(format!("{dir}/{name}")).unwrap()
}

/// The XML of one of samlify's responses.
fn samlify_response(shape: &str) -> String {
    let b64 = String::from_utf8(fixture(&format!("samlify-{shape}.b64"))).unwrap();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

fn run_samlify(xml: &str) -> Result<Verified, SamlError> {
    static CERTIFICATES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    static KEYS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    run_with(xml, |e| {
        e.idp_certificates = CERTIFICATES.get_or_init(|| vec![fixture("idp.crt.der")]);
        e.decryption_keys = KEYS.get_or_init(|| vec![fixture("sp.p8.der")]);
    })
}

#[test]
fn samlify_responses_of_every_shape_are_accepted() {
    for shape in [
        "signed-assertion",
        "signed-both",
        "encrypted",
        "encrypted-gcm",
        "encrypt-then-sign",
    ] {
        let verified =
            run_samlify(&samlify_response(shape)).unwrap_or_else(|e| panic!("{shape}: {e}"));
        assert_eq!(verified.name_id, "ana@metahexa.example", "{shape}");
        assert_eq!(verified.attributes["email"], ["ana@metahexa.example"]);
        assert_eq!(verified.session_index.as_deref(), Some("_s1"));
        assert_eq!(verified.expires_at_ms, NOW + 5 * MINUTE + SKEW);
    }
}

#[test]
fn samlify_responses_forged_are_refused() {
    let xml = samlify_response("signed-assertion");
    // Another subject under the IdP's signature.
    let changed = set_text(&xml, NS_ASSERTION, "NameID", 0, "admin@metahexa.example");
    assert!(matches!(
        run_samlify(&changed),
        Err(SamlError::BadSignature(_))
    ));
    // XSW3: an unsigned evil twin before the signed assertion.
    let at = range(&xml, NS_ASSERTION, "Assertion", 0);
    let twin = without_signature(&xml[at.clone()]).replacen(" ID=\"_", " ID=\"_evil", 1);
    let twin = set_text(&twin, NS_ASSERTION, "NameID", 0, "admin@metahexa.example");
    assert_structure(
        run_samlify(&splice(&xml, at.start..at.start, &twin)),
        "2 assertions in the Response",
    );
    // Not the connection's certificate.
    assert!(matches!(run(&xml), Err(SamlError::BadSignature(_))));
    // Encrypted for another SP key; no IdP certificate at all.
    let encrypted = samlify_response("encrypted");
    assert!(matches!(run(&encrypted), Err(SamlError::Undecryptable(_))));
    assert!(matches!(
        run_with(&encrypted, |e| e.idp_certificates = &[]),
        Err(SamlError::NoIdpCertificate)
    ));
}
