//! The admin commands' work, on any storage: statistics, listing with
//! filters, showing, deleting, copying, and export / import as JSON lines.
//! Each function returns what it found or did.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use globset::GlobMatcher;
use indicatif::{ProgressBar, ProgressStyle};
use reqcache::storage::backend::{StoredRecord, portable_record};
use reqcache::storage::{CachedResponse, Codec, EntryInfo, Serializer, Storage, StorageUsage};
use reqcache::{CacheHandle, CacheLayer, StorageError};
use serde_json::{Value, json};

/// What `reqcache stats` reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Responses stored.
    pub entries: u64,
    /// Aliases and vary indexes, which lead to responses (not counted in
    /// `entries`, `expired` or the breakdowns; their bytes are in `bytes`).
    pub bookkeeping: u64,
    /// Of which expired (kept for revalidation).
    pub expired: u64,
    /// Their total estimated size, in bytes.
    pub bytes: u64,
    /// What the storage keeps as it counts it, its size bound and the
    /// evictions the bound made ([`Storage::usage`]).
    pub usage: StorageUsage,
    /// Entries by status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Entries by method.
    pub by_method: BTreeMap<String, u64>,
}

impl Stats {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "entries": self.entries,
            "bookkeeping": self.bookkeeping,
            "expired": self.expired,
            "bytes": self.bytes,
            "usage": {
                "bytes": self.usage.bytes,
                "max_size": self.usage.max_size,
                "evictions": self.usage.evictions,
            },
            "by_status": self.by_status.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "by_method": self.by_method,
        })
    }
}

/// The statistics of `storage` at `now`, from its metadata.
///
/// # Errors
/// The storage's.
pub async fn stats(storage: &dyn Storage, now: SystemTime) -> Result<Stats, StorageError> {
    let mut stats = Stats {
        usage: storage.usage().await?,
        ..Stats::default()
    };
    for info in storage.entries().await? {
        stats.bytes += info.size;
        if !info.kind.is_response() {
            stats.bookkeeping += 1;
            continue;
        }
        stats.entries += 1;
        stats.expired += u64::from(info.is_expired(now));
        *stats.by_status.entry(info.status.as_u16()).or_default() += 1;
        *stats.by_method.entry(info.method.to_string()).or_default() += 1;
    }
    Ok(stats)
}

/// Which entries `reqcache list` shows.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ListFilter {
    /// URLs matching this glob (`*` matches `/` too).
    pub url: Option<GlobMatcher>,
    /// This status code.
    pub status: Option<u16>,
    /// Only expired (`Some(true)`) or only fresh (`Some(false)`) entries.
    pub expired: Option<bool>,
}

impl ListFilter {
    /// A filter on URLs matching `glob`.
    ///
    /// # Errors
    /// A message for a glob that is not one.
    pub fn url_glob(mut self, glob: &str) -> Result<Self, String> {
        let glob = globset::GlobBuilder::new(glob)
            .literal_separator(false)
            .build()
            .map_err(|e| format!("--url {glob:?}: {e}"))?;
        self.url = Some(glob.compile_matcher());
        Ok(self)
    }

    /// Sets the status filter.
    pub fn status(mut self, status: Option<u16>) -> Self {
        self.status = status;
        self
    }

    /// Sets the expiry filter.
    pub fn expired(mut self, expired: Option<bool>) -> Self {
        self.expired = expired;
        self
    }

    fn matches(&self, info: &EntryInfo, now: SystemTime) -> bool {
        self.url
            .as_ref()
            .is_none_or(|glob| glob.is_match(&info.url))
            && self
                .status
                .is_none_or(|status| info.status.as_u16() == status)
            && self
                .expired
                .is_none_or(|expired| info.is_expired(now) == expired)
    }
}

/// The entries `filter` selects, by URL then key.
///
/// # Errors
/// The storage's.
pub async fn list(
    storage: &dyn Storage,
    filter: &ListFilter,
    now: SystemTime,
) -> Result<Vec<EntryInfo>, StorageError> {
    let mut entries: Vec<EntryInfo> = storage
        .entries()
        .await?
        .into_iter()
        .filter(|info| filter.matches(info, now))
        .collect();
    entries.sort_by(|a, b| (&a.url, &a.key).cmp(&(&b.url, &b.key)));
    Ok(entries)
}

