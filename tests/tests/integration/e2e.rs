//! End-to-end encryption through the real server: the key directory, envelopes, DMs between
//! users with two devices each, channels on sender keys, re-keying on removal, and what a
//! hostile server (a test with direct database access) can and cannot do.
use crate::common::TestServer;
use chatalot_crypto::identity::{DeviceIdentity, UserKeyPair};
use chatalot_crypto::x3dh::{OneTimePreKeySecret, PreKeyBundle, SignedPreKeySecret};
use chatalot_protocol::bytes::Base64Bytes;
use chatalot_protocol::ids::{ChannelId, DeviceId, MessageId, UserId};
use chatalot_protocol::ws::{Content, Message};
use chatalot_tests::e2e_client::{text_body, Body, ClientError, Device, Received, Warning};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn ok(d: &Device, method: &str, path: &str, body: Option<&Value>) -> Value {
    let (status, v) = d.api(method, path, body).expect("request");
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    v
}

pub(crate) fn err(
    d: &Device,
    method: &str,
    path: &str,
    body: Option<&Value>,
    status: u16,
    code: &str,
) {
    let (s, v) = d.api(method, path, body).expect("request");
    assert_eq!(
        (s, v["code"].as_str().unwrap_or("")),
        (status, code),
        "{method} {path}: {v}"
    );
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
}

/// A public end-to-end community of `owner`, joined by `others`: its first channel.
pub(crate) fn community(owner: &Device, others: &[&Device]) -> (Uuid, ChannelId) {
    let c = ok(
        owner,
        "POST",
        "/api/v1/communities",
        Some(&json!({"name": "Secret place", "visibility": "public", "e2e": true})),
    );
    let id: Uuid = c["id"].as_str().expect("id").parse().expect("uuid");
    for o in others {
        ok(
            o,
            "POST",
            &format!("/api/v1/communities/{id}/members"),
            None,
        );
    }
    let list = ok(owner, "GET", "/api/v1/channels", None);
    let channel = list["channels"]
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["community_id"] == json!(id.to_string()))
        .expect("general channel");
    (
        id,
        ChannelId(channel["id"].as_str().expect("id").parse().expect("uuid")),
    )
}

pub(crate) fn add_channel(owner: &Device, community: Uuid, name: &str) -> ChannelId {
    let c = ok(
        owner,
        "POST",
        &format!("/api/v1/communities/{community}/channels"),
        Some(&json!({"name": name})),
    );
    ChannelId(c["id"].as_str().expect("id").parse().expect("uuid"))
}

pub(crate) fn open_dm(a: &Device, others: &[UserId]) -> ChannelId {
    let c = ok(
        a,
        "POST",
        "/api/v1/dms",
        Some(&json!({ "user_ids": others })),
    );
    ChannelId(c["id"].as_str().expect("id").parse().expect("uuid"))
}

pub(crate) fn texts(list: &[Result<Received, ClientError>]) -> Vec<String> {
    list.iter()
        .map(|r| match r {
            Ok(Received {
                body: Body::Text(t),
                ..
            }) => t.clone(),
            other => panic!("not a decrypted text: {other:?}"),
        })
        .collect()
}

pub(crate) fn sync_texts(d: &mut Device, channel: ChannelId) -> Vec<String> {
    texts(&d.sync(channel).expect("sync"))
}

pub(crate) fn count(s: &TestServer, table: &str) -> i64 {
    s.sql(&format!("SELECT count(*) FROM {table}"))
        .parse()
        .expect("count")
}

#[test]
fn direct_messages_reach_every_device_of_both_users() {
    let s = TestServer::start();
    let mut a1 = Device::register(&s.base, "alice").expect("alice");
    let mut a2 = a1.add_device().expect("alice 2");
    let mut b1 = Device::register(&s.base, "bob").expect("bob");
    let mut b2 = b1.add_device().expect("bob 2");
    let dm = open_dm(&a1, &[b1.user_id]);

    a1.send_direct(dm, "hello bob").expect("send");
    for d in [&mut b1, &mut b2, &mut a2] {
        assert_eq!(sync_texts(d, dm), ["hello bob"], "{}", d.username);
    }
    // the stored body is one payload with a ciphertext for each of the three other devices
    let stored = s.sql("SELECT encode(body_cipher, 'hex') FROM messages ORDER BY seq LIMIT 1");
    assert!(stored.starts_with("40"), "a direct payload");
    assert_eq!(&stored[34..38], "0003", "three recipient devices");

    // replies and ratchet steps in both directions, from every device
    b2.send_direct(dm, "hi alice, from my phone").expect("send");
    b1.send_direct(dm, "and from my laptop").expect("send");
    for d in [&mut a1, &mut a2] {
        assert_eq!(
            sync_texts(d, dm),
            ["hi alice, from my phone", "and from my laptop"]
        );
    }
    assert_eq!(sync_texts(&mut b1, dm), ["hi alice, from my phone"]);
    assert_eq!(sync_texts(&mut b2, dm), ["and from my laptop"]);
    for i in 0..3 {
        a2.send_direct(dm, &format!("round {i}")).expect("send");
        for d in [&mut a1, &mut b1, &mut b2] {
            assert_eq!(sync_texts(d, dm), [format!("round {i}")]);
        }
        b1.send_direct(dm, &format!("ack {i}")).expect("send");
        for d in [&mut a1, &mut a2, &mut b2] {
            assert_eq!(sync_texts(d, dm), [format!("ack {i}")]);
        }
    }
    assert!(a1.warnings.is_empty(), "{:?}", a1.warnings);
    assert!(b2.warnings.is_empty(), "{:?}", b2.warnings);
}

