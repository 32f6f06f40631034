//! Files in channels (docs/e2e.md 19): an upload streams into the file store within the upload
//! bound and the caller's and the instance's quotas, and is recorded once its bytes are placed;
//! a download goes to whoever can read the file's channel now, as inert bytes with ranges.

use crate::access;
use crate::error::{ApiError, ApiResult};
use crate::extract::{body_length, body_type, Authed};
use crate::imaging;
use crate::media::{serve_blob, Serve};
use crate::state::AppState;
use actix_web::web::{Data, Json, Path, Payload, Query};
use actix_web::{HttpRequest, HttpResponse};
use chatalot_protocol::api::{
    file_limits, FileUsage, InstanceFileUsage, StoredFile, UploadFileQuery,
};
use chatalot_protocol::error::ErrorCode;
use chatalot_protocol::ids::{ChannelId, FileId, UserId};
use chatalot_protocol::perms;
use chatalot_storage::blobs::{BlobError, BlobId, BlobStore};
use chatalot_storage::{channels, files};

fn wire(f: files::File) -> StoredFile {
    let meta = f.meta.as_ref();
    StoredFile {
        id: f.id,
        channel_id: f.channel_id,
        uploader_id: f.uploader_id,
        size: f.size,
        sha256: BlobId(f.sha256).to_hex(),
        created_at: f.created_at,
        name: meta.map(|m| m.name.clone()),
        content_type: meta.map(|m| m.content_type.clone()),
        width: meta.and_then(|m| m.dimensions).map(|d| d.0),
        height: meta.and_then(|m| m.dimensions).map(|d| d.1),
        thumbnail: meta.is_some_and(|m| m.thumbnail.is_some()),
    }
}

/// A plaintext channel's file name as stored: at most 255 bytes, no control character, no
/// path (400 otherwise); surrounding spaces dropped, and `file` for none, a blank one, `.` or
/// `..`.
fn file_name(name: Option<String>) -> Result<String, ApiError> {
    let name = name.unwrap_or_default();
    if name.len() > file_limits::NAME_MAX
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(ApiError::invalid(format!(
            "name: at most {} bytes, no control characters, no / or \\",
            file_limits::NAME_MAX
        )));
    }
    let name = name.trim();
    Ok(if name.is_empty() || name == "." || name == ".." {
        "file".to_owned()
    } else {
        name.to_owned()
    })
}

/// A declared type: `type/subtype` in lowercase token characters, no parameters.
fn check_type(t: &str) -> Result<(), ApiError> {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$&^_.+-".contains(&b))
    };
    match t.split_once('/') {
        Some((a, b)) if t.len() <= file_limits::TYPE_MAX && token(a) && token(b) => Ok(()),
        _ => Err(ApiError::invalid(format!(
            "type: a MIME type such as video/mp4 (lowercase, no parameters), at most {} bytes",
            file_limits::TYPE_MAX
        ))),
    }
}

/// What the server records of a plaintext channel's stored file: the type its bytes show,
/// else the declared one (never an image type the bytes do not bear out); an image's
/// dimensions and a thumbnail, itself placed in the store.
async fn describe(
    state: &AppState,
    blob: BlobId,
    name: String,
    declared: Option<String>,
) -> ApiResult<files::FileMeta> {
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "describing a file");
        ApiError::new(ErrorCode::Internal, "the file could not be read back")
    };
    let path = state
        .files
        .open(&blob)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| internal(&"the stored file is missing"))?
        .path;
    let permit = state
        .imaging
        .clone()
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    let described = actix_web::web::block(move || {
        let out = imaging::describe_file(&path);
        drop(permit);
        out
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| internal(&e))?;
    let mut meta = files::FileMeta {
        name,
        content_type: match declared {
            Some(t) if !t.starts_with("image/") => t,
            _ => "application/octet-stream".into(),
        },
        dimensions: None,
        thumbnail: None,
    };
    if let Some(d) = described {
        meta.content_type = d.content_type.into();
        if let Some((w, h, thumb)) = d.thumbnail {
            let one = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(thumb.bytes)]);
            let stored = state.files.put(one, u64::MAX).await.map_err(|e| match e {
                BlobError::Full => full("the server's disk is full; nothing was stored".into()),
                other => internal(&other),
            })?;
            meta.dimensions = Some((w, h));
            meta.thumbnail = Some(stored.id);
        }
    }
    Ok(meta)
}

fn full(message: String) -> ApiError {
    ApiError::new(ErrorCode::StorageFull, message)
}

