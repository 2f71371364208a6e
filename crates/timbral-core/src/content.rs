//! Content vectors and hybrid fusion.
//!
//! Every item has a MiniLM text vector (its name, tags and genres, unit
//! length) and, where known, standardised audio features (unit length,
//! weighted by `audio_weight`); both int8 with one scale per row. Content
//! similarity is the cosine of the concatenation `[text ‖ w·audio]`, computed
//! from the two parts so a text-only query never sees the audio half.
//!
//! Similar items and search use an exact scan over the int8 rows: at the
//! catalogue sizes Timbral targets (≤ ~100k items) it is a few million
//! integer multiply-adds, gives recall 1.0, costs no build time, adds no
//! index bytes to the bundle and is bit-identical on every target (see
//! `timbral bench` for the HNSW comparison).

use serde::{Deserialize, Serialize};

use crate::linalg::{dot, quantize_i16};
use crate::quant::QMatrix;

/// The `content` section. In the file, labels are indices into one
/// vocabulary ([`ContentWire`]): each distinct label's text is stored once,
/// not once per item that carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "ContentWire", try_from = "ContentWire")]
pub struct Content {
    /// n × 384 MiniLM vectors of each item's text.
    pub text: QMatrix,
    /// n × A standardised audio features; a zero row means unknown.
    pub audio: QMatrix,
    pub audio_weight: f32,
    /// Per item: its labels (tags and genres, heaviest first), for filters,
    /// explanations and search.
    pub labels: Vec<Vec<String>>,
    /// Per item, per label: its weight in votes, how strongly the crowd
    /// ties the item to the label (HetRec: the listeners who gave the tag;
    /// a catalogue's genre counts one vote). Search ranks by it.
    pub label_weights: Vec<Vec<u32>>,
    /// The text each vector was made from (what search explains against).
    pub model_sha256: String,
    pub tokenizer_sha256: String,
    /// Where the text vectors are compact: the map from the encoder's
    /// embedding to them, which a query's embedding goes through too.
    pub projection: Option<TextProjection>,
}

/// A linear map from the encoder's embeddings (`input` dimensions) to the
/// compact text vectors (`dims`): `axes · (e − mean)`, the leading
/// principal axes of the catalogue's embeddings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextProjection {
    pub input: u32,
    pub dims: u32,
    pub mean: Vec<f32>,
    /// `dims` rows of `input`, row-major.
    pub axes: Vec<f32>,
}

impl TextProjection {
    pub fn validate(&self, text_dim: usize) -> Result<(), String> {
        let (i, d) = (self.input as usize, self.dims as usize);
        if d != text_dim || self.mean.len() != i || self.axes.len() != i * d {
            return Err(format!(
                "a projection of {} × {} (mean {}, axes {}) for {text_dim}-d text vectors",
                self.dims,
                self.input,
                self.mean.len(),
                self.axes.len()
            ));
        }
        if self.mean.iter().chain(&self.axes).any(|v| !v.is_finite()) {
            return Err("the projection has a value that is not finite".into());
        }
        Ok(())
    }

    /// `axes · (e − mean)`, summed in a fixed order (the same on every
    /// target).
    pub fn apply(&self, e: &[f32]) -> Vec<f32> {
        let centred: Vec<f32> = e.iter().zip(&self.mean).map(|(x, m)| x - m).collect();
        self.axes
            .chunks_exact(self.input as usize)
            .map(|a| dot(a, &centred))
            .collect()
    }
}

/// How [`Content`] is written: each item's labels as (vocabulary index,
/// weight) pairs.
#[derive(Serialize, Deserialize)]
struct ContentWire {
    text: QMatrix,
    audio: QMatrix,
    audio_weight: f32,
    vocabulary: Vec<String>,
    labels: Vec<Vec<(u32, u32)>>,
    model_sha256: String,
    tokenizer_sha256: String,
    projection: Option<TextProjection>,
}

