//! The width of the feed's channel column, kept steady: payloads start where they started
//! in the last frame unless a longer channel name needs more room. Deciding it per frame
//! from the names on screen made the payload column jump sideways whenever a long name
//! scrolled past; here it grows at once and shrinks only after the longer names have
//! been off screen for [`SHRINK_AFTER`].

use chrono::{DateTime, TimeDelta, Utc};
use unicode_width::UnicodeWidthStr;

use crate::redis::message::{Kind, Message};
use crate::state::AppState;
use crate::text::escape::escape_line;

/// How long the column keeps room for names no longer on screen.
pub const SHRINK_AFTER: TimeDelta = TimeDelta::seconds(10);
/// The column never takes more than this share of the feed's width (payloads need room).
pub const MAX_SHARE: u16 = 3;
/// …but may always take this many cells, however narrow the terminal.
pub const MIN_CAP: u16 = 12;

/// The channel column's width with hysteresis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelColumn {
    width: u16,
    /// Since when every label on screen has been narrower than the column.
    narrower_since: Option<DateTime<Utc>>,
}

impl ChannelColumn {
    /// Cells of the column now.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// The widest label on screen now is `widest` cells; the feed is `feed_width` wide.
    pub fn observe(&mut self, widest: u16, feed_width: u16, now: DateTime<Utc>) {
        let cap = cap(feed_width);
        let wanted = widest.min(cap);
        if wanted >= self.width || self.width > cap {
            // Grow at once; a narrower terminal applies its cap at once too.
            self.width = wanted.max(self.width.min(cap));
            self.narrower_since = None;
            return;
        }
        let since = *self.narrower_since.get_or_insert(now);
        if now - since >= SHRINK_AFTER {
            self.width = wanted;
            self.narrower_since = None;
        }
    }
}

/// The most cells the channel column may take in a feed `feed_width` wide.
pub fn cap(feed_width: u16) -> u16 {
    (feed_width / MAX_SHARE).max(MIN_CAP)
}

/// Cells of a message's channel label as the feed draws it: the escaped channel, then
/// ` via <pattern>`, ` [shard]` or ` [stream]` (see `ui::feed::channel_line`).
pub fn label_width(m: &Message) -> usize {
    source_label_width(m.kind, &m.channel, m.pattern.as_deref())
}

/// [`label_width`] from the parts it reads (the feed measures rows without rebuilding
/// their messages).
pub(super) fn source_label_width(kind: Kind, channel: &[u8], pattern: Option<&[u8]>) -> usize {
    let channel = escape_line(channel).width();
    channel
        + match (kind, pattern) {
            (Kind::PMessage, Some(p)) => " via ".len() + escape_line(p).width(),
            (Kind::SMessage, _) => " [shard]".len(),
            (Kind::StreamEntry, _) => " [stream]".len(),
            _ => 0,
        }
}

impl AppState {
    /// Feed the channel column the labels on screen now (after every event, so the
    /// column shrinks on ticks too, not only when messages arrive).
    pub(in crate::state) fn observe_feed_column(&mut self, now: DateTime<Utc>) {
        let rows = self.feed_rows();
        let (start, _) = self.feed.window(rows);
        // After every event: measured from the stored parts, no message rebuilt.
        let widest = self.feed.widest_label(start, rows);
        let width = self.areas().body.width;
        let widest = u16::try_from(widest).unwrap_or(u16::MAX);
        self.feed.channel_column.observe(widest, width, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default() + TimeDelta::milliseconds(ms)
    }

    #[test]
    fn grows_at_once_and_shrinks_only_after_the_long_names_are_gone_a_while() {
        let mut column = ChannelColumn::default();
        column.observe(10, 100, t(0));
        assert_eq!(column.width(), 10);
        // A long name scrolls into view: room for it at once.
        column.observe(25, 100, t(1_000));
        assert_eq!(column.width(), 25);
        // It scrolled off: the column holds still…
        column.observe(10, 100, t(2_000));
        column.observe(12, 100, t(11_999));
        assert_eq!(column.width(), 25);
        // …until it has been gone 10 s, then fits what is on screen.
        column.observe(12, 100, t(12_000));
        assert_eq!(column.width(), 12);
        // Seeing the long name again restarts the wait.
        column.observe(25, 100, t(13_000));
        column.observe(10, 100, t(14_000));
        column.observe(25, 100, t(15_000));
        column.observe(10, 100, t(16_000));
        column.observe(10, 100, t(25_999));
        assert_eq!(column.width(), 25);
        column.observe(10, 100, t(26_000));
        assert_eq!(column.width(), 10);
    }

    #[test]
    fn capped_at_a_third_of_the_width_and_narrowed_with_the_terminal() {
        let mut column = ChannelColumn::default();
        column.observe(200, 90, t(0));
        assert_eq!(column.width(), 30);
        column.observe(200, 60, t(1));
        assert_eq!(column.width(), 20, "a narrower terminal caps it at once");
        column.observe(5, 30, t(2));
        assert_eq!(column.width(), MIN_CAP, "capped, then held");
    }
}
