//! The commands that read a bundle or the embedded default and print:
//! recommend, similar, search, inspect, demo; and the content a training
//! or evaluation run embeds (`content_for`).

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use timbral_core::{bundle, AlsParams, Model};
use timbral_train::cf_tune::Search;
use timbral_train::data::{self, Dataset, ReadOptions};
use timbral_train::synth::{self, SynthConfig};
use timbral_train::{eval, write};

use crate::args::{ContentArgs, DataArgs, RecommendArgs};
use crate::output::*;

pub(crate) fn recommend(a: &RecommendArgs, out: &mut dyn Write) -> Result<()> {
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    let model = read_bundle(&a.bundle)?;
    let w = fusion(a, &model)?;
    let for_user = |u: u32| user_recs(&model, w, u, a.k);
    if let Some(user) = &a.user {
        let recs = for_user(model.user_index(user)?);
        return print_rows(
            out,
            &rec_rows(&model, &recs),
            a.json,
            &format!("Top {} for user {user}", a.k),
        );
    }
    if let Some(path) = &a.history {
        let (rows, report) = data::read_history(
            path,
            ReadOptions {
                skip_bad_rows: a.skip_bad_rows,
            },
        )?;
        let mut history = Vec::with_capacity(rows.len());
        let mut unknown = Vec::new();
        for r in &rows {
            match model.item_index(&r.item) {
                Ok(i) => history.push((i, r.plays)),
                Err(e) if !a.skip_bad_rows => bail!("{}:{}: {e}", path.display(), r.line),
                Err(_) => unknown.push(format!("line {}: `{}`", r.line, r.item)),
            }
        }
        if report.bad_rows > 0 || !unknown.is_empty() {
            let first: Vec<String> = report
                .first_bad
                .iter()
                .chain(unknown.iter())
                .take(5)
                .cloned()
                .collect();
            tracing::warn!(
                "{}: skipped {} malformed rows and {} unknown items ({})",
                path.display(),
                report.bad_rows,
                unknown.len(),
                first.join("; ")
            );
        }
        if history.is_empty() {
            bail!("{}: no known items in the history", path.display());
        }
        let recs = match w {
            Some(f) => {
                model.recommend_fused_history(&history, a.k, f.for_history(history.len()))?
            }
            None => plain(model.recommend_history(&history, a.k)?),
        };
        let title = format!(
            "Top {} for a new listener with {} items (folded in)",
            a.k,
            history.len()
        );
        return print_rows(out, &rec_rows(&model, &recs), a.json, &title);
    }
    if a.all_users {
        if model.is_client() {
            bail!(
                "{}: a client bundle holds no training listener to precompute for; use the full bundle",
                a.bundle.display()
            );
        }
        let fill = |out: &mut dyn Write| -> std::io::Result<()> {
            for u in 0..model.n_users() as u32 {
                for (r, s) in for_user(u).iter().enumerate() {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        model.user_id(u),
                        model.item_id(s.index),
                        r + 1,
                        s.score
                    )?;
                }
            }
            Ok(())
        };
        return match &a.out {
            Some(p) => {
                write::atomic_with(p, fill)?;
                tracing::info!(
                    "wrote top-{} for {} users to {}",
                    a.k,
                    model.n_users(),
                    p.display()
                );
                Ok(())
            }
            None => Ok(fill(out)?),
        };
    }
    bail!("say whom to recommend for: --user ID, --history FILE or --all-users")
}

#[cfg(feature = "content")]
pub(crate) fn similar(
    bundle: &Path,
    item: &str,
    k: usize,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let model = read_bundle(bundle)?;
    let i = model.item_index(item)?;
    let recs = model.similar(i, k)?;
    let mut rows = rec_rows(&model, &plain(recs));
    for r in &mut rows {
        r.parts = None;
    }
    print_rows(
        out,
        &rows,
        json,
        &format!("Most similar to {} ({item})", model.item_name(i)),
    )
}

/// What to search for: the query, a genre, filters by item facts.
#[cfg(feature = "content")]
pub(crate) struct SearchQuery<'a> {
    pub(crate) text: &'a str,
    pub(crate) genre: Option<&'a str>,
    pub(crate) filter: timbral_core::facts::Filter,
    pub(crate) k: usize,
}

