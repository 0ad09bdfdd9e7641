//! The measurement stages of `chip characterize`, each a lab protocol on a fabricated tile, and
//! the bench they share: test tiles, the precision read-out and reading every weight.

use super::stats::{erfc, gauss_expect, moments, rectified_moments, sigma_of};
use super::{
    Measurement, MvmEnergy, DEAD_TRIES, DRIFT_TIMES, LEVEL_TILE, MAX_RAMP, NOISE_READS,
    PROG_REPEATS, PROG_TARGETS, PULSE_REPEATS, PULSE_STATE, SAT_COLS, SAT_READS, SAT_ROWS, TILE,
};
use crate::chip::energy::{Counters, Energy};
use crate::chip::model::{
    ChipModel, ChipSpec, ConductanceSpec, DeviceSpec, DriftSpec, InputScaling, ReadSpec,
};
use crate::chip::test_structures::{Converter, TestGrid, TestTile};
use crate::rng::Rng;
use nalgebra::DMatrix;
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};
use std::f64::consts::PI;

/// The weight range a chip's layer of fan-in `cols` is mapped onto (He std × the mapping's
/// sigmas), so that test structures are fabricated as a real layer would be.
fn layer_w_range(model: &ChipModel, cols: usize) -> f32 {
    let he = (2.0 / cols as f32).sqrt();
    model
        .spec()
        .mapping
        .as_ref()
        .map_or(1.0, |m| m.w_range_sigmas as f32 * he)
}

/// A tile of the chip (fan-in `cols`), fabricated as a chip's layer would be.
pub(super) fn test_tile(
    model: &ChipModel,
    rows: usize,
    cols: usize,
    seed: u64,
    unit: u64,
) -> TestTile {
    TestTile::fabricate(model, rows, cols, seed, unit, layer_w_range(model, cols))
}

/// A layer of the chip (fan-in `cols`) on its grid of physical arrays, fabricated as a chip's
/// layer would be.
pub(super) fn test_grid(
    model: &ChipModel,
    rows: usize,
    cols: usize,
    seed: u64,
    unit: u64,
) -> TestGrid {
    TestGrid::fabricate(model, rows, cols, seed, unit, layer_w_range(model, cols))
}

/// The same chip read through a precision instrument: no read noise, 24-bit converters over a
/// range that holds any conductance difference. `quiet_programming` also removes programming
/// noise (the level count needs devices that land exactly on their levels).
pub(super) fn precision_readout(model: &ChipModel, quiet_programming: bool) -> ChipModel {
    let mut spec: ChipSpec = model.spec().clone();
    let mut g_max_spread = 0.0;
    if let DeviceSpec::Conductance(d) = &mut spec.device {
        g_max_spread = d.g_max_dtod;
        if quiet_programming {
            d.prog_noise_std = 0.0;
        }
    }
    spec.read = Some(ReadSpec {
        input_scaling: InputScaling::AbsMax,
        inp_bits: 24,
        inp_bound: 1.0,
        out_bits: 24,
        out_bound: 2.0 * (1.0 + 8.0 * g_max_spread),
        out_noise: 0.0,
        w_noise: 0.0,
    });
    spec.check(&format!("{} (precision read-out)", model.origin))
        .expect("a precision read-out of a valid chip model is valid")
}

/// Reads every weight once (identity inputs): g⁺ − g⁻ in units of g_max, column-major.
pub(super) fn read_all(tile: &mut TestTile) -> Vec<f64> {
    let (rows, cols) = tile.shape();
    let eye = DMatrix::<f32>::identity(cols, cols);
    let mut y = DMatrix::zeros(rows, cols);
    tile.read(&eye, &mut y, &mut Counters::default());
    let s = tile.scale() as f64;
    y.iter().map(|&v| v as f64 / s).collect()
}

/// He-normal weights for a `rows × cols` tile.
pub(super) fn he_weights(rows: usize, cols: usize, rng: &mut Rng) -> DMatrix<f32> {
    let he = (2.0 / cols as f32).sqrt();
    DMatrix::from_fn(rows, cols, |_, _| {
        he * <StandardNormal as Distribution<f32>>::sample(&StandardNormal, rng)
    })
}

/// Programs differential targets `t` (units of g_max).
pub(super) fn program_differential(tile: &mut TestTile, t: &[f64]) {
    let (rows, cols) = tile.shape();
    let s = tile.scale() as f64;
    tile.program(&DMatrix::from_iterator(
        rows,
        cols,
        t.iter().map(|&v| (v * s) as f32),
    ));
}

