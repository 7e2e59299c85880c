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
    a_saml_session_ends_at_the_idp_before_the_application_gets_the_browser_back,
    a_forged_logout_response_leads_nowhere_and_the_session_stays_ended,
    a_logout_response_may_come_back_by_post_and_disable_signout_skips_the_idp,
    an_idp_asserting_another_organizations_domain_is_refused,
    a_session_of_an_idp_enters_only_organizations_owning_its_email,
);

const IDP_ENTITY_ID: &str = "https://idp.metahexa.test/saml";
const SSO_REDIRECT: &str = "https://idp.metahexa.test/sso?tenant=metahexa";
const SSO_POST: &str = "https://idp.metahexa.test/sso/post";
const SLO: &str = "https://idp.metahexa.test/slo";
const LOGGED_OUT: &str = "https://app.metahexa.test/logged-out";
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
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{SLO}"/>
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
    // ana's domain is metahexa's: the email-domain guard lets her in.
    app.verified_domain(&token, &t.other_org_id, "metahexa.example")
        .await;
}

/// The code in the redirect back to the client.
fn code_of(response: &reqwest::Response) -> String {
    assert!(response.status().is_redirection(), "{}", response.status());
    let back = location(response);
    assert!(back.starts_with(CALLBACK), "{back}");
    query_param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"))
}

/// A metahexa login of ana through `metahexa-saml` (made here) in the
/// browser `b`: the tokens, the connection's id, and the form posted to the
/// ACS.
async fn log_in_ana(
    app: &TestApp,
    t: &Tenant,
    idp: &Idp,
    b: &reqwest::Client,
) -> (Value, String, Vec<(String, String)>) {
    let connection = saml_connection(
        app,
        &t.client_id,
        "metahexa-saml",
        json!({"metadataXml": idp.metadata()}),
    )
    .await;
    enable_on_metahexa(app, t, &connection).await;
    let (tokens, form) = log_in_ana_again(app, t, idp, b).await;
    (tokens, connection, form)
}

/// [`log_in_ana`] through the connection it made.
async fn log_in_ana_again(
    app: &TestApp,
    t: &Tenant,
    idp: &Idp,
    b: &reqwest::Client,
) -> (Value, Vec<(String, String)>) {
    let (resumed, form) = metahexa_login_as(app, t, idp, b, ANA).await;
    let tokens = redeem_code(app, t, &code_of(&resumed), None).await;
    (tokens, form)
}

/// A metahexa login through `metahexa-saml` whose IdP asserts `email`: the
/// answer where the login resumes, and the form posted to the ACS.
async fn metahexa_login_as(
    app: &TestApp,
    t: &Tenant,
    idp: &Idp,
    b: &reqwest::Client,
    email: &str,
) -> (reqwest::Response, Vec<(String, String)>) {
    let params = code_params(&t.client_id, &[("organization", &t.other_org_id)]);
    let (transaction, html) = login_page(app, b, &params).await;
    let away = click(app, b, &html, &transaction, "metahexa-saml").await;
    let (request, relay_state) = redirected_request(&url::Url::parse(&location(&away)).unwrap());
    let sp = sp_of(app, "metahexa-saml");
    let response = idp.response(app, &sp, Some(&request.id), email);
    let form = vec![
        ("SAMLResponse".to_owned(), response),
        ("RelayState".to_owned(), relay_state),
    ];
    let kept = post_to_acs(app, b, Some("metahexa-saml"), &pairs(&form)).await;
    assert_eq!(kept.status(), StatusCode::SEE_OTHER);
    let resumed = b.get(app.url(&location(&kept))).send().await.unwrap();
    (resumed, form)
}

