//! Physical arrays: a layer split over a grid of arrays, each with its own DAC scaling, read
//! noise and ADC, partial sums added digitally. Each test fails if the mapping were wrong (the
//! wrong split, a shared converter, a missing or doubled partial sum, a global input scale).

use crate::crossbar::build;
use nalgebra::DMatrix;
use npchip::chip::model::DeviceSpec;
use npchip::chip::presets::resolve;
use npchip::chip::{
    Activation, Chip, ChipConfig, ChipModel, Counters, DecorConfig, DecorPrecision, DecorRule,
    ForwardTrace, InjectedNoise, Pass, Phase,
};
use npchip::lab::characterize::characterize;
use rand::{Rng as _, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn model(name: &str, set: &[&str]) -> ChipModel {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    resolve(name, &set).unwrap_or_else(|e| panic!("{e}"))
}

fn read(chip: &mut Chip, x: &DMatrix<f32>) -> DMatrix<f32> {
    let mut t = ForwardTrace::default();
    chip.forward(x, Pass::Clean, Phase::Inference, &mut t);
    t.output().clone()
}

fn inputs(d: usize, b: usize, seed: u64) -> DMatrix<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    DMatrix::from_fn(d, b, |_, _| rng.gen::<f32>())
}

fn inference(chip: &Chip, l: usize) -> Counters {
    chip.counters()[l].0[Phase::Inference as usize]
}

/// No device variation, pulse or programming noise, no read noise: reads are deterministic.
const QUIET: &[&str] = &[
    "device.g_max_dtod=0.0",
    "device.dw_min_dtod=0.0",
    "device.dw_min_std=0.0",
    "device.up_down_dtod=0.0",
    "device.prog_noise_std=0.0",
    "read.out_noise=0.0",
    "read.w_noise=0.0",
];

#[test]
fn ideal_split_layer_equals_the_unsplit_float_product() {
    // 250 inputs over 3 arrays (84, 83, 83), 70 outputs over 3 (24, 23, 23).
    let split = model("ideal", &["array.rows=100", "array.cols=30"]);
    let whole = model("ideal", &["array.rows=0", "array.cols=0"]);
    let sizes = [250, 70];
    let mut a = build(&split, &sizes, 4);
    let mut b = build(&whole, &sizes, 4);
    assert_eq!(a.telemetry().layer(0).grid(), (3, 3));
    assert_eq!(b.telemetry().layer(0).grid(), (1, 1));
    let x = inputs(250, 33, 1);
    let w = a.oracle("test: the float product").weights(0);
    let wb = b.oracle("test: the float product").weights(0);
    assert_eq!(w, wb, "same initial weights, split or not");
    let want = &w * &x;
    let (ya, yb) = (read(&mut a, &x), read(&mut b, &x));
    // Partial sums in another order than one 250-term sum: equal to f32 rounding (≤ 250 terms of
    // |w x| ≤ 0.5, each rounding ≤ 2⁻²⁴ relative: 1e-4 absolute is ~10× that bound).
    let err = (&ya - &want).abs().max();
    assert!(err < 1e-4, "split read differs from W·x by {err}");
    assert!((&yb - &want).abs().max() < 1e-4);
    // Every output saw all three partial sums: dropping one would move outputs by ~|w|·√83·½.
    assert!(want.abs().max() > 0.5);
    // The arrays tile the layer exactly once.
    let arrays = a.telemetry().layer(0).arrays();
    let mut covered = DMatrix::<u32>::zeros(70, 250);
    for t in &arrays {
        for r in t.output_offset..t.output_offset + t.outputs {
            for c in t.input_offset..t.input_offset + t.inputs {
                covered[(r, c)] += 1;
            }
        }
        assert!(t.inputs <= 100 && t.outputs <= 30);
    }
    assert!(covered.iter().all(|&k| k == 1));
}

