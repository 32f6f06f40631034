//! Login, refresh with rotation and reuse detection, logout, sessions, password change,
//! suspension and token expiry (F01, F03, A3 on the REST side).
use crate::common::{password_of, TestServer};
use serde_json::json;
use std::time::Duration;

#[test]
fn login_gives_a_working_token_and_a_new_session() {
    let s = TestServer::start();
    s.register("alice");
    let mut c = s.client();
    let r = c.login("alice", &password_of("alice"));
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["device_secret"].as_str().is_some());
    assert_eq!(c.get("/api/v1/users/me").body["username"], "alice");
    // upper case at login is the same account
    let mut c2 = s.client();
    assert_eq!(c2.login("ALICE", &password_of("alice")).status, 201);
    let sessions = c.get("/api/v1/sessions");
    assert_eq!(sessions.body.as_array().expect("list").len(), 3);
    assert_eq!(
        sessions
            .body
            .as_array()
            .expect("list")
            .iter()
            .filter(|x| x["current"] == true)
            .count(),
        1
    );
}

#[test]
fn wrong_password_and_unknown_user_answer_alike() {
    let s = TestServer::start();
    s.register("alice");
    let c = s.client();
    let wrong = c.post(
        "/api/v1/sessions",
        &json!({"username": "alice", "password": "not the password"}),
    );
    let unknown = c.post(
        "/api/v1/sessions",
        &json!({"username": "nobody", "password": "not the password"}),
    );
    wrong.assert_error(401, "invalid_credentials");
    assert_eq!(wrong.text, unknown.text);
    assert_eq!(wrong.status, unknown.status);
}

#[test]
fn refresh_rotates_and_a_reused_refresh_token_revokes_the_family() {
    let s = TestServer::start();
    let (c, reg) = s.register("alice");
    let first = reg["refresh_token"].as_str().expect("rt").to_owned();
    let r = c.post("/api/v1/sessions/refresh", &json!({"refresh_token": first}));
    assert_eq!(r.status, 200, "{}", r.text);
    let second = r.body["refresh_token"].as_str().expect("rt").to_owned();
    let access2 = r.body["access_token"].as_str().expect("at").to_owned();
    assert_ne!(first, second);
    assert_eq!(r.body["session_id"], reg["session_id"]);
    assert_eq!(
        c.with_token(Some(&access2)).get("/api/v1/users/me").status,
        200
    );

    // the first token again: reuse -> the whole session is revoked
    c.post("/api/v1/sessions/refresh", &json!({"refresh_token": first}))
        .assert_error(401, "invalid_refresh_token");
    // the legitimate successor no longer works either, nor the access tokens of the session
    c.post(
        "/api/v1/sessions/refresh",
        &json!({"refresh_token": second}),
    )
    .assert_error(401, "invalid_refresh_token");
    c.with_token(Some(&access2))
        .get("/api/v1/users/me")
        .assert_error(401, "unauthorized");
    c.get("/api/v1/users/me").assert_error(401, "unauthorized");
    assert_eq!(
        s.sql("SELECT revoked_reason FROM sessions"),
        "refresh_reuse"
    );
    // other sessions of the user are untouched
    let mut other = s.client();
    assert_eq!(other.login("alice", &password_of("alice")).status, 201);
    assert_eq!(other.get("/api/v1/users/me").status, 200);
}

#[test]
fn concurrent_refreshes_of_one_token_rotate_at_most_once() {
    let s = TestServer::start();
    let (c, reg) = s.register("alice");
    let rt = reg["refresh_token"].as_str().expect("rt").to_owned();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            let rt = rt.clone();
            std::thread::spawn(move || {
                c.post("/api/v1/sessions/refresh", &json!({"refresh_token": rt}))
                    .status
            })
        })
        .collect();
    let statuses: Vec<u16> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    assert!(
        statuses.iter().filter(|s| **s == 200).count() <= 1,
        "{statuses:?}"
    );
    assert_eq!(
        s.sql("SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL"),
        "1"
    );
}

