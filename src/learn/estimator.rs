//! The controller's gradient estimate for one batch, and the workspace it reuses.
//!
//! Every rule ends in the same shape: per layer, g_W = (1/B) Σ_n c_n · u_n x_nᵀ and
//! g_b = (1/B) Σ_n c_n · u_n, with u a per-sample direction (δa, ε or a backpropagated δ) and
//! c_n a per-sample scalar. [`Workspace::accumulate`] does that with one matrix product.
//!
//! A conv layer's directions and inputs have one column per sample and position (`N × B·P`,
//! `patch × B·P`, sample n's P columns together): its estimate is the sum over positions of
//! δa ⊗ patch, which is the same one product over all B·P columns, c_n scaling all P columns
//! of sample n, and the mean taken over the B samples, not the B·P columns.

use super::loss::{correct, Loss};
use super::rule::{Family, RuleSpec};
use crate::chip::{ForwardTrace, OracleRefusal, Phase, Port};
use crate::linalg::{for_pieces, gemm, piece_cols, Op};
use nalgebra::{DMatrix, DVector};

/// Per-layer gradient estimates (batch means).
#[derive(Default)]
pub struct Gradients {
    /// g_W per layer.
    pub w: Vec<DMatrix<f32>>,
    /// g_b per layer.
    pub b: Vec<DVector<f32>>,
}

/// What one estimate measured along the way.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchStats {
    /// Mean loss of the first (clean or first noisy) pass.
    pub loss: f64,
    /// Correct predictions in the first pass.
    pub correct: usize,
    /// Samples in the batch.
    pub samples: usize,
    /// Samples whose perturbation was zero (‖δa‖² = 0): no update from them.
    pub skipped: usize,
}

/// Why an estimate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// NP/INP without a readable noise source.
    #[error("rule `{0}` reads the injected noise, but the noise source is not readable: use --inject readable:SIGMA")]
    NoReadableNoise(String),
    /// NP/INP without any injected noise.
    #[error("rule `{0}` needs an injected noise source (--inject readable:SIGMA)")]
    NoInjectedNoise(String),
    /// The chip's oracle refused to hand out the injected noise.
    #[error("rule `{0}`: {1}")]
    Refused(String, OracleRefusal),
}

/// Buffers reused across batches: no allocation in the steady state.
#[derive(Default)]
pub struct Workspace {
    /// Pass (1): clean, or the first noisy pass; decorrelators learn from its inputs.
    pub first: ForwardTrace,
    pub(crate) second: ForwardTrace,
    pub(crate) loss1: Vec<f32>,
    pub(crate) loss2: Vec<f32>,
    pub(crate) acc: Accumulator,
    pub(crate) delta: Vec<DMatrix<f32>>,
    pub(crate) back: DMatrix<f32>,
    pub(crate) back2: DMatrix<f32>,
}

/// Per-sample coefficients c_n and the scaled-direction buffer.
#[derive(Default)]
pub(crate) struct Accumulator {
    pub(crate) coef: Vec<f32>,
    pub(crate) scaled: DMatrix<f32>,
}

impl Accumulator {
    /// g_W[l] (+)= (1/(B·k)) (u · diag(c)) xᵀ, g_b[l] (+)= (1/(B·k)) (u · diag(c)) 1, with
    /// B = `coef.len()` samples; u has B·P columns (P positions per sample, 1 if dense).
    ///
    /// The scaling runs over column blocks and g_b over row blocks (each entry summed in
    /// sample order), in parallel when this thread's setting allows; no allocation once the
    /// buffers have their shapes.
    pub(crate) fn accumulate(
        &mut self,
        g: &mut Gradients,
        l: usize,
        u: &DMatrix<f32>,
        x: &DMatrix<f32>,
        k: usize,
        add: bool,
    ) {
        let (rows, cols) = u.shape();
        if self.scaled.shape() != u.shape() {
            self.scaled = DMatrix::zeros(rows, cols);
        }
        let n = u.len() / self.coef.len().max(1);
        let us = u.as_slice();
        scale_columns(&self.coef, self.scaled.as_mut_slice(), n, |j, col| {
            col.iter_mut()
                .zip(&us[j * n..(j + 1) * n])
                .for_each(|(s, &v)| *s = v)
        });
        finish(g, l, &self.scaled, x, self.coef.len() * k, add);
    }

