//! The two cookies of a browser login, built and read through axum-extra's
//! cookie jar: the transaction's (one per login, so logins in two tabs do not
//! collide; it binds the transaction to the browser that started it) and the
//! SSO session's. Both are `HttpOnly` and `SameSite=Lax`, and `Secure`
//! whenever the issuer is https.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::flows::login::{self, LoginError, Transaction};
use crate::flows::session::{self, SESSION_COOKIE};
use crate::state::AppState;
use crate::store::StoredSession;

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

    /// Each transaction has its own cookie, so logins in two tabs do not collide.
    fn transaction_name(self, transaction_id: &str) -> String {
        format!(
            "{TRANSACTION_COOKIE_PREFIX}{}",
            transaction_id.get(..12).unwrap_or(transaction_id)
        )
    }

    fn transaction_path(self) -> &'static str {
        "/u/"
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
    let name = Cookies::of(state).session_name();
    session::current(state, jar.get(name).map(Cookie::value)).await
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
