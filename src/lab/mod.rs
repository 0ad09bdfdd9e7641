//! The lab: instruments that hold a chip from outside, as a lab holds a test chip.
//!
//! [`bench`] times training steps against the machine's GEMM rate. Both it and `npchip chip
//! characterize` use only the chip's public API (a lab instrument sees what the chip's pins
//! and test structures expose), and nothing in `chip`, `learn` or `train` depends on them.

pub mod bench;