/// Read noise through the chip's own periphery: repeated reads of e₁ (‖x‖² = q₁²) and of the
/// all-ones input (‖x‖² = n·q₁², q₁ the DAC level of 1). Per output, the variance over reads is
/// σ_out² + σ_w²‖x‖² + Δ²/12 (ADC quantisation, Sheppard); two inputs give both σ.
pub(super) fn read_noise(
    model: &ChipModel,
    read: &ReadSpec,
    seed: u64,
    rng: &mut Rng,
) -> (Measurement, Measurement) {
    let mut tile = test_tile(model, TILE, TILE, seed, 1);
    tile.program(&he_weights(TILE, TILE, rng));
    let scale = tile.scale() as f64;
    let q1 = Converter::new(read.inp_bits, read.inp_bound).apply(1.0).0 as f64;
    let adc = Converter::new(read.out_bits, read.out_bound);
    let sheppard = if read.out_bits >= 2 {
        (adc.step() as f64).powi(2) / 12.0
    } else {
        0.0
    };
    let mut fit = Vec::new();
    for m in [1, TILE] {
        let x = DMatrix::from_fn(TILE, NOISE_READS, |i, _| if i < m { 1.0f32 } else { 0.0 });
        let mut y = DMatrix::zeros(TILE, NOISE_READS);
        tile.read(&x, &mut y, &mut Counters::default());
        // Residuals from each output's own mean (its signal differs); pooled over outputs.
        let mut res = Vec::with_capacity(TILE * NOISE_READS);
        for i in 0..TILE {
            let row: Vec<f64> = y.row(i).iter().map(|&v| v as f64 / scale).collect();
            let mean = row.iter().sum::<f64>() / row.len() as f64;
            res.extend(row.iter().map(|v| v - mean));
        }
        let n = res.len() as f64;
        let dof = n - TILE as f64;
        let var = res.iter().map(|r| r * r).sum::<f64>() / dof;
        let m4 = res.iter().map(|r| r.powi(4)).sum::<f64>() / n;
        fit.push((
            m as f64 * q1 * q1,
            var - sheppard,
            ((m4 - var * var).max(0.0) / n).sqrt(),
        ));
    }
    let ((n1, v1, e1), (n2, v2, e2)) = (fit[0], fit[1]);
    let sw2 = (v2 - v1) / (n2 - n1);
    let se_sw2 = (e1 * e1 + e2 * e2).sqrt() / (n2 - n1);
    let so2 = (n2 * v1 - n1 * v2) / (n2 - n1);
    let se_so2 = ((n2 * e1).powi(2) + (n1 * e2).powi(2)).sqrt() / (n2 - n1);
    let (so, se_so) = sigma_of(so2, se_so2);
    let (sw, se_sw) = sigma_of(sw2, se_sw2);
    (
        Measurement {
            value: so,
            stderr: se_so,
            expected: read.out_noise,
            model_tolerance: 0.002,
        },
        Measurement {
            value: sw,
            stderr: se_sw,
            expected: read.w_noise,
            model_tolerance: 0.002,
        },
    )
}

/// Distinct levels: a ramp of write-verify targets over the whole positive range, four per
/// nominal level, on a noiseless-programming copy; every change of a device's read value is a
/// new level. Returns the most any device showed (a device with g_max below nominal clips
/// earlier) and the median.
pub(super) fn levels(model: &ChipModel, dev: &ConductanceSpec, seed: u64) -> (Measurement, f64) {
    let quiet = precision_readout(model, true);
    let mut tile = test_tile(&quiet, LEVEL_TILE, LEVEL_TILE, seed, 2);
    let n = LEVEL_TILE * LEVEL_TILE;
    let max_diff = 1.0 - dev.g_min_us / dev.g_max_us;
    let ramp = (4 * (dev.levels as usize - 1) + 1).min(MAX_RAMP);
    let mut last = vec![f64::NAN; n];
    let mut count = vec![0u32; n];
    for k in 0..ramp {
        let t = max_diff * k as f64 / (ramp - 1) as f64;
        program_differential(&mut tile, &vec![t; n]);
        for ((v, l), c) in read_all(&mut tile)
            .into_iter()
            .zip(&mut last)
            .zip(&mut count)
        {
            if v != *l {
                *c += 1;
                *l = v;
            }
        }
    }
    count.sort_unstable();
    let median = count[n / 2] as f64;
    let max = *count.last().expect("a tile has devices") as f64;
    (
        Measurement {
            value: max,
            stderr: 0.0,
            expected: dev.levels as f64,
            model_tolerance: 0.0,
        },
        median,
    )
}

