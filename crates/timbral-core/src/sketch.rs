//! A low-rank sketch of the content vectors that lets fused `recommend`
//! skip the full content scan for most items and still return exactly the
//! list the full scan gives.
//!
//! Each item's unit content vector `x̂ = [t ‖ w·a] / ‖[t ‖ w·a]‖` splits into
//! its part on `r` orthonormal axes `P` (the trainer takes the leading
//! principal axes) and the rest, so for a unit query `q̂`
//!
//! ```text
//! q̂·x̂ = (Pq̂)·(Px̂) + q̂⊥·x̂⊥,   |q̂⊥·x̂⊥| ≤ ‖q̂⊥‖·‖x̂⊥‖   (Cauchy–Schwarz)
//! ```
//!
//! The sketch stores `Px̂` in int8 (r values per item instead of ~400), and
//! per item the residual norm `‖x̂⊥‖` and the int8 rounding error, so a scan
//! of the sketch gives every item's content cosine within a known interval.
//! Fusion turns those into intervals of the fused score, keeps the items
//! whose interval reaches the k-th best lower bound, and scores only those
//! exactly (see `Model::recommend_fused`).
//!
//! Fusion standardises the content cosine over the candidate items; the
//! sums `Σx̂` and `Σx̂x̂ᵀ` stored here give that mean and variance for any
//! query without a scan.

use serde::{Deserialize, Serialize};

use crate::content::{Content, ContentNorms, ContentQuery};
use crate::linalg::{dot, quantize_i16};
use crate::quant::QMatrix;

/// Added to every cosine bound (in cosine units). It covers what the bound
/// itself does not: the int16 rounding of the queries (≤ 3e-4 for a unit
/// query of 393 dimensions) and f32 summation order.
pub const BOUND_SLACK: f32 = 2e-3;

/// Largest deviation of `PPᵀ` from the identity a bundle may carry.
const ORTHONORMAL_TOLERANCE: f32 = 1e-4;

/// The `content_sketch` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContentSketch {
    /// r × d, orthonormal rows; d = text dims + audio dims.
    pub axes: Vec<f32>,
    /// n × r: every item's unit content vector on the axes.
    pub coords: QMatrix,
    /// Per item: `‖x̂ − PᵀPx̂‖`, what the axes miss.
    pub residual: Vec<f32>,
    /// Per item: `‖Px̂ − coords‖`, what int8 rounding lost.
    pub rounding: Vec<f32>,
    /// `Σ x̂` over all items (d).
    pub sum: Vec<f32>,
    /// `Σ x̂x̂ᵀ` over all items: the upper triangle, row by row
    /// (d(d+1)/2 values).
    pub second: Vec<f32>,
}

/// `Σ x̂` and the upper triangle of `Σ x̂x̂ᵀ`, accumulated in f64: what the
/// trainer finds the axes from, and what the sketch stores.
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    pub dim: usize,
    pub sum: Vec<f64>,
    pub second: Vec<f64>,
}

impl Moments {
    pub fn of(content: &Content, norms: &ContentNorms) -> Moments {
        let d = content.dim();
        let (sum, second) =
            crate::shortlist::moments(d, (0..content.len()).map(|i| content.unit_row(i, norms)));
        Moments {
            dim: d,
            sum,
            second,
        }
    }

    /// Entry (a, b) of the full symmetric `Σ x̂x̂ᵀ`.
    pub fn second_at(&self, a: usize, b: usize) -> f64 {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        // Rows 0..a hold d + (d−1) + … + (d−a+1) values.
        let start = a * self.dim - a * (a.saturating_sub(1)) / 2;
        self.second[start + (b - a)]
    }
}

/// A query prepared for the sketch: its unit vector, its part on the axes
/// (int16 for the integer scan) and the norms the bounds need.
pub struct SketchQuery {
    /// `q̂`, d values.
    pub unit: Vec<f32>,
    proj_q: Vec<i16>,
    proj_scale: f32,
    /// `‖Pq̂‖`
    proj_norm: f32,
    /// `‖q̂ − PᵀPq̂‖`
    perp_norm: f32,
}

impl ContentSketch {
    /// Builds the sketch of `content` on `axes` (r × d, orthonormal rows).
    pub fn build(
        content: &Content,
        norms: &ContentNorms,
        axes: Vec<f32>,
        moments: &Moments,
    ) -> Self {
        let d = content.dim();
        let r = axes.len().checked_div(d).unwrap_or(0);
        let n = content.len();
        let mut proj = Vec::with_capacity(n * r);
        let mut residual = Vec::with_capacity(n);
        for i in 0..n {
            let x = content.unit_row(i, norms);
            let p: Vec<f32> = axes.chunks_exact(d).map(|a| dot(a, &x)).collect();
            residual.push(perp_norm(&axes, d, &x, &p));
            proj.extend_from_slice(&p);
        }
        let coords = QMatrix::quantize(&proj, n, r);
        let rounding = (0..n)
            .map(|i| {
                let back = coords.dequantize_row(i);
                let p = &proj[i * r..(i + 1) * r];
                let e: f64 = p
                    .iter()
                    .zip(&back)
                    .map(|(a, b)| f64::from(a - b).powi(2))
                    .sum();
                e.sqrt() as f32
            })
            .collect();
        ContentSketch {
            axes,
            coords,
            residual,
            rounding,
            sum: moments.sum.iter().map(|&v| v as f32).collect(),
            second: moments.second.iter().map(|&v| v as f32).collect(),
        }
    }

