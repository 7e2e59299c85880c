//! The round trip to an upstream identity provider:
//!
//! ```text
//! login page ──button / connection=NAME / one SSO connection──► begin
//!     record {state, nonce, PKCE verifier, transaction, connection}
//!     ──► upstream ──► /login/callback (GET query or cross-site POST)
//!     record_callback: the response is kept on the record found by `state`
//!     ──303──► /u/login/callback?state=… (same site: the transaction's cookie)
//!     resume: the record is taken once, the connector verifies the response,
//!     the identity becomes a user, and the login finishes as any other.
//! ```
//!
//! The callback trusts nothing the browser brings back: the nonce and the
//! PKCE verifier never leave the server, the record is single-use and
//! expires, and the login resumes only in the browser holding the cookie of
//! the transaction the record was made for (login CSRF).

use std::sync::Arc;

use super::login::{self, Finished, LoginError, Transaction};
use super::request::AuthorizationRequest;
use super::session::{self, SessionCookie};
use super::sha256_hex;
use crate::connectors::{
    Begin, CallbackParams, Identity, RedirectConnector, UpstreamError, UpstreamRequest,
};
use crate::metrics::LoginOutcome;
use crate::model::connection::{Connection, Strategy};
use crate::model::ids;
use crate::state::AppState;
use crate::store::{StoreError, StoredUpstreamRequest};

/// Auth0's callback URL, the same for every connection.
pub const CALLBACK_PATH: &str = "/login/callback";
/// Where the callback sends the browser back on this site (under `/u/`,
/// where the transaction's cookie goes even over plain http).
pub const RESUME_PATH: &str = "/u/login/callback";
/// How long the upstream has to answer.
const UPSTREAM_REQUEST_LIFETIME_MS: i64 = 10 * 60 * 1000;

/// What a failed round trip tells the person: the connection's name and
/// what went wrong. The details go to the log (with the request id).
fn failure(connection: &Connection, error: UpstreamError) -> LoginError {
    tracing::warn!(
        connection = %connection.name,
        connection_id = %connection.id,
        error = %error,
        "upstream login failed"
    );
    LoginError::Upstream {
        connection: connection.label().to_owned(),
        error,
    }
}

async fn connector(
    state: &AppState,
    connection: &Connection,
) -> Result<Arc<dyn RedirectConnector>, LoginError> {
    state
        .connectors
        .redirect(connection)
        .await
        .map_err(|e| failure(connection, e))
}

/// Sends the login of `txn` to the upstream of `connection_id`: records the
/// round trip, and answers where the browser goes, with the name of the
/// connection to show meanwhile.
pub async fn begin(
    state: &AppState,
    txn: &Transaction,
    connection_id: &str,
) -> Result<(Begin, String), LoginError> {
    txn.require_organization_asked()?;
    login::require_enabled(state, txn, connection_id).await?;
    let connection = state.store.get_connection(connection_id).await?;
    let connector = connector(state, &connection).await?;
    let request = UpstreamRequest {
        callback_url: state.issuer.url(CALLBACK_PATH),
        state: ids::random_alphanumeric(43),
        nonce: ids::random_alphanumeric(43),
        pkce_verifier: connector.uses_pkce().then(|| ids::random_alphanumeric(64)),
        login_hint: txn.email.clone().or_else(|| txn.request.login_hint.clone()),
        extra_params: upstream_params(&connection, &txn.request),
    };
    let stored = state
        .store
        .insert_upstream_request(&StoredUpstreamRequest {
            state_hash: sha256_hex(&request.state),
            transaction_id: txn.id.clone(),
            connection_id: connection.id.clone(),
            nonce: request.nonce.clone(),
            pkce_verifier: request.pkce_verifier.clone(),
            response: None,
            expires_at: state.clock.now_unix_millis() + UPSTREAM_REQUEST_LIFETIME_MS,
        })
        .await?;
    if !stored {
        return Err(LoginError::Retry(
            "This sign-in was sent to identity providers too many times. \
             Go back to the application and start again."
                .into(),
        ));
    }
    let begin = connector
        .begin(&request)
        .await
        .map_err(|e| failure(&connection, e))?;
    Ok((begin, connection.label().to_owned()))
}

