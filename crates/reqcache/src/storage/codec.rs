//! [`Codec`]: how byte-oriented storages turn entries into bytes — a
//! [`Serializer`], optionally zstd compression, optionally an HMAC signature.
//!
//! The layers, outermost first:
//!
//! | layer | bytes |
//! |---|---|
//! | signed (feature `signing`) | `RQS`, format version, HMAC-SHA256 (32 bytes) of the rest, the rest |
//! | compressed (feature `compression`) | `RQZ`, format version, a zstd frame |
//! | record | a [`Serializer`]'s bytes |
//!
//! Decoding peels what is there, so turning compression on or off keeps every
//! stored entry readable. With a signing key configured, an entry that is not
//! signed, or whose signature does not verify with the key or one of the old
//! keys, does not decode (a miss; the storage deletes it and logs it). The
//! signature is checked before anything is decompressed or parsed.

use std::fmt;

use super::entry::CachedResponse;
use super::error::{StorageError, StorageErrorKind};
use super::record::StoredRecord;
use super::serializer::{FORMAT_VERSION, Serializer, ValueParts};

#[cfg(feature = "signing")]
const SIGNED_MAGIC: &[u8; 3] = b"RQS";
#[cfg(feature = "signing")]
const SIGNATURE_LEN: usize = 32;
const COMPRESSED_MAGIC: &[u8; 3] = b"RQZ";

/// The largest value decompression will produce: a guard against
/// decompression bombs.
pub const MAX_DECOMPRESSED_SIZE: usize = 1 << 30;

/// How a storage encodes entries.
///
/// # Example
/// ```
/// use std::time::UNIX_EPOCH;
/// use reqcache::storage::{CachedRequest, CachedResponse, Codec, Serializer};
///
/// let codec = Codec::new(Serializer::Json);
/// let entry = CachedResponse::new(
///     http::StatusCode::OK,
///     http::HeaderMap::new(),
///     bytes::Bytes::from_static(b"hello"),
///     CachedRequest::new(http::Method::GET, "https://example.com/"),
///     UNIX_EPOCH,
/// );
/// assert_eq!(codec.decode(&codec.encode(&entry)?)?, entry);
/// # Ok::<(), reqcache::StorageError>(())
/// ```
#[derive(Clone, Default)]
pub struct Codec {
    serializer: Serializer,
    #[cfg(feature = "compression")]
    compression: Option<Compression>,
    #[cfg(feature = "signing")]
    keys: Option<std::sync::Arc<SigningKeys>>,
}

/// The default codec, for byte stores that name none.
static PLAIN: Codec = Codec::new(Serializer::MessagePack);

impl Codec {
    /// Plain records of `serializer`.
    pub const fn new(serializer: Serializer) -> Self {
        Self {
            serializer,
            #[cfg(feature = "compression")]
            compression: None,
            #[cfg(feature = "signing")]
            keys: None,
        }
    }

