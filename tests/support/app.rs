//! A real Switchyard on a free port with its own database, and an HTTP
//! client to drive it.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use reqwest::dns::Resolve;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchyard::Application;
use switchyard::clock::Clock;
use switchyard::config::{BootstrapClient, Config, TlsMode};
use switchyard::outbound::SystemNames;
use switchyard::state::BackgroundTasks;

use super::{Backend, TestDatabase};

pub const BOOTSTRAP_ID: &str = "provisioner";
pub const BOOTSTRAP_SECRET: &str = "provisioner-secret-0123456789abcdef";

/// How long a dropped [`TestApp`] waits for its server to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestApp {
    pub base: String,
    pub issuer: String,
    pub http: reqwest::Client,
    pub database_url: String,
    pub dir: tempfile::TempDir,
    /// The app's data directory (`dir` unless the config named another).
    pub data_dir: std::path::PathBuf,
    /// Where the app's key-encryption key is (the data dir's file by default).
    pub key_source: switchyard::secrets::files::KeySource,
    /// The tasks the app's requests leave running (back-channel logout
    /// deliveries): `background.settled()` waits until they are done.
    pub background: BackgroundTasks,
    /// The app's clock: the system time until a test moves it forward.
    pub clock: Clock,
    /// The metrics listener's base URL (`/metrics`), when configured.
    pub metrics_base: Option<String>,
    /// The store the server itself runs on (closing it makes the database
    /// unreachable for the server).
    pub served_store: switchyard::store::Store,
    /// The served app's state, to drive a flow without its pages.
    pub served_state: switchyard::state::AppState,
    handle: axum_server::Handle,
    /// Told when the server has stopped (and closed its store).
    stopped: mpsc::Receiver<()>,
    /// The database made for this app alone, dropped after the server stops.
    own_database: Option<TestDatabase>,
}

impl Drop for TestApp {
    /// Stops the server and waits for it to close its store, so that the
    /// test's database (dropped next) has no pool left on it. It waits only
    /// where other threads run the server (a multi-thread runtime, which
    /// every test here uses): a current-thread runtime could not while this
    /// thread waits.
    fn drop(&mut self) {
        self.handle.shutdown();
        let other_threads_serve = tokio::runtime::Handle::try_current().is_ok_and(|runtime| {
            runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        });
        if other_threads_serve {
            let _ = self.stopped.recv_timeout(STOP_TIMEOUT);
        }
    }
}

pub fn test_config(dir: &Path, database_url: String) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        database_url,
        listen: "127.0.0.1:0".parse().expect("addr"),
        issuer: None,
        tenant_name: None,
        tls: TlsMode::InsecureHttp,
        demo: false,
        bootstrap_client: Some(BootstrapClient {
            client_id: BOOTSTRAP_ID.into(),
            client_secret: BOOTSTRAP_SECRET.into(),
        }),
        trust_forwarded_for: false,
        connection_limits: Default::default(),
        key_encryption_key: Default::default(),
        outbound: Default::default(),
        metrics_listen: Some("127.0.0.1:0".parse().expect("addr")),
        // No DNS pass behind a test's back: tests that want one run it.
        dns: switchyard::config::DnsConfig {
            periodic_checks: false,
            ..Default::default()
        },
    }
}

/// An app on a database of its own on `backend`.
pub async fn spawn(backend: Backend) -> TestApp {
    spawn_configured(backend, |_| {}).await
}

/// An app on a database of its own on `backend`, with the test
/// configuration changed by `configure` first.
pub async fn spawn_configured(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_resolving(backend, Arc::new(SystemNames), configure).await
}

/// [`spawn_configured`], with the host names of the app's outbound
/// requests resolved by `names` (a table mapping test names to loopback).
pub async fn spawn_resolving(
    backend: Backend,
    names: Arc<dyn Resolve>,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = TestDatabase::create(backend, dir.path()).await;
    let mut config = test_config(dir.path(), database.url().to_owned());
    configure(&mut config);
    let mut app = build_and_serve(config, dir, names).await;
    app.own_database = Some(database);
    app
}

/// An app with `config`, on a database the caller keeps (several nodes
/// may share one).
pub async fn spawn_with(config: Config, dir: tempfile::TempDir) -> TestApp {
    build_and_serve(config, dir, Arc::new(SystemNames)).await
}

