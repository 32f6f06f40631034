//! Reclaiming file space (docs/e2e.md 19.4): every `files.reclaim_interval_secs`, rows of files
//! no message named within `files.unclaimed_secs` of their upload go, and rows of public images
//! nothing named within as long of their last use, then every blob older
//! than `files.orphan_grace_secs` that no row names. The last step holds the blob's lock
//! (`chatalot_storage::files::reclaim_blob`), which an upload recording the same bytes takes
//! too: a blob a row names, or is about to, is never deleted.

use crate::config::FilesConfig;
use chatalot_storage::blobs::{BlobId, BlobStore, LocalBlobs};
use chatalot_storage::{files, images, Db};
use std::time::{Duration, SystemTime};

/// Blobs listed (and checked against the rows) at once.
const PAGE: usize = 500;
/// Unclaimed rows deleted by one statement.
const ROWS: i64 = 1000;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub rows: usize,
    /// Image rows nothing named.
    pub images: usize,
    pub blobs: usize,
}

/// One pass over the rows and the store.
pub async fn pass(
    db: &Db,
    store: &LocalBlobs,
    cfg: &FilesConfig,
) -> chatalot_storage::Result<Pass> {
    let mut done = Pass::default();
    let mut conn = db.conn().await?;
    let before = time::OffsetDateTime::now_utc() - Duration::from_secs(cfg.unclaimed_secs);
    loop {
        let n = files::expire_unclaimed(&mut conn, before, ROWS).await?;
        done.rows += n;
        if (n as i64) < ROWS {
            break;
        }
    }
    loop {
        let n = images::expire_unnamed(&mut conn, before, ROWS).await?;
        done.images += n;
        if (n as i64) < ROWS {
            break;
        }
    }
    let grace = SystemTime::now() - Duration::from_secs(cfg.orphan_grace_secs);
    let mut after: Option<BlobId> = None;
    loop {
        let page = store
            .list(after, PAGE)
            .await
            .map_err(|e| chatalot_storage::StorageError::Query(e.to_string()))?;
        let Some(last) = page.last() else { break };
        after = Some(last.0);
        let old: Vec<BlobId> = page
            .iter()
            .filter(|(_, at)| *at <= grace)
            .map(|(id, _)| *id)
            .collect();
        let named = files::named_among(&mut conn, &old).await?;
        for id in old.into_iter().filter(|id| !named.contains(id)) {
            if files::reclaim_blob(&mut conn, store, id, grace).await? {
                done.blobs += 1;
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    Ok(done)
}

/// Runs a pass every `reclaim_interval_secs` for as long as the server runs (0: never).
pub fn spawn(db: Db, store: LocalBlobs, cfg: FilesConfig) {
    if cfg.reclaim_interval_secs == 0 {
        return;
    }
    actix_web::rt::spawn(async move {
        let mut tick =
            actix_web::rt::time::interval(Duration::from_secs(cfg.reclaim_interval_secs));
        loop {
            tick.tick().await;
            match pass(&db, &store, &cfg).await {
                Ok(p) if p.rows + p.images + p.blobs > 0 => {
                    tracing::info!(
                        rows = p.rows,
                        images = p.images,
                        blobs = p.blobs,
                        "file space reclaimed"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "file reclamation"),
            }
        }
    });
}
