//! The login state machine behind universal login:
//!
//! ```text
//! /authorize ──► transaction (server-side, bound to the browser by a cookie)
//!      │
//!      ▼
//! identifier page ──email──► routing::decide ──► password page ──► code ──► redirect_uri
//!                                       │                    └──► consent page ──┘
//!                                       └──► error page (no usable connection)
//! ```
//!
//! A third-party client gets its code only after the user consented
//! ([`consent`]): the login then goes on in its new session to the consent
//! page, as it does to the organization picker.
//!
//! Every form carries the transaction id and its CSRF token; the transaction
//! is only usable from the browser holding its cookie, and ends with the code.

use std::net::IpAddr;
use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::request::{AuthorizationRequest, ClientResponse, CodeGrant, OrganizationPrompt};
use super::session::{self, SessionCookie};
use super::{OAuthError, OAuthErrorCode, consent, sha256_hex, throttle};
use crate::connectors::database::PasswordError;
use crate::connectors::{PasswordCheck, PasswordCheckError, PasswordConnector, password_connector};
use crate::metrics::LoginOutcome;
use crate::model::client::{Client, OrganizationDiscoveryMethod, OrganizationUsage};
use crate::model::connection::Connection;
use crate::model::ids;
use crate::model::organization::{DomainMembership, Organization};
use crate::model::secret::Secret;
use crate::model::user::{User, normalize_email};
use crate::routing::{Candidate, Decision, RoutedOrganization, Snapshot};
use crate::state::AppState;
use crate::store::{StoreError, StoredSession, StoredTransaction};

/// How long a user has to finish logging in.
const TRANSACTION_LIFETIME_MS: i64 = 30 * 60 * 1000;
/// Authorization codes are short-lived (RFC 6749 §4.1.2 recommends ≤ 10 min).
pub const CODE_LIFETIME_MS: i64 = 60 * 1000;

/// A failed login step, as the user sees it.
#[derive(Debug)]
pub enum LoginError {
    /// The transaction is unknown, expired, or not this browser's: start over.
    Expired,
    /// The form's CSRF token does not match.
    Forgery,
    /// Show the form again with this message.
    Retry(String),
    /// Send an OAuth error back to the client.
    ToClient(ClientResponse),
    /// Every password-hashing slot is busy: retry after this many seconds.
    Busy {
        retry_after_secs: i64,
    },
    /// Too many logins started from the client's address
    /// ([`throttle::LOGIN_STARTS`]); retry after this many seconds.
    TooManyLoginStarts {
        retry_after_secs: i64,
    },
    /// Refused by brute-force protection ([`super::throttle`]); a new
    /// attempt is sure to be counted afresh after this many seconds.
    TooManyAttempts {
        retry_after_secs: i64,
    },
    /// A round trip to an upstream identity provider failed: the page names
    /// the connection (its display name) and says what went wrong.
    Upstream {
        connection: String,
        error: crate::connectors::UpstreamError,
    },
    /// An upstream's answer for no pending request: unknown, expired, or
    /// already used (a replayed callback).
    UpstreamStateUnknown,
    Internal(String),
    /// `account_linking: prove_existing`: the upstream identity will join an
    /// existing account once the person has logged in to it. The caller
    /// holding the login transaction sends the browser on with
    /// [`super::federation::ask_to_prove`].
    ProveExisting(Box<crate::store::identities::PendingLink>),
}

impl From<throttle::ThrottleError> for LoginError {
    fn from(err: throttle::ThrottleError) -> Self {
        match err {
            throttle::ThrottleError::TooManyAttempts { retry_after_secs } => {
                LoginError::TooManyAttempts { retry_after_secs }
            }
            throttle::ThrottleError::Store(e) => e.into(),
        }
    }
}

impl From<PasswordError> for LoginError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::Busy => LoginError::Busy {
                retry_after_secs: PasswordError::RETRY_AFTER_SECS,
            },
            other => LoginError::Internal(other.to_string()),
        }
    }
}

impl From<PasswordCheckError> for LoginError {
    fn from(err: PasswordCheckError) -> Self {
        match err {
            PasswordCheckError::Store(e) => e.into(),
            PasswordCheckError::Password(e) => e.into(),
        }
    }
}

impl From<StoreError> for LoginError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => LoginError::Expired,
            other => LoginError::Internal(other.to_string()),
        }
    }
}

/// A loaded login transaction.
#[derive(Clone)]
pub struct Transaction {
    pub id: String,
    pub csrf_token: String,
    pub request: AuthorizationRequest,
    pub email: Option<String>,
    /// The browser's SSO session when the login began: a new login ends it,
    /// and `prompt=select_account` offers to continue with it.
    pub previous_session_id: Option<String>,
    /// Set once the user has logged in and is picking an organization.
    pub authenticated_session_id: Option<String>,
    pub client: Arc<Client>,
}

/// What the browser must keep: the cookie binding it to the transaction.
pub struct Started {
    pub transaction_id: String,
    pub browser_secret: Secret,
}

