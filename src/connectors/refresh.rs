//! A document of an upstream (OIDC metadata and keys, SAML metadata) kept
//! fresh: fetched once for all the logins waiting for it (one fetch in
//! flight, bounded by a timeout, its failure not kept), and again once
//! older than [`Freshness::max_age_ms`], in the background: meanwhile, and
//! while the upstream cannot be reached, the last good copy is used — for
//! [`Freshness::max_stale_ms`] at most, when that is set.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use super::UpstreamError;
use crate::clock::Clock;
use crate::outbound::REQUEST_TIMEOUT;

/// A copy that knows when it was fetched (ms since the epoch).
pub trait Fetched: Send + Sync + 'static {
    fn fetched_at(&self) -> i64;
}

/// How long a copy is used.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    /// Older than this, it is fetched again on next use; the login that
    /// notices goes on with the last good copy meanwhile.
    pub max_age_ms: i64,
    /// Older than this, it is no longer used at all (logins wait for a
    /// fetch that works); `None`: kept until a fetch brings a better one.
    pub max_stale_ms: Option<i64>,
    /// After a refresh failed, the next is not tried sooner than this.
    pub retry_ms: i64,
}

/// The fetch of a fresh copy.
pub type FetchFuture<T> = Pin<Box<dyn Future<Output = Result<T, UpstreamError>> + Send>>;

/// What a fetch ends with (`None` until it ends).
type Flight<T> = watch::Receiver<Option<Result<Arc<T>, UpstreamError>>>;

struct Kept<T> {
    /// The last good copy.
    current: Option<Arc<T>>,
    /// The fetch under way, which every login needing it waits for.
    flight: Option<Flight<T>>,
    /// When a refresh of `current` last failed.
    failed_at: Option<i64>,
}

pub struct KeptFresh<T> {
    /// Shared with the task of a fetch under way, which stores what it got.
    kept: Arc<Mutex<Kept<T>>>,
    freshness: Freshness,
    clock: Clock,
    /// How long a fetch may take in all.
    pub fetch_timeout: Duration,
    /// For the log: the upstream (a connection's id, a URL), and what is
    /// fetched.
    label: String,
    what: &'static str,
}

/// The lock is never held across an await, and what it guards stays
/// consistent if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unreachable(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unreachable(e.to_string())
}

impl<T: Fetched> KeptFresh<T> {
    /// Nothing fetched yet; `what` names the document in the log ("the
    /// upstream's metadata and keys").
    pub fn new(label: &str, what: &'static str, freshness: Freshness, clock: Clock) -> Self {
        KeptFresh {
            kept: Arc::new(Mutex::new(Kept {
                current: None,
                flight: None,
                failed_at: None,
            })),
            freshness,
            clock,
            fetch_timeout: REQUEST_TIMEOUT,
            label: label.to_owned(),
            what,
        }
    }

    /// The copy to use now: the last good one, fetched with `fetch` on
    /// first use and when older than `max_age_ms` (in the background: the
    /// login that notices uses the last good one). Logins that have none
    /// wait for the one fetch under way; its failure is theirs only.
    pub async fn get(
        &self,
        fetch: impl FnOnce() -> FetchFuture<T>,
    ) -> Result<Arc<T>, UpstreamError> {
        let now = self.clock.now_unix_millis();
        let mut flight = {
            let mut kept = lock(&self.kept);
            let age = kept.current.as_ref().map(|c| now - c.fetched_at());
            match (kept.current.clone(), age) {
                (Some(current), Some(age)) if age < self.freshness.max_age_ms => {
                    return Ok(current);
                }
                (Some(stale), Some(age))
                    if self.freshness.max_stale_ms.is_none_or(|max| age < max) =>
                {
                    let retry = kept
                        .failed_at
                        .is_none_or(|at| now - at >= self.freshness.retry_ms);
                    if kept.flight.is_none() && retry {
                        kept.flight = Some(self.start(fetch()));
                    }
                    return Ok(stale);
                }
                // None yet, or too old to trust: the login waits for a fetch.
                _ => match &kept.flight {
                    Some(flight) => flight.clone(),
                    None => {
                        let flight = self.start(fetch());
                        kept.flight = Some(flight.clone());
                        flight
                    }
                },
            }
        };
        let what = self.what;
        let ended = flight
            .wait_for(Option::is_some)
            .await
            .map_err(|_| unreachable(format!("the fetch of {what} was abandoned")))?;
        ended
            .clone()
            .unwrap_or_else(|| Err(unreachable(format!("the fetch of {what} ended"))))
    }

    /// Runs `fetch` in a task of its own (a login that gives up does not
    /// cancel it for the others), within `fetch_timeout`, and keeps what it
    /// got as the last good copy, or when it failed.
    fn start(&self, fetch: FetchFuture<T>) -> Flight<T> {
        let (done, flight) = watch::channel(None);
        let (kept, clock, timeout) = (
            Arc::clone(&self.kept),
            self.clock.clone(),
            self.fetch_timeout,
        );
        let (label, what) = (self.label.clone(), self.what);
        tokio::spawn(async move {
            let fetched = tokio::time::timeout(timeout, fetch)
                .await
                .unwrap_or_else(|_| {
                    Err(unreachable(format!(
                        "no answer within {} s",
                        timeout.as_secs_f64()
                    )))
                })
                .map(Arc::new);
            {
                let mut kept = lock(&kept);
                kept.flight = None;
                match &fetched {
                    Ok(found) => {
                        kept.current = Some(Arc::clone(found));
                        kept.failed_at = None;
                    }
                    Err(e) => {
                        if kept.current.is_some() {
                            tracing::warn!(upstream = %label, error = %e,
                                "refreshing {what} failed; the last good copy stays in use");
                        }
                        kept.failed_at = Some(clock.now_unix_millis());
                    }
                }
            }
            done.send_replace(Some(fetched));
        });
        flight
    }

    /// Replaces the last good copy with what `change` makes of it (a JWKS
    /// fetched again beside the metadata), and returns the new one.
    pub fn replace(&self, change: impl FnOnce(Option<&Arc<T>>) -> Arc<T>) -> Arc<T> {
        let mut kept = lock(&self.kept);
        let changed = change(kept.current.as_ref());
        kept.current = Some(Arc::clone(&changed));
        changed
    }

    /// Waits for the fetch under way, if any, and returns how it ended
    /// (the periodic refresh waits for it; tests check what it kept).
    pub async fn settled(&self) -> Option<Result<Arc<T>, UpstreamError>> {
        let flight = lock(&self.kept).flight.clone();
        let mut flight = flight?;
        let ended = flight.wait_for(Option::is_some).await.ok()?;
        ended.clone()
    }
}
