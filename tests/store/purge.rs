//! Purging expired rows.

use switchyard::store::purge::RETENTION_MS;
use switchyard::store::{Store, StoredTransaction};

use crate::{
    alice_and_web_client, assert_not_found, family_of, on_both_backends, session_of, start_family,
};

on_both_backends!(expired_rows_are_purged,);

async fn expired_rows_are_purged(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let now = store.clock().now_unix_millis();
    let long_ago = now - RETENTION_MS - 1;
    for (id, expires_at) in [("old", long_ago), ("live", now + 60_000)] {
        store
            .insert_login_transaction(&StoredTransaction {
                id: id.into(),
                browser_hash: "b".into(),
                csrf_token: "c".into(),
                request: "{}".into(),
                email: None,
                previous_session_id: None,
                authenticated_session_id: None,
                expires_at,
            })
            .await
            .unwrap();
        store
            .insert_authorization_code(&format!("code-{id}"), &web.client_id, "{}", expires_at)
            .await
            .unwrap();
        let mut session = session_of(&alice, &format!("s-{id}"), now);
        session.expires_at = expires_at;
        store
            .insert_session(&session, &format!("cookie-{id}"))
            .await
            .unwrap();
        start_family(
            &store,
            &family_of(&web, &alice, &format!("f-{id}"), expires_at),
            &format!("t-{id}"),
            expires_at,
            &format!("at-{id}"),
        )
        .await;
        store
            .revoke_access_token(&format!("jti-{id}"), expires_at)
            .await
            .unwrap();
    }
    // A login transaction goes as soon as it has expired.
    store
        .insert_login_transaction(&StoredTransaction {
            id: "just-expired".into(),
            browser_hash: "b".into(),
            csrf_token: "c".into(),
            request: "{}".into(),
            email: None,
            previous_session_id: None,
            authenticated_session_id: None,
            expires_at: now - 1,
        })
        .await
        .unwrap();
    // A session idle for longer than the idle lifetime (plus retention) goes too.
    let mut idle = session_of(&alice, "s-idle", now);
    idle.last_used_at = long_ago - 1000;
    store.insert_session(&idle, "cookie-idle").await.unwrap();

    let purged = store.purge_expired(now, 1000).await.unwrap();
    assert_eq!(purged.login_transactions, 2);
    assert_eq!(purged.authorization_codes, 1);
    assert_eq!(purged.sessions, 2, "{purged:?}");
    assert_eq!(purged.refresh_grants, 1);
    assert_eq!(purged.revoked_access_tokens, 1);
    assert!(!store.is_access_token_revoked("jti-old").await.unwrap());
    assert!(store.is_access_token_revoked("jti-live").await.unwrap());
    assert_not_found(store.get_login_transaction("old", 0).await);
    assert!(store.get_login_transaction("live", now).await.is_ok());
    assert!(store.get_session("s-live").await.is_ok());
    assert_not_found(store.get_session("s-old").await);
    assert_not_found(store.find_refresh_token("t-old", now).await);
    assert!(store.find_refresh_token("t-live", now).await.is_ok());
    assert_eq!(store.purge_expired(now, 1000).await.unwrap().total(), 0);
}
