//! Search that ranks what listeners mean.
//!
//! A text query's embedding finds the items whose text is near it, but on
//! its own it ranks the obscure artist who happens to carry a tag next to
//! the band a thousand listeners gave it. So the cosine is blended with
//! what the crowd says:
//!
//! ```text
//! score = cos(query, item text)
//!       + CROWD · crowd(item)      the query's concepts, by their votes
//!       + POPULARITY · pop(item)   ln(1 + listeners) / ln(1 + max)
//!                                  (× 0.3 for a query naming no concept)
//!       + NAME · [the query names the item]
//! ```
//!
//! A *concept* is a label of the catalogue that the query names: its words,
//! folded ([`fold_word`]), matched greedily, longest first ("80s synthpop"
//! → `80s`, `synthpop`; "synth pop" → `synthpop`, not `synth` and `pop`).
//! `crowd(item)` is the mean over the concepts of
//! `ln(1 + votes) / ln(1 + the concept's most votes)`, so an item carrying
//! both concepts strongly comes first and one carrying neither gets 0.
//! The weights were chosen by `timbral eval`'s graded search figure
//! (listeners' votes from a held-out half of the taggers).

use std::collections::HashMap;

use crate::facts::Filter;
use crate::linalg::ln_1p;
use crate::listener::check_k;
use crate::model::Model;
use crate::topk::{top_k, Scored};
use crate::Error;

/// How much each part of a search score weighs next to the cosine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchWeights {
    pub crowd: f32,
    pub popularity: f32,
    pub name: f32,
}

impl SearchWeights {
    /// The blend every runtime uses.
    pub const DEFAULT: SearchWeights = SearchWeights {
        crowd: 1.0,
        popularity: 0.3,
        name: 1.0,
    };
    /// The cosine alone: plain semantic search.
    pub const COSINE: SearchWeights = SearchWeights {
        crowd: 0.0,
        popularity: 0.0,
        name: 0.0,
    };
}

impl Default for SearchWeights {
    fn default() -> Self {
        SearchWeights::DEFAULT
    }
}

/// Single words that never stand for a concept on their own.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "artist", "band", "best", "by", "for", "from", "good", "great", "in", "like",
    "me", "music", "my", "of", "on", "or", "some", "song", "that", "the", "to", "track", "with",
];

/// The longest concept, in words.
const MAX_CONCEPT_WORDS: usize = 4;

/// A query that names no concept is about what its words mean, not about
/// what is popular: popularity counts this much of its weight there.
const POPULARITY_WITHOUT_CONCEPTS: f32 = 0.3;

/// A label carried by this many items is a genre or a mood, not a name: a
/// query that is both ("electronic", "ambient") means the label, and the
/// artist who is called that gets no name boost.
const COMMON_LABEL_ITEMS: usize = 10;

/// Folds a letter: lower case, common Latin accents dropped (so "Sigur
/// Rós" matches "sigur ros"); nothing for a character that is not
/// alphanumeric.
fn fold_char(c: char, out: &mut String) {
    for l in c.to_lowercase() {
        let plain = match l {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'ç' | 'ć' | 'č' => "c",
            'ď' | 'đ' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
            'ł' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'ř' => "r",
            'ś' | 'š' | 'ş' => "s",
            'ß' => "ss",
            'ť' | 'ţ' => "t",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            'æ' => "ae",
            'œ' => "oe",
            l if l.is_alphanumeric() => {
                out.push(l);
                continue;
            }
            _ => continue,
        };
        out.push_str(plain);
    }
}

/// A text folded to its letters and digits: lower case, common Latin
/// accents dropped, everything else removed ("Mary J. Blige" →
/// `maryjblige`). No plural rule: for names, where "Killers" is not
/// "Killer".
pub fn fold_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        fold_char(c, &mut out);
    }
    out
}

/// One word folded for matching: lower case, accents and punctuation
/// dropped, a plural `s` dropped from words of four or more letters
/// ("vocalists" → "vocalist", "80s" stays). Labels and queries are folded
/// alike, so the rule only has to be consistent, not linguistic.
pub fn fold_word(w: &str) -> String {
    let mut out = fold_text(w);
    if out.len() >= 4 && out.ends_with('s') && !out.ends_with("ss") {
        out.pop();
    }
    out
}

/// A text's words, folded; empty ones dropped. Words split at anything
/// that is not a letter or digit ("hip-hop" is two words).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .map(fold_word)
        .filter(|w| !w.is_empty())
        .collect()
}

/// The key two spellings of one label share: its folded words joined
/// ("Hip-Hop", "hip hop" and "hiphop" → `hiphop`). The trainer merges tags
/// by it; search matches queries by it.
pub fn label_key(label: &str) -> String {
    words(label).concat()
}

