//! The conductance array of one tile: two devices per weight (a differential pair), their
//! fabrication-time variation, programming, pulse updates and drift.
//!
//! Conductances are stored normalised by the nominal g_max, so a device lives in
//! [g_min/g_max, g_max,i/g_max] and one nominal pulse step is Δg = (1 − g_min/g_max)/(levels − 1).
//! The differential value seen by a read is g⁺ − g⁻; the tile turns it into a weight with its
//! digital scale. Everything here is private to the chip: no learning rule can see it.
//!
//! Update order for one weight: requested steps r = Δw / (scale·Δg) → integer pulses n by the
//! rounding mode → clip to `max_pulses` → ⌈|n|/2⌉ pulses on one device and ⌊|n|/2⌋ opposite
//! pulses on the other, the odd pulse on the device with more room in its direction of travel
//! (g⁺ on ties), so the pair moves by n steps while both devices stay mid-range as long as
//! possible (a single pulse that always went to g⁺ could never lower a weight whose g⁺ idles at
//! g_min).
//! Each pulse moves its device by Δg·s_i·(1 ± up_down_i)·(1 + dw_min_std·ξ), with the
//! soft-bound factor when configured; stuck devices receive pulses (counted) but do not move.

use super::energy::Counters;
use super::model::{ConductanceSpec, DriftSpec, Rounding, UpdateSpec};
use crate::linalg::wide;
use crate::rng::{derive, Purpose, Rng, Stream};
use rand::{Rng as _, RngCore, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Weights per parallel chunk of an update; fixed so results do not depend on thread count.
const CHUNK: usize = 1 << 14;

const FREE: u8 = 0;
const STUCK_MIN: u8 = 1;
const STUCK_MAX: u8 = 2;

/// Fabrication-time, per-device parameters; a vector is absent when its spread is zero.
struct Variation {
    g_max: Option<Factors>,
    step: Option<Factors>,
    up_down: Option<Factors>,
    stuck: Option<Vec<u8>>,
    nu: Option<Vec<f32>>,
}

/// A per-device fabrication factor in 16-bit fixed point: value = q·2⁻¹³ + offset, so
/// [offset, offset + 8) at a resolution of 1.2e-4. The pulse loop is bound by memory traffic and
/// these factors are most of it: half the bytes of f32, with a quantisation far below any
/// device-to-device spread a model would give (values outside the range are clipped to it).
struct Factors {
    q: Vec<u16>,
    offset: f32,
}

impl Factors {
    const RES: f32 = 1.0 / 8192.0;

    fn new(values: impl Iterator<Item = f32>, offset: f32) -> Factors {
        let q = values
            .map(|v| {
                ((v - offset) / Self::RES)
                    .round()
                    .clamp(0.0, u16::MAX as f32) as u16
            })
            .collect();
        Factors { q, offset }
    }

    #[inline(always)]
    fn get(&self, d: usize) -> f32 {
        self.q[d] as f32 * Self::RES + self.offset
    }
}

/// Per-device totals kept for hardware traces (pulses since the last reset).
pub(super) struct PulseTrace {
    pub(super) up: Vec<u32>,
    pub(super) down: Vec<u32>,
}

pub(super) struct DeviceArray {
    spec: ConductanceSpec,
    update: UpdateSpec,
    drift: Option<DriftSpec>,
    n: usize,
    g_min: f32,
    dg: f32,
    /// g⁺ then g⁻ of every weight: indices 0..n are g⁺, n..2n are g⁻ (column-major weights).
    g: Vec<f32>,
    var: Variation,
    /// Mixed-precision buffer: requested steps not yet applied (only in `Accumulate` mode).
    accum: Vec<f32>,
    /// Time each device was last programmed, s (only with drift).
    t_prog: Vec<f32>,
    now_s: f64,
    programming: Stream,
    updates: Stream,
    pub(super) pulse_trace: Option<PulseTrace>,
}

fn normal(rng: &mut Rng) -> f32 {
    StandardNormal.sample(rng)
}

impl DeviceArray {
    /// Fabricates `n` weights (2n devices) with variation drawn from the tile's fabrication stream.
    pub(super) fn fabricate(
        spec: &ConductanceSpec,
        update: &UpdateSpec,
        drift: Option<&DriftSpec>,
        n: usize,
        seed: u64,
        unit: u64,
    ) -> Self {
        let mut fab = Stream::new(seed, unit, Purpose::Fabrication).next_rng();
        let g_min = (spec.g_min_us / spec.g_max_us) as f32;
        let dg = (1.0 - g_min) / (spec.levels - 1) as f32;
        let per_device = |rng: &mut Rng, spread: f64, f: &dyn Fn(f32) -> f32| -> Option<Factors> {
            (spread > 0.0)
                .then(|| Factors::new((0..2 * n).map(|_| f(spread as f32 * normal(rng))), 0.0))
        };
        let g_max = per_device(&mut fab, spec.g_max_dtod, &|z| (1.0 + z).max(g_min + dg));
        let step = per_device(&mut fab, spec.dw_min_dtod, &|z| (1.0 + z).max(0.0));
        let ud = spec.up_down as f32;
        let up_down = if spec.up_down_dtod > 0.0 || spec.up_down != 0.0 {
            Some(Factors::new(
                (0..2 * n)
                    .map(|_| (ud + spec.up_down_dtod as f32 * normal(&mut fab)).clamp(-0.99, 0.99)),
                -1.0,
            ))
        } else {
            None
        };
        let (pmin, pmax) = (spec.stuck_at_min_prob, spec.stuck_at_max_prob);
        let stuck = (pmin + pmax > 0.0).then(|| {
            (0..2 * n)
                .map(|_| {
                    let u: f64 = fab.gen();
                    if u < pmin {
                        STUCK_MIN
                    } else if u < pmin + pmax {
                        STUCK_MAX
                    } else {
                        FREE
                    }
                })
                .collect()
        });
        let nu = drift.map(|d| {
            (0..2 * n)
                .map(|_| (d.nu as f32 + d.nu_dtod as f32 * normal(&mut fab)).max(0.0))
                .collect()
        });
        let mut a = DeviceArray {
            spec: spec.clone(),
            update: update.clone(),
            drift: drift.cloned(),
            n,
            g_min,
            dg,
            g: vec![g_min; 2 * n],
            var: Variation {
                g_max,
                step,
                up_down,
                stuck,
                nu,
            },
            accum: if update.rounding == Rounding::Accumulate {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            t_prog: if drift.is_some() {
                vec![0.0; 2 * n]
            } else {
                Vec::new()
            },
            now_s: 0.0,
            programming: Stream::new(seed, unit, Purpose::Programming),
            updates: Stream::new(seed, unit, Purpose::Update),
            pulse_trace: None,
        };
        a.pin_stuck();
        a
    }

    fn g_max_of(&self, d: usize) -> f32 {
        self.var.g_max.as_ref().map_or(1.0, |v| v.get(d))
    }

    fn pin_stuck(&mut self) {
        if let Some(st) = &self.var.stuck {
            for (d, &s) in st.iter().enumerate() {
                match s {
                    STUCK_MIN => self.g[d] = self.g_min,
                    STUCK_MAX => self.g[d] = self.var.g_max.as_ref().map_or(1.0, |v| v.get(d)),
                    _ => {}
                }
            }
        }
    }

    /// Largest representable |g⁺ − g⁻| (nominal).
    pub(super) fn max_diff(&self) -> f32 {
        1.0 - self.g_min
    }

    /// One nominal pulse step in differential units.
    pub(super) fn step(&self) -> f32 {
        self.dg
    }

    /// Write-verify programming of target differentials (one per weight, column-major):
    /// the carrying device lands on the nearest level plus programming noise, its partner on g_min.
    pub(super) fn program(&mut self, target: &[f32]) {
        assert_eq!(target.len(), self.n);
        let mut rng = self.programming.next_rng();
        let sigma = self.spec.prog_noise_std as f32;
        let max = self.max_diff();
        for (i, &t) in target.iter().enumerate() {
            let t = t.clamp(-max, max);
            for (d, half) in [(i, t.max(0.0)), (i + self.n, (-t).max(0.0))] {
                let level = (half / self.dg).round() * self.dg;
                let noise = if sigma > 0.0 {
                    sigma * normal(&mut rng)
                } else {
                    0.0
                };
                self.g[d] = (self.g_min + level + noise).clamp(self.g_min, self.g_max_of(d));
            }
        }
        for t in self.t_prog.iter_mut() {
            *t = self.now_s as f32;
        }
        // A written target replaces whatever sub-step remainder the buffer still held.
        self.accum.fill(0.0);
        self.pin_stuck();
    }

    /// Advances the chip clock (drift only).
    pub(super) fn advance_time(&mut self, dt_s: f64) {
        self.now_s += dt_s;
    }

    /// Whether reads change with time (drift is configured).
    pub(super) fn drifts(&self) -> bool {
        self.drift.is_some()
    }

    fn drift_factor(&self, d: usize) -> f32 {
        match (&self.drift, &self.var.nu) {
            (Some(dr), Some(nu)) => {
                let age = self.now_s as f32 - self.t_prog[d];
                let t0 = dr.t0_s as f32;
                if age > t0 {
                    (age / t0).powf(-nu[d])
                } else {
                    1.0
                }
            }
            _ => 1.0,
        }
    }

    /// The differential conductances as a read sees them now (drift applied), column-major.
    pub(super) fn differential(&self, out: &mut [f32]) {
        let (gp, gm) = self.g.split_at(self.n);
        if self.drifts() {
            for (i, o) in out.iter_mut().enumerate() {
                *o = gp[i] * self.drift_factor(i) - gm[i] * self.drift_factor(i + self.n);
            }
        } else {
            crate::linalg::for_pieces(out, CHUNK, |p, o| {
                let (gp, gm) = (&gp[p * CHUNK..], &gm[p * CHUNK..]);
                o.iter_mut()
                    .zip(gp)
                    .zip(gm)
                    .for_each(|((o, &a), &b)| *o = a - b);
            });
        }
    }

    /// Both devices' conductances, normalised (g⁺ block then g⁻ block), for traces.
    pub(super) fn conductances(&self) -> &[f32] {
        &self.g
    }

    /// Applies requested differential changes (one per weight, in differential units) as pulses.
    // The tile goes through `apply_scaled_update`; the chip tests pulse raw requests.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn apply_update(&mut self, request: &[f32], counters: &mut Counters) {
        self.apply_scaled_update(Request::dense(request), 1.0, None, counters);
    }

    /// [`DeviceArray::apply_update`] of the request `gain·dw`, formed per weight as the pulse
    /// loop reads it (no request buffer). With `differential` (only without drift), keeps it
    /// equal to g⁺ − g⁻ by rewriting the entries of the weights that received pulses: the
    /// caller guarantees it held g⁺ − g⁻ for every weight before (as after
    /// [`DeviceArray::differential`]), and need not recompute all of it afterwards.
    pub(super) fn apply_scaled_update(
        &mut self,
        request: Request<'_>,
        gain: f32,
        differential: Option<&mut [f32]>,
        counters: &mut Counters,
    ) {
        assert!(request.fits(self.n), "the request does not cover the array");
        assert!(
            differential
                .as_ref()
                .is_none_or(|d| d.len() == self.n && !self.drifts()),
            "a kept differential needs n entries and no drift"
        );
        let mut eff_chunks = differential.map(|d| d.chunks_mut(CHUNK));
        if self.drifts() {
            // Pulses act on the drifted state and restart the device's drift clock.
            for d in 0..2 * self.n {
                self.g[d] *= self.drift_factor(d);
            }
        }
        // The materialised state, to tell afterwards which devices a pulse actually moved.
        let before = self.drifts().then(|| self.g.clone());
        let key = derive(self.updates.state()[0], &[self.updates.state()[1]]);
        self.updates = Stream::from_state([self.updates.state()[0], self.updates.state()[1] + 1]);
        let n = self.n;
        let (gp, gm) = self.g.split_at_mut(n);
        let ctx = PulseCtx {
            n,
            g_min: self.g_min,
            dg: self.dg,
            rounding: self.update.rounding,
            max_pulses: self.update.max_pulses as i64,
            c2c: self.spec.dw_min_std as f32,
            soft: self.spec.soft_bounds,
            var: &self.var,
        };
        let mut acc_chunks = self.accum.chunks_mut(CHUNK);
        let (mut tu, mut td) = match &mut self.pulse_trace {
            Some(t) => {
                let (uu, ud) = t.up.split_at_mut(n);
                let (du, dd) = t.down.split_at_mut(n);
                (
                    Some((uu.chunks_mut(CHUNK), ud.chunks_mut(CHUNK))),
                    Some((du.chunks_mut(CHUNK), dd.chunks_mut(CHUNK))),
                )
            }
            None => (None, None),
        };
        let mut jobs = Vec::with_capacity(n.div_ceil(CHUNK));
        for (c, (p, m)) in gp.chunks_mut(CHUNK).zip(gm.chunks_mut(CHUNK)).enumerate() {
            let acc = acc_chunks.next().unwrap_or(&mut []);
            let eff = eff_chunks.as_mut().map(|e| e.next().unwrap());
            let up = tu
                .as_mut()
                .map(|(a, b)| (a.next().unwrap(), b.next().unwrap()));
            let down = td
                .as_mut()
                .map(|(a, b)| (a.next().unwrap(), b.next().unwrap()));
            jobs.push(Job {
                start: c * CHUNK,
                gp: p,
                gm: m,
                req: request,
                gain,
                eff,
                acc,
                up,
                down,
                counts: Counters::default(),
            });
        }
        let threads = crate::linalg::threads();
        let run = |job: &mut Job| {
            let mut rng = Rng::seed_from_u64(derive(key, &[(job.start / CHUNK) as u64]));
            ctx.run(job, &mut rng);
        };
        if threads > 1 && jobs.len() > 1 {
            jobs.par_iter_mut().for_each(run);
        } else {
            jobs.iter_mut().for_each(run);
        }
        for j in &jobs {
            *counters += j.counts;
        }
        if let Some(before) = before {
            // A device that a pulse moved restarts its drift clock; every other device (no
            // pulse, a sub-step request, stuck, or clipped at a bound) keeps its age, and its
            // materialisation is undone.
            let now = self.now_s as f32;
            for (d, &b) in before.iter().enumerate() {
                if self.g[d] != b {
                    self.t_prog[d] = now;
                } else {
                    let f = self.drift_factor(d);
                    if f > 0.0 {
                        self.g[d] /= f;
                    }
                }
            }
        }
    }

    /// Stream states for checkpoints: (programming, updates).
    pub(super) fn stream_states(&self) -> [[u64; 2]; 2] {
        [self.programming.state(), self.updates.state()]
    }

    /// Mutable state that a checkpoint must hold besides the fabrication draws
    /// (which are re-drawn from the seed): conductances, buffer, drift clocks, time.
    pub(super) fn state_vectors(&self) -> (&[f32], &[f32], &[f32], f64) {
        (&self.g, &self.accum, &self.t_prog, self.now_s)
    }

    /// Restores what [`DeviceArray::state_vectors`] and [`DeviceArray::stream_states`] saved.
    pub(super) fn restore(
        &mut self,
        g: &[f32],
        accum: &[f32],
        t_prog: &[f32],
        now_s: f64,
        streams: [[u64; 2]; 2],
    ) -> Result<(), String> {
        if g.len() != self.g.len()
            || accum.len() != self.accum.len()
            || t_prog.len() != self.t_prog.len()
        {
            return Err(format!(
                "device state has {} conductances, expected {}",
                g.len(),
                self.g.len()
            ));
        }
        self.g.copy_from_slice(g);
        self.accum.copy_from_slice(accum);
        self.t_prog.copy_from_slice(t_prog);
        self.now_s = now_s;
        self.programming = Stream::from_state(streams[0]);
        self.updates = Stream::from_state(streams[1]);
        Ok(())
    }

    /// Whether device `d` (0..2n) is stuck; for tests and characterisation.
    pub(super) fn is_stuck(&self, d: usize) -> bool {
        self.var.stuck.as_ref().is_some_and(|s| s[d] != FREE)
    }

    /// A hash of every fabrication draw (variation vectors), so a checkpoint can verify that a
    /// chip rebuilt from the same seed is the same chip.
    pub(super) fn fabrication_fingerprint(&self) -> u64 {
        let v = &self.var;
        let mut h = derive(self.n as u64, &[self.dg.to_bits() as u64]);
        for (tag, f) in [(1u64, &v.g_max), (2, &v.step), (3, &v.up_down)] {
            h = derive(h, &[tag, f.as_ref().map_or(0, |x| x.q.len() as u64)]);
            for &q in f.iter().flat_map(|x| &x.q) {
                h = derive(h, &[q as u64]);
            }
        }
        h = derive(h, &[4, v.nu.as_ref().map_or(0, |x| x.len() as u64)]);
        for x in v.nu.iter().flatten() {
            h = derive(h, &[x.to_bits() as u64]);
        }
        for &s in v.stuck.iter().flatten() {
            h = derive(h, &[5, s as u64]);
        }
        h
    }
}

/// Requests handled per block of [`PulseCtx::run`] (stack buffers).
const BLOCK: usize = 64;

/// The requested changes of an array's weights, read where they lie: weight k of the array
/// (column-major, `rows` outputs per input column) is `data[k mod rows + ⌊k / rows⌋·ld]`.
///
/// An array of a split layer reads its block of the layer's Δw in place (`ld` = the layer's
/// outputs), so no per-array copy of the block is made before every update; an unsplit
/// array's request is the whole contiguous Δw (`ld = rows`).
#[derive(Clone, Copy)]
pub(super) struct Request<'a> {
    data: &'a [f32],
    rows: usize,
    ld: usize,
}

