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
        };
        let s = content_sketch_of_rank(&content, 2);
        s.validate(n, 5).unwrap();
        let worst = s.residual.iter().fold(0f32, |m, &r| m.max(r));
        assert!(worst < 0.02, "residual {worst}");
        assert_eq!(s, content_sketch_of_rank(&content, 2), "deterministic");
    }
}
