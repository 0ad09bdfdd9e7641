//! Activity-based node perturbation (ANP): clean–noisy and noisy–noisy.
//!
//! Physical: uses only measured activities and the loss. Per sample n, with
//! δa_l = a_l⁽²⁾ − a_l⁽¹⁾, ‖δa‖² = Σ_l ‖δa_l‖² and δℓ = ℓ⁽²⁾ − ℓ⁽¹⁾:
//! g_W_l = N·(δℓ/‖δa‖²)·δa_l x_l⁽¹⁾ᵀ, g_b_l = N·(δℓ/‖δa‖²)·δa_l.
//! A sample with ‖δa‖² = 0 (no noise reached it) contributes nothing and is counted.

use super::estimator::{mean, BatchStats, Gradients, Workspace};
use super::loss::Loss;
use super::rule::{Family, RuleSpec};
use crate::chip::{Chip, Pass, Phase};
use nalgebra::DMatrix;

pub(crate) fn estimate(rule: &RuleSpec, chip: &mut Chip, x: &DMatrix<f32>, targets: &DMatrix<f32>, loss: Loss, ws: &mut Workspace, g: &mut Gradients) -> BatchStats {
    let first_pass = if rule.family == Family::AnpNoisyNoisy { Pass::Noisy } else { Pass::Clean };
    chip.forward(x, first_pass, Phase::Inference, &mut ws.first);
    loss.per_sample(ws.first.output(), targets, &mut ws.loss1);
    let (depth, b, n_units) = (chip.depth(), x.ncols(), chip.n_units() as f32);
    ws.delta.resize_with(depth, || DMatrix::zeros(0, 0));
    let k = rule.resamples.max(1);
    let mut skipped = 0;
    for rep in 0..k {
        chip.forward(x, Pass::Noisy, Phase::Perturbation, &mut ws.second);
        loss.per_sample(ws.second.output(), targets, &mut ws.loss2);
        let mut norm2 = vec![0.0f32; b];
        for l in 0..depth {
            let d = &mut ws.delta[l];
            d.clone_from(&ws.second.pre()[l]);
            *d -= &ws.first.pre()[l];
            for (j, col) in d.column_iter().enumerate() {
                norm2[j] += col.norm_squared();
            }
        }
        ws.acc.coef.clear();
        for (j, &n2) in norm2.iter().enumerate() {
            if n2 > 0.0 && n2.is_finite() {
                ws.acc.coef.push(n_units * (ws.loss2[j] - ws.loss1[j]) / n2);
            } else {
                ws.acc.coef.push(0.0);
                skipped += 1;
            }
        }
        for l in 0..depth {
            ws.acc.accumulate(g, l, &ws.delta[l], &ws.first.inputs()[l], k, rep > 0);
        }
    }
    BatchStats { loss: mean(&ws.loss1), skipped, ..Default::default() }
}
