//! The staged recommender: what each stage picks, and how a list is split
//! over a listener's tastes.
//!
//! Every taste scores an item by how near it is, in vectors and in genre:
//! `near = cos(item, centroid) + g·(the taste's cluster mix · the item's)`.
//!
//! - *Cold start*: popular items, round-robin over genre clusters (or the
//!   genres the listener named, items they lead first), one per artist,
//!   the clusters not yet tried first; nothing personal.
//! - *Fallback*: per taste `near − p·log-popularity` (less popular picks,
//!   to explore); 80% of the list from strong tastes, 20% from weak ones
//!   or from clusters no taste covers yet.
//! - *Ranking*: per taste `near + a·(audio match − ½) + h·z(history)`,
//!   minus the dislike penalty; the list split evenly over the genres
//!   that lead the active tastes (then over each genre's tastes), an
//!   exploration share for the weak and for the clusters no active taste
//!   covers (the least probed, a niche too small to hold a taste as if
//!   turned down once, then the least kin to the covered ones, with items
//!   unlike the failed probes). Each taste ranks only the items
//!   of its own main clusters.
//! - *Model-based*: a taste with a model re-ranks its ranking shortlist by
//!   the model's probability.
//!
//! Where the listener has play history, `z(history)` is today's fused
//! CF + content score of it, standardised: the base the tastes refine.

use std::collections::HashSet;

use serde::Serialize;

use super::features::{space_fingerprint, train, wants_model, Featurizer};
use super::profile::{Profile, Taste};
use super::space::{audio01, audio_match, audio_match_weighted, mean_audio, Space, AUDIO_WEIGHTS};
use super::stage::{even_split, Stage, StageTable, STAGES};
use crate::content::standardize;
use crate::model::Model;
use crate::topk::{top_k, Scored};
use crate::Error;

/// One recommendation of the staged recommender.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Pick {
    pub index: u32,
    pub score: f32,
    /// The taste it was picked for (`None`: cold start or exploration of a
    /// cluster no taste covers).
    pub taste: Option<u32>,
    pub stage: Stage,
    /// Picked to explore (a weak taste, an unexplored cluster).
    pub explore: bool,
}

impl Pick {
    /// What showed it, for the feedback on it.
    pub fn shown(&self) -> super::profile::Shown {
        use super::profile::Shown;
        match (self.taste, self.explore) {
            (Some(t), _) => Shown::ByTaste(t),
            (None, true) => Shown::Probe,
            (None, false) => Shown::Unknown,
        }
    }
}

/// What exploration knows: how much each cluster has been turned down,
/// and the clusters the listener's tastes cover.
struct Probe<'a> {
    /// Per cluster: [`Rated::doubt`]. The least doubted is probed first.
    doubt: &'a [f32],
    covered: &'a [u16],
    /// Per cluster: [`Rated::tried`].
    tried: &'a [Vec<[f32; 9]>],
    /// A cluster with fewer items left to show than this is probed as late
    /// as one turned down once (`StageTable::probe_min_lists`).
    min_items: usize,
}

/// What the listener has rated of each genre cluster.
struct Rated {
    /// Likes and dislikes count 1, a skip `skip_weight`: a cluster is
    /// probed once this reaches `probed_after`.
    shown: Vec<f32>,
    /// Dislikes count 1 and a skip `skip_weight`: one skip says "not this
    /// one", not "not this genre", so the cluster is probed again sooner.
    /// A like counts `-like_credit`: a cluster with a like that no taste
    /// covers (its taste failed and was retired: the first items probed
    /// there were the wrong corner of it) is the likeliest place for a
    /// taste still to find, so it is probed again first.
    doubt: Vec<f32>,
    /// The audio of the items rated. A cluster is not one sound; its next
    /// probe should not sound like a failed one.
    tried: Vec<Vec<[f32; 9]>>,
}

/// One list of candidates and the slots it fills.
struct Source {
    taste: Option<u32>,
    stage: Stage,
    explore: bool,
    slots: usize,
    ranked: Vec<Scored>,
}

