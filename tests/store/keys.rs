//! Signing keys: creation, rotation, and tokens signed with them.

use std::collections::BTreeSet;

use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Value, json};
use switchyard::clock::Clock;
use switchyard::flows::LONGEST_FIXED_TOKEN_LIFETIME;
use switchyard::keys::{KeyError, KeyRing, RETENTION_MARGIN, TokenRejected};
use switchyard::model::client::SigningAlg;
use switchyard::model::ids::{self, new_id};
use switchyard::store::{Store, StoreError};

use crate::{assert_conflict, assert_not_found, client, on_both_backends, resource_server};

on_both_backends!(
    signing_keys_are_created_once,
    signing_keys_concurrent_init,
    signing_key_rotation,
    signing_key_conflicts,
    tokens_sign_verify_and_rotate,
    concurrent_rotations,
    retired_keys_verify_until_their_tokens_expire,
    revoked_keys_stop_verifying_at_once,
    keys_made_before_certificates_get_one,
);

/// Rotates `alg` with the lifetimes the server uses.
async fn rotate(ring: &KeyRing, store: &Store, alg: SigningAlg) -> Result<String, KeyError> {
    ring.rotate(store, alg, LONGEST_FIXED_TOKEN_LIFETIME).await
}

fn kids_of(ring: &KeyRing) -> BTreeSet<String> {
    ring.summaries().into_iter().map(|k| k.kid).collect()
}

/// The kid of `alg`'s key in `state`, asserting there is exactly one.
fn kid_in_state(ring: &KeyRing, alg: SigningAlg, state: &str) -> String {
    let matching: Vec<_> = ring
        .summaries()
        .into_iter()
        .filter(|k| k.alg == alg.as_str() && k.state == state)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "{alg:?} keys in state {state}: {matching:?}"
    );
    let key = &matching[0];
    assert_eq!(key.current, state == "current");
    assert_eq!(key.next, state == "next");
    assert_eq!(key.previous, state == "previous");
    key.kid.clone()
}

