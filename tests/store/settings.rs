//! Tenant settings and once-only flags.

use std::collections::HashSet;

use switchyard::model::tenant::TenantSettings;
use switchyard::store::Store;

use crate::on_both_backends;

on_both_backends!(
    tenant_settings_round_trip,
    claim_setting_once,
    claim_setting_concurrent,
);

async fn claim_setting_once(store: Store) {
    assert_eq!(store.get_setting("demo_seeded").await.unwrap(), None);
    assert!(store.claim_setting("demo_seeded", "first").await.unwrap());
    assert!(!store.claim_setting("demo_seeded", "second").await.unwrap());
    assert_eq!(
        store.get_setting("demo_seeded").await.unwrap().as_deref(),
        Some("first")
    );
    assert!(store.claim_setting("other", "x").await.unwrap());
    assert!(!store.claim_setting("other", "x").await.unwrap());
}

async fn claim_setting_concurrent(store: Store) {
    const ROUNDS: usize = 12;
    let (first, second) = (store.clone(), store.clone());
    for round in 0..ROUNDS {
        let key = format!("once-{round}");
        let (a, b) = tokio::join!(
            first.claim_setting(&key, "a"),
            second.claim_setting(&key, "b")
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(
            a ^ b,
            "round {round}: exactly one claim must win, got {a} and {b}"
        );
        let winner = if a { "a" } else { "b" };
        assert_eq!(
            store.get_setting(&key).await.unwrap().as_deref(),
            Some(winner)
        );
    }
    // Many claimants at once.
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_setting("crowd", &i.to_string()).await })
        })
        .collect();
    let mut wins = HashSet::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if task.await.unwrap().unwrap() {
            wins.insert(i.to_string());
        }
    }
    assert_eq!(wins.len(), 1, "exactly one of the crowd wins: {wins:?}");
    assert_eq!(
        store.get_setting("crowd").await.unwrap(),
        wins.into_iter().next()
    );
}

async fn tenant_settings_round_trip(store: Store) {
    assert_eq!(
        store.tenant_settings().await.unwrap(),
        TenantSettings::default()
    );
    assert!(!TenantSettings::default().allow_organization_name_in_authentication_api);
    // Once-only flags share the table and are not settings.
    assert!(store.claim_setting("demo_seeded", "1").await.unwrap());
    let on = TenantSettings {
        allow_organization_name_in_authentication_api: true,
        inert_settings: serde_json::json!({"friendly_name": "Acme", "flags": {"a": true}})
            .as_object()
            .unwrap()
            .clone(),
    };
    store.update_tenant_settings(&on).await.unwrap();
    assert_eq!(store.tenant_settings().await.unwrap(), on);
    store
        .update_tenant_settings(&TenantSettings::default())
        .await
        .unwrap();
    assert_eq!(
        store.tenant_settings().await.unwrap(),
        TenantSettings::default()
    );
    assert_eq!(
        store.get_setting("demo_seeded").await.unwrap().as_deref(),
        Some("1")
    );
}
