//! The identity provider of a SAML connection, from its metadata
//! (`metadataXml`, `metadataUrl`) or from the options typed by hand
//! (`signInEndpoint`, `signingCert`, `idpEntityId`).
//!
//! Reading a metadata document is the model's ([`SamlOptions::describe_idp`]):
//! the options' write check refuses metadata that describes no usable IdP,
//! and the model does not depend on the connectors. This module keeps the
//! IdP of a `metadataUrl` fresh (the OIDC connector's single-flight
//! refresh, [`KeptFresh`]) and warns in the log before a certificate expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::clock::Clock;
use crate::connectors::refresh::{Fetched, Freshness, KeptFresh};
use crate::connectors::{Connectors, UpstreamError};
use crate::model::connection::Strategy;
pub use crate::model::connection::{IdentityProvider, IdpCertificate};
use crate::model::connection::{MAX_METADATA_BYTES, SamlOptions, certificate_facts};
use crate::outbound::{Outbound, read_body};
use crate::store::{ConnectionFilter, Page, Store};

/// Metadata fetched from `metadataUrl` is fetched again once this old (the
/// login that notices goes on with it meanwhile).
pub const METADATA_MAX_AGE_MS: i64 = 3_600_000;
/// After a refresh failed, the next is not tried sooner than this.
pub const METADATA_RETRY_MS: i64 = 60_000;
/// The log warns when an IdP certificate has this many days left, once each.
pub const EXPIRY_WARNING_DAYS: [i64; 3] = [30, 7, 1];
const DAY_MS: i64 = 24 * 3_600_000;

/// The last good metadata is kept while refreshes fail, with no limit of
/// age (unlike OIDC keys, a day): a metadata URL is often served apart from
/// the IdP's login (a portal, a CDN) and is down while logins work, and
/// IdPs publish a new certificate well before they sign with it. Each failed
/// refresh is logged.
const METADATA_FRESHNESS: Freshness = Freshness {
    max_age_ms: METADATA_MAX_AGE_MS,
    max_stale_ms: None,
    retry_ms: METADATA_RETRY_MS,
};

/// The IdP described by `options`, with `fetched_metadata` the document
/// read from `metadataUrl` (if the options name one).
pub fn describe(
    options: &SamlOptions,
    fetched_metadata: Option<&str>,
) -> Result<IdentityProvider, String> {
    options
        .describe_idp(fetched_metadata)
        .map_err(|(field, why)| format!("{field} {why}"))
}

/// The IdP of fetched metadata, and when it was fetched.
struct Described {
    idp: Arc<IdentityProvider>,
    fetched_at: i64,
}

impl Fetched for Described {
    fn fetched_at(&self) -> i64 {
        self.fetched_at
    }
}

/// The IdP of one connection as it stands now: described once from inline
/// options; from `metadataUrl`, fetched through the outbound client and
/// refreshed periodically, the last good metadata kept while a refresh fails.
pub struct IdpSource {
    options: SamlOptions,
    outbound: Outbound,
    clock: Clock,
    /// Inline metadata or options typed by hand, described once.
    inline: Option<Result<Arc<IdentityProvider>, String>>,
    fetched: KeptFresh<Described>,
    warned: ExpiryWarnings,
}

/// The expiry warnings this process logged: a certificate's SHA-256 → how
/// many of [`EXPIRY_WARNING_DAYS`] (then "expired") it has crossed. One
/// set shared by every [`IdpSource`] the process builds: any connection's
/// change builds every connector again, which must not warn again.
#[derive(Clone, Default)]
pub struct ExpiryWarnings(Arc<Mutex<HashMap<String, usize>>>);

impl IdpSource {
    pub fn new(
        options: SamlOptions,
        outbound: Outbound,
        clock: Clock,
        warned: ExpiryWarnings,
    ) -> Self {
        let url = options.metadata_url.clone().unwrap_or_default();
        let inline = (options.metadata_xml.is_some() || options.metadata_url.is_none())
            .then(|| describe(&options, None).map(Arc::new));
        let fetched = KeptFresh::new(
            &url,
            "the IdP's SAML metadata",
            METADATA_FRESHNESS,
            clock.clone(),
        );
        IdpSource {
            options,
            outbound,
            clock,
            inline,
            fetched,
            warned,
        }
    }

    /// The IdP to send the next request to and check its response against.
    pub async fn current(&self) -> Result<Arc<IdentityProvider>, UpstreamError> {
        let idp = self.kept().await?;
        self.warn_of_expiry(&idp);
        Ok(idp)
    }

    /// The IdP as described or last fetched (a fetch started when due).
    async fn kept(&self) -> Result<Arc<IdentityProvider>, UpstreamError> {
        Ok(match &self.inline {
            Some(described) => described.clone().map_err(UpstreamError::Misconfigured)?,
            None => {
                let (options, outbound, clock) = (
                    self.options.clone(),
                    self.outbound.clone(),
                    self.clock.clone(),
                );
                let described = self
                    .fetched
                    .get(move || Box::pin(fetch(options, outbound, clock)))
                    .await?;
                Arc::clone(&described.idp)
            }
        })
    }

    /// What the periodic pass does for its connection (no login needed):
    /// the metadata of a `metadataUrl` fetched again once due, waiting for
    /// that fetch (a failure is logged and the last good copy stays), then
    /// the expiry warnings of the IdP's certificates. Returns the warnings
    /// logged now, as (SHA-256 thumbprint, days left).
    pub async fn keep_fresh(&self) -> Result<Vec<(String, i64)>, UpstreamError> {
        let mut idp = self.kept().await?;
        if self.inline.is_none() {
            // `current` started the refresh of a stale copy: wait for it.
            if let Some(Ok(refreshed)) = self.fetched.settled().await {
                idp = Arc::clone(&refreshed.idp);
            }
        }
        Ok(self.warn_of_expiry(&idp))
    }

