//! Crate-private tests of the converters, the device array and the crossbar tile: what needs
//! access to conductances or to a single tile (tests/crossbar.rs has the ones that go through
//! the public API). Each is built to fail if the model it checks were wrong; statistical
//! tolerances are 5 standard errors, derived beside each test.

use super::crossbar::Tile;
use super::device::DeviceArray;
use super::energy::Counters;
use super::model::{ChipModel, ConductanceSpec, DeviceSpec, UpdateSpec};
use super::periphery::Quantizer;
use super::presets::resolve;
use crate::rng::Rng;
use nalgebra::DMatrix;
use rand::{Rng as _, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

fn model(name: &str, set: &[&str]) -> ChipModel {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    resolve(name, &set).unwrap_or_else(|e| panic!("{e}"))
}

fn device_specs(m: &ChipModel) -> (ConductanceSpec, UpdateSpec) {
    match &m.spec().device {
        DeviceSpec::Conductance(c) => (
            c.clone(),
            m.spec()
                .update
                .clone()
                .expect("conductance chips have [update]"),
        ),
        DeviceSpec::Ideal => panic!("not a conductance chip"),
    }
}

/// An ecram-like device with every source of randomness off, then `set` applied.
fn devices(n: usize, set: &[&str]) -> DeviceArray {
    let mut all = vec![
        "device.g_max_dtod=0.0",
        "device.dw_min_dtod=0.0",
        "device.dw_min_std=0.0",
        "device.up_down_dtod=0.0",
        "device.prog_noise_std=0.0",
        "update.rounding=\"truncate\"",
    ];
    all.extend_from_slice(set);
    let (c, u) = device_specs(&model("ecram", &all));
    DeviceArray::fabricate(&c, &u, None, n, 7, 1)
}

/// (g⁺, g⁻) of weight `i`.
fn pair(a: &DeviceArray, n: usize, i: usize) -> (f32, f32) {
    let g = a.conductances();
    (g[i], g[i + n])
}

/// Requests `steps` (a whole number) for every weight; the 1e-4 margin keeps float rounding from
/// truncating k·Δg to k − 1.
fn request(a: &mut DeviceArray, n: usize, steps: f32) -> Counters {
    let mut c = Counters::default();
    let r = vec![steps * a.step() * (1.0 + 1e-4); n];
    a.apply_update(&r, &mut c);
    c
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    (
        m,
        xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0),
    )
}

// ---------------------------------------------------------------- converters

#[test]
fn quantiser_levels_and_clipping_are_exact() {
    for bits in 2..=12u32 {
        for bound in [0.5f64, 1.0, 12.0] {
            let q = Quantizer::new(bits, bound);
            let levels = (1usize << bits) - 1; // 2^b − 1 levels including 0
            assert_eq!(
                q.step(),
                (2.0 * bound / (levels - 1) as f64) as f32,
                "{bits} bits over ±{bound}"
            );
            let sweep = 40 * levels;
            let mut seen = Vec::with_capacity(sweep + 1);
            let mut last = f32::NEG_INFINITY;
            for k in 0..=sweep {
                let x = (-1.5 + 3.0 * k as f64 / sweep as f64) as f32 * bound as f32;
                let (y, sat) = q.apply(x);
                assert_eq!(sat, x.abs() > bound as f32, "saturation flag at {x}");
                assert!(y >= last, "not monotone at {x}");
                last = y;
                let code = y / q.step();
                assert!(
                    (code - code.round()).abs() < 1e-3,
                    "{y} is not on the grid of step {}",
                    q.step()
                );
                assert!(
                    y.abs() <= bound as f32 * (1.0 + 1e-6),
                    "{y} beyond ±{bound}"
                );
                if !sat {
                    assert!(
                        (y - x).abs() <= 0.5 * q.step() + 1e-6 * bound as f32,
                        "{x} → {y}: more than half a step"
                    );
                } else {
                    assert!(
                        (y.abs() - bound as f32).abs() <= 1e-6 * bound as f32,
                        "{x} clipped to {y}, not ±{bound}"
                    );
                }
                assert_eq!(q.apply(-x).0, -y, "asymmetric at {x}");
                seen.push(y.to_bits());
            }
            seen.sort_unstable();
            seen.dedup();
            // −0.0 and 0.0 are one level.
            let zero_twice =
                seen.contains(&0.0f32.to_bits()) && seen.contains(&(-0.0f32).to_bits());
            assert_eq!(
                seen.len() - zero_twice as usize,
                levels,
                "{bits} bits over ±{bound}"
            );
            assert_eq!(q.apply(0.0).0, 0.0, "zero is exact");
        }
    }
    let sign = Quantizer::new(1, 2.0);
    assert_eq!(
        (sign.apply(0.3), sign.apply(-5.0)),
        ((2.0, false), (-2.0, true))
    );
}

