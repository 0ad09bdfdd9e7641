//! The rule boundary at run time: diagnostics leave the run untouched, an oracle reads only
//! its own chip, the `oracle` flag is the chip's record, and no chip internal is crate-wide.
//! (What does not compile is proved by the `compile_fail` doc tests in `src/chip/port.rs`.)

use nalgebra::DMatrix;
use npchip::chip::{
    presets, Activation, Chip, ChipCheckpoint, ChipConfig, ForwardTrace, InjectedNoise,
    OracleRefusal, Pass, Phase,
};
use npchip::cli::{Cli, Command, TrainArgs};
use npchip::learn::Learner;
use npchip::output::hdf5::{read_runs, ResultFile, RunOptions, RunStatus};
use npchip::train::{EpochRecord, Observer};
use std::sync::atomic::AtomicBool;

fn train_args(argv: &[&str]) -> TrainArgs {
    use clap::Parser;
    let mut all = vec!["npchip", "train"];
    all.extend_from_slice(argv);
    match Cli::try_parse_from(&all).unwrap().command {
        Command::Train(a) => *a,
        _ => unreachable!(),
    }
}

/// Small digits runs: 200 training samples, one hidden layer of 12.
fn small(rule: &str, chip: &str, extra: &[&str]) -> TrainArgs {
    let mut argv = vec![
        "--rule",
        rule,
        "--chip",
        chip,
        "--hidden",
        "12",
        "--batch",
        "20",
        "--epochs",
        "2",
        "--train-samples",
        "200",
        "--test-samples",
        "60",
        "--seed",
        "4",
    ];
    argv.extend_from_slice(extra);
    train_args(&argv)
}

struct Keep(Vec<EpochRecord>);
impl Observer for Keep {
    fn epoch(&mut self, r: &EpochRecord, _: &Chip, _: &Learner) -> anyhow::Result<()> {
        self.0.push(r.clone());
        Ok(())
    }
}

/// Trains through the library loop; returns the chip's final checkpoint and the records.
fn train(args: &TrainArgs) -> (ChipCheckpoint, Vec<EpochRecord>) {
    let spec = args.to_spec().unwrap();
    let data = args.dataset().unwrap();
    let (mut chip, mut learner) = spec.build(&data);
    let mut keep = Keep(Vec::new());
    let stop = AtomicBool::new(false);
    npchip::train::run(
        &spec.loop_config(),
        &mut chip,
        &mut learner,
        &data,
        1,
        &mut keep,
        &stop,
    )
    .unwrap();
    (chip.checkpoint(), keep.0)
}

/// Every number of a checkpoint as bits (f32 by bit pattern: −0 ≠ +0, NaN = NaN).
fn bits(ck: &ChipCheckpoint) -> Vec<u64> {
    let f = |v: &[f32]| v.iter().map(|x| x.to_bits() as u64).collect::<Vec<_>>();
    let mut out = ck.injection_stream.to_vec();
    for l in &ck.layers {
        out.extend(f(&l.bias));
        out.extend(l.read_stream);
        out.extend(l.float_weights.as_deref().map(f).unwrap_or_default());
        if let Some(d) = &l.devices {
            out.extend(f(&d.conductances));
            out.extend(f(&d.accumulate));
            out.extend(d.programming_stream);
            out.extend(d.update_stream);
            out.push(d.now_s.to_bits());
        }
        out.extend(l.decorrelator.as_deref().map(f).unwrap_or_default());
        out.extend(l.counters.iter().flatten());
    }
    out
}

#[test]
fn diagnostics_leave_the_run_bit_identical() {
    // A physical rule on the noisy chip (the probes would draw read and injected noise) and an
    // oracle rule with a readable source (the probes would record uses and count passes).
    for args in [
        small("danp-nn", "rram", &[]),
        small("dnp", "ideal", &["--inject", "readable:0.01"]),
    ] {
        let (plain, plain_recs) = train(&args);
        let mut with = args.clone();
        with.settings.set("diagnostics", "true");
        let (probed, probed_recs) = train(&with);
        assert!(
            probed_recs.iter().all(|r| r.alignment.is_some()),
            "the diagnostics ran"
        );
        assert!(plain_recs.iter().all(|r| r.alignment.is_none()));
        let (a, b) = (bits(&plain), bits(&probed));
        let first_diff = a.iter().zip(&b).position(|(x, y)| x != y);
        assert!(
            a.len() == b.len() && first_diff.is_none(),
            "{}: --diagnostics changed weights, streams or counters (first of {} numbers \
             differing: {first_diff:?})",
            args.to_spec().unwrap().rule,
            a.len()
        );
        assert_eq!(plain.oracle_uses, probed.oracle_uses);
        for (a, b) in plain_recs.iter().zip(&probed_recs) {
            assert_eq!(a.counters, b.counters, "training counters");
            assert_eq!(a.eval_counters, b.eval_counters, "evaluation counters");
            assert_eq!(a.test_acc.to_bits(), b.test_acc.to_bits());
        }
    }
}

fn chip(injected: InjectedNoise, seed: u64) -> Chip {
    let model = presets::resolve("rram", &[]).unwrap();
    Chip::build(
        &model,
        ChipConfig {
            sizes: vec![5, 4, 3],
            activation: Activation::LeakyRelu { slope: 0.2 },
            decorrelation: None,
            injected,
            seed,
        },
    )
}

