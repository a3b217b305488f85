//! [`ResponseFilter`]: the user's say on whether a response is stored.

use std::fmt;
use std::sync::Arc;

use http::{request, response};

/// The signature of a user's filter.
type FilterFn = dyn Fn(&request::Parts, &response::Parts) -> bool + Send + Sync;

/// A user's decision whether to store a response.
#[derive(Clone)]
pub(crate) struct ResponseFilter(pub(crate) Arc<FilterFn>);

impl fmt::Debug for ResponseFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFilter(..)")
    }
}
