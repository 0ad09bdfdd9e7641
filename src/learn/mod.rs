//! Learning controllers: the rules, the optimiser, and the step that ties them to the chip.
//!
//! A rule drives the chip only through [`crate::chip::Chip`]'s narrow interface (forward
//! passes that return ADC readings, programming requests, decorrelation steps). Rules that
//! must see inside (BP, NP, INP) receive an [`crate::chip::Oracle`] and are marked as oracles in
//! every output. Order within one step, as the paper's reference code: (1) estimate with the
//! current R, (2) update R, (3) optimiser step on W and b, sent as programming pulses.

mod anp;
mod bp;
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
