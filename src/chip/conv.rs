//! Convolution on crossbars, weight-stationary: the geometry of a network of layer kinds, and
//! the digital data movement around the arrays (patch extraction, pooling, their adjoints).
//!
//! A conv layer IS a dense layer applied to patches: its kernel, `out_ch × (in_ch·k·k)`, is
//! programmed onto the layer's arrays like any weight matrix, and every output position of
//! every sample is one read of its input patch. The patches of a whole mini-batch are the
//! columns of one matrix (im2col), so a pass is one batched read — one product — and never a
//! loop of small ones.
//!
//! Layouts. A column of a batch matrix is one sample; the dataset stores an image channel-major
//! ([`Layout::Chw`]). A conv layer's measured map is `out_ch × (B·P)`, column `n·P + p` the
//! channels of sample n at position p (row-major over the output grid): in memory, sample n's
//! map is one contiguous block of `out_ch·P` values, channel fastest ([`Layout::Hwc`]). So the
//! per-sample node vector a rule needs (ANP's ‖δa‖², a loss) is a plain reinterpretation of
//! the same buffer as `(out_ch·P) × B`, and flattening before a dense layer costs nothing.
//!
//! Patch rows are ordered `c·k² + ky·k + kx` (channel, kernel row, kernel column), the order
//! of a PyTorch `weight.view(out, -1)`. Zero padding contributes zeros to a patch.

use crate::linalg::{for_pieces, PIECE};
use nalgebra::DMatrix;

/// Pooling kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum over the window.
    Max,
    /// Mean over the window.
    Avg,
}

/// Non-overlapping `size × size` pooling (stride = size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Max or average.
    pub kind: PoolKind,
    /// Window side.
    pub size: usize,
}

/// How a sample's image is laid out in its column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Channel-major, then row-major: the datasets' order.
    Chw,
    /// Position-major (row-major over the grid), channel fastest: a conv layer's output.
    Hwc,
}

/// One conv layer's geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Input channels, height, width and layout.
    pub in_ch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Layout of the input columns.
    pub layout: Layout,
    /// Output channels (the kernel matrix's rows).
    pub out_ch: usize,
    /// Kernel side.
    pub k: usize,
    /// Zero padding on every side.
    pub pad: usize,
    /// Stride.
    pub stride: usize,
    /// Output grid height (before pooling).
    pub out_h: usize,
    /// Output grid width (before pooling).
    pub out_w: usize,
    /// Pooling of the activations, if any.
    pub pool: Option<Pool>,
}

impl ConvGeom {
    /// Patch length, in_ch·k².
    pub fn patch(&self) -> usize {
        self.in_ch * self.k * self.k
    }
    /// Output positions per sample, out_h·out_w.
    pub fn positions(&self) -> usize {
        self.out_h * self.out_w
    }
    /// Positions per sample after pooling.
    pub fn pooled_positions(&self) -> usize {
        let s = self.pool.map_or(1, |p| p.size);
        (self.out_h / s) * (self.out_w / s)
    }
    /// Offset of input element (c, y, x) within a sample's column.
    #[inline]
    fn offset(&self, c: usize, y: usize, x: usize) -> usize {
        match self.layout {
            Layout::Chw => (c * self.in_h + y) * self.in_w + x,
            Layout::Hwc => (y * self.in_w + x) * self.in_ch + c,
        }
    }
    /// The window of output position (oy, ox): its top-left input corner (padding included)
    /// and the kernel taps that fall inside the image (the one place both patch walks get
    /// their bounds from).
    #[inline]
    fn taps(&self, oy: usize, ox: usize) -> Taps {
        let k = self.k;
        let (y0, x0) = (oy * self.stride, ox * self.stride);
        Taps {
            y0,
            x0,
            ky: (
                self.pad.saturating_sub(y0),
                k.min((self.in_h + self.pad).saturating_sub(y0)),
            ),
            kx: (
                self.pad.saturating_sub(x0),
                k.min((self.in_w + self.pad).saturating_sub(x0)),
            ),
        }
    }

    /// Calls `f(patch row, input offset)` for every patch row of output position (oy, ox) that
    /// is not padding, in row order; rows not visited are padding (zero). Loops over (c, ky,
    /// kx) with the bounds hoisted, so no division per entry.
    #[inline]
    fn for_patch(&self, oy: usize, ox: usize, mut f: impl FnMut(usize, usize)) {
        let k = self.k;
        let Taps {
            y0,
            x0,
            ky: (ky_lo, ky_hi),
            kx: (kx_lo, kx_hi),
        } = self.taps(oy, ox);
        for c in 0..self.in_ch {
            for ky in ky_lo..ky_hi {
                let iy = y0 + ky - self.pad;
                let row = (c * k + ky) * k;
                for kx in kx_lo..kx_hi {
                    f(row + kx, self.offset(c, iy, x0 + kx - self.pad));
                }
            }
        }
    }
}

