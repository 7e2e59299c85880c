//! Signing keys: creation, rotation, and tokens signed with them.

use std::collections::BTreeSet;

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Value, json};
use switchyard::keys::{KeyError, KeyRing, TokenRejected};
use switchyard::model::client::SigningAlg;
use switchyard::model::ids::{self, new_id};
use switchyard::store::{Store, StoreError};

use crate::{assert_conflict, on_both_backends};

on_both_backends!(
    signing_keys_are_created_once,
    signing_keys_concurrent_init,
    signing_key_rotation,
    signing_key_conflicts,
    tokens_sign_verify_and_rotate,
    concurrent_rotations,
);

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

    let new_current = ring.rotate(&store, SigningAlg::RS256).await.unwrap();
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

    // The second rotation retires the first previous key.
    let newer_current = ring.rotate(&store, SigningAlg::RS256).await.unwrap();
    assert_eq!(newer_current, next1);
    assert_eq!(kid_in_state(&ring, SigningAlg::RS256, "previous"), next0);
    let next2 = kid_in_state(&ring, SigningAlg::RS256, "next");
    assert!(![&current0, &next0, &next1].contains(&&next2));
    assert_eq!(ring.summaries().len(), 7);
    assert!(!kids_of(&ring).contains(&current0));
    assert!(!jwks_kids(&ring).contains(&current0));
    assert!(!ring.jwks_json().contains(current0.as_str()));
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
        assert_eq!(ring.rotate(&store, alg).await.unwrap(), next);
    }
    assert_eq!(ring.summaries().len(), 9);
    assert_eq!(store.list_live_signing_keys().await.unwrap().len(), 9);
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
        ring.rotate(&store, alg).await.unwrap();
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

        // Two rotations: the first key is retired and its tokens are rejected.
        ring.rotate(&store, alg).await.unwrap();
        match ring.verify::<Value>(&token, "at+jwt", validation(), now_secs()) {
            Err(TokenRejected::UnknownKey) => {}
            other => panic!("{alg:?}: expected UnknownKey after two rotations, got {other:?}"),
        }
        let _: Value = ring
            .verify(&newer, "at+jwt", validation(), now_secs())
            .unwrap();
        other_node.reload(&store).await.unwrap();
        assert!(matches!(
            other_node.verify::<Value>(&token, "at+jwt", validation(), now_secs()),
            Err(TokenRejected::UnknownKey)
        ));
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
/// both succeed or one lose with a conflict, and always leave one current, one next
/// and one previous key.
async fn concurrent_rotations(store: Store) {
    let first = KeyRing::load_or_init(&store).await.unwrap();
    let second = KeyRing::load_or_init(&store).await.unwrap();
    let mut failures = Vec::new();
    for round in 0..10 {
        let (a, b) = tokio::join!(
            first.rotate(&store, SigningAlg::EdDSA),
            second.rotate(&store, SigningAlg::EdDSA)
        );
        for result in [a, b] {
            match result {
                // Losing the race cleanly is acceptable.
                Ok(_) | Err(KeyError::Store(StoreError::Conflict(_))) => {}
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
        if states != ["current", "next", "previous"] {
            failures.push(format!("round {round}: live EdDSA keys {states:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
