//! HTTP: thin axum handlers over the flows, one router for the whole server.

pub mod error;
mod login;
mod logout;
pub mod management;
mod provider;
mod signup;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::Response;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// Request bodies larger than this are refused with 413: no legitimate
/// Management API or token request comes close.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole server's routes, with the Management API's OpenAPI document
/// served at `/api/v2/openapi.json`.
pub fn router(state: AppState) -> Router {
    let (management, openapi) = management::router().split_for_parts();
    let openapi_json = openapi.to_pretty_json().unwrap_or_else(|_| "{}".into());
    Router::new()
        .merge(provider::router())
        .merge(login::router())
        .merge(logout::router())
        .merge(signup::router())
        .merge(management)
        .route(
            "/api/v2/openapi.json",
            axum::routing::get(move || async move {
                ([(axum::http::header::CONTENT_TYPE, "application/json")], openapi_json)
            }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(close_after_refused_body))
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
        .with_state(state)
}

/// A 413 is answered before the request body has been read to its end, so
/// the connection cannot carry another request. Saying `Connection: close`
/// keeps a keep-alive client from writing its next request into a socket the
/// server is about to close (it would see an incomplete response).
async fn close_after_refused_body(mut response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            HeaderValue::from_static("close"),
        );
    }
    response
}

/// The token of an `Authorization: Bearer …` header value (RFC 6750 §2.1).
pub(crate) fn bearer_token(value: &axum::http::HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
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
    management::router().split_for_parts().1
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
}