    /// The default codec (plain MessagePack), shared.
    pub(crate) fn plain() -> &'static Self {
        &PLAIN
    }

    /// The serializer.
    pub fn serializer(&self) -> Serializer {
        self.serializer
    }

    /// Compress values of at least `compression.min_size` bytes with zstd
    /// (feature `compression`).
    #[cfg(feature = "compression")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
    #[must_use]
    pub fn compressed(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// Sign every value with HMAC-SHA256 under `key`, and accept only values
    /// signed with it or with one of `old_keys` (key rotation). Feature
    /// `signing`.
    ///
    /// ```
    /// # use reqcache::storage::{Codec, Serializer};
    /// let codec = Codec::new(Serializer::MessagePack)
    ///     .signed(b"current secret".to_vec(), [b"last year's secret".to_vec()]);
    /// # let _ = codec;
    /// ```
    #[cfg(feature = "signing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "signing")))]
    #[must_use]
    pub fn signed(mut self, key: Vec<u8>, old_keys: impl IntoIterator<Item = Vec<u8>>) -> Self {
        self.keys = Some(std::sync::Arc::new(SigningKeys {
            current: key,
            old: old_keys.into_iter().collect(),
        }));
        self
    }

    /// Encodes a response.
    ///
    /// # Errors
    /// [`StorageErrorKind::Encode`] if the serializer or the compressor fails.
    pub fn encode(&self, entry: &CachedResponse) -> Result<Vec<u8>, StorageError> {
        self.framed(self.serializer.encode(entry)?)
    }

    /// Encodes a response in parts (see [`ValueParts`]) whose concatenation
    /// is what [`encode`](Self::encode) writes, signed when keys are
    /// configured; `None` when the value must be made whole (a serializer
    /// other than MessagePack, or compression that applies to it).
    ///
    /// # Errors
    /// As [`encode`](Self::encode).
    pub fn encode_parts(&self, entry: &CachedResponse) -> Result<Option<ValueParts>, StorageError> {
        #[allow(unused_mut)]
        let Some(mut parts) = self.serializer.encode_parts(entry)? else {
            return Ok(None);
        };
        #[cfg(feature = "compression")]
        if self
            .compression
            .is_some_and(|compression| parts.len() >= compression.min_size)
        {
            return Ok(None);
        }
        #[cfg(feature = "signing")]
        if let Some(keys) = &self.keys {
            let signature = sign_parts(&keys.current, parts.parts());
            let mut head = Vec::with_capacity(parts.head.len() + 4 + SIGNATURE_LEN);
            head.extend_from_slice(SIGNED_MAGIC);
            head.push(FORMAT_VERSION);
            head.extend_from_slice(&signature);
            head.extend_from_slice(&parts.head);
            parts.head = head;
        }
        Ok(Some(parts))
    }

    /// Encodes a record of any kind.
    ///
    /// # Errors
    /// As [`encode`](Self::encode).
    pub fn encode_record(&self, record: &StoredRecord) -> Result<Vec<u8>, StorageError> {
        self.framed(self.serializer.encode_record(record)?)
    }

    /// The serialized `bytes`, compressed and signed as configured.
    #[allow(unused_mut)]
    fn framed(&self, mut bytes: Vec<u8>) -> Result<Vec<u8>, StorageError> {
        #[cfg(feature = "compression")]
        if let Some(compression) = self.compression
            && bytes.len() >= compression.min_size
        {
            let mut out = COMPRESSED_MAGIC.to_vec();
            out.push(FORMAT_VERSION);
            out.extend(
                zstd::bulk::compress(&bytes, compression.level).map_err(|e| {
                    StorageError::with_source(StorageErrorKind::Encode, "compression failed", e)
                })?,
            );
            bytes = out;
        }
        #[cfg(feature = "signing")]
        if let Some(keys) = &self.keys {
            let signature = sign(&keys.current, &bytes);
            let mut out = Vec::with_capacity(bytes.len() + 4 + SIGNATURE_LEN);
            out.extend_from_slice(SIGNED_MAGIC);
            out.push(FORMAT_VERSION);
            out.extend_from_slice(&signature);
            out.extend(bytes);
            bytes = out;
        }
        Ok(bytes)
    }

    /// Decodes bytes: verifies the signature when keys are configured,
    /// decompresses when compressed, then reads any serializer's record.
    ///
    /// # Errors
    /// [`StorageErrorKind::Decode`] for garbage, another format version, an
    /// unsigned or badly signed value (with keys configured), a signed value
    /// (without keys), or a value that decompresses past
    /// [`MAX_DECOMPRESSED_SIZE`]. Never panics.
    pub fn decode(&self, bytes: &[u8]) -> Result<CachedResponse, StorageError> {
        self.unframed(bytes, Serializer::decode)
    }

    /// Decodes a record of any kind, as [`decode`](Self::decode) does.
    ///
    /// # Errors
    /// As [`decode`](Self::decode), except that aliases and vary indexes
    /// decode.
    pub fn decode_record(&self, bytes: &[u8]) -> Result<StoredRecord, StorageError> {
        self.unframed(bytes, Serializer::decode_record)
    }

    fn unframed<T>(
        &self,
        bytes: &[u8],
        decode: impl FnOnce(&[u8]) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let bytes = self.verified(bytes)?;
        if let Some(rest) = bytes.strip_prefix(COMPRESSED_MAGIC) {
            let [FORMAT_VERSION, frame @ ..] = rest else {
                return Err(decode_error("compressed value of another format version"));
            };
            return decode(&decompress(frame)?);
        }
        decode(bytes)
    }

    #[cfg(feature = "signing")]
    fn verified<'b>(&self, bytes: &'b [u8]) -> Result<&'b [u8], StorageError> {
        let signed = bytes
            .strip_prefix(SIGNED_MAGIC)
            .and_then(|rest| rest.strip_prefix(&[FORMAT_VERSION]))
            .filter(|rest| rest.len() >= SIGNATURE_LEN)
            .map(|rest| rest.split_at(SIGNATURE_LEN));
        match (&self.keys, signed) {
            (Some(keys), Some((signature, payload))) => {
                if std::iter::once(&keys.current)
                    .chain(&keys.old)
                    .any(|key| verify(key, payload, signature))
                {
                    Ok(payload)
                } else {
                    Err(decode_error(
                        "signature does not verify: tampered, or another key",
                    ))
                }
            }
            (Some(_), None) => Err(decode_error("unsigned value where signatures are required")),
            (None, Some(_)) => Err(decode_error("signed value, and no signing key configured")),
            (None, None) => Ok(bytes),
        }
    }

    #[cfg(not(feature = "signing"))]
    fn verified<'b>(&self, bytes: &'b [u8]) -> Result<&'b [u8], StorageError> {
        if bytes.starts_with(b"RQS") {
            return Err(decode_error(
                "signed value: this build has no `signing` feature",
            ));
        }
        Ok(bytes)
    }
}

