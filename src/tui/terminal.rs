//! The only part of the UI that touches the terminal: setting it up, restoring it
//! whatever happens (quit, error, panic, signal), and the event loop.
//!
//! Threads, after bottom's design: an input thread turns crossterm events into
//! messages; capture/analysis threads send `UiUpdate`s; the UI thread owns the
//! `App` and `select!`s over both channels and a 10 Hz ticker. Keys are answered
//! at once; updates are coalesced (only the latest snapshot is kept) and drawn on
//! the next tick, so a flood of snapshots costs at most ten frames a second.

use std::io::{stdout, IsTerminal};
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context};
use crossbeam_channel::{select, Receiver, RecvTimeoutError};
use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use crossterm::execute;
use crossterm::terminal::{disable_raw_mode, Clear, ClearType, LeaveAlternateScreen};
use ratatui::backend::Backend;
use ratatui::Terminal;

use super::app::App;
use super::event::Action;
use super::{views, UiUpdate};

/// Frame interval for updates from the capture side.
const TICK: Duration = Duration::from_millis(100);
/// How long the input thread waits for an event before checking whether to stop.
const INPUT_POLL: Duration = Duration::from_millis(50);

/// Whether the terminal is in the UI's state (raw mode, alternate screen, mouse).
static TERMINAL_ACTIVE: AtomicBool = AtomicBool::new(false);

/// Undoes everything the UI did to the terminal, once: leaving the alternate
/// screen a second time would move the cursor back over a panic message printed
/// in between. Errors are ignored: there is nothing better to do then.
///
/// `clear_first` blanks the alternate screen before leaving it: tmux, when the
/// window was resized meanwhile, pulls some of its lines back onto the normal
/// screen. Only on the normal way out: in the panic hook, ratatui's own hook has
/// already left the alternate screen, and clearing would wipe the user's shell.
fn restore_terminal(clear_first: bool) {
    if !TERMINAL_ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    if clear_first {
        let _ = execute!(stdout(), Clear(ClearType::All));
    }
    let _ = execute!(
        stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

/// Restores the terminal when dropped: on normal return, on `?` errors and while
/// unwinding from a panic.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal(!thread::panicking());
    }
}

type PanicHook = dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static;

/// Our panic hook, installed before ratatui's: ratatui's own hook leaves mouse
/// capture on, which would leave the shell receiving mouse escape codes. Dropping
/// the guard puts the original hook back, so a later panic outside the UI does not
/// write terminal escapes.
struct PanicHookGuard {
    original: Arc<PanicHook>,
}

/// Set by the panic hook. A panic on another thread (capture, analysis) has
/// restored the terminal under the UI's feet; the UI must then stop drawing and
/// leave, so that the panic message stays readable on the normal screen.
static PANIC_SEEN: AtomicBool = AtomicBool::new(false);

fn install_panic_hook() -> PanicHookGuard {
    PANIC_SEEN.store(false, Ordering::SeqCst);
    let original: Arc<PanicHook> = Arc::from(std::panic::take_hook());
    let chained = Arc::clone(&original);
    std::panic::set_hook(Box::new(move |info| {
        PANIC_SEEN.store(true, Ordering::SeqCst);
        restore_terminal(false);
        chained(info);
    }));
    PanicHookGuard { original }
}

impl Drop for PanicHookGuard {
    fn drop(&mut self) {
        // The hook cannot be changed from a panicking thread; the chained hook
        // stays, which is harmless (the process is going down).
        if thread::panicking() {
            return;
        }
        let original = Arc::clone(&self.original);
        drop(std::panic::take_hook());
        std::panic::set_hook(Box::new(move |info| original(info)));
    }
}

