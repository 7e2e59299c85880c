//! The `switchyard` command as a shell uses it.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::Read;
use std::process::{Command, Stdio};

/// `switchyard openapi | head` closes the pipe long before the document
/// (≈ 150 KB, more than a pipe holds) is written: the command ends quietly
/// with success, as other command-line tools do, instead of panicking.
#[test]
fn openapi_into_a_pipe_closed_early_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"{"), "{first:?}");
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `switchyard migrate` on a new data directory logs the key-encryption
/// key it made: the log line as the given format writes it to stderr.
fn migrate_logs(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("migrate")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("SWITCHYARD_LOG_FORMAT")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("schema is up to date"), "{stdout}");
    assert!(
        !stdout.contains("key-encryption key"),
        "logs stay off stdout"
    );
    stderr
}

#[test]
fn json_logs_are_one_object_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = migrate_logs(&dir.path().join("flag"), &["--log-format", "json"], &[]);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let made = lines
        .iter()
        .find(|line| line["message"] == "made a new key-encryption key")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(made["level"], "INFO");
    assert!(made["kek_id"].is_string(), "{made}");

    // The same from the environment, and from the configuration file.
    let stderr = migrate_logs(
        &dir.path().join("env"),
        &[],
        &[("SWITCHYARD_LOG_FORMAT", "json")],
    );
    assert!(stderr.starts_with('{'), "{stderr}");
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, "[log]\nformat = \"json\"\n").unwrap();
    let stderr = migrate_logs(
        &dir.path().join("file"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    assert!(stderr.starts_with('{'), "{stderr}");
}

/// Text logs into a pipe (a file, a journal) carry no colour codes.
#[test]
fn text_logs_into_a_pipe_have_no_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = migrate_logs(dir.path(), &[], &[]);
    assert!(stderr.contains("made a new key-encryption key"), "{stderr}");
    assert!(!stderr.contains("\x1b["), "{stderr:?}");
}

/// `switchyard serve` run as the README runs it, in a directory of its own
/// (the default data directory `data` beneath it), listening on `listen`;
/// killed when dropped. Its stdout is read a line at a time.
struct Server {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Server {
    fn start(dir: &std::path::Path, listen: &str) -> Server {
        Self::start_with(dir, &["--listen", listen])
    }

    /// `switchyard serve` with `args`.
    fn start_with(dir: &std::path::Path, args: &[impl AsRef<std::ffi::OsStr>]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("serve")
            .args(args)
            .current_dir(dir)
            // Nothing of the test's own environment (SWITCHYARD_*) applies.
            .env_clear()
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in stdout.lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Server { child, lines }
    }

    /// The lines printed up to and including the first that `last` accepts.
    fn read_until(&self, last: impl Fn(&str) -> bool) -> Vec<String> {
        let mut read = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(std::time::Duration::from_secs(120))
                .unwrap_or_else(|e| panic!("{e} after {read:#?}"));
            let done = last(&line);
            read.push(line);
            if done {
                return read;
            }
        }
    }

