//! Shared by the test binaries: a real Switchyard on a free port with its own
//! database (a SQLite file, or a fresh PostgreSQL database), an HTTP client,
//! and [`on_both_backends!`], which runs a test on SQLite and on PostgreSQL.
#![allow(dead_code)]

mod app;
mod database;
pub mod dns;
pub mod oidc;
pub mod openapi;
mod store;

use std::future::Future;

#[allow(unused_imports)] // Each test binary uses its own part.
pub use app::{
    BOOTSTRAP_ID, BOOTSTRAP_SECRET, TestApp, spawn, spawn_configured, spawn_resolving, spawn_with,
    test_config,
};
#[allow(unused_imports)]
pub use database::{POSTGRES_ENV, PostgresDatabase, TestDatabase};
#[allow(unused_imports)]
pub use store::test_key;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What a test listed in [`on_both_backends!`] takes: the [`Backend`]
/// itself (an HTTP test spawns its app on it), or a
/// [`Store`](switchyard::store::Store) on a fresh database of it (the store
/// suite). `Fut` is the test's future: each kind of test asks of it what it
/// needs.
pub trait OnBackend<Fut>: Sized {
    /// Runs `test` on `backend` with what it takes, and cleans up after it,
    /// also when it panics.
    fn run(backend: Backend, test: impl FnOnce(Self) -> Fut) -> impl Future<Output = ()>;
}

/// HTTP tests take the backend and spawn their app on it (the app drops its
/// database with it).
impl<Fut: Future<Output = ()>> OnBackend<Fut> for Backend {
    async fn run(backend: Backend, test: impl FnOnce(Self) -> Fut) {
        test(backend).await;
    }
}

/// For each async test function listed, `async fn name(backend: Backend)`
/// or `async fn name(store: Store)`, a module `name` with two tests,
/// `sqlite` and `postgres`, running it on each backend (see [`OnBackend`]).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::support::OnBackend::run($crate::support::Backend::Sqlite, super::$name)
                        .await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::support::OnBackend::run(
                        $crate::support::Backend::Postgres,
                        super::$name,
                    )
                    .await;
                }
            }
        )+
    };
}
