//! Iterative node perturbation (oracle: reads the injected noise).
//!
//! For each layer l separately, K passes with noise in layer l only (δa_l = ε_l):
//! g_W_l = N_l·(δℓ⁽ˡ⁾/‖δa_l‖²)·δa_l x_lᵀ. L·K + 1 passes per sample.

use super::estimator::{mean, BatchStats, Gradients, RuleError, Workspace};
use super::loss::Loss;
use super::np::readable_sigma2;
use super::rule::RuleSpec;
use crate::chip::{Pass, Phase, Port};
use nalgebra::DMatrix;

pub(crate) fn estimate(
    rule: &RuleSpec,
    port: &mut Port<'_>,
    x: &DMatrix<f32>,
    targets: &DMatrix<f32>,
    loss: Loss,
    ws: &mut Workspace,
    g: &mut Gradients,
) -> Result<BatchStats, RuleError> {
    readable_sigma2(rule, port)?;
    let why = rule.oracle_need().expect("inp is an oracle rule");
    port.forward(x, Pass::Clean, Phase::Inference, &mut ws.first);
    loss.per_sample(ws.first.output(), targets, &mut ws.loss1);
    let k = rule.resamples.max(1);
    let mut skipped = 0;
    for l in 0..port.depth() {
        let n_l = port.sizes()[l + 1] as f32;
        for rep in 0..k {
            port.forward(x, Pass::NoisyLayer(l), Phase::Perturbation, &mut ws.second);
            loss.per_sample(ws.second.output(), targets, &mut ws.loss2);
            let eps = &port
                .oracle(why)
                .injected(&ws.second)
                .map_err(|e| RuleError::Refused(rule.to_string(), e))?[l];
            ws.acc.coef.clear();
            // Per sample, all of layer l's nodes (a conv map's channels × positions).
            let per = eps.len() / x.ncols();
            for (j, col) in eps.as_slice().chunks(per).enumerate() {
                let n2 = nalgebra::DVectorView::from_slice(col, per).norm_squared();
                if n2 > 0.0 {
                    ws.acc.coef.push(n_l * (ws.loss2[j] - ws.loss1[j]) / n2);
                } else {
                    ws.acc.coef.push(0.0);
                    skipped += 1;
                }
            }
            ws.acc
                .accumulate(g, l, eps, &ws.first.inputs()[l], k, rep > 0);
        }
    }
    Ok(BatchStats {
        loss: mean(&ws.loss1),
        skipped,
        ..Default::default()
    })
}
