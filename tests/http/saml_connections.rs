//! samlp connections in the Management API: the IdP's certificates are
//! shown with their expiry (Auth0's derived `thumbprints` and `expires`,
//! and our `signing_certificates`); metadata that describes no usable IdP
//! is refused at write time; the vendors' published metadata (Okta, Entra
//! ID, ADFS, Google Workspace: tests/fixtures/saml) makes working
//! connections. A connection by `metadataUrl` is fetched at write time
//! (refused when it cannot be, its certificates shown), and the periodic
//! pass refreshes it and warns of expiry with no login.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard::model::connection::parse_metadata;

use crate::on_both_backends;
use crate::organizations::create_connection;
use crate::support::{Backend, TestApp, spawn, spawn_configured};

on_both_backends!(certificates_and_their_expiry_are_shown);
on_both_backends!(unusable_metadata_is_refused);
on_both_backends!(vendor_metadata_makes_connections);
on_both_backends!(metadata_url_is_fetched_at_write_time);
on_both_backends!(the_periodic_pass_refreshes_and_warns);

/// A self-signed certificate valid until `not_after` (PEM, DER).
fn certificate(name: &str, not_after: time::OffsetDateTime) -> (String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.not_after = not_after;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), cert.der().to_vec())
}

fn sha1_hex(der: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        der,
    ))
}

