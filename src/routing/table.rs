//! The routing table: which organization (and which of its connections) a
//! verified domain sends an email to. Read on every identifier step, so it
//! is served from memory: every verified, discovery-enabled claim is loaded
//! when the server starts (a page at a time), and every write that changes
//! routing calls `AppState::domain_changed` (a `Change::DiscoveryDomain`; a
//! connection deleted or disabled, or an organization deleted, sends one per
//! domain it moved, `AppState::domains_changed`), which reaches this table on
//! every node:
//! [`RoutingTable::forget_domain`] re-reads that one claim,
//! [`RoutingTable::forget_all`] everything.
//!
//! A reload builds a new table beside the one served, which keeps answering
//! (and taking single-claim updates) until the new one replaces it; the
//! claims that changed while it loaded are read again into the new one
//! before it is served, so a reload never serves an empty table, nor a
//! claim older than the one it replaced.
//!
//! Compact: a million claims are a million domain names back to back in one
//! string, a hash index of `u32` positions into it, and a 12-byte route
//! each; organization and connection ids are interned the same way.

use std::hash::BuildHasher;
use std::sync::{Arc, RwLock};

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::model::domain::names_on_path;
use crate::store::discovery_domains::RoutedClaim;
use crate::store::{Store, StoreResult};

/// Claims read per query while loading.
const PAGE: i64 = 10_000;

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

/// Strings stored back to back in one allocation, each found by itself
/// (hashed) or by its number. Removing one only unindexes it: its bytes stay
/// until the next reload builds a fresh set.
struct Strings {
    bytes: String,
    /// Where each string starts and ends in `bytes`.
    spans: Vec<(u32, u32)>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Strings {
    fn new() -> Self {
        Strings {
            bytes: String::new(),
            spans: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }

    fn get(&self, number: u32) -> &str {
        let (start, end) = self.spans[number as usize];
        &self.bytes[start as usize..end as usize]
    }

    fn find(&self, s: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(s);
        self.index.find(hash, |&n| self.get(n) == s).copied()
    }

    /// The number of `s`, added if new; `None` once the set outgrows `u32`.
    fn intern(&mut self, s: &str) -> Option<u32> {
        if let Some(found) = self.find(s) {
            return Some(found);
        }
        let number = u32::try_from(self.spans.len()).ok()?;
        let start = u32::try_from(self.bytes.len()).ok()?;
        let end = u32::try_from(self.bytes.len() + s.len()).ok()?;
        self.bytes.push_str(s);
        self.spans.push((start, end));
        let hash = self.hasher.hash_one(s);
        let Strings {
            bytes,
            spans,
            index,
            hasher,
        } = self;
        index.insert_unique(hash, number, |&n| {
            let (start, end) = spans[n as usize];
            hasher.hash_one(&bytes[start as usize..end as usize])
        });
        Some(number)
    }

    fn unindex(&mut self, s: &str) {
        let hash = self.hasher.hash_one(s);
        let Strings {
            bytes,
            spans,
            index,
            ..
        } = self;
        let named = |n: &u32| {
            let (start, end) = spans[*n as usize];
            &bytes[start as usize..end as usize] == s
        };
        if let Ok(entry) = index.find_entry(hash, named) {
            entry.remove();
        }
    }

    fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
            + self.spans.capacity() * std::mem::size_of::<(u32, u32)>()
            + self.index.allocation_size()
    }
}

/// No connection: the organization's default.
const DEFAULT_CONNECTION: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Route {
    /// In `Claims::ids`.
    organization: u32,
    /// In `Claims::ids`, or [`DEFAULT_CONNECTION`].
    connection: u32,
    include_subdomains: bool,
}

/// The claims of one load, updated claim by claim until the next.
struct Claims {
    /// The claimed domains; `routes` has the route of each, by number.
    domains: Strings,
    routes: Vec<Route>,
    /// Organization and connection ids.
    ids: Strings,
    /// Domains indexed now (`domains` keeps removed ones' bytes).
    len: usize,
}

impl Claims {
    fn new() -> Self {
        Claims {
            domains: Strings::new(),
            routes: Vec::new(),
            ids: Strings::new(),
            len: 0,
        }
    }

    fn route_of(&self, domain: &str) -> Option<Route> {
        self.domains
            .find(domain)
            .map(|number| self.routes[number as usize])
    }

