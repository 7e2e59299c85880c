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
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Starts listening for changes on its own connection; `None` on SQLite.
    pub async fn listen_changes(&self) -> StoreResult<Option<ChangeListener>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        Ok(Some(ChangeListener {
            listener: listen(&self.database_url).await?,
            database_url: self.database_url.clone(),
        }))
    }
}

async fn listen(database_url: &str) -> StoreResult<PgListener> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// The changes other nodes (and this one) sent.
pub struct ChangeListener {
    listener: PgListener,
    database_url: String,
}

/// What the listener heard.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    Change(String),
    /// The connection was lost and has been re-established: changes sent in
    /// between were missed.
    MayHaveMissedChanges,
}

impl ChangeListener {
    /// The next change. After `MayHaveMissedChanges` the listener is already
    /// listening again (sqlx reconnects before saying the connection was
    /// lost); after an error, call [`ChangeListener::listen_again`].
    pub async fn next(&mut self) -> StoreResult<Heard> {
        Ok(match self.listener.try_recv().await? {
            Some(notification) => Heard::Change(notification.payload().to_owned()),
            None => Heard::MayHaveMissedChanges,
        })
    }

    /// Listens on a new connection; once this returns, no change is missed.
    pub async fn listen_again(&mut self) -> StoreResult<()> {
        self.listener = listen(&self.database_url).await?;
        Ok(())
    }
}
