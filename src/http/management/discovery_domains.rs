//! `/organizations/{id}/discovery-domains`: the email domains an
//! organization claims for home-realm discovery, in Auth0's shape (the
//! `auth0` SDK's `organizations.discoveryDomains`), with Switchyard's
//! `connection_id` and `include_subdomains`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::organizations::organization_not_found;
use super::{ApiJson, ApiQuery, ManagementAuth, Paging, list_page, nullable};
use crate::cache::Change;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::domain::{self, DiscoveryDomain, DomainStatus};
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
}

impl From<DiscoveryDomain> for DiscoveryDomainBody {
    fn from(d: DiscoveryDomain) -> Self {
        DiscoveryDomainBody {
            verification_host: d.verification_host(),
            id: d.id,
            domain: d.domain,
            status: d.status,
            use_for_organization_discovery: d.use_for_organization_discovery,
            verification_txt: d.verification_txt,
            connection_id: d.connection_id,
            include_subdomains: d.include_subdomains,
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
/// a hostname or is a public mail domain.
fn claimable(input: &str) -> Result<String, ApiError> {
    let normalized = domain::normalize(input)?;
    if domain::is_public_email_domain(&normalized) {
        return Err(ApiError::bad_request(format!(
            "Payload validation error: {normalized} is a public email domain and cannot be claimed"
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
    check_connection(&state, &id, body.connection_id.as_deref()).await?;
    claim.connection_id = body.connection_id;
    claim.status = body.status.unwrap_or(DomainStatus::Pending);
    claim.use_for_organization_discovery = body.use_for_organization_discovery.unwrap_or(true);
    claim.include_subdomains = body.include_subdomains.unwrap_or(false);
    state
        .store
        .insert_discovery_domain(&claim)
        .await
        .map_err(|e| claim_refused(e, &claim.domain))?;
    routing_changed(&state, &claim.domain).await;
    Ok((StatusCode::CREATED, Json(claim.into())))
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
    let found = state
        .store
        .get_discovery_domain(&id, &domain_id)
        .await
        .map_err(domain_not_found)?;
    Ok(Json(found.into()))
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
    routing_changed(&state, &updated.domain).await;
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
    let claim = state
        .store
        .get_discovery_domain(&id, &domain_id)
        .await
        .map_err(domain_not_found)?;
    state
        .store
        .delete_discovery_domain(&id, &domain_id)
        .await
        .map_err(domain_not_found)?;
    routing_changed(&state, &claim.domain).await;
    Ok(StatusCode::NO_CONTENT)
}

/// After a write to the claim of `domain`: every node's routing table drops it.
async fn routing_changed(state: &AppState, domain: &str) {
    state
        .cached_data_changed(Change::DiscoveryDomain {
            domain: domain.to_owned(),
        })
        .await;
}
