//! Output: HDF5 result files (the schema, including a sweep's layout), reports and plots.
//!
//! It stores and reads a checked [`crate::run::RunSpec`]; it knows nothing of the CLI or of a
//! sweep's flags, prints nothing, and installs no signal handler.

mod checkpoint;
pub mod hdf5;
pub mod html;
pub mod merge;
pub mod out_path;
pub mod plots;
pub mod probe;
mod publish;
mod reader;
pub mod report;
pub mod report_error;
mod resume;
mod runattrs;
mod schema;
pub mod sweep_layout;
mod traces;
mod writer;

use crate::chip::Chip;
use crate::learn::Learner;
use crate::train::{EpochRecord, Observer, StepRecord};

pub use crate::run::TraceLevel;
pub(crate) use writer::now;

/// Passes every record to two observers in turn (the file first, so a line on the terminal
/// means the epoch is on disk).
pub struct Tee<'a>(pub &'a mut dyn Observer, pub &'a mut dyn Observer);

impl Observer for Tee<'_> {
    fn epoch(
        &mut self,
        r: &EpochRecord,
        chip: &Chip,
        learner: &Learner,
    ) -> Result<(), crate::train::ObserverError> {
        self.0.epoch(r, chip, learner)?;
        self.1.epoch(r, chip, learner)
    }

    fn step(&mut self, r: &StepRecord) -> Result<(), crate::train::ObserverError> {
        self.0.step(r)?;
        self.1.step(r)
    }

    fn progress(&mut self, done: usize, total: usize, loss: f64, acc: f64) {
        self.0.progress(done, total, loss, acc);
        self.1.progress(done, total, loss, acc);
    }
}
