//! Streams across a cluster: every serving primary is scanned and polled (in parallel,
//! on its own connection, with its own discovery), and the per-node snapshots are merged
//! into one, remembering which node holds each stream.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;

use super::poll::discover_fully;
use super::{
    poll_streams, Discovery, DiscoveryConfig, HealthTracker, ScanProgress, StreamsConn,
    StreamsSnapshot,
};
use crate::redis::cluster::key_slot;
use crate::redis::error::{PollError, PollErrorKind};
use crate::redis::route::Route;

/// Per-shard discovery state, keyed by the shard's first slot (stable across failovers,
/// so a promoted replica inherits what its primary's pass had found).
pub struct ClusterStreams {
    globs: Vec<String>,
    explicit: Vec<Bytes>,
    config: DiscoveryConfig,
    discoveries: BTreeMap<u16, Discovery>,
    /// Each primary's connections, by address. A poll takes its node's out and gives
    /// them back unless the connection was lost.
    conns: HashMap<String, StreamsConn>,
}

impl ClusterStreams {
    pub fn new(globs: Vec<String>, explicit: Vec<Bytes>, config: DiscoveryConfig) -> Self {
        ClusterStreams {
            globs,
            explicit,
            config,
            discoveries: BTreeMap::new(),
            conns: HashMap::new(),
        }
    }

    pub fn restart(&mut self) {
        for d in self.discoveries.values_mut() {
            d.restart();
        }
    }

    /// A shard's discovery, first time it is seen. Explicit keys are polled on the node
    /// that owns them only.
    fn new_discovery(&self, slots: &[(u16, u16)]) -> Discovery {
        let mine = self
            .explicit
            .iter()
            .filter(|k| {
                let s = key_slot(k);
                slots.iter().any(|&(a, b)| (a..=b).contains(&s))
            })
            .cloned()
            .collect();
        Discovery::new(self.globs.clone(), mine, self.config.clone())
    }

    /// One poll of every serving primary. `complete` runs each node's discovery to the
    /// end of a pass first (headless `stats`), and evaluates health from that one sample.
    pub async fn poll(
        &mut self,
        route: &Route,
        complete: bool,
        tracker: Option<&mut HealthTracker>,
    ) -> Result<StreamsSnapshot, PollError> {
        let started = Instant::now();
        let taken_at = Utc::now();
        let topo = route.topology().await.ok_or_else(|| PollError {
            command: "CLUSTER SHARDS".into(),
            kind: PollErrorKind::Connection,
            message:
                "no cluster node answered CLUSTER SHARDS: are the nodes up and reachable from here?"
                    .into(),
        })?;
        let mut tasks = tokio::task::JoinSet::new();
        let mut addrs = Vec::new();
        for node in topo.serving_primaries() {
            let shard = &topo.shards[node.shard];
            let Some(&(first_slot, _)) = shard.slots.first() else {
                continue;
            };
            let target = route.node_target(node);
            let mut discovery = self
                .discoveries
                .remove(&first_slot)
                .unwrap_or_else(|| self.new_discovery(&shard.slots));
            let addr = target.addr();
            let conn = match self.conns.remove(&addr) {
                Some(c) => Ok(c),
                None => StreamsConn::open(&target).await,
            };
            addrs.push(addr.clone());
            tasks.spawn(async move {
                let (conn, result) = poll_node(conn, complete, &mut discovery).await;
                (first_slot, addr, discovery, conn, result)
            });
        }
        let mut parts = Vec::new();
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let Ok((slot, addr, discovery, conn, result)) = joined else {
                continue;
            };
            self.discoveries.insert(slot, discovery);
            let lost = result.as_ref().is_err_and(PollError::is_connection);
            if let Some(conn) = conn.filter(|_| !lost) {
                self.conns.insert(addr.clone(), conn);
            }
            match result {
                Ok(s) => parts.push((addr, s)),
                Err(e) => {
                    if e.is_connection() {
                        route.invalidate();
                    }
                    first_error.get_or_insert(PollError {
                        message: format!("{addr}: {}", e.message),
                        ..e
                    });
                }
            }
        }
        self.conns.retain(|a, _| addrs.contains(a));
        if parts.is_empty() {
            return Err(first_error.unwrap_or_else(|| PollError {
                command: "XINFO STREAM".into(),
                kind: PollErrorKind::Connection,
                message: "no primary to poll".into(),
            }));
        }
        let mut merged = merge(parts);
        if let Some(e) = first_error {
            merged
                .warnings
                .push(format!("{} (its streams are missing)", e.message));
        }
        merged.taken_at = taken_at;
        merged.took = started.elapsed();
        if let Some(tracker) = tracker {
            let at = merged.taken_at.timestamp_millis();
            tracker.observe(&mut merged, at);
        }
        Ok(merged)
    }
}

