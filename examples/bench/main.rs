//! Side-by-side benchmark, run by hand: Switchyard and node-oidc-provider
//! (OpenID-certified, Node) configured alike on this machine, in one run.
//!
//! ```sh
//! bash scripts/setup.sh test                  # once: node_modules of tests/peers
//! cargo run --release --example bench         # ≈ 1 minute
//! cargo run --release --example bench -- --help
//! ```
//!
//! What it measures, each scenario for `--duration` seconds after a
//! `--warmup`, with `--concurrency` workers each on its own keep-alive
//! connection (the load generator shares the machine's cores with the server):
//! - the JWT signing limit: `KeyRing::sign` (what the token endpoint calls) on
//!   one thread per core, nothing else running, for the claims of a code
//!   exchange (an access token and an ID token): signatures per second, and
//!   half that as the exchanges per second the machine could sign at most;
//! - discovery and JWKS: `GET` requests per second on each server;
//! - the grants users pay for (`grants.rs`), each with RS256 and ES256:
//!   `client-credentials`, `refresh` (rotating), `code-preminted` (the token
//!   request alone), `code` (`GET /authorize` through an SSO session plus the
//!   token request, signing an ID token and a JWT access token) and
//!   `password-login` (the whole browser login, argon2id included), each with
//!   the server's CPU per operation and its peak RSS (`usage.rs`);
//! - the same grants with Switchyard on PostgreSQL (`--database-url` or
//!   `--postgres`), with one node and with `--nodes` (`deploy.rs`); one
//!   table per store and node count, oidc-provider's side measured once.
//!
//! - Switchyard's memory under password hashing (`memory.rs`): peak RSS
//!   while 90 sign-ups from one address are posted at once, and during a
//!   sustained storm of password logins from many addresses.
//!
//! - slow and idle connections (`connections.rs`): discovery's rate while
//!   hundreds of idle and slowloris connections are held, and when the
//!   server closes them.
//!
//! - a login through an upstream IdP (`federated.rs`): an enterprise OIDC
//!   connection whose IdP is another oidc-provider, against the same login
//!   with a password; p50/p99 of each and the difference.
//!
//! Both servers speak plain HTTP on 127.0.0.1, so TLS costs nothing to either.
//! Switchyard runs as a child process (this binary again, `serve-switchyard`:
//! `Application` as `switchyard serve --insecure-http` builds it, log level
//! `warn`, a fresh SQLite file); oidc-provider runs from
//! `tests/peers/bench_oidc_provider.mjs`, whose header says how it is set up
//! alike, and keeps its state in memory (no database).

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand, ValueEnum};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use deploy::Deployment;

use switchyard::Application;
use switchyard::config::{BootstrapClient, Config, TlsMode};
use switchyard::flows::issue::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience, IdTokenClaims};
use switchyard::keys::KeyRing;
use switchyard::model::client::SigningAlg;

mod connections;
mod deploy;
mod federated;
mod grants;
mod memory;
mod scale;
mod usage;

const REDIRECT_URI: &str = "http://localhost:3000/callback";
const BOOTSTRAP_ID: &str = "benchBootstrap0123456789abcdefgh";
const BOOTSTRAP_SECRET: &str = "bench-bootstrap-secret-0123456789";
const USER_EMAIL: &str = "bench@switchyard.example";
const USER_PASSWORD: &str = "bench-password-0123";
const CONNECTION: &str = "bench-users";
/// The bench client, created in Switchyard and registered alike in oidc-provider.
#[derive(Clone)]
struct ClientCredentials {
    id: Arc<str>,
    secret: Arc<str>,
}

/// RFC 7636 appendix B: every iteration sends the same challenge and verifier.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[derive(Parser)]
#[command(about = "Switchyard vs node-oidc-provider, side by side on this machine")]
struct Cli {
    #[command(subcommand)]
    internal: Option<Internal>,
    /// Seconds measured per scenario.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of load before each measurement starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Concurrent workers (one keep-alive connection each) per HTTP scenario.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Scenarios to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,
    /// Rounds per scenario, Switchyard and oidc-provider taking turns; each
    /// figure is the best round's (other work on a shared machine only slows).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Leave oidc-provider out (Switchyard's figures and the signing limit only).
    #[arg(long)]
    no_peer: bool,
    /// Sign-ups posted at once in the `signups` scenario (from one address).
    #[arg(long, default_value_t = 90)]
    signups: usize,
    /// Seconds of the `storm` scenario (its workers: `--concurrency`).
    #[arg(long, default_value_t = 20.0)]
    storm_seconds: f64,
    /// Logins of each kind measured in the `federated` scenario.
    #[arg(long, default_value_t = 100)]
    logins: usize,
    /// Idle connections, and as many slowloris ones, in the `connections` scenario.
    #[arg(long, default_value_t = 250)]
    attack_connections: usize,
    /// Organizations, each with a verified domain, in the `scale` scenario.
    #[arg(long, default_value_t = 1_000_000)]
    organizations: usize,
    /// The organizations the `scale` scenario's many-organization user is a member of.
    #[arg(long, default_value_t = 10_000)]
    memberships: usize,
    /// An empty PostgreSQL database for the `scale` scenario (default: a SQLite file).
    #[arg(long)]
    scale_database_url: Option<String>,
    /// A PostgreSQL server (any database on it) for Switchyard's side: after
    /// the SQLite table, the grant scenarios again on a fresh database
    /// created there (and dropped after).
    #[arg(long, value_name = "postgres://…")]
    database_url: Option<String>,
    /// Start a throwaway PostgreSQL server (`scripts/postgres.sh`) for the
    /// PostgreSQL tables, and stop it after.
    #[arg(long, conflicts_with = "database_url")]
    postgres: bool,
    /// Switchyard nodes on the PostgreSQL database (its workers spread over
    /// them): with 2, the grant scenarios run with one node and then with two.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// The Node.js executable.
    #[arg(long, default_value = "node")]
    node: PathBuf,
}

