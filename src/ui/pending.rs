//! The Pending pane: a title line (target, totals, filters, sort, marks), the page of
//! pending entries, the last action's result, and its dialogs on top.
//!
//! Everything from the server is escaped: consumer names and entry contents are
//! untrusted bytes (previews arrive escaped from the engine), ids are digits.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};
use ratatui::Frame;

use super::{fit, pending_dialogs, theme};
use crate::keymap::{Command, Scope};
use crate::redis::pending::{PendingEntry, PendingSort};
use crate::state::pending::dialog::DialogKind;
use crate::state::pending::{PendingPane, LIST_TOP_ROWS, RESULT_ROWS};
use crate::state::{thousands, AppState};
use crate::text::escape::{escape_line, escape_str};

/// Deliveries from which an entry looks like a poison message.
const POISON_DELIVERIES: u64 = 5;

/// Footer keys for the pane and its dialogs.
pub fn footer_commands(dialog: Option<DialogKind>) -> &'static [(Scope, Command)] {
    use Command as C;
    use Scope as S;
    match dialog {
        None => &[
            (S::Pending, C::PendingTarget),
            (S::Pending, C::Ack),
            (S::Pending, C::Claim),
            (S::Pending, C::Autoclaim),
            (S::Pending, C::DeadLetter),
            (S::Pending, C::DeleteEntries),
            (S::Pending, C::ToggleMark),
            (S::Pending, C::SortNext),
            (S::Pending, C::IdleFilter),
            (S::Global, C::Help),
            (S::Global, C::Quit),
        ],
        Some(DialogKind::Prompt) => &[(S::Input, C::Accept), (S::Input, C::Cancel)],
        Some(DialogKind::Picker) => &[
            (S::Navigation, C::Down),
            (S::Dialog, C::SwitchField),
            (S::Input, C::Accept),
            (S::Input, C::Cancel),
        ],
        Some(DialogKind::Confirm) => &[(S::Dialog, C::Confirm), (S::Dialog, C::Cancel)],
        Some(DialogKind::Waiting) => &[(S::Input, C::Cancel)],
    }
}

pub fn render(state: &AppState, frame: &mut Frame, area: Rect) {
    if let Some((pending, entry)) = state.pending.opened() {
        render_open_entry(state, pending, &entry, frame.buffer_mut(), area);
        return;
    }
    render_list(state, frame.buffer_mut(), area);
    pending_dialogs::render(state, frame, area);
}

/// The entry opened with Enter: who holds it, then its fields the way the Streams
/// entries browser shows them (real order, duplicates kept, JSON pretty-printed).
fn render_open_entry(
    state: &AppState,
    pending: &PendingEntry,
    entry: &crate::redis::streams::StreamEntry,
    buf: &mut Buffer,
    area: Rect,
) {
    if area.height < 2 {
        return;
    }
    let back = state.keymap.first_key(Scope::Input, Command::Cancel);
    let title = Line::from(vec![
        Span::styled(format!(" ‹ {back}  "), theme::dim()),
        Span::styled(format!("pending entry {}", entry.id), theme::bold()),
        Span::styled(
            format!(
                " · held by {} · idle {} · delivered {}× · {} fields",
                escape_line(&pending.consumer),
                crate::text::duration_ms(pending.idle_ms),
                pending.deliveries,
                entry.fields.len()
            ),
            theme::dim(),
        ),
    ]);
    buf.set_line(area.x, area.y, &title, area.width);
    let body = Rect::new(area.x, area.y + 1, area.width, area.height - 1);
    super::streams::entries::draw_fields(entry, state.pending.entry_scroll, buf, body);
}

fn render_list(state: &AppState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let pane = &state.pending;
    if pane.target.is_none() {
        let key = |scope, command| state.keymap.first_key(scope, command);
        let text = format!(
            "No stream and group chosen: press {} to choose a stream and group, or select a \
             group in Streams ({}).",
            key(Scope::Pending, Command::PendingTarget),
            key(Scope::Global, Command::ShowStreams),
        );
        centered(buf, area, Line::styled(text, theme::dim()));
        return;
    }
    let title = title_line(pane, usize::from(area.width));
    buf.set_line(area.x, area.y, &title, area.width);
    let result_rows = if pane.result.is_some() {
        RESULT_ROWS
    } else {
        0
    };
    let list = Rect::new(
        area.x,
        area.y + LIST_TOP_ROWS.min(area.height),
        area.width,
        area.height.saturating_sub(LIST_TOP_ROWS + result_rows),
    );
    if let Some(result) = &pane.result {
        let y = list.bottom();
        let rect = Rect::new(
            area.x + 1,
            y,
            area.width.saturating_sub(2),
            area.bottom() - y,
        );
        let style = if result.error {
            theme::error()
        } else {
            theme::accent()
        };
        Paragraph::new(Line::styled(escape_str(&result.text).into_owned(), style))
            .wrap(Wrap { trim: true })
            .render(rect, buf);
    }
    if pane.entries.is_empty() {
        let text = match (&pane.error, pane.loaded) {
            (Some(e), _) => Line::styled(escape_str(e).into_owned(), theme::error()),
            (None, false) => Line::styled("Loading pending entries…", theme::dim()),
            (None, true) => Line::styled(empty_text(pane), theme::dim()),
        };
        centered(buf, list, text);
        return;
    }
    render_rows(pane, buf, area.y + 1, list);
}

