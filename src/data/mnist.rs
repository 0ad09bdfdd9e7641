//! MNIST and Fashion-MNIST: four IDX files in a directory.
//!
//! The two datasets share format, sizes and file names, so one loader serves both and only the
//! dataset name and class names differ. Each file may be raw, `.gz` or `.xz`, and named with a
//! dash (`train-images-idx3-ubyte`, LeCun's download names) or a dot
//! (`train-images.idx3-ubyte`, the name stored inside those gzip files and used by some
//! mirrors).

use std::path::Path;

use sha2::{Digest, Sha256};

use super::detect::Kind;
use super::{files, idx, DataError, Dataset};

/// Fashion-MNIST's class names (label order of the official files).
const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Loads an MNIST-style directory (`fashion` picks the name and class names; the format is
/// identical). `source_hash` is sha256 over the decompressed train images, train labels, test
/// images, test labels, concatenated in that order.
pub(crate) fn load_dir(dir: &Path, fashion: bool) -> Result<Dataset, DataError> {
    let (name, title) = if fashion {
        ("fashion-mnist", "Fashion-MNIST")
    } else {
        ("mnist", "MNIST")
    };
    files::check_dir(
        dir,
        &format!("the {title} IDX files (train-images-idx3-ubyte...)"),
    )?;
    let want = (Kind::Idx, title);
    let look = |stem: &str, kind: &str, what: &str| {
        let dims = if kind == "images" { 3 } else { 1 };
        let (plain, dotted) = (
            format!("{stem}-{kind}-idx{dims}-ubyte"),
            format!("{stem}-{kind}.idx{dims}-ubyte"),
        );
        files::find(dir, &[&plain, &dotted], &format!("{title} {what}"), want)
    };
    let paths = [
        look("train", "images", "training images")?,
        look("train", "labels", "training labels")?,
        look("t10k", "images", "test images")?,
        look("t10k", "labels", "test labels")?,
    ];
    let mut hasher = Sha256::new();
    let mut bytes = Vec::with_capacity(4);
    for p in &paths {
        let b = files::read(p)?;
        hasher.update(&b);
        bytes.push(b);
    }
    let (train, train_hw) = idx::pair(&paths[0], &bytes[0], &paths[1], &bytes[1], 255, 9)?;
    let (test, test_hw) = idx::pair(&paths[2], &bytes[2], &paths[3], &bytes[3], 255, 9)?;
    if train_hw != test_hw {
        return Err(DataError::ShapeMismatch {
            train: paths[0].clone(),
            train_hw,
            test: paths[2].clone(),
            test_hw,
        });
    }
    let class_names = if fashion {
        FASHION_CLASSES.iter().map(|s| s.to_string()).collect()
    } else {
        files::numbered_classes(10)
    };
    Ok(Dataset {
        name: name.to_string(),
        image_shape: (1, train_hw.0, train_hw.1),
        n_classes: 10,
        class_names,
        train,
        test,
        source_hash: super::hex(&hasher.finalize()),
    })
}
