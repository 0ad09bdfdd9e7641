//! What a sweep is asked to do, as plain typed values: the axes, the shared run settings (raw,
//! checked once per point by [`crate::run::Settings::check`]), and per-invocation choices (shard,
//! parallel runs, Slurm). The CLI fills one from its flags ([`crate::sweep::file`] adds a sweep
//! TOML under them); the library never sees argv.

use super::error::SweepError;
use crate::learn::RuleSpec;
use crate::run::{find_key, Settings, Shape, KEYS};
use std::path::PathBuf;
use std::str::FromStr;

/// The axes as given; an empty list means "not swept" (the shared setting's value).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AxisLists {
    /// Chip presets or TOML files.
    pub chips: Vec<String>,
    /// Device levels (`device.levels`).
    pub levels: Vec<u32>,
    /// Weight precision in bits (levels = 2^B); one axis with `levels`.
    pub bits: Vec<u32>,
    /// Read noise (`read.out_noise`).
    pub read_noise: Vec<f64>,
    /// Programming noise (`device.prog_noise_std`).
    pub prog_noise: Vec<f64>,
    /// Rules.
    pub rules: Vec<RuleSpec>,
    /// Learning rates.
    pub lrs: Vec<f32>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Generic axes: any run key and its values as text (`decor_sample` → `1.0`, `0.1`), in the
    /// order given; checked like a typed value of that key at every point.
    pub vary: Vec<(String, Vec<String>)>,
}

/// `--shard K/N`: this invocation runs the grid points whose index mod N is K.
///
/// Round-robin rather than contiguous slices: the axes vary cost (a bp run is cheaper than a
/// danp run, a finer chip is not), and round-robin spreads every axis over all shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This slice, 0-based.
    pub k: usize,
    /// Number of slices.
    pub n: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("expected K/N with 0 ≤ K < N (e.g. 3/8, as in --shard $SLURM_ARRAY_TASK_ID/8), got `{s}`")
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || k >= n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// How to write the Slurm job array (`--slurm N` and its options).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlurmPlan {
    /// Shard tasks.
    pub n: usize,
    /// Script directory (default: `<out stem>-slurm/` beside the output).
    pub dir: Option<PathBuf>,
    /// `sbatch --partition`.
    pub partition: Option<String>,
    /// Time limit per task.
    pub time: Option<super::slurm::SlurmTime>,
    /// CPUs per task.
    pub cpus: Option<usize>,
    /// `sbatch --mem`.
    pub mem: Option<String>,
}

/// A whole sweep request.
#[derive(Clone, Debug, Default)]
pub struct SweepPlan {
    /// The axes.
    pub axes: AxisLists,
    /// Every run's shared settings (the per-point axes go on top).
    pub train: Settings,
    /// Parallel runs (default: the number of cores).
    pub jobs: Option<usize>,
    /// Only this slice of the grid.
    pub shard: Option<Shard>,
    /// Write Slurm scripts instead of running.
    pub slurm: Option<SlurmPlan>,
    /// Where the file's values came from, for messages: `command line` or `command line + FILE`.
    pub origin: String,
}

/// Run keys that belong to one invocation, not to the grid: not part of its definition, not in
/// a sweep TOML, not a `vary` axis.
pub const PER_INVOCATION_KEYS: [&str; 2] = ["out", "force"];
/// Run keys a sweep cannot take at all.
pub const NOT_IN_SWEEP: [&str; 1] = ["resume"];
/// Run keys with a named axis of their own (`vary` refers to it).
pub const NAMED_AXIS_KEYS: [(&str, &str); 4] = [
    ("chip", "chips"),
    ("rule", "rules"),
    ("lr", "lrs"),
    ("seed", "seeds"),
];

/// The run keys a sweep TOML's `[train]` and a `vary` axis accept.
pub fn grid_keys() -> Vec<&'static str> {
    KEYS.iter()
        .map(|k| k.name)
        .filter(|k| !PER_INVOCATION_KEYS.contains(k) && !NOT_IN_SWEEP.contains(k))
        .collect()
}

