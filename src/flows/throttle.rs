//! Brute-force protection for password logins (Auth0 calls it that too):
//!
//! - per account (database connection + normalized email): after
//!   [`ACCOUNT_FAILURE_LIMIT`] consecutive failures the account takes no
//!   password for [`ACCOUNT_LOCKOUT_MS`]. The key is the email whether or not
//!   a user has it, so a lockout says nothing about who exists;
//! - per client IP address: more than [`IP_FAILURE_LIMIT`] failures within
//!   [`IP_WINDOW_MS`] and that address is refused until the window ends.
//!
//! An attempt is counted *before* its password is checked and taken back when
//! it succeeds. Counting first is what makes a limit exact under a burst of
//! parallel guesses (each gets its own number from one upsert, see
//! [`Store::count_login_attempt`](crate::store::Store::count_login_attempt)),
//! and a refused attempt never reaches argon2. Attempts refused by an
//! account's lockout still count against their IP address: they are failed
//! attempts too, and an address that keeps hammering locked accounts is what
//! the per-IP limit is for. The counters live in the store, so every node
//! sees the same counts.

use std::net::IpAddr;

use super::sha256_hex;
use crate::state::AppState;
use crate::store::{StoreError, ThrottleWindow};

/// Why an attempt may not go on.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// Over a limit; a new attempt is sure to be counted afresh after this
    /// many seconds (the `Retry-After` the user is given).
    #[error("too many attempts; retry after {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Ten guesses: enough for a person who mistypes or tries a few old
/// passwords, useless for guessing (Auth0's default threshold is also 10).
pub const ACCOUNT_FAILURE_LIMIT: i64 = 10;
/// Fifteen minutes caps online guessing at 40 an hour per account, while a
/// locked-out person waits no longer than a coffee (OWASP suggests minutes,
/// not a permanent lock that anyone could trigger on a victim).
pub const ACCOUNT_LOCKOUT_MS: i64 = 15 * 60 * 1000;
/// A hundred failures an hour from one address is far above what the people
/// behind one office NAT produce, and far below what a guessing script needs
/// (Auth0's suspicious-IP threshold is also 100 failures).
pub const IP_FAILURE_LIMIT: i64 = 100;
pub const IP_WINDOW_MS: i64 = 60 * 60 * 1000;

/// Login transactions started per address in a fixed window: each stores a
/// request server-side, so a client looping over `/authorize` would fill
/// the database. Thirty a minute on average is far above what the people
/// behind one address start, and bursts are fine.
pub const LOGIN_START_LIMIT: i64 = 300;
pub const LOGIN_START_WINDOW_MS: i64 = 10 * 60 * 1000;

/// One counter's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_failures: i64,
    pub window_ms: i64,
    pub window: ThrottleWindow,
}

/// Consecutive failures per account; the lockout holds from the failure
/// that reached the limit.
pub const ACCOUNT: Limit = Limit {
    max_failures: ACCOUNT_FAILURE_LIMIT,
    window_ms: ACCOUNT_LOCKOUT_MS,
    window: ThrottleWindow::UntilLimit(ACCOUNT_FAILURE_LIMIT),
};

/// Login transactions started per address.
pub const LOGIN_STARTS: Limit = Limit {
    max_failures: LOGIN_START_LIMIT,
    window_ms: LOGIN_START_WINDOW_MS,
    window: ThrottleWindow::Fixed,
};

/// Failures per address in a fixed hour.
pub const IP: Limit = Limit {
    max_failures: IP_FAILURE_LIMIT,
    window_ms: IP_WINDOW_MS,
    window: ThrottleWindow::Fixed,
};

impl Limit {
    /// Whether the attempt that got number `counted` may go on.
    #[must_use]
    pub fn allows(&self, counted: i64) -> bool {
        counted <= self.max_failures
    }

    /// The refusal this limit gives: by then the window it counts in has
    /// ended (at the latest), so the attempt is counted afresh.
    fn refusal(&self) -> ThrottleError {
        ThrottleError::TooManyAttempts {
            retry_after_secs: self.window_ms / 1000,
        }
    }
}

/// The counter key of an account: its connection and normalized email.
#[must_use]
pub fn account_key(connection_id: &str, email: &str) -> String {
    sha256_hex(&format!("account\n{connection_id}\n{email}"))
}

