//! Redis Streams monitoring engine: discovery, per-poll figures for every stream, group
//! and consumer, lag estimates when the server reports none, health from a sliding
//! window, and the entries browser's reads. No UI here: the Streams pane renders a
//! [`StreamsSnapshot`], `stats` prints one.
//!
//! - [`discovery`]: `SCAN … TYPE stream` with bounded work per poll.
//! - [`poll`]: one poll in O(1) round trips whatever the number of streams.
//! - [`health`]: status (OK / LAGGING / STALLED / IDLE), rates and ETA; pure functions.
//!   [`HealthTracker`] keeps their sliding windows between polls.
//! - `lag`: lag estimates when the server reports nil, and time lag.
//! - [`entries`]: XREVRANGE paging, jumps to an id or a time.
//! - [`task`]: the background [`StreamsPoller`] publishing into a `watch` channel.

pub mod cluster;
mod conn;
pub mod discovery;
pub mod entries;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod health;
pub mod id;
mod info;
mod lag;
pub mod poll;
mod raw;
pub mod task;
mod tracker;

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};

pub use conn::StreamsConn;
pub use discovery::{Discovery, DiscoveryConfig, ScanProgress};
pub use entries::{
    entries_newer, entries_page, jump_to_id, jump_to_time, read_page, EntriesRequest, StreamEntry,
};
pub use health::{GroupHealth, HealthConfig, Outlook, Status};
pub(crate) use id::id_of;
pub use id::StreamId;
pub use info::ReportedLag;
pub(crate) use info::{parse_entries, read_consumers};
pub use lag::LAG_COUNT_LIMIT;
pub use poll::{poll_once, poll_streams};
pub use task::{StreamsConfig, StreamsPoller, StreamsState};
pub use tracker::HealthTracker;

use crate::redis::error::{PollError, PollErrorKind};
pub(crate) use crate::redis::reply::reply_error;
use crate::text::escape::escape_str;

/// One poll of every tracked stream. Ages are relative to `server_time_ms` (the server's
/// clock at the poll, so a skewed local clock does not distort them); to age them for
/// display later add the time elapsed since `taken_at`.
#[derive(Debug, Clone)]
pub struct StreamsSnapshot {
    /// Sorted by key.
    pub streams: Vec<StreamInfo>,
    /// Keys that could not be read this poll (deleted, another type, denied), by key.
    pub problems: Vec<StreamProblem>,
    /// Problems that concern every stream (a denied XINFO subcommand), each said once.
    pub warnings: Vec<String>,
    pub scan: ScanProgress,
    /// Server clock (TIME) at the poll, Unix ms; our clock if TIME was not answered.
    pub server_time_ms: i64,
    pub taken_at: DateTime<Utc>,
    pub took: Duration,
    pub commands_sent: usize,
    /// Sequential round trips this poll took, discovery included.
    pub round_trips: usize,
    /// Cluster only: the node (address) holding each stream.
    pub stream_nodes: std::collections::BTreeMap<Bytes, String>,
}

impl StreamsSnapshot {
    pub fn stream(&self, key: &[u8]) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.key.as_ref() == key)
    }
}

/// XINFO STREAM plus groups, parsed from raw replies so nothing is dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// Raw key: binary-safe; escape before showing.
    pub key: Bytes,
    pub length: u64,
    pub first_entry_id: Option<StreamId>,
    pub last_entry_id: Option<StreamId>,
    pub last_generated_id: StreamId,
    /// Redis 7.0+: entries ever appended (deletions do not lower it).
    pub entries_added: Option<u64>,
    /// Redis 7.0+.
    pub max_deleted_entry_id: Option<StreamId>,
    /// Redis 7.0+.
    pub recorded_first_entry_id: Option<StreamId>,
    /// The number of groups XINFO STREAM reported.
    pub groups_count: u64,
    pub groups: Vec<GroupInfo>,
    /// XINFO GROUPS failed for this stream (groups then empty).
    pub groups_error: Option<String>,
    /// Entries appended per second over the health window (entries-added deltas).
    pub append_rate: Option<f64>,
}

