//! The blob store: the bytes of files (attachments, avatars, icons, emoji), content-addressed
//! by their SHA-256, outside the database (which holds who may read what).
//!
//! [`BlobStore`] is the one seam every backend implements; [`LocalBlobs`], files under the
//! data directory, is the default. Its invariants:
//! - a blob becomes visible only whole: it is written to `tmp/<random>`, fsynced, then renamed
//!   to `objects/<2 hex>/<64 hex>` and the directory fsynced, so a crash leaves at most a
//!   temporary file (removed when the store opens next) and never a half-written object;
//! - bodies are streamed in and out: memory held does not grow with the blob's size;
//! - a body over its bound is refused while it arrives ([`BlobError::TooLarge`]) and leaves
//!   nothing behind; a full disk or quota is [`BlobError::Full`], with nothing left behind
//!   either;
//! - the same bytes stored twice are one object (the second write is dropped).
//!
//! An S3-compatible backend would implement the same trait (a multipart upload hashed as it
//! streams, then a copy to the content name); it is not built, as nothing here can test one
//! against a real server (docs/operations.md).

use std::fmt::Display;
use std::future::Future;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Length of a blob id: the SHA-256 of its bytes.
pub const BLOB_ID_LEN: usize = 32;
/// Temporary files older than this are a crashed write's, removed when the store opens.
pub const STALE_TEMP: Duration = Duration::from_secs(3600);

/// A blob's name: the SHA-256 of its bytes (64 lowercase hex characters on the wire).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(pub [u8; BLOB_ID_LEN]);

impl BlobId {
    /// The id of these bytes.
    pub fn of(bytes: &[u8]) -> BlobId {
        BlobId(Sha256::digest(bytes).into())
    }

    /// 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(2 * BLOB_ID_LEN);
        for b in self.0 {
            s.push(HEX[usize::from(b >> 4)] as char);
            s.push(HEX[usize::from(b & 15)] as char);
        }
        s
    }

    /// Parses 64 lowercase hex characters; anything else is `None`.
    pub fn from_hex(s: &str) -> Option<BlobId> {
        let b = s.as_bytes();
        if b.len() != 2 * BLOB_ID_LEN {
            return None;
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; BLOB_ID_LEN];
        for (i, o) in out.iter_mut().enumerate() {
            *o = (nibble(b[2 * i])? << 4) | nibble(b[2 * i + 1])?;
        }
        Some(BlobId(out))
    }
}

impl std::fmt::Debug for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobId({})", self.to_hex())
    }
}

impl Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The body went over its bound (bytes); nothing was kept.
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    /// The disk (or its quota) is full; nothing was kept.
    #[error("no space is left for files")]
    Full,
    /// The body stopped with an error before its end; nothing was kept.
    #[error("the upload broke off: {0}")]
    Body(String),
    /// Any other I/O failure of the store.
    #[error("file store: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for BlobError {
    fn from(e: std::io::Error) -> Self {
        // ENOSPC and EDQUOT: the disk or the filesystem quota is full.
        if e.kind() == ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28) | Some(122)) {
            BlobError::Full
        } else {
            BlobError::Io(e)
        }
    }
}

/// A blob just stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBlob {
    pub id: BlobId,
    pub size: u64,
    /// False when the same bytes were stored already (the write was dropped).
    pub new: bool,
}

/// A stored blob to read: where it is, how long it is and when it was last stored.
#[derive(Debug, Clone)]
pub struct BlobFile {
    /// The object's file (local backend): served with ranges by the caller.
    pub path: PathBuf,
    pub size: u64,
    /// When it was stored, or stored again (the same bytes uploaded once more).
    pub stored_at: SystemTime,
}

