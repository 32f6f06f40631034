//! The end-to-end key directory and device-to-device envelopes.
//!
//! A device publishes its certificate (signed by its user's key) and signed prekey, and keeps a
//! stock of one-time prekeys; others list a user's or a channel's devices and claim prekey
//! bundles to start pairwise sessions. Envelopes (pairwise ciphertext between devices) are
//! queued per recipient device until acknowledged, and pushed live to its connections.
//!
//! The server verifies every certificate and signed prekey it stores (so an honest server
//! never serves a broken one), but clients trust only what verifies under the user keys they
//! pinned: nothing here is trusted by them.

use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody};
use crate::state::AppState;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::HttpResponse;
use chatalot_actors::registry::DeliverToDevice;
use chatalot_crypto::identity::DeviceCertificate;
use chatalot_crypto::x3dh::{OneTimePreKeyPublic, PreKeyBundle, SignedPreKeyPublic};
use chatalot_protocol::bytes::Base64Bytes;
use chatalot_protocol::ids::{ChannelId, DeviceId, UserId};
use chatalot_protocol::keys::{
    limits, AckEnvelopesRequest, AckedEnvelopes, ChannelDevices, ClaimBundlesRequest,
    ClaimedBundles, DeviceKeyStatus, EnvelopePage, KeyBundle, PublishKeysRequest,
    RotateSignedPreKeyRequest, SendEnvelopesRequest, SentEnvelopes, UploadOneTimePreKeysRequest,
    UserDevices,
};
use chatalot_protocol::ws::ServerFrame;
use chatalot_protocol::ErrorCode;
use chatalot_storage::{channels, envelopes, keys, users};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// Only the device's own session may publish, change or read its private queue and key stock.
fn own_device(authed: &Authed, id: DeviceId) -> ApiResult<DeviceId> {
    if id != authed.0.device_id {
        return Err(ApiError::forbidden(
            "only a session of this device may use its keys and envelopes",
        ));
    }
    Ok(id)
}

/// Decodes and verifies a signed prekey of `cert`'s device.
fn signed_prekey(bytes: &[u8], cert: &DeviceCertificate) -> ApiResult<keys::SignedPreKey> {
    let spk = SignedPreKeyPublic::from_bytes(bytes).map_err(|e| {
        ApiError::invalid(format!(
            "signed_prekey: not a signed prekey encoding (tag 0x02, 101 bytes): {e}"
        ))
    })?;
    spk.verify(&cert.device_signing_key, &cert.device_id)
        .map_err(|_| {
            ApiError::invalid("signed_prekey: the signature does not verify under the device key")
        })?;
    Ok(keys::SignedPreKey {
        id: spk.key_id,
        public: spk.public_key,
        signature: spk.signature,
    })
}

/// Decodes one-time prekeys: bounded count, no id twice.
fn one_time_prekeys(list: &[Base64Bytes]) -> ApiResult<Vec<keys::OneTimePreKey>> {
    if list.len() > limits::MAX_ONE_TIME_PREKEYS_PER_UPLOAD {
        return Err(ApiError::invalid(format!(
            "one_time_prekeys: at most {} per upload",
            limits::MAX_ONE_TIME_PREKEYS_PER_UPLOAD
        )));
    }
    let mut out: Vec<keys::OneTimePreKey> = Vec::with_capacity(list.len());
    for (i, b) in list.iter().enumerate() {
        let k = OneTimePreKeyPublic::from_bytes(&b.0).map_err(|e| {
            ApiError::invalid(format!(
                "one_time_prekeys[{i}]: not a one-time prekey encoding (tag 0x03, 37 bytes): {e}"
            ))
        })?;
        if out.iter().any(|o| o.id == k.key_id) {
            return Err(ApiError::invalid(format!(
                "one_time_prekeys[{i}]: key id {} appears twice",
                k.key_id
            )));
        }
        out.push(keys::OneTimePreKey {
            id: k.key_id,
            public: k.public_key,
        });
    }
    Ok(out)
}

