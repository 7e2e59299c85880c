//! Clients and client grants.

use serde_json::json;
use switchyard::model::client::{
    AppType, ClientGrant, GrantType, OrganizationRequireBehavior, OrganizationUsage, SigningAlg,
    TokenEndpointAuthMethod,
};
use switchyard::model::ids::{self};
use switchyard::store::{ClientGrantFilter, Page, Store};

use crate::{assert_conflict, assert_not_found, client, grant, object, on_both_backends};

on_both_backends!(
    client_ids_are_unique,
    client_round_trip,
    client_grant_is_unique_per_client_and_audience,
    client_grant_round_trip,
    client_grant_filters,
);

async fn client_ids_are_unique(store: Store) {
    let first = client("First");
    store.insert_client(&first).await.unwrap();
    let mut second = client("Second");
    second.client_id = first.client_id.clone();
    assert_conflict(store.insert_client(&second).await, "clients_pkey");
    assert_eq!(
        store.get_client(&first.client_id).await.unwrap().name,
        "First"
    );
    assert_eq!(store.count_clients().await.unwrap(), 1);
}

async fn client_grant_is_unique_per_client_and_audience(store: Store) {
    let first = client("First");
    let second = client("Second");
    store.insert_client(&first).await.unwrap();
    store.insert_client(&second).await.unwrap();
    let api = "https://api.example.com/";
    let original = grant(&first.client_id, api);
    store.insert_client_grant(&original).await.unwrap();
    assert_conflict(
        store
            .insert_client_grant(&grant(&first.client_id, api))
            .await,
        "client_grants_client_audience_key",
    );
    let mut same_id = grant(&second.client_id, "https://other.example.com/");
    same_id.id = original.id.clone();
    assert_conflict(
        store.insert_client_grant(&same_id).await,
        "client_grants_pkey",
    );
    // Other audience for the same client, same audience for another client: fine.
    store
        .insert_client_grant(&grant(&first.client_id, "https://other.example.com/"))
        .await
        .unwrap();
    store
        .insert_client_grant(&grant(&second.client_id, api))
        .await
        .unwrap();
    assert_eq!(
        store
            .count_client_grants(&ClientGrantFilter::default())
            .await
            .unwrap(),
        3
    );
}

async fn client_round_trip(store: Store) {
    // Enough clients that every value of every enum is stored and read back.
    let mut clients = Vec::new();
    for i in 0..6 {
        let mut c = client(&format!("Client {i}"));
        c.app_type = AppType::ALL[i % AppType::ALL.len()];
        c.token_endpoint_auth_method =
            TokenEndpointAuthMethod::ALL[i % TokenEndpointAuthMethod::ALL.len()];
        c.organization_usage = OrganizationUsage::ALL[i % OrganizationUsage::ALL.len()];
        c.organization_require_behavior =
            OrganizationRequireBehavior::ALL[i % OrganizationRequireBehavior::ALL.len()];
        c.signing_alg = SigningAlg::ALL[i % SigningAlg::ALL.len()];
        c.grant_types = GrantType::ALL[..=(i % GrantType::ALL.len())].to_vec();
        c.grant_types.reverse(); // order is kept as given
        c.is_first_party = i % 2 == 0;
        if i % 2 == 1 {
            c.description = Some(format!("Description ✓ {i}"));
            c.client_secret_hash = None;
            c.callbacks = vec![
                "https://a.example.com/cb".to_owned(),
                "com.example.app:/callback".to_owned(),
            ];
            c.allowed_logout_urls = vec!["https://a.example.com/bye".to_owned()];
            c.web_origins = vec!["https://a.example.com".to_owned()];
            c.allowed_origins = vec!["https://*.b.example.com".to_owned()];
            c.client_metadata = object(json!({"k": "v", "n": i, "nested": {"x": [1, "y"]}}));
        } else {
            c.callbacks = vec![];
        }
        store.insert_client(&c).await.unwrap();
        clients.push(c);
    }
    for c in &clients {
        assert_eq!(&store.get_client(&c.client_id).await.unwrap(), c);
    }
    clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    assert_eq!(store.list_clients(&Page::all()).await.unwrap(), clients);
    assert_eq!(store.count_clients().await.unwrap(), 6);

    let mut updated = clients[0].clone();
    updated.name = "Renamed".to_owned();
    updated.description = Some("now described".to_owned());
    updated.app_type = AppType::NonInteractive;
    updated.client_secret_hash = Some("b".repeat(64));
    updated.callbacks = vec!["https://new.example.com/cb".to_owned()];
    updated.allowed_logout_urls = vec![];
    updated.web_origins = vec!["https://new.example.com".to_owned()];
    updated.allowed_origins = vec!["http://localhost:5173".to_owned()];
    updated.grant_types = vec![GrantType::ClientCredentials];
    updated.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
    updated.organization_usage = OrganizationUsage::Require;
    updated.organization_require_behavior = OrganizationRequireBehavior::PostLoginPrompt;
    updated.signing_alg = SigningAlg::EdDSA;
    updated.is_first_party = !updated.is_first_party;
    updated.client_metadata = object(json!({"changed": "yes"}));
    store.update_client(&updated).await.unwrap();
    assert_eq!(store.get_client(&updated.client_id).await.unwrap(), updated);
    assert_eq!(
        store.get_client(&clients[1].client_id).await.unwrap(),
        clients[1]
    );
    // What preflights are checked against: every client's origins.
    let origins = store.registered_origins().await.unwrap();
    for origin in [
        "http://localhost:5173",
        "https://new.example.com",
        "https://x.b.example.com",
        "https://a.example.com",
    ] {
        assert!(origins.allows(origin), "{origin}");
    }
    assert!(!origins.allows("https://evil.example"));

    let missing = client("Ghost");
    assert_not_found(store.get_client(&missing.client_id).await);
    assert_not_found(store.update_client(&missing).await);
    assert_not_found(store.delete_client(&missing.client_id).await);
}

