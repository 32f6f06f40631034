//! Every device of an account (docs/e2e.md section 18) through the real server: a device linked
//! by another reads the whole history and sends; a fresh device restores from the recovery key
//! alone; the server relays and stores only what it cannot read, and what it swaps, truncates,
//! rolls back or injects is refused; a reset starts the account over in plain view.
use crate::common::ws::Ws;
use crate::common::TestServer;
use crate::e2e::{community, count, err, ok, open_dm, sync_texts, texts};
use chatalot_crypto::backup::{self, BackupHead};
use chatalot_crypto::identity::DeviceIdentity;
use chatalot_crypto::link::PendingLink;
use chatalot_crypto::CryptoError;
use chatalot_protocol::bytes::Base64Bytes;
use chatalot_tests::e2e_client::{ClientError, Device, NewDevice, Warning};
use serde_json::{json, Value};
use std::time::Duration;

fn b64(bytes: &[u8]) -> Value {
    serde_json::to_value(Base64Bytes(bytes.to_vec())).expect("base64")
}

fn wait() -> Duration {
    Duration::from_secs(10)
}

#[test]
fn a_linked_device_reads_every_channel_and_dm_and_sends() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let mut b = Device::register(&s.base, "bob").expect("bob");
    let mut c = Device::register(&s.base, "carol").expect("carol");
    let dm = open_dm(&a, &[b.user_id]);
    let group = open_dm(&a, &[b.user_id, c.user_id]);
    let (_, ch) = community(&a, &[&b, &c]);
    for i in 0..3 {
        a.send_direct(dm, &format!("a dm {i}")).expect("send");
        b.send_direct(dm, &format!("b dm {i}")).expect("send");
        c.send_direct(group, &format!("c group {i}")).expect("send");
        a.send_channel(ch, &format!("a ch {i}")).expect("send");
        b.send_channel(ch, &format!("b ch {i}")).expect("send");
    }
    assert_eq!(sync_texts(&mut a, dm).len(), 3);
    assert_eq!(sync_texts(&mut a, group).len(), 3);
    assert_eq!(sync_texts(&mut a, ch).len(), 3);

    // the new device asks; every connection of the account hears of it, nobody else
    let (mut a_ws, _) = Ws::open(&s.base, a.token());
    let (mut b_ws, _) = Ws::open(&s.base, b.token());
    let n = NewDevice::start(&s.base, "alice", a.password()).expect("start");
    let f = a_ws.recv_type("link_requested");
    assert_eq!(f["device_id"], json!(n.device_id().to_string()));
    assert!(b_ws
        .drain(Duration::from_millis(300))
        .iter()
        .all(|f| f["type"] != "link_requested"));
    let listed = ok(&a, "GET", "/api/v1/users/me/link_requests", None);
    assert_eq!(listed["requests"].as_array().expect("list").len(), 1);
    assert_eq!(listed["requests"][0]["device_name"], "e2e linked");
    let theirs = ok(&b, "GET", "/api/v1/users/me/link_requests", None);
    assert_eq!(theirs["requests"], json!([]));
    // another account cannot answer or read it
    err(
        &b,
        "PUT",
        &format!("/api/v1/users/me/link_requests/{}/response", n.device_id()),
        Some(&json!({"response": b64(&[0x63; 356])})),
        404,
        "not_found",
    );
    // a code with a typo matches nothing, and changes nothing
    let code = n.code();
    let mut typo: Vec<char> = code.chars().collect();
    typo[3] = if typo[3] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    assert!(matches!(
        a.answer_link(&typo),
        Err(ClientError::Malformed(_))
    ));
    let (status, _) = n
        .api(
            "GET",
            &format!("/api/v1/devices/{}/link_response", n.device_id()),
            None,
        )
        .expect("get");
    assert_eq!(status, 404, "no answer yet");

    let linked_id = a.answer_link(&code).expect("answer");
    assert_eq!(linked_id, n.device_id());
    // answered once: a second answer is refused
    assert!(matches!(
        a.answer_link(&code),
        Err(ClientError::Malformed(_)) | Err(ClientError::Http { status: 409, .. })
    ));
    let mut a2 = n.finish(wait()).expect("linked");
    assert_eq!(a2.user_key(), a.user_key(), "the same user key");
    assert_eq!(
        count(&s, "link_requests"),
        0,
        "published: the request is gone"
    );

    // every message of the history reads on the new device
    let dm_texts = sync_texts(&mut a2, dm);
    assert_eq!(dm_texts.len(), 6, "{dm_texts:?}");
    for i in 0..3 {
        assert!(dm_texts.contains(&format!("a dm {i}")));
        assert!(dm_texts.contains(&format!("b dm {i}")));
    }
    assert_eq!(sync_texts(&mut a2, group).len(), 3);
    let ch_texts = sync_texts(&mut a2, ch);
    assert_eq!(ch_texts.len(), 6, "{ch_texts:?}");
    assert!(a2.warnings.is_empty(), "{:?}", a2.warnings);

    // and it sends: both others and the first device read it
    a2.send_direct(dm, "from the linked device").expect("send");
    a2.send_channel(ch, "linked in the channel").expect("send");
    assert!(sync_texts(&mut b, dm).contains(&"from the linked device".to_owned()));
    assert!(sync_texts(&mut a, dm).contains(&"from the linked device".to_owned()));
    assert!(sync_texts(&mut c, ch).contains(&"linked in the channel".to_owned()));
    assert!(sync_texts(&mut a, ch).contains(&"linked in the channel".to_owned()));
}

