//! Recognising which dataset a directory holds, from its file names alone.
//!
//! Pointing `mnist:` at a CIFAR folder (or at the folder the archive was downloaded to rather
//! than the one it unpacked into) is the likeliest mistake with `--data`, and "missing
//! train-images-idx3-ubyte" alone would not explain it. So when a required file is missing,
//! the loaders ask [`detect`] and, if the directory evidently holds something else, say what
//! and which spec would load it.

use std::path::Path;

use super::files::find_optional;

/// What a directory seems to hold, judged by its file names only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// IDX files with the MNIST names (MNIST and Fashion-MNIST cannot be told apart).
    Idx,
    /// CIFAR-10 binary batches.
    Cifar10,
    /// CIFAR-100 binary `train.bin` / `test.bin`.
    Cifar100,
    /// The CIFAR Python (pickle) download, which this crate does not read.
    CifarPython,
    /// The digits IDX files that are compiled into the crate.
    Digits,
}

/// The result of [`detect`].
#[derive(Debug, Clone)]
pub(crate) struct Detected {
    /// The dataset kind.
    pub kind: Kind,
    /// How to name it in a message ("CIFAR-10", "a folder with CIFAR-10 in its subdirectory
    /// 'cifar-10-batches-bin'").
    pub what: String,
    /// The spec (or action) that would load it.
    pub spec: String,
    /// True when the files were found in a subdirectory, not in the directory itself.
    pub nested: bool,
}

/// Guesses which dataset `dir` holds from its file names, looking one level down if the
/// directory itself holds none: pointing at the folder a dataset was downloaded or unpacked
/// *into* is a common slip. Among several subdirectories (visited in name order, at most
/// [`MAX_SUBDIRS`]) one holding the `wanted` kind is preferred.
pub(crate) fn detect(dir: &Path, wanted: Kind) -> Option<Detected> {
    if let Some(found) = detect_here(dir) {
        return Some(found);
    }
    let mut subdirs: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .take(MAX_SUBDIRS)
        .collect();
    subdirs.sort();
    let inner: Vec<(Detected, &Path)> = subdirs
        .iter()
        .filter_map(|p| Some((detect_here(p)?, p.as_path())))
        .collect();
    let pick = inner
        .iter()
        .position(|(d, _)| d.kind == wanted)
        .unwrap_or(0);
    let (found, sub) = inner.into_iter().nth(pick)?;
    let name = sub
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    Some(Detected {
        what: format!("a folder with {} in its subdirectory '{name}'", found.what),
        nested: true,
        ..found
    })
}

/// Subdirectories inspected by [`detect`], so a huge folder cannot stall an error message.
pub(crate) const MAX_SUBDIRS: usize = 64;

/// [`detect`] for the directory's own files only.
fn detect_here(dir: &Path) -> Option<Detected> {
    let has = |base: &str| find_optional(dir, &[base]).is_some();
    let d = dir.display();
    let (kind, what, spec) = if has("data_batch_1.bin") || has("test_batch.bin") {
        (Kind::Cifar10, "CIFAR-10", format!("cifar10:{d}"))
    } else if has("train.bin") || has("test.bin") {
        let spec = format!("cifar100:{d} (or cifar100-coarse:{d})");
        (Kind::Cifar100, "CIFAR-100", spec)
    } else if has("data_batch_1") || (has("train") && has("meta")) {
        let spec = "the CIFAR *binary* version (cifar-10-binary / cifar-100-binary) instead";
        (
            Kind::CifarPython,
            "the CIFAR Python (pickle) version",
            spec.to_string(),
        )
    } else if IDX_NAMES.iter().any(|b| has(b)) {
        let spec = format!("mnist:{d} (or fashion:{d})");
        (Kind::Idx, "MNIST-style IDX files", spec)
    } else if has("digits-images-idx3-ubyte") {
        (
            Kind::Digits,
            "the digits set",
            "digits (it is built in)".to_string(),
        )
    } else {
        return None;
    };
    Some(Detected {
        kind,
        what: what.to_string(),
        spec,
        nested: false,
    })
}

/// Base names whose presence marks an MNIST-style directory.
const IDX_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-images.idx3-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-images.idx3-ubyte",
];
