//! Connection state as the UI sees it, the message-rate meter and transient notices.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

use crate::redis::subscriber::Subscriptions;

/// The engine's `ConnState` on the wall clock: app.rs turns the engine's monotonic
/// `retry_at` into a `DateTime`, so state and render need only one clock (`now`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnView {
    Connecting,
    Connected {
        since: DateTime<Utc>,
    },
    Disconnected {
        since: DateTime<Utc>,
        /// Already escaped (engine error text can quote server replies).
        error: String,
        retry_at: DateTime<Utc>,
        attempt: u32,
        fatal: bool,
        ever_connected: bool,
    },
    Stopped,
}

/// One status report from the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub conn: ConnView,
    /// What the engine will (re-)subscribe to.
    pub wanted: Subscriptions,
}

/// Messages per second over the last few complete seconds.
#[derive(Debug, Clone, Default)]
pub struct RateMeter {
    /// (unix second, messages received in it), oldest first.
    buckets: VecDeque<(i64, u64)>,
}

/// Seconds averaged: long enough to be steady, short enough to react.
pub const RATE_WINDOW_SECS: i64 = 5;

impl RateMeter {
    pub fn record(&mut self, at: DateTime<Utc>, count: u64) {
        let second = at.timestamp();
        match self.buckets.iter_mut().rev().find(|(s, _)| *s == second) {
            Some((_, n)) => *n += count,
            None => {
                // Out-of-order timestamps are rare (clock steps); keep the deque sorted.
                let at = self.buckets.partition_point(|(s, _)| *s < second);
                self.buckets.insert(at, (second, count));
            }
        }
        while self.buckets.len() > (RATE_WINDOW_SECS as usize) * 2 + 2 {
            self.buckets.pop_front();
        }
    }

    pub fn per_second(&self, now: DateTime<Utc>) -> f64 {
        let current = now.timestamp();
        let from = current - RATE_WINDOW_SECS;
        let total: u64 = self
            .buckets
            .iter()
            .filter(|(s, _)| *s >= from && *s < current)
            .map(|(_, n)| n)
            .sum();
        total as f64 / RATE_WINDOW_SECS as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    Info,
    /// Something under way ("scanning the keyspace…"): it stays until the work is done
    /// (its topic is cleared), or at most [`PROGRESS_TTL`] if the answer never comes.
    Progress,
    Error,
}

/// What a notice is about, so the event that supersedes it can take it down: the answer
/// to a progress note, or the next page move after "this is the last page".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeTopic {
    /// Paging a list ("this is the last page").
    Paging,
    /// A rescan of the keyspace for streams.
    Scan,
    /// Setting or clearing a pane's filter.
    Filter,
}

/// How long a notice stays. Info is read at a glance; an error may need to be read
/// twice, or copied; progress waits for its answer.
pub const INFO_TTL: TimeDelta = TimeDelta::seconds(6);
pub const ERROR_TTL: TimeDelta = TimeDelta::seconds(15);
pub const PROGRESS_TTL: TimeDelta = TimeDelta::seconds(60);

/// A one-line message in the footer. It fades after its level's time, and goes at once
/// when something supersedes it (another notice, or the end of what its topic was about).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub level: NoticeLevel,
    pub at: DateTime<Utc>,
    pub topic: Option<NoticeTopic>,
}

impl Notice {
    pub fn visible(&self, now: DateTime<Utc>) -> bool {
        let ttl = match self.level {
            NoticeLevel::Info => INFO_TTL,
            NoticeLevel::Progress => PROGRESS_TTL,
            NoticeLevel::Error => ERROR_TTL,
        };
        now - self.at < ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, millis: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, millis * 1_000_000).unwrap_or_default()
    }

    #[test]
    fn rate_averages_complete_seconds() {
        let mut meter = RateMeter::default();
        for s in 100..110 {
            meter.record(at(s, 0), 10);
            meter.record(at(s, 500), 10);
        }
        assert_eq!(meter.per_second(at(110, 200)), 20.0);
        assert_eq!(meter.per_second(at(112, 0)), 12.0);
        assert_eq!(meter.per_second(at(200, 0)), 0.0);
        meter.record(at(105, 0), 50);
        assert_eq!(meter.per_second(at(110, 0)), 30.0);
    }
}
