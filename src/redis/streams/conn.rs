//! The streams poller's connections to one server: redis-rs for discovery (SCAN, DBSIZE)
//! and the doctor's reads, and a raw socket for the poll's big pipelined rounds, whose
//! replies are parsed from bytes straight into our structs ([`super::raw`]) instead of
//! through `redis::Value` trees (most of a 1,000-stream poll's client CPU was building
//! and freeing those).

use redis::aio::MultiplexedConnection;

use crate::redis::conn::Target;
use crate::redis::wire::RawConn;

/// The name the raw poll connection gives itself (`CLIENT LIST`).
pub const RAW_CLIENT_NAME: &str = "redtail-streams";

pub struct StreamsConn {
    /// Discovery and anything else read through redis-rs.
    pub cmd: MultiplexedConnection,
    /// The poll's rounds (TIME, XINFO, XRANGE).
    pub(crate) raw: RawConn,
}

impl StreamsConn {
    /// Both connections to `target`, logged in with the same credentials, TLS settings
    /// and database; the first refusal is the error.
    pub async fn open(target: &Target) -> anyhow::Result<StreamsConn> {
        let cmd = target.command_connection().await?;
        let raw = RawConn::open(target, RAW_CLIENT_NAME).await?;
        Ok(StreamsConn { cmd, raw })
    }
}
