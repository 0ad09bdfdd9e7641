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
    /// Fixed-point additions (a fixed-point decorrelator's datapath), priced by width with
    /// [`int_add_pj`]: the count, and below the sum of their widths in bits.
    pub int_adds: u64,
    /// Σ width (bits) over the `int_adds`: with the count, what an affine-in-width price needs.
    pub int_add_bits: u64,
    /// Fixed-point multiplications, priced by width with [`int_mult_pj`].
    pub int_mults: u64,
    /// Σ width² (bits²) over the `int_mults`: with the count, what an affine-in-width² price
    /// needs.
    pub int_mult_bits2: u64,
}

impl Counters {
    /// Number of counters.
    pub const N: usize = 14;

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
        "int_adds",
        "int_add_bits",
        "int_mults",
        "int_mult_bits2",
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
            self.int_adds,
            self.int_add_bits,
            self.int_mults,
            self.int_mult_bits2,
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
            int_adds: a[10],
            int_add_bits: a[11],
            int_mults: a[12],
            int_mult_bits2: a[13],
        }
    }

    /// Counts `n` fixed-point multiply-accumulates of `bits`-bit operands: one `bits`-bit
    /// multiply and one add at the product's width, 2·`bits` (the accumulator holds full
    /// products, so no rounding inside a sum).
    pub fn count_int_macs(&mut self, n: u64, bits: u32) {
        let b = u64::from(bits);
        self.int_mults += n;
        self.int_mult_bits2 += n * b * b;
        self.int_adds += n;
        self.int_add_bits += n * 2 * b;
    }

    /// The energy of the fixed-point counters, pJ: Σ over adds of [`int_add_pj`] and over
    /// multiplies of [`int_mult_pj`], computed from the counts and their width sums (both
    /// prices are affine in what is summed, so this is exact for any mix of widths).
    pub fn int_pj(&self) -> f64 {
        let (a0, a1) = INT_ADD_AFFINE;
        let (m0, m2) = INT_MULT_AFFINE;
        self.int_adds as f64 * a0
            + self.int_add_bits as f64 * a1
            + self.int_mults as f64 * m0
            + self.int_mult_bits2 as f64 * m2
    }
}

/// Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 45 nm,
/// 0.9 V: integer add 8 bit 0.03 pJ, 32 bit 0.1 pJ; integer multiply 8 bit 0.2 pJ, 32 bit
/// 3.1 pJ (floating point: 16-bit add 0.4 / multiply 1.1, 32-bit add 0.9 / multiply 3.7, which
/// `energy.digital_op_pj` = 2.3, their mean, already prices). Widths `(bits, add pJ, mult pJ)`.
pub const HOROWITZ_INT_PJ: [(u32, f64, f64); 2] = [(8, 0.03, 0.2), (32, 0.1, 3.1)];

/// `(a0, a1)` of the add price a0 + a1·bits, the line through Horowitz's 8- and 32-bit adds (a
/// ripple/carry adder's energy grows linearly with its width).
const INT_ADD_AFFINE: (f64, f64) = {
    let [(b8, a8, _), (b32, a32, _)] = HOROWITZ_INT_PJ;
    let slope = (a32 - a8) / (b32 - b8) as f64;
    (a8 - slope * b8 as f64, slope)
};

/// `(m0, m2)` of the multiply price m0 + m2·bits², through Horowitz's 8- and 32-bit multiplies
/// (an array multiplier has bits² partial-product cells).
const INT_MULT_AFFINE: (f64, f64) = {
    let [(b8, _, m8), (b32, _, m32)] = HOROWITZ_INT_PJ;
    let slope = (m32 - m8) / ((b32 * b32) - (b8 * b8)) as f64;
    (m8 - slope * (b8 * b8) as f64, slope)
};

/// Energy of one `bits`-bit integer addition, pJ (see [`HOROWITZ_INT_PJ`]): 0.03 at 8 bits,
/// 0.1 at 32, on the line between (and beyond) them.
pub fn int_add_pj(bits: u32) -> f64 {
    INT_ADD_AFFINE.0 + INT_ADD_AFFINE.1 * f64::from(bits)
}

/// Energy of one `bits`-bit integer multiplication, pJ (see [`HOROWITZ_INT_PJ`]): 0.2 at 8
/// bits, 3.1 at 32, affine in bits² between (and beyond) them.
pub fn int_mult_pj(bits: u32) -> f64 {
    INT_MULT_AFFINE.0 + INT_MULT_AFFINE.1 * f64::from(bits) * f64::from(bits)
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
    /// Digital operations: float ones at `digital_op_pj`, fixed-point ones by width.
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
            digital_pj: c.digital_ops as f64 * coef.digital_op_pj + c.int_pj(),
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

    #[test]
    fn integer_prices_meet_the_table_and_grow_with_width() {
        for (bits, add, mult) in HOROWITZ_INT_PJ {
            assert!((int_add_pj(bits) - add).abs() < 1e-12, "{bits}-bit add");
            assert!((int_mult_pj(bits) - mult).abs() < 1e-12, "{bits}-bit mult");
        }
        for b in 2..40 {
            assert!(int_add_pj(b + 1) > int_add_pj(b) && int_mult_pj(b + 1) > int_mult_pj(b));
            assert!(int_add_pj(b) > 0.0 && int_mult_pj(b) > 0.0);
        }
        // Mixed widths: the summed counters price each MAC at its own width.
        let mut c = Counters::default();
        c.count_int_macs(3, 8);
        c.count_int_macs(5, 12);
        let want =
            3.0 * (int_mult_pj(8) + int_add_pj(16)) + 5.0 * (int_mult_pj(12) + int_add_pj(24));
        assert!((c.int_pj() - want).abs() < 1e-9 * want);
    }
}
