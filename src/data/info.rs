//! The text of `npchip data info`: what a `--data` spec actually loads.
//!
//! Before a long run it is worth seeing that the right files were found and decoded sensibly:
//! sample counts, image shape, the value range (catches a wrong scale, e.g. 0..16 data divided
//! by 255) and the class balance of each split (catches a truncated or mislabelled file).

use std::fmt::Write as _;

use super::{Dataset, Split};

/// The report of `npchip data info`: name, sizes, shape, value range and per-class counts.
pub fn info(ds: &Dataset) -> String {
    let (c, h, w) = ds.image_shape;
    let range = |s: &Split| match s.value_range() {
        Some((lo, hi)) => format!("[{lo}, {hi}]"),
        None => "(empty)".to_string(),
    };
    let mut o = String::new();
    let _ = writeln!(o, "dataset      {}", ds.name);
    let _ = writeln!(o, "source       {}", ds.source_hash);
    let _ = writeln!(o, "train        {} samples", ds.train.len());
    let _ = writeln!(o, "test         {} samples", ds.test.len());
    let _ = writeln!(
        o,
        "image shape  {c} x {h} x {w} (channels x height x width)"
    );
    let _ = writeln!(o, "features     {}", ds.features());
    let _ = writeln!(
        o,
        "values       train {}, test {}",
        range(&ds.train),
        range(&ds.test)
    );
    let _ = writeln!(o, "classes      {}", ds.n_classes);
    let (tr, te) = (
        ds.train.label_histogram(ds.n_classes),
        ds.test.label_histogram(ds.n_classes),
    );
    let width = ds
        .class_names
        .iter()
        .map(|n| n.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let _ = writeln!(o, "label histogram:");
    let _ = writeln!(
        o,
        "  {:>3}  {:<width$}  {:>8}  {:>8}",
        "#", "class", "train", "test"
    );
    for k in 0..ds.n_classes {
        let name = ds.class_names.get(k).map_or("?", String::as_str);
        let _ = writeln!(o, "  {k:>3}  {name:<width$}  {:>8}  {:>8}", tr[k], te[k]);
    }
    o
}
