//! What a login through an upstream IdP adds (issue 14): a full login with
//! an enterprise OIDC connection (`back_channel`) whose IdP is oidc-provider
//! on this machine, against the same login with a password, one login at a
//! time, alternating. Each login is a fresh browser (a cookie jar, every
//! redirect followed by hand) from an address of its own (the per-address
//! login limit is not what is measured), from `GET /authorize` to the
//! client's code redeemed at the token endpoint:
//! - password: `/authorize`, the login page, the identifier, the password
//!   (one argon2id hash), the token request;
//! - upstream: `/authorize?connection=…` (Switchyard's redirect to the IdP),
//!   the IdP's `/auth`, its login and consent interactions (completed at
//!   once by the bench's handler, no pages), its redirect back to
//!   `/login/callback` (where Switchyard redeems the IdP's code, verifies its
//!   ID token and finds or provisions the user), `/u/login/callback`, the
//!   token request.
//!
//! The first upstream login also fetches the IdP's metadata and JWKS: it is
//! reported apart, and the figures are those of the logins after it.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::json;

use super::memory::browser_from;
use super::{
    ClientCredentials, Endpoints, Measurement, REDIRECT_URI, USER_EMAIL, code_of, management,
    password_login, redeem, redirect_target,
};
use switchyard::model::client::SigningAlg;

const UPSTREAM_CONNECTION: &str = "bench-upstream";
const UPSTREAM_CLIENT_ID: &str = "switchyard-upstream";
const UPSTREAM_CLIENT_SECRET: &str = "bench-upstream-secret-0123456789";

/// One upstream login's time, split by who answered.
struct Split {
    total_us: u32,
    switchyard_us: u32,
    /// `/login/callback` and `/u/login/callback`: the IdP's code redeemed,
    /// its ID token verified, the user found or provisioned.
    callback_us: u32,
    upstream_us: u32,
}

pub struct Report {
    logins: usize,
    password: Measurement,
    upstream: Measurement,
    switchyard_hops: Measurement,
    callback: Measurement,
    upstream_hops: Measurement,
    first_upstream_ms: f64,
}

fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

/// The address of the `n`th login: 127.2.0.0/16, one each.
fn source(n: usize) -> IpAddr {
    let [_, _, high, low] = u32::try_from(n + 1).unwrap_or(0).to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(127, 2, high, low))
}

/// A password login to the redeemed code.
async fn password_once(
    n: usize,
    authorize: &str,
    token_endpoint: &str,
    client: &ClientCredentials,
) -> anyhow::Result<u32> {
    let browser = browser_from(source(n))?;
    let started = Instant::now();
    let answer = password_login(&browser, authorize, USER_EMAIL).await?;
    let code = code_of(&redirect_target(&answer).context("password step")?)?;
    redeem(&browser, token_endpoint, client, &code, SigningAlg::RS256).await?;
    Ok(micros(started))
}

/// A login through the upstream to the redeemed code, each answer's time
/// counted for the server that gave it.
async fn upstream_once(
    n: usize,
    authorize: &str,
    switchyard_origin: &url::Origin,
    token_endpoint: &str,
    client: &ClientCredentials,
) -> anyhow::Result<Split> {
    let browser = browser_from(source(n))?;
    let started = Instant::now();
    let mut split = Split {
        total_us: 0,
        switchyard_us: 0,
        callback_us: 0,
        upstream_us: 0,
    };
    let mut url = url::Url::parse(authorize)?;
    let mut hops = 0;
    while !url.as_str().starts_with(REDIRECT_URI) {
        hops += 1;
        if hops > 15 {
            bail!("no code after 15 redirects (at {url})");
        }
        let asked = Instant::now();
        let response = browser.get(url.clone()).send().await?;
        let took = micros(asked);
        if url.origin() == *switchyard_origin {
            split.switchyard_us += took;
            if ["/login/callback", "/u/login/callback"].contains(&url.path()) {
                split.callback_us += took;
            }
        } else {
            split.upstream_us += took;
        }
        url = redirect_target(&response)?;
    }
    let code = code_of(&url)?;
    let asked = Instant::now();
    redeem(&browser, token_endpoint, client, &code, SigningAlg::RS256).await?;
    split.switchyard_us += micros(asked);
    split.total_us = micros(started);
    Ok(split)
}

