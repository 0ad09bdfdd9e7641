//! Every named choice a user types: one parser (`FromStr`) and one printer (`Display`) each.
//!
//! The CLI, a sweep grid, the HDF5 attributes, the report and Python all go through these, so
//! a value prints as the text that parses back to it (`x.to_string().parse() == Ok(x)`, tested
//! below), and no spelling is accepted in one place and refused in another. The error of each
//! parser is the *allowed* text of a [`super::Violation`]: what may be written instead.

use crate::chip::{DecorBlocks, DecorLayers, DecorPrecision, DecorRule, InjectedNoise};
use crate::learn::{Loss, OptimizerKind};
use std::fmt;
use std::str::FromStr;

/// How much hardware detail goes into the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TraceLevel {
    /// Learning curves and counters only.
    None,
    /// Plus per-layer histograms (conductances, pulse counts, ADC inputs) per epoch.
    #[default]
    Summary,
    /// Plus per-device pulse totals and sampled conductance snapshots per epoch.
    Full,
}

impl TraceLevel {
    /// The name on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            TraceLevel::None => "none",
            TraceLevel::Summary => "summary",
            TraceLevel::Full => "full",
        }
    }
}

impl FromStr for TraceLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(TraceLevel::None),
            "summary" => Ok(TraceLevel::Summary),
            "full" => Ok(TraceLevel::Full),
            _ => Err("none, summary or full".into()),
        }
    }
}

impl fmt::Display for TraceLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Loss {
    type Err = String;
    /// By its short name (`ce`, `mse`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ce" => Ok(Loss::CrossEntropy),
            "mse" => Ok(Loss::Mse),
            _ => Err("ce (softmax cross-entropy) or mse".into()),
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
        })
    }
}

impl FromStr for OptimizerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sgd" => Ok(OptimizerKind::Sgd),
            "adam" => Ok(OptimizerKind::Adam),
            _ => Err("sgd or adam".into()),
        }
    }
}

/// A σ or bound: a finite number, `> 0` when `strict`, else `≥ 0`.
fn non_negative(s: &str, strict: bool) -> Option<f32> {
    s.trim()
        .parse::<f32>()
        .ok()
        .filter(|v| v.is_finite() && (*v > 0.0 || (!strict && *v == 0.0)))
}

/// `none`, `hidden:SIGMA`, `readable:SIGMA` (SIGMA a finite number ≥ 0).
impl FromStr for InjectedNoise {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let allowed =
            || "none, hidden:SIGMA or readable:SIGMA with SIGMA a finite number ≥ 0".into();
        match s.split_once(':') {
            None if s == "none" => Ok(InjectedNoise::None),
            Some(("hidden", v)) => Ok(InjectedNoise::Hidden {
                sigma: non_negative(v, false).ok_or_else(allowed)?,
            }),
            Some(("readable", v)) => Ok(InjectedNoise::Readable {
                sigma: non_negative(v, false).ok_or_else(allowed)?,
            }),
            _ => Err(allowed()),
        }
    }
}

impl fmt::Display for InjectedNoise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InjectedNoise::None => f.write_str("none"),
            InjectedNoise::Hidden { sigma } => write!(f, "hidden:{sigma}"),
            InjectedNoise::Readable { sigma } => write!(f, "readable:{sigma}"),
        }
    }
}

/// κ of `kappa` without a value (the reference value of the decorrelation papers).
pub const DEFAULT_KAPPA: f32 = 1e-3;

/// `plain`, `kappa[:K]` (K a finite number ≥ 0) or `whiten`.
impl FromStr for DecorRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let allowed = || "plain, kappa[:K] with K a finite number ≥ 0, or whiten".into();
        match s.split_once(':') {
            None if s == "plain" => Ok(DecorRule::Plain),
            None if s == "whiten" => Ok(DecorRule::Whiten),
            None if s == "kappa" => Ok(DecorRule::Kappa {
                kappa: DEFAULT_KAPPA,
            }),
            Some(("kappa", k)) => Ok(DecorRule::Kappa {
                kappa: non_negative(k, false).ok_or_else(allowed)?,
            }),
            _ => Err(allowed()),
        }
    }
}

impl fmt::Display for DecorRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecorRule::Plain => f.write_str("plain"),
            DecorRule::Kappa { kappa } => write!(f, "kappa:{kappa}"),
            DecorRule::Whiten => f.write_str("whiten"),
        }
    }
}

/// |R_ij| at the full differential swing of an analog decorrelator, unless given: R starts at I,
/// so its diagonal sits at half swing, leaving room for whitening to grow it.
pub const DEFAULT_ANALOG_DECOR_RANGE: f32 = 2.0;

/// Bits a fixed-point decorrelator entry may have.
pub const FIXED_BITS: std::ops::RangeInclusive<u32> = 2..=24;