#[test]
fn channel_messages_use_sender_keys_distributed_in_envelopes() {
    let s = TestServer::start();
    let mut a1 = Device::register(&s.base, "alice").expect("alice");
    let mut a2 = a1.add_device().expect("alice 2");
    let mut b = Device::register(&s.base, "bob").expect("bob");
    let mut c = Device::register(&s.base, "carol").expect("carol");
    let (_, ch) = community(&a1, &[&b, &c]);

    a1.send_channel(ch, "welcome").expect("send");
    // one distribution envelope per other device, queued until fetched
    assert_eq!(count(&s, "envelopes"), 3);
    for d in [&mut a2, &mut b, &mut c] {
        assert_eq!(sync_texts(d, ch), ["welcome"]);
    }
    assert_eq!(
        count(&s, "envelopes"),
        0,
        "acknowledged envelopes are removed"
    );
    // one sender-key ciphertext for everybody
    let stored = s.sql("SELECT encode(body_cipher, 'hex') FROM messages ORDER BY seq LIMIT 1");
    assert!(stored.starts_with("41") && stored[34..].starts_with("08"));

    b.send_channel(ch, "thanks").expect("send");
    c.send_channel(ch, "hi all").expect("send");
    a1.send_channel(ch, "second").expect("send");
    assert_eq!(sync_texts(&mut a2, ch), ["thanks", "hi all", "second"]);
    assert_eq!(sync_texts(&mut a1, ch), ["thanks", "hi all"]);
    assert_eq!(sync_texts(&mut b, ch), ["hi all", "second"]);
    assert_eq!(sync_texts(&mut c, ch), ["thanks", "second"]);
    // no redistribution while membership is unchanged
    let before = count(&s, "envelopes");
    a1.send_channel(ch, "third").expect("send");
    assert_eq!(count(&s, "envelopes"), before);
    assert_eq!(sync_texts(&mut c, ch), ["third"]);
}

#[test]
fn a_removed_member_decrypts_nothing_sent_after_the_removal() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let mut b = Device::register(&s.base, "bob").expect("bob");
    let mut c1 = Device::register(&s.base, "carol").expect("carol");
    let mut c2 = c1.add_device().expect("carol 2");
    let (community_id, ch) = community(&a, &[&b, &c1]);
    a.send_channel(ch, "before").expect("send");
    b.send_channel(ch, "before too").expect("send");
    assert_eq!(sync_texts(&mut c1, ch), ["before", "before too"]);
    assert_eq!(sync_texts(&mut c2, ch), ["before", "before too"]);
    assert_eq!(sync_texts(&mut a, ch), ["before too"]);
    assert_eq!(sync_texts(&mut b, ch), ["before"]);
    let old_key = a.sending_key_id(ch).expect("key");

    // alice (the owner) kicks carol
    let (status, body) = a
        .api(
            "DELETE",
            &format!("/api/v1/communities/{community_id}/members/{}", c1.user_id),
            None,
        )
        .expect("kick");
    assert_eq!(status, 204, "{body:?}");
    a.send_channel(ch, "after").expect("send");
    b.send_channel(ch, "after too").expect("send");
    assert_ne!(a.sending_key_id(ch), Some(old_key), "a new sender key");
    assert_eq!(sync_texts(&mut b, ch), ["after"]);
    assert_eq!(sync_texts(&mut a, ch), ["after too"]);

    // carol's devices got no new key, and even handed the ciphertext they read nothing
    for d in [&mut c1, &mut c2] {
        assert_eq!(d.process_envelopes().expect("envelopes"), 0);
        let (status, _) = d
            .api("GET", &format!("/api/v1/channels/{ch}/messages"), None)
            .expect("request");
        assert_eq!(status, 404, "no access to the channel any more");
    }
    let leaked = b.fetch_all(ch);
    let after: Vec<&Message> = leaked.iter().skip(2).collect();
    assert_eq!(after.len(), 2);
    for m in after {
        for d in [&mut c1, &mut c2] {
            assert_eq!(
                d.decrypt_message(m).map(|r| r.body),
                Err(ClientError::UnknownSenderKey)
            );
        }
    }
    // and the server refuses envelopes about the channel to carol's devices
    let ct = Base64Bytes(vec![6; 10]);
    err(
        &a,
        "POST",
        "/api/v1/envelopes",
        Some(&json!({"envelopes": [{"recipient_device_id": c1.device_id,
            "channel_id": ch, "ciphertext": ct}]})),
        404,
        "not_found",
    );
}

trait FetchAll {
    fn fetch_all(&mut self, ch: ChannelId) -> Vec<Message>;
}

impl FetchAll for Device {
    /// Every message of the channel, from the start (not moving the device's own cursor).
    fn fetch_all(&mut self, ch: ChannelId) -> Vec<Message> {
        let page = ok(
            self,
            "GET",
            &format!("/api/v1/channels/{ch}/messages?after_seq=0&limit=100"),
            None,
        );
        serde_json::from_value(page["messages"].clone()).expect("messages")
    }
}

fn bundle_prekey(v: &Value) -> Option<u32> {
    let b = Base64Bytes(
        chatalot_protocol::bytes::decode(v["bundle"].as_str().expect("bundle")).expect("base64"),
    );
    PreKeyBundle::from_bytes(&b.0)
        .expect("bundle decodes")
        .one_time_prekey
        .map(|k| k.key_id)
}

