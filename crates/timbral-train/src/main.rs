//! The `timbral` command line. Results go to stdout, logs and progress to
//! stderr; any failure exits non-zero with a message naming the problem.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use timbral_core::{AlsParams, Fusion, FusionWeights, Model, Recommendation, Scored};
use timbral_train::data::{self, ColumnNames, Dataset, ReadOptions};
use timbral_train::synth::{self, SynthConfig};
use timbral_train::{bench, eval, tune, write};

#[derive(Parser)]
#[command(
    name = "timbral",
    version,
    about = "Train and query Timbral music-recommendation bundles"
)]
struct Cli {
    /// Worker threads for training and evaluation (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// More logging (-v debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train implicit ALS (+ content vectors and fusion weights) and write a bundle.
    Train {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        als: AlsArgs,
        #[command(flatten)]
        content: ContentArgs,
        /// Where to write the bundle (atomically).
        #[arg(long)]
        out: PathBuf,
        /// Write the client bundle: no training listener's id, factor or
        /// history (what a browser or a Worker ships).
        #[arg(long)]
        client: bool,
    },
    /// Read the data and say what was read, merged and dropped, without training.
    Ingest {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        json: bool,
    },
    /// Write a bundle for another use (`--client`: without any training listener).
    Export {
        /// The client bundle: no training listener's id, factor or history.
        #[arg(long, required = true)]
        client: bool,
        /// The full bundle to read.
        from: PathBuf,
        /// Where to write (atomically).
        out: PathBuf,
    },
    /// Recommend for a known user, a new listener's history, or every user.
    Recommend(RecommendArgs),
    /// Offline evaluation on a per-user holdout: popularity, ALS, content, fusion, cold slices.
    Eval {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        als: AlsArgs,
        #[command(flatten)]
        content: ContentArgs,
        /// Share of each user's items held out (users with ≥ 5 items).
        #[arg(long, default_value_t = 0.2)]
        holdout: f64,
        /// Cut-offs, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "10,20")]
        k: Vec<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Grid search on a validation split carved from the training data.
    Tune {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        als: AlsArgs,
        #[arg(long, default_value_t = 0.2)]
        holdout: f64,
        /// Validation splits to average over.
        #[arg(long, default_value_t = 1)]
        repeats: u32,
        #[arg(long, value_delimiter = ',', default_value = "32,64,128")]
        factors_grid: Vec<u32>,
        #[arg(long, value_delimiter = ',', default_value = "0.1,1,5,20")]
        regularization_grid: Vec<f32>,
        #[arg(long, value_delimiter = ',', default_value = "1,3,10,30")]
        alpha_grid: Vec<f32>,
        #[arg(long, value_delimiter = ',', default_value = "15")]
        iterations_grid: Vec<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Items most similar in content to an item.
    #[cfg(feature = "content")]
    Similar {
        #[arg(long)]
        bundle: PathBuf,
        /// An item id as in the training data.
        #[arg(long)]
        item: String,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long)]
        json: bool,
    },
    /// Semantic search: the query is embedded by MiniLM and matched against the catalogue.
    #[cfg(feature = "content")]
    Search {
        #[arg(long)]
        bundle: PathBuf,
        /// Only items labelled with this genre or tag.
        #[arg(long)]
        genre: Option<String>,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long)]
        json: bool,
        /// Directory with model.onnx and tokenizer.json (default: models/minilm in the repository).
        #[arg(long)]
        model_dir: Option<PathBuf>,
        query: String,
    },
    /// Print a text's MiniLM embedding as a JSON array.
    #[cfg(feature = "content")]
    Embed {
        /// Directory with model.onnx and tokenizer.json (default: models/minilm in the repository).
        #[arg(long)]
        model_dir: Option<PathBuf>,
        text: String,
    },
    /// Show a bundle's format version, checksum, sections and counts.
    Inspect {
        bundle: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Time ALS fits and top-k scoring; prints figures.
    Bench {
        /// Real data to time (default: the embedded default).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, default_value_t = 200_000)]
        synthetic_users: usize,
        #[arg(long, default_value_t = 50_000)]
        synthetic_items: usize,
        /// Mean play rows per synthetic user (64 gives about 10M distinct plays).
        #[arg(long, default_value_t = 64)]
        synthetic_plays_per_user: usize,
        #[arg(long, default_value_t = 5)]
        synthetic_iterations: u32,
        /// Also compare HNSW with the exact scan over this bundle's content vectors.
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// Directory with model.onnx and tokenizer.json, for embedding latency (default: models/minilm).
        #[arg(long)]
        model_dir: Option<PathBuf>,
        /// Skip the ALS and synthetic-data timings.
        #[arg(long)]
        content_only: bool,
    },
    /// Write a synthetic interactions file (TSV: user, item, name, plays).
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = SynthConfig::default().users)]
        users: usize,
        #[arg(long, default_value_t = SynthConfig::default().items)]
        items: usize,
        #[arg(long, default_value_t = SynthConfig::default().plays_per_user)]
        plays_per_user: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// The main job on the embedded default: evaluate, train, write a bundle, recommend.
    Demo {
        #[arg(long, default_value = "timbral-demo.bundle")]
        out: PathBuf,
    },
}