impl From<Content> for ContentWire {
    fn from(c: Content) -> Self {
        let mut index: std::collections::HashMap<&str, u32> = Default::default();
        let mut vocabulary: Vec<String> = Vec::new();
        let mut labels = Vec::with_capacity(c.labels.len());
        for (ls, ws) in c.labels.iter().zip(&c.label_weights) {
            let mut row = Vec::with_capacity(ls.len());
            for (l, &w) in ls.iter().zip(ws) {
                let at = *index.entry(l).or_insert_with(|| {
                    vocabulary.push(l.clone());
                    vocabulary.len() as u32 - 1
                });
                row.push((at, w));
            }
            labels.push(row);
        }
        ContentWire {
            vocabulary,
            labels,
            text: c.text,
            audio: c.audio,
            audio_weight: c.audio_weight,
            model_sha256: c.model_sha256,
            tokenizer_sha256: c.tokenizer_sha256,
            projection: c.projection,
        }
    }
}

impl TryFrom<ContentWire> for Content {
    type Error = String;
    fn try_from(w: ContentWire) -> Result<Self, String> {
        let mut labels = Vec::with_capacity(w.labels.len());
        let mut label_weights = Vec::with_capacity(w.labels.len());
        for (i, row) in w.labels.iter().enumerate() {
            let mut ls = Vec::with_capacity(row.len());
            for &(at, _) in row {
                let l = w.vocabulary.get(at as usize).ok_or_else(|| {
                    format!(
                        "item {i}: label {at} is outside the vocabulary of {}",
                        w.vocabulary.len()
                    )
                })?;
                ls.push(l.clone());
            }
            labels.push(ls);
            label_weights.push(row.iter().map(|&(_, v)| v).collect());
        }
        Ok(Content {
            text: w.text,
            audio: w.audio,
            audio_weight: w.audio_weight,
            labels,
            label_weights,
            model_sha256: w.model_sha256,
            tokenizer_sha256: w.tokenizer_sha256,
            projection: w.projection,
        })
    }
}

/// Format versions 1 and 2's `content` section: labels without weights.
#[derive(Deserialize)]
pub(crate) struct ContentV2 {
    text: QMatrix,
    audio: QMatrix,
    audio_weight: f32,
    labels: Vec<Vec<String>>,
    model_sha256: String,
    tokenizer_sha256: String,
}

impl From<ContentV2> for Content {
    /// Every label weighs one vote: an old bundle knows no crowd weights.
    fn from(v: ContentV2) -> Self {
        Content {
            label_weights: v.labels.iter().map(|l| vec![1; l.len()]).collect(),
            text: v.text,
            audio: v.audio,
            audio_weight: v.audio_weight,
            labels: v.labels,
            model_sha256: v.model_sha256,
            tokenizer_sha256: v.tokenizer_sha256,
            projection: None,
        }
    }
}

/// Weights of the hybrid score
/// `α·cf + β·content + γ·(1 − popularity penalty)`, each part standardised.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FusionWeights {
    /// Collaborative filtering.
    pub alpha: f32,
    /// Content cosine with the listener's taste vector.
    pub beta: f32,
    /// `1 − popularity penalty` (negative: a popularity boost).
    pub gamma: f32,
    /// An item nobody played has no plays to learn a factor from; the
    /// trainer maps its content to one. Its CF part is scaled by `cold`
    /// (0: CF ignores new items).
    pub cold: f32,
}

impl Default for FusionWeights {
    fn default() -> Self {
        FusionWeights {
            alpha: 0.6,
            beta: 0.3,
            gamma: 0.1,
            cold: 1.0,
        }
    }
}

impl FusionWeights {
    /// CF alone: new items get nothing.
    pub const CF: FusionWeights = FusionWeights {
        alpha: 1.0,
        beta: 0.0,
        gamma: 0.0,
        cold: 0.0,
    };
    /// Content alone.
    pub const CONTENT: FusionWeights = FusionWeights {
        alpha: 0.0,
        beta: 1.0,
        gamma: 0.0,
        cold: 0.0,
    };

    pub fn validate(&self) -> Result<(), String> {
        if [self.alpha, self.beta, self.gamma, self.cold]
            .iter()
            .any(|w| !w.is_finite())
        {
            return Err(format!("weights must be finite numbers, got {self:?}"));
        }
        Ok(())
    }

    /// The CF part of an item: its CF score, scaled by `self.cold` for an
    /// item nobody played (`cold`).
    #[inline]
    pub fn cf_part(&self, cf: f32, cold: bool) -> f32 {
        if cold {
            self.cold * cf
        } else {
            cf
        }
    }

    /// The fused score from standardised parts.
    #[inline]
    pub fn score(&self, cf: f32, content: f32, pop: f32, cold: bool) -> f32 {
        self.alpha * self.cf_part(cf, cold) + self.beta * content + self.gamma * pop
    }
}

