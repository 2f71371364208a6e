//! CSV/TSV interactions with a header line, and listener history files.

use std::path::Path;

use super::{parse_plays, read_file, Builder, DataError, Dataset, ReadOptions};

/// Which columns hold what. `None` picks the first of a few common names.
#[derive(Clone, Debug, Default)]
pub struct ColumnNames {
    pub user: Option<String>,
    pub item: Option<String>,
    pub plays: Option<String>,
    pub name: Option<String>,
    pub delimiter: Option<u8>,
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

/// The delimiter: explicit, else by extension, else sniffed from the header.
pub(crate) fn delimiter(path: &Path, explicit: Option<u8>, bytes: &[u8]) -> u8 {
    if let Some(d) = explicit {
        return d;
    }
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("tsv" | "tab" | "dat") => b'\t',
        Some("csv") => b',',
        _ => {
            let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
            if first.contains(&b'\t') {
                b'\t'
            } else {
                b','
            }
        }
    }
}

fn reader(bytes: &[u8], delim: u8, headers: bool) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(headers)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes)
}

fn find_column(
    path: &Path,
    header: &csv::StringRecord,
    explicit: &Option<String>,
    candidates: &[&str],
    role: &str,
    required: bool,
) -> Result<Option<usize>, DataError> {
    let names: Vec<&str> = header.iter().collect();
    if let Some(want) = explicit {
        return match names.iter().position(|n| n == want) {
            Some(i) => Ok(Some(i)),
            None => Err(DataError::File {
                path: path.to_path_buf(),
                problem: format!(
                    "the header has no column `{want}` (columns: {})",
                    names.join(", ")
                ),
            }),
        };
    }
    let found = candidates
        .iter()
        .find_map(|c| names.iter().position(|n| n.eq_ignore_ascii_case(c)));
    if found.is_none() && required {
        return Err(DataError::File {
            path: path.to_path_buf(),
            problem: format!(
                "no {role} column: none of {} in the header (columns: {}); name it with --{role}-col",
                candidates.join("/"),
                names.join(", ")
            ),
        });
    }
    Ok(found)
}

fn csv_error(path: &Path, e: csv::Error) -> DataError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    DataError::Row {
        path: path.to_path_buf(),
        line,
        problem: e.to_string(),
    }
}

/// Reads an interactions file with a header line. Without a plays column
/// every row counts as one play.
pub fn read_delimited(
    path: &Path,
    cols: &ColumnNames,
    opts: ReadOptions,
) -> Result<Dataset, DataError> {
    let bytes = read_file(path)?;
    let delim = delimiter(path, cols.delimiter, &bytes);
    let mut rdr = reader(&bytes, delim, true);
    let header = rdr.headers().map_err(|e| csv_error(path, e))?.clone();
    if header.iter().all(str::is_empty) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            hint: " (not even a header line)".into(),
        });
    }
    let ui = find_column(path, &header, &cols.user, USER, "user", true)?.expect("required");
    let ii = find_column(path, &header, &cols.item, ITEM, "item", true)?.expect("required");
    let pi = find_column(path, &header, &cols.plays, PLAYS, "plays", false)?;
    let ni = find_column(path, &header, &cols.name, NAME, "name", false)?;
    let width = header.len();
    let mut b = Builder::new(path, opts);
    let mut names: Vec<(String, String)> = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                b.bad_row(line, e.to_string())?;
                continue;
            }
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() == 1 && rec[0].is_empty() {
            continue; // blank line
        }
        if rec.len() != width {
            b.bad_row(
                line,
                format!(
                    "expected {width} fields like the header, found {}",
                    rec.len()
                ),
            )?;
            continue;
        }
        let (user, item) = (&rec[ui], &rec[ii]);
        if user.is_empty() {
            b.bad_row(line, format!("field `{}` (user) is empty", &header[ui]))?;
            continue;
        }
        if item.is_empty() {
            b.bad_row(line, format!("field `{}` (item) is empty", &header[ii]))?;
            continue;
        }
        let plays = match pi {
            Some(pi) => match parse_plays(&header[pi], &rec[pi]) {
                Ok(p) => p,
                Err(e) => {
                    b.bad_row(line, e)?;
                    continue;
                }
            },
            None => 1.0,
        };
        b.push(user, item, plays);
        if let Some(ni) = ni {
            if !rec[ni].is_empty() {
                names.push((item.to_string(), rec[ni].to_string()));
            }
        }
    }
    let names: std::collections::HashMap<String, String> = names.into_iter().collect();
    let item_names = b
        .item_ids()
        .iter()
        .map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()))
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
    let delim = delimiter(path, None, &bytes);
    let mut rdr = reader(&bytes, delim, false);
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