impl StreamInfo {
    /// Age of the oldest entry, at the snapshot's server time.
    pub fn first_entry_age_ms(&self, server_time_ms: i64) -> Option<u64> {
        self.first_entry_id.map(|id| id.age_ms(server_time_ms))
    }

    pub fn last_entry_age_ms(&self, server_time_ms: i64) -> Option<u64> {
        self.last_entry_id.map(|id| id.age_ms(server_time_ms))
    }

    pub fn group(&self, name: &[u8]) -> Option<&GroupInfo> {
        self.groups.iter().find(|g| g.name.as_ref() == name)
    }
}

/// XINFO GROUPS for one group, plus what we derive: lag estimate, time lag, consumers
/// and health.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInfo {
    pub name: Bytes,
    /// The count XINFO GROUPS reported.
    pub consumers: u64,
    pub pending: u64,
    pub last_delivered_id: StreamId,
    /// Redis 7.0+; None when the server reports nil (after SETID) or lacks the field.
    pub entries_read: Option<u64>,
    /// Lag exactly as the server said it: `Known`, `Nil` or `NotReported` (before 7.0).
    pub reported_lag: ReportedLag,
    /// Present exactly when the server gave no number: our count or estimate.
    pub lag_estimate: Option<LagEstimate>,
    /// The first entry after last-delivered-id: the oldest one no consumer has received.
    pub oldest_undelivered_id: Option<StreamId>,
    /// Age of that entry at the server's time: how far behind in time the group is.
    /// Some(0) when nothing is undelivered; None when unknown.
    pub time_lag_ms: Option<u64>,
    pub consumer_list: Vec<ConsumerInfo>,
    /// XINFO CONSUMERS failed for this group.
    pub consumers_error: Option<String>,
    pub health: GroupHealth,
}

impl GroupInfo {
    /// Lag as the server reported it (None for nil or not reported).
    pub fn lag(&self) -> Option<u64> {
        match self.reported_lag {
            ReportedLag::Known(n) => Some(n),
            _ => None,
        }
    }

    /// The server's lag, else our estimate: what status and sparklines use.
    pub fn effective_lag(&self) -> Option<u64> {
        self.lag().or(self.lag_estimate.map(|e| e.value))
    }
}

/// Our own count of undelivered entries when XINFO GROUPS gave no lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LagEstimate {
    pub value: u64,
    /// True when `value` is a count, not an estimate (show it without `≈`).
    pub exact: bool,
    pub method: LagMethod,
}

/// How a [`LagEstimate`] was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LagMethod {
    /// The stream has no entries: exact 0.
    EmptyStream,
    /// No entry has an id after last-delivered-id: exact 0.
    NothingAfter,
    /// Every entry is after last-delivered-id: exact, the stream's length.
    StreamLength,
    /// Counted with a bounded XRANGE from last-delivered-id: exact up to
    /// [`LAG_COUNT_LIMIT`].
    XrangeCount,
    /// Over the count limit: entries-added − entries-read, kept within what the count and
    /// the length allow (deleted entries make it an over-estimate).
    EntriesAddedMinusEntriesRead,
    /// Over the count limit and entries-read unknown: the share of the stream's id time
    /// span after last-delivered-id, times the length.
    IdInterpolation,
}

impl LagMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LagMethod::EmptyStream => "empty-stream",
            LagMethod::NothingAfter => "nothing-after",
            LagMethod::StreamLength => "stream-length",
            LagMethod::XrangeCount => "xrange-count",
            LagMethod::EntriesAddedMinusEntriesRead => "entries-added-minus-entries-read",
            LagMethod::IdInterpolation => "id-interpolation",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerInfo {
    pub name: Bytes,
    pub pending: u64,
    /// ms since the last attempted interaction (read, claim), as the server says.
    pub idle_ms: u64,
    /// Redis 7.2+ / Valkey 8: ms since the last successful read or claim; -1 means never.
    /// None on older servers.
    pub inactive_ms: Option<i64>,
    /// Holds pending entries and idle far longer than its peers
    /// ([`health::flag_idle_consumers`]).
    pub flagged: bool,
}

