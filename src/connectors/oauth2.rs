//! Social and generic OAuth 2.0 upstreams (`oauth2`, `google-oauth2`,
//! `github`, `windowslive`), one connector over a [`Preset`]: the
//! strategy's embedded one, or the one an `oauth2` connection's options
//! describe. With the `oauth2` crate: the authorization code with PKCE (S256
//! on every request, RFC 9700 §2.1.1: a server that does not know it ignores
//! it), redeemed with the client secret in the body (`client_secret_post`,
//! as Auth0's passport-oauth2 sends it); then the profile from the preset's
//! userinfo endpoint with the access token, and, for GitHub, the primary
//! verified address from its emails endpoint. Every request goes through
//! [`Outbound`], the SSRF-safe client.
//!
//! Google and Microsoft speak OpenID Connect, and their token response may
//! carry an ID token: it is not read. The profile comes from userinfo, asked
//! with an access token that came straight from the token endpoint over TLS
//! (the server's certificate vouches for it, as OIDC Core §3.1.3.7 allows for
//! the ID token itself), so nothing in it rests on the browser. An enterprise
//! connection that needs the ID token's own claims is an `oidc` connection.

use std::borrow::Cow;

use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use serde_json::Value;
use url::Url;

use super::http::MAX_RESPONSE_BYTES;
use super::presets::{Preset, PresetError, apply_emails, identity_from_profile};
use super::{
    Begin, BoxFuture, CallbackParams, Identity, RedirectConnector, UpstreamError, UpstreamRequest,
};
use crate::model::connection::Connection;
use crate::outbound::{Outbound, OutboundError, read_body};

/// A client with its authorization and token endpoints set.
type UpstreamClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub struct OAuth2Connector {
    connection_id: String,
    preset: Cow<'static, Preset>,
    /// What is asked for on every login (the preset's, the flags', `scope`).
    scopes: Vec<String>,
    client_id: ClientId,
    client_secret: ClientSecret,
    outbound: Outbound,
}

fn unreachable(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unreachable(e.to_string())
}

fn invalid(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Invalid(e.to_string())
}

fn misconfigured(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Misconfigured(e.to_string())
}

impl OAuth2Connector {
    /// The connector of `connection`, a social or `oauth2` one. Its options
    /// must make a preset (an `oauth2` connection needs `userInfoURL`) and
    /// carry a client: Switchyard has no development keys, as Auth0 has.
    pub fn new(connection: &Connection, outbound: Outbound) -> Result<Self, UpstreamError> {
        let options = &connection.options;
        let preset = Preset::for_options(options).map_err(misconfigured)?;
        let (Some(client_id), Some(client_secret)) = (options.client_id(), options.client_secret())
        else {
            return Err(misconfigured(format!(
                "{} connection {} has no client_id and client_secret of its own \
                 (Switchyard has no development keys)",
                connection.strategy, connection.name
            )));
        };
        Ok(OAuth2Connector {
            connection_id: connection.id.clone(),
            scopes: preset.scopes(options),
            preset,
            client_id: ClientId::new(client_id.to_owned()),
            client_secret: ClientSecret::new(client_secret.expose().to_owned()),
            outbound,
        })
    }

    fn client(&self, callback_url: &str) -> Result<UpstreamClient, UpstreamError> {
        Ok(BasicClient::new(self.client_id.clone())
            .set_client_secret(self.client_secret.clone())
            .set_auth_uri(AuthUrl::from_url(
                self.preset.authorization_endpoint.clone(),
            ))
            .set_token_uri(TokenUrl::from_url(self.preset.token_endpoint.clone()))
            .set_redirect_uri(RedirectUrl::new(callback_url.to_owned()).map_err(misconfigured)?)
            .set_auth_type(AuthType::RequestBody))
    }

    /// The access token for the callback's code.
    async fn redeem(
        &self,
        request: &UpstreamRequest,
        code: &str,
    ) -> Result<oauth2::AccessToken, UpstreamError> {
        let client = self.client(&request.callback_url)?;
        let mut exchange = client.exchange_code(AuthorizationCode::new(code.to_owned()));
        if let Some(verifier) = &request.pkce_verifier {
            exchange = exchange.set_pkce_verifier(PkceCodeVerifier::new(verifier.clone()));
        }
        let tokens = exchange
            .request_async(&super::http::client(&self.outbound))
            .await
            .map_err(token_error)?;
        Ok(tokens.access_token().clone())
    }

