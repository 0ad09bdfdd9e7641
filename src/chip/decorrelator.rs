//! The local decorrelation circuit in front of each layer: x = R h, with R learned from the
//! layer's own inputs so that their off-diagonal correlations vanish.
//!
//! R is a digital matrix (f32, or fixed point with a given number of bits), or, as an option,
//! a `d × d` crossbar tile of the chip's own device model (`Analog`), with its read noise,
//! converters and pulse-quantised updates. Its cost is counted either way: a digital forward
//! product is d²·B multiply-adds per batch, an update 2·B·d² or B·d² + d³, whichever is
//! cheaper for this batch size; an analog one is B reads forward, and per update B transposed
//! reads, a read-out of the array (d reads), the digital outer product and the pulses.

use super::array_grid::ArrayGrid;
use super::energy::Counters;
use super::model::ChipModel;
use crate::linalg::{copy_into, for_pieces, gemm, piece_cols, same_bits, Op};
use nalgebra::DMatrix;
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

/// Stream unit of layer `l`'s analog decorrelator tile: apart from the weight tiles' `1 + l`.
const ANALOG_UNIT_BASE: u64 = 1 << 20;

pub(super) struct Decorrelator {
    /// R (digital), or for an analog decorrelator R as programmed, without read noise: what
    /// the oracle and checkpoints see. The rule never reads it on an analog decorrelator.
    pub(super) r: DMatrix<f32>,
    /// The crossbar arrays holding R when the precision is `Analog` (split like a layer's).
    pub(in crate::chip) analog: Option<Box<ArrayGrid>>,
    rule: DecorRule,
    precision: DecorPrecision,
    lr: f32,
    sq: Vec<f32>,
    /// The last product of [`Decorrelator::apply_reusing`]: its h, R and x = R·h.
    reuse: Option<Box<Reuse>>,
}

/// Scratch, never state: a simulator shortcut, not part of the circuit.
struct Reuse {
    h: DMatrix<f32>,
    r: DMatrix<f32>,
    x: DMatrix<f32>,
}

impl Decorrelator {
    /// R = I, digital; for `Analog`, a tile fabricated from `model` (layer `l`, run `seed`) and
    /// write-verify programmed to I (with the model's programming noise).
    pub(super) fn new(
        d: usize,
        config: (DecorRule, DecorPrecision, f32),
        model: &ChipModel,
        seed: u64,
        l: usize,
    ) -> Self {
        let (rule, precision, lr) = config;
        let identity = DMatrix::identity(d, d);
        let analog = match precision {
            DecorPrecision::Analog { range } => {
                let unit = ANALOG_UNIT_BASE + l as u64;
                let mut tile = ArrayGrid::fabricate(model, d, d, seed, unit, range);
                tile.program(&identity);
                Some(Box::new(tile))
            }
            _ => None,
        };
        Decorrelator {
            r: analog.as_ref().map_or(identity, |t| t.weights()),
            analog,
            rule,
            precision,
            lr,
            sq: vec![0.0; d],
            reuse: None,
        }
    }

    /// x = R h for a batch (`d × B`); on an analog decorrelator a measured read.
    pub(super) fn apply(&mut self, h: &DMatrix<f32>, x: &mut DMatrix<f32>, c: &mut Counters) {
        if let Some(tile) = &mut self.analog {
            return tile.read(h, x, c);
        }
        gemm(x, 0.0, 1.0, &self.r, Op::N, h, Op::N);
        let (d, b) = h.shape();
        c.digital_ops += 2 * (d * d * b) as u64;
    }

    /// Like [`Decorrelator::apply`], but when `h` and R are bit for bit those of the previous
    /// call, copies that call's product instead of recomputing it. The passes of one training
    /// step all feed the first layer the same batch through the same R, so its d²·B product
    /// (the largest of a CIFAR-sized step) is needed once, not once per pass. The circuit
    /// itself would compute it every time: it is counted every time. An analog read gets
    /// fresh noise, so it is never reused.
    pub(super) fn apply_reusing(
        &mut self,
        h: &DMatrix<f32>,
        x: &mut DMatrix<f32>,
        c: &mut Counters,
    ) {
        if self.analog.is_some() {
            return self.apply(h, x, c);
        }
        let (d, b) = h.shape();
        c.digital_ops += 2 * (d * d * b) as u64;
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

    /// One step of the decorrelation rule from the inputs `x` (`d × B`) this layer saw.
    ///
    /// The element-wise parts (⟨x_i²⟩ over row blocks, the update of R over column blocks)
    /// run in parallel when this thread's setting allows, each entry summed in sample order,
    /// so the result does not depend on the thread count.
    pub(super) fn update(&mut self, x: &DMatrix<f32>, c: &mut Counters) {
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
        let coefficients = self.coefficients(d);
        let lr = self.lr;
        match &mut self.analog {
            None => {
                // u ← ⟨xxᵀ⟩·R, by the cheaper order: (x·(xᵀR))/B costs 2Bd², (xxᵀ/B)·R costs
                // Bd² + d³.
                if d <= b {
                    t.shape(d, d);
                    gemm(&mut t.m, 0.0, inv_b, x, Op::N, x, Op::T);
                    u.shape(d, d);
                    gemm(&mut u.m, 0.0, 1.0, &t.m, Op::N, &self.r, Op::N);
                    c.digital_ops += 2 * (d * d * b + d * d * d) as u64;
                } else {
                    t.shape(b, d);
                    gemm(&mut t.m, 0.0, 1.0, x, Op::T, &self.r, Op::N);
                    u.shape(d, d);
                    gemm(&mut u.m, 0.0, inv_b, x, Op::N, &t.m, Op::N);
                    c.digital_ops += 4 * (d * d * b) as u64;
                }
                let fixed = match self.precision {
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
        c.digital_ops += 4 * (d * d) as u64;
        SCRATCH.with(|s| *s.borrow_mut() = (t, u));
    }

    /// Per rule, the update direction from u = ⟨xxᵀ⟩R, R and diag(⟨x²⟩) is
    /// `a·(u − [diag(⟨x²⟩)]·R) + extra·R`, the bracket present when `diag_out`:
    ///   plain:  a = 1, extra = 0, diag out (C R = offdiag(⟨xxᵀ⟩) R)
    ///   kappa:  a = (1−κ)/(d−1), extra = 2κ·v with v = mean_i(⟨x_i²⟩ − 1), diag out
    ///   whiten: a = 1, extra = −1, diag kept ((⟨xxᵀ⟩ − I) R)
    fn coefficients(&self, d: usize) -> Coefficients {
        match self.rule {
            DecorRule::Plain => Coefficients {
                a: 1.0,
                extra: 0.0,
                diag_out: true,
            },
            DecorRule::Kappa { kappa } => {
                let v = self.sq.iter().map(|s| s - 1.0).sum::<f32>() / d as f32;
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
}

/// See [`Decorrelator::coefficients`].
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
