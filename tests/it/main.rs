//! Every integration test in one binary: one link of the crate instead of one per file,
//! and one harness (`common`): real servers on free loopback ports, a pseudo-terminal
//! driver, and the snapshot helpers.

mod common;

mod cluster;
mod cluster_failover;
mod cluster_harness;
mod config;
mod connect_timeout;
mod decode;
mod decode_proto;
mod decode_trust;
mod demo_pty;
mod doctor_cluster;
mod error_text;
mod keyspace;
mod keyspace_tui;
mod marks;
mod pending;
mod pending_pty;
mod problems_pty;
mod replay;
mod sentinel;
mod snapshots_channels;
mod snapshots_decode;
mod snapshots_feed;
mod snapshots_pending;
mod snapshots_problems;
mod snapshots_streams;
mod stats;
mod stream_tail;
mod streams;
mod tail;
mod tls;
mod tui_pty;
