//! Users.

use std::collections::BTreeSet;

use serde_json::{Map, json};
use switchyard::model::connection::Strategy;
use switchyard::store::{Page, Store};

use crate::{
    assert_conflict, assert_not_found, connection, object, on_both_backends, org_with_member,
    organization, role, user,
};

on_both_backends!(
    user_email_is_unique_per_connection,
    user_round_trip,
    deleting_a_user_cascades,
);

async fn user_email_is_unique_per_connection(store: Store) {
    let db = connection("db", Strategy::Database);
    let google = connection("google", Strategy::Google);
    store.insert_connection(&db, &[]).await.unwrap();
    store.insert_connection(&google, &[]).await.unwrap();
    let email = "alice@example.com";
    let alice = user(&db.id, email);
    store.insert_user(&alice, Some("hash")).await.unwrap();
    assert_conflict(
        store.insert_user(&user(&db.id, email), Some("hash")).await,
        "users_connection_email_key",
    );
    let mut same_id = user(&google.id, "bob@example.com");
    same_id.user_id = alice.user_id.clone();
    assert_conflict(store.insert_user(&same_id, None).await, "users_pkey");

    // The same email in another connection is another user.
    let alice_google = user(&google.id, email);
    store.insert_user(&alice_google, None).await.unwrap();
    let found = store.list_users_by_email(email).await.unwrap();
    let found_ids: BTreeSet<_> = found.iter().map(|u| u.user.user_id.clone()).collect();
    assert_eq!(
        found_ids,
        BTreeSet::from([alice.user_id.clone(), alice_google.user_id.clone()])
    );

    // Changing an email onto a taken one in the same connection is refused.
    let mut bob = user(&db.id, "bob@example.com");
    store.insert_user(&bob, Some("hash")).await.unwrap();
    bob.email = Some(email.to_owned());
    assert_conflict(store.update_user(&bob).await, "users_connection_email_key");

    // Users without a password (from an upstream) may share an email: two
    // people of one upstream can claim one address.
    for _ in 0..2 {
        store
            .insert_user(&user(&google.id, "carol@example.com"), None)
            .await
            .unwrap();
    }
}

async fn deleting_a_user_cascades(store: Store) {
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();
    let admin = role("admin");
    store.insert_role(&admin).await.unwrap();
    let (acme, alice) = org_with_member(&store, "acme", &db).await;
    let globex = organization("globex");
    store.insert_organization(&globex, &[]).await.unwrap();
    let bob = user(&db.id, "bob@example.com");
    store.insert_user(&bob, None).await.unwrap();
    let both = [alice.user_id.clone(), bob.user_id.clone()];
    store.insert_members(&acme.id, &both).await.unwrap();
    store.insert_members(&globex.id, &both).await.unwrap();
    for org in [&acme, &globex] {
        for u in &both {
            store
                .insert_member_roles(&org.id, u, std::slice::from_ref(&admin.id))
                .await
                .unwrap();
        }
    }

    store.delete_user(&alice.user_id).await.unwrap();

    assert_not_found(store.get_user(&alice.user_id).await);
    for org in [&acme, &globex] {
        assert!(!store.is_member(&org.id, &alice.user_id).await.unwrap());
        assert!(
            store
                .list_member_roles(&org.id, &alice.user_id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.count_members(&org.id).await.unwrap(), 1);
        let members = store.list_members(&org.id, &Page::all()).await.unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].user_id, bob.user_id);
        assert_eq!(
            store
                .list_member_roles(&org.id, &bob.user_id)
                .await
                .unwrap(),
            vec![admin.clone()]
        );
    }
    // The email is free again in that connection.
    store
        .insert_user(&user(&db.id, alice.email.as_deref().unwrap()), None)
        .await
        .unwrap();
    assert_not_found(store.delete_user(&alice.user_id).await);
}

async fn user_round_trip(store: Store) {
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();
    let mut full = user(&db.id, "alice@example.com");
    full.email_verified = true;
    full.name = Some("Alice Ånström".to_owned());
    full.given_name = Some("Alice".to_owned());
    full.family_name = Some("Ånström".to_owned());
    full.nickname = Some("ali".to_owned());
    full.picture = Some("https://cdn.example.com/a.png".to_owned());
    full.blocked = true;
    full.app_metadata = object(json!({"plan": "pro", "seats": 5, "flags": [true, false]}));
    full.user_metadata = object(json!({"theme": {"dark": true}}));
    let bare = user(&db.id, "bob@example.com");

    let before = store.clock().now_unix_millis();
    store
        .insert_user(&full, Some("$argon2id$hash"))
        .await
        .unwrap();
    store.insert_user(&bare, None).await.unwrap();
    for u in [&full, &bare] {
        let stored = store.get_user(&u.user_id).await.unwrap();
        assert_eq!(&stored.user, u);
        assert!(
            stored.created_at >= before,
            "created_at {}",
            stored.created_at
        );
        assert_eq!(stored.created_at, stored.updated_at);
    }
    let (found, hash) = store
        .find_password_user(&db.id, full.email.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user, full);
    assert_eq!(hash.as_deref(), Some("$argon2id$hash"));
    let (_, no_hash) = store
        .find_password_user(&db.id, bare.email.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(no_hash, None);
    assert!(
        store
            .find_password_user(&db.id, "nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let created = store.get_user(&full.user_id).await.unwrap().created_at;
    let mut updated = full.clone();
    updated.email = Some("alice@new.example.com".to_owned());
    updated.email_verified = false;
    updated.name = None;
    updated.given_name = Some("Al".to_owned());
    updated.family_name = None;
    updated.nickname = None;
    updated.picture = None;
    updated.blocked = false;
    updated.app_metadata = Map::new();
    updated.user_metadata = object(json!({"lang": "nl"}));
    store.update_user(&updated).await.unwrap();
    let stored = store.get_user(&full.user_id).await.unwrap();
    assert_eq!(stored.user, updated);
    assert_eq!(stored.created_at, created);
    assert!(stored.updated_at >= created);
    // The password hash survives a profile update and can be replaced.
    let (_, hash) = store
        .find_password_user(&db.id, updated.email.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hash.as_deref(), Some("$argon2id$hash"));
    store
        .update_user_password(&full.user_id, "$argon2id$new")
        .await
        .unwrap();
    let (_, hash) = store
        .find_password_user(&db.id, updated.email.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(store.get_user(&full.user_id).await.unwrap().user, updated);

    let missing = user(&db.id, "ghost@example.com");
    assert_not_found(store.get_user(&missing.user_id).await);
    assert_not_found(store.update_user(&missing).await);
    assert_not_found(store.update_user_password(&missing.user_id, "x").await);
    assert_not_found(store.delete_user(&missing.user_id).await);
}
