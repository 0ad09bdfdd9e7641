//! The local decorrelation circuit in front of each layer: x = R h, with R learned from the
//! layer's own inputs so that their off-diagonal correlations vanish.
//!
//! R is a digital matrix (f32, or fixed point with a given number of bits), or, as an option,
//! a `d × d` crossbar tile of the chip's own device model (`Analog`, with the model's
//! `[decorrelator]` overrides), with its read noise, converters and pulse-quantised updates.
//! R is one full `d × d` block, or (`decor_blocks = array`) block-diagonal with one block per
//! physical array's input slice of the layer: each block a circuit of its own beside its array.
//! Its cost is counted either way: a digital forward product is Σ_b d_b²·B multiply-adds per
//! batch, an update 2·B·d_b² or B·d_b² + d_b³ per block, whichever is cheaper for this batch
//! size; an analog one is B reads forward, and per update B transposed reads, a read-out of the
//! array (d_b reads), the digital outer product and the pulses. Float work is `digital_ops`
//! (two per multiply-add); a fixed-point decorrelator's is `int_*` by width (energy.rs).
//!
//! The update may be thinned (`decor_every`, `decor_sample`): only every k-th update request
//! runs, on a seeded subset of the batch's samples. The forward product stays exact.

use super::array_grid::split;
use super::array_grid::ArrayGrid;
use super::conv::shape_to;
use super::energy::Counters;
use super::model::ChipModel;
use crate::linalg::{copy_into, for_pieces, gemm, piece_cols, same_bits, Op};
use crate::rng::{Purpose, Stream};
use nalgebra::DMatrix;
use rand::Rng as _;
use std::cell::RefCell;

/// Which decorrelation rule the circuit runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DecorRule {
    /// R ← R − η·offdiag(⟨xxᵀ⟩)·R (the default).
    Plain,
    /// R ← R − η·[((1−κ)/(d−1))·C·R + 2κ·v·R], v = mean_i(⟨x_i²⟩ − 1): also holds unit variance.
    Kappa {
        /// κ, the weight of the variance term (reference 1e-3).
        kappa: f32,
    },
    /// R ← R − η·(⟨xxᵀ⟩ − I)·R: full whitening.
    Whiten,
}

/// How R is stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DecorPrecision {
    /// 32-bit float.
    F32,
    /// Fixed point: `bits` bits (sign included) over [−bound, bound], rounded after each update.
    Fixed {
        /// Bits per entry (2..=24).
        bits: u32,
        /// Largest representable |entry|.
        bound: f32,
    },
    /// A crossbar tile of the chip's device model: every product is a noisy analog read, every
    /// update a set of programming pulses. `range` is the |R_ij| mapped to the full
    /// differential swing (R starts at I, so it must exceed 1).
    Analog {
        /// |R_ij| at full swing.
        range: f32,
    },
}

/// How R is laid out over the layer's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DecorBlocks {
    /// One full `d × d` R (the default).
    #[default]
    Full,
    /// Block-diagonal: one block per physical array's input slice (the layer's `[array] rows`
    /// split); with unbounded arrays one block, i.e. the full R.
    Array,
}

/// Which layers have a decorrelation circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DecorLayers {
    /// Every layer (the default).
    #[default]
    All,
    /// Every layer but the input layer (layer 0).
    Hidden,
    /// The listed layers: bit l set for layer l (indices 0..=63).
    List(u64),
}

impl DecorLayers {
    /// Largest layer index a list may name.
    pub const MAX_INDEX: usize = 63;

    /// Whether layer `l` has a decorrelator.
    pub fn includes(self, l: usize) -> bool {
        match self {
            DecorLayers::All => true,
            DecorLayers::Hidden => l > 0,
            DecorLayers::List(mask) => l <= Self::MAX_INDEX && mask >> l & 1 == 1,
        }
    }

