//! The worker pool: one run per worker at a time, every HDF5 call behind one lock.
//!
//! Runs are independent (own chip, own learner, own RNG streams), so workers only share the
//! read-only dataset, a counter of the next job, and the result file. Each worker pins its
//! matrix products to `threads` threads ([`crate::linalg::set_threads`]): N workers × 1 thread
//! beats 1 run × N threads at the small shapes of a sweep, and a run's numbers depend only on
//! its own thread count, not on what else runs.
//!
//! The rule that matters: **a failing run never stops the others.** An error or a panic in a
//! run is caught and written as that run's status (`failed` / `diverged` with the message);
//! only the failure to write the file itself is fatal, and even then the other workers finish
//! their current run first.
//!
//! HDF5 is written from the workers (the writer needs the chip, which lives on the worker), but
//! never concurrently: every call into the [`ResultFile`] or a [`RunWriter`] holds `io`, so the
//! file sees one complete operation at a time whether or not libhdf5 is thread-safe.

use super::grid::GridPoint;
use super::record;
use crate::data::Dataset;
use crate::output::hdf5::{ResultFile, RunOptions, RunStatus, RunWriter};
use crate::run::RunSpec;
use crate::train::{EpochRecord, Observer, StepRecord, TrainError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// One run to do.
#[derive(Clone, Debug)]
pub struct Job {
    /// Group name in the file.
    pub name: String,
    /// Its grid coordinates.
    pub point: GridPoint,
    /// Its definition.
    pub spec: RunSpec,
}

/// How a job ended.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The job's grid index.
    pub index: usize,
    /// Group name.
    pub name: String,
    /// Status as written (or as it would have been, if writing failed).
    pub status: RunStatus,
    /// Test accuracy of the last finished epoch.
    pub test_acc: Option<f64>,
    /// Wall time, s.
    pub seconds: f64,
    /// The file could not be written for this run (the status may be missing in the file).
    pub write_error: Option<String>,
}

/// Shared state of the pool.
pub struct Pool<'a> {
    /// The result file; touch only while holding `io`.
    pub file: &'a ResultFile,
    /// The shared, read-only data.
    pub data: &'a Dataset,
    /// Output options of every run.
    pub opts: &'a RunOptions,
    /// Threads per run for the matrix products.
    pub threads: usize,
    /// Set by Ctrl-C: runs stop after their batch, queued runs do not start.
    pub stop: &'a AtomicBool,
    /// Called (under no lock) after each job with (done, total, result).
    pub on_finish: &'a (dyn Fn(usize, usize, &Finished) + Sync),
}

fn lock(io: &Mutex<()>) -> MutexGuard<'_, ()> {
    // A panic while holding the lock poisons it; the file itself is still consistent (every
    // HDF5 call completed or failed), so carry on.
    io.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `jobs` on `workers` threads; returns one result per started job, in index order.
pub fn run_all(jobs: &[Job], workers: usize, pool: &Pool) -> Vec<Finished> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let io = Mutex::new(());
    let results = Mutex::new(Vec::with_capacity(jobs.len()));
    std::thread::scope(|s| {
        for w in 0..workers.clamp(1, jobs.len().max(1)) {
            let (next, done, io, results) = (&next, &done, &io, &results);
            std::thread::Builder::new()
                .name(format!("sweep-worker-{w}"))
                .spawn_scoped(s, move || {
                    crate::linalg::set_threads(pool.threads);
                    loop {
                        if pool.stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(job) = jobs.get(i) else { break };
                        let f = run_one(job, pool, io);
                        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                        (pool.on_finish)(n, jobs.len(), &f);
                        results.lock().unwrap_or_else(|e| e.into_inner()).push(f);
                    }
                })
                .expect("spawning a sweep worker thread");
        }
    });
    let mut r = results.into_inner().unwrap_or_else(|e| e.into_inner());
    r.sort_by_key(|f| f.index);
    r
}

/// An observer that forwards to the run's writer under the file lock and remembers the last
/// test accuracy.
struct Locked<'a> {
    writer: &'a mut RunWriter,
    io: &'a Mutex<()>,
    test_acc: Option<f64>,
}

impl Observer for Locked<'_> {
    fn epoch(
        &mut self,
        record: &EpochRecord,
        chip: &crate::chip::Chip,
        learner: &crate::learn::Learner,
    ) -> Result<(), crate::train::ObserverError> {
        self.test_acc = Some(record.test_acc);
        let _g = lock(self.io);
        self.writer.epoch(record, chip, learner)
    }

    fn step(&mut self, record: &StepRecord) -> Result<(), crate::train::ObserverError> {
        let _g = lock(self.io);
        self.writer.step(record)
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn run_one(job: &Job, pool: &Pool, io: &Mutex<()>) -> Finished {
    let started = Instant::now();
    let mut fin = Finished {
        index: job.point.index,
        name: job.name.clone(),
        status: RunStatus::Running,
        test_acc: None,
        seconds: 0.0,
        write_error: None,
    };
    let added = {
        let _g = lock(io);
        pool.file
            .add_run(&job.name, &job.spec, pool.data, pool.opts)
            .map_err(super::SweepError::from)
            .and_then(|w| {
                record::write_point(pool.file, &w.group_path(), &job.point)?;
                Ok(w)
            })
    };
    let mut writer = match added {
        Ok(w) => w,
        Err(e) => {
            fin.status = RunStatus::Failed(format!("could not add the run to the file: {e}"));
            fin.write_error = Some(e.to_string());
            fin.seconds = started.elapsed().as_secs_f64();
            return fin;
        }
    };
    let mut obs = Locked {
        writer: &mut writer,
        io,
        test_acc: None,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let (mut chip, mut learner) = job.spec.build(pool.data);
        obs.writer.prepare_chip(&mut chip);
        crate::train::run(
            &job.spec.loop_config(),
            &mut chip,
            &mut learner,
            pool.data,
            1,
            &mut obs,
            pool.stop,
        )
    }));
    fin.test_acc = obs.test_acc;
    fin.status = match outcome {
        Ok(Ok(records)) if records.last().is_some_and(|r| r.interrupted) => RunStatus::Interrupted,
        Ok(Ok(records)) if records.len() < job.spec.epochs && pool.stop.load(Ordering::SeqCst) => {
            RunStatus::Interrupted
        }
        Ok(Ok(_)) => RunStatus::Completed,
        Ok(Err(e @ TrainError::Diverged { .. })) => RunStatus::Diverged(e.to_string()),
        Ok(Err(e)) => RunStatus::Failed(format!("{e:#}")),
        Err(p) => RunStatus::Failed(format!("panicked: {}", panic_text(p.as_ref()))),
    };
    let _g = lock(io);
    if let Err(e) = writer.finish(fin.status.clone()) {
        fin.write_error = Some(format!("{e:#}"));
    }
    fin.seconds = started.elapsed().as_secs_f64();
    fin
}
