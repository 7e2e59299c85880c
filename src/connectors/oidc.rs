//! Enterprise OpenID Connect (`strategy: oidc`) with the `openidconnect`
//! crate: discovery (or the explicit endpoints), the authorization request
//! (code with PKCE and the client secret for `back_channel`, an ID token by
//! `form_post` for `front_channel`), the code exchange and the complete
//! validation of the ID token: signature from the upstream's JWKS (fetched
//! again, at most every [`JWKS_REFETCH_INTERVAL_MS`], when no key or more than
//! one matches a token), `alg` from the upstream's metadata (never `none`),
//! `iss`, `aud`, `azp`, `exp`, `iat` and `nonce`; the callback's `iss`
//! (RFC 9207), required when the upstream announces it sends one. Every
//! request goes through [`Outbound`], the SSRF-safe client.
//!
//! The issuer is compared as an exact string, except Entra ID's multi-tenant
//! template (`https://login.microsoftonline.com/{tenantid}/v2.0`, announced by
//! its `organizations` and `common` metadata): there each ID token's `iss`
//! must be the template with the token's own `tid` (see [`tenant_of_issuer`]),
//! and only a connection routing logins by tenant may use it.
//!
//! Metadata and keys are fetched once for all the logins waiting for them
//! (one fetch in flight, bounded by [`REQUEST_TIMEOUT`], its failure not
//! kept), and again once older than [`DISCOVERY_MAX_AGE_MS`]: meanwhile, and
//! while the upstream cannot be reached, the last good ones are used — for
//! [`DISCOVERY_MAX_STALE_MS`] at most.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::http::{MAX_RESPONSE_BYTES, client};
use super::refresh::{Freshness, KeptFresh};
use super::{
    Begin, BoxFuture, CallbackParams, Identity, RedirectConnector, UpstreamError, UpstreamRequest,
    UpstreamTenant,
};
use crate::clock::Clock;
use crate::model::connection::{OidcMappingMode, OidcOptions};
use crate::model::user::normalize_email;
use crate::outbound::{Outbound, read_body};
use base64::Engine;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthType, AuthUrl, AuthorizationCode, ClaimsVerificationError,
    ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    JsonWebKeySetUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadata, RedirectUrl, ResponseTypes, Scope, SignatureVerificationError, TokenResponse,
    TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A token naming an unknown key fetches the JWKS again at most this often:
