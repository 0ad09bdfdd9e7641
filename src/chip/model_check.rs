//! Range and cross-field rules for chip models, one function per section.

use super::model::{
    ArraySpec, ChipSpec, ConductanceSpec, DecorArraySpec, DeviceSpec, DriftSpec, EnergySpec,
    MappingSpec, ReadSpec, TimingSpec, UpdateSpec, Violation,
};

/// The smallest nominal pulse step, as a fraction of g_max: 2⁻¹⁹, 16 f32 ulps of a conductance
/// just above g_max (devices with a g_max above nominal sit in [1, 2), where one ulp is 2⁻²³).
/// Conductances are f32 normalised by g_max, so a finer step, once scaled by device-to-device
/// and cycle-to-cycle spreads, rounds to no change for a share of the devices: at 2²² levels
/// some devices never move while the run still reports `completed`.
pub const MIN_STEP_OF_GMAX: f64 = 1.0 / (1u64 << 19) as f64;

/// Most pulses one device may receive in one update: the update loop simulates every pulse
/// (each with its own cycle-to-cycle draw), so its cost grows with `max_pulses`; 4096 pulses
/// already cross a device of 4096 levels in one update.
pub const MAX_PULSES: u32 = 4096;

/// The most levels a device with this conductance range can have (see [`MIN_STEP_OF_GMAX`]).
pub fn max_levels(g_min_us: f64, g_max_us: f64) -> u64 {
    let span = (1.0 - g_min_us / g_max_us).clamp(0.0, 1.0);
    (span / MIN_STEP_OF_GMAX).floor() as u64 + 1
}

struct Checker<'a> {
    out: &'a mut Vec<Violation>,
    section: &'static str,
}

impl Checker<'_> {
    fn push(&mut self, key: &str, value: impl ToString, allowed: &str) {
        self.out.push(Violation {
            key: format!("{}.{}", self.section, key),
            value: value.to_string(),
            allowed: allowed.into(),
        });
    }
    fn nonneg(&mut self, key: &str, x: f64) {
        if !(x.is_finite() && x >= 0.0) {
            self.push(key, x, "a finite number ≥ 0");
        }
    }
    fn positive(&mut self, key: &str, x: f64) {
        if !(x.is_finite() && x > 0.0) {
            self.push(key, x, "a finite number > 0");
        }
    }
    fn prob(&mut self, key: &str, x: f64) {
        if !(0.0..=1.0).contains(&x) {
            self.push(key, x, "a probability in [0, 1]");
        }
    }
    fn bits(&mut self, key: &str, b: u32) {
        if !(1..=24).contains(&b) {
            self.push(key, b, "an integer number of bits in 1..=24");
        }
    }
}

/// Appends every violation of `s` to `out`.
pub(super) fn check_spec(s: &ChipSpec, out: &mut Vec<Violation>) {
    if s.name.trim().is_empty() {
        out.push(Violation {
            key: "name".into(),
            value: "\"\"".into(),
            allowed: "a non-empty name".into(),
        });
    }
    match &s.device {
        DeviceSpec::Ideal => {
            for (present, key) in [
                (s.read.is_some(), "read"),
                (s.update.is_some(), "update"),
                (s.drift.is_some(), "drift"),
                (s.mapping.is_some(), "mapping"),
            ] {
                if present {
                    out.push(Violation {
                        key: key.into(),
                        value: "a section".into(),
                        allowed: "no such section on an ideal chip (device.kind = \"ideal\")"
                            .into(),
                    });
                }
            }
        }
        DeviceSpec::Conductance(d) => {
            device(d, out);
            for (missing, key) in [
                (s.read.is_none(), "read"),
                (s.update.is_none(), "update"),
                (s.mapping.is_none(), "mapping"),
            ] {
                if missing {
                    out.push(Violation {
                        key: key.into(),
                        value: "missing".into(),
                        allowed: "a [section] is required when device.kind = \"conductance\""
                            .into(),
                    });
                }
            }
            if let Some(r) = &s.read {
                read(r, out);
            }
            if let Some(u) = &s.update {
                update(u, out);
            }
            if let Some(m) = &s.mapping {
                mapping(m, out);
            }
            if let Some(dr) = &s.drift {
                drift(dr, out);
            }
        }
    }
    energy(&s.energy, out);
    if let Some(t) = &s.timing {
        timing(t, out);
    }
    if let Some(a) = &s.array {
        array(a, out);
    }
    if let Some(o) = &s.decorrelator {
        decorrelator(s, o, out);
    }
}

