//! [`RunDef`]: a run's checked definition, and its text form.

use super::{RunSpec, TraceLevel};
use crate::data::DataSpec;
use std::fmt;
use std::path::PathBuf;

/// A checked run: what [`super::Settings::check`] returns, and all the rest of the library
/// takes. The training itself is [`RunSpec`]; the rest says where the data and the results are.
#[derive(Clone, Debug, PartialEq)]
pub struct RunDef {
    /// Chip, network, rule and loop.
    pub spec: RunSpec,
    /// `chip` as given (a preset name or a TOML path).
    pub chip_text: String,
    /// The `set` overrides as given, in order.
    pub set: Vec<String>,
    /// `data` as given (stored in the file, so `--resume` reloads the same data).
    pub data_text: String,
    /// The dataset.
    pub data: DataSpec,
    /// A seeded random subset of this many training samples.
    pub train_samples: Option<usize>,
    /// A seeded random subset of this many test samples.
    pub test_samples: Option<usize>,
    /// The result file (None: `runs/<rule>-<chip>-s<seed>-<time>.h5`).
    pub out: Option<PathBuf>,
    /// Overwrite `out` if it exists.
    pub force: bool,
    /// Continue the run in this file instead of starting one.
    pub resume: Option<PathBuf>,
    /// How much hardware detail goes into the file.
    pub trace: TraceLevel,
    /// Threads for the run's matrix products (0: all cores).
    pub threads: usize,
    /// The keys that were given (the rest are defaults); `--resume` compares these with the file.
    pub given: Vec<&'static str>,
}

fn join<T: ToString>(v: &[T], sep: &str) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(sep)
}

impl RunDef {
    /// Every key with its value as text, in [`super::KEYS`] order; unset optional keys are
    /// left out and `set` is one pair per override. Fed back to
    /// [`super::Settings::set`] they check to this same definition (tested), so the pairs can be
    /// stored (HDF5 attributes) and compared (a resume file against new settings).
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let s = &self.spec;
        let mut p: Vec<(&'static str, String)> = vec![("chip", self.chip_text.clone())];
        p.extend(self.set.iter().map(|o| ("set", o.clone())));
        p.extend([
            ("inject", s.inject.to_string()),
            ("rule", s.rule.to_string()),
            ("resamples", s.rule.resamples.to_string()),
            ("hidden", join(&s.hidden, ",")),
            ("leaky_slope", s.leaky_slope.to_string()),
            ("loss", s.loss.to_string()),
            ("optimizer", s.optimizer.to_string()),
            ("lr", s.lr.to_string()),
            ("decor_lr", s.decor_lr.to_string()),
            ("decor_rule", s.decor_rule.to_string()),
            ("decor_precision", s.decor_precision.to_string()),
            ("decor_sample", s.decor_sample.to_string()),
            ("decor_every", s.decor_every.to_string()),
            ("decor_blocks", s.decor_blocks.to_string()),
            ("decor_layers", s.decor_layers.to_string()),
            ("epochs", s.epochs.to_string()),
            ("batch", s.batch.to_string()),
            ("seed", s.seed.to_string()),
            ("data", self.data_text.clone()),
        ]);
        let opt = |k: &'static str, v: Option<String>| v.map(|v| (k, v));
        p.extend(opt("arch", s.arch.as_ref().map(|a| a.to_string())));
        p.extend(opt(
            "train_samples",
            self.train_samples.map(|n| n.to_string()),
        ));
        p.extend(opt(
            "test_samples",
            self.test_samples.map(|n| n.to_string()),
        ));
        p.extend(opt(
            "out",
            self.out.as_ref().map(|o| o.display().to_string()),
        ));
        p.push(("force", self.force.to_string()));
        p.extend(opt(
            "resume",
            self.resume.as_ref().map(|o| o.display().to_string()),
        ));
        p.extend([
            ("diagnostics", s.diagnostics.to_string()),
            ("log_every", s.log_every.to_string()),
            ("trace", self.trace.to_string()),
            ("threads", self.threads.to_string()),
        ]);
        p
    }

    /// The `npchip train` command with the given keys that defines this run (the file's
    /// `command_line`: a run started from Python records the command that repeats it).
    pub fn command_line(&self) -> String {
        let mut words = vec!["npchip".to_string(), "train".to_string()];
        for (k, v) in self.to_pairs() {
            if !self.given.contains(&k) {
                continue;
            }
            let flag = format!("--{}", k.replace('_', "-"));
            match super::find_key(k).map(|k| k.shape) {
                Some(super::Shape::Switch) if v == "true" => words.push(flag),
                Some(super::Shape::Switch) => {}
                _ => {
                    words.push(flag);
                    words.push(shell_word(&v));
                }
            }
        }
        words.join(" ")
    }
}