// ---------------------------------------------------------------- read noise

/// Weight-referred noise is drawn once per output, N(0, σ_w²‖x‖²), instead of once per weight.
/// This checks that the two are the same distribution: mean, variance, independence across
/// outputs and shape (two-sample Kolmogorov–Smirnov) of tile reads against an explicit
/// per-weight simulation y_i = Σ_j (w_ij + σ_w ξ_ij) x_j of the same programmed weights.
#[test]
fn one_noise_draw_per_output_equals_fresh_noise_on_every_weight() {
    let m = model(
        "rram",
        &[
            "read.out_noise=0.0",
            "read.w_noise=0.05",
            "read.out_bits=24",
            "read.inp_bits=24",
        ],
    );
    let (rows, cols, reads) = (8usize, 32usize, 20_000usize);
    let mut tile = Tile::fabricate(&m, rows, cols, 3, 1, 1.0);
    let mut rng = Rng::seed_from_u64(5);
    tile.program(&DMatrix::from_fn(rows, cols, |_, _| {
        0.2 * <StandardNormal as Distribution<f32>>::sample(&StandardNormal, &mut rng)
    }));
    // max |x| = 1, so abs-max scaling leaves x alone; uneven entries, so ‖x‖² ≠ Σ|x|.
    let x: Vec<f32> = (0..cols)
        .map(|j| {
            if j == 0 {
                1.0
            } else {
                ((j * 37 % 23) as f32 / 11.0 - 1.0) * 0.9
            }
        })
        .collect();
    let xs = DMatrix::from_fn(cols, reads, |j, _| x[j]);
    let mut y = DMatrix::zeros(rows, reads);
    tile.read(&xs, &mut y, &mut Counters::default());
    let scale = tile.scale() as f64;
    let w = tile.weights().map(|v| v as f64 / scale);
    let chip: Vec<Vec<f64>> = (0..rows)
        .map(|i| y.row(i).iter().map(|&v| v as f64 / scale).collect())
        .collect();
    let reference: Vec<Vec<f64>> = (0..rows)
        .map(|i| {
            (0..reads)
                .map(|_| {
                    (0..cols)
                        .map(|j| {
                            (w[(i, j)] + 0.05 * rng.sample::<f64, _>(StandardNormal)) * x[j] as f64
                        })
                        .sum()
                })
                .collect()
        })
        .collect();
    let norm2: f64 = x.iter().map(|&v| (v as f64).powi(2)).sum();
    let sd = 0.05 * norm2.sqrt();
    let b = reads as f64;
    let mut standardized = [Vec::new(), Vec::new()];
    for (k, sample) in [&chip, &reference].into_iter().enumerate() {
        for i in 0..rows {
            let (mean, var) = mean_var(&sample[i]);
            let exact: f64 = (0..cols).map(|j| w[(i, j)] * x[j] as f64).sum();
            // Mean: standard error sd/√B. Variance: sd²·√(2/(B−1)).
            assert!(
                (mean - exact).abs() < 5.0 * sd / b.sqrt(),
                "sample {k}, output {i}: mean {mean}, W·x = {exact}"
            );
            assert!(
                (var - sd * sd).abs() < 5.0 * sd * sd * (2.0 / (b - 1.0)).sqrt(),
                "sample {k}, output {i}: variance {var}, σ_w²‖x‖² = {}",
                sd * sd
            );
            standardized[k].extend(sample[i].iter().map(|v| (v - exact) / sd));
        }
        // Independent across outputs: the correlation of two outputs has standard error 1/√B.
        let r: f64 = (0..reads)
            .map(|t| standardized[k][t] * standardized[k][reads + t])
            .sum::<f64>()
            / b;
        assert!(
            r.abs() < 5.0 / b.sqrt(),
            "sample {k}: outputs 0 and 1 correlate ({r})"
        );
    }
    // Same shape: KS distance below its α = 1e-6 critical value √(−ln(α/2)/2)·√(2/n).
    let [mut a, mut c] = standardized;
    a.sort_by(f64::total_cmp);
    c.sort_by(f64::total_cmp);
    let n = a.len();
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < n && j < n {
        if a[i] <= c[j] {
            i += 1;
        } else {
            j += 1;
        }
        d = d.max((i as f64 - j as f64).abs() / n as f64);
    }
    let critical = (-(1e-6f64 / 2.0).ln() / 2.0).sqrt() * (2.0 / n as f64).sqrt();
    assert!(d < critical, "KS distance {d} ≥ {critical}");
}

