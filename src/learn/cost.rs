//! The floating-point work one training step needs, for a network of layer kinds: what a
//! benchmark divides by the step time to compare with the machine's GEMM rate.
//!
//! Per layer with weight matrix n × d read at P positions per sample (P = 1 for a dense layer),
//! c = B·P columns per pass and, with decorrelation, R of diagonal blocks d_b × d_b (one block
//! d_b = d, or with `decor_blocks = array` one per physical array's input slice, Σ d_b = d):
//! * forward passes: passes × 2·n·d·c, and R·patches Σ_b 2·d_b²·c per pass (layer 1's once per
//!   step, as the simulator reuses it; the chip's counters count it every pass);
//! * the estimate: NP-type rules one outer product 2·n·d·c per noisy pass; BP the update
//!   product plus, for layers 2..L, the backward products 2·n·d·c + Σ_b 2·d_b²·c;
//! * the update of R, per block the cheaper of 4·d_b²·c' and 2·d_b²·c' + 2·d_b³, on c' = m
//!   columns for a dense layer and ⌈m·P/s⌉ patches for a conv layer
//!   ([`crate::chip::patch_stride`]), m = ⌈F·B⌉ the samples `decor_sample` F keeps; with
//!   `decor_every` k it runs at one step in k, so a step's average is 1/k of it;
//! * a layer `decor_layers` leaves out has neither R·patches nor an update.
//!
//! im2col, col2im, pooling, element-wise work (R's O(d_b²) element-wise step included) and
//! pulses are left out. The counts are those the chip records in its decorrelation counters
//! (two float ops or one fixed-point multiply-add per MAC; `lab::step_cost_tests` checks it).

use super::rule::{Family, RuleSpec};
use crate::chip::conv::Network;
use crate::chip::latency::decorrelator_blocks;
use crate::chip::{patch_stride, ChipModel, DecorBlocks, DecorConfig, DecorLayers, DecorThinning};
use crate::linalg::gemm_flops;

/// What of the decorrelators' configuration changes a step's work: the thinning, the block
/// layout with the array rows it splits by, and which layers have one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecorWork {
    /// `decor_sample` and `decor_every`.
    pub thin: DecorThinning,
    /// Full R or one block per array's input slice.
    pub blocks: DecorBlocks,
    /// Which layers have a decorrelator.
    pub layers: DecorLayers,
    /// Input rows of one physical array (`usize::MAX` or 0: unbounded), what blocks split by.
    pub array_rows: usize,
}

impl Default for DecorWork {
    /// Full R on every layer, updated every step from every sample.
    fn default() -> Self {
        DecorWork {
            thin: DecorThinning::default(),
            blocks: DecorBlocks::Full,
            layers: DecorLayers::All,
            array_rows: usize::MAX,
        }
    }
}

impl DecorWork {
    /// The work-relevant part of `cfg` on `model`'s arrays.
    pub fn of(cfg: &DecorConfig, model: &ChipModel) -> Self {
        DecorWork {
            thin: cfg.thin,
            blocks: cfg.blocks,
            layers: cfg.layers,
            array_rows: model.array_limits().0,
        }
    }
}

/// A step's FLOPs: the total, and per layer the decorrelator's part of it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepCost {
    /// Everything (what [`step_flops`] returns).
    pub total: f64,
    /// Per layer, R·patches over the step's passes (layer 1's once; 0 without a decorrelator).
    pub decor_forward: Vec<f64>,
    /// Per layer, the update of R, averaged per step over `decor_every`.
    pub decor_update: Vec<f64>,
}

impl StepCost {
    /// The updates of R over all layers.
    pub fn decor_update_total(&self) -> f64 {
        self.decor_update.iter().sum()
    }
}

/// FLOPs of one step of `rule` on `net` with `batch` samples and the decorrelators of `decor`
/// (see the module docs).
pub fn step_flops(rule: &RuleSpec, net: &Network, batch: usize, decor: &DecorWork) -> f64 {
    step_cost(rule, net, batch, decor).total
}

/// [`step_flops`] with the decorrelators' part per layer.
pub fn step_cost(rule: &RuleSpec, net: &Network, batch: usize, decor: &DecorWork) -> StepCost {
    let k = rule.resamples.max(1);
    let passes = rule.passes(net.layers().len()) as f64;
    let mut cost = StepCost::default();
    for (l, layer) in net.layers().iter().enumerate() {
        let ((n, d), p) = (layer.weight_shape(), layer.positions());
        let c = batch * p;
        let tile = gemm_flops(n, d, c);
        let blocks = if rule.decorrelated && decor.layers.includes(l) {
            decorrelator_blocks(d, decor.blocks, decor.array_rows)
        } else {
            Vec::new()
        };
        let r: f64 = blocks.iter().map(|&b| gemm_flops(b, b, c)).sum();
        let forward = if l == 0 { r } else { passes * r };
        cost.total += passes * tile + forward;
        cost.total += match rule.family {
            Family::Bp => tile + if l > 0 { tile + r } else { 0.0 },
            Family::Np | Family::Anp | Family::AnpNoisyNoisy | Family::Inp => k as f64 * tile,
        };
        let m = decor.thin.samples_of(batch);
        let cu = if layer.conv().is_some() {
            (m * p).div_ceil(patch_stride(p))
        } else {
            m
        };
        let update = blocks
            .iter()
            .map(|&b| (2.0 * gemm_flops(b, cu, b)).min(gemm_flops(b, cu, b) + gemm_flops(b, b, b)))
            .sum::<f64>()
            / f64::from(decor.thin.every.max(1));
        cost.total += update;
        cost.decor_forward.push(forward);
        cost.decor_update.push(update);
    }
    cost
}