    /// The first start's block, from "Switchyard is listening" to the
    /// demo's `shell:` line.
    fn first_start_block(&self) -> Vec<String> {
        let mut block = self.read_until(|line| line.starts_with("  shell:"));
        let start = block
            .iter()
            .position(|line| line.starts_with("Switchyard is listening on"))
            .unwrap_or_else(|| panic!("{block:#?}"));
        block.drain(..start);
        block
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in the line "Switchyard is listening on 127.0.0.1:PORT".
fn port_of(lines: &[String]) -> u16 {
    let listening = lines
        .iter()
        .find_map(|line| line.strip_prefix("Switchyard is listening on "))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    listening.rsplit(':').next().unwrap().parse().unwrap()
}

/// The demo tenant's credentials as a printed block gives them.
#[derive(Debug, Clone, PartialEq)]
struct DemoCredentials {
    web_client_id: String,
    web_client_secret: String,
    m2m_client_id: String,
    m2m_client_secret: String,
    user_password: String,
    /// The `ID=… SECRET=…` line, as a newcomer pastes it into a shell.
    shell: String,
    /// The demo IdP's issuer and its user's password, when it runs.
    idp: Option<(String, String)>,
}

impl DemoCredentials {
    fn parse(block: &[String]) -> DemoCredentials {
        let line = |start: &str| {
            block
                .iter()
                .find(|line| line.trim_start().starts_with(start))
                .unwrap_or_else(|| panic!("no {start} line in {block:#?}"))
                .as_str()
        };
        let value = |line: &str, key: &str| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {line}"))
                .to_owned()
        };
        let web = line("web app client");
        let m2m = line("machine client");
        let user: Vec<&str> = line("demo user").split_whitespace().collect();
        let shell = line("shell:").trim_start().strip_prefix("shell:").unwrap();
        let idp = block
            .iter()
            .find(|line| line.trim_start().starts_with("demo IdP user"))
            .map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                let password = words[words.iter().position(|w| *w == "/").unwrap() + 1];
                let issuer = words.iter().find(|w| w.starts_with("http://")).unwrap();
                (issuer.trim_end_matches(';').to_owned(), password.to_owned())
            });
        DemoCredentials {
            idp,
            web_client_id: value(web, "client_id="),
            web_client_secret: value(web, "client_secret="),
            m2m_client_id: value(m2m, "client_id="),
            m2m_client_secret: value(m2m, "client_secret="),
            user_password: user[user.iter().position(|w| *w == "/").unwrap() + 1].to_owned(),
            shell: shell.trim().to_owned(),
        }
    }

    /// `block` with the random values as the README writes them (`…`) and
    /// the port as 8443 (the demo IdP's as 8444).
    fn as_in_readme(&self, block: &[String], port: u16) -> Vec<String> {
        block
            .iter()
            .map(|line| {
                let mut line = line.clone();
                if let Some((issuer, password)) = &self.idp {
                    // The IdP's first: its issuer ends with the port and a slash.
                    line = line
                        .replace(issuer.as_str(), "http://127.0.0.1:8444/")
                        .replace(password.as_str(), "…");
                }
                line = line.replace(&format!(":{port}"), ":8443");
                for random in [
                    &self.web_client_id,
                    &self.web_client_secret,
                    &self.m2m_client_id,
                    &self.m2m_client_secret,
                    &self.user_password,
                ] {
                    line = line.replace(random.as_str(), "…");
                }
                line
            })
            .collect()
    }
}

/// README.md's fenced block (its lines within the fences) that holds a line
/// starting with `holding`.
fn readme_block(holding: &str) -> Vec<String> {
    let readme = include_str!("../README.md");
    let mut block = Vec::new();
    let mut inside = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            if inside && block.iter().any(|l: &String| l.starts_with(holding)) {
                return block;
            }
            inside = !inside;
            block.clear();
        } else if inside {
            block.push(line.to_owned());
        }
    }
    panic!("README.md has no block with a line starting {holding:?}")
}

/// The first start prints exactly the block the README shows (the README
/// writes the random ids, secrets and password as `…`, and port 8443).
#[test]
fn the_first_start_prints_the_readme_block() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "127.0.0.1:0");
    let block = server.first_start_block();
    let demo = DemoCredentials::parse(&block);
    let readme = readme_block("Switchyard is listening on");
    assert_eq!(demo.as_in_readme(&block, port_of(&block)), readme);
}