#[derive(Subcommand)]
enum Internal {
    /// (internal) Serve Switchyard over plain HTTP until stdin closes.
    #[command(hide = true)]
    ServeSwitchyard {
        #[arg(long)]
        data_dir: PathBuf,
        /// The store (default: a SQLite file in the data directory).
        #[arg(long)]
        database_url: Option<String>,
        /// The issuer (default: this node's own address), shared by nodes.
        #[arg(long)]
        issuer: Option<String>,
        /// The key-encryption key's file (default: in the data directory),
        /// shared by nodes.
        #[arg(long)]
        kek_file: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Sign,
    Discovery,
    Jwks,
    /// `grant_type=client_credentials` for an API.
    ClientCredentials,
    /// `grant_type=refresh_token`, rotating.
    Refresh,
    /// The token request alone, for codes minted before the window.
    CodePreminted,
    /// `GET /authorize` through the SSO session plus the token request.
    Code,
    /// The full browser login with a password, to the code redeemed.
    PasswordLogin,
    /// Peak RSS under a burst of parallel sign-ups from one address.
    Signups,
    /// Peak RSS under a sustained storm of password logins.
    Storm,
    /// Idle RSS of a fresh server after 1,000 users created through the Management API.
    IdleUsers,
    /// argon2id alone on every core: the ceiling of password logins.
    Argon2,
    /// Discovery while hundreds of idle and slowloris connections are held.
    Connections,
    /// A login through an upstream IdP against one with a password.
    Federated,
    /// Home-realm discovery at a million organizations (run only when named).
    Scale,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Internal::ServeSwitchyard {
        data_dir,
        database_url,
        issuer,
        kek_file,
    }) = cli.internal
    {
        let node = NodeOptions {
            database_url,
            issuer,
            kek_file,
        };
        return serve_switchyard(data_dir, node).await;
    }
    run(&cli).await
}

// ---------------------------------------------------------------- the servers

/// Where a Switchyard node keeps its state, and what nodes share.
#[derive(Clone, Default)]
struct NodeOptions {
    database_url: Option<String>,
    issuer: Option<String>,
    kek_file: Option<PathBuf>,
}

/// The child-process side: Switchyard as `switchyard serve --insecure-http`
/// would build it, announcing its issuer and its own address on stdout,
/// stopping when stdin closes.
async fn serve_switchyard(data_dir: PathBuf, node: NodeOptions) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BENCH_SWITCHYARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // The issuer names 127.0.0.1 (not localhost) so that nothing resolves
    // names in the loop; the port is found free first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}/");
    let config = Config {
        database_url: node
            .database_url
            .unwrap_or_else(|| switchyard::store::sqlite_url_for(&data_dir.join("switchyard.db"))),
        data_dir,
        listen: ([127, 0, 0, 1], port).into(),
        issuer: Some(node.issuer.unwrap_or_else(|| base.clone())),
        tenant_name: None,
        tls: TlsMode::InsecureHttp,
        demo: false,
        trust_forwarded_for: false,
        bootstrap_client: Some(BootstrapClient {
            client_id: BOOTSTRAP_ID.into(),
            client_secret: BOOTSTRAP_SECRET.into(),
        }),
        // The load generator opens more connections than a browser would.
        connection_limits: switchyard::transport::ConnectionLimits {
            max_connections: 10_000,
            ..Default::default()
        },
        key_encryption_key: node
            .kek_file
            .map(switchyard::secrets::files::KeySource::File)
            .unwrap_or_default(),
        dns: Default::default(),
        outbound: Default::default(),
        metrics_listen: None,
    };
    let app = Application::build(config).await?;
    println!("{}", json!({ "issuer": app.issuer(), "base": base }));
    std::io::stdout().flush()?;
    let handle = axum_server::Handle::new();
    let stop = handle.clone();
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
        stop.shutdown();
    });
    app.serve(handle).await
}

/// A server process of the bench: killed when dropped, and stopping by itself
/// when the bench dies (its stdin closes).
struct Server {
    issuer: String,
    /// Where this process listens (a node's own address; else the issuer).
    base: String,
    /// For reading the server's CPU time from `/proc`.
    pid: Option<u32>,
    _child: Child,
}

/// Starts `command`, whose first stdout line is `{"issuer": …}`.
async fn start_server(mut command: Command, what: &str) -> anyhow::Result<Server> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    // Passed on, but for oidc-provider's start-up warnings (Node 20 is not
    // its preferred runtime; the in-memory adapter is what we compare with).
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if !line.starts_with("oidc-provider WARNING") {
                    eprintln!("{line}");
                }
            }
        });
    }
    let stdout = child.stdout.take().context("child stdout")?;
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .with_context(|| format!("{what} did not start within 30 s"))??;
    let announced: Value = serde_json::from_str(line.trim())
        .with_context(|| format!("{what} printed {line:?} instead of its issuer"))?;
    let issuer = announced["issuer"]
        .as_str()
        .context("no issuer announced")?
        .to_owned();
    let base = announced["base"].as_str().unwrap_or(&issuer).to_owned();
    Ok(Server {
        issuer,
        base,
        pid: child.id(),
        _child: child,
    })
}

async fn start_switchyard(data_dir: &Path, node: &NodeOptions) -> anyhow::Result<Server> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("serve-switchyard")
        .arg("--data-dir")
        .arg(data_dir);
    if let Some(url) = &node.database_url {
        command.args(["--database-url", url]);
    }
    if let Some(issuer) = &node.issuer {
        command.args(["--issuer", issuer]);
    }
    if let Some(file) = &node.kek_file {
        command.arg("--kek-file").arg(file);
    }
    start_server(command, "Switchyard").await
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

async fn start_oidc_provider(
    node: &Path,
    alg: SigningAlg,
    client: &ClientCredentials,
    redirect_uri: &str,
) -> anyhow::Result<Server> {
    start_oidc_provider_with(node, alg, client, redirect_uri, false).await
}

