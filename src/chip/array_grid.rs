//! A layer's weights on a grid of physical crossbar arrays.
//!
//! No fabricated array is as large as a layer can be: a layer of N outputs × d inputs is split
//! over ⌈d/rows⌉ × ⌈N/cols⌉ arrays of at most `rows` inputs × `cols` outputs (`[array]` in the
//! chip model). Each array is a [`Tile`] of its own: its own fabrication draws and RNG streams,
//! its own DAC input scaling over the inputs it receives, read noise, ADC and saturation count.
//! The arrays that share outputs each convert their partial sum with their own ADCs; the
//! digital periphery adds the converted partial sums (counted as digital ops). Pulse updates
//! program every array's own devices.
//!
//! The split is into near-equal parts, as aihwkit's tile mapping does: d inputs over
//! k = ⌈d/rows⌉ arrays gives the first d mod k arrays ⌊d/k⌋ + 1 inputs and the others ⌊d/k⌋
//! (784 inputs at 256 → 4 × 196). Equal parts keep every array's ADC range equally used.
//!
//! Speed: each array reads its slice of the batch in place (a view of the input rows, no copy)
//! with one product over the whole batch, and its ADC loop adds the converted partial sums into
//! an accumulator column by column while they are in cache (no adder pass). With more than one
//! thread, the *lanes* — the arrays adding into one output part — run side by side, one thread
//! each, since small products on one thread each beat the same products split over every
//! thread; in turn, one thread, the arrays share one product buffer and DAC conversion. Both
//! give the same bits. Updates read each array's Δw block in place, one array per task. With
//! one array (unbounded, or a layer that fits) every call goes straight to that tile, so
//! results are bit for bit those of an unsplit tile.

use super::crossbar::{Dac, Direction, Scratch, Sink, Tile};
use super::energy::Counters;
use super::model::ChipModel;
use crate::linalg::{copy_into, for_pieces, piece_cols, threads, with_threads};
use nalgebra::DMatrix;
use rayon::prelude::*;

/// Cumulative events of one physical array (designer traces; reset with the chip's traces).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::chip) struct ArrayStats {
    /// Vector reads through this array.
    pub(in crate::chip) reads: u64,
    /// ADC conversions of this array.
    pub(in crate::chip) adc_conversions: u64,
    /// Of those, conversions that clipped.
    pub(in crate::chip) adc_saturations: u64,
    /// Programming pulses up and down into this array's devices.
    pub(in crate::chip) pulses_up: u64,
    pub(in crate::chip) pulses_down: u64,
}

impl ArrayStats {
    /// Adds the events counted between `before` and `after` (one call into the array).
    fn add_delta(&mut self, before: &Counters, after: &Counters) {
        self.reads += after.vector_reads - before.vector_reads;
        self.adc_conversions += after.adc_conversions - before.adc_conversions;
        self.adc_saturations += after.adc_saturations - before.adc_saturations;
        self.pulses_up += after.pulses_up - before.pulses_up;
        self.pulses_down += after.pulses_down - before.pulses_down;
    }
}

/// Near-equal parts of `n` lines in arrays of at most `max`: `(offset, length)` per part.
pub(in crate::chip) fn split(n: usize, max: usize) -> Vec<(usize, usize)> {
    let k = if n == 0 { 1 } else { n.div_ceil(max.max(1)) };
    let (base, extra) = (n / k, n % k);
    let mut off = 0;
    (0..k)
        .map(|i| {
            let len = base + (i < extra) as usize;
            let part = (off, len);
            off += len;
            part
        })
        .collect()
}

/// The scratch of one lane of a concurrent read: the arrays of a split layer whose partial
/// sums are added into the same outputs (one output part of a forward read, one input part of a
/// transposed read), read one after another on one thread while the other lanes run beside
/// them. Its own DAC scratch, product buffer, partial-sum accumulator and counters, never state.
#[derive(Default)]
struct Lane {
    scratch: Scratch,
    part: DMatrix<f32>,
    acc: DMatrix<f32>,
    counters: Counters,
}

