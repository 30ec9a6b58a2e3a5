//! The Keyspace pane: a status line (glob, nodes, counts, gaps), what the nodes' setting
//! lacks, then the events (newest first) or the keys table. Every key, event and node
//! name goes through `text::escape` and is fitted with `fit` (… when cut).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::channels::table::{age_text, rate_text};
use super::{fit, popup, theme};
use crate::keymap::{Command, Scope};
use crate::redis::keyspace::check::Finding;
use crate::redis::keyspace::KeyspaceSpec;
use crate::state::keyspace::{KeyRow, KeySort, KeyspaceModal, Row, MAX_NOTES};
use crate::state::{thousands, AppState};
use crate::text::escape::{escape_line, escape_str};

/// Key bytes escaped per row: a 1 MB key must not cost a megabyte per frame.
const KEY_PREVIEW_BYTES: usize = 512;

pub fn render(state: &AppState, frame: &mut Frame, area: Rect) {
    let buf = frame.buffer_mut();
    if area.height == 0 || area.width == 0 {
        return;
    }
    let pane = &state.keyspace;
    let status = fit::cut_line(
        &status_line(state, usize::from(area.width)),
        usize::from(area.width),
        fit::Cut::End,
        theme::dim(),
    );
    buf.set_line(area.x, area.y, &status, area.width);
    let notes = notes(state, area.width);
    let mut y = area.y + 1;
    for note in &notes {
        if y >= area.bottom() {
            break;
        }
        buf.set_line(area.x, y, note, area.width);
        y += 1;
    }
    let list = Rect::new(area.x, y, area.width, area.bottom().saturating_sub(y));
    if pane.spec.is_none() {
        let key = state
            .keymap
            .first_key(Scope::Keyspace, Command::KeyspaceStart);
        super::centered(
            buf,
            list,
            format!(
                "No keyspace subscription — press {key} to follow the keyspace events of a \
                 key glob (or start redtail with --keyspace GLOB)"
            ),
        );
    } else if pane.show_keys {
        render_keys(state, buf, list);
    } else {
        render_events(state, buf, list);
    }
    match &pane.modal {
        Some(KeyspaceModal::Start(input)) => render_start(state, input, buf, area),
        Some(KeyspaceModal::ConfirmEnable) => render_confirm(state, buf, area),
        None => {}
    }
}

fn status_line(state: &AppState, max: usize) -> Line<'static> {
    let pane = &state.keyspace;
    let sep = Span::styled(" · ", theme::dim());
    let Some(spec) = &pane.spec else {
        return Line::styled(" keyspace: not following", theme::dim());
    };
    let mut parts = vec![fit::Part::new(
        9,
        vec![
            Span::styled(" keyspace ", theme::dim()),
            Span::styled(globs_text(spec), theme::channel()),
        ],
    )];
    let events = spec.events.as_ref().map_or_else(
        || "every event".to_string(),
        |e| escape_str(&e.iter().cloned().collect::<Vec<_>>().join(",")).into_owned(),
    );
    parts.push(fit::Part::new(3, vec![Span::raw(events)]));
    let db = spec
        .db
        .map_or_else(|| "every db".into(), |d| format!("db {d}"));
    parts.push(fit::Part::new(2, vec![Span::raw(db)]));
    if let Some(sources) = &pane.sources {
        parts.push(fit::Part::new(
            4,
            vec![Span::raw(format!("from {sources}"))],
        ));
    }
    let mut shown = format!("{} events", thousands(pane.len() as u64));
    if pane.evicted > 0 {
        shown.push_str(&format!(" ({} evicted)", thousands(pane.evicted)));
    }
    parts.push(fit::Part::new(8, vec![Span::raw(shown)]));
    let mut keys = format!("{} keys", thousands(pane.keys.len() as u64));
    if pane.keys.evicted() > 0 {
        keys.push_str(&format!(" ({} evicted)", thousands(pane.keys.evicted())));
    }
    parts.push(fit::Part::new(7, vec![Span::raw(keys)]));
    if !pane.gaps.is_empty() {
        parts.push(fit::Part::new(
            8,
            vec![Span::styled(gaps_text(pane), theme::warn())],
        ));
    }
    if pane.is_paused() {
        parts.push(fit::Part::new(
            9,
            vec![Span::styled(
                format!("paused ({} new)", thousands(pane.held())),
                theme::warn(),
            )],
        ));
    }
    if let Some(f) = &pane.filter {
        parts.push(fit::Part::new(
            6,
            vec![
                Span::styled("filter ", theme::dim()),
                Span::styled(escape_str(f.source()).into_owned(), theme::highlight()),
            ],
        ));
    }
    fit::ranked_line(parts, &sep, max)
}

