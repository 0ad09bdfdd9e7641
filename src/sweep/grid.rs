//! The grid: axes → points → one validated [`RunSpec`] per point.
//!
//! Every point is a `npchip train` invocation: the shared [`TrainArgs`] with the point's chip,
//! rule, learning rate and seed, plus `--set` overrides for the precision and noise axes
//! (`device.levels`, `read.out_noise`, `device.prog_noise_std`). The whole grid is resolved
//! before anything runs, so a typo costs a message, not a cluster allocation: an axis that a
//! chip does not have (levels on the ideal chip) and every point that fails validation are
//! reported together.

use super::flags::{Shard, SweepFlags};
use crate::chip::model::DeviceSpec;
use crate::chip::presets;
use crate::learn::RuleSpec;
use crate::run::{RunDef, RunSpec, Settings};
use std::fmt::Write as _;

/// The axes, resolved: an empty precision/noise axis means "the chip's own value".
#[derive(Clone, Debug, PartialEq)]
pub struct Axes {
    /// Chip presets or files.
    pub chips: Vec<String>,
    /// Device levels (`device.levels`).
    pub levels: Vec<u32>,
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
}

impl Axes {
    /// The axes from the flags: plural flags, else the single train flag.
    pub fn from_flags(f: &SweepFlags, base: &RunDef) -> Result<Axes, String> {
        let or = |v: &Vec<String>, d: &String| {
            if v.is_empty() {
                vec![d.clone()]
            } else {
                v.clone()
            }
        };
        let levels = if f.bits.is_empty() {
            f.levels.clone()
        } else {
            f.bits
                .iter()
                .map(|&b| {
                    // 2^19 levels is the most any device allows (f32 conductances; see
                    // `chip::MIN_STEP_OF_GMAX`), and each point is checked against its chip.
                    if (1..=19).contains(&b) {
                        Ok(1u32 << b)
                    } else {
                        Err(format!("--bits {b}: expected 1..=19 bits (device levels beyond 2^19 are finer than f32 conductances resolve)"))
                    }
                })
                .collect::<Result<_, _>>()?
        };
        let axes = Axes {
            chips: or(&f.chips, &base.chip_text),
            levels,
            read_noise: f.read_noise.clone(),
            prog_noise: f.prog_noise.clone(),
            rules: if f.rules.is_empty() {
                vec![base.spec.rule]
            } else {
                f.rules.clone()
            },
            lrs: if f.lrs.is_empty() {
                vec![base.spec.lr]
            } else {
                f.lrs.clone()
            },
            seeds: if f.seeds.is_empty() {
                vec![base.spec.seed]
            } else {
                f.seeds.clone()
            },
        };
        axes.check_distinct()?;
        Ok(axes)
    }

    fn check_distinct(&self) -> Result<(), String> {
        fn dup<T: PartialEq + std::fmt::Display>(name: &str, v: &[T]) -> Result<(), String> {
            for (i, x) in v.iter().enumerate() {
                if v[..i].contains(x) {
                    return Err(format!("grid axis `{name}` lists {x} twice"));
                }
            }
            Ok(())
        }
        dup("chip", &self.chips)?;
        dup("levels", &self.levels)?;
        dup("read_noise", &self.read_noise)?;
        dup("prog_noise", &self.prog_noise)?;
        dup("rule", &self.rules)?;
        dup("lr", &self.lrs)?;
        dup("seed", &self.seeds)
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        let n = |k: usize| k.max(1);
        self.chips.len()
            * n(self.levels.len())
            * n(self.read_noise.len())
            * n(self.prog_noise.len())
            * self.rules.len()
            * self.lrs.len()
            * self.seeds.len()
    }

