//! The `item_credits` section: each item's artist, album and genres, as a
//! catalogue states them (an items file's columns, Spotify's genres of an
//! artist). Labels (`Content::labels`) mix a catalogue's genres with the
//! crowd's tags for search and explanations; these keep what the catalogue
//! said apart, for `timbral item` and for display.
//!
//! Every string is stored once (artists and albums repeat across a
//! catalogue's tracks); an item points into that vocabulary.

use serde::{Deserialize, Serialize};

/// Per item, in item order. Indices are into `names`, plus one; 0 is none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemCredits {
    names: Vec<String>,
    artist: Vec<u32>,
    album: Vec<u32>,
    genres: Vec<Vec<u32>>,
}

/// What a catalogue says of one item, for [`ItemCredits::from_items`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Credit<'a> {
    pub artist: Option<&'a str>,
    pub album: Option<&'a str>,
    pub genres: &'a [String],
}

impl ItemCredits {
    /// The credits of every item, in order; `None` where no item has any.
    pub fn from_items<'a>(items: impl IntoIterator<Item = Credit<'a>>) -> Option<Self> {
        let mut out = ItemCredits::default();
        let mut index: std::collections::HashMap<&'a str, u32> = Default::default();
        let mut id = |names: &mut Vec<String>, s: Option<&'a str>| -> u32 {
            match s.map(str::trim).filter(|s| !s.is_empty()) {
                None => 0,
                Some(s) => *index.entry(s).or_insert_with(|| {
                    names.push(s.to_string());
                    names.len() as u32
                }),
            }
        };
        for c in items {
            let artist = id(&mut out.names, c.artist);
            let album = id(&mut out.names, c.album);
            let genres = c
                .genres
                .iter()
                .map(|g| id(&mut out.names, Some(g)))
                .filter(|&g| g != 0)
                .collect();
            out.artist.push(artist);
            out.album.push(album);
            out.genres.push(genres);
        }
        (!out.names.is_empty()).then_some(out)
    }

    pub fn len(&self) -> usize {
        self.artist.len()
    }

    pub fn is_empty(&self) -> bool {
        self.artist.is_empty()
    }

    fn name(&self, at: u32) -> Option<&str> {
        at.checked_sub(1).map(|i| self.names[i as usize].as_str())
    }

    pub fn artist(&self, i: usize) -> Option<&str> {
        self.artist.get(i).and_then(|&a| self.name(a))
    }

    pub fn album(&self, i: usize) -> Option<&str> {
        self.album.get(i).and_then(|&a| self.name(a))
    }

    pub fn genres(&self, i: usize) -> Vec<&str> {
        self.genres
            .get(i)
            .map(|g| g.iter().filter_map(|&x| self.name(x)).collect())
            .unwrap_or_default()
    }

    pub fn validate(&self, n_items: usize) -> Result<(), String> {
        if self.artist.len() != n_items
            || self.album.len() != n_items
            || self.genres.len() != n_items
        {
            return Err(format!(
                "{} artists, {} albums and {} genre lists for {n_items} items",
                self.artist.len(),
                self.album.len(),
                self.genres.len()
            ));
        }
        let n = self.names.len() as u32;
        let bad = self
            .artist
            .iter()
            .chain(&self.album)
            .chain(self.genres.iter().flatten())
            .find(|&&x| x > n);
        if let Some(x) = bad {
            return Err(format!(
                "a name index {x} past its {n} names (1-based, 0 for none)"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stored_once_and_read_back() {
        let rock = vec!["rock".to_string(), "pop".to_string()];
        let none: Vec<String> = Vec::new();
        let c = ItemCredits::from_items([
            Credit {
                artist: Some("Queen"),
                album: Some("A Night at the Opera"),
                genres: &rock,
            },
            Credit {
                artist: Some("Queen"),
                album: Some(" "),
                genres: &none,
            },
            Credit::default(),
        ])
        .unwrap();
        assert_eq!(c.names.len(), 4);
        assert_eq!(c.artist(1), Some("Queen"));
        assert_eq!(c.album(0), Some("A Night at the Opera"));
        assert_eq!((c.album(1), c.artist(2)), (None, None));
        assert_eq!(c.genres(0), ["rock", "pop"]);
        assert!(c.genres(2).is_empty());
        c.validate(3).unwrap();
        assert!(c.validate(4).is_err());
        let mut bad = c.clone();
        bad.genres[2] = vec![9];
        assert!(bad.validate(3).unwrap_err().contains("index 9"));
        let back: ItemCredits = postcard::from_bytes(&postcard::to_allocvec(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(ItemCredits::from_items([Credit::default()]).is_none());
    }
}
