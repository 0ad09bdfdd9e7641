//! Event counters per layer and phase, and their pricing.
//!
//! Counting is the simulator's job and pricing is a table that can change (the Accelergy
//! way): counters are plain integers; [`Energy`] multiplies them by a chip model's
//! coefficients, so a file's counts can be re-priced later with other coefficients.

use super::model::EnergySpec;
use std::ops::AddAssign;

/// What the chip was doing when an event happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Evaluation and the clean (or first) forward pass of a training step.
    Inference = 0,
    /// The extra, perturbed forward passes a node-perturbation rule needs.
    Perturbation = 1,
    /// Turning estimates into weight changes: optimiser arithmetic and programming pulses.
    Update = 2,
    /// The decorrelation circuits: their reads of inputs and their own updates.
    Decorrelation = 3,
}

impl Phase {
    /// All phases, in index order.
    pub const ALL: [Phase; 4] = [
        Phase::Inference,
        Phase::Perturbation,
        Phase::Update,
        Phase::Decorrelation,
    ];

    /// Lower-case name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Inference => "inference",
            Phase::Perturbation => "perturbation",
            Phase::Update => "update",
            Phase::Decorrelation => "decorrelation",
        }
    }
}

/// Event counts of one layer in one phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Vector reads (one input vector through one tile).
    pub vector_reads: u64,
    /// Analog multiply-accumulates (rows × columns per vector read).
    pub macs: u64,
    /// DAC conversions (one per input element per read).
    pub dac_conversions: u64,
    /// ADC conversions (one per output element per read).
    pub adc_conversions: u64,
    /// ADC conversions that clipped at ±out_bound.
    pub adc_saturations: u64,
    /// Programming pulses that raise a conductance.
    pub pulses_up: u64,
    /// Programming pulses that lower a conductance.
    pub pulses_down: u64,
    /// Distinct cells that received at least one pulse in an update (summed over updates).
    pub cells_written: u64,
    /// Digital operations in the periphery and co-processor (adds, multiplies, compares).
    pub digital_ops: u64,
    /// Programming requests sent to arrays (one per array per programmed change, pulsed or
    /// not): what the write time is priced on, since one request occupies its array for the
    /// whole pulse-train (or row-by-row) schedule whatever the data.
    pub program_requests: u64,
}

impl Counters {
    /// Number of counters.
    pub const N: usize = 10;

    /// Field names in a fixed order (HDF5 columns). New counters are appended, so a file's
    /// columns are a prefix of this list (readers match them by name).
    pub const NAMES: [&'static str; Counters::N] = [
        "vector_reads",
        "macs",
        "dac_conversions",
        "adc_conversions",
        "adc_saturations",
        "pulses_up",
        "pulses_down",
        "cells_written",
        "digital_ops",
        "program_requests",
    ];

    /// The counts in [`Counters::NAMES`] order.
    pub fn to_array(&self) -> [u64; Counters::N] {
        [
            self.vector_reads,
            self.macs,
            self.dac_conversions,
            self.adc_conversions,
            self.adc_saturations,
            self.pulses_up,
            self.pulses_down,
            self.cells_written,
            self.digital_ops,
            self.program_requests,
        ]
    }

    /// Inverse of [`Counters::to_array`].
    pub fn from_array(a: [u64; Counters::N]) -> Self {
        Counters {
            vector_reads: a[0],
            macs: a[1],
            dac_conversions: a[2],
            adc_conversions: a[3],
            adc_saturations: a[4],
            pulses_up: a[5],
            pulses_down: a[6],
            cells_written: a[7],
            digital_ops: a[8],
            program_requests: a[9],
        }
    }
}

impl AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        let (a, b) = (self.to_array(), o.to_array());
        *self = Counters::from_array(std::array::from_fn(|i| a[i] + b[i]));
    }
}

/// Energy of some counts under some coefficients, split by event kind, in pJ.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Energy {
    /// Array MACs.
    pub mac_pj: f64,
    /// DAC conversions.
    pub dac_pj: f64,
    /// ADC conversions.
    pub adc_pj: f64,
    /// Write pulses (up and down).
    pub write_pj: f64,
    /// Digital operations.
    pub digital_pj: f64,
}

impl Energy {
    /// Prices `c` with `coef`.
    pub fn of(c: &Counters, coef: &EnergySpec) -> Energy {
        Energy {
            mac_pj: c.macs as f64 * coef.mac_pj,
            dac_pj: c.dac_conversions as f64 * coef.dac_pj,
            adc_pj: c.adc_conversions as f64 * coef.adc_pj,
            write_pj: (c.pulses_up + c.pulses_down) as f64 * coef.write_pulse_pj,
            digital_pj: c.digital_ops as f64 * coef.digital_op_pj,
        }
    }

    /// The sum of all parts, pJ.
    pub fn total_pj(&self) -> f64 {
        self.mac_pj + self.dac_pj + self.adc_pj + self.write_pj + self.digital_pj
    }
}

/// Counters of one layer, one entry per [`Phase`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerCounters(pub [Counters; 4]);

impl LayerCounters {
    /// The counters of `phase`.
    pub fn get(&self, phase: Phase) -> &Counters {
        &self.0[phase as usize]
    }

    /// Mutable counters of `phase`.
    pub fn at(&mut self, phase: Phase) -> &mut Counters {
        &mut self.0[phase as usize]
    }

    /// Sum over phases.
    pub fn total(&self) -> Counters {
        let mut t = Counters::default();
        for c in self.0 {
            t += c;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energy_is_counts_times_coefficients() {
        let c = Counters {
            macs: 1000,
            dac_conversions: 10,
            adc_conversions: 20,
            pulses_up: 3,
            pulses_down: 4,
            digital_ops: 5,
            ..Default::default()
        };
        let coef = EnergySpec {
            mac_pj: 0.5,
            dac_pj: 0.25,
            adc_pj: 2.0,
            write_pulse_pj: 3.0,
            digital_op_pj: 1.0,
            source: String::new(),
        };
        let e = Energy::of(&c, &coef);
        assert_eq!(e.total_pj(), 500.0 + 2.5 + 40.0 + 21.0 + 5.0);
        assert_eq!(Counters::from_array(c.to_array()), c);
    }
}
