//! Sweeps, merge and report: a failing run does not stop the others, merge joins the shards of
//! one grid and refuses anything else, report writes non-empty PNGs.

use npchip::cli::{Cli, Command};
use npchip::output::hdf5::{read_root_attrs, read_runs, RunStatus};
use npchip::output::{merge::merge, report};
use npchip::sweep::{self, SweepPlan};
use std::path::{Path, PathBuf};

/// Tiny, fast runs: 160 digits, one hidden layer of 8, one epoch, no hardware traces.
const SMALL: &[&str] = &[
    "--hidden",
    "8",
    "--batch",
    "16",
    "--epochs",
    "1",
    "--train-samples",
    "160",
    "--test-samples",
    "60",
    "--trace",
    "none",
    "--jobs",
    "2",
];

/// Parses through the real command line, as `npchip sweep ...` would.
fn sweep_args(extra: &[&str], out: &Path) -> SweepPlan {
    use clap::Parser;
    let mut argv: Vec<String> = ["npchip", "sweep"].iter().map(|s| s.to_string()).collect();
    // SMALL's flag/value pairs, except those the test sets itself.
    for pair in SMALL.chunks(2) {
        if !extra.contains(&pair[0]) {
            argv.extend(pair.iter().map(|s| s.to_string()));
        }
    }
    argv.extend(extra.iter().map(|s| s.to_string()));
    argv.extend(["--out".to_string(), out.display().to_string()]);
    match Cli::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
        .command
    {
        Command::Sweep(a) => a.plan().unwrap_or_else(|e| panic!("{argv:?}: {e}")),
        _ => unreachable!(),
    }
}

fn is_png(p: &Path) -> bool {
    std::fs::read(p).is_ok_and(|b| b.len() > 1000 && b.starts_with(b"\x89PNG\r\n\x1a\n"))
}

#[test]
fn a_diverging_run_is_recorded_and_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep.h5");
    // Plain SGD at lr = 1e30 on the ideal chip overflows to NaN in the first steps.
    let args = sweep_args(
        &[
            "--chip",
            "ideal",
            "--rule",
            "bp",
            "--optimizer",
            "sgd",
            "--lrs",
            "0.05,1e30,0.02",
            "--epochs",
            "2",
        ],
        &out,
    );
    let s = sweep::execute(&args).unwrap();
    let statuses: Vec<&str> = s.runs.iter().map(|f| f.status.name()).collect();
    assert_eq!(statuses, ["completed", "diverged", "completed"]);
    let runs = read_runs(&out).unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(
        runs[0].epochs.len(),
        2,
        "the run after the diverged one finished all its epochs"
    );
    assert_eq!(runs[2].epochs.len(), 2);
    match &runs[1].status {
        RunStatus::Diverged(m) => assert!(m.contains("NaN") || m.contains("inf"), "{m}"),
        other => panic!("run0001 is {other}"),
    }
    assert_eq!(runs[1].attrs["sweep_index"].as_i64(), Some(1));
    assert!(runs[1].attrs["sweep_point"]
        .as_str()
        .unwrap()
        .contains("lr=1e30"));
    // The command fails (exit status 1) and says how many runs did not complete.
    let out2 = dir.path().join("again.h5");
    let e = sweep::run(&sweep_args(
        &[
            "--chip",
            "ideal",
            "--rule",
            "bp",
            "--optimizer",
            "sgd",
            "--lrs",
            "0.05,1e30",
        ],
        &out2,
    ))
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("1 of 2 runs did not complete"), "{e}");
}

#[test]
fn an_invalid_grid_point_stops_the_sweep_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.h5");
    let e = sweep::run(&sweep_args(
        &["--chips", "ideal,rram", "--bits", "2,4"],
        &out,
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("ideal") && e.contains("levels"), "{e}");
    let e = sweep::run(&sweep_args(&["--rules", "danp,np"], &out))
        .unwrap_err()
        .to_string();
    assert!(e.contains("rule=np") && e.contains("inject"), "{e}");
    assert!(!out.exists(), "nothing is written for an invalid grid");
}

/// Two shards of a 4-point grid (2 bits × 2 rules) on the rram chip.
fn shards(dir: &Path, extra: &[&str]) -> Vec<PathBuf> {
    (0..2)
        .map(|k| {
            let out = dir.join(format!("shard-{k}{}.h5", extra.len()));
            let mut a = vec!["--chip", "rram", "--bits", "2,4", "--rules", "danp,bp"];
            let shard = format!("{k}/2");
            a.extend(["--shard", shard.as_str()]);
            a.extend_from_slice(extra);
            let s = sweep::execute(&sweep_args(&a, &out)).unwrap();
            assert_eq!(s.runs.len(), 2);
            assert!(
                s.runs.iter().all(|f| f.status == RunStatus::Completed),
                "{:?}",
                s.runs
            );
            out
        })
        .collect()
}