/// The current certificate of a device with published keys.
fn stored_certificate(k: &keys::DeviceKeys) -> ApiResult<DeviceCertificate> {
    DeviceCertificate::from_bytes(&k.certificate)
        .map_err(|e| ApiError::internal(format!("stored certificate does not decode: {e}")))
}

fn stored_outcome(device: DeviceId, spk_id: u32, stored: keys::Stored) -> ApiResult<HttpResponse> {
    match stored {
        keys::Stored::Ok { one_time_prekeys } => Ok(HttpResponse::Ok().json(DeviceKeyStatus {
            device_id: device,
            signed_prekey_id: spk_id,
            one_time_prekeys,
        })),
        keys::Stored::UserKeyMismatch => Err(ApiError::new(
            ErrorCode::Conflict,
            "certificate: signed by another user key than the one this account's devices use",
        )),
        keys::Stored::CertificateMismatch => Err(ApiError::new(
            ErrorCode::Conflict,
            "certificate: this device already published another certificate",
        )),
        keys::Stored::NoKeys => Err(ApiError::new(
            ErrorCode::Conflict,
            "this device has not published its keys (PUT /api/v1/devices/{id}/keys)",
        )),
        keys::Stored::PreKeyIdTaken(id) => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("one_time_prekeys: key id {id} is already stored with another key"),
        )),
        keys::Stored::TooManyPreKeys => Err(ApiError::invalid(format!(
            "one_time_prekeys: a device keeps at most {} unclaimed one-time prekeys",
            limits::MAX_ONE_TIME_PREKEYS_STORED
        ))),
    }
}

/// `PUT /api/v1/devices/{id}/keys`: the device publishes its certificate, signed prekey and
/// (optionally) one-time prekeys. Idempotent for the same certificate.
pub async fn publish_device_keys(
    state: Data<AppState>,
    authed: Authed,
    id: Path<DeviceId>,
    body: JsonBody<PublishKeysRequest>,
) -> ApiResult<HttpResponse> {
    let device = own_device(&authed, id.into_inner())?;
    let cert = DeviceCertificate::from_bytes(&body.certificate.0).map_err(|e| {
        ApiError::invalid(format!(
            "certificate: not a device certificate encoding (tag 0x01, 193 bytes): {e}"
        ))
    })?;
    if cert.user_id != *authed.0.user_id.0.as_bytes() || cert.device_id != *device.0.as_bytes() {
        return Err(ApiError::invalid(
            "certificate: must name the calling user and device",
        ));
    }
    cert.verify(&cert.user_key)
        .map_err(|_| ApiError::invalid("certificate: the user key's signature does not verify"))?;
    let spk = signed_prekey(&body.signed_prekey.0, &cert)?;
    let opks = one_time_prekeys(&body.one_time_prekeys)?;
    let mut conn = state.db.conn().await?;
    let stored = keys::publish(
        &mut conn,
        &keys::NewDeviceKeys {
            device_id: device,
            user_id: authed.0.user_id,
            user_key: &cert.user_key,
            certificate: &body.certificate.0,
            signed_prekey: &spk,
            one_time_prekeys: &opks,
        },
        limits::MAX_ONE_TIME_PREKEYS_STORED,
    )
    .await?;
    if matches!(stored, keys::Stored::Ok { .. }) {
        // linked (or set up): a pending link request has done its work
        chatalot_storage::links::delete(&mut conn, device).await?;
    }
    stored_outcome(device, spk.id, stored)
}

/// `GET /api/v1/devices/{id}/keys`: the device's signed prekey id and one-time prekey stock.
pub async fn get_device_keys(
    state: Data<AppState>,
    authed: Authed,
    id: Path<DeviceId>,
) -> ApiResult<Json<DeviceKeyStatus>> {
    let device = own_device(&authed, id.into_inner())?;
    let mut conn = state.db.conn().await?;
    let (k, n) = keys::find_status(&mut conn, device)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(DeviceKeyStatus {
        device_id: device,
        signed_prekey_id: k.spk_id,
        one_time_prekeys: n,
    }))
}

