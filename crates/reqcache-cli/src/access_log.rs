//! The proxy's access log: one line per request (JSON or logfmt) on
//! standard output, written by a thread of its own so that a slow reader
//! never holds up a request.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Lines waiting for the writer; past this a line is dropped (and counted).
const QUEUE: usize = 4096;

/// How each line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessLogFormat {
    /// One JSON object per line.
    Json,
    /// `key=value` pairs, values with spaces or quotes quoted.
    Logfmt,
}

impl std::str::FromStr for AccessLogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(Self::Json),
            "logfmt" => Ok(Self::Logfmt),
            other => Err(format!("access log format {other:?}: use json or logfmt")),
        }
    }
}

/// One request, as logged. The URL is the stored (redacted) form: secrets
/// named in the redactions never appear.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessEntry {
    /// When the request arrived.
    pub time: SystemTime,
    /// The peer.
    pub client: IpAddr,
    /// The method.
    pub method: String,
    /// The URL, normalized and redacted.
    pub url: String,
    /// The status sent.
    pub status: u16,
    /// The `x-reqcache` word (`Hit`, `Storing`, ...), or `-` for the proxy's
    /// own answers.
    pub cache: &'static str,
    /// From the request's head to the response's head.
    pub duration: Duration,
}

impl AccessEntry {
    /// The entry as one line, without the newline.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use reqcache_cli::access_log::{AccessEntry, AccessLogFormat};
    ///
    /// let entry = AccessEntry::new(UNIX_EPOCH + Duration::from_millis(1_733_000_000_123),
    ///     "127.0.0.1".parse().unwrap(), "GET", "http://api/a?q=\"x y\"", 200, "Hit",
    ///     Duration::from_micros(1500));
    /// assert_eq!(entry.line(AccessLogFormat::Logfmt),
    ///     r#"time=2024-11-30T20:53:20.123Z client=127.0.0.1 method=GET url="http://api/a?q=\"x y\"" status=200 cache=Hit duration_ms=1.500"#);
    /// assert!(entry.line(AccessLogFormat::Json).starts_with(r#"{"time":"2024-11-30T20:53:20.123Z","client":"127.0.0.1""#));
    /// ```
    pub fn line(&self, format: AccessLogFormat) -> String {
        let time = rfc3339(self.time);
        let millis = format!("{:.3}", self.duration.as_secs_f64() * 1000.0);
        let fields: [(&str, String, bool); 7] = [
            ("time", time, true),
            ("client", self.client.to_string(), true),
            ("method", self.method.clone(), true),
            ("url", self.url.clone(), true),
            ("status", self.status.to_string(), false),
            ("cache", self.cache.to_owned(), true),
            ("duration_ms", millis, false),
        ];
        let mut line = String::with_capacity(160);
        match format {
            AccessLogFormat::Json => {
                line.push('{');
                for (i, (name, value, quoted)) in fields.iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    let _ = write!(line, "\"{name}\":");
                    if *quoted {
                        json_string(&mut line, value);
                    } else {
                        line.push_str(value);
                    }
                }
                line.push('}');
            }
            AccessLogFormat::Logfmt => {
                for (i, (name, value, _)) in fields.iter().enumerate() {
                    if i > 0 {
                        line.push(' ');
                    }
                    let _ = write!(line, "{name}=");
                    if value.is_empty() || value.contains([' ', '"', '=', '\\', '\n', '\r']) {
                        line.push('"');
                        for c in value.chars() {
                            match c {
                                '"' | '\\' => {
                                    line.push('\\');
                                    line.push(c);
                                }
                                '\n' => line.push_str("\\n"),
                                '\r' => line.push_str("\\r"),
                                c => line.push(c),
                            }
                        }
                        line.push('"');
                    } else {
                        line.push_str(value);
                    }
                }
            }
        }
        line
    }

    /// An entry (for tests and for embedding the log elsewhere).
    pub fn new(
        time: SystemTime,
        client: IpAddr,
        method: &str,
        url: &str,
        status: u16,
        cache: &'static str,
        duration: Duration,
    ) -> Self {
        Self {
            time,
            client,
            method: method.to_owned(),
            url: url.to_owned(),
            status,
            cache,
            duration,
        }
    }
}

fn json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `time` as RFC 3339 UTC with milliseconds: `2024-11-30T20:53:20.123Z`.
fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// Where the proxy sends its lines: a queue to the writer thread.
#[derive(Debug, Clone)]
pub struct AccessLog {
    format: AccessLogFormat,
    lines: SyncSender<String>,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// A log writing `format` lines to standard output.
    ///
    /// # Errors
    /// When the writer thread cannot be started.
    pub fn stdout(format: AccessLogFormat) -> std::io::Result<Self> {
        let (lines, queue) = std::sync::mpsc::sync_channel::<String>(QUEUE);
        std::thread::Builder::new()
            .name("reqcache-access-log".to_owned())
            .spawn(move || {
                let stdout = std::io::stdout();
                for line in queue {
                    let mut out = stdout.lock();
                    if writeln!(out, "{line}").is_err() {
                        return;
                    }
                }
            })?;
        Ok(Self {
            format,
            lines,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Queues `entry`'s line; dropped (and counted) when the writer is
    /// behind by 4,096 lines.
    pub fn log(&self, entry: &AccessEntry) {
        match self.lines.try_send(entry.line(self.format)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let at = |secs: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_798_761_599), "2026-12-31T23:59:59.000Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn hostile_values_stay_one_line() {
        let entry = AccessEntry::new(
            UNIX_EPOCH,
            "::1".parse().unwrap(),
            "GET",
            "/a\nb\"c\\",
            404,
            "-",
            Duration::ZERO,
        );
        let json = entry.line(AccessLogFormat::Json);
        assert!(!json.contains('\n'));
        assert!(json.contains(r#""url":"/a\nb\"c\\""#), "{json}");
        let logfmt = entry.line(AccessLogFormat::Logfmt);
        assert!(!logfmt.contains('\n'));
        assert!(logfmt.contains(r#"url="/a\nb\"c\\""#), "{logfmt}");
        assert!(
            logfmt.contains(r#"status=404 cache=- duration_ms=0.000"#),
            "{logfmt}"
        );
    }
}
