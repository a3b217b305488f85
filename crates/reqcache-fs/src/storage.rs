//! [`FileStorage`] and its builder.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqcache::storage::backend::{
    ByteStore, DEFAULT_NATIVE_RETENTION, DEFAULT_SWEEP_INTERVAL, Record, Sidecar, spawn_sweeper,
};
use reqcache::storage::{EntryInfo, Serializer, StorageError, StorageErrorKind};

use crate::files::{self, KIND_EXTENSION, META_EXTENSION, Meta};
use crate::url_index::UrlIndex;

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
    urls: UrlIndex,
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
        }
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
            this.remove_where(|info| {
                info.native_expiry(Some(DEFAULT_NATIVE_RETENTION))
                    .is_some_and(|deadline| deadline <= now)
            })
        })
        .await
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

    /// Deletes an entry's files and its URL marker; `true` if there was any.
    fn forget(&self, stem: &str) -> Result<bool, StorageError> {
        if let Some(meta) = self.meta_of(stem) {
            self.shared.urls.remove(meta.url(), stem)?;
        }
        self.remove_stem(stem)
    }

    /// Deletes an entry's files; `true` if there was any.
    fn remove_stem(&self, stem: &str) -> Result<bool, StorageError> {
        let mut removed = files::remove(&self.meta_path(stem))?;
        files::remove(&self.kind_path(stem))?;
        for serializer in Serializer::all() {
            removed |= files::remove(&self.entry_path(stem, serializer.extension()))?;
        }
        Ok(removed)
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
        let mut removed = 0;
        for (stem, meta) in self.metas()? {
            if meta.info().is_some_and(|info| doomed(&info)) {
                // The metadata names the entry's file: two unlinks, not five.
                files::remove(&self.entry_path(&stem, meta.extension()))?;
                if files::remove(&self.meta_path(&stem))? {
                    removed += 1;
                }
                self.shared.urls.remove(meta.url(), &stem)?;
            }
        }
        Ok(removed)
    }

    /// Deletes the entries stored for `url`, found through the URL index.
    fn remove_url_files(&self, url: &str) -> Result<u64, StorageError> {
        let mut removed = 0;
        for stem in self.shared.urls.stems(url)? {
            match self.meta_of(&stem) {
                // A marker names its URL by hash only: trust but verify.
                Some(meta) if meta.url() != url => continue,
                Some(_) => removed += u64::from(self.remove_stem(&stem)?),
                // No metadata: an entry a crash left half-written, or none.
                None => drop(self.remove_stem(&stem)?),
            }
            self.shared.urls.remove(url, &stem)?;
        }
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
                urls: UrlIndex::new(&dir),
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
    async fn read(&self, key: &str, _now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        let key = key.to_owned();
        self.blocking(move |this| {
            let Some(path) = this.find_entry(&files::stem(&key)) else {
                return Ok(None);
            };
            match std::fs::read(&path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(error) => Err(files::io_error(
                    &format!("cannot read {}", path.display()),
                    error,
                )),
            }
        })
        .await
    }

    async fn write(&self, record: Record) -> Result<(), StorageError> {
        self.blocking(move |this| {
            let info = &record.info;
            let stem = files::stem(&info.key);
            let extension = record.serializer.extension();
            // The marker first: every entry on disk has one.
            this.shared.urls.add(&info.url, &stem)?;
            files::write_atomically(&this.entry_path(&stem, extension), &record.value)?;
            // An entry written before with another serializer goes.
            for serializer in Serializer::all() {
                if serializer.extension() != extension {
                    files::remove(&this.entry_path(&stem, serializer.extension()))?;
                }
            }
            // The kind marker before the sidecar: a listing never counts an
            // alias or a vary index as a response.
            if info.kind.is_response() {
                files::remove(&this.kind_path(&stem))?;
            } else {
                files::write_atomically(&this.kind_path(&stem), info.kind.to_string().as_bytes())?;
            }
            files::write_atomically(&this.meta_path(&stem), &Meta::of(info, extension).encode())
        })
        .await
    }

    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        let key = key.to_owned();
        self.blocking(move |this| this.forget(&files::stem(&key)))
            .await
    }

    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        let url = url.to_owned();
        self.blocking(move |this| this.remove_url_files(&url)).await
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

    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        self.blocking(move |this| {
            files::remove_stale_temporaries(&this.shared.dir, STALE_TEMPORARY)?;
            this.remove_where(|info| info.is_expired(now) || info.is_past_retention(now))
        })
        .await
    }
}
