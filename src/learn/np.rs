//! Classic node perturbation (oracle: reads the injected noise).
//!
//! A clean pass and K noisy passes with ε_l ~ N(0, σ²I) added to every pre-activation:
//! g_W_l = (δℓ/σ²)·ε_l x_lᵀ, g_b_l = (δℓ/σ²)·ε_l, x_l from the clean pass. Unbiased for small σ:
//! E[ε εᵀ] = σ²I turns E[δℓ ε] into σ² ∂ℓ/∂a.

use super::estimator::{mean, BatchStats, Gradients, RuleError, Workspace};
use super::loss::Loss;
use super::rule::RuleSpec;
use crate::chip::{InjectedNoise, Pass, Phase, Port};
use nalgebra::DMatrix;

/// σ² of a readable source (as declared), or the reason there is none.
pub(crate) fn readable_sigma2(rule: &RuleSpec, port: &Port<'_>) -> Result<f32, RuleError> {
    match port.injected() {
        InjectedNoise::Readable { sigma } if sigma > 0.0 => Ok(sigma * sigma),
        InjectedNoise::None | InjectedNoise::Readable { .. } => {
            Err(RuleError::NoInjectedNoise(rule.to_string()))
        }
        InjectedNoise::Hidden { .. } => Err(RuleError::NoReadableNoise(rule.to_string())),
    }
}

pub(crate) fn estimate(
    rule: &RuleSpec,
    port: &mut Port<'_>,
    x: &DMatrix<f32>,
    targets: &DMatrix<f32>,
    loss: Loss,
    ws: &mut Workspace,
    g: &mut Gradients,
) -> Result<BatchStats, RuleError> {
    let sigma2 = readable_sigma2(rule, port)?;
    let why = rule.oracle_need().expect("np is an oracle rule");
    port.forward(x, Pass::Clean, Phase::Inference, &mut ws.first);
    loss.per_sample(ws.first.output(), targets, &mut ws.loss1);
    let k = rule.resamples.max(1);
    for rep in 0..k {
        port.forward(x, Pass::Noisy, Phase::Perturbation, &mut ws.second);
        loss.per_sample(ws.second.output(), targets, &mut ws.loss2);
        ws.acc.coef.clear();
        ws.acc.coef.extend(
            ws.loss2
                .iter()
                .zip(&ws.loss1)
                .map(|(l2, l1)| (l2 - l1) / sigma2),
        );
        let eps = port
            .oracle(why)
            .injected(&ws.second)
            .map_err(|e| RuleError::Refused(rule.to_string(), e))?;
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
