//! [`AdminCommand`]: the admin subcommands of `reqcache` (`stats`, `list`,
//! `show`, `delete`, `purge`, `clear`, `remove-expired`, `copy`, `export`,
//! `import`), their arguments, and what they print, as text or JSON.

use std::time::SystemTime;

use tower::BoxError;

use super::operations as admin;
use super::purge_request::PurgeRequest;
use super::remote::purge_remote;
use crate::byte_size::ByteSize;
use crate::storage;

/// An admin command, as `reqcache` parses it.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Count the stored entries: expired, bytes, by status and method.
    Stats(Target),
    /// List the stored entries (key, method, status, URL, size, state).
    List {
        /// The storage, and the output's form.
        #[command(flatten)]
        target: Target,
        /// Only URLs matching this glob (`*` matches `/` too).
        #[arg(long, value_name = "GLOB")]
        url: Option<String>,
        /// Only this status code.
        #[arg(long)]
        status: Option<u16>,
        /// Only expired entries.
        #[arg(long, conflicts_with = "fresh")]
        expired: bool,
        /// Only fresh entries.
        #[arg(long)]
        fresh: bool,
    },
    /// Show the entries of a key or a URL: metadata and response head.
    Show {
        /// The storage, and the output's form.
        #[command(flatten)]
        target: Target,
        /// A cache key, or a URL (normalized as stored).
        key_or_url: String,
        /// The body too (text; binary as base64 with --json, raw otherwise).
        #[arg(long)]
        body: bool,
        /// The proxy's upstream (as given to `reqcache proxy --upstream`):
        /// the URL is then one the proxy serves, mapped to the upstream's,
        /// under which the proxy stores its entries.
        #[arg(long, value_name = "URL")]
        upstream: Option<String>,
    },
    /// Delete the entry of a key, or every entry of a URL.
    Delete {
        /// The storage, and the output's form.
        #[command(flatten)]
        target: Target,
        /// A cache key, or a URL (normalized as stored).
        key_or_url: String,
        /// The proxy's upstream: the URL is one the proxy serves (as for
        /// `show`).
        #[arg(long, value_name = "URL")]
        upstream: Option<String>,
    },
    /// Purge by URL, URL prefix, glob or cache group (RFC 9875): in a
    /// storage, or through a running proxy's admin API. Hard (deleted) by
    /// default; --soft marks stale (revalidated next time, still served on
    /// upstream errors).
    Purge {
        /// A storage URL (as for `list`). On Redis and PostgreSQL the
        /// purge is announced on the storage's bus: running proxies with
        /// an L1 drop their copies too.
        #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
        storage: Option<String>,
        /// A running proxy's admin API (`http://127.0.0.1:9180`).
        #[arg(long, value_name = "URL", requires = "token_file")]
        admin: Option<String>,
        /// The file holding the admin API's bearer token.
        #[arg(long, value_name = "FILE")]
        token_file: Option<std::path::PathBuf>,
        /// With --storage, the proxy's upstream: URLs and paths are then
        /// the proxy's, mapped to the upstream's (as for `show`), and a
        /// group's origin defaults to the upstream's.
        #[arg(long, value_name = "URL", conflicts_with = "admin")]
        upstream: Option<String>,
        /// What to purge.
        #[command(flatten)]
        request: PurgeRequest,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete every stored entry.
    Clear(Target),
    /// Delete the expired entries; with --expire-after, first give every
    /// entry that many seconds from now (requests-cache's
    /// remove_expired_responses(expire_after)).
    RemoveExpired {
        /// The storage, and the output's form.
        #[command(flatten)]
        target: Target,
        /// Seconds from now every entry expires in, before the removal.
        #[arg(long, allow_negative_numbers = true)]
        expire_after: Option<i64>,
    },
    /// Copy every entry from one storage to another (same keys).
    Copy {
        /// The storage URL to copy from.
        source: String,
        /// The storage URL to copy into (created if it is a new file or table).
        destination: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write every entry as JSON lines (reqcache's versioned record format).
    Export {
        /// The storage, and the output's form.
        #[command(flatten)]
        target: Target,
        /// The file to write; default: standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Read entries from JSON lines written by `export`.
    Import {
        /// The storage URL to import into (created if new).
        #[arg(long)]
        storage: String,
        /// The file to read; default: standard input.
        #[arg(long, short)]
        input: Option<std::path::PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The storage an admin command works on, and how it prints.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// A storage URL: memory, sqlite:PATH, fs:DIR, redis://HOST[#NAMESPACE],
    /// redis+cluster://HOST:PORT,…, mongodb://…[#DATABASE], gridfs:mongodb://…,
    /// dynamodb://TABLE[?endpoint=URL&region=R], postgres://…[#TABLE].
    // A plain string, parsed after clap: clap's messages would repeat a
    // password in the URL.
    #[arg(long)]
    pub storage: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

impl AdminCommand {
    /// Runs the command, printing what it found or did. Storages it reads
    /// must exist already (a path with a typo is an error, not a new empty
    /// cache); `copy` and `import` create their destination.
    ///
    /// # Errors
    /// The storage's, or a message (no entry, unreadable file, ...).
    pub async fn run(self) -> Result<(), BoxError> {
        let now = SystemTime::now();
        let print_json = |value: serde_json::Value| println!("{value}");
        match self {
            AdminCommand::Stats(target) => {
                let storage = open_for_admin(&target.storage).await?;
                let stats = admin::stats(&*storage, now).await?;
                if target.json {
                    print_json(stats.to_json());
                } else {
                    println!("entries: {} ({} expired)", stats.entries, stats.expired);
                    println!("aliases and vary indexes: {}", stats.bookkeeping);
                    println!("bytes:   {}", stats.bytes);
                    let usage = stats.usage;
                    let bound = usage.max_size.map_or_else(
                        || "no bound of its own".to_owned(),
                        |max| format!("bound {}", ByteSize::new(max)),
                    );
                    println!(
                        "storage: {} bytes kept, {bound}, {} evicted",
                        usage.bytes, usage.evictions
                    );
                    for (status, count) in &stats.by_status {
                        println!("status {status}: {count}");
                    }
                    for (method, count) in &stats.by_method {
                        println!("method {method}: {count}");
                    }
                }
            }
            AdminCommand::List {
                target,
                url,
                status,
                expired,
                fresh,
            } => {
                let storage = open_for_admin(&target.storage).await?;
                let mut filter = admin::ListFilter::default()
                    .status(status)
                    .expired(if expired {
                        Some(true)
                    } else if fresh {
                        Some(false)
                    } else {
                        None
                    });
                if let Some(glob) = &url {
                    filter = filter.url_glob(glob)?;
                }
                let listed = admin::list(&*storage, &filter, now).await?;
                let same_url = admin::responses_per_url(&listed);
                for info in listed {
                    let others = same_url
                        .get(&(info.method.to_string(), info.url.clone()))
                        .copied()
                        .filter(|n| *n > 1 && info.kind.is_response());
                    if target.json {
                        let mut json = admin::info_json(&info, now);
                        json["same_url"] = serde_json::json!(others.unwrap_or(1));
                        print_json(json);
                    } else {
                        match others {
                            Some(n) => println!(
                                "{}  ({n} responses for this URL: they differ by Vary, \
                                 credentials or redacted parameters; show one by its key)",
                                admin::info_line(&info, now)
                            ),
                            None => println!("{}", admin::info_line(&info, now)),
                        }
                    }
                }
            }
            AdminCommand::Show {
                target,
                key_or_url,
                body,
                upstream,
            } => {
                let key_or_url = as_stored(&key_or_url, upstream.as_deref())?;
                let handle = admin::handle(open_for_admin(&target.storage).await?);
                let found = admin::find(&handle, &key_or_url).await?;
                if found.is_empty() {
                    return Err(match admin::where_to_look(&handle, &key_or_url).await {
                        Some(hint) => format!("no entry for {key_or_url:?}; {hint}"),
                        None => format!("no entry for {key_or_url:?}"),
                    }
                    .into());
                }
                for (info, record) in found {
                    let Some(record) = record else {
                        eprintln!(
                            "{}: listed but unreadable (expired past retention, or undecodable)",
                            info.key
                        );
                        continue;
                    };
                    if target.json {
                        print_json(admin::record_json(&info, &record, body, now));
                        continue;
                    }
                    println!("{}", admin::info_line(&info, now));
                    let Some(entry) = record.as_response() else {
                        println!("{}", admin::leads_to(&record).unwrap_or_default());
                        continue;
                    };
                    println!("{:?} {}", entry.version, entry.status);
                    for (name, value) in &entry.headers {
                        println!("{name}: {}", String::from_utf8_lossy(value.as_bytes()));
                    }
                    if body {
                        println!();
                        use std::io::Write as _;
                        match &entry.stored_body {
                            // Kept in chunks: written out a chunk at a time.
                            Some(stored) => {
                                admin::write_stored_body(
                                    handle.storage(),
                                    stored,
                                    &mut std::io::stdout().lock(),
                                )
                                .await?
                            }
                            None => std::io::stdout().write_all(&entry.body)?,
                        }
                        println!();
                    }
                }
            }
            AdminCommand::Delete {
                target,
                key_or_url,
                upstream,
            } => {
                let key_or_url = as_stored(&key_or_url, upstream.as_deref())?;
                let handle = admin::handle(open_to_change(&target.storage).await?);
                let deleted = admin::delete(&handle, &key_or_url).await?;
                if deleted == 0
                    && let Some(hint) = admin::where_to_look(&handle, &key_or_url).await
                {
                    eprintln!("reqcache: nothing stored for {key_or_url:?}; {hint}");
                }
                if target.json {
                    print_json(serde_json::json!({ "deleted": deleted }));
                } else {
                    println!("deleted {}", entries(deleted));
                }
            }
            AdminCommand::Purge {
                storage,
                admin,
                token_file,
                upstream,
                request,
                json,
            } => {
                let report = match (storage, admin, token_file) {
                    (Some(storage), _, _) => {
                        let upstream = upstream
                            .map(|u| u.parse::<http::Uri>())
                            .transpose()
                            .map_err(|e| format!("--upstream: {e}"))?;
                        let purge = request.to_purge(upstream.as_ref())?;
                        let handle = admin::handle(open_to_change(&storage).await?);
                        let report = handle.purge(&purge).await?;
                        serde_json::json!({ "purged": report.purged, "soft": report.soft })
                    }
                    (None, Some(api), Some(token_file)) => {
                        purge_remote(&api, &token_file, &request).await?
                    }
                    _ => return Err("give --storage URL, or --admin URL and --token-file".into()),
                };
                if json {
                    print_json(report);
                } else {
                    let purged = report["purged"].as_u64().unwrap_or(0);
                    let verb = if report["soft"].as_bool() == Some(true) {
                        "marked stale"
                    } else {
                        "purged"
                    };
                    println!("{verb} {} ({})", entries(purged), request.target());
                }
            }
            AdminCommand::Clear(target) => {
                let storage = open_to_change(&target.storage).await?;
                let before = storage.len().await?;
                storage.clear().await?;
                if target.json {
                    print_json(serde_json::json!({ "deleted": before }));
                } else {
                    println!("deleted {}", entries(before));
                }
            }
            AdminCommand::RemoveExpired {
                target,
                expire_after,
            } => {
                let handle = admin::handle(open_to_change(&target.storage).await?);
                let removed = match expire_after {
                    Some(secs) => handle.remove_expired_with(secs).await?,
                    None => handle.remove_expired().await?,
                };
                if target.json {
                    print_json(serde_json::json!({ "removed": removed }));
                } else {
                    println!(
                        "removed {}",
                        counted(removed, "expired entry", "expired entries")
                    );
                }
            }
            AdminCommand::Copy {
                source,
                destination,
                json,
            } => {
                let from = open_for_admin(&source).await?;
                let to = storage::open(&destination).await?;
                let copied = admin::copy(&*from, &*to, now).await?;
                if json {
                    print_json(serde_json::json!({ "copied": copied }));
                } else {
                    println!("copied {}", entries(copied));
                }
            }
            AdminCommand::Export { target, output } => {
                let storage = open_for_admin(&target.storage).await?;
                let written = match &output {
                    Some(path) => {
                        let file = std::fs::File::create(path)
                            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                        let mut out = std::io::BufWriter::new(file);
                        let written = admin::export(&*storage, &mut out, now).await?;
                        use std::io::Write as _;
                        out.flush()?;
                        written
                    }
                    None => {
                        let stdout = std::io::stdout();
                        let mut out = stdout.lock();
                        admin::export(&*storage, &mut out, now).await?
                    }
                };
                if target.json {
                    eprintln!("{}", serde_json::json!({ "exported": written }));
                } else {
                    eprintln!("exported {}", entries(written));
                }
            }
            AdminCommand::Import {
                storage,
                input,
                json,
            } => {
                let storage = storage::open(&storage).await?;
                let report = match &input {
                    Some(path) => {
                        let file = std::fs::File::open(path)
                            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                        admin::import(&*storage, &mut std::io::BufReader::new(file)).await?
                    }
                    None => admin::import(&*storage, &mut std::io::stdin().lock()).await?,
                };
                for (line, why) in &report.skipped {
                    eprintln!("line {line} skipped: {why}");
                }
                if json {
                    print_json(serde_json::json!({
                        "imported": report.imported,
                        "skipped": report.skipped.len(),
                    }));
                } else {
                    println!(
                        "imported {} entries, skipped {} lines",
                        report.imported,
                        report.skipped.len()
                    );
                }
                if !report.skipped.is_empty() {
                    return Err(format!(
                        "{} lines were not entries (see above)",
                        report.skipped.len()
                    )
                    .into());
                }
            }
        }
        Ok(())
    }
}

/// `1 entry`, `2 entries`.
fn entries(n: impl Into<u64>) -> String {
    counted(n.into(), "entry", "entries")
}

/// `n` and the noun for it: `one` for 1, `many` otherwise.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// [`storage::open_existing`], with a word on `memory`: a storage of the
/// process that opens it, so an admin command sees an empty cache of its
/// own, never a running proxy's.
async fn open_for_admin(
    spec: &str,
) -> Result<std::sync::Arc<dyn reqcache::storage::Storage>, reqcache::StorageError> {
    if spec.trim() == "memory" {
        eprintln!(
            "reqcache: note: `memory` is the memory of the process that opens it: this command \
             sees an empty cache of its own, not a running proxy's (give the proxy a storage \
             such as sqlite:PATH to administer its cache)"
        );
    }
    storage::open_existing(spec).await
}

/// As [`open_for_admin`], for a command that removes or rewrites entries
/// (`delete`, `purge`, `clear`, `remove-expired`): on Redis and
/// PostgreSQL its changes are announced on the storage's bus, so that
/// running proxies with an L1 drop their copies
/// ([`storage::open_announcing`]).
async fn open_to_change(
    spec: &str,
) -> Result<std::sync::Arc<dyn reqcache::storage::Storage>, reqcache::StorageError> {
    if spec.trim() == "memory" {
        return open_for_admin(spec).await;
    }
    storage::open_announcing(spec).await
}

/// `key_or_url` as the storage has it: with `upstream`, a URL the proxy
/// serves becomes the upstream's URL the proxy fetched and stored it under
/// (`http://127.0.0.1:8080/a?b` with upstream `http://10.0.0.7:9000/api`:
/// `http://10.0.0.7:9000/api/a?b`); a key, or no upstream, is left as it is.
fn as_stored(key_or_url: &str, upstream: Option<&str>) -> Result<String, String> {
    let Some(upstream) = upstream else {
        return Ok(key_or_url.to_owned());
    };
    let upstream: http::Uri = upstream
        .parse()
        .map_err(|e| format!("--upstream {upstream:?}: {e}"))?;
    if !(key_or_url.starts_with("http://") || key_or_url.starts_with("https://")) {
        return Ok(key_or_url.to_owned());
    }
    let served: http::Uri = key_or_url
        .parse()
        .map_err(|e| format!("{key_or_url:?}: {e}"))?;
    crate::proxy::upstream::upstream_uri(&upstream, &served)
        .map(|uri| uri.to_string())
        .map_err(|e| format!("{key_or_url:?} on --upstream: {e}"))
}

#[cfg(test)]
mod tests {
    use super::as_stored;

    #[test]
    fn a_proxy_url_maps_to_its_upstream_s() {
        let upstream = Some("http://10.0.0.7:9000/api");
        assert_eq!(
            as_stored("http://127.0.0.1:8080/items?id=3", upstream).unwrap(),
            "http://10.0.0.7:9000/api/items?id=3"
        );
        assert_eq!(
            as_stored("http://127.0.0.1:8080/", Some("https://origin.example")).unwrap(),
            "https://origin.example/"
        );
        assert_eq!(as_stored("a-cache-key", upstream).unwrap(), "a-cache-key");
        assert_eq!(
            as_stored("http://127.0.0.1:8080/x", None).unwrap(),
            "http://127.0.0.1:8080/x"
        );
        assert!(as_stored("http://127.0.0.1:8080/x", Some("not a url at all")).is_err());
    }
}
