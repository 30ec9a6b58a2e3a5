//! The tab bar: brand, panes with their number keys, read-only badge.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::theme;
use crate::keymap::{Command, Scope};
use crate::state::layout::{tab_columns, tab_label, BRAND};
use crate::state::AppState;

pub fn render(state: &AppState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    buf.set_style(area, theme::bar());
    buf.set_string(area.x, area.y, BRAND, theme::bold().patch(theme::accent()));
    for (tab, x, _) in tab_columns() {
        let style = if tab == state.tab {
            theme::tab_active()
        } else {
            theme::tab_inactive()
        };
        if x < area.right() {
            // Five tabs are wider than the smallest screen: the last one is cut with …
            let room = usize::from(area.right() - x);
            let label = super::fit::cut_end(&tab_label(tab), room);
            buf.set_stringn(area.x + x, area.y, label, room, style);
        }
    }
    let mut right = Vec::new();
    if state.config.read_only.is_on() {
        right.push(Span::styled("read-only ", theme::warn()));
    }
    if let Some(keys) = state.keymap.keys_for(Scope::Global, Command::Help).first() {
        right.push(Span::styled(keys.to_string(), theme::key()));
        right.push(Span::styled(" help ", theme::dim()));
    }
    let line = Line::from(right);
    let width = line.width() as u16;
    let end = tab_columns().last().map_or(0, |&(_, x, w)| x + w);
    if area.width > end + width {
        buf.set_line(area.right() - width, area.y, &line, width);
    }
}
