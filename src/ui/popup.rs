//! The one frame every dialog is drawn in: a box placed over the pane, cleared, with the
//! accent border and its title, and key hints on its bottom rows. A fix to how dialogs
//! look (border, title escaping, hints inside the border) lands everywhere at once.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Widget};

use super::theme;
use crate::text::escape::escape_str;

/// Where a box sits down the area (it is always centred across).
#[derive(Debug, Clone, Copy)]
pub enum Place {
    /// Halfway down the free rows.
    Middle,
    /// A third of the way down the free rows: the list under it stays in view.
    UpperThird,
    /// This many rows below the area's top.
    Below(u16),
}

/// A `width` × `height` box (cut to `area`) centred across `area`, down it at `place`.
pub fn rect(area: Rect, width: u16, height: u16, place: Place) -> Rect {
    let (width, height) = (width.min(area.width), height.min(area.height));
    let free = area.height - height;
    let down = match place {
        Place::Middle => free / 2,
        Place::UpperThird => free / 3,
        Place::Below(rows) => rows.min(area.height),
    };
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + down,
        width,
        height,
    )
}

/// Clear `rect` and draw the dialog border with ` title ` (escaped: titles may name keys
/// or streams); returns the inside.
pub fn frame(buf: &mut Buffer, rect: Rect, title: &str) -> Rect {
    Clear.render(rect, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme::accent())
        .title(Line::styled(
            format!(" {} ", escape_str(title)),
            theme::bold(),
        ));
    let inner = block.inner(rect);
    block.render(rect, buf);
    inner
}

/// `inner` less a column of padding on each side.
pub fn padded(inner: Rect) -> Rect {
    Rect::new(
        inner.x + 1,
        inner.y,
        inner.width.saturating_sub(2),
        inner.height,
    )
}

/// Key hints on the last rows of `area`, dim and cut at its width (never past the
/// border); returns how many rows they took.
pub fn hints(buf: &mut Buffer, area: Rect, hints: &[String]) -> u16 {
    let rows = (hints.len() as u16).min(area.height);
    let top = area.bottom() - rows;
    for (i, hint) in hints.iter().take(usize::from(rows)).enumerate() {
        let room = usize::from(area.width);
        buf.set_stringn(area.x, top + i as u16, hint, room, theme::dim());
    }
    rows
}
