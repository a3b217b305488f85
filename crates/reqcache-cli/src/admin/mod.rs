//! Cache administration on any storage: [`AdminCommand`], the admin
//! subcommands of `reqcache` and what they print (`command.rs`), and the
//! work they do, as functions a program can call too (`operations.rs`):
//! statistics, listing with filters, showing, deleting, purging, copying,
//! and export / import as JSON lines.

mod command;
mod operations;
mod purge_request;
mod remote;
mod token;

pub use command::{AdminCommand, Target};
pub use operations::{
    ImportReport, ListFilter, Stats, copy, delete, entry_json, export, find, handle, import,
    info_json, info_line, leads_to, list, progress, record_json, responses_per_url,
    same_path_elsewhere, stats, where_to_look, write_stored_body,
};
pub use purge_request::PurgeRequest;
pub use remote::purge_remote;
pub use token::read_token;
