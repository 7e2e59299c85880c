//! Login throttling counters (brute-force protection), shared by every node.

use sqlx::Row;

use super::{Store, StoreResult};

/// How a throttle counter's window moves as attempts are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleWindow {
    /// Opens at the first counted attempt and lasts its length, whatever follows.
    Fixed,
    /// Reopens at every counted attempt until this many are counted, then
    /// stays put: the count is of consecutive attempts (none a window apart),
    /// and once the limit is reached it holds for one window from the attempt
    /// that reached it, however many attempts follow.
    UntilLimit(i64),
}

impl Store {
    /// Counts one attempt against `key` at `now` (unix ms) and returns the
    /// count in the current window, this attempt included: 1 when the window
    /// of the last count has passed. One upsert, so concurrent attempts on any
    /// number of nodes each get their own number.
    pub async fn count_login_attempt(
        &self,
        key: &str,
        now: i64,
        window_ms: i64,
        window: ThrottleWindow,
    ) -> StoreResult<i64> {
        // The window reopens (`window_start = now`) while fewer than this many
        // attempts are counted; 0 never reopens it before it has passed.
        let reopen_below = match window {
            ThrottleWindow::Fixed => 0,
            ThrottleWindow::UntilLimit(limit) => limit,
        };
        // Every expression of an UPDATE's SET reads the row as it was, on both backends.
        let row = sqlx::query(
            "insert into login_throttle (key, failures, window_start) values ($1, 1, $2) \
             on conflict (key) do update set \
             failures = case when login_throttle.window_start + $3 <= $2 then 1 \
                 else login_throttle.failures + 1 end, \
             window_start = case when login_throttle.window_start + $3 <= $2 then $2 \
                 when login_throttle.failures < $4 then $2 \
                 else login_throttle.window_start end \
             returning failures",
        )
        .bind(key)
        .bind(now)
        .bind(window_ms)
        .bind(reopen_below)
        .fetch_one(self.writer())
        .await?;
        Ok(row.try_get("failures")?)
    }

    /// Takes back one counted attempt (it turned out not to be a failure).
    pub async fn uncount_login_attempt(&self, key: &str) -> StoreResult<()> {
        sqlx::query(
            "update login_throttle set failures = failures - 1 where key = $1 and failures > 0",
        )
        .bind(key)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Forgets every attempt counted against `key`.
    pub async fn reset_login_attempts(&self, key: &str) -> StoreResult<()> {
        sqlx::query("delete from login_throttle where key = $1")
            .bind(key)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}