fn jwks_kids(ring: &KeyRing) -> BTreeSet<String> {
    let jwks: Value = serde_json::from_str(&ring.jwks_json()).unwrap();
    let keys = jwks["keys"].as_array().expect("jwks.keys is an array");
    keys.iter()
        .map(|k| {
            assert!(
                k.get("d").is_none(),
                "private key material in the JWKS: {k}"
            );
            assert_eq!(k["use"], "sig");
            k["kid"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[track_caller]
fn assert_fresh_ring(ring: &KeyRing) {
    let summaries = ring.summaries();
    assert_eq!(summaries.len(), 6, "{summaries:?}");
    for alg in SigningAlg::ALL.iter().copied() {
        let current = kid_in_state(ring, alg, "current");
        let next = kid_in_state(ring, alg, "next");
        assert_ne!(current, next);
        assert_eq!(ring.current_kid(alg), Some(current));
    }
    assert_eq!(jwks_kids(ring), kids_of(ring));
}

async fn signing_keys_are_created_once(store: Store) {
    assert!(store.list_live_signing_keys().await.unwrap().is_empty());
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    assert_fresh_ring(&ring);
    let stored = store.list_live_signing_keys().await.unwrap();
    assert_eq!(stored.len(), 6);
    assert_eq!(
        stored
            .iter()
            .map(|k| k.kid.clone())
            .collect::<BTreeSet<_>>(),
        kids_of(&ring)
    );

    // Loading again (a restart, another node) reuses them.
    let again = KeyRing::load_or_init(&store).await.unwrap();
    assert_eq!(kids_of(&again), kids_of(&ring));
    let (a, b) = tokio::join!(KeyRing::load_or_init(&store), KeyRing::load_or_init(&store));
    assert_eq!(kids_of(&a.unwrap()), kids_of(&ring));
    assert_eq!(kids_of(&b.unwrap()), kids_of(&ring));
    assert_eq!(store.list_live_signing_keys().await.unwrap().len(), 6);
}

async fn signing_keys_concurrent_init(store: Store) {
    // Several nodes starting at once on an empty store agree on one set of keys.
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { KeyRing::load_or_init(&store).await.unwrap() })
        })
        .collect();
    let mut rings = Vec::new();
    for task in tasks {
        rings.push(task.await.unwrap());
    }
    let stored = store.list_live_signing_keys().await.unwrap();
    assert_eq!(
        stored.len(),
        6,
        "{:?}",
        stored
            .iter()
            .map(|k| (&k.alg, &k.state))
            .collect::<Vec<_>>()
    );
    let stored_kids: BTreeSet<_> = stored.iter().map(|k| k.kid.clone()).collect();
    for ring in &rings {
        assert_fresh_ring(ring);
        assert_eq!(kids_of(ring), stored_kids);
    }
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    assert_eq!(kids_of(&ring), stored_kids);
    assert_eq!(store.list_live_signing_keys().await.unwrap().len(), 6);
}

async fn signing_key_rotation(store: Store) {
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    let other_node = KeyRing::load_or_init(&store).await.unwrap();
    let current0 = kid_in_state(&ring, SigningAlg::RS256, "current");
    let next0 = kid_in_state(&ring, SigningAlg::RS256, "next");
    let untouched: BTreeSet<_> = ring
        .summaries()
        .into_iter()
        .filter(|k| k.alg != "RS256")
        .map(|k| (k.kid, k.state))
        .collect();

    let new_current = rotate(&ring, &store, SigningAlg::RS256).await.unwrap();
    assert_eq!(new_current, next0, "the old next key becomes current");
    assert_eq!(kid_in_state(&ring, SigningAlg::RS256, "current"), next0);
    assert_eq!(kid_in_state(&ring, SigningAlg::RS256, "previous"), current0);
    let next1 = kid_in_state(&ring, SigningAlg::RS256, "next");
    assert!(next1 != current0 && next1 != next0);
    assert_eq!(ring.current_kid(SigningAlg::RS256), Some(next0.clone()));
    assert_eq!(ring.summaries().len(), 7);
    assert_eq!(jwks_kids(&ring), kids_of(&ring));
    assert!(jwks_kids(&ring).contains(&current0));
    let after: BTreeSet<_> = ring
        .summaries()
        .into_iter()
        .filter(|k| k.alg != "RS256")
        .map(|k| (k.kid, k.state))
        .collect();
    assert_eq!(after, untouched, "rotating RS256 touched other algorithms");

    // Another node sees the rotation after reloading.
    assert_eq!(other_node.summaries().len(), 6);
    other_node.reload(&store).await.unwrap();
    assert_eq!(kids_of(&other_node), kids_of(&ring));
    assert_eq!(
        kid_in_state(&other_node, SigningAlg::RS256, "previous"),
        current0
    );

    // The second rotation keeps the first previous key: tokens it signed
    // have not expired.
    let newer_current = rotate(&ring, &store, SigningAlg::RS256).await.unwrap();
    assert_eq!(newer_current, next1);
    let previous: BTreeSet<_> = ring
        .summaries()
        .into_iter()
        .filter(|k| k.alg == "RS256" && k.previous)
        .map(|k| k.kid)
        .collect();
    assert_eq!(previous, BTreeSet::from([current0.clone(), next0.clone()]));
    let next2 = kid_in_state(&ring, SigningAlg::RS256, "next");
    assert!(![&current0, &next0, &next1].contains(&&next2));
    assert_eq!(ring.summaries().len(), 8);
    assert!(jwks_kids(&ring).contains(&current0));
    let live: BTreeSet<_> = store
        .list_live_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(live, kids_of(&ring));

    // Restarting on a rotated store creates nothing new.
    let restarted = KeyRing::load_or_init(&store).await.unwrap();
    assert_eq!(kids_of(&restarted), kids_of(&ring));

    // Each algorithm rotates on its own.
    for alg in [SigningAlg::ES256, SigningAlg::EdDSA] {
        let next = kid_in_state(&ring, alg, "next");
        assert_eq!(rotate(&ring, &store, alg).await.unwrap(), next);
    }
    assert_eq!(ring.summaries().len(), 10);
    assert_eq!(store.list_live_signing_keys().await.unwrap().len(), 10);
}

async fn signing_key_conflicts(store: Store) {
    // The partial unique indexes allow one current and one next key per
    // algorithm; a second is refused as a conflict (which load_or_init relies on).
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    let stored = store.list_live_signing_keys().await.unwrap();
    for state in ["current", "next"] {
        let existing = stored
            .iter()
            .find(|k| k.alg == "ES256" && k.state == state)
            .unwrap();
        let mut duplicate = existing.clone();
        duplicate.kid = new_id(ids::SIGNING_KEY);
        match store.insert_signing_key(&duplicate).await {
            Err(StoreError::Conflict(name)) => assert_eq!(name, "signing_keys_alg_state_key"),
            other => panic!("second {state} ES256 key: expected a Conflict, got {other:?}"),
        }
        // The same kid again (in a state that allows many) is a primary key conflict.
        let mut same_kid = existing.clone();
        same_kid.state = "previous".to_owned();
        assert_conflict(
            store.insert_signing_key(&same_kid).await,
            "signing_keys_pkey",
        );
    }
    // Any number of previous keys is fine.
    let mut old = stored[0].clone();
    old.kid = new_id(ids::SIGNING_KEY);
    old.state = "previous".to_owned();
    store.insert_signing_key(&old).await.unwrap();
    old.kid = new_id(ids::SIGNING_KEY);
    store.insert_signing_key(&old).await.unwrap();
    // An unknown state is refused by the check constraint.
    let mut bogus = stored[0].clone();
    bogus.kid = new_id(ids::SIGNING_KEY);
    bogus.state = "bogus".to_owned();
    assert_conflict(
        store.insert_signing_key(&bogus).await,
        "signing_keys_state_check",
    );
    assert_eq!(store.list_live_signing_keys().await.unwrap().len(), 8);
    drop(ring);
}

const ISSUER: &str = "https://switchyard.test/";

const AUDIENCE: &str = "https://api.example.com/";

/// Tokens here are signed and verified at the time of the machine they run on.
fn now_secs() -> i64 {
    switchyard::clock::Clock::system().now_unix_seconds()
}

fn claims(subject: &str) -> Value {
    let now = now_secs();
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "iat": now,
        "exp": now + 300,
        "scope": "read:things",
    })
}

