//! A vectorisable standard-normal generator: 16 xoshiro128++ lanes stepped together, then an
//! f32 Box–Muller transform with polynomial log, sine and cosine.
//!
//! Why not `rand_distr::StandardNormal`: it is an f64 ziggurat drawn one scalar at a time with
//! a data-dependent branch and table look-up (≈ 3–4 ns a draw on this machine), and the read
//! noise of a layer split over physical arrays needs one draw per output per read per array
//! along the input — tens of millions per training step (docs/performance.md).
//!
//! The one rule: every operation here is an IEEE-754 basic operation (+, −, ×, √, exact integer
//! ops and int → float conversions) on independent lanes, with no fused multiply–add (Rust never
//! contracts `a * b + c`), no table and no branch that differs between lanes. So the compiler
//! vectorises the lane loops for whatever instruction set [`crate::linalg::wide`] enables, and
//! the bits are the same on every x86-64 path (AVX-512, AVX2, baseline SSE2); a unit test
//! compares them.
//!
//! Stages of one block (32 normals, two per lane): two xoshiro128++ outputs per lane → a radius
//! r = √(−2 ln u) from 31 bits (u ∈ (0, 1], smallest 2⁻³², so |z| reaches 6.66σ) and an angle
//! from the other word (2 bits pick the quadrant, 24 place it inside) → (r cos θ, r sin θ).
//! The polynomials are Cephes' single-precision minimax fits (logf on [√½, √2), sinf/cosf on
//! [−π/4, π/4]), accurate to about one f32 ulp.

use std::f32::consts::FRAC_PI_2;

/// Generator lanes stepped together: 16 u32 lanes fill one AVX-512 register (two AVX2 ones).
pub(super) const LANES: usize = 16;
/// Normals per block: each lane's Box–Muller pair, lane-major (all first members, then all
/// second members).
pub(super) const BLOCK: usize = 2 * LANES;

/// 16 independent xoshiro128++ generators (Blackman & Vigna), state as struct of arrays so
/// one step of all lanes is a handful of vector instructions.
pub(super) struct Lanes {
    s: [[u32; LANES]; 4],
}

impl Lanes {
    /// Seeds every lane from `seed` with the SplitMix64 sequence (as `seed_from_u64` does for
    /// one generator), two outputs per lane.
    #[allow(clippy::needless_range_loop)] // lane l across the four state arrays
    pub(super) fn seeded(seed: u64) -> Lanes {
        let mut s = [[0u32; LANES]; 4];
        for l in 0..LANES {
            for half in 0..2 {
                let i = (2 * l + half) as u64;
                let v = super::mix(seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
                s[2 * half][l] = v as u32;
                s[2 * half + 1][l] = (v >> 32) as u32;
            }
            // An all-zero state would emit zeros forever (probability 2⁻¹²⁸, but cheap to rule out).
            if (0..4).all(|w| s[w][l] == 0) {
                s[0][l] = 1;
            }
        }
        Lanes { s }
    }

    /// Lanes from explicit states (for checking against the reference implementation).
    #[cfg(test)]
    pub(super) fn from_words(words: [[u32; 4]; LANES]) -> Lanes {
        let mut s = [[0u32; LANES]; 4];
        for (l, w) in words.iter().enumerate() {
            for k in 0..4 {
                s[k][l] = w[k];
            }
        }
        Lanes { s }
    }

    /// One output per lane; advances every lane once.
    #[inline(always)]
    pub(super) fn next(&mut self) -> [u32; LANES] {
        let [s0, s1, s2, s3] = &mut self.s;
        let mut out = [0u32; LANES];
        for l in 0..LANES {
            out[l] = s0[l].wrapping_add(s3[l]).rotate_left(7).wrapping_add(s0[l]);
            let t = s1[l] << 9;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(11);
        }
        out
    }
}

/// Natural log of a positive normal f32 (no zero, subnormal, infinity or NaN reaches it):
/// x = m·2ᵉ with m ∈ [√½, √2), ln x = e·ln 2 + ln m, ln m by Cephes' logf polynomial in m − 1
/// (ln 2 split in two parts so e·ln 2 adds exactly).
#[inline(always)]
pub(super) fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) as i32) - 126; // x = m·2ᵉ, m ∈ [0.5, 1)
    let m = f32::from_bits((bits & 0x007F_FFFF) | 0x3F00_0000);
    let low = m < std::f32::consts::FRAC_1_SQRT_2;
    let f = if low { m + m - 1.0 } else { m - 1.0 };
    let e = (if low { e - 1 } else { e }) as f32;
    let z = f * f;
    let mut y = 7.037_683_6e-2 * f - 1.151_461_1e-1;
    y = y * f + 1.167_699_9e-1;
    y = y * f - 1.242_014_1e-1;
    y = y * f + 1.424_932_3e-1;
    y = y * f - 1.666_805_8e-1;
    y = y * f + 2.000_071_4e-1;
    y = y * f - 2.499_999_4e-1;
    y = y * f + 3.333_333e-1; // Cephes' 3.3333331174e-1, the same f32
    y = y * f * z;
    y += -2.121_944_4e-4 * e;
    y += -0.5 * z;
    (f + y) + 0.693_359_4 * e
}

