//! A run: raw settings → the one check → a checked definition → a result file.
//!
//! - [`Settings`] holds the text of each key as given (CLI flags, a sweep grid point, Python
//!   keyword arguments); [`KEYS`] is the one list of keys with their defaults.
//! - [`Settings::check`] is the one check: a [`RunDef`], or [`Violations`] naming every bad key,
//!   its value and what is allowed. The rest of the library takes only checked types.
//! - [`choices`] holds the one parser and printer of every named choice.
//! - [`train_to_file`] runs a [`RunDef`] into an HDF5 file (or continues one), stoppable through
//!   a [`Cancel`] handle, and returns what happened; it prints nothing.
//!
//! Layering: the definition half (settings, check, spec, choices, preflight) sits below
//! `output`, which stores a [`RunSpec`] as attributes; [`train_to_file`] sits above it.

mod check;
pub mod choices;
mod def;
pub mod preflight;
mod settings;
mod spec;
mod to_file;

pub use crate::train::Cancel;
pub use check::{int_in, Violation, Violations};
pub use choices::TraceLevel;
pub use def::RunDef;
pub use settings::{find_key, Key, Settings, Shape, KEYS};
pub use spec::{limits, RunSpec};
pub use to_file::{dataset, train_to_file, Progress, RunError, RunOutcome};
