//! Behaviour of the TUI under keys, mouse and live updates, driven through the
//! pure `App` and drawn into ratatui's TestBackend: no terminal involved.

mod tui_fixture;

use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use keepscope::tui::app::{ConnColumn, Sort};
use keepscope::tui::{draw, Action, App, LiveStats, UiUpdate, View};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use ratatui::Terminal;

fn app() -> App {
    App::new(Arc::new(tui_fixture::report()), 80, 24)
}

fn press(app: &mut App, code: KeyCode) -> Action {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn mouse(app: &mut App, kind: MouseEventKind, column: u16, row: u16) -> Action {
    app.handle_mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

fn click(app: &mut App, column: u16, row: u16) -> Action {
    mouse(app, MouseEventKind::Down(MouseButton::Left), column, row)
}

fn render(app: &App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw(frame, app)).unwrap();
    terminal.backend().buffer().clone()
}

fn row_text(buffer: &Buffer, y: u16) -> String {
    (0..buffer.area.width)
        .map(|x| buffer[(x, y)].symbol())
        .collect()
}

fn screen_text(buffer: &Buffer) -> String {
    (0..buffer.area.height)
        .map(|y| row_text(buffer, y) + "\n")
        .collect()
}

/// Column where `needle` starts on screen row `y` (in cells; the tab bar is ASCII
/// up to the labels, so characters and cells agree there).
fn find_in_row(buffer: &Buffer, y: u16, needle: &str) -> Option<u16> {
    let symbols: Vec<&str> = (0..buffer.area.width)
        .map(|x| buffer[(x, y)].symbol())
        .collect();
    let wanted: Vec<String> = needle.chars().map(|c| c.to_string()).collect();
    (0..symbols.len().saturating_sub(wanted.len()))
        .find(|&start| {
            wanted
                .iter()
                .enumerate()
                .all(|(i, w)| symbols[start + i] == w)
        })
        .map(|x| x as u16)
}

// ----- views and Tab -----

#[test]
fn tab_cycles_through_every_view_and_shift_tab_goes_back() {
    let mut app = app();
    assert_eq!(app.view(), View::Overview);
    let mut seen = vec![app.view()];
    for _ in 0..5 {
        assert_eq!(press(&mut app, KeyCode::Tab), Action::Redraw);
        seen.push(app.view());
    }
    assert_eq!(
        seen,
        [
            View::Overview,
            View::Connections,
            View::Detail,
            View::Findings,
            View::Servers,
            View::Overview
        ]
    );
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.view(), View::Servers);
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(app.view(), View::Detail);
    // With no choice made yet, the detail shows the table's first connection.
    assert_eq!(app.detail_connection().map(|c| c.id), Some(0));
}

#[test]
fn q_and_ctrl_c_quit_from_anywhere() {
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    let mut app = app();
    assert_eq!(press(&mut app, KeyCode::Char('q')), Action::Quit);
    assert_eq!(app.handle_key(ctrl_c), Action::Quit);
    // While typing a filter, q is text, but Ctrl-C still quits.
    press(&mut app, KeyCode::Char('/'));
    assert_eq!(press(&mut app, KeyCode::Char('q')), Action::Redraw);
    assert_eq!(app.filter(), "q");
    assert_eq!(app.handle_key(ctrl_c), Action::Quit);
    // With the help open.
    let mut app = self::app();
    press(&mut app, KeyCode::Char('?'));
    assert!(app.help_visible());
    assert_eq!(app.handle_key(ctrl_c), Action::Quit);
    assert_eq!(press(&mut app, KeyCode::Char('q')), Action::Quit);
    assert_eq!(press(&mut app, KeyCode::Esc), Action::Redraw);
    assert!(!app.help_visible());
}

#[test]
fn m_toggles_mouse_capture_with_a_passing_notice() {
    let mut app = app();
    assert!(app.mouse_capture());
    assert_eq!(press(&mut app, KeyCode::Char('m')), Action::Redraw);
    assert!(!app.mouse_capture());
    let screen = screen_text(&render(&app, 80, 24));
    assert!(screen.contains("mouse off"), "{screen}");
    // The next key, even one that does nothing else, clears the notice.
    assert_eq!(press(&mut app, KeyCode::Char('x')), Action::Redraw);
    assert!(!screen_text(&render(&app, 80, 24)).contains("mouse off"));
    press(&mut app, KeyCode::Char('m'));
    assert!(app.mouse_capture());
}

