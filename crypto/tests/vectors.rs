//! Known-answer vectors: (1) regenerating them gives the checked-in files byte for
//! byte; (2) an independent consumer, using only the JSON contents and the public API
//! (as the TypeScript implementation will), reproduces every output.
//!
//! To rewrite the files after an intentional change: `cargo run --example gen_vectors`.

#[path = "../src/test_rng.rs"]
mod test_rng;
#[path = "support/vectors.rs"]
mod vectors;

use std::collections::VecDeque;
use std::convert::Infallible;

use chatalot_crypto::app::{
    AttachmentBody, Body, ChannelPayload, DirectPayload, DirectPlaintext, DirectRecipient,
    EnvelopePlaintext, FileBody, LinkTextBody, Payload,
};
use chatalot_crypto::attachment::{
    decrypt_attachment, encrypt_attachment_with_key, AttachmentPointer,
};
use chatalot_crypto::fingerprint::{Fingerprint, SafetyNumber};
use chatalot_crypto::identity::{DeviceCertificate, DeviceIdentity, UserKeyPair};
use chatalot_crypto::ratchet::{PreKeyMessage, Session};
use chatalot_crypto::sender_key::{SenderKeyDistribution, SenderKeyReceiver, SenderKeySender};
use chatalot_crypto::x3dh::{self, OneTimePreKeySecret, PreKeyBundle, SignedPreKeySecret};
use rand_core::{TryCryptoRng, TryRng};
use serde_json::Value;
use zeroize::Zeroizing;

fn vector_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

#[test]
fn vector_files_match_regenerated_output() {
    for (name, json) in vectors::all() {
        let on_disk = std::fs::read_to_string(vector_dir().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}; run `cargo run --example gen_vectors`"));
        assert!(
            on_disk == json,
            "{name} drifted from the implementation; if intended, run `cargo run --example gen_vectors`"
        );
    }
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(vector_dir().join(name)).expect("vector file");
    serde_json::from_str(&text).expect("valid JSON")
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn arr<const N: usize>(v: &Value) -> [u8; N] {
    bytes(v).try_into().expect("length")
}

/// Replays recorded draws; panics if the implementation draws differently.
struct QueueRng(VecDeque<Vec<u8>>);

impl QueueRng {
    fn new(v: &Value) -> Self {
        QueueRng(v.as_array().expect("draws").iter().map(bytes).collect())
    }
    fn assert_empty(&self) {
        assert!(self.0.is_empty(), "not all recorded draws were used");
    }
}

impl TryRng for QueueRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let next = self.0.pop_front().expect("an unexpected RNG draw");
        assert_eq!(next.len(), dst.len(), "draw length");
        dst.copy_from_slice(&next);
        Ok(())
    }
}
impl TryCryptoRng for QueueRng {}

struct Party {
    user: UserKeyPair,
    device: DeviceIdentity,
    cert: DeviceCertificate,
}

fn party(v: &Value) -> Party {
    let user_id = arr::<16>(&v["user_id"]);
    let mut rng = QueueRng::new(&v["user_key_rng_draws"]);
    let user = UserKeyPair::generate(&mut rng, user_id);
    rng.assert_empty();
    let mut rng = QueueRng::new(&v["device_rng_draws"]);
    let device = DeviceIdentity::generate(&mut rng, user_id, arr(&v["device_id"]));
    rng.assert_empty();
    let cert = user.certify_device(&device.public_keys());
    assert_eq!(user.public_key().to_vec(), bytes(&v["user_key_public"]));
    assert_eq!(
        device.public_keys().signing_key.to_vec(),
        bytes(&v["device_signing_public"])
    );
    assert_eq!(
        device.public_keys().dh_key.to_vec(),
        bytes(&v["device_dh_public"])
    );
    assert_eq!(cert.to_bytes(), bytes(&v["device_certificate"]));
    cert.verify(&user.public_key())
        .expect("certificate verifies");
    assert_eq!(
        user.to_bytes().to_vec(),
        bytes(&v["user_key_secret_encoding"])
    );
    assert_eq!(
        device.to_bytes().to_vec(),
        bytes(&v["device_identity_secret_encoding"])
    );
    Party { user, device, cert }
}

