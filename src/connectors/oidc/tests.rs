//! ID token validation and claim mapping, with tokens signed here (HS256
//! with the client secret, which the confidential verifier checks without
//! any JWKS): each check refuses what it must.

use std::time::Duration;

use serde_json::json;

use super::*;

const ISSUER: &str = "https://idp.example.com/";
const CLIENT_ID: &str = "switchyard";
const SECRET: &str = "an-upstream-client-secret-of-32-bytes!";
const NOW_MS: i64 = 1_800_000_000_000;
const NONCE: &str = "the-nonce";

fn options() -> OidcOptions {
    options_of(json!({"issuer": ISSUER, "client_id": CLIENT_ID, "client_secret": SECRET}))
}

fn options_of(options: Value) -> OidcOptions {
    let parsed = crate::model::connection::ConnectionOptions::parse(
        crate::model::connection::Strategy::Oidc,
        options.as_object().cloned().unwrap_or_default(),
    );
    match parsed {
        Ok(crate::model::connection::ConnectionOptions::Oidc(options)) => options,
        other => panic!("{other:?}"),
    }
}

fn connector() -> OidcConnector {
    let outbound = Outbound::new(crate::outbound::Destinations::public_only())
        .unwrap_or_else(|e| panic!("{e}"));
    OidcConnector::new("con_test", options(), outbound, Clock::fixed(NOW_MS))
}

fn discovered(algs: Vec<CoreJwsSigningAlgorithm>) -> Discovered {
    announcing(algs, MoreMetadata::default())
}

fn announcing(algs: Vec<CoreJwsSigningAlgorithm>, more: MoreMetadata) -> Discovered {
    let url = |path: &str| format!("https://idp.example.com{path}");
    let metadata = UpstreamMetadata::new(
        IssuerUrl::new(ISSUER.into()).unwrap_or_else(|e| panic!("{e}")),
        AuthUrl::new(url("/authorize")).unwrap_or_else(|e| panic!("{e}")),
        JsonWebKeySetUrl::new(url("/jwks")).unwrap_or_else(|e| panic!("{e}")),
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        algs,
        more,
    );
    Discovered {
        metadata,
        jwks: CoreJsonWebKeySet::new(Vec::new()),
        fetched_at: NOW_MS,
    }
}

fn claims() -> Value {
    let now = NOW_MS / 1000;
    json!({"iss": ISSUER, "sub": "u-1", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
           "nonce": NONCE, "email": "Ana@Metahexa.example", "email_verified": true})
}

fn hs256(claims: &Value, key: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn check(token: &str, algs: Vec<CoreJwsSigningAlgorithm>) -> Result<(), String> {
    let id_token: CoreIdToken = token.parse().map_err(|e| format!("{e}"))?;
    connector()
        .verify(&discovered(algs), &id_token, NONCE)
        .map_err(|e| e.to_string())
}

fn with(change: Value) -> String {
    let mut claims = claims();
    for (k, v) in change.as_object().cloned().unwrap_or_default() {
        claims[k] = v;
    }
    hs256(&claims, SECRET)
}

const HS256: CoreJwsSigningAlgorithm = CoreJwsSigningAlgorithm::HmacSha256;

#[test]
fn a_valid_token_passes() {
    assert_eq!(check(&with(json!({})), vec![HS256]), Ok(()));
    // Within the tolerated skew, either way.
    let now = NOW_MS / 1000;
    assert_eq!(check(&with(json!({"exp": now - 30})), vec![HS256]), Ok(()));
    assert_eq!(check(&with(json!({"iat": now + 30})), vec![HS256]), Ok(()));
}

#[test]
fn each_claim_is_checked() {
    let now = NOW_MS / 1000;
    for (change, why) in [
        (json!({"iss": "https://evil.example.com/"}), "issuer"),
        (json!({"aud": "another-client"}), "audience"),
        (
            json!({"aud": [CLIENT_ID, "another-client"]}),
            "two audiences, no azp",
        ),
        (
            json!({"aud": [CLIENT_ID, "x"], "azp": "x"}),
            "azp of another client",
        ),
        (json!({"azp": "another-client"}), "azp alone"),
        (
            json!({"exp": now - 120, "iat": now - 400}),
            "expired beyond the skew",
        ),
        (
            json!({"iat": now + 600, "exp": now + 900}),
            "issued in the future",
        ),
        (json!({"nonce": "another-nonce"}), "nonce"),
        (json!({"nonce": null}), "no nonce"),
    ] {
        assert!(check(&with(change), vec![HS256]).is_err(), "{why}");
    }
}

#[test]
fn the_signature_and_its_algorithm_are_checked() {
    // Signed with another secret.
    assert!(
        check(
            &hs256(&claims(), "not-the-secret-at-all-0123456789"),
            vec![HS256]
        )
        .is_err()
    );
    // An algorithm the upstream does not announce.
    assert!(
        check(
            &with(json!({})),
            vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
        )
        .is_err()
    );
    // `alg: none`, even when the metadata lists it.
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims().to_string());
    let unsigned = format!("eyJhbGciOiJub25lIn0.{payload}.");
    assert!(check(&unsigned, vec![HS256, CoreJwsSigningAlgorithm::None]).is_err());
}