#[test]
fn key_releases_are_ignored() {
    let mut app = app();
    let mut release = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
    release.kind = crossterm::event::KeyEventKind::Release;
    assert_eq!(app.handle_key(release), Action::Ignored);
}

// ----- sorting -----

#[test]
fn s_cycles_the_sort_column_and_shift_s_reverses_it() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    assert_eq!(app.connection_ids(), [0, 1, 2, 3, 4, 5, 6, 7]);

    press(&mut app, KeyCode::Char('s'));
    assert_eq!(
        app.sort(),
        Sort {
            column: ConnColumn::Client,
            descending: false
        }
    );
    // Endpoints compare as addresses: 10.0.0.x before 192.168.x.
    assert_eq!(app.connection_ids(), [0, 1, 3, 2, 5, 6, 7, 4]);
    press(&mut app, KeyCode::Char('S'));
    assert_eq!(app.connection_ids(), [4, 7, 6, 5, 2, 3, 1, 0]);

    // client → server → protocol → transactions: largest first, ties by id.
    for _ in 0..3 {
        press(&mut app, KeyCode::Char('s'));
    }
    assert_eq!(
        app.sort(),
        Sort {
            column: ConnColumn::Transactions,
            descending: true
        }
    );
    assert_eq!(app.connection_ids(), [0, 1, 3, 2, 4, 5, 7, 6]);

    // … → duration.
    for _ in 0..6 {
        press(&mut app, KeyCode::Char('s'));
    }
    assert_eq!(app.sort().column, ConnColumn::Duration);
    assert_eq!(app.connection_ids(), [4, 0, 3, 2, 6, 1, 5, 7]);

    // The header shows the column and the direction.
    let screen = screen_text(&render(&app, 80, 24));
    assert!(screen.contains("sort: duration ▼"), "{screen}");
    assert!(screen.contains("dur▼"), "{screen}");
}

#[test]
fn sorting_keeps_the_selected_connection_selected() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    for _ in 0..4 {
        press(&mut app, KeyCode::Down);
    }
    assert_eq!(app.selected_connection_id(), Some(4));
    press(&mut app, KeyCode::Char('S'));
    assert_eq!(app.selected_connection_id(), Some(4));
    assert_eq!(app.connection_ids()[app.connection_cursor().selected], 4);
}

#[test]
fn s_outside_the_table_does_nothing() {
    let mut app = app();
    assert_eq!(press(&mut app, KeyCode::Char('s')), Action::Ignored);
    assert_eq!(app.sort().column, ConnColumn::Id);
}

// ----- filtering -----

#[test]
fn filter_narrows_rows_as_you_type() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('/'));
    assert!(app.filter_editing());
    type_text(&mut app, "up");
    // "up" is in /upload (2) and in /big-file.iso? No: PUT has "PU", not "up"…
    // but case-insensitively "PUT" contains "pu", not "up". Only the upload.
    assert_eq!(app.connection_ids(), [2]);
    press(&mut app, KeyCode::Backspace);
    assert_eq!(app.filter(), "u");
    assert!(app.connection_ids().len() > 1);
    press(&mut app, KeyCode::Esc);
    assert!(!app.filter_editing());
    assert_eq!(app.filter(), "");
    assert_eq!(app.connection_ids().len(), 8);
}

#[test]
fn filter_matches_endpoint_method_uri_status_and_finding() {
    let cases: [(&str, &[u64]); 7] = [
        ("10.0.0.9", &[4]), // server endpoint
        ("51300", &[3]),    // client port
        ("put", &[7]),      // method, case-insensitive
        ("/style", &[0]),   // URI
        ("404", &[5]),      // status
        ("stale", &[3]),    // finding kind
        ("tls", &[6]),      // protocol
    ];
    for (text, expected) in cases {
        let mut app = app();
        press(&mut app, KeyCode::Char('2'));
        press(&mut app, KeyCode::Char('/'));
        type_text(&mut app, text);
        press(&mut app, KeyCode::Enter);
        assert!(!app.filter_editing());
        assert_eq!(app.connection_ids(), expected, "filter {text:?}");
    }
}

