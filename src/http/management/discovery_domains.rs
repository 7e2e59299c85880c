//! `/organizations/{id}/discovery-domains`: the email domains an
//! organization claims for home-realm discovery, in Auth0's shape (the
//! `auth0` SDK's `organizations.discoveryDomains`), with Switchyard's
//! `connection_id` and `include_subdomains`; `POST …/{id}/verify` looks
//! the domain's TXT record up now, and a create with `transfer: true`
//! records a claim to take over a domain another organization holds.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::organizations::organization_not_found;
use super::{ApiJson, ApiQuery, ManagementAuth, Paging, list_page, nullable};
use crate::clock::rfc3339_from_millis;
use crate::flows::domain_verification::{self, TransferCheck};
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::domain::{self, DiscoveryDomain, DomainStatus, DomainTransfer};
use crate::state::AppState;
use crate::store::StoreError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discovery_domains_list, discovery_domains_post))
        .routes(routes!(
            discovery_domain_get,
            discovery_domain_patch,
            discovery_domain_delete
        ))
        .routes(routes!(discovery_domain_by_name_get))
        .routes(routes!(discovery_domain_verify))
}

/// What a verified domain's status rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerifiedBy {
    /// Its TXT record was found; re-checks may demote it.
    Dns,
    /// The tenant admin set it verified; DNS never demotes it.
    Admin,
}

/// A discovery domain as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiscoveryDomainBody {
    pub id: String,
    /// Normalized: lowercase IDNA ASCII, no trailing dot.
    pub domain: String,
    pub status: DomainStatus,
    pub use_for_organization_discovery: bool,
    /// The token to publish in a TXT record at `verification_host`.
    pub verification_txt: String,
    pub verification_host: String,
    /// The enabled connection this domain routes to; `null`: the organization's default.
    pub connection_id: Option<String>,
    /// The claim covers every subdomain too.
    pub include_subdomains: bool,
    /// What a `verified` status rests on; `null` while pending.
    pub verified_by: Option<VerifiedBy>,
    /// When its TXT record was last looked up (RFC 3339); `null`: never.
    pub last_checked_at: Option<String>,
    /// Why the last lookup did not verify it, or why it was demoted, in
    /// plain words (no record, wrong token, DNS failure); `null` otherwise.
    pub verification_reason: Option<String>,
    /// A claim to take over a domain another organization holds: its own
    /// `verification_txt` published at `verification_host` and verified
    /// (`POST …/verify`) moves the domain to this organization.
    pub transfer: bool,
}

impl From<DiscoveryDomain> for DiscoveryDomainBody {
    fn from(d: DiscoveryDomain) -> Self {
        let verified_by = match (d.status, d.verified_by_dns) {
            (DomainStatus::Pending, _) => None,
            (DomainStatus::Verified, true) => Some(VerifiedBy::Dns),
            (DomainStatus::Verified, false) => Some(VerifiedBy::Admin),
        };
        DiscoveryDomainBody {
            verification_host: d.verification_host(),
            id: d.id,
            domain: d.domain,
            status: d.status,
            use_for_organization_discovery: d.use_for_organization_discovery,
            verification_txt: d.verification_txt,
            connection_id: d.connection_id,
            include_subdomains: d.include_subdomains,
            verified_by,
            last_checked_at: d.check.last_checked_at.map(rfc3339_from_millis),
            verification_reason: d.check.reason,
            transfer: false,
        }
    }
}

