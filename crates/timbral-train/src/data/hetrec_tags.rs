//! HetRec's tags as a source of item metadata: `user_taggedartists.dat`
//! and `tags.dat` read into a [`Catalogue`] of weighted tags, which joins
//! the others on the one path every catalogue takes
//! (`cli_content::metadata`). The taggings themselves also grade search
//! (`search_eval`).

use std::collections::HashMap;
use std::path::Path;

use timbral_core::search::label_key;

use super::hetrec::{decode_text, lines};
use super::items::{Catalogue, CatalogueItem};
use super::{DataError, Dataset};
use crate::content::{normalize, MAX_TAGS};

fn read(path: &Path) -> Result<String, DataError> {
    Ok(decode_text(crate::data::read_file(path)?))
}

/// Every tag a listener gave an item (HetRec's `user_taggedartists.dat`),
/// with the tags' spellings merged by [`label_key`].
#[derive(Clone, Debug, Default)]
pub struct Taggings {
    /// Each merged tag's shown spelling: its most used one.
    pub tags: Vec<String>,
    /// (user, item, tag): distinct triples, users numbered from 0.
    pub rows: Vec<(u32, u32, u32)>,
    /// Spellings that were merged into another (e.g. "hip-hop" → "hip hop").
    pub merged_spellings: usize,
}

impl Taggings {
    /// The top [`MAX_TAGS`] tags of every item by the votes of the users
    /// `keep` accepts (distinct users per item and tag).
    pub fn weigh(&self, n_items: usize, keep: impl Fn(u32) -> bool) -> Vec<Vec<(String, u32)>> {
        let mut votes: HashMap<(u32, u32), u32> = HashMap::new();
        for &(u, i, t) in &self.rows {
            if keep(u) {
                *votes.entry((i, t)).or_default() += 1;
            }
        }
        let mut per_item: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n_items];
        for ((i, t), v) in votes {
            per_item[i as usize].push((t, v));
        }
        per_item
            .into_iter()
            .map(|mut tv| {
                tv.sort_by(|a, b| {
                    b.1.cmp(&a.1)
                        .then_with(|| self.tags[a.0 as usize].cmp(&self.tags[b.0 as usize]))
                });
                tv.into_iter()
                    .take(MAX_TAGS)
                    .map(|(t, v)| (self.tags[t as usize].clone(), v))
                    .collect()
            })
            .collect()
    }
}

/// HetRec's taggings of the artists in `ds`. Tag spellings that share a
/// [`label_key`] ("hip hop", "hip-hop", "hiphop") become one tag, and a
/// listener who gave two of them counts once.
pub fn hetrec_taggings(dir: &Path, ds: &Dataset) -> Result<Taggings, DataError> {
    let tags_path = dir.join("tags.dat");
    // tag id → spelling (normalised), then spelling → merged tag.
    let mut spelling_of: HashMap<String, String> = HashMap::new();
    for (_, l) in lines(&read(&tags_path)?).skip(1) {
        if let Some((id, value)) = l.split_once('\t') {
            let v = normalize(value);
            if !label_key(&v).is_empty() {
                spelling_of.insert(id.trim().to_string(), v);
            }
        }
    }
    let index = ds.item_lookup();
    let mut users: HashMap<String, u32> = HashMap::new();
    let mut keys: HashMap<String, u32> = HashMap::new();
    // Per merged tag: how often each spelling was used.
    let mut spellings: Vec<HashMap<String, u32>> = Vec::new();
    let mut rows = Vec::new();
    let ta_path = dir.join("user_taggedartists.dat");
    for (_, l) in lines(&read(&ta_path)?).skip(1) {
        let f: Vec<&str> = l.split('\t').collect();
        if f.len() < 3 {
            continue;
        }
        let (Some(&item), Some(spelling)) = (index.get(f[1].trim()), spelling_of.get(f[2].trim()))
        else {
            continue;
        };
        let n = keys.len() as u32;
        let tag = *keys.entry(label_key(spelling)).or_insert(n);
        if tag as usize == spellings.len() {
            spellings.push(HashMap::new());
        }
        *spellings[tag as usize].entry(spelling.clone()).or_default() += 1;
        let n = users.len() as u32;
        let user = *users.entry(f[0].trim().to_string()).or_insert(n);
        rows.push((user, item, tag));
    }
    rows.sort_unstable();
    rows.dedup();
    let merged_spellings = spellings.iter().map(|s| s.len() - 1).sum();
    let tags = spellings
        .into_iter()
        .map(|s| {
            s.into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
                .map(|(spelling, _)| spelling)
                .expect("a tag has a spelling")
        })
        .collect();
    Ok(Taggings {
        tags,
        rows,
        merged_spellings,
    })
}

/// The tags of `ds`'s artists as a catalogue: each tag weighted by the
/// listeners who gave it (a weight `w` counts `10·w` votes, as in any items
/// file, so the weight is the votes / 10).
pub fn tag_catalogue(taggings: &Taggings, ds: &Dataset) -> Catalogue {
    let mut c = Catalogue::default();
    let weighed = taggings.weigh(ds.n_items(), |_| true);
    for ((id, name), tags) in ds.item_ids.iter().zip(&ds.item_names).zip(weighed) {
        if tags.is_empty() {
            continue;
        }
        c.add(CatalogueItem {
            id: id.clone(),
            name: name.clone(),
            tags: tags
                .into_iter()
                .map(|(t, v)| (t, v as f32 / 10.0))
                .collect(),
            ..CatalogueItem::default()
        });
    }
    c
}
