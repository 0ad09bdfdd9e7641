//! A run's memory footprint, estimated from its checked settings before anything is allocated.
//!
//! Without this, `--hidden 100000000` dies inside the allocator (`memory allocation of
//! 25600000000 bytes failed`, an abort) and `--hidden 18446744073709551615` panics on a capacity
//! overflow — both after the result file was created and marked `running`. The estimate is a
//! *lower bound*: it counts only the buffers every run of that shape certainly holds, computed in
//! f64 so no size can overflow, and the run is refused when even that exceeds the memory the
//! kernel reports as available (`MemAvailable` in /proc/meminfo).

use crate::chip::DecorPrecision;
use crate::learn::OptimizerKind;
use crate::run::RunSpec;

/// The bytes a run needs at least, by kind (each a lower bound).
#[derive(Clone, Debug, PartialEq)]
pub struct Footprint {
    /// Weights, conductance pairs and their effective-weight copy.
    pub weights: f64,
    /// Gradient estimates and optimiser moments (Adam keeps two per weight).
    pub learning: f64,
    /// Forward traces of one batch (inputs, pre- and post-activations per pass).
    pub batch: f64,
    /// Decorrelation matrices (one square matrix per layer input) and their work copies.
    pub decorrelators: f64,
}

impl Footprint {
    /// The total, bytes.
    pub fn total(&self) -> f64 {
        self.weights + self.learning + self.batch + self.decorrelators
    }

    /// The lower bound for `spec` with layer widths `sizes` (input, hidden..., classes) on a
    /// training split of `n_train` samples (the loop's batch is at most the split).
    pub fn of(spec: &RunSpec, sizes: &[usize], n_train: usize) -> Footprint {
        const F32: f64 = 4.0;
        let n_weights: f64 = sizes
            .windows(2)
            .map(|w| w[0] as f64 * w[1] as f64 + w[1] as f64)
            .sum();
        // Ideal: the float weights. Analog: g⁺ and g⁻ per weight plus the effective weight the
        // reads use.
        let per_weight = if spec.chip.is_ideal() { 1.0 } else { 3.0 };
        let weights = n_weights * per_weight * F32;
        let moments = match spec.optimizer {
            OptimizerKind::Adam => 2.0,
            OptimizerKind::Sgd => 0.0,
        };
        // One gradient estimate per weight plus the optimiser's moments.
        let learning = n_weights * (1.0 + moments) * F32;
        let units: f64 = sizes.iter().map(|&n| n as f64).sum();
        // Every pass keeps inputs, pre- and post-activations of the batch; NP-type rules make
        // 1 + resamples passes.
        let passes = match spec.rule.family {
            crate::learn::Family::Bp => 1.0,
            _ => 1.0 + spec.rule.resamples as f64,
        };
        let batch = spec.batch.min(n_train).max(1) as f64 * units * 3.0 * passes * F32;
        let decorrelators = if spec.rule.decorrelated {
            let per_entry = match spec.decor_precision {
                DecorPrecision::Analog { .. } => 4.0,
                _ => 2.0,
            };
            sizes[..sizes.len().saturating_sub(1)]
                .iter()
                .map(|&n| n as f64 * n as f64 * per_entry * F32)
                .sum()
        } else {
            0.0
        };
        Footprint {
            weights,
            learning,
            batch,
            decorrelators,
        }
    }

    /// The lower bound for a network of layer kinds (`--arch`): the weights are each layer's
    /// kernel or weight matrix, and a batch holds per layer the im2col inputs (patch × P per
    /// sample) and the pre- and post-activations of its nodes, per pass.
    pub fn of_network(
        spec: &RunSpec,
        net: &crate::chip::conv::Network,
        n_train: usize,
    ) -> Footprint {
        const F32: f64 = 4.0;
        let layers = net.layers();
        let n_weights: f64 = layers
            .iter()
            .map(|l| {
                let (r, c) = l.weight_shape();
                r as f64 * c as f64 + r as f64
            })
            .sum();
        let per_weight = if spec.chip.is_ideal() { 1.0 } else { 3.0 };
        let moments = match spec.optimizer {
            OptimizerKind::Adam => 2.0,
            OptimizerKind::Sgd => 0.0,
        };
        let per_sample: f64 = layers
            .iter()
            .map(|l| {
                let inputs = l.weight_shape().1 as f64 * l.positions() as f64;
                inputs + 2.0 * l.nodes() as f64
            })
            .sum();
        let passes = match spec.rule.family {
            crate::learn::Family::Bp => 1.0,
            _ => 1.0 + spec.rule.resamples as f64,
        };
        let per_entry = match spec.decor_precision {
            DecorPrecision::Analog { .. } => 4.0,
            _ => 2.0,
        };
        let decorrelators = if spec.rule.decorrelated {
            layers
                .iter()
                .map(|l| (l.weight_shape().1 as f64).powi(2) * per_entry * F32)
                .sum()
        } else {
            0.0
        };
        Footprint {
            weights: n_weights * per_weight * F32,
            learning: n_weights * (1.0 + moments) * F32,
            batch: spec.batch.min(n_train).max(1) as f64 * per_sample * passes * F32,
            decorrelators,
        }
    }

