//! SAML connections, the SP side: the key ring (made once on first use, on
//! whichever node; rotated with a decryption overlap; sealed at rest) and
//! the assertion-ID replay cache.

use std::time::Duration;

use switchyard::clock::Clock;
use switchyard::connectors::saml::sp;
use switchyard::model::connection::{Connection, Strategy};
use switchyard::store::Store;

use crate::support::test_key;
use crate::{connection, on_both_backends};

on_both_backends!(
    two_first_uses_at_once_make_one_current_and_one_next_key,
    a_rotation_promotes_the_published_next_key,
    a_previous_key_decrypts_until_its_date_then_is_purged,
    an_assertion_id_is_accepted_once,
    concurrent_uses_of_one_assertion_id_let_exactly_one_through,
    deleting_a_connection_deletes_its_keys_and_assertion_ids,
    sp_keys_are_sealed_and_resealed_with_the_other_secrets,
);

const DAY: Duration = Duration::from_secs(24 * 3600);

async fn saml_connection(store: &Store, name: &str) -> Connection {
    let con = connection(name, Strategy::Saml);
    store.insert_connection(&con, &[]).await.unwrap();
    con
}

fn states(keys: &[switchyard::store::StoredSpKey]) -> Vec<(String, String)> {
    let mut states: Vec<_> = keys
        .iter()
        .map(|k| (k.state.clone(), k.id.clone()))
        .collect();
    states.sort();
    states
}

async fn two_first_uses_at_once_make_one_current_and_one_next_key(store: Store) {
    let con = saml_connection(&store, "acme-saml").await;
    let (a, b) = tokio::join!(sp::keys(&store, &con.id), sp::keys(&store, &con.id));
    let (a, b) = (a.unwrap(), b.unwrap());
    let stored = store.list_saml_sp_keys(&con.id).await.unwrap();
    let states: Vec<_> = states(&stored).into_iter().map(|(s, _)| s).collect();
    assert_eq!(states, ["current", "next"]);
    // Both callers got the one ring that won.
    assert_eq!(a.signing.id, b.signing.id);
    assert_eq!(a.published.len(), 2);
    assert_eq!(
        a.published.iter().map(|k| &k.id).collect::<Vec<_>>(),
        b.published.iter().map(|k| &k.id).collect::<Vec<_>>()
    );
    assert_eq!(a.decrypting.len(), 2);
    let current = stored.iter().find(|k| k.state == "current").unwrap();
    assert_eq!(a.signing.id, current.id);
    assert!(current.current_since.is_some());
    // The keys are usable: a PKCS#8 RSA key and the certificate of its public key.
    assert!(
        aws_lc_rs::rsa::KeyPair::from_pkcs8(&a.signing.private_key_pkcs8).is_ok(),
        "not an RSA PKCS#8 key"
    );
    let (_, cert) = x509_parser::parse_x509_certificate(&a.signing.certificate_der).unwrap();
    assert_eq!(cert.subject().to_string(), "CN=acme-saml");
    // Another use makes nothing new.
    let again = sp::keys(&store, &con.id).await.unwrap();
    assert_eq!(again.signing.id, a.signing.id);
    assert_eq!(store.list_saml_sp_keys(&con.id).await.unwrap().len(), 2);
}

async fn a_rotation_promotes_the_published_next_key(store: Store) {
    let con = saml_connection(&store, "acme-saml").await;
    let first = sp::keys(&store, &con.id).await.unwrap();
    let (current0, next0) = (first.published[0].id.clone(), first.published[1].id.clone());
    assert_eq!(first.signing.id, current0);

    let next1 = sp::rotate(&store, &con.id).await.unwrap();
    assert_eq!(next1.state, "next");
    let second = sp::keys(&store, &con.id).await.unwrap();
    // The key the IdPs had in the metadata signs now; the new next is published beside it.
    assert_eq!(second.signing.id, next0);
    assert_eq!(
        second.published.iter().map(|k| &k.id).collect::<Vec<_>>(),
        [&next0, &next1.id]
    );
    // The former current key still decrypts.
    assert!(second.decrypting.iter().any(|k| k.id == current0));
    let previous = store
        .list_saml_sp_keys(&con.id)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.id == current0)
        .unwrap();
    assert_eq!(previous.state, "previous");
    let until = previous.current_until.unwrap();
    assert_eq!(
        previous.decrypts_until,
        Some(until + sp::DECRYPTION_OVERLAP_MS)
    );

    let next2 = sp::rotate(&store, &con.id).await.unwrap();
    let third = sp::keys(&store, &con.id).await.unwrap();
    assert_eq!(third.signing.id, next1.id);
    assert_eq!(
        third.published.iter().map(|k| &k.id).collect::<Vec<_>>(),
        [&next1.id, &next2.id]
    );
    let decrypting: Vec<_> = third.decrypting.iter().map(|k| k.id.clone()).collect();
    assert_eq!(
        decrypting,
        [next1.id.clone(), next2.id.clone(), next0, current0]
    );
    let stored = store.list_saml_sp_keys(&con.id).await.unwrap();
    let count = |state: &str| stored.iter().filter(|k| k.state == state).count();
    assert_eq!(
        (count("current"), count("next"), count("previous")),
        (1, 1, 2)
    );
}