#[cfg(feature = "content")]
pub(crate) fn search(
    bundle: &Path,
    sq: &SearchQuery<'_>,
    json: bool,
    model_dir: &Path,
    out: &mut dyn Write,
) -> Result<()> {
    use timbral_train::cli_content;
    let (query, genre, filter, k) = (sq.text, sq.genre, &sq.filter, sq.k);
    let model = read_bundle(bundle)?;
    let encoder = cli_content::load_encoder(model_dir)?;
    cli_content::check_encoder(&model, &encoder)?;
    let q = encoder.embed(query)?;
    let hits = model.search_filtered(query, &q, genre, filter, k)?;
    let content = model.content().expect("checked");
    let mut rows = rec_rows(&model, &plain(hits.clone()));
    for (r, h) in rows.iter_mut().zip(&hits) {
        r.parts = None;
        r.tags = Some(content.matching_labels(h.index as usize, query));
    }
    let mut title = match genre {
        Some(g) => format!("Search \"{query}\" in genre \"{g}\""),
        None => format!("Search \"{query}\""),
    };
    if let Some(r) = filter.years {
        title.push_str(&format!(", years {}..{}", r.min, r.max));
    }
    if let Some(r) = filter.energy {
        title.push_str(&format!(", energy {}..{}", r.min, r.max));
    }
    if let Some(m) = filter.mood {
        title.push_str(&format!(", mood {}", timbral_core::facts::MOODS[m]));
    }
    print_rows(out, &rows, json, &title)
}
pub(crate) fn inspect(path: &Path, json: bool, out: &mut dyn Write) -> Result<()> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: cannot read the bundle", path.display()))?;
    let info = Model::inspect(&bytes).with_context(|| format!("{}: refused", path.display()))?;
    let model =
        Model::from_bytes(&bytes).with_context(|| format!("{}: refused", path.display()))?;
    let meta = model.meta();
    let nnz = model.parts().user_items.nnz();
    if json {
        let sections: Vec<_> = info
            .sections
            .iter()
            .map(|s| {
                serde_json::json!({
                    "kind": s.kind, "name": s.name, "bytes": s.stored, "raw_bytes": s.raw,
                    "codec": codec_name(s.codec),
                })
            })
            .collect();
        let v = serde_json::json!({
            "path": path, "bytes": info.total_len, "format_version": info.version,
            "checksum": format!("{:08x}", info.checksum), "sections": sections,
            "users": model.n_users(), "items": model.n_items(), "plays": nnz,
            "client": model.is_client(),
            "bytes_per_item": info.total_len as f64 / model.n_items().max(1) as f64,
            "params": meta.params, "source": meta.source, "trainer": meta.trainer,
            "cf": model.cf_kind(),
            "item_item": model.item_item().map(|ii| serde_json::json!({
                "method": ii.method, "params": ii.params, "blend": ii.blend,
                "neighbours": ii.nnz(),
            })),
            "cf_choice": model.parts().cf_choice,
            "genre_clusters": model.parts().genre_clusters.as_ref().map(|g| serde_json::json!({
                "names": g.names, "excluded": g.excluded, "silhouette_by_k": g.criterion,
            })),
        });
        serde_json::to_writer_pretty(&mut *out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "bundle    {} ({} bytes)",
        path.display(),
        info.total_len
    )?;
    writeln!(
        out,
        "format    version {}, CRC-32 {:08x} over {} payload bytes",
        info.version, info.checksum, info.payload_len
    )?;
    writeln!(
        out,
        "source    {} (written by {})",
        meta.source, meta.trainer
    )?;
    if model.is_client() {
        writeln!(
            out,
            "counts    client bundle: no training listener; {} items",
            model.n_items()
        )?;
    } else {
        writeln!(
            out,
            "counts    {} users, {} items, {} plays",
            model.n_users(),
            model.n_items(),
            nnz
        )?;
    }
    writeln!(
        out,
        "per item  {:.0} bytes",
        info.total_len as f64 / model.n_items().max(1) as f64
    )?;
    let p = &meta.params;
    let (kind, steps) = match p.model {
        timbral_core::FactorModel::Als => ("implicit ALS", format!(", {} CG steps", p.cg_steps)),
        timbral_core::FactorModel::Nmf => ("NMF", String::new()),
        timbral_core::FactorModel::Bpr => ("BPR", String::new()),
        timbral_core::FactorModel::LightGcn => (
            "LightGCN",
            format!(", {} layers", timbral_core::lightgcn::LAYERS),
        ),
    };
    let rounds = match p.model {
        timbral_core::FactorModel::Bpr | timbral_core::FactorModel::LightGcn => "epochs",
        _ => "iterations",
    };
    writeln!(
        out,
        "model     {kind}: {} factors, {} {rounds}, regularization {}, alpha {}{steps}, seed {}",
        p.factors, p.iterations, p.regularization, p.alpha, p.seed
    )?;
    if p.reg_exponent != 0.0 {
        writeln!(
            out,
            "          frequency-scaled (iALS): λ·(n / {:.2})^{} for a listener with n plays",
            meta.user_reference, p.reg_exponent
        )?;
    }
    if let Some(ii) = model.item_item() {
        let params: Vec<String> = ii.params.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(
            out,
            "item-item {} ({}), {} neighbours; CF = {:.1}·factors + {:.1}·neighbours",
            ii.method,
            params.join(", "),
            ii.nnz(),
            ii.blend,
            1.0 - ii.blend
        )?;
    }
    if let Some(c) = &model.parts().cf_choice {
        writeln!(
            out,
            "tuning    {} chosen ({}) on a validation split of {} listeners' plays ({} plays; {} validation listeners): nDCG@10 {:.4}, factors alone {:.4}",
            c.chosen, c.kinds, c.listeners, c.plays, c.validation_listeners, c.ndcg10, c.factors_ndcg10
        )?;
        let mut best: Vec<_> = c.table.iter().collect();
        best.sort_by(|a, b| b.ndcg10.total_cmp(&a.ndcg10));
        let line: Vec<String> = best
            .iter()
            .take(5)
            .map(|t| {
                let p: Vec<String> = t.params.iter().map(|(k, v)| format!("{k} {v}")).collect();
                format!("{} ({}) {:.4}", t.model, p.join(", "), t.ndcg10)
            })
            .collect();
        writeln!(
            out,
            "          best of {} candidates: {}",
            c.table.len(),
            line.join("; ")
        )?;
        for n in &c.notes {
            writeln!(out, "          {n}")?;
        }
    }
    if let Some(g) = &model.parts().genre_clusters {
        let best = g
            .criterion
            .iter()
            .find(|c| c.0 as usize >= g.names.len())
            .map_or(0.0, |c| c.1);
        writeln!(
            out,
            "clusters  {} genre clusters of {} labels (k by silhouette {best:.3}, tried {}..={}); kept out of pools: {}",
            g.names.len(),
            g.labels.len(),
            g.criterion.first().map_or(0, |c| c.0),
            g.criterion.last().map_or(0, |c| c.0),
            g.excluded.join(", ")
        )?;
        for (c, name) in g.names.iter().enumerate() {
            writeln!(out, "  {c:>3}  {name}")?;
        }
    }
    writeln!(out, "sections  (bytes in the file; raw: once inflated)")?;
    for s in &info.sections {
        let (kind, name, stored) = (s.kind, s.name, s.stored);
        write!(out, "  {kind:>3}  {name:<14} {stored:>10} bytes")?;
        if s.codec == bundle::codec::STORED {
            writeln!(out)?;
        } else {
            writeln!(out, "  ({}, raw {} bytes)", codec_name(s.codec), s.raw)?;
        }
    }
    Ok(())
}

