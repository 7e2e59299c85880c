//! Logins through a `samlp` connection, with an IdP played by the test: its
//! key made here, its Responses signed with samael (xmlsec). They need the
//! IdP description, the SP keys and the validation of the merged tree
//! (`connectors/saml/{idp,sp,validate}.rs`); the journeys against a real
//! IdP (samlify) are in tests/peers.rs.

use std::io::Read as _;
use std::str::FromStr as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use samael::crypto::{CertificateDer, Crypto, CryptoProvider as _};
use samael::schema::AuthnRequest;
use samael::signature::{DigestAlgorithm, Signature};
use samael::traits::ToXml as _;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::saml_flow::{idp_certificate, post_to_acs, saml_connection};
use crate::support::oidc::{
    CALLBACK, Tenant, authorize, browser, claims, code_params, hidden_fields, location,
    query_param, redeem_code, tenant,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    the_login_button_sends_the_request_of_its_round_trip_by_redirect,
    the_post_binding_sends_the_request_by_an_auto_posting_form,
    a_metahexa_user_logs_in_with_a_signed_assertion,
    an_idp_initiated_login_goes_to_the_clients_login_page_and_ends_with_a_code,
    an_idp_initiated_login_needs_the_clients_initiate_login_uri,
);

const IDP_ENTITY_ID: &str = "https://idp.metahexa.test/saml";
const SSO_REDIRECT: &str = "https://idp.metahexa.test/sso?tenant=metahexa";
const SSO_POST: &str = "https://idp.metahexa.test/sso/post";
const ANA: &str = "ana@metahexa.example";

/// The IdP's signing key (RSA, PKCS#8) and certificate.
struct Idp {
    pkcs8: Vec<u8>,
    certificate: Vec<u8>,
}

impl Idp {
    fn new() -> Self {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let pkcs8 = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
            .unwrap()
            .as_ref()
            .to_vec();
        let signer = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_slice()),
            &rcgen::PKCS_RSA_SHA256,
        )
        .unwrap();
        let certificate = rcgen::CertificateParams::new(vec!["idp.metahexa.test".into()])
            .unwrap()
            .self_signed(&signer)
            .unwrap();
        Idp {
            pkcs8,
            certificate: certificate.der().to_vec(),
        }
    }

    /// Its metadata, as an admin pastes it into `options.metadataXml`.
    fn metadata(&self) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{IDP_ENTITY_ID}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{}"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{SSO_POST}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#,
            STANDARD.encode(&self.certificate),
            SSO_REDIRECT.replace('&', "&amp;"),
        )
    }

    /// A Response for `email`, its assertion signed (RSA-SHA256, SHA-256
    /// digest), answering `in_response_to` (none: unsolicited); base64.
    fn response(
        &self,
        app: &TestApp,
        sp: &Sp,
        in_response_to: Option<&str>,
        email: &str,
    ) -> String {
        let now = app.clock.now_unix_millis();
        let at = switchyard::clock::rfc3339_from_millis;
        let (issued, before, after) = (at(now), at(now - 60_000), at(now + 300_000));
        let suffix = switchyard::model::ids::random_alphanumeric(16);
        let assertion_id = format!("_a{suffix}");
        let in_response_to = in_response_to
            .map(|id| format!(r#" InResponseTo="{id}""#))
            .unwrap_or_default();
        let mut signature = Signature::template(
            &assertion_id,
            &CertificateDer::from(self.certificate.clone()),
        );
        for reference in &mut signature.signed_info.reference {
            reference.digest_method.algorithm = DigestAlgorithm::Sha256;
        }
        let signature = signature.to_string().unwrap();
        let acs = sp.acs.replace('&', "&amp;");
        let xml = format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r{suffix}" Version="2.0" IssueInstant="{issued}" Destination="{acs}"{in_response_to}><saml:Issuer>{IDP_ENTITY_ID}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="{assertion_id}" Version="2.0" IssueInstant="{issued}"><saml:Issuer>{IDP_ENTITY_ID}</saml:Issuer>{signature}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{email}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{after}" Recipient="{acs}"{in_response_to}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{before}" NotOnOrAfter="{after}"><saml:AudienceRestriction><saml:Audience>{}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{issued}" SessionIndex="_s{suffix}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue>{email}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="firstName"><saml:AttributeValue>Ana</saml:AttributeValue></saml:Attribute><saml:Attribute Name="groups"><saml:AttributeValue>staff</saml:AttributeValue><saml:AttributeValue>admins</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"#,
            sp.entity_id,
        );
        let signed = Crypto::sign_xml(&xml, &self.pkcs8).unwrap();
        // The test's own IdP signs what it means to: if a login below is
        // refused, Switchyard refused a good signature.
        Crypto::verify_signed_xml(
            &signed,
            &CertificateDer::from(self.certificate.clone()),
            Some("ID"),
        )
        .unwrap();
        STANDARD.encode(signed)
    }
}

