//! `npchip.train(**settings)`: one run of a Rust rule, exactly as `npchip train` runs it, with
//! the GIL released, Ctrl-C turned into `KeyboardInterrupt` after the current batch (the file
//! closed and marked interrupted), and the per-epoch arrays read back from the file written.
//!
//! Keyword names and defaults are the `npchip train` flags' (`_` for `-`): the keywords are
//! turned into that command's arguments and parsed by its own parser (`TrainArgs`), so a value
//! means the same in both and a bad one is refused with the same check, as a `ValueError`
//! naming the keyword.

use crate::convert::bad;
use clap::{Args as _, FromArgMatches as _};
use npchip::chip::{Chip, DecorPrecision, DecorRule, InjectedNoise};
use npchip::cli::TrainArgs;
use npchip::learn::{Learner, OptimizerKind, RuleSpec};
use npchip::output::hdf5::{read_run, EpochSeries, ResultFile, RunOptions, RunStatus};
use npchip::output::Tee;
use npchip::run::RunSpec;
use npchip::train::{EpochRecord, Observer};
use numpy::ndarray::{Array1, Array2, Array3, Array4};
use numpy::ToPyArray;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyTuple};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// `npchip train`'s clap command (its flags are the keyword names).
fn command() -> clap::Command {
    TrainArgs::augment_args(clap::Command::new("train").no_binary_name(true))
}

/// Keyword → flag name, checking it is one of `npchip train`'s flags.
fn flag_of(key: &str, cmd: &clap::Command) -> PyResult<String> {
    let long = key.replace('_', "-");
    let known = cmd
        .get_arguments()
        .any(|a| a.get_long() == Some(long.as_str()));
    if !known || long == "resume" {
        let mut all: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| *l != "resume")
            .map(|l| l.replace('-', "_"))
            .collect();
        all.sort();
        return Err(bad(
            key,
            "(keyword)",
            format!("unknown setting; allowed: {}", all.join(", ")),
        ));
    }
    Ok(long)
}

/// Parses `(key, value)` settings with `npchip train`'s own parser.
pub(crate) fn parse_args(settings: &[(String, Bound<'_, PyAny>)]) -> PyResult<TrainArgs> {
    let cmd = command();
    let mut argv: Vec<String> = Vec::new();
    for (key, value) in settings {
        let long = flag_of(key, &cmd)?;
        let takes_value = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()))
            .is_some_and(|a| a.get_action().takes_values());
        if value.is_none() {
            continue;
        }
        if !takes_value {
            match value.cast::<PyBool>() {
                Ok(b) if b.is_true() => argv.push(format!("--{long}")),
                Ok(_) => {}
                Err(_) => return Err(bad(key, value.str()?, "allowed: True or False")),
            }
            continue;
        }
        let items: Option<Vec<String>> =
            if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
                Some(
                    value
                        .try_iter()?
                        .map(|v| v.and_then(|v| v.str().map(|s| s.to_string())))
                        .collect::<PyResult<_>>()?,
                )
            } else {
                None
            };
        match items {
            // `set` is repeatable; other lists (hidden) are comma-separated.
            Some(items) if long == "set" => {
                for it in items {
                    argv.push(format!("--{long}={it}"));
                }
            }
            Some(items) => argv.push(format!("--{long}={}", items.join(","))),
            None => argv.push(format!("--{long}={}", value.str()?)),
        }
    }
    let matches = cmd.try_get_matches_from(&argv).map_err(clap_error)?;
    TrainArgs::from_arg_matches(&matches).map_err(clap_error)
}

/// A clap error as a `ValueError` that names the keyword.
fn clap_error(e: clap::Error) -> PyErr {
    use clap::error::{ContextKind, ContextValue};
    let key = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s
            .trim_start_matches('-')
            .split([' ', '='])
            .next()
            .unwrap_or("")
            .replace('-', "_"),
        _ => String::new(),
    };
    let text = e.render().to_string();
    let first = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ")
        .to_string();
    PyValueError::new_err(if key.is_empty() {
        first
    } else {
        format!("{key}: {first}")
    })
}