#[test]
fn claims_map_to_an_identity() {
    let raw = claims().as_object().cloned().unwrap_or_default();
    let identity =
        identity_from_claims("con_test", &options(), raw.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(identity.connection_id, "con_test");
    assert_eq!(identity.subject, "u-1");
    assert_eq!(identity.email.as_deref(), Some("ana@metahexa.example"));
    assert!(identity.email_verified);

    // attribute_map (use_map): a claim by name or template.
    let mut mapped = options();
    mapped.attribute_map = Some(crate::model::connection::OidcAttributeMap {
        mapping_mode: Some(OidcMappingMode::UseMap),
        attributes: json!({"nickname": "${preferred_username}", "email": "mail"})
            .as_object()
            .cloned(),
        ..Default::default()
    });
    let mut with_more = raw.clone();
    with_more.insert("preferred_username".into(), json!("ana"));
    with_more.insert("mail".into(), json!("a.m@metahexa.example"));
    with_more.insert("email_verified".into(), json!("false"));
    let identity =
        identity_from_claims("con_test", &mapped, with_more).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(identity.nickname.as_deref(), Some("ana"));
    assert_eq!(identity.email.as_deref(), Some("a.m@metahexa.example"));
    assert!(!identity.email_verified, "only what the upstream asserted");

    // nOAuth through a mapping: `email` taken from a claim the person picks,
    // while the upstream's `email_verified: true` vouches for its own `email`.
    let mut remapped = options();
    remapped.attribute_map = Some(crate::model::connection::OidcAttributeMap {
        attributes: json!({"email": "preferred_username"}).as_object().cloned(),
        ..Default::default()
    });
    let mut chosen = raw.clone();
    chosen.insert("preferred_username".into(), json!("ceo@victim.example"));
    let identity = identity_from_claims("con_test", &remapped, chosen.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(identity.email.as_deref(), Some("ceo@victim.example"));
    assert!(
        !identity.email_verified,
        "verified only when mapped alongside"
    );
    // Mapped alongside, the mapping decides.
    remapped.attribute_map = Some(crate::model::connection::OidcAttributeMap {
        attributes: json!({"email": "preferred_username", "email_verified": "upn_verified"})
            .as_object()
            .cloned(),
        ..Default::default()
    });
    chosen.insert("upn_verified".into(), json!(true));
    let identity =
        identity_from_claims("con_test", &remapped, chosen).unwrap_or_else(|e| panic!("{e}"));
    assert!(identity.email_verified);

    let mut no_subject = raw;
    no_subject.remove("sub");
    assert!(matches!(
        identity_from_claims("con_test", &options(), no_subject),
        Err(UpstreamError::MissingClaim(_))
    ));
}

#[test]
fn rfc_9207_support_is_read_from_the_metadata() {
    let metadata = |more: Value| {
        let mut document = json!({
            "issuer": ISSUER, "authorization_endpoint": "https://idp.example.com/authorize",
            "jwks_uri": "https://idp.example.com/jwks", "response_types_supported": ["code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]});
        for (k, v) in more.as_object().cloned().unwrap_or_default() {
            document[k] = v;
        }
        serde_json::from_value::<UpstreamMetadata>(document)
            .unwrap_or_else(|e| panic!("{e}"))
            .additional_metadata()
            .authorization_response_iss_parameter_supported
    };
    assert!(metadata(
        json!({"authorization_response_iss_parameter_supported": true})
    ));
    assert!(!metadata(
        json!({"authorization_response_iss_parameter_supported": false})
    ));
    assert!(!metadata(json!({})));
}

/// A connector whose metadata (announcing RFC 9207 or not) is already known.
fn connector_knowing(announces_iss: bool, back_channel: bool) -> OidcConnector {
    let options = if back_channel {
        options()
    } else {
        options_of(
            json!({"issuer": ISSUER, "client_id": CLIENT_ID, "client_secret": SECRET,
                          "type": "front_channel"}),
        )
    };
    let outbound = Outbound::new(crate::outbound::Destinations::public_only())
        .unwrap_or_else(|e| panic!("{e}"));
    let connector = OidcConnector::new("con_test", options, outbound, Clock::fixed(NOW_MS));
    let known = announcing(
        vec![HS256],
        MoreMetadata {
            authorization_response_iss_parameter_supported: announces_iss,
        },
    );
    connector.discovery.replace(|_| Arc::new(known));
    connector
}

fn request() -> UpstreamRequest {
    UpstreamRequest {
        state: "the-state".into(),
        nonce: NONCE.into(),
        pkce_verifier: None,
        callback_url: "https://switchyard.example/login/callback".into(),
        login_hint: None,
        extra_params: Vec::new(),
    }
}

async fn finish(connector: &OidcConnector, fields: &[(&str, &str)]) -> String {
    let params: CallbackParams = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    match connector.finish(&request(), &params).await {
        Ok(identity) => panic!("logged {} in", identity.subject),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_callback_without_iss_is_refused_when_the_upstream_announces_it() {
    // RFC 9207 announced: a code without `iss` is refused before it is redeemed.
    let announcing = connector_knowing(true, true);
    let refused = finish(&announcing, &[("code", "c"), ("state", "the-state")]).await;
    assert!(refused.contains("no issuer (iss)"), "{refused}");
    // Another issuer's name: refused, announced or not.
    for announces in [true, false] {
        let refused = finish(
            &connector_knowing(announces, true),
            &[("code", "c"), ("iss", "https://evil.example.com/")],
        )
        .await;
        assert!(
            refused.contains("names issuer https://evil.example.com/"),
            "{refused}"
        );
    }
    // Not announced: a response without `iss` goes on to the code exchange
    // (which fails here: there is no token endpoint).
    let reached_the_exchange = |refused: &str| refused.contains("No token endpoint");
    let refused = finish(&connector_knowing(false, true), &[("code", "c")]).await;
    assert!(reached_the_exchange(&refused), "{refused}");
    // The right issuer: on to the code exchange too.
    let refused = finish(&announcing, &[("code", "c"), ("iss", ISSUER)]).await;
    assert!(reached_the_exchange(&refused), "{refused}");
    // An ID token in the response names its issuer itself (RFC 9207 §2.4):
    // the form post of front_channel is verified as the token it carries.
    let front = connector_knowing(true, false);
    let refused = finish(&front, &[("id_token", "not.a.jwt"), ("state", "s")]).await;
    assert!(refused.contains("ID token"), "{refused}");
    // A back_channel connection never reads an ID token from its callback:
    // one added there excuses no missing `iss`.
    let refused = finish(&announcing, &[("code", "c"), ("id_token", "x.y.z")]).await;
    assert!(refused.contains("no issuer (iss)"), "{refused}");
}

#[tokio::test]
async fn an_error_callback_is_believed_only_from_the_right_issuer() {
    let announcing = connector_knowing(true, true);
    let denied = [("error", "access_denied"), ("error_description", "no")];
    // From the right issuer: the IdP's refusal, as it sent it.
    let mut fields = denied.to_vec();
    fields.push(("iss", ISSUER));
    assert!(
        finish(&announcing, &fields)
            .await
            .contains("answered access_denied"),
        "the IdP's own error"
    );
    // Without `iss` from an upstream announcing it, or naming another
    // issuer: a mix-up, not the IdP's refusal.
    let refused = finish(&announcing, &denied).await;
    assert!(refused.contains("no issuer (iss)"), "{refused}");
    fields.pop();
    fields.push(("iss", "https://evil.example.com/"));
    let refused = finish(&announcing, &fields).await;
    assert!(refused.contains("names issuer"), "{refused}");
}

// --- Fetching the metadata and keys, from a loopback upstream ---------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Answers {
    Normally,
    WithAnError,
    Never,
}

/// An upstream on 127.0.0.1 that counts the requests it gets, answering as
/// the test says, with the keys the test sets.
struct Upstream {
    issuer: String,
    metadata_requests: std::sync::atomic::AtomicUsize,
    jwks_requests: std::sync::atomic::AtomicUsize,
    answers: Mutex<Answers>,
    keys: Mutex<Vec<Value>>,
}

impl Upstream {
    async fn start(keys: Vec<Value>) -> Arc<Upstream> {
        use axum::extract::State;
        use axum::routing::get;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        let upstream = Arc::new(Upstream {
            issuer: format!("http://127.0.0.1:{port}"),
            metadata_requests: Default::default(),
            jwks_requests: Default::default(),
            answers: Mutex::new(Answers::Normally),
            keys: Mutex::new(keys),
        });
        async fn answer(upstream: &Upstream, body: Value) -> axum::response::Response {
            use axum::response::IntoResponse;
            let answers = *lock(&upstream.answers);
            match answers {
                Answers::Normally => axum::Json(body).into_response(),
                Answers::WithAnError => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
                Answers::Never => std::future::pending().await,
            }
        }
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(|State(upstream): State<Arc<Upstream>>| async move {
                    upstream.metadata_requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let issuer = &upstream.issuer;
                    let metadata = json!({
                        "issuer": issuer, "authorization_endpoint": format!("{issuer}/auth"),
                        "token_endpoint": format!("{issuer}/token"), "jwks_uri": format!("{issuer}/jwks"),
                        "response_types_supported": ["code"], "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["ES256"],
                        "authorization_response_iss_parameter_supported": true});
                    answer(&upstream, metadata).await
                }),
            )
            .route(
                "/jwks",
                get(|State(upstream): State<Arc<Upstream>>| async move {
                    upstream.jwks_requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let keys = lock(&upstream.keys).clone();
                    answer(&upstream, json!({ "keys": keys })).await
                }),
            )
            .with_state(Arc::clone(&upstream));
        tokio::spawn(async move { axum::serve(listener, app).await });
        upstream
    }

    fn requests(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering::SeqCst;
        (
            self.metadata_requests.load(SeqCst),
            self.jwks_requests.load(SeqCst),
        )
    }

    fn answer(&self, answers: Answers) {
        *lock(&self.answers) = answers;
    }

    fn connector(&self, clock: Clock) -> OidcConnector {
        let options = options_of(
            json!({"issuer": self.issuer, "client_id": CLIENT_ID, "client_secret": SECRET}),
        );
        // Plain http to loopback, as for a Switchyard running on localhost.
        let outbound = Outbound::new(crate::outbound::Destinations::new(true, Vec::new()))
            .unwrap_or_else(|e| panic!("{e}"));
        OidcConnector::new("con_test", options, outbound, clock)
    }
}

/// An ES256 signing key: its private half for `jsonwebtoken`, its public
/// half as a JWK (with `kid` when given).
struct SigningKey {
    encoding: jsonwebtoken::EncodingKey,
    public: Value,
}

impl SigningKey {
    fn generate(kid: Option<&str>) -> SigningKey {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap_or_else(|e| panic!("{e}"));
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .unwrap_or_else(|e| panic!("{e}"));
        let point = pair.public_key().as_ref();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut public = json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
                                "x": b64(&point[1..33]), "y": b64(&point[33..65])});
        if let Some(kid) = kid {
            public["kid"] = json!(kid);
        }
        SigningKey {
            encoding: jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
            public,
        }
    }

    /// An ID token of `upstream` for this test's client and nonce, issued
    /// at `clock`'s time.
    fn sign(&self, upstream: &Upstream, clock: &Clock, kid: Option<&str>) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        let mut claims = claims();
        let now = clock.now_unix_millis() / 1000;
        claims["iss"] = json!(upstream.issuer);
        claims["iat"] = json!(now);
        claims["exp"] = json!(now + 300);
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap_or_else(|e| panic!("{e}"))
    }
}

#[tokio::test]
async fn logins_waiting_for_the_metadata_share_one_fetch() {
    let upstream = Upstream::start(vec![SigningKey::generate(Some("k1")).public]).await;
    let connector = upstream.connector(Clock::fixed(NOW_MS));
    // Polled together: the first starts the fetch, the others wait for it.
    let (a, b, c, d) = tokio::join!(
        connector.discovered(),
        connector.discovered(),
        connector.discovered(),
        connector.discovered()
    );
    for found in [a, b, c, d] {
        assert!(found.is_ok(), "{:?}", found.err());
    }
    assert_eq!(
        upstream.requests(),
        (1, 1),
        "one fetch of the metadata and keys"
    );
    // Then kept.
    assert!(connector.discovered().await.is_ok());
    assert_eq!(upstream.requests(), (1, 1));
}

#[tokio::test]
async fn a_failed_fetch_is_not_kept() {
    let upstream = Upstream::start(vec![SigningKey::generate(Some("k1")).public]).await;
    let connector = upstream.connector(Clock::fixed(NOW_MS));
    upstream.answer(Answers::WithAnError);
    let (a, b) = tokio::join!(connector.discovered(), connector.discovered());
    for failed in [a, b] {
        assert!(matches!(failed, Err(UpstreamError::Unreachable(_))));
    }
    assert_eq!(
        upstream.requests(),
        (1, 0),
        "the two logins shared one fetch"
    );
    // The upstream is back: the next login fetches at once.
    upstream.answer(Answers::Normally);
    assert!(connector.discovered().await.is_ok());
    assert_eq!(upstream.requests(), (2, 1));
}

#[tokio::test]
async fn a_hung_upstream_holds_logins_no_longer_than_the_fetch_timeout() {
    let upstream = Upstream::start(vec![SigningKey::generate(Some("k1")).public]).await;
    let mut connector = upstream.connector(Clock::fixed(NOW_MS));
    // REQUEST_TIMEOUT in production; short here, for the test's sake.
    connector.discovery.fetch_timeout = Duration::from_millis(200);
    upstream.answer(Answers::Never);
    let (a, b) = tokio::join!(connector.discovered(), connector.discovered());
    for failed in [a, b] {
        match failed {
            Err(UpstreamError::Unreachable(why)) => assert!(why.contains("within"), "{why}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
    assert_eq!(upstream.requests(), (1, 0));
    // Not kept: the next login tries again.
    upstream.answer(Answers::Normally);
    assert!(connector.discovered().await.is_ok());
    assert_eq!(upstream.requests(), (2, 1));
}

/// Waits for the refresh under way, if any.
async fn refreshed(connector: &OidcConnector) {
    connector.discovery.settled().await;
}

#[tokio::test]
async fn old_metadata_and_keys_are_fetched_again_and_kept_while_the_upstream_is_down() {
    let first = SigningKey::generate(Some("k1"));
    let upstream = Upstream::start(vec![first.public.clone()]).await;
    let clock = Clock::fixed(NOW_MS);
    let connector = upstream.connector(clock.clone());
    let known = connector
        .discovered()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(upstream.requests(), (1, 1));

    // An hour on, the upstream is down: the login goes on with what it had,
    // and a refresh was tried.
    clock.advance(Duration::from_millis(DISCOVERY_MAX_AGE_MS as u64));
    upstream.answer(Answers::WithAnError);
    let stale = connector
        .discovered()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(Arc::ptr_eq(&known, &stale));
    refreshed(&connector).await;
    assert_eq!(upstream.requests(), (2, 1));
    // A token of the old key still verifies.
    let token = first.sign(&upstream, &clock, Some("k1"));
    assert!(connector.verified_claims(&token, NONCE).await.is_ok());
    // Not retried at every login.
    assert!(connector.discovered().await.is_ok());
    refreshed(&connector).await;
    assert_eq!(upstream.requests(), (2, 1));

    // Back, with a new key: fetched again after the retry interval.
    let second = SigningKey::generate(Some("k2"));
    *lock(&upstream.keys) = vec![second.public.clone()];
    upstream.answer(Answers::Normally);
    clock.advance(Duration::from_millis(DISCOVERY_RETRY_MS as u64));
    assert!(connector.discovered().await.is_ok());
    refreshed(&connector).await;
    assert_eq!(upstream.requests(), (3, 2));
    let fresh = connector
        .discovered()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!Arc::ptr_eq(&known, &fresh));
    let token = second.sign(&upstream, &clock, Some("k2"));
    assert!(connector.verified_claims(&token, NONCE).await.is_ok());
    assert_eq!(upstream.requests(), (3, 2), "the new key was there already");
}

#[tokio::test]
async fn metadata_and_keys_a_day_old_are_not_trusted_while_the_upstream_is_down() {
    let first = SigningKey::generate(Some("k1"));
    let upstream = Upstream::start(vec![first.public.clone()]).await;
    let clock = Clock::fixed(NOW_MS);
    let connector = upstream.connector(clock.clone());
    assert!(connector.discovered().await.is_ok());
    // A day on, the upstream still down: no login on day-old keys.
    upstream.answer(Answers::WithAnError);
    clock.advance(Duration::from_millis(DISCOVERY_MAX_STALE_MS as u64));
    assert!(matches!(
        connector.discovered().await,
        Err(UpstreamError::Unreachable(_))
    ));
    let token = first.sign(&upstream, &clock, Some("k1"));
    assert!(matches!(
        connector.verified_claims(&token, NONCE).await,
        Err(UpstreamError::Unreachable(_))
    ));
    // Back: the next login fetches at once and goes on.
    upstream.answer(Answers::Normally);
    assert!(connector.verified_claims(&token, NONCE).await.is_ok());
}

#[tokio::test]
async fn a_token_that_no_key_or_several_keys_match_fetches_the_keys_again() {
    // Two keys without `kid`: a token without one matches both.
    let (one, two) = (SigningKey::generate(None), SigningKey::generate(None));
    let upstream = Upstream::start(vec![one.public.clone(), two.public.clone()]).await;
    let clock = Clock::fixed(NOW_MS);
    let connector = upstream.connector(clock.clone());
    assert!(connector.discovered().await.is_ok());
    // The upstream retired the second key: fetched again, the token verifies.
    *lock(&upstream.keys) = vec![one.public.clone()];
    let token = one.sign(&upstream, &clock, None);
    let verified = connector.verified_claims(&token, NONCE).await;
    assert!(verified.is_ok(), "{:?}", verified.err());
    assert_eq!(upstream.requests(), (1, 2));

    // A rotated key with an unknown `kid`: fetched again, after the interval.
    clock.advance(Duration::from_millis(JWKS_REFETCH_INTERVAL_MS as u64));
    let rotated = SigningKey::generate(Some("k-new"));
    *lock(&upstream.keys) = vec![rotated.public.clone()];
    let verified = connector
        .verified_claims(&rotated.sign(&upstream, &clock, Some("k-new")), NONCE)
        .await;
    assert!(verified.is_ok(), "{:?}", verified.err());
    assert_eq!(upstream.requests(), (1, 3));

    // Within the interval, another unknown `kid` (a forger's) fetches nothing.
    let forged = SigningKey::generate(Some("k-forged"));
    *lock(&upstream.keys) = vec![rotated.public.clone(), forged.public.clone()];
    let refused = connector
        .verified_claims(&forged.sign(&upstream, &clock, Some("k-forged")), NONCE)
        .await;
    assert!(matches!(refused, Err(UpstreamError::Invalid(_))));
    assert_eq!(upstream.requests(), (1, 3));
}

const TEMPLATE: &str = "https://login.example.com/{tenantid}/v2.0";
const TID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

#[test]
fn only_entras_placeholder_as_a_path_segment_is_a_template() {
    assert!(is_tenant_template(TEMPLATE));
    assert!(is_tenant_template(
        "https://login.microsoftonline.com/{tenantid}/v2.0"
    ));
    for not_entras in [
        ISSUER,
        "https://login.example.com/{tenant}/v2.0",
        "https://login.example.com/{TenantId}/v2.0",
        "https://login.example.com/tenant-{tenantid}/v2.0",
        "https://{tenantid}.example.com/v2.0",
        "https://login.example.com/{tenantid}/{tenantid}",
        "https://login.example.com/{tenantid}/v2.0?x={y}",
        "https://login.example.com/{tenantid}/v2.0#frag",
        "{tenantid}",
    ] {
        assert!(!is_tenant_template(not_entras), "{not_entras}");
    }
    // The configured issuer may name Entra's multi-tenant endpoints only.
    assert!(configured_for_template(TEMPLATE, TEMPLATE));
    assert!(configured_for_template(
        "https://login.example.com/organizations/v2.0",
        TEMPLATE
    ));
    assert!(configured_for_template(
        "https://login.example.com/common/v2.0",
        TEMPLATE
    ));
    assert!(!configured_for_template(
        &format!("https://login.example.com/{TID}/v2.0"),
        TEMPLATE
    ));
    assert!(!configured_for_template(
        "https://evil.example.com/common/v2.0",
        TEMPLATE
    ));
}

fn connector_of_template(template: &str) -> OidcConnector {
    let options = options_of(json!({"issuer": template, "client_id": CLIENT_ID,
        "client_secret": SECRET, "type": "front_channel",
        "organization_from_upstream_tenant": true}));
    let outbound = Outbound::new(crate::outbound::Destinations::public_only())
        .unwrap_or_else(|e| panic!("{e}"));
    let connector = OidcConnector::new("con_test", options, outbound, Clock::fixed(NOW_MS));
    let mut known = discovered(vec![HS256]);
    known.metadata = known
        .metadata
        .set_issuer(IssuerUrl::new(template.into()).unwrap_or_else(|e| panic!("{e}")));
    connector.discovery.replace(|_| Arc::new(known));
    connector
}

async fn verified_under(template: &str, change: Value) -> Result<(), String> {
    connector_of_template(template)
        .verified_claims(&with(change), NONCE)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn under_the_template_each_token_names_its_own_tenant() {
    let own = format!("https://login.example.com/{TID}/v2.0");
    assert_eq!(
        verified_under(TEMPLATE, json!({"iss": own, "tid": TID})).await,
        Ok(())
    );
    // A token of one tenant claiming another (or the template itself).
    let other = verified_under(
        TEMPLATE,
        json!({"iss": "https://login.example.com/another-tenant/v2.0", "tid": TID}),
    )
    .await;
    assert!(
        other
            .as_ref()
            .is_err_and(|e| e.contains("is not that of its tenant")),
        "{other:?}"
    );
    for iss in [TEMPLATE, "https://login.example.com/v2.0", ISSUER] {
        let refused = verified_under(TEMPLATE, json!({"iss": iss, "tid": TID})).await;
        assert!(refused.is_err(), "{iss}: {refused:?}");
    }
    // A tenant that is not a plain id cannot stretch the template.
    let stretched = verified_under(
        TEMPLATE,
        json!({"iss": "https://login.example.com/a/b/v2.0", "tid": "a/b"}),
    )
    .await;
    assert!(stretched.is_err(), "{stretched:?}");
    // No tid: no tenant to check the issuer against.
    let without = verified_under(TEMPLATE, json!({"iss": own})).await;
    assert!(
        without
            .as_ref()
            .is_err_and(|e| e.contains("no tenant (tid)")),
        "{without:?}"
    );
}

#[tokio::test]
async fn an_issuer_that_is_not_entras_template_stays_exact() {
    // Braces other than Entra's placeholder are compared as they are.
    let not_entras = "https://login.example.com/{tenant}/v2.0";
    let replaced = verified_under(
        not_entras,
        json!({"iss": "https://login.example.com/t1/v2.0", "tid": "t1"}),
    )
    .await;
    assert!(
        replaced.as_ref().is_err_and(|e| e.contains("expected")),
        "{replaced:?}"
    );
    assert_eq!(
        verified_under(not_entras, json!({"iss": not_entras, "tid": "t1"})).await,
        Ok(())
    );
    // The plain connection refuses a tenant's issuer for its own.
    let id_token: CoreIdToken = with(json!({"iss": "https://idp.example.com/t1/", "tid": "t1"}))
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        connector()
            .verify(&discovered(vec![HS256]), &id_token, NONCE)
            .is_err()
    );
}

#[tokio::test]
async fn under_the_template_the_callback_names_a_tenant_of_it() {
    let connector = connector_of_template(TEMPLATE);
    let own = format!("https://login.example.com/{TID}/v2.0");
    let token = with(json!({"iss": own, "tid": TID}));
    let refused = finish(
        &connector,
        &[
            ("iss", "https://evil.example.com/x/v2.0"),
            ("id_token", &token),
        ],
    )
    .await;
    assert!(refused.contains("names issuer"), "{refused}");
    let refused = finish(&connector, &[("iss", TEMPLATE), ("id_token", &token)]).await;
    assert!(refused.contains("names issuer"), "{refused}");
    // A tenant's issuer passes that check, and the login goes on.
    let params: CallbackParams = [("iss", own.as_str()), ("id_token", &token)]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let identity = connector.finish(&request(), &params).await;
    assert!(
        identity
            .as_ref()
            .is_ok_and(|i| i.tenant.tid.as_deref() == Some(TID)),
        "{:?}",
        identity.err()
    );
}

#[test]
fn the_template_needs_tenant_routing() {
    let outbound = Outbound::new(crate::outbound::Destinations::public_only())
        .unwrap_or_else(|e| panic!("{e}"));
    let explicit = |routed: bool| {
        options_of(
            json!({"issuer": TEMPLATE, "client_id": CLIENT_ID, "client_secret": SECRET,
            "authorization_endpoint": "https://login.example.com/organizations/oauth2/v2.0/authorize",
            "jwks_uri": "https://login.example.com/organizations/discovery/v2.0/keys",
            "organization_from_upstream_tenant": routed}),
        )
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = runtime.block_on(fetch_metadata(&explicit(false), &outbound));
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("organization_from_upstream_tenant")),
        "{:?}",
        refused.err()
    );
    let routed = runtime.block_on(fetch_metadata(&explicit(true), &outbound));
    assert!(routed.is_ok(), "{:?}", routed.err());
}
