//! Persistence. One [`Store`] over sqlx's `Any` driver: SQLite (one file, WAL)
//! is the embedded default, PostgreSQL the multi-node backend. Both run the
//! same queries (`$1` placeholders work on both) against schemas kept in step
//! in `migrations/{sqlite,postgres}`. Every uniqueness rule is a named database
//! constraint, surfaced as [`StoreError::Conflict`] with that name. Writes
//! go through [`Store::writer`] (on SQLite one connection), reads through
//! the other pool.

mod clients;
mod codes;
mod columns;
mod connections;
pub mod constraints;
pub mod discovery_domains;
mod grants;
pub mod identities;
mod keys;
mod login;
mod notify;
mod organization_grants;
pub mod organizations;
pub mod purge;
mod refresh_grants;
pub mod resource_servers;
mod revocation;
mod roles;
mod saml;
mod sealing;
mod sessions;
mod settings;
mod sqlite_sync;
mod throttle;
mod upstream;
pub mod users;
mod write_queue;

pub use clients::ClientGrantFilter;
pub use connections::ConnectionFilter;
pub use grants::{UserGrant, UserGrantFilter};
pub use keys::{KeyRetention, SigningKeyRecord, StoredKey};
pub use login::StoredTransaction;
pub use notify::{ChangeListener, Heard};
pub use refresh_grants::{RefreshGrant, RefreshOutcome, RefreshTokenState, RefreshUse, Renewal};
pub use revocation::ACCESS_TOKEN_MAX_LIFETIME_MS;
pub use saml::{SamlSessionSubject, StoredSamlLogout, StoredSpKey};
pub use sealing::{SealedRows, StoredSecrets};
pub use sessions::StoredSession;
pub use throttle::ThrottleWindow;
pub use upstream::{MAX_UPSTREAM_REQUESTS_PER_LOGIN, StoredUpstreamRequest};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use crate::clock::Clock;
use crate::secrets::{KeyEncryptionKey, SealError};
use columns::{Columns, Param, RowOf};
pub(crate) use columns::{get_bool, get_optional_bool};
pub(crate) use write_queue::QueuedWrite;
use write_queue::WriteQueue;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness or check constraint refused the write; holds its name
    /// (`organizations_name_key`), the same on both backends: one of
    /// [`constraints::CONSTRAINTS`].
    #[error("conflict on {0}")]
    Conflict(String),
    /// A referenced row does not exist (or was deleted concurrently).
    #[error("referenced row missing")]
    MissingReference,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A sealed secret did not open (another key-encryption key, another
    /// row's value), or there is no key to seal or open it with.
    #[error(transparent)]
    Sealed(#[from] SealError),
    #[error("database error: {0}")]
    Backend(#[source] sqlx::Error),
    /// An error of the SQLite write queue's own connection
    /// (`sqlite_sync.rs`), other than a constraint's.
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if matches!(err, sqlx::Error::RowNotFound) {
            return StoreError::NotFound;
        }
        if let Some(db) = err.as_database_error() {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation
                | sqlx::error::ErrorKind::CheckViolation => {
                    let name = db
                        .constraint()
                        .map(str::to_owned)
                        .unwrap_or_else(|| constraints::sqlite_constraint_name(db.message()));
                    return StoreError::Conflict(name);
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => return StoreError::MissingReference,
                _ => {}
            }
        }
        StoreError::Backend(err)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Page selection shared by the list endpoints: offset paging (`page`,
/// `per_page`) or checkpoint paging (`from` an id, `take`).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
    /// Checkpoint: only rows whose id sorts after this one.
    pub after_id: Option<String>,
}

impl Page {
    pub fn all() -> Self {
        Page {
            offset: 0,
            limit: i64::MAX,
            after_id: None,
        }
    }
}

#[derive(Clone)]
pub struct Store {
    /// The connections reads use. On SQLite they are opened `query_only`:
    /// a write sent here fails instead of contending for the write lock.
    pool: AnyPool,
    /// The connections writes use ([`Store::writer`]): on SQLite a pool of
    /// one, on PostgreSQL the same pool as `pool`.
    writer: AnyPool,
    /// SQLite: the thread the grants' hot writes are queued to
    /// ([`Store::queued_write`]); it takes its turn on `writer`.
    write_queue: Option<WriteQueue>,
    /// SQLite: the grants' hot reads, run on the calling thread
    /// (`sqlite_sync.rs`).
    inline_readers: Option<Arc<sqlite_sync::Readers>>,
    backend: Backend,
    /// Kept for the dedicated LISTEN connection ([`Store::listen_changes`]).
    database_url: String,
    /// The time rows are stamped with (`created_at`, `updated_at`, …).
    clock: Clock,
    /// Seals and opens the secret columns (private keys, connection
    /// secrets); without it those columns can be neither read nor written.
    key_encryption_key: Option<KeyEncryptionKey>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

/// Runs the migrations of `backend`. SQLite's run with foreign keys off, as
/// SQLite's way of changing a table (rebuild, drop, rename) needs: with them
/// on, dropping the old table would cascade to every row referencing it.
/// The setting cannot change inside the migrations' transactions, so it is
/// set on the connection they run on, and set back after.
async fn migrate(pool: &AnyPool, backend: Backend) -> StoreResult<()> {
    let failed = |e| StoreError::Backend(sqlx::Error::Migrate(Box::new(e)));
    match backend {
        Backend::Postgres => POSTGRES_MIGRATIONS.run(pool).await.map_err(failed),
        Backend::Sqlite => {
            let mut conn = pool.acquire().await?;
            conn.execute("pragma foreign_keys = off").await?;
            let migrated = SQLITE_MIGRATIONS.run(&mut *conn).await;
            conn.execute("pragma foreign_keys = on").await?;
            migrated.map_err(failed)
        }
    }
}

impl Store {
    /// Connects to `database_url` (`sqlite://…` or `postgres://…`) and runs
    /// the migrations of that backend.
    pub async fn connect(database_url: &str) -> StoreResult<Self> {
        install_default_drivers();
        let backend = if database_url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Backend(sqlx::Error::Configuration(
                format!(
                    "unsupported database URL scheme (expected sqlite: or postgres:): {}",
                    redact_url(database_url)
                )
                .into(),
            )));
        };
        let (pool, writer, write_queue, inline_readers) = match backend {
            Backend::Sqlite => {
                reject_sqlite_in_memory(database_url)?;
                prepare_sqlite_file(database_url)?;
                // The writer first: it runs the migrations (and turns WAL on)
                // before a reader opens the file.
                let writer = sqlite_pool(SqliteRole::Writer)
                    .connect(database_url)
                    .await?;
                migrate(&writer, backend).await?;
                let readers = sqlite_pool(SqliteRole::Reader)
                    .connect(database_url)
                    .await?;
                let path = sqlite_file_path(database_url);
                let queue = WriteQueue::start(writer.clone(), path.clone(), SQLITE_IDLE_TIMEOUT)?;
                let inline_readers = Arc::new(sqlite_sync::Readers::new(path));
                close_idle_readers(Arc::downgrade(&inline_readers));
                (readers, writer, Some(queue), Some(inline_readers))
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(POSTGRES_CONNECTIONS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(database_url)
                    .await?;
                migrate(&pool, backend).await?;
                (pool.clone(), pool, None, None)
            }
        };
        Ok(Store {
            pool,
            writer,
            write_queue,
            inline_readers,
            backend,
            database_url: database_url.to_owned(),
            clock: Clock::system(),
            key_encryption_key: None,
        })
    }

    /// This store with its secret columns sealed under `key`.
    #[must_use]
    pub fn with_key_encryption_key(mut self, key: KeyEncryptionKey) -> Self {
        self.key_encryption_key = Some(key);
        self
    }

    /// The key the secret columns are sealed under, if one is configured.
    pub fn key_encryption_key(&self) -> Option<&KeyEncryptionKey> {
        self.key_encryption_key.as_ref()
    }

    /// This store with its rows stamped by `clock` (the application's).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The clock the store stamps rows with.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn now_millis(&self) -> i64 {
        self.clock.now_unix_millis()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool every write goes through (a statement that changes rows, or
    /// a transaction that may). Reads use `self.pool`.
    ///
    /// On SQLite it holds one connection: writers queue for it in the pool
    /// (first come, first served) instead of contending for SQLite's write
    /// lock and sleeping in its busy handler. Code holding a transaction or
    /// connection of this pool must not wait for another one: with one
    /// connection that waits forever.
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// The first row of `sql` bound to `params`, mapped by `map`; `NotFound`
    /// without one. For the grants' hot reads: on SQLite it runs on the
    /// calling thread (`sqlite_sync.rs`), on PostgreSQL through the pool.
    pub(crate) async fn read_hot_row<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        map: impl FnOnce(&RowOf<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let found = match &self.inline_readers {
            Some(readers) => {
                let params: Vec<&dyn rusqlite::ToSql> = params
                    .iter()
                    .map(|param| param as &dyn rusqlite::ToSql)
                    .collect();
                readers.read(|conn| {
                    sqlite_sync::first_row(conn, sql, &params, |row| map(&RowOf::Sqlite(row)))
                })?
            }
            None => {
                let query = params
                    .iter()
                    .fold(sqlx::query(sql), |query, param| param.bind_to(query));
                match query.fetch_optional(&self.pool).await? {
                    Some(row) => Some(map(&RowOf::Sqlx(&row))?),
                    None => None,
                }
            }
        };
        found.ok_or(StoreError::NotFound)
    }

    /// Runs `write` in SQLite's write queue's next batch (`write_queue.rs`);
    /// its outcome once the batch is committed. SQLite only: on PostgreSQL
    /// the callers run their own statement (there a write of several
    /// statements that must commit together is one, a data-modifying CTE).
    pub(crate) async fn queued_write<D, T>(&self, write: QueuedWrite<D, T>) -> StoreResult<T>
    where
        D: Send + 'static,
        T: Send + 'static,
    {
        match &self.write_queue {
            Some(queue) => queue.run(write).await,
            None => Err(StoreError::Backend(sqlx::Error::Configuration(
                "the write queue is SQLite's: PostgreSQL has none".into(),
            ))),
        }
    }

    /// Begins the transaction of a read-modify-write (the `update_*_with`
    /// methods, after Dex's storage updaters): the row it reads cannot change
    /// before it writes. SQLite takes the database's write lock at once
    /// (`begin immediate` on the one writer connection: none reads a
    /// row another is about to write); PostgreSQL runs `lock`, a
    /// `select … for no key update` of the row (bound to `key`; it queues
    /// the other read-modify-writes of that row but not the inserts that
    /// merely reference it) or a table lock. A missing row locks nothing:
    /// the read that follows says `NotFound`.
    pub(crate) async fn begin_update(
        &self,
        lock: &'static str,
        key: &[&str],
    ) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        match self.backend {
            Backend::Sqlite => Ok(self.writer().begin_with("begin immediate").await?),
            Backend::Postgres => {
                let mut tx = self.writer().begin().await?;
                let mut query = sqlx::query(lock);
                for value in key {
                    query = query.bind(*value);
                }
                query.execute(&mut *tx).await?;
                Ok(tx)
            }
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    /// Whether the database answers a trivial query within `timeout`
    /// (readiness: `/readyz`).
    pub async fn answers(&self, timeout: Duration) -> bool {
        let query = sqlx::query("select 1").execute(&self.pool);
        matches!(tokio::time::timeout(timeout, query).await, Ok(Ok(_)))
    }

    /// How many database connections are open, in every pool.
    pub fn open_connections(&self) -> u32 {
        self.pool_usage().iter().map(|pool| pool.open).sum()
    }

    /// The pools' connections, for the metrics: on SQLite the readers',
    /// the writer's, the write queue's own (open or not, never counted in
    /// use: it is used only while the queue holds the writer's turn) and
    /// the hot reads' (those idle: one is in use for microseconds), on
    /// PostgreSQL the one pool both use.
    pub fn pool_usage(&self) -> Vec<PoolUsage> {
        let usage = |pool: &AnyPool, name| PoolUsage {
            name,
            open: pool.size(),
            idle: pool.num_idle(),
            max: pool.options().get_max_connections(),
        };
        match (&self.write_queue, &self.inline_readers) {
            (Some(queue), Some(inline_readers)) => {
                let queue_open = u32::from(queue.connection_open());
                let inline_idle = inline_readers.idle();
                vec![
                    usage(&self.pool, "read"),
                    usage(&self.writer, "write"),
                    PoolUsage {
                        name: "write_queue",
                        open: queue_open,
                        idle: queue_open as usize,
                        max: 1,
                    },
                    PoolUsage {
                        name: "read_inline",
                        open: inline_idle as u32,
                        idle: inline_idle,
                        max: inline_readers.max_idle() as u32,
                    },
                ]
            }
            _ => vec![usage(&self.pool, "read_write")],
        }
    }
}

/// Closes the hot reads' connections idle for [`SQLITE_IDLE_TIMEOUT`], every
/// such interval, until the store is dropped.
fn close_idle_readers(readers: std::sync::Weak<sqlite_sync::Readers>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SQLITE_IDLE_TIMEOUT);
        every.tick().await;
        loop {
            every.tick().await;
            let Some(readers) = readers.upgrade() else {
                return;
            };
            readers.close_idle(SQLITE_IDLE_TIMEOUT);
        }
    });
}

/// A database pool's connections at one moment.
#[derive(Debug, Clone, Copy)]
pub struct PoolUsage {
    /// What the pool is for: `read`, `write` (SQLite), `read_write`
    /// (PostgreSQL).
    pub name: &'static str,
    pub open: u32,
    pub idle: usize,
    pub max: u32,
}

impl PoolUsage {
    pub fn in_use(&self) -> usize {
        (self.open as usize).saturating_sub(self.idle)
    }
}

/// How long a query may wait for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// SQLite's readers: WAL lets them read beside the writer. Each holds its
/// own copy of the schema and its statements (≈ 230 KiB at rest), but four
/// made the ES256 grants 6–23 % slower on 2 cores (README, "Memory at rest").
const SQLITE_READERS: u32 = 8;
/// A SQLite connection unused this long is closed, with its thread, schema
/// copy and page cache (≈ 230 KiB): a server at rest keeps only what its
/// minutely upkeep opens (two, measured after 3 minutes). sqlx checks the
/// idle connections every such interval, and one it finds not yet idle
/// long enough goes back as if just used: one closes 30 to 90 s after its
/// last use. 90 s kept four open at rest: the pool hands out the
/// connection idle longest, so upkeep twice a minute (the key ring's
/// reload, the domain checks) kept several from ever reaching 90 s idle.
const SQLITE_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const POSTGRES_CONNECTIONS: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SqliteRole {
    Reader,
    Writer,
}

/// The options of a SQLite pool: the one writer connection, or the readers
/// (`query_only`).
fn sqlite_pool(role: SqliteRole) -> AnyPoolOptions {
    let max_connections = match role {
        SqliteRole::Reader => SQLITE_READERS,
        SqliteRole::Writer => 1,
    };
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(SQLITE_IDLE_TIMEOUT)
        // A connection to a local file does not go stale: pinging it before
        // each statement (sqlx's default) was a round trip to its worker
        // thread for nothing, 7 % of the server's CPU in a code exchange.
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                let role_pragmas: &[&str] = match role {
                    SqliteRole::Writer => &WRITER_PRAGMAS,
                    SqliteRole::Reader => &READER_PRAGMAS,
                };
                for pragma in CONNECTION_PRAGMAS.iter().chain(role_pragmas) {
                    conn.execute(*pragma).await?;
                }
                Ok(())
            })
        })
}

