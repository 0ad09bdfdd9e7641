//! The sweep layout of a result file: the attributes a sweep adds beside the run attributes.
//!
//! Root: `sweep_grid` (the grid's canonical definition: axes and every shared setting),
//! `sweep_points` (points in the full grid), `sweep_shard` (`K/N`; `0/1` without `--shard`).
//! Each run: `sweep_index` (its index in the full grid), `sweep_point` (its coordinates as
//! text) and, for the swept precision/noise axes, `sweep_levels`, `sweep_read_noise`,
//! `sweep_prog_noise`, and for `vary` axes `sweep_vary` (one `key=value` line per varied run
//! key, so the report can give each its column). `npchip merge` compares `sweep_grid` and checks the indices;
//! `npchip report` groups plots by them. Part of the output schema (docs/sweeps.md), so it
//! lives in `output`: `sweep` writes it, `merge` and `report` read it, neither imports the other.

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
/// Run attribute: the values of the `vary` axes, one `key=value` line each.
pub const VARY: &str = "sweep_vary";

/// Writes a text attribute, replacing an existing one.
pub fn write_text(loc: &hdf5::Location, name: &str, value: &str) -> hdf5::Result<()> {
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

/// Writes an integer attribute, replacing an existing one.
pub fn write_int(loc: &hdf5::Location, name: &str, value: i64) -> hdf5::Result<()> {
    if loc.attr(name).is_ok() {
        loc.delete_attr(name)?;
    }
    loc.new_attr::<i64>().create(name)?.write_scalar(&value)
}

/// Writes a float attribute.
pub fn write_float(loc: &hdf5::Location, name: &str, value: f64) -> hdf5::Result<()> {
    loc.new_attr::<f64>().create(name)?.write_scalar(&value)
}
