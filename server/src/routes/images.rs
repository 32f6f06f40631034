//! Public images (docs/api.md "Images"): avatars, banners, community icons and custom emoji.
//! An upload is recognised by its bytes, decoded within bounds and encoded afresh by the server
//! (`crate::imaging`); what is served under its content hash is only what the server wrote.

use crate::error::{ApiError, ApiResult};
use crate::extract::{body_length, body_type, Authed, ClientInfo};
use crate::imaging::{self, Refused};
use crate::media::{serve_blob, Serve};
use crate::state::AppState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Data, Path, Payload, Query};
use actix_web::{HttpRequest, HttpResponse};
use chatalot_protocol::api::image_limits::UPLOAD_MAX;
use chatalot_protocol::api::{Image, ImageQuery};
use chatalot_protocol::error::ErrorCode;
use chatalot_storage::blobs::{BlobError, BlobId, BlobStore};
use chatalot_storage::images::{self, NewImage};
use futures_util::StreamExt;

/// The content types an image upload may declare (the bytes decide what it is).
const UPLOAD_TYPES: [&str; 5] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/octet-stream",
];

pub fn wire(i: &images::Image) -> Image {
    Image {
        image_ref: i.blob.to_hex(),
        kind: i.kind,
        content_type: i.content_type.clone(),
        width: i.width,
        height: i.height,
        size: i.size,
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("an image may have at most {UPLOAD_MAX} bytes"),
    )
}

fn store_failed(e: BlobError) -> ApiError {
    match e {
        BlobError::Full => ApiError::new(
            ErrorCode::StorageFull,
            "the server's disk is full; nothing was stored",
        ),
        other => {
            tracing::error!(error = %other, "file store");
            ApiError::new(ErrorCode::Internal, "the image could not be stored")
        }
    }
}

/// `POST /api/v1/images?kind=`: takes a PNG, JPEG, GIF or WebP of at most 10 MiB, recognised
/// by its bytes; stores it cropped and shrunk for its kind and encoded afresh. 415 for anything
/// else, 400 for an image too large in pixels or broken, 507 when the disk is full.
pub async fn upload_image(
    state: Data<AppState>,
    authed: Authed,
    q: Query<ImageQuery>,
    req: HttpRequest,
    mut body: Payload,
) -> ApiResult<HttpResponse> {
    let user = authed.0.user_id;
    let kind = q.kind;
    state
        .limits
        .image_upload
        .take(&user)
        .map_err(ApiError::rate_limited)?;
    if !body_type(&req).is_some_and(|t| UPLOAD_TYPES.contains(&t.as_str())) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the image's bytes as image/png, image/jpeg, image/gif or image/webp",
        ));
    }
    let declared = body_length(&req);
    if declared.is_some_and(|n| n > UPLOAD_MAX) {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(UPLOAD_MAX) as usize);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid(format!("the upload broke off: {e}")))?;
        if (bytes.len() + chunk.len()) as u64 > UPLOAD_MAX {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let permit = state
        .imaging
        .clone()
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    let processed = actix_web::web::block(move || {
        let out = imaging::process(&bytes, kind);
        drop(permit);
        out
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| match e {
        Refused::Format => ApiError::new(ErrorCode::UnsupportedMediaType, e.to_string()),
        Refused::Dimensions | Refused::Broken(_) => ApiError::invalid(e.to_string()),
    })?;
    let size = processed.bytes.len() as u64;
    let bound = state.config.limits.file_instance_bytes;
    if bound > 0 {
        let mut conn = state.db.conn().await?;
        let all = chatalot_storage::files::instance_bytes(&mut conn).await?;
        if all.saturating_add(size) > bound {
            return Err(ApiError::new(
                ErrorCode::StorageFull,
                "the instance's files are at their bound; nothing was stored",
            ));
        }
    }
    let content_type = processed.content_type;
    let (width, height) = (processed.width, processed.height);
    let one = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(processed.bytes)]);
    let stored = state
        .files
        .put(one, UPLOAD_MAX)
        .await
        .map_err(store_failed)?;
    let mut conn = state.db.conn().await?;
    let row = images::record(
        &mut conn,
        &state.files,
        user,
        stored.id,
        NewImage {
            kind,
            content_type,
            width,
            height,
            size,
        },
    )
    .await?
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unavailable,
            "the image was being cleared away as it arrived: upload it again",
        )
    })?;
    Ok(HttpResponse::Created().json(wire(&row)))
}

/// `GET /api/v1/images/{ref}`: a public image, to anyone who has its reference, as the inline
/// picture the server encoded, cached for good (the name is its content).
pub async fn get_image(
    state: Data<AppState>,
    client: ClientInfo,
    image_ref: Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    state
        .limits
        .download_ip
        .take(&client.net)
        .map_err(ApiError::rate_limited)?;
    let blob = BlobId::from_hex(&image_ref).ok_or_else(ApiError::not_found)?;
    let image = {
        let mut conn = state.db.conn().await?;
        images::find(&mut conn, blob)
            .await?
            .ok_or_else(ApiError::not_found)?
    };
    let content_type = match image.content_type.as_str() {
        "image/webp" => "image/webp",
        _ => "image/jpeg",
    };
    let how = Serve {
        content_type,
        inline: true,
        cache: "public, max-age=31536000, immutable",
        filename: None,
    };
    let mut res = serve_blob(&state.files, blob, how, &req).await?;
    res.headers_mut().insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    Ok(res)
}
