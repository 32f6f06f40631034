//! `storage::messages::insert_batch` against the real PostgreSQL: consecutive sequence numbers
//! with no holes, and one stored message per (sender, nonce) also when batches race.
use crate::common::TestServer;
use chatalot_protocol::ids::{ChannelId, DeviceId, MessageId, UserId};
use chatalot_storage::messages::{self, Body, Inserted, NewMessage};
use chatalot_storage::Db;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// A server's database with one channel and its owner's user and device.
pub(crate) fn setup() -> (TestServer, Db, ChannelId, UserId, DeviceId) {
    let s = TestServer::start();
    let (alice, body) = s.register("alice");
    let r = alice.post(
        "/api/v1/communities",
        &json!({"name": "Storage", "visibility": "private", "e2e": false}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let uuid = |v: &serde_json::Value| uuid::Uuid::parse_str(v.as_str().expect("id")).expect("id");
    let channel = ChannelId(uuid(
        &alice.get("/api/v1/channels").body["channels"][0]["id"],
    ));
    let user = UserId(uuid(&body["user"]["id"]));
    let device = DeviceId(uuid(&body["device_id"]));
    let url = s.config.database.url.clone().expect("database url");
    let db = Db::new(&url, 8, Duration::from_secs(5)).expect("pool");
    (s, db, channel, user, device)
}

fn message(user: UserId, device: DeviceId, nonce: &str) -> NewMessage {
    NewMessage {
        id: MessageId::new(),
        sender: user,
        device,
        nonce: nonce.to_owned(),
        body: Body::Text(format!("text of {nonce}")),
        reply_to: None,
        files: Vec::new(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn batches_take_consecutive_sequences_and_repeat_nonces_answer_the_first_message() {
    let (_s, db, channel, user, device) = setup();
    runtime().block_on(async {
        let mut conn = db.conn().await.expect("connection");
        let first: Vec<NewMessage> = ["a", "b", "a", "c"]
            .iter()
            .map(|n| message(user, device, n))
            .collect();
        let out = messages::insert_batch(&mut conn, channel, &first)
            .await
            .expect("stored");
        let seqs: Vec<(bool, i64)> = out
            .iter()
            .map(|r| match r {
                Inserted::Fresh(m) => (true, m.seq),
                Inserted::Duplicate(m) => (false, m.seq),
                Inserted::UnknownReply | Inserted::UnknownFile(_) => panic!("no replies here"),
            })
            .collect();
        // the repeated nonce within one batch is the same message
        assert_eq!(seqs, vec![(true, 1), (true, 2), (false, 1), (true, 3)]);
        // a later batch: old nonces are duplicates, new ones continue the sequence
        let second: Vec<NewMessage> = ["c", "d", "e"]
            .iter()
            .map(|n| message(user, device, n))
            .collect();
        let out = messages::insert_batch(&mut conn, channel, &second)
            .await
            .expect("stored");
        let seqs: Vec<i64> = out
            .iter()
            .map(|r| match r {
                Inserted::Fresh(m) | Inserted::Duplicate(m) => m.seq,
                Inserted::UnknownReply | Inserted::UnknownFile(_) => panic!("no replies here"),
            })
            .collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert!(matches!(out[0], Inserted::Duplicate(_)));
        // an unknown reply stores nothing and takes no sequence number
        let mut orphan = message(user, device, "f");
        orphan.reply_to = Some(MessageId::new());
        let out = messages::insert_batch(&mut conn, channel, &[orphan, message(user, device, "g")])
            .await
            .expect("stored");
        assert!(matches!(out[0], Inserted::UnknownReply));
        assert!(matches!(&out[1], Inserted::Fresh(m) if m.seq == 6));
        let page = messages::changes(&mut conn, channel, 0, 100, 100)
            .await
            .expect("read");
        let stored: Vec<i64> = page.iter().map(|m| m.seq).collect();
        assert_eq!(stored, (1..=6).collect::<Vec<i64>>());
    });
}

#[test]
fn racing_batches_store_each_nonce_once_with_contiguous_sequences() {
    let (_s, db, channel, user, device) = setup();
    runtime().block_on(async {
        // eight writers at once, each sending nonces 0..40 of which half are shared by all
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut conn = db.conn().await.expect("connection");
                    let mut acked = Vec::new();
                    for round in 0..4 {
                        let batch: Vec<NewMessage> = (0..10)
                            .map(|i| {
                                let n = round * 10 + i;
                                let nonce = if n % 2 == 0 {
                                    format!("shared-{n}")
                                } else {
                                    format!("own-{w}-{n}")
                                };
                                message(user, device, &nonce)
                            })
                            .collect();
                        let out = messages::insert_batch(&mut conn, channel, &batch)
                            .await
                            .expect("a racing batch is stored, not refused");
                        for (m, r) in batch.iter().zip(out) {
                            match r {
                                Inserted::Fresh(s) | Inserted::Duplicate(s) => {
                                    acked.push((m.nonce.clone(), s.id, s.seq))
                                }
                                Inserted::UnknownReply | Inserted::UnknownFile(_) => {
                                    panic!("no replies here")
                                }
                            }
                        }
                    }
                    acked
                })
            })
            .collect();
        let mut by_nonce: HashMap<String, (MessageId, i64)> = HashMap::new();
        for w in writers {
            for (nonce, id, seq) in w.await.expect("writer") {
                let first = by_nonce.entry(nonce.clone()).or_insert((id, seq));
                assert_eq!(*first, (id, seq), "{nonce} acknowledged as two messages");
            }
        }
        // 20 shared nonces and 8 × 20 own ones, each stored once, numbered 1..=n
        assert_eq!(by_nonce.len(), 20 + 8 * 20);
        let mut conn = db.conn().await.expect("connection");
        let stored = messages::changes(&mut conn, channel, 0, 10_000, 1_000)
            .await
            .expect("read");
        let seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=by_nonce.len() as i64).collect::<Vec<i64>>());
        let mut acked_seqs: Vec<i64> = by_nonce.values().map(|(_, s)| *s).collect();
        acked_seqs.sort_unstable();
        assert_eq!(
            acked_seqs, seqs,
            "every acknowledgement names a stored message"
        );
    });
}