/// sin x and cos x for |x| ≤ π/4 (Cephes sinf/cosf polynomials).
#[inline(always)]
pub(super) fn sin_cos(x: f32) -> (f32, f32) {
    let z = x * x;
    let s = ((-1.951_529_6e-4 * z + 8.332_161e-3) * z - 1.666_665_5e-1) * z * x + x;
    let c = ((2.443_315_7e-5 * z - 1.388_731_6e-3) * z + 4.166_664_6e-2) * z * z - 0.5 * z + 1.0;
    (s, c)
}

/// The Box–Muller radius √(−2 ln u) from a word: u = (i + ½)·2⁻³¹ with i its top 31 bits, so
/// u ∈ (0, 1] is never 0 (no ln 0) and the largest radius is √(64 ln 2) ≈ 6.66.
#[inline(always)]
pub(super) fn radius(a: u32) -> f32 {
    let u = ((a >> 1) as i32 as f32 + 0.5) * (1.0 / 2_147_483_648.0);
    (-2.0 * ln(u)).sqrt()
}

/// The Box–Muller pair for one lane's two words: `a` sets the radius, `b` the angle.
#[inline(always)]
pub(super) fn pair(a: u32, b: u32) -> (f32, f32) {
    let r = radius(a);
    // θ = q·π/2 + φ: quadrant q from the top two bits, φ ∈ (−π/4, π/4) from the next 24.
    let q = b >> 30;
    let t = ((b >> 6) & 0x00FF_FFFF) as i32 as f32;
    let phi = ((t + 0.5) * (1.0 / 16_777_216.0) - 0.5) * FRAC_PI_2;
    let (s, c) = sin_cos(phi);
    // Rotating (cos φ, sin φ) by q quarter turns: swap for odd q, then the quadrant's signs.
    let swap = 0u32.wrapping_sub(q & 1);
    let (sb, cb) = (s.to_bits(), c.to_bits());
    let x = (cb & !swap) | (sb & swap);
    let y = (sb & !swap) | (cb & swap);
    let x = f32::from_bits(x ^ (((q ^ (q >> 1)) & 1) << 31));
    let y = f32::from_bits(y ^ ((q >> 1) << 31));
    (r * x, r * y)
}

/// One block of normals from the lanes' next two outputs.
#[inline(always)]
fn block(lanes: &mut Lanes, out: &mut [f32]) {
    let (a, b) = (lanes.next(), lanes.next());
    let (first, second) = out.split_at_mut(LANES);
    for l in 0..LANES {
        let (x, y) = pair(a[l], b[l]);
        first[l] = x;
        second[l] = y;
    }
}

