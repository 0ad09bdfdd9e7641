//! `npchip train`: flags → [`RunSpec`] → the training loop with a progress bar and an HDF5 file.

use super::numbers;
use crate::chip::{presets, DecorPrecision, DecorRule, InjectedNoise};
use crate::data::{load, DataSpec};
use crate::learn::{Loss, OptimizerKind, RuleSpec};
use crate::run::RunSpec;
use clap::Args;
use std::path::PathBuf;

/// Flags of `npchip train` (defaults: the embedded digits on the noisy `rram` chip with
/// noisy–noisy DANP, which learns to well above chance in well under a minute on 2 cores).
#[derive(Debug, Args, Clone)]
pub struct TrainArgs {
    /// Chip model: a preset (`npchip chip list`) or a TOML file.
    #[arg(long, default_value = "rram", help_heading = "Chip")]
    pub chip: String,
    /// Override a chip parameter, e.g. `--set device.levels=16` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", help_heading = "Chip")]
    pub set: Vec<String>,
    /// Injected noise: none, hidden:SIGMA (a generator no rule can read) or readable:SIGMA (NP, INP).
    #[arg(long, default_value = "none", value_parser = parse_inject, help_heading = "Chip")]
    pub inject: InjectedNoise,
    /// Learning rule: bp, dbp, np, dnp, inp, dinp, anp, danp, anp-nn, danp-nn (d = decorrelated, -nn = noisy–noisy).
    #[arg(long, default_value = "danp-nn", value_parser = parse_rule, help_heading = "Learning")]
    pub rule: RuleSpec,
    /// Noisy passes per sample (resampling K) for NP-type rules.
    #[arg(long, default_value_t = 1, value_parser = numbers::resamples, allow_negative_numbers = true, help_heading = "Learning")]
    pub resamples: usize,
    /// Hidden layer widths, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100",
        value_parser = numbers::width,
        allow_negative_numbers = true,
        help_heading = "Network"
    )]
    pub hidden: Vec<usize>,
    /// Network as layer kinds, replacing --hidden: e.g. conv32k3p1,pool2,conv64k3p1,pool2,fc1000,fc10
    /// (convCkK[pP][sS], maxpoolS/avgpoolS/poolS, fcN; the last is fcCLASSES).
    #[arg(long, value_parser = parse_arch, help_heading = "Network")]
    pub arch: Option<crate::chip::NetSpec>,
    /// Loss: ce (softmax cross-entropy) or mse (against one-hot targets).
    #[arg(long, default_value = "ce", value_parser = parse_loss, help_heading = "Learning")]
    pub loss: Loss,
    /// Optimiser: sgd or adam.
    #[arg(long, default_value = "adam", value_parser = parse_optimizer, help_heading = "Learning")]
    pub optimizer: OptimizerKind,
    /// Learning rate.
    #[arg(long, default_value_t = 3e-3, value_parser = numbers::float, allow_hyphen_values = true, help_heading = "Learning")]
    pub lr: f32,
    /// Decorrelation learning rate η_R.
    #[arg(long, default_value_t = 1e-3, value_parser = numbers::float, allow_hyphen_values = true, help_heading = "Learning")]
    pub decor_lr: f32,
    /// Decorrelation rule: plain, kappa[:K] or whiten.
    #[arg(long, default_value = "plain", value_parser = parse_decor_rule, help_heading = "Learning")]
    pub decor_rule: DecorRule,
    /// Decorrelator precision: f32, fixed:BITS:BOUND, or analog[:RANGE] (R in a crossbar tile of
    /// the chip's device model; RANGE = |R_ij| at full swing, default 2).
    #[arg(long, default_value = "f32", value_parser = parse_decor_precision, help_heading = "Learning")]
    pub decor_precision: DecorPrecision,
    /// Epochs.
    #[arg(long, default_value_t = 30, value_parser = numbers::epochs, allow_negative_numbers = true, help_heading = "Training")]
    pub epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 32, value_parser = numbers::batch, allow_negative_numbers = true, help_heading = "Training")]
    pub batch: usize,
    /// Run seed: fabrication, noise, initialisation and shuffling all derive from it.
    #[arg(long, default_value_t = 1, value_parser = numbers::seed, allow_negative_numbers = true, help_heading = "Training")]
    pub seed: u64,
    /// Dataset: digits (embedded), mnist:DIR, fashion:DIR, cifar10:DIR, cifar100:DIR, synthetic:...
    #[arg(long, default_value = "digits", help_heading = "Data")]
    pub data: String,
    /// Use a seeded random subset of N training samples.
    #[arg(long, value_name = "N", value_parser = numbers::samples, allow_negative_numbers = true, help_heading = "Data")]
    pub train_samples: Option<usize>,
    /// Use a seeded random subset of N test samples.
    #[arg(long, value_name = "N", value_parser = numbers::samples, allow_negative_numbers = true, help_heading = "Data")]
    pub test_samples: Option<usize>,
    /// Output HDF5 file (default: runs/<rule>-<chip>-s<seed>-<time>.h5).
    #[arg(long, short, help_heading = "Output")]
    pub out: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long, help_heading = "Output")]
    pub force: bool,
    /// Continue the run in FILE from its last finished epoch.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub resume: Option<PathBuf>,
    /// Oracle diagnostics per epoch: gradient alignment and input decorrelation.
    #[arg(long, help_heading = "Output")]
    pub diagnostics: bool,
    /// Also record loss and accuracy every N steps.
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = numbers::count, allow_negative_numbers = true, help_heading = "Output")]
    pub log_every: usize,
    /// Hardware traces: none, summary (histograms) or full (plus per-device pulse totals and snapshots).
    #[arg(long, default_value = "summary", help_heading = "Output")]
    pub trace: crate::output::TraceLevel,
    /// Threads for this run's matrix products (0: all cores).
    #[arg(long, default_value_t = 0, value_parser = numbers::count, allow_negative_numbers = true, help_heading = "Training")]
    pub threads: usize,
}

