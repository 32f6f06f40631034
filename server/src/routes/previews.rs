//! `GET /api/v1/link_preview?url=`: what a public web page says of itself, fetched by the
//! server's link fetcher (`crate::previews`), for the web app to show under a link.

use crate::error::{ApiError, ApiResult};
use crate::extract::Authed;
use crate::previews::NoPreview;
use crate::state::AppState;
use actix_web::web::{Data, Query};
use actix_web::HttpResponse;
use chatalot_protocol::api::LinkPreviewQuery;

/// The preview; 204 when the page has none (unreachable, too slow, no HTML, another status,
/// or previews off): for a reader that is no failure, only nothing to show. 400 for an address
/// the fetcher does not take (not http(s), credentials, another port, not public).
pub async fn link_preview(
    state: Data<AppState>,
    authed: Authed,
    q: Query<LinkPreviewQuery>,
) -> ApiResult<HttpResponse> {
    state
        .limits
        .preview
        .take(&authed.0.user_id)
        .map_err(ApiError::rate_limited)?;
    match state.previews.preview(&q.url).await {
        Ok(p) => Ok(HttpResponse::Ok().json(p)),
        Err(e @ (NoPreview::BadUrl(_) | NoPreview::NotPublic)) => {
            Err(ApiError::invalid(format!("url: {e}")))
        }
        Err(NoPreview::Unavailable(_) | NoPreview::Off) => Ok(HttpResponse::NoContent().finish()),
    }
}
