//! Names and low-level helpers of the file layout (see `docs/hdf5-schema.md`): typed
//! attributes, extendable per-epoch datasets (unlimited first dimension, chunked, deflate),
//! and reads that turn a missing object into an [`OutputError::Schema`] naming it.

use super::hdf5::{AttrValue, OutputError};
use ::hdf5::types::{TypeDescriptor, VarLenUnicode};
use ::hdf5::{Dataset, Group, H5Type, Hyperslab, Location, Selection, SliceOrIndex};
use ndarray::{ArrayViewD, IxDyn};
use std::path::Path;

/// Deflate level of every extendable dataset (a good speed/size trade-off for counters).
const DEFLATE: u8 = 4;
/// Rows per chunk of per-epoch datasets; chunks of a few KiB keep appends cheap.
const CHUNK_ROWS: usize = 16;

/// Group of per-epoch datasets.
pub(crate) const EPOCHS: &str = "epochs";
/// Group of per-step datasets.
pub(crate) const STEPS: &str = "steps";
/// Group of hardware traces.
pub(crate) const TRACES: &str = "traces";
/// The checkpoint group (replaced after each epoch).
pub(crate) const CHECKPOINT: &str = "checkpoint";
/// Where a new checkpoint is written before it replaces the old one.
pub(crate) const CHECKPOINT_NEW: &str = "checkpoint_new";

/// Energy kinds, in the order of the last axis of `energy_pj`.
pub(crate) const ENERGY_KINDS: [&str; 5] = ["mac", "dac", "adc", "write", "digital"];

/// The last axis of `latency_ns`: array reads, programming requests, digital work.
pub(crate) const LATENCY_KINDS: [&str; 3] = ["read", "program", "digital"];

pub(crate) fn h5err(path: &Path, what: impl Into<String>, source: ::hdf5::Error) -> OutputError {
    OutputError::Hdf5 {
        path: path.to_path_buf(),
        what: what.into(),
        source,
    }
}

pub(crate) fn missing(path: &Path, object: impl Into<String>) -> OutputError {
    OutputError::Schema {
        path: path.to_path_buf(),
        object: object.into(),
        problem: "is missing".into(),
    }
}

pub(crate) fn bad(
    path: &Path,
    object: impl Into<String>,
    problem: impl Into<String>,
) -> OutputError {
    OutputError::Schema {
        path: path.to_path_buf(),
        object: object.into(),
        problem: problem.into(),
    }
}

/// Marks the descriptor HDF5 opened for `path` close-on-exec.
///
/// HDF5 opens files without `O_CLOEXEC` and holds an `flock` on them; a child process spawned
/// while a file is open (a sweep worker, `h5py` in a test) would inherit the descriptor and
/// keep the lock after this process closes the file, so reopening it fails with "unable to
/// lock file". Linux only; elsewhere a no-op.
pub(crate) fn close_on_exec(path: &Path) {
    #[cfg(target_os = "linux")]
    {
        let Ok(target) = std::fs::canonicalize(path) else {
            return;
        };
        let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        for e in dir.flatten() {
            if !std::fs::read_link(e.path()).is_ok_and(|l| l == target) {
                continue;
            }
            if let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
                // SAFETY: F_GETFD/F_SETFD only change the descriptor's close-on-exec flag.
                unsafe {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags >= 0 {
                        libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                    }
                }
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
}

/// Attribute writers bound to one file path (for error messages). Every writer replaces an
/// existing attribute of the same name.
pub(crate) struct Attr<'a> {
    pub(crate) path: &'a Path,
}

impl Attr<'_> {
    fn clear(&self, loc: &Location, name: &str) -> Result<(), OutputError> {
        if loc
            .attr_names()
            .map_err(|e| {
                h5err(
                    self.path,
                    format!("listing attributes of {}", loc.name()),
                    e,
                )
            })?
            .iter()
            .any(|n| n == name)
        {
            loc.delete_attr(name).map_err(|e| {
                h5err(
                    self.path,
                    format!("replacing attribute {}@{name}", loc.name()),
                    e,
                )
            })?;
        }
        Ok(())
    }

    /// A scalar number or bool.
    pub(crate) fn scalar<T: H5Type>(
        &self,
        loc: &Location,
        name: &str,
        v: T,
    ) -> Result<(), OutputError> {
        self.clear(loc, name)?;
        let what = || format!("writing attribute {}@{name}", loc.name());
        loc.new_attr::<T>()
            .shape(())
            .create(name)
            .and_then(|a| a.write_scalar(&v))
            .map_err(|e| h5err(self.path, what(), e))
    }

    /// A 1-D array.
    pub(crate) fn array<T: H5Type>(
        &self,
        loc: &Location,
        name: &str,
        v: &[T],
    ) -> Result<(), OutputError> {
        self.clear(loc, name)?;
        let what = || format!("writing attribute {}@{name}", loc.name());
        loc.new_attr::<T>()
            .shape([v.len()])
            .create(name)
            .and_then(|a| a.write_raw(v))
            .map_err(|e| h5err(self.path, what(), e))
    }

    /// A UTF-8 string (variable length: h5py reads a `str`).
    pub(crate) fn text(&self, loc: &Location, name: &str, v: &str) -> Result<(), OutputError> {
        let s = to_vlu(v);
        self.scalar(loc, name, s)
    }

    /// A 1-D array of UTF-8 strings.
    pub(crate) fn texts<S: AsRef<str>>(
        &self,
        loc: &Location,
        name: &str,
        v: &[S],
    ) -> Result<(), OutputError> {
        let s: Vec<VarLenUnicode> = v.iter().map(|x| to_vlu(x.as_ref())).collect();
        self.array(loc, name, &s)
    }

    /// A TOML value from a flattened chip model (integers as i64, floats as f64).
    pub(crate) fn toml(
        &self,
        loc: &Location,
        name: &str,
        v: &toml::Value,
    ) -> Result<(), OutputError> {
        match v {
            toml::Value::Integer(i) => self.scalar(loc, name, *i),
            toml::Value::Float(f) => self.scalar(loc, name, *f),
            toml::Value::Boolean(b) => self.scalar(loc, name, *b),
            toml::Value::String(s) => self.text(loc, name, s),
            other => self.text(loc, name, &other.to_string()),
        }
    }
}

