//! Reading result files back: every run's attributes and per-epoch arrays, typed.
//!
//! The reader is what `report`, `merge` and the tests use; it needs only the file. Missing
//! optional parts (no diagnostics, no traces) read as `None`; a missing required part is an
//! [`OutputError::Schema`] naming the object.

use super::hdf5::{AttrValue, Attrs, OutputError, RunStatus};
use super::schema::{self, group, h5err, read_attrs, read_flat, EPOCHS, STEPS, TRACES};
use crate::chip::energy::LayerCounters;
use crate::chip::{Counters, Energy};
use ::hdf5::Group;
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
    let file = open(path)?;
    read_attrs(path, &file)
}

/// Every run in the file, sorted by name.
pub fn read_runs(path: &Path) -> Result<Vec<RunRecord>, OutputError> {
    let file = open(path)?;
    let runs = group(path, &file, "runs")?;
    let mut names = runs
        .member_names()
        .map_err(|e| h5err(path, "listing /runs", e))?;
    names.sort();
    names
        .iter()
        .map(|n| read_group(path, &group(path, &runs, n)?, n))
        .collect()
}

/// One run.
pub fn read_run(path: &Path, name: &str) -> Result<RunRecord, OutputError> {
    let file = open(path)?;
    let runs = group(path, &file, "runs")?;
    read_group(path, &group(path, &runs, name)?, name)
}