/// What one taste looks like, derived from its members.
pub struct TasteView {
    pub at: usize,
    pub confidence: f32,
    pub centroid: Option<super::space::Centroid>,
    pub audio_mean: Option<[f32; 9]>,
    /// How much each audio feature counts for this taste: the listener's
    /// ear (`AUDIO_WEIGHTS`), plus as much again spread over the features
    /// that part its likes from its dislikes and skips. A listener who
    /// likes one energy of a genre and turns down the rest teaches its
    /// taste to listen for energy.
    pub audio_weights: [f32; 9],
    /// Share of each cluster among its likes, heaviest first.
    pub clusters: Vec<(u16, f32)>,
    /// The share of its likes each cluster is the main cluster of.
    pub main_clusters: Vec<(u16, f32)>,
}

impl TasteView {
    pub fn of(space: &Space<'_>, profile: &Profile, at: usize, t: &StageTable) -> Self {
        let model = space.model;
        let taste = &profile.tastes[at];
        let liked: Vec<u32> = taste
            .liked
            .iter()
            .filter_map(|id| model.item_index(id).ok())
            .collect();
        let audio: Vec<[f32; 9]> = liked
            .iter()
            .filter_map(|&i| audio01(model, i as usize))
            .collect();
        let audio_mean = mean_audio(&audio);
        let negatives: Vec<[f32; 9]> = taste
            .disliked
            .iter()
            .chain(&taste.skipped)
            .filter_map(|id| model.item_index(id).ok())
            .filter_map(|i| audio01(model, i as usize))
            .collect();
        let audio_weights = match (&audio_mean, mean_audio(&negatives)) {
            (Some(m), Some(n)) => {
                let gap: [f32; 9] = std::array::from_fn(|f| m[f] - n[f]);
                let total: f32 = gap.iter().map(|g| g.abs()).sum();
                let prior: f32 = AUDIO_WEIGHTS.iter().sum();
                let mut w = AUDIO_WEIGHTS;
                if total > 0.0 {
                    for f in 0..9 {
                        w[f] += prior * gap[f].abs() / total;
                    }
                }
                w
            }
            _ => AUDIO_WEIGHTS,
        };
        let ic = model.item_clusters();
        let mut share = vec![0f32; ic.len()];
        for &i in &liked {
            for &(c, s) in &ic.dist[i as usize] {
                share[c as usize] += s / liked.len() as f32;
            }
        }
        let mut clusters: Vec<(u16, f32)> = share
            .into_iter()
            .enumerate()
            .filter(|&(_, s)| s > 0.0)
            .map(|(c, s)| (c as u16, s))
            .collect();
        clusters.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut main_clusters: Vec<(u16, f32)> = Vec::new();
        for &i in &liked {
            if let Some(c) = ic.primary(i as usize) {
                let share = 1.0 / liked.len() as f32;
                match main_clusters.iter_mut().find(|x| x.0 == c) {
                    Some(x) => x.1 += share,
                    None => main_clusters.push((c, share)),
                }
            }
        }
        TasteView {
            at,
            confidence: taste.confidence(t),
            centroid: space.centroid(&taste.members(model, t)),
            audio_mean,
            audio_weights,
            clusters,
            main_clusters,
        }
    }
}

impl Model {
    /// The staged recommender's stage for `profile` now.
    pub fn stage_of(&self, profile: &Profile) -> Stage {
        let t = &STAGES;
        let best = profile
            .tastes
            .iter()
            .map(|x| x.confidence(t))
            .fold(0f32, f32::max);
        let fp = space_fingerprint(self);
        let any_model = profile
            .tastes
            .iter()
            .any(|x| x.model.as_ref().is_some_and(|m| m.space == fp));
        t.listener_stage(profile.likes(), profile.interactions, best, any_model)
    }

    /// Retrains the taste models that are due: a taste that now has enough
    /// feedback and no model, a model from another bundle, or one
    /// `retrain_every` interactions old. Returns how many were trained.
    pub fn refresh_taste_models(&self, profile: &mut Profile) -> usize {
        let t = &STAGES;
        let space = Space::new(self);
        let fp = space_fingerprint(self);
        let mut trained = 0;
        for taste in &mut profile.tastes {
            if !wants_model(taste, t) {
                taste.model = None;
                continue;
            }
            let due = match &taste.model {
                None => true,
                Some(m) => m.space != fp || taste.interactions() >= m.at + t.retrain_every,
            };
            if due {
                taste.model = train(&space, taste, t);
                trained += 1;
            }
        }
        trained
    }

