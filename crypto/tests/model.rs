//! Randomised interaction models driven by a seeded PRNG (no external property-testing
//! crate): two parties over the Double Ratchet, and a three-member channel over Sender
//! Keys, with sending, delivery in random order, drops, duplicates, state
//! serialize/restore, sender-key rotation and a member removal.
//!
//! Invariants: every delivered message decrypts exactly once to its plaintext; every
//! duplicate is rejected and leaves the state byte-identical; stored skipped keys stay
//! within their bounds; a removed member cannot read messages sent after its removal.

#[path = "../src/test_rng.rs"]
mod test_rng;

use std::collections::HashMap;

use chatalot_crypto::identity::{DeviceCertificate, DeviceIdentity, UserKeyPair};
use chatalot_crypto::limits::{MAX_SENDER_SKIPPED_KEYS, MAX_SKIPPED_KEYS};
use chatalot_crypto::ratchet::{PreKeyMessage, Session};
use chatalot_crypto::sender_key::{SenderKeyMessage, SenderKeyReceiver, SenderKeySender};
use chatalot_crypto::x3dh::{OneTimePreKeySecret, PreKeyBundle, SignedPreKeySecret};
use test_rng::TestRng;

const RATCHET_SEEDS: u64 = 40;
const GROUP_SEEDS: u64 = 20;
const STEPS: usize = 1500;

struct Party {
    user: UserKeyPair,
    device: DeviceIdentity,
    cert: DeviceCertificate,
}

fn party(rng: &mut TestRng, n: u8) -> Party {
    let user = UserKeyPair::generate(rng, [n; 16]);
    let device = DeviceIdentity::generate(rng, [n; 16], [n + 100; 16]);
    let cert = user.certify_device(&device.public_keys());
    Party { user, device, cert }
}

struct InFlight {
    id: usize,
    to: usize,
    wire: Vec<u8>,
    plaintext: Vec<u8>,
}

fn plaintext(rng: &mut TestRng, id: usize) -> Vec<u8> {
    let len = rng.below(40) as usize;
    let mut p = format!("msg-{id}-").into_bytes();
    p.extend((0..len).map(|i| (i as u8).wrapping_mul(id as u8)));
    p
}

fn restore(s: &Session) -> Session {
    let bytes = s.to_bytes();
    let r = Session::from_bytes(&bytes).expect("restore");
    assert_eq!(*r.to_bytes(), *bytes);
    r
}

