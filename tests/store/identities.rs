//! Upstream identities: (connection, subject) → one user.

use serde_json::json;
use switchyard::model::connection::Strategy;
use switchyard::model::ids::{self, new_id};
use switchyard::model::user::{User, federated_user_id};
use switchyard::store::Store;
use switchyard::store::StoredTransaction;
use switchyard::store::identities::{PendingLink, ProfileData};

use crate::{assert_conflict, assert_not_found, connection, object, org_with_member, user};

crate::on_both_backends!(
    an_identity_belongs_to_one_user,
    users_may_have_no_email,
    two_first_logins_of_one_identity_make_one_user,
    identities_go_with_their_user_and_connection,
    merging_moves_identities_and_deletes_the_secondary,
    a_pending_link_lives_with_its_login,
    a_page_of_users_has_its_identities_read_at_once,
    the_organizations_of_a_user_and_of_a_connection,
);

/// A user provisioned from `subject` at `connection`, without an email.
fn federated(connection: &switchyard::model::connection::Connection, subject: &str) -> User {
    User {
        user_id: federated_user_id(connection.strategy, &connection.name, subject),
        email: None,
        ..user(&connection.id, "unused@example.com")
    }
}

fn profile(name: &str) -> ProfileData {
    object(json!({"name": name}))
}

async fn an_identity_belongs_to_one_user(store: Store) {
    let oidc = connection("acme-oidc", Strategy::Oidc);
    let db = connection("db", Strategy::Database);
    store.insert_connection(&oidc, &[]).await.unwrap();
    store.insert_connection(&db, &[]).await.unwrap();
    assert!(
        store
            .find_identity_user(&oidc.id, "sub-1")
            .await
            .unwrap()
            .is_none()
    );

    let alice = federated(&oidc, "sub-1");
    assert_eq!(alice.user_id, "oidc|acme-oidc|sub-1");
    store
        .insert_user_with_identity(&alice, "sub-1", &profile("Alice"))
        .await
        .unwrap();
    let found = store.find_identity_user(&oidc.id, "sub-1").await.unwrap();
    assert_eq!(found.map(|u| u.user), Some(alice.clone()));

    // The identity is taken: not by a second user, not linked to another.
    let mut second = federated(&oidc, "sub-1");
    second.user_id = new_id(ids::USER);
    assert_conflict(
        store
            .insert_user_with_identity(&second, "sub-1", &profile("Mallory"))
            .await,
        "user_identities_pkey",
    );
    assert_not_found(store.get_user(&second.user_id).await);
    let bob = user(&db.id, "bob@example.com");
    store.insert_user(&bob, Some("hash")).await.unwrap();
    assert_conflict(
        store
            .insert_identity(&oidc.id, "sub-1", &bob.user_id, &profile("Bob"))
            .await,
        "user_identities_pkey",
    );

    // Another identity links to Bob.
    store
        .insert_identity(&oidc.id, "sub-2", &bob.user_id, &profile("Bob"))
        .await
        .unwrap();
    store
        .update_identity_profile(&oidc.id, "sub-2", &profile("Bobby"))
        .await
        .unwrap();
    let identities = store.list_user_identities(&bob.user_id).await.unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0].subject, "sub-2");
    assert_eq!(identities[0].profile_data, profile("Bobby"));
    assert_eq!(
        store
            .find_identity_user(&oidc.id, "sub-2")
            .await
            .unwrap()
            .map(|u| u.user.user_id),
        Some(bob.user_id.clone())
    );

    // Unlinking: only the user's own identity, once.
    assert_not_found(
        store
            .delete_identity(&alice.user_id, &oidc.id, "sub-2")
            .await,
    );
    store
        .delete_identity(&bob.user_id, &oidc.id, "sub-2")
        .await
        .unwrap();
    assert_not_found(store.delete_identity(&bob.user_id, &oidc.id, "sub-2").await);
    assert!(
        store
            .find_identity_user(&oidc.id, "sub-2")
            .await
            .unwrap()
            .is_none()
    );
    assert_not_found(
        store
            .update_identity_profile(&oidc.id, "sub-2", &profile("x"))
            .await,
    );
}

async fn users_may_have_no_email(store: Store) {
    let oidc = connection("acme-oidc", Strategy::Oidc);
    store.insert_connection(&oidc, &[]).await.unwrap();
    // Two users without an email in one connection: no conflict.
    for subject in ["a", "b"] {
        store
            .insert_user_with_identity(&federated(&oidc, subject), subject, &ProfileData::new())
            .await
            .unwrap();
    }
    let stored = store.get_user("oidc|acme-oidc|a").await.unwrap();
    assert_eq!(stored.user.email, None);
    // An email can come and go.
    let mut user = stored.user;
    user.email = Some("a@example.com".into());
    store.update_user(&user).await.unwrap();
    assert_eq!(
        store.list_users_by_email("a@example.com").await.unwrap()[0]
            .user
            .user_id,
        "oidc|acme-oidc|a"
    );
    user.email = None;
    store.update_user(&user).await.unwrap();
    assert_eq!(
        store.get_user(&user.user_id).await.unwrap().user.email,
        None
    );
}

