//! Why `npchip report` (table, plots, HTML page) failed: a typed error below the CLI, whose
//! messages name the file and what was being done with it.

use std::path::PathBuf;

/// Why a report, a plot or the HTML page could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// plotters could not draw or save a figure.
    #[error("{path}: drawing the plot: {message}")]
    Plot {
        /// The PNG.
        path: PathBuf,
        /// plotters' message.
        message: String,
    },
    /// A file or directory of the report cannot be read, created or written.
    #[error("{path}: {what}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done (`cannot write the HTML report`).
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The table or the notes cannot be written to their stream (stdout, stderr).
    #[error("writing the report: {0}")]
    Write(#[from] std::io::Error),
    /// A result file cannot be read.
    #[error(transparent)]
    Output(#[from] super::hdf5::OutputError),
}
