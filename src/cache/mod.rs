//! Read-mostly data served from memory. Clients are read on every token
//! request; the store is asked once per TTL or after a write on this node
//! invalidates the entry.
//!
//! Several nodes: a write on one node reaches the others' caches within the
//! TTL (LISTEN/NOTIFY invalidation is planned with the routing snapshot).

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use crate::model::client::Client;
use crate::store::{Store, StoreError};

const TTL: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct ClientCache {
    clients: Cache<String, Option<Arc<Client>>>,
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
    }
}
