//! `npchip sweep ... --slurm N`: writes, instead of running, a Slurm job array for the grid.
//!
//! Three files go into the script directory (default `<out stem>-slurm/` beside `--out`):
//! `sweep.sbatch` (an array of N tasks, task K running `npchip sweep --shard K/N` into
//! `shards/shard-K.h5`), `merge.sbatch` (`npchip merge` of the N shard files into `--out`) and
//! `submit.sh`, which submits the array and then the merge with `--dependency=afterany` on it.
//! `submit.sh 2,5` resubmits only shards 2 and 5 (the ones `npchip merge` names as missing)
//! and merges again.
//!
//! Why this shape:
//! - The grid is resolved and checked here, once, exactly as `npchip sweep` checks it (every
//!   point's settings, the data), so a bad grid fails at the login node rather than in N job
//!   logs; the scripts themselves check nothing. The grid travels as the resolved flag list
//!   ([`SweepPlan::grid_args`]), so the script does not depend on a sweep TOML
//!   that may change after submission.
//! - Absolute paths (binary, scripts, shard files, logs) and a `cd` to the directory the
//!   command was typed in (for relative `--data`/`--chip` paths), so the scripts work from any
//!   working directory on a shared filesystem.
//! - `afterany`, not `afterok`: a shard exits 1 when one of its runs diverged, which is a
//!   result, not a reason to skip the merge. The merge is the one check that every point is
//!   there; when one is not, its log names the missing shards and the `submit.sh` command that
//!   reruns exactly those.

use super::error::SweepError;
use super::grid::Grid;
use super::plan::SweepPlan;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Time limit of a shard task when `--slurm-time` is not given.
pub const DEFAULT_TIME: &str = "04:00:00";
/// Default parallel runs per task: a shard's runs, at most this many.
pub const DEFAULT_MAX_JOBS: usize = 8;
/// Default memory per parallel run, GiB.
pub const DEFAULT_MEM_PER_RUN_GB: usize = 2;
/// The merge job's time limit, minutes (less when the shards' limit is shorter): it copies
/// HDF5 groups, which takes seconds.
const MERGE_MINUTES: u64 = 60;

/// A Slurm time limit: the text as given, and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmTime {
    /// As typed (written into the script unchanged).
    pub text: String,
    /// Whole minutes, rounded up; `None` for `INFINITE`/`UNLIMITED`.
    pub minutes: Option<u64>,
}

/// Parses Slurm's time formats (sbatch(1), `--time`) so a typo fails here, not at submission.
pub fn parse_time(s: &str) -> Result<SlurmTime, String> {
    let bad = || {
        format!(
            "expected a Slurm time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (minutes and seconds below 60 after the first field; not zero), or INFINITE; got `{s}`"
        )
    };
    if s.eq_ignore_ascii_case("infinite") || s.eq_ignore_ascii_case("unlimited") {
        return Ok(SlurmTime {
            text: s.to_string(),
            minutes: None,
        });
    }
    let num = |p: &str| -> Result<u64, String> {
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse::<u64>().map_err(|_| bad())
    };
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (Some(num(d)?), r),
        None => (None, s),
    };
    let parts: Vec<u64> = rest.split(':').map(num).collect::<Result<_, _>>()?;
    // Fields after the first are minutes or seconds: below 60.
    if parts.iter().skip(1).any(|&x| x >= 60) {
        return Err(bad());
    }
    let seconds = match (days, parts.as_slice()) {
        (None, [m]) => m * 60,
        (None, [m, sec]) => m * 60 + sec,
        (None, [h, m, sec]) => (h * 60 + m) * 60 + sec,
        (Some(d), [h]) => (d * 24 + h) * 3600,
        (Some(d), [h, m]) => ((d * 24 + h) * 60 + m) * 60,
        (Some(d), [h, m, sec]) => ((d * 24 + h) * 60 + m) * 60 + sec,
        _ => return Err(bad()),
    };
    if seconds == 0 {
        return Err(bad());
    }
    Ok(SlurmTime {
        text: s.to_string(),
        minutes: Some(seconds.div_ceil(60)),
    })
}

