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
//! payload: `section count` sections, each
//!   kind u32 | length u64 | `length` bytes of postcard
//! ```
//!
//! A reader checks, in order: magic (foreign file), version (newer or
//! retired format), length (truncated or trailing bytes), checksum
//! (corruption), the section table, then each section's own invariants —
//! so a bad file is refused whole, never half-loaded. Section kinds this
//! build does not know are skipped, so later minor additions stay readable.

use serde::{de::DeserializeOwned, Serialize};

pub const MAGIC: [u8; 8] = *b"TIMBRAL\0";
pub const FORMAT_VERSION: u32 = 3;
/// The oldest format this build still reads.
pub const OLDEST_SUPPORTED: u32 = 1;
pub const HEADER_LEN: usize = 32;

/// Section kinds. Version 2 changed the layout of `FUSION` (v1's is
/// still read). Version 3 made the three user sections optional together
/// (a client bundle has none) and added weights to `CONTENT`'s labels
/// (v1 and v2 content is still read, every label weighing 1).
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
}

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

/// One section as found in a file.
#[derive(Debug, Clone, Copy)]
pub struct RawSection<'a> {
    pub kind: u32,
    pub bytes: &'a [u8],
}

/// What `timbral inspect` shows without decoding the sections.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleInfo {
    pub version: u32,
    pub checksum: u32,
    pub payload_len: u64,
    pub total_len: u64,
    /// (kind, name, length in bytes)
    pub sections: Vec<(u32, &'static str, u64)>,
}

/// Serialises one typed section.
pub fn section<T: Serialize>(kind: u32, value: &T) -> (u32, Vec<u8>) {
    (
        kind,
        postcard::to_allocvec(value).expect("serialising to memory cannot fail"),
    )
}

/// Decodes one typed section, refusing leftover bytes.
pub fn decode_section<T: DeserializeOwned>(s: RawSection<'_>) -> Result<T, BundleError> {
    let (value, rest) = postcard::take_from_bytes::<T>(s.bytes)
        .map_err(|e| BundleError::section(s.kind, format!("cannot decode: {e}")))?;
    if !rest.is_empty() {
        return Err(BundleError::section(
            s.kind,
            format!("{} bytes left over after decoding", rest.len()),
        ));
    }
    Ok(value)
}

/// Frames sections into a bundle file.
pub fn encode(sections: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let payload_len: usize = sections.iter().map(|(_, b)| 12 + b.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + payload_len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    out.extend_from_slice(&(payload_len as u64).to_le_bytes());
    out.extend_from_slice(&[0; 8]); // checksum + reserved, filled below
    for (kind, bytes) in sections {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[24..28].copy_from_slice(&crc.to_le_bytes());
    out
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
    let mut sections = Vec::new();
    let mut at = 0usize;
    for i in 0..count {
        if payload.len() - at < 12 {
            return Err(BundleError::Section {
                section: format!("#{i}"),
                detail: "section table runs past the payload".into(),
            });
        }
        let kind = u32_at(payload, at);
        let len = u64_at(payload, at + 4);
        at += 12;
        if len > (payload.len() - at) as u64 {
            return Err(BundleError::section(
                kind,
                format!("length {len} runs past the payload"),
            ));
        }
        if sections.iter().any(|s: &RawSection<'_>| s.kind == kind) {
            return Err(BundleError::section(kind, "appears twice"));
        }
        let len = len as usize;
        sections.push(RawSection {
            kind,
            bytes: &payload[at..at + len],
        });
        at += len;
    }
    if at != payload.len() {
        return Err(BundleError::Section {
            section: "table".into(),
            detail: format!("{} bytes after the last section", payload.len() - at),
        });
    }
    let info = BundleInfo {
        version,
        checksum: expected,
        payload_len,
        total_len: total,
        sections: sections
            .iter()
            .map(|s| (s.kind, kind_name(s.kind), s.bytes.len() as u64))
            .collect(),
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
        assert_eq!(info.sections[1], (99, "unknown", 1));
        let users: Vec<String> = decode_section(secs[0]).unwrap();
        assert_eq!(users, ["a", "b"]);
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
        b[HEADER_LEN + 4..HEADER_LEN + 12].copy_from_slice(&u64::MAX.to_le_bytes());
        let crc = crc32fast::hash(&b[HEADER_LEN..]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode(&b), Err(BundleError::Section { .. })));
    }
}