/// Stream unit of array `a` of the grid whose first array is `unit`: array 0 keeps the unit (so
/// an unsplit layer draws exactly what it drew before arrays existed), the others set bits
/// above every unit the chip uses (layers `1 + l`, decorrelators `2²⁰ + l`).
fn array_unit(unit: u64, a: usize) -> u64 {
    debug_assert!(unit < 1 << 32);
    unit | ((a as u64) << 32)
}

/// One layer's weight matrix (`rows × cols` = outputs × inputs) over a grid of arrays.
pub(in crate::chip) struct ArrayGrid {
    rows: usize,
    cols: usize,
    /// Output parts (along the rows of W) and input parts (along its columns).
    out_parts: Vec<(usize, usize)>,
    in_parts: Vec<(usize, usize)>,
    /// Array (m, k) — output part m, input part k — is `tiles[m + n_out·k]`.
    tiles: Vec<Tile>,
    stats: Vec<ArrayStats>,
    /// Scratch, never state: the product and converted partial sums of the array being read
    /// (one buffer for all, so it stays in cache), and one array's sub-block (programming).
    part: DMatrix<f32>,
    block: DMatrix<f32>,
    /// Each array's converted partial sums of the last read, kept only for a lab that probes
    /// them ([`ArrayGrid::keep_partials`]): a training read needs none of them.
    parts: Vec<DMatrix<f32>>,
    keep_partials: bool,
    /// The arrays' shared read scratch (see [`Scratch`]).
    scratch: Scratch,
    /// Per-lane scratch of concurrent reads ([`ArrayGrid::read_lanes`]).
    lanes: Vec<Lane>,
}

impl ArrayGrid {
    /// Fabricates the arrays of a `rows × cols` weight matrix with the chip model's geometry;
    /// `unit` keys the first array's streams (see [`array_unit`]).
    pub(in crate::chip) fn fabricate(
        model: &ChipModel,
        rows: usize,
        cols: usize,
        seed: u64,
        unit: u64,
        w_range: f32,
    ) -> ArrayGrid {
        let (max_in, max_out) = model.array_limits();
        let (out_parts, in_parts) = (split(rows, max_out), split(cols, max_in));
        let mut tiles = Vec::with_capacity(out_parts.len() * in_parts.len());
        for &(_, ni) in &in_parts {
            for &(_, no) in &out_parts {
                let a = tiles.len();
                tiles.push(Tile::fabricate(
                    model,
                    no,
                    ni,
                    seed,
                    array_unit(unit, a),
                    w_range,
                ));
            }
        }
        let n = tiles.len();
        ArrayGrid {
            rows,
            cols,
            out_parts,
            in_parts,
            tiles,
            stats: vec![ArrayStats::default(); n],
            part: DMatrix::zeros(0, 0),
            block: DMatrix::zeros(0, 0),
            parts: (0..n).map(|_| DMatrix::zeros(0, 0)).collect(),
            keep_partials: false,
            scratch: Scratch::default(),
            lanes: Vec::new(),
        }
    }

    /// `(outputs, inputs)` of the whole layer.
    pub(in crate::chip) fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// `(arrays along the outputs, arrays along the inputs)`.
    pub(in crate::chip) fn grid(&self) -> (usize, usize) {
        (self.out_parts.len(), self.in_parts.len())
    }

    fn single(&self) -> bool {
        self.tiles.len() == 1
    }

    /// The arrays, index `m + n_out·k` for output part m and input part k.
    pub(in crate::chip) fn tiles(&self) -> &[Tile] {
        &self.tiles
    }

    pub(in crate::chip) fn tiles_mut(&mut self) -> &mut [Tile] {
        &mut self.tiles
    }

    /// Array `a`'s place: `(output offset, outputs, input offset, inputs)`.
    pub(in crate::chip) fn bounds(&self, a: usize) -> (usize, usize, usize, usize) {
        let n_out = self.out_parts.len();
        let (o, no) = self.out_parts[a % n_out];
        let (i, ni) = self.in_parts[a / n_out];
        (o, no, i, ni)
    }

