//! The `checkpoint/` group of a run: the chip's [`ChipCheckpoint`] and the optimiser state
//! after the last finished epoch, written aside and swapped in so a crash mid-write leaves the
//! previous checkpoint intact.

use super::hdf5::OutputError;
use super::runattrs::{attr_u64, attr_u64s};
use super::schema::{self, group, h5err, put_fixed, Attr, CHECKPOINT, CHECKPOINT_NEW};
use crate::chip::{Chip, ChipCheckpoint, Counters, DeviceCheckpoint, LayerCheckpoint, TileState};
use crate::learn::{Learner, OptimizerKind};
use ::hdf5::Group;
use std::path::Path;

/// Optimiser state as stored.
pub(crate) struct OptimizerState {
    pub(crate) kind: String,
    pub(crate) t: u64,
    /// Per layer: (m_w, m_b, v_w, v_b), flat column-major; empty for SGD.
    pub(crate) moments: Vec<[Vec<f32>; 4]>,
}

fn layer_name(l: usize) -> String {
    format!("layer{l}")
}

/// Writes the checkpoint after epoch `epoch` (replacing the previous one).
pub(crate) fn write(
    path: &Path,
    run: &Group,
    epoch: usize,
    chip: &Chip,
    learner: &Learner,
) -> Result<(), OutputError> {
    if run.link_exists(CHECKPOINT_NEW) {
        run.unlink(CHECKPOINT_NEW)
            .map_err(|e| h5err(path, "removing a stale checkpoint_new", e))?;
    }
    let g = run
        .create_group(CHECKPOINT_NEW)
        .map_err(|e| h5err(path, "creating checkpoint_new/", e))?;
    let a = Attr { path };
    let ck = chip.checkpoint();
    a.scalar(&g, "epoch", epoch as u64)?;
    a.array(
        &g,
        "sizes",
        &ck.sizes.iter().map(|&s| s as u64).collect::<Vec<_>>(),
    )?;
    a.array(&g, "injection_stream", &ck.injection_stream)?;
    a.text(&g, "oracle_uses", &ck.oracle_uses.join("\n"))?;
    for (l, lc) in ck.layers.iter().enumerate() {
        let lg = g
            .create_group(&layer_name(l))
            .map_err(|e| h5err(path, format!("creating checkpoint/{}", layer_name(l)), e))?;
        put_fixed(path, &lg, "bias", &[lc.bias.len()], &lc.bias)?;
        a.array(&lg, "read_stream", &lc.read_stream)?;
        let flat: Vec<u64> = lc.counters.iter().flatten().copied().collect();
        put_fixed(path, &lg, "counters", &[4, Counters::N], &flat)?;
        if let Some(w) = &lc.float_weights {
            put_fixed(path, &lg, "float_weights", &[w.len()], w)?;
        }
        if let Some(r) = &lc.decorrelator {
            put_fixed(path, &lg, "decorrelator", &[r.len()], r)?;
            a.scalar(&lg, "decorrelator_requests", lc.decorrelator_requests)?;
        }
        if let Some(d) = &lc.devices {
            write_devices(path, &lg, d)?;
        }
        if let Some(ts) = &lc.decorrelator_tile {
            write_tile(path, &lg, DECOR_TILE, ts)?;
        }
        for (a, ts) in lc.more_arrays.iter().enumerate() {
            write_tile(path, &lg, &format!("{ARRAY}{}", a + 1), ts)?;
        }
        for (a, ts) in lc.decorrelator_more_arrays.iter().enumerate() {
            write_tile(path, &lg, &format!("{DECOR_TILE}_{ARRAY}{}", a + 1), ts)?;
        }
    }
    let o = &learner.optimizer;
    let og = g
        .create_group("optimizer")
        .map_err(|e| h5err(path, "creating checkpoint/optimizer", e))?;
    a.text(&og, "kind", &o.kind.to_string())?;
    a.scalar(&og, "t", o.t)?;
    for (l, ((mw, mb), (vw, vb))) in o.m.iter().zip(&o.v).enumerate() {
        put_fixed(path, &og, &format!("m_w{l}"), &[mw.len()], mw.as_slice())?;
        put_fixed(path, &og, &format!("m_b{l}"), &[mb.len()], mb.as_slice())?;
        put_fixed(path, &og, &format!("v_w{l}"), &[vw.len()], vw.as_slice())?;
        put_fixed(path, &og, &format!("v_b{l}"), &[vb.len()], vb.as_slice())?;
    }
    // Swap in: the old checkpoint stays valid until the new one is complete.
    if run.link_exists(CHECKPOINT) {
        run.unlink(CHECKPOINT)
            .map_err(|e| h5err(path, "removing the previous checkpoint", e))?;
    }
    run.relink(CHECKPOINT_NEW, CHECKPOINT)
        .map_err(|e| h5err(path, "renaming checkpoint_new to checkpoint", e))
}

