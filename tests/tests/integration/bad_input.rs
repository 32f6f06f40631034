//! Malformed requests get a clear `{code, message}` error and change nothing (R4 on REST).
use crate::common::TestServer;
use serde_json::json;

fn counts(s: &TestServer) -> String {
    s.sql(
        "SELECT (SELECT count(*) FROM users) || ',' || (SELECT count(*) FROM sessions) || ',' || \
         (SELECT count(*) FROM devices) || ',' || (SELECT count(*) FROM invites)",
    )
}

#[test]
fn malformed_bodies_are_refused_without_effect() {
    let s = TestServer::start();
    let (owner, _) = s.register("owner");
    let before = counts(&s);
    let c = s.client();
    let json_ct = [("content-type", "application/json")];
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "POST",
            "/api/v1/accounts",
            b"{".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/v1/accounts",
            b"".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/v1/accounts",
            b"[]".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/accounts",
            b"null".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/accounts",
            br#"{"username": 5, "password": "long enough pw"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/accounts",
            br#"{"username": "eve"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/accounts",
            br#"{"username": "eve", "password": "long enough pw", "is_owner": true}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/accounts",
            "{\"username\": \"e\u{202e}ve\", \"password\": \"long enough pw\"}"
                .as_bytes()
                .to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/sessions",
            br#"{"username": "owner", "password": ["x"]}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/sessions",
            br#"{"username": "owner", "password": "x", "device_id": "not-a-uuid"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/sessions/refresh",
            br#"{"refresh_token": 12345678901234567890123}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/recoveries",
            br#"{"username": "owner"}"#.to_vec(),
            400,
            "invalid_request",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let r = c.raw(method, path, &json_ct, body.clone());
        assert_eq!(
            r.status,
            status,
            "{method} {path} {:?}: {}",
            String::from_utf8_lossy(&body),
            r.text
        );
        r.assert_error(status, code);
    }
    // authenticated routes too
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "POST",
            "/api/v1/invites",
            br#"{"max_uses": 1e99}"#.to_vec(),
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/invites",
            br#"{"max_uses": 99999999999999999999}"#.to_vec(),
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/invites",
            br#"{"max_uses": 4294967296}"#.to_vec(),
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/invites",
            br#"{"expires_in_secs": -5}"#.to_vec(),
            "invalid_request",
        ),
        // valid JSON of the wrong type is a request error, not a JSON one
        (
            "PATCH",
            "/api/v1/instance",
            br#"{"registration_mode": 1}"#.to_vec(),
            "invalid_request",
        ),
        // a body that is JSON but not an object, even where every field is optional
        (
            "PATCH",
            "/api/v1/instance",
            br#"[null, null]"#.to_vec(),
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/invites",
            br#"[]"#.to_vec(),
            "invalid_request",
        ),
        (
            "PATCH",
            "/api/v1/instance",
            br#"{"registration_mode": "sometimes"}"#.to_vec(),
            "invalid_request",
        ),
        (
            "PUT",
            "/api/v1/users/me/password",
            br#"{"current_password": null, "new_password": "x"}"#.to_vec(),
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/users/me/totp/confirm",
            br#"{"code": 123456}"#.to_vec(),
            "invalid_request",
        ),
    ];
    for (method, path, body, code) in cases {
        owner
            .raw(method, path, &json_ct, body)
            .assert_error(400, code);
    }
    assert_eq!(counts(&s), before);
}

#[test]
fn wrong_content_type_and_oversize_bodies_are_refused() {
    let s = TestServer::start();
    let c = s.client();
    let body = br#"{"username": "eve", "password": "long enough pw"}"#.to_vec();
    c.raw(
        "POST",
        "/api/v1/accounts",
        &[("content-type", "text/plain")],
        body.clone(),
    )
    .assert_error(415, "unsupported_media_type");
    c.raw("POST", "/api/v1/accounts", &[], body)
        .assert_error(415, "unsupported_media_type");
    let huge = format!(
        r#"{{"username": "eve", "password": "{}"}}"#,
        "x".repeat(100 * 1024)
    );
    c.raw(
        "POST",
        "/api/v1/accounts",
        &[("content-type", "application/json")],
        huge.into_bytes(),
    )
    .assert_error(413, "payload_too_large");
    assert_eq!(s.sql("SELECT count(*) FROM users"), "0");
}

