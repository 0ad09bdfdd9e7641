//! `npchip sweep --slurm` against a real Slurm: a one-node cluster on localhost (munged,
//! slurmctld and slurmd started here as child processes, stopped by pid on drop), the generated
//! scripts submitted with their own `submit.sh`, a shard cancelled with `scancel`, the merge
//! naming it, and the rerun of just that shard completing the merge — whose runs must equal an
//! unsharded sweep's point by point; then tasks cancelled while training, whose `running` runs
//! the merge must name.
//!
//! The configuration needs neither systemd nor cgroups: `ProctrackType=proctrack/linuxproc`,
//! `TaskPlugin=task/none`, `JobAcctGatherType=jobacct_gather/none`, no accounting database,
//! daemons as root in the foreground (`-D`), munged with its own key and socket. It skips
//! (saying so) only where Slurm cannot run at all: not root, or the Debian packages
//! `slurm-wlm` and `munge` not installed (`.ci/run` installs them).

use npchip::cli::{Cli, Command as Cmd};
use npchip::output::hdf5::{read_runs, RunRecord, RunStatus};
use npchip::output::merge::merge_with_hint;
use npchip::sweep::{self, slurm::write_scripts, SweepArgs};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The grid: 2 precisions × 2 rules × 2 seeds = 8 tiny runs on the embedded digits.
const GRID: &[&str] = &[
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
/// Bound on each wait for the cluster (the whole test takes well under a minute when idle).
const WAIT: Duration = Duration::from_secs(150);

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A one-node Slurm cluster; dropping it cancels its jobs and stops the daemons by pid.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    node: String,
    daemons: Vec<(&'static str, Child)>,
    jobs: Vec<String>,
}

impl Cluster {
    fn start(dir: &Path, bins: &Bins) -> Cluster {
        let d = |p: &str| dir.join(p);
        for sub in ["munge", "state", "spool", "log"] {
            std::fs::create_dir_all(d(sub)).unwrap();
        }
        let mut key = vec![0u8; 1024];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut key)
            .unwrap();
        use std::os::unix::fs::PermissionsExt;
        let key_file = d("munge/munge.key");
        std::fs::write(&key_file, key).unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o400)).unwrap();
        // munged wants a socket directory others can traverse.
        for p in [dir.to_path_buf(), d("munge")] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let node = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
            .split('.')
            .next()
            .unwrap()
            .to_string();
        let socket = d("munge/munge.sock");
        let conf = d("slurm.conf");
        let mut c = Cluster {
            dir: dir.to_path_buf(),
            conf: conf.clone(),
            node: node.clone(),
            daemons: Vec::new(),
            jobs: Vec::new(),
        };
        let log =
            |name: &str| Stdio::from(std::fs::File::create(d(&format!("log/{name}"))).unwrap());
        let munged = Command::new(&bins.munged)
            .arg("--foreground")
            .arg("--force")
            .arg(format!("--key-file={}", key_file.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", d("munge/munged.pid").display()))
            .arg(format!("--log-file={}", d("log/munged.log").display()))
            .arg(format!("--seed-file={}", d("munge/seed").display()))
            .stdout(log("munged.out"))
            .stderr(log("munged.err"))
            .spawn()
            .expect("starting munged");
        c.daemons.push(("munged", munged));
        c.wait_for("the munge socket", || socket.exists());

        let ports = free_ports(2);
        // At most what the machine has: slurmd drains a node that has less than configured.
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
        let mem_mb = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kb = m.lines().find(|l| l.starts_with("MemTotal:"))?;
                kb.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .map_or(2000, |kb| (kb / 1024 / 2).min(2000));
        let text = format!(
            "ClusterName=npchiptest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={}
SlurmdPort={}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket}
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=3600
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
",
            ports[0],
            ports[1],
            socket = socket.display(),
            state = d("state").display(),
            spool = d("spool").display(),
            dir = dir.display(),
        );
        std::fs::write(&conf, text).unwrap();
        for (name, bin, extra) in [
            ("slurmctld", &bins.slurmctld, vec!["-D"]),
            ("slurmd", &bins.slurmd, vec!["-D", "-N", node.as_str()]),
        ] {
            let child = Command::new(bin)
                .args(extra)
                .env("SLURM_CONF", &conf)
                .stdout(log(&format!("{name}.out")))
                .stderr(log(&format!("{name}.err")))
                .spawn()
                .unwrap_or_else(|e| panic!("starting {name}: {e}"));
            c.daemons.push((name, child));
        }
        c.wait_for("the node to be idle", || {
            c.run("sinfo", &["-h", "-n", &node, "-o", "%T"])
                .is_ok_and(|s| s.trim() == "idle")
        });
        c
    }

    /// A Slurm client command with this cluster's configuration; its stdout.
    fn run(&self, prog: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new(prog)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .output()
            .map_err(|e| format!("{prog}: {e}"))?;
        checked(prog, args, out)
    }

    /// Runs a generated `submit.sh` (from `/`, to show the scripts need no working directory);
    /// returns (array job id, merge job id).
    fn submit(&mut self, script: &Path, shards: Option<&str>) -> (String, String) {
        let out = Command::new(script)
            .args(shards)
            .current_dir("/")
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap();
        let text = checked("submit.sh", &[], out).unwrap_or_else(|e| panic!("{e}"));
        // "submitted shard(s) S as job A and the merge as job M; logs in ..."
        let ids: Vec<String> = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0] == "job")
            .map(|w| w[1].trim_end_matches(';').to_string())
            .collect();
        assert!(
            ids.len() == 2 && ids.iter().all(|i| i.parse::<u64>().is_ok()),
            "{text}"
        );
        self.jobs.extend(ids.iter().cloned());
        (ids[0].clone(), ids[1].clone())
    }

    /// `JobState` of every job with this id, with `ArrayTaskId=` for array tasks (`2 COMPLETED`),
    /// sorted.
    fn states(&self, job: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .run("scontrol", &["show", "job", "-o", job])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let field = |k: &str| l.split_whitespace().find_map(|w| w.strip_prefix(k));
                let state = field("JobState=")?;
                Some(match field("ArrayTaskId=") {
                    Some(t) => format!("{t} {state}"),
                    None => state.to_string(),
                })
            })
            .collect();
        v.sort();
        v
    }

    /// Waits until the job (every task of an array) has ended; the first state.
    fn wait_job(&self, job: &str) -> String {
        let ended = |s: &str| {
            let state = s.rsplit(' ').next().unwrap_or(s);
            !matches!(state, "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING")
        };
        let mut last = Vec::new();
        self.wait_for(&format!("job {job} to end"), || {
            last = self.states(job);
            !last.is_empty() && last.iter().all(|s| ended(s))
        });
        last[0].clone()
    }

    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        while !ready() {
            if start.elapsed() > WAIT {
                panic!(
                    "timed out after {:?} waiting for {what}\n{}",
                    WAIT,
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// The daemons' logs and the queue, for a failure message.
    fn diagnostics(&self) -> String {
        let mut s = format!(
            "squeue: {:?}\n",
            self.run("squeue", &["-a"]).unwrap_or_else(|e| e)
        );
        for name in [
            "munged.log",
            "slurmctld.log",
            "slurmd.log",
            "slurmctld.err",
            "slurmd.err",
        ] {
            let text = std::fs::read_to_string(self.dir.join("log").join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            s += &format!(
                "--- {name} (last lines)\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.jobs.is_empty() {
            let ids: Vec<&str> = self.jobs.iter().map(String::as_str).collect();
            let _ = self.run("scancel", &ids);
        }
        // slurmd, slurmctld, munged: SIGTERM by pid, then SIGKILL if one does not exit.
        for (_, child) in self.daemons.iter_mut().rev() {
            // SAFETY: kill(2) on the pid of a child this struct spawned and has not reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if start.elapsed() > Duration::from_secs(10) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn checked(prog: &str, args: &[&str], out: Output) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{prog} {args:?}: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Ports the kernel says are free now.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

struct Bins {
    munged: PathBuf,
    slurmctld: PathBuf,
    slurmd: PathBuf,
}

/// The daemons, or why this machine cannot run Slurm.
fn slurm_binaries() -> Result<Bins, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root: slurmd must run as root to start jobs".into());
    }
    let find = |n: &str| {
        find_binary(n).ok_or_else(|| {
            format!("no `{n}` binary: install Debian's slurm-wlm and munge (as .ci/run does)")
        })
    };
    for client in ["sbatch", "squeue", "scontrol", "scancel", "sinfo"] {
        find(client)?;
    }
    Ok(Bins {
        munged: find("munged")?,
        slurmctld: find("slurmctld")?,
        slurmd: find("slurmd")?,
    })
}

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

    // A task cancelled while running (as a time limit does): its run stays `running` in the
    // shard file, and the merge names it and both shards. Two long runs, one per shard.
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
            && log.contains("run0000 running")
            && log.contains("run0001 running")
            && log.contains(&format!("{} 0,1", submit.display())),
        "{log}"
    );
    assert!(!work.join("runs/long.h5").exists());
}

/// `npchip sweep ARGS` parsed as the command line would parse it.
fn sweep_args(args: &[&str]) -> SweepArgs {
    use clap::Parser;
    let argv = ["npchip", "sweep"].iter().chain(args);
    match Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .command
    {
        Cmd::Sweep(a) => *a,
        _ => unreachable!(),
    }
}

fn with_grid(extra: &[&str]) -> Vec<String> {
    GRID.iter().chain(extra).map(|s| s.to_string()).collect()
}

#[test]
fn slurm_scripts_are_written_only_for_a_valid_grid_and_never_over_earlier_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("g.h5");
    let out_s = out.to_str().unwrap();
    let dir = tmp.path().join("g-slurm");
    let args = |extra: &[&str]| {
        let v = with_grid(extra);
        sweep_args(&v.iter().map(String::as_str).collect::<Vec<_>>())
    };
    // An invalid point (np needs a readable noise source): nothing is written.
    let e = write_scripts(&args(&["--rules", "np", "--out", out_s, "--slurm", "2"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("rule=np") && e.contains("inject"), "{e}");
    assert!(!dir.exists(), "no script for an invalid grid");
    // More shards than points.
    let e = write_scripts(&args(&["--out", out_s, "--slurm", "9"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--slurm 9") && e.contains("8 points"), "{e}");
    // Bad option values name the flag and the value.
    for (flag, value, says) in [
        ("--slurm-time", "4h", "Slurm time limit"),
        ("--slurm-mem", "4GB", "memory size"),
        ("--slurm", "0", "≥ 1"),
    ] {
        let v = match flag {
            "--slurm" => with_grid(&[flag, value]),
            _ => with_grid(&["--slurm", "2", flag, value]),
        };
        let argv: Vec<&str> = ["npchip", "sweep"]
            .into_iter()
            .chain(v.iter().map(String::as_str))
            .collect();
        let e = <Cli as clap::Parser>::try_parse_from(argv)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(flag) && e.contains(value) && e.contains(says),
            "{e}"
        );
    }
    // --slurm with --shard or --jobs is refused: the script sets both.
    let v = with_grid(&["--slurm", "2", "--jobs", "2"]);
    let argv: Vec<&str> = ["npchip", "sweep"]
        .into_iter()
        .chain(v.iter().map(String::as_str))
        .collect();
    assert!(<Cli as clap::Parser>::try_parse_from(argv).is_err());

    // Defaults: 2 points per shard → 2 runs at a time on 2 CPUs, 2G each.
    let s = write_scripts(&args(&["--out", out_s, "--slurm", "4"])).unwrap();
    assert_eq!(s.dir, dir);
    let text = std::fs::read_to_string(&s.sweep).unwrap();
    for line in [
        "#SBATCH --cpus-per-task=2\n",
        "#SBATCH --mem=4G\n",
        "#SBATCH --time=04:00:00\n",
        "--jobs 2",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    assert!(!text.contains("--partition"), "{text}");
    let merge = std::fs::read_to_string(&s.merge).unwrap();
    assert!(merge.contains("#SBATCH --time=60\n"), "{merge}");
    assert!(
        merge.contains(&format!(
            "{out_s} {}/shards/shard-{{0..3}}.h5",
            dir.display()
        )),
        "{merge}"
    );
    // A second --slurm into the same directory needs --force.
    let e = write_scripts(&args(&["--out", out_s, "--slurm", "4"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--force") && e.contains("g-slurm"), "{e}");
    let s = write_scripts(&args(&[
        "--out",
        out_s,
        "--slurm",
        "2",
        "--force",
        "--threads",
        "2",
        "--slurm-cpus",
        "4",
        "--slurm-partition",
        "short",
        "--slurm-time",
        "0-00:20",
    ]))
    .unwrap();
    let text = std::fs::read_to_string(&s.sweep).unwrap();
    for line in [
        "#SBATCH --array=0-1\n",
        "#SBATCH --cpus-per-task=4\n",
        "#SBATCH --partition=short\n",
        "--jobs 2",
        "--threads 2",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    let merge = std::fs::read_to_string(&s.merge).unwrap();
    assert!(merge.contains("#SBATCH --time=20\n"), "{merge}");
}

/// Sets `/runs/<run>/status` of a result file, as a killed or interrupted shard leaves it.
fn set_status(file: &Path, run: &str, status: &str) {
    let f = hdf5::File::open_rw(file).unwrap();
    let g = f.group(&format!("runs/{run}")).unwrap();
    g.delete_attr("status").unwrap();
    let v: hdf5::types::VarLenUnicode = status.parse().unwrap();
    g.new_attr::<hdf5::types::VarLenUnicode>()
        .create("status")
        .unwrap()
        .write_scalar(&v)
        .unwrap();
}

#[test]
fn merge_names_the_shards_of_absent_files_and_unfinished_runs() {
    let tmp = tempfile::tempdir().unwrap();
    // GRID with one precision and one seed: 2 rules → 2 points; 2 shards of one each.
    let small: Vec<String> = GRID
        .chunks(2)
        .flat_map(|p| match p[0] {
            "--bits" => ["--bits", "2"],
            "--seeds" => ["--seeds", "1"],
            _ => [p[0], p[1]],
        })
        .map(str::to_string)
        .collect();
    let files: Vec<PathBuf> = (0..2)
        .map(|k| {
            let out = tmp.path().join(format!("shard-{k}.h5"));
            let shard = format!("{k}/2");
            let mut a: Vec<&str> = small.iter().map(String::as_str).collect();
            a.extend(["--shard", &shard, "--out", out.to_str().unwrap()]);
            let s = sweep::execute(&sweep_args(&a)).unwrap();
            assert_eq!(s.runs.len(), 1);
            out
        })
        .collect();
    let merged = tmp.path().join("merged.h5");
    // A shard that never ran (no file): its point is missing, and the hint names it.
    let absent = tmp.path().join("shard-9.h5");
    let e = merge_with_hint(
        &merged,
        &[files[0].clone(), absent.clone()],
        false,
        Some("submit.sh"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("1 of 2 grid points are in no input or did not finish: 1")
            && e.contains("no such file")
            && e.contains("shard-9.h5")
            && e.contains("rerun exactly those and merge again: submit.sh 1"),
        "{e}"
    );
    // A run left `running` (a task killed by its time limit) is not a result.
    set_status(&files[1], "run0001", "running");
    let e = merge_with_hint(&merged, &files, false, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("1 started but did not finish")
            && e.contains("run0001 running")
            && e.contains("shard 1 "),
        "{e}"
    );
    assert!(!merged.exists());
    // Failed and diverged runs are results and are merged.
    set_status(&files[1], "run0001", "diverged");
    merge_with_hint(&merged, &files, false, None).unwrap();
    let runs = read_runs(&merged).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].status.name(), "diverged");
    // An input that does not exist, with every point present elsewhere, is named.
    let e = merge_with_hint(
        &tmp.path().join("m2.h5"),
        &[files[0].clone(), files[1].clone(), absent],
        false,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("shard-9.h5: no such file"), "{e}");
}

#[test]
fn the_script_carries_a_sweep_toml_as_flags_that_define_the_same_grid() {
    use npchip::sweep::flags::resolve;
    let tmp = tempfile::tempdir().unwrap();
    let toml = tmp.path().join("grid.toml");
    std::fs::write(
        &toml,
        "[grid]\nbits = [2, 3]\nrule = [\"danp\", \"bp\"]\n\n[train]\nepochs = 7\nhidden = [8, 4]\nset = [\"update.rounding=\\\"accumulate\\\"\"]\n",
    )
    .unwrap();
    let p = toml.to_str().unwrap();
    let typed = [
        "--config", p, "--epochs", "1", "--shard", "0/2", "--out", "x.h5",
    ];
    let r = resolve(&SweepArgs::parse_from(typed).unwrap()).unwrap();
    let args: Vec<String> = r
        .grid_args
        .iter()
        .map(|a| a.to_str().unwrap().to_string())
        .collect();
    for per_invocation in ["--config", "--shard", "--out", "x.h5"] {
        assert!(!args.iter().any(|a| a == per_invocation), "{args:?}");
    }
    // The typed --epochs replaced the file's.
    assert!(args.windows(2).any(|w| w == ["--epochs", "1"]), "{args:?}");
    assert!(!args.iter().any(|a| a == "7"), "{args:?}");
    let again = resolve(&SweepArgs::parse_from(&args).unwrap()).unwrap();
    assert_eq!(again.settings, r.settings);
    // In the script, the quotes of the `set` value survive the shell.
    let out = tmp.path().join("t.h5");
    let s = write_scripts(
        &SweepArgs::parse_from([
            "--config",
            p,
            "--out",
            out.to_str().unwrap(),
            "--slurm",
            "2",
        ])
        .unwrap(),
    )
    .unwrap();
    let text = std::fs::read_to_string(&s.sweep).unwrap();
    assert!(
        text.contains("--set 'update.rounding=\"accumulate\"'") && !text.contains("--config"),
        "{text}"
    );
    // The script's own line, split by bash, gives back the two words.
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("--set"))
        .unwrap()
        .trim_end_matches('\\');
    let words = Command::new("bash")
        .arg("-c")
        .arg(format!("printf '%s\\n' {line}"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&words.stdout),
        "--set\nupdate.rounding=\"accumulate\"\n"
    );
}
