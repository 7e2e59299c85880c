//! Upgrading a database that holds data. Migration 0015 rebuilds SQLite's
//! `users` table (its `email` becomes nullable): the rows that reference a
//! user must survive it and keep referencing `users`, and every column of
//! the earlier migrations (0013's `inert_settings`) must keep its values.

use std::borrow::Cow;

use sqlx::{Executor, Row};
use switchyard::store::{Store, sqlite_url_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_rebuild_keeps_what_references_users() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url_for(&dir.path().join("upgraded.db"));
    sqlx::any::install_default_drivers();
    // The database as the migrations before 0015 left it, with a member.
    let mut before = sqlx::migrate!("migrations/sqlite");
    before.migrations = Cow::Owned(
        before
            .migrations
            .iter()
            .filter(|m| m.version < 15)
            .cloned()
            .collect(),
    );
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    before.run(&pool).await.unwrap();
    pool.execute(
        "pragma foreign_keys = on; \
         insert into connections (id, name, strategy, created_at, updated_at) values ('con_db', 'db', 'auth0', 1, 1); \
         insert into users (user_id, connection_id, email, password_hash, created_at, updated_at, inert_settings) \
             values ('usr_alice', 'con_db', 'alice@example.com', 'hash', 1, 1, '{\"family_name_kana\":\"x\"}'); \
         insert into organizations (id, name, created_at, updated_at) values ('org_acme', 'acme', 1, 1); \
         insert into organization_members (organization_id, user_id, created_at) values ('org_acme', 'usr_alice', 1);",
    )
    .await
    .unwrap();
    pool.close().await;

    let store = Store::connect(&url).await.unwrap();
    let stored = store.get_user("usr_alice").await.unwrap();
    assert_eq!(stored.user.email.as_deref(), Some("alice@example.com"));
    assert_eq!(
        stored.inert_settings.get("family_name_kana"),
        Some(&serde_json::json!("x"))
    );
    assert!(store.is_member("org_acme", "usr_alice").await.unwrap());
    assert_eq!(
        store
            .find_password_user("con_db", "alice@example.com")
            .await
            .unwrap()
            .and_then(|(_, hash)| hash)
            .as_deref(),
        Some("hash")
    );
    // The membership still references the (new) users table: deleting the
    // user takes it along.
    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    let referenced: Vec<String> =
        sqlx::query("select \"table\" from pragma_foreign_key_list('organization_members')")
            .fetch_all(&raw)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String, _>("table").unwrap())
            .collect();
    assert!(referenced.contains(&"users".to_owned()), "{referenced:?}");
    raw.close().await;
    store.delete_user("usr_alice").await.unwrap();
    assert!(!store.is_member("org_acme", "usr_alice").await.unwrap());
    store.close().await;
}
