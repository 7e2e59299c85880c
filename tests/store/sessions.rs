//! SSO sessions and the refresh-token families issued in them.

use switchyard::model::connection::Strategy;
use switchyard::store::{RefreshOutcome, Store};

use crate::{
    assert_conflict, assert_not_found, client, connection, family_of, on_both_backends,
    org_with_member, session_of, start_family,
};

on_both_backends!(sessions_and_refresh_families,);

async fn sessions_and_refresh_families(store: Store) {
    let con = connection("users", Strategy::Database);
    store.insert_connection(&con, &[]).await.unwrap();
    let (org, alice) = org_with_member(&store, "hoekstra", &con).await;
    let web = client("Web");
    store.insert_client(&web).await.unwrap();
    let now = store.clock().now_unix_millis();

    // A session is found by its cookie's hash while live, not once ended.
    store
        .insert_session(&session_of(&alice, "s1", now), "cookie-1")
        .await
        .unwrap();
    assert_conflict(
        store
            .insert_session(&session_of(&alice, "s2", now), "cookie-1")
            .await,
        "sessions_cookie_hash_key",
    );
    assert_eq!(
        store
            .get_live_session("cookie-1", now, now - 1000)
            .await
            .unwrap()
            .id,
        "s1"
    );
    assert_not_found(store.get_live_session("cookie-1", now + 3_600_001, 0).await);
    assert_not_found(store.get_live_session("cookie-1", now, now + 1).await);
    store.add_session_organization("s1", &org.id).await.unwrap();
    store.add_session_organization("s1", &org.id).await.unwrap();
    store.touch_session("s1", now + 5000).await.unwrap();
    assert_eq!(
        store
            .get_live_session("cookie-1", now, now + 4000)
            .await
            .unwrap()
            .last_used_at,
        now + 5000
    );
    // A blocked user's session is not live.
    let mut blocked = alice.clone();
    blocked.blocked = true;
    store.update_user(&blocked).await.unwrap();
    assert_not_found(store.get_live_session("cookie-1", now, 0).await);
    store.update_user(&alice).await.unwrap();
    assert_eq!(
        store.list_session_organizations("s1").await.unwrap(),
        vec![org.id.clone()]
    );
    // Clients recorded for back-channel logout, once each.
    for client_id in [&web.client_id, &web.client_id] {
        assert!(store.add_session_client("s1", client_id).await.unwrap());
    }
    assert_eq!(
        store.list_session_clients("s1").await.unwrap(),
        vec![web.client_id.clone()]
    );
    assert_eq!(
        store.end_session("s1").await.unwrap(),
        Some(alice.user_id.clone()),
        "ending names the user"
    );
    assert_eq!(store.end_session("s1").await.unwrap(), None);
    assert!(
        !store
            .add_session_client("s1", &web.client_id)
            .await
            .unwrap(),
        "an ended session takes no client"
    );
    assert_not_found(store.get_live_session("cookie-1", now, 0).await);

    // A family rotates; a used token again revokes it, with the access
    // tokens issued with its tokens; then nothing works.
    start_family(
        &store,
        &family_of(&web, &alice, "f1", now + 1_000_000),
        "t1",
        now + 1000,
        "at-1",
    )
    .await;
    match store
        .rotate_refresh_token("t1", "t2", now, now + 1000, "at-2")
        .await
        .unwrap()
    {
        RefreshOutcome::Rotated(grant) => assert_eq!(grant.id, "f1"),
        other => panic!("expected a rotation, got {other:?}"),
    }
    assert!(!store.is_access_token_revoked("at-2").await.unwrap());
    assert_eq!(
        store
            .rotate_refresh_token("t1", "t3", now, now + 1000, "at-3")
            .await
            .unwrap(),
        RefreshOutcome::Reused {
            grant_id: "f1".into()
        }
    );
    for (jti, revoked) in [("at-1", true), ("at-2", true), ("at-3", false)] {
        assert_eq!(
            store.is_access_token_revoked(jti).await.unwrap(),
            revoked,
            "{jti}"
        );
    }
    assert_eq!(
        store
            .rotate_refresh_token("t2", "t4", now, now + 1000, "at-4")
            .await
            .unwrap(),
        RefreshOutcome::Inactive
    );
    assert!(!store.find_refresh_token("t2", now).await.unwrap().active);
    assert_not_found(
        store
            .rotate_refresh_token("unknown", "t5", now, now + 1000, "at-5")
            .await,
    );
    // A new token never outlives its family.
    start_family(
        &store,
        &family_of(&web, &alice, "f2", now + 500),
        "u1",
        now + 400,
        "au-1",
    )
    .await;
    store
        .rotate_refresh_token("u1", "u2", now, now + 10_000, "au-2")
        .await
        .unwrap();
    assert_eq!(
        store
            .find_refresh_token("u2", now)
            .await
            .unwrap()
            .expires_at,
        now + 500
    );
}
