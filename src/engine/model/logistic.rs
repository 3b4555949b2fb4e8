//! Logistic regression by Newton's method (iteratively reweighted least squares) over
//! patterns: examples with the same features are one row with their counts of positives and
//! negatives, so memory grows with the distinct feature patterns, not with the examples.

use std::collections::HashMap;

/// Examples grouped by their features (small whole numbers: flags and capped counts).
#[derive(Clone, Debug, Default)]
pub struct Patterns {
    width: usize,
    rows: HashMap<Box<[u8]>, (f64, f64)>,
}

impl Patterns {
    pub fn new(width: usize) -> Self {
        Patterns {
            width,
            rows: HashMap::new(),
        }
    }

    /// Counts one example with `features` (of the width given) and its outcome.
    pub fn add(&mut self, features: &[u8], positive: bool) {
        debug_assert_eq!(features.len(), self.width);
        let row = self.rows.entry(features.into()).or_default();
        if positive {
            row.0 += 1.0;
        } else {
            row.1 += 1.0;
        }
    }

    /// How many distinct feature patterns were seen.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A fitted model: `P(positive) = σ(intercept + Σ coefficients · features)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    pub intercept: f64,
    pub coefficients: Vec<f64>,
    /// Each coefficient's standard error, from the inverse of the Hessian at the fit.
    pub standard_errors: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
}

/// The most Newton steps taken; a well-posed fit converges in under ten.
pub const MAX_ITERATIONS: usize = 50;

/// Fits `patterns` by maximum likelihood with an L2 penalty `ridge` on the coefficients (not
/// the intercept), which keeps a feature that separates the outcomes perfectly, or never
/// varies, finite instead of diverging.
pub fn fit(patterns: &Patterns, ridge: f64) -> Fit {
    let d = patterns.width + 1;
    let mut theta = vec![0.0; d];
    let mut iterations = 0;
    let mut converged = false;
    let mut hessian = vec![vec![0.0; d]; d];
    while iterations < MAX_ITERATIONS {
        iterations += 1;
        let mut gradient = vec![0.0; d];
        for row in hessian.iter_mut() {
            row.fill(0.0);
        }
        let mut x = vec![1.0; d];
        for (features, &(positive, negative)) in &patterns.rows {
            for (slot, &f) in x[1..].iter_mut().zip(features.iter()) {
                *slot = f64::from(f);
            }
            let p = sigmoid(dot(&theta, &x));
            let n = positive + negative;
            let residual = positive - n * p;
            let w = n * p * (1.0 - p);
            for i in 0..d {
                gradient[i] += residual * x[i];
                for j in 0..=i {
                    hessian[i][j] += w * x[i] * x[j];
                }
            }
        }
        for i in 0..d {
            let (above, below) = hessian.split_at_mut(i);
            for (j, row) in above.iter_mut().enumerate() {
                row[i] = below[0][j];
            }
            if i > 0 {
                gradient[i] -= ridge * theta[i];
                hessian[i][i] += ridge;
            }
        }
        let Some(step) = solve(&hessian, &gradient) else {
            break;
        };
        for (t, s) in theta.iter_mut().zip(&step) {
            *t += s;
        }
        if step.iter().all(|s| s.abs() < 1e-9) {
            converged = true;
            break;
        }
    }
    let standard_errors = (1..d)
        .map(|i| {
            let mut unit = vec![0.0; d];
            unit[i] = 1.0;
            solve(&hessian, &unit).map_or(f64::NAN, |column| column[i].max(0.0).sqrt())
        })
        .collect();
    Fit {
        intercept: theta[0],
        coefficients: theta[1..].to_vec(),
        standard_errors,
        iterations,
        converged,
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting; `None` if `a` is
/// singular.
fn solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .zip(b)
        .map(|(row, &v)| {
            let mut row = row.clone();
            row.push(v);
            row
        })
        .collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, pivot);
        let (upper, lower) = m.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for row in lower.iter_mut() {
            let factor = row[col] / pivot_row[col];
            for (cell, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *cell -= factor * p;
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let known: f64 = (row + 1..n).map(|k| m[row][k] * x[k]).sum();
        x[row] = (m[row][n] - known) / m[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;

    /// Examples drawn from a model whose coefficients are known: two flags, a penalty flag
    /// and a count from 0 to 5; the fit must find each within 0.1 (about four standard
    /// errors at this sample size).
    #[test]
    fn recovers_the_coefficients_data_was_generated_from() {
        let truth = [1.2, 0.8, -1.5, 0.4];
        let intercept = -2.5;
        let mut rng = StdRng::seed_from_u64(7);
        let mut patterns = Patterns::new(truth.len());
        for _ in 0..200_000 {
            let x = [
                u8::from(rng.gen_bool(0.5)),
                u8::from(rng.gen_bool(0.3)),
                u8::from(rng.gen_bool(0.2)),
                rng.gen_range(0..=5u8),
            ];
            let z = intercept
                + truth
                    .iter()
                    .zip(x)
                    .map(|(b, v)| b * f64::from(v))
                    .sum::<f64>();
            patterns.add(&x, rng.gen_bool(sigmoid(z)));
        }
        assert!(patterns.len() <= 2 * 2 * 2 * 6, "one row per pattern");
        let fit = fit(&patterns, 1e-6);
        assert!(fit.converged, "{fit:?}");
        assert!((fit.intercept - intercept).abs() < 0.1, "{fit:?}");
        for (i, (got, want)) in fit.coefficients.iter().zip(truth).enumerate() {
            assert!((got - want).abs() < 0.1, "coefficient {i}: {got} vs {want}");
            assert!(fit.standard_errors[i] < 0.05, "{fit:?}");
        }
    }

    #[test]
    fn a_feature_that_never_varies_stays_finite() {
        let mut patterns = Patterns::new(2);
        for i in 0..100 {
            patterns.add(&[1, 0], i % 3 == 0);
            patterns.add(&[0, 0], i % 5 == 0);
        }
        let fit = fit(&patterns, 1.0);
        assert!(fit.coefficients.iter().all(|c| c.is_finite()), "{fit:?}");
        assert!(
            fit.coefficients[1].abs() < 1e-9,
            "the constant feature carries nothing"
        );
        assert!(fit.coefficients[0] > 0.0, "a third beats a fifth");
    }
}
