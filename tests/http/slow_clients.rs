//! Clients that hold connections without using them: each is closed within
//! the configured time, and connections over the cap are refused, so that
//! they cannot starve the clients that send requests.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::support::{Backend, TestApp, spawn_configured};
use switchyard::config::TlsMode;
use switchyard::transport::ConnectionLimits;

async fn spawn_limited(limits: ConnectionLimits, tls: TlsMode) -> TestApp {
    spawn_configured(Backend::Sqlite, |config| {
        config.connection_limits = limits;
        config.tls = tls;
    })
    .await
}

fn address(app: &TestApp) -> String {
    app.base
        .rsplit_once("://")
        .map(|(_, rest)| rest.to_owned())
        .unwrap()
}

/// Reads until the server closes the connection (EOF or an error); the
/// time it took, or `None` if it was still open after `limit`.
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    limit: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

#[tokio::test]
async fn slowloris_headers_are_cut_off_at_the_header_timeout() {
    let app = spawn_limited(
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        TlsMode::InsecureHttp,
    )
    .await;
    let stream = TcpStream::connect(address(&app)).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    // A header line every 200 ms keeps bytes flowing, never finishing the head.
    let trickle = tokio::spawn(async move {
        for i in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer
                .write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let closed = closed_within(&mut reader, Duration::from_secs(5)).await;
    trickle.abort();
    let closed = closed.expect("a slowloris request was still open after 5 s");
    assert!(
        closed >= Duration::from_millis(900),
        "closed after {closed:?}"
    );
    // Meanwhile the server answers everyone else.
    let discovery = app
        .http
        .get(format!("{}/.well-known/openid-configuration", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
}

#[tokio::test]
async fn an_idle_tls_connection_is_closed_at_the_idle_timeout() {
    let app = spawn_limited(
        ConnectionLimits {
            idle_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        TlsMode::Dev,
    )
    .await;
    let pem = std::fs::read(app.dir.path().join("tls/cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&pem) {
        roots.add(cert).unwrap();
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let tcp = TcpStream::connect(address(&app)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    // The handshake completes; then the client sends nothing at all.
    let mut stream = connector.connect(name, tcp).await.unwrap();
    let closed = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("an idle TLS connection was still open after 5 s");
    assert!(
        closed >= Duration::from_millis(900),
        "closed after {closed:?}"
    );
}

/// The certificates of a PEM file.
fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|cert| cert.unwrap())
        .collect()
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_a_freed_place_is_reused() {
    let app = spawn_limited(
        ConnectionLimits {
            max_connections: 2,
            ..Default::default()
        },
        TlsMode::InsecureHttp,
    )
    .await;
    let first = TcpStream::connect(address(&app)).await.unwrap();
    let _second = TcpStream::connect(address(&app)).await.unwrap();
    let mut third = TcpStream::connect(address(&app)).await.unwrap();
    // The third is closed at once, though its client has sent nothing yet.
    closed_within(&mut third, Duration::from_secs(5))
        .await
        .expect("a connection over the cap was left open");

    // Once a place is free, a new client is served again.
    drop(first);
    let request =
        b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = TcpStream::connect(address(&app)).await.unwrap();
        let mut response = Vec::new();
        if stream.write_all(request).await.is_ok() {
            let _ = stream.read_to_end(&mut response).await;
        }
        if response.starts_with(b"HTTP/1.1 200") {
            break;
        }
        // The server may not have seen the first client leave yet.
        assert!(
            Instant::now() < deadline,
            "no place was freed after a client closed its connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
