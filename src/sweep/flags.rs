//! The flags of `npchip sweep`, the sweep TOML, and how the two combine.
//!
//! A sweep is `npchip train` run over a grid, so its flags are the train flags
//! ([`TrainArgs`], flattened) plus the grid axes (plural names: `--rules`, `--lrs`, ...) and a few
//! sweep-only flags. A sweep TOML is the same flags written down: `[grid]` holds the axes,
//! `[train]` any train flag (key = the long flag without dashes). Precedence: a flag typed on
//! the command line beats the file, the file beats the default; `set` lists are concatenated
//! (file first, so a typed `--set` wins for the same key).
//!
//! To know which flags were typed, [`SweepArgs`] implements clap's traits by hand around the
//! derived [`SweepFlags`] and keeps the typed arguments' raw values; [`resolve`] turns file +
//! typed values back into one argument list and parses it with clap, so a value in the file is
//! checked by exactly the parser that checks the flag.

use crate::cli::TrainArgs;
use crate::learn::RuleSpec;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command, FromArgMatches};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The derived flags of `npchip sweep`.
#[derive(Debug, Clone, Args)]
pub struct SweepFlags {
    /// Sweep TOML with `[grid]` axes and `[train]` settings (docs/sweeps.md); typed flags win.
    #[arg(long, value_name = "FILE", help_heading = "Sweep")]
    pub config: Option<PathBuf>,
    /// Chip axis: presets or TOML files (default: --chip).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "CHIP,...",
        conflicts_with = "chip",
        help_heading = "Grid"
    )]
    pub chips: Vec<String>,
    /// Weight-precision axis: device levels per device (`device.levels=N`).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "N,...",
        allow_negative_numbers = true,
        help_heading = "Grid"
    )]
    pub levels: Vec<u32>,
    /// Weight-precision axis in bits: levels = 2^B (1..=19).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "B,...",
        conflicts_with = "levels",
        allow_negative_numbers = true,
        help_heading = "Grid"
    )]
    pub bits: Vec<u32>,
    /// Read-noise axis: output-referred read noise std (`read.out_noise=σ`).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "σ,...",
        allow_hyphen_values = true,
        help_heading = "Grid"
    )]
    pub read_noise: Vec<f64>,
    /// Programming-noise axis: std relative to g_max (`device.prog_noise_std=σ`).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "σ,...",
        allow_hyphen_values = true,
        help_heading = "Grid"
    )]
    pub prog_noise: Vec<f64>,
    /// Rule axis (default: --rule).
    #[arg(long, value_delimiter = ',', value_name = "RULE,...", value_parser = parse_rule, conflicts_with = "rule", help_heading = "Grid")]
    pub rules: Vec<RuleSpec>,
    /// Learning-rate axis (default: --lr).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LR,...",
        conflicts_with = "lr",
        allow_hyphen_values = true,
        help_heading = "Grid"
    )]
    pub lrs: Vec<f32>,
    /// Seed axis (default: --seed). The data (subsets, synthetic tasks) always use --seed.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "SEED,...",
        allow_negative_numbers = true,
        help_heading = "Grid"
    )]
    pub seeds: Vec<u64>,
    /// Parallel runs (default: the number of cores); each run's products are single-threaded
    /// unless --threads says otherwise.
    #[arg(long, value_name = "N", help_heading = "Sweep")]
    pub jobs: Option<usize>,
    /// Run only slice K of N (0-based; points with index mod N = K), for cluster job arrays.
    #[arg(long, value_name = "K/N", help_heading = "Sweep")]
    pub shard: Option<Shard>,
    /// Write a Slurm job array instead of running (`--slurm N` and its options).
    #[command(flatten)]
    pub slurm: super::slurm::SlurmFlags,
    /// Everything a single run takes (`npchip train --help`).
    #[command(flatten)]
    pub train: TrainArgs,
}

fn parse_rule(s: &str) -> Result<RuleSpec, String> {
    s.parse()
}

