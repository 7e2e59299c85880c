//! `/users` (list, create, read, update, delete) and `/users-by-email`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::inert;
use super::user_properties::{CreateUserActions, UpdateUserActions, UserInertSettings};
use super::{ApiJson, ApiQuery, ManagementAuth, Paging, nullable, paged};
use crate::connectors::database::{check_password_policy, hash_password};
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::connection::Connection;
use crate::model::user::{User, normalize_email};
use crate::model::{ValidationError, check_display_text, check_url, ids};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::users::{StoredUser, UserFilter};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(users_post, users_list))
        .routes(routes!(user_get, user_patch, user_delete))
        .routes(routes!(users_by_email_get))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityBody {
    pub connection: String,
    pub provider: String,
    pub user_id: String,
    #[serde(rename = "isSocial")]
    pub is_social: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub user_id: String,
    pub email: String,
    pub email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    pub blocked: bool,
    pub identities: Vec<IdentityBody>,
    #[schema(value_type = Object)]
    pub app_metadata: Map<String, Value>,
    #[schema(value_type = Object)]
    pub user_metadata: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(flatten)]
    pub inert: UserInertSettings,
}

fn user_body(stored: StoredUser, connection: &Connection) -> UserBody {
    let user = stored.user;
    UserBody {
        identities: vec![IdentityBody {
            connection: connection.name.clone(),
            provider: connection.strategy.as_str().to_owned(),
            user_id: user.user_id.clone(),
            is_social: connection.strategy.is_social(),
        }],
        user_id: user.user_id,
        email: user.email,
        email_verified: user.email_verified,
        name: user.name,
        given_name: user.given_name,
        family_name: user.family_name,
        nickname: user.nickname,
        picture: user.picture,
        blocked: user.blocked,
        app_metadata: user.app_metadata,
        user_metadata: user.user_metadata,
        created_at: crate::clock::rfc3339_from_millis(stored.created_at),
        updated_at: crate::clock::rfc3339_from_millis(stored.updated_at),
        inert: inert::returned(&stored.inert_settings),
    }
}

async fn with_connection(state: &AppState, stored: StoredUser) -> Result<UserBody, ApiError> {
    let connection = state
        .store
        .get_connection(&stored.user.connection_id)
        .await?;
    Ok(user_body(stored, &connection))
}

pub(super) fn user_not_found(err: StoreError) -> ApiError {
    ApiError::from_store(err, "The user does not exist", "inexistent_user")
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    /// Name of the database connection.
    pub connection: String,
    pub email: String,
    pub password: String,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    pub blocked: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub app_metadata: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub user_metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub inert: UserInertSettings,
    #[serde(flatten)]
    pub _actions: CreateUserActions,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    pub email: Option<String>,
    pub password: Option<String>,
    pub email_verified: Option<bool>,
    /// `null` clears it (so for `given_name`, `family_name`, `nickname`, `picture`).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub given_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub family_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub nickname: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub picture: Option<Option<String>>,
    pub blocked: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub app_metadata: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub user_metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub inert: UserInertSettings,
    #[serde(flatten)]
    pub _actions: UpdateUserActions,
}

fn check_profile(user: &User) -> Result<(), ValidationError> {
    for (field, value) in [
        ("name", &user.name),
        ("given_name", &user.given_name),
        ("family_name", &user.family_name),
        ("nickname", &user.nickname),
    ] {
        if let Some(value) = value {
            check_display_text(field, value, 300)?;
        }
    }
    if let Some(picture) = &user.picture {
        check_url("picture", picture, false)?;
    }
    Ok(())
}

/// Finds a database connection by name, for creating password users.
async fn database_connection(state: &AppState, name: &str) -> Result<Connection, ApiError> {
    let filter = crate::store::ConnectionFilter {
        strategy: None,
        name: Some(name.to_owned()),
    };
    let connection = state
        .store
        .list_connections(&filter, &crate::store::Page::all())
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::bad_request(format!("The connection does not exist: {name}")))?;
    if !connection.strategy.is_database() {
        return Err(ApiError::bad_request(format!(
            "Users can only be created in database connections; '{name}' is {}",
            connection.strategy
        )));
    }
    Ok(connection)
}

