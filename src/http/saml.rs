//! `/samlp/metadata?connection=NAME`: a SAML connection's SP metadata, at
//! the URL Auth0 gives it, for the IdP's admin to import (or for the IdP to
//! fetch periodically, which keeps it in step with the SP key rotation).

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::login::error_page;
use crate::connectors::saml::logout::LOGOUT_PATH;
use crate::connectors::saml::sp;
use crate::flows::upstream::CALLBACK_PATH;
use crate::model::connection::ConnectionOptions;
use crate::state::AppState;

/// The SAML metadata media type (RFC 7580's registration).
const METADATA_CONTENT_TYPE: &str = "application/samlmetadata+xml";

pub fn router() -> Router<AppState> {
    Router::new().route("/samlp/metadata", get(metadata_get))
}

#[derive(Debug, Deserialize)]
struct MetadataQuery {
    connection: Option<String>,
}

async fn metadata_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<MetadataQuery>, QueryRejection>,
) -> Response {
    let name = match query {
        Ok(Query(MetadataQuery {
            connection: Some(name),
        })) if !name.is_empty() => name,
        _ => {
            return error_page(
                &headers,
                StatusCode::BAD_REQUEST,
                "No connection named",
                "Add ?connection= and the name of a SAML connection to the URL.",
            );
        }
    };
    let not_found = || {
        error_page(
            &headers,
            StatusCode::NOT_FOUND,
            "No such SAML connection",
            &format!("There is no SAML (samlp) connection named \u{201c}{name}\u{201d}."),
        )
    };
    let connection = match sp::connection_named(&state.store, &name).await {
        Ok(Some(connection)) => connection,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(&headers, &e),
    };
    let keys = match sp::keys(&state.store, &connection.id).await {
        Ok(keys) => keys,
        Err(crate::store::StoreError::NotFound) => return not_found(),
        Err(e) => return unavailable(&headers, &e),
    };
    let signs_requests = match &connection.options {
        ConnectionOptions::Saml(options) => options.sign_saml_request.unwrap_or(false),
        _ => false,
    };
    let document = sp::metadata_xml(
        &sp::entity_id(&state.tenant_name, &connection),
        &sp::acs_url(&state.issuer.url(CALLBACK_PATH), &connection.name),
        &state.issuer.url(LOGOUT_PATH),
        &keys,
        signs_requests,
    );
    match document {
        Ok(xml) => ([(header::CONTENT_TYPE, METADATA_CONTENT_TYPE)], xml).into_response(),
        Err(e) => unavailable(&headers, &e),
    }
}

fn unavailable(headers: &HeaderMap, detail: &dyn std::fmt::Display) -> Response {
    tracing::error!(%detail, "SAML SP metadata failed");
    error_page(
        headers,
        StatusCode::SERVICE_UNAVAILABLE,
        "Metadata unavailable",
        "The SP metadata could not be produced just now; try again shortly.",
    )
}
