//! Encoding of stored values for byte-oriented backends: MessagePack (the
//! default) and JSON, both carrying a format version.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use serde::{Deserialize, Deserializer, Serialize};

use super::entry::{CachedRequest, CachedResponse};
use super::error::{StorageError, StorageErrorKind};
use super::record::{Alias, StoredRecord, VaryIndex};

/// The version of the stored record layout. A record of any other version is
/// a miss: it is never decoded by guesswork.
pub const FORMAT_VERSION: u8 = 1;

/// The first bytes of every MessagePack record.
const MSGPACK_MAGIC: &[u8; 3] = b"RQC";
/// Codec byte that follows the magic and the version.
const MSGPACK_CODEC: u8 = 1;

/// How byte-oriented storages encode entries.
///
/// Decoding recognizes every format, so switching serializers keeps the
/// entries already stored readable.
///
/// # Example
/// ```
/// use std::time::UNIX_EPOCH;
/// use reqcache::storage::{CachedRequest, CachedResponse, Serializer};
///
/// let entry = CachedResponse::new(
///     http::StatusCode::OK,
///     http::HeaderMap::new(),
///     bytes::Bytes::from_static(b"{\"id\": 1}"),
///     CachedRequest::new(http::Method::GET, "https://example.com/"),
///     UNIX_EPOCH,
/// );
/// let bytes = Serializer::Json.encode(&entry)?;
/// assert!(std::str::from_utf8(&bytes).unwrap().contains("\"reqcache_format\""));
/// assert_eq!(Serializer::decode(&bytes)?, entry);
/// # Ok::<(), reqcache::StorageError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Serializer {
    /// Compact binary MessagePack (rmp-serde), prefixed with `RQC` and the
    /// format version.
    #[default]
    MessagePack,
    /// Readable JSON: text bodies as text, binary ones as base64.
    Json,
    /// Readable YAML, with text and binary bodies as in JSON (feature `yaml`).
    #[cfg(feature = "yaml")]
    Yaml,
    /// BSON, prefixed with `RQB` and the format version (feature `bson`).
    #[cfg(feature = "bson")]
    Bson,
}

/// The first bytes of every BSON record.
#[cfg(feature = "bson")]
const BSON_MAGIC: &[u8; 3] = b"RQB";

/// The first bytes of every YAML record: its first field.
#[cfg(feature = "yaml")]
const YAML_START: &[u8] = b"reqcache_format:";

