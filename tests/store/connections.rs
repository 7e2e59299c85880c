//! Connections.

use serde_json::{Map, Value, json};
use switchyard::model::connection::{Connection, ConnectionOptions, Strategy};
use switchyard::model::ids::{self};
use switchyard::store::{ConnectionFilter, Page, Store};

use crate::{
    assert_conflict, assert_missing_reference, assert_not_found, client, connection, enabled,
    object, on_both_backends, org_with_member, role, user,
};

on_both_backends!(
    connection_names_are_unique,
    connection_round_trip,
    connection_filters,
    deleting_a_connection_cascades,
);

fn connection_options(strategy: Strategy, value: Value) -> ConnectionOptions {
    ConnectionOptions::decode(strategy, object(value)).unwrap()
}

async fn connection_names_are_unique(store: Store) {
    store
        .insert_connection(&connection("db", Strategy::Database), &[])
        .await
        .unwrap();
    assert_conflict(
        store
            .insert_connection(&connection("db", Strategy::Oidc), &[])
            .await,
        "connections_name_key",
    );
    assert_eq!(
        store
            .count_connections(&ConnectionFilter::default())
            .await
            .unwrap(),
        1
    );
}

async fn deleting_a_connection_cascades(store: Store) {
    let web = client("Web");
    store.insert_client(&web).await.unwrap();
    let db = connection("db", Strategy::Database);
    let sso = connection("sso", Strategy::Oidc);
    store
        .insert_connection(&db, std::slice::from_ref(&web.client_id))
        .await
        .unwrap();
    store
        .insert_connection(&sso, std::slice::from_ref(&web.client_id))
        .await
        .unwrap();
    let admin = role("admin");
    store.insert_role(&admin).await.unwrap();

    let (acme, alice) = org_with_member(&store, "acme", &db).await;
    store
        .insert_enabled_connection(&enabled(&acme.id, &db.id))
        .await
        .unwrap();
    store
        .insert_enabled_connection(&enabled(&acme.id, &sso.id))
        .await
        .unwrap();
    store
        .insert_member_roles(&acme.id, &alice.user_id, std::slice::from_ref(&admin.id))
        .await
        .unwrap();
    let bob = user(&sso.id, "bob@example.com");
    store.insert_user(&bob, None).await.unwrap();
    store
        .insert_members(&acme.id, std::slice::from_ref(&bob.user_id))
        .await
        .unwrap();

    store.delete_connection(&db.id).await.unwrap();

    assert_not_found(store.get_connection(&db.id).await);
    assert_not_found(store.get_enabled_connection(&acme.id, &db.id).await);
    assert_eq!(store.count_enabled_connections(&acme.id).await.unwrap(), 1);
    assert_not_found(store.get_user(&alice.user_id).await);
    assert!(
        store
            .list_users_by_email(alice.email.as_deref().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!store.is_member(&acme.id, &alice.user_id).await.unwrap());
    assert!(
        store
            .list_member_roles(&acme.id, &alice.user_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_connection_clients(&db.id)
            .await
            .unwrap()
            .is_empty()
    );

    // The rest stays.
    store.get_organization(&acme.id).await.unwrap();
    store.get_client(&web.client_id).await.unwrap();
    store
        .get_enabled_connection(&acme.id, &sso.id)
        .await
        .unwrap();
    store.get_user(&bob.user_id).await.unwrap();
    assert!(store.is_member(&acme.id, &bob.user_id).await.unwrap());
    assert_eq!(store.count_members(&acme.id).await.unwrap(), 1);
    assert_eq!(
        store.list_connection_clients(&sso.id).await.unwrap(),
        vec![web.client_id.clone()]
    );
    store.get_role(&admin.id).await.unwrap();
    assert_not_found(store.delete_connection(&db.id).await);
}

async fn connection_round_trip(store: Store) {
    let web = client("Web");
    let spa = client("SPA");
    store.insert_client(&web).await.unwrap();
    store.insert_client(&spa).await.unwrap();

    let mut oidc = connection("acme-oidc", Strategy::Oidc);
    oidc.display_name = Some("Acme SSO".to_owned());
    oidc.options = connection_options(
        Strategy::Oidc,
        json!({
            "client_id": "upstream-client",
            "client_secret": "s3cr3t",
            "issuer": "https://idp.example.com/",
            "type": "back_channel",
            "scope": "openid profile email",
            "domain_aliases": ["acme.test", "acme.example"],
            "nested": {"a": [1, 2.5, -3, true, false, null], "b": {"c": "ü✓"}},
            "big": 9_007_199_254_740_991_i64,
        }),
    );
    oidc.metadata = object(json!({"owner": "it@acme.test"}));
    oidc.is_domain_connection = true;
    oidc.show_as_button = Some(true);
    oidc.realms = vec!["acme.test".to_owned(), "acme.example".to_owned()];
    let mut hidden = connection("hidden-saml", Strategy::Saml);
    hidden.show_as_button = Some(false);
    hidden.realms = vec![];
    let db = connection("Username-Password-Authentication", Strategy::Database);
    assert_eq!(db.show_as_button, None);

    store
        .insert_connection(&oidc, &[web.client_id.clone(), spa.client_id.clone()])
        .await
        .unwrap();
    store.insert_connection(&hidden, &[]).await.unwrap();
    store.insert_connection(&db, &[]).await.unwrap();
    for con in [&oidc, &hidden, &db] {
        assert_eq!(&store.get_connection(&con.id).await.unwrap(), con);
    }
    let mut expected_clients = vec![web.client_id.clone(), spa.client_id.clone()];
    expected_clients.sort();
    assert_eq!(
        store.list_connection_clients(&oidc.id).await.unwrap(),
        expected_clients
    );

    // Update every mutable field; name and strategy are immutable (as in Auth0).
    let mut updated = oidc.clone();
    updated.display_name = None;
    updated.options = connection_options(
        Strategy::Oidc,
        json!({"client_id": "other", "issuer": "https://idp2.example.com/"}),
    );
    updated.metadata = Map::new();
    updated.is_domain_connection = false;
    updated.show_as_button = None;
    updated.realms = vec!["acme.org".to_owned()];
    store
        .update_connection(&updated, Some(std::slice::from_ref(&spa.client_id)))
        .await
        .unwrap();
    assert_eq!(store.get_connection(&oidc.id).await.unwrap(), updated);
    assert_eq!(
        store.list_connection_clients(&oidc.id).await.unwrap(),
        vec![spa.client_id.clone()]
    );
    // None leaves the enabled clients alone; Some(&[]) clears them.
    updated.show_as_button = Some(false);
    store.update_connection(&updated, None).await.unwrap();
    assert_eq!(store.get_connection(&oidc.id).await.unwrap(), updated);
    assert_eq!(
        store.list_connection_clients(&oidc.id).await.unwrap(),
        vec![spa.client_id.clone()]
    );
    store.update_connection(&updated, Some(&[])).await.unwrap();
    assert!(
        store
            .list_connection_clients(&oidc.id)
            .await
            .unwrap()
            .is_empty()
    );
    let mut renamed = updated.clone();
    renamed.name = "renamed".to_owned();
    renamed.strategy = Strategy::Github;
    store.update_connection(&renamed, None).await.unwrap();
    assert_eq!(store.get_connection(&oidc.id).await.unwrap(), updated);

    // A failed update (missing client) changes nothing.
    let mut failing = updated.clone();
    failing.display_name = Some("should not stick".to_owned());
    assert_missing_reference(
        store
            .update_connection(&failing, Some(&[ids::new_client_id()]))
            .await,
    );
    assert_eq!(store.get_connection(&oidc.id).await.unwrap(), updated);

    let missing = connection("ghost", Strategy::Database);
    assert_not_found(store.get_connection(&missing.id).await);
    assert_not_found(store.update_connection(&missing, None).await);
    assert_not_found(store.update_connection(&missing, Some(&[])).await);
    assert_not_found(store.delete_connection(&missing.id).await);
}

async fn connection_filters(store: Store) {
    let mut all = Vec::new();
    for (name, strategy) in [
        ("db-one", Strategy::Database),
        ("db-two", Strategy::Database),
        ("db-three", Strategy::Database),
        ("acme-oidc", Strategy::Oidc),
        ("globex-oidc", Strategy::Oidc),
        ("google-oauth2", Strategy::Google),
    ] {
        let con = connection(name, strategy);
        store.insert_connection(&con, &[]).await.unwrap();
        all.push(con);
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));

    let check = |filter: ConnectionFilter, expected: Vec<Connection>| {
        let store = store.clone();
        async move {
            let listed = store.list_connections(&filter, &Page::all()).await.unwrap();
            assert_eq!(listed, expected, "{filter:?}");
            assert_eq!(
                store.count_connections(&filter).await.unwrap(),
                expected.len() as i64,
                "{filter:?}"
            );
        }
    };
    let with = |pred: &dyn Fn(&Connection) -> bool| -> Vec<Connection> {
        all.iter().filter(|c| pred(c)).cloned().collect()
    };

    check(ConnectionFilter::default(), all.clone()).await;
    for strategy in Strategy::ALL {
        check(
            ConnectionFilter {
                strategy: Some(strategy),
                name: None,
            },
            with(&|c| c.strategy == strategy),
        )
        .await;
    }
    check(
        ConnectionFilter {
            strategy: None,
            name: Some("acme-oidc".to_owned()),
        },
        with(&|c| c.name == "acme-oidc"),
    )
    .await;
    check(
        ConnectionFilter {
            strategy: Some(Strategy::Oidc),
            name: Some("globex-oidc".to_owned()),
        },
        with(&|c| c.name == "globex-oidc"),
    )
    .await;
    check(
        ConnectionFilter {
            strategy: Some(Strategy::Database),
            name: Some("globex-oidc".to_owned()),
        },
        vec![],
    )
    .await;
    check(
        ConnectionFilter {
            strategy: None,
            name: Some("nope".to_owned()),
        },
        vec![],
    )
    .await;
    // Names match exactly, not by prefix or case-insensitively.
    check(
        ConnectionFilter {
            strategy: None,
            name: Some("DB-ONE".to_owned()),
        },
        vec![],
    )
    .await;
    check(
        ConnectionFilter {
            strategy: None,
            name: Some("db".to_owned()),
        },
        vec![],
    )
    .await;

    // Filters combine with paging.
    let databases = with(&|c| c.strategy == Strategy::Database);
    let filter = ConnectionFilter {
        strategy: Some(Strategy::Database),
        name: None,
    };
    let first = store
        .list_connections(
            &filter,
            &Page {
                offset: 0,
                limit: 2,
                after_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(first, databases[..2].to_vec());
    let rest = store
        .list_connections(
            &filter,
            &Page {
                offset: 0,
                limit: 2,
                after_id: Some(first[1].id.clone()),
            },
        )
        .await
        .unwrap();
    assert_eq!(rest, databases[2..].to_vec());
}