/// One snapshot from per-node ones: streams sorted by key, each remembered with its node;
/// commands summed; round trips the longest chain (nodes run in parallel).
/// One primary's poll (after a full discovery pass when `complete`), its discovery's
/// commands and round trips counted in; the connections are handed back to be kept.
async fn poll_node(
    conn: anyhow::Result<StreamsConn>,
    complete: bool,
    discovery: &mut Discovery,
) -> (Option<StreamsConn>, Result<StreamsSnapshot, PollError>) {
    let mut c = match conn {
        Ok(c) => c,
        Err(e) => {
            let e = PollError {
                command: "connect".into(),
                kind: PollErrorKind::Connection,
                message: format!("{e:#}"),
            };
            return (None, Err(e));
        }
    };
    let result = poll_node_on(&mut c, complete, discovery).await;
    (Some(c), result)
}

async fn poll_node_on(
    c: &mut StreamsConn,
    complete: bool,
    discovery: &mut Discovery,
) -> Result<StreamsSnapshot, PollError> {
    let (commands, trips) = if complete {
        discover_fully(&mut c.cmd, discovery).await?
    } else {
        (0, 0)
    };
    let mut snapshot = poll_streams(c, discovery).await?;
    snapshot.commands_sent += commands;
    snapshot.round_trips += trips;
    Ok(snapshot)
}

fn merge(parts: Vec<(String, StreamsSnapshot)>) -> StreamsSnapshot {
    let mut out = StreamsSnapshot {
        streams: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
        scan: ScanProgress::default(),
        server_time_ms: parts.first().map_or(0, |p| p.1.server_time_ms),
        taken_at: Utc::now(),
        took: Default::default(),
        commands_sent: 0,
        round_trips: 0,
        stream_nodes: BTreeMap::new(),
    };
    let mut complete = true;
    let mut fraction: Option<f64> = None;
    let mut keyspace: Option<u64> = None;
    for (addr, s) in parts {
        for st in &s.streams {
            out.stream_nodes.insert(st.key.clone(), addr.clone());
        }
        out.streams.extend(s.streams);
        out.problems.extend(s.problems);
        for w in s.warnings {
            if !out.warnings.contains(&w) {
                out.warnings.push(w);
            }
        }
        out.commands_sent += s.commands_sent;
        out.round_trips = out.round_trips.max(s.round_trips);
        out.scan.scanning |= s.scan.scanning;
        complete &= s.scan.complete;
        out.scan.passes_completed = if out.scan.passes_completed == 0 {
            s.scan.passes_completed
        } else {
            out.scan.passes_completed.min(s.scan.passes_completed)
        };
        out.scan.scan_calls += s.scan.scan_calls;
        out.scan.streams_found += s.scan.streams_found;
        if let Some(f) = s.scan.fraction {
            fraction = Some(fraction.map_or(f, |g: f64| g.min(f)));
        }
        if let Some(k) = s.scan.keyspace_keys {
            keyspace = Some(keyspace.unwrap_or(0) + k);
        }
        if out.scan.note.is_none() {
            out.scan.note = s.scan.note;
        }
    }
    out.scan.complete = complete;
    out.scan.fraction = fraction;
    out.scan.keyspace_keys = keyspace;
    out.streams.sort_by(|a, b| a.key.cmp(&b.key));
    out.problems.sort_by(|a, b| a.key.cmp(&b.key));
    out
}
