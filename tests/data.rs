//! Data layer: the built-in digits, real MNIST / CIFAR-10 from the shared folder (skipped when
//! absent), small hand-made files in every accepted format, and one test per error case that
//! checks the message names the file and the problem.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nalgebra::DMatrix;
use npchip::data::{self, DataError, DataSpec, Dataset, Split, SyntheticSpec, SyntheticTask};

// ---------------------------------------------------------------- helpers

/// `$NPCHIP_SHARED_DATASETS/sub`, else `<crate>/../shared/datasets/sub`; `None` (and a SKIPPED
/// line on stderr) when it does not exist.
fn shared(test: &str, sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("NPCHIP_SHARED_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"));
    let dir = root.join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: {test}: {} not found", dir.display());
        None
    }
}

fn idx_images(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = [2051u32, n, rows, cols]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect();
    v.extend_from_slice(pixels);
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = [2049u32, labels.len() as u32]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect();
    v.extend_from_slice(labels);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    lzma_rs::xz_compress(&mut &bytes[..], &mut out).unwrap();
    out
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Encodes `bytes` for a file name suffix: "", ".gz" or ".xz".
fn enc(suffix: &str, bytes: &[u8]) -> Vec<u8> {
    match suffix {
        ".gz" => gz(bytes),
        ".xz" => xz(bytes),
        _ => bytes.to_vec(),
    }
}

/// A tiny MNIST-style directory: 3 train and 2 test images of 2×3 pixels.
fn mnist_dir(dir: &Path, suffix: &str, dotted: bool) {
    let sep = if dotted { "." } else { "-" };
    let train_px: Vec<u8> = (0..18).map(|i| (i * 15) as u8).collect();
    let test_px: Vec<u8> = (0..12).map(|i| 255 - i as u8).collect();
    put(
        dir,
        &format!("train-images{sep}idx3-ubyte{suffix}"),
        &enc(suffix, &idx_images(3, 2, 3, &train_px)),
    );
    put(
        dir,
        &format!("train-labels{sep}idx1-ubyte{suffix}"),
        &enc(suffix, &idx_labels(&[4, 0, 9])),
    );
    put(
        dir,
        &format!("t10k-images{sep}idx3-ubyte{suffix}"),
        &enc(suffix, &idx_images(2, 2, 3, &test_px)),
    );
    put(
        dir,
        &format!("t10k-labels{sep}idx1-ubyte{suffix}"),
        &enc(suffix, &idx_labels(&[1, 7])),
    );
}

/// A CIFAR record: label byte(s), then R, G, B planes filled with `r`, `g`, `b`.
fn record(labels: &[u8], r: u8, g: u8, b: u8) -> Vec<u8> {
    let mut v = labels.to_vec();
    for c in [r, g, b] {
        v.extend([c; 1024]);
    }
    v
}

/// A CIFAR-10 directory with two records per batch; batch k's records have labels k-1 and k.
fn cifar10_dir(dir: &Path, suffix: &str) {
    for k in 1..=5u8 {
        let bytes = [record(&[k - 1], k, 0, 255), record(&[k], 0, k, 51)].concat();
        put(
            dir,
            &format!("data_batch_{k}.bin{suffix}"),
            &enc(suffix, &bytes),
        );
    }
    put(
        dir,
        &format!("test_batch.bin{suffix}"),
        &enc(suffix, &record(&[9], 1, 2, 3)),
    );
}

fn load(spec: &str) -> Result<Dataset, DataError> {
    data::load(&spec.parse::<DataSpec>()?, 0)
}

/// Loads `spec` expecting an error; checks the message is one line and returns it.
fn err(spec: &str) -> String {
    let e = load(spec)
        .err()
        .unwrap_or_else(|| panic!("{spec} loaded without error"));
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "multi-line error: {msg}");
    msg
}

fn has_all(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "expected {p:?} in: {msg}");
    }
}

fn d(dir: &Path) -> String {
    dir.display().to_string()
}

// ---------------------------------------------------------------- built-in digits