impl From<Serializer> for Codec {
    fn from(serializer: Serializer) -> Self {
        Self::new(serializer)
    }
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Codec");
        debug.field("serializer", &self.serializer);
        #[cfg(feature = "compression")]
        debug.field("compression", &self.compression);
        #[cfg(feature = "signing")]
        debug.field("signed", &self.keys.is_some());
        debug.finish()
    }
}

/// zstd compression settings (feature `compression`).
///
/// ```
/// let compression = reqcache::storage::Compression { level: 3, min_size: 1024 };
/// # let _ = compression;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// zstd level (1-22; 3 is zstd's default).
    pub level: i32,
    /// Values smaller than this are stored uncompressed.
    pub min_size: usize,
}

impl Default for Compression {
    fn default() -> Self {
        Self {
            level: 3,
            min_size: 1024,
        }
    }
}

#[cfg(feature = "signing")]
struct SigningKeys {
    current: Vec<u8>,
    old: Vec<Vec<u8>>,
}

#[cfg(feature = "signing")]
type HmacSha256 = hmac::Hmac<sha2::Sha256>;

#[cfg(feature = "signing")]
fn sign(key: &[u8], payload: &[u8]) -> [u8; SIGNATURE_LEN] {
    sign_parts(key, [payload])
}

/// The signature of the concatenation of `parts`, without making it.
#[cfg(feature = "signing")]
fn sign_parts<const N: usize>(key: &[u8], parts: [&[u8]; N]) -> [u8; SIGNATURE_LEN] {
    use hmac::{KeyInit, Mac};
    // HMAC accepts keys of any length.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    parts.into_iter().for_each(|part| mac.update(part));
    mac.finalize().into_bytes().into()
}

#[cfg(feature = "signing")]
fn verify(key: &[u8], payload: &[u8], signature: &[u8]) -> bool {
    use hmac::{KeyInit, Mac};
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return false;
    };
    mac.update(payload);
    // Constant-time comparison.
    mac.verify_slice(signature).is_ok()
}

#[cfg(feature = "compression")]
fn decompress(frame: &[u8]) -> Result<Vec<u8>, StorageError> {
    use std::io::Read;
    let decoder = zstd::stream::read::Decoder::new(frame)
        .map_err(|e| StorageError::with_source(StorageErrorKind::Decode, "bad zstd frame", e))?;
    let mut out = Vec::new();
    decoder
        .take(MAX_DECOMPRESSED_SIZE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| StorageError::with_source(StorageErrorKind::Decode, "bad zstd frame", e))?;
    if out.len() > MAX_DECOMPRESSED_SIZE {
        return Err(decode_error("value decompresses past the size limit"));
    }
    Ok(out)
}