#[test]
fn each_one_time_prekey_is_served_once_under_concurrent_claims() {
    let s = TestServer::start_with(|c| c.limits.key_claim_burst = 10_000);
    let mut bob = Device::register(&s.base, "bob").expect("bob");
    bob.upload_one_time_prekeys(30).expect("upload");
    assert_eq!(count(&s, "one_time_prekeys"), 50);
    let path = format!("/api/v1/users/{}/key_bundles", bob.user_id);
    // claims need a shared community (or conversation) with bob
    let (place, _) = community(&bob, &[]);
    let join = |c: &crate::common::Client| {
        let r = c.post_empty(&format!("/api/v1/communities/{place}/members"));
        assert_eq!(r.status, 201, "{}", r.text);
    };
    let claimers: Vec<crate::common::Client> = (0..8)
        .map(|i| s.register(&format!("claimer{i}")).0)
        .inspect(join)
        .collect();
    let threads: Vec<_> = claimers
        .into_iter()
        .map(|c| {
            let path = path.clone();
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| {
                        let r = c.post(&path, &json!({}));
                        assert_eq!(r.status, 200, "{}", r.text);
                        bundle_prekey(&r.body["bundles"][0])
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let served: Vec<Option<u32>> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("claimer"))
        .collect();
    assert_eq!(served.len(), 80);
    let keys: Vec<u32> = served.iter().flatten().copied().collect();
    let unique: HashSet<u32> = keys.iter().copied().collect();
    assert_eq!(keys.len(), unique.len(), "no one-time prekey served twice");
    assert_eq!(keys.len(), 50, "every one-time prekey served");
    assert_eq!(count(&s, "one_time_prekeys"), 0);
    // afterwards bundles still come, without a one-time prekey
    let late = s.register("late").0;
    join(&late);
    let r = late.post(&path, &json!({}));
    assert_eq!(bundle_prekey(&r.body["bundles"][0]), None);
}

#[test]
fn bundle_claims_are_rate_limited_per_claimer_and_user() {
    let s = TestServer::start_with(|c| c.limits.key_claim_burst = 5);
    let bob = Device::register(&s.base, "bob").expect("bob");
    let carol = Device::register(&s.base, "carol").expect("carol");
    let (mallory, _) = s.register("mallory");
    let (place, _) = community(&bob, &[&carol]);
    let join = |c: &crate::common::Client| {
        let r = c.post_empty(&format!("/api/v1/communities/{place}/members"));
        assert_eq!(r.status, 201, "{}", r.text);
    };
    join(&mallory);
    let path = format!("/api/v1/users/{}/key_bundles", bob.user_id);
    for _ in 0..5 {
        assert_eq!(mallory.post(&path, &json!({})).status, 200);
    }
    let r = mallory.post(&path, &json!({}));
    r.assert_error(429, "rate_limited");
    assert!(r.headers.get("retry-after").is_some());
    // bob lost only five one-time prekeys; others can still reach him, mallory others
    assert_eq!(count(&s, "one_time_prekeys"), 20 - 5 + 20);
    let (other, _) = s.register("other");
    join(&other);
    assert_eq!(other.post(&path, &json!({})).status, 200);
    let carol_path = format!("/api/v1/users/{}/key_bundles", carol.user_id);
    assert_eq!(mallory.post(&carol_path, &json!({})).status, 200);
}

#[test]
fn bad_input_on_every_key_and_envelope_route_is_refused_and_changes_nothing() {
    let s = TestServer::start();
    let alice = Device::register(&s.base, "alice").expect("alice");
    let bob = Device::register(&s.base, "bob").expect("bob");
    let (community_id, ch) = community(&alice, &[]);
    let tables = ["user_keys", "device_keys", "one_time_prekeys", "envelopes"];
    let snapshot = |s: &TestServer| -> Vec<String> {
        tables
            .iter()
            .map(|t| {
                s.sql(&format!(
                    "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {t} t"
                ))
            })
            .collect()
    };
    // a second device of alice's with a full stock of one-time prekeys
    let alice2 = alice.add_device().expect("alice 2");
    let full: Vec<Base64Bytes> = (3000..3100)
        .map(|id| {
            Base64Bytes(
                OneTimePreKeySecret::generate(&mut rand::rng(), id)
                    .public()
                    .to_bytes(),
            )
        })
        .collect();
    ok(
        &alice2,
        "POST",
        &format!("/api/v1/devices/{}/one_time_prekeys", alice2.device_id),
        Some(&json!({"one_time_prekeys": full})),
    );
    let before = snapshot(&s);
    let me = alice.device_id;
    let b64 = |b: &[u8]| Base64Bytes(b.to_vec());
    let mut rng = rand::rng();

    // keys that verify, to vary one thing at a time
    let cert = alice.certificate();
    let other_ident = DeviceIdentity::generate(&mut rng, [1; 16], *me.0.as_bytes());
    let spk_other_device = SignedPreKeySecret::generate(&mut rng, &other_ident, 9);
    let mut bad_sig = cert.to_bytes();
    bad_sig[150] ^= 1;
    let stranger_key = UserKeyPair::generate(&mut rng, *alice.user_id.0.as_bytes());
    let foreign_cert = stranger_key.certify_device(&other_ident.public_keys());
    let opk = |id: u32| {
        b64(&OneTimePreKeySecret::generate(&mut rand::rng(), id)
            .public()
            .to_bytes())
    };
    let keys_path = format!("/api/v1/devices/{me}/keys");
    let publish = |certificate: Base64Bytes, spk: Base64Bytes, opks: Vec<Base64Bytes>| json!({"certificate": certificate, "signed_prekey": spk, "one_time_prekeys": opks});
    // the current signed prekey, re-sent: valid
    let current_spk = ok(&alice, "GET", &keys_path, None);
    assert_eq!(current_spk["one_time_prekeys"], 20);

    // PUT /devices/{id}/keys
    let valid_spk = b64(&spk_other_device.public().to_bytes());
    err(
        &alice,
        "PUT",
        &format!("/api/v1/devices/{}/keys", bob.device_id),
        Some(&publish(b64(&cert.to_bytes()), valid_spk.clone(), vec![])),
        403,
        "forbidden",
    );
    err(
        &alice,
        "PUT",
        &keys_path,
        Some(&publish(b64(b"nonsense"), valid_spk.clone(), vec![])),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "PUT",
        &keys_path,
        Some(&publish(
            b64(&bob.certificate().to_bytes()),
            valid_spk.clone(),
            vec![],
        )),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "PUT",
        &keys_path,
        Some(&publish(b64(&bad_sig), valid_spk.clone(), vec![])),
        400,
        "invalid_request",
    );
    // a signed prekey signed by another device key
    err(
        &alice,
        "PUT",
        &keys_path,
        Some(&publish(b64(&cert.to_bytes()), valid_spk.clone(), vec![])),
        400,
        "invalid_request",
    );
    // another certificate for the device, signed by a key that is not the user's
    err(
        &alice,
        "PUT",
        &keys_path,
        Some(&publish(
            b64(&foreign_cert.to_bytes()),
            b64(&spk_other_device.public().to_bytes()),
            vec![],
        )),
        409,
        "conflict",
    );
    err(
        &alice,
        "PUT",
        &keys_path,
        Some(&json!({"certificate": b64(&cert.to_bytes())})),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "PUT",
        &keys_path,
        Some(&json!({"certificate": "!!", "signed_prekey": "AA=="})),
        400,
        "invalid_request",
    );

    // PUT /devices/{id}/signed_prekey
    let spk_path = format!("/api/v1/devices/{me}/signed_prekey");
    err(
        &alice,
        "PUT",
        &spk_path,
        Some(&json!({"signed_prekey": valid_spk})),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "PUT",
        &spk_path,
        Some(&json!({"signed_prekey": b64(&[2; 101])})),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "PUT",
        &format!("/api/v1/devices/{}/signed_prekey", bob.device_id),
        Some(&json!({"signed_prekey": valid_spk})),
        403,
        "forbidden",
    );
    let (mallory, _) = s.register("mallory");
    let mallory_device: String = mallory.get("/api/v1/sessions").body[0]["device_id"]
        .as_str()
        .expect("device")
        .into();
    let r = mallory.put(
        &format!("/api/v1/devices/{mallory_device}/signed_prekey"),
        &json!({"signed_prekey": valid_spk}),
    );
    r.assert_error(409, "conflict");

    // POST /devices/{id}/one_time_prekeys
    let opk_path = format!("/api/v1/devices/{me}/one_time_prekeys");
    err(
        &alice,
        "POST",
        &opk_path,
        Some(&json!({"one_time_prekeys": []})),
        400,
        "invalid_request",
    );
    let many: Vec<Base64Bytes> = (1000..1101).map(opk).collect();
    err(
        &alice,
        "POST",
        &opk_path,
        Some(&json!({"one_time_prekeys": many})),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "POST",
        &opk_path,
        Some(&json!({"one_time_prekeys": [opk(5000), opk(5000)]})),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "POST",
        &opk_path,
        Some(&json!({"one_time_prekeys": [b64(&[3; 36])]})),
        400,
        "invalid_request",
    );
    // key id 1 is stored already with another key
    err(
        &alice,
        "POST",
        &opk_path,
        Some(&json!({"one_time_prekeys": [opk(2000), opk(1)]})),
        409,
        "conflict",
    );
    // more than the device may keep
    let full2: Vec<Base64Bytes> = (4000..4100).map(opk).collect();
    err(
        &alice2,
        "POST",
        &format!("/api/v1/devices/{}/one_time_prekeys", alice2.device_id),
        Some(&json!({"one_time_prekeys": full2})),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "POST",
        &format!("/api/v1/devices/{}/one_time_prekeys", alice2.device_id),
        Some(&json!({"one_time_prekeys": [opk(1)]})),
        403,
        "forbidden",
    );

    // POST /users/{id}/key_bundles (alice and bob share a conversation)
    open_dm(&alice, &[bob.user_id]);
    let claim = format!("/api/v1/users/{}/key_bundles", bob.user_id);
    err(
        &alice,
        "POST",
        &claim,
        Some(&json!({"device_ids": []})),
        400,
        "invalid_request",
    );
    let ids: Vec<DeviceId> = (0..17).map(|_| DeviceId::new()).collect();
    err(
        &alice,
        "POST",
        &claim,
        Some(&json!({"device_ids": ids})),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "POST",
        &claim,
        Some(&json!({"device_ids": [alice.device_id]})),
        404,
        "not_found",
    );
    err(
        &alice,
        "POST",
        &format!("/api/v1/users/{}/key_bundles", Uuid::new_v4()),
        Some(&json!({})),
        404,
        "not_found",
    );
    err(
        &alice,
        "POST",
        &claim,
        Some(&json!({"devices": []})),
        400,
        "invalid_request",
    );

    // POST /envelopes
    let env = |to: DeviceId, channel: Option<ChannelId>, ct: Vec<u8>| json!({"recipient_device_id": to, "channel_id": channel, "ciphertext": b64(&ct)});
    let e = |list: Vec<Value>| json!({ "envelopes": list });
    err(
        &alice,
        "POST",
        "/api/v1/envelopes",
        Some(&e(vec![])),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "POST",
        "/api/v1/envelopes",
        Some(&e(vec![env(bob.device_id, None, vec![1]); 101])),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "POST",
        "/api/v1/envelopes",
        Some(&e(vec![env(bob.device_id, None, vec![])])),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "POST",
        "/api/v1/envelopes",
        Some(&e(vec![env(bob.device_id, None, vec![1; 16 * 1024 + 1])])),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "POST",
        "/api/v1/envelopes",
        Some(&e(vec![env(me, None, vec![1])])),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "POST",
        "/api/v1/envelopes",
        Some(&e(vec![
            env(bob.device_id, None, vec![1]),
            env(DeviceId::new(), None, vec![1]),
        ])),
        404,
        "not_found",
    );
    // bob cannot read the channel: no envelope about it to him
    err(
        &alice,
        "POST",
        "/api/v1/envelopes",
        Some(&e(vec![env(bob.device_id, Some(ch), vec![1])])),
        404,
        "not_found",
    );
    err(
        &alice,
        "POST",
        "/api/v1/envelopes",
        Some(&e(vec![env(
            bob.device_id,
            Some(ChannelId::new()),
            vec![1],
        )])),
        404,
        "not_found",
    );
    let r = mallory.post(
        "/api/v1/envelopes",
        &e(vec![env(bob.device_id, None, vec![1])]),
    );
    r.assert_error(409, "conflict");

    // GET /devices/{id}/envelopes and POST /devices/{id}/envelope_acks
    err(
        &alice,
        "GET",
        &format!("/api/v1/devices/{me}/envelopes?limit=0"),
        None,
        400,
        "invalid_request",
    );
    err(
        &alice,
        "GET",
        &format!("/api/v1/devices/{me}/envelopes?limit=101"),
        None,
        400,
        "invalid_request",
    );
    err(
        &alice,
        "GET",
        &format!("/api/v1/devices/{me}/envelopes?after=1"),
        None,
        400,
        "invalid_request",
    );
    err(
        &alice,
        "GET",
        &format!("/api/v1/devices/{}/envelopes", bob.device_id),
        None,
        403,
        "forbidden",
    );
    err(
        &alice,
        "POST",
        &format!("/api/v1/devices/{me}/envelope_acks"),
        Some(&json!({"ids": []})),
        400,
        "invalid_request",
    );
    err(
        &alice,
        "POST",
        &format!("/api/v1/devices/{}/envelope_acks", bob.device_id),
        Some(&json!({"ids": [Uuid::new_v4()]})),
        403,
        "forbidden",
    );

    // GET /users/{id}/devices, /channels/{id}/devices: unknown or invisible
    err(
        &alice,
        "GET",
        &format!("/api/v1/users/{}/devices", Uuid::new_v4()),
        None,
        404,
        "not_found",
    );
    err(
        &bob,
        "GET",
        &format!("/api/v1/channels/{ch}/devices"),
        None,
        404,
        "not_found",
    );
    let _ = community_id;

    assert_eq!(snapshot(&s), before, "no key, prekey or envelope changed");
    // a valid acknowledgement of someone else's envelope id removes nothing
    let r = ok(
        &alice,
        "POST",
        &format!("/api/v1/devices/{me}/envelope_acks"),
        Some(&json!({"ids": [Uuid::new_v4()]})),
    );
    assert_eq!(r["deleted"], 0);
}

#[test]
fn queued_envelopes_reach_an_offline_device_after_reconnect_and_go_after_the_ack() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let mut b1 = Device::register(&s.base, "bob").expect("bob");
    let mut b2 = b1.add_device().expect("bob 2");
    let (place, ch) = community(&a, &[&b1]);
    b1.connect().expect("online");
    // b2 is offline
    a.send_channel(ch, "while you were away").expect("send");
    let queued_for = |d: &Device| {
        s.sql(&format!(
            "SELECT count(*) FROM envelopes WHERE recipient_device_id = '{}'",
            d.device_id
        ))
    };
    assert_eq!(queued_for(&b2), "1");
    // pushed live to the connected device, still queued until acknowledged
    assert_eq!(
        b1.wait_live_envelopes(1, Duration::from_secs(5))
            .expect("live"),
        1
    );
    assert_eq!(queued_for(&b1), "1");
    assert_eq!(sync_texts(&mut b1, ch), ["while you were away"]);
    assert_eq!(queued_for(&b1), "0");

    // fetching without acknowledging keeps it; the device comes back later and gets it
    let path = format!("/api/v1/devices/{}/envelopes", b2.device_id);
    let first = ok(&b2, "GET", &path, None);
    let again = ok(&b2, "GET", &path, None);
    assert_eq!(first["envelopes"].as_array().map(Vec::len), Some(1));
    assert_eq!(first, again);
    b2.connect().expect("back online");
    assert_eq!(sync_texts(&mut b2, ch), ["while you were away"]);
    assert_eq!(queued_for(&b2), "0");
    // a live envelope goes to the connections of its device only, not to the user's others
    ok(
        &a,
        "POST",
        "/api/v1/envelopes",
        Some(&json!({"envelopes": [{"recipient_device_id": b1.device_id, "ciphertext": "AQ=="}]})),
    );
    assert_eq!(
        b1.wait_live_envelopes(1, Duration::from_secs(5))
            .expect("live"),
        1
    );
    assert_eq!(
        b2.wait_live_envelopes(1, Duration::from_millis(500))
            .expect("live"),
        0
    );
    b1.process_envelopes().expect("drain");
    assert_eq!(queued_for(&b1), "0");

    // one sender fills only its share of a queue: the whole send is refused, nothing stored
    b2.disconnect();
    let filler: Vec<Value> = (0..100)
        .map(|_| json!({"recipient_device_id": b2.device_id, "ciphertext": "AQ=="}))
        .collect();
    for _ in 0..5 {
        ok(
            &a,
            "POST",
            "/api/v1/envelopes",
            Some(&json!({ "envelopes": filler })),
        );
    }
    let two = json!({"envelopes": [
        {"recipient_device_id": b1.device_id, "ciphertext": "AQ=="},
        {"recipient_device_id": b2.device_id, "ciphertext": "AQ=="}]});
    err(
        &a,
        "POST",
        "/api/v1/envelopes",
        Some(&two),
        507,
        "queue_full",
    );
    assert_eq!(queued_for(&b2), "500");
    assert_eq!(queued_for(&b1), "0");
    // others still reach it until the queue as a whole is full
    let c = Device::register(&s.base, "carol").expect("carol");
    ok(
        &c,
        "POST",
        &format!("/api/v1/communities/{place}/members"),
        None,
    );
    ok(
        &c,
        "POST",
        "/api/v1/envelopes",
        Some(&json!({ "envelopes": filler })),
    );
    s.sql(&format!(
        "INSERT INTO envelopes (id, recipient_device_id, sender_user_id, sender_device_id, ciphertext) \
         SELECT gen_random_uuid(), '{b2}', '{sender}', '{dev}', '\\x01' FROM generate_series(1, 4400)",
        b2 = b2.device_id,
        sender = a.user_id,
        dev = a.device_id
    ));
    err(
        &c,
        "POST",
        "/api/v1/envelopes",
        Some(&json!({ "envelopes": filler })),
        507,
        "queue_full",
    );
    assert_eq!(queued_for(&b2), "5000");
    // the device drains it (the junk is refused by the client and acknowledged)
    b2.process_envelopes().expect("drain");
    assert_eq!(queued_for(&b2), "0");
}

/// Inserts a device for `user` straight into the database with this certificate and prekey.
fn inject_device(s: &TestServer, user: UserId, ident: &DeviceIdentity, cert: &[u8]) -> DeviceId {
    let device = DeviceId(Uuid::from_bytes(ident.device_id()));
    let spk = SignedPreKeySecret::generate(&mut rand::rng(), ident, 1).public();
    s.sql(&format!(
        "INSERT INTO devices (id, user_id, name, secret_hash) VALUES ('{device}', '{user}', 'x', '\\x00');
         INSERT INTO device_keys (device_id, user_id, certificate, spk_id, spk_public, spk_signature)
         VALUES ('{device}', '{user}', '\\x{}', 1, '\\x{}', '\\x{}')",
        hex(cert),
        hex(&spk.public_key),
        hex(&spk.signature)
    ));
    device
}

#[test]
fn a_device_the_server_injects_is_flagged_and_receives_nothing() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let b = Device::register(&s.base, "bob").expect("bob");
    let dm = open_dm(&a, &[b.user_id]);
    // alice knows bob's key (verified safety number, or first use)
    a.pin(b.user_id, b.user_key());
    let mut rng = rand::rng();
    // a device certified by a key the server made up, and one with a forged signature
    let fake_user_key = UserKeyPair::generate(&mut rng, *b.user_id.0.as_bytes());
    let ident1 = DeviceIdentity::generate(
        &mut rng,
        *b.user_id.0.as_bytes(),
        *Uuid::now_v7().as_bytes(),
    );
    let injected1 = inject_device(
        &s,
        b.user_id,
        &ident1,
        &fake_user_key
            .certify_device(&ident1.public_keys())
            .to_bytes(),
    );
    let ident2 = DeviceIdentity::generate(
        &mut rng,
        *b.user_id.0.as_bytes(),
        *Uuid::now_v7().as_bytes(),
    );
    let mut forged = fake_user_key.certify_device(&ident2.public_keys());
    forged.user_key = b.user_key();
    let injected2 = inject_device(&s, b.user_id, &ident2, &forged.to_bytes());

    let listed = a.user_devices(b.user_id).expect("devices");
    assert_eq!(listed, [b.device_id], "only bob's real device is trusted");
    let payload = a
        .encrypt_direct(dm, &text_body("for bob only"))
        .expect("encrypt");
    let recipients = u16::from_be_bytes([payload[17], payload[18]]);
    assert_eq!(recipients, 1, "nothing for the injected devices");
    for injected in [injected1, injected2] {
        assert!(
            a.warnings.iter().any(
                |w| matches!(w, Warning::UntrustedDevice { device, .. } if *device == injected)
            ),
            "flagged: {:?}",
            a.warnings
        );
        assert!(!a.has_session(injected));
    }
    // the same holds for the server swapping the user key it hands out
    s.sql(&format!(
        "UPDATE user_keys SET public_key = '\\x{}' WHERE user_id = '{}'",
        hex(&fake_user_key.public_key()),
        b.user_id
    ));
    a.user_devices(b.user_id).expect("devices");
    assert!(a
        .warnings
        .contains(&Warning::UserKeyChanged { user: b.user_id }));
}

