//! [`Wire`]: the serialized layout of every record kind, the same for every
//! serializer.
//!
//! Its text and byte strings borrow from what they were written from or
//! read from: encoding copies no header value and no body, and a value read
//! in place (MessagePack) decodes into slices of one shared buffer, not into
//! an allocation per header.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::chunks::BodyRef;
use super::entry::{CachedRequest, CachedResponse};
use super::error::{StorageError, StorageErrorKind};
use super::record::{Alias, StoredRecord, VaryIndex};

/// The version of the stored record layout. A record of any other version is
/// a miss: it is never decoded by guesswork.
pub const FORMAT_VERSION: u8 = 1;

/// How many fields [`Wire`] has (what `encode_parts` writes by hand).
pub(super) const WIRE_FIELDS: u32 = 11;

/// The serialized layout of every record kind. Field order matters for
/// MessagePack (arrays): fields are only ever added at the end, with a
/// default, so records written before them still decode.
#[derive(Serialize, Deserialize)]
pub(super) struct Wire<'a> {
    pub(super) reqcache_format: u8,
    pub(super) status: u16,
    #[serde(borrow)]
    pub(super) version: Text<'a>,
    #[serde(borrow)]
    pub(super) headers: Headers<'a>,
    #[serde(borrow)]
    pub(super) body: Blob<'a>,
    #[serde(borrow)]
    pub(super) request: RecordRequest<'a>,
    pub(super) created_at: SystemTime,
    pub(super) expires: Option<SystemTime>,
    pub(super) retain_until: Option<SystemTime>,
    /// An alias's target key.
    #[serde(borrow)]
    pub(super) alias_for: Option<Text<'a>>,
    /// A vary index's names (or an alias's target's); `None` on a response.
    #[serde(default, borrow)]
    pub(super) vary: Option<Vec<Text<'a>>>,
    /// A response's body kept in chunks. Left out when there is none, so
    /// that every other record keeps the layout the in-place reader reads.
    ///
    /// `Some(None)` writes it empty, for a record that has a field after
    /// it (MessagePack fields are positions); it reads back as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub(super) stored_body: Option<Option<WireBody<'a>>>,
    /// A response's cache groups ([`CachedResponse::groups`]). Left out
    /// when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty", borrow)]
    pub(super) groups: Vec<Text<'a>>,
}

/// How many fields a response's record has past [`WIRE_FIELDS`]: one for a
/// body in chunks, two with groups (the body's field then written empty
/// when there is none).
pub(super) fn trailing_fields(entry: &CachedResponse) -> u32 {
    if !entry.groups.is_empty() {
        2
    } else {
        u32::from(entry.stored_body.is_some())
    }
}

/// A [`BodyRef`].
#[derive(Serialize, Deserialize)]
pub(super) struct WireBody<'a> {
    #[serde(borrow)]
    pub(super) id: Text<'a>,
    pub(super) len: u64,
    pub(super) chunk_size: u32,
}

/// The request a record was stored for.
#[derive(Serialize, Deserialize)]
pub(super) struct RecordRequest<'a> {
    #[serde(borrow)]
    pub(super) method: Text<'a>,
    #[serde(borrow)]
    pub(super) url: Text<'a>,
    #[serde(borrow)]
    pub(super) headers: Headers<'a>,
    #[serde(borrow)]
    pub(super) body: Blob<'a>,
    pub(super) redacted: bool,
}

impl<'a> Wire<'a> {
    /// A response, borrowing its headers and body.
    pub(super) fn from_response(entry: &'a CachedResponse) -> Self {
        Self {
            reqcache_format: FORMAT_VERSION,
            status: entry.status.as_u16(),
            version: Text(version_name(entry.version)),
            headers: Headers::Map(&entry.headers),
            body: Blob::from(&entry.body),
            request: RecordRequest::of(&entry.request),
            // Serde writes no time before the Unix epoch: such times (a
            // clock set back, dates from 1969) are clamped to it, so that
            // every record encodes.
            created_at: entry.created_at.max(UNIX_EPOCH),
            expires: entry.expires.map(|t| t.max(UNIX_EPOCH)),
            retain_until: entry.retain_until.map(|t| t.max(UNIX_EPOCH)),
            alias_for: None,
            vary: None,
            stored_body: (trailing_fields(entry) > 0).then(|| {
                entry.stored_body.as_ref().map(|body| WireBody {
                    id: Text(Cow::Borrowed(&body.id)),
                    len: body.len,
                    chunk_size: body.chunk_size,
                })
            }),
            groups: entry
                .groups
                .iter()
                .map(|group| Text(Cow::Borrowed(group.as_str())))
                .collect(),
        }
    }

