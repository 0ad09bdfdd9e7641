//! Converters at the edge of the array: DAC and ADC quantisers.
//!
//! A `b`-bit converter over [−bound, bound] has 2^b − 1 levels including 0 (aihwkit's
//! `res = 2·bound/(2^b − 2)` convention, so that zero is exact); values beyond the bound clip
//! and are counted as saturations. A 1-bit converter is a sign: ±bound.

/// A uniform, symmetric, clipping quantiser.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Quantizer {
    step: f32,
    bound: f32,
    sign_only: bool,
}

impl Quantizer {
    /// A `bits`-bit quantiser over [−bound, bound]; `bits ≥ 1` (checked by the chip model).
    pub(super) fn new(bits: u32, bound: f64) -> Self {
        let steps = (1u64 << bits.min(62)) as f64 - 2.0;
        Quantizer {
            step: if bits >= 2 {
                (2.0 * bound / steps) as f32
            } else {
                bound as f32
            },
            bound: bound as f32,
            sign_only: bits < 2,
        }
    }

    /// The spacing of adjacent levels.
    pub(super) fn step(&self) -> f32 {
        self.step
    }

    /// The clipping bound.
    pub(super) fn bound(&self) -> f32 {
        self.bound
    }

    /// Quantises one value; returns it and whether it clipped.
    #[inline]
    pub(super) fn apply(&self, x: f32) -> (f32, bool) {
        let sat = x.abs() > self.bound;
        if self.sign_only {
            return (if x < 0.0 { -self.bound } else { self.bound }, sat);
        }
        let c = x.clamp(-self.bound, self.bound);
        ((c / self.step).round() * self.step, sat)
    }

    /// Quantises in place; returns the number of saturated values. NaN stays NaN (and is caught
    /// by the caller's finiteness check) rather than being silently clipped.
    pub(super) fn apply_slice(&self, xs: &mut [f32]) -> u64 {
        let mut sat = 0u64;
        for x in xs.iter_mut() {
            let (q, s) = self.apply(*x);
            *x = q;
            sat += s as u64;
        }
        sat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_bit_levels_are_exact_and_clip() {
        let q = Quantizer::new(3, 1.0);
        // 2^3 − 1 = 7 levels over [−1, 1]: step 1/3.
        assert_eq!(q.step(), 2.0 / 6.0);
        let mut seen: Vec<f32> = (-300..=300).map(|i| q.apply(i as f32 / 200.0).0).collect();
        seen.sort_by(f32::total_cmp);
        seen.dedup();
        assert_eq!(seen.len(), 7);
        assert_eq!(q.apply(0.0), (0.0, false));
        assert_eq!(q.apply(0.17), (1.0 / 3.0, false));
        assert_eq!(q.apply(0.16), (0.0, false));
        assert_eq!(q.apply(1.5), (1.0, true));
        assert_eq!(q.apply(-7.0), (-1.0, true));
        let mut v = [2.0, -2.0, 0.5, 1.0];
        assert_eq!(
            q.apply_slice(&mut v),
            2,
            "exactly ±bound is not a saturation"
        );
    }

    #[test]
    fn one_bit_is_a_sign() {
        let q = Quantizer::new(1, 0.5);
        assert_eq!(q.apply(0.1).0, 0.5);
        assert_eq!(q.apply(-0.1).0, -0.5);
    }
}
