//! A crossbar tile: one layer's weight matrix (`out × in`) in a conductance array with its
//! periphery.
//!
//! A read, in order: per-sample input scaling (abs-max) → DAC quantisation and clipping →
//! the conductance MVM (one matrix product for the whole batch) → fresh read noise, one draw
//! per output per read: N(0, out_noise² + w_noise²·‖x‖²), which is distributionally the same
//! as a fresh N(0, w_noise²) on every weight → ADC quantisation and clipping (saturations
//! counted) → digital rescaling to weight units. Noise draws never leave this module.
//!
//! On an ideal chip the tile holds float weights and a read is the plain float product.

use super::device::{DeviceArray, PulseTrace, Request};
use super::energy::Counters;
use super::model::{ChipModel, DeviceSpec, InputScaling, ReadSpec};
use super::periphery::Quantizer;
use crate::linalg::{
    abs_max_of, copy_into, for_pieces, for_pieces2, gemm, gemm_rows, piece_cols, sum_squares, wide,
    Op,
};
use crate::rng::{Purpose, Stream};
use nalgebra::DMatrix;
use std::sync::atomic::{AtomicU64, Ordering};

/// Normals drawn at a time in the read's noise loop: a stack buffer that stays in L1.
const NOISE_RUN: usize = 256;

/// The storage behind a tile.
enum Storage {
    /// Exact float weights (ideal chip).
    Float,
    /// A differential conductance array; `scale` is the digital gain w = scale·(g⁺ − g⁻).
    Analog {
        devices: Box<DeviceArray>,
        scale: f32,
    },
}

/// Per-tile histogram of ADC inputs (normalised output units), for hardware traces.
pub(super) struct AdcHistogram {
    pub(super) edges: Vec<f32>,
    pub(super) counts: Vec<u64>,
}

/// Which lines a read drives: the inputs (forward, `W·x`) or the outputs (transposed, `Wᵀ·x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::chip) enum Direction {
    Forward,
    Transposed,
}

/// What a read drives the array with.
#[derive(Clone, Copy)]
enum ReadInput<'a> {
    /// A batch of input vectors, one per column: the tile's input lines are rows
    /// `r0 .. r0 + lines` of the matrix (a tile of a larger layer reads its slice in place).
    Batch(&'a DMatrix<f32>, usize),
    /// The one-hot vectors e_1 … e_cols: a read-out of the whole array.
    OneHot,
}

pub(super) struct Tile {
    rows: usize,
    cols: usize,
    storage: Storage,
    read: Option<ReadSpec>,
    dac: Option<Quantizer>,
    adc: Option<Quantizer>,
    /// What a noise-free read multiplies by: the weights (ideal) or g⁺ − g⁻ (analog).
    effective: DMatrix<f32>,
    noise: Stream,
    /// Scratch: quantised inputs and per-sample statistics (below).
    xq: DMatrix<f32>,
    /// Per sample of the last read: input scale s_j and ‖xq_j‖².
    col_stats: Vec<(f32, f32)>,
    pub(super) adc_hist: Option<AdcHistogram>,
}

/// A tile's per-read scratch (quantised inputs and their per-sample statistics, noise
/// buffer), never state: the arrays of a split layer read one after another and share one set
/// (swapped in and out), so the buffers stay in cache instead of one cold set per array, and
/// an array that receives the same input lines as the one before can reuse its DAC output
/// ([`Dac::Reuse`]).
#[derive(Default)]
pub(in crate::chip) struct Scratch {
    xq: Option<DMatrix<f32>>,
    col_stats: Vec<(f32, f32)>,
}

/// Whether a read converts its inputs or takes the conversion already in its scratch.
///
/// Arrays of one input part of a split layer receive the same input lines, and every array's
/// DAC and input scaling are the chip model's (no per-array variation), so their DAC outputs
/// and ‖xq‖² are the same bits: the simulator computes them once per input part. Each array
/// still counts its own conversions (the hardware has a DAC per array).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::chip) enum Dac {
    /// Scale and quantise the inputs (the first array of an input part, or an unsplit layer).
    Convert,
    /// The scratch holds this batch's conversion of exactly these input lines, made by the
    /// array read just before this one (same matrix, lines, batch and direction).
    Reuse,
}