#[test]
fn a_fresh_device_restores_from_the_recovery_key_alone_and_reads_all_history() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let mut peers: Vec<Device> = (0..5)
        .map(|i| Device::register(&s.base, &format!("peer{i}")).expect("peer"))
        .collect();
    let dms: Vec<_> = peers.iter().map(|p| open_dm(&a, &[p.user_id])).collect();
    let refs: Vec<&Device> = peers.iter().collect();
    let (community_id, general) = community(&a, &refs);
    let channels = [
        general,
        crate::e2e::add_channel(&a, community_id, "two"),
        crate::e2e::add_channel(&a, community_id, "three"),
    ];
    // 530 messages: 300 in DMs (both ways), 230 in channels (two senders in each)
    let mut sent = 0;
    for round in 0..30 {
        for (i, p) in peers.iter_mut().enumerate() {
            a.send_direct(dms[i], &format!("to {i} #{round}"))
                .expect("send");
            p.send_direct(dms[i], &format!("from {i} #{round}"))
                .expect("send");
            sent += 2;
        }
        for (k, ch) in channels.iter().enumerate() {
            a.send_channel(*ch, &format!("a in {k} #{round}"))
                .expect("send");
            peers[k]
                .send_channel(*ch, &format!("p in {k} #{round}"))
                .expect("send");
            sent += 2;
        }
        if round % 10 == 0 {
            // the first device keeps reading (and so archiving) as it goes
            for d in &dms {
                a.sync(*d).expect("sync");
            }
            for ch in &channels {
                a.sync(*ch).expect("sync");
            }
            a.back_up().expect("backup");
        }
    }
    for d in &dms {
        a.sync(*d).expect("sync");
    }
    for ch in &channels {
        a.sync(*ch).expect("sync");
    }
    assert!(a.back_up().expect("backup") >= 1);
    let extra_general = 50;
    for i in 0..extra_general {
        peers[0]
            .send_channel(general, &format!("late {i}"))
            .expect("send");
    }
    a.sync(general).expect("sync");
    a.back_up().expect("backup");
    sent += extra_general;
    assert!(sent >= 500, "{sent}");
    let recovery = a.recovery_key().expect("shown once");
    assert_eq!(recovery.replace('-', "").len(), 52);

    // every session of the account ends, the browser is gone: only the recovery key is left
    let password = a.password().to_owned();
    ok(&a, "DELETE", "/api/v1/sessions", None);
    let started = std::time::Instant::now();
    let mut r = Device::restore(&s.base, "alice", &password, &recovery).expect("restore");
    let mut read = 0;
    let mut unreadable = 0;
    for ch in dms.iter().chain(channels.iter()) {
        for m in r.sync(*ch).expect("sync") {
            match m {
                Ok(_) => read += 1,
                Err(_) => unreadable += 1,
            }
        }
    }
    let took = started.elapsed();
    assert_eq!(unreadable, 0, "{:?}", r.warnings);
    assert_eq!(read, sent, "every message of 3 channels and 5 DMs");
    eprintln!("restored and read {read} messages in {took:?} (debug build)");
    // a wrong recovery key opens nothing
    let mut wrong = recovery.into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).expect("text");
    assert!(matches!(
        Device::restore(&s.base, "alice", &password, &wrong),
        Err(ClientError::Crypto(CryptoError::DecryptFailed))
    ));
    // the restored device sends, and the peers read it
    r.send_direct(dms[0], "back again").expect("send");
    assert!(sync_texts(&mut peers[0], dms[0]).contains(&"back again".to_owned()));
}

