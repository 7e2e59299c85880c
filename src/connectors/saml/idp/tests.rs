//! The IdP of a connection: described from inline options once; from a
//! metadata URL served on 127.0.0.1, fetched once for the logins waiting,
//! refreshed after [`METADATA_MAX_AGE_MS`] (the test clock moves, nothing
//! sleeps), the last good copy kept while a refresh fails.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::model::connection::{ConnectionOptions, Strategy, test_certificate, test_metadata};

const NOW_MS: i64 = 1_800_000_000_000;

fn options(options: Value) -> SamlOptions {
    match ConnectionOptions::parse(
        Strategy::Saml,
        options.as_object().cloned().unwrap_or_default(),
    ) {
        Ok(ConnectionOptions::Saml(options)) => options,
        other => panic!("{other:?}"),
    }
}

fn cert(name: &str) -> rcgen::Certificate {
    test_certificate(name, time::macros::datetime!(2031-01-01 0:00 UTC))
}

/// Plain http to loopback, as for a Switchyard running on localhost.
fn loopback_outbound() -> Outbound {
    Outbound::new(crate::outbound::Destinations::new(true, Vec::new()))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A metadata URL on 127.0.0.1 serving what the test sets (503 when `None`).
struct MetadataServer {
    url: String,
    document: Mutex<Option<String>>,
    requests: AtomicUsize,
}

impl MetadataServer {
    async fn start(document: String) -> Arc<MetadataServer> {
        use axum::extract::State;
        use axum::response::IntoResponse;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        let server = Arc::new(MetadataServer {
            url: format!("http://127.0.0.1:{port}/metadata"),
            document: Mutex::new(Some(document)),
            requests: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route(
                "/metadata",
                axum::routing::get(|State(server): State<Arc<MetadataServer>>| async move {
                    server.requests.fetch_add(1, Ordering::SeqCst);
                    let document = server.document.lock().unwrap().clone();
                    match document {
                        Some(xml) => xml.into_response(),
                        None => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    }
                }),
            )
            .with_state(Arc::clone(&server));
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    fn serve(&self, document: Option<String>) {
        *self.document.lock().unwrap() = document;
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn source(&self, clock: Clock) -> IdpSource {
        IdpSource::new(
            options(json!({ "metadataUrl": self.url })),
            loopback_outbound(),
            clock,
            ExpiryWarnings::default(),
        )
    }
}

#[tokio::test]
async fn inline_options_are_described_once() {
    let signing = cert("idp.acme.test");
    let source = IdpSource::new(
        options(json!({"metadataXml": test_metadata("urn:acme:idp", &[signing.der()])})),
        Outbound::new(crate::outbound::Destinations::public_only()).unwrap(),
        Clock::fixed(NOW_MS),
        ExpiryWarnings::default(),
    );
    let (a, b) = (
        source.current().await.unwrap(),
        source.current().await.unwrap(),
    );
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.entity_id.as_deref(), Some("urn:acme:idp"));
    assert_eq!(a.certificates[0].der, signing.der().to_vec());

    let by_hand = IdpSource::new(
        options(
            json!({"signInEndpoint": "https://idp.acme.test/sso", "signingCert": signing.pem(),
                       "idpEntityId": "urn:acme:idp"}),
        ),
        Outbound::new(crate::outbound::Destinations::public_only()).unwrap(),
        Clock::fixed(NOW_MS),
        ExpiryWarnings::default(),
    );
    let idp = by_hand.current().await.unwrap();
    assert_eq!(idp.entity_id.as_deref(), Some("urn:acme:idp"));
    assert_eq!(
        idp.sso_redirect.as_deref(),
        Some("https://idp.acme.test/sso")
    );
    assert_eq!(idp.sso_post, idp.sso_redirect);
}

#[tokio::test]
async fn metadata_by_url_is_fetched_once_and_refreshed() {
    let (first, second) = (cert("first.acme.test"), cert("second.acme.test"));
    let server = MetadataServer::start(test_metadata("urn:acme:idp", &[first.der()])).await;
    let clock = Clock::fixed(NOW_MS);
    let source = server.source(clock.clone());
    // Logins polled together share one fetch.
    let (a, b, c) = tokio::join!(source.current(), source.current(), source.current());
    for idp in [&a, &b, &c] {
        assert_eq!(
            idp.as_ref().unwrap().certificates[0].der,
            first.der().to_vec()
        );
    }
    assert_eq!(server.requests(), 1);
    // Kept until the refresh interval.
    server.serve(Some(test_metadata(
        "urn:acme:idp",
        &[first.der(), second.der()],
    )));
    clock.advance(Duration::from_millis(METADATA_MAX_AGE_MS as u64 - 1));
    assert_eq!(source.current().await.unwrap().certificates.len(), 1);
    source.fetched.settled().await;
    assert_eq!(server.requests(), 1);
    // Then the login that notices goes on with the old copy, and the new
    // one (a rollover: two certificates) is used from the next.
    clock.advance(Duration::from_millis(1));
    assert_eq!(source.current().await.unwrap().certificates.len(), 1);
    source.fetched.settled().await;
    assert_eq!(server.requests(), 2);
    let rolled = source.current().await.unwrap();
    assert_eq!(rolled.certificates.len(), 2);
    assert_eq!(rolled.certificates[1].der, second.der().to_vec());
}

#[tokio::test]
async fn a_refresh_that_fails_keeps_the_last_good_metadata() {
    let signing = cert("idp.acme.test");
    let good = test_metadata("urn:acme:idp", &[signing.der()]);
    let server = MetadataServer::start(good.clone()).await;
    let clock = Clock::fixed(NOW_MS);
    let source = server.source(clock.clone());
    let known = source.current().await.unwrap();

    // The URL answers 503, then a document with no usable certificate, then
    // one that is not metadata: each refresh fails, the last good copy stays.
    let no_certificate = good.replace(r#"use="signing""#, r#"use="encryption""#);
    for served in [
        None,
        Some(no_certificate),
        Some("<html>maintenance</html>".into()),
    ] {
        server.serve(served);
        clock.advance(Duration::from_millis(METADATA_MAX_AGE_MS as u64));
        let kept = source.current().await.unwrap();
        assert!(Arc::ptr_eq(&kept, &known));
        source.fetched.settled().await;
        assert!(Arc::ptr_eq(&source.current().await.unwrap(), &known));
    }
    // Not retried at every login: once per retry interval.
    let before = server.requests();
    source.current().await.unwrap();
    source.fetched.settled().await;
    assert_eq!(server.requests(), before);
    // Days later, still down: the last good copy is still used.
    server.serve(None);
    clock.advance(Duration::from_millis(7 * DAY_MS as u64));
    assert!(Arc::ptr_eq(&source.current().await.unwrap(), &known));
}

#[tokio::test]
async fn with_no_good_copy_the_login_fails() {
    let server = MetadataServer::start(String::new()).await;
    server.serve(None);
    let clock = Clock::fixed(NOW_MS);
    let source = server.source(clock.clone());
    assert!(matches!(
        source.current().await,
        Err(UpstreamError::Unreachable(_))
    ));
    // A document that describes no IdP: misconfigured, and said why.
    let signing = cert("idp.acme.test");
    let sp_only =
        test_metadata("urn:acme:idp", &[signing.der()]).replace("IDPSSODescriptor", "Extensions");
    server.serve(Some(sp_only));
    match source.current().await {
        Err(UpstreamError::Misconfigured(why)) => {
            assert!(
                why.contains("options.metadataUrl describes no identity provider"),
                "{why}"
            )
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    // A failed fetch is not kept: once the URL serves metadata, it is used.
    server.serve(Some(test_metadata("urn:acme:idp", &[signing.der()])));
    assert!(source.current().await.is_ok());
}

#[tokio::test]
async fn the_ssrf_safe_client_refuses_a_private_metadata_url() {
    let server = MetadataServer::start(String::new()).await;
    let source = IdpSource::new(
        options(json!({ "metadataUrl": server.url })),
        Outbound::new(crate::outbound::Destinations::public_only()).unwrap(),
        Clock::fixed(NOW_MS),
        ExpiryWarnings::default(),
    );
    assert!(matches!(
        source.current().await,
        Err(UpstreamError::Unreachable(_))
    ));
    assert_eq!(server.requests(), 0);
}

#[test]
fn expiry_is_warned_once_per_threshold() {
    let signing = cert("idp.acme.test");
    let not_after = 1_924_992_000_000; // 2031-01-01
    let clock = Clock::fixed(not_after - 40 * DAY_MS);
    let source = IdpSource::new(
        options(
            json!({"signInEndpoint": "https://idp.acme.test/sso", "signingCert": signing.pem()}),
        ),
        Outbound::new(crate::outbound::Destinations::public_only()).unwrap(),
        clock.clone(),
        ExpiryWarnings::default(),
    );
    let idp = describe(&source.options, None).unwrap();
    let days_warned = |source: &IdpSource| -> Vec<i64> {
        source
            .warn_of_expiry(&idp)
            .into_iter()
            .map(|(_, days)| days)
            .collect()
    };
    assert_eq!(days_warned(&source), Vec::<i64>::new(), "40 days left");
    clock.advance(Duration::from_millis(10 * DAY_MS as u64));
    assert_eq!(days_warned(&source), vec![30]);
    assert_eq!(
        days_warned(&source),
        Vec::<i64>::new(),
        "not at every login"
    );
    clock.advance(Duration::from_millis(22 * DAY_MS as u64));
    assert_eq!(days_warned(&source), Vec::<i64>::new(), "8 days left");
    clock.advance(Duration::from_millis(DAY_MS as u64));
    assert_eq!(days_warned(&source), vec![7]);
    assert_eq!(days_warned(&source), Vec::<i64>::new());
    clock.advance(Duration::from_millis(6 * DAY_MS as u64));
    assert_eq!(days_warned(&source), vec![1]);
    clock.advance(Duration::from_millis(DAY_MS as u64 + 1));
    assert_eq!(days_warned(&source), vec![-1], "expired");
    assert_eq!(days_warned(&source), Vec::<i64>::new());
}
