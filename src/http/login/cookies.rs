//! The two cookies of a browser login: the transaction's (one per login,
//! so logins in two tabs do not collide; it binds the transaction to the
//! browser that started it) and the SSO session's.

use axum::http::{HeaderMap, header};

use crate::flows::session::{self, SESSION_COOKIE};
use crate::state::AppState;
use crate::store::StoredSession;

const COOKIE_PREFIX: &str = "sy_login_";

/// Each transaction has its own cookie, so logins in two tabs do not collide.
pub(super) fn cookie_name(transaction_id: &str) -> String {
    format!(
        "{COOKIE_PREFIX}{}",
        transaction_id.get(..12).unwrap_or(transaction_id)
    )
}

/// The `Set-Cookie` value that gives the browser a new transaction's cookie.
pub(super) fn transaction_cookie(state: &AppState, transaction_id: &str, secret: &str) -> String {
    format!(
        "{}={secret}; Path=/u/; HttpOnly; SameSite=Lax; Max-Age=1800{}",
        cookie_name(transaction_id),
        secure_attribute(state),
    )
}

/// The `Set-Cookie` value that clears an ended transaction's cookie.
pub(super) fn transaction_cookie_cleared(transaction_id: &str) -> String {
    format!(
        "{}=; Path=/u/; HttpOnly; SameSite=Lax; Max-Age=0",
        cookie_name(transaction_id)
    )
}

pub(super) fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The SSO session's cookie. Over https it is `__Host-` prefixed: browsers
/// then only accept it set `Secure`, for `/`, without a `Domain`, so a
/// sibling subdomain cannot plant a session of its own (login CSRF).
fn session_cookie_name(state: &AppState) -> &'static str {
    if state.issuer.identifier().starts_with("https:") {
        "__Host-sy_session"
    } else {
        SESSION_COOKIE
    }
}

/// The `Set-Cookie` value for the session cookie (`max_age_secs` 0 clears it).
pub(in crate::http) fn session_cookie(state: &AppState, secret: &str, max_age_secs: i64) -> String {
    format!(
        "{}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        session_cookie_name(state),
        secure_attribute(state)
    )
}

/// The browser's live SSO session, from its cookie.
pub(in crate::http) async fn browser_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<StoredSession>, crate::store::StoreError> {
    session::current(state, read_cookie(headers, session_cookie_name(state))).await
}

/// Cookies are `Secure` whenever the issuer is https (not in the explicit
/// `--insecure-http` development mode, where browsers would drop them).
fn secure_attribute(state: &AppState) -> &'static str {
    if state.issuer.identifier().starts_with("https:") {
        "; Secure"
    } else {
        ""
    }
}
