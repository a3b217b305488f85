//! Marker-file indexes: which entries are stored for a URL, or are in a
//! cache group, as empty marker files `<dir>/<index>/<hash of the
//! name>/<entry stem>`, so that `delete_url` (invalidation after unsafe
//! requests) and group purges read one small directory instead of every
//! metadata sidecar. The URL index is `url-index`, the group index
//! `group-index`.
//!
//! Markers are hints, never the truth: a marker is written before its entry,
//! so every entry has one (a crash can leave a marker without an entry, and
//! an entry rewritten out of a group leaves its old marker, both of which
//! the lookups tolerate and remove), and whatever a marker points at is
//! checked against the entry's own metadata before it is used.

use std::path::{Path, PathBuf};

use reqcache::StorageError;

use crate::files;

/// The URL index's directory, inside the cache directory.
pub(crate) const URL_INDEX: &str = "url-index";
/// The group index's directory, inside the cache directory.
pub(crate) const GROUP_INDEX: &str = "group-index";

/// The marker files of one index of one cache directory.
#[derive(Debug)]
pub(crate) struct MarkerIndex {
    root: PathBuf,
    name: &'static str,
}

impl MarkerIndex {
    /// The index `name` ([`URL_INDEX`], [`GROUP_INDEX`]) of `cache_dir`.
    pub(crate) fn new(cache_dir: &Path, name: &'static str) -> Self {
        Self {
            root: cache_dir.join(name),
            name,
        }
    }

    fn dir_of(&self, url: &str) -> PathBuf {
        self.root.join(files::stem(url))
    }

    /// Whether the index has been built for this directory.
    pub(crate) fn exists(&self) -> bool {
        self.root.is_dir()
    }

    /// Records that the entry `stem` is stored for `url` (or is in the
    /// group `url`).
    pub(crate) fn add(&self, url: &str, stem: &str) -> Result<(), StorageError> {
        add_marker(&self.dir_of(url), stem)
    }

    /// Forgets the entry `stem` of `url`; the URL's directory goes when empty.
    pub(crate) fn remove(&self, url: &str, stem: &str) -> Result<(), StorageError> {
        let dir = self.dir_of(url);
        files::remove(&dir.join(stem))?;
        // Fails while other markers remain, or when another writer adds one
        // meanwhile: both fine.
        let _ = std::fs::remove_dir(&dir);
        Ok(())
    }

    /// The stems of the entries marked for `url`.
    pub(crate) fn stems(&self, url: &str) -> Result<Vec<String>, StorageError> {
        Ok(files::list(&self.dir_of(url))?
            .into_iter()
            .map(|(_, stem, _)| stem)
            .collect())
    }

    /// Every marker: the hash of what it indexes (its directory's name),
    /// the entry's stem, and when it was last written.
    pub(crate) fn markers(&self) -> Result<Vec<Marker>, StorageError> {
        let mut markers = Vec::new();
        for (dir, hash, _) in files::list(&self.root)? {
            for (path, stem, _) in files::list(&dir)? {
                let written = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                markers.push(Marker {
                    hash: hash.clone(),
                    stem,
                    written,
                });
            }
        }
        Ok(markers)
    }

    /// Removes one marker found by [`markers`](Self::markers); its
    /// directory goes when empty.
    pub(crate) fn remove_marker(&self, marker: &Marker) -> Result<(), StorageError> {
        let dir = self.root.join(&marker.hash);
        files::remove(&dir.join(&marker.stem))?;
        let _ = std::fs::remove_dir(&dir);
        Ok(())
    }

    /// Removes every marker, leaving an empty index.
    pub(crate) fn clear(&self) -> Result<(), StorageError> {
        remove_tree(&self.root)?;
        std::fs::create_dir_all(&self.root)
            .map_err(|e| files::io_error(&format!("cannot create {}", self.root.display()), e))
    }

    /// Builds the index of a directory written without one (by an earlier
    /// version), from `(url, stem)` pairs: in a temporary directory first,
    /// renamed into place when complete, so a crash never leaves a partial
    /// index that looks whole.
    pub(crate) fn build<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), StorageError> {
        let parent = self.root.parent().unwrap_or(Path::new("."));
        let building = parent.join(format!(
            "{}{}-{}",
            files::TEMP_PREFIX,
            self.name,
            std::process::id()
        ));
        remove_tree(&building)?;
        for (url, stem) in entries {
            add_marker(&building.join(files::stem(url)), stem)?;
        }
        std::fs::create_dir_all(&building)
            .map_err(|e| files::io_error(&format!("cannot create {}", building.display()), e))?;
        match std::fs::rename(&building, &self.root) {
            Ok(()) => Ok(()),
            // Another process built it first: theirs will do.
            Err(_) if self.exists() => remove_tree(&building),
            Err(error) => Err(files::io_error(
                &format!("cannot create {}", self.root.display()),
                error,
            )),
        }
    }
}

/// One marker file, as [`MarkerIndex::markers`] lists it.
#[derive(Debug)]
pub(crate) struct Marker {
    /// The hash of the URL or group (the name of its directory).
    pub(crate) hash: String,
    /// The entry's stem.
    pub(crate) stem: String,
    /// When it was last written (a write of its entry writes it again).
    pub(crate) written: Option<std::time::SystemTime>,
}

/// The hash [`MarkerIndex`] names a URL's or a group's directory by.
pub(crate) fn hash_of(name: &str) -> String {
    files::stem(name)
}

fn add_marker(dir: &Path, stem: &str) -> Result<(), StorageError> {
    let marker = dir.join(stem);
    let created = std::fs::File::create(&marker).or_else(|error| {
        if error.kind() != std::io::ErrorKind::NotFound {
            return Err(error);
        }
        std::fs::create_dir_all(dir)?;
        std::fs::File::create(&marker)
    });
    created
        .map(drop)
        .map_err(|e| files::io_error(&format!("cannot write {}", marker.display()), e))
}

fn remove_tree(path: &Path) -> Result<(), StorageError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(files::io_error(
            &format!("cannot remove {}", path.display()),
            error,
        )),
    }
}
