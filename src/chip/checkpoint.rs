//! Checkpoints of a chip's state, as plain vectors, so a run can stop and continue bit for bit.
//!
//! State is not scratch: a checkpoint holds what evolves during training (conductances, the
//! mixed-precision accumulate buffers, drift clocks and chip time, float weights of an ideal
//! chip, biases, decorrelator matrices, every random stream's state, the cumulative event
//! counters, the oracle record) and nothing that is recomputed (read matrices, per-batch
//! buffers). Fabrication draws are not stored: they are re-drawn from the seed when the chip
//! is rebuilt from the same run definition, and [`Chip::restore`] checks a fingerprint of them,
//! so a checkpoint can never be restored into a different chip. The output code stores these
//! vectors without touching chip internals.

use super::array_grid::ArrayGrid;
use super::crossbar::Tile;
use super::energy::{Counters, LayerCounters};
use super::network::Chip;

/// Everything [`Chip::restore`] needs, besides a chip built from the same run definition.
#[derive(Clone, Debug, PartialEq)]
pub struct ChipCheckpoint {
    /// Layer widths, input first (checked on restore).
    pub sizes: Vec<usize>,
    /// Injected-noise generator stream state.
    pub injection_stream: [u64; 2],
    /// The chip's record of oracle views handed out.
    pub oracle_uses: Vec<String>,
    /// Per layer.
    pub layers: Vec<LayerCheckpoint>,
}

/// One layer's state.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerCheckpoint {
    /// Digital bias, one per output.
    pub bias: Vec<f32>,
    /// Read-noise stream state of the layer's first physical array.
    pub read_stream: [u64; 2],
    /// Ideal chips only: the float weights of the whole layer, `rows × cols` column-major.
    pub float_weights: Option<Vec<f32>>,
    /// Analog chips only: the first physical array's device state.
    pub devices: Option<DeviceCheckpoint>,
    /// The layer's other physical arrays, in grid order (empty when the layer is one array,
    /// as in every checkpoint written before arrays existed).
    pub more_arrays: Vec<TileState>,
    /// With decorrelation only: R, `d × d` column-major (for an analog decorrelator, R as
    /// programmed; its devices are in `decorrelator_tile`).
    pub decorrelator: Option<Vec<f32>>,
    /// Analog decorrelators only: the first array's state.
    pub decorrelator_tile: Option<TileState>,
    /// Analog decorrelators only: its other arrays, in grid order, block after block (a
    /// block-diagonal R's blocks each have their arrays).
    pub decorrelator_more_arrays: Vec<TileState>,
    /// Update requests the decorrelator has seen (0 without one, and in files written
    /// before `decor_every`/`decor_sample`): where its every-k count and sample stream stand.
    pub decorrelator_requests: u64,
    /// Cumulative event counters, `[phase][counter]` in [`Counters::NAMES`] order.
    pub counters: [[u64; Counters::N]; 4],
}

/// The state of a tile other than a layer's weight tile (an analog decorrelator).
#[derive(Clone, Debug, PartialEq)]
pub struct TileState {
    /// Read-noise stream state.
    pub read_stream: [u64; 2],
    /// Conductance devices (None on an ideal chip: R itself is the float state).
    pub devices: Option<DeviceCheckpoint>,
}

/// A device array's mutable state.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceCheckpoint {
    /// Normalised conductances: g⁺ of every weight, then g⁻ (2n values).
    pub conductances: Vec<f32>,
    /// Sub-pulse remainders of the accumulate rounding mode (n values, or empty).
    pub accumulate: Vec<f32>,
    /// Chip time each device was last programmed, s (2n values with drift, else empty).
    pub t_prog_s: Vec<f32>,
    /// Chip time, s.
    pub now_s: f64,
    /// Programming-noise stream state.
    pub programming_stream: [u64; 2],
    /// Pulse (cycle-to-cycle, stochastic rounding) stream state.
    pub update_stream: [u64; 2],
    /// Hash of the fabrication draws; restore refuses a chip whose draws differ.
    pub fabrication_fingerprint: u64,
}

