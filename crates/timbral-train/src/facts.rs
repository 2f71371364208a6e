//! Building the bundle's `item_facts` (timbral_core::facts): years, audio
//! features and moods for every item.
//!
//! - **Measured** audio comes from the catalogue.
//! - **Predicted**: an item without it takes the similarity-weighted mean
//!   of the [`K`] measured items whose MiniLM text vectors (name, tags,
//!   genres) are nearest; its confidence is their mean cosine.
//! - **Prior**: an item with genres but no tags takes its genres' mean
//!   features over the measured items ([`GenrePrior`]); a genre no measured
//!   item has ("lofi") takes those of the measured genres nearest to it in
//!   MiniLM space ("chill", "ambient"), so the prior reaches it through its
//!   embedding. An item with neither tags nor genres gets the text
//!   neighbours' prediction. Priors are trusted at most half as much.
//!
//! Moods ([`MOODS`]) come from audio by the rules of [`audio_moods`] and
//! from tags by [`tag_moods`], the larger of the two. [`cross_validate`]
//! measures the prediction on held-out measured items.

use rayon::prelude::*;
use timbral_core::facts::{AudioSource, ItemFacts, ENERGY, MOODS, VALENCE};
use timbral_core::search::label_key;
use timbral_core::Content;

use crate::content::ItemMeta;

/// Neighbours a prediction averages.
pub const K: usize = 15;
/// Measured items a prediction searches (a deterministic stride sample of
/// them beyond this), which bounds the cost at catalogue × this.
pub const MAX_REFERENCES: usize = 6000;

fn ramp(x: f32, at: f32, width: f32) -> f32 {
    1.0 / (1.0 + (-(x - at) / width).exp())
}

/// Moods from audio features (`a` in `AUDIO_FEATURES` order):
/// - upbeat: valence and energy both high;
/// - chill: low energy, not sad;
/// - dark: low valence with energy;
/// - melancholic: low valence, low energy;
/// - aggressive: very high energy and loudness, not happy;
/// - romantic: gentle (energy below ~0.6), warm (valence above ~0.4) and
///   acoustic.
pub fn audio_moods(a: &[f32; 9]) -> [f32; 6] {
    let (energy, valence) = (a[ENERGY], a[VALENCE]);
    let (acoustic, loud) = (a[0], a[5]);
    [
        ramp(valence, 0.6, 0.06) * ramp(energy, 0.6, 0.06),
        ramp(-energy, -0.45, 0.06) * ramp(valence, 0.3, 0.06),
        ramp(-valence, -0.3, 0.06) * ramp(energy, 0.55, 0.06),
        ramp(-valence, -0.35, 0.06) * ramp(-energy, -0.5, 0.06),
        ramp(energy, 0.85, 0.04) * ramp(loud, -6.0, 1.5) * ramp(-valence, -0.5, 0.08),
        ramp(-energy, -0.6, 0.06) * ramp(valence, 0.4, 0.06) * ramp(acoustic, 0.35, 0.08),
    ]
}

/// The tags that name each mood (compared by `label_key`).
pub const MOOD_TAGS: [&[&str]; 6] = [
    &[
        "happy",
        "upbeat",
        "party",
        "feel good",
        "fun",
        "energetic",
        "summer",
    ],
    &[
        "chill",
        "chillout",
        "mellow",
        "relaxing",
        "relax",
        "calm",
        "lounge",
        "downtempo",
        "lofi",
        "ambient",
        "easy listening",
    ],
    &[
        "dark",
        "gothic",
        "darkwave",
        "doom",
        "industrial",
        "dark ambient",
    ],
    &[
        "sad",
        "melancholy",
        "melancholic",
        "depressing",
        "heartbreak",
        "emo",
        "melancholia",
    ],
    &[
        "aggressive",
        "angry",
        "brutal",
        "hardcore",
        "thrash metal",
        "death metal",
        "grindcore",
        "metalcore",
    ],
    &[
        "romantic",
        "love",
        "love songs",
        "sensual",
        "ballad",
        "sexy",
    ],
];