impl<'a> Request<'a> {
    /// A contiguous request, one entry per weight.
    pub(super) fn dense(data: &'a [f32]) -> Self {
        Request {
            data,
            rows: data.len().max(1),
            ld: data.len().max(1),
        }
    }

    /// The `rows × cols` block at (`r0`, `c0`) of a column-major matrix with `ld` rows.
    pub(super) fn block(data: &'a [f32], ld: usize, r0: usize, c0: usize, rows: usize) -> Self {
        Request {
            data: &data[(r0 + c0 * ld).min(data.len())..],
            rows: rows.max(1),
            ld,
        }
    }

    /// Column `c` of the block (`rows` entries).
    pub(super) fn column(&self, c: usize) -> &'a [f32] {
        &self.data[c * self.ld..c * self.ld + self.rows]
    }

    /// Whether `n` weights (whole columns of `rows`) lie within the data.
    fn fits(&self, n: usize) -> bool {
        n == 0
            || (n.is_multiple_of(self.rows)
                && (n / self.rows - 1) * self.ld + self.rows <= self.data.len())
    }

    /// The requests of weights `k0 .. k0 + out.len()`: a slice of the data when contiguous,
    /// else gathered column segment by column segment into `out`.
    #[inline(always)]
    fn get<'b>(&'b self, k0: usize, out: &'b mut [f32]) -> &'b [f32] {
        let m = out.len();
        if self.ld == self.rows {
            return &self.data[k0..k0 + m];
        }
        let (mut r, mut col, mut t) = (k0 % self.rows, k0 / self.rows, 0);
        while t < m {
            let len = (self.rows - r).min(m - t);
            let src = col * self.ld + r;
            out[t..t + len].copy_from_slice(&self.data[src..src + len]);
            t += len;
            r = 0;
            col += 1;
        }
        out
    }
}

