//! The `--data` syntax: which dataset to load, and from where.
//!
//! One string says it all, so a run's config and its output files can record the data source
//! verbatim and a later run can reproduce it: `NAME` or `NAME:ARG`.
//!
//! | spec | meaning |
//! |---|---|
//! | `digits` | built-in 8×8 digits (the default) |
//! | `mnist:DIR`, `fashion:DIR` | IDX files in DIR |
//! | `cifar10:DIR` | CIFAR-10 binary batches in DIR |
//! | `cifar100:DIR`, `cifar100-coarse:DIR` | CIFAR-100 binary, 100 fine or 20 coarse classes |
//! | `synthetic:clusters[,in=64][,classes=10][,n=2000][,noise=1]` | Gaussian clusters |
//! | `synthetic:teacher[,in=64][,classes=10][,n=2000][,hidden=32]` | random-teacher labels |
//!
//! `Display` prints the canonical form (synthetic with every key), which parses back to the
//! same spec.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::DataError;

/// Which dataset to load; parse one from the CLI with `"mnist:/data/mnist".parse()`.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSpec {
    /// The built-in digits (1,437 train / 360 test, 8×8).
    Digits,
    /// MNIST IDX files in a directory.
    Mnist(PathBuf),
    /// Fashion-MNIST IDX files in a directory (same format and file names as MNIST).
    Fashion(PathBuf),
    /// CIFAR-10 binary batches in a directory.
    Cifar10(PathBuf),
    /// CIFAR-100 binary files in `dir`; `fine` selects the 100 fine labels, else 20 coarse ones.
    Cifar100 {
        /// The directory holding `train.bin` and `test.bin`.
        dir: PathBuf,
        /// 100 fine classes (true) or 20 coarse superclasses (false).
        fine: bool,
    },
    /// A generated task.
    Synthetic(SyntheticSpec),
}

/// A synthetic task: its kind plus the sizes common to both kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// Which generator, with its own parameter.
    pub task: SyntheticTask,
    /// Input features (`in=`), default 64.
    pub inputs: usize,
    /// Classes (`classes=`), 2..=256, default 10.
    pub classes: usize,
    /// Samples before the 80/20 split (`n=`), default 2000.
    pub samples: usize,
}

/// The two generators. Both give inputs in [0, 1] and an 80/20 stratified train/test split;
/// `docs/data.md` has the exact construction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SyntheticTask {
    /// Gaussian clusters: centres ~ N(0, 1) per dimension, sample = centre + `noise`·N(0, 1),
    /// then the logistic sigmoid maps it into (0, 1). `noise=`, default 1.
    Clusters {
        /// Noise standard deviation.
        noise: f32,
    },
    /// Uniform [0, 1] inputs labelled by argmax of a random 1-hidden-layer tanh network with
    /// `hidden` units (`hidden=`, default 32), whose mean logit per class is subtracted first.
    Teacher {
        /// Teacher hidden units.
        hidden: usize,
    },
}

/// The accepted forms, quoted by the unknown-name error.
pub const VALID_SPECS: &str =
    "digits, mnist:DIR, fashion:DIR, cifar10:DIR, cifar100:DIR, cifar100-coarse:DIR, \
synthetic:clusters[,in=N,classes=N,n=N,noise=F], synthetic:teacher[,in=N,classes=N,n=N,hidden=N]";

/// Largest `in * n` accepted (4 GB of f32), so a typo cannot exhaust memory.
const MAX_VALUES: usize = 1 << 30;

impl FromStr for DataSpec {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, DataError> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a)),
            None => (s.trim(), None),
        };
        let bad = |reason: String| DataError::BadSpec {
            spec: s.to_string(),
            reason,
        };
        let dir = || match arg {
            Some(a) if !a.trim().is_empty() => Ok(PathBuf::from(a)),
            _ => Err(bad(format!("{name} needs a directory: {name}:DIR"))),
        };
        match name.to_ascii_lowercase().as_str() {
            "digits" => match arg {
                None => Ok(DataSpec::Digits),
                Some(_) => Err(bad(
                    "digits is built in and takes no argument; write just `digits`".into(),
                )),
            },
            "mnist" => Ok(DataSpec::Mnist(dir()?)),
            "fashion" | "fashion-mnist" => Ok(DataSpec::Fashion(dir()?)),
            "cifar10" | "cifar-10" => Ok(DataSpec::Cifar10(dir()?)),
            "cifar100" | "cifar-100" => Ok(DataSpec::Cifar100 {
                dir: dir()?,
                fine: true,
            }),
            "cifar100-coarse" | "cifar-100-coarse" => Ok(DataSpec::Cifar100 {
                dir: dir()?,
                fine: false,
            }),
            "synthetic" => match arg {
                Some(a) => a.parse().map(DataSpec::Synthetic).map_err(|e| match e {
                    DataError::BadSpec { reason, .. } => bad(reason),
                    other => other,
                }),
                None => Err(bad(
                    "say which task: synthetic:clusters or synthetic:teacher".into(),
                )),
            },
            _ => Err(DataError::UnknownDataset {
                name: name.to_string(),
                valid: VALID_SPECS.to_string(),
            }),
        }
    }
}

