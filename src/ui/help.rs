//! The `?` overlay, generated from the keymap so it always shows the real bindings.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};
use ratatui::Frame;

use super::{fit, theme};
use crate::keymap::Scope;
use crate::state::{AppState, Tab};

/// The keymap scopes that belong to a pane.
fn pane_scopes(tab: Tab) -> &'static [Scope] {
    match tab {
        Tab::Feed => &[Scope::Feed, Scope::Detail, Scope::Input],
        Tab::Channels => &[Scope::Channels, Scope::Composer, Scope::Input],
        Tab::Streams => &[
            Scope::Streams,
            Scope::StreamEntries,
            Scope::Dialog,
            Scope::Input,
        ],
        Tab::Pending => &[Scope::Pending, Scope::Dialog, Scope::Input],
        Tab::Keyspace => &[Scope::Keyspace, Scope::Input],
    }
}

const KEY_COLS: usize = 16;

/// What a pane's figures mean, where a key list cannot say it: a short section after
/// the keys. Lines are kept under 40 cells so they fit a help column at any size.
fn pane_note(tab: Tab) -> Option<(&'static str, &'static [&'static str])> {
    match tab {
        Tab::Channels => Some((
            "How Channels counts",
            &[
                "seen, msg/s: each published message",
                "counts once, however many of our",
                "subscriptions deliver it (a channel",
                "and a pattern matching it).",
                "msg/s divides by the time actually",
                "observed, up to the last minute.",
            ],
        )),
        Tab::Keyspace => Some((
            "How Keyspace filters",
            &[
                "channel: terms match the key, the",
                "rest the event name (set, del, …),",
                "as in tail --keyspace --filter.",
                "Keys table: a key shows when the",
                "key and any of its events match.",
            ],
        )),
        _ => None,
    }
}

pub fn render(state: &AppState, scroll: usize, frame: &mut Frame, area: Rect) {
    // Help is per pane: the keys that work everywhere, moving, and the focused pane's
    // own keys (its prompts and dialogs included).
    let own = pane_scopes(state.tab);
    let sections: Vec<Vec<Line<'static>>> = state
        .keymap
        .help_sections()
        .into_iter()
        .filter(|(title, _)| {
            [Scope::Global, Scope::Navigation]
                .iter()
                .chain(own)
                .any(|scope| scope.title() == *title)
        })
        .map(|(title, rows)| {
            let mut lines = vec![Line::styled(
                title.to_string(),
                theme::bold().patch(theme::accent()),
            )];
            lines.extend(rows.into_iter().map(|(keys, what)| {
                Line::from(vec![
                    // The trailing space keeps a key list as wide as the column (Ctrl-S/Alt-Enter)
                    // apart from its description.
                    Span::styled(format!("  {keys:<KEY_COLS$} "), theme::key()),
                    Span::raw(what.to_string()),
                ])
            }));
            lines.push(Line::default());
            lines
        })
        .collect();
    let mut sections = sections;
    if let Some((title, lines)) = pane_note(state.tab) {
        let mut section = vec![Line::styled(
            title.to_string(),
            theme::bold().patch(theme::accent()),
        )];
        section.extend(lines.iter().map(|l| Line::raw(format!("  {l}"))));
        section.push(Line::default());
        sections.push(section);
    }
    // Two columns when there is room.
    let two = area.width >= 90;
    let (mut left, right) = columns(sections, two);
    let footer = Line::styled(
        "Filter language: same as `redtail tail --filter`, e.g.  error ch:ai:* .latency_ms > 250",
        theme::dim(),
    );
    let content_rows = left.len().max(right.len()) + 1;
    let width = area.width.saturating_sub(4).min(110);
    let height = (content_rows as u16 + 2).min(area.height);
    let popup = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    let buf: &mut Buffer = frame.buffer_mut();
    Clear.render(popup, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme::accent())
        .title(Line::styled(
            format!(" keys · {} pane ", state.tab.title()),
            theme::bold(),
        ));
    let inner = block.inner(popup);
    block.render(popup, buf);
    let max_scroll = content_rows.saturating_sub(usize::from(inner.height));
    let scroll = scroll.min(max_scroll) as u16;
    left.push(footer);
    if two {
        let half = inner.width / 2;
        let l = Rect::new(inner.x + 1, inner.y, half.saturating_sub(1), inner.height);
        let r = Rect::new(inner.x + half, inner.y, inner.width - half, inner.height);
        // The footer line spans both columns: draw it after the columns, on the last row.
        let note = left.pop();
        Paragraph::new(cut(left, l.width))
            .scroll((scroll, 0))
            .render(l, buf);
        Paragraph::new(cut(right, r.width))
            .scroll((scroll, 0))
            .render(r, buf);
        if let Some(note) = note {
            let y = inner.bottom().saturating_sub(1);
            let room = inner.width.saturating_sub(1);
            if inner.height > 0 {
                let note = fit::cut_line(&note, usize::from(room), fit::Cut::End, theme::dim());
                buf.set_line(inner.x + 1, y, &note, room);
            }
        }
    } else {
        let l = Rect::new(
            inner.x + 1,
            inner.y,
            inner.width.saturating_sub(1),
            inner.height,
        );
        Paragraph::new(cut(left, l.width))
            .scroll((scroll, 0))
            .render(l, buf);
    }
}

/// The sections as one column, or two balanced by line count: split between sections
/// where the longer column is shortest.
fn columns(
    sections: Vec<Vec<Line<'static>>>,
    two: bool,
) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
    let total: usize = sections.iter().map(Vec::len).sum();
    let split = if two {
        (0..=sections.len())
            .min_by_key(|&k| {
                let left: usize = sections[..k].iter().map(Vec::len).sum();
                left.max(total - left)
            })
            .unwrap_or(0)
    } else {
        sections.len()
    };
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for (i, section) in sections.into_iter().enumerate() {
        if i < split {
            left.extend(section);
        } else {
            right.extend(section);
        }
    }
    (left, right)
}

/// Help lines cut with `…` at the column's width (a cut description says so).
fn cut(lines: Vec<Line<'static>>, width: u16) -> Vec<Line<'static>> {
    lines
        .iter()
        .map(|l| fit::cut_line(l, usize::from(width), fit::Cut::End, theme::dim()))
        .collect()
}
