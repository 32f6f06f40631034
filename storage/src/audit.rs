//! The audit log of authentication and administration events.

use crate::error::Result;
use crate::schema::audit_events;
use chatalot_protocol::ids::{AuditEventId, UserId};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// An audit event as stored.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub user_id: Option<UserId>,
    pub action: String,
    pub subject_id: Option<uuid::Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct AuditRow {
    id: Uuid,
    user_id: Option<Uuid>,
    action: String,
    subject_id: Option<Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: OffsetDateTime,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            id: AuditEventId(r.id),
            user_id: r.user_id.map(UserId),
            action: r.action,
            subject_id: r.subject_id,
            ip: r.ip,
            user_agent: r.user_agent,
            created_at: r.created_at,
        }
    }
}

/// Appends an event: `user` acted, on `subject` if the action has one.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    user: Option<UserId>,
    action: &str,
    subject: Option<Uuid>,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<()> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(AuditEventId::new().0),
            audit_events::user_id.eq(user.map(|u| u.0)),
            audit_events::action.eq(action),
            audit_events::subject_id.eq(subject),
            audit_events::ip.eq(ip),
            audit_events::user_agent.eq(user_agent),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The newest events, optionally of one user, at most `limit`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    user: Option<UserId>,
    limit: i64,
) -> Result<Vec<AuditEvent>> {
    let mut q = audit_events::table
        .order((audit_events::created_at.desc(), audit_events::id.desc()))
        .limit(limit)
        .select(AuditRow::as_select())
        .into_boxed();
    if let Some(u) = user {
        q = q.filter(audit_events::user_id.eq(u.0));
    }
    Ok(q.load(conn)
        .await?
        .into_iter()
        .map(AuditEvent::from)
        .collect())
}

/// When `user` last had an event `action`, if ever.
pub async fn last_of(
    conn: &mut AsyncPgConnection,
    user: UserId,
    action: &str,
) -> Result<Option<OffsetDateTime>> {
    Ok(audit_events::table
        .filter(audit_events::user_id.eq(user.0))
        .filter(audit_events::action.eq(action))
        .select(diesel::dsl::max(audit_events::created_at))
        .first::<Option<OffsetDateTime>>(conn)
        .await?)
}
