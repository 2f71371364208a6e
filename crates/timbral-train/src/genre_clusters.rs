//! Genre clusters (the `genre_clusters` section, `timbral_core::taste`):
//! the catalogue's labels (genres and tags) embedded by MiniLM and grouped
//! by spherical k-means.
//!
//! - A label's vector: its name's MiniLM embedding plus the mean MiniLM
//!   vector of the items that carry it (each unit, weighted equally), so
//!   "latin" sits with the reggaeton and salsa its items are, not with
//!   whatever its name is near.
//! - Labels: those on at least two items (all of them if fewer than 50
//!   qualify), the `MAX_LABELS` heaviest by `Σ ln(1 + votes) + ½` over
//!   their items, the weight the runtime gives them too.
//! - k: every k from `MIN_K` (3 for fewer than 18 labels) to `MAX_K` (at
//!   most a third of the labels) is fitted; the one with the best mean silhouette (cosine
//!   distance, weighted by label weight) wins. The criterion of every k
//!   is stored, so `timbral inspect` can show why.
//! - Deterministic: k-means++ seeded by the training seed, ties by index.
//! - Each cluster is named by its three heaviest labels.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use timbral_core::search::label_key;
use timbral_core::taste::clusters::{excluded_keys, label_weight, GenreClusters};
use timbral_core::Content;

pub const MAX_LABELS: usize = 1000;
pub const MIN_K: usize = 6;
pub const MAX_K: usize = 32;
const ITERATIONS: usize = 40;

/// A label, its weight over the catalogue and how many items carry it.
struct Label {
    key: String,
    text: String,
    weight: f32,
    items: u32,
    /// Σ of its items' unit text vectors, weighted.
    usage: Vec<f32>,
}

fn labels_of(content: &Content) -> Vec<Label> {
    let mut by_key: HashMap<String, Label> = HashMap::new();
    let dim = content.text.cols();
    for (i, (labels, votes)) in content
        .labels
        .iter()
        .zip(&content.label_weights)
        .enumerate()
    {
        let mut row = content.text.dequantize_row(i);
        normalise(&mut row);
        for (j, l) in labels.iter().enumerate() {
            let key = label_key(l);
            if key.is_empty() {
                continue;
            }
            let w = label_weight(votes.get(j).copied().unwrap_or(1));
            let e = by_key.entry(key.clone()).or_insert_with(|| Label {
                key,
                text: l.clone(),
                weight: 0.0,
                items: 0,
                usage: vec![0.0; dim],
            });
            e.weight += w;
            e.items += 1;
            e.usage.iter_mut().zip(&row).for_each(|(a, b)| *a += w * b);
        }
    }
    let mut v: Vec<Label> = by_key.into_values().collect();
    v.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then_with(|| a.key.cmp(&b.key))
    });
    let shared = v.iter().filter(|l| l.items >= 2).count();
    if shared >= 50 {
        v.retain(|l| l.items >= 2);
    }
    v.truncate(MAX_LABELS);
    v
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalise(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Spherical k-means of unit vectors `x` (weights `w`): the assignment.
fn kmeans(x: &[Vec<f32>], w: &[f32], k: usize, seed: u64) -> Vec<usize> {
    let n = x.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (k as u64).wrapping_mul(0x9E37_79B9));
    // k-means++: the first centre by weight, each next by weight × distance².
    let pick = |rng: &mut ChaCha8Rng, p: &[f64]| -> usize {
        let total: f64 = p.iter().sum();
        let mut r = rng.random::<f64>() * total;
        for (i, &v) in p.iter().enumerate() {
            r -= v;
            if r <= 0.0 {
                return i;
            }
        }
        n - 1
    };
    let mut centres: Vec<Vec<f32>> = vec![x[pick(
        &mut rng,
        &w.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
    )]
    .clone()];
    let mut d2: Vec<f64> = vec![f64::INFINITY; n];
    while centres.len() < k {
        let c = centres.last().expect("one centre");
        for i in 0..n {
            let d = f64::from((1.0 - dot(&x[i], c)).max(0.0));
            d2[i] = d2[i].min(d);
        }
        let p: Vec<f64> = (0..n).map(|i| f64::from(w[i]) * d2[i]).collect();
        if p.iter().sum::<f64>() <= 0.0 {
            break;
        }
        centres.push(x[pick(&mut rng, &p)].clone());
    }
    let mut assign = vec![0usize; n];
    for _ in 0..ITERATIONS {
        let mut changed = false;
        for i in 0..n {
            let best = (0..centres.len())
                .max_by(|&a, &b| {
                    dot(&x[i], &centres[a])
                        .total_cmp(&dot(&x[i], &centres[b]))
                        .then(b.cmp(&a))
                })
                .expect("a centre");
            if best != assign[i] {
                assign[i] = best;
                changed = true;
            }
        }
        for (c, centre) in centres.iter_mut().enumerate() {
            let mut s = vec![0f32; x[0].len()];
            for i in (0..n).filter(|&i| assign[i] == c) {
                s.iter_mut().zip(&x[i]).for_each(|(a, b)| *a += w[i] * b);
            }
            if s.iter().any(|&v| v != 0.0) {
                normalise(&mut s);
                *centre = s;
            }
        }
        if !changed {
            break;
        }
    }
    assign
}