/// A sequential source of standard normals from generator lanes seeded by one key: a block at
/// a time, the unused rest of a block kept for the next call, so consecutive `fill`s of any
/// lengths give the same numbers as one `fill` of their total length.
pub(super) struct Source {
    lanes: Lanes,
    block: [f32; BLOCK],
    /// Next unused entry of `block` (`BLOCK`: none left).
    pos: usize,
}

impl Source {
    pub(super) fn new(seed: u64) -> Source {
        Source {
            lanes: Lanes::seeded(seed),
            block: [0.0; BLOCK],
            pos: BLOCK,
        }
    }

    /// The next `out.len()` numbers.
    #[inline(always)]
    pub(super) fn fill(&mut self, out: &mut [f32]) {
        let kept = (BLOCK - self.pos).min(out.len());
        out[..kept].copy_from_slice(&self.block[self.pos..self.pos + kept]);
        self.pos += kept;
        let mut blocks = out[kept..].chunks_exact_mut(BLOCK);
        for b in &mut blocks {
            block(&mut self.lanes, b);
        }
        let rest = blocks.into_remainder();
        if !rest.is_empty() {
            block(&mut self.lanes, &mut self.block);
            rest.copy_from_slice(&self.block[..rest.len()]);
            self.pos = rest.len();
        }
    }
}

