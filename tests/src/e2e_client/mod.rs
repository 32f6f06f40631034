//! A complete end-to-end encrypting client over the public HTTP and WebSocket surface, built on
//! the `crypto` crate. Tests use it to prove what the server can and cannot do.
//!
//! One [`Device`] is one client installation: it registers or logs in, publishes its keys, keeps
//! pairwise Double Ratchet sessions with other devices, sender keys for channels, and the user
//! keys it pinned (trust on first use, or pinned explicitly as after comparing safety numbers).
//! The application-layer encodings it puts into message bodies and envelopes are specified in
//! `docs/e2e.md` ("Application layer") and implemented by `chatalot_crypto::app`.
//!
//! Everything is blocking and single-threaded: one device, one caller. Linking, the recovery
//! key and the key backup (`docs/e2e.md` section 18) are in [`devices`].

mod devices;
pub use devices::NewDevice;

use chatalot_crypto::app::{
    self, AttachmentBody, ChannelPayload, DirectPayload, DirectPlaintext, DirectRecipient,
    EnvelopePlaintext, FileBody, Payload, ENVELOPE_KIND_ATTESTED_SENDER_KEY,
    ENVELOPE_KIND_HISTORY_SHARE, ENVELOPE_KIND_SENDER_KEY,
};
use chatalot_crypto::attachment::{decrypt_attachment, encrypt_attachment};
use chatalot_crypto::encoding::tag;
use chatalot_crypto::history::{HistoryBundle, HistoryKey};
use chatalot_crypto::identity::{DeviceCertificate, DeviceIdentity, UserKeyPair};
use chatalot_crypto::ratchet::{IncomingMessage, Session};
use chatalot_crypto::sender_key::{
    SenderKeyDistribution, SenderKeyMessage, SenderKeyReceiver, SenderKeySender,
};
use chatalot_crypto::x3dh::{OneTimePreKeySecret, PreKeyBundle, SignedPreKeySecret};
use chatalot_crypto::CryptoError;
use chatalot_protocol::bytes::Base64Bytes;
use chatalot_protocol::error::ErrorCode;
use chatalot_protocol::ids::{ChannelId, DeviceId, EnvelopeId, FileId, MessageId, UserId};
use chatalot_protocol::keys::{
    ChannelDevices, ClaimBundlesRequest, ClaimedBundles, DeviceKeys, Envelope, EnvelopePage,
    NewEnvelope, PublishKeysRequest, SendEnvelopesRequest, SentEnvelopes, UserDevices,
};
use chatalot_protocol::ws::{ClientFrame, Content, Cursor, Message, ServerFrame};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use uuid::Uuid;
use zeroize::Zeroizing;

/// A sender key is replaced after this many messages even without membership changes.
pub use chatalot_crypto::limits::SENDER_KEY_ROTATE_AFTER;
/// Old signed prekeys kept for messages still in flight.
pub const OLD_SIGNED_PREKEYS_KEPT: usize = 2;

/// Everything that can go wrong on the client side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The server answered an error.
    Http {
        status: u16,
        code: String,
        message: String,
    },
    /// Transport failure.
    Io(String),
    /// The crypto crate refused (bad signature, replay, tampering, a malformed encoding of
    /// the crypto or the application layer...).
    Crypto(CryptoError),
    /// A certificate does not verify under the pinned user key: not trusted.
    UntrustedDevice(DeviceId),
    /// The message or envelope names another sender than its keys prove.
    WrongSender,
    /// The ciphertext was made for another channel than the one it arrived in.
    ChannelMismatch,
    /// No sender key for this (channel, device, key id): never distributed to us.
    UnknownSenderKey,
    /// No pairwise session with the device, and the message is not a first message.
    NoSession,
    /// The message has no ciphertext for this device.
    NotForThisDevice,
    /// A first message names a prekey this device does not hold.
    UnknownPreKey,
    /// Something well-formed the client cannot use: an unknown envelope kind, a distribution
    /// without channel, a missing attachment blob, sender key or user key...
    Malformed(&'static str),
}

impl From<CryptoError> for ClientError {
    fn from(e: CryptoError) -> Self {
        ClientError::Crypto(e)
    }
}

/// Client result.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Something the client shows the user instead of silently accepting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The directory lists a device whose certificate does not verify under the pinned user
    /// key (a device the server invented, or a swapped certificate). It gets nothing.
    UntrustedDevice {
        user: UserId,
        device: DeviceId,
        reason: String,
    },
    /// The server's user key for this user differs from the pinned one.
    UserKeyChanged { user: UserId },
    /// A claimed bundle did not verify (swapped prekey or certificate). No session started.
    BadBundle {
        user: UserId,
        device: DeviceId,
        reason: String,
    },
    /// A received message or envelope was refused.
    Rejected { what: String, reason: String },
    /// A user this device had not seen in the channel now reads it (a join, or a member the
    /// server added on its own): shown to the user before they go on.
    MemberAdded { channel: ChannelId, user: UserId },
}

/// A decrypted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub message_id: MessageId,
    pub channel_id: ChannelId,
    pub seq: i64,
    pub sender_user: UserId,
    pub sender_device: DeviceId,
    pub body: Body,
}

/// The content of a decrypted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(String),
    /// An attachment, fetched and decrypted.
    Attachment {
        name: String,
        mime: String,
        data: Vec<u8>,
    },
}

/// Encodes a text body for encryption (attachments are sent with `send_attachment`).
pub fn text_body(text: &str) -> Vec<u8> {
    app::text_body(text).to_vec()
}

/// HTTP with a bearer token.
#[derive(Clone)]
struct Http {
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
}