/// Devices that do not respond to pulses, per weight: g⁺ and g⁻.
pub(super) struct Dead {
    plus: Vec<bool>,
    minus: Vec<bool>,
}

impl Dead {
    /// Either device of weight `i` is dead.
    fn weight(&self, i: usize) -> bool {
        self.plus[i] || self.minus[i]
    }
}

/// Finds devices that never move, on the noiseless-programming copy of the test tile (so the
/// idle partner sits exactly at g_min, where a pulse towards g_min cannot move it). g⁺: program
/// one level above g_min (far below any device's upper bound) and request one step up (the
/// ⌈n/2⌉ share is g⁺'s). g⁻: program −1 level and request two steps down: g⁺ gets one pulse down
/// and stays at g_min, g⁻ one pulse up. A device is dead
/// if [`DEAD_TRIES`] pulses never changed its read. Expected: stuck_at_min + stuck_at_max, plus
/// the free devices whose fabricated step 1 + dw_min_dtod·ξ was clipped to 0.
pub(super) fn dead_devices(
    model: &ChipModel,
    dev: &ConductanceSpec,
    seed: u64,
) -> (Dead, Measurement) {
    let quiet = precision_readout(model, true);
    let mut tile = test_tile(&quiet, TILE, TILE, seed, 1);
    let n = TILE * TILE;
    let dg = tile.device_step().expect("an analog tile") as f64;
    let start = dg;
    let step = tile.weight_step() * (1.0 + 1e-5);
    let mut c = Counters::default();
    let (mut plus, mut minus) = (vec![false; n], vec![false; n]);
    for _ in 0..DEAD_TRIES {
        for (sign, steps, moved) in [(1.0, 1.0, &mut plus), (-1.0, -2.0, &mut minus)] {
            program_differential(&mut tile, &vec![sign * start; n]);
            let before = read_all(&mut tile);
            tile.update(&DMatrix::from_element(TILE, TILE, steps * step), &mut c);
            for ((m, a), b) in moved.iter_mut().zip(read_all(&mut tile)).zip(&before) {
                *m |= a != *b;
            }
        }
    }
    // `plus`/`minus` held "moved"; a device that never moved is dead.
    plus.iter_mut()
        .chain(minus.iter_mut())
        .for_each(|m| *m = !*m);
    let dead = (plus.iter().chain(&minus).filter(|&&d| d).count()) as f64 / (2 * n) as f64;
    let p_stuck = dev.stuck_at_min_prob + dev.stuck_at_max_prob;
    let zero_step = if dev.dw_min_dtod > 0.0 {
        0.5 * erfc(1.0 / (dev.dw_min_dtod * 2f64.sqrt()))
    } else {
        0.0
    };
    let p = p_stuck + (1.0 - p_stuck) * zero_step;
    let m = Measurement {
        value: dead,
        // Binomial over 2n devices (with at least one expected, so that p = 0 still has a scale).
        stderr: (p.max(1.0 / (2 * n) as f64) * (1.0 - p) / (2 * n) as f64).sqrt(),
        expected: p,
        model_tolerance: 0.0,
    };
    (Dead { plus, minus }, m)
}

/// Signed programming errors (programmed − target)·sign(target), per weight index, for
/// [`PROG_REPEATS`] programmings with fresh targets.
pub(super) fn programming_errors(tile: &mut TestTile, rng: &mut Rng) -> Vec<(usize, f64)> {
    let n = TILE * TILE;
    let max_diff = max_diff_of(tile);
    let mut out = Vec::with_capacity(PROG_REPEATS * n);
    for _ in 0..PROG_REPEATS {
        let t: Vec<f64> = (0..n)
            .map(|_| {
                let mag = max_diff * rng.gen_range(PROG_TARGETS.0..PROG_TARGETS.1);
                if rng.gen::<bool>() {
                    mag
                } else {
                    -mag
                }
            })
            .collect();
        program_differential(tile, &t);
        let got = read_all(tile);
        out.extend(
            t.iter()
                .zip(&got)
                .enumerate()
                .map(|(i, (t, g))| (i, (g - t) * t.signum())),
        );
    }
    out
}