#[derive(Args)]
struct DataArgs {
    /// A HetRec Last.fm-2k directory or a CSV/TSV interactions file with a
    /// header (default: the embedded synthetic data set).
    #[arg(long)]
    data: Option<PathBuf>,
    /// User column of a CSV/TSV file (default: user, user_id, …).
    #[arg(long)]
    user_col: Option<String>,
    /// Item column (default: item, item_id, artist, …).
    #[arg(long)]
    item_col: Option<String>,
    /// Play-count column (default: plays, count, weight, …; none = 1 play a row).
    #[arg(long)]
    plays_col: Option<String>,
    /// Item-name column (default: name, item_name, …).
    #[arg(long)]
    name_col: Option<String>,
    /// Field delimiter of a CSV/TSV file (default: by extension, else sniffed).
    #[arg(long)]
    delimiter: Option<char>,
    /// Skip malformed rows (counted and reported) instead of failing.
    #[arg(long)]
    skip_bad_rows: bool,
    /// Merge items by an alias file: `bad_id<TAB>good_id` lines (as
    /// Audioscrobbler's artist_alias.txt).
    #[arg(long, value_name = "FILE")]
    aliases: Option<PathBuf>,
    /// Keep items whose names are spellings of one artist apart (by
    /// default "The Pet Shop Boys" and "Pet Shop Boys" are one item).
    #[arg(long)]
    keep_duplicates: bool,
    /// Item metadata (CSV/TSV with a header, or JSON Lines): names,
    /// artists, genres, tags, years, popularity, audio features. Repeat to
    /// merge several sources by item id. Without --data, a content-only
    /// bundle of the catalogue.
    #[arg(long = "items", value_name = "FILE")]
    items: Vec<PathBuf>,
    /// Map item fields to an items file's columns, e.g.
    /// `id=track_id,name=track_name,artist=track_artist`.
    #[arg(long, value_delimiter = ',', value_name = "FIELD=COLUMN,…")]
    item_map: Vec<String>,
    /// The columns of a headerless items file, e.g. `id,name,genres`.
    #[arg(long, value_delimiter = ',', value_name = "FIELD,…")]
    item_columns: Option<Vec<String>>,
}

#[derive(Args)]
struct ContentArgs {
    /// CF only: no content vectors, no text encoder needed.
    #[arg(long)]
    no_content: bool,
    /// Directory with model.onnx and tokenizer.json (default: models/minilm in the repository).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Spotify artists CSV with genres and audio features (default: beside a HetRec directory).
    #[arg(long)]
    spotify: Option<PathBuf>,
    /// Reuse the content vectors of this bundle (trained on the same catalogue) instead of embedding again.
    #[arg(long, value_name = "BUNDLE", conflicts_with = "no_content")]
    content_from: Option<PathBuf>,
    /// Keep the text vectors on this many principal axes (0: all 384): a
    /// bundle of about a fifth the bytes at 48.
    #[arg(long, default_value_t = timbral_train::compact::DEFAULT_DIMS)]
    content_dims: usize,
}

