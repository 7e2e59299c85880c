//! SQLite's write queue: the hot writes of the grants (a refresh token's
//! rotation, a family's start) run on a thread of their own, and what is
//! queued while one batch runs goes in the next batch, in one transaction
//! (group commit).
//!
//! Why a thread: run from a request's task, each statement of a write
//! waited for a runtime worker to be polled again, and under load those
//! workers are busy signing other requests' tokens. The one writer
//! connection stayed held through those waits, so the writes queued behind
//! it while the cores were half idle (the README's profile). Here the
//! writer's thread waits for nothing but SQLite, and steps the statements
//! itself on a connection of its own (`sqlite_sync.rs`): no hand-off to
//! sqlx's worker thread per statement.
//!
//! The queue's connection writes only while the thread holds the writer
//! pool's one connection (unused, a turn): the writes that do not go through
//! the queue take that connection as before, so two connections never
//! write at once and none waits on SQLite's busy handler for the other.
//!
//! A batch that fails (a statement's error, or its commit's) is rolled back
//! and its writes run again one by one, each in its own transaction: one
//! write's error never undoes another's. A write whose caller stopped
//! waiting before its batch began (a client that hung up) is dropped
//! unrun: under a backlog the queue does only work someone waits for. Once
//! begun, a write is committed or rolled back whole, waited for or not.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, StoreResult, sqlite_sync};

/// The most writes one transaction takes.
const MAX_BATCH: usize = 64;

/// The most batches run on one turn while writes keep coming.
const BATCHES_PER_TURN: usize = 8;

/// A write the queue runs: `statements` run with `data` on the queue's
/// connection, inside a transaction the queue begins and commits. `Ok`
/// commits everything the statements did; an error rolls all of it back
/// (a write that must undo a statement returns an error, not `Ok`). It may
/// run more than once (again alone, after its batch failed), so it reads
/// its data by reference.
pub(crate) struct QueuedWrite<D, T> {
    pub data: D,
    pub statements: fn(&D, &Connection) -> StoreResult<T>,
}

impl<D, T> QueuedWrite<D, T> {
    fn run(&self, conn: &Connection) -> StoreResult<T> {
        (self.statements)(&self.data, conn)
    }
}

/// The sending end, held by the store (`Store::queued_write`). The thread
/// ends when the last one is dropped.
#[derive(Clone)]
pub(crate) struct WriteQueue {
    sender: mpsc::UnboundedSender<Box<dyn Pending>>,
    /// Whether the queue's connection is open (`Store::pool_usage`).
    connection_open: Arc<AtomicBool>,
}

impl WriteQueue {
    /// Starts the writer's thread, which writes to the database file at
    /// `path` on a connection of its own, opened at the first write and
    /// closed after `idle_timeout` without one, and takes its turn on
    /// `writer` (the pool of one) to write, for up to `BATCHES_PER_TURN`
    /// batches while writes keep coming.
    pub(crate) fn start(
        writer: AnyPool,
        path: PathBuf,
        idle_timeout: Duration,
    ) -> StoreResult<Self> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let connection_open = Arc::new(AtomicBool::new(false));
        let connection = QueueConnection {
            path,
            idle_timeout,
            conn: None,
            open: connection_open.clone(),
        };
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(serve(writer, connection, receiver)),
                    // The queue's writes then fail as the thread's end.
                    Err(err) => {
                        tracing::error!(error = %err, "the SQLite write queue did not start")
                    }
                }
            })
            .map_err(|err| StoreError::Backend(sqlx::Error::Io(err)))?;
        Ok(WriteQueue {
            sender,
            connection_open,
        })
    }

    /// Runs `write` in the queue's next batch; its outcome once committed.
    pub(crate) async fn run<D, T>(&self, write: QueuedWrite<D, T>) -> StoreResult<T>
    where
        D: Send + 'static,
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

    /// Whether the queue's own connection is open.
    pub(crate) fn connection_open(&self) -> bool {
        self.connection_open.load(Ordering::Relaxed)
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
    fn run(&mut self, conn: &Connection) -> bool;
    /// Sends the outcome kept, or `error` if there is none.
    fn reply(self: Box<Self>, error: Option<StoreError>);
}

impl<D: Send, T: Send> Pending for Entry<D, T> {
    fn is_awaited(&self) -> bool {
        !self.reply.is_closed()
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let outcome = self.write.run(conn);
        let succeeded = outcome.is_ok();
        self.outcome = Some(outcome);
        succeeded
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

/// The queue's own connection, opened when a batch needs it.
struct QueueConnection {
    path: PathBuf,
    idle_timeout: Duration,
    conn: Option<Connection>,
    open: Arc<AtomicBool>,
}

impl QueueConnection {
    fn get(&mut self) -> rusqlite::Result<&mut Connection> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => sqlite_sync::open_writer(&self.path)?,
        };
        self.open.store(true, Ordering::Relaxed);
        Ok(self.conn.insert(conn))
    }

    /// Closes it (at rest, or after a batch panicked with it in an unknown
    /// state): its schema copy, statements and page cache go.
    fn close(&mut self) {
        self.conn = None;
        self.open.store(false, Ordering::Relaxed);
    }
}

