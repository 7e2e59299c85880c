//! The post-login organization picker's queries: one user's organizations,
//! paged and searched in the store (no cap), the organizations' domain
//! membership policy, and the requests to join that wait for an admin.

use switchyard::model::connection::Strategy;
use switchyard::model::organization::DomainMembership;
use switchyard::store::{Page, Store};

use crate::{assert_not_found, connection, enabled, on_both_backends, organization, user};

on_both_backends!(
    member_organizations_are_paged_and_searched,
    domain_membership_round_trip,
    join_requests_wait_for_an_admin,
);

fn page(offset: i64, limit: i64) -> Page {
    Page {
        offset,
        limit,
        after_id: None,
    }
}

async fn names(store: &Store, user_id: &str, connection_id: &str, search: &str) -> Vec<String> {
    let mut all = Vec::new();
    loop {
        let batch = store
            .list_member_organizations(user_id, connection_id, search, &page(all.len() as i64, 20))
            .await
            .unwrap();
        let done = batch.len() < 20;
        all.extend(batch.into_iter().map(|o| o.name));
        if done {
            return all;
        }
    }
}

async fn member_organizations_are_paged_and_searched(store: Store) {
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();
    let other_db = connection("other-db", Strategy::Database);
    store.insert_connection(&other_db, &[]).await.unwrap();
    let alice = user(&db.id, "alice@example.com");
    store.insert_user(&alice, None).await.unwrap();
    let bob = user(&db.id, "bob@example.com");
    store.insert_user(&bob, None).await.unwrap();
    // 70 organizations alice belongs to; the last 5 do not enable `db`.
    let mut expected = Vec::new();
    for i in 0..70 {
        let mut org = organization(&format!("org-{i:02}"));
        if i % 2 == 0 {
            org.display_name = Some(format!("Team Alpha {i:02}"));
        }
        let connection_id = if i < 65 { &db.id } else { &other_db.id };
        store
            .insert_organization(&org, &[enabled(&org.id, connection_id)])
            .await
            .unwrap();
        store
            .insert_members(&org.id, std::slice::from_ref(&alice.user_id))
            .await
            .unwrap();
        if i < 65 {
            expected.push(org.name.clone());
        }
    }
    // Bob's organization, enabling `db`, is not alice's.
    let bobs = organization("bobs-org");
    store
        .insert_organization(&bobs, &[enabled(&bobs.id, &db.id)])
        .await
        .unwrap();
    store
        .insert_members(&bobs.id, std::slice::from_ref(&bob.user_id))
        .await
        .unwrap();

    // Every one, in pages of 20, by name: no cap.
    assert_eq!(names(&store, &alice.user_id, &db.id, "").await, expected);
    let third = store
        .list_member_organizations(&alice.user_id, &db.id, "", &page(40, 20))
        .await
        .unwrap();
    assert_eq!(third.len(), 20);
    assert_eq!(third[0].name, "org-40");
    // Search by name, and by display name whatever its case.
    let ones: Vec<String> = (10..20).map(|i| format!("org-{i}")).collect();
    assert_eq!(names(&store, &alice.user_id, &db.id, "org-1").await, ones);
    let alphas: Vec<String> = (0..65)
        .filter(|i| i % 2 == 0)
        .map(|i| format!("org-{i:02}"))
        .collect();
    assert_eq!(names(&store, &alice.user_id, &db.id, "ALPHA").await, alphas);
    assert_eq!(
        names(&store, &alice.user_id, &db.id, "alpha 64").await,
        ["org-64"]
    );
    // LIKE's wildcards are searched for literally.
    assert!(names(&store, &alice.user_id, &db.id, "%").await.is_empty());
    assert!(
        names(&store, &alice.user_id, &db.id, "org_0")
            .await
            .is_empty()
    );
    assert_eq!(
        names(&store, &alice.user_id, &db.id, "org-0").await.len(),
        10
    );
    assert_eq!(names(&store, &bob.user_id, &db.id, "").await, ["bobs-org"]);

    // One organization to enter: hers, enabling the connection.
    let org_00 = store.get_organization_by_name("org-00").await.unwrap();
    let got = store
        .get_member_organization(&alice.user_id, &db.id, &org_00.id)
        .await
        .unwrap();
    assert_eq!(got.map(|o| o.name).as_deref(), Some("org-00"));
    let org_66 = store.get_organization_by_name("org-66").await.unwrap();
    for (user_id, connection_id, org_id) in [
        (&alice.user_id, &db.id, &bobs.id),
        (&alice.user_id, &db.id, &org_66.id),
        (&bob.user_id, &db.id, &org_00.id),
    ] {
        let got = store
            .get_member_organization(user_id, connection_id, org_id)
            .await
            .unwrap();
        assert!(got.is_none(), "{user_id} {org_id}");
    }
}

async fn domain_membership_round_trip(store: Store) {
    let plain = organization("plain");
    store.insert_organization(&plain, &[]).await.unwrap();
    assert_eq!(
        store
            .get_organization(&plain.id)
            .await
            .unwrap()
            .domain_membership,
        DomainMembership::Off
    );
    let mut suggesting = organization("suggesting");
    suggesting.domain_membership = DomainMembership::Suggest;
    store.insert_organization(&suggesting, &[]).await.unwrap();
    assert_eq!(
        store.get_organization(&suggesting.id).await.unwrap(),
        suggesting
    );
    let updated = store
        .update_organization_with(&suggesting.id, |mut org| {
            org.domain_membership = DomainMembership::AdminApproval;
            Ok::<_, ()>(org)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.get_organization_by_name("suggesting").await.unwrap(),
        updated
    );
    assert_eq!(updated.domain_membership, DomainMembership::AdminApproval);
}

async fn join_requests_wait_for_an_admin(store: Store) {
    let db = connection("db", Strategy::Database);
    store.insert_connection(&db, &[]).await.unwrap();
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    let mut users = Vec::new();
    for name in ["carol", "dave", "erin"] {
        let u = user(&db.id, &format!("{name}@acme.example"));
        store.insert_user(&u, None).await.unwrap();
        users.push(u.user_id);
    }
    users.sort();
    for user_id in &users {
        assert!(store.insert_join_request(&org.id, user_id).await.unwrap());
    }
    // Asking twice keeps one request.
    assert!(!store.insert_join_request(&org.id, &users[0]).await.unwrap());
    assert_eq!(store.count_join_requests(&org.id).await.unwrap(), 3);
    let listed: Vec<String> = store
        .list_join_requests(&org.id, &Page::all())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.user.user_id)
        .collect();
    assert_eq!(listed, users);
    let after_first = Page {
        offset: 0,
        limit: 10,
        after_id: Some(users[0].clone()),
    };
    assert_eq!(
        store
            .list_join_requests(&org.id, &after_first)
            .await
            .unwrap()
            .len(),
        2
    );

    // Approving makes a member and ends the request; only once.
    store
        .approve_join_request(&org.id, &users[0])
        .await
        .unwrap();
    assert!(store.is_member(&org.id, &users[0]).await.unwrap());
    assert!(!store.has_join_request(&org.id, &users[0]).await.unwrap());
    assert_not_found(store.approve_join_request(&org.id, &users[0]).await);
    // Denying ends the request, without membership; only once.
    store.delete_join_request(&org.id, &users[1]).await.unwrap();
    assert!(!store.is_member(&org.id, &users[1]).await.unwrap());
    assert_not_found(store.delete_join_request(&org.id, &users[1]).await);
    // A deleted user's request goes with them.
    store.delete_user(&users[2]).await.unwrap();
    assert_eq!(store.count_join_requests(&org.id).await.unwrap(), 0);
}