/// "gaps 3 (10.0.0.5:7000×2 10.0.0.6:7001×1)": per node, like the feed's gap count.
fn gaps_text(pane: &crate::state::keyspace::KeyspacePane) -> String {
    let total: u64 = pane.gaps.values().sum();
    let nodes: Vec<String> = pane
        .gaps
        .iter()
        .filter(|(n, _)| !n.is_empty())
        .map(|(n, c)| format!("{}×{c}", escape_str(n)))
        .collect();
    if nodes.is_empty() {
        format!("gaps {total}")
    } else {
        format!("gaps {total} ({})", nodes.join(" "))
    }
}

/// The keyspace subscription on the header's counters line (every pane): glob, where
/// from, events, gaps per node. Dropped early on a narrow screen unless gaps happened.
pub fn header_part(state: &AppState) -> Option<fit::Part> {
    let pane = &state.keyspace;
    let spec = pane.spec.as_ref()?;
    let mut spans = vec![
        Span::styled("keyspace ", theme::accent()),
        Span::raw(globs_text(spec)),
    ];
    if let Some(sources) = &pane.sources {
        spans.push(Span::styled(format!(" from {sources}"), theme::dim()));
    }
    spans.push(Span::styled(
        format!(" ({} ev)", thousands(pane.received)),
        theme::dim(),
    ));
    let gaps = !pane.gaps.is_empty();
    if gaps {
        spans.push(Span::styled(format!(" {}", gaps_text(pane)), theme::warn()));
    }
    Some(fit::Part::new(if gaps { 5 } else { 0 }, spans))
}

fn globs_text(spec: &KeyspaceSpec) -> String {
    spec.globs
        .iter()
        .map(|g| escape_line(g).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per node whose setting lacks flags (or cannot be read), then the key that
/// fixes it; at most [`MAX_NOTES`] nodes, the rest counted.
fn notes(state: &AppState, width: u16) -> Vec<Line<'static>> {
    let pane = &state.keyspace;
    let lacking: Vec<&Finding> = pane.lacking().collect();
    if lacking.is_empty() || pane.spec.is_none() {
        return Vec::new();
    }
    let max = usize::from(width);
    let mut lines: Vec<Line<'static>> = lacking
        .iter()
        .take(MAX_NOTES)
        .map(|f| fit::cut_line(&note_line(f), max, fit::Cut::End, theme::dim()))
        .collect();
    if lacking.len() > MAX_NOTES {
        lines.push(Line::styled(
            format!(" … and {} more nodes", lacking.len() - MAX_NOTES),
            theme::warn(),
        ));
    }
    if pane.to_enable().next().is_some() {
        let key = state
            .keymap
            .first_key(Scope::Keyspace, Command::EnableNotifications);
        let text = if state.config.read_only.is_on() {
            " events of the missing classes do not arrive from these nodes until the flags \
             are set (read-only mode: set them outside redtail)"
                .to_string()
        } else {
            format!(
                " press {key} to set them — events of the missing classes do not arrive until then"
            )
        };
        lines.push(fit::cut_line(
            &Line::styled(text, theme::warn()),
            max,
            fit::Cut::End,
            theme::dim(),
        ));
    }
    // The same count the state scrolls by (room for the titles and a row of list).
    lines.truncate(usize::from(pane.note_rows(state.areas().body.height)));
    lines
}

fn note_line(f: &Finding) -> Line<'static> {
    let esc = |s: &str| escape_str(s).into_owned();
    match f {
        Finding::Ready { .. } => Line::default(),
        Finding::Missing {
            addr,
            current,
            missing,
            replica,
            ..
        } => {
            let has = if current.is_empty() {
                "\"\" (off)".to_string()
            } else {
                format!("\"{}\"", esc(current))
            };
            let role = if *replica { " (replica)" } else { "" };
            Line::from(vec![
                Span::styled(" ! ", theme::warn()),
                Span::raw(format!("node {}{role} lacks flags ", esc(addr))),
                Span::styled(format!("\"{}\"", esc(missing)), theme::warn()),
                Span::styled(format!(" (notify-keyspace-events is {has})"), theme::dim()),
            ])
        }
        Finding::Unreadable { addr, error } => Line::from(vec![
            Span::styled(" ! ", theme::warn()),
            Span::raw(format!(
                "node {}: cannot read notify-keyspace-events: {}",
                esc(addr),
                esc(error)
            )),
        ]),
    }
}

