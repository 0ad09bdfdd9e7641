//! What defines the training itself (chip, network, rule, loop), checked, and how to build it.
//!
//! A [`RunSpec`] is only ever made by [`super::Settings::check`] (or read back from a file that
//! such a spec wrote); the HDF5 writer stores every field as attributes, so a file says exactly
//! what produced it.

use crate::chip::conv::Network;
use crate::chip::{
    Activation, Chip, ChipConfig, ChipModel, DecorBlocks, DecorConfig, DecorLayers, DecorPrecision,
    DecorRule, DecorThinning, InjectedNoise, NetSpec, NetSpecError,
};
use crate::data::Dataset;
use crate::learn::{Learner, Loss, OptimizerKind, RuleSpec};

/// Documented limits on settings whose cost grows without bound (docs/chip-model.md, README).
pub mod limits {
    /// Most epochs one run takes (a run of 10⁶ epochs of even the digits is ~10 days of CPU).
    pub const MAX_EPOCHS: usize = 1_000_000;
    /// Most noisy passes per sample (`--resamples`): each is a full forward pass of the batch,
    /// so the step's cost grows linearly; the papers use K ≤ 100.
    pub const MAX_RESAMPLES: usize = 1024;
}

/// One run's complete definition (besides the dataset, which is named separately).
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    /// The validated chip model (overrides applied).
    pub chip: ChipModel,
    /// The learning rule.
    pub rule: RuleSpec,
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// The network as layer kinds (`--arch`, conv layers included); None: the all-dense net of
    /// `hidden`. When set it replaces `hidden`.
    pub arch: Option<NetSpec>,
    /// Loss.
    pub loss: Loss,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f32,
    /// Decorrelation rule (used when the rule is a -D variant).
    pub decor_rule: DecorRule,
    /// Decorrelation learning rate η_R.
    pub decor_lr: f32,
    /// Decorrelator storage precision.
    pub decor_precision: DecorPrecision,
    /// Fraction of the batch's samples each R update learns from, in (0, 1].
    pub decor_sample: f32,
    /// R is updated at every `decor_every`-th step (≥ 1).
    pub decor_every: u32,
    /// Full R, or one block per physical array's input slice.
    pub decor_blocks: DecorBlocks,
    /// Which layers have a decorrelator.
    pub decor_layers: DecorLayers,
    /// Injected noise source.
    pub inject: InjectedNoise,
    /// Hidden-layer leaky-ReLU slope.
    pub leaky_slope: f32,
    /// Epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Run seed.
    pub seed: u64,
    /// Oracle diagnostics once per epoch.
    pub diagnostics: bool,
    /// Log every N steps (0: off).
    pub log_every: usize,
}

impl RunSpec {
    /// Layer widths for a dataset: input, hidden..., classes (for a conv net: input features,
    /// then nodes per sample of each layer, see [`Network::sizes`]).
    pub fn sizes(&self, data: &Dataset) -> Vec<usize> {
        if let Some(Ok(net)) = self.arch.as_ref().map(|_| self.network(data)) {
            return net.sizes();
        }
        let mut s = vec![data.features()];
        s.extend(&self.hidden);
        s.push(data.n_classes);
        s
    }

    /// The network's geometry on `data`'s image shape: `--arch`, or the dense net of `hidden`.
    pub fn network(&self, data: &Dataset) -> Result<Network, NetSpecError> {
        match &self.arch {
            Some(a) => a.resolve(data.image_shape, data.n_classes),
            None => Ok(Network::dense(&{
                let mut s = vec![data.features()];
                s.extend(&self.hidden);
                s.push(data.n_classes);
                s
            })),
        }
    }

    /// Each layer's weight matrix `(rows, cols)` on `data` (a conv layer's kernel matrix).
    pub fn weight_shapes(&self, data: &Dataset) -> Vec<(usize, usize)> {
        match self.network(data) {
            Ok(net) => net.layers().iter().map(|l| l.weight_shape()).collect(),
            Err(_) => self.sizes(data).windows(2).map(|w| (w[1], w[0])).collect(),
        }
    }

    /// The checks that need the dataset: the network spec against its image shape.
    pub fn check_data(&self, data: &Dataset) -> Result<(), String> {
        self.network(data).map(|_| ()).map_err(|e| {
            let (c, h, w) = data.image_shape;
            format!("{e} (input {c}×{h}×{w}, {} classes)", data.n_classes)
        })
    }

    /// Whether the rule will ask for oracle views (BP, NP, INP). Outputs do not use this: their
    /// `oracle` flag is the chip's own record of the views it handed out.
    pub fn is_oracle(&self) -> bool {
        self.rule.oracle_need().is_some()
    }

    /// Fabricates the chip and its controller for `data`.
    pub fn build(&self, data: &Dataset) -> (Chip, Learner) {
        let config = ChipConfig {
            sizes: self.sizes(data),
            activation: Activation::LeakyRelu {
                slope: self.leaky_slope,
            },
            decorrelation: self.rule.decorrelated.then_some(DecorConfig {
                rule: self.decor_rule,
                lr: self.decor_lr,
                precision: self.decor_precision,
                thin: DecorThinning {
                    sample: self.decor_sample,
                    every: self.decor_every,
                },
                blocks: self.decor_blocks,
                layers: self.decor_layers,
            }),
            injected: self.inject,
            seed: self.seed,
        };
        let net = self
            .network(data)
            .expect("checked by RunSpec::check_data before the run is built");
        let mut chip = Chip::build_net(&self.chip, config, net);
        let learner = Learner::new(&chip.port(), self.rule, self.loss, self.optimizer, self.lr);
        (chip, learner)
    }

    /// The loop settings.
    pub fn loop_config(&self) -> crate::train::LoopConfig {
        crate::train::LoopConfig {
            epochs: self.epochs,
            batch: self.batch,
            seed: self.seed,
            diagnostics: self.diagnostics,
            log_every: self.log_every,
        }
    }
}
