//! The `--slurm*` flags of `npchip sweep`: clap splits and checks their syntax here (so a typo
//! fails at the login node), and [`SlurmArgs::plan`] hands the library a typed
//! [`crate::sweep::SlurmPlan`].

use crate::sweep::slurm::{parse_time, SlurmTime};
use crate::sweep::SlurmPlan;
use clap::Args;
use std::path::PathBuf;

/// The `--slurm` flags of `npchip sweep`.
#[derive(Debug, Clone, Default, Args)]
pub struct SlurmArgs {
    /// Write a Slurm job array of N shards plus a merge job instead of running the sweep
    /// (docs/sweeps.md).
    #[arg(long, value_name = "N", value_parser = parse_positive, conflicts_with_all = ["shard", "jobs"], help_heading = "Slurm")]
    pub slurm: Option<usize>,
    /// Directory for the scripts, shard files and logs (default: `<out stem>-slurm/` beside
    /// --out).
    #[arg(long, value_name = "DIR", requires = "slurm", help_heading = "Slurm")]
    pub slurm_dir: Option<PathBuf>,
    /// Partition(s) for the jobs (`sbatch --partition`; default: the cluster's default).
    #[arg(long, value_name = "NAME", value_parser = parse_partition, requires = "slurm", help_heading = "Slurm")]
    pub slurm_partition: Option<String>,
    /// Time limit per shard task, in Slurm's format: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM,
    /// D-HH:MM:SS (default 04:00:00).
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "slurm", help_heading = "Slurm")]
    pub slurm_time: Option<SlurmTime>,
    /// CPUs per shard task; the task runs CPUs / --threads runs at a time (default: the
    /// shard's runs, at most 8, × --threads).
    #[arg(long, value_name = "N", value_parser = parse_positive, requires = "slurm", help_heading = "Slurm")]
    pub slurm_cpus: Option<usize>,
    /// Memory per shard task (`sbatch --mem`): a number with an optional K, M, G or T suffix
    /// (default: 2G per parallel run).
    #[arg(long, value_name = "SIZE", value_parser = parse_mem, requires = "slurm", help_heading = "Slurm")]
    pub slurm_mem: Option<String>,
}

impl SlurmArgs {
    /// The typed plan, or None without `--slurm`.
    pub fn plan(&self) -> Option<SlurmPlan> {
        Some(SlurmPlan {
            n: self.slurm?,
            dir: self.slurm_dir.clone(),
            partition: self.slurm_partition.clone(),
            time: self.slurm_time.clone(),
            cpus: self.slurm_cpus,
            mem: self.slurm_mem.clone(),
        })
    }
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a whole number ≥ 1, got `{s}`")),
    }
}

fn parse_partition(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.,".contains(c))
    {
        Ok(s.to_string())
    } else {
        Err(format!(
            "expected a partition name (letters, digits, `_-.`; several separated by commas), got `{s}`"
        ))
    }
}

fn parse_mem(s: &str) -> Result<String, String> {
    let digits = s.trim_end_matches(['K', 'M', 'G', 'T']);
    let suffix_ok = s.len() - digits.len() <= 1;
    match digits.parse::<u64>() {
        Ok(n) if n > 0 && suffix_ok => Ok(s.to_string()),
        _ => Err(format!(
            "expected a memory size as Slurm's --mem takes it: a whole number ≥ 1 with an optional K, M, G or T suffix (e.g. 4G, 500M), got `{s}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_and_partition_values_are_checked() {
        assert_eq!(parse_mem("4G").unwrap(), "4G");
        assert_eq!(parse_mem("500").unwrap(), "500");
        for bad in ["", "0G", "4GB", "4 G", "G", "-1"] {
            assert!(parse_mem(bad).is_err(), "{bad}");
        }
        assert!(parse_partition("gpu,cpu-long").is_ok());
        assert!(parse_partition("a b").is_err());
        assert!(parse_partition("x;rm").is_err());
    }
}
