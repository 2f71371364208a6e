//! Fusion through the shortlist index (`shortlist.rs`) against the exact
//! scan, on the random hybrid model of `model.rs`'s tests.

use super::tests::random_hybrid;
use super::*;

/// `m` with a shortlist of `clusters` round-robin clusters (factor and
/// content alike; centroids: their means) whose probe covers `probe` items.
fn with_shortlist(m: &Model, clusters: usize, probe: u32) -> Model {
    let (n, f) = (m.n_items(), m.factors());
    let c = m.content().unwrap();
    let d = c.dim();
    let factors: Vec<Vec<f32>> = (0..n)
        .map(|i| m.parts().item_factors.dequantize_row(i))
        .collect();
    let norms: Vec<f32> = factors
        .iter()
        .map(|v| crate::linalg::dot(v, v).sqrt())
        .collect();
    let content: Vec<Vec<f32>> = (0..n).map(|i| c.unit_row(i, m.content_norms())).collect();
    let mean = |rows: &dyn Fn(usize) -> Vec<f32>, width: usize| -> Vec<f32> {
        (0..clusters)
            .flat_map(|k| {
                let members: Vec<usize> = (k..n).step_by(clusters).collect();
                let mut sum = vec![0f32; width];
                for &i in &members {
                    sum.iter_mut().zip(rows(i)).for_each(|(a, b)| *a += b);
                }
                sum.into_iter().map(move |v| v / members.len() as f32)
            })
            .collect()
    };
    let direction = |i: usize| -> Vec<f32> {
        let inv = if norms[i] > 0.0 { 1.0 / norms[i] } else { 0.0 };
        factors[i].iter().map(|v| v * inv).collect()
    };
    let (factor_sum, factor_second) = crate::shortlist::moments(f, factors.iter().map(|r| &r[..]));
    let (content_sum, content_second) =
        crate::shortlist::moments(d, content.iter().map(|r| &r[..]));
    let cluster: Vec<u32> = (0..n).map(|i| (i % clusters) as u32).collect();
    let mut parts = m.parts().clone();
    parts.shortlist = Some(crate::shortlist::Shortlist {
        factor_dims: f as u32,
        content_dims: d as u32,
        factor_centroids: mean(&direction, f),
        content_centroids: mean(&|i| content[i].clone(), d),
        item_factor_cluster: cluster.clone(),
        item_content_cluster: cluster,
        content_sizes: (0..clusters)
            .map(|k| (k..n).step_by(clusters).count() as u32)
            .collect(),
        item_residuals: vec![0.0; n],
        item_content_residuals: vec![0.0; n],
        item_norms: norms,
        probe,
        factor_sum,
        factor_second,
        content_sum,
        content_second,
    });
    Model::from_parts(parts).unwrap()
}

/// A shortlist whose probe covers every item scores every item: the
/// exact list, with CF standardised from the stored moments rather than
/// a scan (the same scores up to rounding), with and without a content
/// sketch (the shortlist holds its own content moments).
#[test]
fn a_shortlist_probing_every_item_gives_the_exact_list() {
    for sketch in [true, false] {
        exact_lists(&random_hybrid(sketch));
    }
    // A probe of one item still fills the list: fusion scores at least 4k.
    let one = with_shortlist(&random_hybrid(false), 7, 1);
    let got = one
        .recommend_explained(&[(3, 5.0), (10, 2.0)], &[], 10, None)
        .unwrap();
    assert_eq!(got.len(), 10);
}

fn exact_lists(exact: &Model) {
    use rand::{Rng, SeedableRng};
    let all = with_shortlist(exact, 7, 300);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for trial in 0..40 {
        let len = rng.random_range(1..9);
        let history: Vec<(u32, f32)> = (0..len)
            .map(|_| (rng.random_range(0..300), rng.random_range(0.5..20.0)))
            .collect();
        let k = rng.random_range(1..60);
        let w = FusionWeights {
            alpha: rng.random_range(-0.5..1.5),
            beta: rng.random_range(-0.5..1.5),
            gamma: rng.random_range(-0.5..0.5),
            cold: 1.0,
        };
        let got = all.recommend_explained(&history, &[], k, Some(w)).unwrap();
        let want = exact
            .recommend_explained(&history, &[], k, Some(w))
            .unwrap();
        assert_eq!(got.len(), want.len(), "trial {trial}");
        for (g, s) in got.iter().zip(&want) {
            assert!(
                (g.rec.score - s.rec.score).abs() < 1e-3,
                "trial {trial}: {} vs {}",
                g.rec.score,
                s.rec.score
            );
        }
        let same = got
            .iter()
            .zip(&want)
            .filter(|(g, s)| g.rec.index == s.rec.index)
            .count();
        assert!(
            same + 2 >= got.len(),
            "trial {trial}: {same} of {} in place",
            got.len()
        );
    }
}
