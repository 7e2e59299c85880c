//! Every request the server itself makes goes through [`Outbound`]: back-
//! channel logout tokens today; upstream IdP metadata, JWKS, token and
//! userinfo calls with federation. It is built once, in the application
//! state, and cheap to clone.
//!
//! A URL registered by a client or an administrator must not make the
//! server reach this machine, the private network or the cloud's metadata
//! service (SSRF). [`Outbound::request`] checks the URL first
//! ([`Destinations::check_url`]: https only, address literals decided by
//! the special-purpose registries, since reqwest connects to a literal
//! without asking the resolver; `localhost` names); names are resolved
//! by [`CheckedResolver`], which refuses a name when any of its addresses
//! is refused, and reqwest connects to the addresses it checked (no second
//! lookup, so a name cannot change its answer in between). Redirects are
//! not followed (a 3xx is the answer), proxies from the environment are not
//! used (the proxy would resolve the name), and every request has a
//! deadline. Callers that read a body bound it with [`read_body`].

mod resolver;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ipnet::IpNet;

pub use crate::model::address::{Destinations, Refused};
pub use resolver::{CheckedResolver, StaticNames, SystemNames};

/// How long a connection (TCP and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take, unless its caller sets less.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes aws-lc-rs the process's TLS crypto, for the listener and for
/// [`Outbound`]: the library that already signs tokens (jsonwebtoken) and
/// certificates (rcgen). reqwest is built without a provider of its own, so
/// the binary carries one crypto library in Rust, not two (ring).
pub fn install_tls_crypto() {
    // An error says one is installed already (a second server in a test).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// `[outbound]` in the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Networks requests may go to although they are not public: an
    /// intranet's IdPs (`10.0.0.0/8`, `fd00::/8`, …).
    pub allowed_networks: Vec<IpNet>,
    /// Exact origins requests may go to whatever their address: set by the
    /// serving process for the demo IdP it runs, never by the file.
    pub admitted_origins: Vec<url::Origin>,
}

/// Why a server-side request was not made, or failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("invalid URL: {0}")]
    Url(#[from] url::ParseError),
    #[error("refused: {0}")]
    Refused(#[from] Refused),
    #[error("the response is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error(transparent)]
    Http(reqwest::Error),
}

impl From<reqwest::Error> for OutboundError {
    /// A refusal of the resolver reaches the caller inside reqwest's
    /// connect error: it is taken out, so that callers can tell it apart.
    fn from(error: reqwest::Error) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<Refused>() {
                return OutboundError::Refused(refused.clone());
            }
            source = cause.source();
        }
        OutboundError::Http(error)
    }
}

/// The server's HTTP client for requests of its own.
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    destinations: Arc<Destinations>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("destinations", &self.destinations)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// A client for `destinations`, resolving names with the system's
    /// resolver.
    pub fn new(destinations: Destinations) -> Result<Self, OutboundError> {
        Self::with_names(destinations, Arc::new(SystemNames))
    }

    /// A client for `destinations`, resolving names with `names` (tests
    /// map their names to the addresses they need).
    pub fn with_names(
        destinations: Destinations,
        names: Arc<dyn reqwest::dns::Resolve>,
    ) -> Result<Self, OutboundError> {
        install_tls_crypto();
        let destinations = Arc::new(destinations);
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver::new(
                names,
                Arc::clone(&destinations),
            )))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("Switchyard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(OutboundError::Http)?;
        Ok(Outbound { http, destinations })
    }

    /// Where requests may go; registration checks ask it too.
    pub fn destinations(&self) -> &Destinations {
        &self.destinations
    }

    /// A request to `url`, once the URL is allowed (see the module's doc);
    /// its host name, if any, is checked again when it is resolved.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, OutboundError> {
        let url = url::Url::parse(url)?;
        self.destinations.check_url(&url)?;
        Ok(self.http.request(method, url))
    }

    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, OutboundError> {
        self.request(reqwest::Method::GET, url)
    }

    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, OutboundError> {
        self.request(reqwest::Method::POST, url)
    }
}

/// Sends `request`, with the resolver's refusal told apart.
pub async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, OutboundError> {
    Ok(request.send().await?)
}

/// The body of `response`, refused once it exceeds `limit` bytes (a JWKS
/// or a metadata document: an upstream must not make the server buffer
/// without bound).
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, OutboundError> {
    if response
        .content_length()
        .is_some_and(|length| length > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(OutboundError::TooLarge { limit });
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(OutboundError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests;