/// Auth0's `options.upstream_params`: `{"name": {"value": "v"}}` sends a
/// fixed value, `{"name": {"alias": "login_hint"}}` the value the client
/// sent in that authorization parameter (when it sent one).
/// The authorization parameters Switchyard sets for the round trip itself:
/// an `upstream_params` entry never replaces or duplicates them (a second
/// `redirect_uri` or `state` could send the code elsewhere or unbind it).
const RESERVED_UPSTREAM_PARAMS: [&str; 11] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "request",
    "request_uri",
];

fn upstream_params(
    connection: &Connection,
    request: &AuthorizationRequest,
) -> Vec<(String, String)> {
    let Some(params) = connection
        .options
        .extra()
        .get("upstream_params")
        .and_then(serde_json::Value::as_object)
    else {
        return Vec::new();
    };
    let prompt = (!request.prompt.is_empty()).then(|| request.prompt.join(" "));
    params
        .iter()
        .filter(|(name, _)| !RESERVED_UPSTREAM_PARAMS.contains(&name.to_ascii_lowercase().as_str()))
        .filter_map(|(name, spec)| {
            let value = match (
                spec.get("value").and_then(serde_json::Value::as_str),
                spec.get("alias").and_then(serde_json::Value::as_str),
            ) {
                (Some(value), _) => Some(value.to_owned()),
                (None, Some("login_hint")) => request.login_hint.clone(),
                (None, Some("prompt")) => prompt.clone(),
                (None, Some("max_age")) => request.max_age.map(|age| age.to_string()),
                (None, Some("audience")) => request.audience.clone(),
                (None, Some("client_id")) => Some(request.client_id.clone()),
                (None, Some("screen_hint")) => request.screen_hint.clone(),
                _ => None,
            };
            value.map(|value| (name.clone(), value))
        })
        .collect()
}

/// Where the browser goes from `/login/callback`.
pub enum Callback {
    /// Back on this site, where the login resumes in the browser holding
    /// the transaction's cookie (`/u/login/callback?state=…`).
    Resume(String),
    /// An IdP-initiated SAML login ended: the user's new SSO session, and
    /// the client's `initiate_login_uri` (with `iss` and `login_hint`), where
    /// the application starts an ordinary authorization request that this
    /// session answers.
    Initiated {
        location: String,
        session_cookie: SessionCookie,
    },
}

/// The upstream's answer at `/login/callback`, with the `connection` its
/// query names (a SAML ACS, `?connection=NAME`): kept on the record its
/// `state` (a SAML response's `RelayState`) names, once. An unknown, expired
/// or already answered `state` is refused, unless it is a SAML response
/// that the connection of the ACS accepts unsolicited (IdP-initiated SSO).
pub async fn record_callback(
    state: &AppState,
    params: &CallbackParams,
    acs_connection: Option<&str>,
) -> Result<Callback, LoginError> {
    if params.contains_key("SAMLResponse") {
        return saml_callback(state, params, acs_connection).await;
    }
    let upstream_state = params
        .get("state")
        .ok_or(LoginError::UpstreamStateUnknown)?;
    record_response(state, upstream_state, params)
        .await
        .map(Callback::Resume)
}