/// Flags raised by SIGTERM/SIGHUP/SIGINT (a signal from outside: in raw mode the
/// terminal's own Ctrl-C arrives as a key). Unregistered on drop.
struct Signals {
    raised: Arc<AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    fn register() -> Signals {
        let raised = Arc::new(AtomicBool::new(false));
        let ids = [
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
            signal_hook::consts::SIGINT,
        ]
        .into_iter()
        .filter_map(|signal| signal_hook::flag::register(signal, Arc::clone(&raised)).ok())
        .collect();
        Signals { raised, ids }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// What the input thread sends.
enum InputMessage {
    Event(Event),
    Failed(std::io::Error),
}

/// The thread that reads terminal events (the only place that does). Dropping it
/// stops and joins it, also while unwinding from a panic, so that nothing keeps
/// reading the terminal after the UI is gone — unless it does not stop within
/// `INPUT_STOP_WAIT`: when the terminal has gone away (the ssh session or tmux
/// server ended), reads return end-of-file and crossterm's `poll` loops on them
/// without ever returning, so joining would hang the exit for good (and spin a
/// core). The thread is then left behind; the process ends soon after.
struct InputThread {
    receiver: Receiver<InputMessage>,
    stop: Arc<AtomicBool>,
    /// Disconnected when the thread ends.
    ended: Receiver<()>,
    handle: Option<thread::JoinHandle<()>>,
}

/// How long dropping `InputThread` waits for the thread to see its stop flag.
const INPUT_STOP_WAIT: Duration = Duration::from_millis(500);

impl InputThread {
    fn spawn() -> std::io::Result<InputThread> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_seen = Arc::clone(&stop);
        let (ended_tx, ended) = crossbeam_channel::bounded::<()>(0);
        let handle = thread::Builder::new()
            .name("keepscope-input".into())
            .spawn(move || {
                // Dropped when the thread ends, however it ends.
                let _ended = ended_tx;
                // Polling with a timeout rather than blocking in read(), so that the
                // stop flag is seen within INPUT_POLL.
                while !stop_seen.load(Ordering::Relaxed) {
                    let next = match event::poll(INPUT_POLL) {
                        Ok(false) => continue,
                        Ok(true) => event::read(),
                        Err(error) => Err(error),
                    };
                    let message = match next {
                        Ok(event) => InputMessage::Event(event),
                        Err(error) => InputMessage::Failed(error),
                    };
                    let failed = matches!(message, InputMessage::Failed(_));
                    if sender.send(message).is_err() || failed {
                        break;
                    }
                }
            })?;
        Ok(InputThread {
            receiver,
            stop,
            ended,
            handle: Some(handle),
        })
    }
}

impl Drop for InputThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            if let Err(RecvTimeoutError::Timeout) = self.ended.recv_timeout(INPUT_STOP_WAIT) {
                // Stuck in crossterm on a terminal that is gone: leave it.
                return;
            }
            // A panic on that thread has already been reported by the hook.
            let _ = handle.join();
        }
    }
}

/// Sets the capture's stop flag when dropped: on return, on error and on panic.
struct StopOnDrop(Option<Arc<AtomicBool>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(stop) = &self.0 {
            stop.store(true, Ordering::SeqCst);
        }
    }
}