    /// The listed indices, ascending (empty for `All` and `Hidden`).
    pub fn indices(self) -> Vec<usize> {
        match self {
            DecorLayers::List(mask) => (0..=Self::MAX_INDEX)
                .filter(|&l| mask >> l & 1 == 1)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// How the update of R is thinned: every `every`-th update request runs, learning from a
/// fraction `sample` of the batch's samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecorThinning {
    /// Fraction of the samples an update learns from, in (0, 1]: ⌈f·B⌉ of B, drawn without
    /// replacement from the layer's own stream (1: all, no draw).
    pub sample: f32,
    /// Update R at every `every`-th request (≥ 1), the first included.
    pub every: u32,
}

impl Default for DecorThinning {
    fn default() -> Self {
        DecorThinning {
            sample: 1.0,
            every: 1,
        }
    }
}

impl DecorThinning {
    /// How many of `b` samples an update learns from: ⌈f·b⌉ (at least 1, at most b), for the
    /// fraction as typed. f is an f32, and a decimal fraction such as 0.1 is stored as
    /// 0.100000001490116, whose product with 1000 would round up to 101: the product is taken
    /// with f's shortest decimal form (0.1) in f64, and rounded to 6 decimals before the
    /// ceiling (0.1 × 30 is 3.0000000000000004 in f64).
    pub fn samples_of(&self, b: usize) -> usize {
        let f: f64 = self
            .sample
            .to_string()
            .parse()
            .unwrap_or(f64::from(self.sample));
        let p = (f * b as f64 * 1e6).round() / 1e6;
        (p.ceil() as usize).clamp(1, b.max(1))
    }
}

/// Stream unit of layer `l`'s analog decorrelator tile: apart from the weight tiles' `1 + l`.
/// Block k > 0 of a block-diagonal R sets bits from 21 up: `2²⁰ + l + k·2²¹` (below the bit 32
/// the array grid uses for its arrays).
const ANALOG_UNIT_BASE: u64 = 1 << 20;

pub(super) struct Decorrelator {
    /// R's diagonal blocks, in input order (one block: the full R).
    pub(super) blocks: Vec<Block>,
    d: usize,
    rule: DecorRule,
    precision: DecorPrecision,
    lr: f32,
    thin: DecorThinning,
    /// Update requests so far (run or skipped): the position of `decor_every`'s count and of
    /// the sample stream. Checkpointed.
    pub(super) requests: u64,
    /// Key of the sample stream: request n draws its subset from fill n alone, so the draw
    /// needs no state beyond `requests` and does not depend on the thread count.
    sampler: Stream,
    /// Scratch, never state: the sampled columns, and one block's rows in and out.
    sub: DMatrix<f32>,
    part_in: DMatrix<f32>,
    part_out: DMatrix<f32>,
    picks: Vec<usize>,
}

/// One diagonal block of R over the inputs `start..start + r.nrows()`.
pub(super) struct Block {
    /// The first input it covers.
    pub(super) start: usize,
    /// R (digital), or for an analog decorrelator R as programmed, without read noise: what
    /// the oracle and checkpoints see. The rule never reads it on an analog decorrelator.
    pub(super) r: DMatrix<f32>,
    /// The crossbar arrays holding R when the precision is `Analog` (split like a layer's).
    pub(in crate::chip) analog: Option<Box<ArrayGrid>>,
    sq: Vec<f32>,
    /// The last product of [`Block::apply_reusing`]: its h, R and x = R·h.
    reuse: Option<Box<Reuse>>,
}

/// Scratch, never state: a simulator shortcut, not part of the circuit.
struct Reuse {
    h: DMatrix<f32>,
    r: DMatrix<f32>,
    x: DMatrix<f32>,
}

/// The decorrelation circuits' settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecorConfig {
    /// The rule.
    pub rule: DecorRule,
    /// Learning rate η_R.
    pub lr: f32,
    /// Storage precision of R.
    pub precision: DecorPrecision,
    /// How the update of R is thinned (default: every step, every sample).
    pub thin: DecorThinning,
    /// Full R or one block per physical array's input slice.
    pub blocks: DecorBlocks,
    /// Which layers have a decorrelator.
    pub layers: DecorLayers,
}

impl Default for DecorConfig {
    /// The run keys' defaults: plain rule, η_R = 10⁻³, f32, full R on every layer, unthinned.
    fn default() -> Self {
        DecorConfig {
            rule: DecorRule::Plain,
            lr: 1e-3,
            precision: DecorPrecision::F32,
            thin: DecorThinning::default(),
            blocks: DecorBlocks::Full,
            layers: DecorLayers::All,
        }
    }
}

/// Counts `n` multiply-accumulates of a digital decorrelator: two float ops each, or one
/// fixed-point multiply and add by width.
fn count_macs(c: &mut Counters, precision: DecorPrecision, n: u64) {
    match precision {
        DecorPrecision::Fixed { bits, .. } => c.count_int_macs(n, bits),
        _ => c.digital_ops += 2 * n,
    }
}

/// `dst` (len × B) ← rows `start..start + len` of `src` (d × B).
fn rows_into(src: &DMatrix<f32>, start: usize, len: usize, dst: &mut DMatrix<f32>) {
    let (d, b) = src.shape();
    shape_to(dst, len, b);
    let ss = src.as_slice();
    for (j, col) in dst.as_mut_slice().chunks_mut(len.max(1)).enumerate() {
        col.copy_from_slice(&ss[j * d + start..j * d + start + len]);
    }
}

/// Rows `start..start + len` of `dst` (d × B) ← `src` (len × B).
fn rows_from(src: &DMatrix<f32>, start: usize, dst: &mut DMatrix<f32>) {
    let (len, d) = (src.nrows(), dst.nrows());
    let ds = dst.as_mut_slice();
    for (j, col) in src.as_slice().chunks(len.max(1)).enumerate() {
        ds[j * d + start..j * d + start + len].copy_from_slice(col);
    }
}

impl Decorrelator {
    /// R = I, digital; for `Analog`, a tile per block fabricated from the model's decorrelator
    /// view ([`ChipModel::for_decorrelator`]: its `[decorrelator]` overrides) for layer `l`,
    /// run `seed`, and write-verify programmed to I (with the model's programming noise).
    /// Blocks: one, or `decor_blocks = array`'s split of the `d` inputs by the array rows.
    pub(super) fn new(d: usize, cfg: &DecorConfig, model: &ChipModel, seed: u64, l: usize) -> Self {
        let parts = match cfg.blocks {
            DecorBlocks::Full => vec![(0, d)],
            DecorBlocks::Array => split(d, model.array_limits().0),
        };
        let analog_model = match cfg.precision {
            DecorPrecision::Analog { .. } => Some(model.for_decorrelator()),
            _ => None,
        };
        let blocks = parts
            .iter()
            .enumerate()
            .map(|(k, &(start, len))| {
                let identity = DMatrix::identity(len, len);
                let analog = match (cfg.precision, &analog_model) {
                    (DecorPrecision::Analog { range }, Some(m)) => {
                        let unit = ANALOG_UNIT_BASE + l as u64 + ((k as u64) << 21);
                        let mut tile = ArrayGrid::fabricate(m, len, len, seed, unit, range);
                        tile.program(&identity);
                        Some(Box::new(tile))
                    }
                    _ => None,
                };
                Block {
                    start,
                    r: analog.as_ref().map_or(identity, |t| t.weights()),
                    analog,
                    sq: vec![0.0; len],
                    reuse: None,
                }
            })
            .collect();
        Decorrelator {
            blocks,
            d,
            rule: cfg.rule,
            precision: cfg.precision,
            lr: cfg.lr,
            thin: cfg.thin,
            requests: 0,
            sampler: Stream::new(seed, l as u64, Purpose::DecorSample),
            sub: DMatrix::zeros(0, 0),
            part_in: DMatrix::zeros(0, 0),
            part_out: DMatrix::zeros(0, 0),
            picks: Vec::new(),
        }
    }

