//! Read-mostly data served from memory. Clients and their grants are read on
//! every token request, the connections enabled for a client on every
//! `/authorize`, an organization and its enabled connections on every
//! organization login, the tenant settings on every organization token; the
//! store is asked once per TTL or after a write invalidates the entry.
//! Memberships are never cached: removing a member takes effect at once.
//!
//! Several nodes: a write on one node is sent to the others as a [`Change`]
//! (PostgreSQL LISTEN/NOTIFY, see `AppState::cached_data_changed`), which
//! drop the entry at once; the TTL bounds staleness should a notification
//! be lost.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use serde::{Deserialize, Serialize};

use crate::model::client::{Client, ClientGrant};
use crate::model::connection::Connection;
use crate::model::organization::Organization;
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
    /// The signing keys were rotated: the key ring is read again (it is
    /// also re-read every minute).
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

#[derive(Clone)]
pub struct ClientCache {
    clients: Cache<String, Option<Arc<Client>>>,
    /// By (client_id, audience).
    grants: Cache<(String, String), Option<Arc<ClientGrant>>>,
    /// The connections enabled for each client, by client id.
    connections: Cache<String, Arc<Vec<Connection>>>,
}

impl Default for ClientCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientCache {
    pub fn new() -> Self {
        ClientCache {
            clients: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TTL)
                .build(),
            grants: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TTL)
                .build(),
            connections: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TTL)
                .build(),
        }
    }

    /// The client, or `None` when it does not exist (remembered too, so that
    /// unknown client ids cannot hammer the store).
    pub async fn get(
        &self,
        store: &Store,
        client_id: &str,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(hit) = self.clients.get(client_id).await {
            return Ok(hit);
        }
        let loaded = match store.get_client(client_id).await {
            Ok(client) => Some(Arc::new(client)),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        self.clients
            .insert(client_id.to_owned(), loaded.clone())
            .await;
        Ok(loaded)
    }

    pub async fn invalidate(&self, client_id: &str) {
        self.clients.invalidate(client_id).await;
        self.connections.invalidate(client_id).await;
    }

    /// The connections enabled for `client_id`.
    pub async fn client_connections(
        &self,
        store: &Store,
        client_id: &str,
    ) -> Result<Arc<Vec<Connection>>, StoreError> {
        if let Some(hit) = self.connections.get(client_id).await {
            return Ok(hit);
        }
        let loaded = Arc::new(store.list_client_connections(client_id).await?);
        self.connections
            .insert(client_id.to_owned(), loaded.clone())
            .await;
        Ok(loaded)
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
    }

    /// The grant of `client_id` for `audience`, if any (absence remembered too).
    pub async fn grant(
        &self,
        store: &Store,
        client_id: &str,
        audience: &str,
    ) -> Result<Option<Arc<ClientGrant>>, StoreError> {
        let key = (client_id.to_owned(), audience.to_owned());
        if let Some(hit) = self.grants.get(&key).await {
            return Ok(hit);
        }
        let loaded = store
            .find_client_grant(client_id, audience)
            .await?
            .map(Arc::new);
        self.grants.insert(key, loaded.clone()).await;
        Ok(loaded)
    }

    pub async fn invalidate_grant(&self, client_id: &str, audience: &str) {
        self.grants
            .invalidate(&(client_id.to_owned(), audience.to_owned()))
            .await;
    }
}

/// Organizations by id and by name, and the connections each enables.
#[derive(Clone)]
pub struct OrganizationCache {
    /// By id (`org_…`) or lowercase name; `None` remembers an unknown one.
    organizations: Cache<String, Option<Arc<Organization>>>,
    /// By organization id.
    enabled_connections: Cache<String, Arc<Vec<EnabledConnectionView>>>,
}

impl Default for OrganizationCache {
    fn default() -> Self {
        Self::new()
    }
}

impl OrganizationCache {
    pub fn new() -> Self {
        OrganizationCache {
            organizations: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TTL)
                .build(),
            enabled_connections: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TTL)
                .build(),
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
        if let Some(hit) = self.organizations.get(&key).await {
            return hit.ok_or(StoreError::NotFound);
        }
        let found = if by_id {
            store.get_organization(&key).await
        } else {
            store.get_organization_by_name(&key).await
        };
        let loaded = match found {
            Ok(org) => Some(Arc::new(org)),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        self.organizations.insert(key, loaded.clone()).await;
        loaded.ok_or(StoreError::NotFound)
    }

    /// The connections `organization_id` enables.
    pub async fn enabled_connections(
        &self,
        store: &Store,
        organization_id: &str,
    ) -> Result<Arc<Vec<EnabledConnectionView>>, StoreError> {
        if let Some(hit) = self.enabled_connections.get(organization_id).await {
            return Ok(hit);
        }
        let loaded = Arc::new(
            store
                .list_enabled_connections(organization_id, &Page::all())
                .await?,
        );
        self.enabled_connections
            .insert(organization_id.to_owned(), loaded.clone())
            .await;
        Ok(loaded)
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

/// The tenant settings: one row set, read by every token issued for an
/// organization (`org_name`), written by an administrator now and then.
#[derive(Clone)]
pub struct SettingsCache {
    settings: Cache<(), Arc<TenantSettings>>,
}

impl Default for SettingsCache {
    fn default() -> Self {
        Self::new()
    }
}

impl SettingsCache {
    pub fn new() -> Self {
        SettingsCache {
            settings: Cache::builder().max_capacity(1).time_to_live(TTL).build(),
        }
    }

    pub async fn get(&self, store: &Store) -> Result<Arc<TenantSettings>, StoreError> {
        if let Some(hit) = self.settings.get(&()).await {
            return Ok(hit);
        }
        let loaded = Arc::new(store.tenant_settings().await?);
        self.settings.insert((), loaded.clone()).await;
        Ok(loaded)
    }

    pub async fn invalidate(&self) {
        self.settings.invalidate(&()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
