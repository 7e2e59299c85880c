//! Persistence. One [`Store`] over sqlx's `Any` driver: SQLite (one file, WAL)
//! is the embedded default, PostgreSQL the multi-node backend. Both run the
//! same queries (`$1` placeholders work on both) against schemas kept in step
//! in `migrations/{sqlite,postgres}`. Every uniqueness rule is a named database
//! constraint, surfaced as [`StoreError::Conflict`] with that name.

mod clients;
mod codes;
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
mod throttle;
mod upstream;
pub mod users;

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
use std::time::Duration;

use serde::de::DeserializeOwned;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use crate::clock::Clock;
use crate::secrets::{KeyEncryptionKey, SealError};

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
    pool: AnyPool,
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
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; the busy
                        // timeout makes concurrent writers wait instead of failing.
                        conn.execute("pragma journal_mode = wal").await?;
                        conn.execute("pragma synchronous = normal").await?;
                        conn.execute("pragma busy_timeout = 5000").await?;
                        conn.execute("pragma foreign_keys = on").await?;
                        // A deleted or rewritten row's bytes are zeroed in its
                        // page (no extra I/O): a secret sealed in place, or a
                        // deleted token hash, leaves no copy in free space.
                        conn.execute("pragma secure_delete = fast").await?;
                    }
                    Ok(())
                })
            });
        if backend == Backend::Sqlite {
            prepare_sqlite_file(database_url)?;
        }
        let pool = options.connect(database_url).await?;
        migrate(&pool, backend).await?;
        Ok(Store {
            pool,
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
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins the transaction of a read-modify-write (the `update_*_with`
    /// methods, after Dex's storage updaters): the row it reads cannot change
    /// before it writes. SQLite takes the database's write lock at once
    /// (`begin immediate`: writers queue on the busy timeout, none reads a
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
    }

    /// Whether the database answers a trivial query within `timeout`
    /// (readiness: `/readyz`).
    pub async fn answers(&self, timeout: Duration) -> bool {
        let query = sqlx::query("select 1").execute(&self.pool);
        matches!(tokio::time::timeout(timeout, query).await, Ok(Ok(_)))
    }

    /// The pool's connections, for the metrics.
    pub fn pool_usage(&self) -> PoolUsage {
        PoolUsage {
            open: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
        }
    }
}

/// The database pool's connections at one moment.
#[derive(Debug, Clone, Copy)]
pub struct PoolUsage {
    pub open: u32,
    pub idle: usize,
    pub max: u32,
}

impl PoolUsage {
    pub fn in_use(&self) -> usize {
        (self.open as usize).saturating_sub(self.idle)
    }
}

/// SQLite creates the database file (`mode=rwc`) but not its directory, and
/// would create it with the umask's mode (0644 usually), its WAL and
/// shared-memory files after it: the directory is made 0700 and the file
/// 0600 before SQLite opens it, and looser modes on existing ones tightened.
fn prepare_sqlite_file(database_url: &str) -> StoreResult<()> {
    let path = database_url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    let path = std::path::Path::new(path);
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

/// Reads a boolean column: PostgreSQL stores `boolean`, SQLite `integer` 0/1.
pub(crate) fn get_bool(row: &sqlx::any::AnyRow, column: &str) -> StoreResult<bool> {
    use sqlx::Row;
    match row.try_get::<bool, _>(column) {
        Ok(v) => Ok(v),
        Err(_) => Ok(row.try_get::<i64, _>(column)? != 0),
    }
}

pub(crate) fn get_optional_bool(
    row: &sqlx::any::AnyRow,
    column: &str,
) -> StoreResult<Option<bool>> {
    use sqlx::Row;
    match row.try_get::<Option<bool>, _>(column) {
        Ok(v) => Ok(v),
        Err(_) => Ok(row.try_get::<Option<i64>, _>(column)?.map(|v| v != 0)),
    }
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

    #[test]
    fn urls_are_redacted_for_logs() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/sy"),
            "postgres://app:***@db:5432/sy"
        );
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
