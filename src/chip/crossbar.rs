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

use super::device::{DeviceArray, PulseTrace};
use super::energy::Counters;
use super::model::{ChipModel, DeviceSpec, InputScaling, ReadSpec};
use super::periphery::Quantizer;
use crate::linalg::{gemm, Op};
use crate::rng::{Purpose, Stream};
use nalgebra::DMatrix;

/// The storage behind a tile.
enum Storage {
    /// Exact float weights (ideal chip).
    Float,
    /// A differential conductance array; `scale` is the digital gain w = scale·(g⁺ − g⁻).
    Analog { devices: Box<DeviceArray>, scale: f32 },
}

/// Per-tile histogram of ADC inputs (normalised output units), for hardware traces.
pub(crate) struct AdcHistogram {
    pub(crate) edges: Vec<f32>,
    pub(crate) counts: Vec<u64>,
}

pub(crate) struct Tile {
    rows: usize,
    cols: usize,
    storage: Storage,
    read: Option<ReadSpec>,
    dac: Option<Quantizer>,
    adc: Option<Quantizer>,
    /// What a noise-free read multiplies by: the weights (ideal) or g⁺ − g⁻ (analog).
    effective: DMatrix<f32>,
    noise: Stream,
    /// Scratch: quantised inputs, per-sample scales, noise buffer.
    xq: DMatrix<f32>,
    col_scale: Vec<f32>,
    noise_buf: Vec<f32>,
    pub(crate) adc_hist: Option<AdcHistogram>,
}

impl Tile {
    /// Fabricates a tile of `rows × cols` weights; `w_range` is the weight mapped to the full
    /// differential swing (from the chip model's mapping and the layer's He std).
    pub(crate) fn fabricate(model: &ChipModel, rows: usize, cols: usize, seed: u64, unit: u64, w_range: f32) -> Tile {
        let spec = model.spec();
        let storage = match &spec.device {
            DeviceSpec::Ideal => Storage::Float,
            DeviceSpec::Conductance(c) => {
                let update = spec.update.as_ref().expect("validated: conductance chips have [update]");
                let devices = DeviceArray::fabricate(c, update, spec.drift.as_ref(), rows * cols, seed, unit);
                let scale = w_range / devices.max_diff();
                Storage::Analog { devices: Box::new(devices), scale }
            }
        };
        let read = spec.read.clone();
        Tile {
            rows,
            cols,
            storage,
            dac: read.as_ref().map(|r| Quantizer::new(r.inp_bits, r.inp_bound)),
            adc: read.as_ref().map(|r| Quantizer::new(r.out_bits, r.out_bound)),
            read,
            effective: DMatrix::zeros(rows, cols),
            noise: Stream::new(seed, unit, Purpose::Read),
            xq: DMatrix::zeros(0, 0),
            col_scale: Vec::new(),
            noise_buf: Vec::new(),
            adc_hist: None,
        }
    }

