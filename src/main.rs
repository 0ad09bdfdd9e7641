//! The `npchip` binary: argument parsing and error reporting only; everything else is the library.

use clap::Parser;
use npchip::cli::{run, Cli};
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = Cli::parse();
    let level = match (cli.verbose as i8) - (cli.quiet as i8) {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("NPCHIP_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("npchip={level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    if let Err(e) = run(cli) {
        // One line that says what went wrong and, where the error knows it, what to do.
        eprintln!("error: {}", npchip::cli::error_text(&e));
        std::process::exit(1);
    }
}
