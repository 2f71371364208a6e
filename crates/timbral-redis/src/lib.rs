//! Precomputed top-K recommendations in Redis, as seeds 000 and 002 serve
//! them, laid out so that a reader never sees half of a run.
//!
//! ```text
//! {prefix}next                 INCR counter: each run's version number
//! {prefix}versions             SET of the versions written (for clean-up)
//! {prefix}current              the version readers use (one SET switches it)
//! {prefix}v{N}:meta            JSON: users, k, source, trainer
//! {prefix}v{N}:user:{id}       JSON: [{"item": "…", "score": 1.23}, …]
//! ```
//!
//! A run ([`Publisher`]) takes a new version, writes every listener's list
//! under it in pipelined batches, and only then points `current` at it, in
//! one `SET`, so a reader sees the old set or the new one, never a mix.
//! The versions before it are then deleted (`SCAN` + `UNLINK`, by the
//! `versions` set, which also holds runs that died before their switch).
//! A reader ([`read_user`]) reads `current`, then its key; where the key is
//! gone because a new run switched and deleted the old version between the
//! two reads, it reads `current` again and retries.

pub use redis;
use redis::{Commands, Connection, Pipeline};
use serde::{Deserialize, Serialize};

/// A connection to the server at `url` (`redis://[:password@]host:port[/db]`).
pub fn connect(url: &str) -> Result<Connection> {
    Ok(redis::Client::open(url)?.get_connection()?)
}

/// A Redis error, or a value under Timbral's keys that is not what it
/// wrote.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("key `{key}`: {detail}")]
    Corrupt { key: String, detail: String },
}

pub type Result<T> = std::result::Result<T, Error>;

/// One recommended item and its score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rec {
    pub item: String,
    pub score: f32,
}

/// What a run records beside its lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub users: usize,
    pub k: usize,
    /// The bundle's source and trainer (`Meta`).
    pub source: String,
    pub trainer: String,
}

/// The key names under one prefix (`timbral:` by default).
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    prefix: String,
}

impl Layout {
    pub fn new(prefix: impl Into<String>) -> Self {
        Layout {
            prefix: prefix.into(),
        }
    }

    pub fn current(&self) -> String {
        format!("{}current", self.prefix)
    }

    fn next(&self) -> String {
        format!("{}next", self.prefix)
    }

    fn versions(&self) -> String {
        format!("{}versions", self.prefix)
    }

    pub fn meta(&self, version: u64) -> String {
        format!("{}v{version}:meta", self.prefix)
    }

    pub fn user(&self, version: u64, user: &str) -> String {
        format!("{}v{version}:user:{user}", self.prefix)
    }

    /// A `SCAN MATCH` pattern for every key of `version`, with the
    /// prefix's glob characters escaped.
    fn pattern(&self, version: u64) -> String {
        let mut p = String::new();
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        format!("{p}v{version}:*")
    }
}

impl Default for Layout {
    fn default() -> Self {
        Layout::new("timbral:")
    }
}

/// One run of precomputed lists, written into its own version.
pub struct Publisher<'a> {
    con: &'a mut Connection,
    layout: Layout,
    version: u64,
    ttl_s: Option<u64>,
    users: usize,
}

/// What a finished run did.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    pub version: u64,
    pub users: usize,
    /// The version readers used before the switch, if any.
    pub previous: Option<u64>,
    /// Versions deleted after the switch, and how many keys they held.
    pub deleted_versions: Vec<u64>,
    pub deleted_keys: usize,
}

