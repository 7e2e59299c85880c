//! Organizations and their enabled connections.

use serde_json::{Map, json};
use switchyard::model::connection::{Connection, OrganizationAccessLevel, Strategy};
use switchyard::model::ids::{self, new_id};
use switchyard::model::organization::{Branding, BrandingColors, Organization};
use switchyard::store::{Page, Store, StoreError};

use crate::{
    assert_conflict, assert_not_found, connection, enabled, object, on_both_backends, organization,
    role, user,
};

on_both_backends!(
    organization_names_are_unique,
    concurrent_organization_inserts_conflict_once,
    organization_insert_is_transactional,
    organization_round_trip,
    organizations_paging,
    deleting_an_organization_cascades,
    enabled_connection_is_unique_per_organization,
    organization_connection_name_is_unique_per_organization,
    signup_check_is_enforced_by_the_database,
    enabled_connection_round_trip,
);

async fn organization_names_are_unique(store: Store) {
    let acme = organization("acme");
    store.insert_organization(&acme, &[]).await.unwrap();

    assert_conflict(
        store.insert_organization(&organization("acme"), &[]).await,
        "organizations_name_key",
    );
    let mut same_id = organization("other");
    same_id.id = acme.id.clone();
    assert_conflict(
        store.insert_organization(&same_id, &[]).await,
        "organizations_pkey",
    );

    // Renaming onto a taken name is refused too, and changes nothing.
    let mut globex = organization("globex");
    store.insert_organization(&globex, &[]).await.unwrap();
    globex.name = "acme".to_owned();
    assert_conflict(
        store.update_organization(&globex).await,
        "organizations_name_key",
    );
    assert_eq!(
        store.get_organization(&globex.id).await.unwrap().name,
        "globex"
    );
    assert_eq!(store.count_organizations().await.unwrap(), 2);
    assert_eq!(
        store.get_organization_by_name("acme").await.unwrap().id,
        acme.id
    );
}

async fn concurrent_organization_inserts_conflict_once(store: Store) {
    const ROUNDS: usize = 12;
    let (first, second) = (store.clone(), store.clone());
    for round in 0..ROUNDS {
        let name = format!("race-{round}");
        let a = organization(&name);
        let b = organization(&name);
        let (ra, rb) = tokio::join!(
            first.insert_organization(&a, &[]),
            second.insert_organization(&b, &[])
        );
        let winner = match (ra, rb) {
            (Ok(()), Err(StoreError::Conflict(c))) | (Err(StoreError::Conflict(c)), Ok(())) => {
                assert_eq!(c, "organizations_name_key", "round {round}");
                store.get_organization_by_name(&name).await.unwrap().id
            }
            other => panic!("round {round}: expected one Ok and one Conflict, got {other:?}"),
        };
        assert!(winner == a.id || winner == b.id, "round {round}");
        let loser = if winner == a.id { &b.id } else { &a.id };
        assert_not_found(store.get_organization(loser).await);
    }
    assert_eq!(store.count_organizations().await.unwrap(), ROUNDS as i64);
}

async fn organization_insert_is_transactional(store: Store) {
    let con = connection("db", Strategy::Database);
    store.insert_connection(&con, &[]).await.unwrap();
    let org = organization("acme");
    // The same connection twice: the second enabled row fails, and the
    // organization inserted before it in the transaction must go too.
    assert_conflict(
        store
            .insert_organization(
                &org,
                &[enabled(&org.id, &con.id), enabled(&org.id, &con.id)],
            )
            .await,
        "organization_connections_pkey",
    );
    assert_not_found(store.get_organization(&org.id).await);
    assert_eq!(store.count_organizations().await.unwrap(), 0);
    assert_eq!(store.count_enabled_connections(&org.id).await.unwrap(), 0);

    // With valid rows, everything lands.
    store
        .insert_organization(&org, &[enabled(&org.id, &con.id)])
        .await
        .unwrap();
    assert_eq!(store.count_enabled_connections(&org.id).await.unwrap(), 1);
}

