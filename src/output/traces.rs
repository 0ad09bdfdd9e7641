//! Hardware traces per layer and epoch, from the chip's simulation-only [`Telemetry`].
//!
//! `summary`: conductance histograms (g⁺ and g⁻), pulse-count histograms (up and down pulses
//! per device in the epoch), the worst device's and the mean pulse count, ADC-input
//! histograms. `full` adds per-device pulse counts (the last epoch's and cumulative) and a
//! fixed, seeded sample of device conductances per epoch.
//!
//! The chip's trace counters only ever grow (the observer sees `&Chip`), so per-epoch values
//! are differences of successive totals, kept here; nothing here changes the chip.

use super::hdf5::OutputError;
use super::schema::{self, create_series, group, h5err, put_fixed, put_row, Attr, TRACES};
use super::TraceLevel;
use crate::chip::{ArrayTelemetry, Chip, ChipModel, Telemetry};
use crate::rng::derive;
use ::hdf5::Group;
use rand::SeedableRng;
use std::path::Path;

/// Bins of the conductance histograms, over [0, [`G_HI`]] of the nominal g_max.
pub(crate) const G_BINS: usize = 130;
/// Upper edge of the conductance histograms (devices with g_max spread exceed 1).
pub(crate) const G_HI: f64 = 1.3;
/// Bins of the ADC-input histograms (over ±1.5 × out_bound).
pub(crate) const ADC_BINS: usize = 120;
/// Pulse-count bins: [0,1), [1,2), [2,4), …, [2³¹, 2³²].
pub(crate) const PULSE_BINS: usize = 33;
/// Devices per layer in the conductance snapshots (`full`).
pub(crate) const SNAPSHOT_DEVICES: usize = 1024;

/// Turns on the chip's trace counters for `level`.
pub(crate) fn prepare_chip(chip: &mut Chip, level: TraceLevel) {
    if level != TraceLevel::None {
        chip.enable_traces(ADC_BINS);
    }
}

fn pulse_bin(x: u32) -> usize {
    (32 - x.leading_zeros()) as usize
}

fn pulse_edges() -> Vec<u64> {
    std::iter::once(0)
        .chain((0..PULSE_BINS).map(|k| 1u64 << k))
        .collect()
}

fn g_edges() -> Vec<f64> {
    (0..=G_BINS)
        .map(|i| G_HI * i as f64 / G_BINS as f64)
        .collect()
}

/// The fixed device sample of layer `l` (sorted indices into the 2n devices).
pub(crate) fn snapshot_devices(seed: u64, l: usize, devices: usize) -> Vec<usize> {
    let k = SNAPSHOT_DEVICES.min(devices);
    let mut rng = crate::rng::Rng::seed_from_u64(derive(seed, &[0x7ace, l as u64]));
    let mut idx = rand::seq::index::sample(&mut rng, devices, k).into_vec();
    idx.sort_unstable();
    idx
}

struct LayerState {
    analog: bool,
    rows: usize,
    cols: usize,
    prev_up: Vec<u32>,
    prev_down: Vec<u32>,
    prev_adc: Vec<u64>,
    /// Per physical array, the totals at the previous epoch row.
    prev_arrays: Vec<ArrayTelemetry>,
    /// `full` only: cumulative pulses, up block (2n) then down block (2n).
    cumulative: Vec<u64>,
    snapshot: Vec<usize>,
}

/// Writes `traces/` rows; holds the previous totals to difference.
pub(crate) struct TraceWriter {
    level: TraceLevel,
    layers: Vec<LayerState>,
}

fn layer_name(l: usize) -> String {
    format!("layer{l}")
}

