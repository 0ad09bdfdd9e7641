//! A one-node Slurm cluster on localhost for tests/slurm.rs: munged, slurmctld and slurmd
//! started as child processes (no systemd, no cgroups) and stopped by pid on drop.
//!
//! The configuration that starts without systemd or cgroups: `ProctrackType=proctrack/linuxproc`,
//! `TaskPlugin=task/none`, `SelectType=select/cons_tres` with `CR_CPU`,
//! `JobAcctGatherType=jobacct_gather/none`, `AccountingStorageType=accounting_storage/none`,
//! `SlurmUser=root`, state and spool directories and munge's key and socket in a temp dir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Bound on each wait for the cluster (the whole test takes well under a minute when idle).
pub const WAIT: Duration = Duration::from_secs(150);

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A one-node Slurm cluster; dropping it cancels its jobs and stops the daemons by pid.
pub struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    pub node: String,
    daemons: Vec<(&'static str, Child)>,
    jobs: Vec<String>,
}

impl Cluster {
    pub fn start(dir: &Path, bins: &Bins) -> Cluster {
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
    pub fn run(&self, prog: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new(prog)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .output()
            .map_err(|e| format!("{prog}: {e}"))?;
        checked(prog, args, out)
    }

    /// Runs a generated `submit.sh` (from `/`, to show the scripts need no working directory);
    /// returns (array job id, merge job id).
    pub fn submit(&mut self, script: &Path, shards: Option<&str>) -> (String, String) {
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
    pub fn states(&self, job: &str) -> Vec<String> {
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
    pub fn wait_job(&self, job: &str) -> String {
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

    pub fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
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
    pub fn diagnostics(&self) -> String {
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

pub struct Bins {
    munged: PathBuf,
    slurmctld: PathBuf,
    slurmd: PathBuf,
}

/// The daemons, or why this machine cannot run Slurm.
pub fn slurm_binaries() -> Result<Bins, String> {
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
