//! Files in channels (docs/e2e.md 19) through the real server: an upload streams into the file
//! store and comes back byte for byte, with ranges, as inert `application/octet-stream`, to
//! whoever can read the channel and to nobody else (404, also after a kick); the upload bound and
//! the quota refuse with nothing kept.
use crate::common::ws::Ws;
use crate::common::{Client, TestServer};
use chatalot_storage::blobs::BlobId;
use serde_json::json;

/// Bytes that do not repeat (a cheap xorshift), so that a swapped range would show.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

fn upload(c: &Client, channel: &str, bytes: &[u8]) -> crate::common::Resp {
    c.raw(
        "POST",
        &format!("/api/v1/channels/{channel}/files"),
        &[("content-type", "application/octet-stream")],
        bytes.to_vec(),
    )
}

/// Alice's public community and its first channel, joined by Bob.
fn community(s: &TestServer, alice: &Client, bob: &Client) -> (String, String) {
    let r = alice.post(
        "/api/v1/communities",
        &json!({"name": "Photos", "visibility": "public", "e2e": true}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let community = r.body["id"].as_str().expect("id").to_owned();
    let channel = alice.get("/api/v1/channels").body["channels"][0]["id"]
        .as_str()
        .expect("channel")
        .to_owned();
    let r = bob.post(
        &format!("/api/v1/communities/{community}/members"),
        &json!({}),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    let _ = s;
    (community, channel)
}

fn temps(s: &TestServer) -> usize {
    std::fs::read_dir(s.data_dir().join("files").join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_file_comes_back_byte_for_byte_to_readers_of_its_channel_and_to_nobody_else() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, bob_body) = s.register("bob");
    let (carol, _) = s.register("carol");
    let (community, channel) = community(&s, &alice, &bob);
    let bytes = noise(3 * 1024 * 1024 + 17, 0x9e37_79b9_7f4a_7c15);
    let r = upload(&alice, &channel, &bytes);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["size"], bytes.len() as u64);
    assert_eq!(r.body["sha256"], BlobId::of(&bytes).to_hex());
    assert_eq!(r.body["channel_id"], channel.as_str());
    let file = r.body["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/files/{file}");

    // Bob reads it whole, as bytes to save, never to render.
    let (status, headers, got) = bob.raw_bytes("GET", &path, &[], Vec::new());
    assert_eq!(status, 200);
    assert!(got == bytes, "the same bytes");
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(h("content-type"), "application/octet-stream");
    assert!(
        h("content-disposition").starts_with("attachment"),
        "{}",
        h("content-disposition")
    );
    assert_eq!(h("x-content-type-options"), "nosniff");
    assert!(h("content-security-policy").contains("sandbox"));
    assert_eq!(h("cache-control"), "private, no-cache");
    // A range, as a resumed download asks.
    let (status, _, part) = bob.raw_bytes(
        "GET",
        &path,
        &[("range", "bytes=1000000-1000099")],
        Vec::new(),
    );
    assert_eq!(status, 206);
    assert!(part == bytes[1_000_000..1_000_100], "the asked range");

    // Carol is in no such channel: the file and the channel do not exist for her.
    let (status, _, _) = carol.raw_bytes("GET", &path, &[], Vec::new());
    assert_eq!(status, 404);
    assert_eq!(upload(&carol, &channel, b"hi").status, 404);
    // Nor does a file that is not there.
    let (status, _, _) = bob.raw_bytes(
        "GET",
        "/api/v1/files/00000000-0000-7000-8000-000000000000",
        &[],
        Vec::new(),
    );
    assert_eq!(status, 404);

    // The uploader's usage counts it.
    let u = alice.get("/api/v1/users/me/files");
    assert_eq!(u.status, 200);
    assert_eq!(u.body["files"], 1);
    assert_eq!(u.body["bytes"], bytes.len() as u64);
    assert_eq!(u.body["max_upload_bytes"], 100 * 1024 * 1024);

    // Kicked, Bob no longer reads it.
    let bob_id = bob_body["user"]["id"].as_str().expect("id");
    let r = alice.delete(&format!("/api/v1/communities/{community}/members/{bob_id}"));
    assert!(r.status == 204 || r.status == 200, "{}", r.text);
    let (status, _, _) = bob.raw_bytes("GET", &path, &[], Vec::new());
    assert_eq!(status, 404);
    assert_eq!(crate::common::objects(&s), 1);
    assert_eq!(temps(&s), 0);
}

#[test]
fn over_the_upload_bound_or_the_quota_nothing_is_kept_and_other_bodies_are_refused() {
    let s = TestServer::start_with(|c| {
        c.limits.file_upload_bytes = 64 * 1024;
        c.limits.file_quota_bytes = 100 * 1024;
    });
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (_, channel) = community(&s, &alice, &bob);
    // Over the upload bound.
    let r = upload(&alice, &channel, &noise(64 * 1024 + 1, 1));
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.code(), "payload_too_large");
    // At it: stored.
    let r = upload(&alice, &channel, &noise(60 * 1024, 2));
    assert_eq!(r.status, 201, "{}", r.text);
    // Past the quota: 507, with what to do.
    let r = upload(&alice, &channel, &noise(60 * 1024, 3));
    assert_eq!(r.status, 507, "{}", r.text);
    assert_eq!(r.code(), "storage_full");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("delete some"),
        "{}",
        r.text
    );
    // Bob's quota is his own.
    assert_eq!(upload(&bob, &channel, &noise(60 * 1024, 4)).status, 201);
    // Not raw bytes: 415, nothing kept.
    let r = alice.post(
        &format!("/api/v1/channels/{channel}/files"),
        &json!({"x": 1}),
    );
    assert_eq!(r.status, 415, "{}", r.text);
    let u = alice.get("/api/v1/users/me/files");
    assert_eq!(u.body["files"], 1);
    assert_eq!(u.body["bytes"], 60 * 1024);
    assert_eq!(crate::common::objects(&s), 2);
    assert_eq!(temps(&s), 0);
    // The same bytes twice are one object in the store and two files.
    let same = noise(1000, 5);
    let a = upload(&bob, &channel, &same);
    let b = upload(&alice, &channel, &same);
    assert_eq!((a.status, b.status), (201, 201));
    assert_ne!(a.body["id"], b.body["id"]);
    assert_eq!(a.body["sha256"], b.body["sha256"]);
    assert_eq!(crate::common::objects(&s), 3);
}

