//! The connectors' HTTP: the requests of the `oauth2` and `openidconnect`
//! crates (discovery, JWKS, code exchange) sent through [`Outbound`], the
//! SSRF-safe client, with every answer's body bounded.

use openidconnect::{HttpRequest, HttpResponse};

use super::BoxFuture;
use crate::outbound::{Outbound, OutboundError, read_body};

/// The largest metadata, JWKS, token or userinfo response read.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Sends one of the crates' requests through the SSRF-safe client.
pub async fn send(outbound: Outbound, request: HttpRequest) -> Result<HttpResponse, OutboundError> {
    let (parts, body) = request.into_parts();
    let builder = outbound
        .request(parts.method, &parts.uri.to_string())?
        .headers(parts.headers)
        .body(body);
    let response = crate::outbound::send(builder).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_body(response, MAX_RESPONSE_BYTES).await?;
    let mut answer = HttpResponse::new(body.to_vec());
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}

/// The HTTP client the crates' `request_async` take: [`send`] over `outbound`.
pub fn client(
    outbound: &Outbound,
) -> impl Fn(HttpRequest) -> BoxFuture<'static, Result<HttpResponse, OutboundError>> + Send + Sync + '_
{
    move |request| Box::pin(send(outbound.clone(), request))
}