    /// The longest claim covering `domain`: its own, else the nearest
    /// above it that includes subdomains.
    fn lookup(&self, domain: &str) -> Option<DomainRoute> {
        let path = names_on_path(domain);
        let (claimed, route) = path.iter().rev().find_map(|name| {
            self.route_of(name)
                .filter(|route| *name == domain || route.include_subdomains)
                .map(|route| (*name, route))
        })?;
        Some(DomainRoute {
            domain: claimed.to_owned(),
            organization_id: self.ids.get(route.organization).to_owned(),
            connection_id: (route.connection != DEFAULT_CONNECTION)
                .then(|| self.ids.get(route.connection).to_owned()),
        })
    }

    /// Sets the route of `domain` to what the store says (`None`: it routes nothing).
    fn set(&mut self, domain: &str, claim: Option<&RoutedClaim>) {
        let Some(claim) = claim else {
            if self.domains.find(domain).is_some() {
                self.domains.unindex(domain);
                self.len -= 1;
            }
            return;
        };
        let route = (|| {
            Some(Route {
                organization: self.ids.intern(&claim.organization_id)?,
                connection: match &claim.connection_id {
                    Some(connection) => self.ids.intern(connection)?,
                    None => DEFAULT_CONNECTION,
                },
                include_subdomains: claim.include_subdomains,
            })
        })();
        let Some(route) = route else {
            tracing::error!(
                domain,
                "the routing table is full; the claim does not route"
            );
            self.set(domain, None);
            return;
        };
        let number = match self.domains.find(domain) {
            Some(number) => number,
            None => match self.domains.intern(domain) {
                Some(number) => {
                    // A domain unindexed earlier gets a new number.
                    self.routes.resize(number as usize + 1, route);
                    self.len += 1;
                    number
                }
                None => {
                    tracing::error!(
                        domain,
                        "the routing table is full; the claim does not route"
                    );
                    return;
                }
            },
        };
        self.routes[number as usize] = route;
    }

    fn heap_bytes(&self) -> usize {
        self.domains.heap_bytes()
            + self.routes.capacity() * std::mem::size_of::<Route>()
            + self.ids.heap_bytes()
    }

    fn shrink(&mut self) {
        for strings in [&mut self.domains, &mut self.ids] {
            strings.bytes.shrink_to_fit();
            strings.spans.shrink_to_fit();
        }
        self.routes.shrink_to_fit();
    }
}

/// What a reload needs to know while it loads.
#[derive(Default)]
struct Updates {
    /// Whether a reload is loading: the domains updated meanwhile are
    /// remembered, to be read again into the new table.
    reloading: bool,
    changed_while_reloading: Vec<String>,
}

#[derive(Clone)]
pub struct RoutingTable {
    store: Store,
    claims: Arc<RwLock<Claims>>,
    /// Held while one claim is read and applied, and while a reload swaps
    /// its table in: updates apply in the order they were read, and none
    /// slips between a reload's load and its swap.
    updates: Arc<tokio::sync::Mutex<Updates>>,
    /// One reload at a time.
    reload: Arc<tokio::sync::Mutex<()>>,
}

/// What [`RoutingTable::stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    pub claims: usize,
    /// The heap the table holds (names, index, routes, ids).
    pub heap_bytes: usize,
}

