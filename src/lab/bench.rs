//! `npchip bench`: how fast a training step runs, against how fast this machine multiplies
//! matrices.
//!
//! In order: (1) with `--gemm`, the machine's matrix-multiply rate is measured with faer at the
//! very shapes the step multiplies (same process, same thread setting), and the best rate
//! among them is the reference; (2) a chip and its controller are built exactly as `train`
//! builds them, on a synthetic dataset of the requested size; (3) after warm-up steps,
//! `--repeats` measurements of `--steps` training steps each (batch gather included, as in the
//! training loop) are timed; the median gives samples/s and the algorithm's GFLOP/s, where the
//! FLOPs are those of [`crate::learn::cost::step_flops`] (with `--decor-sample`'s thinned R
//! update; the products the algorithm needs, nothing else); (4) the
//! peak resident memory is compared with the bytes the run must hold ([`MemoryBudget`]).
//!
//! `--runs N` runs N independent copies at once, one OS thread each (what a sweep does), and
//! reports their summed throughput.

use super::bench_net::{step_products, step_shapes, BenchNet};
use crate::chip::conv::Network;
use crate::chip::{
    presets, Activation, Chip, ChipConfig, ChipModel, DecorBlocks, DecorConfig, DecorLayers,
    DecorThinning, InjectedNoise,
};
use crate::data::Split;
use crate::learn::cost::{step_cost, DecorWork, StepCost};
use crate::learn::{Learner, Loss, OptimizerKind, RuleSpec};
use crate::linalg::{gemm, gemm_flops, Op};
use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::{Rng as _, SeedableRng};
use std::io::Write;
use std::time::Instant;

/// What `npchip bench` measures, as the CLI built it (its flags: `cli::bench_cmd`).
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// Layer widths, input first.
    pub sizes: Vec<usize>,
    /// Mini-batch size.
    pub batch: usize,
    /// Chip model: a preset name or a TOML file.
    pub chip: String,
    /// Chip parameter overrides, `KEY=VALUE`.
    pub set: Vec<String>,
    /// Learning rule.
    pub rule: RuleSpec,
    /// Injected noise.
    pub inject: InjectedNoise,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Training steps per timed measurement.
    pub steps: usize,
    /// Timed measurements (the median is reported).
    pub repeats: usize,
    /// Untimed steps first (allocations, page faults, caches).
    pub warmup: usize,
    /// Threads per run (0: all cores).
    pub threads: usize,
    /// Independent runs at once, one OS thread each.
    pub runs: usize,
    /// Training samples of the synthetic dataset held in memory.
    pub samples: usize,
    /// First measure the best faer GEMM rate at the step's shapes and report the ratio.
    pub gemm: bool,
    /// Run seed.
    pub seed: u64,
    /// Physical array sizes to compare in one run (0: unbounded); the first is the baseline.
    pub arrays: Vec<u32>,
    /// Fraction of the batch each R update learns from (as `train --decor-sample`), in (0, 1].
    pub decor_sample: f32,
    /// Update R at every K-th step only (as `train --decor-every`), K ≥ 1.
    pub decor_every: u32,
    /// Full R or one block per physical array's input slice (as `train --decor-blocks`).
    pub decor_blocks: DecorBlocks,
    /// Which layers have a decorrelator (as `train --decor-layers`).
    pub decor_layers: DecorLayers,
    /// A network of layer kinds instead of `sizes` (conv layers allowed), with the synthetic
    /// input's shape.
    pub arch: Option<BenchNet>,
}

impl BenchPlan {
    /// The network the bench builds: `arch` (conv layers allowed) or the dense `sizes`.
    pub fn network(&self) -> Result<Network, BenchError> {
        match &self.arch {
            Some(a) => a.network().map_err(BenchError::Plan),
            None if self.sizes.len() < 2 || self.sizes.contains(&0) => Err(BenchError::Plan(
                "--sizes needs at least two widths, all ≥ 1".into(),
            )),
            None => Ok(Network::dense(&self.sizes)),
        }
    }

    /// The decorrelators' settings of the bench's flags (rule, η_R and precision at the run
    /// keys' defaults: they do not change the step's work).
    pub fn decor_config(&self) -> DecorConfig {
        DecorConfig {
            thin: DecorThinning {
                sample: self.decor_sample,
                every: self.decor_every,
            },
            blocks: self.decor_blocks,
            layers: self.decor_layers,
            ..DecorConfig::default()
        }
    }

    /// The decorrelators' work-relevant settings, with the array rows blocks split by.
    pub fn decor_work(&self, model: &ChipModel) -> DecorWork {
        DecorWork::of(&self.decor_config(), model)
    }

