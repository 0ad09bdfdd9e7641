//! Criterion benchmarks of one training step: noisy–noisy DANP, MNIST-shaped network
//! (784-1000-1000-1000-10, batch 1000), on the ideal chip and on the noisy `rram` preset.
//!
//! `cargo bench --bench step` times whole steps (both passes, the updates, the decorrelator
//! update, counters), with criterion's statistics; throughput is reported in samples.
//! `NPCHIP_BENCH_CIFAR=1` adds the CIFAR-shaped network (3072-1024-1024-1024-10).
//! `npchip bench --gemm` is the measurement against the machine's GEMM rate that
//! docs/performance.md reports; this file is for comparing commits.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use npchip::lab::bench::{BenchPlan, StepRunner};
use std::time::Duration;

fn args(sizes: &[usize], chip: &str) -> BenchPlan {
    BenchPlan {
        sizes: sizes.to_vec(),
        batch: 1000,
        chip: chip.into(),
        set: Vec::new(),
        rule: "danp-nn".parse().expect("a rule name"),
        inject: npchip::chip::InjectedNoise::None,
        optimizer: npchip::learn::OptimizerKind::Adam,
        steps: 1,
        repeats: 1,
        warmup: 1,
        threads: 0,
        runs: 1,
        // Enough for distinct batches; the dataset's size does not change a step's cost.
        samples: 10_000,
        gemm: false,
        seed: 1,
        arrays: Vec::new(),
        decor_sample: 1.0,
        decor_every: 1,
        decor_blocks: npchip::chip::DecorBlocks::Full,
        decor_layers: npchip::chip::DecorLayers::All,
        arch: None,
    }
}

fn step(c: &mut Criterion) {
    let mut shapes = vec![("mnist", vec![784, 1000, 1000, 1000, 10])];
    if std::env::var_os("NPCHIP_BENCH_CIFAR").is_some() {
        shapes.push(("cifar", vec![3072, 1024, 1024, 1024, 10]));
    }
    let mut g = c.benchmark_group("danp-nn-step");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(3));
    for (name, sizes) in &shapes {
        for chip in ["ideal", "rram"] {
            let a = args(sizes, chip);
            let mut runner = StepRunner::new(&a, a.seed).expect("benchmark setup");
            g.throughput(Throughput::Elements(a.batch as u64));
            g.bench_function(BenchmarkId::new(*name, chip), |b| {
                b.iter(|| runner.step().expect("a training step"))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
