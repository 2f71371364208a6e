//! Spark MLlib ALS in: the factors of a model written by `ALSModel.save`,
//! the training parameters of the `ALS` estimator saved beside it, and the
//! id maps of `tools/spark/train_als.py`, aligned to a data set so the
//! trainer writes the same bundle as for its own ALS.
//!
//! Spark's implicit ALS regularises each row by `regParam · n` (n: the
//! row's ratings), which is frequency-scaled regularisation with ν = 1
//! against a reference of 1 play (`als::row_regularization`): the bundle
//! stores exactly that, so every runtime folds a new listener in as Spark
//! solves the users it trained. The job rates a play count `p` as
//! `ln(1 + p)`, so Spark's confidence `1 + α·r` is Timbral's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use timbral_core::AlsParams;

use crate::data::table::{read_table, Cell, TableFormat, Visitor};
use crate::data::{DataError, Dataset};
use crate::fit::Factors;

/// One side's factors: each row's id (the data's own, through the job's id
/// map, else Spark's integer) and its vector, row-major.
#[derive(Clone, Debug, Default)]
pub struct Side {
    pub ids: Vec<String>,
    pub factors: Vec<f32>,
}

/// A Spark ALS model as read from disk.
#[derive(Clone, Debug)]
pub struct SparkAls {
    /// Rank, regParam, alpha, maxIter and seed, as Timbral's parameters
    /// (ν = 1; see the module's comment).
    pub params: AlsParams,
    pub spark_version: String,
    pub users: Side,
    pub items: Side,
}

/// Training parameters that were not found on disk (`--reg-param`,
/// `--alpha`), or that override what was.
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    pub reg_param: Option<f32>,
    pub alpha: Option<f32>,
}

/// How an imported model lines up with the data set it is aligned to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alignment {
    /// The data's users and items without a Spark factor (zero vectors:
    /// a user with none gets popularity; an item with none is never a
    /// CF pick).
    pub users_without: usize,
    pub items_without: usize,
    /// Spark's users and items the data does not name (left out).
    pub users_unused: usize,
    pub items_unused: usize,
}

/// The reference count of `row_regularization` for Spark's `regParam · n`.
pub const SPARK_REFERENCE: f32 = 1.0;

impl SparkAls {
    /// Reads `dir`: an `ALSModel.save` directory (with `metadata/`,
    /// `userFactors/`, `itemFactors/`), or the output directory of
    /// `tools/spark/train_als.py` (with `model/`, `als/` and `ids/`).
    pub fn read(dir: &Path, overrides: Overrides) -> Result<SparkAls> {
        let (model_dir, job_dir) = if dir.join("metadata").is_dir() {
            (dir.to_path_buf(), dir.parent().map(Path::to_path_buf))
        } else if dir.join("model").join("metadata").is_dir() {
            (dir.join("model"), Some(dir.to_path_buf()))
        } else {
            bail!(
                "{}: not a Spark ALS model (no metadata/ in it, nor model/metadata/)",
                dir.display()
            );
        };
        let meta = read_metadata(&model_dir.join("metadata"))?;
        let class = meta["class"].as_str().unwrap_or_default();
        if class != "org.apache.spark.ml.recommendation.ALSModel" {
            bail!(
                "{}: metadata names class `{class}`, not org.apache.spark.ml.recommendation.ALSModel",
                model_dir.display()
            );
        }
        let rank = meta["rank"]
            .as_u64()
            .or_else(|| meta["paramMap"]["rank"].as_u64())
            .with_context(|| format!("{}: metadata has no rank", model_dir.display()))?;
        let estimator = job_dir
            .as_ref()
            .map(|d| d.join("als"))
            .filter(|d| d.join("metadata").is_dir());
        let trained = match &estimator {
            Some(d) => Some(estimator_params(&d.join("metadata"))?),
            None => None,
        };
        let params = training_params(rank, trained.as_ref(), overrides, &model_dir)?;
        let ids_dir = job_dir.map(|d| d.join("ids"));
        let ids = |side: &str| -> Result<Option<HashMap<i64, String>>> {
            match ids_dir
                .as_ref()
                .map(|d| d.join(side))
                .filter(|d| d.is_dir())
            {
                Some(d) => read_ids(&d).map(Some),
                None => Ok(None),
            }
        };
        let users = read_side(
            &model_dir.join("userFactors"),
            rank as usize,
            ids("users")?.as_ref(),
        )?;
        let items = read_side(
            &model_dir.join("itemFactors"),
            rank as usize,
            ids("items")?.as_ref(),
        )?;
        Ok(SparkAls {
            params,
            spark_version: meta["sparkVersion"].as_str().unwrap_or("?").to_string(),
            users,
            items,
        })
    }

