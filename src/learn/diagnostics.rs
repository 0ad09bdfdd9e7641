//! Simulation-only diagnostics (oracle): how well a rule's estimate aligns with the true
//! gradient, and how decorrelated each layer's input is.
//!
//! These are the lab's measurements, not a rule: [`alignment`] works on a twin of the chip
//! ([`Chip::twin`]), so its passes draw no noise from the chip's streams, program nothing,
//! count nothing and record no oracle use on it. A run with `--diagnostics` ends with the
//! same weights and counters, bit for bit, as one without.

use super::bp::backward;
use super::estimator::{estimate, Accumulator, Gradients, Workspace};
use super::loss::Loss;
use super::rule::RuleSpec;
use crate::chip::{mean_abs_offdiag_correlation, Chip, ForwardTrace, Port};
use nalgebra::DMatrix;

/// Cosine similarity of two equally shaped matrices (0 when either is zero).
pub fn cosine(a: &DMatrix<f32>, b: &DMatrix<f32>) -> f32 {
    let (na, nb) = (a.norm(), b.norm());
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        a.dot(b) / (na * nb)
    }
}

/// The true gradient (batch mean) of the float network the chip behind `port`
/// approximates, per layer (an oracle use, recorded on that chip).
pub fn true_gradient(
    port: &mut Port<'_>,
    x: &DMatrix<f32>,
    targets: &DMatrix<f32>,
    loss: Loss,
) -> Vec<DMatrix<f32>> {
    let depth = port.depth();
    let oracle = port.oracle("diagnostics: true gradient");
    let mut trace = ForwardTrace::default();
    oracle.float_forward(x, &mut trace);
    let (mut delta, mut b1, mut b2) = (Vec::new(), DMatrix::zeros(0, 0), DMatrix::zeros(0, 0));
    backward(&oracle, &trace, targets, loss, &mut delta, &mut b1, &mut b2);
    let mut acc = Accumulator {
        coef: vec![1.0; x.ncols()],
        ..Default::default()
    };
    let mut g = Gradients::default();
    g.w.resize_with(depth, || DMatrix::zeros(0, 0));
    g.b.resize_with(depth, Default::default);
    for (l, d) in delta.iter().enumerate() {
        acc.accumulate(&mut g, l, d, &trace.inputs()[l], 1, false);
    }
    g.w
}

/// Per layer, the cosine between one estimate by `rule` on this batch and the true gradient.
/// Runs on a twin of `chip` (see the module docs): `chip` itself is left exactly as it was.
pub fn alignment(
    rule: &RuleSpec,
    chip: &Chip,
    x: &DMatrix<f32>,
    targets: &DMatrix<f32>,
    loss: Loss,
) -> Vec<f32> {
    let mut twin = chip.twin();
    let mut port = twin.port();
    let truth = true_gradient(&mut port, x, targets, loss);
    let (mut ws, mut g) = (Workspace::default(), Gradients::default());
    match estimate(rule, &mut port, x, targets, loss, &mut ws, &mut g) {
        Ok(_) => g.w.iter().zip(&truth).map(|(e, t)| cosine(e, t)).collect(),
        Err(_) => vec![f32::NAN; truth.len()],
    }
}

/// Per layer, the mean |off-diagonal correlation| of the inputs the layer saw in `trace`.
pub fn decorrelation_quality(trace: &ForwardTrace) -> Vec<f32> {
    trace
        .inputs()
        .iter()
        .map(mean_abs_offdiag_correlation)
        .collect()
}