impl RoutingTable {
    /// An empty table: [`RoutingTable::load`] fills it.
    pub fn new(store: Store) -> Self {
        RoutingTable {
            store,
            claims: Arc::new(RwLock::new(Claims::new())),
            updates: Arc::new(tokio::sync::Mutex::new(Updates::default())),
            reload: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Loads every routing claim (at start-up; later, [`RoutingTable::forget_all`]).
    pub async fn load(&self) -> StoreResult<()> {
        let _one_at_a_time = self.reload.lock().await;
        self.updates.lock().await.reloading = true;
        let loaded = load_claims(&self.store).await;
        let mut updates = self.updates.lock().await;
        updates.reloading = false;
        let changed = std::mem::take(&mut updates.changed_while_reloading);
        let mut claims = match loaded {
            Ok(claims) => claims,
            // The table served stays (it took every update meanwhile).
            Err(e) => return Err(e),
        };
        // Claims written while the pages were read may be older in them
        // than in the table served: read again, under `updates`.
        for domain in changed {
            let claim = self.store.routed_claim(&domain).await?;
            claims.set(&domain, claim.as_ref());
        }
        claims.shrink();
        *self.write() = claims;
        Ok(())
    }

    /// The route of the normalized `domain` (an email's domain), if a
    /// verified domain used for discovery covers it. From memory; the
    /// signature is the store's, which it replaced.
    pub async fn lookup(&self, domain: &str) -> StoreResult<Option<DomainRoute>> {
        Ok(self.route(domain))
    }

    /// [`RoutingTable::lookup`], without the future.
    pub fn route(&self, domain: &str) -> Option<DomainRoute> {
        self.read().lookup(domain)
    }

    /// Re-reads the claim of `domain` after a write to it. Should the store
    /// not answer, the domain stops routing (better no route than a stale one).
    pub async fn forget_domain(&self, domain: &str) {
        let mut updates = self.updates.lock().await;
        let claim = self.store.routed_claim(domain).await;
        if let Err(e) = &claim {
            tracing::warn!(error = %e, domain, "re-reading a domain's claim failed; it routes nothing");
        }
        let claim = claim.ok().flatten();
        self.write().set(domain, claim.as_ref());
        if updates.reloading {
            updates.changed_while_reloading.push(domain.to_owned());
        }
    }

    /// Reloads every route (organizations were deleted, or changes may have
    /// been missed); the current table serves until the new one is loaded.
    pub async fn forget_all(&self) {
        if let Err(e) = self.load().await {
            tracing::warn!(error = %e, "reloading the routing table failed; the loaded one stays");
        }
    }

    /// How many claims route, and the memory they take.
    pub fn stats(&self) -> TableStats {
        let claims = self.read();
        TableStats {
            claims: claims.len,
            heap_bytes: claims.heap_bytes(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Claims> {
        // A writer never panics while holding the lock (`set` does not);
        // were it poisoned, the claims in it are still whole.
        self.claims
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Claims> {
        self.claims
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn load_claims(store: &Store) -> StoreResult<Claims> {
    let mut claims = Claims::new();
    let mut after = String::new();
    loop {
        let page = store.routed_claims_page(&after, PAGE).await?;
        for claim in &page {
            claims.set(&claim.domain, Some(claim));
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => after.clone_from(&last.domain),
            _ => return Ok(claims),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(domain: &str, organization: &str, include_subdomains: bool) -> RoutedClaim {
        RoutedClaim {
            domain: domain.into(),
            organization_id: organization.into(),
            connection_id: None,
            include_subdomains,
        }
    }

    fn routed(claims: &Claims, domain: &str) -> Option<(String, String)> {
        claims
            .lookup(domain)
            .map(|route| (route.domain, route.organization_id))
    }

    #[test]
    fn the_longest_covering_claim_routes() {
        let mut claims = Claims::new();
        claims.set("acme.com", Some(&claim("acme.com", "org_a", true)));
        claims.set("eu.acme.com", Some(&claim("eu.acme.com", "org_b", false)));
        claims.set("globex.com", Some(&claim("globex.com", "org_g", false)));
        let pair = |d: &str, o: &str| Some((d.to_owned(), o.to_owned()));
        assert_eq!(routed(&claims, "acme.com"), pair("acme.com", "org_a"));
        assert_eq!(routed(&claims, "eu.acme.com"), pair("eu.acme.com", "org_b"));
        // eu.acme.com does not include subdomains: acme.com covers below it.
        assert_eq!(routed(&claims, "x.eu.acme.com"), pair("acme.com", "org_a"));
        assert_eq!(routed(&claims, "notacme.com"), None);
        assert_eq!(routed(&claims, "eu.globex.com"), None);
        assert_eq!(routed(&claims, "com"), None);
        assert_eq!(claims.len, 3);

        // Moved to another organization and bound to a connection, then gone.
        let mut moved = claim("acme.com", "org_b", true);
        moved.connection_id = Some("con_1".into());
        claims.set("acme.com", Some(&moved));
        let route = claims.lookup("mail.acme.com").unwrap();
        assert_eq!(route.organization_id, "org_b");
        assert_eq!(route.connection_id.as_deref(), Some("con_1"));
        claims.set("acme.com", None);
        assert_eq!(routed(&claims, "mail.acme.com"), None);
        assert_eq!(claims.len, 2);
        // Claimed again after being removed.
        claims.set("acme.com", Some(&claim("acme.com", "org_c", false)));
        assert_eq!(routed(&claims, "acme.com"), pair("acme.com", "org_c"));
        assert_eq!(routed(&claims, "eu.acme.com"), pair("eu.acme.com", "org_b"));
        assert_eq!(claims.len, 3);
    }
}
