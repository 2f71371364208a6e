//! Item metadata files: a catalogue of tracks or artists with names,
//! artists, genres, tags, years, popularity and audio features, as CSV/TSV
//! with a header (or `--item-columns` for a headerless file) or JSON Lines.
//!
//! Columns are found by common names ([`FIELDS`]) or mapped explicitly
//! (`--item-map id=track_id,name=track_name`). Several rows of one id are
//! one item: their genres and tags are merged, the first non-empty value of
//! every other field is kept (Spotify's songs file lists a track once per
//! playlist it is on). Lists come as JSON arrays, Python-list strings
//! (`['a', 'b']`), or `|`- or `,`-separated values; a tag may carry a weight
//! (`rock:0.8`). A bad row fails the load with its file, line and field,
//! unless bad rows are skipped (then counted and reported).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::canonical::artist_key;
use super::table::{self, read_table_bytes, Cell, Delimiter, TableFormat, Visitor};
use super::{DataError, LoadReport};

/// Spotify's audio features, in the order the bundle stores them.
pub use timbral_core::facts::AUDIO_FEATURES;

/// A field of an item and the column names that give it, most specific
/// first. `genres` takes every column it finds (a genre and a subgenre).
pub const FIELDS: &[(&str, &[&str])] = &[
    (
        "id",
        &["id", "item_id", "item", "track_id", "artist_id", "song_id"],
    ),
    (
        "name",
        &[
            "name",
            "track_name",
            "title",
            "item_name",
            "song",
            "artists",
        ],
    ),
    (
        "artist",
        &["artist", "track_artist", "artist_name", "artists_name"],
    ),
    ("album", &["album", "album_name", "track_album_name"]),
    ("duration_ms", &["duration_ms", "duration"]),
    ("year", &["year", "release_year"]),
    (
        "release_date",
        &["release_date", "track_album_release_date", "date"],
    ),
    (
        "genres",
        &[
            "genres",
            "genre",
            "playlist_genre",
            "playlist_subgenre",
            "subgenre",
        ],
    ),
    ("tags", &["tags", "tag", "labels"]),
    ("popularity", &["popularity", "track_popularity"]),
];

/// Two recordings of one artist and title this close in length are one
/// track (releases of one recording differ by a second or two; a live or
/// extended version by more).
pub const SAME_TRACK_MS: f32 = 10_000.0;

/// One item as the catalogue knows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CatalogueItem {
    pub id: String,
    pub name: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub duration_ms: Option<f32>,
    pub year: Option<u16>,
    pub genres: Vec<String>,
    /// Tags with weights (1 where the file gives none).
    pub tags: Vec<(String, f32)>,
    /// The catalogue's own popularity (e.g. Spotify's 0–100).
    pub popularity: Option<f32>,
    /// Measured audio features, in [`AUDIO_FEATURES`] order.
    pub audio: [Option<f32>; 9],
}

impl CatalogueItem {
    /// What a listener sees: "Title — Artist" for a track, the name alone
    /// for an artist.
    pub fn display_name(&self) -> String {
        match &self.artist {
            Some(a) if !a.is_empty() && *a != self.name => format!("{} — {a}", self.name),
            _ => self.name.clone(),
        }
    }

    /// All nine audio features, where every one is known.
    pub fn audio(&self) -> Option<Vec<f32>> {
        self.audio.iter().copied().collect()
    }

    fn merge(&mut self, other: CatalogueItem) {
        fn first<T>(a: &mut Option<T>, b: Option<T>) {
            if a.is_none() {
                *a = b;
            }
        }
        if self.name.is_empty() {
            self.name = other.name;
        }
        first(&mut self.artist, other.artist);
        first(&mut self.album, other.album);
        first(&mut self.duration_ms, other.duration_ms);
        first(&mut self.year, other.year);
        first(&mut self.popularity, other.popularity);
        for (a, b) in self.audio.iter_mut().zip(other.audio) {
            first(a, b);
        }
        for g in other.genres {
            if !self.genres.contains(&g) {
                self.genres.push(g);
            }
        }
        for (t, w) in other.tags {
            match self.tags.iter_mut().find(|(x, _)| *x == t) {
                Some(x) => x.1 += w,
                None => self.tags.push((t, w)),
            }
        }
    }
}

