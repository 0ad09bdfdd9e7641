//! The chip as a network: per layer, decorrelator → crossbar arrays (`array_grid.rs`) →
//! digital partial sums, bias → activation.
//!
//! The [`Chip`] is the lab's handle on the hardware (build, forward passes, checkpoints,
//! telemetry, counters). A learning rule never gets it: it gets a [`super::Port`], which
//! forwards only [`Chip::forward`] (what the ADCs measured, and the inputs each layer saw),
//! [`Chip::update_layer`] (the programming circuit), [`Chip::decorrelate`] and
//! [`Chip::count_digital`] (the controller's own arithmetic, so it is priced). The fields here
//! are private to `crate::chip`: nothing outside it reads a noise sample or a conductance.

use super::array_grid::ArrayGrid;
use super::conv::{im2col, pool_forward, reshape, shape_to, LayerGeom, Network};
pub use super::decorrelator::DecorConfig;
use super::decorrelator::Decorrelator;
use super::energy::{LayerCounters, Phase};
use super::model::ChipModel;
use crate::linalg::{copy_into, for_pieces, for_pieces2, piece_cols, PIECE};
use crate::rng::{Purpose, Stream};
use nalgebra::{DMatrix, DVector};
use rand_distr::{Distribution, StandardNormal};
use std::sync::atomic::{AtomicU64, Ordering};

/// The hidden-layer nonlinearity (a digital or analog neuron circuit after the ADC).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// max(a, slope·a); the paper uses slope 0.2.
    LeakyRelu {
        /// Slope for a < 0.
        slope: f32,
    },
}

impl Activation {
    /// f(a).
    #[inline]
    pub fn apply(self, a: f32) -> f32 {
        match self {
            Activation::LeakyRelu { slope } => {
                if a > 0.0 {
                    a
                } else {
                    slope * a
                }
            }
        }
    }

    /// f'(a).
    #[inline]
    pub fn derivative(self, a: f32) -> f32 {
        match self {
            Activation::LeakyRelu { slope } => {
                if a > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
        }
    }
}

/// A noise source added to every pre-activation in noisy passes (a noise-generator circuit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InjectedNoise {
    /// No injected noise: the chip's own read noise is the only perturbation.
    None,
    /// Gaussian, std σ, that no rule can read (ANP-type rules only).
    Hidden {
        /// Std, in pre-activation units.
        sigma: f32,
    },
    /// Gaussian, std σ, whose samples an oracle may read (needed by NP and INP).
    Readable {
        /// Std, in pre-activation units.
        sigma: f32,
    },
}

impl InjectedNoise {
    /// σ of the source (0 when none).
    pub fn sigma(&self) -> f32 {
        match *self {
            InjectedNoise::None => 0.0,
            InjectedNoise::Hidden { sigma } | InjectedNoise::Readable { sigma } => sigma,
        }
    }
}

/// Which kind of forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Injected noise off (the chip's read noise is still there).
    Clean,
    /// Injected noise on in every layer.
    Noisy,
    /// Injected noise on in one layer only (INP).
    NoisyLayer(usize),
}

/// What the chip is built with besides its model.
#[derive(Clone, Debug, PartialEq)]
pub struct ChipConfig {
    /// Layer widths, input first: `[784, 1000, 10]`.
    pub sizes: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Decorrelation circuits (None: R = I, not simulated).
    pub decorrelation: Option<DecorConfig>,
    /// Injected noise source.
    pub injected: InjectedNoise,
    /// Run seed: every random stream derives from it.
    pub seed: u64,
}

pub(super) struct Layer {
    pub(super) decor: Option<Decorrelator>,
    /// The layer's weights on its grid of physical arrays (one array when unbounded).
    pub(in crate::chip) tile: ArrayGrid,
    pub(super) bias: DVector<f32>,
    pub(super) counters: LayerCounters,
    /// Dense, or a convolution read patch by patch.
    pub(super) geom: LayerGeom,
    /// Scratch, never state: the batch's patches (im2col) before the decorrelator, and a
    /// pooled layer's activations before the pool.
    pub(super) patches: DMatrix<f32>,
    pub(super) act: DMatrix<f32>,
}

/// The measured result of one forward pass, reused across passes to avoid allocation.
///
/// It remembers which chip filled it, so an [`super::Oracle`] refuses to read the injected
/// noise of a trace that another chip filled.
#[derive(Default)]
pub struct ForwardTrace {
    pub(super) inputs: Vec<DMatrix<f32>>,
    pub(super) pre: Vec<DMatrix<f32>>,
    pub(super) post: Vec<DMatrix<f32>>,
    /// Injected noise samples; readable only through an [`super::Oracle`].
    pub(super) injected: Vec<DMatrix<f32>>,
    /// [`Chip`] id of the chip that last filled it (0: never filled).
    pub(super) chip_id: u64,
}