/// `PUT /api/v1/devices/{id}/signed_prekey`: rotates the signed prekey.
pub async fn update_signed_prekey(
    state: Data<AppState>,
    authed: Authed,
    id: Path<DeviceId>,
    body: JsonBody<RotateSignedPreKeyRequest>,
) -> ApiResult<HttpResponse> {
    let device = own_device(&authed, id.into_inner())?;
    let mut conn = state.db.conn().await?;
    let Some(current) = keys::find(&mut conn, device).await? else {
        return stored_outcome(device, 0, keys::Stored::NoKeys);
    };
    let cert = stored_certificate(&current)?;
    let spk = signed_prekey(&body.signed_prekey.0, &cert)?;
    let stored = keys::update_signed_prekey(&mut conn, device, &spk).await?;
    stored_outcome(device, spk.id, stored)
}

/// `POST /api/v1/devices/{id}/one_time_prekeys`: adds one-time prekeys.
pub async fn create_one_time_prekeys(
    state: Data<AppState>,
    authed: Authed,
    id: Path<DeviceId>,
    body: JsonBody<UploadOneTimePreKeysRequest>,
) -> ApiResult<HttpResponse> {
    let device = own_device(&authed, id.into_inner())?;
    let opks = one_time_prekeys(&body.one_time_prekeys)?;
    if opks.is_empty() {
        return Err(ApiError::invalid("one_time_prekeys: at least one"));
    }
    let mut conn = state.db.conn().await?;
    let stored = keys::insert_one_time_prekeys(
        &mut conn,
        device,
        &opks,
        limits::MAX_ONE_TIME_PREKEYS_STORED,
    )
    .await?;
    let spk_id = match &stored {
        keys::Stored::Ok { .. } => keys::find(&mut conn, device).await?.map_or(0, |k| k.spk_id),
        _ => 0,
    };
    stored_outcome(device, spk_id, stored)
}

/// `GET /api/v1/users/{id}/devices`: a user's devices with published keys and the user key.
pub async fn list_user_devices(
    state: Data<AppState>,
    _authed: Authed,
    id: Path<UserId>,
) -> ApiResult<Json<UserDevices>> {
    let user = id.into_inner();
    let mut conn = state.db.conn().await?;
    users::get(&mut conn, user).await?;
    let user_key = keys::find_user_key(&mut conn, user).await?;
    let devices = keys::list_for_user(&mut conn, user, limits::MAX_DEVICES_PER_USER as i64).await?;
    Ok(Json(UserDevices {
        user_id: user,
        user_key: user_key.map(Base64Bytes),
        devices: devices.into_iter().map(convert::device_keys).collect(),
    }))
}

