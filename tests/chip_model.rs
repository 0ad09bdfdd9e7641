//! Chip models: every preset in `chip_models/` loads and validates, each validation rule rejects
//! what it should with a message naming the file, the key and the allowed range, overrides work,
//! and `describe` documents every key.

use npchip::chip::model::{ChipSpec, ModelError};
use npchip::chip::presets::{
    describe, parameter_doc, preset_names, preset_text, resolve, PARAMETERS,
};
use std::path::{Path, PathBuf};

/// Every `chip_models/*.toml`, found by globbing the directory (no hand-kept list).
fn preset_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("chip_models");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("chip_models/ exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no presets in {}", dir.display());
    files
}

fn stem(path: &Path) -> &str {
    path.file_stem()
        .and_then(|s| s.to_str())
        .expect("UTF-8 file name")
}

/// Writes a copy of preset `name`, edited as a TOML table, to a temporary file.
fn variant(name: &str, edit: impl FnOnce(&mut toml::Table)) -> (tempfile::TempDir, PathBuf) {
    let mut table: toml::Table = preset_text(name)
        .expect("preset exists")
        .parse()
        .expect("preset is TOML");
    edit(&mut table);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("{name}-variant.toml"));
    std::fs::write(&path, toml::to_string(&table).expect("serialisable")).expect("write variant");
    (dir, path)
}

fn section<'a>(table: &'a mut toml::Table, name: &str) -> &'a mut toml::Table {
    table
        .get_mut(name)
        .and_then(|v| v.as_table_mut())
        .expect("section exists")
}

fn set(table: &mut toml::Table, sec: &str, key: &str, value: impl Into<toml::Value>) {
    section(table, sec).insert(key.to_string(), value.into());
}

/// Loads `path` and returns the error message, asserting that it names the file.
fn rejection(path: &Path) -> (ModelError, String) {
    let err =
        resolve(path.to_str().expect("UTF-8 path"), &[]).expect_err("the variant must be rejected");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name the file: {msg}"
    );
    (err, msg)
}

fn assert_invalid(path: &Path, key: &str, allowed: &str) {
    let (err, msg) = rejection(path);
    assert!(
        matches!(err, ModelError::Invalid { .. }),
        "expected a validation error, got {err:?}"
    );
    assert!(
        msg.contains(&format!("`{key}`")),
        "message does not name `{key}`: {msg}"
    );
    assert!(
        msg.contains(allowed),
        "message does not give the allowed range `{allowed}`: {msg}"
    );
}

