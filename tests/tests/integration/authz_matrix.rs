//! The authorization matrix (A7): every route of the route table and every WebSocket frame type,
//! tried by an outsider, a member of another community, a banned user, a kicked user, a member,
//! a moderator, an admin and the owner, on objects of one private community and one DM.
//! Invisible objects answer 404; visible ones the caller may not touch answer 403. The test
//! fails when a route or frame type exists without an entry here.
use crate::common::ws::Ws;
use crate::common::{Client, TestServer};
use chatalot_protocol::ws::ClientFrame;
use chatalot_server::routes::ROUTES;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// Who is trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Outsider,
    OtherCommunity,
    Banned,
    Kicked,
    Member,
    Moderator,
    Admin,
    Owner,
}

const EVERYONE: [Who; 8] = [
    Who::Outsider,
    Who::OtherCommunity,
    Who::Banned,
    Who::Kicked,
    Who::Member,
    Who::Moderator,
    Who::Admin,
    Who::Owner,
];

impl Who {
    /// A member of the community (with a role), or not.
    fn rank(self) -> Option<u8> {
        match self {
            Who::Member => Some(0),
            Who::Moderator => Some(1),
            Who::Admin => Some(2),
            Who::Owner => Some(3),
            _ => None,
        }
    }
}

/// How a route is protected.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// No account needed (health, registration, login, refresh, recovery).
    Public,
    /// The WebSocket upgrade: the frame matrix below covers it.
    Gateway,
    /// Acts on the caller's own account and data only: needs a token (401 without one).
    OwnData,
    /// Instance owner or admins only: invisible (404) to everyone else, or refused (403) where
    /// the object itself is public (the instance settings).
    InstanceAdmin { refused: u16 },
    /// An object of the community: non-members get 404, members below `min` get 403.
    Community { min: u8 },
    /// A device's own keys and queue: only that device's session (403 for everyone else).
    OwnDevice,
}

/// The world the matrix runs in.
struct World {
    s: TestServer,
    root: Client,
    users: Vec<(Who, Client, String)>,
    community: String,
    channel: String,
    group: String,
    invite: String,
    message: String,
    /// A file of the community's channel.
    file: String,
    dm: String,
    owner_session: String,
    owner_device: String,
}

impl World {
    fn client(&self, who: Who) -> &Client {
        &self
            .users
            .iter()
            .find(|(w, _, _)| *w == who)
            .expect("user")
            .1
    }
    fn id(&self, who: Who) -> &str {
        &self
            .users
            .iter()
            .find(|(w, _, _)| *w == who)
            .expect("user")
            .2
    }

