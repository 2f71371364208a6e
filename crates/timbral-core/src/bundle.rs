//! The bundle: the one file a trainer writes and every runtime reads.
//!
//! ```text
//! header (32 bytes, little-endian)
//!   0  magic          8 bytes  "TIMBRAL\0"
//!   8  format version u32      FORMAT_VERSION
//!  12  section count  u32
//!  16  payload length u64      bytes after the header
//!  24  checksum       u32      CRC-32 (IEEE) of the payload
//!  28  reserved       u32      0
//! payload: `section count` sections, each (format 4)
//!   kind u32 | codec u32 | stored length u64 | raw length u64 | stored bytes
//! (formats 1–3: kind u32 | length u64 | bytes, never compressed)
//! ```
//!
//! A section's raw bytes are postcard. Its codec is [`codec::STORED`] (the
//! raw bytes as they are) or [`codec::DEFLATE`] (raw deflate, RFC 1951),
//! whichever the writer found smaller by a margin: names, labels and int8
//! factors of small magnitude deflate to a half or a third, while full
//! int8 text vectors barely shrink and are stored, so they load at the
//! speed of a copy. The checksum covers the stored bytes, so a corrupt
//! file is refused before anything is inflated; a section must inflate to
//! exactly its raw length, which also bounds what a crafted file can make a
//! reader allocate.
//!
//! A reader checks, in order: magic (foreign file), version (newer or
//! retired format), length (truncated or trailing bytes), checksum
//! (corruption), the section table, each section's inflation, then each
//! section's own invariants — so a bad file is refused whole, never
//! half-loaded. Section kinds this build does not know are skipped, so
//! later minor additions stay readable.

use std::borrow::Cow;

use serde::{de::DeserializeOwned, Serialize};

pub const MAGIC: [u8; 8] = *b"TIMBRAL\0";
pub const FORMAT_VERSION: u32 = 8;
/// The oldest format this build still reads.
pub const OLDEST_SUPPORTED: u32 = 1;
pub const HEADER_LEN: usize = 32;

/// Section kinds. Version 2 changed the layout of `FUSION` (v1's is
/// still read). Version 3 made the three user sections optional together
/// (a client bundle has none) and added weights to `CONTENT`'s labels
/// (v1 and v2 content is still read, every label weighing 1). Version 4
/// changed only the framing: each section names its codec. Version 5
/// added frequency-scaled regularisation to `META` (ν and the reference it
/// scales against; v1–v4 meta is still read, as plain ALS): a v4 reader
/// would fold a listener in with the wrong λ, so it must refuse the file.
/// Version 6 named the factor model in `META` (ALS or NMF; v1–v5 meta is
/// ALS): a v5 reader would fold an NMF listener in by ALS's solve.
/// Version 7 added BPR to those names, in the same layout: a v6 reader
/// would call a BPR bundle's `META` corrupt, where it should say to
/// upgrade. Version 8 added LightGCN to them, for the same reason.
pub mod kind {
    pub const META: u32 = 1;
    pub const ITEMS: u32 = 2;
    pub const POPULARITY: u32 = 3;
    pub const ITEM_FACTORS: u32 = 4;
    pub const USERS: u32 = 5;
    pub const USER_FACTORS: u32 = 6;
    pub const USER_ITEMS: u32 = 7;
    /// Optional: content vectors, labels and the encoder's file hashes.
    pub const CONTENT: u32 = 8;
    /// Optional: learned fusion weights (`content::Fusion`).
    pub const FUSION: u32 = 9;
    /// Optional: a low-rank sketch of the content vectors
    /// (`sketch::ContentSketch`) that speeds up fused recommendations.
    pub const CONTENT_SKETCH: u32 = 10;
    /// Optional: ids merged into another item → its index.
    pub const ITEM_ALIASES: u32 = 11;
    /// Optional: years, audio features (measured, predicted or a prior)
    /// and moods (`facts::ItemFacts`).
    pub const ITEM_FACTS: u32 = 12;
    /// Optional: artists, albums and genres as the catalogue states them
    /// (`credits::ItemCredits`).
    pub const ITEM_CREDITS: u32 = 13;
    /// Optional: the genre clusters tastes are described by
    /// (`taste::GenreClusters`).
    pub const GENRE_CLUSTERS: u32 = 14;
    /// Optional: a sparse item-item CF model and its blend with the
    /// factors (`model::ItemItem`).
    pub const ITEM_ITEM: u32 = 15;
    /// Optional: how the trainer chose the CF model, with its validation
    /// table (provenance; nothing scores by it).
    pub const CF_CHOICE: u32 = 16;
    /// Optional: clusters of the items' fused vectors, so that fusion on a
    /// large catalogue scores a shortlist (`shortlist.rs`).
    pub const SHORTLIST: u32 = 17;
}

