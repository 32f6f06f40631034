//! `GET /api/v1/link_preview?url=`: what a public web page says of itself, fetched by the
//! server's link fetcher (`crate::previews`), for the web app to show under a link.

use crate::error::{ApiError, ApiResult};
use crate::extract::Authed;
use crate::previews::NoPreview;
use crate::state::AppState;
use actix_web::web::{Data, Json, Query};
use chatalot_protocol::api::{LinkPreview, LinkPreviewQuery};
use chatalot_protocol::error::ErrorCode;

/// The preview, or 400 for an address the fetcher does not take (not http(s), credentials,
/// another port, not public), 404 when the page has none (unreachable, no HTML, off).
pub async fn link_preview(
    state: Data<AppState>,
    authed: Authed,
    q: Query<LinkPreviewQuery>,
) -> ApiResult<Json<LinkPreview>> {
    state
        .limits
        .preview
        .take(&authed.0.user_id)
        .map_err(ApiError::rate_limited)?;
    match state.previews.preview(&q.url).await {
        Ok(p) => Ok(Json(p)),
        Err(e @ (NoPreview::BadUrl(_) | NoPreview::NotPublic)) => {
            Err(ApiError::invalid(format!("url: {e}")))
        }
        Err(e @ (NoPreview::Unavailable(_) | NoPreview::Off)) => {
            Err(ApiError::new(ErrorCode::NotFound, e.to_string()))
        }
    }
}
