//! CIFAR-10 and CIFAR-100 in the official *binary* layout.
//!
//! A file is a sequence of fixed-size records with no header: CIFAR-10 records are 1 label
//! byte + 3072 pixel bytes, CIFAR-100 records 1 coarse + 1 fine label byte + 3072 pixel bytes.
//! The pixels are three 32×32 planes R, G, B, each row-major; a sample's column keeps exactly
//! that order (`features = 3*32*32`, channel-major), which is what a later conv layer with
//! `image_shape = (3, 32, 32)` expects. With no header, the only integrity checks available are
//! the file size (a whole number of records) and the label range, and both are enforced.

use std::path::{Path, PathBuf};

use nalgebra::DMatrix;
use sha2::{Digest, Sha256};

use super::detect::Kind;
use super::files;
use super::idx::check_labels;
use super::{DataError, Dataset, Split};

/// Pixel bytes per image (3 planes of 32×32).
pub const PIXELS: usize = 3 * 32 * 32;

/// How one CIFAR variant lays out its records.
#[derive(Clone, Copy)]
struct Layout {
    /// Label bytes before the pixels (1 for CIFAR-10, 2 for CIFAR-100).
    label_bytes: usize,
    /// Which label byte is the class (0 = first).
    pick: usize,
    /// Largest valid value of each label byte, and how to name it in an error.
    max: [(u8, &'static str); 2],
    /// "CIFAR-10" or "CIFAR-100", for messages.
    title: &'static str,
}

impl Layout {
    fn record(&self) -> usize {
        self.label_bytes + PIXELS
    }
}

/// Appends the records of one decoded file to `x` (pixels / 255) and `labels`.
fn parse_into(
    path: &Path,
    bytes: &[u8],
    lay: Layout,
    x: &mut Vec<f32>,
    labels: &mut Vec<u8>,
) -> Result<(), DataError> {
    let rec = lay.record();
    let (whole, rest) = (bytes.len() / rec, bytes.len() % rec);
    if rest != 0 || whole == 0 {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            what: format!(
                "{} file (records of {rec} bytes: {whole} whole records + {rest} bytes)",
                lay.title
            ),
            expected: ((whole + 1) * rec) as u64,
            found: bytes.len() as u64,
        });
    }
    for (k, &(max, kind)) in lay.max.iter().enumerate().take(lay.label_bytes) {
        let column: Vec<u8> = bytes.chunks_exact(rec).map(|r| r[k]).collect();
        check_labels(path, &column, kind, max)?;
    }
    let mut lut = [0f32; 256];
    for (i, v) in lut.iter_mut().enumerate() {
        *v = i as f32 / 255.0;
    }
    x.reserve(whole * PIXELS);
    labels.reserve(whole);
    for r in bytes.chunks_exact(rec) {
        labels.push(r[lay.pick]);
        x.extend(r[lay.label_bytes..].iter().map(|&b| lut[b as usize]));
    }
    Ok(())
}

/// Stacks the records of decoded files into one split, hashing the bytes in order.
fn split_from(
    paths: &[PathBuf],
    decoded: &[Vec<u8>],
    lay: Layout,
    hasher: &mut Sha256,
) -> Result<Split, DataError> {
    let total: usize = decoded.iter().map(|b| b.len() / lay.record()).sum();
    let (mut x, mut labels) = (
        Vec::with_capacity(total * PIXELS),
        Vec::with_capacity(total),
    );
    for (p, b) in paths.iter().zip(decoded) {
        hasher.update(b);
        parse_into(p, b, lay, &mut x, &mut labels)?;
    }
    let n = labels.len();
    Ok(Split {
        x: DMatrix::from_vec(PIXELS, n, x),
        labels,
    })
}

/// Decodes all files at once (in parallel: xz decoding dominates the load time), then builds
/// the train split from all but the last file and the test split from the last one.
fn load_splits(mut paths: Vec<PathBuf>, lay: Layout) -> Result<(Split, Split, String), DataError> {
    let mut decoded = files::read_all(&paths)?;
    let (test_path, test_bytes) = (
        paths.split_off(paths.len() - 1),
        decoded.split_off(decoded.len() - 1),
    );
    let mut hasher = Sha256::new();
    let train = split_from(&paths, &decoded, lay, &mut hasher)?;
    drop(decoded);
    let test = split_from(&test_path, &test_bytes, lay, &mut hasher)?;
    Ok((train, test, super::hex(&hasher.finalize())))
}

