//! SAML connections at their ACS (`/login/callback?connection=NAME`): what
//! is refused before any assertion is believed, on a readable page that
//! names the connection, never a 500. Logins with signed responses are in
//! saml_login.rs and, against a real IdP (samlify), in tests/peers.rs.

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{authorize, browser, code_params, location, query_param, tenant};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    a_saml_response_for_no_pending_request_is_refused_with_a_page,
    a_response_at_another_connections_acs_is_refused,
    a_response_that_does_not_verify_ends_on_a_page_naming_the_connection,
    a_saml_response_in_a_query_is_refused,
    a_large_saml_response_reaches_the_page_naming_the_connection,
);

/// A certificate for `signingCert`, base64 DER (the key is thrown away:
/// nothing here is signed).
pub fn idp_certificate() -> String {
    let certificate = rcgen::generate_simple_self_signed(vec!["idp.acme.test".into()]).unwrap();
    base64::engine::general_purpose::STANDARD.encode(certificate.cert.der())
}

/// A `samlp` connection "Acme SAML" called `name`, enabled for
/// `client_id`, the IdP described by `options`; its id.
pub async fn saml_connection(app: &TestApp, client_id: &str, name: &str, options: Value) -> String {
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v2/connections",
            &token,
            Some(
                json!({"name": name, "strategy": "samlp", "display_name": "Acme SAML",
                "enabled_clients": [client_id], "options": options}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// An IdP configured by hand: its sign-in URL and certificate.
fn by_hand() -> Value {
    json!({"signInEndpoint": "https://idp.acme.test/sso", "signingCert": idp_certificate()})
}

/// Posts `form` to the ACS of `connection` (none: the bare callback).
pub async fn post_to_acs(
    app: &TestApp,
    b: &reqwest::Client,
    connection: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let url = match connection {
        Some(name) => app.url(&format!("/login/callback?connection={name}")),
        None => app.url("/login/callback"),
    };
    b.post(url).form(form).send().await.unwrap()
}

/// The login transaction an `/authorize` of `client_id` starts in `b`.
async fn transaction(app: &TestApp, b: &reqwest::Client, client_id: &str) -> String {
    let start = authorize(app, b, &code_params(client_id, &[])).await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    query_param(&app.url(&location(&start)), "state").unwrap()
}

/// The record `begin` leaves for a round trip of `transaction` to
/// `connection_id`, with `relay_state` as its key.
async fn pending_request(app: &TestApp, transaction: &str, connection_id: &str, relay_state: &str) {
    let stored = app
        .served_state
        .store
        .insert_upstream_request(&switchyard::store::StoredUpstreamRequest {
            state_hash: switchyard::flows::sha256_hex(relay_state),
            transaction_id: transaction.to_owned(),
            connection_id: connection_id.to_owned(),
            nonce: "n0nce".into(),
            pkce_verifier: None,
            response: None,
            expires_at: app.clock.now_unix_millis() + 600_000,
        })
        .await
        .unwrap();
    assert!(stored);
}

/// A response anyone could forge: `<x/>`, base64.
const JUNK_RESPONSE: &str = "PHgvPg==";

async fn a_saml_response_for_no_pending_request_is_refused_with_a_page(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    saml_connection(&app, &t.client_id, "acme-saml", by_hand()).await;
    let b = browser();
    // At the ACS of a connection that does not accept unsolicited
    // responses (the default): refused, and the page says so.
    for form in [
        vec![("SAMLResponse", JUNK_RESPONSE)],
        vec![("SAMLResponse", JUNK_RESPONSE), ("RelayState", "")],
    ] {
        let refused = post_to_acs(&app, &b, Some("acme-saml"), &form).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{form:?}");
        let html = refused.text().await.unwrap();
        assert!(html.contains("Acme SAML"), "{html}");
        assert!(
            html.contains("does not accept sign-ins started at the identity provider"),
            "{html}"
        );
    }
    // A RelayState of no pending round trip: an answer posted again, or late.
    let form = [
        ("SAMLResponse", JUNK_RESPONSE),
        ("RelayState", "never-issued"),
    ];
    let refused = post_to_acs(&app, &b, Some("acme-saml"), &form).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("This answer of Acme SAML is for a sign-in that already finished or expired"),
        "{html}"
    );
    // At the bare callback, or the ACS of no SAML connection.
    for connection in [None, Some("nope"), Some("users")] {
        let refused = post_to_acs(
            &app,
            &b,
            connection,
            &[
                ("SAMLResponse", JUNK_RESPONSE),
                ("RelayState", "never-issued"),
            ],
        )
        .await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{connection:?}");
        let html = refused.text().await.unwrap();
        assert!(html.contains("Sign-in response not expected"), "{html}");
    }
    let token = app.admin_token().await;
    let (_, users) = app
        .api(
            Method::GET,
            "/api/v2/users?connection=acme-saml&include_totals=true",
            &token,
            None,
        )
        .await;
    assert_eq!(users["total"], 0, "{users}");
}

/// A response whose RelayState names a round trip of another connection
/// than the ACS it arrives at (an InResponseTo of another connection) is
/// refused before it is kept: the round trip can still be answered at its
/// own ACS.
async fn a_response_at_another_connections_acs_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let acme = saml_connection(&app, &t.client_id, "acme-saml", by_hand()).await;
    saml_connection(&app, &t.client_id, "other-saml", by_hand()).await;
    let b = browser();
    let transaction = transaction(&app, &b, &t.client_id).await;
    pending_request(&app, &transaction, &acme, "relay-1").await;
    let form = [("SAMLResponse", JUNK_RESPONSE), ("RelayState", "relay-1")];
    let refused = post_to_acs(&app, &b, Some("other-saml"), &form).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Cannot sign in with Acme SAML"), "{html}");
    assert!(
        !html.contains("relay-1") && !html.contains(JUNK_RESPONSE),
        "{html}"
    );

    let kept = post_to_acs(&app, &b, Some("acme-saml"), &form).await;
    assert_eq!(kept.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&kept), "/u/login/callback?state=relay-1");

    // A SAML response naming an OIDC connection's round trip, even at the
    // bare callback, is no answer to it.
    let token = app.admin_token().await;
    let (status, oidc) = app
        .api(
            Method::POST,
            "/api/v2/connections",
            &token,
            Some(
                json!({"name": "acme-oidc", "strategy": "oidc", "display_name": "Acme OIDC",
                "enabled_clients": [t.client_id],
                "options": {"issuer": "https://idp.acme.example", "client_id": "sy",
                            "client_secret": "s3cret"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{oidc}");
    pending_request(
        &app,
        &transaction,
        oidc["id"].as_str().unwrap(),
        "oidc-state",
    )
    .await;
    let form = [
        ("SAMLResponse", JUNK_RESPONSE),
        ("RelayState", "oidc-state"),
    ];
    for acs in [None, Some("acme-oidc")] {
        let refused = post_to_acs(&app, &b, acs, &form).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{acs:?}");
        let html = refused.text().await.unwrap();
        assert!(html.contains("Cannot sign in with Acme OIDC"), "{html}");
    }
    // Its own answer still resumes it.
    let answered = b
        .get(app.url("/login/callback?code=c&state=oidc-state"))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), StatusCode::SEE_OTHER);
}

/// A response kept for its round trip is verified when the login resumes:
/// one that does not verify ends on the page naming the connection, the
/// round trip is used up, and nothing of the response is shown.
async fn a_response_that_does_not_verify_ends_on_a_page_naming_the_connection(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let acme = saml_connection(&app, &t.client_id, "acme-saml", by_hand()).await;
    let b = browser();
    let transaction = transaction(&app, &b, &t.client_id).await;
    pending_request(&app, &transaction, &acme, "relay-2").await;
    let form = [("SAMLResponse", JUNK_RESPONSE), ("RelayState", "relay-2")];
    let kept = post_to_acs(&app, &b, Some("acme-saml"), &form).await;
    assert_eq!(kept.status(), StatusCode::SEE_OTHER);
    let resumed = b.get(app.url(&location(&kept))).send().await.unwrap();
    assert_eq!(resumed.status(), StatusCode::BAD_REQUEST);
    let html = resumed.text().await.unwrap();
    assert!(html.contains("Cannot sign in with Acme SAML"), "{html}");
    assert!(!html.contains(JUNK_RESPONSE), "{html}");
    // Used up: the same answer again is no longer a round trip's.
    let again = post_to_acs(&app, &b, Some("acme-saml"), &form).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("is for a sign-in that already finished or expired")
    );
}

/// The ACS takes responses beyond the server's usual 64 KiB body (many
/// groups, encrypted): one past the SAML cap is refused on the page naming
/// the connection, not with a bare 413; past twice the cap, 413.
async fn a_large_saml_response_reaches_the_page_naming_the_connection(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let acme = saml_connection(&app, &t.client_id, "acme-saml", by_hand()).await;
    let b = browser();
    let transaction = transaction(&app, &b, &t.client_id).await;
    pending_request(&app, &transaction, &acme, "relay-large").await;
    let large = "A".repeat(switchyard::connectors::saml::validate::MAX_RESPONSE_LEN + 4);
    let form = [
        ("SAMLResponse", large.as_str()),
        ("RelayState", "relay-large"),
    ];
    let kept = post_to_acs(&app, &b, Some("acme-saml"), &form).await;
    assert_eq!(kept.status(), StatusCode::SEE_OTHER);
    let resumed = b.get(app.url(&location(&kept))).send().await.unwrap();
    assert_eq!(resumed.status(), StatusCode::BAD_REQUEST);
    let html = resumed.text().await.unwrap();
    assert!(html.contains("Cannot sign in with Acme SAML"), "{html}");
    let huge = "A".repeat(3 * switchyard::connectors::saml::validate::MAX_RESPONSE_LEN);
    let form = [
        ("SAMLResponse", huge.as_str()),
        ("RelayState", "relay-large"),
    ];
    let refused = post_to_acs(&app, &b, Some("acme-saml"), &form).await;
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// The Web Browser SSO profile posts a Response: one in a query (which
/// would sit in logs and history) is refused, whatever it names.
async fn a_saml_response_in_a_query_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let acme = saml_connection(&app, &t.client_id, "acme-saml", by_hand()).await;
    let b = browser();
    let transaction = transaction(&app, &b, &t.client_id).await;
    pending_request(&app, &transaction, &acme, "relay-3").await;
    let refused = b
        .get(app.url(&format!(
            "/login/callback?connection=acme-saml&SAMLResponse={JUNK_RESPONSE}&RelayState=relay-3"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("HTTP-POST only"));
    // The round trip is still open for its posted answer.
    let form = [("SAMLResponse", JUNK_RESPONSE), ("RelayState", "relay-3")];
    let kept = post_to_acs(&app, &b, Some("acme-saml"), &form).await;
    assert_eq!(kept.status(), StatusCode::SEE_OTHER);
}
