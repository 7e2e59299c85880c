//! ID token validation and claim mapping, with tokens signed here (HS256
//! with the client secret, which the confidential verifier checks without
//! any JWKS): each check refuses what it must.

use serde_json::json;

use super::*;

const ISSUER: &str = "https://idp.example.com/";
const CLIENT_ID: &str = "switchyard";
const SECRET: &str = "an-upstream-client-secret-of-32-bytes!";
const NOW_MS: i64 = 1_800_000_000_000;
const NONCE: &str = "the-nonce";

fn options() -> OidcOptions {
    let parsed = crate::model::connection::ConnectionOptions::parse(
        crate::model::connection::Strategy::Oidc,
        json!({"issuer": ISSUER, "client_id": CLIENT_ID, "client_secret": SECRET})
            .as_object()
            .cloned()
            .unwrap_or_default(),
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
    let url = |path: &str| format!("https://idp.example.com{path}");
    let metadata = CoreProviderMetadata::new(
        IssuerUrl::new(ISSUER.into()).unwrap_or_else(|e| panic!("{e}")),
        AuthUrl::new(url("/authorize")).unwrap_or_else(|e| panic!("{e}")),
        JsonWebKeySetUrl::new(url("/jwks")).unwrap_or_else(|e| panic!("{e}")),
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        algs,
        EmptyAdditionalProviderMetadata {},
    );
    Discovered {
        metadata,
        jwks: CoreJsonWebKeySet::new(Vec::new()),
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
