//! Built-in chip models and `--chip NAME|FILE` resolution.
//!
//! The presets are the files in `chip_models/`, embedded at build time by `build.rs` so the binary
//! works from any directory; nothing lists them by hand. A `--chip` argument is looked up in order:
//! an existing file, then a preset name, else [`ModelError::Unknown`] naming the presets.
//! [`describe`] renders a resolved model for `npchip chip show`: every parameter with its unit and
//! meaning, taken from [`PARAMETERS`] (one entry per schema key; a test keeps it complete).

use super::model::{ChipModel, ChipSpec, ModelError};
use std::fmt::Write as _;
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/presets.rs"));

/// Names of the built-in chip models, sorted (`ecram`, `ideal`, `pcm`, `rram`, ...).
pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|(name, _)| *name).collect()
}

/// The TOML text of a built-in chip model, as shipped in `chip_models/NAME.toml`.
pub fn preset_text(name: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// Reads, overrides and validates a chip model named by `--chip`.
///
/// `name_or_path` is an existing file (read from disk) or a preset name; `overrides` are
/// `section.key=value` strings (TOML values) applied before validation.
pub fn resolve(name_or_path: &str, overrides: &[String]) -> Result<ChipModel, ModelError> {
    resolve_unmarked(name_or_path, overrides).map_err(|e| mark_overrides(e, overrides))
}

/// Says which out-of-range values came from a `--set` rather than from the file.
fn mark_overrides(e: ModelError, overrides: &[String]) -> ModelError {
    match e {
        ModelError::Invalid {
            path,
            mut violations,
        } => {
            for v in &mut violations {
                let set = overrides
                    .iter()
                    .rev()
                    .find(|o| o.split_once('=').is_some_and(|(k, _)| k.trim() == v.key));
                if let Some(o) = set {
                    v.value = format!("{} (from --set {o})", v.value);
                }
            }
            ModelError::Invalid { path, violations }
        }
        other => other,
    }
}

fn resolve_unmarked(name_or_path: &str, overrides: &[String]) -> Result<ChipModel, ModelError> {
    let path = Path::new(name_or_path);
    if path.is_file() {
        return ChipSpec::from_file(path, overrides)?.check(&path.display().to_string());
    }
    match preset_text(name_or_path) {
        Some(text) => {
            let origin = format!("preset {name_or_path} (chip_models/{name_or_path}.toml)");
            ChipSpec::parse(text, &origin, overrides)?.check(&origin)
        }
        None => Err(ModelError::Unknown {
            name: name_or_path.to_string(),
            presets: preset_names().join(", "),
        }),
    }
}

/// Unit, meaning and aihwkit counterpart of one chip-model key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamDoc {
    /// Dotted key as written in TOML and in `--set`, e.g. `device.levels`.
    pub key: &'static str,
    /// Unit; `1` for a dimensionless number, `-` for text, flags and choices.
    pub unit: &'static str,
    /// What the parameter means, in one line.
    pub meaning: &'static str,
    /// The closest aihwkit name, or `-` when aihwkit has none.
    pub aihwkit: &'static str,
}

const fn p(
    key: &'static str,
    unit: &'static str,
    meaning: &'static str,
    aihwkit: &'static str,
) -> ParamDoc {
    ParamDoc {
        key,
        unit,
        meaning,
        aihwkit,
    }
}