    /// The factors of `ds`'s users and items, in its order. An item the
    /// data merged into another (an alias) lends its vector where the kept
    /// id has none of its own.
    pub fn align(&self, ds: &Dataset) -> (Factors, Alignment) {
        let f = self.params.factors as usize;
        let users: HashMap<&str, u32> = ds
            .user_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i as u32))
            .collect();
        let own: HashMap<&str, u32> = ds
            .item_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i as u32))
            .collect();
        let (u, users_without, users_unused) = place(&self.users, f, ds.n_users(), &users, None);
        let (i, items_without, items_unused) =
            place(&self.items, f, ds.n_items(), &ds.item_lookup(), Some(&own));
        let report = Alignment {
            users_without,
            items_without,
            users_unused,
            items_unused,
        };
        let factors = Factors {
            users: u,
            items: i,
            dim: f,
            user_reference: SPARK_REFERENCE,
        };
        (factors, report)
    }

    /// A data set of the model's own users and items, with no plays: for an
    /// import without a plays file.
    pub fn dataset(&self, source: &str) -> Dataset {
        let (nu, ni) = (self.users.ids.len(), self.items.ids.len());
        Dataset {
            user_ids: self.users.ids.clone(),
            item_ids: self.items.ids.clone(),
            item_names: self.items.ids.clone(),
            plays: timbral_core::Csr::from_triplets(nu, ni, Vec::new()),
            source: source.to_string(),
            report: Default::default(),
            aliases: Default::default(),
            catalogue: None,
        }
    }
}

/// `side`'s vectors at their rows of `lookup` (`n` rows of `f`): an id
/// of `own` (every id, without it) wins over an alias of the same row.
/// Returns the vectors, the rows left without one and the ids not placed.
fn place(
    side: &Side,
    f: usize,
    n: usize,
    lookup: &HashMap<&str, u32>,
    own: Option<&HashMap<&str, u32>>,
) -> (Vec<f32>, usize, usize) {
    let mut out = vec![0f32; n * f];
    let mut placed = vec![false; n];
    let mut unused = 0;
    for (k, id) in side.ids.iter().enumerate() {
        let Some(&i) = lookup.get(id.as_str()) else {
            unused += 1;
            continue;
        };
        let (i, is_own) = (i as usize, own.is_none_or(|o| o.contains_key(id.as_str())));
        if is_own || !placed[i] {
            out[i * f..(i + 1) * f].copy_from_slice(&side.factors[k * f..(k + 1) * f]);
            placed[i] = true;
        }
    }
    let without = placed.iter().filter(|&&x| !x).count();
    (out, without, unused)
}

/// The first `part-*` file of a Spark text output directory, as JSON.
fn read_metadata(dir: &Path) -> Result<serde_json::Value> {
    let part = parts(dir, |n| !n.ends_with(".crc"))?
        .into_iter()
        .next()
        .with_context(|| format!("{}: no part-* file", dir.display()))?;
    let text =
        std::fs::read_to_string(&part).with_context(|| format!("reading {}", part.display()))?;
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    serde_json::from_str(line).with_context(|| format!("{}: not JSON metadata", part.display()))
}

