//! Synthetic poll results for unit tests (the doctor's findings, the Problems list): one
//! place that knows how to build a consumer, a group, a stream and a snapshot.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{
    ConsumerInfo, GroupHealth, GroupInfo, ReportedLag, ScanProgress, StreamId, StreamInfo,
    StreamsSnapshot,
};
use crate::redis::pending::PendingRow;

pub(crate) fn consumer(
    name: &str,
    pending: u64,
    idle_ms: u64,
    inactive_ms: Option<i64>,
) -> ConsumerInfo {
    ConsumerInfo {
        name: Bytes::copy_from_slice(name.as_bytes()),
        pending,
        idle_ms,
        inactive_ms,
        flagged: false,
    }
}

/// A group delivered up to 100-0, its pending the sum of its consumers'.
pub(crate) fn group(name: &str, consumers: Vec<ConsumerInfo>, lag: ReportedLag) -> GroupInfo {
    GroupInfo {
        name: Bytes::copy_from_slice(name.as_bytes()),
        consumers: consumers.len() as u64,
        pending: consumers.iter().map(|c| c.pending).sum(),
        last_delivered_id: StreamId::new(100, 0),
        entries_read: None,
        reported_lag: lag,
        lag_estimate: None,
        oldest_undelivered_id: None,
        time_lag_ms: None,
        consumer_list: consumers,
        consumers_error: None,
        health: GroupHealth::default(),
    }
}

/// A stream of 10 entries from 1-0 to 200-0, nothing deleted.
pub(crate) fn stream(key: &str, groups: Vec<GroupInfo>) -> StreamInfo {
    StreamInfo {
        key: Bytes::copy_from_slice(key.as_bytes()),
        length: 10,
        first_entry_id: Some(StreamId::new(1, 0)),
        last_entry_id: Some(StreamId::new(200, 0)),
        last_generated_id: StreamId::new(200, 0),
        entries_added: Some(10),
        max_deleted_entry_id: None,
        recorded_first_entry_id: None,
        groups_count: groups.len() as u64,
        groups,
        groups_error: None,
        append_rate: None,
    }
}

/// One poll's result with the server's clock at 1,000 s.
pub(crate) fn snapshot(streams: Vec<StreamInfo>, taken_at: DateTime<Utc>) -> StreamsSnapshot {
    StreamsSnapshot {
        streams,
        problems: Vec::new(),
        warnings: Vec::new(),
        scan: ScanProgress::default(),
        server_time_ms: 1_000_000,
        taken_at,
        took: std::time::Duration::from_millis(1),
        commands_sent: 0,
        round_trips: 0,
        stream_nodes: Default::default(),
    }
}

pub(crate) fn pending_row(ms: u64, consumer: &str, idle_ms: u64, deliveries: u64) -> PendingRow {
    PendingRow {
        id: StreamId { ms, seq: 0 },
        consumer: Bytes::copy_from_slice(consumer.as_bytes()),
        idle_ms,
        deliveries,
    }
}