impl Chip {
    /// The chip's state as plain vectors; see the module docs.
    pub fn checkpoint(&self) -> ChipCheckpoint {
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                let grid = &layer.tile;
                let first = &grid.tiles()[0];
                let devices = device_state(first);
                // An analog decorrelator's arrays, block after block, each block's in grid order.
                let decor_tiles: Vec<&Tile> = layer.decor.as_ref().map_or(Vec::new(), |d| {
                    d.blocks
                        .iter()
                        .filter_map(|b| b.analog.as_deref())
                        .flat_map(|g| g.tiles())
                        .collect()
                });
                LayerCheckpoint {
                    bias: layer.bias.as_slice().to_vec(),
                    read_stream: first.noise_state(),
                    float_weights: devices
                        .is_none()
                        .then(|| grid.weights().as_slice().to_vec()),
                    devices,
                    more_arrays: grid.tiles()[1..].iter().map(tile_state).collect(),
                    decorrelator: layer.decor.as_ref().map(|d| d.r().as_slice().to_vec()),
                    decorrelator_tile: decor_tiles.first().map(|t| tile_state(t)),
                    decorrelator_more_arrays: decor_tiles
                        .iter()
                        .skip(1)
                        .map(|t| tile_state(t))
                        .collect(),
                    decorrelator_requests: layer.decor.as_ref().map_or(0, |d| d.requests),
                    counters: std::array::from_fn(|p| layer.counters.0[p].to_array()),
                }
            })
            .collect();
        ChipCheckpoint {
            sizes: self.config.sizes.clone(),
            injection_stream: self.injection.state(),
            oracle_uses: self.oracle_uses.clone(),
            layers,
        }
    }

    /// A second chip in the same state: same fabrication (rebuilt from the seed), then this
    /// chip's checkpoint restored into it, so its conductances, streams, counters and oracle
    /// record start equal to this one's. What runs on the twin leaves this chip untouched: the
    /// lab measures on it (alignment diagnostics) without changing the run it observes.
    pub fn twin(&self) -> Chip {
        let mut twin = Chip::build_net(&self.model, self.config.clone(), self.net.clone());
        twin.restore(&self.checkpoint())
            .expect("a chip rebuilt from its own definition accepts its own checkpoint");
        twin
    }

    /// Restores a checkpoint into a chip built from the same run definition (same model,
    /// sizes, seed and decorrelation). On error the chip may be partly restored: discard it.
    pub fn restore(&mut self, ck: &ChipCheckpoint) -> Result<(), String> {
        if ck.sizes != self.config.sizes || ck.layers.len() != self.layers.len() {
            return Err(format!(
                "checkpoint is for layer sizes {:?}, this chip has {:?}",
                ck.sizes, self.config.sizes
            ));
        }
        for (l, (layer, c)) in self.layers.iter_mut().zip(&ck.layers).enumerate() {
            let fail = |what: String| format!("layer {l}: {what}");
            if c.bias.len() != layer.bias.len() {
                return Err(fail(format!(
                    "bias has {} values, expected {}",
                    c.bias.len(),
                    layer.bias.len()
                )));
            }
            let analog = layer.tile.is_analog();
            check_arrays(&layer.tile, &c.more_arrays).map_err(fail)?;
            match (analog, &c.devices, &c.float_weights) {
                (true, Some(dc), _) => {
                    restore_devices(&mut layer.tile.tiles_mut()[0], dc).map_err(fail)?;
                    restore_more(&mut layer.tile, &c.more_arrays).map_err(fail)?;
                }
                (false, _, Some(w)) => layer.tile.restore_float(w).map_err(fail)?,
                (true, None, _) => {
                    return Err(fail(
                        "checkpoint has no device state, but the chip has conductance devices"
                            .into(),
                    ))
                }
                (false, _, None) => {
                    return Err(fail(
                        "checkpoint has no float weights, but the chip is ideal".into(),
                    ))
                }
            }
            // Re-derives the read matrices from the restored devices, too.
            layer.tile.tiles_mut()[0].restore_noise(c.read_stream);
            for (t, ts) in layer.tile.tiles_mut()[1..].iter_mut().zip(&c.more_arrays) {
                t.restore_noise(ts.read_stream);
            }
            layer.bias.as_mut_slice().copy_from_slice(&c.bias);
            match (&mut layer.decor, &c.decorrelator) {
                (Some(d), Some(r)) => {
                    d.set_r(r).map_err(fail)?;
                    d.requests = c.decorrelator_requests;
                    let grids: Vec<&mut ArrayGrid> = d
                        .blocks
                        .iter_mut()
                        .filter_map(|b| b.analog.as_deref_mut())
                        .collect();
                    if !grids.is_empty() {
                        let Some(ts) = &c.decorrelator_tile else {
                            return Err(fail(
                                "checkpoint has no analog decorrelator state, but the run has one"
                                    .into(),
                            ));
                        };
                        let states: Vec<&TileState> = std::iter::once(ts)
                            .chain(&c.decorrelator_more_arrays)
                            .collect();
                        let total: usize = grids.iter().map(|g| g.tiles().len()).sum();
                        if states.len() != total {
                            return Err(fail(format!(
                                "decorrelator: checkpoint has {} physical arrays, this chip has {total} (a different [array] geometry or decor_blocks)",
                                states.len()
                            )));
                        }
                        let mut k = 0;
                        for (b, grid) in grids.into_iter().enumerate() {
                            let n = grid.tiles().len();
                            let st = &states[k..k + n];
                            k += n;
                            let dfail = |e: String| fail(format!("decorrelator block {b}: {e}"));
                            if st[0].devices.is_some() {
                                for (a, (t, s)) in grid.tiles_mut().iter_mut().zip(st).enumerate() {
                                    let dc = s.devices.as_ref().ok_or_else(|| {
                                        dfail(format!("array {a}: checkpoint has no device state, but the chip has conductance devices"))
                                    })?;
                                    restore_devices(t, dc)
                                        .map_err(|e| dfail(format!("array {a}: {e}")))?;
                                }
                            }
                            for (t, s) in grid.tiles_mut().iter_mut().zip(st) {
                                t.restore_noise(s.read_stream);
                            }
                        }
                        // Float (ideal-chip) arrays hold R itself: set them from the blocks.
                        for blk in &mut d.blocks {
                            if let Some(g) = blk.analog.as_deref_mut() {
                                if !g.is_analog() {
                                    g.restore_float(blk.r.as_slice()).map_err(fail)?;
                                }
                            }
                        }
                    }
                }
                (None, None) => {}
                (Some(_), None) => {
                    return Err(fail(
                        "checkpoint has no decorrelator, but the run learns one".into(),
                    ))
                }
                (None, Some(_)) => {
                    return Err(fail(
                        "checkpoint has a decorrelator, but the run has none".into(),
                    ))
                }
            }
            layer.counters =
                LayerCounters(std::array::from_fn(|p| Counters::from_array(c.counters[p])));
        }
        self.injection = crate::rng::Stream::from_state(ck.injection_stream);
        self.oracle_uses = ck.oracle_uses.clone();
        Ok(())
    }
}

