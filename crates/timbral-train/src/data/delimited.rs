//! Plays tables (any format [`read_table`] reads), and listener history
//! files.

use std::path::Path;

use super::table::{delimiter, read_table_bytes, Cell, Delimiter, TableFormat, Visitor};
use super::{parse_plays, read_file, Builder, DataError, Dataset, ReadOptions};

/// Which columns hold what. `None` picks the first of a few common names.
#[derive(Clone, Debug, Default)]
pub struct ColumnNames {
    pub user: Option<String>,
    pub item: Option<String>,
    pub plays: Option<String>,
    pub name: Option<String>,
    pub delimiter: Option<Delimiter>,
    /// The columns of a headerless text file, e.g. `user,item,plays`.
    pub columns: Option<Vec<String>>,
}

const USER: &[&str] = &["user", "user_id", "userid", "userID", "listener"];
const ITEM: &[&str] = &[
    "item",
    "item_id",
    "itemid",
    "artist",
    "artist_id",
    "artistID",
    "track",
    "track_id",
];
const PLAYS: &[&str] = &[
    "plays",
    "play_count",
    "playcount",
    "count",
    "weight",
    "listens",
];
const NAME: &[&str] = &["name", "item_name", "artist_name", "track_name", "title"];

fn find_column(
    path: &Path,
    header: &[String],
    explicit: &Option<String>,
    candidates: &[&str],
    role: &str,
    required: bool,
) -> Result<Option<usize>, DataError> {
    if let Some(want) = explicit {
        return match header.iter().position(|n| n == want) {
            Some(i) => Ok(Some(i)),
            None => Err(DataError::File {
                path: path.to_path_buf(),
                problem: format!(
                    "the header has no column `{want}` (columns: {})",
                    header.join(", ")
                ),
            }),
        };
    }
    let found = candidates
        .iter()
        .find_map(|c| header.iter().position(|n| n.eq_ignore_ascii_case(c)));
    if found.is_none() && required {
        return Err(DataError::File {
            path: path.to_path_buf(),
            problem: format!(
                "no {role} column: none of {} in the header (columns: {}); name it with --{role}-col, or name a headerless file's columns with --columns",
                candidates.join("/"),
                header.join(", ")
            ),
        });
    }
    Ok(found)
}

/// Collects plays rows from any table ([`read_table`]).
struct PlaysVisitor<'a> {
    path: &'a Path,
    cols: &'a ColumnNames,
    b: Builder,
    header: Vec<String>,
    /// user, item, plays, name column indices.
    at: (usize, usize, Option<usize>, Option<usize>),
    /// Each item's name, by index: the first row's that gives one.
    names: Vec<Option<String>>,
}

impl Visitor for PlaysVisitor<'_> {
    fn header(&mut self, header: &[String]) -> Result<(), DataError> {
        let c = self.cols;
        let p = self.path;
        let ui = find_column(p, header, &c.user, USER, "user", true)?.expect("required");
        let ii = find_column(p, header, &c.item, ITEM, "item", true)?.expect("required");
        let pi = find_column(p, header, &c.plays, PLAYS, "plays", false)?;
        let ni = find_column(p, header, &c.name, NAME, "name", false)?;
        self.at = (ui, ii, pi, ni);
        self.header = header.to_vec();
        Ok(())
    }

    fn row(&mut self, line: u64, row: Result<&[Cell<'_>], String>) -> Result<(), DataError> {
        let cells = match row {
            Ok(c) => c,
            Err(problem) => return self.b.bad_row(line, problem),
        };
        let (ui, ii, pi, ni) = self.at;
        let text = |i: usize| cells[i].scalar(&self.header[i]);
        let parsed = (|| {
            let user = text(ui)?
                .filter(|u| !u.trim().is_empty())
                .ok_or_else(|| format!("field `{}` (user) is empty", self.header[ui]))?;
            let item = text(ii)?
                .filter(|u| !u.trim().is_empty())
                .ok_or_else(|| format!("field `{}` (item) is empty", self.header[ii]))?;
            let plays = match pi {
                Some(pi) => match text(pi)? {
                    Some(v) => parse_plays(&self.header[pi], &v)?,
                    None => return Err(format!("field `{}` (plays) is empty", self.header[pi])),
                },
                None => 1.0,
            };
            let name = match ni {
                Some(ni) => text(ni)?.filter(|n| !n.is_empty()),
                None => None,
            };
            Ok((user, item, plays, name))
        })();
        match parsed {
            Ok((user, item, plays, name)) => {
                let (user, item) = (user.trim(), item.trim());
                let i = self.b.push(user, item, plays) as usize;
                if let Some(n) = name {
                    if self.names.len() <= i {
                        self.names.resize(i + 1, None);
                    }
                    self.names[i].get_or_insert_with(|| n.into_owned());
                }
                Ok(())
            }
            Err(problem) => self.b.bad_row(line, problem),
        }
    }
}

