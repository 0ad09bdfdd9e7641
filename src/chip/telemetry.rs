//! Telemetry: what a hardware designer wants to see of a simulated chip (conductances,
//! per-device pulse totals, ADC-input histograms), read by the HDF5 trace writer.
//!
//! **Simulation only.** A real chip cannot report these numbers, so no learning rule may use
//! them: rules get a [`super::Port`] (and at most an [`super::Oracle`]), never a [`Telemetry`]. The
//! view borrows the chip immutably, so reading it cannot change a run, and turning the trace
//! counters on ([`Chip::enable_traces`]) changes no random draw: a traced run equals an
//! untraced one bit for bit.

use super::array_grid::ArrayGrid;
use super::network::Chip;
use std::borrow::Cow;

/// A read-only, simulation-side view of a chip for traces; see the module docs.
pub struct Telemetry<'c> {
    chip: &'c Chip,
}

/// One layer's weights (all its physical arrays) in a [`Telemetry`] view.
///
/// Layer-wide views are in the layer's weight order, whatever the array split (borrowed when
/// the layer is one array, assembled otherwise); [`LayerTelemetry::arrays`] gives the figures
/// of each physical array.
pub struct LayerTelemetry<'c> {
    grid: &'c ArrayGrid,
}

/// Per-device programming-pulse totals since the trace counters were enabled or last reset.
///
/// Each slice has 2n entries for n weights: devices `0..n` are the g⁺ halves and `n..2n` the
/// g⁻ halves; weight `i` is row `i % rows`, column `i / rows` (column-major, `rows` = outputs).
/// Counters saturate at `u32::MAX`.
#[derive(Clone, Debug)]
pub struct PulseTotals<'c> {
    /// Pulses that raised the device's conductance.
    pub up: Cow<'c, [u32]>,
    /// Pulses that lowered it.
    pub down: Cow<'c, [u32]>,
}

/// Histogram of ADC inputs (before clipping) since the trace counters were enabled or reset,
/// summed over the layer's arrays (all arrays have the same ADC, so the same bins).
#[derive(Clone, Debug)]
pub struct AdcHistogramView<'c> {
    /// Bin edges in normalised ADC units (the ADC range is ±`read.out_bound`); `bins + 1`
    /// values spanning ±1.5·out_bound. Values outside fall in the end bins.
    pub edges: &'c [f32],
    /// Conversions per bin (every read of the layer: training and evaluation; diagnostics run on a twin).
    pub counts: Cow<'c, [u64]>,
}

/// `(g⁺, g⁻)` of every weight of a layer, see [`LayerTelemetry::conductances`].
pub type Conductances<'c> = (Cow<'c, [f32]>, Cow<'c, [f32]>);

/// One physical array of a layer: where it sits and what it did since the chip was built or
/// its traces were last reset (not checkpointed: a resumed run counts from the resume).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayTelemetry {
    /// First output (row of W) and number of outputs of this array.
    pub output_offset: usize,
    /// Outputs of this array.
    pub outputs: usize,
    /// First input (column of W) of this array.
    pub input_offset: usize,
    /// Inputs of this array.
    pub inputs: usize,
    /// Vector reads through this array.
    pub reads: u64,
    /// ADC conversions of this array.
    pub adc_conversions: u64,
    /// Of those, conversions that clipped at ±out_bound.
    pub adc_saturations: u64,
    /// Programming pulses that raised a conductance of this array.
    pub pulses_up: u64,
    /// Programming pulses that lowered one.
    pub pulses_down: u64,
}

impl ArrayTelemetry {
    /// Fraction of this array's ADC conversions that saturated (0 without conversions).
    pub fn saturation_rate(&self) -> f64 {
        self.adc_saturations as f64 / self.adc_conversions.max(1) as f64
    }
}