impl TraceWriter {
    /// One state per layer, from its weight matrix shape `(rows, cols)` (a conv layer's
    /// kernel matrix, not its node count).
    fn states(
        level: TraceLevel,
        model: &ChipModel,
        shapes: &[(usize, usize)],
        seed: u64,
    ) -> Vec<LayerState> {
        shapes
            .iter()
            .enumerate()
            .map(|(l, &(rows, cols))| {
                let analog = !model.is_ideal();
                let full = level == TraceLevel::Full && analog;
                LayerState {
                    analog,
                    rows,
                    cols,
                    prev_up: Vec::new(),
                    prev_down: Vec::new(),
                    prev_adc: Vec::new(),
                    prev_arrays: Vec::new(),
                    cumulative: if full {
                        vec![0; 4 * rows * cols]
                    } else {
                        Vec::new()
                    },
                    snapshot: if full {
                        snapshot_devices(seed, l, 2 * rows * cols)
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect()
    }

    /// Creates `traces/` for a new run.
    pub(crate) fn create(
        path: &Path,
        run: &Group,
        level: TraceLevel,
        model: &ChipModel,
        shapes: &[(usize, usize)],
        seed: u64,
    ) -> Result<TraceWriter, OutputError> {
        let w = TraceWriter {
            level,
            layers: Self::states(level, model, shapes, seed),
        };
        if level == TraceLevel::None {
            return Ok(w);
        }
        let a = Attr { path };
        let tr = run
            .create_group(TRACES)
            .map_err(|e| h5err(path, "creating traces/", e))?;
        a.text(&tr, "level", level.name())?;
        let n = w.layers.len();
        let ds = create_series::<u64>(
            path,
            &tr,
            "max_pulses_per_device",
            &[n],
            "pulses per device per epoch (up + down)",
        )?;
        a.text(&ds, "dims", "epoch, layer")?;
        let ds = create_series::<f64>(
            path,
            &tr,
            "mean_pulses_per_device",
            &[n],
            "pulses per device per epoch (up + down)",
        )?;
        a.text(&ds, "dims", "epoch, layer")?;
        let has_adc = model.spec().read.is_some();
        for (l, s) in w.layers.iter().enumerate() {
            let lg = tr
                .create_group(&layer_name(l))
                .map_err(|e| h5err(path, format!("creating traces/{}", layer_name(l)), e))?;
            a.array(&lg, "shape", &[s.rows as u64, s.cols as u64])?;
            a.scalar(&lg, "analog", s.analog)?;
            if has_adc {
                let ds = create_series::<u64>(
                    path,
                    &lg,
                    "adc_hist",
                    &[ADC_BINS],
                    "ADC conversions per bin",
                )?;
                let lim = 1.5 * model.spec().read.as_ref().map_or(1.0, |r| r.out_bound);
                let edges: Vec<f64> = (0..=ADC_BINS)
                    .map(|i| -lim + 2.0 * lim * i as f64 / ADC_BINS as f64)
                    .collect();
                a.array(&ds, "edges", &edges)?;
                a.text(&ds, "dims", "epoch, bin")?;
            }
            if !s.analog {
                continue;
            }
            let ds = create_series::<u64>(
                path,
                &lg,
                "conductance_hist",
                &[2, G_BINS],
                "devices per bin",
            )?;
            a.array(&ds, "edges", &g_edges())?;
            a.text(&ds, "dims", "epoch, device (0 = g+, 1 = g-), bin")?;
            let ds =
                create_series::<u64>(path, &lg, "pulse_hist", &[2, PULSE_BINS], "devices per bin")?;
            a.array(&ds, "edges", &pulse_edges())?;
            a.text(&ds, "dims", "epoch, direction (0 = up, 1 = down), bin")?;
            if level == TraceLevel::Full {
                let k = s.snapshot.len();
                let idx: Vec<u64> = s.snapshot.iter().map(|&d| d as u64).collect();
                let n = s.rows * s.cols;
                let half: Vec<u8> = s.snapshot.iter().map(|&d| (d >= n) as u8).collect();
                let row: Vec<u64> = s
                    .snapshot
                    .iter()
                    .map(|&d| ((d % n) % s.rows) as u64)
                    .collect();
                let col: Vec<u64> = s
                    .snapshot
                    .iter()
                    .map(|&d| ((d % n) / s.rows) as u64)
                    .collect();
                put_fixed(path, &lg, "snapshot_device", &[k], &idx)?;
                put_fixed(path, &lg, "snapshot_half", &[k], &half)?;
                put_fixed(path, &lg, "snapshot_row", &[k], &row)?;
                put_fixed(path, &lg, "snapshot_col", &[k], &col)?;
                let ds = create_series::<f32>(
                    path,
                    &lg,
                    "conductance_snapshot",
                    &[k],
                    "g / nominal g_max",
                )?;
                a.text(&ds, "dims", "epoch, sampled device")?;
            }
        }
        Ok(w)
    }

    /// Reopens the traces of a run being resumed at `rows` finished epochs: previous totals
    /// start at zero (the rebuilt chip's counters do) and the cumulative pulse counts are
    /// read back from the file.
    pub(crate) fn reopen(
        path: &Path,
        run: &Group,
        level: TraceLevel,
        model: &ChipModel,
        shapes: &[(usize, usize)],
        seed: u64,
    ) -> Result<TraceWriter, OutputError> {
        let mut w = TraceWriter {
            level,
            layers: Self::states(level, model, shapes, seed),
        };
        if level != TraceLevel::Full {
            return Ok(w);
        }
        let tr = group(path, run, TRACES)?;
        for (l, s) in w.layers.iter_mut().enumerate() {
            if !s.analog {
                continue;
            }
            let lg = group(path, &tr, &layer_name(l))?;
            if lg.link_exists("pulses_cumulative") {
                let (v, _) = schema::read_flat::<u64>(path, &lg, "pulses_cumulative", None)?;
                if v.len() != s.cumulative.len() {
                    return Err(schema::bad(
                        path,
                        format!("{}/pulses_cumulative", lg.name()),
                        format!("has {} values, expected {}", v.len(), s.cumulative.len()),
                    ));
                }
                // Stored as [direction, half, row, col]; kept as [direction][device (column-major)].
                let (rows, cols, n) = (s.rows, s.cols, s.rows * s.cols);
                for dir in 0..2 {
                    for half in 0..2 {
                        for r in 0..rows {
                            for c in 0..cols {
                                s.cumulative[dir * 2 * n + half * n + c * rows + r] =
                                    v[((dir * 2 + half) * rows + r) * cols + c];
                            }
                        }
                    }
                }
            }
        }
        Ok(w)
    }

    /// Appends row `row` of every trace dataset from the chip's telemetry.
    pub(crate) fn epoch(
        &mut self,
        path: &Path,
        run: &Group,
        row: usize,
        chip: &Chip,
    ) -> Result<(), OutputError> {
        if self.level == TraceLevel::None {
            return Ok(());
        }
        let tr = group(path, run, TRACES)?;
        let t: Telemetry = chip.telemetry();
        let n_layers = self.layers.len();
        let (mut maxes, mut means) = (vec![0u64; n_layers], vec![0f64; n_layers]);
        for (l, s) in self.layers.iter_mut().enumerate() {
            let lg = group(path, &tr, &layer_name(l))?;
            let lt = t.layer(l);
            if let Some(h) = lt.adc_histogram() {
                if s.prev_adc.len() != h.counts.len() {
                    s.prev_adc = vec![0; h.counts.len()];
                }
                let d: Vec<u64> = h
                    .counts
                    .iter()
                    .zip(&s.prev_adc)
                    .map(|(c, p)| c - p)
                    .collect();
                s.prev_adc.copy_from_slice(&h.counts);
                if lg.link_exists("adc_hist") {
                    put_row(path, &schema::dataset(path, &lg, "adc_hist")?, row, &d)?;
                }
            }
            per_array(path, &lg, row, &lt.arrays(), &mut s.prev_arrays)?;
            if !s.analog {
                continue;
            }
            let (gp, gm) = lt.conductances().expect("analog layers have conductances");
            let mut gh = vec![0u64; 2 * G_BINS];
            for (half, g) in [&gp[..], &gm[..]].into_iter().enumerate() {
                for &v in g {
                    let k = ((v as f64 / G_HI * G_BINS as f64).floor().max(0.0) as usize)
                        .min(G_BINS - 1);
                    gh[half * G_BINS + k] += 1;
                }
            }
            put_row(
                path,
                &schema::dataset(path, &lg, "conductance_hist")?,
                row,
                &gh,
            )?;
            let p = lt.pulse_totals().ok_or_else(|| schema::bad(path, lg.name(), "has no pulse totals: the chip's traces were not enabled (call RunWriter::prepare_chip before training)"))?;
            let devices = p.up.len();
            if s.prev_up.len() != devices {
                s.prev_up = vec![0; devices];
                s.prev_down = vec![0; devices];
            }
            let mut ph = vec![0u64; 2 * PULSE_BINS];
            let (mut max, mut sum) = (0u64, 0u64);
            let full = self.level == TraceLevel::Full;
            let mut last = if full {
                vec![0u32; 2 * devices]
            } else {
                Vec::new()
            };
            for d in 0..devices {
                let up = p.up[d].wrapping_sub(s.prev_up[d]);
                let down = p.down[d].wrapping_sub(s.prev_down[d]);
                ph[pulse_bin(up)] += 1;
                ph[PULSE_BINS + pulse_bin(down)] += 1;
                let both = up as u64 + down as u64;
                max = max.max(both);
                sum += both;
                if full {
                    last[d] = up;
                    last[devices + d] = down;
                    s.cumulative[d] += up as u64;
                    s.cumulative[devices + d] += down as u64;
                }
            }
            s.prev_up.copy_from_slice(&p.up);
            s.prev_down.copy_from_slice(&p.down);
            maxes[l] = max;
            means[l] = sum as f64 / devices.max(1) as f64;
            put_row(path, &schema::dataset(path, &lg, "pulse_hist")?, row, &ph)?;
            if full {
                let (rows, cols, n) = (s.rows, s.cols, s.rows * s.cols);
                // [direction, half, row, col], row-major, from [direction][half·n + col·rows + row].
                let reorder = |src: &dyn Fn(usize) -> u64| -> Vec<u64> {
                    let mut out = Vec::with_capacity(4 * n);
                    for dir in 0..2 {
                        for half in 0..2 {
                            for r in 0..rows {
                                for c in 0..cols {
                                    out.push(src(dir * 2 * n + half * n + c * rows + r));
                                }
                            }
                        }
                    }
                    out
                };
                let last32: Vec<u32> = reorder(&|i| last[i] as u64)
                    .into_iter()
                    .map(|v| v as u32)
                    .collect();
                let ds = put_fixed(path, &lg, "pulses_last_epoch", &[2, 2, rows, cols], &last32)?;
                let a = Attr { path };
                a.text(
                    &ds,
                    "dims",
                    "direction (0 = up, 1 = down), device (0 = g+, 1 = g-), row, col",
                )?;
                a.scalar(&ds, "epoch_row", row as u64)?;
                let cum = reorder(&|i| s.cumulative[i]);
                let ds = put_fixed(path, &lg, "pulses_cumulative", &[2, 2, rows, cols], &cum)?;
                a.text(
                    &ds,
                    "dims",
                    "direction (0 = up, 1 = down), device (0 = g+, 1 = g-), row, col",
                )?;
                a.scalar(&ds, "epoch_row", row as u64)?;
                let g = [&gp[..], &gm[..]].concat();
                let snap: Vec<f32> = s.snapshot.iter().map(|&d| g[d]).collect();
                put_row(
                    path,
                    &schema::dataset(path, &lg, "conductance_snapshot")?,
                    row,
                    &snap,
                )?;
            }
        }
        put_row(
            path,
            &schema::dataset(path, &tr, "max_pulses_per_device")?,
            row,
            &maxes,
        )?;
        put_row(
            path,
            &schema::dataset(path, &tr, "mean_pulses_per_device")?,
            row,
            &means,
        )?;
        Ok(())
    }
}

/// Row `row` of the per-array figures of one layer: each physical array's ADC saturation rate
/// and programming pulses in the epoch (`array_bounds` says where each array sits). Created at
/// the first epoch from the chip itself, so the split is the one the chip was built with.
fn per_array(
    path: &Path,
    lg: &Group,
    row: usize,
    now: &[ArrayTelemetry],
    prev: &mut Vec<ArrayTelemetry>,
) -> Result<(), OutputError> {
    let n = now.len();
    if !lg.link_exists("array_bounds") {
        let a = Attr { path };
        let bounds: Vec<u64> = now
            .iter()
            .flat_map(|t| [t.output_offset, t.outputs, t.input_offset, t.inputs])
            .map(|v| v as u64)
            .collect();
        let ds = put_fixed(path, lg, "array_bounds", &[n, 4], &bounds)?;
        a.text(
            &ds,
            "dims",
            "array (m + n_out·k: output part m, input part k), [output offset, outputs, input offset, inputs]",
        )?;
        let ds = create_series::<f64>(
            path,
            lg,
            "array_adc_saturation_rate",
            &[n],
            "saturated / all ADC conversions of the array in the epoch (NaN: no conversions)",
        )?;
        a.text(&ds, "dims", "epoch, array")?;
        let ds = create_series::<u64>(
            path,
            lg,
            "array_pulses",
            &[n],
            "programming pulses (up + down) into the array's devices in the epoch",
        )?;
        a.text(&ds, "dims", "epoch, array")?;
    }
    if prev.len() != n {
        *prev = now
            .iter()
            .map(|t| ArrayTelemetry {
                reads: 0,
                adc_conversions: 0,
                adc_saturations: 0,
                pulses_up: 0,
                pulses_down: 0,
                ..*t
            })
            .collect();
    }
    let mut rate = Vec::with_capacity(n);
    let mut pulses = Vec::with_capacity(n);
    for (t, p) in now.iter().zip(prev.iter()) {
        let conv = t.adc_conversions - p.adc_conversions;
        let sat = t.adc_saturations - p.adc_saturations;
        rate.push(if conv == 0 {
            f64::NAN
        } else {
            sat as f64 / conv as f64
        });
        pulses.push((t.pulses_up + t.pulses_down) - (p.pulses_up + p.pulses_down));
    }
    prev.copy_from_slice(now);
    put_row(
        path,
        &schema::dataset(path, lg, "array_adc_saturation_rate")?,
        row,
        &rate,
    )?;
    put_row(
        path,
        &schema::dataset(path, lg, "array_pulses")?,
        row,
        &pulses,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulse_bins_are_powers_of_two() {
        let e = pulse_edges();
        assert_eq!(e.len(), PULSE_BINS + 1);
        for x in [0u32, 1, 2, 3, 4, 7, 8, 1000, u32::MAX] {
            let b = pulse_bin(x);
            assert!(
                e[b] <= x as u64 && (x as u64) < e[b + 1] || b == PULSE_BINS - 1,
                "{x} in bin {b}"
            );
        }
    }

    #[test]
    fn snapshot_sample_is_fixed_and_distinct() {
        let a = snapshot_devices(3, 1, 5000);
        assert_eq!(a, snapshot_devices(3, 1, 5000));
        assert_eq!(a.len(), SNAPSHOT_DEVICES);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(snapshot_devices(3, 0, 10).len(), 10);
    }
}
