//! `npchip bench --arch`: the network of layer kinds a benchmark builds, with the shapes and
//! memory that follow from its geometry rather than from a list of widths.
//!
//! The spec is `train --arch`'s (`crate::chip::NetSpec`), optionally followed by `@CxHxW`, the
//! synthetic input's image shape (default `3x32x32`: the CIFAR-10 shape the conv speed target
//! is stated on; `train` takes the shape from its dataset, the bench has none). The classes
//! are the last `fcN`'s N.

use super::bench::{GemmShape, MemoryBudget};
use crate::chip::conv::Network;
use crate::chip::{patch_stride, DecorBlocks, NetSpec};
use crate::learn::cost::DecorWork;
use crate::learn::{Family, RuleSpec};
use std::fmt;
use std::str::FromStr;

/// A benchmark's network: the spec as `train --arch` takes it, and the input image shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchNet {
    /// The layer tokens.
    pub spec: NetSpec,
    /// (channels, height, width) of one synthetic sample.
    pub input: (usize, usize, usize),
}

impl FromStr for BenchNet {
    type Err = String;

    /// `SPEC` or `SPEC@CxHxW`; every error names the part it is about and what is allowed.
    fn from_str(s: &str) -> Result<Self, String> {
        let (spec_s, shape_s) = match s.split_once('@') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let spec: NetSpec = spec_s.parse().map_err(|e| format!("{e}"))?;
        let input = match shape_s {
            None => (3, 32, 32),
            Some(t) => {
                let v: Vec<usize> = t
                    .split(['x', '×'])
                    .map(|p| p.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("--arch: input shape `@{t}`: allowed CxHxW with three integers ≥ 1, e.g. @3x32x32"))?;
                match v.as_slice() {
                    &[c, h, w] if c >= 1 && h >= 1 && w >= 1 => (c, h, w),
                    _ => return Err(format!("--arch: input shape `@{t}`: allowed CxHxW with three integers ≥ 1, e.g. @3x32x32")),
                }
            }
        };
        let net = BenchNet { spec, input };
        net.network()?;
        Ok(net)
    }
}

impl fmt::Display for BenchNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, h, w) = self.input;
        write!(f, "{}@{c}x{h}x{w}", self.spec)
    }
}

impl BenchNet {
    /// The classes: the last token's width (an error if the spec does not end in `fcN`).
    pub fn classes(&self) -> Result<usize, String> {
        match self.spec.tokens.last() {
            Some(crate::chip::LayerToken::Fc { out }) => Ok(*out),
            Some(t) => Err(format!(
                "--arch: the last token `{t}` must be the output layer fcN (N = the classes)"
            )),
            None => Err("--arch is empty: give at least the output layer, e.g. fc10".into()),
        }
    }

    /// The geometry, checked against the input shape.
    pub fn network(&self) -> Result<Network, String> {
        let classes = self.classes()?;
        self.spec
            .resolve(self.input, classes)
            .map_err(|e| e.to_string())
    }
}

/// The matrix products of one NP-family step (NP, ANP, noisy–noisy ANP; K noisy passes) on a
/// network of layer kinds, in the layouts the step uses them, each with how many times a step
/// runs it. A layer of kernel n × d read at P positions multiplies over c = B·P columns: tile
/// reads and R·patches (A·B, c columns), outer products (δ·xᵀ, inner dimension c), and R's
/// update on c' columns (c for a dense layer, ⌈c/s⌉ sampled patches for a conv layer, s =
/// [`patch_stride`]; of the ⌈F·B⌉ samples `decor_sample` F keeps), in the order
/// `Decorrelator::update` picks for d ≤ c' or d > c'; layers `decor_layers` leaves out have no
/// R. Their FLOPs add up to [`crate::learn::cost::step_flops`]. None for BP and INP, and for a
/// block-diagonal R or `decor_every` > 1 (shapes per block, products not run every step).
pub fn step_products(
    rule: &RuleSpec,
    net: &Network,
    batch: usize,
    decor: &DecorWork,
) -> Option<Vec<(GemmShape, usize)>> {
    if !matches!(
        rule.family,
        Family::Np | Family::Anp | Family::AnpNoisyNoisy
    ) || decor.thin.every > 1
        || decor.blocks != DecorBlocks::Full
    {
        return None;
    }
    let k = rule.resamples.max(1);
    let s = |m, k, n, ta, tb| GemmShape { m, k, n, ta, tb };
    let mut v = Vec::new();
    for (l, layer) in net.layers().iter().enumerate() {
        let ((n, d), p) = (layer.weight_shape(), layer.positions());
        let c = batch * p;
        v.push((s(n, d, c, false, false), 1 + k));
        v.push((s(n, c, d, false, true), k));
        if rule.decorrelated && decor.layers.includes(l) {
            v.push((s(d, d, c, false, false), if l == 0 { 1 } else { 1 + k }));
            let m = decor.thin.samples_of(batch);
            let cu = if layer.conv().is_some() {
                (m * p).div_ceil(patch_stride(p))
            } else {
                m
            };
            if d <= cu {
                v.push((s(d, cu, d, false, true), 1));
                v.push((s(d, d, d, false, false), 1));
            } else {
                v.push((s(cu, d, d, true, false), 1));
                v.push((s(d, cu, d, false, false), 1));
            }
        }
    }
    Some(v)
}

