//! The built-in default dataset: scikit-learn's 8×8 handwritten digits, compiled into the binary.
//!
//! It is small (1,797 images, 44 kB gzipped) so every run and every test has real data with no
//! download, and large enough that a two-layer network trained on-chip shows a real learning
//! curve in seconds. The files are `datasets/digits-*-ubyte.gz` (see `datasets/README.md` for
//! provenance, licence and checksums). Pixels are counts of on-pixels in 4×4 blocks, 0..16,
//! so they are divided by **16**, not 255: every value is exactly `k/16`.
//!
//! The set has no official train/test split, so a fixed one is made here: stratified, 360 test
//! images (20 %, shared out over the classes by largest remainder), chosen by a shuffle with
//! the constant [`SPLIT_SEED`]. It never depends on the run's seed, so every run, every
//! machine and every paper figure sees the same 1,437 / 360 split.

use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use sha2::{Digest, Sha256};

use super::{idx, DataError, Dataset};

/// The gzipped IDX image file (1797 × 8 × 8, values 0..16).
pub const IMAGES_GZ: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/digits-images-idx3-ubyte.gz"
));
/// The gzipped IDX label file (1797 labels 0..9).
pub const LABELS_GZ: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/digits-labels-idx1-ubyte.gz"
));

/// Seed of the fixed train/test split (not the run seed; see the module docs).
pub const SPLIT_SEED: u64 = 0x00d1_6175_5eed_2024;
/// Images in the test split.
pub const TEST_SAMPLES: usize = 360;

/// Decodes the embedded files and applies the fixed split.
///
/// `source_hash` is sha256 over the decompressed image file followed by the decompressed label
/// file, i.e. `zcat datasets/digits-images-idx3-ubyte.gz datasets/digits-labels-idx1-ubyte.gz |
/// sha256sum`.
pub(crate) fn load_digits() -> Result<Dataset, DataError> {
    let img_path = Path::new("<built-in>/datasets/digits-images-idx3-ubyte.gz");
    let lbl_path = Path::new("<built-in>/datasets/digits-labels-idx1-ubyte.gz");
    let img = super::files::decompress(img_path, "x.gz", IMAGES_GZ.to_vec())?;
    let lbl = super::files::decompress(lbl_path, "x.gz", LABELS_GZ.to_vec())?;
    let mut hasher = Sha256::new();
    hasher.update(&img);
    hasher.update(&lbl);
    let (all, (rows, cols)) = idx::pair(img_path, &img, lbl_path, &lbl, 16, 9)?;
    let test_idx = stratified_test_indices(&all.labels, 10, TEST_SAMPLES, SPLIT_SEED);
    let mut is_test = vec![false; all.len()];
    for &i in &test_idx {
        is_test[i] = true;
    }
    let train_idx: Vec<usize> = (0..all.len()).filter(|&i| !is_test[i]).collect();
    Ok(Dataset {
        name: "digits".into(),
        image_shape: (1, rows, cols),
        n_classes: 10,
        class_names: super::files::numbered_classes(10),
        train: all.select(&train_idx),
        test: all.select(&test_idx),
        source_hash: super::hex(&hasher.finalize()),
    })
}

/// Picks `n_test` indices, stratified by label, in ascending order.
///
/// Each class gets `n_test * count / total` test samples, rounded by largest remainder (ties to
/// the lower class) so the total is exactly `n_test`; within a class the samples are chosen by
/// a shuffle seeded with `seed`, one RNG shared by the classes in label order.
pub(crate) fn stratified_test_indices(
    labels: &[u8],
    n_classes: usize,
    n_test: usize,
    seed: u64,
) -> Vec<usize> {
    let total = labels.len();
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let mut quota: Vec<usize> = by_class
        .iter()
        .map(|c| n_test * c.len() / total.max(1))
        .collect();
    let mut order: Vec<usize> = (0..n_classes).collect();
    // Largest remainder first; the sort is stable, so equal remainders keep label order.
    order.sort_by_key(|&k| std::cmp::Reverse((n_test * by_class[k].len()) % total.max(1)));
    let short = n_test - quota.iter().sum::<usize>();
    for &k in order.iter().take(short) {
        quota[k] += 1;
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n_test);
    for (members, q) in by_class.iter_mut().zip(quota) {
        members.shuffle(&mut rng);
        out.extend_from_slice(&members[..q.min(members.len())]);
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_sum_exactly_and_follow_largest_remainder() {
        let counts = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];
        let labels: Vec<u8> = counts
            .iter()
            .enumerate()
            .flat_map(|(k, &c)| vec![k as u8; c])
            .collect();
        let t = stratified_test_indices(&labels, 10, 360, 1);
        assert_eq!(t.len(), 360);
        let mut h = [0usize; 10];
        for &i in &t {
            h[labels[i] as usize] += 1;
        }
        assert_eq!(h, [36, 37, 35, 37, 36, 36, 36, 36, 35, 36]);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
    }
}