    /// Per-array event totals since the chip was built or its traces were reset.
    pub(in crate::chip) fn stats(&self) -> &[ArrayStats] {
        &self.stats
    }

    pub(in crate::chip) fn reset_stats(&mut self) {
        self.stats.fill(ArrayStats::default());
    }

    /// Keeps every array's converted partial sums of each read of a split layer (a copy per
    /// array per read) for [`ArrayGrid::last_partial`].
    pub(in crate::chip) fn keep_partials(&mut self) {
        self.keep_partials = true;
    }

    /// The last read's converted partial sums of array `a` (after its ADC, in weight units):
    /// what a lab probes at one array's outputs (`chip characterize`). Needs
    /// [`ArrayGrid::keep_partials`] before the read on a split layer.
    pub(in crate::chip) fn last_partial(&self, a: usize) -> &DMatrix<f32> {
        assert!(
            self.keep_partials || self.single(),
            "last_partial needs keep_partials"
        );
        &self.parts[a]
    }

    /// Runs `f` on array `a`, crediting the events it counts to that array's totals.
    fn on_tile<R>(
        tiles: &mut [Tile],
        stats: &mut [ArrayStats],
        a: usize,
        c: &mut Counters,
        f: impl FnOnce(&mut Tile, &mut Counters) -> R,
    ) -> R {
        let before = *c;
        let r = f(&mut tiles[a], c);
        stats[a].add_delta(&before, c);
        r
    }

    /// [`ArrayGrid::on_tile`] for a read of a split layer, with the shared scratch swapped in.
    fn read_tile(
        &mut self,
        a: usize,
        c: &mut Counters,
        f: impl FnOnce(&mut Tile, &mut DMatrix<f32>, &mut Counters),
    ) {
        let (tiles, stats, part) = (&mut self.tiles, &mut self.stats, &mut self.part);
        tiles[a].swap_scratch(&mut self.scratch);
        Self::on_tile(tiles, stats, a, c, |t, c| f(t, part, c));
        tiles[a].swap_scratch(&mut self.scratch);
        if self.keep_partials {
            copy_into(&mut self.parts[a], &self.part);
        }
    }

    /// Write-verify programming of target weights (initialisation), array by array.
    pub(in crate::chip) fn program(&mut self, w: &DMatrix<f32>) {
        assert_eq!(w.shape(), (self.rows, self.cols));
        if self.single() {
            return self.tiles[0].program(w);
        }
        for a in 0..self.tiles.len() {
            let (o, no, i, ni) = self.bounds(a);
            self.block = w.view((o, i), (no, ni)).into_owned();
            self.tiles[a].program(&self.block);
        }
    }

    /// The weights as programmed, whole layer (oracle and checkpoints only).
    pub(in crate::chip) fn weights(&self) -> DMatrix<f32> {
        if self.single() {
            return self.tiles[0].weights();
        }
        let mut w = DMatrix::zeros(self.rows, self.cols);
        for (a, t) in self.tiles.iter().enumerate() {
            let (o, no, i, ni) = self.bounds(a);
            w.view_mut((o, i), (no, ni)).copy_from(&t.weights());
        }
        w
    }

    /// Smallest weight change one pulse makes: the same in every array (one mapping per layer,
    /// nominal device step).
    pub(in crate::chip) fn weight_step(&self) -> f32 {
        self.tiles[0].weight_step()
    }

    /// The digital gain w = scale·(g⁺ − g⁻), the same in every array.
    pub(in crate::chip) fn scale(&self) -> f32 {
        self.tiles[0].scale()
    }

