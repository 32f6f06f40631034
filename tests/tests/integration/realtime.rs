//! The WebSocket gateway: ordered, durable messaging between real clients (F20-F23), resume
//! without holes or duplicates, revocation reaching live sockets (A3), pre-auth limits (A4),
//! floods and oversize frames (A5), slow readers (A6) and malformed frames (R4).
use crate::common::ws::{Ended, Ws};
use crate::common::{Client, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

/// A plaintext (or e2e) community owned by `owner`, joined by `others`; its `general` channel.
fn community(owner: &Client, others: &[&Client], e2e: bool) -> String {
    let r = owner.post(
        "/api/v1/communities",
        &json!({"name": "Test place", "visibility": "public", "e2e": e2e}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let community = r.body["id"].as_str().expect("id").to_owned();
    for o in others {
        let r = o.post_empty(&format!("/api/v1/communities/{community}/members"));
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let channels = owner.get("/api/v1/channels");
    channels.body["channels"][0]["id"]
        .as_str()
        .expect("channel")
        .to_owned()
}

/// Waits (2 s at most) until the server counts `n` open WebSocket connections.
fn wait_for_connections(s: &TestServer, n: u64) {
    let started = std::time::Instant::now();
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(2) {
        let metrics = s.client().get("/metrics").text;
        last = metrics
            .lines()
            .find(|l| l.starts_with("chatalot_ws_connections "))
            .unwrap_or("")
            .to_owned();
        if last == format!("chatalot_ws_connections {n}") {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("expected {n} connections: {last}");
}

fn text_of(frame: &Value) -> &str {
    frame["message"]["content"]["text"].as_str().unwrap_or("")
}

#[test]
fn two_users_exchange_messages_in_order() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let channel = community(&alice, &[&bob], false);
    let alice_id = alice.get("/api/v1/users/me").body["id"].clone();
    let (mut a, ready) = Ws::open(&s.base, alice.token());
    assert_eq!(ready["protocol_version"], 1);
    let (mut b, _) = Ws::open(&s.base, bob.token());
    a.subscribe(&channel, None);
    b.subscribe(&channel, None);
    let mut last = 0;
    for i in 0..20 {
        let ack = a.send_text_message(&channel, &format!("n{i}"), &format!("hello {i}"));
        assert_eq!(ack["type"], "message_acked", "{ack}");
        let seq = ack["seq"].as_i64().expect("seq");
        assert!(seq > last, "sequence numbers increase");
        last = seq;
    }
    let got: Vec<Value> = (0..20).map(|_| b.recv_type("message_created")).collect();
    for (i, f) in got.iter().enumerate() {
        assert_eq!(text_of(f), format!("hello {i}"));
        assert_eq!(f["message"]["sender_id"], alice_id);
    }
    // nothing more
    assert!(b
        .drain(Duration::from_millis(300))
        .iter()
        .all(|f| f["type"] != "message_created"));
    // history over REST says the same
    let page = bob.get(&format!("/api/v1/channels/{channel}/messages?limit=100"));
    assert_eq!(page.status, 200, "{}", page.text);
    let texts: Vec<&str> = page.body["messages"]
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["content"]["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts.len(), 20);
    assert_eq!(texts[0], "hello 0");
    assert_eq!(texts[19], "hello 19");
    assert_eq!(page.body["has_more"], false);
    assert_eq!(s.sql("SELECT count(*) FROM messages"), "20");
}

#[test]
fn a_retried_send_is_stored_once() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let channel = community(&alice, &[], false);
    let (mut a, _) = Ws::open(&s.base, alice.token());
    a.subscribe(&channel, None);
    let first = a.send_text_message(&channel, "same-nonce", "once");
    let again = a.send_text_message(&channel, "same-nonce", "once");
    assert_eq!(first["message_id"], again["message_id"]);
    assert_eq!(first["seq"], again["seq"]);
    // even after reconnecting
    a.close();
    let (mut a, _) = Ws::open(&s.base, alice.token());
    a.subscribe(&channel, None);
    let third = a.send_text_message(&channel, "same-nonce", "once");
    assert_eq!(first["message_id"], third["message_id"]);
    assert_eq!(s.sql("SELECT count(*) FROM messages"), "1");
}

#[test]
fn a_reconnecting_client_gets_exactly_what_it_missed() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let channel = community(&alice, &[&bob], false);
    let (mut a, _) = Ws::open(&s.base, alice.token());
    let (mut b, _) = Ws::open(&s.base, bob.token());
    a.subscribe(&channel, None);
    b.subscribe(&channel, None);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            a.send_text_message(&channel, &format!("a{i}"), &format!("m{i}"))["message_id"].clone(),
        );
    }
    let mut cursor = 0;
    for _ in 0..5 {
        cursor = b.recv_type("message_created")["event_seq"]
            .as_i64()
            .expect("seq");
    }
    b.close();

    // while bob is away: new messages, an edit, a deletion and a reaction
    for i in 5..12 {
        a.send_text_message(&channel, &format!("a{i}"), &format!("m{i}"));
    }
    a.send(
        &json!({"type": "edit_message", "channel_id": channel, "message_id": ids[1],
        "content": {"kind": "text", "text": "m1 edited"}}),
    );
    a.recv_type("message_updated");
    a.send(&json!({"type": "delete_message", "channel_id": channel, "message_id": ids[2]}));
    a.recv_type("message_updated");
    a.send(&json!({"type": "add_reaction", "channel_id": channel, "message_id": ids[3], "emoji": "👍"}));
    a.recv_type("reaction_changed");

    let (mut b, _) = Ws::open(&s.base, bob.token());
    let (backlog, subscribed) = b.subscribe(&channel, Some(cursor));
    let created: Vec<&str> = backlog
        .iter()
        .filter(|f| f["type"] == "message_created")
        .map(text_of)
        .collect();
    assert_eq!(created, ["m5", "m6", "m7", "m8", "m9", "m10", "m11"]);
    let updated: Vec<&Value> = backlog
        .iter()
        .filter(|f| f["type"] == "message_updated")
        .collect();
    assert_eq!(updated.len(), 3, "{backlog:?}");
    assert_eq!(text_of(updated[0]), "m1 edited");
    assert_eq!(updated[1]["message"]["deleted"], true);
    assert!(updated[1]["message"]["content"].is_null());
    assert_eq!(updated[2]["message"]["reactions"][0]["emoji"], "👍");
    // event sequence numbers strictly increase: no duplicates
    let seqs: Vec<i64> = backlog
        .iter()
        .map(|f| f["event_seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(subscribed["last_seq"], *seqs.last().expect("some"));
    // and live traffic follows
    a.send_text_message(&channel, "live", "after resume");
    assert_eq!(text_of(&b.recv_type("message_created")), "after resume");
    // the edit history is kept
    assert_eq!(s.sql("SELECT count(*) FROM message_edits"), "1");
}

#[test]
fn e2e_channels_take_only_ciphertext_and_store_it_opaquely() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let channel = community(&alice, &[], true);
    let listed = alice.get("/api/v1/channels");
    assert_eq!(listed.body["channels"][0]["e2e"], true);
    let (mut a, _) = Ws::open(&s.base, alice.token());
    a.subscribe(&channel, None);
    let plain = a.send_text_message(&channel, "p1", "in the clear");
    assert_eq!(plain["type"], "error");
    assert_eq!(plain["code"], "invalid_request");
    a.send(
        &json!({"type": "send_message", "channel_id": channel, "nonce": "c1",
        "content": {"kind": "encrypted", "ciphertext": "AAECAwQFBgc="}}),
    );
    let ack = a.recv_type("message_acked");
    assert_eq!(ack["nonce"], "c1");
    let created = a.recv_type("message_created");
    assert_eq!(created["message"]["content"]["ciphertext"], "AAECAwQFBgc=");
    assert_eq!(
        s.sql("SELECT encode(body_cipher, 'hex') || ',' || (body_text IS NULL) FROM messages"),
        "0001020304050607,true"
    );
}

#[test]
fn sockets_must_authenticate_first_and_in_time() {
    let s = TestServer::start_with(|c| c.realtime.auth_timeout_secs = 1);
    let (alice, _) = s.register("alice");
    // a frame before authenticating closes the socket
    let mut w = Ws::connect(&s.base);
    w.send(&json!({"type": "ping"}));
    assert_eq!(w.ended(Duration::from_secs(2)), Some(Ended::Closed(4001)));
    // a bad token too
    let mut w = Ws::connect(&s.base);
    w.send(&json!({"type": "authenticate", "token": "forged"}));
    assert_eq!(w.recv_type("error")["code"], "unauthorized");
    assert_eq!(w.ended(Duration::from_secs(2)), Some(Ended::Closed(4001)));
    // silence is closed after the timeout
    let mut w = Ws::connect(&s.base);
    let started = std::time::Instant::now();
    assert_eq!(w.ended(Duration::from_secs(3)), Some(Ended::Closed(4001)));
    assert!(started.elapsed() < Duration::from_millis(2500));
    // a good token works
    let (mut w, ready) = Ws::open(&s.base, alice.token());
    assert_eq!(ready["user_id"], alice.get("/api/v1/users/me").body["id"]);
    w.send(&json!({"type": "ping"}));
    assert_eq!(w.recv_type("pong")["type"], "pong");
}

#[test]
fn unauthenticated_sockets_per_address_are_capped() {
    let s = TestServer::start_with(|c| c.realtime.unauthenticated_per_ip = 3);
    let (alice, _) = s.register("alice");
    let held: Vec<Ws> = (0..3).map(|_| Ws::connect(&s.base)).collect();
    let r = s.client().raw(
        "GET",
        "/api/v1/ws",
        &[
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        vec![],
    );
    r.assert_error(429, "rate_limited");
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    // authenticated sockets do not count against the cap
    let open: Vec<Ws> = (0..4).map(|_| Ws::open(&s.base, alice.token()).0).collect();
    assert_eq!(open.len(), 4);
    let _fresh = Ws::connect(&s.base);
}

#[test]
fn revocation_closes_live_sockets_within_a_second() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let mut other = s.client();
    other.login("alice", &crate::common::password_of("alice"));
    let (mut w1, _) = Ws::open(&s.base, alice.token());
    let (mut w2, _) = Ws::open(&s.base, other.token());
    // logging out the first session closes its socket only
    assert_eq!(alice.delete("/api/v1/sessions/current").status, 204);
    let t = std::time::Instant::now();
    assert_eq!(w1.ended(Duration::from_secs(1)), Some(Ended::Closed(4001)));
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(w2.ended(Duration::from_millis(300)), None);
    // the closed socket is gone on the server too, not only told to go
    wait_for_connections(&s, 1);
    // logout everywhere closes the rest
    assert_eq!(other.delete("/api/v1/sessions").status, 200);
    assert_eq!(w2.ended(Duration::from_secs(1)), Some(Ended::Closed(4001)));
}

#[test]
fn a_socket_closes_when_its_token_expires_unless_renewed() {
    let s = TestServer::start_with(|c| c.auth.access_token_ttl_secs = 3);
    let (alice, reg) = s.register("alice");
    let (mut stale, ready) = Ws::open(&s.base, alice.token());
    let expires = time::OffsetDateTime::parse(
        ready["token_expires_at"].as_str().expect("expiry"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc 3339");
    assert!(expires > time::OffsetDateTime::now_utc());
    let (mut renewed, _) = Ws::open(&s.base, alice.token());
    // a token of another session does not move this connection to it
    let mut other = s.client();
    other.login("alice", &crate::common::password_of("alice"));
    renewed.send(&json!({"type": "authenticate", "token": other.token()}));
    let e = renewed.recv_type("error");
    assert_eq!(
        (e["code"].as_str(), e["frame"].as_str()),
        (Some("invalid_request"), Some("authenticate"))
    );
    // a newer token of the same session extends it
    std::thread::sleep(Duration::from_millis(1100));
    let r = alice.post(
        "/api/v1/sessions/refresh",
        &json!({"refresh_token": reg["refresh_token"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    renewed.send(&json!({"type": "authenticate", "token": r.body["access_token"]}));
    let later = renewed.recv_type("reauthenticated");
    assert!(later["token_expires_at"].as_str() > ready["token_expires_at"].as_str());
    // the first closes once its token has expired, the renewed one stays until its own expiry
    assert_eq!(
        stale.ended(Duration::from_secs(4)),
        Some(Ended::Closed(4001))
    );
    renewed.send(&json!({"type": "ping"}));
    assert_eq!(renewed.recv_type("pong")["type"], "pong");
    assert_eq!(
        renewed.ended(Duration::from_secs(5)),
        Some(Ended::Closed(4001))
    );
}

#[test]
fn password_change_and_suspension_close_sockets() {
    let s = TestServer::start();
    let (owner, _) = s.register("owner");
    let (m, reg) = s.register("member");
    let mut m2 = s.client();
    m2.login("member", &crate::common::password_of("member"));
    let (mut w_keep, _) = Ws::open(&s.base, m.token());
    let (mut w_other, _) = Ws::open(&s.base, m2.token());
    let r = m.put(
        "/api/v1/users/me/password",
        &json!({"current_password": crate::common::password_of("member"), "new_password": "a brand new passphrase"}),
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        w_other.ended(Duration::from_secs(1)),
        Some(Ended::Closed(4001))
    );
    assert_eq!(
        w_keep.ended(Duration::from_millis(300)),
        None,
        "the changing session stays"
    );
    let id = reg["user"]["id"].as_str().expect("id");
    assert_eq!(
        owner
            .put_empty(&format!("/api/v1/users/{id}/suspension"))
            .status,
        204
    );
    assert_eq!(
        w_keep.ended(Duration::from_secs(1)),
        Some(Ended::Closed(4001))
    );
}

#[test]
fn a_user_has_at_most_eight_sessions() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let open: Vec<Ws> = (0..8).map(|_| Ws::open(&s.base, alice.token()).0).collect();
    let mut ninth = Ws::connect(&s.base);
    ninth.send(&json!({"type": "authenticate", "token": alice.token()}));
    assert_eq!(ninth.recv_type("error")["code"], "too_many_sessions");
    assert_eq!(
        ninth.ended(Duration::from_secs(2)),
        Some(Ended::Closed(4029))
    );
    drop(open);
}

#[test]
fn malformed_frames_get_errors_and_change_nothing() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let channel = community(&alice, &[], false);
    let (mut a, _) = Ws::open(&s.base, alice.token());
    a.subscribe(&channel, None);
    let cases = [
        ("{not json", "invalid_json"),
        ("[]", "invalid_request"),
        (r#"{"type": "fly"}"#, "invalid_request"),
        (
            r#"{"type": "send_message", "channel_id": 5}"#,
            "invalid_request",
        ),
        // serde_json reports an out-of-range number as malformed JSON
        (
            r#"{"type": "mark_read", "channel_id": "x", "seq": 1e400}"#,
            "invalid_json",
        ),
        (
            r#"{"type": "mark_read", "channel_id": "x", "seq": 1}"#,
            "invalid_request",
        ),
        (r#"{"type": "ping", "extra": true}"#, "invalid_request"),
    ];
    for (text, code) in cases {
        a.send_text(text);
        let f = a.recv_type("error");
        assert_eq!(f["code"], code, "{text}: {f}");
    }
    let bad = [
        json!({"type": "send_message", "channel_id": channel, "nonce": "", "content": {"kind": "text", "text": "x"}}),
        json!({"type": "send_message", "channel_id": channel, "nonce": "n".repeat(65), "content": {"kind": "text", "text": "x"}}),
        json!({"type": "send_message", "channel_id": channel, "nonce": "n1", "content": {"kind": "text", "text": "   "}}),
        json!({"type": "send_message", "channel_id": channel, "nonce": "n2", "content": {"kind": "text", "text": "x".repeat(4001)}}),
        json!({"type": "send_message", "channel_id": channel, "nonce": "n3", "content": {"kind": "encrypted", "ciphertext": "not base64!"}}),
        json!({"type": "send_message", "channel_id": channel, "nonce": 5, "content": {"kind": "text", "text": "x"}}),
        json!({"type": "send_message", "channel_id": uuid::Uuid::new_v4(), "nonce": "n4", "content": {"kind": "text", "text": "x"}}),
        json!({"type": "send_message", "channel_id": channel, "nonce": "n5", "content": {"kind": "text", "text": "x"}, "reply_to": uuid::Uuid::new_v4()}),
        json!({"type": "add_reaction", "channel_id": channel, "message_id": uuid::Uuid::new_v4(), "emoji": ""}),
        json!({"type": "add_reaction", "channel_id": channel, "message_id": uuid::Uuid::new_v4(), "emoji": "ok"}),
        json!({"type": "remove_reaction", "channel_id": channel, "message_id": uuid::Uuid::new_v4(), "emoji": "a b"}),
        json!({"type": "remove_reaction", "channel_id": uuid::Uuid::new_v4(), "message_id": uuid::Uuid::new_v4(), "emoji": "ok"}),
        json!({"type": "edit_message", "channel_id": channel, "message_id": uuid::Uuid::new_v4(), "content": {"kind": "text", "text": ""}}),
        json!({"type": "delete_message", "channel_id": uuid::Uuid::new_v4(), "message_id": uuid::Uuid::new_v4()}),
        json!({"type": "start_typing", "channel_id": uuid::Uuid::new_v4()}),
        json!({"type": "mark_read", "channel_id": channel, "seq": 999}),
        json!({"type": "set_presence", "presence": "offline"}),
        json!({"type": "subscribe", "channels": []}),
    ];
    for frame in bad {
        a.send(&frame);
        let f = a.recv_type("error");
        assert!(
            f["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{frame}: {f}"
        );
        // every error names the frame it answers, and a send its nonce when that is valid
        assert_eq!(f["frame"], frame["type"], "{frame}: {f}");
        let nonce = frame["nonce"]
            .as_str()
            .filter(|n| (1..=64).contains(&n.len()));
        assert_eq!(f["nonce"].as_str(), nonce, "{frame}: {f}");
    }
    // still alive and nothing stored
    a.send(&json!({"type": "ping"}));
    a.recv_type("pong");
    assert_eq!(s.sql("SELECT count(*) FROM messages"), "0");
}

#[test]
fn oversize_frames_close_with_1009() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (mut a, _) = Ws::open(&s.base, alice.token());
    a.send_text(&format!(
        r#"{{"type": "ping", "pad": "{}"}}"#,
        "x".repeat(200 * 1024)
    ));
    assert_eq!(a.ended(Duration::from_secs(2)), Some(Ended::Closed(1009)));
}

#[test]
fn floods_are_refused_with_errors_then_closed() {
    let s = TestServer::start_with(|c| {
        c.realtime.frames_burst = 10;
        c.realtime.frames_per_sec = 5;
    });
    let (alice, _) = s.register("alice");
    let (mut a, _) = Ws::open(&s.base, alice.token());
    for _ in 0..30 {
        a.send(&json!({"type": "ping"}));
    }
    let frames = a.drain(Duration::from_millis(500));
    let pongs = frames.iter().filter(|f| f["type"] == "pong").count();
    let limited = frames
        .iter()
        .filter(|f| f["type"] == "error" && f["code"] == "rate_limited")
        .count();
    // the bucket holds 10 and `authenticate` took one
    assert!((9..=11).contains(&pongs), "{pongs} pongs");
    assert!(limited >= 15, "{limited} rate-limit errors");
    for _ in 0..80 {
        a.send(&json!({"type": "ping"}));
    }
    assert_eq!(a.ended(Duration::from_secs(2)), Some(Ended::Closed(1008)));
}

#[test]
fn a_slow_reader_is_dropped_and_others_are_unaffected() {
    let s = TestServer::start_with(|c| {
        c.realtime.outbox_frames = 16;
        c.realtime.frames_burst = 5000;
        c.realtime.frames_per_sec = 5000;
    });
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (carol, _) = s.register("carol");
    let channel = community(&alice, &[&bob, &carol], false);
    let (mut a, _) = Ws::open(&s.base, alice.token());
    let (mut slow, _) = Ws::open(&s.base, bob.token());
    let (mut c, _) = Ws::open(&s.base, carol.token());
    a.subscribe(&channel, None);
    slow.subscribe(&channel, None);
    c.subscribe(&channel, None);
    // bob stops reading; alice sends far more than his buffers hold, in steps of five that
    // alice and carol read as they go
    let big = "y".repeat(3900);
    let mut received = 0;
    for step in 0..300 {
        for k in 0..5 {
            let i = step * 5 + k;
            a.send(
                &json!({"type": "send_message", "channel_id": channel, "nonce": format!("s{i}"),
                "content": {"kind": "text", "text": big}}),
            );
        }
        for _ in 0..5 {
            a.recv_type("message_acked");
        }
        while received < (step + 1) * 5 {
            c.recv_type("message_created");
            received += 1;
        }
    }
    assert_eq!(received, 1500, "the reading client got everything");
    // bob was dropped: once he reads again, his connection has ended
    let mut ended = None;
    for _ in 0..2000 {
        if let Some(e) = slow.ended(Duration::from_millis(5)) {
            ended = Some(e);
            break;
        }
    }
    assert!(
        matches!(ended, Some(Ended::Closed(4008)) | Some(Ended::Dropped)),
        "{ended:?}"
    );
}

#[test]
fn a_client_that_never_reads_is_cut_off_and_counts_until_its_socket_is_gone() {
    let s = TestServer::start_with(|c| {
        c.realtime.frames_burst = 5000;
        c.realtime.frames_per_sec = 5000;
        c.realtime.write_timeout_secs = 1;
        c.realtime.max_sessions_per_user = 2;
        c.server.tcp_user_timeout_secs = 8;
    });
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let channel = community(&alice, &[&bob], true);
    let (mut a, _) = Ws::open(&s.base, alice.token());
    a.subscribe(&channel, None);
    let mut stuck = Ws::connect_small_buffer(&s.base);
    stuck.send(&json!({"type": "authenticate", "token": bob.token()}));
    stuck.recv_type("ready");
    stuck.subscribe(&channel, None);
    // bob stops reading; alice sends far more than the kernel's buffers and bob's queue hold
    let ciphertext = chatalot_protocol::bytes::encode(&vec![7u8; 60 * 1024]);
    for step in 0..40 {
        for k in 0..4 {
            a.send(&json!({"type": "send_message", "channel_id": channel,
                "nonce": format!("n{step}-{k}"),
                "content": {"kind": "encrypted", "ciphertext": ciphertext}}));
        }
        for _ in 0..4 {
            a.recv_type("message_acked");
        }
    }
    // the stuck socket still counts towards bob's two connections while it exists
    let (_first, _) = Ws::open(&s.base, bob.token());
    let mut second = Ws::connect(&s.base);
    second.send(&json!({"type": "authenticate", "token": bob.token()}));
    assert_eq!(second.recv_type("error")["code"], "too_many_sessions");
    // and it goes by itself, though bob never reads: then his second connection fits
    let started = std::time::Instant::now();
    let mut fitted = false;
    while started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(500));
        let mut again = Ws::connect(&s.base);
        again.send(&json!({"type": "authenticate", "token": bob.token()}));
        let answer = again.recv();
        if answer["type"] == "ready" {
            fitted = true;
            break;
        }
        assert_eq!(answer["code"], "too_many_sessions", "{answer}");
    }
    assert!(fitted, "the stuck socket was never let go");
    // the server ended the stuck connection: what bob finds when he reads again is its end
    assert!(stuck.ended(Duration::from_secs(10)).is_some(), "still open");
}

/// A public plaintext community of `owner` joined by `others`; its id and first channel.
fn community_with_id(
    s: &TestServer,
    owner: &Client,
    others: &[&Client],
    name: &str,
) -> (String, String) {
    let r = owner.post(
        "/api/v1/communities",
        &json!({"name": name, "visibility": "public", "e2e": false}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().expect("id").to_owned();
    for o in others {
        let r = o.post_empty(&format!("/api/v1/communities/{id}/members"));
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let general = s.sql(&format!(
        "SELECT id FROM channels WHERE community_id = '{id}' ORDER BY created_at LIMIT 1"
    ));
    (id, general)
}

#[test]
fn a_kick_ends_every_subscription_of_a_user_who_sees_thousands_of_channels() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, reg) = s.register("bob");
    let bob_id = reg["user"]["id"].as_str().expect("id").to_owned();
    // bob reads 1,000 channels in two older communities...
    for name in ["First", "Second"] {
        let (id, _) = community_with_id(&s, &alice, &[&bob], name);
        s.sql(&format!(
            "INSERT INTO channels (id, community_id, kind, name, e2e, position) \
             SELECT gen_random_uuid(), '{id}', 'text', 'c' || n, false, n \
             FROM generate_series(1, 499) AS n"
        ));
    }
    // ...and one in the community he is then kicked from
    let (last, general) = community_with_id(&s, &alice, &[&bob], "Third");
    let (mut a, _) = Ws::open(&s.base, alice.token());
    let (mut b, _) = Ws::open(&s.base, bob.token());
    a.subscribe(&general, None);
    b.subscribe(&general, None);
    let r = alice.delete(&format!("/api/v1/communities/{last}/members/{bob_id}"));
    assert_eq!(r.status, 204, "{}", r.text);
    let gone = b.recv_type("unsubscribed");
    assert_eq!(gone["channel_id"], general.as_str());
    assert_eq!(gone["reason"], "removed");
    a.send_text_message(&general, "k1", "after the kick");
    b.send(
        &json!({"type": "send_message", "channel_id": general, "nonce": "b1",
        "content": {"kind": "text", "text": "still here?"}}),
    );
    assert_eq!(b.recv_type("error")["code"], "not_found");
    let after = b.drain(Duration::from_millis(300));
    assert!(
        !after.iter().any(|f| f["type"] == "message_created"),
        "a kicked member receives nothing more: {after:?}"
    );
    assert_eq!(
        s.sql(&format!(
            "SELECT count(*) FROM messages WHERE channel_id = '{general}' AND sender_id = '{bob_id}'"
        )),
        "0"
    );
}

#[test]
fn subscribe_lists_are_deduplicated_bounded_and_checked_in_one_query() {
    let s = TestServer::start_with(|c| {
        c.database.pool_size = 2;
        c.realtime.frames_burst = 5000;
        c.realtime.frames_per_sec = 5000;
    });
    let (alice, _) = s.register("alice");
    let channel = community(&alice, &[], false);
    let (mut ws, _) = Ws::open(&s.base, alice.token());
    ws.subscribe(&channel, None);
    // a subscribed channel named many times in one frame is refused as a whole
    let same: Vec<Value> = (0..2000).map(|_| json!({"channel_id": channel})).collect();
    ws.send(&json!({"type": "subscribe", "channels": same}));
    let e = ws.recv_type("error");
    assert_eq!(
        (e["code"].as_str(), e["frame"].as_str()),
        (Some("invalid_request"), Some("subscribe"))
    );
    // more than 500 distinct channels too
    let many: Vec<Value> = (0..501)
        .map(|_| json!({"channel_id": uuid::Uuid::new_v4()}))
        .collect();
    ws.send(&json!({"type": "subscribe", "channels": many}));
    assert_eq!(ws.recv_type("error")["code"], "invalid_request");
    // the subscription from before still works
    assert_eq!(
        ws.send_text_message(&channel, "x", "hi")["type"],
        "message_acked"
    );
    // eight sockets each ask for 500 channels over and over; others are not held up
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> = (0..4)
        .flat_map(|k| {
            let (c, _) = s.register(&format!("mallory{k}"));
            (0..2)
                .map(move |_| c.token().to_owned())
                .collect::<Vec<_>>()
        })
        .map(|token| {
            let (base, stop) = (s.base.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut w, _) = Ws::open(&base, &token);
                let mut frames = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && frames < 20 {
                    let ids: Vec<Value> = (0..500)
                        .map(|_| json!({"channel_id": uuid::Uuid::new_v4()}))
                        .collect();
                    w.send(&json!({"type": "subscribe", "channels": ids}));
                    for _ in 0..500 {
                        assert_eq!(w.recv_type("error")["code"], "not_found");
                    }
                    frames += 1;
                }
                frames
            })
        })
        .collect();
    let mut worst = Duration::ZERO;
    for _ in 0..30 {
        let started = std::time::Instant::now();
        let r = alice.get(&format!("/api/v1/channels/{channel}/messages"));
        assert_eq!(r.status, 200, "{}", r.text);
        worst = worst.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for a in attackers {
        assert!(a.join().expect("attacker") > 0);
    }
    assert!(
        worst < Duration::from_millis(750),
        "a history page waited {worst:?}"
    );
}

#[test]
fn reactions_go_out_as_small_deltas_and_presence_changes_are_throttled() {
    let s = TestServer::start_with(|c| {
        c.realtime.frames_burst = 5000;
        c.realtime.frames_per_sec = 5000;
    });
    let (alice, _) = s.register("alice");
    let (bob, reg) = s.register("bob");
    let bob_id = reg["user"]["id"].as_str().expect("id").to_owned();
    let channel = community(&alice, &[&bob], true);
    let (mut a, _) = Ws::open(&s.base, alice.token());
    let (mut b, _) = Ws::open(&s.base, bob.token());
    a.subscribe(&channel, None);
    b.subscribe(&channel, None);
    // a message of 60 KiB of ciphertext; bob reacts to it and takes the reaction back
    let big = chatalot_protocol::bytes::encode(&vec![9u8; 60 * 1024]);
    a.send(
        &json!({"type": "send_message", "channel_id": channel, "nonce": "big",
        "content": {"kind": "encrypted", "ciphertext": big}}),
    );
    let id = a.recv_type("message_acked")["message_id"].clone();
    b.recv_type("message_created");
    let _ = a.drain(Duration::from_millis(200));
    b.send(
        &json!({"type": "add_reaction", "channel_id": channel, "message_id": id, "emoji": "👍"}),
    );
    let added = a.recv_type("reaction_changed");
    assert_eq!(added["message_id"], id);
    assert_eq!(
        (
            added["user_id"].as_str(),
            added["present"].as_bool(),
            added["count"].as_u64()
        ),
        (Some(bob_id.as_str()), Some(true), Some(1))
    );
    assert!(
        added.to_string().len() < 400,
        "a delta, not the message: {} bytes",
        added.to_string().len()
    );
    b.send(
        &json!({"type": "remove_reaction", "channel_id": channel, "message_id": id, "emoji": "👍"}),
    );
    let removed = a.recv_type("reaction_changed");
    assert_eq!(
        (removed["present"].as_bool(), removed["count"].as_u64()),
        (Some(false), Some(0))
    );
    assert!(removed["event_seq"].as_i64() > added["event_seq"].as_i64());
    // the backlog still carries the message's whole state
    let (mut late, _) = Ws::open(&s.base, alice.token());
    let seen_seq = added["event_seq"].as_i64().expect("seq") - 1;
    let (backlog, _) = late.subscribe(&channel, Some(seen_seq));
    let kinds: Vec<&str> = backlog.iter().filter_map(|f| f["type"].as_str()).collect();
    assert_eq!(kinds, ["message_updated"]);
    assert_eq!(backlog[0]["message"]["reactions"], json!([]));
    drop(late);
    let _ = a.drain(Duration::from_millis(300));
    // forty presence changes in a burst reach alice as a few frames, ending in the last state
    for i in 0..40 {
        let p = if i % 2 == 0 { "dnd" } else { "online" };
        b.send(&json!({"type": "set_presence", "presence": p}));
    }
    b.send(&json!({"type": "set_presence", "presence": "idle"}));
    let seen: Vec<Value> = a
        .drain(Duration::from_secs(5))
        .into_iter()
        .filter(|f| f["type"] == "presence_changed" && f["user_id"] == bob_id.as_str())
        .collect();
    assert!(
        !seen.is_empty() && seen.len() <= 4,
        "{} presence frames",
        seen.len()
    );
    assert_eq!(seen.last().expect("one")["presence"], "idle");
}

#[test]
fn typing_presence_and_read_markers_reach_the_right_sockets() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let channel = community(&alice, &[&bob], false);
    let bob_id = bob.get("/api/v1/users/me").body["id"].clone();
    let alice_id = alice.get("/api/v1/users/me").body["id"].clone();
    let (mut a, _) = Ws::open(&s.base, alice.token());
    a.subscribe(&channel, None);
    let (mut b, _) = Ws::open(&s.base, bob.token());
    let (_, subscribed) = b.subscribe(&channel, None);
    // bob sees alice present
    let present = subscribed["present"].as_array().expect("list");
    assert!(
        present.iter().any(|p| p[0] == alice_id && p[1] == "online"),
        "{subscribed}"
    );
    // alice sees bob arrive
    let seen = a.recv_type("presence_changed");
    assert_eq!(seen["user_id"], bob_id);
    assert_eq!(seen["presence"], "online");

    b.send(&json!({"type": "start_typing", "channel_id": channel}));
    assert_eq!(a.recv_type("typing")["user_id"], bob_id);
    // throttled: a second notice right away is not fanned out
    b.send(&json!({"type": "start_typing", "channel_id": channel}));
    assert!(a
        .drain(Duration::from_millis(300))
        .iter()
        .all(|f| f["type"] != "typing"));

    b.send(&json!({"type": "set_presence", "presence": "dnd"}));
    let p = a.recv_type("presence_changed");
    assert_eq!(
        (p["user_id"].clone(), p["presence"].clone()),
        (bob_id.clone(), json!("dnd"))
    );
    b.send(&json!({"type": "set_presence", "presence": "invisible"}));
    assert_eq!(a.recv_type("presence_changed")["presence"], "offline");

    // unread counts and read markers
    for i in 0..3 {
        a.send_text_message(&channel, &format!("u{i}"), "news");
    }
    let mut last = 0;
    for _ in 0..3 {
        last = b.recv_type("message_created")["event_seq"]
            .as_i64()
            .expect("seq");
    }
    let unread = |c: &Client| {
        c.get("/api/v1/channels").body["channels"][0]["unread"]
            .as_i64()
            .expect("n")
    };
    assert_eq!(unread(&bob), 3);
    assert_eq!(unread(&alice), 0, "one's own messages are not unread");
    let (mut b2, _) = Ws::open(&s.base, bob.token());
    b2.subscribe(&channel, None);
    b.send(&json!({"type": "mark_read", "channel_id": channel, "seq": last}));
    assert_eq!(b2.recv_type("read_marker")["seq"], last);
    assert_eq!(unread(&bob), 0);
    // markers never move back
    b.send(&json!({"type": "mark_read", "channel_id": channel, "seq": 1}));
    b2.recv_type("read_marker");
    assert_eq!(
        bob.get("/api/v1/channels").body["channels"][0]["last_read_seq"],
        last
    );

    // the last connection leaving shows the user offline
    b.send(&json!({"type": "set_presence", "presence": "online"}));
    assert_eq!(a.recv_type("presence_changed")["presence"], "online");
    b.close();
    b2.close();
    let offline = a.drain(Duration::from_secs(1));
    assert!(offline.iter().any(|f| f["type"] == "presence_changed"
        && f["user_id"] == bob_id
        && f["presence"] == "offline"));
}

#[test]
fn dms_are_private_and_opening_them_is_idempotent() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (eve, _) = s.register("eve");
    let bob_id = bob.get("/api/v1/users/me").body["id"].clone();
    let alice_id = alice.get("/api/v1/users/me").body["id"].clone();
    let dm = alice.post("/api/v1/dms", &json!({"user_ids": [bob_id]}));
    assert_eq!(dm.status, 200, "{}", dm.text);
    assert_eq!(dm.body["kind"], "dm");
    let again = bob.post("/api/v1/dms", &json!({"user_ids": [alice_id]}));
    assert_eq!(again.body["id"], dm.body["id"], "same pair, same channel");
    let channel = dm.body["id"].as_str().expect("id").to_owned();
    alice
        .post("/api/v1/dms", &json!({"user_ids": []}))
        .assert_error(400, "invalid_request");
    alice
        .post("/api/v1/dms", &json!({"user_ids": [uuid::Uuid::new_v4()]}))
        .assert_error(404, "not_found");

    // a DM is end-to-end encrypted: only ciphertext goes in
    let (mut a, _) = Ws::open(&s.base, alice.token());
    a.subscribe(&channel, None);
    a.send(
        &json!({"type": "send_message", "channel_id": channel, "nonce": "d1",
        "content": {"kind": "encrypted", "ciphertext": "c2VjcmV0"}}),
    );
    a.recv_type("message_acked");

    // eve can neither subscribe nor read the history nor send
    let (mut e, _) = Ws::open(&s.base, eve.token());
    e.send(&json!({"type": "subscribe", "channels": [{"channel_id": channel, "after_seq": 0}]}));
    let err = e.recv_type("error");
    assert_eq!(err["code"], "not_found");
    assert!(e
        .drain(Duration::from_millis(300))
        .iter()
        .all(|f| f["type"] != "message_created"));
    e.send(
        &json!({"type": "send_message", "channel_id": channel, "nonce": "x",
        "content": {"kind": "encrypted", "ciphertext": "eA=="}}),
    );
    assert_eq!(e.recv_type("error")["code"], "not_found");
    eve.get(&format!("/api/v1/channels/{channel}/messages"))
        .assert_error(404, "not_found");
    assert_eq!(
        eve.get("/api/v1/channels").body["channels"]
            .as_array()
            .expect("list")
            .len(),
        0
    );
    assert_eq!(
        bob.get(&format!("/api/v1/channels/{channel}/messages"))
            .body["messages"]
            .as_array()
            .expect("list")
            .len(),
        1
    );
    assert_eq!(s.sql("SELECT count(*) FROM messages"), "1");

    // group DM: the same set of people, whoever opens it, is one channel
    let eve_id = eve.get("/api/v1/users/me").body["id"].clone();
    let g1 = alice.post("/api/v1/dms", &json!({"user_ids": [bob_id, eve_id]}));
    let g2 = eve.post(
        "/api/v1/dms",
        &json!({"user_ids": [alice_id, bob_id, eve_id]}),
    );
    assert_eq!(g1.body["kind"], "group_dm");
    assert_eq!(g1.body["id"], g2.body["id"]);
}

#[test]
fn history_pages_backwards_and_forwards() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let channel = community(&alice, &[], false);
    let (mut a, _) = Ws::open(&s.base, alice.token());
    a.subscribe(&channel, None);
    let mut seqs = Vec::new();
    for i in 0..25 {
        seqs.push(
            a.send_text_message(&channel, &format!("h{i}"), &format!("h{i}"))["seq"]
                .as_i64()
                .expect("seq"),
        );
    }
    let texts = |r: &crate::common::Resp| -> Vec<String> {
        r.body["messages"]
            .as_array()
            .expect("list")
            .iter()
            .map(|m| m["content"]["text"].as_str().expect("text").to_owned())
            .collect()
    };
    let newest = alice.get(&format!("/api/v1/channels/{channel}/messages?limit=10"));
    assert_eq!(
        texts(&newest),
        (15..25).map(|i| format!("h{i}")).collect::<Vec<_>>()
    );
    assert_eq!(newest.body["has_more"], true);
    let older = alice.get(&format!(
        "/api/v1/channels/{channel}/messages?limit=10&before_seq={}",
        seqs[15]
    ));
    assert_eq!(
        texts(&older),
        (5..15).map(|i| format!("h{i}")).collect::<Vec<_>>()
    );
    let oldest = alice.get(&format!(
        "/api/v1/channels/{channel}/messages?limit=10&before_seq={}",
        seqs[5]
    ));
    assert_eq!(texts(&oldest).len(), 5);
    assert_eq!(oldest.body["has_more"], false);
    let forward = alice.get(&format!(
        "/api/v1/channels/{channel}/messages?limit=10&after_seq={}",
        seqs[19]
    ));
    assert_eq!(
        texts(&forward),
        (20..25).map(|i| format!("h{i}")).collect::<Vec<_>>()
    );
    for bad in ["limit=0", "limit=101", "before_seq=-1", "cursor=3"] {
        alice
            .get(&format!("/api/v1/channels/{channel}/messages?{bad}"))
            .assert_error(400, "invalid_request");
    }
}

#[test]
fn only_the_sender_edits_or_deletes_and_reactions_are_bounded() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let channel = community(&alice, &[&bob], false);
    let (mut a, _) = Ws::open(&s.base, alice.token());
    let (mut b, _) = Ws::open(&s.base, bob.token());
    a.subscribe(&channel, None);
    b.subscribe(&channel, None);
    let id = a.send_text_message(&channel, "e1", "original")["message_id"].clone();
    b.send(
        &json!({"type": "edit_message", "channel_id": channel, "message_id": id,
        "content": {"kind": "text", "text": "hijacked"}}),
    );
    assert_eq!(b.recv_type("error")["code"], "forbidden");
    b.send(&json!({"type": "delete_message", "channel_id": channel, "message_id": id}));
    assert_eq!(b.recv_type("error")["code"], "forbidden");
    for i in 0..20 {
        b.send(&json!({"type": "add_reaction", "channel_id": channel, "message_id": id, "emoji": format!("e{i}")}));
        b.recv_type("reaction_changed");
    }
    b.send(&json!({"type": "add_reaction", "channel_id": channel, "message_id": id, "emoji": "one-too-many"}));
    assert_eq!(b.recv_type("error")["code"], "invalid_request");
    let page = alice.get(&format!("/api/v1/channels/{channel}/messages"));
    let m = &page.body["messages"][0];
    assert_eq!(m["content"]["text"], "original");
    assert_eq!(m["reactions"].as_array().expect("list").len(), 20);
}