    /// The concrete request for a route, aimed at the community's objects.
    fn request(&self, method: &str, pattern: &str) -> (String, Option<Value>) {
        let c = &self.community;
        let path = pattern
            .replace("/communities/{id}", &format!("/communities/{c}"))
            .replace("/groups/{id}", &format!("/groups/{}", self.group))
            .replace("/invites/{invite_id}", &format!("/invites/{}", self.invite))
            .replace(
                "/sessions/{id}",
                &format!("/sessions/{}", self.owner_session),
            )
            .replace("/users/{id}", &format!("/users/{}", self.id(Who::Member)))
            .replace("/blocks/{id}", &format!("/blocks/{}", self.id(Who::Owner)))
            .replace(
                "/invites/{id}",
                "/invites/00000000-0000-7000-8000-000000000000",
            )
            .replace("/dms/{id}", "/dms/00000000-0000-7000-8000-000000000000")
            .replace("{emoji_id}", "00000000-0000-7000-8000-000000000000")
            .replace("/files/{id}", &format!("/files/{}", self.file))
            .replace(
                "/link_requests/{id}",
                &format!("/link_requests/{}", self.owner_device),
            );
        let path = if pattern.starts_with("/api/v1/channels/{id}") {
            path.replace("{id}", &self.channel)
        } else {
            path.replace("/devices/{id}", &format!("/devices/{}", self.owner_device))
        };
        // targets of member actions: the member for roles, the banned user for unbans, the
        // moderator for kicks (so that rank matters), an outsider for bans
        let target = match (method, pattern) {
            ("DELETE", p) if p.ends_with("/bans/{user_id}") => self.id(Who::Banned),
            ("PUT", p) if p.ends_with("/bans/{user_id}") => self.id(Who::Outsider),
            (_, p) if p.contains("/groups/") => self.id(Who::Moderator),
            ("DELETE", p) if p.ends_with("/members/{user_id}") => self.id(Who::Moderator),
            _ => self.id(Who::Member),
        };
        let path = path.replace("{user_id}", target);
        let body = match (method, pattern) {
            ("PATCH", "/api/v1/communities/{id}") => Some(json!({"description": "d"})),
            ("PUT", p) if p.ends_with("/role") => Some(json!({"role": "member"})),
            ("PUT", p) if p.contains("/bans/") => Some(json!({"reason": "r"})),
            ("POST", "/api/v1/communities/{id}/invites") => Some(json!({})),
            ("POST", "/api/v1/communities/{id}/groups") => Some(json!({"name": "g2"})),
            ("POST", "/api/v1/communities/{id}/emoji") => {
                Some(json!({"name": "party", "image_ref": "0".repeat(64)}))
            }
            ("PATCH", "/api/v1/groups/{id}") => Some(json!({"position": 3})),
            ("POST", "/api/v1/communities/{id}/channels") => Some(json!({"name": "c2"})),
            ("PATCH", "/api/v1/channels/{id}") => Some(json!({"topic": "t"})),
            ("PUT", "/api/v1/devices/{id}/keys") => {
                Some(json!({"certificate": "AQ==", "signed_prekey": "Ag=="}))
            }
            ("PUT", "/api/v1/devices/{id}/signed_prekey") => Some(json!({"signed_prekey": "Ag=="})),
            ("POST", "/api/v1/devices/{id}/one_time_prekeys") => {
                Some(json!({"one_time_prekeys": ["Aw=="]}))
            }
            ("POST", "/api/v1/devices/{id}/envelope_acks") => {
                Some(json!({"ids": ["00000000-0000-7000-8000-000000000000"]}))
            }
            ("PUT", "/api/v1/devices/{id}/link_request") => Some(json!({"request": "Yg=="})),
            ("PATCH", "/api/v1/devices/{id}") => Some(json!({"name": "renamed"})),
            ("POST", _) | ("PUT", _) | ("PATCH", _) => Some(json!({})),
            _ => None,
        };
        (path, body)
    }
}

fn call(c: &Client, method: &str, path: &str, body: Option<&Value>) -> crate::common::Resp {
    match body {
        Some(b) => c.raw(
            method,
            path,
            &[("content-type", "application/json")],
            serde_json::to_vec(b).expect("json"),
        ),
        None => c.raw(method, path, &[], Vec::new()),
    }
}