#[test]
fn unknown_and_garbage_refresh_tokens_are_refused() {
    let s = TestServer::start();
    let c = s.client();
    for rt in ["", "abc", &"x".repeat(500)] {
        c.post("/api/v1/sessions/refresh", &json!({"refresh_token": rt}))
            .assert_error(401, "invalid_refresh_token");
    }
}

#[test]
fn logout_revokes_the_access_and_refresh_tokens_at_once() {
    let s = TestServer::start();
    let (c, reg) = s.register("alice");
    assert_eq!(c.delete("/api/v1/sessions/current").status, 204);
    c.get("/api/v1/users/me").assert_error(401, "unauthorized");
    c.post(
        "/api/v1/sessions/refresh",
        &json!({"refresh_token": reg["refresh_token"]}),
    )
    .assert_error(401, "invalid_refresh_token");
}

#[test]
fn a_revoked_session_stays_revoked_after_a_restart() {
    let s = TestServer::start();
    let (c, _) = s.register("alice");
    let token = c.token.clone();
    assert_eq!(c.delete("/api/v1/sessions/current").status, 204);
    // a second server process on the same database and keys: it warms its revocation set
    let s2 = TestServer::start_with(|cfg| {
        cfg.database.url = s.config.database.url.clone();
        cfg.auth.token_key_file = Some(s.config.token_key_path());
    });
    let c2 = s2.client().with_token(token.as_deref());
    c2.get("/api/v1/users/me").assert_error(401, "unauthorized");
}

#[test]
fn sessions_can_be_listed_and_revoked_one_by_one() {
    let s = TestServer::start();
    let (a, _) = s.register("alice");
    let mut a2 = s.client();
    a2.login("alice", &password_of("alice"));
    let (b, _) = s.register("bob");
    let list = a.get("/api/v1/sessions");
    let other = list
        .body
        .as_array()
        .expect("list")
        .iter()
        .find(|x| x["current"] == false)
        .expect("the other session")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // bob cannot see or revoke alice's sessions
    b.delete(&format!("/api/v1/sessions/{other}"))
        .assert_error(404, "not_found");
    assert_eq!(a2.get("/api/v1/users/me").status, 200);
    assert_eq!(a.delete(&format!("/api/v1/sessions/{other}")).status, 204);
    a2.get("/api/v1/users/me").assert_error(401, "unauthorized");
    assert_eq!(a.get("/api/v1/users/me").status, 200);
    a.delete("/api/v1/sessions/not-a-uuid")
        .assert_error(404, "not_found");
}

#[test]
fn logout_everywhere_ends_every_session() {
    let s = TestServer::start();
    let (a, _) = s.register("alice");
    let mut a2 = s.client();
    a2.login("alice", &password_of("alice"));
    let r = a.delete("/api/v1/sessions");
    assert_eq!(r.status, 200);
    assert_eq!(r.body["revoked"], 2);
    a.get("/api/v1/users/me").assert_error(401, "unauthorized");
    a2.get("/api/v1/users/me").assert_error(401, "unauthorized");
}