#[utoipa::path(post, path = "/api/v2/users", tag = "users", request_body = CreateUserBody,
    responses((status = 201, body = UserBody), (status = 400, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn users_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateUserBody>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    auth.require("create:users")?;
    let connection = database_connection(&state, &body.connection).await?;
    let user = User {
        user_id: ids::new_id(ids::USER),
        connection_id: connection.id.clone(),
        email: normalize_email(&body.email)?,
        email_verified: body.email_verified.unwrap_or(false),
        name: body.name,
        given_name: body.given_name,
        family_name: body.family_name,
        nickname: body.nickname,
        picture: body.picture,
        blocked: body.blocked.unwrap_or(false),
        app_metadata: body.app_metadata.unwrap_or_default(),
        user_metadata: body.user_metadata.unwrap_or_default(),
    };
    check_profile(&user)?;
    check_password_policy(&connection.options, &body.password)?;
    let hash = hash_password(body.password)
        .await
        .map_err(ApiError::from_password_error)?;
    state.store.insert_user(&user, Some(&hash)).await?;
    state
        .store
        .update_user_inert_settings(&user.user_id, |stored| inert::merge(stored, &body.inert))
        .await?;
    let stored = state.store.get_user(&user.user_id).await?;
    Ok((StatusCode::CREATED, Json(user_body(stored, &connection))))
}

#[utoipa::path(get, path = "/api/v2/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = UserBody), (status = 404, body = ApiErrorBody)))]
async fn user_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserBody>, ApiError> {
    auth.require("read:users")?;
    let stored = state.store.get_user(&id).await.map_err(user_not_found)?;
    Ok(Json(with_connection(&state, stored).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Only the users of this connection (by name).
    pub connection: Option<String>,
    /// A search in Auth0's syntax, limited to `email:"…"` and
    /// `identities.connection:"…"`, joined by `AND`.
    pub q: Option<String>,
}

/// The filter a `GET /users` query asks for. Only the searches Switchyard
/// can answer exactly are accepted: a search it ignored would return every
/// user to a tool that asked for one.
fn user_filter(query: &UsersQuery) -> Result<UserFilter, ApiError> {
    let mut filter = UserFilter {
        connection_name: query.connection.clone().filter(|c| !c.is_empty()),
        email: None,
    };
    let unsupported = || {
        ApiError::invalid_query(
            "Query validation error: q supports email:\"…\" and identities.connection:\"…\", \
             joined by AND (or use /users-by-email)",
        )
    };
    let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(filter);
    };
    for term in q.split(" AND ") {
        let (field, value) = term.trim().split_once(':').ok_or_else(unsupported)?;
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if value.is_empty() || value.contains(['"', '*', ' ']) {
            return Err(unsupported());
        }
        match field {
            "email" => {
                let email = normalize_email(value).map_err(|e| {
                    ApiError::invalid_query(format!("Query validation error: {}", e.reason))
                })?;
                filter.email = Some(email);
            }
            "identities.connection" => match &filter.connection_name {
                // Both say which connection: they must agree (AND).
                Some(named) if named != value => {
                    return Err(ApiError::invalid_query(
                        "Query validation error: connection and q name different connections",
                    ));
                }
                _ => filter.connection_name = Some(value.to_owned()),
            },
            _ => return Err(unsupported()),
        }
    }
    Ok(filter)
}

#[utoipa::path(get, path = "/api/v2/users", tag = "users", params(UsersQuery, Paging),
    responses((status = 200, description = "An array, or `{users, start, limit, total}` with include_totals", body = [UserBody]),
        (status = 400, body = ApiErrorBody)))]