fn parse_arch(s: &str) -> Result<crate::chip::NetSpec, String> {
    s.parse()
        .map_err(|e: crate::chip::NetSpecError| e.to_string())
}

fn parse_rule(s: &str) -> Result<RuleSpec, String> {
    s.parse()
}

fn parse_loss(s: &str) -> Result<Loss, String> {
    match s {
        "ce" => Ok(Loss::CrossEntropy),
        "mse" => Ok(Loss::Mse),
        _ => Err(format!("unknown loss `{s}`; expected ce or mse")),
    }
}

fn parse_optimizer(s: &str) -> Result<OptimizerKind, String> {
    match s {
        "sgd" => Ok(OptimizerKind::Sgd),
        "adam" => Ok(OptimizerKind::Adam),
        _ => Err(format!("unknown optimizer `{s}`; expected sgd or adam")),
    }
}

fn positive(s: &str, what: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{what}: expected a number ≥ 0, got `{s}`")),
    }
}

/// Parses `none`, `hidden:SIGMA`, `readable:SIGMA`.
pub fn parse_inject(s: &str) -> Result<InjectedNoise, String> {
    match s.split_once(':') {
        None if s == "none" => Ok(InjectedNoise::None),
        Some(("hidden", v)) => Ok(InjectedNoise::Hidden {
            sigma: positive(v, "hidden noise sigma")?,
        }),
        Some(("readable", v)) => Ok(InjectedNoise::Readable {
            sigma: positive(v, "readable noise sigma")?,
        }),
        _ => Err(format!(
            "unknown noise source `{s}`; expected none, hidden:SIGMA or readable:SIGMA"
        )),
    }
}

fn parse_decor_rule(s: &str) -> Result<DecorRule, String> {
    match s.split_once(':') {
        None if s == "plain" => Ok(DecorRule::Plain),
        None if s == "whiten" => Ok(DecorRule::Whiten),
        None if s == "kappa" => Ok(DecorRule::Kappa { kappa: 1e-3 }),
        Some(("kappa", k)) => Ok(DecorRule::Kappa {
            kappa: positive(k, "kappa")?,
        }),
        _ => Err(format!(
            "unknown decorrelation rule `{s}`; expected plain, kappa[:K] or whiten"
        )),
    }
}