#[test]
fn filter_also_narrows_findings_and_servers_and_esc_clears_it() {
    let mut app = app();
    press(&mut app, KeyCode::Char('4'));
    type_text(&mut app, "/stale");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), View::Findings);
    assert_eq!(app.finding_rows(), [3]);
    // The first server's verdict mentions the stale reuse.
    press(&mut app, KeyCode::Char('5'));
    assert_eq!(app.server_rows(), [0]);
    // Esc outside editing clears a kept filter.
    assert_eq!(press(&mut app, KeyCode::Esc), Action::Redraw);
    assert_eq!(app.server_rows().len(), 2);
}

#[test]
fn filter_text_with_no_match_says_so() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    type_text(&mut app, "/nothing-like-this");
    assert!(app.connection_ids().is_empty());
    let screen = screen_text(&render(&app, 80, 24));
    assert!(
        screen.contains("no connection matches the filter"),
        "{screen}"
    );
    assert!(screen.contains("/nothing-like-this█"), "{screen}");
}

// ----- Enter, Esc and the detail -----

#[test]
fn enter_opens_the_detail_and_esc_returns() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(press(&mut app, KeyCode::Enter), Action::Redraw);
    assert_eq!(app.view(), View::Detail);
    assert_eq!(app.detail_connection().map(|c| c.id), Some(2));
    assert_eq!(press(&mut app, KeyCode::Esc), Action::Redraw);
    assert_eq!(app.view(), View::Connections);
    assert_eq!(app.selected_connection_id(), Some(2));
}

#[test]
fn finding_enter_opens_its_connection_at_its_transaction() {
    let mut app = app();
    press(&mut app, KeyCode::Char('4'));
    press(&mut app, KeyCode::Char('G'));
    press(&mut app, KeyCode::Char('k'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), View::Detail);
    assert_eq!(app.detail_connection().map(|c| c.id), Some(3));
    // The stale reuse is transaction depth 2: the second row.
    assert_eq!(app.transaction_cursor().selected, 1);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.view(), View::Findings);
}

#[test]
fn server_enter_lists_that_servers_connections() {
    let mut app = app();
    press(&mut app, KeyCode::Char('5'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), View::Connections);
    assert_eq!(app.filter(), "10.0.0.2:80");
    assert_eq!(app.connection_ids(), [0, 1, 2, 3, 5, 7]);
}

#[test]
fn left_and_right_step_through_connections_in_the_detail() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(press(&mut app, KeyCode::Left), Action::Ignored);
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Char('l'));
    assert_eq!(app.detail_connection().map(|c| c.id), Some(2));
    press(&mut app, KeyCode::Char('h'));
    assert_eq!(app.detail_connection().map(|c| c.id), Some(1));
    // The table follows, so Esc lands on the same row.
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.selected_connection_id(), Some(1));
}

#[test]
fn up_down_in_the_detail_move_through_transactions() {
    let mut app = app();
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(
        app.detail_connection().map(|c| c.transactions.len()),
        Some(4)
    );
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.transaction_cursor().selected, 3);
    assert_eq!(press(&mut app, KeyCode::Down), Action::Ignored);
    press(&mut app, KeyCode::Char('g'));
    assert_eq!(app.transaction_cursor().selected, 0);
}

// ----- movement -----

#[test]
fn g_and_shift_g_jump_to_the_ends() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected_connection_id(), Some(7));
    press(&mut app, KeyCode::Char('g'));
    assert_eq!(app.selected_connection_id(), Some(0));
    press(&mut app, KeyCode::End);
    assert_eq!(app.selected_connection_id(), Some(7));
    press(&mut app, KeyCode::Home);
    assert_eq!(app.selected_connection_id(), Some(0));
    assert_eq!(press(&mut app, KeyCode::Up), Action::Ignored);
}