impl ForwardTrace {
    /// Per layer, the input x_l it saw (after its decorrelator), `d_l × B`.
    pub fn inputs(&self) -> &[DMatrix<f32>] {
        &self.inputs
    }
    /// Per layer, the measured pre-activation a_l (ADC reading + bias + injected noise), `N_l × B`.
    pub fn pre(&self) -> &[DMatrix<f32>] {
        &self.pre
    }
    /// The measured pre-activations, writable: a controller may reuse its own copy of the
    /// measurements as scratch (ANP writes δa over pass (2)). The next pass overwrites them.
    pub fn pre_mut(&mut self) -> &mut [DMatrix<f32>] {
        &mut self.pre
    }
    /// The network output (the last layer's pre-activation: logits), `N_L × B`.
    pub fn output(&self) -> &DMatrix<f32> {
        self.pre.last().expect("a chip has at least one layer")
    }
}

/// A simulated chip: the only owner of tiles, noise streams and counters.
pub struct Chip {
    pub(super) model: ChipModel,
    pub(super) config: ChipConfig,
    pub(super) layers: Vec<Layer>,
    pub(super) injection: Stream,
    pub(super) oracle_uses: Vec<String>,
    /// The layers' geometry (all dense for [`Chip::build`]).
    pub(super) net: Network,
    /// Unique per chip built in this process: ties traces and oracles to their chip.
    pub(super) id: u64,
}

/// Patches per patch a conv layer's decorrelator update learns from: it takes every s-th
/// column of the batch's patch matrix, s the smallest integer ≥ 10 coprime with the positions
/// per sample P, so that the ≈ 10 % sample (the fraction of the authors' group code) walks
/// over every position across the batch instead of repeating the same few (with P = 1024, s
/// = 10 would only ever pick even columns). Deterministic, so it needs no stream and no state.
pub fn patch_stride(positions: usize) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    (10..)
        .find(|&s| gcd(s, positions) == 1)
        .expect("a coprime exists")
}

/// Source of [`Chip`] ids (0 is never handed out: it marks an unfilled trace).
static NEXT_CHIP_ID: AtomicU64 = AtomicU64::new(1);

impl Chip {
    /// Fabricates an all-dense chip of widths `config.sizes` and programs He-normal initial
    /// weights (zero bias, R = I).
    pub fn build(model: &ChipModel, config: ChipConfig) -> Chip {
        assert!(
            config.sizes.len() >= 2,
            "a chip needs an input size and at least one layer"
        );
        let net = Network::dense(&config.sizes);
        Chip::build_net(model, config, net)
    }

