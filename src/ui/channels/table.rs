//! What the channels, clients and nodes tables share: their figures' text and the
//! fixed-width row drawing.

use chrono::TimeDelta;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use crate::state::{thousands, AppState};
use crate::ui::fit;

/// Messages per second: "0", "0.02", "4.5", "1,204".
pub fn rate_text(rate: f64) -> String {
    if rate <= 0.0 {
        return "0".into();
    }
    if rate >= 100.0 {
        thousands(rate.round() as u64)
    } else if rate >= 10.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.2}")
    }
}

/// How long ago, in the one duration format ([`crate::text::duration`]).
pub fn age_text(age: TimeDelta) -> String {
    crate::text::duration(age)
}

/// "1 channel", "4 channels".
pub fn count(n: usize, noun: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} {noun}{s}", thousands(n as u64))
}

/// How old the poller's last answer is, for the clients view's figures line.
pub fn stats_age(state: &AppState) -> Option<TimeDelta> {
    let taken = state.channels.poll.last_ok.as_ref()?.taken_at;
    Some(state.now - taken)
}

/// One table row of fixed-width cells (right- or left-aligned), cut at the area's edge.
pub fn draw_row(
    buf: &mut Buffer,
    area: Rect,
    y: u16,
    columns: &[(&str, u16, bool)],
    cells: impl Iterator<Item = (String, Style)>,
) {
    let mut x = area.x + 2;
    for (&(_, width, right), (text, style)) in columns.iter().zip(cells) {
        if x >= area.right() {
            break;
        }
        let room = usize::from(width.min(area.right() - x));
        buf.set_stringn(x, y, fit::pad(&text, room, right), room, style);
        x += width + 1;
    }
}