/// Where an array of a split layer delivers its converted partial sums besides its own
/// scratch: rows `row0 .. row0 + n` of the layer's output `y` (`n` = the array's outputs in the
/// direction read, `y` already `N × B`), written when `first` (the first array along the
/// summed direction) and added to otherwise. The digital partial-sum adder thus works on each
/// column while the ADC loop has it in cache, instead of a pass over every array's buffer
/// afterwards; the adds happen in the same order (array by array along the summed direction),
/// so the sums are the same bits. The caller counts the adds.
pub(in crate::chip) struct Sink<'a> {
    pub(in crate::chip) y: &'a mut DMatrix<f32>,
    pub(in crate::chip) row0: usize,
    pub(in crate::chip) first: bool,
}

impl Sink<'_> {
    /// Writes or adds a finished partial sum `part` (`n × B`), over column blocks.
    fn take(self, part: &DMatrix<f32>) {
        let (n, b) = part.shape();
        assert_eq!(self.y.ncols(), b);
        assert!(self.row0 + n <= self.y.nrows());
        let (ld, row0, first) = (self.y.nrows(), self.row0, self.first);
        let pc = piece_cols(ld);
        let src = part.as_slice();
        for_pieces(self.y.as_mut_slice(), pc * ld, |p, yp| {
            for (jj, col) in yp.chunks_mut(ld).enumerate() {
                let j = p * pc + jj;
                let (dst, s) = (&mut col[row0..row0 + n], &src[j * n..(j + 1) * n]);
                if first {
                    dst.copy_from_slice(s);
                } else {
                    dst.iter_mut().zip(s).for_each(|(d, &v)| *d += v);
                }
            }
        });
    }
}

impl Tile {
    /// Exchanges this tile's scratch with `s` (O(1)); results do not depend on which buffers
    /// a read uses, since every read overwrites them.
    pub(in crate::chip) fn swap_scratch(&mut self, s: &mut Scratch) {
        let xq = s.xq.get_or_insert_with(|| DMatrix::zeros(0, 0));
        std::mem::swap(&mut self.xq, xq);
        std::mem::swap(&mut self.col_stats, &mut s.col_stats);
    }

    /// Fabricates a tile of `rows × cols` weights; `w_range` is the weight mapped to the full
    /// differential swing (from the chip model's mapping and the layer's He std).
    pub(super) fn fabricate(
        model: &ChipModel,
        rows: usize,
        cols: usize,
        seed: u64,
        unit: u64,
        w_range: f32,
    ) -> Tile {
        let spec = model.spec();
        let storage = match &spec.device {
            DeviceSpec::Ideal => Storage::Float,
            DeviceSpec::Conductance(c) => {
                let update = spec
                    .update
                    .as_ref()
                    .expect("validated: conductance chips have [update]");
                let devices =
                    DeviceArray::fabricate(c, update, spec.drift.as_ref(), rows * cols, seed, unit);
                let scale = w_range / devices.max_diff();
                Storage::Analog {
                    devices: Box::new(devices),
                    scale,
                }
            }
        };
        let read = spec.read.clone();
        Tile {
            rows,
            cols,
            storage,
            dac: read
                .as_ref()
                .map(|r| Quantizer::new(r.inp_bits, r.inp_bound)),
            adc: read
                .as_ref()
                .map(|r| Quantizer::new(r.out_bits, r.out_bound)),
            read,
            effective: DMatrix::zeros(rows, cols),
            noise: Stream::new(seed, unit, Purpose::Read),
            xq: DMatrix::zeros(0, 0),
            col_stats: Vec::new(),
            adc_hist: None,
        }
    }

    pub(super) fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Write-verify programming of target weights (initialisation).
    pub(super) fn program(&mut self, w: &DMatrix<f32>) {
        assert_eq!(w.shape(), (self.rows, self.cols));
        match &mut self.storage {
            Storage::Float => self.effective.copy_from(w),
            Storage::Analog { devices, scale } => {
                let target: Vec<f32> = w.iter().map(|&v| v / *scale).collect();
                devices.program(&target);
            }
        }
        self.refresh();
    }

    /// Recomputes the matrix a read multiplies by, after programming, pulses or drift.
    fn refresh(&mut self) {
        if let Storage::Analog { devices, .. } = &self.storage {
            devices.differential(self.effective.as_mut_slice());
        }
    }

