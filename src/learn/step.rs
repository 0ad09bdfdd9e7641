//! One training step through the chip's port: estimate → decorrelate → optimiser → pulses.

use super::estimator::{estimate, BatchStats, Gradients, RuleError, Workspace};
use super::loss::Loss;
use super::optim::{ops_per_param, Optimizer, OptimizerKind};
use super::rule::RuleSpec;
use crate::chip::{Phase, Port};
use nalgebra::DMatrix;
use std::time::{Duration, Instant};

/// Wall time a [`Learner`]'s steps spent in each of their parts, summed over steps: what a
/// benchmark splits the step time by (simulation cost, not chip time).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepTimes {
    /// The estimate: every forward pass (with their R·h products) and the rule's arithmetic.
    pub estimate: Duration,
    /// The decorrelators' updates of R (what `decor_sample` and `decor_every` thin).
    pub decorrelate: Duration,
    /// Optimiser and pulses.
    pub update: Duration,
}

/// A learning controller: rule, loss, optimiser, and the buffers it reuses. It holds no view
/// of the chip between steps: each step gets the [`Port`] anew, and an oracle rule asks that
/// port for its view inside the step (the chip records it).
pub struct Learner {
    /// The rule.
    pub rule: RuleSpec,
    /// The loss.
    pub loss: Loss,
    /// Optimiser state.
    pub optimizer: Optimizer,
    /// Reused buffers (its `first` trace holds the last step's pass (1)).
    pub ws: Workspace,
    /// Last step's gradient estimates (then the applied changes).
    pub grads: Gradients,
    /// Wall time per part of the steps so far (reset it to time a stretch of steps).
    pub times: StepTimes,
}

impl Learner {
    /// A controller for the chip behind `port` (only its weight shapes are read).
    pub fn new(
        port: &Port<'_>,
        rule: RuleSpec,
        loss: Loss,
        optimizer: OptimizerKind,
        lr: f32,
    ) -> Self {
        let shapes: Vec<(usize, usize)> = (0..port.depth()).map(|l| port.weight_shape(l)).collect();
        Learner {
            rule,
            loss,
            optimizer: Optimizer::new(optimizer, lr, &shapes),
            ws: Workspace::default(),
            grads: Gradients::default(),
            times: StepTimes::default(),
        }
    }

    /// One step on a batch: returns what the first pass measured. The chip clock (drift) is
    /// the lab's business: [`crate::train::train_step`] advances it after the step.
    pub fn step(
        &mut self,
        port: &mut Port<'_>,
        x: &DMatrix<f32>,
        targets: &DMatrix<f32>,
    ) -> Result<BatchStats, RuleError> {
        let t0 = Instant::now();
        let stats = estimate(
            &self.rule,
            port,
            x,
            targets,
            self.loss,
            &mut self.ws,
            &mut self.grads,
        )?;
        let t1 = Instant::now();
        if self.rule.decorrelated {
            for l in 0..port.depth() {
                port.decorrelate(l, &self.ws.first.inputs()[l]);
            }
        }
        let t2 = Instant::now();
        self.optimizer.begin_step();
        let per = ops_per_param(self.optimizer.kind);
        for l in 0..port.depth() {
            let (gw, gb) = (&mut self.grads.w[l], &mut self.grads.b[l]);
            self.optimizer.delta(l, gw, gb);
            port.count_digital(l, Phase::Update, per * (gw.len() + gb.len()) as u64);
            port.update_layer(l, gw, gb);
        }
        self.times.estimate += t1 - t0;
        self.times.decorrelate += t2 - t1;
        self.times.update += t2.elapsed();
        Ok(stats)
    }
}
