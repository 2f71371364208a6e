//! Where tastes live: each item as a unit vector (its content vector
//! `[text ‖ w·audio]` where the bundle has content, else its CF factor), a
//! taste's centroid as a weighted sum of those, cosines through the int8
//! kernels; and the compact features the per-taste models learn from.

use crate::content::ContentQuery;
use crate::facts::{AUDIO_FEATURES, AUDIO_RANGES};
use crate::linalg::dot;
use crate::model::Model;

/// A taste's direction, in the space the model's items live in.
#[derive(Clone, Debug)]
pub enum Centroid {
    Content(ContentQuery),
    Factors(Vec<f32>),
}

/// The vector space of a model's items.
pub struct Space<'m> {
    pub model: &'m Model,
    /// CF factor norms, for bundles without content.
    factor_norms: Vec<f32>,
}

impl<'m> Space<'m> {
    pub fn new(model: &'m Model) -> Self {
        let factor_norms = if model.content().is_some() {
            Vec::new()
        } else {
            let y = &model.parts().item_factors;
            (0..model.n_items())
                .map(|i| {
                    let r = y.dequantize_row(i);
                    dot(&r, &r).sqrt()
                })
                .collect()
        };
        Space {
            model,
            factor_norms,
        }
    }

    /// `Σ wᵢ · unit(itemᵢ)`: each member counts by its weight, not by its
    /// vector's length. `None` when nothing has a vector.
    pub fn centroid(&self, members: &[(u32, f32)]) -> Option<Centroid> {
        let m = self.model;
        let mut any = false;
        let c = if let Some(c) = m.content() {
            let norms = &m.content_norms().full;
            let mut q = ContentQuery {
                text: vec![0.0; c.text.cols()],
                audio: vec![0.0; c.audio.cols()],
            };
            for &(i, w) in members {
                let n = norms[i as usize];
                if n > 0.0 {
                    any = true;
                    c.text.add_scaled_row(i as usize, w / n, &mut q.text);
                    c.audio.add_scaled_row(i as usize, w / n, &mut q.audio);
                }
            }
            Centroid::Content(q)
        } else {
            let y = &m.parts().item_factors;
            let mut x = vec![0.0; y.cols()];
            for &(i, w) in members {
                let n = self.factor_norms[i as usize];
                if n > 0.0 {
                    any = true;
                    y.add_scaled_row(i as usize, w / n, &mut x);
                }
            }
            Centroid::Factors(x)
        };
        any.then_some(c)
    }

    /// The cosine of `c` with every item (0 where either has no vector).
    pub fn cosines(&self, c: &Centroid) -> Vec<f32> {
        let m = self.model;
        match c {
            Centroid::Content(q) => m.content_cosines(q),
            Centroid::Factors(x) => {
                let nx = dot(x, x).sqrt();
                m.scores(x)
                    .into_iter()
                    .zip(&self.factor_norms)
                    .map(|(s, &n)| {
                        if n > 0.0 && nx > 0.0 {
                            s / (n * nx)
                        } else {
                            0.0
                        }
                    })
                    .collect()
            }
        }
    }

    /// The cosine of `c` with item `i`.
    pub fn cosine(&self, c: &Centroid, i: u32) -> f32 {
        let m = self.model;
        match c {
            Centroid::Content(q) => {
                let content = m.content().expect("a content centroid comes from content");
                let q = content.cosine_query(q, false);
                content.cosine_at(&q, m.content_norms(), i as usize)
            }
            Centroid::Factors(x) => {
                let n = self.factor_norms[i as usize];
                let nx = dot(x, x).sqrt();
                if n > 0.0 && nx > 0.0 {
                    m.parts().item_factors.dot_row(i as usize, x) / (n * nx)
                } else {
                    0.0
                }
            }
        }
    }

    /// The cosine of two items.
    pub fn pair(&self, a: u32, b: u32) -> f32 {
        if self.model.content().is_some() {
            self.model.content_cosine(a, b)
        } else {
            self.model.cf_cosine(a, b)
        }
    }
}

/// Item `i`'s audio features, each over its range in [0, 1]; `None` when
/// the bundle knows none for it.
pub fn audio01(model: &Model, i: usize) -> Option<[f32; 9]> {
    let a = model.facts()?.audio(i)?;
    let mut out = [0f32; 9];
    for (f, o) in out.iter_mut().enumerate() {
        let (lo, hi) = AUDIO_RANGES[f];
        *o = ((a.values[f] - lo) / (hi - lo)).clamp(0.0, 1.0);
    }
    Some(out)
}

/// The mean of some items' audio (`None` for none).
pub fn mean_audio(audio: &[[f32; 9]]) -> Option<[f32; 9]> {
    if audio.is_empty() {
        return None;
    }
    let mut m = [0f32; 9];
    for a in audio {
        for f in 0..9 {
            m[f] += a[f] / audio.len() as f32;
        }
    }
    Some(m)
}

/// How much each audio feature counts when a taste's audio profile is
/// compared with an item's: the features a listener hears first.
pub const AUDIO_WEIGHTS: [f32; 9] = [0.2, 0.2, 0.3, 0.1, 0.0, 0.05, 0.05, 0.0, 0.2];

const _: () = assert!(AUDIO_WEIGHTS.len() == AUDIO_FEATURES.len());

/// `1 − Σ wᶠ·|aᶠ − mᶠ| / Σ wᶠ`: how close an item's audio is to a taste's
/// mean, in [0, 1]; 0.5 (neutral) when either is unknown.
pub fn audio_match(item: Option<&[f32; 9]>, mean: Option<&[f32; 9]>) -> f32 {
    audio_match_weighted(item, mean, &AUDIO_WEIGHTS)
}

/// [`audio_match`] with the features weighed by `w` (a taste's own).
pub fn audio_match_weighted(item: Option<&[f32; 9]>, mean: Option<&[f32; 9]>, w: &[f32; 9]) -> f32 {
    let (Some(a), Some(m)) = (item, mean) else {
        return 0.5;
    };
    let total: f32 = w.iter().sum();
    if total <= 0.0 {
        return 0.5;
    }
    let d: f32 = (0..9).map(|f| w[f] * (a[f] - m[f]).abs()).sum();
    1.0 - d / total
}
