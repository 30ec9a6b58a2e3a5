//! The Problems list over the pane: a title with the counts, one row per finding
//! (kind · severity · stream · group · consumer/id · evidence), the selected finding's
//! evidence and fix under it, and the fix preview / advice box. Names are escaped
//! through `text::escape` and cut in the middle with `…` (`ui/fit.rs`).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::popup::{self, Place};
use super::{fit, theme};
use crate::keymap::{Command, Scope};
use crate::redis::doctor::{Finding, Severity};
use crate::state::problems::keys::{DETAIL_ROWS, TOP_ROWS};
use crate::state::problems::{FixDialog, ProblemsView};
use crate::state::AppState;
use crate::text::escape::{escape_line, escape_str};

/// Widest the kind column gets (`falling_behind`).
const KIND_WIDTH: usize = 14;
const DIALOG_WIDTH: u16 = 96;

pub fn render(state: &AppState, frame: &mut Frame, area: Rect) {
    let buf = frame.buffer_mut();
    ratatui::widgets::Widget::render(ratatui::widgets::Clear, area, buf);
    if area.height == 0 {
        return;
    }
    let view = &state.problems;
    let title = title_line(state, usize::from(area.width));
    buf.set_line(area.x, area.y, &title, area.width);
    if !view.received {
        super::centered(
            buf,
            area,
            "Checking the streams for stuck work… (findings come with the next streams poll)"
                .into(),
        );
        return;
    }
    if view.rows.is_empty() {
        let text = if view.problems.is_empty() {
            "No findings: no poison, dangling, zombie, consumerless, stalled or lagging work."
        } else {
            "No finding matches the filter."
        };
        super::centered(buf, area, text.into());
        return;
    }
    let list_height = area.height.saturating_sub(TOP_ROWS + DETAIL_ROWS).max(1);
    let list = Rect::new(
        area.x,
        area.y + 1,
        area.width,
        (list_height + 1).min(area.height.saturating_sub(1)),
    );
    render_table(view, buf, list);
    let detail_y = list.bottom();
    if detail_y < area.bottom() {
        let detail = Rect::new(area.x, detail_y, area.width, area.bottom() - detail_y);
        render_detail(view, buf, detail);
    }
    if let Some(dialog) = &view.dialog {
        render_dialog(state, dialog, frame, area);
    }
}

fn title_line(state: &AppState, max: usize) -> Line<'static> {
    let view = &state.problems;
    let count = |s: Severity| {
        view.problems
            .iter()
            .filter(|p| p.finding.severity == s)
            .count()
    };
    let mut parts = vec![fit::Part::new(
        u8::MAX,
        vec![Span::styled(" Problems", theme::bold())],
    )];
    if view.received {
        parts.push(fit::Part::new(
            6,
            vec![
                Span::styled(
                    format!("{} critical", count(Severity::Critical)),
                    theme::error(),
                ),
                Span::raw(", "),
                Span::styled(
                    format!("{} warning", count(Severity::Warning)),
                    theme::warn(),
                ),
                Span::raw(", "),
                Span::styled(format!("{} info", count(Severity::Info)), theme::dim()),
            ],
        ));
    }
    if let Some(filter) = view.filter() {
        parts.push(fit::Part::new(
            7,
            vec![
                Span::styled("filter ", theme::accent()),
                Span::raw(escape_str(filter.source()).into_owned()),
                Span::styled(format!(" ({} shown)", view.rows.len()), theme::dim()),
            ],
        ));
    }
    if !view.notes.is_empty() {
        parts.push(fit::Part::new(
            5,
            vec![Span::styled(
                format!("{} not checked: {}", view.notes.len(), view.notes[0]),
                theme::warn(),
            )],
        ));
    }
    let key = |c| state.keymap.first_key(Scope::Problems, c);
    parts.push(fit::Part::new(
        2,
        vec![Span::styled(
            format!(
                "{} show · {} fix · {} close",
                key(Command::ShowEvidence),
                key(Command::Fix),
                key(Command::ProblemsList)
            ),
            theme::dim(),
        )],
    ));
    fit::ranked_line(parts, &Span::styled(" · ", theme::dim()), max)
}

fn severity_style(s: Severity) -> Style {
    match s {
        Severity::Critical => theme::error(),
        Severity::Warning => theme::warn(),
        Severity::Info => theme::dim(),
    }
}

/// Column widths: kind, severity, stream, group, consumer/id; evidence takes the rest.
fn widths(total: usize) -> [usize; 5] {
    let kind = if total >= 90 { KIND_WIDTH } else { 11 };
    let severity = if total >= 90 { 8 } else { 4 };
    let name = (total / 6).clamp(6, 30);
    let who = (total / 7).clamp(6, 24);
    [kind, severity, name, name, who]
}

fn severity_text(s: Severity, width: usize) -> String {
    if width >= 8 {
        s.as_str().to_string()
    } else {
        s.as_str().chars().take(4).collect()
    }
}

fn consumer_or_id(f: &Finding) -> String {
    match (&f.consumer, f.ids.first()) {
        (Some(c), _) => escape_line(c).into_owned(),
        (None, Some(id)) if f.ids.len() > 1 => format!("{id} +{}", f.ids.len() - 1),
        (None, Some(id)) => id.to_string(),
        (None, None) => "—".into(),
    }
}

