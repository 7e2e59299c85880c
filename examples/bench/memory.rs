//! The server's memory under password-hashing load (issue 11, item 2): peak
//! RSS of the Switchyard process while
//! - a burst of sign-ups from one address all submit their form at once
//!   (each costs an argon2id hash of 19 MiB), and
//! - a login storm: workers, each from its own loopback address (so that the
//!   per-address limits let them through, as a botnet would be), log in with
//!   the password again and again.
//!
//! - provisioning (issue 17, item 3): a fresh server, 1,000 users created
//!   through the Management API as a provisioning tool would (16 at a
//!   time), then idle: what it keeps (`idle-users`).
//!
//! Peak RSS is the kernel's high-water mark (`VmHWM`), reset before each
//! scenario by writing `5` to `/proc/<pid>/clear_refs` (Linux).
//!
//! Logins cost an argon2id hash each, so the storm's rate is read against
//! argon2id alone on every core (`argon2`), and discovery is timed from
//! another client meanwhile: hashing must not hold up the async workers.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use reqwest::StatusCode;
use serde_json::json;

use super::{
    CONNECTION, Endpoints, NodeOptions, USER_PASSWORD, authorize_url, code_of, hidden, management,
    on_every_core, password_login, redirect_target, start_switchyard, switchyard_tenant,
};

/// Users the `idle-users` scenario creates, how many at a time, and how
/// long the server then idles before its RSS is read.
const PROVISIONED_USERS: usize = 1_000;
const PROVISIONING_CONCURRENCY: usize = 16;
const IDLE: Duration = Duration::from_secs(5);
/// The pace of the discovery probe during the login storm.
const PROBE_EVERY: Duration = Duration::from_millis(20);

/// Resident memory of a process, in MiB.
#[derive(Clone, Copy)]
pub struct Rss {
    pub current_mib: f64,
    pub peak_mib: f64,
}

/// `VmRSS` and `VmHWM` of `pid` from `/proc/<pid>/status`.
pub fn rss(pid: u32) -> anyhow::Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?
            .parse()?;
        Ok(kib / 1024.0)
    };
    Ok(Rss {
        current_mib: field("VmRSS:")?,
        peak_mib: field("VmHWM:")?,
    })
}

/// Makes the peak (`VmHWM`) start again from the current RSS.
pub fn reset_peak(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("resetting the peak RSS of process {pid}"))
}

/// How the requests of a scenario ended.
#[derive(Default)]
pub struct Outcomes {
    pub succeeded: u64,
    /// 503 with Retry-After: the hashing queue was full.
    pub busy: u64,
    /// 429: a per-address or per-account limit.
    pub throttled: u64,
    pub failed: u64,
    pub first_failure: Option<String>,
}

impl Outcomes {
    fn count(&mut self, result: anyhow::Result<Outcome>) {
        match result {
            Ok(Outcome::Succeeded) => self.succeeded += 1,
            Ok(Outcome::Busy) => self.busy += 1,
            Ok(Outcome::Throttled) => self.throttled += 1,
            Err(error) => {
                self.failed += 1;
                self.first_failure
                    .get_or_insert_with(|| format!("{error:#}"));
            }
        }
    }

    fn merge(&mut self, other: Outcomes) {
        self.succeeded += other.succeeded;
        self.busy += other.busy;
        self.throttled += other.throttled;
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

enum Outcome {
    Succeeded,
    Busy,
    Throttled,
}

/// The outcome of a form post that finishes a login: a redirect to the
/// client with a code, or a refusal the server is allowed to give under load.
fn finished(response: &reqwest::Response) -> anyhow::Result<Outcome> {
    match response.status() {
        StatusCode::SERVICE_UNAVAILABLE => Ok(Outcome::Busy),
        StatusCode::TOO_MANY_REQUESTS => Ok(Outcome::Throttled),
        _ => {
            code_of(&redirect_target(response)?)?;
            Ok(Outcome::Succeeded)
        }
    }
}

/// A browser (its own cookies, no redirects followed) whose connections
/// leave from `source`.
pub(super) fn browser_from(source: IpAddr) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(source)
        .build()?)
}

