//! Hybrid fusion: learning α, β, γ on a validation split, and the hybrid
//! evaluation (CF-only, content-only, fusion; cold items; cold users).
//! Needs content vectors but not the encoder: the vectors are computed once.

use std::fmt;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;
use timbral_core::{
    AlsParams, Content, Csr, Fusion, FusionParts, FusionWeights, Model, ModelParts,
};

use crate::cf_tune::Choice;
use crate::data::Dataset;
use crate::eval::{evaluate, AtK};
use crate::split::{holdout, Split};

/// The weights of a catalogue nobody has played yet: the listener's taste
/// in content, and a little popularity (the catalogue's own).
pub const CONTENT_ONLY: Fusion = Fusion {
    weights: FusionWeights {
        alpha: 0.0,
        beta: 1.0,
        gamma: -0.2,
        cold: 0.0,
    },
    short: FusionWeights {
        alpha: 0.0,
        beta: 1.0,
        gamma: -0.2,
        cold: 0.0,
    },
    short_max_items: 3,
};

/// Validation users used to learn the weights (a deterministic sample).
const MAX_TUNE_USERS: usize = 800;

/// The content a model is built with: the encoder's full vectors, which
/// the content → factor map is fitted on, and the vectors the bundle ships
/// (the same, or compact ones: `compact::compact`). The map needs the full
/// ones: the directions a compact space drops carry much of what predicts a
/// factor (HetRec, cold-item fusion nDCG@10 .027 mapped from 48 axes
/// against .048 from all 384), while content similarity and search do as
/// well or better on the leading axes.
#[derive(Clone, Debug)]
pub struct TrainContent {
    pub full: Content,
    pub shipped: Content,
}

impl TrainContent {
    /// `full` shipped on its `dims` leading axes (0: as it is).
    pub fn new(full: Content, dims: usize) -> Self {
        let shipped = crate::compact::compact(&full, dims);
        Self { full, shipped }
    }
}

/// Attaches content vectors (and weights) to a CF model, and gives the
/// items nobody played a factor mapped from their content.
pub fn with_content(model: Model, content: &TrainContent, fusion: Option<Fusion>) -> Model {
    let mut parts = model.into_parts();
    map_new_items(&mut parts, &content.full);
    let shipped = &content.shipped;
    parts.content_sketch = (shipped.text_dim() > crate::sketch::SKETCH_MIN_TEXT_DIM)
        .then(|| crate::sketch::content_sketch(shipped));
    parts.content = Some(shipped.clone());
    parts.fusion = fusion;
    Model::from_parts(parts).expect("content matches the catalogue")
}

/// Ridge strength of the content → factor map.
const MAP_RIDGE: f64 = 10.0;

/// The content features of item `i`: text ‖ weighted audio ‖ 1.
fn features(content: &Content, i: usize) -> Vec<f64> {
    let q = content.item_query(i);
    q.text
        .iter()
        .copied()
        .chain(q.audio.iter().map(|a| a * content.audio_weight))
        .map(f64::from)
        .chain([1.0])
        .collect()
}

/// Gives every item nobody played the factor that a ridge regression from
/// content to factors, fitted on the played items, predicts for it
/// (attribute-to-factor mapping, Gantner et al. 2010). ALS leaves such an
/// item at zero: nothing to score it by.
pub fn map_new_items(parts: &mut ModelParts, content: &Content) {
    let listeners = &parts.popularity.listeners;
    let new: Vec<usize> = (0..listeners.len())
        .filter(|&i| listeners[i] == 0)
        .collect();
    if new.is_empty() || new.len() == listeners.len() {
        return;
    }
    let f = parts.item_factors.cols();
    let d = content.text_dim() + content.audio.cols() + 1;
    // XᵀX + λI and XᵀY over the played items, in parallel chunks.
    let (xtx, xty) = (0..listeners.len())
        .into_par_iter()
        .filter(|&i| listeners[i] > 0)
        .fold(
            || (vec![0.0f64; d * d], vec![0.0f64; d * f]),
            |(mut a, mut b), i| {
                let x = features(content, i);
                let y = parts.item_factors.dequantize_row(i);
                for (r, &xr) in x.iter().enumerate() {
                    for (c, &xc) in x.iter().enumerate().skip(r) {
                        a[r * d + c] += xr * xc;
                    }
                    for (c, &yc) in y.iter().enumerate() {
                        b[r * f + c] += xr * f64::from(yc);
                    }
                }
                (a, b)
            },
        )
        .reduce(
            || (vec![0.0; d * d], vec![0.0; d * f]),
            |(mut a, mut b), (a2, b2)| {
                a.iter_mut().zip(a2).for_each(|(x, y)| *x += y);
                b.iter_mut().zip(b2).for_each(|(x, y)| *x += y);
                (a, b)
            },
        );
    // The intercept is penalised too: it was fitted so from the start.
    let xty = crate::ridge::solve(&xtx, d, &xty, f, MAP_RIDGE, &[]);
    let mut y = parts.item_factors.dequantize();
    for &i in &new {
        let x = features(content, i);
        for c in 0..f {
            let v: f64 = x
                .iter()
                .enumerate()
                .map(|(r, xr)| xr * xty[r * f + c])
                .sum();
            y[i * f + c] = v as f32;
        }
    }
    parts.item_factors = timbral_core::QMatrix::quantize(&y, listeners.len(), f);
}

