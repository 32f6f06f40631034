//! Deterministic known-answer vector generation, shared by `examples/gen_vectors.rs`
//! (writes the files) and `tests/vectors.rs` (regenerates in memory and compares).
//!
//! All randomness comes from seeded `TestRng`s wrapped in a recorder, and every draw is
//! written into the vector (`rng_draws`), so an implementation with its own RNG can
//! replay the exact bytes through a queue RNG.

#![allow(dead_code)]

use std::convert::Infallible;

use chatalot_crypto::app::{
    text_body, AttachmentBody, Body, ChannelPayload, DirectPayload, DirectPlaintext,
    DirectRecipient, EnvelopePlaintext, FileBody, LinkTextBody, Payload, ENVELOPE_KIND_SENDER_KEY,
};
use chatalot_crypto::attachment::{encrypt_attachment_with_key, AttachmentPointer};
use chatalot_crypto::fingerprint::{Fingerprint, SafetyNumber};
use chatalot_crypto::identity::{DeviceCertificate, DeviceIdentity, UserKeyPair};
use chatalot_crypto::limits::{
    MAX_ATTACHMENT_SIZE, MAX_BODY_LEN, MAX_DIRECT_RECIPIENTS, MAX_FILE_NAME_LEN,
    MAX_LINK_DESCRIPTION_LEN, MAX_LINK_SITE_NAME_LEN, MAX_LINK_TITLE_LEN, MAX_LINK_URL_LEN,
    MAX_MIME_TYPE_LEN, MAX_PAIRWISE_MESSAGE_LEN, SENDER_KEY_ROTATE_AFTER,
};
use chatalot_crypto::ratchet::{PreKeyMessage, Session};
use chatalot_crypto::sender_key::{SenderKeyReceiver, SenderKeySender};
use chatalot_crypto::x3dh::{self, OneTimePreKeySecret, PreKeyBundle, SignedPreKeySecret};
use chatalot_crypto::CryptoError;
use rand_core::{TryCryptoRng, TryRng};
use zeroize::Zeroizing;

use crate::test_rng::TestRng;

/// Minimal deterministic JSON value (objects keep insertion order).
pub enum Json {
    Obj(Vec<(String, Json)>),
    Arr(Vec<Json>),
    Str(String),
    Num(u64),
    Null,
}