    /// [`Accumulator::accumulate`] for a direction the caller no longer needs: `u` is scaled
    /// in place (it ends as u · diag(c)), which saves the scaled copy.
    pub(crate) fn accumulate_in_place(
        &mut self,
        g: &mut Gradients,
        l: usize,
        u: &mut DMatrix<f32>,
        x: &DMatrix<f32>,
        k: usize,
        add: bool,
    ) {
        let n = u.len() / self.coef.len().max(1);
        scale_columns(&self.coef, u.as_mut_slice(), n, |_, _| {});
        finish(g, l, u, x, self.coef.len() * k, add);
    }
}

/// `fill(j, block)` then block j ×= c_j, for every `n`-long block of `m` (sample j's columns),
/// over blocks of blocks (parallel when allowed).
fn scale_columns(
    coef: &[f32],
    m: &mut [f32],
    n: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    let pc = piece_cols(n);
    for_pieces(m, pc * n, |p, sp| {
        for (jj, col) in sp.chunks_mut(n).enumerate() {
            let j = p * pc + jj;
            fill(j, col);
            let c = coef[j];
            col.iter_mut().for_each(|s| *s *= c);
        }
    });
}

/// g_W[l] (+)= s xᵀ / `count` and g_b[l] (+)= s 1 / `count` for the scaled directions `s`
/// (count = samples × resamples).
fn finish(
    g: &mut Gradients,
    l: usize,
    s: &DMatrix<f32>,
    x: &DMatrix<f32>,
    count: usize,
    add: bool,
) {
    let (n, b) = s.shape();
    let alpha = 1.0 / count.max(1) as f32;
    gemm(
        &mut g.w[l],
        if add { 1.0 } else { 0.0 },
        alpha,
        s,
        Op::N,
        x,
        Op::T,
    );
    let gb = &mut g.b[l];
    if gb.len() != n {
        *gb = DVector::zeros(n);
    } else if !add {
        gb.fill(0.0);
    }
    const ROWS: usize = 128;
    let ss = s.as_slice();
    for_pieces(gb.as_mut_slice(), ROWS, |p, gp| {
        let (i0, alpha) = (p * ROWS, alpha);
        for j in 0..b {
            let col = &ss[j * n + i0..j * n + i0 + gp.len()];
            gp.iter_mut().zip(col).for_each(|(a, &v)| *a += alpha * v);
        }
    });
}

/// Estimates the batch-mean gradient with `rule` through the chip's `port`; the passes are
/// counted on the chip. Oracle rules ask the port for their view, which the chip records.
pub fn estimate(
    rule: &RuleSpec,
    port: &mut Port<'_>,
    x: &DMatrix<f32>,
    targets: &DMatrix<f32>,
    loss: Loss,
    ws: &mut Workspace,
    g: &mut Gradients,
) -> Result<BatchStats, RuleError> {
    let depth = port.depth();
    g.w.resize_with(depth, || DMatrix::zeros(0, 0));
    g.b.resize_with(depth, || DVector::zeros(0));
    let mut stats = match rule.family {
        Family::Bp => super::bp::estimate(port, x, targets, loss, ws, g),
        Family::Np => super::np::estimate(rule, port, x, targets, loss, ws, g)?,
        Family::Inp => super::inp::estimate(rule, port, x, targets, loss, ws, g)?,
        Family::Anp | Family::AnpNoisyNoisy => {
            super::anp::estimate(rule, port, x, targets, loss, ws, g)
        }
    };
    stats.samples = x.ncols();
    stats.correct = correct(ws.first.output(), targets);
    // The controller's arithmetic per layer: forming c·u (N·B·P) and the outer products
    // (2·N·d·B·P; P positions per sample, 1 if dense).
    for l in 0..depth {
        let ((n, d), p) = (port.weight_shape(l), port.network().layer(l).positions());
        port.count_digital(l, Phase::Update, ((n + 2 * n * d) * p * x.ncols()) as u64);
    }
    Ok(stats)
}

/// Mean of a slice as f64.
pub(crate) fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64
}