    /// Fabricates a chip of the layer kinds in `net` (see [`super::NetSpec::resolve`]);
    /// `config.sizes` is replaced by `net.sizes()` (input features, then nodes per sample of
    /// each layer). A conv layer's kernel (out_ch × in_ch·k²) is a weight matrix like any
    /// other: He-normal over its fan-in in_ch·k², split over arrays by the same geometry.
    pub fn build_net(model: &ChipModel, mut config: ChipConfig, net: Network) -> Chip {
        config.sizes = net.sizes();
        let mut init = Stream::new(config.seed, 0, Purpose::Init).next_rng();
        let mapping = model.spec().mapping.clone();
        let layers = net
            .layers()
            .iter()
            .enumerate()
            .map(|(l, geom)| {
                let (n, d) = geom.weight_shape();
                let he = (2.0 / d as f32).sqrt();
                let w_range = mapping
                    .as_ref()
                    .map_or(1.0, |m| m.w_range_sigmas as f32 * he);
                let mut tile =
                    ArrayGrid::fabricate(model, n, d, config.seed, 1 + l as u64, w_range);
                let w0 = DMatrix::from_fn(n, d, |_, _| {
                    he * <StandardNormal as Distribution<f32>>::sample(&StandardNormal, &mut init)
                });
                tile.program(&w0);
                let decor = config
                    .decorrelation
                    .filter(|dc| dc.layers.includes(l))
                    .map(|dc| Decorrelator::new(d, &dc, model, config.seed, l));
                Layer {
                    decor,
                    tile,
                    bias: DVector::zeros(n),
                    counters: LayerCounters::default(),
                    geom: *geom,
                    patches: DMatrix::zeros(0, 0),
                    act: DMatrix::zeros(0, 0),
                }
            })
            .collect();
        Chip {
            model: model.clone(),
            injection: Stream::new(config.seed, 0, Purpose::Injection),
            config,
            layers,
            oracle_uses: Vec::new(),
            net,
            id: NEXT_CHIP_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The chip model it was built from.
    pub fn model(&self) -> &ChipModel {
        &self.model
    }

    /// Its configuration.
    pub fn config(&self) -> &ChipConfig {
        &self.config
    }

    /// Number of layers (tiles).
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Input features, then nodes per sample of each layer (a dense layer's width; a conv
    /// layer's out_ch × positions).
    pub fn sizes(&self) -> &[usize] {
        &self.config.sizes
    }

    /// The layers' geometry (kinds, kernel, padding, stride, pooling).
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// Layer `l`'s weight matrix as programmed on its arrays, `(rows, cols)`.
    pub fn weight_shape(&self, l: usize) -> (usize, usize) {
        self.net.layer(l).weight_shape()
    }

    /// N = Σ_l N_l, all hidden and output units.
    pub fn n_units(&self) -> usize {
        self.config.sizes[1..].iter().sum()
    }

    /// Whether any layer has a decorrelation circuit (`decor_layers` may leave some out).
    pub fn has_decorrelation(&self) -> bool {
        self.layers.iter().any(|l| l.decor.is_some())
    }

    /// One forward pass of a batch `x` (`features × B`); results into `trace`.
    ///
    /// Per layer: decorrelator, tile read, then one fused element-wise pass over column
    /// blocks (bias, injected noise, activation), parallel when this thread's setting allows.
    pub fn forward(
        &mut self,
        x: &DMatrix<f32>,
        pass: Pass,
        phase: Phase,
        trace: &mut ForwardTrace,
    ) {
        let depth = self.layers.len();
        trace.chip_id = self.id;
        for v in [
            &mut trace.inputs,
            &mut trace.pre,
            &mut trace.post,
            &mut trace.injected,
        ] {
            v.resize_with(depth, || DMatrix::zeros(0, 0));
        }
        let sigma = self.config.injected.sigma();
        // The activation as a plain function of its parameters, so the loops below vectorise.
        let slope = match self.config.activation {
            Activation::LeakyRelu { slope } => slope,
        };
        let act = move |v: f32| if v > 0.0 { v } else { slope * v };
        for l in 0..depth {
            let Layer {
                decor,
                tile,
                bias,
                counters,
                geom,
                patches,
                act: act_buf,
                ..
            } = &mut self.layers[l];
            let h: &DMatrix<f32> = if l == 0 { x } else { &trace.post[l - 1] };
            // A conv layer reads patches: the batch's patches are the columns of one matrix.
            let conv = geom.conv();
            let src: &DMatrix<f32> = match conv {
                Some(g) if decor.is_some() => {
                    im2col(g, h, patches);
                    patches
                }
                _ => h,
            };
            match decor {
                // Every pass of a step feeds layer 1 the same batch: its R·h is computed once.
                Some(dec) if l == 0 => {
                    dec.apply_reusing(src, &mut trace.inputs[l], counters.at(Phase::Decorrelation))
                }
                Some(dec) => {
                    dec.apply(src, &mut trace.inputs[l], counters.at(Phase::Decorrelation))
                }
                None => match conv {
                    Some(g) => im2col(g, h, &mut trace.inputs[l]),
                    None => copy_into(&mut trace.inputs[l], h),
                },
            }
            tile.read(&trace.inputs[l], &mut trace.pre[l], counters.at(phase));
            let a = &mut trace.pre[l];
            let (n, cols) = a.shape();
            counters.at(phase).digital_ops += a.len() as u64;
            let inject = sigma > 0.0 && matches!(pass, Pass::Noisy) || pass == Pass::NoisyLayer(l);
            let bias = bias.as_slice();
            let pc = piece_cols(n);
            if inject && sigma > 0.0 {
                let eps = &mut trace.injected[l];
                if eps.shape() != a.shape() {
                    *eps = DMatrix::zeros(n, cols);
                }
                self.injection
                    .fill_normal(eps.as_mut_slice(), crate::linalg::threads());
                // a ← (a + b) + σ·z, and the trace keeps σ·z.
                for_pieces2(
                    a.as_mut_slice(),
                    pc * n,
                    eps.as_mut_slice(),
                    pc * n,
                    |_, ap, ep| {
                        for (ac, ec) in ap.chunks_mut(n).zip(ep.chunks_mut(n)) {
                            for ((v, e), &bb) in ac.iter_mut().zip(ec.iter_mut()).zip(bias) {
                                *e *= sigma;
                                *v = (*v + bb) + *e;
                            }
                        }
                    },
                );
            } else {
                if !trace.injected[l].is_empty() {
                    for_pieces(trace.injected[l].as_mut_slice(), PIECE, |_, e| e.fill(0.0));
                }
                if l + 1 == depth {
                    for_pieces(a.as_mut_slice(), pc * n, |_, ap| {
                        for ac in ap.chunks_mut(n) {
                            ac.iter_mut().zip(bias).for_each(|(v, &bb)| *v += bb);
                        }
                    });
                }
            }
            if l + 1 < depth {
                // A pooled layer's activations go to scratch, then the pool into the trace.
                let pool = geom.conv().filter(|g| g.pool.is_some());
                let post = if pool.is_some() {
                    &mut *act_buf
                } else {
                    &mut trace.post[l]
                };
                shape_to(post, n, cols);
                if inject && sigma > 0.0 {
                    let asl = a.as_slice();
                    for_pieces(post.as_mut_slice(), PIECE, |p, pp| {
                        #[allow(clippy::redundant_locals)]
                        // a local copy keeps the slope in a register
                        let act = act;
                        pp.iter_mut()
                            .zip(&asl[p * PIECE..])
                            .for_each(|(o, &v)| *o = act(v));
                    });
                } else {
                    // Bias and activation in one pass.
                    for_pieces2(
                        a.as_mut_slice(),
                        pc * n,
                        post.as_mut_slice(),
                        pc * n,
                        |_, ap, pp| {
                            #[allow(clippy::redundant_locals)]
                            // a local copy keeps the slope in a register
                            let act = act;
                            for (ac, pcol) in ap.chunks_mut(n).zip(pp.chunks_mut(n)) {
                                // Equal lengths up front: no bounds checks, so the loop vectorises.
                                let (pcol, bias) = (&mut pcol[..ac.len()], &bias[..ac.len()]);
                                for i in 0..ac.len() {
                                    let v = ac[i] + bias[i];
                                    ac[i] = v;
                                    pcol[i] = act(v);
                                }
                            }
                        },
                    );
                }
                counters.at(phase).digital_ops += a.len() as u64;
                if let Some(g) = pool {
                    pool_forward(g, act_buf, &mut trace.post[l]);
                    counters.at(phase).digital_ops += act_buf.len() as u64;
                }
                // The next layer takes one column per sample (flatten, or its patches).
                reshape(&mut trace.post[l], geom.output_features());
            }
        }
    }

    /// Programs a weight change `dw` and a bias change `db` into layer `l` (Update phase).
    pub fn update_layer(&mut self, l: usize, dw: &DMatrix<f32>, db: &DVector<f32>) {
        let layer = &mut self.layers[l];
        let c = layer.counters.at(Phase::Update);
        layer.tile.update(dw, c);
        layer.bias += db;
        c.digital_ops += db.len() as u64;
    }

    /// Runs layer `l`'s decorrelation circuit on the inputs `x` it saw (nothing when the layer
    /// has none). A conv layer's circuit learns from one patch in [`patch_stride`] of the
    /// sampled samples' patches (see there and [`Decorrelator::update`]).
    pub fn decorrelate(&mut self, l: usize, x: &DMatrix<f32>) {
        let layer = &mut self.layers[l];
        let Some(d) = &mut layer.decor else { return };
        let (positions, stride) = match layer.geom.conv() {
            Some(g) => (g.positions(), patch_stride(g.positions())),
            None => (1, 1),
        };
        d.update(
            x,
            positions,
            stride,
            layer.counters.at(Phase::Decorrelation),
        );
    }

    /// Entries of layer `l`'s R (Σ of its blocks' d_b²; 0 without a decorrelator): a datasheet
    /// constant, what a controller's backward product through R costs per column.
    pub fn decorrelator_entries(&self, l: usize) -> usize {
        self.layers[l].decor.as_ref().map_or(0, |d| d.entries())
    }

    /// Prices the controller's own digital arithmetic on layer `l` in `phase`.
    pub fn count_digital(&mut self, l: usize, phase: Phase, ops: u64) {
        self.layers[l].counters.at(phase).digital_ops += ops;
    }

    /// Advances the chip clock (drifting devices).
    pub fn advance_time(&mut self, dt_s: f64) {
        for layer in &mut self.layers {
            layer.tile.advance_time(dt_s);
        }
    }

    /// Chip time one training step takes, s (from the drift model; 0 without drift).
    pub fn step_time_s(&self) -> f64 {
        self.model
            .spec()
            .drift
            .as_ref()
            .map_or(0.0, |d| d.step_time_s)
    }

    /// Event counters per layer (cumulative since the chip was built or restored).
    pub fn counters(&self) -> Vec<LayerCounters> {
        self.layers.iter().map(|l| l.counters).collect()
    }

    /// Smallest weight change one pulse makes, per layer (0 on an ideal chip); a periphery
    /// constant a controller may know (it is on the datasheet).
    pub fn weight_step(&self, l: usize) -> f32 {
        self.layers[l].tile.weight_step()
    }

    /// Which oracle views were handed out, and why (empty for a physical run).
    pub fn oracle_uses(&self) -> &[String] {
        &self.oracle_uses
    }
}
