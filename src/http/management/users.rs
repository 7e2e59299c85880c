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
use crate::model::connection::{Connection, Strategy};
use crate::model::user::{User, federated_user_id, normalize_email, parse_federated_user_id};
use crate::model::{ValidationError, check_display_text, check_url, ids};
use crate::state::AppState;
use crate::store::identities::StoredIdentity;
use crate::store::users::{StoredUser, UserFilter};
use crate::store::{ConnectionFilter, Page, StoreError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(users_post, users_list))
        .routes(routes!(user_get, user_patch, user_delete))
        .routes(routes!(users_by_email_get))
        .routes(routes!(user_identities_post))
        .routes(routes!(user_identity_delete))
}

/// One identity of a user, as Auth0 shows it: a database user's own (its
/// `user_id` the user's), and each upstream identity (its `user_id` the
/// upstream's id of the person).
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityBody {
    pub connection: String,
    pub provider: String,
    pub user_id: String,
    #[serde(rename = "isSocial")]
    pub is_social: bool,
    /// What the upstream sent at the identity's last login, for the
    /// identities other than the one the user was made from (Auth0's
    /// `profileData` of linked accounts).
    #[serde(rename = "profileData", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub profile_data: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub user_id: String,
    /// Left out for a user whose upstream sent no email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
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

fn user_body(stored: StoredUser, identities: Vec<IdentityBody>) -> UserBody {
    let user = stored.user;
    UserBody {
        identities,
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

/// The connections a response names, each read once.
#[derive(Default)]
struct Connections(HashMap<String, Connection>);

impl Connections {
    async fn get(&mut self, state: &AppState, id: &str) -> Result<&Connection, ApiError> {
        if !self.0.contains_key(id) {
            let connection = state.store.get_connection(id).await?;
            self.0.insert(id.to_owned(), connection);
        }
        self.0
            .get(id)
            .ok_or_else(|| ApiError::internal("connection read but not kept"))
    }
}

/// A user's identities as Auth0 lists them, the user's main one first: a
/// database user's own, or the upstream identity it was provisioned from;
/// then the linked ones, oldest first.
async fn identities_of(
    state: &AppState,
    connections: &mut Connections,
    user: &User,
) -> Result<Vec<IdentityBody>, ApiError> {
    let stored = state.store.list_user_identities(&user.user_id).await?;
    identity_bodies(state, connections, user, stored).await
}

/// [`identities_of`], from the user's stored upstream identities.
async fn identity_bodies(
    state: &AppState,
    connections: &mut Connections,
    user: &User,
    stored: Vec<StoredIdentity>,
) -> Result<Vec<IdentityBody>, ApiError> {
    let mut identities = Vec::new();
    let own = connections.get(state, &user.connection_id).await?;
    if own.strategy.is_database() {
        identities.push(IdentityBody {
            connection: own.name.clone(),
            provider: own.strategy.as_str().to_owned(),
            user_id: user.user_id.clone(),
            is_social: false,
            profile_data: None,
        });
    }
    for identity in stored {
        let connection = connections.get(state, &identity.connection_id).await?;
        let main = is_main_identity(user, connection, &identity.subject);
        let body = IdentityBody {
            connection: connection.name.clone(),
            provider: connection.strategy.as_str().to_owned(),
            user_id: identity.subject,
            is_social: connection.strategy.is_social(),
            profile_data: (!main).then_some(identity.profile_data),
        };
        if main {
            identities.insert(0, body);
        } else {
            identities.push(body);
        }
    }
    Ok(identities)
}

/// Whether `subject` at `connection` is the identity `user` was made from.
fn is_main_identity(user: &User, connection: &Connection, subject: &str) -> bool {
    user.user_id == federated_user_id(connection.strategy, &connection.name, subject)
}

/// Users as the Management API shows them, with their identities: read in
/// one query for the page, each connection once.
async fn user_bodies(state: &AppState, users: Vec<StoredUser>) -> Result<Vec<UserBody>, ApiError> {
    let mut connections = Connections::default();
    let ids: Vec<String> = users.iter().map(|u| u.user.user_id.clone()).collect();
    let mut stored_identities = state.store.list_identities_of_users(&ids).await?;
    let mut bodies = Vec::with_capacity(users.len());
    for stored in users {
        let own = stored_identities
            .remove(&stored.user.user_id)
            .unwrap_or_default();
        let identities = identity_bodies(state, &mut connections, &stored.user, own).await?;
        bodies.push(user_body(stored, identities));
    }
    Ok(bodies)
}

async fn one_user_body(state: &AppState, stored: StoredUser) -> Result<UserBody, ApiError> {
    user_bodies(state, vec![stored])
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("a user shown as no user"))
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
    let filter = ConnectionFilter {
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
    responses((status = 201, body = UserBody), (status = 400, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 503, description = "Every password-hashing slot is busy: retry shortly", body = ApiErrorBody)))]
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
        email: Some(normalize_email(&body.email)?),
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
    Ok((
        StatusCode::CREATED,
        Json(one_user_body(&state, stored).await?),
    ))
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
    Ok(Json(one_user_body(&state, stored).await?))
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

list_body!(UserList, "users", UserBody);

#[utoipa::path(get, path = "/api/v2/users", tag = "users", params(UsersQuery, Paging),
    responses((status = 200, description = "An array, or `{users, start, limit, total}` with include_totals", body = UserList),
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
    let users = user_bodies(&state, stored).await?;
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
    let users = state.store.list_users_by_email(&email).await?;
    Ok(Json(user_bodies(&state, users).await?))
}

#[utoipa::path(patch, path = "/api/v2/users/{id}", tag = "users", params(("id" = String, Path)),
    request_body = UpdateUserBody,
    responses((status = 200, body = UserBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 503, description = "Every password-hashing slot is busy: retry shortly", body = ApiErrorBody)))]
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
                user.email = Some(normalize_email(email)?);
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
    Ok(Json(one_user_body(&state, stored).await?))
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