#[test]
fn a_swapped_prekey_bundle_is_refused() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let b = Device::register(&s.base, "bob").expect("bob");
    let m = Device::register(&s.base, "mallory").expect("mallory");
    let dm = open_dm(&a, &[b.user_id]);
    a.pin(b.user_id, b.user_key());
    // the server serves mallory's (validly signed) prekey in bob's bundle
    s.sql(&format!(
        "UPDATE device_keys SET (spk_id, spk_public, spk_signature) =
           (SELECT spk_id, spk_public, spk_signature FROM device_keys WHERE device_id = '{}')
         WHERE device_id = '{}'",
        m.device_id, b.device_id
    ));
    let payload = a.encrypt_direct(dm, &text_body("hello")).expect("encrypt");
    assert_eq!(u16::from_be_bytes([payload[17], payload[18]]), 0);
    assert!(!a.has_session(b.device_id));
    assert!(
        a.warnings
            .iter()
            .any(|w| matches!(w, Warning::BadBundle { device, reason, .. }
        if *device == b.device_id && reason.contains("BadSignature"))),
        "{:?}",
        a.warnings
    );

    // the certificate swapped for mallory's: refused too
    let mut a2 = a.add_device().expect("alice 2");
    a2.pin(b.user_id, b.user_key());
    s.sql(&format!(
        "UPDATE device_keys SET certificate = (SELECT certificate FROM device_keys WHERE device_id = '{}')
         WHERE device_id = '{}'",
        m.device_id, b.device_id
    ));
    assert!(a2.user_devices(b.user_id).expect("devices").is_empty());

    // a one-time prekey swapped (it is not signed): bob refuses the first message instead of
    // reading something he cannot authenticate
    let s2 = TestServer::start();
    let mut a = Device::register(&s2.base, "alice").expect("alice");
    let mut b = Device::register(&s2.base, "bob").expect("bob");
    let dm = open_dm(&a, &[b.user_id]);
    let fake = OneTimePreKeySecret::generate(&mut rand::rng(), 1).public();
    s2.sql(&format!(
        "UPDATE one_time_prekeys SET public_key = '\\x{}' WHERE device_id = '{}'",
        hex(&fake.public_key),
        b.device_id
    ));
    a.send_direct(dm, "swapped").expect("send");
    let got = b.sync(dm).expect("sync");
    assert_eq!(got.len(), 1);
    assert!(matches!(got[0], Err(ClientError::Crypto(_))), "{got:?}");
}

