//! Faults a result file must survive (docs/hdf5-schema.md, "Why a kill cannot damage a file"):
//! `kill -9` at random moments, a disk that fills up, a second run pointed at a file another
//! run is writing, and `report`/`merge`/`--resume` on corrupted files. Every check runs the
//! real binary; files are read back with h5py (an outside reader) and compared value by value
//! with an uninterrupted reference run of the same seed (training is deterministic).
//!
//! `NPCHIP_TEST_BIN=/path/to/npchip` runs these tests against another build (how the "before"
//! figures in the schema document were measured).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    std::env::var_os("NPCHIP_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_npchip")))
}

/// A tiny, fast, deterministic run: the embedded digits subset, a 16-unit hidden layer on the
/// noisy ReRAM chip, with full traces (so per-device datasets are checked too).
const RUN: &[&str] = &[
    "train",
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
    "7",
    "--trace",
    "full",
];

fn python() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import h5py, numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Compares a file with the reference, value by value, with h5py. Mode `prefix`: the file's
/// E finished epochs equal the reference's first E rows of every per-epoch dataset (timings
/// excepted), `epochs_done` = E and the checkpoint is from epoch E. Mode `full`: additionally
/// every other dataset (per-device traces, checkpoint) and the checkpoint's attributes are
/// bit-identical and the run is `completed`. Prints E.
const COMPARE: &str = r#"
import sys, h5py, numpy as np
mode, ref, path = sys.argv[1:4]
TIMING = {"train_seconds", "epoch_seconds", "samples_per_second"}
def walk(g, pre=""):
    out = {}
    for k, v in g.items():
        if isinstance(v, h5py.Group):
            out.update(walk(v, pre + k + "/"))
        else:
            out[pre + k] = v
    return out
def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "OUS" or b.dtype.kind in "OUS":
        return a.shape == b.shape and a.tolist() == b.tolist()
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
R = h5py.File(ref, "r")["runs/run0"]
f = h5py.File(path, "r")
assert f.attrs["format"] == "npchip result file"
if mode == "prefix" and "run0" not in f["runs"]:
    print(0)  # killed between creating the file and adding the run
    sys.exit(0)
F = f["runs/run0"]
E = F["epochs/epoch"].shape[0]
assert int(F.attrs["epochs_done"]) == E, ("epochs_done", F.attrs["epochs_done"], E)
assert list(F["epochs/epoch"][:]) == list(range(1, E + 1)), F["epochs/epoch"][:]
for grp in ["epochs", "traces", "steps"]:
    if grp not in R:
        continue
    for k, rv in walk(R[grp]).items():
        if k.split("/")[-1] in TIMING:
            continue
        extendable = rv.maxshape and rv.maxshape[0] is None and grp != "steps"
        if E == 0 and k not in F[grp]:
            continue  # some traces (per-device totals, per-array rates) appear with epoch 1
        assert k in F[grp], ("missing", grp, k)
        fv = F[grp][k]
        if extendable:
            assert fv.shape[0] == E, ("rows", grp, k, fv.shape, E)
            assert same(fv[...], rv[:E]), ("values differ", grp, k)
        elif mode == "full":
            assert same(fv[...], rv[...]), ("values differ", grp, k)
        for an, av in rv.attrs.items():
            if an != "epoch_row":
                assert same(fv.attrs[an], av), ("attr", k, an)
if E > 0:
    assert int(F["checkpoint"].attrs["epoch"]) == E, ("checkpoint epoch", F["checkpoint"].attrs["epoch"], E)
if mode == "full":
    assert F.attrs["status"] == "completed", F.attrs["status"]
    for k, rv in walk(R["checkpoint"]).items():
        assert same(F["checkpoint"][k][...], rv[...]), ("checkpoint differs", k)
    for an, av in R["checkpoint"].attrs.items():
        fa = F["checkpoint"].attrs[an]
        assert same(fa, av), ("checkpoint attr", an)
print(E)
"#;

