//! Criterion benchmark of bulk standard-normal generation: the vectorised generator behind
//! `Stream::fill_normal` against the scalar one it replaced (Xoshiro256++ with rand_distr's
//! f64 ziggurat, cast to f32, one draw at a time, same fixed chunks), in one run.
//!
//! `cargo bench --bench normals`; throughput is in normals. The buffer is one 256 × 256
//! array's read noise at batch 1000 (256 000 normals, 8 chunks).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use npchip::rng::{derive, Purpose, Rng, Stream};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use std::time::Duration;

/// The previous `fill_normal`: one Xoshiro256++ per 2¹⁵-number chunk, ziggurat per draw.
fn scalar_fill(key: u64, counter: u64, buf: &mut [f32], threads: usize) {
    let fill = |(c, chunk): (usize, &mut [f32])| {
        let mut rng = Rng::seed_from_u64(derive(key, &[counter, c as u64]));
        for v in chunk.iter_mut() {
            *v = StandardNormal.sample(&mut rng);
        }
    };
    if threads > 1 {
        buf.par_chunks_mut(1 << 15).enumerate().for_each(fill);
    } else {
        buf.chunks_mut(1 << 15).enumerate().for_each(fill);
    }
}

fn normals(c: &mut Criterion) {
    let mut g = c.benchmark_group("fill-normal");
    g.sample_size(30)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    let mut buf = vec![0.0f32; 256 * 1000];
    g.throughput(Throughput::Elements(buf.len() as u64));
    for threads in [1, 2] {
        let mut s = Stream::new(1, 0, Purpose::Read);
        g.bench_function(BenchmarkId::new("vectorised", threads), |b| {
            b.iter(|| s.fill_normal(&mut buf, threads))
        });
        let mut n = 0;
        g.bench_function(BenchmarkId::new("scalar-ziggurat", threads), |b| {
            b.iter(|| {
                n += 1;
                scalar_fill(7, n, &mut buf, threads)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, normals);
criterion_main!(benches);
