//! Integration tests: one binary, one module per area.
mod data;
mod chip_model;
mod learning;