impl Chip {
    /// A simulation-only view for traces; see [`Telemetry`].
    pub fn telemetry(&self) -> Telemetry<'_> {
        Telemetry { chip: self }
    }

    /// Turns on per-device pulse totals and ADC-input histograms with `adc_bins` bins in every
    /// layer (no effect on layers without devices or without an ADC). Changes no random draw.
    pub fn enable_traces(&mut self, adc_bins: usize) {
        for layer in &mut self.layers {
            layer.tile.enable_traces(adc_bins.max(1));
        }
    }

    /// Zeroes the per-device pulse totals, ADC histograms and per-array totals (per-epoch
    /// traces); the trace writer may instead difference successive totals when it only holds
    /// `&Chip`.
    pub fn reset_traces(&mut self) {
        for layer in &mut self.layers {
            layer.tile.reset_stats();
            for tile in layer.tile.tiles_mut() {
                if let Some(d) = tile.devices_mut() {
                    if let Some(t) = &mut d.pulse_trace {
                        t.up.fill(0);
                        t.down.fill(0);
                    }
                }
                if let Some(h) = &mut tile.adc_hist {
                    h.counts.fill(0);
                }
            }
        }
    }
}

impl<'c> Telemetry<'c> {
    /// Number of layers.
    pub fn layers(&self) -> usize {
        self.chip.layers.len()
    }

    /// Layer `l` (panics if `l >= layers()`).
    pub fn layer(&self, l: usize) -> LayerTelemetry<'c> {
        LayerTelemetry {
            grid: &self.chip.layers[l].tile,
        }
    }
}

impl<'c> LayerTelemetry<'c> {
    /// `(rows, cols)` = (outputs, inputs) of the weight matrix.
    pub fn shape(&self) -> (usize, usize) {
        self.grid.shape()
    }

    /// `(arrays along the outputs, arrays along the inputs)` the layer is split over.
    pub fn grid(&self) -> (usize, usize) {
        self.grid.grid()
    }

    /// Every physical array of the layer, output parts fastest (array `m + n_out·k` holds
    /// output part m and input part k).
    pub fn arrays(&self) -> Vec<ArrayTelemetry> {
        self.grid
            .stats()
            .iter()
            .enumerate()
            .map(|(a, s)| {
                let (output_offset, outputs, input_offset, inputs) = self.grid.bounds(a);
                ArrayTelemetry {
                    output_offset,
                    outputs,
                    input_offset,
                    inputs,
                    reads: s.reads,
                    adc_conversions: s.adc_conversions,
                    adc_saturations: s.adc_saturations,
                    pulses_up: s.pulses_up,
                    pulses_down: s.pulses_down,
                }
            })
            .collect()
    }

    /// Whether the layer stores weights in conductance devices (false on an ideal chip).
    pub fn is_analog(&self) -> bool {
        self.grid.is_analog()
    }

    /// A per-device quantity of every array, in the layer's device order (g⁺ of every weight
    /// column-major, then g⁻): borrowed from a lone array, assembled from several.
    fn per_device<T: Copy + Default>(
        &self,
        of: impl Fn(&'c super::crossbar::Tile) -> Option<&'c [T]>,
    ) -> Option<Cow<'c, [T]>> {
        let tiles = self.grid.tiles();
        if tiles.len() == 1 {
            return of(&tiles[0]).map(Cow::Borrowed);
        }
        let (rows, cols) = self.grid.shape();
        let n = rows * cols;
        let mut out = vec![T::default(); 2 * n];
        for (a, t) in tiles.iter().enumerate() {
            let v = of(t)?;
            let (o, no, i, ni) = self.grid.bounds(a);
            let m = no * ni;
            for half in 0..2 {
                for c in 0..ni {
                    let src = &v[half * m + c * no..half * m + (c + 1) * no];
                    let d0 = half * n + (i + c) * rows + o;
                    out[d0..d0 + no].copy_from_slice(src);
                }
            }
        }
        Some(Cow::Owned(out))
    }

