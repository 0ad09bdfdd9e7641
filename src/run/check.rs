//! The one check: [`Settings`] → [`RunDef`], or every [`Violation`] at once.
//!
//! Each key's text is parsed by the one parser of its type (`FromStr` of the choice, or the
//! integer and number rules here), then the combinations no single key can judge are checked
//! (NP and INP read the injected noise, so they need a readable source). Nothing is clamped or
//! replaced: a value that cannot be used as typed is a violation naming the key, the value and
//! what is allowed.

use super::settings::{find_key, Settings, KEYS};
use super::{limits, RunDef, RunSpec, TraceLevel};
use crate::chip::{presets, DecorLayers, InjectedNoise};
use crate::data::DataSpec;
use crate::learn::{RuleSpec, RULE_NAMES};
use std::fmt;
use std::path::PathBuf;

/// One setting that cannot be used: the key, the text given, and what is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The key (`decor_lr`; the CLI flag is `--decor-lr`).
    pub key: String,
    /// The text given.
    pub value: String,
    /// What the key allows (or, for a combination, what would fix it).
    pub allowed: String,
}

impl fmt::Display for Violation {
    /// `--epochs 0: allowed an integer in 1..=1000000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--{} {}: allowed {}",
            self.key.replace('_', "-"),
            self.value,
            self.allowed
        )
    }
}

/// Every violation of one set of settings (never empty when returned by `check`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations(pub Vec<Violation>);

impl fmt::Display for Violations {
    /// One violation per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

impl Violations {
    /// The keys named, in order.
    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|v| v.key.as_str()).collect()
    }
}

/// Collects violations while parsing one key after another.
struct Checker<'a> {
    s: &'a Settings,
    found: Vec<Violation>,
}

impl Checker<'_> {
    fn refuse(&mut self, key: &str, value: &str, allowed: impl Into<String>) {
        self.found.push(Violation {
            key: key.to_string(),
            value: value.to_string(),
            allowed: allowed.into(),
        });
    }

    /// Parses `key`'s text (given or default) with `parse`, whose error is the allowed text;
    /// None when the key has neither, or its text is refused (then recorded).
    fn parse<T>(&mut self, key: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let text = self.s.text(key)?;
        match parse(text.trim()) {
            Ok(v) => Some(v),
            Err(allowed) => {
                self.refuse(key, text, allowed);
                None
            }
        }
    }

    /// Like [`Self::parse`] for a key that has a default (a missing value is a bug in KEYS).
    fn required<T: Default>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        debug_assert!(find_key(key).is_some_and(|k| k.default.is_some()), "{key}");
        self.parse(key, parse).unwrap_or_default()
    }

    fn switch(&mut self, key: &str) -> bool {
        self.parse(key, |t| match t {
            "true" | "" => Ok(true),
            "false" => Ok(false),
            _ => Err("true or false".into()),
        })
        .unwrap_or(false)
    }
}

/// An integer in `lo..=hi` (the allowed text says the range, and why when there is a reason).
pub fn int_in(s: &str, lo: u128, hi: u128, why: &str) -> Result<u128, String> {
    let range = if hi >= u128::from(u64::MAX) {
        format!("an integer ≥ {lo}")
    } else {
        format!("an integer in {lo}..={hi}")
    };
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    };
    match s.trim().parse::<i128>() {
        Ok(v) if v >= 0 && (lo..=hi).contains(&(v as u128)) => Ok(v as u128),
        _ => Err(format!("{range}{why}")),
    }
}

fn usize_in(s: &str, lo: usize, hi: usize, why: &str) -> Result<usize, String> {
    let hi = if hi == usize::MAX {
        u128::from(u64::MAX)
    } else {
        hi as u128
    };
    int_in(s, lo as u128, hi, why).map(|v| usize::try_from(v).unwrap_or(usize::MAX))
}

/// A finite number that `ok` accepts; `allowed` says which.
fn number(s: &str, ok: impl Fn(f32) -> bool, allowed: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && ok(v) => Ok(v),
        _ => Err(allowed.to_string()),
    }
}

fn path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        Err("a file path".into())
    } else {
        Ok(PathBuf::from(s))
    }
}