impl ConvGeom {
    /// Writes the patch of output position (oy, ox) of one sample `src` into `col` (patch
    /// rows), as [`ConvGeom::for_patch`] visits it but with whole runs moved at once: a kernel
    /// row of a channel-major input is one contiguous copy, a pixel of a channel-fastest input
    /// one contiguous read of its channels. Only a patch that overlaps the padding is zeroed
    /// first (im2col writes every entry of every interior patch exactly once).
    #[inline]
    fn patch_into(&self, oy: usize, ox: usize, src: &[f32], col: &mut [f32]) {
        let k = self.k;
        let Taps {
            y0,
            x0,
            ky: (ky_lo, ky_hi),
            kx: (kx_lo, kx_hi),
        } = self.taps(oy, ox);
        if ky_lo > 0 || kx_lo > 0 || ky_hi < k || kx_hi < k {
            col.fill(0.0);
        }
        if kx_lo >= kx_hi {
            return;
        }
        let run = kx_hi - kx_lo;
        match self.layout {
            Layout::Chw => {
                for c in 0..self.in_ch {
                    for ky in ky_lo..ky_hi {
                        let iy = y0 + ky - self.pad;
                        let row = (c * k + ky) * k + kx_lo;
                        let o = (c * self.in_h + iy) * self.in_w + x0 + kx_lo - self.pad;
                        col[row..row + run].copy_from_slice(&src[o..o + run]);
                    }
                }
            }
            Layout::Hwc => {
                let kk = k * k;
                let ch = self.in_ch;
                for ky in ky_lo..ky_hi {
                    let iy = y0 + ky - self.pad;
                    for kx in kx_lo..kx_hi {
                        let o = (iy * self.in_w + x0 + kx - self.pad) * ch;
                        let px = &src[o..o + ch];
                        let tap = ky * k + kx;
                        for (c, &v) in px.iter().enumerate() {
                            col[c * kk + tap] = v;
                        }
                    }
                }
            }
        }
    }
}

/// An output position's window: its corner `(y0, x0)` in padded input coordinates and the
/// kernel taps `lo..hi` along y and x that lie inside the image.
#[derive(Clone, Copy)]
struct Taps {
    y0: usize,
    x0: usize,
    ky: (usize, usize),
    kx: (usize, usize),
}

/// One weight layer's geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerGeom {
    /// A dense layer, `outputs × inputs`.
    Dense {
        /// Input features per sample.
        inputs: usize,
        /// Units.
        outputs: usize,
    },
    /// A convolution (with its optional pooling).
    Conv(ConvGeom),
}

impl LayerGeom {
    /// The weight matrix programmed on the arrays: `(rows, cols)` = (units or out channels,
    /// inputs or patch length).
    pub fn weight_shape(&self) -> (usize, usize) {
        match *self {
            LayerGeom::Dense { inputs, outputs } => (outputs, inputs),
            LayerGeom::Conv(g) => (g.out_ch, g.patch()),
        }
    }
    /// Reads per sample (output positions; 1 for a dense layer).
    pub fn positions(&self) -> usize {
        match self {
            LayerGeom::Dense { .. } => 1,
            LayerGeom::Conv(g) => g.positions(),
        }
    }
    /// Nodes (pre-activations) per sample: units, or out_ch × positions.
    pub fn nodes(&self) -> usize {
        self.weight_shape().0 * self.positions()
    }
    /// Input features per sample.
    pub fn input_features(&self) -> usize {
        match *self {
            LayerGeom::Dense { inputs, .. } => inputs,
            LayerGeom::Conv(g) => g.in_ch * g.in_h * g.in_w,
        }
    }
    /// Output features per sample, after pooling (what the next layer receives).
    pub fn output_features(&self) -> usize {
        match self {
            LayerGeom::Dense { outputs, .. } => *outputs,
            LayerGeom::Conv(g) => g.out_ch * g.pooled_positions(),
        }
    }
    /// The conv geometry, if a conv layer.
    pub fn conv(&self) -> Option<&ConvGeom> {
        match self {
            LayerGeom::Conv(g) => Some(g),
            LayerGeom::Dense { .. } => None,
        }
    }
}

