//! Command-line interface: clap structs (raw flags) and the commands they run.
//!
//! Two layers, as in ripgrep: the derive structs here hold what the user typed; each command
//! turns them into validated settings (a [`crate::chip::ChipModel`], a [`crate::run::RunSpec`])
//! before anything runs, so a bad flag fails fast with a message naming it.

mod chip_cmd;
mod data_cmd;
mod train_cmd;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
    Sweep(Box<crate::sweep::SweepArgs>),
    /// Join sweep shard files into one.
    Merge(MergeArgs),
    /// Summarise an HDF5 result file: a table of runs and PNG plots.
    Report(ReportArgs),
    /// Chip models: list, show, characterise.
    #[command(subcommand)]
    Chip(ChipCommand),
    /// Datasets: inspect.
    #[command(subcommand)]
    Data(DataCommand),
    /// Measure training speed: samples/s and GFLOP/s against the machine's GEMM rate.
    Bench(crate::bench::BenchArgs),
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
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    use crate::output::probe;
    // Files of unknown health are read in a child first (a crash there is an error here).
    probe::enable();
    match cli.command {
        Command::ProbeFile { file } => Ok(probe::read_everything(&file)?),
        Command::Train(a) => train_cmd::run(*a, cli.quiet > 0),
        Command::Sweep(a) => crate::sweep::run(*a),
        Command::Merge(a) => crate::output::merge::merge(&a.out, &a.inputs, a.force),
        Command::Report(a) => {
            a.files.iter().try_for_each(|f| probe::check(f))?;
            crate::output::report::run(&a.files, a.out.as_deref())
        }
        Command::Chip(c) => chip_cmd::run(c),
        Command::Data(DataCommand::Info { data }) => data_cmd::info(&data),
        Command::Bench(a) => crate::bench::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

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
        assert_eq!(a.hidden, vec![1000, 1000, 1000]);
        assert_eq!(a.epochs, 5);
        assert!(Cli::try_parse_from(["npchip", "train", "--rule", "nope"]).is_err());
        assert!(Cli::try_parse_from(["npchip", "train", "--inject", "loud:1"]).is_err());
    }
}