/// Runs the UI until the user quits (or a signal, or an input error). `stop` is set
/// on the way out, whatever the way, so capture threads end too.
pub(crate) fn run(
    mut app: App,
    updates: Receiver<UiUpdate>,
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<()> {
    let _stop = StopOnDrop(stop);
    if !stdout().is_terminal() {
        bail!("the terminal UI needs a terminal on standard output (use `keepscope analyze` for a text or JSON report)");
    }
    run_in_terminal(&mut app, updates)
}

fn run_in_terminal(app: &mut App, updates: Receiver<UiUpdate>) -> anyhow::Result<()> {
    // Order matters: our hook first, so that ratatui's (installed by try_init)
    // chains to it and a panic undoes mouse capture too. Locals drop in reverse:
    // the input thread stops first, then the terminal is restored, then the hook
    // is put back.
    let _panic_hook = install_panic_hook();
    let _guard = TerminalGuard;
    TERMINAL_ACTIVE.store(true, Ordering::SeqCst);
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    execute!(stdout(), EnableMouseCapture).context("cannot enable mouse capture")?;
    let signals = Signals::register();
    let input = InputThread::spawn().context("cannot start the input thread")?;
    let mut set_mouse = |on: bool| {
        if on {
            execute!(stdout(), EnableMouseCapture)
        } else {
            execute!(stdout(), DisableMouseCapture)
        }
    };
    event_loop(
        app,
        &mut terminal,
        &input.receiver,
        updates,
        &signals.raised,
        &mut set_mouse,
    )
    .map(|_| ())
}

/// What the event loop did, for tests of its pacing.
#[derive(Debug, Default)]
struct LoopStats {
    frames: u64,
    snapshots_applied: u64,
}

/// The UI loop proper, over any backend so that tests can run it on a
/// `TestBackend` with synthetic input. `set_mouse` turns mouse capture on or off
/// when the App asks; `quit_requested` is raised by signals.
fn event_loop<B>(
    app: &mut App,
    terminal: &mut Terminal<B>,
    input: &Receiver<InputMessage>,
    mut updates: Receiver<UiUpdate>,
    quit_requested: &AtomicBool,
    set_mouse: &mut dyn FnMut(bool) -> std::io::Result<()>,
) -> anyhow::Result<LoopStats>
where
    B: Backend,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let size = terminal.size().context("cannot read the terminal size")?;
    app.resize(size.width, size.height);
    let ticker = crossbeam_channel::tick(TICK);
    let mut stats = LoopStats::default();
    let mut pending_snapshot = None;
    // Something from the capture side arrived since the last frame.
    let mut updated = false;
    let mut dirty = true;
    loop {
        if PANIC_SEEN.load(Ordering::SeqCst) {
            bail!("a keepscope thread panicked (see above); the UI stopped");
        }
        if dirty {
            terminal
                .draw(|frame| views::draw(frame, app))
                .context("cannot draw")?;
            stats.frames += 1;
            dirty = false;
        }
        select! {
            recv(input) -> message => {
                let event = match message {
                    Ok(InputMessage::Event(event)) => event,
                    Ok(InputMessage::Failed(error)) => return Err(error).context("cannot read terminal input"),
                    Err(_) => bail!("the terminal input thread stopped"),
                };
                let action = match event {
                    Event::Key(key) => {
                        let mouse_before = app.mouse_capture();
                        let action = app.handle_key(key);
                        if app.mouse_capture() != mouse_before {
                            set_mouse(app.mouse_capture()).context("cannot change mouse capture")?;
                        }
                        action
                    }
                    Event::Mouse(mouse) => app.handle_mouse(mouse),
                    Event::Resize(width, height) => {
                        app.resize(width, height);
                        Action::Redraw
                    }
                    _ => Action::Ignored,
                };
                match action {
                    Action::Quit => return Ok(stats),
                    Action::Redraw => dirty = true,
                    Action::Ignored => {}
                }
            }
            recv(updates) -> update => match update {
                // Only the newest snapshot matters; it is applied on the next tick.
                Ok(UiUpdate::Snapshot(report)) => {
                    pending_snapshot = Some(report);
                    updated = true;
                }
                Ok(other) => {
                    app.apply_update(other);
                    updated = true;
                }
                Err(_) => {
                    updated = true;
                    // The capture side is gone: stop listening, keep the UI up.
                    updates = crossbeam_channel::never();
                    if app.status_message().is_none() && app.is_live() {
                        app.apply_update(UiUpdate::CaptureEnded(None));
                    }
                }
            },
            recv(ticker) -> _ => {
                if quit_requested.load(Ordering::Relaxed) {
                    return Ok(stats);
                }
                if let Some(report) = pending_snapshot.take() {
                    app.set_report(report);
                    stats.snapshots_applied += 1;
                }
                dirty |= std::mem::take(&mut updated);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::Report;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;
    use std::time::Instant;

    fn key(code: KeyCode) -> InputMessage {
        InputMessage::Event(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn report_with(connections: usize) -> Arc<Report> {
        let mut report = crate::tui::app::empty_report("live");
        let template = crate::analysis::model::ConnectionRecord {
            id: 0,
            client: "127.0.0.1:40000".into(),
            server: "127.0.0.1:8080".into(),
            first_ts: 0.0,
            last_ts: 1.0,
            syn_seen: true,
            protocol: "http1".into(),
            transactions: vec![],
            close: crate::analysis::model::Close {
                by: "none".into(),
                how: "none".into(),
                ts: None,
                idle_s: None,
                announced: false,
            },
            tcp_keepalive: Default::default(),
            missing_bytes: Default::default(),
            findings: vec![],
            keepalive_probe_ts: vec![],
            retired_transactions: 0,
        };
        report.connections = (0..connections as u64)
            .map(|id| crate::analysis::model::ConnectionRecord {
                id,
                ..template.clone()
            })
            .collect();
        Arc::new(report)
    }

    /// The App after the loop, what the loop returned, and the mouse switches.
    type Outcome = (App, anyhow::Result<LoopStats>, Vec<bool>);

    /// Runs the loop on a TestBackend in a thread; returns the input and update
    /// senders and a handle yielding the outcome.
    fn spawn_loop() -> (
        crossbeam_channel::Sender<InputMessage>,
        crossbeam_channel::Sender<UiUpdate>,
        thread::JoinHandle<Outcome>,
    ) {
        let (input_tx, input_rx) = crossbeam_channel::unbounded();
        let (update_tx, update_rx) = crossbeam_channel::unbounded();
        let handle = thread::spawn(move || {
            let mut app = App::new_live(80, 24);
            let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
            let mut mouse_calls = Vec::new();
            let quit = AtomicBool::new(false);
            let result = event_loop(
                &mut app,
                &mut terminal,
                &input_rx,
                update_rx,
                &quit,
                &mut |on| {
                    mouse_calls.push(on);
                    Ok(())
                },
            );
            (app, result, mouse_calls)
        });
        (input_tx, update_tx, handle)
    }

    #[test]
    fn a_flood_of_snapshots_is_coalesced_to_the_newest() {
        let (input, updates, handle) = spawn_loop();
        let started = Instant::now();
        for size in 1..=200 {
            updates.send(UiUpdate::Snapshot(report_with(size))).unwrap();
        }
        // Let a few ticks pass, then quit.
        thread::sleep(TICK * 4);
        input.send(key(KeyCode::Char('q'))).unwrap();
        let (app, result, _) = handle.join().unwrap();
        let stats = result.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(
            app.report().connections.len(),
            200,
            "the newest snapshot wins"
        );
        // At most one snapshot and one frame per tick (plus the first frame).
        let ticks = (elapsed.as_millis() / TICK.as_millis()) as u64 + 1;
        assert!(stats.snapshots_applied <= ticks, "{stats:?} in {elapsed:?}");
        assert!(stats.frames <= ticks + 1, "{stats:?} in {elapsed:?}");
        assert!(stats.snapshots_applied < 200);
    }

    #[test]
    fn keys_are_answered_without_waiting_for_a_tick() {
        let (input, _updates, handle) = spawn_loop();
        for _ in 0..5 {
            input.send(key(KeyCode::Tab)).unwrap();
        }
        input.send(key(KeyCode::Char('q'))).unwrap();
        let (app, result, _) = handle.join().unwrap();
        // Five Tabs went round the views once, each drawn as it came (ticks draw
        // nothing here: no update arrived): the first frame + 5.
        assert_eq!(app.view(), crate::tui::View::Overview);
        assert_eq!(result.unwrap().frames, 6);
    }

    #[test]
    fn capture_end_and_disconnection_reach_the_status_bar() {
        let (input, updates, handle) = spawn_loop();
        updates
            .send(UiUpdate::CaptureEnded(Some(
                "limit of 10 packets reached".into(),
            )))
            .unwrap();
        drop(updates);
        thread::sleep(TICK * 2);
        input.send(key(KeyCode::Char('m'))).unwrap();
        input.send(key(KeyCode::Char('q'))).unwrap();
        let (app, result, mouse_calls) = handle.join().unwrap();
        result.unwrap();
        assert_eq!(
            app.status_message(),
            Some("capture ended: limit of 10 packets reached")
        );
        assert_eq!(mouse_calls, [false]);
    }

    #[test]
    fn a_closed_update_channel_without_message_still_says_the_capture_ended() {
        let (input, updates, handle) = spawn_loop();
        drop(updates);
        thread::sleep(TICK * 2);
        input.send(key(KeyCode::Char('q'))).unwrap();
        let (app, result, _) = handle.join().unwrap();
        result.unwrap();
        assert_eq!(app.status_message(), Some("capture ended"));
    }

    #[test]
    fn input_errors_end_the_loop_with_an_error() {
        let (input, _updates, handle) = spawn_loop();
        input
            .send(InputMessage::Failed(std::io::Error::other("tty gone")))
            .unwrap();
        let (_, result, _) = handle.join().unwrap();
        let error = result.unwrap_err();
        assert!(format!("{error:#}").contains("tty gone"), "{error:#}");
    }
}
