//! Two header lines: connection state and subscriptions; then rate, retained, evicted,
//! gaps, live/paused and the filter.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::{fit, theme};
use crate::keymap::{Command, Scope};
use crate::redis::message::SubKind;
use crate::state::status::ConnView;
use crate::state::{thousands, AppState};
use crate::text::escape::{escape_line, escape_str};

pub fn render(state: &AppState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let conn = connection_line(state);
    super::fit::set_line_cut(buf, area.x, area.y, &conn, area.width);
    let used = conn.width() as u16 + 3;
    if area.width > used + 10 {
        let room = area.width - used;
        let subs = subscriptions_line(state, usize::from(room));
        // Never over the connection line: what does not fit in `room` is cut with `…`.
        let width = (subs.width() as u16).min(room);
        super::fit::set_line_cut(buf, area.right() - width, area.y, &subs, width);
    }
    if area.height > 1 {
        buf.set_line(
            area.x,
            area.y + 1,
            &counters_line(state, usize::from(area.width)),
            area.width,
        );
    }
}

pub fn connection_line(state: &AppState) -> Line<'static> {
    let mut target = escape_str(&state.config.target).into_owned();
    if let Some(d) = &state.channels.poll.deployment {
        target.push_str(" · ");
        target.push_str(&escape_str(d));
    }
    let spans = match &state.conn {
        ConnView::Connected { .. } => vec![
            Span::styled(" ● ", theme::ok()),
            Span::styled("connected ", theme::ok()),
            Span::raw(target),
        ],
        ConnView::Connecting => {
            let mut spans = vec![
                Span::styled(" ◌ ", theme::warn()),
                Span::styled("connecting… ", theme::warn()),
                Span::raw(target),
            ];
            if let Some(e) = &state.last_error {
                spans.push(Span::styled(" — last error: ", theme::dim()));
                spans.push(Span::styled(escape_str(e).into_owned(), theme::error()));
            }
            spans
        }
        ConnView::Disconnected {
            error, fatal: true, ..
        } => {
            // The engine waits for the user: a refused login is not retried by itself.
            let key = state.keymap.first_key(Scope::Feed, Command::Retry);
            vec![
                Span::styled(" ✖ ", theme::error()),
                Span::styled(escape_str(error).into_owned(), theme::error()),
                Span::styled(format!(" — press {key} to retry"), theme::warn()),
            ]
        }
        ConnView::Disconnected {
            error,
            retry_at,
            attempt,
            fatal,
            ..
        } => {
            let style = if *fatal {
                theme::error()
            } else {
                theme::warn()
            };
            let wait = theme::seconds(*retry_at - state.now);
            // Fatal errors (wrong password) are red: waiting alone will not fix them.
            vec![
                Span::styled(" ✖ ", style),
                Span::styled(
                    format!("reconnecting in {wait} (attempt {}): ", attempt + 1),
                    style,
                ),
                Span::styled(escape_str(error).into_owned(), theme::error()),
            ]
        }
        ConnView::Stopped => vec![Span::styled(" ■ stopped ", theme::dim()), Span::raw(target)],
    };
    Line::from(spans)
}

/// "subscribed: ai:* (pattern), orders, {u}:1 (shard)", cut to `room` columns.
fn subscriptions_line(state: &AppState, room: usize) -> Line<'static> {
    let subs = &state.subscriptions;
    if subs.is_empty() {
        let key = state.keymap.first_key(Scope::Feed, Command::Subscribe);
        let long = format!("not subscribed — press {key} ");
        let text = if super::fit::width(&long) <= room {
            long
        } else {
            format!("not subscribed ({key}) ")
        };
        return Line::from(Span::styled(text, theme::warn()));
    }
    let items: Vec<String> = subs
        .iter()
        .map(|(kind, name)| match kind {
            SubKind::Channel => escape_line(name).into_owned(),
            SubKind::Pattern => format!("{} (pattern)", escape_line(name)),
            SubKind::Shard => format!("{} (shard)", escape_line(name)),
        })
        .collect();
    let mut text = String::from("subscribed: ");
    for (i, item) in items.iter().enumerate() {
        let rest = items.len() - i - 1;
        let tail = if rest > 0 {
            format!(", +{rest} more ")
        } else {
            " ".to_string()
        };
        let sep = if i == 0 { "" } else { ", " };
        let fits = text.chars().count() + sep.len() + item.chars().count() + tail.len() <= room;
        if !fits && i > 0 {
            text.push_str(&format!(", +{} more", items.len() - i));
            break;
        }
        text.push_str(sep);
        text.push_str(item);
    }
    text.push(' ');
    if text.chars().count() > room {
        text = text
            .chars()
            .take(room.saturating_sub(2))
            .collect::<String>()
            + "… ";
    }
    Line::from(Span::styled(text, theme::dim()))
}

