//! Every device of an account (docs/e2e.md section 18): device links relayed between two
//! devices of an account, the secret storage and key backup kept as opaque blobs, and the
//! user-key reset. The server checks framing, the account named inside, and the order of
//! writes (compare and swap); it can neither read nor forge what it stores.

use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, ClientInfo, JsonBody, JsonBodyUpTo};
use crate::state::AppState;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::HttpResponse;
use chatalot_actors::registry::DeliverToDevice;
use chatalot_protocol::bytes::Base64Bytes;
use chatalot_protocol::ids::{DeviceId, UserId};
use chatalot_protocol::multi_device::limits::*;
use chatalot_protocol::multi_device::*;
use chatalot_protocol::ws::ServerFrame;
use chatalot_protocol::ErrorCode;
use chatalot_storage::key_backup::{self, Append, BackupQuota, HeadWrite, Swap};
use chatalot_storage::{audit, devices, keys, links, users};
use serde::Deserialize;

/// The reset is recorded under this audit action, and allowed once per this many seconds.
const RESET_ACTION: &str = "user_key_reset";
const RESET_INTERVAL: time::Duration = time::Duration::days(1);

/// `bytes` is `what` (tag, and exactly `len` bytes when given) naming `user` at bytes 1..17.
fn framed(bytes: &[u8], what: &str, tag: u8, len: Option<usize>, user: UserId) -> ApiResult<()> {
    if bytes.first() != Some(&tag) || len.is_some_and(|l| bytes.len() != l) {
        let size = len.map(|l| format!(", {l} bytes")).unwrap_or_default();
        return Err(ApiError::invalid(format!(
            "{what}: not a {what} encoding (tag {tag:#04x}{size})"
        )));
    }
    if bytes.get(1..17) != Some(user.0.as_bytes().as_slice()) {
        return Err(ApiError::invalid(format!(
            "{what}: must name the calling user"
        )));
    }
    Ok(())
}

/// The big-endian u64 at `at` (the caller checked the length).
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(b)
}

fn own_device(authed: &Authed, id: DeviceId) -> ApiResult<DeviceId> {
    if id != authed.0.device_id {
        return Err(ApiError::forbidden(
            "only a session of this device may use its link request",
        ));
    }
    Ok(id)
}

/// `GET /api/v1/devices`: the caller's devices, most recently seen first.
pub async fn list_devices(
    state: Data<AppState>,
    authed: Authed,
) -> ApiResult<Json<AccountDevices>> {
    let user = authed.0.user_id;
    let max = chatalot_protocol::keys::limits::MAX_DEVICES_PER_USER as i64;
    let mut conn = state.db.conn().await?;
    let list = devices::list_for_user(&mut conn, user, max).await?;
    let keyed: std::collections::HashSet<DeviceId> = keys::list_for_user(&mut conn, user, max)
        .await?
        .into_iter()
        .map(|k| k.device_id)
        .collect();
    Ok(Json(AccountDevices {
        devices: list
            .into_iter()
            .map(|d| AccountDevice {
                current: d.id == authed.0.device_id,
                has_keys: keyed.contains(&d.id),
                id: d.id,
                name: d.name,
                created_at: d.created_at,
                last_seen_at: d.last_seen_at,
            })
            .collect(),
    }))
}