/// `dev_interactions`: oidc-provider's own login form instead of logins
/// completed at once (the `password-login` scenario).
async fn start_oidc_provider_with(
    node: &Path,
    alg: SigningAlg,
    client: &ClientCredentials,
    redirect_uri: &str,
    dev_interactions: bool,
) -> anyhow::Result<Server> {
    let script = peers_dir().join("bench_oidc_provider.mjs");
    if !peers_dir().join("node_modules/oidc-provider").is_dir() {
        bail!("tests/peers/node_modules is missing: run `bash scripts/setup.sh test` first");
    }
    let mut command = Command::new(node);
    command
        .arg(script)
        .args([alg.as_str(), &client.id, &client.secret, redirect_uri]);
    if dev_interactions {
        command.arg("dev-interactions");
    }
    start_server(command, "oidc-provider").await
}

fn oidc_provider_version() -> String {
    std::fs::read_to_string(peers_dir().join("node_modules/oidc-provider/package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|package| package["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// The endpoints a relying party reads from discovery.
struct Endpoints {
    discovery: String,
    jwks: String,
    authorization: String,
    token: String,
}

/// The endpoints of `server` at its own address (a node's, for every node
/// announces the issuer the nodes share).
async fn discover_server(http: &reqwest::Client, server: &Server) -> anyhow::Result<Endpoints> {
    let endpoints = discover(http, &server.base).await?;
    let (issuer, base) = (
        server.issuer.trim_end_matches('/'),
        server.base.trim_end_matches('/'),
    );
    let rebase = |url: String| match url.strip_prefix(issuer) {
        Some(path) => format!("{base}{path}"),
        None => url,
    };
    Ok(Endpoints {
        discovery: endpoints.discovery,
        jwks: rebase(endpoints.jwks),
        authorization: rebase(endpoints.authorization),
        token: rebase(endpoints.token),
    })
}

async fn discover(http: &reqwest::Client, issuer: &str) -> anyhow::Result<Endpoints> {
    let discovery = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let metadata: Value = http
        .get(&discovery)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let field = |name: &str| {
        metadata[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("discovery of {issuer} lacks {name}"))
    };
    Ok(Endpoints {
        jwks: field("jwks_uri")?,
        authorization: field("authorization_endpoint")?,
        token: field("token_endpoint")?,
        discovery,
    })
}

// ------------------------------------------------------- Switchyard's tenant

/// Creates, through the Management API, the client (confidential,
/// `client_secret_basic`), a database connection and its user; returns the
/// client and a Management API token.
async fn switchyard_tenant(
    http: &reqwest::Client,
    issuer: &str,
) -> anyhow::Result<(ClientCredentials, String)> {
    let base = issuer.trim_end_matches('/');
    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", BOOTSTRAP_ID),
            ("client_secret", BOOTSTRAP_SECRET),
            ("audience", &format!("{base}/api/v2/")),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .context("no Management API token")?
        .to_owned();
    let client = management(
        http,
        &token,
        reqwest::Method::POST,
        &format!("{base}/api/v2/clients"),
        json!({
            "name": "Bench web app",
            "app_type": "regular_web",
            "callbacks": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
            "refresh_token": {"rotation_type": "rotating", "expiration_type": "expiring"},
        }),
    )
    .await?;
    let client_id = client["client_id"].as_str().context("no client_id")?;
    let secret = client["client_secret"]
        .as_str()
        .context("no client_secret")?;
    management(
        http,
        &token,
        reqwest::Method::POST,
        &format!("{base}/api/v2/connections"),
        json!({"name": CONNECTION, "strategy": "auth0", "enabled_clients": [client_id]}),
    )
    .await?;
    management(
        http,
        &token,
        reqwest::Method::POST,
        &format!("{base}/api/v2/users"),
        json!({"connection": CONNECTION, "email": USER_EMAIL, "password": USER_PASSWORD}),
    )
    .await?;
    let credentials = ClientCredentials {
        id: client_id.into(),
        secret: secret.into(),
    };
    Ok((credentials, token))
}

async fn management(
    http: &reqwest::Client,
    token: &str,
    method: reqwest::Method,
    url: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = http
        .request(method, url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{url}: {status} {body}");
    }
    Ok(body)
}

/// Creates the API of the `client-credentials` scenario and grants the bench
/// client a token for it; the API's id.
async fn switchyard_api(
    http: &reqwest::Client,
    issuer: &str,
    token: &str,
    client_id: &str,
) -> anyhow::Result<String> {
    let base = issuer.trim_end_matches('/');
    let api = management(
        http,
        token,
        reqwest::Method::POST,
        &format!("{base}/api/v2/resource-servers"),
        json!({"name": "Bench API", "identifier": grants::API}),
    )
    .await?;
    management(
        http,
        token,
        reqwest::Method::POST,
        &format!("{base}/api/v2/client-grants"),
        json!({"client_id": client_id, "audience": grants::API, "scope": []}),
    )
    .await?;
    api["id"]
        .as_str()
        .map(str::to_owned)
        .context("no id of the bench API")
}

/// Sets the algorithm the bench client's tokens are signed with.
async fn switchyard_set_alg(
    http: &reqwest::Client,
    issuer: &str,
    token: &str,
    client_id: &str,
    alg: SigningAlg,
) -> anyhow::Result<()> {
    let url = format!(
        "{}/api/v2/clients/{client_id}",
        issuer.trim_end_matches('/')
    );
    management(
        http,
        token,
        reqwest::Method::PATCH,
        &url,
        json!({"jwt_configuration": {"alg": alg.as_str()}}),
    )
    .await?;
    Ok(())
}

// ------------------------------------------------------------ browser steps

fn browser() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .build()?)
}

fn authorize_url(endpoint: &str, client_id: &str) -> anyhow::Result<String> {
    authorize_url_with(endpoint, client_id, "", None)
}

/// The authorization request, its scope `openid email` plus `more_scope`,
/// with `prompt` if given.
fn authorize_url_with(
    endpoint: &str,
    client_id: &str,
    more_scope: &str,
    prompt: Option<&str>,
) -> anyhow::Result<String> {
    let mut url = url::Url::parse(endpoint)?;
    let scope = format!("openid email {more_scope}");
    if let Some(prompt) = prompt {
        url.query_pairs_mut().append_pair("prompt", prompt);
    }
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("response_type", "code")
        .append_pair("scope", scope.trim())
        .append_pair("state", "bench-state")
        .append_pair("nonce", "bench-nonce")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    Ok(url.into())
}

/// The `Location` of a redirect, resolved against the request URL.
fn redirect_target(response: &reqwest::Response) -> anyhow::Result<url::Url> {
    if !response.status().is_redirection() {
        bail!(
            "expected a redirect from {}, got {}",
            response.url(),
            response.status()
        );
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .context("redirect without Location")?
        .to_str()?;
    Ok(response.url().join(location)?)
}

fn code_of(callback: &url::Url) -> anyhow::Result<String> {
    if !callback.as_str().starts_with(REDIRECT_URI) {
        bail!("redirected to {callback}, not to the client");
    }
    callback
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .with_context(|| format!("no code in {callback}"))
}

/// `GET /authorize` with the session cookie: must answer with the code at once.
async fn code_with_session(browser: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let response = browser.get(url).send().await?;
    code_of(&redirect_target(&response)?)
}

/// Value of the hidden input `name` in a login page.
fn hidden(html: &str, name: &str) -> anyhow::Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .with_context(|| format!("no {name} field in the login page"))?
        + marker.len();
    html.get(start..)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
        .context("unterminated field")
}

/// Logs the bench user in through Switchyard's identifier-first pages.
async fn switchyard_log_in(browser: &reqwest::Client, authorize: &str) -> anyhow::Result<()> {
    let answer = password_login(browser, authorize, USER_EMAIL).await?;
    code_of(&redirect_target(&answer).context("password step")?)?;
    Ok(())
}

/// The identifier-first login of `email` with the bench password: the
/// answer to the password step (a redirect to the client with a code, or
/// a refusal), or `/authorize`'s when it refuses to start (429).
async fn password_login(
    browser: &reqwest::Client,
    authorize: &str,
    email: &str,
) -> anyhow::Result<reqwest::Response> {
    let start = browser.get(authorize).send().await?;
    if start.status() == StatusCode::TOO_MANY_REQUESTS {
        return Ok(start);
    }
    let page_url = redirect_target(&start)?;
    let page = browser.get(page_url.clone()).send().await?.text().await?;
    let (state, csrf) = (hidden(&page, "state")?, hidden(&page, "csrf")?);
    let identifier = browser
        .post(page_url.join("/u/login")?)
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("email", email),
        ])
        .send()
        .await?;
    redirect_target(&identifier).context("identifier step")?;
    Ok(browser
        .post(page_url.join("/u/login/password")?)
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("password", USER_PASSWORD),
        ])
        .send()
        .await?)
}