#[derive(Args)]
struct AlsArgs {
    #[arg(long, default_value_t = AlsParams::default().factors)]
    factors: u32,
    #[arg(long, default_value_t = AlsParams::default().iterations)]
    iterations: u32,
    #[arg(long, default_value_t = AlsParams::default().regularization)]
    regularization: f32,
    /// Confidence scale: c = 1 + alpha · ln(1 + plays).
    #[arg(long, default_value_t = AlsParams::default().alpha)]
    alpha: f32,
    /// Conjugate-gradient steps per row and half-step.
    #[arg(long, default_value_t = AlsParams::default().cg_steps)]
    cg_steps: u32,
    /// Seed for the factor initialisation and the evaluation split.
    #[arg(long, default_value_t = AlsParams::default().seed)]
    seed: u64,
}

#[derive(Args)]
struct RecommendArgs {
    #[arg(long)]
    bundle: PathBuf,
    /// A user id as in the training data.
    #[arg(long, conflicts_with_all = ["history", "all_users"])]
    user: Option<String>,
    /// A new listener's history: `item[,plays]` rows, folded in without retraining.
    #[arg(long, conflicts_with = "all_users")]
    history: Option<PathBuf>,
    /// Precompute for every known user (TSV: user, item, rank, score).
    #[arg(long)]
    all_users: bool,
    #[arg(long, default_value_t = 10)]
    k: usize,
    #[arg(long)]
    json: bool,
    /// With --all-users: write here (atomically) instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip malformed or unknown history rows instead of failing.
    #[arg(long)]
    skip_bad_rows: bool,
    /// Fusion weights α,β,γ[,κ] (CF, content, 1 − popularity penalty[, content in the CF slot of new items]); default: the bundle's learned ones.
    #[arg(long, value_delimiter = ',', num_args = 1, value_name = "A,B,C[,K]")]
    weights: Option<Vec<f32>>,
}

impl AlsArgs {
    fn params(&self) -> Result<AlsParams> {
        let p = AlsParams {
            factors: self.factors,
            iterations: self.iterations,
            regularization: self.regularization,
            alpha: self.alpha,
            cg_steps: self.cg_steps,
            seed: self.seed,
        };
        p.validate().map_err(anyhow::Error::msg)?;
        Ok(p)
    }
}

impl DataArgs {
    fn load(&self) -> Result<Dataset> {
        Ok(self.ingest()?.0)
    }

    /// The items files, merged by id, or `None` without `--items`.
    fn catalogue(&self) -> Result<Option<data::items::Catalogue>> {
        if self.items.is_empty() {
            return Ok(None);
        }
        let mut map = Vec::new();
        for m in &self.item_map {
            let (field, column) = m.split_once('=').with_context(|| {
                format!("--item-map: `{m}` is not FIELD=COLUMN (e.g. name=track_name)")
            })?;
            map.push((field.trim().to_string(), column.trim().to_string()));
        }
        let format = data::items::ItemsFormat {
            map,
            columns: self.item_columns.clone(),
            delimiter: self.delimiter_byte()?,
            skip_bad_rows: self.skip_bad_rows,
        };
        let mut c = data::items::Catalogue::default();
        for p in &self.items {
            c.read(p, &format)?;
        }
        let tracks = if self.keep_duplicates {
            0
        } else {
            c.merge_tracks()
        };
        tracing::info!(
            "items: {} from {} file(s); {} rows, {} merged by id, {} tracks merged into another of the same artist, title and length, {} bad rows skipped",
            c.items.len(),
            self.items.len(),
            c.report.rows,
            c.merged_rows,
            tracks,
            c.report.bad_rows
        );
        Ok(Some(c))
    }

    fn delimiter_byte(&self) -> Result<Option<u8>> {
        match self.delimiter {
            None => Ok(None),
            Some(c) if c.is_ascii() => Ok(Some(c as u8)),
            Some(c) => bail!("--delimiter must be an ASCII character, got `{c}`"),
        }
    }