fn prekeys(v: &Value, bob: &Party) -> (SignedPreKeySecret, OneTimePreKeySecret) {
    let s = &v["signed_prekey"];
    let mut rng = QueueRng::new(&s["rng_draws"]);
    let key_id = u32::try_from(s["key_id"].as_u64().expect("id")).expect("u32");
    let spk = SignedPreKeySecret::generate(&mut rng, &bob.device, key_id);
    rng.assert_empty();
    assert_eq!(spk.public().to_bytes(), bytes(&s["public_encoding"]));
    assert_eq!(spk.to_bytes().to_vec(), bytes(&s["secret_encoding"]));
    let o = &v["one_time_prekey"];
    let mut rng = QueueRng::new(&o["rng_draws"]);
    let key_id = u32::try_from(o["key_id"].as_u64().expect("id")).expect("u32");
    let opk = OneTimePreKeySecret::generate(&mut rng, key_id);
    rng.assert_empty();
    assert_eq!(opk.public().to_bytes(), bytes(&o["public_encoding"]));
    assert_eq!(opk.to_bytes().to_vec(), bytes(&o["secret_encoding"]));
    (spk, opk)
}

#[test]
fn identity_vectors_verify() {
    let v = load("identity.json");
    let parties: Vec<Party> = v["valid"]
        .as_array()
        .expect("valid")
        .iter()
        .map(party)
        .collect();
    assert_eq!(parties.len(), 2);
    for case in v["invalid_certificates"].as_array().expect("invalid") {
        let trusted = arr::<32>(&case["trusted_user_key"]);
        let res = DeviceCertificate::from_bytes(&bytes(&case["certificate"]))
            .and_then(|c| c.verify(&trusted));
        assert_eq!(
            res.expect_err("must fail").code(),
            case["error"].as_str().expect("error")
        );
    }
}

#[test]
fn x3dh_vectors_verify() {
    let v = load("x3dh.json");
    for case in v["cases"].as_array().expect("cases") {
        let alice = party(&case["alice"]);
        let bob = party(&case["bob"]);
        let (spk, opk) = prekeys(case, &bob);
        let bundle = PreKeyBundle::from_bytes(&bytes(&case["bundle"])).expect("bundle");
        assert_eq!(bundle.certificate, bob.cert);
        let mut rng = QueueRng::new(&case["alice_ephemeral_rng_draws"]);
        let init = x3dh::initiate(
            &mut rng,
            &alice.device,
            &alice.cert,
            &bundle,
            &bob.user.public_key(),
        )
        .expect("initiate");
        rng.assert_empty();
        assert_eq!(
            init.header.ephemeral_key.to_vec(),
            bytes(&case["alice_ephemeral_public"])
        );
        assert_eq!(
            init.output.shared_secret.to_vec(),
            bytes(&case["shared_secret"])
        );
        assert_eq!(init.output.associated_data, bytes(&case["associated_data"]));
        let opk_used = bundle.one_time_prekey.map(|_| &opk);
        let resp = x3dh::respond(
            &bob.device,
            &bob.cert,
            &spk,
            opk_used,
            &init.header,
            &alice.user.public_key(),
        )
        .expect("respond");
        assert_eq!(resp.shared_secret.to_vec(), bytes(&case["shared_secret"]));
    }
    for case in v["invalid"].as_array().expect("invalid") {
        let alice = party(&case["alice"]);
        let bob = party(&case["bob"]);
        let bundle = PreKeyBundle::from_bytes(&bytes(&case["bundle"])).expect("bundle");
        let mut rng = QueueRng(VecDeque::new());
        let e = x3dh::initiate(
            &mut rng,
            &alice.device,
            &alice.cert,
            &bundle,
            &bob.user.public_key(),
        )
        .expect_err("must fail");
        assert_eq!(e.code(), case["error"].as_str().expect("error"));
    }
}

