//! numpy ↔ nalgebra, and the names Python passes for passes, phases and losses.
//!
//! Layout: a chip matrix is `features × batch`, column-major, which is byte for byte a numpy
//! `batch × features` array in C order. Arrays handed *to* Python are views of that memory
//! (no copy; see [`view_batch_major`]). Arrays taken *from* Python are copied once into a
//! column-major buffer the chip owns, because the chip's methods take `&DMatrix` (an owned
//! nalgebra matrix), and a weight change `N × d` in C order is the transpose of the chip's
//! column-major `N × d`.

use nalgebra::{DMatrix, DVector};
use npchip::chip::{Pass, Phase};
use npchip::learn::Loss;
use numpy::ndarray::{Array2, ArrayView2};
use numpy::npyffi::flags::NPY_ARRAY_WRITEABLE;
use numpy::{PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A `ValueError` that names the argument, the value and what is allowed.
pub fn bad(key: &str, value: impl std::fmt::Display, allowed: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("{key}={value}: {allowed}"))
}

/// Copies a `batch × features` array into `buf` as the chip's `features × batch` matrix,
/// checking the feature count. One pass over memory when the array is C-contiguous.
pub fn batch_into(
    key: &str,
    x: &PyReadonlyArray2<'_, f32>,
    features: usize,
    buf: &mut DMatrix<f32>,
) -> PyResult<()> {
    let (b, f) = (x.shape()[0], x.shape()[1]);
    if f != features {
        return Err(bad(
            key,
            format!("array of shape ({b}, {f})"),
            format!("expected (batch, {features}): one row per sample, {features} features"),
        ));
    }
    if b == 0 {
        return Err(bad(key, "an empty batch", "expected at least one row"));
    }
    if buf.shape() != (f, b) {
        *buf = DMatrix::zeros(f, b);
    }
    match x.as_slice() {
        Ok(s) => buf.as_mut_slice().copy_from_slice(s),
        Err(_) => {
            let v = x.as_array();
            for ((j, i), out) in (0..b)
                .flat_map(|j| (0..f).map(move |i| (j, i)))
                .zip(buf.as_mut_slice())
            {
                *out = v[[j, i]];
            }
        }
    }
    Ok(())
}

/// Copies an `N × d` weight change (numpy, any order) into the chip's column-major `N × d`.
pub fn weight_change_into(
    x: &PyReadonlyArray2<'_, f32>,
    shape: (usize, usize),
    buf: &mut DMatrix<f32>,
) -> PyResult<()> {
    let (n, d) = (x.shape()[0], x.shape()[1]);
    if (n, d) != shape {
        return Err(bad(
            "dw",
            format!("array of shape ({n}, {d})"),
            format!("expected the layer's (outputs, inputs) = {shape:?}"),
        ));
    }
    if buf.shape() != shape {
        *buf = DMatrix::zeros(n, d);
    }
    let v = x.as_array();
    for j in 0..d {
        for i in 0..n {
            buf[(i, j)] = v[[i, j]];
        }
    }
    Ok(())
}

/// Copies a 1-D array of length `n` into `buf`.
pub fn vector_into(
    key: &str,
    x: &PyReadonlyArray1<'_, f32>,
    n: usize,
    buf: &mut DVector<f32>,
) -> PyResult<()> {
    if x.len() != n {
        return Err(bad(
            key,
            format!("array of length {}", x.len()),
            format!("expected length {n}"),
        ));
    }
    if buf.len() != n {
        *buf = DVector::zeros(n);
    }
    for (o, &v) in buf.iter_mut().zip(x.as_array().iter()) {
        *o = v;
    }
    Ok(())
}

/// A read-only numpy `batch × features` view of a chip matrix (`features × batch`), kept alive
/// by `owner` (the Python object that owns the matrix and never changes it again).
///
/// # Safety
/// `m` must live inside `owner` and must not be mutated or moved while `owner` lives.
pub unsafe fn view_batch_major<'py>(
    m: &DMatrix<f32>,
    owner: Bound<'py, PyAny>,
) -> Bound<'py, PyArray2<f32>> {
    let (rows, cols) = m.shape();
    let view = ArrayView2::from_shape((cols, rows), m.as_slice()).expect("a column-major matrix");
    let arr = PyArray2::borrow_from_array(&view, owner);
    (*arr.as_array_ptr()).flags &= !NPY_ARRAY_WRITEABLE;
    arr
}

/// A copy of a chip matrix `N × d` as a numpy `N × d` array (C order: a transposing copy).
pub fn matrix_copy<'py>(py: Python<'py>, m: &DMatrix<f32>) -> Bound<'py, PyArray2<f32>> {
    let a = Array2::from_shape_fn(m.shape(), |(i, j)| m[(i, j)]);
    PyArray2::from_owned_array(py, a)
}

/// One-hot targets `classes × batch` from integer labels.
pub fn one_hot(labels: &[i64], classes: usize, out: &mut DMatrix<f32>) -> PyResult<()> {
    if out.shape() != (classes, labels.len()) {
        *out = DMatrix::zeros(classes, labels.len());
    } else {
        out.fill(0.0);
    }
    for (j, &y) in labels.iter().enumerate() {
        if y < 0 || y as usize >= classes {
            return Err(bad(
                "labels",
                format!("a label {y}"),
                format!("labels must be in 0..{classes} (the chip's output width)"),
            ));
        }
        out[(y as usize, j)] = 1.0;
    }
    Ok(())
}

/// `"clean"`, `"noisy"` or `"noisy_layer:L"` (INP's one-layer pass).
pub fn parse_pass(s: &str, depth: usize) -> PyResult<Pass> {
    match s.split_once(':') {
        None if s == "clean" => Ok(Pass::Clean),
        None if s == "noisy" => Ok(Pass::Noisy),
        Some(("noisy_layer", l)) => match l.parse::<usize>() {
            Ok(l) if l < depth => Ok(Pass::NoisyLayer(l)),
            _ => Err(bad("pass", s, format!("layer must be in 0..{depth}"))),
        },
        _ => Err(bad("pass", s, "allowed: clean, noisy, noisy_layer:L")),
    }
}

/// A phase by its name in files: inference, perturbation, update, decorrelation.
pub fn parse_phase(s: &str) -> PyResult<Phase> {
    Phase::ALL
        .into_iter()
        .find(|p| p.name() == s)
        .ok_or_else(|| {
            bad(
                "phase",
                s,
                "allowed: inference, perturbation, update, decorrelation",
            )
        })
}

/// `"ce"` or `"mse"`, the names `npchip train --loss` takes.
pub fn parse_loss(s: &str) -> PyResult<Loss> {
    match s {
        "ce" => Ok(Loss::CrossEntropy),
        "mse" => Ok(Loss::Mse),
        _ => Err(bad("loss", s, "allowed: ce, mse")),
    }
}

/// Checks a layer index.
pub fn check_layer(l: usize, depth: usize) -> PyResult<()> {
    if l < depth {
        Ok(())
    } else {
        Err(bad("layer", l, format!("allowed 0..{depth}")))
    }
}
