//! The oracle view: what only a simulator can see (programmed weights, injected-noise samples,
//! a noise-free float forward pass). Backprop, classic NP and INP, and the alignment
//! diagnostics need it; physical rules (ANP and its noisy–noisy form) never ask for one.
//!
//! An [`Oracle`] is a borrow of one chip: only [`super::Port::oracle`] (for a rule) or
//! [`Chip::oracle`] (for the lab) makes one, and both record why on that chip. Its methods
//! take no chip argument, so it can read nothing but the chip that made it, and the borrow
//! ends with the port: no rule can keep one across steps or hand it to another chip. Traces
//! carry the id of the chip that filled them, and [`Oracle::injected`] refuses a trace from
//! another chip. The trainer writes the chip's record (never the rule's name) into every
//! output, so a run that peeked inside is always marked as such.

use super::conv::{im2col, pool_forward, reshape, Network};
use super::network::{Activation, Chip, ForwardTrace, InjectedNoise};
use nalgebra::{DMatrix, DVector};

/// A capability to look inside one chip; see the module docs.
pub struct Oracle<'c> {
    chip: &'c Chip,
}

/// Why an oracle would not hand out the injected noise of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OracleRefusal {
    /// The chip's injected source was not declared readable (`--inject readable:σ`).
    #[error("the injected noise source is not readable (use --inject readable:SIGMA)")]
    NotReadable,
    /// The trace was filled by another chip (or by none).
    #[error("the trace was filled by another chip than the one this oracle views")]
    OtherChip,
}

impl Chip {
    /// Hands out an oracle view and records `why` (shown in logs and files as `oracle`).
    pub fn oracle(&mut self, why: &str) -> Oracle<'_> {
        self.record_oracle_use(why);
        Oracle { chip: self }
    }

    /// Adds `why` to the chip's record of oracle uses (once per distinct reason).
    pub(super) fn record_oracle_use(&mut self, why: &str) {
        if !self.oracle_uses.iter().any(|w| w == why) {
            self.oracle_uses.push(why.to_string());
        }
    }
}

impl<'c> Oracle<'c> {
    /// A view of `chip`; the caller has recorded the use.
    pub(super) fn of(chip: &'c Chip) -> Self {
        Oracle { chip }
    }

    /// The injected noise ε_l of a pass of this chip, if the source was declared readable.
    pub fn injected<'t>(
        &self,
        trace: &'t ForwardTrace,
    ) -> Result<&'t [DMatrix<f32>], OracleRefusal> {
        if trace.chip_id != self.chip.id {
            return Err(OracleRefusal::OtherChip);
        }
        match self.chip.config.injected {
            InjectedNoise::Readable { .. } => Ok(trace.injected.as_slice()),
            InjectedNoise::None | InjectedNoise::Hidden { .. } => Err(OracleRefusal::NotReadable),
        }
    }

    /// Number of layers of the chip it views.
    pub fn depth(&self) -> usize {
        self.chip.layers.len()
    }

    /// The hidden activation of the chip it views.
    pub fn activation(&self) -> Activation {
        self.chip.config.activation
    }

    /// Layer `l`'s weights as programmed (no read noise, no periphery).
    pub fn weights(&self, l: usize) -> DMatrix<f32> {
        self.chip.layers[l].tile.weights()
    }

    /// Layer `l`'s bias.
    pub fn bias(&self, l: usize) -> &'c DVector<f32> {
        &self.chip.layers[l].bias
    }

    /// The layers' geometry (a datasheet fact, here for the backward pass's routing).
    pub fn network(&self) -> &'c Network {
        &self.chip.net
    }

    /// Layer `l`'s decorrelation matrix, the whole `d × d` (block-diagonal when blocked; None
    /// when the layer has no decorrelator).
    pub fn decorrelator(&self, l: usize) -> Option<DMatrix<f32>> {
        self.chip.layers[l].decor.as_ref().map(|d| d.r())
    }

    /// The float network the chip approximates: programmed weights, exact products, no noise,
    /// no converters. Its gradient is the "true gradient" of the alignment diagnostics.
    pub fn float_forward(&self, x: &DMatrix<f32>, trace: &mut ForwardTrace) {
        let chip = self.chip;
        let depth = chip.layers.len();
        trace.chip_id = chip.id;
        for v in [
            &mut trace.inputs,
            &mut trace.pre,
            &mut trace.post,
            &mut trace.injected,
        ] {
            v.resize_with(depth, || DMatrix::zeros(0, 0));
        }
        for l in 0..depth {
            let layer = &chip.layers[l];
            let h = if l == 0 { x } else { &trace.post[l - 1] };
            let patches;
            let h = match layer.geom.conv() {
                Some(g) => {
                    let mut p = DMatrix::zeros(0, 0);
                    im2col(g, h, &mut p);
                    patches = p;
                    &patches
                }
                None => h,
            };
            trace.inputs[l] = match &layer.decor {
                Some(d) => d.r() * h,
                None => h.clone(),
            };
            let mut a = layer.tile.weights() * &trace.inputs[l];
            for mut col in a.column_iter_mut() {
                col += &layer.bias;
            }
            let act = a.map(|v| chip.config.activation.apply(v));
            trace.post[l] = match layer.geom.conv().filter(|g| g.pool.is_some()) {
                Some(g) => {
                    let mut pooled = DMatrix::zeros(0, 0);
                    pool_forward(g, &act, &mut pooled);
                    pooled
                }
                None => act,
            };
            reshape(&mut trace.post[l], layer.geom.output_features());
            trace.pre[l] = a;
            trace.injected[l] = DMatrix::zeros(0, 0);
        }
    }
}