    /// Staged recommendations for `profile` (its models retrained where
    /// due). `exclude` adds to what the profile already rules out.
    pub fn recommend_staged(
        &self,
        profile: &mut Profile,
        exclude: &[u32],
        k: usize,
    ) -> Result<(Stage, Vec<Pick>), Error> {
        crate::listener::check_k(k)?;
        for &i in exclude {
            self.check_item(i)?;
        }
        self.refresh_taste_models(profile);
        let stage = self.stage_of(profile);
        let blocked = self.blocked(profile, exclude);
        let picks = match stage {
            Stage::ColdStart if profile.interactions == 0 => {
                self.cold_picks(&[], &blocked, k, None, None)?
            }
            Stage::ColdStart => {
                // Nothing liked, something turned down: the clusters not
                // tried yet come first, so each cold round meets new genres
                // instead of the same most popular ones again.
                let rated = self.rated_by_cluster(profile);
                let probe = Probe {
                    doubt: &rated.doubt,
                    covered: &[],
                    tried: &rated.tried,
                    min_items: STAGES.probe_min_lists * k,
                };
                self.cold_picks(&[], &blocked, k, None, Some(&probe))?
            }
            _ => self.taste_picks(profile, stage, &blocked, k),
        };
        Ok((stage, picks))
    }

    /// Cold-start picks for a listener who named `genres` (maybe none).
    pub fn cold_start_staged(
        &self,
        profile: &Profile,
        genres: &[String],
        k: usize,
    ) -> Result<Vec<Pick>, Error> {
        crate::listener::check_k(k)?;
        let blocked = self.blocked(profile, &[]);
        self.cold_picks(genres, &blocked, k, None, None)
    }

    /// Items never to recommend: the history, dislikes, skips, `exclude`,
    /// and excluded genres.
    fn blocked(&self, profile: &Profile, exclude: &[u32]) -> Vec<bool> {
        let ic = self.item_clusters();
        let mut b: Vec<bool> = ic.pooled.iter().map(|p| !p).collect();
        for (i, _) in profile.history(self) {
            b[i as usize] = true;
        }
        for i in profile
            .excluded(self)
            .into_iter()
            .chain(exclude.iter().copied())
        {
            b[i as usize] = true;
        }
        for t in &profile.tastes {
            for id in t.liked.iter().chain(&t.disliked).chain(&t.skipped) {
                if let Ok(i) = self.item_index(id) {
                    b[i as usize] = true;
                }
            }
        }
        b
    }

    /// Log-listeners in [0, 1].
    fn pop01(&self) -> Vec<f32> {
        let pop = self.popularity();
        let max = pop.listeners.iter().copied().max().unwrap_or(0);
        (0..self.n_items())
            .map(|i| pop.penalty_with_max(i, max))
            .collect()
    }