/// The rule of every route. A route missing here fails the test.
fn rule_of(method: &str, path: &str) -> Option<Rule> {
    use Rule::*;
    let member = Community { min: 0 };
    let moderator = Community { min: 1 };
    let admin = Community { min: 2 };
    let owner = Community { min: 3 };
    Some(match (method, path) {
        ("GET", "/api/v1/health")
        | ("GET", "/api/v1/ready")
        | ("GET", "/api/v1/instance")
        | ("GET", "/api/v1/openapi.json")
        | ("POST", "/api/v1/accounts")
        | ("POST", "/api/v1/sessions")
        | ("POST", "/api/v1/sessions/refresh")
        | ("POST", "/api/v1/recoveries")
        | ("GET", "/api/v1/images/{ref}") => Public,
        ("GET", "/api/v1/ws") => Gateway,
        ("GET", "/api/v1/sessions")
        | ("DELETE", "/api/v1/sessions")
        | ("DELETE", "/api/v1/sessions/current")
        | ("DELETE", "/api/v1/sessions/{id}")
        | ("GET", "/api/v1/users/me")
        | ("PUT", "/api/v1/users/me/password")
        | ("POST", "/api/v1/users/me/totp")
        | ("DELETE", "/api/v1/users/me/totp")
        | ("POST", "/api/v1/users/me/totp/confirm")
        | ("POST", "/api/v1/users/me/totp/backup_codes")
        | ("POST", "/api/v1/users/me/recovery_code")
        | ("GET", "/api/v1/users/me/audit_events")
        | ("GET", "/api/v1/users")
        | ("GET", "/api/v1/users/{id}/profile")
        | ("PATCH", "/api/v1/users/me/profile")
        | ("GET", "/api/v1/users/me/blocks")
        | ("PUT", "/api/v1/users/me/blocks/{id}")
        | ("DELETE", "/api/v1/users/me/blocks/{id}")
        | ("POST", "/api/v1/communities")
        | ("GET", "/api/v1/communities")
        | ("GET", "/api/v1/directory")
        | ("POST", "/api/v1/community_joins")
        | ("GET", "/api/v1/channels")
        | ("POST", "/api/v1/dms")
        | ("DELETE", "/api/v1/dms/{id}")
        | ("GET", "/api/v1/users/{id}/devices")
        | ("POST", "/api/v1/users/{id}/key_bundles")
        | ("POST", "/api/v1/envelopes")
        | ("GET", "/api/v1/users/me/link_requests")
        | ("PUT", "/api/v1/users/me/link_requests/{id}/response")
        | ("GET", "/api/v1/users/me/secret_storage")
        | ("PUT", "/api/v1/users/me/secret_storage")
        | ("GET", "/api/v1/users/me/files")
        | ("POST", "/api/v1/images")
        | ("GET", "/api/v1/link_preview")
        | ("GET", "/api/v1/gifs")
        | ("GET", "/api/v1/gifs/media")
        | ("GET", "/api/v1/users/me/key_backup")
        | ("POST", "/api/v1/users/me/key_backup/chunks")
        | ("GET", "/api/v1/users/me/key_backup/chunks")
        | ("PUT", "/api/v1/users/me/key_backup/head")
        | ("POST", "/api/v1/users/me/user_key_reset")
        | ("GET", "/api/v1/devices")
        | ("PATCH", "/api/v1/devices/{id}")
        | ("DELETE", "/api/v1/devices/{id}") => OwnData,
        ("PUT", "/api/v1/devices/{id}/keys")
        | ("GET", "/api/v1/devices/{id}/keys")
        | ("PUT", "/api/v1/devices/{id}/signed_prekey")
        | ("POST", "/api/v1/devices/{id}/one_time_prekeys")
        | ("GET", "/api/v1/devices/{id}/envelopes")
        | ("POST", "/api/v1/devices/{id}/envelope_acks")
        | ("PUT", "/api/v1/devices/{id}/link_request")
        | ("DELETE", "/api/v1/devices/{id}/link_request")
        | ("GET", "/api/v1/devices/{id}/link_response") => OwnDevice,
        ("PATCH", "/api/v1/instance") => InstanceAdmin { refused: 403 },
        ("GET", "/api/v1/invites")
        | ("POST", "/api/v1/invites")
        | ("DELETE", "/api/v1/invites/{id}")
        | ("GET", "/api/v1/audit_events")
        | ("PUT", "/api/v1/users/{id}/role")
        | ("PUT", "/api/v1/users/{id}/suspension")
        | ("DELETE", "/api/v1/users/{id}/suspension") => InstanceAdmin { refused: 404 },
        ("GET", "/api/v1/communities/{id}")
        | ("GET", "/api/v1/communities/{id}/members")
        | ("POST", "/api/v1/communities/{id}/members")
        | ("GET", "/api/v1/communities/{id}/groups")
        | ("GET", "/api/v1/communities/{id}/emoji")
        | ("GET", "/api/v1/channels/{id}")
        | ("GET", "/api/v1/channels/{id}/devices")
        | ("GET", "/api/v1/channels/{id}/messages")
        | ("POST", "/api/v1/channels/{id}/files")
        | ("GET", "/api/v1/files/{id}")
        | ("GET", "/api/v1/files/{id}/thumbnail") => member,
        ("DELETE", "/api/v1/communities/{id}/members/{user_id}")
        | ("GET", "/api/v1/communities/{id}/bans")
        | ("PUT", "/api/v1/communities/{id}/bans/{user_id}")
        | ("DELETE", "/api/v1/communities/{id}/bans/{user_id}")
        | ("GET", "/api/v1/communities/{id}/invites")
        | ("POST", "/api/v1/communities/{id}/invites")
        | ("DELETE", "/api/v1/communities/{id}/invites/{invite_id}")
        | ("PUT", "/api/v1/groups/{id}/members/{user_id}")
        | ("DELETE", "/api/v1/groups/{id}/members/{user_id}")
        | ("PATCH", "/api/v1/channels/{id}") => moderator,
        ("PATCH", "/api/v1/communities/{id}")
        | ("PUT", "/api/v1/communities/{id}/members/{user_id}/role")
        | ("POST", "/api/v1/communities/{id}/groups")
        | ("POST", "/api/v1/communities/{id}/emoji")
        | ("DELETE", "/api/v1/communities/{id}/emoji/{emoji_id}")
        | ("PATCH", "/api/v1/groups/{id}")
        | ("DELETE", "/api/v1/groups/{id}")
        | ("POST", "/api/v1/communities/{id}/channels")
        | ("DELETE", "/api/v1/channels/{id}") => admin,
        ("DELETE", "/api/v1/communities/{id}") => owner,
        _ => return None,
    })
}

