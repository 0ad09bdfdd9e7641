//! Lab-style characterisation of a chip model (`npchip chip characterize NAME|FILE`).
//!
//! What a lab does with a test chip, done to a simulated one: fabricate a tile, program known
//! weights, read them many times, send single pulses, and set what was measured next to what the
//! model file predicts. The rule that matters: **every number in the "measured" column comes from
//! reads** (the outputs of a tile read, or the periphery's saturation counter) — never from a noise
//! parameter or a conductance array. The "expected" column is what the file predicts for that
//! same measurement, with the derivation named beside it.
//!
//! Two read-outs are used, as in a lab:
//! - the chip's own periphery (its DAC, fresh read noise, ADC): read noise and ADC saturation;
//! - a *precision read-out* of the same fabricated devices: a tile built from the same seed (so the
//!   same device-to-device draws, programming noise and pulse noise) whose read path has no read
//!   noise and 24-bit converters — the parameter analyser a lab puts on single devices. It serves
//!   levels, programming error, pulse steps, dead devices and drift, whose effects are far below
//!   the chip's own read noise (an ECRAM step is 1/100 of one read's noise).
//!
//! Stages, in order: read noise → levels → dead (stuck) devices → programming error → pulse steps →
//! drift → ADC saturation → energy per MVM. Standard errors come from the sample sizes; the tests
//! (`tests/crossbar.rs`) require every preset to agree with its file within 5 of them.

mod stages;
mod stats;

use crate::chip::energy::{Counters, Energy};
use crate::chip::model::{ChipModel, DeviceSpec};
use crate::rng::{derive, Rng};
use rand::SeedableRng;
use stages::{
    adc_saturation, dead_devices, drift, levels, mvm_energy, precision_readout,
    programming_error_stats, programming_errors, pulse_steps, read_noise, test_tile,
};
use std::fmt;

/// Rows and columns of the test tile.
const TILE: usize = 64;
/// Repeated reads per input pattern in the read-noise measurement.
const NOISE_READS: usize = 2048;
/// Times the test tile is programmed with fresh targets in the programming-error measurement.
const PROG_REPEATS: usize = 4;
/// Requests of each kind (+1, −1, −2 steps) per weight in the pulse-step measurement.
const PULSE_REPEATS: usize = 64;
/// Rows and columns of the tile whose devices are stepped through every level.
const LEVEL_TILE: usize = 16;
/// Most ramp points of the level count (levels above a quarter of this are not resolved).
const MAX_RAMP: usize = 1 << 17;
/// Outputs, inputs and reads of the ADC-saturation measurement (fan-in 1000, as a hidden layer).
const SAT_ROWS: usize = 2048;
const SAT_COLS: usize = 1000;
const SAT_READS: usize = 256;
/// Programming targets of the programming-error measurement: |target| uniform in this fraction
/// of the differential range, so that the carrying device sits away from both of its bounds.
const PROG_TARGETS: (f64, f64) = (0.15, 0.35);
/// The state single pulses start from, as a fraction of the range: low enough that devices with
/// a low g_max (rram: 24 % spread) are not pressed against their upper bound, where clipped
/// pulses would bias both the mean step and its spread.
const PULSE_STATE: f64 = 0.25;
/// Pulses per device in the search for devices that never move (dead: stuck or zero step).
const DEAD_TRIES: usize = 4;
/// Drift reads at these multiples of t₀ after programming.
const DRIFT_TIMES: (f64, f64) = (2.0, 200.0);

/// One measured quantity next to what the model file predicts for the same measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    /// The measured value.
    pub value: f64,
    /// Its standard error, from the sample size (0 for exact counts).
    pub stderr: f64,
    /// What the chip model predicts for this measurement.
    pub expected: f64,
    /// Relative accuracy of `expected` as a prediction (approximations in its derivation).
    pub model_tolerance: f64,
}

impl Measurement {
    /// Whether measured and expected agree within `k` standard errors plus the model tolerance.
    pub fn agrees(&self, k: f64) -> bool {
        (self.value - self.expected).abs()
            <= k * self.stderr + self.model_tolerance * self.expected.abs() + 1e-12
    }
}

