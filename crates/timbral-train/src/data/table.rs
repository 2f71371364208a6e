//! One way in for every tabular file: CSV/TSV (with a header or named
//! columns), whitespace-separated text, JSON Lines and Parquet, each
//! optionally gzip-compressed (`.gz`). Plays and items files are both read
//! through [`read_table`], so a format added here reaches both.
//!
//! A reader hands its [`Visitor`] the column names once, then every row as
//! [`Cell`]s in that order, or the problem that kept a row from being read
//! (a JSON line that is not an object, a row of the wrong width). Rows are
//! numbered by line (text formats) or from 1 (Parquet).

use std::io::Read;
use std::path::Path;

use super::hetrec::decode_text;
use super::{read_file, DataError};

/// How fields are separated in a text table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimiter {
    Byte(u8),
    /// Runs of spaces or tabs, as in Audioscrobbler's `user artist plays`.
    Whitespace,
}

impl std::str::FromStr for Delimiter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tab" | "\\t" | "\t" => Ok(Delimiter::Byte(b'\t')),
            "whitespace" | "space" | "spaces" => Ok(Delimiter::Whitespace),
            "comma" => Ok(Delimiter::Byte(b',')),
            _ => match s.as_bytes() {
                [b] if b.is_ascii() => Ok(Delimiter::Byte(*b)),
                _ => Err(format!(
                    "`{s}` is not a delimiter: give one ASCII character, `tab` or `whitespace`"
                )),
            },
        }
    }
}

/// How to read a table whatever its format.
#[derive(Clone, Debug, Default)]
pub struct TableFormat {
    /// Text tables: the delimiter (default: by extension, else sniffed).
    pub delimiter: Option<Delimiter>,
    /// Text tables without a header: the names of their columns.
    pub columns: Option<Vec<String>>,
}

/// One value of a row.
#[derive(Clone, Copy, Debug)]
pub enum Cell<'a> {
    Null,
    Text(&'a str),
    /// A JSON Lines or Parquet value (a number, a list, a struct…).
    Json(&'a serde_json::Value),
}

impl<'a> Cell<'a> {
    /// The cell as one text value: `None` for null, an error naming
    /// `field` for a list or an object.
    pub fn scalar(&self, field: &str) -> Result<Option<std::borrow::Cow<'a, str>>, String> {
        use serde_json::Value;
        match *self {
            Cell::Null | Cell::Json(Value::Null) => Ok(None),
            Cell::Text(s) => Ok(Some(s.into())),
            Cell::Json(Value::String(s)) => Ok(Some(s.as_str().into())),
            Cell::Json(Value::Number(n)) => Ok(Some(n.to_string().into())),
            Cell::Json(Value::Bool(b)) => Ok(Some(if *b { "1" } else { "0" }.into())),
            Cell::Json(other) => Err(format!(
                "field `{field}`: expected a single value, found {}",
                kind(other)
            )),
        }
    }
}

pub(crate) fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// What a reader calls for a table's header and rows.
pub trait Visitor {
    /// The column names, before any row. An error here (a missing column)
    /// stops the read.
    fn header(&mut self, columns: &[String]) -> Result<(), DataError>;
    /// One row, or why it could not be read. An error stops the read.
    fn row(&mut self, line: u64, row: Result<&[Cell<'_>], String>) -> Result<(), DataError>;
}

/// The formats [`read_table`] knows, by file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Text,
    JsonLines,
    Parquet,
}

/// The format of `path` by its extension (after a `.gz`), and whether it is
/// gzip-compressed.
pub fn file_kind(path: &Path) -> (FileKind, bool) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let (stem, gz) = match name.strip_suffix(".gz") {
        Some(s) => (s.to_string(), true),
        None => (name, false),
    };
    let kind = if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") {
        FileKind::JsonLines
    } else if stem.ends_with(".parquet") || stem.ends_with(".pq") {
        FileKind::Parquet
    } else {
        FileKind::Text
    };
    (kind, gz)
}

/// Reads `path` in the format its name says, calling `visitor` for the
/// header and each row.
pub fn read_table(
    path: &Path,
    format: &TableFormat,
    visitor: &mut dyn Visitor,
) -> Result<(), DataError> {
    read_table_bytes(path, read_file(path)?, format, visitor)
}

/// [`read_table`] of a file's bytes already in memory (`path` names the
/// format and the file in errors).
pub fn read_table_bytes(
    path: &Path,
    mut bytes: Vec<u8>,
    format: &TableFormat,
    visitor: &mut dyn Visitor,
) -> Result<(), DataError> {
    let (kind, gz) = file_kind(path);
    if kind == FileKind::Parquet {
        if gz {
            return Err(file_error(
                path,
                "a Parquet file compresses its own pages: give it without .gz".into(),
            ));
        }
        return read_parquet(path, bytes, visitor);
    }
    if gz {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| file_error(path, format!("not a readable gzip file: {e}")))?;
        bytes = out;
    }
    let text = decode_text(bytes);
    match kind {
        FileKind::JsonLines => read_json_lines(path, &text, visitor),
        _ => {
            // `plays.tsv.gz` is delimited as `plays.tsv`.
            let stem = if gz {
                path.with_extension("")
            } else {
                path.to_path_buf()
            };
            match delimiter(&stem, format.delimiter, text.as_bytes()) {
                Delimiter::Byte(d) => read_delimited(path, &text, d, format, visitor),
                Delimiter::Whitespace => read_whitespace(path, &text, format, visitor),
            }
        }
    }
}

