//! Organization discovery domains: a domain belongs to at most one
//! organization, and the subdomain rules hold, under races too.

use switchyard::model::connection::Strategy;
use switchyard::model::domain::{DiscoveryDomain, DomainStatus};
use switchyard::model::organization::Organization;
use switchyard::routing::RoutingTable;
use switchyard::store::discovery_domains::DOMAIN_OVERLAP;
use switchyard::store::{Page, Store, StoreError};

use crate::{
    assert_conflict, assert_missing_reference, assert_not_found, connection, enabled,
    on_both_backends, organization,
};

on_both_backends!(
    a_domain_belongs_to_one_organization,
    subdomain_rules_hold_between_organizations_only,
    widening_a_claim_is_checked_like_a_claim,
    concurrent_claims_of_one_domain_conflict_once,
    concurrent_claims_below_a_wide_domain_conflict_once,
    concurrent_wide_claims_above_a_domain_conflict_once,
    domain_round_trip_and_paging,
    the_connection_must_be_enabled_on_the_organization,
    deleting_an_organization_deletes_its_domains,
    only_verified_discovery_domains_route,
);

async fn org(store: &Store, name: &str) -> Organization {
    let org = organization(name);
    store.insert_organization(&org, &[]).await.unwrap();
    org
}

fn claim(org: &Organization, domain: &str, include_subdomains: bool) -> DiscoveryDomain {
    DiscoveryDomain {
        include_subdomains,
        ..DiscoveryDomain::new(&org.id, domain.to_owned())
    }
}

async fn a_domain_belongs_to_one_organization(store: Store) {
    let (acme, globex) = (org(&store, "acme").await, org(&store, "globex").await);
    store
        .insert_discovery_domain(&claim(&acme, "acme.com", false))
        .await
        .unwrap();
    assert_conflict(
        store
            .insert_discovery_domain(&claim(&globex, "acme.com", false))
            .await,
        "discovery_domains_domain_key",
    );
    // Twice in one organization is one claim too.
    assert_conflict(
        store
            .insert_discovery_domain(&claim(&acme, "acme.com", true))
            .await,
        "discovery_domains_domain_key",
    );
    assert_not_found(
        store
            .get_discovery_domain_by_name(&globex.id, "acme.com")
            .await,
    );
    assert_eq!(store.count_discovery_domains(&globex.id).await.unwrap(), 0);
}

async fn subdomain_rules_hold_between_organizations_only(store: Store) {
    let (acme, globex) = (org(&store, "acme").await, org(&store, "globex").await);
    store
        .insert_discovery_domain(&claim(&acme, "acme.com", true))
        .await
        .unwrap();
    // Under another organization's wide domain, at any depth: refused.
    for below in ["eu.acme.com", "a.b.acme.com"] {
        assert_conflict(
            store
                .insert_discovery_domain(&claim(&globex, below, false))
                .await,
            DOMAIN_OVERLAP,
        );
    }
    // A name that merely ends alike is another domain.
    store
        .insert_discovery_domain(&claim(&globex, "notacme.com", false))
        .await
        .unwrap();
    // The owner of the wide domain may claim below it (its own routing).
    store
        .insert_discovery_domain(&claim(&acme, "eu.acme.com", false))
        .await
        .unwrap();

    // The reverse: a wide claim above another organization's domain.
    store
        .insert_discovery_domain(&claim(&globex, "eu.initech.com", false))
        .await
        .unwrap();
    assert_conflict(
        store
            .insert_discovery_domain(&claim(&acme, "initech.com", true))
            .await,
        DOMAIN_OVERLAP,
    );
    // Without include_subdomains the parent is a separate domain.
    store
        .insert_discovery_domain(&claim(&acme, "initech.com", false))
        .await
        .unwrap();
    // Siblings under a shared parent belong to different organizations freely.
    store
        .insert_discovery_domain(&claim(&acme, "us.initech.com", true))
        .await
        .unwrap();
    assert_eq!(store.count_discovery_domains(&acme.id).await.unwrap(), 4);
    assert_eq!(store.count_discovery_domains(&globex.id).await.unwrap(), 2);
}

