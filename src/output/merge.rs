//! `npchip merge OUT IN...`: joins the shard files of one sweep into one file.
//!
//! The rule that matters: **a merged file is exactly the grid, or nothing is written.** Every
//! input must carry the same `sweep_grid` definition (axes and every shared setting), and the
//! inputs' `sweep_index` values together must cover each grid point exactly once; otherwise the
//! merge is refused before OUT is created, naming the file, the differing setting, or the
//! duplicated/missing points (and which shard would hold them).
//!
//! A run whose `status` is `running` or `interrupted` (a shard killed by its time limit, or
//! cancelled) is not a result: it counts as missing, like the points of an input file that
//! does not exist (a shard that never ran). The refusal then names the shards that hold the
//! missing points, so exactly those can be rerun (`--rerun-hint` adds the command).
//!
//! Stages: read each input's root attributes and run indices → check grid, schema version,
//! overlaps and gaps → create OUT (root attributes of a sweep with `sweep_shard = 0/1`) → copy
//! each run group byte for byte with HDF5's `H5Ocopy` (attributes, datasets, chunking and
//! compression unchanged).

use super::sweep_layout as record;
use crate::output::hdf5::{ResultFile, RunStatus};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Why a merge was refused or failed; nothing usable is written then.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The inputs are not the shards of one grid, or do not cover it: the message names the
    /// files, the differing setting or the missing points and their shards.
    #[error("{0}")]
    Refused(String),
    /// An HDF5 call failed; `what` names the file and the object.
    #[error("{what}: {source}")]
    Hdf5 {
        /// The file and what was being done.
        what: String,
        /// libhdf5's error.
        source: hdf5::Error,
    },
    /// A result file cannot be probed, created or closed.
    #[error(transparent)]
    Output(#[from] super::hdf5::OutputError),
}

/// Returns a [`MergeError::Refused`] with the formatted message.
macro_rules! refuse {
    ($($t:tt)*) => {
        return Err(MergeError::Refused(format!($($t)*)))
    };
}

/// An HDF5 error in context.
fn h5(what: String) -> impl FnOnce(hdf5::Error) -> MergeError {
    move |source| MergeError::Hdf5 { what, source }
}

/// What one input holds.
struct Input {
    path: PathBuf,
    grid: String,
    points: usize,
    shard: String,
    schema: i64,
    command_line: String,
    /// (run name, sweep index).
    runs: Vec<(String, usize)>,
    /// Runs that started but did not finish: (name, index, status).
    unfinished: Vec<(String, usize, String)>,
}

fn text_attr(loc: &hdf5::Location, name: &str) -> Option<String> {
    let a = loc.attr(name).ok()?;
    a.read_scalar::<hdf5::types::VarLenUnicode>()
        .map(|s| s.as_str().to_string())
        .ok()
        .or_else(|| {
            a.read_scalar::<hdf5::types::VarLenAscii>()
                .map(|s| s.as_str().to_string())
                .ok()
        })
}

fn int_attr(loc: &hdf5::Location, name: &str) -> Option<i64> {
    let a = loc.attr(name).ok()?;
    a.read_scalar::<i64>()
        .ok()
        .or_else(|| a.read_scalar::<u64>().ok().map(|v| v as i64))
        .or_else(|| a.read_scalar::<u32>().ok().map(i64::from))
}