    /// Popular items round-robin over groups (the named genres, else each
    /// item's main cluster), one per artist. `only` restricts the items
    /// (exploration: clusters no taste covers); `probe` orders the clusters
    /// for exploration: the least doubted first (`Probe::doubt`), and of
    /// those the least like the clusters the tastes cover, so a listener's
    /// other, contradictory taste is found before its near neighbours.
    fn cold_picks(
        &self,
        genres: &[String],
        blocked: &[bool],
        k: usize,
        only: Option<&dyn Fn(usize) -> bool>,
        probe: Option<&Probe<'_>>,
    ) -> Result<Vec<Pick>, Error> {
        let pop = self.pop01();
        let ic = self.item_clusters();
        let genres: Vec<&String> = genres.iter().filter(|g| !g.trim().is_empty()).collect();
        let ok = |i: usize| !blocked[i] && only.is_none_or(|f| f(i));
        let mut groups: Vec<Vec<Scored>> = if genres.is_empty() {
            let mut g: Vec<Vec<Scored>> = vec![Vec::new(); ic.len() + 1];
            for i in (0..self.n_items()).filter(|&i| ok(i)) {
                let c = ic.primary(i).map_or(ic.len(), usize::from);
                g[c].push(Scored {
                    index: i as u32,
                    score: pop[i],
                });
            }
            g
        } else {
            let c = self.content().ok_or_else(|| {
                Error::InvalidInput("this bundle has no labels to pick genres from".into())
            })?;
            // An item the genre leads (its heaviest labels) before a hit
            // that merely carries it among many.
            let lead = |i: usize, g: &str| -> f32 {
                let g = g.trim().to_lowercase();
                let at = c.labels[i].iter().position(|l| {
                    let l = l.to_lowercase();
                    l == g || l.contains(&g)
                });
                match at {
                    Some(0) => 1.0,
                    Some(1) => 0.5,
                    Some(_) => 0.0,
                    None => f32::NEG_INFINITY,
                }
            };
            let g: Vec<Vec<Scored>> = genres
                .iter()
                .map(|g| {
                    (0..self.n_items())
                        .filter(|&i| ok(i))
                        .filter_map(|i| {
                            let l = lead(i, g);
                            (l > f32::NEG_INFINITY).then(|| Scored {
                                index: i as u32,
                                score: pop[i] + l,
                            })
                        })
                        .collect()
                })
                .collect();
            if g.iter().all(Vec::is_empty) {
                return Err(Error::InvalidInput(format!(
                    "no item carries any of the genres {genres:?}"
                )));
            }
            g
        };
        // Each group's items left to show, before the cut to the top few.
        let mut left: Vec<usize> = Vec::with_capacity(groups.len());
        for g in &mut groups {
            let n = g.len();
            left.push(n);
            *g = top_k(std::mem::take(g), n.min(4 * k));
            let tried = probe
                .zip(g.first().and_then(|s| ic.primary(s.index as usize)))
                .map(|(p, c)| &p.tried[c as usize]);
            if let Some(tried) = tried.filter(|t| !t.is_empty()) {
                // Popular, and unlike every item of the cluster tried.
                for s in g.iter_mut() {
                    let a = audio01(self, s.index as usize);
                    s.score += tried
                        .iter()
                        .map(|r| 1.0 - audio_match(a.as_ref(), Some(r)))
                        .fold(f32::INFINITY, f32::min);
                }
                let n = g.len();
                *g = top_k(std::mem::take(g), n);
            } else if probe.is_some() {
                // A genre's first probe: popular and typical of how its
                // well-known items sound, the likeliest to be liked by
                // someone whose genre it is, whatever corner of it.
                let audio: Vec<[f32; 9]> = g
                    .iter()
                    .filter_map(|s| audio01(self, s.index as usize))
                    .collect();
                if let Some(mean) = mean_audio(&audio) {
                    for s in g.iter_mut() {
                        let a = audio01(self, s.index as usize);
                        s.score += audio_match(a.as_ref(), Some(&mean));
                    }
                    let n = g.len();
                    *g = top_k(std::mem::take(g), n);
                }
            }
        }
        let mut groups: Vec<(Vec<Scored>, usize)> = groups
            .into_iter()
            .zip(left)
            .filter(|(g, _)| !g.is_empty())
            .collect();
        let explored = |g: &[Scored], left: usize| -> (f32, f32) {
            probe.map_or((0.0, 0.0), |p| {
                ic.primary(g[0].index as usize)
                    .map_or((f32::INFINITY, 1.0), |c| {
                        let like = p
                            .covered
                            .iter()
                            .map(|&x| ic.affinity(c, x))
                            .fold(0f32, f32::max);
                        // Too small to hold a taste's share for long: after
                        // the second probes of genres turned down once.
                        let small = if left < p.min_items { 1.0 } else { 0.0 };
                        (p.doubt[c as usize] + small, like)
                    })
            })
        };
        groups.sort_by(|(a, na), (b, nb)| {
            let (x, y) = (explored(a, *na), explored(b, *nb));
            x.0.total_cmp(&y.0)
                .then(x.1.total_cmp(&y.1))
                .then(b[0].score.total_cmp(&a[0].score))
                .then(a[0].index.cmp(&b[0].index))
        });
        let groups: Vec<Vec<Scored>> = groups.into_iter().map(|(g, _)| g).collect();
        let credits = self.credits();
        let mut artists: HashSet<&str> = HashSet::new();
        let mut out: Vec<Pick> = Vec::with_capacity(k);
        let mut at = vec![0usize; groups.len()];
        while out.len() < k {
            let mut progressed = false;
            for (g, list) in groups.iter().enumerate() {
                if out.len() >= k {
                    break;
                }
                while let Some(s) = list.get(at[g]) {
                    at[g] += 1;
                    let artist = credits.and_then(|c| c.artist(s.index as usize));
                    if out.iter().any(|p| p.index == s.index)
                        || artist.is_some_and(|a| artists.contains(a))
                    {
                        continue;
                    }
                    if let Some(a) = artist {
                        artists.insert(a);
                    }
                    out.push(Pick {
                        index: s.index,
                        score: s.score,
                        taste: None,
                        stage: Stage::ColdStart,
                        explore: false,
                    });
                    progressed = true;
                    break;
                }
            }
            if !progressed {
                break;
            }
        }
        Ok(out)
    }