async fn widening_a_claim_is_checked_like_a_claim(store: Store) {
    let (acme, globex) = (org(&store, "acme").await, org(&store, "globex").await);
    let parent = claim(&acme, "acme.com", false);
    store.insert_discovery_domain(&parent).await.unwrap();
    store
        .insert_discovery_domain(&claim(&globex, "eu.acme.com", false))
        .await
        .unwrap();
    let refused = store
        .update_discovery_domain_with(&acme.id, &parent.id, |mut d| {
            d.include_subdomains = true;
            Ok::<_, ()>(d)
        })
        .await;
    assert_conflict(refused, DOMAIN_OVERLAP);
    let kept = store
        .get_discovery_domain(&acme.id, &parent.id)
        .await
        .unwrap();
    assert!(!kept.include_subdomains);

    // Other changes go through; the name and token are the store's.
    let updated = store
        .update_discovery_domain_with(&acme.id, &parent.id, |mut d| {
            d.status = DomainStatus::Verified;
            d.domain = "hijack.com".into();
            d.verification_txt = "chosen".into();
            Ok::<_, ()>(d)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.domain, "acme.com");
    assert_eq!(updated.verification_txt, parent.verification_txt);
    assert_eq!(
        store
            .get_discovery_domain(&acme.id, &parent.id)
            .await
            .unwrap(),
        updated
    );
    // Another organization cannot reach it through its own id.
    assert_not_found(
        store
            .update_discovery_domain_with(&globex.id, &parent.id, Ok::<_, ()>)
            .await,
    );
}

/// Runs `rounds` races of two claims; exactly one of each pair must win.
async fn race(
    store: &Store,
    rounds: usize,
    pair: impl Fn(usize) -> (DiscoveryDomain, DiscoveryDomain),
) {
    for round in 0..rounds {
        let (a, b) = pair(round);
        let (first, second) = (store.clone(), store.clone());
        let (ra, rb) = tokio::join!(
            first.insert_discovery_domain(&a),
            second.insert_discovery_domain(&b)
        );
        match (&ra, &rb) {
            (Ok(()), Err(StoreError::Conflict(_))) | (Err(StoreError::Conflict(_)), Ok(())) => {}
            other => panic!("round {round}: expected one Ok and one Conflict, got {other:?}"),
        }
        let winner = if ra.is_ok() { &a } else { &b };
        let loser = if ra.is_ok() { &b } else { &a };
        assert!(
            store
                .get_discovery_domain(&winner.organization_id, &winner.id)
                .await
                .is_ok()
        );
        assert_not_found(
            store
                .get_discovery_domain(&loser.organization_id, &loser.id)
                .await,
        );
    }
}

const ROUNDS: usize = 12;

async fn concurrent_claims_of_one_domain_conflict_once(store: Store) {
    let (acme, globex) = (org(&store, "acme").await, org(&store, "globex").await);
    race(&store, ROUNDS, |round| {
        let name = format!("race{round}.com");
        (claim(&acme, &name, false), claim(&globex, &name, false))
    })
    .await;
}

async fn concurrent_claims_below_a_wide_domain_conflict_once(store: Store) {
    let (acme, globex) = (org(&store, "acme").await, org(&store, "globex").await);
    race(&store, ROUNDS, |round| {
        (
            claim(&acme, &format!("race{round}.com"), true),
            claim(&globex, &format!("eu.race{round}.com"), false),
        )
    })
    .await;
}

async fn concurrent_wide_claims_above_a_domain_conflict_once(store: Store) {
    let (acme, globex) = (org(&store, "acme").await, org(&store, "globex").await);
    // The deeper claim first in the pair this time, two levels below.
    race(&store, ROUNDS, |round| {
        (
            claim(&globex, &format!("a.eu.race{round}.com"), true),
            claim(&acme, &format!("race{round}.com"), true),
        )
    })
    .await;
}

async fn domain_round_trip_and_paging(store: Store) {
    let acme = org(&store, "acme").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let mut d = claim(&acme, &format!("d{n}.example"), n % 2 == 0);
        d.status = DomainStatus::Verified;
        d.use_for_organization_discovery = false;
        store.insert_discovery_domain(&d).await.unwrap();
        assert_eq!(
            store.get_discovery_domain(&acme.id, &d.id).await.unwrap(),
            d
        );
        assert_eq!(
            store
                .get_discovery_domain_by_name(&acme.id, &d.domain)
                .await
                .unwrap(),
            d
        );
        ids.push(d.id);
    }
    ids.sort();
    let page = |after: Option<&str>| Page {
        offset: 0,
        limit: 2,
        after_id: after.map(str::to_owned),
    };
    let first = store
        .list_discovery_domains(&acme.id, &page(None))
        .await
        .unwrap();
    let second = store
        .list_discovery_domains(&acme.id, &page(Some(&first[1].id)))
        .await
        .unwrap();
    let listed: Vec<&str> = first.iter().chain(&second).map(|d| d.id.as_str()).collect();
    assert_eq!(listed, ids[..4]);
    store
        .delete_discovery_domain(&acme.id, &ids[0])
        .await
        .unwrap();
    assert_not_found(store.delete_discovery_domain(&acme.id, &ids[0]).await);
    assert_eq!(store.count_discovery_domains(&acme.id).await.unwrap(), 4);
}