    /// Logs a warning when a certificate of `idp` has crossed one more of
    /// [`EXPIRY_WARNING_DAYS`] (or expired) since the last; returns the
    /// warnings logged, as (SHA-256 thumbprint, days left).
    fn warn_of_expiry(&self, idp: &IdentityProvider) -> Vec<(String, i64)> {
        let now = self.clock.now_unix_millis();
        let mut logged = Vec::new();
        // The IdP by its entity ID, else where it is reached: the source
        // does not know its connection.
        let idp_name = idp
            .entity_id
            .as_deref()
            .or(idp.sso_redirect.as_deref())
            .unwrap_or_default();
        let mut warned = self.warned.0.lock().unwrap_or_else(PoisonError::into_inner);
        for certificate in &idp.certificates {
            let left_ms = certificate.not_after_ms - now;
            let crossed = EXPIRY_WARNING_DAYS
                .iter()
                .filter(|days| left_ms <= **days * DAY_MS)
                .count()
                + usize::from(left_ms <= 0);
            if crossed == 0 {
                continue;
            }
            let Ok(facts) = certificate_facts(&certificate.der) else {
                continue;
            };
            let before = warned.entry(facts.thumbprint_sha256.clone()).or_default();
            if crossed <= *before {
                continue;
            }
            *before = crossed;
            let days_left = left_ms.div_euclid(DAY_MS);
            if left_ms <= 0 {
                tracing::warn!(idp = %idp_name, subject = %facts.subject, thumbprint_sha256 = %facts.thumbprint_sha256,
                    "an IdP signing certificate has expired: responses it signs still verify, \
                     but ask the IdP's admin for its new certificate");
            } else {
                tracing::warn!(idp = %idp_name, subject = %facts.subject, thumbprint_sha256 = %facts.thumbprint_sha256,
                    days_left, "an IdP signing certificate expires soon: add its successor to the connection");
            }
            logged.push((facts.thumbprint_sha256, days_left));
        }
        logged
    }
}

/// A certificate-expiry warning the periodic pass logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryWarning {
    pub connection: String,
    pub thumbprint_sha256: String,
    pub days_left: i64,
}

/// The periodic pass over the samlp connections, so that an IdP nobody
/// logs in through is still watched: each one's metadata refreshed once
/// due (through its connector's [`IdpSource`], the copy logins use) and
/// the 30/7/1-day expiry warnings logged, once each per process as on a
/// login. Returns the warnings logged by this pass.
pub async fn keep_idps_fresh(store: &Store, connectors: &Connectors) -> Vec<ExpiryWarning> {
    let filter = ConnectionFilter {
        strategy: Some(Strategy::Saml),
        name: None,
    };
    let connections = match store.list_connections(&filter, &Page::all()).await {
        Ok(connections) => connections,
        Err(e) => {
            tracing::warn!(error = %e, "listing the samlp connections to refresh failed");
            return Vec::new();
        }
    };
    let mut warnings = Vec::new();
    for connection in connections {
        let checked = match connectors.redirect(&connection).await {
            Ok(connector) => match connector.saml_idp() {
                Some(idp) => idp.keep_fresh().await,
                None => continue,
            },
            Err(e) => Err(e),
        };
        match checked {
            Ok(logged) => {
                warnings.extend(logged.into_iter().map(|(thumbprint_sha256, days_left)| {
                    ExpiryWarning {
                        connection: connection.name.clone(),
                        thumbprint_sha256,
                        days_left,
                    }
                }))
            }
            Err(e) => tracing::warn!(connection = %connection.name, error = %e,
                "the IdP of a samlp connection is not usable"),
        }
    }
    warnings
}

/// The metadata at `metadataUrl`, read into the IdP it describes: a
/// document that describes none usable (no certificate left, …) fails as
/// a fetch does, so the last good one stays.
async fn fetch(
    options: SamlOptions,
    outbound: Outbound,
    clock: Clock,
) -> Result<Described, UpstreamError> {
    let url = options
        .metadata_url
        .as_deref()
        .ok_or_else(|| UpstreamError::Misconfigured("no metadataUrl".into()))?;
    let xml = fetch_metadata(&outbound, url).await?;
    let idp = describe(&options, Some(&xml)).map_err(UpstreamError::Misconfigured)?;
    Ok(Described {
        idp: Arc::new(idp),
        fetched_at: clock.now_unix_millis(),
    })
}

/// The metadata document at `url`, fetched through the SSRF-safe outbound
/// client (the Management API reads it so at write time too).
pub async fn fetch_metadata(outbound: &Outbound, url: &str) -> Result<String, UpstreamError> {
    let unreachable = |e: &dyn std::fmt::Display| UpstreamError::Unreachable(e.to_string());
    let request = outbound.get(url).map_err(|e| unreachable(&e))?;
    let response = crate::outbound::send(request)
        .await
        .map_err(|e| unreachable(&e))?;
    if !response.status().is_success() {
        return Err(unreachable(&format!(
            "{url} answered {}",
            response.status()
        )));
    }
    let body = read_body(response, MAX_METADATA_BYTES)
        .await
        .map_err(|e| unreachable(&e))?;
    String::from_utf8(body.to_vec())
        .map_err(|_| UpstreamError::Misconfigured(format!("the metadata at {url} is not UTF-8")))
}

#[cfg(test)]
mod tests;