fn read_input(path: &Path) -> Result<Input, MergeError> {
    // Said plainly before libhdf5 says it in its own words (twice, with flags and errno).
    match std::fs::metadata(path) {
        Err(e) => refuse!("IN {}: cannot read: {e}", path.display()),
        Ok(m) if !m.is_file() => refuse!("IN {}: not a regular file", path.display()),
        Ok(_) => {}
    }
    // In a child first: a corrupted shard must be an error, not a crash (probe.rs).
    super::probe::check(path)?;
    let f =
        hdf5::File::open(path).map_err(h5(format!("{}: cannot open as HDF5", path.display())))?;
    let not_sweep = || {
        MergeError::Refused(format!("{}: not a sweep file (no `{}` attribute): merge joins the shard files of one `npchip sweep`", path.display(), record::GRID))
    };
    let grid = text_attr(&f, record::GRID).ok_or_else(not_sweep)?;
    let points = int_attr(&f, record::POINTS).ok_or_else(not_sweep)? as usize;
    let shard = text_attr(&f, record::SHARD).unwrap_or_else(|| "?".into());
    let schema = int_attr(&f, "schema_version").unwrap_or(-1);
    let command_line = text_attr(&f, "command_line").unwrap_or_default();
    let mut runs = Vec::new();
    let mut unfinished = Vec::new();
    if let Ok(g) = f.group("runs") {
        let mut names = g
            .member_names()
            .map_err(h5(format!("{}: listing /runs", path.display())))?;
        names.sort();
        for name in names {
            let run = g
                .group(&name)
                .map_err(h5(format!("{}: opening /runs/{name}", path.display())))?;
            let index = int_attr(&run, record::INDEX).ok_or_else(|| {
                MergeError::Refused(format!(
                    "{}: /runs/{name} has no `{}` attribute: not written by `npchip sweep`",
                    path.display(),
                    record::INDEX
                ))
            })?;
            let status = text_attr(&run, "status").unwrap_or_default();
            if status == RunStatus::Running.name() || status == RunStatus::Interrupted.name() {
                unfinished.push((name, index as usize, status));
            } else {
                runs.push((name, index as usize));
            }
        }
    }
    Ok(Input {
        path: path.to_path_buf(),
        grid,
        points,
        shard,
        schema,
        command_line,
        runs,
        unfinished,
    })
}

/// The first line where two grid definitions differ, for the message.
fn first_difference(a: &str, b: &str) -> String {
    let (mut la, mut lb) = (a.lines(), b.lines());
    loop {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                return format!(
                    "`{}` vs `{}`",
                    x.unwrap_or("(nothing)"),
                    y.unwrap_or("(nothing)")
                )
            }
        }
    }
}

/// Compact list of indices: `3, 7, 11-14`.
fn ranges(v: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if j > i {
            format!("{}-{}", v[i], v[j])
        } else {
            v[i].to_string()
        });
        i = j + 1;
    }
    if out.len() > 20 {
        let n = out.len() - 20;
        out.truncate(20);
        out.push(format!("... ({n} more ranges)"));
    }
    out.join(", ")
}