#[test]
fn conversions_per_read_follow_the_grid() {
    // Layer 0: 784 inputs over 4 arrays (196 each), 300 outputs over 3 (100 each);
    // layer 1: 300 inputs over 2, 10 outputs over 1.
    let split = model("rram", &["array.rows=256", "array.cols=128"]);
    let whole = model("rram", &["array.rows=0", "array.cols=0"]);
    let sizes = [784, 300, 10];
    let b = 7u64;
    let x = inputs(784, b as usize, 2);
    let mut s = build(&split, &sizes, 1);
    let mut u = build(&whole, &sizes, 1);
    read(&mut s, &x);
    read(&mut u, &x);
    let (c0, c1, u0) = (inference(&s, 0), inference(&s, 1), inference(&u, 0));
    // ADC conversions per read = arrays along the input × outputs.
    assert_eq!(c0.adc_conversions, 4 * 300 * b);
    assert_eq!(c1.adc_conversions, 2 * 10 * b);
    assert_eq!(u0.adc_conversions, 300 * b);
    // Each array converts the inputs it receives: arrays along the output × inputs.
    assert_eq!(c0.dac_conversions, 3 * 784 * b);
    assert_eq!(c0.vector_reads, 12 * b, "one read per array per sample");
    assert_eq!(
        c0.macs, u0.macs,
        "the same multiply-accumulates, split or not"
    );
    // Digital work on top of the unsplit read: the extra arrays' input scaling (2 × 784) and
    // rescaling (3 × 300), and the partial-sum adds (3 × 300).
    assert_eq!(
        c0.digital_ops - u0.digital_ops,
        (2 * 784 + 3 * 300 + 3 * 300) * b
    );
    // The per-array figures add up to the layer's.
    let arrays = s.telemetry().layer(0).arrays();
    assert_eq!(arrays.len(), 12);
    assert_eq!(
        arrays.iter().map(|t| t.adc_conversions).sum::<u64>(),
        c0.adc_conversions
    );
    assert!(arrays.iter().all(|t| t.adc_conversions == 100 * b));
}

/// The digital gain w = scale·(g⁺ − g⁻) of a layer of fan-in `d`, from the file alone.
fn gain_of(model: &ChipModel, d: usize) -> f64 {
    let spec = model.spec();
    let DeviceSpec::Conductance(dev) = &spec.device else {
        unreachable!("an analog preset")
    };
    let w_range = spec.mapping.as_ref().unwrap().w_range_sigmas * (2.0 / d as f64).sqrt();
    w_range / (1.0 - dev.g_min_us / dev.g_max_us)
}

#[test]
fn split_read_variance_is_the_sum_of_the_arrays_variances() {
    // Fine converters so that the variance is the read noise alone (the 20-bit ADC's Δ²/12 is
    // ~1e-11 of it); two arrays along the input with inputs of very different size.
    let set = [
        "read.inp_bits=20",
        "read.out_bits=20",
        "read.out_noise=0.1",
        "read.w_noise=0.01",
        "array.rows=256",
        "array.cols=256",
    ];
    let m = model("rram", &set);
    let (d, n, reads) = (512, 64, 4000);
    let mut chip = build(&m, &[d, n], 3);
    assert_eq!(chip.telemetry().layer(0).grid(), (1, 2));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let one: Vec<f32> = (0..d)
        .map(|i| rng.gen::<f32>() * if i < 256 { 1.0 } else { 0.5 })
        .collect();
    let x = DMatrix::from_fn(d, reads, |i, _| one[i]);
    let y = read(&mut chip, &x);
    // Measured: per output, the variance over repeated reads; averaged over outputs.
    let mut measured = 0.0;
    for i in 0..n {
        let row: Vec<f64> = y.row(i).iter().map(|&v| v as f64).collect();
        let mean = row.iter().sum::<f64>() / reads as f64;
        measured += row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (reads - 1) as f64;
    }
    measured /= n as f64;
    // Predicted per array k with inputs x_k and abs-max s_k: (g·s_k)²·(σ_out² + σ_w²‖x_k/s_k‖²).
    let g = gain_of(&m, d);
    let per_array = |x: &[f32]| {
        let s = x.iter().fold(0.0f32, |a, v| a.max(v.abs())) as f64;
        let norm2: f64 = x.iter().map(|&v| (v as f64 / s).powi(2)).sum();
        (g * s).powi(2) * (0.1f64.powi(2) + 0.01f64.powi(2) * norm2)
    };
    let sum = per_array(&one[..256]) + per_array(&one[256..]);
    let unsplit = per_array(&one);
    // A variance estimate from `reads` Gaussian samples has relative std √(2/(reads−1)); the
    // outputs are independent, so the mean over n has √(2/((reads−1)·n)) = 0.28 %. 5 of them.
    let se = (2.0 / ((reads - 1) * n) as f64).sqrt();
    assert!(
        (measured / sum - 1.0).abs() < 5.0 * se,
        "measured {measured}, sum of arrays {sum} (one array would give {unplit})",
        unplit = unsplit
    );
    // The test can tell: one array (one σ_out, one input scale) predicts ~10 % less.
    assert!(
        (unsplit / sum - 1.0).abs() > 20.0 * se,
        "{unsplit} vs {sum}"
    );
}