impl Serializer {
    /// The serializer's name: `msgpack` or `json`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::MessagePack => "msgpack",
            Self::Json => "json",
            #[cfg(feature = "yaml")]
            Self::Yaml => "yaml",
            #[cfg(feature = "bson")]
            Self::Bson => "bson",
        }
    }

    /// The file extension for files of this format (filesystem storage).
    pub fn extension(&self) -> &'static str {
        match self {
            Self::MessagePack => "msgpack",
            Self::Json => "json",
            #[cfg(feature = "yaml")]
            Self::Yaml => "yaml",
            #[cfg(feature = "bson")]
            Self::Bson => "bson",
        }
    }

    /// Every serializer this build has.
    pub fn all() -> &'static [Serializer] {
        &[
            Self::MessagePack,
            Self::Json,
            #[cfg(feature = "yaml")]
            Self::Yaml,
            #[cfg(feature = "bson")]
            Self::Bson,
        ]
    }

    /// Encodes a response.
    ///
    /// # Errors
    /// [`StorageErrorKind::Encode`] if the encoder fails (it does not for
    /// well-formed entries).
    pub fn encode(&self, entry: &CachedResponse) -> Result<Vec<u8>, StorageError> {
        self.encode_wire(&Wire::from_response(entry), entry.body.len())
    }

    /// Encodes a response in three parts whose concatenation is what
    /// [`encode`](Self::encode) writes, the body left as it is: for a store
    /// that writes a large body without first copying it into one value.
    /// `None` for a serializer that cannot (every one but MessagePack).
    ///
    /// # Errors
    /// As [`encode`](Self::encode).
    pub fn encode_parts(&self, entry: &CachedResponse) -> Result<Option<ValueParts>, StorageError> {
        if *self != Self::MessagePack {
            return Ok(None);
        }
        let wire = Wire::from_response(entry);
        let len = u32::try_from(entry.body.len())
            .map_err(|_| StorageError::new(StorageErrorKind::Encode, "body over 4 GiB"))?;
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(MSGPACK_MAGIC);
        head.push(FORMAT_VERSION);
        head.push(MSGPACK_CODEC);
        // The struct as rmp-serde writes it: an array of its fields, the
        // body a `bin` in the middle.
        rmp::encode::write_array_len(&mut head, WIRE_FIELDS).map_err(encode_error)?;
        write_field(&mut head, &wire.reqcache_format)?;
        write_field(&mut head, &wire.status)?;
        write_field(&mut head, &wire.version)?;
        write_field(&mut head, &wire.headers)?;
        rmp::encode::write_bin_len(&mut head, len).map_err(encode_error)?;
        let mut tail = Vec::with_capacity(256);
        write_field(&mut tail, &wire.request)?;
        write_field(&mut tail, &wire.created_at)?;
        write_field(&mut tail, &wire.expires)?;
        write_field(&mut tail, &wire.retain_until)?;
        write_field(&mut tail, &wire.alias_for)?;
        write_field(&mut tail, &wire.vary)?;
        Ok(Some(ValueParts {
            head,
            body: entry.body.clone(),
            tail,
        }))
    }

    /// Encodes a record of any kind.
    ///
    /// # Errors
    /// As [`encode`](Self::encode).
    pub fn encode_record(&self, record: &StoredRecord) -> Result<Vec<u8>, StorageError> {
        match record {
            StoredRecord::Response(entry) => self.encode(entry),
            other => self.encode_wire(&Wire::from_record(other), 0),
        }
    }

    fn encode_wire(&self, record: &Wire, body_len: usize) -> Result<Vec<u8>, StorageError> {
        match self {
            Self::MessagePack => {
                let mut out = Vec::with_capacity(body_len + 256);
                out.extend_from_slice(MSGPACK_MAGIC);
                out.push(FORMAT_VERSION);
                out.push(MSGPACK_CODEC);
                rmp_serde::encode::write(&mut out, record).map_err(encode_error)?;
                Ok(out)
            }
            Self::Json => serde_json::to_vec_pretty(record).map_err(encode_error),
            #[cfg(feature = "yaml")]
            Self::Yaml => serde_yaml_ng::to_string(record)
                .map(String::into_bytes)
                .map_err(encode_error),
            #[cfg(feature = "bson")]
            Self::Bson => {
                let mut out = BSON_MAGIC.to_vec();
                out.push(FORMAT_VERSION);
                out.extend(bson::serialize_to_vec(record).map_err(encode_error)?);
                Ok(out)
            }
        }
    }

    /// Decodes a response written by any serializer of this format version.
    ///
    /// # Errors
    /// As [`decode_record`](Self::decode_record), and
    /// [`StorageErrorKind::Decode`] for a record that is not a response.
    pub fn decode(bytes: &[u8]) -> Result<CachedResponse, StorageError> {
        match Self::decode_wire(bytes)?.into_record()? {
            StoredRecord::Response(entry) => {
                Ok(Arc::try_unwrap(entry).unwrap_or_else(|shared| (*shared).clone()))
            }
            other => Err(StorageError::new(
                StorageErrorKind::Decode,
                format!("a record of kind {}, not a response", other.kind()),
            )),
        }
    }

    /// Decodes a record of any kind written by any serializer of this
    /// format version.
    ///
    /// # Errors
    /// [`StorageErrorKind::Decode`] for garbage, foreign bytes, or another
    /// format version. Never panics.
    pub fn decode_record(bytes: &[u8]) -> Result<StoredRecord, StorageError> {
        Self::decode_wire(bytes)?.into_record()
    }

    fn decode_wire(bytes: &[u8]) -> Result<Wire, StorageError> {
        let record: Wire = if let Some(rest) = bytes.strip_prefix(MSGPACK_MAGIC) {
            match rest {
                [FORMAT_VERSION, MSGPACK_CODEC, payload @ ..] => {
                    rmp_serde::from_slice(payload).map_err(decode_error)?
                }
                [version, ..] => {
                    return Err(StorageError::new(
                        StorageErrorKind::Decode,
                        format!("record format version {version}, expected {FORMAT_VERSION}"),
                    ));
                }
                [] => {
                    return Err(StorageError::new(
                        StorageErrorKind::Decode,
                        "truncated record",
                    ));
                }
            }
        } else if bytes.trim_ascii_start().first() == Some(&b'{') {
            check_version(serde_json::from_slice(bytes).map_err(decode_error)?)?
        } else if let Some(record) = Self::decode_optional_formats(bytes) {
            check_version(record?)?
        } else {
            return Err(StorageError::new(
                StorageErrorKind::Decode,
                "not a reqcache record",
            ));
        };
        Ok(record)
    }
}