/// The step's distinct product shapes (where the reference GEMM rate is measured): the
/// products of [`step_products`] when the rule has them, else the forward reads and R·patches.
pub fn step_shapes(
    rule: &RuleSpec,
    net: &Network,
    batch: usize,
    decor: &DecorWork,
) -> Vec<GemmShape> {
    let mut v: Vec<GemmShape> = match step_products(rule, net, batch, decor) {
        Some(p) => p.into_iter().map(|(s, _)| s).collect(),
        None => crate::learn::cost::step_shapes(rule, net, batch)
            .into_iter()
            .map(|(m, k, n)| GemmShape {
                m,
                k,
                n,
                ta: false,
                tb: false,
            })
            .collect(),
    };
    v.sort_unstable();
    v.dedup();
    v
}

impl MemoryBudget {
    /// The budget for `net` at batch `batch` with a dataset of `samples`: per layer the kernel
    /// or weight matrix and bias, R (d × d) if decorrelated, and one batch of its (im2col)
    /// inputs, d·P per sample, and its pre-activations, nodes per sample.
    pub fn of_network(
        net: &Network,
        batch: usize,
        decorrelated: bool,
        adam: bool,
        samples: usize,
    ) -> Self {
        let f = 4.0;
        let layers = net.layers();
        let params: f64 = layers
            .iter()
            .map(|l| {
                let (n, d) = l.weight_shape();
                (n * d + n) as f64
            })
            .sum();
        let decor: f64 = if decorrelated {
            layers
                .iter()
                .map(|l| (l.weight_shape().1 as f64).powi(2))
                .sum()
        } else {
            0.0
        };
        let act: f64 = layers
            .iter()
            .map(|l| ((l.weight_shape().1 * l.positions() + l.nodes()) * batch) as f64)
            .sum();
        let (c, h, w) = net.input();
        MemoryBudget {
            weights: f * params,
            decorrelators: f * decor,
            optimizer: if adam { 2.0 * f * params } else { 0.0 },
            activations: f * act,
            dataset: (f * (c * h * w) as f64 + 1.0) * samples as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::gemm_flops;

    #[test]
    fn the_spec_parses_with_and_without_an_input_shape() {
        let a: BenchNet = "conv8k3p1,pool2,fc10".parse().unwrap();
        assert_eq!(a.input, (3, 32, 32));
        assert_eq!(a.to_string().parse::<BenchNet>().unwrap(), a);
        let b: BenchNet = "conv8k3,fc10@1x28x28".parse().unwrap();
        assert_eq!(b.network().unwrap().layer(0).positions(), 26 * 26);
        let e = "conv8k3,fc10@1x28".parse::<BenchNet>().unwrap_err();
        assert!(e.contains("@1x28") && e.contains("CxHxW"), "{e}");
        let e = "conv8k40,fc10".parse::<BenchNet>().unwrap_err();
        assert!(e.contains("conv8k40"), "{e}");
        let e = "conv8k3,pool2".parse::<BenchNet>().unwrap_err();
        assert!(e.contains("fcN"), "{e}");
    }

    #[test]
    fn a_conv_budget_holds_its_patches() {
        // conv4k3 on 1×5×5: kernel 4 × 9 at 9 positions, fc2 on 36 inputs; batch 3.
        let net: BenchNet = "conv4k3,fc2@1x5x5".parse().unwrap();
        let m = MemoryBudget::of_network(&net.network().unwrap(), 3, true, false, 7);
        assert_eq!(m.weights, 4.0 * ((4 * 9 + 4) + (2 * 36 + 2)) as f64);
        assert_eq!(m.decorrelators, 4.0 * (81 + 36 * 36) as f64);
        assert_eq!(m.activations, 4.0 * 3.0 * ((9 * 9 + 36) + (36 + 2)) as f64);
        assert_eq!(m.dataset, (4.0 * 25.0 + 1.0) * 7.0);
        // An all-dense network is what the widths give.
        let d = Network::dense(&[6, 5, 2]);
        assert_eq!(
            MemoryBudget::of_network(&d, 3, true, true, 7),
            MemoryBudget::of(&[6, 5, 2], 3, true, true, 7)
        );
    }

    #[test]
    fn conv_products_add_up_to_the_flop_count() {
        for (arch, batch) in [
            ("conv32k3p1,pool2,conv64k3p1,pool2,fc1000,fc10", 100),
            ("conv16k3p1,pool2,conv32k3p1,pool2,fc10", 128),
            ("conv8k5s2,avgpool2,fc20,fc10@1x28x28", 7),
        ] {
            let net = arch.parse::<BenchNet>().unwrap().network().unwrap();
            for name in ["danp-nn", "anp-nn", "danp", "np", "dnp"] {
                let mut rule: RuleSpec = name.parse().unwrap();
                for k in [1, 3] {
                    rule.resamples = k;
                    let p = step_products(&rule, &net, batch, &DecorWork::default()).unwrap();
                    let sum: f64 = p
                        .iter()
                        .map(|(s, c)| *c as f64 * gemm_flops(s.m, s.k, s.n))
                        .sum();
                    assert_eq!(
                        sum,
                        crate::learn::cost::step_flops(&rule, &net, batch, &DecorWork::default()),
                        "{name} K={k} {arch}"
                    );
                }
            }
        }
    }
}