/// Trains CF on `train` and attaches the content vectors.
/// With `item_item`, the factors take its parameters and the item-item
/// model it chose is fitted on `train` too.
pub fn hybrid_model(
    ds: &Dataset,
    train: &Csr,
    content: &TrainContent,
    params: AlsParams,
    item_item: Option<&Choice>,
) -> Model {
    let params = item_item.map_or(params, |c| c.als);
    let f = crate::train_factors(train, &params, false);
    let m = crate::build_model(
        &ds.user_ids,
        &ds.item_ids,
        &ds.item_names,
        train,
        &f,
        params,
        &ds.source,
    );
    let m = with_content(m, content, None);
    match item_item {
        Some(c) => c.attach(m, train),
        None => m,
    }
}

fn history(train: &Csr, u: u32) -> Vec<(u32, f32)> {
    let (i, p) = train.row(u as usize);
    i.iter().copied().zip(p.iter().copied()).collect()
}

/// nDCG@10 of the items ranked by their scores.
pub(crate) fn ndcg10(scores: impl Iterator<Item = (u32, f32)>, held: &[u32]) -> f64 {
    let top = timbral_core::top_k(
        scores
            .map(|(index, score)| timbral_core::Scored { index, score })
            .collect(),
        10,
    );
    crate::eval::ndcg_at(&top, held, 10)
}

/// What `learn` found: the weights and their validation nDCG@10 next to
/// CF alone, for each of the three situations it tunes.
#[derive(Clone, Debug, Serialize)]
pub struct Learned {
    pub fusion: Fusion,
    /// (fusion, CF alone) on a plain validation split …
    pub ndcg10: (f64, f64),
    /// … with 10% of the items never played in training …
    pub cold_ndcg10: (f64, f64),
    /// … and for listeners cut down to `SHORT_HISTORY` items.
    pub short_ndcg10: (f64, f64),
    /// The CF model the weights were learned with (blend 1: the item-item
    /// model left out), to build the bundle with.
    pub item_item: Option<Choice>,
    /// Plain plus short-history fused nDCG@10, with and without the
    /// item-item model, where both were tried.
    pub item_item_ndcg10: Option<(f64, f64)>,
}

/// Listeners with at most this many items get the short-history weights.
pub const SHORT_HISTORY: u32 = 3;

/// Validation users' score parts, to score many weightings cheaply.
struct Validation {
    parts: Vec<FusionParts>,
    held: Vec<Vec<u32>>,
    pop: Vec<f32>,
}

impl Validation {
    /// `users` ranked by `model`, with factors from `how`.
    fn new(model: &Model, split: &Split, users: &[(u32, Vec<u32>)], how: Factor) -> Self {
        let parts = users
            .par_iter()
            .map(|(u, _)| {
                let h = history(&split.train, *u);
                let x = factor(model, &h, *u, how);
                model.fusion_parts(&x, &h, split.train.row(*u as usize).0)
            })
            .collect();
        Validation {
            parts,
            held: users.iter().map(|(_, h)| h.clone()).collect(),
            pop: model.popularity_term().to_vec(),
        }
    }

    fn ndcg10(&self, w: FusionWeights) -> f64 {
        let per: Vec<f64> = self
            .parts
            .par_iter()
            .zip(&self.held)
            .map(|(p, held)| {
                let it = (0..p.keep.len())
                    .filter(|&i| p.keep[i])
                    .map(|i| (i as u32, p.score(&w, &self.pop, i)));
                ndcg10(it, held)
            })
            .collect();
        per.iter().sum::<f64>() / per.len().max(1) as f64
    }