/// `GET /api/v1/channels/{id}/devices`: the devices of everyone who can read the channel.
pub async fn list_channel_devices(
    state: Data<AppState>,
    authed: Authed,
    id: Path<ChannelId>,
) -> ApiResult<Json<ChannelDevices>> {
    let mut conn = state.db.conn().await?;
    let (channel, _) = channels::find_visible(&mut conn, id.into_inner(), authed.0.user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    // the readers under the permission rules: private groups and per-channel roles count
    let readers: Vec<chatalot_protocol::ids::UserId> = match channel.community_id {
        Some(c) => crate::live::readers(&mut conn, channel.id, c)
            .await?
            .into_keys()
            .collect(),
        None => channels::dm_member_ids(&mut conn, channel.id).await?,
    };
    let devices =
        keys::list_for_users(&mut conn, &readers, limits::MAX_DEVICES_PER_CHANNEL as i64).await?;
    Ok(Json(ChannelDevices {
        channel_id: channel.id,
        devices: devices.into_iter().map(convert::device_keys).collect(),
    }))
}

/// `POST /api/v1/users/{id}/key_bundles`: claims one prekey bundle per device (each carrying a
/// one-time prekey while the device has any; each one-time prekey is served once). Every bundle
/// takes a token from the (claimer, user) bucket.
pub async fn claim_key_bundles(
    state: Data<AppState>,
    authed: Authed,
    id: Path<UserId>,
    body: JsonBody<ClaimBundlesRequest>,
) -> ApiResult<Json<ClaimedBundles>> {
    let user = id.into_inner();
    if let Some(ids) = &body.device_ids {
        if ids.is_empty() || ids.len() > limits::MAX_DEVICES_PER_CLAIM {
            return Err(ApiError::invalid(format!(
                "device_ids: 1 to {} devices",
                limits::MAX_DEVICES_PER_CLAIM
            )));
        }
    }
    let mut conn = state.db.conn().await?;
    users::get(&mut conn, user).await?;
    let me = authed.0.user_id;
    if user != me {
        // a stranger cannot drain a user's one-time prekeys: only someone who shares a
        // community or a conversation with them, and whom they have not blocked
        if channels::blocked_by_any(&mut conn, &[user], me).await? {
            return Err(ApiError::forbidden(
                "this user does not accept messages from you",
            ));
        }
        if !channels::related(&mut conn, me, user, false).await? {
            return Err(ApiError::forbidden(
                "share a community or a conversation with this user before claiming their keys",
            ));
        }
    }
    let mut devices = match &body.device_ids {
        Some(ids) => keys::list_by_ids(&mut conn, ids)
            .await?
            .into_iter()
            .filter(|k| k.user_id == user)
            .collect(),
        None => keys::list_for_user(&mut conn, user, limits::MAX_DEVICES_PER_CLAIM as i64).await?,
    };
    if let Some(ids) = &body.device_ids {
        if devices.len() != ids.iter().collect::<std::collections::HashSet<_>>().len() {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "device_ids: a device of this user with published keys was not found",
            ));
        }
    }
    devices.truncate(limits::MAX_DEVICES_PER_CLAIM);
    // one token per bundle, all taken before any one-time prekey is
    for _ in &devices {
        state
            .limits
            .key_claim
            .take(&(authed.0.user_id, user))
            .map_err(ApiError::rate_limited)?;
    }
    let mut bundles = Vec::with_capacity(devices.len());
    for k in devices {
        let certificate = stored_certificate(&k)?;
        let spk = SignedPreKeyPublic {
            key_id: k.spk_id,
            public_key: k
                .spk_public
                .as_slice()
                .try_into()
                .map_err(|_| ApiError::internal("stored signed prekey has a bad length"))?,
            signature: k
                .spk_signature
                .as_slice()
                .try_into()
                .map_err(|_| ApiError::internal("stored signature has a bad length"))?,
        };
        let opk = keys::claim_one_time_prekey(&mut conn, k.device_id).await?;
        let bundle = PreKeyBundle {
            certificate,
            signed_prekey: spk,
            one_time_prekey: opk.map(|o| OneTimePreKeyPublic {
                key_id: o.id,
                public_key: o.public,
            }),
        };
        bundles.push(KeyBundle {
            user_id: k.user_id,
            device_id: k.device_id,
            bundle: Base64Bytes(bundle.to_bytes()),
        });
    }
    Ok(Json(ClaimedBundles { bundles }))
}

