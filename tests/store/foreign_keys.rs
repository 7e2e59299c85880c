//! References between aggregates: a row naming a missing one is refused.

use switchyard::model::connection::Strategy;
use switchyard::model::ids::{self, new_id};
use switchyard::store::Store;

use crate::{
    assert_missing_reference, assert_not_found, connection, enabled, grant, on_both_backends,
    organization, role, user,
};

on_both_backends!(foreign_keys_are_enforced,);

async fn foreign_keys_are_enforced(store: Store) {
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();

    assert_missing_reference(
        store
            .insert_enabled_connection(&enabled(&org.id, &new_id(ids::CONNECTION)))
            .await,
    );
    assert_missing_reference(
        store
            .insert_enabled_connection(&enabled(&new_id(ids::ORGANIZATION), &db.id))
            .await,
    );
    assert_missing_reference(
        store
            .insert_user(&user(&new_id(ids::CONNECTION), "a@example.com"), None)
            .await,
    );
    assert_missing_reference(
        store
            .insert_client_grant(&grant(&ids::new_client_id(), "https://api.example.com/"))
            .await,
    );
    assert_missing_reference(store.insert_members(&org.id, &[new_id(ids::USER)]).await);
    // Enabling a connection for a missing client rolls the connection back.
    let sso = connection("sso", Strategy::Oidc);
    assert_missing_reference(store.insert_connection(&sso, &[ids::new_client_id()]).await);
    assert_not_found(store.get_connection(&sso.id).await);
    // A role for someone who is not a member.
    let u = user(&db.id, "b@example.com");
    store.insert_user(&u, None).await.unwrap();
    let admin = role("admin");
    store.insert_role(&admin).await.unwrap();
    assert_missing_reference(
        store
            .insert_member_roles(&org.id, &u.user_id, std::slice::from_ref(&admin.id))
            .await,
    );
    assert_eq!(store.count_members(&org.id).await.unwrap(), 0);
}
