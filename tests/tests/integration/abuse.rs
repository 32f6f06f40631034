//! Account enumeration (A1), brute force without victim lock-out (A2), registration abuse
//! (A12), rate limits, forwarding headers and security headers.
use crate::common::{password_of, TestServer};
use serde_json::json;
use std::time::{Duration, Instant};

/// The lower quartile: the cost of a path with less of the noise other work on the machine adds
/// (a spike slows some samples down, never speeds one up).
fn lower_quartile(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 4]
}

#[test]
fn unknown_accounts_answer_like_known_ones_in_the_same_time() {
    // real password hashing cost, as in production
    let s = TestServer::start_with(|c| {
        c.auth.argon2_memory_kib = 19 * 1024;
        c.auth.argon2_iterations = 2;
    });
    s.register("victim");
    let c = s.client();
    let attempt = |user: &str| {
        let t = Instant::now();
        let r = c.post(
            "/api/v1/sessions",
            &json!({"username": user, "password": "definitely wrong"}),
        );
        (t.elapsed(), r)
    };
    // warm up both paths
    attempt("victim");
    attempt("ghost");
    // A systematic difference (work done on one path only) shows in every round; a round
    // spoiled by other work on the machine does not repeat. Up to three rounds of 32 pairs.
    let mut ratios = Vec::new();
    let mut ghosts = 0;
    for _round in 0..3 {
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for _ in 0..32 {
            let (tk, rk) = attempt("victim");
            let (tu, ru) = attempt(&format!("ghost{ghosts}"));
            ghosts += 1;
            assert_eq!(rk.status, ru.status);
            assert_eq!(rk.text, ru.text, "same body for known and unknown accounts");
            known.push(tk);
            unknown.push(tu);
        }
        let (k, u) = (lower_quartile(known), lower_quartile(unknown));
        let ratio = u.as_secs_f64() / k.as_secs_f64();
        eprintln!("login timing: unknown {u:?}, known {k:?}, ratio {ratio:.3}");
        ratios.push(ratio);
        if (0.75..1.33).contains(&ratio) {
            break;
        }
    }
    assert!(
        ratios.iter().any(|r| (0.75..1.33).contains(r)),
        "unknown/known lower-quartile login time ratios {ratios:.2?}: outside 0.75..1.33 in every round"
    );
    // both paths make the same audit write (the unknown ones without a user)
    let unknown_rows = s
        .sql("SELECT count(*) FROM audit_events WHERE action = 'login_failed' AND user_id IS NULL");
    assert_eq!(unknown_rows, (ghosts + 1).to_string());
    // recovery answers alike as well
    let rec = |user: &str| {
        c.post(
            "/api/v1/recoveries",
            &json!({"username": user, "recovery_code": "0000-0000-0000-0000", "new_password": "some new passphrase"}),
        )
    };
    assert_eq!(rec("victim").text, rec("ghost").text);
}

/// A server that believes X-Forwarded-For from loopback, so tests can act from many addresses.
fn proxied(tweak: impl FnOnce(&mut chatalot_server::config::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
        c.limits.login_fail_ip_burst = 5;
        c.limits.login_fail_ip_per_minute = 1;
        c.limits.login_fail_account_burst = 20;
        c.limits.login_fail_account_per_minute = 4;
        tweak(c);
    })
}

#[test]
fn a_stranger_hammering_from_one_address_cannot_lock_the_victim_out() {
    let s = proxied(|_| {});
    s.register("victim");
    let mut attacker = s.client();
    attacker.forwarded_for = Some("203.0.113.66".into());
    let mut limited = false;
    for _ in 0..10 {
        let r = attacker.post(
            "/api/v1/sessions",
            &json!({"username": "victim", "password": "guess guess guess"}),
        );
        if r.status == 429 {
            r.assert_error(429, "rate_limited");
            assert!(r.headers.get("retry-after").is_some());
            limited = true;
            break;
        }
        r.assert_error(401, "invalid_credentials");
    }
    assert!(limited, "guessing from one address is throttled");
    // even the right password is refused to the attacker's address for now
    let r = attacker.post(
        "/api/v1/sessions",
        &json!({"username": "victim", "password": password_of("victim")}),
    );
    r.assert_error(429, "rate_limited");
    // the victim, from a fresh client elsewhere, logs in at once
    let mut victim = s.client();
    victim.forwarded_for = Some("198.51.100.7".into());
    assert_eq!(victim.login("victim", &password_of("victim")).status, 201);
}

