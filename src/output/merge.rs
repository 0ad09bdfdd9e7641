//! `npchip merge` (to be written with the sweep).
use std::path::{Path, PathBuf};
/// Joins shard files.
pub fn merge(_out: &Path, _inputs: &[PathBuf], _force: bool) -> anyhow::Result<()> { anyhow::bail!("merge is not implemented yet") }
