//! Liveness and readiness.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use actix_web::web::{Data, Json};
use chatalot_protocol::api::Status;

/// `GET /api/v1/health`: the process is up and serving.
pub async fn get_health() -> Json<Status> {
    Json(Status {
        status: "ok".into(),
    })
}

/// `GET /api/v1/ready`: the database answers; 503 otherwise.
pub async fn get_ready(state: Data<AppState>) -> ApiResult<Json<Status>> {
    state.db.ping().await.map_err(ApiError::unavailable)?;
    Ok(Json(Status {
        status: "ready".into(),
    }))
}