/// A network's geometry, checked against its input (see [`super::NetSpec::resolve`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    input: (usize, usize, usize),
    layers: Vec<LayerGeom>,
}

impl Network {
    pub(super) fn new(input: (usize, usize, usize), layers: Vec<LayerGeom>) -> Network {
        Network { input, layers }
    }

    /// An all-dense network of widths `sizes` (input first).
    pub fn dense(sizes: &[usize]) -> Network {
        Network {
            input: (1, 1, sizes[0]),
            layers: sizes
                .windows(2)
                .map(|w| LayerGeom::Dense {
                    inputs: w[0],
                    outputs: w[1],
                })
                .collect(),
        }
    }

    /// The input shape (channels, height, width).
    pub fn input(&self) -> (usize, usize, usize) {
        self.input
    }
    /// The weight layers.
    pub fn layers(&self) -> &[LayerGeom] {
        &self.layers
    }
    /// Layer `l`.
    pub fn layer(&self, l: usize) -> &LayerGeom {
        &self.layers[l]
    }
    /// Whether any layer is a convolution.
    pub fn has_conv(&self) -> bool {
        self.layers.iter().any(|l| l.conv().is_some())
    }
    /// Input features, then nodes per sample of every layer: the chip's `sizes` (for a dense
    /// network, the layer widths).
    pub fn sizes(&self) -> Vec<usize> {
        let (c, h, w) = self.input;
        std::iter::once(c * h * w)
            .chain(self.layers.iter().map(|l| l.nodes()))
            .collect()
    }
}

/// Samples per parallel piece when one sample spans `per_sample` values.
fn samples_per_piece(per_sample: usize) -> usize {
    (PIECE / per_sample.max(1)).max(1)
}

/// Gives `m` the shape `rows × cols`, keeping its allocation when it can (contents unspecified).
pub(super) fn shape_to(m: &mut DMatrix<f32>, rows: usize, cols: usize) {
    if m.shape() != (rows, cols) {
        let mut v: Vec<f32> = std::mem::replace(m, DMatrix::zeros(0, 0)).data.into();
        v.resize(rows * cols, 0.0);
        *m = DMatrix::from_vec(rows, cols, v);
    }
}

/// Reinterprets `m` as `rows × (len/rows)` in place (same memory, no copy): a conv map's
/// `out_ch × B·P` is its `(out_ch·P) × B` per-sample view.
pub(super) fn reshape(m: &mut DMatrix<f32>, rows: usize) {
    let len = m.len();
    debug_assert_eq!(len % rows.max(1), 0);
    if m.nrows() != rows {
        shape_to(m, rows, len / rows.max(1));
    }
}

/// im2col: the patches of every sample of `h` (input features × B) as the columns of `out`
/// (patch × B·P), column `n·P + oy·out_w + ox`.
pub fn im2col(g: &ConvGeom, h: &DMatrix<f32>, out: &mut DMatrix<f32>) {
    let (rows, p, f) = (g.patch(), g.positions(), g.in_ch * g.in_h * g.in_w);
    assert_eq!(
        h.nrows(),
        f,
        "im2col: input has {} features, the layer takes {f}",
        h.nrows()
    );
    let b = h.ncols();
    shape_to(out, rows, b * p);
    let hs = h.as_slice();
    let spp = samples_per_piece(rows * p);
    for_pieces(out.as_mut_slice(), spp * rows * p, |piece, chunk| {
        for (jj, col) in chunk.chunks_mut(rows).enumerate() {
            let j = piece * spp * p + jj;
            let (n, pos) = (j / p, j % p);
            let (oy, ox) = (pos / g.out_w, pos % g.out_w);
            g.patch_into(oy, ox, &hs[n * f..(n + 1) * f], col);
        }
    });
}

/// col2im, the adjoint of [`im2col`]: every patch entry of `cols` (patch × B·P) added back
/// onto the input element it came from, into `out` (input features × B; overwritten).
pub fn col2im(g: &ConvGeom, cols: &DMatrix<f32>, out: &mut DMatrix<f32>) {
    let (rows, p, f) = (g.patch(), g.positions(), g.in_ch * g.in_h * g.in_w);
    assert_eq!(cols.nrows(), rows);
    let b = cols.ncols() / p;
    shape_to(out, f, b);
    let cs = cols.as_slice();
    let spp = samples_per_piece(f);
    for_pieces(out.as_mut_slice(), spp * f, |piece, chunk| {
        chunk.fill(0.0);
        for (nn, dst) in chunk.chunks_mut(f).enumerate() {
            let n = piece * spp + nn;
            for pos in 0..p {
                let (oy, ox) = (pos / g.out_w, pos % g.out_w);
                let col = &cs[(n * p + pos) * rows..(n * p + pos + 1) * rows];
                g.for_patch(oy, ox, |r, o| dst[o] += col[r]);
            }
        }
    });
}

