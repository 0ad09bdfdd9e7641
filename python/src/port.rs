//! The port and the trace as Python objects: exactly [`npchip::chip::Port`] and the measured
//! accessors of [`npchip::chip::ForwardTrace`], nothing more.
//!
//! A [`PyPort`] holds a reference to its [`PyChip`] (Python cannot reach it: a pyclass field
//! without `get` is invisible) and opens a Rust `Port` for every call, so each method runs the
//! very code a Rust rule runs. Every pass fills a new [`PyTrace`], whose arrays are read-only
//! numpy views of the trace's own memory (no copy); a trace is never refilled, so the views
//! stay valid for as long as Python holds them.

use crate::chip::{counters_array, energy_array, PyChip};
use crate::convert::{
    batch_into, check_layer, one_hot, parse_loss, parse_pass, parse_phase, vector_into,
    view_batch_major, weight_change_into,
};
use crate::oracle::PyOracle;
use npchip::chip::{Activation, ForwardTrace, InjectedNoise};
use numpy::{PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

/// What a learning rule gets of the chip: forward passes (measured activities and layer
/// inputs), the loss, pulse-update requests, decorrelator updates, counters and energy, and
/// datasheet constants. `oracle(why)` is the recorded window inside.
#[pyclass(name = "Port", module = "npchip")]
pub struct PyPort {
    pub(crate) chip: Py<PyChip>,
}

/// What one forward pass measured: per layer, the input x_l it saw and the ADC-measured
/// pre-activation a_l, as read-only `batch × features` numpy views.
#[pyclass(name = "Trace", module = "npchip", frozen)]
pub struct PyTrace {
    pub(crate) trace: ForwardTrace,
}

impl PyTrace {
    fn layer(&self, l: usize) -> PyResult<()> {
        check_layer(l, self.trace.pre().len())
    }
}

#[pymethods]
impl PyTrace {
    /// Number of layers the pass went through.
    #[getter]
    fn depth(&self) -> usize {
        self.trace.pre().len()
    }

    /// Layer `l`'s measured pre-activation a_l (ADC reading + bias + injected noise),
    /// `batch × N_l`, a read-only view (no copy).
    fn pre<'py>(slf: &Bound<'py, Self>, l: usize) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let t = slf.get();
        t.layer(l)?;
        // SAFETY: the matrix lives in this frozen trace, which is never refilled.
        Ok(unsafe { view_batch_major(&t.trace.pre()[l], slf.clone().into_any()) })
    }

    /// Layer `l`'s input x_l after its decorrelator, `batch × d_l`, a read-only view.
    fn inputs<'py>(slf: &Bound<'py, Self>, l: usize) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let t = slf.get();
        t.layer(l)?;
        // SAFETY: as in `pre`.
        Ok(unsafe { view_batch_major(&t.trace.inputs()[l], slf.clone().into_any()) })
    }

    /// The network output (the last layer's pre-activation: logits), `batch × classes`.
    fn output<'py>(slf: &Bound<'py, Self>) -> Bound<'py, PyArray2<f32>> {
        // SAFETY: as in `pre`.
        unsafe { view_batch_major(slf.get().trace.output(), slf.clone().into_any()) }
    }

    fn __repr__(&self) -> String {
        let p = self.trace.pre();
        let shapes: Vec<String> = p
            .iter()
            .map(|m| format!("{}×{}", m.ncols(), m.nrows()))
            .collect();
        format!("Trace(pre: {})", shapes.join(", "))
    }
}

#[pymethods]
impl PyPort {
    /// One forward pass of a batch `x` (`batch × inputs`, float32); `mode` is `clean`,
    /// `noisy` or `noisy_layer:L`, `phase` the counters it is billed to. The input is copied
    /// once into the chip's column-major buffer; the GIL is released during the pass.
    #[pyo3(signature = (x, mode = "noisy", phase = "inference"))]
    fn forward(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f32>,
        mode: &str,
        phase: &str,
    ) -> PyResult<PyTrace> {
        let mut guard = self.chip.borrow_mut(py);
        let c = &mut *guard;
        let pass = parse_pass(mode, c.chip.depth())?;
        let phase = parse_phase(phase)?;
        batch_into("x", &x, c.chip.sizes()[0], &mut c.bufs.x)?;
        let mut trace = ForwardTrace::default();
        let (chip, xb) = (&mut c.chip, &c.bufs.x);
        py.detach(|| chip.port().forward(xb, pass, phase, &mut trace));
        Ok(PyTrace { trace })
    }