#[test]
fn changing_the_password_ends_the_other_sessions() {
    let s = TestServer::start();
    let (a, _) = s.register("alice");
    let mut a2 = s.client();
    a2.login("alice", &password_of("alice"));
    a.put(
        "/api/v1/users/me/password",
        &json!({"current_password": "wrong password!", "new_password": "a brand new passphrase"}),
    )
    .assert_error(403, "wrong_password");
    a.put(
        "/api/v1/users/me/password",
        &json!({"current_password": password_of("alice"), "new_password": "short"}),
    )
    .assert_error(400, "weak_password");
    let r = a.put(
        "/api/v1/users/me/password",
        &json!({"current_password": password_of("alice"), "new_password": "a brand new passphrase"}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(a.get("/api/v1/users/me").status, 200, "this session stays");
    a2.get("/api/v1/users/me").assert_error(401, "unauthorized");
    let mut c = s.client();
    c.login("alice", &password_of("alice"))
        .assert_error(401, "invalid_credentials");
    assert_eq!(c.login("alice", "a brand new passphrase").status, 201);
}

#[test]
fn suspension_cuts_off_the_account_and_only_admins_may_suspend() {
    let s = TestServer::start();
    let (owner, _) = s.register("owner");
    let (m, reg) = s.register("member");
    let (other, _) = s.register("other");
    let id = reg["user"]["id"].as_str().expect("id").to_owned();
    other
        .put_empty(&format!("/api/v1/users/{id}/suspension"))
        .assert_error(404, "not_found");
    assert_eq!(m.get("/api/v1/users/me").status, 200);
    assert_eq!(
        owner
            .put_empty(&format!("/api/v1/users/{id}/suspension"))
            .status,
        204
    );
    m.get("/api/v1/users/me").assert_error(401, "unauthorized");
    m.post(
        "/api/v1/sessions/refresh",
        &json!({"refresh_token": reg["refresh_token"]}),
    )
    .assert_error(401, "invalid_refresh_token");
    s.client()
        .login("member", &password_of("member"))
        .assert_error(403, "forbidden");
    assert_eq!(
        owner
            .delete(&format!("/api/v1/users/{id}/suspension"))
            .status,
        204
    );
    assert_eq!(
        s.client().login("member", &password_of("member")).status,
        201
    );
    let oid = owner.get("/api/v1/users/me").body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    owner
        .put_empty(&format!("/api/v1/users/{oid}/suspension"))
        .assert_error(403, "forbidden");
}

#[test]
fn access_tokens_expire() {
    let s = TestServer::start_with(|c| c.auth.access_token_ttl_secs = 1);
    let (c, reg) = s.register("alice");
    assert_eq!(c.get("/api/v1/users/me").status, 200);
    std::thread::sleep(Duration::from_millis(2200));
    c.get("/api/v1/users/me").assert_error(401, "unauthorized");
    let r = c.post(
        "/api/v1/sessions/refresh",
        &json!({"refresh_token": reg["refresh_token"]}),
    );
    assert_eq!(r.status, 200);
    let fresh = r.body["access_token"].as_str().expect("at");
    assert_eq!(
        c.with_token(Some(fresh)).get("/api/v1/users/me").status,
        200
    );
}

#[test]
fn forged_and_foreign_tokens_are_refused() {
    let s = TestServer::start();
    let other = TestServer::start();
    let (c, _) = other.register("alice");
    let foreign = c.token.clone();
    let sc = s.client();
    for token in [
        foreign.as_deref(),
        Some("garbage"),
        Some(""),
        Some(&"A".repeat(5000)),
    ] {
        sc.with_token(token)
            .get("/api/v1/users/me")
            .assert_error(401, "unauthorized");
    }
    let r = sc.raw(
        "GET",
        "/api/v1/users/me",
        &[("authorization", "Basic abc")],
        vec![],
    );
    r.assert_error(401, "unauthorized");
}

#[test]
fn a_known_device_is_kept_across_logins() {
    let s = TestServer::start();
    let (_, reg) = s.register("alice");
    let device = reg["device_id"].clone();
    let secret = reg["device_secret"].clone();
    let c = s.client();
    let r = c.post(
        "/api/v1/sessions",
        &json!({"username": "alice", "password": password_of("alice"),
                "device_id": device, "device_secret": secret}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["device_id"], device);
    assert!(r.body.get("device_secret").is_none());
    // a wrong secret gives a new device instead
    let r = c.post(
        "/api/v1/sessions",
        &json!({"username": "alice", "password": password_of("alice"),
                "device_id": device, "device_secret": "wrong"}),
    );
    assert_eq!(r.status, 201);
    assert_ne!(r.body["device_id"], device);
    assert_eq!(s.sql("SELECT count(*) FROM devices"), "2");
}

/// A token's holder appends a block of their own (no key is needed for that).
fn attenuated(token: &str, code: &str) -> String {
    let b = biscuit_auth::UnverifiedBiscuit::from_base64(token).expect("a biscuit");
    let block = biscuit_auth::BlockBuilder::new()
        .code(code)
        .expect("datalog");
    b.append(block)
        .expect("append")
        .to_base64()
        .expect("encode")
}

/// Blocks that make a server evaluating them work for seconds or more (A13).
fn hostile_blocks() -> Vec<String> {
    let facts: String = (0..40).map(|i| format!("n({i});")).collect();
    vec![
        format!("{facts} check if n($a), n($b), n($c), n($d), $a + $b + $c + $d == -1;"),
        format!("{facts} p($a, $b, $c) <- n($a), n($b), n($c); check if p($a, $b, $c), $a == -1;"),
        "e(0, 1); e(1, 2); e(2, 3); e(3, 0); r($x, $y) <- e($x, $y); \
         r($x, $z) <- r($x, $y), r($y, $z); check if r(0, -1);"
            .to_owned(),
        "check if \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\".matches(\"^(a+)+$\");".to_owned(),
        "check if time($t), $t <= 2099-01-01T00:00:00Z, $t >= 2000-01-01T00:00:00Z;".to_owned(),
        "user(\"00000000-0000-0000-0000-000000000000\");".to_owned(),
    ]
}

#[test]
fn attacker_shaped_tokens_are_refused_at_once_and_cost_others_nothing() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let token = alice.token().to_owned();
    let hostile: Vec<String> = hostile_blocks()
        .iter()
        .map(|b| attenuated(&token, b))
        .collect();
    // each is refused, and quickly
    for (i, t) in hostile.iter().enumerate() {
        let started = std::time::Instant::now();
        alice
            .with_token(Some(t))
            .get("/api/v1/users/me")
            .assert_error(401, "unauthorized");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(500), "block {i} took {took:?}");
    }
    // the product's one attenuation, a shorter expiry, is accepted
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(120);
    let soon = soon
        .replace_nanosecond(0)
        .expect("whole seconds")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("date");
    let short = attenuated(&token, &format!("check if time($t), $t <= {soon};"));
    assert_eq!(
        alice
            .with_token(Some(&short))
            .get("/api/v1/users/me")
            .status,
        200
    );
    // four clients keep sending them while another checks the server's health
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> = (0..4)
        .map(|k| {
            let (c, tokens, stop) = (alice.clone(), hostile.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut worst = Duration::ZERO;
                let mut n = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let t = &tokens[(n + k) % tokens.len()];
                    let started = std::time::Instant::now();
                    let r = c.with_token(Some(t)).get("/api/v1/users/me");
                    assert_eq!(r.status, 401);
                    worst = worst.max(started.elapsed());
                    n += 1;
                }
                (n, worst)
            })
        })
        .collect();
    let mut health = Vec::new();
    let plain = s.client();
    for _ in 0..40 {
        let started = std::time::Instant::now();
        assert_eq!(plain.get("/api/v1/health").status, 200);
        health.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(25));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = 0;
    for a in attackers {
        let (n, worst) = a.join().expect("attacker");
        sent += n;
        assert!(
            worst < Duration::from_millis(500),
            "a refusal took {worst:?}"
        );
    }
    health.sort();
    let worst_health = *health.last().expect("samples");
    assert!(sent > 40, "the attackers got answers: {sent}");
    assert!(
        worst_health < Duration::from_millis(500),
        "health waited {worst_health:?} while hostile tokens were refused"
    );
    // the token of a logged-out session costs nothing either, and says so at once
    let mut bob = s.client();
    s.register("bob");
    bob.login("bob", &password_of("bob"));
    let bob_token = bob.token().to_owned();
    assert_eq!(bob.delete("/api/v1/sessions/current").status, 204);
    let started = std::time::Instant::now();
    bob.with_token(Some(&attenuated(&bob_token, &hostile_blocks()[0])))
        .get("/api/v1/users/me")
        .assert_error(401, "unauthorized");
    assert!(started.elapsed() < Duration::from_millis(500));
    // the WebSocket refuses them the same way
    let mut ws = crate::common::ws::Ws::connect(&s.base);
    let started = std::time::Instant::now();
    ws.send(&json!({"type": "authenticate", "token": hostile[0]}));
    assert_eq!(
        ws.ended(Duration::from_secs(2)),
        Some(crate::common::ws::Ended::Closed(4001))
    );
    assert!(started.elapsed() < Duration::from_millis(500));
}