async fn a_previous_key_decrypts_until_its_date_then_is_purged(store: Store) {
    let clock = Clock::advanceable();
    let store = store.with_clock(clock.clone());
    let con = saml_connection(&store, "acme-saml").await;
    let first = sp::keys(&store, &con.id).await.unwrap();
    sp::rotate(&store, &con.id).await.unwrap();
    // A day before the overlap ends the old key still decrypts; nothing to purge.
    clock.advance(Duration::from_millis(sp::DECRYPTION_OVERLAP_MS as u64) - DAY);
    let during = sp::keys(&store, &con.id).await.unwrap();
    assert_eq!(during.decrypting.len(), 3);
    assert!(during.decrypting.iter().any(|k| k.id == first.signing.id));
    let now = clock.now_unix_millis();
    assert_eq!(
        store.purge_expired(now, 1000).await.unwrap().saml_sp_keys,
        0
    );
    // After it, it decrypts nothing, and the purge deletes it.
    clock.advance(DAY);
    let after = sp::keys(&store, &con.id).await.unwrap();
    assert_eq!(after.decrypting.len(), 2);
    assert!(after.decrypting.iter().all(|k| k.id != first.signing.id));
    let now = clock.now_unix_millis();
    assert_eq!(
        store.purge_expired(now, 1000).await.unwrap().saml_sp_keys,
        1
    );
    assert_eq!(store.list_saml_sp_keys(&con.id).await.unwrap().len(), 2);
    assert_eq!(store.purge_expired(now, 1000).await.unwrap().total(), 0);
}

async fn an_assertion_id_is_accepted_once(store: Store) {
    let clock = Clock::advanceable();
    let store = store.with_clock(clock.clone());
    let acme = saml_connection(&store, "acme-saml").await;
    let other = saml_connection(&store, "other-saml").await;
    let expires = clock.now_unix_millis() + 300_000;
    assert!(
        sp::remember_assertion(&store, &acme.id, "_a1", expires)
            .await
            .unwrap()
    );
    assert!(
        !sp::remember_assertion(&store, &acme.id, "_a1", expires)
            .await
            .unwrap()
    );
    // A longer lifetime claimed by the replay changes nothing.
    assert!(
        !sp::remember_assertion(&store, &acme.id, "_a1", expires + DAY.as_millis() as i64)
            .await
            .unwrap()
    );
    // IDs are per connection: another IdP's assertion may reuse it.
    assert!(
        sp::remember_assertion(&store, &other.id, "_a1", expires)
            .await
            .unwrap()
    );
    assert!(
        sp::remember_assertion(&store, &acme.id, "_a2", expires + 600_000)
            .await
            .unwrap()
    );
    // Once expired, the ID is purged (its assertion is refused for its dates anyway).
    clock.advance(Duration::from_secs(301));
    let now = clock.now_unix_millis();
    assert_eq!(
        store
            .purge_expired(now, 1000)
            .await
            .unwrap()
            .saml_assertion_ids,
        2
    );
    assert!(
        !sp::remember_assertion(&store, &acme.id, "_a2", now + 1)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .purge_expired(now, 1000)
            .await
            .unwrap()
            .saml_assertion_ids,
        0
    );
    // A record past its expiry but not purged yet is taken over, not a replay.
    clock.advance(Duration::from_secs(601));
    assert!(
        sp::remember_assertion(&store, &acme.id, "_a2", clock.now_unix_millis() + 1000)
            .await
            .unwrap()
    );
}

async fn concurrent_uses_of_one_assertion_id_let_exactly_one_through(store: Store) {
    let con = saml_connection(&store, "acme-saml").await;
    let expires = store.clock().now_unix_millis() + 300_000;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, id) = (store.clone(), con.id.clone());
            tokio::spawn(async move {
                sp::remember_assertion(&store, &id, "_replayed", expires)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        if task.await.unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
}

async fn deleting_a_connection_deletes_its_keys_and_assertion_ids(store: Store) {
    let con = saml_connection(&store, "acme-saml").await;
    sp::keys(&store, &con.id).await.unwrap();
    let expires = store.clock().now_unix_millis() + 300_000;
    assert!(
        sp::remember_assertion(&store, &con.id, "_a1", expires)
            .await
            .unwrap()
    );
    store.delete_connection(&con.id).await.unwrap();
    assert!(store.list_saml_sp_keys(&con.id).await.unwrap().is_empty());
    // A connection of that name again starts afresh; the old one is gone with its ids.
    let again = saml_connection(&store, "acme-saml").await;
    assert!(
        sp::remember_assertion(&store, &again.id, "_a1", expires)
            .await
            .unwrap()
    );
    let now = store.clock().now_unix_millis();
    assert_eq!(
        store
            .purge_expired(now + 300_001, 1000)
            .await
            .unwrap()
            .saml_assertion_ids,
        1
    );
    // Keys for a connection that does not exist are not made.
    assert!(sp::keys(&store, &con.id).await.is_err());
}

async fn sp_keys_are_sealed_and_resealed_with_the_other_secrets(store: Store) {
    let con = saml_connection(&store, "acme-saml").await;
    let keys = sp::keys(&store, &con.id).await.unwrap();
    let secrets = store.stored_secrets().await.unwrap();
    assert_eq!(secrets.in_the_clear, 0);
    assert!(secrets.sealed_under.is_some());
    let new = test_key();
    let resealed = store.reseal_secrets(&new).await.unwrap();
    assert_eq!(resealed.saml_sp_keys, 2);
    let reopened = store.clone().with_key_encryption_key(new);
    let after = sp::keys(&reopened, &con.id).await.unwrap();
    assert_eq!(after.signing.id, keys.signing.id);
    assert_eq!(
        after.signing.private_key_pkcs8,
        keys.signing.private_key_pkcs8
    );
    // The old key opens them no more.
    assert!(store.list_saml_sp_keys(&con.id).await.is_err());
}