#[test]
fn replayed_or_cross_channel_envelopes_and_messages_are_refused() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let mut b = Device::register(&s.base, "bob").expect("bob");
    let (community_id, ch_a) = community(&a, &[&b]);
    let ch_b = add_channel(&a, community_id, "other");

    // a legitimate distribution for channel B, kept by the "server" for a replay later
    a.send_channel(ch_b, "b1").expect("send");
    let captured = s.sql("SELECT id || ' ' || encode(ciphertext, 'hex') FROM envelopes");
    let (_, ct_hex) = captured.split_once(' ').expect("one envelope");
    assert_eq!(sync_texts(&mut b, ch_b), ["b1"]);

    // the distribution for channel A, moved by the server into channel B
    a.prepare_sender_key(ch_a).expect("distribute");
    s.sql(&format!("UPDATE envelopes SET channel_id = '{ch_b}'"));
    assert_eq!(b.process_envelopes().expect("envelopes"), 0);
    assert!(
        b.warnings
            .iter()
            .any(|w| matches!(w, Warning::Rejected { reason, .. } if reason == "ChannelMismatch")),
        "{:?}",
        b.warnings
    );
    assert_eq!(b.sender_keys_held(ch_a), 0);
    assert_eq!(b.sender_keys_held(ch_b), 1);

    // the old distribution replayed as a new envelope
    s.sql(&format!(
        "INSERT INTO envelopes (id, recipient_device_id, sender_user_id, sender_device_id, channel_id, ciphertext)
         VALUES ('{}', '{}', '{}', '{}', '{ch_b}', '\\x{ct_hex}')",
        Uuid::now_v7(), b.device_id, a.user_id, a.device_id
    ));
    assert_eq!(b.process_envelopes().expect("envelopes"), 0);
    assert!(
        b.warnings
            .iter()
            .any(|w| matches!(w, Warning::Rejected { reason, .. } if reason.contains("Duplicate"))),
        "{:?}",
        b.warnings
    );

    // a channel message replayed in its channel and into another one
    let original: MessageId = MessageId(
        s.sql(&format!("SELECT id FROM messages WHERE channel_id = '{ch_b}' AND body_cipher IS NOT NULL ORDER BY seq LIMIT 1"))
            .parse()
            .expect("id"),
    );
    for target in [ch_b, ch_a] {
        s.sql(&format!(
            "WITH c AS (UPDATE channels SET last_seq = last_seq + 1 WHERE id = '{target}' RETURNING last_seq)
             INSERT INTO messages (id, channel_id, seq, updated_seq, sender_id, sender_device_id, nonce, body_cipher)
             SELECT '{}', '{target}', c.last_seq, c.last_seq, sender_id, sender_device_id, 'replay', body_cipher
             FROM messages, c WHERE messages.id = '{original}'",
            Uuid::now_v7()
        ));
    }
    let replayed = b.sync(ch_b).expect("sync");
    assert_eq!(replayed.len(), 1);
    assert!(
        matches!(
            replayed[0],
            Err(ClientError::Crypto(chatalot_crypto::CryptoError::Duplicate))
        ),
        "{replayed:?}"
    );
    let moved = b.sync(ch_a).expect("sync");
    assert_eq!(moved.len(), 1);
    assert!(moved[0].is_err(), "{moved:?}");

    // nothing was corrupted: new messages still decrypt
    a.send_channel(ch_b, "b2").expect("send");
    assert_eq!(sync_texts(&mut b, ch_b), ["b2"]);
}

