//! TOTP two-factor authentication, backup codes and recovery codes (F04, F05).
use crate::common::{password_of, Client, TestServer};
use chatalot_server::totp;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_step() -> u64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    secs / totp::STEP_SECS
}

/// Waits until a fresh step has just begun, so that a test has ~25 s of stable steps.
fn start_of_step() -> u64 {
    loop {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        if secs % totp::STEP_SECS < totp::STEP_SECS - 5 {
            return secs / totp::STEP_SECS;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn code(secret: &[u8], step: u64) -> String {
    format!("{:06}", totp::code_at(secret, step))
}

/// Enables 2FA for the client's account; returns the secret and the backup codes.
fn enable(c: &Client, step: u64) -> (Vec<u8>, Vec<String>) {
    let setup = c.post(
        "/api/v1/users/me/totp",
        &json!({"password": password_of("alice")}),
    );
    assert_eq!(setup.status, 200, "{}", setup.text);
    let secret = totp::base32_decode(setup.body["secret"].as_str().expect("secret")).expect("b32");
    assert!(setup.body["otpauth_url"]
        .as_str()
        .expect("url")
        .starts_with("otpauth://totp/"));
    let r = c.post(
        "/api/v1/users/me/totp/confirm",
        &json!({"code": code(&secret, step)}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let backup: Vec<String> = r.body["backup_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|v| v.as_str().expect("code").to_owned())
        .collect();
    (secret, backup)
}

fn login_with(s: &TestServer, user: &str, totp_code: Option<&str>) -> crate::common::Resp {
    let mut body = json!({"username": user, "password": password_of(user)});
    if let Some(code) = totp_code {
        body["totp_code"] = Value::from(code);
    }
    s.client().post("/api/v1/sessions", &body)
}

#[test]
fn totp_is_required_once_enabled_and_each_code_works_once() {
    let s = TestServer::start();
    let (c, _) = s.register("alice");
    let step = start_of_step();
    let (secret, backup) = enable(&c, step - 1);
    assert_eq!(backup.len(), 10);
    assert_eq!(c.get("/api/v1/users/me").body["totp_enabled"], true);

    login_with(&s, "alice", None).assert_error(401, "totp_required");
    login_with(&s, "alice", Some("000000")).assert_error(403, "invalid_totp");
    assert_eq!(
        login_with(&s, "alice", Some(&code(&secret, step))).status,
        201
    );
    // the same code again is a replay
    login_with(&s, "alice", Some(&code(&secret, step))).assert_error(403, "invalid_totp");
    // an older step than the last accepted one is refused too
    login_with(&s, "alice", Some(&code(&secret, step - 1))).assert_error(403, "invalid_totp");
    // a wrong password with a valid code still fails as bad credentials
    s.client()
        .post(
            "/api/v1/sessions",
            &json!({"username": "alice", "password": "wrong password", "totp_code": code(&secret, step + 1)}),
        )
        .assert_error(401, "invalid_credentials");
    assert_eq!(
        login_with(&s, "alice", Some(&code(&secret, step + 1))).status,
        201
    );
    assert!(now_step() <= step + 1);
}

#[test]
fn backup_codes_work_once_each() {
    let s = TestServer::start();
    let (c, _) = s.register("alice");
    let step = start_of_step();
    let (_, backup) = enable(&c, step);
    let typed = backup[0].to_lowercase();
    assert_eq!(login_with(&s, "alice", Some(&typed)).status, 201);
    login_with(&s, "alice", Some(&backup[0])).assert_error(403, "invalid_totp");
    assert_eq!(login_with(&s, "alice", Some(&backup[1])).status, 201);
    assert_eq!(s.sql("SELECT count(*) FROM backup_codes"), "8");
}

#[test]
fn disabling_2fa_needs_password_and_code() {
    let s = TestServer::start();
    let (c, _) = s.register("alice");
    let step = start_of_step();
    let (secret, backup) = enable(&c, step - 1);
    c.delete_json(
        "/api/v1/users/me/totp",
        &json!({"password": "wrong password", "code": code(&secret, step)}),
    )
    .assert_error(403, "wrong_password");
    c.delete_json(
        "/api/v1/users/me/totp",
        &json!({"password": password_of("alice"), "code": "123456"}),
    )
    .assert_error(403, "invalid_totp");
    assert_eq!(c.get("/api/v1/users/me").body["totp_enabled"], true);
    // a second setup while enabled is a conflict
    c.post(
        "/api/v1/users/me/totp",
        &json!({"password": password_of("alice")}),
    )
    .assert_error(409, "conflict");
    let r = c.delete_json(
        "/api/v1/users/me/totp",
        &json!({"password": password_of("alice"), "code": backup[3]}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(c.get("/api/v1/users/me").body["totp_enabled"], false);
    assert_eq!(login_with(&s, "alice", None).status, 201);
    assert_eq!(s.sql("SELECT count(*) FROM backup_codes"), "0");
    assert_eq!(
        s.sql("SELECT totp_secret IS NULL FROM users"),
        "t",
        "the secret is erased"
    );
}

#[test]
fn confirming_needs_a_pending_setup_and_a_right_code() {
    let s = TestServer::start();
    let (c, _) = s.register("alice");
    c.post("/api/v1/users/me/totp/confirm", &json!({"code": "123456"}))
        .assert_error(409, "conflict");
    let setup = c.post(
        "/api/v1/users/me/totp",
        &json!({"password": password_of("alice")}),
    );
    assert_eq!(setup.status, 200);
    c.post("/api/v1/users/me/totp/confirm", &json!({"code": "000000"}))
        .assert_error(403, "invalid_totp");
    c.post("/api/v1/users/me/totp/confirm", &json!({"code": "12"}))
        .assert_error(400, "invalid_request");
    assert_eq!(c.get("/api/v1/users/me").body["totp_enabled"], false);
    // the secret is stored sealed, never in the clear
    let b32 = setup.body["secret"].as_str().expect("secret");
    let raw = totp::base32_decode(b32).expect("b32");
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let stored = s.sql("SELECT encode(totp_secret, 'hex') FROM users");
    assert!(!stored.contains(&hex));
}

#[test]
fn backup_codes_can_be_regenerated_with_password_and_code() {
    let s = TestServer::start();
    let (c, _) = s.register("alice");
    let step = start_of_step();
    let (secret, old) = enable(&c, step - 1);
    let r = c.post(
        "/api/v1/users/me/totp/backup_codes",
        &json!({"password": password_of("alice"), "code": code(&secret, step)}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let new: Vec<String> = serde_json::from_value(r.body["backup_codes"].clone()).expect("codes");
    assert!(new.iter().all(|n| !old.contains(n)));
    login_with(&s, "alice", Some(&old[0])).assert_error(403, "invalid_totp");
    assert_eq!(login_with(&s, "alice", Some(&new[0])).status, 201);
}

#[test]
fn the_recovery_code_resets_the_password_once_and_ends_all_sessions() {
    let s = TestServer::start();
    let (c, reg) = s.register("alice");
    let code = reg["recovery_code"].as_str().expect("code").to_owned();
    let anon = s.client();
    anon.post(
        "/api/v1/recoveries",
        &json!({"username": "alice", "recovery_code": "0000-0000-0000-0000", "new_password": "recovered passphrase"}),
    )
    .assert_error(401, "invalid_credentials");
    let unknown = anon.post(
        "/api/v1/recoveries",
        &json!({"username": "nobody", "recovery_code": "0000-0000-0000-0000", "new_password": "recovered passphrase"}),
    );
    unknown.assert_error(401, "invalid_credentials");
    // both failures leave an audit row, so both cost the same
    assert_eq!(
        s.sql(
            "SELECT count(*) FILTER (WHERE user_id IS NULL), count(*) FROM audit_events \
               WHERE action = 'recovery_failed'"
        ),
        "1|2"
    );
    anon.post(
        "/api/v1/recoveries",
        &json!({"username": "alice", "recovery_code": code, "new_password": "short"}),
    )
    .assert_error(400, "weak_password");

    let r = anon.post(
        "/api/v1/recoveries",
        &json!({"username": "alice", "recovery_code": code.to_lowercase(), "new_password": "recovered passphrase"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let next = r.body["recovery_code"]
        .as_str()
        .expect("new code")
        .to_owned();
    assert_ne!(next, code);
    c.get("/api/v1/users/me").assert_error(401, "unauthorized");
    let mut fresh = s.client();
    fresh
        .login("alice", &password_of("alice"))
        .assert_error(401, "invalid_credentials");
    assert_eq!(fresh.login("alice", "recovered passphrase").status, 201);
    // the old code is spent
    anon.post(
        "/api/v1/recoveries",
        &json!({"username": "alice", "recovery_code": code, "new_password": "another passphrase"}),
    )
    .assert_error(401, "invalid_credentials");

    // regenerating needs the password
    fresh
        .post(
            "/api/v1/users/me/recovery_code",
            &json!({"password": "wrong one"}),
        )
        .assert_error(403, "wrong_password");
    let r = fresh.post(
        "/api/v1/users/me/recovery_code",
        &json!({"password": "recovered passphrase"}),
    );
    assert_eq!(r.status, 200);
    anon.post(
        "/api/v1/recoveries",
        &json!({"username": "alice", "recovery_code": next, "new_password": "another passphrase"}),
    )
    .assert_error(401, "invalid_credentials");
}

#[test]
fn auth_events_are_audited() {
    let s = TestServer::start();
    let (c, _) = s.register("alice");
    s.client()
        .login("alice", "wrong password")
        .assert_error(401, "invalid_credentials");
    let mut c2 = s.client();
    c2.login("alice", &password_of("alice"));
    let events = c.get("/api/v1/users/me/audit_events");
    assert_eq!(events.status, 200);
    let actions: Vec<&str> = events
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["login", "login_failed", "register"]);
    let (b, _) = s.register("bob");
    b.get("/api/v1/audit_events").assert_error(404, "not_found");
    let all = c.get("/api/v1/audit_events?limit=10");
    assert_eq!(all.status, 200);
    assert_eq!(all.body.as_array().expect("list").len(), 4);
    c.get("/api/v1/audit_events?limit=0")
        .assert_error(400, "invalid_request");
    c.get("/api/v1/audit_events?bogus=1")
        .assert_error(400, "invalid_request");
}

#[test]
fn a_stolen_access_token_cannot_enrol_a_second_factor_and_recovery_undoes_a_takeover() {
    let s = TestServer::start();
    let (owner, reg) = s.register("alice");
    let recovery = reg["recovery_code"].as_str().expect("code").to_owned();
    // a thief holding only the access token
    let thief = owner.clone();
    thief
        .post_empty("/api/v1/users/me/totp")
        .assert_error(415, "unsupported_media_type");
    thief
        .post("/api/v1/users/me/totp", &json!({}))
        .assert_error(400, "invalid_request");
    thief
        .post(
            "/api/v1/users/me/totp",
            &json!({"password": "a guess at it"}),
        )
        .assert_error(403, "wrong_password");
    assert_eq!(
        s.sql("SELECT totp_secret IS NULL FROM users"),
        "t",
        "no setup was started"
    );
    // a thief who also knows the password enrols a factor of their own...
    let step = start_of_step();
    enable(&thief, step - 1);
    login_with(&s, "alice", None).assert_error(401, "totp_required");
    // ...and the owner's recovery code undoes it: new password, no second factor, no sessions
    let r = s.client().post(
        "/api/v1/recoveries",
        &json!({"username": "alice", "recovery_code": recovery, "new_password": "taken back passphrase"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    thief
        .get("/api/v1/users/me")
        .assert_error(401, "unauthorized");
    let mut again = s.client();
    assert_eq!(again.login("alice", "taken back passphrase").status, 201);
    assert_eq!(again.get("/api/v1/users/me").body["totp_enabled"], false);
    assert_eq!(s.sql("SELECT count(*) FROM backup_codes"), "0");
}
