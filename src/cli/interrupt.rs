//! Ctrl-C, SIGTERM, SIGHUP → [`Cancel`]: the one signal handler, installed by the CLI (the
//! library has none). SIGTERM matters on clusters: `scancel` and a Slurm time limit send it
//! (then SIGKILL after `KillWait`, 30 s by default), so a run gets to close its file.

use crate::run::Cancel;

/// The first Ctrl-C (or SIGTERM, SIGHUP: ctrlc's `termination` feature) cancels `cancel` (the
/// run finishes its batch and closes its file); a second one exits at once with status 130.
pub fn cancel_on_ctrl_c(cancel: &Cancel) {
    let c = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if c.cancel() {
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupted: finishing this batch and closing the file (Ctrl-C again to abort)"
        );
    });
}
