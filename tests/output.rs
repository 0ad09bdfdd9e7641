//! HDF5 result files: every field written and read back, the schema seen from h5py, a run
//! killed mid-way, resume equal to an uninterrupted run, Ctrl-C, and refusals (existing
//! output, corrupt resume files).

use npchip::chip::{Chip, Energy};
use npchip::cli::{Cli, Command, TrainArgs};
use npchip::learn::Learner;
use npchip::output::hdf5::{
    read_root_attrs, read_run, read_runs, AttrValue, ResultFile, RunOptions, RunStatus,
};
use npchip::output::{Tee, TraceLevel};
use npchip::train::{EpochRecord, Observer, StepRecord};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

// ---------------------------------------------------------------- helpers

/// Small, fast settings: 300 digits, one hidden layer of 16, on the noisy rram chip.
const SMALL: &[&str] = &[
    "--chip",
    "rram",
    "--hidden",
    "16",
    "--batch",
    "16",
    "--train-samples",
    "300",
    "--test-samples",
    "100",
    "--seed",
    "3",
];

pub(crate) fn train_args(extra: &[&str]) -> TrainArgs {
    use clap::Parser;
    let mut argv = vec!["npchip", "train"];
    argv.extend_from_slice(SMALL);
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
        .command
    {
        Command::Train(a) => *a,
        _ => unreachable!(),
    }
}

/// Trains `args` through the library's one entry point, silently (as Python does).
pub(crate) fn train_to_file(
    args: &TrainArgs,
    _quiet: bool,
) -> anyhow::Result<npchip::run::RunOutcome> {
    let def = args.def()?;
    Ok(npchip::run::train_to_file(
        &def,
        &npchip::run::Cancel::new(),
        npchip::run::Progress::Silent,
    )?)
}

pub(crate) fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Keeps every record the loop produced, to compare with the file.
#[derive(Default)]
pub(crate) struct Recorder {
    epochs: Vec<EpochRecord>,
    steps: Vec<StepRecord>,
    /// Per epoch and layer: cumulative (up, down) pulses of the chip's own counters.
    pub(crate) pulses: Vec<Vec<u64>>,
}

impl Observer for Recorder {
    fn epoch(
        &mut self,
        r: &EpochRecord,
        chip: &Chip,
        _l: &Learner,
    ) -> Result<(), npchip::train::ObserverError> {
        self.epochs.push(r.clone());
        self.pulses.push(
            chip.counters()
                .iter()
                .map(|c| c.total().pulses_up + c.total().pulses_down)
                .collect(),
        );
        Ok(())
    }
    fn step(&mut self, r: &StepRecord) -> Result<(), npchip::train::ObserverError> {
        self.steps.push(r.clone());
        Ok(())
    }
}

