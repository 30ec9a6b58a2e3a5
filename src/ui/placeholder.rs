//! Panes that are not built yet say so instead of showing nothing.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};

use super::theme;
use crate::state::Tab;

fn plan(tab: Tab) -> &'static str {
    match tab {
        Tab::Feed => "",
        Tab::Channels => "active channels with subscriber counts and message rates",
        Tab::Streams => "streams, consumer groups and their lag",
        Tab::Pending => "pending entries per consumer group and consumer",
    }
}

pub fn render(tab: Tab, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let y = area.y + area.height / 3;
    let rect = Rect::new(area.x, y, area.width, area.bottom().saturating_sub(y));
    Paragraph::new(vec![
        Line::styled(format!("{} — coming", tab.title()), theme::bold()),
        Line::styled(plan(tab), theme::dim()),
    ])
    .centered()
    .render(rect, buf);
}
