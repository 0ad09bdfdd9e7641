//! The chip-model schema (`chip_models/*.toml`) and its validation.
//!
//! Reading is two-step, so that no unchecked number reaches the simulator: serde reads a
//! [`ChipSpec`] (unknown keys rejected), then [`ChipSpec::check`] returns a [`ChipModel`] or
//! *every* violation, each naming the key, the value and the allowed range. Only a
//! `ChipModel` can build a chip. Parameter names follow aihwkit where one exists
//! (`inp_bits`/`inp_bound`, `out_bits`/`out_bound`, `out_noise`, `w_noise`, `dw_min_*`,
//! `up_down`, `*_dtod`), with units in the name (`_us`, `_pj`, `_s`). Defaults live in the TOML
//! presets, not here.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// A chip model as read from TOML, before validation.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChipSpec {
    /// Short name used on the command line (`--chip NAME`).
    pub name: String,
    /// One line saying what this chip is.
    pub description: String,
    /// Where the numbers come from (papers, datasheets, simulator presets).
    pub source: String,
    /// The memory device that stores each half of a differential weight pair.
    pub device: DeviceSpec,
    /// DAC, analog read (noise) and ADC; absent for an ideal chip.
    pub read: Option<ReadSpec>,
    /// How requested updates become programming pulses; absent for an ideal chip.
    pub update: Option<UpdateSpec>,
    /// Conductance drift (PCM-like devices); absent when the device does not drift.
    pub drift: Option<DriftSpec>,
    /// How weights map onto the conductance range; absent for an ideal chip.
    pub mapping: Option<MappingSpec>,
    /// Energy per event, in pJ.
    pub energy: EnergySpec,
    /// Time per event, in ns; absent in files written before latency was modelled (then no
    /// time is priced and reports say so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<TimingSpec>,
    /// The largest physical array a layer is split into; absent means unbounded (one array
    /// per layer, as files written before arrays existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array: Option<ArraySpec>,
    /// The analog decorrelator's arrays (`--decor-precision analog`) where they differ from
    /// the weight arrays; absent: the same devices and periphery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decorrelator: Option<DecorArraySpec>,
}

/// Overrides for the arrays of an analog decorrelator, so a designer can ask what decorrelator
/// array would be good enough (more levels, quieter reads than the weight arrays). Each key
/// replaces the weight arrays' key of the same name (section in the comment); absent keys keep
/// it. Digital decorrelators ignore the section.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DecorArraySpec {
    /// `device.levels`: programmable states per device (≥ 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<u32>,
    /// `device.dw_min_std`: cycle-to-cycle spread of each pulse's step, relative std (≥ 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dw_min_std: Option<f64>,
    /// `device.prog_noise_std`: programming noise, std relative to g_max (≥ 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prog_noise_std: Option<f64>,
    /// `read.out_noise`: output-referred read noise, std in normalised output units (≥ 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_noise: Option<f64>,
    /// `read.w_noise`: weight-referred read noise, std in normalised weight units (≥ 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w_noise: Option<f64>,
    /// `read.inp_bits`: DAC resolution, bits (1..=24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inp_bits: Option<u32>,
    /// `read.out_bits`: ADC resolution, bits (1..=24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_bits: Option<u32>,
    /// Where these figures come from (or why they were chosen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl DecorArraySpec {
    /// The names of its keys, in file order (what `--set decorrelator.KEY=V` may name).
    pub const KEYS: [&'static str; 8] = [
        "levels",
        "dw_min_std",
        "prog_noise_std",
        "out_noise",
        "w_noise",
        "inp_bits",
        "out_bits",
        "source",
    ];
}

