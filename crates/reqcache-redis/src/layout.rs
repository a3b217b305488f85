//! Key names and the metadata record.

use std::time::{SystemTime, UNIX_EPOCH};

use reqcache::storage::EntryInfo;
use reqcache::storage::backend::Sidecar;
use reqcache::storage::backend::unix_time::{from_unix_nanos, to_unix_nanos};
use reqcache::storage::backend::{BodyRef, EntryMetadata};
use serde::{Deserialize, Serialize};

/// How many buckets a namespace is spread over (one hash tag each).
pub(crate) const BUCKETS: u8 = 16;

/// The key names of one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    namespace: String,
}

impl Layout {
    pub(crate) fn new(namespace: String) -> Self {
        Self { namespace }
    }

    pub(crate) fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The bucket of a cache key: its first hex digit, or a hash of it for keys
    /// that do not start with one.
    pub(crate) fn bucket(key: &str) -> u8 {
        match key.as_bytes().first() {
            Some(c @ b'0'..=b'9') => c - b'0',
            Some(c @ b'a'..=b'f') => c - b'a' + 10,
            _ => {
                (key.bytes()
                    .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()))
                    % u32::from(BUCKETS)) as u8
            }
        }
    }

    fn tag(&self, bucket: u8) -> String {
        format!("{{{}:{bucket:x}}}", self.namespace)
    }

    pub(crate) fn value(&self, key: &str) -> String {
        format!("{}:v:{key}", self.tag(Self::bucket(key)))
    }

    pub(crate) fn meta(&self, bucket: u8) -> String {
        format!("{}:m", self.tag(bucket))
    }

    pub(crate) fn expiry(&self, bucket: u8) -> String {
        format!("{}:x", self.tag(bucket))
    }

    /// The set of the bucket's keys whose entries were stored for `url` (or
    /// once were: members are checked against the metadata before use).
    pub(crate) fn url_index(&self, bucket: u8, url: &str) -> String {
        format!("{}:u:{:016x}", self.tag(bucket), fnv1a(url))
    }

    /// The set of the bucket's keys whose responses are in `group` (or
    /// once were: members are checked against the metadata before use).
    pub(crate) fn group_index(&self, bucket: u8, group: &str) -> String {
        format!("{}:g:{:016x}", self.tag(bucket), fnv1a(group))
    }

    /// The set of the bucket's group index names, for `clear`.
    pub(crate) fn group_indexes(&self, bucket: u8) -> String {
        format!("{}:gi", self.tag(bucket))
    }

    /// The set of the bucket's keys that hold an alias or a vary index, not
    /// a response: `len` subtracts its size from the metadata's.
    pub(crate) fn bookkeeping(&self, bucket: u8) -> String {
        format!("{}:k", self.tag(bucket))
    }

    /// The set of the bucket's URL index names, for `clear`.
    pub(crate) fn url_indexes(&self, bucket: u8) -> String {
        format!("{}:ui", self.tag(bucket))
    }

    /// Chunk `index` of body `id`: a body's chunks share a hash tag, so a
    /// cluster keeps them on one node.
    pub(crate) fn chunk(&self, id: &str, index: u64) -> String {
        format!("{{{}:b:{id}}}:{index}", self.namespace)
    }
}

/// FNV-1a: an index's name from what it indexes; a collision only adds
/// candidates, which are checked.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Milliseconds since the Unix epoch, saturating; 0 before it.
pub(crate) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An entry's metadata as stored in the bucket hash (MessagePack), with the
/// moment Redis drops its value (`deadline`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Meta {
    entry: EntryMetadata,
    deadline: Option<i64>,
    /// The body the record keeps in chunks, and how many (left out
    /// otherwise: older records have no such field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<(String, u64)>,
}

impl Sidecar for Meta {
    fn metadata(&self) -> &EntryMetadata {
        &self.entry
    }
}

impl Meta {
    pub(crate) fn of(
        info: &EntryInfo,
        deadline: Option<SystemTime>,
        body: Option<&BodyRef>,
    ) -> Self {
        Self {
            entry: EntryMetadata::from_info(info),
            deadline: deadline.map(to_unix_nanos),
            body: body.map(|body| (body.id.clone(), body.chunks())),
        }
    }

    /// The body the record keeps in chunks: its id and how many.
    pub(crate) fn body(&self) -> Option<(&str, u64)> {
        self.body
            .as_ref()
            .map(|(id, chunks)| (id.as_str(), *chunks))
    }

    /// `true` when the record is a response in `group`.
    pub(crate) fn in_group(&self, group: &str) -> bool {
        self.entry.groups().iter().any(|g| g == group)
    }

    /// The record's cache groups.
    pub(crate) fn groups(&self) -> &[String] {
        self.entry.groups()
    }

    /// `true` once Redis has (or will have) dropped the value.
    pub(crate) fn is_gone(&self, now: SystemTime) -> bool {
        self.deadline.is_some_and(|d| from_unix_nanos(d) <= now)
    }

    pub(crate) fn info(&self, key: String) -> Option<EntryInfo> {
        self.entry.info(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_a_bucket_share_one_hash_tag() {
        let layout = Layout::new("cache".into());
        assert_eq!(layout.value("a1b2"), "{cache:a}:v:a1b2");
        assert_eq!(layout.meta(10), "{cache:a}:m");
        assert_eq!(layout.expiry(10), "{cache:a}:x");
        assert!(Layout::bucket("zzz") < BUCKETS);
        assert_eq!(Layout::bucket("f0"), 15);
    }
}
