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

/// A response's cache groups, a string set (absent when it has none).
pub(crate) const GROUPS: &str = "groups";
/// A membership item's group: the key of the group index.
pub(crate) const GROUP: &str = "grp";
/// What every membership item's key starts with: no cache key does (a NUL).
const MEMBERSHIP_PREFIX: &str = "\u{0}g:";

/// The attributes listings read: everything but the value.
pub(crate) const METADATA: &str = "#k, #m, #u, #s, #z, #c, #e, #r, #q, #g";

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
        ("#g", GROUPS),
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
    if !info.groups.is_empty() {
        item.insert(GROUPS.to_owned(), AttributeValue::Ss(info.groups));
    }
    if let Some(ttl) = deadline {
        item.insert(TTL.to_owned(), ttl_value(ttl));
    }
    item
}

fn ttl_value(deadline: SystemTime) -> AttributeValue {
    number(
        deadline
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// The key of the item that says `key` is in `group`: the prefix, a hash
/// of the group (the item's `grp` holds it whole), then the key.
pub(crate) fn membership_key(group: &str, key: &str) -> String {
    let hash = group.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{MEMBERSHIP_PREFIX}{hash:016x}:{key}")
}

/// The item that puts `key` in `group`, dropped by DynamoDB's TTL with its
/// record (`deadline`).
pub(crate) fn membership_item(
    group: &str,
    key: &str,
    deadline: Option<SystemTime>,
) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (
            KEY.to_owned(),
            AttributeValue::S(membership_key(group, key)),
        ),
        (GROUP.to_owned(), AttributeValue::S(group.to_owned())),
    ]);
    if let Some(deadline) = deadline {
        item.insert(TTL.to_owned(), ttl_value(deadline));
    }
    item
}

/// `true` for a membership item's key.
pub(crate) fn is_membership(key: &str) -> bool {
    key.starts_with(MEMBERSHIP_PREFIX)
}

/// The cache key a membership item's key names.
pub(crate) fn member_of(membership: &str) -> Option<&str> {
    let rest = membership.strip_prefix(MEMBERSHIP_PREFIX)?;
    rest.get(17..)
        .filter(|_| rest.as_bytes().get(16) == Some(&b':'))
}

/// The cache groups of a record item.
pub(crate) fn groups_of(item: &HashMap<String, AttributeValue>) -> &[String] {
    item.get(GROUPS)
        .and_then(|groups| groups.as_ss().ok())
        .map_or(&[], Vec::as_slice)
}

/// The size DynamoDB counts for an item: attribute names plus values.
pub(crate) fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
                    AttributeValue::B(b) => b.as_ref().len(),
                    AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
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
        groups: groups_of(item).to_vec(),
        retain_until: int(item, RETAIN).map(from_unix_nanos),
    })
}
