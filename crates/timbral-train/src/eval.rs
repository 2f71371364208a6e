//! Offline evaluation: per-user random holdout, full ranking over the whole
//! catalogue with each user's training items excluded, and the usual top-k
//! metrics for several models side by side.

use std::collections::BTreeSet;
use std::fmt;

use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

use timbral_core::{AlsParams, Model};

use crate::cf_tune::Search;
use crate::data::Dataset;
use crate::split::{holdout, Split};

/// Metrics at one cut-off, averaged over the evaluated users.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AtK {
    pub k: usize,
    /// Share of users with at least one held-out item in the top k.
    pub hr: f64,
    pub precision: f64,
    /// Held-out items found / held-out items.
    pub recall: f64,
    /// Binary-relevance nDCG, ideal = all held-out items first.
    pub ndcg: f64,
    /// Distinct items recommended to anyone / catalogue size.
    pub coverage: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelResult {
    pub model: String,
    pub metrics: Vec<AtK>,
    /// Seconds to fit it (tuning included), where it is fitted.
    pub fit_s: Option<f64>,
    /// Its client bundle's bytes (no content), where it makes one.
    pub bytes: Option<usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub data: String,
    pub users: usize,
    pub items: usize,
    pub evaluated_users: usize,
    pub holdout: f64,
    pub seed: u64,
    pub params: AlsParams,
    /// The item-item model and blend chosen on the training split.
    pub item_item: crate::cf_tune::Choice,
    pub results: Vec<ModelResult>,
}

/// Scores a ranker: `rank(user, k)` returns at most k item indices, best
/// first, with the user's training items already excluded.
pub fn evaluate<R>(split: &Split, n_items: usize, ks: &[usize], rank: R) -> Vec<AtK>
where
    R: Fn(u32, usize) -> Vec<u32> + Sync,
{
    let kmax = ks.iter().copied().max().unwrap_or(10);
    let lists: Vec<Vec<u32>> = split.test.par_iter().map(|(u, _)| rank(*u, kmax)).collect();
    let n = split.test.len().max(1) as f64;
    ks.iter()
        .map(|&k| {
            let mut m = AtK {
                k,
                ..AtK::default()
            };
            let mut seen = BTreeSet::new();
            for ((_, held), list) in split.test.iter().zip(&lists) {
                let top = &list[..list.len().min(k)];
                seen.extend(top.iter().copied());
                let mut hits = 0usize;
                let mut dcg = 0.0;
                for (r, i) in top.iter().enumerate() {
                    if held.binary_search(i).is_ok() {
                        hits += 1;
                        dcg += 1.0 / ((r + 2) as f64).log2();
                    }
                }
                let idcg: f64 = (0..held.len().min(k))
                    .map(|r| 1.0 / ((r + 2) as f64).log2())
                    .sum();
                m.hr += f64::from(hits > 0);
                m.precision += hits as f64 / k as f64;
                m.recall += hits as f64 / held.len() as f64;
                m.ndcg += if idcg > 0.0 { dcg / idcg } else { 0.0 };
            }
            m.hr /= n;
            m.precision /= n;
            m.recall /= n;
            m.ndcg /= n;
            m.coverage = seen.len() as f64 / n_items.max(1) as f64;
            m
        })
        .collect()
}

/// Binary-relevance nDCG@k of a ranked list against `held` (sorted): the
/// measure every tuner here maximises.
pub fn ndcg_at(top: &[timbral_core::Scored], held: &[u32], k: usize) -> f64 {
    let dcg: f64 = top
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, s)| held.binary_search(&s.index).is_ok())
        .map(|(r, _)| 1.0 / ((r + 2) as f64).log2())
        .sum();
    let idcg: f64 = (0..held.len().min(k))
        .map(|r| 1.0 / ((r + 2) as f64).log2())
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// The rows `eval --models` can ask for, in the order they print.
pub const MODELS: [&str; 10] = [
    "popularity",
    "als",
    "als-tuned",
    "ials",
    "nmf",
    "bpr",
    "lightgcn",
    "rp3beta",
    "ease",
    "blend",
];

