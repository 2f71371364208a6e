//! Reading listening data: the HetRec Last.fm-2k directory or a plays
//! table (CSV/TSV/whitespace text, JSON Lines, Parquet; [`table`]). Every reader reports bad rows with file, line and
//! field; by default the first bad row fails the load (nothing is trained or
//! written), with `skip_bad_rows` they are counted and reported instead.

pub mod canonical;
mod delimited;
pub mod hetrec;
#[cfg(feature = "content")]
pub mod hetrec_tags;
pub mod items;
pub mod table;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use timbral_core::Csr;

pub use delimited::{read_history, read_plays, read_plays_bytes, ColumnNames};
pub use hetrec::read_hetrec;

/// A user × item play matrix with the ids as they appear in the data.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub user_ids: Vec<String>,
    pub item_ids: Vec<String>,
    pub item_names: Vec<String>,
    /// users × items, duplicates summed.
    pub plays: Csr,
    /// A short description of where the data came from.
    pub source: String,
    pub report: LoadReport,
    /// Ids merged into another item ([`canonical::merge`]) → the id kept,
    /// so side files that name a merged id (tags) find its item.
    pub aliases: HashMap<String, String>,
    /// What items files said about the items ([`items::Catalogue`]).
    pub catalogue: Option<items::Catalogue>,
}

/// What a load saw, for the user to check.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    pub rows: u64,
    pub bad_rows: u64,
    /// Up to [`MAX_REPORTED`] `file:line: problem` descriptions of bad rows.
    pub first_bad: Vec<String>,
    /// Rows that repeated a (user, item) pair and were summed into it.
    pub duplicates: u64,
}

pub const MAX_REPORTED: usize = 5;

