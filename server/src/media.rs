//! What the routes of files, images, profiles, communities and emoji share about stored bytes:
//! serving a blob of the file store as inert bytes, and taking a reference to a public image.

use crate::error::{ApiError, ApiResult};
use actix_files::NamedFile;
use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
    HeaderValue,
};
use actix_web::{HttpRequest, HttpResponse};
use chatalot_protocol::api::ImageKind;
use chatalot_protocol::error::ErrorCode;
use chatalot_storage::blobs::{BlobId, BlobStore, LocalBlobs};
use chatalot_storage::images;

/// The CSP of every byte the server serves from users or other sites: nothing runs, nothing loads.
pub const SANDBOX_CSP: &str = "sandbox; default-src 'none'";

/// How a blob is served.
pub struct Serve {
    /// `Content-Type`, one the server chose (never a client's).
    pub content_type: &'static str,
    /// `inline` (a picture the server wrote) or `attachment` (anything else).
    pub inline: bool,
    /// `Cache-Control`.
    pub cache: &'static str,
    /// The name to save it under (a plaintext channel's file).
    pub filename: Option<String>,
}

/// The blob `blob` of `store` as `how` says, with ranges, `nosniff` and a sandbox CSP; 404
/// when its bytes are missing (logged: a row names them).
pub async fn serve_blob(
    store: &LocalBlobs,
    blob: BlobId,
    how: Serve,
    req: &HttpRequest,
) -> ApiResult<HttpResponse> {
    let unreadable = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "file store");
        ApiError::new(ErrorCode::Internal, "the file could not be read")
    };
    let Some(stored) = store.open(&blob).await.map_err(|e| unreadable(&e))? else {
        tracing::error!(blob = %blob, "a stored file's bytes are missing from the store");
        return Err(ApiError::not_found());
    };
    let path = stored.path;
    let named = actix_web::web::block(move || NamedFile::open(path))
        .await
        .map_err(|e| unreadable(&e))?
        .map_err(|e| unreadable(&e))?
        .set_content_type(how.content_type.parse().expect("a MIME type"))
        .set_content_disposition(ContentDisposition {
            disposition: if how.inline {
                DispositionType::Inline
            } else {
                DispositionType::Attachment
            },
            parameters: how
                .filename
                .map(|name| {
                    vec![DispositionParam::FilenameExt(ExtendedValue {
                        charset: Charset::Ext("UTF-8".into()),
                        language_tag: None,
                        value: name.into_bytes(),
                    })]
                })
                .unwrap_or_default(),
        })
        .use_last_modified(false);
    let mut res = named.into_response(req);
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(how.cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SANDBOX_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}

/// A change of a reference to an image of `kind` (absent: none; `null`: clear): a new one must
/// name an image uploaded as that kind, and is touched so reclamation keeps it.
pub async fn claim_image(
    conn: &mut chatalot_storage::AsyncPgConnection,
    change: &Option<Option<String>>,
    kind: ImageKind,
    field: &str,
) -> ApiResult<Option<Option<String>>> {
    let Some(Some(raw)) = change else {
        return Ok(change.as_ref().map(|_| None));
    };
    let refused = || {
        ApiError::invalid(format!(
            "{field}: the ref of an image uploaded as {} (POST /api/v1/images?kind={}), or null",
            kind.as_str(),
            kind.as_str()
        ))
    };
    let blob = BlobId::from_hex(raw).ok_or_else(refused)?;
    if !images::touch(conn, blob, kind).await? {
        return Err(refused());
    }
    Ok(Some(Some(blob.to_hex())))
}