/// Moods from an item's labels (tags and genres with their votes): a mood
/// tag among them gives ½, rising to 1 as it nears the heaviest label.
pub fn tag_moods(labels: &[(String, u32)]) -> [f32; 6] {
    let mut out = [0f32; 6];
    let top = labels.iter().map(|l| l.1).max().unwrap_or(0).max(1) as f32;
    for (label, votes) in labels {
        let key = label_key(label);
        for (m, tags) in MOOD_TAGS.iter().enumerate() {
            if tags.iter().any(|t| label_key(t) == key) {
                out[m] = out[m].max(0.5 + 0.5 * *votes as f32 / top);
            }
        }
    }
    out
}

fn nine(v: &[f32]) -> Option<[f32; 9]> {
    v.try_into().ok()
}

/// The items with measured audio a prediction may use: a deterministic
/// stride sample of at most [`MAX_REFERENCES`].
fn references(measured: &[usize]) -> Vec<usize> {
    if measured.len() <= MAX_REFERENCES {
        return measured.to_vec();
    }
    let step = measured.len() as f64 / MAX_REFERENCES as f64;
    (0..MAX_REFERENCES)
        .map(|j| measured[(j as f64 * step) as usize])
        .collect()
}

/// Predicted audio for item `i` from `refs` (never itself), and the mean
/// cosine of the neighbours it used; `None` without a text vector.
fn predict(
    content: &Content,
    text_norms: &[f32],
    audio: &[Option<[f32; 9]>],
    refs: &[usize],
    i: usize,
) -> Option<([f32; 9], f32)> {
    let ni = text_norms[i];
    if ni <= 0.0 {
        return None;
    }
    let (ri, si) = content.text.row(i);
    let mut best: Vec<(f32, usize)> = refs
        .iter()
        .filter(|&&r| r != i && text_norms[r] > 0.0)
        .map(|&r| {
            let (rr, sr) = content.text.row(r);
            let dot = si * sr * timbral_core::linalg::dot_i8_i8(ri, rr) as f32;
            (dot / (ni * text_norms[r]), r)
        })
        .collect();
    if best.is_empty() {
        return None;
    }
    let k = K.min(best.len());
    best.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    best.truncate(k);
    let (sum, conf) = blend(&best, |r| audio[r].expect("references are measured"));
    Some((sum, conf.clamp(0.0, 1.0)))
}

/// The weighted mean of neighbours' features, nearer ones counting more
/// (weights exp(cos / 0.05)), and the neighbours' mean cosine.
/// `near` is (cosine, index), non-empty.
fn blend(near: &[(f32, usize)], audio: impl Fn(usize) -> [f32; 9]) -> ([f32; 9], f32) {
    let top = near.iter().map(|b| b.0).fold(f32::MIN, f32::max);
    let mut sum = [0f32; 9];
    let mut wsum = 0f32;
    for &(c, r) in near {
        let w = ((c - top) / 0.05).exp();
        for (s, a) in sum.iter_mut().zip(audio(r)) {
            *s += w * a;
        }
        wsum += w;
    }
    sum.iter_mut().for_each(|s| *s /= wsum);
    (
        sum,
        near.iter().map(|n| n.0).sum::<f32>() / near.len() as f32,
    )
}

/// An item's predicted audio features, moods where the predictor gives
/// them (else they follow from the audio), and how far to trust it (0–1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    pub audio: [f32; 9],
    pub moods: Option<[f32; 6]>,
    pub confidence: f32,
}

/// A text's unit embedding (the trainer's MiniLM encoder), `None` where
/// it cannot embed the text.
pub type Embed<'a> = dyn Fn(&str) -> Option<Vec<f32>> + Sync + 'a;

/// Each genre of the measured items (by `label_key`, with at least
/// [`GenrePrior::MIN_ITEMS`] of them) with its mean audio features and the
/// unit embedding of its name.
pub struct GenrePrior {
    keys: std::collections::HashMap<String, usize>,
    vectors: Vec<Vec<f32>>,
    audio: Vec<[f32; 9]>,
}

impl GenrePrior {
    pub const MIN_ITEMS: usize = 3;
    /// Measured genres a prior blends for an unseen genre.
    pub const NEAREST: usize = 3;

