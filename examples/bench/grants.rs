//! The token-endpoint scenarios users pay for, each against Switchyard and
//! oidc-provider configured alike, with RS256 and ES256:
//! - `client-credentials`: `grant_type=client_credentials` for an API
//!   (Switchyard: `audience`, oidc-provider: `resource`), a JWT access token;
//! - `refresh`: `grant_type=refresh_token` with rotation: each worker holds
//!   its current refresh token and sends the one it got back; an ID token and
//!   a JWT access token each time;
//! - `code-preminted`: the token request alone, redeeming codes minted
//!   (through the workers' SSO sessions) before the measured window;
//! - `code`: `GET /authorize` through the SSO session plus the token request;
//! - `password-login`: the full browser login in a fresh browser each time:
//!   authorize, the login page, the identifier and the password (Switchyard's
//!   two steps, argon2id; oidc-provider's development login form, which checks
//!   no password), the code redeemed.
//!
//! Each measurement also reads the server's CPU time and peak RSS
//! (`usage.rs`) over its drive (warm-up included, minting excluded).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::memory::browser_from;
use super::usage::Watch;
use super::{
    CONNECTION, ClientCredentials, Endpoints, Measurement, REDIRECT_URI, Scenario, Timing,
    USER_PASSWORD, authorize_url_with, browser, code_of, code_with_session, drive, hidden,
    management, password_login, redeem, redirect_target, switchyard_log_in,
};
use switchyard::model::client::SigningAlg;

/// The API client_credentials asks a token for: a Switchyard resource server
/// of this identifier, and oidc-provider's JWT-format resource server.
pub const API: &str = "urn:switchyard:bench:api";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Switchyard,
    OidcProvider,
}

/// One side of a comparison: a server, or Switchyard's nodes, and its client.
pub struct Side<'a> {
    pub peer: Peer,
    /// The server processes (for CPU and RSS).
    pub pids: &'a [u32],
    /// The endpoints of each node; worker `n` talks to node `n % len`.
    pub nodes: &'a [Endpoints],
    pub client: &'a ClientCredentials,
    pub alg: SigningAlg,
    pub timing: Timing,
}

impl Side<'_> {
    /// Each worker's node, in turn.
    fn workers_nodes(&self) -> impl Iterator<Item = &Endpoints> {
        self.nodes.iter().cycle().take(self.timing.concurrency)
    }
}

/// A logged-in browser (its own SSO session) and the node it talks to.
pub struct Session {
    http: reqwest::Client,
    authorize: Arc<str>,
    token: Arc<str>,
}

/// Logs every worker in once, each in its own browser from its own
/// loopback address (Switchyard counts login starts per address), one after
/// the other (concurrent attempts on one account count against its lockout
/// until they succeed).
pub async fn log_in_workers(side: &Side<'_>) -> anyhow::Result<Vec<Session>> {
    let mut sessions = Vec::with_capacity(side.timing.concurrency);
    for (n, node) in side.workers_nodes().enumerate() {
        let authorize = authorize_url_with(&node.authorization, &side.client.id, "", None)?;
        let http = browser_from(worker_address(3, n))?;
        match side.peer {
            Peer::Switchyard => switchyard_log_in(&http, &authorize).await?,
            Peer::OidcProvider => {
                follow_to_code(&http, &authorize).await?;
            }
        }
        sessions.push(Session {
            http,
            authorize: authorize.into(),
            token: node.token.clone().into(),
        });
    }
    Ok(sessions)
}

/// `127.0.<subnet>.<n + 1>`: a worker's own loopback address.
fn worker_address(subnet: u8, n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        subnet,
        u8::try_from(n % 254 + 1).unwrap_or(1),
    ))
}

/// Follows redirects from `url` until the client's redirect URI; its code.
/// (oidc-provider completes its interactions by itself, consent included.)
async fn follow_to_code(browser: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(url)?;
    for _ in 0..10 {
        let response = browser.get(url.clone()).send().await?;
        url = redirect_target(&response)?;
        if url.as_str().starts_with(REDIRECT_URI) {
            return code_of(&url);
        }
    }
    bail!("no code after 10 redirects")
}

/// Runs `scenario` on `side`; the measurement with the server's CPU and peak
/// RSS. `sessions` are the workers' logged-in browsers (for the scenarios
/// that go through an SSO session).
pub async fn measure(
    scenario: Scenario,
    side: &Side<'_>,
    sessions: &[Session],
    password_users: &[String],
) -> anyhow::Result<Measurement> {
    match scenario {
        Scenario::ClientCredentials => client_credentials(side).await,
        Scenario::Refresh => refresh(side, sessions).await,
        Scenario::CodePreminted => code_preminted(side, sessions).await,
        Scenario::Code => code(side, sessions).await,
        Scenario::PasswordLogin => password_logins(side, password_users).await,
        _ => bail!("not a grant scenario"),
    }
}