#[test]
fn every_preset_file_loads_and_validates() {
    for path in preset_files() {
        let origin = path.display().to_string();
        let spec = ChipSpec::from_file(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            spec.name,
            stem(&path),
            "{origin}: `name` must equal the file name"
        );
        assert!(!spec.source.trim().is_empty(), "{origin}: empty `source`");
        assert!(
            !spec.energy.source.trim().is_empty(),
            "{origin}: empty `energy.source`"
        );
        spec.check(&origin).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn embedded_presets_are_exactly_the_files() {
    let files = preset_files();
    let stems: Vec<&str> = files.iter().map(|p| stem(p)).collect();
    assert_eq!(preset_names(), stems);
    for path in &files {
        let on_disk = std::fs::read_to_string(path).expect("readable preset");
        assert_eq!(
            preset_text(stem(path)),
            Some(on_disk.as_str()),
            "embedded {} is stale",
            path.display()
        );
        let model = resolve(stem(path), &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            model
                .origin
                .contains(&format!("chip_models/{}.toml", stem(path))),
            "{}",
            model.origin
        );
    }
}

#[test]
fn the_four_required_presets_exist() {
    for name in ["ideal", "rram", "pcm", "ecram"] {
        assert!(
            preset_text(name).is_some(),
            "missing chip_models/{name}.toml"
        );
    }
    assert!(resolve("ideal", &[]).unwrap().is_ideal());
    assert!(
        resolve("pcm", &[]).unwrap().spec().drift.is_some(),
        "pcm must drift"
    );
}

#[test]
fn unknown_key_rejected() {
    let (_dir, path) = variant("rram", |t| set(t, "device", "nope", 1));
    let (err, msg) = rejection(&path);
    assert!(matches!(err, ModelError::Parse { .. }), "{err:?}");
    assert!(msg.contains("`nope`"), "{msg}");
    assert!(
        msg.contains("`levels`"),
        "the message should list the allowed keys: {msg}"
    );
}

#[test]
fn unknown_top_level_key_rejected() {
    let (_dir, path) = variant("ideal", |t| {
        t.insert("colour".into(), "blue".into());
    });
    let (_, msg) = rejection(&path);
    assert!(msg.contains("`colour`"), "{msg}");
}

#[test]
fn negative_sigma_rejected() {
    let (_dir, path) = variant("rram", |t| set(t, "read", "out_noise", -0.1));
    assert_invalid(&path, "read.out_noise", "≥ 0");
}

#[test]
fn negative_device_spread_rejected() {
    let (_dir, path) = variant("pcm", |t| set(t, "device", "dw_min_std", -1.0));
    assert_invalid(&path, "device.dw_min_std", "≥ 0");
}

#[test]
fn zero_bits_rejected() {
    let (_dir, path) = variant("rram", |t| set(t, "read", "inp_bits", 0));
    assert_invalid(&path, "read.inp_bits", "1..=24");
}

#[test]
fn g_min_not_below_g_max_rejected() {
    let (_dir, path) = variant("rram", |t| {
        set(t, "device", "g_min_us", 20.0);
        set(t, "device", "g_max_us", 20.0);
    });
    assert_invalid(&path, "device.g_min_us", "less than device.g_max_us = 20");
}

#[test]
fn missing_field_rejected() {
    let (_dir, path) = variant("ecram", |t| {
        section(t, "device").remove("levels");
    });
    let (err, msg) = rejection(&path);
    assert!(matches!(err, ModelError::Parse { .. }), "{err:?}");
    assert!(
        msg.contains("missing field `levels`") && msg.contains("device"),
        "{msg}"
    );
}

#[test]
fn probability_above_one_rejected() {
    let (_dir, path) = variant("rram", |t| set(t, "device", "stuck_at_max_prob", 1.5));
    assert_invalid(&path, "device.stuck_at_max_prob", "[0, 1]");
}

#[test]
fn stuck_probabilities_summing_above_one_rejected() {
    let (_dir, path) = variant("rram", |t| {
        set(t, "device", "stuck_at_min_prob", 0.6);
        set(t, "device", "stuck_at_max_prob", 0.6);
    });
    assert_invalid(
        &path,
        "device.stuck_at_max_prob",
        "at most 1 − stuck_at_min_prob",
    );
}

#[test]
fn ideal_chip_with_read_section_rejected() {
    let read = preset_text("rram").unwrap().parse::<toml::Table>().unwrap()["read"].clone();
    let (_dir, path) = variant("ideal", |t| {
        t.insert("read".into(), read);
    });
    assert_invalid(&path, "read", "no such section on an ideal chip");
}

#[test]
fn conductance_chip_missing_read_rejected() {
    let (_dir, path) = variant("rram", |t| {
        t.remove("read");
    });
    assert_invalid(&path, "read", "required when device.kind = \"conductance\"");
}

#[test]
fn every_violation_is_reported_at_once() {
    let (_dir, path) = variant("pcm", |t| {
        set(t, "read", "out_bits", 0);
        set(t, "drift", "t0_s", 0.0);
        set(t, "device", "levels", 1);
    });
    let (err, _) = rejection(&path);
    let ModelError::Invalid { violations, .. } = err else {
        panic!("expected Invalid, got {err:?}")
    };
    let keys: Vec<&str> = violations.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(keys, ["device.levels", "read.out_bits", "drift.t0_s"]);
}

#[test]
fn override_device_levels_applies() {
    let model =
        resolve("rram", &["device.levels=16".to_string()]).unwrap_or_else(|e| panic!("{e}"));
    let levels = model
        .flattened()
        .into_iter()
        .find(|(k, _)| k == "device.levels")
        .map(|(_, v)| v);
    assert_eq!(levels, Some(toml::Value::Integer(16)));
    assert!(
        model.to_toml().contains("levels = 16"),
        "the model as run must record the override"
    );
}

#[test]
fn override_unknown_key_rejected() {
    let err = resolve("rram", &["device.nope=1".to_string()]).expect_err("unknown override key");
    assert!(matches!(err, ModelError::Override { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("device.nope"), "{msg}");
}

#[test]
fn override_out_of_range_names_preset_file_and_key() {
    let err = resolve("pcm", &["read.out_noise=-0.1".to_string()]).expect_err("negative noise");
    let msg = err.to_string();
    for needle in ["chip_models/pcm.toml", "`read.out_noise`", "-0.1", "≥ 0"] {
        assert!(msg.contains(needle), "missing {needle:?} in {msg}");
    }
}

#[test]
fn override_of_absent_section_rejected() {
    let err =
        resolve("ideal", &["read.out_noise=0.1".to_string()]).expect_err("ideal has no [read]");
    assert!(err.to_string().contains("read"), "{err}");
}

#[test]
fn unknown_chip_lists_presets() {
    let err = resolve("no_such_chip_or_file", &[]).expect_err("unknown chip");
    assert!(matches!(err, ModelError::Unknown { .. }), "{err:?}");
    let msg = err.to_string();
    for name in preset_names() {
        assert!(msg.contains(name), "preset {name} not listed in: {msg}");
    }
}

#[test]
fn a_file_path_is_read_from_disk() {
    let (_dir, path) = variant("rram", |t| set(t, "device", "levels", 64));
    let model = resolve(path.to_str().unwrap(), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.origin, path.display().to_string());
    assert!(model.to_toml().contains("levels = 64"));
}

#[test]
fn describe_covers_every_key() {
    let mut seen = std::collections::BTreeSet::new();
    for name in preset_names() {
        let model = resolve(name, &[]).unwrap_or_else(|e| panic!("{e}"));
        let text = describe(&model);
        assert!(!text.contains("undocumented key"), "{name}: {text}");
        let spec = model.spec();
        for s in [
            spec.name.as_str(),
            spec.source.as_str(),
            spec.energy.source.as_str(),
            spec.timing.as_ref().map_or("", |t| t.source.as_str()),
        ] {
            assert!(text.contains(s), "{name}: describe lacks {s:?}");
        }
        for (key, value) in model.flattened() {
            let doc = parameter_doc(&key)
                .unwrap_or_else(|| panic!("{name}: no PARAMETERS entry for `{key}`"));
            assert!(
                !doc.unit.is_empty() && !doc.meaning.is_empty(),
                "`{key}` lacks unit or meaning"
            );
            if ![
                "name",
                "description",
                "source",
                "energy.source",
                "timing.source",
            ]
            .contains(&key.as_str())
            {
                let line = text
                    .lines()
                    .find(|l| l.trim_start().starts_with(&format!("{key} ")))
                    .unwrap_or_else(|| panic!("{name}: describe lacks `{key}`"));
                assert!(
                    line.contains(&value.to_string()) && line.contains(doc.meaning),
                    "{name}: bad line for `{key}`: {line}"
                );
            }
            seen.insert(key);
        }
    }
    // No stale entries: every documented key occurs in some preset (the presets cover the schema).
    for doc in PARAMETERS {
        assert!(
            seen.contains(doc.key),
            "PARAMETERS documents `{}`, which no preset has",
            doc.key
        );
    }
}