    /// The whole `d × d` R (block-diagonal, zeros off the blocks, when blocked).
    pub(super) fn r(&self) -> DMatrix<f32> {
        if let [b] = self.blocks.as_slice() {
            return b.r.clone();
        }
        let mut r = DMatrix::zeros(self.d, self.d);
        for b in &self.blocks {
            let n = b.r.nrows();
            r.view_mut((b.start, b.start), (n, n)).copy_from(&b.r);
        }
        r
    }

    /// Entries of R the circuit stores: Σ_b d_b² (d² when full; d·rows when blocked by arrays
    /// of `rows` inputs that divide d).
    pub(super) fn entries(&self) -> usize {
        self.blocks.iter().map(|b| b.r.len()).sum()
    }

    /// Sets R from the whole `d × d` matrix (column-major), each block from its diagonal block.
    pub(super) fn set_r(&mut self, full: &[f32]) -> Result<(), String> {
        if full.len() != self.d * self.d {
            return Err(format!(
                "decorrelator has {} entries, expected {}",
                full.len(),
                self.d * self.d
            ));
        }
        let m = DMatrix::from_column_slice(self.d, self.d, full);
        for b in &mut self.blocks {
            let n = b.r.nrows();
            b.r.copy_from(&m.view((b.start, b.start), (n, n)));
        }
        Ok(())
    }