    /// The best of `candidates` (the first wins ties) and its nDCG@10.
    fn best(&self, candidates: impl Iterator<Item = FusionWeights>) -> (FusionWeights, f64) {
        let mut best = (FusionWeights::CF, f64::MIN);
        for w in candidates {
            let s = self.ndcg10(w);
            if s > best.1 + 1e-9 {
                best = (w, s);
            }
        }
        best
    }
}

/// α + β = 1 in steps of 0.1 (scale does not change a ranking), γ in
/// `gamma_min`/10..=0.4 in steps of 0.1; `cold` kept.
fn abg_grid(cold: f32, gamma_min: i32) -> impl Iterator<Item = FusionWeights> {
    (0..=10).flat_map(move |a| {
        (gamma_min..=4).map(move |g| FusionWeights {
            alpha: a as f32 / 10.0,
            beta: 1.0 - a as f32 / 10.0,
            gamma: g as f32 / 10.0,
            cold,
        })
    })
}

/// A deterministic sample of at most `MAX_TUNE_USERS` test users.
fn sample(test: &[(u32, Vec<u32>)]) -> Vec<(u32, Vec<u32>)> {
    let step = (test.len() / MAX_TUNE_USERS).max(1);
    test.iter().step_by(step).cloned().collect()
}

/// Where a user's CF factor comes from.
#[derive(Clone, Copy, PartialEq)]
enum Factor {
    /// The trained factor.
    Trained,
    /// Folded in from the training history.
    FoldIn,
    /// Folded in with the history's content neighbours, as the runtimes
    /// fold in a short history.
    FoldInWithNeighbours,
}

fn factor(model: &Model, h: &[(u32, f32)], u: u32, how: Factor) -> Vec<f32> {
    let x = match how {
        Factor::Trained => model.user_factor(u),
        Factor::FoldIn => model.fold_in(h).unwrap_or_default(),
        Factor::FoldInWithNeighbours => model.fold_in_with_neighbours(h).unwrap_or_default(),
    };
    if x.is_empty() {
        vec![0.0; model.factors()]
    } else {
        x
    }
}

/// Learns the fusion weights on validation splits carved from `plays`
/// (never from anything held out of it):
/// 1. α, β, γ and `cold` (κ, the trust in content for items nobody played)
///    on a per-user holdout;
/// 2. reported only: the same weights with 10% of the items removed from
///    training (their plays become test items);
/// 3. α, β, γ again for listeners folded in from `SHORT_HISTORY` items.
///
/// With an item-item model, all of it twice, with and without it (the
/// factors tuned either way), and the model is kept only where fusion on
/// the plain and the short-history splits ranks better with it: what helps
/// CF alone can add nothing beside content. Where `--cf` asked for it, it
/// is kept.
pub fn learn_weights(
    ds: &Dataset,
    plays: &Csr,
    content: &TrainContent,
    params: AlsParams,
    seed: u64,
    item_item: Option<&Choice>,
) -> Learned {
    let Some(with) = item_item.filter(|c| c.blend < 1.0 && !c.kinds.forces_item_item()) else {
        return learn(ds, plays, content, params, seed, item_item);
    };
    let without = Choice {
        blend: 1.0,
        ..with.clone()
    };
    let a = learn(ds, plays, content, params, seed, Some(with));
    let b = learn(ds, plays, content, params, seed, Some(&without));
    let sum = |l: &Learned| l.ndcg10.0 + l.short_ndcg10.0;
    let compared = Some((sum(&a), sum(&b)));
    let mut kept = if sum(&a) > sum(&b) + 1e-4 { a } else { b };
    kept.item_item_ndcg10 = compared;
    kept
}