/// Redeems `code` (`client_secret_basic`, PKCE); checks both tokens are JWTs
/// signed with `alg`; the token response.
async fn redeem(
    http: &reqwest::Client,
    token_endpoint: &str,
    client: &ClientCredentials,
    code: &str,
    alg: SigningAlg,
) -> anyhow::Result<Value> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ];
    let body = grants::token_request(http, token_endpoint, client, &form).await?;
    grants::check_signed(&body, &["id_token", "access_token"], alg)?;
    Ok(body)
}

// ------------------------------------------------------------- measurement

#[derive(Clone, Copy)]
struct Timing {
    warmup: Duration,
    duration: Duration,
    concurrency: usize,
}

#[derive(Default, Clone)]
struct Measurement {
    ok: u64,
    /// Successful operations including warm-up (for CPU per operation).
    completed: u64,
    /// The server's CPU seconds and peak RSS over the whole drive, when read.
    usage: usage::Usage,
    errors: u64,
    first_error: Option<String>,
    seconds: f64,
    latencies_us: Vec<u32>,
}

impl Measurement {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.sort_unstable();
        let rank = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us.get(rank).copied().unwrap_or(0)) / 1000.0
    }

    fn merge(&mut self, other: Measurement) {
        self.ok += other.ok;
        self.completed += other.completed;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies_us.extend(other.latencies_us);
    }
}

