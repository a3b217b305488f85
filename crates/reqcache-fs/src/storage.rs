//! [`FileStorage`] and its builder.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use reqcache::storage::backend::{
    ACCESS_STAMP_STEP, ByteStore, ChunkStore, DEFAULT_MAX_SIZE, DEFAULT_NATIVE_RETENTION,
    DEFAULT_SWEEP_INTERVAL, Record, Sidecar, StorageUsage, fits_bound, spawn_sweeper,
};
use reqcache::storage::{EntryInfo, Serializer, StorageError, StorageErrorKind};

use crate::bodies::{Bodies, CHUNK_SIZE, ORPHAN_GRACE};
use crate::bound::{self, Ledger, Locked};
use crate::files::{self, KIND_EXTENSION, META_EXTENSION, Meta};
use crate::marker_index::{self, GROUP_INDEX, MarkerIndex, URL_INDEX};

/// How old a temporary file must be before it counts as left by a crash.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

/// A [`Storage`](reqcache::storage::Storage) in a directory: one file per
/// entry, written atomically. A [`ByteStore`]: reqcache's adapter encodes the
/// entries, plain MessagePack by default; [`Encoded`](reqcache::storage::Encoded)
/// with a JSON or YAML codec makes files you can read and edit, named by
/// their format (`<key>.json`).
///
/// # Example
/// ```
/// use reqcache::storage::{Serializer, Storage};
/// use reqcache::storage::Encoded;
/// use reqcache_fs::FileStorage;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// let dir = tempfile::tempdir().unwrap();
/// let files = FileStorage::open(dir.path().join("cache")).await?;
/// assert!(files.dir().ends_with("cache"));
/// let storage = Encoded::new(files, Serializer::Json);
/// assert_eq!(storage.len().await?, 0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FileStorage {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    urls: MarkerIndex,
    groups: MarkerIndex,
    /// The size bound, if any.
    max_size: Option<u64>,
    /// The bytes kept and the evictions made, shared by every process.
    ledger: Ledger,
    /// Bodies kept in chunks.
    bodies: Bodies,
}

impl fmt::Debug for FileStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStorage")
            .field("dir", &self.shared.dir)
            .finish()
    }
}

/// Builds a [`FileStorage`].
#[derive(Debug, Clone)]
#[must_use]
pub struct FileStorageBuilder {
    cache_name: PathBuf,
    use_cache_dir: bool,
    sweep_interval: Option<Duration>,
    max_size: Option<u64>,
}

impl FileStorage {
    /// Opens (creating if needed) the cache directory `cache_name` with the
    /// default settings.
    ///
    /// # Errors
    /// [`StorageErrorKind::Io`] when the directory cannot be created.
    pub async fn open(cache_name: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::builder(cache_name).open().await
    }

    /// A builder for the cache directory `cache_name`.
    pub fn builder(cache_name: impl AsRef<Path>) -> FileStorageBuilder {
        FileStorageBuilder {
            cache_name: cache_name.as_ref().to_path_buf(),
            use_cache_dir: false,
            sweep_interval: Some(DEFAULT_SWEEP_INTERVAL),
            max_size: Some(DEFAULT_MAX_SIZE),
        }
    }

    /// The size bound, if any ([`FileStorageBuilder::max_size`]).
    pub fn max_size(&self) -> Option<u64> {
        self.shared.max_size
    }

