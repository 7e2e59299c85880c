//! The Management API under `/api/v2`, in Auth0's shapes (paths, bodies,
//! field names, errors), so that the `auth0` SDKs and provisioning tools work
//! against Switchyard unchanged. Every route needs a bearer token whose
//! `scope` holds the route's scope; every route is in the OpenAPI document.

/// A list answer's OpenAPI schema, named `$name`: the bare array of
/// `$item`, Auth0's `{$key, start, limit, total}` with `include_totals` and,
/// unless the list pages by offset only, `{$key, next}` with `from`/`take`
/// (see [`list_schema`]). For `body = $name` in a handler's annotation.
macro_rules! list_body {
    ($name:ident, $key:literal, $item:ty, offset_only) => {
        list_body!(@ $name, $key, $item, false);
    };
    ($name:ident, $key:literal, $item:ty) => {
        list_body!(@ $name, $key, $item, true);
    };
    (@ $name:ident, $key:literal, $item:ty, $checkpoint:literal) => {
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                super::list_schema($key, &<$item as utoipa::ToSchema>::name(), $checkpoint)
            }
        }

        impl utoipa::ToSchema for $name {
            fn schemas(
                schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
            ) {
                schemas.push((
                    <$item as utoipa::ToSchema>::name().into_owned(),
                    <$item as utoipa::PartialSchema>::schema(),
                ));
                <$item as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}

mod client_grants;
mod clients;
mod connection_keys;
mod connections;
mod discovery_domains;
mod grants;
mod inert;
mod join_requests;
mod keys;
mod members;
mod organization_grants;
mod organizations;
mod resource_servers;
mod roles;
mod sessions;
mod tenants;
mod user_properties;
mod users;

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use super::error::{ApiError, ApiErrorBody};
use crate::flows::issue::{AccessTokenClaims, AccessTokenRefused, verify_access_token};
use crate::model::client::ClientGrant;
use crate::state::AppState;
use crate::store::Page;

/// Every scope the Management API knows; the bootstrap and demo clients get all.
pub const ALL_SCOPES: &[&str] = &[
    "read:organizations",
    "create:organizations",
    "update:organizations",
    "delete:organizations",
    "read:organization_connections",
    "create:organization_connections",
    "update:organization_connections",
    "delete:organization_connections",
    "read:organization_members",
    "create:organization_members",
    "delete:organization_members",
    "read:organization_member_roles",
    "create:organization_member_roles",
    "delete:organization_member_roles",
    "read:organization_client_grants",
    "create:organization_client_grants",
    "delete:organization_client_grants",
    "read:organization_discovery_domains",
    "create:organization_discovery_domains",
    "update:organization_discovery_domains",
    "delete:organization_discovery_domains",
    "read:connections",
    "create:connections",
    "update:connections",
    "delete:connections",
    "read:connections_keys",
    "update:connections_keys",
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "read:client_keys",
    "update:client_keys",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
    "read:grants",
    "delete:grants",
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:roles",
    "create:roles",
    "update:roles",
    "delete:roles",
    "read:sessions",
    "delete:sessions",
    "read:refresh_tokens",
    "delete:refresh_tokens",
    "read:signing_keys",
    "create:signing_keys",
    "update:signing_keys",
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:tenant_settings",
    "update:tenant_settings",
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard Management API",
        description = "Auth0-compatible management of organizations, connections, clients, users, roles, resource servers and tenant settings."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ManagementDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The error answers every operation can give, in the error body's shape
/// (`ApiErrorBody`), added where a handler's annotation leaves them out: 401
/// (no or a bad token) and 403 (a scope missing) everywhere; 400 where a
/// query string or a body is parsed; 413 and 415 where a JSON body is read;
/// 404 where a path names a resource. An error status an annotation lists
/// without a body gets the error body too.
struct ErrorResponses;

impl utoipa::Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        use utoipa::{PartialSchema, ToSchema};

        let error = |status: StatusCode| {
            ResponseBuilder::new()
                .description(status.canonical_reason().unwrap_or("Error"))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(ApiErrorBody::name())))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let parameters = operation.parameters.as_deref().unwrap_or_default();
                let has = |place: ParameterIn| {
                    parameters.iter().any(|p| {
                        std::mem::discriminant(&p.parameter_in) == std::mem::discriminant(&place)
                    })
                };
                let mut statuses = vec![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN];
                if has(ParameterIn::Query) || operation.request_body.is_some() {
                    statuses.push(StatusCode::BAD_REQUEST);
                }
                if operation.request_body.is_some() {
                    statuses.push(StatusCode::PAYLOAD_TOO_LARGE);
                    statuses.push(StatusCode::UNSUPPORTED_MEDIA_TYPE);
                }
                if has(ParameterIn::Path) {
                    statuses.push(StatusCode::NOT_FOUND);
                }
                let responses = &mut operation.responses.responses;
                for status in statuses {
                    responses
                        .entry(status.as_str().to_owned())
                        .or_insert_with(|| RefOr::T(error(status)));
                }
                for (status, response) in responses.iter_mut() {
                    let is_error = status.starts_with('4') || status.starts_with('5');
                    if let RefOr::T(response) = response {
                        if is_error && response.content.is_empty() {
                            if let Ok(code) = StatusCode::from_bytes(status.as_bytes()) {
                                *response = error(code);
                            }
                        }
                    }
                }
            }
        }
        openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .entry(ApiErrorBody::name().into_owned())
            .or_insert_with(ApiErrorBody::schema);
    }
}

