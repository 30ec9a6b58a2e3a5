//! The live feed pane: one row per message, gap or server error.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::fit::{self, Cut};
use super::theme;
use crate::filter::Filter;
use crate::keymap::{Command, Scope};
use crate::redis::message::{Kind, Message};
use crate::state::feed::{column, Entry, FeedItem};
use crate::state::preview::Preview;
use crate::state::status::ConnView;
use crate::state::{thousands, AppState};
use crate::text::escape::escape_str;

/// Payload bytes escaped for a one-line preview; a row is never wider than this.
const PREVIEW_BYTES: usize = 2048;
/// "HH:MM:SS.mmm"
const TIME_COLS: u16 = 12;
/// Shown between the time and the channel of a marked message.
pub const MARK: &str = "✓";

pub fn render(state: &AppState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let feed = &state.feed;
    if feed.matching_len() == 0 {
        render_empty(state, buf, area);
        return;
    }
    let rows = usize::from(area.height);
    let (start, selected) = feed.window(rows);
    let filter = feed.filter();
    let entries: Vec<Entry> = feed.visible(start, rows).collect();
    let channels: Vec<Line<'static>> = entries
        .iter()
        .map(|e| match &e.item {
            FeedItem::Message(m) => channel_line(m, filter),
            _ => Line::default(),
        })
        .collect();
    // Payloads start after the channel column the state keeps steady (it grows at once
    // and shrinks only after long names have been gone a while); the names on screen
    // widen it here too, in case this frame comes before the state has seen them.
    let on_screen = channels.iter().map(|l| l.width() as u16).max().unwrap_or(0);
    let channel_cols = feed
        .channel_column
        .width()
        .max(on_screen)
        .min(column::cap(area.width));
    let paused = feed.is_paused();
    let dim = theme::dim();
    for (i, entry) in entries.iter().enumerate() {
        let y = area.y + i as u16;
        let row = Rect::new(area.x, y, area.width, 1);
        let is_selected = selected == Some(start + i);
        if is_selected && paused {
            buf.set_style(row, theme::selected());
        }
        let marker = if is_selected { "›" } else { " " };
        buf.set_string(area.x, y, marker, theme::accent());
        let x = area.x + 1;
        let width = area.width.saturating_sub(1);
        match &entry.item {
            FeedItem::Message(m) => {
                let time = m
                    .received
                    .with_timezone(&state.config.utc_offset)
                    .format("%H:%M:%S%.3f")
                    .to_string();
                buf.set_stringn(x, y, time, usize::from(width), theme::dim());
                let cx = x + TIME_COLS + 1;
                if cx >= area.right() {
                    continue;
                }
                // Marked to send again: a glyph in the blank column before the channel.
                if state.marks.contains(m.seq) {
                    buf.set_string(cx - 1, y, MARK, theme::accent().patch(theme::bold()));
                }
                // Names are cut in the middle, payloads at the end, both with `…`.
                let room = channel_cols.min(area.right() - cx);
                let label = fit::cut_line(&channels[i], usize::from(room), Cut::Middle, dim);
                buf.set_line(cx, y, &label, room);
                let px = cx + channel_cols + 1;
                if px < area.right() {
                    let room = area.right() - px;
                    let payload = match state.previews.get(entry.id, m, &state.config.decode) {
                        Some(preview) => preview_line(&preview, filter),
                        None => payload_line(m, filter),
                    };
                    let payload = fit::cut_line(&payload, usize::from(room), Cut::End, dim);
                    buf.set_line(px, y, &payload, room);
                }
            }
            FeedItem::Gap(g) => {
                let time =
                    g.to.with_timezone(&state.config.utc_offset)
                        .format("%H:%M:%S%.3f")
                        .to_string();
                buf.set_stringn(x, y, time, usize::from(width), theme::dim());
                let gx = x + TIME_COLS + 1;
                if gx < area.right() {
                    let room = usize::from(area.right() - gx);
                    let text = format!("── {} ", escape_str(&g.describe()));
                    let fill = room.saturating_sub(text.chars().count());
                    buf.set_stringn(gx, y, text + &"─".repeat(fill), room, theme::warn());
                }
            }
            FeedItem::ServerError(e) => {
                let gx = x + TIME_COLS + 1;
                if gx < area.right() {
                    let line = Line::from(vec![
                        Span::styled("✖ server error: ", theme::error().patch(theme::bold())),
                        Span::styled(escape_str(e).into_owned(), theme::error()),
                    ]);
                    buf.set_line(gx, y, &line, area.right() - gx);
                }
            }
        }
    }
}

