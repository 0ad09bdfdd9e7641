//! Integration tests: one binary, one module per area.
mod arrays;
mod chip_model;
mod crossbar;
mod data;
mod learning;
mod output;
mod sweep;