impl ChipSpec {
    /// This spec with its `[decorrelator]` overrides written into `[device]` and `[read]`, and
    /// the section itself removed: the model the analog decorrelator's arrays are made of.
    /// Each override present on a chip without that section is left out (the check refuses
    /// such a file, so a checked model never has one).
    pub fn decorrelator_view(&self) -> ChipSpec {
        let mut s = self.clone();
        let Some(o) = s.decorrelator.take() else {
            return s;
        };
        if let DeviceSpec::Conductance(d) = &mut s.device {
            o.levels.inspect(|&v| d.levels = v);
            o.dw_min_std.inspect(|&v| d.dw_min_std = v);
            o.prog_noise_std.inspect(|&v| d.prog_noise_std = v);
        }
        if let Some(r) = &mut s.read {
            o.out_noise.inspect(|&v| r.out_noise = v);
            o.w_noise.inspect(|&v| r.w_noise = v);
            o.inp_bits.inspect(|&v| r.inp_bits = v);
            o.out_bits.inspect(|&v| r.out_bits = v);
        }
        s
    }
}

/// The geometry of one physical crossbar array. A layer with more inputs than `rows` or more
/// outputs than `cols` is split over a grid of such arrays (docs/chip-model.md, "Arrays").
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ArraySpec {
    /// Most inputs (word lines driven by DACs) of one array; 0 = unbounded.
    pub rows: u32,
    /// Most outputs (bit lines sensed by ADCs) of one array; 0 = unbounded.
    pub cols: u32,
}

impl ArraySpec {
    /// Largest accepted `rows` / `cols`: larger than any fabricated array by far; beyond it a
    /// typo (an extra digit) is more likely than a design.
    pub const MAX: u32 = 1 << 20;
}

/// The device kind: a float reference or a bounded, finite-level conductance.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeviceSpec {
    /// Float weights, unbounded, exact: the digital reference.
    Ideal,
    /// A conductance device with finite levels, variation and pulse updates.
    Conductance(ConductanceSpec),
}

/// Parameters of a conductance device (one half of a differential pair).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConductanceSpec {
    /// Lowest conductance, µS (≥ 0).
    pub g_min_us: f64,
    /// Highest conductance, µS (> g_min_us).
    pub g_max_us: f64,
    /// Programmable states over [g_min, g_max] (≥ 2); one pulse step is 1/(levels−1) of the range.
    pub levels: u32,
    /// Device-to-device spread of g_max, relative std (≥ 0).
    pub g_max_dtod: f64,
    /// Device-to-device spread of the pulse step, relative std (≥ 0).
    pub dw_min_dtod: f64,
    /// Cycle-to-cycle spread of each pulse's step, relative std (≥ 0).
    pub dw_min_std: f64,
    /// Up/down asymmetry: up steps are (1+up_down)·dw, down steps (1−up_down)·dw; in (−1, 1).
    pub up_down: f64,
    /// Device-to-device spread of `up_down`, absolute std (≥ 0).
    pub up_down_dtod: f64,
    /// Soft bounds: the step shrinks linearly to zero at the bound it moves towards.
    pub soft_bounds: bool,
    /// Programming noise when a target is written, std relative to g_max (≥ 0).
    pub prog_noise_std: f64,
    /// Probability that a device is stuck at g_min, in [0, 1].
    pub stuck_at_min_prob: f64,
    /// Probability that a device is stuck at g_max, in [0, 1].
    pub stuck_at_max_prob: f64,
}

/// How inputs in [−1, 1] are formed before the DAC.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InputScaling {
    /// Each input vector is divided by its largest |value| (aihwkit's `abs_max` noise
    /// management), the ADC result multiplied back digitally.
    AbsMax,
    /// Inputs go to the DAC as they are (clipped at `inp_bound`).
    None,
}

/// The read path: DAC → conductance MVM with read noise → ADC.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReadSpec {
    /// Input scaling before the DAC.
    pub input_scaling: InputScaling,
    /// DAC resolution, bits (1..=24); levels span [−inp_bound, inp_bound].
    pub inp_bits: u32,
    /// DAC range, normalised input units (> 0); inputs beyond it clip.
    pub inp_bound: f64,
    /// ADC resolution, bits (1..=24); levels span [−out_bound, out_bound].
    pub out_bits: u32,
    /// ADC range, normalised output units (> 0); beyond it the ADC saturates (counted).
    pub out_bound: f64,
    /// Output-referred read noise per output per read, std in normalised output units (≥ 0).
    pub out_noise: f64,
    /// Weight-referred read noise per weight per read, std in normalised weight units (≥ 0).
    pub w_noise: f64,
}

