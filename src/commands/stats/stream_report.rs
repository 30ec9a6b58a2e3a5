//! The streams section of `stats`: JSON objects per stream / group / consumer, the
//! table lines, and the one-shot collection behind them.

use std::io::Write as _;

use crate::cli::StreamSelect;
use crate::redis::poller::PollError;
use crate::redis::streams::{
    self, Discovery, DiscoveryConfig, GroupInfo, HealthTracker, LagMethod, Outlook, ProblemKind,
    Status, StreamId, StreamInfo, StreamsSnapshot,
};
use crate::text::escape::escape_line;

use super::json_name;

/// What one-shot discovery may cost: SCAN calls × COUNT ≈ 100,000 keys visited.
const STATS_SCAN_COUNT: u32 = 1000;
const STATS_MAX_SCAN_CALLS: u64 = 100;

#[derive(Debug, serde::Serialize)]
pub struct StreamJson {
    pub key: String,
    /// Cluster only: the node (address) that holds the stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_b64: Option<String>,
    pub length: u64,
    pub first_entry_id: Option<StreamId>,
    /// Age of the id's time part at the server's clock.
    pub first_entry_age_ms: Option<u64>,
    pub last_entry_id: Option<StreamId>,
    pub last_entry_age_ms: Option<u64>,
    pub last_generated_id: StreamId,
    /// Null on servers before 7.0.
    pub entries_added: Option<u64>,
    pub max_deleted_entry_id: Option<StreamId>,
    pub recorded_first_entry_id: Option<StreamId>,
    /// As XINFO STREAM reports it.
    pub groups_count: u64,
    /// Entries/s; null from a single poll.
    pub append_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups_error: Option<String>,
    pub groups: Vec<GroupJson>,
}

#[derive(Debug, serde::Serialize)]
pub struct GroupJson {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_b64: Option<String>,
    pub consumers: u64,
    pub pending: u64,
    pub last_delivered_id: StreamId,
    pub entries_read: Option<u64>,
    /// Exactly as the server said: a number, or null (nil, or a server before 7.0).
    pub lag: Option<u64>,
    /// Present exactly when `lag` is null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_estimate: Option<u64>,
    /// True when `lag_estimate` is a count rather than an estimate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_estimate_exact: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_estimate_method: Option<LagMethod>,
    pub oldest_undelivered_id: Option<StreamId>,
    /// Age of the oldest undelivered entry: 0 when none.
    pub time_lag_ms: Option<u64>,
    /// Entries/s; null from a single poll.
    pub consume_rate: Option<f64>,
    pub outlook: Outlook,
    pub status: Status,
    pub status_reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumers_error: Option<String>,
    pub consumer_list: Vec<ConsumerJson>,
}