#[test]
fn reads_leave_the_weights_alone() {
    let m = model("pcm", &[]);
    let mut tile = Tile::fabricate(&m, 16, 16, 1, 1, 1.0);
    tile.program(&DMatrix::from_fn(16, 16, |i, j| {
        (i as f32 - j as f32) * 0.02
    }));
    let w = tile.weights();
    let x = DMatrix::from_element(16, 100, 0.5f32);
    let mut y = DMatrix::zeros(16, 100);
    for _ in 0..5 {
        tile.read(&x, &mut y, &mut Counters::default());
    }
    assert!(w
        .iter()
        .zip(tile.weights().iter())
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}

// ---------------------------------------------------------------- devices

#[test]
fn device_to_device_variation_is_fixed_while_cycle_to_cycle_noise_is_fresh_per_pulse() {
    let n = 4096;
    // d2d only: every device keeps its own step, pulse after pulse, and devices differ by 30 %.
    let mut a = devices(n, &["device.dw_min_dtod=0.3"]);
    a.program(&vec![0.5 * a.max_diff(); n]);
    let mut steps = Vec::new();
    for _ in 0..3 {
        let before: Vec<f32> = (0..n).map(|i| pair(&a, n, i).0).collect();
        request(&mut a, n, 1.0);
        steps.push(
            (0..n)
                .map(|i| ((pair(&a, n, i).0 - before[i]) / a.step()) as f64)
                .collect::<Vec<f64>>(),
        );
    }
    for (i, ((s0, s1), s2)) in steps[0].iter().zip(&steps[1]).zip(&steps[2]).enumerate() {
        assert!(
            (s1 - s0).abs() < 1e-3 && (s2 - s0).abs() < 1e-3,
            "device {i} changed its step: {s0} {s1} {s2}"
        );
    }
    // The spread over devices: a sample std of n normals has standard error σ/√(2n).
    let (mean, var) = mean_var(&steps[0]);
    assert!(
        (mean - 1.0).abs() < 5.0 * 0.3 / (n as f64).sqrt(),
        "mean step {mean}"
    );
    assert!(
        (var.sqrt() - 0.3).abs() < 5.0 * 0.3 / (2.0 * n as f64).sqrt(),
        "d2d spread {}",
        var.sqrt()
    );
    // Fabricating again with the same seed gives the same devices.
    let mut b = devices(n, &["device.dw_min_dtod=0.3"]);
    b.program(&vec![0.5 * b.max_diff(); n]);
    let before: Vec<f32> = (0..n).map(|i| pair(&b, n, i).0).collect();
    request(&mut b, n, 1.0);
    assert!((0..n)
        .all(|i| (((pair(&b, n, i).0 - before[i]) / b.step()) as f64 - steps[0][i]).abs() < 1e-3));

    // c2c only: the same device steps differently each pulse, with relative std dw_min_std.
    let mut a = devices(n, &["device.dw_min_std=0.3"]);
    a.program(&vec![0.5 * a.max_diff(); n]);
    let mut pulses = Vec::new();
    for _ in 0..2 {
        let before: Vec<f32> = (0..n).map(|i| pair(&a, n, i).0).collect();
        request(&mut a, n, 1.0);
        pulses.push(
            (0..n)
                .map(|i| ((pair(&a, n, i).0 - before[i]) / a.step()) as f64)
                .collect::<Vec<f64>>(),
        );
    }
    let diffs: Vec<f64> = (0..n)
        .map(|i| (pulses[1][i] - pulses[0][i]) / 2f64.sqrt())
        .collect();
    let (_, var) = mean_var(&diffs);
    assert!(
        (var.sqrt() - 0.3).abs() < 5.0 * 0.3 / (2.0 * n as f64).sqrt(),
        "c2c spread {} (two pulses of one device must differ)",
        var.sqrt()
    );
}

#[test]
fn hard_bound_pulse_trains_have_the_sqrt_n_aggregate_spread() {
    // n pulses in one update move a hard-bound device by Δg·(n + c2c·√n·ξ).
    let n = 8192;
    for pulses in [1u32, 9] {
        let mut a = devices(n, &["device.dw_min_std=0.3"]);
        a.program(&vec![0.3 * a.max_diff(); n]);
        let before: Vec<f32> = (0..n).map(|i| pair(&a, n, i).0).collect();
        // 2·pulses requested: `pulses` on g⁺ up, the rest on g⁻ down (idle at g_min: no move).
        request(&mut a, n, 2.0 * pulses as f32);
        let moved: Vec<f64> = (0..n)
            .map(|i| ((pair(&a, n, i).0 - before[i]) / a.step()) as f64)
            .collect();
        let (mean, var) = mean_var(&moved);
        let sd = 0.3 * (pulses as f64).sqrt();
        assert!(
            (mean - pulses as f64).abs() < 5.0 * sd / (n as f64).sqrt(),
            "{pulses} pulses: mean {mean}"
        );
        assert!(
            (var.sqrt() - sd).abs() < 5.0 * sd / (2.0 * n as f64).sqrt(),
            "{pulses} pulses: spread {}, expected {sd}",
            var.sqrt()
        );
    }
}

#[test]
fn soft_bounds_shrink_the_step_linearly_to_the_bound_it_approaches() {
    let n = 64;
    let mut a = devices(n, &["device.soft_bounds=true", "device.levels=65"]);
    let (g_min, range) = (1.0 - a.max_diff(), a.max_diff());
    // Weight i programmed to level i of 64: g⁺ = g_min + i·Δg, g⁻ = g_min.
    let targets: Vec<f32> = (0..n).map(|i| i as f32 * a.step()).collect();
    a.program(&targets);
    let start: Vec<(f32, f32)> = (0..n).map(|i| pair(&a, n, i)).collect();
    request(&mut a, n, 1.0); // one up pulse on g⁺
    for (i, &(gp, _)) in start.iter().enumerate() {
        let want = a.step() * (1.0 - (gp - g_min) / range);
        assert!(
            (pair(&a, n, i).0 - gp - want).abs() < 1e-6,
            "level {i}: up step {} instead of {want}",
            pair(&a, n, i).0 - gp
        );
    }
    a.program(&targets);
    request(&mut a, n, -2.0); // one down pulse on g⁺, one up pulse on g⁻ (from g_min: full step)
    for (i, &(gp, gm)) in start.iter().enumerate() {
        let (p, m) = pair(&a, n, i);
        assert!(
            (gp - p - a.step() * (gp - g_min) / range).abs() < 1e-6,
            "level {i}: down step {}",
            gp - p
        );
        assert!(
            (m - gm - a.step()).abs() < 1e-6,
            "level {i}: idle device's up step {}",
            m - gm
        );
    }
}

#[test]
fn pulses_split_ceil_and_floor_with_the_odd_one_on_the_device_with_more_room() {
    let n = 4;
    let mut a = devices(n, &[]);
    let level = 100.0 * a.step();
    a.program(&vec![level; n]); // g⁺ at level 100, g⁻ idle at g_min
    let (gp, gm) = pair(&a, n, 0);
    // +5: g⁺ (room to its top) takes ⌈5/2⌉ = 3 up, g⁻ ⌊5/2⌋ = 2 down, which g_min swallows.
    let c = request(&mut a, n, 5.0);
    assert_eq!(
        (c.pulses_up, c.pulses_down, c.cells_written),
        (3 * n as u64, 2 * n as u64, 2 * n as u64)
    );
    let (p, m) = pair(&a, n, 0);
    assert!(
        (p - gp - 3.0 * a.step()).abs() < 1e-6 && m == gm,
        "({p}, {m}) after +5 from ({gp}, {gm})"
    );
    // −5: g⁻ (room: the whole range) takes 3 up, g⁺ 2 down; the pair moves by 5 steps.
    let c = request(&mut a, n, -5.0);
    assert_eq!((c.pulses_up, c.pulses_down), (3 * n as u64, 2 * n as u64));
    let (p2, m2) = pair(&a, n, 0);
    assert!(
        (p - p2 - 2.0 * a.step()).abs() < 1e-6 && (m2 - m - 3.0 * a.step()).abs() < 1e-6,
        "({p2}, {m2}) after −5 from ({p}, {m})"
    );
    // max_pulses clips a request (31 here).
    let c = request(&mut a, n, -100.0);
    assert_eq!(c.pulses_up + c.pulses_down, 31 * n as u64);
}

#[test]
fn stuck_devices_do_not_move() {
    let n = 4000;
    let (c, u) = device_specs(&model(
        "rram",
        &[
            "device.stuck_at_min_prob=0.1",
            "device.stuck_at_max_prob=0.1",
        ],
    ));
    let mut a = DeviceArray::fabricate(&c, &u, None, n, 9, 1);
    let stuck: Vec<usize> = (0..2 * n).filter(|&d| a.is_stuck(d)).collect();
    // Binomial(2n, 0.2): std √(2n·0.16) ≈ 36; 5 of those.
    assert!(
        (stuck.len() as f64 - 0.2 * 2.0 * n as f64).abs() < 5.0 * (2.0 * n as f64 * 0.16).sqrt(),
        "{} stuck",
        stuck.len()
    );
    let g0: Vec<f32> = stuck.iter().map(|&d| a.conductances()[d]).collect();
    let g_min = 1.0 - a.max_diff();
    let mut rng = Rng::seed_from_u64(1);
    for _ in 0..5 {
        a.program(
            &(0..n)
                .map(|_| rng.gen_range(-0.8..0.8))
                .collect::<Vec<f32>>(),
        );
        let r: Vec<f32> = (0..n)
            .map(|_| rng.gen_range(-40.0..40.0) * a.step())
            .collect();
        a.apply_update(&r, &mut Counters::default());
        for (&d, &g) in stuck.iter().zip(&g0) {
            assert_eq!(
                a.conductances()[d].to_bits(),
                g.to_bits(),
                "stuck device {d} moved"
            );
        }
    }
    let free_moved = (0..2 * n)
        .filter(|&d| !a.is_stuck(d))
        .any(|d| a.conductances()[d] != g_min);
    assert!(free_moved, "free devices must move");
}

// ---------------------------------------------------------------- transposed reads, read-out

/// Mean and variance of every output over a batch of identical inputs, against the
/// programmed weights and the noise model: `sd = scale·√(out_noise² + w_noise²·‖x‖²)` for an
/// input with max|x| = 1 (abs-max scaling is then the identity). Converters at 14 bits, so
/// their error (< 1e-3 of the noise) is below the tolerance. Tolerances: 5 SE of the mean
/// (sd/√n) and of the variance (var·√(2/(n−1))).
fn check_read_statistics(ys: &DMatrix<f32>, expect: &[f32], sd: f64, what: &str) {
    let n = ys.ncols();
    for (i, &e) in expect.iter().enumerate() {
        let row: Vec<f64> = ys.row(i).iter().map(|&v| v as f64).collect();
        let (m, v) = mean_var(&row);
        let se = sd / (n as f64).sqrt();
        assert!(
            (m - e as f64).abs() < 5.0 * se,
            "{what} output {i}: mean {m}, expected {e} ± {}",
            5.0 * se
        );
        let tol = 5.0 * sd * sd * (2.0 / (n as f64 - 1.0)).sqrt();
        assert!(
            (v - sd * sd).abs() < tol,
            "{what} output {i}: variance {v}, expected {} ± {tol}",
            sd * sd
        );
    }
}

#[test]
fn transposed_reads_and_read_out_measure_w_transpose_and_w_with_the_read_noise() {
    let m = model("rram", &["read.inp_bits=14", "read.out_bits=14"]);
    let (rows, cols) = (5, 7);
    let mut tile = Tile::fabricate(&m, rows, cols, 3, 1, 1.0);
    let w = DMatrix::from_fn(rows, cols, |i, j| 0.3 * ((i * cols + j) as f32 * 0.7).sin());
    tile.program(&w);
    let w = tile.weights();
    let read = m.spec().read.clone().unwrap();
    let (so, sw, scale) = (read.out_noise, read.w_noise, tile.scale() as f64);
    let mut c = Counters::default();
    // Transposed: x over the rows, max|x| = 1.
    let xv: Vec<f32> = (0..rows).map(|i| [1.0, -0.5, 0.25, 0.8, -0.1][i]).collect();
    let n = 20_000;
    let x = DMatrix::from_fn(rows, n, |i, _| xv[i]);
    let mut y = DMatrix::zeros(0, 0);
    tile.read_transposed(&x, &mut y, &mut c);
    assert_eq!(y.shape(), (cols, n));
    let expect: Vec<f32> = (0..cols)
        .map(|j| (0..rows).map(|i| w[(i, j)] * xv[i]).sum())
        .collect();
    let x2: f64 = xv.iter().map(|&v| (v * v) as f64).sum();
    let sd = scale * (so * so + sw * sw * x2).sqrt();
    check_read_statistics(&y, &expect, sd, "transposed read");
    assert_eq!(c.vector_reads, n as u64);
    assert_eq!(c.macs, (rows * cols * n) as u64);
    assert_eq!(c.dac_conversions, (rows * n) as u64);
    assert_eq!(c.adc_conversions, (cols * n) as u64);
    // Read-out: each column j is a read of e_j; collect entry (i, j) over many read-outs.
    let reps = 4000;
    let mut samples = DMatrix::zeros(rows * cols, reps);
    let mut c = Counters::default();
    for k in 0..reps {
        tile.read_out(&mut y, &mut c);
        assert_eq!(y.shape(), (rows, cols));
        samples.column_mut(k).copy_from_slice(y.as_slice());
    }
    let sd = scale * (so * so + sw * sw).sqrt();
    check_read_statistics(&samples, w.as_slice(), sd, "read-out");
    assert_eq!(c.vector_reads, (cols * reps) as u64);
}