/// The `fusion` section: weights learned on a validation split. Listeners
/// with a short history (≤ `short_max_items`, folded in from a handful of
/// plays) have a CF factor worth less, so they get their own weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    pub weights: FusionWeights,
    pub short: FusionWeights,
    pub short_max_items: u32,
}

impl Fusion {
    /// The weights for a listener with `history_len` items.
    pub fn for_history(&self, history_len: usize) -> FusionWeights {
        if history_len <= self.short_max_items as usize {
            self.short
        } else {
            self.weights
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.weights.validate()?;
        self.short.validate()
    }
}

/// Format version 1's fusion section: three weights.
#[derive(Deserialize)]
pub(crate) struct FusionV1 {
    alpha: f32,
    beta: f32,
    gamma: f32,
}

impl From<FusionV1> for Fusion {
    fn from(v: FusionV1) -> Self {
        let w = FusionWeights {
            alpha: v.alpha,
            beta: v.beta,
            gamma: v.gamma,
            cold: 1.0,
        };
        Fusion {
            weights: w,
            short: w,
            short_max_items: 0,
        }
    }
}

impl Content {
    pub fn len(&self) -> usize {
        self.text.rows()
    }

    pub fn is_empty(&self) -> bool {
        self.text.rows() == 0
    }

    pub fn text_dim(&self) -> usize {
        self.text.cols()
    }

    /// The dimensions of the encoder's embeddings these vectors take.
    pub fn embedding_dim(&self) -> usize {
        self.projection
            .as_ref()
            .map_or(self.text_dim(), |p| p.input as usize)
    }

    /// A query's embedding in the text vectors' space (through the
    /// projection where they are compact).
    pub fn text_query(&self, embedding: &[f32]) -> Result<Vec<f32>, String> {
        if embedding.len() != self.embedding_dim() {
            return Err(format!(
                "query vector has {} dimensions, the bundle's content vectors take {}",
                embedding.len(),
                self.embedding_dim()
            ));
        }
        Ok(match &self.projection {
            Some(p) => p.apply(embedding),
            None => embedding.to_vec(),
        })
    }

    pub fn validate(&self, n_items: usize) -> Result<(), String> {
        self.text.validate()?;
        self.audio.validate()?;
        if self.text.rows() != n_items
            || self.audio.rows() != n_items
            || self.labels.len() != n_items
        {
            return Err(format!(
                "{} text vectors, {} audio rows and {} label lists for {n_items} items",
                self.text.rows(),
                self.audio.rows(),
                self.labels.len()
            ));
        }
        if self.label_weights.len() != n_items {
            return Err(format!(
                "{} label weight lists for {n_items} items",
                self.label_weights.len()
            ));
        }
        if let Some(i) = (0..n_items).find(|&i| self.label_weights[i].len() != self.labels[i].len())
        {
            return Err(format!(
                "item {i} has {} labels but {} label weights",
                self.labels[i].len(),
                self.label_weights[i].len()
            ));
        }
        if let Some(p) = &self.projection {
            p.validate(self.text_dim())?;
        }
        if !(self.audio_weight.is_finite() && self.audio_weight >= 0.0) {
            return Err(format!("invalid audio weight {}", self.audio_weight));
        }
        Ok(())
    }

    /// Every item's norms, computed once at load: `‖[t ‖ w·a]‖` for
    /// content similarity and `‖t‖` for text-only search.
    pub fn norms(&self) -> ContentNorms {
        let w2 = self.audio_weight * self.audio_weight;
        let (mut full, mut text) = (
            Vec::with_capacity(self.len()),
            Vec::with_capacity(self.len()),
        );
        for i in 0..self.len() {
            let t = self.text.dequantize_row(i);
            let a = self.audio.dequantize_row(i);
            let tt = dot(&t, &t);
            text.push(tt.sqrt());
            full.push((tt + w2 * dot(&a, &a)).sqrt());
        }
        ContentNorms { full, text }
    }

    /// A query in content space: text and audio parts, f32.
    pub fn item_query(&self, i: usize) -> ContentQuery {
        ContentQuery {
            text: self.text.dequantize_row(i),
            audio: self.audio.dequantize_row(i),
        }
    }