/// How to read an items file.
#[derive(Clone, Debug, Default)]
pub struct ItemsFormat {
    /// field → column, overriding [`FIELDS`]' names.
    pub map: Vec<(String, String)>,
    /// The columns of a headerless CSV/TSV file.
    pub columns: Option<Vec<String>>,
    /// CSV/TSV delimiter (default: by extension, else sniffed).
    pub delimiter: Option<Delimiter>,
    pub skip_bad_rows: bool,
}

/// A catalogue read from one or more files, merged by id in order of first
/// appearance.
#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    pub items: Vec<CatalogueItem>,
    pub report: LoadReport,
    /// Rows that repeated an id and were merged into its item.
    pub merged_rows: u64,
    /// Tracks merged into another one of the same artist, title and length
    /// ([`Catalogue::merge_tracks`]): (merged id, kept id).
    pub aliases: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Catalogue {
    pub fn get(&self, id: &str) -> Option<&CatalogueItem> {
        self.index.get(id).map(|&i| &self.items[i])
    }

    /// Adds an item, merged into the one of the same id if there is one.
    pub fn add(&mut self, item: CatalogueItem) {
        match self.index.get(&item.id) {
            Some(&i) => {
                self.items[i].merge(item);
                self.merged_rows += 1;
            }
            None => {
                self.index.insert(item.id.clone(), self.items.len());
                self.items.push(item);
            }
        }
    }

    /// One track under several ids (a single and its album's version, a
    /// remaster): items of one canonical artist and title
    /// ([`canonical_id`]) whose lengths are within [`SAME_TRACK_MS`] of the
    /// group's shortest are one item, the most popular id kept (then the
    /// first seen). Returns how many were merged; [`Self::aliases`] says
    /// which.
    pub fn merge_tracks(&mut self) -> usize {
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, it) in self.items.iter().enumerate() {
            if let Some(a) = it.artist.as_deref().filter(|a| !a.is_empty()) {
                let key = canonical_id(Some(a), &it.name);
                if !key.is_empty() {
                    groups.entry(key).or_default().push(i);
                }
            }
        }
        let mut into: Vec<Option<usize>> = vec![None; self.items.len()];
        let mut keys: Vec<&String> = groups.keys().collect();
        keys.sort();
        for key in keys {
            let mut g = groups[key].clone();
            if g.len() < 2 {
                continue;
            }
            let len = |i: usize| self.items[i].duration_ms.unwrap_or(0.0);
            g.sort_by(|&a, &b| len(a).total_cmp(&len(b)).then(a.cmp(&b)));
            let mut start = 0;
            while start < g.len() {
                let mut end = start + 1;
                while end < g.len() && len(g[end]) - len(g[start]) <= SAME_TRACK_MS {
                    end += 1;
                }
                let cluster = &g[start..end];
                let pop = |i: usize| self.items[i].popularity.unwrap_or(-1.0);
                let keep = *cluster
                    .iter()
                    .max_by(|&&a, &&b| pop(a).total_cmp(&pop(b)).then(b.cmp(&a)))
                    .expect("a cluster has items");
                for &i in cluster {
                    if i != keep {
                        into[i] = Some(keep);
                    }
                }
                start = end;
            }
        }
        let merged = into.iter().filter(|x| x.is_some()).count();
        if merged == 0 {
            return 0;
        }
        for (i, k) in into.iter().enumerate() {
            if let Some(k) = *k {
                let item = self.items[i].clone();
                self.aliases
                    .push((item.id.clone(), self.items[k].id.clone()));
                self.items[k].merge(item);
            }
        }
        let items = std::mem::take(&mut self.items);
        self.items = items
            .into_iter()
            .zip(&into)
            .filter(|(_, k)| k.is_none())
            .map(|(it, _)| it)
            .collect();
        self.index = self
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.id.clone(), i))
            .collect();
        merged
    }

    /// Reads `path` (any table [`read_table`] reads: CSV/TSV, JSON Lines,
    /// Parquet, gzip by extension) and merges its items into this
    /// catalogue.
    pub fn read(&mut self, path: &Path, format: &ItemsFormat) -> Result<(), DataError> {
        self.read_bytes(path, super::read_file(path)?, format)
    }

    /// [`Self::read`] of a file's bytes already in memory (`path` names
    /// the format and the file in errors).
    pub fn read_bytes(
        &mut self,
        path: &Path,
        bytes: Vec<u8>,
        format: &ItemsFormat,
    ) -> Result<(), DataError> {
        let mut sink = Rows {
            path: path.to_path_buf(),
            skip: format.skip_bad_rows,
            report: &mut self.report,
            items: Vec::new(),
            format,
            columns: Vec::new(),
            header: Vec::new(),
        };
        let table = TableFormat {
            delimiter: format.delimiter,
            columns: format.columns.clone(),
        };
        read_table_bytes(path, bytes, &table, &mut sink)?;
        let items = std::mem::take(&mut sink.items);
        for item in items {
            self.add(item);
        }
        Ok(())
    }
}

