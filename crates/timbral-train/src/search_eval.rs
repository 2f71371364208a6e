//! How well search ranks what listeners mean.
//!
//! Tag precision (the share of the top 10 that carry the query's tag) is
//! blind to *which* carriers come first: the artist one listener tagged
//! "synthpop" counts as much as the one a hundred did. The graded figure
//! asks the crowd instead, and asks listeners search never saw:
//!
//! 1. the taggers are split in two halves by a seeded shuffle;
//! 2. the bundle's label weights are rebuilt from the first half's votes;
//! 3. each query is graded by the second half: an item's gain is the number
//!    of held-out listeners who gave it one of the query's tags;
//! 4. nDCG@10 over the full catalogue, averaged over the queries.
//!
//! The queries are chosen by a rule, not by hand: the tags given to the
//! most items, and pairs of a leading tag with the tag it most often shares
//! an item with ("80s synthpop"). The item texts were embedded with every
//! tagger's tags, so the cosine part saw the held-out half's tags; the
//! crowd part did not.

use std::collections::HashMap;
use std::fmt;

use anyhow::{Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use timbral_core::search::label_key;
use timbral_core::{Model, SearchWeights};
use timbral_encoder::Encoder;

use crate::content::ItemMeta;
use crate::data::hetrec_tags::Taggings;

/// Single-tag queries, then pair queries.
const SINGLE_QUERIES: usize = 16;
const PAIR_QUERIES: usize = 8;
/// A pair's second tag comes from the tags given to the most items.
const PAIR_POOL: usize = 40;
const K: usize = 10;

/// One query's figures.
#[derive(Clone, Debug, Serialize)]
pub struct QueryFigure {
    pub query: String,
    /// Graded nDCG@10 of the default blend.
    pub ndcg: f64,
    /// Share of the top 10 that carry one of the query's tags.
    pub precision: f64,
    pub top: Vec<String>,
}

/// The graded search evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct SearchReport {
    pub queries: usize,
    pub held_out_taggers: usize,
    /// (variant, mean graded nDCG@10, mean tag precision@10).
    pub variants: Vec<(String, f64, f64)>,
    pub per_query: Vec<QueryFigure>,
}

impl fmt::Display for SearchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "search over {} queries, graded by the votes of {} held-out taggers (nDCG@10) and by tag presence (P@10)",
            self.queries, self.held_out_taggers
        )?;
        writeln!(f, "{:<40} {:>8} {:>8}", "variant", "nDCG@10", "P@10")?;
        for (name, ndcg, p) in &self.variants {
            writeln!(f, "{name:<40} {ndcg:>8.4} {p:>8.3}")?;
        }
        writeln!(f, "per query (default blend):")?;
        for q in &self.per_query {
            writeln!(
                f,
                "  {:<28} nDCG {:.3}  P {:.1}  {}",
                q.query,
                q.ndcg,
                q.precision,
                q.top.join(", ")
            )?;
        }
        Ok(())
    }
}

/// A query: its text and the tags (ids in `Taggings::tags`) that grade it.
struct Query {
    text: String,
    tags: Vec<u32>,
}