/// How a section's bytes are stored (format 4).
pub mod codec {
    /// The raw postcard bytes.
    pub const STORED: u32 = 0;
    /// Raw deflate (RFC 1951) of the postcard bytes.
    pub const DEFLATE: u32 = 1;
}

/// Deflate level the writer uses (miniz_oxide's 0..=10): the files are
/// written once and read by every listener, so the slowest of its usual
/// levels, which on a HetRec client bundle is under a second.
const DEFLATE_LEVEL: u8 = 9;

/// Sections above this many raw bytes (a full bundle's play lists and user
/// factors; no section of a HetRec client bundle comes near) are deflated
/// at [`DEFLATE_LEVEL_LARGE`]: on 8.8 MB of plays, level 9 takes 2.9 s
/// for a 0.550 ratio, level 3 0.2 s for 0.570.
const LARGE_SECTION: usize = 4 << 20;
const DEFLATE_LEVEL_LARGE: u8 = 3;

/// A section is deflated only when that saves at least this share of its
/// bytes: below it, inflating at every load costs more than the bytes.
const DEFLATE_MIN_SAVING: f64 = 0.05;

/// A human name for a section kind.
pub fn kind_name(k: u32) -> &'static str {
    match k {
        kind::META => "meta",
        kind::ITEMS => "items",
        kind::POPULARITY => "popularity",
        kind::ITEM_FACTORS => "item_factors",
        kind::USERS => "users",
        kind::USER_FACTORS => "user_factors",
        kind::USER_ITEMS => "user_items",
        kind::CONTENT => "content",
        kind::FUSION => "fusion",
        kind::CONTENT_SKETCH => "content_sketch",
        kind::ITEM_ALIASES => "item_aliases",
        kind::ITEM_FACTS => "item_facts",
        kind::ITEM_CREDITS => "item_credits",
        kind::GENRE_CLUSTERS => "genre_clusters",
        kind::ITEM_ITEM => "item_item",
        kind::CF_CHOICE => "cf_choice",
        kind::SHORTLIST => "shortlist",
        _ => "unknown",
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BundleError {
    #[error("not a Timbral bundle: it does not start with the magic bytes \"TIMBRAL\\0\" (found {found:02x?})")]
    Foreign { found: Vec<u8> },
    #[error("bundle is truncated: {what} needs {needed} bytes but the file has {available}")]
    Truncated {
        what: &'static str,
        needed: u64,
        available: u64,
    },
    #[error("bundle format version {found} is newer than this build of Timbral reads (up to {supported}); upgrade Timbral")]
    NewerVersion { found: u32, supported: u32 },
    #[error("bundle format version {found} is too old for this build of Timbral (it reads {oldest}..={supported}); retrain the bundle")]
    OlderVersion {
        found: u32,
        oldest: u32,
        supported: u32,
    },
    #[error("bundle is corrupted: checksum mismatch (header says {expected:08x}, payload gives {actual:08x})")]
    Checksum { expected: u32, actual: u32 },
    #[error("bundle is corrupted: {trailing} unexpected bytes after the payload")]
    Trailing { trailing: u64 },
    #[error("bundle is corrupted: section {section}: {detail}")]
    Section { section: String, detail: String },
    #[error("bundle is missing its required `{0}` section")]
    Missing(&'static str),
}

impl BundleError {
    pub(crate) fn section(kind: u32, detail: impl Into<String>) -> Self {
        BundleError::Section {
            section: format!("`{}` (kind {kind})", kind_name(kind)),
            detail: detail.into(),
        }
    }
}

/// One section as found in a file: its raw (postcard) bytes, borrowed from
/// the file where they were stored as they are, inflated where deflated.
#[derive(Debug, Clone)]
pub struct RawSection<'a> {
    pub kind: u32,
    pub bytes: Cow<'a, [u8]>,
}

/// One section of [`BundleInfo`]: its kind and name, its codec, and its
/// bytes as stored in the file and once inflated.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionInfo {
    pub kind: u32,
    pub name: &'static str,
    pub codec: u32,
    pub stored: u64,
    pub raw: u64,
}

/// What `timbral inspect` shows without decoding the sections.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleInfo {
    pub version: u32,
    pub checksum: u32,
    pub payload_len: u64,
    pub total_len: u64,
    pub sections: Vec<SectionInfo>,
}

