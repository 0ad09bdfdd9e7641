//! The hardware model: what the silicon does, and nothing a learning rule should know.
//!
//! A layer of the chip is a decorrelator circuit, then a crossbar tile whose read runs
//! DAC → conductance MVM with fresh read noise → ADC, then a digital bias and activation.
//! The rule that matters: **noise draws, conductances and RNG streams never leave this
//! module.** Visibility enforces it: every field and internal method here is private to
//! `crate::chip` (none is `pub(crate)`), a learning rule receives only a [`Port`] (ADC readings
//! in, programming requests out), and the lab keeps the [`Chip`] (checkpoints, telemetry,
//! counters). Baselines that must see inside get an [`Oracle`], a borrow of one chip that only
//! [`Port::oracle`] or [`Chip::oracle`] makes and whose use that chip records.

mod array_grid;
mod checkpoint;
pub mod conv;
mod crossbar;
mod decorrelator;
mod device;
pub mod energy;
pub mod latency;
pub mod model;
mod model_check;
pub use model_check::{max_levels, MAX_PULSES, MIN_STEP_OF_GMAX};
mod netspec;
mod network;
mod oracle;
mod periphery;
mod port;
pub mod presets;
mod telemetry;
pub mod test_structures;
#[cfg(test)]
mod tests;

pub use checkpoint::{ChipCheckpoint, DeviceCheckpoint, LayerCheckpoint, TileState};
pub use decorrelator::{
    mean_abs_offdiag_correlation, DecorBlocks, DecorLayers, DecorPrecision, DecorRule,
    DecorThinning,
};
pub use energy::{Counters, Energy, Phase};
pub use model::{ChipModel, ChipSpec, ModelError};
pub use netspec::{LayerToken, NetSpec, NetSpecError};
pub use network::{
    patch_stride, Activation, Chip, ChipConfig, DecorConfig, ForwardTrace, InjectedNoise, Pass,
};
pub use oracle::{Oracle, OracleRefusal};
pub use port::Port;
pub use telemetry::{AdcHistogramView, ArrayTelemetry, LayerTelemetry, PulseTotals, Telemetry};