    pub(crate) fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Write-verify programming of target weights (initialisation).
    pub(crate) fn program(&mut self, w: &DMatrix<f32>) {
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
    pub(crate) fn weights(&self) -> DMatrix<f32> {
        match &self.storage {
            Storage::Float => self.effective.clone(),
            Storage::Analog { scale, .. } => &self.effective * *scale,
        }
    }

    /// Smallest weight change one pulse makes (0 on an ideal chip).
    pub(crate) fn weight_step(&self) -> f32 {
        match &self.storage {
            Storage::Float => 0.0,
            Storage::Analog { devices, scale } => devices.step() * scale,
        }
    }

    /// One batched read: `y = measured(W · x)` for every column of `x` (`cols × B` → `rows × B`).
    pub(crate) fn read(&mut self, x: &DMatrix<f32>, y: &mut DMatrix<f32>, c: &mut Counters) {
        let b = x.ncols();
        assert_eq!(x.nrows(), self.cols);
        c.vector_reads += b as u64;
        c.macs += (self.rows * self.cols * b) as u64;
        let (Some(read), Some(dac), Some(adc)) = (&self.read, &self.dac, &self.adc) else {
            gemm(y, 0.0, 1.0, &self.effective, Op::N, x, Op::N);
            return;
        };
        c.dac_conversions += (self.cols * b) as u64;
        c.adc_conversions += (self.rows * b) as u64;
        // Input scaling and DAC: per sample, xq = Q(x / s), s = max|x| (or 1).
        if self.xq.shape() != x.shape() {
            self.xq = DMatrix::zeros(x.nrows(), x.ncols());
        }
        self.col_scale.resize(b, 1.0);
        let mut norms2 = vec![0.0f32; if read.w_noise > 0.0 { b } else { 0 }];
        for j in 0..b {
            let src = x.column(j);
            let s = match read.input_scaling {
                InputScaling::AbsMax => src.amax().max(f32::MIN_POSITIVE),
                InputScaling::None => 1.0,
            };
            self.col_scale[j] = s;
            let inv = 1.0 / s;
            let mut dst = self.xq.column_mut(j);
            for (d, &v) in dst.iter_mut().zip(src.iter()) {
                *d = dac.apply(v * inv).0;
            }
            if let Some(n2) = norms2.get_mut(j) {
                *n2 = dst.norm_squared();
            }
        }
        c.digital_ops += (self.cols * b) as u64; // the scaling multiply per input
        gemm(y, 0.0, 1.0, &self.effective, Op::N, &self.xq, Op::N);
        // Fresh read noise: one normal per output per read.
        if read.out_noise > 0.0 || read.w_noise > 0.0 {
            self.noise_buf.resize(self.rows * b, 0.0);
            self.noise.fill_normal(&mut self.noise_buf, crate::linalg::threads());
            let (so2, sw2) = ((read.out_noise * read.out_noise) as f32, (read.w_noise * read.w_noise) as f32);
            for j in 0..b {
                let sd = (so2 + sw2 * norms2.get(j).copied().unwrap_or(0.0)).sqrt();
                let z = &self.noise_buf[j * self.rows..(j + 1) * self.rows];
                for (v, &e) in y.column_mut(j).iter_mut().zip(z) {
                    *v += sd * e;
                }
            }
        }
        if let Some(h) = &mut self.adc_hist {
            h.record(y.as_slice());
        }
        c.adc_saturations += adc.apply_slice(y.as_mut_slice());
        // Back to weight units: scale (array gain) × s_j (input scaling), digital.
        let gain = match &self.storage {
            Storage::Float => 1.0,
            Storage::Analog { scale, .. } => *scale,
        };
        for j in 0..b {
            let g = gain * self.col_scale[j];
            y.column_mut(j).iter_mut().for_each(|v| *v *= g);
        }
        c.digital_ops += (self.rows * b) as u64;
    }

    /// Asks the programming circuit for a weight change `dw` (same shape as W).
    pub(crate) fn update(&mut self, dw: &DMatrix<f32>, c: &mut Counters) {
        assert_eq!(dw.shape(), (self.rows, self.cols));
        match &mut self.storage {
            Storage::Float => {
                self.effective += dw;
                c.cells_written += (self.rows * self.cols) as u64;
            }
            Storage::Analog { devices, scale } => {
                let inv = 1.0 / *scale;
                // Reuse the noise buffer as the request buffer: no allocation per update.
                self.noise_buf.clear();
                self.noise_buf.extend(dw.iter().map(|&v| v * inv));
                devices.apply_update(&self.noise_buf, c);
                c.digital_ops += (self.rows * self.cols) as u64;
                self.refresh();
            }
        }
    }

    /// Advances the chip clock; re-reads drifting conductances.
    pub(crate) fn advance_time(&mut self, dt_s: f64) {
        if let Storage::Analog { devices, .. } = &mut self.storage {
            if devices.drifts() {
                devices.advance_time(dt_s);
                self.refresh();
            }
        }
    }

    /// The device array (absent on an ideal chip).
    pub(crate) fn devices(&self) -> Option<&DeviceArray> {
        match &self.storage {
            Storage::Analog { devices, .. } => Some(devices),
            Storage::Float => None,
        }
    }

    pub(crate) fn devices_mut(&mut self) -> Option<&mut DeviceArray> {
        match &mut self.storage {
            Storage::Analog { devices, .. } => Some(devices),
            Storage::Float => None,
        }
    }

    /// The digital gain w = scale·(g⁺ − g⁻) (1 on an ideal chip).
    pub(crate) fn scale(&self) -> f32 {
        match &self.storage {
            Storage::Analog { scale, .. } => *scale,
            Storage::Float => 1.0,
        }
    }

    /// Turns on per-device pulse totals and the ADC-input histogram (hardware traces).
    pub(crate) fn enable_traces(&mut self, adc_bins: usize) {
        let n = self.rows * self.cols;
        if let Storage::Analog { devices, .. } = &mut self.storage {
            devices.pulse_trace = Some(PulseTrace { up: vec![0; 2 * n], down: vec![0; 2 * n] });
        }
        if let Some(adc) = &self.adc {
            let lim = 1.5 * adc.bound();
            let edges = (0..=adc_bins).map(|i| -lim + 2.0 * lim * i as f32 / adc_bins as f32).collect();
            self.adc_hist = Some(AdcHistogram { edges, counts: vec![0; adc_bins] });
        }
    }

    /// Read-noise stream state (for checkpoints).
    pub(crate) fn noise_state(&self) -> [u64; 2] {
        self.noise.state()
    }

    /// Restores the read-noise stream and re-derives the read matrix.
    pub(crate) fn restore_noise(&mut self, s: [u64; 2]) {
        self.noise = Stream::from_state(s);
        self.refresh();
    }

    /// Float weights (ideal chip): restore from a checkpoint.
    pub(crate) fn restore_float(&mut self, w: &[f32]) -> Result<(), String> {
        match &self.storage {
            Storage::Float if w.len() == self.effective.len() => {
                self.effective.as_mut_slice().copy_from_slice(w);
                Ok(())
            }
            _ => Err("float weights do not fit this tile".into()),
        }
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
