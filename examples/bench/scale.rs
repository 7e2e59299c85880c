//! Home-realm discovery at scale (issue 16, item 10): a tenant of
//! `--organizations` organizations (1,000,000), each with one verified
//! discovery domain (`company<N>.com`, every tenth including subdomains),
//! and a user who is a member of `--memberships` of them (10,000), seeded
//! with bulk inserts straight into the store (SQLite, or the empty
//! PostgreSQL database `--scale-database-url` names). Then:
//! - the routing table's cold load (every claim, a page at a time) and its
//!   memory (what it allocates, and the process's RSS before and after);
//! - routing lookups on one thread per core for `--duration` seconds: a
//!   third the claimed domains, a third a name below one (`mail.company<N>.com`,
//!   routed by the tenth that include subdomains), a third unknown domains;
//!   per core, and the p50/p99 of one lookup (every 64th timed);
//! - one login at a time, alternating between the member of many
//!   organizations and a member of one, each a fresh browser from its own
//!   address: the identifier step (`POST /u/login`) and the code's exchange
//!   at `/oauth/token`, timed apart (the password step between is argon2id
//!   and is not).
//!
//! ```sh
//! cargo run --release --example bench -- --only scale
//! cargo run --release --example bench -- --only scale --scale-database-url postgres://…/empty_db
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use sqlx::Executor;

use super::memory::browser_from;
use super::{
    BOOTSTRAP_ID, BOOTSTRAP_SECRET, CONNECTION, ClientCredentials, Measurement, USER_EMAIL,
    USER_PASSWORD, authorize_url, code_of, discover, hidden, machine, management, redeem,
    redirect_target, switchyard_tenant,
};
use switchyard::Application;
use switchyard::config::{BootstrapClient, Config, TlsMode};
use switchyard::model::client::SigningAlg;
use switchyard::routing::RoutingTable;

/// Rows per bulk insert statement.
const BATCH: usize = 5_000;
const MANY_EMAIL: &str = "member-of-many@switchyard.example";

