//! Item content: a text per item (name, HetRec tags aggregated over users,
//! Spotify genres where the artist matches by name) embedded by MiniLM, and
//! standardised Spotify audio features where known.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use timbral_core::encoder::Encoder;
use timbral_core::{Content, QMatrix};

use crate::data::hetrec::{decode_text, lines};
use crate::data::{DataError, Dataset};

/// Tags kept per item (most-used first).
pub const MAX_TAGS: usize = 12;
/// Weight of the audio part in `[text ‖ w·audio]`.
pub const AUDIO_WEIGHT: f32 = 0.5;
/// Spotify's artist-level audio features used, in order.
pub const AUDIO_FEATURES: &[&str] = &[
    "acousticness",
    "danceability",
    "energy",
    "instrumentalness",
    "liveness",
    "loudness",
    "speechiness",
    "tempo",
    "valence",
];

/// What we know about one item before embedding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemMeta {
    pub tags: Vec<String>,
    pub genres: Vec<String>,
    pub audio: Option<Vec<f32>>,
}

impl ItemMeta {
    /// The text MiniLM embeds.
    pub fn text(&self, name: &str) -> String {
        let mut t = name.to_string();
        if !self.tags.is_empty() {
            t.push_str(". ");
            t.push_str(&self.tags.join(", "));
        }
        if !self.genres.is_empty() {
            t.push_str(". ");
            t.push_str(&self.genres.join(", "));
        }
        t
    }

    /// Tags then genres, deduplicated.
    pub fn labels(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in self.tags.iter().chain(&self.genres) {
            if !out.iter().any(|o| o == l) {
                out.push(l.clone());
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

fn read(path: &Path) -> Result<String, DataError> {
    Ok(decode_text(&crate::data::read_file(path)?))
}

/// Top tags of every HetRec artist in `ds`, weighted by how many users gave
/// them (case-folded, deduplicated).
pub fn hetrec_tags(dir: &Path, ds: &Dataset) -> Result<Vec<Vec<String>>, DataError> {
    let tags_path = dir.join("tags.dat");
    let mut tag_names: HashMap<String, String> = HashMap::new();
    for (_, l) in lines(&read(&tags_path)?).skip(1) {
        if let Some((id, value)) = l.split_once('\t') {
            let v = normalize(value);
            if !v.is_empty() {
                tag_names.insert(id.trim().to_string(), v);
            }
        }
    }
    let index: HashMap<&str, usize> = ds
        .item_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    // (item, tag) → distinct users
    let mut users: HashMap<(usize, String), Vec<String>> = HashMap::new();
    let ta_path = dir.join("user_taggedartists.dat");
    for (_, l) in lines(&read(&ta_path)?).skip(1) {
        let f: Vec<&str> = l.split('\t').collect();
        if f.len() < 3 {
            continue;
        }
        let (Some(&item), Some(tag)) = (index.get(f[1].trim()), tag_names.get(f[2].trim())) else {
            continue;
        };
        users
            .entry((item, tag.clone()))
            .or_default()
            .push(f[0].trim().to_string());
    }
    let mut per_item: Vec<Vec<(usize, String)>> = vec![Vec::new(); ds.n_items()];
    for ((item, tag), mut us) in users {
        us.sort_unstable();
        us.dedup();
        per_item[item].push((us.len(), tag));
    }
    Ok(per_item
        .into_iter()
        .map(|mut t| {
            t.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            t.into_iter().take(MAX_TAGS).map(|(_, tag)| tag).collect()
        })
        .collect())
}

/// Spotify artists by normalised name: genres and raw audio features. Where
/// a name repeats, the entry with the most tracks wins.
/// Genres and raw audio features of a Spotify artist.
pub type SpotifyArtist = (Vec<String>, Vec<f32>);

pub fn spotify_artists(path: &Path) -> Result<HashMap<String, SpotifyArtist>, DataError> {
    let bytes = crate::data::read_file(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(&bytes[..]);
    let header = rdr
        .headers()
        .map_err(|e| DataError::File {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?
        .clone();
    let col = |name: &str| -> Result<usize, DataError> {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::File {
                path: path.to_path_buf(),
                problem: format!("no `{name}` column"),
            })
    };
    let (gi, ai, ci) = (col("genres")?, col("artists")?, col("count")?);
    let fi: Vec<usize> = AUDIO_FEATURES
        .iter()
        .map(|f| col(f))
        .collect::<Result<_, _>>()?;
    let mut best: HashMap<String, (f32, Vec<String>, Vec<f32>)> = HashMap::new();
    for rec in rdr.records().flatten() {
        if rec.len() != header.len() {
            continue;
        }
        let audio: Option<Vec<f32>> = fi
            .iter()
            .map(|&i| rec[i].trim().parse::<f32>().ok().filter(|v| v.is_finite()))
            .collect();
        let Some(audio) = audio else { continue };
        let genres: Vec<String> = rec[gi]
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|g| {
                normalize(g.trim_matches(|c: char| c == '\'' || c == '"' || c.is_whitespace()))
            })
            .filter(|g| !g.is_empty())
            .collect();
        let count: f32 = rec[ci].trim().parse().unwrap_or(0.0);
        let name = normalize(&rec[ai]);
        if best.get(&name).is_none_or(|b| count > b.0) {
            best.insert(name, (count, genres, audio));
        }
    }
    Ok(best.into_iter().map(|(k, (_, g, a))| (k, (g, a))).collect())
}

/// HetRec items' metadata: tags, and Spotify genres and audio features
/// where `spotify` is given and the artist matches by name.
pub fn hetrec_meta(
    dir: &Path,
    ds: &Dataset,
    spotify: Option<&Path>,
) -> Result<Vec<ItemMeta>, DataError> {
    let tags = hetrec_tags(dir, ds)?;
    let artists = match spotify {
        Some(p) => spotify_artists(p)?,
        None => HashMap::new(),
    };
    let meta: Vec<ItemMeta> = tags
        .into_iter()
        .zip(&ds.item_names)
        .map(|(tags, name)| {
            let (genres, audio) = match artists.get(&normalize(name)) {
                Some((g, a)) => (g.iter().take(MAX_TAGS).cloned().collect(), Some(a.clone())),
                None => (Vec::new(), None),
            };
            ItemMeta {
                tags,
                genres,
                audio,
            }
        })
        .collect();
    let matched = meta.iter().filter(|m| m.audio.is_some()).count();
    let tagged = meta.iter().filter(|m| !m.tags.is_empty()).count();
    tracing::info!(
        items = ds.n_items(),
        tagged,
        spotify_matched = matched,
        "item metadata"
    );
    Ok(meta)
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

/// Embeds every item's text (one text per plan run, spread over rayon's
/// pool) and assembles the `content` section.
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
    let embedded: Vec<Vec<f32>> = texts
        .par_iter()
        .map(|text| {
            let v = encoder.embed(text);
            bar.inc(1);
            v
        })
        .collect::<Result<_, _>>()?;
    bar.finish_and_clear();
    let dim = timbral_core::encoder::DIM;
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
        labels: meta.iter().map(ItemMeta::labels).collect(),
        model_sha256: encoder.model_sha256().to_string(),
        tokenizer_sha256: encoder.tokenizer_sha256().to_string(),
    })
}
