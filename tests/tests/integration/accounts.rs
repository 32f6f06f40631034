//! Registration in each mode, the first owner, invites (F01, A12).
use crate::common::{password_of, TestServer};
use serde_json::json;

fn register(s: &TestServer, username: &str, invite: Option<&str>) -> crate::common::Resp {
    let mut body = json!({"username": username, "password": password_of(username)});
    if let Some(code) = invite {
        body["invite_code"] = json!(code);
    }
    s.client().post("/api/v1/accounts", &body)
}

fn invite_only() -> TestServer {
    TestServer::start_with(|c| {
        c.auth.registration_mode = chatalot_protocol::api::RegistrationMode::InviteOnly
    })
}

#[test]
fn only_the_setup_token_makes_the_owner_in_any_mode() {
    use chatalot_protocol::api::RegistrationMode::{Closed, Open};
    for mode in [Closed, Open] {
        let s = TestServer::start_with(|c| c.auth.registration_mode = mode);
        let anon = s.client();
        assert_eq!(anon.get("/api/v1/instance").body["setup_pending"], true);
        // registering first makes nobody the owner: closed stays closed, open makes a member
        let r = register(&s, "eager", None);
        match mode {
            Closed => r.assert_error(403, "registration_closed"),
            _ => assert_eq!(r.body["user"]["role"], "member", "{}", r.text),
        }
        let with = |name: &str, token: &str| {
            anon.post(
                "/api/v1/accounts",
                &json!({"username": name, "password": password_of(name), "setup_token": token}),
            )
        };
        with("guesser", "wrong-setup-token-0000000").assert_error(403, "invalid_setup_token");
        let r = with("owner", crate::common::SETUP_TOKEN);
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["user"]["role"], "owner");
        // once used, it is spent
        with("second", crate::common::SETUP_TOKEN).assert_error(403, "invalid_setup_token");
        assert_eq!(anon.get("/api/v1/instance").body["setup_pending"], false);
        assert_eq!(
            s.sql("SELECT count(*) FROM users WHERE role = 'owner'"),
            "1"
        );
    }
}

/// The harness's `register` presents the setup token for a server's first account.
#[test]
fn the_first_account_registered_with_the_token_is_owner_and_later_ones_members() {
    let s = TestServer::start();
    let (owner, body) = s.register("alice");
    assert_eq!(body["user"]["role"], "owner");
    assert_eq!(body["user"]["username"], "alice");
    assert!(body["recovery_code"]
        .as_str()
        .is_some_and(|c| c.len() == 19));
    assert!(body["refresh_token"].as_str().is_some());
    assert!(body["device_secret"].as_str().is_some());
    let (_, body) = s.register("bob");
    assert_eq!(body["user"]["role"], "member");
    let me = owner.get("/api/v1/users/me");
    assert_eq!(me.status, 200);
    assert_eq!(me.body["role"], "owner");
    assert_eq!(
        s.sql("SELECT count(*) FROM users WHERE role = 'owner'"),
        "1"
    );
}

#[test]
fn usernames_are_unique_regardless_of_case() {
    let s = TestServer::start();
    s.register("carol");
    register(&s, "Carol", None).assert_error(409, "username_taken");
    assert_eq!(s.sql("SELECT count(*) FROM users"), "1");
}

#[test]
fn invite_only_mode_needs_a_live_invite() {
    let s = invite_only();
    // the very first account needs no invite
    let (owner, _) = s.register("owner");
    register(&s, "nocode", None).assert_error(403, "invite_required");
    register(&s, "badcode", Some("AAAA-BBBB-CCCC-DDDD")).assert_error(403, "invalid_invite");
    register(&s, "junkcode", Some("not a code")).assert_error(403, "invalid_invite");

    let inv = owner.post("/api/v1/invites", &json!({"max_uses": 2}));
    assert_eq!(inv.status, 201, "{}", inv.text);
    let code = inv.body["code"].as_str().expect("code").to_owned();
    // 16 symbols of a 32-letter alphabet: 80 bits
    assert_eq!(code.replace('-', "").len(), 16);
    assert_eq!(register(&s, "first", Some(&code)).status, 201);
    // codes are typed by people: case and dashes do not matter
    let typed = code.to_lowercase().replace('-', "");
    assert_eq!(register(&s, "second", Some(&typed)).status, 201);
    register(&s, "third", Some(&code)).assert_error(403, "invalid_invite");
    let list = owner.get("/api/v1/invites");
    assert_eq!(list.body[0]["uses"], 2);
    assert_eq!(s.sql("SELECT count(*) FROM users"), "3");
}