/// `[decorrelator]`: each override needs the section it overrides, and the weight arrays'
/// rules hold for the decorrelator's view (levels, noise, bits), named by their own key.
fn decorrelator(s: &ChipSpec, o: &DecorArraySpec, out: &mut Vec<Violation>) {
    let mut c = Checker {
        out,
        section: "decorrelator",
    };
    let conductance = matches!(s.device, DeviceSpec::Conductance(_));
    for (present, key) in [
        (o.levels.is_some(), "levels"),
        (o.dw_min_std.is_some(), "dw_min_std"),
        (o.prog_noise_std.is_some(), "prog_noise_std"),
    ] {
        if present && !conductance {
            c.push(
                key,
                "set",
                "only on a conductance chip (device.kind = \"conductance\")",
            );
        }
    }
    for (present, key) in [
        (o.out_noise.is_some(), "out_noise"),
        (o.w_noise.is_some(), "w_noise"),
        (o.inp_bits.is_some(), "inp_bits"),
        (o.out_bits.is_some(), "out_bits"),
    ] {
        if present && s.read.is_none() {
            c.push(key, "set", "only on a chip with a [read] section");
        }
    }
    // The view's device and read rules, each violation renamed to the override that caused it.
    let view = s.decorrelator_view();
    let mut inner = Vec::new();
    if let DeviceSpec::Conductance(d) = &view.device {
        device(d, &mut inner);
    }
    if let Some(r) = &view.read {
        read(r, &mut inner);
    }
    for v in inner {
        let (section, key) = v.key.split_once('.').unwrap_or(("", &v.key));
        let ours = matches!(
            (section, key),
            ("device", "levels" | "dw_min_std" | "prog_noise_std")
                | ("read", "out_noise" | "w_noise" | "inp_bits" | "out_bits")
        );
        let given = match key {
            "levels" => o.levels.is_some(),
            "dw_min_std" => o.dw_min_std.is_some(),
            "prog_noise_std" => o.prog_noise_std.is_some(),
            "out_noise" => o.out_noise.is_some(),
            "w_noise" => o.w_noise.is_some(),
            "inp_bits" => o.inp_bits.is_some(),
            "out_bits" => o.out_bits.is_some(),
            _ => false,
        };
        // Violations of keys it does not override are the weight arrays' own (reported there).
        if ours && given {
            c.out.push(Violation {
                key: format!("decorrelator.{key}"),
                value: v.value,
                allowed: v.allowed,
            });
        }
    }
}

fn array(a: &ArraySpec, out: &mut Vec<Violation>) {
    let mut c = Checker {
        out,
        section: "array",
    };
    let allowed = format!("0 (unbounded) or an integer in 1..={}", ArraySpec::MAX);
    for (key, v) in [("rows", a.rows), ("cols", a.cols)] {
        if v > ArraySpec::MAX {
            c.push(key, v, &allowed);
        }
    }
}