    /// The weights as programmed (no read noise, no periphery): for the oracle only.
    pub(super) fn weights(&self) -> DMatrix<f32> {
        match &self.storage {
            Storage::Float => self.effective.clone(),
            Storage::Analog { scale, .. } => &self.effective * *scale,
        }
    }

    /// Smallest weight change one pulse makes (0 on an ideal chip).
    pub(super) fn weight_step(&self) -> f32 {
        match &self.storage {
            Storage::Float => 0.0,
            Storage::Analog { devices, scale } => devices.step() * scale,
        }
    }

    /// One batched read: `y = measured(W · x)` for every column of `x` (`cols × B` → `rows × B`).
    ///
    /// The periphery work is two passes over column blocks (parallel when this thread's
    /// setting allows, bit-identical for any thread count): DAC (scale, quantise, ‖xq‖²) before
    /// the product, then noise, ADC and rescaling fused after it.
    pub(super) fn read(&mut self, x: &DMatrix<f32>, y: &mut DMatrix<f32>, c: &mut Counters) {
        self.read_driven(
            ReadInput::Batch(x, 0),
            Direction::Forward,
            Dac::Convert,
            y,
            None,
            c,
        );
    }

    /// One array of a split layer: [`Tile::read`] (forward) or [`Tile::read_transposed`] of
    /// the lines `r0 ..` of `x` that drive this array (a view, not a copy), taking the DAC
    /// conversion from the shared scratch with [`Dac::Reuse`]. With a `sink`, the converted
    /// partial sums also go into the layer's output in the same pass that converts them (see
    /// [`Sink`]); `y` is this array's scratch and holds its converted partial sums afterwards.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::chip) fn read_lines(
        &mut self,
        x: &DMatrix<f32>,
        r0: usize,
        dir: Direction,
        dac: Dac,
        y: &mut DMatrix<f32>,
        sink: Option<Sink<'_>>,
        c: &mut Counters,
    ) {
        self.read_driven(ReadInput::Batch(x, r0), dir, dac, y, sink, c);
    }

    /// A transposed read, `y = measured(Wᵀ · x)` (`rows × B` → `cols × B`): the columns are
    /// driven and the rows sensed, with the same periphery and fresh noise. Crossbars support
    /// it natively; an analog decorrelator's update needs it (see `decorrelator.rs`).
    pub(super) fn read_transposed(
        &mut self,
        x: &DMatrix<f32>,
        y: &mut DMatrix<f32>,
        c: &mut Counters,
    ) {
        self.read_driven(
            ReadInput::Batch(x, 0),
            Direction::Transposed,
            Dac::Convert,
            y,
            None,
            c,
        );
    }

    /// Reads the whole array out, one column at a time (`cols` reads of one-hot inputs): a
    /// noisy, quantised measurement of W (`rows × cols`), as a controller gets it. Simulated
    /// without the identity product (the result is the same in distribution and in bits of
    /// the noise-free part), counted as the `cols` reads the chip makes.
    pub(super) fn read_out(&mut self, y: &mut DMatrix<f32>, c: &mut Counters) {
        self.read_driven(
            ReadInput::OneHot,
            Direction::Forward,
            Dac::Convert,
            y,
            None,
            c,
        );
    }

    fn read_driven(
        &mut self,
        input: ReadInput<'_>,
        dir: Direction,
        dac_use: Dac,
        y: &mut DMatrix<f32>,
        sink: Option<Sink<'_>>,
        c: &mut Counters,
    ) {
        let (rows, cols, op) = match dir {
            Direction::Forward => (self.rows, self.cols, Op::N),
            Direction::Transposed => (self.cols, self.rows, Op::T),
        };
        let b = match input {
            ReadInput::Batch(x, r0) => {
                assert!(r0 + cols <= x.nrows());
                x.ncols()
            }
            ReadInput::OneHot => {
                assert_eq!(dir, Direction::Forward, "read-out drives the inputs");
                cols
            }
        };
        c.vector_reads += b as u64;
        c.macs += (rows * cols * b) as u64;
        let (Some(read), Some(dac), Some(_)) = (&self.read, &self.dac, &self.adc) else {
            match input {
                ReadInput::Batch(x, 0) if x.nrows() == cols => {
                    gemm(y, 0.0, 1.0, &self.effective, op, x, Op::N)
                }
                ReadInput::Batch(x, r0) => gemm_rows(y, &self.effective, op, x, r0),
                ReadInput::OneHot => copy_into(y, &self.effective),
            }
            if let Some(sink) = sink {
                sink.take(y);
            }
            return;
        };
        c.dac_conversions += (cols * b) as u64;
        c.adc_conversions += (rows * b) as u64;
        self.col_stats.resize(b, (1.0, 0.0));
        let (abs_max, w_noise) = (
            read.input_scaling == InputScaling::AbsMax,
            read.w_noise > 0.0,
        );
        let dacq = FastQuantizer::new(dac, read.inp_bits);
        let (x, r0) = match input {
            ReadInput::Batch(x, r0) => (x, r0),
            ReadInput::OneHot => {
                // e_j: abs-max scaling gives s = 1, the DAC converts the 1 (and the zeros).
                let (q1, _) = dac.apply(1.0);
                self.col_stats
                    .fill((1.0, if w_noise { q1 * q1 } else { 0.0 }));
                copy_into(y, &self.effective);
                y.iter_mut().for_each(|v| *v *= q1);
                c.digital_ops += (cols * b) as u64;
                return self.sense(y, sink, c);
            }
        };
        // Input scaling and DAC: per sample, xq = Q(x / s), s = max|x| (or 1); ‖xq‖² for the
        // weight-referred noise. Skipped when the array read before this one converted the
        // same lines (its results are in the shared scratch, see `Dac`).
        if dac_use == Dac::Reuse {
            debug_assert_eq!(
                self.xq.shape(),
                (cols, b),
                "reused DAC output of another shape"
            );
        } else {
            if self.xq.shape() != (cols, b) {
                // Reuses the allocation (the arrays of a split layer share this buffer, and their
                // sizes differ by one line): every entry is overwritten below.
                let mut v: Vec<f32> = std::mem::replace(&mut self.xq, DMatrix::zeros(0, 0))
                    .data
                    .into();
                v.resize(cols * b, 0.0);
                self.xq = DMatrix::from_vec(cols, b, v);
            }
            let (xs, ld) = (x.as_slice(), x.nrows());
            let pc = piece_cols(cols);
            for_pieces2(
                self.xq.as_mut_slice(),
                pc * cols,
                &mut self.col_stats,
                pc,
                |p, xq, stats| {
                    wide(
                        #[inline(always)]
                        || {
                            for (jj, (dst, st)) in
                                xq.chunks_mut(cols).zip(stats.iter_mut()).enumerate()
                            {
                                let j = p * pc + jj;
                                let src = &xs[j * ld + r0..j * ld + r0 + cols];
                                let s = if abs_max {
                                    abs_max_of(src).max(f32::MIN_POSITIVE)
                                } else {
                                    1.0
                                };
                                let inv = 1.0 / s;
                                dacq.scaled_into(src, inv, dst);
                                *st = (s, if w_noise { sum_squares(dst) } else { 0.0 });
                            }
                        },
                    )
                },
            );
        }
        c.digital_ops += (cols * b) as u64; // the scaling multiply per input
        gemm(y, 0.0, 1.0, &self.effective, op, &self.xq, Op::N);
        self.sense(y, sink, c);
    }

    /// After the array product `y` (`rows × B`, normalised units, `col_stats` set): fresh read
    /// noise, ADC, and the digital rescale to weight units; with a `sink`, each converted
    /// column also goes into the layer's output while it is in cache.
    fn sense(&mut self, y: &mut DMatrix<f32>, mut sink: Option<Sink<'_>>, c: &mut Counters) {
        let (rows, b) = y.shape();
        let (Some(read), Some(adc)) = (&self.read, &self.adc) else {
            unreachable!("sense is called only on tiles with a periphery")
        };
        // Fresh read noise: one normal per output per read, sd_j = √(out_noise² + w_noise²‖xq_j‖²),
        // drawn inside the loop that adds it (piece p of the fill for column block p: no noise
        // buffer written and read back, and the same numbers for any thread count).
        let noisy = read.out_noise > 0.0 || read.w_noise > 0.0;
        let fill = noisy.then(|| self.noise.next_fill());
        let (so2, sw2) = (
            (read.out_noise * read.out_noise) as f32,
            (read.w_noise * read.w_noise) as f32,
        );
        // Back to weight units after the ADC: scale (array gain) × s_j (input scaling), digital.
        let gain = match &self.storage {
            Storage::Float => 1.0,
            Storage::Analog { scale, .. } => *scale,
        };
        let adcq = FastQuantizer::new(adc, read.out_bits);
        let stats = &self.col_stats;
        let saturations = AtomicU64::new(0);
        // One column block of the array's product: noise, then (with_adc) the ADC and
        // rescale, then the sink's write or add of the converted column.
        let post_piece = |p: usize,
                          yp: &mut [f32],
                          mut out: Option<(&mut [f32], usize, usize, bool)>,
                          with_noise: bool,
                          with_adc: bool| {
            let sat = wide(
                #[inline(always)]
                || {
                    let mut sat = 0u64;
                    let pr = piece_cols(rows);
                    let mut z = fill.filter(|_| with_noise).map(|f| f.piece(p));
                    let mut e = [0.0f32; NOISE_RUN];
                    for (jj, col) in yp.chunks_mut(rows).enumerate() {
                        let j = p * pr + jj;
                        let (s, n2) = stats[j];
                        if let Some(z) = z.as_mut() {
                            let sd = (so2 + sw2 * n2).sqrt();
                            for run in col.chunks_mut(NOISE_RUN) {
                                let e = &mut e[..run.len()];
                                z.fill(e);
                                run.iter_mut()
                                    .zip(e.iter())
                                    .for_each(|(v, &e)| *v += sd * e);
                            }
                        }
                        if with_adc {
                            sat += adcq.in_place_gain(col, gain * s);
                            if let Some((out, ld, row0, first)) = out.as_mut() {
                                let at = jj * *ld + *row0;
                                let dst = &mut out[at..at + rows];
                                if *first {
                                    dst.copy_from_slice(col);
                                } else {
                                    dst.iter_mut().zip(col.iter()).for_each(|(d, &v)| *d += v);
                                }
                            }
                        }
                    }
                    sat
                },
            );
            saturations.fetch_add(sat, Ordering::Relaxed);
        };
        let post = |y: &mut DMatrix<f32>,
                    sink: Option<&mut Sink<'_>>,
                    with_noise: bool,
                    with_adc: bool| {
            let pr = piece_cols(rows);
            match sink.filter(|_| with_adc) {
                Some(sink) => {
                    let (ld, row0, first) = (sink.y.nrows(), sink.row0, sink.first);
                    for_pieces2(
                        y.as_mut_slice(),
                        pr * rows,
                        sink.y.as_mut_slice(),
                        pr * ld,
                        |p, yp, op| {
                            post_piece(p, yp, Some((op, ld, row0, first)), with_noise, true)
                        },
                    )
                }
                None => for_pieces(y.as_mut_slice(), pr * rows, |p, yp| {
                    post_piece(p, yp, None, with_noise, with_adc)
                }),
            }
        };
        match &mut self.adc_hist {
            // The histogram sees the ADC's input: noise first, record, then convert.
            Some(h) => {
                post(y, None, noisy, false);
                h.record(y.as_slice());
                post(y, sink.as_mut(), false, true);
            }
            None => post(y, sink.as_mut(), noisy, true),
        }
        c.adc_saturations += saturations.into_inner();
        c.digital_ops += (rows * b) as u64;
    }

    /// Asks the programming circuit for a weight change `dw` (same shape as W).
    pub(super) fn update(&mut self, dw: &DMatrix<f32>, c: &mut Counters) {
        assert_eq!(dw.shape(), (self.rows, self.cols));
        self.update_block(dw, 0, 0, c);
    }

    /// [`Tile::update`] with this array's block of a layer's weight change: rows `r0 ..`,
    /// columns `c0 ..` of `dw`, read in place (strided) by the pulse loop, not copied first.
    pub(super) fn update_block(
        &mut self,
        dw: &DMatrix<f32>,
        r0: usize,
        c0: usize,
        c: &mut Counters,
    ) {
        assert!(r0 + self.rows <= dw.nrows() && c0 + self.cols <= dw.ncols());
        let req = Request::block(dw.as_slice(), dw.nrows(), r0, c0, self.rows);
        match &mut self.storage {
            Storage::Float => {
                let rows = self.rows;
                let pc = piece_cols(rows);
                for_pieces(self.effective.as_mut_slice(), pc * rows, |p, w| {
                    for (jj, col) in w.chunks_mut(rows).enumerate() {
                        col.iter_mut()
                            .zip(req.column(p * pc + jj))
                            .for_each(|(w, &v)| *w += v);
                    }
                });
                c.cells_written += (self.rows * self.cols) as u64;
            }
            Storage::Analog { devices, scale } => {
                // The request Δw/scale is formed as the pulse loop reads Δw. Without drift the
                // read matrix (g⁺ − g⁻, held since the last refresh) is kept current for the
                // pulsed weights only; with drift every entry changes, so it is recomputed.
                let inv = 1.0 / *scale;
                c.program_requests += 1;
                if devices.drifts() {
                    devices.apply_scaled_update(req, inv, None, c);
                    c.digital_ops += (self.rows * self.cols) as u64;
                    self.refresh();
                } else {
                    devices.apply_scaled_update(req, inv, Some(self.effective.as_mut_slice()), c);
                    c.digital_ops += (self.rows * self.cols) as u64;
                }
            }
        }
    }

    /// Advances the chip clock; re-reads drifting conductances.
    pub(super) fn advance_time(&mut self, dt_s: f64) {
        if let Storage::Analog { devices, .. } = &mut self.storage {
            if devices.drifts() {
                devices.advance_time(dt_s);
                self.refresh();
            }
        }
    }

    /// The device array (absent on an ideal chip).
    pub(super) fn devices(&self) -> Option<&DeviceArray> {
        match &self.storage {
            Storage::Analog { devices, .. } => Some(devices),
            Storage::Float => None,
        }
    }

    pub(super) fn devices_mut(&mut self) -> Option<&mut DeviceArray> {
        match &mut self.storage {
            Storage::Analog { devices, .. } => Some(devices),
            Storage::Float => None,
        }
    }

    /// The digital gain w = scale·(g⁺ − g⁻) (1 on an ideal chip).
    pub(super) fn scale(&self) -> f32 {
        match &self.storage {
            Storage::Analog { scale, .. } => *scale,
            Storage::Float => 1.0,
        }
    }

    /// Turns on per-device pulse totals and the ADC-input histogram (hardware traces).
    pub(super) fn enable_traces(&mut self, adc_bins: usize) {
        let n = self.rows * self.cols;
        if let Storage::Analog { devices, .. } = &mut self.storage {
            devices.pulse_trace = Some(PulseTrace {
                up: vec![0; 2 * n],
                down: vec![0; 2 * n],
            });
        }
        if let Some(adc) = &self.adc {
            let lim = 1.5 * adc.bound();
            let edges = (0..=adc_bins)
                .map(|i| -lim + 2.0 * lim * i as f32 / adc_bins as f32)
                .collect();
            self.adc_hist = Some(AdcHistogram {
                edges,
                counts: vec![0; adc_bins],
            });
        }
    }

    /// Read-noise stream state (for checkpoints).
    pub(super) fn noise_state(&self) -> [u64; 2] {
        self.noise.state()
    }

    /// Restores the read-noise stream and re-derives the read matrix.
    pub(super) fn restore_noise(&mut self, s: [u64; 2]) {
        self.noise = Stream::from_state(s);
        self.refresh();
    }

    /// Float weights (ideal chip): restore from a checkpoint.
    pub(super) fn restore_float(&mut self, w: &[f32]) -> Result<(), String> {
        match &self.storage {
            Storage::Float if w.len() == self.effective.len() => {
                self.effective.as_mut_slice().copy_from_slice(w);
                Ok(())
            }
            _ => Err("float weights do not fit this tile".into()),
        }
    }
}

