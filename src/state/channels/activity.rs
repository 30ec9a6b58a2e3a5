//! What redtail itself has received, per channel: a total, the last arrival and a
//! per-second ring of the last minute (msg/s and the sparkline).
//!
//! Counts are of published messages, not deliveries: a connection subscribed to a
//! channel and to matching patterns gets one copy per subscription, and [`Copies`]
//! recognises the extra ones. Rates divide by the time actually observed: the last
//! minute, or less while the channel has been tracked for less.
//!
//! Recording is O(1) per message. The map is bounded by channel count and by name
//! bytes (names can be up to 512 MB each); past either bound the least recently seen
//! tenth is dropped in one pass, so eviction is amortised O(1) too.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::redis::message::{Kind, Message};
use crate::redis::poller::ChannelKind;

/// Seconds of history kept per channel: the "last minute" of msg/s and the sparkline.
pub const WINDOW_SECS: usize = 60;
/// Channels tracked at most. A `PSUBSCRIBE *` on a server with churning channel names
/// (per-request reply channels) would otherwise grow without end.
pub const MAX_TRACKED_CHANNELS: usize = 50_000;
/// Name bytes tracked at most: a few 1 MB names must not outweigh the count bound.
pub const MAX_TRACKED_NAME_BYTES: usize = 32 << 20;

#[derive(Debug, Clone)]
pub struct ChannelActivity {
    /// Messages redtail received on this channel since it started tracking it.
    pub seen: u64,
    pub last_at: DateTime<Utc>,
    /// When tracking began (the first message): rates divide by the time since then
    /// while that is under a minute.
    pub since: DateTime<Utc>,
    /// Messages per second; slot `second % WINDOW_SECS`, valid for the 60 seconds
    /// ending at `head`.
    ring: [u32; WINDOW_SECS],
    /// The newest second the ring holds (unix seconds).
    head: i64,
    /// Recency for eviction: a global counter, so ties never happen.
    touched: u64,
}

impl ChannelActivity {
    fn new(at: DateTime<Utc>, touched: u64) -> ChannelActivity {
        ChannelActivity {
            seen: 0,
            last_at: at,
            since: at,
            ring: [0; WINDOW_SECS],
            head: at.timestamp(),
            touched,
        }
    }

    fn record(&mut self, at: DateTime<Utc>, touched: u64) {
        let second = at.timestamp();
        if second > self.head {
            // Clear the slots of the seconds we skipped; they had no messages.
            let skipped = (second - self.head).min(WINDOW_SECS as i64);
            for s in (second - skipped + 1)..=second {
                self.ring[slot(s)] = 0;
            }
            self.head = second;
        }
        // Late arrivals (clock steps) older than the window count only in `seen`.
        if second > self.head - WINDOW_SECS as i64 {
            let n = &mut self.ring[slot(second)];
            *n = n.saturating_add(1);
        }
        self.seen += 1;
        self.last_at = self.last_at.max(at);
        self.touched = touched;
    }

    /// Messages received in `second` (0 outside the window).
    pub fn count_at(&self, second: i64) -> u32 {
        if second > self.head || second <= self.head - WINDOW_SECS as i64 {
            0
        } else {
            self.ring[slot(second)]
        }
    }

    /// Messages in the minute ending with the second of `now` (that second included, so
    /// a message shows at once rather than a second later).
    pub fn last_minute(&self, now: DateTime<Utc>) -> u64 {
        let end = now.timestamp();
        (end - WINDOW_SECS as i64 + 1..=end)
            .map(|s| u64::from(self.count_at(s)))
            .sum()
    }

    /// The time [`ChannelActivity::last_minute`] covers at `now`, in ms: from the start
    /// of its first second, or from when tracking began if that is later; at least one
    /// second, so a first message reads 1 msg/s rather than an absurd figure.
    pub fn observed_ms(&self, now: DateTime<Utc>) -> u64 {
        let window_start = now.timestamp() - WINDOW_SECS as i64 + 1;
        let window_start_ms = window_start.saturating_mul(1000);
        let start_ms = window_start_ms.max(self.since.timestamp_millis());
        let span = now.timestamp_millis().saturating_sub(start_ms);
        u64::try_from(span).unwrap_or(0).max(1000)
    }

    /// Per-second counts of the last minute, oldest first.
    pub fn buckets(&self, now: DateTime<Utc>) -> [u32; WINDOW_SECS] {
        let end = now.timestamp();
        let mut out = [0; WINDOW_SECS];
        for (i, s) in (end - WINDOW_SECS as i64 + 1..=end).enumerate() {
            out[i] = self.count_at(s);
        }
        out
    }
}

fn slot(second: i64) -> usize {
    second.rem_euclid(WINDOW_SECS as i64) as usize
}

