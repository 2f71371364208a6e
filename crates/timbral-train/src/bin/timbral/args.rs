//! The `timbral` command line's flags: every command and option, apart
//! from what the commands do (ripgrep's flags/defs.rs, in small), and how
//! the data flags turn into a data set (`DataArgs::ingest`).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use timbral_core::AlsParams;
use timbral_train::data::{self, ColumnNames, Dataset, ReadOptions};
use timbral_train::item_item::CfKinds;
use timbral_train::synth::{self, SynthConfig};

#[derive(Parser)]
#[command(
    name = "timbral",
    version,
    about = "Train and query Timbral music-recommendation bundles"
)]
pub(crate) struct Cli {
    /// Worker threads for training and evaluation (default: all cores).
    #[arg(long, global = true)]
    pub(crate) threads: Option<usize>,
    /// More logging (-v debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
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
    /// Write a bundle from a model trained elsewhere: `import spark-als`.
    #[cfg(feature = "parquet")]
    Import {
        #[command(subcommand)]
        cmd: ImportCmd,
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
    /// Every known user's top-K into Redis (a new versioned key space per
    /// run, switched to atomically, the old one deleted after), or into a
    /// Workers KV bulk file.
    #[cfg(feature = "redis")]
    Precompute(PrecomputeArgs),
    /// The native server: the Worker's routes, plus known users' top-K from
    /// a Redis precompute (computed where Redis misses or is down), similar
    /// users and explanations; /metrics, JSON logs on stdout.
    #[cfg(feature = "serve")]
    Serve(ServeArgs),
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
        /// The CF rows to evaluate, comma-separated, among popularity, als
        /// (as given), als-tuned, ials (frequency-scaled regularisation,
        /// tuned), nmf (tuned), bpr (tuned), lightgcn (tuned), rp3beta,
        /// ease (up to 6,000 items) and blend (the model `train` would
        /// choose).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "popularity,als,als-tuned,ials,nmf,bpr,lightgcn,rp3beta,ease,blend"
        )]
        models: Vec<String>,
        /// Also score these bundles, trained elsewhere on the split's
        /// training plays (`--write-split`), each a row named by its file.
        #[arg(long = "bundle", value_name = "BUNDLE")]
        bundles: Vec<PathBuf>,
        /// Write the split as DIR/train.tsv (user, item, plays, name) and
        /// DIR/test.tsv (user, item), in the data's ids, for a model
        /// trained elsewhere (tools/spark), then stop.
        #[arg(long, value_name = "DIR")]
        write_split: Option<PathBuf>,
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
        /// Only items released in these years, e.g. `1980..1989`.
        #[arg(long, value_name = "A..B")]
        year: Option<timbral_core::facts::Range>,
        /// Only items of this energy (measured or predicted), e.g. `0.7..`.
        #[arg(long, value_name = "A..B")]
        energy: Option<timbral_core::facts::Range>,
        /// Only items of this mood (probability ≥ ½): upbeat, chill, dark,
        /// melancholic, aggressive, romantic.
        #[arg(long)]
        mood: Option<String>,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long)]
        json: bool,
        /// Directory with model.onnx and tokenizer.json (default: models/minilm in the repository).
        #[arg(long)]
        model_dir: Option<PathBuf>,
        query: String,
    },
    /// Everything a bundle knows of one item: name, year, weighted tags,
    /// audio features (measured, predicted or a prior) and moods.
    Item {
        #[arg(long)]
        bundle: PathBuf,
        /// The item's id (or a merged id it is known by).
        #[arg(long)]
        item: String,
        #[arg(long)]
        json: bool,
    },
    /// Print a text's MiniLM embedding as a JSON array.
    #[cfg(feature = "content")]
    Embed {
        /// Directory with model.onnx and tokenizer.json (default: models/minilm in the repository).
        #[arg(long)]
        model_dir: Option<PathBuf>,
        text: String,
    },
    /// A listener session over JSON Lines: one command a line on stdin
    /// (coldstart, recommend, feedback, profile, save, load), one JSON
    /// reply a line on stdout; a bad command gets an error line and the
    /// session goes on.
    Session {
        #[arg(long)]
        bundle: PathBuf,
    },
    /// Simulated listeners with 1–3 hidden tastes, served by each strategy
    /// for some rounds: like-rate per round and stage, hidden tastes'
    /// shares, convergence.
    Simulate {
        #[arg(long)]
        bundle: PathBuf,
        #[arg(long, default_value_t = 200)]
        listeners: usize,
        #[arg(long, default_value_t = 40)]
        rounds: usize,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Strategies to compare: staged, single, popular, random.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "staged,single,popular,random"
        )]
        strategy: Vec<timbral_train::simulate::Strategy>,
        /// Write the like-rate curves here (SVG).
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// A playlist continuing some seed items: their content centroid's
    /// nearest items, seeds left out, diversified by MMR (λ = 0.3 by
    /// default), the same code the wasm package and the Worker run.
    Autofill {
        #[arg(long)]
        bundle: PathBuf,
        /// Seed item ids, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        seeds: Vec<String>,
        /// Items never to add (a listener's library), comma-separated.
        #[arg(long, value_delimiter = ',')]
        exclude: Vec<String>,
        #[arg(long, default_value_t = 20)]
        k: usize,
        #[arg(long, default_value_t = timbral_core::listener::AUTOFILL_LAMBDA)]
        lambda: f32,
        #[arg(long)]
        json: bool,
    },
    /// Playlist continuation: half of each playlist held out, continued
    /// by autofill, plain KNN and a genre-match baseline; recall@10,
    /// recall@50 and R-precision.
    PlaylistEval {
        #[arg(long)]
        bundle: PathBuf,
        /// A table of (playlist, item) rows, e.g. spotify_songs.csv.
        #[arg(long)]
        playlists: PathBuf,
        #[arg(long, default_value = "playlist_id")]
        playlist_col: String,
        #[arg(long, default_value = "track_id")]
        item_col: String,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        json: bool,
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
        /// With --bundle: fusion through its shortlist scores this many
        /// items instead of the stored probe (recall and time at another
        /// budget).
        #[arg(long, value_name = "ITEMS", requires = "bundle")]
        probe: Option<u32>,
        /// Directory with model.onnx and tokenizer.json, for embedding latency (default: models/minilm).
        #[arg(long)]
        model_dir: Option<PathBuf>,
        /// Skip the ALS and synthetic-data timings.
        #[arg(long)]
        content_only: bool,
        /// Only time ingestion: a plays table of this many rows as CSV,
        /// gzip'd CSV and Parquet, read back (e.g. 10000000).
        #[arg(long, value_name = "ROWS")]
        ingest_rows: Option<usize>,
        /// Only time the trainer's embedding of this many catalogue items
        /// (items/s, and the time 1M items would take).
        #[arg(long, value_name = "N")]
        embed_items: Option<usize>,
    },
    /// Write a synthetic interactions file (TSV: user, item, name, plays).
    Synth {
        /// The plays file (TSV: user, item, name, plays).
        #[arg(long)]
        out: PathBuf,
        /// The items file (TSV: id, name, genres, weighted tags, year and the
        /// nine audio features); default: beside `--out`, `STEM.items.tsv`.
        #[arg(long, value_name = "FILE")]
        items_out: Option<PathBuf>,
        #[arg(long, default_value_t = SynthConfig::default().users)]
        users: usize,
        #[arg(long, default_value_t = SynthConfig::default().items)]
        items: usize,
        #[arg(long, default_value_t = SynthConfig::default().plays_per_user)]
        plays_per_user: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// A client bundle of a synthetic catalogue (CF factors, compact text
    /// vectors, audio, labels, Zipf popularity; nothing trained), for
    /// figures at sizes past the real data: `bench --bundle` on it.
    SynthBundle {
        /// Where to write the bundle (atomically).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        items: usize,
        #[arg(long, default_value_t = 64)]
        factors: usize,
        /// Dimensions of the shipped text vectors.
        #[arg(long, default_value_t = timbral_train::compact::CLIENT_DIMS)]
        dims: usize,
        #[arg(long, default_value_t = 500)]
        clusters: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Index the catalogue for fused ranking: `auto` from 200,000 items.
        #[arg(long, value_enum, default_value_t)]
        shortlist: timbral_train::shortlist::When,
    },
    /// The mood/energy model: `mood train` fits it on the items whose audio
    /// features are measured; `train --mood-model` uses it.
    Mood {
        #[command(subcommand)]
        cmd: MoodCmd,
    },
    /// The main job on the embedded default: evaluate, train, write a bundle, recommend.
    Demo {
        #[arg(long, default_value = "timbral-demo.bundle")]
        out: PathBuf,
        /// What the CF tuner may spend, as `train --budget` says.
        #[arg(long, default_value = "60s", value_parser = parse_budget)]
        budget: f64,
    },
}