impl<'a> Publisher<'a> {
    /// Takes a new version under `layout`; each key written expires after
    /// `ttl_s` seconds where given.
    pub fn begin(con: &'a mut Connection, layout: Layout, ttl_s: Option<u64>) -> Result<Self> {
        let version: u64 = con.incr(layout.next(), 1)?;
        let _: () = con.sadd(layout.versions(), version)?;
        Ok(Publisher {
            con,
            layout,
            version,
            ttl_s,
            users: 0,
        })
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    fn set(&self, pipe: &mut Pipeline, key: String, value: String) {
        match self.ttl_s {
            Some(s) => pipe.set_ex(key, value, s).ignore(),
            None => pipe.set(key, value).ignore(),
        };
    }

    /// Writes one batch of listeners' lists in one pipelined round trip.
    pub fn write(&mut self, batch: &[(String, Vec<Rec>)]) -> Result<()> {
        let mut pipe = redis::pipe();
        for (user, recs) in batch {
            let value = serde_json::to_string(recs).expect("plain data serialises");
            self.set(&mut pipe, self.layout.user(self.version, user), value);
        }
        let _: () = pipe.query(self.con)?;
        self.users += batch.len();
        Ok(())
    }

    /// Records `meta`, points `current` at this version, then deletes every
    /// other version this prefix holds.
    pub fn finish(self, meta: &RunMeta) -> Result<Published> {
        let Publisher {
            con,
            layout,
            version,
            users,
            ttl_s,
        } = self;
        let value = serde_json::to_string(meta).expect("plain data serialises");
        let mut pipe = redis::pipe();
        match ttl_s {
            Some(s) => pipe.set_ex(layout.meta(version), value, s).ignore(),
            None => pipe.set(layout.meta(version), value).ignore(),
        };
        let _: () = pipe.query(con)?;
        // The switch: one SET, atomic for every reader.
        let previous: Option<String> = redis::cmd("SET")
            .arg(layout.current())
            .arg(version)
            .arg("GET")
            .query(con)?;
        let previous = previous
            .map(|v| parse_version(&layout.current(), &v))
            .transpose()?;
        let mut olds: Vec<u64> = con.smembers(layout.versions())?;
        olds.retain(|&v| v != version);
        olds.sort_unstable();
        let mut deleted_keys = 0;
        for &old in &olds {
            deleted_keys += delete_version(con, &layout, old)?;
            let _: () = con.srem(layout.versions(), old)?;
        }
        Ok(Published {
            version,
            users,
            previous,
            deleted_versions: olds,
            deleted_keys,
        })
    }
}

fn parse_version(key: &str, v: &str) -> Result<u64> {
    v.parse().map_err(|_| Error::Corrupt {
        key: key.into(),
        detail: format!("`{v}` is not a version number"),
    })
}

/// Unlinks every key of `version`, a `SCAN` page at a time.
fn delete_version(con: &mut Connection, layout: &Layout, version: u64) -> Result<usize> {
    let pattern = layout.pattern(version);
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query(con)?;
        if !keys.is_empty() {
            let n: usize = redis::cmd("UNLINK").arg(&keys).query(con)?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// The version readers use now, if a run has been published.
pub fn current_version(con: &mut Connection, layout: &Layout) -> Result<Option<u64>> {
    let v: Option<String> = con.get(layout.current())?;
    v.map(|v| parse_version(&layout.current(), &v)).transpose()
}

/// A listener's precomputed list and the version it came from: `None`
/// where nothing is published or this version has no list for them (the
/// caller computes instead).
pub fn read_user(
    con: &mut Connection,
    layout: &Layout,
    user: &str,
) -> Result<Option<(u64, Vec<Rec>)>> {
    let mut seen = None;
    // Three tries cover two runs switching between the reads.
    for _ in 0..3 {
        let Some(version) = current_version(con, layout)? else {
            return Ok(None);
        };
        if seen == Some(version) {
            return Ok(None); // the pointer held still: no list for them
        }
        let key = layout.user(version, user);
        let value: Option<String> = con.get(&key)?;
        match value {
            Some(v) => {
                let recs = serde_json::from_str(&v).map_err(|e| Error::Corrupt {
                    key,
                    detail: e.to_string(),
                })?;
                return Ok(Some((version, recs)));
            }
            None => seen = Some(version),
        }
    }
    Ok(None)
}

/// A run's recorded meta.
pub fn read_meta(con: &mut Connection, layout: &Layout, version: u64) -> Result<Option<RunMeta>> {
    let key = layout.meta(version);
    let v: Option<String> = con.get(&key)?;
    v.map(|v| {
        serde_json::from_str(&v).map_err(|e| Error::Corrupt {
            key,
            detail: e.to_string(),
        })
    })
    .transpose()
}

pub mod local_server;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_patterns() {
        let l = Layout::new("a*b:");
        assert_eq!(l.user(3, "u1"), "a*b:v3:user:u1");
        assert_eq!(l.meta(3), "a*b:v3:meta");
        assert_eq!(l.pattern(12), "a\\*b:v12:*");
        assert_eq!(Layout::default().current(), "timbral:current");
    }
}
