//! SSO sessions and refresh tokens, as Auth0's Management API shows them: a
//! user's live sessions and refresh-token families, one of each, and ending
//! them (an administrator signing a user out everywhere, or revoking the
//! offline access of their apps).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::user_not_found;
use super::{ApiQuery, ManagementAuth, Paging, list_page, paged};
use crate::clock::rfc3339_from_millis;
use crate::flows::session::SESSION_IDLE_LIFETIME_MS;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::state::AppState;
use crate::store::{RefreshGrant, StoredSession};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(user_sessions_list, user_sessions_delete))
        .routes(routes!(session_get, session_delete))
        .routes(routes!(
            user_refresh_tokens_list,
            user_refresh_tokens_delete
        ))
        .routes(routes!(refresh_token_get, refresh_token_delete))
}

/// A refresh-token family (each use rotates the token; the family stays).
#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshTokenBody {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// The API (`audience`) and scopes it was granted for.
    pub resource_servers: Vec<RefreshTokenResource>,
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshTokenResource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    pub scopes: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshTokensBody {
    pub tokens: Vec<RefreshTokenBody>,
    /// The `from` of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl From<RefreshGrant> for RefreshTokenBody {
    fn from(grant: RefreshGrant) -> Self {
        RefreshTokenBody {
            expires_at: rfc3339_from_millis(grant.expires_at),
            resource_servers: vec![RefreshTokenResource {
                audience: grant.audience,
                scopes: grant.scope.join(" "),
            }],
            id: grant.id,
            user_id: grant.user_id,
            client_id: grant.client_id,
            session_id: grant.session_id,
            organization_id: grant.organization_id,
        }
    }
}

fn refresh_token_not_found(err: crate::store::StoreError) -> ApiError {
    ApiError::from_store(
        err,
        "The refresh token does not exist",
        "inexistent_refresh_token",
    )
}

#[utoipa::path(get, path = "/api/v2/users/{id}/refresh-tokens", tag = "users",
    params(("id" = String, Path), Paging),
    responses((status = 200, description = "`{tokens, next}`: `next` is the `from` of the next page, absent on the last", body = RefreshTokensBody),
        (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn user_refresh_tokens_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:refresh_tokens")?;
    let paging = paging.checkpoint_only()?;
    state.store.get_user(&id).await.map_err(user_not_found)?;
    let now = state.clock.now_unix_millis();
    list_page(
        "tokens",
        &paging,
        async |page| state.store.list_user_refresh_grants(&id, now, page).await,
        |t: &RefreshTokenBody| t.id.clone(),
        // Checkpoint pages carry no total.
        std::future::ready(Ok(0)),
    )
    .await
}

#[utoipa::path(delete, path = "/api/v2/users/{id}/refresh-tokens", tag = "users",
    params(("id" = String, Path)),
    responses((status = 202), (status = 404, body = ApiErrorBody)))]
async fn user_refresh_tokens_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:refresh_tokens")?;
    state.store.get_user(&id).await.map_err(user_not_found)?;
    let revoked = state.store.revoke_user_refresh_grants(&id).await?;
    tracing::info!(user_id = %id, revoked, "refresh tokens of user revoked");
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(get, path = "/api/v2/refresh-tokens/{id}", tag = "refresh-tokens",
    params(("id" = String, Path)),
    responses((status = 200, body = RefreshTokenBody), (status = 404, body = ApiErrorBody)))]
async fn refresh_token_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RefreshTokenBody>, ApiError> {
    auth.require("read:refresh_tokens")?;
    let grant = state
        .store
        .get_refresh_grant(&id, state.clock.now_unix_millis())
        .await
        .map_err(refresh_token_not_found)?;
    Ok(Json(grant.into()))
}

#[utoipa::path(delete, path = "/api/v2/refresh-tokens/{id}", tag = "refresh-tokens",
    params(("id" = String, Path)),
    responses((status = 202), (status = 404, body = ApiErrorBody)))]
async fn refresh_token_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:refresh_tokens")?;
    if !state.store.revoke_refresh_grant(&id).await? {
        return Err(refresh_token_not_found(crate::store::StoreError::NotFound));
    }
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    pub id: String,
    pub user_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub authenticated_at: String,
    pub idle_expires_at: String,
    pub expires_at: String,
    /// The connection the user logged in with.
    pub connection_id: String,
    /// The organizations the session was used for.
    pub organizations: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsBody {
    pub sessions: Vec<SessionBody>,
    /// The `from` of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

async fn session_body(state: &AppState, session: StoredSession) -> Result<SessionBody, ApiError> {
    let organizations = state.store.list_session_organizations(&session.id).await?;
    Ok(SessionBody {
        created_at: rfc3339_from_millis(session.created_at),
        updated_at: rfc3339_from_millis(session.last_used_at),
        authenticated_at: rfc3339_from_millis(session.auth_time * 1000),
        idle_expires_at: rfc3339_from_millis(
            (session.last_used_at + SESSION_IDLE_LIFETIME_MS).min(session.expires_at),
        ),
        expires_at: rfc3339_from_millis(session.expires_at),
        id: session.id,
        user_id: session.user_id,
        connection_id: session.connection_id,
        organizations,
    })
}

fn session_not_found(err: crate::store::StoreError) -> ApiError {
    ApiError::from_store(err, "The session does not exist", "inexistent_session")
}

#[utoipa::path(get, path = "/api/v2/users/{id}/sessions", tag = "users",
    params(("id" = String, Path), Paging),
    responses((status = 200, description = "`{sessions, next}`: `next` is the `from` of the next page, absent on the last", body = SessionsBody),
        (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn user_sessions_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:sessions")?;
    let (mode, page) = paging.checkpoint_only()?.mode()?;
    state.store.get_user(&id).await.map_err(user_not_found)?;
    let now = state.clock.now_unix_millis();
    let mut sessions = Vec::new();
    for session in state
        .store
        .list_user_sessions(&id, now, now - SESSION_IDLE_LIFETIME_MS, &page)
        .await?
    {
        sessions.push(session_body(&state, session).await?);
    }
    Ok(Json(
        // Checkpoint pages carry no total.
        paged(
            "sessions",
            mode,
            sessions,
            |s| s.id.clone(),
            std::future::ready(Ok(0)),
        )
        .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v2/users/{id}/sessions", tag = "users",
    params(("id" = String, Path)),
    responses((status = 202), (status = 404, body = ApiErrorBody)))]
async fn user_sessions_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:sessions")?;
    state.store.get_user(&id).await.map_err(user_not_found)?;
    let ended = crate::flows::backchannel::end_user_sessions(&state, &id).await?;
    tracing::info!(user_id = %id, ended, "sessions of user ended");
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(get, path = "/api/v2/sessions/{id}", tag = "sessions",
    params(("id" = String, Path)),
    responses((status = 200, body = SessionBody), (status = 404, body = ApiErrorBody)))]
async fn session_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SessionBody>, ApiError> {
    auth.require("read:sessions")?;
    let session = state
        .store
        .get_session(&id)
        .await
        .map_err(session_not_found)?;
    Ok(Json(session_body(&state, session).await?))
}

#[utoipa::path(delete, path = "/api/v2/sessions/{id}", tag = "sessions",
    params(("id" = String, Path)),
    responses((status = 202), (status = 404, body = ApiErrorBody)))]
async fn session_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:sessions")?;
    if !crate::flows::backchannel::end_session(&state, &id).await? {
        return Err(session_not_found(crate::store::StoreError::NotFound));
    }
    Ok(StatusCode::ACCEPTED)
}