/// The subgroup of a layer's checkpoint holding its analog decorrelator's tile.
const DECOR_TILE: &str = "decorrelator_tile";
/// Subgroups `array1`, `array2`, … hold a split layer's physical arrays after the first (whose
/// state is in the layer group itself, as before arrays existed); `decorrelator_tile_array1`, …
/// those of a split analog decorrelator.
const ARRAY: &str = "array";

/// One array's streams and devices into subgroup `name` of `lg`.
fn write_tile(path: &Path, lg: &Group, name: &str, ts: &TileState) -> Result<(), OutputError> {
    let tg = lg
        .create_group(name)
        .map_err(|e| h5err(path, format!("creating {}/{name}", lg.name()), e))?;
    Attr { path }.array(&tg, "read_stream", &ts.read_stream)?;
    if let Some(d) = &ts.devices {
        write_devices(path, &tg, d)?;
    }
    Ok(())
}

/// Subgroups `{prefix}1`, `{prefix}2`, … of `lg`, as long as they exist.
fn read_tiles(path: &Path, lg: &Group, prefix: &str) -> Result<Vec<TileState>, OutputError> {
    let mut out = Vec::new();
    while lg.link_exists(&format!("{prefix}{}", out.len() + 1)) {
        let tg = group(path, lg, &format!("{prefix}{}", out.len() + 1))?;
        out.push(TileState {
            read_stream: pair(path, &tg, "read_stream")?,
            devices: read_devices(path, &tg)?,
        });
    }
    Ok(out)
}

/// A device array's state into group `g`: datasets conductances, accumulate, t_prog_s and
/// attributes now_s, programming_stream, update_stream, fabrication_fingerprint.
fn write_devices(path: &Path, g: &Group, d: &DeviceCheckpoint) -> Result<(), OutputError> {
    let a = Attr { path };
    put_fixed(
        path,
        g,
        "conductances",
        &[d.conductances.len()],
        &d.conductances,
    )?;
    if !d.accumulate.is_empty() {
        put_fixed(path, g, "accumulate", &[d.accumulate.len()], &d.accumulate)?;
    }
    if !d.t_prog_s.is_empty() {
        put_fixed(path, g, "t_prog_s", &[d.t_prog_s.len()], &d.t_prog_s)?;
    }
    a.scalar(g, "now_s", d.now_s)?;
    a.array(g, "programming_stream", &d.programming_stream)?;
    a.array(g, "update_stream", &d.update_stream)?;
    a.scalar(g, "fabrication_fingerprint", d.fabrication_fingerprint)
}

/// The device state [`write_devices`] wrote into `g`, or None if it has none.
fn read_devices(path: &Path, g: &Group) -> Result<Option<DeviceCheckpoint>, OutputError> {
    let has_devices = g.link_exists("conductances")
        || g.attr_names()
            .map_err(|e| h5err(path, format!("listing attributes of {}", g.name()), e))?
            .iter()
            .any(|n| n == "fabrication_fingerprint");
    if !has_devices {
        return Ok(None);
    }
    Ok(Some(DeviceCheckpoint {
        conductances: read_vec(path, g, "conductances")?,
        accumulate: opt_vec(path, g, "accumulate")?.unwrap_or_default(),
        t_prog_s: opt_vec(path, g, "t_prog_s")?.unwrap_or_default(),
        now_s: schema::read_attr(path, g, "now_s")?
            .as_f64()
            .ok_or_else(|| schema::bad(path, format!("{}@now_s", g.name()), "is not a number"))?,
        programming_stream: pair(path, g, "programming_stream")?,
        update_stream: pair(path, g, "update_stream")?,
        fabrication_fingerprint: attr_u64(path, g, "fabrication_fingerprint")?,
    }))
}

fn read_vec<T: ::hdf5::H5Type>(path: &Path, g: &Group, name: &str) -> Result<Vec<T>, OutputError> {
    Ok(schema::read_flat::<T>(path, g, name, None)?.0)
}

fn opt_vec(path: &Path, g: &Group, name: &str) -> Result<Option<Vec<f32>>, OutputError> {
    if g.link_exists(name) {
        read_vec(path, g, name).map(Some)
    } else {
        Ok(None)
    }
}

fn pair(path: &Path, g: &Group, name: &str) -> Result<[u64; 2], OutputError> {
    let v = attr_u64s(path, g, name)?;
    v.try_into().map_err(|v: Vec<u64>| {
        schema::bad(
            path,
            format!("{}@{name}", g.name()),
            format!("has {} values, expected 2", v.len()),
        )
    })
}

