//! Backups end to end on the embedded database, through the real binary: accounts created over
//! HTTP survive backup -> verify -> restore into a fresh data directory; a damaged copy fails
//! verification; bad arguments and an occupied target change nothing (F82).

use crate::support::{command, free_port, run, Server, TempDir};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};

fn start(dir: &Path) -> Server {
    let mut cmd = command(dir);
    cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
    Server::start(cmd, free_port())
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn manifest(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp runs");
    assert!(ok.success());
}

fn totp_now(secret: &str, steps_ahead: u64) -> String {
    let secret = chatalot_server::totp::base32_decode(secret).expect("base32 secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    format!(
        "{:06}",
        chatalot_server::totp::code_at(&secret, now / 30 + steps_ahead)
    )
}

#[test]
fn backup_verify_and_restore_round_trip_on_the_embedded_database() {
    let src = TempDir::new("backup-src");
    let work = TempDir::new("backup-work");
    let alice = json!({"username": "alice", "password": "correct horse battery one"});
    let bob = json!({"username": "bob", "password": "correct horse battery two"});

    // a server with two accounts, one of them with 2FA, and a stored file
    let server = start(src.path());
    let (status, body) = server.send("POST", "/api/v1/accounts", None, Some(&alice));
    assert_eq!(status, 201, "{body}");
    let token = body["access_token"].as_str().expect("token").to_owned();
    let (status, body) = server.send("POST", "/api/v1/accounts", None, Some(&bob));
    assert_eq!(status, 201, "{body}");
    let (status, setup) = server.send(
        "POST",
        "/api/v1/users/me/totp",
        Some(&token),
        Some(&json!({"password": alice["password"]})),
    );
    assert_eq!(status, 200, "{setup}");
    let secret = setup["secret"].as_str().expect("secret").to_owned();
    let (status, body) = server.send(
        "POST",
        "/api/v1/users/me/totp/confirm",
        Some(&token),
        Some(&json!({"code": totp_now(&secret, 0)})),
    );
    assert_eq!(status, 200, "{body}");
    server.stop();
    let stored = src.path().join("data/files/ab");
    std::fs::create_dir_all(&stored).expect("files dir");
    std::fs::write(stored.join("blob"), b"encrypted attachment bytes").expect("file");

    // bad arguments: a clear message, exit code 2, nothing written
    let backup = work.path().join("backup");
    for args in [
        vec!["backup"],
        vec!["backup", "--out"],
        vec!["restore"],
        vec!["verify-backup"],
        vec!["verify-backup", "a", "b"],
        vec!["restore", "--bogus", "x"],
        vec!["backup", "--out", src.path().to_str().expect("utf8")],
    ] {
        let out = run(src.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).trim().is_empty(), "{args:?} explains itself");
    }
    let out = run(
        work.path(),
        &["verify-backup", work.path().to_str().expect("utf8")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("manifest.json"), "{}", stderr(&out));
    let out = run(work.path(), &["backup", "--out", "elsewhere"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no database here: {}",
        stderr(&out)
    );
    assert!(!work.path().join("elsewhere").exists());
    assert!(!work.path().join("data").exists(), "no cluster was created");

    // backup, with the server stopped (the command starts and stops the cluster itself)
    let out = run(
        src.path(),
        &["backup", "--out", backup.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "backup: {}", stderr(&out));
    assert!(
        !src.path()
            .join("data/postgres/data/postmaster.pid")
            .exists(),
        "the cluster the backup started is stopped again"
    );
    let m = manifest(&backup);
    assert_eq!(m["format"], 1);
    assert_eq!(m["tables"]["public.users"], 2, "{m}");
    assert!(m["files"]["database.dump"]["sha256"].is_string());
    assert!(m["files"]["files/ab/blob"]["sha256"].is_string());
    assert!(m["files"]["secrets/totp.key"]["sha256"].is_string());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&backup)
            .expect("backup dir")
            .permissions(),
    );
    assert_eq!(
        mode & 0o077,
        0,
        "the backup holds keys: private to its owner"
    );

    // a backup can also be taken while the server runs
    let server = start(src.path());
    let live = work.path().join("live");
    let out = run(
        src.path(),
        &["backup", "--out", live.to_str().expect("utf8")],
    );
    assert!(
        out.status.success(),
        "backup of a running server: {}",
        stderr(&out)
    );
    let (status, _) = server.send("GET", "/api/v1/ready", None, None);
    assert_eq!(status, 200, "the server's cluster was left running");
    server.stop();

    // verify: good backups pass
    for dir in [&backup, &live] {
        let out = run(src.path(), &["verify-backup", dir.to_str().expect("utf8")]);
        assert!(out.status.success(), "verify: {}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("verified"));
    }

    // damaged copies fail: a flipped byte in the dump, a changed file, a stray file, and a
    // truncated dump whose manifest checksum was forged (caught by the trial restore)
    let damage: [(&str, Harm); 4] = [
        ("database.dump", |d| flip_byte(&d.join("database.dump"))),
        ("files/ab/blob", |d| {
            std::fs::write(d.join("files/ab/blob"), b"tampered").expect("write")
        }),
        ("stray", |d| {
            std::fs::write(d.join("stray"), b"x").expect("write")
        }),
        ("pg_restore", |d| {
            truncate(&d.join("database.dump"));
            forge_dump_checksum(d);
        }),
    ];
    for (i, (named, harm)) in damage.iter().enumerate() {
        let copy = work.path().join(format!("damaged-{i}"));
        copy_dir(&backup, &copy);
        harm(&copy);
        let out = run(src.path(), &["verify-backup", copy.to_str().expect("utf8")]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "damage {i} detected: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(named), "{}", stderr(&out));
        let dst = TempDir::new("restore-damaged");
        let out = run(dst.path(), &["restore", copy.to_str().expect("utf8")]);
        assert!(!out.status.success(), "a damaged backup is not restored");
        if i < 3 {
            assert!(
                !dst.path().join("data").exists(),
                "a damaged backup changes nothing"
            );
        }
    }
    let leftovers = src_databases(src.path());
    assert!(
        !leftovers.contains("chatalot_verify"),
        "scratch databases are dropped: {leftovers}"
    );

    // restore into a fresh data directory, then the old accounts log in
    let dst = TempDir::new("restore");
    let out = run(dst.path(), &["restore", backup.to_str().expect("utf8")]);
    assert!(out.status.success(), "restore: {}", stderr(&out));
    assert_eq!(
        std::fs::read(dst.path().join("data/files/ab/blob")).expect("restored file"),
        b"encrypted attachment bytes"
    );
    // a second restore finds the target occupied
    let out = run(dst.path(), &["restore", backup.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    let out = run(
        dst.path(),
        &["restore", "--force", backup.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "restore --force: {}", stderr(&out));

    let server = start(dst.path());
    let (status, body) = server.send("POST", "/api/v1/sessions", None, Some(&bob));
    assert_eq!(status, 201, "bob logs in after the restore: {body}");
    // alice's TOTP secret opens with the restored key (the next step: this one may be spent)
    let mut with_code = alice.clone();
    with_code["totp_code"] = json!(totp_now(&secret, 1));
    let (status, body) = server.send("POST", "/api/v1/sessions", None, Some(&with_code));
    assert_eq!(status, 201, "alice logs in with her TOTP code: {body}");
    // while the server runs, restore refuses to touch its database
    let out = run(
        dst.path(),
        &["restore", "--force", backup.to_str().expect("utf8")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("stop the server"), "{}", stderr(&out));
    server.stop();
}

/// A way to damage a copy of a backup.
type Harm = fn(&Path);

fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read");
    let i = bytes.len() / 2;
    bytes[i] ^= 0x55;
    std::fs::write(path, bytes).expect("write");
}

fn truncate(path: &Path) {
    let bytes = std::fs::read(path).expect("read");
    std::fs::write(path, &bytes[..bytes.len() * 3 / 5]).expect("write");
}

/// Rewrites the dump's size and checksum in the manifest to match its (damaged) content.
fn forge_dump_checksum(dir: &Path) {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(dir.join("database.dump")).expect("dump");
    let sum: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut m = manifest(dir);
    m["files"]["database.dump"]["sha256"] = json!(sum);
    m["files"]["database.dump"]["bytes"] = json!(bytes.len());
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&m).expect("json"),
    )
    .expect("write manifest");
}

/// Whether the cluster in `dir` holds anything but its four databases (template0, template1,
/// postgres, chatalot): each database is one directory under `base`.
fn src_databases(dir: &Path) -> String {
    let base = dir.join("data/postgres/data/base");
    let count = std::fs::read_dir(&base).map(|d| d.count()).unwrap_or(0);
    if count == 4 {
        String::new()
    } else {
        format!(
            "chatalot_verify databases left: {count} directories in {}",
            base.display()
        )
    }
}

#[test]
fn backup_verify_and_restore_work_against_a_database_url() {
    // a PostgreSQL server to point DATABASE_URL at: the embedded cluster of another data
    // directory, kept running by a server on it
    let host_dir = TempDir::new("backup-host");
    let server = start(host_dir.path());
    let account = json!({"username": "carol", "password": "correct horse battery three"});
    let (status, body) = server.send("POST", "/api/v1/accounts", None, Some(&account));
    assert_eq!(status, 201, "{body}");
    let root = host_dir.path().join("data/postgres");
    let pg = chatalot_server::embedded_pg::EmbeddedPostgres::start(&root, None, true)
        .expect("the running cluster is reused");
    pg.create_database("restored").expect("target database");
    let socket = root.join("run").canonicalize().expect("socket dir");
    let socket = socket.to_str().expect("utf8");
    let key_value = format!("host={socket} user=postgres dbname=chatalot");
    let encoded: String = socket.replace('/', "%2F");
    let uri = format!("postgresql://postgres@{encoded}/chatalot");
    let password = host_dir.path().join("db_password");
    std::fs::write(&password, "unused with trust authentication\n").expect("password file");

    let work = TempDir::new("backup-url");
    let with_url = |url: &str, args: &[&str]| {
        let mut cmd = command(work.path());
        cmd.env("DATABASE_URL", url)
            .env("CHATALOT_DATABASE_PASSWORD_FILE", &password)
            .args(args)
            .stdin(Stdio::null());
        cmd.output().expect("binary runs")
    };
    let backup = work.path().join("b");
    let b = backup.to_str().expect("utf8");
    let out = with_url(&key_value, &["backup", "--out", b]);
    assert!(out.status.success(), "backup: {}", stderr(&out));
    assert_eq!(manifest(&backup)["tables"]["public.users"], 1);
    for url in [&key_value, &uri] {
        let out = with_url(url, &["verify-backup", b]);
        assert!(out.status.success(), "verify with {url}: {}", stderr(&out));
    }
    // the server's own database is occupied; an empty one takes the backup
    let out = with_url(&key_value, &["restore", b]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let restored = key_value.replace("dbname=chatalot", "dbname=restored");
    let out = with_url(&restored, &["restore", b]);
    assert!(out.status.success(), "restore: {}", stderr(&out));
    let out = with_url(&restored, &["verify-backup", b]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = with_url(&restored, &["restore", b]);
    assert_eq!(out.status.code(), Some(2), "now occupied: {}", stderr(&out));
    drop(pg);
    server.stop();

    // a server on the restored database knows the account
    let dst = TempDir::new("backup-url-dst");
    let mut cmd = command(dst.path());
    cmd.env("DATABASE_URL", &restored)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // the host cluster was stopped with its server: start it again for this check
    let again = chatalot_server::embedded_pg::EmbeddedPostgres::start(&root, None, true)
        .expect("cluster starts");
    let server = Server::start(cmd, free_port());
    let (status, body) = server.send("POST", "/api/v1/sessions", None, Some(&account));
    assert_eq!(
        status, 201,
        "carol logs in on the restored database: {body}"
    );
    server.stop();
    again.stop().expect("cluster stops");
}