#[test]
fn unknown_routes_methods_and_ids_answer_clearly() {
    let s = TestServer::start();
    let (owner, _) = s.register("owner");
    s.client()
        .get("/api/v1/nothing/here")
        .assert_error(404, "not_found");
    // outside the API the web app answers
    assert_eq!(s.client().get("/some/page").status, 200);
    s.client()
        .raw("PUT", "/api/v1/health", &[], vec![])
        .assert_error(405, "method_not_allowed");
    owner
        .delete("/api/v1/invites/12345")
        .assert_error(404, "not_found");
    owner
        .put_empty("/api/v1/users/00000000-0000-0000-0000-000000000000/suspension")
        .assert_error(404, "not_found");
    owner
        .delete(&format!("/api/v1/sessions/{}", uuid::Uuid::new_v4()))
        .assert_error(404, "not_found");
}

#[test]
fn every_listed_route_exists_and_nothing_else_under_the_api() {
    let s = TestServer::start();
    let c = s.client();
    for (method, path) in chatalot_server::routes::ROUTES.iter() {
        let concrete = with_ids(path);
        let r = c.raw(
            method,
            &concrete,
            &[("content-type", "application/json")],
            b"{}".to_vec(),
        );
        assert!(
            r.code() != "not_found"
                || r.text.contains("not found") && !r.text.contains("no such API route"),
            "{method} {path} is not routed: {}",
            r.text
        );
        assert_ne!(r.code(), "method_not_allowed", "{method} {path}");
        assert!(r.status < 500, "{method} {path}: {}", r.text);
    }
    // the unknown-route answer is distinct
    assert!(c
        .get("/api/v1/definitely-not")
        .text
        .contains("no such API route"));
}

#[test]
fn unauthenticated_calls_to_protected_routes_get_401_and_change_nothing() {
    let s = TestServer::start();
    s.register("owner");
    let before = counts(&s);
    let c = s.client();
    let public = [
        "/api/v1/health",
        "/api/v1/ready",
        "/api/v1/accounts",
        "/api/v1/sessions/refresh",
        "/api/v1/recoveries",
        "/api/v1/openapi.json",
        "/api/v1/images/{ref}",
        // authenticates in-band, with the first frame
        "/api/v1/ws",
    ];
    for (method, path) in chatalot_server::routes::ROUTES.iter() {
        if public.contains(path)
            || (*path == "/api/v1/instance" && *method == "GET")
            || (*path == "/api/v1/sessions" && *method == "POST")
        {
            continue;
        }
        let concrete = with_ids(path);
        let r = c.raw(
            method,
            &concrete,
            &[("content-type", "application/json")],
            b"{}".to_vec(),
        );
        r.assert_error(401, "unauthorized");
    }
    assert_eq!(counts(&s), before);
}

#[test]
fn names_with_direction_overrides_or_invisible_characters_are_refused() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    for bad in [
        "admin\u{202E}gnp.exe",
        "ali\u{200B}ce",
        "\u{3164}",
        "\u{2066}x\u{2069}",
    ] {
        alice
            .patch("/api/v1/users/me/profile", &json!({"display_name": bad}))
            .assert_error(400, "invalid_request");
        alice
            .post(
                "/api/v1/communities",
                &json!({"name": bad, "visibility": "public"}),
            )
            .assert_error(400, "invalid_request");
    }
    assert_eq!(s.sql("SELECT count(*) FROM communities"), "0");
    assert_eq!(
        alice.get("/api/v1/users/me").body["display_name"],
        "alice",
        "unchanged"
    );
    let ok = alice.patch(
        "/api/v1/users/me/profile",
        &json!({"display_name": "Ali 👩\u{200D}💻"}),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
}

/// A route pattern with a fresh UUID for each `{param}`.
fn with_ids(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| {
            if seg == "{ref}" {
                // a content reference: 64 lowercase hex
                uuid::Uuid::new_v4().simple().to_string().repeat(2)
            } else if seg.starts_with('{') {
                uuid::Uuid::new_v4().to_string()
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
