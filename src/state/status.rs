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

    /// Messages per second over the complete seconds of the window that the connection
    /// was up for: `since` is when it (re)connected, so the seconds before it (an outage,
    /// or before startup) neither count nor dilute the average. 0 until one complete
    /// second has passed since `since`.
    pub fn per_second(&self, now: DateTime<Utc>, since: DateTime<Utc>) -> f64 {
        let current = now.timestamp();
        let from = (current - RATE_WINDOW_SECS).max(since.timestamp() + 1);
        if from >= current {
            return 0.0;
        }
        let total: u64 = self
            .buckets
            .iter()
            .filter(|(s, _)| *s >= from && *s < current)
            .map(|(_, n)| n)
            .sum();
        total as f64 / (current - from) as f64
    }
}

/// The subscription's current outage, from the engine's status reports. The engine
/// reports the gap row only once it has reconnected; until then this is what lets the
/// header show the gap as it happens (and count it) and the rate drop to 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outage {
    /// Start of the outage (the engine's `Disconnected::since`).
    since: Option<DateTime<Utc>>,
    /// When the connection came back; the outage stays counted until its gap row arrives
    /// (status and deliveries travel on separate channels, either may come first).
    reconnected_at: Option<DateTime<Utc>>,
}

/// How long a closed outage waits for its gap row before it stops being counted.
const GAP_ROW_WAIT_SECS: i64 = 10;

impl Outage {
    pub fn on_conn(&mut self, conn: &ConnView) {
        match conn {
            // Before the first connection nothing was being received: not a gap.
            ConnView::Disconnected {
                since,
                ever_connected: true,
                ..
            } => {
                if self.since != Some(*since) || self.reconnected_at.is_some() {
                    *self = Outage {
                        since: Some(*since),
                        reconnected_at: None,
                    };
                }
            }
            ConnView::Disconnected { .. } | ConnView::Connecting => {}
            ConnView::Connected { since } => {
                if self.since.is_some() && self.reconnected_at.is_none() {
                    self.reconnected_at = Some(*since);
                }
            }
            ConnView::Stopped => *self = Outage::default(),
        }
    }

    /// A gap row reached the feed: it is the one for this outage when it starts where
    /// the outage did, or when the connection is already back.
    pub fn on_gap_row(&mut self, from: DateTime<Utc>) {
        if self.since == Some(from) || self.reconnected_at.is_some() {
            *self = Outage::default();
        }
    }

    /// The start of the outage while it lasts.
    pub fn open_since(&self) -> Option<DateTime<Utc>> {
        self.since.filter(|_| self.reconnected_at.is_none())
    }

    /// 1 while the outage is open or closed without its gap row yet, else 0: what to add
    /// to the feed's gap count so the header counts it from its first moment.
    pub fn uncounted(&self, now: DateTime<Utc>) -> u64 {
        match (self.since, self.reconnected_at) {
            (Some(_), None) => 1,
            (Some(_), Some(back)) if now - back < TimeDelta::seconds(GAP_ROW_WAIT_SECS) => 1,
            _ => 0,
        }
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
        let up = at(0, 0);
        assert_eq!(meter.per_second(at(110, 200), up), 20.0);
        assert_eq!(meter.per_second(at(112, 0), up), 12.0);
        assert_eq!(meter.per_second(at(200, 0), up), 0.0);
        meter.record(at(105, 0), 50);
        assert_eq!(meter.per_second(at(110, 0), up), 30.0);
    }

    #[test]
    fn rate_counts_only_the_seconds_since_the_connection_came_up() {
        let mut meter = RateMeter::default();
        for s in 100..110 {
            meter.record(at(s, 0), 20);
        }
        // Reconnected at 107.3 after an outage: seconds 108 and 109 are complete.
        assert_eq!(meter.per_second(at(110, 100), at(107, 300)), 20.0);
        // Nothing complete yet: 0, not a figure diluted by the outage.
        assert_eq!(meter.per_second(at(108, 900), at(107, 300)), 0.0);
    }

    fn down(since: DateTime<Utc>, ever_connected: bool) -> ConnView {
        ConnView::Disconnected {
            since,
            error: "server closed the connection".into(),
            retry_at: since,
            attempt: 0,
            fatal: false,
            ever_connected,
        }
    }

    #[test]
    fn an_outage_is_open_and_counted_until_its_gap_row_arrives() {
        let mut o = Outage::default();
        o.on_conn(&ConnView::Connected { since: at(0, 0) });
        assert_eq!((o.open_since(), o.uncounted(at(1, 0))), (None, 0));
        o.on_conn(&down(at(10, 0), true));
        o.on_conn(&ConnView::Connecting);
        o.on_conn(&down(at(10, 0), true));
        assert_eq!(o.open_since(), Some(at(10, 0)));
        assert_eq!(o.uncounted(at(13, 0)), 1);
        // Back: no longer open, still counted until the gap row comes…
        o.on_conn(&ConnView::Connected { since: at(14, 0) });
        assert_eq!((o.open_since(), o.uncounted(at(14, 1))), (None, 1));
        o.on_gap_row(at(10, 0));
        assert_eq!(o.uncounted(at(14, 2)), 0);
        // …or the row first, then the status: counted once either way.
        o.on_conn(&down(at(20, 0), true));
        o.on_gap_row(at(20, 0));
        o.on_conn(&ConnView::Connected { since: at(22, 0) });
        assert_eq!((o.open_since(), o.uncounted(at(22, 1))), (None, 0));
        // A row that never comes stops being counted after a while.
        o.on_conn(&down(at(30, 0), true));
        o.on_conn(&ConnView::Connected { since: at(31, 0) });
        assert_eq!(o.uncounted(at(40, 0)), 1);
        assert_eq!(o.uncounted(at(41, 0)), 0);
        // Failing to connect at startup is not a gap.
        let mut o = Outage::default();
        o.on_conn(&down(at(0, 0), false));
        assert_eq!((o.open_since(), o.uncounted(at(5, 0))), (None, 0));
    }
}
