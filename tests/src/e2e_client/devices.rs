//! Every device of an account (docs/e2e.md section 18) in the test client: the recovery key
//! and secret storage, device linking through the server, and the key backup that lets a
//! linked or restored device read the history the account could read.
//!
//! What a device backs up: the history key of every sender key it makes or receives with an
//! attestation (channels), and the body of every direct message it sends or decrypts (DMs and
//! group DMs, whose pairwise keys are gone once used). [`Device::back_up`] seals what is new
//! into chunks and moves the head; [`Device::restore_backup`] reads the whole backup back,
//! refusing a head below one seen and any chunk the head does not name.

use super::{device_of, user_of, ClientError, Device, Http, Login, Result};
use chatalot_crypto::app::{EnvelopePlaintext, ENVELOPE_KIND_HISTORY_SHARE};
use chatalot_crypto::backup::{self, ArchivedMessage, BackupEntry, BackupHead};
use chatalot_crypto::history::{HistoryBundle, HistoryKey, MAX_HISTORY_BUNDLE_KEYS};
use chatalot_crypto::identity::{DeviceCertificate, DeviceIdentity, UserKeyPair};
use chatalot_crypto::link::{self, LinkCode, LinkRequest, PendingLink};
use chatalot_crypto::secret_storage::{self, RecoveryKey};
use chatalot_crypto::sender_key::SenderKeyReceiver;
use chatalot_crypto::CryptoError;
use chatalot_protocol::bytes::Base64Bytes;
use chatalot_protocol::ids::{ChannelId, DeviceId, MessageId, UserId};
use chatalot_protocol::keys::NewEnvelope;
use chatalot_protocol::keys::UserDevices;
use chatalot_protocol::multi_device::{BackupChunkPage, KeyBackup, PendingLinks, SecretStorage};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;
use zeroize::Zeroizing;

/// Entries per chunk at most (chunks also stay under the crypto crate's byte bound).
const ENTRIES_PER_CHUNK: usize = 2_000;
/// Plaintext bytes per chunk at most: below `MAX_BACKUP_CHUNK_LEN` with room for one entry.
const CHUNK_TARGET_BYTES: usize = backup::MAX_BACKUP_CHUNK_LEN - 300 * 1024;

/// What a device shares with the other devices of its account.
pub(super) struct AccountSecrets {
    backup_key: Zeroizing<[u8; 32]>,
    /// Known only to the device that made the user key, until [`Device::recovery_key`] hands
    /// it to the user.
    recovery_key: Option<RecoveryKey>,
    /// The highest secret-storage version seen.
    storage_version: u64,
    /// The highest backup head seen (and opened).
    head: Option<BackupHead>,
    /// Entries made since the last backup.
    pending: Vec<BackupEntry>,
    /// Sender keys read back from the backup, for history only (no live state).
    history: HashMap<(ChannelId, DeviceId, u32), HistoryKey>,
    /// Direct messages read back from the backup.
    archive: HashMap<MessageId, ArchivedMessage>,
    /// Verified certificates of senders whose history keys this device used.
    certificates: HashMap<DeviceId, DeviceCertificate>,
    /// A receiver state per history key in use, stepped forward as history is read in order
    /// (reading from the history key alone costs a chain walk per message).
    readers: HashMap<(ChannelId, DeviceId, u32), SenderKeyReceiver>,
    /// Messages read with history keys (channel, sender device, key id, iteration): one read
    /// twice is a replay.
    history_read: std::collections::HashSet<(ChannelId, DeviceId, u32, u32)>,
}

impl AccountSecrets {
    /// A new account's: a fresh backup key and recovery key.
    pub(super) fn fresh() -> AccountSecrets {
        let mut rng = rand::rng();
        let mut backup_key = Zeroizing::new([0u8; 32]);
        rand::Rng::fill_bytes(&mut rng, &mut backup_key[..]);
        AccountSecrets {
            backup_key,
            recovery_key: Some(RecoveryKey::generate(&mut rng)),
            storage_version: 0,
            head: None,
            pending: Vec::new(),
            history: HashMap::new(),
            archive: HashMap::new(),
            certificates: HashMap::new(),
            readers: HashMap::new(),
            history_read: Default::default(),
        }
    }

