//! npchip: a simulator of neuromorphic analog crossbar hardware that learns on-chip.
//!
//! The one rule that matters: a learning controller sees only what a real chip exposes
//! (ADC readings, the loss it computes from them, and the programming circuit it drives).
//! A rule receives a [`chip::Port`], never the chip; noise samples, conductances and RNG streams
//! are private to [`chip`]. The few baselines that must peek inside (backprop, classic node
//! perturbation) ask the port for a [`chip::Oracle`], the chip records it, and every output marks
//! the run as an oracle run from that record.
//!
//! Stages, in the order a training step runs through them:
//! [`data`] → [`chip`] (decorrelator → DAC → crossbar → ADC → activation) → [`learn`]
//! (rule → decorrelation → optimiser → programming pulses) → [`output`] (HDF5 traces, reports).
#![warn(missing_docs)]

pub mod chip;
pub mod cli;
pub mod data;
pub mod footprint;
pub mod lab;
pub mod learn;
pub mod linalg;
pub mod output;
pub mod rng;
pub mod run;
pub mod sweep;
pub mod train;
