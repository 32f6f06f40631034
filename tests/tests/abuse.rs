//! Account enumeration (A1), brute force without victim lock-out (A2), registration abuse
//! (A12), rate limits, forwarding headers and security headers.
mod common;
use common::{password_of, TestServer};
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