/// Seconds since the Unix epoch, for JSON.
fn unix(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// An entry's metadata as JSON.
pub fn info_json(info: &EntryInfo, now: SystemTime) -> Value {
    json!({
        "key": info.key,
        "kind": info.kind.to_string(),
        "method": info.method.as_str(),
        "url": info.url,
        "status": info.status.as_u16(),
        "size": info.size,
        "created_at": unix(info.created_at),
        "expires": info.expires.map(unix),
        "retain_until": info.retain_until.map(unix),
        "expired": info.is_expired(now),
    })
}

/// How many responses each (method, URL) has among `entries`: more than
/// one when they differ by what the URL does not show (a `Vary` header,
/// credentials, a redacted parameter), each under a key of its own.
pub fn responses_per_url(
    entries: &[EntryInfo],
) -> std::collections::HashMap<(String, String), u64> {
    let mut counts = std::collections::HashMap::new();
    for info in entries.iter().filter(|info| info.kind.is_response()) {
        *counts
            .entry((info.method.to_string(), info.url.clone()))
            .or_default() += 1;
    }
    counts
}

/// A record's metadata as one line of text; aliases and vary indexes end
/// with their kind.
pub fn info_line(info: &EntryInfo, now: SystemTime) -> String {
    let state = if info.is_expired(now) {
        "expired"
    } else {
        "fresh"
    };
    let kind = if info.kind.is_response() {
        String::new()
    } else {
        format!("  {}", info.kind)
    };
    format!(
        "{}  {:<6} {} {}  {} bytes  {state}{kind}",
        info.key,
        info.method,
        info.status.as_u16(),
        info.url,
        info.size
    )
}

/// `Vary` names as text.
fn vary_names(vary: &[http::HeaderName]) -> Vec<&str> {
    vary.iter().map(http::HeaderName::as_str).collect()
}

/// What an alias or a vary index says, in one line: where it leads.
pub fn leads_to(record: &StoredRecord) -> Option<String> {
    let names = |vary: &[http::HeaderName]| vary_names(vary).join(", ");
    match record {
        StoredRecord::Alias(alias) if alias.vary.is_empty() => {
            Some(format!("alias of {}", alias.target))
        }
        StoredRecord::Alias(alias) => Some(format!(
            "alias of {}, which varies on {}",
            alias.target,
            names(&alias.vary)
        )),
        StoredRecord::VaryIndex(index) => Some(format!(
            "vary index: the variants are keyed on {}",
            names(&index.vary)
        )),
        _ => None,
    }
}

/// A handle with the default key settings over `storage`: what the admin
/// commands normalize URLs and compute keys with.
pub fn handle(storage: Arc<dyn Storage>) -> CacheHandle {
    CacheLayer::new(storage).cache().clone()
}

/// `true` when `target` names a URL rather than a key.
fn is_url(target: &str) -> bool {
    target.contains("://") || target.starts_with('/')
}

/// The records `target` names: a key, or every record of a URL (normalized
/// as stored: lower-case host, sorted query, redacted parameters removed).
///
/// # Errors
/// The storage's.
pub async fn find(
    handle: &CacheHandle,
    target: &str,
) -> Result<Vec<(EntryInfo, Option<StoredRecord>)>, StorageError> {
    let storage = handle.storage();
    let now = handle.now();
    let infos: Vec<EntryInfo> = if is_url(target) {
        let url = handle.normalize_url(target);
        storage
            .entries()
            .await?
            .into_iter()
            .filter(|info| info.url == url)
            .collect()
    } else {
        storage
            .entries()
            .await?
            .into_iter()
            .filter(|info| info.key == target)
            .collect()
    };
    let mut found = Vec::with_capacity(infos.len());
    for info in infos {
        let record = storage.get_record(&info.key, now).await?;
        found.push((info, record));
    }
    Ok(found)
}

/// A record as JSON: its metadata and, for a response, its head and the
/// body when asked; for an alias, its target; for either bookkeeping kind,
/// the `Vary` names it leads with.
pub fn record_json(info: &EntryInfo, record: &StoredRecord, body: bool, now: SystemTime) -> Value {
    let names = |vary: &[http::HeaderName]| json!(vary_names(vary));
    match record {
        StoredRecord::Response(entry) => entry_json(info, entry, body, now),
        StoredRecord::Alias(alias) => {
            let mut value = info_json(info, now);
            value["target"] = json!(alias.target);
            value["vary"] = names(&alias.vary);
            value
        }
        StoredRecord::VaryIndex(index) => {
            let mut value = info_json(info, now);
            value["vary"] = names(&index.vary);
            value
        }
        _ => info_json(info, now),
    }
}

/// A response as JSON: its metadata, response head, and the body when asked
/// (as UTF-8 text when it is, else base64 under `body_base64`).
pub fn entry_json(info: &EntryInfo, entry: &CachedResponse, body: bool, now: SystemTime) -> Value {
    let headers: Vec<Value> = entry
        .headers
        .iter()
        .map(|(name, value)| json!([name.as_str(), String::from_utf8_lossy(value.as_bytes())]))
        .collect();
    let mut value = info_json(info, now);
    value["version"] = json!(format!("{:?}", entry.version));
    value["headers"] = Value::Array(headers);
    if let Some(stored) = &entry.stored_body {
        // Kept in chunks, possibly gigabytes: named, not inlined.
        value["stored_body"] = json!({
            "id": stored.id,
            "len": stored.len,
            "chunk_size": stored.chunk_size,
        });
    } else if body {
        match std::str::from_utf8(&entry.body) {
            Ok(text) => value["body"] = json!(text),
            Err(_) => {
                use base64::Engine as _;
                value["body_base64"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(&entry.body));
            }
        }
    }
    value
}

/// Writes a body kept in chunks to `out`, a chunk at a time.
///
/// # Errors
/// A message when the storage keeps no chunks, one is missing or of the
/// wrong length, or `out` fails.
pub async fn write_stored_body(
    storage: &Arc<dyn Storage>,
    body: &reqcache::storage::backend::BodyRef,
    out: &mut impl std::io::Write,
) -> Result<(), String> {
    let chunks = storage
        .chunks()
        .ok_or("this storage keeps no bodies in chunks")?;
    for index in 0..body.chunks() {
        let chunk = chunks
            .read_chunk(&body.id, index)
            .await
            .map_err(|e| e.to_string())?
            .filter(|chunk| chunk.len() as u64 == body.chunk_len(index))
            .ok_or_else(|| format!("chunk {index} of body {} is missing or damaged", body.id))?;
        out.write_all(&chunk).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Where an entry asked for by `url` may be instead: the stored URLs (at
/// most 5) under another origin whose path and query end with `url`'s. A
/// proxy stores entries under its upstream's URL, not the one its clients
/// use (`http://127.0.0.1:8080/index.html` is stored as
/// `http://origin:9000/index.html`, or `.../base/index.html` under an
/// upstream with a base path).
///
/// # Errors
/// The storage's.
pub async fn same_path_elsewhere(
    handle: &CacheHandle,
    url: &str,
) -> Result<Vec<String>, StorageError> {
    let wanted = handle.normalize_url(url);
    let Some(tail) = path_and_query(&wanted) else {
        return Ok(Vec::new());
    };
    let mut found: Vec<String> = handle
        .urls()
        .await?
        .into_iter()
        .filter(|stored| {
            *stored != wanted && path_and_query(stored).is_some_and(|path| path.ends_with(tail))
        })
        .collect();
    found.truncate(5);
    Ok(found)
}

/// The path and query of an absolute URL (`/` when it has no path).
fn path_and_query(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.find('/').map_or("/", |slash| &rest[slash..]))
}

/// What to tell a user whose URL found nothing: where it may be stored.
pub async fn where_to_look(handle: &CacheHandle, url: &str) -> Option<String> {
    if !is_url(url) {
        return None;
    }
    let elsewhere = same_path_elsewhere(handle, url).await.ok()?;
    (!elsewhere.is_empty()).then(|| {
        format!(
            "entries are stored under the URL the cache fetched (a proxy's upstream, not the proxy): \
             found {} (or give the proxy's --upstream URL with --upstream)",
            elsewhere.join(", ")
        )
    })
}

/// Deletes what `target` names (a key, or every entry of a URL); returns
/// how many.
///
/// # Errors
/// The storage's.
pub async fn delete(handle: &CacheHandle, target: &str) -> Result<u64, StorageError> {
    if is_url(target) {
        handle.delete_url(&handle.normalize_url(target)).await
    } else {
        Ok(u64::from(handle.storage().delete(target).await?))
    }
}

/// A progress bar over `total` items on stderr when it is a terminal,
/// hidden otherwise (logs and pipes get the summary line only).
pub fn progress(total: u64, what: &str) -> ProgressBar {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Copies every record of `source` into `destination` under the same keys;
/// returns how many responses (aliases and vary indexes are copied too).
/// Records that vanish or do not decode on the way are skipped.
///
/// # Errors
/// The storages'.
pub async fn copy(
    source: &dyn Storage,
    destination: &dyn Storage,
    now: SystemTime,
) -> Result<u64, StorageError> {
    let infos = source.entries().await?;
    let bar = progress(infos.len() as u64, "copying");
    let mut copied = 0;
    let chunks = destination.chunks();
    for info in infos {
        bar.inc(1);
        let Some(record) = source.get_record(&info.key, now).await? else {
            continue;
        };
        // A body kept in chunks goes with it (into the destination's
        // chunks, or whole).
        let Some(record) = portable_record(source, chunks.as_deref(), record).await? else {
            continue;
        };
        copied += u64::from(record.kind().is_response());
        destination.put_record(&info.key, record).await?;
    }
    bar.finish_and_clear();
    Ok(copied)
}

/// The codec of export files: JSON records (reqcache's versioned format).
fn export_codec() -> Codec {
    Codec::new(Serializer::Json)
}

/// Writes every record of `storage` to `out`, one JSON object per line
/// (`{"key": …, "entry": {…}}`, the record in reqcache's versioned JSON
/// format: a response, an alias or a vary index); returns how many.
///
/// # Errors
/// The storage's, or the writer's as [`Io`](reqcache::storage::StorageErrorKind::Io).
pub async fn export(
    storage: &dyn Storage,
    out: &mut dyn Write,
    now: SystemTime,
) -> Result<u64, StorageError> {
    let codec = export_codec();
    let infos = storage.entries().await?;
    let bar = progress(infos.len() as u64, "exporting");
    let mut written = 0;
    for info in infos {
        bar.inc(1);
        let Some(record) = storage.get_record(&info.key, now).await? else {
            continue;
        };
        // A body kept in chunks is written whole, as any other.
        let Some(record) = portable_record(storage, None, record).await? else {
            continue;
        };
        let record: Value =
            serde_json::from_slice(&codec.encode_record(&record)?).map_err(|e| {
                StorageError::with_source(reqcache::storage::StorageErrorKind::Encode, "export", e)
            })?;
        let line = json!({ "key": info.key, "entry": record });
        writeln!(out, "{line}").map_err(|e| {
            StorageError::with_source(
                reqcache::storage::StorageErrorKind::Io,
                "cannot write the export",
                e,
            )
        })?;
        written += 1;
    }
    bar.finish_and_clear();
    Ok(written)
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// Records stored.
    pub imported: u64,
    /// Lines that were not an exported entry: (line number, why).
    pub skipped: Vec<(u64, String)>,
}

/// Reads an export (JSON lines) into `storage`. A line that is not an
/// exported entry is skipped and reported with its number; the others are
/// imported all the same.
///
/// # Errors
/// The storage's, or the reader's.
pub async fn import(
    storage: &dyn Storage,
    input: &mut dyn BufRead,
) -> Result<ImportReport, StorageError> {
    let codec = export_codec();
    let mut report = ImportReport::default();
    let bar = progress(0, "importing");
    for (number, line) in input.lines().enumerate() {
        let number = number as u64 + 1;
        let line = line.map_err(|e| {
            StorageError::with_source(
                reqcache::storage::StorageErrorKind::Io,
                "cannot read the import",
                e,
            )
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Result<(String, StoredRecord), String> = (|| {
            let value: Value = serde_json::from_str(&line).map_err(|e| format!("not JSON: {e}"))?;
            let key = value["key"]
                .as_str()
                .filter(|key| !key.is_empty())
                .ok_or("no \"key\"")?
                .to_owned();
            let record = serde_json::to_vec(&value["entry"]).map_err(|e| e.to_string())?;
            let record = codec
                .decode_record(&record)
                .map_err(|e| format!("\"entry\": {e}"))?;
            Ok((key, record))
        })();
        match parsed {
            Ok((key, record)) => {
                storage.put_record(&key, record).await?;
                report.imported += 1;
            }
            Err(why) => report.skipped.push((number, why)),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqcache::MemoryStorage;

    fn scratch() -> Arc<dyn Storage> {
        Arc::new(MemoryStorage::new())
    }
    use bytes::Bytes;
    use reqcache::storage::CachedRequest;
    use std::time::Duration;

    fn entry(url: &str, status: u16, expires_in: i64, body: &'static [u8]) -> Arc<CachedResponse> {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let expires = if expires_in >= 0 {
            now + Duration::from_secs(expires_in as u64)
        } else {
            now - Duration::from_secs((-expires_in) as u64)
        };
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "text/plain".parse().unwrap());
        Arc::new(
            CachedResponse::new(
                http::StatusCode::from_u16(status).unwrap(),
                headers,
                Bytes::from_static(body),
                CachedRequest::new(http::Method::GET, url),
                now,
            )
            .with_expires(Some(expires)),
        )
    }

    const NOW: u64 = 1_000_000;

    async fn filled() -> Arc<dyn Storage> {
        let storage = scratch();
        storage
            .put("k1", entry("http://a.com/x", 200, 60, b"one"))
            .await
            .unwrap();
        storage
            .put("k2", entry("http://a.com/y", 404, -60, b"two"))
            .await
            .unwrap();
        storage
            .put("k3", entry("http://b.com/z", 200, -1, b"\xff\xfe"))
            .await
            .unwrap();
        storage
    }

    #[tokio::test]
    async fn stats_and_filters() {
        let storage = filled().await;
        let now = UNIX_EPOCH + Duration::from_secs(NOW);
        let stats = stats(&*storage, now).await.unwrap();
        assert_eq!((stats.entries, stats.expired), (3, 2));
        assert_eq!(stats.by_status[&200], 2);
        assert_eq!(stats.to_json()["by_status"]["404"], 1);
        assert_eq!(
            stats.usage.max_size,
            Some(reqcache::storage::memory::DEFAULT_MAX_SIZE)
        );
        assert_eq!(stats.to_json()["usage"]["evictions"], 0);
        assert!(stats.usage.bytes > 0);
        let keys = |entries: Vec<EntryInfo>| entries.into_iter().map(|e| e.key).collect::<Vec<_>>();
        let all = ListFilter::default();
        assert_eq!(
            keys(list(&*storage, &all, now).await.unwrap()),
            ["k1", "k2", "k3"]
        );
        let a = ListFilter::default().url_glob("http://a.com/*").unwrap();
        assert_eq!(keys(list(&*storage, &a, now).await.unwrap()), ["k1", "k2"]);
        let expired_200 = ListFilter::default().status(Some(200)).expired(Some(true));
        assert_eq!(
            keys(list(&*storage, &expired_200, now).await.unwrap()),
            ["k3"]
        );
        assert!(ListFilter::default().url_glob("a[").is_err());
    }

    #[tokio::test]
    async fn export_then_import_round_trips_and_bad_lines_are_reported() {
        let storage = filled().await;
        let now = UNIX_EPOCH + Duration::from_secs(NOW);
        let mut out = Vec::new();
        assert_eq!(export(&*storage, &mut out, now).await.unwrap(), 3);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 3);
        let with_garbage = format!("{text}not json\n{{\"key\":\"x\",\"entry\":{{}}}}\n\n");
        let target = scratch();
        let report = import(&*target, &mut with_garbage.as_bytes())
            .await
            .unwrap();
        assert_eq!(report.imported, 3);
        assert_eq!(
            report.skipped.iter().map(|s| s.0).collect::<Vec<_>>(),
            [4, 5]
        );
        for key in ["k1", "k2", "k3"] {
            assert_eq!(
                storage.get(key, now).await.unwrap(),
                target.get(key, now).await.unwrap(),
                "{key}"
            );
        }
    }

    #[tokio::test]
    async fn show_and_delete_by_key_or_url() {
        let storage = filled().await;
        let handle = handle(Arc::clone(&storage));
        let found = find(&handle, "HTTP://A.COM/x").await.unwrap();
        assert_eq!(found.len(), 1, "the URL is normalized as stored");
        let (info, entry) = &found[0];
        let value = record_json(info, entry.as_ref().unwrap(), true, handle.now());
        assert_eq!(value["body"], "one");
        assert_eq!(value["headers"][0][0], "content-type");
        let binary = find(&handle, "k3").await.unwrap();
        let value = record_json(
            &binary[0].0,
            binary[0].1.as_ref().unwrap(),
            true,
            handle.now(),
        );
        assert_eq!(value["body_base64"], "//4=");
        assert_eq!(delete(&handle, "http://a.com/y").await.unwrap(), 1);
        assert_eq!(delete(&handle, "k1").await.unwrap(), 1);
        assert_eq!(delete(&handle, "k1").await.unwrap(), 0);
        assert_eq!(storage.len().await.unwrap(), 1);
    }
}