/// The README's Management API commands, run by bash in `dir` (where the
/// server's data directory is) after the `shell:` line the server printed
/// was pasted: what they print.
fn run_readme_curl(dir: &std::path::Path, shell_line: &str, port: u16) -> String {
    let commands = readme_block("TOKEN=$(curl").join("\n");
    let script = format!(
        "{shell_line}\n{}",
        commands.replace(":8443", &format!(":{port}"))
    );
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What `/oauth/token` answers `client_id` and `secret` (client_secret_post
/// for the machine client, client_secret_basic for the web app, as each
/// registered; client_credentials, which the web app may not use: a
/// refused secret is 401 `invalid_client`, an accepted one gets further).
async fn token_status(
    http: &reqwest::Client,
    port: u16,
    client_id: &str,
    secret: &str,
    basic: bool,
) -> (u16, serde_json::Value) {
    let url = format!("https://localhost:{port}/oauth/token");
    let audience = format!("https://localhost:{port}/api/v2/");
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("audience", &audience),
    ];
    let mut request = http.post(url);
    if basic {
        request = request.basic_auth(client_id, Some(secret));
    } else {
        form.extend([("client_id", client_id), ("client_secret", secret)]);
    }
    let response = request.form(&form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A restart says the demo's credentials were shown at the first start
/// only and prints the command that makes new ones; that command, pasted,
/// prints them as the first start did, and from then on the new secrets
/// and password work and the old ones do not.
#[tokio::test]
async fn switchyard_demo_resets_the_demo_credentials_a_restart_points_to() {
    let dir = tempfile::tempdir().unwrap();
    // One port for every start: the demo tenant is seeded for its issuer.
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let first = {
        let server = Server::start(dir.path(), &listen);
        server.first_start_block()
    };
    let old = DemoCredentials::parse(&first);

    let server = Server::start(dir.path(), &listen);
    let restart = server.read_until(|line| line.starts_with("Demo tenant: its secrets"));
    assert!(
        !restart
            .iter()
            .any(|line| line.contains(&old.m2m_client_secret)),
        "{restart:#?}"
    );
    let command = server.read_until(|_| true).remove(0);
    let words = shlex::split(command.trim()).unwrap();
    assert_eq!(words[0], env!("CARGO_BIN_EXE_switchyard"), "{command}");
    let stdout = succeeded(Command::new(&words[0]).args(&words[1..]).env_clear());
    let printed: Vec<String> = stdout.lines().map(str::to_owned).collect();
    let new = DemoCredentials::parse(&printed);
    assert_ne!(new.web_client_secret, old.web_client_secret);
    assert_ne!(new.m2m_client_secret, old.m2m_client_secret);
    assert_ne!(new.user_password, old.user_password);
    assert_eq!(
        (&new.web_client_id, &new.m2m_client_id),
        (&old.web_client_id, &old.m2m_client_id)
    );
    // The same block as the first start's demo part, under its own heading.
    let demo_part = |block: &[String]| -> Vec<String> {
        let start = block
            .iter()
            .position(|line| line.starts_with("Demo tenant"))
            .unwrap();
        let end = block
            .iter()
            .position(|line| line.starts_with("  shell:"))
            .unwrap();
        block[start + 1..=end].to_vec()
    };
    let port = port_of(&first);
    assert_eq!(
        new.as_in_readme(&demo_part(&printed), port),
        old.as_in_readme(&demo_part(&first), port)
    );
    drop(server);

    // A new server: nothing cached from before the reset.
    let server = Server::start(dir.path(), &listen);
    let restart = server.read_until(|line| line.starts_with("Demo tenant: its secrets"));
    let port = port_of(&restart);
    let pem = std::fs::read(dir.path().join("data/tls/cert.pem")).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    for (who, id, old_secret, new_secret, basic) in [
        (
            "machine client",
            &new.m2m_client_id,
            &old.m2m_client_secret,
            &new.m2m_client_secret,
            false,
        ),
        (
            "web app",
            &new.web_client_id,
            &old.web_client_secret,
            &new.web_client_secret,
            true,
        ),
    ] {
        let (status, body) = token_status(&http, port, id, old_secret, basic).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{who}, old secret: {body}"
        );
        let (status, body) = token_status(&http, port, id, new_secret, basic).await;
        assert_ne!(status, 401, "{who}, new secret: {body}");
        assert_ne!(body["error"], "invalid_client", "{who}, new secret: {body}");
    }

    // The README's curl commands with the `shell:` line pasted: the new one
    // lists the organizations, the old one gets no token.
    let listed = run_readme_curl(dir.path(), &new.shell, port);
    assert!(listed.contains("\"name\":\"hoekstra\""), "{listed}");
    let refused = run_readme_curl(dir.path(), &old.shell, port);
    assert!(!refused.contains("hoekstra"), "{refused}");

    // The new password is the demo user's.
    let data = dir.path().join("data");
    let store = switchyard::open_store(
        &data,
        &switchyard::store::sqlite_url_for(&data.join("switchyard.db")),
        &switchyard::secrets::files::KeySource::DataDir,
        switchyard::clock::Clock::system(),
    )
    .await
    .unwrap();
    let user = &store
        .list_users_by_email("demo@hoekstra.example")
        .await
        .unwrap()[0]
        .user;
    let connection = user.connection_id.clone();
    let (_, hash) = store
        .find_password_user(&connection, "demo@hoekstra.example")
        .await
        .unwrap()
        .unwrap();
    let hash = hash.unwrap();
    for (password, right) in [(&new.user_password, true), (&old.user_password, false)] {
        assert_eq!(
            switchyard::connectors::database::verify_password(password.clone(), hash.clone())
                .await
                .unwrap(),
            right
        );
    }
}

/// On a database without a demo tenant (`--no-demo`, or only migrated)
/// `switchyard demo` fails, saying why.
#[test]
fn switchyard_demo_without_a_demo_tenant_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |command: &str| {
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg(command)
            .arg("--data-dir")
            .arg(&data)
            .env_clear()
            .output()
            .unwrap()
    };
    assert!(run("migrate").status.success());
    let output = run("demo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("this database has no demo tenant"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

/// A browser for the servers `dir`'s data directory holds: it trusts their
/// dev certificate, keeps cookies (by host, as browsers do: not by port),
/// and follows no redirect by itself.
fn browser(dir: &std::path::Path) -> reqwest::Client {
    let pem = std::fs::read(dir.join("data/tls/cert.pem")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

const DEMO_CALLBACK: &str = "http://localhost:3000/callback";

/// Follows `response`'s redirects as a browser would, up to the demo app's
/// callback (where nothing listens): that URL, or the page it stopped at.
async fn follow(
    browser: &reqwest::Client,
    mut response: reqwest::Response,
) -> Result<url::Url, String> {
    for _ in 0..10 {
        if !response.status().is_redirection() {
            let status = response.status();
            let url = response.url().clone();
            return Err(format!(
                "{status} at {url}: {}",
                response.text().await.unwrap()
            ));
        }
        let next = redirect_target(&response);
        let host = next.host_str().unwrap();
        assert!(
            ["localhost", "127.0.0.1"].contains(&host),
            "loopback only: {next}"
        );
        if next.as_str().starts_with(DEMO_CALLBACK) {
            return Ok(next);
        }
        response = browser.get(next).send().await.unwrap();
    }
    Err("too many redirects".into())
}

fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Where `response`, a redirect, sends the browser.
fn redirect_target(response: &reqwest::Response) -> url::Url {
    assert!(
        response.status().is_redirection(),
        "{} at {}",
        response.status(),
        response.url()
    );
    let location = response.headers()["location"].to_str().unwrap();
    response.url().join(location).unwrap()
}

/// The value of the hidden field `name` of a page's form.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Logs `email` in with `password` on Switchyard's login pages (of the
/// main server or the demo IdP) that `response` redirects to; returns the
/// password step's response.
async fn log_in_at(
    browser: &reqwest::Client,
    response: reqwest::Response,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let page_url = redirect_target(&response);
    let page = browser.get(page_url.clone()).send().await.unwrap();
    let html = page.text().await.unwrap();
    let (state, csrf) = (hidden(&html, "state"), hidden(&html, "csrf"));
    let fields = [("state", state.as_str()), ("csrf", csrf.as_str())];
    let identified = browser
        .post(page_url.join("/u/login").unwrap())
        .form(&[fields[0], fields[1], ("email", email)])
        .send()
        .await
        .unwrap();
    assert!(identified.status().is_redirection(), "identifier step");
    browser
        .post(page_url.join("/u/login/password").unwrap())
        .form(&[fields[0], fields[1], ("password", password)])
        .send()
        .await
        .unwrap()
}

/// The demo web app's `/authorize` at `organization`, with `prompt` if any.
fn demo_authorize(
    base: &str,
    client_id: &str,
    organization: &str,
    prompt: Option<&str>,
) -> url::Url {
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", DEMO_CALLBACK)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("organization", organization)
        .append_pair("state", "try-sso")
        .append_pair("nonce", "n-1");
    if let Some(prompt) = prompt {
        url.query_pairs_mut().append_pair("prompt", prompt);
    }
    url
}

/// What a newcomer does with the banner: opens the app's login for
/// metahexa, presses the demo IdP's button, logs in there as ana with
/// `password`. Returns where the browser ends (the app's callback) and
/// the IdP's authorize URL it went through.
async fn federated_login(
    browser: &reqwest::Client,
    base: &str,
    demo: &DemoCredentials,
    password: &str,
) -> Result<(url::Url, url::Url), String> {
    let start = browser
        .get(demo_authorize(base, &demo.web_client_id, "metahexa", None))
        .send()
        .await
        .unwrap();
    let login_page = redirect_target(&start);
    let html = browser
        .get(login_page.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Continue with Metahexa SSO (demo IdP)"),
        "{html}"
    );
    let href = html
        .split("href=\"")
        .map(|rest| rest.split('"').next().unwrap())
        .find(|href| href.contains("connection=metahexa-demo-idp"))
        .unwrap_or_else(|| panic!("no button in {html}"))
        .replace("&amp;", "&");
    let pressed = browser
        .get(login_page.join(&href).unwrap())
        .send()
        .await
        .unwrap();
    let idp_authorize = redirect_target(&pressed);
    let at_idp = browser.get(idp_authorize.clone()).send().await.unwrap();
    let logged_in = log_in_at(browser, at_idp, "ana@metahexa.example", password).await;
    Ok((follow(browser, logged_in).await?, idp_authorize))
}

/// The claims of the demo web app's ID token for `code`
/// (client_secret_basic, as it registered).
async fn id_token_claims(
    http: &reqwest::Client,
    base: &str,
    demo: &DemoCredentials,
    code: &str,
) -> serde_json::Value {
    let response = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&demo.web_client_id, Some(&demo.web_client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", DEMO_CALLBACK),
        ])
        .send()
        .await
        .unwrap();
    let tokens: serde_json::Value = response.json().await.unwrap();
    let id_token = tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tokens}"));
    jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(id_token)
        .unwrap()
        .claims
}

/// metahexa's id, read with the machine client.
async fn metahexa_id(http: &reqwest::Client, port: u16, demo: &DemoCredentials) -> String {
    let (_, tokens) = token_status(
        http,
        port,
        &demo.m2m_client_id,
        &demo.m2m_client_secret,
        false,
    )
    .await;
    let organization: serde_json::Value = http
        .get(format!(
            "https://localhost:{port}/api/v2/organizations/name/metahexa"
        ))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    organization["id"].as_str().unwrap().to_owned()
}

/// A free loopback port (for a server that must keep its ports across
/// restarts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `serve`'s arguments for a server on a free loopback port and its demo
/// IdP on another: both ports and the arguments.
fn on_free_ports() -> (u16, u16, [String; 4]) {
    let (port, idp_port) = (free_port(), free_port());
    let args = [
        "--listen".to_owned(),
        format!("127.0.0.1:{port}"),
        "--demo-idp-listen".to_owned(),
        format!("127.0.0.1:{idp_port}"),
    ];
    (port, idp_port, args)
}

/// The serve command's demo IdP, as a newcomer uses it: the banner's
/// metahexa login, the button, ana at the demo IdP with the printed
/// password; the app's code exchange gives an ID token of metahexa with
/// ana's email. The two servers' sessions live side by side in one
/// browser; a restart keeps the login working; `switchyard demo` gives
/// ana a new password (the old one is refused) and both sides a new
/// shared secret.
#[tokio::test]
async fn a_federated_login_through_the_demo_idp_needs_no_outside_account() {
    let dir = tempfile::tempdir().unwrap();
    let (port, idp_port, args) = on_free_ports();
    let base = format!("https://localhost:{port}");
    let server = Server::start_with(dir.path(), &args);
    let block = server.first_start_block();
    let demo = DemoCredentials::parse(&block);
    let (idp_issuer, password) = demo.idp.clone().unwrap_or_else(|| panic!("{block:#?}"));
    assert_eq!(idp_issuer, format!("http://127.0.0.1:{idp_port}/"));
    let via_idp = block
        .iter()
        .find_map(|line| line.trim_start().strip_prefix("via IdP: "))
        .unwrap_or_else(|| panic!("{block:#?}"));
    assert!(via_idp.contains("organization=metahexa"), "{via_idp}");

    let b = browser(dir.path());
    let (callback, idp_authorize) = federated_login(&b, &base, &demo, &password).await.unwrap();
    assert!(
        idp_authorize
            .as_str()
            .starts_with(&format!("{idp_issuer}authorize?"))
    );
    assert_eq!(query(&callback, "state").as_deref(), Some("try-sso"));
    let code = query(&callback, "code").unwrap_or_else(|| panic!("{callback}"));
    let claims = id_token_claims(&b, &base, &demo, &code).await;
    let metahexa = metahexa_id(&b, port, &demo).await;
    assert_eq!(claims["org_id"], metahexa.as_str(), "{claims}");
    assert_eq!(claims["email"], "ana@metahexa.example", "{claims}");
    assert_eq!(claims["iss"], format!("{base}/"), "{claims}");

    // Logging in again at either server leaves the other's session alone:
    // their cookies are on two hosts (localhost, 127.0.0.1).
    let idp_client = query(&idp_authorize, "client_id").unwrap();
    let mut idp_again = url::Url::parse(&format!("{idp_issuer}authorize")).unwrap();
    idp_again
        .query_pairs_mut()
        .append_pair("client_id", &idp_client)
        .append_pair("redirect_uri", &format!("{base}/login/callback"))
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "s");
    let silent = |url: &url::Url| {
        let mut url = url.clone();
        url.query_pairs_mut().append_pair("prompt", "none");
        url
    };
    let main_silently = demo_authorize(&base, &demo.web_client_id, "metahexa", Some("none"));
    let idp_prompt_login = {
        let mut url = idp_again.clone();
        url.query_pairs_mut().append_pair("prompt", "login");
        url
    };
    let start = b.get(idp_prompt_login).send().await.unwrap();
    let back = log_in_at(&b, start, "ana@metahexa.example", &password).await;
    assert!(back.status().is_redirection());
    let answer = b.get(main_silently.clone()).send().await.unwrap();
    let answer = follow(&b, answer).await.unwrap();
    assert!(
        query(&answer, "code").is_some(),
        "main session kept: {answer}"
    );
    let start = b
        .get(demo_authorize(
            &base,
            &demo.web_client_id,
            "hoekstra",
            Some("login"),
        ))
        .send()
        .await
        .unwrap();
    let back = log_in_at(&b, start, "demo@hoekstra.example", &demo.user_password).await;
    assert!(query(&follow(&b, back).await.unwrap(), "code").is_some());
    let answer = b.get(silent(&idp_again)).send().await.unwrap();
    let location = redirect_target(&answer);
    assert!(
        location
            .as_str()
            .starts_with(&format!("{base}/login/callback?code=")),
        "IdP session kept: {location}"
    );
    drop(server);

    // A restart: the same password, the same shared secret.
    let server = Server::start_with(dir.path(), &args);
    let restart = server.read_until(|line| line.starts_with("Demo tenant: its secrets"));
    assert!(
        restart.iter().any(|line| line.contains(&idp_issuer)),
        "{restart:#?}"
    );
    let (callback, _) = federated_login(&browser(dir.path()), &base, &demo, &password)
        .await
        .unwrap();
    assert!(query(&callback, "code").is_some(), "{callback}");
    let command = server.read_until(|_| true).remove(0);
    drop(server);

    // `switchyard demo`, the command the restart printed: a new password
    // for ana, a new secret shared by both sides.
    let words = shlex::split(command.trim()).unwrap();
    let output = Command::new(&words[0])
        .args(&words[1..])
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    let printed: Vec<String> = stdout.lines().map(str::to_owned).collect();
    let new = DemoCredentials::parse(&printed);
    let (_, new_password) = new.idp.clone().unwrap_or_else(|| panic!("{printed:#?}"));
    assert_ne!(new_password, password);
    let server = Server::start_with(dir.path(), &args);
    server.read_until(|line| line.starts_with("Demo tenant: its secrets"));
    let refused = federated_login(&browser(dir.path()), &base, &new, &password).await;
    assert!(refused.is_err(), "the old password: {refused:?}");
    let (callback, _) = federated_login(&browser(dir.path()), &base, &new, &new_password)
        .await
        .unwrap();
    let code = query(&callback, "code").unwrap_or_else(|| panic!("{callback}"));
    let claims = id_token_claims(&browser(dir.path()), &base, &new, &code).await;
    assert_eq!(claims["email"], "ana@metahexa.example", "{claims}");
}

/// `switchyard ARGS` run where the servers run: its output, once it succeeded.
fn switchyard(dir: &std::path::Path, args: &[&str]) -> String {
    succeeded(
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(args)
            .current_dir(dir)
            .env_clear(),
    )
}

/// The output of `command`, once it succeeded.
fn succeeded(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The demo IdP's store is sealed with the main key-encryption key:
/// `rotate-kek` re-seals it too, and the next start's federated login
/// works. A demo IdP store that does not open (left under the old key)
/// does not stop the server; `switchyard demo` clears the way for a new
/// demo IdP, whose login works at the next start.
#[tokio::test]
async fn the_demo_idp_survives_a_key_encryption_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _, args) = on_free_ports();
    let base = format!("https://localhost:{port}");
    let server = Server::start_with(dir.path(), &args);
    let demo = DemoCredentials::parse(&server.first_start_block());
    let (_, password) = demo.idp.clone().unwrap();
    drop(server);
    let data = dir.path().join("data");
    let before = tempfile::tempdir().unwrap();
    let journal = ["demo-idp.db", "demo-idp.db-wal", "demo-idp.db-shm"];
    for file in journal {
        if data.join(file).exists() {
            std::fs::copy(data.join(file), before.path().join(file)).unwrap();
        }
    }

    let rotated = switchyard(dir.path(), &["secrets", "rotate-kek"]);
    assert!(rotated.contains("re-sealed the demo IdP's"), "{rotated}");
    let server = Server::start_with(dir.path(), &args);
    server.read_until(|line| line.starts_with("Demo tenant: its secrets"));
    let (callback, _) = federated_login(&browser(dir.path()), &base, &demo, &password)
        .await
        .unwrap();
    assert!(query(&callback, "code").is_some(), "{callback}");
    drop(server);

    // The IdP's store as it was before the rotation: sealed under the old key.
    for file in journal {
        let _ = std::fs::remove_file(data.join(file));
        if before.path().join(file).exists() {
            std::fs::copy(before.path().join(file), data.join(file)).unwrap();
        }
    }
    let server = Server::start_with(dir.path(), &args);
    let restart = server.read_until(|line| line.starts_with("Demo tenant: its secrets"));
    assert!(
        !restart.iter().any(|line| line.contains("demo IdP")),
        "{restart:#?}"
    );
    let (status, _) = token_status(
        &browser(dir.path()),
        port,
        &demo.m2m_client_id,
        &demo.m2m_client_secret,
        false,
    )
    .await;
    assert_eq!(status, 200, "the server runs without its demo IdP");
    drop(server);

    let printed = switchyard(dir.path(), &["demo"]);
    let printed: Vec<String> = printed.lines().map(str::to_owned).collect();
    let new = DemoCredentials::parse(&printed);
    let server = Server::start_with(dir.path(), &args);
    let restart = server.read_until(|line| line.starts_with("Demo tenant: its secrets"));
    let idp_user = restart
        .iter()
        .find(|line| line.trim_start().starts_with("demo IdP user"))
        .unwrap_or_else(|| panic!("{restart:#?}"));
    let words: Vec<&str> = idp_user.split_whitespace().collect();
    let new_password = words[words.iter().position(|w| *w == "/").unwrap() + 1];
    let (callback, _) = federated_login(&browser(dir.path()), &base, &new, new_password)
        .await
        .unwrap();
    assert!(query(&callback, "code").is_some(), "{callback}");
}

/// A start on other ports (`--listen`, `--demo-idp-listen`) moves the demo
/// IdP: the main tenant's connection and the IdP's client are pointed at
/// each other again, and the federated login works with the same password;
/// as it does when the main store alone is new.
#[tokio::test]
async fn the_demo_idp_follows_a_start_on_other_ports() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, args) = on_free_ports();
    let server = Server::start_with(dir.path(), &args);
    let demo = DemoCredentials::parse(&server.first_start_block());
    let (_, password) = demo.idp.clone().unwrap();
    drop(server);

    let (port, idp_port, args) = on_free_ports();
    let base = format!("https://localhost:{port}");
    let server = Server::start_with(dir.path(), &args);
    server.read_until(|line| line.starts_with("Demo tenant: its secrets"));
    let (callback, idp_authorize) = federated_login(&browser(dir.path()), &base, &demo, &password)
        .await
        .unwrap();
    assert!(
        idp_authorize
            .as_str()
            .starts_with(&format!("http://127.0.0.1:{idp_port}/authorize?")),
        "{idp_authorize}"
    );
    assert!(query(&callback, "code").is_some(), "{callback}");
    drop(server);

    // A new main store beside the IdP's, on other ports again: a new demo
    // tenant, its connection made and pointed where the IdP is now.
    for file in ["switchyard.db", "switchyard.db-wal", "switchyard.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join("data").join(file));
    }
    let (port, idp_port, args) = on_free_ports();
    let base = format!("https://localhost:{port}");
    let server = Server::start_with(dir.path(), &args);
    let demo = DemoCredentials::parse(&server.first_start_block());
    let (issuer, password) = demo.idp.clone().unwrap();
    assert_eq!(issuer, format!("http://127.0.0.1:{idp_port}/"));
    let (callback, _) = federated_login(&browser(dir.path()), &base, &demo, &password)
        .await
        .unwrap();
    assert!(query(&callback, "code").is_some(), "{callback}");
}
