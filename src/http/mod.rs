//! HTTP: thin axum handlers over the flows, one router for the whole server.

pub mod error;
mod health;
mod login;
mod logout;
pub mod management;
mod provider;
mod saml;
mod signup;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

pub use health::metrics_router;

/// Request bodies larger than this are refused with 413: no legitimate
/// Management API or token request comes close.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole server's routes, with the Management API's OpenAPI document
/// served at `/api/v2/openapi.json`.
pub fn router(state: AppState) -> Router {
    let (management, openapi) = management::routes_and_document();
    let openapi_json = openapi.to_pretty_json().unwrap_or_else(|_| "{}".into());
    Router::new()
        .merge(provider::router(&state))
        .merge(login::router())
        .merge(logout::router())
        .merge(signup::router())
        .merge(saml::router())
        .merge(health::router())
        .merge(management)
        .route(
            "/api/v2/openapi.json",
            axum::routing::get(move || async move {
                ([(axum::http::header::CONTENT_TYPE, "application/json")], openapi_json)
            }),
        )
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(close_after_unread_body))
        // HSTS (RFC 6797) on every response of a server whose issuer is
        // https, except with the dev certificate: pinning `localhost` to
        // https in a developer's browser would outlive the dev server.
        .layer(tower::util::option_layer(
            state.strict_transport_security.then(|| {
                SetResponseHeaderLayer::overriding(
                    header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static("max-age=31536000"),
                )
            }),
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let request_id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
                })
                .on_response(|response: &Response, latency: std::time::Duration, _span: &tracing::Span| {
                    tracing::info!(status = response.status().as_u16(), latency_ms = latency.as_millis() as u64, "done");
                }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            health::count_request,
        ))
        .with_state(state)
}

/// Under `/api/v2` a tool written for Auth0 reads the error body: unknown
/// routes and methods answer in the Management API's shape, as Auth0's do.
fn is_management_path(uri: &axum::http::Uri) -> bool {
    let path = uri.path();
    path == "/api/v2" || path.starts_with("/api/v2/")
}

async fn unknown_route(uri: axum::http::Uri) -> Response {
    unknown(&uri, StatusCode::NOT_FOUND)
}

async fn unknown_method(uri: axum::http::Uri) -> Response {
    unknown(&uri, StatusCode::METHOD_NOT_ALLOWED)
}

fn unknown(uri: &axum::http::Uri, status: StatusCode) -> Response {
    if is_management_path(uri) {
        let reason = status.canonical_reason().unwrap_or("Error");
        error::ApiError::new(status, reason, None).into_response()
    } else {
        status.into_response()
    }
}

/// Refusals answered before the request body was read to its end (413,
/// and the 401, 403, 404, 405 and 415 decided from the headers alone): the
/// connection cannot carry another request, so it says `Connection: close`
/// rather than let a keep-alive client write its next request into a socket
/// the server is about to close (it would see an incomplete response).
async fn close_after_unread_body(request: Request<Body>, next: Next) -> Response {
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|length| length.as_bytes() != b"0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let mut response = next.run(request).await;
    let refused_early = matches!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::NOT_FOUND
            | StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    if has_body && refused_early || response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The token of an `Authorization: Bearer …` header value (RFC 6750 §2.1).
pub(crate) fn bearer_token(value: &axum::http::HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        // The scheme is case-insensitive (RFC 9110 §11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
}

/// The client's IP address, for brute-force protection: the TCP peer, or,
/// only when the operator said the proxy in front is trusted
/// (`trust_forwarded_for`), the address that proxy appended to
/// `X-Forwarded-For`. Without that setting the header is ignored: anyone can
/// send it.
pub(crate) struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            tracing::error!("the server is not serving with connect info");
            return Err((StatusCode::INTERNAL_SERVER_ERROR, "Internal error"));
        };
        let forwarded_for = parts.headers.get_all("x-forwarded-for").iter().next_back();
        Ok(ClientIp(client_ip(
            peer.ip(),
            forwarded_for,
            state.trust_forwarded_for,
        )))
    }
}

/// The last address of the last `X-Forwarded-For` header when the proxy is
/// trusted (a proxy appends the address it saw: the entries before it are
/// whatever the client sent), else the peer.
fn client_ip(peer: IpAddr, forwarded_for: Option<&HeaderValue>, trusted: bool) -> IpAddr {
    if !trusted {
        return peer;
    }
    forwarded_for
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer)
}

/// The OpenAPI document alone (for tests and `switchyard openapi`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    management::routes_and_document().1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() -> Result<(), std::net::AddrParseError> {
        let peer: IpAddr = "10.0.0.5".parse()?;
        let header = HeaderValue::from_static("198.51.100.1, 203.0.113.9");
        assert_eq!(client_ip(peer, Some(&header), false), peer);
        assert_eq!(client_ip(peer, None, true), peer);
        assert_eq!(
            client_ip(peer, Some(&header), true),
            "203.0.113.9".parse::<IpAddr>()?
        );
        let v6 = HeaderValue::from_static("2001:db8::7");
        assert_eq!(
            client_ip(peer, Some(&v6), true),
            "2001:db8::7".parse::<IpAddr>()?
        );
        let garbage = HeaderValue::from_static("203.0.113.9, not-an-ip");
        assert_eq!(client_ip(peer, Some(&garbage), true), peer);
        Ok(())
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for (value, expected) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER abc", Some("abc")),
            ("BeArEr  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer ", None),
            ("Bearerabc", None),
        ] {
            let header = HeaderValue::from_static(value);
            assert_eq!(bearer_token(&header), expected, "{value}");
        }
    }
}
