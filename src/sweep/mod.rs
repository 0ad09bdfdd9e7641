//! `npchip sweep`: a grid of training runs over weight precision, read and programming noise,
//! rule, learning rate and seed, run in parallel into one HDF5 file (a group per run).
//!
//! Stages, in order: [`plan`] (a typed [`SweepPlan`]: axes, raw shared settings, shard, jobs;
//! the CLI makes it from its flags, [`file`] adds a sweep TOML under them) → [`grid`] (axes →
//! points → each point's settings through [`crate::run::Settings::check`] into a
//! [`crate::run::RunSpec`]; everything is checked before anything runs) → [`worker`] (runs in parallel, one per worker, a failing run recorded and the others
//! going on) → [`record`] (the grid's definition and each run's coordinates as attributes, so
//! `npchip merge` can join shards and refuse mismatched ones). With `--slurm N`, [`slurm`]
//! writes a Slurm job array for the checked grid instead of running it.
//!
//! Exit status: 0 when every run completed; 1 when any run failed, diverged or was interrupted
//! (all are recorded in the file with their message) or the sweep could not start; 130 on a
//! second Ctrl-C.

pub mod error;
pub mod file;
pub mod grid;
pub mod plan;
pub mod record;
pub mod slurm;
pub mod worker;

pub use error::SweepError;
pub use plan::{AxisLists, Shard, SlurmPlan, SweepPlan};

use crate::output::hdf5::{ResultFile, RunOptions, RunStatus};
use grid::Grid;
use std::path::PathBuf;
use worker::{Finished, Job, Pool};

/// What a finished sweep did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The file written.
    pub path: PathBuf,
    /// One entry per started run, in grid order.
    pub runs: Vec<Finished>,
    /// Runs of this shard that never started (Ctrl-C).
    pub not_started: usize,
}

impl Summary {
    /// Runs that did not complete (failed, diverged, interrupted) plus runs that never started.
    pub fn unsuccessful(&self) -> usize {
        self.runs
            .iter()
            .filter(|f| f.status != RunStatus::Completed || f.write_error.is_some())
            .count()
            + self.not_started
    }
}

impl Summary {
    /// `sweep: N runs in FILE: a completed, b failed, ...` (the CLI prints it).
    pub fn line(&self) -> String {
        let count = |name: &str| self.runs.iter().filter(|f| f.status.name() == name).count();
        format!(
            "sweep: {} run{} in {}: {} completed, {} failed, {} diverged, {} interrupted{}",
            self.runs.len(),
            if self.runs.len() == 1 { "" } else { "s" },
            self.path.display(),
            count("completed"),
            count("failed"),
            count("diverged"),
            count("interrupted"),
            if self.not_started > 0 {
                format!(", {} not started", self.not_started)
            } else {
                String::new()
            }
        )
    }

    /// The error for a sweep in which some run did not complete (None: all did).
    pub fn failure(&self) -> Option<SweepError> {
        match self.unsuccessful() {
            0 => None,
            n => Some(SweepError::Refused(format!(
                "{n} of {} run{} did not complete; each is recorded in {} with its status and message (`npchip report {}`)",
                self.runs.len() + self.not_started,
                if self.runs.len() + self.not_started == 1 { "" } else { "s" },
                self.path.display(),
                self.path.display()
            ))),
        }
    }
}

/// Resolves, validates and runs the sweep; `Err` only when it could not start or the file
/// could not be written. Per-run outcomes are in the [`Summary`].
pub fn execute(plan: &SweepPlan) -> Result<Summary, SweepError> {
    execute_cancellable(plan, &crate::run::Cancel::new())
}

/// Runs the sweep and fails, as `npchip sweep` does, when any run did not complete.
pub fn run(plan: &SweepPlan) -> Result<Summary, SweepError> {
    let s = execute(plan)?;
    match s.failure() {
        None => Ok(s),
        Some(e) => Err(e),
    }
}