async fn build_and_serve(
    config: Config,
    dir: tempfile::TempDir,
    names: Arc<dyn Resolve>,
) -> TestApp {
    let database_url = config.database_url.clone();
    let key_source = config.key_encryption_key.clone();
    let data_dir = config.data_dir.clone();
    let tls = config.tls != TlsMode::InsecureHttp;
    let clock = Clock::advanceable();
    let app = Application::build_with_clock_and_names(config, clock.clone(), names)
        .await
        .expect("build application");
    let port = app.local_addr().port();
    let issuer = app.issuer().to_owned();
    let background = app.background_tasks();
    let metrics_base = app
        .metrics_addr()
        .map(|addr| format!("http://127.0.0.1:{}", addr.port()));
    let served_store = app.store();
    let served_state = app.state();
    let handle = axum_server::Handle::new();
    let (stop, stopped) = mpsc::channel();
    let serving = handle.clone();
    tokio::spawn(async move {
        let _ = app.serve(serving).await;
        let _ = stop.send(());
    });
    let scheme = if tls { "https" } else { "http" };
    let mut http = reqwest::Client::builder();
    if tls {
        // The dev certificate, generated by the app in its data directory.
        let pem = std::fs::read(dir.path().join("tls/cert.pem")).expect("dev certificate");
        http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"));
    }
    TestApp {
        base: format!("{scheme}://127.0.0.1:{port}"),
        issuer,
        http: http.build().expect("http client"),
        database_url,
        key_source,
        data_dir,
        dir,
        background,
        clock,
        metrics_base,
        served_store,
        served_state,
        handle,
        stopped,
        own_database: None,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn management_audience(&self) -> String {
        format!("{}api/v2/", self.issuer)
    }

    /// GETs `path` and parses the body as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
            .json()
            .await
            .expect("a JSON body")
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
        self.management_token(BOOTSTRAP_ID, BOOTSTRAP_SECRET).await
    }

    /// A Management API token of a client, asserting it is issued.
    async fn management_token(&self, client_id: &str, secret: &str) -> String {
        let (status, body) = self
            .request_token(client_id, secret, &self.management_audience())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Calls the Management API; returns the status and the JSON body (Null
    /// when empty), having checked the answer against the OpenAPI document.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method.clone(), self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, text) = self.documented(&method, path, request).await;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// Sends a request to `/api/v2` (`path`, `method`) and checks its
    /// answer against the OpenAPI document (see `support::openapi`):
    /// the status and the body as text.
    pub async fn documented(
        &self,
        method: &Method,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> (StatusCode, String) {
        let response = request.send().await.expect("management request");
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let text = response.text().await.unwrap_or_default();
        super::openapi::check_response(method, path, status, content_type.as_deref(), &text);
        (status, text)
    }

    /// Sets the tenant setting `allow_organization_name_in_authentication_api`
    /// (organizations by name in `/authorize` and `client_credentials`).
    pub async fn allow_organization_names(&self, token: &str, allowed: bool) {
        let (status, body) = self
            .api(
                Method::PATCH,
                "/api/v2/tenants/settings",
                token,
                Some(serde_json::json!({"allow_organization_name_in_authentication_api": allowed})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Gives `organization_id` the `domain`, created verified by the tenant
    /// admin (`token`): the organization's enterprise logins may then carry
    /// emails of that domain (the email-domain guard).
    pub async fn verified_domain(&self, token: &str, organization_id: &str, domain: &str) {
        let (status, body) = self
            .api(
                Method::POST,
                &format!("/api/v2/organizations/{organization_id}/discovery-domains"),
                token,
                Some(serde_json::json!({"domain": domain, "status": "verified"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Registers a machine-to-machine client (`non_interactive`) called
    /// `name` with the Management API `token`; its id and secret.
    pub async fn machine_client(&self, token: &str, name: &str) -> (String, String) {
        let (status, client) = self
            .api(
                Method::POST,
                "/api/v2/clients",
                token,
                Some(serde_json::json!({"name": name, "app_type": "non_interactive"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{client}");
        let field = |name: &str| client[name].as_str().expect(name).to_owned();
        (field("client_id"), field("client_secret"))
    }

    /// A Management API token with only `scope`, of a new machine client
    /// that `admin` registers and grants.
    pub async fn token_with_scopes(&self, admin: &str, scope: &[&str]) -> String {
        let (client_id, secret) = self.machine_client(admin, "Narrow").await;
        let (status, grant) = self
            .api(
                Method::POST,
                "/api/v2/client-grants",
                admin,
                Some(serde_json::json!({
                    "client_id": client_id, "audience": self.management_audience(), "scope": scope})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{grant}");
        self.management_token(&client_id, &secret).await
    }

    /// Opens the app's store directly, with its key-encryption key (for
    /// tests that need the key ring).
    pub async fn store(&self) -> switchyard::store::Store {
        switchyard::open_store(
            &self.data_dir,
            &self.database_url,
            &self.key_source,
            self.clock.clone(),
        )
        .await
        .expect("store")
    }
}