/// The counters line in at most `max` cells (see [`counter_parts`] for what goes first).
pub fn counters_line(state: &AppState, max: usize) -> Line<'static> {
    fit::ranked_line(
        counter_parts(state),
        &Span::styled(" · ", theme::dim()),
        max,
    )
}

/// `⚠ 3 problems` (warnings and critical findings), red when one is critical; nothing
/// when there are none. Kept longest after the live badge: it is the reason to look.
fn problems_part(state: &AppState) -> Option<fit::Part> {
    let count = state.problems.count();
    let worst = state.problems.worst()?;
    let style = match worst {
        crate::redis::doctor::Severity::Critical => theme::error(),
        _ => theme::warn(),
    };
    let noun = if count == 1 { "problem" } else { "problems" };
    let key = state.keymap.first_key(Scope::Global, Command::ProblemsList);
    let mut spans = vec![Span::styled(
        format!("⚠ {} {noun}", thousands(count as u64)),
        style.add_modifier(ratatui::style::Modifier::BOLD),
    )];
    spans.push(Span::styled(format!(" ({key})"), theme::dim()));
    Some(fit::Part::new(u8::MAX - 1, spans))
}

/// The counters, ranked for [`fit::ranked_line`]: when space is short, retained goes
/// first, then a zero evicted count, zero gaps and the rate; the live/paused badge, an
/// open gap, the filter and non-zero evicted/gaps counts are kept longest.
fn counter_parts(state: &AppState) -> Vec<fit::Part> {
    let feed = &state.feed;
    let mut parts = Vec::new();
    let badge = match feed.new_since_pause() {
        Some(new) => Span::styled(
            format!(" paused — {} new ", thousands(new)),
            Style::new()
                .fg(ratatui::style::Color::Black)
                .bg(ratatui::style::Color::Yellow),
        ),
        None => Span::styled(
            " live ",
            Style::new()
                .fg(ratatui::style::Color::Black)
                .bg(ratatui::style::Color::Green),
        ),
    };
    parts.push(fit::Part::new(u8::MAX, vec![badge]));
    let rate = state.rate_per_second();
    let rate = if rate >= 100.0 {
        thousands(rate.round() as u64)
    } else {
        format!("{rate:.1}")
    };
    parts.push(fit::Part {
        rank: 4,
        spans: vec![Span::raw(format!(" {rate} msg/s"))],
        glued: true,
    });
    if let Some(part) = problems_part(state) {
        parts.push(part);
    }
    if !state.marks.is_empty() {
        parts.push(fit::Part::new(
            6,
            vec![Span::styled(
                format!("{} marked", thousands(state.marks.len() as u64)),
                theme::accent().patch(theme::bold()),
            )],
        ));
    }
    parts.push(fit::Part::new(
        1,
        vec![Span::raw(format!(
            "{} retained ({})",
            thousands(feed.messages as u64),
            theme::human_bytes(feed.bytes() as u64)
        ))],
    ));
    let evicted = feed.evicted + state.engine.evicted;
    let warn_if = |n: u64| if n > 0 { theme::warn() } else { Style::new() };
    let mut evicted_spans = vec![Span::styled(
        format!("{} evicted", thousands(evicted)),
        warn_if(evicted),
    )];
    if state.engine.evicted > 0 {
        evicted_spans.push(Span::styled(
            format!(" ({} before display)", thousands(state.engine.evicted)),
            theme::warn(),
        ));
    }
    parts.push(fit::Part::new(
        if evicted > 0 { 5 } else { 2 },
        evicted_spans,
    ));
    let gaps = state.gap_count();
    parts.push(fit::Part::new(
        if gaps > 0 { 5 } else { 3 },
        vec![Span::styled(
            format!(
                "{} gap{}",
                thousands(gaps),
                if gaps == 1 { "" } else { "s" }
            ),
            warn_if(gaps),
        )],
    ));
    if let Some(since) = state.outage.open_since() {
        let open = (state.now - since).num_seconds().max(0).unsigned_abs();
        parts.push(fit::Part::new(
            7,
            vec![Span::styled(
                format!("gap open {}", crate::text::duration_secs(open)),
                theme::error(),
            )],
        ));
    }
    if let Some(filter) = feed.filter() {
        parts.push(fit::Part::new(
            6,
            vec![
                Span::styled("filter ", theme::accent()),
                Span::raw(escape_str(filter.source()).into_owned()),
                Span::styled(
                    match feed.counting() {
                        // Only the newest matches are known yet: the count follows.
                        true => format!(
                            " ({} shown so far, counting…)",
                            thousands(feed.matching_len() as u64)
                        ),
                        false => format!(" ({} shown)", thousands(feed.matching_len() as u64)),
                    },
                    theme::dim(),
                ),
            ],
        ));
    }
    if let Some(part) = super::keyspace::header_part(state) {
        parts.push(part);
    }
    parts
}