#[test]
fn ratchet_model_every_message_exactly_once() {
    let mut totals = (0usize, 0usize, 0usize, 0usize);
    for seed in 0..RATCHET_SEEDS {
        let mut rng = TestRng::new(1000 + seed);
        let alice = party(&mut rng, 1);
        let bob = party(&mut rng, 2);
        let spk = SignedPreKeySecret::generate(&mut rng, &bob.device, 1);
        let opk = OneTimePreKeySecret::generate(&mut rng, 1);
        let bundle = PreKeyBundle {
            certificate: bob.cert,
            signed_prekey: spk.public(),
            one_time_prekey: Some(opk.public()),
        };
        let mut a = Session::initiate(
            &mut rng,
            &alice.device,
            &alice.cert,
            &bundle,
            &bob.user.public_key(),
        )
        .expect("initiate");
        // Alice sends a few prekey messages; Bob gets a random one of them first.
        let mut pending: Vec<InFlight> = Vec::new();
        let mut next_id = 0;
        for _ in 0..1 + rng.below(3) {
            let p = plaintext(&mut rng, next_id);
            pending.push(InFlight {
                id: next_id,
                to: 1,
                wire: a.encrypt(&p).expect("enc"),
                plaintext: p,
            });
            next_id += 1;
        }
        let first = pending.swap_remove(rng.below(pending.len() as u64) as usize);
        let pm = PreKeyMessage::from_bytes(&first.wire).expect("prekey message");
        let (b, pt) = Session::respond(
            &mut rng,
            &bob.device,
            &bob.cert,
            &spk,
            Some(&opk),
            &alice.user.public_key(),
            &pm,
        )
        .expect("respond");
        assert_eq!(pt.to_vec(), first.plaintext);
        let mut sessions = [a, b];
        let mut delivered: Vec<InFlight> = vec![first];
        let mut decrypt_count: HashMap<usize, u32> = HashMap::new();
        decrypt_count.insert(delivered[0].id, 1);
        let mut dropped = 0;

        let deliver = |sessions: &mut [Session; 2],
                       m: &InFlight,
                       rng: &mut TestRng,
                       counts: &mut HashMap<usize, u32>| {
            let pt = sessions[m.to]
                .decrypt(rng, &m.wire)
                .unwrap_or_else(|e| panic!("seed {seed}: message {} failed: {e}", m.id));
            assert_eq!(pt.to_vec(), m.plaintext, "seed {seed}");
            *counts.entry(m.id).or_default() += 1;
        };

        for _ in 0..STEPS {
            match rng.below(100) {
                0..=59 => {
                    let from = usize::from(rng.below(100) >= 50);
                    let p = plaintext(&mut rng, next_id);
                    let wire = sessions[from].encrypt(&p).expect("enc");
                    pending.push(InFlight {
                        id: next_id,
                        to: 1 - from,
                        wire,
                        plaintext: p,
                    });
                    next_id += 1;
                }
                60..=84 if !pending.is_empty() => {
                    let m = pending.swap_remove(rng.below(pending.len() as u64) as usize);
                    deliver(&mut sessions, &m, &mut rng, &mut decrypt_count);
                    delivered.push(m);
                }
                85..=88 if !pending.is_empty() => {
                    pending.swap_remove(rng.below(pending.len() as u64) as usize);
                    dropped += 1;
                }
                89..=94 if !delivered.is_empty() => {
                    let m = &delivered[rng.below(delivered.len() as u64) as usize];
                    let before = sessions[m.to].to_bytes();
                    assert!(
                        sessions[m.to].decrypt(&mut rng, &m.wire).is_err(),
                        "seed {seed}: duplicate accepted"
                    );
                    assert_eq!(
                        *sessions[m.to].to_bytes(),
                        *before,
                        "seed {seed}: duplicate changed state"
                    );
                    totals.2 += 1;
                }
                95..=99 => {
                    let who = rng.below(2) as usize;
                    sessions[who] = restore(&sessions[who]);
                    totals.3 += 1;
                }
                _ => {}
            }
            for s in &sessions {
                assert!(s.skipped_key_count() <= MAX_SKIPPED_KEYS);
            }
        }
        // Drain: everything still in flight arrives (in random order).
        while !pending.is_empty() {
            let m = pending.swap_remove(rng.below(pending.len() as u64) as usize);
            deliver(&mut sessions, &m, &mut rng, &mut decrypt_count);
            delivered.push(m);
        }
        assert_eq!(decrypt_count.len() + dropped, next_id, "seed {seed}");
        assert!(decrypt_count.values().all(|&c| c == 1), "seed {seed}");
        totals.0 += decrypt_count.len();
        totals.1 += dropped;
    }
    println!(
        "ratchet model: {} decrypted, {} dropped, {} duplicates rejected, {} restores",
        totals.0, totals.1, totals.2, totals.3
    );
}

const MEMBERS: usize = 3;
const CHANNEL: [u8; 16] = [0xC0; 16];

fn dev(i: usize) -> [u8; 16] {
    [i as u8 + 1; 16]
}

struct GroupMsg {
    id: usize,
    from: usize,
    to: usize,
    wire: Vec<u8>,
    plaintext: Vec<u8>,
}

struct Member {
    sender: SenderKeySender,
    /// (sender index, key id) -> receiver state
    receivers: HashMap<(usize, u32), SenderKeyReceiver>,
}

fn decrypt_group(m: &mut Member, msg: &GroupMsg) -> chatalot_crypto::Result<Vec<u8>> {
    let key_id = SenderKeyMessage::from_bytes(&msg.wire)?.key_id;
    let r = m
        .receivers
        .get_mut(&(msg.from, key_id))
        .ok_or(chatalot_crypto::CryptoError::InvalidField("sender key id"))?;
    r.decrypt(&CHANNEL, &dev(msg.from), &msg.wire)
        .map(|p| p.to_vec())
}

fn distribute(members: &mut [Member], from: usize, to: &[usize]) {
    let d = members[from].sender.distribution();
    let bytes = d.to_bytes();
    for &j in to {
        if j != from {
            // In the application this travels inside the pairwise session from `from`.
            let d = chatalot_crypto::sender_key::SenderKeyDistribution::from_bytes(&bytes)
                .expect("decode");
            let r = SenderKeyReceiver::from_distribution(&d, &dev(from)).expect("receiver");
            members[j].receivers.insert((from, d.key_id), r);
        }
    }
}