/// Reads a plays table: CSV/TSV/whitespace text with a header (or
/// [`ColumnNames::columns`]), JSON Lines or Parquet, gzip by extension.
/// Without a plays column every row counts as one play.
pub fn read_plays(
    path: &Path,
    cols: &ColumnNames,
    opts: ReadOptions,
) -> Result<Dataset, DataError> {
    read_plays_bytes(path, read_file(path)?, cols, opts)
}

/// [`read_plays`] of a file's bytes already in memory (`path` names the
/// format and the file in errors).
pub fn read_plays_bytes(
    path: &Path,
    bytes: Vec<u8>,
    cols: &ColumnNames,
    opts: ReadOptions,
) -> Result<Dataset, DataError> {
    let mut v = PlaysVisitor {
        path,
        cols,
        b: Builder::new(path, opts),
        header: Vec::new(),
        at: (0, 0, None, None),
        names: Vec::new(),
    };
    let format = TableFormat {
        delimiter: cols.delimiter,
        columns: cols.columns.clone(),
    };
    read_table_bytes(path, bytes, &format, &mut v)?;
    let PlaysVisitor { b, names, .. } = v;
    let mut names = names.into_iter();
    let item_names = b
        .item_ids()
        .iter()
        .map(|id| names.next().flatten().unwrap_or_else(|| id.clone()))
        .collect();
    let source = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    b.finish(item_names, source, " after the header")
}

/// One row of a listener's history file.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRow {
    pub line: u64,
    pub item: String,
    pub plays: f32,
}

/// Reads `item[,plays]` rows (tab or comma separated; an optional header is
/// recognised by a non-numeric plays field on line 1; a missing plays field
/// counts as one play).
pub fn read_history(
    path: &Path,
    opts: ReadOptions,
) -> Result<(Vec<HistoryRow>, super::LoadReport), DataError> {
    let bytes = read_file(path)?;
    let delim = match delimiter(path, None, &bytes) {
        Delimiter::Byte(d) => d,
        Delimiter::Whitespace => b'\t',
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(&bytes[..]);
    let mut rows = Vec::new();
    let mut report = super::LoadReport::default();
    let mut rec = csv::StringRecord::new();
    let bad = |line: u64, problem: String, report: &mut super::LoadReport| {
        if !opts.skip_bad_rows {
            return Err(DataError::Row {
                path: path.to_path_buf(),
                line,
                problem,
            });
        }
        report.bad_rows += 1;
        if report.first_bad.len() < super::MAX_REPORTED {
            report.first_bad.push(format!("line {line}: {problem}"));
        }
        Ok(())
    };
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                bad(line, e.to_string(), &mut report)?;
                continue;
            }
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() == 1 && rec[0].is_empty() {
            continue;
        }
        if rec.len() > 2 {
            bad(
                line,
                format!(
                    "expected `item` or `item,plays`, found {} fields",
                    rec.len()
                ),
                &mut report,
            )?;
            continue;
        }
        if rec[0].is_empty() {
            bad(line, "field `item` is empty".into(), &mut report)?;
            continue;
        }
        let plays = if rec.len() == 2 {
            if line == 1 && rec[1].parse::<f64>().is_err() {
                continue; // a header line such as `item,plays`
            }
            match parse_plays("plays", &rec[1]) {
                Ok(p) => p,
                Err(e) => {
                    bad(line, e, &mut report)?;
                    continue;
                }
            }
        } else {
            1.0
        };
        report.rows += 1;
        rows.push(HistoryRow {
            line,
            item: rec[0].to_string(),
            plays,
        });
    }
    if rows.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            hint: String::new(),
        });
    }
    Ok((rows, report))
}