impl Serializer {
    /// Records of the formats behind cargo features, when `bytes` is one.
    #[allow(unused_variables)]
    fn decode_optional_formats(bytes: &[u8]) -> Option<Result<Wire, StorageError>> {
        #[cfg(feature = "bson")]
        if let Some(rest) = bytes.strip_prefix(BSON_MAGIC) {
            return Some(match rest {
                [FORMAT_VERSION, payload @ ..] => {
                    bson::deserialize_from_slice(payload).map_err(decode_error)
                }
                _ => Err(StorageError::new(
                    StorageErrorKind::Decode,
                    "BSON record of another format version",
                )),
            });
        }
        #[cfg(feature = "yaml")]
        if bytes.starts_with(YAML_START) {
            return Some(serde_yaml_ng::from_slice(bytes).map_err(decode_error));
        }
        None
    }
}

fn check_version(record: Wire) -> Result<Wire, StorageError> {
    if record.reqcache_format == FORMAT_VERSION {
        Ok(record)
    } else {
        Err(StorageError::new(
            StorageErrorKind::Decode,
            format!(
                "record format version {}, expected {FORMAT_VERSION}",
                record.reqcache_format
            ),
        ))
    }
}

impl std::str::FromStr for Serializer {
    type Err = StorageError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "msgpack" | "messagepack" => Ok(Self::MessagePack),
            "json" => Ok(Self::Json),
            #[cfg(feature = "yaml")]
            "yaml" | "yml" => Ok(Self::Yaml),
            #[cfg(feature = "bson")]
            "bson" => Ok(Self::Bson),
            other => Err(StorageError::new(
                StorageErrorKind::Config,
                format!("unknown serializer {other:?} (or its cargo feature is off)"),
            )),
        }
    }
}

fn encode_error(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageError::with_source(StorageErrorKind::Encode, "could not encode entry", e)
}

fn decode_error(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageError::with_source(StorageErrorKind::Decode, "could not decode entry", e)
}

/// How many fields [`Wire`] has (what `encode_parts` writes by hand).
const WIRE_FIELDS: u32 = 11;

/// One field of [`Wire`], written as rmp-serde writes it inside the struct.
fn write_field<T: Serialize>(out: &mut Vec<u8>, value: &T) -> Result<(), StorageError> {
    rmp_serde::encode::write(out, value).map_err(encode_error)
}

/// An encoded value in three parts, `head`, `body` and `tail`: the value is
/// their concatenation. [`Codec::encode_parts`](super::Codec::encode_parts)
/// makes them, so that a store can write a large response body where it
/// goes without a whole-value copy of it.
///
/// ```
/// use reqcache::storage::{CachedRequest, CachedResponse, Codec, Serializer};
///
/// let entry = CachedResponse::new(
///     http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::from_static(b"body"),
///     CachedRequest::new(http::Method::GET, "https://example.com/"), std::time::UNIX_EPOCH);
/// let codec = Codec::new(Serializer::MessagePack);
/// let parts = codec.encode_parts(&entry).unwrap().expect("MessagePack has parts");
/// assert_eq!(parts.to_vec(), codec.encode(&entry).unwrap());
/// assert_eq!(parts.len(), parts.to_vec().len());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValueParts {
    /// What comes before the body.
    pub head: Vec<u8>,
    /// The body, shared with the entry it came from.
    pub body: Bytes,
    /// What comes after the body.
    pub tail: Vec<u8>,
}

