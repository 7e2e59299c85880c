//! A test's own database: a SQLite file in its temp dir, or a fresh
//! PostgreSQL database that is dropped when the test is done with it.

use std::path::Path;
use std::time::Duration;

use super::Backend;

pub const POSTGRES_ENV: &str = "SWITCHYARD_TEST_POSTGRES_URL";

/// How long dropping a PostgreSQL test database may take before the test
/// goes on without it (the throwaway server is deleted at the end anyway).
const DROP_TIMEOUT: Duration = Duration::from_secs(30);

/// A test's database on `backend`: its URL, and for PostgreSQL the
/// database itself, dropped with this value.
pub enum TestDatabase {
    /// The file lives in the test's temp dir and goes with it.
    Sqlite(String),
    Postgres(PostgresDatabase),
}

impl TestDatabase {
    /// A SQLite file in `dir`, or a new PostgreSQL database (see [`PostgresDatabase`]).
    pub async fn create(backend: Backend, dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => TestDatabase::Sqlite(switchyard::store::sqlite_url_for(
                &dir.join("switchyard.db"),
            )),
            Backend::Postgres => TestDatabase::Postgres(PostgresDatabase::create().await),
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite(url) => url,
            TestDatabase::Postgres(database) => &database.url,
        }
    }
}

/// A fresh, private database on the PostgreSQL server named by
/// `SWITCHYARD_TEST_POSTGRES_URL` (which `scripts/test.sh` starts). Without
/// that variable the PostgreSQL variants fail: they must never pass by skipping.
///
/// Dropping this value drops the database (`with (force)`, so connections
/// still open to it are closed), also when the test panicked. Close the
/// pools using it first where you can: the store suite does, and a
/// [`TestApp`](super::TestApp) waits for its server to stop.
pub struct PostgresDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PostgresDatabase {
    pub async fn create() -> Self {
        use sqlx::{Connection as _, Executor as _};
        let admin_url = match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => panic!(
                "{POSTGRES_ENV} is not set: the PostgreSQL variants of the tests need a server. \
                 Run `scripts/test.sh`, or start one with \
                 `source scripts/postgres.sh && pg_start && export {POSTGRES_ENV}=$PG_URL` \
                 (or point {POSTGRES_ENV} at postgres://USER@HOST:PORT/DB of a server where \
                 USER may create databases)."
            ),
        };
        let name = format!(
            "sy_{}",
            switchyard::model::ids::random_alphanumeric(20).to_lowercase()
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {POSTGRES_ENV} ({admin_url}): {e}"));
        admin
            .execute(format!("create database {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        admin.close().await.ok();
        let mut url = url::Url::parse(&admin_url)
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV} is not a URL ({admin_url}): {e}"));
        url.set_path(&format!("/{name}"));
        PostgresDatabase {
            url: url.to_string(),
            admin_url,
            name,
        }
    }
}

impl Drop for PostgresDatabase {
    /// Drop cannot await, and may run while the test's runtime is unwinding
    /// from a panic: the database is dropped from a thread of its own with
    /// a runtime of its own. A failure is reported, never raised (a panic
    /// while unwinding would abort the whole test binary).
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropping = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                tokio::time::timeout(DROP_TIMEOUT, drop_database(&admin_url, &name))
                    .await
                    .map_err(|_| format!("no answer within {DROP_TIMEOUT:?}"))?
            })
        });
        match dropping.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), String> {
    use sqlx::{Connection as _, Executor as _};
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(|e| e.to_string())?;
    let dropped = admin
        .execute(format!("drop database if exists {name} with (force)").as_str())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    admin.close().await.ok();
    dropped
}