impl From<DomainTransfer> for DiscoveryDomainBody {
    fn from(t: DomainTransfer) -> Self {
        DiscoveryDomainBody {
            verification_host: domain::verification_host(&t.domain),
            id: t.id,
            domain: t.domain,
            status: DomainStatus::Pending,
            use_for_organization_discovery: t.use_for_organization_discovery,
            verification_txt: t.verification_txt,
            connection_id: None,
            include_subdomains: t.include_subdomains,
            verified_by: None,
            last_checked_at: t.last_checked_at.map(rfc3339_from_millis),
            verification_reason: t.reason,
            transfer: true,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDiscoveryDomainBody {
    /// Any form: `Example.COM.`, an IDN in Unicode or punycode.
    #[schema(example = "acme.example")]
    pub domain: String,
    /// Default `pending`; the tenant admin may vouch for it as `verified`.
    pub status: Option<DomainStatus>,
    /// Default true.
    pub use_for_organization_discovery: Option<bool>,
    /// A connection enabled on the organization; absent or null: its default.
    pub connection_id: Option<String>,
    /// Default false.
    pub include_subdomains: Option<bool>,
    /// Default false: a domain another organization holds is a 409. True:
    /// such a domain is answered with a transfer claim (`transfer: true`,
    /// a token of its own) that `POST …/verify` completes once the token is
    /// published at `verification_host`; a domain nobody holds is claimed
    /// as usual. Not with `status: verified` nor `connection_id`.
    pub transfer: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDiscoveryDomainBody {
    pub status: Option<DomainStatus>,
    pub use_for_organization_discovery: Option<bool>,
    /// `null` routes the domain to the organization's default again.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub connection_id: Option<Option<String>>,
    pub include_subdomains: Option<bool>,
}

/// `{domains, next}`, as Auth0 pages this list (by checkpoint only).
#[derive(Debug, Serialize, ToSchema)]
pub struct DiscoveryDomainsPage {
    pub domains: Vec<DiscoveryDomainBody>,
    /// The `from` of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

fn domain_not_found(err: StoreError) -> ApiError {
    ApiError::from_store(
        err,
        "No discovery domain found by that id or name in this organization",
        "inexistent_discovery_domain",
    )
}

/// A claim the store refused, as the API answers it: a conflict names the
/// domain, never the organization that holds it (or holds one above or
/// below it); a connection gone from the organization meanwhile is a 400.
fn claim_refused(err: StoreError, domain: &str) -> ApiError {
    match err {
        StoreError::Conflict(_) => ApiError::conflict(format!(
            "The domain {domain} is already claimed, or overlaps a claimed domain"
        )),
        StoreError::MissingReference => connection_not_enabled(),
        other => other.into(),
    }
}

fn connection_not_enabled() -> ApiError {
    ApiError::bad_request(
        "Payload validation error: connection_id must be a connection enabled on this organization",
    )
}

/// The domain in the form Switchyard stores, refused (400) when it is not
/// a hostname, is a public mail domain or is a public suffix.
fn claimable(input: &str) -> Result<String, ApiError> {
    let normalized = domain::normalize(input)?;
    if domain::is_public_email_domain(&normalized) {
        return Err(ApiError::bad_request(format!(
            "Payload validation error: {normalized} is a public email domain and cannot be claimed"
        )));
    }
    if domain::is_public_suffix(&normalized) {
        return Err(ApiError::bad_request(format!(
            "Payload validation error: {normalized} is a public suffix (names under it belong \
             to unrelated registrants) and cannot be claimed"
        )));
    }
    Ok(normalized)
}

/// Refuses a connection that is not enabled on the organization (the
/// database refuses it too, should it be disabled meanwhile).
async fn check_connection(
    state: &AppState,
    organization_id: &str,
    connection_id: Option<&str>,
) -> Result<(), ApiError> {
    let Some(connection_id) = connection_id else {
        return Ok(());
    };
    match state
        .store
        .get_enabled_connection(organization_id, connection_id)
        .await
    {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound) => Err(connection_not_enabled()),
        Err(other) => Err(other.into()),
    }
}

#[utoipa::path(post, path = "/api/v2/organizations/{id}/discovery-domains", tag = "organizations",
    params(("id" = String, Path)), request_body = CreateDiscoveryDomainBody,
    responses((status = 201, body = DiscoveryDomainBody), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn discovery_domains_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateDiscoveryDomainBody>,
) -> Result<(StatusCode, Json<DiscoveryDomainBody>), ApiError> {
    auth.require("create:organization_discovery_domains")?;
    state
        .store
        .get_organization(&id)
        .await
        .map_err(organization_not_found)?;
    let mut claim = DiscoveryDomain::new(&id, claimable(&body.domain)?);
    let transfer = body.transfer.unwrap_or(false);
    if transfer && body.status == Some(DomainStatus::Verified) {
        return Err(ApiError::bad_request(
            "Payload validation error: a transfer is verified by its DNS record; status cannot be verified",
        ));
    }
    if transfer && body.connection_id.is_some() {
        return Err(ApiError::bad_request(
            "Payload validation error: a transfer takes no connection_id; set it once the domain is transferred",
        ));
    }
    check_connection(&state, &id, body.connection_id.as_deref()).await?;
    claim.connection_id = body.connection_id;
    claim.status = body.status.unwrap_or(DomainStatus::Pending);
    claim.use_for_organization_discovery = body.use_for_organization_discovery.unwrap_or(true);
    claim.include_subdomains = body.include_subdomains.unwrap_or(false);
    match state.store.insert_discovery_domain(&claim).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) if transfer => {
            let transfer = claim_transfer(&state, claim).await?;
            return Ok((StatusCode::CREATED, Json(transfer.into())));
        }
        Err(e) => return Err(claim_refused(e, &claim.domain)),
    }
    state.domain_changed(&claim.domain).await;
    Ok((StatusCode::CREATED, Json(claim.into())))
}

/// The transfer claim of a domain that `claim`'s organization could not
/// claim: only of a domain another organization holds itself (not one that
/// overlaps another's, nor its own); else the usual 409.
async fn claim_transfer(
    state: &AppState,
    claim: DiscoveryDomain,
) -> Result<DomainTransfer, ApiError> {
    let conflict = || claim_refused(StoreError::Conflict(String::new()), &claim.domain);
    match state.store.discovery_domain_holder(&claim.domain).await? {
        Some(holder) if holder != claim.organization_id => {}
        _ => return Err(conflict()),
    }
    let mut transfer = DomainTransfer::new(&claim.organization_id, claim.domain.clone());
    transfer.id = claim.id.clone();
    transfer.use_for_organization_discovery = claim.use_for_organization_discovery;
    transfer.include_subdomains = claim.include_subdomains;
    match state.store.insert_domain_transfer(&transfer).await {
        Ok(()) => Ok(transfer),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(format!(
            "This organization already has a transfer claim of the domain {}",
            claim.domain
        ))),
        Err(StoreError::MissingReference) => Err(organization_not_found(StoreError::NotFound)),
        Err(other) => Err(other.into()),
    }
}

#[utoipa::path(get, path = "/api/v2/organizations/{id}/discovery-domains", tag = "organizations",
    params(("id" = String, Path), Paging),
    responses((status = 200, description = "`{domains, next}`: `next` is the `from` of the next page, absent on the last", body = DiscoveryDomainsPage),
        (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn discovery_domains_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:organization_discovery_domains")?;
    let paging = paging.checkpoint_only()?;
    state
        .store
        .get_organization(&id)
        .await
        .map_err(organization_not_found)?;
    list_page(
        "domains",
        &paging,
        async |page| state.store.list_discovery_domains(&id, page).await,
        |d: &DiscoveryDomainBody| d.id.clone(),
        // Checkpoint pages carry no total.
        std::future::ready(Ok(0)),
    )
    .await
}

#[utoipa::path(get, path = "/api/v2/organizations/{id}/discovery-domains/{discovery_domain_id}", tag = "organizations",
    params(("id" = String, Path), ("discovery_domain_id" = String, Path)),
    responses((status = 200, body = DiscoveryDomainBody), (status = 404, body = ApiErrorBody)))]
