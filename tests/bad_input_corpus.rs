//! The bad-input corpus of [`super::bad_input`]: the cases (command lines with `{d}` for the
//! scratch directory, and what each message must say) and the fixtures they name.

use std::io::Write;
use std::path::Path;

/// A tiny run: the warning cases train for real, so they must be fast.
pub(crate) const TINY: &str = "--epochs 1 --hidden 8 --train-samples 64 --test-samples 32 -q";

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Exit status 1 or 2 before anything runs.
    Refused,
    /// Runs (any exit status but a crash); the substrings are warnings.
    Warned,
}

pub(crate) struct Case {
    pub(crate) class: &'static str,
    pub(crate) args: String,
    pub(crate) want: Want,
    pub(crate) must: Vec<String>,
    /// A file under `{d}` that must not exist afterwards (nothing left marked `running`).
    pub(crate) absent: Option<&'static str>,
}

fn case(class: &'static str, args: impl Into<String>, must: &[&str]) -> Case {
    Case {
        class,
        args: args.into(),
        want: Want::Refused,
        must: must.iter().map(|s| s.to_string()).collect(),
        absent: None,
    }
}

fn warned(class: &'static str, args: impl Into<String>, must: &[&str]) -> Case {
    Case {
        want: Want::Warned,
        ..case(class, args, must)
    }
}