/// The schema of a list answer (see `list_body!`): the bare array of
/// `item`s, or `{<key>, start, limit, total}` (`include_totals`), or, when
/// the list pages by checkpoint, `{<key>, next}` (`next` absent on the last
/// page). The wrappers allow no other property, so that exactly one of the
/// shapes matches.
fn list_schema(
    key: &str,
    item: &str,
    checkpoint: bool,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::Ref;
    use utoipa::openapi::schema::{
        AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Type,
    };

    let items = || ArrayBuilder::new().items(Ref::from_schema_name(item));
    let integer = || {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
    };
    let wrapper = || {
        ObjectBuilder::new()
            .property(key, items())
            .required(key)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
    };
    let totals = wrapper()
        .property("start", integer())
        .property("limit", integer())
        .property("total", integer())
        .required("start")
        .required("limit")
        .required("total")
        .description(Some("With `include_totals=true`"));
    let mut shapes = OneOfBuilder::new()
        .item(items().description(Some("A page (`page`/`per_page`)")))
        .item(totals);
    if checkpoint {
        shapes = shapes.item(
            wrapper()
                .property("next", ObjectBuilder::new().schema_type(Type::String))
                .description(Some(
                    "With `from`/`take`: `next` is the `from` of the next page, absent on the last",
                )),
        );
    }
    shapes.into()
}

/// The Management API's routes and its OpenAPI document, built from the
/// handlers' annotations and completed with the error answers they share
/// (which can only be added once every route is in).
pub fn routes_and_document() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut document) = router().split_for_parts();
    utoipa::Modify::modify(&ErrorResponses, &mut document);
    (routes, document)
}

/// The Management API router, with its OpenAPI document built from the
/// handlers' annotations.
fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ManagementDoc::openapi())
        .merge(organizations::router())
        .merge(members::router())
        .merge(join_requests::router())
        .merge(organization_grants::router())
        .merge(discovery_domains::router())
        .merge(connections::router())
        .merge(connection_keys::router())
        .merge(clients::router())
        .merge(client_grants::router())
        .merge(grants::router())
        .merge(users::router())
        .merge(sessions::router())
        .merge(roles::router())
        .merge(keys::router())
        .merge(resource_servers::router())
        .merge(tenants::router())
}

/// A verified Management API access token, of a client that still exists
/// and still holds its grant.
#[derive(Debug)]
pub struct ManagementAuth {
    claims: AccessTokenClaims,
    /// The client's grant for the Management API as it is now.
    grant: Arc<ClientGrant>,
}

impl ManagementAuth {
    /// Refuses the request (403) unless the token carries `scope` and the
    /// client's grant still does (a narrowed grant narrows its live tokens).
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        let in_token = self.claims.scope.split(' ').any(|s| s == scope);
        let still_granted = self.grant.scope.iter().any(|s| s == scope);
        if in_token && still_granted {
            Ok(())
        } else {
            Err(ApiError::insufficient_scope(scope))
        }
    }
}