/// Recognises the copies of one published message that a connection with several
/// matching subscriptions receives: Redis writes them consecutively (the `message` for
/// the channel subscription, then one `pmessage` per matching pattern), with the same
/// channel and payload. A delivery is a copy when it follows one with the same channel
/// and payload through a subscription that has not delivered it yet; the same
/// subscription again means a new message (the same payload published twice).
///
/// Limits: it relies on the copies arriving back to back on one connection, as Redis
/// sends them. Deliveries the engine evicted under overload can split a run (an extra
/// message counted), and a gap (reconnect) starts over.
#[derive(Debug, Clone, Default)]
pub struct Copies {
    channel: Bytes,
    payload: Bytes,
    /// The subscriptions that delivered the current message: None is the channel
    /// subscription, Some the pattern.
    via: Vec<Option<Bytes>>,
}

impl Copies {
    /// Whether `message` is a further copy of the one before it. Only classic Pub/Sub
    /// deliveries can be copies; others (shard messages, stream entries, from their own
    /// connections) neither are nor interrupt a run.
    pub fn is_copy(&mut self, message: &Message) -> bool {
        if !matches!(message.kind, Kind::Message | Kind::PMessage) {
            return false;
        }
        let via = &message.pattern;
        if !self.via.is_empty()
            && message.channel == self.channel
            && message.payload == self.payload
            && !self.via.contains(via)
        {
            self.via.push(via.clone());
            return true;
        }
        self.channel = message.channel.clone();
        self.payload = message.payload.clone();
        self.via.clear();
        self.via.push(via.clone());
        false
    }

    /// The connection changed: nothing after this is a copy of what came before.
    pub fn reset(&mut self) {
        *self = Copies::default();
    }
}

/// None for stream entries: a stream key is not a Pub/Sub channel.
pub fn kind_of(message: &Message) -> Option<ChannelKind> {
    match message.kind {
        Kind::SMessage => Some(ChannelKind::Shard),
        Kind::Message | Kind::PMessage => Some(ChannelKind::Channel),
        Kind::StreamEntry => None,
    }
}

/// Activity per channel, one map per kind: a shard channel and a channel may share a
/// name, and separate maps let a lookup borrow `&[u8]` instead of building a key.
#[derive(Debug, Clone)]
pub struct ActivityTracker {
    channels: HashMap<Bytes, ChannelActivity>,
    shard: HashMap<Bytes, ChannelActivity>,
    name_bytes: usize,
    clock: u64,
    max_channels: usize,
    max_name_bytes: usize,
    /// Channels dropped to stay within the bounds (their counts restart if they return).
    pub evicted: u64,
}

impl Default for ActivityTracker {
    fn default() -> Self {
        ActivityTracker::with_limits(MAX_TRACKED_CHANNELS, MAX_TRACKED_NAME_BYTES)
    }
}

impl ActivityTracker {
    pub fn with_limits(max_channels: usize, max_name_bytes: usize) -> ActivityTracker {
        ActivityTracker {
            channels: HashMap::new(),
            shard: HashMap::new(),
            name_bytes: 0,
            clock: 0,
            max_channels: max_channels.max(1),
            max_name_bytes,
            evicted: 0,
        }
    }

    pub fn record(&mut self, kind: ChannelKind, name: &[u8], at: DateTime<Utc>) {
        self.clock += 1;
        let clock = self.clock;
        let map = self.map_mut(kind);
        if let Some(activity) = map.get_mut(name) {
            activity.record(at, clock);
            return;
        }
        // A copy, not a clone of the message's `Bytes`: that may share a large read
        // buffer, which this long-lived key would keep alive.
        let mut activity = ChannelActivity::new(at, clock);
        activity.record(at, clock);
        map.insert(Bytes::copy_from_slice(name), activity);
        self.name_bytes += name.len();
        if self.len() > self.max_channels || self.name_bytes > self.max_name_bytes {
            self.evict();
        }
    }

    pub fn get(&self, kind: ChannelKind, name: &[u8]) -> Option<&ChannelActivity> {
        match kind {
            ChannelKind::Channel => self.channels.get(name),
            ChannelKind::Shard => self.shard.get(name),
        }
    }