    /// Deletes the entries past their retention at `now` (what the
    /// sweeper does every
    /// [`sweep_interval`](FileStorageBuilder::sweep_interval)), and the
    /// temporary files a killed writer left, once they are an hour old (no
    /// write takes that long); returns how many entries. An entry without a
    /// retention (the layer's `stale_retention` unset) is past it an hour
    /// after it expires
    /// ([`DEFAULT_NATIVE_RETENTION`](reqcache::storage::backend::DEFAULT_NATIVE_RETENTION),
    /// as Redis, PostgreSQL, MongoDB and DynamoDB keep it); one that never
    /// expires stays. Entries merely expired stay, for revalidation:
    /// [`remove_expired`](reqcache::storage::Storage::remove_expired)
    /// deletes those too.
    ///
    /// # Errors
    /// [`StorageErrorKind::Io`] when the directory cannot be read or a file
    /// cannot be removed; what was deleted before stays deleted.
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let storage = reqcache_fs::FileStorage::open(dir.path().join("cache")).await?;
    /// assert_eq!(storage.sweep(std::time::SystemTime::now()).await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn sweep(&self, now: SystemTime) -> Result<u64, StorageError> {
        self.blocking(move |this| {
            files::remove_stale_temporaries(&this.shared.dir, STALE_TEMPORARY)?;
            // Without a retention, an hour past expiry, as storages with
            // native expiry keep it.
            let swept = this.remove_where(|info| {
                info.native_expiry(Some(DEFAULT_NATIVE_RETENTION))
                    .is_some_and(|deadline| deadline <= now)
            })?;
            this.sweep_orphan_bodies()?;
            this.sweep_stale_group_markers()?;
            Ok(swept)
        })
        .await
    }

    /// Removes the body files no sidecar names that are older than
    /// [`ORPHAN_GRACE`]: writes cut short, and bodies whose entry went
    /// while their removal failed.
    fn sweep_orphan_bodies(&self) -> Result<(), StorageError> {
        let bodies = self.shared.bodies.list()?;
        if bodies.is_empty() {
            return Ok(());
        }
        let named: std::collections::HashSet<String> = self
            .metas()?
            .into_iter()
            .filter_map(|(_, meta)| meta.body().map(str::to_owned))
            .collect();
        let now = SystemTime::now();
        let mut freed = 0;
        for body in bodies {
            let old = body
                .modified
                .is_none_or(|m| now.duration_since(m).is_ok_and(|age| age >= ORPHAN_GRACE));
            if old && !named.contains(&body.id) {
                freed += self.shared.bodies.remove(&body.id)?;
            }
        }
        self.freed(freed)
    }

    /// Removes the group markers older than [`ORPHAN_GRACE`] whose entry
    /// is gone or no longer in that group: a crash between a marker and
    /// its entry, or a removal that failed halfway. A marker is written
    /// again with every write of its entry, so a write in progress never
    /// loses its marker here.
    fn sweep_stale_group_markers(&self) -> Result<(), StorageError> {
        let now = SystemTime::now();
        for marker in self.shared.groups.markers()? {
            let old = marker
                .written
                .is_none_or(|w| now.duration_since(w).is_ok_and(|age| age >= ORPHAN_GRACE));
            if !old {
                continue;
            }
            let current = self.meta_of(&marker.stem).is_some_and(|meta| {
                meta.groups()
                    .iter()
                    .any(|group| marker_index::hash_of(group) == marker.hash)
            });
            if !current {
                self.shared.groups.remove_marker(&marker)?;
            }
        }
        Ok(())
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The file holding the entry under `key`, if there is one (for
    /// inspecting or editing a cached response by hand); its extension
    /// names the serializer that wrote it.
    pub fn path_of(&self, key: &str) -> Option<PathBuf> {
        self.find_entry(&files::stem(key))
    }

    fn entry_path(&self, stem: &str, extension: &str) -> PathBuf {
        self.shared.dir.join(format!("{stem}.{extension}"))
    }

    fn meta_path(&self, stem: &str) -> PathBuf {
        self.shared.dir.join(format!("{stem}.{META_EXTENSION}"))
    }

    fn kind_path(&self, stem: &str) -> PathBuf {
        self.shared.dir.join(format!("{stem}.{KIND_EXTENSION}"))
    }

    /// Runs blocking file work on tokio's blocking pool.
    async fn blocking<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&FileStorage) -> Result<T, StorageError> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(&this))
            .await
            .map_err(|e| StorageError::with_source(StorageErrorKind::Io, "file task failed", e))?
    }

    /// The entry file for a stem, whichever serializer wrote it.
    fn find_entry(&self, stem: &str) -> Option<PathBuf> {
        Serializer::all()
            .iter()
            .map(|s| self.entry_path(stem, s.extension()))
            .find(|path| path.exists())
    }

    /// The metadata sidecar of an entry, if it is there and decodes.
    fn meta_of(&self, stem: &str) -> Option<Meta> {
        std::fs::read(self.meta_path(stem))
            .ok()
            .as_deref()
            .and_then(Meta::decode)
    }

    /// Deletes an entry's files and its markers; the bytes freed, if there
    /// was any file.
    fn forget(&self, stem: &str) -> Result<Option<u64>, StorageError> {
        if let Some(meta) = self.meta_of(stem) {
            self.unmark(&meta, stem)?;
        }
        self.remove_stem(stem)
    }

    /// Removes the markers of the entry `stem` that `meta` describes: its
    /// URL's and its groups'.
    fn unmark(&self, meta: &Meta, stem: &str) -> Result<(), StorageError> {
        self.shared.urls.remove(meta.url(), stem)?;
        for group in meta.groups() {
            self.shared.groups.remove(group, stem)?;
        }
        Ok(())
    }

    /// The stems and keys of the entries in `group`, from its markers,
    /// each checked against the entry's sidecar. A marker is left where it
    /// is when its sidecar does not name the group: a write may be putting
    /// the entry in the group this very moment (marker first, sidecar
    /// last), and removing its marker would hide it from the next purge.
    /// Markers go with their entries, and when a write takes an entry out
    /// of a group.
    fn group_members(&self, group: &str) -> Result<Vec<(String, String)>, StorageError> {
        let mut members = Vec::new();
        for stem in self.shared.groups.stems(group)? {
            if let Some(meta) = self.meta_of(&stem)
                && meta.groups().iter().any(|g| g == group)
            {
                members.push((stem, meta.key().to_owned()));
            }
        }
        Ok(members)
    }

    /// Deletes an entry's files, and the body its sidecar names; the bytes
    /// freed, if there was any file.
    fn remove_stem(&self, stem: &str) -> Result<Option<u64>, StorageError> {
        let body = self
            .meta_of(stem)
            .and_then(|meta| meta.body().map(|body| self.shared.bodies.remove(body)))
            .transpose()?;
        let mut freed = sum(body, files::remove_counted(&self.meta_path(stem))?);
        freed = sum(freed, files::remove_counted(&self.kind_path(stem))?);
        for serializer in Serializer::all() {
            let path = self.entry_path(stem, serializer.extension());
            freed = sum(freed, files::remove_counted(&path)?);
        }
        Ok(freed)
    }

    /// Writes an entry's files: its URL marker, the entry, its kind
    /// marker, then its sidecar (which names its body, if any).
    fn write_files(&self, record: &Record, stem: &str) -> Result<(), StorageError> {
        let info = &record.info;
        let extension = record.serializer.extension();
        // The markers first: every entry on disk has them.
        self.shared.urls.add(&info.url, stem)?;
        for group in &info.groups {
            self.shared.groups.add(group, stem)?;
        }
        files::write_atomically(&self.entry_path(stem, extension), &record.value)?;
        // An entry written before with another serializer goes.
        for serializer in Serializer::all() {
            if serializer.extension() != extension {
                files::remove(&self.entry_path(stem, serializer.extension()))?;
            }
        }
        // The kind marker before the sidecar: a listing never counts an
        // alias or a vary index as a response.
        if info.kind.is_response() {
            files::remove(&self.kind_path(stem))?;
        } else {
            files::write_atomically(&self.kind_path(stem), info.kind.to_string().as_bytes())?;
        }
        let body = record.body.as_ref().map(|body| body.id.as_str());
        files::write_atomically(
            &self.meta_path(stem),
            &Meta::of(info, extension, body).encode(),
        )
    }

    /// The bytes of an entry's files as they are, its body's included.
    fn stem_bytes(&self, stem: &str) -> u64 {
        let len = |path: PathBuf| std::fs::metadata(path).map_or(0, |m| m.len());
        let body = self
            .meta_of(stem)
            .and_then(|meta| meta.body().map(|body| self.shared.bodies.bytes(body)))
            .unwrap_or(0);
        body + len(self.meta_path(stem))
            + len(self.kind_path(stem))
            + Serializer::all()
                .iter()
                .map(|s| len(self.entry_path(stem, s.extension())))
                .sum::<u64>()
    }

    /// Takes `freed` bytes off the ledger (with a bound).
    fn freed(&self, freed: u64) -> Result<(), StorageError> {
        if self.shared.max_size.is_none() || freed == 0 {
            return Ok(());
        }
        let mut locked = self.shared.ledger.lock()?;
        locked.usage.bytes = locked.usage.bytes.saturating_sub(freed);
        locked.save()
    }

    /// Adds a write of `stem` that took the folder from `before` to `after`
    /// bytes for that entry to the ledger, and evicts when the folder passes
    /// the bound: a scan of the folder that comes down to 90% of the bound,
    /// entries past retention first, then those least recently used,
    /// sparing `stem`.
    fn account_write(&self, stem: &str, before: u64, after: u64) -> Result<(), StorageError> {
        let Some(max_size) = self.shared.max_size else {
            return Ok(());
        };
        let mut locked = self.shared.ledger.lock()?;
        if !locked.known {
            locked.usage.bytes = self.scanned_bytes()?;
            locked.known = true;
        } else {
            locked.usage.bytes = (locked.usage.bytes + after).saturating_sub(before);
        }
        if locked.usage.bytes > max_size {
            self.evict(&mut locked, max_size, stem)?;
        }
        locked.save()
    }

    /// The bytes of every entry's files and every body file, counted
    /// from the folder.
    fn scanned_bytes(&self) -> Result<u64, StorageError> {
        let bodies: u64 = self.shared.bodies.list()?.iter().map(|b| b.len).sum();
        Ok(bodies
            + bound::scan(&self.shared.dir)?
                .values()
                .map(|e| e.bytes)
                .sum::<u64>())
    }

    /// The eviction scan (under the ledger's lock): counts the folder
    /// afresh, and when it is over `max_size`, deletes entries until it is
    /// at 90% of it.
    fn evict(&self, locked: &mut Locked, max_size: u64, spared: &str) -> Result<(), StorageError> {
        let now = SystemTime::now();
        let scanned = bound::scan(&self.shared.dir)?;
        // Bodies count with their entries; those being written, or left
        // by a write cut short, count until a sweep removes them.
        let bodies: u64 = self.shared.bodies.list()?.iter().map(|b| b.len).sum();
        let mut total: u64 = bodies + scanned.values().map(|e| e.bytes).sum::<u64>();
        if total > max_size {
            let mut order: Vec<(bool, Option<SystemTime>, &String, u64)> = scanned
                .iter()
                .filter(|(stem, _)| stem.as_str() != spared)
                .map(|(stem, entry)| {
                    let meta = self.meta_of(stem);
                    let body = meta
                        .as_ref()
                        .and_then(|meta| meta.body().map(|body| self.shared.bodies.bytes(body)))
                        .unwrap_or(0);
                    let kept = meta
                        .and_then(|meta| meta.info())
                        .and_then(|info| info.native_expiry(Some(DEFAULT_NATIVE_RETENTION)))
                        .is_none_or(|deadline| deadline > now);
                    (kept, entry.used, stem, entry.bytes + body)
                })
                .collect();
            order.sort();
            let low_water = bound::low_water(max_size);
            for (_, _, stem, bytes) in order.into_iter().take(bound::MAX_EVICTED_PER_SCAN) {
                if total <= low_water {
                    break;
                }
                if self.forget(stem)?.is_some() {
                    total = total.saturating_sub(bytes);
                    locked.usage.evictions += 1;
                }
            }
        }
        locked.usage.bytes = total;
        Ok(())
    }

    /// Every metadata sidecar, decoded; undecodable ones are skipped.
    fn metas(&self) -> Result<Vec<(String, Meta)>, StorageError> {
        let mut metas = Vec::new();
        for (path, stem, extension) in files::list(&self.shared.dir)? {
            if extension != META_EXTENSION || stem.starts_with(files::TEMP_PREFIX) {
                continue;
            }
            match std::fs::read(&path).ok().as_deref().and_then(Meta::decode) {
                Some(meta) => metas.push((stem, meta)),
                None => {
                    tracing::warn!(path = %path.display(), "reqcache-fs: undecodable metadata skipped")
                }
            }
        }
        Ok(metas)
    }

    fn remove_where(
        &self,
        mut doomed: impl FnMut(&EntryInfo) -> bool,
    ) -> Result<u64, StorageError> {
        let (mut removed, mut freed) = (0, 0);
        for (stem, meta) in self.metas()? {
            if meta.info().is_some_and(|info| doomed(&info)) {
                if let Some(body) = meta.body() {
                    freed += self.shared.bodies.remove(body)?;
                }
                // The metadata names the entry's file: three unlinks, not six.
                let entry = files::remove_counted(&self.entry_path(&stem, meta.extension()))?;
                let kind = files::remove_counted(&self.kind_path(&stem))?;
                let sidecar = files::remove_counted(&self.meta_path(&stem))?;
                if sidecar.is_some() {
                    removed += 1;
                }
                freed += [entry, kind, sidecar].into_iter().flatten().sum::<u64>();
                self.unmark(&meta, &stem)?;
            }
        }
        self.freed(freed)?;
        Ok(removed)
    }

    /// Deletes the entries stored for `url`, found through the URL index.
    fn remove_url_files(&self, url: &str) -> Result<u64, StorageError> {
        let (mut removed, mut freed) = (0, 0);
        for stem in self.shared.urls.stems(url)? {
            match self.meta_of(&stem) {
                // A marker names its URL by hash only: trust but verify.
                Some(meta) if meta.url() != url => continue,
                Some(meta) => {
                    for group in meta.groups() {
                        self.shared.groups.remove(group, &stem)?;
                    }
                    let bytes = self.remove_stem(&stem)?;
                    removed += u64::from(bytes.is_some());
                    freed += bytes.unwrap_or(0);
                }
                // No metadata: an entry a crash left half-written, or none.
                None => freed += self.remove_stem(&stem)?.unwrap_or(0),
            }
            self.shared.urls.remove(url, &stem)?;
        }
        self.freed(freed)?;
        Ok(removed)
    }

    /// Builds the URL index of a directory written before there was one.
    fn ensure_url_index(&self) -> Result<(), StorageError> {
        if self.shared.urls.exists() {
            return Ok(());
        }
        let metas = self.metas()?;
        self.shared
            .urls
            .build(metas.iter().map(|(stem, meta)| (meta.url(), stem.as_str())))
    }
}

