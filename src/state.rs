//! What every request handler shares.

use std::sync::Arc;

use crate::cache::{Change, ClientCache, OrganizationCache, SettingsCache};
use crate::clock::Clock;
use crate::keys::KeyRing;
use crate::store::Store;

/// The issuer identifier and the URLs derived from it. The identifier is used
/// byte for byte as configured (`iss`); endpoint URLs hang off it without a
/// doubled slash.
#[derive(Debug, Clone)]
pub struct Issuer {
    identifier: String,
    base: String,
}

impl Issuer {
    pub fn new(identifier: &str) -> Self {
        Issuer {
            identifier: identifier.to_owned(),
            base: identifier.trim_end_matches('/').to_owned(),
        }
    }

    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Whether the server runs on this machine only (a localhost issuer):
    /// development and tests, where clients live on loopback too.
    pub fn is_local(&self) -> bool {
        url::Url::parse(&self.identifier).is_ok_and(|url| crate::model::is_loopback_host(&url))
    }

    /// The audience of Management API tokens, as Auth0 spells it
    /// (`https://tenant/api/v2/`, trailing slash included).
    pub fn management_audience(&self) -> String {
        self.url("/api/v2/")
    }
}

pub struct AppInner {
    pub issuer: Issuer,
    /// What time it is (the system clock; a test's own in tests).
    pub clock: Clock,
    pub store: Store,
    pub keys: KeyRing,
    pub clients: ClientCache,
    pub organizations: OrganizationCache,
    pub settings: SettingsCache,
    /// Outbound HTTP (back-channel logout tokens), without redirects.
    pub http: reqwest::Client,
    /// Whether `X-Forwarded-For` names the client (see `http::ClientIp`).
    pub trust_forwarded_for: bool,
    /// Whether responses carry HSTS: an https issuer, not the dev certificate.
    pub strict_transport_security: bool,
}

#[derive(Clone)]
pub struct AppState(pub Arc<AppInner>);

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    /// After a write that makes cached data stale: drops it from this
    /// node's caches, then tells the other nodes sharing the database. A
    /// notification that cannot be sent is logged, not failed: the write has
    /// committed, and the other nodes' TTL bounds how long they lag.
    pub async fn cached_data_changed(&self, change: Change) {
        self.forget(&change).await;
        if let Err(e) = self.store.notify_change(&change.to_message()).await {
            tracing::warn!(error = %e, ?change, "could not tell the other nodes of a change");
        }
    }

    /// Drops what `change` made stale from this node's caches.
    pub async fn forget(&self, change: &Change) {
        match change {
            Change::Client { client_id } => self.clients.invalidate(client_id).await,
            Change::ClientGrant {
                client_id,
                audience,
            } => self.clients.invalidate_grant(client_id, audience).await,
            Change::Connections => {
                self.clients.invalidate_connections();
                self.organizations.invalidate_enabled_connections();
            }
            Change::Organizations => self.organizations.invalidate_all(),
            Change::TenantSettings => self.settings.invalidate().await,
            Change::SigningKeys => {
                if let Err(e) = self.keys.reload(&self.store).await {
                    tracing::warn!(error = %e, "reloading signing keys failed");
                }
            }
        }
    }

    /// Drops everything cached (changes may have been missed).
    pub async fn forget_everything(&self) {
        self.clients.invalidate_all();
        self.organizations.invalidate_all();
        self.settings.invalidate().await;
        self.forget(&Change::SigningKeys).await;
    }
}