    /// `y = measured(W · x)` (`cols × B` → `rows × B`): every array reads its input lines,
    /// converts its partial sums, and the periphery adds those of arrays sharing outputs.
    pub(in crate::chip) fn read(
        &mut self,
        x: &DMatrix<f32>,
        y: &mut DMatrix<f32>,
        c: &mut Counters,
    ) {
        assert_eq!(x.nrows(), self.cols);
        if self.single() {
            return Self::on_tile(&mut self.tiles, &mut self.stats, 0, c, |t, c| {
                t.read(x, y, c)
            });
        }
        // Array (m, k) is `tiles[m + n_out·k]`: the arrays of input part k follow each other,
        // so all but the first take its DAC output from the shared scratch. Input part k is
        // read after part k − 1, so every output's partial sums are added in input-part
        // order, as a separate adder pass over all arrays' buffers would add them.
        let (n_out, b) = (self.out_parts.len(), x.ncols());
        if self.concurrent(n_out) {
            self.read_lanes(x, y, false, c);
        } else {
            self.read_in_turn(x, y, c);
        }
        // The digital partial-sum adds: one per output per array along the input after the first.
        c.digital_ops += ((self.in_parts.len() - 1) * self.rows * b) as u64;
    }

    /// Whether a split read or update runs its `lanes` independent parts on rayon's pool, one
    /// thread each: small products on one thread each beat the same products one after another,
    /// each split over every thread (a synchronisation per product). Every lane's arithmetic
    /// is the sequential one (own streams, partial sums added in the same order), so results
    /// are the same bits either way; a lab that keeps per-array partial sums reads in turn.
    fn concurrent(&self, lanes: usize) -> bool {
        lanes > 1 && !self.keep_partials && threads() > 1
    }

    /// [`ArrayGrid::read`] of a split layer one array after another.
    fn read_in_turn(&mut self, x: &DMatrix<f32>, y: &mut DMatrix<f32>, c: &mut Counters) {
        let (n_out, b) = (self.out_parts.len(), x.ncols());
        if y.shape() != (self.rows, b) {
            *y = DMatrix::zeros(self.rows, b);
        }
        for a in 0..self.tiles.len() {
            let (o, _, i, _) = self.bounds(a);
            let first = a < n_out;
            let dac = if a % n_out == 0 {
                Dac::Convert
            } else {
                Dac::Reuse
            };
            self.read_tile(a, c, |t, part, c| {
                let sink = Sink { y, row0: o, first };
                t.read_lines(x, i, Direction::Forward, dac, part, Some(sink), c)
            });
        }
    }

    /// A split read with its lanes side by side: lane l holds the arrays that add into one
    /// output part (forward: output part l, arrays along the input in order; transposed: input
    /// part l, arrays along the outputs in order). Each lane converts its own DAC inputs (the
    /// same bits as sharing them, see [`Dac`]), accumulates its converted partial sums in its
    /// own buffer in the sequential order, and the lanes' sums are then placed into `y`.
    fn read_lanes(
        &mut self,
        x: &DMatrix<f32>,
        y: &mut DMatrix<f32>,
        transposed: bool,
        c: &mut Counters,
    ) {
        let ArrayGrid {
            rows,
            cols,
            out_parts,
            in_parts,
            tiles,
            stats,
            lanes,
            ..
        } = self;
        let (n_out, b) = (out_parts.len(), x.ncols());
        let (n, lane_parts) = if transposed {
            (*cols, &*in_parts)
        } else {
            (*rows, &*out_parts)
        };
        if y.shape() != (n, b) {
            *y = DMatrix::zeros(n, b);
        }
        if lanes.len() < lane_parts.len() {
            lanes.resize_with(lane_parts.len(), Lane::default);
        }
        let lanes = &mut lanes[..lane_parts.len()];
        // Each lane's arrays with the offset of the lines that drive them, in summing order.
        let mut work: Vec<Vec<(&mut Tile, &mut ArrayStats, usize)>> =
            lane_parts.iter().map(|_| Vec::new()).collect();
        for (a, (t, s)) in tiles.iter_mut().zip(stats.iter_mut()).enumerate() {
            let (m, k) = (a % n_out, a / n_out);
            let (lane, drive) = if transposed {
                (k, out_parts[m].0)
            } else {
                (m, in_parts[k].0)
            };
            work[lane].push((t, s, drive));
        }
        work.into_par_iter()
            .zip(lanes.par_iter_mut())
            .zip(lane_parts.par_iter())
            .for_each(|((arrays, lane), &(_, len))| {
                if lane.acc.shape() != (len, b) {
                    lane.acc = DMatrix::zeros(len, b);
                }
                lane.counters = Counters::default();
                with_threads(1, || {
                    for (pos, (t, s, drive)) in arrays.into_iter().enumerate() {
                        let Lane {
                            scratch,
                            part,
                            acc,
                            counters,
                        } = &mut *lane;
                        t.swap_scratch(scratch);
                        let before = *counters;
                        let sink = Sink {
                            y: acc,
                            row0: 0,
                            first: pos == 0,
                        };
                        let dir = if transposed {
                            Direction::Transposed
                        } else {
                            Direction::Forward
                        };
                        t.read_lines(x, drive, dir, Dac::Convert, part, Some(sink), counters);
                        s.add_delta(&before, counters);
                        t.swap_scratch(scratch);
                    }
                });
            });
        let lanes = &*lanes;
        let pc = piece_cols(n);
        for_pieces(y.as_mut_slice(), pc * n, |p, yp| {
            for (jj, col) in yp.chunks_mut(n).enumerate() {
                let j = p * pc + jj;
                for (lane, &(off, len)) in lanes.iter().zip(lane_parts) {
                    col[off..off + len]
                        .copy_from_slice(&lane.acc.as_slice()[j * len..(j + 1) * len]);
                }
            }
        });
        for lane in lanes {
            *c += lane.counters;
        }
    }

