//! The oracle as a Python object: the recorded window inside one chip, for BP-like rules.
//!
//! Every method re-asks the chip for its view with the same `why`, so the chip's record
//! (written into every file and log) holds it however the object is kept. Python cannot be
//! stopped from keeping the object across steps as Rust's borrow does; the record is what
//! marks the run.

use crate::chip::PyChip;
use crate::convert::{batch_into, check_layer, matrix_copy};
use crate::port::PyTrace;
use nalgebra::DMatrix;
use npchip::chip::ForwardTrace;
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2};
use pyo3::exceptions::PyPermissionError;
use pyo3::prelude::*;

/// A recorded view inside the chip that made it (see the module docs).
#[pyclass(name = "Oracle", module = "npchip")]
pub struct PyOracle {
    pub(crate) chip: Py<PyChip>,
    pub(crate) why: String,
}

#[pymethods]
impl PyOracle {
    /// The reason recorded on the chip.
    #[getter]
    fn why(&self) -> String {
        self.why.clone()
    }

    /// Layer `l`'s weights as programmed (no read noise, no periphery), `N_l × d_l` (a copy).
    fn weights<'py>(&self, py: Python<'py>, l: usize) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let mut c = self.chip.borrow_mut(py);
        check_layer(l, c.chip.depth())?;
        Ok(matrix_copy(py, &c.chip.oracle(&self.why).weights(l)))
    }

    /// Layer `l`'s bias (a copy).
    fn bias<'py>(&self, py: Python<'py>, l: usize) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let mut c = self.chip.borrow_mut(py);
        check_layer(l, c.chip.depth())?;
        let b = c.chip.oracle(&self.why).bias(l).as_slice().to_vec();
        Ok(PyArray1::from_vec(py, b))
    }

    /// Layer `l`'s decorrelation matrix `d_l × d_l` (None without decorrelation; a copy).
    fn decorrelator<'py>(
        &self,
        py: Python<'py>,
        l: usize,
    ) -> PyResult<Option<Bound<'py, PyArray2<f32>>>> {
        let mut c = self.chip.borrow_mut(py);
        check_layer(l, c.chip.depth())?;
        Ok(c.chip
            .oracle(&self.why)
            .decorrelator(l)
            .map(|r| matrix_copy(py, &r)))
    }

    /// The injected noise ε_l of each layer in a pass of this chip (`batch × N_l` copies), if
    /// the source was declared readable; PermissionError otherwise or for another chip's trace.
    fn injected<'py>(
        &self,
        py: Python<'py>,
        trace: &PyTrace,
    ) -> PyResult<Vec<Bound<'py, PyArray2<f32>>>> {
        let mut c = self.chip.borrow_mut(py);
        let o = c.chip.oracle(&self.why);
        let eps = o
            .injected(&trace.trace)
            .map_err(|e| PyPermissionError::new_err(e.to_string()))?;
        Ok(eps
            .iter()
            .map(|m| {
                let rows: Vec<f32> = m.as_slice().to_vec();
                numpy::PyArray1::from_vec(py, rows)
                    .reshape([m.ncols(), m.nrows()])
                    .expect("a column-major matrix")
            })
            .collect())
    }

    /// The float network the chip approximates (programmed weights, exact products, no noise,
    /// no converters) on `x` (`batch × inputs`).
    fn float_forward(&self, py: Python<'_>, x: PyReadonlyArray2<'_, f32>) -> PyResult<PyTrace> {
        let mut c = self.chip.borrow_mut(py);
        let mut xb = DMatrix::zeros(0, 0);
        batch_into("x", &x, c.chip.sizes()[0], &mut xb)?;
        let mut trace = ForwardTrace::default();
        c.chip.oracle(&self.why).float_forward(&xb, &mut trace);
        Ok(PyTrace { trace })
    }

    fn __repr__(&self) -> String {
        format!("Oracle(why={:?})", self.why)
    }
}