    /// Any record; an alias or a vary index has no headers and no body.
    pub(super) fn from_record(record: &'a StoredRecord) -> Self {
        let names = |vary: &'a [HeaderName]| {
            vary.iter()
                .map(|n| Text(Cow::Borrowed(n.as_str())))
                .collect()
        };
        let (alias_for, vary) = match record {
            StoredRecord::Alias(alias) => (
                Some(Text(Cow::Borrowed(alias.target.as_str()))),
                Some(names(&alias.vary)),
            ),
            StoredRecord::VaryIndex(index) => (None, Some(names(&index.vary))),
            StoredRecord::Response(entry) => return Self::from_response(entry),
        };
        let info = record.info("");
        Self {
            reqcache_format: FORMAT_VERSION,
            status: info.status.as_u16(),
            version: Text(Cow::Borrowed("HTTP/1.1")),
            headers: Headers::Pairs(Vec::new()),
            body: Blob(Cow::Borrowed(&[])),
            request: RecordRequest::of(record.request()),
            created_at: info.created_at.max(UNIX_EPOCH),
            expires: info.expires.map(|t| t.max(UNIX_EPOCH)),
            retain_until: info.retain_until.map(|t| t.max(UNIX_EPOCH)),
            alias_for,
            vary,
            stored_body: None,
            groups: Vec::new(),
        }
    }

    /// The record, its byte strings sliced from `source` where they were
    /// read from it in place (and copied where they were not).
    pub(super) fn into_record(self, source: &Bytes) -> Result<StoredRecord, StorageError> {
        let invalid = |what: &str| StorageError::new(StorageErrorKind::Decode, what.to_owned());
        let status = StatusCode::from_u16(self.status).map_err(|_| invalid("invalid status"))?;
        let request = CachedRequest {
            method: Method::from_bytes(self.request.method.0.as_bytes())
                .map_err(|_| invalid("invalid method"))?,
            url: self.request.url.0.into_owned(),
            headers: self.request.headers.into_map(source)?,
            body: self.request.body.into_bytes(source),
            redacted: self.request.redacted,
        };
        let vary = self
            .vary
            .map(|names| {
                names
                    .iter()
                    .map(|name| HeaderName::from_bytes(name.0.as_bytes()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| invalid("invalid vary name"))
            })
            .transpose()?;
        Ok(match (self.alias_for, vary) {
            (Some(target), vary) => StoredRecord::Alias(Arc::new(Alias {
                request,
                target: target.0.into_owned(),
                vary: vary.unwrap_or_default(),
                status,
                created_at: self.created_at,
                expires: self.expires,
                retain_until: self.retain_until,
            })),
            (None, Some(vary)) => StoredRecord::VaryIndex(Arc::new(VaryIndex {
                request,
                vary,
                status,
                created_at: self.created_at,
                expires: self.expires,
                retain_until: self.retain_until,
            })),
            (None, None) => StoredRecord::Response(Arc::new(CachedResponse {
                status,
                version: parse_version(&self.version.0)
                    .ok_or_else(|| invalid("invalid version"))?,
                headers: self.headers.into_map(source)?,
                body: self.body.into_bytes(source),
                request,
                created_at: self.created_at,
                expires: self.expires,
                retain_until: self.retain_until,
                stored_body: self
                    .stored_body
                    .flatten()
                    .map(|body| BodyRef::new(body.id.0.into_owned(), body.len, body.chunk_size)),
                groups: self
                    .groups
                    .into_iter()
                    .map(|group| group.0.into_owned())
                    .collect(),
            })),
        })
    }
}

impl<'a> RecordRequest<'a> {
    pub(super) fn of(request: &'a CachedRequest) -> Self {
        Self {
            method: Text(Cow::Borrowed(request.method.as_str())),
            url: Text(Cow::Borrowed(&request.url)),
            headers: Headers::Map(&request.headers),
            body: Blob::from(&request.body),
            redacted: request.redacted,
        }
    }
}

/// The name a record gives an HTTP version (what `Version`'s `Debug` writes).
fn version_name(version: Version) -> Cow<'static, str> {
    Cow::Borrowed(match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        other => return Cow::Owned(format!("{other:?}")),
    })
}

fn parse_version(s: &str) -> Option<Version> {
    Some(match s {
        "HTTP/0.9" => Version::HTTP_09,
        "HTTP/1.0" => Version::HTTP_10,
        "HTTP/1.1" => Version::HTTP_11,
        "HTTP/2.0" => Version::HTTP_2,
        "HTTP/3.0" => Version::HTTP_3,
        _ => return None,
    })
}

/// `part` as a slice of `source` when it lies inside it, else a copy.
fn shared(source: &Bytes, part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(source.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if !part.is_empty() && end <= source.len() => source.slice(start..end),
        _ => Bytes::copy_from_slice(part),
    }
}