async fn users_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<UsersQuery>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Value>, ApiError> {
    auth.require("read:users")?;
    let filter = user_filter(&query)?;
    let (mode, page) = paging.mode()?;
    let stored = state.store.list_users(&filter, &page).await?;
    // A page holds users of a few connections: each is read once.
    let mut connections: HashMap<String, Connection> = HashMap::new();
    let mut users = Vec::with_capacity(stored.len());
    for user in stored {
        let connection_id = user.user.connection_id.clone();
        if !connections.contains_key(&connection_id) {
            let connection = state.store.get_connection(&connection_id).await?;
            connections.insert(connection_id.clone(), connection);
        }
        users.push(user_body(user, &connections[&connection_id]));
    }
    Ok(Json(
        paged(
            "users",
            mode,
            users,
            |u| u.user_id.clone(),
            state.store.count_users(&filter),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmailQuery {
    pub email: String,
}

#[utoipa::path(get, path = "/api/v2/users-by-email", tag = "users", params(EmailQuery),
    responses((status = 200, body = [UserBody]), (status = 400, body = ApiErrorBody)))]
async fn users_by_email_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<EmailQuery>,
) -> Result<Json<Vec<UserBody>>, ApiError> {
    auth.require("read:users")?;
    let email = normalize_email(&query.email)
        .map_err(|e| ApiError::invalid_query(format!("Query validation error: {}", e.reason)))?;
    let mut users = Vec::new();
    for stored in state.store.list_users_by_email(&email).await? {
        users.push(with_connection(&state, stored).await?);
    }
    Ok(Json(users))
}

#[utoipa::path(patch, path = "/api/v2/users/{id}", tag = "users", params(("id" = String, Path)),
    request_body = UpdateUserBody,
    responses((status = 200, body = UserBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn user_patch(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUserBody>,
) -> Result<Json<UserBody>, ApiError> {
    auth.require("update:users")?;
    let connection_id = state
        .store
        .get_user(&id)
        .await
        .map_err(user_not_found)?
        .user
        .connection_id;
    let connection = state.store.get_connection(&connection_id).await?;
    // The password is checked and hashed before the transaction (hashing
    // takes a while); a refusal is reported in its place, after the profile's.
    let (password_refused, new_hash) = match body.password {
        Some(password) => match new_password_hash(&connection, password).await {
            Ok(hash) => (None, Some(hash)),
            Err(refused) => (Some(refused), None),
        },
        None => (None, None),
    };
    let mut was_blocked = false;
    let user = state
        .store
        .update_user_with(&id, |mut user| {
            was_blocked = user.blocked;
            if let Some(email) = &body.email {
                user.email = normalize_email(email)?;
            }
            macro_rules! set_opt {
                ($($field:ident),*) => { $(if let Some(v) = body.$field { user.$field = v; })* };
            }
            set_opt!(name, given_name, family_name, nickname, picture);
            if let Some(v) = body.email_verified {
                user.email_verified = v;
            }
            if let Some(v) = body.blocked {
                user.blocked = v;
            }
            if let Some(v) = body.app_metadata {
                user.app_metadata = v;
            }
            if let Some(v) = body.user_metadata {
                user.user_metadata = v;
            }
            check_profile(&user)?;
            match password_refused {
                Some(refused) => Err(refused),
                None => Ok(user),
            }
        })
        .await
        .map_err(user_not_found)??;
    state
        .store
        .update_user_inert_settings(&id, |stored| inert::merge(stored, &body.inert))
        .await
        .map_err(user_not_found)?;
    if let Some(hash) = new_hash {
        state
            .store
            .update_user_password(&id, &hash)
            .await
            .map_err(user_not_found)?;
    }
    if user.blocked && !was_blocked {
        // Blocking logs the user out everywhere at once: their sessions end
        // (announced to back-channel logout clients), their refresh tokens
        // and the access tokens issued with them are revoked.
        crate::flows::backchannel::end_user_sessions(&state, &id).await?;
        state.store.revoke_user_refresh_grants(&id).await?;
    }
    let stored = state.store.get_user(&id).await.map_err(user_not_found)?;
    Ok(Json(user_body(stored, &connection)))
}

/// The stored hash of a new password for a user of `connection`: only
/// database users have one, and it must pass the connection's policy.
async fn new_password_hash(connection: &Connection, password: String) -> Result<String, ApiError> {
    if !connection.strategy.is_database() {
        return Err(ValidationError::new("password", "only database users have a password").into());
    }
    check_password_policy(&connection.options, &password)?;
    hash_password(password)
        .await
        .map_err(ApiError::from_password_error)
}

#[utoipa::path(delete, path = "/api/v2/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn user_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:users")?;
    // The user's sessions go with the account: their clients are told first.
    crate::flows::backchannel::end_user_sessions(&state, &id).await?;
    state.store.delete_user(&id).await.map_err(user_not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_of(q: &str) -> Result<UserFilter, ApiError> {
        user_filter(&UsersQuery {
            connection: None,
            q: Some(q.to_owned()),
        })
    }

    #[test]
    fn searches_are_the_ones_answered_exactly() {
        assert_eq!(
            filter_of(r#"email:"Alice@Acme.TEST""#).ok(),
            Some(UserFilter {
                connection_name: None,
                email: Some("alice@acme.test".into()),
            })
        );
        assert_eq!(
            filter_of(r#"identities.connection:"users" AND email:bob@acme.test"#).ok(),
            Some(UserFilter {
                connection_name: Some("users".into()),
                email: Some("bob@acme.test".into()),
            })
        );
        let both = |connection: &str, q: &str| {
            user_filter(&UsersQuery {
                connection: Some(connection.into()),
                q: Some(q.into()),
            })
        };
        assert!(both("users", r#"identities.connection:"users""#).is_ok());
        assert!(both("staff", r#"identities.connection:"users""#).is_err());
        for refused in [
            "alice",
            "name:Alice",
            r#"email:"*@acme.test""#,
            r#"email:"a" OR email:"b""#,
            "email:",
            "email:not-an-email",
        ] {
            assert!(filter_of(refused).is_err(), "{refused}");
        }
    }
}