/// Starts a login transaction for a checked authorization request from
/// `client_ip` (each stores the request: counted per address).
pub async fn begin(
    state: &AppState,
    request: &AuthorizationRequest,
    previous_session_id: Option<&str>,
    client_ip: IpAddr,
) -> Result<Started, LoginError> {
    throttle::count_login_start(state, client_ip)
        .await
        .map_err(|e| match e {
            throttle::ThrottleError::TooManyAttempts { retry_after_secs } => {
                LoginError::TooManyLoginStarts { retry_after_secs }
            }
            throttle::ThrottleError::Store(e) => e.into(),
        })?;
    let browser_secret = ids::random_alphanumeric(43);
    let transaction_id = ids::random_alphanumeric(32);
    let request_json =
        serde_json::to_string(request).map_err(|e| LoginError::Internal(e.to_string()))?;
    let email = request
        .login_hint
        .as_deref()
        .and_then(|hint| normalize_email(hint).ok());
    state
        .store
        .insert_login_transaction(&StoredTransaction {
            id: transaction_id.clone(),
            browser_hash: sha256_hex(&browser_secret),
            csrf_token: ids::random_alphanumeric(32),
            request: request_json,
            email,
            previous_session_id: previous_session_id.map(str::to_owned),
            authenticated_session_id: None,
            expires_at: state.clock.now_unix_millis() + TRANSACTION_LIFETIME_MS,
        })
        .await?;
    Ok(Started {
        transaction_id,
        browser_secret: browser_secret.into(),
    })
}

/// Starts a transaction for the user of the browser's live session, who
/// goes straight to the organization picker (`post_login_prompt`) or the
/// consent page without logging in again.
pub async fn begin_in_session(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &StoredSession,
    client_ip: IpAddr,
) -> Result<Started, LoginError> {
    let started = begin(state, request, Some(&session.id), client_ip).await?;
    state
        .store
        .set_login_transaction_session(&started.transaction_id, &session.id)
        .await?;
    Ok(started)
}

/// Loads a transaction for the browser presenting `browser_secret`.
pub async fn load(
    state: &AppState,
    transaction_id: &str,
    browser_secret: Option<&str>,
) -> Result<Transaction, LoginError> {
    let stored = state
        .store
        .get_login_transaction(transaction_id, state.clock.now_unix_millis())
        .await?;
    let presented = sha256_hex(browser_secret.ok_or(LoginError::Expired)?);
    if !bool::from(presented.as_bytes().ct_eq(stored.browser_hash.as_bytes())) {
        return Err(LoginError::Expired);
    }
    let request: AuthorizationRequest =
        serde_json::from_str(&stored.request).map_err(|e| LoginError::Internal(e.to_string()))?;
    let client = state
        .clients
        .get(&state.store, &request.client_id)
        .await?
        .ok_or(LoginError::Expired)?;
    Ok(Transaction {
        id: stored.id,
        csrf_token: stored.csrf_token,
        request,
        email: stored.email,
        previous_session_id: stored.previous_session_id,
        authenticated_session_id: stored.authenticated_session_id,
        client,
    })
}

impl Transaction {
    /// The organization prompt still to show, if any.
    pub fn pending_organization_prompt(&self) -> Option<OrganizationPrompt> {
        self.request.pending_organization_prompt()
    }

    /// With `pre_login_prompt`, no step of the login goes on before the
    /// organization is known.
    pub fn require_organization_asked(&self) -> Result<(), LoginError> {
        if self.pending_organization_prompt() == Some(OrganizationPrompt::BeforeLogin) {
            return Err(LoginError::Retry("Enter your organization first.".into()));
        }
        Ok(())
    }

    /// Checks a form's CSRF token in constant time.
    pub fn check_csrf(&self, presented: &str) -> Result<(), LoginError> {
        if bool::from(presented.as_bytes().ct_eq(self.csrf_token.as_bytes())) {
            Ok(())
        } else {
            Err(LoginError::Forgery)
        }
    }
}

/// An OAuth error sent back to the client of a checked request.
fn error_redirect(
    state: &AppState,
    request: &AuthorizationRequest,
    code: OAuthErrorCode,
    description: &str,
) -> LoginError {
    LoginError::ToClient(request.error_response(
        state.issuer.identifier(),
        &OAuthError::new(code, description),
    ))
}

/// The connections a request may log in with: the client's enabled
/// connections, and in an organization's login only those the organization
/// enables too (as Auth0: a connection must be enabled both for the
/// application and on the organization), with the organization's settings.
pub async fn routing_snapshot(
    state: &AppState,
    request: &AuthorizationRequest,
) -> Result<Snapshot, LoginError> {
    let mut candidates = Vec::new();
    let client_connections = state
        .clients
        .client_connections(&state.store, &request.client_id)
        .await?;
    if let Some(org_id) = &request.organization_id {
        for view in state
            .organizations
            .enabled_connections(&state.store, org_id)
            .await?
            .iter()
            .filter(|view| {
                client_connections
                    .iter()
                    .any(|c| c.id == view.enabled.connection_id)
            })
        {
            candidates.push(Candidate {
                connection_id: view.enabled.connection_id.clone(),
                name: view.connection_name.clone(),
                display_name: view.connection_display_name.clone(),
                strategy: view.strategy,
                // Auth0 applies show_as_button to enterprise connections only.
                show_as_button: view.enabled.show_as_button || !view.strategy.is_enterprise(),
                is_signup_enabled: view.enabled.is_signup_enabled,
                domain_aliases: client_connections
                    .iter()
                    .find(|c| c.id == view.enabled.connection_id)
                    .map(normalized_domain_aliases)
                    .unwrap_or_default(),
            });
        }
    } else {
        for connection in client_connections.iter().cloned() {
            candidates.push(Candidate {
                is_signup_enabled: connection.allows_signup(),
                domain_aliases: normalized_domain_aliases(&connection),
                connection_id: connection.id,
                name: connection.name,
                display_name: connection.display_name,
                // Hidden enterprise connections are reached by domain only.
                show_as_button: connection.show_as_button.unwrap_or(true)
                    || !connection.strategy.is_enterprise(),
                strategy: connection.strategy,
            });
        }
    }
    // An explicit `connection` narrows the choice to that connection.
    if let Some(name) = &request.connection {
        candidates.retain(|c| &c.name == name);
        if candidates.is_empty() {
            return Err(error_redirect(
                state,
                request,
                OAuthErrorCode::InvalidRequest,
                "The requested connection is not enabled for this login",
            ));
        }
    }
    Ok(Snapshot {
        candidates,
        organization_id: request.organization_id.clone(),
        domain_route: None,
        routed_organization: None,
    })
}