fn codec_name(codec: u32) -> &'static str {
    match codec {
        bundle::codec::STORED => "stored",
        bundle::codec::DEFLATE => "deflate",
        _ => "unknown",
    }
}

pub(crate) fn demo(path: &Path, budget_s: f64, out: &mut dyn Write) -> Result<()> {
    let search = Search {
        budget_s,
        ..Search::default()
    };
    let s = synth::generate(SynthConfig::default());
    let ds = &s.data;
    writeln!(out, "Timbral demo on the {}", ds.source)?;
    writeln!(
        out,
        "{} listeners, {} artists, {} plays in {} genres\n",
        ds.n_users(),
        ds.n_items(),
        ds.plays.nnz(),
        synth::GENRES.len()
    )?;

    let report = eval::run(
        ds,
        AlsParams::default(),
        0.2,
        42,
        &[10, 20],
        &eval::MODELS,
        search,
        true,
    );
    writeln!(out, "{report}")?;

    // The CF model chosen on a validation split of the plays, as `train`
    // chooses it.
    let choice = timbral_train::cf_tune::choose(&ds.plays, AlsParams::default(), 42, search);
    writeln!(out, "{choice}")?;
    let params = choice.als;
    #[cfg_attr(not(feature = "content"), allow(unused_mut))]
    let mut model = choice.attach(timbral_train::train_dataset(ds, params, true), &ds.plays);
    // Content: the catalogue's tags, genres and audio features, embedded by
    // MiniLM, and fusion weights learned on a validation split.
    #[cfg(feature = "content")]
    let encoder = {
        use timbral_train::cli_content;
        match cli_content::load_encoder(&cli_content::default_model_dir()) {
            Ok(e) => {
                let meta = cli_content::synth_meta(&s, SynthConfig::default().seed);
                let c = cli_content::build(&e, ds, &meta, true)?;
                let facts = item_facts(ds, &meta, &c, &e, None)?;
                let c = timbral_train::hybrid::TrainContent::new(
                    c,
                    timbral_train::compact::DEFAULT_DIMS,
                );
                let learned = timbral_train::hybrid::learn_weights(
                    ds,
                    &ds.plays,
                    &c,
                    params,
                    params.seed,
                    Some(&choice),
                );
                writeln!(out, "{learned}")?;
                model = learned.apply_cf(model);
                model = timbral_train::hybrid::with_content(model, &c, Some(learned.fusion));
                let credits = timbral_train::credits::credits(ds, Some(&meta));
                let clusters = genre_clusters(&c.full, &e, &ContentArgs::default());
                model = with_item_info(model, Some(facts), credits, clusters);
                Some(e)
            }
            Err(e) => {
                writeln!(out, "(CF only: {e:#})\n")?;
                None
            }
        }
    };
    let bytes = model.to_bytes();
    write::atomic(path, &bytes)?;
    writeln!(
        out,
        "wrote {} ({} KiB); `timbral inspect {}` shows its sections\n",
        path.display(),
        bytes.len() / 1024,
        path.display()
    )?;

    // Read it back as a runtime would.
    let model = read_bundle(path)?;
    let genre = |i: u32| synth::GENRES[s.item_genre[i as usize]];
    let row = |out: &mut dyn Write, i: u32, score: f32| {
        writeln!(
            out,
            "  {:<28} {:<12} {score:>7.3}",
            model.item_name(i),
            genre(i)
        )
    };
    let u = 0u32;
    let (items, plays) = model.user_history(u);
    let mut top: Vec<(u32, f32)> = items.iter().copied().zip(plays.iter().copied()).collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    writeln!(out, "{} mostly plays:", model.user_id(u))?;
    for (i, p) in top.iter().take(5) {
        writeln!(
            out,
            "  {:<28} {:<12} {p:>6} plays",
            model.item_name(*i),
            genre(*i)
        )?;
    }
    writeln!(out, "and is recommended:")?;
    for r in model.recommend_user(u, 8) {
        row(out, r.index, r.score)?;
    }

    // A brand-new listener: three jazz artists, folded in without retraining.
    let jazz = synth::GENRES
        .iter()
        .position(|g| *g == "jazz")
        .expect("jazz is a genre");
    let seeds: Vec<(u32, f32)> = model
        .popular(&[], model.n_items())
        .into_iter()
        .filter(|r| s.item_genre[r.index as usize] == jazz)
        .take(3)
        .map(|r| (r.index, 20.0))
        .collect();
    let names: Vec<&str> = seeds.iter().map(|(i, _)| model.item_name(*i)).collect();
    let recs = model.recommend_history(&seeds, 10)?;
    let in_genre = recs
        .iter()
        .filter(|r| s.item_genre[r.index as usize] == jazz)
        .count();
    writeln!(
        out,
        "\nA new listener who played {} gets ({in_genre}/10 jazz):",
        names.join(", ")
    )?;
    for r in recs {
        row(out, r.index, r.score)?;
    }

    #[cfg(feature = "content")]
    if let Some(encoder) = encoder {
        // The same listener, fused and explained as the app shows it.
        writeln!(out, "\nFused (CF + content + popularity) and explained:")?;
        for e in model.recommend_explained(&seeds, &[], 5, None)? {
            let because: Vec<&str> = e.because.iter().map(|&i| model.item_name(i)).collect();
            writeln!(
                out,
                "  {:<28} {:<12} because you like {}{}",
                model.item_name(e.rec.index),
                genre(e.rec.index),
                because.join(", "),
                if e.shared_tags.is_empty() {
                    String::new()
                } else {
                    format!("; shares {}", e.shared_tags.join(", "))
                }
            )?;
        }
        for query in ["aggressive loud guitars", "calm piano music"] {
            let q = encoder.embed(query)?;
            let hits = model.search(query, &q, None, 5)?;
            writeln!(out, "\nSearch \"{query}\" (embedded by MiniLM):")?;
            for h in hits {
                row(out, h.index, h.score)?;
            }
        }
    }
    Ok(())
}