/// The chip-level settings a `npchip.Chip` takes from the `train` flags of the same names.
pub(crate) struct ChipSettings {
    pub(crate) inject: InjectedNoise,
    /// Rule and precision, when the chip has decorrelation circuits.
    pub(crate) decorrelation: Option<(DecorRule, DecorPrecision)>,
    decor_rule: DecorRule,
    decor_precision: DecorPrecision,
    decor_lr: f32,
}

impl ChipSettings {
    /// Parses the values with `npchip train`'s parsers (errors name the keyword).
    pub(crate) fn parse(
        inject: &str,
        decorrelation: Option<&str>,
        decor_lr: f32,
        decor_precision: &str,
    ) -> PyResult<Self> {
        Python::attach(|py| {
            let s = |k: &str, v: String| (k.to_string(), v.into_pyobject(py).unwrap().into_any());
            let mut kv = vec![
                s("inject", inject.to_string()),
                s("decor_lr", decor_lr.to_string()),
                s("decor_precision", decor_precision.to_string()),
            ];
            if let Some(d) = decorrelation {
                kv.push(s("decor_rule", d.to_string()));
            }
            let a = parse_args(&kv)?;
            Ok(ChipSettings {
                inject: a.inject,
                decorrelation: decorrelation.map(|_| (a.decor_rule, a.decor_precision)),
                decor_rule: a.decor_rule,
                decor_precision: a.decor_precision,
                decor_lr: a.decor_lr,
            })
        })
    }

    /// The run definition a saved Python-driven chip is written with. Its `rule` attribute
    /// is replaced by the caller's label (`RunWriter::label_rule`); the family given here
    /// only carries `decorrelated` and the resampling count of 1.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_spec(
        &self,
        chip: &Chip,
        rule: &str,
        loss: &str,
        optimizer: &str,
        lr: f32,
        batch: usize,
        epochs: usize,
    ) -> PyResult<RunSpec> {
        if rule.is_empty() || rule.contains(char::is_whitespace) {
            return Err(bad(
                "rule",
                rule,
                "allowed: a non-empty name without spaces",
            ));
        }
        let optimizer = match optimizer {
            "sgd" => OptimizerKind::Sgd,
            "adam" => OptimizerKind::Adam,
            _ => return Err(bad("optimizer", optimizer, "allowed: sgd, adam")),
        };
        let sizes = chip.sizes();
        let npchip::chip::Activation::LeakyRelu { slope } = chip.config().activation;
        let mut family: RuleSpec = "anp-nn".parse().expect("a rule name");
        family.decorrelated = self.decorrelation.is_some();
        Ok(RunSpec {
            chip: chip.model().clone(),
            rule: family,
            hidden: sizes[1..sizes.len() - 1].to_vec(),
            loss: crate::convert::parse_loss(loss)?,
            optimizer,
            lr,
            decor_rule: self.decor_rule,
            decor_lr: self.decor_lr,
            decor_precision: self.decor_precision,
            inject: self.inject,
            leaky_slope: slope,
            epochs,
            batch,
            seed: chip.config().seed,
            diagnostics: false,
            log_every: 0,
        })
    }
}

/// Checks for Ctrl-C once per batch (taking the GIL for a moment) and sets the stop flag the
/// loop reads after the batch; keeps the `KeyboardInterrupt` to raise once the file is closed.
struct SignalWatch<'a> {
    stop: &'a AtomicBool,
    raised: Option<PyErr>,
}

