//! The sweep's own attributes, beside the run attributes the HDF5 writer stores.
//!
//! Root: `sweep_grid` (the grid's canonical definition: axes and every shared setting),
//! `sweep_points` (points in the full grid), `sweep_shard` (`K/N`; `0/1` without `--shard`).
//! Each run: `sweep_index` (its index in the full grid), `sweep_point` (its coordinates as
//! text) and, for the swept precision/noise axes, `sweep_levels`, `sweep_read_noise`,
//! `sweep_prog_noise`. `npchip merge` compares `sweep_grid` and checks the indices;
//! `npchip report` groups plots by them. Documented in docs/sweeps.md.

use super::flags::Shard;
use super::grid::{Grid, GridPoint};
use crate::output::hdf5::{Attrs, ResultFile};
use hdf5::types::VarLenUnicode;

/// Root attribute: canonical grid definition.
pub const GRID: &str = "sweep_grid";
/// Root attribute: points in the full grid.
pub const POINTS: &str = "sweep_points";
/// Root attribute: `K/N`.
pub const SHARD: &str = "sweep_shard";
/// Run attribute: index in the full grid.
pub const INDEX: &str = "sweep_index";
/// Run attribute: coordinates as text.
pub const POINT: &str = "sweep_point";
/// Run attribute: swept `device.levels`.
pub const LEVELS: &str = "sweep_levels";
/// Run attribute: swept `read.out_noise`.
pub const READ_NOISE: &str = "sweep_read_noise";
/// Run attribute: swept `device.prog_noise_std`.
pub const PROG_NOISE: &str = "sweep_prog_noise";

pub(crate) fn write_text(loc: &hdf5::Location, name: &str, value: &str) -> hdf5::Result<()> {
    let v: VarLenUnicode = value
        .parse()
        .map_err(|e| hdf5::Error::from(format!("attribute {name}: {e}")))?;
    if loc.attr(name).is_ok() {
        loc.delete_attr(name)?;
    }
    loc.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&v)
}

pub(crate) fn write_int(loc: &hdf5::Location, name: &str, value: i64) -> hdf5::Result<()> {
    if loc.attr(name).is_ok() {
        loc.delete_attr(name)?;
    }
    loc.new_attr::<i64>().create(name)?.write_scalar(&value)
}

fn write_float(loc: &hdf5::Location, name: &str, value: f64) -> hdf5::Result<()> {
    loc.new_attr::<f64>().create(name)?.write_scalar(&value)
}

/// Writes the root attributes of a sweep file.
pub fn write_grid(file: &ResultFile, grid: &Grid, shard: Option<Shard>) -> anyhow::Result<()> {
    let shard = shard.unwrap_or(Shard { k: 0, n: 1 });
    let root = &file.file;
    let ctx = |e: hdf5::Error| {
        anyhow::anyhow!(
            "{}: writing the sweep attributes: {e}",
            file.path().display()
        )
    };
    write_text(root, GRID, &grid.definition).map_err(ctx)?;
    write_int(root, POINTS, grid.total as i64).map_err(ctx)?;
    write_text(root, SHARD, &shard.to_string()).map_err(ctx)?;
    Ok(())
}

/// Writes a run's grid coordinates on its group.
pub fn write_point(file: &ResultFile, group_path: &str, p: &GridPoint) -> anyhow::Result<()> {
    let ctx = |e: hdf5::Error| {
        anyhow::anyhow!(
            "{}: writing the sweep attributes of {group_path}: {e}",
            file.path().display()
        )
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
    Ok(())
}

/// The shard `K/N` of a file's root attributes, if it is a sweep file.
pub fn shard_of(root: &Attrs) -> Option<Shard> {
    root.get(SHARD)?.as_str()?.parse().ok()
}