/// Every file under `dir` whose bytes contain one of `needles`.
pub(crate) fn files_containing(dir: &std::path::Path, needles: &[Vec<u8>]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if needles.iter().any(|n| contains(&bytes, n)) {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
    hits
}

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    hay.iter()
        .enumerate()
        .any(|(i, b)| *b == first && hay[i..].starts_with(needle))
}

#[test]
fn canaries_never_reach_the_database_the_logs_or_the_files() {
    let log_path = std::env::temp_dir().join(format!("chatalot-canary-{}.log", Uuid::new_v4()));
    let log = std::fs::File::create(&log_path).expect("log file");
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_writer(std::sync::Mutex::new(log))
        .with_ansi(false)
        .init();
    let s = TestServer::start_with(|c| c.log.level = "trace".into());
    let canary = |what: &str| format!("CANARY-{what}-{}", Uuid::new_v4().simple());
    let (dm_text, ch_text, file_text, file_name) = (
        canary("dm"),
        canary("channel"),
        canary("file"),
        canary("name"),
    );

    let mut a1 = Device::register(&s.base, "alice").expect("alice");
    let mut a2 = a1.add_device().expect("alice 2");
    let mut b = Device::register(&s.base, "bob").expect("bob");
    let dm = open_dm(&a1, &[b.user_id]);
    let (_, ch) = community(&a1, &[&b]);
    a1.send_direct(dm, &dm_text).expect("dm");
    a1.send_channel(ch, &ch_text).expect("channel");
    let mut file = file_text.clone().into_bytes();
    file.extend(std::iter::repeat_n(b'.', 3000));
    a1.send_attachment(ch, false, &file_name, "text/plain", &file)
        .expect("attachment");
    a1.send_attachment(dm, true, &file_name, "text/plain", &file)
        .expect("attachment");
    // and through the file store, named by their messages (docs/e2e.md 19)
    a1.send_file(ch, false, &file_name, "text/plain", &file)
        .expect("file");
    a1.send_file(dm, true, &file_name, "text/plain", &file)
        .expect("file");

    // the canaries did travel
    let got = b.sync(dm).expect("sync");
    assert!(matches!(&got[0], Ok(Received { body: Body::Text(t), .. }) if *t == dm_text));
    let got = b.sync(ch).expect("sync");
    assert!(matches!(&got[0], Ok(Received { body: Body::Text(t), .. }) if *t == ch_text));
    for i in [1, 2] {
        assert!(
            matches!(&got[i], Ok(Received { body: Body::Attachment { name, data, .. }, .. })
            if *name == file_name && *data == file),
            "{got:?}"
        );
    }
    let got = a2.sync(dm).expect("sync");
    for i in [1, 2] {
        assert!(
            matches!(&got[i], Ok(Received { body: Body::Attachment { name, data, .. }, .. })
            if *name == file_name && *data == file),
            "{got:?}"
        );
    }
    assert_eq!(
        s.sql("SELECT count(*) FROM files WHERE message_id IS NOT NULL"),
        "2"
    );

    // the search finds a canary where there is one
    let control = std::env::temp_dir().join(format!("chatalot-canary-control-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&control).expect("control dir");
    std::fs::write(
        control.join("f"),
        format!("..{}..", hex(file_name.as_bytes())),
    )
    .expect("write");
    let found = files_containing(&control, &[hex(file_name.as_bytes()).into_bytes()]);
    assert_eq!(found.len(), 1);
    let _ = std::fs::remove_dir_all(&control);

    // the key backup (which archives the DM bodies) and the secret storage are opaque too, and
    // a device restored from the recovery key reads what the first one sent
    let recovery = a1.recovery_key().expect("recovery key");
    assert!(a1.back_up().expect("backup") >= 1);
    let mut a3 = Device::restore(&s.base, "alice", a1.password(), &recovery).expect("restore");
    let got = a3.sync(dm).expect("sync");
    assert!(matches!(&got[0], Ok(Received { body: Body::Text(t), .. }) if *t == dm_text));
    assert!(count(&s, "key_backup_chunks") >= 1);
    assert_eq!(count(&s, "secret_storage"), 2, "alice's and bob's");

    s.sql("CHECKPOINT");
    let needles: Vec<Vec<u8>> = [&dm_text, &ch_text, &file_text, &file_name, &recovery]
        .iter()
        .flat_map(|c| [c.as_bytes().to_vec(), hex(c.as_bytes()).into_bytes()])
        .chain(a1.account_secrets())
        .collect();
    let dump = s.pg_dump();
    assert!(
        contains(&dump, b"COPY public.messages"),
        "the dump has the messages"
    );
    for n in &needles {
        assert!(!contains(&dump, n), "database dump contains a canary");
    }
    let logged = std::fs::read(&log_path).expect("log");
    assert!(!logged.is_empty(), "the server logged something");
    for n in &needles {
        assert!(!contains(&logged, n), "server log contains a canary");
    }
    assert_eq!(
        files_containing(s.data_dir(), &needles),
        Vec::<String>::new()
    );
    let cluster = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pg");
    assert_eq!(files_containing(&cluster, &needles), Vec::<String>::new());
    let _ = std::fs::remove_file(&log_path);
}

#[test]
fn client_encrypt_and_decrypt_cost_per_message() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let mut b = Device::register(&s.base, "bob").expect("bob");
    let dm = open_dm(&a, &[b.user_id]);
    let (_, ch) = community(&a, &[&b]);
    // sessions and sender keys in place
    a.send_direct(dm, "setup").expect("send");
    b.sync(dm).expect("sync");
    b.send_direct(dm, "setup reply").expect("send");
    a.sync(dm).expect("sync");
    a.prepare_sender_key(ch).expect("distribute");
    b.process_envelopes().expect("envelopes");
    let body = text_body(&"x".repeat(200));
    let n = 300;
    let sender = a.user_id;
    let message = |channel: ChannelId, bytes: Vec<u8>| Message {
        id: MessageId::new(),
        channel_id: channel,
        seq: 1,
        updated_seq: 1,
        sender_id: Some(sender),
        content: Some(Content::Encrypted {
            ciphertext: Base64Bytes(bytes),
        }),
        reply_to: None,
        created_at: time::OffsetDateTime::now_utc(),
        edited_at: None,
        deleted: false,
        reactions: vec![],
        files: vec![],
        attachments: vec![],
    };
    let mut report = Vec::new();
    for (kind, channel) in [
        ("dm (1 recipient device)", dm),
        ("channel (sender key)", ch),
    ] {
        let t = Instant::now();
        let payloads: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                if kind.starts_with("dm") {
                    a.encrypt_direct_for(channel, &[b.device_id], &body)
                } else {
                    a.encrypt_channel(channel, &body)
                }
                .expect("encrypt")
            })
            .collect();
        let enc = t.elapsed() / n;
        let msgs: Vec<Message> = payloads.into_iter().map(|p| message(channel, p)).collect();
        let t = Instant::now();
        for m in &msgs {
            b.decrypt_message(m).expect("decrypt");
        }
        let dec = t.elapsed() / n;
        report.push(format!(
            "{kind}: encrypt {enc:?}, decrypt {dec:?} per 200-byte message"
        ));
        assert!(
            enc < Duration::from_millis(20) && dec < Duration::from_millis(20),
            "{report:?}"
        );
    }
    eprintln!("client crypto cost: {}", report.join("; "));
}

