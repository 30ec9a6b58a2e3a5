//! Headless `stats`: one poll of the server's Pub/Sub and Streams figures.

use std::io::Write as _;

use anyhow::{anyhow, Result};

use super::write_stdout;
use base64::Engine as _;
use chrono::SecondsFormat;

use crate::cli::StatsArgs;
use crate::redis::conn::Target;
use std::sync::Arc;

use crate::redis::poller::cluster::poll_route;
use crate::redis::poller::{poll_pubsub, ChannelKind, PollError, PubSubSnapshot};
use crate::redis::route::{Pool, Route};
use crate::redis::streams::{ScanProgress, StreamsSnapshot};
use crate::text::escape::{escape_line, escape_str};

mod stream_report;
pub use stream_report::{
    collect_cluster_streams, collect_streams, fmt_count, fmt_lag, format_streams_table,
    ConsumerJson, GroupJson, ProblemJson, StreamJson,
};

/// The `stats --json` document. Scripts should ignore keys they do not know: more
/// sections may be added next to `channels` and `streams`.
#[derive(Debug, serde::Serialize)]
pub struct StatsDocument {
    /// The target as displayed everywhere: never contains the password.
    pub server: String,
    /// RFC 3339, UTC.
    pub taken_at: String,
    pub took_ms: f64,
    /// Pattern subscriptions (PUBSUB NUMPAT).
    pub numpat: i64,
    /// False on servers without sharded Pub/Sub (before Redis 7.0).
    pub shard_channels_supported: bool,
    pub channels: Vec<ChannelJson>,
    /// Every stream found (or named), sorted by key. Empty when streams could not be read
    /// (`streams_error` says why).
    pub streams: Vec<StreamJson>,
    /// How complete `streams` is: discovery progress, with a note when a cap was hit.
    pub streams_scan: ScanProgress,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams_problems: Vec<ProblemJson>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams_warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams_error: Option<String>,
    /// Cluster only: what kind of deployment this is ("cluster · 3 primaries · 3 replicas").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Cluster only: every node with its own figures; the totals above count each
    /// subscriber once (a subscriber is connected to exactly one node).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<crate::redis::poller::NodePubSub>,
}

/// A name as JSON: a real string when it is UTF-8 (JSON escaping makes control bytes
/// safe); otherwise escaped text for reading, with the exact bytes in base64.
pub(crate) fn json_name(bytes: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), None),
        Err(_) => (
            escape_line(bytes).into_owned(),
            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        ),
    }
}

#[derive(Debug, serde::Serialize)]
pub struct ChannelJson {
    /// The name as a real string when it is UTF-8 (JSON escaping makes control bytes
    /// safe); otherwise escaped text for reading, with the exact bytes in `name_b64`.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_b64: Option<String>,
    pub kind: ChannelKind,
    pub subscribers: i64,
}

impl StatsDocument {
    pub fn new(target: &Target, snapshot: &PubSubSnapshot) -> StatsDocument {
        StatsDocument {
            server: target.to_string(),
            taken_at: snapshot
                .taken_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            // Whole microseconds, so the JSON says 0.099 rather than 0.09919700000000001.
            took_ms: snapshot.took.as_micros() as f64 / 1000.0,
            numpat: snapshot.numpat,
            shard_channels_supported: snapshot.shard_supported,
            channels: snapshot
                .channels
                .iter()
                .map(|c| {
                    let (name, name_b64) = json_name(&c.name);
                    ChannelJson {
                        name,
                        name_b64,
                        kind: c.kind,
                        subscribers: c.subscribers,
                    }
                })
                .collect(),
            streams: Vec::new(),
            streams_scan: ScanProgress::default(),
            streams_problems: Vec::new(),
            streams_warnings: Vec::new(),
            streams_error: None,
            deployment: None,
            nodes: snapshot.nodes.clone(),
        }
    }

