//! The cheap-decorrelation options (issue 16): update thinning (`decor_sample`,
//! `decor_every`), block-diagonal R (`decor_blocks`), which layers (`decor_layers`), width
//! pricing of fixed-point work and the chip model's `[decorrelator]` section. Each test
//! compares with a closed form, a statistic with a tolerance from its sample size, or a twin
//! run bit for bit.

use nalgebra::DMatrix;
use npchip::chip::energy::{int_add_pj, int_mult_pj};
use npchip::chip::{
    mean_abs_offdiag_correlation, presets, Activation, Chip, ChipConfig, ChipModel, Counters,
    DecorBlocks, DecorConfig, DecorLayers, DecorPrecision, DecorThinning, Energy, ForwardTrace,
    InjectedNoise, Pass, Phase,
};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

fn model(name: &str, set: &[&str]) -> ChipModel {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    presets::resolve(name, &set).unwrap()
}

fn chip(model: &ChipModel, sizes: &[usize], decor: DecorConfig) -> Chip {
    Chip::build(
        model,
        ChipConfig {
            sizes: sizes.to_vec(),
            activation: Activation::LeakyRelu { slope: 0.2 },
            decorrelation: Some(decor),
            injected: InjectedNoise::None,
            seed: 5,
        },
    )
}

fn gaussian(rows: usize, cols: usize, seed: u64) -> DMatrix<f32> {
    let mut rng = npchip::rng::Rng::seed_from_u64(seed);
    DMatrix::from_fn(rows, cols, |_, _| {
        <StandardNormal as Distribution<f32>>::sample(&StandardNormal, &mut rng)
    })
}

/// One step of what the learner does with a decorrelator: a clean forward pass, then every
/// layer's R update on the inputs it saw.
fn step(c: &mut Chip, x: &DMatrix<f32>, trace: &mut ForwardTrace) {
    c.forward(x, Pass::Clean, Phase::Inference, trace);
    for l in 0..c.depth() {
        let xl = trace.inputs()[l].clone();
        c.decorrelate(l, &xl);
    }
}

fn decor_counters(c: &Chip, l: usize) -> Counters {
    *c.counters()[l].get(Phase::Decorrelation)
}

/// Digital ops of one f32 update of a d × d block from b samples: the cheaper product order,
/// then the element-wise step (`decorrelator.rs`).
fn update_ops(d: u64, b: u64) -> u64 {
    let product = if d <= b {
        2 * (d * d * b + d * d * d)
    } else {
        4 * d * d * b
    };
    product + 4 * d * d
}

#[test]
fn counters_of_every_option_equal_their_closed_forms() {
    let (sizes, b) = ([12usize, 10, 4], 20u64);
    let x = gaussian(12, b as usize, 1);
    let ideal = model("ideal", &[]);
    // Per option: the expected decorrelation-phase digital ops of layer l after `steps` steps.
    let run = |m: &ChipModel, cfg: DecorConfig, steps: usize| -> Vec<Counters> {
        let mut c = chip(m, &sizes, cfg);
        let mut t = ForwardTrace::default();
        for _ in 0..steps {
            step(&mut c, &x, &mut t);
        }
        (0..2).map(|l| decor_counters(&c, l)).collect()
    };
    let forward = |d: u64| 2 * d * d * b;
    // Full R, every sample, every step.
    let got = run(&ideal, DecorConfig::default(), 3);
    for (l, &d) in [12u64, 10].iter().enumerate() {
        assert_eq!(
            got[l].digital_ops,
            3 * (forward(d) + update_ops(d, b)),
            "full, layer {l}"
        );
    }
    // decor_sample 0.3: ⌈0.3·20⌉ = 6 samples per update; the forward product unchanged.
    let thin = |sample, every| DecorConfig {
        thin: DecorThinning { sample, every },
        ..DecorConfig::default()
    };
    let got = run(&ideal, thin(0.3, 1), 3);
    for (l, &d) in [12u64, 10].iter().enumerate() {
        assert_eq!(
            got[l].digital_ops,
            3 * (forward(d) + update_ops(d, 6)),
            "sample, layer {l}"
        );
    }
    // decor_every 3 over 7 steps: updates at steps 0, 3, 6.
    let got = run(&ideal, thin(1.0, 3), 7);
    for (l, &d) in [12u64, 10].iter().enumerate() {
        assert_eq!(
            got[l].digital_ops,
            7 * forward(d) + 3 * update_ops(d, b),
            "every, layer {l}"
        );
    }
    // decor_blocks array on arrays of 5 inputs: 12 → 4 + 4 + 4, 10 → 5 + 5.
    let arrays = model("ideal", &["array.rows=5", "array.cols=5"]);
    let blocks = DecorConfig {
        blocks: DecorBlocks::Array,
        ..DecorConfig::default()
    };
    let got = run(&arrays, blocks, 2);
    for (l, parts) in [[4u64, 4, 4].as_slice(), &[5, 5]].iter().enumerate() {
        let want: u64 = parts.iter().map(|&d| forward(d) + update_ops(d, b)).sum();
        assert_eq!(got[l].digital_ops, 2 * want, "blocks, layer {l}");
    }
    // decor_layers hidden: nothing on layer 0, layer 1 as full.
    let hidden = DecorConfig {
        layers: DecorLayers::Hidden,
        ..DecorConfig::default()
    };
    let got = run(&ideal, hidden, 2);
    assert_eq!(got[0], Counters::default(), "layer 0 has no decorrelator");
    assert_eq!(got[1].digital_ops, 2 * (forward(10) + update_ops(10, b)));
    // Fixed point, 8 bits: no float ops; per MAC one 8-bit multiply and one 16-bit add, a MAC
    // being half of the f32 count's ops.
    let fixed = DecorConfig {
        precision: DecorPrecision::Fixed {
            bits: 8,
            bound: 4.0,
        },
        ..DecorConfig::default()
    };
    let got = run(&ideal, fixed, 2);
    for (l, &d) in [12u64, 10].iter().enumerate() {
        // Two steps of (forward + update) / 2 MACs each.
        let macs = forward(d) + update_ops(d, b);
        let c = got[l];
        assert_eq!(c.digital_ops, 0, "layer {l}");
        assert_eq!((c.int_mults, c.int_adds), (macs, macs), "layer {l}");
        assert_eq!(c.int_mult_bits2, 64 * macs);
        assert_eq!(c.int_add_bits, 16 * macs);
    }
}