impl LoadReport {
    /// Records a bad row of `path`: the error naming it, or, where bad rows
    /// are skipped, a count and (for the first few) its line and problem.
    pub(crate) fn bad_row(
        &mut self,
        path: &Path,
        skip: bool,
        line: u64,
        problem: String,
    ) -> Result<(), DataError> {
        if !skip {
            return Err(DataError::Row {
                path: path.to_path_buf(),
                line,
                problem,
            });
        }
        self.bad_rows += 1;
        if self.first_bad.len() < MAX_REPORTED {
            self.first_bad.push(format!("line {line}: {problem}"));
        }
        Ok(())
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rows read", self.rows)?;
        if self.duplicates > 0 {
            write!(
                f,
                ", {} duplicate (user, item) rows summed",
                self.duplicates
            )?;
        }
        if self.bad_rows > 0 {
            write!(
                f,
                ", {} bad rows skipped (first: {})",
                self.bad_rows,
                self.first_bad.join("; ")
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {problem}")]
    Row {
        path: PathBuf,
        line: u64,
        problem: String,
    },
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("{path}: no interactions: the file has no data rows{hint}")]
    Empty { path: PathBuf, hint: String },
}

/// How to treat malformed rows.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    pub skip_bad_rows: bool,
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses a play count: a finite number ≥ 0 (an integer in most data sets,
/// but weights such as "3.5" are accepted).
pub(crate) fn parse_plays(field: &str, value: &str) -> Result<f32, String> {
    let v: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("field `{field}`: `{value}` is not a number"))?;
    if !v.is_finite() {
        return Err(format!("field `{field}`: `{value}` is not a finite number"));
    }
    if v < 0.0 {
        return Err(format!("field `{field}`: play count {value} is negative"));
    }
    Ok(v as f32)
}

/// Collects rows into a [`Dataset`], handling bad rows per [`ReadOptions`].
pub(crate) struct Builder {
    path: PathBuf,
    opts: ReadOptions,
    users: Interner,
    items: Interner,
    triplets: Vec<(u32, u32, f32)>,
    report: LoadReport,
}

impl Builder {
    pub fn new(path: &Path, opts: ReadOptions) -> Self {
        Builder {
            path: path.to_path_buf(),
            opts,
            users: Interner::default(),
            items: Interner::default(),
            triplets: Vec::new(),
            report: LoadReport::default(),
        }
    }

    /// Records a bad row: an error unless bad rows are skipped.
    pub fn bad_row(&mut self, line: u64, problem: String) -> Result<(), DataError> {
        self.report
            .bad_row(&self.path, self.opts.skip_bad_rows, line, problem)
    }

    /// Adds one play; returns the item's index.
    pub fn push(&mut self, user: &str, item: &str, plays: f32) -> u32 {
        // Plays files come grouped by listener: the previous row's listener
        // is checked before the hash map.
        let u = match self.triplets.last() {
            Some(&(u, _, _)) if self.users.ids[u as usize] == user => u,
            _ => self.users.intern(user),
        };
        let i = self.items.intern(item);
        self.triplets.push((u, i, plays));
        self.report.rows += 1;
        i
    }

    /// The item ids in order, for attaching names.
    pub fn item_ids(&self) -> &[String] {
        &self.items.ids
    }

    pub fn finish(
        mut self,
        item_names: Vec<String>,
        source: String,
        hint: &str,
    ) -> Result<Dataset, DataError> {
        if self.triplets.is_empty() {
            return Err(DataError::Empty {
                path: self.path,
                hint: hint.to_string(),
            });
        }
        let n = self.triplets.len() as u64;
        let plays = Csr::from_triplets(self.users.ids.len(), self.items.ids.len(), self.triplets);
        self.report.duplicates = n - plays.nnz() as u64;
        Ok(Dataset {
            user_ids: self.users.ids,
            item_ids: self.items.ids,
            item_names,
            plays,
            source,
            report: self.report,
            aliases: HashMap::new(),
            catalogue: None,
        })
    }
}

/// Assigns dense indices to ids in order of first appearance.
#[derive(Default)]
struct Interner {
    index: HashMap<String, u32>,
    ids: Vec<String>,
}

impl Interner {
    fn intern(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.index.insert(id.to_string(), i);
        self.ids.push(id.to_string());
        i
    }
}

/// Loads `path`: a HetRec Last.fm-2k directory, or a plays table
/// ([`read_plays`]).
pub fn load(path: &Path, columns: &ColumnNames, opts: ReadOptions) -> Result<Dataset, DataError> {
    if path.is_dir() {
        if path.join(hetrec::PLAYS_FILE).is_file() {
            return read_hetrec(path, opts);
        }
        return Err(DataError::File {
            path: path.to_path_buf(),
            problem: format!(
                "is a directory but not a HetRec Last.fm-2k directory (no {} in it)",
                hetrec::PLAYS_FILE
            ),
        });
    }
    read_plays(path, columns, opts)
}

impl Dataset {
    /// A data set of a catalogue alone: its items, no listener.
    pub fn from_catalogue(catalogue: items::Catalogue, source: String) -> Dataset {
        let n = catalogue.items.len();
        Dataset {
            user_ids: Vec::new(),
            item_ids: catalogue.items.iter().map(|c| c.id.clone()).collect(),
            item_names: catalogue.items.iter().map(|c| c.display_name()).collect(),
            plays: Csr::from_triplets(0, n, Vec::new()),
            source,
            report: catalogue.report.clone(),
            aliases: catalogue.aliases.iter().cloned().collect(),
            catalogue: Some(catalogue),
        }
    }

    /// Attaches a catalogue: its items that nobody played join the data
    /// (new items, with no plays), and items named only by their id take
    /// the catalogue's name.
    pub fn with_catalogue(mut self, catalogue: items::Catalogue) -> Dataset {
        let known = self.item_lookup();
        let mut names = self.item_names.clone();
        let mut extra = Vec::new();
        for c in &catalogue.items {
            match known.get(c.id.as_str()) {
                Some(&i) => {
                    if names[i as usize] == self.item_ids[i as usize] {
                        names[i as usize] = c.display_name();
                    }
                }
                None => extra.push(c),
            }
        }
        drop(known);
        for c in extra {
            self.item_ids.push(c.id.clone());
            names.push(c.display_name());
        }
        self.item_names = names;
        let n = self.item_ids.len();
        if n > self.plays.n_cols() {
            self.plays = Csr::from_triplets(self.n_users(), n, self.plays.triplets().collect());
        }
        self.catalogue = Some(catalogue);
        self
    }

    /// The index of item `id`, through [`Self::aliases`] for a merged id.
    pub fn item_lookup(&self) -> HashMap<&str, u32> {
        let mut index: HashMap<&str, u32> = self
            .item_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i as u32))
            .collect();
        for (from, to) in &self.aliases {
            if let Some(&i) = index.get(to.as_str()) {
                index.insert(from.as_str(), i);
            }
        }
        index
    }

    pub fn n_users(&self) -> usize {
        self.user_ids.len()
    }
    pub fn n_items(&self) -> usize {
        self.item_ids.len()
    }
}