async fn enabled_connection_is_unique_per_organization(store: Store) {
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    let con = connection("db", Strategy::Database);
    store.insert_connection(&con, &[]).await.unwrap();
    store
        .insert_enabled_connection(&enabled(&org.id, &con.id))
        .await
        .unwrap();
    let mut again = enabled(&org.id, &con.id);
    again.assign_membership_on_login = true;
    assert_conflict(
        store.insert_enabled_connection(&again).await,
        "organization_connections_pkey",
    );
    assert_eq!(store.count_enabled_connections(&org.id).await.unwrap(), 1);
    assert!(
        !store
            .get_enabled_connection(&org.id, &con.id)
            .await
            .unwrap()
            .enabled
            .assign_membership_on_login
    );
}

async fn organization_connection_name_is_unique_per_organization(store: Store) {
    let acme = organization("acme");
    let globex = organization("globex");
    store.insert_organization(&acme, &[]).await.unwrap();
    store.insert_organization(&globex, &[]).await.unwrap();
    let sso = connection("sso", Strategy::Oidc);
    let saml = connection("saml", Strategy::Saml);
    let db = connection("db", Strategy::Database);
    for con in [&sso, &saml, &db] {
        store.insert_connection(con, &[]).await.unwrap();
    }

    let named = |org: &Organization, con: &Connection, name: Option<&str>| {
        let mut e = enabled(&org.id, &con.id);
        e.organization_connection_name = name.map(str::to_owned);
        e
    };
    store
        .insert_enabled_connection(&named(&acme, &sso, Some("login")))
        .await
        .unwrap();
    assert_conflict(
        store
            .insert_enabled_connection(&named(&acme, &saml, Some("login")))
            .await,
        "organization_connections_connection_name_key",
    );
    // The same name in another organization is fine.
    store
        .insert_enabled_connection(&named(&globex, &saml, Some("login")))
        .await
        .unwrap();
    // No name is no name: several unnamed rows in one organization are fine.
    store
        .insert_enabled_connection(&named(&acme, &saml, None))
        .await
        .unwrap();
    store
        .insert_enabled_connection(&named(&acme, &db, None))
        .await
        .unwrap();
    // Renaming onto a taken name is refused by the update as well.
    assert_conflict(
        store
            .update_enabled_connection(&named(&acme, &db, Some("login")))
            .await,
        "organization_connections_connection_name_key",
    );
    assert_eq!(store.count_enabled_connections(&acme.id).await.unwrap(), 3);
    assert_eq!(
        store.count_enabled_connections(&globex.id).await.unwrap(),
        1
    );
}

async fn signup_check_is_enforced_by_the_database(store: Store) {
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();

    // Built directly, past EnabledConnection::apply's validation.
    let mut bad = enabled(&org.id, &db.id);
    bad.is_signup_enabled = true;
    bad.assign_membership_on_login = false;
    assert_conflict(
        store.insert_enabled_connection(&bad).await,
        "organization_connections_signup_check",
    );
    assert_not_found(store.get_enabled_connection(&org.id, &db.id).await);
    // Also when it comes in with the organization.
    let other = organization("globex");
    let mut bad_other = enabled(&other.id, &db.id);
    bad_other.is_signup_enabled = true;
    assert_conflict(
        store.insert_organization(&other, &[bad_other]).await,
        "organization_connections_signup_check",
    );
    assert_not_found(store.get_organization(&other.id).await);

    // Valid together; turning assign_membership_on_login off afterwards is refused.
    let mut good = enabled(&org.id, &db.id);
    good.is_signup_enabled = true;
    good.assign_membership_on_login = true;
    store.insert_enabled_connection(&good).await.unwrap();
    let mut broken = good.clone();
    broken.assign_membership_on_login = false;
    assert_conflict(
        store.update_enabled_connection(&broken).await,
        "organization_connections_signup_check",
    );
    assert_eq!(
        store
            .get_enabled_connection(&org.id, &db.id)
            .await
            .unwrap()
            .enabled,
        good
    );
}

