//! Two `switchyard serve` processes on one PostgreSQL database: a domain
//! moved from one organization to another through node A's Management API
//! is routed to its new organization by node B within a second. Node B's
//! routing table is read where it lives, in B's memory, through its metrics
//! listener's `/routing/{domain}` (the login step reads the same table).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use support::PostgresDatabase;

const CLIENT_ID: &str = "twoNodesBootstrap0123456789abcd";
const CLIENT_SECRET: &str = "two-nodes-bootstrap-secret-0123456789";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `switchyard serve` process, killed when dropped.
struct Node {
    child: Child,
    base: String,
    metrics: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Starts a node on `database_url` and waits until it is ready.
    async fn start(database_url: &str, key: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let (port, metrics_port) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
            .args(["--insecure-http", "--no-demo", "--no-demo-idp"])
            .args(["--database-url", database_url])
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--bootstrap-client-id", CLIENT_ID])
            .args(["--bootstrap-client-secret", CLIENT_SECRET])
            .env_clear()
            .env(switchyard::secrets::files::KEY_ENV, key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let node = Node {
            child,
            base: format!("http://localhost:{port}"),
            metrics: format!("http://127.0.0.1:{metrics_port}"),
            _dir: dir,
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{}/readyz", node.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return node;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the node did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn admin_token(&self, http: &reqwest::Client) -> String {
        let token: Value = http
            .post(format!("{}/oauth/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("audience", &format!("{}/api/v2/", self.base)),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token["access_token"].as_str().unwrap().to_owned()
    }

    /// The organization this node's routing table sends `domain` to.
    async fn routes(&self, http: &reqwest::Client, domain: &str) -> Option<String> {
        let answer: Value = http
            .get(format!("{}/routing/{domain}", self.metrics))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["organization_id"].as_str().map(str::to_owned)
    }
}

async fn api(
    http: &reqwest::Client,
    token: &str,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> Value {
    let mut request = http.request(method, &url).bearer_auth(token);
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {body}");
    body
}

/// Asks `node` until it routes `domain` to `organization` (a deadline, no
/// fixed sleep); how long that took.
async fn routed_within(
    node: &Node,
    http: &reqwest::Client,
    domain: &str,
    organization: Option<&str>,
    deadline: Duration,
) -> Duration {
    let since = Instant::now();
    loop {
        let routed = node.routes(http, domain).await;
        if routed.as_deref() == organization {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < deadline,
            "after {deadline:?} node B still routes {domain} to {routed:?}, not {organization:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_moved_on_one_node_routes_to_its_new_organization_on_the_other_postgres() {
    let database = PostgresDatabase::create().await;
    let (_, key) = switchyard::secrets::KeyEncryptionKey::generate().unwrap();
    // One after the other: the first migrates the schema.
    let a = Node::start(&database.url, key.expose()).await;
    let b = Node::start(&database.url, key.expose()).await;
    let http = reqwest::Client::new();
    let admin = a.admin_token(&http).await;
    let post = reqwest::Method::POST;
    let organization = |name: &'static str| {
        api(
            &http,
            &admin,
            post.clone(),
            format!("{}/api/v2/organizations", a.base),
            json!({"name": name}),
        )
    };
    let acme = organization("acme").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let globex = organization("globex").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let claim = |organization: &str| {
        api(
            &http,
            &admin,
            post.clone(),
            format!(
                "{}/api/v2/organizations/{organization}/discovery-domains",
                a.base
            ),
            json!({"domain": "Moving.Example", "status": "verified", "include_subdomains": true}),
        )
    };

    assert_eq!(b.routes(&http, "moving.example").await, None);
    let claimed = claim(&acme).await;
    routed_within(
        &b,
        &http,
        "moving.example",
        Some(&acme),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(
        b.routes(&http, "mail.moving.example").await.as_deref(),
        Some(acme.as_str())
    );

    // Moved: released by acme, claimed by globex, both through node A.
    api(
        &http,
        &admin,
        reqwest::Method::DELETE,
        format!(
            "{}/api/v2/organizations/{acme}/discovery-domains/{}",
            a.base,
            claimed["id"].as_str().unwrap()
        ),
        Value::Null,
    )
    .await;
    claim(&globex).await;
    let took = routed_within(
        &b,
        &http,
        "moving.example",
        Some(&globex),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(
        b.routes(&http, "mail.moving.example").await.as_deref(),
        Some(globex.as_str())
    );
    eprintln!("node B routed the moved domain after {took:?}");

    // Deleting the organization takes its domain out of B's table too.
    api(
        &http,
        &admin,
        reqwest::Method::DELETE,
        format!("{}/api/v2/organizations/{globex}", a.base),
        Value::Null,
    )
    .await;
    routed_within(&b, &http, "moving.example", None, Duration::from_secs(1)).await;
    drop((a, b));
}
