//! Canonical items: one catalogue entry per artist, however many ids and
//! spellings the data gives it.
//!
//! Listening logs name one artist several ways ("Pet Shop Boys", "The Pet
//! Shop Boys", "Pet Shop Boys ft Brandon Flowers"). Left apart, each
//! spelling splits the artist's plays and tags, and search and
//! recommendations show the same artist twice. Two ways to merge:
//!
//! - **By name** ([`artist_key`]): items whose names fold to one key are
//!   one item. The rules, applied in order:
//!   1. lower case, common Latin accents dropped ("Tiësto" = "Tiesto");
//!   2. bracketed parts removed: "(Live Chicago 08.15.03)", "[Remastered]",
//!      "(feat. Drake)", "(지드래곤)";
//!   3. a credit from `feat.`, `feat`, `ft.`, `ft` or `featuring` on is
//!      dropped ("Eminem ft. Nate Dogg" = "Eminem");
//!   4. a trailing " - …" that names a version (remaster, live, remix,
//!      edit, version, mono, stereo, mix) is dropped;
//!   5. `&` reads "and"; a leading "the" is dropped ("The Killers" =
//!      "Killers");
//!   6. everything but letters and digits is removed ("Mary J. Blige" =
//!      "Mary J Blige", "blink-182" = "Blink 182").
//!
//!   A name with nothing left ("!!!", "[unknown]") keeps its own item.
//! - **By an alias file** (`--aliases`, Audioscrobbler's `artist_alias.txt`
//!   form: `bad_id<TAB>good_id` a line): explicit, and applied first.
//!
//! The item that stays is the one with the most listeners (ties: the
//! smaller id), with its id and name; the plays of merged items are summed
//! per listener, and side files (tags) follow the merge through
//! [`Dataset::aliases`].

use std::collections::HashMap;
use std::path::Path;

use timbral_core::search::fold_text;
use timbral_core::Csr;

use super::hetrec::{decode_text, lines};
use super::{read_file, DataError, Dataset};

/// Words that start a featured-artist credit.
const CREDITS: &[&str] = &["feat", "feat.", "ft", "ft.", "featuring"];
/// Words that mark a " - …" suffix as a version, not part of the title.
const VERSIONS: &[&str] = &[
    "remaster", "live", "remix", "edit", "version", "mono", "stereo", "mix",
];

/// The key two spellings of one artist share (the rules above).
pub fn artist_key(name: &str) -> String {
    let lower = name.to_lowercase();
    // 2. Bracketed parts.
    let mut s = String::with_capacity(lower.len());
    let mut depth = 0usize;
    for c in lower.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => s.push(c),
            _ => {}
        }
    }
    // 4. A version suffix.
    if let Some(at) = s.find(" - ") {
        let names_a_version = s[at + 3..]
            .split_whitespace()
            .any(|w| VERSIONS.iter().any(|v| w.starts_with(v)));
        if names_a_version {
            s.truncate(at);
        }
    }
    // 3 and 5, word by word.
    let mut words: Vec<&str> = Vec::new();
    for (n, w) in s.split_whitespace().enumerate() {
        if n > 0 && CREDITS.contains(&w) {
            break;
        }
        words.push(w);
    }
    // "The The" stays itself: the article goes only before another word.
    if words.len() > 1 && words[0] == "the" && words[1..] != ["the"] {
        words.remove(0);
    }
    let mut key = String::new();
    for w in words {
        key.push_str(&fold_text(&w.replace('&', " and ")));
    }
    key
}

/// What merging did, for the load report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergeReport {
    /// Items merged into another.
    pub merged: usize,
    /// (listener, item) plays that merging summed into one.
    pub plays_summed: usize,
    /// Of them, by the alias file.
    pub by_alias: usize,
    /// A few (merged name, kept name) examples.
    pub examples: Vec<(String, String)>,
}

