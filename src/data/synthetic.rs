//! Synthetic classification tasks with known structure, generated from the run seed.
//!
//! They exist for experiments real data cannot support: sweeping the input width or class
//! count freely, and (for the teacher task) knowing that a network of a given size can reach
//! 100 % accuracy. Both produce inputs in [0, 1], like the image datasets, so the chip's DAC
//! range is used the same way. Samples are split 80/20 (stratified; test = `n / 5`, at least 1).
//!
//! * **clusters**: `classes` centres drawn from N(0, 1) in `in` dimensions; a sample is its
//!   class centre plus `noise`·N(0, 1) per dimension, squashed by the logistic sigmoid
//!   `1 / (1 + e^-v)` into (0, 1) (smooth and monotone, so no two samples collide the way
//!   clipping would make them). Classes are balanced (sizes differ by at most one) and the
//!   samples come in random order.
//! * **teacher**: inputs uniform in [0, 1]^in, labelled by a random tanh network
//!   `argmax(W2 · tanh(W1 · (x − 0.5) + b1) − m)`, with `W1 ~ N(0, 12/in)` (unit pre-activation
//!   variance), `b1 ~ N(0, 0.25)`, `W2 ~ N(0, 1/hidden)`, and `m` the mean logit of each class
//!   over the generated samples, subtracted so that argmax does not hand most samples to one
//!   class. A student with at least `hidden` tanh units can represent the labelling exactly.
//!   Class sizes are not forced equal; `npchip data info` shows the histogram.

use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::embedded::stratified_test_indices;
use super::{Dataset, Split, SyntheticSpec, SyntheticTask};

/// Mixed into the run seed for the train/test split, so the split draws are not the first
/// numbers of the stream that made the data.
const SPLIT_SALT: u64 = 0x5b11_7a5e_ed00_0001;

fn normal(rng: &mut Xoshiro256PlusPlus) -> f32 {
    rng.sample::<f32, _>(StandardNormal)
}

/// Generates the dataset described by `spec`; identical for identical (`spec`, `seed`).
///
/// The spec's limits are checked when it is parsed (see [`SyntheticSpec::validate`]).
pub(crate) fn generate(spec: &SyntheticSpec, seed: u64) -> Dataset {
    let (d, c, n) = (spec.inputs, spec.classes, spec.samples);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (x, labels) = match spec.task {
        SyntheticTask::Clusters { noise } => clusters(&mut rng, d, c, n, noise),
        SyntheticTask::Teacher { hidden } => teacher(&mut rng, d, c, n, hidden),
    };
    let all = Split { x, labels };
    let n_test = (n / 5).max(1);
    let test_idx = stratified_test_indices(&all.labels, c, n_test, seed ^ SPLIT_SALT);
    let mut is_test = vec![false; n];
    for &i in &test_idx {
        is_test[i] = true;
    }
    let train_idx: Vec<usize> = (0..n).filter(|&i| !is_test[i]).collect();
    let kind = match spec.task {
        SyntheticTask::Clusters { .. } => "clusters",
        SyntheticTask::Teacher { .. } => "teacher",
    };
    Dataset {
        name: format!("synthetic-{kind}"),
        image_shape: (1, 1, d),
        n_classes: c,
        class_names: super::files::numbered_classes(c),
        train: all.select(&train_idx),
        test: all.select(&test_idx),
        source_hash: format!("{spec},seed={seed}"),
    }
}

fn clusters(
    rng: &mut Xoshiro256PlusPlus,
    d: usize,
    c: usize,
    n: usize,
    noise: f32,
) -> (DMatrix<f32>, Vec<u8>) {
    let centres: Vec<f32> = (0..d * c).map(|_| normal(rng)).collect();
    let mut labels: Vec<u8> = (0..n).map(|i| (i % c) as u8).collect();
    labels.shuffle(rng);
    let mut x = DMatrix::zeros(d, n);
    for (col, &l) in x.column_iter_mut().zip(&labels) {
        let centre = &centres[l as usize * d..(l as usize + 1) * d];
        for (v, &m) in col.into_iter().zip(centre) {
            *v = sigmoid(m + noise * normal(rng));
        }
    }
    (x, labels)
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

fn teacher(
    rng: &mut Xoshiro256PlusPlus,
    d: usize,
    c: usize,
    n: usize,
    h: usize,
) -> (DMatrix<f32>, Vec<u8>) {
    let w1_sd = (12.0 / d as f32).sqrt();
    let w1 = DMatrix::from_fn(h, d, |_, _| w1_sd * normal(rng));
    let b1 = DMatrix::from_fn(h, 1, |_, _| 0.5 * normal(rng));
    let w2_sd = (1.0 / h as f32).sqrt();
    let w2 = DMatrix::from_fn(c, h, |_, _| w2_sd * normal(rng));
    let x = DMatrix::from_fn(d, n, |_, _| rng.gen::<f32>());
    let mut pre = &w1 * x.add_scalar(-0.5);
    for mut col in pre.column_iter_mut() {
        col += &b1;
        col.apply(|v| *v = v.tanh());
    }
    let mut logits = &w2 * pre;
    for mut row in logits.row_iter_mut() {
        let mean = row.mean();
        row.add_scalar_mut(-mean);
    }
    let labels = logits
        .column_iter()
        .map(|col| col.argmax().0 as u8)
        .collect();
    (x, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let spec: SyntheticSpec = "teacher,in=8,classes=3,n=50,hidden=4".parse().unwrap();
        let a = generate(&spec, 7);
        let b = generate(&spec, 7);
        let c = generate(&spec, 8);
        assert_eq!(a.train.x, b.train.x);
        assert_eq!(a.test.labels, b.test.labels);
        assert_ne!(a.train.x, c.train.x);
        assert_eq!((a.train.len(), a.test.len()), (40, 10));
    }
}