#[cfg(feature = "parquet")]
#[derive(Subcommand)]
pub(crate) enum ImportCmd {
    /// A Spark MLlib implicit ALS model (`ALSModel.save`, as
    /// tools/spark/train_als.py writes it): its factors, aligned to the
    /// plays, with popularity and content as `train` makes them. Fold-in
    /// in every runtime uses Spark's own regParam (× a row's plays) and
    /// alpha, so a new listener is scored as Spark scores the users it
    /// trained.
    SparkAls(SparkImportArgs),
}

#[cfg(feature = "parquet")]
#[derive(Args)]
pub(crate) struct SparkImportArgs {
    /// The model: an `ALSModel.save` directory, or train_als.py's output
    /// directory (model/, als/ with the estimator's parameters, ids/ with
    /// the data's ids).
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// regParam, where no ALS estimator was saved beside the model.
    #[arg(long)]
    pub(crate) reg_param: Option<f32>,
    /// alpha, where no ALS estimator was saved beside the model.
    #[arg(long)]
    pub(crate) alpha: Option<f32>,
    /// `--plays` (or `--data`): the plays the model was trained on, for
    /// popularity, the known users' histories and fusion; without it, the
    /// model's own users and items.
    #[command(flatten)]
    pub(crate) data: DataArgs,
    #[command(flatten)]
    pub(crate) content: ContentArgs,
    /// Where to write the bundle (atomically).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// The client bundle: no training listener's id, factor or history.
    #[arg(long)]
    pub(crate) client: bool,
}

