//! Losses the controller computes digitally from the chip's output (logits, `classes × B`).

use nalgebra::DMatrix;

/// The training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Softmax cross-entropy: ℓ = logsumexp(a) − a_y.
    CrossEntropy,
    /// Squared error against one-hot targets: ℓ = ½‖a − t‖².
    Mse,
}

impl Loss {
    /// Name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Loss::CrossEntropy => "ce",
            Loss::Mse => "mse",
        }
    }

    /// Per-sample losses of `out` against one-hot `targets` into `loss` (length B).
    pub fn per_sample(self, out: &DMatrix<f32>, targets: &DMatrix<f32>, loss: &mut Vec<f32>) {
        loss.clear();
        for (a, t) in out.column_iter().zip(targets.column_iter()) {
            let l = match self {
                Loss::CrossEntropy => {
                    let m = a.max();
                    let lse = m + a.iter().map(|v| (v - m).exp()).sum::<f32>().ln();
                    lse - a.dot(&t)
                }
                Loss::Mse => 0.5 * (a - t).norm_squared(),
            };
            loss.push(l);
        }
    }

    /// dℓ/da per sample (not averaged), into `grad` (`classes × B`).
    pub fn gradient(self, out: &DMatrix<f32>, targets: &DMatrix<f32>, grad: &mut DMatrix<f32>) {
        if grad.shape() != out.shape() {
            *grad = DMatrix::zeros(out.nrows(), out.ncols());
        }
        for ((a, t), mut g) in out
            .column_iter()
            .zip(targets.column_iter())
            .zip(grad.column_iter_mut())
        {
            match self {
                Loss::CrossEntropy => {
                    let m = a.max();
                    let z: f32 = a.iter().map(|v| (v - m).exp()).sum();
                    for i in 0..a.len() {
                        g[i] = (a[i] - m).exp() / z - t[i];
                    }
                }
                Loss::Mse => g.copy_from(&(a - t)),
            }
        }
    }
}

/// Number of columns whose argmax equals the argmax of the one-hot target.
pub fn correct(out: &DMatrix<f32>, targets: &DMatrix<f32>) -> usize {
    out.column_iter()
        .zip(targets.column_iter())
        .filter(|(a, t)| a.imax() == t.imax())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradients_match_finite_differences() {
        let out = DMatrix::from_column_slice(3, 2, &[0.2, -1.0, 0.7, 1.5, 0.1, -0.3]);
        let t = DMatrix::from_column_slice(3, 2, &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        for loss in [Loss::CrossEntropy, Loss::Mse] {
            let mut g = DMatrix::zeros(0, 0);
            loss.gradient(&out, &t, &mut g);
            let (mut lp, mut lm) = (Vec::new(), Vec::new());
            for k in 0..out.len() {
                let h = 1e-3;
                let (mut p, mut m) = (out.clone(), out.clone());
                p[k] += h;
                m[k] -= h;
                loss.per_sample(&p, &t, &mut lp);
                loss.per_sample(&m, &t, &mut lm);
                let col = k / 3;
                let fd = (lp[col] - lm[col]) / (2.0 * h);
                assert!(
                    (fd - g[k]).abs() < 2e-3,
                    "{loss:?} k={k}: fd {fd} vs {}",
                    g[k]
                );
            }
        }
    }
}