/// Runs `op` in a loop on every worker; counts what completes inside the
/// measured window (after the warm-up).
async fn drive<W, F, Fut>(workers: Vec<W>, op: F, timing: Timing) -> anyhow::Result<Measurement>
where
    W: Send + 'static,
    F: Fn(W) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = (W, anyhow::Result<()>)> + Send,
{
    let start = Instant::now();
    let measure_from = start + timing.warmup;
    let end = measure_from + timing.duration;
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut tally = Measurement::default();
                while Instant::now() < end {
                    let began = Instant::now();
                    let (back, result) = op(worker).await;
                    worker = back;
                    let done = Instant::now();
                    if result.is_ok() {
                        tally.completed += 1;
                    }
                    if done < measure_from || done > end {
                        continue;
                    }
                    match result {
                        Ok(()) => {
                            tally.ok += 1;
                            let micros = (done - began).as_micros();
                            tally
                                .latencies_us
                                .push(u32::try_from(micros).unwrap_or(u32::MAX));
                        }
                        Err(error) => {
                            tally.errors += 1;
                            tally
                                .first_error
                                .get_or_insert_with(|| format!("{error:#}"));
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut total = Measurement {
        seconds: timing.duration.as_secs_f64(),
        ..Measurement::default()
    };
    for task in tasks {
        total.merge(task.await?);
    }
    Ok(total)
}

/// `GET url` → 200 with a body, in a loop.
async fn measure_get(url: &str, timing: Timing) -> anyhow::Result<Measurement> {
    let workers = (0..timing.concurrency)
        .map(|_| browser().map(|http| (http, url.to_owned())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    drive(
        workers,
        |(http, url): (reqwest::Client, String)| async move {
            let result = async {
                let response = http.get(&url).send().await?;
                if response.status() != StatusCode::OK {
                    bail!("{url}: {}", response.status());
                }
                response.bytes().await?;
                Ok(())
            }
            .await;
            ((http, url), result)
        },
        timing,
    )
    .await
}

/// [`measure_get`], reading the server's CPU and peak RSS meanwhile.
async fn watched_get(url: &str, pid: Option<u32>, timing: Timing) -> anyhow::Result<Measurement> {
    let pids: Vec<u32> = pid.into_iter().collect();
    let watch = usage::Watch::start(&pids);
    let mut measurement = measure_get(url, timing).await?;
    measurement.usage = watch.finish().await;
    Ok(measurement)
}

/// The signing limit: `KeyRing::sign` of a code exchange's two tokens on one
/// thread per core for `duration`; signatures per second.
fn signing_limit(ring: &KeyRing, alg: SigningAlg, duration: Duration) -> anyhow::Result<f64> {
    let issuer = "http://127.0.0.1:8443/".to_owned();
    let access = AccessTokenClaims {
        iss: issuer.clone(),
        sub: "usr_0123456789abcdefghijklmn".into(),
        aud: Audience::One(format!("{issuer}userinfo")),
        iat: 1_800_000_000,
        exp: 1_800_003_600,
        jti: "0123456789abcdefghijkl".into(),
        client_id: "bench-client".into(),
        scope: "openid email".into(),
        gty: None,
        org_id: None,
        org_name: None,
        roles: None,
        permissions: None,
    };
    let mut profile = serde_json::Map::new();
    profile.insert("email".into(), USER_EMAIL.into());
    profile.insert("email_verified".into(), true.into());
    let id = IdTokenClaims {
        iss: issuer,
        sub: access.sub.clone(),
        aud: "bench-client".into(),
        exp: 1_800_003_600,
        iat: 1_800_000_000,
        auth_time: 1_800_000_000,
        nonce: Some("bench-nonce".into()),
        at_hash: "77QmUPtjPfzWtF2AnpK9RQ".into(),
        sid: Some("ses_0123456789abcdefghijklmn".into()),
        org_id: None,
        org_name: None,
        profile,
    };
    let (signed, _) = on_every_core(duration, |end| {
        let mut signed = 0u64;
        while Instant::now() < end {
            ring.sign(alg, ACCESS_TOKEN_TYP, &access)?;
            ring.sign(alg, "JWT", &id)?;
            signed += 2;
        }
        Ok(signed)
    })?;
    Ok(signed as f64 / duration.as_secs_f64())
}

/// Runs `work` on one thread per core until `duration` has passed (each
/// thread is given the deadline and says how many operations it did):
/// their sum and the number of threads. The machine's limit for that work.
fn on_every_core(
    duration: Duration,
    work: impl Fn(Instant) -> anyhow::Result<u64> + Sync,
) -> anyhow::Result<(u64, usize)> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let end = Instant::now() + duration;
    let counts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(|| work(end))).collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .map_err(|_| anyhow!("a thread measuring the limit panicked"))?
            })
            .collect::<anyhow::Result<Vec<u64>>>()
    })?;
    Ok((counts.iter().sum(), threads))
}

// ------------------------------------------------------------------ report

struct Row {
    label: String,
    /// The signing algorithm, for the rows that sign.
    alg: Option<SigningAlg>,
    switchyard: Option<Measurement>,
    peer: Option<Measurement>,
    /// Operations per second the signing limit allows (two JWTs each), for
    /// the rows that sign an ID token and an access token.
    limit: Option<f64>,
}

/// Keeps the faster of two rounds.
fn keep_best(best: &mut Option<Measurement>, round: Option<Measurement>) {
    if let Some(round) = round {
        if best.as_ref().is_none_or(|b| round.rate() > b.rate()) {
            *best = Some(round);
        }
    }
}

/// The server's CPU milliseconds per successful operation.
fn cpu_ms_per_op(m: &Measurement) -> Option<f64> {
    let cpu = m.usage.cpu_seconds?;
    (m.completed > 0).then(|| 1000.0 * cpu / m.completed as f64)
}

fn cell(measurement: &mut Option<Measurement>) -> String {
    let or_dash = |value: Option<f64>, decimals: usize| {
        value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
    };
    match measurement {
        Some(m) => format!(
            "{:>8.0} {:>13} {:>6} {:>7} {:>7}",
            m.rate(),
            format!("{:.2}/{:.2}", m.percentile_ms(0.5), m.percentile_ms(0.99)),
            m.errors,
            or_dash(cpu_ms_per_op(m), 2),
            or_dash(m.usage.peak_rss_mib, 0),
        ),
        None => format!("{:>8} {:>13} {:>6} {:>7} {:>7}", "n/a", "", "", "", ""),
    }
}

/// One table: `title` names Switchyard's store and nodes.
fn print_report(title: &str, rows: &mut [Row]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!("Switchyard on {title}:");
    let side = format!(
        "{:>8} {:>13} {:>6} {:>7} {:>7}",
        "/s", "p50/p99 ms", "errors", "CPU ms", "RSS MB"
    );
    println!(
        "{:<20} {:<5}  {:<45}  {:<45}  {:>6}",
        "", "", "Switchyard", "oidc-provider", "SY/OP"
    );
    println!("{:<20} {:<5}  {side}  {side}", "scenario", "alg");
    for row in rows.iter_mut() {
        let ratio = match (&row.switchyard, &row.peer) {
            (Some(a), Some(b)) if b.rate() > 0.0 => format!("{:.2}", a.rate() / b.rate()),
            _ => "-".into(),
        };
        println!(
            "{:<20} {:<5}  {}  {}  {:>6}",
            row.label,
            row.alg.map_or("", |alg| alg.as_str()),
            cell(&mut row.switchyard),
            cell(&mut row.peer),
            ratio,
        );
    }
    for row in rows.iter() {
        for (who, m) in [
            ("Switchyard", &row.switchyard),
            ("oidc-provider", &row.peer),
        ] {
            if let Some(m) = m {
                if let Some(first) = m.first_error.as_deref().filter(|_| m.errors > 0) {
                    println!(
                        "  {} {}, {who}: {} errors, the first: {first}",
                        row.label,
                        row.alg.map_or("", |alg| alg.as_str()),
                        m.errors,
                    );
                }
            }
        }
    }
}