/// Collects rows, failing or counting bad ones.
struct Rows<'a> {
    path: PathBuf,
    skip: bool,
    report: &'a mut LoadReport,
    items: Vec<CatalogueItem>,
    format: &'a ItemsFormat,
    /// field → the columns that give it ([`resolve_columns`]).
    columns: Vec<(String, Vec<usize>)>,
    header: Vec<String>,
}

impl Visitor for Rows<'_> {
    fn header(&mut self, header: &[String]) -> Result<(), DataError> {
        self.columns = resolve_columns(header, self.format, &self.path)?;
        self.header = header.to_vec();
        Ok(())
    }

    fn row(&mut self, line: u64, row: Result<&[Cell<'_>], String>) -> Result<(), DataError> {
        self.report.rows += 1;
        let item = row.and_then(|cells| {
            let mut item = CatalogueItem::default();
            for (field, cols) in &self.columns {
                for &c in cols {
                    set_cell(&mut item, field, &self.header[c], cells[c])?;
                }
            }
            finish(item)
        });
        match item {
            Ok(item) => self.items.push(item),
            Err(problem) => self.report.bad_row(&self.path, self.skip, line, problem)?,
        }
        Ok(())
    }
}

/// Which column gives which field: explicit mappings first, then the
/// common names. An explicit mapping to a column the file lacks, or of a
/// field that does not exist, is an error naming what there is.
fn resolve_columns(
    header: &[String],
    format: &ItemsFormat,
    path: &Path,
) -> Result<Vec<(String, Vec<usize>)>, DataError> {
    let file_error = |problem: String| DataError::File {
        path: path.to_path_buf(),
        problem,
    };
    let known: Vec<&str> = FIELDS
        .iter()
        .map(|(f, _)| *f)
        .chain(AUDIO_FEATURES)
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (field, column) in &format.map {
        if !known.contains(&field.as_str()) {
            return Err(file_error(format!(
                "--item-map: unknown field `{field}` (fields: {})",
                known.join(", ")
            )));
        }
        let i = col(column).ok_or_else(|| {
            file_error(format!(
                "--item-map {field}={column}: no column `{column}` (columns: {})",
                header.join(", ")
            ))
        })?;
        out.push((field.clone(), vec![i]));
    }
    for &field in &known {
        if out.iter().any(|(f, _)| f == field) {
            continue;
        }
        let names: &[&str] = FIELDS
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, n)| *n)
            .unwrap_or(&[]);
        let mut found: Vec<usize> = if names.is_empty() {
            col(field).into_iter().collect()
        } else {
            names.iter().filter_map(|n| col(n)).collect()
        };
        if field != "genres" {
            found.truncate(1);
        }
        // A column already mapped explicitly gives only that field.
        found.retain(|i| !out.iter().any(|(_, c)| c.contains(i)));
        if !found.is_empty() {
            out.push((field.to_string(), found));
        }
    }
    // Without an id, an item is known by its canonical name ([`finish`]).
    if !out.iter().any(|(f, _)| f == "id" || f == "name") {
        return Err(file_error(format!(
            "no item id or name column (looked for {} and {}; map one with --item-map id=COLUMN); columns: {}",
            FIELDS[0].1.join(", "),
            FIELDS[1].1.join(", "),
            header.join(", ")
        )));
    }
    Ok(out)
}

