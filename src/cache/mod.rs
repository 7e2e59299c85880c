//! Read-mostly data served from memory. Clients and their grants are read on
//! every token request, the connections enabled for a client on every
//! `/authorize`, an organization and its enabled connections on every
//! organization login, the tenant settings on every organization token, an
//! API (resource server) on every token issued for it; the
//! store is asked once per TTL or after a write invalidates the entry.
//! Memberships are never cached: removing a member takes effect at once.
//!
//! Several nodes: a write on one node is sent to the others as a [`Change`]
//! (PostgreSQL LISTEN/NOTIFY, see `AppState::cached_data_changed`), which
//! drop the entry at once; the TTL bounds staleness should a notification
//! be lost.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::future::Cache;
use serde::{Deserialize, Serialize};

use crate::metrics::{CacheCounters, Metrics};
use crate::model::client::{Client, ClientGrant};
use crate::model::connection::Connection;
use crate::model::organization::Organization;
use crate::model::origin::OriginSet;
use crate::model::resource_server::{MAX_IDENTIFIER_CHARS, ResourceServer};
use crate::model::tenant::TenantSettings;
use crate::store::organizations::EnabledConnectionView;
use crate::store::{Page, Store, StoreError};

const TTL: Duration = Duration::from_secs(30);

/// A write that makes cached data stale, as sent between nodes (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "changed", rename_all = "snake_case")]
pub enum Change {
    Client {
        client_id: String,
    },
    ClientGrant {
        client_id: String,
        audience: String,
    },
    /// A connection was created, changed or deleted: which clients it is
    /// enabled for, and how organizations list it, may have changed.
    Connections,
    /// An organization or its enabled connections changed. Organizations
    /// are cached by id and by name, so all of them go (writes are rare).
    Organizations,
    TenantSettings,
    /// The API of this identifier was created, changed or deleted.
    ResourceServer {
        identifier: String,
    },
    /// The claim of this (normalized) domain was created, changed, verified,
    /// demoted, transferred or deleted: its route may have changed.
    DiscoveryDomain {
        domain: String,
    },
    /// The signing keys were rotated or one was revoked: the key ring is
    /// read again (it is also re-read every minute).
    SigningKeys,
}

impl Change {
    pub fn to_message(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_message(message: &str) -> Option<Self> {
        serde_json::from_str(message).ok()
    }
}

/// A moka cache filled from the store, whose fills cannot outlive an
/// invalidation that raced them: a fill that read the store before a write
/// committed must not land after that write's invalidation and serve the old
/// value for a whole TTL. Every invalidation bumps a generation first; a fill
/// that finds it moved after inserting drops what it inserted.
///
/// Every cache here is the same moka type underneath, keyed by string and
/// holding `V` behind `dyn Any`: moka is compiled once for each pair of
/// key and value types (≈ 130 KiB of machine code each, most of it mapped
/// by a server at rest), and this one type replaced eight.
struct FilledCache<V> {
    entries: Cache<String, AnyValue>,
    generation: Arc<AtomicU64>,
    /// Hits and misses, counted into the metrics.
    counters: CacheCounters,
    value: PhantomData<fn() -> V>,
}

type AnyValue = Arc<dyn Any + Send + Sync>;

impl<V> Clone for FilledCache<V> {
    fn clone(&self) -> Self {
        FilledCache {
            entries: self.entries.clone(),
            generation: self.generation.clone(),
            counters: self.counters.clone(),
            value: PhantomData,
        }
    }
}

impl<V> FilledCache<V>
where
    V: Clone + Send + Sync + 'static,
{
    fn new(capacity: u64, counters: CacheCounters) -> Self {
        FilledCache {
            entries: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(TTL)
                .build(),
            generation: Arc::new(AtomicU64::new(0)),
            counters,
            value: PhantomData,
        }
    }

    /// The cached value of `key`, or what `load` reads from the store.
    async fn get_or_load<F, Fut>(&self, key: &str, load: F) -> Result<V, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, StoreError>>,
    {
        let hit = self.entries.get(key).await;
        let hit = hit.as_ref().and_then(|hit| {
            let typed = hit.downcast_ref::<V>();
            debug_assert!(typed.is_some(), "a cache holds only its own V");
            typed
        });
        if let Some(hit) = hit {
            self.counters.hits.inc();
            return Ok(hit.clone());
        }
        self.counters.misses.inc();
        let generation = self.generation.load(Ordering::Acquire);
        let loaded = load().await?;
        self.entries
            .insert(key.to_owned(), Arc::new(loaded.clone()))
            .await;
        if self.generation.load(Ordering::Acquire) != generation {
            self.entries.invalidate(key).await;
        }
        Ok(loaded)
    }

    async fn invalidate(&self, key: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate(key).await;
    }

    fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }
}

/// The key of a cache that holds one entry.
const ONLY_ENTRY: &str = "";

