//! The `item_credits` section from what the trainer read: an items file's
//! artist and album, and each item's genres (an items file's, or Spotify's
//! for a HetRec artist matched by name).

use timbral_core::credits::{Credit, ItemCredits};

use crate::content::ItemMeta;
use crate::data::Dataset;

/// The credits of `ds`'s items; `meta` (where content was built) gives the
/// genres, merged from every source, else the items files' own. `None`
/// where no item has an artist, an album or a genre.
pub fn credits(ds: &Dataset, meta: Option<&[ItemMeta]>) -> Option<ItemCredits> {
    let catalogue = ds.catalogue.as_ref();
    ItemCredits::from_items(ds.item_ids.iter().enumerate().map(|(i, id)| {
        let item = catalogue.and_then(|c| c.get(id));
        Credit {
            artist: item.and_then(|c| c.artist.as_deref()),
            album: item.and_then(|c| c.album.as_deref()),
            genres: match (meta, item) {
                (Some(m), _) => &m[i].genres,
                (None, Some(c)) => &c.genres,
                (None, None) => &[],
            },
        }
    }))
}
