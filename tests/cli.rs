//! The `switchyard` command as a shell uses it.

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
