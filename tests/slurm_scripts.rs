//! `npchip sweep --slurm` without a cluster: the scripts are written only for a valid grid and
//! carry it exactly; `npchip merge` names the shards of absent files and unfinished runs.

use crate::slurm::GRID;
use npchip::cli::{Cli, Command as Cmd};
use npchip::output::hdf5::read_runs;
use npchip::output::merge::merge_with_hint;
use npchip::sweep::{self, slurm::write_scripts, SweepPlan};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `npchip sweep ARGS` parsed as the command line would parse it, as the library's plan.
fn sweep_args<S: AsRef<str>>(args: &[S]) -> SweepPlan {
    use clap::Parser;
    let argv = ["npchip", "sweep"]
        .into_iter()
        .chain(args.iter().map(AsRef::as_ref));
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    match Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .command
    {
        Cmd::Sweep(a) => a.plan().unwrap_or_else(|e| panic!("{args:?}: {e}")),
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
    let r = sweep_args(&typed);
    let args: Vec<String> = r.grid_args();
    for per_invocation in ["--config", "--shard", "--out", "x.h5"] {
        assert!(!args.iter().any(|a| a == per_invocation), "{args:?}");
    }
    // The typed --epochs replaced the file's.
    assert!(args.windows(2).any(|w| w == ["--epochs", "1"]), "{args:?}");
    assert!(!args.iter().any(|a| a == "7"), "{args:?}");
    let again = sweep_args(&args);
    assert_eq!(again.shared_settings(), r.shared_settings());
    assert_eq!(
        sweep::grid::Grid::build(&again).unwrap().definition,
        sweep::grid::Grid::build(&r).unwrap().definition
    );
    // In the script, the quotes of the `set` value survive the shell.
    let out = tmp.path().join("t.h5");
    let s = write_scripts(&sweep_args(&[
        "--config",
        p,
        "--out",
        out.to_str().unwrap(),
        "--slurm",
        "2",
    ]))
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
