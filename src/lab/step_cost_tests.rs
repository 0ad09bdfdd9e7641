//! `learn::cost::step_cost` against the work the chip itself records: for every decorrelator
//! option (and their combination) a few training steps are run on the ideal digital chip and
//! each layer's decorrelation counters are compared with the closed-form FLOPs.
//!
//! What the chip counts beyond the cost model, added here explicitly: its R·h of layer 1 in
//! every pass (the simulator computes it once, the circuit would not reuse it), and R's
//! element-wise step, two multiply-adds per entry of each block per update run. A float
//! decorrelator counts two `digital_ops` per multiply-add, a fixed-point one an `int_mults`.

use crate::chip::conv::Network;
use crate::chip::latency::decorrelator_blocks;
use crate::chip::{
    presets, Activation, Chip, ChipConfig, DecorBlocks, DecorConfig, DecorLayers, DecorPrecision,
    DecorThinning, InjectedNoise, Phase,
};
use crate::learn::cost::{step_cost, DecorWork};
use crate::learn::{Learner, Loss, OptimizerKind, RuleSpec};
use nalgebra::DMatrix;

/// Runs `steps` steps of noisy–noisy DANP at batch `batch` on the ideal chip with `set`, and
/// checks every layer's decorrelation counters against the cost model.
fn check(net: Network, set: &[&str], cfg: DecorConfig, batch: usize, steps: usize) {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    let model = presets::resolve("ideal", &set).unwrap();
    let rule: RuleSpec = "danp-nn".parse().unwrap();
    let config = ChipConfig {
        sizes: net.sizes(),
        activation: Activation::LeakyRelu { slope: 0.2 },
        decorrelation: Some(cfg),
        injected: InjectedNoise::Hidden { sigma: 1e-2 },
        seed: 11,
    };
    let mut chip = Chip::build_net(&model, config, net.clone());
    let mut learner = Learner::new(
        &chip.port(),
        rule,
        Loss::CrossEntropy,
        OptimizerKind::Sgd,
        1e-3,
    );
    let (features, classes) = (net.sizes()[0], *net.sizes().last().unwrap());
    let x = DMatrix::from_fn(features, batch, |i, j| {
        ((i * 13 + j * 7) % 17) as f32 / 17.0
    });
    let t = DMatrix::from_fn(classes, batch, |i, j| f32::from(u8::from(i == j % classes)));
    for _ in 0..steps {
        crate::train::train_step(&mut chip, &mut learner, &x, &t).unwrap();
    }
    let work = DecorWork::of(&cfg, &model);
    let cost = step_cost(&rule, &net, batch, &work);
    let passes = rule.passes(net.layers().len()) as f64;
    let updates = steps.div_ceil(cfg.thin.every as usize) as f64;
    let fixed = matches!(cfg.precision, DecorPrecision::Fixed { .. });
    for (l, (layer, lc)) in net.layers().iter().zip(chip.counters()).enumerate() {
        let d = layer.weight_shape().1;
        let blocks = if cfg.layers.includes(l) {
            decorrelator_blocks(d, cfg.blocks, model.array_limits().0)
        } else {
            Vec::new()
        };
        let entries: f64 = blocks.iter().map(|&b| (b * b) as f64).sum();
        let forward = if l == 0 { passes } else { 1.0 } * cost.decor_forward[l];
        // Per step: forward and the average update; per update run: the element-wise step.
        let flops = steps as f64 * (forward + cost.decor_update[l]) + updates * 4.0 * entries;
        let c = lc.get(Phase::Decorrelation);
        let (counted, per_flop) = if fixed {
            (c.int_mults, 0.5)
        } else {
            (c.digital_ops, 1.0)
        };
        assert_eq!(
            counted as f64,
            per_flop * flops,
            "layer {l} {cfg:?}: counters against the closed form"
        );
        if !cfg.layers.includes(l) {
            assert_eq!(counted, 0, "layer {l} has no decorrelator");
        }
    }
}

fn cfg(sample: f32, every: u32, blocks: DecorBlocks, layers: DecorLayers) -> DecorConfig {
    DecorConfig {
        thin: DecorThinning { sample, every },
        blocks,
        layers,
        ..DecorConfig::default()
    }
}

/// 24 → 12 → 5 at batch 16: layer 1 takes the 2·d²·B update order (24 > 16), layer 2 the
/// d²·B + d³ one (12 ≤ 16).
#[test]
fn dense_counters_equal_the_cost_of_every_option() {
    use DecorBlocks::{Array, Full};
    use DecorLayers::{All, Hidden, List};
    let net = || Network::dense(&[24, 12, 5]);
    // Every option alone, then combined.
    check(net(), &[], cfg(1.0, 1, Full, All), 16, 2);
    check(net(), &[], cfg(0.3, 1, Full, All), 16, 2); // ⌈4.8⌉ = 5 samples
    check(net(), &[], cfg(1.0, 3, Full, All), 16, 6); // 2 updates in 6 steps
    check(net(), &["array.rows=8"], cfg(1.0, 1, Array, All), 16, 2); // 8+8+8, 6+6
    check(net(), &["array.rows=5"], cfg(1.0, 1, Array, All), 16, 1); // 5+5+5+5+4, 4+4+4
    check(net(), &[], cfg(1.0, 1, Full, Hidden), 16, 2);
    check(net(), &[], cfg(1.0, 1, Full, List(0b1)), 16, 2);
    check(net(), &["array.rows=8"], cfg(0.5, 2, Array, Hidden), 16, 4);
    let mut fixed = cfg(0.25, 2, Array, All);
    fixed.precision = DecorPrecision::Fixed {
        bits: 8,
        bound: 4.0,
    };
    check(net(), &["array.rows=8"], fixed, 16, 4);
}

/// A conv layer's update learns from every s-th patch of the sampled samples: ⌈m·P/s⌉.
#[test]
fn conv_counters_equal_the_cost_with_sampled_patches() {
    let net = || {
        "conv4k3p1,fc5"
            .parse::<crate::chip::NetSpec>()
            .unwrap()
            .resolve((1, 6, 6), 5)
            .unwrap()
    };
    check(
        net(),
        &[],
        cfg(1.0, 1, DecorBlocks::Full, DecorLayers::All),
        6,
        2,
    );
    check(
        net(),
        &[],
        cfg(0.5, 1, DecorBlocks::Full, DecorLayers::All),
        6,
        2,
    );
    check(
        net(),
        &["array.rows=5"],
        cfg(0.5, 2, DecorBlocks::Array, DecorLayers::All),
        6,
        2,
    );
}
