//! The hardware model: what the silicon does, and nothing a learning rule should know.
//!
//! A layer of the chip is a decorrelator circuit, then a crossbar tile whose read runs
//! DAC → conductance MVM with fresh read noise → ADC, then a digital bias and activation.
//! The rule that matters: **noise draws, conductances and RNG streams never leave this
//! module.** Visibility enforces it: [`Chip`]'s public API returns only ADC readings (and what
//! the digital periphery computes from them) and accepts only what a programming circuit could
//! do. Baselines that must see inside get an [`Oracle`], which only [`Chip::oracle`] makes and
//! whose use is recorded.

pub mod characterize;
mod checkpoint;
mod crossbar;
mod decorrelator;
mod device;
pub mod energy;
pub mod latency;
pub mod model;
mod model_check;
mod network;
mod oracle;
mod periphery;
pub mod presets;
mod telemetry;
#[cfg(test)]
mod tests;

pub use checkpoint::{ChipCheckpoint, DeviceCheckpoint, LayerCheckpoint, TileState};
pub use decorrelator::{mean_abs_offdiag_correlation, DecorPrecision, DecorRule};
pub use energy::{Counters, Energy, Phase};
pub use model::{ChipModel, ChipSpec, ModelError};
pub use network::{Activation, Chip, ChipConfig, DecorConfig, ForwardTrace, InjectedNoise, Pass};
pub use oracle::Oracle;
pub use telemetry::{AdcHistogramView, LayerTelemetry, PulseTotals, Telemetry};