impl FileStorageBuilder {
    /// Put the directory under the platform's per-user cache directory
    /// (`~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on
    /// Windows), as requests-cache's `use_cache_dir`. Default: off.
    pub fn use_cache_dir(mut self, on: bool) -> Self {
        self.use_cache_dir = on;
        self
    }

    /// How often entries past their retention, and temporary files a
    /// killed writer left (older than an hour), are deleted in the
    /// background ([`FileStorage::sweep`]); `None` (or zero): never,
    /// leaving it to `sweep`, `remove_expired` or `reqcache
    /// remove-expired`. Default:
    /// [`DEFAULT_SWEEP_INTERVAL`](reqcache::storage::backend::DEFAULT_SWEEP_INTERVAL),
    /// 10 minutes. The sweeper runs on the Tokio runtime `open` is called
    /// on, never on the request path, and ends with the last clone of the
    /// storage.
    pub fn sweep_interval(mut self, interval: Option<Duration>) -> Self {
        self.sweep_interval = interval.filter(|i| !i.is_zero());
        self
    }

    /// At most this many bytes in the folder: the length of every entry's
    /// files (the entry, its metadata sidecar, its kind marker), headers
    /// included. Default:
    /// [`DEFAULT_MAX_SIZE`](reqcache::storage::backend::DEFAULT_MAX_SIZE),
    /// 1 GiB.
    ///
    /// The bytes are kept in a ledger file in the folder
    /// (`.reqcache-usage`), which every process writing the folder updates
    /// under a file lock, so the bound holds for several processes (set
    /// the same bound in all). A write that takes the folder past the
    /// bound scans it (one `stat` per file, one read per sidecar) and
    /// deletes entries past their retention first, then those least
    /// recently used, down to 90% of the bound: the next scan comes a
    /// tenth of the bound later. Recency is the entry file's modification
    /// time: written when stored, and set again by a read when it is a
    /// minute old, after the read has returned.
    ///
    /// How exact: the lengths never pass the bound after a write returns.
    /// The disk's blocks add up to one block (4 KiB on most file systems)
    /// per file, with three files per entry and an empty URL-index marker;
    /// bound small entries with that in mind. An entry larger than the
    /// bound is refused with [`StorageErrorKind::TooLarge`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let storage = reqcache_fs::FileStorage::builder(dir.path().join("cache"))
    ///     .max_size(512 << 20)
    ///     .open()
    ///     .await?;
    /// assert_eq!(storage.max_size(), Some(512 << 20));
    /// # Ok(()) }
    /// ```
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// No size bound: the folder grows with what is stored, less what the
    /// sweeper removes.
    pub fn unbounded_size(mut self) -> Self {
        self.max_size = None;
        self
    }

