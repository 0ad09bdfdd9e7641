//! Names and low-level helpers of the file layout (see `docs/hdf5-schema.md`).

use super::hdf5::OutputError;
use std::path::Path;

pub(crate) fn h5err(path: &Path, what: impl Into<String>, source: ::hdf5::Error) -> OutputError {
    OutputError::Hdf5 { path: path.to_path_buf(), what: what.into(), source }
}
