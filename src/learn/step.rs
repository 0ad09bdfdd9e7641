//! One training step on the chip: estimate → decorrelate → optimiser → programming pulses.

use super::estimator::{estimate, BatchStats, Gradients, RuleError, Workspace};
use super::loss::Loss;
use super::optim::{ops_per_param, Optimizer, OptimizerKind};
use super::rule::RuleSpec;
use crate::chip::{Chip, Oracle, Phase};
use nalgebra::DMatrix;

/// A learning controller: rule, loss, optimiser, and the buffers it reuses.
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
    oracle: Option<Oracle>,
}

impl Learner {
    /// A controller for `chip`. Oracle rules get their oracle view here, which the chip records.
    pub fn new(
        chip: &mut Chip,
        rule: RuleSpec,
        loss: Loss,
        optimizer: OptimizerKind,
        lr: f32,
    ) -> Self {
        let shapes: Vec<(usize, usize)> = chip.sizes().windows(2).map(|w| (w[1], w[0])).collect();
        let oracle = rule.oracle_need().map(|why| chip.oracle(why));
        Learner {
            rule,
            loss,
            optimizer: Optimizer::new(optimizer, lr, &shapes),
            ws: Workspace::default(),
            grads: Gradients::default(),
            oracle,
        }
    }

    /// One step on a batch: returns what the first pass measured.
    pub fn step(
        &mut self,
        chip: &mut Chip,
        x: &DMatrix<f32>,
        targets: &DMatrix<f32>,
    ) -> Result<BatchStats, RuleError> {
        let stats = estimate(
            &self.rule,
            chip,
            self.oracle.as_ref(),
            x,
            targets,
            self.loss,
            &mut self.ws,
            &mut self.grads,
        )?;
        if self.rule.decorrelated {
            for l in 0..chip.depth() {
                chip.decorrelate(l, &self.ws.first.inputs()[l]);
            }
        }
        self.optimizer.begin_step();
        let per = ops_per_param(self.optimizer.kind);
        for l in 0..chip.depth() {
            let (gw, gb) = (&mut self.grads.w[l], &mut self.grads.b[l]);
            self.optimizer.delta(l, gw, gb);
            chip.count_digital(l, Phase::Update, per * (gw.len() + gb.len()) as u64);
            chip.update_layer(l, gw, gb);
        }
        let dt = chip.step_time_s();
        if dt > 0.0 {
            chip.advance_time(dt);
        }
        Ok(stats)
    }
}