/// The email-domain guard: metahexa's IdP (misconfigured, or its admin
/// hostile) asserts the address of a person of hoekstra, whose domain
/// hoekstra verified. The login into metahexa is refused on a page naming
/// the connection (not hoekstra), and no user is made; with the
/// connection's `allow_other_email_domains` exception it goes through.
async fn an_idp_asserting_another_organizations_domain_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let idp = Idp::new();
    let b = browser();
    let token = app.admin_token().await;
    app.verified_domain(&token, &t.org_id, "orgb.test").await;
    // ana logs in as herself: metahexa.example is metahexa's.
    let (tokens, connection, _) = log_in_ana(&app, &t, &idp, &b).await;
    assert_eq!(claims(tokens["id_token"].as_str().unwrap())["email"], ANA);

    let victim = "victim@orgb.test";
    let (refused, _) = metahexa_login_as(&app, &t, &idp, &browser(), victim).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("Acme SAML signed you in as victim@orgb.test"),
        "{html}"
    );
    assert!(
        html.contains("not in a domain this organization has verified"),
        "{html}"
    );
    assert!(
        !html.contains("hoekstra"),
        "the page names no other organization: {html}"
    );
    let (status, users) = app
        .api(
            Method::GET,
            &format!("/api/v2/users-by-email?email={victim}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        (status, users),
        (StatusCode::OK, json!([])),
        "no user was made"
    );

    // A pending (unverified) claim of the domain by metahexa counts for nothing.
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{}/discovery-domains", t.other_org_id),
            &token,
            Some(json!({"domain": "pending.metahexa.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (refused, _) =
        metahexa_login_as(&app, &t, &idp, &browser(), "x@pending.metahexa.test").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    // The exception, for an IdP that asserts other domains.
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{connection}"),
            &token,
            Some(json!({"options": {"metadataXml": idp.metadata(),
                "allow_other_email_domains": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["options"]["allow_other_email_domains"], true);
    let (resumed, _) = metahexa_login_as(&app, &t, &idp, &browser(), victim).await;
    let tokens = redeem_code(&app, &t, &code_of(&resumed), None).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["email"], victim);
    assert_eq!(id_token["org_id"], Value::String(t.other_org_id.clone()));
}

/// The guard holds for a session too: a person signed in through metahexa's
/// IdP without an organization (the client allows that) cannot take the
/// session into hoekstra, which enables the same connection (metahexa.example
/// is not hoekstra's), unless the connection lifts the guard.
async fn a_session_of_an_idp_enters_only_organizations_owning_its_email(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let idp = Idp::new();
    let b = browser();
    let (_, connection, _) = log_in_ana(&app, &t, &idp, &b).await;
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{}/enabled_connections", t.org_id),
            &token,
            Some(json!({"connection_id": connection, "assign_membership_on_login": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let params = code_params(&t.client_id, &[("organization", &t.org_id)]);
    let refused = authorize(&app, &b, &params).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("not in a domain this organization has verified"),
        "{html}"
    );
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{connection}"),
            &token,
            Some(json!({"options": {"metadataXml": idp.metadata(),
                "allow_other_email_domains": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answered = authorize(&app, &b, &params).await;
    let tokens = redeem_code(&app, &t, &code_of(&answered), None).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["org_id"],
        Value::String(t.org_id.clone())
    );
}

fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

async fn a_metahexa_user_logs_in_with_a_signed_assertion(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let idp = Idp::new();
    let b = browser();
    let (tokens, _, form) = log_in_ana(&app, &t, &idp, &b).await;
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
    let replayed = post_to_acs(&app, &b, Some("metahexa-saml"), &pairs(&form)).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
}

/// Changes the tenant's web client with `changes`.
async fn patch_client(app: &TestApp, t: &Tenant, changes: Value) {
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &token,
            Some(changes),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Sets the tenant's web client's `initiate_login_uri`.
async fn set_initiate_login_uri(app: &TestApp, t: &Tenant, uri: Value) {
    patch_client(app, t, json!({"initiate_login_uri": uri})).await;
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

/// Allows [`LOGGED_OUT`] as the web client's post-logout URL.
async fn allow_logged_out(app: &TestApp, t: &Tenant) {
    patch_client(app, t, json!({"allowed_logout_urls": [LOGGED_OUT]})).await;
}

/// The RP-initiated logout of the session `tokens` came from, asking to
/// come back to [`LOGGED_OUT`] with `state=s7`: the browser is sent to the
/// IdP's SingleLogoutService. The LogoutRequest's XML and the redirect URL.
async fn log_out_to_the_idp(
    app: &TestApp,
    b: &reqwest::Client,
    tokens: &Value,
) -> (roxmltree::Document<'static>, url::Url) {
    let away = b
        .get(app.url("/oidc/logout"))
        .query(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", LOGGED_OUT),
            ("state", "s7"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(away.status(), StatusCode::SEE_OTHER);
    let url = url::Url::parse(&location(&away)).unwrap();
    assert!(
        url.as_str().starts_with(&format!("{SLO}?SAMLRequest=")),
        "{url}"
    );
    let deflated = STANDARD.decode(param(&url, "SAMLRequest")).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    let xml: &'static str = Box::leak(xml.into_boxed_str());
    (roxmltree::Document::parse(xml).unwrap(), url)
}

/// The IdP's LogoutResponse to `request_id`, with `signature` (a template
/// to sign, or nothing) after its Issuer.
fn logout_response_xml(app: &TestApp, request_id: &str, signature: &str) -> String {
    format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lr{}" Version="2.0" IssueInstant="{}" Destination="{}logout" InResponseTo="{request_id}"><saml:Issuer>{IDP_ENTITY_ID}</saml:Issuer>{signature}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
        switchyard::model::ids::random_alphanumeric(16),
        switchyard::clock::rfc3339_from_millis(app.clock.now_unix_millis()),
        app.issuer,
    )
}

/// The IdP's LogoutResponse to `request_id` by HTTP-Redirect, its query
/// signed with `signer` (PKCS#8): the path and query to send the browser to.
fn logout_response(app: &TestApp, signer: &[u8], request_id: &str, relay_state: &str) -> String {
    use std::io::Write as _;
    let xml = logout_response_xml(app, request_id, "");
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater.write_all(xml.as_bytes()).unwrap();
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let query = format!(
        "SAMLResponse={}&RelayState={}&SigAlg={}",
        encode(&STANDARD.encode(deflater.finish().unwrap())),
        encode(relay_state),
        encode("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
    );
    let key = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(signer).unwrap();
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        query.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!(
        "/logout?{query}&Signature={}",
        encode(&STANDARD.encode(signature))
    )
}

/// Whether `b` still has a session that answers a silent authorization.
async fn silently_logged_in(app: &TestApp, t: &Tenant, b: &reqwest::Client) -> bool {
    let params = code_params(
        &t.client_id,
        &[("prompt", "none"), ("organization", &t.other_org_id)],
    );
    let response = authorize(app, b, &params).await;
    query_param(&location(&response), "code").is_some()
}

fn element<'a>(document: &'a roxmltree::Document<'a>, name: &str) -> roxmltree::Node<'a, 'a> {
    document
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

async fn a_saml_session_ends_at_the_idp_before_the_application_gets_the_browser_back(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    allow_logged_out(&app, &t).await;
    let idp = Idp::new();
    let b = browser();
    let (tokens, connection, form) = log_in_ana(&app, &t, &idp, &b).await;
    let asserted = String::from_utf8(STANDARD.decode(&form[0].1).unwrap()).unwrap();
    let session_index = asserted
        .split("SessionIndex=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();

    let (request, url) = log_out_to_the_idp(&app, &b, &tokens).await;
    assert!(
        !silently_logged_in(&app, &t, &b).await,
        "the session ended before the IdP was asked"
    );
    // The LogoutRequest names the asserted subject and session, from the
    // connection's SP, and is signed with the SP's current key.
    let root = request.root_element();
    assert_eq!(root.tag_name().name(), "LogoutRequest");
    assert_eq!(root.attribute("Destination"), Some(SLO));
    let request_id = root.attribute("ID").unwrap().to_owned();
    assert!(
        request_id.starts_with('_') && request_id.len() > 30,
        "{request_id}"
    );
    let sp = sp_of(&app, "metahexa-saml");
    assert_eq!(
        element(&request, "Issuer").text(),
        Some(sp.entity_id.as_str())
    );
    let name_id = element(&request, "NameID");
    assert_eq!(name_id.text(), Some(ANA));
    assert_eq!(
        name_id.attribute("Format"),
        Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
    );
    assert_eq!(
        element(&request, "SessionIndex").text(),
        Some(session_index.as_str())
    );
    let keys = switchyard::connectors::saml::sp::keys(&app.served_state.store, &connection)
        .await
        .unwrap();
    let verifier = samael::crypto::UrlVerifier::from_x509(&CertificateDer::from(
        keys.signing.certificate_der.clone(),
    ))
    .unwrap();
    assert!(verifier.verify_signed_request_url(&url).unwrap());
    let relay_state = param(&url, "RelayState");

    // A response naming no logout in progress leads nowhere.
    let unknown = b
        .get(app.url(&logout_response(&app, &idp.pkcs8, &request_id, "not-ours")))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert!(unknown.headers().get("location").is_none());

    // The IdP's answer: back to the application, with its state.
    let answer = logout_response(&app, &idp.pkcs8, &request_id, &relay_state);
    let back = b.get(app.url(&answer)).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&back), format!("{LOGGED_OUT}?state=s7"));
    // Once.
    let again = b.get(app.url(&answer)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.headers().get("location").is_none());
}

async fn a_forged_logout_response_leads_nowhere_and_the_session_stays_ended(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    allow_logged_out(&app, &t).await;
    let idp = Idp::new();
    let b = browser();
    let (tokens, _, _) = log_in_ana(&app, &t, &idp, &b).await;
    let (request, url) = log_out_to_the_idp(&app, &b, &tokens).await;
    let request_id = request.root_element().attribute("ID").unwrap().to_owned();
    let relay_state = param(&url, "RelayState");
    // Signed by a key that is not the IdP's.
    let forged = logout_response(&app, &Idp::new().pkcs8, &request_id, &relay_state);
    let refused = b.get(app.url(&forged)).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.headers().get("location").is_none());
    let page = refused.text().await.unwrap();
    assert!(page.contains("logged out here"), "{page}");
    assert!(!page.contains(LOGGED_OUT), "{page}");
    assert!(!silently_logged_in(&app, &t, &b).await);
}

async fn a_logout_response_may_come_back_by_post_and_disable_signout_skips_the_idp(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    allow_logged_out(&app, &t).await;
    let idp = Idp::new();
    let b = browser();
    let (tokens, connection, _) = log_in_ana(&app, &t, &idp, &b).await;
    let (request, url) = log_out_to_the_idp(&app, &b, &tokens).await;
    let request_id = request.root_element().attribute("ID").unwrap().to_owned();
    // The answer by HTTP-POST: an enveloped signature, the IdP's.
    let xml = logout_response_xml(&app, &request_id, "{SIGNATURE}");
    let id = xml
        .split("ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let mut template = Signature::template(id, &CertificateDer::from(idp.certificate.clone()));
    for reference in &mut template.signed_info.reference {
        reference.digest_method.algorithm = DigestAlgorithm::Sha256;
    }
    let xml = xml.replace("{SIGNATURE}", &template.to_string().unwrap());
    let signed = Crypto::sign_xml(&xml, &idp.pkcs8).unwrap();
    let back = b
        .post(app.url("/logout"))
        .form(&[
            ("SAMLResponse", STANDARD.encode(&signed).as_str()),
            ("RelayState", param(&url, "RelayState").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&back), format!("{LOGGED_OUT}?state=s7"));

    // `disableSignout` (Auth0's): the logout stays at Switchyard.
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{connection}"),
            &token,
            Some(json!({"options": {"metadataXml": idp.metadata(), "disableSignout": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let b = browser();
    let (tokens, _) = log_in_ana_again(&app, &t, &idp, &b).await;
    let out = b
        .get(app.url("/oidc/logout"))
        .query(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", LOGGED_OUT),
            ("state", "s8"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), format!("{LOGGED_OUT}?state=s8"));
    assert!(!silently_logged_in(&app, &t, &b).await);
}