/// Serialises one typed section.
pub fn section<T: Serialize>(kind: u32, value: &T) -> (u32, Vec<u8>) {
    (
        kind,
        postcard::to_allocvec(value).expect("serialising to memory cannot fail"),
    )
}

/// Decodes one typed section, refusing leftover bytes.
pub fn decode_section<T: DeserializeOwned>(s: &RawSection<'_>) -> Result<T, BundleError> {
    let (value, rest) = postcard::take_from_bytes::<T>(&s.bytes)
        .map_err(|e| BundleError::section(s.kind, format!("cannot decode: {e}")))?;
    if !rest.is_empty() {
        return Err(BundleError::section(
            s.kind,
            format!("{} bytes left over after decoding", rest.len()),
        ));
    }
    Ok(value)
}

/// Frames sections into a bundle file, deflating those it pays to.
/// Deterministic: the same sections give the same bytes.
pub fn encode(sections: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let stored: Vec<(u32, Cow<'_, [u8]>)> = sections
        .iter()
        .map(|(_, raw)| {
            let level = if raw.len() > LARGE_SECTION {
                DEFLATE_LEVEL_LARGE
            } else {
                DEFLATE_LEVEL
            };
            let deflated = miniz_oxide::deflate::compress_to_vec(raw, level);
            if (deflated.len() as f64) <= raw.len() as f64 * (1.0 - DEFLATE_MIN_SAVING) {
                (codec::DEFLATE, Cow::Owned(deflated))
            } else {
                (codec::STORED, Cow::Borrowed(raw.as_slice()))
            }
        })
        .collect();
    let payload_len: usize = stored.iter().map(|(_, b)| 24 + b.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + payload_len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    out.extend_from_slice(&(payload_len as u64).to_le_bytes());
    out.extend_from_slice(&[0; 8]); // checksum + reserved, filled below
    for ((kind, raw), (codec, bytes)) in sections.iter().zip(&stored) {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&codec.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&(raw.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[24..28].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Frames sections as formats 1–3 did (no codec, nothing deflated) under
/// `version`: how the tests make the old files a reader must still read.
#[cfg(test)]
pub(crate) fn encode_legacy(version: u32, sections: &[(u32, Vec<u8>)]) -> Vec<u8> {
    assert!(
        version < 4,
        "format {version} names its codecs: use `encode`"
    );
    let payload_len: usize = sections.iter().map(|(_, b)| 12 + b.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + payload_len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    out.extend_from_slice(&(payload_len as u64).to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    for (kind, bytes) in sections {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[24..28].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The raw bytes of a section stored with `codec`, which must come to
/// exactly `raw_len` bytes.
fn unpack<'a>(
    kind: u32,
    codec: u32,
    stored: &'a [u8],
    raw_len: u64,
) -> Result<Cow<'a, [u8]>, BundleError> {
    match codec {
        codec::STORED if raw_len == stored.len() as u64 => Ok(Cow::Borrowed(stored)),
        codec::STORED => Err(BundleError::section(
            kind,
            format!(
                "stored as it is in {} bytes but said to be {raw_len}",
                stored.len()
            ),
        )),
        codec::DEFLATE => {
            // Deflate expands at most about 1032:1; a larger claim is a lie.
            if raw_len
                > (stored.len() as u64)
                    .saturating_mul(1032)
                    .saturating_add(64)
            {
                return Err(BundleError::section(
                    kind,
                    format!("{raw_len} bytes cannot be deflated into {}", stored.len()),
                ));
            }
            let raw = miniz_oxide::inflate::decompress_to_vec_with_limit(stored, raw_len as usize)
                .map_err(|e| {
                    BundleError::section(kind, format!("does not inflate: {:?}", e.status))
                })?;
            if raw.len() as u64 != raw_len {
                return Err(BundleError::section(
                    kind,
                    format!("inflates to {} bytes, not {raw_len}", raw.len()),
                ));
            }
            Ok(Cow::Owned(raw))
        }
        other => Err(BundleError::section(
            kind,
            format!("unknown codec {other} (this build reads 0, stored, and 1, deflate)"),
        )),
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Verifies the framing and checksum and returns the section table.
pub fn decode(bytes: &[u8]) -> Result<(BundleInfo, Vec<RawSection<'_>>), BundleError> {
    let avail = bytes.len() as u64;
    let probe = &bytes[..bytes.len().min(MAGIC.len())];
    if probe != &MAGIC[..probe.len()] {
        return Err(BundleError::Foreign {
            found: probe.to_vec(),
        });
    }
    if bytes.len() < HEADER_LEN {
        return Err(BundleError::Truncated {
            what: "the header",
            needed: HEADER_LEN as u64,
            available: avail,
        });
    }
    let version = u32_at(bytes, 8);
    if version > FORMAT_VERSION {
        return Err(BundleError::NewerVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version < OLDEST_SUPPORTED {
        return Err(BundleError::OlderVersion {
            found: version,
            oldest: OLDEST_SUPPORTED,
            supported: FORMAT_VERSION,
        });
    }
    let count = u32_at(bytes, 12);
    let payload_len = u64_at(bytes, 16);
    let expected = u32_at(bytes, 24);
    let total = (HEADER_LEN as u64).saturating_add(payload_len);
    if avail < total {
        return Err(BundleError::Truncated {
            what: "the payload",
            needed: total,
            available: avail,
        });
    }
    if avail > total {
        return Err(BundleError::Trailing {
            trailing: avail - total,
        });
    }
    let payload = &bytes[HEADER_LEN..];
    let actual = crc32fast::hash(payload);
    if actual != expected {
        return Err(BundleError::Checksum { expected, actual });
    }
    // Formats 1–3 name no codec: every section is stored as it is.
    let entry = if version >= 4 { 24 } else { 12 };
    let mut sections = Vec::new();
    let mut table = Vec::new();
    let mut at = 0usize;
    for i in 0..count {
        if payload.len() - at < entry {
            return Err(BundleError::Section {
                section: format!("#{i}"),
                detail: "section table runs past the payload".into(),
            });
        }
        let kind = u32_at(payload, at);
        let (codec, len, raw_len) = if version >= 4 {
            (
                u32_at(payload, at + 4),
                u64_at(payload, at + 8),
                u64_at(payload, at + 16),
            )
        } else {
            let len = u64_at(payload, at + 4);
            (codec::STORED, len, len)
        };
        at += entry;
        if len > (payload.len() - at) as u64 {
            return Err(BundleError::section(
                kind,
                format!("length {len} runs past the payload"),
            ));
        }
        if table.iter().any(|s: &SectionInfo| s.kind == kind) {
            return Err(BundleError::section(kind, "appears twice"));
        }
        let len = len as usize;
        table.push(SectionInfo {
            kind,
            name: kind_name(kind),
            codec,
            stored: len as u64,
            raw: raw_len,
        });
        sections.push((kind, codec, &payload[at..at + len], raw_len));
        at += len;
    }
    if at != payload.len() {
        return Err(BundleError::Section {
            section: "table".into(),
            detail: format!("{} bytes after the last section", payload.len() - at),
        });
    }
    // Inflated only once the whole table is known to be sound.
    let sections = sections
        .into_iter()
        .map(|(kind, codec, stored, raw_len)| {
            Ok(RawSection {
                kind,
                bytes: unpack(kind, codec, stored, raw_len)?,
            })
        })
        .collect::<Result<Vec<_>, BundleError>>()?;
    let info = BundleInfo {
        version,
        checksum: expected,
        payload_len,
        total_len: total,
        sections: table,
    };
    Ok((info, sections))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        encode(&[
            section(kind::USERS, &vec!["a".to_string(), "b".to_string()]),
            section(99, &7u32),
        ])
    }

    #[test]
    fn round_trip_and_unknown_sections_are_listed() {
        let b = sample();
        let (info, secs) = decode(&b).unwrap();
        assert_eq!(info.version, FORMAT_VERSION);
        let unknown = SectionInfo {
            kind: 99,
            name: "unknown",
            codec: codec::STORED,
            stored: 1,
            raw: 1,
        };
        assert_eq!(info.sections[1], unknown);
        let users: Vec<String> = decode_section(&secs[0]).unwrap();
        assert_eq!(users, ["a", "b"]);
    }

    /// A section of many repeated names, which deflates well.
    fn names() -> (u32, Vec<u8>) {
        let names: Vec<String> = (0..2000).map(|i| format!("artist {}", i % 50)).collect();
        section(kind::ITEMS, &names)
    }

    #[test]
    fn sections_that_deflate_well_are_deflated_and_read_back() {
        let (k, raw) = names();
        let b = encode(&[(k, raw.clone()), section(99, &7u32)]);
        assert!(b.len() < raw.len() / 4, "{} bytes", b.len());
        let (info, secs) = decode(&b).unwrap();
        assert_eq!(info.sections[0].codec, codec::DEFLATE);
        assert_eq!(info.sections[0].raw, raw.len() as u64);
        assert_eq!(info.sections[1].codec, codec::STORED);
        assert_eq!(secs[0].bytes.as_ref(), raw.as_slice());
        // Deterministic.
        assert_eq!(encode(&[(k, raw.clone()), section(99, &7u32)]), b);
    }

    #[test]
    fn a_format_3_file_is_still_read() {
        let (k, raw) = names();
        let old = encode_legacy(3, &[(k, raw.clone()), section(99, &7u32)]);
        let (info, secs) = decode(&old).unwrap();
        assert_eq!(info.version, 3);
        assert_eq!(info.sections[0].codec, codec::STORED);
        assert_eq!(secs[0].bytes.as_ref(), raw.as_slice());
        let seven: u32 = decode_section(&secs[1]).unwrap();
        assert_eq!(seven, 7);
    }

    /// `b` with the 24-byte table entry of its first section rewritten by
    /// `f`, and the checksum sealed again: a crafted file, not a corrupt one.
    fn reseal(mut b: Vec<u8>, f: impl FnOnce(&mut [u8])) -> Vec<u8> {
        f(&mut b[HEADER_LEN..]);
        let crc = crc32fast::hash(&b[HEADER_LEN..]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn a_section_that_does_not_inflate_to_its_length_is_refused() {
        let b = encode(&[names()]);
        let detail = |b: &[u8]| match decode(b) {
            Err(BundleError::Section { detail, .. }) => detail,
            other => panic!("{other:?}"),
        };
        let raw_len = u64_at(&b, HEADER_LEN + 16);
        let shorter = reseal(b.clone(), |p| {
            p[16..24].copy_from_slice(&(raw_len - 1).to_le_bytes())
        });
        assert!(
            detail(&shorter).contains("does not inflate"),
            "{}",
            detail(&shorter)
        );
        let longer = reseal(b.clone(), |p| {
            p[16..24].copy_from_slice(&(raw_len + 1).to_le_bytes())
        });
        assert!(
            detail(&longer).contains("inflates to"),
            "{}",
            detail(&longer)
        );
        let huge = reseal(b.clone(), |p| {
            p[16..24].copy_from_slice(&u64::MAX.to_le_bytes())
        });
        assert!(
            detail(&huge).contains("cannot be deflated"),
            "{}",
            detail(&huge)
        );
        let unknown = reseal(b.clone(), |p| p[4..8].copy_from_slice(&7u32.to_le_bytes()));
        assert!(
            detail(&unknown).contains("unknown codec 7"),
            "{}",
            detail(&unknown)
        );
        let as_stored = reseal(b.clone(), |p| {
            p[4..8].copy_from_slice(&codec::STORED.to_le_bytes())
        });
        assert!(
            detail(&as_stored).contains("said to be"),
            "{}",
            detail(&as_stored)
        );
        let garbled = reseal(b, |p| p[24] ^= 0xff);
        assert!(matches!(decode(&garbled), Err(BundleError::Section { .. })));
    }

    #[test]
    fn every_bad_file_is_refused_with_its_reason() {
        let b = sample();
        assert!(matches!(decode(&[]), Err(BundleError::Truncated { .. })));
        assert!(matches!(
            decode(&b[..5]),
            Err(BundleError::Truncated { .. })
        ));
        assert!(matches!(
            decode(&b[..b.len() - 1]),
            Err(BundleError::Truncated { .. })
        ));
        assert!(matches!(
            decode(b"PK\x03\x04 zip file"),
            Err(BundleError::Foreign { .. })
        ));
        let mut flipped = b.clone();
        *flipped.last_mut().unwrap() ^= 0x40;
        assert!(matches!(
            decode(&flipped),
            Err(BundleError::Checksum { .. })
        ));
        let mut newer = b.clone();
        newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        assert!(matches!(
            decode(&newer),
            Err(BundleError::NewerVersion { found, supported })
                if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION
        ));
        let mut older = b.clone();
        older[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            decode(&older),
            Err(BundleError::OlderVersion { .. })
        ));
        let mut longer = b.clone();
        longer.push(0);
        assert!(matches!(
            decode(&longer),
            Err(BundleError::Trailing { trailing: 1 })
        ));
    }

    #[test]
    fn a_lying_section_table_is_refused_even_with_a_valid_checksum() {
        let mut b = sample();
        // Claim a huge first section and re-seal the checksum.
        b[HEADER_LEN + 8..HEADER_LEN + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        let crc = crc32fast::hash(&b[HEADER_LEN..]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode(&b), Err(BundleError::Section { .. })));
    }
}