/// `--shard K/N`: this invocation runs the grid points whose index mod N is K.
///
/// Round-robin rather than contiguous slices: the axes vary cost (a bp run is cheaper than a
/// danp run, a finer chip is not), and round-robin spreads every axis over all shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This slice, 0-based.
    pub k: usize,
    /// Number of slices.
    pub n: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("expected K/N with 0 ≤ K < N (e.g. 3/8, as in --shard $SLURM_ARRAY_TASK_ID/8), got `{s}`")
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || k >= n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// Raw values of each occurrence of one argument (`--set a --set b` → `[[a], [b]]`).
type Occurrences = Vec<Vec<OsString>>;
/// Arguments by clap id, with their occurrences.
type ArgValues = Vec<(String, Occurrences)>;

/// Flags of `npchip sweep`, as typed: the parsed [`SweepFlags`] plus which of them were typed
/// (so a sweep TOML can fill in the rest).
#[derive(Debug, Clone)]
pub struct SweepArgs {
    /// The flags with clap's defaults for everything not typed.
    pub flags: SweepFlags,
    /// Typed arguments: (clap id, raw values of each occurrence).
    typed: ArgValues,
}

/// The command [`SweepFlags`] defines (used to look arguments up by id).
pub(crate) fn command() -> Command {
    SweepFlags::augment_args(Command::new("npchip sweep").no_binary_name(true))
}

fn typed_arguments(m: &ArgMatches) -> ArgValues {
    let cmd = command();
    cmd.get_arguments()
        .filter(|a| m.try_contains_id(a.get_id().as_str()).unwrap_or(false))
        .filter(|a| m.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
        .map(|a| {
            let id = a.get_id().as_str();
            let occ = if a.get_action().takes_values() {
                m.get_raw_occurrences(id)
                    .map(|o| o.map(|v| v.map(|s| s.to_os_string()).collect()).collect())
                    .unwrap_or_default()
            } else {
                // A switch: one empty occurrence per time it was given.
                vec![Vec::new(); m.get_count_or_flag(id)]
            };
            (id.to_string(), occ)
        })
        .collect()
}

trait CountOrFlag {
    fn get_count_or_flag(&self, id: &str) -> usize;
}

impl CountOrFlag for ArgMatches {
    fn get_count_or_flag(&self, id: &str) -> usize {
        if let Ok(Some(&b)) = self.try_get_one::<bool>(id) {
            return b as usize;
        }
        if let Ok(Some(&c)) = self.try_get_one::<u8>(id) {
            return c as usize;
        }
        1
    }
}

impl FromArgMatches for SweepArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(SweepArgs {
            flags: SweepFlags::from_arg_matches(m)?,
            typed: typed_arguments(m),
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.flags.update_from_arg_matches(m)?;
        self.typed = typed_arguments(m);
        Ok(())
    }
}

impl Args for SweepArgs {
    fn augment_args(cmd: Command) -> Command {
        SweepFlags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        SweepFlags::augment_args_for_update(cmd)
    }
}

impl SweepArgs {
    /// Parses `npchip sweep` arguments (without the program and subcommand names); for tests
    /// and scripts.
    pub fn parse_from<I, T>(args: I) -> Result<SweepArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let m = command().try_get_matches_from(args)?;
        SweepArgs::from_arg_matches(&m)
    }
}

/// Sweep-only flags that are per invocation: not part of the grid's identity and not allowed in
/// a sweep TOML (the `--slurm*` flags of [`super::slurm::FLAG_IDS`] too).
const PER_INVOCATION: [&str; 5] = ["config", "shard", "jobs", "out", "force"];

fn per_invocation(id: &str) -> bool {
    PER_INVOCATION.contains(&id) || super::slurm::FLAG_IDS.contains(&id)
}
/// Train flags a sweep cannot take.
const NOT_IN_SWEEP: [&str; 1] = ["resume"];

/// `[grid]` keys of a sweep TOML and the flag each one stands for.
pub const GRID_KEYS: [(&str, &str); 8] = [
    ("chip", "chips"),
    ("levels", "levels"),
    ("bits", "bits"),
    ("read_noise", "read_noise"),
    ("prog_noise", "prog_noise"),
    ("rule", "rules"),
    ("lr", "lrs"),
    ("seed", "seeds"),
];

