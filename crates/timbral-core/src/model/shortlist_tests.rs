//! Fusion through the shortlist index (`shortlist.rs`) against the exact
//! scan, on the random hybrid model of `model.rs`'s tests.

use super::tests::random_hybrid;
use super::*;

/// `m` with a shortlist of `clusters` round-robin clusters whose probe
/// covers `probe` items (centroids: the clusters' means).
fn with_shortlist(m: &Model, clusters: usize, probe: u32) -> Model {
    let (n, f) = (m.n_items(), m.factors());
    let c = m.content().unwrap();
    let rows: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            let mut r = m.parts().item_factors.dequantize_row(i);
            r.extend(c.unit_row(i, m.content_norms()));
            r.push(m.popularity_term()[i]);
            r
        })
        .collect();
    let width = rows[0].len();
    let mut members = Vec::new();
    let mut offsets = vec![0];
    let mut centroids = Vec::new();
    for k in 0..clusters {
        let m: Vec<u32> = (k..n).step_by(clusters).map(|i| i as u32).collect();
        let mut mean = vec![0f32; width];
        for &i in &m {
            mean.iter_mut()
                .zip(&rows[i as usize])
                .for_each(|(a, b)| *a += b / m.len() as f32);
        }
        centroids.extend(mean);
        members.extend(m);
        offsets.push(members.len() as u32);
    }
    let (factor_sum, factor_second) = crate::shortlist::moments(f, rows.iter().map(|r| &r[..f]));
    let mut parts = m.parts().clone();
    parts.shortlist = Some(crate::shortlist::Shortlist {
        factor_dims: f as u32,
        content_dims: c.dim() as u32,
        centroids,
        offsets,
        members,
        probe,
        factor_sum,
        factor_second,
    });
    Model::from_parts(parts).unwrap()
}

/// A shortlist whose probe covers every item scores every item: the
/// exact list, with CF standardised from the stored moments rather
/// than a scan (the same scores up to rounding). With a small probe
/// the list comes from the probed clusters only.
#[test]
fn a_shortlist_probing_every_item_gives_the_exact_list() {
    use rand::{Rng, SeedableRng};
    let exact = random_hybrid(true);
    let all = with_shortlist(&exact, 7, 300);
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
    // One cluster of 43 probed: every item comes from the probed ones.
    let one = with_shortlist(&exact, 7, 1);
    let history = [(3u32, 5.0f32), (10, 2.0)];
    let x = one.fold_in(&history).unwrap();
    let got = one.recommend_fused(&x, &history, &[3, 10], 10, FusionWeights::default());
    let sl = one.parts().shortlist.as_ref().unwrap();
    let clusters: std::collections::HashSet<u32> = got.iter().map(|r| r.index % 7).collect();
    assert_eq!(clusters.len(), 1, "one cluster probed: {got:?}");
    assert_eq!(sl.clusters(), 7);
}
