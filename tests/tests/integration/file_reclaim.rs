//! Reclamation racing uploads (docs/e2e.md 19.4), against the real PostgreSQL and a real file
//! store: one task deletes the blob whenever no row names it, as fast as it can, while uploads of
//! the same bytes are recorded, named by a message and orphaned again by deleting that message.
//! A recorded blob is there as long as its row is; an upload that lost the race is told so.
use chatalot_protocol::ids::MessageId;
use chatalot_storage::blobs::{BlobId, BlobStore, LocalBlobs};
use chatalot_storage::files;
use chatalot_storage::messages::{self, Body, Inserted, NewMessage};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn body(bytes: &[u8]) -> impl futures_util::Stream<Item = Result<Vec<u8>, String>> + Unpin {
    futures_util::stream::iter(vec![Ok(bytes.to_vec())])
}

#[test]
fn reclamation_racing_uploads_never_deletes_a_blob_a_row_names() {
    // the server's own reclamation keeps to its store; this race has a store of its own
    let (s, db, channel, user, device) = crate::storage_messages::setup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = LocalBlobs::open(s.data_dir().join("race-store"))
            .await
            .expect("store");
        let bytes = b"the same bytes, uploaded again and again".to_vec();
        let id = BlobId::of(&bytes);
        let stop = Arc::new(AtomicBool::new(false));
        let reclaimed = Arc::new(AtomicUsize::new(0));
        let reclaimer = {
            let (db, store, stop, reclaimed) =
                (db.clone(), store.clone(), stop.clone(), reclaimed.clone());
            tokio::spawn(async move {
                let mut conn = db.conn().await.expect("connection");
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // no grace period: whatever no row names goes
                    if files::reclaim_blob(&mut conn, &store, id, SystemTime::now())
                        .await
                        .expect("reclaim")
                    {
                        reclaimed.fetch_add(1, Ordering::Relaxed);
                    }
                    // at uneven moments, so that it also strikes between an upload and its record
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    tokio::time::sleep(Duration::from_micros(n >> 53)).await;
                }
            })
        };
        let mut conn = db.conn().await.expect("connection");
        let (mut recorded, mut lost) = (0, 0);
        for round in 0..300 {
            let put = store.put(body(&bytes), 1 << 20).await.expect("put");
            let quota = files::Quota {
                user_bytes: u64::MAX,
                instance_bytes: 0,
            };
            let files::Recorded::File(row) = files::record(
                &mut conn,
                &store,
                files::NewFile {
                    channel,
                    uploader: user,
                    blob: put.id,
                    size: put.size,
                    meta: None,
                },
                quota,
            )
            .await
            .expect("record") else {
                // the reclaimer took the bytes between their placing and the record
                lost += 1;
                continue;
            };
            recorded += 1;
            // named by a row (and then by a message): the reclaimer leaves it alone
            tokio::time::sleep(Duration::from_millis(1)).await;
            assert!(
                store.open(&id).await.expect("open").is_some(),
                "round {round}: a recorded blob was deleted"
            );
            let m = NewMessage {
                id: MessageId::new(),
                sender: user,
                device,
                nonce: format!("n{round}"),
                body: Body::Text("a file".into()),
                reply_to: None,
                files: vec![row.id],
            };
            let out = messages::insert_batch(&mut conn, channel, std::slice::from_ref(&m))
                .await
                .expect("insert");
            assert!(matches!(&out[0], Inserted::Fresh(x) if x.files == vec![row.id]));
            tokio::time::sleep(Duration::from_millis(1)).await;
            assert!(
                store.open(&id).await.expect("open").is_some(),
                "round {round}: a blob a message names was deleted"
            );
            // the message deleted: its file row goes, the blob is an orphan again
            messages::delete(&mut conn, channel, m.id, user, false)
                .await
                .expect("delete");
            assert!(files::find(&mut conn, row.id)
                .await
                .expect("find")
                .is_none());
        }
        stop.store(true, Ordering::Relaxed);
        reclaimer.await.expect("reclaimer");
        let reclaimed = reclaimed.load(Ordering::Relaxed);
        println!("# {recorded} recorded, {lost} lost the race, {reclaimed} reclaimed");
        assert_eq!(recorded + lost, 300);
        assert!(recorded > 0, "some uploads were recorded");
        assert!(lost > 0, "some uploads lost the race (and were told so)");
        assert!(
            reclaimed > 0,
            "the reclaimer deleted the orphan between rounds"
        );
        // nothing names the blob now: the next pass takes it
        if store.open(&id).await.expect("open").is_some() {
            assert!(
                files::reclaim_blob(&mut conn, &store, id, SystemTime::now())
                    .await
                    .expect("reclaim")
            );
        }
        assert!(store.open(&id).await.expect("open").is_none());
    });
}