/// The snapshot [`crate::routing::decide`] routes `email` with: the
/// login's connections, the verified domain covering the email's domain,
/// and, in a login without an organization by a client that logs in to
/// organizations, that domain's organization with the connections the
/// login could use in it (enabled on it and for the client).
pub(crate) async fn routing_snapshot_for(
    state: &AppState,
    txn: &Transaction,
    email: &str,
) -> Result<Snapshot, LoginError> {
    let mut snapshot = routing_snapshot(state, &txn.request).await?;
    snapshot.domain_route = domain_route(state, email).await?;
    let organizations_allowed = txn.client.organization_usage != OrganizationUsage::Deny;
    if let Some(route) = &snapshot.domain_route {
        if txn.request.organization_id.is_none() && organizations_allowed {
            let mut in_routed = txn.request.clone();
            in_routed.organization_id = Some(route.organization_id.clone());
            let candidates = match routing_snapshot(state, &in_routed).await {
                Ok(routed) => routed.candidates,
                // `connection=NAME` is not enabled on that organization.
                Err(LoginError::ToClient(_)) => Vec::new(),
                Err(e) => return Err(e),
            };
            snapshot.routed_organization = Some(RoutedOrganization {
                organization_id: route.organization_id.clone(),
                candidates,
            });
        }
    }
    Ok(snapshot)
}

/// A connection's `domain_aliases` in normalized form (an alias that does
/// not normalize routes nothing).
fn normalized_domain_aliases(connection: &Connection) -> Vec<String> {
    connection
        .options
        .domain_aliases()
        .iter()
        .filter_map(|alias| crate::model::domain::normalize(alias).ok())
        .collect()
}

/// Refuses a login through `connection_id` that the login may not use (any
/// more): the client and, in an organization's login, the organization
/// must enable it when the login begins its round trip and when it ends.
/// A connection disabled meanwhile ends the login with an OAuth error to
/// the client.
pub async fn require_enabled(
    state: &AppState,
    txn: &Transaction,
    connection_id: &str,
) -> Result<(), LoginError> {
    let enabled = match routing_snapshot(state, &txn.request).await {
        Ok(snapshot) => snapshot
            .candidates
            .iter()
            .any(|c| c.connection_id == connection_id),
        Err(LoginError::ToClient(_)) => false,
        Err(e) => return Err(e),
    };
    if enabled {
        return Ok(());
    }
    tracing::warn!(
        connection_id,
        "login through a connection this login may not use"
    );
    state.store.delete_login_transaction(&txn.id).await?;
    Err(error_redirect(
        state,
        &txn.request,
        OAuthErrorCode::AccessDenied,
        "The connection is not enabled for this application or organization",
    ))
}

/// The identifier step: remembers the email and decides what comes next.
/// When the email's verified domain chose an organization, the login goes
/// on in it: `txn` (and the stored transaction) get it, so its membership
/// rules, enabled connections and tokens apply from here on.
pub async fn submit_identifier(
    state: &AppState,
    txn: &mut Transaction,
    raw_identifier: &str,
) -> Result<Decision, LoginError> {
    txn.require_organization_asked()?;
    let identifier = normalize_identifier(raw_identifier)?;
    state
        .store
        .set_login_transaction_email(&txn.id, &identifier)
        .await?;
    txn.email = Some(identifier.clone());
    let chosen_before = txn.request.organization_by_domain;
    if chosen_before {
        // The previous email's domain chose the organization: this one chooses again.
        txn.request.organization_id = None;
        txn.request.organization_by_domain = false;
    }
    let snapshot = routing_snapshot_for(state, txn, &identifier).await?;
    let decision = crate::routing::decide(&identifier, &snapshot);
    if let Decision::Password {
        organization_id: Some(organization_id),
        ..
    }
    | Decision::Redirect {
        organization_id: Some(organization_id),
        ..
    } = &decision
    {
        tracing::info!(
            organization_id,
            "the email's verified domain chose the organization of the login"
        );
        txn.request.organization_id = Some(organization_id.clone());
        txn.request.organization_by_domain = true;
        store_request(state, &txn.id, &txn.request).await?;
    } else if chosen_before {
        store_request(state, &txn.id, &txn.request).await?;
    }
    Ok(decision)
}

/// What the identifier page takes: an email (normalized), or a username
/// (no `@`: trimmed and lowercased), which takes the password path.
fn normalize_identifier(raw: &str) -> Result<String, LoginError> {
    let invalid = || LoginError::Retry("Enter a valid email address or username.".into());
    let trimmed = raw.trim();
    if trimmed.contains('@') {
        return normalize_email(trimmed).map_err(|_| invalid());
    }
    let valid = !trimmed.is_empty()
        && trimmed.chars().count() <= 128
        && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(trimmed.to_lowercase())
    } else {
        Err(invalid())
    }
}

/// The route of the email's domain in the routing table, if a verified
/// domain covers it (a username without a domain has none).
pub async fn domain_route(
    state: &AppState,
    email: &str,
) -> Result<Option<crate::routing::DomainRoute>, LoginError> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Ok(None);
    };
    let Ok(domain) = crate::model::domain::normalize(domain) else {
        return Ok(None);
    };
    Ok(state.routing.lookup(&domain).await?)
}