    /// The table of `meta`'s measured items, each genre's name embedded by
    /// `embed` (a genre it cannot embed is left out).
    pub fn new(meta: &[ItemMeta], embed: &Embed<'_>) -> GenrePrior {
        let mut sums: std::collections::BTreeMap<String, (String, [f64; 9], usize)> =
            Default::default();
        for m in meta {
            let Some(a) = m.audio.as_deref().and_then(nine) else {
                continue;
            };
            for g in &m.genres {
                let e = sums
                    .entry(label_key(g))
                    .or_insert_with(|| (g.clone(), [0.0; 9], 0));
                for (s, v) in e.1.iter_mut().zip(a) {
                    *s += v as f64;
                }
                e.2 += 1;
            }
        }
        let kept: Vec<(String, String, [f32; 9])> = sums
            .into_iter()
            .filter(|(k, v)| !k.is_empty() && v.2 >= Self::MIN_ITEMS)
            .map(|(k, (name, s, n))| (k, name, s.map(|x| (x / n as f64) as f32)))
            .collect();
        let vectors: Vec<Option<Vec<f32>>> =
            kept.par_iter().map(|(_, name, _)| embed(name)).collect();
        let mut prior = GenrePrior {
            keys: Default::default(),
            vectors: Vec::new(),
            audio: Vec::new(),
        };
        for ((key, _, audio), v) in kept.into_iter().zip(vectors) {
            if let Some(v) = v {
                prior.keys.insert(key, prior.vectors.len());
                prior.vectors.push(v);
                prior.audio.push(audio);
            }
        }
        prior
    }

    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// The prior of one genre and how near the measured genres it came
    /// from are (1 for a measured genre itself).
    pub fn genre(&self, genre: &str, embed: &Embed<'_>) -> Option<([f32; 9], f32)> {
        if let Some(&g) = self.keys.get(&label_key(genre)) {
            return Some((self.audio[g], 1.0));
        }
        let q = embed(genre)?;
        let mut near: Vec<(f32, usize)> = self
            .vectors
            .iter()
            .enumerate()
            .map(|(g, v)| (timbral_core::linalg::dot(&q, v), g))
            .collect();
        if near.is_empty() {
            return None;
        }
        near.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        near.truncate(Self::NEAREST);
        Some(blend(&near, |g| self.audio[g]))
    }

    /// The mean prior of an item's genres.
    pub fn item(&self, genres: &[String], embed: &Embed<'_>) -> Option<([f32; 9], f32)> {
        let each: Vec<([f32; 9], f32)> =
            genres.iter().filter_map(|g| self.genre(g, embed)).collect();
        if each.is_empty() {
            return None;
        }
        let n = each.len() as f32;
        let mut mean = [0f32; 9];
        for (a, _) in &each {
            for f in 0..9 {
                mean[f] += a[f] / n;
            }
        }
        Some((mean, each.iter().map(|e| e.1).sum::<f32>() / n))
    }
}

/// Predictions from text neighbours (the default without a mood model):
/// every item without measured audio that has a text vector in `content`.
pub fn neighbour_predictions(
    meta: &[ItemMeta],
    content: Option<&Content>,
) -> Vec<Option<Prediction>> {
    let n = meta.len();
    let audio: Vec<Option<[f32; 9]>> = meta
        .iter()
        .map(|m| m.audio.as_deref().and_then(nine))
        .collect();
    let measured: Vec<usize> = (0..n).filter(|&i| audio[i].is_some()).collect();
    match content {
        Some(c) if !measured.is_empty() && c.len() == n => {
            let norms = c.norms();
            let refs = references(&measured);
            (0..n)
                .into_par_iter()
                .map(|i| {
                    if audio[i].is_some() {
                        return None;
                    }
                    predict(c, &norms.text, &audio, &refs, i).map(|(audio, confidence)| {
                        Prediction {
                            audio,
                            moods: None,
                            confidence,
                        }
                    })
                })
                .collect()
        }
        _ => vec![None; n],
    }
}