#[test]
fn the_subsampled_update_is_unbiased() {
    // One update of R = I from a fixed batch: ΔR = −η·offdiag(⟨xxᵀ⟩_S), S the sampled subset.
    // Over T independent subsets (request n draws from fill n of the layer's stream) the mean
    // must meet the full batch's, within 5 standard errors of sampling m of B without
    // replacement: Var⟨x_i x_j⟩_S = (σ²_ij/m)·(B − m)/(B − 1).
    let (d, b, lr) = (5usize, 40usize, 0.1f32);
    let x = gaussian(d, b, 2);
    let ideal = model("ideal", &[]);
    let cfg = |sample| DecorConfig {
        lr,
        thin: DecorThinning { sample, every: 1 },
        ..DecorConfig::default()
    };
    let r_after = |c: &mut Chip| c.oracle("test").decorrelator(0).unwrap();
    let mut full = chip(&ideal, &[d, 3], cfg(1.0));
    full.decorrelate(0, &x);
    let r_full = r_after(&mut full);
    let mut c = chip(&ideal, &[d, 3], cfg(0.25));
    let m = 10; // ⌈0.25 · 40⌉
    let ck = c.checkpoint();
    let trials = 2000;
    let mut sum = DMatrix::<f64>::zeros(d, d);
    let mut distinct = 0;
    for t in 0..trials {
        let mut k = ck.clone();
        k.layers[0].decorrelator_requests = t;
        c.restore(&k).unwrap();
        c.decorrelate(0, &x);
        let r = r_after(&mut c);
        distinct += usize::from(r != r_full);
        sum += r.map(f64::from);
    }
    assert!(
        distinct > trials as usize / 2,
        "subsets must differ from the full batch"
    );
    for i in 0..d {
        for j in 0..d {
            if i == j {
                continue;
            }
            let p: Vec<f64> = (0..b).map(|n| f64::from(x[(i, n)] * x[(j, n)])).collect();
            let mean = p.iter().sum::<f64>() / b as f64;
            let var = p.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / b as f64;
            let se = f64::from(lr)
                * (var / m as f64 * (b - m) as f64 / (b - 1) as f64 / trials as f64).sqrt();
            let got = sum[(i, j)] / trials as f64;
            let want = f64::from(r_full[(i, j)]);
            assert!(
                (got - want).abs() < 5.0 * se,
                "R[{i},{j}]: mean {got} vs full {want} (se {se})"
            );
        }
    }
}