#[test]
fn digits_default_split_is_fixed_and_stratified() {
    let a = data::load(&DataSpec::default(), 1).unwrap();
    let b = data::load(&DataSpec::Digits, 99).unwrap();
    assert_eq!(a, b, "the digits split must not depend on the run seed");
    assert_eq!(
        (a.name.as_str(), a.train.len(), a.test.len()),
        ("digits", 1437, 360)
    );
    assert_eq!(
        (a.image_shape, a.features(), a.train.features(), a.n_classes),
        ((1, 8, 8), 64, 64, 10)
    );
    let (tr, te) = (a.train.label_histogram(10), a.test.label_histogram(10));
    let total: Vec<usize> = tr.iter().zip(&te).map(|(x, y)| x + y).collect();
    assert_eq!(total, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    assert_eq!(
        te,
        [36, 37, 35, 37, 36, 36, 36, 36, 35, 36],
        "largest-remainder stratification"
    );
    assert_eq!(
        a.class_names,
        (0..10).map(|i| i.to_string()).collect::<Vec<_>>()
    );
}

#[test]
fn digits_values_are_exact_sixteenths() {
    let ds = data::load(&DataSpec::Digits, 0).unwrap();
    for s in [&ds.train, &ds.test] {
        for &v in s.x.as_slice() {
            let k = v * 16.0;
            assert!(
                k == k.round() && (0.0..=16.0).contains(&k),
                "value {v} is not k/16"
            );
        }
        assert_eq!(s.value_range(), Some((0.0, 1.0)));
    }
}

#[test]
fn digits_source_hash_is_sha256_of_the_decompressed_files() {
    // = `zcat datasets/digits-images-idx3-ubyte.gz datasets/digits-labels-idx1-ubyte.gz | sha256sum`
    let ds = data::load(&DataSpec::Digits, 0).unwrap();
    assert_eq!(
        ds.source_hash,
        "663fb76c4498a2e6a9ea2c09e2b4c4ed5dacbb5707e8f598be22c9624f62bb4e"
    );
}

#[test]
fn digits_shipped_copy_equals_shared_copy() {
    let Some(dir) = shared("digits_shipped_copy_equals_shared_copy", "digits") else {
        return;
    };
    for name in ["digits-images-idx3-ubyte.gz", "digits-labels-idx1-ubyte.gz"] {
        let ours = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("datasets")
                .join(name),
        )
        .unwrap();
        assert_eq!(
            ours,
            std::fs::read(dir.join(name)).unwrap(),
            "{name} differs from the shared copy"
        );
    }
}

// ---------------------------------------------------------------- real data (shared folder)