/// Reads the checkpoint of a run: (epoch, chip state, optimiser state).
pub(crate) fn read(
    path: &Path,
    run: &Group,
) -> Result<(usize, ChipCheckpoint, OptimizerState), OutputError> {
    let g = group(path, run, CHECKPOINT)?;
    let epoch = attr_u64(path, &g, "epoch")? as usize;
    let sizes: Vec<usize> = attr_u64s(path, &g, "sizes")?
        .into_iter()
        .map(|s| s as usize)
        .collect();
    let injection_stream = pair(path, &g, "injection_stream")?;
    let uses = schema::attr_text(path, &g, "oracle_uses")?;
    let oracle_uses = uses
        .split('\n')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let mut layers = Vec::new();
    for l in 0..sizes.len().saturating_sub(1) {
        let lg = group(path, &g, &layer_name(l))?;
        let flat: Vec<u64> = read_vec(path, &lg, "counters")?;
        // Files before `program_requests` hold 9 counters per phase: a prefix of today's.
        let per = flat.len() / 4;
        if !flat.len().is_multiple_of(4) || !(9..=Counters::N).contains(&per) {
            return Err(schema::bad(
                path,
                format!("{}/counters", lg.name()),
                format!(
                    "has {} values, expected 4 × {} (or 4 × 9 from older files)",
                    flat.len(),
                    Counters::N
                ),
            ));
        }
        let counters = std::array::from_fn(|p| {
            std::array::from_fn(|k| if k < per { flat[p * per + k] } else { 0 })
        });
        let devices = read_devices(path, &lg)?;
        let decorrelator_tile = if lg.link_exists(DECOR_TILE) {
            let tg = group(path, &lg, DECOR_TILE)?;
            Some(TileState {
                read_stream: pair(path, &tg, "read_stream")?,
                devices: read_devices(path, &tg)?,
            })
        } else {
            None
        };
        layers.push(LayerCheckpoint {
            bias: read_vec(path, &lg, "bias")?,
            read_stream: pair(path, &lg, "read_stream")?,
            float_weights: opt_vec(path, &lg, "float_weights")?,
            devices,
            more_arrays: read_tiles(path, &lg, ARRAY)?,
            decorrelator: opt_vec(path, &lg, "decorrelator")?,
            decorrelator_tile,
            decorrelator_more_arrays: read_tiles(path, &lg, &format!("{DECOR_TILE}_{ARRAY}"))?,
            // Absent in files before `decor_every`/`decor_sample`, whose runs never skipped or
            // sampled: any count gives them the same updates.
            decorrelator_requests: if lg.attr("decorrelator_requests").is_ok() {
                attr_u64(path, &lg, "decorrelator_requests")?
            } else {
                0
            },
            counters,
        });
    }
    let og = group(path, &g, "optimizer")?;
    let kind = schema::attr_text(path, &og, "kind")?;
    let t = attr_u64(path, &og, "t")?;
    let mut moments = Vec::new();
    if kind == "adam" {
        for l in 0..layers.len() {
            moments.push([
                read_vec(path, &og, &format!("m_w{l}"))?,
                read_vec(path, &og, &format!("m_b{l}"))?,
                read_vec(path, &og, &format!("v_w{l}"))?,
                read_vec(path, &og, &format!("v_b{l}"))?,
            ]);
        }
    }
    Ok((
        epoch,
        ChipCheckpoint {
            sizes,
            injection_stream,
            oracle_uses,
            layers,
        },
        OptimizerState { kind, t, moments },
    ))
}

/// Restores the optimiser state into a freshly built learner.
pub(crate) fn restore_optimizer(learner: &mut Learner, st: &OptimizerState) -> Result<(), String> {
    let o = &mut learner.optimizer;
    let name = o.kind.to_string();
    if st.kind != name {
        return Err(format!(
            "checkpointed optimiser is {}, the run uses {name}",
            st.kind
        ));
    }
    o.t = st.t;
    if o.kind == OptimizerKind::Adam {
        if st.moments.len() != o.m.len() {
            return Err(format!(
                "optimiser state has {} layers, expected {}",
                st.moments.len(),
                o.m.len()
            ));
        }
        for (l, mom) in st.moments.iter().enumerate() {
            let (mw, mb) = &mut o.m[l];
            let (vw, vb) = &mut o.v[l];
            fill(mw.as_mut_slice(), &mom[0], l)?;
            fill(mb.as_mut_slice(), &mom[1], l)?;
            fill(vw.as_mut_slice(), &mom[2], l)?;
            fill(vb.as_mut_slice(), &mom[3], l)?;
        }
    }
    Ok(())
}

/// Copies one optimiser moment of layer `l` (a matrix's or vector's storage) from a checkpoint.
fn fill(dst: &mut [f32], src: &[f32], l: usize) -> Result<(), String> {
    if dst.len() != src.len() {
        return Err(format!(
            "layer {l}: optimiser moment has {} values, expected {}",
            src.len(),
            dst.len()
        ));
    }
    dst.copy_from_slice(src);
    Ok(())
}