/// Text: borrowed from the value where the format allows it.
pub(super) struct Text<'a>(pub(super) Cow<'a, str>);

impl Serialize for Text<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Header fields in order, repeats kept: a map's, when written, or the
/// pairs read.
pub(super) enum Headers<'a> {
    Map(&'a HeaderMap),
    Pairs(Vec<(Text<'a>, Blob<'a>)>),
}

impl Headers<'_> {
    fn into_map(self, source: &Bytes) -> Result<HeaderMap, StorageError> {
        let pairs = match self {
            Self::Map(map) => return Ok(map.clone()),
            Self::Pairs(pairs) => pairs,
        };
        let mut headers = HeaderMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            let name = HeaderName::from_bytes(name.0.as_bytes()).map_err(|e| {
                StorageError::with_source(StorageErrorKind::Decode, "invalid header name", e)
            })?;
            let value = HeaderValue::from_maybe_shared(value.into_bytes(source)).map_err(|e| {
                StorageError::with_source(StorageErrorKind::Decode, "invalid header value", e)
            })?;
            headers.append(name, value);
        }
        Ok(headers)
    }
}

impl Serialize for Headers<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Map(map) => serializer.collect_seq(
                map.iter()
                    .map(|(name, value)| (name.as_str(), Blob(Cow::Borrowed(value.as_bytes())))),
            ),
            Self::Pairs(pairs) => serializer.collect_seq(pairs),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Headers<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::deserialize(deserializer).map(Self::Pairs)
    }
}

/// Bytes that serialize as raw bytes in binary formats, and in readable ones
/// as `{"text": ".."}` when they are UTF-8 or `{"base64": ".."}` otherwise;
/// borrowed from the value where the format allows it.
pub(super) struct Blob<'a>(pub(super) Cow<'a, [u8]>);

impl<'a> From<&'a Bytes> for Blob<'a> {
    fn from(bytes: &'a Bytes) -> Self {
        Self(Cow::Borrowed(bytes))
    }
}

impl Blob<'_> {
    fn into_bytes(self, source: &Bytes) -> Bytes {
        match self.0 {
            Cow::Borrowed(part) => shared(source, part),
            Cow::Owned(bytes) => Bytes::from(bytes),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum ReadableBlobOut<'a> {
    Text(&'a str),
    Base64(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ReadableBlob {
    Text(String),
    Base64(String),
}

impl Serialize for Blob<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            match std::str::from_utf8(&self.0) {
                Ok(text) => ReadableBlobOut::Text(text),
                Err(_) => ReadableBlobOut::Base64(BASE64.encode(&self.0)),
            }
            .serialize(serializer)
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Blob<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            match ReadableBlob::deserialize(deserializer)? {
                ReadableBlob::Text(text) => Ok(Blob(Cow::Owned(text.into_bytes()))),
                ReadableBlob::Base64(encoded) => BASE64
                    .decode(encoded)
                    .map(|bytes| Blob(Cow::Owned(bytes)))
                    .map_err(de::Error::custom),
            }
        } else {
            deserializer.deserialize_byte_buf(BlobVisitor)
        }
    }
}

struct BlobVisitor;

impl<'de> Visitor<'de> for BlobVisitor {
    type Value = Blob<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Blob<'de>, E> {
        Ok(Blob(Cow::Borrowed(v)))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Blob<'de>, E> {
        Ok(Blob(Cow::Owned(v.to_vec())))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Blob<'de>, E> {
        Ok(Blob(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Blob<'de>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(byte) = seq.next_element::<u8>()? {
            out.push(byte);
        }
        Ok(Blob(Cow::Owned(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_inside_the_source_are_slices_and_others_copies() {
        let source = Bytes::from_static(b"0123456789");
        let inside = shared(&source, &source[2..5]);
        assert_eq!(inside, "234");
        assert_eq!(inside.as_ptr(), source[2..].as_ptr(), "no copy");
        let elsewhere = [b'2', b'3'];
        let copied = shared(&source, &elsewhere);
        assert_eq!(copied, "23");
        assert_ne!(copied.as_ptr(), elsewhere.as_ptr());
        assert!(shared(&source, &[]).is_empty());
        assert!(shared(&Bytes::new(), b"x") == "x");
    }

    #[test]
    fn every_version_has_the_name_records_have_always_used() {
        for version in [
            Version::HTTP_09,
            Version::HTTP_10,
            Version::HTTP_11,
            Version::HTTP_2,
            Version::HTTP_3,
        ] {
            let name = version_name(version);
            assert_eq!(name, format!("{version:?}"));
            assert_eq!(parse_version(&name), Some(version));
        }
    }
}