#[test]
fn per_array_input_scaling_keeps_small_inputs_resolved() {
    // A 4-bit DAC (steps of 1/7 of the scale). Inputs 0..256 are in [0.5, 1], inputs 256..512
    // in [0.01, 0.03]: under one abs-max scale over all 512 they are below half a step and the
    // DAC turns them into 0; the second array scales by its own abs-max and resolves them.
    let set: Vec<&str> = QUIET.iter().copied().chain(["read.inp_bits=4"]).collect();
    let split = model(
        "rram",
        &[&set[..], &["array.rows=256", "array.cols=256"]].concat(),
    );
    let whole = model(
        "rram",
        &[&set[..], &["array.rows=0", "array.cols=0"]].concat(),
    );
    let (d, n, b) = (512, 40, 16);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
    let x = DMatrix::from_fn(d, b, |i, _| {
        if i < 256 {
            0.5 + 0.5 * rng.gen::<f32>()
        } else {
            0.01 + 0.02 * rng.gen::<f32>()
        }
    });
    let mut big_only = x.clone();
    big_only.rows_mut(256, 256).fill(0.0);
    for (m, resolves) in [(&split, true), (&whole, false)] {
        let mut chip = build(m, &[d, n], 2);
        let w = chip.oracle("test: exact product").weights(0);
        let exact = w.columns(256, 256) * x.rows(256, 256);
        let seen = read(&mut chip, &x) - read(&mut chip, &big_only);
        let rel = (&seen - &exact).norm() / exact.norm();
        if resolves {
            // 4-bit rounding of values in [1/3, 1] of the scale: ≈ 6 % relative error per input,
            // less after summing 256 of them; 25 % is far from the 100 % of losing them.
            assert!(rel < 0.25, "the small inputs' contribution is off by {rel}");
        } else {
            assert!(
                seen.abs().max() == 0.0,
                "one global scale loses the small inputs entirely (the case is a real one)"
            );
        }
    }
}