impl ConsumerInfo {
    /// Time since this consumer last got work: `inactive` where the server has it (an
    /// XREADGROUP that blocks and returns nothing resets `idle` on 7.2+, not `inactive`),
    /// else `idle`.
    pub fn activity_age_ms(&self) -> u64 {
        match self.inactive_ms {
            Some(n) if n >= 0 => n.unsigned_abs(),
            _ => self.idle_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamProblem {
    pub key: Bytes,
    pub kind: ProblemKind,
    /// Says what happened and what to do; server text already escaped.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The key does not exist (deleted, expired, or deleted during the poll).
    Missing,
    /// The key holds another type now.
    WrongType,
    /// The ACL user may not read this key.
    Denied,
    Other,
}

/// A stream command's error reply as a [`PollError`] whose message says what to do.
pub(crate) fn stream_error(command: &str, code: &str, detail: &str) -> PollError {
    let lower = detail.to_ascii_lowercase();
    let base = command.split(' ').next().unwrap_or(command);
    if code == "NOPERM" {
        let fix = if lower.contains("key") {
            "give the user read access to these keys (ACL SETUSER <user> %R~<pattern>) or \
             narrow --streams to keys it may read"
                .to_string()
        } else {
            match base {
                "XINFO" => "grant +xinfo (redtail needs XINFO STREAM, GROUPS and CONSUMERS) \
                            or use an account that can"
                    .to_string(),
                "SCAN" => "grant +scan, or name the streams to watch with --stream KEY".to_string(),
                other => format!(
                    "grant +{} or use an account that can",
                    other.to_ascii_lowercase()
                ),
            }
        };
        return PollError {
            command: command.to_string(),
            kind: PollErrorKind::Denied,
            message: format!("{command} refused: NOPERM {} — {fix}", escape_str(detail)),
        };
    }
    if code == "WRONGTYPE" {
        return PollError {
            command: command.to_string(),
            kind: PollErrorKind::Server,
            message: format!("{command} failed: this key is not a stream (any more)"),
        };
    }
    PollError::from_server(command, code, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_say_what_to_grant() {
        let e = stream_error(
            "XINFO STREAM",
            "NOPERM",
            "this user has no permissions to run the 'xinfo|stream' command",
        );
        assert_eq!(e.kind, PollErrorKind::Denied);
        assert!(e.message.starts_with("XINFO STREAM refused: NOPERM"), "{e}");
        assert!(e.message.contains("grant +xinfo"), "{e}");
        let e = stream_error("XINFO GROUPS", "NOPERM", "No permissions to access a key");
        assert!(e.message.contains("%R~<pattern>"), "{e}");
        let e = stream_error(
            "SCAN",
            "NOPERM",
            "this user has no permissions to run the 'scan' command",
        );
        assert!(e.message.contains("--stream KEY"), "{e}");
        let e = stream_error(
            "XRANGE",
            "NOPERM",
            "no permissions to run the 'xrange' command",
        );
        assert!(e.message.contains("grant +xrange"), "{e}");
        let e = stream_error("XRANGE", "WRONGTYPE", "Operation against a key");
        assert!(e.message.contains("not a stream"), "{e}");
        let e = stream_error("XINFO STREAM", "ERR", "bad \x1b[2J");
        assert!(!e.message.contains('\x1b'), "{e}");
    }

    #[test]
    fn activity_prefers_inactive_when_known() {
        let mut c = ConsumerInfo {
            name: Bytes::from_static(b"c"),
            pending: 0,
            idle_ms: 5,
            inactive_ms: Some(900),
            flagged: false,
        };
        assert_eq!(c.activity_age_ms(), 900);
        c.inactive_ms = Some(-1);
        assert_eq!(c.activity_age_ms(), 5);
        c.inactive_ms = None;
        assert_eq!(c.activity_age_ms(), 5);
    }
}