/// Every key of the chip-model schema, in schema order. Allowed ranges live in the validation
/// (`model_check.rs`) and in docs/chip-model.md, not here.
#[rustfmt::skip]
pub static PARAMETERS: &[ParamDoc] = &[
    p("name", "-", "short name used on the command line (--chip NAME)", "-"),
    p("description", "-", "one line saying what this chip is", "-"),
    p("source", "-", "where the numbers come from", "-"),
    p("device.kind", "-", "ideal (float weights, exact reads) or conductance (differential device pair)", "-"),
    p("device.g_min_us", "µS", "lowest conductance of one device", "g_min (inference converters)"),
    p("device.g_max_us", "µS", "highest conductance of one device", "g_max (inference converters)"),
    p("device.levels", "states", "programmable states over [g_min, g_max]; one pulse step = 1/(levels−1) of the range", "(w_max−w_min)/dw_min + 1 for a constant step"),
    p("device.g_max_dtod", "1 (rel. std)", "device-to-device spread of g_max", "w_max_dtod"),
    p("device.dw_min_dtod", "1 (rel. std)", "device-to-device spread of the pulse step", "dw_min_dtod"),
    p("device.dw_min_std", "1 (rel. std)", "cycle-to-cycle spread of each pulse's step", "dw_min_std"),
    p("device.up_down", "1", "up/down asymmetry: up steps (1+up_down)·dw, down steps (1−up_down)·dw", "up_down"),
    p("device.up_down_dtod", "1 (abs. std)", "device-to-device spread of up_down", "up_down_dtod"),
    p("device.soft_bounds", "-", "the step shrinks linearly to zero at the bound it moves towards", "SoftBoundsDevice"),
    p("device.prog_noise_std", "1 (std / g_max)", "programming noise when a target conductance is written", "prog noise (PCMLikeNoiseModel)"),
    p("device.stuck_at_min_prob", "probability", "fraction of devices stuck at g_min", "corrupt_devices_prob"),
    p("device.stuck_at_max_prob", "probability", "fraction of devices stuck at g_max", "corrupt_devices_prob"),
    p("read.input_scaling", "-", "abs_max: divide each input vector by its largest |value| before the DAC; none: clip", "noise_management"),
    p("read.inp_bits", "bits", "DAC resolution over [−inp_bound, inp_bound]", "inp_res = 1/(2^bits − 2)"),
    p("read.inp_bound", "norm. input", "DAC range; inputs beyond it clip", "inp_bound"),
    p("read.out_bits", "bits", "ADC resolution over [−out_bound, out_bound]", "out_res = 1/(2^bits − 2)"),
    p("read.out_bound", "norm. output", "ADC range; beyond it the ADC saturates (counted)", "out_bound"),
    p("read.out_noise", "norm. output (std)", "output-referred read noise per output per read", "out_noise"),
    p("read.w_noise", "norm. weight (std)", "weight-referred read noise per weight per read", "w_noise"),
    p("update.rounding", "-", "sub-step remainder: truncate, stochastic (unbiased) or accumulate (digital buffer)", "pulse_type"),
    p("update.max_pulses", "pulses", "most pulses one device receives per update; more are clipped (counted)", "desired_bl"),
    p("drift.nu", "1", "mean drift exponent ν in g(t) = g0 (t/t0)^(−ν)", "drift_nu (PCMLikeNoiseModel)"),
    p("drift.nu_dtod", "1 (std)", "device-to-device std of ν", "sig_drift (PCMLikeNoiseModel)"),
    p("drift.t0_s", "s", "reference time t0 after programming", "t_0"),
    p("drift.step_time_s", "s", "simulated chip time one training step takes", "-"),
    p("mapping.w_range_sigmas", "He std √(2/fan_in)", "weight that maps to the full differential swing g_max − g_min", "weight_scaling_omega (roughly)"),
    p("array.rows", "inputs", "most inputs (word lines) of one physical array; larger layers are split (0 = unbounded)", "max_input_size (MappingParameter)"),
    p("array.cols", "outputs", "most outputs (bit lines, each with its ADC) of one physical array (0 = unbounded)", "max_output_size (MappingParameter)"),
    p("energy.mac_pj", "pJ", "one multiply-accumulate (in the array; digital on an ideal chip)", "-"),
    p("energy.dac_pj", "pJ", "one DAC conversion", "-"),
    p("energy.adc_pj", "pJ", "one ADC conversion", "-"),
    p("energy.write_pulse_pj", "pJ", "one programming pulse", "-"),
    p("energy.digital_op_pj", "pJ", "one digital add, multiply or compare", "-"),
    p("energy.source", "-", "where the energy figures come from", "-"),
    p("timing.dac_cycle_ns", "ns", "one DAC cycle (per input bit when bit-serial)", "-"),
    p("timing.dac_mode", "-", "bit_serial (inp_bits cycles per read) or parallel (one cycle)", "-"),
    p("timing.mvm_ns", "ns", "settling/integration of the array currents in one read", "-"),
    p("timing.adc_conversion_ns", "ns", "one ADC conversion", "-"),
    p("timing.cols_per_adc", "columns", "array columns sharing one ADC, converted in turn", "-"),
    p("timing.pulse_ns", "ns", "one programming pulse slot", "-"),
    p("timing.programming", "-", "row (one input row at a time) or array (all devices at once)", "-"),
    p("timing.digital_ops_per_ns", "ops/ns", "throughput of the digital periphery (and of the MACs on an ideal chip)", "-"),
    p("timing.source", "-", "where the time figures come from", "-"),
];