#[test]
fn a_failed_registration_does_not_use_up_the_invite() {
    let s = invite_only();
    let (owner, _) = s.register("owner");
    let code = owner.post("/api/v1/invites", &json!({"max_uses": 1})).body["code"]
        .as_str()
        .expect("code")
        .to_owned();
    // taken username: refused, and the single use stays available
    register(&s, "owner", Some(&code)).assert_error(409, "username_taken");
    assert_eq!(register(&s, "newbie", Some(&code)).status, 201);
}

#[test]
fn revoked_and_expired_invites_are_refused() {
    let s = invite_only();
    let (owner, _) = s.register("owner");
    let inv = owner.post("/api/v1/invites", &json!({}));
    let id = inv.body["id"].as_str().expect("id").to_owned();
    let code = inv.body["code"].as_str().expect("code").to_owned();
    assert_eq!(owner.delete(&format!("/api/v1/invites/{id}")).status, 204);
    owner
        .delete(&format!("/api/v1/invites/{id}"))
        .assert_error(404, "not_found");
    register(&s, "late", Some(&code)).assert_error(403, "invalid_invite");

    let inv = owner.post("/api/v1/invites", &json!({"expires_in_secs": 60}));
    let code = inv.body["code"].as_str().expect("code").to_owned();
    s.sql("UPDATE invites SET expires_at = now() - interval '1 second'");
    register(&s, "expired", Some(&code)).assert_error(403, "invalid_invite");
    assert_eq!(s.sql("SELECT count(*) FROM users"), "1");
}

#[test]
fn only_admins_see_and_manage_invites() {
    let s = TestServer::start();
    let (owner, _) = s.register("owner");
    let (member, _) = s.register("member");
    member.get("/api/v1/invites").assert_error(404, "not_found");
    member
        .post("/api/v1/invites", &json!({}))
        .assert_error(404, "not_found");
    let inv = owner.post("/api/v1/invites", &json!({}));
    let id = inv.body["id"].as_str().expect("id");
    member
        .delete(&format!("/api/v1/invites/{id}"))
        .assert_error(404, "not_found");
    s.client()
        .get("/api/v1/invites")
        .assert_error(401, "unauthorized");
    assert_eq!(
        s.sql("SELECT count(*) FROM invites WHERE revoked_at IS NULL"),
        "1"
    );
}

#[test]
fn invite_bounds_are_checked() {
    let s = TestServer::start();
    let (owner, _) = s.register("owner");
    for body in [
        json!({"max_uses": 0}),
        json!({"max_uses": 10001}),
        json!({"expires_in_secs": 5}),
        json!({"expires_in_secs": 999999999}),
        json!({"max_uses": -1}),
        json!({"max_uses": "3"}),
    ] {
        owner
            .post("/api/v1/invites", &body)
            .assert_error(400, "invalid_request");
    }
    assert_eq!(s.sql("SELECT count(*) FROM invites"), "0");
}

#[test]
fn closed_mode_refuses_everyone_but_the_owner_with_the_setup_token() {
    let s = TestServer::start_with(|c| {
        c.auth.registration_mode = chatalot_protocol::api::RegistrationMode::Closed
    });
    s.register("owner");
    register(&s, "late", None).assert_error(403, "registration_closed");
    assert_eq!(s.sql("SELECT count(*) FROM users"), "1");
}