/// What happens to the part of an update smaller than one pulse step.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Sub-step remainders are lost.
    Truncate,
    /// Rounded up with probability equal to the remainder (unbiased in the mean).
    Stochastic,
    /// Kept in a digital per-weight buffer until they cross a step (mixed precision).
    Accumulate,
}

/// The programming circuit.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpdateSpec {
    /// Sub-step handling.
    pub rounding: Rounding,
    /// Most pulses one device receives in one update (≥ 1); larger requests are clipped to it.
    pub max_pulses: u32,
}

/// Conductance drift g(t) = g₀ (t/t₀)^(−ν), ν drawn per device.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DriftSpec {
    /// Mean drift exponent ν (≥ 0).
    pub nu: f64,
    /// Device-to-device std of ν (≥ 0).
    pub nu_dtod: f64,
    /// Reference time t₀ after programming, s (> 0).
    pub t0_s: f64,
    /// Simulated chip time that one training step takes, s (> 0).
    pub step_time_s: f64,
}

/// How the periphery maps weights onto conductances.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    /// The weight that maps to a full differential swing (g_max − g_min), in units of the
    /// layer's He-init std √(2/fan_in) (> 0). Larger: more headroom, coarser steps.
    pub w_range_sigmas: f64,
}

/// Energy per event, pJ; kept apart from the counts so energy can be recomputed.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnergySpec {
    /// One analog multiply-accumulate in the array, pJ.
    pub mac_pj: f64,
    /// One DAC conversion, pJ.
    pub dac_pj: f64,
    /// One ADC conversion, pJ.
    pub adc_pj: f64,
    /// One write (programming) pulse, pJ.
    pub write_pulse_pj: f64,
    /// One digital operation (add, multiply, compare) in the periphery/co-processor, pJ.
    pub digital_op_pj: f64,
    /// Where these figures come from.
    pub source: String,
}

/// How an input vector is applied by the DACs.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DacMode {
    /// One input bit per cycle (ISAAC-style 1-bit DACs): a read takes `read.inp_bits` cycles.
    BitSerial,
    /// All bits at once (a multi-bit DAC, or one pulse-width-modulated slot): one cycle.
    Parallel,
}

/// Which devices one programming step pulses at the same time.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Programming {
    /// One input row of an array at a time, all its devices in parallel (NeuroSim's write).
    Row,
    /// Every device of an array at once, by coincident row/column pulse trains (Gokmen &
    /// Vlasov 2016's stochastic update; the selector-free parallel ECRAM update).
    Array,
}

/// Time per event, ns; kept apart from the counts (as energy is) so time can be re-priced.
///
/// How the times combine (docs/chip-model.md, "Latency"): the arrays of one layer work in
/// parallel, layers and passes in sequence. One read of a layer takes
/// `dac + mvm_ns + min(cols_per_adc, array outputs) · adc_conversion_ns`; one programming
/// request takes `max_pulses · pulse_ns`, times the array's input rows when programmed row by
/// row; digital work runs at `digital_ops_per_ns`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimingSpec {
    /// One DAC cycle, ns (≥ 0).
    pub dac_cycle_ns: f64,
    /// Bit-serial or parallel input.
    pub dac_mode: DacMode,
    /// Settling/integration of the array's currents in one read, ns (≥ 0).
    pub mvm_ns: f64,
    /// One ADC conversion, ns (≥ 0).
    pub adc_conversion_ns: f64,
    /// Array output columns that share one ADC, converted one after another (≥ 1).
    pub cols_per_adc: u32,
    /// One programming pulse (slot), ns (≥ 0).
    pub pulse_ns: f64,
    /// Which devices are pulsed at the same time.
    pub programming: Programming,
    /// Throughput of the digital periphery and co-processor, operations per ns (> 0). On a
    /// chip without a read path (ideal) the array MACs run here too.
    pub digital_ops_per_ns: f64,
    /// Where these figures come from.
    pub source: String,
}

