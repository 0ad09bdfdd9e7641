//! Integration tests: one binary, one module per area.
mod arrays;
mod bad_input;
mod bad_input_corpus;
mod chip_model;
mod conv;
mod crash;
mod crossbar;
mod data;
mod latency;
mod learning;
mod output;
mod port;
mod slurm;
mod slurm_cluster;
mod slurm_scripts;
mod sweep;
mod ux;
