//! `npchip::run` as a library caller (Python, a script) uses it: settings in, one check, a
//! cancellable training into a file, and the outcome returned, nothing printed.

use npchip::chip::Chip;
use npchip::learn::Learner;
use npchip::output::hdf5::{read_run, RunStatus};
use npchip::run::{train_to_file, Cancel, Progress, RunDef, RunError, Settings};
use npchip::train::{EpochRecord, Observer};
use std::path::Path;

fn def(pairs: &[(&str, &str)]) -> RunDef {
    let mut s = Settings::default();
    for (k, v) in [
        ("hidden", "16"),
        ("train_samples", "256"),
        ("test_samples", "64"),
        ("trace", "none"),
    ]
    .iter()
    .chain(pairs)
    {
        s.set(k, v);
    }
    s.check().unwrap()
}

/// Cancels (as a Ctrl-C would) once `after` samples of epoch `epoch` are done.
struct CancelIn {
    cancel: Cancel,
    epoch: usize,
    after: usize,
    finished: usize,
}

impl Observer for CancelIn {
    fn epoch(
        &mut self,
        r: &EpochRecord,
        _c: &Chip,
        _l: &Learner,
    ) -> Result<(), npchip::train::ObserverError> {
        self.finished = r.epoch;
        Ok(())
    }
    fn progress(&mut self, done: usize, _total: usize, _loss: f64, _acc: f64) {
        if self.finished + 1 == self.epoch && done >= self.after {
            self.cancel.cancel();
        }
    }
}

#[test]
fn a_cancelled_run_returns_interrupted_with_its_finished_epochs_in_a_closed_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cut.h5");
    let d = def(&[("epochs", "5"), ("out", out.to_str().unwrap())]);
    let cancel = Cancel::new();
    let mut obs = CancelIn {
        cancel: cancel.clone(),
        epoch: 3,
        after: 64,
        finished: 0,
    };
    let o = train_to_file(&d, &cancel, Progress::To(&mut obs)).unwrap();
    assert!(cancel.is_cancelled());
    assert!(o.interrupted);
    assert_eq!((o.epochs_done, o.last_epoch), (2, 3));
    assert_eq!(o.path, out);
    let run = read_run(&out, "run0").unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert_eq!(run.epochs.epoch, [1, 2]);
    // The file records the command that repeats the run, whoever started it.
    let root = npchip::output::hdf5::read_root_attrs(&out).unwrap();
    let cmd = root["command_line"].to_string();
    assert!(
        cmd.contains("npchip train") && cmd.contains("--hidden 16") && cmd.contains("--epochs 5"),
        "{cmd}"
    );
    // Resumed with nothing contradicting the file, it completes.
    let r = def(&[("resume", out.to_str().unwrap())]);
    let o = train_to_file(&r, &Cancel::new(), Progress::Silent).unwrap();
    assert!(!o.interrupted);
    assert_eq!(o.epochs_done, 5);
    assert_eq!(read_run(&out, "run0").unwrap().status, RunStatus::Completed);
}

fn refusal(r: Result<npchip::run::RunOutcome, RunError>) -> String {
    match r {
        Err(RunError::Refused(m)) => m,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn resume_refuses_settings_that_contradict_the_file_and_names_each() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.h5");
    let first = def(&[("epochs", "1"), ("out", out.to_str().unwrap())]);
    train_to_file(&first, &Cancel::new(), Progress::Silent).unwrap();
    let resume = |extra: &[(&str, &str)]| {
        let mut p = vec![("resume", out.to_str().unwrap()), ("epochs", "2")];
        p.extend_from_slice(extra);
        train_to_file(&def(&p), &Cancel::new(), Progress::Silent)
    };
    let m = refusal(resume(&[("lr", "0.1"), ("hidden", "8"), ("chip", "pcm")]));
    for part in [
        "--lr 0.1 (the file's run has 0.003)",
        "--hidden 8 (the file's run has 16)",
        "--chip pcm",
    ] {
        assert!(m.contains(part), "missing `{part}` in: {m}");
    }
    assert!(!m.contains("--epochs 2 ("), "--epochs may differ: {m}");
    let other = dir.path().join("elsewhere.h5");
    let m = refusal(resume(&[("out", other.to_str().unwrap())]));
    assert!(m.contains("--out"), "{m}");
    // Nothing was touched by the refusals: the file still holds its one epoch.
    assert_eq!(read_run(&out, "run0").unwrap().epochs.epoch, [1]);
    // The same values as the file are not contradictions (the preset by its own name).
    let o = resume(&[("lr", "3e-3"), ("chip", "rram"), ("hidden", "16")]).unwrap();
    assert_eq!(o.epochs_done, 2);
    assert!(!Path::new(&other).exists());
}
