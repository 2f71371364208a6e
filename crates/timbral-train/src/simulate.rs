//! Simulated listeners (seed 001), to compare strategies without people.
//!
//! Each listener has one to three stable hidden tastes: a genre cluster
//! of the bundle (one of its more cohesive half: see `coherent`) and an
//! energy range within it. Three-taste listeners get
//! clusters as far apart as the bundle has (the least similar centroids):
//! contradictory tastes. Shown an item, a listener likes it (90%) when it
//! belongs to one of their clusters with its energy in range, is lukewarm
//! when only the cluster fits (like 25%, skip 50%, dislike 25%), and
//! otherwise mostly dislikes it (like 2%, skip 28%, dislike 70%).
//!
//! Everything is seeded: listener `j` of seed `s` draws from ChaCha8 seeded
//! by `(s, j)`, and listeners run independently (in parallel, collected in
//! order), so a report is the same for a seed whatever the thread count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use timbral_core::taste::space::{audio01, Space};
use timbral_core::taste::{Feedback, Profile, Shown, Stage};
use timbral_core::topk::Scored;
use timbral_core::Model;

/// How recommendations are made for a simulated listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The staged multi-taste recommender (`Model::recommend_staged`).
    Staged,
    /// One taste vector: the likes as a play history, fused CF + content
    /// (`Model::recommend_explained`), as before tastes existed.
    Single,
    /// The most popular items not yet shown.
    Popular,
    /// Items drawn at random.
    Random,
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "staged" => Ok(Strategy::Staged),
            "single" => Ok(Strategy::Single),
            "popular" => Ok(Strategy::Popular),
            "random" => Ok(Strategy::Random),
            _ => Err(format!(
                "strategy must be staged, single, popular or random, got {s:?}"
            )),
        }
    }
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Staged => "staged",
            Strategy::Single => "single",
            Strategy::Popular => "popular",
            Strategy::Random => "random",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct SimConfig {
    pub listeners: usize,
    pub rounds: usize,
    pub k: usize,
    pub seed: u64,
}

/// One hidden taste: a cluster and an energy range.
#[derive(Clone, Debug, Serialize)]
pub struct HiddenTaste {
    pub cluster: u16,
    pub energy: (f32, f32),
}

/// A simulated listener.
#[derive(Clone, Debug, Serialize)]
pub struct SimListener {
    pub tastes: Vec<HiddenTaste>,
}

/// A cluster a hidden taste may use: enough poolable items of its own.
fn eligible_clusters(model: &Model, k: usize) -> Vec<u16> {
    let ic = model.item_clusters();
    let mut count = vec![0usize; ic.len()];
    for i in 0..model.n_items() {
        if let (true, Some(c)) = (ic.pooled[i], ic.primary(i)) {
            count[c as usize] += 1;
        }
    }
    let need = (4 * k).max(30);
    (0..ic.len() as u16)
        .filter(|&c| count[c as usize] >= need)
        .collect()
}

/// The mean unit vector of each cluster's items (by primary cluster).
fn cluster_centroids(model: &Model, clusters: &[u16]) -> Vec<Vec<f32>> {
    let space = Space::new(model);
    let ic = model.item_clusters();
    clusters
        .iter()
        .map(|&c| {
            let members: Vec<(u32, f32)> = (0..model.n_items())
                .filter(|&i| ic.pooled[i] && ic.primary(i) == Some(c))
                .map(|i| (i as u32, 1.0))
                .collect();
            // The centroid as its profile of cosines over the items:
            // comparable across content and CF bundles.
            space
                .centroid(&members)
                .map(|x| space.cosines(&x))
                .unwrap_or_default()
        })
        .collect()
}