#[cfg(feature = "content")]
pub(crate) type MaybeEncoder = Option<timbral_encoder::Encoder>;
#[cfg(not(feature = "content"))]
pub(crate) type MaybeEncoder = Option<()>;

/// What [`content_for`] builds.
pub(crate) struct Built {
    /// The full vectors and the ones the bundle ships (`--content-dims`).
    pub(crate) content: timbral_train::hybrid::TrainContent,
    /// Years, audio features (measured or predicted) and moods.
    pub(crate) facts: Option<timbral_core::facts::ItemFacts>,
    /// Artists, albums and genres.
    pub(crate) credits: Option<timbral_core::credits::ItemCredits>,
    /// The labels' genre clusters, for tastes.
    pub(crate) clusters: Option<timbral_core::taste::GenreClusters>,
    pub(crate) encoder: MaybeEncoder,
}

/// The genre clusters of `content`'s labels, embedded by `encoder`.
#[cfg(feature = "content")]
pub(crate) fn genre_clusters(
    content: &timbral_core::Content,
    encoder: &timbral_encoder::Encoder,
    c: &ContentArgs,
) -> Option<timbral_core::taste::GenreClusters> {
    let excluded: Vec<&str> = c.excluded_genres();
    let embed = |texts: &[&str]| encoder.embed_batch(texts).ok();
    let g = timbral_train::genre_clusters::build(content, &embed, &excluded, CLUSTER_SEED)?;
    tracing::info!(
        "genre clusters: {} of {} labels (k by silhouette over {}..={}), e.g. {}",
        g.names.len(),
        g.labels.len(),
        g.criterion.first().map_or(0, |c| c.0),
        g.criterion.last().map_or(0, |c| c.0),
        g.names
            .iter()
            .take(4)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    );
    Some(g)
}