/// One array's streams and devices.
fn tile_state(t: &Tile) -> TileState {
    TileState {
        read_stream: t.noise_state(),
        devices: device_state(t),
    }
}

/// Refuses a checkpoint whose layer was split over a different number of arrays.
fn check_arrays(grid: &ArrayGrid, more: &[TileState]) -> Result<(), String> {
    let n = grid.tiles().len();
    if more.len() + 1 != n {
        return Err(format!(
            "checkpoint has {} physical arrays, this chip has {n} (a different [array] geometry)",
            more.len() + 1
        ));
    }
    Ok(())
}

/// Restores the devices of arrays 1.. of an analog grid.
fn restore_more(grid: &mut ArrayGrid, more: &[TileState]) -> Result<(), String> {
    for (a, (t, ts)) in grid.tiles_mut()[1..].iter_mut().zip(more).enumerate() {
        let dc = ts.devices.as_ref().ok_or_else(|| {
            format!(
                "array {}: checkpoint has no device state, but the chip has conductance devices",
                a + 1
            )
        })?;
        restore_devices(t, dc).map_err(|e| format!("array {}: {e}", a + 1))?;
    }
    Ok(())
}

/// A tile's device state, None on an ideal chip.
fn device_state(tile: &Tile) -> Option<DeviceCheckpoint> {
    tile.devices().map(|d| {
        let (g, accum, t_prog, now_s) = d.state_vectors();
        let [programming_stream, update_stream] = d.stream_states();
        DeviceCheckpoint {
            conductances: g.to_vec(),
            accumulate: accum.to_vec(),
            t_prog_s: t_prog.to_vec(),
            now_s,
            programming_stream,
            update_stream,
            fabrication_fingerprint: d.fabrication_fingerprint(),
        }
    })
}