    /// Opens the directory, creating it and its parents as needed.
    ///
    /// # Errors
    /// [`StorageErrorKind::Config`] when `use_cache_dir` is on and the
    /// platform has no cache directory; [`StorageErrorKind::Io`] when the
    /// directory cannot be created.
    pub async fn open(self) -> Result<FileStorage, StorageError> {
        let dir = resolve(&self.cache_name, self.use_cache_dir)?;
        let created = dir.clone();
        tokio::task::spawn_blocking(move || std::fs::create_dir_all(&created))
            .await
            .map_err(|e| StorageError::with_source(StorageErrorKind::Io, "file task failed", e))?
            .map_err(|e| files::io_error(&format!("cannot create {}", dir.display()), e))?;
        let storage = FileStorage {
            shared: Arc::new(Shared {
                urls: MarkerIndex::new(&dir, URL_INDEX),
                groups: MarkerIndex::new(&dir, GROUP_INDEX),
                ledger: Ledger::new(&dir),
                bodies: Bodies::new(&dir),
                max_size: self.max_size,
                dir,
            }),
        };
        storage.blocking(FileStorage::ensure_url_index).await?;
        if let Some(interval) = self.sweep_interval {
            let weak = Arc::downgrade(&storage.shared);
            let name = format!("files {}", storage.dir().display());
            spawn_sweeper(weak, interval, name, |shared| async move {
                FileStorage { shared }.sweep(SystemTime::now()).await
            });
        }
        Ok(storage)
    }
}

