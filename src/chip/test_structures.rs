//! Test structures: single arrays and array grids of a chip model, fabricated on their own with
//! the pins a lab probes (inputs, ADC outputs, programming pulses, the clock), as the test
//! structures on a wafer beside the chip. `crate::lab` (`chip characterize`) measures a model
//! through these alone, from outside the chip. Nothing here reaches a run's chip: a rule gets a
//! `Port`, and a test structure is a separate fabrication.

use super::array_grid::ArrayGrid;
use super::crossbar::Tile;
use super::energy::Counters;
use super::model::ChipModel;
use super::periphery::Quantizer;
use nalgebra::DMatrix;

/// One physical array (tile) of the model: `rows × cols` weights.
pub struct TestTile(Tile);

impl TestTile {
    /// Fabricates the array as a layer's would be; `w_range` is the weight mapped to the full
    /// differential swing; `unit` keys its random streams.
    pub fn fabricate(
        model: &ChipModel,
        rows: usize,
        cols: usize,
        seed: u64,
        unit: u64,
        w_range: f32,
    ) -> Self {
        TestTile(Tile::fabricate(model, rows, cols, seed, unit, w_range))
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        self.0.shape()
    }

    /// Programs the weights `w` (write-verify, as the chip's initial programming).
    pub fn program(&mut self, w: &DMatrix<f32>) {
        self.0.program(w)
    }

    /// `y = measured(W · x)`: DAC, analog product with fresh read noise, ADC.
    pub fn read(&mut self, x: &DMatrix<f32>, y: &mut DMatrix<f32>, c: &mut Counters) {
        self.0.read(x, y, c)
    }

    /// Requests the weight change `dw` as programming pulses.
    pub fn update(&mut self, dw: &DMatrix<f32>, c: &mut Counters) {
        self.0.update(dw, c)
    }

    /// Lets `dt_s` seconds pass (drift).
    pub fn advance_time(&mut self, dt_s: f64) {
        self.0.advance_time(dt_s)
    }

    /// Weight per unit of differential conductance.
    pub fn scale(&self) -> f32 {
        self.0.scale()
    }

    /// The weight one pulse step moves.
    pub fn weight_step(&self) -> f32 {
        self.0.weight_step()
    }

    /// The devices' conductance step per pulse (None: an ideal, float tile).
    pub fn device_step(&self) -> Option<f32> {
        self.0.devices().map(|d| d.step())
    }

    /// The largest differential conductance (None: an ideal tile).
    pub fn device_max_diff(&self) -> Option<f32> {
        self.0.devices().map(|d| d.max_diff())
    }
}

/// A layer's grid of arrays (`[array] rows × cols`), with each array's own outputs probed.
pub struct TestGrid(ArrayGrid);

impl TestGrid {
    /// Fabricates a `rows × cols` layer on the model's array grid.
    pub fn fabricate(
        model: &ChipModel,
        rows: usize,
        cols: usize,
        seed: u64,
        unit: u64,
        w_range: f32,
    ) -> Self {
        let mut grid = ArrayGrid::fabricate(model, rows, cols, seed, unit, w_range);
        grid.keep_partials(); // for `last_partial`
        TestGrid(grid)
    }

    /// Programs the layer's weights.
    pub fn program(&mut self, w: &DMatrix<f32>) {
        self.0.program(w)
    }

    /// `y = measured(W · x)`, the arrays' converted partial sums added digitally.
    pub fn read(&mut self, x: &DMatrix<f32>, y: &mut DMatrix<f32>, c: &mut Counters) {
        self.0.read(x, y, c)
    }

    /// `(output parts, input parts)`.
    pub fn grid(&self) -> (usize, usize) {
        self.0.grid()
    }

    /// Number of arrays.
    pub fn arrays(&self) -> usize {
        self.0.tiles().len()
    }

    /// Array `a`'s place: `(output offset, outputs, input offset, inputs)`.
    pub fn bounds(&self, a: usize) -> (usize, usize, usize, usize) {
        self.0.bounds(a)
    }

    /// Per array, (ADC conversions, of which clipped) since fabrication.
    pub fn adc_counts(&self) -> Vec<(u64, u64)> {
        self.0
            .stats()
            .iter()
            .map(|s| (s.adc_conversions, s.adc_saturations))
            .collect()
    }

    /// The last read's converted partial sums of array `a` (after its ADC, in weight units).
    pub fn last_partial(&self, a: usize) -> &DMatrix<f32> {
        self.0.last_partial(a)
    }

    /// Weight per unit of differential conductance.
    pub fn scale(&self) -> f32 {
        self.0.scale()
    }
}

/// A DAC or ADC of the model: `bits` over [−bound, bound].
pub struct Converter(Quantizer);

impl Converter {
    /// The converter of `bits` bits over [−bound, bound].
    pub fn new(bits: u32, bound: f64) -> Self {
        Converter(Quantizer::new(bits, bound))
    }

    /// One code step.
    pub fn step(&self) -> f32 {
        self.0.step()
    }

    /// `x` converted, and whether it clipped.
    pub fn apply(&self, x: f32) -> (f32, bool) {
        self.0.apply(x)
    }
}
