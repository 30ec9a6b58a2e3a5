//! One poll of every tracked stream in a fixed number of round trips, whatever the number
//! of streams, groups and consumers:
//!
//! 1. (discovery, only while a SCAN pass runs: bounded, see [`super::discovery`]);
//! 2. TIME, then XINFO STREAM and XINFO GROUPS for every stream;
//! 3. XINFO CONSUMERS for every group, plus one XRANGE per group that needs it: the
//!    first undelivered entry (its id gives the time lag) or, when the server reported
//!    lag as nil, a count of undelivered entries bounded by [`LAG_COUNT_LIMIT`].
//!
//! Each round is written at once on the raw connection and its replies read as they come,
//! so a round is one round trip even with thousands of commands; the replies are parsed
//! from bytes ([`super::raw`]), never built into `redis::Value` trees.
//!
//! Nothing here scans a stream: the only reads of entries are `COUNT 1` or
//! `COUNT LAG_COUNT_LIMIT + 1`.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use redis::aio::MultiplexedConnection;

use super::health::flag_idle_consumers;
use super::info::{self, RawStream};
use super::lag::{estimate_from_count, group_info, undelivered_query};
use super::raw;
use super::{
    reply_error, stream_error, ConsumerInfo, Discovery, HealthTracker, ProblemKind, StreamInfo,
    StreamProblem, StreamsConn, StreamsSnapshot,
};
use crate::redis::error::{PollError, PollErrorKind};
use crate::redis::wire::{Commands, Replies};
use crate::text::escape::escape_line;

/// One poll: advance discovery (bounded), then read every tracked stream. Per-key
/// trouble (deleted, another type, key denied) becomes a [`StreamProblem`] and the key is
/// dropped from discovery; the poll fails only when nothing can be read at all (XINFO
/// denied for the user, connection lost).
pub async fn poll_streams(
    conn: &mut StreamsConn,
    discovery: &mut Discovery,
) -> Result<StreamsSnapshot, PollError> {
    let started = Instant::now();
    let taken_at = Utc::now();
    let mut log = PollLog::default();
    (log.commands_sent, log.round_trips) = match discovery.step(&mut conn.cmd).await {
        Ok(counts) => counts,
        // Remembered by discovery and handled below: named streams can still be watched.
        Err(e) if e.kind == PollErrorKind::Denied => (1, 1),
        Err(e) => return Err(e),
    };
    let keys = discovery.keys();
    if let Some(err) = discovery.scan_error() {
        if keys.is_empty() {
            return Err(err.clone());
        }
        log.warnings.push(err.message.clone());
    }

    let StreamsRead {
        server_time_ms,
        mut streams,
        mut problems,
    } = read_streams(conn, discovery, &keys, &mut log).await?;
    let mut gone = read_groups(conn, discovery, &mut streams, server_time_ms, &mut log).await?;
    let mut streams: Vec<StreamInfo> = streams
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| match gone.remove(&i) {
            Some(mut p) => {
                p.message = format!("{} (during the poll)", p.message);
                problems.push(p);
                None
            }
            None => Some(s),
        })
        .collect();
    streams.sort_by(|a, b| a.key.cmp(&b.key));
    problems.sort_by(|a, b| a.key.cmp(&b.key));

    Ok(StreamsSnapshot {
        streams,
        problems,
        warnings: log.warnings,
        scan: discovery.progress().clone(),
        server_time_ms,
        taken_at,
        took: started.elapsed(),
        commands_sent: log.commands_sent,
        round_trips: log.round_trips,
        stream_nodes: Default::default(),
    })
}

/// What one poll has spent and noticed so far, carried through its rounds.
#[derive(Default)]
struct PollLog {
    commands_sent: usize,
    round_trips: usize,
    warnings: Vec<String>,
}

impl PollLog {
    fn warn(&mut self, message: &str) {
        add_warning(&mut self.warnings, message);
    }
}

/// What round 1 hands to round 2: the streams that could be read (groups filled in), the
/// keys that could not, and the server's clock (for time lags).
struct StreamsRead {
    server_time_ms: i64,
    streams: Vec<StreamInfo>,
    problems: Vec<StreamProblem>,
}

