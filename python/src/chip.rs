//! The chip as a Python object: the Rust [`Chip`] inside, and only the lab's port-equivalent
//! surface outside (its port, the recorded oracle, counters, energy, a test-set evaluation,
//! the epoch log and saving it as a result file).
//!
//! The lab methods here read nothing a rule could not learn from the port: evaluation is the
//! same clean forward pass the trainer runs (`train::evaluate`), and a saved file holds no
//! traces or checkpoint (those carry conductances), only the run's attributes and epochs.

use crate::convert::{bad, batch_into, one_hot, parse_loss};
use crate::oracle::PyOracle;
use crate::port::PyPort;
use crate::train::violations_error;
use nalgebra::{DMatrix, DVector};
use npchip::chip::energy::LayerCounters;
use npchip::chip::{Chip, ChipConfig, DecorConfig, ForwardTrace, Pass, Phase};
use npchip::learn::{Learner, Optimizer, OptimizerKind};
use npchip::output::hdf5::{layer_energy, OutputError, ResultFile, RunOptions, RunStatus};
use npchip::run::RunSpec;
use npchip::run::Settings;
use npchip::train::{EpochRecord, Observer};
use numpy::ndarray::Array3;
use numpy::{PyArray3, PyReadonlyArray1, PyReadonlyArray2, ToPyArray};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::path::PathBuf;

/// Reused column-major buffers for arrays that come from Python (no allocation per call).
#[derive(Default)]
pub(crate) struct Buffers {
    pub(crate) x: DMatrix<f32>,
    pub(crate) t: DMatrix<f32>,
    pub(crate) dw: DMatrix<f32>,
    pub(crate) db: DVector<f32>,
}

/// What the lab logs between epochs (for `save`): counters at the last epoch boundary, the
/// evaluation counters since, and the last evaluation's result.
#[derive(Default)]
struct EpochLog {
    records: Vec<EpochRecord>,
    mark: Vec<LayerCounters>,
    eval: Vec<LayerCounters>,
    last_eval: Option<(f64, f64)>,
}

/// A simulated chip (`npchip.Chip(model, layers, seed, overrides)`); see the module docs.
#[pyclass(name = "Chip", module = "npchip")]
pub struct PyChip {
    pub(crate) chip: Chip,
    pub(crate) bufs: Buffers,
    /// The checked chip-level settings it was built from (the rest of a run's definition
    /// at its defaults), the base of the definition `save` writes.
    base: RunSpec,
    log: EpochLog,
}

/// Counters of `chip` as `layers × phases × counters`.
pub(crate) fn counters_array<'py>(py: Python<'py>, chip: &Chip) -> Bound<'py, PyArray3<u64>> {
    counters_of(py, &chip.counters())
}

fn counters_of<'py>(py: Python<'py>, c: &[LayerCounters]) -> Bound<'py, PyArray3<u64>> {
    use npchip::chip::Counters;
    let a = Array3::from_shape_fn((c.len(), 4, Counters::N), |(l, p, k)| {
        c[l].0[p].to_array()[k]
    });
    a.to_pyarray(py)
}

/// Energy of `chip`'s counters, pJ, `layers × phases × (mac, dac, adc, write, digital)`.
pub(crate) fn energy_array<'py>(py: Python<'py>, chip: &Chip) -> Bound<'py, PyArray3<f64>> {
    let coef = &chip.model().spec().energy;
    let e: Vec<_> = chip
        .counters()
        .iter()
        .map(|c| layer_energy(c, coef))
        .collect();
    let a = Array3::from_shape_fn((e.len(), 4, 5), |(l, p, k)| {
        let x = &e[l][p];
        [x.mac_pj, x.dac_pj, x.adc_pj, x.write_pj, x.digital_pj][k]
    });
    a.to_pyarray(py)
}

fn diff(a: &[LayerCounters], b: &[LayerCounters]) -> Vec<LayerCounters> {
    a.iter()
        .zip(b)
        .map(|(a, b)| {
            LayerCounters(std::array::from_fn(|p| {
                let (x, y) = (a.0[p].to_array(), b.0[p].to_array());
                npchip::chip::Counters::from_array(std::array::from_fn(|k| x[k] - y[k]))
            }))
        })
        .collect()
}

