//! The confirmation of `r` with marked messages: how many, to which channels, how many
//! bytes, and how they go out. Names are escaped; key hints come from the keymap.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::Frame;

use super::popup::{self, Place};
use super::{fit, theme};
use crate::keymap::{Command, Scope};
use crate::state::marks::SendMarked;
use crate::state::{thousands, AppState};
use crate::text::escape::escape_line;

const WIDTH: u16 = 72;
/// Channels named before "+N more".
const NAMED_CHANNELS: usize = 4;
/// Widest a channel name is shown (cut in the middle with `…` past it).
const NAME_CELLS: usize = 40;

/// The dialog's sentences (before wrapping), names cut to `name_cells` each.
pub fn lines(dialog: &SendMarked, name_cells: usize) -> Vec<String> {
    let n = dialog.messages.len();
    let channels = dialog.channels.len();
    let mut named: Vec<String> = dialog
        .channels
        .iter()
        .take(NAMED_CHANNELS)
        .map(|(name, shard)| {
            let name = fit::cut_middle(&escape_line(name), name_cells);
            if *shard {
                format!("{name} (shard)")
            } else {
                name
            }
        })
        .collect();
    if channels > NAMED_CHANNELS {
        named.push(format!(
            "… +{} more",
            thousands((channels - NAMED_CHANNELS) as u64)
        ));
    }
    let publish = n - dialog.shard;
    let commands = match (publish, dialog.shard) {
        (_, 0) => "each by PUBLISH".to_string(),
        (0, _) => "each by SPUBLISH".to_string(),
        (p, s) => format!(
            "{} by PUBLISH and {} by SPUBLISH, each as it came in",
            thousands(p as u64),
            thousands(s as u64)
        ),
    };
    vec![
        format!(
            "{} message{}, {} of payload, to {} channel{}:",
            thousands(n as u64),
            if n == 1 { "" } else { "s" },
            crate::text::bytes(dialog.bytes),
            thousands(channels as u64),
            if channels == 1 { "" } else { "s" },
        ),
        named.join(", "),
        format!("They go out byte for byte, oldest first, {commands}."),
    ]
}

pub fn render(state: &AppState, dialog: &SendMarked, frame: &mut Frame, area: Rect) {
    let key = |scope, command| state.keymap.first_key(scope, command);
    let hints = format!(
        "{} send them   {}/{} cancel",
        key(Scope::Dialog, Command::Confirm),
        key(Scope::Dialog, Command::Cancel),
        key(Scope::Input, Command::Cancel)
    );
    let n = dialog.messages.len();
    let title = format!(
        "send {} marked message{} again?",
        thousands(n as u64),
        if n == 1 { "" } else { "s" }
    );
    let width = WIDTH.min(area.width.saturating_sub(2)).max(10);
    let text_width = usize::from(width.saturating_sub(4));
    // The area less the border and the hint row; each sentence keeps at least a row.
    let room = usize::from(area.height.saturating_sub(3)).max(1);
    let sentences = lines(dialog, NAME_CELLS.min(text_width.saturating_sub(9)).max(8));
    let mut wrapped: Vec<String> = Vec::new();
    for (i, text) in sentences.iter().enumerate() {
        let later = sentences.len() - i - 1;
        let rows = room
            .saturating_sub(wrapped.len())
            .saturating_sub(later)
            .max(1);
        wrapped.extend(fit::wrap(text, text_width, rows));
    }
    wrapped.truncate(room);
    let height = (wrapped.len() as u16 + 3).min(area.height);
    let rect = popup::rect(area, width, height, Place::UpperThird);
    let buf = frame.buffer_mut();
    let inner = popup::padded(popup::frame(buf, rect, &title));
    let used = popup::hints(buf, inner, &[hints]);
    let text_rows = inner.height.saturating_sub(used);
    for (i, line) in wrapped.iter().take(usize::from(text_rows)).enumerate() {
        let style = if i == 0 { theme::bold() } else { Style::new() };
        buf.set_stringn(
            inner.x,
            inner.y + i as u16,
            line,
            usize::from(inner.width),
            style,
        );
    }
}