/// `s` quoted for a POSIX shell when it needs to be.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,:/=+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl fmt::Display for RunDef {
    /// `key = value` lines, as [`RunDef::to_pairs`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in self.to_pairs() {
            writeln!(f, "{k} = {v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Settings, KEYS};

    fn check(pairs: &[(&str, &str)]) -> Result<super::RunDef, super::super::Violations> {
        let mut s = Settings::default();
        for (k, v) in pairs {
            s.set(k, v);
        }
        s.check()
    }

    #[test]
    fn the_defaults_check_and_every_key_is_printed_back() {
        let d = Settings::default().check().unwrap();
        assert_eq!(d.spec.epochs, 30);
        assert_eq!(d.spec.rule.to_string(), "danp-nn");
        assert_eq!(d.spec.leaky_slope, 0.2);
        assert!(d.given.is_empty());
        // Every key but the optional paths/subsets appears, so none can be forgotten there.
        let d = check(&[
            ("out", "x.h5"),
            ("resume", "y.h5"),
            ("train_samples", "5"),
            ("test_samples", "6"),
            ("set", "device.levels=16"),
            ("arch", "fc32,fc10"),
        ])
        .unwrap();
        let printed: Vec<&str> = d.to_pairs().iter().map(|(k, _)| *k).collect();
        for k in KEYS {
            assert!(printed.contains(&k.name), "to_pairs misses `{}`", k.name);
        }
    }

    #[test]
    fn printed_pairs_check_back_to_the_same_definition() {
        let d = check(&[
            ("rule", "dnp"),
            ("inject", "readable:1e-3"),
            ("resamples", "4"),
            ("hidden", "32,16"),
            ("lr", "3e-4"),
            ("decor_rule", "kappa:0.01"),
            ("decor_precision", "fixed:8:2"),
            ("set", "device.levels=16"),
            ("set", "read.out_bits=6"),
            ("data", "synthetic:clusters,in=8"),
            ("train_samples", "100"),
            ("trace", "full"),
            ("diagnostics", "true"),
            ("leaky_slope", "0.1"),
        ])
        .unwrap();
        let mut s = Settings::default();
        for (k, v) in d.to_pairs() {
            s.set(k, &v);
        }
        let mut back = s.check().unwrap();
        back.given = d.given.clone();
        assert_eq!(back, d);
    }

    #[test]
    fn every_violation_is_reported_at_once_with_key_value_and_range() {
        let e = check(&[
            ("epochs", "0"),
            ("lr", "-1"),
            ("resamples", "2000"),
            ("decor_precision", "fixed:8:0"),
            ("hidden", "100,-1"),
            ("colour", "blue"),
            ("trace", "loud"),
            ("force", "maybe"),
        ])
        .unwrap_err();
        let mut keys = e.keys();
        keys.sort();
        assert_eq!(
            keys,
            [
                "colour",
                "decor_precision",
                "epochs",
                "force",
                "hidden",
                "lr",
                "resamples",
                "trace"
            ]
        );
        let text = e.to_string();
        for line in [
            "--epochs 0: allowed an integer in 1..=1000000",
            "--lr -1: allowed a finite number > 0",
            "--resamples 2000: allowed an integer in 1..=1024",
            "--decor-precision fixed:8:0: allowed f32, fixed:BITS:BOUND",
            "--hidden 100,-1: allowed comma-separated integers ≥ 1",
            "--colour blue: allowed a key of a run: chip, set,",
            "--trace loud: allowed none, summary or full",
            "--force maybe: allowed true or false",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
        assert_eq!(text.lines().count(), 8, "{text}");
    }

    #[test]
    fn combinations_and_the_chip_are_checked_too() {
        let e = check(&[("rule", "np")]).unwrap_err();
        assert_eq!(e.keys(), ["inject"]);
        assert!(e.to_string().contains("readable:SIGMA"), "{e}");
        let e = check(&[("set", "device.levels=abc"), ("chip", "rram")]).unwrap_err();
        assert_eq!(e.keys(), ["set"]);
        assert!(e.to_string().contains("`device.levels`"), "{e}");
        let e = check(&[("chip", "nope")]).unwrap_err();
        assert_eq!(e.keys(), ["chip"]);
        assert!(e.to_string().contains("presets"), "{e}");
    }
}