fn build() -> World {
    let s = TestServer::start();
    // the instance owner stays out of the community
    let (root, _) = s.register("root");
    let names = [
        (Who::Owner, "owen"),
        (Who::Admin, "ada"),
        (Who::Moderator, "mona"),
        (Who::Member, "mel"),
        (Who::Banned, "bart"),
        (Who::Kicked, "kim"),
        (Who::OtherCommunity, "otto"),
        (Who::Outsider, "zed"),
    ];
    let mut users = Vec::new();
    let mut owner_device = String::new();
    for (who, name) in names {
        let (c, body) = s.register(name);
        let id = body["user"]["id"].as_str().expect("id").to_owned();
        if who == Who::Owner {
            owner_device = body["device_id"].as_str().expect("device").to_owned();
        }
        users.push((who, c, id));
    }
    let get = |w: Who| &users.iter().find(|(x, _, _)| *x == w).expect("user").1;
    let id = |w: Who| {
        users
            .iter()
            .find(|(x, _, _)| *x == w)
            .expect("user")
            .2
            .clone()
    };
    let owner = get(Who::Owner);
    let r = owner.post(
        "/api/v1/communities",
        &json!({"name": "Private", "e2e": false}),
    );
    let community = r.body["id"].as_str().expect("id").to_owned();
    let inv = owner.post(
        &format!("/api/v1/communities/{community}/invites"),
        &json!({}),
    );
    let code = inv.body["code"].as_str().expect("code").to_owned();
    for w in [
        Who::Admin,
        Who::Moderator,
        Who::Member,
        Who::Banned,
        Who::Kicked,
    ] {
        let r = get(w).post("/api/v1/community_joins", &json!({ "code": code }));
        assert_eq!(r.status, 201, "{}", r.text);
    }
    for (w, role) in [(Who::Admin, "admin"), (Who::Moderator, "moderator")] {
        let r = owner.put(
            &format!("/api/v1/communities/{community}/members/{}/role", id(w)),
            &json!({ "role": role }),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    // another community, of its own
    get(Who::OtherCommunity).post("/api/v1/communities", &json!({"name": "Elsewhere"}));
    let channel = owner.get("/api/v1/channels").body["channels"][0]["id"]
        .as_str()
        .expect("channel")
        .to_owned();
    let g = owner.post(
        &format!("/api/v1/communities/{community}/groups"),
        &json!({"name": "Team", "kind": "private"}),
    );
    let group = g.body["id"].as_str().expect("group").to_owned();
    let r = owner.put_empty(&format!(
        "/api/v1/groups/{group}/members/{}",
        id(Who::Member)
    ));
    assert_eq!(r.status, 204, "{}", r.text);
    let inv = owner.post(
        &format!("/api/v1/communities/{community}/invites"),
        &json!({}),
    );
    let invite = inv.body["id"].as_str().expect("invite").to_owned();
    let dm = owner.post("/api/v1/dms", &json!({ "user_ids": [id(Who::Member)] }));
    let dm = dm.body["id"].as_str().expect("dm").to_owned();
    // a picture, so the server makes a thumbnail for the thumbnail route
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(8, 4, image::Rgb([9, 99, 199])))
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    let f = owner.raw(
        "POST",
        &format!("/api/v1/channels/{channel}/files?name=picture.png"),
        &[("content-type", "application/octet-stream")],
        png.into_inner(),
    );
    assert_eq!(f.status, 201, "{}", f.text);
    assert_eq!(f.body["thumbnail"], true, "{}", f.text);
    let file = f.body["id"].as_str().expect("file").to_owned();
    let owner_session = owner.get("/api/v1/sessions").body[0]["id"]
        .as_str()
        .expect("session")
        .to_owned();
    World {
        s,
        root,
        users,
        community,
        channel,
        group,
        invite,
        message: String::new(),
        file,
        dm,
        owner_session,
        owner_device,
    }
}

/// Bans and kicks after the kicked and banned users connected and subscribed, so that the
/// frame matrix also covers sockets that were let in before.
fn remove_bad_actors(w: &World) {
    let owner = w.client(Who::Owner);
    let r = owner.delete(&format!(
        "/api/v1/communities/{}/members/{}",
        w.community,
        w.id(Who::Kicked)
    ));
    assert_eq!(r.status, 204, "{}", r.text);
    let r = owner.put(
        &format!(
            "/api/v1/communities/{}/bans/{}",
            w.community,
            w.id(Who::Banned)
        ),
        &json!({}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
}

#[test]
fn every_route_and_frame_type_is_in_the_matrix_and_holds() {
    // completeness first: no route or frame type without an entry
    let missing: Vec<_> = ROUTES
        .iter()
        .filter(|(m, p)| rule_of(m, p).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a matrix entry: {missing:?}"
    );
    let frame_kinds: BTreeSet<&str> = FRAME_RULES.iter().map(|(k, _)| *k).collect();
    let all_kinds: BTreeSet<&str> = ClientFrame::KINDS.iter().copied().collect();
    assert_eq!(
        frame_kinds, all_kinds,
        "every frame type has a matrix entry"
    );

    let mut w = build();
    // sockets of everyone, subscribed where they may be, before the kick and the ban
    let mut sockets: Vec<(Who, Ws)> = Vec::new();
    for who in EVERYONE {
        let (mut ws, _) = Ws::open(&w.s.base, w.client(who).token());
        if who.rank().is_some() || matches!(who, Who::Kicked | Who::Banned) {
            ws.subscribe(&w.channel, None);
        }
        sockets.push((who, ws));
    }
    let (_, owner_ws) = sockets
        .iter_mut()
        .find(|(x, _)| *x == Who::Owner)
        .expect("owner");
    let ack = owner_ws.send_text_message(&w.channel, "m1", "the original");
    w.message = ack["message_id"].as_str().expect("id").to_owned();
    remove_bad_actors(&w);
    // what was delivered before the removal is theirs; then their subscriptions end
    for (who, ws) in sockets.iter_mut() {
        let got = ws.drain(Duration::from_millis(300));
        if matches!(who, Who::Kicked | Who::Banned) {
            assert!(
                got.iter()
                    .any(|f| f["type"] == "unsubscribed" && f["channel_id"] == w.channel.as_str()),
                "{who:?} is unsubscribed at once: {got:?}"
            );
        }
    }

    let mut checked = 0;
    for (method, pattern) in ROUTES.iter() {
        let rule = rule_of(method, pattern).expect("entry");
        let (path, body) = w.request(method, pattern);
        match rule {
            Rule::Public | Rule::Gateway => {}
            Rule::OwnData
            | Rule::OwnDevice
            | Rule::InstanceAdmin { .. }
            | Rule::Community { .. } => {
                // no token, no answer
                let anon = w.root.with_token(None);
                let r = call(&anon, method, &path, body.as_ref());
                assert_eq!(r.status, 401, "{method} {path} without a token: {}", r.text);
            }
        }
        match rule {
            Rule::InstanceAdmin { refused } => {
                for who in EVERYONE {
                    let r = call(w.client(who), method, &path, body.as_ref());
                    assert_eq!(r.status, refused, "{method} {path} by {who:?}: {}", r.text);
                    checked += 1;
                }
                if *method == "GET" {
                    let r = call(&w.root, method, &path, None);
                    assert_eq!(
                        r.status, 200,
                        "{method} {path} by the instance owner: {}",
                        r.text
                    );
                }
            }
            Rule::Community { min } => {
                for who in EVERYONE {
                    let allowed = who.rank().is_some_and(|r| r >= min);
                    if allowed && *method != "GET" {
                        continue;
                    }
                    let r = call(w.client(who), method, &path, body.as_ref());
                    match who.rank() {
                        None => assert_eq!(
                            r.status, 404,
                            "{method} {path} by {who:?} must not see the object: {}",
                            r.text
                        ),
                        Some(rank) if rank < min => assert_eq!(
                            r.status, 403,
                            "{method} {path} by {who:?} must be refused: {}",
                            r.text
                        ),
                        // allowed: reads are checked to succeed; writes by allowed roles are
                        // exercised in communities.rs, not here where they would change the world
                        Some(_) if *method == "GET" => assert_eq!(
                            r.status, 200,
                            "{method} {path} by {who:?} must be allowed: {}",
                            r.text
                        ),
                        Some(_) => {}
                    }
                    checked += 1;
                }
            }
            Rule::OwnDevice => {
                for who in EVERYONE.into_iter().filter(|x| *x != Who::Owner) {
                    let r = call(w.client(who), method, &path, body.as_ref());
                    assert_eq!(r.status, 403, "{method} {path} by {who:?}: {}", r.text);
                    checked += 1;
                }
            }
            Rule::OwnData if *pattern == "/api/v1/devices/{id}" => {
                // another account's device is invisible: not renamed, not removed
                for who in EVERYONE.into_iter().filter(|x| *x != Who::Owner) {
                    let r = call(w.client(who), method, &path, body.as_ref());
                    assert_eq!(r.status, 404, "{method} {path} by {who:?}: {}", r.text);
                    checked += 1;
                }
            }
            Rule::OwnData if pattern.contains("{id}") && *method == "DELETE" => {
                // someone else's session is invisible
                for who in EVERYONE.into_iter().filter(|x| *x != Who::Owner) {
                    let r = call(w.client(who), method, &path, body.as_ref());
                    if pattern.starts_with("/api/v1/sessions/")
                        || pattern.starts_with("/api/v1/dms/")
                    {
                        assert_eq!(r.status, 404, "{method} {path} by {who:?}: {}", r.text);
                    }
                    checked += 1;
                }
            }
            _ => {}
        }
    }
    // the DM: only its two members read it
    for who in EVERYONE {
        let r = w
            .client(who)
            .get(&format!("/api/v1/channels/{}/messages", w.dm));
        let expected = if matches!(who, Who::Owner | Who::Member) {
            200
        } else {
            404
        };
        assert_eq!(r.status, expected, "DM history by {who:?}");
        let r = w.client(who).patch(
            &format!("/api/v1/channels/{}", w.dm),
            &json!({"topic": "x"}),
        );
        let expected = if matches!(who, Who::Owner | Who::Member) {
            403
        } else {
            404
        };
        assert_eq!(r.status, expected, "DM settings by {who:?}");
        checked += 2;
    }
    // the private group: members outside it see neither it nor its channels
    let gch = w.client(Who::Owner).post(
        &format!("/api/v1/communities/{}/channels", w.community),
        &json!({"name": "team-only", "group_id": w.group, "e2e": false}),
    );
    let gch = gch.body["id"].as_str().expect("id").to_owned();
    let (mel, _) = w.s.register("newbie");
    let code = w.client(Who::Owner).post(
        &format!("/api/v1/communities/{}/invites", w.community),
        &json!({}),
    );
    mel.post(
        "/api/v1/community_joins",
        &json!({"code": code.body["code"]}),
    );
    assert_eq!(mel.get(&format!("/api/v1/channels/{gch}")).status, 404);
    assert_eq!(
        mel.patch(
            &format!("/api/v1/groups/{}", w.group),
            &json!({"position": 1})
        )
        .status,
        404
    );
    assert_eq!(
        w.client(Who::Member)
            .get(&format!("/api/v1/channels/{gch}"))
            .status,
        200
    );

    // the frame matrix: the same people, on the same sockets
    let before = w.s.sql(&format!(
        "SELECT count(*) || ':' || string_agg(coalesce(body_text, ''), '|') FROM messages WHERE channel_id = '{}'",
        w.channel
    ));
    for (kind, rule) in FRAME_RULES {
        for (who, ws) in sockets.iter_mut() {
            if who.rank().is_some() {
                continue;
            }
            checked += 1;
            match rule {
                FrameRule::ChannelObject => {
                    let frame = frame_for(kind, &w);
                    ws.send(&frame);
                    let err = wait_error(ws, kind);
                    assert_eq!(err["code"], "not_found", "{kind} by {who:?}: {err}");
                }
                FrameRule::Harmless => {
                    let frame = frame_for(kind, &w);
                    ws.send(&frame);
                    let got = ws.drain(Duration::from_millis(150));
                    assert!(
                        got.iter()
                            .all(|f| f["type"] != "message_created"
                                && f["type"] != "message_updated"),
                        "{kind} by {who:?} reached channel traffic: {got:?}"
                    );
                }
                FrameRule::Session => {}
            }
        }
    }
    // nothing they sent changed the channel, and the members saw nothing of them
    let after = w.s.sql(&format!(
        "SELECT count(*) || ':' || string_agg(coalesce(body_text, ''), '|') FROM messages WHERE channel_id = '{}'",
        w.channel
    ));
    assert_eq!(before, after);
    let (_, member_ws) = sockets
        .iter_mut()
        .find(|(x, _)| *x == Who::Member)
        .expect("member");
    let seen = member_ws.drain(Duration::from_millis(300));
    for f in &seen {
        let from = f["user_id"].as_str().unwrap_or("");
        assert!(
            ![Who::Outsider, Who::OtherCommunity, Who::Banned, Who::Kicked]
                .iter()
                .any(|x| w.id(*x) == from),
            "a member saw traffic from someone outside: {f}"
        );
    }
    // the authenticate frame: a revoked or forged token gets the socket closed
    let mut forged = Ws::connect(&w.s.base);
    forged.send(&json!({"type": "authenticate", "token": "forged"}));
    assert!(
        forged.ended(Duration::from_secs(3)).is_some(),
        "a forged token is refused"
    );
    println!(
        "authorization matrix: {checked} checks over {} routes and {} frame types",
        ROUTES.len(),
        ClientFrame::KINDS.len()
    );
}

/// How a frame type is protected.
#[derive(Debug, Clone, Copy)]
enum FrameRule {
    /// Acts on a channel or one of its messages: outsiders get `not_found`, and nothing changes.
    ChannelObject,
    /// Touches no one else's object; must not reach any channel the sender cannot read.
    Harmless,
    /// Session control (authenticate, ping): checked separately.
    Session,
}

const FRAME_RULES: &[(&str, FrameRule)] = &[
    ("authenticate", FrameRule::Session),
    ("ping", FrameRule::Session),
    ("subscribe", FrameRule::ChannelObject),
    ("unsubscribe", FrameRule::Harmless),
    ("send_message", FrameRule::ChannelObject),
    ("edit_message", FrameRule::ChannelObject),
    ("delete_message", FrameRule::ChannelObject),
    ("add_reaction", FrameRule::ChannelObject),
    ("remove_reaction", FrameRule::ChannelObject),
    ("start_typing", FrameRule::ChannelObject),
    ("set_presence", FrameRule::Harmless),
    ("mark_read", FrameRule::ChannelObject),
];

fn frame_for(kind: &str, w: &World) -> Value {
    let (c, m) = (&w.channel, &w.message);
    match kind {
        "subscribe" => json!({"type": kind, "channels": [{"channel_id": c, "after_seq": 0}]}),
        "unsubscribe" | "start_typing" => json!({"type": kind, "channel_id": c}),
        "send_message" => json!({"type": kind, "channel_id": c, "nonce": "x1",
            "content": {"kind": "text", "text": "intruder"}}),
        "edit_message" => json!({"type": kind, "channel_id": c, "message_id": m,
            "content": {"kind": "text", "text": "defaced"}}),
        "delete_message" => json!({"type": kind, "channel_id": c, "message_id": m}),
        "add_reaction" | "remove_reaction" => {
            json!({"type": kind, "channel_id": c, "message_id": m, "emoji": "👎"})
        }
        "set_presence" => json!({"type": kind, "presence": "dnd"}),
        "mark_read" => json!({"type": kind, "channel_id": c, "seq": 1}),
        other => panic!("no example frame for {other}"),
    }
}

fn wait_error(ws: &mut Ws, kind: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if let Some(f) = ws.try_recv(Duration::from_millis(100)) {
            if f["type"] == "error" && f["frame"] == kind {
                return f;
            }
            assert_ne!(f["type"], "message_created", "{kind}: {f}");
            assert_ne!(f["type"], "subscribed", "{kind}: {f}");
        }
    }
    panic!("no error for {kind}");
}
