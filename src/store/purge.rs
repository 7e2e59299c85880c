//! Deleting what has expired: login transactions, authorization codes,
//! sessions, refresh-token families, brute-force counters, the SAML replay
//! cache, SAML SP keys past their decryption overlap and unanswered SAML
//! LogoutRequests. Login transactions,
//! SAML assertion IDs and SP keys go as they expire (an expired assertion is
//! refused for its dates already; an old key must not outlive its use);
//! every other kind is kept a day past its
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
    pub saml_assertion_ids: u64,
    pub saml_sp_keys: u64,
    pub saml_logout_requests: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.login_transactions
            + self.authorization_codes
            + self.sessions
            + self.refresh_grants
            + self.login_throttle
            + self.revoked_access_tokens
            + self.saml_assertion_ids
            + self.saml_sp_keys
            + self.saml_logout_requests
    }
}

impl Store {
    /// Deletes expired login transactions, and what else expired (or ended)
    /// more than [`RETENTION_MS`] before `now`
    /// (unix ms). Sessions idle longer than `session_idle_ms` count as ended.
    /// Safe to run on every node at once: each statement is one delete.
    pub async fn purge_expired(&self, now: i64, session_idle_ms: i64) -> StoreResult<Purged> {
        let cutoff = now - RETENTION_MS;
        // Runs `sql`, whose `$1` is the moment before which rows go.
        let delete_before = |before: i64, sql: &'static str| async move {
            Ok::<u64, super::StoreError>(
                sqlx::query(sql)
                    .bind(before)
                    .execute(self.writer())
                    .await?
                    .rows_affected(),
            )
        };
        let delete = |sql| delete_before(cutoff, sql);
        let delete_now = |sql| delete_before(now, sql);
        Ok(Purged {
            // A login transaction is useless once expired: nothing needs to
            // recognise it later, so it goes at once, not after retention.
            login_transactions: delete_now("delete from login_transactions where expires_at < $1")
                .await?,
            authorization_codes: delete("delete from authorization_codes where expires_at < $1")
                .await?,
            sessions: sqlx::query(
                "delete from sessions where expires_at < $1 or ended_at < $1 or last_used_at < $2",
            )
            .bind(cutoff)
            .bind(cutoff - session_idle_ms)
            .execute(self.writer())
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
            saml_assertion_ids: delete_now("delete from saml_assertion_ids where expires_at <= $1")
                .await?,
            saml_sp_keys: delete_now("delete from saml_sp_keys where decrypts_until <= $1").await?,
            saml_logout_requests: delete_now(
                "delete from saml_logout_requests where expires_at <= $1",
            )
            .await?,
        })
    }
}
