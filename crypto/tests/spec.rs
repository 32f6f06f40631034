//! Checks docs/e2e.md against the crate: recomputes the outputs recorded in the vector
//! files from their inputs using only the formulas of the document and raw primitives
//! (tests/support/spec.rs), never the crate's own code paths.

#[path = "support/spec.rs"]
mod spec;

use serde_json::Value;

fn load(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).expect("file")).expect("json")
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex")).expect("hex")
}

fn arr<const N: usize>(v: &Value) -> [u8; N] {
    bytes(v).try_into().expect("length")
}

fn draw(v: &Value, i: usize) -> [u8; 32] {
    arr(&v[i])
}

/// Device certificate per section 3.1, from a party's draws.
fn certificate(p: &Value) -> Vec<u8> {
    let user_seed = draw(&p["user_key_rng_draws"], 0);
    let dev_seed = draw(&p["device_rng_draws"], 0);
    let dev_dh = draw(&p["device_rng_draws"], 1);
    let mut body = vec![0x01];
    body.extend_from_slice(&spec::ed25519_public(&user_seed));
    body.extend_from_slice(&bytes(&p["user_id"]));
    body.extend_from_slice(&bytes(&p["device_id"]));
    body.extend_from_slice(&spec::ed25519_public(&dev_seed));
    body.extend_from_slice(&spec::x25519_public(&dev_dh));
    let sig = spec::sign(&user_seed, "Chatalot-DeviceCert-v1", &body);
    body.extend_from_slice(&sig);
    body
}

#[test]
fn identity_matches_document() {
    let v = load("identity.json");
    for p in v["valid"].as_array().expect("valid") {
        assert_eq!(certificate(p), bytes(&p["device_certificate"]));
        let mut dev = vec![0x21];
        dev.extend_from_slice(&bytes(&p["user_id"]));
        dev.extend_from_slice(&bytes(&p["device_id"]));
        dev.extend_from_slice(&draw(&p["device_rng_draws"], 0));
        dev.extend_from_slice(&draw(&p["device_rng_draws"], 1));
        assert_eq!(dev, bytes(&p["device_identity_secret_encoding"]));
    }
}

struct X3dh {
    sk: [u8; 32],
    ad: Vec<u8>,
}

/// Section 4: SPK signature, bundle layout, SK and AD.
fn x3dh(case: &Value, ephemeral: [u8; 32]) -> X3dh {
    let (a, b) = (&case["alice"], &case["bob"]);
    let bob_dev_seed = draw(&b["device_rng_draws"], 0);
    let spk_secret = draw(&case["signed_prekey"]["rng_draws"], 0);
    let spk_id = case["signed_prekey"]["key_id"].as_u64().expect("id") as u32;
    let spk_pub = spec::x25519_public(&spk_secret);
    let mut body = bytes(&b["device_id"]);
    body.extend_from_slice(&spk_id.to_be_bytes());
    body.extend_from_slice(&spk_pub);
    let spk_sig = spec::sign(&bob_dev_seed, "Chatalot-SignedPreKey-v1", &body);
    let mut spk_enc = vec![0x02];
    spk_enc.extend_from_slice(&spk_id.to_be_bytes());
    spk_enc.extend_from_slice(&spk_pub);
    spk_enc.extend_from_slice(&spk_sig);
    assert_eq!(spk_enc, bytes(&case["signed_prekey"]["public_encoding"]));

    let bundle = bytes(&case["bundle"]);
    let with_opk = bundle[bundle.len() - 37] == 1 && bundle.len() == 1 + 193 + 100 + 1 + 36;
    let mut expect_bundle = vec![0x04];
    expect_bundle.extend_from_slice(&certificate(b));
    expect_bundle.extend_from_slice(&spk_enc[1..]);
    let opk_secret = draw(&case["one_time_prekey"]["rng_draws"], 0);
    if with_opk {
        expect_bundle.push(1);
        let id = case["one_time_prekey"]["key_id"].as_u64().expect("id") as u32;
        expect_bundle.extend_from_slice(&id.to_be_bytes());
        expect_bundle.extend_from_slice(&spec::x25519_public(&opk_secret));
    } else {
        expect_bundle.push(0);
    }
    assert_eq!(expect_bundle, bundle);

    let ik_a = draw(&a["device_rng_draws"], 1);
    let ik_b_pub = spec::x25519_public(&draw(&b["device_rng_draws"], 1));
    let mut dhs = vec![
        spec::x25519(&ik_a, &spk_pub),
        spec::x25519(&ephemeral, &ik_b_pub),
        spec::x25519(&ephemeral, &spk_pub),
    ];
    if with_opk {
        dhs.push(spec::x25519(&ephemeral, &spec::x25519_public(&opk_secret)));
    }
    let mut ad = certificate(a);
    ad.extend_from_slice(&certificate(b));
    X3dh {
        sk: spec::x3dh_sk(&dhs),
        ad,
    }
}

