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
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["serve", "--listen", listen])
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
        DemoCredentials {
            web_client_id: value(web, "client_id="),
            web_client_secret: value(web, "client_secret="),
            m2m_client_id: value(m2m, "client_id="),
            m2m_client_secret: value(m2m, "client_secret="),
            user_password: user[user.iter().position(|w| *w == "/").unwrap() + 1].to_owned(),
            shell: shell.trim().to_owned(),
        }
    }

    /// `block` with the random values as the README writes them (`…`) and
    /// the port as 8443.
    fn as_in_readme(&self, block: &[String], port: u16) -> Vec<String> {
        block
            .iter()
            .map(|line| {
                let mut line = line.replace(&format!(":{port}"), ":8443");
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
    let output = Command::new(&words[0])
        .args(&words[1..])
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
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