#[test]
fn the_addresses_of_one_ipv6_network_share_their_limits() {
    let s = proxied(|_| {});
    s.register("victim");
    let mut attacker = s.client();
    // a new address of the same /64 for every try
    let mut refused_at = None;
    for i in 1..=10 {
        attacker.forwarded_for = Some(format!("2001:db8:5:6::{i:x}"));
        let r = attacker.post(
            "/api/v1/sessions",
            &json!({"username": "victim", "password": "guess guess guess"}),
        );
        if r.status == 429 {
            refused_at = Some(i);
            break;
        }
        r.assert_error(401, "invalid_credentials");
    }
    assert_eq!(
        refused_at,
        Some(6),
        "five failures per network, not per address"
    );
    // another network is another client
    let mut elsewhere = s.client();
    elsewhere.forwarded_for = Some("2001:db8:5:7::1".into());
    assert_eq!(
        elsewhere.login("victim", &password_of("victim")).status,
        201
    );
    // the server listens on IPv6 when told to
    let v6 = TestServer::start_on("[::1]:0", |_| {});
    assert!(v6.base.starts_with("http://[::1]:"), "{}", v6.base);
    let (c, _) = v6.register("someone");
    assert_eq!(c.get("/api/v1/users/me").status, 200);
}

#[test]
fn a_distributed_attack_leaves_known_devices_in_and_fresh_clients_wait_briefly() {
    let s = proxied(|_| {});
    let (_, reg) = s.register("victim");
    for i in 0..40 {
        let mut a = s.client();
        a.forwarded_for = Some(format!("203.0.113.{}", i + 1));
        let r = a.post(
            "/api/v1/sessions",
            &json!({"username": "victim", "password": "guess guess guess"}),
        );
        assert!(r.status == 401 || r.status == 429, "{}", r.text);
    }
    // a fresh client is told to come back shortly, never locked for good
    let mut fresh = s.client();
    fresh.forwarded_for = Some("198.51.100.7".into());
    let r = fresh.login("victim", &password_of("victim"));
    r.assert_error(429, "rate_limited");
    let wait: u64 = r.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=15).contains(&wait), "retry after {wait}s");
    // the victim's own device is exempt from the account-wide bucket
    let mut own = s.client();
    own.forwarded_for = Some("198.51.100.8".into());
    let r = own.post(
        "/api/v1/sessions",
        &json!({"username": "victim", "password": password_of("victim"),
                "device_id": reg["device_id"], "device_secret": reg["device_secret"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    // and unknown account names behave exactly the same way (no enumeration by throttling)
    for i in 0..40 {
        let mut a = s.client();
        a.forwarded_for = Some(format!("203.0.114.{}", i + 1));
        a.post(
            "/api/v1/sessions",
            &json!({"username": "ghost", "password": "guess guess guess"}),
        );
    }
    let r = fresh.login("ghost", "guess guess guess");
    r.assert_error(429, "rate_limited");
}

#[test]
fn an_owner_with_a_second_factor_gets_in_from_a_new_client_during_an_attack() {
    use chatalot_server::totp;
    let s = proxied(|_| {});
    let (victim, _) = s.register("victim");
    let setup = victim.post(
        "/api/v1/users/me/totp",
        &json!({"password": password_of("victim")}),
    );
    assert_eq!(setup.status, 200, "{}", setup.text);
    let secret = totp::base32_decode(setup.body["secret"].as_str().expect("secret")).expect("b32");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            / totp::STEP_SECS
    };
    let code_at = |step: u64| format!("{:06}", totp::code_at(&secret, step));
    let r = victim.post(
        "/api/v1/users/me/totp/confirm",
        &json!({"code": code_at(now())}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // 25 wrong passwords from five addresses empty the account's bucket
    for i in 0..25 {
        let mut a = s.client();
        a.forwarded_for = Some(format!("203.0.113.{}", i / 5 + 1));
        let r = a.post(
            "/api/v1/sessions",
            &json!({"username": "victim", "password": "guess guess guess"}),
        );
        assert!(r.status == 401 || r.status == 429, "{}", r.text);
    }
    let mut fresh = s.client();
    fresh.forwarded_for = Some("198.51.100.9".into());
    fresh
        .login("victim", &password_of("victim"))
        .assert_error(429, "rate_limited");
    // the attacker learns nothing from adding a code: every wrong pair is the same 429
    for (password, code) in [
        ("guess guess guess", code_at(now())),
        (password_of("victim").as_str(), "000000".to_owned()),
        ("guess guess guess", "000000".to_owned()),
    ] {
        let mut a = s.client();
        a.forwarded_for = Some("203.0.113.50".into());
        a.post(
            "/api/v1/sessions",
            &json!({"username": "victim", "password": password, "totp_code": code}),
        )
        .assert_error(429, "rate_limited");
    }
    // the owner, from a new client, proves the password and the second factor and gets in
    let r = fresh.post(
        "/api/v1/sessions",
        &json!({"username": "victim", "password": password_of("victim"), "totp_code": code_at(now() + 1)}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

#[test]
fn registration_is_rate_limited_per_address() {
    let s = proxied(|c| {
        c.limits.register_ip_burst = 3;
        c.limits.register_ip_per_hour = 1;
    });
    let mut c = s.client();
    c.forwarded_for = Some("203.0.113.9".into());
    for i in 0..3 {
        let r = c.post(
            "/api/v1/accounts",
            &json!({"username": format!("bot{i}"), "password": "bot password 123"}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }
    c.post(
        "/api/v1/accounts",
        &json!({"username": "bot9", "password": "bot password 123"}),
    )
    .assert_error(429, "rate_limited");
    let mut other = s.client();
    other.forwarded_for = Some("198.51.100.1".into());
    assert_eq!(
        other
            .post(
                "/api/v1/accounts",
                &json!({"username": "human", "password": "a person with a passphrase"}),
            )
            .status,
        201
    );
}

#[test]
fn forwarding_headers_from_untrusted_peers_are_ignored() {
    // no trusted proxies: every request is from 127.0.0.1 whatever the header says
    let s = TestServer::start_with(|c| {
        c.limits.register_ip_burst = 2;
        c.limits.register_ip_per_hour = 1;
    });
    for (i, ip) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .iter()
        .enumerate()
    {
        let mut c = s.client();
        c.forwarded_for = Some((*ip).into());
        let r = c.post(
            "/api/v1/accounts",
            &json!({"username": format!("spoof{i}"), "password": "spoof password 123"}),
        );
        if i < 2 {
            assert_eq!(r.status, 201);
        } else {
            r.assert_error(429, "rate_limited");
        }
    }
    let mut c = s.client();
    c.forwarded_for = Some("203.0.113.1".into());
    c.login("spoof0", "spoof password 123");
    let sessions = c.get("/api/v1/sessions");
    assert_eq!(sessions.body[0]["ip"], "127.0.0.1");
}

#[test]
fn every_account_request_is_rate_limited_per_address() {
    let s = TestServer::start_with(|c| {
        c.limits.auth_ip_burst = 5;
        c.limits.auth_ip_per_minute = 1;
    });
    let c = s.client();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            c.post(
                "/api/v1/sessions/refresh",
                &json!({"refresh_token": "nope"}),
            )
            .status,
        );
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
}

#[test]
fn responses_carry_security_headers() {
    let s = TestServer::start();
    let c = s.client();
    for path in ["/api/v1/health", "/", "/api/v1/nope"] {
        let r = c.get(path);
        let csp = r.headers["content-security-policy"]
            .to_str()
            .expect("ascii");
        let script_src = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .expect("script-src");
        assert!(!script_src.contains("unsafe"), "{script_src}");
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert_eq!(r.headers["referrer-policy"], "no-referrer");
        assert!(r.headers.get("permissions-policy").is_some());
        assert!(r.headers.get("strict-transport-security").is_none());
    }
    let tls = TestServer::start_with(|c| c.server.hsts = true);
    assert!(tls
        .client()
        .get("/api/v1/health")
        .headers
        .get("strict-transport-security")
        .is_some());
}

#[test]
fn a_stolen_token_cannot_guess_the_password() {
    let s = TestServer::start_with(|c| {
        c.limits.login_fail_ip_burst = 3;
        c.limits.login_fail_ip_per_minute = 1;
    });
    let (c, _) = s.register("alice");
    for _ in 0..3 {
        c.put(
            "/api/v1/users/me/password",
            &json!({"current_password": "guessed wrong", "new_password": "a brand new passphrase"}),
        )
        .assert_error(403, "wrong_password");
    }
    // now even the right password is refused for a while
    c.put(
        "/api/v1/users/me/password",
        &json!({"current_password": password_of("alice"), "new_password": "a brand new passphrase"}),
    )
    .assert_error(429, "rate_limited");
    c.post("/api/v1/users/me/recovery_code", &json!({"password": "x"}))
        .assert_error(429, "rate_limited");
}

#[test]
fn api_answers_are_never_cached_and_unknown_api_paths_are_json() {
    let s = TestServer::start();
    let c = s.client();
    let r = c.post(
        "/api/v1/accounts",
        &json!({"username": "alice", "password": password_of("alice")}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.headers["cache-control"], "no-store");
    for path in ["/api", "/api/v2/health", "/api/whatever"] {
        c.get(path).assert_error(404, "not_found");
    }
    let r = c.raw("PATCH", "/api/v1/sessions", &[], vec![]);
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.headers["allow"], "POST, GET, DELETE");
}

/// A tablespace on a small filesystem of its own, holding the tables named; moves them back,
/// drops it and unmounts it when dropped.
struct SmallDisk<'a> {
    s: &'a TestServer,
    dir: std::path::PathBuf,
    name: String,
    tables: Vec<&'static str>,
}

impl<'a> SmallDisk<'a> {
    fn new(s: &'a TestServer, bytes: u64, tables: &[&'static str]) -> SmallDisk<'a> {
        let name = format!("small_{}", uuid::Uuid::new_v4().simple());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("mount point");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount runs");
        assert!(mounted.success(), "this test mounts a tmpfs: it needs root");
        let chown = std::process::Command::new("chown")
            .arg("postgres:postgres")
            .arg(&dir)
            .status()
            .expect("chown runs");
        assert!(chown.success());
        s.sql(&format!(
            "CREATE TABLESPACE {name} LOCATION '{}'",
            dir.display()
        ));
        for t in tables {
            s.sql(&format!("ALTER TABLE {t} SET TABLESPACE {name}"));
        }
        SmallDisk {
            s,
            dir,
            name,
            tables: tables.to_vec(),
        }
    }
}

impl Drop for SmallDisk<'_> {
    fn drop(&mut self) {
        for t in &self.tables {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.s
                    .sql(&format!("ALTER TABLE {t} SET TABLESPACE pg_default"))
            }));
        }
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.s.sql(&format!("DROP TABLESPACE {}", self.name))
        }));
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[test]
fn a_full_disk_answers_507_keeps_what_it_acknowledged_and_the_server_stays_up() {
    let s = TestServer::start_with(|c| {
        c.realtime.frames_burst = 100_000;
        c.realtime.frames_per_sec = 100_000;
    });
    let (alice, _) = s.register("alice");
    let r = alice.post(
        "/api/v1/communities",
        &json!({"name": "Busy", "visibility": "public", "e2e": false}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let channel = alice.get("/api/v1/channels").body["channels"][0]["id"]
        .as_str()
        .expect("channel")
        .to_owned();
    let community = r.body["id"].as_str().expect("id").to_owned();
    let disk = SmallDisk::new(&s, 2 * 1024 * 1024, &["messages", "community_invites"]);
    let (mut ws, _) = crate::common::ws::Ws::open(&s.base, alice.token());
    ws.subscribe(&channel, None);
    // text that does not compress, so each message takes its size on disk
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || -> String {
        (0..3900)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from(b'!' + (seed % 90) as u8)
            })
            .collect()
    };
    let mut acked = 0;
    let mut full = None;
    for i in 0..3000 {
        let answer = ws.send_text_message(&channel, &format!("n{i}"), &noise());
        if answer["type"] == "message_acked" {
            acked += 1;
        } else {
            full = Some(answer);
            break;
        }
    }
    let full = full.expect("the disk filled up");
    assert_eq!(full["code"], "storage_full", "{full}");
    assert!(acked > 10, "some messages fit first: {acked}");
    // every acknowledged message is stored, nothing more
    assert_eq!(
        s.sql(&format!(
            "SELECT count(*) FROM messages WHERE channel_id = '{channel}'"
        )),
        acked.to_string()
    );
    // REST writes to the full disk answer 507 with a clear code, and store nothing
    let r = alice.post(
        &format!("/api/v1/communities/{community}/invites"),
        &json!({}),
    );
    r.assert_error(507, "storage_full");
    assert_eq!(s.sql("SELECT count(*) FROM community_invites"), "0");
    let mut bob = s.client();
    s.register("bob");
    bob.login("bob", &password_of("bob"));
    // the server is up: reads, logins and writes elsewhere still work
    assert_eq!(s.client().get("/api/v1/health").status, 200);
    assert_eq!(
        alice
            .get(&format!("/api/v1/channels/{channel}/messages"))
            .status,
        200
    );
    let r = alice.patch("/api/v1/users/me/profile", &json!({"bio": "still here"}));
    assert_eq!(r.status, 200, "{}", r.text);
    drop(disk);
    // once there is room again, sends go through
    assert_eq!(
        ws.send_text_message(&channel, "after", "room again")["type"],
        "message_acked"
    );
}

