//! The port: all a learning rule receives of the chip.
//!
//! A real controller sits outside the silicon: it sends inputs, reads the ADCs, computes the
//! loss from what it read, and asks the programming circuit for pulses. [`Port`] is exactly
//! that: forward passes that return the measured activities and the inputs each layer saw
//! ([`ForwardTrace`]'s accessors), pulse-update requests, decorrelator updates, pricing of the
//! controller's own digital work, and datasheet constants (depth, sizes, the smallest weight
//! step, whether decorrelators exist, the declared injected source). Nothing reachable from it
//! returns a noise sample, a conductance, a weight, a stream state, the seed, a checkpoint or
//! telemetry, and nothing changes the chip except pulses and decorrelator updates. Baselines
//! that must see inside ask [`Port::oracle`], and the chip records that they did.
//!
//! The field holding the chip is private to this module and `Port` has no `Deref` to
//! [`Chip`]; the chip's own internals are private to `crate::chip`. The lab (trainer, output,
//! tests) keeps the [`Chip`] and its public API. The examples below are compiled as an
//! outside crate would compile them; each forbidden act (`compile_fail`) sits next to a twin
//! that does compile, so the failure is the boundary, not a typo.
//!
//! A legal rule: measure, compute from the measurement, request pulses, price the arithmetic.
//! ```
//! use nalgebra::{DMatrix, DVector};
//! use npchip::chip::{ForwardTrace, Pass, Phase, Port};
//! # use npchip::chip::{presets, Activation, Chip, ChipConfig, InjectedNoise};
//! fn rule(port: &mut Port<'_>, x: &DMatrix<f32>, trace: &mut ForwardTrace) -> f32 {
//!     port.forward(x, Pass::Noisy, Phase::Perturbation, trace);
//!     let measured = trace.output().sum();
//!     let l = port.depth() - 1;
//!     let (n, d) = port.weight_shape(l);
//!     let dw = DMatrix::from_element(n, d, port.weight_step(l));
//!     port.update_layer(l, &dw, &DVector::zeros(n));
//!     port.count_digital(l, Phase::Update, (n * d) as u64);
//!     measured
//! }
//! # let model = presets::resolve("rram", &[]).unwrap();
//! # let mut chip = Chip::build(&model, ChipConfig { sizes: vec![4, 3, 2],
//! #     activation: Activation::LeakyRelu { slope: 0.2 }, decorrelation: None,
//! #     injected: InjectedNoise::Hidden { sigma: 0.01 }, seed: 1 });
//! let pulses = |c: &Chip| c.counters().iter().map(|l| l.total().pulses_up).sum::<u64>();
//! let before = pulses(&chip);
//! let mut trace = ForwardTrace::default();
//! let measured = rule(&mut chip.port(), &DMatrix::from_element(4, 8, 0.5), &mut trace);
//! assert!(measured.is_finite());
//! assert!(pulses(&chip) > before, "the request reached the devices as pulses");
//! assert!(chip.oracle_uses().is_empty(), "a physical rule leaves no oracle record");
//! ```
//!
//! Reading the injected noise: the samples are a private field of the trace…
//! ```compile_fail,E0616
//! # use npchip::chip::ForwardTrace;
//! fn rule(trace: &ForwardTrace) { let _eps = &trace.injected; }
//! ```
//! …its twin reads the measured activities, which is what a rule may see:
//! ```
//! # use npchip::chip::ForwardTrace;
//! fn rule(trace: &ForwardTrace) { let _a = trace.pre(); }
//! ```
//!
//! Reaching the chip behind the port (conductances, weights, streams: every bypass) fails…
//! ```compile_fail,E0616
//! # use npchip::chip::Port;
//! fn rule(port: &mut Port<'_>) { let _t = port.chip.telemetry(); }
//! ```
//! …while the lab, which holds the [`Chip`], may read the designer's telemetry:
//! ```
//! # use npchip::chip::Chip;
//! fn lab(chip: &mut Chip) { let _g = chip.telemetry().layer(0).conductances(); }
//! ```
//!
//! A conductance, through the port:
//! ```compile_fail,E0599
//! # use npchip::chip::Port;
//! fn rule(port: &mut Port<'_>) { let _g = port.telemetry().layer(0).conductances(); }
//! ```
//! A weight, bypassing the recorded oracle (the layers are private even to the lab)…
//! ```compile_fail,E0616
//! # use npchip::chip::Chip;
//! fn lab(chip: &mut Chip) { let _n = chip.layers.len(); }
//! ```
//! …its twin asks the oracle, which the chip records:
//! ```
//! # use npchip::chip::Port;
//! fn rule(port: &mut Port<'_>) { let _w = port.oracle("bp: weights").weights(0); }
//! ```
//! An oracle cannot be forged without the record:
//! ```compile_fail,E0451
//! # use npchip::chip::{Chip, Oracle};
//! fn rule(chip: &Chip) { let _o = Oracle { chip }; }
//! ```
//!
//! A stream state (or any other checkpointed state), through the port…
//! ```compile_fail,E0599
//! # use npchip::chip::Port;
//! fn rule(port: &mut Port<'_>) { let _s = port.checkpoint().injection_stream; }
//! ```
//! …and the same line in the lab, which may checkpoint:
//! ```
//! # use npchip::chip::Chip;
//! fn lab(chip: &mut Chip) { let _s = chip.checkpoint().injection_stream; }
//! ```
//!
//! Restoring weights without pulses:
//! ```compile_fail,E0599
//! # use npchip::chip::{ChipCheckpoint, Port};
//! fn rule(port: &mut Port<'_>, ck: &ChipCheckpoint) { port.restore(ck).unwrap(); }
//! ```
//! ```
//! # use npchip::chip::{Chip, ChipCheckpoint};
//! fn lab(chip: &mut Chip, ck: &ChipCheckpoint) { chip.restore(ck).unwrap(); }
//! ```
//!
//! Setting counters: no such method exists, not even for the lab; counters move only with
//! the events they count (the controller prices its arithmetic with `count_digital`).
//! ```compile_fail,E0599
//! # use npchip::chip::Chip;
//! fn lab(chip: &mut Chip) { let c = chip.counters(); chip.set_counters(c); }
//! ```
//! ```
//! # use npchip::chip::{Phase, Port};
//! fn rule(port: &mut Port<'_>) { port.count_digital(0, Phase::Update, 1); }
//! ```
//!
//! The seed:
//! ```compile_fail,E0599
//! # use npchip::chip::Port;
//! fn rule(port: &mut Port<'_>) -> u64 { port.config().seed }
//! ```
//! ```
//! # use npchip::chip::Chip;
//! fn lab(chip: &Chip) -> u64 { chip.config().seed }
//! ```
//!
//! Another chip's oracle: the view reads only the chip that made it (its methods take no
//! chip), and it cannot outlive the port it borrows, so it cannot be kept and used later…
//! ```compile_fail,E0061
//! # use npchip::chip::{Chip, Port};
//! fn rule(port: &mut Port<'_>, other: &Chip) { let _w = port.oracle("bp").weights(other, 0); }
//! ```
//! ```compile_fail,E0597
//! # use npchip::chip::{Chip, Oracle};
//! fn rule(chip: &mut Chip) {
//!     let kept: Oracle<'_>;
//!     {
//!         let mut port = chip.port();
//!         kept = port.oracle("bp");
//!     }
//!     let _w = kept.weights(0);
//! }
//! ```
//! …its twin uses the view while the port is alive:
//! ```
//! # use npchip::chip::{Chip, Oracle};
//! fn rule(chip: &mut Chip) {
//!     let mut port = chip.port();
//!     let kept: Oracle<'_> = port.oracle("bp");
//!     let _w = kept.weights(0);
//! }
//! ```
//! A trace filled by another chip is refused at run time ([`super::OracleRefusal::OtherChip`]).

