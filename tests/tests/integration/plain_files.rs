//! Files in plaintext channels (docs/e2e.md 19.1, docs/api.md "Files") through the real server:
//! the upload says the file's name (and maybe its type); the server recognises images by their
//! bytes, makes a thumbnail within the decoding bounds and keeps what it knows, which messages
//! carry as `attachments` live and in history. An end-to-end channel's upload says nothing.
use crate::common::ws::Ws;
use crate::common::{Client, Resp, TestServer};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use serde_json::{json, Value};
use std::io::Cursor;

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x % 250) as u8, (y % 250) as u8, 40]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

fn upload(c: &Client, channel: &str, query: &str, bytes: &[u8]) -> Resp {
    c.raw(
        "POST",
        &format!("/api/v1/channels/{channel}/files{query}"),
        &[("content-type", "application/octet-stream")],
        bytes.to_vec(),
    )
}

/// A community of Alice's (plaintext or end-to-end) that Bob joined, and its first channel.
fn community(alice: &Client, bob: &Client, e2e: bool) -> String {
    let r = alice.post(
        "/api/v1/communities",
        &json!({"name": "Plain", "visibility": "public", "e2e": e2e}),
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
    channel
}

fn send(w: &mut Ws, channel: &str, nonce: &str, text: &str, files: &[&str]) -> Value {
    w.send(
        &json!({"type": "send_message", "channel_id": channel, "nonce": nonce,
        "content": {"kind": "text", "text": text}, "files": files}),
    );
    loop {
        let f = w.recv();
        if f["type"] == "message_acked" || f["type"] == "error" {
            return f;
        }
    }
}

#[test]
fn a_plaintext_channels_files_carry_their_name_type_and_a_server_made_thumbnail() {
    let s = TestServer::start_with(|c| {
        c.files.reclaim_interval_secs = 1;
        c.files.orphan_grace_secs = 0;
        c.files.unclaimed_secs = 8;
    });
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (carol, _) = s.register("carol");
    let channel = community(&alice, &bob, false);

    // an image: its type from the bytes (not the declared one), its sides, a thumbnail
    let picture = png(640, 480);
    let r = upload(
        &alice,
        &channel,
        "?name=holiday%20photo.png&type=application/octet-stream",
        &picture,
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["name"], "holiday photo.png");
    assert_eq!(r.body["content_type"], "image/png");
    assert_eq!(
        (r.body["width"].as_u64(), r.body["height"].as_u64()),
        (Some(640), Some(480))
    );
    assert_eq!(r.body["thumbnail"], true);
    let pic = r.body["id"].as_str().expect("id").to_owned();
    // a document: its declared type, no sides, no thumbnail
    let r = upload(
        &alice,
        &channel,
        "?name=notes.txt&type=text/plain",
        b"plain words",
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["content_type"], "text/plain");
    assert_eq!(r.body["thumbnail"], false);
    assert!(r.body.get("width").is_none(), "{}", r.text);
    let doc = r.body["id"].as_str().expect("id").to_owned();
    // HTML declared as a PNG is not taken for one; no type at all is octet-stream
    let r = upload(
        &alice,
        &channel,
        "?name=x.png&type=image/png",
        b"<html><script>1</script>",
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["content_type"], "application/octet-stream");
    assert_eq!(r.body["thumbnail"], false);
    let r = upload(&alice, &channel, "?name=blob", b"\x00\x01");
    assert_eq!(
        r.body["content_type"], "application/octet-stream",
        "{}",
        r.text
    );
    let unnamed = r.body["id"].as_str().expect("id").to_owned();
    // a bomb's header: a file like any other, no thumbnail, no sides
    let mut bomb = png(1, 1);
    bomb[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let crc = crc32fast::hash(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let r = upload(&alice, &channel, "?name=bomb.png", &bomb);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (
            r.body["content_type"].as_str(),
            r.body["thumbnail"].as_bool()
        ),
        (Some("image/png"), Some(false))
    );
    assert!(r.body.get("width").is_none(), "{}", r.text);

    // no name, a blank one, `.` or `..`: `file`; surrounding spaces go
    for (q, named) in [
        ("", "file"),
        ("?name=", "file"),
        ("?name=..", "file"),
        ("?name=%20%20", "file"),
        ("?name=%20a.txt%20", "a.txt"),
    ] {
        let r = upload(&alice, &channel, q, b"x");
        assert_eq!(
            (r.status, r.body["name"].as_str()),
            (201, Some(named)),
            "{q}: {}",
            r.text
        );
    }
    // bad names and types: 400, nothing stored
    let before = crate::common::objects(&s);
    for q in [
        "?name=a%2Fb",
        "?name=a%5Cb",
        "?name=a%0Ab",
        "?name=a%C2%85b",
    ] {
        let r = upload(&alice, &channel, q, b"x");
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_request"),
            "{q}: {}",
            r.text
        );
    }
    let long = "n".repeat(256);
    let r = upload(&alice, &channel, &format!("?name={long}"), b"x");
    assert_eq!(r.status, 400, "{}", r.text);
    for t in [
        "Text/Plain",
        "text",
        "text/plain;%20charset=utf-8",
        "/plain",
    ] {
        let r = upload(&alice, &channel, &format!("?name=a.txt&type={t}"), b"x");
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_request"),
            "{t}: {}",
            r.text
        );
    }
    assert_eq!(crate::common::objects(&s), before);

    // a message of two files and no caption; Bob gets their descriptions live
    let (mut bw, _) = Ws::open(&s.base, bob.token());
    bw.subscribe(&channel, None);
    let (mut aw, _) = Ws::open(&s.base, alice.token());
    aw.subscribe(&channel, None);
    let f = send(&mut aw, &channel, "n0", "", &[]);
    assert_eq!(f["type"], "error", "an empty text without files: {f}");
    let ack = send(&mut aw, &channel, "n1", "", &[&doc, &pic]);
    assert_eq!(ack["type"], "message_acked", "{ack}");
    let m = bw.recv_type("message_created");
    let atts = m["message"]["attachments"]
        .as_array()
        .expect("attachments")
        .clone();
    let mut ids = [pic.clone(), doc.clone()];
    ids.sort();
    assert_eq!(
        atts.iter()
            .map(|a| a["id"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "in the order of their ids: {m}"
    );
    let a_pic = atts
        .iter()
        .find(|a| a["id"] == pic.as_str())
        .expect("picture");
    assert_eq!(
        a_pic,
        &json!({"id": pic, "name": "holiday photo.png", "content_type": "image/png",
            "size": picture.len(), "width": 640, "height": 480, "thumbnail": true})
    );
    // the same from history
    let page = bob.get(&format!("/api/v1/channels/{channel}/messages"));
    let last = page.body["messages"]
        .as_array()
        .and_then(|l| l.last())
        .expect("a message")
        .clone();
    assert_eq!(
        last["attachments"], m["message"]["attachments"],
        "{}",
        page.text
    );

    // reclamation passes go by (the file no message named is gone) and the named picture's
    // thumbnail stays
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while bob.get(&format!("/api/v1/files/{unnamed}")).status != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "the unnamed file stayed"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    // the instance's usage: for its owner (the first account) and admins only
    let mine = alice.get("/api/v1/users/me/files");
    let inst = &mine.body["instance"];
    assert!(inst["files"].as_u64().unwrap_or(0) >= 2, "{}", mine.text);
    assert!(
        inst["bytes"].as_u64().unwrap_or(0) >= picture.len() as u64,
        "{}",
        mine.text
    );
    assert_eq!(inst["quota_bytes"], 0, "no bound configured: {}", mine.text);
    let theirs = bob.get("/api/v1/users/me/files");
    assert_eq!(theirs.status, 200);
    assert!(theirs.body.get("instance").is_none(), "{}", theirs.text);
    // the thumbnail: a picture the server wrote, inline and inert, to readers only
    let (status, headers, thumb) = bob.raw_bytes(
        "GET",
        &format!("/api/v1/files/{pic}/thumbnail"),
        &[],
        vec![],
    );
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap_or("")
        .contains("sandbox"));
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap_or("")
        .starts_with("inline"));
    let back = image::load_from_memory(&thumb).expect("a picture");
    assert_eq!((back.width(), back.height()), (320, 240));
    assert_eq!(
        bob.raw(
            "GET",
            &format!("/api/v1/files/{doc}/thumbnail"),
            &[],
            vec![]
        )
        .status,
        404
    );
    assert_eq!(
        carol
            .raw(
                "GET",
                &format!("/api/v1/files/{pic}/thumbnail"),
                &[],
                vec![]
            )
            .status,
        404
    );
    // the file itself: saved under its name, never rendered
    let (status, headers, bytes) =
        bob.raw_bytes("GET", &format!("/api/v1/files/{pic}"), &[], vec![]);
    assert_eq!(status, 200);
    assert_eq!(bytes, picture);
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename*=UTF-8''holiday%20photo.png"
    );

    // deleting the message takes the rows; the thumbnail route then has nothing
    let mid = ack["message_id"].as_str().expect("id");
    aw.send(&json!({"type": "delete_message", "channel_id": channel, "message_id": mid}));
    assert_eq!(bw.recv_type("message_updated")["message"]["deleted"], true);
    assert_eq!(
        bob.raw(
            "GET",
            &format!("/api/v1/files/{pic}/thumbnail"),
            &[],
            vec![]
        )
        .status,
        404
    );
    // and every blob goes, the thumbnail's too: no row names any
    while crate::common::objects(&s) > 0 {
        assert!(
            std::time::Instant::now() < deadline + std::time::Duration::from_secs(20),
            "blobs stayed"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

#[test]
fn an_end_to_end_channels_upload_says_nothing_of_its_file() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let channel = community(&alice, &bob, true);
    let before = crate::common::objects(&s);
    for q in [
        "?name=a.png",
        "?type=image/png",
        "?name=a.png&type=image/png",
    ] {
        let r = upload(&alice, &channel, q, &png(4, 4));
        assert_eq!((r.status, r.code()), (409, "conflict"), "{q}: {}", r.text);
    }
    assert_eq!(crate::common::objects(&s), before);
    // the encrypted blob alone: stored as bytes, nothing recognised even when they are a PNG
    let r = upload(&alice, &channel, "", &png(4, 4));
    assert_eq!(r.status, 201, "{}", r.text);
    for k in ["name", "content_type", "width", "height"] {
        assert!(r.body.get(k).is_none(), "{k}: {}", r.text);
    }
    assert_eq!(r.body["thumbnail"], false);
    assert_eq!(
        crate::common::objects(&s),
        before + 1,
        "no thumbnail was made"
    );
}