/// The clustering's seed: fixed, so one catalogue gives one clustering.
#[cfg(feature = "content")]
const CLUSTER_SEED: u64 = 0x7A57E;

/// Content vectors and item facts for `ds` (and the encoder that made
/// them), unless `--no-content`; an error if the model files are missing.
/// `client`: for a client bundle, whose text vectors are compact unless
/// `--content-dims` says otherwise.
pub(crate) fn content_for(
    ds: &Dataset,
    data: &DataArgs,
    c: &ContentArgs,
    client: bool,
    progress: bool,
) -> Result<Option<Built>> {
    let dims = c.dims(client);
    if c.no_content {
        return Ok(None);
    }
    if let Some(path) = &c.content_from {
        let model = read_bundle(path)?;
        let content = model
            .content()
            .with_context(|| format!("{}: this bundle has no content vectors", path.display()))?;
        if model.parts().item_ids != ds.item_ids {
            bail!(
                "{}: its catalogue ({} items) is not this data's ({} items); content vectors are per item",
                path.display(),
                model.n_items(),
                ds.n_items()
            );
        }
        // The encoder is only needed for search; use it when it matches.
        #[cfg(feature = "content")]
        let encoder = {
            use timbral_train::cli_content;
            let dir = c
                .model_dir
                .clone()
                .unwrap_or_else(cli_content::default_model_dir);
            cli_content::load_encoder(&dir)
                .ok()
                .filter(|e| cli_content::check_encoder(&model, e).is_ok())
        };
        #[cfg(not(feature = "content"))]
        let encoder = None;
        #[cfg(feature = "content")]
        let facts = match &c.mood_model {
            // Facts predicted anew from the bundle's vectors.
            Some(path) => {
                let mood = crate::mood::read(path)?;
                let encoder = encoder.as_ref().with_context(|| {
                    format!("--mood-model with --content-from {}: the text encoder of that bundle is needed (for genre priors)", path.display())
                })?;
                let meta = timbral_train::cli_content::metadata(
                    data.data.as_deref(),
                    ds,
                    c.spotify.as_deref(),
                )?;
                Some(item_facts(ds, &meta, content, encoder, Some(&mood))?)
            }
            None => model.facts().cloned(),
        };
        #[cfg(not(feature = "content"))]
        let facts = model.facts().cloned();
        #[cfg(feature = "content")]
        let credits = timbral_train::credits::credits(ds, None).or(model.credits().cloned());
        #[cfg(not(feature = "content"))]
        let credits = model.credits().cloned();
        #[cfg(feature = "content")]
        // Clustered again where the encoder is at hand (cheap: labels, not
        // items), else the source bundle's clusters.
        let clusters = match &encoder {
            Some(e) => genre_clusters(content, e, c),
            None => model.parts().genre_clusters.clone(),
        };
        #[cfg(not(feature = "content"))]
        let clusters = model.parts().genre_clusters.clone();
        let content = timbral_train::hybrid::TrainContent::new(content.clone(), dims);
        return Ok(Some(Built {
            content,
            facts,
            credits,
            clusters,
            encoder,
        }));
    }
    #[cfg(feature = "content")]
    {
        use timbral_train::cli_content;
        // A bad mood model fails before minutes of embedding, not after.
        let mood = c.mood_model.as_deref().map(crate::mood::read).transpose()?;
        let dir = c
            .model_dir
            .clone()
            .unwrap_or_else(cli_content::default_model_dir);
        let encoder = cli_content::load_encoder(&dir)?;
        let meta = cli_content::metadata(data.data.as_deref(), ds, c.spotify.as_deref())?;
        let content = cli_content::build(&encoder, ds, &meta, progress)?;
        let facts = item_facts(ds, &meta, &content, &encoder, mood.as_ref())?;
        let clusters = genre_clusters(&content, &encoder, c);
        let content = timbral_train::hybrid::TrainContent::new(content, dims);
        Ok(Some(Built {
            content,
            facts: Some(facts),
            credits: timbral_train::credits::credits(ds, Some(&meta)),
            clusters,
            encoder: Some(encoder),
        }))
    }
    #[cfg(not(feature = "content"))]
    {
        let _ = (ds, data, progress);
        bail!("this build has no text encoder (feature `content`); pass --no-content")
    }
}

