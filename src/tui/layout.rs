//! Where things are on the screen. Drawing and mouse hit-testing both call these
//! pure functions of the terminal size, so a click lands on exactly the row or tab
//! that was drawn there, without the draw pass having to record anything.

use ratatui::layout::Rect;

/// The three bands of every screen: the tab bar, the view's body, the status bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Screen {
    pub tabs: Rect,
    pub body: Rect,
    pub status: Rect,
}

pub fn screen(area: Rect) -> Screen {
    let tabs = Rect {
        height: area.height.min(1),
        ..area
    };
    let status_height = u16::from(area.height >= 2);
    let status = Rect {
        y: area.bottom().saturating_sub(status_height),
        height: status_height,
        ..area
    };
    let body = Rect {
        y: tabs.bottom(),
        height: area.height.saturating_sub(tabs.height + status.height),
        ..area
    };
    Screen { tabs, body, status }
}

/// A list view: a title line, a header line, the rows (with a scrollbar in the last
/// column) and an optional pane below for the selected item's long text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListLayout {
    pub title: Rect,
    pub header: Rect,
    pub rows: Rect,
    pub scrollbar: Rect,
    pub pane: Rect,
}

/// Splits `body` for a list with a pane of `pane_height` lines below it. The pane
/// shrinks first on small terminals so that at least a few rows stay visible.
pub fn list(body: Rect, pane_height: u16) -> ListLayout {
    let line = |y: u16| Rect {
        y,
        height: u16::from(y < body.bottom()),
        ..body
    };
    let title = line(body.y);
    let header = line(body.y.saturating_add(1).min(body.bottom()));
    let below_header = body.height.saturating_sub(2);
    // Keep at least 5 rows (or everything there is) before granting the pane.
    let pane_height = pane_height.min(below_header.saturating_sub(5));
    let rows_height = below_header - pane_height;
    let rows_full = Rect {
        y: header.bottom(),
        height: rows_height,
        ..body
    };
    let scrollbar_width = u16::from(body.width > 20);
    let rows = Rect {
        width: body.width - scrollbar_width,
        ..rows_full
    };
    let scrollbar = Rect {
        x: rows.right(),
        width: scrollbar_width,
        ..rows_full
    };
    let pane = Rect {
        y: rows_full.bottom(),
        height: pane_height,
        ..body
    };
    ListLayout {
        title,
        header,
        rows,
        scrollbar,
        pane,
    }
}

/// Height of the pane below the findings list (the selected finding's message).
pub const FINDINGS_PANE: u16 = 4;
/// Height of the pane below the servers list (the selected server's figures).
pub const SERVERS_PANE: u16 = 6;

/// The connection detail: facts about the connection, its timeline, then the list
/// of its transactions with a pane for the selected one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetailLayout {
    pub info: Rect,
    pub timeline: Rect,
    pub list: ListLayout,
}

pub const DETAIL_INFO: u16 = 4;
/// Title, two lanes, the axis and the legend.
pub const DETAIL_TIMELINE: u16 = 5;
pub const DETAIL_TX_PANE: u16 = 3;

pub fn detail(body: Rect) -> DetailLayout {
    let wide = body.height >= 30;
    let info_height = if wide { DETAIL_INFO + 2 } else { DETAIL_INFO }.min(body.height);
    let info = Rect {
        height: info_height,
        ..body
    };
    let timeline_height = DETAIL_TIMELINE.min(body.height - info_height);
    let timeline = Rect {
        y: info.bottom(),
        height: timeline_height,
        ..body
    };
    let rest = Rect {
        y: timeline.bottom(),
        height: body.height - info_height - timeline_height,
        ..body
    };
    let pane = if wide {
        DETAIL_TX_PANE + 2
    } else {
        DETAIL_TX_PANE
    };
    DetailLayout {
        info,
        timeline,
        list: list(rest, pane),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_the_screen_without_overlap() {
        let s = screen(Rect::new(0, 0, 80, 24));
        assert_eq!(s.tabs, Rect::new(0, 0, 80, 1));
        assert_eq!(s.body, Rect::new(0, 1, 80, 22));
        assert_eq!(s.status, Rect::new(0, 23, 80, 1));
    }

    #[test]
    fn tiny_screens_do_not_underflow() {
        for h in 0..6 {
            for w in 0..4 {
                let s = screen(Rect::new(0, 0, w, h));
                let l = list(s.body, FINDINGS_PANE);
                assert!(l.rows.bottom() <= s.body.bottom().max(l.rows.y));
                let d = detail(s.body);
                assert!(d.list.pane.bottom() <= s.body.bottom().max(d.list.pane.y));
            }
        }
    }

    #[test]
    fn list_keeps_rows_before_the_pane() {
        let l = list(Rect::new(0, 1, 80, 22), SERVERS_PANE);
        assert_eq!(l.title.y, 1);
        assert_eq!(l.header.y, 2);
        assert_eq!(l.rows, Rect::new(0, 3, 79, 14));
        assert_eq!(l.scrollbar, Rect::new(79, 3, 1, 14));
        assert_eq!(l.pane, Rect::new(0, 17, 80, 6));
        let small = list(Rect::new(0, 1, 80, 8), SERVERS_PANE);
        assert_eq!(small.rows.height, 5);
        assert_eq!(small.pane.height, 1);
    }
}