    /// The dot product of items `a` and `b` (text, plus audio weighted by
    /// `audio_weight²`) from their int8 rows: exact integer sums, scaled.
    pub fn pair_dot(&self, a: usize, b: usize) -> f32 {
        let dot = |m: &QMatrix| {
            let ((ra, sa), (rb, sb)) = (m.row(a), m.row(b));
            sa * sb * crate::linalg::dot_i8_i8(ra, rb) as f32
        };
        dot(&self.text) + self.audio_weight * self.audio_weight * dot(&self.audio)
    }

    /// The weighted mean of items' content vectors: a listener's taste.
    pub fn centroid(&self, items: &[(u32, f32)]) -> ContentQuery {
        let mut q = ContentQuery {
            text: vec![0.0; self.text.cols()],
            audio: vec![0.0; self.audio.cols()],
        };
        for &(i, w) in items {
            if (i as usize) < self.len() {
                self.text.add_scaled_row(i as usize, w, &mut q.text);
                self.audio.add_scaled_row(i as usize, w, &mut q.audio);
            }
        }
        q
    }

    /// Text plus audio dimensions: the length of a unit content vector.
    pub fn dim(&self) -> usize {
        self.text.cols() + self.audio.cols()
    }

    /// Item `i`'s unit content vector `[t ‖ w·a] / ‖[t ‖ w·a]‖` from its
    /// int8 rows (zeros for an item without content).
    pub fn unit_row(&self, i: usize, norms: &ContentNorms) -> Vec<f32> {
        let n = norms.full[i];
        let inv = if n > 0.0 { 1.0 / n } else { 0.0 };
        let w = self.audio_weight;
        let mut x = self.text.dequantize_row(i);
        x.extend(self.audio.dequantize_row(i).into_iter().map(|v| w * v));
        x.iter_mut().for_each(|v| *v *= inv);
        x
    }

    /// A query's unit vector `[t ‖ w·a] / ‖·‖`; `None` for a zero query.
    pub fn unit_query(&self, q: &ContentQuery) -> Option<Vec<f32>> {
        let w = self.audio_weight;
        let mut x = q.text.clone();
        x.extend(q.audio.iter().map(|v| w * v));
        let n = dot(&x, &x).sqrt();
        if !(n > 0.0 && n.is_finite()) {
            return None;
        }
        x.iter_mut().for_each(|v| *v /= n);
        Some(x)
    }

    /// `q` prepared for cosines with items: int16 parts and its norm.
    /// `text_only` ignores the audio part (search).
    pub fn cosine_query(&self, q: &ContentQuery, text_only: bool) -> CosineQuery {
        let w2 = if text_only {
            0.0
        } else {
            self.audio_weight * self.audio_weight
        };
        let norm = (dot(&q.text, &q.text) + w2 * dot(&q.audio, &q.audio)).sqrt();
        let (text, text_scale) = quantize_i16(&q.text);
        let (audio, audio_scale) = quantize_i16(&q.audio);
        CosineQuery {
            text,
            text_scale,
            audio,
            audio_scale,
            w2,
            norm,
            text_only,
        }
    }

    /// Cosine of a prepared query with item `i` (0 for zero vectors).
    #[inline]
    pub fn cosine_at(&self, q: &CosineQuery, norms: &ContentNorms, i: usize) -> f32 {
        let n = if q.text_only {
            norms.text[i]
        } else {
            norms.full[i]
        };
        if q.norm == 0.0 || n <= 0.0 {
            return 0.0;
        }
        let mut d = self.text.dot_row_i16(i, &q.text, q.text_scale);
        if q.w2 > 0.0 {
            d += q.w2 * self.audio.dot_row_i16(i, &q.audio, q.audio_scale);
        }
        d / (n * q.norm)
    }

    /// Cosine of `q` with every item (0 for zero vectors). `norms` comes
    /// from [`Self::norms`]; `text_only` ignores the audio part (search).
    pub fn cosines(&self, q: &ContentQuery, norms: &ContentNorms, text_only: bool) -> Vec<f32> {
        let q = self.cosine_query(q, text_only);
        if q.norm == 0.0 {
            return vec![0.0; self.len()];
        }
        (0..self.len())
            .map(|i| self.cosine_at(&q, norms, i))
            .collect()
    }

