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
//! - authorization-code exchanges with RS256 and ES256: each iteration is one
//!   `GET /authorize` carrying an SSO session cookie (answered 302/303 straight
//!   to the redirect URI with a code) and one token request redeeming it
//!   (`client_secret_basic`, PKCE S256), which signs an ID token and a JWT
//!   access token. Every worker logs in once before (its own browser session).
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

use switchyard::Application;
use switchyard::config::{BootstrapClient, Config, TlsMode};
use switchyard::flows::issue::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience, IdTokenClaims};
use switchyard::keys::KeyRing;
use switchyard::model::client::SigningAlg;

mod connections;
mod federated;
mod memory;
mod scale;

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
    #[arg(long, default_value_t = 16)]
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
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Sign,
    Discovery,
    Jwks,
    Code,
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
    if let Some(Internal::ServeSwitchyard { data_dir }) = cli.internal {
        return serve_switchyard(data_dir).await;
    }
    run(&cli).await
}

// ---------------------------------------------------------------- the servers

/// The child-process side: Switchyard as `switchyard serve --insecure-http`
/// would build it, announcing its issuer on stdout, stopping when stdin closes.
async fn serve_switchyard(data_dir: PathBuf) -> anyhow::Result<()> {
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
    let config = Config {
        database_url: switchyard::store::sqlite_url_for(&data_dir.join("switchyard.db")),
        data_dir,
        listen: ([127, 0, 0, 1], port).into(),
        issuer: Some(format!("http://127.0.0.1:{port}/")),
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
        key_encryption_key: Default::default(),
        dns: Default::default(),
        outbound: Default::default(),
        metrics_listen: None,
    };
    let app = Application::build(config).await?;
    println!("{}", json!({ "issuer": app.issuer() }));
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
    /// For reading the server's CPU time from `/proc`.
    pid: Option<u32>,
    _child: Child,
}

/// CPU seconds (user + system) the process has used so far, from
/// `/proc/<pid>/stat` (Linux; clock ticks of 1/100 s, the kernel's USER_HZ).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses:
    // state is the first, utime the 12th, stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
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
    Ok(Server {
        issuer,
        pid: child.id(),
        _child: child,
    })
}

async fn start_switchyard(data_dir: &Path) -> anyhow::Result<Server> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("serve-switchyard")
        .arg("--data-dir")
        .arg(data_dir);
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
    let script = peers_dir().join("bench_oidc_provider.mjs");
    if !peers_dir().join("node_modules/oidc-provider").is_dir() {
        bail!("tests/peers/node_modules is missing: run `bash scripts/setup.sh test` first");
    }
    let mut command = Command::new(node);
    command
        .arg(script)
        .args([alg.as_str(), &client.id, &client.secret, redirect_uri]);
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
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "client_secret_basic",
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
    let mut url = url::Url::parse(endpoint)?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email")
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

/// Logs in at oidc-provider: its interactions complete by themselves, so the
/// redirects are followed until they reach the client.
async fn oidc_provider_log_in(browser: &reqwest::Client, authorize: &str) -> anyhow::Result<()> {
    let mut url = url::Url::parse(authorize)?;
    for _ in 0..10 {
        let response = browser.get(url.clone()).send().await?;
        url = redirect_target(&response)?;
        if url.as_str().starts_with(REDIRECT_URI) {
            code_of(&url)?;
            return Ok(());
        }
    }
    bail!("no code after 10 redirects")
}

/// Redeems `code` (`client_secret_basic`, PKCE); checks both tokens are JWTs
/// signed with `alg`.
async fn redeem(
    http: &reqwest::Client,
    token_endpoint: &str,
    client: &ClientCredentials,
    code: &str,
    alg: SigningAlg,
) -> anyhow::Result<()> {
    let response = http
        .post(token_endpoint)
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if status != StatusCode::OK {
        bail!("token endpoint answered {status}: {body}");
    }
    for name in ["id_token", "access_token"] {
        let token = body[name]
            .as_str()
            .with_context(|| format!("no {name} in {body}"))?;
        let header =
            jsonwebtoken::decode_header(token).with_context(|| format!("{name} is not a JWT"))?;
        if format!("{:?}", header.alg) != alg.as_str() {
            bail!("{name} signed with {:?}, not {}", header.alg, alg.as_str());
        }
    }
    Ok(())
}