/// forged tokens must not make the server hammer the upstream.
pub const JWKS_REFETCH_INTERVAL_MS: i64 = 60_000;
/// The clock skew tolerated on `exp` and `iat`.
pub const CLOCK_SKEW_MS: i64 = 60_000;
/// Metadata and keys older than this are fetched again on next use; the
/// login that notices goes on with the last good ones meanwhile.
pub const DISCOVERY_MAX_AGE_MS: i64 = 3_600_000;
/// Metadata and keys older than this are no longer used at all: an upstream
/// unreachable for a day may have withdrawn a key for a reason (a leak), so
/// its logins wait for a fetch that works rather than trust a day-old JWKS.
pub const DISCOVERY_MAX_STALE_MS: i64 = 24 * 3_600_000;
/// After a refresh failed (the last good metadata and keys still in use),
/// the next is not tried sooner than this.
pub const DISCOVERY_RETRY_MS: i64 = 60_000;
/// Scopes asked when the connection names none (Auth0's default).
const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// A client built from discovered metadata: its authorization endpoint is
/// known; its token and userinfo endpoints may be.
type UpstreamClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The metadata the crate does not know and Switchyard reads.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct MoreMetadata {
    /// RFC 9207: the upstream names itself (`iss`) in its authorization
    /// responses, so one without it is not from this upstream (mix-up).
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for MoreMetadata {}

type UpstreamMetadata = ProviderMetadata<
    MoreMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The upstream's metadata and keys, as last fetched.
#[derive(Clone)]
struct Discovered {
    metadata: UpstreamMetadata,
    jwks: CoreJsonWebKeySet,
    /// When the metadata was fetched (ms since the epoch).
    fetched_at: i64,
}

impl super::refresh::Fetched for Discovered {
    fn fetched_at(&self) -> i64 {
        self.fetched_at
    }
}

pub struct OidcConnector {
    connection_id: String,
    options: OidcOptions,
    outbound: Outbound,
    clock: Clock,
    /// The metadata and keys, kept fresh.
    discovery: KeptFresh<Discovered>,
    /// When a token with no matching key last made the JWKS be fetched again.
    last_refetch_at: Mutex<Option<i64>>,
}

/// The lock is never held across an await, and what it guards stays
/// consistent if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long the metadata and keys are used.
const DISCOVERY_FRESHNESS: Freshness = Freshness {
    max_age_ms: DISCOVERY_MAX_AGE_MS,
    max_stale_ms: Some(DISCOVERY_MAX_STALE_MS),
    retry_ms: DISCOVERY_RETRY_MS,
};

fn unreachable(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unreachable(e.to_string())
}

fn misconfigured(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Misconfigured(e.to_string())
}

fn invalid(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Invalid(e.to_string())
}

impl OidcConnector {
    pub fn new(
        connection_id: &str,
        options: OidcOptions,
        outbound: Outbound,
        clock: Clock,
    ) -> Self {
        OidcConnector {
            connection_id: connection_id.to_owned(),
            options,
            outbound,
            discovery: KeptFresh::new(
                connection_id,
                "the upstream's metadata and keys",
                DISCOVERY_FRESHNESS,
                clock.clone(),
            ),
            clock,
            last_refetch_at: Mutex::new(None),
        }
    }

    fn client_id(&self) -> Result<ClientId, UpstreamError> {
        self.options
            .client_id
            .clone()
            .map(ClientId::new)
            .ok_or_else(|| misconfigured("no client_id"))
    }

    fn client_secret(&self) -> Option<ClientSecret> {
        self.options
            .client_secret
            .as_ref()
            .map(|secret| ClientSecret::new(secret.expose().to_owned()))
    }

    /// The metadata and keys: the last good ones, fetched on first use and
    /// when older than [`DISCOVERY_MAX_AGE_MS`] (in the background: the
    /// login that notices uses the last good ones). Logins that have none
    /// wait for the one fetch under way; its failure is theirs only.
    async fn discovered(&self) -> Result<Arc<Discovered>, UpstreamError> {
        let (options, outbound, clock) = (
            self.options.clone(),
            self.outbound.clone(),
            self.clock.clone(),
        );
        self.discovery
            .get(move || {
                Box::pin(async move {
                    let (metadata, jwks) = fetch_discovered(&options, &outbound).await?;
                    Ok(Discovered {
                        metadata,
                        jwks,
                        fetched_at: clock.now_unix_millis(),
                    })
                })
            })
            .await
    }

    /// The JWKS again, for a token that no key or several keys match: `None`
    /// when it was already fetched again within [`JWKS_REFETCH_INTERVAL_MS`].
    async fn refetch_jwks(
        &self,
        known: &Discovered,
    ) -> Result<Option<Arc<Discovered>>, UpstreamError> {
        let now = self.clock.now_unix_millis();
        {
            let mut last = lock(&self.last_refetch_at);
            if last.is_some_and(|at| now - at < JWKS_REFETCH_INTERVAL_MS) {
                return Ok(None);
            }
            *last = Some(now);
        }
        let jwks = fetch_jwks(&self.outbound, &known.metadata).await?;
        // A refresh that ended meanwhile brought newer metadata: keep it,
        // with the keys just fetched.
        let found = self.discovery.replace(|current| {
            let base = match current {
                Some(current) if current.fetched_at > known.fetched_at => current,
                _ => known,
            };
            Arc::new(Discovered {
                jwks,
                ..base.clone()
            })
        });
        Ok(Some(found))
    }

    fn client(
        &self,
        discovered: &Discovered,
        callback_url: &str,
    ) -> Result<UpstreamClient, UpstreamError> {
        let mut client = CoreClient::from_provider_metadata(
            discovered.metadata.clone(),
            self.client_id()?,
            self.client_secret(),
        )
        .set_redirect_uri(RedirectUrl::new(callback_url.to_owned()).map_err(misconfigured)?);
        // HTTP Basic unless the upstream takes the secret in the body only.
        let methods = discovered.metadata.token_endpoint_auth_methods_supported();
        if methods.is_some_and(|methods| {
            methods.contains(&CoreClientAuthMethod::ClientSecretPost)
                && !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
        }) {
            client = client.set_auth_type(AuthType::RequestBody);
        }
        Ok(client)
    }

    fn scopes(&self) -> Vec<String> {
        let configured = self.options.scope.as_ref().map(|s| s.values());
        configured
            .unwrap_or_else(|| DEFAULT_SCOPES.to_vec())
            .into_iter()
            .filter(|s| *s != "openid")
            .map(str::to_owned)
            .collect()
    }

    /// Verifies the ID token against `discovered`'s keys and the request.
    fn verify(
        &self,
        discovered: &Discovered,
        id_token: &CoreIdToken,
        nonce: &str,
    ) -> Result<(), ClaimsVerificationError> {
        let client_id = self
            .client_id()
            .map_err(|e| ClaimsVerificationError::Other(e.to_string()))?;
        let issuer = discovered.metadata.issuer().clone();
        let templated = is_tenant_template(issuer.as_str());
        let verifier = match self.client_secret() {
            Some(secret) => CoreIdTokenVerifier::new_confidential_client(
                client_id.clone(),
                secret,
                issuer,
                discovered.jwks.clone(),
            ),
            None => CoreIdTokenVerifier::new_public_client(
                client_id.clone(),
                issuer,
                discovered.jwks.clone(),
            ),
        };
        let algs: Vec<CoreJwsSigningAlgorithm> = discovered
            .metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .filter(|alg| **alg != CoreJwsSigningAlgorithm::None)
            .cloned()
            .collect();
        let clock = self.clock.clone();
        let now = clock.now_unix_millis();
        let verifier = verifier
            // A template's `iss` is checked against the token's `tid` by
            // `verified_claims`, the crate knowing no `tid`.
            .require_issuer_match(!templated)
            .set_allowed_algs(algs)
            // `exp` with the skew tolerated: the crate compares `now >= exp`.
            .set_time_fn(move || millis_to_datetime(now - CLOCK_SKEW_MS))
            .set_issue_time_verifier_fn(move |iat| {
                if iat.timestamp_millis() > now + CLOCK_SKEW_MS {
                    Err(format!("issued in the future ({iat})"))
                } else {
                    Ok(())
                }
            });
        let claims = id_token.claims(&verifier, &Nonce::new(nonce.to_owned()))?;
        // OIDC Core §3.1.3.7 steps 4 and 5, which the crate leaves out.
        match claims.authorized_party() {
            Some(azp) if **azp != *client_id => Err(ClaimsVerificationError::InvalidAudience(
                format!("azp is {}, not this client", azp.as_str()),
            )),
            None if claims.audiences().len() > 1 => Err(ClaimsVerificationError::InvalidAudience(
                "several audiences and no azp".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The ID token's verified claims, as it carries them.
    async fn verified_claims(
        &self,
        raw_token: &str,
        nonce: &str,
    ) -> Result<Map<String, Value>, UpstreamError> {
        let id_token: CoreIdToken = raw_token
            .parse()
            .map_err(|e| invalid(format!("the ID token cannot be parsed: {e}")))?;
        let mut discovered = self.discovered().await?;
        let mut result = self.verify(&discovered, &id_token, nonce);
        if let Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey
            | SignatureVerificationError::AmbiguousKeyId(_),
        )) = &result
        {
            // A key the upstream rotated in since the JWKS was fetched (an
            // unknown `kid`), or one left alone of several (no `kid`).
            if let Some(again) = self.refetch_jwks(&discovered).await? {
                result = self.verify(&again, &id_token, nonce);
                discovered = again;
            }
        }
        result.map_err(|e| invalid(format!("the ID token was refused: {e}")))?;
        let claims = jwt_payload(raw_token)?;
        let issuer = discovered.metadata.issuer().as_str();
        if is_tenant_template(issuer) {
            check_tenant_issuer(issuer, &claims)
                .map_err(|e| invalid(format!("the ID token was refused: {e}")))?;
        }
        Ok(claims)
    }

    /// Userinfo, when the mapping asks for it (`attribute_map.userinfo_scope`).
    async fn userinfo(
        &self,
        discovered: &Discovered,
        access_token: &str,
        subject: &str,
    ) -> Result<Option<Map<String, Value>>, UpstreamError> {
        let wanted = self
            .options
            .attribute_map
            .as_ref()
            .is_some_and(|map| map.userinfo_scope.is_some());
        let Some(endpoint) = discovered.metadata.userinfo_endpoint().filter(|_| wanted) else {
            return Ok(None);
        };
        let request = self
            .outbound
            .get(endpoint.as_str())
            .map_err(unreachable)?
            .bearer_auth(access_token);
        let response = crate::outbound::send(request).await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(unreachable(format!(
                "userinfo answered {}",
                response.status()
            )));
        }
        let body = read_body(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(unreachable)?;
        let claims: Map<String, Value> = serde_json::from_slice(&body)
            .map_err(|e| invalid(format!("userinfo is not a JSON object: {e}")))?;
        // OIDC Core §5.3.2: userinfo of another subject is not used.
        if claims.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(invalid("userinfo is about another subject"));
        }
        Ok(Some(claims))
    }

    async fn finish_code(
        &self,
        request: &UpstreamRequest,
        response: &CallbackParams,
    ) -> Result<(Map<String, Value>, UpstreamTenant), UpstreamError> {
        let code = response
            .get("code")
            .ok_or_else(|| invalid("no code in the callback"))?;
        let discovered = self.discovered().await?;
        let client = self.client(&discovered, &request.callback_url)?;
        let mut exchange = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .map_err(misconfigured)?;
        if let Some(verifier) = &request.pkce_verifier {
            exchange = exchange.set_pkce_verifier(PkceCodeVerifier::new(verifier.clone()));
        }
        let tokens = exchange
            .request_async(&super::http::client(&self.outbound))
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(answer) => UpstreamError::Denied {
                    error: answer.error().to_string(),
                    description: answer.error_description().cloned().unwrap_or_default(),
                },
                other => unreachable(format!("the token request failed: {other}")),
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| invalid("the token response has no ID token"))?
            .to_string();
        let mut claims = self.verified_claims(&id_token, &request.nonce).await?;
        // Before userinfo joins the claims: the tenant is the ID token's word alone.
        let tenant = UpstreamTenant::of_id_token(&claims);
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(userinfo) = self
            .userinfo(&discovered, tokens.access_token().secret(), &subject)
            .await?
        {
            for (name, value) in userinfo {
                claims.entry(name).or_insert(value);
            }
        }
        Ok((claims, tenant))
    }
}

/// The placeholder of Entra ID's multi-tenant issuer template.
const TENANT_PLACEHOLDER: &str = "{tenantid}";
/// Entra's multi-tenant endpoints, whose metadata announces the template.
const MULTI_TENANT_ALIASES: [&str; 2] = ["organizations", "common"];

/// Whether `issuer` is Entra's multi-tenant template: an http(s) URL with
/// `{tenantid}`, and no other brace, as one whole segment of its path.
fn is_tenant_template(issuer: &str) -> bool {
    let Some((_, rest)) = issuer.split_once("://") else {
        return false;
    };
    let Some((_, path)) = rest.split_once('/') else {
        return false;
    };
    issuer.matches(['{', '}']).count() == 2
        && !path.contains(['?', '#'])
        && path.split('/').any(|segment| segment == TENANT_PLACEHOLDER)
}

/// The tenant `iss` names under the issuer `template`: `iss` is the template
/// with its placeholder replaced by a tenant id (letters, digits and `-`, as
/// Entra's GUIDs), or `None`.
fn tenant_of_issuer<'a>(template: &str, iss: &'a str) -> Option<&'a str> {
    let (before, after) = template.split_once(TENANT_PLACEHOLDER)?;
    let tenant = iss.strip_prefix(before)?.strip_suffix(after)?;
    let valid = !tenant.is_empty()
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    valid.then_some(tenant)
}

