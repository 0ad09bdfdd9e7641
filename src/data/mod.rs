//! Datasets: loading, checking and serving samples to the chip.
//!
//! Everything downstream sees one shape: a [`Dataset`] with a train and a test [`Split`], each a
//! features × samples `f32` matrix with values in [0, 1] (one column per sample, so a sample is
//! contiguous in memory and a minibatch is a cheap column gather) and a `u8` label per sample.
//! The sources are the built-in digits (the default, so the simulator runs with no files),
//! MNIST / Fashion-MNIST IDX files, CIFAR-10 / CIFAR-100 binary batches, and two synthetic
//! tasks. A [`DataSpec`] (parsed from `--data`) names the source; [`load`] reads it; every
//! problem with the files is a [`DataError`] naming the file, never a panic or silently wrong
//! data. See `docs/data.md` for the user-facing description.

mod cifar;
mod detect;
mod embedded;
mod error;
mod files;
mod idx;
mod info;
mod mnist;
mod spec;
mod synthetic;

pub use embedded::{SPLIT_SEED as DIGITS_SPLIT_SEED, TEST_SAMPLES as DIGITS_TEST_SAMPLES};
pub use error::DataError;
pub use info::info;
pub use spec::{DataSpec, SyntheticSpec, SyntheticTask, VALID_SPECS};

use std::fmt::Write as _;

use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// One split (train or test): samples as columns, labels alongside.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// features × samples, values in [0, 1]; column `i` is sample `i`.
    pub x: DMatrix<f32>,
    /// Class of each sample, `< n_classes` of the owning dataset.
    pub labels: Vec<u8>,
}

/// A loaded dataset with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Short name: "digits", "mnist", "fashion-mnist", "cifar10", "cifar100",
    /// "cifar100-coarse", "synthetic-clusters" or "synthetic-teacher".
    pub name: String,
    /// (channels, height, width); `features() == c*h*w`. Columns are flattened channel-major
    /// then row-major (CIFAR: all R, then all G, then all B, as in the file), so a later conv
    /// layer can reshape a column without copying. Synthetic tasks use (1, 1, in).
    pub image_shape: (usize, usize, usize),
    /// Number of classes; every label is below it.
    pub n_classes: usize,
    /// One display name per class ("0".."9", or CIFAR / Fashion-MNIST names).
    pub class_names: Vec<String>,
    /// Training samples.
    pub train: Split,
    /// Test samples.
    pub test: Split,
    /// Identifies the exact source data for output files: lowercase hex sha256 of the
    /// *decompressed* files concatenated in a fixed order (so raw and `.gz` copies agree),
    /// or `synthetic:<canonical spec>,seed=<seed>` for generated data.
    pub source_hash: String,
}

impl Split {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split has no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per sample (rows of `x`).
    pub fn features(&self) -> usize {
        self.x.nrows()
    }

    /// Writes the one-hot targets of samples `idx` into `out` (n_classes × idx.len()),
    /// reallocating only if `out` has another shape, so a training loop can reuse one buffer.
    ///
    /// Panics if a label is `>= n_classes` (loaders guarantee labels fit their dataset).
    pub fn one_hot(&self, idx: &[usize], n_classes: usize, out: &mut DMatrix<f32>) {
        if out.shape() != (n_classes, idx.len()) {
            *out = DMatrix::zeros(n_classes, idx.len());
        } else {
            out.fill(0.0);
        }
        for (j, &i) in idx.iter().enumerate() {
            let l = self.labels[i] as usize;
            assert!(
                l < n_classes,
                "label {l} of sample {i} does not fit {n_classes} classes"
            );
            out[(l, j)] = 1.0;
        }
    }