/// Column widths of the events view: time, event, node, db (the key takes the rest).
fn event_columns(width: u16) -> (u16, u16, Option<u16>, Option<u16>) {
    let time = 12;
    let event = 10;
    let node = (width >= 80).then_some(21);
    let db = (width >= 70).then_some(3);
    (time, event, node, db)
}

fn render_events(state: &AppState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let pane = &state.keyspace;
    let (time_w, event_w, node_w, db_w) = event_columns(area.width);
    let fixed =
        2 + time_w + 1 + 1 + event_w + node_w.map_or(0, |w| w + 1) + db_w.map_or(0, |w| w + 1);
    // As wide as the widest key on screen (the figures stay near it), at most the rest.
    let rows = usize::from(area.height.saturating_sub(1));
    let visible = pane.visible(rows);
    let widest = fit::widest_name(
        visible.iter().filter_map(|r| r.event()).map(|e| &e.key[..]),
        KEY_PREVIEW_BYTES,
    );
    let key_w = area.width.saturating_sub(fixed).min(widest.max(16)).max(4);
    let mut titles = vec![
        ("time", time_w, false),
        ("key", key_w, false),
        ("event", event_w, false),
    ];
    if let Some(w) = node_w {
        titles.push(("node", w, false));
    }
    if let Some(w) = db_w {
        titles.push(("db", w, true));
    }
    let heads = titles
        .iter()
        .map(|(t, w, _)| (fit::cut_end(t, usize::from(*w)), theme::bold()));
    super::channels::table::draw_row(buf, area, area.y, &titles, heads);
    if visible.is_empty() {
        let text = if pane.filter.is_some() && !pane.is_empty() {
            "No events match the filter".to_string()
        } else {
            "Waiting for keyspace events…".to_string()
        };
        let rest = Rect::new(area.x, area.y + 1, area.width, area.height - 1);
        super::centered(buf, rest, text);
        return;
    }
    for (i, row) in visible.iter().enumerate() {
        let y = area.y + 1 + i as u16;
        let e = match row {
            Row::Event(e) => e,
            Row::Gap(g) => {
                gap_row(state, &g.gap, buf, Rect::new(area.x, y, area.width, 1));
                continue;
            }
        };
        let time = e
            .received
            .with_timezone(&state.config.utc_offset)
            .format("%H:%M:%S%.3f")
            .to_string();
        let key = preview(&e.key);
        let mut cells: Vec<(String, Style)> = vec![
            (time, theme::dim()),
            (fit::cut_middle(&key, usize::from(key_w)), theme::channel()),
            (
                fit::cut_end(&escape_line(&e.event), usize::from(event_w)),
                Style::default(),
            ),
        ];
        if let Some(w) = node_w {
            cells.push((
                fit::cut_middle(&escape_str(&e.node), usize::from(w)),
                theme::dim(),
            ));
        }
        if db_w.is_some() {
            cells.push((e.db.to_string(), theme::dim()));
        }
        super::channels::table::draw_row(buf, area, y, &titles, cells.into_iter());
    }
}

