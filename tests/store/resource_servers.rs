//! Resource servers (APIs) and their scopes.

use switchyard::model::client::SigningAlg;
use switchyard::model::ids::{self, new_id};
use switchyard::model::resource_server::{ResourceServer, TokenDialect};
use switchyard::store::{Page, Store};

use crate::{
    assert_conflict, assert_not_found, client, grant, on_both_backends, permission,
    permission_names, resource_server, role, scope,
};

on_both_backends!(
    resource_server_round_trip,
    resource_server_identifiers_are_unique,
    deleting_a_resource_server_cascades,
);

async fn resource_server_round_trip(store: Store) {
    let mut rs = resource_server(
        "https://invoices.example.com/",
        &["write:invoices", "read:invoices"],
    );
    rs.signing_alg = SigningAlg::ES256;
    rs.token_lifetime = 600;
    rs.allow_offline_access = true;
    rs.skip_consent_for_verifiable_first_party_clients = false;
    rs.enforce_policies = true;
    rs.token_dialect = TokenDialect::AccessTokenAuthz;
    rs.scopes[1].description = None;
    store.insert_resource_server(&rs).await.unwrap();
    // Scopes come back in the order given, descriptions (or none) kept.
    assert_eq!(store.get_resource_server(&rs.id).await.unwrap(), rs);
    assert_eq!(
        store
            .get_resource_server_by_identifier(&rs.identifier)
            .await
            .unwrap(),
        rs
    );
    assert_not_found(
        store
            .get_resource_server_by_identifier("https://nope.example.com/")
            .await,
    );
    assert_not_found(
        store
            .get_resource_server(&new_id(ids::RESOURCE_SERVER))
            .await,
    );

    let bare = resource_server("urn:no-scopes", &[]);
    store.insert_resource_server(&bare).await.unwrap();
    assert_eq!(store.get_resource_server(&bare.id).await.unwrap(), bare);

    let mut all: Vec<ResourceServer> = vec![rs.clone(), bare.clone()];
    for i in 0..3 {
        let extra = resource_server(&format!("urn:api:{i}"), &["a", "b"]);
        store.insert_resource_server(&extra).await.unwrap();
        all.push(extra);
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(store.count_resource_servers().await.unwrap(), 5);
    assert_eq!(
        store.list_resource_servers(&Page::all()).await.unwrap(),
        all
    );
    // A page limits servers, not joined scope rows.
    let second_page = Page {
        offset: 2,
        limit: 2,
        after_id: None,
    };
    assert_eq!(
        store.list_resource_servers(&second_page).await.unwrap(),
        all[2..4].to_vec()
    );
    let after = Page {
        offset: 0,
        limit: 10,
        after_id: Some(all[3].id.clone()),
    };
    assert_eq!(
        store.list_resource_servers(&after).await.unwrap(),
        all[4..].to_vec()
    );

    // Updates change everything but the identifier.
    rs.name = "Invoices".into();
    rs.scopes = vec![scope("read:invoices"), scope("approve:invoices")];
    rs.token_dialect = TokenDialect::AccessToken;
    rs.enforce_policies = false;
    store.update_resource_server(&rs).await.unwrap();
    assert_eq!(store.get_resource_server(&rs.id).await.unwrap(), rs);
    let mut missing = rs.clone();
    missing.id = new_id(ids::RESOURCE_SERVER);
    assert_not_found(store.update_resource_server(&missing).await);
}

async fn resource_server_identifiers_are_unique(store: Store) {
    let first = resource_server("https://api.example.com/", &["read"]);
    store.insert_resource_server(&first).await.unwrap();
    let again = resource_server("https://api.example.com/", &["write"]);
    assert_conflict(
        store.insert_resource_server(&again).await,
        "resource_servers_identifier_key",
    );
    // The refused insert left no scope behind.
    assert_not_found(store.get_resource_server(&again.id).await);
    assert_eq!(
        store
            .get_resource_server_by_identifier("https://api.example.com/")
            .await
            .unwrap(),
        first
    );
    // Identifiers are compared exactly.
    store
        .insert_resource_server(&resource_server("https://api.example.com", &[]))
        .await
        .unwrap();
}

async fn deleting_a_resource_server_cascades(store: Store) {
    let invoices = resource_server("urn:invoices", &["read:invoices"]);
    let reports = resource_server("urn:reports", &["read:reports"]);
    store.insert_resource_server(&invoices).await.unwrap();
    store.insert_resource_server(&reports).await.unwrap();
    let viewer = role("viewer");
    store.insert_role(&viewer).await.unwrap();
    store
        .insert_role_permissions(
            &viewer.id,
            &[
                permission(&invoices, "read:invoices"),
                permission(&reports, "read:reports"),
            ],
        )
        .await
        .unwrap();
    let m2m = client("m2m");
    store.insert_client(&m2m).await.unwrap();
    let invoices_grant = grant(&m2m.client_id, "urn:invoices");
    let reports_grant = grant(&m2m.client_id, "urn:reports");
    store.insert_client_grant(&invoices_grant).await.unwrap();
    store.insert_client_grant(&reports_grant).await.unwrap();

    let cleared = store.delete_resource_server(&invoices.id).await.unwrap();
    assert_eq!(cleared, vec![m2m.client_id.clone()]);
    assert_not_found(store.get_resource_server(&invoices.id).await);
    assert_eq!(
        permission_names(&store, &viewer.id).await,
        [("urn:reports".to_owned(), "read:reports".to_owned())]
    );
    assert_eq!(
        store
            .find_client_grant(&m2m.client_id, "urn:invoices")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_client_grant(&m2m.client_id, "urn:reports")
            .await
            .unwrap(),
        Some(reports_grant)
    );
    assert_not_found(store.delete_resource_server(&invoices.id).await);
    // The identifier is free again.
    store
        .insert_resource_server(&resource_server("urn:invoices", &[]))
        .await
        .unwrap();
}