/// Fills `out` with standard normals from generator lanes seeded by `seed` (one chunk of a
/// stream's fill).
#[inline(always)]
pub(super) fn fill(seed: u64, out: &mut [f32]) {
    Source::new(seed).fill(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};
    use rand_xoshiro::Xoshiro128PlusPlus;

    #[test]
    fn lanes_match_the_reference_xoshiro128plusplus() {
        let mut words = [[0u32; 4]; LANES];
        for (l, w) in words.iter_mut().enumerate() {
            let v = super::super::mix(l as u64);
            *w = [v as u32, (v >> 32) as u32, !(v as u32), l as u32 + 1];
        }
        let mut lanes = Lanes::from_words(words);
        let mut refs: Vec<Xoshiro128PlusPlus> = words
            .iter()
            .map(|w| {
                let mut bytes = [0u8; 16];
                for k in 0..4 {
                    bytes[4 * k..4 * k + 4].copy_from_slice(&w[k].to_le_bytes());
                }
                Xoshiro128PlusPlus::from_seed(bytes)
            })
            .collect();
        for _ in 0..1000 {
            let out = lanes.next();
            for (l, r) in refs.iter_mut().enumerate() {
                assert_eq!(out[l], r.next_u32(), "lane {l}");
            }
        }
    }

    #[test]
    fn ln_is_accurate_to_f32_precision_over_the_radius_inputs() {
        // Every input the radius can see lies in [2⁻³², 1]; sweep it log-uniformly and densely
        // near 1, where ln is small and relative error matters most.
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            let x = (2.0f64).powf(-32.0 * i as f64 / 200_000.0) as f32;
            let y = 1.0 - (i as f32) * 2.0f32.powi(-24);
            for v in [x, y] {
                let exact = (v as f64).ln();
                let err = (ln(v) as f64 - exact).abs();
                let tol = exact.abs() * 2.0 * f32::EPSILON as f64;
                assert!(err <= tol.max(1e-30), "ln({v}) = {} vs {exact}", ln(v));
                worst = worst.max(err / exact.abs().max(1e-30));
            }
        }
        assert!(worst < 2.0 * f32::EPSILON as f64);
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn sin_cos_are_accurate_on_the_reduced_range() {
        for i in 0..=100_000 {
            let x = (i as f32 / 100_000.0 - 0.5) * FRAC_PI_2;
            let (s, c) = sin_cos(x);
            let xd = x as f64;
            assert!(
                (s as f64 - xd.sin()).abs() <= 1.5 * f32::EPSILON as f64 * xd.sin().abs().max(1e-6)
            );
            assert!((c as f64 - xd.cos()).abs() <= 1.5 * f32::EPSILON as f64);
        }
    }

    #[test]
    fn pair_covers_all_four_quadrants_with_the_right_radius() {
        // With a fixed radius word, the four quadrant codes must give the four rotations of
        // one point, each of norm r.
        let a = 0x4000_0000u32; // u ≈ 0.25
        let r = (-2.0 * 0.25f64.ln()).sqrt();
        let base = 0x0012_3456u32 << 6;
        let pts: Vec<(f32, f32)> = (0..4).map(|q| pair(a, (q << 30) | base)).collect();
        for &(x, y) in &pts {
            assert!(((x as f64).hypot(y as f64) - r).abs() < 1e-6 * r);
        }
        let (x0, y0) = pts[0];
        assert_eq!(pts[1], (-y0, x0));
        assert_eq!(pts[2], (-x0, -y0));
        assert_eq!(pts[3], (y0, -x0));
        // The angle's 24 bits place the point inside its quadrant: φ from −π/4 to π/4.
        let (xl, yl) = pair(a, 0);
        let (xh, yh) = pair(a, 0x3FFF_FFFF);
        assert!(((yl as f64).atan2(xl as f64) + std::f64::consts::FRAC_PI_4).abs() < 1e-6);
        assert!(((yh as f64).atan2(xh as f64) - std::f64::consts::FRAC_PI_4).abs() < 1e-6);
    }

    #[test]
    fn radius_tail_follows_the_rayleigh_law_on_the_exact_input_grid() {
        // P(r > k) = e^{−k²/2}. The radius word's top 31 bits i give u = (i + ½)·2⁻³¹, so the
        // count of i with r > k must be e^{−k²/2}·2³¹, within one grid point plus the shift
        // that ln's f32 rounding (≤ 2 ulp, relative) moves the threshold by: checked through
        // 6σ (the largest radius is 6.66σ), where no sampling test could reach.
        let r = |i: u32| radius(i << 1) as f64;
        for k in [4.0f64, 5.0, 6.0] {
            let expect = (-k * k / 2.0).exp() * 2.0f64.powi(31);
            let tol = 1.0 + expect * k * k * f32::EPSILON as f64;
            let end = (expect + tol) as u32 + 2;
            let count = (0..end).filter(|&i| r(i) > k).count() as f64;
            assert!(
                (count - expect).abs() <= tol,
                "k={k}: {count} vs {expect} ± {tol}"
            );
            assert!(r(end) < k);
        }
        assert!(r(0) > 6.6);
    }

    #[test]
    fn consecutive_fills_continue_one_sequence() {
        let mut whole = vec![0.0f32; 1000];
        fill(99, &mut whole);
        let mut src = Source::new(99);
        let mut parts = vec![0.0f32; 1000];
        let mut at = 0;
        for len in [1, 31, 32, 33, 5, 64, 100, 0, 250].into_iter().cycle() {
            let end = (at + len).min(parts.len());
            src.fill(&mut parts[at..end]);
            at = end;
            if at == parts.len() {
                break;
            }
        }
        assert!(whole
            .iter()
            .zip(&parts)
            .all(|(p, q)| p.to_bits() == q.to_bits()));
    }

    #[test]
    fn vector_and_baseline_builds_give_the_same_bits() {
        let mut plain = vec![0.0f32; 4096 + 7];
        let mut wide = plain.clone();
        fill(12345, &mut plain);
        crate::linalg::wide(
            #[inline(always)]
            || fill(12345, &mut wide),
        );
        assert!(plain.iter().all(|v| v.is_finite()));
        assert!(plain
            .iter()
            .zip(&wide)
            .all(|(p, q)| p.to_bits() == q.to_bits()));
    }
}
