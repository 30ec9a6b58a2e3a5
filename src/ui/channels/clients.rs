//! The subscriber-clients view of the Channels pane: `CLIENT LIST TYPE pubsub` as a
//! table, output-buffer memory coloured as it nears the server's pubsub limit.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::table::{age_text, count, draw_row, stats_age};
use crate::keymap::{Command, Scope};
use crate::redis::clients::{OutputLimit, PubSubClient};
use crate::state::channels::visible_offset;
use crate::state::{thousands, AppState};
use crate::text::escape::escape_str;
use crate::ui::{fit, theme};

/// (title, width, right-aligned)
const COLUMNS: [(&str, u16, bool); 9] = [
    ("id", 8, true),
    ("addr", 21, false),
    ("name", 14, false),
    ("sub", 5, true),
    ("psub", 5, true),
    ("ssub", 5, true),
    ("omem", 10, true),
    ("of limit", 8, true),
    ("idle", 6, true),
];

/// "3 subscriber clients · pubsub buffer limit: hard 32.0 MiB, soft 8.0 MiB for 60 s".
pub fn figures_line(state: &AppState) -> Line<'static> {
    let poll = &state.channels.poll;
    let sep = || Span::styled(" · ", theme::dim());
    let mut spans = vec![Span::raw(" ")];
    match &poll.clients {
        None => spans.push(Span::styled(
            "asking the server for CLIENT LIST…",
            theme::dim(),
        )),
        Some(Err(_)) => spans.push(Span::styled(
            "subscriber clients unavailable",
            theme::warn(),
        )),
        Some(Ok(list)) => {
            spans.push(Span::raw(count(list.len(), "subscriber client")));
            spans.push(sep());
            spans.push(match poll.output_limit {
                Some(limit) => Span::raw(format!("pubsub buffer limit: {}", limit_text(limit))),
                None => Span::styled(
                    "pubsub buffer limit unknown (CONFIG GET not permitted)",
                    theme::dim(),
                ),
            });
        }
    }
    if let Some(age) = stats_age(state) {
        spans.push(sep());
        let style = if poll.last_error.is_some() {
            theme::warn()
        } else {
            theme::dim()
        };
        spans.push(Span::styled(format!("stats {} old", age_text(age)), style));
    }
    Line::from(spans)
}

fn limit_text(limit: OutputLimit) -> String {
    let size = |n: u64| {
        if n == 0 {
            "none".to_string()
        } else {
            theme::human_bytes(n)
        }
    };
    format!(
        "hard {}, soft {} for {}",
        size(limit.hard_bytes),
        size(limit.soft_bytes),
        crate::text::duration_secs(limit.soft_seconds)
    )
}

/// omem as a share of the limit the server acts on first: the soft limit if set (a
/// client above it for `soft_seconds` is dropped), else the hard one. None: no limit.
pub fn limit_share(omem: u64, limit: Option<OutputLimit>) -> Option<f64> {
    let limit = limit?;
    let base = if limit.soft_bytes > 0 {
        limit.soft_bytes
    } else {
        limit.hard_bytes
    };
    (base > 0).then(|| omem as f64 / base as f64)
}

/// Yellow from half the limit, red from 80 %: a subscriber that far behind is about
/// to be disconnected, and its messages lost.
pub fn omem_style(share: Option<f64>) -> Style {
    match share {
        Some(s) if s >= 0.8 => theme::error().patch(theme::bold()),
        Some(s) if s >= 0.5 => theme::warn(),
        _ => Style::new(),
    }
}