    /// Add the streams section from one streams poll (or why there is none).
    pub fn with_streams(mut self, streams: &Result<StreamsSnapshot, PollError>) -> StatsDocument {
        match streams {
            Ok(snap) => {
                self.streams = snap
                    .streams
                    .iter()
                    .map(|s| {
                        let mut j = StreamJson::new(s, snap.server_time_ms);
                        j.node = snap.stream_nodes.get(&s.key).cloned();
                        j
                    })
                    .collect();
                self.streams_scan = snap.scan.clone();
                self.streams_problems = snap
                    .problems
                    .iter()
                    .map(|p| {
                        let (key, key_b64) = json_name(&p.key);
                        ProblemJson {
                            key,
                            key_b64,
                            kind: p.kind,
                            message: p.message.clone(),
                        }
                    })
                    .collect();
                self.streams_warnings = snap.warnings.clone();
            }
            Err(e) => self.streams_error = Some(e.message.clone()),
        }
        self
    }
}

pub async fn run_stats(args: StatsArgs, route: Arc<Route>) -> Result<i32> {
    let (target, snapshot, streams) = if route.is_cluster() {
        let target = route.template().clone();
        let snapshot = poll_route(&route, &mut Pool::new())
            .await
            .map_err(|e| anyhow!("cannot read Pub/Sub stats from the cluster at {target}: {e}"))?;
        let streams = collect_cluster_streams(&route, &args.streams).await;
        (target, snapshot, streams)
    } else {
        let target = route.target(0).await?;
        let mut conn = target.command_connection().await?;
        let snapshot = poll_pubsub(&mut conn)
            .await
            .map_err(|e| anyhow!("cannot read Pub/Sub stats from {target}: {e}"))?;
        // Streams trouble (no +xinfo, no +scan) does not hide the Pub/Sub figures: it is
        // reported in the output and on stderr, and the exit status stays 0.
        let streams = collect_streams(&target, &args.streams).await;
        (target, snapshot, streams)
    };
    if let Err(e) = &streams {
        eprintln!("redtail: cannot read streams from {target}: {e}");
    }
    let mut out = Vec::new();
    if args.json {
        let mut doc = StatsDocument::new(&target, &snapshot).with_streams(&streams);
        doc.deployment = route.describe();
        crate::json::to_writer_safe(&mut out, &doc)?;
        out.push(b'\n');
    } else {
        format_table(&target, &snapshot, &mut out);
        if let Some(d) = route.describe() {
            format_nodes(&d, &snapshot, &mut out);
        }
        format_streams_table(&streams, &mut out);
    }
    write_stdout(&out)?;
    Ok(0)
}

/// A header line with the totals, then one line per channel, busiest first. Names are
/// always escaped: this output is for people, `--json` is for scripts.
pub fn format_table(target: &Target, snapshot: &PubSubSnapshot, out: &mut Vec<u8>) {
    let shard = snapshot
        .channels
        .iter()
        .filter(|c| c.kind == ChannelKind::Shard)
        .count();
    let shard_note = if snapshot.shard_supported {
        format!("{shard} shard")
    } else {
        "shard channels not supported by this server".to_string()
    };
    let _ = writeln!(
        out,
        "{target}  {}  channels: {} ({shard_note})  numpat: {}",
        snapshot.taken_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        snapshot.channels.len(),
        snapshot.numpat,
    );
    if snapshot.channels.is_empty() {
        let _ = writeln!(out, "(no channel has a subscriber)");
        return;
    }
    let mut rows: Vec<_> = snapshot.channels.iter().collect();
    rows.sort_by(|a, b| {
        b.subscribers
            .cmp(&a.subscribers)
            .then_with(|| (a.kind, &a.name).cmp(&(b.kind, &b.name)))
    });
    let _ = writeln!(out, "{:>11}  {:<7}  NAME", "SUBSCRIBERS", "KIND");
    for c in rows {
        let kind = match c.kind {
            ChannelKind::Channel => "channel",
            ChannelKind::Shard => "shard",
        };
        let _ = writeln!(
            out,
            "{:>11}  {kind:<7}  {}",
            c.subscribers,
            escape_line(&c.name)
        );
    }
}