/// `POST /api/v1/envelopes`: queues envelopes from the calling device, all or nothing, and
/// pushes each to its recipient device's live connections.
pub async fn create_envelopes(
    state: Data<AppState>,
    authed: Authed,
    body: JsonBody<SendEnvelopesRequest>,
) -> ApiResult<HttpResponse> {
    let list = &body.envelopes;
    if list.is_empty() || list.len() > limits::MAX_ENVELOPES_PER_SEND {
        return Err(ApiError::invalid(format!(
            "envelopes: 1 to {} envelopes",
            limits::MAX_ENVELOPES_PER_SEND
        )));
    }
    for (i, e) in list.iter().enumerate() {
        if e.ciphertext.0.is_empty() || e.ciphertext.0.len() > limits::MAX_ENVELOPE_BYTES {
            return Err(ApiError::invalid(format!(
                "envelopes[{i}].ciphertext: 1 to {} bytes",
                limits::MAX_ENVELOPE_BYTES
            )));
        }
        if e.recipient_device_id == authed.0.device_id {
            return Err(ApiError::invalid(format!(
                "envelopes[{i}].recipient_device_id: not the sending device"
            )));
        }
    }
    let mut conn = state.db.conn().await?;
    if keys::find(&mut conn, authed.0.device_id).await?.is_none() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "publish this device's keys before sending envelopes",
        ));
    }
    // recipients must exist; for a channel, the sender and every recipient must read it
    let mut recipients: Vec<DeviceId> = list.iter().map(|e| e.recipient_device_id).collect();
    recipients.sort();
    recipients.dedup();
    let found = keys::list_by_ids(&mut conn, &recipients).await?;
    if let Some(missing) = recipients
        .iter()
        .find(|r| !found.iter().any(|k| k.device_id == **r))
    {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("recipient_device_id {missing}: no device with published keys"),
        ));
    }
    // for a channel, the sender and every recipient must read it; outside a channel, each
    // recipient must be related to the sender; a recipient who blocked the sender gets
    // nothing from them outside community channels
    let me = authed.0.user_id;
    let mut readers: HashSet<(ChannelId, UserId)> = HashSet::new();
    let mut in_community: HashMap<ChannelId, bool> = HashMap::new();
    let mut vetted: HashSet<(Option<ChannelId>, UserId)> = HashSet::new();
    for e in list {
        let recipient_user = found
            .iter()
            .find(|k| k.device_id == e.recipient_device_id)
            .map(|k| k.user_id)
            .ok_or_else(ApiError::not_found)?;
        if let Some(channel) = e.channel_id {
            for user in [me, recipient_user] {
                if readers.contains(&(channel, user)) {
                    continue;
                }
                let Some((c, _)) = channels::find_visible(&mut conn, channel, user).await? else {
                    return Err(ApiError::new(
                        ErrorCode::NotFound,
                        format!(
                            "channel_id {channel}: no such channel for the sender or the recipient"
                        ),
                    ));
                };
                in_community.insert(channel, c.community_id.is_some());
                readers.insert((channel, user));
            }
        }
        let community = e
            .channel_id
            .is_some_and(|c| in_community.get(&c).copied().unwrap_or(false));
        if recipient_user == me || community || vetted.contains(&(e.channel_id, recipient_user)) {
            continue;
        }
        if channels::blocked_by_any(&mut conn, &[recipient_user], me).await? {
            return Err(ApiError::forbidden(format!(
                "recipient_device_id {}: its user does not accept messages from you",
                e.recipient_device_id
            )));
        }
        if e.channel_id.is_none() && !channels::related(&mut conn, me, recipient_user, true).await?
        {
            return Err(ApiError::forbidden(format!(
                "recipient_device_id {}: share a community or a conversation its user accepted \
                 before sending outside a channel",
                e.recipient_device_id
            )));
        }
        vetted.insert((e.channel_id, recipient_user));
    }
    let batch: Vec<envelopes::NewEnvelope> = list
        .iter()
        .map(|e| envelopes::NewEnvelope {
            recipient_device_id: e.recipient_device_id,
            channel_id: e.channel_id,
            ciphertext: e.ciphertext.0.clone(),
        })
        .collect();
    let caps = envelopes::QueueCaps {
        envelopes: limits::MAX_QUEUED_ENVELOPES as i64,
        bytes: limits::MAX_QUEUED_BYTES as i64,
        sender_envelopes: limits::MAX_QUEUED_PER_SENDER as i64,
        sender_bytes: limits::MAX_QUEUED_BYTES_PER_SENDER as i64,
    };
    let queued = envelopes::insert_batch(
        &mut conn,
        authed.0.user_id,
        authed.0.device_id,
        &batch,
        caps,
    )
    .await?;
    let stored = match queued {
        envelopes::Queued::Stored(stored) => stored,
        envelopes::Queued::UnknownRecipient(d) => {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("recipient_device_id {d}: no device with published keys"),
            ))
        }
        envelopes::Queued::QueueFull(d) => {
            return Err(ApiError::new(
                ErrorCode::QueueFull,
                format!(
                    "recipient_device_id {d}: its queue is full ({} envelopes or {} bytes); \
                     nothing was sent",
                    limits::MAX_QUEUED_ENVELOPES,
                    limits::MAX_QUEUED_BYTES
                ),
            ))
        }
        envelopes::Queued::ShareFull(d) => {
            return Err(ApiError::new(
                ErrorCode::QueueFull,
                format!(
                    "recipient_device_id {d}: it holds the most envelopes one sender may queue \
                     for it ({} envelopes or {} bytes) until it reads them; nothing was sent",
                    limits::MAX_QUEUED_PER_SENDER,
                    limits::MAX_QUEUED_BYTES_PER_SENDER
                ),
            ))
        }
    };
    let ids = stored.iter().map(|e| e.id).collect();
    // committed: now the live connections of each recipient device
    for e in stored {
        let user_id = found
            .iter()
            .find(|k| k.device_id == e.recipient_device_id)
            .map(|k| k.user_id);
        if let Some(user_id) = user_id {
            let device_id = e.recipient_device_id;
            let frame = chatalot_actors::frames::encode(&ServerFrame::EnvelopeReceived {
                envelope: convert::envelope(e),
            });
            state.hub.registry.do_send(DeliverToDevice {
                user_id,
                device_id,
                frame,
            });
        }
    }
    Ok(HttpResponse::Created().json(SentEnvelopes { ids }))
}

