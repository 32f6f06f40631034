//! `GET /api/v1/gifs` and `GET /api/v1/gifs/media`: GIF search through the configured provider
//! (`crate::gifs`), for signed-in users, within the link preview rate.

use crate::error::{ApiError, ApiResult};
use crate::extract::Authed;
use crate::gifs::GifError;
use crate::media::SANDBOX_CSP;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::web::{Data, Query};
use actix_web::HttpResponse;
use chatalot_protocol::api::{GifMediaQuery, GifQuery};
use chatalot_protocol::error::ErrorCode;

fn refusal(e: GifError) -> ApiError {
    match e {
        GifError::Off => ApiError::new(ErrorCode::NotFound, e.to_string()),
        GifError::Bad(m) => ApiError::invalid(m),
        GifError::Unavailable(_) => {
            tracing::warn!(error = %e, "GIF provider");
            ApiError::new(ErrorCode::Unavailable, e.to_string())
        }
    }
}

/// A page of GIFs for `q`; 404 when GIF search is not set up, 503 when the provider fails.
pub async fn search_gifs(
    state: Data<AppState>,
    authed: Authed,
    q: Query<GifQuery>,
) -> ApiResult<HttpResponse> {
    state
        .limits
        .preview
        .take(&authed.0.user_id)
        .map_err(ApiError::rate_limited)?;
    let gifs = state.gifs.clone();
    let GifQuery { q, pos } = q.into_inner();
    let page = actix_web::web::block(move || gifs.search(&q, pos.as_deref()))
        .await
        .map_err(ApiError::internal)?
        .map_err(refusal)?;
    Ok(HttpResponse::Ok().json(page))
}

/// The bytes of a GIF found by a search, fetched from the provider's media origins only, as a
/// picture (`image/gif` or `image/webp` by its bytes), inert.
pub async fn gif_media(
    state: Data<AppState>,
    authed: Authed,
    q: Query<GifMediaQuery>,
) -> ApiResult<HttpResponse> {
    state
        .limits
        .download_user
        .take(&authed.0.user_id)
        .map_err(ApiError::rate_limited)?;
    let gifs = state.gifs.clone();
    let url = q.into_inner().url;
    let (bytes, content_type) = actix_web::web::block(move || gifs.media(&url))
        .await
        .map_err(ApiError::internal)?
        .map_err(refusal)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_DISPOSITION, "inline"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, SANDBOX_CSP))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(bytes))
}