#[test]
fn page_keys_move_by_a_screenful_and_scroll() {
    let mut app = App::new(Arc::new(tui_fixture::many_connections(1000)), 80, 24);
    press(&mut app, KeyCode::Char('2'));
    // 24 rows: tab bar, title, header, 20 rows, status bar.
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.connection_cursor().selected, 20);
    assert_eq!(app.connection_cursor().offset, 1);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.connection_cursor().selected, 40);
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.connection_cursor().selected, 20);
    assert_eq!(app.connection_cursor().offset, 20);
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.connection_cursor().selected, 999);
    assert_eq!(app.connection_cursor().offset, 980);
    let screen = screen_text(&render(&app, 80, 24));
    assert!(screen.contains("\n999 10.0.3."), "{screen}");
}

#[test]
fn resize_keeps_the_selection_on_screen() {
    let mut app = App::new(Arc::new(tui_fixture::many_connections(100)), 80, 40);
    press(&mut app, KeyCode::Char('2'));
    for _ in 0..30 {
        press(&mut app, KeyCode::Down);
    }
    assert_eq!(app.connection_cursor().offset, 0);
    app.resize(80, 12);
    let cursor = app.connection_cursor();
    assert_eq!(cursor.selected, 30);
    assert!(cursor.offset <= 30 && 30 < cursor.offset + 8, "{cursor:?}");
    let screen = screen_text(&render(&app, 80, 12));
    assert!(screen.contains("\n30 10.0.0.30:"), "{screen}");
}

// ----- mouse -----

#[test]
fn mouse_wheel_scrolls_the_list() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    mouse(&mut app, MouseEventKind::ScrollDown, 10, 10);
    assert_eq!(app.connection_cursor().selected, 3);
    mouse(&mut app, MouseEventKind::ScrollDown, 10, 10);
    mouse(&mut app, MouseEventKind::ScrollDown, 10, 10);
    assert_eq!(app.connection_cursor().selected, 7);
    mouse(&mut app, MouseEventKind::ScrollUp, 10, 10);
    assert_eq!(app.connection_cursor().selected, 4);
    // In the findings view the wheel moves the findings.
    press(&mut app, KeyCode::Char('4'));
    mouse(&mut app, MouseEventKind::ScrollDown, 10, 10);
    assert_eq!(app.finding_cursor().selected, 3);
}

#[test]
fn click_selects_a_row_and_a_second_click_opens_it() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    // Rows start under the tab bar, the title and the header: screen row 3.
    assert_eq!(click(&mut app, 20, 5), Action::Redraw);
    assert_eq!(app.selected_connection_id(), Some(2));
    assert_eq!(app.view(), View::Connections);
    click(&mut app, 20, 5);
    assert_eq!(app.view(), View::Detail);
    assert_eq!(app.detail_connection().map(|c| c.id), Some(2));
    // A click below the last row selects nothing.
    press(&mut app, KeyCode::Esc);
    assert_eq!(click(&mut app, 20, 15), Action::Ignored);
    assert_eq!(app.selected_connection_id(), Some(2));
}

#[test]
fn click_on_the_tab_bar_switches_view() {
    let mut app = app();
    let buffer = render(&app, 80, 24);
    for (label, view) in [
        ("Findings", View::Findings),
        ("Servers", View::Servers),
        ("Overview", View::Overview),
    ] {
        let x =
            find_in_row(&buffer, 0, label).unwrap_or_else(|| panic!("{label} not in the tab bar"));
        assert_eq!(click(&mut app, x + 1, 0), Action::Redraw, "{label}");
        assert_eq!(app.view(), view);
    }
}

#[test]
fn click_on_a_column_header_sorts_on_it() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    let buffer = render(&app, 80, 24);
    let x = find_in_row(&buffer, 2, "dur").expect("duration header");
    click(&mut app, x, 2);
    assert_eq!(
        app.sort(),
        Sort {
            column: ConnColumn::Duration,
            descending: true
        }
    );
    click(&mut app, x, 2);
    assert_eq!(
        app.sort(),
        Sort {
            column: ConnColumn::Duration,
            descending: false
        }
    );
    assert_eq!(app.connection_ids()[0], 7);
}