async fn serve(
    writer: AnyPool,
    mut connection: QueueConnection,
    mut queue: mpsc::UnboundedReceiver<Box<dyn Pending>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        if batch.is_empty() {
            let received = if connection.conn.is_some() {
                let next = queue.recv_many(&mut batch, MAX_BATCH);
                match tokio::time::timeout(connection.idle_timeout, next).await {
                    Ok(received) => received,
                    Err(_) => {
                        connection.close();
                        continue;
                    }
                }
            } else {
                queue.recv_many(&mut batch, MAX_BATCH).await
            };
            if received == 0 {
                return;
            }
        }
        // The writer pool's connection, unused: the turn to write. It is
        // kept while writes keep coming, for a few batches: giving it back
        // pings its sqlx worker thread, a round trip the next batch waited
        // for, and the writes outside the queue wait for a few batches at
        // most.
        let _turn = match writer.acquire().await {
            Ok(conn) => conn,
            Err(err) => {
                fail_all(std::mem::take(&mut batch), || {
                    StoreError::Backend(same_error(&err))
                });
                continue;
            }
        };
        for _ in 0..BATCHES_PER_TURN {
            run_batch(&mut connection, std::mem::take(&mut batch));
            batch.reserve(MAX_BATCH);
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(write) => batch.push(write),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                break;
            }
        }
    }
}

/// Runs `batch` on the queue's connection; the caller holds the turn.
fn run_batch(connection: &mut QueueConnection, mut batch: Vec<Box<dyn Pending>>) {
    // Checked as late as can be: with the turn in hand.
    batch.retain(|write| write.is_awaited());
    if batch.is_empty() {
        return;
    }
    let conn = match connection.get() {
        Ok(conn) => conn,
        Err(err) => {
            let message = format!("opening the SQLite write queue's connection: {err}");
            let error =
                || StoreError::Backend(sqlx::Error::Io(std::io::Error::other(message.clone())));
            return fail_all(batch, error);
        }
    };
    // A write that panics loses its batch (each caller gets an error as its
    // reply is dropped), not the thread; the connection, in whatever state
    // the panic left it, is closed.
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| run_statements(conn, batch)));
    if ran.is_err() {
        tracing::error!("a batch of the SQLite write queue panicked");
        connection.close();
    }
}

/// Answers every write of `batch` with an error of `error`'s making (errors
/// are not `Clone`), none of them run.
fn fail_all(batch: Vec<Box<dyn Pending>>, error: impl Fn() -> StoreError) {
    for write in batch {
        write.reply(Some(error()));
    }
}

/// Runs `batch` on `conn` (together if it can, else one by one) and sends
/// each write its outcome.
fn run_statements(conn: &mut Connection, mut batch: Vec<Box<dyn Pending>>) {
    if batch.len() > 1 && run_together(conn, &mut batch) {
        for write in batch {
            write.reply(None);
        }
        return;
    }
    for mut write in batch {
        let error = run_alone(conn, &mut *write).err();
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
/// were committed (if not, nothing of the batch is: a transaction dropped
/// unfinished is rolled back).
fn run_together(conn: &mut Connection, batch: &mut [Box<dyn Pending>]) -> bool {
    let Ok(tx) = conn.transaction_with_behavior(TransactionBehavior::Immediate) else {
        return false;
    };
    batch.iter_mut().all(|write| write.run(&tx)) && tx.commit().is_ok()
}

/// One write in its own transaction, committed if it succeeded, else
/// rolled back (the write's own error is its outcome). An error of the
/// transaction's `begin` or `commit` is returned.
fn run_alone(conn: &mut Connection, write: &mut dyn Pending) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if write.run(&tx) {
        tx.commit()?;
    } else if let Err(err) = tx.rollback() {
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
                sqlite_sync::execute(conn, "insert into t (k) values ($1)", &[key])?;
                Ok(())
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

    /// While writes keep coming the queue keeps its turn for
    /// `BATCHES_PER_TURN` full batches, then gives it back: a write outside
    /// the queue waiting for the writer gets it before the rest are run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_queue_gives_its_turn_back_after_a_few_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_table(&dir).await;
        let busy = store.writer().acquire().await.unwrap();
        let queued = MAX_BATCH * (BATCHES_PER_TURN + 2);
        let writes: Vec<_> = (0..queued)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move { store.queued_write(insert(&format!("{n:04}"))).await })
            })
            .collect();
        // Every write queued, and the queue waiting for the writer.
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(busy);
        // Waits behind the queue, which asked first (sqlx's pool is fair).
        let outside = store.writer().acquire().await.unwrap();
        let written_before = keys(&store).await.len();
        drop(outside);
        for write in writes {
            write.await.unwrap().unwrap();
        }
        // The first batch is what had arrived when the queue asked for the
        // turn; the seven after it are full.
        let eight_batches = MAX_BATCH * (BATCHES_PER_TURN - 1) + 1..=MAX_BATCH * BATCHES_PER_TURN;
        assert!(
            eight_batches.contains(&written_before),
            "{written_before} written before a write outside the queue had its turn"
        );
        assert_eq!(keys(&store).await.len(), queued);
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