    /// x = R h for a batch (`d × B`); on an analog decorrelator a measured read.
    pub(super) fn apply(&mut self, h: &DMatrix<f32>, x: &mut DMatrix<f32>, c: &mut Counters) {
        self.apply_blocks(h, x, c, false)
    }

    /// Like [`Decorrelator::apply`], reusing the previous product when its input and R are
    /// bit for bit the same (see [`Block::apply_reusing`]); counted every time.
    pub(super) fn apply_reusing(
        &mut self,
        h: &DMatrix<f32>,
        x: &mut DMatrix<f32>,
        c: &mut Counters,
    ) {
        self.apply_blocks(h, x, c, true)
    }

    fn apply_blocks(
        &mut self,
        h: &DMatrix<f32>,
        x: &mut DMatrix<f32>,
        c: &mut Counters,
        reuse: bool,
    ) {
        let precision = self.precision;
        let Decorrelator {
            blocks,
            part_in,
            part_out,
            d,
            ..
        } = self;
        if let [b] = blocks.as_mut_slice() {
            return b.apply(h, x, c, precision, reuse);
        }
        shape_to(x, *d, h.ncols());
        for b in blocks {
            rows_into(h, b.start, b.r.nrows(), part_in);
            b.apply(part_in, part_out, c, precision, reuse);
            rows_from(part_out, b.start, x);
        }
    }

