//! Symmetric int8 quantization with one scale per row.
//!
//! `x ≈ scale · q` with `scale = max|x| / 127`, so each element's error is at
//! most `scale / 2` and a row's largest element is exact up to rounding.
//! Scoring works on the quantized rows directly (`scale · (q · v)`): the f32
//! matrix is never rebuilt at run time.

use serde::{Deserialize, Serialize};

use crate::linalg::dot_i8;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QMatrix {
    rows: u32,
    cols: u32,
    scales: Vec<f32>,
    data: Vec<i8>,
}

impl QMatrix {
    /// Quantizes a row-major `rows × cols` f32 matrix. Non-finite inputs are
    /// the caller's bug; they quantize to 0 rather than poisoning the row.
    pub fn quantize(values: &[f32], rows: usize, cols: usize) -> Self {
        assert_eq!(
            values.len(),
            rows * cols,
            "matrix shape does not match its data"
        );
        let mut scales = Vec::with_capacity(rows);
        let mut data = Vec::with_capacity(rows * cols);
        for row in values.chunks_exact(cols.max(1)).take(rows) {
            let max = row
                .iter()
                .filter(|v| v.is_finite())
                .fold(0f32, |m, v| m.max(v.abs()));
            let scale = max / 127.0;
            scales.push(scale);
            let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            data.extend(row.iter().map(|v| {
                if v.is_finite() {
                    (v * inv).round().clamp(-127.0, 127.0) as i8
                } else {
                    0
                }
            }));
        }
        QMatrix {
            rows: rows as u32,
            cols: cols as u32,
            scales,
            data,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows as usize
    }

    pub fn cols(&self) -> usize {
        self.cols as usize
    }

    /// The quantized values and the scale of row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> (&[i8], f32) {
        let c = self.cols();
        (&self.data[r * c..(r + 1) * c], self.scales[r])
    }

    /// `row_r · x`, computed on the int8 values.
    #[inline]
    pub fn dot_row(&self, r: usize, x: &[f32]) -> f32 {
        let (q, s) = self.row(r);
        s * dot_i8(q, x)
    }

    /// `row_r · x` for an int16-quantized `x ≈ x_scale · xq`: exact integer
    /// arithmetic, so every target gives the same score.
    #[inline]
    pub fn dot_row_i16(&self, r: usize, xq: &[i16], x_scale: f32) -> f32 {
        let (q, s) = self.row(r);
        (s * x_scale) * crate::linalg::dot_i8_i16(q, xq) as f32
    }

    /// `out += a · row_r`
    #[inline]
    pub fn add_scaled_row(&self, r: usize, a: f32, out: &mut [f32]) {
        let (q, s) = self.row(r);
        let a = a * s;
        for (o, v) in out.iter_mut().zip(q) {
            *o += a * f32::from(*v);
        }
    }

    pub fn dequantize_row(&self, r: usize) -> Vec<f32> {
        let (q, s) = self.row(r);
        q.iter().map(|v| s * f32::from(*v)).collect()
    }

    /// The whole matrix as row-major f32.
    pub fn dequantize(&self) -> Vec<f32> {
        (0..self.rows())
            .flat_map(|r| self.dequantize_row(r))
            .collect()
    }

    /// Bytes the matrix takes in memory (values + scales).
    pub fn byte_size(&self) -> usize {
        self.data.len() + 4 * self.scales.len()
    }

    /// Checks the invariants that indexing relies on, so a decoded (possibly
    /// hostile) matrix can never cause an out-of-bounds access.
    pub fn validate(&self) -> Result<(), String> {
        let (r, c) = (self.rows as u64, self.cols as u64);
        if self.scales.len() as u64 != r {
            return Err(format!("{} scales for {} rows", self.scales.len(), r));
        }
        if self.data.len() as u64 != r * c {
            return Err(format!("{} values for a {r}×{c} matrix", self.data.len()));
        }
        if let Some(i) = self.scales.iter().position(|s| !s.is_finite() || *s < 0.0) {
            return Err(format!("row {i} has an invalid scale {}", self.scales[i]));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn error_is_within_half_a_step_per_element() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (rows, cols) = (200, 37);
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| rng.random_range(-1.0f32..1.0) * ((i % 13) as f32 + 0.1))
            .collect();
        let q = QMatrix::quantize(&values, rows, cols);
        q.validate().unwrap();
        for r in 0..rows {
            let (_, scale) = q.row(r);
            let back = q.dequantize_row(r);
            let orig = &values[r * cols..(r + 1) * cols];
            let max = orig.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!((scale - max / 127.0).abs() <= f32::EPSILON * max);
            for (a, b) in orig.iter().zip(&back) {
                assert!(
                    (a - b).abs() <= scale * 0.5 + 1e-6,
                    "{a} vs {b}, scale {scale}"
                );
            }
        }
    }

    #[test]
    fn quantized_dot_is_close_to_f32_dot() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let (rows, cols) = (50, 64);
        let values: Vec<f32> = (0..rows * cols)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let q = QMatrix::quantize(&values, rows, cols);
        for r in 0..rows {
            let exact = crate::linalg::dot(&values[r * cols..(r + 1) * cols], &x);
            // |Σ e_i x_i| ≤ (scale/2) Σ|x_i|
            let bound = q.row(r).1 * 0.5 * x.iter().map(|v| v.abs()).sum::<f32>();
            assert!((q.dot_row(r, &x) - exact).abs() <= bound + 1e-5);
        }
    }

    #[test]
    fn zero_rows_and_non_finite_values_do_not_poison() {
        let q = QMatrix::quantize(&[0.0, 0.0, f32::NAN, 2.0], 2, 2);
        assert_eq!(q.dequantize(), vec![0.0, 0.0, 0.0, 2.0]);
        q.validate().unwrap();
    }

    #[test]
    fn validate_rejects_inconsistent_shapes() {
        let mut q = QMatrix::quantize(&[1.0, 2.0], 1, 2);
        q.rows = 2;
        assert!(q.validate().is_err());
    }
}