#[test]
fn x3dh_matches_document() {
    let v = load("x3dh.json");
    for case in v["cases"].as_array().expect("cases") {
        let ek = draw(&case["alice_ephemeral_rng_draws"], 0);
        let out = x3dh(case, ek);
        assert_eq!(out.sk.to_vec(), bytes(&case["shared_secret"]));
        assert_eq!(out.ad, bytes(&case["associated_data"]));
    }
}

/// Splits a ratchet message encoding (tag 0x06) into (41-byte prefix, ciphertext).
fn split_ratchet(w: &[u8]) -> (&[u8], &[u8]) {
    assert_eq!(w[0], 0x06);
    let len = u32::from_be_bytes(w[41..45].try_into().expect("4")) as usize;
    assert_eq!(w.len(), 45 + len);
    (&w[..41], &w[45..])
}

#[test]
fn ratchet_matches_document() {
    let v = load("ratchet.json");
    let ek = draw(&v["alice_initiate_rng_draws"], 0);
    let alice_dhs = draw(&v["alice_initiate_rng_draws"], 1);
    let x = x3dh(&v, ek);
    let ad_hash = spec::sha256(&x.ad);
    let steps = v["steps"].as_array().expect("steps");
    let spk_secret = draw(&v["signed_prekey"]["rng_draws"], 0);
    let spk_pub = spec::x25519_public(&spk_secret);

    // Alice's first sending chain.
    let (rk_a, mut cks) = spec::kdf_rk(&x.sk, &spec::x25519(&alice_dhs, &spk_pub));
    for idx in [0usize, 1] {
        let step = &steps
            .iter()
            .find(|s| s["op"] == "encrypt" && s["message_index"] == idx as u64)
            .expect("step");
        let wire = bytes(&step["wire"]);
        // PreKeyMessage: 0x05 | cert | ek | spk id | opk flag | opk id | var(inner)
        assert_eq!(wire[0], 0x05);
        let outer_len = 1 + 193 + 32 + 4 + 1 + 4;
        assert_eq!(&wire[1 + 193..1 + 193 + 32], &spec::x25519_public(&ek));
        let inner_len =
            u32::from_be_bytes(wire[outer_len..outer_len + 4].try_into().expect("4")) as usize;
        let inner = &wire[outer_len + 4..];
        assert_eq!(inner.len(), inner_len);
        let (prefix, ct) = split_ratchet(inner);
        assert_eq!(&prefix[1..33], &spec::x25519_public(&alice_dhs));
        assert_eq!(&prefix[33..41], &[0, 0, 0, 0, 0, 0, 0, idx as u8]);
        let (mk, next) = spec::kdf_ck(&cks);
        cks = next;
        let (key, nonce) = spec::message_key_material(&mk, b"Chatalot-Ratchet-MK-v1");
        let mut aad = ad_hash.to_vec();
        aad.extend_from_slice(&wire[..outer_len]);
        aad.extend_from_slice(prefix);
        assert_eq!(
            spec::aead(&key, &nonce, &bytes(&step["plaintext"]), &aad),
            ct,
            "message {idx}"
        );
    }

    // Bob's reply (message 2): Bob's root = SK, DHs = SPK; on Alice's first message he
    // ratchets with a new key drawn in `respond`.
    let respond = steps
        .iter()
        .find(|s| s["op"] == "respond")
        .expect("respond");
    let bob_new = draw(&respond["rng_draws"], 0);
    let alice_pub = spec::x25519_public(&alice_dhs);
    let (rk, ckr_b) = spec::kdf_rk(&x.sk, &spec::x25519(&spk_secret, &alice_pub));
    // Bob's receiving chain equals Alice's first sending chain.
    let (_, alice_first_ck) = spec::kdf_rk(&x.sk, &spec::x25519(&alice_dhs, &spk_pub));
    assert_eq!(ckr_b, alice_first_ck);
    assert_eq!(rk, rk_a);
    let (_, cks_b) = spec::kdf_rk(&rk, &spec::x25519(&bob_new, &alice_pub));
    let step = steps
        .iter()
        .find(|s| s["op"] == "encrypt" && s["message_index"] == 2)
        .expect("step");
    let wire = bytes(&step["wire"]);
    let (prefix, ct) = split_ratchet(&wire);
    assert_eq!(&prefix[1..33], &spec::x25519_public(&bob_new));
    // PN = 0 (Bob had sent nothing), N = 0.
    assert_eq!(&prefix[33..41], &[0u8; 8]);
    let (mk, _) = spec::kdf_ck(&cks_b);
    let (key, nonce) = spec::message_key_material(&mk, b"Chatalot-Ratchet-MK-v1");
    let mut aad = ad_hash.to_vec();
    aad.extend_from_slice(prefix);
    assert_eq!(
        spec::aead(&key, &nonce, &bytes(&step["plaintext"]), &aad),
        ct
    );
}

