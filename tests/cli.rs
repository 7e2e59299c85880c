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
