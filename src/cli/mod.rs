//! Command-line interface: clap structs (raw flags) and the commands they run.
//!
//! Two layers, as in ripgrep: the derive structs here hold what the user typed; each command
//! turns them into validated settings (a [`crate::chip::ChipModel`], a [`crate::run::RunSpec`])
//! before anything runs, so a bad flag fails fast with a message naming it.

mod bench_cmd;
mod chip_cmd;
mod data_cmd;
mod errors;
mod interrupt;
mod progress;
mod slurm_cmd;
mod sweep_cmd;
mod train_cmd;

use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

pub use bench_cmd::BenchArgs;
pub use errors::error_text;
pub use interrupt::cancel_on_ctrl_c;
pub use progress::{show_bar, Terminal};
pub use slurm_cmd::SlurmArgs;
pub use sweep_cmd::SweepArgs;
pub use train_cmd::TrainArgs;

/// npchip: simulate analog neuromorphic chips that learn on-chip.
#[derive(Debug, Parser)]
#[command(name = "npchip", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log output (-q: warnings only, -qq: errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a network on a simulated chip and write an HDF5 trace.
    Train(Box<TrainArgs>),
    /// Run a grid of trainings (precision × noise × rule × lr × seed) in parallel.
    Sweep(Box<SweepArgs>),
    /// Join sweep shard files into one.
    Merge(MergeArgs),
    /// Summarise an HDF5 result file: a table of runs and PNG plots.
    Report(ReportArgs),
    /// Chip models: list, show, export, characterise.
    #[command(subcommand)]
    Chip(ChipCommand),
    /// Datasets: inspect.
    #[command(subcommand)]
    Data(DataCommand),
    /// Measure training speed: samples/s and GFLOP/s against the machine's GEMM rate.
    Bench(BenchArgs),
    /// Internal: reads every object of a result file, so that `report`, `merge` and
    /// `--resume` learn in a child process whether libhdf5 survives the file.
    #[command(name = "probe-file", hide = true)]
    ProbeFile {
        /// The file to read.
        file: PathBuf,
    },
}

/// `npchip chip ...`
#[derive(Debug, Subcommand)]
pub enum ChipCommand {
    /// List the built-in chip models.
    List,
    /// Show a chip model's resolved parameters, units and sources.
    Show {
        /// A preset name (see `chip list`) or a TOML file.
        chip: String,
        /// Override a parameter, e.g. `--set device.levels=16` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Print a preset's TOML file verbatim (comments, units, sources), to edit and pass to
    /// `--chip`: `npchip chip export rram > mychip.toml`.
    Export {
        /// A preset name (see `chip list`).
        name: String,
    },
    /// Measure a chip model the way a lab measures a test chip.
    Characterize {
        /// A preset name or a TOML file.
        chip: String,
        /// Override a parameter (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Seed of the simulated test chip.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// `npchip data ...`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Counts, shape, value range and label histogram of a dataset.
    Info {
        /// The dataset: digits (embedded), mnist:DIR, fashion:DIR, cifar10:DIR, cifar100:DIR, synthetic:...
        #[arg(long, default_value = "digits")]
        data: String,
    },
}

/// `npchip merge OUT IN...`
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The merged file to write.
    pub out: PathBuf,
    /// Shard files from `npchip sweep --shard K/N`.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Overwrite OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Command that reruns shards given as `K,K,...`, named when shards are missing (the
    /// merge job of `npchip sweep --slurm` passes its submit.sh).
    #[arg(long, value_name = "CMD")]
    pub rerun_hint: Option<String>,
}

/// `npchip report FILE...`
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// HDF5 files written by `train` or `sweep`; with several, one table over all their runs.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Directory for the PNG plots (created if missing); no plots without it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write one self-contained HTML page (table, embedded figures, each run's chip model
    /// and settings), e.g. `--html report.html`.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    use crate::output::probe;
    // Files of unknown health are read in a child first (a crash there is an error here).
    probe::enable();
    match cli.command {
        Command::ProbeFile { file } => Ok(probe::read_everything(&file)?),
        Command::Train(a) => train_cmd::run(*a, cli.quiet > 0),
        Command::Sweep(a) => sweep_cmd::run(&a),
        Command::Merge(a) => {
            let done = crate::output::merge::merge_with_hint(
                &a.out,
                &a.inputs,
                a.force,
                a.rerun_hint.as_deref(),
            )?;
            eprintln!("{done}");
            Ok(())
        }
        Command::Report(a) => {
            a.files.iter().try_for_each(|f| probe::check(f))?;
            Ok(crate::output::report::run_to(
                &a.files,
                a.out.as_deref(),
                a.html.as_deref(),
                &mut std::io::stdout().lock(),
                &mut std::io::stderr(),
            )?)
        }
        Command::Chip(c) => chip_cmd::run(c),
        Command::Data(DataCommand::Info { data }) => data_cmd::info(&data),
        Command::Bench(a) => Ok(crate::lab::bench::run(
            a.plan(),
            &mut std::io::stdout().lock(),
        )?),
    }
}