/// Sends an encrypted message naming `files`; the answer (an ack or an error).
fn send_with_files(w: &mut Ws, channel: &str, nonce: &str, files: &[&str]) -> serde_json::Value {
    w.send(
        &json!({"type": "send_message", "channel_id": channel, "nonce": nonce,
        "content": {"kind": "encrypted", "ciphertext": "AAECAwQFBgc="}, "files": files}),
    );
    loop {
        let f = w.recv();
        if f["type"] == "message_acked" || f["type"] == "error" {
            return f;
        }
    }
}

#[test]
fn a_message_names_only_its_senders_unnamed_files_of_its_channel_and_takes_them_when_deleted() {
    let s = TestServer::start_with(|c| {
        c.files.reclaim_interval_secs = 1;
        c.files.orphan_grace_secs = 0;
        c.files.unclaimed_secs = 3;
    });
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (_, channel) = community(&s, &alice, &bob);
    let dm = alice.post(
        "/api/v1/dms",
        &json!({"user_ids": [bob.get("/api/v1/users/me").body["id"]]}),
    );
    assert!(dm.status == 200 || dm.status == 201, "{}", dm.text);
    let dm = dm.body["id"].as_str().expect("dm").to_owned();
    let id = |r: crate::common::Resp| {
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().expect("id").to_owned()
    };
    let first = noise(70_000, 11);
    let f1 = id(upload(&alice, &channel, &first));
    let f2 = id(upload(&alice, &channel, &noise(1000, 12)));
    let of_bob = id(upload(&bob, &channel, &noise(1000, 13)));
    let elsewhere = id(upload(&alice, &dm, &noise(1000, 14)));
    let (mut a, _) = Ws::open(&s.base, alice.token());
    a.subscribe(&channel, None);
    let (mut b, _) = Ws::open(&s.base, bob.token());
    b.subscribe(&channel, None);
    // Another's file, a file of another channel, an unknown id, one listed twice: refused,
    // nothing stored.
    let unknown = uuid::Uuid::now_v7().to_string();
    for (nonce, files) in [
        ("bob's", vec![f1.as_str(), of_bob.as_str()]),
        ("elsewhere", vec![elsewhere.as_str()]),
        ("unknown", vec![unknown.as_str()]),
    ] {
        let r = send_with_files(&mut a, &channel, nonce, &files);
        assert_eq!(r["type"], "error", "{nonce}: {r}");
        assert_eq!(r["code"], "not_found", "{r}");
        assert!(
            r["message"].as_str().unwrap_or("").starts_with("files: "),
            "{r}"
        );
    }
    let r = send_with_files(&mut a, &channel, "twice", &[&f1, &f1]);
    assert_eq!(r["code"], "invalid_request", "{r}");
    assert_eq!(s.sql("SELECT count(*) FROM messages"), "0");
    // Her own two: stored, and every reader sees which files it names (in the order of their ids).
    let r = send_with_files(&mut a, &channel, "mine", &[&f2, &f1]);
    assert_eq!(r["type"], "message_acked", "{r}");
    let message = r["message_id"].as_str().expect("id").to_owned();
    let created = b.recv_type("message_created");
    assert_eq!(created["message"]["files"], json!([f1, f2]));
    let page = bob.get(&format!("/api/v1/channels/{channel}/messages"));
    assert_eq!(
        page.body["messages"][0]["files"],
        json!([f1, f2]),
        "{}",
        page.text
    );
    // The same send again is the same message; another message cannot name them again.
    let again = send_with_files(&mut a, &channel, "mine", &[&f2, &f1]);
    assert_eq!(again["message_id"], r["message_id"]);
    let r = send_with_files(&mut a, &channel, "again", &[&f1]);
    assert_eq!(r["code"], "not_found", "{r}");
    // Bob's file, never named: reclaimed after `unclaimed_secs`, its bytes with it; the named
    // ones stay.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while bob.get(&format!("/api/v1/files/{of_bob}")).status != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "the unnamed file was not reclaimed"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let (status, _, got) = bob.raw_bytes("GET", &format!("/api/v1/files/{f1}"), &[], Vec::new());
    assert_eq!(status, 200);
    assert!(got == first, "the named file's bytes");
    // Deleting the message deletes its files at once; their bytes go at the next pass.
    let objects_before = crate::common::objects(&s);
    a.send(&json!({"type": "delete_message", "channel_id": channel, "message_id": message}));
    assert_eq!(b.recv_type("message_updated")["message"]["deleted"], true);
    assert_eq!(bob.get(&format!("/api/v1/files/{f1}")).status, 404);
    assert_eq!(alice.get(&format!("/api/v1/files/{f2}")).status, 404);
    while crate::common::objects(&s) > objects_before - 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the deleted files' bytes stayed"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let page = bob.get(&format!("/api/v1/channels/{channel}/messages"));
    assert!(
        page.body["messages"][0].get("files").is_none(),
        "{}",
        page.text
    );
    // The DM's file, never named, went too by now.
    assert_eq!(alice.get(&format!("/api/v1/files/{elsewhere}")).status, 404);
    assert_eq!(temps(&s), 0);
}

