//! [`StorageError`]: what a storage returns when it fails.

use std::fmt;

/// The boxed error type carried as a [`StorageError`]'s source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in a storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageErrorKind {
    /// The backend could not be reached or refused the operation.
    Backend,
    /// A stored value did not decode.
    Decode,
    /// A value could not be encoded.
    Encode,
    /// The entry is larger than the backend accepts.
    TooLarge,
    /// The storage was configured wrongly (a bad path or URL).
    Config,
    /// A local I/O failure.
    Io,
}

impl fmt::Display for StorageErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Backend => "storage backend error",
            Self::Decode => "stored value does not decode",
            Self::Encode => "value could not be encoded",
            Self::TooLarge => "entry too large for the storage",
            Self::Config => "storage configuration error",
            Self::Io => "storage I/O error",
        })
    }
}

/// A storage failure: a [`StorageErrorKind`], a message, and the driver's own
/// error as [`source`](std::error::Error::source).
///
/// # Example
/// ```
/// use reqcache::StorageError;
/// use reqcache::storage::StorageErrorKind;
///
/// let error = StorageError::new(StorageErrorKind::Backend, "connection refused");
/// assert_eq!(error.kind(), StorageErrorKind::Backend);
/// assert_eq!(error.to_string(), "storage backend error: connection refused");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StorageError {
    kind: StorageErrorKind,
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl StorageError {
    /// An error of `kind` with a message.
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(
        kind: StorageErrorKind,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> StorageErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }
}