/// The password step: verifies the password, applies the organization's
/// membership rules, and returns the redirect carrying a new code.
pub async fn submit_password(
    state: &AppState,
    txn: &Transaction,
    password: &str,
    client_ip: IpAddr,
) -> Result<Finished, LoginError> {
    let email = txn.email.clone().ok_or(LoginError::Expired)?;
    // Decided again as the identifier step did (in the organization it may
    // have chosen): the database connection must still be this login's.
    let snapshot = routing_snapshot_for(state, txn, &email).await?;
    let Decision::Password { connection_id, .. } = crate::routing::decide(&email, &snapshot) else {
        return Err(LoginError::Retry(
            "Password login is not available here.".into(),
        ));
    };
    let result = password_login(state, txn, &connection_id, &email, password, client_ip).await;
    let outcome = match &result {
        Ok(_) => LoginOutcome::Success,
        Err(PasswordLoginError::Credentials(outcome)) => *outcome,
        Err(PasswordLoginError::Other(e)) => e.outcome(),
    };
    state.metrics.login(&connection_id, outcome);
    result.map_err(|e| match e {
        // One message whatever was wrong: no user enumeration.
        PasswordLoginError::Credentials(_) => LoginError::Retry("Wrong email or password.".into()),
        PasswordLoginError::Other(e) => e,
    })
}

/// Why a password login failed: the credentials (which way, for the
/// metrics only), or any other refusal.
enum PasswordLoginError {
    Credentials(LoginOutcome),
    Other(LoginError),
}

impl<E: Into<LoginError>> From<E> for PasswordLoginError {
    fn from(e: E) -> Self {
        PasswordLoginError::Other(e.into())
    }
}

impl LoginError {
    /// How a login refused with this error ended, for the metrics.
    pub(super) fn outcome(&self) -> LoginOutcome {
        match self {
            LoginError::TooManyAttempts { .. } | LoginError::TooManyLoginStarts { .. } => {
                LoginOutcome::Throttled
            }
            LoginError::Busy { .. } => LoginOutcome::Busy,
            LoginError::Internal(_) => LoginOutcome::Error,
            LoginError::Expired
            | LoginError::Forgery
            | LoginError::Retry(_)
            | LoginError::ToClient(_)
            | LoginError::ProveExisting(_)
            | LoginError::Upstream { .. }
            | LoginError::UpstreamStateUnknown => LoginOutcome::Refused,
        }
    }
}

async fn password_login(
    state: &AppState,
    txn: &Transaction,
    connection_id: &str,
    email: &str,
    password: &str,
    client_ip: IpAddr,
) -> Result<Finished, PasswordLoginError> {
    // Counted before the password is checked; refused attempts never reach argon2.
    let attempt = throttle::begin_password_attempt(state, connection_id, email, client_ip).await?;
    let refused = |outcome| Err(PasswordLoginError::Credentials(outcome));
    let user = match password_connector(&state.store, connection_id)
        .check(email, password)
        .await?
    {
        PasswordCheck::Valid(user) => user,
        PasswordCheck::Blocked => return refused(LoginOutcome::Blocked),
        PasswordCheck::WrongPassword => return refused(LoginOutcome::WrongPassword),
        PasswordCheck::UnknownUser => return refused(LoginOutcome::UnknownUser),
    };
    attempt.succeeded(state).await?;
    let settled = settle_domain_organization(state, txn, &user.user_id, connection_id).await?;
    Ok(finish(state, settled.as_ref().unwrap_or(txn), &user, connection_id).await?)
}

/// A password login that the email's domain put in an organization stays
/// there for a member, or for one its connection makes a member. Someone who
/// merely shares the domain is not refused at the end of a login they could
/// otherwise finish: the organization is dropped and the client's own rules
/// go on (no organization, or the post-login picker, which offers what they
/// may join). Upstream logins keep it: the organization's IdP vouched.
async fn settle_domain_organization(
    state: &AppState,
    txn: &Transaction,
    user_id: &str,
    connection_id: &str,
) -> Result<Option<Transaction>, LoginError> {
    let request = &txn.request;
    let Some(org_id) = request
        .organization_id
        .as_deref()
        .filter(|_| request.organization_by_domain)
    else {
        return Ok(None);
    };
    if state.store.is_member(org_id, user_id).await?
        || assigns_membership(state, org_id, connection_id).await?
    {
        return Ok(None);
    }
    let mut settled = txn.clone();
    settled.request.organization_id = None;
    settled.request.organization_by_domain = false;
    store_request(state, &txn.id, &settled.request).await?;
    Ok(Some(settled))
}

/// A login that succeeded: where to send the browser next, and the session
/// cookie to set when the login started a session.
pub struct Finished {
    pub next: Next,
    pub session_cookie: Option<SessionCookie>,
    /// False while the login goes on (the organization picker).
    pub transaction_ended: bool,
}

/// Where a finished step sends the browser.
pub enum Next {
    /// Back to the client, with the code (or an error).
    Client(ClientResponse),
    /// To another login page (this server's path).
    Page(String),
}

