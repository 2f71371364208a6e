//! `timbral mood train`, and reading a mood model for `train --mood-model`.

use std::io::Write;
use std::path::Path;

#[cfg_attr(not(feature = "content"), allow(unused_imports))]
use anyhow::{bail, Context, Result};

use crate::args::DataArgs;

/// Reads and checks a mood model file.
#[cfg(feature = "content")]
pub(crate) fn read(path: &Path) -> Result<timbral_train::mood::MoodModel> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: cannot read the mood model", path.display()))?;
    timbral_train::mood::MoodModel::from_bytes(&bytes)
        .with_context(|| format!("{}: cannot load the mood model", path.display()))
}

#[cfg_attr(not(feature = "content"), allow(dead_code))]
pub(crate) struct TrainArgs<'a> {
    pub(crate) data: &'a DataArgs,
    pub(crate) model_dir: Option<&'a Path>,
    pub(crate) out: &'a Path,
    pub(crate) folds: usize,
    pub(crate) seed: u64,
    pub(crate) json: bool,
    pub(crate) progress: bool,
}

/// Embeds the measured items, fits the model, prints its CV table (and the
/// text-neighbour prediction's, for comparison), writes it.
#[cfg(feature = "content")]
pub(crate) fn train(a: TrainArgs<'_>, out: &mut dyn Write) -> Result<()> {
    use timbral_train::mood::{self, features::ItemInputs};
    use timbral_train::{cli_content, content};

    let ds = a.data.load()?;
    let meta = cli_content::metadata(a.data.data.as_deref(), &ds, None)?;
    let measured: Vec<usize> = (0..meta.len())
        .filter(|&i| meta[i].audio.as_ref().is_some_and(|v| v.len() == 9))
        .collect();
    if measured.len() < 2 * a.folds.max(2) {
        bail!(
            "{}: {} of {} items have all nine audio features measured; the mood model needs at least {} (and an items file with acousticness … valence columns)",
            ds.source,
            measured.len(),
            ds.n_items(),
            2 * a.folds.max(2)
        );
    }
    let dir = a
        .model_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(cli_content::default_model_dir);
    let encoder = cli_content::load_encoder(&dir)?;
    let names: Vec<String> = measured.iter().map(|&i| ds.item_names[i].clone()).collect();
    let sub: Vec<content::ItemMeta> = measured.iter().map(|&i| meta[i].clone()).collect();
    let text = content::build_content(&encoder, &names, &sub, a.progress)?;
    let popularity = mood::popularity(&ds);
    let inputs: Vec<ItemInputs> = measured
        .iter()
        .enumerate()
        .map(|(j, &i)| ItemInputs::new(&meta[i], text.text.dequantize_row(j), popularity[i]))
        .collect();
    let audio: Vec<[f32; 9]> = sub
        .iter()
        .map(|m| {
            m.audio
                .as_deref()
                .and_then(|v| v.try_into().ok())
                .expect("measured")
        })
        .collect();
    let opts = mood::TrainOptions::new(
        a.folds,
        a.seed,
        encoder.model_sha256(),
        encoder.tokenizer_sha256(),
    );
    let t = std::time::Instant::now();
    let model = mood::train(&inputs, &audio, timbral_encoder::DIM, &opts)
        .map_err(|e| anyhow::anyhow!("{}: {e}", ds.source))?;
    tracing::info!(
        secs = format!("{:.1}", t.elapsed().as_secs_f64()),
        "fitted the mood model"
    );
    let neighbours = timbral_train::facts::cross_validate(&sub, &text, a.folds);
    if a.json {
        serde_json::to_writer_pretty(
            &mut *out,
            &serde_json::json!({
                "cv": model.cv,
                "neighbours": neighbours.as_ref().map(|n| serde_json::json!({
                    "items": n.items,
                    "energy_rmse": n.energy_rmse.0,
                    "valence_rmse": n.valence_rmse.0,
                    "mood_f1": n.mood_f1.0,
                })),
            }),
        )?;
        writeln!(out)?;
    } else {
        write!(out, "{}", model.cv)?;
        if let Some(n) = neighbours {
            writeln!(
                out,
                "  for comparison, nearest measured items in text space (the default without a model), {} items: energy RMSE {:.3}, valence RMSE {:.3}, moods micro-F1 {:.3}",
                n.items, n.energy_rmse.0, n.valence_rmse.0, n.mood_f1.0
            )?;
        }
    }
    let bytes = model.to_bytes();
    timbral_train::write::atomic(a.out, &bytes)?;
    if !a.json {
        writeln!(out, "wrote {} ({} bytes)", a.out.display(), bytes.len())?;
    }
    Ok(())
}

#[cfg(not(feature = "content"))]
pub(crate) fn train(_: TrainArgs<'_>, _: &mut dyn Write) -> Result<()> {
    bail!("this build has no text encoder (feature `content`): the mood model reads text vectors")
}
