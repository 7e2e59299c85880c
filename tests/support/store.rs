//! The store suite's fixture: a [`Store`] on a fresh, private database,
//! closed and cleaned up after the test.

use std::future::Future;

use switchyard::secrets::KeyEncryptionKey;
use switchyard::store::{self, Store};

use super::{Backend, OnBackend, PostgresDatabase};

/// A new key-encryption key for a test's store.
pub fn test_key() -> KeyEncryptionKey {
    KeyEncryptionKey::generate()
        .expect("generating a key-encryption key")
        .0
}

/// A store on a fresh, private database, and what it takes to clean it up.
struct TestDb {
    store: Store,
    /// Keeps the SQLite file alive until the test is done.
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: dropped after the test.
    postgres: Option<PostgresDatabase>,
}

impl TestDb {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("creating a temp dir for the SQLite database");
        let url = store::sqlite_url_for(&dir.path().join("switchyard.db"));
        let store = Store::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("opening SQLite store at {url}: {e}"))
            .with_key_encryption_key(test_key());
        assert_eq!(store.backend(), store::Backend::Sqlite);
        TestDb {
            store,
            _dir: Some(dir),
            postgres: None,
        }
    }

    async fn postgres() -> Self {
        let database = PostgresDatabase::create().await;
        let store = Store::connect(&database.url)
            .await
            .unwrap_or_else(|e| panic!("opening PostgreSQL store at {}: {e}", database.url))
            .with_key_encryption_key(test_key());
        assert_eq!(store.backend(), store::Backend::Postgres);
        TestDb {
            store,
            _dir: None,
            postgres: Some(database),
        }
    }

    /// Runs `test` on this database (in its own task, so that the cleanup
    /// runs even when it panics), cleans up, then re-raises its panic.
    async fn run<F, Fut>(self, test: F)
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let outcome = tokio::spawn(test(self.store.clone())).await;
        self.store.close().await;
        drop(self.postgres);
        if let Err(e) = outcome {
            match e.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(e) => panic!("test task failed: {e}"),
            }
        }
    }
}

/// Store tests take a [`Store`] on a fresh database of the backend; they run
/// in a task of their own, so their future is `Send`.
impl<Fut: Future<Output = ()> + Send + 'static> OnBackend<Fut> for Store {
    async fn run(backend: Backend, test: impl FnOnce(Self) -> Fut) {
        let database = match backend {
            Backend::Sqlite => TestDb::sqlite().await,
            Backend::Postgres => TestDb::postgres().await,
        };
        database.run(test).await;
    }
}