/// `f32`, `fixed:BITS:BOUND` (BITS in 2..=24, BOUND a finite number > 0: a bound of 0 has no
/// step and rounds every entry to NaN) or `analog[:RANGE]` (RANGE > 1: R starts at I).
impl FromStr for DecorPrecision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let allowed = || {
            format!(
            "f32, fixed:BITS:BOUND (BITS an integer in {}..={}, BOUND a finite number > 0) or analog[:RANGE] (RANGE a finite number > 1, default {DEFAULT_ANALOG_DECOR_RANGE}: R starts at I)",
            FIXED_BITS.start(),
            FIXED_BITS.end()
        )
        };
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["f32"] => Ok(DecorPrecision::F32),
            ["fixed", bits, bound] => {
                let bits = bits
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|b| FIXED_BITS.contains(b))
                    .ok_or_else(allowed)?;
                let bound = non_negative(bound, true).ok_or_else(allowed)?;
                Ok(DecorPrecision::Fixed { bits, bound })
            }
            ["analog"] => Ok(DecorPrecision::Analog {
                range: DEFAULT_ANALOG_DECOR_RANGE,
            }),
            ["analog", range] => match non_negative(range, true) {
                Some(range) if range > 1.0 => Ok(DecorPrecision::Analog { range }),
                _ => Err(allowed()),
            },
            _ => Err(allowed()),
        }
    }
}

impl fmt::Display for DecorPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecorPrecision::F32 => f.write_str("f32"),
            DecorPrecision::Fixed { bits, bound } => write!(f, "fixed:{bits}:{bound}"),
            DecorPrecision::Analog { range } => write!(f, "analog:{range}"),
        }
    }
}

/// `full` or `array`.
impl FromStr for DecorBlocks {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "full" => Ok(DecorBlocks::Full),
            "array" => Ok(DecorBlocks::Array),
            _ => Err(
                "full (one d×d R per layer) or array (one block per physical array's input slice)"
                    .into(),
            ),
        }
    }
}

impl fmt::Display for DecorBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecorBlocks::Full => "full",
            DecorBlocks::Array => "array",
        })
    }
}

/// `all`, `hidden`, or a comma-separated list of distinct layer indices (`1,2`); whether each
/// index exists is checked against the network by [`super::Settings::check`].
impl FromStr for DecorLayers {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let allowed = || {
            format!(
                "all, hidden, or a comma-separated list of distinct layer indices in 0..={} (0 = the input layer)",
                DecorLayers::MAX_INDEX
            )
        };
        match s.trim() {
            "all" => Ok(DecorLayers::All),
            "hidden" => Ok(DecorLayers::Hidden),
            list => {
                let mut mask = 0u64;
                for part in list.split(',') {
                    let l = part
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|&l| l <= DecorLayers::MAX_INDEX)
                        .ok_or_else(allowed)?;
                    if mask >> l & 1 == 1 {
                        return Err(allowed());
                    }
                    mask |= 1 << l;
                }
                Ok(DecorLayers::List(mask))
            }
        }
    }
}

impl fmt::Display for DecorLayers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecorLayers::All => f.write_str("all"),
            DecorLayers::Hidden => f.write_str("hidden"),
            DecorLayers::List(_) => {
                let v: Vec<String> = self.indices().iter().map(|l| l.to_string()).collect();
                f.write_str(&v.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_choice_prints_the_text_that_parses_back_to_it() {
        for s in ["none", "hidden:0.001", "readable:0.5", "hidden:0"] {
            assert_eq!(s.parse::<InjectedNoise>().unwrap().to_string(), s);
        }
        for s in ["plain", "whiten", "kappa:0.001", "kappa:0.25"] {
            assert_eq!(s.parse::<DecorRule>().unwrap().to_string(), s);
        }
        assert_eq!(
            "kappa".parse::<DecorRule>().unwrap().to_string(),
            "kappa:0.001"
        );
        for s in ["f32", "fixed:8:2", "fixed:24:0.5", "analog:2", "analog:3.5"] {
            assert_eq!(s.parse::<DecorPrecision>().unwrap().to_string(), s);
        }
        for t in [TraceLevel::None, TraceLevel::Summary, TraceLevel::Full] {
            assert_eq!(t.to_string().parse::<TraceLevel>(), Ok(t));
        }
        for l in [Loss::CrossEntropy, Loss::Mse] {
            assert_eq!(l.to_string().parse::<Loss>(), Ok(l));
        }
        for o in [OptimizerKind::Sgd, OptimizerKind::Adam] {
            assert_eq!(o.to_string().parse::<OptimizerKind>(), Ok(o));
        }
    }

    #[test]
    fn values_that_would_end_in_nan_or_nonsense_are_refused() {
        // A bound of 0 has no fixed-point step: every entry of R would round to NaN.
        for s in [
            "fixed:8:0",
            "fixed:8:-1",
            "fixed:1:2",
            "fixed:25:2",
            "fixed:8:inf",
            "fixed:8",
        ] {
            let e = s.parse::<DecorPrecision>().unwrap_err();
            assert!(e.contains("BOUND a finite number > 0"), "{s}: {e}");
        }
        assert!("analog:1".parse::<DecorPrecision>().is_err());
        assert!("hidden:-1".parse::<InjectedNoise>().is_err());
        assert!("hidden:nan".parse::<InjectedNoise>().is_err());
        assert!("loud:1".parse::<InjectedNoise>().is_err());
        assert!("kappa:-1".parse::<DecorRule>().is_err());
        assert!("l1".parse::<Loss>().unwrap_err().contains("ce"));
    }
}