/// Splits a list field: a JSON array, a Python-list string, or `|`- or
/// `,`-separated values.
pub fn parse_list(field: &str, value: &str) -> Result<Vec<String>, String> {
    let v = value.trim();
    if v.is_empty() || v == "[]" {
        return Ok(Vec::new());
    }
    if let Some(inner) = v.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| {
            format!("field `{field}`: `{value}` opens a list with `[` but never closes it")
        })?;
        if let Ok(list) = serde_json::from_str::<Vec<String>>(v) {
            return Ok(list);
        }
        // A Python list: quoted items, commas between.
        let mut out = Vec::new();
        let mut chars = inner.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
                chars.next();
            }
            let Some(q) = chars.next() else { break };
            if q != '\'' && q != '"' {
                return Err(format!(
                    "field `{field}`: `{value}` is not a list of quoted strings"
                ));
            }
            let mut item = String::new();
            loop {
                match chars.next() {
                    Some('\\') => item.extend(chars.next()),
                    Some(c) if c == q => break,
                    Some(c) => item.push(c),
                    None => {
                        return Err(format!("field `{field}`: `{value}` has an unclosed quote"))
                    }
                }
            }
            out.push(item);
        }
        return Ok(out);
    }
    let sep = if v.contains('|') { '|' } else { ',' };
    // Quotes around an element are the writer's, not the name's (Spotify's
    // `data_w_genres.csv` has rows such as `"childrens folk", kids music`).
    Ok(v.split(sep)
        .map(|s| s.trim().trim_matches(['"', '\'']).trim())
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect())
}

/// A tag with an optional `:weight` suffix.
fn weighted(field: &str, tag: &str) -> Result<(String, f32), String> {
    if let Some((t, w)) = tag.rsplit_once(':') {
        if let Ok(w) = w.trim().parse::<f32>() {
            if !(w.is_finite() && w >= 0.0) {
                return Err(format!("field `{field}`: tag `{tag}` has a bad weight"));
            }
            return Ok((t.trim().to_string(), w));
        }
    }
    Ok((tag.trim().to_string(), 1.0))
}

fn number(field: &str, value: &str) -> Result<Option<f32>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    match v.parse::<f32>() {
        Ok(x) if x.is_finite() => Ok(Some(x)),
        _ => Err(format!("field `{field}`: `{value}` is not a number")),
    }
}

/// The year of a release date (`1984`, `1984-06-04`, `1984-06`).
fn year_of(field: &str, value: &str) -> Result<Option<u16>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let digits: String = v.chars().take_while(|c| c.is_ascii_digit()).collect();
    match digits.parse::<u16>() {
        Ok(y) if digits.len() == 4 => Ok(Some(y)),
        _ => Err(format!(
            "field `{field}`: `{value}` is not a year or a date"
        )),
    }
}

/// Sets one field of `item` from a text value.
fn set_field(item: &mut CatalogueItem, field: &str, value: &str) -> Result<(), String> {
    let v = value.trim();
    match field {
        "id" => item.id = v.to_string(),
        "name" => item.name = v.to_string(),
        "artist" => {
            // Spotify's artists column is a Python list of names.
            let names = if v.starts_with("['") || v.starts_with("[\"") {
                parse_list(field, v)?
            } else {
                vec![v.to_string()]
            };
            item.artist = names.into_iter().find(|n| !n.is_empty());
        }
        "album" => item.album = Some(v.to_string()).filter(|s| !s.is_empty()),
        "duration_ms" => item.duration_ms = number(field, v)?,
        "year" | "release_date" => {
            if item.year.is_none() {
                item.year = year_of(field, v)?;
            }
        }
        "genres" => {
            for g in parse_list(field, v)? {
                if !item.genres.contains(&g) {
                    item.genres.push(g);
                }
            }
        }
        "tags" => {
            for t in parse_list(field, v)? {
                let (t, w) = weighted(field, &t)?;
                if !t.is_empty() {
                    item.tags.push((t, w));
                }
            }
        }
        "popularity" => item.popularity = number(field, v)?,
        f => {
            let j = AUDIO_FEATURES
                .iter()
                .position(|a| *a == f)
                .expect("a known field");
            item.audio[j] = number(field, v)?;
        }
    }
    Ok(())
}

