//! The workspace's own package: the examples, the cross-crate integration
//! tests and the benchmarks. Its library holds nothing but the README's
//! code blocks, compiled as doctests (`cargo test --doc -p
//! reqcache-workspace`), so that what the README shows builds as written.

/// The README, whose Rust blocks are this crate's doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
