//! The floating-point work one training step needs, for a network of layer kinds: what a
//! benchmark divides by the step time to compare with the machine's GEMM rate.
//!
//! Per layer with weight matrix n × d read at P positions per sample (P = 1 for a dense layer),
//! c = B·P columns per pass and, with decorrelation, R of d × d:
//! * forward passes: passes × 2·n·d·c, and R·patches 2·d²·c per pass (layer 1's once per step,
//!   as the chip reuses it);
//! * the estimate: NP-type rules one outer product 2·n·d·c per noisy pass; BP the update
//!   product plus, for layers 2..L, the backward products 2·n·d·c + 2·d²·c;
//! * the update of R: on c' = c columns for a dense layer and ⌈c/s⌉ patches for a conv layer
//!   ([`crate::chip::patch_stride`]), the cheaper of 4·d²·c' and 2·d²·c' + 2·d³.
//!
//! im2col, col2im, pooling, element-wise work and pulses are O(c·(d + n)) and left out. For an
//! all-dense network this is exactly `bench::step_flops`.

use super::rule::{Family, RuleSpec};
use crate::chip::conv::Network;
use crate::chip::patch_stride;
use crate::linalg::gemm_flops;

/// FLOPs of one step of `rule` on `net` with `batch` samples (see the module docs).
pub fn step_flops(rule: &RuleSpec, net: &Network, batch: usize) -> f64 {
    let k = rule.resamples.max(1);
    let passes = rule.passes(net.layers().len()) as f64;
    let mut f = 0.0;
    for (l, layer) in net.layers().iter().enumerate() {
        let ((n, d), p) = (layer.weight_shape(), layer.positions());
        let c = batch * p;
        let tile = gemm_flops(n, d, c);
        let r = if rule.decorrelated {
            gemm_flops(d, d, c)
        } else {
            0.0
        };
        f += passes * tile + if l == 0 { r } else { passes * r };
        f += match rule.family {
            Family::Bp => tile + if l > 0 { tile + r } else { 0.0 },
            Family::Np | Family::Anp | Family::AnpNoisyNoisy | Family::Inp => k as f64 * tile,
        };
        if rule.decorrelated {
            let cu = if layer.conv().is_some() {
                c.div_ceil(patch_stride(p))
            } else {
                c
            };
            f += (2.0 * gemm_flops(d, cu, d)).min(gemm_flops(d, cu, d) + gemm_flops(d, d, d));
        }
    }
    f
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
        assert_eq!(step_flops(&r, &net, b), 3.0 * (conv + fc));
    }
}