/// The item facts of `meta`: audio predicted by the mood model where one
/// is given, else from `content`'s text neighbours; logs where the facts
/// came from, and the neighbour prediction's cross-validation.
#[cfg(feature = "content")]
pub(crate) fn item_facts(
    ds: &Dataset,
    meta: &[timbral_train::content::ItemMeta],
    content: &timbral_core::Content,
    encoder: &timbral_encoder::Encoder,
    mood: Option<&timbral_train::mood::MoodModel>,
) -> Result<timbral_core::facts::ItemFacts> {
    use timbral_core::facts::AudioSource;
    let embed = |t: &str| encoder.embed(t).ok();
    let predicted = match mood {
        Some(m) => m
            .predictions(meta, content, &timbral_train::mood::popularity(ds))
            .map_err(|e| anyhow::anyhow!("--mood-model: {e}"))?,
        None => timbral_train::facts::neighbour_predictions(meta, Some(content)),
    };
    let facts = timbral_train::facts::build(meta, &predicted, Some(&embed));
    let count = |s: AudioSource| facts.audio_source.iter().filter(|&&x| x == s).count();
    tracing::info!(
        "item facts: {} with a year; audio measured for {}, predicted ({}) for {}, a prior for {}, unknown for {}",
        facts.years.iter().filter(|&&y| y > 0).count(),
        count(AudioSource::Measured),
        if mood.is_some() { "mood model" } else { "text neighbours" },
        count(AudioSource::Predicted),
        count(AudioSource::Prior),
        count(AudioSource::None)
    );
    if mood.is_none() {
        if let Some(cv) = timbral_train::facts::cross_validate(meta, content, 5) {
            tracing::info!("{}", cv.to_string().trim_end());
        }
    }
    Ok(facts)
}

/// `model` with the items' facts (years, audio, moods), credits (artists,
/// albums, genres) and genre clusters, each where there is one: one
/// rebuild.
pub(crate) fn with_item_info(
    model: timbral_core::Model,
    facts: Option<timbral_core::facts::ItemFacts>,
    credits: Option<timbral_core::credits::ItemCredits>,
    clusters: Option<timbral_core::taste::GenreClusters>,
) -> timbral_core::Model {
    if facts.is_none() && credits.is_none() && clusters.is_none() {
        return model;
    }
    let mut parts = model.into_parts();
    parts.facts = facts.or(parts.facts);
    parts.credits = credits.or(parts.credits);
    parts.genre_clusters = clusters.or(parts.genre_clusters);
    timbral_core::Model::from_parts(parts)
        .expect("facts, credits and clusters built for these items")
}