fn empty_text(pane: &PendingPane) -> String {
    let mut text = "No pending entries".to_string();
    if let Some(ms) = pane.min_idle_ms {
        text.push_str(&format!(" idle at least {}", crate::text::duration_ms(ms)));
    }
    if let Some(c) = &pane.consumer {
        text.push_str(&format!(" held by {}", escape_line(c)));
    }
    if pane.page_number > 1 {
        text.push_str(" on this page ([ goes back to the first)");
    }
    text.push_str(" — every delivered entry has been acked.");
    text
}

fn centered(buf: &mut Buffer, area: Rect, line: Line<'static>) {
    if area.height == 0 {
        return;
    }
    super::centered_line(buf, area, line);
}

/// `stream › group · 40 pending · page 1 · idle ≥ 1m · sort idle ↓ over all 40 · held by …`
/// in `max` cells. When it does not fit, who holds what goes first, then the page, then
/// the count ([`fit::ranked_line`]); the sort, filters, marks and errors stay longest.
/// Long stream and group names are cut in the middle to leave room for the rest.
fn title_line(pane: &PendingPane, max: usize) -> Line<'static> {
    let mut parts = Vec::new();
    if let Some(t) = &pane.target {
        let name_room = (max / 3).max(8);
        let stream = fit::cut_middle(&escape_line(&t.stream), name_room);
        let group = fit::cut_middle(&escape_line(&t.group), name_room);
        parts.push(fit::Part::new(
            u8::MAX,
            vec![
                Span::styled(format!(" {stream}"), theme::channel().patch(theme::bold())),
                Span::styled(" › ", theme::dim()),
                Span::styled(group, theme::bold()),
            ],
        ));
    }
    if let Some(summary) = &pane.summary {
        parts.push(fit::Part::new(
            4,
            vec![Span::raw(format!("{} pending", thousands(summary.count)))],
        ));
    }
    let more = if pane.next_page.is_some() {
        ", more: ]"
    } else {
        ""
    };
    parts.push(fit::Part::new(
        3,
        vec![Span::styled(
            format!(
                "page {} ({} shown{more})",
                pane.page_number,
                pane.entries.len()
            ),
            theme::dim(),
        )],
    ));
    if let Some(ms) = pane.min_idle_ms {
        parts.push(fit::Part::new(
            7,
            vec![Span::styled(
                format!("idle ≥ {}", crate::text::duration_ms(ms)),
                theme::warn(),
            )],
        ));
    }
    if let Some(c) = &pane.consumer {
        parts.push(fit::Part::new(
            7,
            vec![Span::styled(
                format!("consumer {}", escape_line(c)),
                theme::warn(),
            )],
        ));
    }
    if let Some(sort) = sort_text(pane) {
        parts.push(fit::Part::new(6, vec![Span::styled(sort, theme::dim())]));
    }
    if !pane.marked.is_empty() {
        parts.push(fit::Part::new(
            8,
            vec![Span::styled(
                format!("{} marked", pane.marked.len()),
                theme::accent().patch(theme::bold()),
            )],
        ));
    }
    if let Some(busy) = pane.busy {
        parts.push(fit::Part::new(
            8,
            vec![Span::styled(format!("{busy} running…"), theme::warn())],
        ));
    }
    if let (Some(e), true) = (&pane.error, !pane.entries.is_empty()) {
        parts.push(fit::Part::new(
            8,
            vec![Span::styled(
                format!("refresh failed: {}", escape_str(e)),
                theme::error(),
            )],
        ));
    }
    if let Some(summary) = pane.summary.as_ref().filter(|s| !s.consumers.is_empty()) {
        let holders: Vec<String> = summary
            .consumers
            .iter()
            .map(|(c, n)| format!("{} {n}", escape_line(c)))
            .collect();
        parts.push(fit::Part::new(
            1,
            vec![Span::styled(
                format!("held by {}", holders.join(", ")),
                theme::dim(),
            )],
        ));
    }
    fit::ranked_line(parts, &Span::styled("  ·  ", theme::dim()), max)
}