    /// One update request from the inputs `x` (`d × B·P`, P = `positions` columns per sample,
    /// sample-major) this layer saw. Runs at every `every`-th request only; learns from ⌈f·B⌉
    /// samples drawn without replacement (request n: fill n of the layer's sample stream),
    /// kept in sample order, and of their patches every `stride`-th (a conv layer's
    /// [`super::patch_stride`]; 1 for a dense layer). With f = 1 and stride 1 it learns from
    /// `x` itself, without a copy.
    pub(super) fn update(
        &mut self,
        x: &DMatrix<f32>,
        positions: usize,
        stride: usize,
        c: &mut Counters,
    ) {
        let n = self.requests;
        self.requests += 1;
        if !n.is_multiple_of(u64::from(self.thin.every.max(1))) {
            return;
        }
        let (rows, cols) = x.shape();
        let positions = positions.max(1);
        let samples = cols / positions;
        let m = self.thin.samples_of(samples);
        let (rule, precision, lr) = (self.rule, self.precision, self.lr);
        let Decorrelator {
            blocks,
            sub,
            part_in,
            picks,
            sampler,
            ..
        } = self;
        let whole = m == samples && stride <= 1;
        if !whole {
            picks.clear();
            picks.extend(0..samples);
            if m < samples {
                // Partial Fisher–Yates: the first m of a uniform random permutation.
                let mut rng = Stream::from_state([sampler.state()[0], n]).next_rng();
                for i in 0..m {
                    let j = rng.gen_range(i..samples);
                    picks.swap(i, j);
                }
                picks.truncate(m);
                picks.sort_unstable();
            }
            let stride = stride.max(1);
            let kept = (m * positions).div_ceil(stride);
            shape_to(sub, rows, kept);
            let xs = x.as_slice();
            for (q, col) in sub.as_mut_slice().chunks_mut(rows.max(1)).enumerate() {
                let t = q * stride;
                let src = picks[t / positions] * positions + t % positions;
                col.copy_from_slice(&xs[src * rows..(src + 1) * rows]);
            }
        }
        let xin: &DMatrix<f32> = if whole { x } else { sub };
        if let [b] = blocks.as_mut_slice() {
            return b.update(xin, c, rule, precision, lr);
        }
        for b in blocks {
            rows_into(xin, b.start, b.r.nrows(), part_in);
            b.update(part_in, c, rule, precision, lr);
        }
    }
}

impl Block {
    /// x = R h for this block's inputs (`d_b × B`), counted; with `reuse`, see
    /// [`Block::apply_reusing`].
    fn apply(
        &mut self,
        h: &DMatrix<f32>,
        x: &mut DMatrix<f32>,
        c: &mut Counters,
        precision: DecorPrecision,
        reuse: bool,
    ) {
        if let Some(tile) = &mut self.analog {
            return tile.read(h, x, c);
        }
        let (d, b) = h.shape();
        count_macs(c, precision, (d * d * b) as u64);
        if reuse {
            return self.apply_reusing(h, x);
        }
        gemm(x, 0.0, 1.0, &self.r, Op::N, h, Op::N);
    }

    /// When `h` and R are bit for bit those of the previous call, copies that call's product
    /// instead of recomputing it. The passes of one training step all feed the first layer
    /// the same batch through the same R, so its d²·B product (the largest of a CIFAR-sized
    /// step) is needed once, not once per pass. The circuit itself would compute it every
    /// time: it is counted every time (by the caller). Digital blocks only: an analog read
    /// gets fresh noise, so it is never reused.
    fn apply_reusing(&mut self, h: &DMatrix<f32>, x: &mut DMatrix<f32>) {
        if let Some(m) = &self.reuse {
            if m.h.shape() == h.shape()
                && same_bits(m.h.as_slice(), h.as_slice())
                && same_bits(m.r.as_slice(), self.r.as_slice())
            {
                copy_into(x, &m.x);
                return;
            }
        }
        gemm(x, 0.0, 1.0, &self.r, Op::N, h, Op::N);
        let m = self.reuse.get_or_insert_with(|| {
            Box::new(Reuse {
                h: DMatrix::zeros(0, 0),
                r: DMatrix::zeros(0, 0),
                x: DMatrix::zeros(0, 0),
            })
        });
        copy_into(&mut m.h, h);
        copy_into(&mut m.x, x);
        if !same_bits(m.r.as_slice(), self.r.as_slice()) {
            copy_into(&mut m.r, &self.r);
        }
    }