/// |R_ij| at the full differential swing of an analog decorrelator, unless given: R starts at I,
/// so its diagonal sits at half swing, leaving room for whitening to grow it.
const DEFAULT_ANALOG_DECOR_RANGE: f32 = 2.0;

fn parse_decor_precision(s: &str) -> Result<DecorPrecision, String> {
    if s == "f32" {
        return Ok(DecorPrecision::F32);
    }
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        ["fixed", bits, bound] => {
            let bits: u32 = bits
                .parse()
                .map_err(|_| format!("fixed-point bits: expected 2..=24, got `{bits}`"))?;
            if !(2..=24).contains(&bits) {
                return Err(format!("fixed-point bits: expected 2..=24, got {bits}"));
            }
            Ok(DecorPrecision::Fixed {
                bits,
                bound: positive(bound, "fixed-point bound")?,
            })
        }
        ["analog"] => Ok(DecorPrecision::Analog {
            range: DEFAULT_ANALOG_DECOR_RANGE,
        }),
        ["analog", range] => {
            let range = positive(range, "analog decorrelator range")?;
            if range <= 1.0 {
                return Err(format!(
                    "analog decorrelator range: R starts at I, so the range must exceed 1, got {range}"
                ));
            }
            Ok(DecorPrecision::Analog { range })
        }
        _ => Err(format!(
            "unknown precision `{s}`; expected f32, fixed:BITS:BOUND or analog[:RANGE]"
        )),
    }
}

impl TrainArgs {
    /// Resolves the chip and checks the combination.
    pub fn to_spec(&self) -> anyhow::Result<RunSpec> {
        let chip = presets::resolve(&self.chip, &self.set)?;
        let mut rule = self.rule;
        rule.resamples = self.resamples;
        let spec = RunSpec {
            chip,
            rule,
            hidden: self.hidden.clone(),
            arch: self.arch.clone(),
            loss: self.loss,
            optimizer: self.optimizer,
            lr: self.lr,
            decor_rule: self.decor_rule,
            decor_lr: self.decor_lr,
            decor_precision: self.decor_precision,
            inject: self.inject,
            leaky_slope: 0.2,
            epochs: self.epochs,
            batch: self.batch,
            seed: self.seed,
            diagnostics: self.diagnostics,
            log_every: self.log_every,
        };
        spec.check().map_err(|e| anyhow::anyhow!(e))?;
        Ok(spec)
    }

    /// Loads the dataset named by `--data` with the subset flags.
    pub fn dataset(&self) -> anyhow::Result<crate::data::Dataset> {
        let spec: DataSpec = self
            .data
            .parse()
            .map_err(|e| anyhow::anyhow!("--data {}: {e}", self.data))?;
        Ok(load(&spec, self.seed)?.subset(self.train_samples, self.test_samples, self.seed)?)
    }
}

/// The checks that need the dataset, made before the result file is created: `--out` can be
/// a file, the run fits in memory; then the warnings for settings under which nothing learns.
pub fn preflight_train(
    spec: &RunSpec,
    data: &crate::data::Dataset,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    super::preflight::check_out_path(out, "--out")?;
    spec.check_data(data).map_err(|e| anyhow::anyhow!(e))?;
    let sizes = spec.sizes(data);
    match (&spec.arch, spec.network(data)) {
        // A conv net's weights are its kernels, not products of node counts.
        (Some(_), Ok(net)) => crate::footprint::Footprint::of_network(spec, &net, data.train.len())
            .check(crate::footprint::Memory::of_machine())
            .map_err(|e| anyhow::anyhow!("--arch {}: the run {e}", spec.arch.as_ref().unwrap()))?,
        _ => super::preflight::check_memory(spec, &sizes, data.train.len())?,
    }
    for w in super::preflight::warnings(spec, &sizes) {
        tracing::warn!("{w}");
    }
    Ok(())
}

/// Runs `npchip train`.
pub(super) fn run(args: TrainArgs, quiet: bool) -> anyhow::Result<()> {
    crate::linalg::set_threads(args.threads);
    crate::output::train_to_file(&args, quiet)
}