struct Job<'a> {
    start: usize,
    gp: &'a mut [f32],
    gm: &'a mut [f32],
    /// The whole array's request; this job's weights are `start .. start + gp.len()`.
    req: Request<'a>,
    /// The request of weight k is `gain·req[k]`.
    gain: f32,
    /// g⁺ − g⁻ to keep current for the weights that get pulses.
    eff: Option<&'a mut [f32]>,
    acc: &'a mut [f32],
    up: Option<(&'a mut [u32], &'a mut [u32])>,
    down: Option<(&'a mut [u32], &'a mut [u32])>,
    counts: Counters,
}

struct PulseCtx<'a> {
    n: usize,
    g_min: f32,
    dg: f32,
    rounding: Rounding,
    max_pulses: i64,
    c2c: f32,
    soft: bool,
    var: &'a Variation,
}

impl PulseCtx<'_> {
    /// Integer pulse counts for a block of requests (`out.len()` of them, ≤ [`BLOCK`]), by the
    /// rounding mode, before clipping to `max_pulses`. Separate from the pulse loop so that it
    /// vectorises: a block's uniforms are drawn first (two 24-bit uniforms per 64-bit draw),
    /// then every count is formed without a branch. Requests are clamped to ±(max_pulses + 1)
    /// steps (at most 2²⁴) first, which the later clip to `max_pulses` makes invisible; NaN
    /// requests give no pulse.
    fn round_block(&self, req: &[f32], gain: f32, acc: &mut [f32], out: &mut [i32], rng: &mut Rng) {
        const BIG: f32 = 8_388_608.0; // 2²³: from here on every f32 is an integer
        let lim = (self.max_pulses as f32 + 1.0).min(2.0 * BIG);
        // Plain values, moved into the loops below: registers, not loads per element.
        let dg = self.dg;
        // r/Δg clamped to ±lim, NaN → 0: finite and within i32, so the conversions below are
        // exact and may be unchecked.
        #[inline(always)]
        fn clamped(r: f32, lim: f32) -> f32 {
            if r.is_nan() {
                0.0
            } else {
                r.clamp(-lim, lim)
            }
        }
        match self.rounding {
            Rounding::Truncate => wide(
                #[inline(always)]
                move || {
                    for (o, &q) in out.iter_mut().zip(req) {
                        // SAFETY: finite and |r| ≤ 2²⁴ (see `clamped`).
                        *o = unsafe { clamped((q * gain) / dg, lim).to_int_unchecked::<i32>() };
                    }
                },
            ),
            Rounding::Stochastic => {
                let mut u = [0.0f32; BLOCK];
                let u = &mut u[..out.len()];
                const SCALE: f32 = 1.0 / (1u32 << 24) as f32;
                for pair in u.chunks_mut(2) {
                    let bits = rng.next_u64();
                    pair[0] = (bits >> 40) as f32 * SCALE;
                    if let Some(v) = pair.get_mut(1) {
                        *v = ((bits >> 8) & 0xff_ffff) as f32 * SCALE;
                    }
                }
                let u = &*u;
                wide(
                    #[inline(always)]
                    move || {
                        for ((o, &q), &u) in out.iter_mut().zip(req).zip(u) {
                            let r = clamped((q * gain) / dg, lim);
                            // SAFETY: as above.
                            let t = unsafe { r.to_int_unchecked::<i32>() };
                            let below = (t as f32 > r) as i32; // r < 0 and not an integer
                            let f = (t - below) as f32; // floor(r)
                            *o = t - below + (u < r - f) as i32;
                        }
                    },
                )
            }
            Rounding::Accumulate => wide(
                #[inline(always)]
                move || {
                    for ((o, &q), a) in out.iter_mut().zip(req).zip(acc.iter_mut()) {
                        let x = *a + (q * gain) / dg;
                        // trunc(x): through an integer below 2²³, x itself above; NaN stays NaN.
                        // SAFETY: finite and |·| ≤ 2²³.
                        let ti = unsafe {
                            (if x.is_nan() { 0.0 } else { x.clamp(-BIG, BIG) })
                                .to_int_unchecked::<i32>()
                        } as f32;
                        let t = if x.abs() < BIG { ti } else { x };
                        *a = x - t;
                        // SAFETY: as in `clamped`.
                        *o = unsafe { clamped(t, lim).to_int_unchecked::<i32>() };
                    }
                },
            ),
        }
    }

    fn run(&self, job: &mut Job, rng: &mut Rng) {
        let mut counts = [0i32; BLOCK];
        let mut nonzero = [0usize; BLOCK];
        let mut gathered = [0.0f32; BLOCK];
        let len = job.gp.len();
        for k0 in (0..len).step_by(BLOCK) {
            let m = BLOCK.min(len - k0);
            let acc = if job.acc.is_empty() {
                &mut [][..]
            } else {
                &mut job.acc[k0..k0 + m]
            };
            let req = job.req.get(job.start + k0, &mut gathered[..m]);
            self.round_block(req, job.gain, acc, &mut counts[..m], rng);
            // The weights that get pulses, found without a branch per weight.
            let mut nz = 0;
            for (kk, &c) in counts[..m].iter().enumerate() {
                nonzero[nz] = kk;
                nz += (c != 0) as usize;
            }
            for &kk in &nonzero[..nz] {
                let k = k0 + kk;
                let steps = (counts[kk] as i64).clamp(-self.max_pulses, self.max_pulses);
                let dir = steps.signum() as f32;
                let total = steps.unsigned_abs();
                let i = job.start + k;
                if total == 1 {
                    // One pulse, the common case for small steps: the general path below
                    // without its data-dependent branches (a misprediction costs more than the
                    // pulse itself).
                    let (gp, gm) = (job.gp[k], job.gm[k]);
                    let to_minus = self.room(gm, i + self.n, -dir) > self.room(gp, i, dir);
                    let (d, sign, g) = if to_minus {
                        (i + self.n, -dir, gm)
                    } else {
                        (i, dir, gp)
                    };
                    let moved = self.pulse_one(g, d, sign, rng);
                    (job.gp[k], job.gm[k]) = if to_minus { (gp, moved) } else { (moved, gm) };
                    if let Some(e) = job.eff.as_mut() {
                        e[k] = job.gp[k] - job.gm[k];
                    }
                    let up = (sign > 0.0) as u64;
                    job.counts.pulses_up += up;
                    job.counts.pulses_down += 1 - up;
                    job.counts.cells_written += 1;
                    if job.up.is_some() || job.down.is_some() {
                        let (on_plus, on_minus) = (!to_minus as u32, to_minus as u32);
                        let (plus_up, minus_up) = if dir > 0.0 {
                            (on_plus, 0)
                        } else {
                            (0, on_minus)
                        };
                        if let Some((u_plus, u_minus)) = job.up.as_mut() {
                            u_plus[k] = u_plus[k].saturating_add(plus_up);
                            u_minus[k] = u_minus[k].saturating_add(minus_up);
                        }
                        if let Some((d_plus, d_minus)) = job.down.as_mut() {
                            d_plus[k] = d_plus[k].saturating_add(on_plus - plus_up);
                            d_minus[k] = d_minus[k].saturating_add(on_minus - minus_up);
                        }
                    }
                    continue;
                }
                let (more, less) = (total.div_ceil(2), total / 2);
                // The odd pulse goes to the device with more room in its direction (g⁺ on ties).
                let (on_plus, on_minus) = if more > less
                    && self.room(job.gm[k], i + self.n, -dir) > self.room(job.gp[k], i, dir)
                {
                    (less, more)
                } else {
                    (more, less)
                };
                self.pulse(&mut job.gp[k], i, on_plus, dir, rng);
                self.pulse(&mut job.gm[k], i + self.n, on_minus, -dir, rng);
                if let Some(e) = job.eff.as_mut() {
                    e[k] = job.gp[k] - job.gm[k];
                }
                let (up_n, down_n) = if dir > 0.0 {
                    (on_plus, on_minus)
                } else {
                    (on_minus, on_plus)
                };
                job.counts.pulses_up += up_n;
                job.counts.pulses_down += down_n;
                job.counts.cells_written += (on_plus > 0) as u64 + (on_minus > 0) as u64;
                // Per-device totals for traces: g⁺ moved in `dir`, g⁻ opposite.
                let (plus_up, minus_up) = if dir > 0.0 {
                    (on_plus, 0)
                } else {
                    (0, on_minus)
                };
                if let Some((u_plus, u_minus)) = job.up.as_mut() {
                    u_plus[k] = u_plus[k].saturating_add(plus_up as u32);
                    u_minus[k] = u_minus[k].saturating_add(minus_up as u32);
                }
                if let Some((d_plus, d_minus)) = job.down.as_mut() {
                    d_plus[k] = d_plus[k].saturating_add((on_plus - plus_up) as u32);
                    d_minus[k] = d_minus[k].saturating_add((on_minus - minus_up) as u32);
                }
            }
        }
    }

    /// How far device `d` at `g` can move in direction `dir` (±1) before its bound.
    fn room(&self, g: f32, d: usize, dir: f32) -> f32 {
        if dir > 0.0 {
            self.var.g_max.as_ref().map_or(1.0, |v| v.get(d)) - g
        } else {
            g - self.g_min
        }
    }

    /// [`PulseCtx::pulse`] with `count` = 1, on the value `g`; returns the new value. The same
    /// arithmetic and draws, written so that the compiler can use selects instead of branches.
    #[inline(always)]
    fn pulse_one(&self, g: f32, d: usize, dir: f32, rng: &mut Rng) -> f32 {
        if self.var.stuck.as_ref().is_some_and(|s| s[d] != FREE) {
            return g;
        }
        let g_max = self.var.g_max.as_ref().map_or(1.0, |v| v.get(d));
        let ud = self.var.up_down.as_ref().map_or(0.0, |v| v.get(d));
        let base = self.dg * self.var.step.as_ref().map_or(1.0, |v| v.get(d)) * (1.0 + dir * ud);
        let c2c = if self.c2c > 0.0 { normal(rng) } else { 0.0 };
        if self.soft {
            let range = g_max - self.g_min;
            let room = if dir > 0.0 { g_max - g } else { g - self.g_min } / range;
            let c2c = if self.c2c > 0.0 {
                1.0 + self.c2c * c2c
            } else {
                1.0
            };
            (g + dir * base * room.max(0.0) * c2c).clamp(self.g_min, g_max)
        } else {
            let noise = if self.c2c > 0.0 { self.c2c * c2c } else { 0.0 };
            (g + dir * base * (1.0 + noise)).clamp(self.g_min, g_max)
        }
    }

    /// `count` pulses in direction `dir` (±1) on device `d`.
    fn pulse(&self, g: &mut f32, d: usize, count: u64, dir: f32, rng: &mut Rng) {
        if count == 0 || self.var.stuck.as_ref().is_some_and(|s| s[d] != FREE) {
            return;
        }
        let g_max = self.var.g_max.as_ref().map_or(1.0, |v| v.get(d));
        let ud = self.var.up_down.as_ref().map_or(0.0, |v| v.get(d));
        let base = self.dg * self.var.step.as_ref().map_or(1.0, |v| v.get(d)) * (1.0 + dir * ud);
        if self.soft {
            let range = g_max - self.g_min;
            for _ in 0..count {
                let room = if dir > 0.0 {
                    (g_max - *g) / range
                } else {
                    (*g - self.g_min) / range
                };
                let c2c = if self.c2c > 0.0 {
                    1.0 + self.c2c * normal(rng)
                } else {
                    1.0
                };
                *g = (*g + dir * base * room.max(0.0) * c2c).clamp(self.g_min, g_max);
            }
        } else {
            // With hard bounds the sum of `count` steps with independent c2c noise is exactly
            // Gaussian: mean count·base, std base·c2c·√count (before clipping at the bounds).
            let c = count as f32;
            let noise = if self.c2c > 0.0 {
                self.c2c * c.sqrt() * normal(rng)
            } else {
                0.0
            };
            *g = (*g + dir * base * (c + noise)).clamp(self.g_min, g_max);
        }
    }
}