/// Loads the CIFAR-10 binary version: `data_batch_1..5.bin` (train) and `test_batch.bin`, each
/// raw, `.gz` or `.xz`. Class names come from `batches.meta.txt` when present.
/// `source_hash` is sha256 over the six decompressed batches concatenated in that order.
pub(crate) fn load_cifar10(dir: &Path) -> Result<Dataset, DataError> {
    files::check_dir(
        dir,
        "the CIFAR-10 binary batches (data_batch_1.bin ... test_batch.bin)",
    )?;
    let want = (Kind::Cifar10, "CIFAR-10");
    let mut paths = Vec::new();
    for k in 1..=5 {
        let base = format!("data_batch_{k}.bin");
        paths.push(files::find(
            dir,
            &[&base],
            &format!("CIFAR-10 training batch {k}"),
            want,
        )?);
    }
    paths.push(files::find(
        dir,
        &["test_batch.bin"],
        "the CIFAR-10 test batch",
        want,
    )?);
    let lay = Layout {
        label_bytes: 1,
        pick: 0,
        max: [(9, "label"), (0, "")],
        title: "CIFAR-10",
    };
    let class_names = match files::find_optional(dir, &["batches.meta.txt"]) {
        Some(p) => files::read_class_names(&p, 10)?,
        None => files::numbered_classes(10),
    };
    let (train, test, source_hash) = load_splits(paths, lay)?;
    Ok(Dataset {
        name: "cifar10".into(),
        image_shape: (3, 32, 32),
        n_classes: 10,
        class_names,
        train,
        test,
        source_hash,
    })
}

/// Loads the CIFAR-100 binary version (`train.bin`, `test.bin`), with the 100 fine labels or,
/// if `fine` is false, the 20 coarse superclasses. Both label bytes are range-checked either
/// way, because a bad byte in the unused one still means a damaged or foreign file.
pub(crate) fn load_cifar100(dir: &Path, fine: bool) -> Result<Dataset, DataError> {
    files::check_dir(dir, "the CIFAR-100 binary files (train.bin, test.bin)")?;
    let want = (Kind::Cifar100, "CIFAR-100");
    let train_path = files::find(dir, &["train.bin"], "the CIFAR-100 training file", want)?;
    let test_path = files::find(dir, &["test.bin"], "the CIFAR-100 test file", want)?;
    let lay = Layout {
        label_bytes: 2,
        pick: usize::from(fine),
        max: [(19, "coarse label"), (99, "fine label")],
        title: "CIFAR-100",
    };
    let (n_classes, names_file) = if fine {
        (100, "fine_label_names.txt")
    } else {
        (20, "coarse_label_names.txt")
    };
    let class_names = match files::find_optional(dir, &[names_file]) {
        Some(p) => files::read_class_names(&p, n_classes)?,
        None => files::numbered_classes(n_classes),
    };
    let (train, test, source_hash) = load_splits(vec![train_path, test_path], lay)?;
    Ok(Dataset {
        name: if fine { "cifar100" } else { "cifar100-coarse" }.into(),
        image_shape: (3, 32, 32),
        n_classes,
        class_names,
        train,
        test,
        source_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const C10: Layout = Layout {
        label_bytes: 1,
        pick: 0,
        max: [(9, "label"), (0, "")],
        title: "CIFAR-10",
    };

    #[test]
    fn record_pixels_keep_plane_order() {
        let mut rec = vec![7u8];
        rec.extend((0..PIXELS).map(|i| (i / 1024) as u8 * 100));
        let (mut x, mut l) = (Vec::new(), Vec::new());
        parse_into(Path::new("b"), &rec, C10, &mut x, &mut l).unwrap();
        assert_eq!(l, vec![7]);
        assert_eq!(
            (x[0], x[1024], x[2048], x[3071]),
            (0.0, 100.0 / 255.0, 200.0 / 255.0, 200.0 / 255.0)
        );
    }

    #[test]
    fn partial_record_is_truncated_with_byte_counts() {
        let bytes = vec![1u8; 3073 + 10];
        let e = parse_into(
            Path::new("/d/b.bin"),
            &bytes,
            C10,
            &mut Vec::new(),
            &mut Vec::new(),
        )
        .err()
        .unwrap();
        let e = e.to_string();
        assert!(
            e.contains("/d/b.bin") && e.contains("expected 6146 bytes, found 3083"),
            "{e}"
        );
    }

    #[test]
    fn cifar100_checks_both_label_bytes() {
        let lay = Layout {
            label_bytes: 2,
            pick: 0,
            max: [(19, "coarse label"), (99, "fine label")],
            title: "CIFAR-100",
        };
        let mut bytes = vec![3u8, 150];
        bytes.extend(vec![0u8; PIXELS]);
        let e = parse_into(
            Path::new("t.bin"),
            &bytes,
            lay,
            &mut Vec::new(),
            &mut Vec::new(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("fine label 150 at index 0"), "{e}");
    }
}
