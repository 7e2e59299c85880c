//! Revoked access tokens: what a replayed code or a revoked family revokes.

use switchyard::model::client::Client;
use switchyard::store::Store;

use crate::{
    alice_and_web_client, assert_not_found, client, family_of, on_both_backends, start_family,
};

on_both_backends!(replayed_codes_and_revoked_families_revoke_their_access_tokens,);

/// A code of `client` consumed by an exchange that issued access token `access_token_id`.
async fn used_code(store: &Store, code_hash: &str, client: &Client, access_token_id: &str) {
    let now = store.clock().now_unix_millis();
    store
        .insert_authorization_code(code_hash, &client.client_id, "{}", now + 60_000)
        .await
        .unwrap();
    store
        .consume_authorization_code(code_hash, &client.client_id, now, access_token_id)
        .await
        .unwrap();
}

async fn replayed_codes_and_revoked_families_revoke_their_access_tokens(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let now = store.clock().now_unix_millis();

    // A code whose exchange started a family that then rotated once.
    used_code(&store, "code-1", &web, "at-code").await;
    assert!(
        store
            .insert_refresh_grant(
                "code-1",
                &family_of(&web, &alice, "fc", now + 1_000_000),
                "c1",
                now + 1000,
                "at-code",
            )
            .await
            .unwrap()
    );
    store
        .rotate_refresh_token("c1", "c2", now, now + 1000, "at-c2")
        .await
        .unwrap();
    assert!(!store.is_access_token_revoked("at-code").await.unwrap());
    // Presented again by another client: refused, and nothing is revoked.
    let other = client("Other");
    store.insert_client(&other).await.unwrap();
    assert!(
        !store
            .revoke_what_code_issued("code-1", &other.client_id, now)
            .await
            .unwrap()
    );
    assert!(!store.is_access_token_revoked("at-code").await.unwrap());
    // Replayed by its client: its access token, its family and the
    // family's access tokens go.
    assert!(
        store
            .revoke_what_code_issued("code-1", &web.client_id, now)
            .await
            .unwrap()
    );
    assert!(store.is_access_token_revoked("at-code").await.unwrap());
    assert!(store.is_access_token_revoked("at-c2").await.unwrap());
    assert!(!store.find_refresh_token("c2", now).await.unwrap().active);

    // A code without a family: its access token alone.
    used_code(&store, "code-2", &web, "at-solo").await;
    assert!(
        store
            .revoke_what_code_issued("code-2", &web.client_id, now)
            .await
            .unwrap()
    );
    assert!(store.is_access_token_revoked("at-solo").await.unwrap());
    assert!(
        !store
            .revoke_what_code_issued("unknown", &web.client_id, now)
            .await
            .unwrap()
    );
    // An unused code is not a replay.
    store
        .insert_authorization_code("code-3", &web.client_id, "{}", now + 60_000)
        .await
        .unwrap();
    assert!(
        !store
            .revoke_what_code_issued("code-3", &web.client_id, now)
            .await
            .unwrap()
    );

    // Replayed while its exchange is still running: the exchange then
    // starts no family.
    store
        .consume_authorization_code("code-3", &web.client_id, now, "at-racing")
        .await
        .unwrap();
    assert!(
        store
            .revoke_what_code_issued("code-3", &web.client_id, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_refresh_grant(
                "code-3",
                &family_of(&web, &alice, "f-late", now + 1_000_000),
                "late-1",
                now + 1000,
                "at-racing",
            )
            .await
            .unwrap()
    );
    assert_not_found(store.find_refresh_token("late-1", now).await);
    assert!(store.is_access_token_revoked("at-racing").await.unwrap());

    // Revoking all of a user's families revokes their access tokens too.
    start_family(
        &store,
        &family_of(&web, &alice, "fu", now + 1_000_000),
        "v1",
        now + 1000,
        "at-v1",
    )
    .await;
    assert_eq!(
        store
            .revoke_user_refresh_grants(&alice.user_id)
            .await
            .unwrap(),
        1
    );
    assert!(store.is_access_token_revoked("at-v1").await.unwrap());

    // An access token revoked on its own; twice is fine.
    for _ in 0..2 {
        store
            .revoke_access_token("at-own", now + 1000)
            .await
            .unwrap();
    }
    assert!(store.is_access_token_revoked("at-own").await.unwrap());
    assert!(!store.is_access_token_revoked("at-other").await.unwrap());
}