fn learn(
    ds: &Dataset,
    plays: &Csr,
    content: &TrainContent,
    params: AlsParams,
    seed: u64,
    item_item: Option<&Choice>,
) -> Learned {
    let inner = holdout(plays, 0.2, seed ^ 0xf05e_0f05);
    let model = hybrid_model(ds, &inner.train, content, params, item_item);
    let v = Validation::new(&model, &inner, &sample(&inner.test), Factor::Trained);
    // Items played only by held-out listeners are new to this model, as
    // tomorrow's releases are to the bundle: κ is learned with α, β, γ.
    let (w, s) = v.best(
        [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]
            .into_iter()
            .flat_map(|c| abg_grid(c, -4)),
    );
    let ndcg10 = (s, v.ndcg10(FusionWeights::CF));

    let cold = cold_items_split(&inner, seed ^ 0xc01d_f00d, true);
    let model = hybrid_model(ds, &cold.train, content, params, item_item);
    let v = Validation::new(&model, &cold, &sample(&cold.test), Factor::Trained);
    let cold_ndcg10 = (v.ndcg10(w), v.ndcg10(FusionWeights::CF));

    // As in the evaluation, a third of the listeners are cut short, so the
    // model still learns from everyone else.
    let short = short_history_split(&inner, seed ^ 0x5407, 3);
    let model = hybrid_model(ds, &short.train, content, params, item_item);
    let users = sample(&short.test);
    let v = Validation::new(&model, &short, &users, Factor::FoldInWithNeighbours);
    // A few plays say little: popularity may need to weigh more.
    let (ws, s) = v.best(abg_grid(w.cold, -12));
    // CF alone from the plain fold-in.
    let plain = Validation::new(&model, &short, &users, Factor::FoldIn);
    let short_ndcg10 = (s, plain.ndcg10(FusionWeights::CF));

    let fusion = Fusion {
        weights: w,
        short: ws,
        short_max_items: SHORT_HISTORY,
    };
    tracing::info!(
        ?fusion,
        ?ndcg10,
        ?cold_ndcg10,
        ?short_ndcg10,
        "learned fusion weights"
    );
    Learned {
        fusion,
        ndcg10,
        cold_ndcg10,
        short_ndcg10,
        item_item: item_item.cloned(),
        item_item_ndcg10: None,
    }
}

impl Learned {
    /// Whether fusion kept the item-item model beside content, and why.
    pub fn cf_note(&self) -> Option<String> {
        let (with, without) = self.item_item_ndcg10?;
        let kept = self.item_item.as_ref().is_some_and(|c| c.blend < 1.0);
        Some(format!(
            "item-item model beside content: {} (plain + short-history fused nDCG@10 {with:.4} with it, {without:.4} without)",
            if kept { "kept" } else { "left out" }
        ))
    }

    /// `model` (trained with the item-item model attached) as the weights
    /// were learned: without that model where fusion left it out.
    pub fn apply_cf(&self, model: Model) -> Model {
        if self.item_item.as_ref().is_some_and(|c| c.blend < 1.0) || model.item_item().is_none() {
            return model;
        }
        let mut parts = model.into_parts();
        parts.item_item = None;
        Model::from_parts(parts).expect("dropping an optional section keeps a model valid")
    }
}

/// 10% of the played items leave training entirely. Test items: the
/// users' plays of those items, plus (with `keep_test`) what `split`
/// already held out.
fn cold_items_split(split: &Split, seed: u64, keep_test: bool) -> Split {
    let n = split.train.n_cols();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let listeners = timbral_core::Popularity::from_plays(&split.train).listeners;
    let mut items: Vec<u32> = (0..n as u32)
        .filter(|&i| listeners[i as usize] > 0)
        .collect();
    items.shuffle(&mut rng);
    let mut cold = vec![false; n];
    items
        .iter()
        .take(items.len() / 10)
        .for_each(|&i| cold[i as usize] = true);
    let mut old_test: Vec<Vec<u32>> = vec![Vec::new(); split.train.n_rows()];
    if keep_test {
        for (u, held) in &split.test {
            old_test[*u as usize] = held.clone();
        }
    }
    let mut train = Vec::new();
    let mut test = Vec::new();
    for (u, old) in old_test.into_iter().enumerate() {
        let (cols, vals) = split.train.row(u);
        let mut held: Vec<u32> = cols.iter().copied().filter(|&i| cold[i as usize]).collect();
        train.extend(
            cols.iter()
                .zip(vals)
                .filter(|(i, _)| !cold[**i as usize])
                .map(|(&i, &v)| (u as u32, i, v)),
        );
        let kept = cols.len() - held.len();
        held.extend(old);
        held.sort_unstable();
        if !held.is_empty() && kept > 0 {
            test.push((u as u32, held));
        }
    }
    Split {
        train: Csr::from_triplets(split.train.n_rows(), n, train),
        test,
    }
}