    /// Per-sample loss of a pass's output against integer `labels` (length batch), computed
    /// by the controller's digital arithmetic (`ce`: softmax cross-entropy, `mse`).
    #[pyo3(signature = (trace, labels, loss = "ce"))]
    fn loss<'py>(
        &self,
        py: Python<'py>,
        trace: &PyTrace,
        labels: PyReadonlyArray1<'_, i64>,
        loss: &str,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let loss = parse_loss(loss)?;
        let out = trace.trace.output();
        let labels = labels.as_array().to_vec();
        if labels.len() != out.ncols() {
            return Err(crate::convert::bad(
                "labels",
                format!("{} labels", labels.len()),
                format!("expected one per sample of the pass ({})", out.ncols()),
            ));
        }
        let mut guard = self.chip.borrow_mut(py);
        one_hot(&labels, out.nrows(), &mut guard.bufs.t)?;
        let mut l = Vec::with_capacity(labels.len());
        loss.per_sample(out, &guard.bufs.t, &mut l);
        Ok(PyArray1::from_vec(py, l))
    }

    /// Requests a weight change `dw` (`N_l × d_l`) and bias change `db` (`N_l`) of layer `l`:
    /// programming pulses. Both are copied into the chip's column-major buffers.
    fn update_layer(
        &self,
        py: Python<'_>,
        l: usize,
        dw: PyReadonlyArray2<'_, f32>,
        db: PyReadonlyArray1<'_, f32>,
    ) -> PyResult<()> {
        let mut guard = self.chip.borrow_mut(py);
        let c = &mut *guard;
        check_layer(l, c.chip.depth())?;
        let (n, d) = (c.chip.sizes()[l + 1], c.chip.sizes()[l]);
        weight_change_into(&dw, (n, d), &mut c.bufs.dw)?;
        vector_into("db", &db, n, &mut c.bufs.db)?;
        let (chip, dw, db) = (&mut c.chip, &c.bufs.dw, &c.bufs.db);
        py.detach(|| chip.port().update_layer(l, dw, db));
        Ok(())
    }

    /// Runs layer `l`'s decorrelation circuit on the inputs `x` (`batch × d_l`) it saw
    /// (copied once; e.g. `trace.inputs(l)` of the first pass).
    fn decorrelate(&self, py: Python<'_>, l: usize, x: PyReadonlyArray2<'_, f32>) -> PyResult<()> {
        let mut guard = self.chip.borrow_mut(py);
        let c = &mut *guard;
        check_layer(l, c.chip.depth())?;
        batch_into("x", &x, c.chip.sizes()[l], &mut c.bufs.x)?;
        let (chip, xb) = (&mut c.chip, &c.bufs.x);
        py.detach(|| chip.port().decorrelate(l, xb));
        Ok(())
    }

    /// Prices `ops` operations of the controller's own digital arithmetic on layer `l`.
    fn count_digital(&self, py: Python<'_>, l: usize, phase: &str, ops: u64) -> PyResult<()> {
        let mut c = self.chip.borrow_mut(py);
        check_layer(l, c.chip.depth())?;
        let phase = parse_phase(phase)?;
        c.chip.port().count_digital(l, phase, ops);
        Ok(())
    }

    /// Event counters so far, `layers × 4 phases × 10` (names: `npchip.COUNTER_NAMES`).
    fn counters<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<u64>> {
        counters_array(py, &self.chip.borrow(py).chip)
    }

    /// Energy so far, pJ, `layers × 4 phases × 5 kinds` (`npchip.ENERGY_KINDS`).
    fn energy<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<f64>> {
        energy_array(py, &self.chip.borrow(py).chip)
    }

    /// Number of layers.
    #[getter]
    fn depth(&self, py: Python<'_>) -> usize {
        self.chip.borrow_mut(py).chip.port().depth()
    }

    /// Layer widths, input first.
    #[getter]
    fn sizes(&self, py: Python<'_>) -> Vec<usize> {
        self.chip.borrow_mut(py).chip.port().sizes().to_vec()
    }

    /// N = Σ_l N_l, all hidden and output units.
    #[getter]
    fn n_units(&self, py: Python<'_>) -> usize {
        self.chip.borrow_mut(py).chip.port().n_units()
    }

    /// Whether layers have decorrelation circuits.
    #[getter]
    fn has_decorrelation(&self, py: Python<'_>) -> bool {
        self.chip.borrow_mut(py).chip.port().has_decorrelation()
    }

    /// The hidden activation as `(name, slope)`: `("leaky_relu", 0.2)`.
    #[getter]
    fn activation(&self, py: Python<'_>) -> (&'static str, f32) {
        match self.chip.borrow_mut(py).chip.port().activation() {
            Activation::LeakyRelu { slope } => ("leaky_relu", slope),
        }
    }

    /// The injected noise source as declared, `(kind, sigma)`; never its samples.
    #[getter]
    fn injected(&self, py: Python<'_>) -> (&'static str, f32) {
        match self.chip.borrow_mut(py).chip.port().injected() {
            InjectedNoise::None => ("none", 0.0),
            InjectedNoise::Hidden { sigma } => ("hidden", sigma),
            InjectedNoise::Readable { sigma } => ("readable", sigma),
        }
    }

    /// Smallest weight change one pulse makes in layer `l` (0 on an ideal chip).
    fn weight_step(&self, py: Python<'_>, l: usize) -> PyResult<f32> {
        let mut c = self.chip.borrow_mut(py);
        check_layer(l, c.chip.depth())?;
        Ok(c.chip.port().weight_step(l))
    }

    /// An oracle view of this chip, recorded on the chip with `why` (and so in every file
    /// it writes): programmed weights, injected-noise samples, the float forward pass.
    fn oracle(&self, py: Python<'_>, why: &str) -> PyOracle {
        let mut c = self.chip.borrow_mut(py);
        let _ = c.chip.port().oracle(why);
        PyOracle {
            chip: self.chip.clone_ref(py),
            why: why.to_string(),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("Port(sizes={:?})", self.chip.borrow(py).chip.sizes())
    }
}