#[test]
fn sender_key_matches_document() {
    let v = load("sender_key.json");
    let draws = &v["generate_rng_draws"];
    let key_id: [u8; 4] = arr(&draws[0]);
    let mut ck = draw(draws, 1);
    let seed = draw(draws, 2);
    let channel = bytes(&v["channel_id"]);
    let device = bytes(&v["sender_device_id"]);
    let mut dist = vec![0x07];
    dist.extend_from_slice(&channel);
    dist.extend_from_slice(&device);
    dist.extend_from_slice(&key_id);
    dist.extend_from_slice(&0u32.to_be_bytes());
    dist.extend_from_slice(&ck);
    dist.extend_from_slice(&spec::ed25519_public(&seed));
    assert_eq!(dist, bytes(&v["distribution"]));
    for (i, m) in v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .enumerate()
    {
        let message_id = bytes(&m["rng_draws"][0]);
        let (mk, next) = spec::kdf_ck(&ck);
        ck = next;
        let (key, nonce) = spec::message_key_material(&mk, b"Chatalot-SenderKey-MK-v1");
        let mut aad = vec![0x08];
        aad.extend_from_slice(&channel);
        aad.extend_from_slice(&device);
        aad.extend_from_slice(&key_id);
        aad.extend_from_slice(&(i as u32).to_be_bytes());
        aad.extend_from_slice(&message_id);
        let ct = spec::aead(&key, &nonce, &bytes(&m["plaintext"]), &aad);
        let mut wire = vec![0x08];
        wire.extend_from_slice(&key_id);
        wire.extend_from_slice(&(i as u32).to_be_bytes());
        wire.extend_from_slice(&message_id);
        wire.extend_from_slice(&(ct.len() as u32).to_be_bytes());
        wire.extend_from_slice(&ct);
        let mut body = channel.clone();
        body.extend_from_slice(&device);
        body.extend_from_slice(&wire);
        wire.extend_from_slice(&spec::sign(&seed, "Chatalot-SenderKeyMessage-v1", &body));
        assert_eq!(wire, bytes(&m["wire"]), "message {i}");
    }
}

#[test]
fn attachment_matches_document() {
    let v = load("attachment.json");
    for case in v["cases"].as_array().expect("cases") {
        let file_key = bytes(&case["file_key"]);
        let chunk_size = case["chunk_size"].as_u64().expect("size") as usize;
        let pt = bytes(&case["plaintext"]);
        let key = spec::hkdf(None, &file_key, b"Chatalot-Attachment-v1", 32);
        let mut blob = vec![0x09];
        blob.extend_from_slice(&(chunk_size as u32).to_be_bytes());
        let header = blob.clone();
        let chunks: Vec<&[u8]> = if pt.is_empty() {
            vec![&pt[..]]
        } else {
            pt.chunks(chunk_size).collect()
        };
        for (i, c) in chunks.iter().enumerate() {
            let mut nonce = vec![0u8; 4];
            nonce.extend_from_slice(&(i as u64).to_be_bytes());
            let mut aad = header.clone();
            aad.extend_from_slice(&(i as u64).to_be_bytes());
            aad.push(u8::from(i + 1 == chunks.len()));
            blob.extend_from_slice(&spec::aead(&key, &nonce, c, &aad));
        }
        assert_eq!(blob, bytes(&case["blob"]));
        let digest = spec::sha256(&blob);
        assert_eq!(digest.to_vec(), bytes(&case["digest"]));
        let mut pointer = vec![0x0A];
        pointer.extend_from_slice(&file_key);
        pointer.extend_from_slice(&digest);
        pointer.extend_from_slice(&(pt.len() as u64).to_be_bytes());
        assert_eq!(pointer, bytes(&case["pointer"]));
    }
}

#[test]
fn fingerprint_matches_document() {
    let v = load("fingerprint.json");
    let users = v["users"].as_array().expect("users");
    let digits: Vec<String> = users
        .iter()
        .map(|u| spec::fingerprint(&arr(&u["user_key"]), &arr(&u["user_id"])))
        .collect();
    for (u, d) in users.iter().zip(&digits) {
        assert_eq!(u["fingerprint_digits"].as_str().expect("digits"), d);
    }
    for p in v["safety_numbers"].as_array().expect("pairs") {
        let a = &digits[p["a"].as_u64().expect("a") as usize];
        let b = &digits[p["b"].as_u64().expect("b") as usize];
        let sn = if a <= b {
            format!("{a}{b}")
        } else {
            format!("{b}{a}")
        };
        assert_eq!(p["safety_number_digits"].as_str().expect("digits"), sn);
    }
}
