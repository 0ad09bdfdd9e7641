//! Statistical tests of `Stream::fill_normal` against the standard normal: every bound is a
//! multiple (5, unless said) of the statistic's standard error at the sample size, so a correct
//! generator fails one of these about once in 10⁶ runs, and a wrong variance, tail, shape or
//! dependence between numbers fails at once.

use super::{Purpose, Stream};

/// `n` normals from one stream (several fills, both threads).
fn draws(seed: u64, unit: u64, n: usize) -> Vec<f32> {
    let mut s = Stream::new(seed, unit, Purpose::Read);
    let mut out = vec![0.0f32; n];
    for part in out.chunks_mut(1 << 20) {
        s.fill_normal(part, 2);
    }
    out
}

/// Φ(x), the standard normal CDF.
fn phi(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

#[test]
fn moments_match_the_standard_normal() {
    let n = 10_000_000;
    let z = draws(3, 2, n);
    let nf = n as f64;
    let m = |p: i32| z.iter().map(|&v| (v as f64).powi(p)).sum::<f64>() / nf;
    let (m1, m2, m3, m4) = (m(1), m(2), m(3), m(4));
    // Standard errors under N(0, 1): mean 1/√n, E z² √(2/n), E z³ √(15/n), E z⁴ √(96/n).
    assert!(m1.abs() < 5.0 / nf.sqrt(), "mean {m1}");
    assert!((m2 - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(), "variance {m2}");
    assert!(m3.abs() < 5.0 * (15.0 / nf).sqrt(), "third moment {m3}");
    assert!(
        (m4 - 3.0).abs() < 5.0 * (96.0 / nf).sqrt(),
        "fourth moment (kurtosis) {m4}"
    );
}

#[test]
fn tail_probabilities_match_erfc() {
    // P(|z| > k) = erfc(k/√2); counts are binomial, so the bound is 5 √(n p (1 − p)). At k = 5,
    // 10⁸ draws expect 57 ± 7.6 (a generator truncated at 4.5σ or with 10 % light tails fails).
    let n = 100_000_000usize;
    let ks = [1.0f64, 2.0, 3.0, 4.0, 5.0];
    let mut counts = [0u64; 5];
    let mut s = Stream::new(11, 4, Purpose::Read);
    let mut buf = vec![0.0f32; 1 << 22];
    for _ in 0..n / buf.len() {
        s.fill_normal(&mut buf, 2);
        for &v in &buf {
            let a = v.abs() as f64;
            for (c, &k) in counts.iter_mut().zip(&ks) {
                *c += (a > k) as u64;
            }
        }
    }
    let nf = (n / buf.len() * buf.len()) as f64;
    for (&c, &k) in counts.iter().zip(&ks) {
        let p = libm::erfc(k / std::f64::consts::SQRT_2);
        let (mean, sd) = (nf * p, (nf * p * (1.0 - p)).sqrt());
        assert!(
            (c as f64 - mean).abs() < 5.0 * sd,
            "P(|z|>{k}): {c} of {nf} against {mean:.1} ± {sd:.1}"
        );
    }
}

#[test]
fn kolmogorov_smirnov_distance_is_within_the_critical_value() {
    let n = 2_000_000;
    let mut z = draws(5, 0, n);
    z.sort_by(f32::total_cmp);
    let nf = n as f64;
    let d = z
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let f = phi(v as f64);
            (f - i as f64 / nf)
                .abs()
                .max(((i + 1) as f64 / nf - f).abs())
        })
        .fold(0.0f64, f64::max);
    // P(D > c/√n) ≈ 2 e^{−2c²}; c = 2.3 gives ≈ 5·10⁻⁵.
    assert!(d < 2.3 / nf.sqrt(), "KS distance {d}");
}