/// Keeps `params` on the record of `upstream_state`; where the login resumes.
async fn record_response(
    state: &AppState,
    upstream_state: &str,
    params: &CallbackParams,
) -> Result<String, LoginError> {
    let response =
        serde_json::to_string(params).map_err(|e| LoginError::Internal(e.to_string()))?;
    match state
        .store
        .record_upstream_response(
            &sha256_hex(upstream_state),
            &response,
            state.clock.now_unix_millis(),
        )
        .await
    {
        Ok(_) => Ok(format!(
            "{RESUME_PATH}?state={}",
            url::form_urlencoded::byte_serialize(upstream_state.as_bytes()).collect::<String>()
        )),
        Err(StoreError::NotFound) => {
            tracing::warn!("upstream callback with an unknown, expired or already used state");
            Err(LoginError::UpstreamStateUnknown)
        }
        Err(e) => Err(e.into()),
    }
}

/// A `SAMLResponse` at the ACS: its `RelayState` names the round trip it
/// answers, which must be one of the connection the ACS names (a response
/// to another connection's request is refused before anything in it is
/// read); with no round trip, an unsolicited response.
async fn saml_callback(
    state: &AppState,
    params: &CallbackParams,
    acs_connection: Option<&str>,
) -> Result<Callback, LoginError> {
    if let Some(relay_state) = params.get("RelayState").filter(|s| !s.is_empty()) {
        match state
            .store
            .get_upstream_request(&sha256_hex(relay_state), state.clock.now_unix_millis())
            .await
        {
            Ok(record) => {
                let connection = state.store.get_connection(&record.connection_id).await?;
                if connection.strategy != Strategy::Saml {
                    return Err(failure(
                        &connection,
                        UpstreamError::Invalid(format!(
                            "a SAML response to a request of the {} connection {}",
                            connection.strategy, connection.name
                        )),
                    ));
                }
                if let Some(acs) = acs_connection.filter(|acs| *acs != connection.name) {
                    return Err(failure(
                        &connection,
                        UpstreamError::Invalid(format!(
                            "a response to a request of connection {} arrived at the ACS of \
                             connection {acs}",
                            connection.name
                        )),
                    ));
                }
                return record_response(state, relay_state, params)
                    .await
                    .map(Callback::Resume);
            }
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let answered_a_request = params.get("RelayState").is_some_and(|s| !s.is_empty());
    unsolicited(state, params, acs_connection, answered_a_request).await
}

/// IdP-initiated SSO (Auth0's `idpinitiated`), off unless the connection
/// of the ACS enables it: the response is validated in full as unsolicited
/// (it must answer no request; its assertion is remembered, so a replay
/// fails), the identity becomes a user and the browser gets an SSO session.
/// No authorization code is made here: the browser goes to the configured
/// client's `initiate_login_uri` (OpenID Connect Core §4, `iss` and
/// `login_hint`), whose application then starts an ordinary,
/// CSRF-protected authorization request that the session answers — and
/// which applies the organization's rules (enabled connection, membership)
/// as every login does.
async fn unsolicited(
    state: &AppState,
    params: &CallbackParams,
    acs_connection: Option<&str>,
    answered_a_request: bool,
) -> Result<Callback, LoginError> {
    let found = match acs_connection {
        Some(name) => crate::connectors::saml::sp::connection_named(&state.store, name).await?,
        None => None,
    };
    let Some(connection) = found else {
        tracing::warn!("a SAML response for no pending request, at an ACS of no SAML connection");
        return Err(LoginError::UpstreamStateUnknown);
    };
    let label = connection.label().to_owned();
    let Some(settings) = connection
        .options
        .saml()
        .and_then(|options| options.idp_initiated())
    else {
        tracing::warn!(connection = %connection.name, answered_a_request,
            "an unsolicited SAML response, not accepted");
        // A RelayState of no pending round trip: most likely the same
        // answer posted again, or one that took too long.
        if answered_a_request {
            return Err(LoginError::Retry(format!(
                "This answer of {label} is for a sign-in that already finished or expired. \
                 Go back to the application and sign in again."
            )));
        }
        return Err(LoginError::Retry(format!(
            "{label} does not accept sign-ins started at the identity provider \
             (unsolicited SAML responses). Start from the application instead."
        )));
    };
    let client = state
        .clients
        .get(&state.store, &settings.client_id)
        .await?
        .ok_or_else(|| {
            tracing::warn!(connection = %connection.name, client_id = %settings.client_id,
                "idpinitiated names no existing client");
            LoginError::Retry(format!(
                "Sign-ins started at the identity provider of {label} go to an application \
                 that does not exist. Ask your administrator."
            ))
        })?;
    let enabled = state
        .clients
        .client_connections(&state.store, &client.client_id)
        .await?
        .iter()
        .any(|c| c.id == connection.id);
    if !enabled {
        return Err(LoginError::Retry(format!(
            "{label} is not enabled for {}. Ask your administrator.",
            client.name
        )));
    }
    let Some(initiate_login_uri) = client.initiate_login_uri.as_deref() else {
        return Err(LoginError::Retry(format!(
            "{} cannot be opened from the identity provider of {label}: it has no \
             initiate_login_uri. Open {} and sign in there.",
            client.name, client.name
        )));
    };
    let mut location = url::Url::parse(initiate_login_uri)
        .map_err(|e| LoginError::Internal(format!("initiate_login_uri: {e}")))?;
    let connector = connector(state, &connection).await?;
    let result = async {
        let identity = connector
            .finish_unsolicited(&state.issuer.url(CALLBACK_PATH), params)
            .await
            .map_err(|e| failure(&connection, e))?;
        let user = match super::federation::user_for_identity(state, &connection, &identity).await {
            Ok(user) => user,
            // Linking asks for the existing account's password, in a
            // login transaction this response has none of.
            Err(LoginError::ProveExisting(_)) => {
                return Err(LoginError::Retry(format!(
                    "This account is to be linked to an existing one: open {} and sign in \
                     with {label} there.",
                    client.name
                )));
            }
            Err(e) => return Err(e),
        };
        let (session, session_cookie) =
            session::start(state, &user.user_id, &connection.id).await?;
        keep_saml_subject(state, &identity, &session.id).await;
        Ok((identity.email.or(user.email), session_cookie))
    }
    .await;
    state.metrics.login(
        &connection.id,
        match &result {
            Ok(_) => LoginOutcome::Success,
            Err(e) => e.outcome(),
        },
    );
    let (email, session_cookie) = result?;
    {
        let mut query = location.query_pairs_mut();
        query.append_pair("iss", state.issuer.identifier());
        if let Some(email) = &email {
            query.append_pair("login_hint", email);
        }
    }
    Ok(Callback::Initiated {
        location: location.into(),
        session_cookie,
    })
}

/// A `state` the store does not hold (unknown, expired or already used)
/// answers no pending request.
fn unknown_state(e: StoreError) -> LoginError {
    match e {
        StoreError::NotFound => LoginError::UpstreamStateUnknown,
        e => e.into(),
    }
}

/// The transaction a resumed round trip belongs to (the caller loads it
/// with the browser's cookie: another browser cannot resume it).
pub async fn transaction_of(state: &AppState, upstream_state: &str) -> Result<String, LoginError> {
    let record = state
        .store
        .get_upstream_request(&sha256_hex(upstream_state), state.clock.now_unix_millis())
        .await
        .map_err(unknown_state)?;
    Ok(record.transaction_id)
}

/// Back on this site in the browser of `txn`: takes the record, has the
/// connector verify the response, turns the identity into a user and
/// finishes the login.
pub async fn resume(
    state: &AppState,
    txn: &Transaction,
    upstream_state: &str,
) -> Result<Finished, LoginError> {
    let record = state
        .store
        .take_upstream_request(&sha256_hex(upstream_state), state.clock.now_unix_millis())
        .await
        .map_err(unknown_state)?;
    if record.transaction_id != txn.id {
        return Err(LoginError::Expired);
    }
    // Disabled since the round trip began: no user is made or logged in.
    login::require_enabled(state, txn, &record.connection_id).await?;
    let connection = state.store.get_connection(&record.connection_id).await?;
    let connector = connector(state, &connection).await?;
    let response: CallbackParams = serde_json::from_str(record.response.as_deref().unwrap_or("{}"))
        .map_err(|e| LoginError::Internal(e.to_string()))?;
    let request = UpstreamRequest {
        callback_url: state.issuer.url(CALLBACK_PATH),
        state: upstream_state.to_owned(),
        nonce: record.nonce,
        pkce_verifier: record.pkce_verifier,
        login_hint: None,
        extra_params: Vec::new(),
    };
    let result = async {
        let identity = connector
            .finish(&request, &response)
            .await
            .map_err(|e| failure(&connection, e))?;
        let placed;
        let txn =
            match super::federation::organization_of_tenant(state, txn, &connection, &identity)
                .await?
            {
                Some(organization_id) => {
                    placed = in_organization(state, txn, organization_id).await?;
                    &placed
                }
                None => txn,
            };
        // Before a user is made: no account for an identity refused here.
        if let Some(organization_id) = &txn.request.organization_id {
            if let Some(refusal) = super::domain_guard::refusal(
                state,
                organization_id,
                &connection,
                identity.email.as_deref(),
            )
            .await?
            {
                return Err(LoginError::Retry(refusal));
            }
        }
        match super::federation::user_for_identity(state, &connection, &identity).await {
            Ok(user) => {
                let finished = login::finish(state, txn, &user, &connection.id).await?;
                if let Some(cookie) = &finished.session_cookie {
                    keep_saml_subject_of_cookie(state, &identity, cookie).await;
                }
                Ok(finished)
            }
            // `account_linking: prove_existing`: the person logs in to the
            // existing account before the identity joins it.
            Err(LoginError::ProveExisting(pending)) => {
                super::federation::ask_to_prove(state, txn, &pending).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    let outcome = match &result {
        Ok(_) => LoginOutcome::Success,
        Err(e) => e.outcome(),
    };
    state.metrics.login(&connection.id, outcome);
    result
}

/// `txn` in `organization_id`, which its upstream tenant decided (kept with
/// the transaction: a consent page may come before the code).
async fn in_organization(
    state: &AppState,
    txn: &Transaction,
    organization_id: String,
) -> Result<Transaction, LoginError> {
    let request = login::set_organization(state, txn, organization_id).await?;
    Ok(Transaction {
        id: txn.id.clone(),
        csrf_token: txn.csrf_token.clone(),
        request,
        email: txn.email.clone(),
        previous_session_id: txn.previous_session_id.clone(),
        authenticated_session_id: txn.authenticated_session_id.clone(),
        client: txn.client.clone(),
    })
}

/// Keeps the SAML subject of `identity` (NameID, SessionIndex) with the
/// session its login opened, for the LogoutRequest that ends it at the IdP
/// (single logout). An identity of another protocol has none. A failure
/// is logged: the login stands, the IdP's session then outlives the logout.
async fn keep_saml_subject(state: &AppState, identity: &Identity, session_id: &str) {
    let Some(subject) = crate::connectors::saml::logout::subject_of(identity) else {
        return;
    };
    if let Err(error) = state
        .store
        .insert_saml_session_subject(session_id, &subject)
        .await
    {
        tracing::warn!(sid = %session_id, %error, "the SAML subject of a session was not kept");
    }
}

/// [`keep_saml_subject`] for the session a login's cookie stands for.
async fn keep_saml_subject_of_cookie(
    state: &AppState,
    identity: &Identity,
    cookie: &SessionCookie,
) {
    if crate::connectors::saml::logout::subject_of(identity).is_none() {
        return;
    }
    match session::current(state, Some(cookie.secret.expose())).await {
        Ok(Some(session)) => keep_saml_subject(state, identity, &session.id).await,
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(%error, "the SAML subject of a session was not kept");
        }
    }
}
