//! Datasets from the library's loaders, as numpy arrays (`samples × features` float32 in
//! [0, 1], integer labels): the same data and split a `npchip train --data` run uses.

use crate::convert::bad;
use npchip::data::{load, DataSpec, Dataset, Split};
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Loads `spec` (a `--data` string) with the run seed `seed`, as the CLI does.
pub(crate) fn load_named(spec: &str, seed: u64) -> PyResult<Dataset> {
    let parsed: DataSpec = spec.parse().map_err(|e| bad("data", spec, e))?;
    load(&parsed, seed).map_err(|e| bad("data", spec, e))
}

/// A split as numpy: samples × features, and the labels.
type SplitArrays<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray1<i64>>);

fn split_arrays<'py>(py: Python<'py>, s: Split) -> PyResult<SplitArrays<'py>> {
    let (f, n) = s.x.shape();
    // `features × samples` column-major is `samples × features` C order: moved, not copied.
    let x: Vec<f32> = s.x.data.into();
    let x = PyArray1::from_vec(py, x).reshape([n, f])?;
    let y: Vec<i64> = s.labels.iter().map(|&l| l as i64).collect();
    Ok((x, PyArray1::from_vec(py, y)))
}

/// `npchip.load_data(spec="digits", seed=1, train_samples=None, test_samples=None)`: a dict
/// with `x_train`, `y_train`, `x_test`, `y_test`, `n_classes`, `name`, `source_hash`.
#[pyfunction]
#[pyo3(signature = (spec = "digits", seed = 1, train_samples = None, test_samples = None))]
pub fn load_data<'py>(
    py: Python<'py>,
    spec: &str,
    seed: u64,
    train_samples: Option<usize>,
    test_samples: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = load_named(spec, seed)?
        .subset(train_samples, test_samples, seed)
        .map_err(|e| {
            bad(
                "train_samples/test_samples",
                format!("{train_samples:?}/{test_samples:?}"),
                e,
            )
        })?;
    let out = PyDict::new(py);
    out.set_item("name", &d.name)?;
    out.set_item("n_classes", d.n_classes)?;
    out.set_item("source_hash", &d.source_hash)?;
    let (xt, yt) = split_arrays(py, d.train)?;
    let (xs, ys) = split_arrays(py, d.test)?;
    out.set_item("x_train", xt)?;
    out.set_item("y_train", yt)?;
    out.set_item("x_test", xs)?;
    out.set_item("y_test", ys)?;
    Ok(out)
}
