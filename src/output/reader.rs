//! Reading result files back: every run's attributes and per-epoch arrays, typed.
//!
//! The reader is what `report`, `merge` and the tests use; it needs only the file. Missing
//! optional parts (no diagnostics, no traces) read as `None`; a missing required part is an
//! [`OutputError::Schema`] naming the object.

use super::hdf5::{Attrs, OutputError, RunStatus};
use crate::chip::energy::LayerCounters;
use crate::chip::Energy;
use std::path::Path;

/// One run as stored: what defines it, how it ended, and its curves.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// Group name under `/runs`.
    pub name: String,
    /// `status` + `status_message`.
    pub status: RunStatus,
    /// Every attribute of the run group (`rule`, `oracle`, `chip.device.levels`, `lr`, ...).
    pub attrs: Attrs,
    /// Per-epoch arrays (finished epochs only).
    pub epochs: EpochSeries,
    /// Per-step log (empty without `--log-every`).
    pub steps: StepSeries,
    /// Per-layer hardware traces (empty with `--trace none` or on ideal layers).
    pub traces: Vec<LayerTraceSeries>,
}

/// The `epochs/` datasets; the outer index of every field is the epoch row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochSeries {
    /// 1-based epoch numbers.
    pub epoch: Vec<u32>,
    /// Mean training loss.
    pub train_loss: Vec<f64>,
    /// Training accuracy (first pass, before each step's update).
    pub train_acc: Vec<f64>,
    /// Test loss through the chip.
    pub test_loss: Vec<f64>,
    /// Test accuracy through the chip.
    pub test_acc: Vec<f64>,
    /// Training samples.
    pub samples: Vec<u64>,
    /// Samples without a perturbation (no update).
    pub skipped: Vec<u64>,
    /// Wall time of the training part, s.
    pub train_seconds: Vec<f64>,
    /// Wall time of the whole epoch (training, diagnostics, evaluation, writing), s.
    pub epoch_seconds: Vec<f64>,
    /// samples / train_seconds.
    pub samples_per_second: Vec<f64>,
    /// `[epoch][layer]` training counters per phase.
    pub counters: Vec<Vec<LayerCounters>>,
    /// `[epoch][layer]` evaluation counters per phase.
    pub eval_counters: Vec<Vec<LayerCounters>>,
    /// `[epoch][layer][phase]` training energy, pJ.
    pub energy: Vec<Vec<[Energy; 4]>>,
    /// `[epoch][layer][phase]` evaluation energy, pJ.
    pub eval_energy: Vec<Vec<[Energy; 4]>>,
    /// `[epoch][layer][phase]` adc_saturations / adc_conversions of training (0 when none).
    pub saturation_rate: Vec<Vec<[f64; 4]>>,
    /// `[epoch][layer]` ‖ΔW‖ of the epoch's last step.
    pub update_norm: Vec<Vec<f32>>,
    /// `[epoch][layer]` gradient alignment (with `--diagnostics`).
    pub alignment: Option<Vec<Vec<f32>>>,
    /// `[epoch][layer]` mean |off-diagonal input correlation| (with `--diagnostics`).
    pub decorrelation: Option<Vec<Vec<f32>>>,
}

impl EpochSeries {
    /// Finished epochs.
    pub fn len(&self) -> usize {
        self.epoch.len()
    }

    /// True when no epoch finished.
    pub fn is_empty(&self) -> bool {
        self.epoch.is_empty()
    }

    /// Training energy per training sample of epoch row `e`, by phase, pJ (summed over layers).
    pub fn energy_per_sample_by_phase(&self, e: usize) -> [f64; 4] {
        let n = self.samples[e].max(1) as f64;
        std::array::from_fn(|p| self.energy[e].iter().map(|l| l[p].total_pj()).sum::<f64>() / n)
    }
}

/// The `steps/` datasets (with `--log-every N`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepSeries {
    /// Global step (1-based).
    pub step: Vec<u64>,
    /// Epoch of the step.
    pub epoch: Vec<u32>,
    /// Mean loss since the previous logged step.
    pub loss: Vec<f64>,
    /// Accuracy since the previous logged step.
    pub acc: Vec<f64>,
}

/// One layer's `traces/layer<L>/` datasets; outer index = epoch row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerTraceSeries {
    /// Layer index.
    pub layer: usize,
    /// Bin edges of the conductance histograms (g / nominal g_max), `bins + 1`.
    pub conductance_edges: Vec<f64>,
    /// `[epoch][0 = g⁺, 1 = g⁻][bin]` device counts at the end of the epoch.
    pub conductance_hist: Vec<[Vec<u64>; 2]>,
    /// Bin edges of the pulse-count histograms (pulses per device per epoch), `bins + 1`.
    pub pulse_edges: Vec<u64>,
    /// `[epoch][0 = up, 1 = down][bin]` device counts.
    pub pulse_hist: Vec<[Vec<u64>; 2]>,
    /// `[epoch]` most pulses (up + down) any one device received in the epoch.
    pub max_pulses_per_device: Vec<u64>,
    /// `[epoch]` mean pulses (up + down) per device in the epoch.
    pub mean_pulses_per_device: Vec<f64>,
    /// Bin edges of the ADC-input histogram (normalised ADC units), when the chip has an ADC.
    pub adc_edges: Vec<f64>,
    /// `[epoch][bin]` ADC inputs seen in the epoch (training and evaluation reads).
    pub adc_hist: Vec<Vec<u64>>,
}

/// Root attributes of a file (`npchip_version`, `schema_version`, `command_line`, ...).
pub fn read_root_attrs(path: &Path) -> Result<Attrs, OutputError> {
    let _ = path;
    todo!()
}

/// Every run in the file, sorted by name.
pub fn read_runs(path: &Path) -> Result<Vec<RunRecord>, OutputError> {
    let _ = path;
    todo!()
}

/// One run.
pub fn read_run(path: &Path, name: &str) -> Result<RunRecord, OutputError> {
    let _ = (path, name);
    todo!()
}