/// Every `every`-th test user keeps only `SHORT_HISTORY` random training
/// items (the model retrains without the rest; they are folded in).
fn short_history_split(split: &Split, seed: u64, every: usize) -> Split {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut short = vec![false; split.train.n_rows()];
    for (k, (u, _)) in split.test.iter().enumerate() {
        if k % every == 0 {
            short[*u as usize] = true;
        }
    }
    let mut train = Vec::new();
    for (u, &is_short) in short.iter().enumerate() {
        let (cols, vals) = split.train.row(u);
        let mut rows: Vec<(u32, f32)> = cols.iter().copied().zip(vals.iter().copied()).collect();
        if is_short {
            rows.shuffle(&mut rng);
            rows.truncate(SHORT_HISTORY as usize);
        }
        train.extend(rows.into_iter().map(|(i, v)| (u as u32, i, v)));
    }
    Split {
        train: Csr::from_triplets(split.train.n_rows(), split.train.n_cols(), train),
        test: split
            .test
            .iter()
            .filter(|(u, _)| short[*u as usize])
            .cloned()
            .collect(),
    }
}

/// CF alone, content alone and fusion with `w`, on one trained model.
fn rank_three(
    model: &Model,
    split: &Split,
    n_items: usize,
    w: FusionWeights,
    ks: &[usize],
    folded: bool,
) -> [Vec<AtK>; 3] {
    let run = |w: FusionWeights| {
        evaluate(split, n_items, ks, |u, k| {
            let h = history(&split.train, u);
            // CF alone is the plain fold-in: no content in it.
            let how = match (folded, w == FusionWeights::CF) {
                (false, _) => Factor::Trained,
                (true, true) => Factor::FoldIn,
                (true, false) => Factor::FoldInWithNeighbours,
            };
            let x = factor(model, &h, u, how);
            model
                .recommend_fused(&x, &h, split.train.row(u as usize).0, k, w)
                .iter()
                .map(|r| r.index)
                .collect()
        })
    };
    [run(FusionWeights::CF), run(FusionWeights::CONTENT), run(w)]
}

#[derive(Clone, Debug, Serialize)]
pub struct Slice {
    pub name: String,
    pub users: usize,
    /// cf, content, fusion
    pub results: Vec<(String, Vec<AtK>)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HybridReport {
    /// The item-item model chosen on the training split, if any.
    pub item_item: Option<Choice>,
    pub learned: Learned,
    pub slices: Vec<Slice>,
}

fn slice(name: &str, r: [Vec<AtK>; 3], users: usize) -> Slice {
    let [a, b, c] = r;
    Slice {
        name: name.into(),
        users,
        results: vec![
            ("cf".into(), a),
            ("content".into(), b),
            ("fusion".into(), c),
        ],
    }
}

/// The hybrid evaluation on the same per-user holdout as `eval::run`.
pub fn run(
    ds: &Dataset,
    content: &TrainContent,
    params: AlsParams,
    fraction: f64,
    seed: u64,
    ks: &[usize],
    choose: &dyn Fn(&Csr) -> Option<Choice>,
) -> HybridReport {
    let n = ds.n_items();
    let split = holdout(&ds.plays, fraction, seed);
    // The item-item model and its blend are chosen on the training split
    // alone, as `timbral train` chooses them on all the plays.
    let choice = choose(&split.train);
    let item_item = choice.as_ref();
    let learned = learn_weights(ds, &split.train, content, params, seed, item_item);
    let item_item = learned.item_item.as_ref();
    let fusion = learned.fusion;
    let model = hybrid_model(ds, &split.train, content, params, item_item);
    let mut slices = vec![slice(
        "all users",
        rank_three(&model, &split, n, fusion.weights, ks, false),
        split.test.len(),
    )];

    // (a) Cold items: 10% of the played items leave training entirely;
    // their plays are the test items.
    let all = Split {
        train: ds.plays.clone(),
        test: Vec::new(),
    };
    let cold = cold_items_split(&all, seed ^ 0xc01d, false);
    let cold_model = hybrid_model(ds, &cold.train, content, params, item_item);
    slices.push(slice(
        "cold items",
        rank_three(&cold_model, &cold, n, fusion.weights, ks, false),
        cold.test.len(),
    ));

    // (b) Every third test user keeps only 3 training items and is folded
    // in; the model is retrained without the rest.
    let short = short_history_split(&split, seed ^ 0x5407, 3);
    let short_model = hybrid_model(ds, &short.train, content, params, item_item);
    slices.push(slice(
        "users with ≤ 3 items",
        rank_three(&short_model, &short, n, fusion.short, ks, true),
        short.test.len(),
    ));
    HybridReport {
        item_item: choice,
        learned,
        slices,
    }
}

impl fmt::Display for HybridReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = &self.item_item {
            write!(f, "{c}")?;
        }
        write!(f, "{}", self.learned)?;
        for s in &self.slices {
            writeln!(f)?;
            writeln!(f, "{} ({} users)", s.name, s.users)?;
            let rows: Vec<(&str, &[AtK])> = s
                .results
                .iter()
                .map(|(n, m)| (n.as_str(), &m[..]))
                .collect();
            crate::eval::write_tables(f, &rows)?;
        }
        Ok(())
    }
}