#[test]
fn merge_joins_shards_and_refuses_mismatched_ones() {
    let dir = tempfile::tempdir().unwrap();
    let parts = shards(dir.path(), &[]);
    let merged = dir.path().join("merged.h5");
    merge(&merged, &parts, false).unwrap();
    let runs = read_runs(&merged).unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["run0000", "run0001", "run0002", "run0003"]);
    assert!(runs
        .iter()
        .all(|r| r.epochs.len() == 1 && r.status == RunStatus::Completed));
    let root = read_root_attrs(&merged).unwrap();
    assert_eq!(root["sweep_shard"].as_str(), Some("0/1"));
    assert_eq!(root["sweep_points"].as_i64(), Some(4));
    // The merged file holds the shards' runs unchanged.
    let shard0 = read_runs(&parts[0]).unwrap();
    assert_eq!(shard0[0], runs[0]);

    let refused = dir.path().join("refused.h5");
    // A missing shard.
    let e = merge(&refused, &parts[..1], false).unwrap_err().to_string();
    assert!(e.contains("in no input") && e.contains("shard 1"), "{e}");
    // The same shard twice.
    let e = merge(
        &refused,
        &[parts[0].clone(), parts[0].clone(), parts[1].clone()],
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("grid point 0 is in"), "{e}");
    // A shard of a different grid (another epoch count).
    let other = shards(dir.path(), &["--epochs", "2"]);
    let e = merge(&refused, &[parts[0].clone(), other[1].clone()], false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("different grids") && e.contains("epochs"), "{e}");
    // Not a sweep file.
    let e = merge(&refused, &[dir.path().join("nope.h5")], false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.h5"), "{e}");
    assert!(!refused.exists(), "a refused merge writes nothing");
    // An existing output needs --force.
    let e = merge(&merged, &parts, false).unwrap_err().to_string();
    assert!(e.contains("--force"), "{e}");
    merge(&merged, &parts, true).unwrap();
}

#[test]
fn report_produces_non_empty_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grid.h5");
    let s = sweep::execute(&sweep_args(
        &[
            "--chip",
            "rram",
            "--bits",
            "2,4",
            "--read-noise",
            "0,0.1",
            "--rules",
            "danp,bp",
            "--trace",
            "summary",
        ],
        &out,
    ))
    .unwrap();
    assert_eq!(s.runs.len(), 8);
    let plots = dir.path().join("plots");
    report::run(std::slice::from_ref(&out), Some(&plots)).unwrap();
    for f in [
        "learning_curves.png",
        "accuracy_vs_bits.png",
        "accuracy_vs_read_noise.png",
        "energy.png",
    ] {
        assert!(is_png(&plots.join(f)), "{f} missing or empty");
    }
    let rows: Vec<report::Row> = read_runs(&out)
        .unwrap()
        .iter()
        .map(report::Row::of)
        .collect();
    assert!(
        rows.iter().all(|r| r.energy_pj.is_some_and(|e| e[0] > 0.0)),
        "every run has inference energy"
    );
    assert!(rows.iter().all(|r| r.pulses_per_weight.is_some()));
    assert!(
        rows.iter().all(|r| r.adc_saturation.is_some()),
        "the rram chip has ADCs"
    );
    assert_eq!(
        rows.iter().filter(|r| r.oracle).count(),
        4,
        "bp is marked oracle"
    );
    let table = report::table(&rows);
    assert!(
        table.contains("bp*") && table.contains("completed"),
        "{table}"
    );

    // One run: the learning-curve plot still appears.
    let one = dir.path().join("one.h5");
    sweep::execute(&sweep_args(&["--chip", "rram"], &one)).unwrap();
    let plots1 = dir.path().join("plots1");
    report::run(std::slice::from_ref(&one), Some(&plots1)).unwrap();
    assert!(is_png(&plots1.join("learning_curves.png")));
    assert!(
        !plots1.join("accuracy_vs_bits.png").exists(),
        "no precision plot without a precision axis"
    );

    // Several files: one table, runs named by file stem; each has its wall time per epoch.
    let mut headers = Vec::new();
    let both =
        report::collect(&[out.clone(), one.clone()], |h| headers.push(h.to_string())).unwrap();
    assert_eq!(headers.len(), 2);
    assert_eq!(both.len(), 9);
    assert!(
        both[..8].iter().all(|r| r.name.starts_with("grid/run")),
        "{:?}",
        both[0].name
    );
    assert_eq!(both[8].name, "one");
    let rows: Vec<report::Row> = both.iter().map(report::Row::of).collect();
    assert!(rows
        .iter()
        .all(|r| r.seconds_per_epoch.is_some_and(|t| t > 0.0)));
    assert!(report::table(&rows).contains("s/epoch"));
}