/// What the IdP's admin typed in for Switchyard (the SP).
struct Sp {
    entity_id: String,
    acs: String,
}

fn sp_of(app: &TestApp, connection: &str) -> Sp {
    Sp {
        entity_id: format!("urn:auth0:{}:{connection}", app.served_state.tenant_name),
        acs: format!("{}login/callback?connection={connection}", app.issuer),
    }
}

/// The login page of an `/authorize` with `params`: its transaction and HTML.
async fn login_page(
    app: &TestApp,
    b: &reqwest::Client,
    params: &[(&str, &str)],
) -> (String, String) {
    let start = authorize(app, b, params).await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let page = b.get(app.url(&location(&start))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let transaction = query_param(page.url().as_str(), "state").unwrap();
    (transaction, page.text().await.unwrap())
}

/// Clicks the login page's button of `connection`.
async fn click(
    app: &TestApp,
    b: &reqwest::Client,
    html: &str,
    transaction: &str,
    connection: &str,
) -> reqwest::Response {
    let link = format!("/u/login/connection?state={transaction}&amp;connection={connection}");
    assert!(html.contains(&link), "no button for {connection}: {html}");
    b.get(app.url(&link.replace("&amp;", "&")))
        .send()
        .await
        .unwrap()
}

fn param(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// The AuthnRequest of an HTTP-Redirect URL, inflated, and its RelayState.
fn redirected_request(url: &url::Url) -> (AuthnRequest, String) {
    let deflated = STANDARD.decode(param(url, "SAMLRequest")).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    (
        AuthnRequest::from_str(&xml).unwrap(),
        param(url, "RelayState"),
    )
}

/// The request is the one of the round trip its RelayState keys: its ID is
/// `"_"` and the record's nonce; its ACS and Issuer are the connection's.
async fn assert_request_of_round_trip(
    app: &TestApp,
    request: &AuthnRequest,
    relay_state: &str,
    connection: &str,
    destination: &str,
) {
    let record = app
        .served_state
        .store
        .get_upstream_request(
            &switchyard::flows::sha256_hex(relay_state),
            app.clock.now_unix_millis(),
        )
        .await
        .unwrap();
    assert_eq!(request.id, format!("_{}", record.nonce));
    let sp = sp_of(app, connection);
    assert_eq!(
        request.assertion_consumer_service_url.as_deref(),
        Some(sp.acs.as_str())
    );
    assert_eq!(
        request.issuer_value().as_deref(),
        Some(sp.entity_id.as_str())
    );
    assert_eq!(request.destination.as_deref(), Some(destination));
    assert_eq!(
        request.protocol_binding.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    );
}

async fn the_login_button_sends_the_request_of_its_round_trip_by_redirect(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let idp = Idp::new();
    saml_connection(
        &app,
        &t.client_id,
        "metahexa-saml",
        json!({"metadataXml": idp.metadata()}),
    )
    .await;
    let b = browser();
    let (transaction, html) = login_page(&app, &b, &code_params(&t.client_id, &[])).await;
    assert!(html.contains("Continue with Acme SAML"), "{html}");
    let away = click(&app, &b, &html, &transaction, "metahexa-saml").await;
    assert_eq!(away.status(), StatusCode::SEE_OTHER);
    let url = url::Url::parse(&location(&away)).unwrap();
    assert!(
        url.as_str()
            .starts_with("https://idp.metahexa.test/sso?tenant=metahexa&SAMLRequest="),
        "the IdP's own query is kept: {url}"
    );
    let (request, relay_state) = redirected_request(&url);
    assert_request_of_round_trip(&app, &request, &relay_state, "metahexa-saml", SSO_REDIRECT).await;
}

async fn the_post_binding_sends_the_request_by_an_auto_posting_form(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    saml_connection(
        &app,
        &t.client_id,
        "acme-saml",
        json!({"signInEndpoint": "https://idp.acme.test/sso", "signingCert": idp_certificate(),
               "protocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"}),
    )
    .await;
    let b = browser();
    let (transaction, html) = login_page(&app, &b, &code_params(&t.client_id, &[])).await;
    let form = click(&app, &b, &html, &transaction, "acme-saml").await;
    assert_eq!(form.status(), StatusCode::OK);
    let html = form.text().await.unwrap();
    assert!(
        html.contains(r#"action="https://idp.acme.test/sso""#),
        "{html}"
    );
    let fields = hidden_fields(&html);
    let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["SAMLRequest", "RelayState"]);
    let xml = String::from_utf8(STANDARD.decode(&fields[0].1).unwrap()).unwrap();
    let request = AuthnRequest::from_str(&xml).unwrap();
    assert_request_of_round_trip(
        &app,
        &request,
        &fields[1].1,
        "acme-saml",
        "https://idp.acme.test/sso",
    )
    .await;
}

/// Enables `connection_id` on metahexa, assigning membership on login.
async fn enable_on_metahexa(app: &TestApp, t: &Tenant, connection_id: &str) {
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!(
                "/api/v2/organizations/{}/enabled_connections",
                t.other_org_id
            ),
            &token,
            Some(
                json!({"connection_id": connection_id, "assign_membership_on_login": true,
                        "show_as_button": true}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The code in the redirect back to the client.
fn code_of(response: &reqwest::Response) -> String {
    assert!(response.status().is_redirection(), "{}", response.status());
    let back = location(response);
    assert!(back.starts_with(CALLBACK), "{back}");
    query_param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"))
}

async fn a_metahexa_user_logs_in_with_a_signed_assertion(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let idp = Idp::new();
    let connection = saml_connection(
        &app,
        &t.client_id,
        "metahexa-saml",
        json!({"metadataXml": idp.metadata()}),
    )
    .await;
    enable_on_metahexa(&app, &t, &connection).await;
    let b = browser();
    let params = code_params(&t.client_id, &[("organization", &t.other_org_id)]);
    let (transaction, html) = login_page(&app, &b, &params).await;
    let away = click(&app, &b, &html, &transaction, "metahexa-saml").await;
    let (request, relay_state) = redirected_request(&url::Url::parse(&location(&away)).unwrap());
    let sp = sp_of(&app, "metahexa-saml");
    let response = idp.response(&app, &sp, Some(&request.id), ANA);
    let form = [
        ("SAMLResponse", response.as_str()),
        ("RelayState", relay_state.as_str()),
    ];
    let kept = post_to_acs(&app, &b, Some("metahexa-saml"), &form).await;
    assert_eq!(kept.status(), StatusCode::SEE_OTHER);
    let resumed = b.get(app.url(&location(&kept))).send().await.unwrap();
    let tokens = redeem_code(&app, &t, &code_of(&resumed), None).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["email"], ANA, "{id_token}");
    assert_eq!(id_token["org_id"], Value::String(t.other_org_id.clone()));
    assert!(
        id_token["sub"]
            .as_str()
            .unwrap()
            .starts_with("samlp|metahexa-saml|"),
        "{id_token}"
    );

    // The same response again: its round trip is used up, and the
    // connection takes no unsolicited responses.
    let replayed = post_to_acs(&app, &b, Some("metahexa-saml"), &form).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
}

/// Sets the tenant's web client's `initiate_login_uri`.
async fn set_initiate_login_uri(app: &TestApp, t: &Tenant, uri: Value) {
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &token,
            Some(json!({"initiate_login_uri": uri})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn an_idp_initiated_login_goes_to_the_clients_login_page_and_ends_with_a_code(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let idp = Idp::new();
    saml_connection(
        &app,
        &t.client_id,
        "metahexa-saml",
        json!({"metadataXml": idp.metadata(),
               "idpinitiated": {"enabled": true, "client_id": t.client_id}}),
    )
    .await;
    set_initiate_login_uri(&app, &t, json!("https://app.metahexa.test/login?from=idp")).await;
    let sp = sp_of(&app, "metahexa-saml");
    let response = idp.response(&app, &sp, None, ANA);
    let b = browser();
    let form = [("SAMLResponse", response.as_str())];
    let sent = post_to_acs(&app, &b, Some("metahexa-saml"), &form).await;
    assert!(sent.status().is_redirection(), "{}", sent.status());
    let to_app = location(&sent);
    assert!(
        to_app.starts_with("https://app.metahexa.test/login?from=idp&"),
        "{to_app}"
    );
    assert_eq!(
        query_param(&to_app, "iss").as_deref(),
        Some(app.issuer.as_str())
    );
    assert_eq!(query_param(&to_app, "login_hint").as_deref(), Some(ANA));
    assert_eq!(query_param(&to_app, "code"), None, "never a code here");

    // The application starts an ordinary authorization request: the new
    // session answers it.
    let params = code_params(&t.client_id, &[("prompt", "none"), ("login_hint", ANA)]);
    let answered = authorize(&app, &b, &params).await;
    let tokens = redeem_code(&app, &t, &code_of(&answered), None).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["email"], ANA, "{id_token}");

    // The same response again: the assertion was used.
    let replayed = post_to_acs(&app, &browser(), Some("metahexa-saml"), &form).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert!(replayed.text().await.unwrap().contains("Acme SAML"));
}

async fn an_idp_initiated_login_needs_the_clients_initiate_login_uri(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    saml_connection(
        &app,
        &t.client_id,
        "acme-saml",
        json!({"signInEndpoint": "https://idp.acme.test/sso", "signingCert": idp_certificate(),
               "idpinitiated": {"enabled": true, "client_id": t.client_id}}),
    )
    .await;
    let refused = post_to_acs(
        &app,
        &browser(),
        Some("acme-saml"),
        &[("SAMLResponse", "PHgvPg==")],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(html.contains("initiate_login_uri"), "{html}");
    assert!(html.contains("Acme SAML"), "{html}");
}
