//! The requests the flows share: an authorization request that passed
//! `/authorize`'s checks (stored in the login transaction), the responses
//! that go back to the client's redirect URI, the grant an authorization
//! code stands for, and the token endpoint's parameters. Plain data; every
//! flow module uses these and none of them is owned by one flow.

use serde::{Deserialize, Serialize};

use super::OAuthError;
use crate::model::secret::Secret;

/// An authorization request that passed every check; stored in the login
/// transaction until the user has logged in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// S256 code challenge (PKCE, RFC 7636).
    pub code_challenge: Option<String>,
    pub organization_id: Option<String>,
    pub connection: Option<String>,
    pub login_hint: Option<String>,
    pub screen_hint: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub audience: Option<String>,
    pub invitation: Option<String>,
    /// The client requires an organization the request did not name: the
    /// login asks for it (`organization_require_behavior`).
    #[serde(default)]
    pub organization_prompt: Option<OrganizationPrompt>,
    /// The user an `id_token_hint` names: a session of anyone else does not
    /// answer the request (OIDC Core §3.1.2.1).
    #[serde(default)]
    pub hinted_subject: Option<String>,
    /// How the response goes back: in the query, or as a form post.
    #[serde(default)]
    pub response_mode: ResponseMode,
    /// `organization_id` was chosen by the email's verified domain, not by
    /// the client or a prompt: another email typed chooses again.
    #[serde(default)]
    pub organization_by_domain: bool,
}

impl AuthorizationRequest {
    /// The organization prompt the login still has to show: the client
    /// requires an organization and none is known yet.
    pub fn pending_organization_prompt(&self) -> Option<OrganizationPrompt> {
        if self.organization_id.is_some() {
            return None;
        }
        self.organization_prompt
    }

    /// An OAuth error for this request's client, with `state` and `iss`.
    pub fn error_response(&self, issuer: &str, error: &OAuthError) -> ClientResponse {
        error_response(
            &self.redirect_uri,
            self.response_mode,
            self.state.as_deref(),
            issuer,
            error,
        )
    }

    /// The authorization response carrying `code`.
    pub fn code_response(&self, issuer: &str, code: &str) -> ClientResponse {
        authorization_response(
            &self.redirect_uri,
            self.response_mode,
            &[("code", code)],
            self.state.as_deref(),
            issuer,
        )
    }
}

/// `response_mode`: `query` (the default for `code`) or `form_post` (OAuth
/// 2.0 Form Post Response Mode), which keeps the code out of URLs, logs
/// and `Referer` headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

/// A response the browser carries to the client's verified redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub params: Vec<(String, String)>,
}

impl ClientResponse {
    /// The redirect URI with the parameters added to its query.
    pub fn query_url(&self) -> String {
        // Registered callbacks are validated URLs; should one not parse, send nothing extra.
        let Ok(mut url) = url::Url::parse(&self.redirect_uri) else {
            return self.redirect_uri.clone();
        };
        if self.params.is_empty() {
            return self.redirect_uri.clone();
        }
        url.query_pairs_mut().extend_pairs(&self.params);
        url.to_string()
    }
}

/// How a login finds the organization a client requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrganizationPrompt {
    /// `pre_login_prompt`: ask for the organization's name first.
    BeforeLogin,
    /// `post_login_prompt`: after login, pick among the user's organizations.
    AfterLogin,
}

/// Token request parameters (form or JSON body). Unknown parameters are
/// ignored, as RFC 6749 §3.2 requires.
#[derive(Debug, Default, Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub audience: Option<String>,
    pub scope: Option<String>,
    pub organization: Option<String>,
    pub code: Option<Secret>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<Secret>,
    pub refresh_token: Option<Secret>,
}

impl TokenParams {
    /// The `client_secret` sent in the body, if any.
    pub fn client_secret(&self) -> Option<&str> {
        self.client_secret.as_ref().map(Secret::expose)
    }
}

/// The data an authorization code stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub user_id: String,
    pub organization_id: Option<String>,
    pub redirect_uri: String,
    pub scope: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub audience: Option<String>,
    pub auth_time: i64,
    /// The SSO session the code was issued in: the ID token's `sid`.
    #[serde(default)]
    pub session_id: Option<String>,
}

/// An OAuth error sent back to the client, with `state` and `iss`.
pub fn error_response(
    redirect_uri: &str,
    mode: ResponseMode,
    state: Option<&str>,
    issuer: &str,
    error: &OAuthError,
) -> ClientResponse {
    let params = [
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    authorization_response(redirect_uri, mode, &params, state, issuer)
}

/// An authorization response (RFC 6749 §4.1.2): `params`, then `state` when
/// the request had one and `iss` (RFC 9207).
fn authorization_response(
    redirect_uri: &str,
    mode: ResponseMode,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> ClientResponse {
    let mut all: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if let Some(state) = state {
        all.push(("state".to_owned(), state.to_owned()));
    }
    all.push(("iss".to_owned(), issuer.to_owned()));
    ClientResponse {
        redirect_uri: redirect_uri.to_owned(),
        mode,
        params: all,
    }
}