    /// Refuses decorrelator flags the network cannot take: a listed layer beyond the last, and
    /// array blocks with `--arrays` (blocks follow the array size, so the compared
    /// configurations would do different work).
    fn check_decor(&self, net: &Network) -> Result<(), BenchError> {
        let depth = net.layers().len();
        if let Some(&bad) = self.decor_layers.indices().iter().find(|&&i| i >= depth) {
            return Err(BenchError::Plan(format!(
                "--decor-layers {}: layer {bad} does not exist; allowed layer indices in 0..={} (the network has {depth} layers)",
                self.decor_layers,
                depth - 1
            )));
        }
        if self.decor_blocks == DecorBlocks::Array && !self.arrays.is_empty() {
            return Err(BenchError::Plan(
                "--decor-blocks array with --arrays: the blocks follow the array size, so the configurations would do different work; bench one size at a time (--set array.rows=N)".into(),
            ));
        }
        Ok(())
    }
}

/// The R updates' share of a step's counted FLOPs: what the timed share
/// ([`StepTiming::decorrelate_share`]) would be if every FLOP took the same time.
pub fn counted_update_share(cost: &StepCost) -> f64 {
    if cost.total > 0.0 {
        cost.decor_update_total() / cost.total
    } else {
        0.0
    }
}

/// Why a benchmark could not run: the plan is refused (naming the flag and what is allowed),
/// the chip model does not load, a step fails, or the output cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A flag value the benchmark cannot use.
    #[error("{0}")]
    Plan(String),
    /// The chip model of `--chip`.
    #[error("--chip {chip}: {source}")]
    Chip {
        /// As given.
        chip: String,
        /// Why it does not load.
        source: crate::chip::ModelError,
    },
    /// A training step.
    #[error(transparent)]
    Step(#[from] crate::learn::RuleError),
    /// Writing the results.
    #[error("writing the results: {0}")]
    Io(#[from] std::io::Error),
}

/// The bytes a run must hold, by kind (what the peak-memory target is measured against).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MemoryBudget {
    /// Weights and biases as f32.
    pub weights: f64,
    /// Decorrelation matrices as f32.
    pub decorrelators: f64,
    /// Optimiser state (Adam: two moments per parameter).
    pub optimizer: f64,
    /// One batch of activations: per layer its input and its pre-activation, f32.
    pub activations: f64,
    /// The dataset held in memory (features as f32, labels as u8).
    pub dataset: f64,
}

impl MemoryBudget {
    /// The budget for a network of `sizes`, batch `batch`, and a dataset of `samples`.
    pub fn of(
        sizes: &[usize],
        batch: usize,
        decorrelated: bool,
        adam: bool,
        samples: usize,
    ) -> Self {
        Self::of_network(&Network::dense(sizes), batch, decorrelated, adam, samples)
    }

    /// The sum.
    pub fn total(&self) -> f64 {
        self.weights + self.decorrelators + self.optimizer + self.activations + self.dataset
    }
}

/// Peak resident set size of this process, bytes (Linux `VmHWM`; None elsewhere).
pub fn peak_rss_bytes() -> Option<f64> {
    proc_status_bytes("VmHWM:")
}

/// Current resident set size of this process, bytes (Linux `VmRSS`; None elsewhere).
pub fn rss_bytes() -> Option<f64> {
    proc_status_bytes("VmRSS:")
}

fn proc_status_bytes(key: &str) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// One product shape of a step: `op(A) · op(B)` with `op(A)` m×k and `op(B)` k×n.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GemmShape {
    /// Rows of the product.
    pub m: usize,
    /// Inner dimension.
    pub k: usize,
    /// Columns of the product.
    pub n: usize,
    /// Whether A is used transposed (stored k×m).
    pub ta: bool,
    /// Whether B is used transposed (stored n×k).
    pub tb: bool,
}

/// One measured GEMM shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmRate {
    /// The shape.
    pub shape: GemmShape,
    /// Median rate, GFLOP/s.
    pub gflops: f64,
}