async fn discovery_domain_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, domain_id)): Path<(String, String)>,
) -> Result<Json<DiscoveryDomainBody>, ApiError> {
    auth.require("read:organization_discovery_domains")?;
    match state.store.get_discovery_domain(&id, &domain_id).await {
        Ok(found) => Ok(Json(found.into())),
        Err(StoreError::NotFound) => {
            let transfer = state
                .store
                .get_domain_transfer(&id, &domain_id)
                .await
                .map_err(domain_not_found)?;
            Ok(Json(transfer.into()))
        }
        Err(other) => Err(other.into()),
    }
}

#[utoipa::path(get, path = "/api/v2/organizations/{id}/discovery-domains/name/{discovery_domain}", tag = "organizations",
    params(("id" = String, Path), ("discovery_domain" = String, Path, description = "The domain, in any form (normalized before the lookup)")),
    responses((status = 200, body = DiscoveryDomainBody), (status = 404, body = ApiErrorBody)))]
async fn discovery_domain_by_name_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<DiscoveryDomainBody>, ApiError> {
    auth.require("read:organization_discovery_domains")?;
    // A name that is no domain names no discovery domain.
    let normalized =
        domain::normalize(&name).map_err(|_| domain_not_found(StoreError::NotFound))?;
    let found = state
        .store
        .get_discovery_domain_by_name(&id, &normalized)
        .await
        .map_err(domain_not_found)?;
    Ok(Json(found.into()))
}