fn to_vlu(s: &str) -> VarLenUnicode {
    // Interior NULs cannot be stored in a C string; nothing npchip writes contains one.
    s.replace('\0', " ")
        .parse()
        .expect("a string without NUL is valid VarLenUnicode")
}

/// Reads an attribute as an [`AttrValue`], whatever its numeric width.
pub(crate) fn read_attr(path: &Path, loc: &Location, name: &str) -> Result<AttrValue, OutputError> {
    let obj = || format!("{}@{name}", loc.name());
    let a = loc.attr(name).map_err(|_| missing(path, obj()))?;
    let err = |e| h5err(path, format!("reading attribute {}", obj()), e);
    let desc = a.dtype().and_then(|t| t.to_descriptor()).map_err(err)?;
    let scalar = a.is_scalar();
    let v = match desc {
        // u64 values above i64::MAX (a huge seed) would not convert: they read as floats.
        TypeDescriptor::Unsigned(_) => {
            let wide = |u: u64| i64::try_from(u).ok();
            if scalar {
                let u = a.read_scalar::<u64>().map_err(err)?;
                wide(u).map_or(AttrValue::Float(u as f64), AttrValue::Int)
            } else {
                let v = a.read_raw::<u64>().map_err(err)?;
                match v.iter().map(|&u| wide(u)).collect::<Option<Vec<i64>>>() {
                    Some(i) => AttrValue::Ints(i),
                    None => AttrValue::Floats(v.into_iter().map(|u| u as f64).collect()),
                }
            }
        }
        TypeDescriptor::Integer(_) => {
            if scalar {
                AttrValue::Int(a.read_scalar::<i64>().map_err(err)?)
            } else {
                AttrValue::Ints(a.read_raw::<i64>().map_err(err)?)
            }
        }
        TypeDescriptor::Float(_) => {
            if scalar {
                AttrValue::Float(a.read_scalar::<f64>().map_err(err)?)
            } else {
                AttrValue::Floats(a.read_raw::<f64>().map_err(err)?)
            }
        }
        TypeDescriptor::Boolean => {
            if scalar {
                AttrValue::Bool(a.read_scalar::<bool>().map_err(err)?)
            } else {
                AttrValue::Ints(
                    a.read_raw::<bool>()
                        .map_err(err)?
                        .into_iter()
                        .map(i64::from)
                        .collect(),
                )
            }
        }
        TypeDescriptor::VarLenUnicode
        | TypeDescriptor::VarLenAscii
        | TypeDescriptor::FixedAscii(_)
        | TypeDescriptor::FixedUnicode(_) => {
            let conv = |t: &TypeDescriptor| {
                matches!(
                    t,
                    TypeDescriptor::VarLenUnicode | TypeDescriptor::VarLenAscii
                )
            };
            if scalar {
                let s = if conv(&desc) {
                    a.read_scalar::<VarLenUnicode>()
                        .map(|s| s.as_str().to_string())
                } else {
                    a.as_reader()
                        .conversion(::hdf5::Conversion::Soft)
                        .read_scalar::<VarLenUnicode>()
                        .map(|s| s.as_str().to_string())
                };
                AttrValue::Text(s.map_err(err)?)
            } else {
                AttrValue::Texts(
                    a.as_reader()
                        .conversion(::hdf5::Conversion::Soft)
                        .read_raw::<VarLenUnicode>()
                        .map_err(err)?
                        .into_iter()
                        .map(|s| s.as_str().to_string())
                        .collect(),
                )
            }
        }
        other => AttrValue::Text(format!("<unsupported type {other}>")),
    };
    Ok(v)
}