/// The array job. `@NAME@` placeholders are filled by [`write_scripts`]; the `#SBATCH` lines
/// are what `submit.sh` does not override.
const SWEEP_SBATCH: &str = r#"#!/bin/bash
# Written by `npchip sweep --slurm @N@`: the @POINTS@-point grid below as @N@ shard tasks; task K
# runs the points whose index mod @N@ is K (@PER_SHARD@ or fewer) into shards/shard-K.h5. The grid
# was checked when this was written.
# Submit with @DIR@/submit.sh (docs/sweeps.md).
#SBATCH --job-name=npchip-@NAME@
#SBATCH --array=0-@LAST@
#SBATCH --cpus-per-task=@CPUS@
#SBATCH --mem=@MEM@
#SBATCH --time=@TIME@
@PARTITION@#SBATCH --output=@DIR@/logs/shard-%a-job%A.out

set -euo pipefail
# Relative --data and --chip paths are relative to where the sweep was defined.
cd @CWD@
# @RUNS@; --force: a rerun replaces the partial file of a failed task.
exec @EXE@ sweep \
@GRID_FLAGS@    --shard "$SLURM_ARRAY_TASK_ID/@N@" --jobs @JOBS@ \
    --out "@DIR@/shards/shard-$SLURM_ARRAY_TASK_ID.h5" --force
"#;

/// The merge job, queued by `submit.sh` to start when the array has ended.
const MERGE_SBATCH: &str = r#"#!/bin/bash
# Written by `npchip sweep --slurm @N@`: joins the @N@ shard files into @OUT@.
# When a grid point is missing or did not finish, npchip merge writes nothing, names the
# shards, and prints the submit.sh command that reruns exactly those.
#SBATCH --job-name=npchip-@NAME@-merge
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=@MERGE_TIME@
@PARTITION@#SBATCH --output=@DIR@/logs/merge-job%j.out

set -euo pipefail
cd @CWD@
exec @EXE@ merge --force --rerun-hint @DIR@/submit.sh \
    @OUT@ @DIR@/shards/shard-{0..@LAST@}.h5
"#;