/// One broken rule in a chip file.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// Dotted key, e.g. `device.levels`.
    pub key: String,
    /// The offending value as written.
    pub value: String,
    /// What is allowed.
    pub allowed: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` = {} (allowed: {})",
            self.key, self.value, self.allowed
        )
    }
}

/// Why a chip model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("{path}: cannot read chip model: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown or missing key, or a wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// serde/toml's message (names the key and line).
        message: String,
    },
    /// Values out of range; all of them are listed.
    #[error("{path}: invalid chip model: {}", .violations.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// The file.
        path: String,
        /// Every violation found.
        violations: Vec<Violation>,
    },
    /// `--set key=value` named a key the schema does not have or gave a bad value.
    #[error("override `{spec}`: {message}")]
    Override {
        /// The override as given.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// A `--chip NAME` that is neither a preset nor a file.
    #[error("unknown chip `{name}`: not a file, and the presets are: {presets}")]
    Unknown {
        /// The name given.
        name: String,
        /// Comma-separated preset names.
        presets: String,
    },
}

/// A validated chip model: the only thing that can build a chip.
#[derive(Clone, Debug, PartialEq)]
pub struct ChipModel {
    spec: ChipSpec,
    /// Where it was read from (preset name or path), for messages and provenance.
    pub origin: String,
}

impl ChipModel {
    /// The validated parameters.
    pub fn spec(&self) -> &ChipSpec {
        &self.spec
    }

    /// The model as TOML text (what the run used, overrides applied).
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.spec).expect("a validated chip model always serialises")
    }

    /// The model of the analog decorrelator's arrays: this one with its `[decorrelator]`
    /// overrides applied ([`ChipSpec::decorrelator_view`]; checked with this model, whose
    /// check runs every device and read rule on that view too).
    pub fn for_decorrelator(&self) -> ChipModel {
        ChipModel {
            spec: self.spec.decorrelator_view(),
            origin: format!("{} [decorrelator]", self.origin),
        }
    }

    /// True when weights are exact floats and reads are the plain MVM.
    pub fn is_ideal(&self) -> bool {
        matches!(self.spec.device, DeviceSpec::Ideal)
    }

    /// `(max inputs, max outputs)` of one physical array, `usize::MAX` where unbounded.
    pub fn array_limits(&self) -> (usize, usize) {
        let lim = |v: u32| if v == 0 { usize::MAX } else { v as usize };
        self.spec
            .array
            .map_or((usize::MAX, usize::MAX), |a| (lim(a.rows), lim(a.cols)))
    }

    /// Flattened `section.key = value` pairs (numbers and strings), for HDF5 attributes.
    pub fn flattened(&self) -> Vec<(String, toml::Value)> {
        let value = toml::Value::try_from(&self.spec).expect("serialisable");
        let mut out = Vec::new();
        flatten("", &value, &mut out);
        out
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

impl ChipSpec {
    /// Parses TOML text, after applying `key=value` overrides (dotted keys, TOML values).
    pub fn parse(text: &str, origin: &str, overrides: &[String]) -> Result<ChipSpec, ModelError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ModelError::Parse {
                    path: origin.into(),
                    message: e.to_string(),
                })?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        ChipSpec::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| type_error(&table, origin, overrides, &e.to_string()))
    }

    /// Reads and parses a file.
    pub fn from_file(path: &Path, overrides: &[String]) -> Result<ChipSpec, ModelError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: origin.clone(),
            source,
        })?;
        ChipSpec::parse(&text, &origin, overrides)
    }

    /// Validates every field; returns all violations at once.
    pub fn check(self, origin: &str) -> Result<ChipModel, ModelError> {
        let mut v = Vec::new();
        super::model_check::check_spec(&self, &mut v);
        if v.is_empty() {
            Ok(ChipModel {
                spec: self,
                origin: origin.to_string(),
            })
        } else {
            Err(ModelError::Invalid {
                path: origin.to_string(),
                violations: v,
            })
        }
    }
}

/// A deserialisation error as one line naming the dotted key, blamed on the `--set` override
/// that wrote that key if there is one, else on the file.
///
/// toml reports the key path (`in `read.inp_bits``), except inside `[device]`, which is an
/// internally tagged enum: serde buffers it, and the path ends at `device`. For that section the
/// device table is deserialised again on its own, as the variant `kind` names, to find the key.
fn type_error(table: &toml::Table, origin: &str, overrides: &[String], raw: &str) -> ModelError {
    let (mut reason, mut key) = split_toml_message(raw);
    if key.as_deref() == Some("device") {
        if let Some(device) = table.get("device").and_then(|d| d.as_table()) {
            let mut fields = device.clone();
            let kind = fields.remove("kind");
            if kind.as_ref().and_then(|k| k.as_str()) == Some("conductance") {
                if let Err(e) = ConductanceSpec::deserialize(toml::Value::Table(fields)) {
                    let (r, k) = split_toml_message(&e.to_string());
                    reason = r;
                    key = Some(match k {
                        Some(k) => format!("device.{k}"),
                        None => "device".into(),
                    });
                }
            }
        }
    }
    let Some(key) = key else {
        return ModelError::Parse {
            path: origin.into(),
            message: reason,
        };
    };
    let set_here = overrides.iter().rev().find(|o| {
        o.split_once('=')
            .is_some_and(|(k, _)| k.trim() == key || key.starts_with(&format!("{}.", k.trim())))
    });
    match set_here {
        Some(o) => ModelError::Override {
            spec: o.clone(),
            message: format!("`{key}`: {reason}"),
        },
        None => ModelError::Parse {
            path: origin.into(),
            message: format!("`{key}`: {reason}"),
        },
    }
}

/// Splits toml's `REASON\nin `KEY`\n` into the reason (one line) and the key, if named.
fn split_toml_message(raw: &str) -> (String, Option<String>) {
    let mut reason = Vec::new();
    let mut key = None;
    for line in raw.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.strip_prefix("in `").and_then(|l| l.strip_suffix('`')) {
            Some(k) => key = Some(k.to_string()),
            None => reason.push(line),
        }
    }
    (reason.join(" "), key)
}