    /// Copies the columns `idx` into `out` (features × idx.len()), allocating only if `out`
    /// has another shape. Panics if an index is out of range.
    pub fn gather(&self, idx: &[usize], out: &mut DMatrix<f32>) {
        let f = self.features();
        if out.shape() != (f, idx.len()) {
            *out = DMatrix::zeros(f, idx.len());
        }
        let src = self.x.as_slice();
        for (dst, &i) in out.as_mut_slice().chunks_exact_mut(f.max(1)).zip(idx) {
            dst.copy_from_slice(&src[i * f..(i + 1) * f]);
        }
    }

    /// Samples per class (labels `>= n_classes` are not counted; loaders never produce them).
    pub fn label_histogram(&self, n_classes: usize) -> Vec<usize> {
        let mut h = vec![0; n_classes];
        for &l in &self.labels {
            if let Some(c) = h.get_mut(l as usize) {
                *c += 1;
            }
        }
        h
    }

    /// A new split holding the samples `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Split {
        let mut x = DMatrix::zeros(0, 0);
        self.gather(idx, &mut x);
        Split {
            x,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// (min, max) over all values, or `None` for an empty split.
    pub fn value_range(&self) -> Option<(f32, f32)> {
        let s = self.x.as_slice();
        let first = *s.first()?;
        Some(
            s.iter()
                .fold((first, first), |(lo, hi), &v| (lo.min(v), hi.max(v))),
        )
    }
}

impl Dataset {
    /// Features per sample, `c*h*w` of `image_shape`.
    pub fn features(&self) -> usize {
        let (c, h, w) = self.image_shape;
        c * h * w
    }

    /// Keeps a random subset of each split (`--train-samples` / `--test-samples`); `None`
    /// keeps the split whole.
    ///
    /// The subset is drawn with Xoshiro256PlusPlus from `seed` (train) and a fixed offset of it
    /// (test, so the test subset does not change when only the train size does), then sorted
    /// back into file order: the same arguments give the same samples in the same order.
    /// Asking for 0 samples or for more than the split has is an error, not a silent clamp.
    /// `source_hash` is kept: it names the source, and the subset is reproducible from it.
    pub fn subset(
        mut self,
        train: Option<usize>,
        test: Option<usize>,
        seed: u64,
    ) -> Result<Dataset, DataError> {
        const TEST_OFFSET: u64 = 0x9e37_79b9_7f4a_7c15;
        for (split, want, name, s) in [
            (&mut self.train, train, "train", seed),
            (&mut self.test, test, "test", seed.wrapping_add(TEST_OFFSET)),
        ] {
            let Some(k) = want else { continue };
            let n = split.len();
            if k == 0 || k > n {
                let reason = if k == 0 {
                    "at least 1 is needed".to_string()
                } else {
                    format!("only {n} exist")
                };
                return Err(DataError::BadSubset {
                    dataset: self.name.clone(),
                    split: name,
                    requested: k,
                    reason,
                });
            }
            if k < n {
                let mut idx: Vec<usize> = (0..n).collect();
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(s);
                let (chosen, _) = idx.partial_shuffle(&mut rng, k);
                let mut chosen = chosen.to_vec();
                chosen.sort_unstable();
                *split = split.select(&chosen);
            }
        }
        Ok(self)
    }
}

/// Loads the dataset `spec` names. `seed` is used only by synthetic generation; the digits
/// split is fixed and file datasets come with their own split.
pub fn load(spec: &DataSpec, seed: u64) -> Result<Dataset, DataError> {
    match spec {
        DataSpec::Digits => embedded::load_digits(),
        DataSpec::Mnist(dir) => mnist::load_dir(dir, false),
        DataSpec::Fashion(dir) => mnist::load_dir(dir, true),
        DataSpec::Cifar10(dir) => cifar::load_cifar10(dir),
        DataSpec::Cifar100 { dir, fine } => cifar::load_cifar100(dir, *fine),
        DataSpec::Synthetic(s) => {
            s.validate().map_err(|reason| DataError::BadSpec {
                spec: s.to_string(),
                reason,
            })?;
            Ok(synthetic::generate(s, seed))
        }
    }
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
