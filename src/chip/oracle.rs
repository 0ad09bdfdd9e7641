//! The oracle view: what only a simulator can see (programmed weights, injected-noise samples,
//! a noise-free float forward pass). Backprop, classic NP and INP, and the alignment
//! diagnostics need it; physical rules (ANP and its noisy–noisy form) never get one.
//!
//! An `Oracle` can only be made by [`Chip::oracle`], which records why; the trainer writes that
//! record into every output, so a run that peeked inside is always marked as such.

use super::network::{Chip, ForwardTrace, InjectedNoise};
use nalgebra::{DMatrix, DVector};

/// A capability to look inside the chip; see the module docs.
pub struct Oracle {
    readable_noise: bool,
}

impl Chip {
    /// Hands out an oracle view and records `why` (shown in logs and files as `oracle`).
    pub fn oracle(&mut self, why: &str) -> Oracle {
        if !self.oracle_uses.iter().any(|w| w == why) {
            self.oracle_uses.push(why.to_string());
        }
        Oracle {
            readable_noise: matches!(self.config.injected, InjectedNoise::Readable { .. }),
        }
    }
}

impl Oracle {
    /// The injected noise ε_l of a pass, if the source was declared readable.
    pub fn injected<'t>(&self, trace: &'t ForwardTrace) -> Option<&'t [DMatrix<f32>]> {
        self.readable_noise.then_some(trace.injected.as_slice())
    }

    /// Layer `l`'s weights as programmed (no read noise, no periphery).
    pub fn weights(&self, chip: &Chip, l: usize) -> DMatrix<f32> {
        chip.layers[l].tile.weights()
    }

    /// Layer `l`'s bias.
    pub fn bias<'c>(&self, chip: &'c Chip, l: usize) -> &'c DVector<f32> {
        &chip.layers[l].bias
    }

    /// Layer `l`'s decorrelation matrix (None without decorrelation).
    pub fn decorrelator<'c>(&self, chip: &'c Chip, l: usize) -> Option<&'c DMatrix<f32>> {
        chip.layers[l].decor.as_ref().map(|d| &d.r)
    }

    /// The float network the chip approximates: programmed weights, exact products, no noise,
    /// no converters. Its gradient is the "true gradient" of the alignment diagnostics.
    pub fn float_forward(&self, chip: &Chip, x: &DMatrix<f32>, trace: &mut ForwardTrace) {
        let depth = chip.layers.len();
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
            trace.inputs[l] = match &layer.decor {
                Some(d) => &d.r * h,
                None => h.clone(),
            };
            let mut a = layer.tile.weights() * &trace.inputs[l];
            for mut col in a.column_iter_mut() {
                col += &layer.bias;
            }
            trace.post[l] = a.map(|v| chip.config.activation.apply(v));
            trace.pre[l] = a;
            trace.injected[l] = DMatrix::zeros(0, 0);
        }
    }
}