/// Popularity, ALS and the CF models of `timbral train` (`models`, a
/// subset of [`MODELS`]; plain ALS, iALS, NMF, BPR and LightGCN each at their best parameters
/// on validation, each item-item kind alone at its best, and the blend
/// tuned as `search` says) on one holdout split.
#[allow(clippy::too_many_arguments)]
pub fn run(
    ds: &Dataset,
    params: AlsParams,
    fraction: f64,
    seed: u64,
    ks: &[usize],
    models: &[&str],
    search: Search,
    progress: bool,
) -> EvalReport {
    let split = holdout(&ds.plays, fraction, seed);
    let n_items = ds.n_items();
    let wanted = |m: &str| models.contains(&m);
    // ALS with `p` on the training split, and the seconds it took.
    let fit = |p: AlsParams| {
        let started = Instant::now();
        let factors = crate::train_factors(&split.train, &p, progress);
        let s = started.elapsed().as_secs_f64();
        let m = crate::build_model(
            &ds.user_ids,
            &ds.item_ids,
            &ds.item_names,
            &split.train,
            &factors,
            p,
            &ds.source,
        );
        (m, s)
    };
    let (model, als_s) = fit(params);
    let copy = |m: &Model| Model::from_parts(m.parts().clone()).expect("a valid model");
    let ranked = |m: &Model| {
        evaluate(&split, n_items, ks, |u, k| {
            m.recommend_user(u, k).iter().map(|s| s.index).collect()
        })
    };
    let bytes = |m: &Model| Some(m.client().to_bytes().len());
    let mut results = Vec::new();
    if wanted("popularity") {
        let metrics = evaluate(&split, n_items, ks, |u, k| {
            model
                .popular(model.user_history(u).0, k)
                .iter()
                .map(|s| s.index)
                .collect()
        });
        results.push(ModelResult {
            model: "popularity".into(),
            metrics,
            fit_s: None,
            bytes: None,
        });
    }
    if wanted("als") {
        results.push(ModelResult {
            model: "als".into(),
            metrics: ranked(&model),
            fit_s: Some(als_s),
            bytes: bytes(&model),
        });
    }
    // Tuned on a validation split of the training split, as `train` tunes:
    // the factors, each item-item kind alone and the blend.
    let started = Instant::now();
    let choice = crate::cf_tune::choose(&split.train, params, seed, search);
    let chose_s = started.elapsed().as_secs_f64();
    // Where the tuner kept the given parameters, the same model again.
    let fit_tuned = |p: AlsParams| {
        if p == params {
            (copy(&model), als_s)
        } else {
            fit(p)
        }
    };
    // The chosen factors once; a row whose best is the chosen one reuses it.
    let (tuned, tuned_s) = fit_tuned(choice.als);
    for (row, kind) in [
        ("als-tuned", "als"),
        ("ials", "ials"),
        ("nmf", "nmf"),
        ("bpr", "bpr"),
        ("lightgcn", "lightgcn"),
    ] {
        let Some((p, _)) = choice.best_factors(kind).filter(|_| wanted(row)) else {
            continue;
        };
        let other;
        let (m, s) = if p == choice.als {
            (&tuned, tuned_s)
        } else {
            other = fit_tuned(p);
            (&other.0, other.1)
        };
        results.push(ModelResult {
            model: row.into(),
            metrics: ranked(m),
            fit_s: Some(chose_s + s),
            bytes: bytes(m),
        });
    }
    for method in ["rp3beta", "ease"] {
        let Some(best) = choice.best_alone(method).filter(|_| wanted(method)) else {
            continue;
        };
        let alone = crate::cf_tune::Choice {
            neighbours: best,
            blend: 0.0,
            ..choice.clone()
        };
        let started = Instant::now();
        let neighbours = alone.attach(copy(&model), &split.train);
        results.push(ModelResult {
            model: method.into(),
            metrics: ranked(&neighbours),
            fit_s: Some(chose_s + started.elapsed().as_secs_f64()),
            bytes: bytes(&neighbours),
        });
    }
    if wanted("blend") {
        let started = Instant::now();
        let blend = choice.attach(tuned, &split.train);
        results.push(ModelResult {
            model: "blend".into(),
            metrics: ranked(&blend),
            fit_s: Some(chose_s + tuned_s + started.elapsed().as_secs_f64()),
            bytes: bytes(&blend),
        });
    }
    EvalReport {
        data: ds.source.clone(),
        users: ds.n_users(),
        items: n_items,
        evaluated_users: split.test.len(),
        holdout: fraction,
        seed,
        params,
        item_item: choice,
        results,
    }
}

