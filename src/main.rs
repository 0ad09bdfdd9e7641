//! The `npchip` binary: argument parsing and error reporting only; everything else is the library.

use clap::Parser;
use npchip::cli::{init_logging, run, Cli};

fn main() {
    let cli = Cli::parse();
    init_logging(&cli);
    if let Err(e) = run(cli) {
        // One line that says what went wrong and, where the error knows it, what to do; bad
        // settings get a line each.
        for line in npchip::cli::error_text(&e).lines() {
            eprintln!("error: {line}");
        }
        std::process::exit(1);
    }
}
