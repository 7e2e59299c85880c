//! DNS verification's state changes in the store: a check recorded only
//! over the state it was made from, due checks taken by one node, demotion,
//! and transfers that move a domain in one transaction on the claim path,
//! under a race with a claim too.

use switchyard::flows::domain_verification::{Finding, RECHECK_VERIFIED_MS, after_check};
use switchyard::model::domain::{DiscoveryDomain, DomainStatus, DomainTransfer};
use switchyard::model::organization::Organization;
use switchyard::routing::RoutingTable;
use switchyard::store::discovery_domains::DOMAIN_OVERLAP;
use switchyard::store::{Store, StoreError};

use crate::{assert_conflict, assert_not_found, on_both_backends, organization};

on_both_backends!(
    checks_verify_and_demote_over_the_state_they_saw,
    due_checks_are_taken_by_one_node,
    a_transfer_moves_the_domain_in_one_transaction,
    a_transfer_keeps_the_subdomain_rules,
    a_transfer_racing_a_claim_conflicts_once,
    transfer_claims_are_one_per_organization_and_domain,
);

const GRACE: i64 = 7 * 24 * 3600 * 1000;

async fn org(store: &Store, name: &str) -> Organization {
    let org = organization(name);
    store.insert_organization(&org, &[]).await.unwrap();
    org
}

async fn held(store: &Store, org: &Organization, domain: &str, wide: bool) -> DiscoveryDomain {
    let mut claim = DiscoveryDomain::new(&org.id, domain.to_owned());
    claim.include_subdomains = wide;
    claim.status = DomainStatus::Verified;
    store.insert_discovery_domain(&claim).await.unwrap();
    claim
}

fn now(store: &Store) -> i64 {
    store.clock().now_unix_millis()
}

/// Who `domain` routes to, as a routing table loaded now sees it.
async fn route_owner(store: &Store, domain: &str) -> Option<String> {
    let table = RoutingTable::new(store.clone());
    table.load().await.unwrap();
    table.route(domain).map(|route| route.organization_id)
}

async fn checks_verify_and_demote_over_the_state_they_saw(store: Store) {
    let acme = org(&store, "acme").await;
    let pending = DiscoveryDomain::new(&acme.id, "acme.test".into());
    store.insert_discovery_domain(&pending).await.unwrap();
    assert_eq!(route_owner(&store, "acme.test").await, None);

    let verified = after_check(&pending, &Finding::Present, now(&store), GRACE);
    assert!(
        store
            .record_discovery_domain_check(&pending, &verified)
            .await
            .unwrap()
    );
    let stored = store
        .get_discovery_domain(&acme.id, &pending.id)
        .await
        .unwrap();
    assert_eq!(stored, verified);
    assert!(stored.verified_by_dns);
    assert_eq!(
        route_owner(&store, "acme.test").await,
        Some(acme.id.clone())
    );

    // A check made from the pending state lands on nothing now.
    let stale = after_check(&pending, &Finding::NoRecord, now(&store), GRACE);
    assert!(
        !store
            .record_discovery_domain_check(&pending, &stale)
            .await
            .unwrap()
    );

    let missing = after_check(&stored, &Finding::NoRecord, now(&store), GRACE);
    assert!(
        store
            .record_discovery_domain_check(&stored, &missing)
            .await
            .unwrap()
    );
    let gone = after_check(&missing, &Finding::NoRecord, now(&store) + GRACE, GRACE);
    assert_eq!(gone.status, DomainStatus::Pending);
    assert!(
        store
            .record_discovery_domain_check(&missing, &gone)
            .await
            .unwrap()
    );
    let demoted = store
        .get_discovery_domain(&acme.id, &pending.id)
        .await
        .unwrap();
    assert_eq!(demoted.status, DomainStatus::Pending);
    assert!(!demoted.verified_by_dns);
    assert!(
        demoted
            .check
            .reason
            .unwrap()
            .starts_with("Demoted to pending")
    );
    assert_eq!(route_owner(&store, "acme.test").await, None);

    // An admin's verified domain: the pass never looks, and vouching clears DNS's word.
    let vouched = held(&store, &acme, "vouched.test", false).await;
    store
        .set_discovery_domain_vouched(&acme.id, &vouched.id)
        .await
        .unwrap();
    let due = store.due_discovery_domains(i64::MAX, 100).await.unwrap();
    assert!(due.iter().all(|d| d.id != vouched.id), "{due:?}");
    assert!(due.iter().any(|d| d.id == pending.id), "{due:?}");
}