/// `PATCH /api/v1/devices/{id}`: renames a device of the caller's account.
pub async fn rename_device(
    state: Data<AppState>,
    authed: Authed,
    id: Path<DeviceId>,
    body: JsonBody<RenameDevice>,
) -> ApiResult<HttpResponse> {
    let name = crate::validate::device_name(Some(&body.name), None)
        .map_err(|_| ApiError::invalid("name: 1 to 64 characters without control characters"))?;
    let mut conn = state.db.conn().await?;
    if !devices::rename(&mut conn, authed.0.user_id, id.into_inner(), &name).await? {
        return Err(ApiError::not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /api/v1/devices/{id}`: removes a device of the caller's account (this one too):
/// its sessions end at once (live sockets close), its keys and queued envelopes are deleted,
/// so it leaves every channel's device listing and the account's other devices and contacts
/// re-key without it (docs/e2e.md 17.3).
pub async fn remove_device(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    id: Path<DeviceId>,
) -> ApiResult<HttpResponse> {
    let user = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let Some(revoked) = devices::remove(&mut conn, user, id.into_inner()).await? else {
        return Err(ApiError::not_found());
    };
    auth::forget_sessions(&state, user, revoked);
    auth::record(&mut conn, Some(user), "device_removed", &client).await;
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /api/v1/devices/{id}/link_request`: the calling device (with no keys yet) asks a
/// device of its account to link it. Replaces its earlier request.
pub async fn put_link_request(
    state: Data<AppState>,
    authed: Authed,
    id: Path<DeviceId>,
    body: JsonBody<CreateLinkRequest>,
) -> ApiResult<Json<PendingLink>> {
    let device = own_device(&authed, id.into_inner())?;
    let user = authed.0.user_id;
    let (tag, len) = LINK_REQUEST_ENCODING;
    framed(&body.request.0, "request", tag, Some(len), user)?;
    if body.request.0[17..33] != *device.0.as_bytes() {
        return Err(ApiError::invalid("request: must name the calling device"));
    }
    chatalot_crypto::link::LinkRequest::from_bytes(&body.request.0)
        .map_err(|e| ApiError::invalid(format!("request: {e}")))?;
    let mut conn = state.db.conn().await?;
    if keys::find_status(&mut conn, device).await?.is_some() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this device has published keys already: it needs no link",
        ));
    }
    let stored = links::put(
        &mut conn,
        user,
        device,
        &body.request.0,
        time::Duration::seconds(LINK_REQUEST_TTL_SECS),
        MAX_PENDING_LINKS,
    )
    .await?;
    let links::Put::Stored(stored) = stored else {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "this account has {MAX_PENDING_LINKS} link requests pending; \
                 answer or let them expire first"
            ),
        ));
    };
    let name = device_name(&mut conn, user, device).await?;
    crate::live::push(
        &state,
        vec![(user, ServerFrame::LinkRequested { device_id: device })],
    );
    Ok(Json(pending(stored, name)))
}

async fn device_name(
    conn: &mut chatalot_storage::AsyncPgConnection,
    user: UserId,
    device: DeviceId,
) -> ApiResult<String> {
    Ok(devices::find(conn, user, device)
        .await?
        .map(|d| d.name)
        .unwrap_or_default())
}

fn pending(r: links::LinkRequest, device_name: String) -> PendingLink {
    PendingLink {
        device_id: r.device_id,
        device_name,
        request: Base64Bytes(r.request),
        answered: r.response.is_some(),
        created_at: r.created_at,
        expires_at: r.expires_at,
    }
}