/// The facts of every item: `meta`'s years and measured audio, `predicted`
/// audio (from [`neighbour_predictions`] or a mood model) for the rest, a
/// genre prior for items with genres alone, and moods.
pub fn build(
    meta: &[ItemMeta],
    predicted: &[Option<Prediction>],
    embed: Option<&Embed<'_>>,
) -> ItemFacts {
    let n = meta.len();
    assert_eq!(predicted.len(), n, "one prediction slot an item");
    let mut facts = ItemFacts::unknown(n);
    let audio: Vec<Option<[f32; 9]>> = meta
        .iter()
        .map(|m| m.audio.as_deref().and_then(nine))
        .collect();
    let prior = embed.map(|e| GenrePrior::new(meta, e));
    let genre_prior = |m: &ItemMeta| -> Option<([f32; 9], f32)> {
        let (p, e) = (prior.as_ref()?, embed?);
        if !m.tags.is_empty() || m.genres.is_empty() {
            return None;
        }
        p.item(&m.genres, e)
    };
    for (i, m) in meta.iter().enumerate() {
        facts.years[i] = m.year.unwrap_or(0);
        let labels = m.labels();
        let from_audio = if let Some(a) = &audio[i] {
            facts.set_audio(i, AudioSource::Measured, 1.0, a);
            Some(audio_moods(a))
        } else if let Some((a, conf)) = genre_prior(m) {
            facts.set_audio(i, AudioSource::Prior, conf * 0.5, &a);
            Some(audio_moods(&a))
        } else if let Some(p) = &predicted[i] {
            let (source, conf) = if m.tags.is_empty() {
                (AudioSource::Prior, p.confidence * 0.5)
            } else {
                (AudioSource::Predicted, p.confidence)
            };
            facts.set_audio(i, source, conf, &p.audio);
            Some(p.moods.unwrap_or_else(|| audio_moods(&p.audio)))
        } else {
            None
        };
        let mut moods = tag_moods(&labels);
        if let Some(am) = from_audio {
            for (m, p) in moods.iter_mut().zip(am) {
                *m = m.max(p);
            }
        }
        facts.set_moods(i, &moods);
    }
    facts
}

/// The prediction measured on held-out measured items.
#[derive(Clone, Debug, PartialEq)]
pub struct CvReport {
    pub folds: usize,
    pub items: usize,
    /// RMSE of energy and valence: the neighbour prediction, and the mean
    /// of the training folds (the baseline to beat).
    pub energy_rmse: (f64, f64),
    pub valence_rmse: (f64, f64),
    /// Micro-F1 of the six moods (from audio alone, threshold ½) predicted
    /// against those of the measured features: neighbours, and the
    /// baseline of the training folds' mean features.
    pub mood_f1: (f64, f64),
}

impl std::fmt::Display for CvReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "audio prediction, {}-fold CV over {} measured items (neighbours in text space | mean baseline):",
            self.folds, self.items
        )?;
        writeln!(
            f,
            "  energy  RMSE {:.3} | {:.3}",
            self.energy_rmse.0, self.energy_rmse.1
        )?;
        writeln!(
            f,
            "  valence RMSE {:.3} | {:.3}",
            self.valence_rmse.0, self.valence_rmse.1
        )?;
        writeln!(
            f,
            "  moods   micro-F1 {:.3} | {:.3}  ({})",
            self.mood_f1.0,
            self.mood_f1.1,
            MOODS.join(", ")
        )
    }
}