/// A [`Quantizer`] evaluated without a libm call, so that loops over it vectorise: the same
/// levels, clipping and saturation test, and the same round-half-away-from-zero (LLVM's own
/// expansion of `round`: add the largest float below ½ with the value's sign, truncate).
#[derive(Clone, Copy)]
struct FastQuantizer {
    q: Quantizer,
    step: f32,
    bound: f32,
    sign_only: bool,
}

/// Q(x) of a multi-bit quantiser with `bound` and `step`, bit for bit `Quantizer::apply`.
#[inline(always)]
fn quantize_levels(x: f32, bound: f32, step: f32) -> f32 {
    let t = x.clamp(-bound, bound) / step;
    let u = if t.is_nan() {
        0.0
    } else {
        t + 0.499_999_97_f32.copysign(t)
    };
    // SAFETY: u is finite and |u| ≤ 2²³ + 1 (clipped to ±bound, which is 2^(bits−1) − 1 ≤ 2²³
    // steps), so it fits an i32. The unchecked conversion is what lets the loop vectorise.
    let r = (unsafe { u.to_int_unchecked::<i32>() } as f32).copysign(t);
    // NaN stays NaN (caught by the caller's finiteness check), as in `Quantizer::apply`.
    (if t.is_nan() { t } else { r }) * step
}

