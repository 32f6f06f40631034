//! The maintenance commands' surface: usage lists them, and `healthcheck` fails clearly when no
//! server answers.

use crate::support::{free_port, run, TempDir};

#[test]
fn help_lists_the_commands() {
    let dir = TempDir::new("help");
    let out = run(dir.path(), &["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in [
        "backup --out DIR",
        "verify-backup DIR",
        "restore DIR [--force]",
        "healthcheck",
    ] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let dir = TempDir::new("healthcheck");
    let port = free_port();
    let out = crate::support::command(dir.path())
        .env("CHATALOT_BIND", format!("0.0.0.0:{port}"))
        .arg("healthcheck")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // a wildcard bind address is checked over loopback
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    let out = run(dir.path(), &["healthcheck", "extra"]);
    assert_eq!(out.status.code(), Some(2));
}