/// `DELETE /api/v1/devices/{id}/link_request`: the calling device cancels its request.
pub async fn delete_link_request(
    state: Data<AppState>,
    authed: Authed,
    id: Path<DeviceId>,
) -> ApiResult<HttpResponse> {
    let device = own_device(&authed, id.into_inner())?;
    let mut conn = state.db.conn().await?;
    if !links::delete(&mut conn, device).await? {
        return Err(ApiError::not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/devices/{id}/link_response`: the answer to the calling device's request, once
/// a device of the account gave one (404 until then).
pub async fn get_link_response(
    state: Data<AppState>,
    authed: Authed,
    id: Path<DeviceId>,
) -> ApiResult<Json<LinkAnswer>> {
    let device = own_device(&authed, id.into_inner())?;
    let mut conn = state.db.conn().await?;
    let found = links::find(&mut conn, device).await?;
    match found {
        Some(links::LinkRequest {
            response: Some(response),
            responder_device_id: Some(responder),
            ..
        }) => Ok(Json(LinkAnswer {
            responder_device_id: responder,
            response: Base64Bytes(response),
        })),
        _ => Err(ApiError::new(
            ErrorCode::NotFound,
            "no answer to this device's link request (none yet, or no request)",
        )),
    }
}

/// `GET /api/v1/users/me/link_requests`: the account's unanswered link requests.
pub async fn list_link_requests(
    state: Data<AppState>,
    authed: Authed,
) -> ApiResult<Json<PendingLinks>> {
    let user = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let list = links::list_pending(&mut conn, user, MAX_PENDING_LINKS as i64 + 1).await?;
    let names = devices::list_for_user(&mut conn, user, 1000).await?;
    let requests = list
        .into_iter()
        .filter(|r| r.device_id != authed.0.device_id)
        .take(MAX_PENDING_LINKS)
        .map(|r| {
            let name = names
                .iter()
                .find(|d| d.id == r.device_id)
                .map(|d| d.name.clone())
                .unwrap_or_default();
            pending(r, name)
        })
        .collect();
    Ok(Json(PendingLinks { requests }))
}

/// `PUT /api/v1/users/me/link_requests/{device_id}/response`: a device of the account that
/// has published keys answers a pending request, once.
pub async fn answer_link_request(
    state: Data<AppState>,
    authed: Authed,
    id: Path<DeviceId>,
    body: JsonBody<AnswerLinkRequest>,
) -> ApiResult<HttpResponse> {
    let target = id.into_inner();
    let user = authed.0.user_id;
    let responder = authed.0.device_id;
    let (tag, len) = LINK_RESPONSE_ENCODING;
    if body.response.0.first() != Some(&tag) || body.response.0.len() != len {
        return Err(ApiError::invalid(format!(
            "response: not a link response encoding (tag {tag:#04x}, {len} bytes)"
        )));
    }
    if target == responder {
        return Err(ApiError::invalid("a device cannot answer its own request"));
    }
    let mut conn = state.db.conn().await?;
    if keys::find_status(&mut conn, responder).await?.is_none() {
        return Err(ApiError::forbidden(
            "only a device with published keys can link another",
        ));
    }
    match links::answer(&mut conn, user, target, responder, &body.response.0).await? {
        links::Answer::Stored => {}
        links::Answer::NoRequest => {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "no pending link request of this account for that device (or it expired)",
            ))
        }
        links::Answer::Answered => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "that request has an answer already",
            ))
        }
    }
    let frame = chatalot_actors::frames::encode(&ServerFrame::LinkAnswered { device_id: target });
    state.hub.registry.do_send(DeliverToDevice {
        user_id: user,
        device_id: target,
        frame,
    });
    Ok(HttpResponse::NoContent().finish())
}

fn secret_storage_body(s: key_backup::SecretStorage) -> SecretStorage {
    SecretStorage {
        version: s.version,
        storage: Base64Bytes(s.storage),
        updated_at: s.updated_at,
    }
}

/// `GET /api/v1/users/me/secret_storage`
pub async fn get_secret_storage(
    state: Data<AppState>,
    authed: Authed,
) -> ApiResult<Json<SecretStorage>> {
    let mut conn = state.db.conn().await?;
    key_backup::find_secret_storage(&mut conn, authed.0.user_id)
        .await?
        .map(|s| Json(secret_storage_body(s)))
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "this account has no secret storage"))
}

/// `PUT /api/v1/users/me/secret_storage`: stores the next version (compare and swap).
pub async fn put_secret_storage(
    state: Data<AppState>,
    authed: Authed,
    body: JsonBody<PutSecretStorage>,
) -> ApiResult<Json<SecretStorage>> {
    let user = authed.0.user_id;
    let (tag, len) = SECRET_STORAGE_ENCODING;
    framed(&body.storage.0, "storage", tag, Some(len), user)?;
    let version = u64_at(&body.storage.0, 17);
    let mut conn = state.db.conn().await?;
    match key_backup::put_secret_storage(&mut conn, user, version, &body.storage.0).await? {
        Swap::Stored(s) => Ok(Json(secret_storage_body(s))),
        Swap::Stale { current } => Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "storage: version {version} is not the next one (the stored version is {current})"
            ),
        )),
    }
}

fn quota(state: &AppState) -> BackupQuota {
    BackupQuota {
        max_chunks: state.config.limits.key_backup_chunks,
        max_bytes: state.config.limits.key_backup_bytes,
    }
}

fn backup_body(state: &AppState, b: key_backup::BackupState) -> KeyBackup {
    let q = quota(state);
    KeyBackup {
        head: b.head.map(Base64Bytes),
        head_seq: b.head_seq,
        head_count: b.head_count,
        chunk_count: b.chunk_count,
        chunk_bytes: b.chunk_bytes,
        max_chunks: q.max_chunks,
        max_bytes: q.max_bytes,
    }
}

/// `GET /api/v1/users/me/key_backup`
pub async fn get_key_backup(state: Data<AppState>, authed: Authed) -> ApiResult<Json<KeyBackup>> {
    let mut conn = state.db.conn().await?;
    let b = key_backup::backup_state(&mut conn, authed.0.user_id).await?;
    Ok(Json(backup_body(&state, b)))
}

/// `POST /api/v1/users/me/key_backup/chunks`: appends a chunk at the next free number.
pub async fn append_backup_chunk(
    state: Data<AppState>,
    authed: Authed,
    body: JsonBodyUpTo<AppendBackupChunk, CHUNK_BODY_BYTES>,
) -> ApiResult<HttpResponse> {
    let user = authed.0.user_id;
    let chunk = &body.chunk.0;
    framed(chunk, "chunk", BACKUP_CHUNK_TAG, None, user)?;
    if !(MIN_BACKUP_CHUNK_BYTES..=MAX_BACKUP_CHUNK_BYTES).contains(&chunk.len()) {
        return Err(ApiError::invalid(format!(
            "chunk: {MIN_BACKUP_CHUNK_BYTES} to {MAX_BACKUP_CHUNK_BYTES} bytes"
        )));
    }
    let seq = u64_at(chunk, 17);
    let mut conn = state.db.conn().await?;
    match key_backup::append_chunk(&mut conn, user, seq, chunk, quota(&state)).await? {
        Append::Stored(b) => Ok(HttpResponse::Created().json(AppendedChunk {
            seq,
            chunk_count: b.chunk_count,
            chunk_bytes: b.chunk_bytes,
        })),
        Append::NotNext { next } => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("chunk: number {seq} is not the next free one ({next})"),
        )),
        Append::Full => {
            let q = quota(&state);
            Err(ApiError::new(
                ErrorCode::StorageFull,
                format!(
                    "this account's key backup is full (at most {} chunks and {} bytes)",
                    q.max_chunks, q.max_bytes
                ),
            ))
        }
    }
}

/// `?after=&limit=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkQuery {
    after: Option<u64>,
    limit: Option<u32>,
}

/// `GET /api/v1/users/me/key_backup/chunks`: chunks after `after` (default 0), in order.
pub async fn list_backup_chunks(
    state: Data<AppState>,
    authed: Authed,
    q: Query<ChunkQuery>,
) -> ApiResult<Json<BackupChunkPage>> {
    let limit = q.limit.unwrap_or(CHUNK_PAGE_MAX);
    if !(1..=CHUNK_PAGE_MAX).contains(&limit) {
        return Err(ApiError::invalid(format!("limit: 1 to {CHUNK_PAGE_MAX}")));
    }
    let after = q.after.unwrap_or(0);
    if after > i64::MAX as u64 {
        return Err(ApiError::invalid("after: a chunk number"));
    }
    let mut conn = state.db.conn().await?;
    let (chunks, has_more) = key_backup::list_chunks(
        &mut conn,
        authed.0.user_id,
        after,
        i64::from(limit),
        CHUNK_PAGE_BYTES,
    )
    .await?;
    Ok(Json(BackupChunkPage {
        chunks: chunks
            .into_iter()
            .map(|(seq, chunk)| BackupChunk {
                seq,
                chunk: Base64Bytes(chunk),
            })
            .collect(),
        has_more,
    }))
}

/// `PUT /api/v1/users/me/key_backup/head`: stores the next head (compare and swap).
pub async fn put_backup_head(
    state: Data<AppState>,
    authed: Authed,
    body: JsonBody<PutBackupHead>,
) -> ApiResult<Json<KeyBackup>> {
    let user = authed.0.user_id;
    let head = &body.head.0;
    let (tag, len) = BACKUP_HEAD_ENCODING;
    framed(head, "head", tag, Some(len), user)?;
    let head_seq = u64_at(head, 17);
    let count = u64_at(head, 25);
    let mut conn = state.db.conn().await?;
    match key_backup::put_head(&mut conn, user, head_seq, count, head).await? {
        HeadWrite::Stored(b) => Ok(Json(backup_body(&state, b))),
        HeadWrite::Stale { current } => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("head: number {head_seq} is not the next one (the stored head is {current})"),
        )),
        HeadWrite::BadCount { stored, previous } => Err(ApiError::invalid(format!(
            "head: names {count} chunks; it must name from {previous} (the previous head's) \
             to {stored} (the chunks stored)"
        ))),
    }
}

/// `POST /api/v1/users/me/user_key_reset`: for an account that lost every device and its
/// recovery key. Needs the password (and a code when two-factor is on); at most once a day.
/// Drops every key the server holds for the account, so it can publish a new user key; its
/// contacts see the change. Nobody gains any key by it.
pub async fn reset_user_key(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    body: JsonBody<ResetUserKeyRequest>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let user = users::get(&mut conn, authed.0.user_id).await?;
    auth::require_password(&state, &user, &body.password).await?;
    if user.totp_enabled {
        let code = body.code.as_deref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::TotpRequired,
                "this account has two-factor on: give a current code or a backup code",
            )
        })?;
        crate::validate::code(code, "code")?;
        auth::require_second_factor(&state, &mut conn, &user, code).await?;
    }
    if let Some(last) = audit::last_of(&mut conn, user.id, RESET_ACTION).await? {
        let next = last + RESET_INTERVAL;
        if next > time::OffsetDateTime::now_utc() {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                "this account's keys were reset less than a day ago",
            ));
        }
    }
    key_backup::reset_account_keys(&mut conn, user.id).await?;
    auth::record(&mut conn, Some(user.id), RESET_ACTION, &client).await;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatalot_crypto::{backup, link, secret_storage};

    #[test]
    fn the_wire_bounds_are_the_crypto_crate_encodings() {
        assert_eq!(LINK_REQUEST_ENCODING.1, link::LINK_REQUEST_LEN);
        assert_eq!(LINK_RESPONSE_ENCODING.1, link::LINK_RESPONSE_LEN);
        assert_eq!(
            SECRET_STORAGE_ENCODING.1,
            secret_storage::SECRET_STORAGE_LEN
        );
        assert_eq!(BACKUP_HEAD_ENCODING.1, backup::BACKUP_HEAD_LEN);
        assert_eq!(
            MIN_BACKUP_CHUNK_BYTES,
            backup::MIN_BACKUP_CHUNK_ENCODING_LEN
        );
        assert_eq!(
            MAX_BACKUP_CHUNK_BYTES,
            backup::MAX_BACKUP_CHUNK_ENCODING_LEN
        );
        // the longest chunk fits the chunk route's body limit as base64 in its JSON object
        let json = MAX_BACKUP_CHUNK_BYTES.div_ceil(3) * 4 + r#"{"chunk":""}"#.len();
        assert!(json <= CHUNK_BODY_BYTES, "{json}");
        // the database's bounds hold the longest encodings
        let migration = include_str!(
            "../../../migrations/2026-12-07-000007_device_linking_and_key_backup/up.sql"
        );
        assert!(migration.contains(&format!("BETWEEN 1 AND {MAX_BACKUP_CHUNK_BYTES}")));
        assert!(migration.contains(&format!("length(request) = {}", link::LINK_REQUEST_LEN)));
    }
}