    /// `y = measured(Wᵀ · x)` (`rows × B` → `cols × B`): the arrays are driven from their
    /// outputs; arrays sharing inputs add their converted partial sums digitally.
    pub(in crate::chip) fn read_transposed(
        &mut self,
        x: &DMatrix<f32>,
        y: &mut DMatrix<f32>,
        c: &mut Counters,
    ) {
        assert_eq!(x.nrows(), self.rows);
        if self.single() {
            return Self::on_tile(&mut self.tiles, &mut self.stats, 0, c, |t, c| {
                t.read_transposed(x, y, c)
            });
        }
        // Driven from their outputs, the arrays of output part m share inputs: visit them one
        // after another (the order changes no result: each array draws from its own streams)
        // so all but the first reuse its DAC output.
        // Output part m is visited after m − 1: each input's partial sums are added in
        // output-part order, as a separate adder pass would add them.
        let (n_out, b) = (self.out_parts.len(), x.ncols());
        if self.concurrent(self.in_parts.len()) {
            self.read_lanes(x, y, true, c);
            c.digital_ops += ((n_out - 1) * self.cols * b) as u64;
            return;
        }
        if y.shape() != (self.cols, b) {
            *y = DMatrix::zeros(self.cols, b);
        }
        for m in 0..n_out {
            for k in 0..self.in_parts.len() {
                let a = m + n_out * k;
                let (o, _, i, _) = self.bounds(a);
                let dac = if k == 0 { Dac::Convert } else { Dac::Reuse };
                self.read_tile(a, c, |t, part, c| {
                    let sink = Sink {
                        y,
                        row0: i,
                        first: m == 0,
                    };
                    t.read_lines(x, o, Direction::Transposed, dac, part, Some(sink), c)
                });
            }
        }
        c.digital_ops += ((n_out - 1) * self.cols * b) as u64;
    }

    /// Reads the whole layer out (`rows × cols`), each array its own columns: no partial sums,
    /// every weight lives in one array.
    pub(in crate::chip) fn read_out(&mut self, y: &mut DMatrix<f32>, c: &mut Counters) {
        if self.single() {
            return Self::on_tile(&mut self.tiles, &mut self.stats, 0, c, |t, c| {
                t.read_out(y, c)
            });
        }
        if y.shape() != (self.rows, self.cols) {
            *y = DMatrix::zeros(self.rows, self.cols);
        }
        for a in 0..self.tiles.len() {
            let (o, no, i, ni) = self.bounds(a);
            self.read_tile(a, c, |t, part, c| t.read_out(part, c));
            y.view_mut((o, i), (no, ni)).copy_from(&self.part);
        }
    }

