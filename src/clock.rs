//! The one place that reads the wall clock. Everything else takes time as a
//! parameter or asks here, so tests can reason about expiry.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn now_unix_seconds() -> i64 {
    now_unix_millis() / 1000
}

/// RFC 3339 (what Auth0 returns in `created_at`) for unix milliseconds.
pub fn rfc3339_from_millis(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