/// Drives `op` on `workers`, reading the servers' CPU and peak RSS meanwhile.
async fn watched<W, F, Fut>(side: &Side<'_>, workers: Vec<W>, op: F) -> anyhow::Result<Measurement>
where
    W: Send + 'static,
    F: Fn(W) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (W, anyhow::Result<()>)> + Send,
{
    let watch = Watch::start(side.pids);
    let mut measurement = drive(workers, op, side.timing).await?;
    measurement.usage = watch.finish().await;
    Ok(measurement)
}

/// A token request with `client_secret_basic`: the body of its 200.
pub async fn token_request(
    http: &reqwest::Client,
    token_endpoint: &str,
    client: &ClientCredentials,
    form: &[(&str, &str)],
) -> anyhow::Result<Value> {
    let response = http
        .post(token_endpoint)
        .basic_auth(&client.id, Some(&client.secret))
        .form(form)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if status != StatusCode::OK {
        bail!("token endpoint answered {status}: {body}");
    }
    Ok(body)
}

/// Checks that each of `names` in a token response is a JWT signed with `alg`.
pub fn check_signed(body: &Value, names: &[&str], alg: SigningAlg) -> anyhow::Result<()> {
    for name in names {
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

async fn client_credentials(side: &Side<'_>) -> anyhow::Result<Measurement> {
    // Switchyard names the API with Auth0's `audience`, oidc-provider with
    // RFC 8707's `resource`.
    let parameter = match side.peer {
        Peer::Switchyard => "audience",
        Peer::OidcProvider => "resource",
    };
    let workers = side
        .workers_nodes()
        .map(|node| Ok((browser()?, Arc::<str>::from(node.token.as_str()))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (client, alg) = (side.client.clone(), side.alg);
    watched(side, workers, move |(http, token)| {
        let client = client.clone();
        async move {
            let result = async {
                let form = [("grant_type", "client_credentials"), (parameter, API)];
                let body = token_request(&http, &token, &client, &form).await?;
                check_signed(&body, &["access_token"], alg)
            }
            .await;
            ((http, token), result)
        }
    })
    .await
}

/// Each worker's first refresh token: a code through its session with
/// `offline_access` (and `prompt=consent`, without which oidc-provider drops
/// `offline_access`), redeemed.
async fn first_refresh_tokens(
    side: &Side<'_>,
    sessions: &[Session],
) -> anyhow::Result<Vec<(reqwest::Client, Arc<str>, String)>> {
    let prompt = match side.peer {
        Peer::Switchyard => None,
        Peer::OidcProvider => Some("consent"),
    };
    let mut workers = Vec::with_capacity(sessions.len());
    for session in sessions {
        let authorize_base = session
            .authorize
            .split('?')
            .next()
            .unwrap_or(&session.authorize);
        let url = authorize_url_with(authorize_base, &side.client.id, "offline_access", prompt)?;
        let code = follow_to_code(&session.http, &url).await?;
        let body = redeem(&session.http, &session.token, side.client, &code, side.alg).await?;
        let refresh_token = body["refresh_token"]
            .as_str()
            .with_context(|| format!("no refresh token in {body}"))?
            .to_owned();
        workers.push((session.http.clone(), session.token.clone(), refresh_token));
    }
    Ok(workers)
}

async fn refresh(side: &Side<'_>, sessions: &[Session]) -> anyhow::Result<Measurement> {
    let workers = first_refresh_tokens(side, sessions).await?;
    let (client, alg) = (side.client.clone(), side.alg);
    watched(side, workers, move |(http, token, refresh_token)| {
        let client = client.clone();
        async move {
            let result = async {
                let form = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.as_str()),
                ];
                let body = token_request(&http, &token, &client, &form).await?;
                check_signed(&body, &["id_token", "access_token"], alg)?;
                let next = body["refresh_token"]
                    .as_str()
                    .with_context(|| format!("no rotated refresh token in {body}"))?;
                if next == refresh_token {
                    bail!("the refresh token was not rotated");
                }
                Ok(next.to_owned())
            }
            .await;
            match result {
                Ok(next) => ((http, token, next), Ok(())),
                // The token may have been rotated or not: keep it; the
                // error is counted, and the next attempt says more.
                Err(error) => ((http, token, refresh_token), Err(error)),
            }
        }
    })
    .await
}

async fn code(side: &Side<'_>, sessions: &[Session]) -> anyhow::Result<Measurement> {
    let workers: Vec<_> = sessions
        .iter()
        .map(|s| (s.http.clone(), s.authorize.clone(), s.token.clone()))
        .collect();
    let (client, alg) = (side.client.clone(), side.alg);
    watched(side, workers, move |(http, authorize, token)| {
        let client = client.clone();
        async move {
            let result = async {
                let code = code_with_session(&http, &authorize).await?;
                redeem(&http, &token, &client, &code, alg).await.map(drop)
            }
            .await;
            ((http, authorize, token), result)
        }
    })
    .await
}

/// Codes minted through each worker's session for three times as long as
/// the warm-up and the measured window last (oidc-provider redeems faster
/// than it mints); a worker that runs out counts one error and idles to the
/// end of the window.
async fn code_preminted(side: &Side<'_>, sessions: &[Session]) -> anyhow::Result<Measurement> {
    let mint_for = (side.timing.warmup + side.timing.duration) * 3;
    let end = Instant::now() + mint_for;
    let mut tasks = tokio::task::JoinSet::new();
    for (n, session) in sessions.iter().enumerate() {
        let (http, authorize, token) = (
            session.http.clone(),
            session.authorize.clone(),
            session.token.clone(),
        );
        tasks.spawn(async move {
            let mut codes = VecDeque::new();
            while Instant::now() < end {
                codes.push_back(code_with_session(&http, &authorize).await?);
            }
            anyhow::Ok((n, (http, token, codes)))
        });
    }
    let mut workers = Vec::with_capacity(sessions.len());
    while let Some(minted) = tasks.join_next().await {
        workers.push(minted??);
    }
    workers.sort_by_key(|(n, _)| *n);
    let workers: Vec<_> = workers
        .into_iter()
        .map(|(_, (http, token, codes))| (http, token, codes, false))
        .collect();
    let (client, alg) = (side.client.clone(), side.alg);
    let window_end = Instant::now() + side.timing.warmup + side.timing.duration;
    watched(side, workers, move |(http, token, mut codes, ran_out)| {
        let client = client.clone();
        async move {
            let result = match codes.pop_front() {
                Some(code) => redeem(&http, &token, &client, &code, alg).await.map(drop),
                None if !ran_out => Err(anyhow::anyhow!("ran out of pre-minted codes")),
                None => {
                    // Counted once; past the window's end nothing counts.
                    tokio::time::sleep_until((window_end + Duration::from_millis(10)).into()).await;
                    Err(anyhow::anyhow!("ran out of pre-minted codes"))
                }
            };
            let ran_out = ran_out || codes.is_empty() && result.is_err();
            ((http, token, codes, ran_out), result)
        }
    })
    .await
}

/// Creates the users of the `password-login` scenario through the Management
/// API, one per worker (concurrent logins of one account would count
/// against its lockout): their emails.
pub async fn create_password_users(
    issuer: &str,
    admin_token: &str,
    workers: usize,
) -> anyhow::Result<Vec<String>> {
    let http = reqwest::Client::new();
    let url = format!("{}/api/v2/users", issuer.trim_end_matches('/'));
    let mut emails = Vec::with_capacity(workers);
    for n in 0..workers {
        let email = format!("login-{n}@switchyard.example");
        let user = json!({"connection": CONNECTION, "email": email, "password": USER_PASSWORD});
        management(&http, admin_token, reqwest::Method::POST, &url, user).await?;
        emails.push(email);
    }
    Ok(emails)
}

async fn password_logins(side: &Side<'_>, users: &[String]) -> anyhow::Result<Measurement> {
    let mut workers = Vec::with_capacity(side.timing.concurrency);
    for (n, node) in side.workers_nodes().enumerate() {
        let authorize: Arc<str> =
            authorize_url_with(&node.authorization, &side.client.id, "", None)?.into();
        let token: Arc<str> = node.token.clone().into();
        let email: Arc<str> = match side.peer {
            Peer::Switchyard => users
                .get(n)
                .context("fewer password users than workers")?
                .as_str()
                .into(),
            Peer::OidcProvider => "bench-user".into(),
        };
        workers.push((worker_address(2, n), authorize, token, email));
    }
    let (client, alg, peer) = (side.client.clone(), side.alg, side.peer);
    watched(side, workers, move |worker| {
        let client = client.clone();
        async move {
            let (source, authorize, token, email) = &worker;
            let result = async {
                // A fresh browser each time: no SSO session to skip the password.
                let browser = browser_from(*source)?;
                let code = match peer {
                    Peer::Switchyard => {
                        let answer = password_login(&browser, authorize, email).await?;
                        code_of(&redirect_target(&answer).context("password step")?)?
                    }
                    Peer::OidcProvider => dev_login(&browser, authorize, email).await?,
                };
                redeem(&browser, token, &client, &code, alg).await.map(drop)
            }
            .await;
            (worker, result)
        }
    })
    .await
}

/// oidc-provider's development login: the form at `/interaction/UID`
/// (login and password) posted, then the redirects followed to the code.
async fn dev_login(
    browser: &reqwest::Client,
    authorize: &str,
    login: &str,
) -> anyhow::Result<String> {
    let start = browser.get(authorize).send().await?;
    let page_url = redirect_target(&start)?;
    let page = browser.get(page_url.clone()).send().await?.text().await?;
    if hidden(&page, "prompt")? != "login" {
        bail!("oidc-provider asked for more than the login");
    }
    let action = page
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("no form in oidc-provider's login page")?;
    let posted = browser
        .post(page_url.join(action)?)
        .form(&[
            ("prompt", "login"),
            ("login", login),
            ("password", USER_PASSWORD),
        ])
        .send()
        .await?;
    follow_to_code(browser, redirect_target(&posted)?.as_str()).await
}
