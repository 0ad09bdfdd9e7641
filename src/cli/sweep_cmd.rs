//! The flags of `npchip sweep`: `npchip train`'s ([`TrainArgs`], flattened) plus the grid axes
//! (plural names: `--rules`, `--lrs`, ..., and `--vary KEY=V1,V2` for any run key) and a few
//! sweep-only flags. clap only splits them; [`SweepArgs::plan`] makes the library's typed
//! [`SweepPlan`] (a `--config` sweep TOML filled in beneath the typed flags), and the values
//! are checked by the sweep and the one run check.

use super::slurm_cmd::SlurmArgs;
use super::TrainArgs;
use crate::learn::RuleSpec;
use crate::sweep::{AxisLists, Shard, SweepError, SweepPlan};
use clap::Args;
use std::path::PathBuf;

/// Flags of `npchip sweep`.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Sweep TOML with `[grid]` axes and `[train]` settings (docs/sweeps.md); typed flags win.
    #[arg(long, value_name = "FILE", help_heading = "Sweep")]
    pub config: Option<PathBuf>,
    /// Chip axis: presets or TOML files (default: --chip).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "CHIP,...",
        conflicts_with = "chip",
        help_heading = "Grid"
    )]
    pub chips: Vec<String>,
    /// Weight-precision axis: device levels per device (`device.levels=N`).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "N,...",
        allow_negative_numbers = true,
        help_heading = "Grid"
    )]
    pub levels: Vec<u32>,
    /// Weight-precision axis in bits: levels = 2^B (1..=19).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "B,...",
        conflicts_with = "levels",
        allow_negative_numbers = true,
        help_heading = "Grid"
    )]
    pub bits: Vec<u32>,
    /// Read-noise axis: output-referred read noise std (`read.out_noise=σ`).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "σ,...",
        allow_hyphen_values = true,
        help_heading = "Grid"
    )]
    pub read_noise: Vec<f64>,
    /// Programming-noise axis: std relative to g_max (`device.prog_noise_std=σ`).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "σ,...",
        allow_hyphen_values = true,
        help_heading = "Grid"
    )]
    pub prog_noise: Vec<f64>,
    /// Rule axis (default: --rule).
    #[arg(long, value_delimiter = ',', value_name = "RULE,...", value_parser = parse_rule, conflicts_with = "rule", help_heading = "Grid")]
    pub rules: Vec<RuleSpec>,
    /// Learning-rate axis (default: --lr).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LR,...",
        conflicts_with = "lr",
        allow_hyphen_values = true,
        help_heading = "Grid"
    )]
    pub lrs: Vec<f32>,
    /// Seed axis (default: --seed). The data (subsets, synthetic tasks) always use --seed.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "SEED,...",
        allow_negative_numbers = true,
        help_heading = "Grid"
    )]
    pub seeds: Vec<u64>,
    /// Axis over any run key, e.g. `--vary decor_sample=1.0,0.1` (repeatable; one axis each).
    /// The values are checked as that key's flag would be, at every point.
    #[arg(long, value_name = "KEY=V1,V2,...", value_parser = parse_vary, allow_hyphen_values = true, help_heading = "Grid")]
    pub vary: Vec<(String, Vec<String>)>,
    /// Parallel runs (default: the number of cores); each run's products are single-threaded
    /// unless --threads says otherwise.
    #[arg(long, value_name = "N", help_heading = "Sweep")]
    pub jobs: Option<usize>,
    /// Run only slice K of N (0-based; points with index mod N = K), for cluster job arrays.
    #[arg(long, value_name = "K/N", help_heading = "Sweep")]
    pub shard: Option<Shard>,
    /// Write a Slurm job array instead of running (`--slurm N` and its options).
    #[command(flatten)]
    pub slurm: SlurmArgs,
    /// Everything a single run takes (`npchip train --help`).
    #[command(flatten)]
    pub train: TrainArgs,
}

fn parse_rule(s: &str) -> Result<RuleSpec, String> {
    s.parse()
}

/// `KEY=V1,V2,...` → (key with `_`, values). The key and the values are judged by the sweep.
fn parse_vary(s: &str) -> Result<(String, Vec<String>), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| {
        format!(
            "expected KEY=V1,V2,... (a run key such as decor_sample, and its values), got `{s}`"
        )
    })?;
    Ok((
        k.trim().replace('-', "_"),
        v.split(',').map(|x| x.trim().to_string()).collect(),
    ))
}

impl SweepArgs {
    /// The typed plan: the typed flags, with the `--config` file's values beneath them.
    pub fn plan(&self) -> Result<SweepPlan, SweepError> {
        let typed = SweepPlan {
            axes: AxisLists {
                chips: self.chips.clone(),
                levels: self.levels.clone(),
                bits: self.bits.clone(),
                read_noise: self.read_noise.clone(),
                prog_noise: self.prog_noise.clone(),
                rules: self.rules.clone(),
                lrs: self.lrs.clone(),
                seeds: self.seeds.clone(),
                vary: self.vary.clone(),
            },
            train: self.train.settings.clone(),
            jobs: self.jobs,
            shard: self.shard,
            slurm: self.slurm.plan(),
            origin: "command line".into(),
        };
        match &self.config {
            Some(path) => crate::sweep::file::merge_under(typed, path),
            None => Ok(typed),
        }
    }
}

/// Runs `npchip sweep`: the Slurm scripts, or the grid with Ctrl-C wired to its runs; an error
/// when any run did not complete (see `crate::sweep`).
pub(super) fn run(a: &SweepArgs) -> anyhow::Result<()> {
    let plan = a.plan()?;
    if plan.slurm.is_some() {
        let scripts = crate::sweep::slurm::write_scripts(&plan)?;
        eprintln!("{}", scripts.summary());
        return Ok(());
    }
    let cancel = crate::run::Cancel::new();
    super::cancel_on_ctrl_c(&cancel);
    let s = crate::sweep::execute_cancellable(&plan, &cancel)?;
    eprintln!("{}", s.line());
    match s.failure() {
        None => Ok(()),
        Some(e) => Err(e.into()),
    }
}
