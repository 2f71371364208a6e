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

/// Item metadata from every source, on one path: catalogues joined by id
/// (HetRec's tags where `data` is a HetRec directory, then the items files
/// of `ds`) and one joined by name (`spotify`, by default
/// `spotify-artists/data_w_genres.csv` beside a HetRec directory: an items
/// file whose ids are not the plays' ids). Each source adds its tags'
/// votes and genres; audio features and years come from the first that
/// has them, the name-joined one before the items files. The embedded
/// default (no `data`, no items files) is its synthetic catalogue.
pub fn metadata(
    data: Option<&Path>,
    ds: &Dataset,
    spotify: Option<&Path>,
) -> Result<Vec<ItemMeta>> {
    use crate::data::hetrec_tags;
    use crate::data::items::{Catalogue, CatalogueItem, ItemsFormat};
    if data.is_none() && ds.catalogue.is_none() {
        let cfg = SynthConfig::default();
        return Ok(synth_meta(&synth::generate(cfg), cfg.seed));
    }
    let hetrec = data.filter(|p| p.is_dir());
    let taggings = hetrec
        .map(|dir| hetrec_tags::hetrec_taggings(dir, ds))
        .transpose()?;
    let tags = taggings.as_ref().map(|t| hetrec_tags::tag_catalogue(t, ds));
    let spotify = spotify.map(Path::to_path_buf).or_else(|| {
        let guess = hetrec?.join("../spotify-artists/data_w_genres.csv");
        guess.is_file().then_some(guess)
    });
    let by_name_file = match &spotify {
        Some(p) => {
            let mut c = Catalogue::default();
            c.read(p, &ItemsFormat::default())?;
            Some(c)
        }
        None => None,
    };
    // Where a name repeats, its most popular item (then the first) joins.
    let mut by_name: std::collections::HashMap<String, &CatalogueItem> = Default::default();
    for item in by_name_file.iter().flat_map(|c| &c.items) {
        let pop = |c: &CatalogueItem| c.popularity.unwrap_or(0.0);
        by_name
            .entry(content::normalize(&item.name))
            .and_modify(|kept| {
                if pop(item) > pop(kept) {
                    *kept = item;
                }
            })
            .or_insert(item);
    }
    let mut matched = 0;
    let meta: Vec<ItemMeta> = ds
        .item_ids
        .iter()
        .zip(&ds.item_names)
        .map(|(id, name)| {
            let mut m = ItemMeta::default();
            if let Some(c) = tags.as_ref().and_then(|t| t.get(id)) {
                m.add(&ItemMeta::from_catalogue(c));
            }
            if let Some(c) = by_name.get(&content::normalize(name)) {
                m.add(&ItemMeta::from_catalogue(c));
                matched += 1;
            }
            if let Some(c) = ds.catalogue.as_ref().and_then(|c| c.get(id)) {
                m.add(&ItemMeta::from_catalogue(c));
            }
            m
        })
        .collect();
    tracing::info!(
        items = ds.n_items(),
        tagged = meta.iter().filter(|m| !m.tags.is_empty()).count(),
        tags = taggings.as_ref().map_or(0, |t| t.tags.len()),
        merged_spellings = taggings.as_ref().map_or(0, |t| t.merged_spellings),
        matched_by_name = matched,
        "item metadata"
    );
    Ok(meta)
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