    /// GET `url` with the access token and the preset's headers: its JSON.
    async fn get_json(
        &self,
        what: &str,
        url: &Url,
        access_token: &oauth2::AccessToken,
    ) -> Result<Value, UpstreamError> {
        let mut request = self
            .outbound
            .get(url.as_str())
            .map_err(unreachable)?
            .bearer_auth(access_token.secret());
        if !self
            .preset
            .headers
            .keys()
            .any(|name| name.eq_ignore_ascii_case("accept"))
        {
            request = request.header(reqwest::header::ACCEPT, "application/json");
        }
        for (name, value) in &self.preset.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = crate::outbound::send(request).await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(unreachable(format!(
                "{what} answered {}",
                response.status()
            )));
        }
        let body = read_body(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| invalid(format!("{what}: {e}")))?;
        serde_json::from_slice(&body).map_err(|e| invalid(format!("{what} is not JSON: {e}")))
    }
}

/// A failed code exchange, as the person is told of it: the upstream's OAuth
/// error as a refusal (GitHub sends one with 200 OK, which the crate reads as
/// a token response that does not parse), an answer that is no token
/// response as invalid, anything else as unreachable.
fn token_error(e: RequestTokenError<OutboundError, BasicErrorResponse>) -> UpstreamError {
    let denied = |answer: BasicErrorResponse| UpstreamError::Denied {
        error: answer.error().as_ref().to_owned(),
        description: answer.error_description().cloned().unwrap_or_default(),
    };
    match e {
        RequestTokenError::ServerResponse(answer) => denied(answer),
        RequestTokenError::Parse(error, body) => {
            match serde_json::from_slice::<BasicErrorResponse>(&body) {
                Ok(answer) => denied(answer),
                Err(_)
                    if serde_json::from_slice::<serde_json::Map<String, Value>>(&body).is_ok() =>
                {
                    invalid(format!("the token response cannot be read: {error}"))
                }
                Err(_) => unreachable(format!("the token endpoint answered no JSON: {error}")),
            }
        }
        RequestTokenError::Request(e) => unreachable(format!("the token request failed: {e}")),
        RequestTokenError::Other(e) => unreachable(format!("the token request failed: {e}")),
    }
}

fn profile_error(e: PresetError) -> UpstreamError {
    match e {
        PresetError::MissingSubject { .. } => UpstreamError::MissingClaim("subject"),
        other => invalid(other),
    }
}

impl RedirectConnector for OAuth2Connector {
    fn uses_pkce(&self) -> bool {
        true
    }

    fn begin<'a>(
        &'a self,
        request: &'a UpstreamRequest,
    ) -> BoxFuture<'a, Result<Begin, UpstreamError>> {
        Box::pin(async move {
            let client = self.client(&request.callback_url)?;
            let state = request.state.clone();
            let mut authorize = client
                .authorize_url(move || CsrfToken::new(state))
                .add_scopes(self.scopes.iter().cloned().map(Scope::new));
            if let Some(verifier) = &request.pkce_verifier {
                authorize =
                    authorize.set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(
                        &PkceCodeVerifier::new(verifier.clone()),
                    ));
            }
            for (name, value) in request.authorization_params() {
                authorize = authorize.add_extra_param(name, value);
            }
            let (url, _) = authorize.url();
            Ok(Begin::Redirect(url.to_string()))
        })
    }

    fn finish<'a>(
        &'a self,
        request: &'a UpstreamRequest,
        response: &'a CallbackParams,
    ) -> BoxFuture<'a, Result<Identity, UpstreamError>> {
        Box::pin(async move {
            // RFC 9207, before anything else the response says: all
            // connections share one callback, so a response naming another
            // issuer than this provider is a mix-up. A provider whose
            // issuer is not known (GitHub, a generic `oauth2`) is not
            // checked: nothing to compare with.
            if let (Some(iss), Some(issuer)) = (response.get("iss"), &self.preset.issuer) {
                if iss != issuer {
                    return Err(invalid(format!("the response names issuer {iss}")));
                }
            }
            if let Some(denied) = UpstreamError::in_callback(response) {
                return Err(denied);
            }
            let code = response
                .get("code")
                .ok_or_else(|| invalid("no code in the callback"))?;
            let access_token = self.redeem(request, code).await?;
            let profile = self
                .get_json("userinfo", &self.preset.userinfo_endpoint, &access_token)
                .await?;
            let mut identity = identity_from_profile(&self.preset, &self.connection_id, &profile)
                .map_err(profile_error)?;
            if let Some(endpoint) = &self.preset.emails_endpoint {
                let emails = self
                    .get_json("the emails endpoint", endpoint, &access_token)
                    .await?;
                apply_emails(&mut identity, &emails);
            }
            Ok(identity)
        })
    }
}

#[cfg(test)]
mod tests;
