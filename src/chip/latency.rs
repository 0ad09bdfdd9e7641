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
//!
//! A decorrelator is priced on its own geometry: a full R on the arrays of a `d × d` matrix; a
//! block-diagonal one (`decor_blocks = array`) on its blocks', which work in parallel beside
//! their weight arrays as those arrays do, each block its own circuit: the reads divide by all
//! the blocks' arrays, and its digital work (a digital R's products, an analog R's outer
//! products and element-wise step) runs at the time of the largest block, whose share of it is
//! d₀² / Σ d_b² (exact for the products over the batch, which dominate). A thinned update
//! (`decor_sample`, `decor_every`) needs no rule here: the counters record only the work it did,
//! so its time falls with the samples it used and the steps it ran.

use super::decorrelator::DecorBlocks;
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

/// The sizes of the diagonal blocks of a `d`-input decorrelator laid out as `blocks` on arrays
/// of at most `max_rows` inputs (0 or `usize::MAX`: unbounded): `[d]` for a full R, else the
/// array grid's near-equal split of the inputs (the same split the chip builds its blocks by).
pub fn decorrelator_blocks(d: usize, blocks: DecorBlocks, max_rows: usize) -> Vec<usize> {
    let rows = if max_rows == 0 { usize::MAX } else { max_rows };
    match blocks {
        DecorBlocks::Full => vec![d],
        DecorBlocks::Array => super::array_grid::split(d, rows)
            .into_iter()
            .map(|(_, len)| len)
            .collect(),
    }
}

/// Where a decorrelator's time is spent: its arrays (all blocks' together) and how many
/// blocks share its digital work in parallel (Σ d_b² / d₀², 1 for a full R).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecorGeometry {
    /// The arrays of all blocks; rows and columns of the largest block's largest array.
    pub arrays: ArrayGeometry,
    /// Σ d_b² / d₀²: by how much the blocks' own circuits shorten the digital work.
    pub parallel: f64,
}