/// Flags after merging a sweep TOML, with the resolved settings' canonical text.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The flags.
    pub flags: SweepFlags,
    /// Every grid-relevant setting (defaults included) as `id = value` lines, sorted: equal for
    /// two invocations exactly when they define the same runs.
    pub settings: String,
    /// The flags that define the runs as one argument list (the sweep TOML's entries expanded,
    /// per-invocation flags left out): `npchip sweep` with these defines the same grid, which
    /// is how a generated Slurm script carries it.
    pub grid_args: Vec<OsString>,
}

/// Why the sweep flags or file are unusable.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    /// The TOML file cannot be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A key the sweep TOML does not know.
    #[error("{path}: unknown key `{key}` in [{table}]; allowed: {allowed}")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// `grid` or `train`.
        table: String,
        /// The key.
        key: String,
        /// The keys allowed there.
        allowed: String,
    },
    /// The combined flags do not parse, or their values do not check.
    #[error("{origin}: {message}")]
    Parse {
        /// `command line` or `command line + FILE`.
        origin: String,
        /// clap's message, or the violations, one per line.
        message: String,
    },
    /// A flag `npchip sweep` does not take.
    #[error("--{flag} does not apply to a sweep: {why}")]
    NotInSweep {
        /// The flag.
        flag: String,
        /// Why.
        why: &'static str,
    },
}

fn long_of(cmd: &Command, id: &str) -> String {
    cmd.get_arguments()
        .find(|a| a.get_id() == id)
        .and_then(|a| a.get_long())
        .unwrap_or(id)
        .to_string()
}