/// Under the issuer `template`, the verified claims' `iss` must be the
/// template with their own `tid`: a token of one tenant cannot pass for
/// another's, nor one without `tid` for any.
fn check_tenant_issuer(template: &str, claims: &Map<String, Value>) -> Result<(), String> {
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(tid) = claims.get("tid").and_then(Value::as_str) else {
        return Err(format!(
            "the upstream's issuer is the template {template}, and the ID token has no tenant (tid)"
        ));
    };
    if tenant_of_issuer(template, iss) == Some(tid) {
        Ok(())
    } else {
        Err(format!(
            "the ID token's issuer {iss} is not that of its tenant {tid}"
        ))
    }
}

/// Whether the `configured` issuer accepts the metadata's issuer template:
/// the template itself, or Entra's `organizations` or `common` in its place.
fn configured_for_template(configured: &str, template: &str) -> bool {
    configured == template
        || tenant_of_issuer(template, configured)
            .is_some_and(|alias| MULTI_TENANT_ALIASES.contains(&alias))
}

/// The upstream's metadata: from `discovery_url`, else from the
/// explicit endpoints when they are all given, else discovered from
/// `issuer`. Explicit endpoints win over discovered ones.
async fn fetch_metadata(
    options: &OidcOptions,
    outbound: &Outbound,
) -> Result<UpstreamMetadata, UpstreamError> {
    let explicit = match (
        &options.issuer,
        &options.authorization_endpoint,
        &options.jwks_uri,
    ) {
        (Some(issuer), Some(authorization), Some(jwks)) if options.discovery_url.is_none() => {
            Some(UpstreamMetadata::new(
                IssuerUrl::new(issuer.clone()).map_err(misconfigured)?,
                AuthUrl::new(authorization.clone()).map_err(misconfigured)?,
                JsonWebKeySetUrl::new(jwks.clone()).map_err(misconfigured)?,
                vec![ResponseTypes::new(vec![CoreResponseType::Code])],
                vec![CoreSubjectIdentifierType::Public],
                vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
                MoreMetadata::default(),
            ))
        }
        _ => None,
    };
    let mut metadata = match explicit {
        Some(metadata) => metadata,
        None => {
            let url = match (&options.discovery_url, &options.issuer) {
                (Some(url), _) => url.clone(),
                (None, Some(issuer)) => format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                ),
                (None, None) => return Err(misconfigured("no issuer or discovery_url")),
            };
            let response = crate::outbound::send(outbound.get(&url).map_err(unreachable)?)
                .await
                .map_err(unreachable)?;
            if !response.status().is_success() {
                return Err(unreachable(format!("{url} answered {}", response.status())));
            }
            let body = read_body(response, MAX_RESPONSE_BYTES)
                .await
                .map_err(unreachable)?;
            let metadata: UpstreamMetadata = serde_json::from_slice(&body)
                .map_err(|e| unreachable(format!("the metadata at {url} is invalid: {e}")))?;
            // The issuer configured is compared as an exact string (OIDC
            // Discovery §4.3): a mix-up defence. Entra's multi-tenant
            // metadata announces its template instead of the issuer asked.
            if let Some(issuer) = &options.issuer {
                let announced = metadata.issuer().as_str();
                if announced != issuer
                    && !(is_tenant_template(announced)
                        && configured_for_template(issuer, announced))
                {
                    return Err(misconfigured(format!(
                        "the metadata names issuer {} instead of {issuer}",
                        metadata.issuer().as_str()
                    )));
                }
            }
            metadata
        }
    };
    if let Some(url) = &options.authorization_endpoint {
        metadata =
            metadata.set_authorization_endpoint(AuthUrl::new(url.clone()).map_err(misconfigured)?);
    }
    if let Some(url) = &options.token_endpoint {
        metadata =
            metadata.set_token_endpoint(Some(TokenUrl::new(url.clone()).map_err(misconfigured)?));
    }
    if let Some(url) = &options.userinfo_endpoint {
        metadata = metadata
            .set_userinfo_endpoint(Some(UserInfoUrl::new(url.clone()).map_err(misconfigured)?));
    }
    if let Some(url) = &options.jwks_uri {
        metadata =
            metadata.set_jwks_uri(JsonWebKeySetUrl::new(url.clone()).map_err(misconfigured)?);
    }
    let issuer = metadata.issuer().as_str();
    if is_tenant_template(issuer) {
        // Any of Entra's tenants signs with the same keys: only a connection
        // that routes each login by its tenant (and refuses a tenant that is
        // not the organization's) may take them all.
        if !options.organization_from_upstream_tenant.unwrap_or(false) {
            return Err(misconfigured(format!(
                "the upstream's issuer is the multi-tenant template {issuer}, which needs \
                 options.organization_from_upstream_tenant: true"
            )));
        }
        tracing::info!(
            issuer,
            "oidc: multi-tenant issuer template; each ID token's iss must name its own tid, \
             and the tenant decides the organization (organization_from_upstream_tenant)"
        );
    }
    Ok(metadata)
}

