//! The size bound of a cache folder: a ledger of the bytes its entries
//! take, kept in a file that every process updates under a lock, and the
//! eviction scan that runs when a write passes the bound.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use reqcache::StorageError;

use crate::files::{self, KIND_EXTENSION, META_EXTENSION};

/// The ledger's file in the cache folder: the bytes kept and the
/// evictions made, as text.
const LEDGER: &str = ".reqcache-usage";

/// The eviction scan brings the folder down to this share of the bound,
/// so that the next scan comes a tenth of the bound later.
const LOW_WATER_PERCENT: u64 = 90;

/// The most entries one scan deletes: a folder far over its bound (filled
/// under a larger one, or none) comes down over several writes instead of
/// holding the ledger's lock for all of it.
pub(crate) const MAX_EVICTED_PER_SCAN: usize = 10_000;

/// What the ledger holds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    /// The bytes of every entry's files (entry, sidecar, kind marker).
    pub(crate) bytes: u64,
    /// How many entries the bound evicted, in every process.
    pub(crate) evictions: u64,
}

/// A folder's ledger.
#[derive(Debug)]
pub(crate) struct Ledger {
    path: PathBuf,
}

/// The ledger, locked for one process's change; unlocked when dropped.
pub(crate) struct Locked {
    file: File,
    pub(crate) usage: Usage,
    /// Whether the file held a usage (else the folder must be scanned).
    pub(crate) known: bool,
}

impl Ledger {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(LEDGER),
        }
    }

    /// Takes the ledger's lock (every process writing the folder takes it
    /// for each change) and reads it.
    pub(crate) fn lock(&self) -> Result<Locked, StorageError> {
        let error = |e| files::io_error(&format!("cannot lock {}", self.path.display()), e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(error)?;
        file.lock().map_err(error)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(error)?;
        let mut numbers = text.split_whitespace().map(str::parse::<u64>);
        let (usage, known) = match (numbers.next(), numbers.next()) {
            (Some(Ok(bytes)), Some(Ok(evictions))) => (Usage { bytes, evictions }, true),
            _ => (Usage::default(), false),
        };
        Ok(Locked { file, usage, known })
    }
}

impl Locked {
    /// Writes the usage back (the lock goes when `self` is dropped).
    pub(crate) fn save(mut self) -> Result<(), StorageError> {
        let text = format!("{} {}\n", self.usage.bytes, self.usage.evictions);
        let result = (|| {
            self.file.set_len(0)?;
            self.file.rewind()?;
            self.file.write_all(text.as_bytes())
        })();
        result.map_err(|e| files::io_error("cannot write the usage ledger", e))
    }
}

/// One entry, as the eviction scan sees it.
#[derive(Debug, Default)]
pub(crate) struct Scanned {
    /// The bytes of its files.
    pub(crate) bytes: u64,
    /// Its entry file's modification time: its last write or stamped read.
    pub(crate) used: Option<SystemTime>,
}

/// Every entry of the folder, by stem, with its bytes and last use; the
/// temporary files and anything not the storage's own are left out.
pub(crate) fn scan(dir: &Path) -> Result<HashMap<String, Scanned>, StorageError> {
    let mut entries: HashMap<String, Scanned> = HashMap::new();
    for (path, stem, extension) in files::list(dir)? {
        let ours = stem.len() == 32
            && stem.bytes().all(|b| b.is_ascii_hexdigit())
            && (extension == META_EXTENSION
                || extension == KIND_EXTENSION
                || files::is_entry_extension(&extension));
        if !ours {
            continue;
        }
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue; // removed meanwhile
        };
        let scanned = entries.entry(stem).or_default();
        scanned.bytes += metadata.len();
        if files::is_entry_extension(&extension) {
            scanned.used = metadata.modified().ok();
        }
    }
    Ok(entries)
}

/// The bytes to come down to once a write passed `max_size`.
pub(crate) fn low_water(max_size: u64) -> u64 {
    max_size / 100 * LOW_WATER_PERCENT
}

/// Sets `path`'s modification time to now, the entry's access stamp.
pub(crate) fn stamp(path: &Path) {
    if let Ok(file) = File::options().write(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}
