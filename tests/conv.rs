//! Convolutional networks on the chip: each test fails if the conv mapping, the pooling, a
//! rule's conv path, the patch decorrelator or the counts were wrong.

use nalgebra::{DMatrix, DVector};
use npchip::chip::{
    patch_stride, presets, Activation, Chip, ChipConfig, DecorConfig, DecorPrecision, DecorRule,
    ForwardTrace, InjectedNoise, NetSpec, NetSpecError, Pass, Phase,
};
use npchip::learn::diagnostics::{cosine, true_gradient};
use npchip::learn::{estimate, Gradients, Learner, Loss, OptimizerKind, RuleSpec, Workspace};
use npchip::rng::{Purpose, Stream};

const SLOPE: f32 = 0.2;

fn conv_chip(
    preset: &str,
    arch: &str,
    input: (usize, usize, usize),
    classes: usize,
    injected: InjectedNoise,
    decor: Option<DecorConfig>,
    seed: u64,
) -> Chip {
    let model = presets::resolve(preset, &[]).unwrap();
    let net = arch
        .parse::<NetSpec>()
        .unwrap()
        .resolve(input, classes)
        .unwrap();
    let config = ChipConfig {
        sizes: Vec::new(),
        activation: Activation::LeakyRelu { slope: SLOPE },
        decorrelation: decor,
        injected,
        seed,
    };
    Chip::build_net(&model, config, net)
}

/// A batch of images in [0, 1] (channel-major columns) and one-hot targets.
fn images(
    shape: (usize, usize, usize),
    classes: usize,
    b: usize,
    seed: u64,
) -> (DMatrix<f32>, DMatrix<f32>) {
    let f = shape.0 * shape.1 * shape.2;
    let mut z = vec![0.0f32; f * b];
    Stream::new(seed, 99, Purpose::Shuffle).fill_normal(&mut z, 1);
    let x = DMatrix::from_vec(f, b, z.iter().map(|v| 0.5 + 0.25 * v.tanh()).collect());
    let t = DMatrix::from_fn(classes, b, |i, j| if i == j % classes { 1.0 } else { 0.0 });
    (x, t)
}

fn leaky(v: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        SLOPE * v
    }
}

/// A map as a plain 4-d array: `[n][c][y][x]`.
type Map = Vec<Vec<Vec<Vec<f32>>>>;