fn add(a: &mut [LayerCounters], b: &[LayerCounters]) {
    for (a, b) in a.iter_mut().zip(b) {
        for p in 0..4 {
            let (x, y) = (a.0[p].to_array(), b.0[p].to_array());
            a.0[p] = npchip::chip::Counters::from_array(std::array::from_fn(|k| x[k] + y[k]));
        }
    }
}

#[pymethods]
impl PyChip {
    /// Fabricates a chip: `model` a preset (`rram`, `pcm`, `ecram`, `ideal`) or a TOML file,
    /// `layers` the widths input first (`[64, 100, 10]`), `seed` the run seed, `overrides`
    /// chip parameters as `"key=value"` (like `--set`). `inject`, `leaky_slope`,
    /// `decorrelation` (None: no decorrelation circuits; else a `decor_rule`: plain,
    /// kappa[:K], whiten), `decor_lr` and `decor_precision` take the values of the
    /// `npchip train` keys of the same names, checked by the same check.
    #[new]
    #[pyo3(signature = (model = "rram", layers = vec![64, 100, 10], seed = 1, overrides = vec![],
        inject = "none", leaky_slope = 0.2, decorrelation = None, decor_lr = 1e-3,
        decor_precision = "f32"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        model: &str,
        layers: Vec<usize>,
        seed: u64,
        overrides: Vec<String>,
        inject: &str,
        leaky_slope: f32,
        decorrelation: Option<&str>,
        decor_lr: f32,
        decor_precision: &str,
    ) -> PyResult<Self> {
        if layers.len() < 2 || layers.contains(&0) {
            return Err(bad(
                "layers",
                format!("{layers:?}"),
                "expected at least two widths (input, output), each ≥ 1",
            ));
        }
        let mut s = Settings::default();
        s.set("chip", model);
        overrides.iter().for_each(|o| s.set("set", o));
        s.set("inject", inject);
        s.set("leaky_slope", &leaky_slope.to_string());
        s.set("decor_lr", &decor_lr.to_string());
        s.set("decor_precision", decor_precision);
        s.set("seed", &seed.to_string());
        if let Some(rule) = decorrelation {
            s.set("decor_rule", rule);
        }
        let rename = |k: &str| match k {
            "chip" => "model".to_string(),
            "set" => "overrides".to_string(),
            "decor_rule" => "decorrelation".to_string(),
            k => k.to_string(),
        };
        let base = crate::train::chip_spec(&s).map_err(|v| violations_error(&v, &rename))?;
        let config = ChipConfig {
            sizes: layers,
            activation: npchip::chip::Activation::LeakyRelu {
                slope: base.leaky_slope,
            },
            decorrelation: decorrelation.map(|_| DecorConfig {
                rule: base.decor_rule,
                lr: base.decor_lr,
                precision: base.decor_precision,
                thin: npchip::chip::DecorThinning {
                    sample: base.decor_sample,
                    every: base.decor_every,
                },
                blocks: base.decor_blocks,
                layers: base.decor_layers,
            }),
            injected: base.inject,
            seed,
        };
        let chip = Chip::build(&base.chip, config);
        let mark = chip.counters();
        let eval = vec![LayerCounters::default(); mark.len()];
        Ok(PyChip {
            chip,
            bufs: Buffers::default(),
            base,
            log: EpochLog {
                mark,
                eval,
                ..Default::default()
            },
        })
    }

    /// The port a learning rule drives this chip through.
    fn port(slf: &Bound<'_, Self>) -> PyPort {
        PyPort {
            chip: slf.clone().unbind(),
        }
    }

    /// An oracle view, recorded on the chip with `why` (so every file it writes says so).
    fn oracle(slf: &Bound<'_, Self>, why: &str) -> PyOracle {
        let _ = slf.borrow_mut().chip.oracle(why);
        PyOracle {
            chip: slf.clone().unbind(),
            why: why.to_string(),
        }
    }

    /// Every oracle view the chip handed out, and why (empty for a physical rule).
    #[getter]
    fn oracle_uses(&self) -> Vec<String> {
        self.chip.oracle_uses().to_vec()
    }

    /// Layer widths, input first.
    #[getter]
    fn sizes(&self) -> Vec<usize> {
        self.chip.sizes().to_vec()
    }

    /// Event counters so far, `layers × 4 phases × 10`.
    fn counters<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<u64>> {
        counters_array(py, &self.chip)
    }

    /// Energy so far, pJ, `layers × 4 phases × 5 kinds`.
    fn energy<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<f64>> {
        energy_array(py, &self.chip)
    }

    /// Advances the chip clock by one training step's time (drifting devices; what the
    /// trainer does after every step; nothing on a chip without drift).
    fn advance_step(&mut self) {
        let dt = self.chip.step_time_s();
        if dt > 0.0 {
            self.chip.advance_time(dt);
        }
    }

    /// Test loss and accuracy through the chip's clean forward pass, as the trainer evaluates
    /// (`x`: `samples × inputs`, `labels`: ints); its counters are kept apart as evaluation.
    #[pyo3(signature = (x, labels, batch = 256, loss = "ce"))]
    fn evaluate(
        &mut self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f32>,
        labels: PyReadonlyArray1<'_, i64>,
        batch: usize,
        loss: &str,
    ) -> PyResult<(f64, f64)> {
        let loss = parse_loss(loss)?;
        if batch == 0 {
            return Err(bad("batch", batch, "allowed: ≥ 1"));
        }
        let labels = labels.as_array().to_vec();
        let mut all = DMatrix::zeros(0, 0);
        batch_into("x", &x, self.chip.sizes()[0], &mut all)?;
        if labels.len() != all.ncols() {
            return Err(bad(
                "labels",
                format!("{} labels", labels.len()),
                format!("expected one per row of x ({})", all.ncols()),
            ));
        }
        let classes = *self.chip.sizes().last().unwrap();
        let before = self.chip.counters();
        let (mut sum, mut correct) = (0.0f64, 0usize);
        let (mut trace, mut t, mut l) = (ForwardTrace::default(), DMatrix::zeros(0, 0), Vec::new());
        for start in (0..labels.len()).step_by(batch) {
            let end = (start + batch).min(labels.len());
            let xb = all.columns(start, end - start).into_owned();
            one_hot(&labels[start..end], classes, &mut t)?;
            let chip = &mut self.chip;
            py.detach(|| chip.forward(&xb, Pass::Clean, Phase::Inference, &mut trace));
            loss.per_sample(trace.output(), &t, &mut l);
            sum += l.iter().map(|&v| v as f64).sum::<f64>();
            correct += npchip::learn::loss::correct(trace.output(), &t);
        }
        add(&mut self.log.eval, &diff(&self.chip.counters(), &before));
        let n = labels.len() as f64;
        let r = (sum / n, correct as f64 / n);
        self.log.last_eval = Some(r);
        Ok(r)
    }

    /// Closes an epoch of the log `save` writes: its training counters are everything since
    /// the previous epoch except evaluations; test loss and accuracy are the last
    /// `evaluate`'s (required). Returns the epoch number.
    #[pyo3(signature = (train_loss, train_acc, samples, skipped = 0, train_seconds = f64::NAN,
        update_norms = None))]
    fn end_epoch(
        &mut self,
        train_loss: f64,
        train_acc: f64,
        samples: usize,
        skipped: usize,
        train_seconds: f64,
        update_norms: Option<Vec<f32>>,
    ) -> PyResult<usize> {
        let Some((test_loss, test_acc)) = self.log.last_eval.take() else {
            return Err(bad(
                "end_epoch",
                "no evaluation",
                "call chip.evaluate(x_test, y_test) before closing the epoch",
            ));
        };
        let now = self.chip.counters();
        let mut counters = diff(&now, &self.log.mark);
        let eval = std::mem::replace(
            &mut self.log.eval,
            vec![LayerCounters::default(); now.len()],
        );
        counters = diff(&counters, &eval);
        self.log.mark = now;
        let depth = self.chip.depth();
        let epoch = self.log.records.len() + 1;
        self.log.records.push(EpochRecord {
            epoch,
            train_loss,
            train_acc,
            test_loss,
            test_acc,
            samples,
            skipped,
            train_seconds,
            counters,
            eval_counters: eval,
            update_norms: update_norms.unwrap_or_else(|| vec![f32::NAN; depth]),
            ..Default::default()
        });
        Ok(epoch)
    }

    /// Writes the chip's run as an npchip result file (docs/hdf5-schema.md) through the
    /// library's writer (the file is published whole): run attributes with `rule` =
    /// `python:<rule>`, the oracle record, and one row per `end_epoch`; no traces or
    /// checkpoint. `data` names the dataset the rule trained on; `loss`, `optimizer`, `lr`,
    /// `batch` are the rule's own settings as the caller states them (NaN / 0: not stated).
    #[pyo3(signature = (path, data = "digits", rule = "custom", loss = "ce", optimizer = "sgd",
        lr = f32::NAN, batch = 0, force = false))]
    #[allow(clippy::too_many_arguments)]
    fn save(
        &self,
        py: Python<'_>,
        path: PathBuf,
        data: &str,
        rule: &str,
        loss: &str,
        optimizer: &str,
        lr: f32,
        batch: usize,
        force: bool,
    ) -> PyResult<String> {
        let spec = self.run_spec(rule, loss, optimizer, lr, batch)?;
        let data_set = crate::data::load_named(data, self.chip.config().seed)?;
        let sizes = self.chip.sizes();
        if data_set.features() != sizes[0] || data_set.n_classes != *sizes.last().unwrap() {
            return Err(bad(
                "data",
                data,
                format!(
                    "has {} features and {} classes; the chip's layers are {sizes:?}",
                    data_set.features(),
                    data_set.n_classes
                ),
            ));
        }
        let label = format!("python:{rule}");
        let cmdline = format!(
            "python: npchip.Chip(...).save({:?}, rule={rule:?})",
            path.display()
        );
        let chip = &self.chip;
        let records = &self.log.records;
        py.detach(|| -> Result<(), OutputError> {
            let file = ResultFile::create(&path, force, &cmdline)?;
            let opts = RunOptions {
                data_spec: data.to_string(),
                train_samples: None,
                test_samples: None,
                trace: npchip::output::TraceLevel::None,
                checkpoints: false,
            };
            let mut writer = file.add_run("run0", &spec, &data_set, &opts)?;
            writer.label_rule(&label, chip)?;
            // The writer's observer signature wants a controller; without checkpoints it
            // reads nothing of it, so a bare one of the chip's shapes stands in.
            let learner = bare_learner(&spec, chip);
            for r in records {
                writer
                    .epoch(r, chip, &learner)
                    .map_err(|e| OutputError::Io {
                        path: path.clone(),
                        source: std::io::Error::other(format!("{e:#}")),
                    })?;
            }
            writer.finish(RunStatus::Completed)?;
            file.close()
        })
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(path.to_string_lossy().into_owned())
    }

    fn __repr__(&self) -> String {
        format!(
            "Chip(model={:?}, layers={:?}, seed={})",
            self.chip.model().spec().name,
            self.chip.sizes(),
            self.chip.config().seed
        )
    }
}