fn apply_override(table: &mut toml::Table, spec: &str) -> Result<(), ModelError> {
    let err = |message: String| ModelError::Override {
        spec: spec.to_string(),
        message,
    };
    let (key, raw) = spec
        .split_once('=')
        .ok_or_else(|| err("expected KEY=VALUE, e.g. device.levels=16".into()))?;
    let key = key.trim();
    let value: toml::Value = format!("v = {}", raw.trim())
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts
        .pop()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| err("empty key".into()))?;
    // `[array]` is optional (absent = unbounded, as in files older than it): `--set array.rows=N`
    // on such a file starts from the unbounded section.
    if parts == ["array"] && !table.contains_key("array") {
        let mut t = toml::Table::new();
        t.insert("rows".into(), toml::Value::Integer(0));
        t.insert("cols".into(), toml::Value::Integer(0));
        table.insert("array".into(), toml::Value::Table(t));
    }
    // `[decorrelator]` is optional and all its keys are: `--set decorrelator.KEY=V` starts it
    // (or adds the key), and the schema refuses keys it does not have.
    if parts == ["decorrelator"] {
        if !DecorArraySpec::KEYS.contains(&last) {
            return Err(err(format!(
                "no key `{key}`: [decorrelator] takes {}",
                DecorArraySpec::KEYS.join(", ")
            )));
        }
        let t = table
            .entry("decorrelator")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let t = t
            .as_table_mut()
            .ok_or_else(|| err("`decorrelator` is not a section in this chip model".into()))?;
        t.insert(last.to_string(), value);
        return Ok(());
    }
    let mut cur = table;
    for p in parts {
        cur = cur
            .get_mut(p)
            .and_then(|v| v.as_table_mut())
            .ok_or_else(|| err(format!("no section `{p}` in this chip model")))?;
    }
    if !cur.contains_key(last) {
        return Err(err(format!("no key `{key}` in this chip model")));
    }
    cur.insert(last.to_string(), value);
    Ok(())
}
