//! The one place that chooses the matrix-multiply backend.
//!
//! Storage is nalgebra's column-major `DMatrix<f32>`; products go through faer, which reads that
//! memory without copying and reaches ~250 GFLOP/s on 2 cores at our shapes, against ~130 for
//! nalgebra's own `gemm` and ~13 for its `gemm_tr` (a gemv loop). Transposed operands are
//! strided views, never copies, so `δ xᵀ` costs the same as `W x`.
//!
//! Threading: each OS thread has its own setting ([`set_threads`]), so a sweep can run one
//! single-threaded run per worker while a lone run uses every core. Results are bit-identical
//! for a given thread count.
//!
//! The element-wise work around the products (bias, activation, quantisers, noise, the rule's
//! arithmetic, optimiser) goes through the helpers at the bottom: `for_pieces` and friends
//! cut a slice into fixed pieces and run them on rayon's pool only when this thread's setting
//! allows more than one thread, so a piece's result never depends on the thread count, and
//! `wide` compiles a loop for AVX-512/AVX2 when the CPU has it. docs/performance.md says
//! what each costs.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use nalgebra::DMatrix;
use std::cell::Cell;

thread_local! {
    static THREADS: Cell<usize> = const { Cell::new(0) };
}

/// Sets how many threads this OS thread's matrix products (and noise fills) may use;
/// 0 means all of rayon's global pool.
pub fn set_threads(n: usize) {
    THREADS.with(|t| t.set(n));
}

/// Runs `f` with this OS thread's setting at `n` threads, then restores the setting: a task
/// that already runs beside others on rayon's pool (one array of a split layer) keeps its
/// products and element-wise loops on its own thread instead of nesting more parallelism.
pub fn with_threads<R>(n: usize, f: impl FnOnce() -> R) -> R {
    let before = THREADS.with(|t| t.replace(n));
    let r = f();
    THREADS.with(|t| t.set(before));
    r
}

/// The thread count in force on this OS thread (resolved: never 0).
pub fn threads() -> usize {
    let n = THREADS.with(|t| t.get());
    if n == 0 {
        rayon::current_num_threads()
    } else {
        n
    }
}

fn par() -> Par {
    match threads() {
        1 => Par::Seq,
        n => Par::rayon(n),
    }
}

/// Whether an operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Use the matrix as stored.
    N,
    /// Use its transpose (a free strided view).
    T,
}

fn view(m: &DMatrix<f32>, op: Op) -> MatRef<'_, f32> {
    let v = MatRef::from_column_major_slice(m.as_slice(), m.nrows(), m.ncols());
    match op {
        Op::N => v,
        Op::T => v.transpose(),
    }
}

/// Rows and columns of `op(m)`.
pub fn shape(m: &DMatrix<f32>, op: Op) -> (usize, usize) {
    match op {
        Op::N => (m.nrows(), m.ncols()),
        Op::T => (m.ncols(), m.nrows()),
    }
}

/// `c ← alpha · op(a) · op(b) + beta · c`, with `beta` either 0 (overwrite, `c` resized if its
/// shape differs) or 1 (accumulate). Other betas are not needed by the simulator and panic in
/// debug builds.
pub fn gemm(
    c: &mut DMatrix<f32>,
    beta: f32,
    alpha: f32,
    a: &DMatrix<f32>,
    ta: Op,
    b: &DMatrix<f32>,
    tb: Op,
) {
    let (m, k) = shape(a, ta);
    let (k2, n) = shape(b, tb);
    assert_eq!(k, k2, "gemm: inner dimensions differ ({m}×{k} · {k2}×{n})");
    let accum = if beta == 0.0 {
        if c.shape() != (m, n) {
            *c = DMatrix::zeros(m, n);
        }
        Accum::Replace
    } else {
        debug_assert_eq!(beta, 1.0, "gemm supports beta 0 or 1");
        assert_eq!(c.shape(), (m, n), "gemm: accumulator has the wrong shape");
        Accum::Add
    };
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if accum == Accum::Replace {
            c.fill(0.0);
        }
        return;
    }
    let dst = MatMut::from_column_major_slice_mut(c.as_mut_slice(), m, n);
    matmul(dst, accum, view(a, ta), view(b, tb), alpha, par());
}

/// `c ← op(a) · b[r0 .. r0 + k, :]`, `k` the inner dimension of `op(a)`: a product with a
/// block of rows of `b` read in place (a strided view), for one array of a split layer.
pub fn gemm_rows(c: &mut DMatrix<f32>, a: &DMatrix<f32>, ta: Op, b: &DMatrix<f32>, r0: usize) {
    let (m, k) = shape(a, ta);
    let n = b.ncols();
    assert!(
        r0 + k <= b.nrows(),
        "gemm_rows: rows {r0}..{} of {}",
        r0 + k,
        b.nrows()
    );
    if c.shape() != (m, n) {
        *c = DMatrix::zeros(m, n);
    }
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    let bv = view(b, Op::N).subrows(r0, k);
    let dst = MatMut::from_column_major_slice_mut(c.as_mut_slice(), m, n);
    matmul(dst, Accum::Replace, view(a, ta), bv, 1.0, par());
}

