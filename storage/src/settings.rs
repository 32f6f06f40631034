//! Instance settings: a small key/value table changed by the owner and admins.

use crate::error::Result;
use crate::schema::instance_settings;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// The value stored under `key`, if any.
pub async fn find(conn: &mut AsyncPgConnection, key: &str) -> Result<Option<String>> {
    Ok(instance_settings::table
        .find(key)
        .select(instance_settings::value)
        .first(conn)
        .await
        .optional()?)
}

/// The value stored under `key`, locking its row until the transaction ends.
pub async fn find_for_update(conn: &mut AsyncPgConnection, key: &str) -> Result<Option<String>> {
    Ok(instance_settings::table
        .find(key)
        .select(instance_settings::value)
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// Removes `key`; true if it was there.
pub async fn delete(conn: &mut AsyncPgConnection, key: &str) -> Result<bool> {
    Ok(diesel::delete(instance_settings::table.find(key))
        .execute(conn)
        .await?
        == 1)
}

/// Every stored setting (the table holds a handful of keys).
pub async fn list(conn: &mut AsyncPgConnection) -> Result<Vec<(String, String)>> {
    Ok(instance_settings::table
        .select((instance_settings::key, instance_settings::value))
        .limit(1000)
        .load(conn)
        .await?)
}

/// Stores `value` under `key`, replacing any previous value.
pub async fn upsert(conn: &mut AsyncPgConnection, key: &str, value: &str) -> Result<()> {
    diesel::insert_into(instance_settings::table)
        .values((
            instance_settings::key.eq(key),
            instance_settings::value.eq(value),
        ))
        .on_conflict(instance_settings::key)
        .do_update()
        .set((
            instance_settings::value.eq(excluded(instance_settings::value)),
            instance_settings::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