pub(crate) fn file_error(path: &Path, problem: String) -> DataError {
    DataError::File {
        path: path.to_path_buf(),
        problem,
    }
}

/// The delimiter: explicit, else by extension, else sniffed from the first
/// line (a tab, else a comma).
pub(crate) fn delimiter(path: &Path, explicit: Option<Delimiter>, bytes: &[u8]) -> Delimiter {
    if let Some(d) = explicit {
        return d;
    }
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("tsv" | "tab" | "dat") => Delimiter::Byte(b'\t'),
        Some("csv") => Delimiter::Byte(b','),
        _ => {
            let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
            if first.contains(&b'\t') {
                Delimiter::Byte(b'\t')
            } else {
                Delimiter::Byte(b',')
            }
        }
    }
}

fn no_header(path: &Path) -> DataError {
    DataError::Empty {
        path: path.to_path_buf(),
        hint: " (not even a header line)".into(),
    }
}

fn read_delimited(
    path: &Path,
    text: &str,
    delim: u8,
    format: &TableFormat,
    visitor: &mut dyn Visitor,
) -> Result<(), DataError> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(format.columns.is_none())
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match &format.columns {
        Some(c) => c.clone(),
        None => {
            let h = rdr.headers().map_err(|e| {
                let line = e.position().map_or(1, |p| p.line());
                DataError::Row {
                    path: path.to_path_buf(),
                    line,
                    problem: format!("cannot read the header: {e}"),
                }
            })?;
            if h.iter().all(str::is_empty) {
                return Err(no_header(path));
            }
            h.iter().map(String::from).collect()
        }
    };
    visitor.header(&header)?;
    let width = header.len();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                visitor.row(line, Err(e.to_string()))?;
                continue;
            }
        }
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() == 1 && rec[0].is_empty() {
            continue; // a blank line
        }
        if rec.len() != width {
            let what = if format.columns.is_some() {
                "the named columns"
            } else {
                "the header"
            };
            visitor.row(
                line,
                Err(format!(
                    "expected {width} fields like {what}, found {}",
                    rec.len()
                )),
            )?;
            continue;
        }
        let cells: Vec<Cell<'_>> = rec.iter().map(Cell::Text).collect();
        visitor.row(line, Ok(&cells))?;
    }
    Ok(())
}

fn read_whitespace(
    path: &Path,
    text: &str,
    format: &TableFormat,
    visitor: &mut dyn Visitor,
) -> Result<(), DataError> {
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let header: Vec<String> = match &format.columns {
        Some(c) => c.clone(),
        None => match lines.next() {
            Some((_, l)) => l.split_whitespace().map(String::from).collect(),
            None => return Err(no_header(path)),
        },
    };
    visitor.header(&header)?;
    let mut cells: Vec<Cell<'_>> = Vec::with_capacity(header.len());
    for (line, l) in lines {
        cells.clear();
        cells.extend(l.split_whitespace().map(Cell::Text));
        if cells.len() != header.len() {
            visitor.row(
                line,
                Err(format!(
                    "expected {} whitespace-separated fields, found {}",
                    header.len(),
                    cells.len()
                )),
            )?;
            continue;
        }
        visitor.row(line, Ok(&cells))?;
    }
    Ok(())
}

/// JSON Lines: one object a line; the first object's keys name the
/// columns, and a later object's missing key is a null.
fn read_json_lines(path: &Path, text: &str, visitor: &mut dyn Visitor) -> Result<(), DataError> {
    let mut keys: Option<Vec<String>> = None;
    for (n, l) in text.split('\n').enumerate() {
        let line = n as u64 + 1;
        let l = l.trim();
        if l.is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(e) => {
                visitor.row(line, Err(format!("not JSON: {e}")))?;
                continue;
            }
        };
        let Some(obj) = value.as_object() else {
            visitor.row(
                line,
                Err(format!(
                    "a JSON line must be an object, found {}",
                    kind(&value)
                )),
            )?;
            continue;
        };
        if keys.is_none() {
            let k: Vec<String> = obj.keys().cloned().collect();
            visitor.header(&k)?;
            keys = Some(k);
        }
        let keys = keys.as_ref().expect("set above");
        let cells: Vec<Cell<'_>> = keys
            .iter()
            .map(|k| obj.get(k).map_or(Cell::Null, Cell::Json))
            .collect();
        visitor.row(line, Ok(&cells))?;
    }
    if keys.is_none() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            hint: " (no JSON object in it)".into(),
        });
    }
    Ok(())
}

