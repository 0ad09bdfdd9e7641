//! `npchip sweep` (to be written).
/// Flags of `npchip sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {}
/// Runs a sweep.
pub fn run(_a: SweepArgs) -> anyhow::Result<()> { anyhow::bail!("sweep is not implemented yet") }
