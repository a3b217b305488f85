//! Bodies kept in chunks: one file per body in the folder's `bodies/`,
//! `<id>.part` while its chunks are written, `<id>.body` once the entry
//! that names it is written. Chunks are read back with positioned reads.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqcache::storage::StorageError;
use reqcache::storage::backend::BodyRef;

use crate::files;

/// The folder of bodies, in the cache folder.
pub(crate) const BODIES: &str = "bodies";

/// The length of the chunks of a body kept in chunks: 1 MiB.
pub const CHUNK_SIZE: u32 = 1 << 20;

/// How old a body file that no entry names must be before a sweep deletes
/// it: one hour, longer than any body takes to write.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

/// The bodies of one cache folder.
#[derive(Debug)]
pub(crate) struct Bodies {
    dir: PathBuf,
}

impl Bodies {
    pub(crate) fn new(cache_dir: &Path) -> Self {
        Self {
            dir: cache_dir.join(BODIES),
        }
    }

    /// The file of a body whose entry is written.
    pub(crate) fn whole(&self, id: &str) -> Option<PathBuf> {
        valid_id(id).then(|| self.dir.join(format!("{id}.body")))
    }

    /// The file of a body being written.
    fn part(&self, id: &str) -> Option<PathBuf> {
        valid_id(id).then(|| self.dir.join(format!("{id}.part")))
    }

    /// Writes chunk `index` of body `id` where it goes in the part file
    /// (the layer has several chunk writes under way at once, which may
    /// land in any order; it names the body only once all have).
    pub(crate) fn write(&self, id: &str, index: u64, data: &[u8]) -> Result<(), StorageError> {
        let path = self.part(id).ok_or_else(|| invalid(id))?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| files::io_error(&format!("cannot create {}", self.dir.display()), e))?;
        let error = |e| files::io_error(&format!("cannot write {}", path.display()), e);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(error)?;
        write_all_at(&file, data, index.saturating_mul(u64::from(CHUNK_SIZE))).map_err(error)
    }

    /// Makes body `body` whole for the entry about to name it: its part
    /// file, of the body's length, flushed to disk and renamed. `Ok(true)`
    /// when it was renamed now, `Ok(false)` when it already was (the entry
    /// is written again with the same body: a revalidation).
    pub(crate) fn complete(&self, body: &BodyRef) -> Result<bool, StorageError> {
        let whole = self.whole(&body.id).ok_or_else(|| invalid(&body.id))?;
        let part = self.part(&body.id).ok_or_else(|| invalid(&body.id))?;
        if std::fs::metadata(&whole).is_ok_and(|m| m.len() == body.len) {
            return Ok(false);
        }
        let len = std::fs::metadata(&part).map_or(0, |m| m.len());
        if len != body.len {
            return Err(StorageError::new(
                reqcache::storage::StorageErrorKind::Backend,
                format!(
                    "body {} is not whole: {len} bytes stored, {} expected",
                    body.id, body.len
                ),
            ));
        }
        let error = |e| files::io_error(&format!("cannot keep {}", part.display()), e);
        std::fs::File::open(&part)
            .and_then(|file| file.sync_all())
            .map_err(error)?;
        std::fs::rename(&part, &whole).map_err(error)?;
        Ok(true)
    }

    /// Chunk `index` of body `id`: up to a chunk's length from where it
    /// starts; `None` when the body has no file. A body whose entry is not
    /// written yet is read from its part file: requests that followed the
    /// one that fetched it read it while its entry's write is on its way.
    pub(crate) fn read(&self, id: &str, index: u64) -> Result<Option<Bytes>, StorageError> {
        let (Some(whole), Some(part)) = (self.whole(id), self.part(id)) else {
            return Ok(None);
        };
        // Whole, else still a part, else renamed whole in between.
        let mut opened = None;
        for path in [&whole, &part, &whole] {
            match std::fs::File::open(path) {
                Ok(file) => {
                    opened = Some((file, path));
                    break;
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(files::io_error(
                        &format!("cannot read {}", path.display()),
                        error,
                    ));
                }
            }
        }
        let Some((file, path)) = opened else {
            return Ok(None);
        };
        let error = |e| files::io_error(&format!("cannot read {}", path.display()), e);
        let len = file.metadata().map_err(error)?.len();
        let start = index.saturating_mul(u64::from(CHUNK_SIZE));
        let want = len.saturating_sub(start).min(u64::from(CHUNK_SIZE)) as usize;
        let mut chunk = vec![0u8; want];
        read_exact_at(&file, &mut chunk, start).map_err(error)?;
        Ok(Some(Bytes::from(chunk)))
    }

    /// Removes body `id`'s files; the bytes freed.
    pub(crate) fn remove(&self, id: &str) -> Result<u64, StorageError> {
        let mut freed = 0;
        for path in [self.whole(id), self.part(id)].into_iter().flatten() {
            freed += files::remove_counted(&path)?.unwrap_or(0);
        }
        Ok(freed)
    }

    /// The bytes of body `id`'s files.
    pub(crate) fn bytes(&self, id: &str) -> u64 {
        [self.whole(id), self.part(id)]
            .into_iter()
            .flatten()
            .map(|path| std::fs::metadata(path).map_or(0, |m| m.len()))
            .sum()
    }

    /// Every body file, whole or being written.
    pub(crate) fn list(&self) -> Result<Vec<BodyFile>, StorageError> {
        let mut found = Vec::new();
        for (path, id, extension) in files::list(&self.dir)? {
            if extension != "body" && extension != "part" {
                continue;
            }
            if let Ok(metadata) = std::fs::metadata(&path) {
                found.push(BodyFile {
                    id,
                    len: metadata.len(),
                    modified: metadata.modified().ok(),
                });
            }
        }
        Ok(found)
    }

    /// Removes every body file.
    pub(crate) fn clear(&self) -> Result<(), StorageError> {
        for body in self.list()? {
            self.remove(&body.id)?;
        }
        Ok(())
    }
}

/// A body's file, as [`Bodies::list`] finds it.
pub(crate) struct BodyFile {
    pub(crate) id: String,
    pub(crate) len: u64,
    /// When it was last written.
    pub(crate) modified: Option<SystemTime>,
}

/// Ids the core makes: hex digits and dashes, so never a path.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn invalid(id: &str) -> StorageError {
    StorageError::new(
        reqcache::storage::StorageErrorKind::Backend,
        format!("{id:?} is not a body id"),
    )
}

#[cfg(unix)]
fn write_all_at(file: &std::fs::File, buf: &[u8], at: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, at)
}

#[cfg(windows)]
fn write_all_at(file: &std::fs::File, mut buf: &[u8], mut at: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, buf, at)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
        at += n as u64;
    }
    Ok(())
}

#[cfg(unix)]
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, at)
}

#[cfg(windows)]
fn read_exact_at(file: &std::fs::File, mut buf: &mut [u8], mut at: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_read(file, buf, at)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        at += n as u64;
    }
    Ok(())
}