#[test]
fn ratchet_vectors_verify() {
    let v = load("ratchet.json");
    let alice = party(&v["alice"]);
    let bob = party(&v["bob"]);
    let (spk, opk) = prekeys(&v, &bob);
    let bundle = PreKeyBundle::from_bytes(&bytes(&v["bundle"])).expect("bundle");
    let mut rng = QueueRng::new(&v["alice_initiate_rng_draws"]);
    let mut a = Session::initiate(
        &mut rng,
        &alice.device,
        &alice.cert,
        &bundle,
        &bob.user.public_key(),
    )
    .expect("initiate");
    rng.assert_empty();
    let mut b: Option<Session> = None;
    let mut wires: Vec<Vec<u8>> = Vec::new();
    for step in v["steps"].as_array().expect("steps") {
        let op = step["op"].as_str().expect("op");
        let who = step["party"].as_str().unwrap_or("");
        let idx = step["message_index"].as_u64().expect("index") as usize;
        match op {
            "encrypt" => {
                let s = if who == "alice" {
                    &mut a
                } else {
                    b.as_mut().expect("bob session")
                };
                let w = s.encrypt(&bytes(&step["plaintext"])).expect("encrypt");
                assert_eq!(w, bytes(&step["wire"]), "wire of message {idx}");
                assert_eq!(wires.len(), idx);
                wires.push(w);
            }
            "tamper" => {
                assert_eq!(wires.len(), idx);
                wires.push(bytes(&step["wire"]));
            }
            "respond" => {
                let mut rng = QueueRng::new(&step["rng_draws"]);
                let pm = PreKeyMessage::from_bytes(&wires[idx]).expect("prekey message");
                let (s, pt) = Session::respond(
                    &mut rng,
                    &bob.device,
                    &bob.cert,
                    &spk,
                    Some(&opk),
                    &alice.user.public_key(),
                    &pm,
                )
                .expect("respond");
                rng.assert_empty();
                assert_eq!(pt.to_vec(), bytes(&step["plaintext"]));
                b = Some(s);
            }
            "decrypt" => {
                let s = if who == "alice" {
                    &mut a
                } else {
                    b.as_mut().expect("bob session")
                };
                let mut rng = QueueRng::new(&step["rng_draws"]);
                let before = s.to_bytes();
                let res = s.decrypt(&mut rng, &wires[idx]);
                rng.assert_empty();
                match step.get("error") {
                    Some(e) => {
                        assert_eq!(
                            res.expect_err("must fail").code(),
                            e.as_str().expect("code")
                        );
                        assert_eq!(*s.to_bytes(), *before);
                    }
                    None => assert_eq!(res.expect("decrypt").to_vec(), bytes(&step["plaintext"])),
                }
            }
            other => panic!("unknown op {other}"),
        }
    }
    assert_eq!(a.to_bytes().to_vec(), bytes(&v["final_alice_state"]));
    let b = b.expect("bob session");
    assert_eq!(b.to_bytes().to_vec(), bytes(&v["final_bob_state"]));
    // The stored states restore to themselves.
    let restored = Session::from_bytes(&bytes(&v["final_bob_state"])).expect("restore");
    assert_eq!(restored.to_bytes().to_vec(), bytes(&v["final_bob_state"]));
}