    /// `(g⁺, g⁻)` of every weight, normalised by the nominal g_max (so a device lives in
    /// [g_min/g_max, g_max,i/g_max]), column-major weight order; as programmed, before drift.
    pub fn conductances(&self) -> Option<Conductances<'c>> {
        let g = self.per_device(|t| t.devices().map(|d| d.conductances()))?;
        let n = g.len() / 2;
        Some(match g {
            Cow::Borrowed(g) => {
                let (p, m) = g.split_at(n);
                (Cow::Borrowed(p), Cow::Borrowed(m))
            }
            Cow::Owned(mut g) => {
                let m = g.split_off(n);
                (Cow::Owned(g), Cow::Owned(m))
            }
        })
    }

    /// Per-device pulse totals (None unless [`Chip::enable_traces`] was called on an analog chip).
    pub fn pulse_totals(&self) -> Option<PulseTotals<'c>> {
        let up = self.per_device(|t| Some(t.devices()?.pulse_trace.as_ref()?.up.as_slice()))?;
        let down = self.per_device(|t| Some(t.devices()?.pulse_trace.as_ref()?.down.as_slice()))?;
        Some(PulseTotals { up, down })
    }

    /// ADC-input histogram (None unless traces are enabled and the chip has an ADC).
    pub fn adc_histogram(&self) -> Option<AdcHistogramView<'c>> {
        let tiles = self.grid.tiles();
        let first = tiles[0].adc_hist.as_ref()?;
        let counts = if tiles.len() == 1 {
            Cow::Borrowed(first.counts.as_slice())
        } else {
            let mut sum = vec![0u64; first.counts.len()];
            for t in tiles {
                let h = t.adc_hist.as_ref()?;
                sum.iter_mut().zip(&h.counts).for_each(|(s, &c)| *s += c);
            }
            Cow::Owned(sum)
        };
        Some(AdcHistogramView {
            edges: &first.edges,
            counts,
        })
    }

    /// Devices stuck at a bound (0 on an ideal chip).
    pub fn stuck_devices(&self) -> usize {
        self.grid
            .tiles()
            .iter()
            .filter_map(|t| t.devices())
            .map(|d| {
                (0..d.conductances().len())
                    .filter(|&i| d.is_stuck(i))
                    .count()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::{presets, Activation, ChipConfig, InjectedNoise};
    use nalgebra::{DMatrix, DVector};

    fn chip(name: &str) -> Chip {
        let model = presets::resolve(name, &[]).unwrap();
        let cfg = ChipConfig {
            sizes: vec![6, 5, 3],
            activation: Activation::LeakyRelu { slope: 0.2 },
            decorrelation: None,
            injected: InjectedNoise::None,
            seed: 3,
        };
        Chip::build(&model, cfg)
    }

    #[test]
    fn pulse_totals_add_up_to_the_counters_and_reset() {
        let mut c = chip("rram");
        c.enable_traces(16);
        let dw = DMatrix::from_element(5, 6, 0.05f32);
        c.update_layer(0, &dw, &DVector::zeros(5));
        let t = c.telemetry();
        let p = t.layer(0).pulse_totals().expect("traces enabled");
        let sum = |v: &[u32]| v.iter().map(|&x| x as u64).sum::<u64>();
        let counted = c.counters()[0].total();
        assert_eq!(sum(&p.up), counted.pulses_up);
        assert_eq!(sum(&p.down), counted.pulses_down);
        assert!(counted.pulses_up > 0);
        c.reset_traces();
        assert_eq!(sum(&c.telemetry().layer(0).pulse_totals().unwrap().up), 0);
    }

    #[test]
    fn ideal_chips_have_no_device_telemetry() {
        let mut c = chip("ideal");
        c.enable_traces(16);
        let t = c.telemetry();
        assert!(!t.layer(0).is_analog());
        assert!(t.layer(0).conductances().is_none() && t.layer(0).pulse_totals().is_none());
    }
}