pub struct Options {
    pub organizations: usize,
    pub memberships: usize,
    pub database_url: Option<String>,
    pub duration: Duration,
    pub logins: usize,
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|kb| {
                    kb.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<usize>()
                        .ok()
                })
        })
        .unwrap_or(0)
        * 1024
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The organizations and their verified domains, `BATCH` rows a statement.
async fn seed(pool: &sqlx::AnyPool, organizations: usize, now: i64) -> anyhow::Result<()> {
    for first in (1..=organizations).step_by(BATCH) {
        let last = (first + BATCH - 1).min(organizations);
        let orgs: Vec<String> = (first..=last)
            .map(|n| format!("('org_bench{n}', 'bench-org-{n}', {now}, {now})"))
            .collect();
        let domains: Vec<String> = (first..=last)
            .map(|n| {
                let domain = format!("company{n}.com");
                format!(
                    "('dom_bench{n}', 'org_bench{n}', '{domain}', 'verified', true, 'txt', null, {}, \
                     {now}, {now}, '{}')",
                    n % 10 == 0,
                    switchyard::store::discovery_domains::reversed(&domain)
                )
            })
            .collect();
        let mut tx = pool.begin().await?;
        tx.execute(
            format!(
                "insert into organizations (id, name, created_at, updated_at) values {}",
                orgs.join(",")
            )
            .as_str(),
        )
        .await?;
        tx.execute(
            format!(
                "insert into discovery_domains (id, organization_id, domain, status, \
                 use_for_organization_discovery, verification_txt, connection_id, \
                 include_subdomains, created_at, updated_at, reversed_domain) values {}",
                domains.join(",")
            )
            .as_str(),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// `user_id` a member of organizations 1..=`count`.
async fn add_memberships(
    pool: &sqlx::AnyPool,
    user_id: &str,
    count: usize,
    now: i64,
) -> anyhow::Result<()> {
    for first in (1..=count).step_by(BATCH) {
        let last = (first + BATCH - 1).min(count);
        let rows: Vec<String> = (first..=last)
            .map(|n| format!("('org_bench{n}', '{user_id}', {now})"))
            .collect();
        pool.execute(
            format!(
                "insert into organization_members (organization_id, user_id, created_at) values {}",
                rows.join(",")
            )
            .as_str(),
        )
        .await?;
    }
    Ok(())
}

struct Lookups {
    threads: usize,
    per_core: f64,
    latencies_ns: Vec<u32>,
    /// Of the lookups, how many found a route (36.7 % expected).
    routed_share: f64,
}

/// Lookups on one thread per core for `duration`.
fn measure_lookups(table: &RoutingTable, organizations: usize, duration: Duration) -> Lookups {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    // The names asked, made before: a third claimed, a third below a claim, a third unknown.
    let names: Arc<Vec<String>> = Arc::new(
        (0..300_000usize)
            .map(|i| {
                // Spread over every claim (a multiplicative hash of i).
                let n = (i.wrapping_mul(2_654_435_761) % organizations) + 1;
                match i % 3 {
                    0 => format!("company{n}.com"),
                    1 => format!("mail.company{n}.com"),
                    _ => format!("unknown{n}.com"),
                }
            })
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (table, names, stop) = (table.clone(), names.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut done, mut routed, mut latencies) = (0u64, 0u64, Vec::new());
                let mut i = t * 7919;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        i = (i + 1) % names.len();
                        routed += u64::from(table.route(&names[i]).is_some());
                    }
                    let asked = Instant::now();
                    i = (i + 1) % names.len();
                    routed += u64::from(table.route(&names[i]).is_some());
                    latencies.push(u32::try_from(asked.elapsed().as_nanos()).unwrap_or(u32::MAX));
                    done += 65;
                }
                (done, routed, latencies)
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let (mut total, mut routed, mut latencies_ns) = (0u64, 0u64, Vec::new());
    for worker in workers {
        if let Ok((done, r, l)) = worker.join() {
            total += done;
            routed += r;
            latencies_ns.extend(l);
        }
    }
    latencies_ns.sort_unstable();
    Lookups {
        threads,
        per_core: total as f64 / duration.as_secs_f64() / threads as f64,
        latencies_ns,
        routed_share: routed as f64 / total.max(1) as f64,
    }
}

fn percentile_us(sorted_ns: &[u32], p: f64) -> f64 {
    let rank = ((sorted_ns.len().saturating_sub(1)) as f64 * p).round() as usize;
    f64::from(sorted_ns.get(rank).copied().unwrap_or(0)) / 1000.0
}

/// The address of the `n`th login: 127.3.0.0/16, one each.
fn source(n: usize) -> IpAddr {
    let [_, _, high, low] = u32::try_from(n + 1).unwrap_or(0).to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(127, 3, high, low))
}

/// One login of `email`: the identifier step's and the token exchange's
/// microseconds.
async fn login_once(
    n: usize,
    authorize: &str,
    token_endpoint: &str,
    client: &ClientCredentials,
    email: &str,
) -> anyhow::Result<(u32, u32)> {
    let browser = browser_from(source(n))?;
    let start = browser.get(authorize).send().await?;
    let page_url = redirect_target(&start)?;
    let page = browser.get(page_url.clone()).send().await?.text().await?;
    let (state, csrf) = (hidden(&page, "state")?, hidden(&page, "csrf")?);
    let asked = Instant::now();
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
    let identifier_us = micros(asked);
    let password = browser
        .post(page_url.join("/u/login/password")?)
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("password", USER_PASSWORD),
        ])
        .send()
        .await?;
    let code = code_of(&redirect_target(&password).context("password step")?)?;
    let asked = Instant::now();
    redeem(&browser, token_endpoint, client, &code, SigningAlg::RS256).await?;
    Ok((identifier_us, micros(asked)))
}

fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

async fn serve(
    data_dir: &Path,
    database_url: &str,
) -> anyhow::Result<(String, axum_server::Handle)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = Config {
        database_url: database_url.to_owned(),
        data_dir: data_dir.to_path_buf(),
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
        connection_limits: Default::default(),
        key_encryption_key: Default::default(),
        outbound: Default::default(),
        dns: Default::default(),
        metrics_listen: None,
    };
    let app = Application::build(config).await?;
    let issuer = app.issuer().to_owned();
    let handle = axum_server::Handle::new();
    let serving = handle.clone();
    tokio::spawn(async move {
        if let Err(e) = app.serve(serving).await {
            eprintln!("the server stopped: {e:#}");
        }
    });
    Ok((issuer, handle))
}