/// [`execute`], stopping every run after its batch (and starting no more) once `cancel` is
/// cancelled.
pub fn execute_cancellable(
    f: &SweepPlan,
    cancel: &crate::run::Cancel,
) -> Result<Summary, SweepError> {
    let grid = Grid::build(f)?;
    let train = f.train.check().map_err(|violations| SweepError::Settings {
        origin: f.origin.clone(),
        violations,
    })?;
    if grid.runs.is_empty() {
        return Err(SweepError::Grid(format!(
            "shard {} of a {}-point grid has no points; use at most {} shards",
            f.shard.map(|s| s.to_string()).unwrap_or_default(),
            grid.total,
            grid.total
        )));
    }
    // One dataset for all runs, drawn with --seed: seeds vary the chip and the training only.
    let data = crate::run::dataset(&train)?;
    let path = train.out.clone().unwrap_or_else(|| default_out(f.shard));
    crate::output::out_path::check_out_path(&path, "--out").map_err(SweepError::Refused)?;
    // Refused before the file exists: the largest run, as many times as runs are held at once.
    let at_once = f
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, grid.runs.len());
    crate::run::preflight::check_sweep_memory(grid.runs.iter().map(|(_, s)| s), &data, at_once)
        .map_err(SweepError::Refused)?;
    let file = ResultFile::create(&path, train.force, &command_line())?;
    // One file for many runs: rewriting it after every epoch of every run would be quadratic.
    file.throttle_publishing();
    record::write_grid(&file, &grid, f.shard)?;
    file.flush()?;
    let opts = RunOptions {
        data_spec: train.data_text.clone(),
        train_samples: train.train_samples,
        test_samples: train.test_samples,
        trace: train.trace,
        // Sweeps are not resumed run by run; checkpoints would only grow the file.
        checkpoints: false,
    };
    let total = grid.runs.len();
    let jobs: Vec<Job> = grid
        .runs
        .into_iter()
        .map(|(point, spec)| Job {
            name: point.run_name(grid.total),
            point,
            spec,
        })
        .collect();
    let workers = f
        .jobs
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .clamp(1, total);
    let threads = if train.threads == 0 { 1 } else { train.threads };
    tracing::info!(runs = total, grid = grid.total, workers, threads_per_run = threads, file = %path.display(), "sweep{}", f.shard.map(|s| format!(" shard {s}")).unwrap_or_default());
    let on_finish = |done: usize, total: usize, r: &Finished| {
        let acc = r
            .test_acc
            .map(|a| format!(", test {:.2}%", 100.0 * a))
            .unwrap_or_default();
        let job = jobs
            .iter()
            .find(|j| j.point.index == r.index)
            .map(|j| j.point.label())
            .unwrap_or_default();
        let oracle = jobs
            .iter()
            .find(|j| j.point.index == r.index)
            .is_some_and(|j| j.spec.is_oracle());
        let line = format!(
            "[{done}/{total}] {} ({job}{}): {}{acc}, {:.1} s",
            r.name,
            if oracle { ", oracle" } else { "" },
            r.status,
            r.seconds
        );
        match (&r.status, &r.write_error) {
            (RunStatus::Completed, None) => tracing::info!("{line}"),
            (_, None) => tracing::warn!("{line}"),
            (_, Some(e)) => tracing::error!("{line}; could not write the file: {e}"),
        }
    };
    let pool = Pool {
        file: &file,
        data: &data,
        opts: &opts,
        threads,
        stop: cancel.flag(),
        on_finish: &on_finish,
    };
    let runs = worker::run_all(&jobs, workers, &pool);
    file.close()?;
    if let Some(e) = runs.iter().find_map(|f| f.write_error.as_ref()) {
        return Err(SweepError::Refused(format!(
            "{}: the result file could not be written: {e}",
            path.display()
        )));
    }
    Ok(Summary {
        path,
        not_started: total - runs.len(),
        runs,
    })
}

/// The command line as typed, for the file's `command_line` attribute.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `runs/sweep-<UTC time>[-shardKofN].h5`.
fn default_out(shard: Option<Shard>) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    let stamp = format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    let shard = shard
        .map(|s| format!("-shard{}of{}", s.k, s.n))
        .unwrap_or_default();
    PathBuf::from(format!("runs/sweep-{stamp}{shard}.h5"))
}