/// `POST /api/v1/channels/{id}/files`: stores the body (`application/octet-stream`; in an
/// end-to-end channel the encrypted blob) as a file of the channel, for a member who may post
/// there. In a plaintext channel `?name=` (and optionally `?type=`) say what it is, and the
/// server makes a thumbnail of an image; an end-to-end channel's upload says nothing. 413 over
/// the upload bound, 507 when it would pass the caller's or the instance's quota or the disk is
/// full; nothing is kept then.
pub async fn upload_file(
    state: Data<AppState>,
    authed: Authed,
    id: Path<ChannelId>,
    q: Query<UploadFileQuery>,
    req: HttpRequest,
    body: Payload,
) -> ApiResult<HttpResponse> {
    let user = authed.0.user_id;
    let limits = &state.config.limits;
    let UploadFileQuery { name, content_type } = q.into_inner();
    let (channel, room, name) = {
        let mut conn = state.db.conn().await?;
        let (channel, facts) = channels::find_visible(&mut conn, id.into_inner(), user)
            .await?
            .ok_or_else(ApiError::not_found)?;
        access::require(perms::post_channel(&facts))?;
        let name = if channel.e2e {
            if name.is_some() || content_type.is_some() {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "name, type: the channel is end-to-end encrypted: its files say what they are only inside the encrypted message",
                ));
            }
            None
        } else {
            if let Some(t) = &content_type {
                check_type(t)?;
            }
            Some(file_name(name)?)
        };
        let (_, used) = files::usage_of(&mut conn, user).await?;
        let mut room = limits.file_quota_bytes.saturating_sub(used);
        if limits.file_instance_bytes > 0 {
            let all = files::instance_bytes(&mut conn).await?;
            room = room.min(limits.file_instance_bytes.saturating_sub(all));
        }
        (channel, room, name)
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
    let meta = match name {
        Some(name) => Some(describe(&state, stored.id, name, content_type).await?),
        None => None,
    };
    let mut conn = state.db.conn().await?;
    let quota = files::Quota {
        user_bytes: limits.file_quota_bytes,
        instance_bytes: limits.file_instance_bytes,
    };
    let new = files::NewFile {
        channel: channel.id,
        uploader: user,
        blob: stored.id,
        size: stored.size,
        meta: meta.as_ref(),
    };
    let row = match files::record(&mut conn, &state.files, new, quota).await? {
        files::Recorded::File(row) => *row,
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

/// The file `id` if `user` can read its channel now (404 otherwise), within the caller's
/// download rate (`limits.download_*`).
async fn readable(state: &AppState, user: UserId, id: FileId) -> ApiResult<files::File> {
    state
        .limits
        .download_user
        .take(&user)
        .map_err(ApiError::rate_limited)?;
    let mut conn = state.db.conn().await?;
    let file = files::find(&mut conn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    channels::find_visible(&mut conn, file.channel_id, user)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(file)
}

/// `GET /api/v1/files/{id}`: the file's bytes to whoever can read its channel now (404
/// otherwise), as `application/octet-stream` to be saved (under its name in a plaintext
/// channel), never rendered, with ranges; within the caller's download rate.
pub async fn download_file(
    state: Data<AppState>,
    authed: Authed,
    id: Path<FileId>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let file = readable(&state, authed.0.user_id, id.into_inner()).await?;
    let how = Serve {
        content_type: "application/octet-stream",
        inline: false,
        cache: "private, no-cache",
        filename: file.meta.map(|m| m.name),
    };
    serve_blob(&state.files, BlobId(file.sha256), how, &req).await
}

/// `GET /api/v1/files/{id}/thumbnail`: the picture the server made of a plaintext channel's
/// image (WebP or JPEG it wrote itself, so inline), to whoever can read the channel; 404 when
/// there is none.
pub async fn file_thumbnail(
    state: Data<AppState>,
    authed: Authed,
    id: Path<FileId>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let file = readable(&state, authed.0.user_id, id.into_inner()).await?;
    let thumb = file
        .meta
        .and_then(|m| m.thumbnail)
        .ok_or_else(ApiError::not_found)?;
    let head = {
        let stored = state.files.open(&thumb).await.map_err(ApiError::internal)?;
        let path = stored.ok_or_else(ApiError::not_found)?.path;
        actix_web::web::block(move || -> std::io::Result<Vec<u8>> {
            use std::io::Read;
            let mut head = vec![0u8; 16];
            let n = std::fs::File::open(path)?.read(&mut head)?;
            head.truncate(n);
            Ok(head)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?
    };
    let content_type = if imaging::sniff(&head) == Some(image::ImageFormat::WebP) {
        "image/webp"
    } else {
        "image/jpeg"
    };
    let how = Serve {
        content_type,
        inline: true,
        cache: "private, max-age=86400",
        filename: None,
    };
    serve_blob(&state.files, thumb, how, &req).await
}

/// `GET /api/v1/users/me/files`: how many files the caller stored, their bytes and the bounds.
pub async fn file_usage(state: Data<AppState>, authed: Authed) -> ApiResult<Json<FileUsage>> {
    let mut conn = state.db.conn().await?;
    let (n, bytes) = files::usage_of(&mut conn, authed.0.user_id).await?;
    let l = &state.config.limits;
    let instance = if chatalot_storage::users::get(&mut conn, authed.0.user_id)
        .await?
        .role
        .is_admin()
    {
        let (files, bytes) = files::instance_usage(&mut conn).await?;
        Some(InstanceFileUsage {
            files,
            bytes,
            quota_bytes: l.file_instance_bytes,
        })
    } else {
        None
    };
    Ok(Json(FileUsage {
        files: n,
        bytes,
        quota_bytes: l.file_quota_bytes,
        max_upload_bytes: l.file_upload_bytes,
        instance,
    }))
}
