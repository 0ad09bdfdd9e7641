//! The training loop: epochs of shuffled mini-batches through a [`Learner`], evaluation on the
//! test set through the chip's own (noisy) forward pass, and a record per epoch.
//!
//! The loop owns no output format: an [`Observer`] receives every epoch (the HDF5 writer and
//! the terminal are observers), so the same loop serves `train`, `sweep` and the tests.

use crate::chip::energy::LayerCounters;
use crate::chip::{Chip, ForwardTrace, Pass, Phase};
use crate::data::{Dataset, Split};
use crate::learn::{diagnostics, Learner, RuleError};
use crate::rng::{Purpose, Stream};
use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A cancellation handle: clones share one flag; the loop checks it after every batch and
/// stops there, so the epoch in progress is reported as interrupted and every finished one is
/// kept. The library installs no signal handler: the CLI wires Ctrl-C to [`Cancel::cancel`],
/// the Python package calls it when `py.check_signals()` reports one.
#[derive(Clone, Debug, Default)]
pub struct Cancel(std::sync::Arc<AtomicBool>);

impl Cancel {
    /// A handle not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop after its current batch; returns whether it had been asked before.
    pub fn cancel(&self) -> bool {
        self.0.swap(true, Ordering::SeqCst)
    }

    /// Whether [`Cancel::cancel`] was called on this handle or a clone.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The flag itself, as [`run`] takes it.
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }
}

/// Loop settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopConfig {
    /// Epochs to run (in total, counting epochs already done when resuming).
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Run seed (shuffling streams derive from it).
    pub seed: u64,
    /// Compute oracle diagnostics (alignment, decorrelation quality) once per epoch.
    pub diagnostics: bool,
    /// Also report every N steps (0: per epoch only).
    pub log_every: usize,
}

/// What one epoch measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss (first pass of each step).
    pub train_loss: f64,
    /// Training accuracy (first pass of each step, before that step's update).
    pub train_acc: f64,
    /// Test loss through the chip's forward pass.
    pub test_loss: f64,
    /// Test accuracy through the chip's forward pass.
    pub test_acc: f64,
    /// Training samples processed.
    pub samples: usize,
    /// Samples with ‖δa‖² = 0 that gave no update.
    pub skipped: usize,
    /// Wall time of the training part of the epoch, s.
    pub train_seconds: f64,
    /// Training counters of this epoch, per layer and phase (evaluation excluded).
    pub counters: Vec<LayerCounters>,
    /// Evaluation counters of this epoch.
    pub eval_counters: Vec<LayerCounters>,
    /// Per layer, ‖ΔW‖ of the last step (the change requested of the programming circuit).
    pub update_norms: Vec<f32>,
    /// Per layer, cosine of the rule's estimate with the true gradient (oracle diagnostic).
    pub alignment: Option<Vec<f32>>,
    /// Per layer, mean |off-diagonal correlation| of its inputs (diagnostic).
    pub decorrelation: Option<Vec<f32>>,
    /// Whether the epoch was cut short by an interrupt.
    pub interrupted: bool,
}

/// A logged step (with `log_every`).
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// Global step number (1-based).
    pub step: u64,
    /// Epoch it belongs to.
    pub epoch: usize,
    /// Mean loss over the steps since the last log.
    pub loss: f64,
    /// Accuracy over the steps since the last log.
    pub acc: f64,
}

/// Receives records as training goes.
pub trait Observer {
    /// After each finished epoch (and after an interrupted one, with `interrupted` set).
    fn epoch(&mut self, record: &EpochRecord, chip: &Chip, learner: &Learner)
        -> anyhow::Result<()>;
    /// Every `log_every` steps.
    fn step(&mut self, _record: &StepRecord) -> anyhow::Result<()> {
        Ok(())
    }
    /// After each batch: samples done in this epoch, running loss and accuracy.
    fn progress(&mut self, _done: usize, _total: usize, _loss: f64, _acc: f64) {}
}

/// Why training stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The rule could not run on this chip.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// Loss or activations became NaN/inf.
    #[error("diverged in epoch {epoch} at step {step}: loss is {loss}")]
    Diverged {
        /// Epoch.
        epoch: usize,
        /// Step within the run.
        step: u64,
        /// The loss value.
        loss: f64,
    },
    /// An observer (output) failed.
    #[error("output: {0:#}")]
    Output(anyhow::Error),
}