#[test]
fn unbounded_arrays_are_the_old_single_tile_chip_bit_for_bit() {
    // A model without [array] (every file before arrays existed), an explicit 0, and arrays
    // larger than every layer: one array per layer each time, the same draws, the same bits.
    let text = std::fs::read_to_string("chip_models/rram.toml").unwrap();
    let old = text.split("\n# Physical array size").next().unwrap();
    assert!(!old.contains("[array]"));
    let spec = npchip::chip::ChipSpec::parse(old, "old-rram", &[]).unwrap();
    assert!(spec.array.is_none());
    let models = [
        spec.check("old-rram").unwrap(),
        model("rram", &["array.rows=0", "array.cols=0"]),
        model("rram", &["array.rows=4096", "array.cols=4096"]),
    ];
    let sizes = [300, 200, 10];
    let x = inputs(300, 9, 7);
    let run = |m: &ChipModel| {
        let mut c = build(m, &sizes, 11);
        let mut bits = Vec::new();
        let mut t = ForwardTrace::default();
        for step in 0..3 {
            c.forward(&x, Pass::Clean, Phase::Inference, &mut t);
            bits.extend(t.output().iter().map(|v| v.to_bits()));
            for l in 0..c.depth() {
                let (n, d) = (c.sizes()[l + 1], c.sizes()[l]);
                let dw = DMatrix::from_fn(n, d, |i, j| ((i + 2 * j + step) % 7) as f32 * 2e-3);
                c.update_layer(l, &dw, &nalgebra::DVector::zeros(n));
            }
        }
        (bits, c.counters())
    };
    let want = run(&models[0]);
    for m in &models[1..] {
        assert_eq!(run(m), want, "{:?}", m.spec().array);
    }
    // An old file with `--set array.rows=…` starts from the unbounded section.
    let spec = npchip::chip::ChipSpec::parse(old, "old-rram", &["array.rows=64".into()]).unwrap();
    assert_eq!(
        spec.array,
        Some(npchip::chip::model::ArraySpec { rows: 64, cols: 0 })
    );
}

#[test]
fn array_geometry_is_validated() {
    let err = resolve("rram", &["array.rows=2000000".into()]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("array.rows") && msg.contains("2000000") && msg.contains("unbounded"),
        "{msg}"
    );
    let err = resolve("rram", &["array.cols=-3".into()]).unwrap_err();
    assert!(err.to_string().contains("array"), "{err}");
}

#[test]
fn split_chip_checkpoint_restores_every_array() {
    let m = model("pcm", &["array.rows=128", "array.cols=64"]);
    let sizes = [300, 100, 10];
    let x = inputs(300, 5, 3);
    let drive = |c: &mut Chip| {
        let mut out = Vec::new();
        let mut t = ForwardTrace::default();
        for step in 0..2 {
            c.forward(&x, Pass::Clean, Phase::Inference, &mut t);
            out.extend(t.output().iter().map(|v| v.to_bits()));
            for l in 0..c.depth() {
                let (n, d) = (c.sizes()[l + 1], c.sizes()[l]);
                c.decorrelate(l, &t.inputs()[l].clone());
                let dw = DMatrix::from_fn(n, d, |i, j| ((i * 3 + j + step) % 5) as f32 * 3e-3);
                c.update_layer(l, &dw, &nalgebra::DVector::zeros(n));
            }
            c.advance_time(1.0);
        }
        out
    };
    // With an analog decorrelator, itself split: R of layer 0 is 300 × 300 on 5 × 3 arrays.
    let decorrelated = |m: &ChipModel| {
        Chip::build(
            m,
            ChipConfig {
                sizes: sizes.to_vec(),
                activation: Activation::LeakyRelu { slope: 0.2 },
                decorrelation: Some(DecorConfig {
                    rule: DecorRule::Plain,
                    lr: 1e-2,
                    precision: DecorPrecision::Analog { range: 2.0 },
                    ..DecorConfig::default()
                }),
                injected: InjectedNoise::None,
                seed: 9,
            },
        )
    };
    let mut a = decorrelated(&m);
    drive(&mut a);
    let ck = a.checkpoint();
    assert_eq!(ck.layers[0].more_arrays.len(), 3 * 2 - 1);
    assert_eq!(ck.layers[0].decorrelator_more_arrays.len(), 5 * 3 - 1);
    let want = drive(&mut a);
    let mut b = decorrelated(&m);
    b.restore(&ck).unwrap();
    assert_eq!(drive(&mut b), want);
    assert_eq!(a.counters(), b.counters());
    // Another geometry is another chip.
    let mut c = decorrelated(&model("pcm", &["array.rows=0", "array.cols=0"]));
    let err = c.restore(&ck).unwrap_err();
    assert!(err.contains("physical arrays"), "{err}");
}

