//! Entry metadata as BSON documents.

use std::time::SystemTime;

use mongodb::bson::{Bson, DateTime, Document, doc};
use reqcache::storage::backend::RecordKind;
use reqcache::storage::backend::unix_time::{from_unix_nanos, to_unix_nanos};
use reqcache::storage::{EntryInfo, StorageError, StorageErrorKind};

pub(crate) const VALUE: &str = "value";
pub(crate) const FILE: &str = "file_id";
/// The [`RecordKind`] code of an alias or a vary index; absent on a response
/// (and on every document written before records had kinds).
pub(crate) const KIND: &str = "kind";
/// The last read, to the minute, in Unix nanoseconds (the write's time at
/// first): what eviction orders by.
pub(crate) const ACCESSED: &str = "accessed";
/// What the document counts for against the size bound.
pub(crate) const BYTES: &str = "bytes";
/// The id of the body a record keeps in chunks.
pub(crate) const BODY: &str = "body_id";
/// Until when that body's chunks are kept (absent: until the record goes).
pub(crate) const BODY_EXPIRES: &str = "body_expires_at";
/// A response's cache groups (absent when it has none), under a multikey
/// index.
pub(crate) const GROUPS: &str = "groups";

/// The metadata document of an entry (no value) that counts for `bytes`.
pub(crate) fn metadata(info: &EntryInfo, deadline: Option<SystemTime>, bytes: i64) -> Document {
    let mut document = doc! {
        "_id": &info.key,
        "url": &info.url,
        "method": info.method.as_str(),
        "status": i32::from(info.status.as_u16()),
        "size": i64::try_from(info.size).unwrap_or(i64::MAX),
        "created_ns": to_unix_nanos(info.created_at),
        ACCESSED: to_unix_nanos(info.created_at),
        BYTES: bytes,
    };
    if let Some(expires) = info.expires {
        document.insert("expires_ns", to_unix_nanos(expires));
    }
    if let Some(retain) = info.retain_until {
        document.insert("retain_ns", to_unix_nanos(retain));
    }
    if let Some(deadline) = deadline {
        document.insert("expires_at", DateTime::from_system_time(deadline));
    }
    if !info.kind.is_response() {
        document.insert(KIND, i32::from(info.kind.code()));
    }
    if !info.groups.is_empty() {
        document.insert(GROUPS, &info.groups);
    }
    document
}

/// The filter of the responses in `group`.
pub(crate) fn group_filter(group: &str) -> Document {
    doc! { GROUPS: group }
}

/// The filter of responses: aliases and vary indexes carry a `kind`.
/// Names `body` in a record's `document`, with its chunks' deadline.
pub(crate) fn name_body(
    document: &mut Document,
    body: &reqcache::storage::backend::BodyRef,
    kept_until: Option<SystemTime>,
) {
    document.insert(BODY, &body.id);
    if let Some(until) = kept_until {
        document.insert(BODY_EXPIRES, DateTime::from_system_time(until));
    }
}

pub(crate) fn responses_filter() -> Document {
    doc! { KIND: { "$exists": false } }
}

/// The projection that leaves values out.
pub(crate) fn metadata_projection() -> Document {
    doc! { VALUE: 0, FILE: 0 }
}

/// `true` when the document is past its retention at `now`.
pub(crate) fn past_retention(document: &Document, now: SystemTime) -> bool {
    document
        .get_i64("retain_ns")
        .is_ok_and(|retain| retain <= to_unix_nanos(now))
}

/// The filter of documents expired or past retention at `now`.
pub(crate) fn expired_filter(now: SystemTime) -> Document {
    let now = to_unix_nanos(now);
    doc! { "$or": [ { "expires_ns": { "$lte": now } }, { "retain_ns": { "$lte": now } } ] }
}

pub(crate) fn info(document: &Document) -> Option<EntryInfo> {
    let key = match document.get("_id")? {
        Bson::String(key) => key.clone(),
        _ => return None,
    };
    let kind = match document.get_i32(KIND) {
        Err(_) => RecordKind::Response,
        Ok(code) => RecordKind::from_code(u8::try_from(code).ok()?)?,
    };
    Some(EntryInfo {
        key,
        kind,
        method: http::Method::from_bytes(document.get_str("method").ok()?.as_bytes()).ok()?,
        url: document.get_str("url").ok()?.to_owned(),
        status: http::StatusCode::from_u16(u16::try_from(document.get_i32("status").ok()?).ok()?)
            .ok()?,
        size: u64::try_from(document.get_i64("size").ok()?).ok()?,
        created_at: from_unix_nanos(document.get_i64("created_ns").ok()?),
        expires: document.get_i64("expires_ns").ok().map(from_unix_nanos),
        retain_until: document.get_i64("retain_ns").ok().map(from_unix_nanos),
        groups: match document.get_array(GROUPS) {
            Ok(groups) => groups
                .iter()
                .map(|group| group.as_str().map(str::to_owned))
                .collect::<Option<_>>()?,
            Err(_) => Vec::new(),
        },
    })
}

pub(crate) fn backend(message: &'static str) -> impl FnOnce(mongodb::error::Error) -> StorageError {
    move |error| StorageError::with_source(StorageErrorKind::Backend, message, error)
}