/// `timbral item`: everything the bundle knows of one item.
pub(crate) fn show_item(bundle: &Path, id: &str, json: bool, out: &mut dyn Write) -> Result<()> {
    use timbral_core::facts::{AUDIO_FEATURES, MOODS};
    let model = read_bundle(bundle)?;
    let i = model
        .item_index(id)
        .with_context(|| format!("{}: no item `{id}`", bundle.display()))?;
    let at = i as usize;
    let weighted = weighted_labels(&model, at);
    let labels: Vec<serde_json::Value> = weighted
        .iter()
        .map(|(t, w)| serde_json::json!({"tag": t, "weight": w}))
        .collect();
    let facts = model.facts();
    let audio = facts.and_then(|f| f.audio(at));
    let mut audio_json = serde_json::Map::new();
    if let Some(a) = &audio {
        for (f, v) in AUDIO_FEATURES.iter().zip(a.values) {
            audio_json.insert(
                f.to_string(),
                serde_json::json!({"value": (v * 1000.0).round() / 1000.0, "source": a.source.name(), "confidence": (a.confidence * 100.0).round() / 100.0}),
            );
        }
    }
    let moods: serde_json::Map<String, serde_json::Value> = match facts {
        Some(f) => MOODS
            .iter()
            .zip(f.moods(at))
            .map(|(m, p)| {
                (
                    m.to_string(),
                    serde_json::json!((p * 100.0).round() / 100.0),
                )
            })
            .collect(),
        None => Default::default(),
    };
    let listeners = model.popularity().listeners[at];
    let credits = model.credits();
    let artist = credits.and_then(|c| c.artist(at));
    let album = credits.and_then(|c| c.album(at));
    let genres = credits.map(|c| c.genres(at)).unwrap_or_default();
    let v = serde_json::json!({
        "id": model.item_id(i),
        "name": model.item_name(i),
        "artist": artist,
        "album": album,
        "genres": genres,
        "year": facts.and_then(|f| f.year(at)),
        "listeners": listeners,
        "tags": labels,
        "audio": audio_json,
        "moods": moods,
    });
    if json {
        serde_json::to_writer_pretty(&mut *out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{} ({})", model.item_name(i), model.item_id(i))?;
    if let Some(a) = artist {
        writeln!(out, "artist    {a}")?;
    }
    if let Some(a) = album {
        writeln!(out, "album     {a}")?;
    }
    if !genres.is_empty() {
        writeln!(out, "genres    {}", genres.join(", "))?;
    }
    if let Some(y) = facts.and_then(|f| f.year(at)) {
        writeln!(out, "year      {y}")?;
    }
    writeln!(out, "listeners {listeners}")?;
    if model.content().is_some() {
        let tags: Vec<String> = weighted.iter().map(|(t, w)| format!("{t} ({w})")).collect();
        writeln!(out, "tags      {}", tags.join(", "))?;
    }
    match &audio {
        Some(a) => {
            writeln!(
                out,
                "audio     {} (confidence {:.2})",
                a.source.name(),
                a.confidence
            )?;
            for (f, v) in AUDIO_FEATURES.iter().zip(a.values) {
                writeln!(out, "  {f:<17} {v:.3}")?;
            }
        }
        None => writeln!(out, "audio     unknown")?,
    }
    if let Some(f) = facts {
        let moods: Vec<String> = MOODS
            .iter()
            .zip(f.moods(at))
            .map(|(m, p)| format!("{m} {p:.2}"))
            .collect();
        writeln!(out, "moods     {}", moods.join(", "))?;
    }
    Ok(())
}

/// Item `at`'s labels with their weights (1 each in a bundle without
/// weights), heaviest first as the bundle keeps them.
fn weighted_labels(model: &Model, at: usize) -> Vec<(String, u32)> {
    let Some(c) = model.content() else {
        return Vec::new();
    };
    let weights = c.label_weights.get(at).into_iter().flatten().copied();
    c.labels[at]
        .iter()
        .cloned()
        .zip(weights.chain(std::iter::repeat(1)))
        .collect()
}