/// Weighted mean silhouette of an assignment, from the similarity matrix.
fn silhouette(sim: &[f32], n: usize, w: &[f32], assign: &[usize], k: usize) -> f32 {
    let (mut total, mut wsum) = (0f64, 0f64);
    for i in 0..n {
        let mut dist = vec![0f64; k];
        let mut mass = vec![0f64; k];
        for j in (0..n).filter(|&j| j != i) {
            dist[assign[j]] += f64::from(w[j]) * f64::from(1.0 - sim[i * n + j]);
            mass[assign[j]] += f64::from(w[j]);
        }
        let own = assign[i];
        if mass[own] == 0.0 {
            continue; // a singleton's silhouette is 0
        }
        let a = dist[own] / mass[own];
        let b = (0..k)
            .filter(|&c| c != own && mass[c] > 0.0)
            .map(|c| dist[c] / mass[c])
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() {
            total += f64::from(w[i]) * (b - a) / a.max(b).max(1e-12);
        }
        wsum += f64::from(w[i]);
    }
    (total / wsum.max(1e-12)) as f32
}

/// Embeds a batch of texts (MiniLM in the trainer); `None` on failure.
pub type Embed<'a> = &'a dyn Fn(&[&str]) -> Option<Vec<Vec<f32>>>;

/// The genre clusters of a catalogue's labels. `embed` gives a label's
/// MiniLM vector; `excluded` are the genres kept out of recommendation
/// pools. `None` when there are fewer than six labels to cluster.
pub fn build(
    content: &Content,
    embed: Embed<'_>,
    excluded: &[&str],
    seed: u64,
) -> Option<GenreClusters> {
    let labels = labels_of(content);
    if labels.len() < 6 {
        return None;
    }
    let texts: Vec<&str> = labels.iter().map(|l| l.text.as_str()).collect();
    let mut x = embed(&texts)?;
    for (v, l) in x.iter_mut().zip(&labels) {
        // Into the space of compact text vectors, where they are.
        if let Some(p) = &content.projection {
            *v = p.apply(v);
        }
        normalise(v);
        let mut usage = l.usage.clone();
        normalise(&mut usage);
        if usage.len() == v.len() {
            v.iter_mut().zip(&usage).for_each(|(a, b)| *a += b);
            normalise(v);
        }
    }
    let w: Vec<f32> = labels.iter().map(|l| l.weight).collect();
    let n = x.len();
    let mut sim = vec![0f32; n * n];
    for i in 0..n {
        for j in i..n {
            let s = dot(&x[i], &x[j]);
            sim[i * n + j] = s;
            sim[j * n + i] = s;
        }
    }
    let lo = if n >= 3 * MIN_K { MIN_K } else { 3 };
    let hi = MAX_K.min(n / 3).max(lo);
    let mut criterion = Vec::new();
    let mut best: Option<(f32, usize, Vec<usize>)> = None;
    for k in lo..=hi {
        let a = kmeans(&x, &w, k, seed);
        let s = silhouette(&sim, n, &w, &a, k);
        criterion.push((k as u16, s));
        if best.as_ref().is_none_or(|(b, _, _)| s > *b) {
            best = Some((s, k, a));
        }
    }
    let (_, k, assign) = best?;
    // Clusters named by their heaviest labels (labels are heaviest first);
    // empty ones dropped and the rest renumbered in order of weight.
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &c) in assign.iter().enumerate() {
        members[c].push(i);
    }
    let mut order: Vec<usize> = (0..k).filter(|&c| !members[c].is_empty()).collect();
    let mass = |c: usize| members[c].iter().map(|&i| w[i]).sum::<f32>();
    order.sort_by(|&a, &b| mass(b).total_cmp(&mass(a)).then(a.cmp(&b)));
    let mut names = Vec::with_capacity(order.len());
    let mut map: Vec<(String, u16)> = Vec::with_capacity(n);
    for (new, &c) in order.iter().enumerate() {
        let name: Vec<&str> = members[c]
            .iter()
            .take(3)
            .map(|&i| labels[i].text.as_str())
            .collect();
        names.push(name.join(" / "));
        map.extend(
            members[c]
                .iter()
                .map(|&i| (labels[i].key.clone(), new as u16)),
        );
    }
    map.sort();
    Some(GenreClusters {
        names,
        labels: map,
        excluded: excluded_keys(excluded),
        criterion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use timbral_core::QMatrix;

    /// Labels whose "embeddings" put them in three groups.
    fn content_with(labels: &[&str]) -> Content {
        let n = labels.len() * 2;
        let l: Vec<Vec<String>> = (0..n)
            .map(|i| vec![labels[i % labels.len()].to_string()])
            .collect();
        Content {
            text: QMatrix::quantize(&vec![0.1; n], n, 1),
            audio: QMatrix::quantize(&vec![0.0; n], n, 1),
            audio_weight: 0.0,
            label_weights: vec![vec![3]; n],
            labels: l,
            model_sha256: String::new(),
            tokenizer_sha256: String::new(),
            projection: None,
        }
    }

    #[test]
    fn labels_group_by_their_vectors_deterministically() {
        let labels = [
            "metal",
            "thrash metal",
            "death metal",
            "black metal",
            "j-pop",
            "anime",
            "j-rock",
            "city pop",
            "latin",
            "reggaeton",
            "salsa",
            "bachata",
        ];
        let c = content_with(&labels);
        // Axis by group, and a little of each label's own.
        let embed = |texts: &[&str]| -> Option<Vec<Vec<f32>>> {
            Some(
                texts
                    .iter()
                    .map(|t| {
                        let at = labels.iter().position(|l| l == t).unwrap();
                        let mut v = vec![0f32; 16];
                        v[at / 4] = 1.0;
                        v[4 + at] = 0.3;
                        v
                    })
                    .collect(),
            )
        };
        let g = build(&c, &embed, &["ambient"], 7).unwrap();
        g.validate().unwrap();
        assert_eq!(g.names.len(), 3, "{:?} {:?}", g.names, g.criterion);
        let of = |l: &str| g.cluster_of(l).unwrap();
        assert_eq!(of("metal"), of("black metal"));
        assert_eq!(of("salsa"), of("bachata"));
        assert_ne!(of("metal"), of("anime"));
        assert_ne!(of("latin"), of("j-pop"));
        // Named by three of their labels (heaviest first; here all weigh
        // the same, so by key).
        assert!(
            g.names
                .contains(&"black metal / death metal / metal".to_string()),
            "{:?}",
            g.names
        );
        assert_eq!(build(&c, &embed, &["ambient"], 7), Some(g));
        assert!(build(&content_with(&labels[..4]), &embed, &[], 7).is_none());
    }
}