impl SweepPlan {
    /// Refuses what a sweep cannot take, before anything is built: `resume`, and `vary` axes
    /// on unknown keys, on keys with a named axis, or with no or repeated values.
    pub fn check_keys(&self) -> Result<(), SweepError> {
        if self.train.given("resume").is_some() {
            return Err(SweepError::NotInSweep {
                key: "--resume".into(),
                why: "a sweep starts its runs afresh; resume a single run with `npchip train --resume`".into(),
            });
        }
        let mut seen: Vec<&str> = Vec::new();
        for (key, values) in &self.axes.vary {
            let err = |message: String| SweepError::Vary {
                key: key.clone(),
                message,
            };
            let Some(k) = find_key(key) else {
                return Err(err(format!(
                    "not a run key; allowed: {}",
                    vary_keys().join(", ")
                )));
            };
            if let Some((_, axis)) = NAMED_AXIS_KEYS.iter().find(|(n, _)| *n == k.name) {
                return Err(err(format!(
                    "has its own axis: use --{axis} (or `{}` in [grid])",
                    k.name
                )));
            }
            if !vary_keys().contains(&k.name) {
                return Err(err(format!(
                    "is per invocation, not a grid axis; allowed: {}",
                    vary_keys().join(", ")
                )));
            }
            if seen.contains(&k.name) {
                return Err(err(
                    "is varied twice; list all its values in one axis".into()
                ));
            }
            seen.push(k.name);
            if values.is_empty() || values.iter().any(|v| v.trim().is_empty()) {
                return Err(err(format!(
                    "expected {}=V1,V2,... with at least one non-empty value, got `{}`",
                    k.name,
                    values.join(",")
                )));
            }
            for (i, v) in values.iter().enumerate() {
                if values[..i].contains(v) {
                    return Err(err(format!("lists `{v}` twice")));
                }
            }
        }
        Ok(())
    }

    /// The flags that define this plan's runs (the axes and every given shared setting, the
    /// per-invocation ones left out): `npchip sweep` with these defines the same grid, which is
    /// how a generated Slurm script carries it.
    pub fn grid_args(&self) -> Vec<String> {
        let a = &self.axes;
        let mut out = Vec::new();
        let mut list = |flag: &str, v: Vec<String>| {
            if !v.is_empty() {
                out.push(format!("--{flag}"));
                out.push(v.join(","));
            }
        };
        fn text<T: ToString>(v: &[T]) -> Vec<String> {
            v.iter().map(T::to_string).collect()
        }
        list("chips", a.chips.clone());
        list("levels", text(&a.levels));
        list("bits", text(&a.bits));
        list("read-noise", text(&a.read_noise));
        list("prog-noise", text(&a.prog_noise));
        list("rules", text(&a.rules));
        list("lrs", text(&a.lrs));
        list("seeds", text(&a.seeds));
        for (k, v) in &a.vary {
            out.push("--vary".into());
            out.push(format!("{k}={}", v.join(",")));
        }
        for (k, v) in self.train.pairs() {
            if PER_INVOCATION_KEYS.contains(&k) {
                continue;
            }
            let key = find_key(k).expect("pairs hold known keys");
            match key.shape {
                Shape::Switch if v == "true" => out.push(format!("--{}", key.flag())),
                Shape::Switch => {}
                _ => {
                    out.push(format!("--{}", key.flag()));
                    out.push(v.to_string());
                }
            }
        }
        out
    }

    /// Every shared setting that defines the runs (defaults included) as `key = value` lines,
    /// sorted, without the keys the grid's axes replace: equal for two invocations exactly when
    /// they define the same runs.
    pub fn shared_settings(&self) -> String {
        let varied = |k: &str| {
            self.axes
                .vary
                .iter()
                .any(|(v, _)| find_key(v).is_some_and(|x| x.name == k))
        };
        let mut lines: Vec<String> = Vec::new();
        for k in KEYS {
            let skip = PER_INVOCATION_KEYS.contains(&k.name)
                || NOT_IN_SWEEP.contains(&k.name)
                || ["chip", "rule", "lr"].contains(&k.name)
                || varied(k.name);
            if skip {
                continue;
            }
            let value = match k.shape {
                Shape::Repeated => self.train.given_all(k.name).join(","),
                _ => match self.train.text(k.name) {
                    Some(v) => v.to_string(),
                    None => continue,
                },
            };
            lines.push(format!("{} = {value}\n", k.name));
        }
        lines.sort();
        lines.concat()
    }
}

/// The keys a `vary` axis accepts.
pub fn vary_keys() -> Vec<&'static str> {
    grid_keys()
        .into_iter()
        .filter(|k| !NAMED_AXIS_KEYS.iter().any(|(n, _)| n == k))
        .collect()
}