/// Writes `split` as two tables under `dir`, in the data's own ids:
/// `train.tsv` (user, item, plays, name) for another trainer (Spark) to fit
/// on, and `test.tsv` (user, item), what `eval --bundle` scores its model
/// against. Each file is written atomically.
pub fn write_split(ds: &Dataset, split: &Split, dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Names with tabs or line breaks would break the table's rows.
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    crate::write::atomic_with(&dir.join("train.tsv"), |w| {
        writeln!(w, "user\titem\tplays\tname")?;
        for (u, i, v) in split.train.triplets() {
            writeln!(
                w,
                "{}\t{}\t{v}\t{}",
                clean(&ds.user_ids[u as usize]),
                clean(&ds.item_ids[i as usize]),
                clean(&ds.item_names[i as usize])
            )?;
        }
        Ok(())
    })?;
    crate::write::atomic_with(&dir.join("test.tsv"), |w| {
        writeln!(w, "user\titem")?;
        for (u, held) in &split.test {
            for &i in held {
                writeln!(
                    w,
                    "{}\t{}",
                    clean(&ds.user_ids[*u as usize]),
                    clean(&ds.item_ids[i as usize])
                )?;
            }
        }
        Ok(())
    })
}

/// A bundle trained elsewhere on `split`'s training plays (by id, as
/// [`write_split`] wrote them) scored on its held-out items like every other
/// row: each evaluated listener's top-k as the bundle ranks a known user
/// (`Model::recommend_known_user`). A listener or item the bundle lacks
/// counts as a miss, never as skipped.
pub fn evaluate_bundle(
    ds: &Dataset,
    split: &Split,
    ks: &[usize],
    name: &str,
    model: &Model,
) -> ModelResult {
    let to_ds = ds.item_lookup();
    let items: Vec<Option<u32>> = (0..model.n_items() as u32)
        .map(|i| to_ds.get(model.item_id(i)).copied())
        .collect();
    let metrics = evaluate(split, ds.n_items(), ks, |u, k| {
        let Ok(known) = model.user_index(&ds.user_ids[u as usize]) else {
            return Vec::new();
        };
        model
            .recommend_known_user(known, k)
            .iter()
            .filter_map(|r| items[r.index as usize])
            .collect()
    });
    ModelResult {
        model: name.into(),
        metrics,
        fit_s: None,
        bytes: Some(model.client().to_bytes().len()),
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} users × {} items; {} users evaluated ({:.0}% per-user holdout, seed {})",
            self.data,
            self.users,
            self.items,
            self.evaluated_users,
            self.holdout * 100.0,
            self.seed
        )?;
        let p = &self.params;
        writeln!(
            f,
            "ALS: {} factors, {} iterations, regularization {}, alpha {}, reg_exponent {}, seed {}",
            p.factors, p.iterations, p.regularization, p.alpha, p.reg_exponent, p.seed
        )?;
        write!(f, "{}", self.item_item)?;
        writeln!(f)?;
        writeln!(f, "{:<12} {:>8} {:>12}", "model", "fit s", "client bytes")?;
        for r in &self.results {
            let opt = |v: Option<String>| v.unwrap_or_else(|| "–".into());
            writeln!(
                f,
                "{:<12} {:>8} {:>12}",
                r.model,
                opt(r.fit_s.map(|s| format!("{s:.1}"))),
                opt(r.bytes.map(|b| b.to_string()))
            )?;
        }
        let rows: Vec<(&str, &[AtK])> = self
            .results
            .iter()
            .map(|r| (r.model.as_str(), &r.metrics[..]))
            .collect();
        write_tables(f, &rows)
    }
}

/// One table per cut-off, a row per model: what `eval` prints.
pub fn write_tables(f: &mut fmt::Formatter<'_>, rows: &[(&str, &[AtK])]) -> fmt::Result {
    let ks: Vec<usize> = rows
        .first()
        .map(|r| r.1.iter().map(|m| m.k).collect())
        .unwrap_or_default();
    for (j, k) in ks.iter().enumerate() {
        writeln!(f)?;
        writeln!(
            f,
            "{:<12} {:>8} {:>8} {:>8} {:>8} {:>8}",
            format!("@{k}"),
            "HR",
            "Prec",
            "Recall",
            "nDCG",
            "Cover"
        )?;
        for (name, metrics) in rows {
            let m = &metrics[j];
            writeln!(
                f,
                "{:<12} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4}",
                name, m.hr, m.precision, m.recall, m.ndcg, m.coverage
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use timbral_core::Csr;

    #[test]
    fn metrics_match_a_hand_computed_case() {
        let split = Split {
            train: Csr::from_triplets(1, 10, vec![]),
            test: vec![(0, vec![1, 4])],
        };
        let m = &evaluate(&split, 10, &[2], |_, _| vec![4, 7, 1])[0];
        assert_eq!(m.hr, 1.0);
        assert_eq!(m.precision, 0.5);
        assert_eq!(m.recall, 0.5);
        let idcg = 1.0 + 1.0 / 3f64.log2();
        assert!((m.ndcg - 1.0 / idcg).abs() < 1e-12);
        assert_eq!(m.coverage, 0.2);
    }
}