#[test]
fn a_swapped_truncated_or_rolled_back_backup_is_refused() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let mut b = Device::register(&s.base, "bob").expect("bob");
    let dm = open_dm(&a, &[b.user_id]);
    for i in 0..3 {
        b.send_direct(dm, &format!("one {i}")).expect("send");
        a.sync(dm).expect("sync");
        a.back_up().expect("backup");
    }
    let recovery = a.recovery_key().expect("key");
    let password = a.password().to_owned();
    let restore = || Device::restore(&s.base, "alice", &password, &recovery);
    restore().expect("the genuine backup restores");
    let user = a.user_id;
    let q = |sql: &str| s.sql(&sql.replace("$U", &format!("'{user}'")));

    // swapped: chunk 2's bytes at 3 (and back)
    q("CREATE TABLE saved AS SELECT seq, chunk FROM key_backup_chunks WHERE user_id = $U");
    q(
        "UPDATE key_backup_chunks SET chunk = (SELECT chunk FROM saved WHERE seq = 2) \
       WHERE user_id = $U AND seq = 3",
    );
    assert!(matches!(
        restore(),
        Err(ClientError::Crypto(
            CryptoError::IdentityMismatch | CryptoError::DigestMismatch
        ))
    ));
    q(
        "UPDATE key_backup_chunks k SET chunk = saved.chunk FROM saved \
       WHERE k.user_id = $U AND k.seq = saved.seq",
    );
    restore().expect("restored again");
    // a flipped byte inside a chunk
    q(
        "UPDATE key_backup_chunks SET chunk = set_byte(chunk, 49, get_byte(chunk, 49) # 255) \
       WHERE user_id = $U AND seq = 1",
    );
    assert!(restore().is_err());
    q(
        "UPDATE key_backup_chunks k SET chunk = saved.chunk FROM saved \
       WHERE k.user_id = $U AND k.seq = saved.seq",
    );
    // truncated: the last chunk gone (the head still names it)
    q("DELETE FROM key_backup_chunks WHERE user_id = $U AND seq = 3");
    assert!(matches!(
        restore(),
        Err(ClientError::Crypto(CryptoError::DigestMismatch))
    ));
    q(
        "INSERT INTO key_backup_chunks (user_id, seq, chunk) SELECT $U, seq, chunk FROM saved \
       WHERE seq = 3",
    );
    // a forged head (the count lowered so that the chain could be cut)
    q("CREATE TABLE saved_head AS SELECT head FROM key_backups WHERE user_id = $U");
    q(
        "UPDATE key_backups SET head = overlay(head placing '\\x0000000000000002'::bytea from 26) \
       WHERE user_id = $U",
    );
    assert!(matches!(
        restore(),
        Err(ClientError::Crypto(CryptoError::BadSignature))
    ));
    q("UPDATE key_backups SET head = (SELECT head FROM saved_head) WHERE user_id = $U");
    restore().expect("the genuine head again");

    // rolled back: a later head replaced by the older genuine one
    b.send_direct(dm, "later").expect("send");
    a.sync(dm).expect("sync");
    a.back_up().expect("backup");
    q("UPDATE key_backups SET head = (SELECT head FROM saved_head) WHERE user_id = $U");
    // the device that saw the later head refuses the old one
    assert!(matches!(
        a.restore_backup(0),
        Err(ClientError::Crypto(CryptoError::InvalidState(_)))
    ));
    // a device linked by it is told the head it saw, and refuses the old one too
    let n = NewDevice::start(&s.base, "alice", &password).expect("start");
    a.answer_link(&n.code()).expect("answer");
    assert!(matches!(
        n.finish(wait()),
        Err(ClientError::Crypto(CryptoError::InvalidState(_)))
    ));

    // a chunk of another account served as ours
    let mut c = Device::register(&s.base, "carol").expect("carol");
    let dm2 = open_dm(&c, &[b.user_id]);
    b.send_direct(dm2, "to carol").expect("send");
    c.sync(dm2).expect("sync");
    c.back_up().expect("backup");
    let foreign = s.sql(&format!(
        "SELECT encode(chunk, 'hex') FROM key_backup_chunks WHERE user_id = '{}' AND seq = 1",
        c.user_id
    ));
    let foreign = (0..foreign.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&foreign[i..i + 2], 16).expect("hex"))
        .collect::<Vec<u8>>();
    assert!(matches!(
        backup::open_chunk(&[0u8; 32], user.0.as_bytes(), 1, &foreign),
        Err(CryptoError::IdentityMismatch)
    ));
    // the server refuses to store a chunk naming another account
    err(
        &a,
        "POST",
        "/api/v1/users/me/key_backup/chunks",
        Some(&json!({ "chunk": b64(&foreign) })),
        400,
        "invalid_request",
    );
}

