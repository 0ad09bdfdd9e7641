//! Which learning rule, parsed from its short name, and what it needs from the chip.

use std::fmt;
use std::str::FromStr;

/// The estimator family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Backpropagation through the programmed weights (digital reference; oracle).
    Bp,
    /// Classic node perturbation: reads the injected noise ε (oracle).
    Np,
    /// Iterative NP: one noisy pass per layer, reads ε_l (oracle).
    Inp,
    /// Activity-based NP, clean pass then noisy pass: only measured activities.
    Anp,
    /// Activity-based NP from two noisy passes: the chip's own noise is the perturbation.
    AnpNoisyNoisy,
}

/// A learning rule: family, decorrelation on or off, resampling count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    /// The estimator.
    pub family: Family,
    /// Whether the layers' decorrelation circuits learn (the -D variants).
    pub decorrelated: bool,
    /// Noisy passes per sample (K ≥ 1), estimates averaged; NP-type rules only.
    pub resamples: usize,
}

/// All names `--rule` accepts.
pub const RULE_NAMES: [&str; 10] = [
    "bp", "dbp", "np", "dnp", "inp", "dinp", "anp", "danp", "anp-nn", "danp-nn",
];

impl FromStr for RuleSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (base, decorrelated) = match s.strip_prefix('d') {
            Some(rest) if RULE_NAMES.contains(&s) => (rest, true),
            _ => (s, false),
        };
        let family = match base {
            "bp" => Family::Bp,
            "np" => Family::Np,
            "inp" => Family::Inp,
            "anp" => Family::Anp,
            "anp-nn" => Family::AnpNoisyNoisy,
            _ => {
                return Err(format!(
                    "unknown rule `{s}`; expected one of: {}",
                    RULE_NAMES.join(", ")
                ))
            }
        };
        Ok(RuleSpec {
            family,
            decorrelated,
            resamples: 1,
        })
    }
}

impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = match self.family {
            Family::Bp => "bp",
            Family::Np => "np",
            Family::Inp => "inp",
            Family::Anp => "anp",
            Family::AnpNoisyNoisy => "anp-nn",
        };
        write!(f, "{}{}", if self.decorrelated { "d" } else { "" }, base)
    }
}

impl RuleSpec {
    /// Why this rule asks for an oracle view, or None for a physical rule. This is the reason
    /// the rule gives the chip when it asks; whether a run *did* peek is the chip's own record
    /// ([`crate::chip::Chip::oracle_uses`]), which is what every output reports.
    pub fn oracle_need(&self) -> Option<&'static str> {
        match self.family {
            Family::Bp => Some(super::bp::WHY),
            Family::Np => Some("np: reads the injected noise samples"),
            Family::Inp => Some("inp: reads the injected noise samples"),
            Family::Anp | Family::AnpNoisyNoisy => None,
        }
    }

    /// Forward passes per training sample (the clean/first pass included).
    pub fn passes(&self, layers: usize) -> usize {
        match self.family {
            Family::Bp => 1,
            Family::Np | Family::Anp | Family::AnpNoisyNoisy => 1 + self.resamples,
            Family::Inp => 1 + layers * self.resamples,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for n in RULE_NAMES {
            assert_eq!(n.parse::<RuleSpec>().unwrap().to_string(), n);
        }
        assert!("danp".parse::<RuleSpec>().unwrap().decorrelated);
        assert!("dnn".parse::<RuleSpec>().is_err());
        assert!("xyz".parse::<RuleSpec>().unwrap_err().contains("danp-nn"));
    }
}