/// A small filesystem of its own (tmpfs), unmounted when dropped (after the server using it).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    /// `None` where this process may not mount (not root): said on stderr.
    fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir =
            std::env::temp_dir().join(format!("chatalot-full-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("mount point");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: a full disk needs a tmpfs mount, which this process may not make");
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_full_disk_answers_507_keeps_nothing_half_written_and_the_server_keeps_serving() {
    let Some(disk) = SmallDisk::mount(3 * 1024 * 1024) else {
        return;
    };
    let data = disk.0.clone();
    let s = TestServer::start_with(|c| c.server.data_dir = data);
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (_, channel) = community(&s, &alice, &bob);
    let first = noise(1024 * 1024, 7);
    let r = upload(&alice, &channel, &first);
    assert_eq!(r.status, 201, "{}", r.text);
    let kept = r.body["id"].as_str().expect("id").to_owned();

    // Two more MiB do not fit: 507, nothing of them stays.
    let r = upload(&alice, &channel, &noise(2 * 1024 * 1024, 8));
    r.assert_error(507, "storage_full");
    // (the server's data directory is the small disk, not `s.data_dir()`)
    let store = disk.0.join("files");
    assert_eq!(crate::common::objects_in(&store), 1);
    let temps = std::fs::read_dir(store.join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(temps, 0, "no half-written file");
    // An image does not fit either, once the disk is full to the last bytes.
    let mut filler = 0;
    for size in [64 * 1024, 4096] {
        while upload(&alice, &channel, &noise(size, 100 + filler)).status == 201 {
            filler += 1;
            assert!(filler < 200, "the disk never filled");
        }
    }
    let png = {
        let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(256, 256, |x, y| {
            image::Rgb([x as u8, y as u8, (x ^ y) as u8])
        }));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        out.into_inner()
    };
    alice
        .raw(
            "POST",
            "/api/v1/images?kind=avatar",
            &[("content-type", "image/png")],
            png,
        )
        .assert_error(507, "storage_full");

    // The server keeps serving: reads, the file kept, messages.
    assert_eq!(s.client().get("/api/v1/health").status, 200);
    let (status, _, got) = bob.raw_bytes("GET", &format!("/api/v1/files/{kept}"), &[], Vec::new());
    assert_eq!(status, 200);
    assert!(got == first, "the file kept is whole");
    assert_eq!(alice.get("/api/v1/channels").status, 200);
    drop(s);
    drop(disk);
}

#[test]
fn uploads_streaming_in_side_by_side_never_pass_the_quota_together() {
    let s = TestServer::start_with(|c| {
        c.limits.file_quota_bytes = 1024 * 1024;
    });
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (_, channel) = community(&s, &alice, &bob);
    // each fits alone; eight of them are more than twice the quota
    let size = 300 * 1024;
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (alice, channel) = (&alice, &channel);
                scope.spawn(move || upload(alice, channel, &noise(size, 1000 + i)).status)
            })
            .collect();
        tasks
            .into_iter()
            .map(|t| t.join().expect("upload"))
            .collect()
    });
    let stored = answers.iter().filter(|&&a| a == 201).count();
    assert!(answers.iter().all(|&a| a == 201 || a == 507), "{answers:?}");
    assert_eq!(stored, 3, "three of 300 KiB fit in 1 MiB: {answers:?}");
    let u = alice.get("/api/v1/users/me/files");
    assert_eq!(u.body["files"], 3);
    assert!(u.body["bytes"].as_u64().unwrap_or(u64::MAX) <= 1024 * 1024);
}
