//! Communities, groups, channels, roles and moderation through the public API (F10-F14):
//! invites with limits, kicks and bans that cut live sockets off at once, slow mode,
//! announcement and archived channels, private groups, DMs with blocking, live updates, and
//! bad input that changes nothing.
use crate::common::ws::Ws;
use crate::common::{password_of, Client, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn id_of(c: &Client) -> String {
    c.get("/api/v1/users/me").body["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// A community of `owner` (private unless `public`) with plaintext channels; returns its id and
/// its `general` channel.
fn community(owner: &Client, public: bool) -> (String, String) {
    let r = owner.post(
        "/api/v1/communities",
        &json!({"name": "Guild", "visibility": if public {"public"} else {"private"}, "e2e": false}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().expect("id").to_owned();
    let channels = owner.get("/api/v1/channels");
    let general = channels.body["channels"]
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["community_id"] == id.as_str())
        .expect("general")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    (id, general)
}

fn invite(owner: &Client, community: &str, body: Value) -> String {
    let r = owner.post(&format!("/api/v1/communities/{community}/invites"), &body);
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["code"].as_str().expect("code").to_owned()
}

fn join(c: &Client, code: &str) -> crate::common::Resp {
    c.post("/api/v1/community_joins", &json!({ "code": code }))
}

fn channel(owner: &Client, community: &str, body: Value) -> Value {
    let r = owner.post(&format!("/api/v1/communities/{community}/channels"), &body);
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

/// Waits for a frame of `kind` matching `pred`, skipping others.
fn wait_for(ws: &mut Ws, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(f) = ws.try_recv(Duration::from_millis(100)) {
            if f["type"] == kind && pred(&f) {
                return f;
            }
        }
    }
    panic!("no matching `{kind}` frame within 5 s");
}

/// Collects frames until `done` says the wanted ones are all there (in any order).
fn gather(ws: &mut Ws, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while Instant::now() < deadline {
        if let Some(f) = ws.try_recv(Duration::from_millis(100)) {
            got.push(f);
            if done(&got) {
                return got;
            }
        }
    }
    panic!("the expected frames did not all arrive within 5 s: {got:?}");
}

fn has(frames: &[Value], kind: &str, field: &str, value: &str) -> bool {
    frames
        .iter()
        .any(|f| f["type"] == kind && f[field] == value)
}

fn subscribe_error(ws: &mut Ws, channel: &str) -> Value {
    ws.send(&json!({"type": "subscribe", "channels": [{"channel_id": channel}]}));
    wait_for(ws, "error", |f| f["frame"] == "subscribe")
}

#[test]
fn a_newcomer_builds_a_community_and_a_kicked_user_is_cut_off_at_once() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (carol, _) = s.register("carol");
    let bob_id = id_of(&bob);
    let (community, general) = community(&alice, false);

    // a private community is invisible to outsiders
    assert_eq!(
        bob.get(&format!("/api/v1/communities/{community}")).status,
        404
    );
    bob.post_empty(&format!("/api/v1/communities/{community}/members"))
        .assert_error(404, "not_found");

    // a single-use invite lets bob in, and only bob
    let code = invite(&alice, &community, json!({"max_uses": 1}));
    let r = join(&bob, &code);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["role"], "member");
    join(&carol, &code).assert_error(404, "not_found");

    // groups and channels
    let g = alice.post(
        &format!("/api/v1/communities/{community}/groups"),
        &json!({"name": "Projects"}),
    );
    assert_eq!(g.status, 201, "{}", g.text);
    let group = g.body["id"].as_str().expect("id").to_owned();
    let dev = channel(
        &alice,
        &community,
        json!({"name": "dev", "e2e": false, "group_id": group, "topic": "build talk"}),
    );
    assert_eq!(dev["e2e"], false, "the mode is in every channel payload");
    let dev = dev["id"].as_str().expect("id").to_owned();
    let listed = bob.get("/api/v1/channels");
    assert!(listed.body["channels"]
        .as_array()
        .expect("list")
        .iter()
        .any(|c| c["id"] == dev.as_str()));

    // chat over the WebSocket in the channel and in a DM
    let (mut a, _) = Ws::open(&s.base, alice.token());
    let (mut b, _) = Ws::open(&s.base, bob.token());
    a.subscribe(&dev, None);
    b.subscribe(&dev, None);
    b.subscribe(&general, None);
    let ack = a.send_text_message(&dev, "n1", "welcome bob");
    assert_eq!(ack["type"], "message_acked", "{ack}");
    let got = b.recv_type("message_created");
    assert_eq!(got["message"]["content"]["text"], "welcome bob");
    let dm = alice.post("/api/v1/dms", &json!({ "user_ids": [bob_id] }));
    assert_eq!(dm.status, 200, "{}", dm.text);
    assert_eq!(dm.body["e2e"], true, "DMs are end-to-end encrypted");
    let dm_created = wait_for(&mut b, "channel_created", |f| {
        f["channel"]["id"] == dm.body["id"]
    });
    assert_eq!(dm_created["channel"]["kind"], "dm");

    // kicked: bob's sockets leave every channel of the community at once
    let started = Instant::now();
    let r = alice.delete(&format!("/api/v1/communities/{community}/members/{bob_id}"));
    assert_eq!(r.status, 204, "{}", r.text);
    let frames = gather(&mut b, |got| {
        has(got, "member_left", "user_id", &bob_id)
            && has(got, "unsubscribed", "channel_id", &dev)
            && has(got, "unsubscribed", "channel_id", &general)
            && has(got, "channel_deleted", "channel_id", &dev)
    });
    let left = frames
        .iter()
        .find(|f| f["type"] == "member_left")
        .expect("member_left");
    assert_eq!(left["reason"], "kicked");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "cut off in {:?}",
        started.elapsed()
    );
    a.send_text_message(&dev, "n2", "after the kick");
    let after = b.drain(Duration::from_millis(400));
    assert!(
        after.iter().all(|f| f["type"] != "message_created"),
        "a kicked member receives nothing more: {after:?}"
    );
    // and cannot come back in through the channel
    let e = subscribe_error(&mut b, &dev);
    assert_eq!(e["code"], "not_found");
    assert_eq!(
        bob.get(&format!("/api/v1/channels/{dev}/messages")).status,
        404
    );
    assert_eq!(
        bob.get(&format!("/api/v1/communities/{community}/members"))
            .status,
        404
    );
    // the DM is not the community's: it still works
    assert_eq!(
        bob.get(&format!(
            "/api/v1/channels/{}/messages",
            dm.body["id"].as_str().unwrap()
        ))
        .status,
        200
    );
}

#[test]
fn bans_hold_on_every_join_path_and_use_no_invite() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let bob_id = id_of(&bob);
    let (community, _) = community(&alice, true);
    assert_eq!(
        bob.post_empty(&format!("/api/v1/communities/{community}/members"))
            .status,
        201
    );

    let r = alice.put(
        &format!("/api/v1/communities/{community}/bans/{bob_id}"),
        &json!({"reason": "spam"}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let bans = alice.get(&format!("/api/v1/communities/{community}/bans"));
    assert_eq!(bans.body[0]["user_id"], bob_id.as_str());
    assert_eq!(bans.body[0]["reason"], "spam");
    let mine = bob.get("/api/v1/communities");
    assert!(
        mine.body.as_array().expect("list").is_empty(),
        "banned means removed"
    );

    // public join
    bob.post_empty(&format!("/api/v1/communities/{community}/members"))
        .assert_error(403, "forbidden");
    // invite join: refused, and the use is not counted
    let code = invite(&alice, &community, json!({"max_uses": 1}));
    join(&bob, &code).assert_error(403, "forbidden");
    let invites = alice.get(&format!("/api/v1/communities/{community}/invites"));
    assert_eq!(invites.body[0]["uses"], 0);
    assert!(
        invites.body[0].get("code").is_none(),
        "codes are shown once"
    );
    // a ban of someone who never joined also holds
    let (carol, _) = s.register("carol");
    let carol_id = id_of(&carol);
    assert_eq!(
        alice
            .put(
                &format!("/api/v1/communities/{community}/bans/{carol_id}"),
                &json!({})
            )
            .status,
        204
    );
    join(&carol, &code).assert_error(403, "forbidden");

    // unbanned: the invite works again
    assert_eq!(
        alice
            .delete(&format!("/api/v1/communities/{community}/bans/{bob_id}"))
            .status,
        204
    );
    assert_eq!(join(&bob, &code).status, 201);
    join(&carol, &code).assert_error(404, "not_found");
}

#[test]
fn invites_expire_are_revoked_and_run_out() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let users: Vec<Client> = ["bob", "carol", "dave", "erin"]
        .iter()
        .map(|u| s.register(u).0)
        .collect();
    let (community, _) = community(&alice, false);

    let two = invite(&alice, &community, json!({"max_uses": 2}));
    assert_eq!(join(&users[0], &two).status, 201);
    assert_eq!(
        join(&users[0], &two).status,
        200,
        "joining again is idempotent and free"
    );
    assert_eq!(join(&users[1], &two).status, 201);
    join(&users[2], &two).assert_error(404, "not_found");

    let revoked = alice.post(
        &format!("/api/v1/communities/{community}/invites"),
        &json!({}),
    );
    let revoked_id = revoked.body["id"].as_str().expect("id");
    assert_eq!(
        alice
            .delete(&format!(
                "/api/v1/communities/{community}/invites/{revoked_id}"
            ))
            .status,
        204
    );
    join(&users[2], revoked.body["code"].as_str().expect("code")).assert_error(404, "not_found");

    let expiring = alice.post(
        &format!("/api/v1/communities/{community}/invites"),
        &json!({"expires_in_secs": 60}),
    );
    s.sql(&format!(
        "UPDATE community_invites SET expires_at = now() - interval '1 second' WHERE id = '{}'",
        expiring.body["id"].as_str().expect("id")
    ));
    join(&users[3], expiring.body["code"].as_str().expect("code")).assert_error(404, "not_found");

    // limits on creation
    for bad in [
        json!({"max_uses": 0}),
        json!({"max_uses": 10001}),
        json!({"expires_in_secs": 5}),
    ] {
        alice
            .post(&format!("/api/v1/communities/{community}/invites"), &bad)
            .assert_error(400, "invalid_request");
    }
    join(&users[3], "not a code").assert_error(400, "invalid_request");
    // members cannot make invites
    users[0]
        .post(
            &format!("/api/v1/communities/{community}/invites"),
            &json!({}),
        )
        .assert_error(403, "forbidden");
}

#[test]
fn slow_mode_announcements_and_archives_are_enforced_by_the_channel() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (carol, _) = s.register("carol");
    let carol_id = id_of(&carol);
    let (community, general) = community(&alice, true);
    for c in [&bob, &carol] {
        assert_eq!(
            c.post_empty(&format!("/api/v1/communities/{community}/members"))
                .status,
            201
        );
    }
    // carol becomes a moderator
    let r = alice.put(
        &format!("/api/v1/communities/{community}/members/{carol_id}/role"),
        &json!({"role": "moderator"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    // slow mode: bounds, and moderators set it
    for bad in [3, 601, -1] {
        carol
            .patch(
                &format!("/api/v1/channels/{general}"),
                &json!({"slow_mode_secs": bad}),
            )
            .assert_error(400, "invalid_request");
    }
    bob.patch(
        &format!("/api/v1/channels/{general}"),
        &json!({"slow_mode_secs": 5}),
    )
    .assert_error(403, "forbidden");
    let (mut b, _) = Ws::open(&s.base, bob.token());
    b.subscribe(&general, None);
    let r = carol.patch(
        &format!("/api/v1/channels/{general}"),
        &json!({"slow_mode_secs": 5}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["slow_mode_secs"], 5);
    wait_for(&mut b, "channel_updated", |f| {
        f["channel"]["slow_mode_secs"] == 5
    });
    assert_eq!(
        b.send_text_message(&general, "s1", "one")["type"],
        "message_acked"
    );
    let second = b.send_text_message(&general, "s2", "two");
    assert_eq!(second["code"], "slow_mode", "{second}");

    // announcement channels: members read, moderators post
    let news = channel(
        &alice,
        &community,
        json!({"name": "news", "kind": "announcement", "e2e": false}),
    );
    assert_eq!(news["post_role"], "moderator");
    let news = news["id"].as_str().expect("id").to_owned();
    let listed = bob.get(&format!("/api/v1/channels/{news}"));
    assert_eq!(listed.body["can_post"], false);
    b.subscribe(&news, None);
    let refused = b.send_text_message(&news, "a1", "me too");
    assert_eq!(refused["code"], "forbidden", "{refused}");
    let (mut c, _) = Ws::open(&s.base, carol.token());
    c.subscribe(&news, None);
    assert_eq!(
        c.send_text_message(&news, "a2", "release out")["type"],
        "message_acked"
    );
    assert_eq!(
        b.recv_type("message_created")["message"]["content"]["text"],
        "release out"
    );

    // archived: nobody posts, everyone still reads
    let r = carol.patch(
        &format!("/api/v1/channels/{news}"),
        &json!({"archived": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    wait_for(&mut c, "channel_updated", |f| {
        f["channel"]["archived"] == true
    });
    let refused = c.send_text_message(&news, "a3", "late");
    assert_eq!(refused["code"], "forbidden", "{refused}");
    let first =
        bob.get(&format!("/api/v1/channels/{news}/messages")).body["messages"][0]["id"].clone();
    c.send(
        &json!({"type": "edit_message", "channel_id": news, "message_id": first,
        "content": {"kind": "text", "text": "rewritten"}}),
    );
    let e = wait_for(&mut c, "error", |f| f["frame"] == "edit_message");
    assert_eq!(e["code"], "forbidden", "no edits in an archived channel");
    assert_eq!(
        bob.get(&format!("/api/v1/channels/{news}/messages")).body["messages"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // moderators cannot rename or re-role a channel: admins do
    carol
        .patch(
            &format!("/api/v1/channels/{news}"),
            &json!({"name": "old-news"}),
        )
        .assert_error(403, "forbidden");
    // the end-to-end mode changes only while the channel is empty
    alice
        .patch(&format!("/api/v1/channels/{news}"), &json!({"e2e": true}))
        .assert_error(409, "conflict");
}

#[test]
fn private_groups_roles_and_live_updates() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (carol, _) = s.register("carol");
    let bob_id = id_of(&bob);
    let carol_id = id_of(&carol);
    let (community, general) = community(&alice, true);
    let (mut b, _) = Ws::open(&s.base, bob.token());
    assert_eq!(
        bob.post_empty(&format!("/api/v1/communities/{community}/members"))
            .status,
        201
    );
    // the joiner's other sessions hear of the channels now open to them
    let created = wait_for(&mut b, "channel_created", |f| {
        f["channel"]["id"] == general.as_str()
    });
    assert_eq!(created["channel"]["can_post"], true);
    let (mut a, _) = Ws::open(&s.base, alice.token());
    assert_eq!(
        carol
            .post_empty(&format!("/api/v1/communities/{community}/members"))
            .status,
        201
    );
    let joined = wait_for(&mut a, "member_joined", |f| {
        f["member"]["user_id"] == carol_id.as_str()
    });
    assert_eq!(joined["member"]["role"], "member");

    // a private group's channel is invisible until a moderator adds the member
    let g = alice.post(
        &format!("/api/v1/communities/{community}/groups"),
        &json!({"name": "Staff", "kind": "private"}),
    );
    assert_eq!(g.status, 201, "{}", g.text);
    let group = g.body["id"].as_str().expect("id").to_owned();
    let secret = channel(
        &alice,
        &community,
        json!({"name": "secret", "e2e": false, "group_id": group}),
    );
    let secret = secret["id"].as_str().expect("id").to_owned();
    assert_eq!(bob.get(&format!("/api/v1/channels/{secret}")).status, 404);
    let groups = bob.get(&format!("/api/v1/communities/{community}/groups"));
    assert!(
        groups.body.as_array().expect("list").is_empty(),
        "{}",
        groups.text
    );
    let e = subscribe_error(&mut b, &secret);
    assert_eq!(e["code"], "not_found");
    // bob cannot add himself to a private group
    bob.put_empty(&format!("/api/v1/groups/{group}/members/{bob_id}"))
        .assert_error(404, "not_found");

    assert_eq!(
        alice
            .put_empty(&format!("/api/v1/groups/{group}/members/{bob_id}"))
            .status,
        204
    );
    gather(&mut b, |got| {
        got.iter()
            .any(|f| f["type"] == "group_created" && f["group"]["id"] == group.as_str())
            && got
                .iter()
                .any(|f| f["type"] == "channel_created" && f["channel"]["id"] == secret.as_str())
    });
    b.subscribe(&secret, None);
    // removed from the group: the subscription ends at once
    assert_eq!(
        alice
            .delete(&format!("/api/v1/groups/{group}/members/{bob_id}"))
            .status,
        204
    );
    gather(&mut b, |got| {
        has(got, "unsubscribed", "channel_id", &secret)
            && has(got, "channel_deleted", "channel_id", &secret)
            && has(got, "group_deleted", "group_id", &group)
    });

    // roles: only downwards, never owner
    alice
        .put(
            &format!("/api/v1/communities/{community}/members/{bob_id}/role"),
            &json!({"role": "owner"}),
        )
        .assert_error(403, "forbidden");
    let r = alice.put(
        &format!("/api/v1/communities/{community}/members/{bob_id}/role"),
        &json!({"role": "admin"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    wait_for(&mut b, "member_role_changed", |f| f["role"] == "admin");
    // an admin sees every group, and may not promote to admin or act on the owner
    assert_eq!(bob.get(&format!("/api/v1/channels/{secret}")).status, 200);
    bob.put(
        &format!("/api/v1/communities/{community}/members/{carol_id}/role"),
        &json!({"role": "admin"}),
    )
    .assert_error(403, "forbidden");
    let alice_id = id_of(&alice);
    bob.delete(&format!(
        "/api/v1/communities/{community}/members/{alice_id}"
    ))
    .assert_error(403, "forbidden");
    // personal groups are assigned by moderators to a member
    let p = bob.post(
        &format!("/api/v1/communities/{community}/groups"),
        &json!({"name": "Carol's corner", "kind": "personal", "assigned_to": carol_id}),
    );
    assert_eq!(p.status, 201, "{}", p.text);
    let carol_groups = carol.get(&format!("/api/v1/communities/{community}/groups"));
    assert_eq!(carol_groups.body.as_array().map(Vec::len), Some(1));

    // community settings reach the members live
    let r = alice.patch(
        &format!("/api/v1/communities/{community}"),
        &json!({"name": "Guild Hall", "welcome_message": "Hi!", "discoverable": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let up = wait_for(&mut b, "community_updated", |_| true);
    assert_eq!(up["community"]["name"], "Guild Hall");
    let dir = carol.get("/api/v1/directory?q=hall");
    assert_eq!(dir.body[0]["community"]["id"], community.as_str());
    assert_eq!(dir.body[0]["member_count"], 3);
    // leaving; the owner cannot leave
    assert_eq!(
        carol
            .delete(&format!(
                "/api/v1/communities/{community}/members/{carol_id}"
            ))
            .status,
        204
    );
    wait_for(&mut a, "member_left", |f| {
        f["user_id"] == carol_id.as_str() && f["reason"] == "left"
    });
    alice
        .delete(&format!(
            "/api/v1/communities/{community}/members/{alice_id}"
        ))
        .assert_error(403, "forbidden");
    // deletion reaches everyone and ends subscriptions
    b.subscribe(&general, None);
    bob.delete(&format!("/api/v1/communities/{community}"))
        .assert_error(403, "forbidden");
    assert_eq!(
        alice
            .delete(&format!("/api/v1/communities/{community}"))
            .status,
        204
    );
    gather(&mut b, |got| {
        has(got, "community_deleted", "community_id", &community)
            && has(got, "unsubscribed", "channel_id", &general)
    });
    assert_eq!(
        bob.get(&format!("/api/v1/communities/{community}")).status,
        404
    );
}

#[test]
fn dms_are_private_and_blocking_stops_new_ones() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (mallory, _) = s.register("mallory");
    let alice_id = id_of(&alice);
    let mallory_id = id_of(&mallory);

    let found = bob.get("/api/v1/users?username=alice");
    assert_eq!(found.body["id"], alice_id.as_str());
    bob.get("/api/v1/users?username=nobody")
        .assert_error(404, "not_found");
    // text PostgreSQL cannot hold is refused up front, not a server error
    bob.get("/api/v1/users?username=al%00ice")
        .assert_error(400, "invalid_request");
    s.client()
        .post(
            "/api/v1/sessions",
            &json!({"username": "al\u{0}ice", "password": password_of("alice")}),
        )
        .assert_error(400, "invalid_request");
    s.client()
        .post(
            "/api/v1/accounts",
            &json!({"username": "carol", "password": password_of("carol"), "invite_code": "x\u{0}"}),
        )
        .assert_error(400, "invalid_request");
    let dm = bob.post("/api/v1/dms", &json!({ "user_ids": [alice_id] }));
    assert_eq!(dm.status, 200);
    let again = alice.post("/api/v1/dms", &json!({ "user_ids": [id_of(&bob)] }));
    assert_eq!(
        again.body["id"], dm.body["id"],
        "opening a DM is idempotent"
    );
    let dm_id = dm.body["id"].as_str().expect("id");
    assert_eq!(
        mallory
            .get(&format!("/api/v1/channels/{dm_id}/messages"))
            .status,
        404
    );
    let (mut m, _) = Ws::open(&s.base, mallory.token());
    assert_eq!(subscribe_error(&mut m, dm_id)["code"], "not_found");
    mallory
        .patch(&format!("/api/v1/channels/{dm_id}"), &json!({"topic": "x"}))
        .assert_error(404, "not_found");

    // alice blocks mallory: no new DM, not even as part of a group
    assert_eq!(
        alice
            .put_empty(&format!("/api/v1/users/me/blocks/{mallory_id}"))
            .status,
        204
    );
    mallory
        .post("/api/v1/dms", &json!({ "user_ids": [alice_id] }))
        .assert_error(403, "forbidden");
    mallory
        .post(
            "/api/v1/dms",
            &json!({ "user_ids": [alice_id, id_of(&bob)] }),
        )
        .assert_error(403, "forbidden");
    assert_eq!(
        alice.get("/api/v1/users/me/blocks").body[0]["id"],
        mallory_id.as_str()
    );
    alice
        .put_empty(&format!("/api/v1/users/me/blocks/{alice_id}"))
        .assert_error(400, "invalid_request");
    assert_eq!(
        alice
            .delete(&format!("/api/v1/users/me/blocks/{mallory_id}"))
            .status,
        204
    );
    assert_eq!(
        mallory
            .post("/api/v1/dms", &json!({ "user_ids": [alice_id] }))
            .status,
        200
    );

    // profiles
    let r = alice.patch(
        "/api/v1/users/me/profile",
        &json!({"bio": "I write Rust", "pronouns": "she/her", "custom_status": "shipping"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let p = bob.get(&format!("/api/v1/users/{alice_id}/profile"));
    assert_eq!(p.body["bio"], "I write Rust");
    // (avatars are images: tests/tests/integration/images.rs)
    let r = alice.patch("/api/v1/users/me/profile", &json!({"avatar_ref": null}));
    assert_eq!(r.body["avatar_ref"], Value::Null);
    assert_eq!(r.body["bio"], "I write Rust", "absent fields stay");
}

#[test]
fn bad_input_on_write_routes_changes_nothing() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (community, general) = community(&alice, false);
    let snapshot = |s: &TestServer| {
        s.sql(
            "SELECT (SELECT string_agg(name || visibility || description || welcome_message || discoverable, ',') FROM communities) \
             || (SELECT string_agg(name || topic || slow_mode_secs || archived || view_role || post_role, ',' ORDER BY name) FROM channels) \
             || (SELECT count(*) FROM groups) || (SELECT count(*) FROM community_invites) \
             || (SELECT count(*) FROM community_members) || (SELECT count(*) FROM user_profiles)",
        )
    };
    let before = snapshot(&s);
    let long = "x".repeat(2001);
    let cases: Vec<(&str, String, Value)> = vec![
        (
            "PATCH",
            format!("/api/v1/communities/{community}"),
            json!({"name": ""}),
        ),
        (
            "PATCH",
            format!("/api/v1/communities/{community}"),
            json!({"name": "ok", "description": long}),
        ),
        (
            "PATCH",
            format!("/api/v1/communities/{community}"),
            json!({"icon_ref": "has space"}),
        ),
        (
            "PATCH",
            format!("/api/v1/communities/{community}"),
            json!({"visibility": "secret"}),
        ),
        (
            "PATCH",
            format!("/api/v1/communities/{community}"),
            json!({"unknown": 1}),
        ),
        (
            "POST",
            format!("/api/v1/communities/{community}/channels"),
            json!({"name": "a\u{0007}b"}),
        ),
        (
            "POST",
            format!("/api/v1/communities/{community}/channels"),
            json!({"name": "dm", "kind": "dm"}),
        ),
        (
            "POST",
            format!("/api/v1/communities/{community}/channels"),
            json!({"name": "x", "slow_mode_secs": 4}),
        ),
        (
            "PATCH",
            format!("/api/v1/channels/{general}"),
            json!({"topic": long}),
        ),
        (
            "PATCH",
            format!("/api/v1/channels/{general}"),
            json!({"view_role": "king"}),
        ),
        (
            "POST",
            format!("/api/v1/communities/{community}/groups"),
            json!({"name": ""}),
        ),
        (
            "POST",
            format!("/api/v1/communities/{community}/groups"),
            json!({"name": "two\nlines"}),
        ),
        (
            "PATCH",
            format!("/api/v1/communities/{community}"),
            json!({"name": "a\nb"}),
        ),
        (
            "POST",
            format!("/api/v1/communities/{community}/groups"),
            json!({"name": "p", "kind": "personal"}),
        ),
        (
            "POST",
            format!("/api/v1/communities/{community}/invites"),
            json!({"max_uses": -1}),
        ),
        (
            "PATCH",
            "/api/v1/users/me/profile".into(),
            json!({"bio": long}),
        ),
        (
            "PATCH",
            "/api/v1/users/me/profile".into(),
            json!({"display_name": ""}),
        ),
        (
            "PATCH",
            "/api/v1/users/me/profile".into(),
            json!({"pronouns": "x".repeat(41)}),
        ),
        ("POST", "/api/v1/community_joins".into(), json!({"code": 5})),
    ];
    // listing a private community in the directory conflicts with its visibility
    alice
        .patch(
            &format!("/api/v1/communities/{community}"),
            &json!({"discoverable": true}),
        )
        .assert_error(409, "conflict");
    // well-formed references to things that do not exist are 404s
    let nobody = "0193a0b0-0000-7000-8000-000000000000";
    alice
        .post(
            &format!("/api/v1/communities/{community}/channels"),
            &json!({"name": "x", "group_id": nobody}),
        )
        .assert_error(404, "not_found");
    alice
        .post(
            &format!("/api/v1/communities/{community}/groups"),
            &json!({"name": "p", "kind": "personal", "assigned_to": nobody}),
        )
        .assert_error(404, "not_found");
    for (method, path, body) in &cases {
        let r = match *method {
            "PATCH" => alice.patch(path, body),
            _ => alice.post(path, body),
        };
        assert_eq!(r.status, 400, "{method} {path} {body}: {}", r.text);
        assert!(
            r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "a clear message"
        );
    }
    assert_eq!(snapshot(&s), before, "nothing changed");
}

#[test]
fn the_api_describes_itself_in_openapi() {
    let s = TestServer::start();
    let r = s.client().get("/api/v1/openapi.json");
    assert_eq!(r.status, 200, "{}", r.text);
    for (method, path) in chatalot_server::routes::ROUTES.iter() {
        assert!(
            r.body["paths"][path][method.to_lowercase()].is_object(),
            "{method} {path} is in /api/v1/openapi.json"
        );
    }
    let channel = &r.body["components"]["schemas"]["Channel"]["properties"];
    assert!(channel["e2e"].is_object() && channel["can_post"].is_object());
}

/// Sends an (opaque) encrypted message; the `message_acked` or `error` that answers it.
fn sealed(ws: &mut Ws, channel: &str, nonce: &str) -> Value {
    ws.send(
        &json!({"type": "send_message", "channel_id": channel, "nonce": nonce,
        "content": {"kind": "encrypted", "ciphertext": "AAECAwQ="}}),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(f) = ws.try_recv(Duration::from_millis(100)) {
            if (f["type"] == "message_acked" || f["type"] == "error") && f["nonce"] == nonce {
                return f;
            }
        }
    }
    panic!("no answer to {nonce}");
}

#[test]
fn blocks_hold_in_every_conversation_and_conversations_can_be_left() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (carol, _) = s.register("carol");
    let (mallory, _) = s.register("mallory");
    let (alice_id, bob_id, mallory_id) = (id_of(&alice), id_of(&bob), id_of(&mallory));
    let open = |c: &Client, ids: &[&str]| -> String {
        let r = c.post("/api/v1/dms", &json!({ "user_ids": ids }));
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["id"].as_str().expect("id").to_owned()
    };
    // a group DM carol made with alice, bob and mallory before anything happened
    let group = open(&carol, &[&alice_id, &bob_id, &mallory_id]);
    // a stranger's DM does not show the recipient's presence until she answers
    let dm = open(&mallory, &[&alice_id]);
    let (mut a, _) = Ws::open(&s.base, alice.token());
    let (mut m, _) = Ws::open(&s.base, mallory.token());
    let (mut b, _) = Ws::open(&s.base, bob.token());
    a.subscribe(&dm, None);
    a.subscribe(&group, None);
    let (_, subscribed) = m.subscribe(&dm, None);
    assert!(
        !subscribed.to_string().contains(&alice_id),
        "alice's presence shows in a request: {subscribed}"
    );
    m.subscribe(&group, None);
    b.subscribe(&group, None);
    a.send(&json!({"type": "set_presence", "presence": "dnd"}));
    let seen = m.drain(Duration::from_millis(2500));
    assert!(
        !seen
            .iter()
            .any(|f| f["type"] == "presence_changed" && f["channel_id"] == dm.as_str()),
        "{seen:?}"
    );
    assert_eq!(sealed(&mut a, &dm, "a1")["type"], "message_acked");
    wait_for(&mut m, "presence_changed", |f| {
        f["channel_id"] == dm.as_str() && f["user_id"] == alice_id.as_str()
    });
    // alice blocks mallory: the DM takes no more messages from either
    assert_eq!(
        alice
            .put_empty(&format!("/api/v1/users/me/blocks/{mallory_id}"))
            .status,
        204
    );
    std::thread::sleep(Duration::from_millis(300));
    let e = sealed(&mut m, &dm, "m1");
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );
    let e = sealed(&mut a, &dm, "a2");
    assert_eq!(e["code"], "forbidden");
    // nobody brings them together in a new group DM
    carol
        .post(
            "/api/v1/dms",
            &json!({ "user_ids": [alice_id, mallory_id] }),
        )
        .assert_error(403, "forbidden");
    // in the group from before, nothing of mallory reaches alice; bob still hears him
    let _ = a.drain(Duration::from_millis(200));
    assert_eq!(sealed(&mut m, &group, "m2")["type"], "message_acked");
    m.send(&json!({"type": "start_typing", "channel_id": group}));
    wait_for(&mut b, "message_created", |f| {
        f["message"]["sender_id"] == mallory_id.as_str()
    });
    wait_for(&mut b, "typing", |f| f["user_id"] == mallory_id.as_str());
    let to_alice = a.drain(Duration::from_millis(800));
    assert!(
        !to_alice.iter().any(|f| f.to_string().contains(&mallory_id)),
        "alice heard of mallory: {to_alice:?}"
    );
    let page = alice.get(&format!("/api/v1/channels/{group}/messages"));
    assert_eq!(page.status, 200);
    assert!(!page.text.contains(&mallory_id), "{}", page.text);
    let page = bob.get(&format!("/api/v1/channels/{group}/messages"));
    assert!(page.text.contains(&mallory_id));
    // alice leaves the group: gone for her until she opens it again herself
    assert_eq!(alice.delete(&format!("/api/v1/dms/{group}")).status, 204);
    wait_for(&mut a, "unsubscribed", |f| {
        f["channel_id"] == group.as_str()
    });
    alice
        .get(&format!("/api/v1/channels/{group}/messages"))
        .assert_error(404, "not_found");
    alice
        .delete(&format!("/api/v1/dms/{group}"))
        .assert_error(404, "not_found");
    assert_eq!(open(&carol, &[&alice_id, &bob_id, &mallory_id]), group);
    alice
        .get(&format!("/api/v1/channels/{group}/messages"))
        .assert_error(404, "not_found");
    assert_eq!(open(&alice, &[&bob_id, &mallory_id, &id_of(&carol)]), group);
    assert_eq!(
        alice
            .get(&format!("/api/v1/channels/{group}/messages"))
            .status,
        200
    );
    // a community channel is not a conversation one leaves this way
    let (_, general) = community(&alice, true);
    alice
        .delete(&format!("/api/v1/dms/{general}"))
        .assert_error(404, "not_found");
}

#[test]
fn a_long_block_list_is_read_in_one_query() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let alice_id = id_of(&alice);
    s.sql(&format!(
        "INSERT INTO users (id, username, display_name, password_hash) \
         SELECT gen_random_uuid(), 'u' || n, 'User ' || n, 'x' FROM generate_series(1, 999) AS n; \
         INSERT INTO user_blocks (blocker_id, blocked_id) \
         SELECT '{alice_id}', id FROM users WHERE username LIKE 'u%'"
    ));
    assert_eq!(
        alice
            .put_empty(&format!("/api/v1/users/me/blocks/{}", id_of(&bob)))
            .status,
        204
    );
    let list = alice.get("/api/v1/users/me/blocks");
    assert_eq!(list.status, 200);
    let list = list.body.as_array().expect("list").clone();
    assert_eq!(list.len(), 1000);
    assert_eq!(list[0]["username"], "bob", "newest first");
    assert!(list.iter().all(|p| p["display_name"].as_str().is_some()));
    // one query: about 20 ms here for a thousand entries (a query per entry took 120 ms)
    let mut took: Vec<Duration> = (0..7)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(alice.get("/api/v1/users/me/blocks").status, 200);
            t.elapsed()
        })
        .collect();
    took.sort();
    assert!(took[1] < Duration::from_millis(60), "{took:?}");
}

#[test]
fn edits_need_the_right_to_post_now() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (community, general) = community(&alice, true);
    assert_eq!(
        bob.post_empty(&format!("/api/v1/communities/{community}/members"))
            .status,
        201
    );
    let (mut b, _) = Ws::open(&s.base, bob.token());
    b.subscribe(&general, None);
    let mine = b.send_text_message(&general, "b1", "first words")["message_id"].clone();
    // the channel becomes moderators-only: bob may no longer put words in it
    let r = alice.patch(
        &format!("/api/v1/channels/{general}"),
        &json!({"post_role": "moderator"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    wait_for(&mut b, "channel_updated", |f| {
        f["channel"]["can_post"] == false
    });
    b.send(
        &json!({"type": "edit_message", "channel_id": general, "message_id": mine,
        "content": {"kind": "text", "text": "new words"}}),
    );
    let e = wait_for(&mut b, "error", |f| f["frame"] == "edit_message");
    assert_eq!(e["code"], "forbidden");
    let page = alice.get(&format!("/api/v1/channels/{general}/messages"));
    assert_eq!(page.body["messages"][0]["content"]["text"], "first words");
    // reacting and deleting his own message remain his
    b.send(
        &json!({"type": "add_reaction", "channel_id": general, "message_id": mine, "emoji": "👍"}),
    );
    b.recv_type("reaction_changed");
    b.send(&json!({"type": "delete_message", "channel_id": general, "message_id": mine}));
    assert_eq!(b.recv_type("message_updated")["message"]["deleted"], true);
}

#[test]
fn the_channel_list_is_paged_newest_first_and_strangers_cannot_flood_it() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    let (bob, _) = s.register("bob");
    let (mallory, _) = s.register("mallory");
    let bob_id = id_of(&bob);
    // a stranger opens new group DMs with bob: ten, then no more for a while
    let extras: Vec<String> = (0..12)
        .map(|i| id_of(&s.register(&format!("extra{i}")).0))
        .collect();
    let mut opened = Vec::new();
    for (i, extra) in extras.iter().enumerate() {
        let r = mallory.post("/api/v1/dms", &json!({ "user_ids": [bob_id, extra] }));
        if i < 10 {
            assert_eq!(r.status, 200, "{}", r.text);
            opened.push(r.body["id"].as_str().expect("id").to_owned());
        } else {
            r.assert_error(429, "rate_limited");
        }
    }
    // reopening one is free
    let again = mallory.post("/api/v1/dms", &json!({ "user_ids": [bob_id, extras[0]] }));
    assert_eq!(again.body["id"], opened[0].as_str());
    // seven hundred older conversations of bob's (made directly in the database)
    s.sql(&format!(
        "WITH made AS (INSERT INTO channels (id, kind, e2e, dm_key, last_activity_at) \
           SELECT gen_random_uuid(), 'group_dm', true, 'old' || n, now() - interval '1 day' \
           FROM generate_series(1, 700) AS n RETURNING id) \
         INSERT INTO channel_members (channel_id, user_id) SELECT id, '{bob_id}' FROM made"
    ));
    // a friend writes: her DM is at the top of bob's first page
    let dm = alice.post("/api/v1/dms", &json!({ "user_ids": [bob_id] }));
    let dm = dm.body["id"].as_str().expect("id").to_owned();
    let (mut a, _) = Ws::open(&s.base, alice.token());
    a.subscribe(&dm, None);
    a.send(
        &json!({"type": "send_message", "channel_id": dm, "nonce": "hi",
        "content": {"kind": "encrypted", "ciphertext": "AQID"}}),
    );
    a.recv_type("message_acked");
    let first = bob.get("/api/v1/channels?limit=20");
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["channels"][0]["id"], dm.as_str());
    assert_eq!(first.body["channels"].as_array().map(Vec::len), Some(20));
    // every page in turn: each channel once, all of them
    let mut seen = std::collections::HashSet::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &before {
            Some(b) => format!("/api/v1/channels?limit=200&before={b}"),
            None => "/api/v1/channels?limit=200".to_owned(),
        };
        let page = bob.get(&path);
        assert_eq!(page.status, 200, "{}", page.text);
        for c in page.body["channels"].as_array().expect("list") {
            assert!(
                seen.insert(c["id"].as_str().expect("id").to_owned()),
                "twice: {c}"
            );
        }
        pages += 1;
        match page.body["next_before"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 700 + 10 + 1);
    assert_eq!(pages, 4);
    for bad in [
        "limit=0",
        "limit=501",
        "before=yesterday",
        "before=1.not-a-uuid",
        "bogus=1",
    ] {
        bob.get(&format!("/api/v1/channels?{bad}"))
            .assert_error(400, "invalid_request");
    }
}