/// `POST /users/{id}/identities`, as Auth0: the secondary account named by
/// `provider` and `user_id` (and its `connection_id`, if given) joins the
/// user `{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIdentityBody {
    /// The secondary account's provider (`oidc`, `google-oauth2`, …).
    pub provider: Option<String>,
    /// The secondary account's `user_id` without its `provider|` (Auth0's
    /// form), or whole; a string or a number.
    #[schema(value_type = Option<String>)]
    pub user_id: Option<Value>,
    /// The secondary account's connection, checked when given.
    pub connection_id: Option<String>,
    /// Auth0's alternative (the secondary account's ID token): not
    /// supported, refused with a 400 that says so.
    pub link_with: Option<String>,
}

/// The ids the secondary account of a link may have. Auth0 names it by
/// `provider` and its `user_id` without `provider|` (here
/// `<connection>|<subject>`); a tool may send the whole id; with
/// `connection_id`, `user_id` may be the upstream's subject alone. The
/// subject may itself hold `|`, so one `user_id` can read several ways: each
/// reading is a well-formed id of `provider`. Database users keep their
/// `usr_…` ids.
fn secondary_user_ids(
    provider: &str,
    user_id: &str,
    connection: Option<&Connection>,
) -> Vec<String> {
    if provider == Strategy::Database.as_str() {
        return vec![user_id.to_owned()];
    }
    let mut readings = vec![format!("{provider}|{user_id}"), user_id.to_owned()];
    if let Some(connection) = connection {
        readings.push(federated_user_id(
            connection.strategy,
            &connection.name,
            user_id,
        ));
    }
    readings.retain(|id| {
        parse_federated_user_id(id).is_some_and(|(strategy, _, _)| strategy.as_str() == provider)
    });
    readings
}