/// Appends `--long v...` tokens for one argument's occurrences.
fn push_tokens(cmd: &Command, id: &str, occurrences: &[Vec<OsString>], out: &mut Vec<OsString>) {
    let arg = cmd
        .get_arguments()
        .find(|a| a.get_id() == id)
        .expect("ids come from this command");
    let long = format!("--{}", long_of(cmd, id));
    for occ in occurrences {
        out.push(long.clone().into());
        if occ.is_empty() {
            continue;
        }
        match arg.get_value_delimiter() {
            Some(d) => out.push(
                occ.iter()
                    .map(|s| s.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(&d.to_string())
                    .into(),
            ),
            None => out.extend(occ.iter().cloned()),
        }
    }
}

/// One TOML value as an occurrence of raw values (arrays: one value per element).
fn toml_values(v: &toml::Value) -> Result<Vec<OsString>, String> {
    let one = |v: &toml::Value| -> Result<OsString, String> {
        Ok(match v {
            toml::Value::String(s) => s.into(),
            toml::Value::Integer(i) => i.to_string().into(),
            toml::Value::Float(x) => x.to_string().into(),
            toml::Value::Boolean(b) => b.to_string().into(),
            other => {
                return Err(format!(
                    "expected a string, number, boolean or an array of them, got {}",
                    other.type_str()
                ))
            }
        })
    };
    match v {
        toml::Value::Array(a) => a.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

/// Reads a sweep TOML into (clap id, occurrences) pairs.
fn file_arguments(path: &Path, cmd: &Command) -> Result<ArgValues, FlagError> {
    let ferr = |message: String| FlagError::File {
        path: path.to_path_buf(),
        message,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| ferr(format!("cannot read sweep file: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ferr(e.to_string()))?;
    let mut out = Vec::new();
    for (section, value) in &table {
        let entries = value
            .as_table()
            .ok_or_else(|| ferr(format!("`{section}` must be a table: [grid] or [train]")))?;
        for (key, v) in entries {
            let id = key.replace('-', "_");
            let unknown = |allowed: String| FlagError::UnknownKey {
                path: path.to_path_buf(),
                table: section.clone(),
                key: key.clone(),
                allowed,
            };
            let flag_id = match section.as_str() {
                "grid" => match GRID_KEYS.iter().find(|(k, _)| *k == id) {
                    Some((_, flag)) => flag.to_string(),
                    None => return Err(unknown(GRID_KEYS.map(|(k, _)| k).join(", "))),
                },
                "train" => {
                    let train_ids = train_ids(cmd);
                    if !train_ids.contains(&id) {
                        return Err(unknown(train_ids.join(", ")));
                    }
                    id
                }
                other => {
                    return Err(ferr(format!(
                        "unknown table [{other}]; a sweep file has [grid] and [train]"
                    )))
                }
            };
            let vals = toml_values(v).map_err(|m| ferr(format!("[{section}] {key}: {m}")))?;
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id() == flag_id.as_str())
                .expect("known id");
            let occurrences = if !arg.get_action().takes_values() {
                match v.as_bool() {
                    Some(true) => vec![Vec::new()],
                    Some(false) => Vec::new(),
                    None => return Err(ferr(format!("[{section}] {key}: expected true or false"))),
                }
            } else if arg.get_value_delimiter().is_some() {
                vec![vals]
            } else if matches!(arg.get_action(), clap::ArgAction::Append) {
                vals.into_iter().map(|v| vec![v]).collect()
            } else if vals.len() == 1 {
                vec![vals]
            } else {
                return Err(ferr(format!(
                    "[{section}] {key}: takes one value, not a list"
                )));
            };
            out.push((flag_id, occurrences));
        }
    }
    Ok(out)
}

/// Ids of the train flags a sweep TOML's `[train]` accepts.
fn train_ids(cmd: &Command) -> Vec<String> {
    let sweep_only: Vec<&str> = GRID_KEYS
        .iter()
        .map(|(_, f)| *f)
        .chain(PER_INVOCATION)
        .chain(super::slurm::FLAG_IDS)
        .chain(NOT_IN_SWEEP)
        .collect();
    cmd.get_arguments()
        .map(|a| a.get_id().as_str())
        .filter(|id| !sweep_only.contains(id))
        .map(str::to_string)
        .collect()
}

/// Merges the sweep TOML (if `--config`) under the typed flags and parses the result.
pub fn resolve(args: &SweepArgs) -> Result<Resolved, FlagError> {
    let cmd = command();
    let typed = &args.typed;
    let is_typed = |id: &str| typed.iter().any(|(t, _)| t == id);
    let mut tokens: Vec<OsString> = Vec::new();
    let mut grid_args: Vec<OsString> = Vec::new();
    let mut origin = "command line".to_string();
    if let Some(path) = &args.flags.config {
        origin = format!("command line + {}", path.display());
        for (id, occ) in file_arguments(path, &cmd)? {
            // A typed flag replaces the file's value; `set` lists add up (file first).
            // An axis typed in either spelling (`--levels`/`--bits`, `--rules`/`--rule`) replaces both.
            let twins: Vec<&str> = match id.as_str() {
                "levels" | "bits" => vec!["levels", "bits"],
                "chips" | "chip" => vec!["chips", "chip"],
                "rules" | "rule" => vec!["rules", "rule"],
                "lrs" | "lr" => vec!["lrs", "lr"],
                other => vec![other],
            };
            if id != "set" && twins.iter().any(|t| is_typed(t)) {
                continue;
            }
            push_tokens(&cmd, &id, &occ, &mut tokens);
            push_tokens(&cmd, &id, &occ, &mut grid_args);
        }
    }
    for (id, occ) in typed {
        push_tokens(&cmd, id, occ, &mut tokens);
        if !per_invocation(id) {
            push_tokens(&cmd, id, occ, &mut grid_args);
        }
    }
    let m = cmd
        .clone()
        .try_get_matches_from(&tokens)
        .map_err(|e| FlagError::Parse {
            origin: origin.clone(),
            message: e
                .to_string()
                .trim()
                .trim_start_matches("error: ")
                .to_string(),
        })?;
    let flags = SweepFlags::from_arg_matches(&m).map_err(|e| FlagError::Parse {
        origin: origin.clone(),
        message: e.to_string(),
    })?;
    // The run settings, file and typed alike, through the one check (the grid checks each
    // point again with its axes' values).
    if let Err(v) = flags.train.def() {
        return Err(FlagError::Parse {
            origin,
            message: v.to_string(),
        });
    }
    if flags.train.settings.given("resume").is_some() {
        return Err(FlagError::NotInSweep {
            flag: "resume".into(),
            why: "a sweep starts its runs afresh; resume a single run with `npchip train --resume`",
        });
    }
    let settings = canonical_settings(&cmd, &m);
    Ok(Resolved {
        flags,
        settings,
        grid_args,
    })
}

/// Every argument that defines the runs, with its value (defaults included), one per line.
fn canonical_settings(cmd: &Command, m: &ArgMatches) -> String {
    let mut lines: Vec<String> = Vec::new();
    for a in cmd.get_arguments() {
        let id = a.get_id().as_str();
        if per_invocation(id)
            || NOT_IN_SWEEP.contains(&id)
            || !m.try_contains_id(id).unwrap_or(false)
        {
            continue;
        }
        let value = if a.get_action().takes_values() {
            match m.get_raw(id) {
                Some(v) => v
                    .map(|s| s.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(","),
                None => continue,
            }
        } else {
            (m.get_count_or_flag(id) > 0).to_string()
        };
        lines.push(format!("{id} = {value}"));
    }
    lines.sort();
    let mut s = String::new();
    for l in lines {
        let _ = writeln!(s, "{l}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parses_and_rejects_out_of_range() {
        assert_eq!("3/8".parse::<Shard>().unwrap(), Shard { k: 3, n: 8 });
        assert!("8/8".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }

    #[test]
    fn typed_flags_are_remembered_and_axes_parse() {
        let a = SweepArgs::parse_from([
            "--bits",
            "2,4",
            "--rules",
            "danp,bp",
            "--epochs",
            "2",
            "--diagnostics",
        ])
        .unwrap();
        assert_eq!(a.flags.bits, vec![2, 4]);
        assert_eq!(a.flags.rules.len(), 2);
        let r = resolve(&a).unwrap();
        assert_eq!(r.flags.train.settings.given("epochs"), Some("2"));
        assert_eq!(r.flags.train.settings.given("diagnostics"), Some("true"));
        assert!(r.settings.contains("epochs = 2"), "{}", r.settings);
        assert!(
            SweepArgs::parse_from(["--levels", "4", "--bits", "2"]).is_err(),
            "levels and bits are one axis"
        );
        assert!(SweepArgs::parse_from(["--rule", "bp", "--rules", "bp"]).is_err());
    }

    #[test]
    fn typed_flags_beat_the_file_and_set_lists_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.toml");
        std::fs::write(
            &path,
            "[grid]\nbits = [2, 3]\nrule = [\"danp\", \"bp\"]\nlr = 1e-2\n\n[train]\nepochs = 7\nhidden = [8, 4]\nset = [\"update.max_pulses=5\"]\ndiagnostics = true\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let r = resolve(
            &SweepArgs::parse_from([
                "--config",
                p,
                "--epochs",
                "1",
                "--levels",
                "9",
                "--set",
                "read.out_bits=6",
            ])
            .unwrap(),
        )
        .unwrap();
        assert_eq!(r.flags.train.settings.given("epochs"), Some("1"));
        assert_eq!(r.flags.train.settings.given("hidden"), Some("8,4"));
        assert_eq!(r.flags.levels, vec![9]);
        assert!(
            r.flags.bits.is_empty(),
            "a typed --levels replaces the file's bits"
        );
        assert_eq!(r.flags.lrs, vec![1e-2]);
        assert_eq!(
            r.flags.train.settings.given_all("set"),
            vec!["update.max_pulses=5", "read.out_bits=6"]
        );
        assert_eq!(r.flags.train.settings.given("diagnostics"), Some("true"));
        // The same runs, defined in two spellings, give the same settings text.
        let a = resolve(
            &SweepArgs::parse_from([
                "--config", p, "--epochs", "1", "--shard", "1/2", "--out", "x.h5",
            ])
            .unwrap(),
        )
        .unwrap();
        let b = resolve(
            &SweepArgs::parse_from(["--config", p, "--epochs", "1", "--shard", "0/2"]).unwrap(),
        )
        .unwrap();
        assert_eq!(a.settings, b.settings);
    }

    #[test]
    fn unknown_file_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.toml");
        std::fs::write(&path, "[grid]\nlevel = [2]\n").unwrap();
        let e = resolve(&SweepArgs::parse_from(["--config", path.to_str().unwrap()]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`level`") && e.contains("levels"), "{e}");
        std::fs::write(&path, "[train]\nout = \"x.h5\"\n").unwrap();
        let e = resolve(&SweepArgs::parse_from(["--config", path.to_str().unwrap()]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`out`"), "{e}");
        std::fs::write(&path, "[train]\nepochs = \"many\"\n").unwrap();
        let e = resolve(&SweepArgs::parse_from(["--config", path.to_str().unwrap()]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("many"), "{e}");
    }
}