/// Measures faer's rate (through [`crate::linalg::gemm`], this thread's setting) at `shapes`.
pub fn measure_gemm(shapes: &[GemmShape], repeats: usize) -> Vec<GemmRate> {
    let mut rng = crate::rng::Rng::seed_from_u64(7);
    let op = |t: bool| if t { Op::T } else { Op::N };
    shapes
        .iter()
        .map(|&sh| {
            let GemmShape { m, k, n, ta, tb } = sh;
            let (ar, ac) = if ta { (k, m) } else { (m, k) };
            let (br, bc) = if tb { (n, k) } else { (k, n) };
            let a = DMatrix::from_fn(ar, ac, |_, _| rng.gen::<f32>() - 0.5);
            let b = DMatrix::from_fn(br, bc, |_, _| rng.gen::<f32>() - 0.5);
            let mut c = DMatrix::zeros(m, n);
            let flops = gemm_flops(m, k, n);
            // Enough products per sample to take ≥ ~50 ms.
            let reps = ((1e10 / flops).ceil() as usize).clamp(1, 1000);
            gemm(&mut c, 0.0, 1.0, &a, op(ta), &b, op(tb));
            let mut rates: Vec<f64> = (0..repeats.max(3))
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..reps {
                        gemm(&mut c, 0.0, 1.0, &a, op(ta), &b, op(tb));
                    }
                    flops * reps as f64 / t.elapsed().as_secs_f64() / 1e9
                })
                .collect();
            GemmRate {
                shape: sh,
                gflops: median(&mut rates),
            }
        })
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// What one run of the benchmark measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepTiming {
    /// Median seconds per training step.
    pub step_s: f64,
    /// Fastest and slowest measurement, s per step.
    pub min_s: f64,
    /// See `min_s`.
    pub max_s: f64,
    /// Per measurement: s per step, and the reference GEMM rate measured just before it
    /// (GFLOP/s; empty without a reference), so that a ratio survives a machine whose load
    /// changes while the benchmark runs.
    pub pairs: Vec<(f64, f64)>,
    /// Resident set size after building the run (chip, controller, dataset) and after the
    /// last step, bytes (Linux only).
    pub rss: (Option<f64>, Option<f64>),
    /// Share of the timed steps' wall time spent updating R (the decorrelators' learning).
    pub decorrelate_share: f64,
}

/// A chip, its controller and a synthetic dataset, as `train` would build them: what the
/// benchmarks (here and in `benches/`) time, one [`StepRunner::step`] at a time.
pub struct StepRunner {
    chip: Chip,
    learner: Learner,
    split: Split,
    order: Vec<usize>,
    classes: usize,
    batch: usize,
    x: DMatrix<f32>,
    t: DMatrix<f32>,
    steps: usize,
}

impl StepRunner {
    /// Builds the chip and controller of `a` (run seed `seed`) and its synthetic dataset.
    pub fn new(a: &BenchPlan, seed: u64) -> Result<StepRunner, BenchError> {
        let model = presets::resolve(&a.chip, &a.set).map_err(|source| BenchError::Chip {
            chip: a.chip.clone(),
            source,
        })?;
        let net = a.network()?;
        let classes = net
            .layers()
            .last()
            .expect("a network has layers")
            .weight_shape()
            .0;
        let features = net.sizes()[0];
        let config = ChipConfig {
            sizes: net.sizes(),
            activation: Activation::LeakyRelu { slope: 0.2 },
            decorrelation: a.rule.decorrelated.then(|| a.decor_config()),
            injected: a.inject,
            seed,
        };
        let mut chip = Chip::build_net(&model, config, net);
        let learner = Learner::new(&chip.port(), a.rule, Loss::CrossEntropy, a.optimizer, 1e-4);
        // Synthetic training set: pixels uniform in [0, 1], random labels (speed does not
        // depend on what is learned).
        let mut rng = crate::rng::Rng::seed_from_u64(seed ^ 0xbe4c);
        let samples = a.samples.max(a.batch);
        let mut pixels = vec![0.0f32; features * samples];
        pixels.iter_mut().for_each(|v| *v = rng.gen());
        let labels = (0..samples)
            .map(|_| rng.gen_range(0..classes.min(256)) as u8)
            .collect();
        let split = Split {
            x: DMatrix::from_vec(features, samples, pixels),
            labels,
        };
        let mut order: Vec<usize> = (0..samples).collect();
        order.shuffle(&mut rng);
        Ok(StepRunner {
            chip,
            learner,
            split,
            order,
            classes,
            batch: a.batch,
            x: DMatrix::zeros(0, 0),
            t: DMatrix::zeros(0, 0),
            steps: 0,
        })
    }

    /// One training step on the next batch (gathered as the training loop does).
    pub fn step(&mut self) -> Result<(), BenchError> {
        let per_epoch = self.order.len() / self.batch;
        let k = self.steps % per_epoch;
        let idx = &self.order[k * self.batch..(k + 1) * self.batch];
        self.split.gather(idx, &mut self.x);
        self.split.one_hot(idx, self.classes, &mut self.t);
        crate::train::train_step(&mut self.chip, &mut self.learner, &self.x, &self.t)?;
        self.steps += 1;
        Ok(())
    }
}

