//! SQLite's write queue: the hot writes of the grants (a refresh token's
//! rotation, a family's start) run on a thread of their own, and what is
//! queued while one batch runs goes in the next batch, in one transaction
//! (group commit).
//!
//! Why a thread: run from a request's task, each statement of a write is a
//! hand-off to sqlx-sqlite's worker thread and back, and coming back means
//! waiting for a runtime worker, which under load is busy signing a token
//! for another request. The one writer connection stayed held through
//! those waits, so the writes queued behind it while the cores were half
//! idle (the README's profile). Here the writer's thread waits for nothing
//! but SQLite.
//!
//! A batch that fails (a statement's error, or its commit's) is rolled back
//! and its writes run again one by one, each in its own transaction: one
//! write's error never undoes another's. A write whose caller stopped
//! waiting before its batch began (a client that hung up) is dropped
//! unrun: under a backlog the queue does only work someone waits for. Once
//! begun, a write is committed or rolled back whole, waited for or not.

use std::future::Future;
use std::pin::Pin;

use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, StoreResult};

/// The most writes one transaction takes.
const MAX_BATCH: usize = 64;

pub(crate) type WriteFuture<'c, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'c>>;

/// A write the queue runs: `statements` run with `data` on the writer
/// connection, inside a transaction the queue begins and commits. `Ok`
/// commits everything the statements did; an error rolls all of it back
/// (a write that must undo a statement returns an error, not `Ok`). It may
/// run more than once (again alone, after its batch failed), so it reads
/// its data by reference; a plain function, so that its future may borrow
/// that data.
pub(crate) struct QueuedWrite<D, T> {
    pub data: D,
    pub statements: for<'c> fn(&'c D, &'c mut AnyConnection) -> WriteFuture<'c, T>,
}

impl<D, T> QueuedWrite<D, T> {
    pub(crate) fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, T> {
        (self.statements)(&self.data, conn)
    }
}

/// The sending end, held by the store (`Store::queued_write`). The thread
/// ends when the last one is dropped.
#[derive(Clone)]
pub(crate) struct WriteQueue {
    sender: mpsc::UnboundedSender<Box<dyn Pending>>,
}

impl WriteQueue {
    /// Starts the writer's thread, which takes its connection from
    /// `writer` (the pool of one) for each batch: the writes that do not go
    /// through the queue wait their turn for it as before.
    pub(crate) fn start(writer: AnyPool) -> StoreResult<Self> {
        let (sender, receiver) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(serve(writer, receiver)),
                    // The queue's writes then fail as the thread's end.
                    Err(err) => {
                        tracing::error!(error = %err, "the SQLite write queue did not start")
                    }
                }
            })
            .map_err(|err| StoreError::Backend(sqlx::Error::Io(err)))?;
        Ok(WriteQueue { sender })
    }

    /// Runs `write` in the queue's next batch; its outcome once committed.
    pub(crate) async fn run<D, T>(&self, write: QueuedWrite<D, T>) -> StoreResult<T>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        self.sender
            .send(Box::new(Entry {
                write,
                outcome: None,
                reply,
            }))
            .map_err(|_| queue_ended())?;
        outcome.await.map_err(|_| queue_ended())?
    }
}

/// The error of a write the queue's thread could not answer: it ended (the
/// store closed), or the write's batch panicked.
fn queue_ended() -> StoreError {
    StoreError::Backend(sqlx::Error::WorkerCrashed)
}

/// A queued write with its outcome so far and where the outcome goes.
struct Entry<D, T> {
    write: QueuedWrite<D, T>,
    outcome: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

/// [`Entry`] with its output's type erased, for the queue.
trait Pending: Send {
    /// Whether the caller still waits for the outcome.
    fn is_awaited(&self) -> bool;
    /// Runs the write, keeps its outcome; whether it succeeded.
    fn run<'c>(
        &'c mut self,
        conn: &'c mut AnyConnection,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'c>>;
    /// Sends the outcome kept, or `error` if there is none.
    fn reply(self: Box<Self>, error: Option<StoreError>);
}

impl<D: Send + Sync, T: Send> Pending for Entry<D, T> {
    fn is_awaited(&self) -> bool {
        !self.reply.is_closed()
    }

    fn run<'c>(
        &'c mut self,
        conn: &'c mut AnyConnection,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'c>> {
        Box::pin(async move {
            let outcome = self.write.run(conn).await;
            let succeeded = outcome.is_ok();
            self.outcome = Some(outcome);
            succeeded
        })
    }