impl Json {
    fn render(&self, indent: usize, out: &mut String) {
        let pad = "  ".repeat(indent + 1);
        let end = "  ".repeat(indent);
        match self {
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Obj(fields) => {
                out.push_str("{\n");
                for (i, (k, v)) in fields.iter().enumerate() {
                    out.push_str(&pad);
                    out.push_str(&format!("{k:?}: "));
                    v.render(indent + 1, out);
                    if i + 1 < fields.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&end);
                out.push('}');
            }
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Arr(items) => {
                out.push_str("[\n");
                for (i, v) in items.iter().enumerate() {
                    out.push_str(&pad);
                    v.render(indent + 1, out);
                    if i + 1 < items.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&end);
                out.push(']');
            }
            // Only ASCII strings without quotes/backslashes are produced here.
            Json::Str(s) => {
                assert!(s
                    .bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'));
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            Json::Num(n) => out.push_str(&n.to_string()),
            Json::Null => out.push_str("null"),
        }
    }

    pub fn to_pretty(&self) -> String {
        let mut s = String::new();
        self.render(0, &mut s);
        s.push('\n');
        s
    }
}

fn h(bytes: &[u8]) -> Json {
    Json::Str(hex::encode(bytes))
}
fn s(text: &str) -> Json {
    Json::Str(text.to_string())
}
fn n(v: u64) -> Json {
    Json::Num(v)
}
fn obj(fields: Vec<(&str, Json)>) -> Json {
    Json::Obj(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}
fn err(e: CryptoError) -> Json {
    s(e.code())
}

/// Records every draw made through it.
pub struct RecordingRng {
    inner: TestRng,
    draws: Vec<Vec<u8>>,
}

impl RecordingRng {
    pub fn new(seed: u64) -> Self {
        RecordingRng {
            inner: TestRng::new(seed),
            draws: Vec::new(),
        }
    }
    /// Returns and clears the draws recorded since the last call.
    pub fn take(&mut self) -> Json {
        Json::Arr(self.draws.drain(..).map(|d| h(&d)).collect())
    }
}

impl TryRng for RecordingRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.try_fill_bytes(dst)?;
        self.draws.push(dst.to_vec());
        Ok(())
    }
}
impl TryCryptoRng for RecordingRng {}

/// A party with user key, device identity and certificate, plus the JSON of its inputs.
pub struct Party {
    pub user: UserKeyPair,
    pub device: DeviceIdentity,
    pub cert: DeviceCertificate,
}

fn party(rng: &mut RecordingRng, user_id: [u8; 16], device_id: [u8; 16]) -> (Party, Json) {
    let user = UserKeyPair::generate(rng, user_id);
    let user_draws = rng.take();
    let device = DeviceIdentity::generate(rng, user_id, device_id);
    let device_draws = rng.take();
    let cert = user.certify_device(&device.public_keys());
    let pk = device.public_keys();
    let json = obj(vec![
        ("user_id", h(&user_id)),
        ("device_id", h(&device_id)),
        ("user_key_rng_draws", user_draws),
        ("device_rng_draws", device_draws),
        ("user_key_public", h(&user.public_key())),
        ("device_signing_public", h(&pk.signing_key)),
        ("device_dh_public", h(&pk.dh_key)),
        ("device_certificate", h(&cert.to_bytes())),
        ("user_key_secret_encoding", h(&user.to_bytes())),
        ("device_identity_secret_encoding", h(&device.to_bytes())),
    ]);
    (Party { user, device, cert }, json)
}

fn id(b: u8) -> [u8; 16] {
    let mut x = [0u8; 16];
    for (i, v) in x.iter_mut().enumerate() {
        *v = b.wrapping_mul(16).wrapping_add(i as u8);
    }
    x
}

pub fn identity() -> Json {
    let mut rng = RecordingRng::new(0x1d);
    let (alice, alice_json) = party(&mut rng, id(1), id(2));
    let (mallory, mallory_json) = party(&mut rng, id(3), id(4));
    let mut invalid = Vec::new();
    // Signed by a user key other than the trusted one.
    let forged = mallory.user.certify_device(&alice.device.public_keys());
    invalid.push(obj(vec![
        ("description", s("device certified by another user key")),
        ("certificate", h(&forged.to_bytes())),
        ("trusted_user_key", h(&alice.user.public_key())),
        (
            "error",
            err(forged
                .verify(&alice.user.public_key())
                .expect_err("must fail")),
        ),
    ]));
    let mut swapped = forged;
    swapped.user_key = alice.user.public_key();
    invalid.push(obj(vec![
        (
            "description",
            s("claims the trusted user key, signed by another"),
        ),
        ("certificate", h(&swapped.to_bytes())),
        ("trusted_user_key", h(&alice.user.public_key())),
        (
            "error",
            err(swapped
                .verify(&alice.user.public_key())
                .expect_err("must fail")),
        ),
    ]));
    let mut tampered = alice.cert;
    tampered.device_dh_key[0] ^= 1;
    invalid.push(obj(vec![
        ("description", s("device X25519 key changed after signing")),
        ("certificate", h(&tampered.to_bytes())),
        ("trusted_user_key", h(&alice.user.public_key())),
        (
            "error",
            err(tampered
                .verify(&alice.user.public_key())
                .expect_err("must fail")),
        ),
    ]));
    let mut bytes = alice.cert.to_bytes();
    bytes.push(0);
    invalid.push(obj(vec![
        ("description", s("trailing byte")),
        ("certificate", h(&bytes)),
        ("trusted_user_key", h(&alice.user.public_key())),
        (
            "error",
            err(DeviceCertificate::from_bytes(&bytes).expect_err("must fail")),
        ),
    ]));
    obj(vec![
        ("description", s("User keys, device identities and device certificates. Inputs are the RNG draws: user key = Ed25519 seed; device = Ed25519 seed then X25519 secret.")),
        ("valid", Json::Arr(vec![alice_json, mallory_json])),
        ("invalid_certificates", Json::Arr(invalid)),
    ])
}

struct Bob {
    party: Party,
    spk: SignedPreKeySecret,
    opk: OneTimePreKeySecret,
    json: Vec<(&'static str, Json)>,
}

fn bob(rng: &mut RecordingRng) -> Bob {
    let (party, pj) = party(rng, id(6), id(7));
    let spk = SignedPreKeySecret::generate(rng, &party.device, 0x0102_0304);
    let spk_draws = rng.take();
    let opk = OneTimePreKeySecret::generate(rng, 77);
    let opk_draws = rng.take();
    let json = vec![
        ("bob", pj),
        (
            "signed_prekey",
            obj(vec![
                ("key_id", n(u64::from(spk.key_id()))),
                ("rng_draws", spk_draws),
                ("public_encoding", h(&spk.public().to_bytes())),
                ("secret_encoding", h(&spk.to_bytes())),
            ]),
        ),
        (
            "one_time_prekey",
            obj(vec![
                ("key_id", n(u64::from(opk.key_id()))),
                ("rng_draws", opk_draws),
                ("public_encoding", h(&opk.public().to_bytes())),
                ("secret_encoding", h(&opk.to_bytes())),
            ]),
        ),
    ];
    Bob {
        party,
        spk,
        opk,
        json,
    }
}

pub fn x3dh() -> Json {
    let mut cases = Vec::new();
    for (seed, with_opk) in [(0x3d01u64, true), (0x3d02, false)] {
        let mut rng = RecordingRng::new(seed);
        let (alice, aj) = party(&mut rng, id(1), id(2));
        let b = bob(&mut rng);
        let bundle = PreKeyBundle {
            certificate: b.party.cert,
            signed_prekey: b.spk.public(),
            one_time_prekey: with_opk.then(|| b.opk.public()),
        };
        let init = x3dh::initiate(
            &mut rng,
            &alice.device,
            &alice.cert,
            &bundle,
            &b.party.user.public_key(),
        )
        .expect("initiate");
        let eph = rng.take();
        let resp = x3dh::respond(
            &b.party.device,
            &b.party.cert,
            &b.spk,
            with_opk.then_some(&b.opk),
            &init.header,
            &alice.user.public_key(),
        )
        .expect("respond");
        assert_eq!(*init.output.shared_secret, *resp.shared_secret);
        let mut fields = vec![
            (
                "description",
                s(if with_opk {
                    "with one-time prekey"
                } else {
                    "without one-time prekey"
                }),
            ),
            ("alice", aj),
        ];
        fields.extend(b.json);
        fields.extend(vec![
            ("bundle", h(&bundle.to_bytes())),
            ("alice_ephemeral_rng_draws", eph),
            ("alice_ephemeral_public", h(&init.header.ephemeral_key)),
            ("shared_secret", h(init.output.shared_secret.as_ref())),
            ("associated_data", h(&init.output.associated_data)),
        ]);
        cases.push(obj(fields));
    }
    // Invalid bundle: signed prekey signature flipped.
    let mut rng = RecordingRng::new(0x3d03);
    let (alice, aj) = party(&mut rng, id(1), id(2));
    let b = bob(&mut rng);
    let mut bundle = PreKeyBundle {
        certificate: b.party.cert,
        signed_prekey: b.spk.public(),
        one_time_prekey: None,
    };
    bundle.signed_prekey.signature[0] ^= 1;
    let e = x3dh::initiate(
        &mut rng,
        &alice.device,
        &alice.cert,
        &bundle,
        &b.party.user.public_key(),
    )
    .expect_err("must fail");
    let mut invalid_fields = vec![
        ("description", s("signed prekey signature tampered")),
        ("alice", aj),
    ];
    invalid_fields.extend(b.json);
    invalid_fields.push(("bundle", h(&bundle.to_bytes())));
    invalid_fields.push(("error", err(e)));
    obj(vec![
        ("description", s("X3DH: SK = HKDF-SHA256(salt = 32 zero bytes, IKM = 32 x 0xFF || DH1 || DH2 || DH3 [|| DH4], info = Chatalot-X3DH-v1, 32); AD = initiator certificate || responder certificate.")),
        ("cases", Json::Arr(cases)),
        ("invalid", Json::Arr(vec![obj(invalid_fields)])),
    ])
}

/// A scripted conversation with reordering, replays and a tampered message.
pub fn ratchet() -> Json {
    let mut rng = RecordingRng::new(0xd7);
    let (alice, aj) = party(&mut rng, id(1), id(2));
    let b = bob(&mut rng);
    let bundle = PreKeyBundle {
        certificate: b.party.cert,
        signed_prekey: b.spk.public(),
        one_time_prekey: Some(b.opk.public()),
    };
    let mut a = Session::initiate(
        &mut rng,
        &alice.device,
        &alice.cert,
        &bundle,
        &b.party.user.public_key(),
    )
    .expect("initiate");
    let init_draws = rng.take();
    let mut steps = Vec::new();
    let mut wires: Vec<Vec<u8>> = Vec::new();

    let first = a.encrypt(b"hello bob").expect("encrypt");
    steps.push(obj(vec![
        ("op", s("encrypt")),
        ("party", s("alice")),
        ("plaintext", h(b"hello bob")),
        ("message_index", n(0)),
        ("wire", h(&first)),
    ]));
    wires.push(first.clone());
    let pm = PreKeyMessage::from_bytes(&first).expect("prekey message");
    let (mut bs, pt) = Session::respond(
        &mut rng,
        &b.party.device,
        &b.party.cert,
        &b.spk,
        Some(&b.opk),
        &alice.user.public_key(),
        &pm,
    )
    .expect("respond");
    steps.push(obj(vec![
        ("op", s("respond")),
        ("party", s("bob")),
        ("message_index", n(0)),
        ("rng_draws", rng.take()),
        ("plaintext", h(&pt)),
    ]));

    // (sender, plaintext) in send order; deliveries given separately.
    let enc = |who: &str,
               sess: &mut Session,
               text: &str,
               steps: &mut Vec<Json>,
               wires: &mut Vec<Vec<u8>>| {
        let w = sess.encrypt(text.as_bytes()).expect("encrypt");
        steps.push(obj(vec![
            ("op", s("encrypt")),
            ("party", s(who)),
            ("plaintext", h(text.as_bytes())),
            ("message_index", n(wires.len() as u64)),
            ("wire", h(&w)),
        ]));
        wires.push(w);
    };
    let dec = |who: &str,
               sess: &mut Session,
               idx: usize,
               rng: &mut RecordingRng,
               steps: &mut Vec<Json>,
               wires: &[Vec<u8>]| {
        let before = sess.to_bytes();
        let res = sess.decrypt(rng, &wires[idx]);
        let draws = rng.take();
        let mut f = vec![
            ("op", s("decrypt")),
            ("party", s(who)),
            ("message_index", n(idx as u64)),
            ("rng_draws", draws),
        ];
        match res {
            Ok(pt) => f.push(("plaintext", h(&pt))),
            Err(e) => {
                assert_eq!(*sess.to_bytes(), *before);
                f.push(("error", err(e)));
            }
        }
        steps.push(obj(f));
    };

    enc("alice", &mut a, "still no reply", &mut steps, &mut wires); // 1 (prekey message)
    dec("bob", &mut bs, 1, &mut rng, &mut steps, &wires);
    enc("bob", &mut bs, "hi alice", &mut steps, &mut wires); // 2
    dec("alice", &mut a, 2, &mut rng, &mut steps, &wires);
    enc("alice", &mut a, "three", &mut steps, &mut wires); // 3
    enc("alice", &mut a, "four", &mut steps, &mut wires); // 4
    enc("alice", &mut a, "five", &mut steps, &mut wires); // 5
    dec("bob", &mut bs, 5, &mut rng, &mut steps, &wires);
    dec("bob", &mut bs, 3, &mut rng, &mut steps, &wires);
    enc("bob", &mut bs, "six", &mut steps, &mut wires); // 6
    enc("bob", &mut bs, "", &mut steps, &mut wires); // 7 (empty plaintext)
    dec("alice", &mut a, 7, &mut rng, &mut steps, &wires);
    enc("alice", &mut a, "eight", &mut steps, &mut wires); // 8
    dec("bob", &mut bs, 8, &mut rng, &mut steps, &wires);
    dec("bob", &mut bs, 4, &mut rng, &mut steps, &wires); // skipped key of an old chain
    dec("alice", &mut a, 6, &mut rng, &mut steps, &wires);
    dec("bob", &mut bs, 4, &mut rng, &mut steps, &wires); // replay -> error
    dec("bob", &mut bs, 8, &mut rng, &mut steps, &wires); // replay -> error
    enc("alice", &mut a, "nine", &mut steps, &mut wires); // 9
    let mut tampered = wires[9].clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    wires.push(tampered); // 10: message 9 with its tag changed
    steps.push(obj(vec![
        ("op", s("tamper")),
        (
            "description",
            s("message 9 with the last byte of its tag flipped"),
        ),
        ("message_index", n(10)),
        ("wire", h(&wires[10])),
    ]));
    dec("bob", &mut bs, 10, &mut rng, &mut steps, &wires);
    dec("bob", &mut bs, 9, &mut rng, &mut steps, &wires);

    let mut fields = vec![
        ("description", s("Double Ratchet conversation. Replay `steps` in order; 'decrypt' steps with 'error' must fail and leave the state unchanged. rng_draws are the bytes each step draws from the RNG.")),
        ("alice", aj),
    ];
    fields.extend(b.json);
    fields.extend(vec![
        ("bundle", h(&bundle.to_bytes())),
        ("alice_initiate_rng_draws", init_draws),
        ("steps", Json::Arr(steps)),
        ("final_alice_state", h(&a.to_bytes())),
        ("final_bob_state", h(&bs.to_bytes())),
    ]);
    obj(fields)
}

pub fn sender_key() -> Json {
    let mut rng = RecordingRng::new(0x5e);
    let channel = id(9);
    let sender_dev = id(10);
    let mut sender = SenderKeySender::generate(&mut rng, channel, sender_dev);
    let gen_draws = rng.take();
    let dist = sender.distribution();
    let mut receiver = SenderKeyReceiver::from_distribution(&dist, &sender_dev).expect("receiver");
    let mut messages = Vec::new();
    let mut wires = Vec::new();
    for (i, text) in ["first", "second", "third", "fourth"].iter().enumerate() {
        let w = sender.encrypt(&mut rng, text.as_bytes()).expect("encrypt");
        messages.push(obj(vec![
            ("message_index", n(i as u64)),
            ("plaintext", h(text.as_bytes())),
            ("rng_draws", rng.take()),
            ("wire", h(&w)),
        ]));
        wires.push(w);
    }
    let mut deliveries = Vec::new();
    let mut deliver = |idx: usize,
                       ch: [u8; 16],
                       dev: [u8; 16],
                       wire: &[u8],
                       desc: &str,
                       deliveries: &mut Vec<Json>| {
        let before = receiver.to_bytes();
        let res = receiver.decrypt(&ch, &dev, wire);
        let mut f = vec![
            ("description", s(desc)),
            ("message_index", n(idx as u64)),
            ("envelope_channel_id", h(&ch)),
            ("envelope_sender_device_id", h(&dev)),
            ("wire", h(wire)),
        ];
        match res {
            Ok(pt) => f.push(("plaintext", h(&pt))),
            Err(e) => {
                assert_eq!(*receiver.to_bytes(), *before);
                f.push(("error", err(e)));
            }
        }
        deliveries.push(obj(f));
    };
    deliver(
        2,
        channel,
        sender_dev,
        &wires[2],
        "ahead: stores keys for 0 and 1",
        &mut deliveries,
    );
    deliver(
        0,
        channel,
        sender_dev,
        &wires[0],
        "from a skipped key",
        &mut deliveries,
    );
    deliver(2, channel, sender_dev, &wires[2], "replay", &mut deliveries);
    deliver(
        1,
        id(11),
        sender_dev,
        &wires[1],
        "replayed into another channel",
        &mut deliveries,
    );
    deliver(
        1,
        channel,
        id(12),
        &wires[1],
        "claimed by another sender device",
        &mut deliveries,
    );
    let mut t = wires[1].clone();
    let sig_byte = t.len() - 10;
    t[sig_byte] ^= 1;
    deliver(
        1,
        channel,
        sender_dev,
        &t,
        "signature tampered",
        &mut deliveries,
    );
    deliver(
        1,
        channel,
        sender_dev,
        &wires[1],
        "genuine",
        &mut deliveries,
    );
    deliver(
        3,
        channel,
        sender_dev,
        &wires[3],
        "in order",
        &mut deliveries,
    );
    obj(vec![
        ("description", s("Sender Keys. The sender's generate draws key id (4 bytes, big-endian), chain key (32), signing seed (32); each encrypt draws a 16-byte message id. Deliveries are applied in order to one receiver created from the distribution.")),
        ("channel_id", h(&channel)),
        ("sender_device_id", h(&sender_dev)),
        ("generate_rng_draws", gen_draws),
        ("distribution", h(&dist.to_bytes())),
        ("messages", Json::Arr(messages)),
        ("deliveries", Json::Arr(deliveries)),
        ("final_sender_state", h(&sender.to_bytes())),
        ("final_receiver_state", h(&receiver.to_bytes())),
    ])
}

pub fn attachment() -> Json {
    let mut cases = Vec::new();
    let cs: [(u32, usize); 5] = [(64, 0), (64, 10), (64, 64), (64, 150), (65536, 100)];
    for (i, (chunk_size, len)) in cs.iter().enumerate() {
        let key = Zeroizing::new([0x40 + i as u8; 32]);
        let pt: Vec<u8> = (0..*len).map(|j| (j * 7 + i) as u8).collect();
        let (p, blob) =
            encrypt_attachment_with_key(key.clone(), *chunk_size, &pt).expect("encrypt");
        cases.push(obj(vec![
            ("file_key", h(key.as_ref())),
            ("chunk_size", n(u64::from(*chunk_size))),
            ("plaintext", h(&pt)),
            ("blob", h(&blob)),
            ("digest", h(&p.digest)),
            ("pointer", h(&p.to_bytes())),
        ]));
    }
    // Invalid: a 3-chunk blob truncated to two chunks, with a pointer re-made to match.
    let key = Zeroizing::new([0x55; 32]);
    let pt = vec![0xAB; 150];
    let (p, blob) = encrypt_attachment_with_key(key, 64, &pt).expect("encrypt");
    let cut = blob[..5 + 2 * 80].to_vec();
    let mut q: AttachmentPointer = p.clone();
    q.digest.copy_from_slice(&sha256(&cut));
    q.size = 128;
    let e = chatalot_crypto::attachment::decrypt_attachment(&q, &cut).expect_err("must fail");
    obj(vec![
        ("description", s("Chunked attachment AEAD. Each case decrypts to its plaintext; the invalid case must fail.")),
        ("cases", Json::Arr(cases)),
        ("invalid", Json::Arr(vec![obj(vec![
            ("description", s("truncated at a chunk boundary, digest and size adjusted: last-chunk flag mismatch")),
            ("pointer", h(&q.to_bytes())),
            ("blob", h(&cut)),
            ("error", err(e)),
        ])])),
    ])
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

pub fn fingerprint() -> Json {
    let mut users = Vec::new();
    let keys: Vec<([u8; 32], [u8; 16])> = (0..3u8)
        .map(|i| {
            let mut rng = TestRng::new(0xf0 + u64::from(i));
            (UserKeyPair::generate(&mut rng, id(i)).public_key(), id(i))
        })
        .collect();
    for (k, uid) in &keys {
        let f = Fingerprint::new(k, uid);
        users.push(obj(vec![
            ("user_key", h(k)),
            ("user_id", h(uid)),
            ("fingerprint_digits", s(f.digits())),
            ("display", s(&f.to_string())),
        ]));
    }
    let mut pairs = Vec::new();
    for (a, b) in [(0usize, 1usize), (1, 2), (2, 0)] {
        let sn = SafetyNumber::new(&keys[a].0, &keys[a].1, &keys[b].0, &keys[b].1);
        pairs.push(obj(vec![
            ("a", n(a as u64)),
            ("b", n(b as u64)),
            ("safety_number_digits", s(sn.digits())),
            ("display", s(&sn.to_string())),
        ]));
    }
    obj(vec![
        ("description", s("Fingerprints (30 digits) and safety numbers (60 digits, symmetric). Iterations: 5200.")),
        ("users", Json::Arr(users)),
        ("safety_numbers", Json::Arr(pairs)),
    ])
}

/// Opaque stand-in bytes for an encoding the application layer only frames.
fn opaque(first: u8, len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            if i == 0 {
                first
            } else {
                (i as u8).wrapping_mul(7).wrapping_add(seed)
            }
        })
        .collect()
}

/// An encoding with the u32 length prefix at `at` replaced by `len`.
fn with_len(encoding: &[u8], at: usize, len: usize) -> Vec<u8> {
    let mut v = encoding.to_vec();
    v[at..at + 4].copy_from_slice(&u32::try_from(len).expect("u32").to_be_bytes());
    v
}

fn body_json(desc: &str, b: &Body) -> Json {
    let encoding = b.encode().expect("encode");
    assert_eq!(Body::decode(&encoding).as_ref(), Ok(b));
    let mut f = vec![("description", s(desc))];
    match b {
        Body::Text(t) => {
            f.push(("kind", s("text")));
            f.push(("text", h(t.as_bytes())));
        }
        Body::Attachment(a) => {
            f.push(("kind", s("attachment")));
            f.push(("blob_message_id", h(&a.blob_message_id)));
            f.push(("pointer", h(&a.pointer.to_bytes())));
            f.push(("name", h(a.name.as_bytes())));
            f.push(("mime", h(a.mime.as_bytes())));
        }
        Body::File(b) => {
            f.push(("kind", s("file")));
            f.push(("file_id", h(&b.file_id)));
            f.push(("pointer", h(&b.pointer.to_bytes())));
            f.push(("name", h(b.name.as_bytes())));
            f.push(("mime", h(b.mime.as_bytes())));
            if let Some((w, ht)) = b.dimensions {
                f.push(("width", Json::Num(u64::from(w))));
                f.push(("height", Json::Num(u64::from(ht))));
            }
            if let Some(d) = b.duration_ms {
                f.push(("duration_ms", Json::Num(u64::from(d))));
            }
            if let Some((id, p)) = &b.thumbnail {
                f.push(("thumb_file_id", h(id)));
                f.push(("thumb_pointer", h(&p.to_bytes())));
            }
        }
        Body::LinkText(l) => {
            f.push(("kind", s("link_text")));
            f.push(("text", h(l.text.as_bytes())));
            f.push(("url", h(l.url.as_bytes())));
            f.push(("final_url", h(l.final_url.as_bytes())));
            f.push(("title", h(l.title.as_bytes())));
            f.push(("link_description", h(l.description.as_bytes())));
            f.push(("site_name", h(l.site_name.as_bytes())));
        }
    }
    f.push(("encoding", h(&encoding)));
    obj(f)
}

/// Application-layer encodings (docs/e2e.md 17): no randomness, every case is an input
/// value and its encoding; the invalid encodings name the decoder that must refuse them.
pub fn app() -> Json {
    let pointer = |key: u8, size: u64| AttachmentPointer {
        key: Zeroizing::new([key; 32]),
        digest: sha256(&[key]),
        size,
    };
    let attachment = |blob: u8, p: AttachmentPointer, name: &str, mime: &str| {
        Body::Attachment(AttachmentBody {
            blob_message_id: id(blob),
            pointer: p,
            name: name.to_string(),
            mime: mime.to_string(),
        })
    };
    let max_name = "\u{e9}".repeat(MAX_FILE_NAME_LEN / 2);
    let max_mime = format!("application/{}", "x".repeat(MAX_MIME_TYPE_LEN - 12));
    assert_eq!(max_name.len(), MAX_FILE_NAME_LEN);
    assert_eq!(max_mime.len(), MAX_MIME_TYPE_LEN);
    let bodies = vec![
        body_json("text", &Body::Text("hello".into())),
        body_json("empty text", &Body::Text(String::new())),
        body_json(
            "text beyond ASCII (2-, 3- and 4-byte UTF-8)",
            &Body::Text("Gr\u{fc}\u{df}e, \u{4e16}\u{754c} \u{1f44b}".into()),
        ),
        body_json(
            "attachment",
            &attachment(20, pointer(0x41, 1234), "report.pdf", "application/pdf"),
        ),
        body_json(
            "attachment: empty file, empty name and MIME type",
            &attachment(21, pointer(0x42, 0), "", ""),
        ),
        body_json(
            "attachment: largest size, file name (2-byte characters) and MIME type",
            &attachment(22, pointer(0x43, MAX_ATTACHMENT_SIZE), &max_name, &max_mime),
        ),
        body_json(
            "file: a document, nothing else",
            &Body::File(FileBody {
                file_id: id(30),
                pointer: pointer(0x51, 48_213),
                name: "notes.txt".into(),
                mime: "text/plain".into(),
                dimensions: None,
                duration_ms: None,
                thumbnail: None,
            }),
        ),
        body_json(
            "file: an image with its dimensions and a thumbnail",
            &Body::File(FileBody {
                file_id: id(31),
                pointer: pointer(0x52, 2_345_678),
                name: "beach.jpg".into(),
                mime: "image/jpeg".into(),
                dimensions: Some((4032, 3024)),
                duration_ms: None,
                thumbnail: Some((id(32), pointer(0x53, 9_876))),
            }),
        ),
        body_json(
            "file: a video with dimensions, duration and thumbnail; largest values",
            &Body::File(FileBody {
                file_id: id(33),
                pointer: pointer(0x54, MAX_ATTACHMENT_SIZE),
                name: max_name.clone(),
                mime: max_mime.clone(),
                dimensions: Some((u32::MAX, u32::MAX)),
                duration_ms: Some(u32::MAX),
                thumbnail: Some((id(34), pointer(0x55, 0))),
            }),
        ),
        body_json(
            "file: a recording with a duration only",
            &Body::File(FileBody {
                file_id: id(35),
                pointer: pointer(0x56, 64_000),
                name: "voice.ogg".into(),
                mime: "audio/ogg".into(),
                dimensions: None,
                duration_ms: Some(12_500),
                thumbnail: None,
            }),
        ),
        body_json(
            "link text: a text with the preview of its link",
            &Body::LinkText(LinkTextBody {
                text: "look https://example.org/a".into(),
                url: "https://example.org/a".into(),
                final_url: "https://www.example.org/a/".into(),
                title: "A page".into(),
                description: "What it is about.".into(),
                site_name: "Example".into(),
            }),
        ),
        body_json(
            "link text: empty text, title, description and site name; largest fields",
            &Body::LinkText(LinkTextBody {
                text: String::new(),
                url: format!("https://e.org/{}", "u".repeat(MAX_LINK_URL_LEN - 14)),
                final_url: "h".repeat(MAX_LINK_URL_LEN),
                title: "\u{e9}".repeat(MAX_LINK_TITLE_LEN / 2),
                description: "d".repeat(MAX_LINK_DESCRIPTION_LEN),
                site_name: "s".repeat(MAX_LINK_SITE_NAME_LEN),
            }),
        ),
        body_json(
            "link text: no title, description or site name",
            &Body::LinkText(LinkTextBody {
                text: "https://x.test".into(),
                url: "https://x.test".into(),
                final_url: "https://x.test".into(),
                title: String::new(),
                description: String::new(),
                site_name: String::new(),
            }),
        ),
    ];

    let direct_plaintext = |desc: &str, channel: [u8; 16], body: &[u8]| {
        let p = DirectPlaintext {
            channel_id: channel,
            body: Zeroizing::new(body.to_vec()),
        };
        let encoding = p.encode().expect("encode");
        assert_eq!(DirectPlaintext::decode(&encoding).as_ref(), Ok(&p));
        obj(vec![
            ("description", s(desc)),
            ("channel_id", h(&channel)),
            ("body", h(&p.body)),
            ("encoding", h(&encoding)),
        ])
    };
    let direct_plaintexts = vec![
        direct_plaintext("a text body", id(1), &text_body("hello bob")),
        direct_plaintext("empty body", id(1), &[]),
    ];

    let direct_payload = |desc: &str, recipients: Vec<DirectRecipient>| {
        let p = DirectPayload {
            sender_device_id: id(2),
            recipients,
        };
        let encoding = p.encode().expect("encode");
        assert_eq!(DirectPayload::decode(&encoding).as_ref(), Ok(&p));
        obj(vec![
            ("description", s(desc)),
            ("sender_device_id", h(&p.sender_device_id)),
            (
                "recipients",
                Json::Arr(
                    p.recipients
                        .iter()
                        .map(|r| {
                            obj(vec![
                                ("device_id", h(&r.device_id)),
                                ("message", h(&r.message)),
                            ])
                        })
                        .collect(),
                ),
            ),
            ("encoding", h(&encoding)),
        ])
    };
    let rcpt = |device: u8, first: u8, len: usize| DirectRecipient {
        device_id: id(device),
        message: opaque(first, len, device),
    };
    let direct_payloads = vec![
        direct_payload("no recipient", vec![]),
        direct_payload("one recipient (a first message)", vec![rcpt(3, 0x05, 40)]),
        direct_payload(
            "three recipients",
            vec![rcpt(3, 0x06, 30), rcpt(4, 0x05, 45), rcpt(5, 0x06, 31)],
        ),
    ];

    let channel = ChannelPayload {
        sender_device_id: id(2),
        message: opaque(0x08, 90, 9),
    };
    let encoding = channel.encode();
    assert_eq!(ChannelPayload::decode(&encoding).as_ref(), Ok(&channel));
    let channel_payloads = vec![obj(vec![
        ("description", s("a sender-key message")),
        ("sender_device_id", h(&channel.sender_device_id)),
        ("message", h(&channel.message)),
        ("encoding", h(&encoding)),
    ])];

    let envelope = |desc: &str, kind: u8, channel: Option<[u8; 16]>, body: &[u8]| {
        let p = EnvelopePlaintext {
            kind,
            channel_id: channel,
            body: Zeroizing::new(body.to_vec()),
        };
        let encoding = p.encode().expect("encode");
        assert_eq!(EnvelopePlaintext::decode(&encoding).as_ref(), Ok(&p));
        obj(vec![
            ("description", s(desc)),
            ("kind", n(u64::from(kind))),
            ("channel_id", channel.map_or(Json::Null, |c| h(&c))),
            ("body", h(&p.body)),
            ("encoding", h(&encoding)),
        ])
    };
    let distribution = SenderKeySender::generate(&mut TestRng::new(0xa1), id(1), id(2))
        .distribution()
        .to_bytes();
    let envelope_plaintexts = vec![
        envelope(
            "sender-key distribution for its channel",
            ENVELOPE_KIND_SENDER_KEY,
            Some(id(1)),
            &distribution,
        ),
        envelope(
            "no channel, empty body (a valid encoding; a receiver of kind 1 refuses it)",
            ENVELOPE_KIND_SENDER_KEY,
            None,
            &[],
        ),
    ];

    // Invalid encodings, each with one fault, refused by the named decoder.
    let attachment_ok = attachment(20, pointer(0x41, 1234), "a", "b")
        .encode()
        .expect("encode")
        .to_vec();
    let name_at = 1 + 16 + 73;
    let mime_at = name_at + 4 + 1;
    let mut name_not_utf8 = attachment_ok.clone();
    name_not_utf8[name_at + 4] = 0xff;
    let direct_ok = DirectPlaintext {
        channel_id: id(1),
        body: Zeroizing::new(text_body("hi").to_vec()),
    }
    .encode()
    .expect("encode")
    .to_vec();
    let payload_ok = DirectPayload {
        sender_device_id: id(2),
        recipients: vec![rcpt(3, 0x06, 20), rcpt(4, 0x06, 20)],
    }
    .encode()
    .expect("encode");
    let one_recipient = 1 + 16 + 2 + 16 + 4 + 20;
    let envelope_ok = EnvelopePlaintext {
        kind: ENVELOPE_KIND_SENDER_KEY,
        channel_id: Some(id(1)),
        body: Zeroizing::new(vec![0x07; 4]),
    }
    .encode()
    .expect("encode")
    .to_vec();
    let mut bad_flag = envelope_ok.clone();
    bad_flag[2] = 2;
    // a file body with no optional part: its last byte is the flags
    let file_ok = Body::File(FileBody {
        file_id: [9; 16],
        pointer: AttachmentPointer {
            key: Zeroizing::new([0x61; 32]),
            digest: sha256(b"f"),
            size: 10,
        },
        name: "a".into(),
        mime: String::new(),
        dimensions: None,
        duration_ms: None,
        thumbnail: None,
    })
    .encode()
    .expect("encode")
    .to_vec();
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("body", "empty", vec![]),
        ("body", "unknown body tag 0x54", vec![0x54, b'h', b'i']),
        ("body", "link text: empty address", {
            let mut b = vec![0x53];
            for f in [&b"t"[..], b"", b"https://x.test", b"", b"", b""] {
                b.extend_from_slice(&(f.len() as u32).to_be_bytes());
                b.extend_from_slice(f);
            }
            b
        }),
        (
            "body",
            "link text: title declared one byte above the limit",
            {
                let mut b = vec![0x53];
                for f in [&b"t"[..], b"https://x.test", b"https://x.test"] {
                    b.extend_from_slice(&(f.len() as u32).to_be_bytes());
                    b.extend_from_slice(f);
                }
                b.extend_from_slice(&(MAX_LINK_TITLE_LEN as u32 + 1).to_be_bytes());
                b
            },
        ),
        ("body", "link text: site name cut short", {
            let mut b = vec![0x53];
            for f in [&b"t"[..], b"https://x.test", b"https://x.test", b"", b""] {
                b.extend_from_slice(&(f.len() as u32).to_be_bytes());
                b.extend_from_slice(f);
            }
            b.extend_from_slice(&5u32.to_be_bytes());
            b.extend_from_slice(b"ab");
            b
        }),
        ("body", "link text: trailing byte", {
            let mut b = vec![0x53];
            for f in [
                &b"t"[..],
                b"https://x.test",
                b"https://x.test",
                b"",
                b"",
                b"",
            ] {
                b.extend_from_slice(&(f.len() as u32).to_be_bytes());
                b.extend_from_slice(f);
            }
            b.push(0);
            b
        }),
        ("body", "link text: description not UTF-8", {
            let mut b = vec![0x53];
            for f in [
                &b"t"[..],
                b"https://x.test",
                b"https://x.test",
                b"",
                &[0xc3, 0x28],
                b"",
            ] {
                b.extend_from_slice(&(f.len() as u32).to_be_bytes());
                b.extend_from_slice(f);
            }
            b
        }),
        ("body", "file: a flag bit that means nothing (0x08)", {
            let mut b = file_ok.clone();
            *b.last_mut().expect("flags") = 0x08;
            b
        }),
        ("body", "file: thumbnail flagged, then cut", {
            let mut b = file_ok.clone();
            *b.last_mut().expect("flags") = 0x04;
            b.extend_from_slice(&[0; 20]);
            b
        }),
        ("body", "file: trailing byte", [&file_ok[..], &[0]].concat()),
        ("body", "text not UTF-8", vec![0x50, 0xc3, 0x28]),
        (
            "body",
            "attachment cut inside the pointer",
            attachment_ok[..1 + 16 + 40].to_vec(),
        ),
        (
            "body",
            "attachment: file name declared one byte above the limit",
            with_len(&attachment_ok, name_at, MAX_FILE_NAME_LEN + 1),
        ),
        (
            "body",
            "attachment: MIME type declared one byte above the limit",
            with_len(&attachment_ok, mime_at, MAX_MIME_TYPE_LEN + 1),
        ),
        ("body", "attachment: file name not UTF-8", name_not_utf8),
        (
            "body",
            "attachment: trailing byte",
            [&attachment_ok[..], &[0]].concat(),
        ),
        (
            "direct_plaintext",
            "wrong tag (an envelope plaintext)",
            envelope_ok.clone(),
        ),
        (
            "direct_plaintext",
            "body declared at the limit, then cut",
            with_len(&direct_ok, 17, MAX_BODY_LEN),
        ),
        (
            "direct_plaintext",
            "body declared one byte above the limit",
            with_len(&direct_ok, 17, MAX_BODY_LEN + 1),
        ),
        (
            "direct_plaintext",
            "trailing byte",
            [&direct_ok[..], &[0]].concat(),
        ),
        ("payload", "empty", vec![]),
        (
            "payload",
            "unknown payload tag (a direct plaintext)",
            direct_ok.clone(),
        ),
        (
            "payload",
            "channel payload cut inside the sender device",
            channel.encode()[..10].to_vec(),
        ),
        (
            "payload",
            "direct: count 2, one recipient present",
            payload_ok[..one_recipient].to_vec(),
        ),
        (
            "payload",
            "direct: pairwise message declared one byte above the limit",
            with_len(&payload_ok, 1 + 16 + 2 + 16, MAX_PAIRWISE_MESSAGE_LEN + 1),
        ),
        (
            "payload",
            "direct: trailing byte",
            [&payload_ok[..], &[0]].concat(),
        ),
        (
            "envelope_plaintext",
            "wrong tag (a direct plaintext)",
            direct_ok.clone(),
        ),
        ("envelope_plaintext", "flag byte 2", bad_flag),
        (
            "envelope_plaintext",
            "channel flagged present, then cut",
            envelope_ok[..3 + 8].to_vec(),
        ),
        (
            "envelope_plaintext",
            "body declared one byte above the limit",
            with_len(&envelope_ok, 3 + 16, MAX_BODY_LEN + 1),
        ),
        (
            "envelope_plaintext",
            "trailing byte",
            [&envelope_ok[..], &[0]].concat(),
        ),
    ];
    let invalid = cases
        .into_iter()
        .map(|(decoder, desc, bytes)| {
            let e = match decoder {
                "body" => Body::decode(&bytes).map(drop),
                "direct_plaintext" => DirectPlaintext::decode(&bytes).map(drop),
                "payload" => Payload::decode(&bytes).map(drop),
                "envelope_plaintext" => EnvelopePlaintext::decode(&bytes).map(drop),
                other => panic!("unknown decoder {other}"),
            }
            .expect_err("must fail");
            obj(vec![
                ("description", s(desc)),
                ("decoder", s(decoder)),
                ("encoding", h(&bytes)),
                ("error", err(e)),
            ])
        })
        .collect();

