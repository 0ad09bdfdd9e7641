//! npchip from Python: the extension module `npchip._native` behind the `npchip` package.
//!
//! The rule that matters: **a Python object reaches nothing a Rust learning rule could not.**
//! [`chip::PyChip`] owns the Rust [`npchip::chip::Chip`] and exports only the lab's
//! port-equivalent surface (counters, energy, evaluation, saving); [`port::PyPort`] forwards
//! exactly the methods of [`npchip::chip::Port`]; [`port::PyTrace`] has the accessors of
//! [`npchip::chip::ForwardTrace`] for the measured activities and inputs, never its noise
//! samples. No pyclass has a readable field: Python sees only the methods defined here, and the
//! test `test_surface.py` compares their names with an allow-list. Looking inside goes through
//! [`oracle::PyOracle`], which the chip records.
//!
//! Stages: [`data`] (the library's loaders) → [`chip`]/[`port`]/[`oracle`] (a rule written in
//! Python) or [`train`] (a whole run of a Rust rule, written to HDF5).

mod chip;
mod convert;
mod data;
mod oracle;
mod port;
mod train;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<chip::PyChip>()?;
    m.add_class::<port::PyPort>()?;
    m.add_class::<port::PyTrace>()?;
    m.add_class::<oracle::PyOracle>()?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_function(wrap_pyfunction!(train::train_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(data::load_data, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
