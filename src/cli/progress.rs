//! The terminal observer: an indicatif progress bar per epoch and one log line per epoch.
//!
//! The bar is drawn only when stderr is a terminal: redrawn in place it is a help there, but in a
//! log file or a pipe every redraw would be a line of escapes. Without it the output is one plain
//! line per epoch, the same lines a terminal shows once each epoch ends.

use crate::chip::Chip;
use crate::learn::Learner;
use crate::train::{EpochRecord, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal as _;
use std::time::Instant;

/// Whether to draw the progress bar: not when asked to be quiet, and only on a terminal.
pub fn show_bar(quiet: bool, stderr_is_terminal: bool) -> bool {
    !quiet && stderr_is_terminal
}

/// Shows progress on stderr: the bar per [`show_bar`], and one line per finished epoch.
pub struct Terminal {
    bar: ProgressBar,
    started: Instant,
}

impl Terminal {
    /// A progress display (no bar when `quiet`).
    pub fn new(quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if show_bar(quiet, std::io::stderr().is_terminal()) {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Terminal {
            bar,
            started: Instant::now(),
        }
    }
}

impl Observer for Terminal {
    fn epoch(&mut self, r: &EpochRecord, chip: &Chip, _l: &Learner) -> anyhow::Result<()> {
        // The oracle flag is the chip's record of views handed out, not the rule's name.
        let oracle = !chip.oracle_uses().is_empty();
        self.bar.finish_and_clear();
        if r.interrupted {
            // Its accuracy covers a part of the epoch and is not in the file: not shown as if
            // it were an epoch's result.
            eprintln!(
                "epoch {:>3}  interrupted after {} samples: not stored",
                r.epoch, r.samples
            );
            return Ok(());
        }
        eprintln!(
            "epoch {:>3}  loss {:.4}  train {:.2}%  test {:.2}%  {:.0} samples/s{}{}",
            r.epoch,
            r.train_loss,
            100.0 * r.train_acc,
            100.0 * r.test_acc,
            r.samples as f64 / r.train_seconds.max(1e-9),
            if r.skipped > 0 {
                format!("  ({} samples without perturbation)", r.skipped)
            } else {
                String::new()
            },
            if oracle {
                "  [oracle: not physical]"
            } else {
                ""
            },
        );
        self.bar.reset();
        self.started = Instant::now();
        Ok(())
    }

    fn progress(&mut self, done: usize, total: usize, loss: f64, acc: f64) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar.set_message(format!(
            "loss {loss:.4} acc {:.1}% {rate:.0} samples/s",
            100.0 * acc
        ));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bar_only_on_a_terminal_and_not_when_quiet() {
        assert!(super::show_bar(false, true));
        assert!(!super::show_bar(false, false));
        assert!(!super::show_bar(true, true));
        assert!(!super::show_bar(true, false));
    }
}
