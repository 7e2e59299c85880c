//! Telling the other nodes that share a PostgreSQL database what changed, so
//! that their caches drop it at once rather than when its TTL runs out
//! (LISTEN/NOTIFY). A SQLite store has no other nodes: it sends and hears
//! nothing.

use sqlx::postgres::PgListener;

use super::{Backend, Store, StoreResult};

/// The channel every node listens on.
const CHANNEL: &str = "switchyard_changes";

impl Store {
    /// Sends `change` to every node listening (this one included). Sent after
    /// the write it describes has committed.
    pub async fn notify_change(&self, change: &str) -> StoreResult<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        sqlx::query("select pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(change)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Starts listening for changes on its own connection; `None` on SQLite.
    pub async fn listen_changes(&self) -> StoreResult<Option<ChangeListener>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect(&self.database_url).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(ChangeListener(listener)))
    }
}

/// The changes other nodes (and this one) sent.
pub struct ChangeListener(PgListener);

/// What the listener heard.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    Change(String),
    /// The connection was lost and has been re-established: changes sent in
    /// between were missed.
    MayHaveMissedChanges,
}

impl ChangeListener {
    pub async fn next(&mut self) -> StoreResult<Heard> {
        Ok(match self.0.try_recv().await? {
            Some(notification) => Heard::Change(notification.payload().to_owned()),
            None => Heard::MayHaveMissedChanges,
        })
    }
}