fn render_table(view: &ProblemsView, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let total = usize::from(area.width);
    let w = widths(total);
    let fixed: usize = 2 + w.iter().map(|c| c + 1).sum::<usize>();
    let evidence_width = total.saturating_sub(fixed);
    let headings = [
        fit::pad("kind", w[0], false),
        fit::pad(if w[1] >= 8 { "severity" } else { "sev" }, w[1], false),
        fit::pad("stream", w[2], false),
        fit::pad("group", w[3], false),
        fit::pad("consumer/id", w[4], false),
    ];
    let mut head = format!("  {}", headings.join(" "));
    if evidence_width >= 8 {
        head.push(' ');
        head.push_str("evidence");
    }
    buf.set_stringn(area.x, area.y, &head, total, theme::dim());
    let page = usize::from(area.height.saturating_sub(1)).max(1);
    let offset = crate::state::streams::visible_offset(view.offset, view.selected, page);
    for (row, &i) in view.rows.iter().skip(offset).take(page).enumerate() {
        let Some(problem) = view.problems.get(i) else {
            continue;
        };
        let f = &problem.finding;
        let y = area.y + 1 + row as u16;
        let selected = offset + row == view.selected;
        let name = |n: Option<&[u8]>, width: usize| {
            let text = n.map_or_else(|| "—".to_string(), |n| escape_line(n).into_owned());
            fit::pad(&fit::cut_middle(&text, width), width, false)
        };
        let mut spans = vec![
            Span::raw(if selected { "▸ " } else { "  " }),
            Span::raw(fit::pad(f.kind.as_str(), w[0], false)),
            Span::raw(" "),
            Span::styled(
                fit::pad(&severity_text(f.severity, w[1]), w[1], false),
                severity_style(f.severity),
            ),
            Span::raw(" "),
            Span::styled(name(Some(&f.stream), w[2]), theme::channel()),
            Span::raw(" "),
            Span::raw(name(f.group.as_deref(), w[3])),
            Span::raw(" "),
            Span::raw(fit::pad(
                &fit::cut_middle(&consumer_or_id(f), w[4]),
                w[4],
                false,
            )),
        ];
        if evidence_width >= 8 {
            spans.push(Span::raw(" "));
            // Dim on the selection's grey would vanish: plain there.
            let style = if selected { Style::new() } else { theme::dim() };
            spans.push(Span::styled(
                fit::cut_end(&escape_str(&f.evidence), evidence_width),
                style,
            ));
        }
        let line = Line::from(spans);
        fit::set_line_cut(buf, area.x, y, &line, area.width);
        if selected {
            buf.set_style(Rect::new(area.x, y, area.width, 1), theme::selected());
        }
    }
}

/// The selected finding's evidence and fix, wrapped.
fn render_detail(view: &ProblemsView, buf: &mut Buffer, area: Rect) {
    let Some(problem) = view.selected_problem() else {
        return;
    };
    let f = &problem.finding;
    let width = usize::from(area.width.saturating_sub(2));
    let rows = usize::from(area.height);
    let mut lines = fit::wrap(&escape_str(&f.evidence), width, rows.div_ceil(2).max(1));
    let node = f
        .node
        .as_deref()
        .map_or_else(String::new, |n| format!(" (node {})", escape_str(n)));
    let fix_text = format!("fix{node}: {}", escape_str(&f.fix));
    lines.extend(fit::wrap(
        &fix_text,
        width,
        rows.saturating_sub(lines.len()),
    ));
    for (i, line) in lines.iter().take(rows).enumerate() {
        buf.set_stringn(
            area.x + 1,
            area.y + i as u16,
            line,
            width,
            if line.starts_with("fix") {
                theme::accent()
            } else {
                Style::new()
            },
        );
    }
}

fn render_dialog(state: &AppState, dialog: &FixDialog, frame: &mut Frame, area: Rect) {
    let key = |scope, command| state.keymap.first_key(scope, command);
    let hints = if dialog.send.is_some() {
        format!(
            "{} send it   {}/{} cancel",
            key(Scope::Dialog, Command::Confirm),
            key(Scope::Dialog, Command::Cancel),
            key(Scope::Input, Command::Cancel)
        )
    } else {
        format!("{} close", key(Scope::Input, Command::Cancel))
    };
    let width = DIALOG_WIDTH.min(area.width.saturating_sub(2)).max(10);
    let text_width = usize::from(width.saturating_sub(4));
    // Room for the text: the area less the border, the hint row and a margin.
    let room = usize::from(area.height.saturating_sub(4)).max(1);
    let mut lines: Vec<String> = Vec::new();
    for (i, text) in dialog.lines.iter().enumerate() {
        let left = room.saturating_sub(lines.len());
        // Keep a row for every line still to come, so the command is never pushed out.
        let later = dialog.lines.len() - i - 1;
        let rows = left.saturating_sub(later).max(1);
        lines.extend(fit::wrap(&escape_str(text), text_width, rows));
    }
    lines.truncate(room);
    let height = (lines.len() as u16 + 3).min(area.height);
    let rect = popup::rect(area, width, height, Place::UpperThird);
    let buf = frame.buffer_mut();
    let inner = popup::padded(popup::frame(buf, rect, &dialog.title));
    let used = popup::hints(buf, inner, &[hints]);
    let text_rows = inner.height.saturating_sub(used);
    for (i, line) in lines.iter().take(usize::from(text_rows)).enumerate() {
        buf.set_stringn(
            inner.x,
            inner.y + i as u16,
            line,
            usize::from(inner.width),
            Style::new(),
        );
    }
}