pub(crate) fn corpus() -> Vec<Case> {
    let mut c = Vec::new();
    // ---- integer flags of train: negative, not a number, fraction, overflow, zero; both
    // `--flag V` and `--flag=V`.
    let ints: &[(&str, bool)] = &[
        ("epochs", true),
        ("batch", true),
        ("resamples", true),
        ("hidden", true),
        ("seed", false),
        ("train-samples", true),
        ("test-samples", true),
        ("threads", false),
        ("log-every", false),
    ];
    for &(flag, zero_is_bad) in ints {
        let mut values = vec!["-1", "abc", "1.5", "99999999999999999999999"];
        if zero_is_bad {
            values.push("0");
        }
        for v in values {
            for form in [format!("train --{flag} {v}"), format!("train --{flag}={v}")] {
                c.push(case(
                    "integer flag out of range",
                    form,
                    &[flag, v, "allowed"],
                ));
            }
        }
    }
    c.push(case(
        "integer flag out of range",
        "train --hidden 100,-1",
        &["--hidden", "-1", "allowed"],
    ));
    // ---- float flags.
    for flag in ["lr", "decor-lr"] {
        let mut values = vec!["-1", "-1e-3", "nan", "inf", "abc"];
        if flag == "lr" {
            values.push("0");
        }
        for v in values {
            for form in [format!("train --{flag} {v}"), format!("train --{flag}={v}")] {
                c.push(case("float flag out of range", form, &[flag, "number"]));
            }
        }
    }
    // ---- limits on unbounded work and honest states.
    c.push(case(
        "unbounded work",
        "train --resamples 1000000000",
        &["--resamples", "1..=1024"],
    ));
    c.push(case(
        "unbounded work",
        "chip show rram --set update.max_pulses=4294967295",
        &["update.max_pulses", "4294967295", "1..=4096"],
    ));
    c.push(case(
        "unbounded work",
        "train --set update.max_pulses=100000",
        &[
            "update.max_pulses",
            "1..=4096",
            "--set update.max_pulses=100000",
        ],
    ));
    let mut k = case(
        "size beyond memory",
        "sweep --hidden 100000000 --epochs 1 --seeds 1,2 --jobs 2 --out {d}/mem5.h5",
        &["2 parallel runs", "needs at least", "available", "--jobs"],
    );
    k.absent = Some("mem5.h5");
    c.push(k);
    let mut k = case(
        "state recorded honestly",
        "train --epochs 0 --out {d}/e0.h5",
        &["--epochs", "1..="],
    );
    k.absent = Some("e0.h5");
    c.push(k);
    c.push(case(
        "state recorded honestly",
        "train --resamples 0",
        &["--resamples", "1..="],
    ));
    c.push(case(
        "state recorded honestly",
        "chip characterize pcm --set device.stuck_at_min_prob=1",
        &["not a finite number", "NaN", "pulse step"],
    ));
    // ---- sizes that cannot fit: refused before the file exists.
    for (h, name) in [
        ("100000000", "mem1.h5"),
        ("18446744073709551615", "mem2.h5"),
        ("100000,100000,100000", "mem3.h5"),
    ] {
        let mut k = case(
            "size beyond memory",
            format!("train --hidden {h} --out {{d}}/{name}"),
            &["needs at least", "available", "/proc/meminfo", "--hidden"],
        );
        k.absent = Some(name);
        c.push(k);
    }
    let mut k = case(
        "size beyond memory",
        "train --hidden 4000,4000 --resamples 1024 --batch 1437 --out {d}/mem4.h5",
        &["needs at least", "batch buffers", "available"],
    );
    k.absent = Some("mem4.h5");
    c.push(k);
    // ---- f32 resolution of conductance levels.
    for lv in ["4194304", "8388608", "16777216", "4294967295"] {
        c.push(case(
            "levels beyond f32 resolution",
            format!("chip show rram --set device.levels={lv}"),
            &["device.levels", lv, "2⁻¹⁹", "--set device.levels"],
        ));
    }
    c.push(case(
        "levels beyond f32 resolution",
        "chip show ecram --set device.levels=300000",
        &["device.levels", "at most 262145"],
    ));
    c.push(case(
        "levels beyond f32 resolution",
        "sweep --bits 22 --epochs 1",
        &["--bits 22", "1..=19"],
    ));
    c.push(case(
        "levels beyond f32 resolution",
        "sweep --bits 24,4 --epochs 1",
        &["--bits 24", "1..=19"],
    ));
    c.push(case(
        "levels beyond f32 resolution",
        "sweep --levels 4194304 --epochs 1 --out {d}/sw.h5",
        &["device.levels", "4194304", "2⁻¹⁹"],
    ));
    // ---- --set overrides: the key, not the preset file, is named.
    let sets: &[(&str, &str)] = &[
        ("device.levels=abc", "`device.levels`"),
        ("device.levels=1.5", "`device.levels`"),
        ("device.levels=-5", "`device.levels`"),
        ("device.soft_bounds=3", "`device.soft_bounds`"),
        ("device.g_min_us=\"x\"", "`device.g_min_us`"),
        ("device.up_down=true", "`device.up_down`"),
        ("read.inp_bits=abc", "`read.inp_bits`"),
        ("read.input_scaling=foo", "`read.input_scaling`"),
        ("update.max_pulses=-1", "`update.max_pulses`"),
        ("update.rounding=up", "`update.rounding`"),
        ("mapping.w_range_sigmas=x", "`mapping.w_range_sigmas`"),
        ("energy.mac_pj=x", "`energy.mac_pj`"),
        ("name=3", "`name`"),
    ];
    for &(s, key) in sets {
        for cmd in ["chip show rram", "train"] {
            c.push(case(
                "--set wrong type",
                format!("{cmd} --set {s}"),
                &[key, "override", s.split('=').next().unwrap()],
            ));
        }
    }
    let ranges: &[(&str, &str)] = &[
        ("device.levels=1", "an integer ≥ 2"),
        ("device.g_min_us=1000", "less than device.g_max_us"),
        ("device.up_down=1", "(−1, 1)"),
        ("device.stuck_at_min_prob=2", "[0, 1]"),
        ("read.out_bits=0", "1..=24"),
        ("read.out_bound=-1", "> 0"),
        ("update.max_pulses=0", "1..=4096"),
        ("mapping.w_range_sigmas=0", "> 0"),
        ("drift.nu=-1", "≥ 0"),
    ];
    for &(s, allowed) in ranges {
        c.push(case(
            "--set out of range",
            format!("chip show pcm --set {s}"),
            &[s.split('=').next().unwrap(), allowed, "from --set"],
        ));
    }
    for (s, must) in [
        ("device.nope=1", "no key `device.nope`"),
        ("nosection.x=1", "no section `nosection`"),
        ("device.levels", "expected KEY=VALUE"),
        ("=3", "empty key"),
        ("drift.nu=0.1", "no section `drift`"),
    ] {
        c.push(case(
            "--set unknown key",
            format!("chip show rram --set {s}"),
            &[must],
        ));
    }
    // ---- chip TOML files (written by `fixtures`).
    for (file, must) in [
        ("levels_str.toml", "`device.levels`"),
        ("levels_float.toml", "`device.levels`"),
        ("soft_int.toml", "`device.soft_bounds`"),
        ("unknown_key.toml", "unknown field `colour`"),
        ("bad_kind.toml", "unknown variant `memristor`"),
        ("max_pulses.toml", "`update.max_pulses`"),
        ("levels_f32.toml", "`device.levels`"),
        ("syntax.toml", "TOML parse error"),
        ("empty.toml", "missing field"),
        ("binary.toml", "cannot read chip model"),
        ("inp_bits_str.toml", "`read.inp_bits`"),
    ] {
        c.push(case(
            "chip TOML file",
            format!("chip show {{d}}/{file}"),
            &[file, must],
        ));
    }
    c.push(case(
        "chip TOML file",
        "chip show {d}/no-such-chip.toml",
        &["unknown chip", "presets"],
    ));
    c.push(case(
        "chip TOML file",
        "train --chip {d}/levels_str.toml --set read.inp_bits=5",
        &["levels_str.toml", "`device.levels`"],
    ));
    // ---- dataset paths and files.
    for (spec, must) in [
        (
            "mnist:{d}/no-such-dir",
            &["no-such-dir", "directory not found"][..],
        ),
        (
            "mnist:{d}/plain-file",
            &["plain-file", "is a regular file, not a directory"],
        ),
        (
            "mnist:{d}/m-dir",
            &[
                "train-images-idx3-ubyte",
                "is a directory, not a regular file",
            ],
        ),
        ("mnist:{d}/m-fifo", &["train-images-idx3-ubyte", "FIFO"]),
        (
            "mnist:{d}/m-dangling",
            &["train-images-idx3-ubyte", "dangling symbolic link"],
        ),
        (
            "mnist:{d}/m-bomb",
            &[
                "train-images-idx3-ubyte.gz",
                "larger than",
                "the supported dataset formats",
            ],
        ),
        (
            "mnist:{d}/m-corrupt",
            &["train-images-idx3-ubyte.gz", "corrupt gzip"],
        ),
        (
            "mnist:{d}/m-empty",
            &["m-empty", "missing MNIST training images"],
        ),
        (
            "fashion:{d}/m-dir",
            &["train-images-idx3-ubyte", "is a directory"],
        ),
        ("cifar10:{d}/m-empty", &["m-empty", "CIFAR-10"]),
        ("cifar10:{d}/c-fifo", &["data_batch_1", "FIFO"]),
        ("imagenet:/x", &["unknown dataset", "imagenet"]),
        ("synthetic:clusters,in=-1", &["bad --data spec", "in"]),
        ("synthetic:spiral", &["synthetic:spiral"]),
        ("mnist:", &["mnist"]),
    ] {
        c.push(case(
            "dataset path or file",
            format!("train --data {spec}"),
            must,
        ));
        if spec.contains("fifo") || spec.contains("dir") {
            c.push(case(
                "dataset path or file",
                format!("data info --data {spec}"),
                must,
            ));
        }
    }
    c.push(case(
        "dataset path or file",
        "train --train-samples 100000",
        &["100000", "train samples"],
    ));
    // ---- --out and merge OUT.
    let outs: &[(&str, &[&str])] = &[
        ("{d}", &["--out", "is a directory"]),
        (
            "{d}/plain-file/run.h5",
            &["--out", "plain-file is a file, not a directory"],
        ),
        (
            "{d}/plain-file/a/b/run.h5",
            &["plain-file is a file, not a directory"],
        ),
        ("/dev/null", &["/dev/null", "not a regular file"]),
        ("{d}/plain-file", &["exists", "--force"]),
    ];
    for &(out, must) in outs {
        c.push(case("--out path", format!("train --out {out}"), must));
    }
    c.push(case(
        "--out path",
        "train --out {d} --force",
        &["--out", "is a directory"],
    ));
    c.push(case(
        "--out path",
        "sweep --out {d}/plain-file/s.h5 --epochs 1",
        &["plain-file is a file, not a directory"],
    ));
    c.push(case(
        "merge",
        "merge {d}/plain-file {d}/plain-file2",
        &["OUT", "exists", "--force", "another OUT path"],
    ));
    c.push(case(
        "merge",
        "merge {d} {d}/plain-file",
        &["OUT", "is a directory"],
    ));
    c.push(case(
        "merge",
        "merge {d}/plain-file/x.h5 {d}/plain-file2",
        &["OUT", "is a file, not a directory"],
    ));
    c.push(case(
        "merge",
        "merge {d}/new.h5 {d}/no-such.h5",
        &["IN", "no-such.h5", "No such file"],
    ));
    c.push(case(
        "merge",
        "merge {d}/new.h5 {d}/m-dir",
        &["IN", "m-dir", "not a regular file"],
    ));
    // ---- sweep flags and grid files.
    for (args, must) in [
        ("sweep --lrs -1 --epochs 1", &["--lr -1", "> 0"][..]),
        ("sweep --lrs=-1 --epochs 1", &["--lr -1", "> 0"]),
        ("sweep --lrs 1e-3,-1 --epochs 1", &["--lr -1"]),
        ("sweep --lrs -1e-3 --epochs 1", &["--lr -0.001", "> 0"]),
        ("sweep --bits 0 --epochs 1", &["--bits 0", "1..=19"]),
        ("sweep --seeds -1 --epochs 1", &["--seeds", "-1"]),
        (
            "sweep --read-noise -1 --epochs 1",
            &["read.out_noise", "≥ 0"],
        ),
        (
            "sweep --prog-noise=-0.5 --epochs 1",
            &["device.prog_noise_std", "≥ 0"],
        ),
        ("sweep --epochs 0", &["--epochs", "1..="]),
        ("sweep --resamples 0 --epochs 1", &["--resamples", "1..="]),
        ("sweep --shard 3/2 --epochs 1", &["--shard", "K/N"]),
        ("sweep --config {d}/no-such.toml", &["no-such.toml"]),
        (
            "sweep --config {d}/sweep_bad_key.toml",
            &["sweep_bad_key.toml", "`colour`"],
        ),
        (
            "sweep --config {d}/sweep_bad_type.toml",
            &["sweep_bad_type.toml", "epochs"],
        ),
        (
            "sweep --config {d}/sweep_bits.toml",
            &["--bits 23", "1..=19"],
        ),
        ("sweep --levels 4,4 --epochs 1", &["levels"]),
    ] {
        c.push(case("sweep flags and grid files", args, must));
    }
    // ---- settings under which learning is impossible: warned with the right reason.
    for (args, must) in [
        (
            "--set mapping.w_range_sigmas=1e-9",
            &["mapping.w_range_sigmas", "clips"][..],
        ),
        (
            "--set mapping.w_range_sigmas=1e9",
            &["one pulse step", "He-init std"],
        ),
        (
            "--set read.out_bound=1e12",
            &["below half the ADC step", "read.out_bound"],
        ),
        (
            "--set read.out_bound=1e-9",
            &["read.out_bound", "saturates"],
        ),
        ("--inject hidden:1e30", &["--inject", "dwarfs"]),
        (
            "--chip ideal --rule danp --inject hidden:1e-30",
            &["--inject", "f32 resolution"],
        ),
        (
            "--set read.out_noise=0 --set read.w_noise=0",
            &["no perturbation to learn from"],
        ),
        ("--set read.out_noise=100", &["read.out_noise", "ADC range"]),
        (
            "--set device.levels=2",
            &["one pulse step", "device.levels = 2"],
        ),
    ] {
        c.push(warned(
            "learning impossible: warned",
            format!("train {TINY} --out {{d}}/w{}.h5 {args}", c.len()),
            must,
        ));
    }
    c
}

