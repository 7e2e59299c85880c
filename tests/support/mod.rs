//! Shared by the test binaries: a real Switchyard on a free port with its own
//! database (a SQLite file, or a fresh PostgreSQL database), and an HTTP client.
#![allow(dead_code)]

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchyard::Application;
use switchyard::config::{BootstrapClient, Config, TlsMode};

pub const BOOTSTRAP_ID: &str = "provisioner";
pub const BOOTSTRAP_SECRET: &str = "provisioner-secret-0123456789abcdef";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database URL for one test: a SQLite file in `dir`, or a new PostgreSQL
/// database on the server named by `SWITCHYARD_TEST_POSTGRES_URL`. Without
/// that variable the PostgreSQL variant fails: it must never pass by skipping.
pub async fn database_url(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Sqlite => switchyard::store::sqlite_url_for(&dir.join("switchyard.db")),
        Backend::Postgres => {
            use sqlx::Connection;
            let admin = std::env::var("SWITCHYARD_TEST_POSTGRES_URL").expect(
                "SWITCHYARD_TEST_POSTGRES_URL is not set: run scripts/test.sh (it starts PostgreSQL) or point it at a server",
            );
            let name = format!(
                "sy_{}",
                switchyard::model::ids::random_alphanumeric(16).to_lowercase()
            );
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("cannot connect to the test PostgreSQL server");
            sqlx::Executor::execute(&mut conn, format!("create database {name}").as_str())
                .await
                .expect("create database");
            let mut url = url::Url::parse(&admin).expect("postgres url");
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub issuer: String,
    pub http: reqwest::Client,
    pub database_url: String,
    pub dir: tempfile::TempDir,
    handle: axum_server::Handle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

pub fn test_config(dir: &Path, database_url: String) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        database_url,
        listen: "127.0.0.1:0".parse().expect("addr"),
        issuer: None,
        tls: TlsMode::InsecureHttp,
        demo: false,
        bootstrap_client: Some(BootstrapClient {
            client_id: BOOTSTRAP_ID.into(),
            client_secret: BOOTSTRAP_SECRET.into(),
        }),
    }
}

pub async fn spawn(backend: Backend) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = database_url(backend, dir.path()).await;
    spawn_with(test_config(dir.path(), url), dir).await
}

pub async fn spawn_with(config: Config, dir: tempfile::TempDir) -> TestApp {
    let database_url = config.database_url.clone();
    let tls = config.tls != TlsMode::InsecureHttp;
    let app = Application::build(config).await.expect("build application");
    let port = app.local_addr().port();
    let issuer = app.issuer().to_owned();
    let handle = axum_server::Handle::new();
    tokio::spawn(app.serve(handle.clone()));
    let scheme = if tls { "https" } else { "http" };
    TestApp {
        base: format!("{scheme}://127.0.0.1:{port}"),
        issuer,
        http: reqwest::Client::new(),
        database_url,
        dir,
        handle,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn management_audience(&self) -> String {
        format!("{}api/v2/", self.issuer)
    }

    /// A client-credentials token request with `client_secret_post`.
    pub async fn request_token(
        &self,
        client_id: &str,
        secret: &str,
        audience: &str,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("audience", audience),
            ])
            .send()
            .await
            .expect("token request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A Management API token with every scope (the bootstrap client's).
    pub async fn admin_token(&self) -> String {
        let (status, body) = self
            .request_token(BOOTSTRAP_ID, BOOTSTRAP_SECRET, &self.management_audience())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Calls the Management API; returns the status and the JSON body (Null when empty).
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("management request");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// Opens the app's store directly (for tests that need the key ring).
    pub async fn store(&self) -> switchyard::store::Store {
        switchyard::store::Store::connect(&self.database_url)
            .await
            .expect("store")
    }
}

/// Generates `sqlite` and `postgres` variants of async test functions
/// `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await;
                }
            }
        )*
    };
}
