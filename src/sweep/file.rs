//! The sweep TOML: `[grid]` holds the named axes, `[grid.vary]` generic axes (any run key), and
//! `[train]` any run key (the names of [`crate::run::KEYS`]). It is read into the same typed
//! [`SweepPlan`] the CLI's flags make, under them: a value typed on the command line beats the
//! file, the file beats the default, and `set` lists add up (file first, so a typed `--set`
//! wins for the same parameter). Values are judged by the same check as typed ones.

use super::error::SweepError;
use super::plan::{grid_keys, AxisLists, SweepPlan, NAMED_AXIS_KEYS, PER_INVOCATION_KEYS};
use crate::run::{find_key, Settings, Shape};
use std::path::Path;

/// `[grid]` keys of a sweep TOML (the named axes, and `vary`).
pub const GRID_KEYS: [&str; 9] = [
    "chip",
    "levels",
    "bits",
    "read_noise",
    "prog_noise",
    "rule",
    "lr",
    "seed",
    "vary",
];

/// One TOML scalar as the text a typed flag would carry.
fn scalar(v: &toml::Value) -> Result<String, String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => {
            return Err(format!(
                "expected a string, number, boolean or an array of them, got {}",
                other.type_str()
            ))
        }
    })
}

/// A scalar or an array of scalars as a list of texts.
fn texts(v: &toml::Value) -> Result<Vec<String>, String> {
    match v {
        toml::Value::Array(a) => a.iter().map(scalar).collect(),
        v => Ok(vec![scalar(v)?]),
    }
}

/// Parses every element of an axis, naming the key and the value that does not parse.
fn parse_axis<T: std::str::FromStr>(
    key: &str,
    v: &toml::Value,
    what: &str,
) -> Result<Vec<T>, String>
where
    T::Err: std::fmt::Display,
{
    texts(v)?
        .into_iter()
        .map(|t| {
            t.parse::<T>()
                .map_err(|e| format!("[grid] {key}: `{t}` is not {what}: {e}"))
        })
        .collect()
}