/// Builds the chip, controller and dataset of one benchmark run and times its steps; with a
/// `reference` shape, re-measures the GEMM rate there before each measurement.
pub fn time_steps(
    a: &BenchPlan,
    seed: u64,
    reference: Option<GemmShape>,
) -> Result<StepTiming, BenchError> {
    crate::linalg::set_threads(a.threads);
    let mut setup = StepRunner::new(a, seed)?;
    let rss_built = rss_bytes();
    for _ in 0..a.warmup {
        setup.step()?;
    }
    let mut per_step: Vec<f64> = Vec::with_capacity(a.repeats);
    let mut pairs = Vec::new();
    setup.learner.times = Default::default();
    let mut timed = 0.0;
    for _ in 0..a.repeats.max(1) {
        let rate = reference.map(|r| measure_gemm(&[r], 3)[0].gflops);
        let t0 = Instant::now();
        for _ in 0..a.steps.max(1) {
            setup.step()?;
        }
        timed += t0.elapsed().as_secs_f64();
        let s = t0.elapsed().as_secs_f64() / a.steps.max(1) as f64;
        per_step.push(s);
        if let Some(r) = rate {
            pairs.push((s, r));
        }
    }
    let (min_s, max_s) = per_step
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    Ok(StepTiming {
        step_s: median(&mut per_step),
        min_s,
        max_s,
        pairs,
        rss: (rss_built, rss_bytes()),
        decorrelate_share: setup.learner.times.decorrelate.as_secs_f64() / timed,
    })
}

/// `--arrays`: one chip per array size, measured in turn within every repeat so that load on
/// the machine hits all alike; prints per size the step time, samples/s, the ratio to the
/// first size (median of per-repeat ratios) and to the in-run GEMM rate.
fn run_arrays(
    a: &BenchPlan,
    reference: Option<GemmShape>,
    flops: f64,
    out: &mut dyn Write,
) -> Result<(), BenchError> {
    crate::linalg::set_threads(a.threads);
    let mut runners = Vec::new();
    for &n in &a.arrays {
        let mut cfg = a.clone();
        cfg.set
            .extend([format!("array.rows={n}"), format!("array.cols={n}")]);
        let mut r = StepRunner::new(&cfg, a.seed)?;
        for _ in 0..a.warmup {
            r.step()?;
        }
        runners.push(r);
    }
    let k = runners.len();
    let mut secs = vec![Vec::new(); k];
    let mut gemm_ratio = vec![Vec::new(); k];
    let mut to_first = vec![Vec::new(); k];
    for _ in 0..a.repeats.max(1) {
        let rate = reference.map(|r| measure_gemm(&[r], 3)[0].gflops);
        let mut this = vec![0.0; k];
        for (i, r) in runners.iter_mut().enumerate() {
            let t0 = Instant::now();
            for _ in 0..a.steps.max(1) {
                r.step()?;
            }
            this[i] = t0.elapsed().as_secs_f64() / a.steps.max(1) as f64;
            secs[i].push(this[i]);
            if let Some(g) = rate {
                gemm_ratio[i].push(flops / this[i] / 1e9 / g);
            }
        }
        for i in 0..k {
            to_first[i].push(this[i] / this[0]);
        }
    }
    for (i, &n) in a.arrays.iter().enumerate() {
        let step = median(&mut secs[i]);
        let label = if n == 0 {
            "unbounded".to_string()
        } else {
            format!("{n}×{n}")
        };
        let gemm = if gemm_ratio[i].is_empty() {
            String::new()
        } else {
            format!(
                ", {:.1} % of the in-run GEMM rate",
                100.0 * median(&mut gemm_ratio[i])
            )
        };
        writeln!(
            out,
            "arrays {label:>9}: {step:.4} s/step, {:.0} samples/s, step time {:.3}× the first (median of {} paired repeats){gemm}",
            a.batch as f64 / step,
            median(&mut to_first[i]),
            a.repeats.max(1)
        )?;
    }
    Ok(())
}