async fn get_options(app: &TestApp, token: &str, id: &str) -> Value {
    let (status, got) = app
        .api(
            Method::GET,
            &format!("/api/v2/connections/{id}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    got["options"].clone()
}

async fn certificates_and_their_expiry_are_shown(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (old_pem, old_der) = certificate(
        "old.acme.test",
        time::macros::datetime!(2027-03-01 12:00 UTC),
    );
    let (new_pem, new_der) = certificate(
        "new.acme.test",
        time::macros::datetime!(2030-03-01 12:00 UTC),
    );
    // The certificate as Auth0 documents it: the PEM file, base64-encoded.
    let b64 = base64::engine::general_purpose::STANDARD;
    let id = create_connection(
        &app,
        &token,
        json!({"name": "acme-saml", "strategy": "samlp", "options": {
            "signInEndpoint": "https://idp.acme.test/sso",
            "signingCert": b64.encode(&old_pem),
            // A client's own stale values are replaced, not trusted.
            "thumbprints": ["0000"], "expires": "2099-01-01T00:00:00.000Z"}}),
    )
    .await;
    let options = get_options(&app, &token, &id).await;
    assert_eq!(options["thumbprints"], json!([sha1_hex(&old_der)]));
    assert_eq!(options["expires"], "2027-03-01T12:00:00.000Z");
    assert_eq!(
        options["signing_certificates"][0]["not_after"],
        "2027-03-01T12:00:00.000Z"
    );
    assert_eq!(
        options["signing_certificates"][0]["subject"],
        "CN=old.acme.test"
    );
    assert_eq!(options["signingCert"], b64.encode(&old_pem), "kept as sent");

    // A rollover: both certificates, each with its expiry.
    let (status, patched) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{id}"),
            &token,
            Some(json!({"options": {
                "signInEndpoint": "https://idp.acme.test/sso",
                "signingCert": format!("{old_pem}{new_pem}")}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let options = get_options(&app, &token, &id).await;
    assert_eq!(
        options["thumbprints"],
        json!([sha1_hex(&old_der), sha1_hex(&new_der)])
    );
    assert_eq!(options["expires"], "2030-03-01T12:00:00.000Z");
    let listed: Vec<&str> = options["signing_certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["not_after"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ["2027-03-01T12:00:00.000Z", "2030-03-01T12:00:00.000Z"]
    );
}

async fn unusable_metadata_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let okta = include_str!("../fixtures/saml/okta.xml");
    for (metadata, why) in [
        (
            okta.replace("md:IDPSSODescriptor", "md:Extensions"),
            "no IDPSSODescriptor",
        ),
        (
            okta.replace("md:SingleSignOnService", "md:NameIDMappingService"),
            "no SingleSignOnService",
        ),
        (
            okta.replace(r#"use="signing""#, r#"use="encryption""#),
            "no usable signing certificate",
        ),
        (
            format!(
                "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
                okta.replace(r#"<?xml version="1.0" encoding="UTF-8"?>"#, "")
            ),
            "DTD",
        ),
    ] {
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v2/connections",
                &token,
                Some(json!({"name": "bad-saml", "strategy": "samlp",
                            "options": {"metadataXml": metadata}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("options.metadataXml") && message.contains(why),
            "{why}: {body}"
        );
    }
    // Over the largest document read; a body over the connections' limit
    // is not read at all.
    let padded = okta.replacen(
        "<md:NameIDFormat>",
        &format!("<!-- {} --><md:NameIDFormat>", "x".repeat(300 * 1024)),
        1,
    );
    for (metadata, status) in [
        (padded, StatusCode::BAD_REQUEST), // "is larger than 256 KiB"
        ("x".repeat(700 * 1024), StatusCode::PAYLOAD_TOO_LARGE),
    ] {
        let (got, body) = app
            .api(
                Method::POST,
                "/api/v2/connections",
                &token,
                Some(json!({"name": "big-saml", "strategy": "samlp",
                            "options": {"metadataXml": metadata}})),
            )
            .await;
        assert_eq!(got, status, "{body}");
    }
    // The server still serves.
    let (status, _) = app
        .api(Method::GET, "/api/v2/connections", &token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// One vendor's published metadata and what it must say.
struct Vendor {
    name: &'static str,
    xml: &'static str,
    entity_id: &'static str,
    sso_redirect: Option<&'static str>,
    sso_post: Option<&'static str>,
    /// Each signing certificate's notAfter (ms).
    not_after_ms: &'static [i64],
}

const VENDORS: [Vendor; 4] = [
    Vendor {
        name: "okta",
        xml: include_str!("../fixtures/saml/okta.xml"),
        entity_id: "exk39sivhuytV2D8H0h7",
        sso_redirect: Some("https://example.okta.com/app/sample-app/exk39sivhuytV2D8H0h7/sso/saml"),
        sso_post: Some("https://example.okta.com/app/sample-app/exk39sivhuytV2D8H0h7/sso/saml"),
        not_after_ms: &[1_512_931_867_000],
    },
    Vendor {
        name: "entra-id",
        xml: include_str!("../fixtures/saml/entra_id.xml"),
        entity_id: "https://sts.windows.net/11bb11bb-cc22-dd33-ee44-55ff55ff55ff/",
        sso_redirect: Some("https://login.microsoftonline.com/contoso.onmicrosoft.com/saml2"),
        sso_post: None,
        not_after_ms: &[1_402_124_400_000],
    },
    Vendor {
        name: "adfs",
        xml: include_str!("../fixtures/saml/adfs.xml"),
        entity_id: "https://sts.ucar.edu/adfs/services/trust",
        sso_redirect: Some("https://sts.ucar.edu/adfs/ls/"),
        sso_post: Some("https://sts.ucar.edu/adfs/ls/"),
        // The signing certificate only: the encryption one is not used.
        not_after_ms: &[1_538_375_070_000],
    },
    Vendor {
        name: "google-workspace",
        xml: include_str!("../fixtures/saml/google_workspace.xml"),
        entity_id: "https://accounts.google.com/o/saml2?idpid=C023zw3x8",
        sso_redirect: Some("https://accounts.google.com/o/saml2/idp?idpid=C023zw3x8"),
        sso_post: Some("https://accounts.google.com/o/saml2/idp?idpid=C023zw3x8"),
        // Two during Google's rollover.
        not_after_ms: &[1_797_441_482_000, 1_808_754_450_000],
    },
];

#[test]
fn vendor_metadata_parses() {
    for vendor in VENDORS {
        let idp = parse_metadata(vendor.xml).unwrap_or_else(|e| panic!("{}: {e}", vendor.name));
        assert_eq!(
            idp.entity_id.as_deref(),
            Some(vendor.entity_id),
            "{}",
            vendor.name
        );
        assert_eq!(
            idp.sso_redirect.as_deref(),
            vendor.sso_redirect,
            "{}",
            vendor.name
        );
        assert_eq!(idp.sso_post.as_deref(), vendor.sso_post, "{}", vendor.name);
        let not_after: Vec<i64> = idp.certificates.iter().map(|c| c.not_after_ms).collect();
        assert_eq!(not_after, vendor.not_after_ms, "{}", vendor.name);
        assert!(!idp.wants_signed_requests, "{}", vendor.name);
    }
}

async fn vendor_metadata_makes_connections(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    for vendor in VENDORS {
        let id = create_connection(
            &app,
            &token,
            json!({"name": vendor.name, "strategy": "samlp",
                   "options": {"metadataXml": vendor.xml}}),
        )
        .await;
        let options = get_options(&app, &token, &id).await;
        assert_eq!(options["metadataXml"], vendor.xml, "{}", vendor.name);
        assert_eq!(
            options["signing_certificates"].as_array().map(Vec::len),
            Some(vendor.not_after_ms.len()),
            "{}: {options}",
            vendor.name
        );
    }
}

/// IdP metadata with one signing KeyDescriptor per certificate (DER), or
/// with them all for encryption only when `signing` is false.
fn idp_metadata(certificates: &[&[u8]], signing: bool) -> String {
    let key_use = if signing { "signing" } else { "encryption" };
    let keys: String = certificates
        .iter()
        .map(|der| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            format!(
                r#"<md:KeyDescriptor use="{key_use}"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
            )
        })
        .collect();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:acme:idp">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {keys}
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.acme.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

/// A metadata URL on 127.0.0.1 serving what the test sets (503 when `None`).
struct MetadataServer {
    url: String,
    document: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl MetadataServer {
    async fn start(document: Option<String>) -> MetadataServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = std::sync::Arc::new(std::sync::Mutex::new(document));
        let shared = served.clone();
        let app = axum::Router::new().route(
            "/metadata",
            axum::routing::get(move || {
                let document = shared.lock().unwrap().clone();
                async move {
                    match document {
                        Some(xml) => (StatusCode::OK, xml),
                        None => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
                    }
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        MetadataServer {
            url: format!("http://127.0.0.1:{port}/metadata"),
            document: served,
        }
    }

    fn serve(&self, document: Option<String>) {
        *self.document.lock().unwrap() = document;
    }
}

/// An app whose outbound client may reach the metadata server on loopback.
async fn spawn_reaching_loopback(backend: Backend) -> TestApp {
    spawn_configured(backend, |config| {
        config.outbound.allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
}

async fn metadata_url_is_fetched_at_write_time(backend: Backend) {
    let app = spawn_reaching_loopback(backend).await;
    let token = app.admin_token().await;
    let (_, old_der) = certificate(
        "old.acme.test",
        time::macros::datetime!(2029-03-01 12:00 UTC),
    );
    let (_, new_der) = certificate(
        "new.acme.test",
        time::macros::datetime!(2031-03-01 12:00 UTC),
    );
    let server = MetadataServer::start(Some(idp_metadata(&[&old_der], true))).await;
    let (status, created) = app
        .api(
            Method::POST,
            "/api/v2/connections",
            &token,
            Some(json!({"name": "acme-by-url", "strategy": "samlp",
                        "options": {"metadataUrl": server.url, "expires": "2099-01-01T00:00:00.000Z"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["options"]["thumbprints"],
        json!([sha1_hex(&old_der)])
    );
    assert_eq!(created["options"]["expires"], "2029-03-01T12:00:00.000Z");
    let id = created["id"].as_str().unwrap().to_owned();
    let options = get_options(&app, &token, &id).await;
    assert_eq!(options["thumbprints"], json!([sha1_hex(&old_der)]));
    assert_eq!(
        options["signing_certificates"][0]["not_after"],
        "2029-03-01T12:00:00.000Z"
    );

    // An update leaving the URL alone fetches nothing (the URL may be
    // down meanwhile) and keeps what was shown.
    server.serve(None);
    let patch = |options: Value| {
        let (app, token, id) = (&app, &token, &id);
        async move {
            app.api(
                Method::PATCH,
                &format!("/api/v2/connections/{id}"),
                token,
                Some(json!({ "options": options })),
            )
            .await
        }
    };
    let (status, patched) =
        patch(json!({"metadataUrl": server.url, "idpEntityId": "urn:acme:idp"})).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["options"]["expires"], "2029-03-01T12:00:00.000Z");
    // A changed URL is fetched: a down one is refused, the stored options stay.
    let moved = format!("{}?v=2", server.url);
    let (status, refused) = patch(json!({ "metadataUrl": moved })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("options.metadataUrl") && message.contains("503"),
        "{refused}"
    );
    assert_eq!(
        get_options(&app, &token, &id).await["metadataUrl"],
        server.url.as_str()
    );
    server.serve(Some(idp_metadata(&[&old_der, &new_der], true)));
    let (status, patched) = patch(json!({ "metadataUrl": moved })).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let options = get_options(&app, &token, &id).await;
    assert_eq!(
        options["thumbprints"],
        json!([sha1_hex(&old_der), sha1_hex(&new_der)])
    );
    assert_eq!(options["expires"], "2031-03-01T12:00:00.000Z");

    // Refused at creation: a URL nothing answers at, a document without a
    // signing certificate.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    server.serve(Some(idp_metadata(&[&old_der], false)));
    for (url, why) in [
        (
            format!("http://127.0.0.1:{closed}/metadata"),
            "could not be fetched",
        ),
        (server.url.clone(), "no usable signing certificate"),
    ] {
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v2/connections",
                &token,
                Some(json!({"name": "bad-by-url", "strategy": "samlp",
                            "options": {"metadataUrl": url}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("options.metadataUrl") && message.contains(why),
            "{why}: {body}"
        );
    }
}

/// With no login at all, the hourly pass refreshes a metadata URL's copy
/// (a rollover reaches the connector) and warns 30, 7 and 1 days before a
/// certificate expires, once each, inline connections included.
async fn the_periodic_pass_refreshes_and_warns(backend: Backend) {
    use switchyard::connectors::saml::idp::keep_idps_fresh;
    let app = spawn_reaching_loopback(backend).await;
    let token = app.admin_token().await;
    let state = &app.served_state;
    // Half a day past whole days: the days left do not sit on a boundary.
    let now = time::OffsetDateTime::from_unix_timestamp(app.clock.now_unix_seconds()).unwrap()
        + time::Duration::hours(12);
    let (_, expiring) = certificate("expiring.acme.test", now + time::Duration::days(40));
    let (_, successor) = certificate("successor.acme.test", now + time::Duration::days(400));
    let (inline_pem, inline_der) = certificate("inline.acme.test", now + time::Duration::days(35));
    let server = MetadataServer::start(Some(idp_metadata(&[&expiring], true))).await;
    create_connection(
        &app,
        &token,
        json!({"name": "by-url", "strategy": "samlp", "options": {"metadataUrl": server.url}}),
    )
    .await;
    create_connection(
        &app,
        &token,
        json!({"name": "by-hand", "strategy": "samlp", "options": {
            "signInEndpoint": "https://idp.acme.test/sso", "signingCert": inline_pem}}),
    )
    .await;
    let sha256 =
        |der: &[u8]| hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der));
    let pass = || keep_idps_fresh(&state.store, &state.connectors);
    let warned = |warnings: Vec<switchyard::connectors::saml::idp::ExpiryWarning>| {
        let mut found: Vec<(String, String, i64)> = warnings
            .into_iter()
            .map(|w| (w.connection, w.thumbprint_sha256, w.days_left))
            .collect();
        found.sort();
        found
    };
    assert_eq!(warned(pass().await), [], "nothing expires within 30 days");

    // 29 and 24 days left: each warned once.
    app.clock
        .advance(std::time::Duration::from_secs(11 * 86_400));
    assert_eq!(
        warned(pass().await),
        [
            ("by-hand".to_owned(), sha256(&inline_der), 24),
            ("by-url".to_owned(), sha256(&expiring), 29),
        ]
    );
    // Any connection's change builds every connector again (here at once;
    // on PostgreSQL a node's own notification also does it, later): the
    // warnings logged stay logged.
    state.connectors.invalidate_all();
    assert_eq!(warned(pass().await), [], "once per threshold");

    // The IdP publishes the successor; the pass (the copy an hour old)
    // fetches it: the connector logins use knows it.
    server.serve(Some(idp_metadata(&[&expiring, &successor], true)));
    app.clock.advance(std::time::Duration::from_secs(3_601));
    assert_eq!(warned(pass().await), []);
    let connection = state
        .store
        .list_connections(
            &switchyard::store::ConnectionFilter {
                strategy: None,
                name: Some("by-url".into()),
            },
            &switchyard::store::Page::all(),
        )
        .await
        .unwrap()
        .remove(0);
    let connector = state.connectors.redirect(&connection).await.unwrap();
    let idp = connector.saml_idp().unwrap().current().await.unwrap();
    assert_eq!(idp.certificates.len(), 2, "the refreshed copy is in use");

    // A refresh that fails keeps the last good copy, and the warnings go on:
    // past the 7-day threshold, 6 days left (1 for the inline one).
    server.serve(None);
    app.clock
        .advance(std::time::Duration::from_secs(23 * 86_400));
    let warnings = warned(pass().await);
    assert_eq!(
        warnings,
        [
            ("by-hand".to_owned(), sha256(&inline_der), 1),
            ("by-url".to_owned(), sha256(&expiring), 6),
        ]
    );
    let idp = connector.saml_idp().unwrap().current().await.unwrap();
    assert_eq!(idp.certificates.len(), 2, "the last good copy stays");
}