impl Settings {
    /// The one check: every key parsed by its one parser, every combination checked, and every
    /// problem reported together, each naming the key, the value and what is allowed.
    pub fn check(&self) -> Result<RunDef, Violations> {
        let mut c = Checker {
            s: self,
            found: Vec::new(),
        };
        for (k, v) in &self.unknown {
            let names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
            c.refuse(k, v, format!("a key of a run: {}", names.join(", ")));
        }
        let rule_names = format!("one of {}", RULE_NAMES.join(", "));
        let rule: Option<RuleSpec> = c.parse("rule", |t| t.parse().map_err(|_| rule_names));
        let resamples = c.required("resamples", |t| {
            usize_in(
                t,
                1,
                limits::MAX_RESAMPLES,
                "each resample is one more noisy forward pass per sample",
            )
        });
        let hidden = c.required("hidden", |t| {
            t.split(',')
                .map(|w| usize_in(w, 1, usize::MAX, ""))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "comma-separated integers ≥ 1 (one width per hidden layer)".into())
        });
        let arch = c.parse("arch", |t| {
            t.parse::<crate::chip::NetSpec>()
                .map_err(|e| format!("a network spec: {e}"))
        });
        let leaky_slope = c.required("leaky_slope", |t| {
            number(t, |v| (0.0..=1.0).contains(&v), "a number in [0, 1]")
        });
        let loss = c.parse("loss", str::parse);
        let optimizer = c.parse("optimizer", str::parse);
        let lr = c.required("lr", |t| number(t, |v| v > 0.0, "a finite number > 0"));
        let decor_lr = c.required("decor_lr", |t| {
            number(t, |v| v >= 0.0, "a finite number ≥ 0")
        });
        let decor_rule = c.parse("decor_rule", str::parse);
        let decor_precision = c.parse("decor_precision", str::parse);
        let decor_sample = c.required("decor_sample", |t| {
            number(
                t,
                |v| v > 0.0 && v <= 1.0,
                "a number in (0, 1]: the fraction of the batch's samples an R update learns from",
            )
        });
        let decor_every = c.required("decor_every", |t| {
            usize_in(t, 1, u32::MAX as usize, "R is updated at every K-th step").map(|k| k as u32)
        });
        let decor_blocks = c.parse("decor_blocks", str::parse);
        let decor_layers: Option<DecorLayers> = c.parse("decor_layers", str::parse);
        // A listed layer must exist: the dense net has one layer per hidden width plus the
        // output; an --arch net one per conv or fc token (pools belong to their conv layer).
        if let Some(DecorLayers::List(_)) = decor_layers {
            let l = decor_layers.expect("matched");
            let depth = match &arch {
                Some(a) => a
                    .tokens
                    .iter()
                    .filter(|t| !matches!(t, crate::chip::LayerToken::Pool(_)))
                    .count(),
                None => hidden.len() + 1,
            };
            if let Some(&bad) = l.indices().iter().find(|&&i| i >= depth) {
                c.refuse(
                    "decor_layers",
                    &l.to_string(),
                    format!(
                        "layer indices in 0..={} (the network has {depth} layers; index {bad} is beyond it)",
                        depth - 1
                    ),
                );
            }
        }
        let inject: Option<InjectedNoise> = c.parse("inject", str::parse);
        let epochs = c.required("epochs", |t| {
            usize_in(
                t,
                1,
                limits::MAX_EPOCHS,
                "a run of no epochs would be recorded as completed with nothing in it",
            )
        });
        let batch = c.required("batch", |t| usize_in(t, 1, usize::MAX, ""));
        let seed = c.required("seed", |t| {
            int_in(t, 0, u128::from(u64::MAX), "").map(|v| v as u64)
        });
        let data = c.parse("data", |t| {
            t.parse::<DataSpec>().map_err(|e| {
                format!("digits, mnist:DIR, fashion:DIR, cifar10:DIR, cifar100:DIR, cifar100-coarse:DIR or synthetic:... ({e})")
            })
        });
        let train_samples = c.parse("train_samples", |t| usize_in(t, 1, usize::MAX, ""));
        let test_samples = c.parse("test_samples", |t| usize_in(t, 1, usize::MAX, ""));
        let out = c.parse("out", path);
        let force = c.switch("force");
        let resume = c.parse("resume", path);
        let diagnostics = c.switch("diagnostics");
        let log_every = c.required("log_every", |t| usize_in(t, 0, usize::MAX, ""));
        let trace: Option<TraceLevel> = c.parse("trace", str::parse);
        let threads = c.required("threads", |t| usize_in(t, 0, usize::MAX, ""));
        let chip_text = self.text("chip").unwrap_or_default().to_string();
        let set: Vec<String> = self
            .given_all("set")
            .into_iter()
            .map(String::from)
            .collect();
        let chip = match presets::resolve(&chip_text, &set) {
            Ok(m) => Some(m),
            Err(e) => {
                let text = e.to_string();
                if !set.is_empty() && (text.contains("--set") || text.contains("override")) {
                    c.refuse(
                        "set",
                        &set.join(" "),
                        format!("overrides that the chip model takes; {text}"),
                    );
                } else {
                    c.refuse("chip", &chip_text, format!("a preset (`npchip chip list`) or a chip TOML file that validates; {text}"));
                }
                None
            }
        };
        // Combinations: NP and INP read the injected noise.
        if let (Some(r), Some(i)) = (rule, inject) {
            use crate::learn::Family::*;
            let readable = matches!(i, InjectedNoise::Readable { sigma } if sigma > 0.0);
            if matches!(r.family, Np | Inp) && !readable {
                c.refuse("inject", &i.to_string(), format!("readable:SIGMA with SIGMA > 0 (e.g. readable:1e-3) for rule `{r}`, which reads the injected noise"));
            }
        }
        let (
            Some(chip),
            Some(mut rule),
            Some(loss),
            Some(optimizer),
            Some(decor_rule),
            Some(decor_precision),
            Some(decor_blocks),
            Some(decor_layers),
            Some(inject),
            Some(data),
            Some(trace),
        ) = (
            chip,
            rule,
            loss,
            optimizer,
            decor_rule,
            decor_precision,
            decor_blocks,
            decor_layers,
            inject,
            data,
            trace,
        )
        else {
            return Err(Violations(c.found));
        };
        if !c.found.is_empty() {
            return Err(Violations(c.found));
        }
        rule.resamples = resamples;
        Ok(RunDef {
            spec: RunSpec {
                chip,
                rule,
                hidden,
                arch,
                loss,
                optimizer,
                lr,
                decor_rule,
                decor_lr,
                decor_precision,
                decor_sample,
                decor_every,
                decor_blocks,
                decor_layers,
                inject,
                leaky_slope,
                epochs,
                batch,
                seed,
                diagnostics,
                log_every,
            },
            chip_text,
            set,
            data_text: self.text("data").unwrap_or_default().trim().to_string(),
            data,
            train_samples,
            test_samples,
            out,
            force,
            resume,
            trace,
            threads,
            given: self.given_keys(),
        })
    }
}
