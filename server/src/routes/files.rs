//! Files in channels (docs/e2e.md 19): an upload streams into the file store within the upload
//! bound and the caller's and the instance's quotas, and is recorded once its bytes are placed;
//! a download goes to whoever can read the file's channel now, as inert bytes with ranges.

use crate::access;
use crate::error::{ApiError, ApiResult};
use crate::extract::{body_length, body_type, Authed};
use crate::media::{serve_blob, Serve};
use crate::state::AppState;
use actix_web::web::{Data, Json, Path, Payload};
use actix_web::{HttpRequest, HttpResponse};
use chatalot_protocol::api::{FileUsage, StoredFile};
use chatalot_protocol::error::ErrorCode;
use chatalot_protocol::ids::{ChannelId, FileId};
use chatalot_protocol::perms;
use chatalot_storage::blobs::{BlobError, BlobId, BlobStore};
use chatalot_storage::{channels, files};

fn wire(f: files::File) -> StoredFile {
    StoredFile {
        id: f.id,
        channel_id: f.channel_id,
        uploader_id: f.uploader_id,
        size: f.size,
        sha256: BlobId(f.sha256).to_hex(),
        created_at: f.created_at,
    }
}

fn full(message: String) -> ApiError {
    ApiError::new(ErrorCode::StorageFull, message)
}

/// `POST /api/v1/channels/{id}/files`: stores the body (`application/octet-stream`; in an
/// end-to-end channel the encrypted blob) as a file of the channel, for a member who may post
/// there. 413 over the upload bound, 507 when it would pass the caller's or the instance's
/// quota or the disk is full; nothing is kept then.
pub async fn upload_file(
    state: Data<AppState>,
    authed: Authed,
    id: Path<ChannelId>,
    req: HttpRequest,
    body: Payload,
) -> ApiResult<HttpResponse> {
    let user = authed.0.user_id;
    let limits = &state.config.limits;
    let (channel, room) = {
        let mut conn = state.db.conn().await?;
        let (channel, facts) = channels::find_visible(&mut conn, id.into_inner(), user)
            .await?
            .ok_or_else(ApiError::not_found)?;
        access::require(perms::post_channel(&facts))?;
        let (_, used) = files::usage_of(&mut conn, user).await?;
        let mut room = limits.file_quota_bytes.saturating_sub(used);
        if limits.file_instance_bytes > 0 {
            let all = files::instance_bytes(&mut conn).await?;
            room = room.min(limits.file_instance_bytes.saturating_sub(all));
        }
        (channel, room)
        // the connection goes back to the pool before the body streams in
    };
    if body_type(&req).as_deref() != Some("application/octet-stream") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the file as application/octet-stream",
        ));
    }
    let declared = body_length(&req);
    let over_quota = || {
        full(format!(
            "no room for this file: your files may take {} bytes in all and the instance's have their bound too; delete some first",
            limits.file_quota_bytes
        ))
    };
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("a file may have at most {} bytes", limits.file_upload_bytes),
        )
    };
    if declared.is_some_and(|n| n > limits.file_upload_bytes) {
        return Err(too_large());
    }
    if declared.is_some_and(|n| n > room) {
        return Err(over_quota());
    }
    let bound = limits.file_upload_bytes.min(room);
    let stored = state.files.put(body, bound).await.map_err(|e| match e {
        BlobError::TooLarge(_) if bound < limits.file_upload_bytes => over_quota(),
        BlobError::TooLarge(_) => too_large(),
        BlobError::Full => full("the server's disk is full; nothing was stored".into()),
        BlobError::Body(m) => ApiError::invalid(format!("the upload broke off: {m}")),
        BlobError::Io(e) => {
            tracing::error!(error = %e, "file store");
            ApiError::new(ErrorCode::Internal, "the file could not be stored")
        }
    })?;
    let mut conn = state.db.conn().await?;
    let quota = files::Quota {
        user_bytes: limits.file_quota_bytes,
        instance_bytes: limits.file_instance_bytes,
    };
    let row = match files::record(
        &mut conn,
        &state.files,
        channel.id,
        user,
        stored.id,
        stored.size,
        quota,
    )
    .await?
    {
        files::Recorded::File(row) => row,
        files::Recorded::OverQuota => return Err(over_quota()),
        files::Recorded::Gone => {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "the file was being cleared away as it arrived: upload it again",
            ))
        }
    };
    Ok(HttpResponse::Created().json(wire(row)))
}

/// `GET /api/v1/files/{id}`: the file's bytes to whoever can read its channel now (404
/// otherwise), as `application/octet-stream` to be saved, never rendered, with ranges; within
/// the caller's download rate (`limits.download_*`).
pub async fn download_file(
    state: Data<AppState>,
    authed: Authed,
    id: Path<FileId>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let user = authed.0.user_id;
    state
        .limits
        .download_user
        .take(&user)
        .map_err(ApiError::rate_limited)?;
    let file = {
        let mut conn = state.db.conn().await?;
        let file = files::find(&mut conn, id.into_inner())
            .await?
            .ok_or_else(ApiError::not_found)?;
        channels::find_visible(&mut conn, file.channel_id, user)
            .await?
            .ok_or_else(ApiError::not_found)?;
        file
    };
    let how = Serve {
        content_type: "application/octet-stream",
        inline: false,
        cache: "private, no-cache",
    };
    serve_blob(&state.files, BlobId(file.sha256), how, &req).await
}

/// `GET /api/v1/users/me/files`: how many files the caller stored, their bytes and the bounds.
pub async fn file_usage(state: Data<AppState>, authed: Authed) -> ApiResult<Json<FileUsage>> {
    let mut conn = state.db.conn().await?;
    let (n, bytes) = files::usage_of(&mut conn, authed.0.user_id).await?;
    let l = &state.config.limits;
    Ok(Json(FileUsage {
        files: n,
        bytes,
        quota_bytes: l.file_quota_bytes,
        max_upload_bytes: l.file_upload_bytes,
    }))
}
