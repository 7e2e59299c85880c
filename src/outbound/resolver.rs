//! Name resolution for outbound requests: the addresses a name resolves to
//! are checked, all of them, and are what reqwest connects to.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::Destinations;

/// Resolves with `names`, then refuses the name if any of its addresses is
/// not an allowed destination. Any, not all: were only the refused ones
/// dropped, a name answering with a public and a private address would
/// still reach the private one whenever the public one fails, and its
/// owner could flip which one that is (DNS rebinding).
pub struct CheckedResolver {
    names: Arc<dyn Resolve>,
    destinations: Arc<Destinations>,
}

impl CheckedResolver {
    pub fn new(names: Arc<dyn Resolve>, destinations: Arc<Destinations>) -> Self {
        CheckedResolver {
            names,
            destinations,
        }
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let destinations = Arc::clone(&self.destinations);
        if let Err(refused) = destinations.check_host(&url::Host::Domain(host.as_str())) {
            return Box::pin(std::future::ready(Err(refused.into())));
        }
        let resolving = self.names.resolve(name);
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = resolving.await?.collect();
            if addresses.is_empty() {
                return Err(format!("{host} resolves to no address").into());
            }
            destinations.check_resolved(&host, addresses.iter().map(SocketAddr::ip))?;
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// The system's resolver (getaddrinfo: `/etc/hosts`, then DNS as the host
/// is configured, so an intranet's names resolve as they do for everything
/// else on the machine).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemNames;

impl Resolve for SystemNames {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// Names resolved from a fixed table, never from DNS: tests map their
/// names (`rebind.test`) to the addresses they need.
#[derive(Debug, Clone, Default)]
pub struct StaticNames(HashMap<String, Vec<IpAddr>>);

impl StaticNames {
    #[must_use]
    pub fn with(mut self, name: &str, addresses: &[IpAddr]) -> Self {
        self.0.insert(name.to_owned(), addresses.to_vec());
        self
    }
}

impl Resolve for StaticNames {
    fn resolve(&self, name: Name) -> Resolving {
        let found = match self.0.get(name.as_str()) {
            Some(addresses) => {
                let addresses: Vec<SocketAddr> =
                    addresses.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
                Ok(Box::new(addresses.into_iter()) as Addrs)
            }
            None => Err(format!("{} is not in the table", name.as_str()).into()),
        };
        Box::pin(std::future::ready(found))
    }
}