impl FromStr for SyntheticSpec {
    type Err = DataError;

    /// Parses the part after `synthetic:`, e.g. `teacher,in=64,classes=10,n=2000,hidden=32`.
    fn from_str(s: &str) -> Result<Self, DataError> {
        let bad = |reason: String| DataError::BadSpec {
            spec: format!("synthetic:{s}"),
            reason,
        };
        let mut parts = s.split(',').map(str::trim);
        let kind = parts.next().unwrap_or("");
        let (mut task, valid_keys) = match kind {
            "clusters" => (
                SyntheticTask::Clusters { noise: 1.0 },
                "in, classes, n, noise",
            ),
            "teacher" => (
                SyntheticTask::Teacher { hidden: 32 },
                "in, classes, n, hidden",
            ),
            _ => {
                return Err(bad(format!(
                    "unknown synthetic task '{kind}'; valid: clusters, teacher"
                )))
            }
        };
        let mut spec = SyntheticSpec {
            task,
            inputs: 64,
            classes: 10,
            samples: 2000,
        };
        let mut seen = Vec::new();
        for part in parts.filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(bad(format!(
                    "'{part}' is not key=value (keys for {kind}: {valid_keys})"
                )));
            };
            let key = key.trim();
            if seen.contains(&key) {
                return Err(bad(format!("key '{key}' given twice")));
            }
            seen.push(key);
            let int = || {
                value
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| bad(format!("{key}={value}: expected a whole number")))
            };
            match (key, &mut task) {
                ("in", _) => spec.inputs = int()?,
                ("classes", _) => spec.classes = int()?,
                ("n", _) => spec.samples = int()?,
                ("noise", SyntheticTask::Clusters { noise }) => {
                    *noise = value
                        .trim()
                        .parse()
                        .map_err(|_| bad(format!("noise={value}: expected a number")))?;
                }
                ("hidden", SyntheticTask::Teacher { hidden }) => *hidden = int()?,
                _ => {
                    return Err(bad(format!(
                        "unknown key '{key}' for {kind}; valid: {valid_keys}"
                    )))
                }
            }
        }
        spec.task = task;
        spec.validate().map_err(bad)?;
        Ok(spec)
    }
}

impl SyntheticSpec {
    /// Checks the sizes: `in >= 1`, `2 <= classes <= 256` (labels are bytes), `n >= 2` (one
    /// train and one test sample at least), `n >= classes` for clusters (every class present),
    /// `hidden >= 1`, finite `noise >= 0`, and `in * n` below 2^30 values.
    pub fn validate(&self) -> Result<(), String> {
        let (d, c, n) = (self.inputs, self.classes, self.samples);
        if d == 0 {
            return Err("in must be at least 1".into());
        }
        if !(2..=256).contains(&c) {
            return Err(format!("classes={c}: must be between 2 and 256"));
        }
        if n < 2 {
            return Err(format!(
                "n={n}: need at least 2 samples (one train, one test)"
            ));
        }
        if d.saturating_mul(n) > MAX_VALUES {
            return Err(format!(
                "in*n = {d}*{n} values is too large (max {MAX_VALUES})"
            ));
        }
        match self.task {
            SyntheticTask::Clusters { noise } if !(noise.is_finite() && noise >= 0.0) => {
                Err(format!("noise={noise}: must be a finite number >= 0"))
            }
            SyntheticTask::Clusters { .. } if n < c => {
                Err(format!("n={n} is less than classes={c}"))
            }
            SyntheticTask::Teacher { hidden: 0 } => Err("hidden must be at least 1".into()),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for SyntheticSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, extra) = match self.task {
            SyntheticTask::Clusters { noise } => ("clusters", format!("noise={noise}")),
            SyntheticTask::Teacher { hidden } => ("teacher", format!("hidden={hidden}")),
        };
        write!(
            f,
            "synthetic:{kind},in={},classes={},n={},{extra}",
            self.inputs, self.classes, self.samples
        )
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::Digits => write!(f, "digits"),
            DataSpec::Mnist(d) => write!(f, "mnist:{}", d.display()),
            DataSpec::Fashion(d) => write!(f, "fashion:{}", d.display()),
            DataSpec::Cifar10(d) => write!(f, "cifar10:{}", d.display()),
            DataSpec::Cifar100 { dir, fine: true } => write!(f, "cifar100:{}", dir.display()),
            DataSpec::Cifar100 { dir, fine: false } => {
                write!(f, "cifar100-coarse:{}", dir.display())
            }
            DataSpec::Synthetic(s) => write!(f, "{s}"),
        }
    }
}

impl Default for DataSpec {
    /// The built-in digits, so a bare `npchip train` works with no files.
    fn default() -> Self {
        DataSpec::Digits
    }
}