/// Every attribute of `loc`, by name.
pub(crate) fn read_attrs(path: &Path, loc: &Location) -> Result<super::hdf5::Attrs, OutputError> {
    let names = loc
        .attr_names()
        .map_err(|e| h5err(path, format!("listing attributes of {}", loc.name()), e))?;
    names
        .into_iter()
        .map(|n| Ok((n.clone(), read_attr(path, loc, &n)?)))
        .collect()
}

/// A required text attribute.
pub(crate) fn attr_text(path: &Path, loc: &Location, name: &str) -> Result<String, OutputError> {
    match read_attr(path, loc, name)? {
        AttrValue::Text(s) => Ok(s),
        other => Err(bad(
            path,
            format!("{}@{name}", loc.name()),
            format!("should be text, is {other}"),
        )),
    }
}

/// A required integer attribute.
pub(crate) fn attr_int(path: &Path, loc: &Location, name: &str) -> Result<i64, OutputError> {
    let v = read_attr(path, loc, name)?;
    v.as_i64().ok_or_else(|| {
        bad(
            path,
            format!("{}@{name}", loc.name()),
            format!("should be an integer, is {v}"),
        )
    })
}

/// A required float attribute (read at its stored width: f32 attributes round-trip exactly).
pub(crate) fn attr_f32(path: &Path, loc: &Location, name: &str) -> Result<f32, OutputError> {
    let v = read_attr(path, loc, name)?;
    v.as_f64().map(|x| x as f32).ok_or_else(|| {
        bad(
            path,
            format!("{}@{name}", loc.name()),
            format!("should be a number, is {v}"),
        )
    })
}

/// A required bool attribute.
pub(crate) fn attr_bool(path: &Path, loc: &Location, name: &str) -> Result<bool, OutputError> {
    let v = read_attr(path, loc, name)?;
    v.as_bool().ok_or_else(|| {
        bad(
            path,
            format!("{}@{name}", loc.name()),
            format!("should be a bool, is {v}"),
        )
    })
}

/// A required 1-D integer attribute.
pub(crate) fn attr_ints(path: &Path, loc: &Location, name: &str) -> Result<Vec<i64>, OutputError> {
    match read_attr(path, loc, name)? {
        AttrValue::Ints(v) => Ok(v),
        AttrValue::Int(i) => Ok(vec![i]),
        other => Err(bad(
            path,
            format!("{}@{name}", loc.name()),
            format!("should be an integer array, is {other}"),
        )),
    }
}

/// Opens a required subgroup.
pub(crate) fn group(path: &Path, parent: &Group, name: &str) -> Result<Group, OutputError> {
    if !parent.link_exists(name) {
        return Err(missing(path, join(&parent.name(), name)));
    }
    parent.group(name).map_err(|e| {
        h5err(
            path,
            format!("opening group {}", join(&parent.name(), name)),
            e,
        )
    })
}

/// Opens a required dataset.
pub(crate) fn dataset(path: &Path, parent: &Group, name: &str) -> Result<Dataset, OutputError> {
    if !parent.link_exists(name) {
        return Err(missing(path, join(&parent.name(), name)));
    }
    parent.dataset(name).map_err(|e| {
        h5err(
            path,
            format!("opening dataset {}", join(&parent.name(), name)),
            e,
        )
    })
}

pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Creates an extendable dataset of shape `[0, tail...]`: unlimited first dimension, chunked
/// by [`CHUNK_ROWS`] rows, deflate-compressed.
pub(crate) fn create_series<T: H5Type>(
    path: &Path,
    parent: &Group,
    name: &str,
    tail: &[usize],
    units: &str,
) -> Result<Dataset, OutputError> {
    let what = || format!("creating dataset {}", join(&parent.name(), name));
    let mut extents = vec![::hdf5::Extent::resizable(0)];
    extents.extend(tail.iter().map(|&n| ::hdf5::Extent::fixed(n)));
    let mut chunk = vec![CHUNK_ROWS];
    // Keep a chunk under ~1 MiB whatever the tail (full traces can be wide).
    let row: usize = tail.iter().product::<usize>().max(1) * std::mem::size_of::<T>();
    chunk[0] = (1 << 20) / row.max(1);
    chunk[0] = chunk[0].clamp(1, CHUNK_ROWS);
    chunk.extend(tail.iter().map(|&n| n.max(1)));
    let mut b = parent
        .new_dataset::<T>()
        .shape(::hdf5::SimpleExtents::new(extents))
        .chunk(chunk);
    if ::hdf5::filters::deflate_available() {
        b = b.deflate(DEFLATE);
    }
    let ds = b.create(name).map_err(|e| h5err(path, what(), e))?;
    Attr { path }.text(&ds, "units", units)?;
    Ok(ds)
}

