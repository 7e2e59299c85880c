//! Prometheus metrics, in the text exposition format (0.0.4) at `/metrics`
//! on the metrics listener (`[metrics] listen`).
//!
//! prometheus-client (the Prometheus project's own Rust client) keeps its
//! registry in a value rather than a process-wide recorder: each
//! [`Application`](crate::Application) counts into its own (several run in
//! one test process), and updates are atomic adds on metrics looked up once.
//! What is a level rather than a count (the database pool, the hashing
//! queue) is read when scraped, by [`Sampled`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::Store;

/// The Content-Type of what [`Metrics::encode`] writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Every metric name starts with this (`switchyard_…`).
const PREFIX: &str = "switchyard";

/// Prometheus's default buckets (5 ms to 10 s): a page or a token in
/// milliseconds, a password check (argon2) in tenths of a second.
const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A request, by the route that served it: the route's template
/// (`/api/v2/organizations/{id}`), never the path, so that ids cannot make
/// a series each.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    connection: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

/// How a password login ended, as counted by `switchyard_logins_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Success,
    /// The user exists; the password is not theirs.
    WrongPassword,
    /// No user with a password has this email on the connection.
    UnknownUser,
    /// The password matched a blocked user.
    Blocked,
    /// Refused by brute-force protection before the password was checked.
    Throttled,
    /// Every password-hashing slot was taken and the queue full.
    Busy,
    /// Authenticated, but the login could not finish (an organization's
    /// membership rules, an expired transaction).
    Refused,
    Error,
}

impl LoginOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::WrongPassword => "wrong_password",
            Self::UnknownUser => "unknown_user",
            Self::Blocked => "blocked",
            Self::Throttled => "throttled",
            Self::Busy => "busy",
            Self::Refused => "refused",
            Self::Error => "error",
        }
    }
}

/// A cache's hit and miss counters (shared with the registry's family).
#[derive(Debug, Clone, Default)]
pub struct CacheCounters {
    pub hits: Counter,
    pub misses: Counter,
}

/// The server's metrics: kept in `AppState`, counted into by the request
/// layer and the flows, encoded by `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    logins: Family<LoginLabels, Counter>,
    tokens: Family<GrantLabels, Counter>,
    cache_hits: Family<CacheLabels, Counter>,
    cache_misses: Family<CacheLabels, Counter>,
    /// Every request answered, whatever its labels (the idle trim reads it).
    answered: AtomicU64,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Metrics {
    /// The metrics of a server on `store` (its pool is sampled when scraped).
    pub fn new(store: &Store) -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let request_duration =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            request_duration.clone(),
        );
        let logins = Family::<LoginLabels, Counter>::default();
        registry.register(
            "logins",
            "Password logins, by connection id and outcome",
            logins.clone(),
        );
        let tokens = Family::<GrantLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Token responses issued by /oauth/token, by grant type",
            tokens.clone(),
        );
        let cache_hits = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_hits",
            "Lookups answered from memory, by cache",
            cache_hits.clone(),
        );
        let cache_misses = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_misses",
            "Lookups that read the store, by cache",
            cache_misses.clone(),
        );
        registry.register_collector(Box::new(Sampled {
            store: store.clone(),
        }));
        Metrics {
            registry,
            requests,
            request_duration,
            logins,
            tokens,
            cache_hits,
            cache_misses,
            answered: AtomicU64::new(0),
        }
    }

    /// Counts a request answered with `status` after `elapsed`.
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.request_duration
            .get_or_create(&RouteLabels {
                method: method.clone(),
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
        self.answered.fetch_add(1, Ordering::Relaxed);
    }

    /// How many requests were answered since the server started.
    pub fn requests_answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    pub fn login(&self, connection_id: &str, outcome: LoginOutcome) {
        self.logins
            .get_or_create(&LoginLabels {
                connection: connection_id.to_owned(),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// Counts a token response of `grant_type` (`authorization_code`, …).
    pub fn token_issued(&self, grant_type: &'static str) {
        self.tokens.get_or_create(&GrantLabels { grant_type }).inc();
    }

    /// The counters of the cache called `cache`, for it to keep.
    pub fn cache(&self, cache: &'static str) -> CacheCounters {
        let labels = CacheLabels { cache };
        CacheCounters {
            hits: self.cache_hits.get_or_create(&labels).clone(),
            misses: self.cache_misses.get_or_create(&labels).clone(),
        }
    }

    /// Every metric, in the Prometheus text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Levels read when scraped: the database pool's connections and the
/// password-hashing queue (whose refusals it counts itself).
#[derive(Debug)]
struct Sampled {
    store: Store,
}

impl Collector for Sampled {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        #[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct PoolLabels {
            pool: &'static str,
            state: &'static str,
        }
        #[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct PoolName {
            pool: &'static str,
        }
        let pools = self.store.pool_usage();
        let connections = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "db_pool_connections",
            "Database connections open, by pool (read, write; read_write on PostgreSQL) and state (idle, in_use)",
            None,
            connections.metric_type(),
        )?;
        for pool in &pools {
            for (state, count) in [("idle", pool.idle), ("in_use", pool.in_use())] {
                let labels = PoolLabels {
                    pool: pool.name,
                    state,
                };
                ConstGauge::new(count as i64).encode(family.encode_family(&labels)?)?;
            }
        }
        let max = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "db_pool_max_connections",
            "Database connections each pool may open",
            None,
            max.metric_type(),
        )?;
        for pool in &pools {
            let labels = PoolName { pool: pool.name };
            ConstGauge::new(pool.max as i64).encode(family.encode_family(&labels)?)?;
        }
        let hashing = crate::connectors::database::hashing_pool_usage();
        let queued = ConstGauge::new(hashing.queued as i64);
        queued.encode(encoder.encode_descriptor(
            "password_hashing_queue_depth",
            "Password checks waiting for a hashing thread (this process)",
            None,
            queued.metric_type(),
        )?)?;
        let refused = ConstCounter::new(hashing.busy_refusals);
        refused.encode(encoder.encode_descriptor(
            "password_hashing_busy_refusals",
            "Password checks refused because every hashing slot and the queue were full (this process)",
            None,
            refused.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_snake_case_labels() {
        for outcome in [
            LoginOutcome::Success,
            LoginOutcome::WrongPassword,
            LoginOutcome::UnknownUser,
            LoginOutcome::Blocked,
            LoginOutcome::Throttled,
            LoginOutcome::Busy,
            LoginOutcome::Refused,
            LoginOutcome::Error,
        ] {
            let label = outcome.as_str();
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{label}"
            );
        }
    }
}