#[test]
fn a_rotated_signed_prekey_still_answers_first_messages_in_flight() {
    let s = TestServer::start();
    let mut a1 = Device::register(&s.base, "alice").expect("alice");
    let mut b = Device::register(&s.base, "bob").expect("bob");
    let dm = open_dm(&a1, &[b.user_id]);
    a1.send_direct(dm, "sent against the old prekey")
        .expect("send");
    let status = b.rotate_signed_prekey().expect("rotate");
    assert_eq!(status["signed_prekey_id"], 2);
    let path = format!("/api/v1/devices/{}/keys", b.device_id);
    assert_eq!(ok(&b, "GET", &path, None)["signed_prekey_id"], 2);
    // a device that starts now gets the new prekey
    let mut a2 = a1.add_device().expect("alice 2");
    a2.send_direct(dm, "sent against the new prekey")
        .expect("send");
    assert_eq!(
        sync_texts(&mut b, dm),
        ["sent against the old prekey", "sent against the new prekey"]
    );
    assert_eq!(sync_texts(&mut a1, dm), ["sent against the new prekey"]);
}

#[test]
fn a_member_the_server_adds_is_flagged_before_the_next_send() {
    let s = TestServer::start();
    let mut a = Device::register(&s.base, "alice").expect("alice");
    let mut b = Device::register(&s.base, "bob").expect("bob");
    let mallory = Device::register(&s.base, "mallory").expect("mallory");
    let (community_id, ch) = community(&a, &[&b]);
    a.send_channel(ch, "just us").expect("send");
    assert_eq!(sync_texts(&mut b, ch), ["just us"]);
    // the server (or anyone with the database) adds a member nobody invited
    s.sql(&format!(
        "INSERT INTO community_members (community_id, user_id) VALUES ('{community_id}', '{}')",
        mallory.user_id
    ));
    a.send_channel(ch, "still us?").expect("send");
    assert!(
        a.warnings.contains(&Warning::MemberAdded {
            channel: ch,
            user: mallory.user_id
        }),
        "the new reader is flagged: {:?}",
        a.warnings
    );
    // flagged once, and nobody else is
    a.send_channel(ch, "again").expect("send");
    let flags: Vec<&Warning> = a
        .warnings
        .iter()
        .filter(|w| matches!(w, Warning::MemberAdded { .. }))
        .collect();
    assert_eq!(flags.len(), 1, "{flags:?}");
}