/// Round 1: TIME, then XINFO STREAM and XINFO GROUPS per key.
async fn read_streams(
    conn: &mut StreamsConn,
    discovery: &mut Discovery,
    keys: &[Bytes],
    log: &mut PollLog,
) -> Result<StreamsRead, PollError> {
    let mut first = Commands::default();
    first.push(&[b"TIME"]);
    for key in keys {
        first.push(&[b"XINFO", b"STREAM", key]);
        first.push(&[b"XINFO", b"GROUPS", key]);
    }
    // Nothing to poll (no streams yet): no round trip, our clock stands in for TIME.
    let replies = if keys.is_empty() {
        None
    } else {
        log.commands_sent += first.len();
        log.round_trips += 1;
        Some(run_round(conn, &first, "XINFO STREAM").await?)
    };
    let mut replies = replies.iter().flat_map(Replies::iter);
    let server_time_ms = replies
        .next()
        .and_then(raw::parse_time)
        .unwrap_or_else(|| Utc::now().timestamp_millis());

    let mut read = StreamsRead {
        server_time_ms,
        streams: Vec::with_capacity(keys.len()),
        problems: Vec::new(),
    };
    let mut command_denied: Option<PollError> = None;
    for key in keys {
        let (Some(stream_reply), Some(groups_reply)) = (replies.next(), replies.next()) else {
            return Err(reply_error("XINFO STREAM", "fewer replies than commands"));
        };
        let raw = match parse_stream_reply(key, stream_reply) {
            Ok(raw) => raw,
            Err(KeyOutcome::Problem(p)) => {
                if matches!(p.kind, ProblemKind::Missing | ProblemKind::WrongType) {
                    discovery.forget(key);
                }
                read.problems.push(p);
                continue;
            }
            Err(KeyOutcome::CommandDenied(err)) => {
                command_denied = Some(err);
                continue;
            }
        };
        let mut stream = stream_info(key.clone(), raw);
        apply_groups_reply(&mut stream, groups_reply, server_time_ms, log);
        read.streams.push(stream);
    }
    if let Some(err) = command_denied {
        if read.streams.is_empty() {
            return Err(err);
        }
        log.warn(&err.message);
    }
    Ok(read)
}

/// An XINFO STREAM reply: the stream, or why this key (or the command) cannot be read.
fn parse_stream_reply(key: &Bytes, reply: &[u8]) -> Result<RawStream, KeyOutcome> {
    match raw::error_reply(reply) {
        Some((code, detail)) => {
            let err = stream_error("XINFO STREAM", &code, &detail);
            Err(key_problem(key, &code, &detail, err))
        }
        None => raw::parse_stream(reply).map_err(|what| {
            KeyOutcome::Problem(StreamProblem {
                key: key.clone(),
                kind: ProblemKind::Other,
                message: reply_error("XINFO STREAM", &what).message,
            })
        }),
    }
}

/// An XINFO GROUPS reply: the stream's groups, or the error shown in their place.
fn apply_groups_reply(
    stream: &mut StreamInfo,
    reply: &[u8],
    server_time_ms: i64,
    log: &mut PollLog,
) {
    match raw::error_reply(reply) {
        Some((code, detail)) => {
            let err = stream_error("XINFO GROUPS", &code, &detail);
            let about_key = detail.to_ascii_lowercase().contains("key");
            if err.kind == PollErrorKind::Denied && !about_key {
                log.warn(&err.message);
            }
            stream.groups_error = Some(err.message);
        }
        None => match raw::parse_groups(reply) {
            Ok(groups) => {
                stream.groups = groups
                    .into_iter()
                    .map(|g| group_info(g, stream, server_time_ms))
                    .collect();
            }
            Err(what) => {
                stream.groups_error = Some(reply_error("XINFO GROUPS", &what).message);
            }
        },
    }
}

/// Round 2: XINFO CONSUMERS per group, and XRANGE where the lag needs it. Returns the
/// streams (by index) that were deleted or replaced between the two rounds.
async fn read_groups(
    conn: &mut StreamsConn,
    discovery: &mut Discovery,
    streams: &mut [StreamInfo],
    server_time_ms: i64,
    log: &mut PollLog,
) -> Result<HashMap<usize, StreamProblem>, PollError> {
    let mut second = Commands::default();
    let mut plan = Vec::new();
    for (si, stream) in streams.iter().enumerate() {
        for (gi, group) in stream.groups.iter().enumerate() {
            second.push(&[b"XINFO", b"CONSUMERS", &stream.key, &group.name]);
            plan.push((si, gi, Ask::Consumers));
            if let Some(count) = undelivered_query(stream, group) {
                if let Some(start) = group.last_delivered_id.successor() {
                    let (start, count) = (start.to_string(), count.to_string());
                    let key = &stream.key;
                    second.push(&[
                        b"XRANGE",
                        key,
                        start.as_bytes(),
                        b"+",
                        b"COUNT",
                        count.as_bytes(),
                    ]);
                    plan.push((si, gi, Ask::Undelivered));
                }
            }
        }
    }
    let mut gone: HashMap<usize, StreamProblem> = HashMap::new();
    if second.is_empty() {
        return Ok(gone);
    }
    log.commands_sent += second.len();
    let replies = run_round(conn, &second, "XINFO CONSUMERS").await?;
    log.round_trips += 1;
    for ((si, gi, ask), reply) in plan.into_iter().zip(replies.iter()) {
        if gone.contains_key(&si) {
            continue;
        }
        let stream = &mut streams[si];
        let vanished = match ask {
            Ask::Consumers => apply_consumers_reply(stream, gi, reply, log),
            Ask::Undelivered => apply_undelivered_reply(stream, gi, reply, server_time_ms, log),
        };
        if let Some(problem) = vanished {
            discovery.forget(&stream.key);
            gone.insert(si, problem);
        }
    }
    Ok(gone)
}