#[derive(Subcommand)]
pub(crate) enum MoodCmd {
    /// Fit the model on the items files' measured audio features and print
    /// its cross-validation table.
    Train {
        #[command(flatten)]
        data: DataArgs,
        /// Directory with model.onnx and tokenizer.json (default: models/minilm in the repository).
        #[arg(long)]
        model_dir: Option<PathBuf>,
        /// Where to write the model (atomically).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Seed of the folds' shuffle.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The cross-validation table as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub(crate) struct DataArgs {
    /// A HetRec Last.fm-2k directory or a plays table: CSV/TSV/whitespace
    /// text with a header (or --columns), JSON Lines or Parquet, gzip by a
    /// `.gz` extension (default: the embedded synthetic data set).
    #[arg(long, visible_alias = "plays")]
    pub(crate) data: Option<PathBuf>,
    /// User column of a CSV/TSV file (default: user, user_id, …).
    #[arg(long)]
    pub(crate) user_col: Option<String>,
    /// Item column (default: item, item_id, artist, …).
    #[arg(long)]
    pub(crate) item_col: Option<String>,
    /// Play-count column (default: plays, count, weight, …; none = 1 play a row).
    #[arg(long)]
    pub(crate) plays_col: Option<String>,
    /// Item-name column (default: name, item_name, …).
    #[arg(long)]
    pub(crate) name_col: Option<String>,
    /// Field delimiter of a text file: one character, `tab` or
    /// `whitespace` (runs of spaces, as Audioscrobbler's `user artist
    /// plays`); default: by extension, else sniffed.
    #[arg(long, value_name = "CHAR|tab|whitespace")]
    pub(crate) delimiter: Option<data::table::Delimiter>,
    /// The columns of a headerless plays file, e.g. `user,item,plays`.
    #[arg(long, value_delimiter = ',', value_name = "COLUMN,…")]
    pub(crate) columns: Option<Vec<String>>,
    /// Skip malformed rows (counted and reported) instead of failing.
    #[arg(long)]
    pub(crate) skip_bad_rows: bool,
    /// Merge items by an alias file: `bad_id<TAB>good_id` lines (as
    /// Audioscrobbler's artist_alias.txt).
    #[arg(long, value_name = "FILE")]
    pub(crate) aliases: Option<PathBuf>,
    /// Keep items whose names are spellings of one artist apart (by
    /// default "The Pet Shop Boys" and "Pet Shop Boys" are one item).
    #[arg(long)]
    pub(crate) keep_duplicates: bool,
    /// Item metadata (CSV/TSV with a header, JSON Lines or Parquet; gzip by
    /// a `.gz` extension): names,
    /// artists, genres, tags, years, popularity, audio features. Repeat to
    /// merge several sources by item id. Without --data, a content-only
    /// bundle of the catalogue.
    #[arg(long = "items", value_name = "FILE")]
    pub(crate) items: Vec<PathBuf>,
    /// Map item fields to an items file's columns, e.g.
    /// `id=track_id,name=track_name,artist=track_artist`.
    #[arg(long, value_delimiter = ',', value_name = "FIELD=COLUMN,…")]
    pub(crate) item_map: Vec<String>,
    /// The columns of a headerless items file, e.g. `id,name,genres`.
    #[arg(long, value_delimiter = ',', value_name = "FIELD,…")]
    pub(crate) item_columns: Option<Vec<String>>,
}

#[derive(Args, Default)]
pub(crate) struct ContentArgs {
    /// CF only: no content vectors, no text encoder needed.
    #[arg(long)]
    pub(crate) no_content: bool,
    /// Directory with model.onnx and tokenizer.json (default: models/minilm in the repository).
    #[arg(long)]
    pub(crate) model_dir: Option<PathBuf>,
    /// Spotify artists CSV with genres and audio features (default: beside a HetRec directory).
    #[arg(long)]
    pub(crate) spotify: Option<PathBuf>,
    /// Reuse the content vectors of this bundle (trained on the same catalogue) instead of embedding again.
    #[arg(long, value_name = "BUNDLE", conflicts_with = "no_content")]
    pub(crate) content_from: Option<PathBuf>,
    /// Keep the text vectors on this many principal axes (0: all 384).
    /// Default: all of them in a full bundle, 80 in a client bundle
    /// (`--client`), which browsers and Workers download.
    #[arg(long)]
    pub(crate) content_dims: Option<usize>,
    /// Predict the audio features and moods of items without measured ones
    /// with this model (`timbral mood train`), flagged `predicted`; default:
    /// from their nearest measured items in text space.
    #[arg(long, value_name = "MOOD")]
    pub(crate) mood_model: Option<PathBuf>,
    /// Genres whose items are never recommended (background sound rather
    /// than music someone picks). Default: ambient, white noise,
    /// background, background music, sleep, nature sounds, rain sounds,
    /// meditation. `--exclude-genres ''` excludes none.
    #[arg(long, value_delimiter = ',', value_name = "GENRE,…")]
    pub(crate) exclude_genres: Option<Vec<String>>,
    /// Index the catalogue for fused ranking (k-means clusters of the
    /// items' fused vectors; fusion then scores the best clusters' items,
    /// not every item): `auto` from 200,000 items.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) shortlist: timbral_train::shortlist::When,
}

impl ContentArgs {
    /// The genres kept out of recommendation pools.
    #[cfg_attr(not(feature = "content"), allow(dead_code))]
    pub(crate) fn excluded_genres(&self) -> Vec<&str> {
        match &self.exclude_genres {
            Some(v) => v
                .iter()
                .map(|g| g.trim())
                .filter(|g| !g.is_empty())
                .collect(),
            None => timbral_core::taste::clusters::DEFAULT_EXCLUDED.to_vec(),
        }
    }

