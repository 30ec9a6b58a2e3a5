//! The one rule for fitting text into cells, used by every table, list, dialog and help
//! line:
//!
//! - **A cut is always marked** with `…`, so a shortened text never passes for a whole one.
//! - **Names are cut in the middle** (`ai:str…1a2b`): keys, channels, groups and consumers
//!   share long prefixes (`ai:stream:sess-…`), and the part that tells them apart is
//!   nearly always at the end. Cutting names in the middle every time, rather than only
//!   when two visible names would collide, keeps a name looking the same whatever else
//!   is on screen. Prose (hints, errors, help) is cut at the end or wrapped.
//! - **Names get their width before numbers**: a figure column is first as wide as its
//!   widest cell or its short heading ([`layout`]); only what the name does not need
//!   widens the figures to their full headings.
//! - **The sort arrow stays visible**: a sorted heading is cut before its arrow is
//!   ([`heading`]).
//!
//! Widths are terminal cells (CJK characters take two), never bytes or chars.

use ratatui::buffer::Buffer;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

pub const ELLIPSIS: &str = "…";

/// Cells `text` takes on screen.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(c).unwrap_or(0)
}

/// The longest prefix of `text` that fits `max` cells.
fn prefix(text: &str, max: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += char_width(c);
        if used > max {
            return &text[..i];
        }
    }
    text
}

/// The longest suffix of `text` that fits `max` cells.
fn suffix(text: &str, max: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices().rev() {
        used += char_width(c);
        if used > max {
            return &text[i + c.len_utf8()..];
        }
    }
    text
}

/// `text` in at most `max` cells, cut at the end with `…` when it does not fit.
pub fn cut_end(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    format!("{}{ELLIPSIS}", prefix(text, max - 1))
}

/// `text` in at most `max` cells, cut in the middle with `…` so its end stays visible.
pub fn cut_middle(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max < 4 {
        return cut_end(text, max);
    }
    let room = max - 1;
    let tail = room / 2;
    let head = prefix(text, room - tail);
    let tail = suffix(&text[head.len()..], room - width(head));
    format!("{head}{ELLIPSIS}{tail}")
}

/// Where a styled line loses its excess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    End,
    Middle,
}

/// A styled line in at most `max` cells, cut (at the end or in the middle) with a dimmed
/// `…`; styles of what remains are kept.
pub fn cut_line(line: &Line<'_>, max: usize, cut: Cut, ellipsis: Style) -> Line<'static> {
    let total = line.width();
    if total <= max {
        let spans: Vec<Span<'static>> = line
            .spans
            .iter()
            .map(|s| Span::styled(s.content.to_string(), s.style))
            .collect();
        return Line::from(spans).style(line.style);
    }
    if max == 0 {
        return Line::default();
    }
    let room = max - 1;
    let (head_room, tail_room) = match cut {
        Cut::End => (room, 0),
        Cut::Middle if max < 4 => (room, 0),
        Cut::Middle => (room - room / 2, room / 2),
    };
    let mut head = Vec::new();
    let mut used = 0;
    for span in &line.spans {
        let part = prefix(&span.content, head_room - used);
        used += width(part);
        if !part.is_empty() {
            head.push(Span::styled(part.to_string(), span.style));
        }
        if part.len() < span.content.len() {
            break;
        }
    }
    let mut tail = Vec::new();
    let mut tail_used = 0;
    let tail_room = tail_room + (head_room - used);
    let tail_room = if cut == Cut::End { 0 } else { tail_room };
    for span in line.spans.iter().rev() {
        let part = suffix(&span.content, tail_room - tail_used);
        tail_used += width(part);
        if !part.is_empty() {
            tail.push(Span::styled(part.to_string(), span.style));
        }
        if part.len() < span.content.len() {
            break;
        }
    }
    tail.reverse();
    head.push(Span::styled(ELLIPSIS, ellipsis));
    head.extend(tail);
    Line::from(head).style(line.style)
}

/// Draw a line of prose (a title, facts, a hint) at `(x, y)` in `width` cells, cut at
/// the end with a dimmed `…` when it does not fit.
pub fn set_line_cut(buf: &mut Buffer, x: u16, y: u16, line: &Line<'_>, width: u16) {
    let line = cut_line(line, usize::from(width), Cut::End, super::theme::dim());
    buf.set_line(x, y, &line, width);
}

/// Cells of the last part worth showing cut rather than dropping it ([`ranked_line`]).
const SHOWN_IN_PART: usize = 16;

/// One part of a status line for [`ranked_line`].
pub struct Part {
    /// Higher ranks are kept longer; the first part is always kept.
    pub rank: u8,
    pub spans: Vec<Span<'static>>,
    /// No separator before this part (it continues the one before).
    pub glued: bool,
}

impl Part {
    pub fn new(rank: u8, spans: Vec<Span<'static>>) -> Part {
        Part {
            rank,
            spans,
            glued: false,
        }
    }
}

/// A status line in at most `max` cells: its parts joined by `sep`, in their order.
/// While it does not fit, the lowest-ranked part goes (the earliest among equals), and a
/// dimmed ` …` at the end says something was left out; what remains is cut at the end
/// with `…` if it still does not fit. A lowest-ranked last part is cut instead of
/// dropped when at least 16 cells of it fit.
pub fn ranked_line(mut parts: Vec<Part>, sep: &Span<'static>, max: usize) -> Line<'static> {
    let join = |parts: &[Part], dropped: bool| {
        let mut spans = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 && !part.glued {
                spans.push(sep.clone());
            }
            spans.extend(part.spans.iter().cloned());
        }
        if dropped {
            spans.push(Span::styled(" …", super::theme::dim()));
        }
        Line::from(spans)
    };
    let mut dropped = false;
    while parts.len() > 1 && join(&parts, dropped).width() > max {
        let lowest = (1..parts.len()).min_by_key(|&i| parts[i].rank).unwrap_or(1);
        // The last part may show in part (cut with …) when a useful piece of it fits.
        if lowest == parts.len() - 1 {
            let before = join(&parts[..lowest], dropped).width() + sep.width();
            if before + SHOWN_IN_PART <= max {
                break;
            }
        }
        parts.remove(lowest);
        dropped = true;
    }
    cut_line(&join(&parts, dropped), max, Cut::End, super::theme::dim())
}

/// A column heading in `max` cells: the full title when it fits, else the short one; a
/// sorted column's arrow is never the part that is cut.
pub fn heading(title: &str, short: &str, arrow: Option<&str>, max: usize) -> String {
    let with = |t: &str, sep: &str| match arrow {
        Some(a) => format!("{t}{sep}{a}"),
        None => t.to_string(),
    };
    for candidate in [with(title, " "), with(short, " "), with(short, "")] {
        if width(&candidate) <= max {
            return candidate;
        }
    }
    match arrow {
        Some(a) if max > width(a) => format!("{}{a}", cut_end(short, max - width(a))),
        Some(a) => cut_end(a, max),
        None => cut_end(short, max),
    }
}

/// A figure column for [`layout`]: its full width (full heading or declared width), the
/// least it needs (its widest cell on screen or its short heading), and its priority
/// (0 = kept longest on narrow screens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnNeed {
    pub full: u16,
    pub min: u16,
    pub priority: u8,
}