#[test]
fn admins_switch_the_registration_mode_at_run_time() {
    let s = TestServer::start();
    let (owner, _) = s.register("owner");
    let (member, _) = s.register("member");
    member
        .patch("/api/v1/instance", &json!({"registration_mode": "closed"}))
        .assert_error(403, "forbidden");
    let r = owner.patch(
        "/api/v1/instance",
        &json!({"registration_mode": "closed", "name": "Our Place"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["registration_mode"], "closed");
    let info = s.client().get("/api/v1/instance");
    assert_eq!(info.body["name"], "Our Place");
    assert_eq!(info.body["registration_mode"], "closed");
    register(&s, "late", None).assert_error(403, "registration_closed");
    owner
        .patch(
            "/api/v1/instance",
            &json!({"registration_mode": "sometimes"}),
        )
        .assert_error(400, "invalid_request");
    owner
        .patch("/api/v1/instance", &json!({"name": ""}))
        .assert_error(400, "invalid_request");
}

#[test]
fn registration_input_is_validated() {
    let s = TestServer::start();
    let c = s.client();
    for (body, code) in [
        (
            json!({"username": "ab", "password": "long enough password"}),
            "invalid_request",
        ),
        (
            json!({"username": "_lead", "password": "long enough password"}),
            "invalid_request",
        ),
        (
            json!({"username": "white space", "password": "long enough password"}),
            "invalid_request",
        ),
        (
            json!({"username": "dave", "password": "short"}),
            "weak_password",
        ),
        (
            json!({"username": "dave", "password": "dave-is-the-best"}),
            "weak_password",
        ),
        (
            json!({"username": "dave", "password": "x".repeat(300)}),
            "weak_password",
        ),
        (
            json!({"username": "dave", "password": "long enough password", "display_name": ""}),
            "invalid_request",
        ),
        (
            json!({"username": "dave", "password": "long enough password", "display_name": "a\u{0000}b"}),
            "invalid_request",
        ),
        (
            json!({"username": "dave", "password": "long enough password", "device_name": "x".repeat(65)}),
            "invalid_request",
        ),
        (
            json!({"username": "dave", "password": "long enough password", "role": "owner"}),
            "invalid_request",
        ),
    ] {
        c.post("/api/v1/accounts", &body).assert_error(400, code);
    }
    assert_eq!(s.sql("SELECT count(*) FROM users"), "0");
}

#[test]
fn the_owner_grants_and_revokes_admin_rights() {
    let s = invite_only();
    let (owner, _) = s.register("owner");
    let code = owner.post("/api/v1/invites", &json!({})).body["code"]
        .as_str()
        .expect("code")
        .to_owned();
    let r = register(&s, "helper", Some(&code));
    let helper_id = r.body["user"]["id"].as_str().expect("id").to_owned();
    let helper = s.client().with_token(r.body["access_token"].as_str());
    let r = register(&s, "plain", Some(&code));
    let plain_id = r.body["user"]["id"].as_str().expect("id").to_owned();
    let plain = s.client().with_token(r.body["access_token"].as_str());

    helper.get("/api/v1/invites").assert_error(404, "not_found");
    plain
        .put(
            &format!("/api/v1/users/{helper_id}/role"),
            &json!({"role": "admin"}),
        )
        .assert_error(404, "not_found");
    owner
        .put(
            &format!("/api/v1/users/{helper_id}/role"),
            &json!({"role": "owner"}),
        )
        .assert_error(400, "invalid_request");
    let r = owner.put(
        &format!("/api/v1/users/{helper_id}/role"),
        &json!({"role": "admin"}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(helper.get("/api/v1/users/me").body["role"], "admin");
    assert_eq!(helper.get("/api/v1/invites").status, 200);
    // an admin may not hand out roles, nor suspend the owner
    helper
        .put(
            &format!("/api/v1/users/{plain_id}/role"),
            &json!({"role": "admin"}),
        )
        .assert_error(403, "forbidden");
    let owner_id = owner.get("/api/v1/users/me").body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    helper
        .put_empty(&format!("/api/v1/users/{owner_id}/suspension"))
        .assert_error(403, "forbidden");
    assert_eq!(
        owner
            .put(
                &format!("/api/v1/users/{helper_id}/role"),
                &json!({"role": "member"})
            )
            .status,
        204
    );
    helper.get("/api/v1/invites").assert_error(404, "not_found");
    let events = owner.get("/api/v1/audit_events?limit=50");
    let granted = events
        .body
        .as_array()
        .expect("list")
        .iter()
        .find(|e| e["action"] == "admin_granted")
        .expect("audited");
    assert_eq!(granted["subject_id"], helper_id.as_str());
}