    /// Reads the data and merges its items ([`data::canonical`]).
    fn ingest(&self) -> Result<(Dataset, data::canonical::MergeReport)> {
        let catalogue = self.catalogue()?;
        let Some(path) = &self.data else {
            if let Some(c) = catalogue {
                let source = self
                    .items
                    .iter()
                    .map(|p| {
                        p.file_name().map_or_else(
                            || p.display().to_string(),
                            |f| f.to_string_lossy().into_owned(),
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" + ");
                tracing::info!("no --data: a content-only bundle of the catalogue");
                return Ok((Dataset::from_catalogue(c, source), Default::default()));
            }
            tracing::info!("no --data: using the embedded default data set");
            let ds = synth::generate(SynthConfig::default()).data;
            return Ok((ds, Default::default()));
        };
        let delimiter = self.delimiter_byte()?;
        let cols = ColumnNames {
            user: self.user_col.clone(),
            item: self.item_col.clone(),
            plays: self.plays_col.clone(),
            name: self.name_col.clone(),
            delimiter,
        };
        let ds = data::load(
            path,
            &cols,
            ReadOptions {
                skip_bad_rows: self.skip_bad_rows,
            },
        )?;
        tracing::info!(
            "{}: {} users, {} items; {}",
            path.display(),
            ds.n_users(),
            ds.n_items(),
            ds.report
        );
        if ds.report.bad_rows > 0 {
            tracing::warn!(
                "{}: skipped {} bad rows (first: {})",
                path.display(),
                ds.report.bad_rows,
                ds.report.first_bad.join("; ")
            );
        }
        // The alias file's merges, then the catalogue's (tracks of one
        // recording), which the plays may name too.
        let mut aliases = match &self.aliases {
            Some(p) => Some((data::canonical::read_aliases(p)?, p.clone())),
            None => None,
        };
        if let Some(c) = catalogue.as_ref().filter(|c| !c.aliases.is_empty()) {
            let (list, _) = aliases.get_or_insert_with(|| (Vec::new(), self.items[0].clone()));
            list.extend(c.aliases.iter().cloned());
        }
        // Names merge only where the data has them (an id is no name).
        let has_names = ds.item_names.iter().zip(&ds.item_ids).any(|(n, i)| n != i);
        let (ds, merged) = data::canonical::merge(
            ds,
            aliases.as_ref().map(|(a, p)| (a.as_slice(), p.as_path())),
            has_names && !self.keep_duplicates,
        )?;
        if merged.merged > 0 {
            let examples: Vec<String> = merged
                .examples
                .iter()
                .take(3)
                .map(|(a, b)| format!("\"{a}\" → \"{b}\""))
                .collect();
            tracing::info!(
                "{}: merged {} items into others ({} by alias), e.g. {}; {} items remain",
                path.display(),
                merged.merged,
                merged.by_alias,
                examples.join(", "),
                ds.n_items()
            );
        }
        let ds = match catalogue {
            Some(c) => ds.with_catalogue(c),
            None => ds,
        };
        Ok((ds, merged))
    }
}

fn check_holdout(holdout: f64) -> Result<()> {
    if !(holdout > 0.0 && holdout < 1.0) {
        bail!("--holdout must be between 0 and 1 (exclusive), got {holdout}");
    }
    Ok(())
}

fn read_bundle(path: &Path) -> Result<Model> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: cannot read the bundle", path.display()))?;
    Model::from_bytes(&bytes).with_context(|| format!("{}: refused", path.display()))
}

#[derive(Serialize)]
struct Rec<'a> {
    rank: usize,
    item: &'a str,
    name: &'a str,
    score: f32,
    /// The standardised parts of a fused score.
    #[serde(skip_serializing_if = "Option::is_none")]
    parts: Option<Parts>,
    /// Labels that matched a search query.
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<String>>,
}

#[derive(Serialize)]
struct Parts {
    cf: f32,
    content: f32,
    popularity: f32,
}

fn rec_rows<'a>(model: &'a Model, recs: &[Recommendation]) -> Vec<Rec<'a>> {
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

