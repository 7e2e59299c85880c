//! What a server process spends during a scenario, from `/proc` (Linux):
//! its CPU time (`/proc/<pid>/stat`) and its peak resident memory. The peak
//! is the kernel's high-water mark `VmHWM`, reset before the scenario by
//! writing `5` to `/proc/<pid>/clear_refs`; where that is refused, `VmRSS`
//! sampled every 20 ms instead. Several processes (nodes) add up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// CPU seconds (user + system) the process has used so far, from
/// `/proc/<pid>/stat` (clock ticks of 1/100 s, the kernel's USER_HZ).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses:
    // state is the first, utime the 12th, stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// A `/proc/<pid>/status` field in MiB (`VmRSS:`, `VmHWM:`).
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// What the processes spent between [`Watch::start`] and [`Watch::finish`].
#[derive(Clone, Copy, Default)]
pub struct Usage {
    pub cpu_seconds: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

/// Watches processes from the start of a scenario.
pub struct Watch {
    pids: Vec<u32>,
    cpu_before: Option<f64>,
    /// Set when `clear_refs` was refused: the sampler of `VmRSS`.
    sampler: Option<(Arc<AtomicBool>, tokio::task::JoinHandle<f64>)>,
}

fn total_cpu(pids: &[u32]) -> Option<f64> {
    pids.iter().map(|&pid| cpu_seconds(pid)).sum()
}

fn total_rss(pids: &[u32], field: &str) -> Option<f64> {
    pids.iter().map(|&pid| status_mib(pid, field)).sum()
}

impl Watch {
    pub fn start(pids: &[u32]) -> Watch {
        let pids = pids.to_vec();
        let reset = pids
            .iter()
            .all(|pid| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok());
        let sampler = (!reset && !pids.is_empty()).then(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let (flag, sampled) = (stop.clone(), pids.clone());
            let task = tokio::spawn(async move {
                let mut peak: f64 = 0.0;
                while !flag.load(Ordering::Relaxed) {
                    peak = peak.max(total_rss(&sampled, "VmRSS:").unwrap_or(0.0));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                peak
            });
            (stop, task)
        });
        Watch {
            cpu_before: total_cpu(&pids),
            pids,
            sampler,
        }
    }

    pub async fn finish(self) -> Usage {
        let cpu_seconds = match (self.cpu_before, total_cpu(&self.pids)) {
            (Some(before), Some(after)) => Some(after - before),
            _ => None,
        };
        let peak_rss_mib = match self.sampler {
            Some((stop, task)) => {
                stop.store(true, Ordering::Relaxed);
                task.await.ok()
            }
            // The sum of each process's own peak (they need not coincide).
            None if !self.pids.is_empty() => total_rss(&self.pids, "VmHWM:"),
            None => None,
        };
        Usage {
            cpu_seconds,
            peak_rss_mib,
        }
    }
}
