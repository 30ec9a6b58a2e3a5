//! The bottom line: a fading notice, then the focused pane's main keys (from the keymap).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::theme;
use crate::keymap::{Command, Scope};
use crate::state::status::NoticeLevel;
use crate::state::{AppState, Focus};

/// The commands worth a place in the footer for each focus.
pub fn footer_commands(focus: Focus) -> &'static [(Scope, Command)] {
    use Command as C;
    use Scope as S;
    match focus {
        Focus::Feed => &[
            (S::Feed, C::Filter),
            (S::Feed, C::TogglePause),
            (S::Feed, C::Open),
            (S::Feed, C::Subscribe),
            (S::Feed, C::Unsubscribe),
            (S::Feed, C::Export),
            (S::Feed, C::ToggleMark),
            (S::Global, C::NextTab),
            (S::Global, C::Help),
            (S::Global, C::Quit),
        ],
        Focus::Detail => &[
            (S::Navigation, C::Down),
            (S::Navigation, C::PageDown),
            (S::Detail, C::CycleDecoder),
            (S::Detail, C::ToggleHex),
            (S::Detail, C::Back),
            (S::Global, C::Help),
            (S::Global, C::Quit),
        ],
        Focus::Filter => &[(S::Input, C::Accept), (S::Input, C::Cancel)],
        Focus::Subscribe => &[
            (S::Input, C::CycleKind),
            (S::Input, C::Accept),
            (S::Input, C::Cancel),
        ],
        Focus::Unsubscribe => &[
            (S::Navigation, C::Down),
            (S::Input, C::Accept),
            (S::Input, C::Cancel),
        ],
        Focus::Pending => super::pending::footer_commands(None),
        Focus::Streams(focus) => super::streams::footer_commands(focus),
        Focus::PendingDialog(kind) => super::pending::footer_commands(Some(kind)),
        Focus::Channels => &[
            (S::Channels, C::Filter),
            (S::Channels, C::SortNext),
            (S::Channels, C::SubscribeSelected),
            (S::Channels, C::SubscribePattern),
            (S::Channels, C::Publish),
            (S::Channels, C::ToggleClients),
            (S::Channels, C::ToggleNodes),
            (S::Global, C::Help),
            (S::Global, C::Quit),
        ],
        Focus::Nodes => &[
            (S::Channels, C::ToggleNodes),
            (S::Channels, C::ToggleClients),
            (S::Channels, C::Publish),
            (S::Global, C::NextTab),
            (S::Global, C::Help),
            (S::Global, C::Quit),
        ],
        Focus::Clients => &[
            (S::Navigation, C::Down),
            (S::Channels, C::ToggleClients),
            (S::Channels, C::Publish),
            (S::Global, C::NextTab),
            (S::Global, C::Help),
            (S::Global, C::Quit),
        ],
        Focus::Composer => &[
            (S::Composer, C::Send),
            (S::Composer, C::NextField),
            (S::Composer, C::ToggleShard),
            (S::Composer, C::ToggleJson),
            (S::Composer, C::CycleEncoding),
            (S::Composer, C::Cancel),
        ],
        Focus::Help => &[(S::Input, C::Cancel), (S::Global, C::Quit)],
        Focus::Problems => &[
            (S::Navigation, C::Down),
            (S::Problems, C::ShowEvidence),
            (S::Problems, C::Fix),
            (S::Problems, C::Filter),
            (S::Problems, C::ProblemsList),
            (S::Global, C::Help),
            (S::Global, C::Quit),
        ],
        Focus::ProblemsDialog | Focus::SendMarked => &[
            (S::Dialog, C::Confirm),
            (S::Dialog, C::Cancel),
            (S::Input, C::Cancel),
        ],
        Focus::Keyspace => &[
            (S::Keyspace, C::ToggleKeysTable),
            (S::Keyspace, C::KeyspaceStart),
            (S::Keyspace, C::Filter),
            (S::Keyspace, C::TogglePause),
            (S::Keyspace, C::SortNext),
            (S::Keyspace, C::EnableNotifications),
            (S::Global, C::Help),
        ],
        Focus::KeyspaceDialog => &[(S::Input, C::Accept), (S::Input, C::Cancel)],
        Focus::Placeholder => &[
            (S::Global, C::NextTab),
            (S::Global, C::Help),
            (S::Global, C::Quit),
        ],
    }
}

pub fn render(state: &AppState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    buf.set_style(area, theme::bar());
    let mut spans = Vec::new();
    if state.config.read_only.is_on() {
        // Always visible, so nobody wonders why a key that changes the server does nothing.
        spans.push(Span::styled(
            " READ-ONLY ",
            theme::tab_active().bg(ratatui::style::Color::Yellow),
        ));
    }
    if let Some(notice) = state.visible_notice() {
        let style = match notice.level {
            NoticeLevel::Info | NoticeLevel::Progress => theme::accent(),
            NoticeLevel::Error => theme::error(),
        };
        spans.push(Span::styled(format!(" {} ", notice.text), style));
        spans.push(Span::styled("│", theme::dim()));
    }
    let focus = state.focus();
    for (key, label) in state.keymap.footer(footer_commands(focus)) {
        let label = match label {
            "pause" if state.feed.is_paused() => "follow",
            "apply" if focus == Focus::Unsubscribe => "drop",
            "apply" if focus == Focus::Subscribe => "subscribe",
            "cancel" if focus == Focus::Help => "close",
            "problems" if focus == Focus::Problems => "close",
            "clients" if focus == Focus::Clients => "channels",
            "nodes" if focus == Focus::Nodes => "channels",
            // In the entries browser `]` pages back in time.
            "next page" if matches!(focus, Focus::Streams(_)) => "older",
            other => other,
        };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(key, theme::key()));
        spans.push(Span::styled(format!(" {label}"), theme::dim()));
    }
    let line = super::fit::cut_line(
        &Line::from(spans),
        usize::from(area.width),
        super::fit::Cut::End,
        theme::dim(),
    );
    buf.set_line(area.x, area.y, &line, area.width);
}