/// An XINFO CONSUMERS reply for group `gi`. Returns the problem when the key was deleted
/// (or replaced) between the two rounds.
fn apply_consumers_reply(
    stream: &mut StreamInfo,
    gi: usize,
    reply: &[u8],
    log: &mut PollLog,
) -> Option<StreamProblem> {
    let key = stream.key.clone();
    let group = &mut stream.groups[gi];
    match raw::error_reply(reply) {
        Some((code, detail)) => {
            let (code, detail) = (code.as_str(), detail.as_str());
            let err = stream_error("XINFO CONSUMERS", code, detail);
            if code == "NOGROUP" {
                group.consumers_error = Some("the group was deleted during the poll".to_string());
                return None;
            }
            match key_problem(&key, code, detail, err) {
                KeyOutcome::Problem(p)
                    if matches!(p.kind, ProblemKind::Missing | ProblemKind::WrongType) =>
                {
                    return Some(p);
                }
                KeyOutcome::Problem(p) => group.consumers_error = Some(p.message),
                KeyOutcome::CommandDenied(err) => {
                    log.warn(&err.message);
                    group.consumers_error = Some(err.message);
                }
            }
        }
        None => match raw::parse_consumers(reply) {
            Ok(raw) => group.consumer_list = consumers(raw),
            Err(what) => {
                group.consumers_error = Some(reply_error("XINFO CONSUMERS", &what).message)
            }
        },
    }
    None
}

/// An XRANGE reply for group `gi`'s first undelivered entries: its time lag and, when the
/// server gave no lag, an estimate. Returns the problem when the key was replaced by
/// another type between the two rounds.
fn apply_undelivered_reply(
    stream: &mut StreamInfo,
    gi: usize,
    reply: &[u8],
    server_time_ms: i64,
    log: &mut PollLog,
) -> Option<StreamProblem> {
    match raw::error_reply(reply) {
        Some((code, detail)) => {
            let (code, detail) = (code.as_str(), detail.as_str());
            let err = stream_error("XRANGE", code, detail);
            match key_problem(&stream.key, code, detail, err) {
                KeyOutcome::Problem(p) if p.kind == ProblemKind::WrongType => return Some(p),
                KeyOutcome::Problem(p) => log.warn(&p.message),
                KeyOutcome::CommandDenied(err) => log.warn(&err.message),
            }
        }
        None => match raw::entries_summary(reply) {
            Ok((count, oldest)) => {
                let (entries_added, stream_len) = (stream.entries_added, stream.length);
                let (first_id, last_id) = (stream.first_entry_id, stream.last_entry_id);
                let group = &mut stream.groups[gi];
                group.oldest_undelivered_id = oldest;
                if group.lag().is_none() {
                    group.lag_estimate = Some(estimate_from_count(
                        count,
                        group,
                        entries_added,
                        stream_len,
                        first_id,
                        last_id,
                    ));
                }
                group.time_lag_ms = match (group.effective_lag(), oldest) {
                    (Some(0), _) | (_, None) => Some(0),
                    (_, Some(id)) => Some(id.age_ms(server_time_ms)),
                };
            }
            Err(what) => log.warn(&reply_error("XRANGE", &what).message),
        },
    }
    None
}

/// Discover completely (bounded by `discovery`'s config), poll once, and evaluate health
/// from that single sample (server hints only): what headless `stats` prints.
pub async fn poll_once(
    conn: &mut StreamsConn,
    discovery: &mut Discovery,
    tracker: &mut HealthTracker,
) -> Result<StreamsSnapshot, PollError> {
    let (commands, round_trips) = discover_fully(&mut conn.cmd, discovery).await?;
    let mut snapshot = poll_streams(conn, discovery).await?;
    snapshot.commands_sent += commands;
    snapshot.round_trips += round_trips;
    let now = snapshot.taken_at.timestamp_millis();
    tracker.observe(&mut snapshot, now);
    Ok(snapshot)
}

