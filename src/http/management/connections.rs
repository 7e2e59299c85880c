//! `/connections`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::inert::{self, Object, inert_settings};
use super::{ApiJson, ApiQuery, ManagementAuth, Paging, paged};
use crate::cache::Change;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::connection::{self, Connection, ConnectionOptions, Strategy};
use crate::model::ids;
use crate::model::organization::Metadata;
use crate::model::{ValidationError, check_display_text};
use crate::state::AppState;
use crate::store::{ConnectionFilter, StoreError};

/// A connection's body may carry an IdP's metadata document (`metadataXml`):
/// ADFS's is some 70 KiB, over the server's [`crate::http::MAX_BODY_BYTES`].
/// Room for the largest document read, JSON-escaped, and the rest.
pub const MAX_CONNECTION_BODY_BYTES: usize =
    2 * connection::MAX_METADATA_BYTES + crate::http::MAX_BODY_BYTES;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(connections_list, connections_post))
        .routes(routes!(connection_get, connection_patch, connection_delete))
        .layer(axum::extract::DefaultBodyLimit::max(
            MAX_CONNECTION_BODY_BYTES,
        ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionBody {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub strategy: Strategy,
    /// Strategy settings, of the shape of `strategy`; secrets
    /// (`client_secret`) are write-only.
    pub options: ConnectionOptions,
    pub enabled_clients: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    pub is_domain_connection: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_as_button: Option<bool>,
    pub realms: Vec<String>,
    #[serde(flatten)]
    pub inert: ConnectionInertSettings,
}

inert_settings!(
    /// Auth0 connection properties kept and returned without effect (README).
    ConnectionInertSettings {
        authentication: Object,
        connected_accounts: Object,
        cross_app_access_requesting_app: Object,
        cross_app_access_resource_app: Object,
    }
);

impl ConnectionBody {
    fn new(connection: Connection, enabled_clients: Vec<String>) -> Self {
        let options = connection.options.without_secrets();
        ConnectionBody {
            id: connection.id,
            name: connection.name,
            display_name: connection.display_name,
            strategy: connection.strategy,
            options,
            enabled_clients,
            metadata: connection.metadata,
            is_domain_connection: connection.is_domain_connection,
            show_as_button: connection.show_as_button,
            realms: connection.realms,
            inert: inert::returned(&connection.inert_settings),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectionBody {
    /// Unique in the tenant: letters, digits and single hyphens.
    pub name: String,
    /// One of `auth0`, `google-oauth2`, `github`, `windowslive`, `oauth2`, `oidc`, `samlp`.
    pub strategy: String,
    pub display_name: Option<String>,
    /// The options, in the shape of `strategy` (see `ConnectionOptions`).
    #[schema(value_type = Option<ConnectionOptions>)]
    pub options: Option<Map<String, Value>>,
    pub enabled_clients: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
    pub is_domain_connection: Option<bool>,
    pub show_as_button: Option<bool>,
    pub realms: Option<Vec<String>>,
    #[serde(flatten)]
    pub inert: ConnectionInertSettings,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnectionBody {
    pub display_name: Option<String>,
    /// Replaces the options (of the connection's strategy); a
    /// `client_secret` left out keeps the stored one.
    #[schema(value_type = Option<ConnectionOptions>)]
    pub options: Option<Map<String, Value>>,
    pub enabled_clients: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
    pub is_domain_connection: Option<bool>,
    pub show_as_button: Option<bool>,
    pub realms: Option<Vec<String>>,
    #[serde(flatten)]
    pub inert: ConnectionInertSettings,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectionQuery {
    /// Only connections of this strategy.
    pub strategy: Option<String>,
    /// Only the connection with this name.
    pub name: Option<String>,
}

fn check_connection(connection: &Connection) -> Result<(), ValidationError> {
    connection::check_name(&connection.name)?;
    if let Some(display_name) = &connection.display_name {
        connection::check_display_name(display_name)?;
    }
    connection.options.check()?;
    connection::check_connection_metadata(&connection.metadata)?;
    for (i, realm) in connection.realms.iter().enumerate() {
        check_display_text(&format!("realms[{i}]"), realm, 255)?;
    }
    if connection.show_as_button.is_some() && !connection.strategy.is_enterprise() {
        return Err(ValidationError::new(
            "show_as_button",
            "can only be set on enterprise connections (oidc, samlp)",
        ));
    }
    Ok(())
}

/// Every client named in `enabled_clients` must exist.
async fn check_enabled_clients(state: &AppState, client_ids: &[String]) -> Result<(), ApiError> {
    for (i, client_id) in client_ids.iter().enumerate() {
        if state.clients.get(&state.store, client_id).await?.is_none() {
            return Err(ValidationError::new(
                format!("enabled_clients[{i}]"),
                format!("client '{client_id}' does not exist"),
            )
            .into());
        }
    }
    Ok(())
}

/// The document a samlp connection's `metadataUrl` serves, fetched once at
/// this write as Auth0 does (when set or changed from `previous`), through
/// the SSRF-safe client and the connector's own code: a URL that cannot be
/// fetched or serves no usable IdP is refused, and the certificates of one
/// that does are shown. `None` when there is nothing to fetch.
async fn fetch_metadata_url(
    state: &AppState,
    options: &ConnectionOptions,
    previous: Option<&ConnectionOptions>,
) -> Result<Option<String>, ApiError> {
    let Some(url) = options.metadata_url_to_fetch(previous) else {
        return Ok(None);
    };
    // The URL's own checks (https, …) speak first.
    options.check()?;
    let refused = |why: String| ValidationError::new("options.metadataUrl", why);
    let xml = crate::connectors::saml::idp::fetch_metadata(&state.outbound, url)
        .await
        .map_err(|e| refused(format!("could not be fetched ({e})")))?;
    if let ConnectionOptions::Saml(saml) = options {
        saml.describe_idp(Some(&xml)).map_err(|(field, why)| {
            ValidationError::new(field, format!("serves metadata that {why}"))
        })?;
    }
    Ok(Some(xml))
}

pub(super) fn connection_not_found(err: StoreError) -> ApiError {
    ApiError::from_store(
        err,
        "The connection does not exist",
        "inexistent_connection",
    )
}

#[utoipa::path(post, path = "/api/v2/connections", tag = "connections",
    request_body = CreateConnectionBody,
    responses((status = 201, body = ConnectionBody), (status = 400, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn connections_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateConnectionBody>,
) -> Result<(StatusCode, Json<ConnectionBody>), ApiError> {
    auth.require("create:connections")?;
    let strategy: Strategy = body.strategy.parse()?;
    let mut options = ConnectionOptions::decode(strategy, body.options.unwrap_or_default())?;
    let fetched = fetch_metadata_url(&state, &options, None).await?;
    options.derive(None, fetched.as_deref());
    let connection = Connection {
        id: ids::new_id(ids::CONNECTION),
        realms: body.realms.unwrap_or_else(|| vec![body.name.clone()]),
        name: body.name,
        strategy,
        display_name: body.display_name,
        options,
        metadata: body.metadata.unwrap_or_default(),
        is_domain_connection: body.is_domain_connection.unwrap_or(false),
        show_as_button: body.show_as_button,
        inert_settings: inert::stored(&body.inert),
    };
    check_connection(&connection)?;
    let enabled_clients = body.enabled_clients.unwrap_or_default();
    check_enabled_clients(&state, &enabled_clients).await?;
    state
        .store
        .insert_connection(&connection, &enabled_clients)
        .await?;
    state.cached_data_changed(Change::Connections).await;
    Ok((
        StatusCode::CREATED,
        Json(ConnectionBody::new(connection, enabled_clients)),
    ))
}

list_body!(ConnectionList, "connections", ConnectionBody);

#[utoipa::path(get, path = "/api/v2/connections", tag = "connections", params(ConnectionQuery, Paging),
    responses((status = 200, description = "An array, or `{connections, start, limit, total}` with include_totals, or `{connections, next}` with from/take", body = ConnectionList)))]
async fn connections_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConnectionQuery>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:connections")?;
    let filter = ConnectionFilter {
        strategy: query
            .strategy
            .as_deref()
            .map(str::parse::<Strategy>)
            .transpose()
            .map_err(|e| {
                ApiError::invalid_query(format!("Query validation error: {}", e.reason))
            })?,
        name: query.name.clone(),
    };
    let (mode, page) = paging.mode()?;
    let connections = state.store.list_connections(&filter, &page).await?;
    let ids: Vec<String> = connections.iter().map(|c| c.id.clone()).collect();
    let mut clients = state.store.list_clients_of_connections(&ids).await?;
    let items: Vec<ConnectionBody> = connections
        .into_iter()
        .map(|connection| {
            let enabled = clients.remove(&connection.id).unwrap_or_default();
            ConnectionBody::new(connection, enabled)
        })
        .collect();
    Ok(Json(
        paged(
            "connections",
            mode,
            items,
            |c| c.id.clone(),
            state.store.count_connections(&filter),
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v2/connections/{id}", tag = "connections",
    params(("id" = String, Path)),
    responses((status = 200, body = ConnectionBody), (status = 404, body = ApiErrorBody)))]
async fn connection_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionBody>, ApiError> {
    auth.require("read:connections")?;
    let connection = state
        .store
        .get_connection(&id)
        .await
        .map_err(connection_not_found)?;
    let clients = state.store.list_connection_clients(&id).await?;
    Ok(Json(ConnectionBody::new(connection, clients)))
}

#[utoipa::path(patch, path = "/api/v2/connections/{id}", tag = "connections",
    params(("id" = String, Path)), request_body = UpdateConnectionBody,
    responses((status = 200, body = ConnectionBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn connection_patch(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateConnectionBody>,
) -> Result<Json<ConnectionBody>, ApiError> {
    auth.require("update:connections")?;
    // Checked before the transaction (it reads the clients), reported in
    // its place, after the connection's own checks.
    let enabled_clients_check = match &body.enabled_clients {
        Some(clients) => check_enabled_clients(&state, clients).await,
        None => Ok(()),
    };
    // A metadataUrl set or changed is fetched before the transaction, from
    // the options as they stand now; the transaction uses what was fetched
    // if the URL is still the one its options name.
    let fetched = match &body.options {
        Some(options) => {
            let current = state
                .store
                .get_connection(&id)
                .await
                .map_err(connection_not_found)?;
            let updated = ConnectionOptions::decode_update(&current.options, options.clone())?;
            fetch_metadata_url(&state, &updated, Some(&current.options))
                .await?
                .zip(updated.metadata_url_to_fetch(None).map(str::to_owned))
        }
        None => None,
    };
    let connection = state
        .store
        .update_connection_with(&id, body.enabled_clients.as_deref(), |mut connection| {
            if let Some(display_name) = body.display_name {
                connection.display_name = Some(display_name);
            }
            if let Some(options) = body.options {
                let updated = ConnectionOptions::decode_update(&connection.options, options)?;
                let previous = std::mem::replace(&mut connection.options, updated);
                let fetched = fetched.as_ref().and_then(|(xml, url)| {
                    (connection.options.metadata_url_to_fetch(None) == Some(url.as_str()))
                        .then_some(xml.as_str())
                });
                connection.options.derive(Some(&previous), fetched);
            }
            if let Some(metadata) = body.metadata {
                connection.metadata = metadata;
            }
            if let Some(v) = body.is_domain_connection {
                connection.is_domain_connection = v;
            }
            if body.show_as_button.is_some() {
                connection.show_as_button = body.show_as_button;
            }
            if let Some(realms) = body.realms {
                connection.realms = realms;
            }
            inert::merge(&mut connection.inert_settings, &body.inert);
            check_connection(&connection)?;
            enabled_clients_check?;
            Ok::<_, ApiError>(connection)
        })
        .await
        .map_err(connection_not_found)??;
    state.cached_data_changed(Change::Connections).await;
    let clients = state.store.list_connection_clients(&id).await?;
    Ok(Json(ConnectionBody::new(connection, clients)))
}

#[utoipa::path(delete, path = "/api/v2/connections/{id}", tag = "connections",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn connection_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:connections")?;
    // Its users and their sessions go with it: their clients are told first.
    crate::flows::backchannel::end_connection_sessions(&state, &id).await?;
    let rebound = state
        .store
        .delete_connection(&id)
        .await
        .map_err(connection_not_found)?;
    state.cached_data_changed(Change::Connections).await;
    state.domains_changed(rebound).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn openapi_describes_the_options_of_each_strategy() {
        let (_, openapi) = router().split_for_parts();
        let doc = serde_json::to_value(&openapi).unwrap();
        let schemas = &doc["components"]["schemas"];
        let shapes: Vec<&str> = schemas["ConnectionOptions"]["anyOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|shape| shape["$ref"].as_str().unwrap())
            .collect();
        let names = [
            "DatabaseOptions",
            "GoogleOptions",
            "GithubOptions",
            "WindowsLiveOptions",
            "OAuth2Options",
            "OidcOptions",
            "SamlOptions",
        ];
        assert_eq!(
            shapes,
            names.map(|name| format!("#/components/schemas/{name}"))
        );
        for name in names {
            assert!(
                schemas[name]["properties"].is_object(),
                "{name}: {}",
                schemas[name]
            );
        }
        // A body is `allOf` its own properties and the Auth0 properties
        // without effect (flattened).
        let property = |body: &str, name: &str| {
            schemas[body]["allOf"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|part| &part["properties"][name])
                .find(|p| !p.is_null())
                .cloned()
                .unwrap_or_default()
        };
        let options_ref = json!("#/components/schemas/ConnectionOptions");
        assert_eq!(property("ConnectionBody", "options")["$ref"], options_ref);
        for body in ["CreateConnectionBody", "UpdateConnectionBody"] {
            let options = &property(body, "options");
            assert!(
                options["oneOf"]
                    .as_array()
                    .is_some_and(|any| any.iter().any(|s| s["$ref"] == options_ref)),
                "{body}: {options}"
            );
        }
        // Auth0's spellings, and secrets marked write-only.
        for (shape, option) in [
            ("DatabaseOptions", "passwordPolicy"),
            ("OAuth2Options", "authorizationURL"),
            ("OidcOptions", "type"),
            ("OidcOptions", "discovery_url"),
            ("SamlOptions", "signInEndpoint"),
            ("SamlOptions", "signSAMLRequest"),
            ("SamlOptions", "fieldsMap"),
        ] {
            assert!(
                schemas[shape]["properties"][option].is_object(),
                "{shape} lacks {option}"
            );
        }
        for shape in [
            "GoogleOptions",
            "GithubOptions",
            "WindowsLiveOptions",
            "OAuth2Options",
            "OidcOptions",
        ] {
            assert_eq!(
                schemas[shape]["properties"]["client_secret"]["writeOnly"], true,
                "{shape}"
            );
        }
        assert_eq!(
            schemas["OidcChannel"]["enum"],
            json!(["front_channel", "back_channel"])
        );
        assert_eq!(
            schemas["PasswordPolicy"]["enum"],
            json!(["none", "low", "fair", "good", "excellent"])
        );
    }
}
