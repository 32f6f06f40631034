//! The WebSocket transport at `/api/v1/ws`: the one place that knows actix-ws. It upgrades the
//! connection, turns the incoming frames into `Inbound` items for a `SessionActor`, and gives
//! the HTTP layer a response body that takes frames from the session's `Outbox` only as fast
//! as the socket accepts them.
//!
//! Memory per connection is therefore bounded by the outbox (in frames and bytes) and the HTTP
//! layer's write buffer: nothing sits in between. When the socket is gone the body is dropped,
//! which ends the incoming stream, so the session lives exactly as long as its socket (and
//! counts towards its user's connections until then).

use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::state::AppState;
use actix_codec::Encoder;
use actix_http::ws::{CloseCode, CloseReason, Codec, Message};
use actix_web::body::{BodyStream, BoxBody};
use actix_web::web::{Bytes, BytesMut, Data, Payload};
use actix_web::{HttpRequest, HttpResponse};
use actix_ws::AggregatedMessage;
use chatalot_actors::outbox::{Next, OutboxReceiver};
use chatalot_actors::{Control, Inbound, Outbox, SessionActor};
use chatalot_protocol::ws::limits::MAX_FRAME_BYTES;
use futures_util::StreamExt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Bytes encoded into one chunk of the response body at most.
const CHUNK: usize = 64 * 1024;

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
        .acquire(client.net, cap)
        .ok_or_else(|| ApiError::rate_limited(5))?;
    // actix-ws parses the incoming frames; its own writer is not used (see `Outbound`)
    let (response, _session, stream) = actix_ws::handle(&req, body)
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
    let rt = &state.config.realtime;
    let (outbox, rx) = Outbox::new(rt.outbox_frames, rt.outbox_bytes);
    let (response, incoming_alive) = response.into_parts();
    let outbound = Outbound {
        rx,
        codec: Codec::new(),
        buf: BytesMut::new(),
        done: false,
        _incoming_alive: incoming_alive,
    };
    SessionActor::start(state.hub.clone(), outbox, stream, Some(Box::new(slot)));
    Ok(response.set_body(BoxBody::new(BodyStream::new(outbound))))
}

/// The response body of a WebSocket: frames taken from the outbox and encoded, one chunk at a
/// time, when the HTTP layer asks for more (that is, when the socket has taken the previous
/// chunk). It ends after the close frame, or when the session is gone.
struct Outbound {
    rx: OutboxReceiver,
    codec: Codec,
    buf: BytesMut,
    done: bool,
    /// actix-ws's own body, never polled: dropping it tells actix-ws's incoming stream that the
    /// connection is closed, so it is dropped with this body, when the socket is gone.
    _incoming_alive: BoxBody,
}

impl futures_util::Stream for Outbound {
    type Item = Result<Bytes, actix_http::ws::ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        while !this.done && this.buf.len() < CHUNK {
            let message = match this.rx.poll_next(cx) {
                Poll::Pending => break,
                Poll::Ready(Next::Frame(text)) => Message::Text(text),
                Poll::Ready(Next::Control(Control::Ping)) => Message::Ping(Bytes::new()),
                Poll::Ready(Next::Control(Control::Pong(data))) => Message::Pong(data.into()),
                Poll::Ready(Next::Close(why)) => {
                    this.done = true;
                    Message::Close(Some(CloseReason {
                        code: CloseCode::from(why.code()),
                        description: (!why.text().is_empty()).then(|| why.text().to_owned()),
                    }))
                }
                Poll::Ready(Next::Ended) => {
                    this.done = true;
                    Message::Close(None)
                }
            };
            if let Err(e) = this.codec.encode(message, &mut this.buf) {
                return Poll::Ready(Some(Err(e)));
            }
        }
        if !this.buf.is_empty() {
            return Poll::Ready(Some(Ok(this.buf.split().freeze())));
        }
        if this.done {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}