/// One scenario's figures.
pub struct MemoryRow {
    pub label: String,
    pub before: Rss,
    /// Peak during the scenario, and what was left when it ended.
    pub during: Rss,
    pub seconds: f64,
    pub outcomes: Outcomes,
    /// The login storm's rate against argon2id alone, and discovery meanwhile.
    pub storm: Option<StormFigures>,
}

pub struct StormFigures {
    argon2_per_second: Option<f64>,
    /// Discovery requests from another client during the storm, in µs.
    discovery_us: Vec<u32>,
    discovery_errors: u64,
}

/// `count` sign-ups from 127.0.0.1: every form is fetched first, then all
/// are posted at once.
pub async fn signup_burst(
    pid: u32,
    endpoints: &Endpoints,
    client_id: &str,
    count: usize,
) -> anyhow::Result<MemoryRow> {
    let signup_url = format!(
        "{}&screen_hint=signup",
        authorize_url(&endpoints.authorization, client_id)?
    );
    let source = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut forms = Vec::with_capacity(count);
    for _ in 0..count {
        let browser = browser_from(source)?;
        let start = browser.get(&signup_url).send().await?;
        let page_url = redirect_target(&start)?;
        if !page_url.path().ends_with("/u/signup") {
            bail!("sign-up is not offered: /authorize led to {page_url}");
        }
        let page = browser.get(page_url.clone()).send().await?.text().await?;
        let (state, csrf) = (hidden(&page, "state")?, hidden(&page, "csrf")?);
        forms.push((browser, page_url.join("/u/signup")?, state, csrf));
    }
    let before = rss(pid)?;
    reset_peak(pid)?;
    let started = Instant::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(count));
    let posts: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(n, (browser, action, state, csrf))| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let email = format!("burst-{n}@switchyard.example");
                let response = browser
                    .post(action)
                    .form(&[
                        ("state", state.as_str()),
                        ("csrf", csrf.as_str()),
                        ("email", email.as_str()),
                        ("password", USER_PASSWORD),
                    ])
                    .send()
                    .await?;
                finished(&response)
            })
        })
        .collect();
    let mut outcomes = Outcomes::default();
    for post in posts {
        outcomes.count(post.await?);
    }
    Ok(MemoryRow {
        label: format!("{count} parallel sign-ups, one address"),
        before,
        seconds: started.elapsed().as_secs_f64(),
        during: rss(pid)?,
        outcomes,
        storm: None,
    })
}