#[test]
fn real_mnist_counts_histograms_and_hash() {
    let Some(dir) = shared("real_mnist_counts_histograms_and_hash", "mnist") else {
        return;
    };
    let t = Instant::now();
    let ds = data::load(&DataSpec::Mnist(dir), 0).unwrap();
    eprintln!("real MNIST loaded in {:.2?}", t.elapsed());
    assert_eq!(
        (ds.train.len(), ds.test.len(), ds.image_shape, ds.features()),
        (60000, 10000, (1, 28, 28), 784)
    );
    assert_eq!(
        ds.train.label_histogram(10),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        ds.test.label_histogram(10),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert_eq!(ds.train.value_range(), Some((0.0, 1.0)));
    assert_eq!(&ds.train.labels[..5], &[5, 0, 4, 1, 9]);
    // zcat train-images train-labels t10k-images t10k-labels | sha256sum
    assert_eq!(
        ds.source_hash,
        "b2d8f5bf39174ee5ffeefa97e42d673c35432b411bb5d1f74fbbeddae7f1690a"
    );
}

#[test]
fn real_cifar10_counts_histograms_and_hash() {
    let Some(dir) = shared("real_cifar10_counts_histograms_and_hash", "cifar-10") else {
        return;
    };
    let t = Instant::now();
    let ds = data::load(&DataSpec::Cifar10(dir), 0).unwrap();
    eprintln!(
        "real CIFAR-10 (all six xz batches) loaded in {:.2?}",
        t.elapsed()
    );
    assert_eq!(
        (ds.train.len(), ds.test.len(), ds.image_shape, ds.features()),
        (50000, 10000, (3, 32, 32), 3072)
    );
    // Sum of the five per-batch histograms in shared/datasets/README.md.
    let batches = [
        [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981],
        [984, 1007, 1010, 995, 1010, 988, 1008, 1026, 987, 985],
        [994, 1042, 965, 997, 990, 1029, 978, 1015, 961, 1029],
        [1003, 963, 1041, 976, 1004, 1021, 1004, 981, 1024, 983],
        [1014, 1014, 952, 1016, 997, 1025, 980, 977, 1003, 1022],
    ];
    let sum: Vec<usize> = (0..10)
        .map(|k| batches.iter().map(|b| b[k]).sum())
        .collect();
    assert_eq!(ds.train.label_histogram(10), sum);
    let first: Vec<usize> = (0..10)
        .map(|k| ds.train.labels[..10000].iter().filter(|&&l| l == k).count())
        .collect();
    assert_eq!(first, batches[0], "data_batch_1 comes first");
    assert_eq!(ds.test.label_histogram(10), vec![1000; 10]);
    assert_eq!(&ds.train.labels[..10], &[6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
    assert_eq!(&ds.test.labels[..10], &[3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    assert_eq!(
        (ds.class_names[0].as_str(), ds.class_names[9].as_str()),
        ("airplane", "truck")
    );
    // (for f in data_batch_{1..5} test_batch; do xz -dc $f.bin.xz; done) | sha256sum
    assert_eq!(
        ds.source_hash,
        "013ba16d14ecc4829da62bf2af648ca30f600491ecb3e7f329c827db0dd17522"
    );
}

// ---------------------------------------------------------------- formats, on small files

#[test]
fn mnist_raw_gz_xz_and_dotted_names_give_identical_data() {
    let mut loaded = Vec::new();
    for (suffix, dotted) in [
        ("", false),
        (".gz", false),
        (".xz", false),
        (".gz", true),
        ("", true),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        mnist_dir(tmp.path(), suffix, dotted);
        loaded.push(load(&format!("mnist:{}", d(tmp.path()))).unwrap());
    }
    for ds in &loaded[1..] {
        assert_eq!(ds.train, loaded[0].train);
        assert_eq!(ds.test, loaded[0].test);
        assert_eq!(
            ds.source_hash, loaded[0].source_hash,
            "hash is over decompressed bytes"
        );
    }
}

#[test]
fn mnist_pixels_are_scaled_by_255_one_column_per_image() {
    let tmp = tempfile::tempdir().unwrap();
    mnist_dir(tmp.path(), ".gz", false);
    let ds = load(&format!("mnist:{}", d(tmp.path()))).unwrap();
    assert_eq!(
        (ds.name.as_str(), ds.image_shape, ds.train.x.shape()),
        ("mnist", (1, 2, 3), (6, 3))
    );
    assert_eq!(ds.train.labels, [4, 0, 9]);
    assert_eq!(ds.test.labels, [1, 7]);
    for i in 0..18 {
        assert_eq!(ds.train.x[(i % 6, i / 6)], (i * 15) as f32 / 255.0);
    }
    assert_eq!(ds.test.x[(0, 1)], 249.0 / 255.0);
}

#[test]
fn fashion_uses_the_same_format_with_class_names() {
    let tmp = tempfile::tempdir().unwrap();
    mnist_dir(tmp.path(), "", false);
    let ds = load(&format!("fashion:{}", d(tmp.path()))).unwrap();
    assert_eq!(ds.name, "fashion-mnist");
    assert_eq!(
        (ds.class_names[0].as_str(), ds.class_names[9].as_str()),
        ("T-shirt/top", "Ankle boot")
    );
}

#[test]
fn cifar10_planes_labels_and_meta_names() {
    for suffix in ["", ".gz", ".xz"] {
        let tmp = tempfile::tempdir().unwrap();
        cifar10_dir(tmp.path(), suffix);
        let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
        put(tmp.path(), "batches.meta.txt", names.as_bytes());
        let ds = load(&format!("cifar10:{}", d(tmp.path()))).unwrap();
        assert_eq!(
            (ds.train.len(), ds.test.len(), ds.image_shape),
            (10, 1, (3, 32, 32))
        );
        assert_eq!(ds.train.labels, [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]);
        assert_eq!(ds.class_names[9], "truck");
        let col = ds.train.x.column(1); // batch 1, second record: R=0, G=1, B=51
        assert_eq!(
            (col[0], col[1023], col[1024], col[2048], col[3071]),
            (0.0, 0.0, 1.0 / 255.0, 0.2, 0.2)
        );
        assert_eq!(ds.test.x.column(0)[2048], 3.0 / 255.0);
    }
}

#[test]
fn cifar10_without_meta_uses_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    cifar10_dir(tmp.path(), "");
    let ds = load(&format!("cifar10:{}", d(tmp.path()))).unwrap();
    assert_eq!(ds.class_names[3], "3");
}

#[test]
fn cifar100_fine_and_coarse_labels_and_names() {
    let tmp = tempfile::tempdir().unwrap();
    let train = [record(&[19, 99], 10, 20, 30), record(&[0, 5], 0, 0, 0)].concat();
    put(tmp.path(), "train.bin.gz", &gz(&train));
    put(tmp.path(), "test.bin", &record(&[3, 42], 1, 1, 1));
    let fine_names: String = (0..100).map(|i| format!("fine{i}\n")).collect();
    put(tmp.path(), "fine_label_names.txt", fine_names.as_bytes());
    let fine = load(&format!("cifar100:{}", d(tmp.path()))).unwrap();
    assert_eq!(
        (
            fine.name.as_str(),
            fine.n_classes,
            fine.train.labels.clone()
        ),
        ("cifar100", 100, vec![99, 5])
    );
    assert_eq!(
        (fine.test.labels[0], fine.class_names[42].as_str()),
        (42, "fine42")
    );
    assert_eq!(fine.train.x.column(0)[1024], 20.0 / 255.0);
    let coarse = load(&format!("cifar100-coarse:{}", d(tmp.path()))).unwrap();
    assert_eq!(
        (
            coarse.name.as_str(),
            coarse.n_classes,
            coarse.train.labels.clone()
        ),
        ("cifar100-coarse", 20, vec![19, 0])
    );
    assert_eq!(
        coarse.class_names[19], "19",
        "no coarse_label_names.txt: numbers"
    );
    assert_eq!(coarse.train.x, fine.train.x);
}

// ---------------------------------------------------------------- errors

#[test]
fn error_missing_file_lists_the_names_tried() {
    let tmp = tempfile::tempdir().unwrap();
    let msg = err(&format!("mnist:{}", d(tmp.path())));
    has_all(
        &msg,
        &[
            &d(tmp.path()),
            "missing MNIST training images",
            "train-images-idx3-ubyte.gz",
            "train-images.idx3-ubyte",
        ],
    );
    mnist_dir(tmp.path(), "", false);
    std::fs::remove_file(tmp.path().join("t10k-labels-idx1-ubyte")).unwrap();
    has_all(
        &err(&format!("mnist:{}", d(tmp.path()))),
        &["missing MNIST test labels", "t10k-labels-idx1-ubyte.xz"],
    );
    // A directory that is an MNIST one but asked for as CIFAR says so instead of "missing".
    let msg = err(&format!("cifar10:{}", d(tmp.path())));
    assert!(msg.contains("MNIST-style"), "{msg}");
}

#[test]
fn error_directory_not_found() {
    let msg = err("cifar10:/definitely/not/here");
    has_all(
        &msg,
        &[
            "/definitely/not/here",
            "directory not found",
            "data_batch_1.bin",
        ],
    );
}

#[test]
fn error_wrong_magic_names_found_and_expected() {
    let tmp = tempfile::tempdir().unwrap();
    mnist_dir(tmp.path(), "", false);
    let (img, lbl) = (
        tmp.path().join("train-images-idx3-ubyte"),
        tmp.path().join("train-labels-idx1-ubyte"),
    );
    let (a, b) = (std::fs::read(&img).unwrap(), std::fs::read(&lbl).unwrap());
    std::fs::write(&img, &b).unwrap();
    std::fs::write(&lbl, &a).unwrap();
    let msg = err(&format!("mnist:{}", d(tmp.path())));
    has_all(
        &msg,
        &[
            &d(&img),
            "wrong magic number 2049",
            "expected 2051",
            "swapped",
        ],
    );
    // A gzip file without its .gz extension.
    std::fs::write(&img, gz(&a)).unwrap();
    has_all(
        &err(&format!("mnist:{}", d(tmp.path()))),
        &[&d(&img), "gzip stream: name the file *.gz"],
    );
}

#[test]
fn error_truncated_idx_gives_byte_counts() {
    let tmp = tempfile::tempdir().unwrap();
    mnist_dir(tmp.path(), "", false);
    let p = tmp.path().join("t10k-images-idx3-ubyte");
    let full = std::fs::read(&p).unwrap(); // 16 + 12 bytes
    std::fs::write(&p, &full[..20]).unwrap();
    let msg = err(&format!("mnist:{}", d(tmp.path())));
    has_all(
        &msg,
        &[
            &d(&p),
            "truncated",
            "2 images of 2x3",
            "expected 28 bytes, found 20",
        ],
    );
    std::fs::write(&p, [full.clone(), vec![0; 5]].concat()).unwrap();
    has_all(
        &err(&format!("mnist:{}", d(tmp.path()))),
        &[&d(&p), "exactly 28 bytes, found 33"],
    );
}

#[test]
fn error_truncated_cifar_gives_byte_counts() {
    let tmp = tempfile::tempdir().unwrap();
    cifar10_dir(tmp.path(), "");
    let p = tmp.path().join("data_batch_3.bin");
    let full = std::fs::read(&p).unwrap();
    std::fs::write(&p, &full[..3073 + 100]).unwrap();
    let msg = err(&format!("cifar10:{}", d(tmp.path())));
    has_all(
        &msg,
        &[
            &d(&p),
            "truncated",
            "records of 3073 bytes",
            "expected 6146 bytes, found 3173",
        ],
    );
}

#[test]
fn error_image_label_count_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    mnist_dir(tmp.path(), "", false);
    put(tmp.path(), "train-labels-idx1-ubyte", &idx_labels(&[1, 2]));
    let msg = err(&format!("mnist:{}", d(tmp.path())));
    has_all(
        &msg,
        &[
            "train-images-idx3-ubyte holds 3 images",
            "train-labels-idx1-ubyte holds 2 labels",
        ],
    );
}

#[test]
fn error_label_out_of_range_says_which_where_and_max() {
    let tmp = tempfile::tempdir().unwrap();
    mnist_dir(tmp.path(), ".gz", false);
    let p = put(
        tmp.path(),
        "train-labels-idx1-ubyte.gz",
        &gz(&idx_labels(&[1, 2, 10])),
    );
    has_all(
        &err(&format!("mnist:{}", d(tmp.path()))),
        &[&d(&p), "label 10 at index 2", "max allowed 9"],
    );

    let tmp = tempfile::tempdir().unwrap();
    cifar10_dir(tmp.path(), "");
    let p = put(
        tmp.path(),
        "test_batch.bin",
        &[record(&[0], 0, 0, 0), record(&[12], 0, 0, 0)].concat(),
    );
    has_all(
        &err(&format!("cifar10:{}", d(tmp.path()))),
        &[&d(&p), "label 12 at index 1", "max allowed 9"],
    );

    let tmp = tempfile::tempdir().unwrap();
    put(tmp.path(), "train.bin", &record(&[20, 1], 0, 0, 0));
    put(tmp.path(), "test.bin", &record(&[1, 1], 0, 0, 0));
    let msg = err(&format!("cifar100:{}", d(tmp.path())));
    has_all(
        &msg,
        &["train.bin", "coarse label 20 at index 0", "max allowed 19"],
    );
}

#[test]
fn error_directory_of_another_dataset_is_recognised() {
    let cifar = tempfile::tempdir().unwrap();
    cifar10_dir(cifar.path(), ".xz");
    let msg = err(&format!("mnist:{}", d(cifar.path())));
    has_all(
        &msg,
        &[
            &d(cifar.path()),
            "this looks like CIFAR-10",
            "not MNIST",
            &format!("use cifar10:{}", d(cifar.path())),
        ],
    );
    has_all(
        &err(&format!("cifar100:{}", d(cifar.path()))),
        &["looks like CIFAR-10", "use cifar10:"],
    );

    let mnist = tempfile::tempdir().unwrap();
    mnist_dir(mnist.path(), ".gz", true);
    let msg = err(&format!("cifar10:{}", d(mnist.path())));
    has_all(
        &msg,
        &[
            "looks like MNIST-style IDX files",
            "not CIFAR-10",
            &format!("use mnist:{}", d(mnist.path())),
        ],
    );

    let c100 = tempfile::tempdir().unwrap();
    put(c100.path(), "train.bin", &record(&[1, 1], 0, 0, 0));
    has_all(
        &err(&format!("cifar10:{}", d(c100.path()))),
        &["looks like CIFAR-100", "use cifar100:"],
    );

    let parent = tempfile::tempdir().unwrap();
    let inner = parent.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&inner).unwrap();
    cifar10_dir(&inner, "");
    let msg = err(&format!("cifar10:{}", d(parent.path())));
    has_all(&msg, &[
        "a folder with CIFAR-10 in its subdirectory 'cifar-10-batches-bin', not CIFAR-10 itself",
        &format!("use cifar10:{}", d(&inner)),
    ]);
    // With several datasets below, the one asked for is suggested.
    let other = parent.path().join("mnist");
    std::fs::create_dir(&other).unwrap();
    mnist_dir(&other, ".gz", false);
    let msg = err(&format!("mnist:{}", d(parent.path())));
    has_all(
        &msg,
        &[
            "MNIST-style IDX files in its subdirectory 'mnist'",
            &format!("use mnist:{}", d(&other)),
        ],
    );

    let pickle = tempfile::tempdir().unwrap();
    put(pickle.path(), "data_batch_1", b"\x80\x02pickle");
    has_all(
        &err(&format!("cifar10:{}", d(pickle.path()))),
        &["Python (pickle) version", "binary"],
    );
}

#[test]
fn error_corrupt_gzip_and_xz_streams() {
    let tmp = tempfile::tempdir().unwrap();
    mnist_dir(tmp.path(), ".gz", false);
    let p = put(
        tmp.path(),
        "train-images-idx3-ubyte.gz",
        b"\x1f\x8b\x08\x00garbage that is not deflate",
    );
    has_all(
        &err(&format!("mnist:{}", d(tmp.path()))),
        &[&d(&p), "corrupt gzip stream"],
    );
    let good = gz(&idx_images(3, 2, 3, &[0; 18]));
    put(
        tmp.path(),
        "train-images-idx3-ubyte.gz",
        &good[..good.len() / 2],
    );
    has_all(
        &err(&format!("mnist:{}", d(tmp.path()))),
        &[&d(&p), "corrupt gzip stream"],
    );

    // xz-utils output (CRC64 check): one CIFAR-10 record, label 3, planes filled with 1, 2, 3.
    let tmp = tempfile::tempdir().unwrap();
    cifar10_dir(tmp.path(), "");
    std::fs::remove_file(tmp.path().join("test_batch.bin")).unwrap();
    let p = put(tmp.path(), "test_batch.bin.xz", &XZ_RECORD);
    let ds = load(&format!("cifar10:{}", d(tmp.path()))).unwrap();
    assert_eq!((ds.test.labels[0], ds.test.x[(3071, 0)]), (3, 3.0 / 255.0));
    for at in [24, 40, 62] {
        let mut bad = XZ_RECORD;
        bad[at] ^= 0x40;
        put(tmp.path(), "test_batch.bin.xz", &bad);
        has_all(
            &err(&format!("cifar10:{}", d(tmp.path()))),
            &[&d(&p), "corrupt xz stream"],
        );
    }
    put(tmp.path(), "test_batch.bin.xz", &XZ_RECORD[..50]);
    has_all(
        &err(&format!("cifar10:{}", d(tmp.path()))),
        &[&d(&p), "corrupt xz stream"],
    );
}

/// `xz -9e --check=crc64` of a CIFAR-10 record (label 3; R, G, B planes of 1s, 2s, 3s).
const XZ_RECORD: [u8; 92] = [
    0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04, 0xe6, 0xd6, 0xb4, 0x46, 0x02, 0x00, 0x21, 0x01,
    0x1c, 0x00, 0x00, 0x00, 0x10, 0xcf, 0x58, 0xcc, 0xe0, 0x0c, 0x00, 0x00, 0x1b, 0x5d, 0x00, 0x01,
    0x80, 0x87, 0xd1, 0xf2, 0xb5, 0x35, 0x0d, 0xd3, 0xde, 0xed, 0x0c, 0x04, 0x46, 0x83, 0x7b, 0x0b,
    0x83, 0xcd, 0xbb, 0xc3, 0x4d, 0xe6, 0xd9, 0xa7, 0x0b, 0x00, 0x00, 0x00, 0x16, 0xfd, 0xb1, 0xd5,
    0x9e, 0x66, 0x13, 0x9d, 0x00, 0x01, 0x37, 0x81, 0x18, 0x00, 0x00, 0x00, 0x9a, 0x05, 0x01, 0xc3,
    0xb1, 0xc4, 0x67, 0xfb, 0x02, 0x00, 0x00, 0x00, 0x00, 0x04, 0x59, 0x5a,
];

#[test]
fn error_class_name_file_with_wrong_count() {
    let tmp = tempfile::tempdir().unwrap();
    cifar10_dir(tmp.path(), "");
    let p = put(tmp.path(), "batches.meta.txt", b"a\nb\nc\n");
    has_all(
        &err(&format!("cifar10:{}", d(tmp.path()))),
        &[&d(&p), "expected 10 class names", "found 3"],
    );
}

// ---------------------------------------------------------------- the --data syntax

#[test]
fn spec_parses_every_form_and_round_trips() {
    let cases = [
        ("digits", DataSpec::Digits),
        ("mnist:/d/m", DataSpec::Mnist("/d/m".into())),
        ("fashion:rel/f", DataSpec::Fashion("rel/f".into())),
        ("cifar10:/c", DataSpec::Cifar10("/c".into())),
        (
            "cifar100:/c",
            DataSpec::Cifar100 {
                dir: "/c".into(),
                fine: true,
            },
        ),
        (
            "cifar100-coarse:/c",
            DataSpec::Cifar100 {
                dir: "/c".into(),
                fine: false,
            },
        ),
    ];
    for (s, want) in cases {
        let got: DataSpec = s.parse().unwrap();
        assert_eq!(got, want);
        assert_eq!(got.to_string(), s);
    }
    let t: DataSpec = "synthetic:teacher,in=16,classes=3,n=100,hidden=8"
        .parse()
        .unwrap();
    let want = SyntheticSpec {
        task: SyntheticTask::Teacher { hidden: 8 },
        inputs: 16,
        classes: 3,
        samples: 100,
    };
    assert_eq!(t, DataSpec::Synthetic(want));
    let c: DataSpec = "synthetic:clusters".parse().unwrap();
    assert_eq!(
        c.to_string(),
        "synthetic:clusters,in=64,classes=10,n=2000,noise=1"
    );
    assert_eq!(c.to_string().parse::<DataSpec>().unwrap(), c);
    let c: DataSpec = "synthetic:clusters, noise=0.25 ,n=50".parse().unwrap();
    assert_eq!(c.to_string().parse::<DataSpec>().unwrap(), c);
}

#[test]
fn spec_unknown_name_lists_the_valid_ones() {
    let msg = "imagenet:/x".parse::<DataSpec>().unwrap_err().to_string();
    has_all(
        &msg,
        &[
            "unknown dataset 'imagenet'",
            "digits",
            "mnist:DIR",
            "cifar100-coarse:DIR",
            "synthetic:teacher",
        ],
    );
}

#[test]
fn spec_bad_arguments_are_explained() {
    let bad = |s: &str, parts: &[&str]| {
        let msg = s.parse::<DataSpec>().unwrap_err().to_string();
        has_all(&msg, &[&format!("'{s}'")]);
        has_all(&msg, parts);
    };
    bad("mnist", &["mnist needs a directory: mnist:DIR"]);
    bad("cifar10:", &["cifar10:DIR"]);
    bad("digits:/x", &["takes no argument"]);
    bad("synthetic", &["synthetic:clusters or synthetic:teacher"]);
    bad("synthetic:spirals", &["unknown synthetic task 'spirals'"]);
    bad(
        "synthetic:clusters,hidden=3",
        &["unknown key 'hidden'", "noise"],
    );
    bad("synthetic:teacher,in=x", &["in=x: expected a whole number"]);
    bad("synthetic:teacher,n=5,n=6", &["given twice"]);
    bad("synthetic:teacher,classes=300", &["between 2 and 256"]);
    bad("synthetic:clusters,noise=-1", &["noise=-1"]);
    bad("synthetic:clusters,n=1", &["at least 2 samples"]);
}

// ---------------------------------------------------------------- synthetic tasks

#[test]
fn synthetic_clusters_are_balanced_in_range_and_seeded() {
    let spec: DataSpec = "synthetic:clusters,in=12,classes=4,n=200,noise=0.5"
        .parse()
        .unwrap();
    let a = data::load(&spec, 5).unwrap();
    assert_eq!(a, data::load(&spec, 5).unwrap());
    assert_ne!(a.train.x, data::load(&spec, 6).unwrap().train.x);
    assert_eq!(
        (a.name.as_str(), a.image_shape, a.train.len(), a.test.len()),
        ("synthetic-clusters", (1, 1, 12), 160, 40)
    );
    assert_eq!(a.train.label_histogram(4), [40; 4]);
    assert_eq!(a.test.label_histogram(4), [10; 4]);
    let (lo, hi) = a.train.value_range().unwrap();
    assert!(lo > 0.0 && hi < 1.0);
    assert_eq!(
        a.source_hash,
        "synthetic:clusters,in=12,classes=4,n=200,noise=0.5,seed=5"
    );
    // Nearest-centre classification (centres estimated on train) should be nearly perfect.
    let mut means = DMatrix::<f32>::zeros(12, 4);
    for (col, &l) in a.train.x.column_iter().zip(&a.train.labels) {
        let mut m = means.column_mut(l as usize);
        m += col / 40.0;
    }
    let correct = a
        .test
        .x
        .column_iter()
        .zip(&a.test.labels)
        .filter(|(col, &l)| {
            let dist = |k: usize| (means.column(k) - col).norm();
            (0..4).min_by(|&i, &j| dist(i).total_cmp(&dist(j))) == Some(l as usize)
        });
    assert!(correct.count() >= 38);
}

#[test]
fn synthetic_teacher_is_seeded_and_uses_most_classes() {
    let spec: DataSpec = "synthetic:teacher,in=20,classes=5,n=1000,hidden=16"
        .parse()
        .unwrap();
    let a = data::load(&spec, 1).unwrap();
    assert_eq!(a, data::load(&spec, 1).unwrap());
    assert_eq!(
        (a.name.as_str(), a.features(), a.train.len(), a.test.len()),
        ("synthetic-teacher", 20, 800, 200)
    );
    let (lo, hi) = a.train.value_range().unwrap();
    assert!((0.0..0.01).contains(&lo) && (0.99..=1.0).contains(&hi));
    let h = a.train.label_histogram(5);
    assert!(
        h.iter().all(|&c| c >= 40),
        "mean-centred teacher should not starve a class: {h:?}"
    );
}

// ---------------------------------------------------------------- Split / Dataset helpers

fn tiny_split() -> Split {
    Split {
        x: DMatrix::from_fn(3, 5, |r, c| (10 * c + r) as f32),
        labels: vec![2, 0, 1, 2, 2],
    }
}

#[test]
fn one_hot_gather_and_histogram() {
    let s = tiny_split();
    assert_eq!((s.len(), s.is_empty(), s.features()), (5, false, 3));
    assert_eq!(s.label_histogram(3), [1, 1, 3]);
    let mut y = DMatrix::zeros(0, 0);
    s.one_hot(&[4, 1], 3, &mut y);
    assert_eq!(
        y,
        DMatrix::from_column_slice(3, 2, &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    );
    let ptr = y.as_ptr();
    s.one_hot(&[2, 2], 3, &mut y);
    assert_eq!(
        (y.as_ptr(), y.column(0).iter().sum::<f32>(), y[(1, 1)]),
        (ptr, 1.0, 1.0)
    );
    let mut x = DMatrix::zeros(3, 2);
    let ptr = x.as_ptr();
    s.gather(&[3, 0], &mut x);
    assert_eq!(
        x.as_ptr(),
        ptr,
        "gather must not reallocate when the shape fits"
    );
    assert_eq!(
        x,
        DMatrix::from_column_slice(3, 2, &[30.0, 31.0, 32.0, 0.0, 1.0, 2.0])
    );
    s.gather(&[4, 4, 1], &mut x);
    assert_eq!(x.shape(), (3, 3));
    assert_eq!(x.column(1)[2], 42.0);
}

#[test]
fn subset_is_seeded_sorted_and_checked() {
    let ds = data::load(&DataSpec::Digits, 0).unwrap();
    let a = ds.clone().subset(Some(100), Some(50), 3).unwrap();
    let b = ds.clone().subset(Some(100), Some(50), 3).unwrap();
    let c = ds.clone().subset(Some(100), Some(50), 4).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.train, c.train);
    assert_eq!(
        (a.train.len(), a.test.len(), a.source_hash.as_str()),
        (100, 50, ds.source_hash.as_str())
    );
    // Order follows the original: label samples by their index and check it increases.
    let numbered = Dataset {
        train: Split {
            x: DMatrix::from_fn(1, 1000, |_, c| c as f32),
            labels: vec![0; 1000],
        },
        ..ds.clone()
    };
    let sub = numbered.subset(Some(100), None, 7).unwrap();
    assert!(sub.train.x.as_slice().windows(2).all(|w| w[0] < w[1]));
    // The test subset does not move when only the train size changes.
    let d2 = ds.clone().subset(Some(10), Some(50), 3).unwrap();
    assert_eq!(d2.test, a.test);
    let whole = ds.clone().subset(None, Some(360), 9).unwrap();
    assert_eq!(whole, ds);
    let msg = ds
        .clone()
        .subset(Some(5000), None, 0)
        .unwrap_err()
        .to_string();
    has_all(
        &msg,
        &["digits", "asked for 5000 train samples", "only 1437 exist"],
    );
    let msg = ds.subset(None, Some(0), 0).unwrap_err().to_string();
    has_all(&msg, &["0 test samples", "at least 1"]);
}

#[test]
fn info_reports_sizes_shape_range_and_histograms() {
    let ds = data::load(&DataSpec::Digits, 0).unwrap();
    let text = data::info(&ds);
    for part in [
        "digits",
        "1437 samples",
        "360 samples",
        "1 x 8 x 8",
        "features     64",
        "[0, 1]",
        "663fb76c",
    ] {
        assert!(text.contains(part), "{part:?} missing from:\n{text}");
    }
    let row9 = text
        .lines()
        .find(|l| l.trim_start().starts_with("9 "))
        .unwrap();
    assert_eq!(
        row9.split_whitespace().collect::<Vec<_>>(),
        ["9", "9", "144", "36"]
    );
}