/// Set on every SQLite connection. The busy timeout makes a statement wait
/// for a lock another process holds (a command run beside the server, a
/// checkpoint) instead of failing.
const CONNECTION_PRAGMAS: [&str; 2] = ["pragma busy_timeout = 5000", "pragma foreign_keys = on"];

/// Set on the connections that write (sqlx's writer, the write queue's).
/// WAL lets readers run beside the writer. NORMAL syncs the log at
/// checkpoints, not at every commit: a power loss may roll back the last
/// commits, never corrupt the file (README, "Store"). `secure_delete =
/// fast`: a deleted or rewritten row's bytes are zeroed in its page (no
/// extra I/O), so a secret sealed in place, or a deleted token hash, leaves
/// no copy in free space.
const WRITER_PRAGMAS: [&str; 3] = [
    "pragma journal_mode = wal",
    "pragma synchronous = normal",
    "pragma secure_delete = fast",
];

/// Set on the readers.
const READER_PRAGMAS: [&str; 1] = ["pragma query_only = on"];

/// Every connection to `sqlite::memory:` would open a database of its own
/// (the readers would not see the writer's): the store needs a file.
fn reject_sqlite_in_memory(database_url: &str) -> StoreResult<()> {
    let (path, query) = sqlite_path_and_query(database_url);
    let in_memory = path.starts_with(":memory:")
        || query.is_some_and(|query| query.split('&').any(|pair| pair == "mode=memory"));
    if in_memory {
        return Err(StoreError::Backend(sqlx::Error::Configuration(
            "an in-memory SQLite database is not supported (each connection would see its own): \
             use a file, sqlite://PATH?mode=rwc"
                .into(),
        )));
    }
    Ok(())
}