fn print_rows(out: &mut dyn Write, rows: &[Rec<'_>], json: bool, title: &str) -> Result<()> {
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
fn fusion(a: &RecommendArgs, model: &Model) -> Result<Option<Fusion>> {
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

fn plain(recs: Vec<Scored>) -> Vec<Recommendation> {
    recs.into_iter()
        .map(|s| Recommendation {
            index: s.index,
            score: s.score,
            cf: s.score,
            content: 0.0,
            popularity: 0.0,
        })
        .collect()
}

fn recommend(a: &RecommendArgs, out: &mut dyn Write) -> Result<()> {
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    let model = read_bundle(&a.bundle)?;
    let w = fusion(a, &model)?;
    let for_user = |u: u32| match w {
        Some(f) => {
            let w = f.for_history(model.user_history(u).0.len());
            model.recommend_fused_user(u, a.k, w)
        }
        None => plain(model.recommend_user(u, a.k)),
    };
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
fn similar(bundle: &Path, item: &str, k: usize, json: bool, out: &mut dyn Write) -> Result<()> {
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

#[cfg(feature = "content")]
fn search(
    bundle: &Path,
    query: &str,
    genre: Option<&str>,
    k: usize,
    json: bool,
    model_dir: &Path,
    out: &mut dyn Write,
) -> Result<()> {
    use timbral_train::cli_content;
    let model = read_bundle(bundle)?;
    let encoder = cli_content::load_encoder(model_dir)?;
    cli_content::check_encoder(&model, &encoder)?;
    let q = encoder.embed(query)?;
    let hits = model.search(query, &q, genre, k)?;
    let content = model.content().expect("checked");
    let mut rows = rec_rows(&model, &plain(hits.clone()));
    for (r, h) in rows.iter_mut().zip(&hits) {
        r.parts = None;
        r.tags = Some(content.matching_labels(h.index as usize, query));
    }
    let title = match genre {
        Some(g) => format!("Search \"{query}\" in genre \"{g}\""),
        None => format!("Search \"{query}\""),
    };
    print_rows(out, &rows, json, &title)
}
fn inspect(path: &Path, json: bool, out: &mut dyn Write) -> Result<()> {
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
            .map(|(k, n, l)| serde_json::json!({"kind": k, "name": n, "bytes": l}))
            .collect();
        let v = serde_json::json!({
            "path": path, "bytes": info.total_len, "format_version": info.version,
            "checksum": format!("{:08x}", info.checksum), "sections": sections,
            "users": model.n_users(), "items": model.n_items(), "plays": nnz,
            "client": model.is_client(),
            "bytes_per_item": info.total_len as f64 / model.n_items().max(1) as f64,
            "params": meta.params, "source": meta.source, "trainer": meta.trainer,
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
    writeln!(
        out,
        "model     implicit ALS: {} factors, {} iterations, regularization {}, alpha {}, {} CG steps, seed {}",
        p.factors, p.iterations, p.regularization, p.alpha, p.cg_steps, p.seed
    )?;
    writeln!(out, "sections")?;
    for (kind, name, len) in &info.sections {
        writeln!(out, "  {kind:>3}  {name:<14} {len:>10} bytes")?;
    }
    Ok(())
}

fn demo(path: &Path, out: &mut dyn Write) -> Result<()> {
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

    let params = AlsParams::default();
    let report = eval::run(ds, params, 0.2, params.seed, &[10, 20], true);
    writeln!(out, "{report}")?;

    let mut model = timbral_train::train_dataset(ds, params, true);
    // Content: the catalogue's tags, genres and audio features, embedded by
    // MiniLM, and fusion weights learned on a validation split.
    #[cfg(feature = "content")]
    let encoder = {
        use timbral_train::cli_content;
        match cli_content::load_encoder(&cli_content::default_model_dir()) {
            Ok(e) => {
                let meta = cli_content::synth_meta(&s, SynthConfig::default().seed);
                let c = cli_content::build(&e, ds, &meta, true)?;
                let learned =
                    timbral_train::hybrid::learn_weights(ds, &ds.plays, &c, params, params.seed);
                writeln!(out, "{learned}")?;
                model = timbral_train::hybrid::with_content(model, &c, Some(learned.fusion));
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
type MaybeEncoder = Option<timbral_encoder::Encoder>;
#[cfg(not(feature = "content"))]
type MaybeEncoder = Option<()>;

/// Content vectors for `ds` (and the encoder that made them), unless
/// `--no-content`; an error if the model files are missing.
fn content_for(
    ds: &Dataset,
    data: &DataArgs,
    c: &ContentArgs,
    progress: bool,
) -> Result<Option<(timbral_core::Content, MaybeEncoder)>> {
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
        let content = timbral_train::compact::compact(content, c.content_dims);
        return Ok(Some((content, encoder)));
    }
    #[cfg(feature = "content")]
    {
        use timbral_train::cli_content;
        let dir = c
            .model_dir
            .clone()
            .unwrap_or_else(cli_content::default_model_dir);
        let encoder = cli_content::load_encoder(&dir)?;
        let meta = cli_content::metadata(data.data.as_deref(), ds, c.spotify.as_deref())?;
        let content = cli_content::build(&encoder, ds, &meta, progress)?;
        let content = timbral_train::compact::compact(&content, c.content_dims);
        Ok(Some((content, Some(encoder))))
    }
    #[cfg(not(feature = "content"))]
    {
        let _ = (ds, data, progress);
        bail!("this build has no text encoder (feature `content`); pass --no-content")
    }
}

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
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli.cmd {
        Cmd::Train {
            data,
            als,
            content,
            out: path,
            client,
        } => {
            let mut params = als.params()?;
            let ds = data.load()?;
            if ds.plays.nnz() == 0 {
                // Nothing to factorise: one factor, not 64 of zeros a row.
                params.factors = 1;
            }
            let mut model = timbral_train::train_dataset(&ds, params, !cli.quiet);
            if let Some((c, _)) = content_for(&ds, &data, &content, !cli.quiet)? {
                let fusion = if ds.plays.nnz() == 0 {
                    writeln!(
                        out,
                        "no plays: content and popularity alone (no fusion weights to learn)"
                    )?;
                    timbral_train::hybrid::CONTENT_ONLY
                } else {
                    let learned = timbral_train::hybrid::learn_weights(
                        &ds,
                        &ds.plays,
                        &c,
                        params,
                        params.seed,
                    );
                    write!(out, "{learned}")?;
                    learned.fusion
                };
                model = timbral_train::hybrid::with_content(model, &c, Some(fusion));
            }
            if client {
                model = model.client();
            }
            let bytes = model.to_bytes();
            write::atomic(&path, &bytes)?;
            writeln!(
                out,
                "wrote {} ({} bytes): {} users, {} items, {} plays, {} factors{}{}",
                path.display(),
                bytes.len(),
                ds.n_users(),
                ds.n_items(),
                ds.plays.nnz(),
                params.factors,
                if model.content().is_some() {
                    ", content vectors"
                } else {
                    ""
                },
                if client {
                    "; client bundle: no listener's data in it"
                } else {
                    ""
                }
            )?;
        }
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
        Cmd::Eval {
            data,
            als,
            content,
            holdout,
            k,
            json,
        } => {
            check_holdout(holdout)?;
            if k.is_empty() || k.contains(&0) {
                bail!("--k needs cut-offs ≥ 1, e.g. --k 10,20");
            }
            let params = als.params()?;
            let ds = data.load()?;
            let report = eval::run(&ds, params, holdout, params.seed, &k, !cli.quiet);
            let mut value = serde_json::to_value(&report)?;
            if !json {
                write!(out, "{report}")?;
            }
            if let Some((c, enc)) = content_for(&ds, &data, &content, !cli.quiet)? {
                let hybrid = timbral_train::hybrid::run(&ds, &c, params, holdout, params.seed, &k);
                value["hybrid"] = serde_json::to_value(&hybrid)?;
                if !json {
                    writeln!(out)?;
                    write!(out, "{hybrid}")?;
                }
                #[cfg(feature = "content")]
                if let Some(enc) = enc {
                    let model = timbral_train::hybrid::hybrid_model(&ds, &ds.plays, &c, params);
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
                        let taggings = timbral_train::content::hetrec_taggings(dir, &ds)?;
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
            k,
            json,
            model_dir,
            query,
        } => {
            if k == 0 {
                bail!("--k must be at least 1");
            }
            let dir = model_dir.unwrap_or_else(timbral_train::cli_content::default_model_dir);
            search(&bundle, &query, genre.as_deref(), k, json, &dir, &mut out)?
        }
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
        Cmd::Bench {
            data,
            synthetic_users,
            synthetic_items,
            synthetic_plays_per_user,
            synthetic_iterations,
            bundle,
            model_dir,
            content_only,
        } => {
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
                    let model = read_bundle(&b)?;
                    bench::fused(&model, &mut out)?;
                    bench::hnsw_vs_exact(&model, &mut out)?;
                }
            }
            #[cfg(not(feature = "content"))]
            let _ = (bundle, model_dir);
        }
        Cmd::Synth {
            out: path,
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
        }
        Cmd::Demo { out: path } => demo(&path, &mut out)?,
    }
    out.flush()?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
