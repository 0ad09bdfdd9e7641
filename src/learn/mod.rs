//! Learning controllers: the rules, the optimiser, and the step that ties them to the chip.
//!
//! A rule drives the chip only through a [`crate::chip::Port`] (forward passes that return ADC
//! readings, programming requests, decorrelation steps, pricing of its own arithmetic); it never
//! holds the [`crate::chip::Chip`]. Rules that must see inside (BP, NP, INP) ask the port for an
//! [`crate::chip::Oracle`]; the chip records it, and that record marks the run as an oracle run
//! in every output. Order within one step, as the paper's reference code: (1) estimate with the
//! current R, (2) update R, (3) optimiser step on W and b, sent as programming pulses.

mod anp;
mod bp;
pub mod cost;
pub mod diagnostics;
mod estimator;
mod inp;
pub mod loss;
mod np;
pub mod optim;
pub mod rule;
pub mod step;

pub use estimator::{estimate, BatchStats, Gradients, RuleError, Workspace};
pub use loss::Loss;
pub use optim::{Optimizer, OptimizerKind};
pub use rule::{Family, RuleSpec, RULE_NAMES};
pub use step::Learner;
