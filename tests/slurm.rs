//! `npchip sweep --slurm` against a real Slurm ([`crate::slurm_cluster`]): the generated
//! scripts submitted with their own `submit.sh`, a shard cancelled with `scancel`, the merge
//! naming it, and the rerun of just that shard completing the merge — whose runs must equal an
//! unsharded sweep's point by point; then tasks cancelled while training, whose `running` runs
//! the merge must name. Skips (saying so) only where Slurm cannot run at all: not root, or the
//! Debian packages `slurm-wlm` and `munge` not installed (`.ci/run` installs them).

use crate::slurm_cluster::{slurm_binaries, Cluster};
use npchip::output::hdf5::{read_runs, RunRecord, RunStatus};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The grid: 2 precisions × 2 rules × 2 seeds = 8 tiny runs on the embedded digits.
pub const GRID: &[&str] = &[
    "--chip",
    "rram",
    "--bits",
    "2,4",
    "--rules",
    "danp,bp",
    "--seeds",
    "1,2",
    "--lr",
    "0.01",
    "--hidden",
    "8",
    "--batch",
    "16",
    "--epochs",
    "3",
    "--train-samples",
    "160",
    "--test-samples",
    "60",
    "--trace",
    "none",
];
const SHARDS: usize = 4;

fn npchip(cwd: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_npchip"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "npchip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A run without its wall times and timestamps: what the same seed must reproduce exactly.
fn reproducible(mut r: RunRecord) -> RunRecord {
    r.attrs.remove("started");
    r.attrs.remove("finished");
    let e = &mut r.epochs;
    for v in [
        &mut e.train_seconds,
        &mut e.epoch_seconds,
        &mut e.samples_per_second,
    ] {
        v.clear();
    }
    r
}

#[test]
fn a_generated_job_array_runs_on_slurm_and_reruns_exactly_the_cancelled_shard() {
    let bins = match slurm_binaries() {
        Ok(b) => b,
        Err(why) => {
            println!("SKIPPED: {why}");
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cluster = Cluster::start(&tmp.path().join("slurm"), &bins);

    // The scripts, with a relative --out: the script must spell it absolute.
    let mut args = vec!["sweep"];
    args.extend_from_slice(GRID);
    let shards = SHARDS.to_string();
    args.extend([
        "--out",
        "runs/merged.h5",
        "--slurm",
        &shards,
        "--slurm-cpus",
        "1",
        "--slurm-mem",
        "300M",
        "--slurm-time",
        "00:10:00",
    ]);
    npchip(&work, &args);
    let dir = work.join("runs/merged-slurm");
    let merged = work.join("runs/merged.h5");
    let sweep_sbatch = std::fs::read_to_string(dir.join("sweep.sbatch")).unwrap();
    for line in [
        "#SBATCH --array=0-3\n",
        "#SBATCH --cpus-per-task=1\n",
        "#SBATCH --mem=300M\n",
        "#SBATCH --time=00:10:00\n",
        "--shard \"$SLURM_ARRAY_TASK_ID/4\" --jobs 1",
        "--bits 2,4",
        "--seeds 1,2",
    ] {
        assert!(sweep_sbatch.contains(line), "{line:?} in\n{sweep_sbatch}");
    }
    assert!(sweep_sbatch.contains(&format!("--out \"{}/shards/", dir.display())));
    assert!(!merged.exists(), "--slurm writes scripts, not results");

    // The same grid unsharded, for the point-by-point comparison.
    let whole = work.join("whole.h5");
    let mut args = vec!["sweep"];
    args.extend_from_slice(GRID);
    let whole_s = whole.to_str().unwrap();
    args.extend(["--out", whole_s, "--jobs", "2"]);
    npchip(&work, &args);

    // Submit with the node drained, so shard 2 is still pending when it is cancelled.
    let drain = |c: &Cluster, state: &str| {
        let node = format!("NodeName={}", c.node);
        let mut a = vec!["update", node.as_str(), state];
        if state == "State=DRAIN" {
            a.push("Reason=npchip-test");
        }
        c.run("scontrol", &a).unwrap_or_else(|e| panic!("{e}"));
    };
    drain(&cluster, "State=DRAIN");
    let submit = dir.join("submit.sh");
    let (array, merge_job) = cluster.submit(&submit, None);
    cluster
        .run("scancel", &[&format!("{array}_2")])
        .unwrap_or_else(|e| panic!("{e}"));
    drain(&cluster, "State=RESUME");
    let state = cluster.wait_job(&merge_job);
    assert_eq!(state, "FAILED", "the merge of 3 of 4 shards must fail");
    // Slurm forgets a task cancelled while pending; the three others ran.
    assert_eq!(
        cluster.states(&array),
        ["0 COMPLETED", "1 COMPLETED", "3 COMPLETED"],
        "{}",
        cluster.diagnostics()
    );
    let log = std::fs::read_to_string(dir.join(format!("logs/merge-job{merge_job}.out"))).unwrap();
    assert!(
        log.contains("2 of 8 grid points are in no input or did not finish: 2, 6")
            && log.contains("they belong to shard 2 ")
            && log.contains(&format!("{} 2", submit.display())),
        "{log}"
    );
    assert!(!merged.exists(), "a refused merge writes nothing");
    assert!(!dir.join("shards/shard-2.h5").exists());

    // The rerun of exactly that shard completes the merge.
    let (rerun, merge_job) = cluster.submit(&submit, Some("2"));
    assert_eq!(cluster.wait_job(&merge_job), "COMPLETED", "{}", {
        std::fs::read_to_string(dir.join(format!("logs/merge-job{merge_job}.out")))
            .unwrap_or_default()
    });
    assert_eq!(cluster.states(&rerun), ["2 COMPLETED"], "one task: shard 2");
    assert!(dir.join(format!("logs/shard-2-job{rerun}.out")).exists());

    // Point by point: the same seeds give the same accuracies, losses and counters.
    let a = read_runs(&merged).unwrap();
    let b = read_runs(&whole).unwrap();
    assert_eq!(a.len(), 8);
    assert_eq!(b.len(), 8);
    for (x, y) in a.into_iter().zip(b) {
        assert_eq!(x.status, RunStatus::Completed, "{}", x.name);
        assert_eq!(x.epochs.len(), 3, "{}", x.name);
        assert_eq!(reproducible(x), reproducible(y));
    }
    // The comparison is not vacuous: different points trained differently.
    let c = read_runs(&whole).unwrap();
    let accs: std::collections::BTreeSet<String> = c
        .iter()
        .map(|r| format!("{:?}", r.epochs.test_loss))
        .collect();
    assert!(accs.len() > 4, "{accs:?}");

    // A task cancelled while running (as a time limit does): Slurm's SIGTERM lets the run
    // finish its batch and close its shard file marked `interrupted` (before any SIGKILL),
    // and the merge names it and both shards. Two long runs, one per shard.
    let long = [
        "sweep",
        "--chip",
        "rram",
        "--bits",
        "2,4",
        "--rule",
        "bp",
        "--hidden",
        "64",
        "--epochs",
        "100000",
        "--trace",
        "none",
        "--out",
        "runs/long.h5",
        "--slurm",
        "2",
        "--slurm-cpus",
        "1",
        "--slurm-mem",
        "300M",
    ];
    npchip(&work, &long);
    let dir = work.join("runs/long-slurm");
    let submit = dir.join("submit.sh");
    let (array, merge_job) = cluster.submit(&submit, None);
    let shard_files = [0, 1].map(|k| dir.join(format!("shards/shard-{k}.h5")));
    cluster.wait_for("both long shards to start writing", || {
        shard_files.iter().all(|f| f.exists())
    });
    // Time for each run's group to be added (it is, before its first batch).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(cluster.states(&array), ["0 RUNNING", "1 RUNNING"]);
    cluster
        .run("scancel", &[&array])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cluster.wait_job(&merge_job), "FAILED");
    let log = std::fs::read_to_string(dir.join(format!("logs/merge-job{merge_job}.out"))).unwrap();
    assert!(
        log.contains("2 of 2 grid points are in no input or did not finish: 0-1")
            && log.contains("2 started but did not finish")
            && log.contains("run0000 interrupted")
            && log.contains("run0001 interrupted")
            && log.contains(&format!("{} 0,1", submit.display())),
        "{log}"
    );
    assert!(!work.join("runs/long.h5").exists());
}