async fn the_connection_must_be_enabled_on_the_organization(store: Store) {
    let acme = org(&store, "acme").await;
    let sso = connection("acme-sso", Strategy::Oidc);
    store.insert_connection(&sso, &[]).await.unwrap();
    let mut routed = claim(&acme, "acme.com", false);
    routed.connection_id = Some(sso.id.clone());
    assert_missing_reference(store.insert_discovery_domain(&routed).await);

    store
        .insert_enabled_connection(&enabled(&acme.id, &sso.id))
        .await
        .unwrap();
    store.insert_discovery_domain(&routed).await.unwrap();
    // Disabling the connection on the organization keeps the domain, routed
    // to the organization's default; so does deleting the connection.
    // The domains it moved are named, for the routing table to read again.
    let moved = store
        .delete_enabled_connection(&acme.id, &sso.id)
        .await
        .unwrap();
    assert_eq!(moved, [routed.domain.clone()]);
    let kept = store
        .get_discovery_domain(&acme.id, &routed.id)
        .await
        .unwrap();
    assert_eq!(kept.connection_id, None);
    store
        .insert_enabled_connection(&enabled(&acme.id, &sso.id))
        .await
        .unwrap();
    store
        .update_discovery_domain_with(&acme.id, &routed.id, |mut d| {
            d.connection_id = Some(sso.id.clone());
            Ok::<_, ()>(d)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.delete_connection(&sso.id).await.unwrap(),
        [routed.domain.clone()]
    );
    let kept = store
        .get_discovery_domain(&acme.id, &routed.id)
        .await
        .unwrap();
    assert_eq!(kept.connection_id, None);
}

async fn deleting_an_organization_deletes_its_domains(store: Store) {
    let (acme, globex) = (org(&store, "acme").await, org(&store, "globex").await);
    store
        .insert_discovery_domain(&claim(&acme, "acme.com", true))
        .await
        .unwrap();
    assert_eq!(
        store.delete_organization(&acme.id).await.unwrap(),
        ["acme.com"]
    );
    assert_eq!(store.count_discovery_domains(&acme.id).await.unwrap(), 0);
    // The domain is free again, subdomains included.
    store
        .insert_discovery_domain(&claim(&globex, "eu.acme.com", false))
        .await
        .unwrap();
    store
        .insert_discovery_domain(&claim(&globex, "acme.com", true))
        .await
        .unwrap();
}

async fn only_verified_discovery_domains_route(store: Store) {
    let (acme, globex) = (org(&store, "acme").await, org(&store, "globex").await);
    let verified = |c: DiscoveryDomain| DiscoveryDomain {
        status: DomainStatus::Verified,
        ..c
    };
    store
        .insert_discovery_domain(&verified(claim(&acme, "acme.com", true)))
        .await
        .unwrap();
    store
        .insert_discovery_domain(&verified(claim(&acme, "eu.acme.com", false)))
        .await
        .unwrap();
    store
        .insert_discovery_domain(&claim(&globex, "globex.com", false))
        .await
        .unwrap();
    // As a routing table loaded now sees them.
    let routed = |name: &'static str| {
        let store = store.clone();
        async move {
            let table = RoutingTable::new(store);
            table.load().await.unwrap();
            table.route(name).map(|route| route.domain)
        }
    };
    assert_eq!(routed("acme.com").await.as_deref(), Some("acme.com"));
    // The longest claim covering the name wins.
    assert_eq!(routed("eu.acme.com").await.as_deref(), Some("eu.acme.com"));
    assert_eq!(routed("x.eu.acme.com").await.as_deref(), Some("acme.com"));
    assert_eq!(routed("mail.acme.com").await.as_deref(), Some("acme.com"));
    // A name that only ends like a claim is not below it.
    assert_eq!(routed("notacme.com").await, None);
    // Pending claims route nothing; neither do names under a claim without subdomains.
    assert_eq!(routed("globex.com").await, None);
    store
        .update_discovery_domain_with(&globex.id, &claim_id(&store, &globex).await, |d| {
            Ok::<_, ()>(verified(d))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(routed("globex.com").await.as_deref(), Some("globex.com"));
    assert_eq!(routed("eu.globex.com").await, None);
}

async fn claim_id(store: &Store, org: &Organization) -> String {
    store
        .list_discovery_domains(
            &org.id,
            &Page {
                limit: 10,
                ..Page::default()
            },
        )
        .await
        .unwrap()
        .remove(0)
        .id
}