#[test]
fn per_user_quotas_hold_and_say_which() {
    let s = TestServer::start_with(|c| {
        c.limits.messages_per_day = 60;
        c.limits.dm_create_burst = 100;
    });
    let (alice, reg) = s.register("alice");
    let (bob, breg) = s.register("bob");
    let alice_id = reg["user"]["id"].as_str().expect("id").to_owned();
    let bob_id = breg["user"]["id"].as_str().expect("id").to_owned();
    // blocks: a thousand at most
    s.sql(&format!(
        "INSERT INTO users (id, username, display_name, password_hash) \
         SELECT gen_random_uuid(), 'u' || n, 'U' || n, 'x' FROM generate_series(1, 1000) n; \
         INSERT INTO user_blocks (blocker_id, blocked_id) \
         SELECT '{alice_id}', id FROM users WHERE username LIKE 'u%'"
    ));
    let r = alice.put_empty(&format!("/api/v1/users/me/blocks/{bob_id}"));
    r.assert_error(403, "quota_exceeded");
    assert!(r.body["message"].as_str().unwrap_or("").contains("1000"));
    s.sql(&format!(
        "DELETE FROM user_blocks WHERE blocker_id = '{alice_id}'"
    ));
    // communities: two hundred at most, joining or creating
    let public = bob.post(
        "/api/v1/communities",
        &json!({"name": "Open house", "visibility": "public", "e2e": false}),
    );
    let public = public.body["id"].as_str().expect("id").to_owned();
    s.sql(&format!(
        "WITH made AS (INSERT INTO communities (id, name, owner_id) \
           SELECT gen_random_uuid(), 'c' || n, '{alice_id}' FROM generate_series(1, 200) n \
           RETURNING id) \
         INSERT INTO community_members (community_id, user_id, role) \
         SELECT id, '{alice_id}', 'owner' FROM made"
    ));
    alice
        .post_empty(&format!("/api/v1/communities/{public}/members"))
        .assert_error(403, "quota_exceeded");
    alice
        .post("/api/v1/communities", &json!({"name": "One more"}))
        .assert_error(403, "quota_exceeded");
    s.sql(&format!(
        "DELETE FROM communities WHERE owner_id = '{alice_id}'"
    ));
    assert_eq!(
        alice
            .post_empty(&format!("/api/v1/communities/{public}/members"))
            .status,
        201
    );
    // conversations opened: a thousand in all
    s.sql(&format!(
        "INSERT INTO channels (id, kind, e2e, dm_key, created_by) \
         SELECT gen_random_uuid(), 'group_dm', true, 'q' || n, '{alice_id}' FROM generate_series(1, 1000) n"
    ));
    alice
        .post("/api/v1/dms", &json!({"user_ids": [bob_id]}))
        .assert_error(403, "quota_exceeded");
    s.sql("DELETE FROM channels WHERE dm_key LIKE 'q%'");
    // edits: fifty per message
    let channel = s.sql(&format!(
        "SELECT id FROM channels WHERE community_id = '{public}' LIMIT 1"
    ));
    let (mut ws, _) = crate::common::ws::Ws::open(&s.base, alice.token());
    ws.subscribe(&channel, None);
    let id = ws.send_text_message(&channel, "first", "v0")["message_id"].clone();
    for i in 1..=51 {
        ws.send(
            &json!({"type": "edit_message", "channel_id": channel, "message_id": id,
            "content": {"kind": "text", "text": format!("v{i}")}}),
        );
        let answer = loop {
            let f = ws.recv();
            if f["type"] == "message_updated" || f["type"] == "error" {
                break f;
            }
        };
        if i <= 50 {
            assert_eq!(answer["type"], "message_updated", "edit {i}: {answer}");
        } else {
            assert_eq!(answer["code"], "quota_exceeded", "{answer}");
        }
    }
    assert_eq!(
        s.sql(&format!(
            "SELECT count(*) FROM message_edits WHERE message_id = '{}'",
            id.as_str().expect("id")
        )),
        "50"
    );
    // messages per day: sixty here (the first send and fifty edits counted already)
    let mut refused = None;
    for i in 0..20 {
        let answer = ws.send_text_message(&channel, &format!("d{i}"), "hello");
        if answer["type"] == "error" {
            refused = Some((i, answer));
            break;
        }
    }
    let (at, answer) = refused.expect("the daily allowance ran out");
    assert_eq!(answer["code"], "quota_exceeded");
    assert_eq!(at, 8, "1 + 51 + 8 = 60: {answer}");
}
