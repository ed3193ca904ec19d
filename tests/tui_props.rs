//! Property test: whatever a hostile capture puts in the report (NaN or infinite
//! times, times going backwards, huge counts, control characters and bidi
//! overrides in every string), every view draws without panicking and nothing
//! a terminal would act on reaches the screen.

mod tui_fixture;

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use keepscope::analysis::model::*;
use keepscope::tui::{draw, App};
use proptest::prelude::*;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn any_time() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => (0.0f64..1000.0).prop_map(|t| tui_fixture::T0 + t),
        1 => prop::num::f64::ANY,
        1 => Just(f64::NAN),
        1 => Just(-1e300),
    ]
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ -~]{0,30}",
        1 => "\\PC{0,12}",
        1 => prop::collection::vec(prop::char::any(), 0..40).prop_map(|chars| chars.into_iter().collect()),
        1 => Just("\u{1b}[2J\u{1b}]0;pwned\u{7}\u{202e}\u{2066}\u{200b}\u{9b}".to_string()),
    ]
}

prop_compose! {
    fn any_transaction()(
        depth in 0u64..u64::MAX,
        flags in any::<(bool, bool, bool, bool, bool)>(),
        idle in prop::option::of(prop::num::f64::ANY),
        times in (any_time(), any_time(), any_time(), any_time()),
        texts in (any_text(), any_text(), any_text(), any_text(), any_text()),
        status in any::<u16>(),
        bodies in any::<(u64, u64)>(),
        interim in prop::collection::vec((any::<u16>(), any_time()), 0..3),
    ) -> Transaction {
        let (method, uri, reason, header, outcome) = texts;
        Transaction {
            depth,
            reused: flags.0,
            pipelined: flags.1,
            idle_before_s: idle,
            request: flags.2.then(|| RequestRecord {
                ts: times.0, end_ts: Some(times.1), method: method.into(), uri: Some(uri.into()),
                version: "HTTP/1.1".into(), connection: Some(header.clone().into()),
                keep_alive: None, expect: Some(header.clone().into()), body_bytes: bodies.0, complete: flags.4,
            }),
            interim: interim.into_iter().map(|(status, ts)| Interim { status, ts }).collect(),
            response: flags.3.then(|| ResponseRecord {
                ts: times.2, end_ts: Some(times.3), status: Some(status), reason: reason.into(),
                version: "HTTP/1.0".into(), connection: None, keep_alive: Some(header.into()),
                framing: "chunked".into(), body_bytes: bodies.1, complete: !flags.4,
            }),
            expect_outcome: outcome.into(),
            persistent_after: flags.4,
            expect_client_wait_s: Some(times.1 - times.0),
            expect_server_wait_s: None,
        }
    }
}

prop_compose! {
    fn any_connection()(
        id in any::<u64>(),
        endpoints in (any_text(), any_text(), any_text()),
        times in (any_time(), any_time(), prop::option::of(any_time())),
        close_texts in (any_text(), any_text()),
        transactions in prop::collection::vec(any_transaction(), 0..6),
        probes in prop::collection::vec((any::<bool>(), any_time(), any::<bool>()), 0..5),
        counts in any::<(u64, u64, u64, u64)>(),
        findings in prop::collection::vec(any_text(), 0..3),
    ) -> ConnectionRecord {
        ConnectionRecord {
            id,
            client: endpoints.0.into(),
            server: endpoints.1.into(),
            first_ts: times.0,
            last_ts: times.1,
            syn_seen: counts.0 % 2 == 0,
            protocol: endpoints.2.into(),
            transactions,
            close: Close { by: close_texts.0.into(), how: close_texts.1.into(), ts: times.2, idle_s: times.2, announced: counts.1 % 2 == 0 },
            tcp_keepalive: KeepaliveBySide {
                client: ProbeCount { probes: counts.2, acked: counts.3 },
                server: ProbeCount::default(),
            },
            missing_bytes: BySide { client: counts.0, server: counts.1 },
            findings: findings.into_iter().map(Into::into).collect(),
            keepalive_probe_ts: probes
                .into_iter()
                .map(|(server, ts, acked)| ProbeMark { by: if server { "server".into() } else { "client".into() }, ts, acked })
                .collect(),
            retired_transactions: 0,
        }
    }
}

fn dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn hostile_reports_draw_safely(
        connections in prop::collection::vec(any_connection(), 0..5),
        finding_texts in prop::collection::vec((any_text(), any_text(), any::<u64>()), 0..4),
        server_texts in prop::collection::vec((any_text(), any_text(), prop::num::f64::ANY), 0..3),
        filter in "[ -~]{0,3}",
    ) {
        let mut report = tui_fixture::report();
        // Findings that point at real connections and at missing ones.
        report.findings = finding_texts
            .into_iter()
            .enumerate()
            .map(|(i, (kind, message, id))| Finding {
                kind,
                message,
                connection: connections.get(i).map_or(id, |c| c.id),
                transaction: Some(id),
            })
            .collect();
        report.servers = server_texts
            .into_iter()
            .map(|(server, verdict, seconds)| ServerFigures {
                server,
                connections: u64::MAX,
                transactions: 0,
                reuse_ratio: seconds,
                max_depth: u64::MAX,
                advertised_keep_alive: Some(verdict.clone()),
                observed_idle_close_s: Some(seconds),
                max_requests_before_close: Some(u64::MAX),
                verdict: Some(verdict),
            })
            .collect();
        report.summary.requests_per_connection = vec![(0, u64::MAX), (u64::MAX, 1)];
        report.summary.idle_gaps = vec![IdleBucket { label: "\u{1b}[31m<1s".into(), upper_s: Some(f64::NAN), count: u64::MAX }];
        report.summary.findings.insert("\u{202e}evil".into(), u64::MAX);
        report.connections = connections;

        for (width, height) in [(80u16, 24u16), (160, 40), (33, 9)] {
            let mut app = App::new(Arc::new(report.clone()), width, height);
            let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
            let mut steps: Vec<KeyCode> = vec![KeyCode::Char('1')];
            for view in ['2', '3', '4', '5'] {
                steps.extend([KeyCode::Char(view), KeyCode::Char('G'), KeyCode::Enter]);
            }
            steps.extend([KeyCode::Char('2'), KeyCode::Char('s'), KeyCode::Char('S'), KeyCode::Char('/')]);
            steps.extend(filter.chars().map(KeyCode::Char));
            steps.extend([KeyCode::Enter, KeyCode::Enter, KeyCode::Right, KeyCode::Char('?')]);
            for code in steps {
                app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
                terminal.draw(|frame| draw(frame, &app)).unwrap();
                for cell in terminal.backend().buffer().content() {
                    prop_assert!(!cell.symbol().chars().any(dangerous), "raw {:?} drawn", cell.symbol());
                }
            }
        }
    }
}
