//! The identity provider of a SAML connection, from its metadata
//! (`metadataXml`, `metadataUrl`) or from the options typed by hand
//! (`signInEndpoint`, `signingCert`, `idpEntityId`).

use crate::model::connection::SamlOptions;

/// One of the IdP's signing certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpCertificate {
    pub der: Vec<u8>,
    /// Its `notAfter`, for the Management API and the expiry warnings.
    pub not_after_ms: i64,
}

/// What the service provider needs to know of the IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    /// `None` when configured by hand without `idpEntityId`.
    pub entity_id: Option<String>,
    /// SingleSignOnService for the HTTP-Redirect binding.
    pub sso_redirect: Option<String>,
    /// SingleSignOnService for the HTTP-POST binding.
    pub sso_post: Option<String>,
    pub slo: Option<String>,
    /// Several during a rollover; never empty.
    pub certificates: Vec<IdpCertificate>,
    /// The IdP's metadata asks for signed AuthnRequests.
    pub wants_signed_requests: bool,
}

/// The IdP described by `options`, with `fetched_metadata` the document
/// read from `metadataUrl` (if the options name one).
pub fn describe(
    options: &SamlOptions,
    fetched_metadata: Option<&str>,
) -> Result<IdentityProvider, String> {
    let _ = (options, fetched_metadata);
    Err("not built yet".into())
}

/// The IdP of one connection as it stands now: described once from inline
/// options; from `metadataUrl`, fetched through the outbound client and
/// refreshed periodically, the last good metadata kept while a refresh fails.
pub struct IdpSource {
    options: SamlOptions,
}

impl IdpSource {
    pub fn new(
        options: SamlOptions,
        outbound: crate::outbound::Outbound,
        clock: crate::clock::Clock,
    ) -> Self {
        let _ = (outbound, clock);
        IdpSource { options }
    }

    /// The IdP to send the next request to and check its response against.
    pub async fn current(
        &self,
    ) -> Result<std::sync::Arc<IdentityProvider>, crate::connectors::UpstreamError> {
        describe(&self.options, None)
            .map(std::sync::Arc::new)
            .map_err(crate::connectors::UpstreamError::Misconfigured)
    }
}