#[derive(Debug, serde::Serialize)]
pub struct ConsumerJson {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_b64: Option<String>,
    pub pending: u64,
    pub idle_ms: u64,
    /// Only from servers that report it (Redis 7.2+, Valkey 8); -1 = never read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_ms: Option<i64>,
    /// Holds pending entries and idle far longer than its peers.
    pub flagged: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct ProblemJson {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_b64: Option<String>,
    pub kind: ProblemKind,
    pub message: String,
}

impl StreamJson {
    pub fn new(s: &StreamInfo, server_time_ms: i64) -> StreamJson {
        let (key, key_b64) = json_name(&s.key);
        StreamJson {
            key,
            node: None,
            key_b64,
            length: s.length,
            first_entry_id: s.first_entry_id,
            first_entry_age_ms: s.first_entry_age_ms(server_time_ms),
            last_entry_id: s.last_entry_id,
            last_entry_age_ms: s.last_entry_age_ms(server_time_ms),
            last_generated_id: s.last_generated_id,
            entries_added: s.entries_added,
            max_deleted_entry_id: s.max_deleted_entry_id,
            recorded_first_entry_id: s.recorded_first_entry_id,
            groups_count: s.groups_count,
            append_rate: s.append_rate,
            groups_error: s.groups_error.clone(),
            groups: s.groups.iter().map(GroupJson::new).collect(),
        }
    }
}

impl GroupJson {
    pub fn new(g: &GroupInfo) -> GroupJson {
        let (name, name_b64) = json_name(&g.name);
        GroupJson {
            name,
            name_b64,
            consumers: g.consumers,
            pending: g.pending,
            last_delivered_id: g.last_delivered_id,
            entries_read: g.entries_read,
            lag: g.lag(),
            lag_estimate: g.lag_estimate.map(|e| e.value),
            lag_estimate_exact: g.lag_estimate.map(|e| e.exact),
            lag_estimate_method: g.lag_estimate.map(|e| e.method),
            oldest_undelivered_id: g.oldest_undelivered_id,
            time_lag_ms: g.time_lag_ms,
            consume_rate: g.health.consume_rate,
            outlook: g.health.outlook,
            status: g.health.status,
            status_reason: g.health.reason.clone(),
            consumers_error: g.consumers_error.clone(),
            consumer_list: g
                .consumer_list
                .iter()
                .map(|c| {
                    let (name, name_b64) = json_name(&c.name);
                    ConsumerJson {
                        name,
                        name_b64,
                        pending: c.pending,
                        idle_ms: c.idle_ms,
                        inactive_ms: c.inactive_ms,
                        flagged: c.flagged,
                    }
                })
                .collect(),
        }
    }
}

/// Full discovery (bounded to about 100,000 keys visited, noted in the result when the
/// cap is hit), then one streams poll. Health comes from this single sample plus what the
/// server remembers (consumer idle times, the last entry's age).
/// Streams from every serving primary of a cluster, each remembered with its node.
pub async fn collect_cluster_streams(
    route: &crate::redis::route::Route,
    select: &StreamSelect,
) -> Result<StreamsSnapshot, PollError> {
    let keys = select.key_names();
    let mut cluster = crate::redis::streams::cluster::ClusterStreams::new(
        select.stream_globs.clone(),
        keys,
        stats_discovery(),
    );
    let mut tracker = HealthTracker::default();
    cluster.poll(route, true, Some(&mut tracker)).await
}

fn stats_discovery() -> DiscoveryConfig {
    DiscoveryConfig {
        scan_count: STATS_SCAN_COUNT,
        max_steps_per_poll: usize::MAX,
        max_scan_calls_per_pass: Some(STATS_MAX_SCAN_CALLS),
        ..DiscoveryConfig::default()
    }
}

pub async fn collect_streams(
    target: &crate::redis::conn::Target,
    select: &StreamSelect,
) -> Result<StreamsSnapshot, PollError> {
    // The poll's own connections (its rounds are read from a raw socket).
    let mut conn = streams::StreamsConn::open(target)
        .await
        .map_err(|e| PollError {
            command: "connect".into(),
            kind: crate::redis::error::PollErrorKind::Connection,
            message: format!("{e:#}"),
        })?;
    let conn = &mut conn;
    let keys = select.key_names();
    let mut discovery = Discovery::new(select.stream_globs.clone(), keys, stats_discovery());
    let mut tracker = HealthTracker::default();
    streams::poll_once(conn, &mut discovery, &mut tracker).await
}

/// The streams section of the table: one line per stream, then one per group with its
/// status, lag (`≈` marks an estimate), pending, consumers and time lag. Names are
/// escaped and come last on each line, since they can be any length.
pub fn format_streams_table(streams: &Result<StreamsSnapshot, PollError>, out: &mut Vec<u8>) {
    let snap = match streams {
        Ok(snap) => snap,
        Err(e) => {
            let _ = writeln!(out, "streams: cannot read them: {e}");
            return;
        }
    };
    let scan = if snap.scan.complete {
        "discovery complete".to_string()
    } else {
        "discovery incomplete".to_string()
    };
    let _ = writeln!(out, "streams: {} ({scan})", snap.streams.len());
    if let Some(note) = &snap.scan.note {
        let _ = writeln!(out, "note: {note}");
    }
    for w in &snap.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for p in &snap.problems {
        let _ = writeln!(out, "! {}", p.message);
    }
    if snap.streams.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{:>10}  {:>6}  {:>13}  STREAM",
        "LENGTH", "GROUPS", "LAST ENTRY"
    );
    for s in &snap.streams {
        let last = s.last_entry_age_ms(snap.server_time_ms).map_or_else(
            || "-".to_string(),
            |ms| format!("{} ago", crate::text::duration_ms(ms)),
        );
        let _ = writeln!(
            out,
            "{:>10}  {:>6}  {last:>13}  {}",
            fmt_count(s.length),
            s.groups_count,
            escape_line(&s.key)
        );
        if let Some(e) = &s.groups_error {
            let _ = writeln!(out, "    ! {e}");
        }
        if s.groups.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "    {:<14} {:>9}  {:>7}  {:>9}  {:>9}  GROUP",
            "STATUS", "LAG", "PENDING", "CONSUMERS", "TIME LAG"
        );
        for g in &s.groups {
            let time_lag = g
                .time_lag_ms
                .map_or_else(|| "n/a".to_string(), crate::text::duration_ms);
            let _ = writeln!(
                out,
                "    {:<14} {:>9}  {:>7}  {:>9}  {time_lag:>9}  {}",
                g.health.status.as_str(),
                fmt_lag(g),
                fmt_count(g.pending),
                g.consumers,
                escape_line(&g.name)
            );
        }
    }
}