/// `workers` browsers, each from its own address in 127.0.1.0/24 and as its
/// own user (created first: concurrent logins of one account count against
/// its lockout), logging in with the password for `duration`, one login
/// after the other.
pub async fn login_storm(
    pid: u32,
    (issuer, endpoints): (&str, &Endpoints),
    (client_id, admin_token): (&str, &str),
    workers: usize,
    duration: Duration,
    argon2_per_second: Option<f64>,
) -> anyhow::Result<MemoryRow> {
    let authorize: Arc<str> = authorize_url(&endpoints.authorization, client_id)?.into();
    let users_url = format!("{}/api/v2/users", issuer.trim_end_matches('/'));
    let http = reqwest::Client::new();
    let email = |n: usize| format!("storm-{n}@switchyard.example");
    for n in 0..workers {
        let user = serde_json::json!({
            "connection": CONNECTION, "email": email(n), "password": USER_PASSWORD,
        });
        management(&http, admin_token, reqwest::Method::POST, &users_url, user).await?;
    }
    let before = rss(pid)?;
    reset_peak(pid)?;
    let started = Instant::now();
    let end = started + duration;
    let probe = tokio::spawn(discovery_probe(endpoints.discovery.clone(), end));
    let tasks: Vec<_> = (0..workers)
        .map(|n| {
            let authorize = authorize.clone();
            let email = email(n);
            let host = u8::try_from(n % 254 + 1).unwrap_or(1);
            let source = IpAddr::V4(Ipv4Addr::new(127, 0, 1, host));
            tokio::spawn(async move {
                let mut outcomes = Outcomes::default();
                // A fresh browser each time: no SSO session to skip the password.
                while Instant::now() < end {
                    let result = match browser_from(source) {
                        Ok(browser) => password_login(&browser, &authorize, &email)
                            .await
                            .and_then(|answer| finished(&answer).context("password step")),
                        Err(error) => Err(error),
                    };
                    outcomes.count(result);
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes = Outcomes::default();
    for task in tasks {
        outcomes.merge(task.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let (discovery_us, discovery_errors) = probe.await?;
    Ok(MemoryRow {
        label: format!(
            "login storm, {workers} addresses, {:.0} s",
            duration.as_secs_f64()
        ),
        before,
        seconds,
        during: rss(pid)?,
        outcomes,
        storm: Some(StormFigures {
            argon2_per_second,
            discovery_us,
            discovery_errors,
        }),
    })
}

/// `GET url` every [`PROBE_EVERY`] until `end`, from a client of its own
/// (one keep-alive connection): each request's latency in µs, and the errors.
async fn discovery_probe(url: String, end: Instant) -> (Vec<u32>, u64) {
    let http = reqwest::Client::new();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    let mut ticks = tokio::time::interval(PROBE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while Instant::now() < end {
        ticks.tick().await;
        let began = Instant::now();
        let answered = match http.get(&url).send().await {
            Ok(response) if response.status() == StatusCode::OK => response.bytes().await.is_ok(),
            _ => false,
        };
        if answered {
            let micros = began.elapsed().as_micros();
            latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
        } else {
            errors += 1;
        }
    }
    (latencies, errors)
}

/// argon2id alone with the server's parameters on one thread per core, each
/// hashing into its own reused memory, nothing else running: hashes per
/// second, the ceiling of password logins on this machine.
pub fn argon2_limit(duration: Duration) -> anyhow::Result<f64> {
    let argon2 = switchyard::connectors::database::argon2id();
    let started = Instant::now();
    // A hash under way when the deadline passes finishes: the rate is over
    // the time taken, not the duration asked.
    let (hashed, threads) = on_every_core(duration, |end| {
        let mut memory = vec![argon2::Block::default(); argon2.params().block_count()];
        let mut out = [0u8; 32];
        let mut hashed = 0u64;
        while Instant::now() < end {
            argon2
                .hash_password_into_with_memory(
                    USER_PASSWORD.as_bytes(),
                    b"bench-salt-0123456789",
                    &mut out,
                    &mut memory[..],
                )
                .map_err(|e| anyhow!("argon2: {e}"))?;
            hashed += 1;
        }
        Ok(hashed)
    })?;
    let per_second = hashed as f64 / started.elapsed().as_secs_f64();
    println!(
        "argon2id limit (m=19 MiB, t=2, p=1, the server's): {per_second:.1} hashes/s on {threads} threads \
         = {per_second:.1} password logins/s at most"
    );
    Ok(per_second)
}

/// What a server holds once 1,000 users were provisioned and it idles.
pub struct IdleReport {
    users: usize,
    /// After start-up and the bench tenant, idle.
    before: Rss,
    /// The peak while the users were created.
    provisioning_peak_mib: f64,
    provisioning_seconds: f64,
    /// Answers 503 (hashing queue full) or 429, retried after a pause.
    retries: u64,
    /// [`IDLE`] after the last user.
    after: Rss,
}

/// A fresh server (its own data directory), [`PROVISIONED_USERS`] users
/// created through the Management API [`PROVISIONING_CONCURRENCY`] at a
/// time, then [`IDLE`] without a request.
pub async fn idle_after_users() -> anyhow::Result<IdleReport> {
    let dir = tempfile::tempdir()?;
    let server = start_switchyard(dir.path(), &NodeOptions::default()).await?;
    let pid = server.pid.context("no pid for the server")?;
    let http = reqwest::Client::new();
    let (_, token) = switchyard_tenant(&http, &server.issuer).await?;
    tokio::time::sleep(IDLE).await;
    let before = rss(pid)?;
    reset_peak(pid)?;
    let url: Arc<str> = format!("{}/api/v2/users", server.issuer.trim_end_matches('/')).into();
    let token: Arc<str> = token.into();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..PROVISIONING_CONCURRENCY)
        .map(|_| {
            let (http, url, token, next) = (http.clone(), url.clone(), token.clone(), next.clone());
            tokio::spawn(async move {
                let mut retries = 0u64;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= PROVISIONED_USERS {
                        return anyhow::Ok(retries);
                    }
                    let user = json!({
                        "connection": CONNECTION,
                        "email": format!("provisioned-{n}@switchyard.example"),
                        "password": USER_PASSWORD,
                    });
                    loop {
                        let response = http
                            .post(&*url)
                            .bearer_auth(&*token)
                            .json(&user)
                            .send()
                            .await?;
                        match response.status() {
                            status if status.is_success() => break,
                            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                                retries += 1;
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                            status => bail!("{url}: {status} {}", response.text().await?),
                        }
                    }
                }
            })
        })
        .collect();
    let mut retries = 0;
    for task in tasks {
        retries += task.await??;
    }
    let provisioning_seconds = started.elapsed().as_secs_f64();
    let provisioning_peak_mib = rss(pid)?.peak_mib;
    tokio::time::sleep(IDLE).await;
    let after = rss(pid)?;
    drop(server);
    Ok(IdleReport {
        users: PROVISIONED_USERS,
        before,
        provisioning_peak_mib,
        provisioning_seconds,
        retries,
        after,
    })
}

pub fn print_idle_report(report: &IdleReport) {
    println!();
    println!(
        "Idle memory after provisioning (a fresh server; RSS of its process, MiB): {} users created through \
         the Management API, {PROVISIONING_CONCURRENCY} at a time, in {:.1} s ({:.0}/s, {} retried after a 503/429)",
        report.users,
        report.provisioning_seconds,
        report.users as f64 / report.provisioning_seconds,
        report.retries
    );
    println!(
        "  idle before: {:.1}   peak while creating: {:.1}   idle {:.0} s after: {:.1} (VmHWM since the reset {:.1})",
        report.before.current_mib,
        report.provisioning_peak_mib,
        IDLE.as_secs_f64(),
        report.after.current_mib,
        report.after.peak_mib
    );
}

pub fn print_report(rows: &[MemoryRow]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "Switchyard's memory (RSS of the server process, MiB) under password hashing (argon2id, 19 MiB per hash):"
    );
    println!(
        "{:<40} {:>8} {:>8} {:>8}   {:>6} {:>6} {:>6} {:>6}   {:>7}",
        "scenario", "before", "peak", "after", "ok", "503", "429", "failed", "seconds"
    );
    for row in rows {
        let o = &row.outcomes;
        println!(
            "{:<40} {:>8.1} {:>8.1} {:>8.1}   {:>6} {:>6} {:>6} {:>6}   {:>7.1}",
            row.label,
            row.before.current_mib,
            row.during.peak_mib,
            row.during.current_mib,
            o.succeeded,
            o.busy,
            o.throttled,
            o.failed,
            row.seconds
        );
        if let Some(failure) = &o.first_failure {
            println!("    first failure: {failure}");
        }
        if let Some(storm) = &row.storm {
            print_storm(storm, o.succeeded as f64 / row.seconds);
        }
    }
}

fn print_storm(storm: &StormFigures, logins_per_second: f64) {
    let of_argon2 = storm.argon2_per_second.map_or_else(String::new, |limit| {
        format!(
            " = {:.0} % of argon2id alone ({limit:.1} hashes/s)",
            100.0 * logins_per_second / limit
        )
    });
    println!("    password logins: {logins_per_second:.1}/s{of_argon2}");
    let mut latencies = storm.discovery_us.clone();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let rank = ((latencies.len().saturating_sub(1)) as f64 * p).round() as usize;
        f64::from(latencies.get(rank).copied().unwrap_or(0)) / 1000.0
    };
    println!(
        "    discovery meanwhile (another client, one request every {} ms): p50 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms over {} requests, {} errors",
        PROBE_EVERY.as_millis(),
        percentile(0.5),
        percentile(0.99),
        percentile(1.0),
        latencies.len(),
        storm.discovery_errors
    );
}