/// Reads an alias file: `from<TAB>to` lines (blank lines skipped).
pub fn read_aliases(path: &Path) -> Result<Vec<(String, String)>, DataError> {
    let text = decode_text(read_file(path)?);
    let mut out = Vec::new();
    for (line, l) in lines(&text) {
        let f: Vec<&str> = l.split('\t').map(str::trim).collect();
        if f.len() != 2 || f[0].is_empty() || f[1].is_empty() {
            return Err(DataError::Row {
                path: path.to_path_buf(),
                line,
                problem: format!(
                    "expected `bad_id<TAB>good_id`, found {} tab-separated fields",
                    f.len()
                ),
            });
        }
        out.push((f[0].to_string(), f[1].to_string()));
    }
    Ok(out)
}

/// Follows `aliases` to their end; a cycle is an error naming it.
fn resolve(
    aliases: &[(String, String)],
    path: &Path,
) -> Result<HashMap<String, String>, DataError> {
    let map: HashMap<&str, &str> = aliases
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let mut out = HashMap::with_capacity(map.len());
    for &start in map.keys() {
        let mut seen = vec![start];
        let mut at = start;
        while let Some(&next) = map.get(at) {
            if seen.contains(&next) {
                seen.push(next);
                return Err(DataError::File {
                    path: path.to_path_buf(),
                    problem: format!("alias cycle: {}", seen.join(" → ")),
                });
            }
            seen.push(next);
            at = next;
        }
        if at != start {
            out.insert(start.to_string(), at.to_string());
        }
    }
    Ok(out)
}