pub async fn run(options: &Options) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir()?;
    let database_url = match &options.database_url {
        Some(url) => url.clone(),
        None => switchyard::store::sqlite_url_for(&dir.path().join("switchyard.db")),
    };
    let clock = switchyard::clock::Clock::system();
    let now = clock.now_unix_millis();
    let store =
        switchyard::open_store(dir.path(), &database_url, &Default::default(), clock).await?;
    let backend = format!("{:?}", store.backend());
    println!(
        "Home-realm discovery at scale ({backend}), {}; load average before: {}",
        machine(),
        super::load_average()
    );
    let pool = sqlx::AnyPool::connect(&database_url).await?;
    let seeding = Instant::now();
    seed(&pool, options.organizations, now).await?;
    println!(
        "seeded {} organizations and as many verified domains in {:.1} s",
        options.organizations,
        seeding.elapsed().as_secs_f64()
    );

    // The routing table alone: cold load, memory, lookups.
    let rss_before = rss_bytes();
    let table = RoutingTable::new(store.clone());
    let loading = Instant::now();
    table.load().await?;
    let load_seconds = loading.elapsed().as_secs_f64();
    let stats = table.stats();
    let rss_after = rss_bytes();
    println!(
        "routing table: {} claims loaded in {load_seconds:.2} s (cold, pages of 10,000); \
         {:.1} MiB allocated ({:.0} bytes a claim), RSS +{:.1} MiB",
        stats.claims,
        mib(stats.heap_bytes),
        stats.heap_bytes as f64 / stats.claims.max(1) as f64,
        mib(rss_after.saturating_sub(rss_before)),
    );
    let lookups = measure_lookups(&table, options.organizations, options.duration);
    println!(
        "routing lookups: {:.2} million/s per core on {} threads ({:.1} % routed; 36.7 % expected), \
         p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs",
        lookups.per_core / 1e6,
        lookups.threads,
        lookups.routed_share * 100.0,
        percentile_us(&lookups.latencies_ns, 0.5),
        percentile_us(&lookups.latencies_ns, 0.99),
        percentile_us(&lookups.latencies_ns, 0.999),
    );
    drop(table);

    // The server on the seeded database; the two users.
    let starting = Instant::now();
    let (issuer, handle) = serve(dir.path(), &database_url).await?;
    println!(
        "server start on the seeded database (migrations checked, routing table loaded): {:.2} s",
        starting.elapsed().as_secs_f64()
    );
    let http = reqwest::Client::new();
    let endpoints = discover(&http, &issuer).await?;
    let (client, admin) = switchyard_tenant(&http, &issuer).await?;
    super::switchyard_set_alg(&http, &issuer, &admin, &client.id, SigningAlg::RS256).await?;
    let base = issuer.trim_end_matches('/');
    let many: Value = management(
        &http,
        &admin,
        reqwest::Method::POST,
        &format!("{base}/api/v2/users"),
        json!({"connection": CONNECTION, "email": MANY_EMAIL, "password": USER_PASSWORD}),
    )
    .await?;
    let one: Value = http
        .get(format!("{base}/api/v2/users-by-email"))
        .query(&[("email", USER_EMAIL)])
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let id_of = |user: &Value| user["user_id"].as_str().map(str::to_owned);
    let many_id = id_of(&many).context("no user_id")?;
    let one_id = id_of(&one[0]).context("no user_id for the one-organization user")?;
    add_memberships(&pool, &many_id, options.memberships, now).await?;
    add_memberships(&pool, &one_id, 1, now).await?;

    let authorize = authorize_url(&endpoints.authorization, &client.id)?;
    let mut rows: [(String, Measurement, Measurement); 2] = [
        (
            format!("member of {}", options.memberships),
            Measurement::default(),
            Measurement::default(),
        ),
        (
            "member of 1".to_owned(),
            Measurement::default(),
            Measurement::default(),
        ),
    ];
    let warmup = 5;
    for n in 0..options.logins + warmup {
        for (k, email) in [MANY_EMAIL, USER_EMAIL].into_iter().enumerate() {
            let (identifier, token) =
                login_once(2 * n + k, &authorize, &endpoints.token, &client, email)
                    .await
                    .with_context(|| format!("a login of {email}"))?;
            if n >= warmup {
                rows[k].1.latencies_us.push(identifier);
                rows[k].2.latencies_us.push(token);
            }
        }
    }
    println!(
        "{} logins of each user, one at a time, alternating (a fresh browser each):",
        options.logins
    );
    println!(
        "  {:<22} {:>14} {:>14} {:>14} {:>14}",
        "", "identifier p50", "identifier p99", "token p50", "token p99"
    );
    for (label, identifier, token) in &mut rows {
        println!(
            "  {label:<22} {:>11.2} ms {:>11.2} ms {:>11.2} ms {:>11.2} ms",
            identifier.percentile_ms(0.5),
            identifier.percentile_ms(0.99),
            token.percentile_ms(0.5),
            token.percentile_ms(0.99),
        );
    }
    println!("load average after: {}", super::load_average());
    handle.shutdown();
    pool.close().await;
    store.close().await;
    Ok(())
}
