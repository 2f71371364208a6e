//! How far blends of the trainer's CF models get on one holdout split: the
//! measurement behind #18's nDCG@10 goal, kept so that it can be rerun.
//!
//! ```text
//! cargo run --release -p timbral-train --example cf_blend_ceiling -- \
//!     DATA_DIR [--seed S] [--lightgcn-epochs N] [--per-listener-scale] [--ease-items M]
//! ```
//!
//! On HetRec's 20% per-user holdout (the split `timbral eval` makes), it fits
//! iALS at the point the tuner picks there (λ 5, α 1, ν 1), LightGCN at its
//! defaults (or `--lightgcn-epochs`), EASE on the `--ease-items` most-played
//! items (default 6,000: the dense solver's limit) and popularity, and
//! prints nDCG@10 of each alone and of iALS blended with each, every score
//! standardised over the listener's candidates as `Model::cf_standardized`
//! blends them. `--per-listener-scale` first divides each listener's plays
//! by their mean (×100), a confidence no bundle can express today.
//!
//! The weights here are read off the test split itself, so the blends are an
//! upper bound on what validation would choose, not a result.

use std::path::PathBuf;

use rayon::prelude::*;
use timbral_core::content::standardize;
use timbral_core::model::ItemItem;
use timbral_core::{AlsParams, Csr, FactorModel};
use timbral_train::data::{read_hetrec, ReadOptions};
use timbral_train::split::{holdout, Split};

/// One model's standardised scores per evaluated listener; a listener's
/// training items are `-inf`.
type Scores = Vec<Vec<f32>>;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let (mut seed, mut epochs, mut per_listener, mut ease_items) = (42u64, None, false, 6000);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))
        };
        match a.as_str() {
            "--seed" => seed = value("--seed")?.parse()?,
            "--lightgcn-epochs" => epochs = Some(value("--lightgcn-epochs")?.parse()?),
            "--ease-items" => ease_items = value("--ease-items")?.parse()?,
            "--per-listener-scale" => per_listener = true,
            _ if dir.is_none() => dir = Some(PathBuf::from(a)),
            _ => anyhow::bail!("unexpected argument {a:?}"),
        }
    }
    let dir = dir.ok_or_else(|| anyhow::anyhow!("usage: cf_blend_ceiling DATA_DIR [options]"))?;
    let ds = read_hetrec(
        &dir,
        ReadOptions {
            skip_bad_rows: false,
        },
    )?;
    let mut split = holdout(&ds.plays, 0.2, seed);
    if per_listener {
        split.train = scaled_by_listener(&split.train);
    }
    let fit = |p: AlsParams| {
        let f = timbral_train::train_factors(&split.train, &p, false);
        let m = timbral_train::build_model(
            &ds.user_ids,
            &ds.item_ids,
            &ds.item_names,
            &split.train,
            &f,
            p,
            &ds.source,
        );
        per_listener_scores(&split, |u, _| m.scores(&m.user_factor(u)))
    };
    let ials = AlsParams {
        regularization: 5.0,
        alpha: 1.0,
        reg_exponent: 1.0,
        ..AlsParams::default()
    };
    let mut lightgcn = AlsParams::defaults_for(FactorModel::LightGcn);
    if let Some(e) = epochs {
        lightgcn.iterations = e;
    }
    let ease = ease_on_most_played(&split.train, ease_items, 100.0);
    let by_item = split.train.transpose();
    let pop: Vec<f32> = (0..by_item.n_rows())
        .map(|i| (by_item.row_len(i) as f32).ln_1p())
        .collect();
    let models: Vec<(String, Scores)> = vec![
        ("ials".into(), fit(ials)),
        (
            format!("lightgcn ({} epochs)", lightgcn.iterations),
            fit(lightgcn),
        ),
        (
            format!("ease λ 100 ({ease_items} items)"),
            per_listener_scores(&split, |_, h| ease.scores(h)),
        ),
        (
            "popularity".into(),
            per_listener_scores(&split, |_, _| pop.clone()),
        ),
    ];
    println!(
        "{}: seed {seed}, {} listeners evaluated{}",
        dir.display(),
        split.test.len(),
        if per_listener {
            ", plays scaled by each listener's mean"
        } else {
            ""
        }
    );
    for (name, s) in &models {
        println!(
            "{name:<28} alone        nDCG@10 {:.4}",
            ndcg10(&split, &[(1.0, s)])
        );
    }
    for (name, s) in &models[1..] {
        for w in [0.5f32, 0.6, 0.7, 0.8, 0.9] {
            let blend = [(w, &models[0].1), (1.0 - w, s)];
            println!(
                "ials {w:.1} + {name:<27} nDCG@10 {:.4}",
                ndcg10(&split, &blend)
            );
        }
    }
    Ok(())
}