/// For the rows that sign two JWTs: the share of Switchyard's CPU per
/// operation that is signing (from the signing limit's CPU per signature)
/// and the rate it would reach with the machine's cores to itself.
fn print_signing_share(rows: &[Row]) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    for row in rows {
        let (Some(limit), Some(cpu_ms)) =
            (row.limit, row.switchyard.as_ref().and_then(cpu_ms_per_op))
        else {
            continue;
        };
        // The signing limit runs `cores` threads: CPU per operation's two JWTs.
        let signing_ms = 1000.0 * cores / limit;
        println!(
            "{} {}: signing is {:.0} % of Switchyard's CPU per operation; with {cores:.0} cores to itself: {:.0}/s",
            row.label,
            row.alg.map_or("", |alg| alg.as_str()),
            100.0 * signing_ms / cpu_ms,
            1000.0 * cores / cpu_ms,
        );
    }
}

/// Each scenario's rate with one node and with several, side by side.
fn print_nodes_comparison(one: &[Row], several: &[Row], nodes: usize) {
    if one.is_empty() || several.is_empty() {
        return;
    }
    println!();
    println!("PostgreSQL, 1 node vs {nodes} nodes (Switchyard /s):");
    for row in several {
        let rate = |r: &Row| r.switchyard.as_ref().map(Measurement::rate);
        let Some(single) = one
            .iter()
            .find(|r| r.label == row.label && r.alg == row.alg)
            .and_then(rate)
        else {
            continue;
        };
        if let Some(multi) = rate(row) {
            println!(
                "  {:<20} {:<5} {single:>8.0} {multi:>8.0}  ×{:.2}",
                row.label,
                row.alg.map_or("", |alg| alg.as_str()),
                multi / single.max(f64::MIN_POSITIVE)
            );
        }
    }
}

/// The 1-minute load average: other work on the machine skews the figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}

// -------------------------------------------------------------------- run

/// The grant scenarios, in the order they run.
const GRANT_SCENARIOS: [(Scenario, &str); 5] = [
    (Scenario::ClientCredentials, "client-credentials"),
    (Scenario::Refresh, "refresh"),
    (Scenario::CodePreminted, "code-preminted"),
    (Scenario::Code, "code"),
    (Scenario::PasswordLogin, "password-login"),
];

/// oidc-provider's measurements, taken once (in the first table) and shown
/// again in the later ones: its side does not change with Switchyard's store.
#[derive(Default)]
struct PeerMeasurements(Vec<(Scenario, SigningAlg, Measurement)>);

impl PeerMeasurements {
    fn get(&self, scenario: Scenario, alg: SigningAlg) -> Option<&Measurement> {
        self.0
            .iter()
            .find(|(s, a, _)| *s == scenario && *a == alg)
            .map(|(_, _, m)| m)
    }
}

/// An oidc-provider process for one algorithm, with its workers' sessions.
struct PeerServer {
    server: Server,
    endpoints: Endpoints,
    sessions: Vec<grants::Session>,
}