    obj(vec![
        ("description", s("Application layer (docs/e2e.md 17): message bodies and envelope plaintexts. Each case encodes its fields to `encoding` and decodes back; text, name and mime are UTF-8 as hex; pairwise messages, sender-key messages and envelope bodies are opaque at this layer. Each invalid encoding must be refused by its decoder with the error given.")),
        (
            "limits",
            obj(vec![
                ("max_body_len", n(MAX_BODY_LEN as u64)),
                ("max_pairwise_message_len", n(MAX_PAIRWISE_MESSAGE_LEN as u64)),
                ("max_direct_recipients", n(MAX_DIRECT_RECIPIENTS as u64)),
                ("max_file_name_len", n(MAX_FILE_NAME_LEN as u64)),
                ("max_mime_type_len", n(MAX_MIME_TYPE_LEN as u64)),
                ("sender_key_rotate_after", n(u64::from(SENDER_KEY_ROTATE_AFTER))),
            ]),
        ),
        ("bodies", Json::Arr(bodies)),
        ("direct_plaintexts", Json::Arr(direct_plaintexts)),
        ("direct_payloads", Json::Arr(direct_payloads)),
        ("channel_payloads", Json::Arr(channel_payloads)),
        ("envelope_plaintexts", Json::Arr(envelope_plaintexts)),
        ("invalid", Json::Arr(invalid)),
    ])
}

