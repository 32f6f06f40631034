//! Cost per operation, in release mode:
//! `cargo run --release --example bench`
//! Not a timed test: it prints figures, it asserts nothing about speed.

#[path = "../src/test_rng.rs"]
mod test_rng;

use std::hint::black_box;
use std::time::Instant;

use chatalot_crypto::attachment::{decrypt_attachment, encrypt_attachment};
use chatalot_crypto::identity::{DeviceIdentity, UserKeyPair};
use chatalot_crypto::ratchet::{PreKeyMessage, Session};
use chatalot_crypto::sender_key::{SenderKeyReceiver, SenderKeySender};
use chatalot_crypto::x3dh::{OneTimePreKeySecret, PreKeyBundle, SignedPreKeySecret};
use test_rng::TestRng;

fn report(name: &str, n: usize, start: Instant) {
    let per = start.elapsed().as_secs_f64() / n as f64;
    println!("{name:<58} {:>9.2} µs/op  ({n} ops)", per * 1e6);
}

fn sessions(rng: &mut TestRng) -> (Session, Session) {
    let au = UserKeyPair::generate(rng, [1; 16]);
    let ad = DeviceIdentity::generate(rng, [1; 16], [2; 16]);
    let ac = au.certify_device(&ad.public_keys());
    let bu = UserKeyPair::generate(rng, [3; 16]);
    let bd = DeviceIdentity::generate(rng, [3; 16], [4; 16]);
    let bc = bu.certify_device(&bd.public_keys());
    let spk = SignedPreKeySecret::generate(rng, &bd, 1);
    let opk = OneTimePreKeySecret::generate(rng, 1);
    let bundle = PreKeyBundle {
        certificate: bc,
        signed_prekey: spk.public(),
        one_time_prekey: Some(opk.public()),
    };
    let mut a = Session::initiate(rng, &ad, &ac, &bundle, &bu.public_key()).expect("initiate");
    let first = a.encrypt(b"hi").expect("enc");
    let pm = PreKeyMessage::from_bytes(&first).expect("decode");
    let (mut b, _) =
        Session::respond(rng, &bd, &bc, &spk, Some(&opk), &au.public_key(), &pm).expect("respond");
    let r = b.encrypt(b"r").expect("enc");
    a.decrypt(rng, &r).expect("dec");
    (a, b)
}

fn main() {
    let mut rng = TestRng::new(42);
    let msg = vec![0x61u8; 200];

    let n = 500;
    let t = Instant::now();
    for _ in 0..n {
        black_box(sessions(&mut rng));
    }
    report(
        "X3DH + session setup both sides (+1 message each way)",
        n,
        t,
    );

    let (mut a, mut b) = sessions(&mut rng);
    let n = 50_000;
    let t = Instant::now();
    for _ in 0..n {
        let w = a.encrypt(&msg).expect("enc");
        black_box(b.decrypt(&mut rng, &w).expect("dec"));
    }
    report("ratchet encrypt+decrypt, 200 B, same chain", n, t);

    let n = 5_000;
    let t = Instant::now();
    for i in 0..n {
        let (s, r) = if i % 2 == 0 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let w = s.encrypt(&msg).expect("enc");
        black_box(r.decrypt(&mut rng, &w).expect("dec"));
    }
    report(
        "ratchet encrypt+decrypt, 200 B, alternating (DH step each)",
        n,
        t,
    );

    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        let bytes = b.to_bytes();
        b = Session::from_bytes(&bytes).expect("restore");
    }
    report("ratchet session serialize+restore (no skipped keys)", n, t);

    let mut s = SenderKeySender::generate(&mut rng, [5; 16], [6; 16]);
    let mut r = SenderKeyReceiver::from_distribution(&s.distribution(), &[6; 16]).expect("recv");
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        let w = s.encrypt(&mut rng, &msg).expect("enc");
        black_box(r.decrypt(&[5; 16], &[6; 16], &w).expect("dec"));
    }
    report("sender key encrypt+sign+verify+decrypt, 200 B", n, t);
    let t = Instant::now();
    for _ in 0..n {
        black_box(s.encrypt(&mut rng, &msg).expect("enc"));
    }
    report("sender key encrypt+sign only, 200 B", n, t);

    let file = vec![0x5au8; 16 * 1024 * 1024];
    let t = Instant::now();
    let (p, blob) = encrypt_attachment(&mut rng, &file).expect("enc");
    let enc = t.elapsed().as_secs_f64();
    let t = Instant::now();
    black_box(decrypt_attachment(&p, &blob).expect("dec"));
    let dec = t.elapsed().as_secs_f64();
    println!(
        "attachment 16 MiB: encrypt {:.0} MiB/s, decrypt (incl. digest) {:.0} MiB/s",
        16.0 / enc,
        16.0 / dec
    );
}
