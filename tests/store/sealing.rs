//! Sealed secret columns: only the key-encryption key they were sealed
//! under opens them, and a store without one neither writes nor reads them
//! (it never falls back to the clear).

use serde_json::json;
use switchyard::keys::{KeyError, KeyRing};
use switchyard::model::connection::{ConnectionOptions, Strategy};
use switchyard::secrets::SealError;
use switchyard::store::{Store, StoreError};

use crate::support::test_key;
use crate::{connection, object, on_both_backends};

on_both_backends!(another_key_opens_nothing);

fn oidc_with_secret() -> switchyard::model::connection::Connection {
    let mut oidc = connection("acme-oidc", Strategy::Oidc);
    oidc.options = ConnectionOptions::decode(
        Strategy::Oidc,
        object(
            json!({"client_id": "c", "client_secret": "s", "issuer": "https://idp.example.com"}),
        ),
    )
    .unwrap();
    oidc
}

async fn another_key_opens_nothing(store: Store) {
    let oidc = oidc_with_secret();
    store.insert_connection(&oidc, &[]).await.unwrap();
    KeyRing::load_or_init(&store).await.unwrap();
    let stored = store.get_connection(&oidc.id).await.unwrap();
    assert_eq!(
        stored.options.client_secret().map(|s| s.expose()),
        Some("s")
    );

    let other = store.clone().with_key_encryption_key(test_key());
    let wrong_key = |result: Result<(), StoreError>| {
        matches!(result, Err(StoreError::Sealed(SealError::WrongKey { .. })))
    };
    assert!(wrong_key(other.get_connection(&oidc.id).await.map(drop)));
    assert!(wrong_key(other.list_live_signing_keys().await.map(drop)));
    assert!(wrong_key(other.seal_secrets_in_the_clear().await.map(drop)));
    assert!(matches!(
        KeyRing::load_or_init(&other).await,
        Err(KeyError::Store(StoreError::Sealed(
            SealError::WrongKey { .. }
        )))
    ));
    // Refused, not rewritten: the right key still opens everything.
    assert_eq!(store.seal_secrets_in_the_clear().await.unwrap().total(), 0);
}

#[tokio::test]
async fn a_store_without_a_key_encryption_key_writes_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let url = switchyard::store::sqlite_url_for(&dir.path().join("switchyard.db"));
    let store = Store::connect(&url).await.unwrap();
    let no_key = |result: Result<(), StoreError>| {
        matches!(result, Err(StoreError::Sealed(SealError::NoKey { .. })))
    };
    assert!(no_key(
        store.insert_connection(&oidc_with_secret(), &[]).await
    ));
    assert!(no_key(
        KeyRing::load_or_init(&store)
            .await
            .map(drop)
            .map_err(|e| match e {
                KeyError::Store(e) => e,
                other => panic!("{other}"),
            })
    ));
    // What holds no secret is stored as before.
    store
        .insert_connection(&connection("users", Strategy::Database), &[])
        .await
        .unwrap();
}