// ------------------------------------------------------------- measurement

#[derive(Clone, Copy)]
struct Timing {
    warmup: Duration,
    duration: Duration,
    concurrency: usize,
}

#[derive(Default)]
struct Measurement {
    ok: u64,
    /// Successful operations including warm-up (for CPU per operation).
    completed: u64,
    /// The server's CPU seconds over the whole drive, when it was measured.
    server_cpu_seconds: Option<f64>,
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

#[derive(Clone, Copy)]
enum Peer {
    Switchyard,
    OidcProvider,
}

/// Code exchanges: every worker logs in once, then loops authorize → token.
/// `Ok(None)` when the server does not keep an SSO session (no code without
/// logging in again).
async fn measure_code(
    peer: Peer,
    server_pid: Option<u32>,
    endpoints: &Endpoints,
    client: &ClientCredentials,
    alg: SigningAlg,
    timing: Timing,
) -> anyhow::Result<Option<Measurement>> {
    let authorize = authorize_url(&endpoints.authorization, &client.id)?;
    let mut workers = Vec::with_capacity(timing.concurrency);
    for _ in 0..timing.concurrency {
        let http = browser()?;
        match peer {
            Peer::Switchyard => switchyard_log_in(&http, &authorize).await?,
            Peer::OidcProvider => oidc_provider_log_in(&http, &authorize).await?,
        }
        workers.push(http);
    }
    // One checked iteration first: the session must yield a code at once.
    if let Some(http) = workers.first() {
        match code_with_session(http, &authorize).await {
            Ok(code) => redeem(http, &endpoints.token, client, &code, alg).await?,
            Err(error) => {
                eprintln!("  no SSO session: /authorize with the session cookie gave {error:#}");
                return Ok(None);
            }
        }
    }
    let token_endpoint: Arc<str> = endpoints.token.clone().into();
    let client = client.clone();
    let authorize: Arc<str> = authorize.into();
    let cpu_before = server_pid.and_then(cpu_seconds);
    let mut measurement = drive(
        workers,
        move |http: reqwest::Client| {
            let (authorize, token_endpoint, client) =
                (authorize.clone(), token_endpoint.clone(), client.clone());
            async move {
                let result = async {
                    let code = code_with_session(&http, &authorize).await?;
                    redeem(&http, &token_endpoint, &client, &code, alg).await
                }
                .await;
                (http, result)
            }
        },
        timing,
    )
    .await?;
    if let (Some(before), Some(after)) = (cpu_before, server_pid.and_then(cpu_seconds)) {
        measurement.server_cpu_seconds = Some(after - before);
    }
    Ok(Some(measurement))
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
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let end = Instant::now() + duration;
    let counts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<u64> {
                    let mut signed = 0u64;
                    while Instant::now() < end {
                        ring.sign(alg, ACCESS_TOKEN_TYP, &access)?;
                        ring.sign(alg, "JWT", &id)?;
                        signed += 2;
                    }
                    Ok(signed)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .map_err(|_| anyhow!("a signing thread panicked"))?
            })
            .collect::<anyhow::Result<Vec<u64>>>()
    })?;
    Ok(counts.iter().sum::<u64>() as f64 / duration.as_secs_f64())
}

// ------------------------------------------------------------------ report