    /// How much of each genre cluster the listener has rated, how much
    /// they turned it down, and the audio of what they rated: what
    /// exploration has tried. Every rated item once (the profile's lists
    /// hold each dislike and skip, a taste's a copy).
    fn rated_by_cluster(&self, profile: &Profile) -> Rated {
        let ic = self.item_clusters();
        let t = &STAGES;
        let mut rated = Rated {
            shown: vec![0f32; ic.len()],
            doubt: vec![0f32; ic.len()],
            tried: vec![Vec::new(); ic.len()],
        };
        let liked = profile.tastes.iter().flat_map(|x| &x.liked);
        let rated_ids = liked
            .map(|id| (id, 1.0, -t.like_credit))
            .chain(profile.disliked.iter().map(|id| (id, 1.0, 1.0)))
            .chain(
                profile
                    .skipped
                    .iter()
                    .map(|id| (id, t.skip_weight, t.skip_weight)),
            );
        for (id, weight, doubt) in rated_ids {
            let Ok(i) = self.item_index(id) else { continue };
            if let Some(c) = ic.primary(i as usize) {
                rated.shown[c as usize] += weight;
                rated.doubt[c as usize] += doubt;
                rated.tried[c as usize].extend(audio01(self, i as usize));
            }
        }
        rated
    }

    /// The standardised fused score of the listener's play history over
    /// every item, where there is a history.
    fn history_scores(&self, profile: &Profile, blocked: &[bool]) -> Option<Vec<f32>> {
        let history = profile.history(self);
        if history.is_empty() {
            return None;
        }
        let keep: Vec<bool> = blocked.iter().map(|b| !b).collect();
        let mut s = if self.content().is_some() {
            let x = self.listener_factor(&history).ok()?;
            let parts = self.fusion_parts(&x, &history, &[]);
            let w = self.fusion_weights(history.len());
            (0..self.n_items())
                .map(|i| parts.score(&w, self.popularity_term(), i))
                .collect::<Vec<f32>>()
        } else {
            let x = self.fold_in(&history).ok()?;
            self.scores(&x)
        };
        standardize(&mut s, &keep);
        Some(s)
    }

