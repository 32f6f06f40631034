//! Seeded mutation fuzzing of every decoder and of the stateful decrypt paths: no input
//! panics, and a rejected message leaves the state byte-identical.

#[path = "../src/test_rng.rs"]
mod test_rng;

use chatalot_crypto::app::{
    text_body, AttachmentBody, Body, ChannelPayload, DirectPayload, DirectPlaintext,
    DirectRecipient, EnvelopePlaintext, Payload, ENVELOPE_KIND_SENDER_KEY,
};
use chatalot_crypto::attachment::{
    decrypt_attachment, encrypt_attachment_with_key, AttachmentDecryptor, AttachmentPointer,
};
use chatalot_crypto::backup::{open_chunk, BackupHead};
use chatalot_crypto::history::HistoryKey;
use chatalot_crypto::identity::{DeviceCertificate, DeviceIdentity, UserKeyPair};
use chatalot_crypto::link::LinkRequest;
use chatalot_crypto::ratchet::{IncomingMessage, PreKeyMessage, RatchetMessage, Session};
use chatalot_crypto::sender_key::{
    SenderKeyDistribution, SenderKeyMessage, SenderKeyReceiver, SenderKeySender,
};
use chatalot_crypto::x3dh::{
    OneTimePreKeyPublic, OneTimePreKeySecret, PreKeyBundle, SignedPreKeyPublic, SignedPreKeySecret,
};
use test_rng::TestRng;
use zeroize::Zeroizing;

const ROUNDS: usize = 20_000;

fn mutate(rng: &mut TestRng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(3) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len() as u64) as usize;
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len() as u64) as usize;
                v[i] = rng.below(256) as u8;
            }
            2 => {
                let cut = rng.below(v.len() as u64 + 1) as usize;
                v.truncate(cut);
            }
            3 => {
                for _ in 0..1 + rng.below(8) {
                    v.push(rng.below(256) as u8);
                }
            }
            4 if v.len() > 8 => {
                // Overwrite a 4-byte window with a large length-like value.
                let i = rng.below(v.len() as u64 - 4) as usize;
                v[i..i + 4]
                    .copy_from_slice(&(0xFFFF_FF00u32 | rng.below(256) as u32).to_be_bytes());
            }
            _ => {
                let i = rng.below(v.len() as u64 + 1) as usize;
                v.insert(i, rng.below(256) as u8);
            }
        }
    }
    v
}

/// Runs every decoder on the input; only absence of panics matters here.
fn decode_all(b: &[u8]) {
    let _ = DeviceCertificate::from_bytes(b);
    let _ = UserKeyPair::from_bytes(b);
    let _ = DeviceIdentity::from_bytes(b);
    let _ = SignedPreKeyPublic::from_bytes(b);
    let _ = OneTimePreKeyPublic::from_bytes(b);
    let _ = SignedPreKeySecret::from_bytes(b);
    let _ = OneTimePreKeySecret::from_bytes(b);
    let _ = PreKeyBundle::from_bytes(b);
    let _ = PreKeyMessage::from_bytes(b);
    let _ = RatchetMessage::from_bytes(b);
    let _ = IncomingMessage::from_bytes(b);
    let _ = Session::from_bytes(b);
    let _ = SenderKeyDistribution::from_bytes(b);
    let _ = SenderKeyMessage::from_bytes(b);
    let _ = SenderKeySender::from_bytes(b);
    let _ = SenderKeyReceiver::from_bytes(b);
    let _ = AttachmentPointer::from_bytes(b);
    let _ = Body::decode(b);
    let _ = DirectPlaintext::decode(b);
    let _ = DirectPayload::decode(b);
    let _ = ChannelPayload::decode(b);
    let _ = Payload::decode(b);
    let _ = EnvelopePlaintext::decode(b);
    let _ = LinkRequest::from_bytes(b);
    let _ = HistoryKey::from_bytes(b);
    let _ = BackupHead::open(&[0; 32], b, &[0; 16], 0);
    let _ = open_chunk(&[0; 32], &[0; 16], 1, b);
}

