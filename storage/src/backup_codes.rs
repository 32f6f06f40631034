//! Single-use 2FA backup codes, stored as hashes.

use crate::error::{Result, StorageError};
use crate::schema::backup_codes;
use chatalot_protocol::ids::UserId;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// Replaces all of a user's backup codes with these hashes, all or nothing.
pub async fn replace_all(
    conn: &mut AsyncPgConnection,
    user: UserId,
    hashes: &[Vec<u8>],
) -> Result<()> {
    conn.transaction::<_, StorageError, _>(async |conn| replace_in_tx(conn, user, hashes).await)
        .await
}

async fn replace_in_tx(
    conn: &mut AsyncPgConnection,
    user: UserId,
    hashes: &[Vec<u8>],
) -> Result<()> {
    delete_all(conn, user).await?;
    let rows: Vec<_> = hashes
        .iter()
        .map(|h| {
            (
                backup_codes::user_id.eq(user.0),
                backup_codes::code_hash.eq(h.as_slice()),
            )
        })
        .collect();
    diesel::insert_into(backup_codes::table)
        .values(&rows)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes all of a user's backup codes.
pub async fn delete_all(conn: &mut AsyncPgConnection, user: UserId) -> Result<()> {
    diesel::delete(backup_codes::table.filter(backup_codes::user_id.eq(user.0)))
        .execute(conn)
        .await?;
    Ok(())
}

/// Atomically consumes the code with this hash: true if it existed (and is now gone).
pub async fn claim(conn: &mut AsyncPgConnection, user: UserId, hash: &[u8]) -> Result<bool> {
    let n = diesel::delete(
        backup_codes::table
            .filter(backup_codes::user_id.eq(user.0))
            .filter(backup_codes::code_hash.eq(hash)),
    )
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// How many unused codes the user has left.
pub async fn count_for_user(conn: &mut AsyncPgConnection, user: UserId) -> Result<i64> {
    Ok(backup_codes::table
        .filter(backup_codes::user_id.eq(user.0))
        .count()
        .get_result(conn)
        .await?)
}
