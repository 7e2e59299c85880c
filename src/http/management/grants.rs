//! `/grants`: the consents users gave third-party clients (Auth0's user
//! grants), listed and revoked. Revoking a grant makes the next login ask
//! again, and revokes the refresh tokens issued under it (with their
//! access tokens), as Auth0 does.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, ManagementAuth, Paging, list_page};
use crate::flows::consent::userinfo_audience;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::state::AppState;
use crate::store::{UserGrant, UserGrantFilter};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(grants_list, grants_delete_by_user))
        .routes(routes!(grant_delete))
}

/// A user's consent to a client, in Auth0's shape (`clientID`, as Auth0
/// spells it here).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserGrantBody {
    pub id: String,
    #[serde(rename = "clientID")]
    pub client_id: String,
    pub user_id: String,
    /// The API's identifier, or the issuer's `/userinfo` for the OpenID scopes alone.
    pub audience: String,
    pub scope: Vec<String>,
}

impl From<UserGrant> for UserGrantBody {
    fn from(grant: UserGrant) -> Self {
        UserGrantBody {
            id: grant.id,
            client_id: grant.client_id,
            user_id: grant.user_id,
            audience: grant.audience,
            scope: grant.scope,
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantQuery {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub audience: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantUserQuery {
    /// The user whose grants are deleted (required).
    pub user_id: Option<String>,
}

list_body!(UserGrantList, "grants", UserGrantBody);

#[utoipa::path(get, path = "/api/v2/grants", tag = "grants", params(GrantQuery, Paging),
    responses((status = 200, description = "An array, or `{grants, start, limit, total}` with include_totals", body = UserGrantList)))]
async fn grants_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<GrantQuery>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    auth.require("read:grants")?;
    let filter = UserGrantFilter {
        user_id: query.user_id,
        client_id: query.client_id,
        audience: query.audience,
    };
    list_page(
        "grants",
        &paging,
        async |page| state.store.list_user_grants(&filter, page).await,
        |g: &UserGrantBody| g.id.clone(),
        state.store.count_user_grants(&filter),
    )
    .await
}

/// Deletes every grant of a user (Auth0 answers 204 whether there were any).
#[utoipa::path(delete, path = "/api/v2/grants", tag = "grants", params(GrantUserQuery),
    responses((status = 204), (status = 400, body = ApiErrorBody)))]
async fn grants_delete_by_user(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<GrantUserQuery>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:grants")?;
    let user_id = query
        .user_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::invalid_query("Query validation error: user_id is required"))?;
    let deleted = state
        .store
        .delete_user_grants_of_user(&user_id, &userinfo_audience(&state))
        .await?;
    tracing::info!(%user_id, deleted, "grants of user deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a grant (Auth0 answers 204 whether it existed).
#[utoipa::path(delete, path = "/api/v2/grants/{id}", tag = "grants", params(("id" = String, Path)),
    responses((status = 204)))]
async fn grant_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:grants")?;
    match state
        .store
        .delete_user_grant(&id, &userinfo_audience(&state))
        .await
    {
        Ok(()) | Err(crate::store::StoreError::NotFound) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(e.into()),
    }
}