    /// What another device of the account gets: the backup key and the versions seen.
    pub(super) fn for_another_device(&self) -> AccountSecrets {
        AccountSecrets::received(self.backup_key.clone(), self.storage_version, None)
    }

    fn received(
        backup_key: Zeroizing<[u8; 32]>,
        storage_version: u64,
        head: Option<BackupHead>,
    ) -> AccountSecrets {
        AccountSecrets {
            backup_key,
            recovery_key: None,
            storage_version,
            head,
            pending: Vec::new(),
            history: HashMap::new(),
            archive: HashMap::new(),
            certificates: HashMap::new(),
            readers: HashMap::new(),
            history_read: Default::default(),
        }
    }

    fn head_seq(&self) -> u64 {
        self.head.map_or(0, |h| h.head_seq)
    }
}

/// A signed-in device with no keys that asked to be linked: it shows [`NewDevice::code`] and
/// waits for a device of the account to answer ([`Device::answer_link`]).
pub struct NewDevice {
    login: Login,
    pending: PendingLink,
}

impl NewDevice {
    /// Logs in as `username` on a new device and asks to be linked.
    pub fn start(base: &str, username: &str, password: &str) -> Result<NewDevice> {
        let login = Login::new(base, username, password, "e2e linked")?;
        let identity = DeviceIdentity::generate(
            &mut rand::rng(),
            *login.user_id.0.as_bytes(),
            *login.device_id.0.as_bytes(),
        );
        let pending = PendingLink::start(&mut rand::rng(), identity);
        let _: Value = login.http.ok(
            "PUT",
            &format!("/api/v1/devices/{}/link_request", login.device_id),
            Some(&json!({ "request": Base64Bytes(pending.request().to_bytes()) })),
        )?;
        Ok(NewDevice { login, pending })
    }

    /// The code the user carries to the other device (26 characters).
    pub fn code(&self) -> String {
        self.pending.code().to_text()
    }

    /// This device's id.
    pub fn device_id(&self) -> DeviceId {
        self.login.device_id
    }

