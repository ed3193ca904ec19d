//! The `?` overlay: keys, the connections table's abbreviations and the timeline
//! legend, in a box that fits an 80×24 terminal.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use ratatui::Frame;

use crate::tui::theme;

fn key_line<'a>(keys: &'a str, what: &'a str) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("  {keys:<16}"), theme::KEY),
        Span::raw(what),
    ])
}

fn heading(text: &str) -> Line<'_> {
    Line::styled(text, theme::TITLE)
}

pub fn draw(frame: &mut Frame, area: Rect) {
    let text = vec![
        heading("Keys"),
        key_line(
            "Tab  Shift-Tab",
            "next / previous view (or 1-5, or click a tab)",
        ),
        key_line(
            "↑ ↓  j k",
            "move      PgUp PgDn  page      g G  first / last",
        ),
        key_line(
            "Enter",
            "open the connection (a server: list its connections)",
        ),
        key_line("Esc", "back from the detail; clear the filter"),
        key_line("← →  h l", "previous / next connection, in the detail"),
        key_line("/", "filter: endpoint, method, URI, status, finding"),
        key_line("s  S", "sort on the next column / reverse the order"),
        key_line("mouse", "wheel scrolls, click selects, click again opens,"),
        key_line("", "click a column header to sort on it;  m  mouse on/off"),
        key_line("q  Ctrl-C", "quit                 ?  Esc  close this help"),
        heading("Connections columns"),
        Line::raw("  tx requests  re reused  pl pipelined  prb TCP keep-alive probes"),
        Line::raw("  100c Expect: cont(inued) rej(ected) body (sent early) wait (no answer)"),
        Line::raw("  closed: who sent the first FIN/RST   ! findings (details in Findings)"),
        heading("Timeline"),
        Line::from(vec![
            Span::styled("  ▶", theme::REQUEST),
            Span::raw(" request  "),
            Span::styled("◀", theme::RESPONSE),
            Span::raw(" response  "),
            Span::styled("·", theme::IDLE),
            Span::raw(" idle  "),
            Span::styled("1", theme::INTERIM),
            Span::raw(" interim 1xx  "),
            Span::styled("k", theme::PROBE),
            Span::raw(" probe  "),
            Span::styled("F", theme::CLOSE_FIN),
            Span::raw(" FIN  "),
            Span::styled("R", theme::CLOSE_RST),
            Span::raw(" RST"),
        ]),
    ];
    let width = 76.min(area.width);
    let height = (text.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme::LABEL)
        .title(Span::styled(" keepscope help ", theme::TITLE));
    frame.render_widget(Paragraph::new(text).block(block), popup);
}