/// Widths for a table of one name column and figure columns, each column followed by
/// one space and the row starting after a 2-cell marker. Returns the name's width and,
/// per column, its width or `None` when it is left out.
///
/// Columns are kept by priority at their minimum next to a name of `name_min`; then the
/// name grows towards `name_want` (its widest text on screen); then the figures grow
/// towards their full widths; anything left goes to the name.
pub fn layout(
    columns: &[ColumnNeed],
    total: u16,
    name_min: u16,
    name_want: u16,
) -> (u16, Vec<Option<u16>>) {
    let mut room = i32::from(total) - 2 - i32::from(name_min);
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by_key(|&i| columns[i].priority);
    let mut widths: Vec<Option<u16>> = vec![None; columns.len()];
    for &i in &order {
        let need = i32::from(columns[i].min) + 1;
        if need <= room {
            room -= need;
            widths[i] = Some(columns[i].min);
        }
    }
    let room = room.max(0) as u16;
    let to_name = room.min(name_want.saturating_sub(name_min));
    let mut spare = room - to_name;
    for &i in &order {
        if let Some(w) = widths[i].as_mut() {
            let grow = columns[i].full.saturating_sub(*w).min(spare);
            *w += grow;
            spare -= grow;
        }
    }
    let used: u16 = widths.iter().flatten().map(|w| w + 1).sum();
    let name = total.saturating_sub(2 + used).max(name_min.min(total));
    (name, widths)
}