/// Merges `ds`'s items: first by `aliases` (with the file they came from,
/// for errors), then, if `by_name`, by [`artist_key`] of their names.
pub fn merge(
    ds: Dataset,
    aliases: Option<(&[(String, String)], &Path)>,
    by_name: bool,
) -> Result<(Dataset, MergeReport), DataError> {
    let n = ds.n_items();
    let mut listeners = vec![0u32; n];
    for (_, i, _) in ds.plays.triplets() {
        listeners[i as usize] += 1;
    }
    // Union-find over item indices, so alias and name merges compose.
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let index: HashMap<&str, usize> = ds
        .item_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut by_alias = 0;
    // An alias's bad id never survives its group.
    let mut bad = vec![false; n];
    // A good id the data never names: the first bad id that points at it
    // stands in for it, and takes its id.
    let mut absent: HashMap<String, usize> = HashMap::new();
    if let Some((list, path)) = aliases {
        let mut resolved: Vec<(String, String)> = resolve(list, path)?.into_iter().collect();
        resolved.sort();
        for (from, to) in resolved {
            // Aliases of ids this data never names are nothing to merge.
            let Some(&a) = index.get(from.as_str()) else {
                continue;
            };
            let b = match index.get(to.as_str()) {
                Some(&b) => b,
                None => *absent.entry(to).or_insert(a),
            };
            if a == b {
                by_alias += 1;
                continue;
            }
            bad[a] = true;
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            if ra != rb {
                parent[ra] = rb;
                by_alias += 1;
            }
        }
    }
    let renamed: HashMap<usize, String> = absent.into_iter().map(|(to, i)| (i, to)).collect();
    if by_name {
        let mut first: HashMap<String, usize> = HashMap::new();
        for (i, name) in ds.item_names.iter().enumerate() {
            let key = artist_key(name);
            if key.is_empty() {
                continue;
            }
            match first.get(&key) {
                Some(&j) => {
                    let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                    if ri != rj {
                        parent[ri] = rj;
                    }
                }
                None => {
                    first.insert(key, i);
                }
            }
        }
    }
    // Each group's survivor: not an alias's bad id, then a plain name
    // (nothing in it that the key drops: "Madonna", not "Madonna feat.
    // Gogol Bordello"), then the most listeners, then the smaller id.
    let plain = |i: usize| {
        let (name, key) = (&ds.item_names[i], artist_key(&ds.item_names[i]));
        let all = fold_text(&name.replace('&', " and "));
        all == key || all == format!("the{key}")
    };
    let rank = |i: usize| {
        (
            !bad[i],
            plain(i),
            listeners[i],
            std::cmp::Reverse(&ds.item_ids[i]),
        )
    };
    let mut best: HashMap<usize, usize> = HashMap::new();
    for i in 0..n {
        let r = root(&mut parent, i);
        let b = best.entry(r).or_insert(i);
        if rank(i) > rank(*b) {
            *b = i;
        }
    }
    // New indices in the survivors' order of appearance.
    let mut new_index = vec![u32::MAX; n];
    let (mut ids, mut names) = (Vec::new(), Vec::new());
    for i in 0..n {
        let s = best[&root(&mut parent, i)];
        if s == i {
            new_index[i] = ids.len() as u32;
            ids.push(renamed.get(&i).unwrap_or(&ds.item_ids[i]).clone());
            names.push(ds.item_names[i].clone());
        }
    }
    let mut report = MergeReport {
        by_alias,
        ..MergeReport::default()
    };
    let mut aliases_out = ds.aliases.clone();
    let final_id = |i: usize| renamed.get(&i).unwrap_or(&ds.item_ids[i]).clone();
    for i in 0..n {
        let s = best[&root(&mut parent, i)];
        if renamed.contains_key(&i) && s == i {
            aliases_out.insert(ds.item_ids[i].clone(), final_id(i));
        }
        if s != i {
            new_index[i] = new_index[s];
            report.merged += 1;
            if report.examples.len() < 8 {
                report
                    .examples
                    .push((ds.item_names[i].clone(), ds.item_names[s].clone()));
            }
            aliases_out.insert(ds.item_ids[i].clone(), final_id(s));
        }
    }
    if report.merged == 0 && renamed.is_empty() {
        return Ok((ds, report));
    }
    // Earlier aliases that pointed at a merged id now point at its survivor.
    for to in aliases_out.values_mut() {
        if let Some(&i) = index.get(to.as_str()) {
            *to = final_id(best[&root(&mut parent, i)]);
        }
    }
    let triplets = ds
        .plays
        .triplets()
        .map(|(u, i, v)| (u, new_index[i as usize], v))
        .collect();
    let plays = Csr::from_triplets(ds.n_users(), ids.len(), triplets);
    report.plays_summed = ds.plays.nnz() - plays.nnz();
    Ok((
        Dataset {
            item_ids: ids,
            item_names: names,
            plays,
            aliases: aliases_out,
            ..ds
        },
        report,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::LoadReport;

    #[test]
    fn spellings_of_one_artist_share_a_key() {
        let same = [
            ("Pet Shop Boys", "The Pet Shop Boys"),
            (
                "Pet Shop Boys",
                "Pet Shop Boys ft Brandon Flowers Lady GaGa",
            ),
            ("Eminem", "Eminem feat. Drake, Kanye West, Lil Wayne"),
            ("Rihanna", "Rihanna (feat. Drake)"),
            ("Tiësto", "Tiesto"),
            ("Mary J. Blige", "Mary J Blige"),
            ("blink-182", "Blink 182"),
            ("Angels & Airwaves", "Angels and Airwaves"),
            (
                "Death Cab for Cutie",
                "Death Cab For Cutie (Live Chicago 08.15.03)",
            ),
            ("múm", "MUM"),
            ("Korn", "Korn (Unplugged)"),
            ("Yesterday", "Yesterday - Remastered 2009"),
        ];
        for (a, b) in same {
            assert_eq!(artist_key(a), artist_key(b), "{a} / {b}");
            assert!(!artist_key(a).is_empty());
        }
        let apart = [
            ("The The", "The"),
            ("Feat", "Fear"),
            ("Killers", "Killer"),
            ("Take That", "That"),
            ("Low - High", "Low"),
        ];
        for (a, b) in apart {
            assert_ne!(artist_key(a), artist_key(b), "{a} / {b}");
        }
        for empty in ["!!!", "[unknown]", "+\\-", "(1962-1966)"] {
            assert_eq!(artist_key(empty), "", "{empty}");
        }
        // "the" alone is a name, not an article.
        assert_eq!(artist_key("The"), "the");
    }

    fn dataset(names: &[&str], plays: Vec<(u32, u32, f32)>) -> Dataset {
        let users = plays.iter().map(|p| p.0 + 1).max().unwrap_or(0) as usize;
        Dataset {
            user_ids: (0..users).map(|u| format!("u{u}")).collect(),
            item_ids: (0..names.len()).map(|i| format!("{}", i + 1)).collect(),
            item_names: names.iter().map(|s| s.to_string()).collect(),
            plays: Csr::from_triplets(users, names.len(), plays),
            source: "test".into(),
            report: LoadReport::default(),
            aliases: HashMap::new(),
            catalogue: None,
        }
    }

    #[test]
    fn merged_items_sum_their_plays_and_keep_the_most_listened_id() {
        let ds = dataset(
            &[
                "The Pet Shop Boys",
                "Pet Shop Boys",
                "!!!",
                "Madonna",
                "!!!",
            ],
            vec![
                (0, 0, 5.0),
                (0, 1, 2.0),
                (1, 1, 7.0),
                (2, 1, 1.0),
                (1, 3, 4.0),
                (0, 2, 1.0),
                (1, 4, 1.0),
            ],
        );
        let (m, report) = merge(ds, None, true).unwrap();
        assert_eq!(report.merged, 1);
        assert_eq!(
            m.item_ids,
            ["2", "3", "4", "5"],
            "the two \"!!!\" stay apart"
        );
        assert_eq!(m.item_names[0], "Pet Shop Boys");
        assert_eq!(m.plays.row(0), (&[0u32, 1][..], &[7.0f32, 1.0][..]));
        assert_eq!(m.aliases.get("1").map(String::as_str), Some("2"));
        assert_eq!(
            report.examples,
            [("The Pet Shop Boys".to_string(), "Pet Shop Boys".to_string())]
        );
    }

    #[test]
    fn aliases_merge_chains_and_refuse_cycles() {
        let ds = dataset(
            &["A", "B", "C"],
            vec![(0, 0, 1.0), (0, 1, 1.0), (1, 2, 3.0)],
        );
        let path = Path::new("artist_alias.txt");
        let chain = [("1".to_string(), "2".to_string()), ("2".into(), "3".into())];
        let (m, report) = merge(ds.clone(), Some((&chain, path)), false).unwrap();
        assert_eq!(report.by_alias, 2);
        assert_eq!(m.item_ids, ["3"]);
        assert_eq!(m.plays.row(0).1, &[2.0]);
        assert_eq!(m.aliases.get("1").map(String::as_str), Some("3"));
        // A good id the data lacks: the bad ids become it.
        let away = [("1".to_string(), "9".to_string()), ("2".into(), "9".into())];
        let (m, _) = merge(ds.clone(), Some((&away, path)), false).unwrap();
        assert_eq!(m.item_ids, ["9", "3"]);
        assert_eq!(m.plays.row(0), (&[0u32][..], &[2.0f32][..]));
        assert_eq!(m.aliases.get("2").map(String::as_str), Some("9"));
        let cycle = [("1".to_string(), "2".to_string()), ("2".into(), "1".into())];
        let err = merge(ds, Some((&cycle, path)), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("alias cycle") && err.contains("artist_alias.txt"),
            "{err}"
        );
    }

    #[test]
    fn an_alias_file_with_a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("aliases.txt");
        std::fs::write(&p, "1\t2\n3 4\n").unwrap();
        let err = read_aliases(&p).unwrap_err().to_string();
        assert!(err.contains("aliases.txt:2"), "{err}");
        std::fs::write(&p, "1\t2\r\n\n5\t6\n").unwrap();
        assert_eq!(read_aliases(&p).unwrap().len(), 2);
    }
}
