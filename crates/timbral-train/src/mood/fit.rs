//! Fitting the mood model, and its k-fold cross-validation table.
//!
//! The folds' Gram matrices (`XᵀX`, `XᵀY`) are computed once each; every
//! (ridge strength, fold) pair then costs one Cholesky solve of the others'
//! sum. Each target keeps the strength with the least held-out error, and
//! the final weights are fitted on all items with it. Folds come from a
//! seeded shuffle, so the model is the same for any number of threads.

use std::fmt;

use ndarray::{Array2, ArrayView2};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use timbral_core::facts::{AUDIO_FEATURES, AUDIO_RANGES, ENERGY, MOODS};

use super::features::{ItemInputs, Vocabulary};
use super::{MoodModel, TARGETS};
use crate::facts::audio_moods;

/// How to fit.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub folds: usize,
    pub seed: u64,
    /// Ridge strengths tried.
    pub lambdas: Vec<f64>,
    /// The text encoder's file hashes, recorded in the model.
    pub model_sha256: String,
    pub tokenizer_sha256: String,
}

impl TrainOptions {
    pub const LAMBDAS: [f64; 7] = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0];

    pub fn new(folds: usize, seed: u64, model_sha256: &str, tokenizer_sha256: &str) -> Self {
        TrainOptions {
            folds,
            seed,
            lambdas: Self::LAMBDAS.to_vec(),
            model_sha256: model_sha256.to_string(),
            tokenizer_sha256: tokenizer_sha256.to_string(),
        }
    }
}

/// One audio feature's held-out error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureCv {
    pub feature: String,
    pub rmse: f64,
    /// Predicting the training folds' mean.
    pub baseline: f64,
    pub lambda: f64,
}

/// The moods' held-out micro-F1 by each way of predicting them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MoodCv {
    /// `audio_moods` of the predicted audio.
    pub rules: f64,
    /// The direct scores at ½.
    pub direct_half: f64,
    /// The direct scores at each mood's threshold (fitted on these
    /// held-out predictions: slightly optimistic).
    pub direct_tuned: f64,
    /// `audio_moods` of the training folds' mean audio.
    pub baseline: f64,
    /// Per mood: its name, the share of items that have it, and the F1 of
    /// the way chosen.
    pub per_mood: Vec<(String, f64, f64)>,
    pub chosen: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvTable {
    pub folds: usize,
    pub items: usize,
    pub inputs: usize,
    pub audio: Vec<FeatureCv>,
    pub moods: MoodCv,
}

impl CvTable {
    pub fn energy(&self) -> &FeatureCv {
        &self.audio[ENERGY]
    }
}

impl fmt::Display for CvTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "mood model: {}-fold CV over {} measured items, {} inputs (ridge | training-fold mean)",
            self.folds, self.items, self.inputs
        )?;
        writeln!(
            f,
            "  {:<17} {:>7} {:>9} {:>6} {:>7}",
            "feature", "RMSE", "baseline", "R²", "λ"
        )?;
        for a in &self.audio {
            let r2 = 1.0 - (a.rmse / a.baseline.max(1e-12)).powi(2);
            writeln!(
                f,
                "  {:<17} {:>7.3} {:>9.3} {:>6.3} {:>7}",
                a.feature, a.rmse, a.baseline, r2, a.lambda
            )?;
        }
        let m = &self.moods;
        writeln!(
            f,
            "  moods micro-F1: rules on predicted audio {:.3} | direct at ½ {:.3} | direct, thresholds fitted on CV {:.3} | baseline {:.3}; using {}",
            m.rules, m.direct_half, m.direct_tuned, m.baseline, m.chosen
        )?;
        let per: Vec<String> = m
            .per_mood
            .iter()
            .map(|(name, share, f1)| format!("{name} {f1:.2} ({:.0}% of items)", share * 100.0))
            .collect();
        writeln!(f, "  per mood F1: {}", per.join(", "))
    }
}

/// One fold's rows and normal-equation terms.
struct Fold {
    x: Array2<f32>,
    gram: Vec<f64>,
    cross: Vec<f64>,
}

