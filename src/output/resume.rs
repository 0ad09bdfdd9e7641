//! `--resume`: rebuilding a run from its file and restoring its checkpoint.

use super::hdf5::{OutputError, ResultFile, RunOptions, RunWriter};
use crate::chip::Chip;
use crate::data::Dataset;
use crate::learn::Learner;
use crate::run::RunSpec;

/// A run reopened to continue: call `train::run(&spec.loop_config(), &mut chip, &mut learner,
/// &data, next_epoch, &mut writer, stop)`, then `writer.finish(..)`.
pub struct Resumed {
    /// The run's definition, read back from the attributes (`epochs` possibly replaced).
    pub spec: RunSpec,
    /// Output options read back (data spec, subsets, trace level).
    pub options: RunOptions,
    /// The reloaded data (same `source_hash`).
    pub data: Dataset,
    /// The chip, rebuilt from the seed and restored from the checkpoint.
    pub chip: Chip,
    /// The controller with its optimiser state restored.
    pub learner: Learner,
    /// First epoch still to run (checkpoint epoch + 1).
    pub next_epoch: usize,
    /// Appends to the run's datasets from row `next_epoch − 1`.
    pub writer: RunWriter,
}

pub(crate) fn resume_run(file: &ResultFile, name: &str, epochs: Option<usize>) -> Result<Resumed, OutputError> {
    let _ = (file, name, epochs);
    todo!()
}
