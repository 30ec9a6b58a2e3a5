//! Drawing: a pure function of [`AppState`]. One module per pane; nothing here changes
//! state or does I/O, so a frame can be drawn from a test with a fixed `now`.

pub mod channels;
pub mod composer;
pub mod detail;
pub mod feed;
pub mod fit;
pub mod footer;
pub mod header;
pub mod help;
pub mod keyspace;
pub mod pending;
pub mod pending_dialogs;
pub mod popup;
pub mod problems;
pub mod prompt;
pub mod send_marked;
pub mod streams;
pub mod tabs;
pub mod theme;

use ratatui::Frame;

use crate::state::{layout, AppState, Focus, Overlay, Tab};

pub fn render(state: &AppState, frame: &mut Frame) {
    let areas = layout::areas(frame.area(), state.input_rows());
    tabs::render(state, frame.buffer_mut(), areas.tabs);
    header::render(state, frame.buffer_mut(), areas.header);
    render_body(state, frame, areas.body);
    if let Some(input) = areas.input {
        prompt::render_input(state, frame, input);
    }
    footer::render(state, frame.buffer_mut(), areas.footer);
    match &state.overlay {
        Some(Overlay::Help { scroll }) => help::render(state, *scroll, frame, areas.body),
        Some(Overlay::Unsubscribe(picker)) => prompt::render_picker(picker, frame, areas.body),
        Some(Overlay::Composer(composer)) => composer::render(state, composer, frame, areas.body),
        Some(Overlay::SendMarked(dialog)) => send_marked::render(state, dialog, frame, areas.body),
        _ => {}
    }
}

fn render_body(state: &AppState, frame: &mut Frame, area: ratatui::layout::Rect) {
    if state.problems.open {
        return problems::render(state, frame, area);
    }
    match state.tab {
        Tab::Feed => match &state.detail {
            Some(d) if state.focus() != Focus::Placeholder => {
                detail::render(state, d, frame.buffer_mut(), area)
            }
            _ => feed::render(state, frame.buffer_mut(), area),
        },
        Tab::Channels => channels::render(state, frame.buffer_mut(), area),
        Tab::Pending => pending::render(state, frame, area),
        Tab::Streams => streams::render(state, frame, area),
        Tab::Keyspace => keyspace::render(state, frame, area),
    }
}

/// A note in the middle of an empty area (a third of the way down, wrapped, with a margin):
/// "Looking for streams…", "No pending entries — …".
pub fn centered_line(
    buf: &mut ratatui::buffer::Buffer,
    area: ratatui::layout::Rect,
    line: ratatui::text::Line,
) {
    use ratatui::widgets::{Paragraph, Widget, Wrap};
    if area.height == 0 {
        return;
    }
    let y = area.y + area.height / 3;
    let rect = ratatui::layout::Rect::new(
        area.x + 2,
        y,
        area.width.saturating_sub(4),
        area.bottom().saturating_sub(y),
    );
    Paragraph::new(line)
        .centered()
        .wrap(Wrap { trim: true })
        .render(rect, buf);
}

/// [`centered_line`] for plain dimmed text.
pub fn centered(buf: &mut ratatui::buffer::Buffer, area: ratatui::layout::Rect, text: String) {
    centered_line(buf, area, ratatui::text::Line::styled(text, theme::dim()));
}