/// The grant scenarios on `deployment`, RS256 then ES256: a row each.
async fn run_grants(
    cli: &Cli,
    deployment: &mut Deployment,
    peers: &mut PeerMeasurements,
    limits: &[(SigningAlg, f64)],
    timing: Timing,
) -> anyhow::Result<Vec<Row>> {
    let wants = |s: Scenario| cli.only.is_empty() || cli.only.contains(&s);
    let scenarios: Vec<_> = GRANT_SCENARIOS
        .into_iter()
        .filter(|(s, _)| wants(*s))
        .collect();
    let mut rows = Vec::new();
    if scenarios.is_empty() {
        return Ok(rows);
    }
    let http = reqwest::Client::new();
    let rounds = cli.rounds.max(1);
    let pids = deployment.pids();
    let password_users = if wants(Scenario::PasswordLogin) {
        deployment.password_users(timing.concurrency).await?
    } else {
        Vec::new()
    };
    let needs_session = |s: Scenario| {
        matches!(
            s,
            Scenario::Refresh | Scenario::CodePreminted | Scenario::Code
        )
    };
    let mut sy_sessions = None;
    for alg in [SigningAlg::RS256, SigningAlg::ES256] {
        let issuer = deployment.issuer().to_owned();
        switchyard_set_alg(
            &http,
            &issuer,
            &deployment.admin_token,
            &deployment.client.id,
            alg,
        )
        .await?;
        // The API's access tokens are signed with its own `signing_alg` (Auth0).
        let api_url = format!(
            "{}/api/v2/resource-servers/{}",
            issuer.trim_end_matches('/'),
            deployment.api_id
        );
        let signing = json!({"signing_alg": alg.as_str()});
        management(
            &http,
            &deployment.admin_token,
            reqwest::Method::PATCH,
            &api_url,
            signing,
        )
        .await?;
        let sy = grants::Side {
            peer: grants::Peer::Switchyard,
            pids: &pids,
            nodes: &deployment.nodes,
            client: &deployment.client,
            alg,
            timing,
        };
        if sy_sessions.is_none() && scenarios.iter().any(|(s, _)| needs_session(*s)) {
            eprintln!(
                "logging {} workers in (Switchyard, {})",
                timing.concurrency, deployment.title
            );
            sy_sessions = Some(grants::log_in_workers(&sy).await?);
        }
        let sy_sessions = sy_sessions.as_deref().unwrap_or_default();
        // oidc-provider: one process per algorithm (its client's alg is
        // static), one more with its development login for password-login;
        // started only for what the earlier tables did not measure.
        let mut peer: Option<PeerServer> = None;
        for &(scenario, label) in &scenarios {
            let mut row = Row {
                label: label.into(),
                alg: Some(alg),
                switchyard: None,
                peer: None,
                limit: matches!(
                    scenario,
                    Scenario::Refresh | Scenario::CodePreminted | Scenario::Code
                )
                .then(|| limits.iter().find(|(a, _)| *a == alg).map(|(_, l)| *l))
                .flatten(),
            };
            let measured_before = peers.get(scenario, alg).cloned();
            let dev = scenario == Scenario::PasswordLogin;
            let mut this_peer = None;
            if !cli.no_peer && measured_before.is_none() && (dev || peer.is_none()) {
                let server =
                    start_oidc_provider_with(&cli.node, alg, &deployment.client, REDIRECT_URI, dev)
                        .await?;
                let endpoints = discover(&http, &server.issuer).await?;
                let sessions = if dev {
                    Vec::new()
                } else {
                    let side = grants::Side {
                        peer: grants::Peer::OidcProvider,
                        pids: &[],
                        nodes: std::slice::from_ref(&endpoints),
                        client: &deployment.client,
                        alg,
                        timing,
                    };
                    grants::log_in_workers(&side).await?
                };
                let started = PeerServer {
                    server,
                    endpoints,
                    sessions,
                };
                if dev {
                    this_peer = Some(started);
                } else {
                    peer = Some(started);
                }
            }
            for round in 1..=rounds {
                eprintln!(
                    "measuring {label} {} on {}, round {round}/{rounds}",
                    alg.as_str(),
                    deployment.title
                );
                let m = grants::measure(scenario, &sy, sy_sessions, &password_users).await?;
                keep_best(&mut row.switchyard, Some(m));
                if let Some(op) = this_peer
                    .as_ref()
                    .or(if dev { None } else { peer.as_ref() })
                {
                    let op_pids: Vec<u32> = op.server.pid.into_iter().collect();
                    let side = grants::Side {
                        peer: grants::Peer::OidcProvider,
                        pids: &op_pids,
                        nodes: std::slice::from_ref(&op.endpoints),
                        client: &deployment.client,
                        alg,
                        timing,
                    };
                    let m = grants::measure(scenario, &side, &op.sessions, &[]).await?;
                    keep_best(&mut row.peer, Some(m));
                }
            }
            match (&row.peer, measured_before) {
                (Some(m), _) => peers.0.push((scenario, alg, m.clone())),
                (None, before) => row.peer = before,
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    if cli.only.contains(&Scenario::Scale) {
        scale::run(&scale::Options {
            organizations: cli.organizations,
            memberships: cli.memberships,
            database_url: cli.scale_database_url.clone(),
            duration: Duration::from_secs_f64(cli.duration),
            logins: cli.logins,
        })
        .await?;
        if cli.only.len() == 1 {
            return Ok(());
        }
    }
    if cli.nodes > 1 && cli.database_url.is_none() && !cli.postgres {
        bail!(
            "--nodes {} needs PostgreSQL (--database-url or --postgres): SQLite is for one node",
            cli.nodes
        );
    }
    let wants = |s: Scenario| cli.only.is_empty() || cli.only.contains(&s);
    let timing = Timing {
        warmup: Duration::from_secs_f64(cli.warmup),
        duration: Duration::from_secs_f64(cli.duration),
        concurrency: cli.concurrency.max(1),
    };
    let today = switchyard::clock::rfc3339_from_millis(
        switchyard::clock::Clock::system().now_unix_millis(),
    );
    println!(
        "Switchyard {} vs node-oidc-provider {} ({}), {}",
        env!("CARGO_PKG_VERSION"),
        oidc_provider_version(),
        today.get(..10).unwrap_or(&today),
        machine()
    );
    println!(
        "HTTP scenarios: {} workers (one keep-alive connection each), {:.0} s warm-up + {:.0} s measured, \
         best of {} round(s); the load generator shares the cores",
        timing.concurrency,
        cli.warmup,
        cli.duration,
        cli.rounds.max(1)
    );

    let rounds = cli.rounds.max(1);
    let load_before = load_average();
    let mut sqlite = Deployment::start("SQLite, 1 node".into(), None, 1).await?;
    let http = reqwest::Client::new();
    let sy = sqlite
        .nodes
        .first()
        .map(|n| Endpoints {
            discovery: n.discovery.clone(),
            jwks: n.jwks.clone(),
            authorization: n.authorization.clone(),
            token: n.token.clone(),
        })
        .context("no Switchyard node")?;
    let switchyard_pid = sqlite.pids().first().copied();
    let issuer = sqlite.issuer().to_owned();

    let mut limits = Vec::new();
    if let Some(dir) = sqlite.sqlite_dir().filter(|_| wants(Scenario::Sign)) {
        // The same keys as the server's, loaded from its store into a ring of
        // our own (the server idles meanwhile).
        let store = switchyard::open_store(
            &dir,
            &switchyard::store::sqlite_url_for(&dir.join("switchyard.db")),
            &Default::default(),
            switchyard::clock::Clock::system(),
        )
        .await?;
        let ring = KeyRing::load_or_init(&store).await?;
        for alg in [SigningAlg::RS256, SigningAlg::ES256] {
            signing_limit(&ring, alg, timing.warmup)?;
            let mut per_second: f64 = 0.0;
            for _ in 0..rounds {
                per_second = per_second.max(signing_limit(&ring, alg, timing.duration)?);
            }
            println!(
                "JWT signing limit {}: {per_second:.0} signatures/s on {} threads = {:.0} code exchanges/s (2 JWTs each)",
                alg.as_str(),
                std::thread::available_parallelism().map_or(1, usize::from),
                per_second / 2.0
            );
            limits.push((alg, per_second / 2.0));
        }
        store.close().await;
    }

    let mut rows = Vec::new();
    let stateless = [(Scenario::Discovery, "discovery"), (Scenario::Jwks, "JWKS")];
    if stateless.iter().any(|(s, _)| wants(*s)) {
        let peer = match cli.no_peer {
            true => None,
            false => Some(
                start_oidc_provider(&cli.node, SigningAlg::RS256, &sqlite.client, REDIRECT_URI)
                    .await?,
            ),
        };
        let op = match &peer {
            Some(server) => Some(discover(&http, &server.issuer).await?),
            None => None,
        };
        for (scenario, label) in stateless {
            if !wants(scenario) {
                continue;
            }
            let url = |e: &Endpoints| match scenario {
                Scenario::Discovery => e.discovery.clone(),
                _ => e.jwks.clone(),
            };
            let mut row = Row {
                label: label.into(),
                alg: None,
                switchyard: None,
                peer: None,
                limit: None,
            };
            for round in 1..=rounds {
                eprintln!("measuring {label}, round {round}/{rounds}");
                keep_best(
                    &mut row.switchyard,
                    Some(watched_get(&url(&sy), switchyard_pid, timing).await?),
                );
                if let (Some(op), Some(server)) = (&op, &peer) {
                    keep_best(
                        &mut row.peer,
                        Some(watched_get(&url(op), server.pid, timing).await?),
                    );
                }
            }
            rows.push(row);
        }
    }

    let mut peers = PeerMeasurements::default();
    rows.extend(run_grants(cli, &mut sqlite, &mut peers, &limits, timing).await?);
    let mut tables = vec![(sqlite.title.clone(), rows)];

    let mut federated = None;
    if wants(Scenario::Federated) && !cli.no_peer {
        eprintln!(
            "measuring {} logins through an upstream IdP and as many with a password",
            cli.logins
        );
        federated = Some(
            federated::measure(
                &cli.node,
                (&issuer, &sy),
                (&sqlite.client, &sqlite.admin_token),
                cli.logins.max(1),
            )
            .await?,
        );
    }

    let argon2_limit = if wants(Scenario::Argon2) || wants(Scenario::Storm) {
        Some(memory::argon2_limit(timing.duration)?)
    } else {
        None
    };
    let mut memory_rows = Vec::new();
    if let Some(pid) = switchyard_pid {
        if wants(Scenario::Signups) {
            eprintln!("measuring memory under {} parallel sign-ups", cli.signups);
            memory_rows.push(memory::signup_burst(pid, &sy, &sqlite.client.id, cli.signups).await?);
        }
        if wants(Scenario::Storm) {
            eprintln!("measuring memory under a login storm");
            let seconds = Duration::from_secs_f64(cli.storm_seconds);
            memory_rows.push(
                memory::login_storm(
                    pid,
                    (&issuer, &sy),
                    (&sqlite.client.id, &sqlite.admin_token),
                    timing.concurrency,
                    seconds,
                    argon2_limit,
                )
                .await?,
            );
        }
    }
    let idle = if wants(Scenario::IdleUsers) {
        eprintln!("measuring idle memory after provisioning users");
        Some(memory::idle_after_users().await?)
    } else {
        None
    };

    let mut held = None;
    if wants(Scenario::Connections) {
        eprintln!(
            "measuring discovery under {} idle and {0} slowloris connections",
            cli.attack_connections
        );
        held = Some(
            connections::measure(&issuer, &sy.discovery, cli.attack_connections, timing).await?,
        );
    }
    deploy::stop(sqlite).await?;

    // PostgreSQL: the grant scenarios on a fresh database, with one node
    // and then (--nodes) with several.
    let throwaway = match cli.postgres {
        true => Some(deploy::Throwaway::start().await?),
        false => None,
    };
    let postgres_url = cli
        .database_url
        .clone()
        .or_else(|| throwaway.as_ref().map(|t| t.url.clone()));
    if let Some(url) = &postgres_url {
        let mut counts = vec![1];
        if cli.nodes > 1 {
            counts.push(cli.nodes);
        }
        for count in counts {
            let title = format!(
                "PostgreSQL, {count} node{}",
                if count == 1 { "" } else { "s" }
            );
            eprintln!("starting Switchyard on {title}");
            let database = deploy::Database::create(url).await?;
            let mut deployment = Deployment::start(title.clone(), Some(database), count).await?;
            let rows = run_grants(cli, &mut deployment, &mut peers, &limits, timing).await;
            deploy::stop(deployment).await?;
            tables.push((title, rows?));
        }
    }
    if let Some(throwaway) = throwaway {
        throwaway.stop().await?;
    }

    for (title, rows) in &mut tables {
        print_report(title, rows);
        print_signing_share(rows);
    }
    if let (Some((_, one)), Some((_, several))) = (
        tables.iter().find(|(t, _)| t.starts_with("PostgreSQL, 1 ")),
        tables
            .iter()
            .find(|(t, _)| t.starts_with("PostgreSQL") && !t.starts_with("PostgreSQL, 1 ")),
    ) {
        print_nodes_comparison(one, several, cli.nodes);
    }
    if let Some(report) = &mut federated {
        federated::print_report(report);
    }
    memory::print_report(&memory_rows);
    if let Some(report) = &idle {
        memory::print_idle_report(report);
    }
    if let Some(report) = &mut held {
        connections::print_report(report);
    }
    println!();
    println!(
        "load average (1 min) before: {load_before}, after: {}",
        load_average()
    );
    println!();
    println!(
        "SY/OP: Switchyard's rate over oidc-provider's. CPU ms: the server's CPU time (/proc) per \
         successful operation, warm-up included. RSS MB: the server's peak resident memory during \
         the scenario (VmHWM after clear_refs; summed over nodes). oidc-provider is measured in the \
         first table and shown again in the others."
    );
    println!(
        "Switchyard keeps codes, sessions, refresh tokens and users in its store; oidc-provider \
         keeps them in memory (its development adapter), and its development login checks no \
         password. Node runs oidc-provider's JavaScript on one thread."
    );
    if postgres_url.is_some() {
        println!(
            "On PostgreSQL, Switchyard's CPU and RSS are its own process's (or nodes'): the \
             database server's are not counted."
        );
    }
    Ok(())
}