#[test]
fn strangers_and_blocked_users_reach_no_device_queue_or_prekey_stock() {
    let s = TestServer::start();
    let bob = Device::register(&s.base, "bob").expect("bob");
    let mallory = Device::register(&s.base, "mallory").expect("mallory");
    let loose =
        json!({"envelopes": [{"recipient_device_id": bob.device_id, "ciphertext": "AQ=="}]});
    let claim = format!("/api/v1/users/{}/key_bundles", bob.user_id);
    // a stranger: no envelope outside a channel, no prekeys
    err(
        &mallory,
        "POST",
        "/api/v1/envelopes",
        Some(&loose),
        403,
        "forbidden",
    );
    err(&mallory, "POST", &claim, Some(&json!({})), 403, "forbidden");
    // a DM the stranger opened is a request: it carries the keys of its messages, and lets
    // the stranger claim prekeys for them, but is not yet a relationship bob accepted
    let dm = open_dm(&mallory, &[bob.user_id]);
    let in_dm = json!({"envelopes": [{"recipient_device_id": bob.device_id, "channel_id": dm, "ciphertext": "AQ=="}]});
    ok(&mallory, "POST", "/api/v1/envelopes", Some(&in_dm));
    ok(&mallory, "POST", &claim, Some(&json!({})));
    err(
        &mallory,
        "POST",
        "/api/v1/envelopes",
        Some(&loose),
        403,
        "forbidden",
    );
    // bob answers: now it is
    let mut bob = bob;
    bob.send_direct(dm, "hello?").expect("bob answers");
    ok(&mallory, "POST", "/api/v1/envelopes", Some(&loose));
    // once bob blocks mallory, nothing from mallory reaches him
    ok(
        &bob,
        "PUT",
        &format!("/api/v1/users/me/blocks/{}", mallory.user_id),
        None,
    );
    let queued = |s: &TestServer| count(s, "envelopes");
    let before = queued(&s);
    err(
        &mallory,
        "POST",
        "/api/v1/envelopes",
        Some(&loose),
        403,
        "forbidden",
    );
    err(
        &mallory,
        "POST",
        "/api/v1/envelopes",
        Some(&in_dm),
        403,
        "forbidden",
    );
    err(&mallory, "POST", &claim, Some(&json!({})), 403, "forbidden");
    assert_eq!(queued(&s), before);
}