fn compare(py: &str, mode: &str, reference: &Path, file: &Path) -> Result<usize, String> {
    let out = Command::new(py)
        .arg("-c")
        .arg(COMPARE)
        .arg(mode)
        .arg(reference)
        .arg(file)
        .output()
        .map_err(|e| format!("python: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("python printed no epoch count: {e}"))
}

/// A deterministic stream of uniform numbers (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What a training child prints on stderr: every line with its time since the start.
type Lines = mpsc::Receiver<(String, Duration)>;

/// The epoch number of an "epoch N ..." line (printed after epoch N is on disk).
fn epoch_of(line: &str) -> Option<usize> {
    let mut w = line.split_whitespace();
    (w.next() == Some("epoch")).then(|| w.next()?.parse().ok())?
}

/// A training child writing `out`, and its stderr lines as they arrive.
fn spawn_train(args: &[&str], out: &Path) -> (Child, Lines) {
    let t0 = Instant::now();
    let mut child = Command::new(bin())
        .args(args)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting npchip");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send((line, t0.elapsed())).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for the line of epoch `n` (panics after `limit`).
fn wait_for_epoch(rx: &Lines, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (line, _) = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("epoch {n} not reported within {limit:?}"));
        if epoch_of(&line).is_some_and(|e| e >= n) {
            return;
        }
    }
}

fn run_to_end(args: &[&str], extra: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .args(extra)
        .output()
        .expect("running npchip")
}

fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({}):\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The reference run and the times (since start) at which each epoch line appeared.
fn reference(dir: &Path, args: &[&str]) -> (PathBuf, Vec<Duration>) {
    let path = dir.join("reference.h5");
    let (mut child, rx) = spawn_train(args, &path);
    let status = child.wait().unwrap();
    assert!(status.success(), "reference run failed: {status}");
    let times: Vec<Duration> = rx
        .iter()
        .filter(|(l, _)| epoch_of(l).is_some())
        .map(|(_, t)| t)
        .collect();
    (path, times)
}

/// Kills `kills` training children with SIGKILL at moments spread over the whole run (half
/// uniformly over its duration, from process start, half just before an epoch's line, i.e.
/// while that epoch's evaluation, rows, checkpoint and file image are being written), then
/// checks each file against the reference and resumes it to the end.
fn kill_campaign(kills: usize, seed: u64) {
    let Some(py) = python() else {
        eprintln!("SKIPPED: kill test: python3 with h5py and numpy not available");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let epochs = 8;
    let mut args: Vec<&str> = RUN.to_vec();
    let e = epochs.to_string();
    args.extend_from_slice(&["--epochs", &e]);
    let (reference, times) = reference(dir.path(), &args);
    assert_eq!(
        times.len(),
        epochs,
        "reference printed {} epoch lines",
        times.len()
    );
    assert_eq!(compare(py, "full", &reference, &reference), Ok(epochs));
    let total = *times.last().unwrap();
    let mut rng = Rng(seed);
    let (mut by_epochs, mut resumed, mut refused_empty) = (vec![0usize; epochs + 1], 0, 0);
    // Every damaged file or failed resume, collected so the summary counts them all.
    let mut damaged = Vec::new();
    for k in 0..kills {
        let file = dir.path().join(format!("killed{k}.h5"));
        let at = if k % 2 == 0 {
            total.mul_f64(1.05 * rng.uniform())
        } else {
            let e = rng.below(epochs);
            let len = times.get(1).map_or(total, |t| *t - times[0]);
            times[e].saturating_sub(len.mul_f64(0.4 * rng.uniform()))
        };
        let (mut child, rx) = spawn_train(&args, &file);
        std::thread::sleep(at);
        child.kill().unwrap();
        child.wait().unwrap();
        let seen = rx
            .try_iter()
            .filter_map(|(l, _)| epoch_of(&l))
            .max()
            .unwrap_or(0);
        if !file.exists() {
            if seen > 0 {
                damaged.push(format!(
                    "kill {k} at {at:?}: no file, yet epoch {seen} was reported"
                ));
            }
            by_epochs[0] += 1;
            continue;
        }
        let got = match compare(py, "prefix", &reference, &file) {
            Ok(got) if got >= seen => got,
            Ok(got) => {
                damaged.push(format!(
                    "kill {k} at {at:?}: {got} epochs in the file, {seen} were reported finished"
                ));
                continue;
            }
            Err(e) => {
                damaged.push(format!("kill {k} at {at:?}: {e}"));
                continue;
            }
        };
        by_epochs[got] += 1;
        let out = run_to_end(&["train", "--resume"], &[file.to_str().unwrap()]);
        let msg = String::from_utf8_lossy(&out.stderr);
        if got == 0 {
            // Nothing to continue from: a clean refusal naming the file.
            if out.status.success()
                || !(msg.contains("checkpoint") || msg.contains("has no run"))
                || !msg.contains(file.to_str().unwrap())
            {
                damaged.push(format!(
                    "kill {k}: resume of a file without a finished epoch: {} {msg}",
                    out.status
                ));
            }
            refused_empty += 1;
            continue;
        }
        if !out.status.success() {
            damaged.push(format!(
                "kill {k} at {at:?}: resume after {got} failed: {msg}"
            ));
            continue;
        }
        match compare(py, "full", &reference, &file) {
            Ok(done) if done == epochs => resumed += 1,
            Ok(done) => damaged.push(format!("kill {k}: resumed to {done} epochs, not {epochs}")),
            Err(e) => damaged.push(format!("kill {k} at {at:?}, resumed after {got}: {e}")),
        }
    }
    eprintln!(
        "{kills} kills: files holding 0..={epochs} finished epochs: {by_epochs:?}; {resumed} resumed bit-identically, {refused_empty} without a finished epoch refused cleanly; {} damaged",
        damaged.len()
    );
    assert!(
        damaged.is_empty(),
        "{} of {kills} kills damaged the file or its resume:\n{}",
        damaged.len(),
        damaged.join("\n")
    );
    // The moments are spread: some kills before any epoch finished, some mid-run.
    assert!(
        by_epochs[1..epochs].iter().sum::<usize>() > 0,
        "no kill landed mid-run: {by_epochs:?}"
    );
}

#[test]
fn killed_runs_keep_every_finished_epoch_and_resume_bit_identically() {
    kill_campaign(20, 1);
}

/// The long version (≥ 100 kills): `cargo test --release --test tests -- --ignored kill`.
#[test]
#[ignore]
fn killed_runs_keep_every_finished_epoch_and_resume_bit_identically_100() {
    kill_campaign(110, 2);
}

// ---------------------------------------------------------------- a second writer

#[test]
fn force_onto_a_file_another_run_writes_is_refused_before_anything_is_touched() {
    let Some(py) = python() else {
        eprintln!("SKIPPED: second-writer test: python3 with h5py not available");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<&str> = RUN.to_vec();
    args.extend_from_slice(&["--epochs", "25"]);
    let (reference, _) = reference(dir.path(), &args);
    let file = dir.path().join("shared.h5");
    let (mut first, rx) = spawn_train(&args, &file);
    wait_for_epoch(&rx, 1, Duration::from_secs(120));
    let before = std::fs::read(&file).unwrap();
    let name = file.to_str().unwrap();
    let mut forced: Vec<&str> = RUN.to_vec();
    forced.extend_from_slice(&["--epochs", "3", "--force", "--out", name]);
    for second in [forced, vec!["train", "--resume", name]] {
        let out = run_to_end(&second, &[]);
        let msg = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{second:?} onto a busy file succeeded"
        );
        assert!(
            msg.contains("another running npchip") && msg.contains(file.to_str().unwrap()),
            "{second:?}: {msg}"
        );
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run died after {second:?}"
        );
    }
    // Nothing was truncated: the file is the first run's (it may have advanced meanwhile).
    assert!(std::fs::metadata(&file).unwrap().len() >= before.len() as u64 / 2);
    let status = first.wait().unwrap();
    assert!(status.success(), "the first run failed: {status}");
    assert_eq!(compare(py, "full", &reference, &file), Ok(25));
    // The lock goes with its run: a new --force now works.
    let mut again: Vec<&str> = RUN.to_vec();
    again.extend_from_slice(&["--epochs", "1", "--force", "--out", name]);
    let out = run_to_end(&again, &[]);
    assert_ok(&out, "--force after the first run ended");
}

// ---------------------------------------------------------------- a full disk

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_ends_the_run_with_an_error_naming_the_file_and_keeps_finished_epochs() {
    let Some(py) = python() else {
        eprintln!("SKIPPED: full-disk test: python3 with h5py not available");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&mnt)
        .output();
    match mounted {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            eprintln!(
                "SKIPPED: full-disk test: mounting a tmpfs is not permitted here ({})",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIPPED: full-disk test: no mount command ({e})");
            return;
        }
    }
    let _mount = Mount(mnt.clone());
    let mut args: Vec<&str> = RUN.to_vec();
    args.extend_from_slice(&["--epochs", "40"]);
    let (reference, _) = reference(dir.path(), &args);
    let file = mnt.join("run.h5");
    let (mut child, rx) = spawn_train(&args, &file);
    wait_for_epoch(&rx, 2, Duration::from_secs(120));
    // Something else fills the disk.
    let filler = mnt.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0xA5u8; 1 << 16];
        while f.write_all(&block).is_ok() {}
        let _ = f.flush();
    }
    let status = child.wait().unwrap();
    let stderr: Vec<String> = rx.iter().map(|(l, _)| l).collect();
    let stderr = stderr.join("\n");
    assert!(
        !status.success(),
        "the run did not fail on a full disk:\n{stderr}"
    );
    assert!(
        stderr.contains("disk is full") && stderr.contains(file.to_str().unwrap()),
        "the error does not say the disk is full and which file:\n{stderr}"
    );
    let got = compare(py, "prefix", &reference, &file).expect("the file on the full disk");
    assert!(got >= 2, "{got} epochs left, 2 had been reported");
    assert!(got < 40, "the run finished despite the full disk");
    let leftovers: Vec<_> = std::fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left on the full disk: {leftovers:?}"
    );
    // Resuming onto the still-full disk fails the same way, with the message.
    let out = run_to_end(&["train", "--resume"], &[file.to_str().unwrap()]);
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        msg.contains("disk is full") && msg.contains(file.to_str().unwrap()),
        "{msg}"
    );
    assert_eq!(
        compare(py, "prefix", &reference, &file),
        Ok(got),
        "the failed resume changed the file"
    );
    // Space freed: the run continues to the same numbers as if nothing had happened.
    std::fs::remove_file(&filler).unwrap();
    let out = run_to_end(&["train", "--resume"], &[file.to_str().unwrap()]);
    assert_ok(&out, "resume after freeing space");
    assert_eq!(compare(py, "full", &reference, &file), Ok(40));
}

