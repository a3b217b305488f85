//! Tracing events on the request path, and the counters behind them.
//!
//! Its own test binary, with one process-wide subscriber: a thread-local
//! one (`set_default`) races with other tests' threads over tracing's
//! per-callsite interest cache, and loses events now and then. The tests here
//! take turns and each reads only what it caused.

#[allow(dead_code)] // shared with the layer tests; not all of it is used here
#[path = "layer/support.rs"]
mod support;

use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};

use http::Method;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

use support::*;

/// Every event as one line: `message key=value ... in=span-name`.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _ctx: Context<'_, S>,
    ) {
        let mut line = Line(String::new());
        attrs.record(&mut line);
        self.0
            .lock()
            .unwrap()
            .push(format!("new span {}{}", attrs.metadata().name(), line.0));
    }

    fn on_record(
        &self,
        _id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _ctx: Context<'_, S>,
    ) {
        let mut line = Line(String::new());
        values.record(&mut line);
        self.0
            .lock()
            .unwrap()
            .push(format!("span record{}", line.0));
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        if let Some(span) = ctx.event_span(event) {
            line.0.push_str(&format!(" in={}", span.name()));
        }
        self.0.lock().unwrap().push(line.0);
    }
}

/// The process-wide capture; installed once.
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        capture
    })
}

/// One test at a time, starting from an empty capture.
async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let guard = TURN.lock().await;
    capture().lines();
    guard
}

impl Capture {
    fn lines(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// Whether one line has every one of `needles`.
    fn has(&self, lines: &[String], needles: &[&str]) -> bool {
        lines
            .iter()
            .any(|line| needles.iter().all(|needle| line.contains(needle)))
    }
}

#[tokio::test]
async fn every_outcome_is_an_event_in_the_request_span() {
    let _turn = turn().await;
    let capture = capture();

    let headers: &[(&str, &str)] = &[("etag", "\"v1\""), ("cache-control", "max-age=10")];
    let upstream = Upstream::new(move |_, calls| {
        let status = if calls == 0 { 200 } else { 304 };
        Ok(response(status, headers, "hello"))
    });
    let mut h = Harness::new(upstream, |b| b);
    h.get("http://example.com/a").await;
    let lines = capture.lines();
    assert!(
        capture.has(&lines, &["reqcache: miss; going upstream"]),
        "{lines:#?}"
    );
    assert!(capture.has(&lines, &["reqcache: stored"]), "{lines:#?}");
    assert!(
        lines
            .iter()
            .filter(|line| !line.contains("span"))
            .all(|line| line.ends_with("in=reqcache")),
        "every event is in the request's span: {lines:#?}"
    );

    h.get("http://example.com/a").await;
    let lines = capture.lines();
    assert!(
        capture.has(&lines, &["answered from the cache", "outcome=Hit"]),
        "{lines:#?}"
    );

    h.advance(20);
    h.get("http://example.com/a").await;
    let lines = capture.lines();
    assert!(
        capture.has(&lines, &["miss", "conditional=true"]),
        "{lines:#?}"
    );
    assert!(
        capture.has(&lines, &["answered from the cache", "outcome=Revalidated"]),
        "{lines:#?}"
    );

    h.send(request(Method::DELETE, "http://example.com/b", &[], b""))
        .await;
    let lines = capture.lines();
    assert!(
        capture.has(&lines, &["skipped reason=method not in allowable_methods"]),
        "{lines:#?}"
    );

    let stats = h.cache().stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.stored, stats.revalidated),
        (1, 2, 2, 1),
        "hits, misses, stored (the revalidated entry is stored again), revalidated"
    );
}

#[tokio::test]
async fn a_response_not_stored_says_why() {
    let _turn = turn().await;
    let capture = capture();

    let mut h = Harness::new(
        Upstream::ok("hello", &[("cache-control", "no-store")]),
        |b| b,
    );
    h.get("http://example.com/a").await;
    let lines = capture.lines();
    assert!(
        capture.has(
            &lines,
            &[
                "not stored",
                "reason=status, Cache-Control or expiration forbids storing"
            ]
        ),
        "{lines:#?}"
    );

    let mut h = Harness::new(Upstream::ok("hello", &[("vary", "*")]), |b| {
        b.expire_after(60)
    });
    h.get("http://example.com/a").await;
    let lines = capture.lines();
    assert!(
        capture.has(&lines, &["not stored", "reason=Vary: *"]),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn no_ignored_or_redacted_value_reaches_a_span_or_an_event() {
    let _turn = turn().await;
    let capture = capture();
    let mut h = Harness::new(Upstream::ok("x", &[("cache-control", "max-age=60")]), |b| {
        b.ignored_parameters(["session"])
            .allowable_methods([Method::GET, Method::POST])
    });
    let url = "http://example.com/data?api_key=SECRET-A&token=SECRET-B&session=SECRET-C&page=2";
    h.get(url).await;
    h.get(url).await;
    h.send(request(
        Method::POST,
        "http://example.com/data?access_token=SECRET-D",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer SECRET-E"),
        ],
        br#"{"password": "SECRET-F", "q": 1}"#,
    ))
    .await;
    // A purge names the URL as the operator gave it: logged normalized.
    for purge in [
        reqcache::handle::Purge::url(url),
        reqcache::handle::Purge::prefix(url).soft(),
    ] {
        h.cache().purge(&purge).await.unwrap();
    }
    let lines = capture.lines();
    assert!(
        capture.has(&lines, &["purged", "target=http://example.com/data?page=2"]),
        "{lines:#?}"
    );
    assert!(
        capture.has(
            &lines,
            &["span record", "uri=http://example.com/data?page=2"]
        ),
        "the span names the URL, redacted: {lines:#?}"
    );
    assert!(
        lines.iter().all(|line| !line.contains("SECRET")),
        "a secret reached the logs: {lines:#?}"
    );
}
