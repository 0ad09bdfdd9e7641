//! `--resume`: rebuilding a run from its file and restoring its checkpoint.
//!
//! In order: run attributes → [`RunSpec`] (the chip from its stored TOML) → reload the data
//! from the stored `--data` string and refuse a different `source_hash` → build the chip and
//! controller from the spec (fabrication re-drawn from the seed) → restore the checkpoint
//! (which verifies the fabrication fingerprint) → cut every per-epoch dataset back to the
//! checkpoint's epoch → a writer appending from there.

use super::hdf5::{OutputError, ResultFile, RunOptions, RunStatus, RunWriter};
use super::schema::{self, group, h5err, truncate, Attr, EPOCHS, STEPS, TRACES};
use super::traces::TraceWriter;
use super::writer::WriterState;
use crate::chip::Chip;
use crate::data::{load, DataSpec, Dataset};
use crate::learn::Learner;
use crate::run::RunSpec;
use ::hdf5::Group;
use std::path::Path;
use std::time::Instant;

/// A run reopened to continue: call `train::run(&spec.loop_config(), &mut chip, &mut learner,
/// &data, next_epoch, &mut writer, stop)`, then `writer.finish(..)`.
pub struct Resumed {
    /// The run's definition, read back from the attributes (`epochs` possibly replaced).
    pub spec: RunSpec,
    /// Output options read back (data spec, subsets, trace level).
    pub options: RunOptions,
    /// The reloaded data (same `source_hash`).
    pub data: Dataset,
    /// The chip, rebuilt from the seed and restored from the checkpoint (traces enabled as
    /// the run's trace level asks).
    pub chip: Chip,
    /// The controller with its optimiser state restored.
    pub learner: Learner,
    /// First epoch still to run (checkpoint epoch + 1); above `spec.epochs` when done.
    pub next_epoch: usize,
    /// Appends to the run's datasets from row `next_epoch − 1`.
    pub writer: RunWriter,
}