impl ValueParts {
    /// The value's length.
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len() + self.tail.len()
    }

    /// `true` for an empty value (never, for an encoded record).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parts in order.
    pub fn parts(&self) -> [&[u8]; 3] {
        [&self.head, &self.body, &self.tail]
    }

    /// The value in one piece (a copy of the body).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut value = Vec::with_capacity(self.len());
        self.parts()
            .into_iter()
            .for_each(|part| value.extend_from_slice(part));
        value
    }
}

/// The serialized layout of every record kind. Field order matters for
/// MessagePack (arrays): fields are only ever added at the end, with a
/// default, so records written before them still decode.
#[derive(Serialize, Deserialize)]
struct Wire {
    reqcache_format: u8,
    status: u16,
    version: String,
    headers: Vec<(String, Blob)>,
    body: Blob,
    request: RecordRequest,
    created_at: SystemTime,
    expires: Option<SystemTime>,
    retain_until: Option<SystemTime>,
    /// An alias's target key.
    alias_for: Option<String>,
    /// A vary index's names (or an alias's target's); `None` on a response.
    #[serde(default)]
    vary: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct RecordRequest {
    method: String,
    url: String,
    headers: Vec<(String, Blob)>,
    body: Blob,
    redacted: bool,
}

impl Wire {
    fn from_response(entry: &CachedResponse) -> Self {
        Self {
            reqcache_format: FORMAT_VERSION,
            status: entry.status.as_u16(),
            version: format!("{:?}", entry.version),
            headers: headers_to_record(&entry.headers),
            body: Blob(entry.body.clone()),
            request: RecordRequest::of(&entry.request),
            // Serde writes no time before the Unix epoch: such times (a
            // clock set back, dates from 1969) are clamped to it, so that
            // every record encodes.
            created_at: entry.created_at.max(UNIX_EPOCH),
            expires: entry.expires.map(|t| t.max(UNIX_EPOCH)),
            retain_until: entry.retain_until.map(|t| t.max(UNIX_EPOCH)),
            alias_for: None,
            vary: None,
        }
    }

    /// An alias or a vary index: no headers, no body.
    fn from_record(record: &StoredRecord) -> Self {
        let names = |vary: &[HeaderName]| vary.iter().map(|n| n.as_str().to_owned()).collect();
        let (alias_for, vary) = match record {
            StoredRecord::Alias(alias) => (Some(alias.target.clone()), Some(names(&alias.vary))),
            StoredRecord::VaryIndex(index) => (None, Some(names(&index.vary))),
            StoredRecord::Response(entry) => return Self::from_response(entry),
        };
        let info = record.info("");
        Self {
            reqcache_format: FORMAT_VERSION,
            status: info.status.as_u16(),
            version: "HTTP/1.1".to_owned(),
            headers: Vec::new(),
            body: Blob(Bytes::new()),
            request: RecordRequest::of(record.request()),
            created_at: info.created_at.max(UNIX_EPOCH),
            expires: info.expires.map(|t| t.max(UNIX_EPOCH)),
            retain_until: info.retain_until.map(|t| t.max(UNIX_EPOCH)),
            alias_for,
            vary,
        }
    }

    fn into_record(self) -> Result<StoredRecord, StorageError> {
        let invalid = |what: &str| StorageError::new(StorageErrorKind::Decode, what.to_owned());
        let status = StatusCode::from_u16(self.status).map_err(|_| invalid("invalid status"))?;
        let request = CachedRequest {
            method: Method::from_bytes(self.request.method.as_bytes())
                .map_err(|_| invalid("invalid method"))?,
            url: self.request.url,
            headers: headers_from_record(self.request.headers)?,
            body: self.request.body.0,
            redacted: self.request.redacted,
        };
        let vary = self
            .vary
            .map(|names| {
                names
                    .iter()
                    .map(|name| HeaderName::from_bytes(name.as_bytes()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| invalid("invalid vary name"))
            })
            .transpose()?;
        Ok(match (self.alias_for, vary) {
            (Some(target), vary) => StoredRecord::Alias(Arc::new(Alias {
                request,
                target,
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
                version: parse_version(&self.version).ok_or_else(|| invalid("invalid version"))?,
                headers: headers_from_record(self.headers)?,
                body: self.body.0,
                request,
                created_at: self.created_at,
                expires: self.expires,
                retain_until: self.retain_until,
            })),
        })
    }
}

impl RecordRequest {
    fn of(request: &CachedRequest) -> Self {
        Self {
            method: request.method.as_str().to_owned(),
            url: request.url.clone(),
            headers: headers_to_record(&request.headers),
            body: Blob(request.body.clone()),
            redacted: request.redacted,
        }
    }
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

fn headers_to_record(headers: &HeaderMap) -> Vec<(String, Blob)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                Blob(Bytes::copy_from_slice(value.as_bytes())),
            )
        })
        .collect()
}