/// The live grant behind a Management API token: the client deleted, or
/// its grant for `audience` deleted, and the token stops working at once on
/// every node (both come from caches every write invalidates).
async fn live_grant(
    state: &AppState,
    claims: &AccessTokenClaims,
    audience: &str,
) -> Result<Arc<ClientGrant>, ApiError> {
    if state
        .clients
        .get(&state.store, &claims.client_id)
        .await?
        .is_none()
    {
        return Err(ApiError::unauthorized(
            "The client of this token no longer exists",
        ));
    }
    state
        .clients
        .grant(&state.store, &claims.client_id, audience)
        .await?
        .ok_or_else(|| ApiError::unauthorized("The client grant of this token has been revoked"))
}

impl FromRequestParts<AppState> for ManagementAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("Missing authentication"))?;
        let token = crate::http::bearer_token(header)
            .ok_or_else(|| ApiError::unauthorized("Bad HTTP authentication header format"))?;
        let audience = state.issuer.management_audience();
        let claims = verify_access_token(state, token, Some(&audience))
            .await
            .map_err(|refused| {
                tracing::info!(reason = %refused, "management token refused");
                match refused {
                    AccessTokenRefused::Store(e) => ApiError::from(e),
                    AccessTokenRefused::Rejected(crate::keys::TokenRejected::Invalid(e))
                        if matches!(
                            e.kind(),
                            jsonwebtoken::errors::ErrorKind::ExpiredSignature
                        ) =>
                    {
                        ApiError::unauthorized(
                            "Expired token received for JSON Web Token validation",
                        )
                    }
                    AccessTokenRefused::Revoked => ApiError::unauthorized("Revoked token"),
                    AccessTokenRefused::Rejected(_) => ApiError::unauthorized("Invalid token"),
                }
            })?;
        let grant = live_grant(state, &claims, &audience).await?;
        Ok(ManagementAuth { claims, grant })
    }
}

/// JSON bodies whose rejections speak the Management API's error shape:
/// 415 without a JSON content type, 413 past the size limit, 400 naming the
/// property otherwise.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
            Some("invalid_content_type"),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload too large",
            Some("payload_too_large"),
        ),
        _ => {
            let text = rejection.body_text();
            // axum prefixes serde's message; keep the part that names the property.
            let detail = text
                .split_once("body into the target type: ")
                .map_or(text.as_str(), |(_, rest)| rest)
                .to_owned();
            ApiError::bad_request(format!("Payload validation error: {detail}"))
        }
    }
}

/// For PATCH bodies: tells a property left out (`None`) from one sent as
/// `null` (`Some(None)`), which clears it, as in Auth0. Use with
/// `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

/// Query strings, likewise in the Management API's error shape.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|rejection: QueryRejection| {
                let text = rejection.body_text();
                let detail = text
                    .split_once("query string: ")
                    .map_or(text.as_str(), |(_, r)| r);
                ApiError::invalid_query(format!("Query validation error: {detail}"))
            })
    }
}

/// Auth0's paging parameters: `page`/`per_page` (+ `include_totals`) or the
/// checkpoint pair `from`/`take`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page index, from 0.
    pub page: Option<i64>,
    /// Items per page (1–100, default 50).
    pub per_page: Option<i64>,
    /// Wrap the list in `{<items>, start, limit, total}`.
    pub include_totals: Option<bool>,
    /// Checkpoint paging: the `next` value of the previous page.
    pub from: Option<String>,
    /// Checkpoint paging: items per page (1–100, default 50).
    pub take: Option<i64>,
}

pub enum PageMode {
    Offset {
        page: i64,
        per_page: i64,
        totals: bool,
    },
    Checkpoint {
        take: i64,
    },
}

impl Paging {
    /// For the lists Auth0 pages only by checkpoint (a user's sessions and
    /// refresh tokens): always `{<items>, next}`, 50 a page unless `take`
    /// says otherwise; `page`/`per_page` are refused.
    pub fn checkpoint_only(self) -> Result<Paging, ApiError> {
        if self.page.is_some() || self.per_page.is_some() {
            return Err(ApiError::invalid_query(
                "Query validation error: this list pages with from/take only",
            ));
        }
        Ok(Paging {
            take: Some(self.take.unwrap_or(50)),
            ..self
        })
    }