impl fmt::Display for Learned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (w, s) = (self.fusion.weights, self.fusion.short);
        writeln!(
            f,
            "fusion weights learned on validation splits of the training data:"
        )?;
        if let Some(note) = self.cf_note() {
            writeln!(f, "  {note}")?;
        }
        writeln!(
            f,
            "  α {:.2} (CF), β {:.2} (content), γ {:.2} (1 − popularity penalty): nDCG@10 {:.4} vs CF alone {:.4}",
            w.alpha, w.beta, w.gamma, self.ndcg10.0, self.ndcg10.1
        )?;
        writeln!(
            f,
            "  new items: κ {:.2} × the CF score of their content-mapped factor; with 10% of the items new: nDCG@10 {:.4} vs CF alone {:.4}",
            w.cold, self.cold_ndcg10.0, self.cold_ndcg10.1
        )?;
        writeln!(
            f,
            "  listeners with ≤ {} items: α {:.2}, β {:.2}, γ {:.2}: nDCG@10 {:.4} vs CF alone {:.4}",
            self.fusion.short_max_items, s.alpha, s.beta, s.gamma, self.short_ndcg10.0, self.short_ndcg10.1
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use timbral_core::model::Meta;
    use timbral_core::{Popularity, QMatrix};

    /// Two content clusters with opposite factors; an unplayed item of the
    /// first cluster must get the first cluster's factor.
    #[test]
    fn new_items_get_the_factor_their_content_predicts() {
        let n = 41;
        let mut text = Vec::new();
        let mut factors = Vec::new();
        let mut plays = Vec::new();
        for i in 0..n {
            let a = i % 2 == 0;
            let jitter = (i as f32 * 0.37).sin() * 0.1;
            text.extend([if a { 1.0 } else { 0.0 }, if a { 0.0 } else { 1.0 }, jitter]);
            factors.extend(if a { [1.0, 0.2] } else { [-0.2, 1.0] });
            if i + 1 < n {
                plays.push((0, i as u32, 1.0));
            }
        }
        factors[2 * (n - 1)..].fill(0.0);
        let plays = Csr::from_triplets(1, n, plays);
        let mut parts = ModelParts {
            meta: Meta {
                params: AlsParams {
                    factors: 2,
                    ..AlsParams::default()
                },
                source: "test".into(),
                trainer: "unit".into(),
                user_reference: 0.0,
            },
            item_ids: (0..n).map(|i| i.to_string()).collect(),
            item_names: (0..n).map(|i| i.to_string()).collect(),
            popularity: Popularity::from_plays(&plays),
            item_factors: QMatrix::quantize(&factors, n, 2),
            user_ids: vec!["u".into()],
            user_factors: QMatrix::quantize(&[1.0, 0.0], 1, 2),
            user_items: plays,
            content: None,
            fusion: None,
            content_sketch: None,
            item_aliases: Vec::new(),
            facts: None,
            credits: None,
            genre_clusters: None,
            item_item: None,
            cf_choice: None,
            shortlist: None,
        };
        let content = Content {
            text: QMatrix::quantize(&text, n, 3),
            audio: QMatrix::quantize(&vec![0.0; n], n, 1),
            audio_weight: 0.5,
            labels: vec![Vec::new(); n],
            label_weights: vec![Vec::new(); n],
            model_sha256: String::new(),
            tokenizer_sha256: String::new(),
            projection: None,
        };
        let before = parts.item_factors.dequantize_row(1);
        map_new_items(&mut parts, &content);
        let y = parts.item_factors.dequantize_row(n - 1);
        let cos = (y[0] * 1.0 + y[1] * 0.2) / (y[0].hypot(y[1]) * 1.0f32.hypot(0.2));
        assert!(cos > 0.99, "mapped factor {y:?}");
        // Played items keep their trained factors.
        assert_eq!(parts.item_factors.dequantize_row(1), before);
    }
}
