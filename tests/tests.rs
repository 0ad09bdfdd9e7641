//! Integration tests: one binary, one module per area.
mod chip_model;
mod crash;
mod crossbar;
mod data;
mod learning;
mod output;
mod sweep;