/// Energy of one matrix-vector multiplication (one input vector through a layer of this size,
/// on the chip's physical arrays).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MvmEnergy {
    /// Layer outputs.
    pub rows: usize,
    /// Layer inputs.
    pub cols: usize,
    /// Physical arrays it is split over: (along the outputs, along the inputs).
    pub arrays: (usize, usize),
    /// The events the read was counted as.
    pub counters: Counters,
    /// Those events priced with the file's coefficients.
    pub energy: Energy,
    /// Total pJ, against the file's coefficients times the events an MVM of this shape must have.
    pub total: Measurement,
}

/// What `npchip chip characterize` measured, next to what the model file predicts.
///
/// Quantities are `None` where the chip has nothing to measure (an ideal chip has no noise,
/// levels or pulses; a chip without `[drift]` does not drift).
#[derive(Clone, Debug, PartialEq)]
pub struct Characterization {
    /// The model's `name`.
    pub chip: String,
    /// Where the model was read from.
    pub origin: String,
    /// Seed of the simulated test chip.
    pub seed: u64,
    /// Output-referred read noise σ_out, normalised output units.
    pub out_noise: Option<Measurement>,
    /// Weight-referred read noise σ_w, normalised weight units.
    pub w_noise: Option<Measurement>,
    /// Distinct programmed levels of one device (the most any device showed).
    pub levels: Option<Measurement>,
    /// Median over devices of the same count (devices with a low g_max show fewer).
    pub levels_median: Option<f64>,
    /// Std of programmed − target, in units of g_max (precision read-out).
    pub prog_error_std: Option<Measurement>,
    /// Mean of (programmed − target)·sign(target), units of g_max: negative is towards zero.
    pub prog_error_mean: Option<Measurement>,
    /// Mean change of g⁺ − g⁻ by one up pulse from a quarter of the range, units of g_max.
    pub step_up: Option<Measurement>,
    /// Mean change (magnitude) by one down pulse from a quarter of the range, units of g_max.
    pub step_down: Option<Measurement>,
    /// Cycle-to-cycle spread of one pulse's step, relative std.
    pub step_c2c: Option<Measurement>,
    /// Device-to-device spread of the mean up step, relative std.
    pub step_d2d: Option<Measurement>,
    /// Fraction of devices that never moved under pulses (stuck, or a fabricated step of zero).
    pub stuck_fraction: Option<Measurement>,
    /// Mean drift exponent ν over devices.
    pub drift_nu_mean: Option<Measurement>,
    /// Device-to-device std of ν.
    pub drift_nu_std: Option<Measurement>,
    /// Fraction of ADC conversions that saturate, for the stated input and weight distribution,
    /// a layer of fan-in 1000 on the chip's physical arrays (each with its own input scaling).
    pub adc_saturation: Option<Measurement>,
    /// Physical arrays of that layer: (along the outputs, along the inputs).
    pub adc_saturation_arrays: (usize, usize),
    /// Energy per MVM of a 64×64 and of a 1000×1000 tile.
    pub energy: Vec<MvmEnergy>,
}

/// One printed row: label, unit, measurement, where the expected value comes from.
struct Row<'a> {
    label: String,
    unit: &'static str,
    m: &'a Measurement,
    from: &'static str,
}

/// Reads one quantity out of a [`Characterization`].
type Field = fn(&Characterization) -> &Option<Measurement>;

