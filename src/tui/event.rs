//! Event handling: what keys and mouse events do to the `App`. Each returns an
//! `Action` telling the event loop whether to redraw or quit; nothing here touches
//! the terminal, so tests drive it with synthetic events.

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Position;

use super::app::{App, ConnColumn, ListCursor, Sort, View};
use super::{layout, tabs};

/// What the event loop should do after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The event changed nothing visible.
    Ignored,
    /// The state changed: draw a new frame.
    Redraw,
    /// Leave the UI.
    Quit,
}

impl App {
    // ----- keys -----

    /// What a key press does. Releases are ignored (Windows reports them too).
    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::Ignored;
        }
        let had_notice = self.notice.take().is_some();
        match self.handle_key_press(key) {
            Action::Ignored if had_notice => Action::Redraw,
            action => action,
        }
    }

    fn handle_key_press(&mut self, key: KeyEvent) -> Action {
        // Raw mode delivers Ctrl-C as a key, not a signal: it must always quit.
        if key.modifiers.contains(KeyModifiers::CONTROL)
            && matches!(key.code, KeyCode::Char('c' | 'C'))
        {
            return Action::Quit;
        }
        if self.filter_editing {
            return self.handle_filter_key(key);
        }
        if self.help {
            return match key.code {
                KeyCode::Char('q') => Action::Quit,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::F(1) | KeyCode::Enter => {
                    self.help = false;
                    Action::Redraw
                }
                _ => Action::Ignored,
            };
        }
        match key.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Char('m') => {
                self.mouse_capture = !self.mouse_capture;
                self.notice = Some(if self.mouse_capture {
                    "mouse on: click and scroll (m turns it off to select text)".to_string()
                } else {
                    "mouse off: the terminal selects text (m turns it back on)".to_string()
                });
                Action::Redraw
            }
            KeyCode::Char('?') | KeyCode::F(1) => {
                self.help = true;
                Action::Redraw
            }
            KeyCode::Tab => self.switch_to(self.view.next()),
            KeyCode::BackTab => self.switch_to(self.view.prev()),
            KeyCode::Char(c @ '1'..='5') => {
                let view = View::ALL[usize::from(c as u8 - b'1')];
                self.switch_to(view)
            }
            KeyCode::Char('/') => {
                if !matches!(
                    self.view,
                    View::Connections | View::Findings | View::Servers
                ) {
                    self.view = View::Connections;
                }
                self.filter_editing = true;
                Action::Redraw
            }
            KeyCode::Char('s') => self.cycle_sort(),
            KeyCode::Char('S') => self.reverse_sort(),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::PageUp => self.move_page(-1),
            KeyCode::PageDown | KeyCode::Char(' ') => self.move_page(1),
            KeyCode::Home | KeyCode::Char('g') => self.move_selection(isize::MIN),
            KeyCode::End | KeyCode::Char('G') => self.move_selection(isize::MAX),
            KeyCode::Left | KeyCode::Char('h') if self.view == View::Detail => {
                self.step_detail_connection(-1)
            }
            KeyCode::Right | KeyCode::Char('l') if self.view == View::Detail => {
                self.step_detail_connection(1)
            }
            KeyCode::Enter => self.open_selected(),
            KeyCode::Esc => self.back(),
            _ => Action::Ignored,
        }
    }

    fn handle_filter_key(&mut self, key: KeyEvent) -> Action {
        match key.code {
            KeyCode::Enter => {
                self.filter_editing = false;
                Action::Redraw
            }
            KeyCode::Esc => {
                self.filter_editing = false;
                self.set_filter(String::new());
                Action::Redraw
            }
            KeyCode::Backspace => {
                let mut filter = self.filter.clone();
                if filter.pop().is_none() {
                    return Action::Ignored;
                }
                self.set_filter(filter);
                Action::Redraw
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.set_filter(String::new());
                Action::Redraw
            }
            KeyCode::Char(c)
                if !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                // A pasted control character must not enter the filter (it is drawn).
                if c.is_control() {
                    return Action::Ignored;
                }
                let mut filter = self.filter.clone();
                filter.push(c);
                self.set_filter(filter);
                Action::Redraw
            }
            KeyCode::Up => self.move_selection(-1),
            KeyCode::Down => self.move_selection(1),
            KeyCode::PageUp => self.move_page(-1),
            KeyCode::PageDown => self.move_page(1),
            _ => Action::Ignored,
        }
    }

    fn switch_to(&mut self, view: View) -> Action {
        if view == self.view {
            return Action::Ignored;
        }
        if view == View::Detail && self.detail_id.is_none() {
            self.sync_detail_to_table();
        }
        if view == View::Detail {
            // Esc from a detail reached by Tab goes back where the user came from.
            self.detail_return = match self.view {
                View::Findings => View::Findings,
                _ => View::Connections,
            };
        }
        self.view = view;
        Action::Redraw
    }

    fn cycle_sort(&mut self) -> Action {
        if self.view != View::Connections {
            return Action::Ignored;
        }
        let column = self.sort.column.next();
        self.set_sort(Sort {
            column,
            descending: column.descending_by_default(),
        });
        Action::Redraw
    }

    fn reverse_sort(&mut self) -> Action {
        if self.view != View::Connections {
            return Action::Ignored;
        }
        self.set_sort(Sort {
            descending: !self.sort.descending,
            ..self.sort
        });
        Action::Redraw
    }

    /// Sorts on `column`; choosing the current sort column again reverses it.
    fn sort_on(&mut self, column: ConnColumn) {
        let sort = if self.sort.column == column {
            Sort {
                column,
                descending: !self.sort.descending,
            }
        } else {
            Sort {
                column,
                descending: column.descending_by_default(),
            }
        };
        self.set_sort(sort);
    }

    /// Length of the current view's list (`None` for the overview).
    fn list_len(&self, view: View) -> Option<usize> {
        match view {
            View::Overview => None,
            View::Connections => Some(self.conn_rows.len()),
            View::Findings => Some(self.finding_rows.len()),
            View::Servers => Some(self.server_rows.len()),
            View::Detail => Some(self.detail_connection().map_or(0, |c| c.transactions.len())),
        }
    }

    fn cursor_mut(&mut self, view: View) -> Option<&mut ListCursor> {
        match view {
            View::Overview => None,
            View::Connections => Some(&mut self.conn_cursor),
            View::Findings => Some(&mut self.finding_cursor),
            View::Servers => Some(&mut self.server_cursor),
            View::Detail => Some(&mut self.tx_cursor),
        }
    }

    /// Moves the current view's selection; `isize::MIN`/`MAX` go to the ends.
    fn move_selection(&mut self, delta: isize) -> Action {
        let view = self.view;
        let page = self.page(view);
        let Some(len) = self.list_len(view) else {
            return Action::Ignored;
        };
        let Some(cursor) = self.cursor_mut(view) else {
            return Action::Ignored;
        };
        let before = *cursor;
        cursor.move_by(delta, len, page);
        if *cursor == before {
            return Action::Ignored;
        }
        if view == View::Connections {
            self.sync_detail_to_table();
        }
        Action::Redraw
    }

    fn move_page(&mut self, direction: isize) -> Action {
        let page = self.page(self.view) as isize;
        self.move_selection(direction * page.max(1))
    }

    /// In the detail view, Left/Right step through the table's connections.
    fn step_detail_connection(&mut self, delta: isize) -> Action {
        let Some(id) = self.detail_id else {
            return Action::Ignored;
        };
        let Some(&index) = self.id_index.get(&id) else {
            return Action::Ignored;
        };
        let Some(pos) = self.conn_rows.iter().position(|&i| i == index) else {
            return Action::Ignored;
        };
        let page = self.page(View::Connections);
        let before = self.conn_cursor;
        self.conn_cursor.select(pos, self.conn_rows.len(), page);
        self.conn_cursor.move_by(delta, self.conn_rows.len(), page);
        if self.conn_cursor.selected == pos {
            self.conn_cursor = before;
            return Action::Ignored;
        }
        self.sync_detail_to_table();
        Action::Redraw
    }

    /// Enter: connections and findings open the detail; a server filters the table.
    fn open_selected(&mut self) -> Action {
        match self.view {
            View::Connections => {
                let Some(id) = self.selected_connection_id() else {
                    return Action::Ignored;
                };
                self.open_detail(id, None, View::Connections);
                Action::Redraw
            }
            View::Findings => {
                let Some(&index) = self.finding_rows.get(self.finding_cursor.selected) else {
                    return Action::Ignored;
                };
                let finding = &self.report.findings[index];
                let (id, transaction) = (finding.connection, finding.transaction);
                if !self.id_index.contains_key(&id) {
                    self.notice = Some(format!("connection {id} is not in this report"));
                    return Action::Redraw;
                }
                self.open_detail(id, transaction, View::Findings);
                Action::Redraw
            }
            View::Servers => {
                let Some(&index) = self.server_rows.get(self.server_cursor.selected) else {
                    return Action::Ignored;
                };
                let server = self.report.servers[index].server.clone();
                self.view = View::Connections;
                self.set_filter(server);
                Action::Redraw
            }
            View::Overview | View::Detail => Action::Ignored,
        }
    }

    /// Shows connection `id` in the detail view, with transaction `depth` selected.
    fn open_detail(&mut self, id: u64, depth: Option<u64>, from: View) {
        self.detail_id = Some(id);
        self.detail_return = from;
        self.select_connection_id(id);
        self.tx_cursor = ListCursor::default();
        self.view = View::Detail;
        if let (Some(depth), Some(conn)) = (depth, self.detail_connection()) {
            if let Some(pos) = conn.transactions.iter().position(|t| t.depth == depth) {
                let (len, page) = (conn.transactions.len(), self.page(View::Detail));
                self.tx_cursor.select(pos, len, page);
            }
        }
    }

    /// Esc: leave the detail, or clear the filter.
    fn back(&mut self) -> Action {
        if self.view == View::Detail {
            self.view = self.detail_return;
            return Action::Redraw;
        }
        if !self.filter.is_empty()
            && matches!(
                self.view,
                View::Connections | View::Findings | View::Servers
            )
        {
            self.set_filter(String::new());
            return Action::Redraw;
        }
        Action::Ignored
    }

    // ----- mouse -----

    /// Wheel scrolls the current list; a click selects a row, switches view from the
    /// tab bar or sorts from the connections header; a click on the selected row
    /// opens it.
    pub fn handle_mouse(&mut self, mouse: MouseEvent) -> Action {
        let at = Position {
            x: mouse.column,
            y: mouse.row,
        };
        match mouse.kind {
            MouseEventKind::ScrollDown if !self.help => self.move_selection(3),
            MouseEventKind::ScrollUp if !self.help => self.move_selection(-3),
            MouseEventKind::Down(MouseButton::Left) => {
                if self.help {
                    self.help = false;
                    return Action::Redraw;
                }
                self.click(at)
            }
            _ => Action::Ignored,
        }
    }

    fn click(&mut self, at: Position) -> Action {
        let screen = layout::screen(self.screen);
        if screen.tabs.contains(at) {
            return match tabs::tab_at(self, screen.tabs, at.x) {
                Some(view) => self.switch_to(view),
                None => Action::Ignored,
            };
        }
        let list = match self.view {
            View::Connections => layout::list(screen.body, 0),
            View::Findings => layout::list(screen.body, layout::FINDINGS_PANE),
            View::Servers => layout::list(screen.body, layout::SERVERS_PANE),
            View::Detail => layout::detail(screen.body).list,
            View::Overview => return Action::Ignored,
        };
        if self.view == View::Connections && list.header.contains(at) {
            let widths = super::views::connections::column_widths(
                list.rows.width,
                super::views::connections::id_width(self),
            );
            return match super::views::connections::column_at(&widths, at.x - list.header.x) {
                Some(column) => {
                    self.sort_on(column);
                    Action::Redraw
                }
                None => Action::Ignored,
            };
        }
        if !list.rows.contains(at) {
            return Action::Ignored;
        }
        let view = self.view;
        let (Some(len), Some(cursor)) = (self.list_len(view), self.cursor_mut(view).map(|c| *c))
        else {
            return Action::Ignored;
        };
        let target = cursor.offset + usize::from(at.y - list.rows.y);
        if target >= len {
            return Action::Ignored;
        }
        if target == cursor.selected {
            return self.open_selected();
        }
        self.move_selection(target as isize - cursor.selected as isize)
    }
}
