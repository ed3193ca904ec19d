//! Snapshots of every TUI view, drawn from the hand-built fixture report into
//! ratatui's TestBackend at 80×24 (the smallest supported terminal) and 160×40.
//! The snapshot text is the screen's characters; colours are checked separately
//! in `tui_keys.rs`.

mod tui_fixture;

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use keepscope::tui::{draw, App, LiveStats, UiUpdate, View};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 40)];

fn app(width: u16, height: u16) -> App {
    App::new(Arc::new(tui_fixture::report()), width, height)
}

fn key(app: &mut App, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw(frame, app)).unwrap();
    terminal
}

/// Snapshots the screen after `setup` at every size.
fn snapshot_all(name: &str, setup: impl Fn(&mut App)) {
    for (width, height) in SIZES {
        let mut app = app(width, height);
        setup(&mut app);
        let terminal = render(&app, width, height);
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
    }
}

#[test]
fn overview() {
    snapshot_all("overview", |_| {});
}

#[test]
fn connections() {
    snapshot_all("connections", |app| {
        key(app, KeyCode::Tab);
        assert_eq!(app.view(), View::Connections);
    });
}

#[test]
fn connections_sorted_by_duration() {
    snapshot_all("connections_sorted", |app| {
        key(app, KeyCode::Char('2'));
        // id → client → … → duration is ten presses of `s`.
        for _ in 0..10 {
            key(app, KeyCode::Char('s'));
        }
        key(app, KeyCode::Down);
    });
}

#[test]
fn detail_keep_alive_connection() {
    snapshot_all("detail_keepalive", |app| {
        key(app, KeyCode::Char('2'));
        key(app, KeyCode::Enter);
        key(app, KeyCode::Down);
        assert_eq!(app.view(), View::Detail);
        assert_eq!(app.detail_connection().unwrap().id, 0);
    });
}

#[test]
fn detail_pipelined_connection() {
    snapshot_all("detail_pipelined", |app| {
        key(app, KeyCode::Char('2'));
        key(app, KeyCode::Down);
        key(app, KeyCode::Enter);
        assert_eq!(app.detail_connection().unwrap().id, 1);
    });
}

#[test]
fn detail_expect_continue_upload() {
    snapshot_all("detail_expect", |app| {
        key(app, KeyCode::Char('2'));
        type_text(app, "/upload");
        key(app, KeyCode::Enter);
        key(app, KeyCode::Enter);
        assert_eq!(app.detail_connection().unwrap().id, 2);
    });
}

#[test]
fn detail_stale_reuse() {
    snapshot_all("detail_stale", |app| {
        key(app, KeyCode::Char('4'));
        key(app, KeyCode::Char('G'));
        key(app, KeyCode::Up);
        key(app, KeyCode::Enter);
        assert_eq!(app.detail_connection().unwrap().id, 3);
    });
}

#[test]
fn detail_probes() {
    snapshot_all("detail_probes", |app| {
        key(app, KeyCode::Char('2'));
        for _ in 0..4 {
            key(app, KeyCode::Char('j'));
        }
        key(app, KeyCode::Enter);
        assert_eq!(app.detail_connection().unwrap().id, 4);
    });
}

#[test]
fn detail_escapes_hostile_text() {
    snapshot_all("detail_escapes", |app| {
        key(app, KeyCode::Char('2'));
        type_text(app, "/search");
        key(app, KeyCode::Enter);
        key(app, KeyCode::Enter);
        assert_eq!(app.detail_connection().unwrap().id, 5);
    });
}

#[test]
fn findings() {
    snapshot_all("findings", |app| {
        key(app, KeyCode::Char('4'));
        key(app, KeyCode::Down);
    });
}

#[test]
fn servers() {
    snapshot_all("servers", |app| {
        key(app, KeyCode::BackTab);
        assert_eq!(app.view(), View::Servers);
    });
}

#[test]
fn help_overlay() {
    snapshot_all("help", |app| {
        key(app, KeyCode::Char('2'));
        key(app, KeyCode::Char('?'));
        assert!(app.help_visible());
    });
}

#[test]
fn filter_being_typed() {
    snapshot_all("filter", |app| {
        key(app, KeyCode::Char('2'));
        type_text(app, "/10.0.0.1:");
        assert!(app.filter_editing());
    });
}

fn live_stats() -> LiveStats {
    LiveStats {
        interface: "eth0".into(),
        packets: 48_213,
        kernel_dropped: 0,
        queue_dropped: 17,
        requests_per_sec: (0..90u64)
            .map(|i| (i * 37 % 23) + if i > 60 { 30 } else { 5 })
            .collect(),
    }
}

#[test]
fn live_overview() {
    for (width, height) in SIZES {
        let mut app = App::new_live(width, height);
        app.apply_update(UiUpdate::Snapshot(Arc::new(tui_fixture::report())));
        app.apply_update(UiUpdate::Stats(live_stats()));
        let terminal = render(&app, width, height);
        insta::assert_snapshot!(
            format!("live_overview_{width}x{height}"),
            terminal.backend()
        );
    }
}

#[test]
fn live_before_first_snapshot_and_after_capture_end() {
    let mut app = App::new_live(80, 24);
    key(&mut app, KeyCode::Tab);
    app.apply_update(UiUpdate::CaptureEnded(Some("eth0 went down".into())));
    let terminal = render(&app, 80, 24);
    insta::assert_snapshot!("live_empty_ended_80x24", terminal.backend());
}