pub(super) fn max_diff_of(tile: &TestTile) -> f64 {
    tile.device_max_diff().map_or(1.0, |d| d as f64)
}

/// Programming-error statistics over weights with two live devices (see [`dead_devices`]).
/// Expected: the carrying device lands on the nearest level (uniform rounding error, variance
/// Δg²/12) plus N(0, σ_p²); its partner is programmed to g_min and its noise is clipped there,
/// max(0, σ_p ξ): mean σ_p/√(2π), variance σ_p²(1/2 − 1/(2π)).
pub(super) fn programming_error_stats(
    errors: &[(usize, f64)],
    dead: &Dead,
    dev: &ConductanceSpec,
) -> (Measurement, Measurement) {
    let e: Vec<f64> = errors
        .iter()
        .filter(|(i, _)| !dead.weight(*i))
        .map(|&(_, e)| e)
        .collect();
    let (mean, var, se_var) = moments(&e);
    let (sd, se_sd) = sigma_of(var, se_var);
    let sp = dev.prog_noise_std;
    let dg = (1.0 - dev.g_min_us / dev.g_max_us) / (dev.levels - 1) as f64;
    let exp_var = sp * sp * (1.5 - 1.0 / (2.0 * PI)) + dg * dg / 12.0;
    (
        // 3 %: devices with a low g_max clip targets near the top of the test range.
        Measurement {
            value: sd,
            stderr: se_sd,
            expected: exp_var.sqrt(),
            model_tolerance: 0.03,
        },
        Measurement {
            value: mean,
            stderr: (var / e.len() as f64).sqrt(),
            expected: -sp / (2.0 * PI).sqrt(),
            model_tolerance: 0.03,
        },
    )
}

pub(super) struct PulseResult {
    pub(super) up: Measurement,
    pub(super) down: Measurement,
    pub(super) c2c: Measurement,
    pub(super) d2d: Measurement,
}

