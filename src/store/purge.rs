//! Deleting what has expired: login transactions, authorization codes,
//! sessions, refresh-token families and brute-force counters. Login
//! transactions go as they expire; every other kind is kept a day past its
//! end, so that a replayed code or a reused refresh token is still
//! recognised (and revokes what it issued) for that long.

use super::{Store, StoreResult};

/// How long expired rows are kept before they are deleted.
pub const RETENTION_MS: i64 = 24 * 3600 * 1000;

/// How many rows of each kind one purge deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub login_transactions: u64,
    pub authorization_codes: u64,
    pub sessions: u64,
    pub refresh_grants: u64,
    pub login_throttle: u64,
    pub revoked_access_tokens: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.login_transactions
            + self.authorization_codes
            + self.sessions
            + self.refresh_grants
            + self.login_throttle
            + self.revoked_access_tokens
    }
}

impl Store {
    /// Deletes expired login transactions, and what else expired (or ended)
    /// more than [`RETENTION_MS`] before `now`
    /// (unix ms). Sessions idle longer than `session_idle_ms` count as ended.
    /// Safe to run on every node at once: each statement is one delete.
    pub async fn purge_expired(&self, now: i64, session_idle_ms: i64) -> StoreResult<Purged> {
        let cutoff = now - RETENTION_MS;
        let delete = |sql: &'static str| async move {
            Ok::<u64, super::StoreError>(
                sqlx::query(sql)
                    .bind(cutoff)
                    .execute(&self.pool)
                    .await?
                    .rows_affected(),
            )
        };
        Ok(Purged {
            // A login transaction is useless once expired: nothing needs to
            // recognise it later, so it goes at once, not after retention.
            login_transactions: sqlx::query("delete from login_transactions where expires_at < $1")
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected(),
            authorization_codes: delete("delete from authorization_codes where expires_at < $1")
                .await?,
            sessions: sqlx::query(
                "delete from sessions where expires_at < $1 or ended_at < $1 or last_used_at < $2",
            )
            .bind(cutoff)
            .bind(cutoff - session_idle_ms)
            .execute(&self.pool)
            .await?
            .rows_affected(),
            // Their tokens go with them (on delete cascade).
            refresh_grants: delete(
                "delete from refresh_grants where expires_at < $1 or revoked_at < $1",
            )
            .await?,
            login_throttle: delete("delete from login_throttle where window_start < $1").await?,
            revoked_access_tokens: delete(
                "delete from revoked_access_tokens where expires_at < $1",
            )
            .await?,
        })
    }
}
