//! `npchip bench` (to be written).
/// Flags of `npchip bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {}
/// Runs the benchmark.
pub fn run(_a: BenchArgs) -> anyhow::Result<()> { anyhow::bail!("bench is not implemented yet") }