/// Pools a conv layer's activations `act` (out_ch × B·P) into `out` (out_ch × B·P'), window by
/// window, as its definition says (max, or the mean of the size² values).
pub fn pool_forward(g: &ConvGeom, act: &DMatrix<f32>, out: &mut DMatrix<f32>) {
    let pool = g.pool.expect("pool_forward on a pooled layer");
    let (c, s) = (g.out_ch, pool.size);
    let (p, pw, pp) = (g.positions(), g.out_w / s, g.pooled_positions());
    let b = act.ncols() / p;
    shape_to(out, c, b * pp);
    let a = act.as_slice();
    let inv = 1.0 / (s * s) as f32;
    let spp = samples_per_piece(c * pp);
    for_pieces(out.as_mut_slice(), spp * c * pp, |piece, chunk| {
        for (jj, col) in chunk.chunks_mut(c).enumerate() {
            let j = piece * spp * pp + jj;
            let (n, q) = (j / pp, j % pp);
            let (py, px) = (q / pw, q % pw);
            // Window entry by entry, all channels at once (contiguous: the map is channel
            // fastest), so the max / sum vectorises; the order per channel is the window's
            // row-major order, as before.
            for dy in 0..s {
                for dx in 0..s {
                    let pos = (py * s + dy) * g.out_w + px * s + dx;
                    let v = &a[(n * p + pos) * c..(n * p + pos + 1) * c];
                    if dy == 0 && dx == 0 {
                        col.copy_from_slice(v);
                        continue;
                    }
                    match pool.kind {
                        PoolKind::Max => col.iter_mut().zip(v).for_each(|(o, &x)| *o = o.max(x)),
                        PoolKind::Avg => col.iter_mut().zip(v).for_each(|(o, &x)| *o += x),
                    }
                }
            }
            if pool.kind == PoolKind::Avg {
                col.iter_mut().for_each(|o| *o *= inv);
            }
        }
    });
}

/// The adjoint of [`pool_forward`]: `up` (out_ch × B·P', ∂ℓ/∂pooled) routed back onto the
/// pooled window into `out` (out_ch × B·P). Max: all to the window's first largest entry of
/// `pre` (the activation is monotone, so that is the largest activation); average: 1/size² each.
pub fn pool_backward(g: &ConvGeom, pre: &DMatrix<f32>, up: &DMatrix<f32>, out: &mut DMatrix<f32>) {
    let pool = g.pool.expect("pool_backward on a pooled layer");
    let (c, s) = (g.out_ch, pool.size);
    let (p, pw, pp) = (g.positions(), g.out_w / s, g.pooled_positions());
    let b = pre.ncols() / p;
    shape_to(out, c, b * p);
    let (a, u) = (pre.as_slice(), up.as_slice());
    let inv = 1.0 / (s * s) as f32;
    let spp = samples_per_piece(c * p);
    for_pieces(out.as_mut_slice(), spp * c * p, |piece, chunk| {
        chunk.fill(0.0);
        for (nn, dst) in chunk.chunks_mut(c * p).enumerate() {
            let n = piece * spp + nn;
            for q in 0..pp {
                let (py, px) = (q / pw, q % pw);
                for ch in 0..c {
                    let g_up = u[(n * pp + q) * c + ch];
                    let mut best = (f32::NEG_INFINITY, usize::MAX);
                    for dy in 0..s {
                        for dx in 0..s {
                            let pos = (py * s + dy) * g.out_w + px * s + dx;
                            match pool.kind {
                                PoolKind::Max => {
                                    let v = a[(n * p + pos) * c + ch];
                                    if v > best.0 || best.1 == usize::MAX {
                                        best = (v, pos);
                                    }
                                }
                                PoolKind::Avg => dst[pos * c + ch] += g_up * inv,
                            }
                        }
                    }
                    if pool.kind == PoolKind::Max {
                        dst[best.1 * c + ch] += g_up;
                    }
                }
            }
        }
    });
}
