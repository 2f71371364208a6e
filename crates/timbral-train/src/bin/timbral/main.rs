//! The `timbral` command line. Results go to stdout, logs and progress to
//! stderr; any failure exits non-zero with a message naming the problem.
//! `args` holds the flags, `commands` and `output` what they do.

mod args;
mod commands;
mod mood;
mod output;
#[cfg(feature = "redis")]
mod precompute;
#[cfg(feature = "serve")]
mod serve;
mod tastes;
mod train;

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;
use timbral_core::AlsParams;
use timbral_train::data::{self, ColumnNames, ReadOptions};
use timbral_train::synth::{self, SynthConfig};
use timbral_train::{bench, eval, tune, write};

#[cfg(feature = "parquet")]
use args::ImportCmd;
use args::{check_holdout, Cli, Cmd, MoodCmd};
use commands::*;
use output::read_bundle;

fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("cannot start the thread pool")?;
    }
    // The server writes a log line a request from many threads: it must
    // not run under the stdout lock the other commands hold.
    #[cfg(feature = "serve")]
    if let Cmd::Serve(a) = &cli.cmd {
        return serve::run(a);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli.cmd {
        Cmd::Train {
            data,
            als,
            content,
            out: path,
            client,
        } => train::train(&data, &als, &content, &path, client, !cli.quiet, &mut out)?,
        #[cfg(feature = "parquet")]
        Cmd::Import {
            cmd: ImportCmd::SparkAls(a),
        } => train::import_spark_als(&a, !cli.quiet, &mut out)?,
        Cmd::Ingest { data, json } => {
            let (ds, merged) = data.ingest()?;
            let r = &ds.report;
            if json {
                let v = serde_json::json!({
                    "source": ds.source, "rows": r.rows, "users": ds.n_users(),
                    "items": ds.n_items(), "plays": ds.plays.nnz(),
                    "duplicate_rows_summed": r.duplicates, "bad_rows_skipped": r.bad_rows,
                    "first_bad_rows": r.first_bad, "items_merged": merged.merged,
                    "items_merged_by_alias": merged.by_alias,
                    "merged_plays_summed": merged.plays_summed,
                    "merge_examples": merged.examples,
                    "catalogue": ds.catalogue.as_ref().map(|c| serde_json::json!({
                        "items": c.items.len(), "rows": c.report.rows,
                        "rows_merged_by_id": c.merged_rows, "tracks_merged": c.aliases.len(),
                        "bad_rows_skipped": c.report.bad_rows,
                        "first_bad_rows": c.report.first_bad,
                        "with_audio": c.items.iter().filter(|i| i.audio().is_some()).count(),
                    })),
                });
                serde_json::to_writer_pretty(&mut out, &v)?;
                writeln!(out)?;
            } else {
                writeln!(out, "source    {}", ds.source)?;
                writeln!(out, "read      {} rows", r.rows)?;
                writeln!(
                    out,
                    "kept      {} users, {} items, {} (user, item) plays",
                    ds.n_users(),
                    ds.n_items(),
                    ds.plays.nnz()
                )?;
                writeln!(
                    out,
                    "summed    {} duplicate (user, item) rows",
                    r.duplicates
                )?;
                writeln!(
                    out,
                    "dropped   {} bad rows{}",
                    r.bad_rows,
                    if r.first_bad.is_empty() {
                        String::new()
                    } else {
                        format!(" (first: {})", r.first_bad.join("; "))
                    }
                )?;
                writeln!(
                    out,
                    "merged    {} items into others ({} by alias, the rest by name); {} listeners' plays of merged items summed",
                    merged.merged, merged.by_alias, merged.plays_summed
                )?;
                for (a, b) in &merged.examples {
                    writeln!(out, "          \"{a}\" → \"{b}\"")?;
                }
                if let Some(c) = &ds.catalogue {
                    writeln!(
                        out,
                        "items     {} from items files: {} rows, {} repeating an id merged into it, {} tracks merged into one of the same artist, title and length, {} bad rows skipped{}",
                        c.items.len(),
                        c.report.rows,
                        c.merged_rows,
                        c.aliases.len(),
                        c.report.bad_rows,
                        if c.report.first_bad.is_empty() {
                            String::new()
                        } else {
                            format!(" (first: {})", c.report.first_bad.join("; "))
                        }
                    )?;
                    let audio = c.items.iter().filter(|i| i.audio().is_some()).count();
                    let genres = c.items.iter().filter(|i| !i.genres.is_empty()).count();
                    let tags = c.items.iter().filter(|i| !i.tags.is_empty()).count();
                    let years = c.items.iter().filter(|i| i.year.is_some()).count();
                    writeln!(
                        out,
                        "          {audio} with audio features, {genres} with genres, {tags} with tags, {years} with a year"
                    )?;
                }
            }
        }
        Cmd::Export {
            client: _,
            from,
            out: path,
        } => {
            let full = read_bundle(&from)?;
            let bytes = full.client().to_bytes();
            write::atomic(&path, &bytes)?;
            writeln!(
                out,
                "wrote {} ({} bytes, from {} bytes): the client bundle of {}, without its {} training listeners",
                path.display(),
                bytes.len(),
                std::fs::metadata(&from).map(|m| m.len()).unwrap_or(0),
                from.display(),
                full.n_users()
            )?;
        }
        Cmd::Recommend(a) => recommend(&a, &mut out)?,
        #[cfg(feature = "redis")]
        Cmd::Precompute(a) => precompute::run(&a, &mut out)?,
        #[cfg(feature = "serve")]
        Cmd::Serve(_) => unreachable!("served above, before stdout is locked"),
        Cmd::Eval {
            data,
            als,
            content,
            holdout,
            k,
            models,
            bundles,
            write_split,
            json,
        } => {
            check_holdout(holdout)?;
            if k.is_empty() || k.contains(&0) {
                bail!("--k needs cut-offs ≥ 1, e.g. --k 10,20");
            }
            if let Some(m) = models.iter().find(|m| !eval::MODELS.contains(&m.as_str())) {
                bail!(
                    "--models: unknown model `{m}` (known: {})",
                    eval::MODELS.join(", ")
                );
            }
            let models: Vec<&str> = models.iter().map(String::as_str).collect();
            let params = als.params()?;
            let ds = data.load()?;
            if let Some(dir) = write_split {
                let split = timbral_train::split::holdout(&ds.plays, holdout, params.seed);
                eval::write_split(&ds, &split, &dir)?;
                writeln!(
                    out,
                    "wrote {0}/train.tsv ({1} plays) and {0}/test.tsv ({2} listeners' held-out items): \
                     {3:.0}% per-user holdout, seed {4}",
                    dir.display(),
                    split.train.nnz(),
                    split.test.len(),
                    holdout * 100.0,
                    params.seed
                )?;
                return Ok(());
            }
            // Read before the fits: a bad bundle fails at once.
            let others = bundles
                .iter()
                .map(|p| {
                    Ok((
                        p.file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned(),
                        read_bundle(p)?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            als.cf.check(ds.n_items()).map_err(anyhow::Error::msg)?;
            let mut report = eval::run(
                &ds,
                params,
                holdout,
                params.seed,
                &k,
                &models,
                als.search(),
                !cli.quiet,
            );
            if !others.is_empty() {
                let split = timbral_train::split::holdout(&ds.plays, holdout, params.seed);
                for (name, model) in &others {
                    report
                        .results
                        .push(eval::evaluate_bundle(&ds, &split, &k, name, model));
                }
            }
            let mut value = serde_json::to_value(&report)?;
            if !json {
                write!(out, "{report}")?;
            }
            if let Some(Built {
                content: c,
                encoder: enc,
                ..
            }) = content_for(&ds, &data, &content, false, !cli.quiet)?
            {
                let hybrid = timbral_train::hybrid::run(
                    &ds,
                    &c,
                    params,
                    holdout,
                    params.seed,
                    &k,
                    // `--cf` was checked against this catalogue above.
                    &|plays| als.choose(plays, params).ok().flatten(),
                );
                value["hybrid"] = serde_json::to_value(&hybrid)?;
                if !json {
                    writeln!(out)?;
                    write!(out, "{hybrid}")?;
                }
                #[cfg(feature = "content")]
                if let Some(enc) = enc {
                    let model =
                        timbral_train::hybrid::hybrid_model(&ds, &ds.plays, &c, params, None);
                    let (mean, per) =
                        timbral_train::cli_content::search_precision(&model, &enc, 20)?;
                    value["search_precision"] = serde_json::json!({"mean": mean, "per_tag": per});
                    if !json {
                        writeln!(out, "\nsearch precision@10 over the 20 most frequent tags as queries: {mean:.3}")?;
                        for (t, p) in &per {
                            writeln!(out, "  {t:<24} {p:.1}")?;
                        }
                    }
                    if let Some(dir) = data.data.as_deref().filter(|p| p.is_dir()) {
                        let taggings = timbral_train::data::hetrec_tags::hetrec_taggings(dir, &ds)?;
                        let meta = timbral_train::cli_content::metadata(
                            Some(dir),
                            &ds,
                            content.spotify.as_deref(),
                        )?;
                        let graded = timbral_train::search_eval::run(
                            &model,
                            &enc,
                            &taggings,
                            &meta,
                            params.seed,
                        )?;
                        value["search_graded"] = serde_json::to_value(&graded)?;
                        if !json {
                            writeln!(out)?;
                            write!(out, "{graded}")?;
                        }
                    }
                }
                #[cfg(not(feature = "content"))]
                let _ = enc;
            }
            if json {
                serde_json::to_writer_pretty(&mut out, &value)?;
                writeln!(out)?;
            }
        }
        #[cfg(feature = "content")]
        Cmd::Similar {
            bundle,
            item,
            k,
            json,
        } => {
            if k == 0 {
                bail!("--k must be at least 1");
            }
            similar(&bundle, &item, k, json, &mut out)?
        }
        #[cfg(feature = "content")]
        Cmd::Search {
            bundle,
            genre,
            year,
            energy,
            mood,
            k,
            json,
            model_dir,
            query,
        } => {
            if k == 0 {
                bail!("--k must be at least 1");
            }
            let filter = timbral_core::facts::Filter {
                years: year,
                energy,
                mood: match mood {
                    Some(m) => Some(
                        timbral_core::facts::Filter::mood_index(&m)
                            .map_err(|e| anyhow::anyhow!("--mood: {e}"))?,
                    ),
                    None => None,
                },
            };
            let dir = model_dir.unwrap_or_else(timbral_train::cli_content::default_model_dir);
            let sq = SearchQuery {
                text: &query,
                genre: genre.as_deref(),
                filter,
                k,
            };
            search(&bundle, &sq, json, &dir, &mut out)?
        }
        Cmd::Item { bundle, item, json } => show_item(&bundle, &item, json, &mut out)?,
        #[cfg(feature = "content")]
        Cmd::Embed { model_dir, text } => {
            let dir = model_dir.unwrap_or_else(timbral_train::cli_content::default_model_dir);
            let v = timbral_train::cli_content::load_encoder(&dir)?.embed(&text)?;
            serde_json::to_writer(&mut out, &v)?;
            writeln!(out)?;
        }
        Cmd::Tune {
            data,
            als,
            holdout,
            repeats,
            factors_grid,
            regularization_grid,
            alpha_grid,
            iterations_grid,
            json,
        } => {
            check_holdout(holdout)?;
            let base = als.params()?;
            let ds = data.load()?;
            let grid = tune::Grid {
                factors: factors_grid,
                regularization: regularization_grid,
                alpha: alpha_grid,
                iterations: iterations_grid,
            };
            let report = tune::run(&ds, &grid, holdout, base.seed, repeats, base);
            if json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                write!(out, "{report}")?;
            }
        }
        Cmd::Inspect { bundle, json } => inspect(&bundle, json, &mut out)?,
        Cmd::Session { bundle } => {
            let stdin = std::io::stdin();
            tastes::session(&bundle, &mut stdin.lock(), &mut out)?
        }
        Cmd::Simulate {
            bundle,
            listeners,
            rounds,
            k,
            seed,
            strategy,
            plot,
            json,
        } => {
            let cfg = timbral_train::simulate::SimConfig {
                listeners,
                rounds,
                k,
                seed,
            };
            tastes::simulate(&bundle, &cfg, &strategy, plot.as_deref(), json, &mut out)?
        }
        Cmd::PlaylistEval {
            bundle,
            playlists,
            playlist_col,
            item_col,
            seed,
            json,
        } => {
            let model = output::read_bundle(&bundle)?;
            let (lists, unknown) = timbral_train::playlists::read_playlists(
                &playlists,
                &model,
                &playlist_col,
                &item_col,
            )?;
            let report = timbral_train::playlists::evaluate(&model, &lists, unknown, seed);
            if json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                write!(out, "{report}")?;
            }
        }
        Cmd::Autofill {
            bundle,
            seeds,
            exclude,
            k,
            lambda,
            json,
        } => tastes::autofill(&bundle, &seeds, &exclude, k, lambda, json, &mut out)?,
        Cmd::Bench {
            data,
            synthetic_users,
            synthetic_items,
            synthetic_plays_per_user,
            synthetic_iterations,
            bundle,
            probe,
            model_dir,
            content_only,
            ingest_rows,
            embed_items,
        } => {
            if ingest_rows.is_some() || embed_items.is_some() {
                if let Some(rows) = ingest_rows {
                    bench::ingest(rows, &mut out)?;
                }
                if let Some(n) = embed_items {
                    #[cfg(feature = "content")]
                    {
                        let dir = model_dir
                            .clone()
                            .unwrap_or_else(timbral_train::cli_content::default_model_dir);
                        bench::embed_items(&dir, n, &mut out)?;
                    }
                    #[cfg(not(feature = "content"))]
                    bail!("--embed-items needs the `content` feature ({n} items)");
                }
                return Ok(());
            }
            if !content_only {
                let data = match data {
                    Some(p) => Some(data::load(
                        &p,
                        &ColumnNames::default(),
                        ReadOptions::default(),
                    )?),
                    None => None,
                };
                let cfg = bench::BenchConfig {
                    data,
                    synthetic: SynthConfig {
                        users: synthetic_users,
                        items: synthetic_items,
                        plays_per_user: synthetic_plays_per_user,
                        seed: 42,
                    },
                    synthetic_iterations,
                    params: AlsParams::default(),
                };
                bench::run(cfg, &mut out)?;
            }
            #[cfg(feature = "content")]
            {
                let dir = model_dir.unwrap_or_else(timbral_train::cli_content::default_model_dir);
                bench::embedding(&dir, &mut out)?;
                if let Some(b) = bundle {
                    let mut model = bench::load(&b, &mut out)?;
                    if let Some(p) = probe {
                        model = bench::with_probe(model, p)?;
                    }
                    bench::fused(&model, &mut out)?;
                    bench::similar(&model, &mut out)?;
                    bench::hnsw_vs_exact(&model, &mut out)?;
                }
            }
            #[cfg(not(feature = "content"))]
            let _ = (bundle, probe, model_dir);
        }
        Cmd::SynthBundle {
            out: path,
            items,
            factors,
            dims,
            clusters,
            seed,
            shortlist,
        } => {
            if items == 0 || factors == 0 || dims == 0 || clusters == 0 {
                bail!("--items, --factors, --dims and --clusters must be at least 1");
            }
            let started = std::time::Instant::now();
            let model = timbral_train::synth_catalogue::client_model(
                timbral_train::synth_catalogue::CatalogueConfig {
                    items,
                    factors,
                    text_dims: dims,
                    clusters,
                    seed,
                },
            );
            let model = timbral_train::shortlist::attach(model, shortlist, seed);
            let bytes = model.to_bytes();
            write::atomic(&path, &bytes)?;
            writeln!(
                out,
                "wrote {} ({} bytes): a client bundle of {items} synthetic items, {factors} factors, {dims}-d text vectors{}, in {:.1} s",
                path.display(),
                bytes.len(),
                match &model.parts().shortlist {
                    Some(s) => format!(", a shortlist of {}", s.describe()),
                    None => String::new(),
                },
                started.elapsed().as_secs_f64()
            )?;
        }
        Cmd::Synth {
            out: path,
            items_out,
            users,
            items,
            plays_per_user,
            seed,
        } => {
            if users == 0 || items == 0 || plays_per_user == 0 {
                bail!("--users, --items and --plays-per-user must be at least 1");
            }
            let s = synth::generate(SynthConfig {
                users,
                items,
                plays_per_user,
                seed,
            });
            let d = &s.data;
            write::atomic_with(&path, |w| {
                writeln!(w, "user\titem\tname\tplays")?;
                for (u, i, p) in d.plays.triplets() {
                    writeln!(
                        w,
                        "{}\t{}\t{}\t{}",
                        d.user_ids[u as usize], d.item_ids[i as usize], d.item_names[i as usize], p
                    )?;
                }
                Ok(())
            })?;
            writeln!(
                out,
                "wrote {}: {} users, {} items, {} rows",
                path.display(),
                d.n_users(),
                d.n_items(),
                d.plays.nnz()
            )?;
            let items_path = items_out.unwrap_or_else(|| items_beside(&path));
            write::atomic_with(&items_path, |w| synth::write_items(&s, seed, w))?;
            writeln!(
                out,
                "wrote {}: {} items with genres, weighted tags, years and audio features",
                items_path.display(),
                d.n_items()
            )?;
        }
        Cmd::Mood {
            cmd:
                MoodCmd::Train {
                    data,
                    model_dir,
                    out: path,
                    folds,
                    seed,
                    json,
                },
        } => mood::train(
            mood::TrainArgs {
                data: &data,
                model_dir: model_dir.as_deref(),
                out: &path,
                folds,
                seed,
                json,
                progress: !cli.quiet,
            },
            &mut out,
        )?,
        Cmd::Demo { out: path, budget } => demo(&path, budget, &mut out)?,
    }
    out.flush()?;
    Ok(())
}

/// `DIR/STEM.items.tsv` for plays written to `DIR/STEM.EXT`.
fn items_beside(plays: &std::path::Path) -> std::path::PathBuf {
    let stem = plays.file_stem().unwrap_or_default().to_string_lossy();
    plays.with_file_name(format!("{stem}.items.tsv"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    timbral_train::data::table::quiet_decoder_panics();
    let level = if cli.quiet {
        tracing::Level::WARN
    } else if cli.verbose > 0 {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(ansi)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`timbral … | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
