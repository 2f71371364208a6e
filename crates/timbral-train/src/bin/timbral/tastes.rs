//! `timbral session`, `simulate` and `autofill`: the listener-side commands,
//! over the same core code the wasm package and the Worker run.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, Result};
use timbral_core::taste::Session;
use timbral_core::Scored;
use timbral_train::simulate::{self, SimConfig, Strategy};

use crate::output::{print_rows, read_bundle, Rec};

/// Reads JSON Lines commands from `input` until it ends; answers each with
/// one JSON line. A bad command gets `{"ok":false,"error":…,"line":N}`.
pub(crate) fn session(bundle: &Path, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<()> {
    let model = read_bundle(bundle)?;
    let mut s = Session::default();
    let mut line = String::new();
    let mut n = 0usize;
    loop {
        line.clear();
        if input.read_line(&mut line).context("reading a command")? == 0 {
            return Ok(());
        }
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut v = s.answer(&model, &line);
        if v.get("error").is_some() {
            v["line"] = n.into();
        }
        serde_json::to_writer(&mut *out, &v)?;
        writeln!(out)?;
        out.flush()?;
    }
}

pub(crate) fn simulate(
    bundle: &Path,
    cfg: &SimConfig,
    strategies: &[Strategy],
    plot: Option<&Path>,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    anyhow::ensure!(
        (1..=timbral_core::listener::MAX_K).contains(&cfg.k),
        "--k must be between 1 and {}",
        timbral_core::listener::MAX_K
    );
    anyhow::ensure!(
        cfg.listeners > 0 && cfg.rounds > 0,
        "--listeners and --rounds must be at least 1"
    );
    let model = read_bundle(bundle)?;
    let report = simulate::simulate(&model, cfg, strategies)
        .map_err(|e| anyhow::anyhow!("{}: {e}", bundle.display()))?;
    if let Some(p) = plot {
        let title = format!(
            "{}: like-rate per round, {} listeners, seed {}",
            bundle
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
            cfg.listeners,
            cfg.seed
        );
        let svg = simulate::plot_svg(&report, &title).map_err(anyhow::Error::msg)?;
        timbral_train::write::atomic(p, svg.as_bytes())?;
    }
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{report}")?;
        if let Some(p) = plot {
            writeln!(out, "curves: {}", p.display())?;
        }
    }
    Ok(())
}

pub(crate) fn autofill(
    bundle: &Path,
    seeds: &[String],
    exclude: &[String],
    k: usize,
    lambda: f32,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&lambda),
        "--lambda must be between 0 and 1, got {lambda}"
    );
    let model = read_bundle(bundle)?;
    let index = |ids: &[String], flag: &str| -> Result<Vec<u32>> {
        ids.iter()
            .filter(|s| !s.trim().is_empty())
            .map(|id| {
                model
                    .item_index(id.trim())
                    .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
            })
            .collect()
    };
    let s = index(seeds, "--seeds")?;
    let x = index(exclude, "--exclude")?;
    let list: Vec<Scored> = model.autofill(&s, &x, k, lambda)?;
    let rows: Vec<Rec<'_>> = list
        .iter()
        .enumerate()
        .map(|(r, s)| Rec {
            rank: r + 1,
            item: model.item_id(s.index),
            name: model.item_name(s.index),
            score: s.score,
            parts: None,
            tags: Some(model.tags(s.index).iter().take(3).cloned().collect()),
        })
        .collect();
    let names: Vec<&str> = s.iter().map(|&i| model.item_name(i)).collect();
    print_rows(
        out,
        &rows,
        json,
        &format!(
            "Playlist continuing {} (MMR, λ = {lambda}):",
            names.join(", ")
        ),
    )
}
