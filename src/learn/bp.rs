//! Backpropagation, the digital reference (oracle: needs the programmed weights).
//!
//! The forward pass runs through the chip (its measured activations); the backward pass is
//! float arithmetic with the programmed weights and decorrelators: δ_L = ∂ℓ/∂a_L,
//! δ_{l−1} = f'(a_{l−1}) ⊙ R_lᵀ W_lᵀ δ_l, g_W_l = ⟨δ_l x_lᵀ⟩. On an ideal chip this is exact
//! backprop; on a noisy chip it is what a chip with a perfect digital backward path would do.
//!
//! Through a conv layer the same products run over all B·P patch columns, then col2im adds
//! each patch entry's gradient back onto the input element it came from; through a pool the
//! gradient goes to the window's maximum (max) or 1/size² to each entry (average).

use super::estimator::{mean, BatchStats, Gradients, Workspace};
use super::loss::Loss;
use crate::chip::conv::{col2im, pool_backward};
use crate::chip::{ForwardTrace, Oracle, Pass, Phase, Port};
use crate::linalg::{gemm, Op};
use nalgebra::DMatrix;

/// Why backprop asks for an oracle (the chip records it).
pub(crate) const WHY: &str = "bp: backward pass through the programmed weights";

pub(crate) fn estimate(
    port: &mut Port<'_>,
    x: &DMatrix<f32>,
    targets: &DMatrix<f32>,
    loss: Loss,
    ws: &mut Workspace,
    g: &mut Gradients,
) -> BatchStats {
    port.forward(x, Pass::Clean, Phase::Inference, &mut ws.first);
    loss.per_sample(ws.first.output(), targets, &mut ws.loss1);
    backward(
        &port.oracle(WHY),
        &ws.first,
        targets,
        loss,
        &mut ws.delta,
        &mut ws.back,
        &mut ws.back2,
    );
    ws.acc.coef.clear();
    ws.acc.coef.resize(x.ncols(), 1.0);
    for l in 0..port.depth() {
        ws.acc
            .accumulate(g, l, &ws.delta[l], &ws.first.inputs()[l], 1, false);
        // Backward products are digital work: 2·N·d·B·P per W product, 2·(entries of R)·B·P
        // per R product (P positions per sample, 1 if dense).
        let ((n, d), p) = (port.weight_shape(l), port.network().layer(l).positions());
        let r = port.decorrelator_entries(l);
        port.count_digital(l, Phase::Update, (2 * (n * d + r) * p * x.ncols()) as u64);
    }
    BatchStats {
        loss: mean(&ws.loss1),
        ..Default::default()
    }
}

/// Fills `delta[l]` = ∂ℓ_n/∂a_l for every sample, from a trace's activations.
pub(crate) fn backward(
    oracle: &Oracle<'_>,
    trace: &ForwardTrace,
    targets: &DMatrix<f32>,
    loss: Loss,
    delta: &mut Vec<DMatrix<f32>>,
    back: &mut DMatrix<f32>,
    back2: &mut DMatrix<f32>,
) {
    let depth = oracle.depth();
    delta.resize_with(depth, || DMatrix::zeros(0, 0));
    loss.gradient(trace.output(), targets, &mut delta[depth - 1]);
    let act = oracle.activation();
    let net = oracle.network();
    for l in (1..depth).rev() {
        let w = oracle.weights(l);
        gemm(back, 0.0, 1.0, &w, Op::T, &delta[l], Op::N);
        if let Some(r) = oracle.decorrelator(l) {
            gemm(back2, 0.0, 1.0, &r, Op::T, back, Op::N);
            std::mem::swap(back, back2);
        }
        // `back` now holds ∂ℓ/∂(layer l's input), patch-wise for a conv layer.
        if let Some(g) = net.layer(l).conv() {
            col2im(g, back, back2);
            std::mem::swap(back, back2);
        }
        if let Some(g) = net.layer(l - 1).conv().filter(|g| g.pool.is_some()) {
            pool_backward(g, &trace.pre()[l - 1], back, back2);
            std::mem::swap(back, back2);
        }
        // Element-wise over the same memory: a conv map's (C·P) × B is its C × B·P.
        let a = &trace.pre()[l - 1];
        let dl = &mut delta[l - 1];
        if dl.shape() != a.shape() {
            *dl = DMatrix::zeros(a.nrows(), a.ncols());
        }
        debug_assert_eq!(back.len(), a.len());
        for ((o, &u), &av) in dl.iter_mut().zip(back.iter()).zip(a.iter()) {
            *o = u * act.derivative(av);
        }
    }
}
