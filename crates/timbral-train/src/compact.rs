//! Compact content vectors: the catalogue's text embeddings on their
//! leading principal axes (centred PCA), int8.
//!
//! MiniLM's 384 dimensions are most of a bundle's bytes (HetRec: 6.8 of
//! 10.1 MB). Centred on their mean and projected on their `d` leading
//! axes, the vectors keep the directions the catalogue varies along (the
//! mean, which every embedding shares, carries no preference), and the
//! bundle keeps the map (`TextProjection`) so a query's embedding lands in
//! the same space. `timbral eval` compares every slice and search with the
//! full vectors (`--content-dims 0`).

use timbral_core::content::TextProjection;
use timbral_core::{Content, QMatrix};

use crate::sketch::principal_axes;

/// Centred: the mean every MiniLM embedding shares carries no preference,
/// and without it the axes find what tells items apart (on HetRec, content
/// alone ranks better centred on 96 axes than with all 384: nDCG@10 .104
/// against .078). Uncentred axes (which keep raw cosines) did worse.
const CENTRE: bool = true;

/// Dimensions a full bundle keeps by default (`--content-dims`): all of
/// them. It serves the CLI, where bytes matter least.
pub const DEFAULT_DIMS: usize = 0;

/// Dimensions a client bundle keeps by default: what browsers and Workers
/// download. Measured on HetRec (`timbral eval --content-dims D`, nDCG@10;
/// search graded by held-out taggers' votes):
///
/// | D | fusion | cold items | ≤ 3 items | graded search | client bundle |
/// |---|---|---|---|---|---|
/// | 384 (all) | .2431 | .0481 | .1045 | .831 | 10.4 MB |
/// | 96 | .2427 | .0639 | .1038 | .836 | 3.04 MB |
/// | 80 | .2427 | .0624 | .1026 | .842 | 2.78 MB |
/// | 64 | .2395 | .0671 | .1019 | .842 | 2.5 MB |
///
/// Search on compact vectors estimates the cosine with each item's
/// embedding (`Content::text_similarities`); items nobody played still get
/// their factor from the full vectors (`hybrid::TrainContent`). Below 80
/// axes fusion starts to lose.
pub const CLIENT_DIMS: usize = 80;

/// `content` with its text vectors on their `dims` leading principal axes;
/// unchanged where they already have no more (or `dims` is 0).
pub fn compact(content: &Content, dims: usize) -> Content {
    let (n, input) = (content.len(), content.text_dim());
    if dims == 0 || dims >= input || content.projection.is_some() || n == 0 {
        return content.clone();
    }
    let x = content.text.dequantize();
    let (axes, mean) = principal_axes(&x, input, dims, CENTRE);
    let dims = axes.len() / input;
    let p = TextProjection {
        input: input as u32,
        dims: dims as u32,
        mean,
        axes,
    };
    let reduced: Vec<f32> = x.chunks_exact(input).flat_map(|row| p.apply(row)).collect();
    let mut out = content.clone();
    out.text = QMatrix::quantize(&reduced, n, dims);
    out.projection = Some(p);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(n: usize) -> Content {
        // 8-d vectors that vary along two directions, around a shared mean.
        let text: Vec<f32> = (0..n)
            .flat_map(|i| {
                let (a, b) = ((i % 7) as f32 - 3.0, (i % 3) as f32 - 1.0);
                (0..8).map(move |j| {
                    1.0 + a * (j as f32 / 8.0) + b * if j % 2 == 0 { 1.0 } else { -1.0 }
                })
            })
            .collect();
        Content {
            text: QMatrix::quantize(&text, n, 8),
            audio: QMatrix::quantize(&vec![0.0; n], n, 1),
            audio_weight: 0.5,
            labels: vec![vec![]; n],
            label_weights: vec![vec![]; n],
            model_sha256: String::new(),
            tokenizer_sha256: String::new(),
            projection: None,
        }
    }

    #[test]
    fn two_axes_keep_the_neighbours_and_queries_take_the_same_map() {
        let full = content(42);
        let small = compact(&full, 2);
        assert_eq!(small.text_dim(), 2);
        assert_eq!(small.embedding_dim(), 8);
        small.validate(42).unwrap();
        // An item's own embedding, as a query, finds that item (or one of
        // the same place) first.
        let norms = small.norms();
        for i in [0usize, 5, 13] {
            let e = full.text.dequantize_row(i);
            let q = timbral_core::ContentQuery {
                text: small.text_query(&e).unwrap(),
                audio: vec![0.0],
            };
            let cos = small.cosines(&q, &norms, true);
            let best = (0..42).max_by(|&a, &b| cos[a].total_cmp(&cos[b])).unwrap();
            assert_eq!((best % 7, best % 3), (i % 7, i % 3), "item {i}");
        }
        assert!(small.text_query(&[0.0; 3]).is_err());
        // Deterministic, and idempotent.
        assert_eq!(compact(&full, 2), small);
        assert_eq!(compact(&small, 2), small);
        // The bundle carries the projection.
        let bytes = postcard::to_allocvec(&small).unwrap();
        assert_eq!(postcard::from_bytes::<Content>(&bytes).unwrap(), small);
    }
}
