//! `npchip report` (to be written).
use std::path::Path;
/// Prints a table and writes plots.
pub fn run(_file: &Path, _out: Option<&Path>) -> anyhow::Result<()> { anyhow::bail!("report is not implemented yet") }