    /// Programming pulses for a weight change `dw` (whole layer), each array its own block.
    pub(in crate::chip) fn update(&mut self, dw: &DMatrix<f32>, c: &mut Counters) {
        assert_eq!(dw.shape(), (self.rows, self.cols));
        if self.single() {
            return Self::on_tile(&mut self.tiles, &mut self.stats, 0, c, |t, c| {
                t.update(dw, c)
            });
        }
        if self.concurrent(self.tiles.len()) {
            // Arrays program their own devices from their own streams: side by side, one
            // thread each, counted per array and summed in array order.
            let bounds: Vec<_> = (0..self.tiles.len()).map(|a| self.bounds(a)).collect();
            let counts: Vec<Counters> = self
                .tiles
                .par_iter_mut()
                .zip(self.stats.par_iter_mut())
                .zip(bounds.par_iter())
                .map(|((t, s), &(o, _, i, _))| {
                    let mut ca = Counters::default();
                    with_threads(1, || t.update_block(dw, o, i, &mut ca));
                    s.add_delta(&Counters::default(), &ca);
                    ca
                })
                .collect();
            counts.into_iter().for_each(|ca| *c += ca);
            return;
        }
        for a in 0..self.tiles.len() {
            let (o, _, i, _) = self.bounds(a);
            Self::on_tile(&mut self.tiles, &mut self.stats, a, c, |t, c| {
                t.update_block(dw, o, i, c)
            });
        }
    }

    /// Advances every array's clock (drift).
    pub(in crate::chip) fn advance_time(&mut self, dt_s: f64) {
        self.tiles.iter_mut().for_each(|t| t.advance_time(dt_s));
    }

    /// Whether the arrays hold conductance devices (false on an ideal chip).
    pub(in crate::chip) fn is_analog(&self) -> bool {
        self.tiles[0].devices().is_some()
    }

    /// Turns on pulse totals and ADC histograms in every array.
    pub(in crate::chip) fn enable_traces(&mut self, adc_bins: usize) {
        self.tiles
            .iter_mut()
            .for_each(|t| t.enable_traces(adc_bins));
    }

    /// Float weights of the whole layer (ideal chip), from a checkpoint.
    pub(in crate::chip) fn restore_float(&mut self, w: &[f32]) -> Result<(), String> {
        if self.single() {
            return self.tiles[0].restore_float(w);
        }
        if w.len() != self.rows * self.cols {
            return Err(format!(
                "float weights have {} values, the layer has {}",
                w.len(),
                self.rows * self.cols
            ));
        }
        let full = DMatrix::from_column_slice(self.rows, self.cols, w);
        for a in 0..self.tiles.len() {
            let (o, no, i, ni) = self.bounds(a);
            let block = full.view((o, i), (no, ni)).into_owned();
            self.tiles[a].restore_float(block.as_slice())?;
        }
        Ok(())
    }
}