/// One concept's items and how strongly each carries it.
#[derive(Debug, Default)]
struct Posting {
    /// (item, ln(1 + votes)).
    items: Vec<(u32, f32)>,
    max: f32,
}

/// Labels and names by key, built once per model on the first search.
#[derive(Debug, Default)]
pub struct SearchIndex {
    labels: HashMap<String, Posting>,
    /// Artists (an item's whole name, or a track's artist).
    names: HashMap<String, Vec<u32>>,
    /// Track titles, which only a whole query names ("love songs" in
    /// "sad acoustic love songs" is not the track "Love Song").
    titles: HashMap<String, Vec<u32>>,
}

impl SearchIndex {
    pub(crate) fn build(model: &Model) -> SearchIndex {
        let mut index = SearchIndex::default();
        if let Some(c) = model.content() {
            for (i, (labels, weights)) in c.labels.iter().zip(&c.label_weights).enumerate() {
                for (l, &w) in labels.iter().zip(weights) {
                    let key = label_key(l);
                    if key.is_empty() {
                        continue;
                    }
                    let p = index.labels.entry(key).or_default();
                    let v = ln_1p(w as f32);
                    // Two labels of one item with one key: the heavier counts.
                    match p.items.last_mut() {
                        Some(last) if last.0 == i as u32 => last.1 = last.1.max(v),
                        _ => p.items.push((i as u32, v)),
                    }
                    p.max = p.max.max(v);
                }
            }
        }
        let add = |map: &mut HashMap<String, Vec<u32>>, name: &str, i: u32| {
            let key = label_key(name);
            if !key.is_empty() {
                let items = map.entry(key).or_default();
                if items.last() != Some(&i) {
                    items.push(i);
                }
            }
        };
        for i in 0..model.n_items() as u32 {
            let name = model.item_name(i);
            // A track's name is "Title — Artist": both name it.
            match name.rsplit_once(" — ") {
                Some((title, artist)) => {
                    add(&mut index.titles, name, i);
                    add(&mut index.titles, title, i);
                    add(&mut index.names, artist, i);
                }
                None => add(&mut index.names, name, i),
            }
        }
        index
    }

    /// The catalogue's labels that `query` names, as keys: greedy, longest
    /// first, left to right, each word used once. A single stopword is no
    /// concept.
    pub fn concepts(&self, query: &str) -> Vec<String> {
        let w = words(query);
        let mut out: Vec<String> = Vec::new();
        let mut at = 0;
        while at < w.len() {
            let found = (1..=MAX_CONCEPT_WORDS.min(w.len() - at))
                .rev()
                .find_map(|n| {
                    if n == 1 && STOPWORDS.contains(&w[at].as_str()) {
                        return None;
                    }
                    let key = w[at..at + n].concat();
                    self.labels.contains_key(&key).then_some((n, key))
                });
            match found {
                Some((n, key)) => {
                    if !out.contains(&key) {
                        out.push(key);
                    }
                    at += n;
                }
                None => at += 1,
            }
        }
        out
    }

    /// Each item's crowd strength for `concepts`, in [0, 1].
    fn crowd(&self, concepts: &[String], n_items: usize) -> Vec<f32> {
        let mut crowd = vec![0f32; n_items];
        if concepts.is_empty() {
            return crowd;
        }
        let share = 1.0 / concepts.len() as f32;
        for key in concepts {
            let Some(p) = self.labels.get(key) else {
                continue;
            };
            if p.max <= 0.0 {
                continue;
            }
            for &(i, v) in &p.items {
                crowd[i as usize] += share * v / p.max;
            }
        }
        crowd
    }