/// The failure counter key of a client address.
#[must_use]
pub fn ip_key(ip: IpAddr) -> String {
    sha256_hex(&format!("ip\n{}", address_bucket(ip)))
}

/// The key counting the login transactions an address starts.
#[must_use]
pub fn login_start_key(ip: IpAddr) -> String {
    sha256_hex(&format!("login-start\n{}", address_bucket(ip)))
}

/// What counts as one address. IPv6 addresses count per /64: one host is
/// routinely given a whole /64, so a per-address key would give an
/// attacker 2^64 fresh counters.
fn address_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

/// An attempt that has been counted and allowed to go on. Call
/// [`Attempt::succeeded`] when it turns out not to be a failure; dropped
/// otherwise, it stays counted.
#[must_use]
pub struct Attempt {
    account_key: String,
    ip_key: String,
}

/// Counts an attempt against `limit`; refuses it when over the limit.
async fn count(state: &AppState, key: &str, limit: Limit) -> Result<(), ThrottleError> {
    let counted = state
        .store
        .count_login_attempt(
            key,
            state.clock.now_unix_millis(),
            limit.window_ms,
            limit.window,
        )
        .await?;
    if limit.allows(counted) {
        Ok(())
    } else {
        Err(limit.refusal())
    }
}

/// Counts a password attempt for the account (`connection_id`, normalized
/// `email`) from `ip`; refuses it, before any password is checked, when the
/// address or the account is over its limit.
pub async fn begin_password_attempt(
    state: &AppState,
    connection_id: &str,
    email: &str,
    ip: IpAddr,
) -> Result<Attempt, ThrottleError> {
    let ip_key = ip_key(ip);
    count(state, &ip_key, IP).await?;
    let account_key = account_key(connection_id, email);
    count(state, &account_key, ACCOUNT).await?;
    Ok(Attempt {
        account_key,
        ip_key,
    })
}

/// Counts a sign-up from `ip` against the address's limit, whatever its
/// outcome: each costs a password hash and may create an account, so a
/// successful one is no reason to give the address its attempt back (90
/// parallel sign-ups from one address must not all get through).
pub async fn count_signup(state: &AppState, ip: IpAddr) -> Result<(), ThrottleError> {
    count(state, &ip_key(ip), IP).await
}

/// Counts a login transaction started from `ip`; refuses it over
/// [`LOGIN_STARTS`].
pub async fn count_login_start(state: &AppState, ip: IpAddr) -> Result<(), ThrottleError> {
    count(state, &login_start_key(ip), LOGIN_STARTS).await
}

impl Attempt {
    /// The attempt succeeded: the account's consecutive failures start over,
    /// and the address gets its attempt back (but not its earlier failures:
    /// one good password must not launder a hundred guesses).
    pub async fn succeeded(self, state: &AppState) -> Result<(), ThrottleError> {
        state.store.reset_login_attempts(&self.account_key).await?;
        state.store.uncount_login_attempt(&self.ip_key).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_allow_up_to_their_maximum() {
        assert!(ACCOUNT.allows(10));
        assert!(!ACCOUNT.allows(11));
        assert!(IP.allows(100));
        assert!(!IP.allows(101));
        assert_eq!(ACCOUNT.window, ThrottleWindow::UntilLimit(10));
    }

    #[test]
    fn keys_separate_accounts_and_group_ipv6_by_prefix() -> Result<(), std::net::AddrParseError> {
        assert_ne!(
            account_key("con_a", "x@acme.test"),
            account_key("con_b", "x@acme.test")
        );
        assert_ne!(
            account_key("con_a", "x@acme.test"),
            account_key("con_a", "y@acme.test")
        );
        let ip = |s: &str| s.parse::<IpAddr>();
        assert_eq!(
            ip_key(ip("2001:db8:1:2::1")?),
            ip_key(ip("2001:db8:1:2:ffff::9")?)
        );
        assert_ne!(
            ip_key(ip("2001:db8:1:2::1")?),
            ip_key(ip("2001:db8:1:3::1")?)
        );
        assert_eq!(ip_key(ip("::ffff:192.0.2.7")?), ip_key(ip("192.0.2.7")?));
        assert_ne!(ip_key(ip("192.0.2.7")?), ip_key(ip("192.0.2.8")?));
        assert_ne!(ip_key(ip("192.0.2.7")?), login_start_key(ip("192.0.2.7")?));
        Ok(())
    }
}
