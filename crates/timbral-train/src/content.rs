//! Item content: a text per item (name, HetRec tags aggregated over users,
//! Spotify genres where the artist matches by name) embedded by MiniLM, and
//! standardised Spotify audio features where known.

use rayon::prelude::*;
use timbral_core::search::label_key;
use timbral_core::{Content, QMatrix};
use timbral_encoder::Encoder;

/// Tags kept per item (most-used first).
pub const MAX_TAGS: usize = 12;
/// Weight of the audio part in `[text ‖ w·audio]`.
pub const AUDIO_WEIGHT: f32 = 0.5;
/// Spotify's audio features, in the order the bundle stores them.
pub use crate::data::items::AUDIO_FEATURES;

/// What we know about one item before embedding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemMeta {
    /// Tags with their votes (the listeners who gave them), heaviest first.
    pub tags: Vec<(String, u32)>,
    pub genres: Vec<String>,
    /// Measured audio features, in [`AUDIO_FEATURES`] order.
    pub audio: Option<Vec<f32>>,
    /// Release year.
    pub year: Option<u16>,
}

/// The votes a catalogue's genre counts for: one listener's tag.
pub const GENRE_VOTES: u32 = 1;

impl ItemMeta {
    /// What an items file says of an item. A file's tag weight `w` counts
    /// `10·w` votes (at least one), so weights of 0–1 and counts both work.
    pub fn from_catalogue(c: &crate::data::items::CatalogueItem) -> ItemMeta {
        let mut tags: Vec<(String, u32)> = c
            .tags
            .iter()
            .map(|(t, w)| (normalize(t), (w * 10.0).round().max(1.0) as u32))
            .filter(|(t, _)| !t.is_empty())
            .collect();
        tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        tags.truncate(MAX_TAGS);
        ItemMeta {
            tags,
            genres: c
                .genres
                .iter()
                .map(|g| normalize(g))
                .filter(|g| !g.is_empty())
                .collect(),
            audio: c.audio(),
            year: c.year,
        }
    }

    /// Adds another source's metadata: its tags' votes and its genres
    /// join these; its audio features fill in where these have none.
    pub fn add(&mut self, other: &ItemMeta) {
        for (t, v) in &other.tags {
            match self
                .tags
                .iter_mut()
                .find(|(x, _)| label_key(x) == label_key(t))
            {
                Some(x) => x.1 += v,
                None => self.tags.push((t.clone(), *v)),
            }
        }
        self.tags
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        self.tags.truncate(MAX_TAGS);
        for g in &other.genres {
            if !self.genres.contains(g) {
                self.genres.push(g.clone());
            }
        }
        self.genres.truncate(MAX_TAGS);
        if self.audio.is_none() {
            self.audio = other.audio.clone();
        }
        if self.year.is_none() {
            self.year = other.year;
        }
    }

    /// The text MiniLM embeds.
    pub fn text(&self, name: &str) -> String {
        let mut t = name.to_string();
        if !self.tags.is_empty() {
            t.push_str(". ");
            let tags: Vec<&str> = self.tags.iter().map(|(t, _)| t.as_str()).collect();
            t.push_str(&tags.join(", "));
        }
        if !self.genres.is_empty() {
            t.push_str(". ");
            t.push_str(&self.genres.join(", "));
        }
        t
    }

    /// Tags then genres with their votes; a genre that is also a tag (by
    /// [`label_key`]) adds its vote to the tag's.
    pub fn labels(&self) -> Vec<(String, u32)> {
        let mut out: Vec<(String, u32)> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let genres = self.genres.iter().map(|g| (g, GENRE_VOTES));
        for (l, votes) in self.tags.iter().map(|(t, v)| (t, *v)).chain(genres) {
            let key = label_key(l);
            match keys.iter().position(|k| *k == key) {
                Some(at) => out[at].1 += votes,
                None => {
                    keys.push(key);
                    out.push((l.clone(), votes));
                }
            }
        }
        out
    }
}