    /// True for an empty grid (never: every axis has at least one value).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every point, chip outermost and seed innermost, indexed 0.. in that order.
    pub fn points(&self) -> Vec<GridPoint> {
        fn opt<T: Copy>(v: &[T]) -> Vec<Option<T>> {
            if v.is_empty() {
                vec![None]
            } else {
                v.iter().copied().map(Some).collect()
            }
        }
        let mut out = Vec::with_capacity(self.len());
        for chip in &self.chips {
            for levels in opt(&self.levels) {
                for read_noise in opt(&self.read_noise) {
                    for prog_noise in opt(&self.prog_noise) {
                        for &rule in &self.rules {
                            for &lr in &self.lrs {
                                for &seed in &self.seeds {
                                    let index = out.len();
                                    out.push(GridPoint {
                                        index,
                                        chip: chip.clone(),
                                        levels,
                                        read_noise,
                                        prog_noise,
                                        rule,
                                        lr,
                                        seed,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The axes as TOML-like lines (`[grid]` of the canonical definition).
    pub fn describe(&self) -> String {
        fn list<T: std::fmt::Display>(v: &[T]) -> String {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
        let mut s = String::new();
        let _ = writeln!(s, "chip = [{}]", list(&self.chips));
        let _ = writeln!(s, "levels = [{}]", list(&self.levels));
        let _ = writeln!(s, "read_noise = [{}]", list(&self.read_noise));
        let _ = writeln!(s, "prog_noise = [{}]", list(&self.prog_noise));
        let _ = writeln!(s, "rule = [{}]", list(&self.rules));
        let _ = writeln!(s, "lr = [{}]", list(&self.lrs));
        let _ = writeln!(s, "seed = [{}]", list(&self.seeds));
        s
    }
}

/// One point of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct GridPoint {
    /// Position in the full grid (stable across shards).
    pub index: usize,
    /// Chip preset or file.
    pub chip: String,
    /// `device.levels`, if the axis is swept.
    pub levels: Option<u32>,
    /// `read.out_noise`, if swept.
    pub read_noise: Option<f64>,
    /// `device.prog_noise_std`, if swept.
    pub prog_noise: Option<f64>,
    /// Rule.
    pub rule: RuleSpec,
    /// Learning rate.
    pub lr: f32,
    /// Seed.
    pub seed: u64,
}

impl GridPoint {
    /// The `--set` overrides this point adds to the shared ones (after them, so they win).
    pub fn overrides(&self) -> Vec<String> {
        let mut o = Vec::new();
        if let Some(l) = self.levels {
            o.push(format!("device.levels={l}"));
        }
        if let Some(s) = self.read_noise {
            o.push(format!("read.out_noise={}", toml_float(s)));
        }
        if let Some(s) = self.prog_noise {
            o.push(format!("device.prog_noise_std={}", toml_float(s)));
        }
        o
    }

    /// The settings of this point: the shared ones with the point's chip, rule, learning rate
    /// and seed, and its overrides after the shared ones (so they win). Checked like any run's.
    pub fn settings(&self, base: &Settings) -> Settings {
        let mut s = base.clone();
        s.set("chip", &self.chip);
        for o in self.overrides() {
            s.set("set", &o);
        }
        s.set("rule", &self.rule.to_string());
        s.set("lr", &self.lr.to_string());
        s.set("seed", &self.seed.to_string());
        s
    }

    /// `chip=rram levels=16 rule=danp lr=0.001 seed=1` (swept precision/noise axes only).
    pub fn label(&self) -> String {
        let mut s = format!("chip={}", self.chip);
        if let Some(l) = self.levels {
            let _ = write!(s, " levels={l}");
        }
        if let Some(x) = self.read_noise {
            let _ = write!(s, " read_noise={}", short(x, x));
        }
        if let Some(x) = self.prog_noise {
            let _ = write!(s, " prog_noise={}", short(x, x));
        }
        let _ = write!(
            s,
            " rule={} lr={} seed={}",
            self.rule,
            short(self.lr, self.lr as f64),
            self.seed
        );
        s
    }

    /// The run's group name: `run` + the index, zero-padded to the grid's width.
    pub fn run_name(&self, total: usize) -> String {
        let width = total.saturating_sub(1).to_string().len().max(4);
        format!("run{:0width$}", self.index)
    }
}

/// `x` as written, or in exponent form when that is shorter to read (1e30, 1e-5).
fn short<T: std::fmt::Display + std::fmt::LowerExp>(x: T, magnitude: f64) -> String {
    if magnitude != 0.0 && !(1e-3..1e4).contains(&magnitude.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// A float as a TOML value (always with a decimal point or exponent, so it parses as a float).
fn toml_float(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains(['.', 'e', 'E']) || !x.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

/// A resolved, validated grid (or this shard's part of it).
#[derive(Clone, Debug)]
pub struct Grid {
    /// The axes.
    pub axes: Axes,
    /// Points of the full grid.
    pub total: usize,
    /// The points this invocation runs, with their specs, in index order.
    pub runs: Vec<(GridPoint, RunSpec)>,
    /// The canonical definition (axes + every shared setting): shards of one grid have equal
    /// definitions, and `merge` compares them.
    pub definition: String,
}

impl Grid {
    /// Resolves and validates the points of `shard` (all points without one).
    ///
    /// Fails, listing every problem, when an axis does not apply to a chip or a point does not
    /// validate; nothing has run then.
    pub fn build(flags: &SweepFlags, settings: &str) -> anyhow::Result<Grid> {
        let base = flags.train.def()?;
        let axes = Axes::from_flags(flags, &base).map_err(|e| anyhow::anyhow!(e))?;
        check_axes_apply(&axes, &base)?;
        let points = axes.points();
        let total = points.len();
        let mut problems = Vec::new();
        let mut runs = Vec::new();
        for p in points
            .into_iter()
            .filter(|p| flags.shard.is_none_or(|s: Shard| p.index % s.n == s.k))
        {
            match p.settings(&flags.train.settings).check() {
                Ok(def) => runs.push((p, def.spec)),
                Err(e) => problems.push(format!(
                    "point {} ({}): {}",
                    p.index,
                    p.label(),
                    e.to_string().replace('\n', "; ")
                )),
            }
        }
        if !problems.is_empty() {
            let n = problems.len();
            let shown: Vec<_> = problems.into_iter().take(10).collect();
            anyhow::bail!(
                "{n} grid point{} do{} not validate, so nothing ran:\n  {}{}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "es" } else { "" },
                shown.join("\n  "),
                if n > 10 {
                    format!("\n  ... and {} more", n - 10)
                } else {
                    String::new()
                }
            );
        }
        let definition = format!(
            "[grid]\n{}\n[train]\n{}",
            axes.describe(),
            shared_settings(settings)
        );
        Ok(Grid {
            axes,
            total,
            runs,
            definition,
        })
    }
}

/// The resolved settings without the lines the axes replace.
fn shared_settings(settings: &str) -> String {
    let axis_ids = [
        "chips",
        "levels",
        "bits",
        "read_noise",
        "prog_noise",
        "rules",
        "lrs",
        "seeds",
        "chip",
        "rule",
        "lr",
    ];
    settings
        .lines()
        .filter(|l| !axis_ids.contains(&l.split(" = ").next().unwrap_or("")))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// An axis that a chip of the grid does not have is an error, not a silently skipped override.
fn check_axes_apply(axes: &Axes, base: &RunDef) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for chip in &axes.chips {
        let model =
            presets::resolve(chip, &base.set).map_err(|e| anyhow::anyhow!("chip `{chip}`: {e}"))?;
        let spec = model.spec();
        let ideal = matches!(spec.device, DeviceSpec::Ideal);
        if ideal && !axes.levels.is_empty() {
            problems.push(format!("the levels/bits axis does not apply to chip `{chip}`: an ideal chip has float weights (no device.levels)"));
        }
        if ideal && !axes.prog_noise.is_empty() {
            problems.push(format!("the prog_noise axis does not apply to chip `{chip}`: an ideal chip is not programmed with pulses (no device.prog_noise_std)"));
        }
        if spec.read.is_none() && !axes.read_noise.is_empty() {
            problems.push(format!("the read_noise axis does not apply to chip `{chip}`: it has no [read] section (no read.out_noise)"));
        }
    }
    if !problems.is_empty() {
        anyhow::bail!(
            "{}; sweep that chip in a separate `npchip sweep` without those axes",
            problems.join("; ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::flags::{resolve, SweepArgs};

    fn grid(args: &[&str]) -> anyhow::Result<Grid> {
        let r = resolve(&SweepArgs::parse_from(args.iter().copied()).unwrap())?;
        Grid::build(&r.flags, &r.settings)
    }

    #[test]
    fn points_are_the_product_with_seed_innermost() {
        let g = grid(&[
            "--bits",
            "2,4",
            "--read-noise",
            "0,0.1",
            "--rules",
            "danp,anp",
            "--seeds",
            "1,2,3",
        ])
        .unwrap();
        assert_eq!(g.total, 2 * 2 * 2 * 3);
        assert_eq!(g.runs.len(), g.total);
        let (p0, s0) = &g.runs[0];
        assert_eq!((p0.levels, p0.read_noise, p0.seed), (Some(4), Some(0.0), 1));
        assert_eq!(g.runs[1].0.seed, 2);
        let levels = |s: &RunSpec| match &s.chip.spec().device {
            DeviceSpec::Conductance(c) => c.levels,
            DeviceSpec::Ideal => 0,
        };
        assert_eq!(levels(s0), 4);
        assert_eq!(s0.chip.spec().read.as_ref().unwrap().out_noise, 0.0);
        assert_eq!(levels(&g.runs[g.total - 1].1), 16);
        assert!(
            g.definition.contains("levels = [4, 16]"),
            "{}",
            g.definition
        );
    }

    #[test]
    fn shards_partition_the_grid() {
        let all = grid(&["--seeds", "1,2,3,4,5", "--lrs", "0.1,0.01"]).unwrap();
        let mut seen = Vec::new();
        for k in 0..3 {
            let g = grid(&[
                "--seeds",
                "1,2,3,4,5",
                "--lrs",
                "0.1,0.01",
                "--shard",
                &format!("{k}/3"),
            ])
            .unwrap();
            assert_eq!(g.total, all.total);
            assert_eq!(g.definition, all.definition);
            seen.extend(g.runs.iter().map(|(p, _)| p.index));
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..all.total).collect::<Vec<_>>());
    }

    #[test]
    fn an_axis_the_chip_lacks_is_an_error_before_anything_runs() {
        let e = grid(&["--chips", "ideal,rram", "--levels", "16"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("levels") && e.contains("ideal"), "{e}");
        let e = grid(&["--chip", "ideal", "--read-noise", "0.1"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("read_noise"), "{e}");
        assert!(grid(&["--chips", "ideal,rram", "--rules", "bp,danp"]).is_ok());
    }

    #[test]
    fn invalid_points_are_all_listed() {
        let e = grid(&["--levels", "1,16", "--rules", "danp,np"])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("3 grid points"), "{e}");
        assert!(e.contains("levels=1") && e.contains("rule=np"), "{e}");
        let e = grid(&["--bits", "0"]).unwrap_err().to_string();
        assert!(e.contains("1..=19"), "{e}");
        let e = grid(&["--seeds", "1,1"]).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn labels_are_short() {
        let p = GridPoint {
            index: 0,
            chip: "rram".into(),
            levels: Some(16),
            read_noise: Some(0.06),
            prog_noise: None,
            rule: "danp".parse().unwrap(),
            lr: 1e30,
            seed: 1,
        };
        assert_eq!(
            p.label(),
            "chip=rram levels=16 read_noise=0.06 rule=danp lr=1e30 seed=1"
        );
        assert_eq!(
            p.overrides(),
            vec![
                "device.levels=16".to_string(),
                "read.out_noise=0.06".to_string()
            ]
        );
    }

    #[test]
    fn run_names_sort_in_index_order() {
        let p = |index| GridPoint {
            index,
            chip: "rram".into(),
            levels: None,
            read_noise: None,
            prog_noise: None,
            rule: "danp".parse().unwrap(),
            lr: 0.1,
            seed: 1,
        };
        assert_eq!(p(7).run_name(12), "run0007");
        assert_eq!(p(7).run_name(123_456), "run000007");
        assert!(p(9).run_name(100_000) < p(10).run_name(100_000));
    }
}