fn open(path: &Path) -> Result<::hdf5::File, OutputError> {
    if !path.is_file() {
        return Err(OutputError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let file = ::hdf5::File::open(path).map_err(|e| h5err(path, "opening", e))?;
    schema::close_on_exec(path);
    super::writer::check_schema(path, &file)?;
    Ok(file)
}

/// Splits a flat row-major vector into `rows` rows of `width`.
fn rows_of<T: Clone>(v: &[T], rows: usize, width: usize) -> Vec<Vec<T>> {
    (0..rows)
        .map(|r| v[r * width..(r + 1) * width].to_vec())
        .collect()
}

fn read_group(path: &Path, run: &Group, name: &str) -> Result<RunRecord, OutputError> {
    let attrs = read_attrs(path, run)?;
    let text = |k: &str| {
        attrs
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let status = RunStatus::from_parts(&text("status"), &text("status_message"));
    let layers = schema::attr_int(path, run, "n_layers")? as usize;
    let ep = group(path, run, EPOCHS)?;
    // The `epoch` dataset is written last in a row: its length is the number of whole rows.
    let (epoch, _) = read_flat::<u32>(path, &ep, "epoch", Some(&[]))?;
    let n = epoch.len();
    let col_f64 = |k: &str| -> Result<Vec<f64>, OutputError> {
        Ok(read_flat::<f64>(path, &ep, k, Some(&[]))?
            .0
            .into_iter()
            .take(n)
            .collect())
    };
    let col_u64 = |k: &str| -> Result<Vec<u64>, OutputError> {
        Ok(read_flat::<u64>(path, &ep, k, Some(&[]))?
            .0
            .into_iter()
            .take(n)
            .collect())
    };
    let counters = |k: &str| -> Result<Vec<Vec<LayerCounters>>, OutputError> {
        // Older files hold fewer counters, a prefix of today's columns: 9 before
        // `program_requests`, 10 before the `int_*` counters of fixed-point work.
        let per = match ep.dataset(k).ok().and_then(|d| d.shape().get(3).copied()) {
            Some(p @ (9 | 10)) => p,
            _ => Counters::N,
        };
        let (v, shape) = read_flat::<u64>(path, &ep, k, Some(&[layers, 4, per]))?;
        check_rows(path, &ep, k, &shape, n)?;
        Ok((0..n)
            .map(|e| {
                (0..layers)
                    .map(|l| {
                        LayerCounters(std::array::from_fn(|p| {
                            Counters::from_array(std::array::from_fn(|c| {
                                if c < per {
                                    v[((e * layers + l) * 4 + p) * per + c]
                                } else {
                                    0
                                }
                            }))
                        }))
                    })
                    .collect()
            })
            .collect())
    };
    let energy = |k: &str| -> Result<Vec<Vec<[Energy; 4]>>, OutputError> {
        let (v, shape) = read_flat::<f64>(path, &ep, k, Some(&[layers, 4, 5]))?;
        check_rows(path, &ep, k, &shape, n)?;
        Ok((0..n)
            .map(|e| {
                (0..layers)
                    .map(|l| {
                        std::array::from_fn(|p| {
                            let o = ((e * layers + l) * 4 + p) * 5;
                            Energy {
                                mac_pj: v[o],
                                dac_pj: v[o + 1],
                                adc_pj: v[o + 2],
                                write_pj: v[o + 3],
                                digital_pj: v[o + 4],
                            }
                        })
                    })
                    .collect()
            })
            .collect())
    };
    let per_layer = |k: &str| -> Result<Vec<Vec<f32>>, OutputError> {
        let (v, shape) = read_flat::<f32>(path, &ep, k, Some(&[layers]))?;
        check_rows(path, &ep, k, &shape, n)?;
        Ok(rows_of(&v, n, layers))
    };
    let (sat, shape) = read_flat::<f64>(path, &ep, "saturation_rate", Some(&[layers, 4]))?;
    check_rows(path, &ep, "saturation_rate", &shape, n)?;
    let epochs = EpochSeries {
        train_loss: col_f64("train_loss")?,
        train_acc: col_f64("train_acc")?,
        test_loss: col_f64("test_loss")?,
        test_acc: col_f64("test_acc")?,
        samples: col_u64("samples")?,
        skipped: col_u64("skipped")?,
        train_seconds: col_f64("train_seconds")?,
        epoch_seconds: col_f64("epoch_seconds")?,
        samples_per_second: col_f64("samples_per_second")?,
        counters: counters("counters")?,
        eval_counters: counters("eval_counters")?,
        energy: energy("energy_pj")?,
        eval_energy: energy("eval_energy_pj")?,
        saturation_rate: (0..n)
            .map(|e| {
                (0..layers)
                    .map(|l| std::array::from_fn(|p| sat[(e * layers + l) * 4 + p]))
                    .collect()
            })
            .collect(),
        update_norm: per_layer("update_norm")?,
        alignment: if ep.link_exists("alignment") {
            Some(per_layer("alignment")?)
        } else {
            None
        },
        decorrelation: if ep.link_exists("decorrelation") {
            Some(per_layer("decorrelation")?)
        } else {
            None
        },
        epoch,
    };
    for (k, len) in [
        ("train_loss", epochs.train_loss.len()),
        ("test_acc", epochs.test_acc.len()),
        ("samples", epochs.samples.len()),
    ] {
        if len < n {
            return Err(schema::bad(
                path,
                schema::join(&ep.name(), k),
                format!("has {len} rows, `epoch` has {n}"),
            ));
        }
    }
    let steps = if run.link_exists(STEPS) {
        let st = group(path, run, STEPS)?;
        let (step, _) = read_flat::<u64>(path, &st, "step", Some(&[]))?;
        let m = step.len();
        let take = |mut v: Vec<f64>| {
            v.truncate(m);
            v
        };
        StepSeries {
            epoch: read_flat::<u32>(path, &st, "epoch", Some(&[]))?
                .0
                .into_iter()
                .take(m)
                .collect(),
            loss: take(read_flat::<f64>(path, &st, "loss", Some(&[]))?.0),
            acc: take(read_flat::<f64>(path, &st, "acc", Some(&[]))?.0),
            step,
        }
    } else {
        StepSeries::default()
    };
    let traces = if run.link_exists(TRACES) {
        read_traces(path, &group(path, run, TRACES)?, layers, n)?
    } else {
        Vec::new()
    };
    Ok(RunRecord {
        name: name.to_string(),
        status,
        attrs,
        epochs,
        steps,
        traces,
    })
}

fn check_rows(
    path: &Path,
    g: &Group,
    name: &str,
    shape: &[usize],
    n: usize,
) -> Result<(), OutputError> {
    if shape.first().is_some_and(|&r| r < n) {
        return Err(schema::bad(
            path,
            schema::join(&g.name(), name),
            format!("has {} rows, `epoch` has {n}", shape[0]),
        ));
    }
    Ok(())
}

fn edges_attr(path: &Path, ds: &::hdf5::Dataset) -> Result<Vec<f64>, OutputError> {
    match schema::read_attr(path, ds, "edges")? {
        AttrValue::Floats(v) => Ok(v),
        AttrValue::Ints(v) => Ok(v.into_iter().map(|x| x as f64).collect()),
        other => Err(schema::bad(
            path,
            format!("{}@edges", ds.name()),
            format!("should be an array, is {other}"),
        )),
    }
}

fn read_traces(
    path: &Path,
    tr: &Group,
    layers: usize,
    n: usize,
) -> Result<Vec<LayerTraceSeries>, OutputError> {
    let (maxes, shape) = read_flat::<u64>(path, tr, "max_pulses_per_device", Some(&[layers]))?;
    check_rows(path, tr, "max_pulses_per_device", &shape, n)?;
    let (means, shape) = read_flat::<f64>(path, tr, "mean_pulses_per_device", Some(&[layers]))?;
    check_rows(path, tr, "mean_pulses_per_device", &shape, n)?;
    let mut out = Vec::new();
    for l in 0..layers {
        let lg = group(path, tr, &format!("layer{l}"))?;
        let mut s = LayerTraceSeries {
            layer: l,
            max_pulses_per_device: (0..n).map(|e| maxes[e * layers + l]).collect(),
            mean_pulses_per_device: (0..n).map(|e| means[e * layers + l]).collect(),
            ..Default::default()
        };
        if lg.link_exists("adc_hist") {
            let ds = schema::dataset(path, &lg, "adc_hist")?;
            s.adc_edges = edges_attr(path, &ds)?;
            let bins = s.adc_edges.len().saturating_sub(1);
            let (v, shape) = read_flat::<u64>(path, &lg, "adc_hist", Some(&[bins]))?;
            check_rows(path, &lg, "adc_hist", &shape, n)?;
            s.adc_hist = rows_of(&v, n, bins);
        }
        let two = |name: &str, bins: usize| -> Result<Vec<[Vec<u64>; 2]>, OutputError> {
            let (v, shape) = read_flat::<u64>(path, &lg, name, Some(&[2, bins]))?;
            check_rows(path, &lg, name, &shape, n)?;
            Ok((0..n)
                .map(|e| {
                    std::array::from_fn(|h| v[(e * 2 + h) * bins..(e * 2 + h + 1) * bins].to_vec())
                })
                .collect())
        };
        if lg.link_exists("conductance_hist") {
            s.conductance_edges =
                edges_attr(path, &schema::dataset(path, &lg, "conductance_hist")?)?;
            s.conductance_hist = two(
                "conductance_hist",
                s.conductance_edges.len().saturating_sub(1),
            )?;
        }
        if lg.link_exists("pulse_hist") {
            s.pulse_edges = edges_attr(path, &schema::dataset(path, &lg, "pulse_hist")?)?
                .into_iter()
                .map(|x| x as u64)
                .collect();
            s.pulse_hist = two("pulse_hist", s.pulse_edges.len().saturating_sub(1))?;
        }
        out.push(s);
    }
    Ok(out)
}