use super::conv::Network;
use super::energy::Phase;
use super::network::{Activation, Chip, ForwardTrace, InjectedNoise, Pass};
use super::oracle::Oracle;
use nalgebra::{DMatrix, DVector};

/// A learning rule's whole view of the chip; see the module docs.
pub struct Port<'c> {
    chip: &'c mut Chip,
}

impl Chip {
    /// The port a learning rule drives this chip through.
    pub fn port(&mut self) -> Port<'_> {
        Port { chip: self }
    }
}

impl Port<'_> {
    /// One forward pass of a batch `x` (`features × B`); the measurements go into `trace`.
    #[inline]
    pub fn forward(
        &mut self,
        x: &DMatrix<f32>,
        pass: Pass,
        phase: Phase,
        trace: &mut ForwardTrace,
    ) {
        self.chip.forward(x, pass, phase, trace);
    }

    /// Requests a weight change `dw` and a bias change `db` of layer `l` (programming pulses).
    #[inline]
    pub fn update_layer(&mut self, l: usize, dw: &DMatrix<f32>, db: &DVector<f32>) {
        self.chip.update_layer(l, dw, db);
    }

    /// Runs layer `l`'s decorrelation circuit on the inputs `x` it saw.
    #[inline]
    pub fn decorrelate(&mut self, l: usize, x: &DMatrix<f32>) {
        self.chip.decorrelate(l, x);
    }

    /// Prices the controller's own digital arithmetic on layer `l` in `phase`.
    #[inline]
    pub fn count_digital(&mut self, l: usize, phase: Phase, ops: u64) {
        self.chip.count_digital(l, phase, ops);
    }

    /// Number of layers.
    pub fn depth(&self) -> usize {
        self.chip.depth()
    }

    /// Input features, then nodes per sample of each layer (dense: its width; conv:
    /// out_ch × positions). Σ of all but the first is the N of ANP.
    pub fn sizes(&self) -> &[usize] {
        self.chip.sizes()
    }

    /// The layers' geometry: kinds, kernels, padding, stride, pooling (the datasheet).
    pub fn network(&self) -> &Network {
        self.chip.network()
    }

    /// Layer `l`'s weight matrix shape, `(rows, cols)`: what an update of it must have.
    pub fn weight_shape(&self, l: usize) -> (usize, usize) {
        self.chip.weight_shape(l)
    }

    /// N = Σ_l N_l, all hidden and output units.
    pub fn n_units(&self) -> usize {
        self.chip.n_units()
    }

    /// Whether any layer has a decorrelation circuit.
    pub fn has_decorrelation(&self) -> bool {
        self.chip.has_decorrelation()
    }

    /// Entries of layer `l`'s R (0 without one): d² for a full R, Σ_b d_b² when blocked.
    #[inline]
    pub fn decorrelator_entries(&self, l: usize) -> usize {
        self.chip.decorrelator_entries(l)
    }

    /// The hidden activation (the neuron circuit's datasheet curve).
    pub fn activation(&self) -> Activation {
        self.chip.config().activation
    }

    /// The injected noise source as declared (kind and σ; never its samples).
    pub fn injected(&self) -> InjectedNoise {
        self.chip.config().injected
    }

    /// Smallest weight change one pulse makes in layer `l` (0 on an ideal chip).
    pub fn weight_step(&self, l: usize) -> f32 {
        self.chip.weight_step(l)
    }

    /// An oracle view of this port's chip, recorded on the chip with `why`. It borrows the
    /// port: no pass can run while it is held, and it cannot be kept past the port.
    pub fn oracle(&mut self, why: &str) -> Oracle<'_> {
        self.chip.record_oracle_use(why);
        Oracle::of(self.chip)
    }
}