#[test]
fn one_block_is_the_full_r_bit_for_bit() {
    // Unbounded arrays: `array` has one block per layer, so the run equals the full one.
    let ideal = model("rram", &["array.rows=0", "array.cols=0"]);
    let sizes = [16usize, 12, 4];
    let run = |blocks| {
        let cfg = DecorConfig {
            lr: 0.01,
            blocks,
            precision: DecorPrecision::Fixed {
                bits: 12,
                bound: 4.0,
            },
            ..DecorConfig::default()
        };
        let mut c = chip(&ideal, &sizes, cfg);
        let mut t = ForwardTrace::default();
        for s in 0..4 {
            step(&mut c, &gaussian(16, 8, 10 + s), &mut t);
        }
        let out: Vec<u32> = t.output().iter().map(|v| v.to_bits()).collect();
        let rs: Vec<Vec<u32>> = {
            let o = c.oracle("test");
            (0..2)
                .map(|l| {
                    o.decorrelator(l)
                        .unwrap()
                        .iter()
                        .map(|v| v.to_bits())
                        .collect()
                })
                .collect()
        };
        (out, rs, c.counters())
    };
    assert_eq!(run(DecorBlocks::Full), run(DecorBlocks::Array));
}

#[test]
fn the_blocked_rule_decorrelates_block_diagonal_inputs_like_the_full_one() {
    // h = M z with M block-diagonal (two groups of 4 strongly mixed features), z white: the
    // covariance is block-diagonal, so blocks over arrays of 4 inputs see all of it.
    let d = 8;
    let mut rng = npchip::rng::Rng::seed_from_u64(3);
    let mut mix = DMatrix::<f32>::zeros(d, d);
    for g in 0..2 {
        for i in 0..4 {
            for j in 0..4 {
                mix[(4 * g + i, 4 * g + j)] = if i == j { 1.0 } else { rng.gen_range(0.4..0.9) };
            }
        }
    }
    let batch = |s: u64| &mix * gaussian(d, 64, 100 + s);
    let probe = &mix * gaussian(d, 20000, 9999);
    let before = mean_abs_offdiag_correlation(&probe);
    assert!(
        before > 0.3,
        "the inputs are correlated to begin with ({before})"
    );
    let arrays = model("ideal", &["array.rows=4", "array.cols=4"]);
    for blocks in [DecorBlocks::Full, DecorBlocks::Array] {
        let cfg = DecorConfig {
            lr: 0.02,
            blocks,
            ..DecorConfig::default()
        };
        let mut c = chip(&arrays, &[d, 3], cfg);
        let mut t = ForwardTrace::default();
        for s in 0..1500 {
            // The rule learns from what the layer saw, x = R·h.
            step(&mut c, &batch(s), &mut t);
        }
        let r = c.oracle("test").decorrelator(0).unwrap();
        if blocks == DecorBlocks::Array {
            // Block-diagonal: nothing couples the two groups.
            assert!((0..4).all(|i| (4..8).all(|j| r[(i, j)] == 0.0 && r[(j, i)] == 0.0)));
        }
        let after = mean_abs_offdiag_correlation(&(&r * &probe));
        assert!(
            after <= 0.1 * before,
            "{blocks:?}: mean |offdiag corr| {before} → {after}, want a ≥ 90 % cut"
        );
    }
}

#[test]
fn fixed_point_decorrelator_energy_falls_with_width_as_the_table_says() {
    let ideal = model("ideal", &[]);
    let coef = &ideal.spec().energy;
    let x = gaussian(10, 16, 4);
    let energy = |precision| {
        let mut c = chip(
            &ideal,
            &[10, 4],
            DecorConfig {
                precision,
                ..DecorConfig::default()
            },
        );
        let mut t = ForwardTrace::default();
        step(&mut c, &x, &mut t);
        let cnt = decor_counters(&c, 0);
        (Energy::of(&cnt, coef).digital_pj, cnt)
    };
    let (e_f32, c_f32) = energy(DecorPrecision::F32);
    let macs = c_f32.digital_ops / 2;
    assert_eq!(e_f32, c_f32.digital_ops as f64 * coef.digital_op_pj);
    let mut last = 0.0;
    for bits in [4u32, 8, 16, 24] {
        let (e, c) = energy(DecorPrecision::Fixed { bits, bound: 4.0 });
        assert_eq!(c.int_mults, macs, "{bits} bits: the same MACs as f32");
        let want = macs as f64 * (int_mult_pj(bits) + int_add_pj(2 * bits));
        assert!(
            (e - want).abs() < 1e-9 * want,
            "{bits} bits: {e} pJ vs {want}"
        );
        assert!(
            e > last && e < e_f32,
            "{bits} bits: {e} pJ, narrower {last}, f32 {e_f32}"
        );
        last = e;
    }
    // The table's own points: an 8-bit multiply is 0.2 pJ, a 32-bit one 3.1 pJ; an 8-bit add
    // 0.03 pJ, a 32-bit one 0.1 pJ (Horowitz, ISSCC 2014).
    assert!((int_mult_pj(8) - 0.2).abs() < 1e-12 && (int_mult_pj(32) - 3.1).abs() < 1e-12);
    assert!((int_add_pj(8) - 0.03).abs() < 1e-12 && (int_add_pj(32) - 0.1).abs() < 1e-12);
    let (e8, _) = energy(DecorPrecision::Fixed {
        bits: 8,
        bound: 4.0,
    });
    // 8-bit MAC: 0.2 + add(16) = 0.2 + 0.03 + 8·0.07/24 pJ, against f32's 2 × 2.3 pJ.
    let per_mac = 0.2 + 0.03 + 8.0 * 0.07 / 24.0;
    assert!((e8 / macs as f64 - per_mac).abs() < 1e-9);
}