#[test]
fn click_closes_the_help() {
    let mut app = app();
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(click(&mut app, 1, 1), Action::Redraw);
    assert!(!app.help_visible());
}

// ----- live updates -----

#[test]
fn live_snapshots_replace_the_report_and_keep_the_selection() {
    let mut app = App::new_live(80, 24);
    assert!(app.connection_ids().is_empty());
    app.apply_update(UiUpdate::Snapshot(Arc::new(tui_fixture::report())));
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected_connection_id(), Some(3));

    // A newer snapshot with one more connection that sorts first.
    let mut newer = tui_fixture::report();
    let mut first = newer.connections[0].clone();
    first.id = 8;
    first.client = "10.0.0.0:1000".into();
    newer.connections.insert(0, first);
    press(&mut app, KeyCode::Char('s')); // by client
    app.apply_update(UiUpdate::Snapshot(Arc::new(newer)));
    assert_eq!(app.connection_ids()[0], 8);
    assert_eq!(app.selected_connection_id(), Some(3));

    app.apply_update(UiUpdate::Stats(LiveStats {
        interface: "lo".into(),
        packets: 5,
        ..LiveStats::default()
    }));
    assert_eq!(app.live_stats().map(|s| s.packets), Some(5));
    app.apply_update(UiUpdate::CaptureEnded(None));
    assert_eq!(app.status_message(), Some("capture ended"));
    let screen = screen_text(&render(&app, 80, 24));
    assert!(screen.contains("capture ended"), "{screen}");
}

// ----- drawing: escaping, colours, sizes, scale -----

/// True for characters a terminal would act on rather than print.
fn dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

#[test]
fn captured_text_is_escaped_in_every_view() {
    for (width, height) in [(80, 24), (160, 40)] {
        let mut app = App::new(Arc::new(tui_fixture::report()), width, height);
        press(&mut app, KeyCode::Char('2'));
        type_text(&mut app, "/33333");
        press(&mut app, KeyCode::Enter);
        let mut screens = vec![render(&app, width, height)];
        press(&mut app, KeyCode::Enter); // detail of the connection with the hostile URI
        assert_eq!(app.detail_connection().map(|c| c.id), Some(5));
        screens.push(render(&app, width, height));
        for view in ['1', '4', '5'] {
            press(&mut app, KeyCode::Char(view));
            screens.push(render(&app, width, height));
        }
        for buffer in &screens {
            for cell in buffer.content() {
                assert!(
                    !cell.symbol().chars().any(dangerous),
                    "raw {:?} on screen",
                    cell.symbol()
                );
            }
        }
        let detail = screen_text(&screens[1]);
        assert!(
            detail.contains(r"/search?q=\x1b[31mred\u{202e}gpj.exe"),
            "{detail}"
        );
        assert!(detail.contains(r"Not\x07Found\u{202e}"), "{detail}");
        assert!(detail.contains(r"keep-alive\x1b]0;owned\x07"), "{detail}");
    }
}

#[test]
fn findings_and_resets_are_drawn_in_colour() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    let buffer = render(&app, 80, 24);
    // Row of connection 0 (screen row 3): its findings marker is red.
    let x = find_in_row(&buffer, 3, "!1").expect("findings marker");
    assert_eq!(buffer[(x, 3)].fg, Color::LightRed);
    // Connection 5 (screen row 8) was reset by the client: RST in red.
    let x = find_in_row(&buffer, 8, "RST").expect("RST");
    assert_eq!(buffer[(x, 8)].fg, Color::LightRed);
    // A connection without findings has a plain endpoint.
    let x = find_in_row(&buffer, 5, "10.0.0.3").expect("endpoint");
    assert_eq!(buffer[(x, 5)].fg, Color::Reset);
}