/// `dir`'s `part-*` files whose names pass `keep`, sorted.
fn parts(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("part-") && keep(&name) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The estimator's parameters: its defaults overlaid by what was set.
fn estimator_params(dir: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let meta = read_metadata(dir)?;
    let class = meta["class"].as_str().unwrap_or_default();
    if class != "org.apache.spark.ml.recommendation.ALS" {
        bail!(
            "{}: metadata names class `{class}`, not the ALS estimator",
            dir.display()
        );
    }
    let mut params = meta["defaultParamMap"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if let Some(set) = meta["paramMap"].as_object() {
        params.extend(set.clone());
    }
    Ok(params)
}

/// Timbral's parameters for a Spark model of `rank`, from its estimator's
/// parameters and the overrides; an error names what is missing or what
/// Timbral cannot fold in as Spark would.
fn training_params(
    rank: u64,
    trained: Option<&serde_json::Map<String, serde_json::Value>>,
    overrides: Overrides,
    model_dir: &Path,
) -> Result<AlsParams> {
    let get = |k: &str| trained.and_then(|t| t.get(k));
    if get("implicitPrefs").and_then(|v| v.as_bool()) == Some(false) {
        bail!(
            "{}: the model was trained on explicit ratings (implicitPrefs false); Timbral folds \
             listeners in by implicit ALS, so it would not score them as Spark does",
            model_dir.display()
        );
    }
    if get("nonnegative").and_then(|v| v.as_bool()) == Some(true) {
        bail!(
            "{}: the model is non-negative ALS; Timbral's fold-in is unconstrained least squares",
            model_dir.display()
        );
    }
    if let Some(r) = get("rank").and_then(|v| v.as_u64()) {
        if r != rank {
            bail!(
                "{}: the estimator beside it has rank {r}, the model {rank}",
                model_dir.display()
            );
        }
    }
    let number = |k: &str, given: Option<f32>, flag: &str| -> Result<f32> {
        given
            .or_else(|| get(k).and_then(|v| v.as_f64()).map(|v| v as f32))
            .with_context(|| {
                format!(
                    "{}: no {k} (no ALS estimator saved beside the model, as \
                     tools/spark/train_als.py saves one in als/): give {flag}",
                    model_dir.display()
                )
            })
    };
    let p = AlsParams {
        model: timbral_core::FactorModel::Als,
        factors: u32::try_from(rank).context("rank")?,
        iterations: get("maxIter").and_then(|v| v.as_u64()).unwrap_or(10) as u32,
        regularization: number("regParam", overrides.reg_param, "--reg-param")?,
        alpha: number("alpha", overrides.alpha, "--alpha")?,
        cg_steps: AlsParams::default().cg_steps,
        seed: get("seed").and_then(|v| v.as_i64()).unwrap_or(0) as u64,
        reg_exponent: 1.0,
    };
    p.validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", model_dir.display()))?;
    Ok(p)
}

/// Reads a Parquet directory's part files through [`read_table`], each
/// named in its errors.
fn read_parts<V: Visitor>(
    dir: &Path,
    visitor: &mut V,
    file: impl Fn(&mut V) -> &mut PathBuf,
) -> Result<()> {
    let files = parts(dir, |n| n.ends_with(".parquet"))?;
    if files.is_empty() {
        bail!("{}: no part-*.parquet file", dir.display());
    }
    for f in files {
        file(visitor).clone_from(&f);
        read_table(&f, &TableFormat::default(), visitor)?;
    }
    Ok(())
}

/// Columns by name, found in each file's header.
struct Columns<'a> {
    wanted: &'a [&'a str],
    at: Vec<usize>,
    file: PathBuf,
}

impl Columns<'_> {
    fn header(&mut self, columns: &[String]) -> Result<(), DataError> {
        self.at.clear();
        for w in self.wanted {
            match columns.iter().position(|c| c == w) {
                Some(i) => self.at.push(i),
                None => {
                    return Err(DataError::File {
                        path: self.file.clone(),
                        problem: format!("no `{w}` column (columns: {})", columns.join(", ")),
                    })
                }
            }
        }
        Ok(())
    }
}

fn row_error(file: &Path, line: u64, problem: String) -> DataError {
    DataError::Row {
        path: file.to_path_buf(),
        line,
        problem,
    }
}