#[test]
fn sender_key_vectors_verify() {
    let v = load("sender_key.json");
    let channel = arr::<16>(&v["channel_id"]);
    let dev = arr::<16>(&v["sender_device_id"]);
    let mut rng = QueueRng::new(&v["generate_rng_draws"]);
    let mut sender = SenderKeySender::generate(&mut rng, channel, dev);
    rng.assert_empty();
    assert_eq!(
        sender.distribution().to_bytes().to_vec(),
        bytes(&v["distribution"])
    );
    let dist = SenderKeyDistribution::from_bytes(&bytes(&v["distribution"])).expect("distribution");
    let mut receiver = SenderKeyReceiver::from_distribution(&dist, &dev).expect("receiver");
    for m in v["messages"].as_array().expect("messages") {
        let mut rng = QueueRng::new(&m["rng_draws"]);
        let w = sender
            .encrypt(&mut rng, &bytes(&m["plaintext"]))
            .expect("encrypt");
        rng.assert_empty();
        assert_eq!(w, bytes(&m["wire"]));
    }
    for d in v["deliveries"].as_array().expect("deliveries") {
        let before = receiver.to_bytes();
        let res = receiver.decrypt(
            &arr(&d["envelope_channel_id"]),
            &arr(&d["envelope_sender_device_id"]),
            &bytes(&d["wire"]),
        );
        match d.get("error") {
            Some(e) => {
                assert_eq!(
                    res.expect_err("must fail").code(),
                    e.as_str().expect("code")
                );
                assert_eq!(*receiver.to_bytes(), *before);
            }
            None => assert_eq!(res.expect("decrypt").to_vec(), bytes(&d["plaintext"])),
        }
    }
    assert_eq!(sender.to_bytes().to_vec(), bytes(&v["final_sender_state"]));
    assert_eq!(
        receiver.to_bytes().to_vec(),
        bytes(&v["final_receiver_state"])
    );
}

#[test]
fn attachment_vectors_verify() {
    let v = load("attachment.json");
    for case in v["cases"].as_array().expect("cases") {
        let pointer = AttachmentPointer::from_bytes(&bytes(&case["pointer"])).expect("pointer");
        assert_eq!(pointer.key.to_vec(), bytes(&case["file_key"]));
        assert_eq!(pointer.digest.to_vec(), bytes(&case["digest"]));
        let pt = decrypt_attachment(&pointer, &bytes(&case["blob"])).expect("decrypt");
        assert_eq!(pt.to_vec(), bytes(&case["plaintext"]));
        let chunk = u32::try_from(case["chunk_size"].as_u64().expect("size")).expect("u32");
        let (p, blob) =
            encrypt_attachment_with_key(Zeroizing::new(arr(&case["file_key"])), chunk, &pt)
                .expect("encrypt");
        assert_eq!(blob, bytes(&case["blob"]));
        assert_eq!(p, pointer);
    }
    for case in v["invalid"].as_array().expect("invalid") {
        let pointer = AttachmentPointer::from_bytes(&bytes(&case["pointer"])).expect("pointer");
        let e = decrypt_attachment(&pointer, &bytes(&case["blob"])).expect_err("must fail");
        assert_eq!(e.code(), case["error"].as_str().expect("code"));
    }
}

#[test]
fn fingerprint_vectors_verify() {
    let v = load("fingerprint.json");
    let users = v["users"].as_array().expect("users");
    let fps: Vec<Fingerprint> = users
        .iter()
        .map(|u| {
            let f = Fingerprint::new(&arr(&u["user_key"]), &arr(&u["user_id"]));
            assert_eq!(
                f.digits(),
                u["fingerprint_digits"].as_str().expect("digits")
            );
            assert_eq!(f.to_string(), u["display"].as_str().expect("display"));
            f
        })
        .collect();
    for p in v["safety_numbers"].as_array().expect("pairs") {
        let a = p["a"].as_u64().expect("a") as usize;
        let b = p["b"].as_u64().expect("b") as usize;
        let sn = SafetyNumber::from_fingerprints(&fps[a], &fps[b]);
        assert_eq!(
            sn.digits(),
            p["safety_number_digits"].as_str().expect("digits")
        );
        assert_eq!(sn, SafetyNumber::from_fingerprints(&fps[b], &fps[a]));
        assert_eq!(sn.to_string(), p["display"].as_str().expect("display"));
        let ua = &users[a];
        let ub = &users[b];
        let direct = SafetyNumber::new(
            &arr(&ua["user_key"]),
            &arr(&ua["user_id"]),
            &arr(&ub["user_key"]),
            &arr(&ub["user_id"]),
        );
        assert_eq!(direct, sn);
    }
}

fn utf8(v: &Value) -> String {
    String::from_utf8(bytes(v)).expect("UTF-8")
}

fn cases<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key].as_array().expect(key)
}