fn headers_from_record(pairs: Vec<(String, Blob)>) -> Result<HeaderMap, StorageError> {
    let mut headers = HeaderMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
            StorageError::with_source(StorageErrorKind::Decode, "invalid header name", e)
        })?;
        let value = HeaderValue::from_maybe_shared(value.0).map_err(|e| {
            StorageError::with_source(StorageErrorKind::Decode, "invalid header value", e)
        })?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Bytes that serialize as raw bytes in binary formats, and in readable ones
/// as `{"text": ".."}` when they are UTF-8 or `{"base64": ".."}` otherwise.
struct Blob(Bytes);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ReadableBlob {
    Text(String),
    Base64(String),
}

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            match std::str::from_utf8(&self.0) {
                Ok(text) => ReadableBlob::Text(text.to_owned()),
                Err(_) => ReadableBlob::Base64(BASE64.encode(&self.0)),
            }
            .serialize(serializer)
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            match ReadableBlob::deserialize(deserializer)? {
                ReadableBlob::Text(text) => Ok(Blob(Bytes::from(text))),
                ReadableBlob::Base64(encoded) => BASE64
                    .decode(encoded)
                    .map(|bytes| Blob(Bytes::from(bytes)))
                    .map_err(serde::de::Error::custom),
            }
        } else {
            deserializer.deserialize_byte_buf(BlobVisitor)
        }
    }
}

struct BlobVisitor;