#[test]
fn histogram_passes_chi_square_on_fine_bins() {
    // 200 bins of width 0.05 on [−5, 5] plus the two tails; a shape error of 1 % in any bin
    // region of a few dozen bins shows as hundreds of χ² units.
    let n = 10_000_000;
    let z = draws(8, 1, n);
    let bins = 200;
    let edge = |b: usize| -5.0 + 10.0 * b as f64 / bins as f64;
    let mut counts = vec![0u64; bins + 2];
    for &v in &z {
        let x = v as f64;
        let b = if x < -5.0 {
            0
        } else if x >= 5.0 {
            bins + 1
        } else {
            (((x + 5.0) / 10.0 * bins as f64) as usize).min(bins - 1) + 1
        };
        counts[b] += 1;
    }
    let nf = n as f64;
    let chi2: f64 = (0..bins + 2)
        .map(|b| {
            let p = match b {
                0 => phi(-5.0),
                _ if b == bins + 1 => 1.0 - phi(5.0),
                _ => phi(edge(b)) - phi(edge(b - 1)),
            };
            let e = nf * p;
            (counts[b] as f64 - e).powi(2) / e
        })
        .sum();
    let df = (bins + 1) as f64;
    assert!(
        chi2 < df + 5.0 * (2.0 * df).sqrt(),
        "χ² = {chi2} with {df} dof"
    );
}

/// Sample correlation of `f(z_i)` and `f(z_{i+lag})`.
fn lag_corr(z: &[f32], lag: usize, f: impl Fn(f64) -> f64) -> f64 {
    let (a, b) = (&z[..z.len() - lag], &z[lag..]);
    let n = a.len() as f64;
    let fa: Vec<f64> = a.iter().map(|&v| f(v as f64)).collect();
    let fb: Vec<f64> = b.iter().map(|&v| f(v as f64)).collect();
    let (ma, mb) = (fa.iter().sum::<f64>() / n, fb.iter().sum::<f64>() / n);
    let cov = fa
        .iter()
        .zip(&fb)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / n;
    let va = fa.iter().map(|x| (x - ma).powi(2)).sum::<f64>() / n;
    let vb = fb.iter().map(|y| (y - mb).powi(2)).sum::<f64>() / n;
    cov / (va * vb).sqrt()
}

#[test]
fn consecutive_and_paired_values_are_uncorrelated() {
    // Lag 1: neighbouring lanes; lag 16: the two members of one Box–Muller pair; lag 32: the
    // same lane one step on. Squares catch dependence that leaves the values uncorrelated
    // (e.g. a pair sharing a radius: corr(x², y²) would be ≈ 0.5 − …, far from 0).
    let n = 4_000_000;
    let z = draws(13, 7, n);
    let bound = 5.0 / (n as f64).sqrt();
    for lag in [1, 2, 16, 32, 33] {
        let r = lag_corr(&z, lag, |x| x);
        let r2 = lag_corr(&z, lag, |x| x * x);
        assert!(r.abs() < bound, "lag {lag}: corr {r}");
        assert!(r2.abs() < bound, "lag {lag}: corr of squares {r2}");
    }
}

#[test]
fn neighbouring_streams_are_uncorrelated() {
    // Arrays of one layer use units that differ only in high bits; fills must not be related.
    let n = 1_000_000;
    let a = draws(1, 1, n);
    for unit in [2, 1 | (1 << 32)] {
        let b = draws(1, unit, n);
        let mut both = a.clone();
        both.extend_from_slice(&b);
        let r = lag_corr(&both, n, |x| x);
        assert!(r.abs() < 5.0 / (n as f64).sqrt(), "unit {unit}: corr {r}");
    }
}

#[test]
fn restored_stream_continues_with_the_same_numbers() {
    let mut s = Stream::new(21, 3, Purpose::Injection);
    let mut x = vec![0.0f32; 1000];
    s.fill_normal(&mut x, 1);
    let mut r = Stream::from_state(s.state());
    let (mut y, mut w) = (vec![0.0f32; 1000], vec![0.0f32; 1000]);
    s.fill_normal(&mut y, 1);
    r.fill_normal(&mut w, 2);
    assert!(y.iter().zip(&w).all(|(p, q)| p.to_bits() == q.to_bits()));
    assert!(x.iter().zip(&y).all(|(p, q)| p != q));
}