/// Ends a transaction whose user has authenticated through `connection_id`
/// (password, sign-up, or an upstream IdP): applies the organization's
/// membership rules, starts the browser's SSO session (ending the one it
/// had) and issues the authorization code.
pub async fn finish(
    state: &AppState,
    txn: &Transaction,
    user: &User,
    connection_id: &str,
) -> Result<Finished, LoginError> {
    // The organization a client requires is known before any code: asked
    // for before the login, or picked right after it (below).
    txn.require_organization_asked()?;
    require_enabled(state, txn, connection_id).await?;
    if txn.pending_organization_prompt() == Some(OrganizationPrompt::AfterLogin) {
        // Logged in, but the organization is chosen next.
        let page = format!("/u/organization?state={}", txn.id);
        return continue_in_new_session(state, txn, user, connection_id, page).await;
    }
    if consent::needed(state, &txn.client, &txn.request, &user.user_id).await? {
        // Logged in (and admitted), but the code waits for the user's consent.
        admit(state, &txn.request, &user.user_id, connection_id).await?;
        let page = consent_page(&txn.id);
        return continue_in_new_session(state, txn, user, connection_id, page).await;
    }
    if !state.store.delete_login_transaction(&txn.id).await? {
        return Err(LoginError::Expired);
    }
    admit(state, &txn.request, &user.user_id, connection_id).await?;
    let (session, cookie) = replace_session(state, txn, user, connection_id).await?;
    let response = issue_code(state, &txn.request, &session).await?;
    Ok(Finished {
        next: Next::Client(response),
        session_cookie: Some(cookie),
        transaction_ended: true,
    })
}

/// The login goes on to `page` after the user has authenticated: the
/// session starts now, and the transaction remembers it.
async fn continue_in_new_session(
    state: &AppState,
    txn: &Transaction,
    user: &User,
    connection_id: &str,
    page: String,
) -> Result<Finished, LoginError> {
    let (session, cookie) = replace_session(state, txn, user, connection_id).await?;
    state
        .store
        .set_login_transaction_session(&txn.id, &session.id)
        .await?;
    Ok(Finished {
        next: Next::Page(page),
        session_cookie: Some(cookie),
        transaction_ended: false,
    })
}

fn consent_page(transaction_id: &str) -> String {
    format!("/u/consent?state={transaction_id}")
}

/// On to the consent page, the browser's session staying as it is.
fn consent_in_this_session(transaction_id: &str) -> Finished {
    Finished {
        next: Next::Page(consent_page(transaction_id)),
        session_cookie: None,
        transaction_ended: false,
    }
}

/// Starts the session of a login, ending the one the browser had.
async fn replace_session(
    state: &AppState,
    txn: &Transaction,
    user: &User,
    connection_id: &str,
) -> Result<(StoredSession, SessionCookie), LoginError> {
    if let Some(previous) = &txn.previous_session_id {
        // The same user logging in again goes on in the new session: their
        // apps are not told to log out (a logout token racing the new login
        // back to the same app would end it). Another user taking over the
        // browser ends the previous user's session: announced.
        if let Some(previous_user) = state.store.end_session(previous).await? {
            if previous_user != user.user_id {
                super::backchannel::announce(state, previous, &previous_user).await;
            }
        }
    }
    Ok(session::start(state, &user.user_id, connection_id).await?)
}

/// What the `pre_login_prompt` page found the organization by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrganizationFoundBy {
    Name,
    /// The email's verified domain: the login goes on with that email.
    Email,
}

/// `pre_login_prompt`: the organization, by name (or id) or by the verified
/// domain of an email, as the client's `organization_discovery_methods`
/// allow (with both, an answer with `@` is an email).
pub async fn submit_organization_prompt(
    state: &AppState,
    txn: &Transaction,
    answer: &str,
) -> Result<OrganizationFoundBy, LoginError> {
    let by_email = txn
        .client
        .discovers_organizations_by(OrganizationDiscoveryMethod::Email);
    let by_name = txn
        .client
        .discovers_organizations_by(OrganizationDiscoveryMethod::OrganizationName);
    if by_email && (answer.contains('@') || !by_name) {
        submit_organization_email(state, txn, answer).await?;
        return Ok(OrganizationFoundBy::Email);
    }
    submit_organization_name(state, txn, answer).await?;
    Ok(OrganizationFoundBy::Name)
}

/// `pre_login_prompt` by email: the organization whose verified domain
/// covers the email's; the email is the login's, its identifier step next.
async fn submit_organization_email(
    state: &AppState,
    txn: &Transaction,
    raw_email: &str,
) -> Result<(), LoginError> {
    let email = normalize_email(raw_email)
        .map_err(|_| LoginError::Retry("Enter a valid email address.".into()))?;
    let Some(route) = domain_route(state, &email).await? else {
        return Err(LoginError::Retry(
            "No organization uses the domain of that email. Check it with your administrator."
                .into(),
        ));
    };
    set_organization(state, txn, route.organization_id).await?;
    state
        .store
        .set_login_transaction_email(&txn.id, &email)
        .await?;
    Ok(())
}