async fn fetch_jwks(
    outbound: &Outbound,
    metadata: &UpstreamMetadata,
) -> Result<CoreJsonWebKeySet, UpstreamError> {
    CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &client(outbound))
        .await
        .map_err(unreachable)
}

/// The metadata, then the keys it points to.
async fn fetch_discovered(
    options: &OidcOptions,
    outbound: &Outbound,
) -> Result<(UpstreamMetadata, CoreJsonWebKeySet), UpstreamError> {
    let metadata = fetch_metadata(options, outbound).await?;
    let jwks = fetch_jwks(outbound, &metadata).await?;
    Ok((metadata, jwks))
}

fn millis_to_datetime(millis: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// The claims of a JWT whose signature was verified.
fn jwt_payload(token: &str) -> Result<Map<String, Value>, UpstreamError> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| invalid("the ID token is not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(invalid)?;
    serde_json::from_slice(&bytes).map_err(invalid)
}

impl RedirectConnector for OidcConnector {
    fn uses_pkce(&self) -> bool {
        // Auth0's `connection_settings.pkce`: `auto` (the default) and
        // `S256` use it with the code flow, `disabled` does not.
        let setting = self
            .options
            .extra
            .get("connection_settings")
            .and_then(|s| s.get("pkce"))
            .and_then(Value::as_str);
        self.options.is_back_channel() && setting != Some("disabled")
    }

    fn begin<'a>(
        &'a self,
        request: &'a UpstreamRequest,
    ) -> BoxFuture<'a, Result<Begin, UpstreamError>> {
        Box::pin(async move {
            let discovered = self.discovered().await?;
            let client = self.client(&discovered, &request.callback_url)?;
            let flow = if self.options.is_back_channel() {
                CoreAuthenticationFlow::AuthorizationCode
            } else {
                CoreAuthenticationFlow::Implicit(false)
            };
            let (state, nonce) = (request.state.clone(), request.nonce.clone());
            let mut authorize = client.authorize_url(
                flow,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            );
            for scope in self.scopes() {
                authorize = authorize.add_scope(Scope::new(scope));
            }
            if let Some(verifier) = &request.pkce_verifier {
                authorize =
                    authorize.set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(
                        &PkceCodeVerifier::new(verifier.clone()),
                    ));
            }
            if !self.options.is_back_channel() {
                authorize = authorize.add_extra_param("response_mode", "form_post");
            }
            for (name, value) in request.authorization_params() {
                authorize = authorize.add_extra_param(name, value);
            }
            let (url, _, _) = authorize.url();
            Ok(Begin::Redirect(url.to_string()))
        })
    }

    fn finish<'a>(
        &'a self,
        request: &'a UpstreamRequest,
        response: &'a CallbackParams,
    ) -> BoxFuture<'a, Result<Identity, UpstreamError>> {
        Box::pin(async move {
            // RFC 9207, before anything else in the response is believed
            // (its error too): a response naming another issuer is a
            // mix-up, and so is one without `iss` from an upstream that
            // announces it — unless it carries the ID token this
            // front_channel connection reads, which names its issuer
            // itself (§2.4). A back_channel connection never reads such a
            // token, so one added to its callback excuses nothing.
            let discovered = self.discovered().await?;
            let carries_read_id_token =
                !self.options.is_back_channel() && response.contains_key("id_token");
            let issuer = discovered.metadata.issuer().as_str();
            // Under Entra's template, any tenant's issuer; the ID token's
            // `tid` then says which tenant it must be.
            let names_issuer = |iss: &str| {
                if is_tenant_template(issuer) {
                    tenant_of_issuer(issuer, iss).is_some()
                } else {
                    iss == issuer
                }
            };
            match response.get("iss") {
                Some(iss) if !names_issuer(iss) => {
                    return Err(invalid(format!("the response names issuer {iss}")));
                }
                None if discovered
                    .metadata
                    .additional_metadata()
                    .authorization_response_iss_parameter_supported
                    && !carries_read_id_token =>
                {
                    return Err(invalid(
                        "the response names no issuer (iss), which this upstream announces it does (RFC 9207)",
                    ));
                }
                _ => {}
            }
            if let Some(denied) = UpstreamError::in_callback(response) {
                return Err(denied);
            }
            let (claims, tenant) = if self.options.is_back_channel() {
                self.finish_code(request, response).await?
            } else {
                let id_token = response
                    .get("id_token")
                    .ok_or_else(|| invalid("no id_token in the form post"))?;
                let claims = self.verified_claims(id_token, &request.nonce).await?;
                let tenant = UpstreamTenant::of_id_token(&claims);
                (claims, tenant)
            };
            Ok(Identity {
                tenant,
                ..identity_from_claims(&self.connection_id, &self.options, claims)?
            })
        })
    }
}

