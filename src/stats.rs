//! Headless `stats` (one poll of the server's Pub/Sub and Streams figures) and `publish`.

use std::io::Write as _;

use anyhow::{anyhow, Result};
use base64::Engine as _;
use chrono::SecondsFormat;

use crate::cli::{PublishArgs, StatsArgs, StreamSelect};
use crate::redis::conn::Target;
use crate::redis::poller::{poll_pubsub, ChannelKind, PollError, PubSubSnapshot};
use crate::redis::streams::{
    self, Discovery, DiscoveryConfig, GroupInfo, HealthTracker, LagMethod, Outlook, ProblemKind,
    ScanProgress, Status, StreamId, StreamInfo, StreamsSnapshot,
};
use crate::render_text::escape_line;

/// What one-shot discovery may cost: SCAN calls × COUNT ≈ 100,000 keys visited.
const STATS_SCAN_COUNT: u32 = 1000;
const STATS_MAX_SCAN_CALLS: u64 = 100;

/// The `stats --json` document. Scripts should ignore keys they do not know: more
/// sections (streams) will be added next to `channels`.
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
}

/// A name as JSON: a real string when it is UTF-8 (JSON escaping makes control bytes
/// safe); otherwise escaped text for reading, with the exact bytes in base64.
fn json_name(bytes: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), None),
        Err(_) => (
            escape_line(bytes).into_owned(),
            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        ),
    }
}

#[derive(Debug, serde::Serialize)]
pub struct StreamJson {
    pub key: String,
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
            took_ms: snapshot.took.as_secs_f64() * 1000.0,
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
        }
    }

    /// Add the streams section from one streams poll (or why there is none).
    pub fn with_streams(mut self, streams: &Result<StreamsSnapshot, PollError>) -> StatsDocument {
        match streams {
            Ok(snap) => {
                self.streams = snap
                    .streams
                    .iter()
                    .map(|s| StreamJson::new(s, snap.server_time_ms))
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

/// Full discovery (bounded to about 100,000 keys visited, noted in the result when the
/// cap is hit), then one streams poll. Health comes from this single sample plus what the
/// server remembers (consumer idle times, the last entry's age).
pub async fn collect_streams(
    conn: &mut redis::aio::MultiplexedConnection,
    select: &StreamSelect,
) -> Result<StreamsSnapshot, PollError> {
    let config = DiscoveryConfig {
        scan_count: STATS_SCAN_COUNT,
        max_steps_per_poll: usize::MAX,
        max_scan_calls_per_pass: Some(STATS_MAX_SCAN_CALLS),
        ..DiscoveryConfig::default()
    };
    let keys = select
        .stream_keys
        .iter()
        .map(|k| bytes::Bytes::from(k.clone().into_bytes()))
        .collect();
    let mut discovery = Discovery::new(select.stream_globs.clone(), keys, config);
    let mut tracker = HealthTracker::default();
    streams::poll_once(conn, &mut discovery, &mut tracker).await
}

pub async fn run_stats(args: StatsArgs, target: Target) -> Result<i32> {
    let mut conn = target.command_connection().await?;
    let snapshot = poll_pubsub(&mut conn)
        .await
        .map_err(|e| anyhow!("cannot read Pub/Sub stats from {target}: {e}"))?;
    // Streams trouble (no +xinfo, no +scan) does not hide the Pub/Sub figures: it is
    // reported in the output and on stderr, and the exit status stays 0.
    let streams = collect_streams(&mut conn, &args.streams).await;
    if let Err(e) = &streams {
        eprintln!("redtail: cannot read streams from {target}: {e}");
    }
    let mut out = Vec::new();
    if args.json {
        let doc = StatsDocument::new(&target, &snapshot).with_streams(&streams);
        serde_json::to_writer(&mut out, &doc)?;
        out.push(b'\n');
    } else {
        format_table(&target, &snapshot, &mut out);
        format_streams_table(&streams, &mut out);
    }
    write_stdout(&out)?;
    Ok(0)
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
        let last = s
            .last_entry_age_ms(snap.server_time_ms)
            .map_or_else(|| "-".to_string(), |ms| format!("{} ago", fmt_age(ms)));
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
            "    {:<8} {:>9}  {:>7}  {:>9}  {:>9}  GROUP",
            "STATUS", "LAG", "PENDING", "CONSUMERS", "TIME LAG"
        );
        for g in &s.groups {
            let time_lag = g.time_lag_ms.map_or_else(|| "n/a".to_string(), fmt_age);
            let _ = writeln!(
                out,
                "    {:<8} {:>9}  {:>7}  {:>9}  {time_lag:>9}  {}",
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

pub fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `850ms`, `12s`, `5m03s`, `2h05m`, `3d04h`.
pub fn fmt_age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
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

pub async fn run_publish(args: PublishArgs, target: Target) -> Result<i32> {
    let mut conn = target.command_connection().await?;
    let command = if args.shard { "SPUBLISH" } else { "PUBLISH" };
    let receivers: i64 = redis::cmd(command)
        .arg(args.channel.as_bytes())
        .arg(args.payload.as_bytes())
        .query_async(&mut conn)
        .await
        .map_err(|e| anyhow!("{}", PollError::from_redis(command, &e)))?;
    write_stdout(format!("{receivers}\n").as_bytes())?;
    if receivers == 0 {
        eprintln!(
            "redtail: nobody was listening — the message is gone (Pub/Sub keeps nothing \
             for absent subscribers; use a stream if it must be kept)"
        );
    }
    Ok(0)
}

/// A closed pipe (`redtail stats | head -1`) is not an error worth reporting.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow!("cannot write to standard output: {e}"))
        }
        _ => Ok(()),
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
}
