//! The local decorrelation circuit in front of each layer: x = R h, with R learned from the
//! layer's own inputs so that their off-diagonal correlations vanish.
//!
//! R is a digital matrix (f32, or fixed point with a given number of bits). Its cost is
//! counted: a forward product is d²·B multiply-adds per batch, an update 2·B·d² or B·d² + d³,
//! whichever is cheaper for this batch size (see `update`).

use super::energy::Counters;
use crate::linalg::{gemm, Op};
use nalgebra::DMatrix;

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
}

pub(crate) struct Decorrelator {
    pub(crate) r: DMatrix<f32>,
    rule: DecorRule,
    precision: DecorPrecision,
    lr: f32,
    t: DMatrix<f32>,
    u: DMatrix<f32>,
    sq: Vec<f32>,
}

impl Decorrelator {
    pub(crate) fn new(d: usize, rule: DecorRule, precision: DecorPrecision, lr: f32) -> Self {
        Decorrelator {
            r: DMatrix::identity(d, d),
            rule,
            precision,
            lr,
            t: DMatrix::zeros(0, 0),
            u: DMatrix::zeros(0, 0),
            sq: vec![0.0; d],
        }
    }

    /// x = R h for a batch (`d × B`).
    pub(crate) fn apply(&self, h: &DMatrix<f32>, x: &mut DMatrix<f32>, c: &mut Counters) {
        gemm(x, 0.0, 1.0, &self.r, Op::N, h, Op::N);
        let (d, b) = h.shape();
        c.digital_ops += 2 * (d * d * b) as u64;
    }

    /// One step of the decorrelation rule from the inputs `x` (`d × B`) this layer saw.
    pub(crate) fn update(&mut self, x: &DMatrix<f32>, c: &mut Counters) {
        let (d, b) = x.shape();
        let inv_b = 1.0 / b as f32;
        for (i, s) in self.sq.iter_mut().enumerate() {
            *s = x.row(i).norm_squared() * inv_b;
        }
        // u ← ⟨xxᵀ⟩·R, by the cheaper order: (x·(xᵀR))/B costs 2Bd², (xxᵀ/B)·R costs Bd² + d³.
        if d <= b {
            gemm(&mut self.t, 0.0, inv_b, x, Op::N, x, Op::T);
            gemm(&mut self.u, 0.0, 1.0, &self.t, Op::N, &self.r, Op::N);
            c.digital_ops += 2 * (d * d * b + d * d * d) as u64;
        } else {
            gemm(&mut self.t, 0.0, 1.0, x, Op::T, &self.r, Op::N);
            gemm(&mut self.u, 0.0, inv_b, x, Op::N, &self.t, Op::N);
            c.digital_ops += 4 * (d * d * b) as u64;
        }
        // Per rule, the update direction from u = ⟨xxᵀ⟩R and diag(⟨x²⟩):
        //   plain:  C R = u − diag(⟨x²⟩) R
        //   kappa:  a·(u − diag R) + 2κ v R
        //   whiten: u − R
        let lr = self.lr;
        let (a, extra, diag_out) = match self.rule {
            DecorRule::Plain => (1.0, 0.0, true),
            DecorRule::Kappa { kappa } => {
                let v = self.sq.iter().map(|s| s - 1.0).sum::<f32>() / d as f32;
                ((1.0 - kappa) / (d.max(2) - 1) as f32, 2.0 * kappa * v, true)
            }
            DecorRule::Whiten => (1.0, -1.0, false),
        };
        for j in 0..d {
            for i in 0..d {
                let r_ij = self.r[(i, j)];
                let mut g = self.u[(i, j)];
                if diag_out {
                    g -= self.sq[i] * r_ij;
                }
                self.r[(i, j)] = r_ij - lr * (a * g + extra * r_ij);
            }
        }
        c.digital_ops += 4 * (d * d) as u64;
        if let DecorPrecision::Fixed { bits, bound } = self.precision {
            let step = bound / ((1u32 << (bits - 1)) - 1) as f32;
            for v in self.r.iter_mut() {
                *v = ((v.clamp(-bound, bound)) / step).round() * step;
            }
        }
    }
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