impl Http {
    fn new(base: &str) -> Http {
        Http {
            base: base.trim_end_matches('/').to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .new_agent(),
            token: None,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let body = match body {
            Some(b) => Some((
                "application/json",
                serde_json::to_vec(b).map_err(|e| ClientError::Io(e.to_string()))?,
            )),
            None => None,
        };
        let (status, bytes) = self.request(method, path, body, 16 * 1024 * 1024)?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// Raw bytes in (`application/octet-stream`) or out: the status and the body.
    fn raw(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<(u16, Vec<u8>)> {
        // above the server's largest upload bound a test may configure
        let limit = 256 * 1024 * 1024;
        self.request(
            method,
            path,
            body.map(|b| ("application/octet-stream", b)),
            limit,
        )
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        limit: u64,
    ) -> Result<(u16, Vec<u8>)> {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let bytes = match body {
            Some((kind, b)) => {
                req = req.header("content-type", kind);
                b
            }
            None => Vec::new(),
        };
        let req = req
            .body(bytes)
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let mut res = self
            .agent
            .run(req)
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let status = res.status().as_u16();
        let bytes = res
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| ClientError::Io(e.to_string()))?;
        Ok((status, bytes))
    }

    /// A call that must succeed, decoded.
    fn ok<T: DeserializeOwned>(&self, method: &str, path: &str, body: Option<&Value>) -> Result<T> {
        let (status, value) = self.call(method, path, body)?;
        if !(200..300).contains(&status) {
            return Err(ClientError::Http {
                status,
                code: value["code"].as_str().unwrap_or("").to_owned(),
                message: value["message"].as_str().unwrap_or("").to_owned(),
            });
        }
        serde_json::from_value(value).map_err(|e| ClientError::Io(format!("bad answer: {e}")))
    }
}

/// The WebSocket connection of a device.
struct Ws {
    socket: tungstenite::WebSocket<TcpStream>,
}

impl Ws {
    fn open(base: &str, token: &str) -> Result<Ws> {
        let addr = base.trim_start_matches("http://").trim_end_matches('/');
        let stream = TcpStream::connect(addr).map_err(|e| ClientError::Io(e.to_string()))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let (socket, _) = tungstenite::client(format!("ws://{addr}/api/v1/ws"), stream)
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let mut ws = Ws { socket };
        ws.send(&ClientFrame::Authenticate {
            token: token.to_owned(),
        })?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(ServerFrame::Ready { .. }) = ws.recv(Duration::from_millis(100))? {
                return Ok(ws);
            }
        }
        Err(ClientError::Io("no ready frame".into()))
    }

    fn send(&mut self, frame: &ClientFrame) -> Result<()> {
        let text = serde_json::to_string(frame).map_err(|e| ClientError::Io(e.to_string()))?;
        self.socket
            .send(tungstenite::Message::Text(text.into()))
            .map_err(|e| ClientError::Io(e.to_string()))
    }

    /// The next frame within `wait`, or None.
    fn recv(&mut self, wait: Duration) -> Result<Option<ServerFrame>> {
        let deadline = Instant::now() + wait;
        loop {
            match self.socket.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    return serde_json::from_str(t.as_str())
                        .map(Some)
                        .map_err(|e| ClientError::Io(format!("bad frame: {e}")))
                }
                Ok(tungstenite::Message::Close(_)) => {
                    return Err(ClientError::Io("connection closed".into()))
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(ClientError::Io(e.to_string())),
            }
        }
    }
}

/// A sender key this device sends with in one channel, and who has it.
struct Outgoing {
    sender: SenderKeySender,
    /// Devices the current key was distributed to.
    recipients: BTreeSet<DeviceId>,
    sent: u32,
}

/// A sender key received from another device.
struct Incoming {
    user: UserId,
    receiver: SenderKeyReceiver,
    /// The iteration the distribution started at: earlier messages are history.
    first_iteration: u32,
}

/// One client installation.
pub struct Device {
    http: Http,
    pub username: String,
    password: String,
    pub user_id: UserId,
    pub device_id: DeviceId,
    user_key: UserKeyPair,
    identity: DeviceIdentity,
    certificate: DeviceCertificate,
    signed_prekey: SignedPreKeySecret,
    old_signed_prekeys: Vec<SignedPreKeySecret>,
    one_time_prekeys: HashMap<u32, OneTimePreKeySecret>,
    next_prekey_id: u32,
    /// User keys trusted per user.
    pinned: HashMap<UserId, [u8; 32]>,
    /// Pairwise sessions per peer device (the one to send with first), with the peer's user.
    sessions: HashMap<DeviceId, (UserId, Vec<Session>)>,
    outgoing: HashMap<ChannelId, Outgoing>,
    incoming: HashMap<(ChannelId, DeviceId, u32), Incoming>,
    seen_envelopes: HashSet<EnvelopeId>,
    /// Per channel: the highest sequence number synced.
    cursors: HashMap<ChannelId, i64>,
    /// Attachment blobs seen in channels, by message id.
    blobs: HashMap<MessageId, Vec<u8>>,
    ws: Option<Ws>,
    subscribed: HashSet<ChannelId>,
    /// Envelopes pushed over the WebSocket, not processed yet.
    live_envelopes: VecDeque<Envelope>,
    /// What this device refused or flagged.
    pub warnings: Vec<Warning>,
    /// Per channel: the users this device has seen reading it (from its first send on).
    rosters: HashMap<ChannelId, BTreeSet<UserId>>,
    /// What this device shares with the account's other devices (docs/e2e.md section 18).
    account: devices::AccountSecrets,
}

/// A signed-in session of a device that has no keys yet.
struct Login {
    http: Http,
    username: String,
    password: String,
    user_id: UserId,
    device_id: DeviceId,
}

impl Login {
    /// Logs in as `username` from a new device.
    fn new(base: &str, username: &str, password: &str, device_name: &str) -> Result<Login> {
        let mut http = Http::new(base);
        let r: Value = http.ok(
            "POST",
            "/api/v1/sessions",
            Some(&json!({"username": username, "password": password, "device_name": device_name})),
        )?;
        http.token = r["access_token"].as_str().map(str::to_owned);
        Ok(Login {
            http,
            username: username.to_owned(),
            password: password.to_owned(),
            user_id: UserId(parse_uuid(&r["user"]["id"])?),
            device_id: DeviceId(parse_uuid(&r["device_id"])?),
        })
    }
}

fn device_of(cert: &DeviceCertificate) -> DeviceId {
    DeviceId(Uuid::from_bytes(cert.device_id))
}

fn user_of(cert: &DeviceCertificate) -> UserId {
    UserId(Uuid::from_bytes(cert.user_id))
}

