//! Integration tests: one binary, one module per area.
mod data;
mod chip_model;
mod learning;
mod output;
mod crossbar;
mod sweep;
