//! Files in channels (docs/e2e.md 19) through the real server: an upload streams into the file
//! store and comes back byte for byte, with ranges, as inert `application/octet-stream`, to
//! whoever can read the channel and to nobody else (404, also after a kick); the upload bound and
//! the quota refuse with nothing kept.
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

fn objects(s: &TestServer) -> usize {
    let dir = s.data_dir().join("files").join("objects");
    std::fs::read_dir(dir)
        .map(|shards| {
            shards
                .flatten()
                .map(|d| std::fs::read_dir(d.path()).map(|f| f.count()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
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
    assert_eq!(objects(&s), 1);
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
    assert_eq!(objects(&s), 2);
    assert_eq!(temps(&s), 0);
    // The same bytes twice are one object in the store and two files.
    let same = noise(1000, 5);
    let a = upload(&bob, &channel, &same);
    let b = upload(&alice, &channel, &same);
    assert_eq!((a.status, b.status), (201, 201));
    assert_ne!(a.body["id"], b.body["id"]);
    assert_eq!(a.body["sha256"], b.body["sha256"]);
    assert_eq!(objects(&s), 3);
}