    /// Items whose whole name the query is, or, for a name of two words or
    /// more, which the query contains ("sigur ros live" names Sigur Rós);
    /// not a name that is also a common label ([`COMMON_LABEL_ITEMS`]).
    fn named(&self, query: &str) -> Vec<u32> {
        let w = words(query);
        let mut out = Vec::new();
        for start in 0..w.len() {
            for end in start + 1..=w.len() {
                let whole = start == 0 && end == w.len();
                if !whole && end - start < 2 {
                    continue;
                }
                let key = w[start..end].concat();
                let common = self
                    .labels
                    .get(&key)
                    .is_some_and(|p| p.items.len() >= COMMON_LABEL_ITEMS);
                if common {
                    continue;
                }
                if let Some(items) = self.names.get(&key) {
                    out.extend_from_slice(items);
                }
                if let Some(items) = self.titles.get(&key).filter(|_| whole) {
                    out.extend_from_slice(items);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl Model {
    /// Search: the query's embedding (from the text encoder) blended with
    /// the crowd's labels, popularity and names ([`SearchWeights::DEFAULT`]);
    /// optionally only items labelled with `genre`.
    pub fn search(
        &self,
        query: &str,
        embedding: &[f32],
        genre: Option<&str>,
        k: usize,
    ) -> Result<Vec<Scored>, Error> {
        self.search_with(
            query,
            embedding,
            genre,
            &Filter::default(),
            k,
            SearchWeights::DEFAULT,
        )
    }

    fn need_facts(&self) -> Result<&crate::facts::ItemFacts, Error> {
        self.facts().ok_or_else(|| {
            Error::InvalidInput(
                "this bundle has no item facts (years, audio features, moods) to filter by; retrain it with content".into(),
            )
        })
    }

    /// [`Self::search_text`] keeping only the items `filter` keeps.
    pub fn search_text_filtered(
        &self,
        query: &str,
        genre: Option<&str>,
        filter: &Filter,
        k: usize,
    ) -> Result<Vec<Scored>, Error> {
        if filter.is_empty() {
            return self.search_text(query, genre, k);
        }
        check_k(k)?;
        self.need_facts()?;
        let mut all = self.search_text(query, genre, self.n_items().max(1))?;
        all.retain(|s| filter.keeps(self.facts(), s.index as usize));
        all.truncate(k);
        Ok(all)
    }

    /// [`Self::search`] keeping only the items `filter` keeps (a year or
    /// energy range, a mood; see [`crate::facts`]).
    pub fn search_filtered(
        &self,
        query: &str,
        embedding: &[f32],
        genre: Option<&str>,
        filter: &Filter,
        k: usize,
    ) -> Result<Vec<Scored>, Error> {
        if !filter.is_empty() {
            self.need_facts()?;
        }
        self.search_with(query, embedding, genre, filter, k, SearchWeights::DEFAULT)
    }

    /// [`Self::search`] with explicit weights (`timbral eval` compares them).
    pub fn search_with(
        &self,
        query: &str,
        embedding: &[f32],
        genre: Option<&str>,
        filter: &Filter,
        k: usize,
        w: SearchWeights,
    ) -> Result<Vec<Scored>, Error> {
        check_k(k)?;
        let c = self.need_content()?;
        let mut score = c
            .text_similarities(embedding, self.content_norms())
            .map_err(Error::InvalidInput)?;
        let index = self.search_index();
        let concepts = index.concepts(query);
        if w.crowd != 0.0 {
            for (s, v) in score.iter_mut().zip(index.crowd(&concepts, self.n_items())) {
                *s += w.crowd * v;
            }
        }
        let named = if w.name != 0.0 {
            index.named(query)
        } else {
            Vec::new()
        };
        // A query that names labels or items asks which of them; one that
        // names neither asks what its words mean.
        let popularity = if concepts.is_empty() && named.is_empty() {
            w.popularity * POPULARITY_WITHOUT_CONCEPTS
        } else {
            w.popularity
        };
        if popularity != 0.0 {
            let pop = self.popularity();
            let max = pop.listeners.iter().copied().max().unwrap_or(0);
            for (i, s) in score.iter_mut().enumerate() {
                *s += popularity * pop.penalty_with_max(i, max);
            }
        }
        for i in named {
            score[i as usize] += w.name;
        }
        let cands = score
            .iter()
            .enumerate()
            .filter(|&(j, _)| genre.is_none_or(|g| c.has_label(j, g)))
            .filter(|&(j, _)| filter.keeps(self.facts(), j))
            .map(|(j, &s)| Scored {
                index: j as u32,
                score: s,
            })
            .collect();
        Ok(top_k(cands, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::tiny;
    use crate::{Content, Model, QMatrix};

    #[test]
    fn spellings_of_one_label_share_a_key() {
        for s in ["hip hop", "Hip-Hop", "hiphop", "HIP  HOP", "hip-hop!"] {
            assert_eq!(label_key(s), "hiphop", "{s}");
        }
        assert_eq!(label_key("Female Vocalists"), label_key("female vocalist"));
        assert_eq!(label_key("Sigur Rós"), "sigurros");
        assert_eq!(label_key("80s"), "80s");
        assert_eq!(label_key("Motörhead"), "motorhead");
        assert_eq!(label_key("bass"), "bass");
        assert_eq!(label_key("—"), "");
    }

    /// Four items: two synthpop bands (one with many votes), an 80s rock
    /// band and an obscure act whose text is nearest every query.
    fn model() -> Model {
        let mut p = tiny();
        let n = 4;
        p.item_ids = (0..n).map(|i| format!("i{i}")).collect();
        p.item_names = vec![
            "Depeche Mode".into(),
            "Obscure Act".into(),
            "Bon Jovi".into(),
            "Little Synth".into(),
        ];
        let plays = crate::Csr::from_triplets(
            3,
            n,
            vec![
                (0, 0, 5.0),
                (1, 0, 2.0),
                (2, 0, 1.0),
                (0, 2, 3.0),
                (1, 3, 1.0),
            ],
        );
        p.popularity = crate::Popularity::from_plays(&plays);
        p.user_items = crate::Csr::from_triplets(2, n, vec![]);
        p.item_factors = QMatrix::quantize(&vec![0.5; n * 2], n, 2);
        p.content = Some(Content {
            // Item 1 is nearest the query direction (1, 0).
            text: QMatrix::quantize(&[0.8, 0.6, 1.0, 0.0, 0.6, 0.8, 0.7, 0.7], n, 2),
            audio: QMatrix::quantize(&vec![0.0; n], n, 1),
            audio_weight: 0.5,
            labels: vec![
                vec!["synthpop".into(), "80s".into()],
                vec!["synth pop".into()],
                vec!["80s".into(), "rock".into()],
                vec!["Synth-Pop".into(), "80s".into()],
            ],
            label_weights: vec![vec![40, 30], vec![1], vec![25, 10], vec![3, 1]],
            model_sha256: String::new(),
            tokenizer_sha256: String::new(),
            projection: None,
        });
        Model::from_parts(p).unwrap()
    }

    #[test]
    fn concepts_are_matched_longest_first_and_stopwords_alone_are_none() {
        let m = model();
        let ix = m.search_index();
        assert_eq!(ix.concepts("80s synthpop"), ["80s", "synthpop"]);
        assert_eq!(ix.concepts("synth pop songs"), ["synthpop"]);
        assert_eq!(ix.concepts("some rock music"), ["rock"]);
        assert!(ix.concepts("the music").is_empty());
    }

    #[test]
    fn the_crowd_puts_the_band_most_listeners_tag_first() {
        let m = model();
        let q = [1.0, 0.0];
        let plain = m.search_with(
            "80s synthpop",
            &q,
            None,
            &Filter::default(),
            4,
            SearchWeights::COSINE,
        );
        assert_eq!(
            plain.unwrap()[0].index,
            1,
            "the cosine alone: the obscure act"
        );
        let hits = m.search("80s synthpop", &q, None, 4).unwrap();
        let order: Vec<u32> = hits.iter().map(|s| s.index).collect();
        // Depeche Mode (both concepts, most votes), Bon Jovi (many 80s
        // votes), Little Synth (both, few votes); the obscure act, nearest
        // the query with one vote for one concept, last.
        assert_eq!(order, [0, 2, 3, 1]);
        // Without the query's words, the crowd has nothing to say.
        let no_pop = SearchWeights {
            popularity: 0.0,
            ..SearchWeights::DEFAULT
        };
        let blind = m
            .search_with("", &q, None, &Filter::default(), 4, no_pop)
            .unwrap();
        assert_eq!(blind[0].index, 1);
        // A genre filter keeps only the labelled items.
        let rock = m.search("80s", &q, Some("rock"), 4).unwrap();
        assert_eq!(rock.iter().map(|s| s.index).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn a_query_that_names_an_item_finds_it() {
        let m = model();
        let hits = m.search("depeche mode", &[0.0, 1.0], None, 1).unwrap();
        assert_eq!(hits[0].index, 0);
        let hits = m.search("depeche mode live", &[0.0, 1.0], None, 1).unwrap();
        assert_eq!(hits[0].index, 0);
    }

    #[test]
    fn a_track_is_named_by_its_title_and_by_its_artist() {
        let mut p = tiny();
        p.item_names = vec![
            "Sweet Child O' Mine — Guns N' Roses".into(),
            "Sorry — Guns N' Roses".into(),
            "Yesterday — The Beatles".into(),
        ];
        p.content = Some(crate::content::tests::content());
        let m = Model::from_parts(p).unwrap();
        let ix = m.search_index();
        assert_eq!(ix.named("guns n roses"), [0, 1]);
        assert_eq!(ix.named("Sweet Child O'Mine"), [0]);
        assert_eq!(ix.named("the beatles"), [2]);
        assert!(
            ix.named("some sweet child o mine songs").is_empty(),
            "a title only as the whole query"
        );
        assert_eq!(ix.named("guns n roses sorry"), [0, 1]);
    }

    #[test]
    fn bad_queries_are_refused() {
        let m = model();
        assert!(m.search("x", &[1.0; 3], None, 5).is_err());
        assert!(m.search("x", &[1.0; 2], None, 0).is_err());
        let no_content = Model::from_parts(tiny()).unwrap();
        assert!(no_content.search("x", &[1.0; 2], None, 5).is_err());
    }
}
