//! How a followed execution shows its progress: a live line on a terminal (the state it is in,
//! the time since it started and what it awaits, above it each finished state), plain lines
//! when piped, and on standard error only when standard output carries JSON for a script.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::execution::Progress;

/// Where the lines go.
pub enum Display {
    /// A terminal: finished states scroll above a live line.
    Live(ProgressBar),
    /// Piped: one line per finished state on standard output.
    Plain,
    /// Standard output is JSON: the lines go to standard error.
    ToStderr,
}

impl Display {
    /// Live on a terminal, plain lines otherwise; with `json`, lines on standard error.
    pub fn choose(json: bool) -> Self {
        if json {
            Display::ToStderr
        } else if std::io::stdout().is_terminal() {
            Display::live()
        } else {
            Display::Plain
        }
    }

    fn live() -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message("starting");
        bar.enable_steady_tick(Duration::from_millis(120));
        Display::Live(bar)
    }

    /// One finished state.
    pub fn show(&self, p: &Progress) {
        let line = line(p);
        match self {
            Display::Live(bar) => {
                bar.println(line);
                bar.set_message(if p.detail.is_empty() {
                    p.state.clone()
                } else {
                    format!("{}: {}", p.state, p.detail)
                });
            }
            Display::Plain => println!("{line}"),
            Display::ToStderr => eprintln!("{line}"),
        }
    }

    /// A line of its own (the execution's ARN, the outcome).
    pub fn say(&self, text: &str) {
        match self {
            Display::Live(bar) => bar.println(text),
            Display::Plain => println!("{text}"),
            Display::ToStderr => eprintln!("{text}"),
        }
    }

    /// Removes the live line.
    pub fn finish(&self) {
        if let Display::Live(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// The plain text of a finished state: when, whether it went well, which, and its news.
pub fn line(p: &Progress) -> String {
    let mark = if p.ok { "ok " } else { "ERR" };
    format!("  [{:>6.1}s] {mark} {:<28} {}", p.at, p.state, p.detail)
}
