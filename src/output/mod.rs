//! Output: the terminal, HDF5 result files, reports.

pub mod hdf5;
pub mod merge;
pub mod progress;
mod reader;
pub mod report;
mod resume;
mod schema;
mod traces;
mod writer;

use crate::cli::TrainArgs;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// How much hardware detail goes into the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum TraceLevel {
    /// Learning curves and counters only.
    None,
    /// Plus per-layer histograms (conductances, pulse counts, ADC inputs) per epoch.
    #[default]
    Summary,
    /// Plus per-device pulse totals and sampled conductance snapshots per epoch.
    Full,
}

/// Sets a flag on the first Ctrl-C so the loop finishes its batch and the file closes cleanly;
/// a second Ctrl-C exits at once.
pub fn install_interrupt() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if s.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing this batch and closing the file (Ctrl-C again to abort)");
    });
    stop
}

/// `npchip train`: runs and writes the result file.
pub fn train_to_file(args: &TrainArgs, quiet: bool) -> anyhow::Result<()> {
    let spec = args.to_spec()?;
    let data = args.dataset()?;
    let (mut chip, mut learner) = spec.build(&data);
    let stop = install_interrupt();
    let mut obs = progress::Terminal::new(quiet, &spec, &data);
    crate::train::run(&spec.loop_config(), &mut chip, &mut learner, &data, 1, &mut obs, &stop)?;
    Ok(())
}
