//! Public images (docs/api.md "Images") through the real server: an upload is recognised by its
//! bytes, shaped for its kind and encoded afresh; what is served is only that picture, inert
//! (`nosniff`, a sandbox CSP), named by its content and cached for good. The A9 corpus (HTML
//! named `.png`, SVG with script, polyglots, bombs, oversized files) is refused or comes back as
//! a plain picture. Profiles and communities take only refs of images of the right kind, and an
//! image nothing names is reclaimed while a named one stays.
use crate::common::{Client, Resp, TestServer};
use chatalot_storage::blobs::BlobId;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use serde_json::json;
use std::io::Cursor;
use ureq::http;

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

fn photo(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
    }))
}

/// A PNG with a text chunk (metadata a re-encoding must drop) before its end.
fn png_with_text(img: DynamicImage, text: &[u8]) -> Vec<u8> {
    let bytes = encode(img, ImageFormat::Png);
    let iend = bytes.len() - 12;
    // a chunk: the data's length, then the type and the data, then the CRC of those
    let mut body = b"tEXtComment\0".to_vec();
    body.extend_from_slice(text);
    let mut chunk = ((body.len() - 4) as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    [&bytes[..iend], &chunk, &bytes[iend..]].concat()
}

/// A valid 1 x 1 PNG whose header is rewritten to declare `w` x `h` (its CRC fixed): a bomb's
/// header, with next to no data behind it.
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = encode(photo(1, 1), ImageFormat::Png);
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32fast::hash(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn upload(c: &Client, kind: &str, content_type: &str, bytes: &[u8]) -> Resp {
    c.raw(
        "POST",
        &format!("/api/v1/images?kind={kind}"),
        &[("content-type", content_type)],
        bytes.to_vec(),
    )
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Fetches an image without credentials; (status, header lookup, bytes).
fn fetch(s: &TestServer, image_ref: &str) -> (u16, http::HeaderMap, Vec<u8>) {
    s.client().raw_bytes(
        "GET",
        &format!("/api/v1/images/{image_ref}"),
        &[],
        Vec::new(),
    )
}

fn header(h: &http::HeaderMap, k: &str) -> String {
    h.get(k)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[test]
fn an_avatar_is_reencoded_served_inert_under_its_content_hash_and_set_only_by_its_ref() {
    let s = TestServer::start();
    let (alice, alice_body) = s.register("alice");
    let (bob, _) = s.register("bob");
    let alice_id = alice_body["user"]["id"].as_str().expect("id").to_owned();

    let r = upload(
        &alice,
        "avatar",
        "image/png",
        &png_with_text(photo(900, 600), b"CANARY-IN-METADATA"),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["kind"], "avatar");
    assert_eq!(
        (r.body["width"].as_u64(), r.body["height"].as_u64()),
        (Some(512), Some(512))
    );
    assert_eq!(r.body["content_type"], "image/jpeg");
    let avatar = r.body["ref"].as_str().expect("ref").to_owned();

    // Anyone with the ref gets the picture the server wrote: named by its hash, inert, cached.
    let (status, h, bytes) = fetch(&s, &avatar);
    assert_eq!(status, 200);
    assert_eq!(BlobId::of(&bytes).to_hex(), avatar);
    assert_eq!(r.body["size"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(header(&h, "content-type"), "image/jpeg");
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert!(header(&h, "content-security-policy").starts_with("sandbox"));
    assert!(header(&h, "content-disposition").starts_with("inline"));
    assert_eq!(
        header(&h, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert!(!contains(&bytes, b"CANARY-IN-METADATA"), "metadata dropped");
    let back = image::load_from_memory(&bytes).expect("a picture");
    assert_eq!((back.width(), back.height()), (512, 512));
    // An unknown ref is not there.
    let (status, _, _) = fetch(&s, &"0".repeat(64));
    assert_eq!(status, 404);
    let (status, _, _) = fetch(&s, "not-a-ref");
    assert_eq!(status, 404);

    // Only the ref of an avatar is an avatar: other kinds, unknown refs and strings are refused
    // and change nothing.
    let icon = upload(
        &alice,
        "icon",
        "image/png",
        &encode(photo(64, 64), ImageFormat::Png),
    );
    assert_eq!(icon.status, 201, "{}", icon.text);
    let icon = icon.body["ref"].as_str().expect("ref").to_owned();
    for bad in [
        icon.as_str(),
        &"ab".repeat(32),
        "https://evil.example/a.png",
        "../../x",
    ] {
        alice
            .patch("/api/v1/users/me/profile", &json!({"avatar_ref": bad}))
            .assert_error(400, "invalid_request");
    }
    assert!(alice.get(&format!("/api/v1/users/{alice_id}/profile")).body["avatar_ref"].is_null());

    let r = alice.patch("/api/v1/users/me/profile", &json!({"avatar_ref": avatar}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["avatar_ref"], avatar.as_str());
    assert_eq!(
        alice.get("/api/v1/users/me").body["avatar_ref"],
        avatar.as_str()
    );
    assert_eq!(
        bob.get(&format!("/api/v1/users/{alice_id}/profile")).body["avatar_ref"],
        avatar.as_str()
    );

    // A community's members carry their avatars; its icon takes only an icon.
    let r = alice.post(
        "/api/v1/communities",
        &json!({"name": "Pictures", "visibility": "public"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let community = r.body["id"].as_str().expect("id").to_owned();
    let members = alice.get(&format!("/api/v1/communities/{community}/members"));
    assert_eq!(members.status, 200, "{}", members.text);
    let me = members.body.as_array().expect("list")[0].clone();
    assert_eq!(me["avatar_ref"], avatar.as_str());
    alice
        .patch(
            &format!("/api/v1/communities/{community}"),
            &json!({"icon_ref": avatar}),
        )
        .assert_error(400, "invalid_request");
    let r = alice.patch(
        &format!("/api/v1/communities/{community}"),
        &json!({"icon_ref": icon}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["icon_ref"], icon.as_str());
    // Bob, no admin of it, cannot.
    bob.post(
        &format!("/api/v1/communities/{community}/members"),
        &json!({}),
    );
    let r = bob.patch(
        &format!("/api/v1/communities/{community}"),
        &json!({"icon_ref": null}),
    );
    assert!(r.status == 403 || r.status == 404, "{}", r.text);

    // null clears.
    let r = alice.patch("/api/v1/users/me/profile", &json!({"avatar_ref": null}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["avatar_ref"].is_null());
}

#[test]
fn each_kind_is_shaped_for_its_use_and_transparency_is_kept() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let emoji = DynamicImage::ImageRgba8(RgbaImage::from_fn(300, 300, |x, y| {
        let inside = (x as i32 - 150).pow(2) + (y as i32 - 150).pow(2) < 140 * 140;
        Rgba([250, 200, 0, if inside { 255 } else { 0 }])
    }));
    for (kind, img, format, want) in [
        ("emoji", emoji, ImageFormat::Png, (128, 128, "image/webp")),
        (
            "banner",
            photo(4000, 1000),
            ImageFormat::Jpeg,
            (1920, 480, "image/jpeg"),
        ),
        (
            "icon",
            photo(300, 500),
            ImageFormat::WebP,
            (300, 300, "image/jpeg"),
        ),
        (
            "avatar",
            photo(40, 40),
            ImageFormat::Gif,
            (40, 40, "image/jpeg"),
        ),
    ] {
        let r = upload(
            &alice,
            kind,
            "application/octet-stream",
            &encode(img, format),
        );
        assert_eq!(r.status, 201, "{kind}: {}", r.text);
        let got = (
            r.body["width"].as_u64().unwrap_or(0) as u32,
            r.body["height"].as_u64().unwrap_or(0) as u32,
            r.body["content_type"].as_str().unwrap_or(""),
        );
        assert_eq!(got, want, "{kind}");
        let (status, h, bytes) = fetch(&s, r.body["ref"].as_str().expect("ref"));
        assert_eq!(status, 200);
        assert_eq!(header(&h, "content-type"), want.2);
        let back = image::load_from_memory(&bytes).expect("a picture");
        assert_eq!((back.width(), back.height()), (want.0, want.1), "{kind}");
        if kind == "emoji" {
            let px = back.to_rgba8();
            assert_eq!(px.get_pixel(0, 0).0[3], 0, "a transparent corner");
            assert_eq!(px.get_pixel(64, 64).0[3], 255, "an opaque middle");
        }
    }
    upload(
        &alice,
        "sticker",
        "image/png",
        &encode(photo(8, 8), ImageFormat::Png),
    )
    .assert_error(400, "invalid_request");
}

#[test]
fn the_a9_corpus_is_refused_or_served_as_a_plain_picture_and_nothing_is_left_behind() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let objects_before = crate::common::objects(&s);

    // Not images at all, whatever they claim to be.
    let html = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>";
    let svg = br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>"#;
    for (name, ct, bytes) in [
        ("html named .png", "image/png", &html[..]),
        ("svg with script", "image/png", &svg[..]),
        ("svg as svg", "image/svg+xml", &svg[..]),
        ("empty", "image/png", &b""[..]),
    ] {
        let r = upload(&alice, "avatar", ct, bytes);
        assert_eq!(r.status, 415, "{name}: {}", r.text);
        assert_eq!(r.code(), "unsupported_media_type", "{name}");
    }
    // Bombs: a header declaring more than the side bound, or more pixels than the bound, is
    // refused before any pixel is decoded.
    for (name, bytes) in [
        ("60000 x 60000", png_declaring(60_000, 60_000)),
        ("7000 x 7000", png_declaring(7000, 7000)),
    ] {
        let r = upload(&alice, "avatar", "image/png", &bytes);
        assert_eq!(r.status, 400, "{name}: {}", r.text);
        assert!(
            r.body["message"]
                .as_str()
                .unwrap_or("")
                .contains("too large"),
            "{name}"
        );
    }
    // A truncated image.
    let png = encode(photo(200, 200), ImageFormat::Png);
    upload(&alice, "avatar", "image/png", &png[..png.len() / 3])
        .assert_error(400, "invalid_request");
    // Over the byte bound, by its declared length and by its body.
    let huge = vec![0u8; 10 * 1024 * 1024 + 1];
    upload(&alice, "avatar", "image/png", &huge).assert_error(413, "payload_too_large");

    // Polyglots: a JPEG with HTML after its end, a PNG with a script in a chunk: accepted as the
    // pictures they also are, and served as pictures only.
    let mut jpeg_html = encode(photo(120, 80), ImageFormat::Jpeg);
    jpeg_html.extend_from_slice(html);
    let png_script = png_with_text(photo(120, 80), b"<script>alert(3)</script>");
    for (name, bytes) in [("jpeg + html", jpeg_html), ("png + script", png_script)] {
        let r = upload(&alice, "banner", "image/jpeg", &bytes);
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        let (status, h, served) = fetch(&s, r.body["ref"].as_str().expect("ref"));
        assert_eq!(status, 200);
        assert!(
            !contains(&served, b"<script"),
            "{name}: no script is served"
        );
        assert!(
            !contains(&served, b"<!doctype"),
            "{name}: no HTML is served"
        );
        assert_eq!(header(&h, "x-content-type-options"), "nosniff");
        assert!(header(&h, "content-security-policy").contains("sandbox"));
        assert_eq!(header(&h, "content-type"), "image/jpeg");
    }
    // The refusals left nothing: two objects for the two polyglots, no temporary file.
    assert_eq!(crate::common::objects(&s), objects_before + 2);
    let temps = std::fs::read_dir(s.data_dir().join("files").join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(temps, 0);
}

#[test]
fn an_image_nothing_names_is_reclaimed_and_a_named_one_stays() {
    let s = TestServer::start_with(|c| {
        c.files.reclaim_interval_secs = 1;
        c.files.orphan_grace_secs = 0;
        c.files.unclaimed_secs = 2;
    });
    let (alice, _) = s.register("alice");
    let named = upload(
        &alice,
        "avatar",
        "image/png",
        &encode(photo(30, 30), ImageFormat::Png),
    );
    let loose = upload(
        &alice,
        "avatar",
        "image/png",
        &encode(photo(31, 31), ImageFormat::Png),
    );
    assert_eq!((named.status, loose.status), (201, 201));
    let named = named.body["ref"].as_str().expect("ref").to_owned();
    let loose = loose.body["ref"].as_str().expect("ref").to_owned();
    let r = alice.patch("/api/v1/users/me/profile", &json!({"avatar_ref": named}));
    assert_eq!(r.status, 200, "{}", r.text);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while fetch(&s, &loose).0 == 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the loose image stays"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // gone with its bytes; the named one is whole
    assert_eq!(
        s.sql(&format!(
            "SELECT count(*) FROM images WHERE sha256 = decode('{loose}', 'hex')"
        )),
        "0"
    );
    let (status, _, bytes) = fetch(&s, &named);
    assert_eq!(status, 200);
    assert_eq!(BlobId::of(&bytes).to_hex(), named);
    assert_eq!(crate::common::objects(&s), 1);
    // A ref that was reclaimed can no longer be set.
    alice
        .patch("/api/v1/users/me/profile", &json!({"avatar_ref": loose}))
        .assert_error(400, "invalid_request");
}

#[test]
fn a_communitys_emoji_are_added_by_admins_announced_to_members_and_bounded() {
    use crate::common::ws::Ws;
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let r = alice.post(
        "/api/v1/communities",
        &json!({"name": "Cats", "visibility": "public", "e2e": false}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let community = r.body["id"].as_str().expect("id").to_owned();
    let r = bob.post(
        &format!("/api/v1/communities/{community}/members"),
        &json!({}),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    let channel = bob.get("/api/v1/channels").body["channels"][0]["id"]
        .as_str()
        .expect("channel")
        .to_owned();
    let (mut bob_ws, _) = Ws::open(&s.base, bob.token());

    let img = upload(
        &alice,
        "emoji",
        "image/png",
        &encode(photo(64, 64), ImageFormat::Png),
    );
    assert_eq!(img.status, 201, "{}", img.text);
    let image_ref = img.body["ref"].as_str().expect("ref").to_owned();
    let avatar = upload(
        &alice,
        "avatar",
        "image/png",
        &encode(photo(65, 65), ImageFormat::Png),
    );
    let avatar = avatar.body["ref"].as_str().expect("ref").to_owned();
    let path = format!("/api/v1/communities/{community}/emoji");

    // Bad names and refs of other kinds change nothing.
    for bad in ["A_cat", "x", "with space", &"a".repeat(33), "café", ""] {
        alice
            .post(&path, &json!({"name": bad, "image_ref": image_ref}))
            .assert_error(400, "invalid_request");
    }
    alice
        .post(&path, &json!({"name": "cat", "image_ref": avatar}))
        .assert_error(400, "invalid_request");
    // A member who is no admin may list but not add.
    bob.post(&path, &json!({"name": "cat", "image_ref": image_ref}))
        .assert_error(403, "forbidden");
    assert_eq!(bob.get(&path).body, json!([]));

    let r = alice.post(&path, &json!({"name": "party_cat", "image_ref": image_ref}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["name"], "party_cat");
    assert_eq!(r.body["image_ref"], image_ref.as_str());
    let emoji_id = r.body["id"].as_str().expect("id").to_owned();
    let frame = bob_ws.recv_type("emoji_changed");
    assert_eq!(frame["community_id"], community.as_str());
    assert_eq!(frame["emoji"][0]["name"], "party_cat");
    let list = bob.get(&path);
    assert_eq!(list.status, 200);
    assert_eq!(list.body.as_array().map(|a| a.len()), Some(1));
    alice
        .post(&path, &json!({"name": "party_cat", "image_ref": image_ref}))
        .assert_error(409, "conflict");

    // A reaction carries it as <:name:ref>, which fits the reaction bound.
    bob_ws.subscribe(&channel, None);
    let ack = bob_ws.send_text_message(&channel, "m1", "hello");
    let message = ack["message_id"].as_str().expect("acked").to_owned();
    let token = format!("<:party_cat:{image_ref}>");
    bob_ws.send(&json!({"type": "add_reaction", "channel_id": channel, "message_id": message, "emoji": token}));
    let changed = bob_ws.recv_type("reaction_changed");
    assert_eq!(changed["emoji"], token.as_str(), "{changed}");

    // Bounded: up to 100 per community (the same picture under other names).
    for i in 1..100 {
        let r = alice.post(
            &path,
            &json!({"name": format!("cat_{i}"), "image_ref": image_ref}),
        );
        assert_eq!(r.status, 201, "{i}: {}", r.text);
    }
    alice
        .post(
            &path,
            &json!({"name": "one_too_many", "image_ref": image_ref}),
        )
        .assert_error(403, "quota_exceeded");

    // Removed by an admin only; then it is gone from the list.
    let one = format!("{path}/{emoji_id}");
    bob.delete(&one).assert_error(403, "forbidden");
    assert_eq!(alice.delete(&one).status, 204);
    alice.delete(&one).assert_error(404, "not_found");
    let names: Vec<String> = alice
        .get(&path)
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(names.len(), 99);
    assert!(!names.contains(&"party_cat".to_owned()));
}
