//! The routing table: which organization (and which of its connections) a
//! verified domain sends an email to. Read on every identifier step, so it
//! is meant to be served from memory; every write that changes routing
//! calls `AppState::cached_data_changed(Change::DiscoveryDomain { .. })`
//! (or `Change::Organizations` when organizations went), which reaches
//! [`RoutingTable::forget`] on every node.

use crate::model::domain::DiscoveryDomain;
use crate::store::{Store, StoreResult};

/// Where a verified domain routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRoute {
    /// The claimed domain that matched (the email's domain, or a domain
    /// above it claimed with `include_subdomains`).
    pub domain: String,
    pub organization_id: String,
    /// The organization's connection the domain is bound to; `None`: the
    /// organization's default.
    pub connection_id: Option<String>,
}

impl From<DiscoveryDomain> for DomainRoute {
    fn from(claim: DiscoveryDomain) -> Self {
        DomainRoute {
            domain: claim.domain,
            organization_id: claim.organization_id,
            connection_id: claim.connection_id,
        }
    }
}

#[derive(Clone)]
pub struct RoutingTable {
    store: Store,
}

impl RoutingTable {
    pub fn new(store: Store) -> Self {
        RoutingTable { store }
    }

    /// The route of the normalized `domain` (an email's domain), if a
    /// verified domain used for discovery covers it.
    pub async fn lookup(&self, domain: &str) -> StoreResult<Option<DomainRoute>> {
        Ok(self
            .store
            .find_domain_route(domain)
            .await?
            .map(DomainRoute::from))
    }

    /// Drops what a write to the claim of `domain` made stale.
    pub fn forget_domain(&self, _domain: &str) {}

    /// Drops every route (organizations were deleted, or changes may have
    /// been missed).
    pub fn forget_all(&self) {}
}