// ---------------------------------------------------------------- corrupted files

/// Offsets just past each HDF5 metadata signature in the file: superblock, object headers,
/// B-tree nodes, symbol-table nodes, local and global heaps.
fn metadata_offsets(bytes: &[u8]) -> Vec<usize> {
    let sigs: [&[u8]; 6] = [b"\x89HDF", b"OHDR", b"TREE", b"SNOD", b"HEAP", b"GCOL"];
    let mut at = Vec::new();
    for i in 0..bytes.len().saturating_sub(4) {
        if sigs.iter().any(|s| bytes[i..].starts_with(s)) {
            at.push(i);
        }
    }
    at
}

/// One corrupted variant of `good`, its kind, and whether it is certain to be unreadable.
fn corrupt(good: &[u8], case: usize, rng: &mut Rng, meta: &[usize]) -> (Vec<u8>, String, bool) {
    let mut b = good.to_vec();
    match case % 5 {
        0 => {
            // Truncation anywhere, including inside the superblock.
            let len = match case / 5 {
                0 => 0,
                1 => 7,
                2 => 100,
                _ => rng.below(good.len() - 1),
            };
            b.truncate(len);
            (
                b,
                format!("truncated to {len} of {} bytes", good.len()),
                true,
            )
        }
        1 => {
            // A metadata signature destroyed (the first time: the superblock's).
            let at = if case < 5 {
                0
            } else {
                meta[rng.below(meta.len())]
            };
            b[at..at + 4].copy_from_slice(b"XXXX");
            // Certain only for the superblock: other blocks may be freed space no longer used.
            (b, format!("signature at {at} overwritten"), at == 0)
        }
        2 => {
            // Bytes flipped inside a metadata block (addresses, sizes, counts).
            let at = meta[rng.below(meta.len())] + 4 + rng.below(60);
            let n = 1 + rng.below(8);
            for i in at..(at + n).min(b.len()) {
                b[i] ^= 0xFF;
            }
            (b, format!("{n} bytes flipped at {at} (metadata)"), false)
        }
        3 => {
            // An 8-byte address field set to garbage (all ones, or huge).
            let at = meta[rng.below(meta.len())] + 8 + rng.below(40);
            let v: u64 = if rng.below(2) == 0 {
                u64::MAX
            } else {
                rng.next()
            };
            let end = (at + 8).min(b.len());
            b[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
            (b, format!("8 bytes at {at} set to {v:#x}"), false)
        }
        _ => {
            // Random flips anywhere (the superblock region half the time).
            let span = if rng.below(2) == 0 {
                2048.min(b.len())
            } else {
                b.len()
            };
            let mut flipped = Vec::new();
            for _ in 0..1 + rng.below(16) {
                let at = rng.below(span);
                b[at] ^= 1 << rng.below(8);
                flipped.push(at);
            }
            (b, format!("bits flipped at {flipped:?}"), false)
        }
    }
}

#[test]
fn report_resume_and_merge_on_corrupted_files_give_errors_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.h5");
    // Summary traces (the default level): the most common file.
    let mut args: Vec<&str> = RUN[..RUN.len() - 2].to_vec();
    args.extend_from_slice(&["--epochs", "2"]);
    assert_ok(
        &run_to_end(&args, &["--out", good.to_str().unwrap()]),
        "the good run",
    );
    assert_ok(
        &run_to_end(&["report"], &[good.to_str().unwrap()]),
        "report of the good file",
    );
    let bytes = std::fs::read(&good).unwrap();
    let meta = metadata_offsets(&bytes);
    assert!(meta.len() > 10, "found only {} metadata blocks", meta.len());
    let mut rng = Rng(12);
    let cases = 120;
    let (mut errors, mut fine, mut problems, mut crashes_caught) = (0, 0, Vec::new(), 0);
    for case in 0..cases {
        let (b, what, must_fail) = corrupt(&bytes, case, &mut rng, &meta);
        let f = dir.path().join(format!("corrupt{case}.h5"));
        std::fs::write(&f, &b).unwrap();
        let name = f.to_str().unwrap();
        let mut commands: Vec<Vec<&str>> = vec![vec!["report", name]];
        if case % 3 == 0 {
            commands.push(vec!["train", "--resume", name]);
        }
        if case % 3 == 1 {
            commands.push(vec!["merge", "/nonexistent-dir/merged.h5", name]);
        }
        for cmd in commands {
            let start = Instant::now();
            let out = run_to_end(&cmd, &[]);
            let msg = String::from_utf8_lossy(&out.stderr);
            let said = msg.lines().last().unwrap_or("").to_string();
            if out.status.code().is_none() {
                problems.push(format!(
                    "case {case} ({what}): `{}` died from a signal ({})",
                    cmd[0], out.status
                ));
            } else if start.elapsed() > Duration::from_secs(120) {
                problems.push(format!(
                    "case {case} ({what}): `{}` took {:?}",
                    cmd[0],
                    start.elapsed()
                ));
            } else if out.status.success() {
                if must_fail {
                    problems.push(format!("case {case} ({what}): `{}` succeeded", cmd[0]));
                }
                fine += 1;
            } else if !msg.contains(name) {
                problems.push(format!(
                    "case {case} ({what}): `{}` error does not name the file: {said}",
                    cmd[0]
                ));
            } else if msg.matches("error:").count() != 1 {
                problems.push(format!(
                    "case {case} ({what}): `{}` printed its error more than once: {msg}",
                    cmd[0]
                ));
            } else {
                errors += 1;
                crashes_caught += msg.contains("libhdf5 crashed") as usize;
            }
        }
    }
    eprintln!("{cases} corrupted files: {errors} clean errors ({crashes_caught} of them a libhdf5 crash caught in the checking child), {fine} reads that still succeeded (damage in unused bytes or data), {} problems", problems.len());
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
