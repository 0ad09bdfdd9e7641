//! Telemetry: what a hardware designer wants to see of a simulated chip (conductances,
//! per-device pulse totals, ADC-input histograms), read by the HDF5 trace writer.
//!
//! **Simulation only.** A real chip cannot report these numbers, so no learning rule may use
//! them: rules get a [`super::Port`] (and at most an [`super::Oracle`]), never a [`Telemetry`]. The
//! view borrows the chip immutably, so reading it cannot change a run, and turning the trace
//! counters on ([`Chip::enable_traces`]) changes no random draw: a traced run equals an
//! untraced one bit for bit.

use super::crossbar::Tile;
use super::network::Chip;

/// A read-only, simulation-side view of a chip for traces; see the module docs.
pub struct Telemetry<'c> {
    chip: &'c Chip,
}

/// One layer's tile in a [`Telemetry`] view.
pub struct LayerTelemetry<'c> {
    tile: &'c Tile,
}

/// Per-device programming-pulse totals since the trace counters were enabled or last reset.
///
/// Each slice has 2n entries for n weights: devices `0..n` are the g⁺ halves and `n..2n` the
/// g⁻ halves; weight `i` is row `i % rows`, column `i / rows` (column-major, `rows` = outputs).
/// Counters saturate at `u32::MAX`.
#[derive(Clone, Copy, Debug)]
pub struct PulseTotals<'c> {
    /// Pulses that raised the device's conductance.
    pub up: &'c [u32],
    /// Pulses that lowered it.
    pub down: &'c [u32],
}

/// Histogram of ADC inputs (before clipping) since the trace counters were enabled or reset.
#[derive(Clone, Copy, Debug)]
pub struct AdcHistogramView<'c> {
    /// Bin edges in normalised ADC units (the ADC range is ±`read.out_bound`); `bins + 1`
    /// values spanning ±1.5·out_bound. Values outside fall in the end bins.
    pub edges: &'c [f32],
    /// Reads per bin (every read of the tile: training and evaluation; diagnostics run on a twin).
    pub counts: &'c [u64],
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

    /// Zeroes the per-device pulse totals and ADC histograms (per-epoch traces); the trace
    /// writer may instead difference successive totals when it only holds `&Chip`.
    pub fn reset_traces(&mut self) {
        for layer in &mut self.layers {
            if let Some(d) = layer.tile.devices_mut() {
                if let Some(t) = &mut d.pulse_trace {
                    t.up.fill(0);
                    t.down.fill(0);
                }
            }
            if let Some(h) = &mut layer.tile.adc_hist {
                h.counts.fill(0);
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
            tile: &self.chip.layers[l].tile,
        }
    }
}

impl<'c> LayerTelemetry<'c> {
    /// `(rows, cols)` = (outputs, inputs) of the weight matrix.
    pub fn shape(&self) -> (usize, usize) {
        self.tile.shape()
    }

    /// Whether the layer stores weights in conductance devices (false on an ideal chip).
    pub fn is_analog(&self) -> bool {
        self.tile.devices().is_some()
    }

    /// `(g⁺, g⁻)` of every weight, normalised by the nominal g_max (so a device lives in
    /// [g_min/g_max, g_max,i/g_max]), column-major weight order; as programmed, before drift.
    pub fn conductances(&self) -> Option<(&'c [f32], &'c [f32])> {
        self.tile.devices().map(|d| {
            let g = d.conductances();
            g.split_at(g.len() / 2)
        })
    }

    /// Per-device pulse totals (None unless [`Chip::enable_traces`] was called on an analog chip).
    pub fn pulse_totals(&self) -> Option<PulseTotals<'c>> {
        let t = self.tile.devices()?.pulse_trace.as_ref()?;
        Some(PulseTotals {
            up: &t.up,
            down: &t.down,
        })
    }

    /// ADC-input histogram (None unless traces are enabled and the chip has an ADC).
    pub fn adc_histogram(&self) -> Option<AdcHistogramView<'c>> {
        self.tile.adc_hist.as_ref().map(|h| AdcHistogramView {
            edges: &h.edges,
            counts: &h.counts,
        })
    }

    /// Devices stuck at a bound (0 on an ideal chip).
    pub fn stuck_devices(&self) -> usize {
        self.tile.devices().map_or(0, |d| {
            (0..d.conductances().len())
                .filter(|&i| d.is_stuck(i))
                .count()
        })
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
        assert_eq!(sum(p.up), counted.pulses_up);
        assert_eq!(sum(p.down), counted.pulses_down);
        assert!(counted.pulses_up > 0);
        c.reset_traces();
        assert_eq!(sum(c.telemetry().layer(0).pulse_totals().unwrap().up), 0);
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
