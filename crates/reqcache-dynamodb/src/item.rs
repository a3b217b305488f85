//! The item layout: attribute names and conversions.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use reqcache::storage::EntryInfo;
pub(crate) use reqcache::storage::backend::unix_time::{from_unix_nanos, to_unix_nanos};
use reqcache::storage::backend::{Record, RecordKind};

pub(crate) const KEY: &str = "key";
pub(crate) const VALUE: &str = "value";
pub(crate) const METHOD: &str = "method";
pub(crate) const URL: &str = "url";
pub(crate) const STATUS: &str = "status";
pub(crate) const SIZE: &str = "size";
pub(crate) const CREATED: &str = "created_ns";
pub(crate) const EXPIRES: &str = "expires_ns";
pub(crate) const RETAIN: &str = "retain_ns";
pub(crate) const TTL: &str = "ttl";
/// The [`RecordKind`] code of an alias or a vary index; absent on a response
/// (and on every item written before records had kinds).
pub(crate) const KIND: &str = "kind";

/// The attributes listings read: everything but the value.
pub(crate) const METADATA: &str = "#k, #m, #u, #s, #z, #c, #e, #r, #q";

/// The names behind [`METADATA`]'s placeholders (some are reserved words).
pub(crate) fn metadata_names() -> HashMap<String, String> {
    [
        ("#k", KEY),
        ("#m", METHOD),
        ("#u", URL),
        ("#s", STATUS),
        ("#z", SIZE),
        ("#c", CREATED),
        ("#e", EXPIRES),
        ("#r", RETAIN),
        ("#q", KIND),
    ]
    .into_iter()
    .map(|(placeholder, name)| (placeholder.to_owned(), name.to_owned()))
    .collect()
}

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// The item for an entry.
pub(crate) fn to_item(record: Record) -> HashMap<String, AttributeValue> {
    let Record {
        info,
        value,
        deadline,
        ..
    } = record;
    let mut item = HashMap::from([
        (KEY.to_owned(), AttributeValue::S(info.key)),
        (VALUE.to_owned(), AttributeValue::B(Blob::new(value))),
        (
            METHOD.to_owned(),
            AttributeValue::S(info.method.as_str().to_owned()),
        ),
        (URL.to_owned(), AttributeValue::S(info.url)),
        (STATUS.to_owned(), number(info.status.as_u16())),
        (SIZE.to_owned(), number(info.size)),
        (CREATED.to_owned(), number(to_unix_nanos(info.created_at))),
    ]);
    if let Some(expires) = info.expires {
        item.insert(EXPIRES.to_owned(), number(to_unix_nanos(expires)));
    }
    if let Some(retain) = info.retain_until {
        item.insert(RETAIN.to_owned(), number(to_unix_nanos(retain)));
    }
    if !info.kind.is_response() {
        item.insert(KIND.to_owned(), number(info.kind.code()));
    }
    if let Some(ttl) = deadline {
        let secs = ttl.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        item.insert(TTL.to_owned(), number(secs));
    }
    item
}

/// The size DynamoDB counts for an item: attribute names plus values.
pub(crate) fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
                    AttributeValue::B(b) => b.as_ref().len(),
                    _ => 8,
                }
        })
        .sum()
}

fn string<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn int(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

pub(crate) fn key_of(item: &HashMap<String, AttributeValue>) -> Option<String> {
    string(item, KEY).map(str::to_owned)
}

pub(crate) fn value_of(item: &HashMap<String, AttributeValue>) -> Option<&[u8]> {
    item.get(VALUE)?.as_b().ok().map(|b| b.as_ref())
}

/// `true` when the item is past its retention at `now`.
pub(crate) fn past_retention(item: &HashMap<String, AttributeValue>, now: SystemTime) -> bool {
    int(item, RETAIN).is_some_and(|retain| retain <= to_unix_nanos(now))
}

pub(crate) fn info_of(item: &HashMap<String, AttributeValue>) -> Option<EntryInfo> {
    let kind = match int(item, KIND) {
        None => RecordKind::Response,
        Some(code) => RecordKind::from_code(u8::try_from(code).ok()?)?,
    };
    Some(EntryInfo {
        key: key_of(item)?,
        kind,
        method: http::Method::from_bytes(string(item, METHOD)?.as_bytes()).ok()?,
        url: string(item, URL)?.to_owned(),
        status: http::StatusCode::from_u16(u16::try_from(int(item, STATUS)?).ok()?).ok()?,
        size: u64::try_from(int(item, SIZE)?).ok()?,
        created_at: from_unix_nanos(int(item, CREATED)?),
        expires: int(item, EXPIRES).map(from_unix_nanos),
        retain_until: int(item, RETAIN).map(from_unix_nanos),
        groups: Vec::new(),
    })
}
