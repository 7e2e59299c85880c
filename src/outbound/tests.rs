//! No request here leaves loopback: names resolve from a table, and a
//! listener on 127.0.0.1 shows whether anything tried to connect.

use std::net::{IpAddr, TcpListener};

use axum::Router;
use axum::routing::get;
use reqwest::dns::Resolve;

use super::*;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A loopback port that nothing serves: whatever connects stays in its
/// backlog, so [`connections_attempted`] can tell.
fn silent_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Whether anything connected to `listener` (a connection completes in the
/// kernel whether or not it is accepted, so once a request has failed any
/// attempt it made is waiting here).
fn connections_attempted(listener: &TcpListener) -> bool {
    match listener.accept() {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    }
}

fn names() -> Arc<StaticNames> {
    let public: IpAddr = "93.184.216.34".parse().unwrap();
    Arc::new(
        StaticNames::default()
            .with("rebind.test", &[LOOPBACK])
            .with("split.test", &[public, LOOPBACK])
            .with(
                "metadata.test",
                &["::ffff:169.254.169.254".parse().unwrap()],
            )
            .with("public.test", &[public]),
    )
}

fn outbound(destinations: Destinations) -> Outbound {
    Outbound::with_names(destinations, names()).unwrap()
}

#[tokio::test]
async fn address_literals_are_refused_before_connecting() {
    let (listener, port) = silent_listener();
    let client = outbound(Destinations::public_only());
    for url in [
        format!("https://127.0.0.1:{port}/"),
        format!("https://127.1:{port}/"),
        format!("https://[::ffff:127.0.0.1]:{port}/"),
        format!("https://[::ffff:7f00:1]:{port}/"),
        format!("https://localhost:{port}/"),
        format!("https://localhost.:{port}/"),
        format!("https://app.localhost:{port}/"),
        format!("http://127.0.0.1:{port}/"),
    ] {
        match client.post(&url) {
            Err(OutboundError::Refused(_)) => {}
            other => panic!("{url}: {other:?}"),
        }
    }
    assert!(!connections_attempted(&listener));
    // The control: where loopback may be reached (a localhost issuer), the
    // same literal is connected to, and the listener sees it.
    let local = outbound(Destinations::new(true, Vec::new()));
    let sent = send(local.post(&format!("http://127.0.0.1:{port}/")).unwrap());
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), sent).await;
    assert!(
        connections_attempted(&listener),
        "the control did not connect"
    );
}

#[tokio::test]
async fn a_name_resolving_to_a_refused_address_is_not_connected_to() {
    let (listener, port) = silent_listener();
    let client = outbound(Destinations::public_only());
    for name in ["rebind.test", "split.test"] {
        let request = client.get(&format!("https://{name}:{port}/")).unwrap();
        match send(request).await {
            Err(OutboundError::Refused(Refused::Resolved { address, .. })) => {
                assert_eq!(address, LOOPBACK, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(
        !connections_attempted(&listener),
        "connected to a refused address"
    );
}

#[tokio::test]
async fn a_name_resolving_into_an_allowed_network_is_connected_to() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = outbound(Destinations::new(
        false,
        vec!["127.0.0.0/8".parse().unwrap()],
    ));
    let request = tokio::spawn(send(
        client.get(&format!("https://rebind.test:{port}/")).unwrap(),
    ));
    // The address the table gave (rebind.test has no other) is connected
    // to; closed at once, the request fails.
    let accepted = tokio::time::timeout(std::time::Duration::from_secs(5), listener.accept()).await;
    assert!(matches!(accepted, Ok(Ok(_))), "nothing connected");
    drop(accepted);
    let result = request.await.unwrap();
    assert!(matches!(result, Err(OutboundError::Http(_))), "{result:?}");
}

#[tokio::test]
async fn the_resolver_hands_over_the_addresses_it_checked() {
    let resolver = CheckedResolver::new(names(), Arc::new(Destinations::public_only()));
    let resolved: Vec<_> = resolver
        .resolve("public.test".parse().unwrap())
        .await
        .unwrap()
        .map(|address| address.ip())
        .collect();
    assert_eq!(resolved, ["93.184.216.34".parse::<IpAddr>().unwrap()]);

    for name in ["metadata.test", "rebind.test", "localhost", "LOCALHOST."] {
        let error = match resolver.resolve(name.parse().unwrap()).await {
            Ok(addresses) => panic!("{name}: {:?}", addresses.collect::<Vec<_>>()),
            Err(error) => error,
        };
        assert!(error.downcast_ref::<Refused>().is_some(), "{name}: {error}");
    }
}

/// An http server on loopback answering with `app`.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn redirects_are_answers_not_followed() {
    let base = serve(
        Router::new()
            .route(
                "/moved",
                get(|| async { axum::response::Redirect::temporary("/target") }),
            )
            .route("/target", get(|| async { "followed" })),
    )
    .await;
    let client = outbound(Destinations::new(true, vec![]));
    let response = send(client.get(&format!("{base}/moved")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::TEMPORARY_REDIRECT);
}

#[tokio::test]
async fn bodies_are_read_up_to_a_bound() {
    let base = serve(Router::new().route("/doc", get(|| async { "x".repeat(100) }))).await;
    let client = outbound(Destinations::new(true, vec![]));
    let fetch = || async {
        send(client.get(&format!("{base}/doc")).unwrap())
            .await
            .unwrap()
    };
    assert_eq!(read_body(fetch().await, 100).await.unwrap().len(), 100);
    assert!(matches!(
        read_body(fetch().await, 99).await,
        Err(OutboundError::TooLarge { limit: 99 })
    ));
}

#[tokio::test]
async fn bodies_without_a_length_are_bounded_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0; 1024];
        let _ = socket.read(&mut request).await;
        let chunk = "x".repeat(64);
        let mut response = String::from("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
        for _ in 0..4 {
            response.push_str(&format!("40\r\n{chunk}\r\n"));
        }
        response.push_str("0\r\n\r\n");
        let _ = socket.write_all(response.as_bytes()).await;
    });
    let client = outbound(Destinations::new(true, vec![]));
    let response = send(client.get(&format!("http://127.0.0.1:{port}/")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.content_length(), None);
    assert!(matches!(
        read_body(response, 100).await,
        Err(OutboundError::TooLarge { limit: 100 })
    ));
}
