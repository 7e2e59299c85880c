//! SAML connections, the SP side over HTTP: the metadata document at
//! `/samlp/metadata?connection=NAME` (what an IdP's admin imports) and the
//! Management API's `/connections/{id}/keys` (list, rotate), in Auth0's shapes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    the_metadata_publishes_the_current_and_next_keys_and_follows_rotation,
    metadata_of_an_unknown_or_other_connection_is_not_found,
    connection_keys_need_their_scopes_and_a_samlp_connection,
);

const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";

fn idp_cert() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["idp.acme.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    STANDARD.encode(cert.der())
}

async fn create_connection(app: &TestApp, token: &str, body: Value) -> String {
    let (status, created) = app
        .api(Method::POST, "/api/v2/connections", token, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn saml_connection(app: &TestApp, token: &str, name: &str) -> String {
    create_connection(
        app,
        token,
        json!({"name": name, "strategy": "samlp", "options": {
            "signInEndpoint": "https://idp.acme.test/sso", "signingCert": idp_cert(),
            "signSAMLRequest": true}}),
    )
    .await
}

async fn metadata(app: &TestApp, query: &str) -> (StatusCode, Option<String>, String) {
    let response = app
        .http
        .get(app.url(&format!("/samlp/metadata{query}")))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, content_type, response.text().await.unwrap())
}

/// What the metadata says, read back with a strict parser.
struct Metadata {
    entity_id: String,
    authn_requests_signed: Option<String>,
    want_assertions_signed: Option<String>,
    /// Binding and Location of each AssertionConsumerService.
    acs: Vec<(String, String)>,
    /// The certificates (base64 DER) of the KeyDescriptors of each use.
    signing: Vec<String>,
    encryption: Vec<String>,
    encryption_methods: Vec<String>,
    name_id_formats: Vec<String>,
    single_logout_services: Vec<(String, String)>,
}

fn parse_metadata(xml: &str) -> Metadata {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let root = doc.root_element();
    assert!(root.has_tag_name((MD, "EntityDescriptor")), "{xml}");
    let sp = root
        .children()
        .find(|n| n.has_tag_name((MD, "SPSSODescriptor")))
        .unwrap();
    let certs = |key_use: &str| -> Vec<String> {
        sp.children()
            .filter(|n| {
                n.has_tag_name((MD, "KeyDescriptor")) && n.attribute("use") == Some(key_use)
            })
            .map(|kd| {
                kd.descendants()
                    .find(|n| n.has_tag_name((DS, "X509Certificate")))
                    .and_then(|n| n.text())
                    .unwrap()
                    .trim()
                    .to_owned()
            })
            .collect()
    };
    let of = |name: &'static str| sp.descendants().filter(move |n| n.has_tag_name((MD, name)));
    let mut encryption_methods: Vec<_> = of("EncryptionMethod")
        .map(|n| n.attribute("Algorithm").unwrap().to_owned())
        .collect();
    encryption_methods.sort();
    encryption_methods.dedup();
    Metadata {
        entity_id: root.attribute("entityID").unwrap().to_owned(),
        authn_requests_signed: sp.attribute("AuthnRequestsSigned").map(str::to_owned),
        want_assertions_signed: sp.attribute("WantAssertionsSigned").map(str::to_owned),
        acs: of("AssertionConsumerService")
            .map(|n| {
                (
                    n.attribute("Binding").unwrap().to_owned(),
                    n.attribute("Location").unwrap().to_owned(),
                )
            })
            .collect(),
        signing: certs("signing"),
        encryption: certs("encryption"),
        encryption_methods,
        name_id_formats: of("NameIDFormat")
            .map(|n| n.text().unwrap().to_owned())
            .collect(),
        single_logout_services: of("SingleLogoutService")
            .map(|n| {
                (
                    n.attribute("Binding").unwrap().to_owned(),
                    n.attribute("Location").unwrap().to_owned(),
                )
            })
            .collect(),
    }
}

/// A key's certificate as the metadata carries it: base64 DER.
fn der_b64(key: &Value) -> String {
    let pem = key["cert"].as_str().unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    STANDARD.encode(pem.contents)
}

async fn keys(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let (status, keys) = app
        .api(
            Method::GET,
            &format!("/api/v2/connections/{id}/keys"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    keys.as_array().unwrap().clone()
}

fn one<'a>(keys: &'a [Value], flag: &str) -> &'a Value {
    let found: Vec<_> = keys.iter().filter(|k| k[flag] == true).collect();
    assert_eq!(found.len(), 1, "one {flag} key in {keys:?}");
    found[0]
}

async fn the_metadata_publishes_the_current_and_next_keys_and_follows_rotation(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let id = saml_connection(&app, &admin, "acme-saml").await;

    let (status, content_type, xml) = metadata(&app, "?connection=acme-saml").await;
    assert_eq!(status, StatusCode::OK, "{xml}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/samlmetadata+xml")
    );
    let md = parse_metadata(&xml);
    assert_eq!(
        md.entity_id,
        format!("urn:auth0:{}:acme-saml", app.served_state.tenant_name)
    );
    assert_eq!(md.authn_requests_signed.as_deref(), Some("true"));
    assert_eq!(md.want_assertions_signed.as_deref(), Some("true"));
    assert_eq!(
        md.acs,
        [(
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST".to_owned(),
            format!("{}login/callback?connection=acme-saml", app.issuer)
        )]
    );
    // The current and the next key, each for signing and for encryption.
    assert_eq!(md.signing.len(), 2, "{xml}");
    assert_eq!(md.encryption, md.signing);
    assert_ne!(md.signing[0], md.signing[1]);
    for algorithm in [
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    ] {
        assert!(
            md.encryption_methods.iter().any(|m| m == algorithm),
            "{algorithm} missing: {xml}"
        );
    }
    assert_eq!(md.name_id_formats.len(), 4);
    assert!(
        md.name_id_formats
            .iter()
            .any(|f| f == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
    );
    // LogoutResponses come back to /logout (Auth0's), by either binding.
    let logout = format!("{}logout", app.issuer);
    assert_eq!(
        md.single_logout_services,
        [
            (
                "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect".to_owned(),
                logout.clone()
            ),
            (
                "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST".to_owned(),
                logout
            ),
        ]
    );

    // The keys endpoint shows the same keys: the current one signs.
    let listed = keys(&app, &admin, &id).await;
    assert_eq!(listed.len(), 2);
    let (current, next) = (one(&listed, "current"), one(&listed, "next"));
    assert_eq!(md.signing, [der_b64(current), der_b64(next)]);
    assert_eq!(current["algorithm"], "RS256");
    assert_eq!(current["subject_dn"], "CN=acme-saml");
    assert!(current["pkcs"].as_str().unwrap().contains("BEGIN PKCS7"));
    assert!(current["current_since"].is_string());
    let thumbprint = current["thumbprint"].as_str().unwrap();
    assert_eq!(thumbprint.len(), 40);
    assert_eq!(
        current["fingerprint"].as_str().unwrap().replace(':', ""),
        thumbprint
    );
    // A second fetch makes no new key.
    assert_eq!(
        parse_metadata(&metadata(&app, "?connection=acme-saml").await.2).signing,
        md.signing
    );

    // Rotation: the published next key signs, a new next is published, the
    // old current key is listed as previous, still decrypting.
    let (status, rotated) = app
        .api(
            Method::POST,
            &format!("/api/v2/connections/{id}/keys/rotate"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    assert_eq!(rotated["next"], true);
    let after = keys(&app, &admin, &id).await;
    assert_eq!(after.len(), 3);
    assert_eq!(one(&after, "current")["kid"], next["kid"]);
    assert_eq!(one(&after, "next")["kid"], rotated["kid"]);
    let previous = one(&after, "previous");
    assert_eq!(previous["kid"], current["kid"]);
    assert!(previous["decrypts_until"].is_string());
    let md = parse_metadata(&metadata(&app, "?connection=acme-saml").await.2);
    assert_eq!(md.signing, [der_b64(next), der_b64(&rotated)]);
    assert_eq!(md.encryption, md.signing);
}

async fn metadata_of_an_unknown_or_other_connection_is_not_found(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    create_connection(
        &app,
        &admin,
        json!({"name": "users-db", "strategy": "auth0", "options": {"passwordPolicy": "good"}}),
    )
    .await;
    for name in ["nope", "users-db"] {
        let (status, content_type, body) = metadata(&app, &format!("?connection={name}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}: {body}");
        assert!(content_type.unwrap().starts_with("text/html"));
        assert!(
            body.contains(&format!("named \u{201c}{name}\u{201d}")),
            "{body}"
        );
    }
    for query in ["", "?connection=", "?other=x"] {
        let (status, _, body) = metadata(&app, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body.contains("?connection="), "{body}");
    }
    // A name that is markup is shown as text.
    let (status, _, body) = metadata(&app, "?connection=%3Cb%3Ex%3C%2Fb%3E").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("<b>x</b>"), "{body}");
}

async fn connection_keys_need_their_scopes_and_a_samlp_connection(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let id = saml_connection(&app, &admin, "acme-saml").await;
    let db = create_connection(
        &app,
        &admin,
        json!({"name": "users-db", "strategy": "auth0", "options": {"passwordPolicy": "good"}}),
    )
    .await;
    let list = format!("/api/v2/connections/{id}/keys");
    let rotate = format!("/api/v2/connections/{id}/keys/rotate");

    let unrelated = app.token_with_scopes(&admin, &["read:connections"]).await;
    for (method, path) in [(Method::GET, &list), (Method::POST, &rotate)] {
        let (status, body) = app.api(method.clone(), path, &unrelated, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(body["errorCode"], "insufficient_scope");
    }
    let reader = app
        .token_with_scopes(&admin, &["read:connections_keys"])
        .await;
    let (status, body) = app.api(Method::GET, &list, &reader, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.api(Method::POST, &rotate, &reader, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let rotator = app
        .token_with_scopes(&admin, &["update:connections_keys"])
        .await;
    let (status, body) = app.api(Method::POST, &rotate, &rotator, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Another strategy has no keys here; a missing connection is not found.
    for path in [
        format!("/api/v2/connections/{db}/keys"),
        format!("/api/v2/connections/{db}/keys/rotate"),
    ] {
        let method = if path.ends_with("rotate") {
            Method::POST
        } else {
            Method::GET
        };
        let (status, body) = app.api(method, &path, &admin, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["errorCode"], "invalid_connection_strategy");
    }
    let (status, body) = app
        .api(
            Method::GET,
            "/api/v2/connections/con_missing/keys",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["errorCode"], "inexistent_connection");

    let openapi: Value = app.get_json("/api/v2/openapi.json").await;
    let paths = openapi["paths"].as_object().unwrap();
    assert!(paths["/api/v2/connections/{id}/keys"]["get"].is_object());
    assert!(paths["/api/v2/connections/{id}/keys/rotate"]["post"].is_object());
}