#[test]
fn app_vectors_verify() {
    let v = load("app.json");
    let limits = &v["limits"];
    let limit = |k: &str| limits[k].as_u64().expect(k) as usize;
    use chatalot_crypto::limits as l;
    assert_eq!(limit("max_body_len"), l::MAX_BODY_LEN);
    assert_eq!(
        limit("max_pairwise_message_len"),
        l::MAX_PAIRWISE_MESSAGE_LEN
    );
    assert_eq!(limit("max_direct_recipients"), l::MAX_DIRECT_RECIPIENTS);
    assert_eq!(limit("max_file_name_len"), l::MAX_FILE_NAME_LEN);
    assert_eq!(limit("max_mime_type_len"), l::MAX_MIME_TYPE_LEN);
    assert_eq!(
        limit("sender_key_rotate_after"),
        l::SENDER_KEY_ROTATE_AFTER as usize
    );

    for c in cases(&v, "bodies") {
        let body = match c["kind"].as_str().expect("kind") {
            "text" => Body::Text(utf8(&c["text"])),
            "attachment" => Body::Attachment(AttachmentBody {
                blob_message_id: arr(&c["blob_message_id"]),
                pointer: AttachmentPointer::from_bytes(&bytes(&c["pointer"])).expect("pointer"),
                name: utf8(&c["name"]),
                mime: utf8(&c["mime"]),
            }),
            "file" => {
                let num = |k: &str| c[k].as_u64().map(|n| u32::try_from(n).expect("u32"));
                Body::File(FileBody {
                    file_id: arr(&c["file_id"]),
                    pointer: AttachmentPointer::from_bytes(&bytes(&c["pointer"])).expect("pointer"),
                    name: utf8(&c["name"]),
                    mime: utf8(&c["mime"]),
                    dimensions: num("width").zip(num("height")),
                    duration_ms: num("duration_ms"),
                    thumbnail: c.get("thumb_file_id").map(|t| {
                        (
                            arr(t),
                            AttachmentPointer::from_bytes(&bytes(&c["thumb_pointer"]))
                                .expect("thumbnail pointer"),
                        )
                    }),
                })
            }
            "link_text" => Body::LinkText(LinkTextBody {
                text: utf8(&c["text"]),
                url: utf8(&c["url"]),
                final_url: utf8(&c["final_url"]),
                title: utf8(&c["title"]),
                description: utf8(&c["link_description"]),
                site_name: utf8(&c["site_name"]),
            }),
            other => panic!("unknown body kind {other}"),
        };
        let encoding = bytes(&c["encoding"]);
        assert_eq!(body.encode().expect("encode").to_vec(), encoding);
        assert_eq!(Body::decode(&encoding).expect("decode"), body);
    }
    for c in cases(&v, "direct_plaintexts") {
        let p = DirectPlaintext {
            channel_id: arr(&c["channel_id"]),
            body: Zeroizing::new(bytes(&c["body"])),
        };
        let encoding = bytes(&c["encoding"]);
        assert_eq!(p.encode().expect("encode").to_vec(), encoding);
        assert_eq!(DirectPlaintext::decode(&encoding).expect("decode"), p);
    }
    for c in cases(&v, "direct_payloads") {
        let p = DirectPayload {
            sender_device_id: arr(&c["sender_device_id"]),
            recipients: cases(c, "recipients")
                .iter()
                .map(|r| DirectRecipient {
                    device_id: arr(&r["device_id"]),
                    message: bytes(&r["message"]),
                })
                .collect(),
        };
        let encoding = bytes(&c["encoding"]);
        assert_eq!(p.encode().expect("encode"), encoding);
        assert_eq!(
            Payload::decode(&encoding).expect("decode"),
            Payload::Direct(p.clone())
        );
        for r in &p.recipients {
            assert_eq!(p.message_for(&r.device_id), Some(r.message.as_slice()));
        }
    }
    for c in cases(&v, "channel_payloads") {
        let p = ChannelPayload {
            sender_device_id: arr(&c["sender_device_id"]),
            message: bytes(&c["message"]),
        };
        let encoding = bytes(&c["encoding"]);
        assert_eq!(p.encode(), encoding);
        assert_eq!(
            Payload::decode(&encoding).expect("decode"),
            Payload::Channel(p)
        );
    }
    for c in cases(&v, "envelope_plaintexts") {
        let p = EnvelopePlaintext {
            kind: u8::try_from(c["kind"].as_u64().expect("kind")).expect("u8"),
            channel_id: (!c["channel_id"].is_null()).then(|| arr(&c["channel_id"])),
            body: Zeroizing::new(bytes(&c["body"])),
        };
        let encoding = bytes(&c["encoding"]);
        assert_eq!(p.encode().expect("encode").to_vec(), encoding);
        assert_eq!(EnvelopePlaintext::decode(&encoding).expect("decode"), p);
    }
    for c in cases(&v, "invalid") {
        let encoding = bytes(&c["encoding"]);
        let res = match c["decoder"].as_str().expect("decoder") {
            "body" => Body::decode(&encoding).map(drop),
            "direct_plaintext" => DirectPlaintext::decode(&encoding).map(drop),
            "payload" => Payload::decode(&encoding).map(drop),
            "envelope_plaintext" => EnvelopePlaintext::decode(&encoding).map(drop),
            other => panic!("unknown decoder {other}"),
        };
        assert_eq!(
            res.expect_err("must fail").code(),
            c["error"].as_str().expect("error"),
            "{}",
            c["description"]
        );
    }
}