async fn due_checks_are_taken_by_one_node(store: Store) {
    let acme = org(&store, "acme").await;
    let pending = DiscoveryDomain::new(&acme.id, "acme.test".into());
    store.insert_discovery_domain(&pending).await.unwrap();
    let t = now(&store);
    let due = store.due_discovery_domains(t, 100).await.unwrap();
    assert_eq!(due.len(), 1);
    let (one, other) = (store.clone(), store.clone());
    let (a, b) = tokio::join!(
        one.take_discovery_domain_check(&due[0], t + 1000),
        other.take_discovery_domain_check(&due[0], t + 1000)
    );
    assert_eq!(
        [a.unwrap(), b.unwrap()]
            .iter()
            .filter(|taken| **taken)
            .count(),
        1
    );
    assert!(
        store
            .due_discovery_domains(t, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .due_discovery_domains(t + 1000, 100)
            .await
            .unwrap()
            .len(),
        1
    );

    // Verified by DNS: due again only after the re-check interval.
    let verified = after_check(&due[0], &Finding::Present, t, GRACE);
    let mut taken = due[0].clone();
    taken.check.next_check_at = Some(t + 1000);
    assert!(
        store
            .record_discovery_domain_check(&taken, &verified)
            .await
            .unwrap()
    );
    assert!(
        store
            .due_discovery_domains(t + RECHECK_VERIFIED_MS - 1, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .due_discovery_domains(t + RECHECK_VERIFIED_MS, 100)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn a_transfer_moves_the_domain_in_one_transaction(store: Store) {
    let (acme, globex) = (org(&store, "acme").await, org(&store, "globex").await);
    let old = held(&store, &acme, "example.test", false).await;
    assert_eq!(
        route_owner(&store, "example.test").await,
        Some(acme.id.clone())
    );
    let transfer = DomainTransfer::new(&globex.id, "example.test".into());
    store.insert_domain_transfer(&transfer).await.unwrap();
    assert_eq!(
        store
            .get_domain_transfer(&globex.id, &transfer.id)
            .await
            .unwrap(),
        transfer
    );

    let done = store
        .complete_domain_transfer(&globex.id, &transfer.id, now(&store) + 1)
        .await
        .unwrap();
    assert_eq!(done.previous_owner.as_deref(), Some(acme.id.as_str()));
    assert_not_found(store.get_discovery_domain(&acme.id, &old.id).await);
    assert_not_found(store.get_domain_transfer(&globex.id, &transfer.id).await);
    let now_held = store
        .get_discovery_domain(&globex.id, &transfer.id)
        .await
        .unwrap();
    assert_eq!(now_held, done.domain);
    assert_eq!(now_held.status, DomainStatus::Verified);
    assert!(now_held.verified_by_dns);
    assert_eq!(now_held.verification_txt, transfer.verification_txt);
    assert_eq!(
        route_owner(&store, "example.test").await,
        Some(globex.id.clone())
    );
    // Done once: the claim is gone.
    assert_not_found(
        store
            .complete_domain_transfer(&globex.id, &transfer.id, 0)
            .await,
    );
}

async fn a_transfer_keeps_the_subdomain_rules(store: Store) {
    let (acme, globex, initech) = (
        org(&store, "acme").await,
        org(&store, "globex").await,
        org(&store, "initech").await,
    );
    let old = held(&store, &acme, "example.test", false).await;
    held(&store, &initech, "eu.example.test", false).await;
    let mut wide = DomainTransfer::new(&globex.id, "example.test".into());
    wide.include_subdomains = true;
    store.insert_domain_transfer(&wide).await.unwrap();
    assert_conflict(
        store
            .complete_domain_transfer(&globex.id, &wide.id, 0)
            .await,
        DOMAIN_OVERLAP,
    );
    // Nothing moved: the holder keeps it, the claim stays.
    assert_eq!(
        store.get_discovery_domain(&acme.id, &old.id).await.unwrap(),
        old
    );
    store
        .get_domain_transfer(&globex.id, &wide.id)
        .await
        .unwrap();

    // Under another organization's wide domain (its own claim too): refused.
    held(&store, &initech, "wide.test", true).await;
    held(&store, &initech, "a.wide.test", false).await;
    let under = DomainTransfer::new(&globex.id, "a.wide.test".into());
    store.insert_domain_transfer(&under).await.unwrap();
    assert_conflict(
        store
            .complete_domain_transfer(&globex.id, &under.id, 0)
            .await,
        DOMAIN_OVERLAP,
    );
}

async fn a_transfer_racing_a_claim_conflicts_once(store: Store) {
    let (acme, globex, initech) = (
        org(&store, "acme").await,
        org(&store, "globex").await,
        org(&store, "initech").await,
    );
    for round in 0..12 {
        let name = format!("race{round}.test");
        held(&store, &acme, &name, false).await;
        let mut wide = DomainTransfer::new(&globex.id, name.clone());
        wide.include_subdomains = true;
        store.insert_domain_transfer(&wide).await.unwrap();
        let below = DiscoveryDomain::new(&initech.id, format!("eu.{name}"));
        let (one, other) = (store.clone(), store.clone());
        let (transferred, claimed) = tokio::join!(
            one.complete_domain_transfer(&globex.id, &wide.id, 0),
            other.insert_discovery_domain(&below)
        );
        match (&transferred, &claimed) {
            (Ok(_), Err(StoreError::Conflict(_))) => {
                assert_eq!(route_owner(&store, &name).await, Some(globex.id.clone()));
                assert_not_found(store.get_discovery_domain(&initech.id, &below.id).await);
            }
            (Err(StoreError::Conflict(_)), Ok(())) => {
                assert_eq!(route_owner(&store, &name).await, Some(acme.id.clone()));
                store
                    .get_domain_transfer(&globex.id, &wide.id)
                    .await
                    .unwrap();
            }
            other => panic!("round {round}: expected one win and one conflict, got {other:?}"),
        }
    }
}

async fn transfer_claims_are_one_per_organization_and_domain(store: Store) {
    let (acme, globex) = (org(&store, "acme").await, org(&store, "globex").await);
    held(&store, &acme, "example.test", false).await;
    let first = DomainTransfer::new(&globex.id, "example.test".into());
    store.insert_domain_transfer(&first).await.unwrap();
    assert_conflict(
        store
            .insert_domain_transfer(&DomainTransfer::new(&globex.id, "example.test".into()))
            .await,
        "discovery_domain_transfers_domain_key",
    );
    store
        .record_domain_transfer_check(&globex.id, &first.id, 5, Some("No TXT record found"))
        .await
        .unwrap();
    let checked = store
        .get_domain_transfer(&globex.id, &first.id)
        .await
        .unwrap();
    assert_eq!(checked.last_checked_at, Some(5));
    assert_eq!(checked.reason.as_deref(), Some("No TXT record found"));
    store.delete_organization(&globex.id).await.unwrap();
    assert_not_found(store.get_domain_transfer(&globex.id, &first.id).await);
}
