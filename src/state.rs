//! What every request handler shares.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

use crate::cache::{Change, ClientCache, OrganizationCache, ResourceServerCache, SettingsCache};
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

    /// The tenant's name when none is configured: the issuer host's first
    /// label (`acme` for `https://acme.example.com/`), `switchyard` for an
    /// IP address or localhost.
    pub fn default_tenant_name(&self) -> String {
        url::Url::parse(&self.identifier)
            .ok()
            .and_then(|url| match url.host() {
                Some(url::Host::Domain(host)) if host != "localhost" => host
                    .split('.')
                    .next()
                    .filter(|label| !label.is_empty())
                    .map(str::to_ascii_lowercase),
                _ => None,
            })
            .unwrap_or_else(|| "switchyard".to_owned())
    }

    /// The audience of Management API tokens, as Auth0 spells it
    /// (`https://tenant/api/v2/`, trailing slash included).
    pub fn management_audience(&self) -> String {
        self.url("/api/v2/")
    }
}

pub struct AppInner {
    pub issuer: Issuer,
    /// In SAML entity IDs (`urn:auth0:<tenant>:<connection>`).
    pub tenant_name: String,
    /// What time it is (the system clock; a test's own in tests).
    pub clock: Clock,
    pub store: Store,
    pub keys: KeyRing,
    pub clients: ClientCache,
    pub organizations: OrganizationCache,
    pub settings: SettingsCache,
    /// APIs by identifier, for the tokens issued for them.
    pub resource_servers: ResourceServerCache,
    /// Verified domains → organization and connection (home-realm discovery).
    pub routing: crate::routing::RoutingTable,
    /// Discovery domains' TXT lookups and grace period.
    pub domain_verifier: crate::flows::domain_verification::DomainVerifier,
    /// What `/metrics` reports, counted into as requests are served.
    pub metrics: crate::metrics::Metrics,
    /// Every request the server makes (back-channel logout tokens), to
    /// allowed destinations only.
    pub outbound: crate::outbound::Outbound,
    /// The upstream connectors, built from their connections and cached.
    pub connectors: crate::connectors::Connectors,
    /// What requests leave running after their response (back-channel
    /// logout deliveries).
    pub background: BackgroundTasks,
    /// Whether `X-Forwarded-For` names the client (see `http::ClientIp`).
    pub trust_forwarded_for: bool,
    /// Whether responses carry HSTS: an https issuer, not the dev certificate.
    pub strict_transport_security: bool,
}

/// Tasks that requests leave running after their response, counted, so
/// that a test can wait until they are done (`settled`) instead of sleeping.
#[derive(Debug, Clone)]
pub struct BackgroundTasks {
    running: Arc<watch::Sender<usize>>,
}

impl Default for BackgroundTasks {
    fn default() -> Self {
        BackgroundTasks {
            running: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl BackgroundTasks {
    /// Spawns `task`, counted as running until it finishes (or panics, or
    /// is cancelled).
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.running.send_modify(|running| *running += 1);
        let counted = Running(Arc::clone(&self.running));
        tokio::spawn(async move {
            let _counted = counted;
            task.await;
        });
    }

    /// Waits until no task spawned here is running.
    pub async fn settled(&self) {
        let mut running = self.running.subscribe();
        // Fails only once the sender is gone, and `self` holds it.
        let _ = running.wait_for(|running| *running == 0).await;
    }
}

/// One running task, counted out when dropped.
#[derive(Debug)]
struct Running(Arc<watch::Sender<usize>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0
            .send_modify(|running| *running = running.saturating_sub(1));
    }
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

    /// After a write to the claim of `domain`: every node's routing table
    /// reads it again.
    pub async fn domain_changed(&self, domain: &str) {
        self.cached_data_changed(Change::DiscoveryDomain {
            domain: domain.to_owned(),
        })
        .await;
    }

    /// After a write to the API of `identifier` (created, changed,
    /// deleted): every node reads it again.
    pub async fn resource_server_changed(&self, identifier: &str) {
        self.cached_data_changed(Change::ResourceServer {
            identifier: identifier.to_owned(),
        })
        .await;
    }

    /// After a write that moved these domains' routes: every node reads
    /// each again.
    pub async fn domains_changed(&self, domains: Vec<String>) {
        for domain in &domains {
            self.domain_changed(domain).await;
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
                self.connectors.invalidate_all();
                self.clients.invalidate_connections();
                self.organizations.invalidate_enabled_connections();
            }
            // Routing is told apart: a write that moves domains (a
            // connection deleted or disabled, an organization deleted)
            // sends each domain's own change (`domains_changed`), so an
            // organization's write never re-reads the routing table.
            Change::Organizations => self.organizations.invalidate_all(),
            Change::DiscoveryDomain { domain } => self.routing.forget_domain(domain).await,
            Change::TenantSettings => self.settings.invalidate().await,
            Change::ResourceServer { identifier } => {
                self.resource_servers.invalidate(identifier).await;
            }
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
        self.connectors.invalidate_all();
        self.settings.invalidate().await;
        self.resource_servers.invalidate_all();
        self.routing.forget_all().await;
        self.forget(&Change::SigningKeys).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_tenant_name_is_the_issuer_hosts_first_label() {
        let tenant = |issuer: &str| Issuer::new(issuer).default_tenant_name();
        assert_eq!(tenant("https://Acme.example.com/"), "acme");
        assert_eq!(tenant("https://localhost:8443/"), "switchyard");
        assert_eq!(tenant("http://127.0.0.1:8443/"), "switchyard");
        assert_eq!(tenant("https://[::1]/"), "switchyard");
    }

    /// Whether `future` is still pending when polled once.
    async fn pending(future: &mut (impl Future<Output = ()> + Unpin)) -> bool {
        tokio::select! {
            biased;
            () = future => false,
            () = std::future::ready(()) => true,
        }
    }

    #[tokio::test]
    async fn settled_waits_until_every_task_is_done() {
        let tasks = BackgroundTasks::default();
        tasks.settled().await;

        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let (finish, mut finished) = tokio::sync::oneshot::channel();
        tasks.spawn(async move {
            let _ = released.await;
            let _ = finish.send(());
        });
        tasks.spawn(async { panic!("a task that panics is done too") });
        let mut settled = Box::pin(tasks.settled());
        assert!(pending(&mut settled).await, "settled while a task runs");
        let _ = release.send(());
        settled.await;
        assert!(finished.try_recv().is_ok(), "settled before the task ended");
    }
}
