//! The upper half flows one way (docs/architecture.md): each module of `src/` names only
//! modules below it, and only the top (the CLI and `main.rs`) parses arguments, prints, exits
//! the process or handles signals. Checked on the source text, so a new `use` that breaks the
//! order fails here with the file and line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Layers, bottom first. A module may name `crate::M` only for M in its own layer or below.
const LAYERS: &[(&str, u32)] = &[
    ("rng", 0),
    ("linalg", 0),
    ("data", 1),
    ("chip", 2),
    ("learn", 3),
    ("train", 4),
    ("run", 5),
    ("footprint", 5),
    ("output", 6),
    ("sweep", 7),
    ("lab", 7),
    ("cli", 8),
];

/// `run::train_to_file` stores through `output`, so that file (alone in `run`) sits above it.
const ABOVE_OUTPUT: &str = "src/run/to_file.rs";

/// Upward names still left, (file, module): none; kept so that an exception is written down
/// here rather than by weakening the test.
const UPWARD_LEFT: &[(&str, &str)] = &[];

/// Files below the top that still use anyhow: none (each layer returns a thiserror enum; anyhow
/// is for `main.rs` and `src/cli/`). The test fails when a file not listed starts using it, and
/// when a listed one no longer does (so the list only shrinks). The core (`rng`, `linalg`, `data`, `chip`, `learn`, `train`, `run`) is
/// not here.
const ANYHOW_LEFT: &[&str] = &[];

/// Files below the top that still define clap flags: none (every command's flags are in
/// `src/cli/`); same rules as [`ANYHOW_LEFT`].
const CLAP_LEFT: &[&str] = &[];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// (path relative to the crate, line number, line) of every non-comment line below the top.
fn lines() -> Vec<(String, usize, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if rel.starts_with("src/cli/") || rel == "src/main.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, l) in text.lines().enumerate() {
            let t = l.trim_start();
            if t.starts_with("//") {
                continue;
            }
            out.push((rel.clone(), i + 1, l.to_string()));
        }
    }
    out
}

fn layer_of_file(rel: &str) -> Option<u32> {
    if rel == ABOVE_OUTPUT {
        return Some(6);
    }
    let name = rel
        .strip_prefix("src/")?
        .split(['/', '.'])
        .next()
        .unwrap_or("");
    LAYERS.iter().find(|(m, _)| *m == name).map(|&(_, r)| r)
}

/// The modules a line names as `crate::M` (also inside `use crate::{A, B::..}`).
fn named_modules(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let m: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(m);
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out
}

#[test]
fn each_module_names_only_modules_below_it() {
    let mut bad = Vec::new();
    for (rel, n, l) in lines() {
        let Some(mine) = layer_of_file(&rel) else {
            continue;
        };
        for m in named_modules(&l) {
            let Some(&(_, theirs)) = LAYERS.iter().find(|(name, _)| *name == m) else {
                continue;
            };
            // `output` stores a run's definition; only `to_file.rs` runs one.
            let upward = theirs > mine || (mine == 6 && m == "run" && l.contains("train_to_file"));
            if upward && !UPWARD_LEFT.contains(&(rel.as_str(), m.as_str())) {
                bad.push(format!("{rel}:{n}: names crate::{m}: {}", l.trim()));
            }
        }
    }
    assert!(bad.is_empty(), "upward dependencies:\n{}", bad.join("\n"));
}

#[test]
fn only_the_top_prints_exits_or_handles_signals() {
    let forbidden = [
        "println!",
        "eprintln!",
        "print!(",
        "eprint!(",
        "process::exit",
        "ctrlc::",
        "dbg!(",
    ];
    let bad: Vec<String> = lines()
        .into_iter()
        .filter(|(_, _, l)| forbidden.iter().any(|f| l.contains(f)))
        .map(|(rel, n, l)| format!("{rel}:{n}: {}", l.trim()))
        .collect();
    assert!(bad.is_empty(), "below the CLI:\n{}", bad.join("\n"));
}

fn users_of(word: &str) -> BTreeSet<String> {
    lines()
        .into_iter()
        .filter(|(_, _, l)| l.contains(word))
        .map(|(rel, _, _)| rel)
        .collect()
}

fn assert_only_listed(word: &str, left: &[&str]) {
    let used = users_of(word);
    let listed: BTreeSet<String> = left.iter().map(|s| s.to_string()).collect();
    let new: Vec<_> = used.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&used).collect();
    assert!(
        new.is_empty(),
        "`{word}` below the CLI in files not listed: {new:?}"
    );
    assert!(
        stale.is_empty(),
        "listed files no longer use `{word}`; remove them from the list: {stale:?}"
    );
}

#[test]
fn anyhow_and_clap_stay_at_the_top_except_the_listed_remainder() {
    assert_only_listed("anyhow", ANYHOW_LEFT);
    assert_only_listed("clap", CLAP_LEFT);
    for core in [
        "src/rng",
        "src/linalg",
        "src/data",
        "src/chip",
        "src/learn",
        "src/run",
    ] {
        assert!(
            ANYHOW_LEFT
                .iter()
                .chain(CLAP_LEFT)
                .all(|f| !f.starts_with(core)),
            "{core} must stay free of anyhow and clap"
        );
    }
}

#[test]
fn the_scan_sees_what_it_looks_for() {
    // The checks above would pass on an empty scan: make sure they read the real tree.
    assert!(lines().len() > 10_000);
    assert_eq!(
        named_modules("use crate::{chip::Chip, learn::Learner};"),
        ["chip", "learn"]
    );
    assert_eq!(layer_of_file("src/output/writer.rs"), Some(6));
    assert_eq!(layer_of_file(ABOVE_OUTPUT), Some(6));
    assert!(users_of("MergeError").contains("src/output/merge.rs"));
    assert!(users_of("thiserror").contains("src/sweep/error.rs"));
}
