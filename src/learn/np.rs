//! Classic node perturbation (oracle: reads the injected noise).
//!
//! A clean pass and K noisy passes with ε_l ~ N(0, σ²I) added to every pre-activation:
//! g_W_l = (δℓ/σ²)·ε_l x_lᵀ, g_b_l = (δℓ/σ²)·ε_l, x_l from the clean pass. Unbiased for small σ:
//! E[ε εᵀ] = σ²I turns E[δℓ ε] into σ² ∂ℓ/∂a.

use super::estimator::{mean, BatchStats, Gradients, RuleError, Workspace};
use super::loss::Loss;
use super::rule::RuleSpec;
use crate::chip::{Chip, InjectedNoise, Oracle, Pass, Phase};
use nalgebra::DMatrix;

/// σ² of a readable source, or the reason there is none.
pub(crate) fn readable_sigma2(
    rule: &RuleSpec,
    chip: &Chip,
    oracle: Option<&Oracle>,
) -> Result<f32, RuleError> {
    oracle.ok_or_else(|| RuleError::NoOracle(rule.to_string()))?;
    match chip.config().injected {
        InjectedNoise::Readable { sigma } if sigma > 0.0 => Ok(sigma * sigma),
        InjectedNoise::None | InjectedNoise::Readable { .. } => {
            Err(RuleError::NoInjectedNoise(rule.to_string()))
        }
        InjectedNoise::Hidden { .. } => Err(RuleError::NoReadableNoise(rule.to_string())),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn estimate(
    rule: &RuleSpec,
    chip: &mut Chip,
    oracle: Option<&Oracle>,
    x: &DMatrix<f32>,
    targets: &DMatrix<f32>,
    loss: Loss,
    ws: &mut Workspace,
    g: &mut Gradients,
) -> Result<BatchStats, RuleError> {
    let sigma2 = readable_sigma2(rule, chip, oracle)?;
    let oracle = oracle.expect("checked above");
    chip.forward(x, Pass::Clean, Phase::Inference, &mut ws.first);
    loss.per_sample(ws.first.output(), targets, &mut ws.loss1);
    let k = rule.resamples.max(1);
    for rep in 0..k {
        chip.forward(x, Pass::Noisy, Phase::Perturbation, &mut ws.second);
        loss.per_sample(ws.second.output(), targets, &mut ws.loss2);
        ws.acc.coef.clear();
        ws.acc.coef.extend(
            ws.loss2
                .iter()
                .zip(&ws.loss1)
                .map(|(l2, l1)| (l2 - l1) / sigma2),
        );
        let eps = oracle
            .injected(&ws.second)
            .expect("readable source checked above");
        for (l, e) in eps.iter().enumerate() {
            ws.acc
                .accumulate(g, l, e, &ws.first.inputs()[l], k, rep > 0);
        }
    }
    Ok(BatchStats {
        loss: mean(&ws.loss1),
        ..Default::default()
    })
}