pub fn render_table(state: &AppState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let list = match state.channels.clients() {
        Some(Ok(list)) => list,
        Some(Err(error)) => return render_denied(state, error, buf, area),
        None => return,
    };
    let columns = columns_for(area.width);
    draw_row(
        buf,
        area,
        area.y,
        &columns,
        columns.iter().map(|c| (c.0.to_string(), theme::dim())),
    );
    let body = Rect::new(area.x, area.y + 1, area.width, area.height - 1);
    if list.is_empty() {
        crate::ui::centered(
            buf,
            body,
            "No client is subscribed to anything on this server.".into(),
        );
        return;
    }
    let page = usize::from(body.height);
    let selected = state.channels.clients_selected;
    let offset = visible_offset(state.channels.clients_offset, selected, page);
    for (i, client) in list.iter().enumerate().skip(offset).take(page) {
        let y = body.y + (i - offset) as u16;
        if i == selected {
            buf.set_style(Rect::new(area.x, y, area.width, 1), theme::selected());
            buf.set_string(area.x, y, "›", theme::accent());
        }
        let mut row = cells(state, client);
        // Client names are untrusted names: cut in the middle, like every name.
        row[NAME_COLUMN].0 =
            fit::cut_middle(&row[NAME_COLUMN].0, usize::from(columns[NAME_COLUMN].1));
        draw_row(buf, area, y, &columns, row.into_iter());
    }
}

const NAME_COLUMN: usize = 2;

/// The columns at this width: the client name takes what the figures leave (they were
/// fixed at 14 cells, cutting names with room to spare on wide terminals).
fn columns_for(width: u16) -> Vec<(&'static str, u16, bool)> {
    let others: u16 = COLUMNS
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != NAME_COLUMN)
        .map(|(_, c)| c.1 + 1)
        .sum();
    let mut columns = COLUMNS.to_vec();
    columns[NAME_COLUMN].1 = width
        .saturating_sub(2 + others + 1)
        .max(COLUMNS[NAME_COLUMN].1);
    columns
}

fn cells(state: &AppState, c: &PubSubClient) -> [(String, Style); 9] {
    let share = limit_share(c.omem, state.channels.poll.output_limit);
    let omem_style = omem_style(share);
    let share_text = share.map_or_else(|| "—".to_string(), |s| format!("{:.0}%", s * 100.0));
    let count = |n: u64| {
        let style = if n == 0 { theme::dim() } else { Style::new() };
        (thousands(n), style)
    };
    [
        (c.id.to_string(), theme::dim()),
        (escape_str(&c.addr).into_owned(), Style::new()),
        if c.name.is_empty() {
            ("—".into(), theme::dim())
        } else {
            (escape_str(&c.name).into_owned(), theme::channel())
        },
        count(c.sub),
        count(c.psub),
        count(c.ssub),
        (theme::human_bytes(c.omem), omem_style),
        (share_text, omem_style),
        (crate::text::duration_secs(c.idle.as_secs()), theme::dim()),
    ]
}

fn render_denied(state: &AppState, error: &str, buf: &mut Buffer, area: Rect) {
    let back = state
        .keymap
        .first_key(Scope::Channels, Command::ToggleClients);
    let headline = if error.contains("NOPERM") {
        "CLIENT LIST is not permitted for this user"
    } else {
        "CLIENT LIST failed"
    };
    let lines = vec![
        Line::styled(headline, theme::warn().patch(theme::bold())),
        Line::styled(escape_str(error).into_owned(), theme::warn()),
        Line::default(),
        Line::styled(
            format!("The channels table still works: press {back} to go back to it."),
            theme::dim(),
        ),
    ];
    let y = area.y + 1.min(area.height);
    let rect = Rect::new(
        area.x + 2,
        y,
        area.width.saturating_sub(4),
        area.bottom().saturating_sub(y),
    );
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .render(rect, buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omem_share_uses_the_soft_limit_first() {
        let limit = |hard, soft| {
            Some(OutputLimit {
                hard_bytes: hard,
                soft_bytes: soft,
                soft_seconds: 60,
            })
        };
        assert_eq!(limit_share(4, limit(100, 8)), Some(0.5));
        assert_eq!(limit_share(4, limit(8, 0)), Some(0.5));
        assert_eq!(limit_share(4, limit(0, 0)), None, "no limit");
        assert_eq!(limit_share(4, None), None);
        assert_eq!(omem_style(Some(0.49)), Style::new());
        assert_eq!(omem_style(Some(0.5)), theme::warn());
        assert_eq!(omem_style(Some(0.8)), theme::error().patch(theme::bold()));
    }
}