/// Channel, then "via pattern" for pattern matches, "[shard]" for shard messages or
/// "[stream]" for stream entries.
pub fn channel_line(m: &Message, filter: Option<&Filter>) -> Line<'static> {
    let marks = |text: &str| filter.map(|f| f.highlight_ranges(text)).unwrap_or_default();
    let mut spans = theme::untrusted_spans(&m.channel, theme::channel(), marks);
    match (m.kind, &m.pattern) {
        (Kind::PMessage, Some(p)) => {
            spans.push(Span::styled(" via ", theme::dim()));
            spans.extend(theme::untrusted_spans(p, theme::dim(), |_| Vec::new()));
        }
        (Kind::SMessage, _) => spans.push(Span::styled(" [shard]", theme::dim())),
        (Kind::StreamEntry, _) => spans.push(Span::styled(" [stream]", theme::dim())),
        _ => {}
    }
    Line::from(spans)
}

pub fn payload_line(m: &Message, filter: Option<&Filter>) -> Line<'static> {
    let end = crate::text::escape::cut_at(&m.payload, PREVIEW_BYTES);
    let marks = |text: &str| filter.map(|f| f.highlight_ranges(text)).unwrap_or_default();
    Line::from(theme::untrusted_spans(
        &m.payload[..end],
        Style::new(),
        marks,
    ))
}

/// A decoded row: a dim `[msgpack]` tag, then the compact decoded value.
pub fn preview_line(preview: &Preview, filter: Option<&Filter>) -> Line<'static> {
    let marks = |text: &str| filter.map(|f| f.highlight_ranges(text)).unwrap_or_default();
    let mut spans = vec![Span::styled(format!("[{}] ", preview.tag), theme::accent())];
    spans.extend(theme::untrusted_spans(
        preview.text.as_bytes(),
        Style::new(),
        marks,
    ));
    Line::from(spans)
}

/// "no retained message matches .latency_ms > 250 (1,204 retained) …": said in the feed
/// body whenever a filter keeps no message, so an empty feed is never a mystery.
fn no_match_text(state: &AppState) -> String {
    let feed = &state.feed;
    let key = |command| state.keymap.first_key(Scope::Feed, command);
    let filter = feed.filter().map_or("", |f| f.source());
    if feed.counting() {
        return format!(
            "searching {} retained messages for {}…",
            thousands(feed.messages as u64),
            escape_str(filter)
        );
    }
    format!(
        "no retained message matches {} ({} retained). Edit it with {}, clear it with {}.",
        escape_str(filter),
        thousands(feed.messages as u64),
        key(Command::Filter),
        key(Command::ClearFilter)
    )
}

fn render_empty(state: &AppState, buf: &mut Buffer, area: Rect) {
    let feed = &state.feed;
    let key = |command| state.keymap.first_key(Scope::Feed, command);
    let text = if let (true, ConnView::Disconnected { error, fatal, .. }) =
        (feed.is_empty(), &state.conn)
    {
        // The header line may cut a long error; here it wraps in full.
        if *fatal {
            format!(
                "{}. Fix it, then press {} to connect again.",
                escape_str(error),
                key(Command::Retry)
            )
        } else {
            format!("Cannot reach the server: {}", escape_str(error))
        }
    } else if !feed.is_empty() {
        no_match_text(state)
    } else if state.subscriptions.is_empty() {
        format!(
            "Not subscribed to anything. Press {} to subscribe to a channel or pattern.",
            key(Command::Subscribe)
        )
    } else {
        "Waiting for messages…".to_string()
    };
    super::centered(buf, area, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::feed::column::label_width;
    use bytes::Bytes;

    /// The state sizes the channel column from `label_width`; it must measure what
    /// `channel_line` draws.
    #[test]
    fn state_measures_labels_as_they_are_drawn() {
        let channels: [&[u8]; 3] = [
            b"orders",
            "evil\x1b[2J\u{202e}会话-\u{7f}".as_bytes(),
            b"bad\xff\xfe",
        ];
        for channel in channels {
            for (kind, pattern) in [
                (Kind::Message, None),
                (Kind::PMessage, Some(Bytes::from_static(b"ai:\x1b*"))),
                (Kind::SMessage, None),
                (Kind::StreamEntry, None),
            ] {
                let m = Message {
                    seq: 0,
                    received: chrono::DateTime::default(),
                    kind,
                    pattern,
                    channel: Bytes::copy_from_slice(channel),
                    payload: Bytes::new(),
                };
                assert_eq!(channel_line(&m, None).width(), label_width(&m), "{m:?}");
            }
        }
    }
}