/// Convenience: a freshly allocated `op(a) · op(b)` (not for hot loops).
pub fn mul(a: &DMatrix<f32>, ta: Op, b: &DMatrix<f32>, tb: Op) -> DMatrix<f32> {
    let mut c = DMatrix::zeros(0, 0);
    gemm(&mut c, 0.0, 1.0, a, ta, b, tb);
    c
}

/// FLOPs of one `m×k · k×n` product (multiply and add counted separately).
pub fn gemm_flops(m: usize, k: usize, n: usize) -> f64 {
    2.0 * m as f64 * k as f64 * n as f64
}

/// Runs `f` compiled for the widest vector unit this CPU has (AVX-512, else AVX2), else as
/// is. Element-wise loops inside `f` then vectorise 8 or 16 lanes wide instead of the
/// baseline's 4; results are bit-identical (IEEE operations are exact per lane, and no
/// multiply–add is ever fused: Rust does not allow it). For compute-bound loops (division,
/// square root, quantisation); memory-bound ones gain nothing.
#[inline(always)]
pub(crate) fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f")
            && has!("avx512bw")
            && has!("avx512dq")
            && has!("avx512vl")
            && has!("avx2")
            && has!("fma")
        {
            // SAFETY: the features the function is compiled for were detected on this CPU.
            return unsafe { with_avx512(f) };
        }
        if has!("avx2") && has!("fma") {
            // SAFETY: as above.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Elements per piece of an element-wise parallel loop: big enough to amortise a rayon task
/// (~µs), small enough to balance two or more threads on a 1000 × 1000 matrix.
pub(crate) const PIECE: usize = 1 << 15;

/// Columns per piece for column-wise loops over a matrix with `rows` rows (at least one).
pub(crate) fn piece_cols(rows: usize) -> usize {
    (PIECE / rows.max(1)).max(1)
}

/// Runs `f(piece_index, piece)` over consecutive `len`-sized pieces of `data`, on rayon's pool
/// when this OS thread's setting ([`threads`]) allows more than one thread, else in order on
/// this thread. The partition does not depend on the thread count, so neither does any
/// per-piece result: loops built on it are bit-identical for every thread count.
pub(crate) fn for_pieces<T: Send>(
    data: &mut [T],
    len: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    let len = len.max(1);
    if threads() > 1 && data.len() > len {
        use rayon::prelude::*;
        data.par_chunks_mut(len)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    } else {
        data.chunks_mut(len).enumerate().for_each(|(i, c)| f(i, c));
    }
}

/// Like [`for_pieces`] over two slices cut into the same number of pieces, of `la` elements
/// in `a` and `lb` in `b` (e.g. a matrix's column blocks and their per-column statistics).
pub(crate) fn for_pieces2<T: Send, U: Send>(
    a: &mut [T],
    la: usize,
    b: &mut [U],
    lb: usize,
    f: impl Fn(usize, &mut [T], &mut [U]) + Sync + Send,
) {
    let (la, lb) = (la.max(1), lb.max(1));
    assert_eq!(
        a.len().div_ceil(la),
        b.len().div_ceil(lb),
        "for_pieces2: the slices cut into different numbers of pieces"
    );
    if threads() > 1 && a.len() > la {
        use rayon::prelude::*;
        a.par_chunks_mut(la)
            .zip(b.par_chunks_mut(lb))
            .enumerate()
            .for_each(|(i, (x, y))| f(i, x, y));
    } else {
        a.chunks_mut(la)
            .zip(b.chunks_mut(lb))
            .enumerate()
            .for_each(|(i, (x, y))| f(i, x, y));
    }
}

/// Like [`for_pieces`] over three slices of equal length cut at the same places.
pub(crate) fn for_pieces3<T: Send, U: Send, V: Send>(
    a: &mut [T],
    b: &mut [U],
    c: &mut [V],
    len: usize,
    f: impl Fn(&mut [T], &mut [U], &mut [V]) + Sync + Send,
) {
    let len = len.max(1);
    assert!(
        a.len() == b.len() && b.len() == c.len(),
        "for_pieces3: slices differ in length"
    );
    if threads() > 1 && a.len() > len {
        use rayon::prelude::*;
        a.par_chunks_mut(len)
            .zip(b.par_chunks_mut(len))
            .zip(c.par_chunks_mut(len))
            .for_each(|((x, y), z)| f(x, y, z));
    } else {
        a.chunks_mut(len)
            .zip(b.chunks_mut(len))
            .zip(c.chunks_mut(len))
            .for_each(|((x, y), z)| f(x, y, z));
    }
}

/// max_i |v_i| (0 for an empty slice), in eight lanes so that it vectorises.
#[inline(always)]
pub(crate) fn abs_max_of(v: &[f32]) -> f32 {
    let mut m = [0.0f32; 8];
    let mut it = v.chunks_exact(8);
    for c in &mut it {
        for k in 0..8 {
            m[k] = m[k].max(c[k].abs());
        }
    }
    it.remainder()
        .iter()
        .fold(m.iter().fold(0.0f32, |a, &b| a.max(b)), |a, &b| {
            a.max(b.abs())
        })
}

/// Σ v_i², in eight lanes (a fixed order, so the same bits every time) so that it vectorises.
#[inline(always)]
pub(crate) fn sum_squares(v: &[f32]) -> f32 {
    let mut m = [0.0f32; 8];
    let mut it = v.chunks_exact(8);
    for c in &mut it {
        for k in 0..8 {
            m[k] += c[k] * c[k];
        }
    }
    it.remainder()
        .iter()
        .fold(m.iter().sum::<f32>(), |a, &b| a + b * b)
}

/// Whether two slices hold the same bits (NaNs with equal payloads are equal, −0 ≠ +0).
pub(crate) fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.chunks(256).zip(b.chunks(256)).all(|(x, y)| {
            x.iter()
                .zip(y)
                .fold(0u32, |acc, (p, q)| acc | (p.to_bits() ^ q.to_bits()))
                == 0
        })
}