#[utoipa::path(patch, path = "/api/v2/organizations/{id}/discovery-domains/{discovery_domain_id}", tag = "organizations",
    params(("id" = String, Path), ("discovery_domain_id" = String, Path)), request_body = UpdateDiscoveryDomainBody,
    responses((status = 200, body = DiscoveryDomainBody), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn discovery_domain_patch(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, domain_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateDiscoveryDomainBody>,
) -> Result<Json<DiscoveryDomainBody>, ApiError> {
    auth.require("update:organization_discovery_domains")?;
    if let Some(connection_id) = &body.connection_id {
        check_connection(&state, &id, connection_id.as_deref()).await?;
    }
    let current = state
        .store
        .get_discovery_domain(&id, &domain_id)
        .await
        .map_err(domain_not_found)?;
    let updated = state
        .store
        .update_discovery_domain_with(&id, &domain_id, |mut d| {
            if let Some(status) = body.status {
                d.status = status;
            }
            if let Some(discovery) = body.use_for_organization_discovery {
                d.use_for_organization_discovery = discovery;
            }
            if let Some(connection_id) = body.connection_id {
                d.connection_id = connection_id;
            }
            if let Some(include_subdomains) = body.include_subdomains {
                d.include_subdomains = include_subdomains;
            }
            Ok::<_, ApiError>(d)
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => domain_not_found(e),
            other => claim_refused(other, &current.domain),
        })??;
    let updated = if body.status.is_some() {
        // The admin's word: verified is never demoted by DNS; pending is
        // looked up again at the next pass.
        state
            .store
            .set_discovery_domain_vouched(&id, &domain_id)
            .await
            .map_err(domain_not_found)?;
        state
            .store
            .get_discovery_domain(&id, &domain_id)
            .await
            .map_err(domain_not_found)?
    } else {
        updated
    };
    state.domain_changed(&updated.domain).await;
    Ok(Json(updated.into()))
}

#[utoipa::path(delete, path = "/api/v2/organizations/{id}/discovery-domains/{discovery_domain_id}", tag = "organizations",
    params(("id" = String, Path), ("discovery_domain_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn discovery_domain_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, domain_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:organization_discovery_domains")?;
    let claim = match state.store.get_discovery_domain(&id, &domain_id).await {
        Ok(claim) => claim,
        Err(StoreError::NotFound) => {
            // A transfer claim, withdrawn: routing never saw it.
            state
                .store
                .delete_domain_transfer(&id, &domain_id)
                .await
                .map_err(domain_not_found)?;
            return Ok(StatusCode::NO_CONTENT);
        }
        Err(other) => return Err(other.into()),
    };
    state
        .store
        .delete_discovery_domain(&id, &domain_id)
        .await
        .map_err(domain_not_found)?;
    state.domain_changed(&claim.domain).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v2/organizations/{id}/discovery-domains/{discovery_domain_id}/verify", tag = "organizations",
    params(("id" = String, Path), ("discovery_domain_id" = String, Path)),
    responses((status = 200, description = "The domain after the lookup: `verified` when its `verification_txt` is a TXT string at `verification_host`, else `verification_reason` says why; a transfer claim found is the transferred domain", body = DiscoveryDomainBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn discovery_domain_verify(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, domain_id)): Path<(String, String)>,
) -> Result<Json<DiscoveryDomainBody>, ApiError> {
    auth.require("update:organization_discovery_domains")?;
    let transfer = match state.store.get_discovery_domain(&id, &domain_id).await {
        Ok(claim) => {
            let checked = domain_verification::verify_domain(&state, &claim)
                .await
                .map_err(domain_not_found)?;
            return Ok(Json(checked.into()));
        }
        Err(StoreError::NotFound) => state
            .store
            .get_domain_transfer(&id, &domain_id)
            .await
            .map_err(domain_not_found)?,
        Err(other) => return Err(other.into()),
    };
    match domain_verification::verify_transfer(&state, &transfer).await {
        Ok(TransferCheck::Transferred(domain)) => Ok(Json(domain.into())),
        Ok(TransferCheck::Pending(transfer)) => Ok(Json(transfer.into())),
        Err(StoreError::NotFound) => Err(domain_not_found(StoreError::NotFound)),
        Err(e) => Err(claim_refused(e, &transfer.domain)),
    }
}
