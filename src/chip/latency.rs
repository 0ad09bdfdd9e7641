//! Time per layer and phase: the counts priced by the chip model's per-event times.
//!
//! Kept apart from counting exactly as energy is (NeuroSim reports latency beside energy per
//! layer; here both are re-priceable from a result file's counters). The schedule it prices:
//! the physical arrays of one layer work in parallel, layers and passes one after another, and
//! the digital periphery is one unit with a fixed throughput. So a layer's time in a phase is
//!
//! ```text
//! t = reads · t_read + requests · t_program + (digital_ops + int_adds + int_mults) / digital_ops_per_ns
//! t_read    = t_dac + mvm_ns + min(cols_per_adc, outputs of one array) · adc_conversion_ns
//! t_dac     = inp_bits · dac_cycle_ns (bit-serial) or dac_cycle_ns (parallel)
//! t_program = max_pulses · pulse_ns · (input rows of one array, when programmed row by row)
//! ```
//!
//! with `reads` and `requests` the counts of one array (the counters sum over a layer's
//! arrays, and every array of a layer takes part in every read and every programming request).
//! On a chip without a read path (the ideal digital reference) the array's MACs run on the
//! digital unit instead. docs/chip-model.md ("Latency") states the same with sources.

use super::energy::Counters;
use super::model::{ChipModel, DacMode, Programming};

/// The physical arrays one matrix (a layer's weights, or a decorrelator's R) is split over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayGeometry {
    /// Number of arrays the matrix occupies.
    pub arrays: usize,
    /// Input rows of the largest array.
    pub rows: usize,
    /// Output columns of the largest array.
    pub cols: usize,
}

impl ArrayGeometry {
    /// A `outputs × inputs` matrix on arrays of at most `max_rows` inputs × `max_cols`
    /// outputs (0 or `usize::MAX`: unbounded), split exactly as the chip's array grid splits it
    /// (the same [`split`](super::array_grid::split): near-equal parts, the first the largest).
    pub fn split(inputs: usize, outputs: usize, max_rows: usize, max_cols: usize) -> Self {
        let unbounded = |m: usize| if m == 0 { usize::MAX } else { m };
        let ins = super::array_grid::split(inputs, unbounded(max_rows));
        let outs = super::array_grid::split(outputs, unbounded(max_cols));
        ArrayGeometry {
            arrays: ins.len() * outs.len(),
            rows: ins[0].1,
            cols: outs[0].1,
        }
    }
}

/// Time of some counts under some per-event times, split by what takes it, in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    /// Array reads: DAC, settling, ADC (or the MACs on the digital unit of an ideal chip).
    pub read_ns: f64,
    /// Programming requests (pulse-train schedules).
    pub program_ns: f64,
    /// Digital operations.
    pub digital_ns: f64,
}

impl Latency {
    /// Prices the counters `c` of a matrix laid out as `g` on `model`'s timing; all zero when
    /// the model has no `[timing]` section.
    pub fn of(c: &Counters, g: &ArrayGeometry, model: &ChipModel) -> Latency {
        let spec = model.spec();
        let Some(t) = &spec.timing else {
            return Latency::default();
        };
        let arrays = g.arrays.max(1) as f64;
        let read_ns = match &spec.read {
            Some(r) => {
                let dac = match t.dac_mode {
                    DacMode::BitSerial => r.inp_bits as f64 * t.dac_cycle_ns,
                    DacMode::Parallel => t.dac_cycle_ns,
                };
                let adc = (t.cols_per_adc as usize).min(g.cols.max(1)) as f64 * t.adc_conversion_ns;
                c.vector_reads as f64 / arrays * (dac + t.mvm_ns + adc)
            }
            None => c.macs as f64 / t.digital_ops_per_ns,
        };
        let program_ns = match &spec.update {
            Some(u) => {
                let rows = match t.programming {
                    Programming::Row => g.rows.max(1) as f64,
                    Programming::Array => 1.0,
                };
                c.program_requests as f64 / arrays * u.max_pulses as f64 * t.pulse_ns * rows
            }
            None => 0.0,
        };
        Latency {
            read_ns,
            program_ns,
            digital_ns: (c.digital_ops + c.int_adds + c.int_mults) as f64 / t.digital_ops_per_ns,
        }
    }

    /// The sum of all parts, ns.
    pub fn total_ns(&self) -> f64 {
        self.read_ns + self.program_ns + self.digital_ns
    }
}