async fn two_first_logins_of_one_identity_make_one_user(store: Store) {
    let oidc = connection("acme-oidc", Strategy::Oidc);
    store.insert_connection(&oidc, &[]).await.unwrap();
    for round in 0..5 {
        let subject = format!("racer-{round}");
        // Ids that differ, so only the identity's key can stop the second.
        let first = User {
            user_id: new_id(ids::USER),
            ..federated(&oidc, &subject)
        };
        let second = User {
            user_id: new_id(ids::USER),
            ..federated(&oidc, &subject)
        };
        // Two tasks, on the runtime's two worker threads.
        let login = |user: User| {
            let store = store.clone();
            let subject = subject.clone();
            tokio::spawn(async move {
                store
                    .insert_user_with_identity(&user, &subject, &ProfileData::new())
                    .await
            })
        };
        let (a, b) = (login(first.clone()), login(second.clone()));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        let (winner, loser, lost) = match (a, b) {
            (Ok(()), lost) => (&first, &second, lost),
            (lost, Ok(())) => (&second, &first, lost),
            both => panic!("neither first login made the user: {both:?}"),
        };
        assert_conflict(lost, "user_identities_pkey");
        assert_not_found(store.get_user(&loser.user_id).await);
        assert_eq!(
            store
                .find_identity_user(&oidc.id, &subject)
                .await
                .unwrap()
                .map(|u| u.user.user_id),
            Some(winner.user_id.clone())
        );
    }
}

async fn identities_go_with_their_user_and_connection(store: Store) {
    let oidc = connection("acme-oidc", Strategy::Oidc);
    let google = connection("google", Strategy::Google);
    let db = connection("db", Strategy::Database);
    for c in [&oidc, &google, &db] {
        store.insert_connection(c, &[]).await.unwrap();
    }
    let (_, alice) = org_with_member(&store, "acme", &db).await;
    store
        .insert_identity(&oidc.id, "alice", &alice.user_id, &ProfileData::new())
        .await
        .unwrap();
    store
        .insert_identity(&google.id, "alice-g", &alice.user_id, &ProfileData::new())
        .await
        .unwrap();
    // The connection goes: its identities too, not the user.
    store.delete_connection(&google.id).await.unwrap();
    let left = store.list_user_identities(&alice.user_id).await.unwrap();
    assert_eq!(
        left.iter().map(|i| i.subject.as_str()).collect::<Vec<_>>(),
        ["alice"]
    );
    // The user goes: its identities too, free for a new login.
    store.delete_user(&alice.user_id).await.unwrap();
    assert!(
        store
            .find_identity_user(&oidc.id, "alice")
            .await
            .unwrap()
            .is_none()
    );
    store
        .insert_user_with_identity(&federated(&oidc, "alice"), "alice", &ProfileData::new())
        .await
        .unwrap();
}

async fn merging_moves_identities_and_deletes_the_secondary(store: Store) {
    let oidc = connection("acme-oidc", Strategy::Oidc);
    let db = connection("db", Strategy::Database);
    store.insert_connection(&oidc, &[]).await.unwrap();
    store.insert_connection(&db, &[]).await.unwrap();
    let (acme, primary) = org_with_member(&store, "acme", &db).await;
    let secondary = federated(&oidc, "s");
    store
        .insert_user_with_identity(&secondary, "s", &ProfileData::new())
        .await
        .unwrap();
    store
        .insert_members(&acme.id, std::slice::from_ref(&secondary.user_id))
        .await
        .unwrap();

    assert_not_found(
        store
            .merge_user_into(&secondary.user_id, "usr_nobody")
            .await,
    );
    assert_not_found(
        store
            .merge_user_into(&secondary.user_id, &secondary.user_id)
            .await,
    );
    store
        .merge_user_into(&secondary.user_id, &primary.user_id)
        .await
        .unwrap();
    assert_not_found(store.get_user(&secondary.user_id).await);
    assert!(!store.is_member(&acme.id, &secondary.user_id).await.unwrap());
    assert!(store.is_member(&acme.id, &primary.user_id).await.unwrap());
    assert_eq!(
        store
            .find_identity_user(&oidc.id, "s")
            .await
            .unwrap()
            .map(|u| u.user.user_id),
        Some(primary.user_id.clone())
    );
}