#[cfg(test)]
mod round_block_tests {
    use super::*;

    fn ctx(rounding: Rounding, var: &Variation) -> PulseCtx<'_> {
        PulseCtx {
            n: 0,
            g_min: 0.0,
            dg: 0.5,
            rounding,
            max_pulses: 31,
            c2c: 0.0,
            soft: false,
            var,
        }
    }

    #[test]
    fn one_pulse_fast_path_matches_the_general_pulse() {
        let mut rng = Rng::seed_from_u64(2);
        let n = 256;
        let mut v = |lo: f32, hi: f32| -> Option<Factors> {
            let values: Vec<f32> = (0..2 * n)
                .map(|_| lo + (hi - lo) * rng.gen::<f32>())
                .collect();
            Some(Factors::new(values.into_iter(), lo.min(0.0)))
        };
        let var = Variation {
            g_max: v(0.7, 1.2),
            step: v(0.5, 1.5),
            up_down: v(-0.1, 0.1),
            stuck: None,
            nu: None,
        };
        for soft in [true, false] {
            for c2c in [0.0, 0.4] {
                let ctx = PulseCtx {
                    n,
                    g_min: 0.05,
                    dg: 0.01,
                    rounding: Rounding::Stochastic,
                    max_pulses: 31,
                    c2c,
                    soft,
                    var: &var,
                };
                let mut r1 = Rng::seed_from_u64(7);
                let mut r2 = r1.clone();
                for d in 0..2 * n {
                    let g0 = 0.05 + 0.9 * ((d * 37 % 101) as f32 / 101.0);
                    for dir in [1.0f32, -1.0] {
                        let mut g = g0;
                        ctx.pulse(&mut g, d, 1, dir, &mut r1);
                        let h = ctx.pulse_one(g0, d, dir, &mut r2);
                        assert_eq!(
                            g.to_bits(),
                            h.to_bits(),
                            "soft {soft}, c2c {c2c}, device {d}, dir {dir}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn counts_follow_the_rounding_mode() {
        let var = Variation {
            g_max: None,
            step: None,
            up_down: None,
            stuck: None,
            nu: None,
        };
        let mut rng = Rng::seed_from_u64(1);
        // Requests in weight units; Δg = 0.5, so r = 2·request.
        let req = [
            0.0f32,
            0.74,
            -0.74,
            1.0,
            -1.0,
            1e9,
            -1e9,
            f32::NAN,
            f32::INFINITY,
            0.2,
        ];
        let mut out = [0i32; 10];
        ctx(Rounding::Truncate, &var).round_block(&req, 1.0, &mut [], &mut out, &mut rng);
        assert_eq!(out, [0, 1, -1, 2, -2, 32, -32, 0, 32, 0]);
        let mut acc = [0.0f32; 10];
        let c = ctx(Rounding::Accumulate, &var);
        c.round_block(&req, 1.0, &mut acc, &mut out, &mut rng);
        assert_eq!(&out[..4], &[0, 1, -1, 2]);
        assert!((acc[1] - 0.48).abs() < 1e-6 && (acc[9] - 0.4).abs() < 1e-6);
        c.round_block(&req, 1.0, &mut acc, &mut out, &mut rng);
        assert_eq!((out[1], out[9]), (1, 0));
        c.round_block(&req, 1.0, &mut acc, &mut out, &mut rng);
        assert_eq!(
            (out[1], out[9]),
            (2, 1),
            "remainders carry over: 3·1.48 = 4.44, 3·0.4 = 1.2"
        );
        // Stochastic: floor(r) or floor(r)+1, with mean r.
        let c = ctx(Rounding::Stochastic, &var);
        let reqs = [0.3f32 / 2.0, -1.3 / 2.0, 2.0 / 2.0];
        let mut sums = [0i64; 3];
        let trials = 20_000;
        for _ in 0..trials {
            let mut o = [0i32; 3];
            c.round_block(&reqs, 1.0, &mut [], &mut o, &mut rng);
            for k in 0..3 {
                let r = reqs[k] * 2.0;
                assert!(
                    o[k] == r.floor() as i32 || o[k] == r.floor() as i32 + 1,
                    "{} from {r}",
                    o[k]
                );
                sums[k] += o[k] as i64;
            }
        }
        for k in 0..3 {
            let mean = sums[k] as f64 / trials as f64;
            assert!(
                (mean - 2.0 * reqs[k] as f64).abs() < 0.02,
                "mean {mean} for r = {}",
                2.0 * reqs[k]
            );
        }
        let mut o = [7i32; 3];
        c.round_block(&[f32::NAN, 1e30, -1e30], 1.0, &mut [], &mut o, &mut rng);
        assert_eq!(o, [0, 32, -32]);
    }
}
