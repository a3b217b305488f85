//! A reader of the MessagePack records reqcache writes, in place and without
//! serde: serde reads a record value by value through visitors, which cost
//! more than the rest of a SQLite hit's decoding (measured in BENCHMARKS.md).
//!
//! It reads exactly the layout [`Wire`] writes through rmp-serde (a struct
//! as an array of its fields, the newest field optional) and nothing else:
//! for anything it does not expect it returns `None`, and the caller decodes
//! the value through serde, which accepts what it accepts and reports what
//! is wrong. So this reader never makes a record serde would not.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::wire::{Blob, Headers, RecordRequest, Text, WIRE_FIELDS, Wire, WireBody};

/// The record in `bytes`, when it has exactly the layout reqcache writes
/// and nothing after it.
pub(super) fn read_wire(bytes: &[u8]) -> Option<Wire<'_>> {
    let mut r = Reader(bytes);
    let fields = r.array_len()?;
    // Records written before `vary` have one field less; a body in chunks
    // adds one, groups two.
    let (oldest, newest) = (WIRE_FIELDS as usize - 1, WIRE_FIELDS as usize + 2);
    if !(oldest..=newest).contains(&fields) {
        return None;
    }
    let wire = Wire {
        reqcache_format: u8::try_from(r.uint()?).ok()?,
        status: u16::try_from(r.uint()?).ok()?,
        version: r.text()?,
        headers: r.headers()?,
        body: r.blob()?,
        request: r.request()?,
        created_at: r.time()?,
        expires: r.optional(Reader::time)?,
        retain_until: r.optional(Reader::time)?,
        alias_for: r.optional(Reader::text)?,
        vary: if fields > oldest {
            r.optional(Reader::texts)?
        } else {
            None
        },
        stored_body: if fields > WIRE_FIELDS as usize {
            Some(r.optional(Reader::body)?)
        } else {
            None
        },
        groups: if fields > WIRE_FIELDS as usize + 1 {
            r.texts()?
        } else {
            Vec::new()
        },
    };
    r.0.is_empty().then_some(wire)
}

