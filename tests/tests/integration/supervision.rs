//! The registry supervises the user and channel actors: one that panics is restarted with its
//! state loaded from storage, and the connections that used it are told to resubscribe
//! (close 4012) and find everything acknowledged. The actors run here over the test server's
//! database, driven by sessions whose socket is a pair of queues.
use crate::common::TestServer;
use chatalot_actors::registry::{Child, GetChannels, InjectFault, Realtime};
use chatalot_actors::testing::QueueSocket;
use chatalot_actors::{Authenticator, Claims, RealtimeConfig};
use chatalot_protocol::ids::{ChannelId, DeviceId, SessionId, UserId};
use chatalot_protocol::ws::CloseReason;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Accepts one token, for one user's session.
struct OneToken(Claims);

impl Authenticator for OneToken {
    fn verify(&self, token: &str) -> Option<Claims> {
        (token == "token").then_some(self.0)
    }
    fn is_revoked(&self, _: SessionId) -> bool {
        false
    }
}

#[test]
fn crashed_channel_and_user_actors_are_restarted_and_their_connections_resync() {
    let s = TestServer::start();
    let (alice, body) = s.register("alice");
    let r = alice.post(
        "/api/v1/communities",
        &json!({"name": "Crash site", "visibility": "public", "e2e": false}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let channel: ChannelId =
        serde_json::from_value(alice.get("/api/v1/channels").body["channels"][0]["id"].clone())
            .expect("channel id");
    let id = |key: &str| uuid::Uuid::parse_str(body[key].as_str().expect(key)).expect(key);
    let claims = Claims {
        user_id: UserId(
            uuid::Uuid::parse_str(body["user"]["id"].as_str().expect("id")).expect("id"),
        ),
        device_id: DeviceId(id("device_id")),
        session_id: SessionId(id("session_id")),
        expires_at: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    let url = s.config.database.url.clone().expect("database url");

    actix_rt::System::new().block_on(async move {
        let db = chatalot_storage::Db::new(&url, 4, Duration::from_secs(5)).expect("pool");
        let rt = Realtime::start(db, Arc::new(OneToken(claims)), RealtimeConfig::default());
        let restarts = || chatalot_actors::stats::stats().actor_restarts.load(Ordering::Relaxed);
        let subscribe = |c: &QueueSocket, after: Option<i64>| {
            c.send(json!({"type": "subscribe", "channels": [{"channel_id": channel, "after_seq": after}]}))
        };

        let mut a = QueueSocket::open(&rt.hub);
        a.send(json!({"type": "authenticate", "token": "token"}));
        a.frame_of("ready").await;
        subscribe(&a, None);
        a.frame_of("subscribed").await;
        a.send(json!({"type": "send_message", "channel_id": channel, "nonce": "n1",
            "content": {"kind": "text", "text": "before the fault"}}));
        assert_eq!(a.frame_of("message_acked").await["seq"], 1);

        // the channel's actor panics: its subscriber is told to resubscribe, and a fresh actor
        // with the channel's state from storage takes its place
        let old = rt
            .registry
            .send(GetChannels { channel_ids: vec![channel] })
            .await
            .expect("registry")
            .remove(0);
        rt.registry.do_send(InjectFault(Child::Channel(channel)));
        let (frames, why) = a.until_close().await;
        assert_eq!(why, CloseReason::Restarted);
        assert_eq!(frames.last().expect("closing")["reason"], why.text());
        assert_eq!(CloseReason::Restarted.code(), 4012);
        // the registry's restart is queued behind the fault report: ask until it is in
        let mut new = old.clone();
        for _ in 0..50 {
            new = rt
                .registry
                .send(GetChannels { channel_ids: vec![channel] })
                .await
                .expect("registry")
                .remove(0);
            if new != old {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(new != old && new.connected() && !old.connected());
        assert_eq!(restarts(), 1);

        // resubscribing from the cursor held finds what was acknowledged, and the sequence
        // goes on where it was
        let mut b = QueueSocket::open(&rt.hub);
        b.send(json!({"type": "authenticate", "token": "token"}));
        b.frame_of("ready").await;
        subscribe(&b, Some(0));
        let created = b.frame_of("message_created").await;
        assert_eq!(created["message"]["seq"], 1);
        assert_eq!(created["message"]["content"]["text"], "before the fault");
        assert_eq!(b.frame_of("subscribed").await["last_seq"], 1);
        b.send(json!({"type": "send_message", "channel_id": channel, "nonce": "n2",
            "content": {"kind": "text", "text": "after the fault"}}));
        assert_eq!(b.frame_of("message_acked").await["seq"], 2);

        // the user's actor panics: the user's connections are closed the same way, and the
        // next connection joins a fresh actor
        rt.registry.do_send(InjectFault(Child::User(claims.user_id)));
        assert_eq!(b.until_close().await.1, CloseReason::Restarted);
        let mut c = QueueSocket::open(&rt.hub);
        c.send(json!({"type": "authenticate", "token": "token"}));
        let ready = c.frame_of("ready").await;
        assert_eq!(ready["user_id"], json!(claims.user_id));
        subscribe(&c, Some(1));
        let created = c.frame_of("message_created").await;
        assert_eq!(created["message"]["content"]["text"], "after the fault");
        assert_eq!(restarts(), 2);
        rt.stop();
    });
}
