//! Reading a bundle and printing recommendation lists, as a table or JSON.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use timbral_core::{Fusion, FusionWeights, Model, Recommendation, Scored};

use crate::args::RecommendArgs;

pub(crate) fn read_bundle(path: &Path) -> Result<Model> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: cannot read the bundle", path.display()))?;
    Model::from_bytes(&bytes).with_context(|| format!("{}: refused", path.display()))
}

#[derive(Serialize)]
pub(crate) struct Rec<'a> {
    pub(crate) rank: usize,
    pub(crate) item: &'a str,
    pub(crate) name: &'a str,
    pub(crate) score: f32,
    /// The standardised parts of a fused score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) parts: Option<Parts>,
    /// Labels that matched a search query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tags: Option<Vec<String>>,
}

#[derive(Serialize)]
pub(crate) struct Parts {
    pub(crate) cf: f32,
    pub(crate) content: f32,
    pub(crate) popularity: f32,
}

pub(crate) fn rec_rows<'a>(model: &'a Model, recs: &[Recommendation]) -> Vec<Rec<'a>> {
    let fused = model.content().is_some();
    recs.iter()
        .enumerate()
        .map(|(r, s)| Rec {
            rank: r + 1,
            item: model.item_id(s.index),
            name: model.item_name(s.index),
            score: s.score,
            parts: fused.then_some(Parts {
                cf: s.cf,
                content: s.content,
                popularity: s.popularity,
            }),
            tags: None,
        })
        .collect()
}

pub(crate) fn print_rows(
    out: &mut dyn Write,
    rows: &[Rec<'_>],
    json: bool,
    title: &str,
) -> Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, rows)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{title}")?;
    writeln!(out, "{:>4}  {:<14} {:>8}  name", "rank", "item", "score")?;
    for r in rows {
        let extra = match (&r.parts, &r.tags) {
            (_, Some(t)) if !t.is_empty() => format!("  [{}]", t.join(", ")),
            (Some(p), _) => format!(
                "  (cf {:+.2}, content {:+.2}, pop {:+.2})",
                p.cf, p.content, p.popularity
            ),
            _ => String::new(),
        };
        writeln!(
            out,
            "{:>4}  {:<14} {:>8.4}  {}{extra}",
            r.rank, r.item, r.score, r.name
        )?;
    }
    Ok(())
}

/// The fusion to use: explicit weights, else the bundle's learned weights
/// when it has content, else plain CF.
pub(crate) fn fusion(a: &RecommendArgs, model: &Model) -> Result<Option<Fusion>> {
    if let Some(w) = &a.weights {
        let w = match w[..] {
            [alpha, beta, gamma] => FusionWeights {
                alpha,
                beta,
                gamma,
                ..FusionWeights::default()
            },
            [alpha, beta, gamma, cold] => FusionWeights {
                alpha,
                beta,
                gamma,
                cold,
            },
            _ => bail!(
                "--weights takes 3 or 4 numbers (α,β,γ[,κ]), got {}",
                w.len()
            ),
        };
        w.validate().map_err(anyhow::Error::msg)?;
        return Ok(Some(Fusion {
            weights: w,
            short: w,
            short_max_items: 0,
        }));
    }
    Ok(model.content().is_some().then(|| model.fusion()))
}

/// A known user's top `k`, fused where `fusion` is given, as `recommend`
/// and `precompute` rank them.
pub(crate) fn user_recs(
    model: &Model,
    fusion: Option<Fusion>,
    u: u32,
    k: usize,
) -> Vec<Recommendation> {
    match fusion {
        Some(f) => {
            let w = f.for_history(model.user_history(u).0.len());
            model.recommend_fused_user(u, k, w)
        }
        None => plain(model.recommend_user(u, k)),
    }
}

pub(crate) fn plain(recs: Vec<Scored>) -> Vec<Recommendation> {
    recs.into_iter().map(Recommendation::from).collect()
}