impl Device {
    /// Registers a new account (its first device) with a fresh user key and publishes keys,
    /// then stores the account's secret storage under a new recovery key
    /// ([`Device::recovery_key`], as shown once to the user).
    pub fn register(base: &str, username: &str) -> Result<Device> {
        let password = "Zq-9!x7#Lm2$vR4&wide".to_owned();
        let mut http = Http::new(base);
        let r: Value = http.ok(
            "POST",
            "/api/v1/accounts",
            Some(&json!({"username": username, "password": password, "device_name": "e2e"})),
        )?;
        http.token = r["access_token"].as_str().map(str::to_owned);
        let login = Login {
            http,
            username: username.to_owned(),
            password,
            user_id: UserId(parse_uuid(&r["user"]["id"])?),
            device_id: DeviceId(parse_uuid(&r["device_id"])?),
        };
        let user_key = UserKeyPair::generate(&mut rand::rng(), *login.user_id.0.as_bytes());
        let mut d = Device::finish(login, user_key, devices::AccountSecrets::fresh())?;
        d.store_secret_storage()?;
        Ok(d)
    }

    /// Logs in as the same user on a new device, certified by the same user key (handed over
    /// in process, as a shortcut for tests that are not about linking; see [`NewDevice`]).
    pub fn add_device(&self) -> Result<Device> {
        let login = Login::new(
            &self.http.base,
            &self.username,
            &self.password,
            "e2e second",
        )?;
        let user_key = UserKeyPair::from_bytes(&self.user_key.to_bytes())?;
        let mut d = Device::finish(login, user_key, self.account.for_another_device())?;
        d.pinned = self.pinned.clone();
        Ok(d)
    }

    /// A new device identity for `login`, certified by `user_key`, published.
    fn finish(
        login: Login,
        user_key: UserKeyPair,
        account: devices::AccountSecrets,
    ) -> Result<Device> {
        let identity = DeviceIdentity::generate(
            &mut rand::rng(),
            *login.user_id.0.as_bytes(),
            *login.device_id.0.as_bytes(),
        );
        let certificate = user_key.certify_device(&identity.public_keys());
        Device::assemble(login, user_key, identity, certificate, account)
    }

    /// The device for `login` with these keys; publishes them with a signed prekey and 20
    /// one-time prekeys.
    fn assemble(
        login: Login,
        user_key: UserKeyPair,
        identity: DeviceIdentity,
        certificate: DeviceCertificate,
        account: devices::AccountSecrets,
    ) -> Result<Device> {
        let mut rng = rand::rng();
        let signed_prekey = SignedPreKeySecret::generate(&mut rng, &identity, 1);
        let mut pinned = HashMap::new();
        pinned.insert(login.user_id, user_key.public_key());
        let mut d = Device {
            http: login.http,
            username: login.username,
            password: login.password,
            user_id: login.user_id,
            device_id: login.device_id,
            user_key,
            identity,
            certificate,
            signed_prekey,
            old_signed_prekeys: Vec::new(),
            one_time_prekeys: HashMap::new(),
            next_prekey_id: 1,
            pinned,
            sessions: HashMap::new(),
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
            seen_envelopes: HashSet::new(),
            cursors: HashMap::new(),
            blobs: HashMap::new(),
            ws: None,
            subscribed: HashSet::new(),
            live_envelopes: VecDeque::new(),
            warnings: Vec::new(),
            rosters: HashMap::new(),
            account,
        };
        let prekeys = d.new_one_time_prekeys(20);
        let _: Value = d.http.ok(
            "PUT",
            &format!("/api/v1/devices/{}/keys", d.device_id),
            Some(
                &serde_json::to_value(PublishKeysRequest {
                    certificate: Base64Bytes(d.certificate.to_bytes()),
                    signed_prekey: Base64Bytes(d.signed_prekey.public().to_bytes()),
                    one_time_prekeys: prekeys,
                })
                .map_err(|e| ClientError::Io(e.to_string()))?,
            ),
        )?;
        Ok(d)
    }

    fn new_one_time_prekeys(&mut self, n: u32) -> Vec<Base64Bytes> {
        let mut rng = rand::rng();
        (0..n)
            .map(|_| {
                let id = self.next_prekey_id;
                self.next_prekey_id += 1;
                let k = OneTimePreKeySecret::generate(&mut rng, id);
                let public = Base64Bytes(k.public().to_bytes());
                self.one_time_prekeys.insert(id, k);
                public
            })
            .collect()
    }

    /// Uploads `n` more one-time prekeys.
    pub fn upload_one_time_prekeys(&mut self, n: u32) -> Result<Value> {
        let keys = self.new_one_time_prekeys(n);
        self.http.ok(
            "POST",
            &format!("/api/v1/devices/{}/one_time_prekeys", self.device_id),
            Some(&json!({ "one_time_prekeys": keys })),
        )
    }

    /// Replaces the signed prekey; the old one is kept for messages in flight.
    pub fn rotate_signed_prekey(&mut self) -> Result<Value> {
        let id = self.signed_prekey.key_id() + 1;
        let new = SignedPreKeySecret::generate(&mut rand::rng(), &self.identity, id);
        let r = self.http.ok(
            "PUT",
            &format!("/api/v1/devices/{}/signed_prekey", self.device_id),
            Some(&json!({ "signed_prekey": Base64Bytes(new.public().to_bytes()) })),
        )?;
        let old = std::mem::replace(&mut self.signed_prekey, new);
        self.old_signed_prekeys.insert(0, old);
        self.old_signed_prekeys.truncate(OLD_SIGNED_PREKEYS_KEPT);
        Ok(r)
    }

    /// The user key's public half (what safety numbers are computed over).
    pub fn user_key(&self) -> [u8; 32] {
        self.user_key.public_key()
    }

    /// This device's certificate.
    pub fn certificate(&self) -> DeviceCertificate {
        self.certificate
    }

    /// The access token (for tests that call the API directly).
    pub fn token(&self) -> &str {
        self.http.token.as_deref().unwrap_or("")
    }

    /// Trusts `key` for `user` (as after comparing safety numbers out of band).
    pub fn pin(&mut self, user: UserId, key: [u8; 32]) {
        self.pinned.insert(user, key);
    }