/// `cache_name` as a directory: `~` is the home folder; with `use_cache_dir`,
/// relative names go under the platform's cache directory.
fn resolve(cache_name: &Path, use_cache_dir: bool) -> Result<PathBuf, StorageError> {
    if let Ok(rest) = cache_name.strip_prefix("~")
        && let Some(home) = home::home_dir()
    {
        return Ok(home.join(rest));
    }
    if use_cache_dir && cache_name.is_relative() {
        let base = dirs::cache_dir().ok_or_else(|| {
            StorageError::new(
                StorageErrorKind::Config,
                "this platform has no user cache directory",
            )
        })?;
        return Ok(base.join(cache_name));
    }
    Ok(cache_name.to_path_buf())
}

#[async_trait]
impl ByteStore for FileStorage {
    /// With a bound, a read whose entry was last stamped a minute ago
    /// stamps it again, on the blocking pool once the read has returned.
    async fn read(&self, key: &str, _now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        let key = key.to_owned();
        let bounded = self.shared.max_size.is_some();
        let (bytes, stale_stamp) = self
            .blocking(move |this| {
                let Some(path) = this.find_entry(&files::stem(&key)) else {
                    return Ok((None, None));
                };
                match files::read_with_mtime(&path) {
                    Ok((bytes, modified)) => {
                        let stale = bounded
                            && modified.is_none_or(|m| {
                                m.elapsed().is_ok_and(|age| age >= ACCESS_STAMP_STEP)
                            });
                        Ok((Some(bytes), stale.then_some(path)))
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok((None, None)),
                    Err(error) => Err(files::io_error(
                        &format!("cannot read {}", path.display()),
                        error,
                    )),
                }
            })
            .await?;
        if let Some(path) = stale_stamp {
            drop(tokio::task::spawn_blocking(move || bound::stamp(&path)));
        }
        Ok(bytes)
    }

    /// An entry that names a body kept in chunks is written once the
    /// body's file is whole (else refused): the file is renamed from
    /// `.part` to `.body`, then the entry's files are written, then the
    /// body the entry named before, if another, is removed.
    async fn write(&self, record: Record) -> Result<(), StorageError> {
        let len = record.value.len() as u64;
        fits_bound(len, self.shared.max_size, "the folder")?;
        self.blocking(move |this| {
            let info = &record.info;
            let stem = files::stem(&info.key);
            let bounded = this.shared.max_size.is_some();
            let before = if bounded { this.stem_bytes(&stem) } else { 0 };
            // The body's bytes were counted as its chunks came.
            let counted = match &record.body {
                Some(body) if this.shared.bodies.complete(body)? => body.len,
                _ => 0,
            };
            let old = this.meta_of(&stem);
            let replaced = old
                .as_ref()
                .and_then(|meta| meta.body().map(str::to_owned))
                .filter(|old| record.body.as_ref().is_none_or(|body| body.id != *old));
            this.write_files(&record, &stem)?;
            // Out of the groups it was in and is no longer.
            for group in old.iter().flat_map(Meta::groups) {
                if !info.groups.contains(group) {
                    this.shared.groups.remove(group, &stem)?;
                }
            }
            if let Some(old) = replaced {
                // `before` counted it, as the sidecar named it.
                this.shared.bodies.remove(&old)?;
            }
            if bounded {
                this.account_write(&stem, before + counted, this.stem_bytes(&stem))?;
            }
            Ok(())
        })
        .await
    }

    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        let key = key.to_owned();
        self.blocking(move |this| {
            let freed = this.forget(&files::stem(&key))?;
            this.freed(freed.unwrap_or(0))?;
            Ok(freed.is_some())
        })
        .await
    }

    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        let url = url.to_owned();
        self.blocking(move |this| this.remove_url_files(&url)).await
    }

    /// From the group's marker directory.
    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        let group = group.to_owned();
        self.blocking(move |this| {
            Ok(this
                .group_members(&group)?
                .into_iter()
                .map(|(_, key)| key)
                .collect())
        })
        .await
    }

    async fn remove_group(&self, group: &str) -> Result<u64, StorageError> {
        let group = group.to_owned();
        self.blocking(move |this| {
            let (mut removed, mut freed) = (0, 0);
            for (stem, _) in this.group_members(&group)? {
                if let Some(bytes) = this.forget(&stem)? {
                    removed += 1;
                    freed += bytes;
                }
            }
            this.freed(freed)?;
            Ok(removed)
        })
        .await
    }

    async fn remove_all(&self) -> Result<(), StorageError> {
        self.blocking(|this| {
            for (path, stem, extension) in files::list(&this.shared.dir)? {
                let ours = stem.starts_with(files::TEMP_PREFIX)
                    || extension == META_EXTENSION
                    || extension == KIND_EXTENSION
                    || (files::is_entry_extension(&extension)
                        && stem.len() == 32
                        && stem.bytes().all(|b| b.is_ascii_hexdigit()));
                if ours {
                    files::remove_any(&path)?;
                }
            }
            this.shared.bodies.clear()?;
            if this.shared.max_size.is_some() {
                let mut locked = this.shared.ledger.lock()?;
                locked.usage.bytes = this.scanned_bytes()?;
                locked.save()?;
            }
            this.shared.groups.clear()?;
            this.shared.urls.clear()
        })
        .await
    }

    /// Sidecars less kind markers: responses, from the listing alone.
    async fn count(&self) -> Result<u64, StorageError> {
        self.blocking(|this| {
            let (mut sidecars, mut markers) = (0u64, 0u64);
            for (_, stem, extension) in files::list(&this.shared.dir)? {
                if stem.starts_with(files::TEMP_PREFIX) {
                    continue;
                }
                sidecars += u64::from(extension == META_EXTENSION);
                markers += u64::from(extension == KIND_EXTENSION);
            }
            Ok(sidecars.saturating_sub(markers))
        })
        .await
    }

    async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> {
        self.blocking(|this| {
            Ok(this
                .metas()?
                .into_iter()
                .filter_map(|(_, meta)| meta.info())
                .collect())
        })
        .await
    }

    /// The ledger's bytes (counted afresh when it has none), the bound and
    /// the evictions every process made; without a bound, the bytes of
    /// every entry's files, counted from the folder.
    async fn usage(&self) -> Result<StorageUsage, StorageError> {
        self.blocking(|this| {
            let Some(max_size) = this.shared.max_size else {
                return Ok(StorageUsage::new(this.scanned_bytes()?, None, 0));
            };
            let mut locked = this.shared.ledger.lock()?;
            if !locked.known {
                locked.usage.bytes = this.scanned_bytes()?;
            }
            let usage = locked.usage;
            locked.save()?;
            Ok(StorageUsage::new(
                usage.bytes,
                Some(max_size),
                usage.evictions,
            ))
        })
        .await
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        self.blocking(move |this| {
            files::remove_stale_temporaries(&this.shared.dir, STALE_TEMPORARY)?;
            this.remove_where(|info| info.is_expired(now) || info.is_past_retention(now))
        })
        .await
    }

    fn chunks(&self) -> Option<Arc<dyn ChunkStore>> {
        Some(Arc::new(self.clone()))
    }
}

