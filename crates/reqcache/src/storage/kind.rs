//! [`RecordKind`]: how listings tell a response from the records that lead
//! to one.

use std::fmt;

/// The kind of a [`StoredRecord`](super::StoredRecord), as listings show it.
///
/// ```
/// use reqcache::storage::backend::RecordKind;
/// assert_eq!(RecordKind::from_code(RecordKind::Alias.code()), Some(RecordKind::Alias));
/// assert_eq!(RecordKind::VaryIndex.to_string(), "vary-index");
/// assert_eq!(RecordKind::default(), RecordKind::Response);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// A response.
    #[default]
    Response,
    /// An [`Alias`](super::Alias).
    Alias,
    /// A [`VaryIndex`](super::VaryIndex).
    VaryIndex,
}

impl RecordKind {
    /// The kind's number in stores that keep it in a column: 0 for a
    /// response (so a column added with default 0 describes older rows),
    /// 1 for an alias, 2 for a vary index.
    pub const fn code(self) -> u8 {
        match self {
            Self::Response => 0,
            Self::Alias => 1,
            Self::VaryIndex => 2,
        }
    }

    /// The kind numbered `code`; `None` for a number no kind has.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Response),
            1 => Some(Self::Alias),
            2 => Some(Self::VaryIndex),
            _ => None,
        }
    }

    /// `true` for [`Response`](Self::Response).
    pub const fn is_response(self) -> bool {
        matches!(self, Self::Response)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Response => "response",
            Self::Alias => "alias",
            Self::VaryIndex => "vary-index",
        })
    }
}