/// Writes the fixtures the corpus names under `d`.
pub(crate) fn fixtures(d: &Path) {
    let put = |name: &str, bytes: &[u8]| std::fs::write(d.join(name), bytes).unwrap();
    put("plain-file", b"not a directory");
    put("plain-file2", b"not an HDF5 file");
    let rram = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("chip_models/rram.toml"),
    )
    .unwrap();
    let variant = |name: &str, from: &str, to: &str| {
        assert!(rram.contains(from), "rram.toml has `{from}`");
        put(name, rram.replacen(from, to, 1).as_bytes());
    };
    let line = |key: &str| {
        rram.lines()
            .find(|l| l.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("rram.toml has `{key} =`"))
            .to_string()
    };
    variant("levels_str.toml", &line("levels"), "levels = \"abc\"");
    variant("levels_float.toml", &line("levels"), "levels = 16.5");
    variant("levels_f32.toml", &line("levels"), "levels = 8388608");
    variant("soft_int.toml", &line("soft_bounds"), "soft_bounds = 3");
    variant(
        "unknown_key.toml",
        &line("soft_bounds"),
        &format!("{}\ncolour = 1", line("soft_bounds")),
    );
    variant(
        "bad_kind.toml",
        "kind = \"conductance\"",
        "kind = \"memristor\"",
    );
    variant(
        "max_pulses.toml",
        &line("max_pulses"),
        "max_pulses = 4294967295",
    );
    variant(
        "inp_bits_str.toml",
        &line("inp_bits"),
        "inp_bits = \"seven\"",
    );
    variant("syntax.toml", &line("levels"), "levels = = 3");
    put("empty.toml", b"");
    put("binary.toml", &[0xff, 0xfe, 0x00, 0x9c, 0x12]);
    put("sweep_bad_key.toml", b"[grid]\ncolour = [1]\n");
    put("sweep_bad_type.toml", b"[train]\nepochs = \"many\"\n");
    put(
        "sweep_bits.toml",
        b"[grid]\nbits = [23]\n[train]\nepochs = 1\n",
    );
    // MNIST-style directories whose train-images entry is not a file.
    let mnist_rest = |dir: &Path| {
        for n in [
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ] {
            std::fs::write(dir.join(n), b"x").unwrap();
        }
    };
    let mk = |name: &str| {
        let p = d.join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    };
    let m = mk("m-dir");
    std::fs::create_dir(m.join("train-images-idx3-ubyte")).unwrap();
    mnist_rest(&m);
    let m = mk("m-fifo");
    mkfifo(&m.join("train-images-idx3-ubyte"));
    mnist_rest(&m);
    let m = mk("m-dangling");
    std::os::unix::fs::symlink(d.join("nowhere"), m.join("train-images-idx3-ubyte")).unwrap();
    mnist_rest(&m);
    let m = mk("m-bomb");
    std::fs::write(
        m.join("train-images-idx3-ubyte.gz"),
        gzip_of_zeros(300 << 20),
    )
    .unwrap();
    mnist_rest(&m);
    let m = mk("m-corrupt");
    let mut junk = gzip_of_zeros(1 << 16);
    let n = junk.len();
    junk[n / 2..].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(m.join("train-images-idx3-ubyte.gz"), junk).unwrap();
    mnist_rest(&m);
    mk("m-empty");
    let c = mk("c-fifo");
    mkfifo(&c.join("data_batch_1.bin"));
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o644) },
        0,
        "mkfifo {path:?}"
    );
}

/// A gzip stream of `n` zero bytes (about n/1000 bytes compressed): a decompression bomb.
fn gzip_of_zeros(n: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let chunk = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        e.write_all(&chunk[..k]).unwrap();
        left -= k;
    }
    e.finish().unwrap()
}