#[test]
fn the_selected_transaction_is_highlighted_on_the_timeline() {
    let mut app = app();
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Char('G'));
    let buffer = render(&app, 80, 24);
    let client_lane = (0..24)
        .find(|&y| row_text(&buffer, y).starts_with("cli "))
        .expect("client lane");
    let highlighted: Vec<u16> = (0..80)
        .filter(|&x| {
            buffer[(x, client_lane)].symbol() == "▶"
                && buffer[(x, client_lane)]
                    .modifier
                    .contains(ratatui::style::Modifier::REVERSED)
        })
        .collect();
    let requests: Vec<u16> = (0..80)
        .filter(|&x| buffer[(x, client_lane)].symbol() == "▶")
        .collect();
    // Four requests drawn; only the last one (the selected transaction) highlighted.
    assert_eq!(requests.len(), 4, "{}", row_text(&buffer, client_lane));
    assert_eq!(highlighted, [*requests.last().unwrap()]);
}

#[test]
fn every_view_draws_at_tiny_sizes_without_panicking() {
    for (width, height) in [
        (1, 1),
        (2, 2),
        (10, 5),
        (20, 3),
        (40, 10),
        (79, 23),
        (300, 100),
    ] {
        let mut app = App::new(Arc::new(tui_fixture::report()), width, height);
        for key in ['1', '2', '3', '4', '5', '?'] {
            press(&mut app, KeyCode::Char(key));
            render(&app, width, height);
            press(&mut app, KeyCode::Char('G'));
            render(&app, width, height);
        }
        mouse(&mut app, MouseEventKind::ScrollDown, 0, 0);
        click(&mut app, width / 2, height / 2);

        let mut live = App::new_live(width, height);
        render(&live, width, height);
        live.apply_update(UiUpdate::Snapshot(Arc::new(tui_fixture::report())));
        live.apply_update(UiUpdate::Stats(LiveStats {
            interface: "eth0".into(),
            requests_per_sec: vec![1, 5, 3, 400],
            ..LiveStats::default()
        }));
        live.apply_update(UiUpdate::CaptureEnded(Some("x".repeat(500))));
        render(&live, width, height);
    }
}

#[test]
fn a_hundred_thousand_connections_stay_responsive() {
    let report = Arc::new(tui_fixture::many_connections(100_000));

    let started = Instant::now();
    let mut app = App::new(Arc::clone(&report), 160, 40);
    let build = started.elapsed();
    press(&mut app, KeyCode::Char('2'));

    let started = Instant::now();
    let mut terminal = Terminal::new(TestBackend::new(160, 40)).unwrap();
    terminal.draw(|frame| draw(frame, &app)).unwrap();
    let frame = started.elapsed();

    let started = Instant::now();
    press(&mut app, KeyCode::Char('s')); // by client: a text sort of 100k rows
    let sort = started.elapsed();

    let started = Instant::now();
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "/item/99999/");
    let filter = started.elapsed();
    assert_eq!(app.connection_ids(), [99_999]);

    eprintln!("100k connections: build {build:?}, frame {frame:?}, sort {sort:?}, 12 filter keys {filter:?}");
    // Generous bounds for a debug build on a loaded machine: a frame touches only
    // the visible rows, so it must not scale with the table.
    assert!(frame.as_millis() < 500, "frame took {frame:?}");
}

// ----- the entry points, without a terminal -----

#[test]
fn run_without_a_terminal_fails_cleanly_and_stops_the_capture() {
    use std::io::IsTerminal;
    use std::sync::atomic::{AtomicBool, Ordering};
    // On a developer's terminal this would take the screen over; CI has none.
    if std::io::stdout().is_terminal() {
        eprintln!("skipped: stdout is a terminal");
        return;
    }
    let (_updates, receiver) = crossbeam_channel::unbounded();
    let stop = Arc::new(AtomicBool::new(false));
    let error = keepscope::tui::run_live(receiver, Arc::clone(&stop)).unwrap_err();
    assert!(error.to_string().contains("needs a terminal"), "{error}");
    assert!(
        stop.load(Ordering::SeqCst),
        "the capture must be told to stop"
    );
    assert!(keepscope::tui::run_offline(tui_fixture::report()).is_err());
}