fn queries(t: &Taggings) -> Vec<Query> {
    // Items per tag, and the tags of each item.
    let mut items_of: Vec<Vec<u32>> = vec![Vec::new(); t.tags.len()];
    for &(_, i, tag) in &t.rows {
        items_of[tag as usize].push(i);
    }
    for v in &mut items_of {
        v.sort_unstable();
        v.dedup();
    }
    let mut by_items: Vec<u32> = (0..t.tags.len() as u32).collect();
    by_items.sort_by(|&a, &b| {
        items_of[b as usize]
            .len()
            .cmp(&items_of[a as usize].len())
            .then_with(|| t.tags[a as usize].cmp(&t.tags[b as usize]))
    });
    let mut out: Vec<Query> = by_items
        .iter()
        .take(SINGLE_QUERIES)
        .map(|&tag| Query {
            text: t.tags[tag as usize].clone(),
            tags: vec![tag],
        })
        .collect();
    let pool = &by_items[..PAIR_POOL.min(by_items.len())];
    for &a in by_items.iter().take(PAIR_QUERIES) {
        let (ka, ia) = (label_key(&t.tags[a as usize]), &items_of[a as usize]);
        // The pool's tag sharing the most items with `a`, not one that
        // merely contains it ("rock" / "classic rock").
        let best = pool
            .iter()
            .filter(|&&b| {
                let kb = label_key(&t.tags[b as usize]);
                b != a && !kb.contains(&ka) && !ka.contains(&kb)
            })
            .map(|&b| {
                let ib = &items_of[b as usize];
                let shared = ia.iter().filter(|i| ib.binary_search(i).is_ok()).count();
                (shared, b)
            })
            .max_by(|x, y| x.0.cmp(&y.0).then_with(|| y.1.cmp(&x.1)));
        if let Some((_, b)) = best {
            let text = format!("{} {}", t.tags[a as usize], t.tags[b as usize]);
            // Not a pair that is itself a tag ("alternative rock"), nor one
            // already asked the other way round.
            let key = label_key(&text);
            let is_tag = t.tags.iter().any(|x| label_key(x) == key);
            let asked = out.iter().any(|q| {
                let mut tags = q.tags.clone();
                tags.sort_unstable();
                tags == [a.min(b), a.max(b)]
            });
            if !is_tag && !asked {
                out.push(Query {
                    text,
                    tags: vec![a, b],
                });
            }
        }
    }
    out
}