/// The [`Identity`] the verified claims describe, through the connection's
/// `attribute_map`: `use_map` (the default) and `bind_all` take the standard
/// claims and then the mapped attributes; `basic_profile` the standard claims
/// only. A mapping names a claim (`"preferred_username"`) or a template of
/// one (`"${preferred_username}"`).
pub fn identity_from_claims(
    connection_id: &str,
    options: &OidcOptions,
    claims: Map<String, Value>,
) -> Result<Identity, UpstreamError> {
    let mut profile: Map<String, Value> = claims.clone();
    // Whether `email` was taken from another claim without `email_verified`
    // being mapped alongside: the upstream's own `email_verified` vouches for
    // its `email` only, not for a `preferred_username` a person may choose.
    let mut email_mapped_without_verification = false;
    if let Some(map) = &options.attribute_map {
        if map.mapping_mode != Some(OidcMappingMode::BasicProfile) {
            for (attribute, source) in map.attributes.iter().flatten() {
                let Some(source) = source.as_str() else {
                    continue;
                };
                let name = source
                    .strip_prefix("${")
                    .and_then(|s| s.strip_suffix('}'))
                    .unwrap_or(source);
                if let Some(value) = claims.get(name) {
                    profile.insert(attribute.clone(), value.clone());
                }
            }
            let mapped = |attribute: &str| {
                map.attributes
                    .iter()
                    .flatten()
                    .any(|(name, _)| name == attribute)
            };
            let email_from_itself = map
                .attributes
                .iter()
                .flatten()
                .find(|(name, _)| *name == "email")
                .and_then(|(_, source)| source.as_str())
                .is_none_or(|source| source == "email" || source == "${email}");
            email_mapped_without_verification = !email_from_itself && !mapped("email_verified");
        }
    }
    let text = |name: &str| {
        profile
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(UpstreamError::MissingClaim("subject (sub)"))?
        .to_owned();
    let email_verified = match profile.get("email_verified") {
        _ if email_mapped_without_verification => false,
        Some(Value::Bool(verified)) => *verified,
        Some(Value::String(verified)) => verified == "true",
        _ => false,
    };
    let groups = match profile.get("groups") {
        Some(Value::Array(groups)) => groups
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(group)) => vec![group.clone()],
        _ => Vec::new(),
    };
    Ok(Identity {
        connection_id: connection_id.to_owned(),
        subject,
        email: text("email").and_then(|email| normalize_email(&email).ok()),
        email_verified,
        name: text("name"),
        given_name: text("given_name"),
        family_name: text("family_name"),
        nickname: text("nickname"),
        picture: text("picture"),
        groups,
        raw: claims,
        tenant: UpstreamTenant::default(),
    })
}

#[cfg(test)]
mod tests;
