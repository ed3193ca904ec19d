use clap::Parser;

use keepscope::cli::{Cli, Command};
use keepscope::AppError;

fn main() {
    // A bug must still end with one line, not a backtrace (the TUI restores the
    // terminal in its own hook, chained before this one runs).
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("keepscope: internal error{place}: {what} (please report this with the capture)");
    }));

    let cli = Cli::parse();
    let result: Result<(), AppError> = match &cli.command {
        Command::Analyze(args) => keepscope::offline::run_analyze(args),
        Command::Tui(args) => keepscope::offline::run_tui(args),
        Command::Live(args) => keepscope::live::run_live(args),
        Command::Interfaces => keepscope::live::run_interfaces(),
    };
    match result {
        Ok(()) => {}
        Err(e) => {
            if let Some(m) = e.message {
                eprintln!("keepscope: {m}");
            }
            std::process::exit(e.code);
        }
    }
}
