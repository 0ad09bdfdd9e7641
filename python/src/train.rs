//! `npchip.train(**settings)`: one run of a Rust rule, exactly as `npchip train` runs it, with
//! the GIL released, Ctrl-C turned into `KeyboardInterrupt` after the current batch (the file
//! closed and marked interrupted), and the per-epoch arrays read back from the file written.
//!
//! Keyword names and defaults are the `npchip train` keys ([`npchip::run::KEYS`]): the
//! keywords become [`Settings`], checked by the library's one check, so a value means the same
//! in both and every bad one is refused at once, as a `ValueError` naming each key.

use npchip::chip::Chip;
use npchip::learn::Learner;
use npchip::output::hdf5::{read_run, EpochSeries};
use npchip::output::report::RunTiming;
use npchip::run::{
    find_key, train_to_file, Cancel, Progress, RunError, RunSpec, Settings, Shape, Violations, KEYS,
};
use npchip::train::{EpochRecord, Observer};
use numpy::ndarray::{Array1, Array2, Array3, Array4};
use numpy::ToPyArray;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyTuple};

/// Python keyword arguments as raw [`Settings`]: `None` leaves a key at its default, a bool
/// sets a switch (`true`/`false`), a list is a repeatable key's values (`set`) or a
/// comma-separated list (`hidden`), anything else its `str()`.
pub(crate) fn settings_of(kv: &[(String, Bound<'_, PyAny>)]) -> PyResult<Settings> {
    let mut s = Settings::default();
    for (key, value) in kv {
        if value.is_none() {
            continue;
        }
        let repeated = find_key(key).is_some_and(|k| k.shape == Shape::Repeated);
        if let Ok(b) = value.cast::<PyBool>() {
            s.set(key, if b.is_true() { "true" } else { "false" });
        } else if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
            let items: Vec<String> = value
                .try_iter()?
                .map(|v| v.and_then(|v| v.str().map(|s| s.to_string())))
                .collect::<PyResult<_>>()?;
            if repeated {
                items.iter().for_each(|it| s.set(key, it));
            } else {
                s.set(key, &items.join(","));
            }
        } else {
            s.set(key, &value.str()?.to_string());
        }
    }
    Ok(s)
}

/// Every violation as one `ValueError`, each line `key=value: allowed …` with the keyword's
/// Python name (`rename` maps a library key to the caller's keyword, e.g. `chip` → `model`).
pub(crate) fn violations_error(v: &Violations, rename: &dyn Fn(&str) -> String) -> PyErr {
    let lines: Vec<String> =
        v.0.iter()
            .map(|v| format!("{}={}: allowed {}", rename(&v.key), v.value, v.allowed))
            .collect();
    PyValueError::new_err(lines.join("\n"))
}

/// Checks for Ctrl-C once per batch (taking the GIL for a moment) and cancels the run, which
/// stops after the batch; keeps the `KeyboardInterrupt` to raise once the file is closed.
/// Python runs signal handlers only on its main thread, so a run started from another thread
/// never asks (it would only wait for the GIL for nothing).
struct SignalWatch {
    cancel: Cancel,
    raised: Option<PyErr>,
    on_main_thread: bool,
}

impl Observer for SignalWatch {
    fn epoch(
        &mut self,
        _: &EpochRecord,
        _: &Chip,
        _: &Learner,
    ) -> Result<(), npchip::train::ObserverError> {
        Ok(())
    }

    fn progress(&mut self, _done: usize, _total: usize, _loss: f64, _acc: f64) {
        if self.on_main_thread && self.raised.is_none() {
            if let Err(e) = Python::attach(|py| py.check_signals()) {
                self.raised = Some(e);
                self.cancel.cancel();
            }
        }
    }
}

/// Per-epoch arrays of `s` into `out` (names as the HDF5 datasets).
fn put_series(
    py: Python<'_>,
    out: &Bound<'_, PyDict>,
    s: &EpochSeries,
    timing: Option<&RunTiming>,
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
    // Priced as `npchip report` prices it: weight shapes (conv kernels) and R's layout.
    if let Some(timing) = timing.filter(|t| t.layers() == layers) {
        for (k, c) in [
            ("latency_ns", &s.counters),
            ("eval_latency_ns", &s.eval_counters),
        ] {
            let lat: Vec<Vec<_>> = c
                .iter()
                .map(|row| (0..layers).map(|l| timing.layer(l, &row[l])).collect())
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
    let def = settings_of(&kv)?
        .check()
        .map_err(|v| violations_error(&v, &|k| k.to_string()))?;
    let threading = py.import("threading")?;
    let on_main_thread = threading
        .call_method0("current_thread")?
        .is(&threading.call_method0("main_thread")?);
    let mut watch = SignalWatch {
        cancel: Cancel::new(),
        raised: None,
        on_main_thread,
    };
    let cancel = watch.cancel.clone();
    let outcome = py.detach(|| train_to_file(&def, &cancel, Progress::To(&mut watch)));
    if let Some(interrupt) = watch.raised {
        // The file is closed and says `interrupted`; the caller gets its KeyboardInterrupt.
        return Err(interrupt);
    }
    let o = outcome.map_err(|e| match e {
        RunError::Refused(m) => PyValueError::new_err(m),
        e => PyRuntimeError::new_err(format!("{:#}", anyhow::Error::new(e))),
    })?;
    let name = o.run.trim_start_matches("/runs/").to_string();
    let rec = read_run(&o.path, &name).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let sizes: Vec<usize> = match rec.attrs.get("sizes") {
        Some(npchip::output::hdf5::AttrValue::Ints(v)) => v.iter().map(|&s| s as usize).collect(),
        _ => {
            return Err(PyRuntimeError::new_err(format!(
                "{}: no sizes attribute",
                o.path.display()
            )))
        }
    };
    let out = PyDict::new(py);
    out.set_item("path", o.path.to_string_lossy().to_string())?;
    out.set_item("status", rec.status.name())?;
    out.set_item("epochs_done", o.epochs_done)?;
    let uses = rec
        .attrs
        .get("oracle_uses")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    out.set_item("oracle_uses", uses)?;
    out.set_item("sizes", sizes.clone())?;
    put_series(py, &out, &rec.epochs, RunTiming::of(&rec).as_ref(), &sizes)?;
    Ok(out)
}

/// Every `npchip train` key and its default text (None: unset by default).
#[pyfunction]
pub fn train_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for k in KEYS {
        out.set_item(k.name, k.default)?;
    }
    Ok(out)
}

/// The base run definition a Python-built chip is checked with (see `chip.rs`).
pub(crate) fn chip_spec(settings: &Settings) -> Result<RunSpec, Violations> {
    settings.check().map(|d| d.spec)
}
