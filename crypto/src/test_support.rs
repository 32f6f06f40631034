//! Helpers shared by the unit tests.

use crate::identity::{DeviceCertificate, DeviceIdentity, UserKeyPair};
use crate::ratchet::{PreKeyMessage, Session};
use crate::test_rng::TestRng;
use crate::x3dh::{OneTimePreKeySecret, PreKeyBundle, SignedPreKeySecret};

pub(crate) struct Party {
    pub user: UserKeyPair,
    pub device: DeviceIdentity,
    pub cert: DeviceCertificate,
}

pub(crate) fn party(rng: &mut TestRng, n: u8) -> Party {
    let user = UserKeyPair::generate(rng, [n; 16]);
    let device = DeviceIdentity::generate(rng, [n; 16], [n + 100; 16]);
    let cert = user.certify_device(&device.public_keys());
    Party { user, device, cert }
}

/// Alice and Bob with established sessions: Alice sent "hello" (a prekey message)
/// which Bob decrypted. Alice is still pending (no reply yet).
pub(crate) fn pair(seed: u64) -> (TestRng, Session, Session) {
    let mut rng = TestRng::new(seed);
    let alice = party(&mut rng, 1);
    let bob = party(&mut rng, 2);
    let spk = SignedPreKeySecret::generate(&mut rng, &bob.device, 1);
    let opk = OneTimePreKeySecret::generate(&mut rng, 9);
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
    let first = a.encrypt(b"hello").expect("encrypt");
    let msg = PreKeyMessage::from_bytes(&first).expect("prekey message");
    let (b, pt) = Session::respond(
        &mut rng,
        &bob.device,
        &bob.cert,
        &spk,
        Some(&opk),
        &alice.user.public_key(),
        &msg,
    )
    .expect("respond");
    assert_eq!(&pt[..], b"hello");
    (rng, a, b)
}