#[test]
fn sender_key_model_group_of_three() {
    let mut totals = (0usize, 0usize, 0usize);
    for seed in 0..GROUP_SEEDS {
        let mut rng = TestRng::new(5000 + seed);
        let mut members: Vec<Member> = (0..MEMBERS)
            .map(|i| Member {
                sender: SenderKeySender::generate(&mut rng, CHANNEL, dev(i)),
                receivers: HashMap::new(),
            })
            .collect();
        let all: Vec<usize> = (0..MEMBERS).collect();
        for i in 0..MEMBERS {
            distribute(&mut members, i, &all);
        }
        let mut active: Vec<usize> = all.clone();
        let mut removed: Option<usize> = None;
        let mut pending: Vec<GroupMsg> = Vec::new();
        let mut delivered: Vec<GroupMsg> = Vec::new();
        let mut counts: HashMap<(usize, usize), u32> = HashMap::new();
        let mut sent = 0usize;
        let mut dropped = 0usize;
        let remove_at = STEPS / 2 + rng.below(100) as usize;

        for step in 0..STEPS {
            if step == remove_at {
                // Member 2 leaves: everyone else rotates and distributes to the rest only.
                removed = Some(2);
                active.retain(|&m| m != 2);
                for &i in &active.clone() {
                    members[i].sender = SenderKeySender::generate(&mut rng, CHANNEL, dev(i));
                    distribute(&mut members, i, &active);
                }
                pending.retain(|m| m.to != 2);
            }
            match rng.below(100) {
                0..=34 => {
                    let from = active[rng.below(active.len() as u64) as usize];
                    let p = plaintext(&mut rng, sent);
                    let wire = members[from].sender.encrypt(&mut rng, &p).expect("enc");
                    for &to in &active {
                        if to != from {
                            pending.push(GroupMsg {
                                id: sent,
                                from,
                                to,
                                wire: wire.clone(),
                                plaintext: p.clone(),
                            });
                        }
                    }
                    if let Some(r) = removed {
                        let gone = GroupMsg {
                            id: sent,
                            from,
                            to: r,
                            wire,
                            plaintext: p,
                        };
                        assert!(
                            decrypt_group(&mut members[r], &gone).is_err(),
                            "seed {seed}: removed member read a new message"
                        );
                    }
                    sent += 1;
                }
                35..=74 if !pending.is_empty() => {
                    let m = pending.swap_remove(rng.below(pending.len() as u64) as usize);
                    let pt = decrypt_group(&mut members[m.to], &m)
                        .unwrap_or_else(|e| panic!("seed {seed}: message {} failed: {e}", m.id));
                    assert_eq!(pt, m.plaintext);
                    *counts.entry((m.id, m.to)).or_default() += 1;
                    delivered.push(m);
                }
                75..=79 if !pending.is_empty() => {
                    pending.swap_remove(rng.below(pending.len() as u64) as usize);
                    dropped += 1;
                }
                80..=89 if !delivered.is_empty() => {
                    let m = &delivered[rng.below(delivered.len() as u64) as usize];
                    let key_id = SenderKeyMessage::from_bytes(&m.wire)
                        .expect("decode")
                        .key_id;
                    let before = members[m.to]
                        .receivers
                        .get(&(m.from, key_id))
                        .map(|r| r.to_bytes());
                    assert!(
                        decrypt_group(&mut members[m.to], m).is_err(),
                        "seed {seed}: duplicate accepted"
                    );
                    let after = members[m.to]
                        .receivers
                        .get(&(m.from, key_id))
                        .map(|r| r.to_bytes());
                    assert_eq!(before.as_deref(), after.as_deref());
                    // Replayed into another channel: rejected too.
                    if let Some(r) = members[m.to].receivers.get_mut(&(m.from, key_id)) {
                        assert!(r.decrypt(&[0xEE; 16], &dev(m.from), &m.wire).is_err());
                    }
                    totals.1 += 1;
                }
                90..=94 => {
                    // Periodic rotation by a random active member.
                    let i = active[rng.below(active.len() as u64) as usize];
                    members[i].sender = SenderKeySender::generate(&mut rng, CHANNEL, dev(i));
                    distribute(&mut members, i, &active);
                }
                95..=99 => {
                    let i = rng.below(MEMBERS as u64) as usize;
                    let m = &mut members[i];
                    m.sender = SenderKeySender::from_bytes(&m.sender.to_bytes()).expect("restore");
                    for r in m.receivers.values_mut() {
                        let bytes = r.to_bytes();
                        *r = SenderKeyReceiver::from_bytes(&bytes).expect("restore");
                        assert_eq!(*r.to_bytes(), *bytes);
                    }
                    totals.2 += 1;
                }
                _ => {}
            }
            for m in &members {
                assert!(m
                    .receivers
                    .values()
                    .all(|r| r.skipped_key_count() <= MAX_SENDER_SKIPPED_KEYS));
            }
        }
        while !pending.is_empty() {
            let m = pending.swap_remove(rng.below(pending.len() as u64) as usize);
            let pt = decrypt_group(&mut members[m.to], &m).expect("drain");
            assert_eq!(pt, m.plaintext);
            *counts.entry((m.id, m.to)).or_default() += 1;
        }
        assert!(counts.values().all(|&c| c == 1), "seed {seed}");
        assert!(removed.is_some());
        totals.0 += counts.len();
        let _ = dropped;
    }
    println!(
        "sender key model: {} deliveries decrypted, {} duplicates rejected, {} restores",
        totals.0, totals.1, totals.2
    );
}