    fn reply(self: Box<Self>, error: Option<StoreError>) {
        let outcome = match (error, self.outcome) {
            (Some(error), _) => Err(error),
            (None, Some(outcome)) => outcome,
            (None, None) => Err(queue_ended()),
        };
        // The caller may have gone (its client hung up): the write stands.
        let _ = self.reply.send(outcome);
    }
}

async fn serve(writer: AnyPool, mut queue: mpsc::UnboundedReceiver<Box<dyn Pending>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A task of its own: a write that panics loses its batch (each
        // caller gets an error as its reply is dropped), not the thread.
        let running = tokio::spawn(run_batch(writer.clone(), std::mem::take(&mut batch)));
        if let Err(err) = running.await {
            tracing::error!(error = %err, "a batch of the SQLite write queue panicked");
        }
        batch.reserve(MAX_BATCH);
    }
}

async fn run_batch(writer: AnyPool, mut batch: Vec<Box<dyn Pending>>) {
    let mut conn = match writer.acquire().await {
        Ok(conn) => conn,
        Err(err) => {
            for write in batch {
                write.reply(Some(StoreError::Backend(same_error(&err))));
            }
            return;
        }
    };
    // Checked as late as can be: with the connection in hand.
    batch.retain(|write| write.is_awaited());
    if batch.len() > 1 && run_together(&mut conn, &mut batch).await {
        for write in batch {
            write.reply(None);
        }
        return;
    }
    for mut write in batch {
        let error = run_alone(&mut conn, &mut *write).await.err();
        write.reply(error);
    }
}

/// `err` again, for each write of a batch (sqlx's errors are not `Clone`):
/// the pool's own errors by kind, so that a caller can tell a pool timed
/// out or closed; any other by its message.
fn same_error(err: &sqlx::Error) -> sqlx::Error {
    match err {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::WorkerCrashed => sqlx::Error::WorkerCrashed,
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// Every write of `batch` in one transaction; whether all succeeded and
/// were committed (if not, nothing of the batch is).
async fn run_together(conn: &mut AnyConnection, batch: &mut [Box<dyn Pending>]) -> bool {
    let Ok(mut tx) = conn.begin_with("begin immediate").await else {
        return false;
    };
    for write in batch.iter_mut() {
        if !write.run(&mut tx).await {
            // The batch has failed whether or not the rollback does (a
            // transaction dropped unfinished is rolled back all the same).
            let _ = tx.rollback().await;
            return false;
        }
    }
    tx.commit().await.is_ok()
}

/// One write in its own transaction, committed if it succeeded, else
/// rolled back (the write's own error is its outcome). An error of the
/// transaction's `begin` or `commit` is returned.
async fn run_alone(conn: &mut AnyConnection, write: &mut dyn Pending) -> StoreResult<()> {
    let mut tx = conn.begin_with("begin immediate").await?;
    if write.run(&mut tx).await {
        tx.commit().await?;
    } else if let Err(err) = tx.rollback().await {
        tracing::warn!(error = %err, "rolling back a write of the SQLite write queue failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{Store, sqlite_url_for};
    use super::*;

    /// Inserts `key` into the test's table `t` (a primary key: inserting a
    /// key twice is a conflict).
    fn insert(key: &str) -> QueuedWrite<String, ()> {
        QueuedWrite {
            data: key.to_owned(),
            statements: |key, conn| {
                Box::pin(async move {
                    sqlx::query("insert into t (k) values ($1)")
                        .bind(key)
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            },
        }
    }

    async fn keys(store: &Store) -> Vec<String> {
        sqlx::query_scalar("select k from t order by k")
            .fetch_all(&store.pool)
            .await
            .unwrap()
    }

    async fn store_with_table(dir: &tempfile::TempDir) -> Store {
        let store = Store::connect(&sqlite_url_for(&dir.path().join("q.db")))
            .await
            .unwrap();
        sqlx::query("create table t (k text primary key)")
            .execute(store.writer())
            .await
            .unwrap();
        store
    }

    /// Writes queued while the writer connection is busy go in one batch;
    /// one of them failing (a duplicate key) is that write's error alone:
    /// the others of its batch are committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_fails_alone_in_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_table(&dir).await;
        let busy = store.writer().acquire().await.unwrap();
        let writes: Vec<_> = ["a", "b", "a", "c"]
            .into_iter()
            .map(|key| {
                let store = store.clone();
                tokio::spawn(async move { store.queued_write(insert(key)).await })
            })
            .collect();
        // Let every write reach the queue while the writer is held.
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(busy);
        let mut outcomes = Vec::new();
        for write in writes {
            outcomes.push(write.await.unwrap());
        }
        let conflicts = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Err(StoreError::Conflict(_))))
            .count();
        assert_eq!(conflicts, 1, "{outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 3);
        assert_eq!(keys(&store).await, ["a", "b", "c"]);
    }

    /// A write whose caller stopped waiting before its batch began (a
    /// client that hung up) is dropped unrun; the writes after it run.
    #[tokio::test]
    async fn a_write_nobody_waits_for_is_dropped_unrun() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_table(&dir).await;
        let busy = store.writer().acquire().await.unwrap();
        let abandoned =
            tokio::time::timeout(Duration::ZERO, store.queued_write(insert("left"))).await;
        assert!(abandoned.is_err(), "the caller stopped waiting");
        drop(busy);
        store.queued_write(insert("later")).await.unwrap();
        assert_eq!(keys(&store).await, ["later"]);
    }

    /// A write the queue cannot get the writer for fails with the pool's
    /// own error, not a message: the caller can tell the store closed.
    #[tokio::test]
    async fn a_closed_writer_fails_the_write_with_the_pools_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_table(&dir).await;
        store.writer().close().await;
        let outcome = store.queued_write(insert("late")).await;
        assert!(
            matches!(outcome, Err(StoreError::Backend(sqlx::Error::PoolClosed))),
            "{outcome:?}"
        );
        assert!(matches!(
            same_error(&sqlx::Error::PoolTimedOut),
            sqlx::Error::PoolTimedOut
        ));
    }

    /// A write that panics fails its own caller; the queue goes on.
    #[tokio::test]
    async fn a_panicking_write_does_not_end_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_table(&dir).await;
        let panicking = QueuedWrite {
            data: (),
            statements: |_, _| panic!("a bug in a write"),
        };
        let failed: StoreResult<()> = store.queued_write(panicking).await;
        assert!(failed.is_err());
        store.queued_write(insert("after")).await.unwrap();
        assert_eq!(keys(&store).await, ["after"]);
    }
}