    /// The text vectors' dimensions for a full or a client bundle.
    pub(crate) fn dims(&self, client: bool) -> usize {
        use timbral_train::compact;
        self.content_dims.unwrap_or(if client {
            compact::CLIENT_DIMS
        } else {
            compact::DEFAULT_DIMS
        })
    }
}

#[derive(Args)]
pub(crate) struct AlsArgs {
    /// The factor model: implicit ALS (confidence-weighted), NMF
    /// (non-negative factors, every cell weighed alike), BPR (plays ranked
    /// above the rest) or LightGCN (BPR's loss on item embeddings smoothed
    /// over the listener–item graph). The tuner tries them all; with
    /// --no-tune, this one as given.
    #[arg(long, default_value = "als", value_parser = ["als", "nmf", "bpr", "lightgcn"])]
    pub(crate) factor_model: String,
    #[arg(long, default_value_t = AlsParams::default().factors)]
    pub(crate) factors: u32,
    /// Alternating iterations (ALS, NMF), SGD epochs (BPR) or full-batch
    /// epochs (LightGCN) [default: 15; LightGCN 200].
    #[arg(long)]
    pub(crate) iterations: Option<u32>,
    /// λ [default: ALS 80, NMF 20, BPR 0.0001 (per SGD step), LightGCN
    /// 0.0001 (weight decay)].
    #[arg(long)]
    pub(crate) regularization: Option<f32>,
    /// Confidence scale: c = 1 + alpha · ln(1 + plays) (BPR: each play's
    /// weight; LightGCN: each play's weight and its graph edge's) [default:
    /// ALS 3, NMF 0.3, BPR 1, LightGCN 1].
    #[arg(long)]
    pub(crate) alpha: Option<f32>,
    /// ν of frequency-scaled regularisation (iALS, Rendle et al. 2022): a
    /// row with n plays is regularised by λ·(n / mean n)^ν; 0 is plain ALS.
    /// The tuner tries 0, 0.5 and 1.
    #[arg(long, default_value_t = AlsParams::default().reg_exponent)]
    pub(crate) reg_exponent: f32,
    /// Conjugate-gradient steps per row and half-step.
    #[arg(long, default_value_t = AlsParams::default().cg_steps)]
    pub(crate) cg_steps: u32,
    /// Seed for the factor initialisation and the evaluation split.
    #[arg(long, default_value_t = AlsParams::default().seed)]
    pub(crate) seed: u64,
    /// CF as given: the factors with these parameters alone, without the
    /// validation choice of regularization and alpha and of an item-item
    /// model (RP3beta or EASE) blended in. With `--cf als+rp3beta` or
    /// `als+ease`, the factors as given, the item-item model still tuned.
    #[arg(long)]
    pub(crate) no_tune: bool,
    /// The CF models to choose among on validation: `auto` (the factors
    /// alone or blended with whichever item-item model ranks best), `als`
    /// (the factors alone), `als+rp3beta` or `als+ease` (that item-item
    /// model blended in, even where it adds little).
    #[arg(long, value_enum, default_value_t = CfKinds::Auto)]
    pub(crate) cf: CfKinds,
    /// What the CF tuner may spend: seconds of work (`90`, `60s`, `5m`) as
    /// estimated for a reference machine from the data's shape, not read
    /// off a clock, so the same data and budget choose the same model
    /// anywhere. Past it, the candidates furthest from the given
    /// parameters are left out.
    #[arg(long, default_value = "60s", value_parser = parse_budget)]
    pub(crate) budget: f64,
}

fn parse_budget(s: &str) -> Result<f64, String> {
    timbral_train::cf_budget::parse_seconds(s)
}

#[cfg(feature = "redis")]
#[derive(Args)]
pub(crate) struct PrecomputeArgs {
    /// The full bundle (a client bundle has no known users).
    #[arg(long)]
    pub(crate) bundle: PathBuf,
    #[arg(long, default_value_t = 50)]
    pub(crate) k: usize,
    /// The Redis server, e.g. redis://127.0.0.1:6379 (redis://:password@host:port/db).
    #[arg(long, required_unless_present = "kv_bulk", conflicts_with = "kv_bulk")]
    pub(crate) redis: Option<String>,
    /// Instead of Redis: a JSON file for `wrangler kv bulk put`
    /// (`[{"key": "{prefix}user:{id}", "value": "[…]"}]`), written atomically.
    #[arg(long, value_name = "FILE.json")]
    pub(crate) kv_bulk: Option<PathBuf>,
    /// Prefix of every key written.
    #[arg(long, default_value = "timbral:")]
    pub(crate) prefix: String,
    /// Seconds after which each written key expires (default: never; at
    /// least 60 for Workers KV).
    #[arg(long)]
    pub(crate) ttl: Option<u64>,
    /// Users per pipelined round trip.
    #[arg(long, default_value_t = 500)]
    pub(crate) batch: usize,
}

#[cfg(feature = "serve")]
#[derive(Args)]
pub(crate) struct ServeArgs {
    #[arg(long)]
    pub(crate) bundle: PathBuf,
    /// A `timbral precompute` run's Redis, for GET /rec/users/{id}.
    #[arg(long)]
    pub(crate) redis: Option<String>,
    /// The precompute's key prefix.
    #[arg(long, default_value = "timbral:")]
    pub(crate) prefix: String,
    /// Where to listen (port 0: any free port, printed on stderr).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) addr: std::net::SocketAddr,
    /// Directory with model.onnx and tokenizer.json, for semantic /search
    /// (default: models/minilm; without it, search is by words).
    #[cfg(feature = "content")]
    #[arg(long)]
    pub(crate) model_dir: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct RecommendArgs {
    #[arg(long)]
    pub(crate) bundle: PathBuf,
    /// A user id as in the training data.
    #[arg(long, conflicts_with_all = ["history", "all_users"])]
    pub(crate) user: Option<String>,
    /// A new listener's history: `item[,plays]` rows, folded in without retraining.
    #[arg(long, conflicts_with = "all_users")]
    pub(crate) history: Option<PathBuf>,
    /// Precompute for every known user (TSV: user, item, rank, score).
    #[arg(long)]
    pub(crate) all_users: bool,
    #[arg(long, default_value_t = 10)]
    pub(crate) k: usize,
    #[arg(long)]
    pub(crate) json: bool,
    /// With --all-users: write here (atomically) instead of stdout.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Skip malformed or unknown history rows instead of failing.
    #[arg(long)]
    pub(crate) skip_bad_rows: bool,
    /// Fusion weights α,β,γ[,κ] (CF, content, 1 − popularity penalty[, content in the CF slot of new items]); default: the bundle's learned ones.
    #[arg(long, value_delimiter = ',', num_args = 1, value_name = "A,B,C[,K]")]
    pub(crate) weights: Option<Vec<f32>>,
}

impl AlsArgs {
    /// The tuner's choice of CF model on `plays`, where there is one to
    /// make: none with `--no-tune` (unless `--cf` asks for an item-item
    /// model) or without plays.
    pub(crate) fn choose(
        &self,
        plays: &timbral_core::Csr,
        params: AlsParams,
    ) -> Result<Option<timbral_train::cf_tune::Choice>> {
        self.cf.check(plays.n_cols()).map_err(anyhow::Error::msg)?;
        let choose = plays.nnz() > 0 && (!self.no_tune || self.cf.forces_item_item());
        Ok(choose
            .then(|| timbral_train::cf_tune::choose(plays, params, params.seed, self.search())))
    }