impl PyChip {
    /// The run definition `save` writes: the chip's checked settings, its layers, and the
    /// rule's settings as the caller states them. Its `rule` attribute is then replaced by
    /// the caller's label (`RunWriter::label_rule`); the family set here only carries
    /// `decorrelated` and a resampling count of 1.
    fn run_spec(
        &self,
        rule: &str,
        loss: &str,
        optimizer: &str,
        lr: f32,
        batch: usize,
    ) -> PyResult<RunSpec> {
        if rule.is_empty() || rule.contains(char::is_whitespace) {
            return Err(bad(
                "rule",
                rule,
                "allowed: a non-empty name without spaces",
            ));
        }
        let optimizer: OptimizerKind = optimizer
            .parse()
            .map_err(|e: String| bad("optimizer", optimizer, e))?;
        let sizes = self.chip.sizes();
        let mut spec = self.base.clone();
        spec.rule = "anp-nn".parse().expect("a rule name");
        spec.rule.decorrelated = self.chip.has_decorrelation();
        spec.hidden = sizes[1..sizes.len() - 1].to_vec();
        spec.loss = parse_loss(loss)?;
        spec.optimizer = optimizer;
        spec.lr = lr;
        spec.batch = batch;
        spec.epochs = self.log.records.len();
        spec.diagnostics = false;
        spec.log_every = 0;
        Ok(spec)
    }
}

/// A controller with the spec's rule and the chip's shapes and no state: what the writer's
/// observer call takes when it writes no checkpoint (it reads nothing of it then).
fn bare_learner(spec: &RunSpec, chip: &Chip) -> Learner {
    let shapes: Vec<(usize, usize)> = chip.sizes().windows(2).map(|w| (w[1], w[0])).collect();
    Learner {
        rule: spec.rule,
        loss: spec.loss,
        optimizer: Optimizer::new(OptimizerKind::Sgd, spec.lr, &shapes),
        ws: Default::default(),
        grads: Default::default(),
        times: Default::default(),
    }
}