fn validation() -> Validation {
    // The algorithm list is replaced by verify() from the key.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation
}

fn header_kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn tokens_sign_verify_and_rotate(store: Store) {
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    let other_node = KeyRing::load_or_init(&store).await.unwrap();
    for alg in SigningAlg::ALL.iter().copied() {
        let subject = format!("user-{}", alg.as_str());
        let token = ring.sign(alg, "at+jwt", &claims(&subject)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid, ring.current_kid(alg));
        let verified: Value = ring
            .verify(&token, "at+jwt", validation(), now_secs())
            .unwrap();
        assert_eq!(verified["sub"], subject.as_str());
        assert_eq!(verified["iss"], ISSUER);
        assert_eq!(verified["aud"], AUDIENCE);
        assert_eq!(verified["scope"], "read:things");
        let verified: Value = other_node
            .verify(&token, "at+jwt", validation(), now_secs())
            .unwrap();
        assert_eq!(verified["sub"], subject.as_str());

        // Explicit typing: an access token is not an ID token.
        match ring.verify::<Value>(&token, "JWT", validation(), now_secs()) {
            Err(TokenRejected::WrongType(typ)) => assert_eq!(typ.as_deref(), Some("at+jwt")),
            other => panic!("{alg:?}: expected WrongType, got {other:?}"),
        }
        let id_token = ring.sign(alg, "JWT", &claims(&subject)).unwrap();
        match ring.verify::<Value>(&id_token, "at+jwt", validation(), now_secs()) {
            Err(TokenRejected::WrongType(typ)) => assert_eq!(typ.as_deref(), Some("JWT")),
            other => panic!("{alg:?}: expected WrongType, got {other:?}"),
        }
        // Audience and tampering are still checked.
        let mut wrong_audience = validation();
        wrong_audience.set_audience(&["https://other.example.com/"]);
        assert!(matches!(
            ring.verify::<Value>(&token, "at+jwt", wrong_audience, now_secs()),
            Err(TokenRejected::Invalid(_))
        ));
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let mut bytes = signature.as_bytes().to_vec();
        bytes[2] = if bytes[2] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{signed}.{}", String::from_utf8(bytes).unwrap());
        assert!(matches!(
            ring.verify::<Value>(&tampered, "at+jwt", validation(), now_secs()),
            Err(TokenRejected::Invalid(_))
        ));

        // One rotation: the old key is previous and still verifies; the new
        // current key signs. A node that has not reloaded yet still accepts
        // the new key's tokens, because it already knew it as `next`.
        let old_kid = header_kid(&token);
        rotate(&ring, &store, alg).await.unwrap();
        let verified: Value = ring
            .verify(&token, "at+jwt", validation(), now_secs())
            .unwrap();
        assert_eq!(verified["sub"], subject.as_str());
        let newer = ring.sign(alg, "at+jwt", &claims(&subject)).unwrap();
        assert_ne!(header_kid(&newer), old_kid);
        let _: Value = ring
            .verify(&newer, "at+jwt", validation(), now_secs())
            .unwrap();
        let _: Value = other_node
            .verify(&newer, "at+jwt", validation(), now_secs())
            .unwrap();

        // Two and three rotations: the first key still verifies what it
        // signed (those tokens have not expired), on every node.
        for _ in 0..2 {
            rotate(&ring, &store, alg).await.unwrap();
            other_node.reload(&store).await.unwrap();
            for node in [&ring, &other_node] {
                let verified: Value = node
                    .verify(&token, "at+jwt", validation(), now_secs())
                    .unwrap();
                assert_eq!(verified["sub"], subject.as_str());
                assert!(jwks_kids(node).contains(&old_kid));
            }
        }
        let _: Value = ring
            .verify(&newer, "at+jwt", validation(), now_secs())
            .unwrap();
        let _: Value = other_node
            .verify(&newer, "at+jwt", validation(), now_secs())
            .unwrap();
    }
    // A token without a kid is not verified against some key anyway.
    let unsigned = {
        let header = jsonwebtoken::Header::new(Algorithm::HS256);
        let mut header = header;
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(
            &header,
            &claims("x"),
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .unwrap()
    };
    assert!(matches!(
        ring.verify::<Value>(&unsigned, "at+jwt", validation(), now_secs()),
        Err(TokenRejected::UnknownKey)
    ));
}

/// Two nodes (or two admin calls) rotating the same algorithm at once must
/// both succeed or one lose with a conflict, and always leave one current,
/// one next, and a previous key for each rotation that succeeded.
async fn concurrent_rotations(store: Store) {
    let first = KeyRing::load_or_init(&store).await.unwrap();
    let second = KeyRing::load_or_init(&store).await.unwrap();
    let mut failures = Vec::new();
    let mut rotations = 0;
    for round in 0..10 {
        let (a, b) = tokio::join!(
            rotate(&first, &store, SigningAlg::EdDSA),
            rotate(&second, &store, SigningAlg::EdDSA)
        );
        for result in [a, b] {
            match result {
                Ok(_) => rotations += 1,
                // Losing the race cleanly is acceptable.
                Err(KeyError::Store(StoreError::Conflict(_))) => {}
                Err(e) => failures.push(format!("round {round}: rotate failed: {e}")),
            }
        }
        let mut states: Vec<_> = store
            .list_live_signing_keys()
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.alg == "EdDSA")
            .map(|k| k.state)
            .collect();
        states.sort();
        let mut expected = vec!["current".to_owned(), "next".to_owned()];
        expected.extend(std::iter::repeat_n("previous".to_owned(), rotations));
        if states != expected {
            failures.push(format!(
                "round {round}: live EdDSA keys {states:?} after {rotations} rotations"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A store on a clock the test moves.
fn on_test_clock(store: Store) -> (Store, Clock) {
    let clock = Clock::advanceable();
    (store.with_clock(clock.clone()), clock)
}

/// An access token of `alg`'s current key, issued now for an hour.
fn hour_token(ring: &KeyRing, alg: SigningAlg, clock: &Clock) -> String {
    let now = clock.now_unix_seconds();
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "iat": now, "exp": now + 3600});
    ring.sign(alg, "at+jwt", &claims).unwrap()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap()
}

async fn retired_keys_verify_until_their_tokens_expire(store: Store) {
    let (store, clock) = on_test_clock(store);
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    let alg = SigningAlg::RS256;
    let first = ring.current_kid(alg).unwrap();
    let token = hour_token(&ring, alg, &clock);
    let record = store.get_signing_key(&first).await.unwrap();
    assert_eq!(record.current_since, Some(record.created_at));
    assert_eq!((record.current_until, record.verifies_until), (None, None));

    // Three rotations in a row: the first key stays published and verifying.
    let second = rotate(&ring, &store, alg).await.unwrap();
    clock.advance(Duration::from_secs(60));
    let third = rotate(&ring, &store, alg).await.unwrap();
    clock.advance(Duration::from_secs(60));
    rotate(&ring, &store, alg).await.unwrap();
    let _: Value = ring
        .verify(&token, "at+jwt", validation(), clock.now_unix_seconds())
        .unwrap();
    assert!(jwks_kids(&ring).contains(&first));

    // It verifies for the longest token lifetime from when it stopped signing
    // (no API has a longer one yet), plus the margin.
    let record = store.get_signing_key(&first).await.unwrap();
    let stopped = record.current_until.unwrap();
    assert_eq!(record.state, "previous");
    assert_eq!(
        record.verifies_until,
        Some(stopped + millis(LONGEST_FIXED_TOKEN_LIFETIME) + millis(RETENTION_MARGIN))
    );
    let second_record = store.get_signing_key(&second).await.unwrap();
    assert_eq!(second_record.current_since, Some(stopped));

    // An API whose tokens live longer keeps the keys that stop signing from
    // now on longer.
    let mut api = resource_server("https://long.example.com/", &["read:x"]);
    api.token_lifetime = 5 * 86_400;
    store.insert_resource_server(&api).await.unwrap();
    let signing = ring.current_kid(alg).unwrap();
    assert!(![&first, &second, &third].contains(&&signing));
    rotate(&ring, &store, alg).await.unwrap();
    let fourth = store.get_signing_key(&signing).await.unwrap();
    let fourth_stopped = fourth.current_until.unwrap();
    assert_eq!(
        fourth.verifies_until,
        Some(fourth_stopped + 5 * 86_400_000 + millis(RETENTION_MARGIN))
    );

    // So does a client whose ID tokens live longer still.
    let mut long_id_tokens = client("Long ID tokens");
    long_id_tokens.id_token_lifetime = 10 * 86_400;
    store.insert_client(&long_id_tokens).await.unwrap();
    let signing = ring.current_kid(alg).unwrap();
    rotate(&ring, &store, alg).await.unwrap();
    let fifth = store.get_signing_key(&signing).await.unwrap();
    assert_eq!(
        fifth.verifies_until,
        Some(fifth.current_until.unwrap() + 10 * 86_400_000 + millis(RETENTION_MARGIN))
    );

    // Once the first key's end has passed, it is gone from the JWKS and its
    // tokens are refused, without a reload; the later keys remain.
    let end = record.verifies_until.unwrap();
    clock.advance(Duration::from_millis(
        u64::try_from(end - 60_000 - clock.now_unix_millis()).unwrap(),
    ));
    assert!(jwks_kids(&ring).contains(&first), "published until its end");
    clock.advance(Duration::from_secs(60));
    assert!(!jwks_kids(&ring).contains(&first));
    assert!(jwks_kids(&ring).contains(&second));
    let mut no_exp_check = validation();
    no_exp_check.validate_exp = false;
    assert!(matches!(
        ring.verify::<Value>(&token, "at+jwt", no_exp_check, clock.now_unix_seconds()),
        Err(TokenRejected::UnknownKey)
    ));
    assert!(!kids_of(&ring).contains(&first));
    let other_node = KeyRing::load_or_init(&store).await.unwrap();
    assert!(!jwks_kids(&other_node).contains(&first));
    assert_not_found(store.get_signing_key(&first).await);
    assert!(
        !store
            .list_signing_keys()
            .await
            .unwrap()
            .iter()
            .any(|k| k.kid == first)
    );

    // The next rotation deletes its row, private key and all: its kid can be
    // inserted again (the primary key refused it before).
    let mut same_kid = store.list_live_signing_keys().await.unwrap()[0].clone();
    same_kid.kid = first.clone();
    same_kid.state = "previous".to_owned();
    assert_conflict(
        store.insert_signing_key(&same_kid).await,
        "signing_keys_pkey",
    );
    rotate(&ring, &store, alg).await.unwrap();
    store.insert_signing_key(&same_kid).await.unwrap();
    let _ = store.get_signing_key(&second).await.unwrap();
}

async fn revoked_keys_stop_verifying_at_once(store: Store) {
    let (store, clock) = on_test_clock(store);
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    let other_node = KeyRing::load_or_init(&store).await.unwrap();
    let alg = SigningAlg::ES256;
    let first = ring.current_kid(alg).unwrap();
    let token = hour_token(&ring, alg, &clock);
    let second = rotate(&ring, &store, alg).await.unwrap();
    let next = kid_in_state(&ring, alg, "next");

    // The current and the next key cannot be revoked, nor a key that does not exist.
    for kid in [&second, &next, &"key_unknown".to_owned()] {
        assert!(!ring.revoke(&store, kid).await.unwrap(), "{kid}");
    }
    assert_eq!(ring.current_kid(alg), Some(second.clone()));

    other_node.reload(&store).await.unwrap();
    let _: Value = other_node
        .verify(&token, "at+jwt", validation(), clock.now_unix_seconds())
        .unwrap();
    let before = clock.now_unix_millis();
    assert!(ring.revoke(&store, &first).await.unwrap());
    match ring.verify::<Value>(&token, "at+jwt", validation(), clock.now_unix_seconds()) {
        Err(TokenRejected::UnknownKey) => {}
        other => panic!("a revoked key's token: expected UnknownKey, got {other:?}"),
    }
    assert!(!jwks_kids(&ring).contains(&first));
    // Another node, once told: the same.
    other_node.reload(&store).await.unwrap();
    assert!(matches!(
        other_node.verify::<Value>(&token, "at+jwt", validation(), clock.now_unix_seconds()),
        Err(TokenRejected::UnknownKey)
    ));
    assert!(!jwks_kids(&other_node).contains(&first));

    // It is still listed, revoked, until its end; revoking again changes nothing.
    let record = store.get_signing_key(&first).await.unwrap();
    let revoked_at = record.revoked_at.unwrap();
    assert!((before..=clock.now_unix_millis()).contains(&revoked_at));
    clock.advance(Duration::from_secs(5));
    assert!(ring.revoke(&store, &first).await.unwrap());
    assert_eq!(
        store.get_signing_key(&first).await.unwrap().revoked_at,
        Some(revoked_at)
    );
    assert!(
        store
            .list_signing_keys()
            .await
            .unwrap()
            .iter()
            .any(|k| k.kid == first && k.revoked_at.is_some())
    );
    // A restart does not bring it back.
    let restarted = KeyRing::load_or_init(&store).await.unwrap();
    assert!(!kids_of(&restarted).contains(&first));
    assert!(
        !store
            .list_live_signing_keys()
            .await
            .unwrap()
            .iter()
            .any(|k| k.kid == first)
    );
}

async fn keys_made_before_certificates_get_one(store: Store) {
    let ring = KeyRing::load_or_init(&store).await.unwrap();
    let mut legacy = store.list_live_signing_keys().await.unwrap()[0].clone();
    legacy.kid = new_id(ids::SIGNING_KEY);
    legacy.state = "previous".to_owned();
    legacy.certificate = None;
    store.insert_signing_key(&legacy).await.unwrap();
    let (a, b) = tokio::join!(ring.reload(&store), KeyRing::load_or_init(&store));
    a.unwrap();
    let other = b.unwrap();
    let stored = store.get_signing_key(&legacy.kid).await.unwrap();
    let pem = stored.certificate.expect("a certificate was stored");
    let x5c = |ring: &KeyRing| {
        let jwks: Value = serde_json::from_str(&ring.jwks_json()).unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == legacy.kid.as_str())
            .unwrap()["x5c"][0]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Both nodes publish the one stored.
    let der = switchyard::keys::certificate_der(&pem).unwrap();
    let expected = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
    assert_eq!(x5c(&ring), expected);
    other.reload(&store).await.unwrap();
    assert_eq!(x5c(&other), expected);
}