fn code_of(e: chatalot_crypto::CryptoError) -> String {
    e.code().to_string()
}

fn expect_err<T>(r: Result<T, chatalot_crypto::CryptoError>, want: &Value) {
    match r {
        Ok(_) => panic!("expected {want}"),
        Err(e) => assert_eq!(code_of(e), want.as_str().expect("error code")),
    }
}

#[test]
fn devices_vectors_verify() {
    use chatalot_crypto::backup::{self, BackupEntry, BackupHead};
    use chatalot_crypto::history::{HistoryBundle, HistoryKey};
    use chatalot_crypto::link::{self, LinkCode, LinkRequest, PendingLink};
    use chatalot_crypto::secret_storage::{self, RecoveryKey};

    let v = load("devices.json");
    let alice = party(&v["account"]);
    let user_id = alice.user.user_id();

    // Linking.
    let l = &v["link"];
    let mut rng = QueueRng::new(&l["new_device_rng_draws"]);
    let new_device = DeviceIdentity::generate(&mut rng, user_id, arr(&l["new_device_id"]));
    rng.assert_empty();
    assert_eq!(
        new_device.to_bytes().to_vec(),
        bytes(&l["new_device_identity_secret_encoding"])
    );
    let mut rng = QueueRng::new(&l["start_rng_draws"]);
    let pending = PendingLink::start(&mut rng, new_device);
    rng.assert_empty();
    assert_eq!(pending.request().to_bytes(), bytes(&l["request"]));
    assert_eq!(
        pending.request().digest().to_vec(),
        bytes(&l["request_digest"])
    );
    assert_eq!(
        pending.code().to_text(),
        l["code_text"].as_str().expect("text")
    );
    let request = LinkRequest::from_bytes(&bytes(&l["request"])).expect("request");
    let code = LinkCode::parse(l["code_text"].as_str().expect("text")).expect("code");
    assert!(request.matches(&code));
    let backup_key: [u8; 32] = arr(&l["backup_key"]);
    let storage_version = l["storage_version"].as_u64().expect("u64");
    let head_seq = l["head_seq"].as_u64().expect("u64");
    let mut rng = QueueRng::new(&l["respond_rng_draws"]);
    let response = link::respond(
        &mut rng,
        &code,
        &request,
        &alice.user,
        &backup_key,
        storage_version,
        head_seq,
    )
    .expect("respond");
    rng.assert_empty();
    assert_eq!(response, bytes(&l["response"]));
    for c in cases(l, "invalid_responses") {
        let published: [u8; 32] = arr(&c["published_user_key"]);
        expect_err(
            pending.finish(&bytes(&c["response"]), &published),
            &c["error"],
        );
    }
    let linked = pending
        .finish(&response, &alice.user.public_key())
        .expect("finish after refused responses");
    assert_eq!(
        linked.secrets.certificate.to_bytes(),
        bytes(&l["linked_certificate"])
    );
    assert_eq!(linked.secrets.user_key.to_bytes(), alice.user.to_bytes());
    assert_eq!(&linked.secrets.backup_key[..], &backup_key);
    assert_eq!(linked.secrets.storage_version, storage_version);
    assert_eq!(linked.secrets.head_seq, head_seq);
    for c in cases(l, "invalid_requests") {
        let r = LinkRequest::from_bytes(&bytes(&c["request"])).expect("request");
        let code = LinkCode::parse(c["code_text"].as_str().expect("text")).expect("code");
        assert!(!r.matches(&code));
        let mut rng = QueueRng(VecDeque::new());
        expect_err(
            link::respond(&mut rng, &code, &r, &alice.user, &backup_key, 0, 0),
            &c["error"],
        );
    }

    // Secret storage.
    let st = &v["secret_storage"];
    let mut rng = QueueRng::new(&st["recovery_key_rng_draws"]);
    let rk = RecoveryKey::generate(&mut rng);
    rng.assert_empty();
    assert_eq!(
        rk.to_text().as_str(),
        st["recovery_key_text"].as_str().expect("text")
    );
    assert_eq!(
        RecoveryKey::parse(st["recovery_key_typed"].as_str().expect("typed")).expect("typed"),
        rk
    );
    let version = st["version"].as_u64().expect("u64");
    let mut rng = QueueRng::new(&st["seal_rng_draws"]);
    let storage = secret_storage::seal(&mut rng, &rk, &alice.user, &backup_key, version);
    rng.assert_empty();
    assert_eq!(storage, bytes(&st["storage"]));
    let opened = secret_storage::open(&rk, &storage, &user_id, version).expect("open");
    assert_eq!(opened.user_key.to_bytes(), alice.user.to_bytes());
    assert_eq!(&opened.backup_key[..], &backup_key);
    assert_eq!(opened.version, version);
    for c in cases(st, "invalid") {
        let key = RecoveryKey::parse(c["recovery_key_text"].as_str().expect("text")).expect("rk");
        let min = c["min_version"].as_u64().expect("u64");
        expect_err(
            secret_storage::open(&key, &bytes(&c["storage"]), &arr(&c["user_id"]), min),
            &c["error"],
        );
    }
    for t in st["invalid_texts"].as_array().expect("texts") {
        expect_err(
            RecoveryKey::parse(t.as_str().expect("text")),
            &Value::from("InvalidField"),
        );
    }

    // History keys.
    let hv = &v["history"];
    let channel: [u8; 16] = arr(&hv["channel_id"]);
    let mut rng = QueueRng::new(&hv["sender_generate_rng_draws"]);
    let mut sender = SenderKeySender::generate(&mut rng, channel, alice.device.device_id());
    rng.assert_empty();
    let hk = HistoryKey::attest(&alice.device, &sender.distribution()).expect("attest");
    assert_eq!(hk.to_bytes().to_vec(), bytes(&hv["history_key"]));
    let decoded = HistoryKey::from_bytes(&bytes(&hv["history_key"])).expect("decode");
    decoded.verify(&alice.cert).expect("attestation");
    for m in cases(hv, "messages") {
        let mut rng = QueueRng::new(&m["rng_draws"]);
        let wire = sender
            .encrypt(&mut rng, &bytes(&m["plaintext"]))
            .expect("encrypt");
        rng.assert_empty();
        assert_eq!(wire, bytes(&m["wire"]));
        let plain = decoded
            .decrypt(&channel, &alice.device.device_id(), &wire)
            .expect("history read");
        assert_eq!(plain.to_vec(), bytes(&m["plaintext"]));
    }
    let later = HistoryKey::attest(&alice.device, &sender.distribution()).expect("attest");
    assert_eq!(later.to_bytes().to_vec(), bytes(&hv["later_history_key"]));
    let bundle = HistoryBundle::from_bytes(&bytes(&hv["bundle"])).expect("bundle");
    assert_eq!(bundle.channel_id, channel);
    assert_eq!(bundle.keys, vec![hk.clone(), later.clone()]);
    assert_eq!(
        bundle.to_bytes().expect("encode").to_vec(),
        bytes(&hv["bundle"])
    );
    for c in cases(hv, "invalid_bundles") {
        expect_err(
            HistoryBundle::from_bytes(&bytes(&c["bundle"])).map(|_| ()),
            &c["error"],
        );
    }
    for c in cases(hv, "invalid") {
        let k = HistoryKey::from_bytes(&bytes(&c["history_key"])).expect("decode");
        if let Some(wire) = c.get("wire") {
            let ch = c.get("channel_id").map(arr).unwrap_or(channel);
            expect_err(
                k.decrypt(&ch, &alice.device.device_id(), &bytes(wire)),
                &c["error"],
            );
        } else {
            let cert = match c.get("certificate") {
                Some(b) => DeviceCertificate::from_bytes(&bytes(b)).expect("cert"),
                None => alice.cert,
            };
            expect_err(k.verify(&cert), &c["error"]);
        }
    }

    // Backup.
    let b = &v["backup"];
    let mut chunks = Vec::new();
    for (seq, name) in [(1u64, "chunk_1"), (2, "chunk_2")] {
        let chunk = bytes(&b[name]);
        let entries = backup::open_chunk(&backup_key, &user_id, seq, &chunk).expect("open chunk");
        let mut rng = QueueRng::new(&b[format!("{name}_rng_draws")]);
        let resealed =
            backup::seal_chunk(&mut rng, &backup_key, &user_id, seq, &entries).expect("seal");
        rng.assert_empty();
        assert_eq!(resealed, chunk);
        chunks.push((chunk, entries));
    }
    let archived = &b["chunk_1_archived"];
    match &chunks[0].1[..] {
        [BackupEntry::History(k), BackupEntry::Message(m)] => {
            assert_eq!(k.to_bytes().to_vec(), bytes(&hv["history_key"]));
            assert_eq!(m.channel_id.to_vec(), bytes(&archived["channel_id"]));
            assert_eq!(m.message_id.to_vec(), bytes(&archived["message_id"]));
            assert_eq!(m.seq, archived["seq"].as_u64().expect("u64"));
            assert_eq!(m.body.to_vec(), bytes(&archived["body"]));
        }
        other => panic!("chunk 1 entries: {other:?}"),
    }
    let raw: Vec<&[u8]> = chunks.iter().map(|(c, _)| c.as_slice()).collect();
    let head1 = BackupHead::empty(user_id).after(&raw[..1]);
    assert_eq!(head1.seal(&backup_key), bytes(&b["head_after_1"]));
    let head2 = head1.after(&raw[1..]);
    assert_eq!(head2.seal(&backup_key), bytes(&b["head_after_2"]));
    assert_eq!(head2.digest.to_vec(), bytes(&b["head_after_2_digest"]));
    let opened =
        BackupHead::open(&backup_key, &bytes(&b["head_after_2"]), &user_id, 2).expect("open head");
    opened.check_chunks(&raw).expect("chain");
    for c in cases(b, "invalid_heads") {
        let uid = c.get("user_id").map(arr).unwrap_or(user_id);
        let min = c["min_head_seq"].as_u64().expect("u64");
        expect_err(
            BackupHead::open(&backup_key, &bytes(&c["head"]), &uid, min),
            &c["error"],
        );
    }
    for c in cases(b, "invalid_chains") {
        let list: Vec<Vec<u8>> = c["chunks"]
            .as_array()
            .expect("chunks")
            .iter()
            .map(bytes)
            .collect();
        let refs: Vec<&[u8]> = list.iter().map(Vec::as_slice).collect();
        expect_err(opened.check_chunks(&refs), &c["error"]);
    }
    for c in cases(b, "invalid_chunks") {
        let key: [u8; 32] = c.get("backup_key").map(arr).unwrap_or(backup_key);
        let seq = c["seq"].as_u64().expect("u64");
        expect_err(
            backup::open_chunk(&key, &user_id, seq, &bytes(&c["chunk"])),
            &c["error"],
        );
    }
}