/// nDCG@k of `ranked` against `gain` (item → gain).
fn ndcg(ranked: &[u32], gain: &HashMap<u32, f64>, k: usize) -> f64 {
    let disc = |r: usize| 1.0 / ((r + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(r, i)| gain.get(i).copied().unwrap_or(0.0) * disc(r))
        .sum();
    let mut ideal: Vec<f64> = gain.values().copied().collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(r, g)| g * disc(r))
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// The variants compared: today's plain cosine, each part alone, the
/// default blend, and its neighbours.
fn variants() -> Vec<(String, SearchWeights)> {
    let d = SearchWeights::DEFAULT;
    let mut v = vec![
        ("cosine only".to_string(), SearchWeights::COSINE),
        (
            "cosine + popularity".into(),
            SearchWeights {
                crowd: 0.0,
                name: 0.0,
                ..d
            },
        ),
        (
            "cosine + crowd".into(),
            SearchWeights {
                popularity: 0.0,
                name: 0.0,
                ..d
            },
        ),
    ];
    for crowd in [0.5, 1.0, 2.0] {
        for popularity in [0.1, 0.3, 0.5] {
            let w = SearchWeights {
                crowd,
                popularity,
                ..d
            };
            let mark = if w == d { " (default)" } else { "" };
            v.push((format!("crowd {crowd}, popularity {popularity}{mark}"), w));
        }
    }
    v
}

/// Runs the graded evaluation on `model` (which must carry the catalogue's
/// content) with HetRec's `taggings` and the items' `meta` (for genres).
pub fn run(
    model: &Model,
    encoder: &Encoder,
    taggings: &Taggings,
    meta: &[ItemMeta],
    seed: u64,
) -> Result<SearchReport> {
    let n = model.n_items();
    let n_users = taggings.rows.iter().map(|r| r.0 + 1).max().unwrap_or(0);
    let mut order: Vec<u32> = (0..n_users).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let mut held_out = vec![false; n_users as usize];
    for &u in &order[..order.len() / 2] {
        held_out[u as usize] = true;
    }
    // Labels from the first half's votes (plus the catalogue's genres).
    let kept = taggings.weigh(n, |u| !held_out[u as usize]);
    let mut parts = model.parts().clone();
    let content = parts.content.as_mut().context("no content vectors")?;
    let labels: Vec<Vec<(String, u32)>> = kept
        .into_iter()
        .zip(meta)
        .map(|(tags, m)| {
            ItemMeta {
                tags,
                genres: m.genres.clone(),
                audio: None,
                year: None,
            }
            .labels()
        })
        .collect();
    content.labels = labels
        .iter()
        .map(|l| l.iter().map(|(t, _)| t.clone()).collect())
        .collect();
    content.label_weights = labels
        .iter()
        .map(|l| l.iter().map(|&(_, v)| v).collect())
        .collect();
    let model = Model::from_parts(parts)?;
    // The second half's votes: (tag, item) → listeners.
    let mut votes: HashMap<(u32, u32), f64> = HashMap::new();
    for &(u, i, t) in &taggings.rows {
        if held_out[u as usize] {
            *votes.entry((t, i)).or_default() += 1.0;
        }
    }
    let qs: Vec<(Query, HashMap<u32, f64>, Vec<f32>)> = queries(taggings)
        .into_iter()
        .map(|q| {
            let mut gain: HashMap<u32, f64> = HashMap::new();
            for (&(t, i), &v) in &votes {
                if q.tags.contains(&t) {
                    *gain.entry(i).or_default() += v;
                }
            }
            let e = encoder.embed(&q.text)?;
            Ok((q, gain, e))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|(_, gain, _)| !gain.is_empty())
        .collect();
    let carries = |i: u32, q: &Query| {
        let c = model.content().expect("checked");
        q.tags.iter().any(|&t| {
            let key = label_key(&taggings.tags[t as usize]);
            c.labels[i as usize].iter().any(|l| label_key(l) == key)
        })
    };
    let mut variants_out = Vec::new();
    let mut per_query = Vec::new();
    for (name, w) in variants() {
        let (mut sum_ndcg, mut sum_p) = (0.0, 0.0);
        for (q, gain, e) in &qs {
            let hits = model.search_with(
                &q.text,
                e,
                None,
                &timbral_core::facts::Filter::default(),
                K,
                w,
            )?;
            let ranked: Vec<u32> = hits.iter().map(|s| s.index).collect();
            let g = ndcg(&ranked, gain, K);
            let p = ranked.iter().filter(|&&i| carries(i, q)).count() as f64 / K as f64;
            sum_ndcg += g;
            sum_p += p;
            if w == SearchWeights::DEFAULT {
                per_query.push(QueryFigure {
                    query: q.text.clone(),
                    ndcg: g,
                    precision: p,
                    top: ranked
                        .iter()
                        .take(5)
                        .map(|&i| model.item_name(i).to_string())
                        .collect(),
                });
            }
        }
        let m = qs.len().max(1) as f64;
        variants_out.push((name, sum_ndcg / m, sum_p / m));
    }
    Ok(SearchReport {
        queries: qs.len(),
        held_out_taggers: held_out.iter().filter(|&&h| h).count(),
        variants: variants_out,
        per_query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndcg_is_one_for_the_ideal_order_and_less_otherwise() {
        let gain: HashMap<u32, f64> = [(1, 5.0), (2, 1.0)].into_iter().collect();
        assert!((ndcg(&[1, 2, 3], &gain, 10) - 1.0).abs() < 1e-12);
        let swapped = ndcg(&[2, 1, 3], &gain, 10);
        assert!(swapped < 1.0 && swapped > 0.5, "{swapped}");
        assert_eq!(ndcg(&[3, 4], &gain, 10), 0.0);
        assert_eq!(ndcg(&[1], &HashMap::new(), 10), 0.0);
    }

    #[test]
    fn queries_follow_the_rule_and_pairs_skip_containing_tags() {
        // Tag 0 "rock" on items 0..5, tag 1 "classic rock" on 0..4, tag 2
        // "80s" on 0..3.
        let mut rows = Vec::new();
        for i in 0..5 {
            rows.push((0, i, 0));
        }
        for i in 0..4 {
            rows.push((1, i, 1));
        }
        for i in 0..3 {
            rows.push((2, i, 2));
        }
        let t = Taggings {
            tags: vec!["rock".into(), "classic rock".into(), "80s".into()],
            rows,
            merged_spellings: 0,
        };
        let q = queries(&t);
        let texts: Vec<&str> = q.iter().map(|q| q.text.as_str()).collect();
        assert_eq!(&texts[..3], ["rock", "classic rock", "80s"]);
        assert_eq!(texts[3], "rock 80s", "{texts:?}");
        assert_eq!(q[3].tags, [0, 2]);
    }
}