impl FastQuantizer {
    fn new(q: &Quantizer, bits: u32) -> Self {
        FastQuantizer {
            q: *q,
            step: q.step(),
            bound: q.bound(),
            sign_only: bits < 2,
        }
    }

    /// Same result as [`Quantizer::apply`], bit for bit.
    #[cfg(test)]
    fn quantize(&self, x: f32) -> (f32, bool) {
        if self.sign_only {
            return self.q.apply(x);
        }
        (
            quantize_levels(x, self.bound, self.step),
            x.abs() > self.bound,
        )
    }

    /// DAC: `dst_i = Q(src_i · s)`.
    #[inline(always)]
    fn scaled_into(&self, src: &[f32], s: f32, dst: &mut [f32]) {
        if self.sign_only {
            dst.iter_mut()
                .zip(src)
                .for_each(|(d, &v)| *d = self.q.apply(v * s).0);
            return;
        }
        let (bound, step) = (self.bound, self.step);
        let n = dst.len().min(src.len());
        let (dst, src) = (&mut dst[..n], &src[..n]);
        for i in 0..n {
            dst[i] = quantize_levels(src[i] * s, bound, step);
        }
    }

    /// ADC and rescaling: `y_i = Q(y_i) · g`; returns how many clipped.
    #[inline(always)]
    fn in_place_gain(&self, ys: &mut [f32], g: f32) -> u64 {
        if self.sign_only {
            let clipped = self.q.apply_slice(ys);
            ys.iter_mut().for_each(|v| *v *= g);
            return clipped;
        }
        let (bound, step) = (self.bound, self.step);
        let clipped = ys.iter().map(|v| (v.abs() > bound) as u32).sum::<u32>() as u64;
        ys.iter_mut()
            .for_each(|v| *v = quantize_levels(*v, bound, step) * g);
        clipped
    }
}