/// Fits the model on `items` with measured `audio` (one row each).
/// An error with fewer than `2·folds` items or fewer than 2 folds.
pub fn train(
    items: &[ItemInputs],
    audio: &[[f32; 9]],
    text_dim: usize,
    opts: &TrainOptions,
) -> Result<MoodModel, String> {
    let n = items.len();
    assert_eq!(n, audio.len(), "one audio row an item");
    if opts.folds < 2 {
        return Err(format!(
            "--folds {}: cross-validation needs at least 2",
            opts.folds
        ));
    }
    if n < 2 * opts.folds {
        return Err(format!(
            "{n} items have all nine audio features measured; {}-fold cross-validation needs at least {}",
            opts.folds,
            2 * opts.folds
        ));
    }
    if opts.lambdas.is_empty() {
        return Err("no ridge strengths to try".into());
    }
    let vocab = Vocabulary::fit(items, text_dim);
    let w = vocab.width();
    let x = vocab.rows(items);
    let y: Vec<f32> = audio
        .iter()
        .flat_map(|a| {
            let moods = audio_moods(a);
            a.iter()
                .copied()
                .chain(moods.iter().map(|&m| if m >= 0.5 { 1.0 } else { 0.0 }))
                .collect::<Vec<f32>>()
        })
        .collect();
    let folds = opts.folds;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed));
    let members: Vec<Vec<usize>> = (0..folds)
        .map(|f| {
            let mut m: Vec<usize> = order.iter().skip(f).step_by(folds).copied().collect();
            m.sort_unstable();
            m
        })
        .collect();
    let take = |rows: &[usize], m: &[f32], width: usize| {
        Array2::from_shape_fn((rows.len(), width), |(r, c)| m[rows[r] * width + c])
    };
    // Per fold: its rows, XᵀX and XᵀY.
    let grams: Vec<Fold> = members
        .par_iter()
        .map(|rows| {
            let xf = take(rows, &x, w);
            let yf = take(rows, &y, TARGETS);
            let g = xf.t().dot(&xf);
            let b = xf.t().dot(&yf);
            Fold {
                gram: g.iter().map(|&v| f64::from(v)).collect(),
                cross: b.iter().map(|&v| f64::from(v)).collect(),
                x: xf,
            }
        })
        .collect();
    // The sums over every fold but `skip`.
    let sum = |skip: Option<usize>, pick: fn(&Fold) -> &[f64]| {
        let mut total = vec![0.0f64; pick(&grams[0]).len()];
        for (f, g) in grams.iter().enumerate() {
            if Some(f) != skip {
                total.iter_mut().zip(pick(g)).for_each(|(t, v)| *t += v);
            }
        }
        total
    };
    let intercept = [w - 1];
    // Held-out scores for every (strength, fold).
    let jobs: Vec<(usize, usize)> = (0..opts.lambdas.len())
        .flat_map(|l| (0..folds).map(move |f| (l, f)))
        .collect();
    let held: Vec<Array2<f32>> = jobs
        .par_iter()
        .map(|&(l, f)| {
            let a = sum(Some(f), |g| &g.gram);
            let b = sum(Some(f), |g| &g.cross);
            let coef = crate::ridge::solve(&a, w, &b, TARGETS, opts.lambdas[l], &intercept);
            let coef: Vec<f32> = coef.iter().map(|&v| v as f32).collect();
            let coef = ArrayView2::from_shape((w, TARGETS), &coef).expect("w × TARGETS");
            grams[f].x.dot(&coef)
        })
        .collect();
    // The held-out score of item members[f][r], target t, strength l.
    let score = |l: usize, f: usize, r: usize, t: usize| held[l * folds + f][(r, t)];
    let truth = |i: usize, t: usize| y[i * TARGETS + t];
    // Baseline: each fold's complement mean.
    let totals: Vec<f64> = (0..TARGETS)
        .map(|t| (0..n).map(|i| f64::from(truth(i, t))).sum())
        .collect();
    let baseline: Vec<Vec<f32>> = members
        .iter()
        .map(|rows| {
            (0..TARGETS)
                .map(|t| {
                    let own: f64 = rows.iter().map(|&i| f64::from(truth(i, t))).sum();
                    ((totals[t] - own) / (n - rows.len()) as f64) as f32
                })
                .collect()
        })
        .collect();
    // Held-out squared error of every (strength, target).
    let sq_errs: Vec<[f64; TARGETS]> = (0..opts.lambdas.len())
        .map(|l| {
            let mut s = [0.0; TARGETS];
            for (f, rows) in members.iter().enumerate() {
                for (r, &i) in rows.iter().enumerate() {
                    for (t, st) in s.iter_mut().enumerate() {
                        let e = f64::from(clamp_target(t, score(l, f, r, t)) - truth(i, t));
                        *st += e * e;
                    }
                }
            }
            s
        })
        .collect();
    let sq_err = |l: usize, t: usize| sq_errs[l][t];
    let best: Vec<usize> = (0..TARGETS)
        .map(|t| {
            (0..opts.lambdas.len())
                .min_by(|&a, &b| sq_err(a, t).total_cmp(&sq_err(b, t)).then(a.cmp(&b)))
                .expect("at least one strength")
        })
        .collect();
    let audio_cv: Vec<FeatureCv> = (0..9)
        .map(|t| {
            let mut base = 0.0;
            for (f, rows) in members.iter().enumerate() {
                for &i in rows {
                    let e = f64::from(baseline[f][t] - truth(i, t));
                    base += e * e;
                }
            }
            FeatureCv {
                feature: AUDIO_FEATURES[t].to_string(),
                rmse: (sq_err(best[t], t) / n as f64).sqrt(),
                baseline: (base / n as f64).sqrt(),
                lambda: opts.lambdas[best[t]],
            }
        })
        .collect();
    // Moods: every item's held-out audio and direct scores at the chosen strengths.
    let mut predicted = vec![[0f32; TARGETS]; n];
    let mut mean_audio = vec![[0f32; 9]; n];
    for (f, rows) in members.iter().enumerate() {
        for (r, &i) in rows.iter().enumerate() {
            for t in 0..TARGETS {
                predicted[i][t] = clamp_target(t, score(best[t], f, r, t));
            }
            for t in 0..9 {
                mean_audio[i][t] = baseline[f][t];
            }
        }
    }
    let has = |i: usize, k: usize| truth(i, 9 + k) >= 0.5;
    let counts = |got: &dyn Fn(usize, usize) -> bool, k: usize| -> (u32, u32, u32) {
        let (mut tp, mut fp, mut fn_) = (0, 0, 0);
        for i in 0..n {
            match (got(i, k), has(i, k)) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                _ => {}
            }
        }
        (tp, fp, fn_)
    };
    let micro = |got: &dyn Fn(usize, usize) -> bool| -> f64 {
        let (mut tp, mut fp, mut fn_) = (0, 0, 0);
        for k in 0..MOODS.len() {
            let c = counts(got, k);
            tp += c.0;
            fp += c.1;
            fn_ += c.2;
        }
        f1(tp, fp, fn_)
    };
    let rules_of: Vec<[f32; 6]> = predicted
        .iter()
        .map(|p| audio_moods(p[..9].try_into().expect("nine")))
        .collect();
    let base_of: Vec<[f32; 6]> = mean_audio.iter().map(audio_moods).collect();
    let rules = micro(&|i, k| rules_of[i][k] >= 0.5);
    let direct_half = micro(&|i, k| predicted[i][9 + k] >= 0.5);
    let mut thresholds = [0.5f32; 6];
    for (k, th) in thresholds.iter_mut().enumerate() {
        let f1_at = |t: f32| {
            let (tp, fp, fn_) = counts(&|i, k| predicted[i][9 + k] >= t, k);
            f1(tp, fp, fn_)
        };
        *th = (1..=14)
            .map(|s| s as f32 * 0.05)
            .max_by(|&a, &b| f1_at(a).total_cmp(&f1_at(b)).then(b.total_cmp(&a)))
            .expect("thresholds");
    }
    let direct_tuned = micro(&|i, k| predicted[i][9 + k] >= thresholds[k]);
    let base = micro(&|i, k| base_of[i][k] >= 0.5);
    let moods_from_audio = rules >= direct_tuned;
    let chosen = |i: usize, k: usize| {
        if moods_from_audio {
            rules_of[i][k] >= 0.5
        } else {
            predicted[i][9 + k] >= thresholds[k]
        }
    };
    let per_mood = (0..MOODS.len())
        .map(|k| {
            let (tp, fp, fn_) = counts(&chosen, k);
            let share = (0..n).filter(|&i| has(i, k)).count() as f64 / n as f64;
            (MOODS[k].to_string(), share, f1(tp, fp, fn_))
        })
        .collect();
    // The final weights: all items, each target at its strength.
    let (g, b) = (sum(None, |g| &g.gram), sum(None, |g| &g.cross));
    let mut weights = vec![0f32; w * TARGETS];
    let mut strengths: Vec<usize> = best.clone();
    strengths.sort_unstable();
    strengths.dedup();
    for l in strengths {
        let coef = crate::ridge::solve(&g, w, &b, TARGETS, opts.lambdas[l], &intercept);
        for t in (0..TARGETS).filter(|&t| best[t] == l) {
            for r in 0..w {
                weights[r * TARGETS + t] = coef[r * TARGETS + t] as f32;
            }
        }
    }
    let energy = &audio_cv[ENERGY];
    let energy_r2 = (1.0 - (energy.rmse / energy.baseline.max(1e-12)).powi(2)) as f32;
    Ok(MoodModel {
        model_sha256: opts.model_sha256.clone(),
        tokenizer_sha256: opts.tokenizer_sha256.clone(),
        lambdas: best.iter().map(|&l| opts.lambdas[l] as f32).collect(),
        weights,
        moods_from_audio,
        thresholds,
        energy_r2,
        cv: CvTable {
            folds,
            items: n,
            inputs: w,
            audio: audio_cv,
            moods: MoodCv {
                rules,
                direct_half,
                direct_tuned,
                baseline: base,
                per_mood,
                chosen: if moods_from_audio {
                    "rules on predicted audio".into()
                } else {
                    "direct scores".into()
                },
            },
        },
        vocab,
    })
}