/// The table: label, unit, where the expected value comes from, the field.
#[rustfmt::skip]
const ROWS: &[(&str, &str, &str, Field)] = &[
    ("read noise σ_out (output-referred)", "norm. output", "read.out_noise", |c| &c.out_noise),
    ("read noise σ_w (weight-referred)", "norm. weight", "read.w_noise", |c| &c.w_noise),
    ("levels per device (most any device showed)", "states", "device.levels", |c| &c.levels),
    ("programming error, std", "g_max", "prog_noise_std·√(3/2−1/2π) ⊕ Δg/√12", |c| &c.prog_error_std),
    ("programming error, mean (− = towards 0)", "g_max", "−prog_noise_std/√(2π)", |c| &c.prog_error_mean),
    ("pulse step up, g⁺ from ¼ range", "g_max", "Δg·(1+up_down)·room", |c| &c.step_up),
    ("pulse step down, g⁺ from ¼ range", "g_max", "Δg·(1−up_down)·room", |c| &c.step_down),
    ("pulse step spread, cycle-to-cycle", "rel. std", "device.dw_min_std", |c| &c.step_c2c),
    ("pulse step spread, device-to-device", "rel. std", "dw_min_dtod ⊕ up_down_dtod ⊕ g_max_dtod (room)", |c| &c.step_d2d),
    ("devices that never moved", "fraction", "stuck_at_* + P(1 + dw_min_dtod·ξ ≤ 0)", |c| &c.stuck_fraction),
    ("drift exponent ν, mean", "1", "drift.nu", |c| &c.drift_nu_mean),
    ("drift exponent ν, device-to-device std", "1", "drift.nu_dtod", |c| &c.drift_nu_std),
    ("ADC saturation, 1000 inputs U[0,1], He init", "fraction", "mean over arrays of 2Φ(−out_bound/σ_y), σ_y from the file", |c| &c.adc_saturation),
];

impl Characterization {
    fn rows(&self) -> Vec<Row<'_>> {
        let mut rows: Vec<Row<'_>> = ROWS
            .iter()
            .filter_map(|&(label, unit, from, field)| {
                field(self).as_ref().map(|m| Row {
                    label: label.to_string(),
                    unit,
                    m,
                    from,
                })
            })
            .collect();
        for e in &self.energy {
            rows.push(Row {
                label: format!(
                    "energy per MVM, {}×{} layer, {}×{} arrays",
                    e.rows, e.cols, e.arrays.0, e.arrays.1
                ),
                unit: "pJ",
                m: &e.total,
                from: "[energy] × events",
            });
        }
        rows
    }

    /// The quantities whose measured value is NaN or infinite, one `label = value` each: such a
    /// measurement is no measurement (a model where every device is stuck has no pulse step to
    /// measure), so `chip characterize` fails instead of printing it as a result.
    pub fn non_finite(&self) -> Vec<String> {
        self.rows()
            .into_iter()
            .filter(|r| !r.m.value.is_finite())
            .map(|r| format!("{} = {}", r.label, r.m.value))
            .collect()
    }

    /// The quantities whose measurement disagrees with the file by more than `k` standard errors
    /// (plus the prediction's own tolerance), one line each; empty when all agree.
    pub fn disagreements(&self, k: f64) -> Vec<String> {
        self.rows()
            .into_iter()
            .filter(|r| !r.m.agrees(k))
            .map(|r| {
                format!(
                    "{}: measured {} ± {}, expected {}",
                    r.label, r.m.value, r.m.stderr, r.m.expected
                )
            })
            .collect()
    }
}

/// `x` with about four significant digits (scientific when very small or large).
fn num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    if x.fract() == 0.0 && x.abs() < 1e7 {
        return format!("{x:.0}");
    }
    let mag = x.abs().log10().floor() as i32;
    if !(-3..6).contains(&mag) {
        format!("{x:.3e}")
    } else {
        format!("{x:.*}", (3 - mag).max(0) as usize)
    }
}