/// "10:00:01.000 ── disconnected 1.2 s — events in this window are lost (node …: reason) ──",
/// in warning colour across the row.
fn gap_row(state: &AppState, gap: &crate::redis::message::Gap, buf: &mut Buffer, row: Rect) {
    let time = gap
        .to
        .with_timezone(&state.config.utc_offset)
        .format("%H:%M:%S%.3f")
        .to_string();
    let text = format!("  {time} ── {} ", escape_str(&gap.describe_lost("events")));
    let room = usize::from(row.width);
    let text = fit::cut_end(&text, room);
    let fill = room.saturating_sub(text.chars().count());
    buf.set_stringn(row.x, row.y, text + &"─".repeat(fill), room, theme::warn());
}

/// A key escaped for one row, at most [`KEY_PREVIEW_BYTES`] of it (cut with …).
fn preview(key: &[u8]) -> String {
    if key.len() <= KEY_PREVIEW_BYTES {
        return escape_line(key).into_owned();
    }
    format!(
        "{}{}",
        escape_line(&key[..KEY_PREVIEW_BYTES]),
        fit::ELLIPSIS
    )
}

/// Keys-table columns after the key: (sort, title, short, need).
const KEY_COLUMNS: [(Option<KeySort>, &str, &str, fit::ColumnNeed); 6] = [
    (Some(KeySort::Events), "events", "ev", need(9, 6, 0)),
    (None, "by event", "by", need(28, 12, 1)),
    (Some(KeySort::Last), "last event", "last", need(12, 8, 2)),
    (None, "age", "age", need(7, 5, 3)),
    (Some(KeySort::Rate), "ev/s", "ev/s", need(7, 5, 4)),
    (Some(KeySort::Node), "node", "node", need(21, 8, 5)),
];

const fn need(full: u16, min: u16, priority: u8) -> fit::ColumnNeed {
    fit::ColumnNeed {
        full,
        min,
        priority,
    }
}

fn render_keys(state: &AppState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let pane = &state.keyspace;
    let table = &pane.keys;
    let rows = usize::from(area.height.saturating_sub(1));
    let page = table.page(state.now, pane.filter.as_ref(), table.selected, rows);
    let (selected, start, shown) = (page.selected, page.start, &page.rows);
    let keys: Vec<String> = shown.iter().map(|r| preview(&r.key)).collect();
    let want = keys.iter().map(|k| fit::width(k)).max().unwrap_or(3) as u16;
    let needs: Vec<fit::ColumnNeed> = KEY_COLUMNS.iter().map(|c| c.3).collect();
    // The key keeps enough to tell similar keys apart before figures are added, and
    // grows past 30 cells only once every figure has its full width.
    let (key_w, widths) = fit::layout(&needs, area.width, want.clamp(8, 22), want.clamp(3, 30));
    let arrow = |sort: Option<KeySort>| {
        (sort == Some(table.sort)).then_some(if table.descending { "↓" } else { "↑" })
    };
    let mut columns: Vec<(String, u16, bool)> = vec![(
        fit::heading("key", "key", arrow(Some(KeySort::Key)), usize::from(key_w)),
        key_w,
        false,
    )];
    for ((sort, title, short, _), w) in KEY_COLUMNS.iter().zip(&widths) {
        if let Some(w) = w {
            let right = matches!(sort, Some(KeySort::Events | KeySort::Rate)) || *title == "age";
            columns.push((
                fit::heading(title, short, arrow(*sort), usize::from(*w)),
                *w,
                right,
            ));
        }
    }
    let titles: Vec<(&str, u16, bool)> = columns
        .iter()
        .map(|(t, w, r)| (t.as_str(), *w, *r))
        .collect();
    let heads = titles
        .iter()
        .map(|(t, _, _)| (t.to_string(), theme::bold()));
    super::channels::table::draw_row(buf, area, area.y, &titles, heads);
    if shown.is_empty() {
        let rest = Rect::new(area.x, area.y + 1, area.width, area.height - 1);
        let text = if pane.filter.is_some() && !table.is_empty() {
            "No keys match the filter"
        } else {
            "No keys seen yet"
        };
        super::centered(buf, rest, text.into());
        return;
    }
    for (i, (row, key)) in shown.iter().zip(&keys).enumerate() {
        let y = area.y + 1 + i as u16;
        let is_selected = start + i == selected;
        let cells = key_cells(state, row, key, key_w, &widths);
        super::channels::table::draw_row(buf, area, y, &titles, cells.into_iter());
        if is_selected {
            buf.set_string(area.x, y, "▶", theme::accent());
        }
    }
}

