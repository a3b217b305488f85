//! File names, atomic writes, and the metadata sidecar.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use reqcache::storage::backend::EntryMetadata;
use reqcache::storage::backend::Sidecar;
use reqcache::storage::{EntryInfo, Serializer, StorageError, StorageErrorKind};
use serde::{Deserialize, Serialize};

/// The extension of metadata sidecars.
pub(crate) const META_EXTENSION: &str = "meta";
/// The extension of the marker beside an alias's or a vary index's sidecar
/// (it holds the kind's name): `len` counts sidecars less markers.
pub(crate) const KIND_EXTENSION: &str = "kind";
/// The prefix of temporary files.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// The file name stem of a cache key: 32 hex digits of its BLAKE3 hash.
pub(crate) fn stem(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex()[..32].to_string()
}

/// `true` for the extensions of entry files.
pub(crate) fn is_entry_extension(extension: &str) -> bool {
    Serializer::all().iter().any(|s| s.extension() == extension)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, flushed to disk, renamed over `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{name}-{}-{}",
        std::process::id(),
        unique()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(error) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error(&format!("cannot write {}", path.display()), error));
    }
    Ok(())
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Removes a file; `Ok(false)` if it was not there.
pub(crate) fn remove(path: &Path) -> Result<bool, StorageError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(io_error(
            &format!("cannot remove {}", path.display()),
            error,
        )),
    }
}

/// Removes a file; its length if it was there.
pub(crate) fn remove_counted(path: &Path) -> Result<Option<u64>, StorageError> {
    let len = match std::fs::metadata(path) {
        Ok(metadata) => metadata.len(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(&format!("cannot read {}", path.display()), error)),
    };
    Ok(remove(path)?.then_some(len))
}

/// A file's bytes and its modification time.
pub(crate) fn read_with_mtime(path: &Path) -> std::io::Result<(Vec<u8>, Option<SystemTime>)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok((bytes, metadata.modified().ok()))
}

/// Removes a file, or a directory with everything in it (a temporary index
/// left by a crash); `Ok(false)` if it was not there.
pub(crate) fn remove_any(path: &Path) -> Result<bool, StorageError> {
    if !path.is_dir() {
        return remove(path);
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(io_error(
            &format!("cannot remove {}", path.display()),
            error,
        )),
    }
}

pub(crate) fn io_error(message: &str, error: std::io::Error) -> StorageError {
    StorageError::with_source(StorageErrorKind::Io, message, error)
}

/// The files of a directory, with their stem and extension.
pub(crate) fn list(dir: &Path) -> Result<Vec<(PathBuf, String, String)>, StorageError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error(&format!("cannot list {}", dir.display()), error)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(&format!("cannot list {}", dir.display()), e))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let (stem, extension) = name.rsplit_once('.').unwrap_or((&name, ""));
        files.push((path.clone(), stem.to_owned(), extension.to_owned()));
    }
    Ok(files)
}

/// Removes temporary files older than `age` (left by a crashed writer).
pub(crate) fn remove_stale_temporaries(dir: &Path, age: Duration) -> Result<(), StorageError> {
    let now = SystemTime::now();
    for (path, _, _) in list(dir)? {
        let is_temp = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(TEMP_PREFIX));
        let old = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| now.duration_since(modified).is_ok_and(|a| a >= age));
        if is_temp && old {
            remove_any(&path)?;
        }
    }
    Ok(())
}

/// An entry's metadata sidecar: its key, its metadata, and the extension
/// of its entry file.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Meta {
    key: String,
    entry: EntryMetadata,
    extension: String,
    /// The id of the body the entry keeps in chunks, if any (left out
    /// otherwise: older sidecars have no such field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

impl Sidecar for Meta {
    fn metadata(&self) -> &EntryMetadata {
        &self.entry
    }
}

impl Meta {
    pub(crate) fn of(info: &EntryInfo, extension: &str, body: Option<&str>) -> Self {
        Self {
            key: info.key.clone(),
            entry: EntryMetadata::from_info(info),
            extension: extension.to_owned(),
            body: body.map(str::to_owned),
        }
    }

    /// The id of the body the entry keeps in chunks, if any.
    pub(crate) fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    /// The entry's key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The entry's cache groups.
    pub(crate) fn groups(&self) -> &[String] {
        self.entry.groups()
    }

    /// The extension of the entry file this describes.
    pub(crate) fn extension(&self) -> &str {
        &self.extension
    }

    pub(crate) fn info(&self) -> Option<EntryInfo> {
        self.entry.info(self.key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_safe_file_names_whatever_the_key() {
        for key in [
            "abc",
            "../../etc/passwd",
            "CON",
            "a/b\\c:d*e?f\"g<h>i|j",
            "",
        ] {
            let stem = stem(key);
            assert_eq!(stem.len(), 32);
            assert!(stem.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
        }
        assert_ne!(stem("a"), stem("b"));
    }
}