fn integer(cell: &Cell<'_>, field: &str) -> Result<i64, String> {
    match cell {
        Cell::Json(serde_json::Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("field `{field}`: {n} is not an integer")),
        other => Err(format!(
            "field `{field}`: expected an integer, found {other:?}"
        )),
    }
}

/// An `ids/users` or `ids/items` map: Spark's index → the data's id.
fn read_ids(dir: &Path) -> Result<HashMap<i64, String>> {
    struct V<'a> {
        cols: Columns<'a>,
        map: HashMap<i64, String>,
    }
    impl Visitor for V<'_> {
        fn header(&mut self, columns: &[String]) -> Result<(), DataError> {
            self.cols.header(columns)
        }
        fn row(&mut self, line: u64, row: Result<&[Cell<'_>], String>) -> Result<(), DataError> {
            let file = &self.cols.file;
            let row = row.map_err(|e| row_error(file, line, e))?;
            let index =
                integer(&row[self.cols.at[0]], "index").map_err(|e| row_error(file, line, e))?;
            let id = row[self.cols.at[1]]
                .scalar("id")
                .map_err(|e| row_error(file, line, e))?
                .ok_or_else(|| row_error(file, line, "field `id` is empty".into()))?;
            if self.map.insert(index, id.into_owned()).is_some() {
                return Err(row_error(
                    file,
                    line,
                    format!("index {index} appears twice"),
                ));
            }
            Ok(())
        }
    }
    let mut v = V {
        cols: Columns {
            wanted: &["index", "id"],
            at: Vec::new(),
            file: dir.to_path_buf(),
        },
        map: HashMap::new(),
    };
    read_parts(dir, &mut v, |v| &mut v.cols.file)?;
    Ok(v.map)
}

/// A `userFactors` or `itemFactors` directory: (`id`, `features`) rows.
fn read_side(dir: &Path, rank: usize, ids: Option<&HashMap<i64, String>>) -> Result<Side> {
    struct V<'a> {
        cols: Columns<'a>,
        rank: usize,
        rows: Vec<(i64, Vec<f32>)>,
    }
    impl Visitor for V<'_> {
        fn header(&mut self, columns: &[String]) -> Result<(), DataError> {
            self.cols.header(columns)
        }
        fn row(&mut self, line: u64, row: Result<&[Cell<'_>], String>) -> Result<(), DataError> {
            let file = &self.cols.file;
            let bad = |e: String| row_error(file, line, e);
            let row = row.map_err(bad)?;
            let id = integer(&row[self.cols.at[0]], "id").map_err(bad)?;
            let Cell::Json(serde_json::Value::Array(values)) = row[self.cols.at[1]] else {
                return Err(bad("field `features`: expected a list of numbers".into()));
            };
            if values.len() != self.rank {
                return Err(bad(format!(
                    "field `features`: {} values, the model's rank is {}",
                    values.len(),
                    self.rank
                )));
            }
            let v = values
                .iter()
                .map(|x| {
                    x.as_f64()
                        .map(|x| x as f32)
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| bad(format!("field `features`: {x} is not a finite number")))
                })
                .collect::<Result<Vec<f32>, _>>()?;
            self.rows.push((id, v));
            Ok(())
        }
    }
    let mut v = V {
        cols: Columns {
            wanted: &["id", "features"],
            at: Vec::new(),
            file: dir.to_path_buf(),
        },
        rank,
        rows: Vec::new(),
    };
    read_parts(dir, &mut v, |v| &mut v.cols.file)?;
    // Spark writes rows in block order; the bundle wants them by id.
    v.rows.sort_by_key(|(id, _)| *id);
    let mut side = Side::default();
    for w in v.rows.windows(2) {
        if w[0].0 == w[1].0 {
            bail!("{}: id {} appears twice", dir.display(), w[0].0);
        }
    }
    for (id, f) in v.rows {
        let key = match ids {
            Some(map) => map.get(&id).cloned().with_context(|| {
                format!(
                    "{}: id {id} is not in the id map beside the model",
                    dir.display()
                )
            })?,
            None => id.to_string(),
        };
        side.ids.push(key);
        side.factors.extend(f);
    }
    Ok(side)
}
