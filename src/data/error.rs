//! The one error type of the data layer.
//!
//! A bad data file must stop a run before any training happens, with a message that lets the
//! user fix it without reading source code. So every variant that concerns a file carries the
//! full path and says what was expected next to what was found, and every `Display` is a single
//! line (the CLI prints it after `error:`, and logs stay greppable).

use std::path::{Path, PathBuf};

/// Everything that can go wrong while parsing a `--data` spec, reading or subsetting a dataset.
///
/// Loading never panics and never returns data it could not fully check: a short file, a
/// foreign file or an out-of-range byte all end up here.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The directory given in the spec does not exist or is not a directory.
    #[error("{}: directory not found (expected a directory holding {expected})", dir.display())]
    DirNotFound {
        /// The directory from the spec.
        dir: PathBuf,
        /// What the directory should hold, e.g. "the MNIST IDX files".
        expected: String,
    },
    /// The spec names a path that exists but is not a directory (a file, a FIFO...).
    #[error("{}: is {found}, not a directory (expected a directory holding {expected})", path.display())]
    NotADirectory {
        /// The path from the spec.
        path: PathBuf,
        /// What it is, e.g. "a regular file".
        found: &'static str,
        /// What the directory should hold.
        expected: String,
    },
    /// An entry with a dataset file's name that is not a readable regular file.
    #[error("{}: is {found}, not a regular file (expected {what})", path.display())]
    NotAFile {
        /// The entry.
        path: PathBuf,
        /// What it is: "a directory", "a FIFO (named pipe)", "a dangling symbolic link"...
        found: &'static str,
        /// Which logical file was expected there.
        what: String,
    },
    /// A compressed file that inflates beyond [`super::files::MAX_DECOMPRESSED`].
    #[error("{}: the decompressed {format} stream is larger than {limit} bytes, more than any file of the supported dataset formats allows (the largest, CIFAR-100's train.bin, is 154 MB): a decompression bomb or not a dataset file", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// "gzip" or "xz".
        format: &'static str,
        /// The limit, bytes.
        limit: u64,
    },
    /// None of the accepted names for a required file exists.
    #[error("{}: missing {what}; looked for {}", dir.display(), looked_for.join(", "))]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// Which logical file is missing, e.g. "MNIST training images".
        what: String,
        /// Every file name tried, in the order tried.
        looked_for: Vec<String>,
    },
    /// The directory holds a different dataset than the one asked for.
    #[error("{}: this looks like {looks_like}, not {wanted}; use {hint}", dir.display())]
    WrongDataset {
        /// The directory from the spec.
        dir: PathBuf,
        /// The dataset the spec asked for.
        wanted: String,
        /// What the directory's contents look like.
        looks_like: String,
        /// The spec (or action) that would work.
        hint: String,
    },
    /// The operating system refused to read a file.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A `.gz` or `.xz` file whose compressed stream does not decode.
    #[error("{}: corrupt {format} stream: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// "gzip" or "xz".
        format: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// An IDX file whose first four bytes are not the expected magic number.
    #[error("{}: wrong magic number {found} (0x{found:08x}), expected {expected} (0x{expected:08x}) for an IDX {kind} file{}", path.display(), magic_note(*found))]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The big-endian u32 found at offset 0.
        found: u32,
        /// 2051 for images, 2049 for labels.
        expected: u32,
        /// "image" or "label".
        kind: &'static str,
    },
    /// A file shorter than its header (or its record size) says it must be.
    #[error("{}: truncated {what}: expected {expected} bytes, found {found}", path.display())]
    Truncated {
        /// The file (its decompressed content is what was measured).
        path: PathBuf,
        /// What the size was derived from, e.g. "IDX image file (60000 images of 28x28)".
        what: String,
        /// Bytes needed.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// A file longer than its header says: most likely a different file with a similar header.
    #[error("{}: {what} should be exactly {expected} bytes, found {found} ({} bytes too many)", path.display(), found - expected)]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// What the size was derived from.
        what: String,
        /// Bytes expected.
        expected: u64,
        /// Bytes present (always more than `expected`).
        found: u64,
    },
    /// A header field that cannot describe a usable dataset (zero images, zero-sized images).
    #[error("{}: bad header: {reason}", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The image file and its label file disagree on the number of samples.
    #[error("{} holds {n_images} images but {} holds {n_labels} labels (expected one label per image)", images.display(), labels.display())]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Images in it.
        n_images: usize,
        /// The label file.
        labels: PathBuf,
        /// Labels in it.
        n_labels: usize,
    },
    /// The train and test image files have different image sizes.
    #[error("{} has images of {}x{} but {} has {}x{} (train and test must match)", train.display(), train_hw.0, train_hw.1, test.display(), test_hw.0, test_hw.1)]
    ShapeMismatch {
        /// The training image file.
        train: PathBuf,
        /// Its (rows, cols).
        train_hw: (usize, usize),
        /// The test image file.
        test: PathBuf,
        /// Its (rows, cols).
        test_hw: (usize, usize),
    },
    /// A label byte outside the dataset's class range.
    #[error("{}: {kind} {label} at index {index} is out of range (max allowed {max})", path.display())]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// "label", "coarse label" or "fine label".
        kind: &'static str,
        /// The offending label.
        label: u8,
        /// The sample index inside that file (0-based).
        index: usize,
        /// The largest valid label.
        max: u8,
    },
    /// A pixel byte above the format's maximum (only the 0..16 digits format has one below 255).
    #[error("{}: pixel value {value} in image {index} is out of range (max allowed {max})", path.display())]
    PixelOutOfRange {
        /// The file.
        path: PathBuf,
        /// The offending byte.
        value: u8,
        /// The image index (0-based).
        index: usize,
        /// The largest valid value.
        max: u8,
    },
    /// A class-name file whose line count does not match the number of classes.
    #[error("{}: expected {expected} class names (one per line), found {found}", path.display())]
    ClassNames {
        /// The file.
        path: PathBuf,
        /// Number of classes of the dataset.
        expected: usize,
        /// Non-empty lines found.
        found: usize,
    },
    /// The name before the `:` in a `--data` spec is not a known dataset.
    #[error("unknown dataset '{name}'; valid: {valid}")]
    UnknownDataset {
        /// The name given.
        name: String,
        /// The accepted forms, comma-separated.
        valid: String,
    },
    /// A known dataset name with a malformed argument (missing directory, bad synthetic key...).
    #[error("bad --data spec '{spec}': {reason}")]
    BadSpec {
        /// The whole spec as given.
        spec: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// `--train-samples` / `--test-samples` asked for more samples than the split has (or zero).
    #[error("{dataset}: asked for {requested} {split} samples but {reason}")]
    BadSubset {
        /// The dataset name.
        dataset: String,
        /// "train" or "test".
        split: &'static str,
        /// The number asked for.
        requested: usize,
        /// Why it cannot be served, e.g. "only 360 exist".
        reason: String,
    },
}

/// A hint for the commonest magic mix-up: an IDX file of the other kind, or a compressed file
/// that was renamed without its extension.
fn magic_note(found: u32) -> &'static str {
    match found {
        2049 => " (2049 is an IDX label file: are image and label files swapped?)",
        2051 => " (2051 is an IDX image file: are image and label files swapped?)",
        x if x >> 16 == 0x1f8b => " (this is a gzip stream: name the file *.gz)",
        0xfd37_7a58 => " (this is an xz stream: name the file *.xz)",
        _ => "",
    }
}

impl DataError {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