    pub fn len(&self) -> usize {
        self.channels.len() + self.shard.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (ChannelKind, &Bytes, &ChannelActivity)> {
        let plain = self
            .channels
            .iter()
            .map(|(n, a)| (ChannelKind::Channel, n, a));
        let shard = self.shard.iter().map(|(n, a)| (ChannelKind::Shard, n, a));
        plain.chain(shard)
    }

    fn map_mut(&mut self, kind: ChannelKind) -> &mut HashMap<Bytes, ChannelActivity> {
        match kind {
            ChannelKind::Channel => &mut self.channels,
            ChannelKind::Shard => &mut self.shard,
        }
    }

    /// Drop the least recently seen channels until both bounds hold with a tenth to
    /// spare, so the next eviction is thousands of new channels away.
    fn evict(&mut self) {
        let mut order: Vec<(u64, usize)> = self
            .iter()
            .map(|(_, name, a)| (a.touched, name.len()))
            .collect();
        order.sort_unstable_by_key(|&(touched, _)| std::cmp::Reverse(touched));
        let keep_count = self.max_channels - self.max_channels / 10;
        let keep_bytes = self.max_name_bytes - self.max_name_bytes / 10;
        // Newest first: keep while both budgets allow; the newest is always kept.
        let mut bytes = 0;
        let mut cutoff = 0;
        for (i, &(touched, len)) in order.iter().enumerate() {
            bytes += len;
            if i > 0 && (i >= keep_count || bytes > keep_bytes) {
                break;
            }
            cutoff = touched;
        }
        let before = self.len();
        let mut freed = 0;
        for map in [&mut self.channels, &mut self.shard] {
            map.retain(|name, a| {
                let keep = a.touched >= cutoff;
                if !keep {
                    freed += name.len();
                }
                keep
            });
        }
        self.name_bytes -= freed;
        self.evicted += (before - self.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: i64 = 1_800_000_000;

    fn at(secs: i64, millis: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(BASE + secs, millis * 1_000_000).unwrap_or_default()
    }

    #[test]
    fn counts_per_second_over_the_last_minute() {
        let mut t = ActivityTracker::default();
        for s in 0..10 {
            t.record(ChannelKind::Channel, b"a", at(s, 0));
            t.record(ChannelKind::Channel, b"a", at(s, 500));
        }
        let a = t.get(ChannelKind::Channel, b"a").expect("tracked");
        assert_eq!(a.seen, 20);
        assert_eq!(a.last_at, at(9, 500));
        assert_eq!(a.last_minute(at(9, 900)), 20);
        // Seconds 0..10 leave the window one by one from second 60 on.
        assert_eq!(a.last_minute(at(60, 0)), 18);
        assert_eq!(a.last_minute(at(69, 0)), 0);
        let buckets = a.buckets(at(10, 0));
        assert_eq!(buckets[WINDOW_SECS - 1], 0, "second 10 had nothing");
        assert_eq!(buckets[WINDOW_SECS - 2], 2);
        assert_eq!(buckets[WINDOW_SECS - 12], 0);
        assert!(t.get(ChannelKind::Shard, b"a").is_none(), "kinds are apart");
    }

    #[test]
    fn rates_divide_by_the_time_observed_not_a_fixed_minute() {
        let mut t = ActivityTracker::default();
        // 5/s from 0.0 to 13.8: 70 messages.
        for i in 0..70 {
            t.record(ChannelKind::Channel, b"a", at(i / 5, (i % 5) as u32 * 200));
        }
        let a = t.get(ChannelKind::Channel, b"a").expect("tracked");
        let rate = |now| a.last_minute(now) as f64 * 1000.0 / a.observed_ms(now) as f64;
        assert_eq!(a.observed_ms(at(14, 0)), 14_000);
        assert!((rate(at(14, 0)) - 5.0).abs() < 1e-9, "{}", rate(at(14, 0)));
        // A first message reads 1/s (one second at least), not infinity.
        assert_eq!(a.observed_ms(at(0, 1)), 1_000);
        // After a minute the window is the last 60 seconds (the current one partly).
        assert_eq!(a.observed_ms(at(100, 500)), 59_500);
    }

    fn delivery(kind: Kind, pattern: Option<&str>, channel: &str, payload: &str) -> Message {
        Message {
            seq: 0,
            received: at(0, 0),
            kind,
            pattern: pattern.map(|p| Bytes::from(p.to_string())),
            channel: Bytes::from(channel.to_string()),
            payload: Bytes::from(payload.to_string()),
        }
    }

    #[test]
    fn copies_through_several_subscriptions_count_once() {
        let mut c = Copies::default();
        let p = |pattern, payload| delivery(Kind::PMessage, Some(pattern), "rate:x", payload);
        let m = |payload| delivery(Kind::Message, None, "rate:x", payload);
        // `SUBSCRIBE rate:x`, `PSUBSCRIBE *`, `PSUBSCRIBE rate:*`: three copies each.
        let run = [m("1"), p("*", "1"), p("rate:*", "1"), m("2"), p("*", "2")];
        let copies: Vec<bool> = run.iter().map(|d| c.is_copy(d)).collect();
        assert_eq!(copies, [false, true, true, false, true]);
        // The same payload published twice: the repeated subscription starts a new one.
        let run = [
            p("*", "hb"),
            p("rate:*", "hb"),
            p("*", "hb"),
            p("rate:*", "hb"),
        ];
        let copies: Vec<bool> = run.iter().map(|d| c.is_copy(d)).collect();
        assert_eq!(copies, [false, true, false, true]);
        // One subscription only: every delivery is a message.
        let mut c = Copies::default();
        assert!(!c.is_copy(&m("x")) && !c.is_copy(&m("x")));
        // Another channel or payload in between ends the run; shard messages and stream
        // entries (their own connections) neither count nor interrupt it.
        let mut c = Copies::default();
        assert!(!c.is_copy(&m("a")));
        assert!(!c.is_copy(&delivery(Kind::SMessage, None, "rate:x", "a")));
        assert!(!c.is_copy(&delivery(Kind::StreamEntry, None, "s", "a")));
        assert!(c.is_copy(&p("*", "a")));
        assert!(!c.is_copy(&delivery(Kind::Message, None, "other", "a")));
        assert!(!c.is_copy(&p("*", "a")));
        c.reset();
        assert!(!c.is_copy(&p("rate:*", "a")));
    }

    #[test]
    fn the_ring_wraps_and_clears_skipped_seconds() {
        let mut t = ActivityTracker::default();
        t.record(ChannelKind::Channel, b"a", at(0, 0));
        t.record(ChannelKind::Channel, b"a", at(59, 0));
        // 60 s later the slot of second 0 is reused: it must not still hold second 0.
        t.record(ChannelKind::Channel, b"a", at(60, 0));
        let a = t.get(ChannelKind::Channel, b"a").expect("tracked");
        assert_eq!(a.count_at(BASE + 60), 1);
        assert_eq!(a.count_at(BASE), 0, "outside the window");
        assert_eq!(a.last_minute(at(60, 0)), 2);
        // A long silence clears everything.
        t.record(ChannelKind::Channel, b"a", at(500, 0));
        let a = t.get(ChannelKind::Channel, b"a").expect("tracked");
        assert_eq!(a.last_minute(at(500, 0)), 1);
        assert_eq!(a.seen, 4);
        // A late arrival inside the window counts in its own second.
        t.record(ChannelKind::Channel, b"a", at(490, 0));
        let a = t.get(ChannelKind::Channel, b"a").expect("tracked");
        assert_eq!(a.count_at(BASE + 490), 1);
        assert_eq!(a.last_at, at(500, 0), "last stays the newest");
        // One older than the window only counts in the total.
        t.record(ChannelKind::Channel, b"a", at(100, 0));
        let a = t.get(ChannelKind::Channel, b"a").expect("tracked");
        assert_eq!((a.seen, a.last_minute(at(500, 0))), (6, 2));
    }

    #[test]
    fn evicts_the_least_recently_seen_beyond_the_count_bound() {
        let mut t = ActivityTracker::with_limits(100, usize::MAX);
        for i in 0..100 {
            t.record(ChannelKind::Channel, format!("c{i}").as_bytes(), at(0, 0));
        }
        // c0 is refreshed, so c1 is now the oldest.
        t.record(ChannelKind::Channel, b"c0", at(1, 0));
        assert_eq!(t.len(), 100);
        t.record(ChannelKind::Shard, b"new", at(2, 0));
        assert_eq!(t.len(), 90, "down to 90 % in one pass");
        assert_eq!(t.evicted, 11);
        assert!(t.get(ChannelKind::Channel, b"c0").is_some());
        assert!(t.get(ChannelKind::Shard, b"new").is_some());
        assert!(t.get(ChannelKind::Channel, b"c1").is_none());
        assert!(t.get(ChannelKind::Channel, b"c11").is_none());
        assert!(t.get(ChannelKind::Channel, b"c12").is_some());
    }

    #[test]
    fn huge_names_are_bounded_by_bytes() {
        let mut t = ActivityTracker::with_limits(1000, 3 << 20);
        for i in 0..5u8 {
            let name = vec![i; 1 << 20];
            t.record(ChannelKind::Channel, &name, at(i64::from(i), 0));
        }
        assert!(t.name_bytes <= 3 << 20, "{}", t.name_bytes);
        assert!(t.get(ChannelKind::Channel, &[4u8; 1 << 20]).is_some());
        assert!(t.get(ChannelKind::Channel, &[0u8; 1 << 20]).is_none());
        // A single name larger than the budget is still tracked (the newest is kept).
        let mut t = ActivityTracker::with_limits(1000, 10);
        t.record(ChannelKind::Channel, &[b'x'; 100], at(0, 0));
        assert_eq!(t.len(), 1);
    }
}
