//! Account changes that span several tables, each in one transaction: registration, password
//! replacement, two-factor switches and suspension.

use crate::error::{Result, StorageError};
use crate::sessions::{NewSession, RevokeReason, Session};
use crate::users::{NewUser, User};
use crate::{backup_codes, devices, invites, sessions, settings, users};
use chatalot_protocol::api::{InstanceRole, RegistrationMode};
use chatalot_protocol::ids::{DeviceId, SessionId, UserId};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use time::OffsetDateTime;

/// Everything a registration writes.
pub struct Registration<'a> {
    pub user_id: UserId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub recovery_code_hash: &'a [u8],
    pub invite_code: Option<&'a str>,
    /// SHA-256 of the setup token presented, if any.
    pub setup_token_hash: Option<&'a [u8]>,
    pub mode: RegistrationMode,
    pub device_id: DeviceId,
    pub device_name: &'a str,
    pub device_secret_hash: &'a [u8],
    pub session_id: SessionId,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub session_expires_at: OffsetDateTime,
    pub refresh_hash: &'a [u8],
}

/// Why a registration was refused. A refused registration wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Closed,
    InviteRequired,
    InvalidInvite,
    UsernameTaken,
    /// The setup token is wrong, or the instance has its owner already.
    InvalidSetupToken,
}

/// The `instance_settings` key holding the SHA-256 (hex) of the setup token while the instance
/// has no owner.
pub const SETUP_TOKEN_KEY: &str = "setup_token_sha256";

enum TxError {
    Refused(Refusal),
    Storage(StorageError),
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Storage(e.into())
    }
}

impl From<StorageError> for TxError {
    fn from(e: StorageError) -> Self {
        TxError::Storage(e)
    }
}

/// Registers an account in one transaction. The first account of the instance becomes its
/// owner and needs no invite in any mode; later ones follow `mode`. An invite is used only if the
/// whole registration commits.
pub async fn register(
    conn: &mut AsyncPgConnection,
    r: &Registration<'_>,
) -> Result<std::result::Result<(User, Session), Refusal>> {
    let result = conn
        .transaction::<_, TxError, _>(async |conn| {
            // the owner of a fresh instance is whoever presents the setup token the server
            // printed at start; everyone else registers as the mode says
            let owner = match r.setup_token_hash {
                Some(presented) => {
                    let stored = settings::find_for_update(conn, SETUP_TOKEN_KEY).await?;
                    let hex: String = presented.iter().map(|b| format!("{b:02x}")).collect();
                    let matches = stored.is_some_and(|s| {
                        s.len() == hex.len()
                            && s.bytes()
                                .zip(hex.bytes())
                                .fold(0u8, |a, (x, y)| a | (x ^ y))
                                == 0
                    });
                    if !matches || users::owner_exists(conn).await? {
                        return Err(TxError::Refused(Refusal::InvalidSetupToken));
                    }
                    settings::delete(conn, SETUP_TOKEN_KEY).await?;
                    true
                }
                None => false,
            };
            if !owner {
                match r.mode {
                    RegistrationMode::Closed => return Err(TxError::Refused(Refusal::Closed)),
                    RegistrationMode::InviteOnly => {
                        let Some(code) = r.invite_code else {
                            return Err(TxError::Refused(Refusal::InviteRequired));
                        };
                        if invites::claim_use(conn, code).await?.is_none() {
                            return Err(TxError::Refused(Refusal::InvalidInvite));
                        }
                    }
                    RegistrationMode::Open => {}
                }
            }
            let role = if owner {
                InstanceRole::Owner
            } else {
                InstanceRole::Member
            };
            let user = users::insert(
                conn,
                &NewUser {
                    id: r.user_id,
                    username: r.username,
                    display_name: r.display_name,
                    password_hash: r.password_hash,
                    role,
                    recovery_code_hash: r.recovery_code_hash,
                },
            )
            .await
            .map_err(|e| {
                if e.is_conflict_on("users_username_key") {
                    TxError::Refused(Refusal::UsernameTaken)
                } else {
                    TxError::Storage(e)
                }
            })?;
            devices::insert(
                conn,
                r.device_id,
                user.id,
                r.device_name,
                r.device_secret_hash,
            )
            .await?;
            let session = sessions::insert(
                conn,
                &NewSession {
                    id: r.session_id,
                    user_id: user.id,
                    device_id: r.device_id,
                    ip: r.ip,
                    user_agent: r.user_agent,
                    expires_at: r.session_expires_at,
                },
                r.refresh_hash,
            )
            .await?;
            Ok((user, session))
        })
        .await;
    match result {
        Ok(done) => Ok(Ok(done)),
        Err(TxError::Refused(refusal)) => Ok(Err(refusal)),
        Err(TxError::Storage(e)) => Err(e),
    }
}

/// Sets a new password hash (and, on recovery, a new recovery code hash) and revokes every
/// session but `keep`, all or nothing. Returns the revoked sessions.
pub async fn replace_password(
    conn: &mut AsyncPgConnection,
    user: UserId,
    password_hash: &str,
    recovery_code_hash: Option<&[u8]>,
    keep: Option<SessionId>,
    reason: RevokeReason,
) -> Result<Vec<SessionId>> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        users::update_password_hash(conn, user, password_hash).await?;
        if let Some(hash) = recovery_code_hash {
            users::update_recovery_code_hash(conn, user, hash).await?;
        }
        sessions::revoke_all_for_user(conn, user, keep, reason).await
    })
    .await
}

/// Account recovery, all or nothing: the new password and recovery code, two-factor
/// authentication off (secret and backup codes erased), and every session revoked. Returns the
/// revoked sessions.
pub async fn recover(
    conn: &mut AsyncPgConnection,
    user: UserId,
    password_hash: &str,
    recovery_code_hash: &[u8],
) -> Result<Vec<SessionId>> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        users::update_password_hash(conn, user, password_hash).await?;
        users::update_recovery_code_hash(conn, user, recovery_code_hash).await?;
        users::update_totp_enabled(conn, user, false).await?;
        backup_codes::delete_all(conn, user).await?;
        sessions::revoke_all_for_user(conn, user, None, RevokeReason::Recovered).await
    })
    .await
}

/// Turns two-factor authentication on with these backup code hashes, all or nothing.
pub async fn enable_totp(
    conn: &mut AsyncPgConnection,
    user: UserId,
    backup_hashes: &[Vec<u8>],
) -> Result<()> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        users::update_totp_enabled(conn, user, true).await?;
        backup_codes::replace_all(conn, user, backup_hashes).await
    })
    .await
}

/// Turns two-factor authentication off, erasing the secret and the backup codes.
pub async fn disable_totp(conn: &mut AsyncPgConnection, user: UserId) -> Result<()> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        users::update_totp_enabled(conn, user, false).await?;
        backup_codes::delete_all(conn, user).await
    })
    .await
}

/// Suspends an account and revokes all its sessions, or lifts a suspension; all or nothing.
/// Returns the revoked sessions.
pub async fn set_suspended(
    conn: &mut AsyncPgConnection,
    user: UserId,
    suspended: bool,
) -> Result<Vec<SessionId>> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        users::update_suspended(conn, user, suspended).await?;
        if suspended {
            sessions::revoke_all_for_user(conn, user, None, RevokeReason::Suspended).await
        } else {
            Ok(Vec::new())
        }
    })
    .await
}