    /// What the CF tuner searches, as the flags say.
    pub(crate) fn search(&self) -> timbral_train::cf_tune::Search {
        timbral_train::cf_tune::Search {
            tune_als: !self.no_tune,
            kinds: self.cf,
            budget_s: self.budget,
        }
    }

    pub(crate) fn params(&self) -> Result<AlsParams> {
        let model = self.factor_model.parse().map_err(anyhow::Error::msg)?;
        let d = AlsParams::defaults_for(model);
        let p = AlsParams {
            model,
            factors: self.factors,
            iterations: self.iterations.unwrap_or(d.iterations),
            regularization: self.regularization.unwrap_or(d.regularization),
            alpha: self.alpha.unwrap_or(d.alpha),
            cg_steps: self.cg_steps,
            seed: self.seed,
            reg_exponent: self.reg_exponent,
        };
        p.validate().map_err(anyhow::Error::msg)?;
        Ok(p)
    }
}

impl DataArgs {
    pub(crate) fn load(&self) -> Result<Dataset> {
        Ok(self.ingest()?.0)
    }

    /// The items files, merged by id, or `None` without `--items`.
    pub(crate) fn catalogue(&self) -> Result<Option<data::items::Catalogue>> {
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
            delimiter: self.delimiter,
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

    /// Reads the data and merges its items ([`data::canonical`]).
    pub(crate) fn ingest(&self) -> Result<(Dataset, data::canonical::MergeReport)> {
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
        let cols = ColumnNames {
            user: self.user_col.clone(),
            item: self.item_col.clone(),
            plays: self.plays_col.clone(),
            name: self.name_col.clone(),
            delimiter: self.delimiter,
            columns: self.columns.clone(),
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

pub(crate) fn check_holdout(holdout: f64) -> Result<()> {
    if !(holdout > 0.0 && holdout < 1.0) {
        bail!("--holdout must be between 0 and 1 (exclusive), got {holdout}");
    }
    Ok(())
}