impl fmt::Display for Characterization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chip model `{}` ({}), simulated test chip seed {}",
            self.chip, self.origin, self.seed
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<46} {:<13} {:>24} {:>11}  {:<3} expected from",
            "quantity", "unit", "measured", "expected", ""
        )?;
        for r in self.rows() {
            let measured = if r.m.stderr > 0.0 {
                format!("{} ± {}", num(r.m.value), num(r.m.stderr))
            } else {
                num(r.m.value)
            };
            let mark = if r.m.agrees(5.0) { "ok" } else { "OFF" };
            writeln!(
                f,
                "{:<46} {:<13} {:>24} {:>11}  {:<3} {}",
                r.label,
                r.unit,
                measured,
                num(r.m.expected),
                mark,
                r.from
            )?;
        }
        if self.out_noise.is_none() {
            return writeln!(f, "\n(ideal chip: exact float weights and reads; no noise, levels, pulses or converters to measure)");
        }
        if let Some(m) = self.levels_median {
            writeln!(f, "\nlevels: median over devices {m} (devices with a g_max below nominal clip sooner)")?;
        }
        writeln!(
            f,
            "\nok: within 5 standard errors (± is one) plus the prediction's own tolerance. g_max: normalised \
             conductance (g⁺ − g⁻)/g_max. Protocols:
- read noise: the chip's own read path; a {TILE}×{TILE} tile with He weights, {NOISE_READS} reads each of e₁ and of
  all-ones; per-output variance, less the ADC's Δ²/12, fitted as σ_out² + σ_w²·‖x‖².
- levels, programming error, pulse steps, dead devices, drift: a precision read-out of the same devices
  (no read noise, 24-bit converters). Levels: a ramp of write-verify targets, 4 per level. Programming
  error: {} targets with |w| in [{}, {}] of the range. Steps: {PULSE_REPEATS} requests each of +1, −1 and −2
  steps per weight, each from a fresh programming (g⁺ at ¼ range, g⁻ at g_min).
- ADC saturation: the arrays' saturation counters over {SAT_READS} reads of a {SAT_ROWS}×{SAT_COLS} layer on {}×{} physical
  arrays (outputs × inputs), each scaling its own inputs; its error from the spread over every array's outputs
  (a few outputs with large weight sums do most of the saturating).",
            PROG_REPEATS * TILE * TILE,
            PROG_TARGETS.0,
            PROG_TARGETS.1,
            self.adc_saturation_arrays.0,
            self.adc_saturation_arrays.1
        )
    }
}

/// Measures `model` on a simulated test chip fabricated with `seed`.
pub fn characterize(model: &ChipModel, seed: u64) -> Characterization {
    let spec = model.spec();
    let mut c = Characterization {
        chip: spec.name.clone(),
        origin: model.origin.clone(),
        seed,
        out_noise: None,
        w_noise: None,
        levels: None,
        levels_median: None,
        prog_error_std: None,
        prog_error_mean: None,
        step_up: None,
        step_down: None,
        step_c2c: None,
        step_d2d: None,
        stuck_fraction: None,
        drift_nu_mean: None,
        drift_nu_std: None,
        adc_saturation: None,
        adc_saturation_arrays: (1, 1),
        energy: Vec::new(),
    };
    let mut rng = Rng::seed_from_u64(derive(seed, &[0xC4A2_AC7E]));
    if let (DeviceSpec::Conductance(dev), Some(read)) = (&spec.device, &spec.read) {
        let (o, w) = read_noise(model, read, seed, &mut rng);
        c.out_noise = Some(o);
        c.w_noise = Some(w);
        let (lv, median) = levels(model, dev, seed);
        c.levels = Some(lv);
        c.levels_median = Some(median);
        let (dead, stuck) = dead_devices(model, dev, seed);
        c.stuck_fraction = Some(stuck);
        let precise = precision_readout(model, false);
        let mut bench = test_tile(&precise, TILE, TILE, seed, 1);
        let errors = programming_errors(&mut bench, &mut rng);
        let (std, mean) = programming_error_stats(&errors, &dead, dev);
        c.prog_error_std = Some(std);
        c.prog_error_mean = Some(mean);
        let pulses = pulse_steps(&mut bench, dev, &dead);
        c.step_up = Some(pulses.up);
        c.step_down = Some(pulses.down);
        c.step_c2c = Some(pulses.c2c);
        c.step_d2d = Some(pulses.d2d);
        if let Some(dr) = &spec.drift {
            let (m, s) = drift(&mut bench, dev, dr, &dead);
            c.drift_nu_mean = Some(m);
            c.drift_nu_std = Some(s);
        }
        let (m, arrays) = adc_saturation(model, dev, read, seed, &mut rng);
        c.adc_saturation = Some(m);
        c.adc_saturation_arrays = arrays;
    }
    for (n, unit) in [(TILE, 4), (1000, 5)] {
        c.energy.push(mvm_energy(model, n, n, seed, unit, &mut rng));
    }
    c
}
