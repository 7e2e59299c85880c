//! Roles and their permissions.

use switchyard::model::connection::Strategy;
use switchyard::model::ids::{self, new_id};
use switchyard::store::{Page, Store};

use crate::{
    assert_conflict, assert_missing_reference, assert_not_found, client, connection, grant,
    on_both_backends, org_with_member, permission, permission_names, resource_server, role,
};

on_both_backends!(
    role_names_are_unique,
    role_round_trip,
    roles_and_clients_paging,
    deleting_a_client_or_role_cascades,
    role_permissions_follow_their_scopes,
);

async fn role_names_are_unique(store: Store) {
    store.insert_role(&role("admin")).await.unwrap();
    assert_conflict(store.insert_role(&role("admin")).await, "roles_name_key");
    let mut viewer = role("viewer");
    store.insert_role(&viewer).await.unwrap();
    viewer.name = "admin".to_owned();
    assert_conflict(store.update_role(&viewer).await, "roles_name_key");
    assert_eq!(store.count_roles().await.unwrap(), 2);
}

async fn deleting_a_client_or_role_cascades(store: Store) {
    let web = client("Web");
    let m2m = client("M2M");
    store.insert_client(&web).await.unwrap();
    store.insert_client(&m2m).await.unwrap();
    let db = connection("db", Strategy::Database);
    store
        .insert_connection(&db, &[web.client_id.clone(), m2m.client_id.clone()])
        .await
        .unwrap();
    let g1 = grant(&web.client_id, "https://a.example.com/");
    let g2 = grant(&web.client_id, "https://b.example.com/");
    let g3 = grant(&m2m.client_id, "https://a.example.com/");
    for g in [&g1, &g2, &g3] {
        store.insert_client_grant(g).await.unwrap();
    }

    store.delete_client(&web.client_id).await.unwrap();
    assert_not_found(store.get_client(&web.client_id).await);
    assert_not_found(store.get_client_grant(&g1.id).await);
    assert_not_found(store.get_client_grant(&g2.id).await);
    assert_eq!(store.get_client_grant(&g3.id).await.unwrap(), g3);
    assert_eq!(
        store.list_connection_clients(&db.id).await.unwrap(),
        vec![m2m.client_id.clone()]
    );
    assert_not_found(store.delete_client(&web.client_id).await);

    // Deleting a role takes it away from members.
    let (acme, alice) = org_with_member(&store, "acme", &db).await;
    let admin = role("admin");
    let viewer = role("viewer");
    store.insert_role(&admin).await.unwrap();
    store.insert_role(&viewer).await.unwrap();
    store
        .insert_member_roles(
            &acme.id,
            &alice.user_id,
            &[admin.id.clone(), viewer.id.clone()],
        )
        .await
        .unwrap();
    store.delete_role(&admin.id).await.unwrap();
    assert_eq!(
        store
            .list_member_roles(&acme.id, &alice.user_id)
            .await
            .unwrap(),
        vec![viewer]
    );
    assert_not_found(store.delete_role(&admin.id).await);
}

async fn role_round_trip(store: Store) {
    let mut admin = role("admin");
    admin.description = Some("Can do everything ✓".to_owned());
    let viewer = role("viewer");
    store.insert_role(&admin).await.unwrap();
    store.insert_role(&viewer).await.unwrap();
    assert_eq!(store.get_role(&admin.id).await.unwrap(), admin);
    assert_eq!(store.get_role(&viewer.id).await.unwrap(), viewer);
    let mut all = vec![admin.clone(), viewer.clone()];
    all.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(store.list_roles(&Page::all()).await.unwrap(), all);

    let mut updated = admin.clone();
    updated.name = "owner".to_owned();
    updated.description = None;
    store.update_role(&updated).await.unwrap();
    assert_eq!(store.get_role(&admin.id).await.unwrap(), updated);
    let mut described = viewer.clone();
    described.description = Some("Reads".to_owned());
    store.update_role(&described).await.unwrap();
    assert_eq!(store.get_role(&viewer.id).await.unwrap(), described);

    let missing = role("ghost");
    assert_not_found(store.get_role(&missing.id).await);
    assert_not_found(store.update_role(&missing).await);
    assert_not_found(store.delete_role(&missing.id).await);
    store.delete_role(&viewer.id).await.unwrap();
    assert_not_found(store.get_role(&viewer.id).await);
    assert_eq!(store.count_roles().await.unwrap(), 1);
}