/// Where blobs live. Every method leaves the store whole whatever happens to the caller.
pub trait BlobStore: Send + Sync + 'static {
    /// Stores the bytes of `body`, at most `max_bytes` of them, hashing as they arrive.
    /// (The body need not be `Send`: an HTTP server's request body often is not.)
    fn put<S, B, E>(
        &self,
        body: S,
        max_bytes: u64,
    ) -> impl Future<Output = Result<StoredBlob, BlobError>>
    where
        S: Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: Display;

    /// The stored blob `id`, or `None`.
    fn open(&self, id: &BlobId)
        -> impl Future<Output = Result<Option<BlobFile>, BlobError>> + Send;

    /// Deletes blob `id`; false when there was none.
    fn delete(&self, id: &BlobId) -> impl Future<Output = Result<bool, BlobError>> + Send;

    /// Stored blobs with when each was stored, for reclamation: at most `limit` of them, in
    /// ascending order of their ids, after `after` (a walk over all of them goes on from the
    /// last one listed).
    fn list(
        &self,
        after: Option<BlobId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(BlobId, SystemTime)>, BlobError>> + Send;
}

/// Blobs as files under one directory (the default: `<data_dir>/blobs`).
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    /// Opens (creating) the store at `root`, removing temporary files of writes that crashed.
    pub async fn open(root: impl Into<PathBuf>) -> Result<LocalBlobs, BlobError> {
        let root = root.into();
        tokio::fs::create_dir_all(root.join("tmp")).await?;
        tokio::fs::create_dir_all(root.join("objects")).await?;
        let store = LocalBlobs { root };
        store.remove_stale_temps(STALE_TEMP).await?;
        Ok(store)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn object_path(&self, id: &BlobId) -> PathBuf {
        let hex = id.to_hex();
        self.root.join("objects").join(&hex[..2]).join(hex)
    }

    /// Removes temporary files older than `age` (a write in progress is younger).
    pub async fn remove_stale_temps(&self, age: Duration) -> Result<usize, BlobError> {
        let mut dir = tokio::fs::read_dir(self.root.join("tmp")).await?;
        let now = SystemTime::now();
        let mut removed = 0;
        while let Some(e) = dir.next_entry().await? {
            let modified = e.metadata().await?.modified()?;
            if now.duration_since(modified).unwrap_or_default() >= age {
                tokio::fs::remove_file(e.path()).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Temporary files now (writes in progress or crashed).
    pub async fn temp_count(&self) -> Result<usize, BlobError> {
        let mut dir = tokio::fs::read_dir(self.root.join("tmp")).await?;
        let mut n = 0;
        while dir.next_entry().await?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    async fn write_temp<S, B, E>(
        &self,
        file: &mut tokio::fs::File,
        mut body: S,
        max_bytes: u64,
    ) -> Result<(BlobId, u64), BlobError>
    where
        S: Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: Display,
    {
        let mut hash = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            let bytes = chunk.as_ref();
            size += bytes.len() as u64;
            if size > max_bytes {
                return Err(BlobError::TooLarge(max_bytes));
            }
            hash.update(bytes);
            file.write_all(bytes).await?;
        }
        file.flush().await?;
        file.sync_all().await?;
        Ok((BlobId(hash.finalize().into()), size))
    }
}

/// Fsyncs a directory, so that a rename in it survives a crash.
async fn sync_dir(path: &Path) -> Result<(), BlobError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(&path)?.sync_all())
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
    Ok(())
}

impl BlobStore for LocalBlobs {
    async fn put<S, B, E>(&self, body: S, max_bytes: u64) -> Result<StoredBlob, BlobError>
    where
        S: Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: Display,
    {
        let temp = self
            .root
            .join("tmp")
            .join(uuid::Uuid::new_v4().simple().to_string());
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .await?;
        let written = self.write_temp(&mut file, body, max_bytes).await;
        drop(file);
        let (id, size) = match written {
            Ok(w) => w,
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(e);
            }
        };
        let dest = self.object_path(&id);
        let parent = dest.parent().expect("objects/<2 hex>").to_owned();
        let placed = async {
            if tokio::fs::try_exists(&dest).await? {
                // stored again: as young as a new blob for reclamation's grace period
                let touched = tokio::fs::OpenOptions::new().write(true).open(&dest).await;
                match touched {
                    Ok(f) => f.into_std().await.set_modified(SystemTime::now())?,
                    // reclaimed meanwhile: placed anew below
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
                if tokio::fs::try_exists(&dest).await? {
                    return Ok::<bool, BlobError>(false);
                }
            }
            tokio::fs::create_dir_all(&parent).await?;
            tokio::fs::rename(&temp, &dest).await?;
            sync_dir(&parent).await?;
            Ok(true)
        }
        .await;
        match placed {
            Ok(new) => {
                if !new {
                    let _ = tokio::fs::remove_file(&temp).await;
                }
                Ok(StoredBlob { id, size, new })
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(e)
            }
        }
    }

    async fn open(&self, id: &BlobId) -> Result<Option<BlobFile>, BlobError> {
        let path = self.object_path(id);
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(Some(BlobFile {
                path,
                size: m.len(),
                stored_at: m.modified()?,
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, id: &BlobId) -> Result<bool, BlobError> {
        match tokio::fs::remove_file(self.object_path(id)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(
        &self,
        after: Option<BlobId>,
        limit: usize,
    ) -> Result<Vec<(BlobId, SystemTime)>, BlobError> {
        let mut out = Vec::new();
        let mut shards = Vec::new();
        let mut dir = tokio::fs::read_dir(self.root.join("objects")).await?;
        while let Some(shard) = dir.next_entry().await? {
            let Some(name) = shard.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.len() == 2 && shard.file_type().await?.is_dir() {
                shards.push(name);
            }
        }
        shards.sort();
        let first = after.map(|a| a.to_hex()[..2].to_owned());
        for shard in shards {
            if first.as_ref().is_some_and(|f| shard < *f) {
                continue;
            }
            let mut ids = Vec::new();
            let mut files = tokio::fs::read_dir(self.root.join("objects").join(&shard)).await?;
            while let Some(f) = files.next_entry().await? {
                if let Some(id) = f.file_name().to_str().and_then(BlobId::from_hex) {
                    if after.is_none_or(|a| id > a) {
                        ids.push((id, f.path()));
                    }
                }
            }
            ids.sort_by_key(|(id, _)| *id);
            for (id, path) in ids {
                if out.len() >= limit {
                    return Ok(out);
                }
                match tokio::fs::metadata(&path).await {
                    Ok(m) => out.push((id, m.modified()?)),
                    // deleted since it was listed
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn chunks(parts: &[&[u8]]) -> impl Stream<Item = Result<Vec<u8>, String>> + Unpin {
        stream::iter(parts.iter().map(|p| Ok(p.to_vec())).collect::<Vec<_>>())
    }

    async fn store() -> (tempdir::Dir, LocalBlobs) {
        let dir = tempdir::Dir::new();
        let s = LocalBlobs::open(dir.path()).await.expect("open");
        (dir, s)
    }

    /// A directory removed at the end of the test (no dependency for this alone).
    mod tempdir {
        use std::path::{Path, PathBuf};
        pub struct Dir(PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                let p =
                    std::env::temp_dir().join(format!("chatalot-blobs-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&p).expect("temp dir");
                Dir(p)
            }
            pub fn path(&self) -> &Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn ids_are_64_lowercase_hex_and_nothing_else_parses() {
        let id = BlobId::of(b"hello");
        let hex = id.to_hex();
        assert_eq!(
            hex,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(BlobId::from_hex(&hex), Some(id));
        assert_eq!(BlobId::from_hex(&hex.to_uppercase()), None);
        assert_eq!(BlobId::from_hex(&hex[1..]), None);
        assert_eq!(BlobId::from_hex(&format!("{hex}0")), None);
        assert_eq!(BlobId::from_hex(&format!("../{}", &hex[3..])), None);
        assert_eq!(BlobId::from_hex(&"g".repeat(64)), None);
    }

    #[tokio::test]
    async fn stores_a_streamed_body_whole_under_its_digest_and_reads_it_back() {
        let (_d, s) = store().await;
        let put = s
            .put(chunks(&[b"hel", b"", b"lo wor", b"ld"]), 1 << 20)
            .await
            .expect("put");
        assert_eq!(put.id, BlobId::of(b"hello world"));
        assert_eq!(put.size, 11);
        assert!(put.new);
        let f = s.open(&put.id).await.expect("open").expect("stored");
        assert_eq!(f.size, 11);
        assert_eq!(std::fs::read(&f.path).expect("read"), b"hello world");
        assert!(f.path.starts_with(s.root().join("objects")));
        assert_eq!(s.temp_count().await.expect("tmp"), 0);
        // The same bytes again: one object, the second write dropped.
        let again = s
            .put(chunks(&[b"hello world"]), 1 << 20)
            .await
            .expect("put");
        assert_eq!(again.id, put.id);
        assert!(!again.new);
        assert_eq!(s.list(None, 10).await.expect("list").len(), 1);
        assert_eq!(s.temp_count().await.expect("tmp"), 0);
        // An empty body is a blob too.
        let empty = s.put(chunks(&[]), 10).await.expect("empty");
        assert_eq!(empty.id, BlobId::of(b""));
        assert_eq!(empty.size, 0);
    }

    #[tokio::test]
    async fn a_body_over_its_bound_or_broken_off_leaves_nothing() {
        let (_d, s) = store().await;
        let big = vec![7u8; 4096];
        let err = s
            .put(chunks(&[&big, &big, &big]), 8192)
            .await
            .expect_err("over the bound");
        assert!(matches!(err, BlobError::TooLarge(8192)), "{err:?}");
        // Exactly the bound is fine.
        s.put(chunks(&[&big, &big]), 8192)
            .await
            .expect("at the bound");
        let broken = stream::iter(vec![
            Ok(b"part".to_vec()),
            Err("connection reset".to_owned()),
        ]);
        let err = s.put(broken, 1 << 20).await.expect_err("broken");
        assert!(
            matches!(&err, BlobError::Body(m) if m == "connection reset"),
            "{err:?}"
        );
        assert_eq!(s.temp_count().await.expect("tmp"), 0);
        let listed = s.list(None, 10).await.expect("list");
        assert_eq!(listed.len(), 1, "only the blob at the bound");
        assert_eq!(
            s.open(&BlobId::of(b"part"))
                .await
                .expect("open")
                .map(|f| f.size),
            None
        );
    }

    #[tokio::test]
    async fn deletes_lists_and_removes_stale_temporaries_when_opened() {
        let (d, s) = store().await;
        let a = s.put(chunks(&[b"a"]), 10).await.expect("a");
        let b = s.put(chunks(&[b"b"]), 10).await.expect("b");
        let mut ids: Vec<BlobId> = s
            .list(None, 10)
            .await
            .expect("list")
            .into_iter()
            .map(|x| x.0)
            .collect();
        ids.sort();
        let mut want = vec![a.id, b.id];
        want.sort();
        assert_eq!(ids, want);
        let first = s.list(None, 1).await.expect("list");
        assert_eq!(first.len(), 1, "bounded");
        assert_eq!(first[0].0, want[0], "in order");
        let rest = s.list(Some(first[0].0), 10).await.expect("list on");
        assert_eq!(rest.iter().map(|x| x.0).collect::<Vec<_>>(), vec![want[1]]);
        assert!(s.list(Some(want[1]), 10).await.expect("end").is_empty());
        assert!(s.delete(&a.id).await.expect("delete"));
        assert!(!s.delete(&a.id).await.expect("delete again"));
        assert_eq!(s.open(&a.id).await.expect("open").map(|f| f.size), None);
        // A crashed write's temporary file: kept while young, removed once stale.
        std::fs::write(d.path().join("tmp").join("crashed"), b"half").expect("write");
        assert_eq!(s.remove_stale_temps(STALE_TEMP).await.expect("young"), 0);
        assert_eq!(
            s.remove_stale_temps(Duration::ZERO).await.expect("stale"),
            1
        );
        assert_eq!(s.temp_count().await.expect("tmp"), 0);
        // Stray files in the objects directory are not blobs.
        std::fs::write(d.path().join("objects").join("README"), b"x").expect("write");
        assert_eq!(s.list(None, 10).await.expect("list").len(), 1);
    }

    #[test]
    fn a_full_disk_is_its_own_error() {
        assert!(matches!(
            BlobError::from(std::io::Error::from_raw_os_error(28)),
            BlobError::Full
        ));
        assert!(matches!(
            BlobError::from(std::io::Error::from_raw_os_error(122)),
            BlobError::Full
        ));
        assert!(matches!(
            BlobError::from(std::io::Error::from(ErrorKind::PermissionDenied)),
            BlobError::Io(_)
        ));
    }
}
