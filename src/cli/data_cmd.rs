//! `npchip data info`.

use crate::data::{info as describe, load, DataSpec};

/// Prints counts, shape, value range and label histogram of `--data`.
pub(super) fn info(spec: &str) -> anyhow::Result<()> {
    let spec: DataSpec = spec
        .parse()
        .map_err(|e| anyhow::anyhow!("--data {spec}: {e}"))?;
    let ds = load(&spec, 0)?;
    print!("{}", describe(&ds));
    Ok(())
}