    /// For the lists Auth0 pages only by offset (a member's roles, a role's
    /// permissions…): `from`/`take` are refused.
    pub fn offset_only(self) -> Result<Paging, ApiError> {
        if self.from.is_some() || self.take.is_some() {
            return Err(ApiError::invalid_query(
                "Query validation error: this list pages with page/per_page only",
            ));
        }
        Ok(self)
    }

    pub fn mode(&self) -> Result<(PageMode, Page), ApiError> {
        let check = |name: &str, v: i64| {
            if (1..=100).contains(&v) {
                Ok(v)
            } else {
                Err(ApiError::invalid_query(format!(
                    "Query validation error: {name} must be from 1 to 100"
                )))
            }
        };
        if self.from.is_some() || self.take.is_some() {
            if self.page.is_some() || self.per_page.is_some() {
                return Err(ApiError::invalid_query(
                    "Query validation error: use either page/per_page or from/take",
                ));
            }
            let take = check("take", self.take.unwrap_or(50))?;
            // One more than asked tells whether a next page exists.
            let page = Page {
                offset: 0,
                limit: take + 1,
                after_id: self.from.clone().filter(|f| !f.is_empty()),
            };
            return Ok((PageMode::Checkpoint { take }, page));
        }
        let per_page = check("per_page", self.per_page.unwrap_or(50))?;
        let page_index = self.page.unwrap_or(0);
        if page_index < 0 {
            return Err(ApiError::invalid_query(
                "Query validation error: page must be 0 or more",
            ));
        }
        Ok((
            PageMode::Offset {
                page: page_index,
                per_page,
                totals: self.include_totals.unwrap_or(false),
            },
            Page {
                offset: page_index.saturating_mul(per_page),
                limit: per_page,
                after_id: None,
            },
        ))
    }
}

/// A Management API list answer: `list` reads the page the query asks for,
/// each row becomes its body, and [`paged`] shapes the answer (`total` is
/// awaited only when asked for).
pub async fn list_page<Row, Body: From<Row> + Serialize>(
    key: &str,
    paging: &Paging,
    list: impl AsyncFnOnce(&Page) -> Result<Vec<Row>, crate::store::StoreError>,
    id_of: impl Fn(&Body) -> String,
    total: impl std::future::Future<Output = Result<i64, crate::store::StoreError>>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let (mode, page) = paging.mode()?;
    let items = list(&page).await?.into_iter().map(Body::from).collect();
    Ok(axum::Json(paged(key, mode, items, id_of, total).await?))
}

/// Shapes a list as Auth0 does for the paging mode in use. `id_of` gives the
/// checkpoint of an item; `total` is computed only when asked for.
pub async fn paged<T: Serialize, F>(
    key: &str,
    mode: PageMode,
    mut items: Vec<T>,
    id_of: impl Fn(&T) -> String,
    total: F,
) -> Result<serde_json::Value, ApiError>
where
    F: std::future::Future<Output = Result<i64, crate::store::StoreError>>,
{
    match mode {
        PageMode::Checkpoint { take } => {
            let take = usize::try_from(take).unwrap_or(usize::MAX);
            let has_more = items.len() > take;
            items.truncate(take);
            let mut body = serde_json::Map::new();
            body.insert(
                key.to_owned(),
                serde_json::to_value(&items).map_err(ApiError::internal)?,
            );
            if has_more {
                if let Some(last) = items.last() {
                    body.insert("next".into(), serde_json::Value::String(id_of(last)));
                }
            }
            Ok(serde_json::Value::Object(body))
        }
        PageMode::Offset {
            page,
            per_page,
            totals,
        } => {
            if !totals {
                return serde_json::to_value(&items).map_err(ApiError::internal);
            }
            let total = total.await?;
            Ok(serde_json::json!({
                key: serde_json::to_value(&items).map_err(ApiError::internal)?,
                "start": page.saturating_mul(per_page),
                "limit": per_page,
                "total": total,
            }))
        }
    }
}