/// `text` padded to `cells` (right-aligned when `right`), cut at the end if longer.
pub fn pad(text: &str, cells: usize, right: bool) -> String {
    let text = cut_end(text, cells);
    let fill = " ".repeat(cells.saturating_sub(width(&text)));
    if right {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

/// Word-wrapped `text` in lines of at most `max` cells (a word longer than a line is
/// broken); at most `rows` lines, the last one ending in `…` when text was left over.
pub fn wrap(text: &str, max: usize, rows: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    if max == 0 || rows == 0 {
        return lines;
    }
    for word in text.split(' ') {
        let mut word = word;
        loop {
            let sep = usize::from(!current.is_empty());
            if width(&current) + sep + width(word) <= max {
                if sep == 1 {
                    current.push(' ');
                }
                current.push_str(word);
                break;
            }
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
                continue;
            }
            // A word wider than a whole line: break it.
            let part = prefix(word, max);
            let part = if part.is_empty() {
                &word[..word.chars().next().map_or(0, char::len_utf8)]
            } else {
                part
            };
            lines.push(part.to_string());
            word = &word[part.len()..];
            if word.is_empty() {
                break;
            }
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    if lines.len() > rows {
        let rest = lines[rows - 1..].join(" ");
        lines.truncate(rows - 1);
        lines.push(cut_end(&format!("{rest}{ELLIPSIS}"), max).replace("……", ELLIPSIS));
        if let Some(last) = lines.last_mut() {
            if !last.ends_with(ELLIPSIS) {
                *last = format!("{}{ELLIPSIS}", prefix(last, max - 1));
            }
        }
    }
    lines
}

/// The short heading a figure column falls back to when names need the room; one
/// table for every pane so a heading abbreviates the same way everywhere.
pub fn short_title(title: &str) -> &str {
    match title {
        "subscribers" => "subs",
        "consumers" => "cons",
        "pending" => "pend",
        "append/s" => "add/s",
        "last entry" => "last",
        "last msg" => "last",
        "max lag" => "lag",
        "time lag" => "t-lag",
        "inactive" => "inact",
        "length" => "len",
        "groups" => "grps",
        "read/s" => "rd/s",
        "outlook" => "outlook",
        other => other,
    }
}

/// Cells the widest of `names` takes once escaped (at most `cap`), for [`layout`]'s
/// `name_want`.
pub fn widest_name<'a>(names: impl Iterator<Item = &'a [u8]>, cap: usize) -> u16 {
    names
        .map(|n| width(&crate::text::escape::escape_line(&n[..n.len().min(cap)])))
        .max()
        .unwrap_or(0)
        .min(usize::from(u16::MAX)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_are_marked_and_fit() {
        assert_eq!(cut_end("hello", 5), "hello");
        assert_eq!(cut_end("hello world", 6), "hello…");
        assert_eq!(cut_end("hello", 0), "");
        assert_eq!(cut_middle("ai:stream:sess-1a2b", 11), "ai:st…-1a2b");
        assert_eq!(cut_middle("ai:stream:sess-1c4d", 11), "ai:st…-1c4d");
        assert_eq!(cut_middle("abc", 2), "a…");
        // Wide characters count two cells and are never split.
        let cjk = cut_middle("流媒体会话流媒体会话", 9);
        assert!(width(&cjk) <= 9 && cjk.contains('…'), "{cjk}");
        assert_eq!(cut_end("流媒体", 4), "流…");
    }

    #[test]
    fn similar_names_stay_apart_at_any_width() {
        for w in 4..20 {
            let a = cut_middle("ai:stream:sess-1a2b", w);
            let b = cut_middle("ai:stream:sess-1c4d", w);
            assert_ne!(a, b, "width {w}");
            assert!(width(&a) <= w);
        }
    }

    #[test]
    fn styled_lines_keep_styles_and_mark_the_cut() {
        let bold = Style::new().add_modifier(ratatui::style::Modifier::BOLD);
        let line = Line::from(vec![
            Span::raw("ai:stream:"),
            Span::styled("sess-1a2b", bold),
        ]);
        let cut = cut_line(&line, 11, Cut::Middle, Style::new());
        let text: String = cut.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "ai:st…-1a2b");
        assert_eq!(cut.spans.last().map(|s| s.style), Some(bold));
        let end = cut_line(&line, 8, Cut::End, Style::new());
        let text: String = end.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "ai:stre…");
        assert_eq!(cut_line(&line, 40, Cut::End, Style::new()).width(), 19);
    }

    #[test]
    fn headings_keep_the_arrow() {
        assert_eq!(
            heading("subscribers", "subs", Some("▲"), 13),
            "subscribers ▲"
        );
        assert_eq!(heading("subscribers", "subs", Some("▲"), 6), "subs ▲");
        assert_eq!(heading("subscribers", "subs", Some("▲"), 5), "subs▲");
        assert_eq!(heading("subscribers", "subs", Some("▲"), 3), "s…▲");
        assert_eq!(heading("subscribers", "subs", Some("▲"), 1), "▲");
        assert_eq!(heading("subscribers", "subs", None, 3), "su…");
    }

    #[test]
    fn names_get_room_before_figures() {
        let col = |full, min, priority| ColumnNeed {
            full,
            min,
            priority,
        };
        let columns = [col(13, 5, 0), col(9, 3, 1)];
        // Narrow: figures at their minimum, the name takes the rest.
        let (name, widths) = layout(&columns, 40, 8, 30);
        assert_eq!(widths, [Some(5), Some(3)]);
        assert_eq!(name, 40 - 2 - 6 - 4);
        // Wide: the name has all it wants, figures grow to full width.
        let (name, widths) = layout(&columns, 100, 8, 20);
        assert_eq!(widths, [Some(13), Some(9)]);
        assert_eq!(name, 100 - 2 - 14 - 10);
        // Too narrow for a column: it is dropped by priority.
        let (_, widths) = layout(&columns, 18, 8, 30);
        assert_eq!(widths, [Some(5), None]);
    }

    #[test]
    fn wrapping_fits_and_marks_what_is_left_over() {
        assert_eq!(wrap("a bb ccc", 4, 5), ["a bb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4, 5), ["abcd", "efgh", "ij"]);
        let two = wrap("one two three four five", 9, 2);
        assert_eq!(two.len(), 2);
        assert!(two[1].ends_with('…') && width(&two[1]) <= 9, "{two:?}");
        assert_eq!(wrap("", 4, 2), [""]);
    }

    #[test]
    fn padding_uses_cells() {
        assert_eq!(pad("流", 4, true), "  流");
        assert_eq!(pad("abcdef", 4, false), "abc…");
    }
}