/// Submits the array and the merge after it; with an argument, only those shards.
const SUBMIT_SH: &str = r#"#!/bin/bash
# Written by `npchip sweep --slurm @N@`. Submits the @N@ shard tasks of sweep.sbatch and then
# merge.sbatch, which starts when they have all ended (afterany: a shard with a diverged run
# exits 1, and that is a result; the merge checks that every grid point is there).
#   @DIR@/submit.sh        all shards, then the merge
#   @DIR@/submit.sh 2,5    only shards 2 and 5 (as npchip merge names them), then the merge
# More sbatch options go through its environment: SBATCH_ACCOUNT=..., SBATCH_QOS=..., ...
set -euo pipefail
if [ $# -gt 1 ] || { [ $# -eq 1 ] && ! [[ $1 =~ ^[0-9]+(,[0-9]+)*$ ]]; }; then
    echo "usage: $0 [K,K,...]  (shard numbers from 0 to @LAST@, comma-separated)" >&2
    exit 2
fi
shards=${1:-0-@LAST@}
list=${1:-}
for k in ${list//,/ }; do
    if (( 10#$k > @LAST@ )); then
        echo "$0: there is no shard $k: the shards are 0 to @LAST@" >&2
        exit 2
    fi
done
array=$(sbatch --parsable --array="$shards" @DIR@/sweep.sbatch)
array=${array%%;*}
merge=$(sbatch --parsable --dependency=afterany:"$array" @DIR@/merge.sbatch)
merge=${merge%%;*}
echo "submitted shard(s) $shards as job $array and the merge as job $merge; logs in @DIR@/logs"
"#;

/// What `--slurm` wrote.
#[derive(Debug, Clone)]
pub struct Scripts {
    /// Points of the whole grid.
    pub points: usize,
    /// The script directory (absolute).
    pub dir: PathBuf,
    /// The array job: one `npchip sweep --shard K/N` per task.
    pub sweep: PathBuf,
    /// The merge job.
    pub merge: PathBuf,
    /// Submits both; `submit.sh K,K,...` resubmits only those shards.
    pub submit: PathBuf,
    /// The merged file the merge job writes (absolute).
    pub out: PathBuf,
    /// Shard task K writes `shard_file(K)`.
    pub shards_dir: PathBuf,
    /// Number of shards.
    pub n: usize,
}

impl Scripts {
    /// What was written and how to submit it (the CLI prints this).
    pub fn summary(&self) -> String {
        format!(
            "wrote {} ({} shard task{} of the {}-point grid), {} and {}\nsubmit with: {}",
            self.sweep.display(),
            self.n,
            if self.n == 1 { "" } else { "s" },
            self.points,
            self.merge.display(),
            self.submit.display(),
            self.submit.display()
        )
    }

    /// The file shard K writes.
    pub fn shard_file(&self, k: usize) -> PathBuf {
        self.shards_dir.join(format!("shard-{k}.h5"))
    }
}

/// Quotes a word for bash when it holds anything but plainly safe characters.
fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=,+@%^".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn utf8(p: &Path, what: &str) -> Result<String, SweepError> {
    p.to_str().map(str::to_string).ok_or_else(|| {
        SweepError::Refused(format!(
            "{what} {} is not valid UTF-8; a job script needs a path it can spell",
            p.display()
        ))
    })
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> SweepError + 'a {
    move |source| SweepError::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

fn absolute(p: &Path, cwd: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// `#SBATCH` lines are split by Slurm, not by a shell, and `%` is Slurm's filename pattern:
/// the script directory must be spelled without spaces, quotes or `%`.
fn check_sbatch_path(p: &Path) -> Result<String, SweepError> {
    let s = utf8(p, "--slurm-dir")?;
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_-./+,@=:".contains(*c)))
    {
        return Err(SweepError::Refused(format!(
            "--slurm-dir {s}: the character `{c}` cannot go into an #SBATCH --output line; use a directory path of letters, digits and `_-./+,@=:`"
        )));
    }
    Ok(s)
}

/// The grid flags as script lines: one flag and its values per line.
fn flag_lines(args: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for a in args {
        match lines.last_mut() {
            Some(l) if !a.starts_with("--") => {
                l.push(' ');
                l.push_str(&sh(a));
            }
            _ => lines.push(sh(a)),
        }
    }
    lines
}

/// Resolves and checks the grid, then writes the scripts (see the module doc).
pub fn write_scripts(f: &SweepPlan) -> Result<Scripts, SweepError> {
    let s = f.slurm.as_ref().ok_or_else(|| {
        SweepError::Refused("write_scripts needs --slurm N (a bug: called without it)".into())
    })?;
    let n = s.n;
    let grid = Grid::build(f)?;
    if n > grid.total {
        return Err(SweepError::Refused(format!(
            "--slurm {n}: the grid has only {} point{}, so at most {} shards have work; use --slurm {}",
            grid.total,
            if grid.total == 1 { "" } else { "s" },
            grid.total,
            grid.total
        )));
    }
    let train = f.train.check().map_err(|violations| SweepError::Settings {
        origin: f.origin.clone(),
        violations,
    })?;
    // The data is checked here too, so that no task fails on a path typo.
    crate::run::dataset(&train)?;
    let threads = train.threads.max(1);
    let per_shard = grid.total.div_ceil(n);
    let cpus = s.cpus.unwrap_or(per_shard.min(DEFAULT_MAX_JOBS) * threads);
    if cpus < threads {
        return Err(SweepError::Refused(format!("--slurm-cpus {cpus} is fewer than --threads {threads}: a task must fit one run; use --slurm-cpus {threads} or more")));
    }
    let jobs = cpus / threads;
    let mem = s
        .mem
        .clone()
        .unwrap_or_else(|| format!("{}G", DEFAULT_MEM_PER_RUN_GB * jobs.min(per_shard)));
    let time = s.time.clone().unwrap_or_else(|| {
        parse_time(DEFAULT_TIME).expect("the default time limit is a valid Slurm time")
    });
    let merge_minutes = time.minutes.unwrap_or(MERGE_MINUTES).min(MERGE_MINUTES);

    let cwd =
        std::env::current_dir().map_err(io(Path::new("."), "reading the working directory"))?;
    let out = absolute(
        &train
            .out
            .clone()
            .unwrap_or_else(|| super::default_out(None)),
        &cwd,
    );
    if out.exists() && !train.force {
        return Err(SweepError::Refused(format!(
            "{}: exists; the merge job would overwrite it: use --force, or another --out",
            out.display()
        )));
    }
    let dir = absolute(
        &s.dir.clone().unwrap_or_else(|| {
            let stem = out
                .file_stem()
                .map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sweep".into());
            out.with_file_name(format!("{stem}-slurm"))
        }),
        &cwd,
    );
    let dir_s = check_sbatch_path(&dir)?;
    let shards_dir = dir.join("shards");
    let logs = dir.join("logs");
    let sweep_path = dir.join("sweep.sbatch");
    let earlier = std::fs::read_dir(&shards_dir)
        .map(|d| d.count() > 0)
        .unwrap_or(false);
    if (sweep_path.exists() || earlier) && !train.force {
        return Err(SweepError::Refused(format!(
            "{}: holds the scripts or shard files of an earlier --slurm; use --force to replace them, or another --slurm-dir",
            dir.display()
        )));
    }
    for d in [&dir, &shards_dir, &logs] {
        std::fs::create_dir_all(d).map_err(io(d, "cannot create"))?;
    }
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent, "cannot create"))?;
    }
    let exe =
        std::env::current_exe().map_err(io(Path::new("npchip"), "finding the binary's path"))?;
    let exe = sh(&utf8(&exe, "the npchip binary")?);
    let out_s = sh(&utf8(&out, "--out")?);
    let cwd_s = sh(&utf8(&cwd, "the working directory")?);
    let name: String = out
        .file_stem()
        .map(|x| x.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let partition = s
        .partition
        .as_ref()
        .map(|p| format!("#SBATCH --partition={p}\n"))
        .unwrap_or_default();
    let shard_word = |k: usize| if k == 1 { "" } else { "s" };
    let mut grid_flags = String::new();
    for l in flag_lines(&f.grid_args()) {
        let _ = writeln!(grid_flags, "    {l} \\");
    }
    let vars: [(&str, String); 17] = [
        ("N", n.to_string()),
        ("LAST", (n - 1).to_string()),
        ("POINTS", grid.total.to_string()),
        ("PER_SHARD", per_shard.to_string()),
        ("DIR", dir_s.clone()),
        ("CWD", cwd_s),
        ("EXE", exe),
        ("OUT", out_s),
        ("NAME", name),
        ("CPUS", cpus.to_string()),
        ("MEM", mem),
        ("TIME", time.text.clone()),
        ("MERGE_TIME", merge_minutes.to_string()),
        ("PARTITION", partition),
        ("RUNS", format!("{jobs} run{} at a time", shard_word(jobs))),
        ("JOBS", jobs.to_string()),
        ("GRID_FLAGS", grid_flags),
    ];
    let fill = |template: &str| {
        vars.iter().fold(template.to_string(), |t, (k, v)| {
            t.replace(&format!("@{k}@"), v)
        })
    };
    let (sweep, merge, submit) = (fill(SWEEP_SBATCH), fill(MERGE_SBATCH), fill(SUBMIT_SH));
    let scripts = Scripts {
        sweep: sweep_path,
        merge: dir.join("merge.sbatch"),
        submit: dir.join("submit.sh"),
        out,
        shards_dir,
        dir,
        n,
        points: grid.total,
    };
    for (path, text) in [
        (&scripts.sweep, &sweep),
        (&scripts.merge, &merge),
        (&scripts.submit, &submit),
    ] {
        write_executable(path, text)?;
    }
    Ok(scripts)
}

fn write_executable(path: &Path, text: &str) -> Result<(), SweepError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(io(path, "cannot write"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(io(path, "cannot make executable"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_times_parse_to_minutes_and_typos_are_refused() {
        let m = |s: &str| parse_time(s).unwrap().minutes;
        assert_eq!(m("30"), Some(30));
        assert_eq!(m("5:30"), Some(6), "seconds round up");
        assert_eq!(m("04:00:00"), Some(240));
        assert_eq!(m("2-12"), Some((2 * 24 + 12) * 60));
        assert_eq!(m("1-00:30"), Some(24 * 60 + 30));
        assert_eq!(m("1-00:00:01"), Some(24 * 60 + 1));
        assert_eq!(m("INFINITE"), None);
        for bad in ["", "0", "1:60", "4h", "1-2-3", "1:2:3:4", "-5", "00:00:00"] {
            let e = parse_time(bad).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(sh("--set"), "--set");
        assert_eq!(sh("device.levels=16"), "device.levels=16");
        assert_eq!(
            sh("update.rounding=\"accumulate\""),
            "'update.rounding=\"accumulate\"'"
        );
        assert_eq!(sh("it's"), "'it'\\''s'");
        assert_eq!(sh(""), "''");
        assert_eq!(
            flag_lines(&["--hidden".into(), "8".into(), "--diagnostics".into()]),
            ["--hidden 8", "--diagnostics"]
        );
    }
}
