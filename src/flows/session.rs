//! The SSO session: one per browser, behind the `sy_session` cookie (the
//! store keeps only its SHA-256). A login starts one; later authorization
//! requests use it without asking for a password again, unless the request
//! says otherwise (`prompt=login`, `max_age`) or the session cannot serve it.

use super::request::{AuthorizationRequest, OrganizationPrompt};
use super::sha256_hex;
use crate::model::ids;
use crate::model::secret::Secret;
use crate::state::AppState;
use crate::store::{StoreError, StoredSession};

pub const SESSION_COOKIE: &str = "sy_session";
/// A session ends a week after the login at the latest…
pub const SESSION_ABSOLUTE_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;
/// …and after three days without use (Auth0's defaults are of this order).
pub const SESSION_IDLE_LIFETIME_MS: i64 = 3 * 24 * 3600 * 1000;
/// A session's last use is recorded at most this often.
pub const SESSION_TOUCH_INTERVAL_MS: i64 = 60 * 1000;

/// The browser's live session, if its cookie names one.
pub async fn current(
    state: &AppState,
    cookie: Option<&str>,
) -> Result<Option<StoredSession>, StoreError> {
    let Some(secret) = cookie.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let now = state.clock.now_unix_millis();
    match state
        .store
        .get_live_session(&sha256_hex(secret), now, now - SESSION_IDLE_LIFETIME_MS)
        .await
    {
        Ok(session) => Ok(Some(session)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A new session's cookie value, and how long the browser should keep it.
#[derive(Debug, Clone)]
pub struct SessionCookie {
    pub secret: Secret,
    pub max_age_secs: i64,
}

/// Starts a session for a user who has just authenticated.
pub async fn start(
    state: &AppState,
    user_id: &str,
    connection_id: &str,
) -> Result<(StoredSession, SessionCookie), StoreError> {
    let now = state.clock.now_unix_millis();
    let secret = ids::random_alphanumeric(43);
    let session = StoredSession {
        id: ids::random_alphanumeric(32),
        user_id: user_id.to_owned(),
        connection_id: connection_id.to_owned(),
        auth_time: state.clock.now_unix_seconds(),
        created_at: now,
        last_used_at: now,
        expires_at: now + SESSION_ABSOLUTE_LIFETIME_MS,
    };
    state
        .store
        .insert_session(&session, &sha256_hex(&secret))
        .await?;
    Ok((
        session,
        SessionCookie {
            secret: secret.into(),
            max_age_secs: SESSION_ABSOLUTE_LIFETIME_MS / 1000,
        },
    ))
}

/// What an authorization request does with the browser's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionUse {
    /// Log in without asking: the session satisfies the request.
    Silent,
    /// Show the login pages (offering the session's account when `prompt`
    /// has `select_account`).
    Interactive,
    /// `prompt=none` and the user would have to interact.
    LoginRequired,
    /// The session's user picks the organization the client requires
    /// (`post_login_prompt`), without logging in again.
    PickOrganization,
}

/// Decides, from the request alone, whether a session may answer it (OIDC
/// Core §3.1.2.1: `prompt`, `max_age`). Whether the session's connection
/// serves the client or organization is checked afterwards, against the store.
#[must_use]
pub fn decide(
    request: &AuthorizationRequest,
    session: Option<&StoredSession>,
    now_secs: i64,
) -> SessionUse {
    let has = |value: &str| request.prompt.iter().any(|p| p == value);
    let interaction = if has("none") {
        SessionUse::LoginRequired
    } else {
        SessionUse::Interactive
    };
    let Some(session) = session else {
        return interaction;
    };
    if has("login") || has("select_account") {
        return interaction;
    }
    if let Some(hinted) = &request.hinted_subject {
        if hinted != &session.user_id {
            return interaction;
        }
    }
    if let Some(max_age) = request.max_age {
        if now_secs - session.auth_time > max_age {
            return interaction;
        }
    }
    // The organization a client requires is asked for on the login pages:
    // its name before a login, or a pick that the session's user can make.
    match request.pending_organization_prompt() {
        Some(OrganizationPrompt::AfterLogin) if !has("none") => SessionUse::PickOrganization,
        Some(_) => interaction,
        None => SessionUse::Silent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(prompt: &[&str], max_age: Option<i64>) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "c".into(),
            redirect_uri: "https://app.example/cb".into(),
            scope: vec!["openid".into()],
            state: None,
            nonce: None,
            code_challenge: None,
            organization_id: None,
            connection: None,
            login_hint: None,
            screen_hint: None,
            prompt: prompt.iter().map(|p| (*p).to_owned()).collect(),
            max_age,
            audience: None,
            invitation: None,
            organization_prompt: None,
            hinted_subject: None,
            response_mode: Default::default(),
            organization_by_domain: false,
        }
    }

    fn session(auth_time: i64) -> StoredSession {
        StoredSession {
            id: "s".into(),
            user_id: "u".into(),
            connection_id: "con".into(),
            auth_time,
            created_at: 0,
            last_used_at: 0,
            expires_at: 0,
        }
    }

    #[test]
    fn a_session_answers_a_plain_request_silently() {
        assert_eq!(
            decide(&request(&[], None), Some(&session(1000)), 1100),
            SessionUse::Silent
        );
        assert_eq!(
            decide(&request(&["none"], None), Some(&session(1000)), 1100),
            SessionUse::Silent
        );
    }

    #[test]
    fn without_a_session_prompt_none_is_login_required() {
        assert_eq!(
            decide(&request(&["none"], None), None, 0),
            SessionUse::LoginRequired
        );
        assert_eq!(
            decide(&request(&[], None), None, 0),
            SessionUse::Interactive
        );
    }

    #[test]
    fn prompt_login_and_select_account_always_interact() {
        let s = session(1000);
        assert_eq!(
            decide(&request(&["login"], None), Some(&s), 1001),
            SessionUse::Interactive
        );
        assert_eq!(
            decide(&request(&["select_account"], None), Some(&s), 1001),
            SessionUse::Interactive
        );
    }

    #[test]
    fn an_organization_still_to_ask_for_needs_the_pages() {
        let mut asking = request(&[], None);
        asking.organization_prompt = Some(OrganizationPrompt::AfterLogin);
        assert_eq!(
            decide(&asking, Some(&session(1000)), 1001),
            SessionUse::PickOrganization
        );
        asking.organization_prompt = Some(OrganizationPrompt::BeforeLogin);
        assert_eq!(
            decide(&asking, Some(&session(1000)), 1001),
            SessionUse::Interactive
        );
        asking.prompt = vec!["none".into()];
        assert_eq!(
            decide(&asking, Some(&session(1000)), 1001),
            SessionUse::LoginRequired
        );
    }

    #[test]
    fn a_session_of_another_user_than_the_hint_does_not_answer() {
        let mut hinted = request(&["none"], None);
        hinted.hinted_subject = Some("someone-else".into());
        assert_eq!(
            decide(&hinted, Some(&session(1000)), 1001),
            SessionUse::LoginRequired
        );
        hinted.hinted_subject = Some("u".into());
        assert_eq!(
            decide(&hinted, Some(&session(1000)), 1001),
            SessionUse::Silent
        );
    }

    #[test]
    fn max_age_older_than_the_authentication_forces_a_login() {
        let s = session(1000);
        assert_eq!(
            decide(&request(&[], Some(100)), Some(&s), 1100),
            SessionUse::Silent
        );
        assert_eq!(
            decide(&request(&[], Some(100)), Some(&s), 1101),
            SessionUse::Interactive
        );
        assert_eq!(
            decide(&request(&["none"], Some(0)), Some(&s), 1001),
            SessionUse::LoginRequired
        );
    }
}
