//! The content sketch's axes: the leading principal axes of the unit
//! content vectors (uncentred, as cosines are), so the sketch's residuals —
//! and with them the bounds `recommend` prunes by — are as small as `r`
//! axes allow. See `timbral_core::sketch`.

use nalgebra::{DMatrix, SymmetricEigen};
use timbral_core::sketch::{ContentSketch, Moments};
use timbral_core::Content;

/// Axes kept. Fewer make the sketch scan cheaper and the bounds looser
/// (more items scored exactly); `timbral bench` prints both costs.
pub const SKETCH_RANK: usize = 32;

/// The sketch of `content` on its `SKETCH_RANK` leading principal axes.
pub fn content_sketch(content: &Content) -> ContentSketch {
    content_sketch_of_rank(content, SKETCH_RANK)
}

pub fn content_sketch_of_rank(content: &Content, rank: usize) -> ContentSketch {
    let norms = content.norms();
    let moments = Moments::of(content, &norms);
    let d = moments.dim;
    let eig = SymmetricEigen::new(DMatrix::from_fn(d, d, |a, b| moments.second_at(a, b)));
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| {
        eig.eigenvalues[b]
            .total_cmp(&eig.eigenvalues[a])
            .then(a.cmp(&b))
    });
    let axes: Vec<f32> = order
        .iter()
        .take(rank.min(d))
        .flat_map(|&j| {
            eig.eigenvectors
                .column(j)
                .iter()
                .map(|&v| v as f32)
                .collect::<Vec<_>>()
        })
        .collect();
    ContentSketch::build(content, &norms, axes, &moments)
}

/// Text vectors of at most this many dimensions get no sketch: scanning
/// them all is about as cheap as scanning a sketch, which would only add
/// its bytes to the bundle.
pub const SKETCH_MIN_TEXT_DIM: usize = 128;

/// The leading `d` principal axes of the rows of `x` (`n × dim`, f64
/// moments), largest first, each with its largest-magnitude coordinate
/// positive so the result does not depend on the eigensolver's signs; and
/// the rows' mean.
pub fn principal_axes(x: &[f32], dim: usize, d: usize, centre: bool) -> (Vec<f32>, Vec<f32>) {
    let n = (x.len() / dim.max(1)).max(1);
    let mut mean = vec![0f64; dim];
    if centre {
        for row in x.chunks_exact(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
    }
    let mut cov = vec![0f64; dim * dim];
    for row in x.chunks_exact(dim) {
        let c: Vec<f64> = row
            .iter()
            .zip(&mean)
            .map(|(&v, m)| f64::from(v) - m)
            .collect();
        for a in 0..dim {
            let ca = c[a];
            for b in a..dim {
                cov[a * dim + b] += ca * c[b];
            }
        }
    }
    let eig = SymmetricEigen::new(DMatrix::from_fn(dim, dim, |a, b| {
        cov[a.min(b) * dim + a.max(b)] / n as f64
    }));
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&a, &b| {
        eig.eigenvalues[b]
            .total_cmp(&eig.eigenvalues[a])
            .then(a.cmp(&b))
    });
    let mut axes = Vec::with_capacity(d * dim);
    for &j in order.iter().take(d.min(dim)) {
        let col = eig.eigenvectors.column(j);
        let big = col
            .iter()
            .copied()
            .fold(0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        axes.extend(col.iter().map(|&v| (sign * v) as f32));
    }
    (axes, mean.into_iter().map(|m| m as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use timbral_core::QMatrix;

    #[test]
    fn principal_axes_leave_less_residual_than_the_first_coordinates() {
        // Items along two directions that are not coordinate axes: two
        // principal axes hold all of them, two coordinates do not.
        let n = 40;
        let text: Vec<f32> = (0..n)
            .flat_map(|i| {
                let (a, b) = ((i % 5) as f32, (i % 3) as f32 + 0.5);
                [a + b, a - b, 0.5 * a, 0.3 * b]
            })
            .collect();
        let content = Content {
            text: QMatrix::quantize(&text, n, 4),
            audio: QMatrix::quantize(&vec![0.0; n], n, 1),
            audio_weight: 0.5,
            labels: vec![vec![]; n],
            label_weights: vec![vec![]; n],
            model_sha256: String::new(),
            tokenizer_sha256: String::new(),
            projection: None,
        };
        let s = content_sketch_of_rank(&content, 2);
        s.validate(n, 5).unwrap();
        let worst = s.residual.iter().fold(0f32, |m, &r| m.max(r));
        assert!(worst < 0.02, "residual {worst}");
        assert_eq!(s, content_sketch_of_rank(&content, 2), "deterministic");
    }
}
