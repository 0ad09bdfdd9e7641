//! The statistics of the characterisation: sample moments with the standard error of a
//! variance, σ from σ², Gaussian expectations by quadrature, erfc and rectified-normal moments.

use std::f64::consts::PI;

/// Mean, variance (n−1) and the standard error of that variance from the fourth central moment,
/// SE(s²) = √((m₄ − s⁴)/n), which is s²·√(2/n) for Gaussian data and right for any other.
pub(super) fn moments(xs: &[f64]) -> (f64, f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let m4 = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n;
    (mean, var, ((m4 - var * var).max(0.0) / n).sqrt())
}

/// σ and its standard error from an estimate of σ² and that estimate's standard error; a
/// variance estimate near zero (a noise that is absent) gives σ ≤ √(SE) and an error of √(SE).
pub(super) fn sigma_of(var: f64, se_var: f64) -> (f64, f64) {
    let s = var.max(0.0).sqrt();
    if s * s > se_var {
        (s, se_var / (2.0 * s))
    } else {
        (s, se_var.sqrt())
    }
}

/// E[f(ξ)] for a standard normal ξ (Simpson's rule on [−8, 8]).
pub(super) fn gauss_expect(f: impl Fn(f64) -> f64) -> f64 {
    const N: usize = 1600;
    let h = 16.0 / N as f64;
    let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * PI).sqrt();
    (0..=N)
        .map(|i| {
            let x = -8.0 + i as f64 * h;
            let w = if i == 0 || i == N {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            w * pdf(x) * f(x)
        })
        .sum::<f64>()
        * h
        / 3.0
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
pub(super) fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * p.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// E[max(0, μ + σξ)] and E[max(0, μ + σξ)²].
pub(super) fn rectified_moments(mu: f64, sigma: f64) -> (f64, f64) {
    if sigma == 0.0 {
        let m = mu.max(0.0);
        return (m, m * m);
    }
    let z = mu / sigma;
    let cdf = 0.5 * erfc(-z / 2f64.sqrt());
    let pdf = (-0.5 * z * z).exp() / (2.0 * PI).sqrt();
    (
        mu * cdf + sigma * pdf,
        (mu * mu + sigma * sigma) * cdf + mu * sigma * pdf,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        for (x, want) in [
            (0.0, 1.0),
            (1.0, 0.157_299_207_050_285_1),
            (2.5, 4.069_520_174_449_59e-4),
            (-1.0, 1.842_700_792_949_715),
        ] {
            assert!(
                (erfc(x) - want).abs() <= 2e-7 * want,
                "erfc({x}) = {} ≠ {want}",
                erfc(x)
            );
        }
    }

    #[test]
    fn rectified_moments_match_closed_forms() {
        // max(0, σξ): mean σ/√(2π), second moment σ²/2.
        let (m1, m2) = rectified_moments(0.0, 2.0);
        assert!((m1 - 2.0 / (2.0 * PI).sqrt()).abs() < 1e-6);
        assert!((m2 - 2.0).abs() < 1e-6);
        // Far above zero the clipping is invisible.
        let (m1, m2) = rectified_moments(10.0, 1.0);
        assert!((m1 - 10.0).abs() < 1e-9 && (m2 - 101.0).abs() < 1e-9);
    }

    #[test]
    fn gauss_expect_integrates_moments() {
        assert!((gauss_expect(|_| 1.0) - 1.0).abs() < 1e-9);
        assert!((gauss_expect(|z| z * z) - 1.0).abs() < 1e-9);
        assert!((gauss_expect(|z| z.powi(4)) - 3.0).abs() < 1e-8);
    }

    #[test]
    fn sigma_of_an_absent_noise_is_bounded_by_its_error() {
        let (s, se) = sigma_of(-1e-6, 4e-6);
        assert_eq!(s, 0.0);
        assert!((se - 2e-3).abs() < 1e-12);
        let (s, se) = sigma_of(0.04, 0.0004);
        assert!((s - 0.2).abs() < 1e-12 && (se - 0.001).abs() < 1e-12);
    }
}