    /// Fallback, ranking and model-based picks: one list per taste (and
    /// the exploration lists), slots allotted by the stage's rule.
    fn taste_picks(
        &self,
        profile: &Profile,
        stage: Stage,
        blocked: &[bool],
        k: usize,
    ) -> Vec<Pick> {
        let t = &STAGES;
        let space = Space::new(self);
        let pop = self.pop01();
        let history = if stage == Stage::Fallback {
            None
        } else {
            self.history_scores(profile, blocked)
        };
        let disliked: Vec<u32> = profile
            .disliked
            .iter()
            .filter_map(|id| self.item_index(id).ok())
            .collect();
        let mut views: Vec<TasteView> = (0..profile.tastes.len())
            .filter(|&at| !profile.tastes[at].liked.is_empty())
            .map(|at| TasteView::of(&space, profile, at, t))
            .collect();
        views.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then(profile.tastes[a.at].id.cmp(&profile.tastes[b.at].id))
        });
        // Slots: strongest first.
        let (main, weak): (Vec<&TasteView>, Vec<&TasteView>) = if stage == Stage::Fallback {
            let strong: Vec<&TasteView> = views
                .iter()
                .filter(|v| v.confidence >= t.strong_confidence)
                .collect();
            if strong.is_empty() {
                (
                    views.iter().take(1).collect(),
                    views.iter().skip(1).collect(),
                )
            } else {
                (
                    strong,
                    views
                        .iter()
                        .filter(|v| v.confidence < t.strong_confidence)
                        .collect(),
                )
            }
        } else {
            // Active tastes share the list; a taste with too little
            // behind it (a one-off like) only gets exploration slots.
            let (active, inactive): (Vec<&TasteView>, Vec<&TasteView>) = views
                .iter()
                .partition(|v| v.confidence >= t.active_confidence);
            match (active.len(), inactive.is_empty()) {
                (0, _) => (
                    views.iter().take(1).collect(),
                    views.iter().skip(1).collect(),
                ),
                (1, true) => (active, Vec::new()),
                (_, true) => (active.clone(), active.last().copied().into_iter().collect()),
                _ => (active, inactive),
            }
        };
        // Covered: the clusters that lead the tastes the list is split
        // over. A weak taste's cluster (often one stray like) is still
        // probed: its picks fail when the like was a fluke.
        let covered: HashSet<u16> = main
            .iter()
            .filter_map(|v| v.clusters.first().map(|c| c.0))
            .collect();
        let ic = self.item_clusters();
        let uncovered = |i: usize| ic.primary(i).is_some_and(|c| !covered.contains(&c));
        let rated = self.rated_by_cluster(profile);
        // A cluster no taste covers and not yet probed, with items left to
        // show: while one remains, ranking and model-based probe more
        // (`StageTable::explore_unprobed`, `probed_after`).
        let unprobed = (0..self.n_items()).any(|i| {
            !blocked[i]
                && uncovered(i)
                && ic
                    .primary(i)
                    .is_some_and(|c| rated.shown[c as usize] < t.probed_after)
        });
        let explore_share = match stage {
            Stage::Fallback => t.fallback_explore,
            _ if unprobed => t.explore_unprobed,
            _ => t.explore,
        };
        let n_explore = ((k as f32 * explore_share).round() as usize).clamp(1, k);
        let n_main = k - n_explore.min(k.saturating_sub(1));
        let n_explore = k - n_main;
        // One taste's ranked list for `slots` of the list.
        let source = |v: &TasteView, slots: usize, explore: bool| -> Source {
            let taste = &profile.tastes[v.at];
            let (stage, ranked) = self.rank_taste(
                &space,
                taste,
                v,
                stage,
                blocked,
                &pop,
                history.as_deref(),
                &disliked,
                slots * 4 + 20,
            );
            Source {
                taste: Some(taste.id),
                stage,
                explore,
                slots,
                ranked,
            }
        };
        let mut sources: Vec<Source> = main
            .iter()
            .zip(split_by_genre(&main, n_main))
            .map(|(v, slots)| source(v, slots, false))
            .collect();
        // Exploration: half to weak tastes (if any; the least tried first,
        // so each gets its turn), the rest to clusters no taste covers.
        let mut weak = weak;
        // A weak taste that keeps failing (a stray like) stops taking
        // exploration slots; clusters no taste covers take them.
        weak.retain(|v| {
            profile.tastes[v.at].interactions() < t.weak_tries || v.confidence >= t.weak_confidence
        });
        // Where every taste is active, the weakest one's extra slot goes to
        // probing while clusters are left unprobed: it is served already.
        if unprobed && weak.iter().all(|w| main.iter().any(|m| m.at == w.at)) {
            weak.clear();
        }
        weak.sort_by_key(|v| (profile.tastes[v.at].interactions(), profile.tastes[v.at].id));
        let to_weak = if weak.is_empty() {
            0
        } else {
            (n_explore / 2).max(1)
        };
        for (v, slots) in weak.iter().zip(even_split(to_weak, weak.len())) {
            if slots == 0 {
                break;
            }
            sources.push(source(v, slots, true));
        }
        let explore_n = n_explore - to_weak;
        if explore_n > 0 {
            let covered: Vec<u16> = covered.iter().copied().collect();
            let probe = Probe {
                doubt: &rated.doubt,
                covered: &covered,
                tried: &rated.tried,
                min_items: t.probe_min_lists * k,
            };
            let picks = self
                .cold_picks(&[], blocked, explore_n * 3, Some(&uncovered), Some(&probe))
                .unwrap_or_default();
            sources.push(Source {
                taste: None,
                stage,
                explore: true,
                slots: explore_n,
                ranked: picks
                    .into_iter()
                    .map(|p| Scored {
                        index: p.index,
                        score: p.score,
                    })
                    .collect(),
            });
        }
        allocate(sources, k)
    }

    /// One taste's ranked candidates and the stage that ranked them.
    #[allow(clippy::too_many_arguments)]
    fn rank_taste(
        &self,
        space: &Space<'_>,
        taste: &Taste,
        view: &TasteView,
        stage: Stage,
        blocked: &[bool],
        pop: &[f32],
        history: Option<&[f32]>,
        disliked: &[u32],
        want: usize,
    ) -> (Stage, Vec<Scored>) {
        let t = &STAGES;
        let Some(c) = &view.centroid else {
            return (stage, Vec::new());
        };
        let cos = space.cosines(c);
        let fp = space_fingerprint(self);
        let model = taste
            .model
            .as_ref()
            .filter(|m| stage == Stage::ModelBased && m.space == fp);
        let taste_stage = match (stage, model) {
            (Stage::Fallback, _) => Stage::Fallback,
            (_, Some(_)) => Stage::ModelBased,
            _ => Stage::Ranking,
        };
        let ic = self.item_clusters();
        // How much of the taste's cluster mix the item shares.
        let genre = |i: usize| -> f32 {
            view.clusters
                .iter()
                .map(|&(c, share)| share * ic.share(i, c))
                .sum()
        };
        let base = |i: usize| -> f32 {
            let near = cos[i] + t.cluster_weight * genre(i);
            if taste_stage == Stage::Fallback {
                near - t.fallback_popularity * pop[i]
            } else {
                let a = audio01(self, i);
                near + t.audio_weight
                    * (audio_match_weighted(
                        a.as_ref(),
                        view.audio_mean.as_ref(),
                        &view.audio_weights,
                    ) - 0.5)
                    + history.map_or(0.0, |h| t.history_weight * h[i])
            }
        };
        let short = if model.is_some() {
            t.model_candidates.max(want)
        } else {
            want
        };
        // A taste stays in its genres: it ranks the items whose main
        // cluster holds a real share of its likes (all items, when too few
        // are left or the bundle has no clusters). In an artist space where
        // CF puts popular artists of every genre close, the centroid alone
        // drifts to the listener's loudest taste.
        let genres: Vec<u16> = view
            .main_clusters
            .iter()
            .filter(|c| c.1 >= t.taste_genre_share)
            .map(|c| c.0)
            .collect();
        let open = |i: usize| !blocked[i];
        let in_genre = |i: usize| ic.primary(i).is_some_and(|c| genres.contains(&c));
        let gated = !genres.is_empty()
            && (0..self.n_items())
                .filter(|&i| open(i) && in_genre(i))
                .take(want)
                .count()
                >= want;
        let cands: Vec<Scored> = (0..self.n_items())
            .filter(|&i| open(i) && (!gated || in_genre(i)))
            .map(|i| Scored {
                index: i as u32,
                score: base(i),
            })
            .collect();
        let shortlist = top_k(cands, short);
        // Dislike penalty: the taste's own negatives and every dislike.
        let mut negatives: Vec<(u32, f32)> = disliked.iter().map(|&d| (d, 1.0)).collect();
        for id in &taste.skipped {
            if let Ok(i) = self.item_index(id) {
                negatives.push((i, t.skip_weight));
            }
        }
        let penalty = |i: u32| -> f32 {
            negatives
                .iter()
                .map(|&(d, w)| {
                    let c = space.pair(i, d);
                    w * ((c - t.near_dislike) / (1.0 - t.near_dislike)).max(0.0)
                })
                .fold(0f32, f32::max)
                * t.dislike_penalty
        };
        let featurizer = model.map(|_| Featurizer::new(space, taste, t));
        let rescored: Vec<Scored> = shortlist
            .into_iter()
            .map(|s| {
                let score = match (model, &featurizer) {
                    (Some(m), Some(f)) => m.model.predict(&f.row(s.index, Some(c))) + 0.1 * s.score,
                    _ => s.score,
                };
                Scored {
                    index: s.index,
                    score: score - penalty(s.index),
                }
            })
            .collect();
        (taste_stage, top_k(rescored, want))
    }
}

