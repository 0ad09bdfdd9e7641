//! Integration tests: one binary, one module per area.
mod chip_model;
mod crossbar;
mod data;
mod learning;
mod output;
mod port;
mod slurm;
mod slurm_cluster;
mod slurm_scripts;
mod sweep;