#[test]
fn a_twin_starts_equal_and_what_runs_on_it_leaves_the_chip_alone() {
    let mut a = chip(InjectedNoise::Hidden { sigma: 0.05 }, 2);
    let x = DMatrix::from_fn(5, 7, |i, j| ((i * 7 + j) as f32 * 0.37).sin().abs());
    let mut tr = ForwardTrace::default();
    a.forward(&x, Pass::Noisy, Phase::Inference, &mut tr);
    let before = a.checkpoint();
    let mut twin = a.twin();
    assert_eq!(bits(&twin.checkpoint()), bits(&before), "twin starts equal");
    // The twin's next noisy pass is the one the chip would have made: same streams.
    let mut t2 = ForwardTrace::default();
    twin.forward(&x, Pass::Noisy, Phase::Inference, &mut t2);
    let dw = DMatrix::from_element(3, 4, 0.1);
    twin.update_layer(1, &dw, &nalgebra::DVector::zeros(3));
    assert_eq!(
        bits(&a.checkpoint()),
        bits(&before),
        "the chip is untouched"
    );
    a.forward(&x, Pass::Noisy, Phase::Inference, &mut tr);
    assert_eq!(
        tr.output().as_slice(),
        t2.output().as_slice(),
        "same state, same draws"
    );
}

#[test]
fn an_oracle_reads_only_the_injected_noise_of_its_own_chip() {
    let readable = InjectedNoise::Readable { sigma: 0.5 };
    let (mut a, mut b) = (chip(readable, 1), chip(readable, 1));
    let x = DMatrix::from_element(5, 6, 0.5);
    let (mut ta, mut tb) = (ForwardTrace::default(), ForwardTrace::default());
    a.forward(&x, Pass::Noisy, Phase::Inference, &mut ta);
    b.forward(&x, Pass::Noisy, Phase::Inference, &mut tb);
    assert_eq!(ta.pre(), tb.pre(), "same seed, same draws");
    {
        let mut port = a.port();
        let o = port.oracle("test: injected noise");
        // Only the chip identity tells the two traces apart.
        let own = o.injected(&ta).expect("its own trace");
        assert!(own[0].iter().any(|&e| e != 0.0), "noise was injected");
        assert_eq!(o.injected(&tb).unwrap_err(), OracleRefusal::OtherChip);
        assert_eq!(
            o.injected(&ForwardTrace::default()).unwrap_err(),
            OracleRefusal::OtherChip,
            "an unfilled trace"
        );
    }
    assert_eq!(a.oracle_uses(), ["test: injected noise"], "use recorded");
    assert!(
        b.oracle_uses().is_empty(),
        "nothing recorded on the other chip"
    );
    // A hidden source stays hidden even from its own chip's oracle.
    let mut h = chip(InjectedNoise::Hidden { sigma: 0.5 }, 1);
    let mut th = ForwardTrace::default();
    h.forward(&x, Pass::Noisy, Phase::Inference, &mut th);
    assert_eq!(
        h.oracle("test").injected(&th).unwrap_err(),
        OracleRefusal::NotReadable
    );
}

/// Writes a 1-epoch run of `args` to HDF5; `peek` lets the lab take an oracle view first.
fn oracle_attrs(args: &TrainArgs, peek: Option<&str>) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let spec = args.to_spec().unwrap();
    let data = args.dataset().unwrap();
    let path = dir.path().join("run.h5");
    let file = ResultFile::create(&path, false, "npchip train (test)").unwrap();
    let opts = RunOptions {
        train_samples: args.def().unwrap().train_samples,
        test_samples: args.def().unwrap().test_samples,
        ..RunOptions::new(&args.def().unwrap().data_text)
    };
    let mut writer = file.add_run("run0", &spec, &data, &opts).unwrap();
    let (mut chip, mut learner) = spec.build(&data);
    writer.prepare_chip(&mut chip);
    if let Some(why) = peek {
        chip.oracle(why);
    }
    let stop = AtomicBool::new(false);
    let mut cfg = spec.loop_config();
    cfg.epochs = 1;
    let result = npchip::train::run(&cfg, &mut chip, &mut learner, &data, 1, &mut writer, &stop);
    writer.finish(RunStatus::of(&result)).unwrap();
    result.unwrap();
    file.close().unwrap();
    let run = read_runs(&path).unwrap().remove(0);
    (
        run.attrs["oracle"].as_bool().unwrap(),
        run.attrs["oracle_uses"].as_str().unwrap().to_string(),
    )
}

#[test]
fn the_oracle_flag_in_the_file_is_the_chips_record_not_the_rule_name() {
    let (flag, uses) = oracle_attrs(&small("bp", "rram", &[]), None);
    assert!(flag, "bp asked for the weights");
    assert!(uses.contains("bp: backward pass"), "{uses}");
    let (flag, uses) = oracle_attrs(&small("danp-nn", "rram", &["--diagnostics"]), None);
    assert!(
        !flag && uses.is_empty(),
        "physical, diagnostics on a twin: {uses}"
    );
    // A physical rule's name, but the chip did hand out a view: the file says so.
    let (flag, uses) = oracle_attrs(&small("danp-nn", "rram", &[]), Some("test: lab peek"));
    assert!(flag, "{uses}");
    assert_eq!(uses, "test: lab peek");
}

#[test]
fn no_chip_internal_is_crate_wide() {
    // Rules live in crate::learn; they see exactly what an outside crate sees only if nothing
    // in src/chip is `pub(crate)` (the doc tests then prove the boundary for them too).
    fn visit(dir: &std::path::Path, hits: &mut Vec<String>, files: &mut usize) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                visit(&p, hits, files);
            } else if p.extension().is_some_and(|x| x == "rs") {
                *files += 1;
                let text = std::fs::read_to_string(&p).unwrap();
                for (i, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    if code.contains("pub(crate)") {
                        hits.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    let (mut hits, mut files) = (Vec::new(), 0);
    visit(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/chip"),
        &mut hits,
        &mut files,
    );
    assert!(files >= 10, "read the chip sources ({files} files)");
    assert!(
        hits.is_empty(),
        "crate-wide chip items:\n{}",
        hits.join("\n")
    );
}