    /// Refuses a run whose lower bound exceeds the memory available now (when the kernel says).
    pub fn check(&self, mem: Option<Memory>) -> Result<(), String> {
        let Some(mem) = mem else { return Ok(()) };
        if self.total() <= mem.available as f64 {
            return Ok(());
        }
        Err(format!(
            "needs at least {} of memory ({} weights and devices, {} gradients and optimiser moments, {} batch buffers, {} decorrelators) but this machine has {} available of {} (/proc/meminfo); reduce --hidden, --batch or --resamples",
            human(self.total()),
            human(self.weights),
            human(self.learning),
            human(self.batch),
            human(self.decorrelators),
            human(mem.available as f64),
            human(mem.total as f64),
        ))
    }
}

/// The machine's memory, bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Memory {
    /// `MemAvailable`: what can be allocated without swapping.
    pub available: u64,
    /// `MemTotal`.
    pub total: u64,
}

impl Memory {
    /// Reads /proc/meminfo; `None` where it does not exist or does not parse (no check then).
    pub fn of_machine() -> Option<Memory> {
        Memory::parse(&std::fs::read_to_string("/proc/meminfo").ok()?)
    }

    /// Parses the text of /proc/meminfo (`MemTotal:  16318712 kB` lines).
    pub fn parse(text: &str) -> Option<Memory> {
        let field = |name: &str| -> Option<u64> {
            let line = text.lines().find(|l| l.starts_with(name))?;
            let kb: u64 = line[name.len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            kb.checked_mul(1024)
        };
        Some(Memory {
            available: field("MemAvailable:")?,
            total: field("MemTotal:")?,
        })
    }
}

/// Bytes as `12.3 GB` (decimal units, as `free -h --si` and the allocator's message use bytes).
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if v >= 1000.0 {
        format!("{bytes:.1e} B")
    } else if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec from `--flag value` pairs, through the one check.
    fn spec(extra: &[&str]) -> RunSpec {
        let mut s = crate::run::Settings::default();
        s.set("hidden", "10");
        s.set("batch", "4");
        for kv in extra.chunks(2) {
            s.set(kv[0].trim_start_matches('-'), kv[1]);
        }
        s.check().unwrap().spec
    }

    #[test]
    fn the_estimate_counts_each_buffer() {
        let sizes = [64, 10, 10];
        // 64·10 + 10 + 10·10 + 10 = 760 parameters.
        let f = Footprint::of(
            &spec(&["--chip", "ideal", "--rule", "bp", "--optimizer", "sgd"]),
            &sizes,
            1000,
        );
        assert_eq!(f.weights, 760.0 * 4.0);
        assert_eq!(f.learning, 760.0 * 4.0);
        // 4 samples × 84 units × (inputs, pre, post) × 1 pass (BP) × 4 bytes.
        assert_eq!(f.batch, 4.0 * 84.0 * 3.0 * 4.0);
        assert_eq!(f.decorrelators, 0.0);
        // Analog weights hold g⁺, g⁻ and the effective weight; Adam two moments; DANP makes
        // 1 + 1 passes and keeps one R per layer input (64² + 10²) with a work copy; a batch is at
        // most the training split.
        let g = Footprint::of(&spec(&["--rule", "danp", "--optimizer", "adam"]), &sizes, 3);
        assert_eq!(g.weights, 760.0 * 3.0 * 4.0);
        assert_eq!(g.learning, 760.0 * 3.0 * 4.0);
        assert_eq!(g.batch, 3.0 * 84.0 * 3.0 * 2.0 * 4.0);
        assert_eq!(g.decorrelators, (64.0 * 64.0 + 100.0) * 2.0 * 4.0);
        let mem = Memory {
            available: g.total() as u64,
            total: 1 << 40,
        };
        assert!(g.check(Some(mem)).is_ok());
        let e = g
            .check(Some(Memory {
                available: g.total() as u64 - 1,
                ..mem
            }))
            .unwrap_err();
        assert!(
            e.contains("needs at least") && e.contains("available"),
            "{e}"
        );
        assert!(g.check(None).is_ok(), "no /proc/meminfo: no check");
    }

    #[test]
    fn meminfo_parses_and_human_units_scale() {
        let m = Memory::parse(
            "MemTotal:       16318712 kB\nMemFree: 1 kB\nMemAvailable:    8000000 kB\n",
        )
        .unwrap();
        assert_eq!(m.total, 16318712 * 1024);
        assert_eq!(m.available, 8_000_000 * 1024);
        assert_eq!(human(25_600_000_000.0), "25.6 GB");
        assert_eq!(human(999.0), "999 B");
        assert!(Memory::parse("MemTotal: x kB").is_none());
    }
}