async fn client_grant_round_trip(store: Store) {
    let m2m = client("M2M");
    store.insert_client(&m2m).await.unwrap();
    let mut grants = Vec::new();
    let usages = [
        None,
        Some(OrganizationUsage::Deny),
        Some(OrganizationUsage::Allow),
        Some(OrganizationUsage::Require),
    ];
    for (i, usage) in usages.into_iter().enumerate() {
        let mut g = grant(&m2m.client_id, &format!("https://api{i}.example.com/"));
        g.organization_usage = usage;
        g.allow_any_organization = i % 2 == 1;
        g.scope = (0..i).map(|n| format!("scope:{n}")).collect();
        store.insert_client_grant(&g).await.unwrap();
        grants.push(g);
    }
    for g in &grants {
        assert_eq!(&store.get_client_grant(&g.id).await.unwrap(), g);
        assert_eq!(
            store
                .find_client_grant(&m2m.client_id, &g.audience)
                .await
                .unwrap()
                .as_ref(),
            Some(g)
        );
    }
    assert_eq!(
        store
            .find_client_grant(&m2m.client_id, "https://nope.example.com/")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_client_grant(&ids::new_client_id(), &grants[0].audience)
            .await
            .unwrap(),
        None
    );

    let mut updated = grants[0].clone();
    updated.scope = vec!["read:a".to_owned(), "write:b".to_owned()];
    updated.organization_usage = Some(OrganizationUsage::Require);
    updated.allow_any_organization = true;
    store.update_client_grant(&updated).await.unwrap();
    assert_eq!(store.get_client_grant(&updated.id).await.unwrap(), updated);
    updated.organization_usage = None;
    updated.scope = vec![];
    store.update_client_grant(&updated).await.unwrap();
    assert_eq!(store.get_client_grant(&updated.id).await.unwrap(), updated);

    let missing = grant(&m2m.client_id, "https://ghost.example.com/");
    assert_not_found(store.get_client_grant(&missing.id).await);
    assert_not_found(store.update_client_grant(&missing).await);
    assert_not_found(store.delete_client_grant(&missing.id).await);
    store.delete_client_grant(&grants[1].id).await.unwrap();
    assert_not_found(store.get_client_grant(&grants[1].id).await);
    assert_eq!(
        store
            .count_client_grants(&ClientGrantFilter::default())
            .await
            .unwrap(),
        3
    );
}

async fn client_grant_filters(store: Store) {
    let web = client("Web");
    let m2m = client("M2M");
    store.insert_client(&web).await.unwrap();
    store.insert_client(&m2m).await.unwrap();
    let a = "https://a.example.com/";
    let b = "https://b.example.com/";
    let mut all = vec![
        grant(&web.client_id, a),
        grant(&web.client_id, b),
        grant(&m2m.client_id, a),
    ];
    for g in &all {
        store.insert_client_grant(g).await.unwrap();
    }
    all.sort_by(|x, y| x.id.cmp(&y.id));

    let cases = [
        (None, None),
        (Some(web.client_id.as_str()), None),
        (Some(m2m.client_id.as_str()), None),
        (None, Some(a)),
        (None, Some(b)),
        (Some(web.client_id.as_str()), Some(a)),
        (Some(m2m.client_id.as_str()), Some(b)),
        (Some("unknown-client"), None),
        (None, Some("https://unknown.example.com/")),
    ];
    let expected_counts = [3, 2, 1, 2, 1, 1, 0, 0, 0];
    for ((client_id, audience), count) in cases.into_iter().zip(expected_counts) {
        let filter = ClientGrantFilter {
            client_id: client_id.map(str::to_owned),
            audience: audience.map(str::to_owned),
        };
        let expected: Vec<ClientGrant> = all
            .iter()
            .filter(|g| client_id.is_none_or(|c| g.client_id == c))
            .filter(|g| audience.is_none_or(|x| g.audience == x))
            .cloned()
            .collect();
        assert_eq!(expected.len(), count, "{filter:?}");
        assert_eq!(
            store
                .list_client_grants(&filter, &Page::all())
                .await
                .unwrap(),
            expected,
            "{filter:?}"
        );
        assert_eq!(
            store.count_client_grants(&filter).await.unwrap(),
            count as i64,
            "{filter:?}"
        );
    }
}
