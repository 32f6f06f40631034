//! Chatalot's actors: the registry, one actor per WebSocket session, per online user and per
//! active channel. The real-time gateway that hosts them is not built yet, so this crate holds no
//! actors so far; it exists so that the dependency direction (actors -> protocol, storage) is
//! fixed and checked from the start.
#![forbid(unsafe_code)]
