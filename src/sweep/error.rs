//! Why a sweep could not start, or its file could not be written: one typed error for the whole
//! sweep library, so the CLI (and a script) can tell a bad grid from a full disk, and every
//! message still names the file, key or flag and the value.

use std::path::PathBuf;

/// Why a sweep, or its Slurm scripts, could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep TOML cannot be read or parsed, or a value in it has the wrong type.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A key the sweep TOML does not know.
    #[error("{path}: unknown key `{key}` in [{table}]; allowed: {allowed}")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// `grid`, `grid.vary` or `train`.
        table: String,
        /// The key.
        key: String,
        /// The keys allowed there.
        allowed: String,
    },
    /// A run key that a sweep does not take (`resume`, `out` in a file, ...).
    #[error("{key} does not apply to a sweep: {why}")]
    NotInSweep {
        /// The key or flag.
        key: String,
        /// Why.
        why: String,
    },
    /// A `vary` axis names an unknown key or lists no value or a value twice.
    #[error("vary `{key}`: {message}")]
    Vary {
        /// The key.
        key: String,
        /// What is wrong, with what is allowed.
        message: String,
    },
    /// The shared settings do not check (each violation names the key, value and range).
    #[error("{origin}: {violations}")]
    Settings {
        /// `command line` or `command line + FILE`.
        origin: String,
        /// Every violation.
        violations: crate::run::Violations,
    },
    /// An axis, a point or the shape of the grid is unusable; nothing ran.
    #[error("{0}")]
    Grid(String),
    /// The dataset of the runs cannot be loaded.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// The result file cannot be created or written.
    #[error(transparent)]
    Output(#[from] crate::output::hdf5::OutputError),
    /// An HDF5 call on the sweep's own attributes failed.
    #[error("{path}: {what}: {source}")]
    Hdf5 {
        /// The result file.
        path: PathBuf,
        /// What was being written.
        what: String,
        /// libhdf5's error.
        source: hdf5::Error,
    },
    /// A file or directory of the sweep cannot be written (Slurm scripts, directories).
    #[error("{path}: {what}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Refused before starting: memory, an existing file, an unspellable path.
    #[error("{0}")]
    Refused(String),
}