/// The clusters a listener may hold as a taste: the more cohesive half of
/// `clusters` (at least six, or all there are), by the mean cosine of their
/// items to their centroid. A tag cluster such as "00s / cover / mellow
/// gold" gathers items that share a word, not a sound; nobody's taste is
/// that. Returns them with their centroids' cosine profiles.
fn coherent(model: &Model, clusters: Vec<u16>) -> (Vec<u16>, Vec<Vec<f32>>) {
    let profiles = cluster_centroids(model, &clusters);
    let ic = model.item_clusters();
    let cohesion: Vec<f32> = clusters
        .iter()
        .zip(&profiles)
        .map(|(&c, p)| {
            let (sum, n) = (0..model.n_items())
                .filter(|&i| ic.pooled[i] && ic.primary(i) == Some(c))
                .fold((0f32, 0usize), |(s, n), i| (s + p[i], n + 1));
            sum / n.max(1) as f32
        })
        .collect();
    let keep = clusters.len().div_ceil(2).max(6).min(clusters.len());
    let mut order: Vec<usize> = (0..clusters.len()).collect();
    order.sort_by(|&a, &b| cohesion[b].total_cmp(&cohesion[a]).then(a.cmp(&b)));
    order.truncate(keep);
    order.sort_unstable();
    (
        order.iter().map(|&x| clusters[x]).collect(),
        order.iter().map(|&x| profiles[x].clone()).collect(),
    )
}

