//! Organization members, their roles, and what those roles grant.

use switchyard::model::connection::Strategy;
use switchyard::model::ids::{self, new_id};
use switchyard::store::{Page, Store};

use crate::{
    connection, on_both_backends, org_with_member, organization, permission, resource_server, role,
    user,
};

on_both_backends!(
    members_and_member_roles,
    concurrent_member_inserts,
    organization_authorization_unions_the_member_roles,
);

async fn members_and_member_roles(store: Store) {
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    let mut users = Vec::new();
    for i in 0..5 {
        let mut u = user(&db.id, &format!("user{i}@example.com"));
        if i % 2 == 0 {
            u.name = Some(format!("User {i}"));
            u.picture = Some(format!("https://cdn.example.com/{i}.png"));
        }
        store.insert_user(&u, None).await.unwrap();
        users.push(u);
    }
    let user_ids: Vec<String> = users.iter().map(|u| u.user_id.clone()).collect();
    store.insert_members(&org.id, &user_ids).await.unwrap();
    // Adding again is a no-op, not a conflict.
    store.insert_members(&org.id, &user_ids[..2]).await.unwrap();
    assert_eq!(store.count_members(&org.id).await.unwrap(), 5);

    let members = store.list_members(&org.id, &Page::all()).await.unwrap();
    let mut sorted = users.clone();
    sorted.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    assert_eq!(members.len(), 5);
    for (m, u) in members.iter().zip(&sorted) {
        assert_eq!(m.user_id, u.user_id);
        assert_eq!(m.email, u.email);
        assert_eq!(m.name, u.name);
        assert_eq!(m.picture, u.picture);
    }
    let page = Page {
        offset: 0,
        limit: 2,
        after_id: Some(sorted[1].user_id.clone()),
    };
    let next: Vec<_> = store
        .list_members(&org.id, &page)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    assert_eq!(
        next,
        vec![sorted[2].user_id.clone(), sorted[3].user_id.clone()]
    );

    let zeta = role("zeta");
    let alpha = role("alpha");
    store.insert_role(&zeta).await.unwrap();
    store.insert_role(&alpha).await.unwrap();
    let both = [zeta.id.clone(), alpha.id.clone()];
    store
        .insert_member_roles(&org.id, &user_ids[0], &both)
        .await
        .unwrap();
    store
        .insert_member_roles(&org.id, &user_ids[0], &both[..1])
        .await
        .unwrap();
    // Ordered by role name.
    assert_eq!(
        store
            .list_member_roles(&org.id, &user_ids[0])
            .await
            .unwrap(),
        vec![alpha.clone(), zeta.clone()]
    );
    store
        .delete_member_roles(&org.id, &user_ids[0], &both[..1])
        .await
        .unwrap();
    assert_eq!(
        store
            .list_member_roles(&org.id, &user_ids[0])
            .await
            .unwrap(),
        vec![alpha.clone()]
    );

    // Removing a member removes their roles in that organization.
    store.delete_members(&org.id, &user_ids[..1]).await.unwrap();
    assert!(!store.is_member(&org.id, &user_ids[0]).await.unwrap());
    assert!(store.is_member(&org.id, &user_ids[1]).await.unwrap());
    assert_eq!(store.count_members(&org.id).await.unwrap(), 4);
    store.insert_members(&org.id, &user_ids[..1]).await.unwrap();
    assert!(
        store
            .list_member_roles(&org.id, &user_ids[0])
            .await
            .unwrap()
            .is_empty()
    );
    // Deleting someone who is not a member is not an error.
    store
        .delete_members(&org.id, &[new_id(ids::USER)])
        .await
        .unwrap();
}

/// Adding members (and member roles) is documented as idempotent and is
/// called from concurrent requests: it must neither fail on a busy SQLite
/// database nor report a conflict when two requests add the same member.
async fn concurrent_member_inserts(store: Store) {
    const ROUNDS: usize = 100;
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();
    let admin = role("admin");
    store.insert_role(&admin).await.unwrap();
    let (acme, globex) = (organization("acme"), organization("globex"));
    store.insert_organization(&acme, &[]).await.unwrap();
    store.insert_organization(&globex, &[]).await.unwrap();
    let (first, second) = (store.clone(), store.clone());
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        let u = user(&db.id, &format!("user{round}@example.com"));
        store.insert_user(&u, None).await.unwrap();
        let member = std::slice::from_ref(&u.user_id);
        // Different organizations, and the same organization twice.
        let (a, b) = tokio::join!(
            first.insert_members(&acme.id, member),
            second.insert_members(&globex.id, member)
        );
        let (c, d) = tokio::join!(
            first.insert_members(&acme.id, member),
            second.insert_members(&acme.id, member)
        );
        let roles = std::slice::from_ref(&admin.id);
        let (e, f) = tokio::join!(
            first.insert_member_roles(&acme.id, &u.user_id, roles),
            second.insert_member_roles(&acme.id, &u.user_id, roles)
        );
        for (what, result) in [
            ("two orgs", a),
            ("two orgs", b),
            ("same org", c),
            ("same org", d),
            ("member roles", e),
            ("member roles", f),
        ] {
            if let Err(err) = result {
                failures.push(format!("round {round}, {what}: {err:?}"));
            }
        }
        assert!(store.is_member(&acme.id, &u.user_id).await.unwrap());
        assert!(store.is_member(&globex.id, &u.user_id).await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} of {} concurrent idempotent inserts failed, e.g.: {:#?}",
        failures.len(),
        ROUNDS * 6,
        &failures[..failures.len().min(5)]
    );
    assert_eq!(store.count_members(&acme.id).await.unwrap(), ROUNDS as i64);
}