impl<'de> serde::de::Visitor<'de> for BlobVisitor {
    type Value = Blob;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Blob, E> {
        Ok(Blob(Bytes::copy_from_slice(v)))
    }

    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Blob, E> {
        Ok(Blob(Bytes::from(v)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Blob, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(byte) = seq.next_element::<u8>()? {
            out.push(byte);
        }
        Ok(Blob(Bytes::from(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn sample() -> CachedResponse {
        let mut headers = HeaderMap::new();
        headers.append("x-b", HeaderValue::from_static("1"));
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.append("x-raw", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let mut request = CachedRequest::new(Method::POST, "https://example.com/p?a=1");
        request.body = Bytes::from_static(b"{\"q\":1}");
        CachedResponse {
            status: StatusCode::IM_A_TEAPOT,
            version: Version::HTTP_2,
            headers,
            body: Bytes::from_static(&[0, 159, 146, 150, 255]),
            request,
            created_at: UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            expires: Some(UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            retain_until: None,
        }
    }

    #[test]
    fn both_formats_round_trip_binary_bodies_and_odd_headers() {
        for &serializer in Serializer::all() {
            let entry = sample();
            let bytes = serializer.encode(&entry).unwrap();
            let back = Serializer::decode(&bytes).unwrap();
            assert_eq!(back, entry, "{serializer:?}");
            let order: Vec<_> = back
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
            let expected: Vec<_> = entry
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
            assert_eq!(order, expected);
        }
    }

    #[test]
    fn parts_concatenate_to_the_whole_encoding() {
        for entry in [sample(), {
            let mut large = sample();
            large.body = Bytes::from(vec![7u8; 70_000]);
            large
        }] {
            let parts = Serializer::MessagePack
                .encode_parts(&entry)
                .unwrap()
                .unwrap();
            assert_eq!(
                parts.to_vec(),
                Serializer::MessagePack.encode(&entry).unwrap()
            );
            assert_eq!(parts.body, entry.body);
        }
        assert!(Serializer::Json.encode_parts(&sample()).unwrap().is_none());
    }

    #[test]
    fn json_is_readable() {
        let text = String::from_utf8(Serializer::Json.encode(&sample()).unwrap()).unwrap();
        assert!(text.contains("\"text\": \"{\\\"q\\\":1}\""), "{text}");
        assert!(text.contains("\"base64\""), "{text}");
    }

    #[test]
    fn garbage_and_other_versions_are_decode_errors() {
        let mut other_version = Serializer::MessagePack.encode(&sample()).unwrap();
        other_version[3] = FORMAT_VERSION + 1;
        let json_other = String::from_utf8(Serializer::Json.encode(&sample()).unwrap())
            .unwrap()
            .replace("\"reqcache_format\": 1", "\"reqcache_format\": 99");
        let truncated = Serializer::MessagePack.encode(&sample()).unwrap()[..20].to_vec();
        for bytes in [
            b"".to_vec(),
            b"RQC".to_vec(),
            b"\x80\x04pickle".to_vec(),
            b"{not json".to_vec(),
            other_version,
            json_other.into_bytes(),
            truncated,
        ] {
            let err = Serializer::decode(&bytes).unwrap_err();
            assert_eq!(err.kind(), StorageErrorKind::Decode, "{bytes:?}");
        }
    }

    #[test]
    fn aliases_and_vary_indexes_round_trip_in_every_format_and_are_not_responses() {
        let of = sample();
        let records = [
            StoredRecord::from(Alias::new(
                "target",
                CachedRequest::new(Method::GET, "https://example.com/old"),
                vec![http::header::ACCEPT_ENCODING],
                &of,
            )),
            StoredRecord::from(VaryIndex::new(
                vec![http::header::ACCEPT_LANGUAGE, http::header::ACCEPT],
                &of,
            )),
            StoredRecord::from(of.clone()),
        ];
        for &serializer in Serializer::all() {
            for record in &records {
                let bytes = serializer.encode_record(record).unwrap();
                assert_eq!(
                    &Serializer::decode_record(&bytes).unwrap(),
                    record,
                    "{serializer:?}"
                );
                let as_response = Serializer::decode(&bytes);
                assert_eq!(as_response.is_ok(), record.kind().is_response());
            }
        }
    }

    /// A record written before records had kinds (no `vary` field at the
    /// end of the MessagePack array) still decodes, as what it was.
    #[test]
    fn records_written_before_kinds_still_decode() {
        #[derive(Serialize)]
        struct Before {
            reqcache_format: u8,
            status: u16,
            version: String,
            headers: Vec<(String, Blob)>,
            body: Blob,
            request: RecordRequest,
            created_at: SystemTime,
            expires: Option<SystemTime>,
            retain_until: Option<SystemTime>,
            alias_for: Option<String>,
        }
        let of = sample();
        for alias_for in [None, Some("target".to_owned())] {
            let mut bytes = MSGPACK_MAGIC.to_vec();
            bytes.extend([FORMAT_VERSION, MSGPACK_CODEC]);
            let before = Before {
                reqcache_format: FORMAT_VERSION,
                status: 200,
                version: "HTTP/1.1".into(),
                headers: Vec::new(),
                body: Blob(of.body.clone()),
                request: RecordRequest::of(&of.request),
                created_at: of.created_at,
                expires: of.expires,
                retain_until: None,
                alias_for: alias_for.clone(),
            };
            rmp_serde::encode::write(&mut bytes, &before).unwrap();
            let record = Serializer::decode_record(&bytes).unwrap();
            match (record, alias_for) {
                (StoredRecord::Alias(alias), Some(target)) => {
                    assert_eq!(alias.target, target);
                    assert!(alias.vary.is_empty());
                }
                (StoredRecord::Response(response), None) => assert_eq!(response.body, of.body),
                (other, _) => panic!("decoded as {:?}", other.kind()),
            }
        }
    }

    #[test]
    fn serializer_names_parse() {
        assert_eq!("JSON".parse::<Serializer>().unwrap(), Serializer::Json);
        assert!("pickle".parse::<Serializer>().is_err());
    }
}