/// Whether log lines get ANSI colour: only on a terminal (escapes in a log file or a pipe break
/// `grep` and editors), and never when `NO_COLOR` is set to anything but "" (no-color.org).
pub fn log_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Sets up logging to stderr: the level from -v/-q (or `NPCHIP_LOG`, an `EnvFilter` string),
/// colour per [`log_colour`].
pub fn init_logging(cli: &Cli) {
    let level = match (cli.verbose as i8) - (cli.quiet as i8) {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("NPCHIP_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("npchip={level}")));
    let ansi = log_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(log_colour(true, None));
        assert!(!log_colour(false, None), "a pipe or file gets no escapes");
        assert!(!log_colour(true, Some(OsStr::new("1"))));
        assert!(!log_colour(true, Some(OsStr::new("yes"))));
        assert!(
            log_colour(true, Some(OsStr::new(""))),
            "NO_COLOR=\"\" is unset"
        );
        assert!(!log_colour(false, Some(OsStr::new(""))));
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn train_flags_parse() {
        let cli = Cli::try_parse_from([
            "npchip",
            "train",
            "--chip",
            "rram",
            "--rule",
            "danp-nn",
            "--hidden",
            "1000,1000,1000",
            "--epochs",
            "5",
            "--batch",
            "1000",
            "--lr",
            "1e-4",
            "--optimizer",
            "adam",
            "--decor-lr",
            "1e-3",
            "--loss",
            "ce",
            "--data",
            "mnist:/tmp/x",
            "--seed",
            "1",
        ])
        .unwrap();
        let Command::Train(a) = cli.command else {
            panic!("not train")
        };
        let d = a.def().unwrap();
        assert_eq!(d.spec.hidden, vec![1000, 1000, 1000]);
        assert_eq!(d.spec.epochs, 5);
        assert_eq!(d.spec.lr, 1e-4);
        // clap only splits the line; the values are judged by the one check, all at once.
        let bad = |argv: &[&str]| match Cli::try_parse_from(argv).unwrap().command {
            Command::Train(a) => a.def().unwrap_err().keys().join(","),
            _ => unreachable!(),
        };
        assert_eq!(bad(&["npchip", "train", "--rule", "nope"]), "rule");
        assert_eq!(
            bad(&["npchip", "train", "--inject", "loud:1", "--epochs=-1"]),
            "inject,epochs"
        );
        // Flags left at their defaults are not "given" (what --resume compares).
        assert_eq!(
            a.settings.given_keys(),
            [
                "chip",
                "rule",
                "hidden",
                "loss",
                "optimizer",
                "lr",
                "decor_lr",
                "epochs",
                "batch",
                "seed",
                "data"
            ]
        );
    }
}