/// Single pulses. The programming circuit puts the odd pulse of a request on the device with
/// more room in its direction, so from a freshly programmed pair (g⁺ at level (levels−1)/4, g⁻
/// idle at g_min) a request of +1 step is one up pulse on g⁺, −1 one up pulse on the idle g⁻,
/// and −2 one down pulse on g⁺ plus one up pulse on g⁻: g⁺'s down step is the difference of the
/// last two (g⁻'s steps from g_min are clipped there, the same way in both). Each request starts
/// from a fresh programming, with a read before and after it.
pub(super) fn pulse_steps(tile: &mut TestTile, dev: &ConductanceSpec, dead: &Dead) -> PulseResult {
    let n = TILE * TILE;
    let dg = tile.device_step().expect("an analog tile") as f64;
    let start_level = ((dev.levels - 1) as f64 * PULSE_STATE).round();
    let start = vec![start_level * dg; n];
    let step = tile.weight_step() * (1.0 + 1e-5);
    // Per weight, per repeat: g⁺ up; g⁻ up; g⁺ down + g⁻ up.
    let mut moves = [(); 3].map(|_| {
        (0..n)
            .map(|_| Vec::with_capacity(PULSE_REPEATS))
            .collect::<Vec<_>>()
    });
    let mut c = Counters::default();
    for _ in 0..PULSE_REPEATS {
        for (request, out) in [1.0f32, -1.0, -2.0].into_iter().zip(moves.iter_mut()) {
            program_differential(tile, &start);
            let before = read_all(tile);
            tile.update(&DMatrix::from_element(TILE, TILE, request * step), &mut c);
            let sign = request.signum() as f64;
            for (i, (a, b)) in read_all(tile).iter().zip(&before).enumerate() {
                out[i].push(sign * (a - b));
            }
        }
    }
    let [up, idle, pair] = moves;
    let live: Vec<usize> = (0..n).filter(|&i| !dead.weight(i)).collect();
    let p = PULSE_REPEATS as f64;
    let mean_se = |xs: &[f64]| {
        let (m, v, _) = moments(xs);
        (m, (v / xs.len() as f64).sqrt())
    };
    // Per device: mean and variance of its up steps.
    let per_up: Vec<(f64, f64)> = live
        .iter()
        .map(|&i| moments(&up[i]))
        .map(|(m, v, _)| (m, v))
        .collect();
    let up_means: Vec<f64> = per_up.iter().map(|x| x.0).collect();
    let (mu_up, se_up) = mean_se(&up_means);
    let downs: Vec<f64> = live
        .iter()
        .map(|&i| moments(&pair[i]).0 - moments(&idle[i]).0)
        .collect();
    let (mu_down, se_down) = mean_se(&downs);
    // Cycle-to-cycle: ratio of pooled within-device variance to the mean squared device mean
    // (each m² corrected by its own sampling variance v/P); standard error by the delta method
    // over devices: Var(A/B) ≈ Var(a − R·b)/(N·B²).
    let (a, b): (Vec<f64>, Vec<f64>) = per_up.iter().map(|&(m, v)| (v, m * m - v / p)).unzip();
    let nd = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / nd, b.iter().sum::<f64>() / nd);
    let ratio = ma / mb;
    let (_, vr, _) = moments(
        &a.iter()
            .zip(&b)
            .map(|(a, b)| a - ratio * b)
            .collect::<Vec<_>>(),
    );
    let (c2c, se_c2c) = sigma_of(ratio, (vr / nd).sqrt() / mb);
    // Device-to-device: the spread over devices of the mean up step, minus the part its own
    // P-sample noise explains.
    let (ms, vs, se_vs) = moments(&up_means);
    let within = a.iter().sum::<f64>() / (nd * p);
    let (d2d, se_d2d) = sigma_of((vs - within) / (ms * ms), se_vs / (ms * ms));
    // Expected values from the file, averaged over the device-to-device draws (fabricate()):
    // a step is Δg · s_i · (1 ± up_down_i) · room, the three independent.
    let g_min = dev.g_min_us / dev.g_max_us;
    let g_start = g_min + start_level * dg;
    let g_max_of = |z: f64| (1.0 + dev.g_max_dtod * z).max(g_min + dg);
    let room_up = |z: f64| {
        if dev.soft_bounds {
            ((g_max_of(z) - g_start) / (g_max_of(z) - g_min)).max(0.0)
        } else {
            ((g_max_of(z) - g_start) / dg).clamp(0.0, 1.0)
        }
    };
    let room_down = if dev.soft_bounds {
        gauss_expect(|z| ((g_start - g_min) / (g_max_of(z) - g_min)).min(1.0))
    } else {
        1.0
    };
    let (r1, r2) = (gauss_expect(room_up), gauss_expect(|z| room_up(z).powi(2)));
    let step_d = |k: i32| gauss_expect(|z| (1.0 + dev.dw_min_dtod * z).max(0.0).powi(k));
    let ud_d = |s: f64, k: i32| {
        gauss_expect(|z| {
            (1.0 + s * (dev.up_down + dev.up_down_dtod * z).clamp(-0.99, 0.99)).powi(k)
        })
    };
    let (b1, b2, u1, u2, d1) = (
        step_d(1),
        step_d(2),
        ud_d(1.0, 1),
        ud_d(1.0, 2),
        ud_d(-1.0, 1),
    );
    PulseResult {
        // 2 %: programming noise moves the starting state, so the soft-bound room, a little.
        up: Measurement {
            value: mu_up,
            stderr: se_up,
            expected: dg * b1 * u1 * r1,
            model_tolerance: 0.02,
        },
        down: Measurement {
            value: mu_down,
            stderr: se_down,
            expected: dg * b1 * d1 * room_down,
            model_tolerance: 0.02,
        },
        // 2 %: the same state noise adds to the within-device variance.
        c2c: Measurement {
            value: c2c,
            stderr: se_c2c,
            expected: dev.dw_min_std,
            model_tolerance: 0.02,
        },
        d2d: Measurement {
            value: d2d,
            stderr: se_d2d,
            expected: (b2 * u2 * r2 - (b1 * u1 * r1).powi(2)).max(0.0).sqrt() / (b1 * u1 * r1),
            model_tolerance: 0.03,
        },
    }
}