/// An audio feature within its range; a mood score as it is.
fn clamp_target(t: usize, v: f32) -> f32 {
    if t < 9 {
        v.clamp(AUDIO_RANGES[t].0, AUDIO_RANGES[t].1)
    } else {
        v
    }
}

fn f1(tp: u32, fp: u32, fn_: u32) -> f64 {
    2.0 * f64::from(tp) / f64::from((2 * tp + fp + fn_).max(1))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::Rng;

    /// Items whose energy follows their label ("metal" loud, "ambient"
    /// quiet) and the first text axis, with noise.
    pub(crate) fn synthetic(n: usize, seed: u64) -> (Vec<ItemInputs>, Vec<[f32; 9]>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut items = Vec::new();
        let mut audio = Vec::new();
        for i in 0..n {
            let loud = i % 2 == 0;
            let t0: f32 = rng.random_range(-1.0..1.0);
            let text = vec![
                t0,
                rng.random_range(-1.0..1.0),
                rng.random_range(-1.0..1.0),
                0.5,
            ];
            let label = if loud { "metal" } else { "ambient" };
            let it = ItemInputs::new(
                &crate::content::ItemMeta {
                    tags: vec![(label.into(), 5)],
                    genres: vec![label.into()],
                    year: Some(1970 + (i % 50) as u16),
                    ..Default::default()
                },
                text,
                Some((i % 10) as f32 / 10.0),
            );
            let energy =
                (if loud { 0.8 } else { 0.25 } + 0.1 * it.text[0] + rng.random_range(-0.03..0.03))
                    .clamp(0.0, 1.0);
            let valence = if loud { 0.3 } else { 0.6 };
            audio.push([0.2, 0.5, energy, 0.1, 0.1, -8.0, 0.05, 120.0, valence]);
            items.push(it);
        }
        (items, audio)
    }

    fn opts() -> TrainOptions {
        TrainOptions::new(4, 7, "model-sha", "tokenizer-sha")
    }

    #[test]
    fn learns_energy_from_labels_and_text_far_better_than_the_mean() {
        let (items, audio) = synthetic(400, 1);
        let m = train(&items, &audio, 4, &opts()).unwrap();
        let e = m.cv.energy();
        assert!(e.rmse < 0.35 * e.baseline, "{}", m.cv);
        assert!(m.energy_r2 > 0.8, "{}", m.cv);
        assert_eq!(m.cv.items, 400);
        // Loud items are aggressive/dark rarely here, but the table has every mood.
        assert_eq!(m.cv.moods.per_mood.len(), MOODS.len());
        // Predicting a fresh metal item gives high energy, an ambient one low.
        let (fresh, _) = synthetic(2, 99);
        let y = m.scores(&m.vocab.rows(&fresh));
        let (metal, ambient) = (m.prediction(&y[0], true), m.prediction(&y[1], true));
        assert!(
            metal.audio[ENERGY] > 0.6 && ambient.audio[ENERGY] < 0.45,
            "{metal:?} {ambient:?}"
        );
        assert!(metal.confidence > 0.7 && metal.confidence <= 1.0);
        assert!(m.prediction(&y[0], false).confidence < metal.confidence);
        assert!(m.cv.to_string().contains("energy"), "{}", m.cv);
    }

    #[test]
    fn the_same_model_with_any_number_of_threads() {
        let (items, audio) = synthetic(200, 3);
        let fit = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| train(&items, &audio, 4, &opts()).unwrap().to_bytes())
        };
        assert_eq!(fit(1), fit(3));
    }

    #[test]
    fn too_few_items_or_folds_are_refused() {
        let (items, audio) = synthetic(7, 3);
        let e = train(&items, &audio, 4, &opts()).unwrap_err();
        assert!(e.contains("7 items") && e.contains("at least 8"), "{e}");
        let mut o = opts();
        o.folds = 1;
        assert!(train(&items, &audio, 4, &o)
            .unwrap_err()
            .contains("at least 2"));
    }
}
