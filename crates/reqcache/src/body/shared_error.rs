//! [`SharedBodyError`]: what a reader of a shared body gets when it fails.

use std::fmt;

/// The error a reader gets when the body it shares failed upstream (the
/// reader that polled the failure gets the upstream error itself), or when
/// it fell too far behind the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedBodyError;

impl fmt::Display for SharedBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "reqcache: the response body this request shared with concurrent ones failed, \
             or this request fell too far behind them",
        )
    }
}

impl std::error::Error for SharedBodyError {}