/// Time of one layer's counters, per phase: the weight arrays of an `outputs × inputs` layer
/// for every phase but decorrelation, whose reads and programming go to the layer's `inputs ×
/// inputs` decorrelator (its own arrays when analog; only digital work otherwise).
pub fn layer_latency(
    model: &ChipModel,
    inputs: usize,
    outputs: usize,
    c: &super::energy::LayerCounters,
) -> [Latency; 4] {
    use super::energy::Phase;
    let (rows, cols) = model.array_limits();
    let weights = ArrayGeometry::split(inputs, outputs, rows, cols);
    let decor = ArrayGeometry::split(inputs, inputs, rows, cols);
    Phase::ALL.map(|p| {
        let g = if p == Phase::Decorrelation {
            &decor
        } else {
            &weights
        };
        Latency::of(c.get(p), g, model)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::presets;

    #[test]
    fn near_equal_split_covers_the_matrix() {
        let g = ArrayGeometry::split(784, 1000, 256, 256);
        assert_eq!(
            g,
            ArrayGeometry {
                arrays: 16,
                rows: 196,
                cols: 250
            }
        );
        assert_eq!(
            ArrayGeometry::split(784, 10, 0, 0),
            ArrayGeometry {
                arrays: 1,
                rows: 784,
                cols: 10
            }
        );
        assert_eq!(ArrayGeometry::split(256, 256, 256, 256).arrays, 1);
        assert_eq!(
            ArrayGeometry::split(257, 1, 256, 256),
            ArrayGeometry {
                arrays: 2,
                rows: 129,
                cols: 1
            }
        );
    }

    /// Every term against a hand computation with the rram preset's times.
    #[test]
    fn rram_times_are_the_documented_equations() {
        let model = presets::resolve("rram", &[]).unwrap();
        let t = model.spec().timing.clone().unwrap();
        let r = model.spec().read.clone().unwrap();
        let u = model.spec().update.clone().unwrap();
        let g = ArrayGeometry {
            arrays: 4,
            rows: 200,
            cols: 250,
        };
        let c = Counters {
            vector_reads: 4 * 10,
            program_requests: 4 * 3,
            digital_ops: 6400,
            ..Default::default()
        };
        let l = Latency::of(&c, &g, &model);
        let t_read = r.inp_bits as f64 * t.dac_cycle_ns
            + t.mvm_ns
            + (t.cols_per_adc as f64).min(250.0) * t.adc_conversion_ns;
        assert!((l.read_ns - 10.0 * t_read).abs() < 1e-9 * l.read_ns);
        let t_prog = u.max_pulses as f64 * t.pulse_ns * 200.0;
        assert!((l.program_ns - 3.0 * t_prog).abs() < 1e-9 * l.program_ns);
        assert!((l.digital_ns - 6400.0 / t.digital_ops_per_ns).abs() < 1e-12);
        assert!((l.total_ns() - (l.read_ns + l.program_ns + l.digital_ns)).abs() < 1e-6);
        // The numbers themselves: 7 × 100 ns + 128 × 0.78 ns per read, 31 × 80 ns × 200 rows.
        assert!((t_read - (700.0 + 99.84)).abs() < 1e-9);
        assert!((t_prog - 496_000.0).abs() < 1e-6);
    }

    #[test]
    fn ideal_chip_runs_macs_on_the_digital_unit_and_array_programming_is_row_free() {
        let ideal = presets::resolve("ideal", &[]).unwrap();
        let c = Counters {
            macs: 6400,
            vector_reads: 5,
            ..Default::default()
        };
        let g = ArrayGeometry::split(64, 100, 0, 0);
        let l = Latency::of(&c, &g, &ideal);
        assert_eq!((l.read_ns, l.program_ns, l.digital_ns), (100.0, 0.0, 0.0));
        let ecram = presets::resolve("ecram", &[]).unwrap();
        let c = Counters {
            program_requests: 2,
            ..Default::default()
        };
        let l = Latency::of(
            &c,
            &ArrayGeometry {
                arrays: 2,
                rows: 256,
                cols: 256,
            },
            &ecram,
        );
        assert!((l.program_ns - 31.0 * 5.0).abs() < 1e-9, "{}", l.program_ns);
    }

    #[test]
    fn a_model_without_timing_prices_no_time() {
        let mut spec = presets::resolve("rram", &[]).unwrap().spec().clone();
        spec.timing = None;
        let model = spec.check("test").unwrap();
        let c = Counters {
            vector_reads: 9,
            digital_ops: 9,
            ..Default::default()
        };
        assert_eq!(
            Latency::of(&c, &ArrayGeometry::split(9, 9, 0, 0), &model),
            Latency::default()
        );
    }
}