    /// A raw API call with this device's token.
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        self.http.call(method, path, body)
    }

    /// An API call with this device's token that must succeed (a status outside 2xx is
    /// `ClientError::Http`).
    pub fn api_ok(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        self.http.ok(method, path, body)
    }

    /// The user key trusted for `user`: the pinned one, else the directory's (trust on first
    /// use), pinned from then on.
    fn trusted_key(&mut self, user: UserId) -> Result<[u8; 32]> {
        if let Some(k) = self.pinned.get(&user) {
            return Ok(*k);
        }
        let d: UserDevices = self
            .http
            .ok("GET", &format!("/api/v1/users/{user}/devices"), None)?;
        let key: [u8; 32] = d
            .user_key
            .and_then(|k| k.0.try_into().ok())
            .ok_or(ClientError::Malformed("user has no user key"))?;
        self.pinned.insert(user, key);
        Ok(key)
    }

    /// Keeps the listed devices whose certificates verify under the trusted user keys; flags
    /// the others.
    fn verify_listing(&mut self, list: Vec<DeviceKeys>) -> Result<Vec<(UserId, DeviceId)>> {
        let mut out = Vec::new();
        for d in list {
            let key = self.trusted_key(d.user_id)?;
            let checked = DeviceCertificate::from_bytes(&d.certificate.0)
                .and_then(|c| c.verify(&key).map(|_| c))
                .map_err(|e| e.to_string())
                .and_then(|c| {
                    if device_of(&c) == d.device_id && user_of(&c) == d.user_id {
                        Ok(())
                    } else {
                        Err("certificate names another device".to_owned())
                    }
                });
            match checked {
                Ok(()) => out.push((d.user_id, d.device_id)),
                Err(reason) => self.warn(Warning::UntrustedDevice {
                    user: d.user_id,
                    device: d.device_id,
                    reason,
                }),
            }
        }
        Ok(out)
    }

    fn warn(&mut self, w: Warning) {
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// A user's devices that verify under the trusted user key.
    pub fn user_devices(&mut self, user: UserId) -> Result<Vec<DeviceId>> {
        let d: UserDevices = self
            .http
            .ok("GET", &format!("/api/v1/users/{user}/devices"), None)?;
        let key = self.trusted_key(user)?;
        if d.user_key.as_ref().map(|k| k.0.as_slice()) != Some(key.as_slice()) {
            self.warn(Warning::UserKeyChanged { user });
        }
        Ok(self
            .verify_listing(d.devices)?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
    }

    /// The trusted devices of everyone in a channel, this device excluded.
    pub fn channel_devices(&mut self, channel: ChannelId) -> Result<Vec<(UserId, DeviceId)>> {
        let d: ChannelDevices =
            self.http
                .ok("GET", &format!("/api/v1/channels/{channel}/devices"), None)?;
        let me = self.device_id;
        Ok(self
            .verify_listing(d.devices)?
            .into_iter()
            .filter(|(_, dev)| *dev != me)
            .collect())
    }

    /// Claims bundles for devices of `user` without a session and starts sessions with the
    /// ones that verify.
    fn ensure_sessions(&mut self, user: UserId, devices: &[DeviceId]) -> Result<()> {
        let missing: Vec<DeviceId> = devices
            .iter()
            .copied()
            .filter(|d| !self.sessions.contains_key(d))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let key = self.trusted_key(user)?;
        for chunk in missing.chunks(chatalot_protocol::keys::limits::MAX_DEVICES_PER_CLAIM) {
            let claimed: ClaimedBundles = self.http.ok(
                "POST",
                &format!("/api/v1/users/{user}/key_bundles"),
                Some(
                    &serde_json::to_value(ClaimBundlesRequest {
                        device_ids: Some(chunk.to_vec()),
                    })
                    .map_err(|e| ClientError::Io(e.to_string()))?,
                ),
            )?;
            for b in claimed.bundles {
                match self.start_session(user, b.device_id, &b.bundle.0, &key) {
                    Ok(session) => {
                        self.sessions.insert(b.device_id, (user, vec![session]));
                    }
                    Err(e) => self.warn(Warning::BadBundle {
                        user,
                        device: b.device_id,
                        reason: format!("{e:?}"),
                    }),
                }
            }
        }
        Ok(())
    }

    fn start_session(
        &self,
        user: UserId,
        device: DeviceId,
        bundle: &[u8],
        key: &[u8; 32],
    ) -> Result<Session> {
        let bundle = PreKeyBundle::from_bytes(bundle)?;
        if device_of(&bundle.certificate) != device || user_of(&bundle.certificate) != user {
            return Err(ClientError::UntrustedDevice(device));
        }
        Ok(Session::initiate(
            &mut rand::rng(),
            &self.identity,
            &self.certificate,
            &bundle,
            key,
        )?)
    }

    /// Encrypts `plaintext` for one device (a session must exist).
    fn seal(&mut self, device: DeviceId, plaintext: &[u8]) -> Result<Vec<u8>> {
        let (_, sessions) = self
            .sessions
            .get_mut(&device)
            .ok_or(ClientError::NoSession)?;
        Ok(sessions[0].encrypt(plaintext)?)
    }

    /// Decrypts a pairwise message from `sender` on `sender_device`.
    fn open(
        &mut self,
        sender: UserId,
        sender_device: DeviceId,
        bytes: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        match IncomingMessage::from_bytes(bytes)? {
            IncomingMessage::PreKey(p) => {
                let cert = p.header.initiator;
                if user_of(&cert) != sender || device_of(&cert) != sender_device {
                    return Err(ClientError::WrongSender);
                }
                if let Some((_, list)) = self.sessions.get_mut(&sender_device) {
                    if let Some(s) = list
                        .iter_mut()
                        .find(|s| s.base_key() == p.header.ephemeral_key)
                    {
                        return Ok(s.decrypt(&mut rand::rng(), bytes)?);
                    }
                }
                let key = self.trusted_key(sender)?;
                let spk = std::iter::once(&self.signed_prekey)
                    .chain(self.old_signed_prekeys.iter())
                    .find(|s| s.key_id() == p.header.signed_prekey_id)
                    .ok_or(ClientError::UnknownPreKey)?;
                let opk = match p.header.one_time_prekey_id {
                    Some(id) => Some(
                        self.one_time_prekeys
                            .get(&id)
                            .ok_or(ClientError::UnknownPreKey)?,
                    ),
                    None => None,
                };
                let (session, plaintext) = Session::respond(
                    &mut rand::rng(),
                    &self.identity,
                    &self.certificate,
                    spk,
                    opk,
                    &key,
                    &p,
                )?;
                if let Some(id) = p.header.one_time_prekey_id {
                    self.one_time_prekeys.remove(&id);
                }
                let entry = self
                    .sessions
                    .entry(sender_device)
                    .or_insert_with(|| (sender, Vec::new()));
                entry.1.insert(0, session);
                Ok(plaintext)
            }
            IncomingMessage::Ratchet(_) => {
                let (user, list) = self
                    .sessions
                    .get_mut(&sender_device)
                    .ok_or(ClientError::NoSession)?;
                if *user != sender {
                    return Err(ClientError::WrongSender);
                }
                let mut last = ClientError::NoSession;
                for s in list.iter_mut() {
                    match s.decrypt(&mut rand::rng(), bytes) {
                        Ok(p) => return Ok(p),
                        Err(e) => last = e.into(),
                    }
                }
                Err(last)
            }
        }
    }

    fn ws(&mut self) -> Result<&mut Ws> {
        if self.ws.is_none() {
            let ws = Ws::open(&self.http.base, self.token())?;
            self.ws = Some(ws);
            self.subscribed.clear();
        }
        self.ws
            .as_mut()
            .ok_or(ClientError::Io("no connection".into()))
    }

    /// Connects the WebSocket (envelopes for this device are then pushed live).
    pub fn connect(&mut self) -> Result<()> {
        self.ws().map(|_| ())
    }

    /// Closes the WebSocket.
    pub fn disconnect(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.socket.close(None);
            let _ = ws.socket.flush();
        }
        self.subscribed.clear();
    }

    /// Handles one incoming frame while waiting for something else.
    fn stash(&mut self, frame: ServerFrame) {
        if let ServerFrame::EnvelopeReceived { envelope } = frame {
            self.live_envelopes.push_back(envelope);
        }
    }

    /// Sends an opaque body to a channel over the WebSocket and waits for the ack.
    pub fn post_ciphertext(
        &mut self,
        channel: ChannelId,
        ciphertext: Vec<u8>,
    ) -> Result<MessageId> {
        Ok(self.post(channel, ciphertext)?.0)
    }

    /// [`Device::post_ciphertext`], with the sequence number the message got.
    fn post(&mut self, channel: ChannelId, ciphertext: Vec<u8>) -> Result<(MessageId, i64)> {
        self.post_with_files(channel, ciphertext, Vec::new())
    }

    /// [`Device::post`] of a message naming `files`.
    fn post_with_files(
        &mut self,
        channel: ChannelId,
        ciphertext: Vec<u8>,
        files: Vec<FileId>,
    ) -> Result<(MessageId, i64)> {
        if !self.subscribed.contains(&channel) {
            let ws = self.ws()?;
            ws.send(&ClientFrame::Subscribe {
                channels: vec![Cursor {
                    channel_id: channel,
                    after_seq: None,
                }],
            })?;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if Instant::now() > deadline {
                    return Err(ClientError::Io("not subscribed".into()));
                }
                let f = self.ws()?.recv(Duration::from_millis(100))?;
                match f {
                    Some(ServerFrame::Subscribed { channel_id, .. }) if channel_id == channel => {
                        break
                    }
                    Some(ServerFrame::Error { code, message, .. }) => {
                        return Err(ClientError::Http {
                            status: 0,
                            code: format!("{code:?}"),
                            message,
                        })
                    }
                    Some(other) => self.stash(other),
                    None => {}
                }
            }
            self.subscribed.insert(channel);
        }
        let nonce = Uuid::new_v4().simple().to_string();
        let frame = ClientFrame::SendMessage {
            channel_id: channel,
            nonce: nonce.clone(),
            content: Content::Encrypted {
                ciphertext: Base64Bytes(ciphertext),
            },
            reply_to: None,
            files,
        };
        self.ws()?.send(&frame)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.ws()?.recv(Duration::from_millis(100))? {
                // over the frame rate the server drops the frame (it names no nonce): the
                // same send again after a pause (the nonce makes it happen once)
                Some(ServerFrame::Error {
                    code: ErrorCode::RateLimited,
                    nonce: None,
                    ..
                }) => {
                    std::thread::sleep(Duration::from_millis(1100));
                    self.ws()?.send(&frame)?;
                }
                Some(ServerFrame::MessageAcked {
                    nonce: n,
                    message_id,
                    seq,
                    ..
                }) if n == nonce => return Ok((message_id, seq)),
                Some(ServerFrame::Error {
                    code,
                    message,
                    nonce: Some(n),
                    ..
                }) if n == nonce => {
                    return Err(ClientError::Http {
                        status: 0,
                        code: format!("{code:?}"),
                        message,
                    })
                }
                Some(other) => self.stash(other),
                None => {}
            }
        }
        Err(ClientError::Io("no ack".into()))
    }

    /// The DM payload for `body`: one pairwise ciphertext per device of every member but this
    /// one (the other members' devices and this user's other devices). Starts sessions as needed.
    pub fn encrypt_direct(&mut self, channel: ChannelId, body: &[u8]) -> Result<Vec<u8>> {
        let devices = self.channel_devices(channel)?;
        let mut by_user: HashMap<UserId, Vec<DeviceId>> = HashMap::new();
        for (u, d) in &devices {
            by_user.entry(*u).or_default().push(*d);
        }
        for (u, ds) in by_user {
            self.ensure_sessions(u, &ds)?;
        }
        let reachable: Vec<DeviceId> = devices
            .into_iter()
            .map(|(_, d)| d)
            .filter(|d| self.sessions.contains_key(d))
            .collect();
        self.encrypt_direct_for(channel, &reachable, body)
    }

    /// The DM payload for `body` to these devices (sessions must exist): the pure crypto step
    /// of [`Device::encrypt_direct`].
    pub fn encrypt_direct_for(
        &mut self,
        channel: ChannelId,
        devices: &[DeviceId],
        body: &[u8],
    ) -> Result<Vec<u8>> {
        let inner = DirectPlaintext {
            channel_id: *channel.0.as_bytes(),
            body: Zeroizing::new(body.to_vec()),
        }
        .encode()?;
        let mut recipients = Vec::with_capacity(devices.len());
        for d in devices {
            recipients.push(DirectRecipient {
                device_id: *d.0.as_bytes(),
                message: self.seal(*d, &inner)?,
            });
        }
        Ok(DirectPayload {
            sender_device_id: *self.device_id.0.as_bytes(),
            recipients,
        }
        .encode()?)
    }

    /// Sends a text in a DM or group DM.
    pub fn send_direct(&mut self, channel: ChannelId, text: &str) -> Result<MessageId> {
        let body = text_body(text);
        let payload = self.encrypt_direct(channel, &body)?;
        let (id, seq) = self.post(channel, payload)?;
        // the pairwise keys are gone once used: the account's other devices read it from the
        // backup
        self.keep_direct(channel, id, seq, &body);
        Ok(id)
    }

    /// Makes sure every current member device holds this device's current sender key for the
    /// channel: a new key when a device left (or after `SENDER_KEY_ROTATE_AFTER` messages),
    /// distributed through pairwise envelopes to the devices that do not have it yet.
    pub fn prepare_sender_key(&mut self, channel: ChannelId) -> Result<()> {
        let devices = self.channel_devices(channel)?;
        let readers: BTreeSet<UserId> = devices.iter().map(|(u, _)| *u).collect();
        let added: Vec<UserId> = match self.rosters.get(&channel) {
            None => Vec::new(),
            Some(known) => readers.difference(known).copied().collect(),
        };
        for user in &added {
            self.warn(Warning::MemberAdded {
                channel,
                user: *user,
            });
        }
        self.rosters.entry(channel).or_default().extend(readers);
        let current: BTreeSet<DeviceId> = devices.iter().map(|(_, d)| *d).collect();
        let rotate = match self.outgoing.get(&channel) {
            None => true,
            Some(o) => !o.recipients.is_subset(&current) || o.sent >= SENDER_KEY_ROTATE_AFTER,
        };
        if rotate {
            let sender = SenderKeySender::generate(
                &mut rand::rng(),
                *channel.0.as_bytes(),
                *self.device_id.0.as_bytes(),
            );
            let history = HistoryKey::attest(&self.identity, &sender.distribution())?;
            self.keep_history(history);
            self.outgoing.insert(
                channel,
                Outgoing {
                    sender,
                    recipients: BTreeSet::new(),
                    sent: 0,
                },
            );
        }
        let have = self
            .outgoing
            .get(&channel)
            .map(|o| o.recipients.clone())
            .unwrap_or_default();
        let todo: Vec<(UserId, DeviceId)> = devices
            .into_iter()
            .filter(|(_, d)| !have.contains(d))
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let mut by_user: HashMap<UserId, Vec<DeviceId>> = HashMap::new();
        for (u, d) in &todo {
            by_user.entry(*u).or_default().push(*d);
        }
        for (u, ds) in by_user {
            self.ensure_sessions(u, &ds)?;
        }
        let distribution = self
            .outgoing
            .get(&channel)
            .map(|o| o.sender.distribution())
            .ok_or(ClientError::Malformed("no sender key"))?;
        // attested with this device's key (docs/e2e.md 17.2): the receiver can back it up and
        // share it as history
        let plain = EnvelopePlaintext {
            kind: ENVELOPE_KIND_ATTESTED_SENDER_KEY,
            channel_id: Some(*channel.0.as_bytes()),
            body: HistoryKey::attest(&self.identity, &distribution)?.to_bytes(),
        }
        .encode()?;
        let mut batch = Vec::new();
        let mut reached = Vec::new();
        let targets = todo.clone();
        for (_, d) in todo {
            if !self.sessions.contains_key(&d) {
                continue;
            }
            batch.push(NewEnvelope {
                recipient_device_id: d,
                channel_id: Some(channel),
                ciphertext: Base64Bytes(self.seal(d, &plain)?),
            });
            reached.push(d);
        }
        for chunk in batch.chunks(50) {
            let _: SentEnvelopes = self.http.ok(
                "POST",
                "/api/v1/envelopes",
                Some(
                    &serde_json::to_value(SendEnvelopesRequest {
                        envelopes: chunk.to_vec(),
                    })
                    .map_err(|e| ClientError::Io(e.to_string()))?,
                ),
            )?;
        }
        if let Some(o) = self.outgoing.get_mut(&channel) {
            o.recipients.extend(reached);
        }
        // new members read the channel's history when its setting says so
        self.share_history(channel, &added, &targets)?;
        Ok(())
    }

    /// The channel payload for `body` under the current sender key (prepared beforehand).
    pub fn encrypt_channel(&mut self, channel: ChannelId, body: &[u8]) -> Result<Vec<u8>> {
        let o = self
            .outgoing
            .get_mut(&channel)
            .ok_or(ClientError::Malformed("no sender key"))?;
        let message = o.sender.encrypt(&mut rand::rng(), body)?;
        o.sent += 1;
        Ok(ChannelPayload {
            sender_device_id: *self.device_id.0.as_bytes(),
            message,
        }
        .encode())
    }

    /// Sends a text in an end-to-end community channel.
    pub fn send_channel(&mut self, channel: ChannelId, text: &str) -> Result<MessageId> {
        self.prepare_sender_key(channel)?;
        let payload = self.encrypt_channel(channel, &text_body(text))?;
        self.post_ciphertext(channel, payload)
    }

    /// Encrypts a file (random key, chunked AEAD), stores the blob as a message of the channel
    /// and sends its pointer, name and type inside an encrypted message (pairwise in DMs,
    /// sender key in channels).
    pub fn send_attachment(
        &mut self,
        channel: ChannelId,
        direct: bool,
        name: &str,
        mime: &str,
        data: &[u8],
    ) -> Result<MessageId> {
        let (pointer, blob) = encrypt_attachment(&mut rand::rng(), data)?;
        let blob_id = self.post_ciphertext(channel, blob)?;
        let body = app::Body::Attachment(AttachmentBody {
            blob_message_id: *blob_id.0.as_bytes(),
            pointer,
            name: name.to_owned(),
            mime: mime.to_owned(),
        })
        .encode()?;
        let payload = self.encrypt_body(channel, direct, &body)?;
        self.post_ciphertext(channel, payload)
    }

    /// An encoded body's payload: pairwise in a DM, with the sender key in a channel.
    fn encrypt_body(&mut self, channel: ChannelId, direct: bool, body: &[u8]) -> Result<Vec<u8>> {
        if direct {
            self.encrypt_direct(channel, body)
        } else {
            self.prepare_sender_key(channel)?;
            self.encrypt_channel(channel, body)
        }
    }

    /// Encrypts a file (random key, chunked AEAD), uploads the blob to the channel's files
    /// (`POST /channels/{id}/files`) and sends a message naming it whose encrypted body holds
    /// its id, pointer, name and type (docs/e2e.md 19.2).
    pub fn send_file(
        &mut self,
        channel: ChannelId,
        direct: bool,
        name: &str,
        mime: &str,
        data: &[u8],
    ) -> Result<MessageId> {
        let (pointer, blob) = encrypt_attachment(&mut rand::rng(), data)?;
        let (status, answer) = self.http.raw(
            "POST",
            &format!("/api/v1/channels/{}/files", channel.0),
            Some(blob),
        )?;
        let stored: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        if status != 201 {
            return Err(ClientError::Http {
                status,
                code: stored["code"].as_str().unwrap_or("").to_owned(),
                message: stored["message"].as_str().unwrap_or("").to_owned(),
            });
        }
        let file_id = stored["id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or(ClientError::Malformed("upload answer without an id"))?;
        let body = app::Body::File(FileBody {
            file_id: *file_id.as_bytes(),
            pointer,
            name: name.to_owned(),
            mime: mime.to_owned(),
            dimensions: None,
            duration_ms: None,
            thumbnail: None,
        })
        .encode()?;
        let payload = self.encrypt_body(channel, direct, &body)?;
        Ok(self
            .post_with_files(channel, payload, vec![FileId(file_id)])?
            .0)
    }

    /// Fetches, processes and acknowledges every queued envelope (and those pushed live).
    /// Returns how many were accepted; refused ones are acknowledged too and flagged.
    pub fn process_envelopes(&mut self) -> Result<usize> {
        let mut accepted = 0;
        // the ones pushed live first (they are also still queued)
        while let Some(e) = self.live_envelopes.pop_front() {
            accepted += usize::from(self.accept_envelope(&e));
        }
        loop {
            let page: EnvelopePage = self.http.ok(
                "GET",
                &format!("/api/v1/devices/{}/envelopes", self.device_id),
                None,
            )?;
            if page.envelopes.is_empty() {
                break;
            }
            let ids: Vec<EnvelopeId> = page.envelopes.iter().map(|e| e.id).collect();
            for e in &page.envelopes {
                accepted += usize::from(self.accept_envelope(e));
            }
            let _: Value = self.http.ok(
                "POST",
                &format!("/api/v1/devices/{}/envelope_acks", self.device_id),
                Some(&json!({ "ids": ids })),
            )?;
            if !page.has_more {
                break;
            }
        }
        Ok(accepted)
    }

    /// Waits for envelopes pushed over the WebSocket; returns how many arrived.
    pub fn wait_live_envelopes(&mut self, n: usize, wait: Duration) -> Result<usize> {
        let deadline = Instant::now() + wait;
        while self.live_envelopes.len() < n && Instant::now() < deadline {
            if let Some(f) = self.ws()?.recv(Duration::from_millis(100))? {
                self.stash(f);
            }
        }
        Ok(self.live_envelopes.len())
    }

    /// Processes one envelope once; true when accepted.
    fn accept_envelope(&mut self, e: &Envelope) -> bool {
        if e.recipient_device_id != self.device_id || !self.seen_envelopes.insert(e.id) {
            return false;
        }
        match self.open_envelope(e) {
            Ok(()) => true,
            Err(err) => {
                self.warn(Warning::Rejected {
                    what: format!("envelope {}", e.id),
                    reason: format!("{err:?}"),
                });
                false
            }
        }
    }

    /// Decrypts and applies one envelope (a sender-key distribution).
    pub fn open_envelope(&mut self, e: &Envelope) -> Result<()> {
        let plain = self.open(e.sender_user_id, e.sender_device_id, &e.ciphertext.0)?;
        let envelope = EnvelopePlaintext::decode(&plain)?;
        let channel = envelope.channel_id.map(|c| ChannelId(Uuid::from_bytes(c)));
        // bound to its channel: the server cannot move it to another one
        if channel != e.channel_id {
            return Err(ClientError::ChannelMismatch);
        }
        match envelope.kind {
            ENVELOPE_KIND_SENDER_KEY | ENVELOPE_KIND_ATTESTED_SENDER_KEY => {
                let channel =
                    channel.ok_or(ClientError::Malformed("distribution without channel"))?;
                let d = if envelope.kind == ENVELOPE_KIND_ATTESTED_SENDER_KEY {
                    let k = HistoryKey::from_bytes(&envelope.body)?;
                    if k.sender_device_id != *e.sender_device_id.0.as_bytes() {
                        return Err(ClientError::WrongSender);
                    }
                    if k.channel_id != *channel.0.as_bytes() {
                        return Err(ClientError::ChannelMismatch);
                    }
                    let cert = self.certificate_of(e.sender_user_id, e.sender_device_id)?;
                    k.verify(&cert)?;
                    let d = k.distribution();
                    self.keep_history(k);
                    d
                } else {
                    SenderKeyDistribution::from_bytes(&envelope.body)?
                };
                if d.channel_id != *channel.0.as_bytes() {
                    return Err(ClientError::ChannelMismatch);
                }
                let receiver =
                    SenderKeyReceiver::from_distribution(&d, e.sender_device_id.0.as_bytes())?;
                self.incoming.insert(
                    (channel, e.sender_device_id, d.key_id),
                    Incoming {
                        user: e.sender_user_id,
                        receiver,
                        first_iteration: d.iteration,
                    },
                );
                Ok(())
            }
            ENVELOPE_KIND_HISTORY_SHARE => {
                let channel = channel.ok_or(ClientError::Malformed("history without channel"))?;
                let bundle = HistoryBundle::from_bytes(&envelope.body)?;
                self.take_history_share(channel, bundle)?;
                Ok(())
            }
            _ => Err(ClientError::Malformed("envelope kind")),
        }
    }

    /// Every stored message of a channel after this device's cursor, raw.
    pub fn fetch(&mut self, channel: ChannelId) -> Result<Vec<Message>> {
        let mut out = Vec::new();
        loop {
            let after = self.cursors.get(&channel).copied().unwrap_or(0);
            let page: Value = self.http.ok(
                "GET",
                &format!("/api/v1/channels/{channel}/messages?after_seq={after}&limit=100"),
                None,
            )?;
            let list: Vec<Message> = serde_json::from_value(page["messages"].clone())
                .map_err(|e| ClientError::Io(e.to_string()))?;
            if let Some(last) = list.last() {
                self.cursors.insert(channel, last.seq);
            }
            let more = page["has_more"] == true;
            out.extend(list);
            if !more {
                return Ok(out);
            }
        }
    }

    /// Processes envelopes, then decrypts every new message of the channel from other devices.
    /// Refused messages are returned as errors (and flagged).
    pub fn sync(&mut self, channel: ChannelId) -> Result<Vec<Result<Received>>> {
        self.process_envelopes()?;
        let list = self.fetch(channel)?;
        Ok(self.decrypt_all(&list))
    }

    /// Decrypts messages (blobs are remembered for attachments; own messages are skipped).
    pub fn decrypt_all(&mut self, list: &[Message]) -> Vec<Result<Received>> {
        let mut out = Vec::new();
        for m in list {
            if let Some(Content::Encrypted { ciphertext }) = &m.content {
                if ciphertext.0.first() == Some(&tag::ATTACHMENT_BLOB) {
                    self.blobs.insert(m.id, ciphertext.0.clone());
                }
            }
        }
        for m in list {
            let Some(Content::Encrypted { ciphertext }) = &m.content else {
                continue;
            };
            let bytes = &ciphertext.0;
            match bytes.first() {
                Some(&tag::DIRECT_PAYLOAD) | Some(&tag::CHANNEL_PAYLOAD) => {}
                _ => continue,
            }
            if bytes.get(1..17) == Some(self.device_id.0.as_bytes().as_slice()) {
                continue;
            }
            let r = self.decrypt_message(m);
            if let Err(e) = &r {
                self.warn(Warning::Rejected {
                    what: format!("message {}", m.id),
                    reason: format!("{e:?}"),
                });
            }
            out.push(r);
        }
        out
    }

    /// Decrypts one stored message addressed to this device.
    pub fn decrypt_message(&mut self, m: &Message) -> Result<Received> {
        let Some(Content::Encrypted { ciphertext }) = &m.content else {
            return Err(ClientError::Malformed("not ciphertext"));
        };
        let sender = m.sender_id.ok_or(ClientError::WrongSender)?;
        let payload = Payload::decode(&ciphertext.0)?;
        let sender_device = DeviceId(Uuid::from_bytes(payload.sender_device_id()));
        let body = match payload {
            Payload::Direct(p) => match p.message_for(self.device_id.0.as_bytes()) {
                Some(ct) => {
                    let plain = self.open(sender, sender_device, ct)?;
                    let inner = DirectPlaintext::decode(&plain)?;
                    if ChannelId(Uuid::from_bytes(inner.channel_id)) != m.channel_id {
                        return Err(ClientError::ChannelMismatch);
                    }
                    self.keep_direct(m.channel_id, m.id, m.seq, &inner.body);
                    inner.body
                }
                // sent before this device was linked or restored: from the backup
                None => Zeroizing::new(
                    self.archived(m.channel_id, m.id)
                        .ok_or(ClientError::NotForThisDevice)?
                        .to_vec(),
                ),
            },
            Payload::Channel(p) => {
                let header = SenderKeyMessage::from_bytes(&p.message)?;
                let (key_id, iteration) = (header.key_id, header.iteration);
                let live = match self
                    .incoming
                    .get_mut(&(m.channel_id, sender_device, key_id))
                {
                    Some(entry) => {
                        if entry.user != sender {
                            return Err(ClientError::WrongSender);
                        }
                        // before the live state's first iteration (it arrived later, as to a
                        // new member): history
                        if iteration < entry.first_iteration {
                            None
                        } else {
                            Some(entry.receiver.decrypt(
                                m.channel_id.0.as_bytes(),
                                sender_device.0.as_bytes(),
                                &p.message,
                            ))
                        }
                    }
                    None => None,
                };
                match live {
                    Some(Ok(body)) => body,
                    Some(Err(e)) => return Err(e.into()),
                    None => self.decrypt_history(m, sender, sender_device, key_id, &p.message)?,
                }
            }
        };
        Ok(Received {
            message_id: m.id,
            channel_id: m.channel_id,
            seq: m.seq,
            sender_user: sender,
            sender_device,
            body: self.decode_body(&body)?,
        })
    }

    /// A channel message of a sender key this device holds only as history (from the backup):
    /// the sender device must be the message's sender's, and the key attested by it.
    fn decrypt_history(
        &mut self,
        m: &Message,
        sender: UserId,
        sender_device: DeviceId,
        key_id: u32,
        message: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let key = self
            .history_key(m.channel_id, sender_device, key_id)
            .cloned()
            .ok_or(ClientError::UnknownSenderKey)?;
        let cert = self.certificate_of(sender, sender_device)?;
        key.verify(&cert)?;
        self.read_history((m.channel_id, sender_device, key_id), &key, message)
    }

    fn decode_body(&self, body: &[u8]) -> Result<Body> {
        match app::Body::decode(body)? {
            app::Body::Text(text) => Ok(Body::Text(text)),
            // the preview is the sender's; this client reads the text
            app::Body::LinkText(l) => Ok(Body::Text(l.text)),
            app::Body::Attachment(a) => {
                let blob = self
                    .blobs
                    .get(&MessageId(Uuid::from_bytes(a.blob_message_id)))
                    .ok_or(ClientError::Malformed("attachment blob not found"))?;
                let data = decrypt_attachment(&a.pointer, blob)?.to_vec();
                Ok(Body::Attachment {
                    name: a.name,
                    mime: a.mime,
                    data,
                })
            }
            app::Body::File(f) => {
                let (status, blob) = self.http.raw(
                    "GET",
                    &format!("/api/v1/files/{}", Uuid::from_bytes(f.file_id)),
                    None,
                )?;
                if status != 200 {
                    return Err(ClientError::Malformed("the file could not be downloaded"));
                }
                let data = decrypt_attachment(&f.pointer, &blob)?.to_vec();
                Ok(Body::Attachment {
                    name: f.name,
                    mime: f.mime,
                    data,
                })
            }
        }
    }

    /// How many sender keys this device holds for a channel (all senders, all key ids).
    pub fn sender_keys_held(&self, channel: ChannelId) -> usize {
        self.incoming
            .keys()
            .filter(|(c, _, _)| *c == channel)
            .count()
    }

    /// The key id this device currently sends with in a channel.
    pub fn sending_key_id(&self, channel: ChannelId) -> Option<u32> {
        self.outgoing.get(&channel).map(|o| o.sender.key_id())
    }

    /// True when this device has a pairwise session with `device`.
    pub fn has_session(&self, device: DeviceId) -> bool {
        self.sessions.contains_key(&device)
    }
}

fn parse_uuid(v: &Value) -> Result<Uuid> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or(ClientError::Malformed("uuid"))
}
