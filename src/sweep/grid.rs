//! The grid: axes → points → one validated [`RunSpec`] per point.
//!
//! Every point is a run's [`Settings`]: the shared ones with the point's chip, rule, learning
//! rate, seed and `vary` values, plus `set` overrides for the precision and noise axes
//! (`device.levels`, `read.out_noise`, `device.prog_noise_std`), checked by the one run check. The whole grid is resolved
//! before anything runs, so a typo costs a message, not a cluster allocation: an axis that a
//! chip does not have (levels on the ideal chip) and every point that fails validation are
//! reported together.

use super::error::SweepError;
use super::plan::{AxisLists, Shard, SweepPlan};
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
    /// Generic axes: (run key, values as text).
    pub vary: Vec<(String, Vec<String>)>,
}

impl Axes {
    /// The axes from the plan: the listed values, else the shared setting's.
    pub fn from_lists(f: &AxisLists, base: &RunDef) -> Result<Axes, String> {
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
            vary: f.vary.clone(),
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
            * self.vary.iter().map(|(_, v)| v.len()).product::<usize>()
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
        // Every combination of the vary axes, the first key outermost.
        let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for (k, values) in &self.vary {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push((k.clone(), v.clone()));
                        c
                    })
                })
                .collect();
        }
        let mut out = Vec::with_capacity(self.len());
        for chip in &self.chips {
            for levels in opt(&self.levels) {
                for read_noise in opt(&self.read_noise) {
                    for prog_noise in opt(&self.prog_noise) {
                        for &rule in &self.rules {
                            for &lr in &self.lrs {
                                for vary in &combos {
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
                                            vary: vary.clone(),
                                        });
                                    }
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
        for (k, v) in &self.vary {
            let _ = writeln!(s, "vary.{k} = [{}]", v.join(", "));
        }
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
    /// The values of the `vary` axes at this point: (run key, value as given).
    pub vary: Vec<(String, String)>,
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
        for (k, v) in &self.vary {
            s.set(k, v);
        }
        s
    }

    /// `chip=rram levels=16 rule=danp lr=0.001 decor_sample=0.1 seed=1` (swept precision, noise
    /// and vary axes only).
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
            " rule={} lr={}",
            self.rule,
            short(self.lr, self.lr as f64)
        );
        for (k, v) in &self.vary {
            let _ = write!(s, " {k}={v}");
        }
        let _ = write!(s, " seed={}", self.seed);
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
    pub fn build(plan: &SweepPlan) -> Result<Grid, SweepError> {
        plan.check_keys()?;
        let base = plan
            .train
            .check()
            .map_err(|violations| SweepError::Settings {
                origin: plan.origin.clone(),
                violations,
            })?;
        let axes = Axes::from_lists(&plan.axes, &base).map_err(SweepError::Grid)?;
        check_axes_apply(&axes, &base)?;
        let points = axes.points();
        let total = points.len();
        let mut problems = Vec::new();
        let mut runs = Vec::new();
        for p in points
            .into_iter()
            .filter(|p| plan.shard.is_none_or(|s: Shard| p.index % s.n == s.k))
        {
            match p.settings(&plan.train).check() {
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
            return Err(SweepError::Grid(format!(
                "{n} grid point{} do{} not validate, so nothing ran:\n  {}{}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "es" } else { "" },
                shown.join("\n  "),
                if n > 10 {
                    format!("\n  ... and {} more", n - 10)
                } else {
                    String::new()
                }
            )));
        }
        let definition = format!(
            "[grid]\n{}\n[train]\n{}",
            axes.describe(),
            plan.shared_settings()
        );
        Ok(Grid {
            axes,
            total,
            runs,
            definition,
        })
    }
}

/// An axis that a chip of the grid does not have is an error, not a silently skipped override.
fn check_axes_apply(axes: &Axes, base: &RunDef) -> Result<(), SweepError> {
    let mut problems = Vec::new();
    for chip in &axes.chips {
        let model = presets::resolve(chip, &base.set)
            .map_err(|e| SweepError::Grid(format!("chip `{chip}`: {e}")))?;
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
        return Err(SweepError::Grid(format!(
            "{}; sweep that chip in a separate `npchip sweep` without those axes",
            problems.join("; ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grid of a plan made by `edit` from the defaults.
    fn grid(edit: impl FnOnce(&mut SweepPlan)) -> Result<Grid, SweepError> {
        let mut plan = SweepPlan::default();
        edit(&mut plan);
        Grid::build(&plan)
    }

    fn rules(s: &str) -> Vec<RuleSpec> {
        s.split(',').map(|r| r.parse().unwrap()).collect()
    }

    #[test]
    fn points_are_the_product_with_seed_innermost() {
        let g = grid(|p| {
            p.axes.bits = vec![2, 4];
            p.axes.read_noise = vec![0.0, 0.1];
            p.axes.rules = rules("danp,anp");
            p.axes.seeds = vec![1, 2, 3];
        })
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
        let axes = |p: &mut SweepPlan| {
            p.axes.seeds = vec![1, 2, 3, 4, 5];
            p.axes.lrs = vec![0.1, 0.01];
        };
        let all = grid(axes).unwrap();
        let mut seen = Vec::new();
        for k in 0..3 {
            let g = grid(|p| {
                axes(p);
                p.shard = Some(Shard { k, n: 3 });
            })
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
        let chips = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        let e = grid(|p| {
            p.axes.chips = chips("ideal,rram");
            p.axes.levels = vec![16];
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("levels") && e.contains("ideal"), "{e}");
        let e = grid(|p| {
            p.train.set("chip", "ideal");
            p.axes.read_noise = vec![0.1];
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("read_noise"), "{e}");
        assert!(grid(|p| {
            p.axes.chips = chips("ideal,rram");
            p.axes.rules = rules("bp,danp");
        })
        .is_ok());
    }

    #[test]
    fn invalid_points_are_all_listed() {
        let e = grid(|p| {
            p.axes.levels = vec![1, 16];
            p.axes.rules = rules("danp,np");
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("3 grid points"), "{e}");
        assert!(e.contains("levels=1") && e.contains("rule=np"), "{e}");
        let e = grid(|p| p.axes.bits = vec![0]).unwrap_err().to_string();
        assert!(e.contains("1..=19"), "{e}");
        let e = grid(|p| p.axes.seeds = vec![1, 1]).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn vary_axes_multiply_the_grid_and_reach_each_point_checked() {
        let g = grid(|p| {
            p.axes.vary = vec![("decor_sample".into(), vec!["1.0".into(), "0.1".into()])];
            p.axes.seeds = vec![1, 2];
        })
        .unwrap();
        assert_eq!(g.total, 4);
        let samples: Vec<String> = g.runs.iter().map(|(p, _)| p.vary[0].1.clone()).collect();
        assert_eq!(samples, ["1.0", "1.0", "0.1", "0.1"]);
        assert!(g.runs[2].0.label().contains("decor_sample=0.1"));
        assert!(
            g.definition.contains("vary.decor_sample = [1.0, 0.1]"),
            "{}",
            g.definition
        );
        // A bad value is named with its key and what is allowed, at its point.
        let e = grid(|p| {
            p.axes.vary = vec![("decor_sample".into(), vec!["0.5".into(), "7".into()])];
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("point 1") && e.contains("decor-sample 7"), "{e}");
        // An unknown key names the allowed ones; a named axis points to its flag.
        let e = grid(|p| p.axes.vary = vec![("decor_smaple".into(), vec!["1".into()])])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("decor_smaple") && e.contains("decor_sample"),
            "{e}"
        );
        let e = grid(|p| p.axes.vary = vec![("lr".into(), vec!["1".into()])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--lrs"), "{e}");
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
            vary: Vec::new(),
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
            vary: Vec::new(),
        };
        assert_eq!(p(7).run_name(12), "run0007");
        assert_eq!(p(7).run_name(123_456), "run000007");
        assert!(p(9).run_name(100_000) < p(10).run_name(100_000));
    }
}