/// Each listener's plays divided by their mean, ×100 (so that ln(1 + ·)
/// still spans a range).
fn scaled_by_listener(train: &Csr) -> Csr {
    let mut t = Vec::with_capacity(train.nnz());
    for u in 0..train.n_rows() {
        let (items, plays) = train.row(u);
        let mean = plays.iter().sum::<f32>() / plays.len().max(1) as f32;
        for (&i, &v) in items.iter().zip(plays) {
            t.push((u as u32, i, v / mean.max(f32::MIN_POSITIVE) * 100.0));
        }
    }
    Csr::from_triplets(train.n_rows(), train.n_cols(), t)
}

/// EASE (λ) fitted densely on the `m` most-played items with two or more
/// listeners, 200 neighbours an item, in the whole catalogue's indices.
fn ease_on_most_played(train: &Csr, m: usize, lambda: f32) -> ItemItem {
    let n = train.n_cols();
    let by_item = train.transpose();
    let mut order: Vec<usize> = (0..n).filter(|&i| by_item.row_len(i) >= 2).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(by_item.row_len(i)), i));
    order.truncate(m);
    let mut sub_index = vec![u32::MAX; n];
    for (s, &i) in order.iter().enumerate() {
        sub_index[i] = s as u32;
    }
    let t = train
        .triplets()
        .filter(|t| sub_index[t.1 as usize] != u32::MAX)
        .map(|(u, i, v)| (u, sub_index[i as usize], v))
        .collect();
    let sub = Csr::from_triplets(train.n_rows(), order.len(), t);
    let mut rows = vec![Vec::new(); n];
    for (s, row) in timbral_train::ease::fit(&sub, lambda, 200)
        .into_iter()
        .enumerate()
    {
        let mut row: Vec<(u32, f32)> = row
            .into_iter()
            .map(|(j, w)| (order[j as usize] as u32, w))
            .collect();
        row.sort_unstable_by_key(|r| r.0);
        rows[order[s]] = row;
    }
    ItemItem::from_rows("ease", vec![], 0.0, &rows)
}

/// `score(listener, history)` for every evaluated listener, standardised
/// over the items they did not train on.
fn per_listener_scores<F>(split: &Split, score: F) -> Scores
where
    F: Fn(u32, &[(u32, f32)]) -> Vec<f32> + Sync,
{
    split
        .test
        .par_iter()
        .map(|(u, _)| {
            let (items, plays) = split.train.row(*u as usize);
            let history: Vec<(u32, f32)> =
                items.iter().copied().zip(plays.iter().copied()).collect();
            let mut s = score(*u, &history);
            let mut keep = vec![true; s.len()];
            for &i in items {
                keep[i as usize] = false;
            }
            standardize(&mut s, &keep);
            for (v, k) in s.iter_mut().zip(&keep) {
                if !k {
                    *v = f32::NEG_INFINITY;
                }
            }
            s
        })
        .collect()
}

/// Mean binary nDCG@10 of the weighted sum of `parts`.
fn ndcg10(split: &Split, parts: &[(f32, &Scores)]) -> f64 {
    let total: f64 = split
        .test
        .par_iter()
        .enumerate()
        .map(|(t, (_, held))| {
            let n = parts[0].1[t].len();
            let mut ranked: Vec<(f32, u32)> = (0..n)
                .map(|i| (parts.iter().map(|(w, s)| w * s[t][i]).sum(), i as u32))
                .filter(|p: &(f32, u32)| p.0.is_finite())
                .collect();
            let k = ranked.len().min(10);
            if k == 0 {
                return 0.0;
            }
            ranked.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            ranked.truncate(k);
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let top: Vec<timbral_core::Scored> = ranked
                .iter()
                .map(|&(score, index)| timbral_core::Scored { index, score })
                .collect();
            timbral_train::eval::ndcg_at(&top, held, 10)
        })
        .sum();
    total / split.test.len().max(1) as f64
}