/// The key of a client's grant for an API: the client id's length first,
/// so that no other pair of strings makes the same key.
fn grant_key(client_id: &str, audience: &str) -> String {
    format!("{}:{client_id}{audience}", client_id.len())
}

/// `None` for "there is none": remembered too, so that unknown ids cannot
/// hammer the store.
fn found<T>(result: Result<T, StoreError>) -> Result<Option<Arc<T>>, StoreError> {
    match result {
        Ok(value) => Ok(Some(Arc::new(value))),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

#[derive(Clone)]
pub struct ClientCache {
    clients: FilledCache<Option<Arc<Client>>>,
    /// By client id and audience (`grant_key`).
    grants: FilledCache<Option<Arc<ClientGrant>>>,
    /// The connections enabled for each client, by client id.
    connections: FilledCache<Arc<Vec<Connection>>>,
    /// Every client's CORS origins together, for preflights (one entry).
    registered_origins: FilledCache<Arc<OriginSet>>,
}

impl ClientCache {
    pub fn new(metrics: &Metrics) -> Self {
        ClientCache {
            clients: FilledCache::new(10_000, metrics.cache("clients")),
            grants: FilledCache::new(10_000, metrics.cache("client_grants")),
            connections: FilledCache::new(10_000, metrics.cache("client_connections")),
            registered_origins: FilledCache::new(1, metrics.cache("registered_origins")),
        }
    }

    /// The client, or `None` when it does not exist.
    pub async fn get(
        &self,
        store: &Store,
        client_id: &str,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        self.clients
            .get_or_load(client_id, || async {
                found(store.get_client(client_id).await)
            })
            .await
    }

    pub async fn invalidate(&self, client_id: &str) {
        self.clients.invalidate(client_id).await;
        self.connections.invalidate(client_id).await;
        self.registered_origins.invalidate(ONLY_ENTRY).await;
    }

    /// The origins any client registers for CORS.
    pub async fn registered_origins(&self, store: &Store) -> Result<Arc<OriginSet>, StoreError> {
        self.registered_origins
            .get_or_load(ONLY_ENTRY, || async {
                Ok(Arc::new(store.registered_origins().await?))
            })
            .await
    }

    /// The connections enabled for `client_id`.
    pub async fn client_connections(
        &self,
        store: &Store,
        client_id: &str,
    ) -> Result<Arc<Vec<Connection>>, StoreError> {
        self.connections
            .get_or_load(client_id, || async {
                Ok(Arc::new(store.list_client_connections(client_id).await?))
            })
            .await
    }

    /// After any connection is created, changed or deleted: which clients
    /// it is enabled for may have changed, so every client's list goes.
    pub fn invalidate_connections(&self) {
        self.connections.invalidate_all();
    }

    pub fn invalidate_all(&self) {
        self.clients.invalidate_all();
        self.grants.invalidate_all();
        self.connections.invalidate_all();
        self.registered_origins.invalidate_all();
    }

    /// The grant of `client_id` for `audience`, if any (absence remembered too).
    pub async fn grant(
        &self,
        store: &Store,
        client_id: &str,
        audience: &str,
    ) -> Result<Option<Arc<ClientGrant>>, StoreError> {
        self.grants
            .get_or_load(&grant_key(client_id, audience), || async {
                Ok(store
                    .find_client_grant(client_id, audience)
                    .await?
                    .map(Arc::new))
            })
            .await
    }

    pub async fn invalidate_grant(&self, client_id: &str, audience: &str) {
        self.grants
            .invalidate(&grant_key(client_id, audience))
            .await;
    }
}

/// Organizations by id and by name, and the connections each enables.
#[derive(Clone)]
pub struct OrganizationCache {
    /// By id (`org_…`) or lowercase name; `None` remembers an unknown one.
    organizations: FilledCache<Option<Arc<Organization>>>,
    /// By organization id.
    enabled_connections: FilledCache<Arc<Vec<EnabledConnectionView>>>,
}

impl OrganizationCache {
    pub fn new(metrics: &Metrics) -> Self {
        OrganizationCache {
            organizations: FilledCache::new(10_000, metrics.cache("organizations")),
            enabled_connections: FilledCache::new(
                10_000,
                metrics.cache("organization_connections"),
            ),
        }
    }

    /// The organization named by id (`org_…`) or by name (any case), as
    /// Auth0's `organization` parameter allows.
    pub async fn find(
        &self,
        store: &Store,
        id_or_name: &str,
    ) -> Result<Arc<Organization>, StoreError> {
        let by_id = crate::model::ids::has_prefix(id_or_name, crate::model::ids::ORGANIZATION);
        let key = if by_id {
            id_or_name.to_owned()
        } else {
            id_or_name.to_ascii_lowercase()
        };
        self.organizations
            .get_or_load(key.as_str(), || async {
                found(if by_id {
                    store.get_organization(&key).await
                } else {
                    store.get_organization_by_name(&key).await
                })
            })
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The connections `organization_id` enables.
    pub async fn enabled_connections(
        &self,
        store: &Store,
        organization_id: &str,
    ) -> Result<Arc<Vec<EnabledConnectionView>>, StoreError> {
        self.enabled_connections
            .get_or_load(organization_id, || async {
                Ok(Arc::new(
                    store
                        .list_enabled_connections(organization_id, &Page::all())
                        .await?,
                ))
            })
            .await
    }

    pub fn invalidate_all(&self) {
        self.organizations.invalidate_all();
        self.enabled_connections.invalidate_all();
    }

    /// Connections changed: the organizations' views of them go.
    pub fn invalidate_enabled_connections(&self) {
        self.enabled_connections.invalidate_all();
    }
}

/// APIs (resource servers) by identifier, the `audience` of a token
/// request; `None` remembers an unknown one.
#[derive(Clone)]
pub struct ResourceServerCache {
    by_identifier: FilledCache<Option<Arc<ResourceServer>>>,
}

impl ResourceServerCache {
    pub fn new(metrics: &Metrics) -> Self {
        ResourceServerCache {
            by_identifier: FilledCache::new(10_000, metrics.cache("resource_servers")),
        }
    }

    /// The API of `identifier`; `NotFound` when there is none.
    pub async fn by_identifier(
        &self,
        store: &Store,
        identifier: &str,
    ) -> Result<Arc<ResourceServer>, StoreError> {
        // Longer than any API's: not worth a lookup, nor a cache entry.
        if identifier.chars().count() > MAX_IDENTIFIER_CHARS {
            return Err(StoreError::NotFound);
        }
        self.by_identifier
            .get_or_load(identifier, || async {
                found(store.get_resource_server_by_identifier(identifier).await)
            })
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn invalidate(&self, identifier: &str) {
        self.by_identifier.invalidate(identifier).await;
    }

    pub fn invalidate_all(&self) {
        self.by_identifier.invalidate_all();
    }
}

/// The tenant settings: one row set, read by every token issued for an
/// organization (`org_name`), written by an administrator now and then.
#[derive(Clone)]
pub struct SettingsCache {
    settings: FilledCache<Arc<TenantSettings>>,
}

impl SettingsCache {
    pub fn new(metrics: &Metrics) -> Self {
        SettingsCache {
            settings: FilledCache::new(1, metrics.cache("tenant_settings")),
        }
    }

    pub async fn get(&self, store: &Store) -> Result<Arc<TenantSettings>, StoreError> {
        self.settings
            .get_or_load(ONLY_ENTRY, || async {
                Ok(Arc::new(store.tenant_settings().await?))
            })
            .await
    }

    pub async fn invalidate(&self) {
        self.settings.invalidate(ONLY_ENTRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fill_that_raced_an_invalidation_is_not_kept() -> Result<(), StoreError> {
        let counters = CacheCounters::default();
        let cache: FilledCache<u32> = FilledCache::new(10, counters.clone());
        // The write's invalidation lands while the fill is reading.
        let raced = cache
            .get_or_load("k", || async {
                cache.invalidate("k").await;
                Ok(1)
            })
            .await?;
        assert_eq!(raced, 1, "the reader still gets what it read");
        assert_eq!(cache.get_or_load("k", || async { Ok(2) }).await?, 2);
        assert_eq!(
            cache.get_or_load("k", || async { Ok(3) }).await?,
            2,
            "an undisturbed fill is kept"
        );
        cache.invalidate_all();
        assert_eq!(cache.get_or_load("k", || async { Ok(4) }).await?, 4);
        // Only the undisturbed fill's second read was served from memory.
        assert_eq!((counters.hits.get(), counters.misses.get()), (1, 3));
        Ok(())
    }

    #[test]
    fn grant_keys_of_different_pairs_differ() {
        assert_ne!(grant_key("ab", "c"), grant_key("a", "bc"));
        assert_ne!(grant_key("1:a", "b"), grant_key("1", ":ab"));
        assert_eq!(
            grant_key("abc", "https://api/"),
            grant_key("abc", "https://api/")
        );
    }

    #[test]
    fn changes_travel_as_json_and_garbage_is_ignored() {
        let changes = [
            Change::Client {
                client_id: "abc".into(),
            },
            Change::ClientGrant {
                client_id: "abc".into(),
                audience: "https://api.example/".into(),
            },
            Change::Connections,
            Change::Organizations,
            Change::TenantSettings,
            Change::ResourceServer {
                identifier: "https://api.example/".into(),
            },
            Change::SigningKeys,
        ];
        for change in changes {
            assert_eq!(Change::from_message(&change.to_message()), Some(change));
        }
        assert_eq!(
            Change::Connections.to_message(),
            r#"{"changed":"connections"}"#
        );
        assert_eq!(Change::from_message("{\"changed\":\"unknown\"}"), None);
        assert_eq!(Change::from_message("not json"), None);
    }
}