#[test]
fn mutated_inputs_never_panic_and_never_change_state() {
    let mut rng = TestRng::new(77);
    let user = UserKeyPair::generate(&mut rng, [1; 16]);
    let device = DeviceIdentity::generate(&mut rng, [1; 16], [2; 16]);
    let cert = user.certify_device(&device.public_keys());
    let bob_user = UserKeyPair::generate(&mut rng, [3; 16]);
    let bob = DeviceIdentity::generate(&mut rng, [3; 16], [4; 16]);
    let bob_cert = bob_user.certify_device(&bob.public_keys());
    let spk = SignedPreKeySecret::generate(&mut rng, &bob, 5);
    let opk = OneTimePreKeySecret::generate(&mut rng, 6);
    let bundle = PreKeyBundle {
        certificate: bob_cert,
        signed_prekey: spk.public(),
        one_time_prekey: Some(opk.public()),
    };
    let mut a = Session::initiate(&mut rng, &device, &cert, &bundle, &bob_user.public_key())
        .expect("initiate");
    let first = a.encrypt(b"first").expect("enc");
    let (mut b, _) = Session::respond(
        &mut rng,
        &bob,
        &bob_cert,
        &spk,
        Some(&opk),
        &user.public_key(),
        &PreKeyMessage::from_bytes(&first).expect("decode"),
    )
    .expect("respond");
    let second = a.encrypt(b"second").expect("enc");
    let reply = b.encrypt(b"reply").expect("enc");
    let mut sender = SenderKeySender::generate(&mut rng, [8; 16], [2; 16]);
    let mut receiver =
        SenderKeyReceiver::from_distribution(&sender.distribution(), &[2; 16]).expect("recv");
    let group = sender.encrypt(&mut rng, b"group").expect("enc");
    let (pointer, blob) =
        encrypt_attachment_with_key(Zeroizing::new([9; 32]), 64, &[1u8; 150]).expect("att");

    let samples: Vec<Vec<u8>> = vec![
        cert.to_bytes(),
        user.to_bytes().to_vec(),
        device.to_bytes().to_vec(),
        spk.public().to_bytes(),
        opk.public().to_bytes(),
        spk.to_bytes().to_vec(),
        opk.to_bytes().to_vec(),
        bundle.to_bytes(),
        first.clone(),
        second.clone(),
        reply.clone(),
        a.to_bytes().to_vec(),
        b.to_bytes().to_vec(),
        sender.distribution().to_bytes().to_vec(),
        group.clone(),
        sender.to_bytes().to_vec(),
        receiver.to_bytes().to_vec(),
        pointer.to_bytes().to_vec(),
        blob.clone(),
    ];
    let mut rejected = 0;
    for _ in 0..ROUNDS {
        let src = &samples[rng.below(samples.len() as u64) as usize];
        let m = mutate(&mut rng, src);
        decode_all(&m);
        if m == *src {
            continue;
        }
        // Stateful paths: a mutated message must be rejected without changing state.
        let before = (b.to_bytes(), a.to_bytes(), receiver.to_bytes());
        assert!(b.decrypt(&mut rng, &m).is_err() || m == second);
        assert!(a.decrypt(&mut rng, &m).is_err() || m == reply);
        assert!(receiver.decrypt(&[8; 16], &[2; 16], &m).is_err());
        assert!(decrypt_attachment(&pointer, &m).is_err());
        if let Ok(mut d) = AttachmentDecryptor::new(&pointer, &m[..m.len().min(5)]) {
            let _ = d.decrypt_chunk(&m[m.len().min(5)..]);
        }
        assert_eq!(*b.to_bytes(), *before.0);
        assert_eq!(*a.to_bytes(), *before.1);
        assert_eq!(*receiver.to_bytes(), *before.2);
        rejected += 1;
    }
    assert!(rejected > ROUNDS / 2);
    // The genuine messages still work after all that.
    assert_eq!(&b.decrypt(&mut rng, &second).expect("dec")[..], b"second");
    assert_eq!(&a.decrypt(&mut rng, &reply).expect("dec")[..], b"reply");
    assert_eq!(
        &receiver.decrypt(&[8; 16], &[2; 16], &group).expect("dec")[..],
        b"group"
    );
    assert_eq!(
        &decrypt_attachment(&pointer, &blob).expect("dec")[..],
        &[1u8; 150][..]
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = TestRng::new(78);
    for _ in 0..ROUNDS {
        let len = rng.below(400) as usize;
        let mut v: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        if let Some(first) = v.first_mut() {
            // Bias towards valid tags so the decoders get past the first byte.
            if rng.below(2) == 0 {
                const TAGS: [u8; 26] = [
                    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0A, 0x20, 0x21, 0x22, 0x23,
                    0x24, 0x25, 0x26, 0x40, 0x41, 0x42, 0x43, 0x50, 0x51, 0x62, 0x65, 0x67, 0x68,
                ];
                *first = TAGS[rng.below(TAGS.len() as u64) as usize];
            }
        }
        decode_all(&v);
    }
}

/// The application-layer decoders on mutated valid encodings: whatever they accept encodes
/// back to exactly the input (one encoding per value).
#[test]
fn accepted_application_encodings_are_canonical() {
    let pointer = AttachmentPointer {
        key: Zeroizing::new([0x61; 32]),
        digest: [0x62; 32],
        size: 1234,
    };
    let attachment = Body::Attachment(AttachmentBody {
        blob_message_id: [7; 16],
        pointer,
        name: "a.txt".into(),
        mime: "text/plain".into(),
    });
    let direct = DirectPayload {
        sender_device_id: [1; 16],
        recipients: (0..2u8)
            .map(|i| DirectRecipient {
                device_id: [i + 2; 16],
                message: vec![0x06; 3],
            })
            .collect(),
    };
    let envelope = EnvelopePlaintext {
        kind: ENVELOPE_KIND_SENDER_KEY,
        channel_id: Some([9; 16]),
        body: Zeroizing::new(vec![0x07; 8]),
    };
    let seeds: Vec<Vec<u8>> = vec![
        text_body("hello").to_vec(),
        attachment.encode().expect("encode").to_vec(),
        DirectPlaintext {
            channel_id: [3; 16],
            body: Zeroizing::new(b"\x50hi".to_vec()),
        }
        .encode()
        .expect("encode")
        .to_vec(),
        direct.encode().expect("encode"),
        ChannelPayload {
            sender_device_id: [4; 16],
            message: vec![0x08; 6],
        }
        .encode(),
        envelope.encode().expect("encode").to_vec(),
    ];
    let mut rng = TestRng::new(0xa9);
    for round in 0..ROUNDS {
        let v = mutate(&mut rng, &seeds[round % seeds.len()]);
        if let Ok(b) = Body::decode(&v) {
            assert_eq!(&b.encode().expect("re-encode")[..], &v[..]);
        }
        if let Ok(p) = DirectPlaintext::decode(&v) {
            assert_eq!(&p.encode().expect("re-encode")[..], &v[..]);
        }
        if let Ok(p) = Payload::decode(&v) {
            assert_eq!(p.encode().expect("re-encode"), v);
        }
        if let Ok(p) = EnvelopePlaintext::decode(&v) {
            assert_eq!(&p.encode().expect("re-encode")[..], &v[..]);
        }
    }
}
