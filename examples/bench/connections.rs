//! Slow and idle connections (issue 11, item 1): discovery's rate and
//! latency while hundreds of connections sit on the server, half of them
//! sending nothing after connecting, half a slowloris request (one more
//! header line every two seconds, never the blank line); and how long the
//! server keeps each of them. Switchyard runs with its default limits
//! (10 s to send the headers, 60 s idle).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Measurement, Timing, measure_get};

/// What the attack's connections went through.
pub struct Held {
    pub opened: usize,
    /// Seconds from opening to the server closing it, per connection it closed.
    pub closed_after: Vec<f64>,
}

pub struct ConnectionsReport {
    pub quiet: Measurement,
    pub attacked: Measurement,
    pub idle: Held,
    pub slowloris: Held,
}

/// One attacking connection: `slow` sends a request's first lines and then
/// a header line every two seconds; otherwise nothing. Ends when the server
/// closes it (the seconds it took) or after `give_up`.
async fn hold(address: SocketAddr, slow: bool, give_up: Duration) -> anyhow::Result<Option<f64>> {
    let opened = Instant::now();
    let mut stream = TcpStream::connect(address).await?;
    if slow {
        stream
            .write_all(b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: bench\r\n")
            .await?;
    }
    let mut buffer = [0u8; 512];
    let mut next_line = tokio::time::interval(Duration::from_secs(2));
    next_line.tick().await;
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => {
                // The server closed it (0 bytes or a reset) or answered: either
                // way it stopped waiting for us.
                let _ = read;
                return Ok(Some(opened.elapsed().as_secs_f64()));
            }
            _ = next_line.tick(), if slow => {
                if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    return Ok(Some(opened.elapsed().as_secs_f64()));
                }
            }
            _ = tokio::time::sleep_until((opened + give_up).into()) => return Ok(None),
        }
    }
}

async fn hold_many(
    address: SocketAddr,
    count: usize,
    slow: bool,
    give_up: Duration,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<Option<f64>>>> {
    (0..count)
        .map(|_| tokio::spawn(hold(address, slow, give_up)))
        .collect()
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Option<f64>>>>) -> Held {
    let opened = tasks.len();
    let mut closed_after = Vec::new();
    for task in tasks {
        if let Ok(Ok(Some(seconds))) = task.await {
            closed_after.push(seconds);
        }
    }
    closed_after.sort_by(f64::total_cmp);
    Held {
        opened,
        closed_after,
    }
}

/// Discovery measured quiet, then with `count` idle and `count` slowloris
/// connections held open; each attacking connection is watched for up to
/// 75 s (past the idle timeout).
pub async fn measure(
    issuer: &str,
    discovery: &str,
    count: usize,
    timing: Timing,
) -> anyhow::Result<ConnectionsReport> {
    let url = url::Url::parse(issuer)?;
    let address = url
        .socket_addrs(|| None)?
        .into_iter()
        .next()
        .context("the issuer names no address")?;
    let quiet = measure_get(discovery, timing).await?;
    let give_up = Duration::from_secs(75);
    let idle = hold_many(address, count, false, give_up).await;
    let slowloris = hold_many(address, count, true, give_up).await;
    // Every attacking connection is open (or refused) before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attacked = measure_get(discovery, timing).await?;
    Ok(ConnectionsReport {
        quiet,
        attacked,
        idle: collect(idle).await,
        slowloris: collect(slowloris).await,
    })
}

fn describe(held: &Held) -> String {
    let at = |p: f64| {
        let rank = ((held.closed_after.len().saturating_sub(1)) as f64 * p).round() as usize;
        held.closed_after.get(rank).copied().unwrap_or(f64::NAN)
    };
    format!(
        "{} of {} closed by the server, after {:.1} s (first) / {:.1} s (median) / {:.1} s (last)",
        held.closed_after.len(),
        held.opened,
        at(0.0),
        at(0.5),
        at(1.0)
    )
}

pub fn print_report(report: &mut ConnectionsReport) {
    println!();
    println!(
        "Slow and idle connections (Switchyard, default limits: 10 s for the headers, 60 s idle):"
    );
    for (label, m) in [
        ("discovery, quiet", &mut report.quiet),
        ("discovery, attacked", &mut report.attacked),
    ] {
        println!(
            "  {label:<22} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}",
            m.rate(),
            m.percentile_ms(0.5),
            m.percentile_ms(0.99),
            m.errors
        );
    }
    println!("  idle connections:      {}", describe(&report.idle));
    println!("  slowloris requests:    {}", describe(&report.slowloris));
}