/// The id of an item whose file gives none: its canonical artist and
/// title ([`artist_key`]), so every spelling of one artist or track is one
/// item ("The Pet Shop Boys" and "Pet Shop Boys" are `pet shop boys`'s).
pub fn canonical_id(artist: Option<&str>, name: &str) -> String {
    match artist.map(artist_key).filter(|a| !a.is_empty()) {
        Some(a) if a != artist_key(name) => format!("{a}/{}", artist_key(name)),
        _ => artist_key(name),
    }
}

fn finish(mut item: CatalogueItem) -> Result<CatalogueItem, String> {
    if item.id.is_empty() {
        if item.name.is_empty() {
            return Err("field `id`: empty, and no name to make one from".into());
        }
        item.id = canonical_id(item.artist.as_deref(), &item.name);
        if item.id.is_empty() {
            // A name of punctuation alone ("!!!", "((( O )))") has no
            // canonical key: it is its own id, spaces collapsed.
            item.id = item.name.split_whitespace().collect::<Vec<_>>().join(" ");
        }
    }
    if item.name.is_empty() {
        item.name = item.id.clone();
    }
    Ok(item)
}

/// Sets one field of `item` from a cell: text as [`set_field`] parses
/// it; from JSON Lines or Parquet also numbers and lists (of strings, or
/// of `{tag, weight}` objects for tags).
fn set_cell(
    item: &mut CatalogueItem,
    field: &str,
    column: &str,
    cell: Cell<'_>,
) -> Result<(), String> {
    use serde_json::Value;
    match cell {
        Cell::Null | Cell::Json(Value::Null) => Ok(()),
        Cell::Text(s) => set_field(item, field, s),
        Cell::Json(Value::String(s)) => set_field(item, field, s),
        Cell::Json(Value::Number(x)) => set_field(item, field, &x.to_string()),
        Cell::Json(Value::Array(a))
            if field == "genres" || field == "tags" || field == "artist" =>
        {
            for e in a {
                match (field, e) {
                    ("artist", Value::String(s)) => {
                        if item.artist.is_none() && !s.trim().is_empty() {
                            item.artist = Some(s.trim().to_string());
                        }
                    }
                    (_, Value::String(s)) => set_field(item, field, &s.replace(['|', ','], " "))?,
                    ("tags", Value::Object(o)) => {
                        let t = o.get("tag").and_then(|t| t.as_str());
                        let w = o.get("weight").map(|w| w.as_f64());
                        match (t, w) {
                            (Some(t), None) => item.tags.push((t.to_string(), 1.0)),
                            (Some(t), Some(Some(w))) if w.is_finite() && w >= 0.0 => {
                                item.tags.push((t.to_string(), w as f32))
                            }
                            (Some(t), Some(_)) => {
                                return Err(format!(
                                    "field `{field}` (column `{column}`): tag `{t}` has a bad weight"
                                ))
                            }
                            (None, _) => {
                                return Err(format!(
                                    "field `{field}` (column `{column}`): a tag object needs a `tag` string"
                                ))
                            }
                        }
                    }
                    (_, other) => {
                        return Err(format!(
                        "field `{field}` (column `{column}`): list items must be strings, found {}",
                        table::kind(other)
                    ))
                    }
                }
            }
            Ok(())
        }
        Cell::Json(other) => Err(format!(
            "field `{field}` (column `{column}`): unexpected {}",
            table::kind(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str, format: &ItemsFormat) -> Result<Catalogue, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let mut c = Catalogue::default();
        c.read(&p, format).map(|()| c)
    }

    #[test]
    fn lists_come_in_every_spelling() {
        let want = vec!["dance pop".to_string(), "pop".to_string()];
        for v in [
            "['dance pop', 'pop']",
            "[\"dance pop\", \"pop\"]",
            "dance pop|pop",
            "dance pop, pop",
            "\"dance pop\", pop",
        ] {
            assert_eq!(parse_list("genres", v).unwrap(), want, "{v}");
        }
        assert_eq!(parse_list("genres", "[]").unwrap(), Vec::<String>::new());
        assert_eq!(parse_list("g", "['it\\'s']").unwrap(), ["it's"]);
        for bad in ["['pop'", "['pop", "[pop]"] {
            let err = parse_list("genres", bad).unwrap_err();
            assert!(err.contains("genres"), "{bad}: {err}");
        }
    }

    const SONGS: &str = "track_id,track_name,track_artist,track_popularity,track_album_release_date,playlist_genre,playlist_subgenre,energy,valence,tags\n\
        t1,Song A,Band,70,1984-06-04,pop,dance pop,0.8,0.6,upbeat:2|80s\n\
        t2,Song B,Other,40,2001,rock,hard rock,0.9,0.2,\n\
        t1,Song A,Band,70,1984-06-04,pop,electropop,0.8,0.6,80s\n";

    #[test]
    fn a_csv_catalogue_is_found_by_common_names_and_merged_by_id() {
        let c = read("songs.csv", SONGS, &ItemsFormat::default()).unwrap();
        assert_eq!(c.items.len(), 2);
        assert_eq!(c.merged_rows, 1);
        let a = c.get("t1").unwrap();
        assert_eq!(a.display_name(), "Song A — Band");
        assert_eq!(a.year, Some(1984));
        assert_eq!(a.genres, ["pop", "dance pop", "electropop"]);
        assert_eq!(
            a.tags,
            [("upbeat".to_string(), 2.0), ("80s".to_string(), 2.0)]
        );
        assert_eq!(a.popularity, Some(70.0));
        assert_eq!(a.audio[2], Some(0.8));
        assert_eq!(a.audio(), None, "not every feature is known");
    }

    #[test]
    fn a_name_of_punctuation_alone_is_its_own_id() {
        let c = read(
            "artists.csv",
            "artists,genres\n!!!,dance punk\n((( O ))),[]\nThe Band,rock\n",
            &ItemsFormat::default(),
        )
        .unwrap();
        let ids: Vec<&str> = c.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["!!!", "((( O )))", "band"]);
    }

    #[test]
    fn json_lines_give_the_same_catalogue() {
        let jsonl = "{\"track_id\":\"t1\",\"track_name\":\"Song A\",\"track_artist\":\"Band\",\"track_popularity\":70,\"track_album_release_date\":\"1984-06-04\",\"playlist_genre\":\"pop\",\"playlist_subgenre\":\"dance pop\",\"energy\":0.8,\"valence\":0.6,\"tags\":[{\"tag\":\"upbeat\",\"weight\":2},\"80s\"]}\n\
            {\"track_id\":\"t2\",\"track_name\":\"Song B\",\"track_artist\":\"Other\",\"track_popularity\":40,\"track_album_release_date\":\"2001\",\"playlist_genre\":\"rock\",\"playlist_subgenre\":\"hard rock\",\"energy\":0.9,\"valence\":0.2,\"tags\":[]}\n\
            \n\
            {\"track_id\":\"t1\",\"playlist_genre\":\"pop\",\"playlist_subgenre\":\"electropop\",\"tags\":[\"80s\"]}\n";
        let j = read("songs.jsonl", jsonl, &ItemsFormat::default()).unwrap();
        let c = read("songs.csv", SONGS, &ItemsFormat::default()).unwrap();
        assert_eq!(j.items, c.items);
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn parquet_and_gzip_give_the_same_catalogue() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut rdr = csv::Reader::from_reader(SONGS.as_bytes());
        let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        let columns: Vec<(&str, table::Column)> = header
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let v = rows.iter().map(|r| r[i].to_string()).collect();
                (h.as_str(), table::Column::Text(v))
            })
            .collect();
        let pq = dir.path().join("songs.parquet");
        table::write_parquet(&pq, &columns).unwrap();
        let gz = dir.path().join("songs.csv.gz");
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        e.write_all(SONGS.as_bytes()).unwrap();
        e.finish().unwrap();
        let want = read("songs.csv", SONGS, &ItemsFormat::default()).unwrap();
        for p in [&pq, &gz] {
            let mut c = Catalogue::default();
            c.read(p, &ItemsFormat::default()).unwrap();
            assert_eq!(c.items, want.items, "{}", p.display());
        }
        // A mapped column the Parquet schema lacks is named.
        let format = ItemsFormat {
            map: vec![("name".into(), "song_title".into())],
            ..Default::default()
        };
        let e = Catalogue::default()
            .read(&pq, &format)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("songs.parquet") && e.contains("no column `song_title`"),
            "{e}"
        );
    }

    #[test]
    fn items_without_ids_are_known_by_their_canonical_names() {
        let c = read(
            "artists.csv",
            "artists,genres,energy\nPet Shop Boys,['synthpop'],0.7\nThe Pet Shop Boys,['dance pop'],\nMadonna,[],0.8\n",
            &ItemsFormat::default(),
        )
        .unwrap();
        assert_eq!(c.items.len(), 2);
        assert_eq!(c.items[0].id, "petshopboys");
        assert_eq!(c.items[0].genres, ["synthpop", "dance pop"]);
        assert_eq!(
            canonical_id(Some("Queen"), "Bohemian Rhapsody - Remastered 2011"),
            "queen/bohemianrhapsody"
        );
    }

    #[test]
    fn one_track_under_several_ids_is_one_item() {
        let csv = "track_id,track_name,track_artist,track_popularity,duration_ms,playlist_genre\n\
            a,Sweet Child O' Mine,Guns N' Roses,80,356067,rock\n\
            b,Sweet Child O' Mine - Remastered,Guns N' Roses,60,355000,classic rock\n\
            c,Sweet Child O' Mine,Guns N' Roses,30,420000,rock\n\
            d,Sweet Child O' Mine,Sheryl Crow,50,356000,pop\n";
        let mut c = read("s.csv", csv, &ItemsFormat::default()).unwrap();
        assert_eq!(c.merge_tracks(), 1);
        let ids: Vec<&str> = c.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(
            ids,
            ["a", "c", "d"],
            "the live-length take and the cover stay"
        );
        assert_eq!(c.aliases, [("b".to_string(), "a".to_string())]);
        assert_eq!(c.get("a").unwrap().genres, ["rock", "classic rock"]);
        assert!(c.get("b").is_none());
    }

    #[test]
    fn explicit_maps_and_headerless_columns() {
        let f = ItemsFormat {
            map: vec![
                ("id".into(), "code".into()),
                ("name".into(), "label".into()),
            ],
            ..Default::default()
        };
        let c = read("x.csv", "code,label\n1,One\n", &f).unwrap();
        assert_eq!(c.items[0].name, "One");
        let f = ItemsFormat {
            columns: Some(vec!["id".into(), "name".into(), "genres".into()]),
            delimiter: Some(Delimiter::Byte(b'\t')),
            ..Default::default()
        };
        let c = read("x.tsv", "7\tSeven\tjazz|soul\n", &f).unwrap();
        assert_eq!(c.items[0].genres, ["jazz", "soul"]);
    }

    #[test]
    fn bad_input_names_the_file_line_and_field() {
        let err =
            |name: &str, text: &str, f: &ItemsFormat| read(name, text, f).unwrap_err().to_string();
        let d = ItemsFormat::default();
        let e = err("a.csv", "id,energy\n1,0.5\n2,loud\n", &d);
        assert!(e.contains("a.csv:3") && e.contains("`energy`"), "{e}");
        let e = err("a.csv", "id,genres\n1,\"['pop'\"\n", &d);
        assert!(e.contains("a.csv:2") && e.contains("`genres`"), "{e}");
        let e = err("a.jsonl", "{\"id\":\"1\"}\n[1,2]\n", &d);
        assert!(e.contains("a.jsonl:2") && e.contains("object"), "{e}");
        let e = err("a.csv", "colour\nx\n", &d);
        assert!(e.contains("no item id or name column"), "{e}");
        let bad_map = ItemsFormat {
            map: vec![("name".into(), "nope".into())],
            ..Default::default()
        };
        let e = err("a.csv", "id,title\n1,x\n", &bad_map);
        assert!(e.contains("no column `nope`") && e.contains("title"), "{e}");
        let bad_field = ItemsFormat {
            map: vec![("colour".into(), "id".into())],
            ..Default::default()
        };
        assert!(err("a.csv", "id\n1\n", &bad_field).contains("unknown field `colour`"));
        // Skipped, bad rows are counted and the good ones kept.
        let skip = ItemsFormat {
            skip_bad_rows: true,
            ..Default::default()
        };
        let c = read("a.csv", "id,energy\n1,0.5\n2,loud\n,0.1\n", &skip).unwrap();
        assert_eq!(c.items.len(), 1);
        assert_eq!(c.report.bad_rows, 2);
        assert!(
            c.report.first_bad[0].contains("line 3"),
            "{:?}",
            c.report.first_bad
        );
    }
}