async fn deleting_an_organization_cascades(store: Store) {
    let db = connection("db", Strategy::Database);
    let sso = connection("sso", Strategy::Oidc);
    store.insert_connection(&db, &[]).await.unwrap();
    store.insert_connection(&sso, &[]).await.unwrap();
    let admin = role("admin");
    let viewer = role("viewer");
    store.insert_role(&admin).await.unwrap();
    store.insert_role(&viewer).await.unwrap();
    let role_ids = [admin.id.clone(), viewer.id.clone()];

    let acme = organization("acme");
    store
        .insert_organization(&acme, &[enabled(&acme.id, &db.id)])
        .await
        .unwrap();
    store
        .insert_enabled_connection(&enabled(&acme.id, &sso.id))
        .await
        .unwrap();
    let alice = user(&db.id, "alice@example.com");
    let bob = user(&sso.id, "bob@example.com");
    store.insert_user(&alice, None).await.unwrap();
    store.insert_user(&bob, None).await.unwrap();
    let both = [alice.user_id.clone(), bob.user_id.clone()];
    store.insert_members(&acme.id, &both).await.unwrap();
    store
        .insert_member_roles(&acme.id, &alice.user_id, &role_ids)
        .await
        .unwrap();
    store
        .insert_member_roles(&acme.id, &bob.user_id, &role_ids[..1])
        .await
        .unwrap();

    // A second organization sharing the connections, users and roles.
    let globex = organization("globex");
    store
        .insert_organization(&globex, &[enabled(&globex.id, &db.id)])
        .await
        .unwrap();
    store
        .insert_members(&globex.id, std::slice::from_ref(&alice.user_id))
        .await
        .unwrap();
    store
        .insert_member_roles(&globex.id, &alice.user_id, &role_ids[1..])
        .await
        .unwrap();

    assert_eq!(store.count_enabled_connections(&acme.id).await.unwrap(), 2);
    assert_eq!(store.count_members(&acme.id).await.unwrap(), 2);
    assert_eq!(
        store
            .list_member_roles(&acme.id, &alice.user_id)
            .await
            .unwrap()
            .len(),
        2
    );

    store.delete_organization(&acme.id).await.unwrap();

    assert_not_found(store.get_organization(&acme.id).await);
    assert_eq!(store.count_enabled_connections(&acme.id).await.unwrap(), 0);
    assert_not_found(store.get_enabled_connection(&acme.id, &db.id).await);
    assert_eq!(store.count_members(&acme.id).await.unwrap(), 0);
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
            .list_member_roles(&acme.id, &bob.user_id)
            .await
            .unwrap()
            .is_empty()
    );

    // The other organization and the shared rows are untouched.
    assert_eq!(
        store.count_enabled_connections(&globex.id).await.unwrap(),
        1
    );
    assert!(store.is_member(&globex.id, &alice.user_id).await.unwrap());
    assert_eq!(
        store
            .list_member_roles(&globex.id, &alice.user_id)
            .await
            .unwrap(),
        vec![viewer.clone()]
    );
    store.get_connection(&db.id).await.unwrap();
    store.get_connection(&sso.id).await.unwrap();
    store.get_user(&alice.user_id).await.unwrap();
    store.get_user(&bob.user_id).await.unwrap();
    assert_eq!(store.count_roles().await.unwrap(), 2);

    // A new organization reusing the id starts empty: nothing was left behind.
    let mut reborn = organization("acme");
    reborn.id = acme.id.clone();
    store.insert_organization(&reborn, &[]).await.unwrap();
    assert_eq!(store.count_enabled_connections(&acme.id).await.unwrap(), 0);
    assert_eq!(store.count_members(&acme.id).await.unwrap(), 0);
    store
        .insert_members(&acme.id, std::slice::from_ref(&alice.user_id))
        .await
        .unwrap();
    assert!(
        store
            .list_member_roles(&acme.id, &alice.user_id)
            .await
            .unwrap()
            .is_empty(),
        "member roles of the deleted organization survived"
    );

    assert_not_found(store.delete_organization(&new_id(ids::ORGANIZATION)).await);
}