async fn roles_and_clients_paging(store: Store) {
    const N: usize = 11;
    let mut role_ids = Vec::new();
    let mut client_ids = Vec::new();
    for i in 0..N {
        let r = role(&format!("role-{i}"));
        store.insert_role(&r).await.unwrap();
        role_ids.push(r.id);
        let c = client(&format!("Client {i}"));
        store.insert_client(&c).await.unwrap();
        client_ids.push(c.client_id);
    }
    role_ids.sort();
    client_ids.sort();
    assert_eq!(store.count_roles().await.unwrap(), N as i64);
    assert_eq!(store.count_clients().await.unwrap(), N as i64);

    let (mut roles, mut clients) = (Vec::new(), Vec::new());
    let (mut role_after, mut client_after) = (None, None);
    loop {
        let page = Page {
            offset: 0,
            limit: 4,
            after_id: role_after.clone(),
        };
        let got = store.list_roles(&page).await.unwrap();
        if got.is_empty() {
            break;
        }
        role_after = got.last().map(|r| r.id.clone());
        roles.extend(got.into_iter().map(|r| r.id));
    }
    loop {
        let page = Page {
            offset: 0,
            limit: 4,
            after_id: client_after.clone(),
        };
        let got = store.list_clients(&page).await.unwrap();
        if got.is_empty() {
            break;
        }
        client_after = got.last().map(|c| c.client_id.clone());
        clients.extend(got.into_iter().map(|c| c.client_id));
    }
    assert_eq!(roles, role_ids);
    assert_eq!(clients, client_ids);
    let page = Page {
        offset: 8,
        limit: 10,
        after_id: None,
    };
    assert_eq!(
        store
            .list_roles(&page)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        role_ids[8..].to_vec()
    );
}

async fn role_permissions_follow_their_scopes(store: Store) {
    let rs = resource_server(
        "urn:invoices",
        &["read:invoices", "write:invoices", "delete:invoices"],
    );
    store.insert_resource_server(&rs).await.unwrap();
    let admin = role("admin");
    store.insert_role(&admin).await.unwrap();
    let all = [
        permission(&rs, "read:invoices"),
        permission(&rs, "write:invoices"),
        permission(&rs, "delete:invoices"),
    ];
    store
        .insert_role_permissions(&admin.id, &all)
        .await
        .unwrap();
    // Adding again is a no-op, not a conflict.
    store
        .insert_role_permissions(&admin.id, &all[..1])
        .await
        .unwrap();
    assert_eq!(store.count_role_permissions(&admin.id).await.unwrap(), 3);
    let listed = store
        .list_role_permissions(&admin.id, &Page::all())
        .await
        .unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|p| p.permission_name.as_str())
            .collect::<Vec<_>>(),
        ["delete:invoices", "read:invoices", "write:invoices"]
    );
    assert_eq!(listed[1].description.as_deref(), Some("May read:invoices"));
    assert_eq!(listed[1].resource_server_name, "API urn:invoices");
    assert_eq!(listed[1].resource_server_identifier, "urn:invoices");
    let page = Page {
        offset: 1,
        limit: 1,
        after_id: None,
    };
    assert_eq!(
        store.list_role_permissions(&admin.id, &page).await.unwrap(),
        listed[1..2].to_vec()
    );

    // A permission must be a scope of the server: the database says so too.
    assert_missing_reference(
        store
            .insert_role_permissions(&admin.id, &[permission(&rs, "launch:missiles")])
            .await,
    );
    assert_missing_reference(
        store
            .insert_role_permissions(&new_id(ids::ROLE), &all[..1])
            .await,
    );

    // A scope removed by an update takes the role permissions naming it along;
    // kept scopes keep theirs.
    let mut updated = rs.clone();
    updated.scopes.retain(|s| s.value != "write:invoices");
    updated.scopes[0].description = Some("Read them".into());
    store.update_resource_server(&updated).await.unwrap();
    let listed = store
        .list_role_permissions(&admin.id, &Page::all())
        .await
        .unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|p| p.permission_name.as_str())
            .collect::<Vec<_>>(),
        ["delete:invoices", "read:invoices"]
    );
    assert_eq!(listed[1].description.as_deref(), Some("Read them"));
    // Putting the scope back does not bring the permission back.
    store.update_resource_server(&rs).await.unwrap();
    assert_eq!(store.count_role_permissions(&admin.id).await.unwrap(), 2);

    store
        .delete_role_permissions(
            &admin.id,
            &[
                permission(&rs, "read:invoices"),
                permission(&rs, "write:invoices"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        permission_names(&store, &admin.id).await,
        [("urn:invoices".to_owned(), "delete:invoices".to_owned())]
    );
    // Deleting the role deletes its permissions.
    store.delete_role(&admin.id).await.unwrap();
    assert_eq!(store.count_role_permissions(&admin.id).await.unwrap(), 0);
}
