//! Checks made once the dataset is known and before the result file exists: the output path,
//! the run's memory footprint, and warnings for settings under which learning cannot work.
//!
//! Everything here runs before [`crate::output::hdf5::ResultFile::create`], so a refused run
//! leaves no file behind (in particular none marked `running`).

use crate::chip::model::DeviceSpec;
use crate::chip::InjectedNoise;
use crate::footprint::{Footprint, Memory};
use crate::learn::Family;
use crate::run::RunSpec;

pub use crate::output::out_path::check_out_path;

/// Refuses a run whose memory lower bound exceeds the machine's available memory.
pub fn check_memory(spec: &RunSpec, sizes: &[usize], n_train: usize) -> Result<(), String> {
    let sizes_text = sizes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("-");
    Footprint::of(spec, sizes, n_train)
        .check(Memory::of_machine())
        .map_err(|e| format!("layers {sizes_text}, --batch {}: the run {e}", spec.batch))
}

/// Refuses a sweep whose `at_once` parallel runs, each as large as its largest point, cannot
/// fit in the machine's available memory.
pub fn check_sweep_memory<'a>(
    specs: impl Iterator<Item = &'a RunSpec>,
    data: &crate::data::Dataset,
    at_once: usize,
) -> Result<(), String> {
    let Some((spec, one)) = specs
        .map(|s| (s, Footprint::of(s, &s.sizes(data), data.train.len())))
        .max_by(|a, b| a.1.total().total_cmp(&b.1.total()))
    else {
        return Ok(());
    };
    let n = at_once as f64;
    let all = Footprint {
        weights: one.weights * n,
        learning: one.learning * n,
        batch: one.batch * n,
        decorrelators: one.decorrelators * n,
    };
    all.check(Memory::of_machine()).map_err(|e| {
        format!(
            "{at_once} parallel run{} of layers {}, --batch {}: {} {e} (or fewer --jobs)",
            if at_once == 1 { "" } else { "s" },
            spec.sizes(data)
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("-"),
            spec.batch,
            if at_once == 1 {
                "the run"
            } else {
                "together they"
            },
        )
    })
}

/// Reasons this run cannot learn (or learns nothing meaningful), each one sentence naming the
/// settings responsible; logged as warnings before training.
pub fn warnings(spec: &RunSpec, sizes: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    let perturbative = spec.rule.family != Family::Bp;
    let injected = match spec.inject {
        InjectedNoise::None => 0.0,
        InjectedNoise::Hidden { sigma } | InjectedNoise::Readable { sigma } => sigma as f64,
    };
    // Injected noise is added digitally after the ADC, to activations of order 1 (He init).
    if injected > 0.0 && injected < 1e-6 {
        out.push(format!("--inject σ = {injected:e} is below the f32 resolution of activations of order 1 (≈ 6e-8 relative): most perturbations are rounded away and NP-type rules measure ‖δa‖² = 0"));
    }
    if injected >= 10.0 {
        out.push(format!("--inject σ = {injected:e} dwarfs the activations (of order 1 at He init): the network's outputs are noise, and learning is impossible"));
    }
    let spec_chip = spec.chip.spec();
    if let (DeviceSpec::Conductance(d), Some(read), Some(map)) =
        (&spec_chip.device, &spec_chip.read, &spec_chip.mapping)
    {
        let adc_step = if read.out_bits >= 2 {
            2.0 * read.out_bound / ((1u64 << read.out_bits.min(62)) as f64 - 2.0)
        } else {
            read.out_bound
        };
        // The read noise an output sees at most: out_noise plus w_noise over the largest fan-in
        // with every (abs-max scaled) input at full scale.
        let fan_in = sizes.iter().rev().skip(1).copied().max().unwrap_or(1) as f64;
        let read_sigma = (read.out_noise.powi(2) + read.w_noise.powi(2) * fan_in).sqrt();
        if perturbative && injected == 0.0 {
            if read_sigma == 0.0 {
                out.push(format!("rule `{}` perturbs with the chip's read noise, but read.out_noise = 0, read.w_noise = 0 and nothing is injected: there is no perturbation to learn from (add --inject hidden:SIGMA or --set read.out_noise=SIGMA)", spec.rule));
            } else if read_sigma < adc_step / 2.0 {
                out.push(format!("the read noise (at most {read_sigma:.3e} from read.out_noise = {} and read.w_noise = {}) is below half the ADC step ({adc_step:.3e} = 2·read.out_bound/(2^read.out_bits − 2) with out_bound = {}, out_bits = {}): the ADC rounds the perturbations away and rule `{}` measures ‖δa‖² = 0", read.out_noise, read.w_noise, read.out_bound, read.out_bits, spec.rule));
            }
        }
        if read.out_noise >= read.out_bound {
            out.push(format!("read.out_noise = {} is at least the ADC range read.out_bound = {}: the reads are noise", read.out_noise, read.out_bound));
        }
        if read.out_bound < 0.5 {
            out.push(format!("read.out_bound = {} is far below outputs of order 1: almost every read saturates the ADC", read.out_bound));
        }
        let step_sigmas = map.w_range_sigmas / (d.levels as f64 - 1.0);
        if step_sigmas > 1.0 {
            out.push(format!("one pulse step is {step_sigmas:.3e} He-init std (mapping.w_range_sigmas = {} over device.levels = {}): a single pulse moves a weight by more than the whole initial spread of the weights", map.w_range_sigmas, d.levels));
        }
        if map.w_range_sigmas < 2.0 {
            let clipped = erfc(map.w_range_sigmas / std::f64::consts::SQRT_2);
            out.push(format!("mapping.w_range_sigmas = {} clips {:.0} % of the He-init weights at the conductance bounds: the network starts far from its initialisation", map.w_range_sigmas, 100.0 * clipped));
        }
    }
    out
}

/// The complementary error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7), for the
/// clipped share of a normal distribution.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let r = poly * (-z * z).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        // erfc(0) = 1, erfc(1) = 0.157299..., erfc(2/√2) = 0.0455 (the 2σ two-sided tail).
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((erfc(1.0) - 0.157_299_2).abs() < 1e-6);
        assert!((erfc(2.0 / std::f64::consts::SQRT_2) - 0.045_500_3).abs() < 1e-6);
        assert!((erfc(-1.0) - 1.842_700_8).abs() < 1e-6);
    }

    #[test]
    fn out_path_refusals_name_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_out_path(dir.path(), "--out").unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let e = check_out_path(&file.join("a/b.h5"), "--out")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a file, not a directory"), "{e}");
        assert!(check_out_path(&dir.path().join("new/sub/x.h5"), "--out").is_ok());
        assert!(check_out_path(&file, "--out").is_ok());
    }
}