/// What is left to read.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.0.len() {
            return None;
        }
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(taken)
    }

    fn big_endian(&mut self, width: usize) -> Option<u64> {
        Some(
            self.take(width)?
                .iter()
                .fold(0, |n, &b| (n << 8) | u64::from(b)),
        )
    }

    /// A length written in `width` bytes.
    fn length(&mut self, width: usize) -> Option<usize> {
        usize::try_from(self.big_endian(width)?).ok()
    }

    fn array_len(&mut self) -> Option<usize> {
        match self.byte()? {
            m @ 0x90..=0x9f => Some(usize::from(m & 0x0f)),
            0xdc => self.length(2),
            0xdd => self.length(4),
            _ => None,
        }
    }

    fn uint(&mut self) -> Option<u64> {
        match self.byte()? {
            m @ 0x00..=0x7f => Some(u64::from(m)),
            0xcc => self.big_endian(1),
            0xcd => self.big_endian(2),
            0xce => self.big_endian(4),
            0xcf => self.big_endian(8),
            _ => None,
        }
    }

    fn text(&mut self) -> Option<Text<'a>> {
        let len = match self.byte()? {
            m @ 0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => self.length(1)?,
            0xda => self.length(2)?,
            0xdb => self.length(4)?,
            _ => return None,
        };
        let text = std::str::from_utf8(self.take(len)?).ok()?;
        Some(Text(Cow::Borrowed(text)))
    }

    fn texts(&mut self) -> Option<Vec<Text<'a>>> {
        let len = self.array_len()?;
        (0..len).map(|_| self.text()).collect()
    }

    /// A [`WireBody`]: `[id, len, chunk_size]`.
    fn body(&mut self) -> Option<WireBody<'a>> {
        if self.array_len()? != 3 {
            return None;
        }
        Some(WireBody {
            id: self.text()?,
            len: self.uint()?,
            chunk_size: u32::try_from(self.uint()?).ok()?,
        })
    }

    fn blob(&mut self) -> Option<Blob<'a>> {
        let len = match self.byte()? {
            0xc4 => self.length(1)?,
            0xc5 => self.length(2)?,
            0xc6 => self.length(4)?,
            _ => return None,
        };
        Some(Blob(Cow::Borrowed(self.take(len)?)))
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.byte()? {
            0xc2 => Some(false),
            0xc3 => Some(true),
            _ => None,
        }
    }

    /// `nil` as `None`, else what `read` reads.
    fn optional<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.0.first() == Some(&0xc0) {
            self.0 = &self.0[1..];
            return Some(None);
        }
        read(self).map(Some)
    }

    /// A `SystemTime` as serde writes it: `[seconds, nanoseconds]` since
    /// the epoch.
    fn time(&mut self) -> Option<SystemTime> {
        if self.array_len()? != 2 {
            return None;
        }
        let seconds = self.uint()?;
        let nanos = u32::try_from(self.uint()?)
            .ok()
            .filter(|&n| n < 1_000_000_000)?;
        UNIX_EPOCH.checked_add(Duration::new(seconds, nanos))
    }

    fn headers(&mut self) -> Option<Headers<'a>> {
        let len = self.array_len()?;
        let mut pairs = Vec::with_capacity(len.min(self.0.len()));
        for _ in 0..len {
            if self.array_len()? != 2 {
                return None;
            }
            pairs.push((self.text()?, self.blob()?));
        }
        Some(Headers::Pairs(pairs))
    }

    fn request(&mut self) -> Option<RecordRequest<'a>> {
        if self.array_len()? != 5 {
            return None;
        }
        Some(RecordRequest {
            method: self.text()?,
            url: self.text()?,
            headers: self.headers()?,
            body: self.blob()?,
            redacted: self.boolean()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::chunks::BodyRef;
    use crate::storage::record::StoredRecord;
    use crate::storage::serializer::tests::{kinds_of, sample};
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue};

    /// Records of every kind and of every width of length: fixed, 8-, 16-
    /// and 32-bit strings, byte strings and arrays.
    fn records() -> Vec<StoredRecord> {
        let mut small = sample();
        small
            .headers
            .append("x-long", HeaderValue::from_str(&"v".repeat(300)).unwrap());
        small
            .request
            .headers
            .append("accept", HeaderValue::from_static("*/*"));
        small.retain_until = Some(UNIX_EPOCH + Duration::from_secs(70));
        let mut large = small.clone();
        large.body = Bytes::from(vec![7u8; 70_000]);
        large.request.url = format!("https://example.com/{}", "p".repeat(70_000));
        for i in 0..20 {
            large
                .headers
                .append("x-many", HeaderValue::from_str(&i.to_string()).unwrap());
        }
        large.expires = None;
        large.retain_until = None;
        let mut empty = small.clone();
        empty.body = Bytes::new();
        empty.headers = HeaderMap::new();
        empty.created_at = UNIX_EPOCH;
        let mut grouped = small.clone();
        grouped.groups = vec![
            "https://example.com a".into(),
            "https://example.com b c".into(),
        ];
        let mut chunked = empty.clone();
        chunked.stored_body = Some(BodyRef::new("b1", 5_000_000, 262_144));
        let mut chunked_grouped = chunked.clone();
        chunked_grouped.groups = vec![" g".into()];
        let mut records = kinds_of(&small).to_vec();
        records.extend([large, empty, grouped, chunked, chunked_grouped].map(StoredRecord::from));
        records
    }

    fn payload(record: &StoredRecord) -> Vec<u8> {
        let mut bytes = Vec::new();
        rmp_serde::encode::write(&mut bytes, &Wire::from_record(record)).unwrap();
        bytes
    }

    fn through_serde(bytes: &[u8]) -> Option<StoredRecord> {
        let wire: Wire<'_> = rmp_serde::from_slice(bytes).ok()?;
        wire.into_record(&Bytes::new()).ok()
    }

    fn through_reader(bytes: &[u8]) -> Option<StoredRecord> {
        read_wire(bytes)?.into_record(&Bytes::new()).ok()
    }

    #[test]
    fn every_record_reads_as_serde_reads_it() {
        for record in records() {
            let bytes = payload(&record);
            assert_eq!(through_reader(&bytes).as_ref(), Some(&record));
            assert_eq!(through_serde(&bytes).as_ref(), Some(&record));
        }
    }

    #[test]
    fn a_record_without_the_newest_field_reads_as_serde_reads_it() {
        let record = &records()[2];
        let mut bytes = payload(record);
        // An 11-field array (0x9b) whose last field is nil (0xc0): drop it.
        assert_eq!((bytes[0], bytes.pop()), (0x9b, Some(0xc0)));
        bytes[0] = 0x9a;
        assert_eq!(through_reader(&bytes), through_serde(&bytes));
        assert_eq!(through_reader(&bytes).as_ref(), Some(record));
    }

    /// Cut short or changed anywhere, a record is read by this reader only
    /// when serde reads it the same: it never makes a record serde would
    /// not, and never panics.
    #[test]
    fn damaged_records_are_refused_or_read_as_serde_reads_them() {
        for record in records().iter().filter(|r| r.info("").size < 10_000) {
            let bytes = payload(record);
            for cut in 0..bytes.len() {
                assert!(read_wire(&bytes[..cut]).is_none(), "cut at {cut}");
            }
            for at in 0..bytes.len() {
                for change in [0x01, 0x10, 0x80, 0xff] {
                    let mut damaged = bytes.clone();
                    damaged[at] ^= change;
                    if let Some(read) = through_reader(&damaged) {
                        assert_eq!(
                            Some(read),
                            through_serde(&damaged),
                            "byte {at} ^ {change:#x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn other_layouts_are_left_to_serde() {
        let record = &records()[2];
        let mut extra = payload(record);
        extra.push(0xc0);
        assert!(read_wire(&extra).is_none(), "bytes after the record");
        // The same record as a map of named fields, which rmp-serde also
        // reads.
        let mut named = Vec::new();
        let mut serializer = rmp_serde::Serializer::new(&mut named).with_struct_map();
        serde::Serialize::serialize(&Wire::from_record(record), &mut serializer).unwrap();
        assert!(read_wire(&named).is_none());
        assert_eq!(through_serde(&named).as_ref(), Some(record));
    }
}