/// A `sqlite:` URL's file path and its query (`mode=rwc`…), if any.
fn sqlite_path_and_query(database_url: &str) -> (&str, Option<&str>) {
    let location = database_url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    match location.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (location, None),
    }
}

/// The file of a `sqlite:` URL, percent-decoded as sqlx decodes it (a `?`
/// or `#` in a file name is written `%3F`, `%23`).
fn sqlite_file_path(database_url: &str) -> std::path::PathBuf {
    let (path, _) = sqlite_path_and_query(database_url);
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    std::path::PathBuf::from(decoded.as_ref())
}

/// SQLite creates the database file (`mode=rwc`) but not its directory, and
/// would create it with the umask's mode (0644 usually), its WAL and
/// shared-memory files after it: the directory is made 0700 and the file
/// 0600 before SQLite opens it, and looser modes on existing ones tightened.
fn prepare_sqlite_file(database_url: &str) -> StoreResult<()> {
    let path = sqlite_file_path(database_url);
    if path.as_os_str().is_empty() {
        return Ok(());
    }
    let path = path.as_path();
    let failed = |e: anyhow::Error| StoreError::Backend(sqlx::Error::Configuration(e.into()));
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        if !dir.exists() {
            crate::secrets::files::prepare_private_dir(dir).map_err(failed)?;
        }
    }
    crate::secrets::files::prepare_database_file(path).map_err(failed)
}