    /// A raw API call with this device's token.
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        self.login.http.call(method, path, body)
    }

    /// Waits (up to `wait`) for the answer, opens it, publishes the certificate it carries and
    /// reads the whole key backup. A response that does not open for this request and code, or
    /// hands over another user key than the server publishes, is refused and changes nothing.
    pub fn finish(self, wait: Duration) -> Result<Device> {
        let deadline = Instant::now() + wait;
        let answer: Value = loop {
            let (status, v) = self.login.http.call(
                "GET",
                &format!("/api/v1/devices/{}/link_response", self.login.device_id),
                None,
            )?;
            if status == 200 {
                break v;
            }
            if status != 404 || Instant::now() > deadline {
                return Err(ClientError::Http {
                    status,
                    code: v["code"].as_str().unwrap_or("").to_owned(),
                    message: v["message"].as_str().unwrap_or("").to_owned(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        self.open_answer(&answer)
    }

    /// Checks a relayed answer without taking it: an answer made for another request or code,
    /// or handing over another user key than the server publishes, is refused.
    pub fn check_answer(&self, answer: &Value) -> Result<()> {
        let response = base64_field(answer, "response")?;
        let published = published_user_key(&self.login.http, self.login.user_id)?;
        self.pending.finish(&response, &published)?;
        Ok(())
    }

    /// Opens a link response as the server relayed it (`{responder_device_id, response}`).
    pub fn open_answer(self, answer: &Value) -> Result<Device> {
        let response = base64_field(answer, "response")?;
        let published = published_user_key(&self.login.http, self.login.user_id)?;
        let linked = self.pending.finish(&response, &published)?;
        let secrets = linked.secrets;
        let user_key = UserKeyPair::from_bytes(&secrets.user_key.to_bytes())?;
        let account = AccountSecrets::received(
            Zeroizing::new(*secrets.backup_key),
            secrets.storage_version,
            None,
        );
        let head_seq = secrets.head_seq;
        let mut d = Device::assemble(
            self.login,
            user_key,
            linked.identity,
            secrets.certificate,
            account,
        )?;
        d.restore_backup(head_seq)?;
        Ok(d)
    }
}

fn base64_field(v: &Value, name: &str) -> Result<Vec<u8>> {
    let b: Base64Bytes = serde_json::from_value(v[name].clone())
        .map_err(|e| ClientError::Io(format!("{name}: {e}")))?;
    Ok(b.0)
}

fn published_user_key(http: &Http, user: UserId) -> Result<[u8; 32]> {
    let d: UserDevices = http.ok("GET", &format!("/api/v1/users/{user}/devices"), None)?;
    d.user_key
        .and_then(|k| k.0.try_into().ok())
        .ok_or(ClientError::Malformed("account has no user key"))
}

impl Device {
    /// Signs in on a fresh device with the recovery key alone: opens the secret storage,
    /// certifies a new device identity with the user key inside, publishes it and reads the
    /// whole key backup.
    pub fn restore(
        base: &str,
        username: &str,
        password: &str,
        recovery_key: &str,
    ) -> Result<Device> {
        let rk = RecoveryKey::parse(recovery_key)?;
        let login = Login::new(base, username, password, "e2e restored")?;
        let stored: SecretStorage =
            login
                .http
                .ok("GET", "/api/v1/users/me/secret_storage", None)?;
        let secrets = secret_storage::open(&rk, &stored.storage.0, login.user_id.0.as_bytes(), 0)?;
        let published = published_user_key(&login.http, login.user_id)?;
        if secrets.user_key.public_key() != published {
            return Err(ClientError::Malformed(
                "the secret storage holds another user key than the account's",
            ));
        }
        let account =
            AccountSecrets::received(Zeroizing::new(*secrets.backup_key), secrets.version, None);
        let mut d = Device::finish(login, secrets.user_key, account)?;
        d.restore_backup(0)?;
        Ok(d)
    }

    /// The recovery key as shown to the user once (52 characters), on the device that made it.
    pub fn recovery_key(&self) -> Option<String> {
        self.account
            .recovery_key
            .as_ref()
            .map(|k| k.to_text().to_string())
    }

    /// The account's password (the test client keeps it to log in other devices).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The raw account secrets this device holds (the backup key, the user key's secret
    /// half), for tests that look for them where they must never be.
    pub fn account_secrets(&self) -> Vec<Vec<u8>> {
        let user_key = self.user_key.to_bytes();
        vec![
            self.account.backup_key.to_vec(),
            user_key[user_key.len() - 32..].to_vec(),
        ]
    }

    /// Stores the next version of the secret storage under this device's recovery key.
    pub(super) fn store_secret_storage(&mut self) -> Result<()> {
        let rk = self
            .account
            .recovery_key
            .as_ref()
            .ok_or(ClientError::Malformed("no recovery key on this device"))?;
        let version = self.account.storage_version + 1;
        let sealed = secret_storage::seal(
            &mut rand::rng(),
            rk,
            &self.user_key,
            &self.account.backup_key,
            version,
        );
        let _: Value = self.http.ok(
            "PUT",
            "/api/v1/users/me/secret_storage",
            Some(&json!({ "storage": Base64Bytes(sealed) })),
        )?;
        self.account.storage_version = version;
        Ok(())
    }

    /// Answers the account's pending link request whose code is `code` (as the user typed
    /// it): certifies the new device and hands it the user key, the backup key and the
    /// versions this device has seen. No pending request matching the code is an error.
    pub fn answer_link(&mut self, code: &str) -> Result<DeviceId> {
        let code = LinkCode::parse(code)?;
        let list: PendingLinks = self
            .http
            .ok("GET", "/api/v1/users/me/link_requests", None)?;
        let found = list.requests.iter().find_map(|p| {
            LinkRequest::from_bytes(&p.request.0)
                .ok()
                .filter(|r| r.matches(&code))
                .map(|r| (p.device_id, r))
        });
        let (device, request) = found.ok_or(ClientError::Malformed(
            "this code does not match a request of this account",
        ))?;
        // everything the new device may need is in the backup before it looks
        self.back_up()?;
        let response = link::respond(
            &mut rand::rng(),
            &code,
            &request,
            &self.user_key,
            &self.account.backup_key,
            self.account.storage_version,
            self.account.head_seq(),
        )?;
        let _: Value = self.http.ok(
            "PUT",
            &format!("/api/v1/users/me/link_requests/{device}/response"),
            Some(&json!({ "response": Base64Bytes(response) })),
        )?;
        Ok(device)
    }

    /// Remembers a history key: for reading history, for the backup, and for sharing with
    /// new members.
    pub(super) fn keep_history(&mut self, key: HistoryKey) {
        let index = (
            ChannelId(Uuid::from_bytes(key.channel_id)),
            DeviceId(Uuid::from_bytes(key.sender_device_id)),
            key.key_id,
        );
        // the earliest start of a key reads the most (a new member gets the current key in its
        // distribution and the key from its first iteration in a history share)
        if let Some(held) = self.account.history.get(&index) {
            if held.first_iteration <= key.first_iteration {
                return;
            }
            self.account.readers.remove(&index);
        }
        self.account.history.insert(index, key.clone());
        self.account.pending.push(BackupEntry::History(key));
    }

    /// The history keys this device holds for `channel` (its own and other senders').
    pub(super) fn history_of(&self, channel: ChannelId) -> Vec<HistoryKey> {
        let mut keys: Vec<HistoryKey> = self
            .account
            .history
            .iter()
            .filter(|((c, _, _), _)| *c == channel)
            .map(|(_, k)| k.clone())
            .collect();
        keys.sort_by_key(|k| (k.sender_device_id, k.key_id));
        keys
    }

    /// The trusted devices listed for `channel`, this one included.
    fn channel_listing(&mut self, channel: ChannelId) -> Result<Vec<(UserId, DeviceId)>> {
        let mut list = self.channel_devices(channel)?;
        list.push((self.user_id, self.device_id));
        Ok(list)
    }

    /// Hands the history keys this device holds for `channel` to the devices of users new to
    /// it (`added`, among `devices`), when the channel's setting lets new members read history
    /// (docs/e2e.md 18.5): bundles of at most `MAX_HISTORY_BUNDLE_KEYS` in envelopes of kind
    /// 0x02, one per device with a pairwise session. Returns the envelopes sent.
    pub(super) fn share_history(
        &mut self,
        channel: ChannelId,
        added: &[UserId],
        devices: &[(UserId, DeviceId)],
    ) -> Result<usize> {
        let targets: Vec<DeviceId> = devices
            .iter()
            .filter(|(u, d)| added.contains(u) && self.sessions.contains_key(d))
            .map(|(_, d)| *d)
            .collect();
        if targets.is_empty() {
            return Ok(0);
        }
        let c: Value = self
            .http
            .ok("GET", &format!("/api/v1/channels/{channel}"), None)?;
        if c["history_for_new_members"] != true {
            return Ok(0);
        }
        let keys = self.history_of(channel);
        let mut batch = Vec::new();
        for part in keys.chunks(MAX_HISTORY_BUNDLE_KEYS) {
            let body = HistoryBundle {
                channel_id: *channel.0.as_bytes(),
                keys: part.to_vec(),
            }
            .to_bytes()?;
            let plain = EnvelopePlaintext {
                kind: ENVELOPE_KIND_HISTORY_SHARE,
                channel_id: Some(*channel.0.as_bytes()),
                body,
            }
            .encode()?;
            for d in &targets {
                batch.push(NewEnvelope {
                    recipient_device_id: *d,
                    channel_id: Some(channel),
                    ciphertext: Base64Bytes(self.seal(*d, &plain)?),
                });
            }
        }
        for chunk in batch.chunks(50) {
            let _: Value = self.http.ok(
                "POST",
                "/api/v1/envelopes",
                Some(&json!({ "envelopes": chunk })),
            )?;
        }
        Ok(batch.len())
    }

    /// Takes a history share (docs/e2e.md 18.5) sent in `channel`: every key must be attested
    /// by its sender device, which must be listed in the channel now (verified under its user's
    /// trusted key); keys that do not check are left out and flagged. Returns the keys taken.
    pub(super) fn take_history_share(
        &mut self,
        channel: ChannelId,
        bundle: HistoryBundle,
    ) -> Result<usize> {
        if bundle.channel_id != *channel.0.as_bytes() {
            return Err(ClientError::ChannelMismatch);
        }
        let listed: HashMap<DeviceId, UserId> = self
            .channel_listing(channel)?
            .into_iter()
            .map(|(u, d)| (d, u))
            .collect();
        let mut taken = 0;
        for k in bundle.keys {
            let device = DeviceId(Uuid::from_bytes(k.sender_device_id));
            let checked = match listed.get(&device) {
                Some(user) => self
                    .certificate_of(*user, device)
                    .and_then(|c| k.verify(&c).map_err(ClientError::from)),
                None => Err(ClientError::UntrustedDevice(device)),
            };
            match checked {
                Ok(()) => {
                    self.keep_history(k);
                    taken += 1;
                }
                Err(e) => self.warn(super::Warning::Rejected {
                    what: format!("history key of device {device}"),
                    reason: format!("{e:?}"),
                }),
            }
        }
        Ok(taken)
    }

    /// Remembers a direct message's body for the backup.
    pub(super) fn keep_direct(&mut self, channel: ChannelId, id: MessageId, seq: i64, body: &[u8]) {
        if self.account.archive.contains_key(&id) {
            return;
        }
        self.account
            .pending
            .push(BackupEntry::Message(ArchivedMessage {
                channel_id: *channel.0.as_bytes(),
                message_id: *id.0.as_bytes(),
                seq: u64::try_from(seq).unwrap_or(0),
                body: Zeroizing::new(body.to_vec()),
            }));
    }

    /// Entries waiting for the next backup.
    pub fn backup_pending(&self) -> usize {
        self.account.pending.len()
    }

    /// Appends what is new as chunks and moves the head over them (and over chunks other
    /// devices of the account appended since the head this device knows). Returns the chunks
    /// written. A head moved meanwhile by another device is read and the write retried.
    pub fn back_up(&mut self) -> Result<usize> {
        if self.account.pending.is_empty() {
            return Ok(0);
        }
        let user = *self.user_id.0.as_bytes();
        let mut written = Vec::new();
        let mut batches: Vec<Vec<BackupEntry>> = vec![Vec::new()];
        let mut bytes = 0;
        // kept until the head names them: a failed backup is retried with them next time
        for e in self.account.pending.clone() {
            let size = match &e {
                BackupEntry::History(_) => chatalot_crypto::history::HISTORY_KEY_LEN,
                BackupEntry::Message(m) => 45 + m.body.len(),
            };
            let last = batches.last_mut().expect("one batch");
            if !last.is_empty()
                && (last.len() >= ENTRIES_PER_CHUNK || bytes + size > CHUNK_TARGET_BYTES)
            {
                batches.push(Vec::new());
                bytes = 0;
            }
            bytes += size;
            batches.last_mut().expect("one batch").push(e);
        }
        for batch in &batches {
            let state: KeyBackup = self.http.ok("GET", "/api/v1/users/me/key_backup", None)?;
            let seq = state.chunk_count + 1;
            let chunk = backup::seal_chunk(
                &mut rand::rng(),
                &self.account.backup_key,
                &user,
                seq,
                batch,
            )?;
            let _: Value = self.http.ok(
                "POST",
                "/api/v1/users/me/key_backup/chunks",
                Some(&json!({ "chunk": Base64Bytes(chunk) })),
            )?;
            written.push(seq);
        }
        for _ in 0..5 {
            let state: KeyBackup = self.http.ok("GET", "/api/v1/users/me/key_backup", None)?;
            let current = self.open_head(&state)?;
            let base = current.unwrap_or_else(|| BackupHead::empty(user));
            let newer = self.chunks_after(base.count, state.chunk_count)?;
            let refs: Vec<&[u8]> = newer.iter().map(|(_, c)| c.as_slice()).collect();
            let next = base.after(&refs);
            let (status, _) = self.http.call(
                "PUT",
                "/api/v1/users/me/key_backup/head",
                Some(&json!({ "head": Base64Bytes(next.seal(&self.account.backup_key)) })),
            )?;
            match status {
                200 => {
                    self.account.head = Some(next);
                    self.account.pending.clear();
                    return Ok(written.len());
                }
                409 => continue,
                _ => {
                    return Err(ClientError::Http {
                        status,
                        code: String::new(),
                        message: "head refused".into(),
                    })
                }
            }
        }
        Err(ClientError::Io("the backup head kept moving".into()))
    }

    /// The stored head, opened and checked against the highest this device has seen.
    fn open_head(&mut self, state: &KeyBackup) -> Result<Option<BackupHead>> {
        let Some(head) = &state.head else {
            if self.account.head_seq() > 0 {
                return Err(ClientError::Crypto(
                    chatalot_crypto::CryptoError::InvalidState("backup rolled back"),
                ));
            }
            return Ok(None);
        };
        let head = BackupHead::open(
            &self.account.backup_key,
            &head.0,
            self.user_id.0.as_bytes(),
            self.account.head_seq(),
        )?;
        Ok(Some(head))
    }

    /// Chunks `after + 1 ..= upto`, in order.
    fn chunks_after(&self, after: u64, upto: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut next = after;
        while next < upto {
            let page: BackupChunkPage = self.http.ok(
                "GET",
                &format!("/api/v1/users/me/key_backup/chunks?after={next}&limit=100"),
                None,
            )?;
            for c in page.chunks {
                if c.seq != next + 1 {
                    return Err(ClientError::Crypto(
                        chatalot_crypto::CryptoError::DigestMismatch,
                    ));
                }
                next = c.seq;
                if next > upto {
                    break;
                }
                out.push((c.seq, c.chunk.0));
            }
            if !page.has_more {
                break;
            }
        }
        Ok(out)
    }

    /// Reads the whole backup back: the head (its MAC, and not below `min_head_seq` nor any
    /// head this device saw), then chunks `1..=count`, whose chain must be the head's digest;
    /// every entry is kept for reading history. Returns the entries read.
    pub fn restore_backup(&mut self, min_head_seq: u64) -> Result<usize> {
        let state: KeyBackup = self.http.ok("GET", "/api/v1/users/me/key_backup", None)?;
        let floor = self.account.head_seq().max(min_head_seq);
        let head = match &state.head {
            None if floor > 0 => {
                return Err(ClientError::Crypto(
                    chatalot_crypto::CryptoError::InvalidState("backup rolled back"),
                ))
            }
            None => return Ok(0),
            Some(h) => BackupHead::open(
                &self.account.backup_key,
                &h.0,
                self.user_id.0.as_bytes(),
                floor,
            )?,
        };
        let chunks = self.chunks_after(0, head.count)?;
        let refs: Vec<&[u8]> = chunks.iter().map(|(_, c)| c.as_slice()).collect();
        head.check_chunks(&refs)?;
        let user = *self.user_id.0.as_bytes();
        let mut read = 0;
        for (seq, c) in &chunks {
            for e in backup::open_chunk(&self.account.backup_key, &user, *seq, c)? {
                read += 1;
                match e {
                    BackupEntry::History(k) => {
                        let key = (
                            ChannelId(Uuid::from_bytes(k.channel_id)),
                            DeviceId(Uuid::from_bytes(k.sender_device_id)),
                            k.key_id,
                        );
                        // the earliest start of a key reads the most (its sender backs it up
                        // from its first iteration, a receiver from where it got it)
                        let earlier = self
                            .account
                            .history
                            .get(&key)
                            .is_none_or(|held| k.first_iteration < held.first_iteration);
                        if earlier {
                            self.account.readers.remove(&key);
                            self.account.history.insert(key, k);
                        }
                    }
                    BackupEntry::Message(m) => {
                        self.account
                            .archive
                            .insert(MessageId(Uuid::from_bytes(m.message_id)), m);
                    }
                }
            }
        }
        self.account.head = Some(head);
        Ok(read)
    }

    /// A history key for `(channel, sender device, key id)` read from the backup.
    pub(super) fn history_key(
        &self,
        channel: ChannelId,
        device: DeviceId,
        key_id: u32,
    ) -> Option<&HistoryKey> {
        self.account.history.get(&(channel, device, key_id))
    }

    /// Decrypts a channel message with the history key `key` (checked by the caller): through
    /// a receiver state kept for the key when the message is at or past it, else (an earlier
    /// message) from the key itself.
    pub(super) fn read_history(
        &mut self,
        index: (ChannelId, DeviceId, u32),
        key: &HistoryKey,
        message: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let (channel, device, key_id) = index;
        let iteration =
            chatalot_crypto::sender_key::SenderKeyMessage::from_bytes(message)?.iteration;
        if self
            .account
            .history_read
            .contains(&(channel, device, key_id, iteration))
        {
            return Err(CryptoError::Duplicate.into());
        }
        let body = self.read_history_unchecked(index, key, message)?;
        self.account
            .history_read
            .insert((channel, device, key_id, iteration));
        Ok(body)
    }

    fn read_history_unchecked(
        &mut self,
        index: (ChannelId, DeviceId, u32),
        key: &HistoryKey,
        message: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let (c, d) = (*index.0 .0.as_bytes(), *index.1 .0.as_bytes());
        let reader = match self.account.readers.entry(index) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                SenderKeyReceiver::from_distribution(&key.distribution(), &d)?,
            ),
        };
        match reader.decrypt(&c, &d, message) {
            Ok(body) => Ok(body),
            // before the reader's position, or further past it than it skips at once
            Err(CryptoError::Duplicate | CryptoError::TooFarAhead) => {
                Ok(key.decrypt(&c, &d, message)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A direct message's body read from the backup, if it is for this channel.
    pub(super) fn archived(&self, channel: ChannelId, id: MessageId) -> Option<&[u8]> {
        self.account
            .archive
            .get(&id)
            .filter(|m| m.channel_id == *channel.0.as_bytes())
            .map(|m| m.body.as_slice())
    }

    /// The verified certificate of `device` of `user` (under the trusted user key).
    pub(super) fn certificate_of(
        &mut self,
        user: UserId,
        device: DeviceId,
    ) -> Result<DeviceCertificate> {
        if let Some(c) = self.account.certificates.get(&device) {
            if user_of(c) == user {
                return Ok(*c);
            }
            return Err(ClientError::WrongSender);
        }
        let d: UserDevices = self
            .http
            .ok("GET", &format!("/api/v1/users/{user}/devices"), None)?;
        let key = self.trusted_key(user)?;
        let listed = d
            .devices
            .into_iter()
            .find(|x| x.device_id == device)
            .ok_or(ClientError::UntrustedDevice(device))?;
        let cert = DeviceCertificate::from_bytes(&listed.certificate.0)?;
        cert.verify(&key)
            .map_err(|_| ClientError::UntrustedDevice(device))?;
        if device_of(&cert) != device || user_of(&cert) != user {
            return Err(ClientError::UntrustedDevice(device));
        }
        self.account.certificates.insert(device, cert);
        Ok(cert)
    }

    /// For an account that lost every device and its recovery key: signs in on a fresh
    /// device, resets the account's keys (the password, and `code` with two-factor on), then
    /// starts over as at registration: a new user key, recovery key and backup key.
    pub fn start_over(
        base: &str,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<Device> {
        let login = Login::new(base, username, password, "e2e reset")?;
        let mut body = json!({ "password": password });
        if let Some(c) = code {
            body["code"] = json!(c);
        }
        let (status, v) =
            login
                .http
                .call("POST", "/api/v1/users/me/user_key_reset", Some(&body))?;
        if status != 204 {
            return Err(ClientError::Http {
                status,
                code: v["code"].as_str().unwrap_or("").to_owned(),
                message: v["message"].as_str().unwrap_or("").to_owned(),
            });
        }
        let user_key = UserKeyPair::generate(&mut rand::rng(), *login.user_id.0.as_bytes());
        let mut d = Device::finish(login, user_key, AccountSecrets::fresh())?;
        d.store_secret_storage()?;
        Ok(d)
    }
}