/// Run discovery to the end of a pass (each step is bounded; the pass may be capped by
/// config). Returns `(commands sent, round trips)`. A refused SCAN ends it quietly:
/// `poll_streams` reports it (or fails, if there is nothing to poll).
pub(crate) async fn discover_fully(
    conn: &mut MultiplexedConnection,
    discovery: &mut Discovery,
) -> Result<(usize, usize), PollError> {
    let (mut commands, mut round_trips) = (0, 0);
    loop {
        let (c, r) = match discovery.step(conn).await {
            Ok(counts) => counts,
            Err(e) if e.kind == PollErrorKind::Denied => break,
            Err(e) => return Err(e),
        };
        commands += c;
        round_trips += r;
        if r == 0 || !discovery.progress().scanning {
            break;
        }
    }
    Ok((commands, round_trips))
}

#[derive(Debug, Clone, Copy)]
enum Ask {
    Consumers,
    Undelivered,
}

enum KeyOutcome {
    Problem(StreamProblem),
    /// The user may not run the command at all: not about this key.
    CommandDenied(PollError),
}

fn key_problem(key: &Bytes, code: &str, detail: &str, err: PollError) -> KeyOutcome {
    let shown = escape_line(key);
    let lower = detail.to_ascii_lowercase();
    let (kind, message) = match code {
        "WRONGTYPE" => (
            ProblemKind::WrongType,
            format!("{shown}: no longer a stream (the key now holds another type)"),
        ),
        "ERR" if lower.contains("no such key") => (
            ProblemKind::Missing,
            format!("{shown}: no such key (not created yet, deleted or expired)"),
        ),
        "NOPERM" if lower.contains("key") => (ProblemKind::Denied, format!("{shown}: {err}")),
        "NOPERM" => return KeyOutcome::CommandDenied(err),
        _ => (ProblemKind::Other, format!("{shown}: {err}")),
    };
    KeyOutcome::Problem(StreamProblem {
        key: key.clone(),
        kind,
        message,
    })
}

fn add_warning(warnings: &mut Vec<String>, message: &str) {
    if !warnings.iter().any(|w| w == message) {
        warnings.push(message.to_string());
    }
}

/// Send a round on the raw connection (one write, one round trip) and return its replies
/// in order. Error replies stay in the list so each command's failure is handled where it
/// belongs; only a lost connection or an unreadable reply fails the round.
async fn run_round(
    conn: &mut StreamsConn,
    commands: &Commands,
    what: &str,
) -> Result<Replies, PollError> {
    conn.raw.round(commands.bytes(), commands.len(), what).await
}

pub(crate) fn stream_info(key: Bytes, raw: RawStream) -> StreamInfo {
    StreamInfo {
        key,
        length: raw.length,
        first_entry_id: raw.first_entry_id,
        last_entry_id: raw.last_entry_id,
        last_generated_id: raw.last_generated_id,
        entries_added: raw.entries_added,
        max_deleted_entry_id: raw.max_deleted_entry_id,
        recorded_first_entry_id: raw.recorded_first_entry_id,
        groups_count: raw.groups,
        groups: Vec::new(),
        groups_error: None,
        append_rate: None,
    }
}

fn consumers(raw: Vec<info::RawConsumer>) -> Vec<ConsumerInfo> {
    let mut list: Vec<ConsumerInfo> = raw
        .into_iter()
        .map(|c| ConsumerInfo {
            name: c.name,
            pending: c.pending,
            idle_ms: c.idle_ms,
            inactive_ms: c.inactive_ms,
            flagged: false,
        })
        .collect();
    let activity: Vec<(u64, u64)> = list
        .iter()
        .map(|c| (c.pending, c.activity_age_ms()))
        .collect();
    for (c, flagged) in list.iter_mut().zip(flag_idle_consumers(&activity)) {
        c.flagged = flagged;
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_consumers_are_flagged_against_peers() {
        let raw = |name: &'static [u8], pending, idle| info::RawConsumer {
            name: Bytes::from_static(name),
            pending,
            idle_ms: idle,
            inactive_ms: None,
        };
        let list = consumers(vec![
            raw(b"a", 1, 100),
            raw(b"b", 0, 200),
            raw(b"c", 4, 120_000),
        ]);
        let flags: Vec<bool> = list.iter().map(|c| c.flagged).collect();
        assert_eq!(flags, vec![false, false, true]);
    }
}