/// Bodies past [`CHUNKED_FROM`](reqcache::storage::backend::CHUNKED_FROM)
/// bytes are kept in a file each, in the folder's `bodies/`: chunks of
/// [`CHUNK_SIZE`] are written into `<id>.part` as they come, which becomes
/// `<id>.body` (flushed to disk, renamed) when the entry naming it is
/// written; hits read a chunk at a time with positioned reads. The body
/// goes with its entry (removal, eviction, sweep, a new body). Body files
/// no entry names (a write cut short) are removed by the sweep once
/// [`ORPHAN_GRACE`] old, and count against the bound until then.
#[async_trait]
impl ChunkStore for FileStorage {
    fn chunk_size(&self) -> u32 {
        CHUNK_SIZE
    }

    fn max_size(&self) -> Option<u64> {
        self.shared.max_size
    }

    async fn write_chunk(&self, id: &str, index: u64, data: Bytes) -> Result<(), StorageError> {
        let id = id.to_owned();
        self.blocking(move |this| {
            this.shared.bodies.write(&id, index, &data)?;
            if this.shared.max_size.is_some() {
                this.account_write("", 0, data.len() as u64)?;
            }
            Ok(())
        })
        .await
    }

    async fn read_chunk(&self, id: &str, index: u64) -> Result<Option<Bytes>, StorageError> {
        let id = id.to_owned();
        self.blocking(move |this| this.shared.bodies.read(&id, index))
            .await
    }

    async fn discard(&self, id: &str) -> Result<(), StorageError> {
        let id = id.to_owned();
        self.blocking(move |this| {
            let freed = this.shared.bodies.remove(&id)?;
            this.freed(freed)
        })
        .await
    }
}

fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}
