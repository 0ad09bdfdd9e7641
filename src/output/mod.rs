//! Output: the terminal, HDF5 result files, reports.

mod checkpoint;
pub mod hdf5;
pub mod html;
pub mod merge;
pub mod out_path;
pub mod plots;
pub mod probe;
pub mod progress;
mod publish;
mod reader;
pub mod report;
mod resume;
mod runattrs;
mod schema;
mod traces;
mod writer;

use crate::chip::Chip;
use crate::cli::TrainArgs;
use crate::learn::Learner;
use crate::run::RunSpec;
use crate::train::{EpochRecord, Observer, StepRecord, TrainError};
use hdf5::{ResultFile, RunOptions, RunStatus, RunWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// How much hardware detail goes into the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum TraceLevel {
    /// Learning curves and counters only.
    None,
    /// Plus per-layer histograms (conductances, pulse counts, ADC inputs) per epoch.
    #[default]
    Summary,
    /// Plus per-device pulse totals and sampled conductance snapshots per epoch.
    Full,
}

/// Sets a flag on the first Ctrl-C so the loop finishes its batch and the file closes cleanly;
/// a second Ctrl-C exits at once.
pub fn install_interrupt() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if s.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupted: finishing this batch and closing the file (Ctrl-C again to abort)"
        );
    });
    stop
}

/// Passes every record to two observers in turn (the file first, so a line on the terminal
/// means the epoch is on disk).
pub struct Tee<'a>(pub &'a mut dyn Observer, pub &'a mut dyn Observer);

impl Observer for Tee<'_> {
    fn epoch(&mut self, r: &EpochRecord, chip: &Chip, learner: &Learner) -> anyhow::Result<()> {
        self.0.epoch(r, chip, learner)?;
        self.1.epoch(r, chip, learner)
    }

    fn step(&mut self, r: &StepRecord) -> anyhow::Result<()> {
        self.0.step(r)?;
        self.1.step(r)
    }

    fn progress(&mut self, done: usize, total: usize, loss: f64, acc: f64) {
        self.0.progress(done, total, loss, acc);
        self.1.progress(done, total, loss, acc);
    }
}

/// The command line as typed (for the file's `command_line` attribute).
pub fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.contains(char::is_whitespace) || a.is_empty() {
                format!("'{a}'")
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `runs/<rule>-<chip>-s<seed>-<UTC time>.h5`.
fn default_path(spec: &RunSpec) -> PathBuf {
    let t: String = writer::now()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    PathBuf::from("runs").join(format!(
        "{}-{}-s{}-{t}.h5",
        spec.rule,
        spec.chip.spec().name,
        spec.seed
    ))
}

/// `--epochs` as given, or None when it was left at its default (resume keeps the stored total).
fn explicit_epochs(args: &TrainArgs) -> Option<usize> {
    use clap::Args as _;
    let cmd = TrainArgs::augment_args(clap::Command::new("train"));
    let default = cmd
        .get_arguments()
        .find(|a| a.get_id() == "epochs")
        .and_then(|a| {
            a.get_default_values()
                .first()
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse().ok())
        });
    (Some(args.epochs) != default).then_some(args.epochs)
}

/// `npchip train`: runs, writing one run `run0` to a new HDF5 file (or continuing the run in
/// the `--resume` file), and prints where the results went.
pub fn train_to_file(args: &TrainArgs, quiet: bool) -> anyhow::Result<()> {
    let stop = install_interrupt();
    if let Some(path) = &args.resume {
        return resume_file(path, args, quiet, &stop);
    }
    let spec = args.to_spec()?;
    let data = args.dataset()?;
    let path = args.out.clone().unwrap_or_else(|| default_path(&spec));
    crate::cli::preflight_train(&spec, &data, &path)?;
    let file = ResultFile::create(&path, args.force, &command_line())?;
    let opts = RunOptions {
        data_spec: args.data.clone(),
        train_samples: args.train_samples,
        test_samples: args.test_samples,
        trace: args.trace,
        checkpoints: true,
    };
    let mut writer = file.add_run("run0", &spec, &data, &opts)?;
    let (mut chip, mut learner) = spec.build(&data);
    writer.prepare_chip(&mut chip);
    tracing::info!(file = %path.display(), "writing results");
    let mut term = progress::Terminal::new(quiet, &spec, &data);
    let result = crate::train::run(
        &spec.loop_config(),
        &mut chip,
        &mut learner,
        &data,
        1,
        &mut Tee(&mut writer, &mut term),
        &stop,
    );
    conclude(file, writer, result)
}

fn resume_file(
    path: &Path,
    args: &TrainArgs,
    quiet: bool,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    probe::check(path)?;
    let file = ResultFile::open_append(path)?;
    let names = file.run_names()?;
    let name = match names.as_slice() {
        [one] => one.clone(),
        [] => anyhow::bail!("{}: cannot resume: the file has no run", path.display()),
        many => anyhow::bail!("{}: cannot resume: the file has {} runs ({}); `train --resume` continues a single-run file", path.display(), many.len(), many.join(", ")),
    };
    let r = file.resume_run(&name, explicit_epochs(args))?;
    let (spec, data, mut chip, mut learner, mut writer) =
        (r.spec, r.data, r.chip, r.learner, r.writer);
    tracing::info!(file = %path.display(), run = name.as_str(), from_epoch = r.next_epoch, to_epoch = spec.epochs, "resuming");
    let mut term = progress::Terminal::new(quiet, &spec, &data);
    let result = crate::train::run(
        &spec.loop_config(),
        &mut chip,
        &mut learner,
        &data,
        r.next_epoch,
        &mut Tee(&mut writer, &mut term),
        stop,
    );
    conclude(file, writer, result)
}

/// Writes the run's final status, closes the file, says where it is; returns the training
/// error, if any, after the file is safe.
fn conclude(
    file: ResultFile,
    writer: RunWriter,
    result: Result<Vec<EpochRecord>, TrainError>,
) -> anyhow::Result<()> {
    let status = RunStatus::of(&result);
    let (run, done) = (writer.group_path(), writer.epochs_written());
    writer.finish(status.clone())?;
    let path = file.path().to_path_buf();
    file.close()?;
    println!(
        "{}: {run} {status}, {done} epoch{} in the file",
        path.display(),
        if done == 1 { "" } else { "s" }
    );
    match result {
        // Interrupted is not success: the exit status says so (as `sweep` does), and the
        // message says what the file holds and how to go on.
        Ok(records) if status == RunStatus::Interrupted => {
            let epoch = records.last().map_or(0, |r| r.epoch);
            anyhow::bail!(
                "interrupted (Ctrl-C) in epoch {epoch}: run {run} in {} holds the {done} finished epoch{}; continue with: npchip train --resume {}",
                path.display(),
                if done == 1 { "" } else { "s" },
                path.display()
            )
        }
        Ok(_) => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("run {run} in {}", path.display()))),
    }
}