/// `sort idle ↓ over all 250` / `… over the first 10,000`; `None` in id order.
fn sort_text(pane: &PendingPane) -> Option<String> {
    if pane.sort == PendingSort::Id && !pane.descending {
        return None;
    }
    let by = match pane.sort {
        PendingSort::Id => "id",
        PendingSort::Idle => "idle",
        PendingSort::Deliveries => "deliveries",
        PendingSort::Consumer => "consumer",
    };
    let arrow = if pane.descending { "↓" } else { "↑" };
    // The sort covers the whole list up to SORT_MAX rows: say how much.
    let over = match pane.sorted {
        Some(read) if read.bounded => format!(" over the first {}", thousands(read.rows as u64)),
        Some(read) => format!(" over all {}", thousands(read.rows as u64)),
        None => String::new(),
    };
    Some(format!("sort {by} {arrow}{over}"))
}

struct Widths {
    id: usize,
    consumer: usize,
}

fn render_rows(pane: &PendingPane, buf: &mut Buffer, header_y: u16, list: Rect) {
    let consumers: Vec<String> = pane
        .entries
        .iter()
        .map(|e| escape_line(&e.consumer).into_owned())
        .collect();
    let widths = Widths {
        id: pane
            .entries
            .iter()
            .map(|e| e.id.to_string().len())
            .max()
            .unwrap_or(2)
            .max(2),
        consumer: consumers
            .iter()
            .map(|c| fit::width(c))
            .max()
            .unwrap_or(8)
            .clamp(8, 24),
    };
    let header = format!(
        "   {:<id$}  {:>8}  {:<consumer$}  {:>8}  {:>5}  ENTRY",
        "ID",
        "AGE",
        "CONSUMER",
        "IDLE",
        "DELIV",
        id = widths.id,
        consumer = widths.consumer
    );
    buf.set_string(list.x, header_y, header, theme::dim().patch(theme::bold()));
    let rows = usize::from(list.height);
    if rows == 0 {
        return;
    }
    let selected = pane.selected_index();
    // The state keeps `scroll` in step; clamp here too so a resize never hides the cursor.
    let mut start = pane.scroll.min(pane.entries.len().saturating_sub(rows));
    if let Some(s) = selected {
        start = start.min(s).max((s + 1).saturating_sub(rows));
    }
    let range = pane.range_ids();
    for (i, entry) in pane.entries.iter().enumerate().skip(start).take(rows) {
        let y = list.y + (i - start) as u16;
        let row = Rect::new(list.x, y, list.width, 1);
        let is_selected = selected == Some(i);
        if is_selected {
            buf.set_style(row, theme::selected());
        }
        let mark = if pane.marked.contains(&entry.id) {
            Span::styled("●", theme::accent().patch(theme::bold()))
        } else if range.contains(&entry.id) {
            Span::styled("○", theme::accent())
        } else {
            Span::raw(" ")
        };
        let cursor = Span::styled(if is_selected { "›" } else { " " }, theme::accent());
        let mut spans = vec![cursor, mark, Span::raw(" ")];
        spans.extend(row_spans(entry, &consumers[i], &widths));
        let line = fit::cut_line(
            &Line::from(spans),
            usize::from(list.width),
            fit::Cut::End,
            theme::dim(),
        );
        buf.set_line(list.x, y, &line, list.width);
    }
}

fn row_spans(entry: &PendingEntry, consumer: &str, w: &Widths) -> Vec<Span<'static>> {
    let consumer = fit::pad(&fit::cut_middle(consumer, w.consumer), w.consumer, false);
    let deliveries_style = if entry.deliveries >= POISON_DELIVERIES {
        theme::error().patch(theme::bold())
    } else {
        Style::new()
    };
    let preview = match &entry.preview {
        Some(p) if !entry.deleted => Span::raw(p.clone()),
        _ => Span::styled("(deleted from the stream)", theme::warn()),
    };
    vec![
        Span::raw(format!("{:<width$}", entry.id.to_string(), width = w.id)),
        Span::styled(
            format!("  {:>8}", crate::text::duration_ms(entry.id_age_ms)),
            theme::dim(),
        ),
        Span::styled(format!("  {consumer}"), theme::channel()),
        Span::raw(format!("  {:>8}", crate::text::duration_ms(entry.idle_ms))),
        Span::styled(format!("  {:>5}", entry.deliveries), deliveries_style),
        Span::raw("  "),
        preview,
    ]
}
