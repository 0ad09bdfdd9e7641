//! Value parsers for the integer flags, with the range each flag allows in its message.
//!
//! clap's own `usize` parser answers `--batch -1` with "invalid digit found in string" (or, without
//! `allow_negative_numbers`, with "unexpected argument '-1'"); these parse into a wide integer
//! first, so a negative or oversized value is reported as out of range, with the range.
//! The limits themselves live in [`crate::run::limits`], where `RunSpec::check` uses them too.

use crate::run::limits;

/// Parses an integer in `lo..=hi`; the error names the allowed range (clap adds flag and value).
pub(crate) fn int_in(s: &str, lo: u128, hi: u128, why: &str) -> Result<u128, String> {
    let range = if hi == u128::from(u64::MAX) {
        format!("an integer ≥ {lo}")
    } else {
        format!("an integer in {lo}..={hi}")
    };
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    };
    match s.trim().parse::<i128>() {
        Ok(v) if v >= 0 && (lo..=hi).contains(&(v as u128)) => Ok(v as u128),
        Ok(_) => Err(format!("out of range: allowed {range}{why}")),
        Err(_) => Err(format!("not an integer: allowed {range}{why}")),
    }
}

fn to_usize(v: u128) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// `--epochs`: at least one (a run of zero epochs would be recorded as `completed` with nothing in it).
pub(crate) fn epochs(s: &str) -> Result<usize, String> {
    int_in(s, 1, limits::MAX_EPOCHS as u128, "").map(to_usize)
}

/// `--batch`: at least one sample.
pub(crate) fn batch(s: &str) -> Result<usize, String> {
    int_in(s, 1, u64::MAX as u128, "").map(to_usize)
}

/// `--resamples`: noisy passes per sample, each a full forward pass.
pub(crate) fn resamples(s: &str) -> Result<usize, String> {
    int_in(
        s,
        1,
        limits::MAX_RESAMPLES as u128,
        "each resample is one more noisy forward pass per sample",
    )
    .map(to_usize)
}

/// A `--hidden` width (sizes that cannot fit in memory are refused later, with the estimate).
pub(crate) fn width(s: &str) -> Result<usize, String> {
    int_in(s, 1, u64::MAX as u128, "").map(to_usize)
}

/// Any count ≥ 0 (`--threads`, `--log-every`).
pub(crate) fn count(s: &str) -> Result<usize, String> {
    int_in(s, 0, u64::MAX as u128, "").map(to_usize)
}

/// A sample count ≥ 1 (`--train-samples`, `--test-samples`).
pub(crate) fn samples(s: &str) -> Result<usize, String> {
    int_in(s, 1, u64::MAX as u128, "").map(to_usize)
}

/// `--seed`: any u64.
pub(crate) fn seed(s: &str) -> Result<u64, String> {
    int_in(s, 0, u64::MAX as u128, "").map(|v| v as u64)
}

/// A float flag: any finite number (the range is checked with the other settings, so that
/// `--lr -1` and `--lr=-1` get the same message).
pub(crate) fn float(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(format!("{v} is not a finite number")),
        Err(_) => Err("not a number".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_enforced_and_named() {
        assert_eq!(epochs("3"), Ok(3));
        let e = epochs("0").unwrap_err();
        assert!(e.contains("1..="), "{e}");
        assert!(epochs("-1").unwrap_err().contains("out of range"));
        assert!(batch("abc").unwrap_err().contains("not an integer"));
        assert!(resamples(&(limits::MAX_RESAMPLES + 1).to_string()).is_err());
        assert_eq!(
            resamples(&limits::MAX_RESAMPLES.to_string()),
            Ok(limits::MAX_RESAMPLES)
        );
        assert_eq!(seed("18446744073709551615"), Ok(u64::MAX));
        assert!(seed("18446744073709551616").is_err());
        assert!(float("inf").is_err());
        assert_eq!(float("-1e-3"), Ok(-1e-3));
    }
}