/// Checks that the inputs are the disjoint, complete shards of one grid; returns
/// index → (input number, run name). `absent` are input paths that do not exist.
fn check(
    inputs: &[Input],
    absent: &[PathBuf],
    rerun_hint: Option<&str>,
) -> Result<BTreeMap<usize, (usize, String)>, MergeError> {
    let first = &inputs[0];
    for other in &inputs[1..] {
        if other.grid != first.grid {
            refuse!(
                "{} and {} are shards of different grids ({}); merge only files from the same sweep definition",
                first.path.display(),
                other.path.display(),
                first_difference(&first.grid, &other.grid)
            );
        }
        if other.points != first.points {
            refuse!(
                "{} has {} grid points but {} has {}",
                first.path.display(),
                first.points,
                other.path.display(),
                other.points
            );
        }
        if other.schema != first.schema {
            refuse!(
                "{} has schema version {} but {} has {}: write both with the same npchip",
                first.path.display(),
                first.schema,
                other.path.display(),
                other.schema
            );
        }
    }
    let mut owner: BTreeMap<usize, (usize, String)> = BTreeMap::new();
    let mut seen: BTreeMap<usize, (usize, String)> = BTreeMap::new();
    for (k, input) in inputs.iter().enumerate() {
        let finished = input.runs.iter().map(|(name, i)| (name, i, true));
        let unfinished = input.unfinished.iter().map(|(name, i, _)| (name, i, false));
        for (name, index, done) in finished.chain(unfinished) {
            if *index >= first.points {
                refuse!(
                    "{}: /runs/{name} has sweep index {index}, outside the {}-point grid",
                    input.path.display(),
                    first.points
                );
            }
            if let Some((j, other_name)) = seen.get(index) {
                let same = *j == k;
                refuse!(
                    "grid point {index} is in {} ({other_name}) and {} ({name}){}",
                    inputs[*j].path.display(),
                    input.path.display(),
                    if same {
                        ""
                    } else {
                        ": the same shard given twice, or shards of different --shard N?"
                    }
                );
            }
            seen.insert(*index, (k, name.clone()));
            if done {
                owner.insert(*index, (k, name.clone()));
            }
        }
    }
    let missing: Vec<usize> = (0..first.points)
        .filter(|i| !owner.contains_key(i))
        .collect();
    if missing.is_empty() && !absent.is_empty() {
        refuse!(
            "{}: no such file (every grid point is in the other inputs; leave it out)",
            absent[0].display()
        );
    }
    if !missing.is_empty() {
        let shards: Vec<String> = inputs.iter().map(|i| i.shard.clone()).collect();
        let n = inputs
            .iter()
            .find_map(|i| {
                i.shard
                    .split_once('/')
                    .and_then(|(_, n)| n.parse::<usize>().ok())
            })
            .filter(|&n| n > 1);
        let unfinished: Vec<String> = inputs
            .iter()
            .flat_map(|i| {
                i.unfinished
                    .iter()
                    .map(move |(name, _, status)| format!("{} {name} {status}", i.path.display()))
            })
            .collect();
        let mut why = String::new();
        if !unfinished.is_empty() {
            let _ = write!(
                why,
                "; {} started but did not finish ({})",
                unfinished.len(),
                unfinished.join(", ")
            );
        }
        if !absent.is_empty() {
            let names: Vec<String> = absent.iter().map(|p| p.display().to_string()).collect();
            let _ = write!(why, "; no such file: {}", names.join(", "));
        }
        let hint = match n {
            Some(n) => {
                let mut ks: Vec<usize> = missing.iter().map(|i| i % n).collect();
                ks.sort_unstable();
                ks.dedup();
                let list = ks
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                let rerun = match rerun_hint {
                    Some(cmd) => format!("; rerun exactly those and merge again: {cmd} {list}"),
                    None => format!("; run them (--shard K/{n}) and merge again"),
                };
                format!(
                    "; with --shard K/{n} they belong to shard{} {list} (given: {}){rerun}",
                    if ks.len() == 1 { "" } else { "s" },
                    shards.join(", "),
                )
            }
            None => "; run the missing shard(s) first".to_string(),
        };
        refuse!(
            "{} of {} grid points are in no input or did not finish: {}{why}{hint}",
            missing.len(),
            first.points,
            ranges(&missing)
        );
    }
    Ok(owner)
}

/// Copies `/runs/<name>` of `src` into `dst` (same path) with H5Ocopy.
fn copy_group(src: &hdf5::File, dst: &hdf5::File, name: &str) -> Result<(), MergeError> {
    let Ok(path) = CString::new(format!("runs/{name}")) else {
        refuse!("run name {name:?} holds a NUL byte");
    };
    let status = {
        let _lock = hdf5_sys::LOCK.lock();
        // SAFETY: both ids are open files owned by `src`/`dst` for the duration of the call,
        // the names are NUL-terminated, and H5P_DEFAULT selects the default property lists.
        unsafe {
            hdf5_sys::h5o::H5Ocopy(
                src.id(),
                path.as_ptr(),
                dst.id(),
                path.as_ptr(),
                hdf5_sys::h5p::H5P_DEFAULT,
                hdf5_sys::h5p::H5P_DEFAULT,
            )
        }
    };
    if status < 0 {
        refuse!("H5Ocopy of /runs/{name} failed");
    }
    Ok(())
}

