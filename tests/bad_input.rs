//! A corpus of bad inputs run against the real binary: every one must be refused (or, for
//! settings under which nothing can learn, warned about) with a message naming the flag, key or
//! file, the value and what is allowed — never a panic, an abort, a hang, a misleading message
//! or a silent acceptance.
//!
//! Each case is a command line (`{d}` is a scratch directory holding the fixtures) with the
//! substrings its message must contain. Every case's outcome is classified; the table of
//! classes and outcomes is printed (`-- --nocapture`). `NPCHIP_CORPUS_BIN=path` runs the corpus
//! against another build and only reports (how the "before" column of the corpus table in the
//! issue's closing note was measured).

use crate::bad_input_corpus::{corpus, fixtures, Case, Want};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Substrings no message may contain: a panic, clap's reading of a negative number as a flag,
/// the old wrong blame for missing perturbations, and the error chain said twice.
const NEVER: &[&str] = &[
    "panicked",
    "RUST_BACKTRACE",
    "unexpected argument '-",
    "a noise-free chip and no injected noise",
    "memory allocation of",
];

/// What a command did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Refused with a message that names what it must (or, for a warned case, warned so).
    Clean,
    /// Exited 0 though the input should have been refused.
    Accepted,
    /// Refused or warned, but the message lacks what it must say or says what it must not.
    Misleading,
    /// Exit status 101 or a panic message.
    Panic,
    /// Killed by a signal (e.g. an allocation failure aborts).
    Abort,
    /// Still running after the deadline.
    Hang,
    /// A file that must not exist was left behind.
    StaleFile,
}

fn run_case(bin: &Path, d: &Path, k: &Case) -> (Outcome, String) {
    let dir = d.to_str().unwrap();
    let args: Vec<String> = k
        .args
        .split_whitespace()
        .map(|a| a.replace("{d}", dir))
        .collect();
    let mut child = Command::new(bin)
        .args(&args)
        .current_dir(d)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = format!("{}{}", t_out.join().unwrap(), t_err.join().unwrap());
    let Some(status) = status else {
        return (Outcome::Hang, text);
    };
    let outcome = if status.code().is_none() {
        Outcome::Abort
    } else if status.code() == Some(101) || text.contains("panicked") {
        Outcome::Panic
    } else if k.absent.is_some_and(|f| d.join(f).exists()) {
        Outcome::StaleFile
    } else if k.want == Want::Refused && status.success() {
        Outcome::Accepted
    } else if k
        .must
        .iter()
        .any(|m| !text.contains(&m.replace("{d}", dir)))
        || NEVER.iter().any(|n| text.contains(n))
        || said_twice(&text)
    {
        Outcome::Misleading
    } else {
        Outcome::Clean
    };
    (outcome, text)
}

/// An `error:` line in which one cause follows itself (`X: X`), the old doubled io messages.
fn said_twice(text: &str) -> bool {
    text.lines().filter(|l| l.starts_with("error:")).any(|l| {
        let parts: Vec<&str> = l.split(": ").collect();
        parts.windows(2).any(|w| w[0] == w[1])
    })
}

#[test]
fn every_bad_input_is_refused_with_a_clear_message() {
    let own = PathBuf::from(env!("CARGO_BIN_EXE_npchip"));
    let other = std::env::var_os("NPCHIP_CORPUS_BIN").map(PathBuf::from);
    let bin = other.clone().unwrap_or(own);
    let d = tempfile::tempdir().unwrap();
    fixtures(d.path());
    let cases = corpus();
    assert!(cases.len() >= 150, "the corpus has {} cases", cases.len());
    let mut table: BTreeMap<&str, BTreeMap<Outcome, usize>> = BTreeMap::new();
    let mut failures = Vec::new();
    for k in &cases {
        let (outcome, text) = run_case(&bin, d.path(), k);
        *table
            .entry(k.class)
            .or_default()
            .entry(outcome)
            .or_default() += 1;
        if outcome != Outcome::Clean {
            let last: Vec<&str> = text.lines().rev().take(3).collect();
            failures.push(format!(
                "{outcome:?}: npchip {}\n    must say {:?}\n    said: {}",
                k.args,
                k.must,
                last.join(" | ")
            ));
        }
    }
    println!("{} cases against {}", cases.len(), bin.display());
    for (class, outcomes) in &table {
        let n: usize = outcomes.values().sum();
        let o: Vec<String> = outcomes.iter().map(|(k, v)| format!("{k:?} {v}")).collect();
        println!("| {class} | {n} | {} |", o.join(", "));
    }
    for f in &failures {
        println!("{f}");
    }
    if other.is_none() {
        assert!(
            failures.is_empty(),
            "{} of {} cases not clean:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }
}

/// Ctrl-C ends `train` with a non-zero status, says the cut-short epoch is not stored, and
/// prints no accuracy line for it: the file and the terminal agree on the finished epochs.
#[test]
fn ctrl_c_exits_non_zero_and_prints_no_result_for_the_cut_epoch() {
    interrupt_mid_run(libc::SIGINT);
}

/// SIGTERM — what `scancel`, a Slurm time limit (before its SIGKILL) and `kill` send — ends a
/// run the same way as Ctrl-C: batch finished, file closed and marked interrupted, resumable.
#[test]
fn sigterm_closes_the_file_like_ctrl_c() {
    let (_dir, out) = interrupt_mid_run(libc::SIGTERM);
    let run = &npchip::output::hdf5::read_runs(&out).unwrap()[0];
    assert_eq!(run.status, npchip::output::hdf5::RunStatus::Interrupted);
    assert!(!run.epochs.epoch.is_empty());
}

/// Runs a long `train` on the embedded digits, sends `signal` in the middle of a later epoch,
/// and checks the exit and what it printed; returns the result file with its directory.
fn interrupt_mid_run(signal: i32) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("int.h5");
    let mut child = Command::new(env!("CARGO_BIN_EXE_npchip"))
        .args(["train", "--epochs", "200", "--hidden", "32", "--out"])
        .arg(&out)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    // Wait for the first finished epoch, then interrupt in the middle of a later one.
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    while !seen.contains("epoch   1  loss") {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "train ended before its first epoch: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no epoch in 2 min"
        );
    }
    std::thread::sleep(Duration::from_millis(150));
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let stderr = seen + &rest;
    assert_eq!(
        status.code(),
        Some(1),
        "interrupted is not success:\n{stderr}"
    );
    assert!(
        stderr.contains("interrupted (Ctrl-C or SIGTERM) in epoch"),
        "{stderr}"
    );
    assert!(stderr.contains("not stored"), "{stderr}");
    // "N epochs in the file" on stdout equals the accuracy lines printed.
    let done: usize = stdout
        .split(" interrupted, ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no epoch count in: {stdout}"));
    let printed = stderr
        .lines()
        .filter(|l| l.starts_with("epoch") && l.contains("  loss "))
        .count();
    assert_eq!(
        printed, done,
        "printed accuracy lines vs epochs in the file\n{stderr}"
    );
    assert!(done >= 1);
    (d, out)
}