#[cfg(not(feature = "compression"))]
fn decompress(_frame: &[u8]) -> Result<Vec<u8>, StorageError> {
    Err(decode_error(
        "compressed value: this build has no `compression` feature",
    ))
}

fn decode_error(message: &str) -> StorageError {
    StorageError::new(StorageErrorKind::Decode, message)
}

#[cfg(all(test, any(feature = "compression", feature = "signing")))]
mod tests {
    use super::*;
    use crate::storage::CachedRequest;
    use std::time::UNIX_EPOCH;

    fn entry(body: Vec<u8>) -> CachedResponse {
        CachedResponse::new(
            http::StatusCode::OK,
            http::HeaderMap::new(),
            bytes::Bytes::from(body),
            CachedRequest::new(http::Method::GET, "https://example.com/"),
            UNIX_EPOCH,
        )
    }

    #[cfg(feature = "compression")]
    #[test]
    fn compression_applies_above_the_threshold_and_either_way_decodes() {
        let on = Codec::new(Serializer::MessagePack).compressed(Compression {
            level: 3,
            min_size: 100,
        });
        let off = Codec::new(Serializer::MessagePack);
        let big = entry(vec![b'a'; 10_000]);
        let small = entry(b"tiny".to_vec());
        let big_bytes = on.encode(&big).unwrap();
        assert!(big_bytes.starts_with(COMPRESSED_MAGIC));
        assert!(big_bytes.len() < 1000);
        assert!(!on.encode(&small).unwrap().starts_with(COMPRESSED_MAGIC));
        // Switching compression off keeps compressed entries readable.
        assert_eq!(off.decode(&big_bytes).unwrap(), big);
        assert_eq!(on.decode(&off.encode(&big).unwrap()).unwrap(), big);
        let mut corrupt = big_bytes.clone();
        corrupt.truncate(20);
        assert_eq!(
            off.decode(&corrupt).unwrap_err().kind(),
            StorageErrorKind::Decode
        );
    }

    #[cfg(feature = "signing")]
    #[test]
    fn parts_are_the_whole_encoding_signed_or_not_and_compression_makes_it_whole() {
        let large = entry(vec![b'x'; 4096]);
        let plain = Codec::new(Serializer::MessagePack);
        let parts = plain.encode_parts(&large).unwrap().unwrap();
        assert_eq!(parts.to_vec(), plain.encode(&large).unwrap());
        #[cfg(feature = "signing")]
        {
            let signed = Codec::new(Serializer::MessagePack).signed(b"k".to_vec(), []);
            let parts = signed.encode_parts(&large).unwrap().unwrap();
            assert_eq!(parts.to_vec(), signed.encode(&large).unwrap());
            assert_eq!(signed.decode(&parts.to_vec()).unwrap(), large);
        }
        #[cfg(feature = "compression")]
        {
            let compressed = Codec::new(Serializer::MessagePack).compressed(Compression {
                level: 1,
                min_size: 100,
            });
            assert!(compressed.encode_parts(&large).unwrap().is_none());
        }
        assert!(
            Codec::new(Serializer::Json)
                .encode_parts(&large)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn tampered_unsigned_and_foreign_key_values_do_not_decode() {
        let codec = Codec::new(Serializer::Json).signed(b"k2".to_vec(), [b"k1".to_vec()]);
        let old = Codec::new(Serializer::Json).signed(b"k1".to_vec(), []);
        let stranger = Codec::new(Serializer::Json).signed(b"other".to_vec(), []);
        let plain = Codec::new(Serializer::Json);
        let e = entry(b"payload".to_vec());

        let signed = codec.encode(&e).unwrap();
        assert_eq!(codec.decode(&signed).unwrap(), e);
        assert_eq!(
            codec.decode(&old.encode(&e).unwrap()).unwrap(),
            e,
            "rotated keys still verify"
        );
        for bytes in [stranger.encode(&e).unwrap(), plain.encode(&e).unwrap(), {
            let mut t = signed.clone();
            let last = t.len() - 3;
            t[last] ^= 1;
            t
        }] {
            assert_eq!(
                codec.decode(&bytes).unwrap_err().kind(),
                StorageErrorKind::Decode
            );
        }
        assert!(plain.decode(&signed).is_err(), "a signed value needs a key");
    }
}
