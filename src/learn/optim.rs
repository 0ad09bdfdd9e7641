//! Optimisers: turn a gradient estimate into the weight change sent to the programming
//! circuit. SGD is the hardware-natural default; Adam needs per-weight digital state (a
//! co-processor), whose memory and operations are counted.

use crate::linalg::{for_pieces, for_pieces3, PIECE};
use nalgebra::{DMatrix, DVector};

/// Which optimiser.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerKind {
    /// W ← W − η g.
    Sgd,
    /// Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8), bias-corrected.
    Adam,
}

/// Digital operations per parameter per step (for pricing).
pub fn ops_per_param(kind: OptimizerKind) -> u64 {
    match kind {
        OptimizerKind::Sgd => 1,
        // two moment updates (3 ops each), bias corrections (2), sqrt, add, divide, scale.
        OptimizerKind::Adam => 12,
    }
}

/// Optimiser state for all layers.
pub struct Optimizer {
    /// Which rule.
    pub kind: OptimizerKind,
    /// Learning rate η.
    pub lr: f32,
    /// Steps taken (Adam's bias correction).
    pub t: u64,
    /// First moments (W then b per layer); empty for SGD.
    pub m: Vec<(DMatrix<f32>, DVector<f32>)>,
    /// Second moments; empty for SGD.
    pub v: Vec<(DMatrix<f32>, DVector<f32>)>,
}

const B1: f32 = 0.9;
const B2: f32 = 0.999;
const EPS: f32 = 1e-8;

impl Optimizer {
    /// Fresh state for layers of the given `(rows, cols)` shapes.
    pub fn new(kind: OptimizerKind, lr: f32, shapes: &[(usize, usize)]) -> Self {
        let zeros = || {
            shapes
                .iter()
                .map(|&(r, c)| (DMatrix::zeros(r, c), DVector::zeros(r)))
                .collect()
        };
        let (m, v) = match kind {
            OptimizerKind::Sgd => (Vec::new(), Vec::new()),
            OptimizerKind::Adam => (zeros(), zeros()),
        };
        Optimizer {
            kind,
            lr,
            t: 0,
            m,
            v,
        }
    }

    /// Advances the step counter; call once per batch before [`Optimizer::delta`].
    pub fn begin_step(&mut self) {
        self.t += 1;
    }

    /// Replaces the gradient `gw`, `gb` of layer `l` by the change to apply (−η·direction).
    pub fn delta(&mut self, l: usize, gw: &mut DMatrix<f32>, gb: &mut DVector<f32>) {
        let lr = self.lr;
        match self.kind {
            OptimizerKind::Sgd => {
                for_pieces(gw.as_mut_slice(), PIECE, |_, p| {
                    #[allow(clippy::redundant_locals)]
                    // a local copy: a register, not a load per element
                    let lr = lr;
                    p.iter_mut().for_each(|g| *g *= -lr)
                });
                gb.iter_mut().for_each(|g| *g *= -lr);
            }
            OptimizerKind::Adam => {
                let t = self.t.max(1) as i32;
                let step = lr * (1.0 - B2.powi(t)).sqrt() / (1.0 - B1.powi(t));
                let (mw, mb) = &mut self.m[l];
                let (vw, vb) = &mut self.v[l];
                adam(
                    gw.as_mut_slice(),
                    mw.as_mut_slice(),
                    vw.as_mut_slice(),
                    step,
                );
                adam(
                    gb.as_mut_slice(),
                    mb.as_mut_slice(),
                    vb.as_mut_slice(),
                    step,
                );
            }
        }
    }
}

/// One Adam step over fixed pieces (parallel when this thread's setting allows; every
/// parameter is independent, so the result does not depend on the thread count).
fn adam(g: &mut [f32], m: &mut [f32], v: &mut [f32], step: f32) {
    for_pieces3(g, m, v, PIECE, |g, m, v| {
        #[allow(clippy::redundant_locals)] // a local copy: a register, not a load per element
        let step = step;
        for ((g, m), v) in g.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = B1 * *m + (1.0 - B1) * *g;
            *v = B2 * *v + (1.0 - B2) * *g * *g;
            *g = -step * *m / (v.sqrt() + EPS);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_adam_step_is_lr_times_sign() {
        let mut o = Optimizer::new(OptimizerKind::Adam, 0.01, &[(2, 1)]);
        o.begin_step();
        let mut gw = DMatrix::from_column_slice(2, 1, &[3.0, -0.5]);
        let mut gb = DVector::from_column_slice(&[0.2, 0.0]);
        o.delta(0, &mut gw, &mut gb);
        assert!((gw[0] + 0.01).abs() < 1e-6 && (gw[1] - 0.01).abs() < 1e-6);
        assert!((gb[0] + 0.01).abs() < 1e-6 && gb[1] == 0.0);
    }

    #[test]
    fn sgd_is_minus_lr_times_gradient() {
        let mut o = Optimizer::new(OptimizerKind::Sgd, 0.5, &[(1, 1)]);
        let mut gw = DMatrix::from_element(1, 1, 2.0);
        let mut gb = DVector::from_element(1, -4.0);
        o.delta(0, &mut gw, &mut gb);
        assert_eq!((gw[0], gb[0]), (-1.0, 2.0));
    }
}
