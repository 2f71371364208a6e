//! HetRec 2011 Last.fm-2k. Quirks handled: CRLF line endings in some files,
//! Latin-1 text in others, and artists that are listened to or tagged but
//! missing from `artists.dat` (they get a placeholder name).

use std::collections::HashMap;
use std::path::Path;

use super::{parse_plays, read_file, Builder, DataError, Dataset, ReadOptions};

pub const PLAYS_FILE: &str = "user_artists.dat";
pub const ARTISTS_FILE: &str = "artists.dat";

/// Decodes a file's bytes: UTF-8 where valid, else Latin-1 (every byte is a
/// code point), which is what the non-UTF-8 HetRec files are.
pub fn decode_text(bytes: Vec<u8>) -> String {
    // By value: UTF-8 (nearly every file) becomes the string in place, so
    // a large plays file is never held twice.
    String::from_utf8(bytes).unwrap_or_else(|e| e.into_bytes().iter().map(|&b| b as char).collect())
}

/// Lines numbered from 1, without `\r\n` / `\n`; blank lines skipped.
pub fn lines(text: &str) -> impl Iterator<Item = (u64, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
}

fn check_header(path: &Path, line: Option<(u64, &str)>, want: &[&str]) -> Result<(), DataError> {
    let got: Vec<&str> = line
        .map(|(_, l)| l.split('\t').map(str::trim).collect())
        .unwrap_or_default();
    if got != want {
        return Err(DataError::File {
            path: path.to_path_buf(),
            problem: format!(
                "expected the header `{}`, found `{}`",
                want.join("\t"),
                got.join("\t")
            ),
        });
    }
    Ok(())
}

pub fn read_hetrec(dir: &Path, opts: ReadOptions) -> Result<Dataset, DataError> {
    let path = dir.join(PLAYS_FILE);
    let text = decode_text(read_file(&path)?);
    let mut rows = lines(&text);
    check_header(&path, rows.next(), &["userID", "artistID", "weight"])?;
    let mut b = Builder::new(&path, opts);
    for (line, l) in rows {
        let f: Vec<&str> = l.split('\t').collect();
        if f.len() != 3 {
            b.bad_row(
                line,
                format!(
                    "expected 3 tab-separated fields (userID, artistID, weight), found {}",
                    f.len()
                ),
            )?;
            continue;
        }
        let (user, item) = (f[0].trim(), f[1].trim());
        if user.is_empty() {
            b.bad_row(line, "field `userID` is empty".into())?;
            continue;
        }
        if item.is_empty() {
            b.bad_row(line, "field `artistID` is empty".into())?;
            continue;
        }
        match parse_plays("weight", f[2]) {
            Ok(p) => {
                b.push(user, item, p);
            }
            Err(e) => b.bad_row(line, e)?,
        }
    }
    let names = read_artist_names(dir)?;
    let item_names = b
        .item_ids()
        .iter()
        .map(|id| {
            names
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("artist {id}"))
        })
        .collect();
    b.finish(
        item_names,
        "hetrec2011-lastfm-2k".into(),
        " after the header",
    )
}

/// `id → name` from `artists.dat`. Names are metadata: a malformed line there
/// costs that artist its name, not the load.
fn read_artist_names(dir: &Path) -> Result<HashMap<String, String>, DataError> {
    let path = dir.join(ARTISTS_FILE);
    if !path.is_file() {
        tracing::warn!(
            "{} not found: artists get placeholder names",
            path.display()
        );
        return Ok(HashMap::new());
    }
    let text = decode_text(read_file(&path)?);
    let mut rows = lines(&text);
    check_header(&path, rows.next(), &["id", "name", "url", "pictureURL"])?;
    let mut names = HashMap::new();
    let mut bad = 0;
    for (_, l) in rows {
        let mut f = l.split('\t');
        match (f.next(), f.next()) {
            (Some(id), Some(name)) if !id.trim().is_empty() => {
                names.insert(id.trim().to_string(), name.trim().to_string());
            }
            _ => bad += 1,
        }
    }
    if bad > 0 {
        tracing::warn!(
            "{}: {bad} lines without an id and a name were ignored",
            path.display()
        );
    }
    Ok(names)
}