fn to_err<T>(r: Result<T, CryptoError>) -> Json {
    match r {
        Ok(_) => panic!("must fail"),
        Err(e) => err(e),
    }
}

fn case(desc: &str, mut fields: Vec<(&str, Json)>) -> Json {
    fields.insert(0, ("description", s(desc)));
    obj(fields)
}

/// Device linking, secret storage, history keys and backups (docs/e2e.md section 18).
pub fn devices() -> Json {
    use chatalot_crypto::backup::{self, ArchivedMessage, BackupEntry, BackupHead};
    use chatalot_crypto::history::{HistoryBundle, HistoryKey};
    use chatalot_crypto::link::{self, LinkCode, LinkRequest, PendingLink};
    use chatalot_crypto::secret_storage::{self, RecoveryKey};

    let mut rng = RecordingRng::new(0xd7);
    let (alice, alice_json) = party(&mut rng, id(1), id(2));
    let backup_key = [0x5b; 32];

    // 18.2 linking: N makes its identity, starts the link; E answers.
    let new_device = DeviceIdentity::generate(&mut rng, id(1), id(5));
    let new_device_draws = rng.take();
    let pending = PendingLink::start(&mut rng, new_device.clone());
    let start_draws = rng.take();
    let request = pending.request().clone();
    let response = link::respond(
        &mut rng,
        pending.code(),
        &request,
        &alice.user,
        &backup_key,
        3,
        7,
    )
    .expect("respond");
    let respond_draws = rng.take();
    let linked = pending
        .finish(&response, &alice.user.public_key())
        .expect("finish");
    let mut tampered = response.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let other_code = LinkCode::from_bytes([0x77; 16]);
    let mut forged_request = LinkRequest::from_bytes(&request.to_bytes()).expect("decode");
    forged_request.device.signing_key = alice.device.public_keys().signing_key;
    let link_json = obj(vec![
        ("new_device_id", h(&id(5))),
        ("new_device_rng_draws", new_device_draws),
        (
            "new_device_identity_secret_encoding",
            h(&new_device.to_bytes()),
        ),
        ("start_rng_draws", start_draws),
        ("request", h(&request.to_bytes())),
        ("request_digest", h(&request.digest())),
        ("code_text", s(&pending.code().to_text())),
        ("backup_key", h(&backup_key)),
        ("storage_version", n(3)),
        ("head_seq", n(7)),
        ("respond_rng_draws", respond_draws),
        ("response", h(&response)),
        (
            "linked_certificate",
            h(&linked.secrets.certificate.to_bytes()),
        ),
        (
            "invalid_responses",
            Json::Arr(vec![
                case(
                    "a changed byte",
                    vec![
                        ("response", h(&tampered)),
                        ("published_user_key", h(&alice.user.public_key())),
                        (
                            "error",
                            to_err(pending.finish(&tampered, &alice.user.public_key())),
                        ),
                    ],
                ),
                case(
                    "the server publishes another user key",
                    vec![
                        ("response", h(&response)),
                        ("published_user_key", h(&[9; 32])),
                        ("error", to_err(pending.finish(&response, &[9; 32]))),
                    ],
                ),
            ]),
        ),
        (
            "invalid_requests",
            Json::Arr(vec![
                case(
                    "another code",
                    vec![
                        ("request", h(&request.to_bytes())),
                        ("code_text", s(&other_code.to_text())),
                        (
                            "error",
                            to_err(link::respond(
                                &mut rng,
                                &other_code,
                                &request,
                                &alice.user,
                                &backup_key,
                                3,
                                7,
                            )),
                        ),
                    ],
                ),
                case(
                    "the server changed the device key",
                    vec![
                        ("request", h(&forged_request.to_bytes())),
                        ("code_text", s(&pending.code().to_text())),
                        (
                            "error",
                            to_err(link::respond(
                                &mut rng,
                                pending.code(),
                                &forged_request,
                                &alice.user,
                                &backup_key,
                                3,
                                7,
                            )),
                        ),
                    ],
                ),
            ]),
        ),
    ]);
    assert!(
        matches!(rng.take(), Json::Arr(ref v) if v.is_empty()),
        "a refused respond drew"
    );

    // 18.3 recovery key and secret storage.
    let rk = RecoveryKey::generate(&mut rng);
    let rk_draws = rng.take();
    let storage = secret_storage::seal(&mut rng, &rk, &alice.user, &backup_key, 2);
    let seal_draws = rng.take();
    let wrong = RecoveryKey::generate(&mut TestRng::new(0xee));
    let mut changed = storage.clone();
    changed[20] ^= 1;
    let text: String = rk.to_text().to_string();
    let messy = text
        .to_lowercase()
        .replace('-', " ")
        .replace('0', "o")
        .replace('1', "l");
    let storage_json = obj(vec![
        ("recovery_key_rng_draws", rk_draws),
        ("recovery_key_text", s(&text)),
        ("recovery_key_typed", s(&messy)),
        ("seal_rng_draws", seal_draws),
        ("version", n(2)),
        ("storage", h(&storage)),
        (
            "invalid",
            Json::Arr(vec![
                case(
                    "another recovery key",
                    vec![
                        ("recovery_key_text", s(&wrong.to_text())),
                        ("storage", h(&storage)),
                        ("user_id", h(&id(1))),
                        ("min_version", n(0)),
                        (
                            "error",
                            to_err(secret_storage::open(&wrong, &storage, &id(1), 0)),
                        ),
                    ],
                ),
                case(
                    "rolled back below a version seen",
                    vec![
                        ("recovery_key_text", s(&text)),
                        ("storage", h(&storage)),
                        ("user_id", h(&id(1))),
                        ("min_version", n(3)),
                        (
                            "error",
                            to_err(secret_storage::open(&rk, &storage, &id(1), 3)),
                        ),
                    ],
                ),
                case(
                    "another account's",
                    vec![
                        ("recovery_key_text", s(&text)),
                        ("storage", h(&storage)),
                        ("user_id", h(&id(3))),
                        ("min_version", n(0)),
                        (
                            "error",
                            to_err(secret_storage::open(&rk, &storage, &id(3), 0)),
                        ),
                    ],
                ),
                case(
                    "a changed header byte",
                    vec![
                        ("recovery_key_text", s(&text)),
                        ("storage", h(&changed)),
                        ("user_id", h(&id(1))),
                        ("min_version", n(0)),
                        (
                            "error",
                            to_err(secret_storage::open(&rk, &changed, &id(1), 0)),
                        ),
                    ],
                ),
            ]),
        ),
        (
            "invalid_texts",
            Json::Arr(vec![
                s("0000"),
                s(&format!("{text}-0000")),
                s(&format!("U{}", &text[1..])),
            ]),
        ),
    ]);

    // 18.4 history keys: E's sender key in a channel, attested; read by a history key.
    let channel = id(9);
    let mut sender = SenderKeySender::generate(&mut rng, channel, id(2));
    let sender_draws = rng.take();
    let hk = HistoryKey::attest(&alice.device, &sender.distribution()).expect("attest");
    let mut messages = Vec::new();
    let mut wires = Vec::new();
    for text in ["one", "two", "three"] {
        let w = sender.encrypt(&mut rng, text.as_bytes()).expect("encrypt");
        messages.push(obj(vec![
            ("rng_draws", rng.take()),
            ("wire", h(&w)),
            ("plaintext", h(text.as_bytes())),
        ]));
        wires.push(w);
    }
    let later = HistoryKey::attest(&alice.device, &sender.distribution()).expect("attest");
    let mut bad_attestation = hk.clone();
    bad_attestation.attestation[3] ^= 1;
    // 18.5 bundles the decoder refuses
    let one_key = HistoryBundle {
        channel_id: channel,
        keys: vec![hk.clone()],
    }
    .to_bytes()
    .expect("bundle")
    .to_vec();
    let mut too_many = vec![0x69];
    too_many.extend_from_slice(&channel);
    too_many.extend_from_slice(&81u16.to_be_bytes());
    for _ in 0..81 {
        too_many.extend_from_slice(&hk.to_bytes());
    }
    let mut other_channel = one_key.clone();
    other_channel[1..17].copy_from_slice(&id(10));
    let bad_bundles = [
        ("81 keys", too_many),
        ("a key of another channel", other_channel),
        ("one byte short", one_key[..one_key.len() - 1].to_vec()),
    ];
    let history_json = obj(vec![
        ("channel_id", h(&channel)),
        ("sender_generate_rng_draws", sender_draws),
        ("history_key", h(&hk.to_bytes())),
        ("messages", Json::Arr(messages)),
        ("later_history_key", h(&later.to_bytes())),
        (
            // 18.5: the two keys shared with a new member, in one bundle
            "bundle",
            h(&HistoryBundle {
                channel_id: channel,
                keys: vec![hk.clone(), later.clone()],
            }
            .to_bytes()
            .expect("bundle")),
        ),
        (
            "invalid_bundles",
            Json::Arr(
                bad_bundles
                    .iter()
                    .map(|(desc, b)| {
                        case(
                            desc,
                            vec![
                                ("bundle", h(b)),
                                ("error", to_err(HistoryBundle::from_bytes(b))),
                            ],
                        )
                    })
                    .collect(),
            ),
        ),
        (
            "invalid",
            Json::Arr(vec![
                case(
                    "attestation changed",
                    vec![
                        ("history_key", h(&bad_attestation.to_bytes())),
                        ("error", to_err(bad_attestation.verify(&alice.cert))),
                    ],
                ),
                case(
                    "checked against another device's certificate",
                    vec![
                        ("history_key", h(&hk.to_bytes())),
                        ("certificate", h(&linked.secrets.certificate.to_bytes())),
                        ("error", to_err(hk.verify(&linked.secrets.certificate))),
                    ],
                ),
                case(
                    "a message from before the key's first iteration",
                    vec![
                        ("history_key", h(&later.to_bytes())),
                        ("wire", h(&wires[0])),
                        ("error", to_err(later.decrypt(&channel, &id(2), &wires[0]))),
                    ],
                ),
                case(
                    "replayed into another channel",
                    vec![
                        ("history_key", h(&hk.to_bytes())),
                        ("wire", h(&wires[1])),
                        ("channel_id", h(&id(10))),
                        ("error", to_err(hk.decrypt(&id(10), &id(2), &wires[1]))),
                    ],
                ),
            ]),
        ),
    ]);

    // 18.4 backup: two chunks and a head.
    let entries1 = vec![
        BackupEntry::History(hk.clone()),
        BackupEntry::Message(ArchivedMessage {
            channel_id: id(11),
            message_id: id(12),
            seq: 41,
            body: Zeroizing::new(b"archived body".to_vec()),
        }),
    ];
    let chunk1 = backup::seal_chunk(&mut rng, &backup_key, &id(1), 1, &entries1).expect("seal");
    let chunk1_draws = rng.take();
    let entries2 = vec![BackupEntry::History(later.clone())];
    let chunk2 = backup::seal_chunk(&mut rng, &backup_key, &id(1), 2, &entries2).expect("seal");
    let chunk2_draws = rng.take();
    let head1 = BackupHead::empty(id(1)).after(&[&chunk1]);
    let head2 = head1.after(&[&chunk2]);
    let sealed1 = head1.seal(&backup_key);
    let sealed2 = head2.seal(&backup_key);
    let mut forged_head = sealed2.clone();
    forged_head[30] ^= 1;
    let backup_json = obj(vec![
        ("user_id", h(&id(1))),
        ("chunk_1_rng_draws", chunk1_draws),
        ("chunk_1", h(&chunk1)),
        (
            "chunk_1_archived",
            obj(vec![
                ("channel_id", h(&id(11))),
                ("message_id", h(&id(12))),
                ("seq", n(41)),
                ("body", h(b"archived body")),
            ]),
        ),
        ("chunk_2_rng_draws", chunk2_draws),
        ("chunk_2", h(&chunk2)),
        ("head_after_1", h(&sealed1)),
        ("head_after_2", h(&sealed2)),
        ("head_after_2_digest", h(&head2.digest)),
        (
            "invalid_heads",
            Json::Arr(vec![
                case(
                    "a changed byte",
                    vec![
                        ("head", h(&forged_head)),
                        ("min_head_seq", n(0)),
                        (
                            "error",
                            to_err(BackupHead::open(&backup_key, &forged_head, &id(1), 0)),
                        ),
                    ],
                ),
                case(
                    "rolled back below a head seen",
                    vec![
                        ("head", h(&sealed1)),
                        ("min_head_seq", n(2)),
                        (
                            "error",
                            to_err(BackupHead::open(&backup_key, &sealed1, &id(1), 2)),
                        ),
                    ],
                ),
                case(
                    "another account's",
                    vec![
                        ("head", h(&sealed2)),
                        ("min_head_seq", n(0)),
                        ("user_id", h(&id(3))),
                        (
                            "error",
                            to_err(BackupHead::open(&backup_key, &sealed2, &id(3), 0)),
                        ),
                    ],
                ),
            ]),
        ),
        (
            "invalid_chains",
            Json::Arr(vec![
                case(
                    "chunks swapped",
                    vec![
                        ("chunks", Json::Arr(vec![h(&chunk2), h(&chunk1)])),
                        ("error", to_err(head2.check_chunks(&[&chunk2, &chunk1]))),
                    ],
                ),
                case(
                    "the last chunk dropped",
                    vec![
                        ("chunks", Json::Arr(vec![h(&chunk1)])),
                        ("error", to_err(head2.check_chunks(&[&chunk1]))),
                    ],
                ),
            ]),
        ),
        (
            "invalid_chunks",
            Json::Arr(vec![
                case(
                    "opened at another place",
                    vec![
                        ("chunk", h(&chunk1)),
                        ("seq", n(2)),
                        (
                            "error",
                            to_err(backup::open_chunk(&backup_key, &id(1), 2, &chunk1)),
                        ),
                    ],
                ),
                case(
                    "opened with another key",
                    vec![
                        ("chunk", h(&chunk1)),
                        ("seq", n(1)),
                        ("backup_key", h(&[0x5c; 32])),
                        (
                            "error",
                            to_err(backup::open_chunk(&[0x5c; 32], &id(1), 1, &chunk1)),
                        ),
                    ],
                ),
            ]),
        ),
    ]);

    obj(vec![
        ("description", s("Every device of an account (docs/e2e.md section 18). Draws are in call order: the new device's DeviceIdentity::generate, PendingLink::start (ephemeral 32, code 16), respond (ephemeral 32, nonce 12); RecoveryKey::generate (32), secret_storage::seal (nonce 12); SenderKeySender::generate and encrypt as in sender_key.json; seal_chunk (nonce 12).")),
        ("account", alice_json),
        ("link", link_json),
        ("secret_storage", storage_json),
        ("history", history_json),
        ("backup", backup_json),
    ])
}

/// (file name, pretty JSON) for every vector file.
pub fn all() -> Vec<(&'static str, String)> {
    vec![
        ("identity.json", identity().to_pretty()),
        ("x3dh.json", x3dh().to_pretty()),
        ("ratchet.json", ratchet().to_pretty()),
        ("sender_key.json", sender_key().to_pretty()),
        ("attachment.json", attachment().to_pretty()),
        ("fingerprint.json", fingerprint().to_pretty()),
        ("app.json", app().to_pretty()),
        ("devices.json", devices().to_pretty()),
    ]
}
