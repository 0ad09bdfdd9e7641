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
pub fn gemm(c: &mut DMatrix<f32>, beta: f32, alpha: f32, a: &DMatrix<f32>, ta: Op, b: &DMatrix<f32>, tb: Op) {
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
    fn all_transpose_combinations_match_naive_product() {
        let a = DMatrix::from_fn(7, 5, |i, j| (i as f32 * 0.3 - j as f32 * 0.7).sin());
        let b = DMatrix::from_fn(5, 9, |i, j| (i as f32 * 1.1 + j as f32 * 0.2).cos());
        let want = naive(&a, &b);
        let at = a.transpose();
        let bt = b.transpose();
        for (x, tx, y, ty) in [(&a, Op::N, &b, Op::N), (&at, Op::T, &b, Op::N), (&a, Op::N, &bt, Op::T), (&at, Op::T, &bt, Op::T)] {
            let got = mul(x, tx, y, ty);
            assert!((got - &want).amax() < 1e-5);
        }
        let mut acc = want.clone();
        gemm(&mut acc, 1.0, -1.0, &a, Op::N, &b, Op::N);
        assert!(acc.amax() < 1e-5, "accumulate with alpha=-1 must cancel");
    }
}