/// Drift: program mid-range, read at t₁ and t₂ after programming; per device
/// ν = −ln(d₂/d₁)/ln(t₂/t₁) (the partner at g_min contributes little to d).
pub(super) fn drift(
    tile: &mut TestTile,
    dev: &ConductanceSpec,
    dr: &DriftSpec,
    dead: &Dead,
) -> (Measurement, Measurement) {
    let n = TILE * TILE;
    let dg = tile.device_step().expect("an analog tile") as f64;
    program_differential(tile, &vec![((dev.levels - 1) / 2) as f64 * dg; n]);
    tile.advance_time(DRIFT_TIMES.0 * dr.t0_s);
    let d1 = read_all(tile);
    tile.advance_time((DRIFT_TIMES.1 - DRIFT_TIMES.0) * dr.t0_s);
    let d2 = read_all(tile);
    let span = (DRIFT_TIMES.1 / DRIFT_TIMES.0).ln();
    let nu: Vec<f64> = (0..n)
        .filter(|&i| !dead.weight(i) && d1[i] > 0.0 && d2[i] > 0.0)
        .map(|i| -(d2[i] / d1[i]).ln() / span)
        .collect();
    let (m, v, se_v) = moments(&nu);
    let (s, se_s) = sigma_of(v, se_v);
    let e1 = gauss_expect(|z| (dr.nu + dr.nu_dtod * z).max(0.0));
    let e2 = gauss_expect(|z| (dr.nu + dr.nu_dtod * z).max(0.0).powi(2));
    (
        // 3 %: the partner device drifts with its own ν.
        Measurement {
            value: m,
            stderr: (v / nu.len() as f64).sqrt(),
            expected: e1,
            model_tolerance: 0.03,
        },
        Measurement {
            value: s,
            stderr: se_s,
            expected: (e2 - e1 * e1).max(0.0).sqrt(),
            model_tolerance: 0.05,
        },
    )
}

/// ADC saturation for inputs uniform in [0, 1] (abs-max scaled per array) and He-normal
/// weights, a layer of fan-in [`SAT_COLS`] on the chip's physical arrays. Measured with each
/// array's saturation counter. Expected, per array k with n_k inputs: the ADC input is nearly
/// Gaussian, y ~ N(0, ‖x̃_k‖²·E[w_n²] + σ_out² + σ_w²‖x̃_k‖²), so its rate is
/// 2Φ(−out_bound/σ_y,k), with E[w_n²] of the programmed weights (levels and programming noise
/// included, as in `programming_error_stats`); the layer's rate is the mean over arrays
/// weighted by their conversions.
pub(super) fn adc_saturation(
    model: &ChipModel,
    dev: &ConductanceSpec,
    read: &ReadSpec,
    seed: u64,
    rng: &mut Rng,
) -> (Measurement, (usize, usize)) {
    let mut grid = test_grid(model, SAT_ROWS, SAT_COLS, seed, 3);
    grid.program(&he_weights(SAT_ROWS, SAT_COLS, rng));
    let x = DMatrix::from_fn(SAT_COLS, SAT_READS, |_, _| rng.gen::<f32>());
    let mut y = DMatrix::zeros(SAT_ROWS, SAT_READS);
    let mut c = Counters::default();
    grid.read(&x, &mut y, &mut c);
    let (conv, sat) = grid
        .adc_counts()
        .iter()
        .fold((0u64, 0u64), |(a, b), &(c, s)| (a + c, b + s));
    assert_eq!((conv, sat), (c.adc_conversions, c.adc_saturations));
    let rate = sat as f64 / conv as f64;
    // Outputs of an array are independent (their own weights), reads of one output are not:
    // the standard error is the spread of per-output rates of full-scale codes, at each
    // array's own outputs (its partial sums after its ADC), over √(outputs of all arrays).
    let full_scale = read.out_bound * (1.0 - 1e-6);
    let mut per_row = Vec::new();
    let mut expected_sum = 0.0;
    let q = Converter::new(read.inp_bits, read.inp_bound).step() as f64;
    let w2 = programmed_weight_power(model, dev);
    for a in 0..grid.arrays() {
        let (_, no, i, ni) = grid.bounds(a);
        let part = grid.last_partial(a);
        let gain: Vec<f64> = (0..SAT_READS)
            .map(|j| grid.scale() as f64 * x.view((i, j), (ni, 1)).amax() as f64)
            .collect();
        per_row.extend((0..no).map(|r| {
            part.row(r)
                .iter()
                .zip(&gain)
                .filter(|(v, g)| (**v as f64 / **g).abs() >= full_scale)
                .count() as f64
                / SAT_READS as f64
        }));
        // abs-max scaling per array: one input is 1, the others uniform on [0, 1].
        let n = ni as f64;
        let x2 = (n - 1.0) / 3.0 + 1.0 + n * q * q / 12.0;
        let var_y = x2 * w2 + read.out_noise.powi(2) + read.w_noise.powi(2) * x2;
        expected_sum += no as f64 * erfc(read.out_bound / (2.0 * var_y).sqrt());
    }
    let outputs = per_row.len() as f64;
    let (_, v, _) = moments(&per_row);
    // 25 %: the tail rate is steep in σ_y (≈ 10 % per 1 % of σ_y at 3.4σ), and σ_y ignores the
    // clipping of large weights at low-g_max devices.
    // No saturation at all is a measurement with a resolution of one event.
    let stderr = (v / outputs).sqrt().max(1.0 / conv as f64);
    let m = Measurement {
        value: rate,
        stderr,
        expected: expected_sum / outputs,
        model_tolerance: 0.25,
    };
    (m, grid.grid())
}