struct Row {
    label: String,
    unit: &'static str,
    switchyard: Option<Measurement>,
    peer: Option<Measurement>,
    /// Exchanges per second the signing limit allows, for the code rows.
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

fn cell(measurement: &mut Option<Measurement>) -> String {
    match measurement {
        Some(m) => format!(
            "{:>9.0} {:>7.2} {:>7.2}",
            m.rate(),
            m.percentile_ms(0.5),
            m.percentile_ms(0.99)
        ),
        None => format!("{:>9} {:>7} {:>7}", "n/a", "", ""),
    }
}

fn print_report(rows: &mut [Row]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "{:<24} {:>25}   {:>25}   {:>7}   {:>8}",
        "", "Switchyard", "oidc-provider", "SY/OP", "SY/limit"
    );
    println!(
        "{:<24} {:>9} {:>7} {:>7}   {:>9} {:>7} {:>7}",
        "scenario", "per s", "p50 ms", "p99 ms", "per s", "p50 ms", "p99 ms"
    );
    for row in rows.iter_mut() {
        let ratio = match (&row.switchyard, &row.peer) {
            (Some(a), Some(b)) if b.rate() > 0.0 => format!("{:.2}", a.rate() / b.rate()),
            _ => "-".into(),
        };
        let of_limit = match (&row.switchyard, row.limit) {
            (Some(a), Some(limit)) => format!("{:.0} %", 100.0 * a.rate() / limit),
            _ => "-".into(),
        };
        println!(
            "{:<24} {}   {}   {:>7}   {:>8}",
            format!("{} ({})", row.label, row.unit),
            cell(&mut row.switchyard),
            cell(&mut row.peer),
            ratio,
            of_limit
        );
        for (who, m) in [
            ("Switchyard", &row.switchyard),
            ("oidc-provider", &row.peer),
        ] {
            if let Some(m) = m {
                if m.errors > 0 {
                    println!(
                        "    {who}: {} errors, first: {}",
                        m.errors,
                        m.first_error.as_deref().unwrap_or("?")
                    );
                }
            }
        }
    }
}