/// Trains `args` through the library with a writer and a recorder; returns the file's path.
pub(crate) fn train_recorded(
    dir: &Path,
    args: &TrainArgs,
    trace: TraceLevel,
) -> (PathBuf, Recorder) {
    let spec = args.to_spec().unwrap();
    let data = args.dataset().unwrap();
    let path = dir.join("run.h5");
    let file = ResultFile::create(&path, false, "npchip train (test)").unwrap();
    let opts = RunOptions {
        trace,
        train_samples: args.def().unwrap().train_samples,
        test_samples: args.def().unwrap().test_samples,
        ..RunOptions::new(&args.def().unwrap().data_text)
    };
    let mut writer = file.add_run("run0", &spec, &data, &opts).unwrap();
    let (mut chip, mut learner) = spec.build(&data);
    writer.prepare_chip(&mut chip);
    let mut rec = Recorder::default();
    let stop = AtomicBool::new(false);
    let result = npchip::train::run(
        &spec.loop_config(),
        &mut chip,
        &mut learner,
        &data,
        1,
        &mut Tee(&mut writer, &mut rec),
        &stop,
    );
    writer.finish(RunStatus::of(&result)).unwrap();
    result.unwrap();
    file.close().unwrap();
    (path, rec)
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

// ---------------------------------------------------------------- write → read

#[test]
fn every_field_reads_back_as_the_trainer_produced_it() {
    let dir = tmp();
    let args = train_args(&["--epochs", "2", "--log-every", "5", "--diagnostics"]);
    let (path, rec) = train_recorded(dir.path(), &args, TraceLevel::Full);
    let root = read_root_attrs(&path).unwrap();
    assert_eq!(
        root["npchip_version"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        root["schema_version"].as_i64(),
        Some(npchip::output::hdf5::SCHEMA_VERSION as i64)
    );
    assert!(root["created"].as_str().unwrap().ends_with('Z'));
    assert!(root["host_threads"].as_i64().unwrap() >= 1);

    let runs = read_runs(&path).unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.name, "run0");
    assert_eq!(run.status, RunStatus::Completed);
    let spec = args.to_spec().unwrap();
    let attr = |k: &str| {
        run.attrs
            .get(k)
            .unwrap_or_else(|| panic!("attribute {k} missing"))
    };
    assert_eq!(attr("rule").as_str(), Some("danp-nn"));
    assert_eq!(attr("oracle").as_bool(), Some(false));
    assert_eq!(attr("chip_name").as_str(), Some("rram"));
    assert_eq!(
        attr("chip_toml").as_str(),
        Some(spec.chip.to_toml().as_str())
    );
    for (k, v) in spec.chip.flattened() {
        let stored = attr(&format!("chip.{k}"));
        match v {
            toml::Value::Integer(i) => assert_eq!(stored.as_i64(), Some(i), "{k}"),
            toml::Value::Float(f) => assert_eq!(stored.as_f64(), Some(f), "{k}"),
            toml::Value::Boolean(b) => assert_eq!(stored.as_bool(), Some(b), "{k}"),
            toml::Value::String(s) => assert_eq!(stored.as_str(), Some(s.as_str()), "{k}"),
            _ => {}
        }
    }
    assert_eq!(attr("lr").as_f64().map(|x| x as f32), Some(spec.lr));
    assert_eq!(attr("seed").as_i64(), Some(3));
    assert_eq!(attr("data").as_str(), Some("digits"));
    assert_eq!(
        attr("data_source_hash").as_str(),
        Some(args.dataset().unwrap().source_hash.as_str())
    );
    assert_eq!(attr("train_size").as_i64(), Some(300));
    assert_eq!(attr("sizes"), &AttrValue::Ints(vec![64, 16, 10]));

    // Curves and counters, exactly.
    let e = &run.epochs;
    assert_eq!(e.epoch, vec![1, 2]);
    let col = |f: fn(&EpochRecord) -> f64| rec.epochs.iter().map(f).collect::<Vec<_>>();
    assert_eq!(bits(&e.train_loss), bits(&col(|r| r.train_loss)));
    assert_eq!(bits(&e.test_acc), bits(&col(|r| r.test_acc)));
    assert_eq!(bits(&e.test_loss), bits(&col(|r| r.test_loss)));
    assert_eq!(bits(&e.train_acc), bits(&col(|r| r.train_acc)));
    assert_eq!(e.samples, vec![288, 288]);
    let coef = &spec.chip.spec().energy;
    for (k, r) in rec.epochs.iter().enumerate() {
        assert_eq!(e.counters[k], r.counters);
        assert_eq!(e.eval_counters[k], r.eval_counters);
        for (l, c) in r.counters.iter().enumerate() {
            for p in 0..4 {
                assert_eq!(e.energy[k][l][p], Energy::of(&c.0[p], coef));
                let want = if c.0[p].adc_conversions == 0 {
                    0.0
                } else {
                    c.0[p].adc_saturations as f64 / c.0[p].adc_conversions as f64
                };
                assert_eq!(e.saturation_rate[k][l][p], want);
            }
            assert_eq!(e.update_norm[k][l], r.update_norms[l]);
            assert_eq!(
                e.alignment.as_ref().unwrap()[k][l].to_bits(),
                r.alignment.as_ref().unwrap()[l].to_bits()
            );
        }
        let per_sample = e.energy_per_sample_by_phase(k);
        assert!(per_sample[0] > 0.0 && per_sample[1] > 0.0 && per_sample[2] > 0.0);
    }
    // Steps.
    assert_eq!(
        run.steps.step,
        rec.steps.iter().map(|s| s.step).collect::<Vec<_>>()
    );
    assert_eq!(
        bits(&run.steps.loss),
        bits(&rec.steps.iter().map(|s| s.loss).collect::<Vec<_>>())
    );
    assert_eq!(run.steps.step.len(), 2 * 18 / 5);

    // Traces: histograms count every device; pulse totals match the chip's counters.
    assert_eq!(run.traces.len(), 2);
    for (l, t) in run.traces.iter().enumerate() {
        let n = [64 * 16, 16 * 10][l] as u64;
        for k in 0..2 {
            assert_eq!(t.conductance_hist[k][0].iter().sum::<u64>(), n);
            assert_eq!(t.conductance_hist[k][1].iter().sum::<u64>(), n);
            assert_eq!(t.pulse_hist[k][0].iter().sum::<u64>(), 2 * n);
            // Mean pulses × devices = this epoch's pulses from the counters.
            let counted: u64 = rec.epochs[k].counters[l].total().pulses_up
                + rec.epochs[k].counters[l].total().pulses_down;
            assert_eq!(
                (t.mean_pulses_per_device[k] * 2.0 * n as f64).round() as u64,
                counted,
                "layer {l} epoch {k}"
            );
            assert!(t.max_pulses_per_device[k] >= 1);
            // The ADC histogram saw every conversion: training, evaluation and diagnostics.
            let conv = rec.epochs[k].counters[l].total().adc_conversions
                + rec.epochs[k].eval_counters[l].total().adc_conversions;
            assert!(t.adc_hist[k].iter().sum::<u64>() >= conv);
        }
    }
    // Full traces, read with the hdf5 crate directly: cumulative per-device pulses.
    let f = ::hdf5::File::open(&path).unwrap();
    for l in 0..2 {
        let cum = f
            .dataset(&format!("runs/run0/traces/layer{l}/pulses_cumulative"))
            .unwrap();
        let (rows, cols) = [(16, 64), (10, 16)][l];
        assert_eq!(cum.shape(), vec![2, 2, rows, cols]);
        let total: u64 = cum.read_raw::<u64>().unwrap().iter().sum();
        assert_eq!(total, rec.pulses[1][l]);
        let snap = f
            .dataset(&format!("runs/run0/traces/layer{l}/conductance_snapshot"))
            .unwrap();
        assert_eq!(snap.shape(), vec![2, (2 * rows * cols).min(1024)]);
    }
}

// ---------------------------------------------------------------- h5py

fn python_with_h5py() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        std::process::Command::new(py)
            .args(["-c", "import h5py"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn h5py_sees_the_documented_schema() {
    let Some(py) = python_with_h5py() else {
        eprintln!("SKIPPED: h5py_sees_the_documented_schema: h5py not available");
        return;
    };
    let dir = tmp();
    let args = train_args(&["--epochs", "2"]);
    let (path, _) = train_recorded(dir.path(), &args, TraceLevel::Summary);
    let script = r#"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
for k in ["npchip_version", "schema_version", "command_line", "created", "host_threads"]:
    assert k in f.attrs, k
assert isinstance(f.attrs["created"], str) and f.attrs["created"].endswith("Z")
r = f["runs/run0"]
assert r.attrs["status"] == "completed", r.attrs["status"]
assert r.attrs["rule"] == "danp-nn" and not bool(r.attrs["oracle"])
assert int(r.attrs["chip.device.levels"]) > 1
e = r["epochs"]
assert e["test_acc"].shape == (2,) and e["epoch"][-1] == 2
assert e["counters"].shape == (2, 2, 4, 14) and e["counters"].dtype == np.uint64
assert e["latency_ns"].shape == (2, 2, 4, 3) and list(e["latency_ns"].attrs["kinds"]) == ["read", "program", "digital"]
assert (e["latency_ns"][...] >= 0).all() and e["latency_ns"][..., 0].sum() > 0
assert e["energy_pj"].shape == (2, 2, 4, 5)
assert e["counters"].maxshape[0] is None and e["counters"].compression == "gzip"
assert list(e["counters"].attrs["counters"]) == ["vector_reads", "macs", "dac_conversions", "adc_conversions", "adc_saturations", "pulses_up", "pulses_down", "cells_written", "digital_ops", "program_requests", "int_adds", "int_add_bits", "int_mults", "int_mult_bits2"]
assert float(r.attrs["decor_sample"]) == 1.0 and int(r.attrs["decor_every"]) == 1
assert r.attrs["decor_blocks"] == "full" and r.attrs["decor_layers"] == "all"
coef = e["energy_pj"].attrs["coefficients_pj"]
c = e["counters"][...].astype(float)
mac = c[..., 1] * coef[0]
assert np.allclose(e["energy_pj"][..., 0], mac)
t = r["traces"]
assert t["max_pulses_per_device"].shape == (2, 2)
assert t["layer0/conductance_hist"].shape == (2, 2, len(t["layer0/conductance_hist"].attrs["edges"]) - 1)
sat = e["counters"][..., 4].sum(axis=(1, 2)) / e["counters"][..., 3].sum(axis=(1, 2))
assert sat.shape == (2,)
assert "checkpoint" in r and "layer0" in r["checkpoint"]
print("ok")
"#;
    let out = std::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

// ---------------------------------------------------------------- kill -9

#[test]
fn a_killed_run_leaves_its_finished_epochs() {
    use std::io::BufRead;
    let dir = tmp();
    let path = dir.path().join("killed.h5");
    let mut argv: Vec<&str> = vec!["train"];
    argv.extend_from_slice(SMALL);
    argv.extend_from_slice(&["--epochs", "1000", "--out", path.to_str().unwrap()]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_npchip"))
        .args(&argv)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The file observer runs before the terminal's, so an "epoch N" line means N is on disk.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.trim_start().starts_with("epoch") && tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while seen < 2 {
        match rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            Ok(_) => seen += 1,
            Err(_) => {
                let _ = child.kill();
                panic!("no finished epoch within 60 s");
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The file on disk is always a complete image (no h5clear, no stale flags).
    let run = read_run(&path, "run0").expect("the killed run's file opens");
    assert!(
        run.epochs.len() >= seen,
        "{} epochs in the file, {seen} reported",
        run.epochs.len()
    );
    assert_eq!(run.epochs.epoch[..seen], [1, 2]);
    assert_eq!(run.status, RunStatus::Running);
    assert!(run.epochs.test_acc.iter().all(|a| (0.0..=1.0).contains(a)));
}

// ---------------------------------------------------------------- resume

fn run_file(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut a: Vec<&str> = vec!["--out", path.to_str().unwrap(), "--trace", "full"];
    a.extend_from_slice(extra);
    train_to_file(&train_args(&a), true).unwrap();
    path
}

fn assert_same_run(a: &Path, b: &Path) {
    let (x, y) = (read_run(a, "run0").unwrap(), read_run(b, "run0").unwrap());
    assert_eq!(x.epochs.epoch, y.epochs.epoch);
    assert_eq!(bits(&x.epochs.test_acc), bits(&y.epochs.test_acc));
    assert_eq!(bits(&x.epochs.test_loss), bits(&y.epochs.test_loss));
    assert_eq!(bits(&x.epochs.train_loss), bits(&y.epochs.train_loss));
    assert_eq!(x.epochs.counters, y.epochs.counters);
    assert_eq!(x.epochs.eval_counters, y.epochs.eval_counters);
    assert_eq!(x.traces, y.traces);
    assert_eq!(y.status, RunStatus::Completed);
    let (fa, fb) = (
        ::hdf5::File::open(a).unwrap(),
        ::hdf5::File::open(b).unwrap(),
    );
    for name in [
        "runs/run0/checkpoint/layer0/conductances",
        "runs/run0/checkpoint/layer1/bias",
        "runs/run0/checkpoint/optimizer/v_w0",
        "runs/run0/traces/layer0/pulses_cumulative",
    ] {
        let (p, q) = (fa.dataset(name).unwrap(), fb.dataset(name).unwrap());
        assert_eq!(
            p.read_raw::<f64>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            q.read_raw::<f64>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            "{name}"
        );
    }
}

#[test]
fn resume_equals_the_uninterrupted_run_bit_for_bit() {
    // Digital decorrelators, and the analog one whose state is a second device array.
    for extra in [&[][..], &["--decor-precision", "analog"][..]] {
        let dir = tmp();
        let with = |a: &[&'static str]| [a, extra].concat();
        let whole = run_file(dir.path(), "whole.h5", &with(&["--epochs", "4"]));
        let half = run_file(dir.path(), "half.h5", &with(&["--epochs", "2"]));
        assert_eq!(read_run(&half, "run0").unwrap().epochs.len(), 2);
        let resume = [
            &["--resume", half.to_str().unwrap(), "--epochs", "4"][..],
            extra,
        ]
        .concat();
        train_to_file(&train_args(&resume), true).unwrap();
        assert_same_run(&whole, &half);
        let run = read_run(&half, "run0").unwrap();
        assert_eq!(run.attrs["resumed_from_epochs"], AttrValue::Ints(vec![2]));
    }
}

/// Stops the loop (as Ctrl-C does) partway through epoch `at`.
struct StopIn {
    at: usize,
    epoch: usize,
    stop: Arc<AtomicBool>,
}

impl Observer for StopIn {
    fn epoch(
        &mut self,
        r: &EpochRecord,
        _c: &Chip,
        _l: &Learner,
    ) -> Result<(), npchip::train::ObserverError> {
        self.epoch = r.epoch;
        Ok(())
    }
    fn progress(&mut self, done: usize, _t: usize, _l: f64, _a: f64) {
        if self.epoch + 1 == self.at && done >= 100 {
            self.stop.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn ctrl_c_closes_cleanly_and_the_run_resumes_exactly() {
    let dir = tmp();
    let whole = run_file(dir.path(), "whole.h5", &["--epochs", "3"]);
    let path = dir.path().join("stopped.h5");
    let args = train_args(&[
        "--epochs",
        "3",
        "--trace",
        "full",
        "--out",
        path.to_str().unwrap(),
    ]);
    let (spec, data) = (args.to_spec().unwrap(), args.dataset().unwrap());
    let file = ResultFile::create(&path, false, "test").unwrap();
    let opts = RunOptions {
        trace: TraceLevel::Full,
        train_samples: args.def().unwrap().train_samples,
        test_samples: args.def().unwrap().test_samples,
        ..RunOptions::new("digits")
    };
    let mut writer = file.add_run("run0", &spec, &data, &opts).unwrap();
    let (mut chip, mut learner) = spec.build(&data);
    writer.prepare_chip(&mut chip);
    let stop = Arc::new(AtomicBool::new(false));
    let mut stopper = StopIn {
        at: 2,
        epoch: 0,
        stop: stop.clone(),
    };
    let result = npchip::train::run(
        &spec.loop_config(),
        &mut chip,
        &mut learner,
        &data,
        1,
        &mut Tee(&mut writer, &mut stopper),
        &stop,
    );
    assert_eq!(RunStatus::of(&result), RunStatus::Interrupted);
    writer.finish(RunStatus::Interrupted).unwrap();
    file.close().unwrap();
    let run = read_run(&path, "run0").unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert_eq!(
        run.epochs.epoch,
        vec![1],
        "the partial epoch 2 is not a result"
    );
    assert_eq!(run.attrs["interrupted_in_epoch"].as_i64(), Some(2));
    train_to_file(&train_args(&["--resume", path.to_str().unwrap()]), true).unwrap();
    assert_same_run(&whole, &path);
}

// ---------------------------------------------------------------- refusals

#[test]
fn an_existing_file_is_not_overwritten_without_force() {
    let dir = tmp();
    let path = dir.path().join("exists.h5");
    std::fs::write(&path, b"precious").unwrap();
    let err = train_to_file(
        &train_args(&["--epochs", "1", "--out", path.to_str().unwrap()]),
        true,
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("--force") && msg.contains("--out") && msg.contains("exists.h5"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    train_to_file(
        &train_args(&[
            "--epochs",
            "1",
            "--out",
            path.to_str().unwrap(),
            "--force",
            "--trace",
            "none",
        ]),
        true,
    )
    .unwrap();
    assert_eq!(read_run(&path, "run0").unwrap().epochs.len(), 1);
}

#[test]
fn corrupt_resume_files_give_errors_naming_file_and_object() {
    let dir = tmp();
    // Not HDF5 at all.
    let junk = dir.path().join("junk.h5");
    std::fs::write(&junk, b"not an hdf5 file").unwrap();
    let msg = format!(
        "{:#}",
        train_to_file(&train_args(&["--resume", junk.to_str().unwrap()]), true).unwrap_err()
    );
    assert!(msg.contains("junk.h5"), "{msg}");
    // Missing file.
    let msg = format!(
        "{:#}",
        train_to_file(
            &train_args(&["--resume", dir.path().join("nope.h5").to_str().unwrap()]),
            true
        )
        .unwrap_err()
    );
    assert!(msg.contains("nope.h5"), "{msg}");
    // A checkpoint dataset removed.
    let path = run_file(dir.path(), "cut.h5", &["--epochs", "1"]);
    {
        let f = ::hdf5::File::open_rw(&path).unwrap();
        f.group("runs/run0/checkpoint/layer0")
            .unwrap()
            .unlink("conductances")
            .unwrap();
    }
    let msg = format!(
        "{:#}",
        train_to_file(
            &train_args(&["--resume", path.to_str().unwrap(), "--epochs", "2"]),
            true
        )
        .unwrap_err()
    );
    assert!(
        msg.contains("cut.h5")
            && msg.contains("/runs/run0/checkpoint/layer0/conductances")
            && msg.contains("missing"),
        "{msg}"
    );
    // A required attribute removed.
    let path = run_file(dir.path(), "attr.h5", &["--epochs", "1"]);
    {
        let f = ::hdf5::File::open_rw(&path).unwrap();
        f.group("runs/run0")
            .unwrap()
            .delete_attr("chip_toml")
            .unwrap();
    }
    let msg = format!(
        "{:#}",
        train_to_file(
            &train_args(&["--resume", path.to_str().unwrap(), "--epochs", "2"]),
            true
        )
        .unwrap_err()
    );
    assert!(
        msg.contains("attr.h5") && msg.contains("/runs/run0@chip_toml") && msg.contains("missing"),
        "{msg}"
    );
}