/// `listeners` deterministic listeners for `model`: a third each with one,
/// two and three hidden tastes.
pub fn make_listeners(model: &Model, cfg: &SimConfig) -> Result<Vec<SimListener>, String> {
    let clusters = eligible_clusters(model, cfg.k);
    if clusters.len() < 3 {
        return Err(format!(
            "the bundle has {} genre clusters with enough items for a hidden taste; 3 are needed",
            clusters.len()
        ));
    }
    let (clusters, profiles) = coherent(model, clusters);
    // Cluster similarity: correlation of their cosine profiles.
    let sim = |a: usize, b: usize| -> f32 {
        let (x, y) = (&profiles[a], &profiles[b]);
        let n = x.len().max(1) as f32;
        let (mx, my) = (x.iter().sum::<f32>() / n, y.iter().sum::<f32>() / n);
        let (mut c, mut vx, mut vy) = (0f32, 0f32, 0f32);
        for (a, b) in x.iter().zip(y) {
            c += (a - mx) * (b - my);
            vx += (a - mx).powi(2);
            vy += (b - my).powi(2);
        }
        c / (vx * vy).sqrt().max(1e-12)
    };
    let ic = model.item_clusters();
    let energies: Vec<Vec<f32>> = clusters
        .iter()
        .map(|&c| {
            (0..model.n_items())
                .filter(|&i| ic.pooled[i] && ic.primary(i) == Some(c))
                .filter_map(|i| audio01(model, i).map(|a| a[timbral_core::facts::ENERGY]))
                .collect()
        })
        .collect();
    Ok((0..cfg.listeners)
        .map(|j| {
            let mut rng = ChaCha8Rng::seed_from_u64(
                cfg.seed ^ (j as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let n = 1 + j % 3;
            let mut chosen: Vec<usize> = vec![rng.random_range(0..clusters.len())];
            while chosen.len() < n {
                // The three clusters least like the chosen ones; one of them.
                let mut far: Vec<(f32, usize)> = (0..clusters.len())
                    .filter(|c| !chosen.contains(c))
                    .map(|c| {
                        let s = chosen.iter().map(|&x| sim(x, c)).fold(f32::MIN, f32::max);
                        (s, c)
                    })
                    .collect();
                far.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let pick = rng.random_range(0..far.len().min(3));
                chosen.push(far[pick].1);
            }
            let tastes = chosen
                .into_iter()
                .map(|c| {
                    let e = &energies[c];
                    let energy = if e.is_empty() {
                        (0.0, 1.0)
                    } else {
                        let centre = e[rng.random_range(0..e.len())];
                        ((centre - 0.2).max(0.0), (centre + 0.2).min(1.0))
                    };
                    HiddenTaste {
                        cluster: clusters[c],
                        energy,
                    }
                })
                .collect();
            SimListener { tastes }
        })
        .collect())
}

impl SimListener {
    /// The hidden taste an item belongs to (by cluster), and whether its
    /// energy is in that taste's range.
    pub fn matches(&self, model: &Model, i: u32) -> Option<(usize, bool)> {
        let ic = model.item_clusters();
        let energy = audio01(model, i as usize).map(|a| a[timbral_core::facts::ENERGY]);
        let mut best: Option<(usize, bool)> = None;
        for (t, h) in self.tastes.iter().enumerate() {
            if ic.primary(i as usize) == Some(h.cluster) || ic.share(i as usize, h.cluster) >= 0.5 {
                let in_range = energy.is_none_or(|e| (h.energy.0..=h.energy.1).contains(&e));
                if best.is_none_or(|(_, ok)| !ok && in_range) {
                    best = Some((t, in_range));
                }
            }
        }
        best
    }

    fn respond(&self, model: &Model, i: u32, rng: &mut ChaCha8Rng) -> Feedback {
        let r: f32 = rng.random();
        let (like, skip) = match self.matches(model, i) {
            Some((_, true)) => (0.9, 0.1),
            Some((_, false)) => (0.25, 0.5),
            None => (0.02, 0.28),
        };
        if r < like {
            Feedback::Like
        } else if r < like + skip {
            Feedback::Skip
        } else {
            Feedback::Dislike
        }
    }
}

/// What one listener's run recorded.
struct Trace {
    /// Per round: likes, shown.
    likes: Vec<(u32, u32)>,
    /// Per round: how many shown items matched each hidden taste.
    per_taste: Vec<Vec<u32>>,
    /// Per stage: likes, shown.
    by_stage: [(u32, u32); 4],
    /// Per round: the listener's stage (staged strategy).
    stages: Vec<Stage>,
    /// Tastes the profile ended with, and hidden tastes liked at least once.
    tastes: usize,
    found: usize,
    /// The round (1-based) each hidden taste was first liked in.
    found_at: Vec<Option<usize>>,
    /// Per taste with a model at the end: (logistic AUC, boosted AUC if it
    /// competed, the chosen one's AUC, samples).
    models: Vec<(f32, Option<f32>, f32, u32)>,
}

fn run_listener(
    model: &Model,
    l: &SimListener,
    j: usize,
    strategy: Strategy,
    cfg: &SimConfig,
) -> Trace {
    let mut rng = ChaCha8Rng::seed_from_u64(
        cfg.seed.rotate_left(17) ^ (j as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
    );
    let mut profile = Profile::default();
    let mut shown: Vec<u32> = Vec::new();
    let pooled = &model.item_clusters().pooled;
    let mut trace = Trace {
        likes: Vec::new(),
        per_taste: Vec::new(),
        by_stage: [(0, 0); 4],
        stages: Vec::new(),
        tastes: 0,
        found: 0,
        found_at: vec![None; l.tastes.len()],
        models: Vec::new(),
    };
    for round in 0..cfg.rounds {
        let picks: Vec<(u32, Shown, Stage)> = match strategy {
            Strategy::Staged => {
                let (stage, p) = model
                    .recommend_staged(&mut profile, &[], cfg.k)
                    .expect("k is in range");
                trace.stages.push(stage);
                p.into_iter()
                    .map(|x| (x.index, x.shown(), x.stage))
                    .collect()
            }
            Strategy::Single => {
                let history = profile.history(model);
                let stage = if history.is_empty() {
                    Stage::ColdStart
                } else {
                    Stage::Ranking
                };
                trace.stages.push(stage);
                model
                    .recommend_explained(&history, &shown, cfg.k, None)
                    .expect("k is in range")
                    .into_iter()
                    .map(|r| (r.rec.index, Shown::Unknown, stage))
                    .collect()
            }
            Strategy::Popular => {
                trace.stages.push(Stage::ColdStart);
                model
                    .popular(&shown, cfg.k)
                    .into_iter()
                    .map(|s: Scored| (s.index, Shown::Unknown, Stage::ColdStart))
                    .collect()
            }
            Strategy::Random => {
                trace.stages.push(Stage::ColdStart);
                let mut out = Vec::with_capacity(cfg.k);
                let mut tries = 0;
                while out.len() < cfg.k && tries < 100 * cfg.k {
                    tries += 1;
                    let i = rng.random_range(0..model.n_items() as u32);
                    if pooled[i as usize]
                        && !shown.contains(&i)
                        && !out.iter().any(|x: &(u32, Shown, Stage)| x.0 == i)
                    {
                        out.push((i, Shown::Unknown, Stage::ColdStart));
                    }
                }
                out
            }
        };
        let mut likes = 0;
        let mut per_taste = vec![0u32; l.tastes.len()];
        for &(i, shown_by, stage) in &picks {
            if let Some((t, _)) = l.matches(model, i) {
                per_taste[t] += 1;
            }
            let f = l.respond(model, i, &mut rng);
            let s = &mut trace.by_stage[stage as usize];
            s.1 += 1;
            if f == Feedback::Like {
                likes += 1;
                s.0 += 1;
                if let Some((t, _)) = l.matches(model, i) {
                    trace.found_at[t].get_or_insert(round + 1);
                }
            }
            profile
                .feedback_from(model, i, f, shown_by)
                .expect("a shown item is in the catalogue");
            shown.push(i);
        }
        trace.likes.push((likes, picks.len() as u32));
        trace.per_taste.push(per_taste);
    }
    trace.tastes = profile.tastes.len();
    trace.models = profile
        .tastes
        .iter()
        .filter_map(|t| t.model.as_ref())
        .map(|m| (m.logistic_auc, m.boosted_auc, m.auc, m.samples))
        .collect();
    trace.found = trace.found_at.iter().flatten().count();
    trace
}

/// A strategy's results over all listeners.
#[derive(Clone, Debug, Serialize)]
pub struct StrategyReport {
    pub strategy: Strategy,
    /// Mean like-rate per round (likes / shown).
    pub like_rate: Vec<f32>,
    /// Like-rate by the stage that picked the item: (stage, rate, shown).
    pub by_stage: Vec<(Stage, f32, u32)>,
    /// Share of listeners in each stage per round (staged only).
    pub stage_share: Vec<Vec<(Stage, f32)>>,
    /// Three-taste listeners, rounds after `share_after`: the mean of their
    /// least-served hidden taste's share of the recommendations, and the
    /// fraction of them whose every taste holds at least 15%.
    pub min_taste_share: f32,
    pub all_tastes_15: f32,
    /// The first round from which a listener's like-rate is ≥ 0.5 for three
    /// rounds running: the median over the listeners who get there (`None`:
    /// nobody does), and the fraction who do.
    pub convergence_round: Option<usize>,
    pub converged: f32,
    /// Mean like-rate of the rounds a listener spent in cold start, and of
    /// the last round.
    pub cold_start_rate: f32,
    pub last_round_rate: f32,
    /// Three-taste listeners: mean tastes in the profile at the end, and
    /// mean hidden tastes liked at least once.
    pub profile_tastes_3: f32,
    pub found_tastes_3: f32,
    /// Three-taste listeners who liked all three: the median round by which
    /// they had.
    pub all_found_round_3: Option<usize>,
    /// The tastes' models at the end (held-out AUC on each taste's own
    /// slice of simulated feedback).
    pub models: ModelSummary,
}

/// How the per-taste models did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModelSummary {
    pub tastes_with_a_model: usize,
    /// Mean held-out AUC of logistic regression, over every model.
    pub logistic_auc: f32,
    /// Where boosting competed (enough samples): how many, the mean AUC of
    /// each, and how often boosting won.
    pub competed: usize,
    pub competed_logistic_auc: f32,
    pub competed_boosted_auc: f32,
    pub boosted_won: usize,
    /// Mean held-out AUC of the models in use.
    pub chosen_auc: f32,
    pub mean_samples: f32,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct SimReport {
    pub listeners: usize,
    pub rounds: usize,
    pub k: usize,
    pub seed: u64,
    pub share_after: usize,
    pub strategies: Vec<StrategyReport>,
}

/// Rounds whose recommendations count for the taste shares.
pub const SHARE_AFTER: usize = 10;

pub fn simulate(
    model: &Model,
    cfg: &SimConfig,
    strategies: &[Strategy],
) -> Result<SimReport, String> {
    let listeners = make_listeners(model, cfg)?;
    let mut out = Vec::new();
    for &s in strategies {
        let traces: Vec<Trace> = listeners
            .par_iter()
            .enumerate()
            .map(|(j, l)| run_listener(model, l, j, s, cfg))
            .collect();
        out.push(summarise(s, &listeners, &traces, cfg));
    }
    Ok(SimReport {
        listeners: cfg.listeners,
        rounds: cfg.rounds,
        k: cfg.k,
        seed: cfg.seed,
        share_after: SHARE_AFTER,
        strategies: out,
    })
}

fn rate(l: u32, n: u32) -> f32 {
    if n == 0 {
        0.0
    } else {
        l as f32 / n as f32
    }
}

fn summarise(
    s: Strategy,
    listeners: &[SimListener],
    traces: &[Trace],
    cfg: &SimConfig,
) -> StrategyReport {
    let n = traces.len().max(1) as f32;
    let like_rate: Vec<f32> = (0..cfg.rounds)
        .map(|r| {
            traces
                .iter()
                .map(|t| rate(t.likes[r].0, t.likes[r].1))
                .sum::<f32>()
                / n
        })
        .collect();
    let mut by_stage = Vec::new();
    for st in Stage::ALL {
        let (l, k) = traces.iter().fold((0, 0), |(a, b), t| {
            (a + t.by_stage[st as usize].0, b + t.by_stage[st as usize].1)
        });
        if k > 0 {
            by_stage.push((st, rate(l, k), k));
        }
    }
    let stage_share = (0..cfg.rounds)
        .map(|r| {
            Stage::ALL
                .iter()
                .map(|&st| {
                    (
                        st,
                        traces.iter().filter(|t| t.stages[r] == st).count() as f32 / n,
                    )
                })
                .filter(|&(_, x)| x > 0.0)
                .collect()
        })
        .collect();
    let (mut min_sum, mut all15, mut three) = (0f32, 0usize, 0usize);
    let (mut kept, mut found) = (0usize, 0usize);
    let mut all_found: Vec<usize> = Vec::new();
    for (l, t) in listeners.iter().zip(traces) {
        if l.tastes.len() != 3 {
            continue;
        }
        three += 1;
        kept += t.tastes;
        found += t.found;
        if let Some(r) = t.found_at.iter().copied().collect::<Option<Vec<_>>>() {
            all_found.extend(r.into_iter().max());
        }
        let shown: u32 = t.likes[SHARE_AFTER.min(cfg.rounds)..]
            .iter()
            .map(|x| x.1)
            .sum();
        let shares: Vec<f32> = (0..3)
            .map(|h| {
                let c: u32 = t.per_taste[SHARE_AFTER.min(cfg.rounds)..]
                    .iter()
                    .map(|p| p[h])
                    .sum();
                rate(c, shown)
            })
            .collect();
        let m = shares.iter().copied().fold(f32::INFINITY, f32::min);
        min_sum += m;
        all15 += usize::from(m >= 0.15);
    }
    let mut conv: Vec<usize> = traces
        .iter()
        .filter_map(|t| {
            (0..cfg.rounds.saturating_sub(2))
                .find(|&r| (r..r + 3).all(|x| rate(t.likes[x].0, t.likes[x].1) >= 0.5))
        })
        .map(|r| r + 1)
        .collect();
    conv.sort_unstable();
    let converged = conv.len() as f32 / n;
    let convergence_round = (!conv.is_empty()).then(|| conv[conv.len() / 2]);
    let (mut cl, mut cn) = (0u32, 0u32);
    for t in traces {
        for (r, st) in t.stages.iter().enumerate() {
            if *st == Stage::ColdStart {
                cl += t.likes[r].0;
                cn += t.likes[r].1;
            }
        }
    }
    StrategyReport {
        strategy: s,
        like_rate: like_rate.clone(),
        by_stage,
        stage_share,
        min_taste_share: if three == 0 {
            0.0
        } else {
            min_sum / three as f32
        },
        all_tastes_15: if three == 0 {
            0.0
        } else {
            all15 as f32 / three as f32
        },
        convergence_round,
        converged,
        cold_start_rate: rate(cl, cn),
        last_round_rate: like_rate.last().copied().unwrap_or(0.0),
        profile_tastes_3: kept as f32 / three.max(1) as f32,
        found_tastes_3: found as f32 / three.max(1) as f32,
        all_found_round_3: {
            all_found.sort_unstable();
            all_found.get(all_found.len() / 2).copied()
        },
        models: model_summary(traces),
    }
}

fn model_summary(traces: &[Trace]) -> ModelSummary {
    let all: Vec<&(f32, Option<f32>, f32, u32)> = traces.iter().flat_map(|t| &t.models).collect();
    let mean = |v: &[f32]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f32>() / v.len() as f32
        }
    };
    let competed: Vec<(f32, f32)> = all.iter().filter_map(|m| m.1.map(|b| (m.0, b))).collect();
    ModelSummary {
        tastes_with_a_model: all.len(),
        logistic_auc: mean(&all.iter().map(|m| m.0).collect::<Vec<_>>()),
        competed: competed.len(),
        competed_logistic_auc: mean(&competed.iter().map(|m| m.0).collect::<Vec<_>>()),
        competed_boosted_auc: mean(&competed.iter().map(|m| m.1).collect::<Vec<_>>()),
        boosted_won: competed.iter().filter(|m| m.1 > m.0).count(),
        chosen_auc: mean(&all.iter().map(|m| m.2).collect::<Vec<_>>()),
        mean_samples: mean(&all.iter().map(|m| m.3 as f32).collect::<Vec<_>>()),
    }
}

impl std::fmt::Display for SimReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} simulated listeners (a third each with 1, 2, 3 hidden tastes), {} rounds of {}, seed {}",
            self.listeners, self.rounds, self.k, self.seed
        )?;
        writeln!(
            f,
            "{:<8} {:>7} {:>7} {:>7} {:>7} {:>8} {:>9} {:>10} {:>9}",
            "strategy", "round 1", "10", "20", "last", "cold", "min share", "all ≥ 15%", "converge"
        )?;
        for s in &self.strategies {
            let at = |r: usize| s.like_rate.get(r - 1).copied().unwrap_or(f32::NAN);
            writeln!(
                f,
                "{:<8} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>8.3} {:>9.3} {:>10.2} {:>9}",
                s.strategy.name(),
                at(1),
                at(10.min(self.rounds)),
                at(20.min(self.rounds)),
                s.last_round_rate,
                s.cold_start_rate,
                s.min_taste_share,
                s.all_tastes_15,
                s.convergence_round.map_or_else(
                    || "never".to_string(),
                    |r| format!("{r} ({:.0}%)", 100.0 * s.converged)
                ),
            )?;
        }
        for s in self
            .strategies
            .iter()
            .filter(|s| s.strategy == Strategy::Staged)
        {
            writeln!(
                f,
                "staged, three-taste listeners: {:.2} tastes in the profile, {:.2} of 3 hidden tastes liked at least once, all three by round {} (median)",
                s.profile_tastes_3,
                s.found_tastes_3,
                s.all_found_round_3
                    .map_or_else(|| "never".to_string(), |r| r.to_string())
            )?;
            let m = &s.models;
            writeln!(
                f,
                "staged, taste models at the end: {} (mean {:.0} samples), held-out AUC {:.3} in use; logistic {:.3}; where boosting competed ({}): logistic {:.3}, boosted {:.3}, boosting won {}",
                m.tastes_with_a_model, m.mean_samples, m.chosen_auc, m.logistic_auc, m.competed, m.competed_logistic_auc, m.competed_boosted_auc, m.boosted_won
            )?;
            writeln!(f, "staged, like-rate by the stage that picked:")?;
            for (st, r, n) in &s.by_stage {
                writeln!(f, "  {:<12} {r:.3} of {n}", st.name())?;
            }
        }
        writeln!(
            f,
            "min share: three-taste listeners' least-served hidden taste, rounds {}+; converge: median round from which 3 rounds run ≥ 0.5 likes",
            self.share_after + 1
        )
    }
}

/// The like-rate curves as an SVG plot.
pub fn plot_svg(report: &SimReport, title: &str) -> Result<String, String> {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let top = report
            .strategies
            .iter()
            .flat_map(|s| s.like_rate.iter().copied())
            .fold(0.1f32, f32::max)
            .min(1.0);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(1f32..report.rounds as f32, 0f32..(top * 1.1).min(1.0))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("round")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("like-rate")
            .draw()
            .map_err(|e| e.to_string())?;
        let colours = [RED, BLUE, GREEN, BLACK];
        for (s, colour) in report.strategies.iter().zip(colours.iter().cycle()) {
            let c = *colour;
            chart
                .draw_series(LineSeries::new(
                    s.like_rate
                        .iter()
                        .enumerate()
                        .map(|(r, &v)| (r as f32 + 1.0, v)),
                    c.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(s.strategy.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