impl Observer for SignalWatch<'_> {
    fn epoch(&mut self, _: &EpochRecord, _: &Chip, _: &Learner) -> anyhow::Result<()> {
        Ok(())
    }

    fn progress(&mut self, _done: usize, _total: usize, _loss: f64, _acc: f64) {
        if self.raised.is_none() {
            if let Err(e) = Python::attach(|py| py.check_signals()) {
                self.raised = Some(e);
                self.stop.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// `runs/<rule>-<chip>-s<seed>-<unix time>.h5`, as `npchip train` names its default file.
fn default_path(spec: &RunSpec) -> PathBuf {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    PathBuf::from("runs").join(format!(
        "{}-{}-s{}-{t}.h5",
        spec.rule,
        spec.chip.spec().name,
        spec.seed
    ))
}

/// What a finished call hands back to Python (the arrays come from the file).
struct Outcome {
    path: PathBuf,
    status: RunStatus,
    series: EpochSeries,
    spec: RunSpec,
    sizes: Vec<usize>,
    oracle_uses: String,
}

fn run(args: &TrainArgs, cmdline: &str, watch: &mut SignalWatch<'_>) -> anyhow::Result<Outcome> {
    npchip::linalg::set_threads(args.threads);
    let spec = args.to_spec()?;
    let data = args.dataset()?;
    let path = args.out.clone().unwrap_or_else(|| default_path(&spec));
    npchip::cli::preflight_train(&spec, &data, &path)?;
    let file = ResultFile::create(&path, args.force, cmdline)?;
    let opts = RunOptions {
        data_spec: args.data.clone(),
        train_samples: args.train_samples,
        test_samples: args.test_samples,
        trace: args.trace,
        checkpoints: true,
    };
    let mut writer = file.add_run("run0", &spec, &data, &opts)?;
    let (mut chip, mut learner) = spec.build(&data);
    writer.prepare_chip(&mut chip);
    let stop = watch.stop;
    let result = npchip::train::run(
        &spec.loop_config(),
        &mut chip,
        &mut learner,
        &data,
        1,
        &mut Tee(&mut writer, watch),
        stop,
    );
    let status = RunStatus::of(&result);
    writer.finish(status.clone())?;
    file.close()?;
    if let Err(e) = result {
        anyhow::bail!("run run0 in {}: {e:#}", path.display());
    }
    let rec = read_run(&path, "run0")?;
    let oracle_uses = rec
        .attrs
        .get("oracle_uses")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    Ok(Outcome {
        path,
        status,
        series: rec.epochs,
        sizes: spec.sizes(&data),
        spec,
        oracle_uses,
    })
}

/// Per-epoch arrays of `s` into `out` (names as the HDF5 datasets).
fn put_series(
    py: Python<'_>,
    out: &Bound<'_, PyDict>,
    s: &EpochSeries,
    spec: &RunSpec,
    sizes: &[usize],
) -> PyResult<()> {
    let e = s.len();
    let layers = sizes.len() - 1;
    out.set_item("epoch", Array1::from(s.epoch.clone()).to_pyarray(py))?;
    for (k, v) in [
        ("train_loss", &s.train_loss),
        ("train_acc", &s.train_acc),
        ("test_loss", &s.test_loss),
        ("test_acc", &s.test_acc),
        ("train_seconds", &s.train_seconds),
        ("epoch_seconds", &s.epoch_seconds),
        ("samples_per_second", &s.samples_per_second),
    ] {
        out.set_item(k, Array1::from(v.clone()).to_pyarray(py))?;
    }
    out.set_item("samples", Array1::from(s.samples.clone()).to_pyarray(py))?;
    out.set_item("skipped", Array1::from(s.skipped.clone()).to_pyarray(py))?;
    let n = npchip::chip::Counters::N;
    for (k, c) in [
        ("counters", &s.counters),
        ("eval_counters", &s.eval_counters),
    ] {
        let a = Array4::from_shape_fn((e, layers, 4, n), |(i, l, p, j)| c[i][l].0[p].to_array()[j]);
        out.set_item(k, a.to_pyarray(py))?;
    }
    for (k, en) in [("energy_pj", &s.energy), ("eval_energy_pj", &s.eval_energy)] {
        let a = Array4::from_shape_fn((e, layers, 4, 5), |(i, l, p, j)| {
            let x = &en[i][l][p];
            [x.mac_pj, x.dac_pj, x.adc_pj, x.write_pj, x.digital_pj][j]
        });
        out.set_item(k, a.to_pyarray(py))?;
    }
    if spec.chip.spec().timing.is_some() {
        for (k, c) in [
            ("latency_ns", &s.counters),
            ("eval_latency_ns", &s.eval_counters),
        ] {
            let lat: Vec<Vec<_>> = c
                .iter()
                .map(|row| {
                    (0..layers)
                        .map(|l| {
                            npchip::chip::latency::layer_latency(
                                &spec.chip,
                                sizes[l],
                                sizes[l + 1],
                                &row[l],
                            )
                        })
                        .collect()
                })
                .collect();
            let a = Array4::from_shape_fn((e, layers, 4, 3), |(i, l, p, j)| {
                let t = &lat[i][l][p];
                [t.read_ns, t.program_ns, t.digital_ns][j]
            });
            out.set_item(k, a.to_pyarray(py))?;
        }
    }
    let sat = Array3::from_shape_fn((e, layers, 4), |(i, l, p)| s.saturation_rate[i][l][p]);
    out.set_item("saturation_rate", sat.to_pyarray(py))?;
    let un = Array2::from_shape_fn((e, layers), |(i, l)| s.update_norm[i][l]);
    out.set_item("update_norm", un.to_pyarray(py))?;
    for (k, v) in [
        ("alignment", &s.alignment),
        ("decorrelation", &s.decorrelation),
    ] {
        if let Some(v) = v {
            let a = Array2::from_shape_fn((e, layers), |(i, l)| v[i][l]);
            out.set_item(k, a.to_pyarray(py))?;
        }
    }
    Ok(())
}

/// `npchip._native.train(**settings)` → a dict (the package wraps it in `TrainResult`).
#[pyfunction]
#[pyo3(signature = (**settings))]
pub fn train<'py>(
    py: Python<'py>,
    settings: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut kv: Vec<(String, Bound<'py, PyAny>)> = Vec::new();
    if let Some(d) = settings {
        for (k, v) in d.iter() {
            kv.push((k.extract()?, v));
        }
    }
    let args = parse_args(&kv)?;
    let shown: Vec<String> = kv
        .iter()
        .map(|(k, v)| Ok(format!("{k}={}", v.repr()?)))
        .collect::<PyResult<_>>()?;
    let cmdline = format!("python: npchip.train({})", shown.join(", "));
    let stop = AtomicBool::new(false);
    let mut watch = SignalWatch {
        stop: &stop,
        raised: None,
    };
    let outcome = py.detach(|| run(&args, &cmdline, &mut watch));
    if let Some(interrupt) = watch.raised {
        // The file is closed and says `interrupted`; the caller gets its KeyboardInterrupt.
        return Err(interrupt);
    }
    let o = outcome.map_err(|e| {
        let text = format!("{e:#}");
        if text.starts_with("--") {
            PyValueError::new_err(text.trim_start_matches("--").replacen('-', "_", 1))
        } else {
            PyRuntimeError::new_err(text)
        }
    })?;
    let out = PyDict::new(py);
    out.set_item("path", o.path.to_string_lossy().to_string())?;
    out.set_item("status", o.status.name())?;
    out.set_item("epochs_done", o.series.len())?;
    out.set_item("oracle_uses", o.oracle_uses)?;
    out.set_item("sizes", o.sizes.clone())?;
    put_series(py, &out, &o.series, &o.spec, &o.sizes)?;
    Ok(out)
}

/// Every `npchip train` setting and its default, as the keyword and the flag's default text.
#[pyfunction]
pub fn train_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for a in command().get_arguments() {
        let Some(long) = a.get_long() else { continue };
        if long == "resume" {
            continue;
        }
        let d: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().to_string())
            .collect();
        let v: Option<String> = (!d.is_empty()).then(|| d.join(","));
        out.set_item(long.replace('-', "_"), v)?;
    }
    Ok(out)
}
