//! What every actor shares: the registry, the database, the token check and the limits.

use crate::config::RealtimeConfig;
use crate::registry::RegistryActor;
use actix::Addr;
use chatalot_protocol::ids::{DeviceId, SessionId, UserId};
use chatalot_storage::Db;
use std::sync::Arc;

/// Who an access token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub session_id: SessionId,
    /// When the token stops being valid: a connection is closed then unless it presents a
    /// newer token of the same session first.
    pub expires_at: time::OffsetDateTime,
}

/// Checks access tokens (implemented by the server, which knows the token format and the
/// revocation set).
pub trait Authenticator: Send + Sync + 'static {
    /// The claims of a valid, unexpired, unrevoked token.
    fn verify(&self, token: &str) -> Option<Claims>;

    /// True once the session has been revoked (logout, password change, suspension...).
    fn is_revoked(&self, session: SessionId) -> bool;
}

/// Shared handles, cloned into every actor.
#[derive(Clone)]
pub struct Hub {
    pub registry: Addr<RegistryActor>,
    pub db: Db,
    pub auth: Arc<dyn Authenticator>,
    pub config: Arc<RealtimeConfig>,
    /// What each user may still send today.
    pub quota: Arc<crate::quota::DailyQuota>,
}