/// Case-folds and trims a tag or name, collapsing inner whitespace.
pub fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Standardises audio features over the items that have them, then scales
/// each row to unit length; unknown rows stay zero.
pub fn audio_matrix(meta: &[ItemMeta]) -> QMatrix {
    let a = AUDIO_FEATURES.len();
    let known: Vec<&Vec<f32>> = meta.iter().filter_map(|m| m.audio.as_ref()).collect();
    let n = known.len().max(1) as f32;
    let mean: Vec<f32> = (0..a)
        .map(|j| known.iter().map(|v| v[j]).sum::<f32>() / n)
        .collect();
    let std: Vec<f32> = (0..a)
        .map(|j| {
            (known.iter().map(|v| (v[j] - mean[j]).powi(2)).sum::<f32>() / n)
                .sqrt()
                .max(1e-6)
        })
        .collect();
    let mut out = vec![0f32; meta.len() * a];
    for (i, m) in meta.iter().enumerate() {
        if let Some(v) = &m.audio {
            let row = &mut out[i * a..(i + 1) * a];
            for j in 0..a {
                row[j] = (v[j] - mean[j]) / std[j];
            }
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
    }
    QMatrix::quantize(&out, meta.len(), a)
}

/// Texts a thread embeds at once, of neighbouring token lengths: a few
/// full batches (`timbral_encoder::MAX_BATCH`) of one length each.
const EMBED_CHUNK: usize = 4 * timbral_encoder::MAX_BATCH;

/// Embeds every item's text (chunks of them spread over rayon's pool) and
/// assembles the `content` section.
pub fn build_content(
    encoder: &Encoder,
    names: &[String],
    meta: &[ItemMeta],
    progress: bool,
) -> Result<Content, timbral_core::Error> {
    let texts: Vec<String> = meta.iter().zip(names).map(|(m, n)| m.text(n)).collect();
    let bar = if progress {
        indicatif::ProgressBar::new(texts.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "embed [{bar:30}] {pos}/{len} items  {elapsed_precise}  eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let t = std::time::Instant::now();
    // Texts in order of token length, in fixed chunks: each chunk is one
    // or two lengths, so `embed_batch` fills whole batches of one length.
    // The chunks, so the vectors, are the same for any number of threads.
    let lens: Vec<usize> = texts
        .par_iter()
        .map(|t| encoder.tokenize(t).map(|ids| ids.len()))
        .collect::<Result<_, _>>()?;
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| (lens[i], i));
    let chunks: Vec<Vec<Vec<f32>>> = order
        .par_chunks(EMBED_CHUNK)
        .map(|chunk| {
            let refs: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
            let v = encoder.embed_batch(&refs);
            bar.inc(chunk.len() as u64);
            v
        })
        .collect::<Result<_, _>>()?;
    let mut embedded = vec![Vec::new(); texts.len()];
    for (&i, v) in order.iter().zip(chunks.into_iter().flatten()) {
        embedded[i] = v;
    }
    bar.finish_and_clear();
    let dim = timbral_encoder::DIM;
    let labels: Vec<Vec<(String, u32)>> = meta.iter().map(ItemMeta::labels).collect();
    let vectors = embedded.concat();
    let secs = t.elapsed().as_secs_f64();
    tracing::info!(
        items = texts.len(),
        secs = format!("{secs:.1}"),
        per_sec = format!("{:.0}", texts.len() as f64 / secs),
        "embedded item texts"
    );
    Ok(Content {
        text: QMatrix::quantize(&vectors, texts.len(), dim),
        audio: audio_matrix(meta),
        audio_weight: AUDIO_WEIGHT,
        labels: labels
            .iter()
            .map(|l| l.iter().map(|(t, _)| t.clone()).collect())
            .collect(),
        label_weights: labels
            .iter()
            .map(|l| l.iter().map(|&(_, v)| v).collect())
            .collect(),
        model_sha256: encoder.model_sha256().to_string(),
        tokenizer_sha256: encoder.tokenizer_sha256().to_string(),
        projection: None,
    })
}