#[test]
fn characterize_measures_on_the_physical_arrays() {
    // rram: 256 × 256 arrays. The saturation layer (2048 outputs × 1000 inputs) is 8 × 4 arrays,
    // each scaling its own 250 inputs; the 1000 × 1000 MVM is 4 × 4 arrays.
    let c = characterize(&model("rram", &[]), 1);
    assert_eq!(c.adc_saturation_arrays, (8, 4));
    let sat = c.adc_saturation.unwrap();
    assert!(sat.agrees(5.0), "{sat:?}");
    let e = c.energy.iter().find(|e| e.rows == 1000).unwrap();
    assert_eq!(e.arrays, (4, 4));
    assert_eq!(e.counters.adc_conversions, 4 * 1000);
    assert_eq!(e.counters.dac_conversions, 4 * 1000);
    assert!(e.total.agrees(0.0), "{:?}", e.total);
    // With 250 inputs per array the ADC input's spread halves against one 1000-input array
    // (≈ 1.8 against 3.5 normalised units, out_bound 12): the expected rate is ~1e-11, where
    // one array of 1000 inputs saturates ~1e-3 of its conversions.
    assert!(sat.expected < 1e-6, "{sat:?}");
}

#[test]
fn layer_telemetry_of_a_split_layer_is_in_the_layer_weight_order() {
    // 3 × 2 arrays; one weight pulsed. Its pulses must show at its own index of the layer-wide
    // totals, and the assembled conductances must give back the programmed weights.
    let set: Vec<&str> = QUIET
        .iter()
        .copied()
        .chain([
            "update.rounding=\"truncate\"",
            "array.rows=40",
            "array.cols=30",
        ])
        .collect();
    let m = model("rram", &set);
    let (d, n) = (70, 80);
    let mut chip = build(&m, &[d, n], 6);
    chip.enable_traces(8);
    assert_eq!(chip.telemetry().layer(0).grid(), (3, 2));
    let (r, c) = (67, 45); // output part 2, input part 1: the last array
    let mut dw = DMatrix::zeros(n, d);
    dw[(r, c)] = 0.05;
    chip.update_layer(0, &dw, &nalgebra::DVector::zeros(n));
    let w = chip.oracle("test: programmed weights").weights(0);
    let t = chip.telemetry();
    let lt = t.layer(0);
    let p = lt.pulse_totals().unwrap();
    let total: Vec<u32> = p.up.iter().zip(p.down.iter()).map(|(a, b)| a + b).collect();
    let hit: Vec<usize> = (0..total.len()).filter(|&i| total[i] > 0).collect();
    assert!(!hit.is_empty());
    assert!(
        hit.iter().all(|&i| i % (n * d) == c * n + r),
        "pulses at {hit:?}, expected device {} (g⁺) or {} (g⁻)",
        c * n + r,
        n * d + c * n + r
    );
    let arrays = lt.arrays();
    let pulsed: Vec<usize> = (0..arrays.len())
        .filter(|&a| arrays[a].pulses_up + arrays[a].pulses_down > 0)
        .collect();
    assert_eq!(pulsed, vec![5], "only the last array was pulsed");
    let (gp, gm) = lt.conductances().unwrap();
    let spec = m.spec();
    let DeviceSpec::Conductance(dev) = &spec.device else {
        unreachable!()
    };
    let g_span = 1.0 - dev.g_min_us / dev.g_max_us;
    let scale = spec.mapping.as_ref().unwrap().w_range_sigmas * (2.0 / d as f64).sqrt() / g_span;
    for j in 0..d {
        for i in 0..n {
            let k = j * n + i;
            let from_g = scale * (gp[k] - gm[k]) as f64;
            assert!(
                (from_g - w[(i, j)] as f64).abs() < 1e-5,
                "weight ({i}, {j}): {from_g} from the conductances, {} programmed",
                w[(i, j)]
            );
        }
    }
}

