//! Read-modify-write in one transaction: concurrent `update_*_with` calls on
//! one row each see the previous one's write, so none is lost (two
//! Management API PATCHes of one client used to read the same old value and
//! the second write undid the first).

use std::collections::BTreeSet;

use serde_json::{Value, json};
use switchyard::store::{Store, StoreError};

use switchyard::model::connection::{OrganizationAccessLevel, Strategy};
use switchyard::model::resource_server::Scope;

use crate::{
    client, connection, enabled, grant, on_both_backends, organization, resource_server, role, user,
};

/// How many updates race on one row.
const WRITERS: usize = 24;

on_both_backends!(
    concurrent_client_updates_lose_nothing,
    concurrent_organization_updates_lose_nothing,
    concurrent_updates_of_the_other_aggregates_lose_nothing,
    an_update_refused_by_its_closure_writes_nothing,
);

/// Runs `WRITERS` calls of `update(store, i)` at once and waits for all.
async fn race<F, Fut>(store: &Store, update: F)
where
    F: Fn(Store, usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| tokio::spawn(update(store.clone(), i)))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

async fn concurrent_client_updates_lose_nothing(store: Store) {
    let web = client("web");
    store.insert_client(&web).await.unwrap();
    let id = web.client_id.clone();
    // Each writer appends one callback and sets one metadata key.
    race(&store, |store, i| {
        let id = id.clone();
        async move {
            store
                .update_client_with(&id, |mut c| {
                    c.callbacks
                        .push(format!("https://app{i}.example.com/callback"));
                    c.client_metadata
                        .insert(format!("k{i}"), json!(i.to_string()));
                    Ok::<_, StoreError>(c)
                })
                .await
                .unwrap()
                .unwrap();
        }
    })
    .await;
    let stored = store.get_client(&id).await.unwrap();
    let callbacks: BTreeSet<_> = stored.callbacks.iter().cloned().collect();
    let expected: BTreeSet<_> = std::iter::once(web.callbacks[0].clone())
        .chain((0..WRITERS).map(|i| format!("https://app{i}.example.com/callback")))
        .collect();
    assert_eq!(callbacks, expected, "a concurrent update was lost");
    assert_eq!(stored.callbacks.len(), WRITERS + 1);
    assert_eq!(stored.client_metadata.len(), WRITERS);
}

async fn concurrent_organization_updates_lose_nothing(store: Store) {
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    // Half the writers count up one metadata entry, the others set a key each.
    store
        .update_organization_with(&org.id, |mut o| {
            o.metadata.insert("count".to_owned(), json!(0));
            Ok::<_, StoreError>(o)
        })
        .await
        .unwrap()
        .unwrap();
    race(&store, |store, i| {
        let id = org.id.clone();
        async move {
            store
                .update_organization_with(&id, |mut o| {
                    if i % 2 == 0 {
                        let count = o.metadata["count"].as_i64().unwrap();
                        o.metadata.insert("count".to_owned(), json!(count + 1));
                    } else {
                        o.metadata.insert(format!("k{i}"), Value::Bool(true));
                    }
                    Ok::<_, StoreError>(o)
                })
                .await
                .unwrap()
                .unwrap();
        }
    })
    .await;
    let stored = store.get_organization(&org.id).await.unwrap();
    assert_eq!(
        stored.metadata["count"],
        json!(WRITERS.div_ceil(2)),
        "a concurrent increment was lost: {:?}",
        stored.metadata
    );
    assert_eq!(
        stored.metadata.len(),
        1 + WRITERS / 2,
        "{:?}",
        stored.metadata
    );
}