/// A separate digital partial-sum adder over every array's buffer: `y[part p] = Σ_q
/// partial(p, q)` for every column of the batch, the parts q added in order. The reads add
/// each array's partial sums as its ADC loop converts them ([`Sink`]); this is the reference
/// they are tested against (same bits, same count: one add per output per extra array).
#[cfg(test)]
fn add_partials<'a>(
    y: &mut DMatrix<f32>,
    n: usize,
    b: usize,
    parts: &[(usize, usize)],
    q_count: usize,
    partial: impl Fn(usize, usize) -> &'a DMatrix<f32> + Sync,
    c: &mut Counters,
) {
    if y.shape() != (n, b) {
        *y = DMatrix::zeros(n, b);
    }
    let pc = piece_cols(n);
    for_pieces(y.as_mut_slice(), pc * n, |piece, yp| {
        for (jj, col) in yp.chunks_mut(n).enumerate() {
            let j = piece * pc + jj;
            for (p, &(off, len)) in parts.iter().enumerate() {
                let dst = &mut col[off..off + len];
                let first = partial(p, 0);
                dst.copy_from_slice(&first.as_slice()[j * len..(j + 1) * len]);
                for q in 1..q_count {
                    let src = &partial(p, q).as_slice()[j * len..(j + 1) * len];
                    dst.iter_mut().zip(src).for_each(|(d, &s)| *d += s);
                }
            }
        }
    });
    c.digital_ops += ((q_count - 1) * n * b) as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3 × 3 grid (70 outputs in parts of ≤ 30, 250 inputs in parts of ≤ 100), programmed.
    fn grid(seed: u64) -> ArrayGrid {
        let model = crate::chip::presets::resolve(
            "rram",
            &["array.rows=100".into(), "array.cols=30".into()],
        )
        .expect("preset");
        let mut g = ArrayGrid::fabricate(&model, 70, 250, seed, 1, 0.3);
        g.program(&DMatrix::from_fn(70, 250, |i, j| {
            ((i * 31 + j * 17) % 23) as f32 / 23.0 * 0.4 - 0.2
        }));
        g
    }

    /// Inputs whose parts have very different magnitudes, so per-array abs-max scales differ.
    fn inputs(d: usize, b: usize) -> DMatrix<f32> {
        DMatrix::from_fn(d, b, |i, j| {
            let v = (((i * 13 + j * 7) % 29) as f32 - 14.0) / 14.0;
            v * [1.0, 0.05, 3.0][(i * 3 / d).min(2)]
        })
    }

    #[test]
    fn shared_dac_conversion_gives_the_bits_of_converting_per_array() {
        // The grid converts each input part once; the same grid fabricated twice and read
        // array by array, each converting on its own (no shared scratch), must agree bit for
        // bit, read noise included, in both directions, with the same event counts.
        let (mut shared, mut own) = (grid(7), grid(7));
        assert_eq!(shared.grid(), (3, 3));
        for transposed in [false, true] {
            let x = inputs(if transposed { 70 } else { 250 }, 37);
            let (mut y, mut c_shared) = (DMatrix::zeros(0, 0), Counters::default());
            if transposed {
                shared.read_transposed(&x, &mut y, &mut c_shared);
            } else {
                shared.read(&x, &mut y, &mut c_shared);
            }
            let mut c_own = Counters::default();
            let n_out = own.out_parts.len();
            for a in 0..own.tiles.len() {
                let (o, _, i, _) = own.bounds(a);
                let (t, part) = (&mut own.tiles[a], &mut own.parts[a]);
                let (r0, dir) = if transposed {
                    (o, Direction::Transposed)
                } else {
                    (i, Direction::Forward)
                };
                t.read_lines(&x, r0, dir, Dac::Convert, part, None, &mut c_own);
            }
            let mut expect = DMatrix::zeros(0, 0);
            let parts = &own.parts;
            if transposed {
                let (n, q) = (own.cols, n_out);
                add_partials(
                    &mut expect,
                    n,
                    37,
                    &own.in_parts,
                    q,
                    |k, m| &parts[m + n_out * k],
                    &mut c_own,
                );
            } else {
                let (n, q) = (own.rows, own.in_parts.len());
                add_partials(
                    &mut expect,
                    n,
                    37,
                    &own.out_parts,
                    q,
                    |m, k| &parts[m + n_out * k],
                    &mut c_own,
                );
            }
            assert!(
                crate::linalg::same_bits(y.as_slice(), expect.as_slice()),
                "transposed: {transposed}"
            );
            assert_eq!(c_shared.dac_conversions, c_own.dac_conversions);
            assert_eq!(c_shared.digital_ops, c_own.digital_ops);
            // Not trivially equal: the read produced values.
            assert!(y.iter().any(|v| *v != 0.0));
        }
    }

    #[test]
    fn arrays_side_by_side_give_the_bits_of_arrays_in_turn() {
        // Two threads read and program the arrays of a split layer side by side (one lane per
        // output part forward, per input part transposed, one task per array for pulses); one
        // thread visits them in turn. Same reads, same conductances, same counts, same
        // per-array statistics, bit for bit, over several steps of noisy reads and updates.
        let run = |threads: usize| {
            crate::linalg::with_threads(threads, || {
                let mut g = grid(11);
                let (mut outs, mut c) = (Vec::new(), Counters::default());
                for step in 0..3 {
                    let (mut y, mut yt) = (DMatrix::zeros(0, 0), DMatrix::zeros(0, 0));
                    g.read(&inputs(250, 33 + step), &mut y, &mut c);
                    g.read_transposed(&inputs(70, 21), &mut yt, &mut c);
                    let dw = DMatrix::from_fn(70, 250, |i, j| {
                        ((i * 7 + j * 13 + step * 5) % 37) as f32 * 2e-4 - 3.6e-3
                    });
                    g.update(&dw, &mut c);
                    outs.push((y, yt));
                }
                (outs, c, g.stats().to_vec(), g.weights())
            })
        };
        let (seq, par) = (run(1), run(2));
        for ((y1, t1), (y2, t2)) in seq.0.iter().zip(&par.0) {
            assert!(crate::linalg::same_bits(y1.as_slice(), y2.as_slice()));
            assert!(crate::linalg::same_bits(t1.as_slice(), t2.as_slice()));
            assert!(y1.iter().any(|v| *v != 0.0) && t1.iter().any(|v| *v != 0.0));
        }
        assert_eq!(seq.1, par.1);
        assert!(seq.1.pulses_up > 0 && seq.1.adc_conversions > 0);
        assert_eq!(seq.2, par.2);
        assert!(crate::linalg::same_bits(seq.3.as_slice(), par.3.as_slice()));
    }

    #[test]
    fn strided_updates_pulse_the_bits_of_copied_blocks() {
        // Each array's pulse loop reads its block of the layer's Δw in place; pulsing each
        // array with a copy of its block (what the grid did before) must give the same
        // conductances, read matrix and counts, on a chip with stochastic rounding (where a
        // misplaced request would move other devices) and on the ideal chip.
        for preset in ["rram", "ideal"] {
            let model = crate::chip::presets::resolve(
                preset,
                &["array.rows=100".into(), "array.cols=30".into()],
            )
            .expect("preset");
            let w0 = DMatrix::from_fn(70, 250, |i, j| {
                ((i * 31 + j * 17) % 23) as f32 / 23.0 * 0.4 - 0.2
            });
            let (mut strided, mut copied) = (
                ArrayGrid::fabricate(&model, 70, 250, 5, 1, 0.3),
                ArrayGrid::fabricate(&model, 70, 250, 5, 1, 0.3),
            );
            strided.program(&w0);
            copied.program(&w0);
            let (mut cs, mut cc) = (Counters::default(), Counters::default());
            for step in 0..3 {
                // Distinct values everywhere: a block read at the wrong offset or stride
                // requests different changes.
                let dw = DMatrix::from_fn(70, 250, |i, j| {
                    ((i * 7 + j * 13 + step * 5) % 37) as f32 * 2e-4 - 3.6e-3 + i as f32 * 1e-5
                });
                strided.update(&dw, &mut cs);
                for a in 0..copied.tiles.len() {
                    let (o, no, i, ni) = copied.bounds(a);
                    let block = dw.view((o, i), (no, ni)).into_owned();
                    copied.tiles[a].update(&block, &mut cc);
                }
            }
            let (ws, wc) = (strided.weights(), copied.weights());
            assert!(
                crate::linalg::same_bits(ws.as_slice(), wc.as_slice()),
                "{preset}"
            );
            assert_ne!(ws, w0, "{preset}: the updates changed the weights");
            assert_eq!(
                (cs.pulses_up, cs.pulses_down, cs.cells_written),
                (cc.pulses_up, cc.pulses_down, cc.cells_written),
                "{preset}"
            );
            if preset == "rram" {
                assert!(cs.pulses_up > 0 && cs.pulses_down > 0);
                for (s, c) in strided.tiles.iter().zip(&copied.tiles) {
                    let (ds, dc) = (s.devices().unwrap(), c.devices().unwrap());
                    assert!(crate::linalg::same_bits(
                        ds.conductances(),
                        dc.conductances()
                    ));
                }
            }
        }
    }
}
