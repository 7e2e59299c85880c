//! The one place that reads the wall clock. Everything else asks a [`Clock`]
//! (in the application state, the store and the key ring) or takes time as a
//! parameter, so that tests move time instead of sleeping. Reading the
//! system time anywhere else is refused by clippy (`disallowed-methods` in
//! `clippy.toml`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What time it is, as this server sees it. Cheap to clone: clones share
/// one source, so a test that moves its clock moves it for the whole server.
#[derive(Debug, Clone)]
pub struct Clock {
    source: Arc<Source>,
}

#[derive(Debug)]
enum Source {
    /// The system clock.
    System,
    /// The system clock moved forward by `offset` milliseconds (tests: time
    /// goes on as usual, and a test can jump ahead).
    Advanced { offset: AtomicI64 },
    /// Stands still at `at` until moved (unit and store tests).
    Fixed { at: AtomicI64 },
}

impl Clock {
    /// The system clock: what a server runs with.
    pub fn system() -> Self {
        Self::from_source(Source::System)
    }

    /// The system clock, which [`Clock::advance`] moves forward: for tests
    /// of a running server, where time must also pass on its own.
    pub fn advanceable() -> Self {
        Self::from_source(Source::Advanced {
            offset: AtomicI64::new(0),
        })
    }

    /// A clock that stands at `unix_millis` until [`Clock::advance`]d.
    pub fn fixed(unix_millis: i64) -> Self {
        Self::from_source(Source::Fixed {
            at: AtomicI64::new(unix_millis),
        })
    }

    fn from_source(source: Source) -> Self {
        Clock {
            source: Arc::new(source),
        }
    }

    /// Moves a test clock forward by `by`; the system clock cannot be moved
    /// and ignores it.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        match &*self.source {
            Source::System => {}
            Source::Advanced { offset } => {
                offset.fetch_add(millis, Ordering::SeqCst);
            }
            Source::Fixed { at } => {
                at.fetch_add(millis, Ordering::SeqCst);
            }
        }
    }

    pub fn now_unix_millis(&self) -> i64 {
        match &*self.source {
            Source::System => system_unix_millis(),
            Source::Advanced { offset } => {
                system_unix_millis().saturating_add(offset.load(Ordering::SeqCst))
            }
            Source::Fixed { at } => at.load(Ordering::SeqCst),
        }
    }

    pub fn now_unix_seconds(&self) -> i64 {
        self.now_unix_millis().div_euclid(1000)
    }

    /// The current time as a `time` date-time (certificates, formatting).
    pub fn now_offset_date_time(&self) -> time::OffsetDateTime {
        offset_date_time_from_millis(self.now_unix_millis())
    }
}

#[allow(clippy::disallowed_methods)] // the one read of the system time
fn system_unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn offset_date_time_from_millis(millis: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 (what Auth0 returns in `created_at`) for unix milliseconds.
pub fn rfc3339_from_millis(millis: i64) -> String {
    offset_date_time_from_millis(millis)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_stands_until_advanced_and_clones_share_it() {
        let clock = Clock::fixed(1_700_000_000_500);
        let shared = clock.clone();
        assert_eq!(clock.now_unix_millis(), 1_700_000_000_500);
        assert_eq!(clock.now_unix_seconds(), 1_700_000_000);
        shared.advance(Duration::from_secs(90));
        assert_eq!(clock.now_unix_millis(), 1_700_000_090_500);
    }

    #[test]
    fn an_advanceable_clock_runs_ahead_of_the_system_clock() {
        let clock = Clock::advanceable();
        let before = system_unix_millis();
        clock.advance(Duration::from_secs(3600));
        let now = clock.now_unix_millis();
        assert!(now >= before + 3_600_000, "{now} vs {before}");
        assert!(now < system_unix_millis() + 3_600_000 + 60_000);
    }

    #[test]
    fn the_system_clock_cannot_be_moved() {
        let clock = Clock::system();
        let before = clock.now_unix_millis();
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now_unix_millis() < before + 3_600_000);
    }

    #[test]
    fn rfc3339_renders_milliseconds() {
        assert_eq!(rfc3339_from_millis(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_from_millis(1_700_000_000_250),
            "2023-11-14T22:13:20.25Z"
        );
    }
}