/// `1,204`; an estimate as `≈1,204`; unknown as `n/a` (never 0 or blank).
pub fn fmt_lag(g: &GroupInfo) -> String {
    match (g.lag(), g.lag_estimate) {
        (Some(n), _) => fmt_count(n),
        (None, Some(e)) if e.exact => fmt_count(e.value),
        (None, Some(e)) => format!("≈{}", fmt_count(e.value)),
        (None, None) => "n/a".to_string(),
    }
}

/// 1284 → "1,284".
pub use crate::text::thousands as fmt_count;

#[cfg(test)]
pub(crate) fn sample_snapshot() -> StreamsSnapshot {
    use crate::redis::streams::ScanProgress;
    use crate::redis::streams::{
        ConsumerInfo, GroupHealth, LagEstimate, ReportedLag, StreamProblem,
    };
    use bytes::Bytes;
    let group = GroupInfo {
        name: Bytes::from_static(b"g\x1b]0;x\x07"),
        consumers: 1,
        pending: 1234,
        last_delivered_id: StreamId::new(1_700_000_000_000, 0),
        entries_read: None,
        reported_lag: ReportedLag::Nil,
        lag_estimate: Some(LagEstimate {
            value: 3000,
            exact: false,
            method: LagMethod::IdInterpolation,
        }),
        oldest_undelivered_id: Some(StreamId::new(1_700_000_001_000, 0)),
        time_lag_ms: Some(65_000),
        consumer_list: vec![ConsumerInfo {
            name: Bytes::from_static(b"\xffc"),
            pending: 1234,
            idle_ms: 10,
            inactive_ms: None,
            flagged: false,
        }],
        consumers_error: None,
        health: GroupHealth {
            status: Status::Stalled,
            reason: "lag 3000 and no consumer has read for 40s".into(),
            ..GroupHealth::default()
        },
    };
    StreamsSnapshot {
        streams: vec![StreamInfo {
            key: Bytes::from_static(b"orders\xff"),
            length: 5000,
            first_entry_id: Some(StreamId::new(1_699_999_999_000, 0)),
            last_entry_id: Some(StreamId::new(1_700_000_002_000, 0)),
            last_generated_id: StreamId::new(1_700_000_002_000, 0),
            entries_added: Some(5001),
            max_deleted_entry_id: Some(StreamId::new(1_700_000_001_500, 0)),
            recorded_first_entry_id: Some(StreamId::new(1_699_999_999_000, 0)),
            groups_count: 1,
            groups: vec![group],
            groups_error: None,
            append_rate: None,
        }],
        problems: vec![StreamProblem {
            key: Bytes::from_static(b"gone"),
            kind: ProblemKind::Missing,
            message: "gone: no such key (deleted or expired)".into(),
        }],
        warnings: Vec::new(),
        scan: ScanProgress {
            complete: true,
            ..ScanProgress::default()
        },
        server_time_ms: 1_700_000_003_000,
        taken_at: chrono::DateTime::from_timestamp(1_700_000_003, 0).unwrap_or_default(),
        took: std::time::Duration::from_millis(1),
        commands_sent: 5,
        round_trips: 2,
        stream_nodes: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_table_marks_estimates_and_escapes_names() {
        let mut out = Vec::new();
        format_streams_table(&Ok(sample_snapshot()), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\x1b'), "{text}");
        assert!(text.contains("streams: 1 (discovery complete)"), "{text}");
        assert!(text.contains("! gone: no such key"), "{text}");
        assert!(
            text.contains("     5,000       1       1.0s ago  orders\\xff"),
            "{text}"
        );
        assert!(
            text.contains(
                "    stalled           ≈3,000    1,234          1    1min05s  g\\x1b]0;x\\x07"
            ),
            "{text}"
        );
    }

    #[test]
    fn counts_and_ages_read_well() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(1000), "1,000");
        assert_eq!(fmt_count(1_234_567), "1,234,567");
    }
}