/// `?limit=` (1-100, default 100).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/devices/{id}/envelopes`: the oldest envelopes queued for the calling device.
/// They stay queued until acknowledged.
pub async fn list_envelopes(
    state: Data<AppState>,
    authed: Authed,
    id: Path<DeviceId>,
    q: Query<EnvelopeQuery>,
) -> ApiResult<Json<EnvelopePage>> {
    let device = own_device(&authed, id.into_inner())?;
    let limit = q.limit.unwrap_or(limits::ENVELOPE_PAGE_MAX);
    if !(1..=limits::ENVELOPE_PAGE_MAX).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit: 1 to {}",
            limits::ENVELOPE_PAGE_MAX
        )));
    }
    let mut conn = state.db.conn().await?;
    let mut list = envelopes::list_for_device(&mut conn, device, i64::from(limit) + 1).await?;
    let has_more = list.len() > limit as usize;
    list.truncate(limit as usize);
    Ok(Json(EnvelopePage {
        envelopes: list.into_iter().map(convert::envelope).collect(),
        has_more,
    }))
}

/// `POST /api/v1/devices/{id}/envelope_acks`: removes processed envelopes from the queue.
pub async fn create_envelope_acks(
    state: Data<AppState>,
    authed: Authed,
    id: Path<DeviceId>,
    body: JsonBody<AckEnvelopesRequest>,
) -> ApiResult<Json<AckedEnvelopes>> {
    let device = own_device(&authed, id.into_inner())?;
    if body.ids.is_empty() || body.ids.len() > limits::MAX_ACK_IDS {
        return Err(ApiError::invalid(format!(
            "ids: 1 to {} envelope ids",
            limits::MAX_ACK_IDS
        )));
    }
    let mut conn = state.db.conn().await?;
    let deleted = envelopes::delete_for_device(&mut conn, device, &body.ids).await?;
    Ok(Json(AckedEnvelopes { deleted }))
}