/// `pre_login_prompt`: the organization, by name (or id), before the login.
async fn submit_organization_name(
    state: &AppState,
    txn: &Transaction,
    name: &str,
) -> Result<(), LoginError> {
    let name = name.trim();
    let organization = match super::find_organization(state, name).await {
        Ok(org) if !name.is_empty() => org,
        Ok(_) | Err(StoreError::NotFound) => {
            return Err(LoginError::Retry(
                "No organization has that name. Check it with your administrator.".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    set_organization(state, txn, organization.id.clone()).await?;
    Ok(())
}

pub(super) async fn set_organization(
    state: &AppState,
    txn: &Transaction,
    organization_id: String,
) -> Result<AuthorizationRequest, LoginError> {
    let mut request = txn.request.clone();
    request.organization_id = Some(organization_id);
    request.organization_by_domain = false;
    store_request(state, &txn.id, &request).await?;
    Ok(request)
}

/// Stores the request of the transaction `transaction_id` (its
/// organization changed).
async fn store_request(
    state: &AppState,
    transaction_id: &str,
    request: &AuthorizationRequest,
) -> Result<(), LoginError> {
    let json = serde_json::to_string(request).map_err(|e| LoginError::Internal(e.to_string()))?;
    state
        .store
        .set_login_transaction_request(transaction_id, &json)
        .await?;
    Ok(())
}

/// Organizations the post-login picker lists on one page.
pub const PICKER_PAGE_SIZE: i64 = 20;

/// `post_login_prompt`: one page of what the logged-in user may pick.
pub struct OrganizationChoices {
    /// The user's organizations that enable the connection they logged in
    /// with, by name, filtered by the search.
    pub members: Vec<Organization>,
    /// Another page follows this one.
    pub more: bool,
    /// The organization the user's verified email domain lets them join.
    pub joinable: Option<Joinable>,
}

/// An organization the user may join by their verified email domain.
pub struct Joinable {
    pub organization: Organization,
    /// The user has asked to join (`admin_approval`) and waits.
    pub requested: bool,
}

/// `post_login_prompt`: the page `page` (from 0) of the organizations the
/// logged-in user may pick — the ones they are a member of that enable the
/// connection they logged in with, whose name or display name contains
/// `search` — and the one their verified email domain lets them join.
/// Nothing at all to pick or join sends `access_denied` back to the client.
pub async fn organizations_to_pick(
    state: &AppState,
    txn: &Transaction,
    search: &str,
    page: i64,
) -> Result<OrganizationChoices, LoginError> {
    let session = authenticated_session(state, txn).await?;
    let mut members = state
        .store
        .list_member_organizations(
            &session.user_id,
            &session.connection_id,
            search.trim(),
            &crate::store::Page {
                offset: page.saturating_mul(PICKER_PAGE_SIZE),
                limit: PICKER_PAGE_SIZE + 1,
                after_id: None,
            },
        )
        .await?;
    let more = members.len() > PICKER_PAGE_SIZE as usize;
    members.truncate(PICKER_PAGE_SIZE as usize);
    let joinable = joinable_organization(state, &session).await?;
    if members.is_empty() && joinable.is_none() && search.trim().is_empty() && page == 0 {
        state.store.delete_login_transaction(&txn.id).await?;
        return Err(error_redirect(
            state,
            &txn.request,
            OAuthErrorCode::AccessDenied,
            "The application requires an organization, and the user is not a member of any that allows this connection",
        ));
    }
    let joinable = match joinable {
        Some(organization) => Some(Joinable {
            requested: organization.domain_membership == DomainMembership::AdminApproval
                && state
                    .store
                    .has_join_request(&organization.id, &session.user_id)
                    .await?,
            organization,
        }),
        None => None,
    };
    Ok(OrganizationChoices {
        members,
        more,
        joinable,
    })
}

async fn authenticated_session(
    state: &AppState,
    txn: &Transaction,
) -> Result<StoredSession, LoginError> {
    let session_id = txn
        .authenticated_session_id
        .as_deref()
        .ok_or(LoginError::Expired)?;
    Ok(state.store.get_session(session_id).await?)
}

/// The organization the session's user may join by their email domain: the
/// one whose verified discovery domain covers it, when its
/// `domain_membership` is not `off`, it enables the session's connection,
/// and the user is not a member yet. Only a verified email counts: anyone
/// can sign up to a database connection with another company's address.
async fn joinable_organization(
    state: &AppState,
    session: &StoredSession,
) -> Result<Option<Organization>, LoginError> {
    let user = state.store.get_user(&session.user_id).await?.user;
    let Some(email) = user.email.as_deref().filter(|_| user.email_verified) else {
        return Ok(None);
    };
    let Some(route) = domain_route(state, email).await? else {
        return Ok(None);
    };
    let organization = match state.store.get_organization(&route.organization_id).await {
        Ok(organization) => organization,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if organization.domain_membership == DomainMembership::Off
        || state
            .store
            .is_member(&organization.id, &user.user_id)
            .await?
    {
        return Ok(None);
    }
    let enabled = state
        .organizations
        .enabled_connections(&state.store, &organization.id)
        .await?
        .iter()
        .any(|view| view.enabled.connection_id == session.connection_id);
    Ok(enabled.then_some(organization))
}

/// `post_login_prompt`: the user picked `organization_id` — one of theirs,
/// or the one their email domain lets them join: at once (`auto`), or with
/// `join` (the confirmation a `suggest` organization asks for).
pub async fn submit_organization_pick(
    state: &AppState,
    txn: &Transaction,
    organization_id: &str,
    join: bool,
) -> Result<Finished, LoginError> {
    let session = authenticated_session(state, txn).await?;
    let member = state
        .store
        .get_member_organization(&session.user_id, &session.connection_id, organization_id)
        .await?;
    if member.is_none() {
        let joinable = joinable_organization(state, &session)
            .await?
            .filter(|o| o.id == organization_id);
        match joinable.map(|o| o.domain_membership) {
            Some(DomainMembership::Auto) => {}
            Some(DomainMembership::Suggest) if join => {}
            Some(DomainMembership::Suggest) => {
                return Err(LoginError::Retry(
                    "Confirm that you want to join this organization.".into(),
                ));
            }
            Some(DomainMembership::AdminApproval) => {
                return Err(LoginError::Retry(
                    "An administrator must approve your request to join this organization.".into(),
                ));
            }
            Some(DomainMembership::Off) | None => {
                return Err(LoginError::Retry(
                    "Pick one of the organizations listed.".into(),
                ));
            }
        }
        // The email-domain guard first: a refused join leaves no membership.
        require_email_domain(
            state,
            organization_id,
            &txn.request.client_id,
            &session.user_id,
            &session.connection_id,
        )
        .await?;
        state
            .store
            .insert_members(organization_id, std::slice::from_ref(&session.user_id))
            .await?;
    }
    let request = set_organization(state, txn, organization_id.to_owned()).await?;
    admit(state, &request, &session.user_id, &session.connection_id).await?;
    if consent::needed(state, &txn.client, &request, &session.user_id).await? {
        return Ok(consent_in_this_session(&txn.id));
    }
    if !state.store.delete_login_transaction(&txn.id).await? {
        return Err(LoginError::Expired);
    }
    Ok(Finished {
        next: Next::Client(issue_code(state, &request, &session).await?),
        session_cookie: None,
        transaction_ended: true,
    })
}

/// `post_login_prompt`: the user asks to join `organization_id`, whose
/// `domain_membership` is `admin_approval` and whose verified domain covers
/// their verified email. The request waits for an admin (Management API).
pub async fn request_to_join(
    state: &AppState,
    txn: &Transaction,
    organization_id: &str,
) -> Result<(), LoginError> {
    let session = authenticated_session(state, txn).await?;
    let joinable = joinable_organization(state, &session)
        .await?
        .filter(|o| o.id == organization_id);
    if joinable.map(|o| o.domain_membership) != Some(DomainMembership::AdminApproval) {
        return Err(LoginError::Retry(
            "Pick one of the organizations listed.".into(),
        ));
    }
    state
        .store
        .insert_join_request(organization_id, &session.user_id)
        .await?;
    Ok(())
}

/// What the browser's SSO session does for an authorization request.
pub enum SessionAnswer {
    /// The response to the client, with its code.
    Client(ClientResponse),
    /// The session's user must consent first: the consent page.
    AskConsent,
    /// The session's connection does not serve this client or
    /// organization: the user must log in.
    NotServed,
}

/// Answers an authorization request from the browser's SSO session without
/// asking for a password: a code, or the consent the client still needs.
pub async fn authorize_with_session(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &StoredSession,
) -> Result<SessionAnswer, LoginError> {
    Ok(match session_fit(state, request, session).await? {
        SessionFit::Issue => SessionAnswer::Client(issue_code(state, request, session).await?),
        SessionFit::AskConsent => SessionAnswer::AskConsent,
        SessionFit::NotServed => SessionAnswer::NotServed,
    })
}

enum SessionFit {
    Issue,
    AskConsent,
    NotServed,
}

/// Whether the session would take its user into an organization they are
/// not a member of through a shared IdP (`organization_from_upstream_tenant`):
/// the session proves the upstream tenant of the login it was made in, not
/// that the tenant is this organization's, so a fresh upstream login (whose
/// tenant is checked) must decide.
async fn entering_by_shared_idp_session(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &StoredSession,
) -> Result<bool, LoginError> {
    let Some(org_id) = &request.organization_id else {
        return Ok(false);
    };
    let shared = state
        .clients
        .client_connections(&state.store, &request.client_id)
        .await?
        .iter()
        .any(|c| c.id == session.connection_id && c.options.organization_from_upstream_tenant());
    Ok(shared && !state.store.is_member(org_id, &session.user_id).await?)
}

/// Whether the session may answer the request: its connection serves the
/// client or organization, its user is admitted, and has consented (with
/// `prompt=none`, a consent still to give is `consent_required`).
async fn session_fit(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &StoredSession,
) -> Result<SessionFit, LoginError> {
    if request.pending_organization_prompt().is_some() {
        return Ok(SessionFit::NotServed);
    }
    let serves = match routing_snapshot(state, request).await {
        Ok(snapshot) => snapshot
            .candidates
            .iter()
            .any(|c| c.connection_id == session.connection_id),
        // An explicit `connection` that is not enabled: the login pages say so.
        Err(LoginError::ToClient(_)) => false,
        Err(e) => return Err(e),
    };
    if !serves {
        return Ok(SessionFit::NotServed);
    }
    if entering_by_shared_idp_session(state, request, session).await? {
        return Ok(SessionFit::NotServed);
    }
    admit(state, request, &session.user_id, &session.connection_id).await?;
    let client = state
        .clients
        .get(&state.store, &request.client_id)
        .await?
        .ok_or(LoginError::Expired)?;
    if !consent::needed(state, &client, request, &session.user_id).await? {
        return Ok(SessionFit::Issue);
    }
    if request.prompt.iter().any(|p| p == "none") {
        return Err(error_redirect(
            state,
            request,
            OAuthErrorCode::ConsentRequired,
            "The user must consent to this application's access",
        ));
    }
    Ok(SessionFit::AskConsent)
}

/// `prompt=select_account`: the user chose to continue as the session's
/// account. The session must still be the browser's and live.
pub async fn continue_with_session(
    state: &AppState,
    txn: &Transaction,
    browser_session: Option<&StoredSession>,
) -> Result<Finished, LoginError> {
    let session = match (browser_session, &txn.previous_session_id) {
        (Some(session), Some(offered)) if &session.id == offered => session,
        _ => {
            return Err(LoginError::Retry(
                "That session has ended; log in again.".into(),
            ));
        }
    };
    let fit = session_fit(state, &txn.request, session).await?;
    if let SessionFit::AskConsent = fit {
        state
            .store
            .set_login_transaction_session(&txn.id, &session.id)
            .await?;
        return Ok(consent_in_this_session(&txn.id));
    }
    if !state.store.delete_login_transaction(&txn.id).await? {
        return Err(LoginError::Expired);
    }
    match fit {
        SessionFit::Issue => Ok(Finished {
            next: Next::Client(issue_code(state, &txn.request, session).await?),
            session_cookie: None,
            transaction_ended: true,
        }),
        SessionFit::AskConsent | SessionFit::NotServed => Err(error_redirect(
            state,
            &txn.request,
            OAuthErrorCode::LoginRequired,
            "The session's connection is not enabled for this application or organization",
        )),
    }
}

/// The consent page's answer, for the user the login authenticated: Accept
/// widens their grant to the client and issues the code; Deny sends
/// `access_denied` back. Either ends the transaction.
pub async fn submit_consent(
    state: &AppState,
    txn: &Transaction,
    accepted: bool,
) -> Result<Finished, LoginError> {
    let session = consenting_session(state, txn).await?;
    if !state.store.delete_login_transaction(&txn.id).await? {
        return Err(LoginError::Expired);
    }
    let response = if accepted {
        // Admitted before the page was shown; checked again, as every code is.
        admit(
            state,
            &txn.request,
            &session.user_id,
            &session.connection_id,
        )
        .await?;
        consent::remember(state, &txn.request, &session.user_id).await?;
        issue_code(state, &txn.request, &session).await?
    } else {
        txn.request.error_response(
            state.issuer.identifier(),
            &OAuthError::new(
                OAuthErrorCode::AccessDenied,
                "The user did not authorize the request",
            ),
        )
    };
    Ok(Finished {
        next: Next::Client(response),
        session_cookie: None,
        transaction_ended: true,
    })
}

/// The session of a login that waits for consent: its user has logged in
/// (and picked the organization, when the client asks for one).
pub async fn consenting_session(
    state: &AppState,
    txn: &Transaction,
) -> Result<StoredSession, LoginError> {
    let session_id = txn
        .authenticated_session_id
        .as_deref()
        .ok_or_else(|| LoginError::Retry("Log in first.".into()))?;
    if txn.pending_organization_prompt().is_some() {
        return Err(LoginError::Retry("Choose an organization first.".into()));
    }
    Ok(state.store.get_session(session_id).await?)
}

/// The organization's membership rules for a user who authenticated through
/// `connection_id`: members pass; others become members only through a
/// connection that assigns membership on login.
async fn admit(
    state: &AppState,
    request: &AuthorizationRequest,
    user_id: &str,
    connection_id: &str,
) -> Result<(), LoginError> {
    let Some(org_id) = &request.organization_id else {
        return Ok(());
    };
    require_email_domain(state, org_id, &request.client_id, user_id, connection_id).await?;
    if state.store.is_member(org_id, user_id).await? {
        return Ok(());
    }
    if !assigns_membership(state, org_id, connection_id).await? {
        return Err(error_redirect(
            state,
            request,
            OAuthErrorCode::AccessDenied,
            "The user is not a member of the organization, and its connection does not assign membership on login",
        ));
    }
    state
        .store
        .insert_members(org_id, &[user_id.to_owned()])
        .await?;
    Ok(())
}

/// The email-domain guard for `user_id` entering `org_id` through
/// `connection_id`: its refusal is the page's message.
async fn require_email_domain(
    state: &AppState,
    org_id: &str,
    client_id: &str,
    user_id: &str,
    connection_id: &str,
) -> Result<(), LoginError> {
    match super::domain_guard::refusal_of_user(state, org_id, client_id, user_id, connection_id)
        .await?
    {
        Some(refusal) => Err(LoginError::Retry(refusal)),
        None => Ok(()),
    }
}

/// Whether `connection_id`, enabled on `org_id`, makes the people who log
/// in through it members (`assign_membership_on_login`).
async fn assigns_membership(
    state: &AppState,
    org_id: &str,
    connection_id: &str,
) -> Result<bool, LoginError> {
    Ok(state
        .organizations
        .enabled_connections(&state.store, org_id)
        .await?
        .iter()
        .any(|view| {
            view.enabled.connection_id == connection_id && view.enabled.assign_membership_on_login
        }))
}

/// Issues the authorization code for a request answered in `session`, and
/// records the organization and the client (for back-channel logout) the
/// session was used for.
async fn issue_code(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &StoredSession,
) -> Result<ClientResponse, LoginError> {
    // First: a session that a logout ended meanwhile issues nothing.
    if let Some(client) = state.clients.get(&state.store, &request.client_id).await? {
        if !super::backchannel::remember_client(state, &session.id, &client).await? {
            return Err(LoginError::Expired);
        }
    }
    let grant = CodeGrant {
        user_id: session.user_id.clone(),
        organization_id: request.organization_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        audience: request.audience.clone(),
        auth_time: session.auth_time,
        session_id: Some(session.id.clone()),
    };
    let code = ids::random_alphanumeric(43);
    let grant_json =
        serde_json::to_string(&grant).map_err(|e| LoginError::Internal(e.to_string()))?;
    state
        .store
        .insert_authorization_code(
            &sha256_hex(&code),
            &request.client_id,
            &grant_json,
            state.clock.now_unix_millis() + CODE_LIFETIME_MS,
        )
        .await?;
    // The idle timeout is minutes to days: one write a minute is precise
    // enough, and spares a write on every silent login.
    let now = state.clock.now_unix_millis();
    if now - session.last_used_at > session::SESSION_TOUCH_INTERVAL_MS {
        state.store.touch_session(&session.id, now).await?;
    }
    if let Some(org_id) = &request.organization_id {
        state
            .store
            .add_session_organization(&session.id, org_id)
            .await?;
    }
    Ok(request.code_response(state.issuer.identifier(), &code))
}