/// Runs the benchmark; the results go to `out` (the CLI passes stdout).
pub fn run(mut a: BenchPlan, out: &mut dyn Write) -> Result<(), BenchError> {
    let net = a.network()?;
    if a.batch == 0 || a.runs == 0 {
        return Err(BenchError::Plan("--batch and --runs must be ≥ 1".into()));
    }
    a.check_decor(&net)?;
    // R is updated at one step in K: a timed measurement spans whole periods, or its share
    // of R updates (and its time) would depend on where the period falls.
    let every = a.decor_every.max(1) as usize;
    if a.rule.decorrelated && !a.steps.is_multiple_of(every) {
        let steps = a.steps.div_ceil(every) * every;
        writeln!(
            out,
            "--steps {} rounded up to {steps}: a measurement spans whole --decor-every {every} periods",
            a.steps
        )?;
        a.steps = steps;
    }
    let model = presets::resolve(&a.chip, &a.set).map_err(|source| BenchError::Chip {
        chip: a.chip.clone(),
        source,
    })?;
    let decor = a.decor_work(&model);
    crate::linalg::set_threads(a.threads);
    let threads = crate::linalg::threads();
    let cost = step_cost(&a.rule, &net, a.batch, &decor);
    let flops = cost.total;
    let sizes_s = match &a.arch {
        Some(arch) => format!("arch {arch}"),
        None => format!(
            "sizes {}",
            a.sizes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("-")
        ),
    };
    writeln!(
        out,
        "npchip bench: {} on `{}`, {sizes_s}, batch {}, {} thread(s) per run, {} run(s)",
        a.rule, a.chip, a.batch, threads, a.runs
    )?;
    writeln!(
        out,
        "algorithm FLOPs: {:.3} GFLOP per step, {:.2} MFLOP per sample",
        flops / 1e9,
        flops / a.batch as f64 / 1e6
    )?;
    let mut products_s = None;
    let best = if a.gemm {
        let rates = measure_gemm(&step_shapes(&a.rule, &net, a.batch, &decor), 5);
        for r in &rates {
            let GemmShape { m, k, n, ta, tb } = r.shape;
            let t = |x: bool| if x { "ᵀ" } else { " " };
            writeln!(
                out,
                "  faer gemm {m:>5}×{k:<5}{} · {k:>5}×{n:<5}{} {:7.1} GFLOP/s",
                t(ta),
                t(tb),
                r.gflops
            )?;
        }
        let best = rates.iter().map(|r| r.gflops).fold(0.0, f64::max);
        let top = rates
            .iter()
            .max_by(|x, y| x.gflops.total_cmp(&y.gflops))
            .expect("a step has products");
        if let Some(products) = step_products(&a.rule, &net, a.batch, &decor) {
            // The step's own products at their standalone rates: what a step would take if
            // everything but the products were free and no product lost speed in context.
            let secs: f64 = products
                .iter()
                .map(|(sh, count)| {
                    let rate = rates
                        .iter()
                        .find(|r| r.shape == *sh)
                        .map_or(best, |r| r.gflops);
                    *count as f64 * gemm_flops(sh.m, sh.k, sh.n) / rate / 1e9
                })
                .sum();
            products_s = Some(secs);
            writeln!(out, "the step's products alone, at these rates: {:.1} ms per step ({:.1} GFLOP/s on average)", secs * 1e3, flops / secs / 1e9)?;
        }
        writeln!(out, "best GEMM rate at these shapes: {best:.1} GFLOP/s ({}×{}·{}×{}; re-measured before each timing)", top.shape.m, top.shape.k, top.shape.k, top.shape.n)?;
        Some(top.shape)
    } else {
        None
    };
    // With several runs the reference is not re-measured (the runs would disturb it).
    let reference = if a.runs == 1 { best } else { None };
    if !a.arrays.is_empty() {
        if a.runs != 1 {
            return Err(BenchError::Plan(
                "--arrays compares sizes within one run: use --runs 1".into(),
            ));
        }
        return run_arrays(&a, reference, flops, out);
    }
    let timings: Vec<StepTiming> = if a.runs == 1 {
        vec![time_steps(&a, a.seed, reference)?]
    } else {
        std::thread::scope(|sc| {
            let hs: Vec<_> = (0..a.runs)
                .map(|i| {
                    let a = a.clone();
                    sc.spawn(move || time_steps(&a, a.seed + i as u64, None))
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("bench run panicked"))
                .collect::<Result<Vec<_>, BenchError>>()
        })?
    };
    let sps: f64 = timings.iter().map(|t| a.batch as f64 / t.step_s).sum();
    if let (Some(p), [t]) = (products_s, timings.as_slice()) {
        writeln!(out, "everything else (element-wise work, noise, pulses, synchronisation, slower products in context): {:.1} ms per step ({:.0} % of the step)", (t.step_s - p) * 1e3, 100.0 * (t.step_s - p) / t.step_s)?;
    }
    let gf = sps * flops / a.batch as f64 / 1e9;
    for (i, t) in timings.iter().enumerate() {
        writeln!(
            out,
            "run {i}: {:.4} s/step (median of {}; min {:.4}, max {:.4})",
            t.step_s, a.repeats, t.min_s, t.max_s
        )?;
        if a.rule.decorrelated {
            writeln!(
                out,
                "run {i}: updating R (decor_sample {}, decor_every {}, decor_blocks {}, decor_layers {}): {:.1} % of the step time ({:.1} % of its counted FLOPs)",
                a.decor_sample,
                a.decor_every,
                a.decor_blocks,
                a.decor_layers,
                100.0 * t.decorrelate_share,
                100.0 * counted_update_share(&cost)
            )?;
        }
    }
    writeln!(
        out,
        "throughput: {sps:.0} samples/s, {gf:.1} GFLOP/s (algorithm)"
    )?;
    if let [t] = timings.as_slice() {
        if !t.pairs.is_empty() {
            let mut ratios: Vec<f64> = t.pairs.iter().map(|&(s, r)| flops / s / 1e9 / r).collect();
            let mut refs: Vec<f64> = t.pairs.iter().map(|&(_, r)| r).collect();
            let (rmin, rmax) = ratios.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
            writeln!(
                out,
                "ratio to the best GEMM rate: {:.1} % (median of {} paired measurements, range {:.1}–{:.1} %; reference median {:.1} GFLOP/s)",
                100.0 * median(&mut ratios),
                ratios.len(),
                100.0 * rmin,
                100.0 * rmax,
                median(&mut refs)
            )?;
        }
    }
    let budget = MemoryBudget::of_network(
        &net,
        a.batch,
        a.rule.decorrelated,
        a.optimizer == OptimizerKind::Adam,
        a.samples.max(a.batch),
    );
    let budget_total = budget.total() * a.runs as f64;
    if let [StepTiming {
        rss: (Some(built), Some(after)),
        ..
    }] = timings.as_slice()
    {
        writeln!(out, "resident: {:.1} MB once built (chip, controller, dataset), {:.1} MB after the steps (with their buffers)", built / 1e6, after / 1e6)?;
    }
    if let Some(peak) = peak_rss_bytes() {
        writeln!(
            out,
            "memory: peak RSS {:.1} MB; budget {:.1} MB (weights {:.1}, decorrelators {:.1}, optimiser {:.1}, activations {:.1}, dataset {:.1}) × {} run(s); ratio {:.2}",
            peak / 1e6,
            budget_total / 1e6,
            budget.weights / 1e6,
            budget.decorrelators / 1e6,
            budget.optimizer / 1e6,
            budget.activations / 1e6,
            budget.dataset / 1e6,
            a.runs,
            peak / budget_total
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::cost::step_flops;

    #[test]
    fn danp_nn_flops_match_the_hand_count() {
        // One layer 4→3, batch 5, decorrelated noisy–noisy ANP:
        // passes 2×(2·3·4·5) + R·h once 2·16·5 + outer 2·3·4·5 + R update min(4·5·16, 2·5·16 + 2·64).
        let rule: RuleSpec = "danp-nn".parse().unwrap();
        let want = 2.0 * 120.0 + 160.0 + 120.0 + (320.0f64).min(160.0 + 128.0);
        let full = DecorWork::default();
        assert_eq!(step_flops(&rule, &Network::dense(&[4, 3]), 5, &full), want);
        let plain: RuleSpec = "anp-nn".parse().unwrap();
        assert_eq!(
            step_flops(&plain, &Network::dense(&[4, 3]), 5, &full),
            3.0 * 120.0
        );
    }

    #[test]
    fn products_add_up_to_the_flop_count() {
        for sizes in [
            vec![784, 1000, 1000, 1000, 10],
            vec![3072, 1024, 1024, 1024, 10],
        ] {
            for (name, sample) in [
                ("danp-nn", 1.0),
                ("danp-nn", 0.1),
                ("anp-nn", 1.0),
                ("danp", 0.25),
                ("np", 1.0),
                ("dnp", 1.0),
            ] {
                let mut rule: RuleSpec = name.parse().unwrap();
                let decor = test_plan(&[2, 2], 1, "ideal", sample)
                    .decor_work(&presets::resolve("ideal", &[]).unwrap());
                for k in [1, 3] {
                    rule.resamples = k;
                    let net = Network::dense(&sizes);
                    let p = step_products(&rule, &net, 1000, &decor).unwrap();
                    let sum: f64 = p
                        .iter()
                        .map(|(s, c)| *c as f64 * gemm_flops(s.m, s.k, s.n))
                        .sum();
                    assert_eq!(
                        sum,
                        step_flops(&rule, &net, 1000, &decor),
                        "{name} K={k} {sizes:?} {decor:?}"
                    );
                }
            }
        }
        let small = Network::dense(&[4, 3]);
        let full = DecorWork::default();
        assert!(step_products(&"dbp".parse().unwrap(), &small, 5, &full).is_none());
        assert_eq!(
            step_shapes(&"dbp".parse().unwrap(), &small, 5, &full).len(),
            2
        );
        let every = DecorWork {
            thin: DecorThinning {
                sample: 1.0,
                every: 2,
            },
            ..full
        };
        assert!(step_products(&"danp".parse().unwrap(), &small, 5, &every).is_none());
    }

    /// The plan the tests build: noisy–noisy DANP with hidden noise, Adam, one timed step,
    /// one thread, seed 3; the caller sets the rest.
    fn test_plan(sizes: &[usize], batch: usize, chip: &str, decor_sample: f32) -> BenchPlan {
        BenchPlan {
            sizes: sizes.to_vec(),
            batch,
            chip: chip.into(),
            set: Vec::new(),
            rule: "danp-nn".parse().unwrap(),
            inject: InjectedNoise::Hidden { sigma: 1e-2 },
            optimizer: OptimizerKind::Adam,
            steps: 1,
            repeats: 1,
            warmup: 0,
            threads: 1,
            runs: 1,
            samples: 3 * batch,
            gemm: false,
            seed: 3,
            arrays: Vec::new(),
            decor_sample,
            decor_every: 1,
            decor_blocks: DecorBlocks::Full,
            decor_layers: DecorLayers::All,
            arch: None,
        }
    }

    /// `bench --decor-sample F`'s R-update share of the step falls in proportion to F.
    ///
    /// Two measures, because wall time on a loaded 2-core machine is too noisy to assert a
    /// proportion on: (1) deterministic: the counted work, the R update's FLOPs ([`step_cost`],
    /// which `lab::step_cost_tests` checks against the chip's own counters) are exactly F
    /// times the full update's at a shape where ⌈F·B⌉ = F·B and d > F·B for every F (so the
    /// update is the 4·d²·m order throughout), and the bench's counted share is
    /// F·U / (O + F·U); (2) timed, with a wide margin: the bench's own measured share
    /// ([`StepTiming::decorrelate_share`], over 4 steps after a warm-up) at F = 0.1 is below
    /// 0.6 of that at F = 1, where the counted work predicts 0.15 and an idle machine measures
    /// 0.2–0.35 (the update's unthinned O(d²) glue); without thinning it would be ≈ 1. Load
    /// slows both parts of a step alike, so a share survives it far better than a time would.
    #[test]
    fn the_r_update_share_drops_in_proportion_to_the_sample_fraction() {
        let (sizes, batch) = ([256, 240, 10], 200);
        let net = Network::dense(&sizes);
        let plan = |f| test_plan(&sizes, batch, "ideal", f);
        let at = |f| {
            step_cost(
                &plan(f).rule,
                &net,
                batch,
                &plan(f).decor_work(&presets::resolve("ideal", &[]).unwrap()),
            )
        };
        let full = at(1.0);
        let u1 = full.decor_update_total();
        let other = full.total - u1;
        assert!(u1 > 0.0);
        // Fractions exact in binary, so that F·U is exact in f64 too.
        for (f, m) in [(0.5f32, 100.0), (0.25, 50.0), (0.125, 25.0)] {
            let c = at(f);
            let u = c.decor_update_total();
            assert_eq!(u * batch as f64, m * u1, "F = {f}");
            assert_eq!(
                c.total - u,
                other,
                "F = {f}: the rest of the step is unchanged"
            );
            let want = m * u1 / (batch as f64 * other + m * u1);
            assert!((counted_update_share(&c) - want).abs() < 1e-12, "F = {f}");
        }
        // Timed at batch 1000, where the update's products (∝ F) outweigh its O(d²) and
        // O(d·B) glue (the element-wise step, ⟨x²⟩, the sample gather) even at F = 0.1.
        let timed = |f| {
            let mut p = test_plan(&sizes, 1000, "ideal", f);
            p.steps = 4;
            p.warmup = 1;
            time_steps(&p, 3, None).unwrap().decorrelate_share
        };
        let (s1, s01) = (timed(1.0), timed(0.1));
        assert!(s1 > 0.0 && s01 > 0.0, "{s1} {s01}");
        assert!(
            s01 < 0.6 * s1,
            "timed share at F = 0.1: {s01}, at F = 1: {s1}"
        );
    }

    /// `--decor-every`, `--decor-blocks` and `--decor-layers` reach both what the bench counts
    /// and the chip it times: every K-th update is 1/K of the per-step update work; a listed
    /// layer set leaves the others without R (none on the chip, none counted); array blocks
    /// on 128-row arrays count two 128² blocks for a 256-input layer; a layer beyond the
    /// network and blocks with `--arrays` are refused, naming the flag.
    #[test]
    fn the_bench_decorrelator_flags_reach_the_counted_work_and_the_chip() {
        let (sizes, batch) = ([256, 240, 10], 200);
        let net = Network::dense(&sizes);
        let ideal = presets::resolve("ideal", &[]).unwrap();
        let base = test_plan(&sizes, batch, "ideal", 1.0);
        let full = step_cost(&base.rule, &net, batch, &base.decor_work(&ideal));
        let every4 = BenchPlan {
            decor_every: 4,
            ..base.clone()
        };
        let c = step_cost(&base.rule, &net, batch, &every4.decor_work(&ideal));
        assert_eq!(4.0 * c.decor_update_total(), full.decor_update_total());

        let only1 = BenchPlan {
            decor_layers: "1".parse().unwrap(),
            ..base.clone()
        };
        let c = step_cost(&base.rule, &net, batch, &only1.decor_work(&ideal));
        assert_eq!(c.decor_update[0], 0.0);
        assert_eq!(c.decor_update[1], full.decor_update[1]);
        let mut runner = StepRunner::new(&only1, 3).unwrap();
        let oracle = runner.chip.oracle("test: which layers have R");
        assert!(oracle.decorrelator(0).is_none());
        assert!(oracle.decorrelator(1).is_some());

        let rows128 = presets::resolve("ideal", &["array.rows=128".into()]).unwrap();
        let blocks = BenchPlan {
            decor_blocks: DecorBlocks::Array,
            ..base.clone()
        };
        let c = step_cost(&base.rule, &net, batch, &blocks.decor_work(&rows128));
        let f = step_cost(&base.rule, &net, batch, &base.decor_work(&rows128));
        assert!(
            c.decor_update[0] < f.decor_update[0],
            "{} vs {}",
            c.decor_update[0],
            f.decor_update[0]
        );

        let beyond = BenchPlan {
            decor_layers: "3".parse().unwrap(),
            ..base.clone()
        };
        let e = beyond.check_decor(&net).unwrap_err().to_string();
        assert!(e.contains("--decor-layers 3") && e.contains("0..=1"), "{e}");
        let both = BenchPlan {
            arrays: vec![0, 128],
            ..blocks
        };
        let e = both.check_decor(&net).unwrap_err().to_string();
        assert!(
            e.contains("--decor-blocks array") && e.contains("--arrays"),
            "{e}"
        );
    }

    /// Every number a run leaves behind that a step changes: weights, biases, R, counters.
    fn fingerprint(s: &mut StepRunner) -> Vec<u32> {
        let depth = s.chip.depth();
        let oracle = s.chip.oracle("test: determinism fingerprint");
        let mut v = Vec::new();
        for l in 0..depth {
            v.extend(oracle.weights(l).iter().map(|w| w.to_bits()));
            v.extend(oracle.bias(l).iter().map(|w| w.to_bits()));
            v.extend(
                oracle
                    .decorrelator(l)
                    .into_iter()
                    .flat_map(|r| r.iter().map(|w| w.to_bits()).collect::<Vec<_>>()),
            );
        }
        for c in s.chip.counters() {
            v.extend(c.0.iter().flat_map(|p| p.to_array()).map(|n| n as u32));
        }
        v
    }

    #[test]
    fn training_is_deterministic_per_seed_and_independent_of_threads_in_the_glue() {
        // Sizes and batch that cut every element-wise loop into several pieces and take both
        // orders of the decorrelator update (784 > B and 400 ≤ B).
        // rram is split over 256×256 arrays (784 inputs → 4, 400 → 2); the split ideal chip
        // checks the digital partial sums alone.
        let split = vec!["array.rows=256".to_string(), "array.cols=128".to_string()];
        for (chip, set) in [
            ("ideal", Vec::new()),
            ("ideal", split),
            ("rram", Vec::new()),
        ] {
            let args = BenchPlan {
                set,
                ..test_plan(&[784, 400, 10], 500, chip, 1.0)
            };
            let run = |threads: usize| {
                crate::linalg::set_threads(threads);
                let mut s = StepRunner::new(&args, 3).unwrap();
                for _ in 0..4 {
                    s.step().unwrap();
                }
                crate::linalg::set_threads(0);
                fingerprint(&mut s)
            };
            let one = run(1);
            assert_eq!(one, run(1), "{chip}: two single-threaded runs differ");
            let two = run(2);
            assert_eq!(two, run(2), "{chip}: two 2-thread runs differ");
        }
    }

    #[test]
    fn conv_training_is_deterministic_and_independent_of_threads() {
        // A conv net whose every map spans several parallel pieces (conv1: 8 × 16·16 values
        // per sample, 20 samples; its im2col 27 × 256 per sample), decorrelated, noisy–noisy,
        // on the ideal chip and on rram split over 16 × 16 arrays (conv2's 72-long patches
        // over 5 arrays).
        let split = vec!["array.rows=16".to_string(), "array.cols=16".to_string()];
        for (chip, set) in [("ideal", Vec::new()), ("rram", split)] {
            let args = BenchPlan {
                set,
                arch: Some(
                    "conv8k3p1,pool2,conv16k3p1,pool2,fc24,fc10@3x16x16"
                        .parse()
                        .unwrap(),
                ),
                ..test_plan(&[], 20, chip, 1.0)
            };
            let run = |threads: usize| {
                crate::linalg::set_threads(threads);
                let mut s = StepRunner::new(&args, 3).unwrap();
                for _ in 0..3 {
                    s.step().unwrap();
                }
                crate::linalg::set_threads(0);
                fingerprint(&mut s)
            };
            let one = run(1);
            assert_eq!(one, run(1), "{chip}: two single-threaded runs differ");
            assert_eq!(one, run(2), "{chip}: 1 and 2 threads differ");
        }
    }
}