    /// One step of the decorrelation rule from the inputs `x` (`d_b × B'`) this block saw.
    ///
    /// The element-wise parts (⟨x_i²⟩ over row blocks, the update of R over column blocks)
    /// run in parallel when this thread's setting allows, each entry summed in sample order,
    /// so the result does not depend on the thread count.
    fn update(
        &mut self,
        x: &DMatrix<f32>,
        c: &mut Counters,
        rule: DecorRule,
        precision: DecorPrecision,
        lr: f32,
    ) {
        let (d, b) = x.shape();
        let inv_b = 1.0 / b as f32;
        // sq_i = ⟨x_i²⟩, each row summed over samples in order; row blocks in parallel.
        const ROWS: usize = 128;
        let xs = x.as_slice();
        self.sq.resize(d, 0.0);
        for_pieces(&mut self.sq, ROWS, |p, sq| {
            let (i0, inv_b) = (p * ROWS, inv_b);
            sq.fill(0.0);
            for j in 0..b {
                let col = &xs[j * d + i0..j * d + i0 + sq.len()];
                sq.iter_mut().zip(col).for_each(|(s, &v)| *s += v * v);
            }
            sq.iter_mut().for_each(|s| *s *= inv_b);
        });
        let (mut t, mut u) = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        let coefficients = coefficients(rule, &self.sq, d);
        match &mut self.analog {
            None => {
                // u ← ⟨xxᵀ⟩·R, by the cheaper order: (x·(xᵀR))/B costs 2Bd², (xxᵀ/B)·R costs
                // Bd² + d³.
                if d <= b {
                    t.shape(d, d);
                    gemm(&mut t.m, 0.0, inv_b, x, Op::N, x, Op::T);
                    u.shape(d, d);
                    gemm(&mut u.m, 0.0, 1.0, &t.m, Op::N, &self.r, Op::N);
                    count_macs(c, precision, (d * d * b + d * d * d) as u64);
                } else {
                    t.shape(b, d);
                    gemm(&mut t.m, 0.0, 1.0, x, Op::T, &self.r, Op::N);
                    u.shape(d, d);
                    gemm(&mut u.m, 0.0, inv_b, x, Op::N, &t.m, Op::N);
                    count_macs(c, precision, (2 * d * d * b) as u64);
                }
                let fixed = match precision {
                    DecorPrecision::Fixed { bits, bound } => {
                        Some((bound, bound / ((1u32 << (bits - 1)) - 1) as f32))
                    }
                    _ => None,
                };
                // R ← R + step, rounded to the fixed-point grid if there is one.
                combine(
                    &mut self.r,
                    &u.m,
                    &self.sq,
                    lr,
                    coefficients,
                    move |r, step| {
                        let v = r + step;
                        match fixed {
                            Some((bound, q)) => (v.clamp(-bound, bound) / q).round() * q,
                            None => v,
                        }
                    },
                );
            }
            Some(tile) => {
                // The controller cannot read R exactly. It measures y = Rᵀx (B transposed
                // reads), forms u = ⟨x yᵀ⟩ = ⟨xxᵀ⟩R digitally, reads R̂ out (d reads) for the
                // diagonal and whitening terms, and asks for ΔR = step(u, R̂) in pulses.
                t.shape(d, b);
                tile.read_transposed(x, &mut t.m, c);
                u.shape(d, d);
                gemm(&mut u.m, 0.0, inv_b, x, Op::N, &t.m, Op::T);
                c.digital_ops += 2 * (d * d * b) as u64;
                t.shape(d, d);
                tile.read_out(&mut t.m, c);
                combine(&mut t.m, &u.m, &self.sq, lr, coefficients, |_, step| step);
                tile.update(&t.m, c);
                copy_into(&mut self.r, &tile.weights());
            }
        }
        // The element-wise step: two multiply-adds per entry (digital work on every kind).
        match &self.analog {
            None => count_macs(c, precision, (2 * d * d) as u64),
            Some(_) => c.digital_ops += 4 * (d * d) as u64,
        }
        SCRATCH.with(|s| *s.borrow_mut() = (t, u));
    }
}

/// Per rule, the update direction from u = ⟨xxᵀ⟩R, R and diag(⟨x²⟩) (`sq`, of a block of `d`
/// inputs) is `a·(u − [diag(⟨x²⟩)]·R) + extra·R`, the bracket present when `diag_out`:
///   plain:  a = 1, extra = 0, diag out (C R = offdiag(⟨xxᵀ⟩) R)
///   kappa:  a = (1−κ)/(d−1), extra = 2κ·v with v = mean_i(⟨x_i²⟩ − 1), diag out
///   whiten: a = 1, extra = −1, diag kept ((⟨xxᵀ⟩ − I) R)
fn coefficients(rule: DecorRule, sq: &[f32], d: usize) -> Coefficients {
    match rule {
        DecorRule::Plain => Coefficients {
            a: 1.0,
            extra: 0.0,
            diag_out: true,
        },
        DecorRule::Kappa { kappa } => {
            let v = sq.iter().map(|s| s - 1.0).sum::<f32>() / d as f32;
            Coefficients {
                a: (1.0 - kappa) / (d.max(2) - 1) as f32,
                extra: 2.0 * kappa * v,
                diag_out: true,
            }
        }
        DecorRule::Whiten => Coefficients {
            a: 1.0,
            extra: -1.0,
            diag_out: false,
        },
    }
}

/// See [`coefficients`].
#[derive(Clone, Copy)]
struct Coefficients {
    a: f32,
    extra: f32,
    diag_out: bool,
}

/// `out_ij ← finish(r_ij, −lr·(a·(u_ij − [sq_i·r_ij]) + extra·r_ij))` where `r` is `out`'s own
/// entry before the write (R, or the read-out R̂), over column blocks in parallel when this
/// thread's setting allows.
fn combine(
    out: &mut DMatrix<f32>,
    u: &DMatrix<f32>,
    sq: &[f32],
    lr: f32,
    k: Coefficients,
    finish: impl Fn(f32, f32) -> f32 + Sync,
) {
    let d = out.nrows();
    let us = u.as_slice();
    let pc = piece_cols(d);
    for_pieces(out.as_mut_slice(), pc * d, |p, rp| {
        // Local copies: scalars in registers, so the loop vectorises.
        let (lr, k) = (lr, k);
        for (jj, rc) in rp.chunks_mut(d).enumerate() {
            let j = p * pc + jj;
            let uc = &us[j * d..(j + 1) * d];
            for ((r, &u), &s) in rc.iter_mut().zip(uc).zip(sq) {
                let r_ij = *r;
                let mut g = u;
                if k.diag_out {
                    g -= s * r_ij;
                }
                *r = finish(r_ij, -lr * (k.a * g + k.extra * r_ij));
            }
        }
    });
}

/// A matrix buffer that keeps its allocation across shapes: reshaping to something no larger
/// than the largest shape so far does not allocate.
struct Buffer {
    m: DMatrix<f32>,
}

impl Default for Buffer {
    fn default() -> Self {
        Buffer {
            m: DMatrix::zeros(0, 0),
        }
    }
}

impl Buffer {
    /// Gives `m` the shape `rows × cols` (contents unspecified: every use overwrites them).
    fn shape(&mut self, rows: usize, cols: usize) {
        if self.m.shape() != (rows, cols) {
            let mut v: Vec<f32> = std::mem::replace(&mut self.m, DMatrix::zeros(0, 0))
                .data
                .into();
            v.resize(rows * cols, 0.0);
            self.m = DMatrix::from_vec(rows, cols, v);
        }
    }
}

thread_local! {
    /// The products of [`Decorrelator::update`] (xxᵀ or xᵀR, and ⟨xxᵀ⟩R), shared by every
    /// decorrelator on this OS thread: the layers update one after another, so one pair of
    /// buffers as large as the largest layer's does, instead of a pair per layer (scratch,
    /// never state).
    static SCRATCH: RefCell<(Buffer, Buffer)> = RefCell::new((Buffer::default(), Buffer::default()));
}

/// Mean |off-diagonal correlation| of the rows of `x` (`d × B`, features × samples); a
/// simulation-side diagnostic. Correlation here is the normalised second moment
/// ⟨x_i x_j⟩ / √(⟨x_i²⟩⟨x_j²⟩), matching the rule's own uncentred statistics.
pub fn mean_abs_offdiag_correlation(x: &DMatrix<f32>) -> f32 {
    let d = x.nrows();
    if d < 2 {
        return 0.0;
    }
    let m = crate::linalg::mul(x, Op::N, x, Op::T);
    let mut s = 0.0f64;
    for j in 0..d {
        for i in 0..d {
            if i != j {
                let den = (m[(i, i)] * m[(j, j)]).sqrt();
                if den > 0.0 {
                    s += (m[(i, j)] / den).abs() as f64;
                }
            }
        }
    }
    (s / (d * (d - 1)) as f64) as f32
}