/// Joins shard files: checks them (see the module doc), then writes `out`.
pub fn merge(out: &Path, inputs: &[PathBuf], force: bool) -> Result<String, MergeError> {
    merge_with_hint(out, inputs, force, None)
}

/// [`merge`], with the command that reruns shards (`submit.sh` of `npchip sweep --slurm`)
/// named in the refusal when points are missing: `CMD 2,5`.
pub fn merge_with_hint(
    out: &Path,
    inputs: &[PathBuf],
    force: bool,
    rerun_hint: Option<&str>,
) -> Result<String, MergeError> {
    if inputs.is_empty() {
        refuse!("merge needs at least one input file");
    }
    for i in inputs {
        if i == out
            || (out.exists() && std::fs::canonicalize(i).ok() == std::fs::canonicalize(out).ok())
        {
            refuse!(
                "{} is both an input and the output; write the merged file elsewhere",
                out.display()
            );
        }
    }
    // Said here, in merge's own terms: the writer's message names train's `--out` flag.
    super::out_path::check_out_path(out, "OUT").map_err(MergeError::Refused)?;
    if out.exists() && !force {
        refuse!(
            "OUT {} exists: use --force to overwrite it, or give another OUT path",
            out.display()
        );
    }
    // A shard that never ran has no file: its points are reported missing with the others.
    let (present, absent): (Vec<PathBuf>, Vec<PathBuf>) = inputs
        .iter()
        .cloned()
        .partition(|p| std::fs::symlink_metadata(p).is_ok());
    if present.is_empty() {
        refuse!(
            "IN: No such file or directory (nothing to merge): {}",
            absent
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let read: Vec<Input> = present
        .iter()
        .map(|p| read_input(p))
        .collect::<Result<_, MergeError>>()?;
    let owner = check(&read, &absent, rerun_hint)?;
    let first = &read[0];
    let cmdline = std::env::args().collect::<Vec<_>>().join(" ");
    let file = ResultFile::create(out, force, &cmdline)?;
    {
        let root: &hdf5::Location = &file.file;
        let ctx = |source: hdf5::Error| MergeError::Hdf5 {
            what: format!("{}: writing root attributes", out.display()),
            source,
        };
        record::write_text(root, record::GRID, &first.grid).map_err(ctx)?;
        record::write_int(root, record::POINTS, first.points as i64).map_err(ctx)?;
        record::write_text(root, record::SHARD, "0/1").map_err(ctx)?;
        let from: Vec<String> = read
            .iter()
            .map(|i| {
                format!(
                    "{} (shard {}): {}",
                    i.path.display(),
                    i.shard,
                    i.command_line
                )
            })
            .collect();
        record::write_text(root, "merged_from", &from.join("\n")).map_err(ctx)?;
        if file.file.group("runs").is_err() {
            file.file.create_group("runs").map_err(ctx)?;
        }
    }
    let sources: Vec<hdf5::File> = read
        .iter()
        .map(|i| hdf5::File::open(&i.path).map_err(h5(format!("{}: reopening", i.path.display()))))
        .collect::<Result<_, MergeError>>()?;
    for (k, name) in owner.values() {
        copy_group(&sources[*k], &file.file, name).map_err(|e| {
            MergeError::Refused(format!(
                "copying /runs/{name} from {} into {}: {e}",
                read[*k].path.display(),
                out.display()
            ))
        })?;
    }
    drop(sources);
    file.close()?;
    Ok(format!(
        "merged {} runs of a {}-point grid from {} file{} into {}",
        owner.len(),
        first.points,
        read.len(),
        if read.len() == 1 { "" } else { "s" },
        out.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_ranges_are_compact() {
        assert_eq!(ranges(&[1, 2, 3, 5, 7, 8]), "1-3, 5, 7-8");
        assert_eq!(ranges(&[]), "");
    }

    #[test]
    fn first_difference_names_the_line() {
        assert_eq!(
            first_difference("a = 1\nb = 2\n", "a = 1\nb = 3\n"),
            "`b = 2` vs `b = 3`"
        );
    }
}
