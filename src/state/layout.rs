//! Screen geometry shared by state (page sizes, mouse hit-tests) and render, so both
//! agree on where things are without render having to report back.

use ratatui::layout::Rect;

use super::Tab;

pub const HEADER_ROWS: u16 = 2;
/// Rows at the top of the detail view used by channel / kind / time / size.
pub const DETAIL_META_ROWS: u16 = 3;
/// Shown left of the tabs.
pub const BRAND: &str = " redtail ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub tabs: Rect,
    pub header: Rect,
    pub body: Rect,
    /// The prompt rows while the filter or subscribe prompt is open: the input line, and
    /// for the filter a second line for the caret under an error (or a hint).
    pub input: Option<Rect>,
    pub footer: Rect,
}

pub fn areas(area: Rect, input_rows: u16) -> Areas {
    let row =
        |y: u16, height: u16| Rect::new(area.x, area.y + y.min(area.height), area.width, height);
    let fixed = 1 + HEADER_ROWS + 1 + input_rows;
    let body_height = area.height.saturating_sub(fixed);
    let tabs = row(0, area.height.min(1));
    let header = row(1, HEADER_ROWS.min(area.height.saturating_sub(1)));
    let body = row(1 + HEADER_ROWS, body_height);
    let mut y = 1 + HEADER_ROWS + body_height;
    let input = (input_rows > 0).then(|| {
        let r = row(y, input_rows.min(area.height.saturating_sub(y)));
        y += input_rows;
        r
    });
    let footer = row(y, u16::from(area.height > y));
    Areas {
        tabs,
        header,
        body,
        input,
        footer,
    }
}

/// The label of a tab in the tab bar, e.g. " 1 Feed ".
pub fn tab_label(tab: Tab) -> String {
    format!(" {} {} ", tab.number(), tab.title())
}

/// Column ranges of each tab label in the tab bar (after the brand).
pub fn tab_columns() -> Vec<(Tab, u16, u16)> {
    let mut x = BRAND.len() as u16;
    Tab::ALL
        .iter()
        .map(|&tab| {
            let width = tab_label(tab).chars().count() as u16;
            let entry = (tab, x, width);
            x += width + 1;
            entry
        })
        .collect()
}

pub fn tab_at(column: u16) -> Option<Tab> {
    tab_columns()
        .into_iter()
        .find(|&(_, x, w)| column >= x && column < x + w)
        .map(|(tab, _, _)| tab)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_stack_and_fill_the_screen() {
        let a = areas(Rect::new(0, 0, 100, 30), 0);
        assert_eq!(
            (a.tabs.y, a.header.y, a.body.y, a.body.height, a.footer.y),
            (0, 1, 3, 26, 29)
        );
        let a = areas(Rect::new(0, 0, 100, 30), 1);
        assert_eq!(
            (a.body.height, a.input.map(|r| r.y), a.footer.y),
            (25, Some(28), 29)
        );
        let a = areas(Rect::new(0, 0, 100, 30), 2);
        assert_eq!(
            (a.body.height, a.input.map(|r| (r.y, r.height)), a.footer.y),
            (24, Some((27, 2)), 29)
        );
        let tiny = areas(Rect::new(0, 0, 10, 2), 2);
        assert_eq!(tiny.body.height, 0);
    }

    #[test]
    fn tabs_are_hit_where_drawn() {
        assert_eq!(tab_at(BRAND.len() as u16), Some(Tab::Feed));
        assert_eq!(tab_at(0), None);
        let (_, x, _) = tab_columns()[2];
        assert_eq!(tab_at(x + 1), Some(Tab::Streams));
    }
}