fn key_cells(
    state: &AppState,
    row: &KeyRow,
    key: &str,
    key_w: u16,
    widths: &[Option<u16>],
) -> Vec<(String, Style)> {
    let mut cells = vec![(fit::cut_middle(key, usize::from(key_w)), theme::channel())];
    let texts = [
        thousands(row.total),
        by_event(row),
        escape_line(&row.last_event).into_owned(),
        age_text(state.now - row.last_at),
        rate_text(row.rate),
        escape_str(&row.node).into_owned(),
    ];
    for (text, w) in texts.into_iter().zip(widths) {
        if let Some(w) = w {
            cells.push((fit::cut_end(&text, usize::from(*w)), Style::default()));
        }
    }
    cells
}

/// "set×120 expired×3", most frequent first.
fn by_event(row: &KeyRow) -> String {
    row.events
        .iter()
        .map(|(e, n)| format!("{}×{}", escape_line(e), thousands(*n)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn render_start(state: &AppState, input: &tui_input::Input, buf: &mut Buffer, area: Rect) {
    let rect = popup::rect(area, 64, 7, popup::Place::UpperThird);
    let inner = popup::padded(popup::frame(buf, rect, "Follow keyspace events"));
    if inner.height == 0 {
        return;
    }
    buf.set_stringn(
        inner.x,
        inner.y,
        "Key glob, then events (optional), e.g.  user:* set,del",
        usize::from(inner.width),
        theme::dim(),
    );
    if inner.height > 1 {
        let text = escape_str(input.value()).into_owned();
        let room = usize::from(inner.width.saturating_sub(2));
        let shown = fit::cut_middle(&text, room);
        buf.set_stringn(
            inner.x,
            inner.y + 2.min(inner.height - 1),
            format!("> {shown}"),
            usize::from(inner.width),
            Style::default(),
        );
    }
    let accept = state.keymap.first_key(Scope::Input, Command::Accept);
    let cancel = state.keymap.first_key(Scope::Input, Command::Cancel);
    popup::hints(
        buf,
        inner,
        &[format!(
            "{accept} follow (replaces the current one) · {cancel} cancel"
        )],
    );
}

fn render_confirm(state: &AppState, buf: &mut Buffer, area: Rect) {
    let pane = &state.keyspace;
    let mut lines: Vec<String> = vec!["This sets notify-keyspace-events on:".into()];
    for f in pane.to_enable() {
        if let Finding::Missing {
            addr,
            current,
            missing,
            ..
        } = f
        {
            let value = crate::redis::keyspace::flags::merged(current, missing);
            lines.push(format!(
                "  {}: \"{}\" → \"{}\"",
                escape_str(addr),
                escape_str(current),
                escape_str(&value)
            ));
        }
    }
    lines.push("The old values are put back when redtail quits.".into());
    lines.push("Audited (CONFIG SET through the action layer).".into());
    let want = lines.iter().map(|l| fit::width(l)).max().unwrap_or(20) as u16 + 4;
    let height = lines.len() as u16 + 3;
    let rect = popup::rect(area, want.max(40), height, popup::Place::Middle);
    let inner = popup::padded(popup::frame(buf, rect, "Enable keyspace notifications?"));
    let confirm = state.keymap.first_key(Scope::Dialog, Command::Confirm);
    let cancel = state.keymap.first_key(Scope::Input, Command::Cancel);
    let used = popup::hints(
        buf,
        inner,
        &[format!("{confirm} set them · {cancel} cancel")],
    );
    let room = inner.height.saturating_sub(used);
    for (i, line) in lines.iter().take(usize::from(room)).enumerate() {
        let text = fit::cut_end(line, usize::from(inner.width));
        buf.set_stringn(
            inner.x,
            inner.y + i as u16,
            text,
            usize::from(inner.width),
            Style::default(),
        );
    }
}
