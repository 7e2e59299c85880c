//! The server's memory under password-hashing load (issue 11, item 2): peak
//! RSS of the Switchyard process while
//! - a burst of sign-ups from one address all submit their form at once
//!   (each costs an argon2id hash of 19 MiB), and
//! - a login storm: workers, each from its own loopback address (so that the
//!   per-address limits let them through, as a botnet would be), log in with
//!   the password again and again.
//!
//! Peak RSS is the kernel's high-water mark (`VmHWM`), reset before each
//! scenario by writing `5` to `/proc/<pid>/clear_refs` (Linux).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;

use super::{
    CONNECTION, Endpoints, USER_PASSWORD, authorize_url, code_of, hidden, management,
    password_login, redirect_target,
};

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
    Ok(MemoryRow {
        label: format!(
            "login storm, {workers} addresses, {:.0} s",
            duration.as_secs_f64()
        ),
        before,
        seconds: started.elapsed().as_secs_f64(),
        during: rss(pid)?,
        outcomes,
    })
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
    }
}