#[test]
fn the_server_relays_links_once_and_refuses_injected_or_replayed_ones() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let n = NewDevice::start(&s.base, "alice", a.password()).expect("start");
    let listed = ok(&a, "GET", "/api/v1/users/me/link_requests", None);
    let genuine = listed["requests"][0]["request"].clone();

    // the server injects a request of its own making (another device's keys, its own code):
    // it matches no code the user carries, so the linking device answers nothing
    let rogue_identity = DeviceIdentity::generate(
        &mut rand::rng(),
        *a.user_id.0.as_bytes(),
        *n.device_id().0.as_bytes(),
    );
    let rogue = PendingLink::start(&mut rand::rng(), rogue_identity);
    let rogue_hex: String = rogue
        .request()
        .to_bytes()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    s.sql(&format!(
        "UPDATE link_requests SET request = '\\x{rogue_hex}' WHERE device_id = '{}'",
        n.device_id()
    ));
    assert!(matches!(
        a.answer_link(&n.code()),
        Err(ClientError::Malformed(_))
    ));
    // the rogue's own code matches, but its answer opens only for the rogue: the genuine new
    // device refuses it, and the genuine answer still opens afterwards
    a.answer_link(&rogue.code().to_text())
        .expect("answered the injected request");
    let injected = n
        .api(
            "GET",
            &format!("/api/v1/devices/{}/link_response", n.device_id()),
            None,
        )
        .expect("get")
        .1;
    let genuine_hex: String = {
        let b: Base64Bytes = serde_json::from_value(genuine).expect("b64");
        b.0.iter().map(|x| format!("{x:02x}")).collect()
    };
    s.sql(&format!(
        "UPDATE link_requests SET request = '\\x{genuine_hex}', response = NULL, \
         responder_device_id = NULL WHERE device_id = '{}'",
        n.device_id()
    ));
    assert!(
        matches!(
            n.check_answer(&injected),
            Err(ClientError::Crypto(CryptoError::DecryptFailed))
        ),
        "the injected answer is refused"
    );
    a.answer_link(&n.code()).expect("the genuine answer");
    // a replayed response (answered already) is refused by the server
    let again = n
        .api(
            "GET",
            &format!("/api/v1/devices/{}/link_response", n.device_id()),
            None,
        )
        .expect("get")
        .1;
    err(
        &a,
        "PUT",
        &format!("/api/v1/users/me/link_requests/{}/response", n.device_id()),
        Some(&json!({ "response": again["response"] })),
        409,
        "conflict",
    );
    let d = n.finish(wait()).expect("linked");
    assert_eq!(d.user_key(), a.user_key());
    assert!(a.warnings.is_empty());
}