#[test]
fn a_quieter_decorrelator_array_reads_without_noise() {
    // rram's arrays read with noise: two clean passes give different decorrelated inputs.
    // With `[decorrelator]` setting the read noise to zero the decorrelator's reads repeat
    // exactly, while the weight arrays keep theirs.
    let analog = DecorConfig {
        precision: DecorPrecision::Analog { range: 2.0 },
        ..DecorConfig::default()
    };
    let x = gaussian(8, 4, 6).map(|v| v.abs());
    let twice = |m: &ChipModel| {
        let mut c = chip(m, &[8, 6, 3], analog);
        let (mut a, mut b) = (ForwardTrace::default(), ForwardTrace::default());
        c.forward(&x, Pass::Clean, Phase::Inference, &mut a);
        c.forward(&x, Pass::Clean, Phase::Inference, &mut b);
        (a.inputs()[0] == b.inputs()[0], a.pre()[0] == b.pre()[0])
    };
    assert_eq!(twice(&model("rram", &[])), (false, false));
    let quiet = model(
        "rram",
        &["decorrelator.out_noise=0", "decorrelator.w_noise=0"],
    );
    assert_eq!(
        quiet.spec().read.as_ref().unwrap().out_noise,
        0.06,
        "weights keep theirs"
    );
    assert_eq!(twice(&quiet), (true, false));
}

#[test]
fn bad_decorrelator_sections_name_the_key_and_value() {
    let err = |set: &[&str]| {
        let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        presets::resolve("rram", &set).unwrap_err().to_string()
    };
    let e = err(&["decorrelator.levels=1"]);
    assert!(
        e.contains("decorrelator.levels") && e.contains('1') && e.contains("rram"),
        "{e}"
    );
    let e = err(&["decorrelator.out_noise=-0.5"]);
    assert!(
        e.contains("decorrelator.out_noise") && e.contains("-0.5"),
        "{e}"
    );
    let e = err(&["decorrelator.colour=3"]);
    assert!(
        e.contains("decorrelator.colour") && e.contains("levels"),
        "{e}"
    );
    let ideal: Vec<String> = vec!["decorrelator.levels=64".into()];
    let e = presets::resolve("ideal", &ideal).unwrap_err().to_string();
    assert!(
        e.contains("decorrelator.levels") && e.contains("conductance"),
        "{e}"
    );
    // A good one is taken, and only by the decorrelator's view.
    let m = model("rram", &["decorrelator.levels=2001"]);
    let levels = |m: &ChipModel| match &m.spec().device {
        npchip::chip::model::DeviceSpec::Conductance(c) => c.levels,
        _ => unreachable!(),
    };
    assert_eq!((levels(&m), levels(&m.for_decorrelator())), (501, 2001));
}