/// The SQLite URL of the embedded default: one file in the data directory.
pub fn sqlite_url_for(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// A database URL fit for logs: the password, if any, replaced.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// `$1, $2, …, $count`: the placeholders of an `in (…)` list.
pub(crate) fn placeholders(count: usize) -> String {
    (1..=count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

pub(crate) fn from_json<T: DeserializeOwned>(column: &str, raw: &str) -> StoreResult<T> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

pub(crate) fn parse_enum<T>(
    column: &str,
    raw: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> StoreResult<T> {
    parse(raw).ok_or_else(|| StoreError::Corrupt(format!("{column}: unknown value {raw:?}")))
}

pub(crate) fn parse_from_str<T: FromStr>(column: &str, raw: &str) -> StoreResult<T> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{column}: unknown value {raw:?}")))
}

/// Whether a write touched a row; `NotFound` otherwise.
pub(crate) fn expect_one(result: sqlx::any::AnyQueryResult) -> StoreResult<()> {
    if result.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_store_creates_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nested/deeper/switchyard.db");
        let store = Store::connect(&sqlite_url_for(&file)).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        assert!(file.is_file());
    }

    /// A write sent to the readers fails loudly (`query_only`); the one
    /// writer's rows are what the readers then see.
    #[tokio::test]
    async fn sqlite_writes_go_through_the_one_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&sqlite_url_for(&dir.path().join("s.db")))
            .await
            .unwrap();
        let insert = "insert into tenant_settings (key, value) values ('k', 'v')";
        let refused = sqlx::query(insert).execute(&store.pool).await.unwrap_err();
        assert!(
            refused.to_string().contains("readonly"),
            "a write on a reader: {refused}"
        );
        sqlx::query(insert).execute(store.writer()).await.unwrap();
        assert_eq!(store.get_setting("k").await.unwrap().as_deref(), Some("v"));
    }

    #[tokio::test]
    async fn in_memory_sqlite_is_refused() {
        for url in ["sqlite::memory:", "sqlite://x.db?mode=memory&cache=shared"] {
            let refused = Store::connect(url).await.unwrap_err();
            assert!(
                refused
                    .to_string()
                    .contains("in-memory SQLite database is not supported"),
                "{url}: {refused}"
            );
        }
    }

    #[test]
    fn urls_are_redacted_for_logs() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/sy"),
            "postgres://app:***@db:5432/sy"
        );
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