/// The documentation entry of a dotted key, if the schema has it.
pub fn parameter_doc(key: &str) -> Option<&'static ParamDoc> {
    PARAMETERS.iter().find(|d| d.key == key)
}

/// The text of `npchip chip show`: every resolved parameter with value, unit and meaning, then
/// the sources. Keys are printed dotted, as `--set` takes them.
pub fn describe(model: &ChipModel) -> String {
    let spec = model.spec();
    let values = model.flattened();
    let value_of = |key: &str| values.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let mut out = String::new();
    let _ = writeln!(out, "chip model `{}`: {}", spec.name, spec.description);
    let _ = writeln!(out, "read from: {}", model.origin);

    let skip = [
        "name",
        "description",
        "source",
        "energy.source",
        "timing.source",
    ];
    let mut section = "";
    for doc in PARAMETERS.iter().filter(|d| !skip.contains(&d.key)) {
        let Some(value) = value_of(doc.key) else {
            continue;
        };
        let sec = doc.key.split('.').next().unwrap_or_default();
        if sec != section {
            section = sec;
            let _ = writeln!(out, "\n[{section}]");
        }
        let aihwkit = if doc.aihwkit == "-" {
            String::new()
        } else {
            format!(" [aihwkit: {}]", doc.aihwkit)
        };
        let _ = writeln!(
            out,
            "  {:<26} = {:<14} {:<18} {}{aihwkit}",
            doc.key,
            value.to_string(),
            doc.unit,
            doc.meaning
        );
    }
    // A key the table does not know (schema grew, table did not): show it rather than hide it.
    for (key, value) in values.iter().filter(|(k, _)| parameter_doc(k).is_none()) {
        let _ = writeln!(out, "  {key:<26} = {value} (undocumented key)");
    }
    if model.is_ideal() {
        let _ = writeln!(out, "\n(ideal chip: no [read], [update], [drift] or [mapping]; weights and reads are exact floats)");
    } else if spec.drift.is_none() {
        let _ = writeln!(out, "\n(no [drift] section: conductances do not drift)");
    }
    let _ = writeln!(out, "\nsources:");
    let _ = writeln!(out, "  source        = {}", spec.source);
    let _ = writeln!(out, "  energy.source = {}", spec.energy.source);
    if let Some(t) = &spec.timing {
        let _ = writeln!(out, "  timing.source = {}", t.source);
    } else {
        let _ = writeln!(out, "\n(no [timing] section: no latency is priced)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_embedded_and_sorted() {
        let names = preset_names();
        for expected in ["ideal", "rram", "pcm", "ecram"] {
            assert!(
                names.contains(&expected),
                "missing preset {expected} in {names:?}"
            );
        }
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn parameter_table_has_no_duplicates() {
        for (i, d) in PARAMETERS.iter().enumerate() {
            assert!(
                PARAMETERS[i + 1..].iter().all(|e| e.key != d.key),
                "duplicate entry {}",
                d.key
            );
        }
    }

    #[test]
    fn unknown_name_lists_the_presets() {
        let err = resolve("no-such-chip", &[]).unwrap_err().to_string();
        assert!(
            err.contains("no-such-chip") && err.contains("rram") && err.contains("ideal"),
            "{err}"
        );
    }
}