/// Restores a tile's devices, refusing a chip whose fabrication draws differ.
fn restore_devices(tile: &mut Tile, dc: &DeviceCheckpoint) -> Result<(), String> {
    let Some(d) = tile.devices_mut() else {
        return Err("checkpoint has device state, but the tile has no devices".into());
    };
    let fp = d.fabrication_fingerprint();
    if fp != dc.fabrication_fingerprint {
        return Err(format!(
            "the rebuilt chip's fabrication draws differ from the checkpointed chip's (fingerprint {fp:016x} ≠ {:016x}): not the same chip model, seed or simulator version",
            dc.fabrication_fingerprint
        ));
    }
    d.restore(
        &dc.conductances,
        &dc.accumulate,
        &dc.t_prog_s,
        dc.now_s,
        [dc.programming_stream, dc.update_stream],
    )
}

#[cfg(test)]
mod tests {
    use crate::chip::{
        presets, Activation, Chip, ChipConfig, DecorConfig, DecorPrecision, DecorRule,
        ForwardTrace, InjectedNoise, Pass, Phase,
    };
    use nalgebra::{DMatrix, DVector};

    fn build(name: &str, seed: u64) -> Chip {
        let model = presets::resolve(name, &[]).unwrap();
        let decorrelation = Some(DecorConfig {
            rule: DecorRule::Plain,
            lr: 1e-2,
            precision: DecorPrecision::F32,
            ..DecorConfig::default()
        });
        let cfg = ChipConfig {
            sizes: vec![6, 5, 3],
            activation: Activation::LeakyRelu { slope: 0.2 },
            decorrelation,
            injected: InjectedNoise::Hidden { sigma: 0.1 },
            seed,
        };
        Chip::build(&model, cfg)
    }

    /// A few steps of reads, updates and decorrelation; returns the outputs bit for bit.
    fn drive(c: &mut Chip) -> Vec<u32> {
        let x = DMatrix::from_fn(6, 4, |i, j| ((i * 7 + j * 3) % 5) as f32 / 5.0);
        let mut t = ForwardTrace::default();
        let mut out = Vec::new();
        for s in 0..3 {
            c.forward(&x, Pass::Noisy, Phase::Perturbation, &mut t);
            out.extend(t.output().iter().map(|v| v.to_bits()));
            for l in 0..c.depth() {
                let (n, d) = (c.sizes()[l + 1], c.sizes()[l]);
                c.decorrelate(l, &t.inputs()[l].clone());
                c.update_layer(
                    l,
                    &DMatrix::from_element(n, d, 0.01 * (s as f32 - 1.0)),
                    &DVector::from_element(n, 0.01),
                );
            }
            c.advance_time(1.0);
        }
        out
    }

    #[test]
    fn restore_continues_bit_for_bit() {
        for name in ["rram", "pcm", "ideal"] {
            let mut a = build(name, 5);
            drive(&mut a);
            let ck = a.checkpoint();
            let want = drive(&mut a);
            let mut b = build(name, 5);
            b.restore(&ck).unwrap();
            assert_eq!(drive(&mut b), want, "{name}");
            assert_eq!(a.counters(), b.counters(), "{name}");
        }
    }

    #[test]
    fn restore_refuses_another_chip() {
        let ck = build("rram", 5).checkpoint();
        let err = build("rram", 6).restore(&ck).unwrap_err();
        assert!(err.contains("fabrication"), "{err}");
        assert!(build("ideal", 5).restore(&ck).is_err());
    }
}
