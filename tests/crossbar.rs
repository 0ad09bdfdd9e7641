//! The hardware model through the public API: reads (DAC, read noise, ADC), programming pulses,
//! rounding, determinism, the ideal chip, drift, energy counting, and the lab characterisation of
//! every preset. Each test is built to fail if the model it checks were wrong; statistical
//! tolerances are derived from the sample size in a comment beside each one.

use nalgebra::{DMatrix, DVector};
use npchip::chip::model::DeviceSpec;
use npchip::chip::presets::{preset_names, resolve};
use npchip::chip::{
    Activation, Chip, ChipConfig, ChipModel, ForwardTrace, InjectedNoise, Pass, Phase,
};
use npchip::lab::characterize::characterize;
use rand::{Rng as _, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

// ---------------------------------------------------------------- helpers

fn model(name: &str, set: &[&str]) -> ChipModel {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    resolve(name, &set).unwrap_or_else(|e| panic!("{e}"))
}

/// Overrides that make the device and the read path deterministic: no variation, no pulse or
/// programming noise, no read noise, truncating rounding.
const DETERMINISTIC: &[&str] = &[
    "device.g_max_dtod=0.0",
    "device.dw_min_dtod=0.0",
    "device.dw_min_std=0.0",
    "device.up_down=0.0",
    "device.up_down_dtod=0.0",
    "device.prog_noise_std=0.0",
    "update.rounding=\"truncate\"",
    "read.out_noise=0.0",
    "read.w_noise=0.0",
];

fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

/// A chip without decorrelators or injected noise (shared with tests/arrays.rs).
pub(crate) fn build(model: &ChipModel, sizes: &[usize], seed: u64) -> Chip {
    Chip::build(
        model,
        ChipConfig {
            sizes: sizes.to_vec(),
            activation: Activation::LeakyRelu { slope: 0.2 },
            decorrelation: None,
            injected: InjectedNoise::None,
            seed,
        },
    )
}

fn weights(chip: &mut Chip, l: usize) -> DMatrix<f32> {
    let o = chip.oracle("test: inspect programmed weights");
    o.weights(l)
}

/// The digital gain w = scale·(g⁺ − g⁻) of layer `l`, from the file alone: the weight at full
/// differential swing (w_range_sigmas He std) over the normalised swing 1 − g_min/g_max.
fn scale_of(model: &ChipModel, fan_in: usize) -> f64 {
    let spec = model.spec();
    let DeviceSpec::Conductance(d) = &spec.device else {
        return 1.0;
    };
    let w_range = spec.mapping.as_ref().unwrap().w_range_sigmas * (2.0 / fan_in as f64).sqrt();
    w_range / (1.0 - d.g_min_us / d.g_max_us)
}

fn read_once(chip: &mut Chip, x: &DMatrix<f32>) -> DMatrix<f32> {
    let mut t = ForwardTrace::default();
    chip.forward(x, Pass::Clean, Phase::Inference, &mut t);
    t.output().clone()
}

/// Pooled variance over columns (each row its own mean) and its degrees of freedom.
fn pooled_variance(y: &DMatrix<f32>) -> (f64, f64) {
    let mut ss = 0.0;
    for i in 0..y.nrows() {
        let row: Vec<f64> = y.row(i).iter().map(|&v| v as f64).collect();
        let m = row.iter().sum::<f64>() / row.len() as f64;
        ss += row.iter().map(|v| (v - m).powi(2)).sum::<f64>();
    }
    let dof = (y.nrows() * (y.ncols() - 1)) as f64;
    (ss / dof, dof)
}

fn update_counts(chip: &Chip, l: usize) -> npchip::chip::Counters {
    *chip.counters()[l].get(Phase::Update)
}

// ---------------------------------------------------------------- the ideal chip

#[test]
fn ideal_chip_equals_the_plain_float_mvm() {
    let m = model("ideal", &[]);
    let mut chip = build(&m, &[50, 30], 3);
    let w = weights(&mut chip, 0);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let x = DMatrix::from_fn(50, 17, |_, _| rng.gen_range(-2.0f32..2.0));
    let y = read_once(&mut chip, &x);
    for j in 0..x.ncols() {
        for i in 0..w.nrows() {
            let exact: f64 = (0..50).map(|k| w[(i, k)] as f64 * x[(k, j)] as f64).sum();
            let bound: f64 = (0..50)
                .map(|k| (w[(i, k)] as f64 * x[(k, j)] as f64).abs())
                .sum();
            // f32 accumulation of 50 products: |error| ≤ 50·ε·Σ|terms| (ε = 2⁻²⁴), far below any
            // quantiser or noise a non-ideal read would add.
            assert!(
                (y[(i, j)] as f64 - exact).abs() <= 50.0 * 6e-8 * bound + 1e-12,
                "({i},{j}): {} vs {exact}",
                y[(i, j)]
            );
        }
    }
    let c = chip.counters()[0].total();
    assert_eq!(
        (c.dac_conversions, c.adc_conversions, c.adc_saturations),
        (0, 0, 0),
        "an ideal chip has no converters"
    );
    assert_eq!(c.macs, 50 * 30 * 17);
    // And updates are exact float additions.
    let dw = DMatrix::from_fn(30, 50, |i, j| (i as f32 - j as f32) * 1e-3);
    chip.update_layer(0, &dw, &DVector::zeros(30));
    let w2 = weights(&mut chip, 0);
    assert_eq!(w2, &w + &dw);
}

// ---------------------------------------------------------------- determinism

#[test]
fn same_seed_reproduces_bit_for_bit_and_another_seed_does_not() {
    let run = |seed: u64| {
        let m = model("rram", &[]);
        let mut chip = build(&m, &[20, 16, 8], seed);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let x = DMatrix::from_fn(20, 5, |_, _| rng.gen::<f32>());
        let mut out = Vec::new();
        for _ in 0..3 {
            out.extend(read_once(&mut chip, &x).iter().map(|v| v.to_bits()));
            for l in 0..2 {
                let (n, d) = (chip.sizes()[l + 1], chip.sizes()[l]);
                let dw = DMatrix::from_fn(n, d, |_, _| {
                    rng.gen_range(-3.0f32..3.0) * chip.weight_step(l)
                });
                chip.update_layer(l, &dw, &DVector::zeros(n));
            }
        }
        for l in 0..2 {
            out.extend(weights(&mut chip, l).iter().map(|v| v.to_bits()));
        }
        out
    };
    let a = run(11);
    assert_eq!(
        a,
        run(11),
        "the same seed must reproduce every read and weight bit for bit"
    );
    let b = run(12);
    let same = a.iter().zip(&b).filter(|(p, q)| p == q).count();
    assert!(
        same < a.len() / 100,
        "another seed must give another chip ({same} of {} values equal)",
        a.len()
    );
}

// ---------------------------------------------------------------- the read path

#[test]
fn read_noise_variance_matches_the_configured_value() {
    // 24-bit converters so that only the read noise varies between reads.
    let m = model(
        "rram",
        &["read.w_noise=0.0", "read.out_bits=24", "read.inp_bits=24"],
    );
    let mut chip = build(&m, &[64, 64], 5);
    let x = DMatrix::from_fn(64, 4000, |i, _| if i % 3 == 0 { 1.0f32 } else { 0.25 });
    let y = read_once(&mut chip, &x);
    let (var, dof) = pooled_variance(&y);
    let sigma = 0.06 * scale_of(&m, 64); // out_noise in weight units (input scale s = max|x| = 1)
                                         // A Gaussian sample variance has std σ²·√(2/dof); 5 of those.
    let tol = 5.0 * sigma * sigma * (2.0 / dof).sqrt();
    assert!(
        (var - sigma * sigma).abs() < tol,
        "read-noise variance {var:.4e}, configured {:.4e} ± {tol:.1e}",
        sigma * sigma
    );
}

#[test]
fn weight_referred_noise_variance_grows_with_the_squared_input_norm() {
    let m = model(
        "rram",
        &[
            "read.out_noise=0.0",
            "read.w_noise=0.03",
            "read.out_bits=24",
            "read.inp_bits=24",
        ],
    );
    let mut chip = build(&m, &[64, 32], 6);
    let s = scale_of(&m, 64);
    for ones in [1usize, 4, 16, 64] {
        let x = DMatrix::from_fn(64, 3000, |i, _| if i < ones { 1.0f32 } else { 0.0 });
        let (var, dof) = pooled_variance(&read_once(&mut chip, &x));
        let want = (0.03 * s).powi(2) * ones as f64; // σ_w²·‖x‖²
        let tol = 5.0 * want * (2.0 / dof).sqrt();
        assert!(
            (var - want).abs() < tol,
            "‖x‖² = {ones}: variance {var:.4e}, expected {want:.4e} ± {tol:.1e}"
        );
    }
}

#[test]
fn dac_scales_each_input_by_its_abs_max() {
    let m = model("ecram", DETERMINISTIC);
    let mut chip = build(&m, &[30, 10], 7);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    let x = DMatrix::from_fn(30, 8, |_, _| rng.gen_range(-1.0f32..1.0));
    let y1 = read_once(&mut chip, &x);
    let y2 = read_once(&mut chip, &(&x * 4.0));
    // abs-max scaling: 4x reaches the DAC as the same codes; only the digital rescale differs.
    assert!(
        y1.iter()
            .zip(y2.iter())
            .all(|(a, b)| (4.0 * a).to_bits() == b.to_bits()),
        "abs-max scaling is not exact"
    );
    // Without scaling, inputs beyond inp_bound clip at it.
    let m = model(
        "ecram",
        &with(DETERMINISTIC, &["read.input_scaling=\"none\""]),
    );
    let mut chip = build(&m, &[30, 10], 7);
    let big = x.map(|v| if v > 0.0 { 3.0 } else { -3.0 });
    let clipped = x.map(|v| if v > 0.0 { 1.0 } else { -1.0 });
    assert_eq!(read_once(&mut chip, &big), read_once(&mut chip, &clipped));
}

#[test]
fn adc_output_lies_on_its_grid_clips_at_the_bound_and_counts_saturations() {
    let m = model(
        "rram",
        &with(
            DETERMINISTIC,
            &["read.out_bits=4", "read.out_bound=1.5", "read.inp_bits=24"],
        ),
    );
    let mut chip = build(&m, &[100, 40], 8);
    let w = weights(&mut chip, 0);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let x = DMatrix::from_fn(100, 50, |_, _| rng.gen::<f32>());
    let y = read_once(&mut chip, &x);
    let s = scale_of(&m, 100);
    let step = 2.0 * 1.5 / 14.0; // 4 bits: 2⁴ − 2 steps over [−1.5, 1.5]
    let mut expected_sat = 0;
    for j in 0..50 {
        let amax = x.column(j).amax() as f64;
        for i in 0..40 {
            let norm = y[(i, j)] as f64 / (s * amax); // what the ADC put out, normalised
            let code = norm / step;
            assert!(
                (code - code.round()).abs() < 1e-3,
                "({i},{j}) output {norm} is not on the ADC grid"
            );
            assert!(
                norm.abs() <= 1.5 + 1e-5,
                "({i},{j}) output {norm} beyond the ADC bound"
            );
            let analog: f64 = (0..100)
                .map(|k| w[(i, k)] as f64 * x[(k, j)] as f64)
                .sum::<f64>()
                / (s * amax);
            assert!(
                (analog - norm).abs() <= step / 2.0 + 1e-4 || analog.abs() > 1.5,
                "({i},{j}) {analog} read as {norm}"
            );
            expected_sat += (analog.abs() > 1.5) as u64;
        }
    }
    assert!(
        expected_sat > 50,
        "the test needs saturating outputs ({expected_sat})"
    );
    assert_eq!(
        chip.counters()[0].get(Phase::Inference).adc_saturations,
        expected_sat
    );
}

// ---------------------------------------------------------------- programming pulses

#[test]
fn pulse_counts_equal_the_requested_steps_under_deterministic_settings() {
    let m = model("ecram", DETERMINISTIC);
    let mut chip = build(&m, &[20, 10], 4);
    let step = chip.weight_step(0);
    let k = DMatrix::from_fn(10, 20, |i, j| ((i * 7 + j * 3) % 81) as i64 - 40);
    // 1e-4 over each integer: truncation then gives exactly k (no float rounding below it).
    let dw = k.map(|k| k as f32 * step * (1.0 + 1e-4));
    chip.update_layer(0, &dw, &DVector::zeros(10));
    let c = update_counts(&chip, 0);
    let n: Vec<u64> = k.iter().map(|k| k.unsigned_abs().min(31)).collect(); // max_pulses = 31
    assert_eq!(
        c.pulses_up + c.pulses_down,
        n.iter().sum::<u64>(),
        "one pulse per requested step, clipped at max_pulses"
    );
    // Each weight's pulses split ⌈n/2⌉ / ⌊n/2⌋ over its two devices, in opposite directions.
    let odd = n.iter().filter(|&&n| n % 2 == 1).count() as u64;
    assert!(
        c.pulses_up.abs_diff(c.pulses_down) <= odd,
        "up {} down {}",
        c.pulses_up,
        c.pulses_down
    );
    let cells: u64 = n.iter().map(|&n| (n >= 1) as u64 + (n >= 2) as u64).sum();
    assert_eq!(c.cells_written, cells);
}

#[test]
fn a_pair_with_room_moves_by_exactly_the_requested_steps() {
    let m = model("ecram", DETERMINISTIC);
    let mut chip = build(&m, &[20, 10], 4);
    let step = chip.weight_step(0);
    let w0 = weights(&mut chip, 0);
    // After programming one device of each pair idles at g_min. Move both off their bounds:
    // ±20 steps towards zero put 10 pulses on each device (g⁺ down 10, g⁻ up 10 for w > 0).
    let usable = w0.map(|w| (w.abs() / step) as i64 >= 12);
    let centre = w0.map(|w| -w.signum() * 20.0 * step * (1.0 + 1e-4));
    chip.update_layer(
        0,
        &centre.component_mul(&usable.map(|u| u as i32 as f32)),
        &DVector::zeros(10),
    );
    let w1 = weights(&mut chip, 0);
    let k = DMatrix::from_fn(10, 20, |i, j| ((i * 5 + j * 11) % 39) as i64 - 19);
    chip.update_layer(
        0,
        &k.map(|k| k as f32 * step * (1.0 + 1e-4)),
        &DVector::zeros(10),
    );
    let w2 = weights(&mut chip, 0);
    let mut checked = 0;
    for i in 0..w0.len() {
        if usable[i] {
            let moved = (w2[i] - w1[i]) as f64 / step as f64;
            assert!(
                (moved - k[i] as f64).abs() < 1e-3,
                "weight {i}: requested {} steps, moved {moved}",
                k[i]
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "too few usable weights ({checked})");
}

#[test]
fn stochastic_rounding_is_unbiased_in_the_mean() {
    let m = model(
        "ecram",
        &with(DETERMINISTIC, &["update.rounding=\"stochastic\""]),
    );
    let mut chip = build(&m, &[100, 100], 2);
    let step = chip.weight_step(0);
    let w0 = weights(&mut chip, 0);
    // 0.3 of a step up on the first 50 inputs' weights, 0.3 down on the rest.
    let r = DMatrix::from_fn(100, 100, |_, j| if j < 50 { 0.3f32 } else { -0.3 });
    chip.update_layer(0, &r.map(|r| r * step), &DVector::zeros(100));
    let c = update_counts(&chip, 0);
    let n = 10_000.0;
    // Pulses per weight are Bernoulli(0.3): mean 0.3, std √(0.21/n) = 0.0046; 5 of those.
    let per_weight = (c.pulses_up + c.pulses_down) as f64 / n;
    assert!(
        (per_weight - 0.3).abs() < 5.0 * (0.21 / n).sqrt(),
        "{per_weight} pulses per weight for 0.3 steps requested"
    );
    // And every pulse moves its weight by one step in the requested direction (a pulse that an
    // idle device at its bound swallows would bias the mean towards zero).
    let dw = (weights(&mut chip, 0) - &w0) / step;
    for (half, sign) in [(0..50, 1.0), (50..100, -1.0)] {
        let moved: f64 = dw
            .columns(half.start, 50)
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>()
            / 5000.0;
        assert!(
            (moved - sign * 0.3).abs() < 5.0 * (0.21 / 5000.0f64).sqrt(),
            "mean move {moved} steps for {}0.3 requested",
            if sign > 0.0 { "+" } else { "−" }
        );
    }
}

#[test]
fn truncation_drops_sub_step_requests_and_accumulation_keeps_them() {
    let m = model("ecram", DETERMINISTIC);
    let mut chip = build(&m, &[10, 10], 2);
    let quarter = DMatrix::from_element(10, 10, 0.25 * chip.weight_step(0));
    for _ in 0..10 {
        chip.update_layer(0, &quarter, &DVector::zeros(10));
    }
    assert_eq!(
        update_counts(&chip, 0).pulses_up + update_counts(&chip, 0).pulses_down,
        0,
        "truncate: sub-step requests are lost"
    );
    let m = model(
        "ecram",
        &with(DETERMINISTIC, &["update.rounding=\"accumulate\""]),
    );
    let mut chip = build(&m, &[10, 10], 2);
    let quarter = DMatrix::from_element(10, 10, 0.25 * chip.weight_step(0));
    for _ in 0..10 {
        chip.update_layer(0, &quarter, &DVector::zeros(10));
    }
    // 10 × 0.25 = 2.5 steps per weight: two pulses each, 0.5 kept in the digital buffer.
    let c = update_counts(&chip, 0);
    assert_eq!(c.pulses_up + c.pulses_down, 200);
}

/// Regression: single pulses always went to g⁺, so with g⁻ idling at g_min after programming a
/// positive weight could never be lowered below zero, nor a negative weight lowered at all,
/// by one-pulse updates (the usual case with stochastic rounding of small updates).
#[test]
fn single_pulses_move_weights_both_ways_across_zero() {
    let m = model("ecram", DETERMINISTIC);
    let mut chip = build(&m, &[10, 10], 1);
    let step = chip.weight_step(0);
    let w0 = weights(&mut chip, 0);
    // 40 single-step requests away from each weight's sign: every weight must cross zero.
    let dw = w0.map(|w| -w.signum() * step * (1.0 + 1e-4));
    let pushes = (w0.amax() / step) as usize + 40;
    for _ in 0..pushes {
        chip.update_layer(0, &dw, &DVector::zeros(10));
    }
    let w1 = weights(&mut chip, 0);
    for i in 0..w0.len() {
        let want = w0[i] - w0[i].signum() * pushes as f32 * step;
        assert!(
            (w1[i] - want).abs() < 0.01 * step * pushes as f32,
            "weight {i}: {} → {} after {pushes} single pulses, expected {want}",
            w0[i],
            w1[i]
        );
    }
}

// ---------------------------------------------------------------- drift

/// Regression: a request too small to give a pulse restarted the drift clock of its pair.
#[test]
fn drift_follows_its_power_law_and_only_pulses_restart_the_clock() {
    let m = model(
        "pcm",
        &with(
            DETERMINISTIC,
            &["drift.nu_dtod=0.0", "update.rounding=\"accumulate\""],
        ),
    );
    let mut chip = build(&m, &[10, 10], 1);
    let t0 = m.spec().drift.as_ref().unwrap().t0_s;
    let w0 = weights(&mut chip, 0);
    chip.advance_time(10.0 * t0);
    let w1 = weights(&mut chip, 0);
    let f = |t: f64| (t / t0).powf(-0.05) as f32; // g(t) = g0 (t/t0)^(−ν), both devices alike
    for i in 0..w0.len() {
        assert!(
            (w1[i] - w0[i] * f(10.0 * t0)).abs() <= 1e-5 * w0[i].abs(),
            "weight {i}: {} → {}",
            w0[i],
            w1[i]
        );
    }
    // A tenth of a step: buffered digitally, no pulse, so the devices keep drifting on their
    // original clocks.
    chip.update_layer(
        0,
        &DMatrix::from_element(10, 10, 0.1 * chip.weight_step(0)),
        &DVector::zeros(10),
    );
    assert_eq!(
        update_counts(&chip, 0).pulses_up + update_counts(&chip, 0).pulses_down,
        0
    );
    chip.advance_time(10.0 * t0);
    let w2 = weights(&mut chip, 0);
    for i in 0..w0.len() {
        assert!(
            (w2[i] - w0[i] * f(20.0 * t0)).abs() <= 1e-5 * w0[i].abs(),
            "weight {i}: {} at 20 t0, expected {}",
            w2[i],
            w0[i] * f(20.0 * t0)
        );
    }
}

// ---------------------------------------------------------------- energy

#[test]
fn forward_energy_is_counted_events_times_coefficients() {
    let m = model("rram", &[]);
    let mut chip = build(&m, &[30, 20, 10], 1);
    let x = DMatrix::from_element(30, 7, 0.5f32);
    read_once(&mut chip, &x);
    let c0 = *chip.counters()[0].get(Phase::Inference);
    assert_eq!(
        (
            c0.vector_reads,
            c0.macs,
            c0.dac_conversions,
            c0.adc_conversions
        ),
        (7, 30 * 20 * 7, 30 * 7, 20 * 7)
    );
    let e = npchip::chip::Energy::of(&c0, &m.spec().energy);
    let coef = &m.spec().energy;
    let want = c0.macs as f64 * coef.mac_pj
        + c0.dac_conversions as f64 * coef.dac_pj
        + c0.adc_conversions as f64 * coef.adc_pj
        + c0.digital_ops as f64 * coef.digital_op_pj;
    assert!((e.total_pj() - want).abs() <= 1e-9 * want);
}

// ---------------------------------------------------------------- characterisation

#[test]
fn every_preset_characterisation_agrees_with_its_file() {
    for name in preset_names() {
        let m = model(name, &[]);
        let c = characterize(&m, 1);
        let off = c.disagreements(5.0);
        assert!(
            off.is_empty(),
            "{name}: measured values disagree with the file:\n{}\n\n{c}",
            off.join("\n")
        );
        if !m.is_ideal() {
            assert!(
                c.out_noise.is_some()
                    && c.levels.is_some()
                    && c.step_up.is_some()
                    && c.adc_saturation.is_some(),
                "{name}: quantities missing"
            );
        }
        assert_eq!(c.energy.len(), 2);
    }
}

#[test]
fn characterisation_notices_a_changed_model() {
    // The measurement must come from the chip, not the file: a chip whose noise is twice the
    // file's would be caught. Build a chip from one model and compare it with another's claims.
    let file = characterize(&model("pcm", &[]), 1);
    let louder = characterize(
        &model(
            "pcm",
            &[
                "read.out_noise=0.066",
                "device.levels=27",
                "device.dw_min_std=0.7",
            ],
        ),
        1,
    );
    let (a, b) = (file.out_noise.unwrap(), louder.out_noise.unwrap());
    assert!(
        (b.value - a.expected).abs() > 5.0 * b.stderr,
        "σ_out 0.066 measured as {} ± {}",
        b.value,
        b.stderr
    );
    assert_ne!(louder.levels.unwrap().value, file.levels.unwrap().expected);
    let (a, b) = (file.step_c2c.unwrap(), louder.step_c2c.unwrap());
    assert!(
        (b.value - a.expected).abs() > 5.0 * b.stderr,
        "c2c 0.7 measured as {} ± {}",
        b.value,
        b.stderr
    );
}
