//! Chip time in result files and reports: the report re-prices a run's stored counters with the
//! stored chip model's `[timing]`, so its time per sample equals the latency equations applied
//! to the counters, and a slower periphery (an override) shows up as exactly that much time.

use npchip::chip::latency::layer_latency;
use npchip::chip::presets::resolve;
use npchip::cli::{Cli, Command};
use npchip::output::hdf5::read_runs;
use npchip::output::report::Row;

fn train(dir: &std::path::Path, name: &str, set: &[&str]) -> std::path::PathBuf {
    train_with(dir, name, set, &[])
}

/// [`train`] with further `npchip train` flags.
fn train_with(
    dir: &std::path::Path,
    name: &str,
    set: &[&str],
    extra: &[&str],
) -> std::path::PathBuf {
    let path = dir.join(name);
    use clap::Parser;
    let p = path.to_str().unwrap().to_string();
    let mut argv = vec![
        "npchip",
        "train",
        "--chip",
        "rram",
        "--hidden",
        "300",
        "--batch",
        "32",
        "--train-samples",
        "256",
        "--test-samples",
        "64",
        "--epochs",
        "2",
        "--seed",
        "5",
        "--trace",
        "none",
        "--out",
        &p,
    ];
    for s in set {
        argv.extend(["--set", s]);
    }
    argv.extend(extra);
    let args = match Cli::try_parse_from(&argv).unwrap().command {
        Command::Train(a) => *a,
        _ => unreachable!(),
    };
    npchip::run::train_to_file(
        &args.def().unwrap(),
        &npchip::run::Cancel::new(),
        npchip::run::Progress::Silent,
    )
    .unwrap();
    path
}

#[test]
fn report_time_is_the_latency_of_the_stored_counters() {
    let dir = tempfile::tempdir().unwrap();
    let path = train(dir.path(), "t.h5", &[]);
    let run = &read_runs(&path).unwrap()[0];
    let row = Row::of(run);
    let t = row.time_ns.expect("rram has [timing]");
    // By hand: every epoch, every layer, priced by the preset (64 → 300 → 10 on 256 arrays).
    let model = resolve("rram", &[]).unwrap();
    let sizes = [64usize, 300, 10];
    let mut want = [0.0f64; 4];
    for epoch in &run.epochs.counters {
        for (l, lc) in epoch.iter().enumerate() {
            let lat = layer_latency(&model, sizes[l], sizes[l + 1], lc);
            for p in 0..4 {
                want[p] += lat[p].total_ns();
            }
        }
    }
    let samples: u64 = run.epochs.samples.iter().sum();
    for p in 0..4 {
        let w = want[p] / samples as f64;
        assert!(
            (t[p] - w).abs() <= 1e-9 * w.abs().max(1.0),
            "phase {p}: {} vs {w}",
            t[p]
        );
    }
    // The file's own `latency_ns` (written as training went) holds the same numbers.
    let f = hdf5::File::open(&path).unwrap();
    let stored: Vec<f64> = f
        .dataset(&format!("runs/{}/epochs/latency_ns", run.name))
        .unwrap()
        .read_raw()
        .unwrap();
    assert_eq!(stored.len(), 2 * 2 * 4 * 3);
    for (p, &w) in want.iter().enumerate() {
        let s: f64 = (0..2 * 2)
            .flat_map(|el| (0..3).map(move |k| (el * 4 + p) * 3 + k))
            .map(|i| stored[i])
            .sum();
        assert!(
            (s - w).abs() <= 1e-9 * w.abs().max(1.0),
            "stored phase {p}: {s} vs {w}"
        );
    }
    // The hidden layer (300 outputs) spans 2 arrays; programming row by row dominates updates.
    assert!(t[2] > t[0], "update {} vs inference {}", t[2], t[0]);
    assert!(row.inference_ns.unwrap() > 0.0);

    // Doubling the pulse width doubles exactly the programming part of the update phase.
    let slow = train(dir.path(), "slow.h5", &["timing.pulse_ns=160.0"]);
    let slow_run = &read_runs(&slow).unwrap()[0];
    let t2 = Row::of(slow_run).time_ns.unwrap();
    assert_eq!(
        run.epochs.counters, slow_run.epochs.counters,
        "same run, only priced differently"
    );
    let program: f64 = run
        .epochs
        .counters
        .iter()
        .flat_map(|e| e.iter().enumerate())
        .map(|(l, lc)| layer_latency(&model, sizes[l], sizes[l + 1], lc)[2].program_ns)
        .sum::<f64>()
        / samples as f64;
    assert!(program > 0.0);
    assert!(
        ((t2[2] - t[2]) - program).abs() < 1e-6 * program,
        "{} vs {program}",
        t2[2] - t[2]
    );
    assert_eq!(t2[0], t[0]);
}

/// A block-diagonal decorrelator is priced on its blocks, in the file as in the report: 64
/// inputs on 16-row arrays are 4 blocks of 16 (300 → 19 blocks of 15 or 16), whose digital
/// work runs on their own circuits, so the same counters cost less time than a full R's.
#[test]
fn report_and_file_price_a_blocked_decorrelator_on_its_blocks() {
    use npchip::chip::latency::layer_latency_with;
    use npchip::chip::DecorBlocks;
    let dir = tempfile::tempdir().unwrap();
    let set = ["array.rows=16", "array.cols=16"];
    let path = train_with(dir.path(), "b.h5", &set, &["--decor-blocks", "array"]);
    let run = &read_runs(&path).unwrap()[0];
    let t = Row::of(run).time_ns.expect("rram has [timing]");
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    let model = resolve("rram", &set).unwrap();
    let sizes = [64usize, 300, 10];
    let (mut blocked, mut full) = (0.0f64, 0.0f64);
    for epoch in &run.epochs.counters {
        for (l, lc) in epoch.iter().enumerate() {
            let d = npchip::chip::Phase::Decorrelation as usize;
            blocked += layer_latency_with(&model, sizes[l], sizes[l + 1], DecorBlocks::Array, lc)
                [d]
                .total_ns();
            full += layer_latency(&model, sizes[l], sizes[l + 1], lc)[d].total_ns();
        }
    }
    let samples: u64 = run.epochs.samples.iter().sum();
    let want = blocked / samples as f64;
    assert!((t[3] - want).abs() <= 1e-9 * want, "{} vs {want}", t[3]);
    assert!(blocked < full, "blocked {blocked} vs full pricing {full}");
    let f = hdf5::File::open(&path).unwrap();
    let stored: Vec<f64> = f
        .dataset(&format!("runs/{}/epochs/latency_ns", run.name))
        .unwrap()
        .read_raw()
        .unwrap();
    let s: f64 = (0..2 * 2)
        .flat_map(|el| (0..3).map(move |k| (el * 4 + 3) * 3 + k))
        .map(|i| stored[i])
        .sum();
    assert!(
        (s - blocked).abs() <= 1e-9 * blocked,
        "stored {s} vs {blocked}"
    );
}
