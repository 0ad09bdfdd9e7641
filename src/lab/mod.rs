//! The lab: instruments that hold a chip from outside, as a lab holds a test chip.
//!
//! [`bench`] times training steps against the machine's GEMM rate; [`characterize`] measures a
//! chip model like a lab measures a test chip, on `chip::test_structures`. Both use only the
//! chip's public API (a lab instrument sees what the chip's pins
//! and test structures expose), and nothing in `chip`, `learn` or `train` depends on them.

pub mod bench;
pub mod bench_net;
pub mod characterize;
#[cfg(test)]
mod step_cost_tests;
