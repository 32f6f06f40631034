//! The WebSocket transport at `/api/v1/ws`: the one place that knows actix-ws. It upgrades the
//! connection, turns the incoming frames into `Inbound` items for a `SessionActor`, and runs a
//! writer task that drains the session's bounded `Outbox` into the socket.

use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::state::AppState;
use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use chatalot_actors::outbox::OutboxReceiver;
use chatalot_actors::{Control, Inbound, Outbox, SessionActor};
use chatalot_protocol::ws::limits::MAX_FRAME_BYTES;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts unauthenticated sockets per client address.
#[derive(Clone, Default)]
pub struct PreAuthCounter {
    inner: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One unauthenticated socket; released when dropped (on authentication or close).
pub struct PreAuthSlot {
    counter: PreAuthCounter,
    ip: IpAddr,
}

impl PreAuthCounter {
    /// A slot for `ip`, unless it already holds `cap`.
    pub fn acquire(&self, ip: IpAddr, cap: usize) -> Option<PreAuthSlot> {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(PreAuthSlot {
            counter: self.clone(),
            ip,
        })
    }
}

impl Drop for PreAuthSlot {
    fn drop(&mut self) {
        let mut map = self.counter.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// `GET /api/v1/ws`: upgrades to a WebSocket speaking the protocol of `docs/protocol.md`.
pub async fn get_ws(
    req: HttpRequest,
    body: Payload,
    state: Data<AppState>,
    client: ClientInfo,
) -> Result<HttpResponse, ApiError> {
    let cap = state.config.realtime.unauthenticated_per_ip;
    let slot = state
        .pre_auth
        .acquire(client.ip, cap)
        .ok_or_else(|| ApiError::rate_limited(5))?;
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::invalid(format!("not a WebSocket upgrade: {e}")))?;
    let stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES)
        .filter_map(|item| {
            std::future::ready(match item {
                Ok(AggregatedMessage::Text(t)) => Some(Inbound::Text(t)),
                Ok(AggregatedMessage::Binary(_)) => Some(Inbound::Binary),
                Ok(AggregatedMessage::Ping(b)) => Some(Inbound::Ping(b.to_vec())),
                Ok(AggregatedMessage::Pong(_)) => Some(Inbound::Heartbeat),
                Ok(AggregatedMessage::Close(_)) => Some(Inbound::Closed),
                Err(actix_ws::ProtocolError::Overflow) => Some(Inbound::TooLarge),
                Err(_) => Some(Inbound::Closed),
            })
        });
    let (outbox, rx) = Outbox::new(state.config.realtime.outbox_frames);
    actix_web::rt::spawn(write(session, rx));
    SessionActor::start(state.hub.clone(), outbox, stream, Some(Box::new(slot)));
    Ok(response)
}

/// Drains the outbox into the socket until the session ends or the peer goes away.
async fn write(mut session: actix_ws::Session, mut rx: OutboxReceiver) {
    loop {
        tokio::select! {
            biased;
            control = rx.control.recv() => match control {
                Some(Control::Ping) => {
                    if session.ping(b"").await.is_err() {
                        return;
                    }
                }
                Some(Control::Pong(data)) => {
                    if session.pong(&data).await.is_err() {
                        return;
                    }
                }
                Some(Control::Close { code, reason }) => {
                    // flush what is already queued (the reason for closing, usually) first
                    while let Ok(frame) = rx.frames.try_recv() {
                        if session.text(frame).await.is_err() {
                            return;
                        }
                    }
                    let reason = CloseReason {
                        code: CloseCode::from(code),
                        description: (!reason.is_empty()).then_some(reason),
                    };
                    let _ = session.close(Some(reason)).await;
                    return;
                }
                None => {
                    let _ = session.close(None).await;
                    return;
                }
            },
            frame = rx.frames.recv() => match frame {
                Some(text) => {
                    if session.text(text).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = session.close(None).await;
                    return;
                }
            },
        }
    }
}