impl AdcHistogram {
    fn record(&mut self, ys: &[f32]) {
        let bins = self.counts.len();
        let (lo, hi) = (self.edges[0], self.edges[bins]);
        let w = (hi - lo) / bins as f32;
        for &v in ys {
            let k = (((v - lo) / w) as isize).clamp(0, bins as isize - 1) as usize;
            self.counts[k] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_matrix_stays_equal_to_the_devices_after_updates() {
        for preset in ["rram", "pcm", "ecram"] {
            let model = crate::chip::presets::resolve(preset, &[]).unwrap();
            let (rows, cols) = (70, 530); // several pulse chunks
            let mut tile = Tile::fabricate(&model, rows, cols, 4, 1, 0.3);
            tile.program(&DMatrix::from_fn(rows, cols, |i, j| {
                ((i * 31 + j * 17) % 23) as f32 / 23.0 * 0.4 - 0.2
            }));
            let mut c = Counters::default();
            for step in 0..4 {
                let dw = DMatrix::from_fn(rows, cols, |i, j| {
                    (((i * 7 + j * 3 + step) % 11) as f32 - 5.0) * 4e-3
                });
                tile.update(&dw, &mut c);
                tile.advance_time(1.0);
                let mut fresh = vec![0.0f32; rows * cols];
                tile.devices().unwrap().differential(&mut fresh);
                assert!(
                    crate::linalg::same_bits(&fresh, tile.effective.as_slice()),
                    "{preset}, update {step}"
                );
            }
            assert!(
                c.pulses_up + c.pulses_down > 0,
                "{preset}: the updates pulsed"
            );
        }
    }

    #[test]
    fn noisy_reads_are_the_same_bits_for_any_thread_count_and_fresh_in_every_column() {
        // Read noise is drawn per column block inside the ADC loop; the blocks are fixed by
        // the tile's size, so one and two threads must agree bit for bit. Every column holds
        // the same input, so equal values in two columns (e.g. two blocks seeded alike) would
        // mean repeated noise.
        let model = crate::chip::presets::resolve("rram", &[]).unwrap();
        let (rows, cols, b) = (300, 40, 400); // 109 columns per block: 4 blocks
        let x = DMatrix::from_fn(cols, b, |i, _| ((i * 7) % 11) as f32 / 11.0 - 0.4);
        let mut ys = Vec::new();
        for threads in [1, 2] {
            let mut tile = Tile::fabricate(&model, rows, cols, 3, 1, 0.3);
            tile.program(&DMatrix::from_fn(rows, cols, |i, j| {
                ((i * 5 + j * 3) % 13) as f32 / 13.0 * 0.4 - 0.2
            }));
            let mut y = DMatrix::zeros(0, 0);
            crate::linalg::set_threads(threads);
            tile.read(&x, &mut y, &mut Counters::default());
            crate::linalg::set_threads(0);
            ys.push(y);
        }
        assert!(crate::linalg::same_bits(ys[0].as_slice(), ys[1].as_slice()));
        let y = &ys[0];
        let pr = piece_cols(rows);
        assert!(b > 3 * pr, "the test spans several blocks");
        for (j, k) in [(0, 1), (0, pr), (pr - 1, pr), (0, 3 * pr)] {
            let same = (0..rows).filter(|&i| y[(i, j)] == y[(i, k)]).count();
            assert!(
                same < rows / 4,
                "columns {j} and {k}: {same} of {rows} equal"
            );
        }
    }

    #[test]
    fn wide_loops_match_plain_loops_bit_for_bit() {
        let mut xs = vec![0.0f32; 5003];
        crate::rng::Stream::new(9, 1, Purpose::Read).fill_normal(&mut xs, 1);
        xs[17] = f32::NAN;
        for (bits, bound) in [(1, 0.5), (7, 1.0), (9, 12.0)] {
            let q = Quantizer::new(bits, bound);
            let f = FastQuantizer::new(&q, bits);
            let (mut a, mut b) = (vec![0.0f32; xs.len()], vec![0.0f32; xs.len()]);
            f.scaled_into(&xs, 0.37, &mut a);
            crate::linalg::wide(
                #[inline(always)]
                || f.scaled_into(&xs, 0.37, &mut b),
            );
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
            let (mut c, mut d) = (
                xs.iter().map(|v| v * 9.0).collect::<Vec<f32>>(),
                xs.iter().map(|v| v * 9.0).collect::<Vec<f32>>(),
            );
            let sc = f.in_place_gain(&mut c, 1.7);
            let sd = crate::linalg::wide(
                #[inline(always)]
                || f.in_place_gain(&mut d, 1.7),
            );
            assert_eq!(sc, sd);
            assert!(c.iter().zip(&d).all(|(x, y)| x.to_bits() == y.to_bits()));
            assert_eq!(
                crate::linalg::sum_squares(&a).to_bits(),
                crate::linalg::wide(|| crate::linalg::sum_squares(&b)).to_bits()
            );
        }
    }

    #[test]
    fn fast_quantizer_matches_quantizer_bit_for_bit() {
        let mut rng = crate::rng::Stream::new(5, 0, Purpose::Read);
        let mut xs = vec![0.0f32; 20000];
        rng.fill_normal(&mut xs, 1);
        for (bits, bound) in [(1, 0.5), (2, 1.0), (7, 1.0), (9, 12.0), (24, 3.0)] {
            let q = Quantizer::new(bits, bound);
            let f = FastQuantizer::new(&q, bits);
            let step = q.step();
            // Random values at several scales, exact ties, ±0, the bounds, beyond, NaN.
            let mut vals: Vec<f32> = xs
                .iter()
                .flat_map(|&x| [x, x * bound as f32, x * 100.0, x * step])
                .collect();
            vals.extend((-50..=50).map(|k| (k as f32 + 0.5) * step));
            vals.extend([
                0.0,
                -0.0,
                bound as f32,
                -bound as f32,
                1e30,
                -1e30,
                f32::NAN,
                0.499_999_97 * step,
                -0.5 * step,
            ]);
            for &v in &vals {
                let (a, b) = (q.apply(v), f.quantize(v));
                assert_eq!(a.1, b.1, "saturation of {v} at {bits} bits");
                assert!(
                    a.0.to_bits() == b.0.to_bits() || (a.0.is_nan() && b.0.is_nan()),
                    "{v} at {bits} bits: {} vs {}",
                    a.0,
                    b.0
                );
            }
        }
    }
}