fn device(d: &ConductanceSpec, out: &mut Vec<Violation>) {
    let mut c = Checker {
        out,
        section: "device",
    };
    c.nonneg("g_min_us", d.g_min_us);
    c.positive("g_max_us", d.g_max_us);
    if d.g_min_us >= d.g_max_us {
        c.push(
            "g_min_us",
            d.g_min_us,
            &format!("less than device.g_max_us = {}", d.g_max_us),
        );
    }
    if d.levels < 2 {
        c.push("levels", d.levels, "an integer ≥ 2");
    } else if d.g_min_us < d.g_max_us && d.g_max_us > 0.0 {
        let most = max_levels(d.g_min_us, d.g_max_us);
        if u64::from(d.levels) > most {
            c.push(
                "levels",
                d.levels,
                &format!("at most {most} for g_min_us/g_max_us = {}/{}: one step (1 − g_min/g_max)/(levels − 1) must be ≥ 2⁻¹⁹ of g_max, the finest that f32 conductances resolve with margin (finer steps round to no change on a share of devices)", d.g_min_us, d.g_max_us),
            );
        }
    }
    c.nonneg("g_max_dtod", d.g_max_dtod);
    c.nonneg("dw_min_dtod", d.dw_min_dtod);
    c.nonneg("dw_min_std", d.dw_min_std);
    if !(d.up_down > -1.0 && d.up_down < 1.0) {
        c.push("up_down", d.up_down, "a number in (−1, 1)");
    }
    c.nonneg("up_down_dtod", d.up_down_dtod);
    c.nonneg("prog_noise_std", d.prog_noise_std);
    c.prob("stuck_at_min_prob", d.stuck_at_min_prob);
    c.prob("stuck_at_max_prob", d.stuck_at_max_prob);
    if d.stuck_at_min_prob + d.stuck_at_max_prob > 1.0 {
        c.push(
            "stuck_at_max_prob",
            d.stuck_at_max_prob,
            "at most 1 − stuck_at_min_prob",
        );
    }
}

fn read(r: &ReadSpec, out: &mut Vec<Violation>) {
    let mut c = Checker {
        out,
        section: "read",
    };
    c.bits("inp_bits", r.inp_bits);
    c.positive("inp_bound", r.inp_bound);
    c.bits("out_bits", r.out_bits);
    c.positive("out_bound", r.out_bound);
    c.nonneg("out_noise", r.out_noise);
    c.nonneg("w_noise", r.w_noise);
}

fn update(u: &UpdateSpec, out: &mut Vec<Violation>) {
    let mut c = Checker {
        out,
        section: "update",
    };
    if !(1..=MAX_PULSES).contains(&u.max_pulses) {
        c.push(
            "max_pulses",
            u.max_pulses,
            &format!("an integer in 1..={MAX_PULSES} (every pulse is simulated, so an update's cost grows with it)"),
        );
    }
}

fn mapping(m: &MappingSpec, out: &mut Vec<Violation>) {
    Checker {
        out,
        section: "mapping",
    }
    .positive("w_range_sigmas", m.w_range_sigmas);
}

fn drift(d: &DriftSpec, out: &mut Vec<Violation>) {
    let mut c = Checker {
        out,
        section: "drift",
    };
    c.nonneg("nu", d.nu);
    c.nonneg("nu_dtod", d.nu_dtod);
    c.positive("t0_s", d.t0_s);
    c.positive("step_time_s", d.step_time_s);
}

fn energy(e: &EnergySpec, out: &mut Vec<Violation>) {
    let mut c = Checker {
        out,
        section: "energy",
    };
    c.nonneg("mac_pj", e.mac_pj);
    c.nonneg("dac_pj", e.dac_pj);
    c.nonneg("adc_pj", e.adc_pj);
    c.nonneg("write_pulse_pj", e.write_pulse_pj);
    c.nonneg("digital_op_pj", e.digital_op_pj);
}

fn timing(t: &TimingSpec, out: &mut Vec<Violation>) {
    let mut c = Checker {
        out,
        section: "timing",
    };
    c.nonneg("dac_cycle_ns", t.dac_cycle_ns);
    c.nonneg("mvm_ns", t.mvm_ns);
    c.nonneg("adc_conversion_ns", t.adc_conversion_ns);
    if t.cols_per_adc == 0 {
        c.push(
            "cols_per_adc",
            0,
            "an integer ≥ 1 (columns sharing one ADC)",
        );
    }
    c.nonneg("pulse_ns", t.pulse_ns);
    c.positive("digital_ops_per_ns", t.digital_ops_per_ns);
}