#[test]
fn per_array_traces_are_written_and_add_up_to_the_layer() {
    use super::output::{tmp, train_args, train_recorded};
    // Digits (64 inputs), hidden 16, 10 outputs; arrays of 32 inputs × 8 outputs: layer 0 is
    // 2 × 2 arrays, layer 1 is 2 × 1.
    let dir = tmp();
    let args = train_args(&[
        "--epochs",
        "2",
        "--set",
        "array.rows=32",
        "--set",
        "array.cols=8",
    ]);
    let (path, rec) = train_recorded(dir.path(), &args, npchip::output::TraceLevel::Summary);
    let f = ::hdf5::File::open(&path).unwrap();
    for (l, (n_arrays, bounds)) in [
        (
            4,
            vec![0u64, 8, 0, 32, 8, 8, 0, 32, 0, 8, 32, 32, 8, 8, 32, 32],
        ),
        (2, vec![0, 5, 0, 16, 5, 5, 0, 16]),
    ]
    .into_iter()
    .enumerate()
    {
        let g = format!("runs/run0/traces/layer{l}");
        let b = f.dataset(&format!("{g}/array_bounds")).unwrap();
        assert_eq!(b.shape(), vec![n_arrays, 4]);
        assert_eq!(b.read_raw::<u64>().unwrap(), bounds, "layer {l}");
        let p = f.dataset(&format!("{g}/array_pulses")).unwrap();
        assert_eq!(p.shape(), vec![2, n_arrays]);
        let p = p.read_raw::<u64>().unwrap();
        for k in 0..2 {
            let epoch: u64 = p[k * n_arrays..(k + 1) * n_arrays].iter().sum();
            let before = if k == 0 { 0 } else { rec.pulses[k - 1][l] };
            assert_eq!(epoch, rec.pulses[k][l] - before, "layer {l} epoch {k}");
            assert!(p[k * n_arrays..(k + 1) * n_arrays].iter().all(|&v| v > 0));
        }
        let r = f
            .dataset(&format!("{g}/array_adc_saturation_rate"))
            .unwrap();
        assert_eq!(r.shape(), vec![2, n_arrays]);
        assert!(r
            .read_raw::<f64>()
            .unwrap()
            .iter()
            .all(|v| (0.0..=1.0).contains(v)));
    }
}

/// The latency model prices the grid the chip really builds: its geometry has the chip's array
/// count, one update sends one programming request to every array, and one read of the layer
/// costs `vector_reads / arrays` array reads (the arrays work in parallel).
#[test]
fn latency_prices_the_grid_the_chip_builds() {
    use npchip::chip::latency::{layer_latency, ArrayGeometry};
    let m = model("rram", &[]);
    let mut chip = build(&m, &[784, 300, 10], 3);
    let (gi, go) = chip.telemetry().layer(0).grid();
    let (rows, cols) = m.array_limits();
    let g = ArrayGeometry::split(784, 300, rows, cols);
    assert_eq!(g.arrays, gi * go, "grid {gi} × {go}");
    let x = inputs(784, 8, 1);
    let _ = read(&mut chip, &x);
    let dw = DMatrix::from_element(300, 784, 1e-3f32);
    let db = nalgebra::DVector::zeros(300);
    let mut port = chip.port();
    port.update_layer(0, &dw, &db);
    let c = chip.counters()[0];
    assert_eq!(c.get(Phase::Update).program_requests, g.arrays as u64);
    assert_eq!(c.get(Phase::Inference).vector_reads, 8 * g.arrays as u64);
    let t = m.spec().timing.clone().unwrap();
    let r = m.spec().read.clone().unwrap();
    let lat = layer_latency(&m, 784, 300, &c);
    let per_read = r.inp_bits as f64 * t.dac_cycle_ns
        + t.mvm_ns
        + (t.cols_per_adc as usize).min(g.cols) as f64 * t.adc_conversion_ns;
    let inf = lat[Phase::Inference as usize];
    assert!((inf.read_ns - 8.0 * per_read).abs() < 1e-6 * inf.read_ns);
    let upd = lat[Phase::Update as usize];
    let u = m.spec().update.clone().unwrap();
    let per_request = u.max_pulses as f64 * t.pulse_ns * g.rows as f64;
    assert!((upd.program_ns - per_request).abs() < 1e-6 * per_request);
}