async fn organization_round_trip(store: Store) {
    let mut full = organization("acme");
    full.display_name = Some("Acme Corp — Ünïcode ✓".to_owned());
    full.branding = Some(Branding {
        logo_url: Some("https://cdn.example.com/logo.png?v=2".to_owned()),
        colors: Some(BrandingColors {
            primary: "#0059d6".to_owned(),
            page_background: "#fff".to_owned(),
        }),
    });
    full.metadata = object(json!({"tier": "gold", "region": "eu-west", "quote": "it's \"x\""}));
    let mut bare = organization("bare");
    bare.branding = Some(Branding::default());
    let minimal = organization("minimal");
    for org in [&full, &bare, &minimal] {
        store.insert_organization(org, &[]).await.unwrap();
        assert_eq!(&store.get_organization(&org.id).await.unwrap(), org);
        assert_eq!(
            &store.get_organization_by_name(&org.name).await.unwrap(),
            org
        );
    }

    // Every field changes.
    let mut updated = full.clone();
    updated.name = "acme-renamed".to_owned();
    updated.display_name = None;
    updated.branding = Some(Branding {
        logo_url: None,
        colors: Some(BrandingColors {
            primary: "#000000".to_owned(),
            page_background: "#abcdef".to_owned(),
        }),
    });
    updated.metadata = object(json!({"tier": "silver"}));
    store.update_organization(&updated).await.unwrap();
    assert_eq!(store.get_organization(&full.id).await.unwrap(), updated);
    assert_not_found(store.get_organization_by_name("acme").await);

    // And back to nothing.
    let mut cleared = updated.clone();
    cleared.display_name = Some("Acme".to_owned());
    cleared.branding = None;
    cleared.metadata = Map::new();
    store.update_organization(&cleared).await.unwrap();
    assert_eq!(store.get_organization(&full.id).await.unwrap(), cleared);
    assert_eq!(store.get_organization(&minimal.id).await.unwrap(), minimal);

    let mut listed = store.list_organizations(&Page::all()).await.unwrap();
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(listed, vec![cleared.clone(), bare.clone(), minimal.clone()]);

    let mut missing = organization("ghost");
    assert_not_found(store.get_organization(&missing.id).await);
    assert_not_found(store.get_organization_by_name("ghost").await);
    assert_not_found(store.update_organization(&missing).await);
    assert_not_found(store.delete_organization(&missing.id).await);
    missing.id = String::new();
    assert_not_found(store.get_organization(&missing.id).await);

    store.delete_organization(&full.id).await.unwrap();
    assert_not_found(store.get_organization(&full.id).await);
    assert_not_found(store.delete_organization(&full.id).await);
    assert_eq!(store.count_organizations().await.unwrap(), 2);
}

async fn enabled_connection_round_trip(store: Store) {
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    let sso = connection("acme-sso", Strategy::Oidc);
    let db = connection("db", Strategy::Database);
    store.insert_connection(&sso, &[]).await.unwrap();
    store.insert_connection(&db, &[]).await.unwrap();

    let mut on_sso = enabled(&org.id, &sso.id);
    on_sso.show_as_button = true;
    on_sso.assign_membership_on_login = true;
    on_sso.organization_connection_name = Some("acme-login".to_owned());
    on_sso.organization_access_level = OrganizationAccessLevel::Limited;
    let mut on_db = enabled(&org.id, &db.id);
    on_db.assign_membership_on_login = true;
    on_db.is_signup_enabled = true;
    store.insert_enabled_connection(&on_sso).await.unwrap();
    store.insert_enabled_connection(&on_db).await.unwrap();

    let view = store
        .get_enabled_connection(&org.id, &sso.id)
        .await
        .unwrap();
    assert_eq!(view.enabled, on_sso);
    assert_eq!(view.connection_name, sso.name);
    assert_eq!(view.strategy, Strategy::Oidc);
    let view = store.get_enabled_connection(&org.id, &db.id).await.unwrap();
    assert_eq!(view.enabled, on_db);
    assert_eq!(view.strategy, Strategy::Database);

    let listed = store
        .list_enabled_connections(&org.id, &Page::all())
        .await
        .unwrap();
    let mut expected = vec![on_sso.clone(), on_db.clone()];
    expected.sort_by(|a, b| a.connection_id.cmp(&b.connection_id));
    assert_eq!(
        listed.iter().map(|v| v.enabled.clone()).collect::<Vec<_>>(),
        expected
    );

    for level in [
        OrganizationAccessLevel::None,
        OrganizationAccessLevel::Readonly,
        OrganizationAccessLevel::Full,
    ] {
        let mut updated = on_sso.clone();
        updated.show_as_button = false;
        updated.assign_membership_on_login = false;
        updated.organization_connection_name = None;
        updated.organization_access_level = level;
        store.update_enabled_connection(&updated).await.unwrap();
        assert_eq!(
            store
                .get_enabled_connection(&org.id, &sso.id)
                .await
                .unwrap()
                .enabled,
            updated
        );
    }

    let ghost = enabled(&org.id, &new_id(ids::CONNECTION));
    assert_not_found(
        store
            .get_enabled_connection(&org.id, &ghost.connection_id)
            .await,
    );
    assert_not_found(store.update_enabled_connection(&ghost).await);
    assert_not_found(
        store
            .delete_enabled_connection(&org.id, &ghost.connection_id)
            .await,
    );
    store
        .delete_enabled_connection(&org.id, &db.id)
        .await
        .unwrap();
    assert_not_found(store.get_enabled_connection(&org.id, &db.id).await);
    assert_eq!(store.count_enabled_connections(&org.id).await.unwrap(), 1);
    // The connection itself stays.
    assert_eq!(store.get_connection(&db.id).await.unwrap(), db);
}