/// Runs epochs `first_epoch..=cfg.epochs`; stops after the current batch when `stop` is set.
pub fn run(
    cfg: &LoopConfig,
    chip: &mut Chip,
    learner: &mut Learner,
    data: &Dataset,
    first_epoch: usize,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Vec<EpochRecord>, TrainError> {
    let n = data.train.len();
    let batch = cfg.batch.min(n).max(1);
    let steps_per_epoch = n / batch;
    let mut x = DMatrix::zeros(0, 0);
    let mut t = DMatrix::zeros(0, 0);
    let mut order: Vec<usize> = (0..n).collect();
    let mut records = Vec::new();
    let mut step = (first_epoch.saturating_sub(1) * steps_per_epoch) as u64;
    for epoch in first_epoch..=cfg.epochs {
        let _span = tracing::info_span!("epoch", epoch).entered();
        // Each epoch's order comes from its own stream: resuming at epoch k needs no history.
        order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
        order.shuffle(&mut Stream::new(cfg.seed, epoch as u64, Purpose::Shuffle).next_rng());
        let before = chip.counters();
        let started = Instant::now();
        let (mut loss_sum, mut correct, mut seen, mut skipped) = (0.0, 0usize, 0usize, 0usize);
        let (mut log_loss, mut log_correct, mut log_seen) = (0.0, 0usize, 0usize);
        let mut interrupted = false;
        for s in 0..steps_per_epoch {
            let idx = &order[s * batch..(s + 1) * batch];
            data.train.gather(idx, &mut x);
            data.train.one_hot(idx, data.n_classes, &mut t);
            let st = train_step(chip, learner, &x, &t)?;
            step += 1;
            if !st.loss.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    step,
                    loss: st.loss,
                });
            }
            loss_sum += st.loss * batch as f64;
            correct += st.correct;
            seen += batch;
            skipped += st.skipped;
            log_loss += st.loss * batch as f64;
            log_correct += st.correct;
            log_seen += batch;
            observer.progress(
                seen,
                steps_per_epoch * batch,
                loss_sum / seen as f64,
                correct as f64 / seen as f64,
            );
            if cfg.log_every > 0 && step.is_multiple_of(cfg.log_every as u64) {
                let rec = StepRecord {
                    step,
                    epoch,
                    loss: log_loss / log_seen as f64,
                    acc: log_correct as f64 / log_seen as f64,
                };
                observer.step(&rec).map_err(TrainError::Output)?;
                (log_loss, log_correct, log_seen) = (0.0, 0, 0);
            }
            if stop.load(Ordering::SeqCst) {
                interrupted = true;
                break;
            }
        }
        let train_seconds = started.elapsed().as_secs_f64();
        if skipped > 0 {
            tracing::warn!(skipped, "samples gave no update: their perturbation ‖δa‖² was 0 (no noise reached the measured activations: none configured, below the ADC step or f32 resolution, or a saturated ADC; the warnings before training name the likely cause)");
        }
        let after = chip.counters();
        let counters = diff(&after, &before);
        let (alignment, decorrelation) = if cfg.diagnostics && seen > 0 {
            let idx = &order[..batch];
            data.train.gather(idx, &mut x);
            data.train.one_hot(idx, data.n_classes, &mut t);
            // On a twin of the chip: the run it observes is left bit for bit as it was.
            let a = diagnostics::alignment(&learner.rule, chip, &x, &t, learner.loss);
            let d = diagnostics::decorrelation_quality(&learner.ws.first);
            (Some(a), Some(d))
        } else {
            (None, None)
        };
        let eval_before = chip.counters();
        let (test_loss, test_acc) = evaluate(chip, &data.test, data.n_classes, batch, learner.loss);
        let eval_counters = diff(&chip.counters(), &eval_before);
        let rec = EpochRecord {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct as f64 / seen.max(1) as f64,
            test_loss,
            test_acc,
            samples: seen,
            skipped,
            train_seconds,
            counters,
            eval_counters,
            update_norms: learner.grads.w.iter().map(|w| w.norm()).collect(),
            alignment,
            decorrelation,
            interrupted,
        };
        tracing::debug!(
            epoch,
            train_acc = rec.train_acc,
            test_acc = rec.test_acc,
            loss = rec.train_loss,
            "epoch done"
        );
        observer
            .epoch(&rec, chip, learner)
            .map_err(TrainError::Output)?;
        records.push(rec);
        if interrupted {
            break;
        }
    }
    Ok(records)
}

/// One training step: the learner drives the chip through its port (all a rule gets), then
/// the chip clock advances by one step's time (drifting devices; the lab's business).
pub fn train_step(
    chip: &mut Chip,
    learner: &mut Learner,
    x: &DMatrix<f32>,
    targets: &DMatrix<f32>,
) -> Result<crate::learn::BatchStats, RuleError> {
    let stats = learner.step(&mut chip.port(), x, targets)?;
    let dt = chip.step_time_s();
    if dt > 0.0 {
        chip.advance_time(dt);
    }
    Ok(stats)
}

fn diff(after: &[LayerCounters], before: &[LayerCounters]) -> Vec<LayerCounters> {
    after
        .iter()
        .zip(before)
        .map(|(a, b)| {
            LayerCounters(std::array::from_fn(|p| {
                crate::chip::Counters::from_array(std::array::from_fn(|k| {
                    a.0[p].to_array()[k] - b.0[p].to_array()[k]
                }))
            }))
        })
        .collect()
}

/// Test loss and accuracy through the chip's clean forward pass (read noise included).
pub fn evaluate(
    chip: &mut Chip,
    split: &Split,
    n_classes: usize,
    batch: usize,
    loss: crate::learn::Loss,
) -> (f64, f64) {
    let mut trace = ForwardTrace::default();
    let (mut x, mut t, mut l) = (DMatrix::zeros(0, 0), DMatrix::zeros(0, 0), Vec::new());
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let idx: Vec<usize> = (0..split.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        split.gather(chunk, &mut x);
        split.one_hot(chunk, n_classes, &mut t);
        chip.forward(&x, Pass::Clean, Phase::Inference, &mut trace);
        loss.per_sample(trace.output(), &t, &mut l);
        loss_sum += l.iter().map(|&v| v as f64).sum::<f64>();
        correct += crate::learn::loss::correct(trace.output(), &t);
    }
    let n = split.len().max(1) as f64;
    (loss_sum / n, correct as f64 / n)
}