impl DecorGeometry {
    /// A `d`-input decorrelator laid out as `blocks` on arrays of at most `max_rows × max_cols`.
    pub fn of(d: usize, blocks: DecorBlocks, max_rows: usize, max_cols: usize) -> Self {
        let sizes = decorrelator_blocks(d, blocks, max_rows);
        let each: Vec<ArrayGeometry> = sizes
            .iter()
            .map(|&b| ArrayGeometry::split(b, b, max_rows, max_cols))
            .collect();
        let d0 = sizes[0].max(1) as f64;
        DecorGeometry {
            arrays: ArrayGeometry {
                arrays: each.iter().map(|g| g.arrays).sum(),
                rows: each[0].rows,
                cols: each[0].cols,
            },
            parallel: sizes.iter().map(|&b| (b * b) as f64).sum::<f64>() / (d0 * d0),
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

/// Time of one layer's counters, per phase, with a full `inputs × inputs` R: see
/// [`layer_latency_with`].
pub fn layer_latency(
    model: &ChipModel,
    inputs: usize,
    outputs: usize,
    c: &super::energy::LayerCounters,
) -> [Latency; 4] {
    layer_latency_with(model, inputs, outputs, DecorBlocks::Full, c)
}

/// Time of one layer's counters, per phase: the weight arrays of an `outputs × inputs` layer
/// for every phase but decorrelation, whose reads and programming go to the layer's
/// decorrelator laid out as `blocks` (its own arrays when analog; only digital work
/// otherwise), its digital work shared by its blocks ([`DecorGeometry`]).
pub fn layer_latency_with(
    model: &ChipModel,
    inputs: usize,
    outputs: usize,
    blocks: DecorBlocks,
    c: &super::energy::LayerCounters,
) -> [Latency; 4] {
    use super::energy::Phase;
    let (rows, cols) = model.array_limits();
    let weights = ArrayGeometry::split(inputs, outputs, rows, cols);
    let decor = DecorGeometry::of(inputs, blocks, rows, cols);
    Phase::ALL.map(|p| {
        if p != Phase::Decorrelation {
            return Latency::of(c.get(p), &weights, model);
        }
        let mut l = Latency::of(c.get(p), &decor.arrays, model);
        l.digital_ns /= decor.parallel;
        if model.spec().read.is_none() {
            // No read path: any MACs ran on the blocks' digital units too.
            l.read_ns /= decor.parallel;
        }
        l
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

    #[test]
    fn a_blocked_decorrelator_is_priced_on_its_blocks() {
        // 784 inputs on 256 × 256 arrays: a full R spans 4 × 4 arrays of 196 × 196; blocked,
        // 4 blocks of 196, one array each, sharing the digital work four ways.
        let full = DecorGeometry::of(784, DecorBlocks::Full, 256, 256);
        let blocked = DecorGeometry::of(784, DecorBlocks::Array, 256, 256);
        assert_eq!(
            (full.arrays, full.parallel),
            (
                ArrayGeometry {
                    arrays: 16,
                    rows: 196,
                    cols: 196
                },
                1.0
            )
        );
        assert_eq!(
            (blocked.arrays, blocked.parallel),
            (
                ArrayGeometry {
                    arrays: 4,
                    rows: 196,
                    cols: 196
                },
                4.0
            )
        );
        // Unequal blocks 3 + 2 on arrays of 3 rows: the largest (3) sets the time.
        assert_eq!(decorrelator_blocks(5, DecorBlocks::Array, 3), vec![3, 2]);
        assert_eq!(
            DecorGeometry::of(5, DecorBlocks::Array, 3, 0).parallel,
            13.0 / 9.0
        );
        assert_eq!(decorrelator_blocks(5, DecorBlocks::Array, 0), vec![5]);
        // A layer's decorrelation phase: the same 10 reads per array and the blocked R's
        // digital work (a quarter of the full one's) over four circuits.
        let model = presets::resolve("rram", &[]).unwrap();
        let t = model.spec().timing.clone().unwrap();
        let r = model.spec().read.clone().unwrap();
        let t_read = r.inp_bits as f64 * t.dac_cycle_ns
            + t.mvm_ns
            + (t.cols_per_adc as f64).min(196.0) * t.adc_conversion_ns;
        let lc = |reads: u64, ops: u64| {
            let mut lc = crate::chip::energy::LayerCounters::default();
            let c = lc.at(crate::chip::Phase::Decorrelation);
            c.vector_reads = reads;
            c.digital_ops = ops;
            lc
        };
        let d = crate::chip::Phase::Decorrelation as usize;
        let ops = 2 * 784 * 784 * 10;
        let f = layer_latency(&model, 784, 100, &lc(16 * 10, ops))[d];
        let b = layer_latency_with(&model, 784, 100, DecorBlocks::Array, &lc(4 * 10, ops / 4))[d];
        let rate = t.digital_ops_per_ns;
        assert!((f.read_ns - 10.0 * t_read).abs() < 1e-9 * f.read_ns);
        assert!((b.read_ns - 10.0 * t_read).abs() < 1e-9 * b.read_ns);
        assert!((f.digital_ns - ops as f64 / rate).abs() < 1e-9 * f.digital_ns);
        assert!((b.digital_ns - ops as f64 / 16.0 / rate).abs() < 1e-9 * b.digital_ns);
        // The other phases keep the weight arrays' geometry whatever the blocks.
        assert_eq!(
            layer_latency(&model, 784, 100, &lc(7, 7))[0],
            layer_latency_with(&model, 784, 100, DecorBlocks::Array, &lc(7, 7))[0]
        );
    }

    /// An analog, blocked decorrelator (32 inputs, two 16 × 16 blocks on 16 × 16 rram arrays)
    /// updated from 40 samples: per update each block array does m transposed reads and a
    /// 16-read read-out and gets one programming request, the controller's digital work is
    /// shared by the two blocks; `decor_sample` ½ halves m, `decor_every` 2 runs one update in
    /// two requests.
    #[test]
    fn a_thinned_update_costs_time_by_the_samples_and_steps_it_runs() {
        use crate::chip::{
            Activation, Chip, ChipConfig, DecorBlocks, DecorConfig, DecorPrecision, DecorThinning,
            InjectedNoise, Phase,
        };
        let set = ["array.rows=16".to_string(), "array.cols=16".to_string()];
        let model = presets::resolve("rram", &set).unwrap();
        let t = model.spec().timing.clone().unwrap();
        let r = model.spec().read.clone().unwrap();
        let u = model.spec().update.clone().unwrap();
        let t_read = r.inp_bits as f64 * t.dac_cycle_ns
            + t.mvm_ns
            + (t.cols_per_adc as f64).min(16.0) * t.adc_conversion_ns;
        let t_prog = u.max_pulses as f64 * t.pulse_ns * 16.0;
        let x = nalgebra::DMatrix::from_fn(32, 40, |i, j| ((i * 7 + j * 3) % 11) as f32 / 11.0);
        let run = |sample: f32, every: u32, requests: usize| {
            let cfg = DecorConfig {
                precision: DecorPrecision::Analog { range: 2.0 },
                blocks: DecorBlocks::Array,
                thin: DecorThinning { sample, every },
                ..DecorConfig::default()
            };
            let mut chip = Chip::build(
                &model,
                ChipConfig {
                    sizes: vec![32, 4],
                    activation: Activation::LeakyRelu { slope: 0.2 },
                    decorrelation: Some(cfg),
                    injected: InjectedNoise::None,
                    seed: 5,
                },
            );
            for _ in 0..requests {
                chip.port().decorrelate(0, &x);
            }
            let lc = chip.counters()[0];
            let c = lc.get(Phase::Decorrelation);
            let lat = layer_latency_with(&model, 32, 4, DecorBlocks::Array, &lc);
            (
                lat[Phase::Decorrelation as usize],
                c.digital_ops + c.int_adds + c.int_mults,
            )
        };
        let mut digital_at = Vec::new();
        for (sample, every, requests, m, updates) in [
            (1.0, 1, 1, 40.0, 1.0),
            (0.5, 1, 1, 20.0, 1.0),
            (1.0, 2, 2, 40.0, 1.0),
            (0.25, 2, 4, 10.0, 2.0),
        ] {
            let (l, ops) = run(sample, every, requests);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b;
            let read = updates * (m + 16.0) * t_read;
            assert!(
                close(l.read_ns, read),
                "F={sample} k={every}: {} vs {read}",
                l.read_ns
            );
            let prog = updates * t_prog;
            assert!(
                close(l.program_ns, prog),
                "F={sample} k={every}: {}",
                l.program_ns
            );
            // Two blocks share the digital work (equal blocks: exactly half each).
            let digital = ops as f64 / 2.0 / t.digital_ops_per_ns;
            assert!(close(l.digital_ns, digital), "F={sample} k={every}");
            digital_at.push(l.digital_ns);
        }
        // The controller's outer products (2·16²·m per block) dominate its digital work: half
        // the samples, well under the full update's time; every other step, the same.
        assert!(digital_at[1] < 0.6 * digital_at[0], "{digital_at:?}");
        assert!((digital_at[2] - digital_at[0]).abs() <= 1e-9 * digital_at[0]);
    }
}