/// `folds`-fold cross-validation of the prediction over (a sample of at
/// most [`MAX_REFERENCES`]) measured items: each fold predicted from the
/// others. `None` with fewer than `2·folds` measured items.
pub fn cross_validate(meta: &[ItemMeta], content: &Content, folds: usize) -> Option<CvReport> {
    let audio: Vec<Option<[f32; 9]>> = meta
        .iter()
        .map(|m| m.audio.as_deref().and_then(nine))
        .collect();
    let measured: Vec<usize> = (0..meta.len()).filter(|&i| audio[i].is_some()).collect();
    let sample = references(&measured);
    if sample.len() < 2 * folds || content.len() != meta.len() {
        return None;
    }
    let norms = content.norms();
    let results: Vec<(usize, [f32; 9], [f32; 9])> = (0..folds)
        .into_par_iter()
        .flat_map_iter(|f| {
            let train: Vec<usize> = sample
                .iter()
                .enumerate()
                .filter(|(j, _)| j % folds != f)
                .map(|(_, &i)| i)
                .collect();
            let mut mean = [0f32; 9];
            for &i in &train {
                let a = audio[i].as_ref().expect("measured");
                for d in 0..9 {
                    mean[d] += a[d] / train.len() as f32;
                }
            }
            let held: Vec<usize> = sample
                .iter()
                .enumerate()
                .filter(|(j, _)| j % folds == f)
                .map(|(_, &i)| i)
                .collect();
            let audio = &audio;
            let norms = &norms;
            held.into_iter().filter_map(move |i| {
                predict(content, &norms.text, audio, &train, i).map(|(p, _)| (i, p, mean))
            })
        })
        .collect();
    let n = results.len().max(1) as f64;
    // `nb`: the neighbours' prediction, else the training folds' mean.
    let pick = |p: &[f32; 9], m: &[f32; 9], nb: bool| if nb { *p } else { *m };
    let rmse = |d: usize, nb: bool| {
        (results
            .iter()
            .map(|(i, p, m)| {
                let e = (pick(p, m, nb)[d] - audio[*i].expect("measured")[d]) as f64;
                e * e
            })
            .sum::<f64>()
            / n)
            .sqrt()
    };
    let f1 = |nb: bool| {
        let (mut tp, mut fp, mut fn_) = (0u32, 0u32, 0u32);
        for (i, p, m) in &results {
            let truth = audio_moods(&audio[*i].expect("measured"));
            let got = audio_moods(&pick(p, m, nb));
            for k in 0..MOODS.len() {
                match (got[k] >= 0.5, truth[k] >= 0.5) {
                    (true, true) => tp += 1,
                    (true, false) => fp += 1,
                    (false, true) => fn_ += 1,
                    _ => {}
                }
            }
        }
        2.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64
    };
    Some(CvReport {
        folds,
        items: results.len(),
        energy_rmse: (rmse(ENERGY, true), rmse(ENERGY, false)),
        valence_rmse: (rmse(VALENCE, true), rmse(VALENCE, false)),
        mood_f1: (f1(true), f1(false)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_and_tags_give_moods() {
        let mut a = [0.5f32; 9];
        a[ENERGY] = 0.9;
        a[VALENCE] = 0.9;
        a[5] = -5.0;
        let m = audio_moods(&a);
        assert!(m[0] > 0.9 && m[1] < 0.1 && m[3] < 0.1, "{m:?}");
        a[ENERGY] = 0.2;
        a[VALENCE] = 0.15;
        let m = audio_moods(&a);
        assert!(m[3] > 0.9 && m[0] < 0.1, "{m:?}");
        let t = tag_moods(&[
            ("Chill-out".into(), 4),
            ("Love Songs".into(), 2),
            ("rock".into(), 8),
        ]);
        assert!(
            (t[1] - 0.75).abs() < 1e-6 && (t[5] - 0.625).abs() < 1e-6 && t[0] == 0.0,
            "{t:?}"
        );
    }
}

#[cfg(test)]
mod prior_tests {
    use super::*;

    /// Genres as points on a line: "calm" near "quiet", "loud" near "noise".
    fn embed(t: &str) -> Option<Vec<f32>> {
        let x: f32 = match t {
            "quiet" => 0.0,
            "calm" => 0.1,
            "noise" => 1.0,
            "loud" => 0.9,
            _ => return None,
        };
        let v = [1.0 - x, x];
        let n = (v[0] * v[0] + v[1] * v[1]).sqrt();
        Some(vec![v[0] / n, v[1] / n])
    }

    fn item(genre: &str, energy: Option<f32>) -> ItemMeta {
        ItemMeta {
            genres: vec![genre.into()],
            audio: energy.map(|e| {
                let mut a = vec![0.5; 9];
                a[ENERGY] = e;
                a
            }),
            ..ItemMeta::default()
        }
    }

    #[test]
    fn a_genre_no_measured_item_has_takes_its_nearest_measured_genres() {
        let mut meta: Vec<ItemMeta> = (0..4).map(|_| item("quiet", Some(0.1))).collect();
        meta.extend((0..4).map(|_| item("noise", Some(0.9))));
        meta.push(item("noise", None)); // measured genre: its mean
        meta.push(item("calm", None)); // unseen: near "quiet"
        meta.push(item("loud", None)); // unseen: near "noise"
        let prior = GenrePrior::new(&meta, &embed);
        assert_eq!(prior.len(), 2);
        let f = build(&meta, &vec![None; meta.len()], Some(&embed));
        let energy = |i: usize| f.audio(i).unwrap().values[ENERGY];
        assert_eq!(f.audio(8).unwrap().source, AudioSource::Prior);
        assert!((energy(8) - 0.9).abs() < 0.01);
        assert!(energy(9) < 0.3, "calm {}", energy(9));
        assert!(energy(10) > 0.7, "loud {}", energy(10));
        assert!(f.audio(9).unwrap().confidence <= 0.5);
    }
}