/// The per-node lines of a cluster: role, address, slots, health and its share.
pub fn format_nodes(deployment: &str, snapshot: &PubSubSnapshot, out: &mut Vec<u8>) {
    let _ = writeln!(out, "{deployment}");
    for n in &snapshot.nodes {
        let figures = match &n.error {
            Some(e) => format!("unreadable: {}", escape_str(e)),
            None => format!(
                "channels {} ({} subs)  shard {} ({} subs)  numpat {}",
                n.channels, n.subscribers, n.shard_channels, n.shard_subscribers, n.numpat
            ),
        };
        let _ = writeln!(
            out,
            "  {:<7} {:<21} slots {:>5}  {:<8} {figures}",
            n.role.as_str(),
            escape_str(&n.addr),
            n.slots,
            escape_str(&n.health),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::poller::ChannelStat;
    use bytes::Bytes;

    fn snapshot() -> PubSubSnapshot {
        PubSubSnapshot {
            channels: vec![
                ChannelStat {
                    name: Bytes::from_static(b"a\x1b[2J"),
                    kind: ChannelKind::Channel,
                    subscribers: 1,
                },
                ChannelStat {
                    name: Bytes::from_static(b"\xff\x9b"),
                    kind: ChannelKind::Channel,
                    subscribers: 3,
                },
                ChannelStat {
                    name: Bytes::from_static(b"s"),
                    kind: ChannelKind::Shard,
                    subscribers: 2,
                },
            ],
            numpat: 4,
            shard_supported: true,
            taken_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            took: std::time::Duration::from_millis(2),
            commands_sent: 5,
            round_trips: 2,
            nodes: Default::default(),
            channel_nodes: Default::default(),
        }
    }

    fn target() -> Target {
        Target::parse_url("redis://u:hunter2@h:1").unwrap()
    }

    #[test]
    fn json_has_real_strings_and_b64_for_binary_names() {
        let doc = serde_json::to_value(StatsDocument::new(&target(), &snapshot())).unwrap();
        assert_eq!(doc["server"], "redis://u@h:1");
        assert_eq!(doc["numpat"], 4);
        assert_eq!(doc["taken_at"], "2023-11-14T22:13:20.000Z");
        let channels = doc["channels"].as_array().unwrap();
        assert_eq!(channels[0]["name"], "a\x1b[2J");
        assert!(channels[0].get("name_b64").is_none());
        assert_eq!(channels[1]["name"], "\\xff\\x9b");
        assert_eq!(channels[1]["name_b64"], "/5s=");
        assert_eq!(channels[2]["kind"], "shard");
        assert!(!doc.to_string().contains("hunter2"));
    }

    #[test]
    fn table_is_escaped_sorted_and_has_totals() {
        let mut out = Vec::new();
        format_table(&target(), &snapshot(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\x1b'), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("channels: 3 (1 shard)"), "{text}");
        assert!(lines[0].contains("numpat: 4"), "{text}");
        assert_eq!(lines[2], "          3  channel  \\xff\\x9b");
        assert_eq!(lines[3], "          2  shard    s");
        assert_eq!(lines[4], "          1  channel  a\\x1b[2J");
    }

    #[test]
    fn streams_json_keeps_nil_lag_null_with_a_marked_estimate() {
        let doc = StatsDocument::new(&target(), &snapshot())
            .with_streams(&Ok(stream_report::sample_snapshot()));
        let doc = serde_json::to_value(doc).unwrap();
        let s = &doc["streams"][0];
        assert_eq!(s["key"], "orders\\xff");
        assert_eq!(s["key_b64"], "b3JkZXJz/w==");
        assert_eq!(s["last_entry_age_ms"], 1000);
        assert_eq!(s["max_deleted_entry_id"], "1700000001500-0");
        let g = &s["groups"][0];
        assert!(g["lag"].is_null());
        assert_eq!(g["lag_estimate"], 3000);
        assert_eq!(g["lag_estimate_exact"], false);
        assert_eq!(g["lag_estimate_method"], "id-interpolation");
        assert!(g["entries_read"].is_null());
        assert_eq!(g["status"], "stalled");
        assert_eq!(g["outlook"]["kind"], "unknown");
        assert!(g["consumer_list"][0].get("inactive_ms").is_none());
        assert_eq!(g["consumer_list"][0]["name_b64"], "/2M=");
        assert_eq!(doc["streams_problems"][0]["kind"], "missing");
        assert!(doc.get("streams_error").is_none());

        let err = PollError::from_server("XINFO STREAM", "NOPERM", "no");
        let doc = StatsDocument::new(&target(), &snapshot()).with_streams(&Err(err));
        let doc = serde_json::to_value(doc).unwrap();
        assert_eq!(doc["streams"].as_array().map(Vec::len), Some(0));
        assert!(doc["streams_error"].as_str().unwrap().contains("NOPERM"));
    }
}