async fn a_pending_link_lives_with_its_login(store: Store) {
    let oidc = connection("acme-oidc", Strategy::Oidc);
    let db = connection("db", Strategy::Database);
    store.insert_connection(&oidc, &[]).await.unwrap();
    store.insert_connection(&db, &[]).await.unwrap();
    let alice = user(&db.id, "alice@example.com");
    store.insert_user(&alice, Some("hash")).await.unwrap();
    store
        .insert_login_transaction(&StoredTransaction {
            id: "txn-1".into(),
            browser_hash: "b".into(),
            csrf_token: "c".into(),
            request: "{}".into(),
            email: None,
            previous_session_id: None,
            authenticated_session_id: None,
            expires_at: store.clock().now_unix_millis() + 60_000,
        })
        .await
        .unwrap();
    assert_not_found(store.get_pending_link("txn-1").await);
    let pending = |subject: &str| PendingLink {
        connection_id: oidc.id.clone(),
        subject: subject.to_owned(),
        user_id: alice.user_id.clone(),
        profile_data: profile("Alice"),
    };
    store
        .put_pending_link("txn-1", &pending("a"))
        .await
        .unwrap();
    // A later upstream login of the same transaction replaces it.
    store
        .put_pending_link("txn-1", &pending("b"))
        .await
        .unwrap();
    assert_eq!(store.get_pending_link("txn-1").await.unwrap(), pending("b"));
    assert!(store.delete_pending_link("txn-1").await.unwrap());
    assert!(!store.delete_pending_link("txn-1").await.unwrap());

    // It goes with its login transaction.
    store
        .put_pending_link("txn-1", &pending("c"))
        .await
        .unwrap();
    assert!(store.delete_login_transaction("txn-1").await.unwrap());
    assert_not_found(store.get_pending_link("txn-1").await);
}

async fn a_page_of_users_has_its_identities_read_at_once(store: Store) {
    let oidc = connection("acme-oidc", Strategy::Oidc);
    let db = connection("db", Strategy::Database);
    store.insert_connection(&oidc, &[]).await.unwrap();
    store.insert_connection(&db, &[]).await.unwrap();
    let ann = federated(&oidc, "a|1");
    let cid = federated(&oidc, "c");
    for (user, subject) in [(&ann, "a|1"), (&cid, "c")] {
        store
            .insert_user_with_identity(user, subject, &profile(subject))
            .await
            .unwrap();
    }
    store
        .insert_identity(&oidc.id, "a|2", &ann.user_id, &profile("linked"))
        .await
        .unwrap();
    let bob = user(&db.id, "bob@example.com");
    store.insert_user(&bob, Some("hash")).await.unwrap();

    let page = [
        ann.user_id.clone(),
        bob.user_id.clone(),
        cid.user_id.clone(),
        "usr_nobody".to_owned(),
    ];
    let by_user = store.list_identities_of_users(&page).await.unwrap();
    let subjects =
        |id: &str| -> Vec<String> { by_user[id].iter().map(|i| i.subject.clone()).collect() };
    assert_eq!(subjects(&ann.user_id), ["a|1", "a|2"]);
    assert_eq!(subjects(&cid.user_id), ["c"]);
    // No identity (a database user, an unknown id): left out.
    assert_eq!(by_user.len(), 2);
    // The same as each user's own list.
    for id in [&ann.user_id, &cid.user_id] {
        assert_eq!(store.list_user_identities(id).await.unwrap(), by_user[id]);
    }
    assert!(
        store
            .list_identities_of_users(&[])
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_organizations_of_a_user_and_of_a_connection(store: Store) {
    let oidc = connection("acme-oidc", Strategy::Oidc);
    let db = connection("db", Strategy::Database);
    store.insert_connection(&oidc, &[]).await.unwrap();
    store.insert_connection(&db, &[]).await.unwrap();
    let (acme, jane) = org_with_member(&store, "acme", &db).await;
    let (other, _) = org_with_member(&store, "othercorp", &db).await;
    assert!(
        store
            .list_connection_organization_ids(&oidc.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_user_organization_ids(&jane.user_id)
            .await
            .unwrap(),
        vec![acme.id.clone()]
    );
    store
        .insert_members(&other.id, std::slice::from_ref(&jane.user_id))
        .await
        .unwrap();
    let mut both = vec![acme.id.clone(), other.id.clone()];
    both.sort();
    assert_eq!(
        store
            .list_user_organization_ids(&jane.user_id)
            .await
            .unwrap(),
        both
    );
    store
        .insert_enabled_connection(&crate::enabled(&acme.id, &oidc.id))
        .await
        .unwrap();
    assert_eq!(
        store
            .list_connection_organization_ids(&oidc.id)
            .await
            .unwrap(),
        vec![acme.id.clone()]
    );
}
