//! Upstream requests: single-use, expiring, gone with their login transaction.

use switchyard::model::connection::Strategy;
use switchyard::store::{
    MAX_UPSTREAM_REQUESTS_PER_LOGIN, Store, StoredTransaction, StoredUpstreamRequest,
};

use crate::{assert_not_found, connection, on_both_backends};

on_both_backends!(
    a_response_is_recorded_once_and_the_request_taken_once,
    an_expired_request_is_neither_answered_nor_taken,
    a_request_goes_with_its_login_transaction,
    a_login_holds_a_bounded_number_of_requests,
);

async fn transaction_and_request(store: &Store, id: &str) -> StoredUpstreamRequest {
    let now = store.clock().now_unix_millis();
    let con = connection(&format!("idp-{id}"), Strategy::Oidc);
    store.insert_connection(&con, &[]).await.unwrap();
    store
        .insert_login_transaction(&StoredTransaction {
            id: id.into(),
            browser_hash: "b".into(),
            csrf_token: "c".into(),
            request: "{}".into(),
            email: None,
            previous_session_id: None,
            authenticated_session_id: None,
            expires_at: now + 1_800_000,
        })
        .await
        .unwrap();
    let request = StoredUpstreamRequest {
        state_hash: format!("state-{id}"),
        transaction_id: id.into(),
        connection_id: con.id.clone(),
        nonce: "n".into(),
        pkce_verifier: Some("v".into()),
        response: None,
        expires_at: now + 600_000,
    };
    assert!(store.insert_upstream_request(&request).await.unwrap());
    request
}

async fn a_response_is_recorded_once_and_the_request_taken_once(store: Store) {
    let request = transaction_and_request(&store, "t1").await;
    let now = store.clock().now_unix_millis();
    // Nothing to take before the upstream answered.
    assert_not_found(store.take_upstream_request(&request.state_hash, now).await);
    let answered = store
        .record_upstream_response(&request.state_hash, r#"{"code":"c1"}"#, now)
        .await
        .unwrap();
    assert_eq!(answered.response.as_deref(), Some(r#"{"code":"c1"}"#));
    assert_eq!(answered.pkce_verifier.as_deref(), Some("v"));
    // A replayed callback does not overwrite the first response.
    assert_not_found(
        store
            .record_upstream_response(&request.state_hash, r#"{"code":"c2"}"#, now)
            .await,
    );
    assert_eq!(
        store
            .get_upstream_request(&request.state_hash, now)
            .await
            .unwrap()
            .response,
        answered.response
    );
    let taken = store
        .take_upstream_request(&request.state_hash, now)
        .await
        .unwrap();
    assert_eq!(taken, answered);
    assert_not_found(store.take_upstream_request(&request.state_hash, now).await);
    assert_not_found(store.get_upstream_request(&request.state_hash, now).await);
    assert_not_found(
        store
            .record_upstream_response(&request.state_hash, "{}", now)
            .await,
    );
}

async fn an_expired_request_is_neither_answered_nor_taken(store: Store) {
    let request = transaction_and_request(&store, "t2").await;
    let later = request.expires_at;
    assert_not_found(
        store
            .record_upstream_response(&request.state_hash, "{}", later)
            .await,
    );
    let now = store.clock().now_unix_millis();
    store
        .record_upstream_response(&request.state_hash, "{}", now)
        .await
        .unwrap();
    assert_not_found(
        store
            .take_upstream_request(&request.state_hash, later)
            .await,
    );
    assert_not_found(store.get_upstream_request(&request.state_hash, later).await);
}

async fn a_request_goes_with_its_login_transaction(store: Store) {
    let request = transaction_and_request(&store, "t3").await;
    let now = store.clock().now_unix_millis();
    assert!(store.delete_login_transaction("t3").await.unwrap());
    assert_not_found(store.get_upstream_request(&request.state_hash, now).await);
}

async fn a_login_holds_a_bounded_number_of_requests(store: Store) {
    let first = transaction_and_request(&store, "t-many").await;
    for n in 1..MAX_UPSTREAM_REQUESTS_PER_LOGIN {
        let another = StoredUpstreamRequest {
            state_hash: format!("state-many-{n}"),
            ..first.clone()
        };
        assert!(
            store.insert_upstream_request(&another).await.unwrap(),
            "{n}"
        );
    }
    let one_too_many = StoredUpstreamRequest {
        state_hash: "state-many-over".into(),
        ..first.clone()
    };
    assert!(!store.insert_upstream_request(&one_too_many).await.unwrap());
    let now = store.clock().now_unix_millis();
    assert_not_found(store.get_upstream_request("state-many-over", now).await);
    // Another login is not affected.
    transaction_and_request(&store, "t-other").await;
}