#[test]
fn sweep_toml_defines_the_grid_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("grid.toml");
    std::fs::write(&toml, "[grid]\nbits = [2, 4]\nseed = [1, 2]\n\n[train]\nchip = \"rram\"\nepochs = 3\nhidden = [8]\n").unwrap();
    let out = dir.path().join("t.h5");
    let s = sweep::execute(&sweep_args(
        &[
            "--config",
            toml.to_str().unwrap(),
            "--epochs",
            "1",
            "--shard",
            "1/2",
        ],
        &out,
    ))
    .unwrap();
    let idx: Vec<usize> = s.runs.iter().map(|f| f.index).collect();
    assert_eq!(idx, [1, 3]);
    let runs = read_runs(&out).unwrap();
    assert!(
        runs.iter().all(|r| r.epochs.len() == 1),
        "--epochs on the command line beats the file"
    );
    assert_eq!(runs[0].attrs["chip.device.levels"].as_i64(), Some(4));
    assert_eq!(runs[0].attrs["seed"].as_i64(), Some(2));
    let grid = read_root_attrs(&out).unwrap()["sweep_grid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        grid.contains("levels = [4, 16]") && grid.contains("epochs = 1"),
        "{grid}"
    );
}

#[test]
fn a_sweep_over_a_conv_arch_stores_the_arch_in_each_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("conv.h5");
    let s = sweep::execute(&sweep_args(
        &["--arch", "conv4k3p1,maxpool2,fc10", "--seeds", "1,2"],
        &out,
    ))
    .unwrap();
    assert_eq!(s.unsuccessful(), 0, "{}", s.line());
    let runs = read_runs(&out).unwrap();
    assert_eq!(runs.len(), 2);
    for r in &runs {
        assert_eq!(
            r.attrs["arch"].as_str(),
            Some("conv4k3p1s1,maxpool2,fc10"),
            "{}",
            r.name
        );
    }
    assert_eq!(runs[1].attrs["seed"].as_i64(), Some(2));
}

#[test]
fn a_vary_axis_stores_its_value_in_each_run_and_the_table_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vary.h5");
    let s = sweep::execute(&sweep_args(
        &["--vary", "decor_sample=1.0,0.25", "--seeds", "1,2"],
        &out,
    ))
    .unwrap();
    assert_eq!(s.unsuccessful(), 0, "{}", s.line());
    let runs = read_runs(&out).unwrap();
    let samples: Vec<f64> = runs
        .iter()
        .map(|r| r.attrs["decor_sample"].as_f64().unwrap())
        .collect();
    assert_eq!(samples, [1.0, 1.0, 0.25, 0.25]);
    assert!(runs[2].attrs["sweep_point"]
        .as_str()
        .unwrap()
        .contains("decor_sample=0.25"));
    let rows: Vec<report::Row> = runs.iter().map(report::Row::of).collect();
    let table = report::table(&rows);
    let header = table.lines().next().unwrap();
    assert!(header.contains("decor_sample"), "{table}");
    assert!(
        table.lines().any(|l| l.contains(" 0.25 ")),
        "the varied value is in its column: {table}"
    );
    // The same axis from a sweep TOML, and a typed --vary of the same key replaces it.
    let toml = dir.path().join("grid.toml");
    std::fs::write(&toml, "[grid.vary]\ndecor_sample = [1.0, 0.5, 0.1]\n").unwrap();
    let p = toml.to_str().unwrap();
    let g = npchip::sweep::grid::Grid::build(&sweep_args(&["--config", p], &out)).unwrap();
    assert_eq!(g.total, 3);
    let g = npchip::sweep::grid::Grid::build(&sweep_args(
        &["--config", p, "--vary", "decor_sample=0.2"],
        &out,
    ))
    .unwrap();
    assert_eq!(g.total, 1);
    assert_eq!(g.runs[0].1.decor_sample, 0.2);
}

#[test]
fn bad_vary_keys_and_values_are_named_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.h5");
    let err = |a: &[&str]| sweep::run(&sweep_args(a, &out)).unwrap_err().to_string();
    let e = err(&["--vary", "decor_smaple=1"]);
    assert!(
        e.contains("`decor_smaple`") && e.contains("allowed") && e.contains("decor_sample"),
        "{e}"
    );
    let e = err(&["--vary", "decor_sample=0.5,7"]);
    assert!(
        e.contains("decor-sample 7") && e.contains("(0, 1]") && e.contains("decor_sample=7"),
        "{e}"
    );
    let e = err(&["--vary", "lr=0.1,0.2"]);
    assert!(e.contains("`lr`") && e.contains("--lrs"), "{e}");
    let e = err(&["--vary", "out=a.h5,b.h5"]);
    assert!(e.contains("`out`") && e.contains("per invocation"), "{e}");
    let e = err(&["--vary", "epochs=1,1"]);
    assert!(e.contains("`1` twice"), "{e}");
    assert!(!out.exists(), "nothing is written for a bad axis");
    // In a sweep TOML: the unknown key and its table are named.
    let toml = dir.path().join("grid.toml");
    std::fs::write(&toml, "[grid.vary]\ncolour = [\"red\"]\n").unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_npchip"))
        .args(["sweep", "--config", toml.to_str().unwrap(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`colour`")
            && stderr.contains("[grid.vary]")
            && stderr.contains("decor_sample"),
        "{stderr}"
    );
    // A --vary without `=` is refused by the command line, naming the value.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_npchip"))
        .args(["sweep", "--vary", "decor_sample", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("`decor_sample`") && stderr.contains("KEY=V1,V2"),
        "{stderr}"
    );
    assert!(!out.exists());
}
