//! One message in full: metadata, then the payload as JSON, text or hex.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::fit::{self, Cut};
use super::theme;
use crate::keymap::{Command, Scope};
use crate::redis::message::Kind;
use crate::redis::stream_tail::payload_entry_id;
use crate::state::detail::{BodyFormat, DetailState};
use crate::state::layout::DETAIL_META_ROWS;
use crate::state::{thousands, AppState};
use crate::text::escape::escape_str;

pub fn render(state: &AppState, detail: &DetailState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let m = &detail.message;
    let label = |text: &str| Span::styled(format!(" {text:<9}"), theme::dim());

    let name = Line::from(theme::untrusted_spans(
        &m.channel,
        theme::channel().patch(theme::bold()),
        |_| Vec::new(),
    ));
    let mut tail = Vec::new();
    match (m.kind, &m.pattern) {
        (Kind::PMessage, Some(p)) => {
            tail.push(Span::styled("  via pattern ", theme::dim()));
            tail.extend(theme::untrusted_spans(p, Style::new(), |_| Vec::new()));
        }
        (Kind::SMessage, _) => tail.push(Span::styled("  shard channel", theme::dim())),
        (Kind::StreamEntry, _) => tail.push(Span::styled("  stream", theme::dim())),
        _ => {}
    }
    tail.push(Span::styled(
        format!("  ({})", m.kind.as_str()),
        theme::dim(),
    ));
    // The name is cut in the middle to leave room for what follows it; if even that
    // does not fit, the line is cut at the end. Both with `…`.
    let width = usize::from(area.width);
    let tail_width = Line::from(tail.clone()).width();
    let name_room = width.saturating_sub(10 + tail_width).max(12);
    let mut first = vec![label("channel")];
    first.extend(fit::cut_line(&name, name_room, Cut::Middle, theme::dim()).spans);
    first.extend(tail);
    let first = fit::cut_line(&Line::from(first), width, Cut::End, theme::dim());
    buf.set_line(area.x, area.y, &first, area.width);

    if area.height > 1 {
        let offset = state.config.utc_offset;
        let received = m
            .received
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M:%S%.3f %:z")
            .to_string();
        let mut second = vec![
            label("received"),
            Span::raw(received),
            Span::styled("  size ", theme::dim()),
            Span::raw(match state.feed.truncated_from(m.seq) {
                Some(full) => format!(
                    "{} of {} bytes (kept truncated: larger than --max-bytes)",
                    thousands(m.payload.len() as u64),
                    thousands(full as u64)
                ),
                None => format!("{} bytes", thousands(m.payload.len() as u64)),
            }),
        ];
        // A stream entry is identified by its id; the engine's sequence number (a
        // separate range for stream entries) would mean nothing to a reader.
        if m.kind == Kind::StreamEntry {
            if let Some(id) = payload_entry_id(&m.payload) {
                second.push(Span::styled("  id ", theme::dim()));
                second.push(Span::raw(id.to_string()));
            }
        } else {
            second.push(Span::styled("  seq ", theme::dim()));
            second.push(Span::raw(m.seq.to_string()));
        }
        let second = fit::cut_line(&Line::from(second), width, Cut::End, theme::dim());
        buf.set_line(area.x, area.y + 1, &second, area.width);
    }

    let body = Rect::new(
        area.x,
        area.y + DETAIL_META_ROWS.min(area.height),
        area.width,
        area.height.saturating_sub(DETAIL_META_ROWS),
    );
    if area.height > 2 {
        buf.set_line(
            area.x,
            area.y + 2,
            &rule(state, detail, body.height, area.width),
            area.width,
        );
    }
    let rows = usize::from(body.height);
    let filter = state.feed.filter();
    match detail.format {
        BodyFormat::Hex => {
            for (i, line) in detail.hex_rows(detail.scroll, rows).into_iter().enumerate() {
                buf.set_stringn(
                    body.x,
                    body.y + i as u16,
                    line,
                    usize::from(body.width),
                    Style::new(),
                );
            }
        }
        BodyFormat::Json | BodyFormat::Decoded | BodyFormat::Text => {
            for i in 0..rows {
                let Some(row) = detail.row(detail.scroll + i) else {
                    break;
                };
                let marks = filter
                    .map(|f| f.highlight_ranges(row.text))
                    .unwrap_or_default();
                let spans = theme::styled_spans(row.text, &row.escaped, &marks, Style::new());
                buf.set_line(body.x, body.y + i as u16, &Line::from(spans), body.width);
            }
        }
    }
}

/// "── gzip → msgpack · rows 1–20 of 54 · d decoder · h hex · Esc back ──────", with
/// "not decoded: REASON" after the form when the payload looked encoded but did not
/// decode. Cut at the end with `…` when the screen is narrow.
fn rule(state: &AppState, detail: &DetailState, rows: u16, width: u16) -> Line<'static> {
    let total = detail.row_count();
    let from = (detail.scroll + 1).min(total);
    let to = (detail.scroll + usize::from(rows)).min(total);
    let mut spans = vec![
        Span::styled("── ", theme::dim()),
        Span::styled(
            detail.label().to_string(),
            theme::accent().patch(theme::bold()),
        ),
    ];
    if let Some(reason) = &detail.not_decoded {
        spans.push(Span::styled(
            format!(" (not decoded: {})", escape_str(reason)),
            theme::warn(),
        ));
    }
    spans.push(Span::styled(
        format!(" · rows {from}–{to} of {}", thousands(total as u64)),
        theme::dim(),
    ));
    let key = |command| {
        state
            .keymap
            .keys_for(Scope::Detail, command)
            .first()
            .map(ToString::to_string)
    };
    let other = if detail.format == BodyFormat::Hex {
        "text"
    } else {
        "hex"
    };
    if let Some(k) = key(Command::CycleDecoder).filter(|_| detail.has_decoders()) {
        spans.push(Span::styled(" · ", theme::dim()));
        spans.push(Span::styled(k, theme::key()));
        spans.push(Span::styled(" decoder", theme::dim()));
    }
    if let Some(k) = key(Command::ToggleHex) {
        spans.push(Span::styled(" · ", theme::dim()));
        spans.push(Span::styled(k, theme::key()));
        spans.push(Span::styled(format!(" {other}"), theme::dim()));
    }
    if let Some(k) = key(Command::Back) {
        spans.push(Span::styled(" · ", theme::dim()));
        spans.push(Span::styled(k, theme::key()));
        spans.push(Span::styled(" back", theme::dim()));
    }
    let used = Line::from(spans.clone()).width();
    let fill = usize::from(width).saturating_sub(used + 1);
    spans.push(Span::styled(format!(" {}", "─".repeat(fill)), theme::dim()));
    fit::cut_line(
        &Line::from(spans),
        usize::from(width),
        Cut::End,
        theme::dim(),
    )
}
