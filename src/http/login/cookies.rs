//! The two cookies of a browser login, built and read through axum-extra's
//! cookie jar: the transaction's (one per login, so logins in two tabs do not
//! collide; it binds the transaction to the browser that started it) and the
//! SSO session's. Both are `HttpOnly` and `SameSite=Lax`; whenever the
//! issuer is https they are `Secure` and `__Host-` prefixed.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::flows::login::{self, LoginError, Transaction};
use crate::flows::session::{self, SESSION_COOKIE};
use crate::state::AppState;
use crate::store::StoredSession;

/// Browsers accept a cookie so named only if it is `Secure`, for `/`, and
/// has no `Domain` (RFC 6265bis §4.1.3.2).
const HOST_PREFIX: &str = "__Host-";

const TRANSACTION_COOKIE_PREFIX: &str = "sy_login_";

/// How long a browser keeps a login transaction's cookie.
const TRANSACTION_MAX_AGE_SECS: i64 = 1800;

/// How the server's cookies are named and flagged: it depends only on whether
/// the issuer is https (not in the explicit `--insecure-http` development
/// mode, where browsers would drop `Secure` cookies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::http) struct Cookies {
    https: bool,
}

impl Cookies {
    pub(in crate::http) fn of(state: &AppState) -> Self {
        Cookies {
            https: state.issuer.identifier().starts_with("https:"),
        }
    }

    /// Each transaction has its own cookie, so logins in two tabs do not
    /// collide. Over https it is `__Host-` prefixed like the session's (and
    /// so for `/`, as the prefix demands): a sibling subdomain cannot plant
    /// or shadow it to tie a victim's browser to the attacker's login.
    fn transaction_name(self, transaction_id: &str) -> String {
        let host_prefix = if self.https { HOST_PREFIX } else { "" };
        format!(
            "{host_prefix}{TRANSACTION_COOKIE_PREFIX}{}",
            transaction_id.get(..12).unwrap_or(transaction_id)
        )
    }

    /// Over plain http (development) the cookie goes to the login pages only.
    fn transaction_path(self) -> &'static str {
        if self.https { "/" } else { "/u/" }
    }

    /// The cookie that gives the browser a new transaction's secret.
    pub(in crate::http) fn transaction(
        self,
        transaction_id: &str,
        secret: &str,
    ) -> Cookie<'static> {
        self.build(
            self.transaction_name(transaction_id),
            secret.to_owned(),
            self.transaction_path(),
            TRANSACTION_MAX_AGE_SECS,
        )
    }

    /// The cookie that clears an ended transaction's.
    pub(in crate::http) fn transaction_cleared(self, transaction_id: &str) -> Cookie<'static> {
        self.build(
            self.transaction_name(transaction_id),
            String::new(),
            self.transaction_path(),
            0,
        )
    }

    /// The SSO session's cookie. Over https it is `__Host-` prefixed: browsers
    /// then only accept it set `Secure`, for `/`, without a `Domain`, so a
    /// sibling subdomain cannot plant a session of its own (login CSRF).
    fn session_name(self) -> &'static str {
        if self.https {
            "__Host-sy_session"
        } else {
            SESSION_COOKIE
        }
    }

    /// The session cookie (`max_age_secs` 0 clears it).
    pub(in crate::http) fn session(self, secret: &str, max_age_secs: i64) -> Cookie<'static> {
        self.build(self.session_name(), secret.to_owned(), "/", max_age_secs)
    }

    fn build(
        self,
        name: impl Into<String>,
        value: String,
        path: &'static str,
        max_age_secs: i64,
    ) -> Cookie<'static> {
        let mut cookie = Cookie::build((name.into(), value))
            .path(path)
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::seconds(max_age_secs));
        if self.https {
            cookie = cookie.secure(true);
        }
        cookie.build()
    }
}

/// The browser's live SSO session, from its cookie.
pub(in crate::http) async fn browser_session(
    state: &AppState,
    jar: &CookieJar,
) -> Result<Option<StoredSession>, crate::store::StoreError> {
    session::current(state, session_secret(state, jar)).await
}

/// The secret the browser's session cookie holds (the logout confirmation's
/// CSRF token is bound to it).
pub(in crate::http) fn session_secret<'a>(state: &AppState, jar: &'a CookieJar) -> Option<&'a str> {
    jar.get(Cookies::of(state).session_name())
        .map(Cookie::value)
}

/// The transaction a page is for, if this browser holds its cookie.
pub(in crate::http) async fn load_transaction(
    state: &AppState,
    jar: &CookieJar,
    transaction_id: &str,
) -> Result<Transaction, LoginError> {
    let name = Cookies::of(state).transaction_name(transaction_id);
    login::load(state, transaction_id, jar.get(&name).map(Cookie::value)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTPS: Cookies = Cookies { https: true };
    const HTTP: Cookies = Cookies { https: false };
    const TRANSACTION_ID: &str = "abcdefghijklmnopqrstuvwxyz";

    #[test]
    fn over_https_the_transaction_cookie_is_host_prefixed_secure_and_for_the_whole_host() {
        assert_eq!(
            HTTPS.transaction(TRANSACTION_ID, "s3cret").to_string(),
            "__Host-sy_login_abcdefghijkl=s3cret; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=1800"
        );
        assert_eq!(
            HTTPS.transaction_cleared(TRANSACTION_ID).to_string(),
            "__Host-sy_login_abcdefghijkl=; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=0"
        );
    }

    #[test]
    fn over_plain_http_the_transaction_cookie_has_no_prefix_and_stays_under_u() {
        assert_eq!(
            HTTP.transaction(TRANSACTION_ID, "s3cret").to_string(),
            "sy_login_abcdefghijkl=s3cret; HttpOnly; SameSite=Lax; Path=/u/; Max-Age=1800"
        );
        assert_eq!(
            HTTP.transaction_cleared(TRANSACTION_ID).to_string(),
            "sy_login_abcdefghijkl=; HttpOnly; SameSite=Lax; Path=/u/; Max-Age=0"
        );
    }

    #[test]
    fn the_session_cookie_is_host_prefixed_over_https_only() {
        assert_eq!(
            HTTPS.session("s3cret", 600).to_string(),
            "__Host-sy_session=s3cret; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=600"
        );
        assert_eq!(
            HTTP.session("", 0).to_string(),
            "sy_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"
        );
    }
}
