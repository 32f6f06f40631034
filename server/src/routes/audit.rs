//! The audit log: the caller's own events, and all events for instance admins.

use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::extract::Authed;
use crate::state::AppState;
use actix_web::web::{Data, Json, Query};
use chatalot_protocol::api::{limits, AuditEvent};
use chatalot_protocol::ids::UserId;
use chatalot_storage::{audit, users};
use serde::Deserialize;

/// `?limit=` (1-200, default 50) and, for admins, `?user_id=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    limit: Option<u32>,
    user_id: Option<UserId>,
}

fn limit(q: &AuditQuery) -> ApiResult<i64> {
    match q.limit {
        None => Ok(50),
        Some(n) if (1..=limits::PAGE_MAX).contains(&n) => Ok(i64::from(n)),
        Some(_) => Err(ApiError::invalid("limit: 1 to 200")),
    }
}

/// `GET /api/v1/users/me/audit_events`
pub async fn list_my_audit_events(
    state: Data<AppState>,
    authed: Authed,
    q: Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    if q.user_id.is_some() {
        return Err(ApiError::invalid("user_id: not accepted here"));
    }
    let limit = limit(&q)?;
    let mut conn = state.db.conn().await?;
    let list = audit::list(&mut conn, Some(authed.0.user_id), limit).await?;
    Ok(Json(list.into_iter().map(convert::audit_event).collect()))
}

/// `GET /api/v1/audit_events` (owner and admins)
pub async fn list_audit_events(
    state: Data<AppState>,
    authed: Authed,
    q: Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    let mut conn = state.db.conn().await?;
    let user = users::get(&mut conn, authed.0.user_id).await?;
    if !user.role.is_admin() {
        return Err(ApiError::not_found());
    }
    let limit = limit(&q)?;
    let list = audit::list(&mut conn, q.user_id, limit).await?;
    Ok(Json(list.into_iter().map(convert::audit_event).collect()))
}