/// The secondary account a link names: exactly one of the readings of its
/// `user_id` (in `connection_id`'s connection, when given) must be a user.
/// Two are refused rather than one guessed: linking the wrong account would
/// give its logins to the primary user.
async fn secondary_user(
    state: &AppState,
    provider: &str,
    user_id: &str,
    connection_id: Option<&str>,
) -> Result<User, ApiError> {
    let connection = match connection_id {
        Some(id) => match state.store.get_connection(id).await {
            Ok(connection) => Some(connection),
            Err(StoreError::NotFound) => {
                return Err(ApiError::bad_request(
                    "connection_id is not the secondary user's connection",
                ));
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    // Auth0's social ids are `google-oauth2|123`, so its callers send
    // `{"provider": "google-oauth2", "user_id": "123"}`: with the tenant's
    // one connection of that strategy, that is its upstream subject too.
    let implied = match &connection {
        Some(_) => None,
        None => only_connection_of(state, provider).await?,
    };
    let readings = secondary_user_ids(provider, user_id, connection.as_ref().or(implied.as_ref()));
    if readings.is_empty() {
        return Err(ApiError::bad_request(format!(
            "user_id must be the secondary account's id without '{provider}|' \
             (<connection>|<id>), or the upstream's id with connection_id"
        )));
    }
    let mut found = Vec::new();
    for id in readings {
        match state.store.get_user(&id).await {
            Ok(stored) => found.push(stored.user),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if found.is_empty() {
        return Err(ApiError::not_found(
            "The secondary user does not exist",
            "inexistent_user",
        ));
    }
    if let Some(connection) = &connection {
        found.retain(|user| user.connection_id == connection.id);
    }
    match found.len() {
        0 => Err(ApiError::bad_request(
            "connection_id is not the secondary user's connection",
        )),
        1 => Ok(found.remove(0)),
        _ => Err(ApiError::bad_request(
            "user_id names several accounts (its subject holds '|'): \
             give the secondary account's connection_id",
        )),
    }
}

/// The tenant's connection of strategy `provider` when it has exactly one.
async fn only_connection_of(
    state: &AppState,
    provider: &str,
) -> Result<Option<Connection>, ApiError> {
    let Ok(strategy) = provider.parse::<Strategy>() else {
        return Ok(None);
    };
    if strategy.is_database() {
        return Ok(None);
    }
    let filter = ConnectionFilter {
        strategy: Some(strategy),
        name: None,
    };
    let page = Page {
        offset: 0,
        limit: 2,
        after_id: None,
    };
    let mut found = state.store.list_connections(&filter, &page).await?;
    Ok(if found.len() == 1 { found.pop() } else { None })
}

#[utoipa::path(post, path = "/api/v2/users/{id}/identities", tag = "users",
    params(("id" = String, Path, description = "The primary account")),
    request_body = LinkIdentityBody,
    responses((status = 201, description = "The primary account's identities", body = [IdentityBody]),
        (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn user_identities_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LinkIdentityBody>,
) -> Result<(StatusCode, Json<Vec<IdentityBody>>), ApiError> {
    auth.require("update:users")?;
    let primary = state
        .store
        .get_user(&id)
        .await
        .map_err(user_not_found)?
        .user;
    if body.link_with.is_some() {
        return Err(ApiError::bad_request(
            "link_with is not supported: name the secondary account with provider and user_id",
        ));
    }
    let provider = body
        .provider
        .ok_or_else(|| ApiError::bad_request("Payload validation error: provider is required"))?;
    let user_id = match body.user_id {
        Some(Value::String(id)) if !id.is_empty() => id,
        Some(Value::Number(id)) => id.to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "Payload validation error: user_id is required (a string or a number)",
            ));
        }
    };
    let secondary =
        secondary_user(&state, &provider, &user_id, body.connection_id.as_deref()).await?;
    if secondary.user_id == primary.user_id {
        return Err(ApiError::bad_request("A user cannot be linked to itself"));
    }
    let connection = state.store.get_connection(&secondary.connection_id).await?;
    if connection.strategy.as_str() != provider {
        return Err(ApiError::bad_request(format!(
            "The secondary user's provider is {}, not {provider}",
            connection.strategy
        )));
    }
    if connection.strategy.is_database() {
        // Its password is its identity, kept on the user row: it would go
        // with the secondary user.
        return Err(ApiError::bad_request(
            "A database user can only be the primary account of a link",
        ));
    }
    // The secondary account ends: its sessions first (its apps are told).
    crate::flows::backchannel::end_user_sessions(&state, &secondary.user_id).await?;
    state
        .store
        .merge_user_into(&secondary.user_id, &primary.user_id)
        .await
        .map_err(user_not_found)?;
    let identities = identities_of(&state, &mut Connections::default(), &primary).await?;
    Ok((StatusCode::CREATED, Json(identities)))
}

#[utoipa::path(delete, path = "/api/v2/users/{id}/identities/{provider}/{user_id}", tag = "users",
    params(("id" = String, Path, description = "The primary account"),
        ("provider" = String, Path), ("user_id" = String, Path, description = "The upstream's id of the person, or `<connection>|<id>`")),
    responses((status = 200, description = "The identities left", body = [IdentityBody]),
        (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn user_identity_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, provider, user_id)): Path<(String, String, String)>,
) -> Result<Json<Vec<IdentityBody>>, ApiError> {
    auth.require("update:users")?;
    let user = state
        .store
        .get_user(&id)
        .await
        .map_err(user_not_found)?
        .user;
    let mut connections = Connections::default();
    let mut found = Vec::new();
    for identity in state.store.list_user_identities(&id).await? {
        let connection = connections.get(&state, &identity.connection_id).await?;
        let named = identity.subject == user_id
            || format!("{}|{}", connection.name, identity.subject) == user_id;
        if connection.strategy.as_str() == provider && named {
            found.push((connection.clone(), identity.subject));
        }
    }
    let (connection, subject) = match found.len() {
        0 if provider == Strategy::Database.as_str() && user_id == id => {
            return Err(ApiError::bad_request(
                "The user's main identity cannot be unlinked",
            ));
        }
        0 => {
            return Err(ApiError::not_found(
                "The user has no such identity",
                "inexistent_identity",
            ));
        }
        1 => found.remove(0),
        _ => {
            return Err(ApiError::bad_request(
                "Several connections of this provider know this id: give user_id as <connection>|<id>",
            ));
        }
    };
    if is_main_identity(&user, &connection, &subject) {
        return Err(ApiError::bad_request(
            "The user's main identity cannot be unlinked",
        ));
    }
    state
        .store
        .delete_identity(&id, &connection.id, &subject)
        .await
        .map_err(|e| {
            ApiError::from_store(e, "The user has no such identity", "inexistent_identity")
        })?;
    Ok(Json(identities_of(&state, &mut connections, &user).await?))
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