    pub fn rank(&self) -> usize {
        self.coords.cols()
    }

    fn dim(&self) -> usize {
        self.sum.len()
    }

    /// Shapes, finiteness and orthonormal axes: what indexing and the
    /// bounds' algebra rely on. (The residual norms are the trainer's word,
    /// guarded by the bundle's checksum; recomputing them would cost a full
    /// projection of the catalogue at every load.)
    pub fn validate(&self, n_items: usize, dim: usize) -> Result<(), String> {
        self.coords.validate()?;
        let r = self.rank();
        if self.coords.rows() != n_items
            || self.residual.len() != n_items
            || self.rounding.len() != n_items
        {
            return Err(format!(
                "{} sketch rows, {} residuals and {} rounding errors for {n_items} items",
                self.coords.rows(),
                self.residual.len(),
                self.rounding.len()
            ));
        }
        if self.axes.len() != r * dim
            || self.sum.len() != dim
            || self.second.len() != dim * (dim + 1) / 2
        {
            return Err(format!(
                "axes, sum and second moments do not fit rank {r} in {dim} content dimensions"
            ));
        }
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        if !(finite(&self.axes) && finite(&self.sum) && finite(&self.second)) {
            return Err("non-finite axes or moments".into());
        }
        if !self
            .residual
            .iter()
            .chain(&self.rounding)
            .all(|x| x.is_finite() && *x >= 0.0)
        {
            return Err("residual and rounding norms must be finite and ≥ 0".into());
        }
        for a in 0..r {
            for b in a..r {
                let g = dot(
                    &self.axes[a * dim..(a + 1) * dim],
                    &self.axes[b * dim..(b + 1) * dim],
                );
                let want = if a == b { 1.0 } else { 0.0 };
                if (g - want).abs() > ORTHONORMAL_TOLERANCE {
                    return Err(format!("axes {a} and {b} are not orthonormal (dot {g})"));
                }
            }
        }
        Ok(())
    }

    /// Prepares a content query; `None` for a zero query.
    pub fn query(&self, content: &Content, q: &ContentQuery) -> Option<SketchQuery> {
        let unit = content.unit_query(q)?;
        let d = self.dim();
        let p: Vec<f32> = self.axes.chunks_exact(d).map(|a| dot(a, &unit)).collect();
        let perp = perp_norm(&self.axes, d, &unit, &p);
        let (proj_q, proj_scale) = quantize_i16(&p);
        Some(SketchQuery {
            proj_norm: dot(&p, &p).sqrt(),
            perp_norm: perp,
            unit,
            proj_q,
            proj_scale,
        })
    }

    /// Item `i`'s content cosine with the query, approximately, and how far
    /// the exact one can be from it.
    #[inline]
    pub fn estimate(&self, q: &SketchQuery, i: usize) -> (f32, f32) {
        let c = self.coords.dot_row_i16(i, &q.proj_q, q.proj_scale);
        let err = q.perp_norm * self.residual[i] + q.proj_norm * self.rounding[i] + BOUND_SLACK;
        (c, err)
    }

    /// `q̂·Σx̂` and `q̂ᵀ(Σx̂x̂ᵀ)q̂`: the sum and the sum of squares of the
    /// query's cosine with every item.
    pub fn cosine_sums(&self, q: &SketchQuery) -> (f64, f64) {
        let u = &q.unit;
        let d = self.dim();
        let linear = f64::from(dot(u, &self.sum));
        let mut quad = 0f64;
        let mut at = 0;
        for a in 0..d {
            let row = &self.second[at..at + d - a];
            if u[a] != 0.0 {
                // Diagonal once, the rest of the row twice (symmetry).
                let off = dot(&row[1..], &u[a + 1..]);
                quad +=
                    f64::from(u[a]) * (f64::from(row[0]) * f64::from(u[a]) + 2.0 * f64::from(off));
            }
            at += d - a;
        }
        (linear, quad)
    }
}

