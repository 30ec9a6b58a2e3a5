//! The nodes view of the Channels pane: what is being watched (a cluster's primaries and
//! replicas, with their slots and health) and each node's own Pub/Sub figures, whose
//! sums are the totals in the channels table.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::table::draw_row;
use crate::redis::cluster::Role;
use crate::redis::poller::NodePubSub;
use crate::state::{thousands, AppState};
use crate::text::escape::escape_str;
use crate::ui::theme;

const COLUMNS: [(&str, u16, bool); 9] = [
    ("role", 7, false),
    ("address", 21, false),
    ("slots", 6, true),
    ("health", 8, false),
    ("channels", 8, true),
    ("subs", 7, true),
    ("shard ch", 8, true),
    ("shard subs", 10, true),
    ("numpat", 6, true),
];

/// "cluster · 3 primaries · 3 replicas · figures per node; totals count each subscriber once".
pub fn figures_line(state: &AppState) -> Line<'static> {
    let poll = &state.channels.poll;
    let mut spans = vec![Span::raw(" ")];
    match &poll.deployment {
        Some(d) => spans.push(Span::styled(escape_str(d).into_owned(), theme::accent())),
        None => spans.push(Span::styled("a single server", theme::accent())),
    }
    let nodes = poll.last_ok.as_ref().map_or(0, |s| s.nodes.len());
    if nodes > 0 {
        spans.push(Span::styled(
            " · figures per node; the channel totals count each subscriber once",
            theme::dim(),
        ));
    }
    Line::from(spans)
}

pub fn render_table(state: &AppState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let nodes: &[NodePubSub] = state
        .channels
        .poll
        .last_ok
        .as_ref()
        .map_or(&[], |s| s.nodes.as_slice());
    if nodes.is_empty() {
        let text = if state.channels.poll.deployment.is_some() {
            "Sentinel mode: redtail follows the primary the Sentinels name (shown above)."
        } else {
            "Not a cluster: every figure in the channels table comes from this one server."
        };
        crate::ui::centered(buf, area, text.into());
        return;
    }
    draw_row(
        buf,
        area,
        area.y,
        &COLUMNS,
        COLUMNS.iter().map(|c| (c.0.to_string(), theme::dim())),
    );
    for (i, node) in nodes.iter().take(usize::from(area.height - 1)).enumerate() {
        let y = area.y + 1 + i as u16;
        draw_row(buf, area, y, &COLUMNS, cells(node).into_iter());
        if let Some(e) = &node.error {
            // The figures are missing: say why in the space they would take.
            let x = area.x + 2 + COLUMNS[..4].iter().map(|c| c.1 + 1).sum::<u16>();
            if x < area.right() {
                buf.set_stringn(
                    x,
                    y,
                    escape_str(e),
                    usize::from(area.right() - x),
                    theme::error(),
                );
            }
        }
    }
}

fn cells(n: &NodePubSub) -> Vec<(String, Style)> {
    let count = |v: i64| {
        let style = if v == 0 { theme::dim() } else { Style::new() };
        (thousands(v.max(0) as u64), style)
    };
    let health_style = match n.health.as_str() {
        "online" => theme::ok(),
        "loading" => theme::dim(),
        _ => theme::error().patch(theme::bold()),
    };
    let mut row = vec![
        (
            n.role.as_str().to_string(),
            if n.role == Role::Primary {
                theme::accent()
            } else {
                theme::dim()
            },
        ),
        (escape_str(&n.addr).into_owned(), Style::new()),
        count(n.slots as i64),
        (escape_str(&n.health).into_owned(), health_style),
    ];
    if n.error.is_none() {
        row.extend([
            count(n.channels as i64),
            count(n.subscribers),
            count(n.shard_channels as i64),
            count(n.shard_subscribers),
            count(n.numpat),
        ]);
    }
    row
}