/// Every other `update_*_with`: each writer adds its own entry to a list or
/// map of one row (an enabled connection has four fields to set, one each).
async fn concurrent_updates_of_the_other_aggregates_lose_nothing(store: Store) {
    let org = organization("acme");
    let con = connection("corp", Strategy::Oidc);
    let web = client("web");
    let api = resource_server("https://api.example.com", &[]);
    store.insert_organization(&org, &[]).await.unwrap();
    store.insert_connection(&con, &[]).await.unwrap();
    store.insert_client(&web).await.unwrap();
    store.insert_resource_server(&api).await.unwrap();
    let (admin, alice, client_grant) = (
        role("admin"),
        user(&con.id, "alice@example.com"),
        grant(&web.client_id, &api.identifier),
    );
    store.insert_role(&admin).await.unwrap();
    store.insert_user(&alice, None).await.unwrap();
    store.insert_client_grant(&client_grant).await.unwrap();
    store
        .insert_enabled_connection(&enabled(&org.id, &con.id))
        .await
        .unwrap();
    let ids = (
        admin.id.clone(),
        alice.user_id.clone(),
        con.id.clone(),
        api.id.clone(),
        client_grant.id.clone(),
        org.id.clone(),
    );
    race(&store, move |store, i| {
        let (role_id, user_id, connection_id, api_id, grant_id, org_id) = ids.clone();
        async move {
            let key = format!("k{i}");
            store
                .update_role_with(&role_id, |mut r| {
                    let mut description = r.description.unwrap_or_default();
                    description.push_str(&format!("[{i}]"));
                    r.description = Some(description);
                    Ok::<_, ()>(r)
                })
                .await
                .unwrap()
                .unwrap();
            store
                .update_user_with(&user_id, |mut u| {
                    u.app_metadata.insert(key.clone(), json!(i));
                    Ok::<_, ()>(u)
                })
                .await
                .unwrap()
                .unwrap();
            store
                .update_connection_with(&connection_id, None, |mut c| {
                    c.metadata.insert(key.clone(), json!(i.to_string()));
                    Ok::<_, ()>(c)
                })
                .await
                .unwrap()
                .unwrap();
            store
                .update_resource_server_with(&api_id, |mut rs| {
                    rs.scopes.push(Scope {
                        value: format!("read:{key}"),
                        description: None,
                    });
                    Ok::<_, ()>(rs)
                })
                .await
                .unwrap()
                .unwrap();
            store
                .update_client_grant_with(&grant_id, |mut g| {
                    g.scope.push(format!("read:{key}"));
                    Ok::<_, ()>(g)
                })
                .await
                .unwrap()
                .unwrap();
            store
                .update_enabled_connection_with(&org_id, &connection_id, |mut view| {
                    let e = &mut view.enabled;
                    match i % 4 {
                        0 => e.assign_membership_on_login = true,
                        1 => e.show_as_button = true,
                        2 => e.organization_access_level = OrganizationAccessLevel::Readonly,
                        _ => e.organization_connection_name = Some("Corp".to_owned()),
                    }
                    Ok::<_, ()>(view)
                })
                .await
                .unwrap()
                .unwrap();
        }
    })
    .await;
    let description = store
        .get_role(&admin.id)
        .await
        .unwrap()
        .description
        .unwrap();
    for i in 0..WRITERS {
        assert!(
            description.contains(&format!("[{i}]")),
            "{i} lost: {description}"
        );
    }
    let stored = store.get_user(&alice.user_id).await.unwrap().user;
    assert_eq!(stored.app_metadata.len(), WRITERS, "{stored:?}");
    let stored = store.get_connection(&con.id).await.unwrap();
    assert_eq!(stored.metadata.len(), WRITERS, "{stored:?}");
    let stored = store.get_resource_server(&api.id).await.unwrap();
    assert_eq!(stored.scopes.len(), WRITERS, "{stored:?}");
    let stored = store.get_client_grant(&client_grant.id).await.unwrap();
    assert_eq!(stored.scope.len(), WRITERS + 1, "{stored:?}");
    let stored = store
        .get_enabled_connection(&org.id, &con.id)
        .await
        .unwrap()
        .enabled;
    assert!(
        stored.assign_membership_on_login && stored.show_as_button,
        "{stored:?}"
    );
    assert_eq!(
        stored.organization_access_level,
        OrganizationAccessLevel::Readonly
    );
    assert_eq!(stored.organization_connection_name.as_deref(), Some("Corp"));

    // Tenant settings: no row per setting to lock until it is first set.
    let settings = store
        .update_tenant_settings_with(|mut s| {
            s.allow_organization_name_in_authentication_api = true;
            Ok::<_, ()>(s)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.tenant_settings().await.unwrap(), settings);
    assert!(settings.allow_organization_name_in_authentication_api);
}

async fn an_update_refused_by_its_closure_writes_nothing(store: Store) {
    let web = client("web");
    store.insert_client(&web).await.unwrap();
    let refused = store
        .update_client_with(&web.client_id, |mut c| {
            c.name = "changed".to_owned();
            if c.name == "changed" {
                return Err("refused");
            }
            Ok(c)
        })
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err(), "refused");
    assert_eq!(store.get_client(&web.client_id).await.unwrap(), web);
    // A missing row is the store's NotFound, before the closure runs.
    let missing = store
        .update_client_with("nope", |_| -> Result<_, ()> {
            unreachable!("no row to change")
        })
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    // The row is free again: a later update goes through.
    let renamed = store
        .update_client_with(&web.client_id, |mut c| {
            c.name = "renamed".to_owned();
            Ok::<_, ()>(c)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.get_client(&web.client_id).await.unwrap(), renamed);
}
