//! `npchip bench`'s flags: clap splits the line and parses each value with the one parser of
//! its type; the benchmark itself (`crate::lab::bench`) takes the typed [`BenchPlan`].

use crate::chip::{DecorBlocks, DecorLayers, InjectedNoise};
use crate::lab::bench::BenchPlan;
use crate::lab::bench_net::BenchNet;
use crate::learn::{OptimizerKind, RuleSpec};

/// Flags of `npchip bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Layer widths, input first (MNIST-shaped default; CIFAR-shaped: 3072,1024,1024,1024,10).
    #[arg(long, value_delimiter = ',', default_value = "784,1000,1000,1000,10")]
    pub sizes: Vec<usize>,
    /// Mini-batch size.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Chip model: a preset (`npchip chip list`) or a TOML file.
    #[arg(long, default_value = "ideal")]
    pub chip: String,
    /// Override a chip parameter, e.g. `--set device.levels=16` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Learning rule (as `train --rule`).
    #[arg(long, default_value = "danp-nn", value_parser = parse_rule)]
    pub rule: RuleSpec,
    /// Injected noise (as `train --inject`); NP and INP need readable:SIGMA.
    #[arg(long, default_value = "none", value_parser = parse_inject)]
    pub inject: InjectedNoise,
    /// Optimiser: sgd or adam.
    #[arg(long, default_value = "adam", value_parser = parse_optimizer)]
    pub optimizer: OptimizerKind,
    /// Training steps per timed measurement.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Timed measurements (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Untimed steps first (allocations, page faults, caches).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Threads per run (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Independent runs at once, one OS thread each (a sweep's workers).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Training samples of the synthetic dataset held in memory (MNIST has 60000, CIFAR 50000).
    #[arg(long, default_value_t = 60000)]
    pub samples: usize,
    /// First measure the best faer GEMM rate at the step's shapes and report the ratio.
    #[arg(long)]
    pub gemm: bool,
    /// Run seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Physical array sizes to compare in one run, e.g. `0,256` (unbounded against 256×256
    /// arrays: `array.rows = array.cols = N`). The configurations' measurements interleave, each
    /// paired with the same GEMM reference (with `--gemm`); the first is the baseline.
    #[arg(long, value_delimiter = ',')]
    pub arrays: Vec<u32>,
    /// Fraction of the batch each R update learns from (as `train --decor-sample`).
    #[arg(long, default_value_t = 1.0, value_parser = parse_fraction)]
    pub decor_sample: f32,
    /// Update R at every K-th step only (as `train --decor-every`), K ≥ 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub decor_every: u32,
    /// Decorrelator layout (as `train --decor-blocks`): full or array.
    #[arg(long, default_value = "full", value_parser = parse_blocks)]
    pub decor_blocks: DecorBlocks,
    /// Which layers have a decorrelator (as `train --decor-layers`): all, hidden or a list
    /// such as `1,2`.
    #[arg(long, default_value = "all", value_parser = parse_layers)]
    pub decor_layers: DecorLayers,
    /// A network of layer kinds instead of `--sizes`, as `train --arch`, optionally with the
    /// synthetic input's shape: `conv32k3p1,pool2,fc10[@3x32x32]` (default input 3x32x32).
    #[arg(long)]
    pub arch: Option<BenchNet>,
}

/// `--decor-sample`: a number in (0, 1].
fn parse_fraction(s: &str) -> Result<f32, String> {
    s.parse::<f32>()
        .ok()
        .filter(|f| *f > 0.0 && *f <= 1.0)
        .ok_or_else(|| "allowed a number in (0, 1]".into())
}

/// As `train --decor-blocks`: the one parser of [`DecorBlocks`].
fn parse_blocks(s: &str) -> Result<DecorBlocks, String> {
    s.parse().map_err(|allowed| format!("allowed {allowed}"))
}

/// As `train --decor-layers`: the one parser of [`DecorLayers`].
fn parse_layers(s: &str) -> Result<DecorLayers, String> {
    s.parse().map_err(|allowed| format!("allowed {allowed}"))
}

fn parse_rule(s: &str) -> Result<RuleSpec, String> {
    s.parse()
}

/// As `train --inject`: the one parser of [`InjectedNoise`] (`crate::run::choices`).
fn parse_inject(s: &str) -> Result<InjectedNoise, String> {
    s.parse().map_err(|allowed| format!("allowed {allowed}"))
}

/// As `train --optimizer`: the one parser of [`OptimizerKind`].
fn parse_optimizer(s: &str) -> Result<OptimizerKind, String> {
    s.parse().map_err(|allowed| format!("allowed {allowed}"))
}

impl BenchArgs {
    /// The plan these flags describe (every value was already parsed by its type's parser).
    pub fn plan(self) -> BenchPlan {
        BenchPlan {
            sizes: self.sizes,
            batch: self.batch,
            chip: self.chip,
            set: self.set,
            rule: self.rule,
            inject: self.inject,
            optimizer: self.optimizer,
            steps: self.steps,
            repeats: self.repeats,
            warmup: self.warmup,
            threads: self.threads,
            runs: self.runs,
            samples: self.samples,
            gemm: self.gemm,
            seed: self.seed,
            arrays: self.arrays,
            decor_sample: self.decor_sample,
            decor_every: self.decor_every,
            decor_blocks: self.decor_blocks,
            decor_layers: self.decor_layers,
            arch: self.arch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        b: BenchArgs,
    }

    #[test]
    fn bench_flags_parse_into_the_plan() {
        let t = T::try_parse_from([
            "x",
            "--sizes",
            "3072,1024,10",
            "--chip",
            "rram",
            "--gemm",
            "--threads",
            "1",
            "--optimizer",
            "sgd",
        ])
        .unwrap();
        let p = t.b.plan();
        assert_eq!(p.sizes, vec![3072, 1024, 10]);
        assert!(p.gemm);
        assert_eq!(p.threads, 1);
        assert_eq!(p.optimizer, OptimizerKind::Sgd);
        assert_eq!(p.chip, "rram");
        assert_eq!(
            (p.decor_every, p.decor_blocks, p.decor_layers),
            (1, DecorBlocks::Full, DecorLayers::All)
        );
        let p = T::try_parse_from([
            "x",
            "--decor-every",
            "4",
            "--decor-blocks",
            "array",
            "--decor-layers",
            "1,2",
        ])
        .unwrap()
        .b
        .plan();
        assert_eq!(p.decor_every, 4);
        assert_eq!(p.decor_blocks, DecorBlocks::Array);
        assert_eq!(p.decor_layers, "1,2".parse::<DecorLayers>().unwrap());
        for (flag, bad) in [
            ("--decor-every", "0"),
            ("--decor-blocks", "diagonal"),
            ("--decor-layers", "input"),
        ] {
            let e = T::try_parse_from(["x", flag, bad])
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(flag) && e.contains(bad), "{e}");
        }
        let e = T::try_parse_from(["x", "--optimizer", "rmsprop"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("--optimizer") && e.contains("rmsprop") && e.contains("adam"),
            "{e}"
        );
    }
}
