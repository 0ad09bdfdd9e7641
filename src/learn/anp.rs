//! Activity-based node perturbation (ANP): clean–noisy and noisy–noisy.
//!
//! Physical: uses only measured activities and the loss. Per sample n, with
//! δa_l = a_l⁽²⁾ − a_l⁽¹⁾, ‖δa‖² = Σ_l ‖δa_l‖² and δℓ = ℓ⁽²⁾ − ℓ⁽¹⁾:
//! g_W_l = N·(δℓ/‖δa‖²)·δa_l x_l⁽¹⁾ᵀ, g_b_l = N·(δℓ/‖δa‖²)·δa_l.
//! ‖δa‖² and N run over every node of every layer, a conv layer's channels × positions
//! included. A sample with ‖δa‖² = 0 (no noise reached it) contributes nothing and is counted.

use super::estimator::{mean, BatchStats, Gradients, Workspace};
use super::loss::Loss;
use super::rule::{Family, RuleSpec};
use crate::chip::{Pass, Phase, Port};
use crate::linalg::{for_pieces2, piece_cols, sum_squares};
use nalgebra::DMatrix;

pub(crate) fn estimate(
    rule: &RuleSpec,
    port: &mut Port<'_>,
    x: &DMatrix<f32>,
    targets: &DMatrix<f32>,
    loss: Loss,
    ws: &mut Workspace,
    g: &mut Gradients,
) -> BatchStats {
    let first_pass = if rule.family == Family::AnpNoisyNoisy {
        Pass::Noisy
    } else {
        Pass::Clean
    };
    port.forward(x, first_pass, Phase::Inference, &mut ws.first);
    loss.per_sample(ws.first.output(), targets, &mut ws.loss1);
    let (depth, b, n_units) = (port.depth(), x.ncols(), port.n_units() as f32);
    let k = rule.resamples.max(1);
    let mut skipped = 0;
    for rep in 0..k {
        port.forward(x, Pass::Noisy, Phase::Perturbation, &mut ws.second);
        loss.per_sample(ws.second.output(), targets, &mut ws.loss2);
        // δa_l = a_l⁽²⁾ − a_l⁽¹⁾, written over pass (2)'s activities (nothing reads them after
        // its loss), and per sample ‖δa‖² = Σ_l ‖δa_l‖² (into coef, then turned into the
        // coefficient in place): one pass over column blocks per layer, no allocation.
        let norm2 = &mut ws.acc.coef;
        norm2.clear();
        norm2.resize(b, 0.0);
        for l in 0..depth {
            let a1 = ws.first.pre()[l].as_slice();
            let d = &mut ws.second.pre_mut()[l];
            // Per sample, all its nodes: a conv map's channels × positions are contiguous.
            let n = d.len() / b;
            let pc = piece_cols(n);
            for_pieces2(d.as_mut_slice(), pc * n, norm2, pc, |p, dp, np| {
                for (jj, (col, n2)) in dp.chunks_mut(n).zip(np.iter_mut()).enumerate() {
                    let j = p * pc + jj;
                    col.iter_mut()
                        .zip(&a1[j * n..(j + 1) * n])
                        .for_each(|(v2, &v1)| *v2 -= v1);
                    *n2 += sum_squares(col);
                }
            });
        }
        for (j, c) in ws.acc.coef.iter_mut().enumerate() {
            let n2 = *c;
            if n2 > 0.0 && n2.is_finite() {
                *c = n_units * (ws.loss2[j] - ws.loss1[j]) / n2;
            } else {
                *c = 0.0;
                skipped += 1;
            }
        }
        for l in 0..depth {
            ws.acc.accumulate_in_place(
                g,
                l,
                &mut ws.second.pre_mut()[l],
                &ws.first.inputs()[l],
                k,
                rep > 0,
            );
        }
    }
    BatchStats {
        loss: mean(&ws.loss1),
        skipped,
        ..Default::default()
    }
}