fn refuse(path: &Path, reason: impl Into<String>) -> OutputError {
    OutputError::Resume {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

pub(crate) fn resume_run(
    file: &ResultFile,
    name: &str,
    epochs: Option<usize>,
) -> Result<Resumed, OutputError> {
    let path = file.path.as_path();
    let runs = group(path, &file.file, "runs")?;
    let run = group(path, &runs, name)?;
    let (mut spec, options) = super::runattrs::read(path, &run)?;
    if !run.link_exists(schema::CHECKPOINT) {
        return Err(refuse(path, format!("run `{name}` has no checkpoint (no epoch finished, or it was written with checkpoints off)")));
    }
    // The data: same spec string, same subset, same content.
    let data_spec: DataSpec = options.data_spec.parse().map_err(|e| {
        refuse(
            path,
            format!("stored --data `{}` does not parse: {e}", options.data_spec),
        )
    })?;
    let data = load(&data_spec, spec.seed)
        .and_then(|d| d.subset(options.train_samples, options.test_samples, spec.seed))
        .map_err(|e| refuse(path, format!("reloading --data {}: {e}", options.data_spec)))?;
    let want_hash = schema::attr_text(path, &run, "data_source_hash")?;
    if data.source_hash != want_hash {
        return Err(refuse(
            path,
            format!("the data at --data {} has changed: its source hash is {}, the run was trained on {want_hash}; restore the original files", options.data_spec, data.source_hash),
        ));
    }
    let (train_n, test_n) = (
        schema::attr_int(path, &run, "train_size")?,
        schema::attr_int(path, &run, "test_size")?,
    );
    if (data.train.len() as i64, data.test.len() as i64) != (train_n, test_n) {
        return Err(refuse(
            path,
            format!(
                "reloaded data has {}/{} train/test samples, the run had {train_n}/{test_n}",
                data.train.len(),
                data.test.len()
            ),
        ));
    }
    // The chip and controller, then the checkpoint.
    let (epoch, ck, opt) = super::checkpoint::read(path, &run)?;
    let (mut chip, mut learner) = spec.build(&data);
    chip.restore(&ck).map_err(|e| {
        refuse(
            path,
            format!("checkpoint of run `{name}` does not fit the rebuilt chip: {e}"),
        )
    })?;
    super::checkpoint::restore_optimizer(&mut learner, &opt)
        .map_err(|e| refuse(path, format!("run `{name}`: {e}")))?;
    super::traces::prepare_chip(&mut chip, options.trace);
    // Drop rows written after the checkpoint (none unless a kill hit mid-epoch-write).
    let ep = group(path, &run, EPOCHS)?;
    let rows = schema::dataset(path, &ep, "epoch")?.shape()[0];
    if rows < epoch {
        return Err(schema::bad(
            path,
            format!("{}/epoch", ep.name()),
            format!("has {rows} rows but the checkpoint is after epoch {epoch}"),
        ));
    }
    truncate_all(path, &ep, epoch)?;
    if run.link_exists(TRACES) {
        truncate_all(path, &group(path, &run, TRACES)?, epoch)?;
    }
    let mut step_rows = 0;
    if run.link_exists(STEPS) {
        let st = group(path, &run, STEPS)?;
        let (ep_of_step, _) = schema::read_flat::<u32>(path, &st, "epoch", Some(&[]))?;
        step_rows = ep_of_step
            .iter()
            .take_while(|&&e| e as usize <= epoch)
            .count();
        truncate_all(path, &st, step_rows)?;
    }
    let a = Attr { path };
    if let Some(e) = epochs {
        spec.epochs = e;
        a.scalar(&run, "epochs", e as u64)?;
    }
    use super::hdf5::AttrValue;
    let mut resumes: Vec<u64> = match schema::read_attr(path, &run, "resumed_from_epochs") {
        Ok(AttrValue::Ints(v)) => v.into_iter().map(|x| x as u64).collect(),
        Ok(AttrValue::Int(x)) => vec![x as u64],
        _ => Vec::new(),
    };
    resumes.push(epoch as u64);
    a.array(&run, "resumed_from_epochs", &resumes)?;
    a.text(&run, "status", RunStatus::Running.name())?;
    a.text(&run, "status_message", "")?;
    if run
        .attr_names()
        .map_err(|e| h5err(path, "listing run attributes", e))?
        .iter()
        .any(|n| n == "interrupted_in_epoch")
    {
        run.delete_attr("interrupted_in_epoch")
            .map_err(|e| h5err(path, "clearing interrupted_in_epoch", e))?;
    }
    a.scalar(&run, "epochs_done", epoch as u64)?;
    let sizes = spec.sizes(&data);
    let traces = TraceWriter::reopen(
        path,
        &run,
        options.trace,
        &spec.chip,
        &spec.weight_shapes(&data),
        spec.seed,
    )?;
    file.publisher.publish(&file.file, true)?;
    let writer = RunWriter {
        inner: WriterState {
            path: path.to_path_buf(),
            file: file.file.clone(),
            publisher: file.publisher.clone(),
            name: name.to_string(),
            run: run.clone(),
            trace: options.trace,
            checkpoints: options.checkpoints,
            rows: epoch,
            step_rows,
            layers: sizes.len() - 1,
            coef: spec.chip.spec().energy.clone(),
            traces,
            last: Instant::now(),
            oracle_uses: ck.oracle_uses.clone(),
        },
    };
    Ok(Resumed {
        spec,
        options,
        data,
        chip,
        learner,
        next_epoch: epoch + 1,
        writer,
    })
}

/// Truncates every extendable dataset in `g` (and its subgroups) to `rows` rows.
fn truncate_all(path: &Path, g: &Group, rows: usize) -> Result<(), OutputError> {
    for ds in g
        .datasets()
        .map_err(|e| h5err(path, format!("listing {}", g.name()), e))?
    {
        if ds.is_resizable() {
            truncate(path, &ds, rows)?;
        }
    }
    for sub in g
        .groups()
        .map_err(|e| h5err(path, format!("listing {}", g.name()), e))?
    {
        truncate_all(path, &sub, rows)?;
    }
    Ok(())
}