/// Direct convolution, loops over samples, output channels, positions, input channels and
/// kernel taps; the kernel row layout is `c·k² + ky·k + kx`.
fn naive_conv(
    x: &Map,
    w: &DMatrix<f32>,
    b: &DVector<f32>,
    k: usize,
    pad: usize,
    stride: usize,
) -> Map {
    let (c_in, h, wd) = (x[0].len(), x[0][0].len(), x[0][0][0].len());
    let (oh, ow) = (
        (h + 2 * pad - k) / stride + 1,
        (wd + 2 * pad - k) / stride + 1,
    );
    x.iter()
        .map(|img| {
            (0..w.nrows())
                .map(|o| {
                    (0..oh)
                        .map(|oy| {
                            (0..ow)
                                .map(|ox| {
                                    let mut s = b[o];
                                    for (c, plane) in img.iter().enumerate().take(c_in) {
                                        for ky in 0..k {
                                            for kx in 0..k {
                                                let iy = (oy * stride + ky) as isize - pad as isize;
                                                let ix = (ox * stride + kx) as isize - pad as isize;
                                                if iy >= 0
                                                    && ix >= 0
                                                    && (iy as usize) < h
                                                    && (ix as usize) < wd
                                                {
                                                    s += w[(o, c * k * k + ky * k + kx)]
                                                        * plane[iy as usize][ix as usize];
                                                }
                                            }
                                        }
                                    }
                                    s
                                })
                                .collect()
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Pooling by its definition: non-overlapping windows, max or mean.
fn naive_pool(x: &Map, s: usize, max: bool) -> Map {
    x.iter()
        .map(|img| {
            img.iter()
                .map(|plane| {
                    (0..plane.len() / s)
                        .map(|py| {
                            (0..plane[0].len() / s)
                                .map(|px| {
                                    let vals =
                                        (0..s * s).map(|i| plane[py * s + i / s][px * s + i % s]);
                                    if max {
                                        vals.fold(f32::NEG_INFINITY, f32::max)
                                    } else {
                                        vals.sum::<f32>() / (s * s) as f32
                                    }
                                })
                                .collect()
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn map_of_chw(x: &DMatrix<f32>, (c, h, w): (usize, usize, usize)) -> Map {
    (0..x.ncols())
        .map(|n| {
            (0..c)
                .map(|ch| {
                    (0..h)
                        .map(|y| (0..w).map(|xx| x[((ch * h + y) * w + xx, n)]).collect())
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Checks a measured conv map (`out_ch × B·P`, column n·P + y·W + x) against `want`.
fn assert_map_eq(got: &DMatrix<f32>, want: &Map, what: &str) {
    let (c, h, w) = (want[0].len(), want[0][0].len(), want[0][0][0].len());
    assert_eq!(got.shape(), (c, want.len() * h * w), "{what}: shape");
    for (n, img) in want.iter().enumerate() {
        for (ch, plane) in img.iter().enumerate() {
            for (y, row) in plane.iter().enumerate() {
                for (x, &v) in row.iter().enumerate() {
                    let g = got[(ch, n * h * w + y * w + x)];
                    assert!(
                        (g - v).abs() <= 1e-4 * (1.0 + v.abs()),
                        "{what}: sample {n} channel {ch} at ({y},{x}): chip {g}, naive {v}"
                    );
                }
            }
        }
    }
}

fn apply(m: &Map, f: impl Fn(f32) -> f32) -> Map {
    m.iter()
        .map(|i| {
            i.iter()
                .map(|p| {
                    p.iter()
                        .map(|r| r.iter().map(|&v| f(v)).collect())
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Gives layer `l` a nonzero bias so the test also sees where the bias goes.
fn set_bias(chip: &mut Chip, l: usize) {
    let (rows, cols) = chip.weight_shape(l);
    let db = DVector::from_fn(rows, |i, _| 0.1 * (i as f32 + 1.0) - 0.25);
    chip.update_layer(l, &DMatrix::zeros(rows, cols), &db);
}

#[test]
fn ideal_conv_layer_equals_a_naive_convolution() {
    // (input shape, out channels, kernel, padding, stride)
    for (shape, out, k, pad, stride) in [
        ((1, 5, 5), 2, 3, 0, 1),
        ((3, 6, 7), 4, 3, 1, 2),
        ((2, 8, 8), 3, 3, 2, 3),
        ((3, 5, 5), 5, 5, 0, 1),
        ((4, 7, 6), 1, 2, 1, 1),
    ] {
        let arch = format!("conv{out}k{k}p{pad}s{stride},fc3");
        let mut c = conv_chip("ideal", &arch, shape, 3, InjectedNoise::None, None, 2);
        set_bias(&mut c, 0);
        let (x, _) = images(shape, 3, 3, 1);
        let mut tr = ForwardTrace::default();
        c.forward(&x, Pass::Clean, Phase::Inference, &mut tr);
        let o = c.oracle("test: naive convolution");
        let want = naive_conv(
            &map_of_chw(&x, shape),
            &o.weights(0),
            o.bias(0),
            k,
            pad,
            stride,
        );
        assert_map_eq(&tr.pre()[0], &want, &arch);
    }
}

#[test]
fn conv_pool_conv_pool_dense_equals_the_definitions_layer_by_layer() {
    // Max pool after the first conv, average pool after the second (input layout HWC), then a
    // dense head on the flattened map (position-major, channel fastest).
    let shape = (2, 8, 8);
    let arch = "conv4k3p1s1,maxpool2,conv3k3p1s1,avgpool2,fc5";
    let mut c = conv_chip("ideal", arch, shape, 5, InjectedNoise::None, None, 4);
    for l in 0..3 {
        set_bias(&mut c, l);
    }
    let (x, _) = images(shape, 5, 4, 2);
    let mut tr = ForwardTrace::default();
    c.forward(&x, Pass::Clean, Phase::Inference, &mut tr);
    let o = c.oracle("test: definitions");
    let a0 = naive_conv(&map_of_chw(&x, shape), &o.weights(0), o.bias(0), 3, 1, 1);
    assert_map_eq(&tr.pre()[0], &a0, "conv 1");
    let h0 = naive_pool(&apply(&a0, leaky), 2, true);
    let a1 = naive_conv(&h0, &o.weights(1), o.bias(1), 3, 1, 1);
    assert_map_eq(&tr.pre()[1], &a1, "conv 2");
    let h1 = naive_pool(&apply(&a1, leaky), 2, false);
    let (w2, b2) = (o.weights(2), o.bias(2));
    for (n, img) in h1.iter().enumerate() {
        // Flattened position-major, channel fastest: feature (y·W + x)·C + c.
        let (ch, hh, ww) = (img.len(), img[0].len(), img[0][0].len());
        let flat = DVector::from_fn(ch * hh * ww, |f, _| {
            let (pos, cc) = (f / ch, f % ch);
            img[cc][pos / ww][pos % ww]
        });
        let want = &w2 * flat + b2;
        for i in 0..5 {
            let g = tr.output()[(i, n)];
            assert!(
                (g - want[i]).abs() < 1e-4 * (1.0 + want[i].abs()),
                "dense head sample {n} unit {i}: {g} vs {}",
                want[i]
            );
        }
    }
}

fn mean_loss(chip: &mut Chip, x: &DMatrix<f32>, t: &DMatrix<f32>) -> f64 {
    let mut tr = ForwardTrace::default();
    chip.forward(x, Pass::Clean, Phase::Inference, &mut tr);
    let mut l = Vec::new();
    Loss::CrossEntropy.per_sample(tr.output(), t, &mut l);
    l.iter().map(|&v| v as f64).sum::<f64>() / l.len() as f64
}

#[test]
fn bp_through_conv_pool_and_dense_equals_finite_differences() {
    let shape = (2, 6, 6);
    let arch = "conv3k3p1s1,maxpool2,conv4k2p0s1,avgpool2,fc3";
    for decorrelated in [false, true] {
        let decor = decorrelated.then_some(DecorConfig {
            rule: DecorRule::Plain,
            lr: 0.05,
            precision: DecorPrecision::F32,
            ..DecorConfig::default()
        });
        let mut c = conv_chip("ideal", arch, shape, 3, InjectedNoise::None, decor, 3);
        let (x, t) = images(shape, 3, 6, 5);
        if decorrelated {
            // Move R away from I so the backward pass through Rᵀ is exercised.
            let mut tr = ForwardTrace::default();
            for _ in 0..5 {
                c.forward(&x, Pass::Clean, Phase::Inference, &mut tr);
                for l in 0..3 {
                    let xl = tr.inputs()[l].clone();
                    c.decorrelate(l, &xl);
                }
            }
            let o = c.oracle("test");
            let moved = (o.decorrelator(0).unwrap() - DMatrix::identity(18, 18))
                .abs()
                .max();
            assert!(moved > 1e-3, "R did not move ({moved})");
        }
        let rule: RuleSpec = if decorrelated { "dbp" } else { "bp" }.parse().unwrap();
        let (mut ws, mut g) = (Workspace::default(), Gradients::default());
        estimate(
            &rule,
            &mut c.port(),
            &x,
            &t,
            Loss::CrossEntropy,
            &mut ws,
            &mut g,
        )
        .unwrap();
        let h = 3e-3f32;
        for l in 0..3 {
            let (rows, cols) = g.w[l].shape();
            assert_eq!((rows, cols), c.weight_shape(l));
            for (i, j) in [
                (0, 0),
                (rows - 1, cols - 1),
                (rows / 2, cols / 2),
                (1, cols / 3),
            ] {
                let mut e = DMatrix::zeros(rows, cols);
                e[(i, j)] = h;
                let zb = DVector::zeros(rows);
                c.update_layer(l, &e, &zb);
                let lp = mean_loss(&mut c, &x, &t);
                c.update_layer(l, &(-2.0 * &e), &zb);
                let lm = mean_loss(&mut c, &x, &t);
                c.update_layer(l, &e, &zb);
                let fd = ((lp - lm) / (2.0 * h as f64)) as f32;
                let bp = g.w[l][(i, j)];
                assert!(
                    (fd - bp).abs() < 2e-3 + 3e-2 * bp.abs(),
                    "decor {decorrelated} layer {l} ({i},{j}): finite difference {fd} vs backprop {bp}"
                );
            }
            // The bias gradient: one finite difference per layer.
            let mut db = DVector::zeros(rows);
            db[0] = h;
            let z = DMatrix::zeros(rows, cols);
            c.update_layer(l, &z, &db);
            let lp = mean_loss(&mut c, &x, &t);
            c.update_layer(l, &z, &(-2.0 * &db));
            let lm = mean_loss(&mut c, &x, &t);
            c.update_layer(l, &z, &db);
            let fd = ((lp - lm) / (2.0 * h as f64)) as f32;
            assert!(
                (fd - g.b[l][0]).abs() < 2e-3 + 3e-2 * g.b[l][0].abs(),
                "layer {l} bias: finite difference {fd} vs backprop {}",
                g.b[l][0]
            );
        }
    }
}

use crate::learning::mean_estimate;

#[test]
fn np_and_anp_mean_estimates_on_a_conv_net_follow_the_true_gradient() {
    let shape = (2, 5, 5);
    let arch = "conv3k3p0s1,fc4"; // 3 × 9 = 27 conv nodes, 4 output nodes
    let (x, t) = images(shape, 4, 16, 7);
    for (rule, injected) in [
        ("np", InjectedNoise::Readable { sigma: 1e-3 }),
        ("anp", InjectedNoise::Hidden { sigma: 1e-3 }),
        ("anp-nn", InjectedNoise::Hidden { sigma: 1e-3 }),
    ] {
        let mut c = conv_chip("ideal", arch, shape, 4, injected, None, 5);
        let truth = true_gradient(&mut c.port(), &x, &t, Loss::CrossEntropy);
        let est = mean_estimate(rule, &mut c, &x, &t, 3000);
        for (l, (e, tr)) in est.iter().zip(&truth).enumerate() {
            let (cos, ratio) = (cosine(e, tr), e.norm() / tr.norm());
            assert!(cos > 0.9, "{rule} layer {l}: cosine {cos}");
            // NP is unbiased in scale. ANP is on the first layer, where δa is the injected
            // noise alone: N/‖δa‖² would make it exact if no noise propagated; the output
            // layer's propagated noise only enlarges ‖δa‖², so the ratio sits a little below
            // 1 — and if N counted channels instead of channels × positions (7 instead of 31)
            // it would fall to ≈ 0.2. (Deeper layers' scale is not exact under ANP: their δa
            // carries the propagated noise; only their direction is tested.)
            let (lo, hi) = if rule == "np" {
                (0.85, 1.15)
            } else {
                (0.6, 1.1)
            };
            if rule == "np" || l == 0 {
                assert!(
                    (lo..hi).contains(&ratio),
                    "{rule} layer {l}: |mean estimate|/|gradient| = {ratio}, want {lo}..{hi}"
                );
            }
        }
    }
}

#[test]
fn noisy_noisy_anp_on_rram_read_noise_aligns_on_a_conv_net() {
    let shape = (2, 6, 6);
    let arch = "conv4k3p1s1,maxpool2,fc4";
    let mut c = conv_chip("rram", arch, shape, 4, InjectedNoise::None, None, 11);
    let (x, t) = images(shape, 4, 32, 8);
    let truth = true_gradient(&mut c.port(), &x, &t, Loss::CrossEntropy);
    let est = mean_estimate("anp-nn", &mut c, &x, &t, 2000);
    for (l, (e, tr)) in est.iter().zip(&truth).enumerate() {
        let cos = cosine(e, tr);
        assert!(cos > 0.4, "layer {l}: cosine {cos}");
    }
}

#[test]
fn reads_adc_conversions_and_macs_per_conv_pass_have_their_closed_form() {
    // 32 input channels, 3×3 kernels: patches of 288 lines, over two 144-line arrays of the
    // rram preset's 256-line geometry; 6 output channels on one array column.
    let shape = (32, 6, 6);
    let arch = "conv6k3p1s2,fc3"; // (6 + 2 − 3)/2 + 1 = 3 → P = 9
    let mut c = conv_chip("rram", arch, shape, 3, InjectedNoise::None, None, 1);
    let (x, _) = images(shape, 3, 5, 1);
    let before = c.counters()[0].0[Phase::Inference as usize];
    let mut tr = ForwardTrace::default();
    c.forward(&x, Pass::Clean, Phase::Inference, &mut tr);
    let after = c.counters()[0].0[Phase::Inference as usize];
    let (b, p, patch, out, in_arrays) = (5u64, 9u64, 288u64, 6u64, 2u64);
    assert_eq!(
        after.vector_reads - before.vector_reads,
        in_arrays * b * p,
        "reads: one per position per sample, per input array"
    );
    assert_eq!(
        after.adc_conversions - before.adc_conversions,
        in_arrays * out * b * p,
        "ADC conversions: every output line of every array, per read"
    );
    assert_eq!(
        after.dac_conversions - before.dac_conversions,
        patch * b * p,
        "DAC conversions: every patch line, per read"
    );
    assert_eq!(after.macs - before.macs, out * patch * b * p, "MACs");
    // The dense head: one read per sample.
    let dense = c.counters()[1].0[Phase::Inference as usize];
    assert_eq!(dense.vector_reads, b);
    assert_eq!(dense.macs, 3 * out * p * b);
}

#[test]
fn pooling_and_activations_are_counted_as_digital_ops() {
    let shape = (1, 4, 4);
    let (b, p, out) = (3u64, 16u64, 2u64);
    let mut counts = Vec::new();
    for arch in ["conv2k3p1s1,fc3", "conv2k3p1s1,maxpool2,fc3"] {
        let mut c = conv_chip("ideal", arch, shape, 3, InjectedNoise::None, None, 1);
        let (x, _) = images(shape, 3, b as usize, 1);
        let mut tr = ForwardTrace::default();
        c.forward(&x, Pass::Clean, Phase::Inference, &mut tr);
        counts.push(c.counters()[0].0[Phase::Inference as usize].digital_ops);
    }
    // The pool reads each of the out·P·B activations once.
    assert_eq!(counts[1] - counts[0], out * p * b);
    // bias add + activation, one op each per node.
    assert_eq!(counts[0], 2 * out * p * b);
}

#[test]
fn patch_decorrelation_cuts_correlations_of_image_patches_by_90_percent() {
    // Smooth images: neighbouring pixels strongly correlated, so their 3×3 patches are too.
    let shape = (2, 12, 12);
    let f = 2 * 144;
    let smooth = |seed: u64, b: usize| {
        let mut z = vec![0.0f32; f * b];
        Stream::new(seed, 7, Purpose::Shuffle).fill_normal(&mut z, 1);
        DMatrix::from_fn(f, b, |i, n| {
            let (c, y, x) = (i / 144, (i % 144) / 12, i % 12);
            let mut s = 0.0;
            for dy in 0..3 {
                for dx in 0..3 {
                    let (yy, xx) = ((y + dy) % 12, (x + dx) % 12);
                    s += z[n * f + c * 144 + yy * 12 + xx];
                }
            }
            1.0 + s / 3.0 + 0.5 * z[n * f + (1 - c) * 144 + y * 12 + x]
        })
    };
    let decor = DecorConfig {
        rule: DecorRule::Plain,
        lr: 0.02,
        precision: DecorPrecision::F32,
        ..DecorConfig::default()
    };
    let mut c = conv_chip(
        "ideal",
        "conv4k3p0s1,fc2",
        shape,
        2,
        InjectedNoise::None,
        Some(decor),
        3,
    );
    let quality = |c: &mut Chip, h: &DMatrix<f32>| {
        let mut tr = ForwardTrace::default();
        c.forward(h, Pass::Clean, Phase::Inference, &mut tr);
        npchip::chip::mean_abs_offdiag_correlation(&tr.inputs()[0])
    };
    let probe = smooth(1000, 200);
    let before = quality(&mut c, &probe);
    let mut tr = ForwardTrace::default();
    let ops0 = c.counters()[0].0[Phase::Decorrelation as usize].digital_ops;
    for step in 0..400 {
        let h = smooth(step, 20);
        c.forward(&h, Pass::Clean, Phase::Inference, &mut tr);
        let x = tr.inputs()[0].clone();
        c.decorrelate(0, &x);
    }
    let ops = c.counters()[0].0[Phase::Decorrelation as usize].digital_ops - ops0;
    let after = quality(&mut c, &probe);
    assert!(
        before > 0.3,
        "the patches were not correlated to begin with ({before})"
    );
    assert!(
        after < 0.1 * before,
        "mean |offdiag corr| of patches {before} → {after}, want ≥ 90 % cut"
    );
    // The update learns from every s-th patch: 18 lines, 20·100 patches → ⌈2000/s⌉ columns.
    let s = patch_stride(100);
    assert_eq!(s, 11);
    let cols = 2000usize.div_ceil(s) as u64;
    let d = 18u64;
    let per_step = 2 * d * d * 2000 // forward R·patches
        + 2 * (d * d * cols + d * d * d) + 4 * d * d; // update on the sample (d ≤ cols)
    assert_eq!(
        ops,
        400 * per_step,
        "decorrelation ops: forward on all patches, update on 1/{s}"
    );
}

#[test]
fn bad_specs_name_the_token() {
    let cases: [(&str, (usize, usize, usize), &str); 8] = [
        ("conv8k7,fc10", (3, 5, 5), "conv8k7p0s1"),
        ("conv0k3,fc10", (3, 8, 8), "conv0k3"),
        ("conv8k3p1,pool3,fc10", (3, 8, 8), "maxpool3"),
        ("conv8k3,dense10,fc10", (3, 8, 8), "dense10"),
        ("conv8k3,fc10,fc10x", (3, 8, 8), "fc10x"),
        ("fc10,conv8k3,fc10", (3, 8, 8), "conv8k3p0s1"),
        ("conv8k3,fc7", (3, 8, 8), "fc7"),
        ("pool2,fc10", (3, 8, 8), "maxpool2"),
    ];
    for (spec, shape, token) in cases {
        let err: NetSpecError = match spec.parse::<NetSpec>() {
            Err(e) => e,
            Ok(s) => s.resolve(shape, 10).unwrap_err(),
        };
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("`{token}`")),
            "{spec} on {shape:?}: error does not name `{token}`: {msg}"
        );
    }
    let msg = "conv8k7,fc10"
        .parse::<NetSpec>()
        .unwrap()
        .resolve((3, 5, 5), 10)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("larger than its padded input 5×5"), "{msg}");
}

#[test]
fn a_conv_chip_restored_from_its_checkpoint_continues_bit_identically() {
    let shape = (2, 6, 6);
    let arch = "conv3k3p1s1,maxpool2,fc4";
    let decor = Some(DecorConfig {
        rule: DecorRule::Plain,
        lr: 1e-3,
        precision: DecorPrecision::F32,
        ..DecorConfig::default()
    });
    let rule: RuleSpec = "danp-nn".parse().unwrap();
    let build = || conv_chip("rram", arch, shape, 4, InjectedNoise::None, decor, 9);
    let steps = |chip: &mut Chip, from: u64, to: u64| {
        let mut learner = Learner::new(
            &chip.port(),
            rule,
            Loss::CrossEntropy,
            OptimizerKind::Sgd,
            1e-2,
        );
        for s in from..to {
            let (x, t) = images(shape, 4, 8, 100 + s);
            learner.step(&mut chip.port(), &x, &t).unwrap();
        }
    };
    let mut straight = build();
    steps(&mut straight, 0, 6);
    let mut first = build();
    steps(&mut first, 0, 3);
    let ck = first.checkpoint();
    let mut resumed = build();
    resumed.restore(&ck).unwrap();
    steps(&mut resumed, 3, 6);
    let (a, b) = (straight.checkpoint(), resumed.checkpoint());
    assert_eq!(a.layers.len(), b.layers.len());
    for (l, (la, lb)) in a.layers.iter().zip(&b.layers).enumerate() {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&la.bias), bits(&lb.bias), "layer {l} bias");
        assert_eq!(
            la.decorrelator.as_deref().map(bits),
            lb.decorrelator.as_deref().map(bits),
            "layer {l} R"
        );
        assert_eq!(la.devices, lb.devices, "layer {l} devices");
        assert_eq!(la.read_stream, lb.read_stream, "layer {l} read stream");
    }
    assert_ne!(
        a.layers[0].bias,
        build().checkpoint().layers[0].bias,
        "the steps changed nothing: the test says nothing"
    );
}

#[test]
fn bad_arch_on_the_command_line_names_the_token_and_writes_no_file() {
    let dir = crate::output::tmp();
    let out = dir.path().join("x.h5");
    // The embedded digits are 1×8×8.
    for (arch, token) in [
        ("conv8k9,fc10", "`conv8k9p0s1`"),
        ("conv0k3,fc10", "`conv0k3`"),
        ("conv4k3p1,pool3,fc10", "`maxpool3`"),
        ("conv4k3,relu,fc10", "`relu`"),
        ("conv4k3,fc12", "`fc12`"),
    ] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_npchip"))
            .args(["train", "--arch", arch, "--epochs", "1", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_ne!(o.status.code(), Some(101), "{arch} panicked: {err}");
        assert!(!o.status.success(), "{arch} was accepted");
        assert!(
            err.contains(token),
            "{arch}: message does not name {token}: {err}"
        );
        assert!(!err.contains("panicked"), "{arch}: {err}");
        assert!(!out.exists(), "{arch}: a result file was created");
    }
}

#[test]
fn a_conv_run_resumed_from_its_file_equals_the_uninterrupted_run() {
    use crate::output::train_to_file;
    use npchip::output::hdf5::{read_run, AttrValue};
    let dir = crate::output::tmp();
    let arch = [
        "--arch",
        "conv4k3p1,maxpool2,fc10",
        "--rule",
        "danp-nn",
        "--trace",
        "full",
    ];
    let run = |name: &str, epochs: &str| {
        let p = dir.path().join(name);
        let mut a = vec!["--out", p.to_str().unwrap(), "--epochs", epochs];
        a.extend_from_slice(&arch);
        train_to_file(&crate::output::train_args(&a), true).unwrap();
        p
    };
    let whole = run("whole.h5", "3");
    let half = run("half.h5", "1");
    let mut a = vec!["--resume", half.to_str().unwrap(), "--epochs", "3"];
    a.extend_from_slice(&arch);
    train_to_file(&crate::output::train_args(&a), true).unwrap();
    let (x, y) = (
        read_run(&whole, "run0").unwrap(),
        read_run(&half, "run0").unwrap(),
    );
    let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(x.epochs.len(), 3);
    assert_eq!(bits(&x.epochs.test_acc), bits(&y.epochs.test_acc));
    assert_eq!(bits(&x.epochs.train_loss), bits(&y.epochs.train_loss));
    assert_eq!(x.epochs.counters, y.epochs.counters);
    assert_eq!(x.traces, y.traces);
    assert_eq!(
        x.attrs["arch"],
        AttrValue::Text("conv4k3p1s1,maxpool2,fc10".into()),
        "the run attributes record the spec"
    );
    // Sizes: input 64, conv nodes 4 × 64, output 10.
    assert_eq!(x.attrs["sizes"], AttrValue::Ints(vec![64, 256, 10]));
    let (fa, fb) = (
        ::hdf5::File::open(&whole).unwrap(),
        ::hdf5::File::open(&half).unwrap(),
    );
    for name in [
        "runs/run0/checkpoint/layer0/conductances",
        "runs/run0/checkpoint/layer0/bias",
        "runs/run0/checkpoint/optimizer/v_w0",
        "runs/run0/traces/layer0/pulses_cumulative",
    ] {
        let (p, q) = (fa.dataset(name).unwrap(), fb.dataset(name).unwrap());
        let (p, q) = (p.read_raw::<f64>().unwrap(), q.read_raw::<f64>().unwrap());
        assert_eq!(bits(&p), bits(&q), "{name}");
    }
    // The kernel's traces have the kernel matrix's shape, 4 × 9.
    let shape = fa
        .dataset("runs/run0/traces/layer0/pulses_cumulative")
        .unwrap()
        .shape();
    assert_eq!(shape, vec![2, 2, 4, 9]);
}

/// The step cost of `learn::cost` on the benchmark conv net (docs/performance.md,
/// "Convolutional nets"), noisy–noisy DANP at batch 100, against the per-layer count written
/// there: tile reads 2 passes × 2·n·d·B·P, R·patches (layer 1 once, then 2 passes) 2·d²·B·P,
/// outer products 2·n·d·B·P, R update on ⌈B·P/11⌉ sampled patches (conv) or B columns (dense).
#[test]
fn the_benchmark_conv_net_costs_its_documented_flops() {
    use npchip::learn::RuleSpec;
    let net: npchip::chip::NetSpec = "conv32k3p1,pool2,conv64k3p1,pool2,fc1000,fc10"
        .parse()
        .unwrap();
    let net = net.resolve((3, 32, 32), 10).unwrap();
    let r: RuleSpec = "danp-nn".parse().unwrap();
    let g = |m: f64, k: f64, n: f64| 2.0 * m * k * n;
    let b = 100.0;
    // conv1: 32 × 27 at 1024 positions; 9310 = ⌈102400/11⌉ patches update R (27 ≤ 9310).
    let c1 = 3.0 * g(32.0, 27.0, b * 1024.0)
        + g(27.0, 27.0, b * 1024.0)
        + g(27.0, 9310.0, 27.0)
        + g(27.0, 27.0, 27.0);
    // conv2: 64 × 288 at 256 positions; 2328 = ⌈25600/11⌉ patches (288 ≤ 2328).
    let c2 = 3.0 * g(64.0, 288.0, b * 256.0)
        + 2.0 * g(288.0, 288.0, b * 256.0)
        + g(288.0, 2328.0, 288.0)
        + g(288.0, 288.0, 288.0);
    // fc1000 on 64·8·8 = 4096 inputs and fc10: R update 2 · 2·d²·B (d > B).
    let f1 = 3.0 * g(1000.0, 4096.0, b) + 2.0 * g(4096.0, 4096.0, b) + 2.0 * g(4096.0, b, 4096.0);
    let f2 = 3.0 * g(10.0, 1000.0, b) + 2.0 * g(1000.0, 1000.0, b) + 2.0 * g(1000.0, b, 1000.0);
    let got = npchip::learn::cost::step_flops(&r, &net, 100, &Default::default());
    assert_eq!(got, c1 + c2 + f1 + f2);
    // 291.4 MFLOP per sample, as docs/performance.md says.
    assert_eq!((got / b / 1e5).round() / 10.0, 291.4);
}
