//! Writes a sweep's grid and points in the layout of [`crate::output::sweep_layout`].

use super::error::SweepError;
use super::grid::{Grid, GridPoint};
use super::plan::Shard;
use crate::output::hdf5::{Attrs, ResultFile};
pub use crate::output::sweep_layout::*;

/// Writes the root attributes of a sweep file.
pub fn write_grid(file: &ResultFile, grid: &Grid, shard: Option<Shard>) -> Result<(), SweepError> {
    let shard = shard.unwrap_or(Shard { k: 0, n: 1 });
    let root = &file.file;
    let ctx = |source: hdf5::Error| SweepError::Hdf5 {
        path: file.path().to_path_buf(),
        what: "writing the sweep attributes".into(),
        source,
    };
    write_text(root, GRID, &grid.definition).map_err(ctx)?;
    write_int(root, POINTS, grid.total as i64).map_err(ctx)?;
    write_text(root, SHARD, &shard.to_string()).map_err(ctx)?;
    Ok(())
}

/// Writes a run's grid coordinates on its group.
pub fn write_point(file: &ResultFile, group_path: &str, p: &GridPoint) -> Result<(), SweepError> {
    let ctx = |source: hdf5::Error| SweepError::Hdf5 {
        path: file.path().to_path_buf(),
        what: format!("writing the sweep attributes of {group_path}"),
        source,
    };
    let g = file.file.group(group_path).map_err(ctx)?;
    write_int(&g, INDEX, p.index as i64).map_err(ctx)?;
    write_text(&g, POINT, &p.label()).map_err(ctx)?;
    if let Some(l) = p.levels {
        write_int(&g, LEVELS, l as i64).map_err(ctx)?;
    }
    if let Some(x) = p.read_noise {
        write_float(&g, READ_NOISE, x).map_err(ctx)?;
    }
    if let Some(x) = p.prog_noise {
        write_float(&g, PROG_NOISE, x).map_err(ctx)?;
    }
    if !p.vary.is_empty() {
        let lines: Vec<String> = p.vary.iter().map(|(k, v)| format!("{k}={v}")).collect();
        write_text(&g, VARY, &lines.join("\n")).map_err(ctx)?;
    }
    Ok(())
}

/// The shard `K/N` of a file's root attributes, if it is a sweep file.
pub fn shard_of(root: &Attrs) -> Option<Shard> {
    root.get(SHARD)?.as_str()?.parse().ok()
}
