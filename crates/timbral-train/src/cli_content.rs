//! The content side of the CLI (feature `content`): encoder loading, item
//! metadata for each kind of data, and the `embed`, `similar` and `search`
//! commands.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use timbral_core::{Content, Model};
use timbral_encoder::Encoder;

use crate::content::{self, ItemMeta};
use crate::data::Dataset;
use crate::synth::{self, SynthConfig};

/// `models/minilm/` under the repository root: where `.ci/setup` puts the
/// model files.
pub fn default_model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/minilm")
}

/// Loads the encoder from `dir` (model.onnx + tokenizer.json).
pub fn load_encoder(dir: &Path) -> Result<Encoder> {
    let read = |f: &str| {
        let p = dir.join(f);
        std::fs::read(&p).with_context(|| {
            format!("{}: cannot read the text encoder's file (run `bash .ci/setup`, or pass --model-dir)", p.display())
        })
    };
    let t = std::time::Instant::now();
    let e = Encoder::from_bytes(read("model.onnx")?, &read("tokenizer.json")?)
        .with_context(|| format!("{}: cannot load the text encoder", dir.display()))?;
    tracing::info!(
        secs = format!("{:.2}", t.elapsed().as_secs_f64()),
        "loaded the MiniLM encoder"
    );
    Ok(e)
}

/// Item metadata for whatever `data` is: HetRec tags (+ Spotify genres and
/// audio features when `spotify` exists), the synthetic catalogue, or
/// names; and what `ds`'s items files say, merged in.
pub fn metadata(
    data: Option<&Path>,
    ds: &Dataset,
    spotify: Option<&Path>,
) -> Result<Vec<ItemMeta>> {
    let mut meta = base_metadata(data, ds, spotify)?;
    if let Some(c) = &ds.catalogue {
        for (m, id) in meta.iter_mut().zip(&ds.item_ids) {
            if let Some(item) = c.get(id) {
                m.add(&ItemMeta::from_catalogue(item));
            }
        }
    }
    Ok(meta)
}

fn base_metadata(
    data: Option<&Path>,
    ds: &Dataset,
    spotify: Option<&Path>,
) -> Result<Vec<ItemMeta>> {
    if data.is_none() && ds.catalogue.is_some() {
        return Ok(vec![ItemMeta::default(); ds.n_items()]);
    }
    match data {
        None => {
            let cfg = SynthConfig::default();
            Ok(synth_meta(&synth::generate(cfg), cfg.seed))
        }
        Some(p) if p.is_dir() => {
            let spotify = spotify.map(Path::to_path_buf).or_else(|| {
                let guess = p.join("../spotify-artists/data_w_genres.csv");
                guess.is_file().then_some(guess)
            });
            Ok(content::hetrec_meta(p, ds, spotify.as_deref())?)
        }
        Some(_) => Ok(vec![ItemMeta::default(); ds.n_items()]),
    }
}

/// The embedded default's catalogue as item metadata.
pub fn synth_meta(s: &synth::Synthetic, seed: u64) -> Vec<ItemMeta> {
    synth::catalogue(s, seed)
        .into_iter()
        .map(|c| ItemMeta {
            tags: c.tags,
            genres: vec![c.genre.to_string()],
            audio: Some(c.audio),
            year: Some(c.year),
        })
        .collect()
}

/// Embeds the catalogue.
pub fn build(
    encoder: &Encoder,
    ds: &Dataset,
    meta: &[ItemMeta],
    progress: bool,
) -> Result<Content> {
    Ok(content::build_content(
        encoder,
        &ds.item_names,
        meta,
        progress,
    )?)
}

/// Refuses an encoder whose files differ from the ones the bundle was built with.
pub fn check_encoder(model: &Model, encoder: &Encoder) -> Result<()> {
    model.check_encoder(encoder.model_sha256(), encoder.tokenizer_sha256())?;
    Ok(())
}

/// Search precision: the `n` labels carried by most items, each used as a
/// query; the share of the top 10 (by [`Model::search`]) that carry it.
pub fn search_precision(
    model: &Model,
    encoder: &Encoder,
    n: usize,
) -> Result<(f64, Vec<(String, f64)>)> {
    let c = model.content().context("no content vectors")?;
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for labels in &c.labels {
        for l in labels {
            *counts.entry(l.as_str()).or_default() += 1;
        }
    }
    let mut top: Vec<(&str, usize)> = counts.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut per = Vec::new();
    for (tag, _) in top.into_iter().take(n) {
        let q = encoder.embed(tag)?;
        let hits = model.search(tag, &q, None, 10)?;
        let carry = hits
            .iter()
            .filter(|s| c.labels[s.index as usize].iter().any(|l| l == tag))
            .count();
        per.push((tag.to_string(), carry as f64 / hits.len().max(1) as f64));
    }
    let mean = per.iter().map(|p| p.1).sum::<f64>() / per.len().max(1) as f64;
    Ok((mean, per))
}