/// What each server spent per code exchange, from its own CPU time: the
/// measure that does not depend on sharing the cores with the load
/// generator. For Switchyard, the share of it that is signing (from the
/// signing limit's CPU per signature) and the rate it would reach with the
/// machine's cores to itself.
fn print_cpu_per_exchange(rows: &[Row]) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let per_exchange = |m: &Option<Measurement>| {
        m.as_ref().and_then(|m| {
            let cpu = m.server_cpu_seconds?;
            (m.completed > 0).then(|| cpu / m.completed as f64)
        })
    };
    for row in rows {
        let Some(switchyard) = per_exchange(&row.switchyard) else {
            continue;
        };
        let peer = per_exchange(&row.peer)
            .map(|cpu| format!(", oidc-provider {:.2} ms", cpu * 1000.0))
            .unwrap_or_default();
        print!(
            "{}: server CPU per exchange Switchyard {:.2} ms{peer}",
            row.label,
            switchyard * 1000.0
        );
        if let Some(limit) = row.limit {
            // The signing limit runs `cores` threads: CPU per exchange's two JWTs.
            let signing = cores / limit;
            println!(
                "; signing is {:.0} % of Switchyard's; with {cores:.0} cores to itself: {:.0} exchanges/s = {:.0} % of the signing limit",
                100.0 * signing / switchyard,
                cores / switchyard,
                100.0 * signing / switchyard
            );
        } else {
            println!();
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
    let dir = tempfile::tempdir()?;
    let switchyard = start_switchyard(dir.path()).await?;
    let http = reqwest::Client::new();
    let sy = discover(&http, &switchyard.issuer).await?;
    let (client, admin_token) = switchyard_tenant(&http, &switchyard.issuer).await?;

    let mut limits = Vec::new();
    if wants(Scenario::Sign) {
        // The same keys as the server's, loaded from its store into a ring of
        // our own (the server idles meanwhile).
        let store = switchyard::open_store(
            dir.path(),
            &switchyard::store::sqlite_url_for(&dir.path().join("switchyard.db")),
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
    let limit_of = |alg: SigningAlg| {
        limits
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, limit)| *limit)
    };

    let mut peer_rs256 = None;
    if !cli.no_peer {
        peer_rs256 =
            Some(start_oidc_provider(&cli.node, SigningAlg::RS256, &client, REDIRECT_URI).await?);
    }
    let op = match &peer_rs256 {
        Some(server) => Some(discover(&http, &server.issuer).await?),
        None => None,
    };

    let mut rows = Vec::new();
    for (scenario, label) in [(Scenario::Discovery, "discovery"), (Scenario::Jwks, "JWKS")] {
        if !wants(scenario) {
            continue;
        }
        let url = |e: &Endpoints| match scenario {
            Scenario::Discovery => e.discovery.clone(),
            _ => e.jwks.clone(),
        };
        let mut row = Row {
            label: label.into(),
            unit: "req/s",
            switchyard: None,
            peer: None,
            limit: None,
        };
        for round in 1..=rounds {
            eprintln!("measuring {label}, round {round}/{rounds}");
            keep_best(
                &mut row.switchyard,
                Some(measure_get(&url(&sy), timing).await?),
            );
            if let Some(op) = &op {
                keep_best(&mut row.peer, Some(measure_get(&url(op), timing).await?));
            }
        }
        rows.push(row);
    }

    if wants(Scenario::Code) {
        let mut peer_server = peer_rs256;
        for alg in [SigningAlg::RS256, SigningAlg::ES256] {
            switchyard_set_alg(&http, &switchyard.issuer, &admin_token, &client.id, alg).await?;
            // One oidc-provider process per algorithm (its client's alg is static).
            let peer = if cli.no_peer {
                None
            } else {
                let server = match peer_server.take() {
                    Some(server) if matches!(alg, SigningAlg::RS256) => server,
                    _ => start_oidc_provider(&cli.node, alg, &client, REDIRECT_URI).await?,
                };
                let endpoints = discover(&http, &server.issuer).await?;
                Some((server, endpoints))
            };
            let mut row = Row {
                label: format!("code exchange {}", alg.as_str()),
                unit: "/s",
                switchyard: None,
                peer: None,
                limit: limit_of(alg),
            };
            for round in 1..=rounds {
                eprintln!(
                    "measuring code exchanges {}, round {round}/{rounds}",
                    alg.as_str()
                );
                let m = measure_code(Peer::Switchyard, switchyard.pid, &sy, &client, alg, timing)
                    .await?;
                if m.is_none() {
                    eprintln!(
                        "  Switchyard: code exchanges not available yet (this build keeps no SSO session)"
                    );
                }
                keep_best(&mut row.switchyard, m);
                if let Some((server, endpoints)) = &peer {
                    let m = measure_code(
                        Peer::OidcProvider,
                        server.pid,
                        endpoints,
                        &client,
                        alg,
                        timing,
                    )
                    .await?;
                    keep_best(&mut row.peer, m);
                }
            }
            rows.push(row);
        }
    }

    let mut federated = None;
    if wants(Scenario::Federated) && !cli.no_peer {
        eprintln!(
            "measuring {} logins through an upstream IdP and as many with a password",
            cli.logins
        );
        federated = Some(
            federated::measure(
                &cli.node,
                (&switchyard.issuer, &sy),
                (&client, &admin_token),
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
    if let Some(pid) = switchyard.pid {
        if wants(Scenario::Signups) {
            eprintln!("measuring memory under {} parallel sign-ups", cli.signups);
            memory_rows.push(memory::signup_burst(pid, &sy, &client.id, cli.signups).await?);
        }
        if wants(Scenario::Storm) {
            eprintln!("measuring memory under a login storm");
            let seconds = Duration::from_secs_f64(cli.storm_seconds);
            memory_rows.push(
                memory::login_storm(
                    pid,
                    (&switchyard.issuer, &sy),
                    (&client.id, &admin_token),
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
            connections::measure(
                &switchyard.issuer,
                &sy.discovery,
                cli.attack_connections,
                timing,
            )
            .await?,
        );
    }

    print_report(&mut rows);
    print_cpu_per_exchange(&rows);
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
        "SY/OP: Switchyard's rate over oidc-provider's. SY/limit: Switchyard's code exchanges over \
         the signing limit's (the JWTs alone, all cores, no HTTP, no load generator)."
    );
    println!(
        "Switchyard keeps codes and users in SQLite; oidc-provider keeps codes, sessions and grants \
         in memory (its development adapter). Node runs oidc-provider's JavaScript on one thread."
    );
    drop(switchyard);
    Ok(())
}
