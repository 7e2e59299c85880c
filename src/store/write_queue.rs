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
//! write's error never undoes another's. A write runs to its end once it
//! is queued, whether or not its caller still waits for the outcome.

use std::future::Future;
use std::pin::Pin;

use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, StoreResult};

/// The most writes one transaction takes.
const MAX_BATCH: usize = 64;

pub(crate) type WriteFuture<'c, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'c>>;

/// A write the queue runs: its statements on the writer connection, inside
/// a transaction the queue begins and commits. It may run more than once
/// (again alone, after its batch failed), so it reads its data by
/// reference.
pub(crate) trait QueuedWrite: Send + Sync + 'static {
    type Output: Send + 'static;

    fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, Self::Output>;
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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| StoreError::Backend(sqlx::Error::Io(err)))?;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || runtime.block_on(serve(writer, receiver)))
            .map_err(|err| StoreError::Backend(sqlx::Error::Io(err)))?;
        Ok(WriteQueue { sender })
    }

    /// Runs `write` in the queue's next batch; its outcome once committed.
    pub(crate) async fn run<W: QueuedWrite>(&self, write: W) -> StoreResult<W::Output> {
        let (reply, outcome) = oneshot::channel();
        self.sender
            .send(Box::new(Entry {
                write,
                outcome: None,
                reply,
            }))
            .map_err(|_| StoreError::Backend(sqlx::Error::PoolClosed))?;
        outcome
            .await
            .map_err(|_| StoreError::Backend(sqlx::Error::PoolClosed))?
    }
}

/// A queued write with its outcome so far and where the outcome goes.
struct Entry<W: QueuedWrite> {
    write: W,
    outcome: Option<StoreResult<W::Output>>,
    reply: oneshot::Sender<StoreResult<W::Output>>,
}

/// [`Entry`] with its output's type erased, for the queue.
trait Pending: Send {
    /// Runs the write, keeps its outcome; whether it succeeded.
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> Pin<Box<dyn Future<Output = bool> + Send + 'c>>;
    /// Sends the outcome kept, or `error` if there is none.
    fn reply(self: Box<Self>, error: Option<StoreError>);
}

impl<W: QueuedWrite> Pending for Entry<W> {
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> Pin<Box<dyn Future<Output = bool> + Send + 'c>> {
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
            (None, None) => Err(StoreError::Backend(sqlx::Error::WorkerCrashed)),
        };
        // The caller may have gone (its client hung up): the write stands.
        let _ = self.reply.send(outcome);
    }
}

async fn serve(writer: AnyPool, mut queue: mpsc::UnboundedReceiver<Box<dyn Pending>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        run_batch(&writer, std::mem::take(&mut batch)).await;
    }
}

async fn run_batch(writer: &AnyPool, mut batch: Vec<Box<dyn Pending>>) {
    let mut conn = match writer.acquire().await {
        Ok(conn) => conn,
        Err(err) => {
            let message = err.to_string();
            for write in batch {
                write.reply(Some(StoreError::Backend(sqlx::Error::Protocol(
                    message.clone(),
                ))));
            }
            return;
        }
    };
    if batch.len() > 1 && run_together(&mut conn, &mut batch).await.is_ok() {
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

/// Every write of `batch` in one transaction; an error if one failed or the
/// commit did (then nothing of the batch is committed).
async fn run_together(conn: &mut AnyConnection, batch: &mut [Box<dyn Pending>]) -> StoreResult<()> {
    let mut tx = conn.begin_with("begin immediate").await?;
    for write in batch.iter_mut() {
        if !write.run(&mut tx).await {
            tx.rollback().await?;
            return Err(StoreError::Backend(sqlx::Error::WorkerCrashed));
        }
    }
    tx.commit().await?;
    Ok(())
}

/// One write in its own transaction, committed if it succeeded. The
/// write's own error is its outcome; an error of the transaction is
/// returned.
async fn run_alone(conn: &mut AnyConnection, write: &mut dyn Pending) -> StoreResult<()> {
    let mut tx = conn.begin_with("begin immediate").await?;
    if write.run(&mut tx).await {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(())
}