/// Reads `path` and returns `typed` with the file's values filled in beneath it.
pub fn merge_under(typed: SweepPlan, path: &Path) -> Result<SweepPlan, SweepError> {
    let ferr = |message: String| SweepError::File {
        path: path.to_path_buf(),
        message,
    };
    let unknown = |table: &str, key: &str, allowed: String| SweepError::UnknownKey {
        path: path.to_path_buf(),
        table: table.into(),
        key: key.into(),
        allowed,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| ferr(format!("cannot read sweep file: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ferr(e.to_string()))?;
    let mut file_axes = AxisLists::default();
    let mut file_train: Vec<(&'static str, String)> = Vec::new();
    for (section, value) in &table {
        let entries = value
            .as_table()
            .ok_or_else(|| ferr(format!("`{section}` must be a table: [grid] or [train]")))?;
        match section.as_str() {
            "grid" => {
                for (key, v) in entries {
                    let id = key.replace('-', "_");
                    let a = &mut file_axes;
                    let r: Result<(), String> = match id.as_str() {
                        "chip" => texts(v).map(|x| a.chips = x),
                        "levels" => parse_axis(key, v, "a whole number").map(|x| a.levels = x),
                        "bits" => parse_axis(key, v, "a whole number").map(|x| a.bits = x),
                        "read_noise" => parse_axis(key, v, "a number").map(|x| a.read_noise = x),
                        "prog_noise" => parse_axis(key, v, "a number").map(|x| a.prog_noise = x),
                        "rule" => parse_axis(key, v, "a rule").map(|x| a.rules = x),
                        "lr" => parse_axis(key, v, "a number").map(|x| a.lrs = x),
                        "seed" => parse_axis(key, v, "a whole number").map(|x| a.seeds = x),
                        "vary" => {
                            let vary = v.as_table().ok_or_else(|| {
                                ferr("[grid] vary must be a table: [grid.vary] with `key = [values]`"
                                    .to_string())
                            })?;
                            for (k, vals) in vary {
                                if find_key(k).is_none() {
                                    return Err(unknown(
                                        "grid.vary",
                                        k,
                                        super::plan::vary_keys().join(", "),
                                    ));
                                }
                                let vals = texts(vals)
                                    .map_err(|m| ferr(format!("[grid.vary] {k}: {m}")))?;
                                a.vary.push((k.replace('-', "_"), vals));
                            }
                            Ok(())
                        }
                        _ => return Err(unknown("grid", key, GRID_KEYS.join(", "))),
                    };
                    r.map_err(|m| {
                        ferr(if m.starts_with('[') {
                            m
                        } else {
                            format!("[grid] {key}: {m}")
                        })
                    })?;
                }
            }
            "train" => {
                for (key, v) in entries {
                    let k = find_key(key)
                        .filter(|k| grid_keys().contains(&k.name))
                        .ok_or_else(|| unknown("train", key, grid_keys().join(", ")))?;
                    let vals = texts(v).map_err(|m| ferr(format!("[train] {key}: {m}")))?;
                    match k.shape {
                        Shape::Switch => match v.as_bool() {
                            Some(true) => file_train.push((k.name, "true".into())),
                            Some(false) => {}
                            None => {
                                return Err(ferr(format!("[train] {key}: expected true or false")))
                            }
                        },
                        Shape::Repeated => file_train.extend(vals.into_iter().map(|x| (k.name, x))),
                        Shape::List => file_train.push((k.name, vals.join(","))),
                        Shape::Value if vals.len() == 1 => {
                            file_train.push((k.name, vals.into_iter().next().unwrap_or_default()))
                        }
                        Shape::Value => {
                            return Err(ferr(format!("[train] {key}: takes one value, not a list")))
                        }
                    }
                }
            }
            other => {
                return Err(ferr(format!(
                "unknown table [{other}]; a sweep file has [grid] (with [grid.vary]) and [train]"
            )))
            }
        }
    }
    Ok(combine(typed, file_axes, file_train, path))
}

/// The typed plan over the file's values (see the module doc for the precedence).
fn combine(
    typed: SweepPlan,
    file: AxisLists,
    file_train: Vec<(&'static str, String)>,
    path: &Path,
) -> SweepPlan {
    let t = &typed.axes;
    let given = |k: &str| typed.train.given(k).is_some();
    // An axis typed in either spelling (`--levels`/`--bits`, `--rules`/`--rule`) replaces
    // the file's in both.
    let pick = |typed_axis: bool| !typed_axis;
    let precision_typed = !t.levels.is_empty() || !t.bits.is_empty();
    let mut axes = t.clone();
    if pick(!t.chips.is_empty() || given("chip")) {
        axes.chips = file.chips;
    }
    if pick(precision_typed) {
        axes.levels = file.levels;
        axes.bits = file.bits;
    }
    if pick(!t.read_noise.is_empty()) {
        axes.read_noise = file.read_noise;
    }
    if pick(!t.prog_noise.is_empty()) {
        axes.prog_noise = file.prog_noise;
    }
    if pick(!t.rules.is_empty() || given("rule")) {
        axes.rules = file.rules;
    }
    if pick(!t.lrs.is_empty() || given("lr")) {
        axes.lrs = file.lrs;
    }
    if pick(!t.seeds.is_empty() || given("seed")) {
        axes.seeds = file.seeds;
    }
    // File vary axes first; a typed one on the same key replaces the file's.
    let mut vary: Vec<(String, Vec<String>)> = file
        .vary
        .into_iter()
        .filter(|(k, _)| !t.vary.iter().any(|(tk, _)| tk == k) && !given(k))
        .collect();
    vary.extend(t.vary.iter().cloned());
    axes.vary = vary;
    let mut train = Settings::default();
    for (k, v) in file_train {
        let typed_axis = NAMED_AXIS_KEYS.iter().any(|(n, _)| *n == k) && {
            let a = &typed.axes;
            match k {
                "chip" => !a.chips.is_empty(),
                "rule" => !a.rules.is_empty(),
                "lr" => !a.lrs.is_empty(),
                _ => !a.seeds.is_empty(),
            }
        };
        let typed_vary = t.vary.iter().any(|(tk, _)| tk == k);
        if k == "set" || !(given(k) || typed_axis || typed_vary || PER_INVOCATION_KEYS.contains(&k))
        {
            train.set(k, &v);
        }
    }
    for (k, v) in typed.train.pairs() {
        if find_key(k).is_some_and(|x| x.shape != Shape::Repeated) {
            train.unset(k);
        }
        train.set(k, v);
    }
    SweepPlan {
        axes,
        train,
        origin: format!("command line + {}", path.display()),
        ..typed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn typed_values_beat_the_file_and_set_lists_add_up() {
        let (_d, path) = file(
            "[grid]\nbits = [2, 3]\nrule = [\"danp\", \"bp\"]\nlr = 1e-2\n\n[grid.vary]\ndecor_every = [1, 2]\n\n[train]\nepochs = 7\nhidden = [8, 4]\nset = [\"update.max_pulses=5\"]\ndiagnostics = true\n",
        );
        let mut typed = SweepPlan::default();
        typed.train.set("epochs", "1");
        typed.train.set("set", "read.out_bits=6");
        typed.axes.levels = vec![9];
        let p = merge_under(typed, &path).unwrap();
        assert_eq!(p.train.given("epochs"), Some("1"));
        assert_eq!(p.train.given("hidden"), Some("8,4"));
        assert_eq!(p.train.given("diagnostics"), Some("true"));
        assert_eq!(
            p.train.given_all("set"),
            ["update.max_pulses=5", "read.out_bits=6"]
        );
        assert_eq!(p.axes.levels, [9]);
        assert!(
            p.axes.bits.is_empty(),
            "a typed --levels replaces the file's bits"
        );
        assert_eq!(p.axes.lrs, [1e-2]);
        assert_eq!(p.axes.rules.len(), 2);
        assert_eq!(
            p.axes.vary,
            [(
                "decor_every".to_string(),
                vec!["1".to_string(), "2".to_string()]
            )]
        );
        assert!(p.origin.ends_with("grid.toml"), "{}", p.origin);
    }

    #[test]
    fn unknown_keys_and_bad_types_are_named_with_the_file() {
        let err = |text: &str| {
            let (_d, path) = file(text);
            merge_under(SweepPlan::default(), &path)
                .unwrap_err()
                .to_string()
        };
        let e = err("[grid]\nlevel = [2]\n");
        assert!(
            e.contains("grid.toml") && e.contains("`level`") && e.contains("levels"),
            "{e}"
        );
        let e = err("[train]\nout = \"x.h5\"\n");
        assert!(e.contains("`out`") && e.contains("[train]"), "{e}");
        let e = err("[grid.vary]\ncolour = [1]\n");
        assert!(e.contains("`colour`") && e.contains("[grid.vary]"), "{e}");
        let e = err("[grid]\nbits = [\"four\"]\n");
        assert!(e.contains("bits") && e.contains("`four`"), "{e}");
        let e = err("[train]\nepochs = [1, 2]\n");
        assert!(e.contains("epochs") && e.contains("one value"), "{e}");
        let e = err("[nope]\nx = 1\n");
        assert!(e.contains("[nope]"), "{e}");
    }
}
