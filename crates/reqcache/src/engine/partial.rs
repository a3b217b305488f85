//! A `206 Partial Content` or `416 Range Not Satisfiable` made from a full
//! answer from the cache, as the policy's [`Selected`] says (RFC 9110
//! sections 14.4, 15.3.7 and 15.5.17).

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode, header};
use http_body::Body;

use crate::body::CacheBody;
use crate::policy::range::Selected;

/// `full`, a `200` answered from the cache with `body`, narrowed to what
/// `selected` asks for: one range is a `206` with `Content-Range`; several
/// are a `multipart/byteranges` `206`; none satisfiable a `416`.
pub(super) fn answer<B: Body>(
    full: Response<CacheBody<B>>,
    selected: Selected,
    body: &Bytes,
) -> Response<CacheBody<B>> {
    let len = body.len() as u64;
    let (mut parts, _) = full.into_parts();
    let payload = match selected {
        Selected::Full => return Response::from_parts(parts, CacheBody::cached(body.clone())),
        Selected::Unsatisfiable => {
            unsatisfiable(&mut parts, len);
            Bytes::new()
        }
        Selected::Ranges(ranges) if ranges.len() == 1 => {
            let range = &ranges[0];
            one_range(&mut parts, range, len);
            body.slice(range.start as usize..range.end as usize)
        }
        Selected::Ranges(ranges) => {
            parts.status = StatusCode::PARTIAL_CONTENT;
            let content_type = parts.headers.remove(header::CONTENT_TYPE);
            let boundary = boundary(body);
            let mut out = BytesMut::new();
            for range in &ranges {
                out.put_slice(format!("\r\n--{boundary}\r\n").as_bytes());
                if let Some(content_type) = &content_type {
                    out.put_slice(b"Content-Type: ");
                    out.put_slice(content_type.as_bytes());
                    out.put_slice(b"\r\n");
                }
                out.put_slice(
                    format!(
                        "Content-Range: bytes {}-{}/{len}\r\n\r\n",
                        range.start,
                        range.end - 1
                    )
                    .as_bytes(),
                );
                out.put_slice(&body[range.start as usize..range.end as usize]);
            }
            out.put_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            insert(
                &mut parts.headers,
                header::CONTENT_TYPE,
                format!("multipart/byteranges; boundary={boundary}"),
            );
            out.freeze()
        }
    };
    insert(
        &mut parts.headers,
        header::CONTENT_LENGTH,
        payload.len().to_string(),
    );
    Response::from_parts(parts, CacheBody::cached(payload))
}

/// [`answer`] for a body of `len` bytes kept in chunks, `body(start, end)`
/// reading bytes `start..end` of it: one range is read alone, from the
/// chunks it covers; several are answered with the whole body (a `200`, as
/// RFC 9110 lets a server that ignores Range answer), since each would be
/// read apart.
pub(super) fn answer_stored<B: Body>(
    full: Response<CacheBody<B>>,
    selected: Selected,
    len: u64,
    body: impl FnOnce(u64, u64) -> CacheBody<B>,
) -> Response<CacheBody<B>> {
    let (mut parts, full_body) = full.into_parts();
    let payload = match selected {
        Selected::Ranges(ranges) if ranges.len() == 1 => {
            let range = &ranges[0];
            one_range(&mut parts, range, len);
            insert(
                &mut parts.headers,
                header::CONTENT_LENGTH,
                (range.end - range.start).to_string(),
            );
            body(range.start, range.end)
        }
        Selected::Unsatisfiable => {
            unsatisfiable(&mut parts, len);
            insert(&mut parts.headers, header::CONTENT_LENGTH, "0".to_owned());
            CacheBody::cached(Bytes::new())
        }
        Selected::Full | Selected::Ranges(_) => full_body,
    };
    Response::from_parts(parts, payload)
}

/// A `206` of one `range` of a body of `len` bytes: its status and
/// `Content-Range`.
fn one_range(parts: &mut http::response::Parts, range: &std::ops::Range<u64>, len: u64) {
    parts.status = StatusCode::PARTIAL_CONTENT;
    insert(
        &mut parts.headers,
        header::CONTENT_RANGE,
        format!("bytes {}-{}/{len}", range.start, range.end - 1),
    );
}

/// A `416` for a body of `len` bytes: its status and `Content-Range`, and
/// no `Content-Type`.
fn unsatisfiable(parts: &mut http::response::Parts, len: u64) {
    parts.status = StatusCode::RANGE_NOT_SATISFIABLE;
    insert(
        &mut parts.headers,
        header::CONTENT_RANGE,
        format!("bytes */{len}"),
    );
    parts.headers.remove(header::CONTENT_TYPE);
}

fn insert(headers: &mut http::HeaderMap, name: header::HeaderName, value: String) {
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(name, value);
    }
}

/// A multipart boundary that does not occur in `body`.
fn boundary(body: &[u8]) -> String {
    (0u64..)
        .map(|n| format!("reqcache-byteranges-{n:x}"))
        .find(|candidate| {
            !body
                .windows(candidate.len())
                .any(|window| window == candidate.as_bytes())
        })
        .unwrap_or_default()
}