/// Starts the upstream IdP, points an enterprise OIDC connection of the
/// bench client at it, and times `logins` logins of each kind.
pub async fn measure(
    node: &std::path::Path,
    (issuer, endpoints): (&str, &Endpoints),
    (client, admin_token): (&ClientCredentials, &str),
    logins: usize,
) -> anyhow::Result<Report> {
    let base = issuer.trim_end_matches('/');
    let idp = super::start_oidc_provider(
        node,
        SigningAlg::RS256,
        &ClientCredentials {
            id: UPSTREAM_CLIENT_ID.into(),
            secret: UPSTREAM_CLIENT_SECRET.into(),
        },
        &format!("{base}/login/callback"),
    )
    .await?;
    let http = reqwest::Client::new();
    management(
        &http,
        admin_token,
        reqwest::Method::POST,
        &format!("{base}/api/v2/connections"),
        json!({"name": UPSTREAM_CONNECTION, "strategy": "oidc", "enabled_clients": [&*client.id],
               "options": {"type": "back_channel", "issuer": idp.issuer, "scope": "openid email",
                           "client_id": UPSTREAM_CLIENT_ID, "client_secret": UPSTREAM_CLIENT_SECRET}}),
    )
    .await?;
    super::switchyard_set_alg(&http, issuer, admin_token, &client.id, SigningAlg::RS256).await?;
    let authorize = super::authorize_url(&endpoints.authorization, &client.id)?;
    let upstream_authorize = format!("{authorize}&connection={UPSTREAM_CONNECTION}");
    let origin = url::Url::parse(issuer)?.origin();

    let first = upstream_once(0, &upstream_authorize, &origin, &endpoints.token, client)
        .await
        .context("the first login through the upstream IdP")?;
    let mut report = Report {
        logins,
        password: Measurement::default(),
        upstream: Measurement::default(),
        switchyard_hops: Measurement::default(),
        callback: Measurement::default(),
        upstream_hops: Measurement::default(),
        first_upstream_ms: f64::from(first.total_us) / 1000.0,
    };
    // A few of each before measuring (connections, caches, the JIT user).
    let warmup = 5;
    for n in 1..=logins + warmup {
        let password = password_once(2 * n, &authorize, &endpoints.token, client)
            .await
            .context("a password login")?;
        let split = upstream_once(
            2 * n + 1,
            &upstream_authorize,
            &origin,
            &endpoints.token,
            client,
        )
        .await
        .context("a login through the upstream IdP")?;
        if n <= warmup {
            continue;
        }
        report.password.latencies_us.push(password);
        report.upstream.latencies_us.push(split.total_us);
        report
            .switchyard_hops
            .latencies_us
            .push(split.switchyard_us);
        report.callback.latencies_us.push(split.callback_us);
        report.upstream_hops.latencies_us.push(split.upstream_us);
    }
    drop(idp);
    Ok(report)
}

pub fn print_report(report: &mut Report) {
    println!();
    println!(
        "login through an upstream IdP (oidc-provider, back_channel) vs with a password: {} each, \
         one at a time, alternating, each in a fresh browser, to the code redeemed",
        report.logins
    );
    println!("{:<62} {:>8} {:>8}", "", "p50 ms", "p99 ms");
    let row = |label: &str, m: &mut Measurement| {
        let (p50, p99) = (m.percentile_ms(0.5), m.percentile_ms(0.99));
        println!("{label:<62} {p50:>8.2} {p99:>8.2}");
        (p50, p99)
    };
    let password = row("password login", &mut report.password);
    let upstream = row("login through the upstream IdP", &mut report.upstream);
    println!(
        "{:<62} {:>+8.2} {:>+8.2}",
        "difference (upstream - password)",
        upstream.0 - password.0,
        upstream.1 - password.1
    );
    row(
        "  of which Switchyard's answers (and its token endpoint)",
        &mut report.switchyard_hops,
    );
    row(
        "    of which the way back (/login/callback, /u/login/callback)",
        &mut report.callback,
    );
    row("  of which the IdP's answers", &mut report.upstream_hops);
    println!(
        "the connection's first login (the IdP's metadata and JWKS fetched): {:.2} ms",
        report.first_upstream_ms
    );
}