/// Writes `row` (the flattened `tail` of one entry, row-major) at index `index`, growing the
/// dataset to `index + 1` rows.
pub(crate) fn put_row<T: H5Type>(
    path: &Path,
    ds: &Dataset,
    index: usize,
    row: &[T],
) -> Result<(), OutputError> {
    let what = || format!("writing row {index} of {}", ds.name());
    let mut shape = ds.shape();
    let tail: Vec<usize> = shape[1..].to_vec();
    if tail.iter().product::<usize>() != row.len() {
        return Err(bad(
            path,
            ds.name(),
            format!("row of {} values does not fit shape {:?}", row.len(), shape),
        ));
    }
    if shape[0] <= index {
        shape[0] = index + 1;
        ds.resize(shape.clone())
            .map_err(|e| h5err(path, what(), e))?;
    }
    let mut view_shape = vec![1];
    view_shape.extend(&tail);
    let view = ArrayViewD::from_shape(IxDyn(&view_shape), row)
        .expect("row length checked against the dataset's shape");
    let mut sel: Vec<SliceOrIndex> = vec![(index..index + 1).into()];
    sel.extend(tail.iter().map(|_| SliceOrIndex::from(..)));
    ds.write_slice(view, Selection::from(Hyperslab::from(sel)))
        .map_err(|e| h5err(path, what(), e))
}

/// Cuts an extendable dataset to its first `rows` rows (used by `--resume`).
pub(crate) fn truncate(path: &Path, ds: &Dataset, rows: usize) -> Result<(), OutputError> {
    let mut shape = ds.shape();
    if shape.first().is_some_and(|&n| n > rows) {
        shape[0] = rows;
        ds.resize(shape)
            .map_err(|e| h5err(path, format!("truncating {}", ds.name()), e))?;
    }
    Ok(())
}

/// Reads a whole dataset as a flat row-major vector with its shape, checking the element type
/// converts to `T` and, when given, the trailing shape.
pub(crate) fn read_flat<T: H5Type>(
    path: &Path,
    parent: &Group,
    name: &str,
    tail: Option<&[usize]>,
) -> Result<(Vec<T>, Vec<usize>), OutputError> {
    let ds = dataset(path, parent, name)?;
    let shape = ds.shape();
    if let Some(t) = tail {
        if shape.len() != t.len() + 1 || shape[1..] != *t {
            return Err(bad(
                path,
                ds.name(),
                format!(
                    "has shape {shape:?}, expected [rows, {}]",
                    t.iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let v = ds
        .read_raw::<T>()
        .map_err(|e| h5err(path, format!("reading {}", ds.name()), e))?;
    Ok((v, shape))
}

/// Writes a fixed-shape (non-extendable) dataset, replacing one of the same name.
pub(crate) fn put_fixed<T: H5Type>(
    path: &Path,
    parent: &Group,
    name: &str,
    shape: &[usize],
    data: &[T],
) -> Result<Dataset, OutputError> {
    let what = || format!("writing {}", join(&parent.name(), name));
    if parent.link_exists(name) {
        parent.unlink(name).map_err(|e| h5err(path, what(), e))?;
    }
    let view = ArrayViewD::from_shape(IxDyn(shape), data).map_err(|_| {
        bad(
            path,
            join(&parent.name(), name),
            format!("{} values do not fit shape {shape:?}", data.len()),
        )
    })?;
    let mut b = parent.new_dataset_builder().with_data(view);
    let big = std::mem::size_of_val(data) > 64 * 1024;
    if big && ::hdf5::filters::deflate_available() {
        b = b
            .chunk(chunk_for(shape, std::mem::size_of::<T>()))
            .deflate(DEFLATE);
    }
    b.create(name).map_err(|e| h5err(path, what(), e))
}

/// A chunk shape of at most ~1 MiB for a fixed dataset: whole trailing dimensions, as many
/// leading rows as fit.
fn chunk_for(shape: &[usize], elem: usize) -> Vec<usize> {
    let mut chunk: Vec<usize> = shape.iter().map(|&n| n.max(1)).collect();
    let mut bytes: usize = chunk.iter().product::<usize>() * elem;
    let mut axis = 0;
    while bytes > (1 << 20) && axis < chunk.len() {
        let per = bytes / chunk[axis];
        chunk[axis] = ((1 << 20) / per.max(1)).max(1);
        bytes = chunk.iter().product::<usize>() * elem;
        axis += 1;
    }
    chunk
}