    /// How close each item's text is to a query's embedding, for search:
    /// the cosine of the embedding with each item's text vector. Where the
    /// vectors are compact (centred on the catalogue's mean, on its leading
    /// axes `P`), this is the cosine with the item's *embedding* the
    /// vectors approximate, `e·x ≈ e·mean + (P e)·(P (x − mean))` for unit
    /// `e` and `x` — not the cosine between centred vectors, which spreads
    /// differently and would change what search's weights mean (on HetRec
    /// at 96 axes the centred cosine cost graded search .036 of nDCG@10).
    pub fn text_similarities(
        &self,
        embedding: &[f32],
        norms: &ContentNorms,
    ) -> Result<Vec<f32>, String> {
        let Some(p) = &self.projection else {
            let q = ContentQuery {
                text: self.text_query(embedding)?,
                audio: vec![0.0; self.audio.cols()],
            };
            return Ok(self.cosines(&q, norms, true));
        };
        if embedding.len() != p.input as usize {
            return Err(format!(
                "query vector has {} dimensions, the bundle's content vectors take {}",
                embedding.len(),
                p.input
            ));
        }
        let norm = dot(embedding, embedding).sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            return Ok(vec![0.0; self.len()]);
        }
        let e: Vec<f32> = embedding.iter().map(|x| x / norm).collect();
        let base = dot(&e, &p.mean);
        let pe: Vec<f32> = p
            .axes
            .chunks_exact(p.input as usize)
            .map(|a| dot(a, &e))
            .collect();
        let (q, scale) = quantize_i16(&pe);
        Ok((0..self.len())
            .map(|i| base + self.text.dot_row_i16(i, &q, scale))
            .collect())
    }

    /// Labels of item `i` that contain a word of `query` (case-folded).
    pub fn matching_labels(&self, i: usize, query: &str) -> Vec<String> {
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 3)
            .map(str::to_lowercase)
            .collect();
        self.labels[i]
            .iter()
            .filter(|l| words.iter().any(|w| l.to_lowercase().contains(w.as_str())))
            .cloned()
            .collect()
    }

    /// Whether item `i` carries `genre` among its labels (case-insensitive).
    pub fn has_label(&self, i: usize, genre: &str) -> bool {
        let g = genre.trim().to_lowercase();
        self.labels[i]
            .iter()
            .any(|l| l.to_lowercase() == g || l.to_lowercase().contains(&g))
    }
}

/// Item norms for [`Content::cosines`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContentNorms {
    pub full: Vec<f32>,
    pub text: Vec<f32>,
}

/// A content query prepared for [`Content::cosine_at`].
pub struct CosineQuery {
    text: Vec<i16>,
    text_scale: f32,
    audio: Vec<i16>,
    audio_scale: f32,
    w2: f32,
    norm: f32,
    text_only: bool,
}

/// A point in content space.
#[derive(Clone, Debug, PartialEq)]
pub struct ContentQuery {
    pub text: Vec<f32>,
    pub audio: Vec<f32>,
}

/// `(x − mean) / std` over the entries where `keep` is true; others are
/// left as they are. Makes CF, content and popularity comparable.
pub fn standardize(x: &mut [f32], keep: &[bool]) {
    let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
    for (v, &k) in x.iter().zip(keep) {
        if k {
            n += 1.0;
            sum += f64::from(*v);
            sq += f64::from(*v) * f64::from(*v);
        }
    }
    if n == 0.0 {
        return;
    }
    let s = Standardizer::from_sums(n, sum, sq);
    for (v, &k) in x.iter_mut().zip(keep) {
        if k {
            *v = s.apply(*v);
        }
    }
}

/// `(x − mean) / std`, from a count, a sum and a sum of squares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Standardizer {
    pub mean: f64,
    /// `1 / std`, or 0 when every value is the same.
    pub inv_std: f64,
}

impl Standardizer {
    pub fn from_sums(n: f64, sum: f64, sum_sq: f64) -> Self {
        if n <= 0.0 {
            return Standardizer {
                mean: 0.0,
                inv_std: 0.0,
            };
        }
        let mean = sum / n;
        let std = ((sum_sq / n - mean * mean).max(0.0)).sqrt();
        Standardizer {
            mean,
            inv_std: if std > 1e-12 { 1.0 / std } else { 0.0 },
        }
    }

