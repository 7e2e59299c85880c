//! A real DNS server for the tests: dnsmasq on loopback (a free port the
//! system picks, never mDNS's 5353), answering TXT records for names under
//! `.test` (unknown `.test` names: NXDOMAIN; any other name: REFUSED).
//! It fails the test loudly when dnsmasq is missing or does not start
//! (`scripts/setup.sh test` installs it).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long dnsmasq may take to say it started.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub struct DnsServer {
    pub addr: SocketAddr,
    child: Child,
}

impl DnsServer {
    /// dnsmasq serving `records` (`(name, text)`: one TXT record each; a
    /// name given twice has two).
    pub fn start(records: &[(&str, &str)]) -> DnsServer {
        let port = free_port();
        DnsServer {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child: spawn_dnsmasq(port, records),
        }
    }

    /// Serves `records` instead (dnsmasq reads them at start only).
    pub fn publish(&mut self, records: &[(&str, &str)]) {
        self.stop();
        self.child = spawn_dnsmasq(self.addr.port(), records);
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port free for both UDP and TCP on loopback.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("binding a UDP port on loopback");
        let port = udp.local_addr().expect("udp address").port();
        if port != 5353 && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn spawn_dnsmasq(port: u16, records: &[(&str, &str)]) -> Child {
    let mut command = Command::new("dnsmasq");
    command.args([
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--pid-file=",
        "--local=/test/",
        "--log-facility=-",
    ]);
    command.arg(format!("--port={port}"));
    if is_root() {
        // As root it would switch to `nobody` (PEERS.md §8 keeps root).
        command.arg("--user=root");
    }
    for (name, text) in records {
        command.arg(format!("--txt-record={name},{text}"));
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run dnsmasq ({e}): install it with `bash scripts/setup.sh test`")
        });
    let stderr = child.stderr.take().expect("dnsmasq stderr");
    let (started, told) = mpsc::channel();
    std::thread::spawn(move || {
        let mut said = Vec::new();
        let mut told_started = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !told_started && line.contains("started, version") {
                let _ = started.send(Ok(()));
                told_started = true;
            }
            if !told_started {
                said.push(line);
            }
        }
        if !told_started {
            let _ = started.send(Err(said.join("\n")));
        }
    });
    match told.recv_timeout(START_TIMEOUT) {
        Ok(Ok(())) => child,
        Ok(Err(said)) => panic!("dnsmasq did not start on 127.0.0.1:{port}:\n{said}"),
        Err(_) => {
            let _ = child.kill();
            panic!("dnsmasq did not say it started on 127.0.0.1:{port} within {START_TIMEOUT:?}")
        }
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