#[test]
fn link_storage_and_backup_routes_check_framing_order_and_quota() {
    let s = TestServer::start_with(|c| {
        c.limits.key_backup_chunks = 3;
    });
    let a = Device::register(&s.base, "alice").expect("alice");
    let b = Device::register(&s.base, "bob").expect("bob");
    let me = a.device_id;

    // link requests: only a keyless device, for itself, well framed
    let n = PendingLink::start(
        &mut rand::rng(),
        DeviceIdentity::generate(&mut rand::rng(), *a.user_id.0.as_bytes(), *me.0.as_bytes()),
    );
    err(
        &a,
        "PUT",
        &format!("/api/v1/devices/{me}/link_request"),
        Some(&json!({ "request": b64(&n.request().to_bytes()) })),
        409,
        "conflict",
    );
    err(
        &a,
        "PUT",
        &format!("/api/v1/devices/{}/link_request", b.device_id),
        Some(&json!({ "request": b64(&n.request().to_bytes()) })),
        403,
        "forbidden",
    );
    for bad in [vec![], vec![0x62; 160], vec![0x61; 161]] {
        err(
            &a,
            "PUT",
            &format!("/api/v1/devices/{me}/link_request"),
            Some(&json!({ "request": b64(&bad) })),
            400,
            "invalid_request",
        );
    }
    assert_eq!(count(&s, "link_requests"), 0);
    err(
        &a,
        "PUT",
        &format!("/api/v1/users/me/link_requests/{}/response", b.device_id),
        Some(&json!({ "response": b64(&[0x63; 10]) })),
        400,
        "invalid_request",
    );

    // secret storage: compare and swap, framed, naming the caller
    let stored = ok(&a, "GET", "/api/v1/users/me/secret_storage", None);
    assert_eq!(stored["version"], 1);
    let bytes: Base64Bytes = serde_json::from_value(stored["storage"].clone()).expect("b64");
    err(
        &a,
        "PUT",
        "/api/v1/users/me/secret_storage",
        Some(&json!({ "storage": b64(&bytes.0) })),
        409,
        "conflict",
    );
    let mut other = bytes.0.clone();
    other[1..17].copy_from_slice(b.user_id.0.as_bytes());
    err(
        &a,
        "PUT",
        "/api/v1/users/me/secret_storage",
        Some(&json!({ "storage": b64(&other) })),
        400,
        "invalid_request",
    );
    let theirs = ok(&b, "GET", "/api/v1/users/me/secret_storage", None);
    assert_ne!(theirs["storage"], stored["storage"], "each account its own");
    let after = ok(&a, "GET", "/api/v1/users/me/secret_storage", None);
    assert_eq!(after, stored, "nothing changed");

    // the backup: chunks at the next number only, heads in order, naming what is stored
    let empty = ok(&a, "GET", "/api/v1/users/me/key_backup", None);
    assert_eq!(empty["chunk_count"], 0);
    assert_eq!(empty["head"], Value::Null);
    let bk = [7u8; 32];
    let user = *a.user_id.0.as_bytes();
    let chunk = |seq| backup::seal_chunk(&mut rand::rng(), &bk, &user, seq, &[]).expect("chunk");
    err(
        &a,
        "POST",
        "/api/v1/users/me/key_backup/chunks",
        Some(&json!({ "chunk": b64(&chunk(2)) })),
        409,
        "conflict",
    );
    let mut chunks = Vec::new();
    for seq in 1..=3 {
        let c = chunk(seq);
        let r = ok(
            &a,
            "POST",
            "/api/v1/users/me/key_backup/chunks",
            Some(&json!({ "chunk": b64(&c) })),
        );
        assert_eq!(r["seq"], seq);
        chunks.push(c);
    }
    err(
        &a,
        "POST",
        "/api/v1/users/me/key_backup/chunks",
        Some(&json!({ "chunk": b64(&chunk(4)) })),
        507,
        "storage_full",
    );
    let refs: Vec<&[u8]> = chunks.iter().map(|c| c.as_slice()).collect();
    let head = BackupHead::empty(user).after(&refs[..2]);
    let too_many = BackupHead { count: 4, ..head };
    err(
        &a,
        "PUT",
        "/api/v1/users/me/key_backup/head",
        Some(&json!({ "head": b64(&too_many.seal(&bk)) })),
        400,
        "invalid_request",
    );
    ok(
        &a,
        "PUT",
        "/api/v1/users/me/key_backup/head",
        Some(&json!({ "head": b64(&head.seal(&bk)) })),
    );
    // the same head number again, or a head naming fewer chunks than the last
    err(
        &a,
        "PUT",
        "/api/v1/users/me/key_backup/head",
        Some(&json!({ "head": b64(&head.seal(&bk)) })),
        409,
        "conflict",
    );
    let fewer = BackupHead {
        head_seq: 2,
        count: 1,
        ..head
    };
    err(
        &a,
        "PUT",
        "/api/v1/users/me/key_backup/head",
        Some(&json!({ "head": b64(&fewer.seal(&bk)) })),
        400,
        "invalid_request",
    );
    let state = ok(&a, "GET", "/api/v1/users/me/key_backup", None);
    assert_eq!(
        (state["head_seq"].clone(), state["head_count"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(state["max_chunks"], 3);
    // pages in order, bounded
    let page = ok(
        &a,
        "GET",
        "/api/v1/users/me/key_backup/chunks?after=1&limit=1",
        None,
    );
    assert_eq!(page["chunks"][0]["seq"], 2);
    assert_eq!(page["has_more"], true);
    err(
        &a,
        "GET",
        "/api/v1/users/me/key_backup/chunks?limit=0",
        None,
        400,
        "invalid_request",
    );
    // another account sees its own, empty backup
    let theirs = ok(&b, "GET", "/api/v1/users/me/key_backup", None);
    assert_eq!(theirs["chunk_count"], 0);
    let theirs = ok(&b, "GET", "/api/v1/users/me/key_backup/chunks", None);
    assert_eq!(theirs["chunks"], json!([]));
}

#[test]
fn a_reset_starts_the_account_over_in_plain_view_and_opens_nothing_old() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let mut b = Device::register(&s.base, "bob").expect("bob");
    let dm = open_dm(&a, &[b.user_id]);
    let (_, ch) = community(&a, &[&b]);
    a.send_direct(dm, "before the reset").expect("send");
    a.send_channel(ch, "old channel news").expect("send");
    b.send_direct(dm, "bob before").expect("send");
    assert_eq!(sync_texts(&mut b, dm), ["before the reset"]);
    assert_eq!(sync_texts(&mut b, ch), ["old channel news"]);
    a.sync(dm).expect("sync");
    a.back_up().expect("backup");
    let password = a.password().to_owned();
    let old_key = a.user_key();

    // the wrong password changes nothing
    err(
        &a,
        "POST",
        "/api/v1/users/me/user_key_reset",
        Some(&json!({"password": "not the password at all"})),
        403,
        "wrong_password",
    );
    err(
        &a,
        "POST",
        "/api/v1/users/me/user_key_reset",
        Some(&json!({"password": password, "extra": 1})),
        400,
        "invalid_request",
    );
    assert_eq!(count(&s, "key_backup_chunks"), 1);
    let mut fresh = Device::start_over(&s.base, "alice", &password, None).expect("reset");
    assert_ne!(fresh.user_key(), old_key);
    assert_eq!(count(&s, "key_backup_chunks"), 0, "the old backup is gone");
    let audit = s.sql(&format!(
        "SELECT count(*) FROM audit_events WHERE user_id = '{}' AND action = 'user_key_reset'",
        a.user_id
    ));
    assert_eq!(audit, "1");
    // once a day
    assert!(matches!(
        Device::start_over(&s.base, "alice", &password, None),
        Err(ClientError::Http { status: 429, .. })
    ));

    // old messages never open on the fresh device
    let old = fresh.sync(dm).expect("sync");
    assert_eq!(old.len(), 2);
    assert!(old.iter().all(|r| r.is_err()), "{old:?}");
    let old = fresh.sync(ch).expect("sync");
    assert!(old.iter().all(|r| r.is_err()), "{old:?}");

    // the contact sees the key change before it sends, then both ways work
    b.send_direct(dm, "after the reset").expect("send");
    assert!(b.warnings.iter().any(
        |w| matches!(w, Warning::UserKeyChanged { user } if *user == a.user_id)
            || matches!(w, Warning::UntrustedDevice { user, .. } if *user == a.user_id)
    ));
    b.pin(a.user_id, fresh.user_key());
    b.send_direct(dm, "after accepting the new key")
        .expect("send");
    let got = texts(
        &fresh
            .sync(dm)
            .expect("sync")
            .into_iter()
            .filter(|r| r.is_ok())
            .collect::<Vec<_>>(),
    );
    assert_eq!(got, ["after accepting the new key"]);
    fresh.send_direct(dm, "hello again").expect("send");
    assert!(sync_texts(&mut b, dm).contains(&"hello again".to_owned()));
    fresh.send_channel(ch, "new channel news").expect("send");
    assert!(sync_texts(&mut b, ch).contains(&"new channel news".to_owned()));
}

#[test]
fn devices_are_listed_renamed_and_removed_and_a_removed_one_reads_nothing_new() {
    let s = TestServer::start();
    let a = Device::register(&s.base, "alice").expect("alice");
    let mut a2 = a.add_device().expect("second device");
    let mut b = Device::register(&s.base, "bob").expect("bob");
    let (_, ch) = community(&a, &[&b]);
    let dm = open_dm(&a, &[b.user_id]);
    b.send_channel(ch, "before").expect("send");
    assert_eq!(sync_texts(&mut a2, ch), ["before"]);

    let list = ok(&a, "GET", "/api/v1/devices", None);
    let devices = list["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2);
    let me = a.device_id.to_string();
    for d in devices {
        assert_eq!(d["current"], json!(d["id"] == json!(me)), "{d}");
        assert_eq!(d["has_keys"], true);
    }
    let path = format!("/api/v1/devices/{}", a2.device_id);
    ok(&a, "PATCH", &path, Some(&json!({"name": "old laptop"})));
    for bad in ["", "   ", "a\u{7}b"] {
        err(
            &a,
            "PATCH",
            &path,
            Some(&json!({ "name": bad })),
            400,
            "invalid_request",
        );
    }
    let list = ok(&a, "GET", "/api/v1/devices", None);
    assert!(list["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .any(|d| d["name"] == "old laptop"));
    // another account cannot touch it
    err(&b, "DELETE", &path, None, 404, "not_found");
    err(
        &b,
        "PATCH",
        &path,
        Some(&json!({"name": "mine"})),
        404,
        "not_found",
    );

    let (mut ws2, _) = Ws::open(&s.base, a2.token());
    let before = b.sending_key_id(ch);
    ok(&a, "DELETE", &path, None);
    assert!(
        ws2.ended(Duration::from_secs(3)).is_some(),
        "its socket closes"
    );
    let (status, _) = a2.api("GET", "/api/v1/users/me", None).expect("get");
    assert_eq!(status, 401, "its sessions are over");
    let list = ok(&a, "GET", "/api/v1/devices", None);
    assert_eq!(list["devices"].as_array().expect("devices").len(), 1);
    let listed = ok(
        &b,
        "GET",
        &format!("/api/v1/users/{}/devices", a.user_id),
        None,
    );
    assert_eq!(listed["devices"].as_array().expect("devices").len(), 1);
    err(&a, "DELETE", &path, None, 404, "not_found");
    let audit = s.sql(&format!(
        "SELECT count(*) FROM audit_events WHERE user_id = '{}' AND action = 'device_removed'",
        a.user_id
    ));
    assert_eq!(audit, "1");

    // the contacts re-key without it: what they send next, the removed device cannot read
    b.send_channel(ch, "after").expect("send");
    assert_ne!(b.sending_key_id(ch), before, "a new sender key");
    b.send_direct(dm, "dm after").expect("send");
    let raw_ch = b.fetch(ch).expect("fetch");
    let last = raw_ch.last().expect("message");
    assert!(matches!(
        a2.decrypt_message(last),
        Err(ClientError::UnknownSenderKey)
    ));
    let raw_dm = b.fetch(dm).expect("fetch");
    assert!(matches!(
        a2.decrypt_message(raw_dm.last().expect("message")),
        Err(ClientError::NotForThisDevice)
    ));
}

#[test]
fn a_new_member_counts_nothing_sent_before_joining_as_unread_and_knows_when_they_joined() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let b = Device::register(&s.base, "bob").expect("bob");
    let (community_id, ch) = community(&a, &[]);
    for i in 0..30 {
        a.send_channel(ch, &format!("early {i}")).expect("send");
    }
    std::thread::sleep(Duration::from_millis(20));
    ok(
        &b,
        "POST",
        &format!("/api/v1/communities/{community_id}/members"),
        None,
    );
    let entry = |d: &Device| {
        let list = ok(d, "GET", "/api/v1/channels", None);
        list["channels"]
            .as_array()
            .expect("channels")
            .iter()
            .find(|c| c["id"] == json!(ch.to_string()))
            .cloned()
            .expect("the channel")
    };
    let mine = entry(&b);
    assert_eq!(mine["unread"], 0, "{mine}");
    assert_eq!(mine["last_seq"], 30);
    let joined = mine["joined_at"].as_str().expect("joined_at").to_owned();
    // every earlier message was created before that time
    let page = ok(
        &b,
        "GET",
        &format!("/api/v1/channels/{ch}/messages?limit=100"),
        None,
    );
    let messages = page["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 30);
    let at = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    assert!(messages
        .iter()
        .all(|m| at(m["created_at"].as_str().expect("created")) < at(&joined)));
    a.send_channel(ch, "after you joined").expect("send");
    a.send_channel(ch, "and again").expect("send");
    assert_eq!(entry(&b)["unread"], 2);
    // the owner, a member from the start, counts nothing of their own
    assert_eq!(entry(&a)["unread"], 0);
}

#[test]
fn a_new_member_reads_the_history_when_the_channel_shares_it_and_nothing_when_it_does_not() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let mut b = Device::register(&s.base, "bob").expect("bob");
    let (community_id, shared) = community(&a, &[&b]);
    let private = crate::e2e::add_channel(&a, community_id, "no-history");
    let general = ok(&a, "GET", &format!("/api/v1/channels/{shared}"), None);
    assert_eq!(general["history_for_new_members"], true, "on by default");
    err(
        &b,
        "PATCH",
        &format!("/api/v1/channels/{private}"),
        Some(&json!({"history_for_new_members": false})),
        403,
        "forbidden",
    );
    let off = ok(
        &a,
        "PATCH",
        &format!("/api/v1/channels/{private}"),
        Some(&json!({"history_for_new_members": false})),
    );
    assert_eq!(off["history_for_new_members"], false);
    for ch in [shared, private] {
        for i in 0..100 {
            a.send_channel(ch, &format!("a {i}")).expect("send");
            b.send_channel(ch, &format!("b {i}")).expect("send");
        }
        a.sync(ch).expect("a holds bob's key");
    }

    let mut c = Device::register(&s.base, "carol").expect("carol");
    ok(
        &c,
        "POST",
        &format!("/api/v1/communities/{community_id}/members"),
        None,
    );
    // the next send of a member hands carol's device the current key and, where the channel
    // says so, the history keys it holds
    a.send_channel(shared, "welcome, carol").expect("send");
    a.send_channel(private, "welcome here too").expect("send");
    assert!(a
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::MemberAdded { user, .. } if *user == c.user_id)));
    let got = c.sync(shared).expect("sync");
    let read = got.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        read, 201,
        "every message of the shared channel: {:?}",
        c.warnings
    );
    assert_eq!(got.len(), 201);
    let got = c.sync(private).expect("sync");
    assert_eq!(got.len(), 201);
    let read: Vec<_> = got.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(read.len(), 1, "only what came after the join");
    assert!(got.iter().filter(|r| r.is_err()).all(|r| matches!(
        r,
        // bob's key never reached her; alice's current one starts after these
        Err(ClientError::UnknownSenderKey) | Err(ClientError::Crypto(CryptoError::Duplicate))
    )));
    // and none of it counts as unread
    let list = ok(&c, "GET", "/api/v1/channels", None);
    for entry in list["channels"].as_array().expect("channels") {
        assert!(entry["unread"].as_i64().expect("unread") <= 1, "{entry}");
    }
    // a share naming a key the sender device never attested is refused key by key
    assert!(c
        .warnings
        .iter()
        .all(|w| !matches!(w, Warning::Rejected { what, .. } if what.starts_with("history key"))));
}