/// Parquet: the schema's top-level fields are the columns, each row's
/// values come as JSON (lists and structs included).
///
/// The parquet crate panics on some corrupt files (found by
/// `fuzz/run.sh`: an out-of-range slice in its bit unpacking) instead of
/// returning an error, so every call into its decoder runs under
/// `catch_unwind` and a panic there is this file's error, never a crash.
/// [`quiet_decoder_panics`] keeps such a panic from printing as one.
#[cfg(feature = "parquet")]
fn read_parquet(path: &Path, bytes: Vec<u8>, visitor: &mut dyn Visitor) -> Result<(), DataError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let bad = |e: String| file_error(path, format!("not a readable Parquet file: {e}"));
    let guarded = |what: &str, e: Box<dyn std::any::Any + Send>| {
        let why = e
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("corrupt Parquet data in {what} (the decoder failed: {why})")
    };
    let opened = catch_unwind(|| {
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes))?;
        let header: Vec<String> = reader
            .metadata()
            .file_metadata()
            .schema()
            .get_fields()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        let rows = parquet::record::reader::RowIter::from_file_into(Box::new(reader));
        Ok::<_, parquet::errors::ParquetError>((header, rows))
    });
    let (header, mut rows) = match opened {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return Err(bad(e.to_string())),
        Err(p) => return Err(bad(guarded("its metadata", p))),
    };
    visitor.header(&header)?;
    let mut line = 0u64;
    loop {
        line += 1;
        let next = catch_unwind(AssertUnwindSafe(|| {
            rows.next().map(|row| {
                row.map(|r| {
                    r.get_column_iter()
                        .map(|(_, f)| f.to_json_value())
                        .collect::<Vec<serde_json::Value>>()
                })
            })
        }));
        let values = match next {
            Ok(None) => break,
            Ok(Some(Ok(v))) => v,
            Ok(Some(Err(e))) => {
                return Err(row_error(path, line, format!("cannot decode the row: {e}")))
            }
            Err(p) => return Err(row_error(path, line, guarded("this row", p))),
        };
        let cells: Vec<Cell<'_>> = values
            .iter()
            .map(|v| match v {
                serde_json::Value::Null => Cell::Null,
                v => Cell::Json(v),
            })
            .collect();
        visitor.row(line, Ok(&cells))?;
    }
    Ok(())
}

/// Installs a panic hook that stays silent for panics raised inside the
/// parquet crate (which [`read_parquet`] catches and reports as the file's
/// error) and hands every other panic to the hook that was there.
pub fn quiet_decoder_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_parquet = info.location().is_some_and(|l| {
                let f = l.file().replace('\\', "/");
                f.contains("/parquet-") && f.contains("/src/")
            });
            if !in_parquet {
                previous(info);
            }
        }));
    });
}

#[cfg(not(feature = "parquet"))]
fn read_parquet(path: &Path, _: Vec<u8>, _: &mut dyn Visitor) -> Result<(), DataError> {
    Err(file_error(
        path,
        "this timbral was built without Parquet support (the `parquet` feature)".into(),
    ))
}

#[cfg(feature = "parquet")]
fn row_error(path: &Path, line: u64, problem: String) -> DataError {
    DataError::Row {
        path: path.to_path_buf(),
        line,
        problem,
    }
}

/// Writes a Parquet file of text and number columns (for tests,
/// benchmarks and `timbral convert`): `columns` are (name, values), every
/// column as long as the first.
#[cfg(feature = "parquet")]
pub fn write_parquet(path: &Path, columns: &[(&str, Column)]) -> anyhow::Result<()> {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;
    let fields: Vec<String> = columns
        .iter()
        .map(|(name, c)| match c {
            Column::Text(_) => format!("required binary {name} (UTF8);"),
            Column::Number(_) => format!("required double {name};"),
        })
        .collect();
    let schema = parquet::schema::parser::parse_message_type(&format!(
        "message table {{ {} }}",
        fields.join(" ")
    ))?;
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
    let mut w = SerializedFileWriter::new(tmp.reopen()?, Arc::new(schema), Arc::new(props))?;
    let rows = columns.first().map_or(0, |(_, c)| c.len());
    const GROUP: usize = 1 << 20;
    let mut start = 0;
    while start < rows {
        let end = (start + GROUP).min(rows);
        let mut rg = w.next_row_group()?;
        let mut i = 0;
        while let Some(mut col) = rg.next_column()? {
            match &columns[i].1 {
                Column::Text(v) => {
                    let vals: Vec<ByteArray> =
                        v[start..end].iter().map(|s| s.as_str().into()).collect();
                    col.typed::<ByteArrayType>()
                        .write_batch(&vals, None, None)?;
                }
                Column::Number(v) => {
                    col.typed::<DoubleType>()
                        .write_batch(&v[start..end], None, None)?;
                }
            }
            col.close()?;
            i += 1;
        }
        rg.close()?;
        start = end;
    }
    w.close()?;
    tmp.persist(path)?;
    Ok(())
}

/// A column for [`write_parquet`].
#[cfg(feature = "parquet")]
pub enum Column {
    Text(Vec<String>),
    Number(Vec<f64>),
}

#[cfg(feature = "parquet")]
impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Text(v) => v.len(),
            Column::Number(v) => v.len(),
        }
    }
}