/// Splits `k` slots evenly over the genre clusters that lead `tastes`,
/// then evenly over the tastes each cluster leads: two tastes of one genre
/// (a listener's rock liked two ways) share one genre's slots, so neither
/// crowds out a genre with one taste. In `tastes`' order, per taste.
fn split_by_genre(tastes: &[&TasteView], k: usize) -> Vec<usize> {
    let lead = |v: &TasteView| v.clusters.first().map(|c| c.0);
    let mut genres: Vec<Option<u16>> = Vec::new();
    for v in tastes {
        if !genres.contains(&lead(v)) {
            genres.push(lead(v));
        }
    }
    let mut out = vec![0; tastes.len()];
    for (g, slots) in genres.iter().zip(even_split(k, genres.len())) {
        let members: Vec<usize> = (0..tastes.len())
            .filter(|&x| lead(tastes[x]) == *g)
            .collect();
        for (&x, s) in members.iter().zip(even_split(slots, members.len())) {
            out[x] = s;
        }
    }
    out
}

/// Fills each source's slots round-robin (so the head of the list mixes
/// the tastes), never the same item twice; slots a source cannot fill go
/// to the others in order.
fn allocate(sources: Vec<Source>, k: usize) -> Vec<Pick> {
    let mut out: Vec<Pick> = Vec::with_capacity(k);
    let mut taken: HashSet<u32> = HashSet::new();
    let mut at = vec![0usize; sources.len()];
    let mut filled = vec![0usize; sources.len()];
    let next = |s: &Source, at: &mut usize, taken: &mut HashSet<u32>| -> Option<Pick> {
        while let Some(c) = s.ranked.get(*at) {
            *at += 1;
            if taken.insert(c.index) {
                return Some(Pick {
                    index: c.index,
                    score: c.score,
                    taste: s.taste,
                    stage: s.stage,
                    explore: s.explore,
                });
            }
        }
        None
    };
    // Round-robin within the slots.
    loop {
        let mut progressed = false;
        for (g, s) in sources.iter().enumerate() {
            if filled[g] < s.slots && out.len() < k {
                if let Some(p) = next(s, &mut at[g], &mut taken) {
                    out.push(p);
                    filled[g] += 1;
                    progressed = true;
                } else {
                    filled[g] = s.slots;
                }
            }
        }
        if !progressed {
            break;
        }
    }
    // What is left, from any source in order.
    for (g, s) in sources.iter().enumerate() {
        while out.len() < k {
            match next(s, &mut at[g], &mut taken) {
                Some(p) => out.push(p),
                None => break,
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(at: usize, lead: u16) -> TasteView {
        TasteView {
            at,
            confidence: 0.5,
            centroid: None,
            audio_mean: None,
            audio_weights: AUDIO_WEIGHTS,
            clusters: vec![(lead, 1.0)],
            main_clusters: vec![(lead, 1.0)],
        }
    }

    #[test]
    fn two_tastes_of_one_genre_share_that_genres_slots() {
        let (a, b, c) = (view(0, 3), view(1, 3), view(2, 7));
        // Genre 3 has two tastes, genre 7 one: 4 + 4 slots, not 3 + 3 + 2.
        assert_eq!(split_by_genre(&[&a, &b, &c], 8), vec![2, 2, 4]);
        assert_eq!(split_by_genre(&[&a, &c], 8), vec![4, 4]);
        assert_eq!(split_by_genre(&[&c], 5), vec![5]);
    }
}