/// Copies `src` into `dst`, reshaping `dst` only if its shape differs (no allocation in the
/// steady state); parallel for large matrices.
pub(crate) fn copy_into(dst: &mut DMatrix<f32>, src: &DMatrix<f32>) {
    if dst.shape() != src.shape() {
        *dst = DMatrix::zeros(src.nrows(), src.ncols());
    }
    let s = src.as_slice();
    for_pieces(dst.as_mut_slice(), PIECE, |i, d| {
        d.copy_from_slice(&s[i * PIECE..i * PIECE + d.len()])
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &DMatrix<f32>, b: &DMatrix<f32>) -> DMatrix<f32> {
        let mut c = DMatrix::zeros(a.nrows(), b.ncols());
        for i in 0..a.nrows() {
            for j in 0..b.ncols() {
                let mut s = 0.0f64;
                for k in 0..a.ncols() {
                    s += a[(i, k)] as f64 * b[(k, j)] as f64;
                }
                c[(i, j)] = s as f32;
            }
        }
        c
    }

    #[test]
    fn lane_reductions_match_plain_ones() {
        let v: Vec<f32> = (0..1003)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        assert_eq!(abs_max_of(&v), v.iter().fold(0.0f32, |m, x| m.max(x.abs())));
        let plain: f64 = v.iter().map(|&x| (x as f64) * (x as f64)).sum();
        assert!((sum_squares(&v) as f64 - plain).abs() < 1e-4 * plain);
        assert_eq!(abs_max_of(&[]), 0.0);
        let mut w = v.clone();
        assert!(same_bits(&v, &w));
        w[1000] = -w[1000];
        assert!(!same_bits(&v, &w));
        assert!(!same_bits(&[0.0], &[-0.0]) && !same_bits(&v, &v[1..]));
    }

    #[test]
    fn pieces_cover_everything_once_for_any_thread_count() {
        for t in [1, 2] {
            set_threads(t);
            let mut a = vec![0u32; 3 * PIECE + 5];
            let mut b = vec![0u8; a.len().div_ceil(PIECE)];
            for_pieces2(&mut a, PIECE, &mut b, 1, |p, x, y| {
                x.iter_mut().for_each(|v| *v += 1 + p as u32);
                y[0] = p as u8;
            });
            assert!(a
                .iter()
                .enumerate()
                .all(|(i, &v)| v == 1 + (i / PIECE) as u32));
            assert_eq!(b, vec![0, 1, 2, 3]);
            let src = DMatrix::from_fn(300, 200, |i, j| (i * 7 + j) as f32);
            let mut dst = DMatrix::zeros(1, 1);
            copy_into(&mut dst, &src);
            assert_eq!(dst, src);
        }
        set_threads(0);
    }

    #[test]
    fn all_transpose_combinations_match_naive_product() {
        let a = DMatrix::from_fn(7, 5, |i, j| (i as f32 * 0.3 - j as f32 * 0.7).sin());
        let b = DMatrix::from_fn(5, 9, |i, j| (i as f32 * 1.1 + j as f32 * 0.2).cos());
        let want = naive(&a, &b);
        let at = a.transpose();
        let bt = b.transpose();
        for (x, tx, y, ty) in [
            (&a, Op::N, &b, Op::N),
            (&at, Op::T, &b, Op::N),
            (&a, Op::N, &bt, Op::T),
            (&at, Op::T, &bt, Op::T),
        ] {
            let got = mul(x, tx, y, ty);
            assert!((got - &want).amax() < 1e-5);
        }
        let mut acc = want.clone();
        gemm(&mut acc, 1.0, -1.0, &a, Op::N, &b, Op::N);
        assert!(acc.amax() < 1e-5, "accumulate with alpha=-1 must cancel");
    }
}