/// The step's matrix products `(m, k, n)` per layer (forward read, R·patches, R update), the
/// shapes at which a benchmark measures the reference GEMM rate.
pub fn step_shapes(rule: &RuleSpec, net: &Network, batch: usize) -> Vec<(usize, usize, usize)> {
    let mut v = Vec::new();
    for layer in net.layers() {
        let ((n, d), p) = (layer.weight_shape(), layer.positions());
        v.push((n, d, batch * p));
        if rule.decorrelated {
            v.push((d, d, batch * p));
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conv_layer_costs_its_kernel_at_every_position() {
        // conv8k3p1 on 1×4×4: 8 × 9 kernel at 16 positions; fc10 on 128 inputs.
        let net = "conv8k3p1,fc10"
            .parse::<crate::chip::NetSpec>()
            .unwrap()
            .resolve((1, 4, 4), 10)
            .unwrap();
        let r: RuleSpec = "anp-nn".parse().unwrap();
        let b = 10;
        let conv = gemm_flops(8, 9, b * 16);
        let fc = gemm_flops(10, 128, b);
        // Two passes and one outer product per layer.
        assert_eq!(
            step_flops(&r, &net, b, &DecorWork::default()),
            3.0 * (conv + fc)
        );
    }

    /// One dense layer 8 → 3, batch 10, noisy–noisy DANP (two passes): the decorrelator's
    /// forward and update FLOPs by hand for each option, and the rest unchanged.
    #[test]
    fn each_decorrelator_option_costs_its_closed_form() {
        let net = Network::dense(&[8, 3]);
        let rule: RuleSpec = "danp-nn".parse().unwrap();
        let plain: RuleSpec = "anp-nn".parse().unwrap();
        let b = 10;
        let base = step_flops(&plain, &net, b, &DecorWork::default());
        assert_eq!(base, 3.0 * 2.0 * 3.0 * 8.0 * 10.0);
        let cost = |w: DecorWork| step_cost(&rule, &net, b, &w);
        // Full R: R·h once 2·64·10; update d ≤ B: 2·64·10 + 2·512.
        let full = cost(DecorWork::default());
        assert_eq!(full.decor_forward, vec![1280.0]);
        assert_eq!(full.decor_update, vec![1280.0 + 1024.0]);
        assert_eq!(full.total, base + 1280.0 + 2304.0);
        // Two 4 × 4 blocks (arrays of 4 rows): R·h 2·(2·16·10); update per block
        // min(4·16·10, 2·16·10 + 2·64) = 448.
        let blocked = cost(DecorWork {
            blocks: DecorBlocks::Array,
            array_rows: 4,
            ..DecorWork::default()
        });
        assert_eq!(blocked.decor_forward, vec![640.0]);
        assert_eq!(blocked.decor_update, vec![2.0 * 448.0]);
        // Unbounded arrays: one block, the full R.
        let one = cost(DecorWork {
            blocks: DecorBlocks::Array,
            ..DecorWork::default()
        });
        assert_eq!(one, full);
        // decor_sample 0.2: ⌈2⌉ samples, d > 2: 4·64·2; the forward stays exact.
        let thin = |sample, every| DecorWork {
            thin: DecorThinning { sample, every },
            ..DecorWork::default()
        };
        let sampled = cost(thin(0.2, 1));
        assert_eq!(sampled.decor_forward, full.decor_forward);
        assert_eq!(sampled.decor_update, vec![512.0]);
        // decor_every 4: a quarter of the full update per step on average.
        assert_eq!(cost(thin(1.0, 4)).decor_update, vec![2304.0 / 4.0]);
        assert_eq!(cost(thin(0.2, 4)).decor_update, vec![128.0]);
    }

    #[test]
    fn a_layer_without_a_decorrelator_costs_none() {
        let net = Network::dense(&[8, 4, 3]);
        let rule: RuleSpec = "danp-nn".parse().unwrap();
        let all = step_cost(&rule, &net, 10, &DecorWork::default());
        let hidden = step_cost(
            &rule,
            &net,
            10,
            &DecorWork {
                layers: DecorLayers::Hidden,
                ..DecorWork::default()
            },
        );
        assert_eq!(hidden.decor_forward, vec![0.0, all.decor_forward[1]]);
        assert_eq!(hidden.decor_update, vec![0.0, all.decor_update[1]]);
        assert_eq!(
            all.total - hidden.total,
            all.decor_forward[0] + all.decor_update[0]
        );
        // Layer 2's R·h over both passes: 2 × 2·16·10.
        assert_eq!(all.decor_forward[1], 640.0);
    }
}