async fn organization_authorization_unions_the_member_roles(store: Store) {
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();
    let (acme, alice) = org_with_member(&store, "acme", &db).await;
    let globex = organization("globex");
    store.insert_organization(&globex, &[]).await.unwrap();
    store
        .insert_members(&globex.id, std::slice::from_ref(&alice.user_id))
        .await
        .unwrap();

    let invoices = resource_server(
        "https://invoices.example.com/",
        &[
            "read:invoices",
            "write:invoices",
            "approve:invoices",
            "delete:invoices",
        ],
    );
    let reports = resource_server("https://reports.example.com/", &["read:reports"]);
    store.insert_resource_server(&invoices).await.unwrap();
    store.insert_resource_server(&reports).await.unwrap();

    let (clerk, approver, auditor) = (role("clerk"), role("approver"), role("auditor"));
    for r in [&clerk, &approver, &auditor] {
        store.insert_role(r).await.unwrap();
    }
    store
        .insert_role_permissions(
            &clerk.id,
            &[
                permission(&invoices, "write:invoices"),
                permission(&invoices, "read:invoices"),
            ],
        )
        .await
        .unwrap();
    store
        .insert_role_permissions(
            &approver.id,
            &[
                permission(&invoices, "read:invoices"),
                permission(&invoices, "approve:invoices"),
                permission(&reports, "read:reports"),
            ],
        )
        .await
        .unwrap();
    store
        .insert_role_permissions(&auditor.id, &[permission(&invoices, "delete:invoices")])
        .await
        .unwrap();
    // Alice: clerk and approver in acme; auditor only in globex.
    store
        .insert_member_roles(
            &acme.id,
            &alice.user_id,
            &[approver.id.clone(), clerk.id.clone()],
        )
        .await
        .unwrap();
    store
        .insert_member_roles(
            &globex.id,
            &alice.user_id,
            std::slice::from_ref(&auditor.id),
        )
        .await
        .unwrap();

    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        store
            .organization_authorization(&acme.id, &alice.user_id, "https://invoices.example.com/")
            .await
            .unwrap(),
        (
            strings(&["approver", "clerk"]),
            strings(&["approve:invoices", "read:invoices", "write:invoices"])
        ),
        "roles of both, overlapping permissions once, no other org's or API's"
    );
    assert_eq!(
        store
            .organization_authorization(&acme.id, &alice.user_id, "https://reports.example.com/")
            .await
            .unwrap(),
        (strings(&["approver", "clerk"]), strings(&["read:reports"]))
    );
    assert_eq!(
        store
            .organization_authorization(&globex.id, &alice.user_id, "https://invoices.example.com/")
            .await
            .unwrap(),
        (strings(&["auditor"]), strings(&["delete:invoices"]))
    );
    // An audience no resource server has: the roles, no permissions.
    assert_eq!(
        store
            .organization_authorization(&acme.id, &alice.user_id, "https://unknown.example.com/")
            .await
            .unwrap(),
        (strings(&["approver", "clerk"]), vec![])
    );
    // Identifiers are matched exactly.
    assert_eq!(
        store
            .organization_authorization(&acme.id, &alice.user_id, "https://invoices.example.com")
            .await
            .unwrap()
            .1,
        Vec::<String>::new()
    );
    // A member without roles, and someone who is not a member.
    let (_, bob) = org_with_member(&store, "initech", &db).await;
    store
        .insert_members(&acme.id, std::slice::from_ref(&bob.user_id))
        .await
        .unwrap();
    for user_id in [bob.user_id.clone(), new_id(ids::USER)] {
        assert_eq!(
            store
                .organization_authorization(&acme.id, &user_id, "https://invoices.example.com/")
                .await
                .unwrap(),
            (vec![], vec![])
        );
    }
    // Removing a member's role removes what it granted.
    store
        .delete_member_roles(&acme.id, &alice.user_id, std::slice::from_ref(&approver.id))
        .await
        .unwrap();
    assert_eq!(
        store
            .organization_authorization(&acme.id, &alice.user_id, "https://invoices.example.com/")
            .await
            .unwrap(),
        (
            strings(&["clerk"]),
            strings(&["read:invoices", "write:invoices"])
        )
    );
}