#[test]
fn bad_option_values_name_the_key_and_value() {
    let check = |k: &str, v: &str| {
        let mut s = npchip::run::Settings::default();
        s.set("rule", "danp");
        s.set("hidden", "20,10");
        s.set(k, v);
        match s.check() {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    for (k, v) in [
        ("decor_sample", "0"),
        ("decor_sample", "1.5"),
        ("decor_sample", "nan"),
        ("decor_every", "0"),
        ("decor_blocks", "diagonal"),
        ("decor_layers", "3"),
        ("decor_layers", "0,0"),
        ("decor_layers", "first"),
    ] {
        let e = check(k, v);
        let flag = format!("--{} {v}:", k.replace('_', "-"));
        assert!(e.contains(&flag), "{k} = {v}: {e}");
    }
    // The net of hidden 20,10 has layers 0, 1, 2.
    assert!(check("decor_layers", "3").contains("0..=2"));
    for (k, v) in [
        ("decor_sample", "0.1"),
        ("decor_sample", "1"),
        ("decor_every", "4"),
        ("decor_blocks", "array"),
        ("decor_layers", "hidden"),
        ("decor_layers", "0,2"),
    ] {
        assert_eq!(check(k, v), "", "{k} = {v}");
    }
}

#[test]
fn runs_with_each_option_resume_bit_identically() {
    use npchip::output::hdf5::read_run;
    let dir = crate::output::tmp();
    for (name, opts) in [
        (
            "thin",
            &[
                "--decor-sample",
                "0.3",
                "--decor-every",
                "2",
                "--decor-layers",
                "1",
            ][..],
        ),
        (
            "blocks",
            &[
                "--decor-blocks",
                "array",
                "--set",
                "array.rows=24",
                "--decor-precision",
                "fixed:10:4",
            ][..],
        ),
        (
            "analog",
            &[
                "--decor-blocks",
                "array",
                "--set",
                "array.rows=40",
                "--decor-precision",
                "analog",
                "--set",
                "decorrelator.levels=2001",
                "--decor-sample",
                "0.5",
            ][..],
        ),
    ] {
        let run = |file: &str, epochs: &str, resume: bool| {
            let p = dir.path().join(file);
            let mut a = vec!["--rule", "danp-nn", "--epochs", epochs];
            let ps = p.to_str().unwrap().to_string();
            let half = dir.path().join(format!("{name}_half.h5"));
            let hs = half.to_str().unwrap().to_string();
            if resume {
                a.extend(["--resume", hs.as_str()]);
            } else {
                a.extend(["--out", ps.as_str()]);
            }
            a.extend_from_slice(opts);
            crate::output::train_to_file(&crate::output::train_args(&a), true).unwrap();
            if resume {
                half
            } else {
                p
            }
        };
        let whole = run(&format!("{name}_whole.h5"), "3", false);
        run(&format!("{name}_half.h5"), "1", false);
        let half = run("", "3", true);
        let (x, y) = (
            read_run(&whole, "run0").unwrap(),
            read_run(&half, "run0").unwrap(),
        );
        let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(x.epochs.len(), 3, "{name}");
        assert_eq!(bits(&x.epochs.test_acc), bits(&y.epochs.test_acc), "{name}");
        assert_eq!(
            bits(&x.epochs.train_loss),
            bits(&y.epochs.train_loss),
            "{name}"
        );
        assert_eq!(x.epochs.counters, y.epochs.counters, "{name}");
        for k in [
            "decor_sample",
            "decor_every",
            "decor_blocks",
            "decor_layers",
        ] {
            assert_eq!(x.attrs[k], y.attrs[k], "{name}: {k}");
        }
        let (fa, fb) = (
            ::hdf5::File::open(&whole).unwrap(),
            ::hdf5::File::open(&half).unwrap(),
        );
        for l in 0..2 {
            let ds = format!("runs/run0/checkpoint/layer{l}/decorrelator");
            match (fa.dataset(&ds), fb.dataset(&ds)) {
                (Ok(p), Ok(q)) => {
                    let (p, q) = (p.read_raw::<f32>().unwrap(), q.read_raw::<f32>().unwrap());
                    assert_eq!(
                        p.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        q.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "{name}: {ds}"
                    );
                }
                (Err(_), Err(_)) => assert!(
                    name != "analog",
                    "{name}: layer {l} must have a decorrelator"
                ),
                _ => panic!("{name}: {ds} in one file only"),
            }
        }
    }
}

#[test]
fn the_sample_count_is_the_ceiling_of_the_fraction_as_typed() {
    let m = |f: f32, b| {
        DecorThinning {
            sample: f,
            every: 1,
        }
        .samples_of(b)
    };
    // Decimal fractions that are not binary ones gain no sample from the f32 error
    // (0.1 is stored as 0.100000001490116: 1000 of it would round up to 101).
    assert_eq!(m(0.1, 1000), 100);
    assert_eq!(m(0.2, 200), 40);
    assert_eq!(m(0.3, 20), 6);
    assert_eq!(m(0.1, 30), 3);
    assert_eq!(m(0.15, 100), 15);
    // The ceiling, the floor of one sample, and the whole batch.
    assert_eq!(m(0.1, 1001), 101);
    assert_eq!(m(0.1, 7), 1);
    assert_eq!(m(1e-6, 1000), 1);
    assert_eq!(m(1.0, 1000), 1000);
}
