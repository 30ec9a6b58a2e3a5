//! Everything that talks to Redis. No UI imports here: the TUI, the headless commands and
//! the tests all drive this same engine.

pub mod actions;
pub mod backoff;
pub mod clients;
pub mod cluster;
pub mod conn;
pub mod doctor;
pub mod error;
pub mod inbox;
pub mod keyspace;
pub mod message;
pub mod pending;
mod per_node;
pub mod poller;
pub mod reply;
pub mod resp;
pub mod route;
pub mod sentinel;
pub mod stream_tail;
pub mod streams;
pub mod subscriber;
pub mod target;
pub mod tls;
pub mod url;
pub mod wire;
