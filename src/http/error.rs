//! How errors leave the server. Each protocol gets its own shape:
//! - OAuth endpoints: `{error, error_description}` JSON, `Cache-Control: no-store`,
//!   `WWW-Authenticate` on 401 (RFC 6749 §5.2, RFC 6750 §3);
//! - the Management API: Auth0's `{statusCode, error, message, errorCode}`;
//! - browser pages: a readable HTML page (with the flows issue).
//!
//! Internal details (database errors) are logged, never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::flows::{OAuthError, OAuthErrorCode};
use crate::model::ValidationError;
use crate::store::StoreError;

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match self.code {
            OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthErrorCode::AccessDenied => StatusCode::FORBIDDEN,
            OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        if let Some(detail) = &self.detail {
            if status.is_server_error() {
                tracing::error!(error = self.code.as_str(), %detail, "oauth request failed");
            } else {
                tracing::info!(error = self.code.as_str(), %detail, "oauth request refused");
            }
        }
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            error_description: &'a str,
        }
        let mut response = (
            status,
            Json(Body {
                error: self.code.as_str(),
                error_description: &self.description,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"switchyard\""),
            );
        }
        response
    }
}

/// A Management API error in Auth0's body shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub error_code: Option<&'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    pub status_code: u16,
    pub error: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        message: impl Into<String>,
        error_code: Option<&'static str>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            error_code,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, Some("invalid_body"))
    }

    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            Some("invalid_query_string"),
        )
    }

    pub fn not_found(message: impl Into<String>, code: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, message, Some(code))
    }

    /// A store error as the API answers it, `NotFound` saying which resource
    /// is missing (`message`, `code`).
    pub fn from_store(err: StoreError, message: &str, code: &'static str) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found(message, code),
            other => other.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message, Some("already_exists"))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message, None)
    }

    pub fn insufficient_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("Insufficient scope, expected any of: {scope}"),
            Some("insufficient_scope"),
        )
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "management request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", None)
    }

    /// A password could not be hashed: 503 while every hashing slot is
    /// busy (the caller retries), else an internal error.
    pub fn from_password_error(err: crate::connectors::database::PasswordError) -> Self {
        match err {
            crate::connectors::database::PasswordError::Busy => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many password operations in progress; retry shortly",
                Some("too_many_requests"),
            ),
            other => Self::internal(other),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        ApiError::bad_request(format!(
            "Payload validation error: '{}' on property {}",
            err.reason, err.field
        ))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => {
                ApiError::not_found("The resource does not exist", "inexistent_resource")
            }
            StoreError::Conflict(constraint) => ApiError::conflict(conflict_message(&constraint)),
            StoreError::MissingReference => {
                ApiError::bad_request("A referenced resource does not exist")
            }
            other => ApiError::internal(other),
        }
    }
}

/// What a uniqueness constraint means to the caller, as the store's list of
/// constraints says.
fn conflict_message(constraint: &str) -> String {
    crate::store::constraints::constraint(constraint)
        .and_then(|c| c.conflict)
        .map_or_else(|| format!("Conflict on {constraint}"), str::to_owned)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ApiErrorBody {
            status_code: self.status.as_u16(),
            error: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.message,
            error_code: self.error_code.map(str::to_owned),
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