    #[inline]
    pub fn apply(&self, v: f32) -> f32 {
        ((f64::from(v) - self.mean) * self.inv_std) as f32
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn content() -> Content {
        let text = [1.0, 0.0, 0.0, 1.0, 0.6, 0.8];
        Content {
            text: QMatrix::quantize(&text, 3, 2),
            audio: QMatrix::quantize(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0], 3, 2),
            audio_weight: 0.5,
            labels: vec![
                vec!["Jazz".into()],
                vec!["rock".into(), "indie rock".into()],
                vec![],
            ],
            label_weights: vec![vec![3], vec![5, 2], vec![]],
            model_sha256: String::new(),
            tokenizer_sha256: String::new(),
            projection: None,
        }
    }

    #[test]
    fn cosines_are_exact_for_unit_vectors_and_ignore_audio_for_text_queries() {
        let c = content();
        let norms = c.norms();
        let q = c.item_query(0);
        let text = c.cosines(&q, &norms, true);
        assert!(
            (text[0] - 1.0).abs() < 1e-3 && text[1].abs() < 1e-3 && (text[2] - 0.6).abs() < 1e-2
        );
        let full = c.cosines(&q, &norms, false);
        assert!((full[0] - 1.0).abs() < 1e-3);
        assert!(full[1].abs() < 1e-3);
    }

    /// Compact vectors on all their axes lose nothing: search's similarity
    /// is then the cosine with the item's embedding, not the cosine between
    /// centred vectors.
    #[test]
    fn search_on_compact_vectors_estimates_the_embeddings_cosine() {
        // Three unit embeddings near a shared direction, as MiniLM's are.
        let x: [[f32; 3]; 3] = [[0.8, 0.6, 0.0], [0.8, 0.0, 0.6], [0.96, 0.28, 0.0]];
        let mean: Vec<f32> = (0..3)
            .map(|j| x.iter().map(|r| r[j]).sum::<f32>() / 3.0)
            .collect();
        let axes = vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let p = TextProjection {
            input: 3,
            dims: 3,
            mean,
            axes,
        };
        let coords: Vec<f32> = x.iter().flat_map(|r| p.apply(r)).collect();
        let mut c = content();
        c.text = QMatrix::quantize(&coords, 3, 3);
        c.projection = Some(p);
        let norms = c.norms();
        let e = [0.6, 0.8, 0.0];
        let sims = c.text_similarities(&e, &norms).unwrap();
        for (got, r) in sims.iter().zip(&x) {
            let want = dot(&e, r);
            assert!((got - want).abs() < 5e-3, "{got} against {want}");
        }
        // Not the centred cosine, whose values spread quite otherwise.
        let centred = c.cosines(
            &ContentQuery {
                text: c.text_query(&e).unwrap(),
                audio: vec![0.0; 2],
            },
            &norms,
            true,
        );
        assert!((centred[1] - dot(&e, &x[1])).abs() > 0.5, "{centred:?}");
        assert!(c.text_similarities(&[1.0; 4], &norms).is_err());
    }

    #[test]
    fn labels_are_written_once_and_read_back_with_their_weights() {
        let mut c = content();
        c.labels[2] = vec!["rock".into()];
        c.label_weights[2] = vec![9];
        let bytes = postcard::to_allocvec(&c).unwrap();
        assert_eq!(
            bytes.windows(4).filter(|w| w == b"rock").count(),
            2,
            "\"rock\" and \"indie rock\", each once"
        );
        let back: Content = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, c);
        // An index past the vocabulary is refused, not a panic.
        let mut wire = ContentWire::from(c);
        wire.labels[0][0].0 = 99;
        let bytes = postcard::to_allocvec(&wire).unwrap();
        assert!(postcard::from_bytes::<Content>(&bytes).is_err());
    }

    #[test]
    fn labels_filter_and_match() {
        let c = content();
        assert!(c.has_label(1, "Rock") && !c.has_label(0, "rock"));
        assert_eq!(
            c.matching_labels(1, "some indie songs"),
            vec!["indie rock".to_string()]
        );
    }

    #[test]
    fn standardize_gives_zero_mean_unit_variance_over_kept_entries() {
        let mut x = vec![1.0, 2.0, 3.0, 100.0];
        standardize(&mut x, &[true, true, true, false]);
        assert!((x[0] + 1.2247).abs() < 1e-3 && x[1].abs() < 1e-6 && x[3] == 100.0);
    }
}