/// `‖x − Pᵀp‖` for `p = Px`.
fn perp_norm(axes: &[f32], d: usize, x: &[f32], p: &[f32]) -> f32 {
    let mut rest: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    for (a, &pa) in axes.chunks_exact(d).zip(p) {
        for (r, &av) in rest.iter_mut().zip(a) {
            *r -= f64::from(pa) * f64::from(av);
        }
    }
    rest.iter().map(|v| v * v).sum::<f64>().sqrt() as f32
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Random content (some items without audio, one all-zero item).
    pub(crate) fn random_content(n: usize, text: usize, audio: usize, seed: u64) -> Content {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        // A few clusters, so the leading axes carry most of the energy.
        let centers: Vec<Vec<f32>> = (0..4)
            .map(|_| (0..text).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let mut t = Vec::with_capacity(n * text);
        let mut a = Vec::with_capacity(n * audio);
        for i in 0..n {
            let c = &centers[i % 4];
            let zero = i == 3;
            t.extend(c.iter().map(|&v| {
                if zero {
                    0.0
                } else {
                    v + rng.random_range(-0.5f32..0.5)
                }
            }));
            let has_audio = i % 3 != 0 && !zero;
            a.extend((0..audio).map(|_| {
                if has_audio {
                    rng.random_range(-1.0f32..1.0)
                } else {
                    0.0
                }
            }));
        }
        Content {
            text: QMatrix::quantize(&t, n, text),
            audio: QMatrix::quantize(&a, n, audio),
            audio_weight: 0.5,
            labels: vec![vec![]; n],
            label_weights: vec![vec![]; n],
            model_sha256: String::new(),
            tokenizer_sha256: String::new(),
            projection: None,
        }
    }

    /// `r` random orthonormal axes in `d` dimensions (Gram–Schmidt): the
    /// bounds hold for any orthonormal axes, not only principal ones.
    pub(crate) fn random_axes(d: usize, r: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut axes: Vec<Vec<f64>> = Vec::new();
        while axes.len() < r {
            let mut v: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
            for a in &axes {
                let p: f64 = a.iter().zip(&v).map(|(x, y)| x * y).sum();
                v.iter_mut().zip(a).for_each(|(x, y)| *x -= p * y);
            }
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter_mut().for_each(|x| *x /= n);
            axes.push(v);
        }
        axes.into_iter().flatten().map(|v| v as f32).collect()
    }

    pub(crate) fn sketch_of(c: &Content, r: usize) -> ContentSketch {
        let norms = c.norms();
        let m = Moments::of(c, &norms);
        ContentSketch::build(c, &norms, random_axes(c.dim(), r, 9), &m)
    }

    #[test]
    fn every_cosine_lies_within_its_bound() {
        let c = random_content(300, 40, 5, 1);
        let norms = c.norms();
        let s = sketch_of(&c, 6);
        s.validate(300, 45).unwrap();
        for seed in 0..20u32 {
            let q = c.centroid(&[(seed, 1.0), (seed * 7 % 300, 2.0), (seed * 13 % 300, 0.5)]);
            let sq = s.query(&c, &q).unwrap();
            let exact = c.cosines(&q, &norms, false);
            for (i, &e) in exact.iter().enumerate() {
                let (est, err) = s.estimate(&sq, i);
                assert!(
                    (est - e).abs() <= err,
                    "item {i}: exact {e}, estimate {est} ± {err}"
                );
                // The bound is not vacuous: most of it is the residual.
                assert!(err < 1.0);
            }
        }
    }

    #[test]
    fn cosine_sums_match_a_scan() {
        let c = random_content(200, 24, 3, 2);
        let norms = c.norms();
        let s = sketch_of(&c, 4);
        let q = c.centroid(&[(5, 1.0), (17, 3.0)]);
        let sq = s.query(&c, &q).unwrap();
        let exact = c.cosines(&q, &norms, false);
        let (sum, sq_sum) = s.cosine_sums(&sq);
        let want: f64 = exact.iter().map(|&v| f64::from(v)).sum();
        let want_sq: f64 = exact.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        assert!(
            (sum - want).abs() < 1e-3 * want.abs().max(1.0),
            "{sum} vs {want}"
        );
        assert!(
            (sq_sum - want_sq).abs() < 1e-3 * want_sq.max(1.0),
            "{sq_sum} vs {want_sq}"
        );
    }

    #[test]
    fn packed_second_moments_index_like_the_full_matrix() {
        let c = random_content(30, 6, 2, 3);
        let norms = c.norms();
        let m = Moments::of(&c, &norms);
        let rows: Vec<Vec<f32>> = (0..30).map(|i| c.unit_row(i, &norms)).collect();
        for a in 0..8 {
            for b in 0..8 {
                let want: f64 = rows.iter().map(|x| f64::from(x[a]) * f64::from(x[b])).sum();
                assert!((m.second_at(a, b) - want).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn a_sketch_with_skewed_axes_or_wrong_shapes_is_refused() {
        let c = random_content(50, 12, 2, 4);
        let mut s = sketch_of(&c, 3);
        assert!(s.validate(51, 14).is_err());
        s.axes[0] += 0.01;
        assert!(s.validate(50, 14).unwrap_err().contains("orthonormal"));
        let mut s = sketch_of(&c, 3);
        s.residual[2] = f32::NAN;
        assert!(s.validate(50, 14).is_err());
    }
}