async fn organizations_paging(store: Store) {
    const N: usize = 23;
    const LIMIT: i64 = 5;
    let mut expected = Vec::new();
    for i in 0..N {
        let org = organization(&format!("org-{i:02}"));
        store.insert_organization(&org, &[]).await.unwrap();
        expected.push(org.id);
    }
    expected.sort();
    assert_eq!(store.count_organizations().await.unwrap(), N as i64);

    // Checkpoint paging: after_id = the last id of the previous page.
    let mut walked = Vec::new();
    let mut after_id = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_organizations(&Page {
                offset: 0,
                limit: LIMIT,
                after_id: after_id.clone(),
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() as i64 <= LIMIT);
        pages += 1;
        assert!(pages <= N, "checkpoint paging does not end");
        after_id = page.last().map(|o| o.id.clone());
        walked.extend(page.into_iter().map(|o| o.id));
    }
    assert_eq!(
        walked, expected,
        "checkpoint paging: every row once, in id order"
    );
    assert_eq!(pages, N.div_ceil(LIMIT as usize));

    // Offset paging.
    let mut walked = Vec::new();
    for offset in (0..N as i64).step_by(LIMIT as usize) {
        let page = store
            .list_organizations(&Page {
                offset,
                limit: LIMIT,
                after_id: None,
            })
            .await
            .unwrap();
        assert_eq!(
            page.len() as i64,
            LIMIT.min(N as i64 - offset),
            "offset {offset}"
        );
        walked.extend(page.into_iter().map(|o| o.id));
    }
    assert_eq!(
        walked, expected,
        "offset paging: every row once, in id order"
    );
    assert!(
        store
            .list_organizations(&Page {
                offset: N as i64,
                limit: LIMIT,
                after_id: None,
            })
            .await
            .unwrap()
            .is_empty()
    );
    // Both at once: the offset counts from the checkpoint.
    let page = store
        .list_organizations(&Page {
            offset: 2,
            limit: 3,
            after_id: Some(expected[4].clone()),
        })
        .await
        .unwrap();
    assert_eq!(
        page.into_iter().map(|o| o.id).collect::<Vec<_>>(),
        expected[7..10].to_vec()
    );
    // A checkpoint that is not an existing id still works (ids sort as text).
    let page = store
        .list_organizations(&Page {
            offset: 0,
            limit: i64::MAX,
            after_id: Some("org_".to_owned()),
        })
        .await
        .unwrap();
    assert_eq!(page.len(), N);
    assert_eq!(
        store.list_organizations(&Page::all()).await.unwrap().len(),
        N
    );
}