/// Expected power E[w_n²] of a programmed He-init weight, units of g_max: targets
/// t ~ N(0, s_t²), clipped to the range, carrying device at round(|t|/Δg)·Δg + noise clipped at
/// g_min, partner max(0, noise).
fn programmed_weight_power(model: &ChipModel, dev: &ConductanceSpec) -> f64 {
    let g_min = dev.g_min_us / dev.g_max_us;
    let max_diff = 1.0 - g_min;
    let dg = max_diff / (dev.levels - 1) as f64;
    let s_t = max_diff
        / model
            .spec()
            .mapping
            .as_ref()
            .map_or(1.0, |m| m.w_range_sigmas);
    let sp = dev.prog_noise_std;
    let (b1, b2) = rectified_moments(0.0, sp);
    gauss_expect(|z| {
        let level = ((s_t * z).abs().min(max_diff) / dg).round() * dg;
        let (a1, a2) = rectified_moments(level, sp);
        a2 - 2.0 * a1 * b1 + b2
    })
}

/// Energy of one MVM: one read of one input vector through a `rows × cols` layer on the chip's
/// physical arrays, its events priced with the file's coefficients; expected from the events
/// such a read must have on that grid.
pub(super) fn mvm_energy(
    model: &ChipModel,
    rows: usize,
    cols: usize,
    seed: u64,
    unit: u64,
    rng: &mut Rng,
) -> MvmEnergy {
    let mut grid = test_grid(model, rows, cols, seed, unit);
    let x = DMatrix::from_fn(cols, 1, |_, _| rng.gen::<f32>());
    let mut y = DMatrix::zeros(rows, 1);
    let mut c = Counters::default();
    grid.read(&x, &mut y, &mut c);
    let e = Energy::of(&c, &model.spec().energy);
    let coef = &model.spec().energy;
    let (r, k) = (rows as f64, cols as f64);
    let (n_out, n_in) = grid.grid();
    let (ao, ai) = (n_out as f64, n_in as f64);
    let expected = if model.is_ideal() {
        r * k * coef.mac_pj + (ai - 1.0) * r * coef.digital_op_pj
    } else {
        // MACs in the arrays; every array converts its own inputs (a DAC and a digital scaling
        // per input per array along the outputs) and its own outputs (an ADC and a digital
        // rescaling per output per array along the inputs); the partial sums of arrays along
        // the inputs are added digitally.
        r * k * coef.mac_pj
            + ao * k * coef.dac_pj
            + ai * r * coef.adc_pj
            + (ao * k + ai * r + (ai - 1.0) * r) * coef.digital_op_pj
    };
    MvmEnergy {
        rows,
        cols,
        arrays: (n_out, n_in),
        counters: c,
        energy: e,
        total: Measurement {
            value: e.total_pj(),
            stderr: 0.0,
            expected,
            model_tolerance: 1e-9,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::presets::resolve;

    #[test]
    fn precision_readout_keeps_the_devices_and_silences_the_read() {
        let m = resolve("rram", &[]).unwrap();
        let p = precision_readout(&m, true);
        let r = p.spec().read.as_ref().unwrap();
        assert_eq!(
            (r.out_noise, r.w_noise, r.out_bits, r.inp_bits),
            (0.0, 0.0, 24, 24)
        );
        match (&m.spec().device, &p.spec().device) {
            (DeviceSpec::Conductance(a), DeviceSpec::Conductance(b)) => {
                assert_eq!(b.prog_noise_std, 0.0);
                assert_eq!(
                    (a.levels, a.g_max_dtod, a.dw_min_std),
                    (b.levels, b.g_max_dtod, b.dw_min_std)
                );
            }
            _ => panic!("rram is a conductance chip"),
        }
    }
}
