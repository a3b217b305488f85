//! Every storage URL the binary takes, on the real servers scripts/test.sh
//! starts: opened by the library, then listed, purged and cleared by the
//! `reqcache` binary's admin commands.

mod support;

use std::process::Command;
use std::sync::Arc;

use reqcache::storage::Storage;

use support::{BIN, unique};

/// Runs `reqcache ARGS`; its stdout, after checking it succeeded.
fn reqcache(args: &[&str]) -> String {
    let output = Command::new(BIN).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "reqcache {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Stores two entries (one expired) through the library, then checks that
/// the binary lists them, removes the expired one, and clears the rest.
async fn admin_round_trip(spec: &str) {
    let storage = reqcache_cli::storage::open(spec)
        .await
        .unwrap_or_else(|e| panic!("{spec}: {e}"));
    storage.clear().await.unwrap();
    let t0 = reqcache_test::t0();
    let fresh = reqcache_test::sample_entry("https://example.com/fresh", &b"1"[..]);
    let expired = reqcache_test::sample_entry("https://example.com/expired", &b"2"[..])
        .with_expires(Some(t0 - std::time::Duration::from_secs(60)));
    storage.put("k-fresh", Arc::new(fresh)).await.unwrap();
    storage.put("k-expired", Arc::new(expired)).await.unwrap();

    let listed = reqcache(&["list", "--storage", spec]);
    assert!(
        listed.contains("https://example.com/fresh"),
        "{spec}: {listed}"
    );
    assert!(
        listed.contains("https://example.com/expired"),
        "{spec}: {listed}"
    );
    assert_eq!(listed.lines().count(), 2, "{spec}: {listed}");

    // stats, filtered lists and show, as JSON.
    let stats: serde_json::Value =
        serde_json::from_str(&reqcache(&["stats", "--storage", spec, "--json"])).unwrap();
    assert_eq!(
        (stats["entries"].as_u64(), stats["expired"].as_u64()),
        (Some(2), Some(1)),
        "{spec}"
    );
    let expired = reqcache(&["list", "--storage", spec, "--expired", "--json"]);
    let expired: serde_json::Value = serde_json::from_str(expired.trim()).unwrap();
    assert_eq!(expired["key"], "k-expired", "{spec}");
    let globbed = reqcache(&["list", "--storage", spec, "--url", "*/fresh"]);
    assert_eq!(globbed.lines().count(), 1, "{spec}: {globbed}");
    let shown: serde_json::Value = serde_json::from_str(&reqcache(&[
        "show",
        "--storage",
        spec,
        "k-fresh",
        "--body",
        "--json",
    ]))
    .unwrap();
    assert_eq!(shown["body"], "1", "{spec}");
    assert_eq!(shown["status"], 200, "{spec}");

    // export, clear, import: the same entries back; copy into SQLite.
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.jsonl");
    let export = export.to_str().unwrap();
    reqcache(&["export", "--storage", spec, "--output", export]);
    assert_eq!(std::fs::read_to_string(export).unwrap().lines().count(), 2);
    reqcache(&["clear", "--storage", spec]);
    assert_eq!(storage.len().await.unwrap(), 0, "{spec}");
    let imported = reqcache(&["import", "--storage", spec, "--input", export]);
    assert_eq!(
        imported.trim(),
        "imported 2 entries, skipped 0 lines",
        "{spec}"
    );
    assert_eq!(
        reqcache(&["list", "--storage", spec]).lines().count(),
        2,
        "{spec}"
    );
    let copy = format!("sqlite:{}", dir.path().join("copy").display());
    assert_eq!(
        reqcache(&["copy", spec, &copy]).trim(),
        "copied 2 entries",
        "{spec}"
    );
    assert_eq!(
        reqcache(&["list", "--storage", &copy]).lines().count(),
        2,
        "{spec}"
    );
    assert_eq!(
        reqcache(&["delete", "--storage", spec, "https://example.com/expired"]).trim(),
        "deleted 1 entry",
        "{spec}"
    );
    reqcache(&["import", "--storage", spec, "--input", export]);

    let removed = reqcache(&["remove-expired", "--storage", spec]);
    assert_eq!(removed.trim(), "removed 1 expired entry", "{spec}");
    let listed = reqcache(&["list", "--storage", spec]);
    assert!(!listed.contains("/expired"), "{spec}: {listed}");
    assert!(listed.contains("/fresh"), "{spec}: {listed}");

    reqcache(&["clear", "--storage", spec]);
    assert_eq!(reqcache(&["list", "--storage", spec]), "", "{spec}");
    assert_eq!(storage.len().await.unwrap(), 0, "{spec}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("cache").display());
    admin_round_trip(&sqlite).await;
    let files = format!("fs:{}", dir.path().join("files").display());
    admin_round_trip(&files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_standalone_and_cluster() {
    let Some(url) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    admin_round_trip(&format!("{url}#{}", unique("cli"))).await;
    let Some(nodes) = reqcache_test::server_url("REQCACHE_REDIS_CLUSTER_URLS") else {
        return;
    };
    admin_round_trip(&support::redis_cluster_storage(&nodes, &unique("cli"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_and_gridfs() {
    let Some(url) = reqcache_test::server_url("REQCACHE_MONGODB_URL") else {
        return;
    };
    admin_round_trip(&format!("{url}#{}", unique("cli"))).await;
    admin_round_trip(&format!("gridfs:{url}#{}", unique("cli"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb() {
    let Some(url) = reqcache_test::server_url("REQCACHE_DYNAMODB_URL") else {
        return;
    };
    let endpoint: String = form_urlencoded::byte_serialize(url.as_bytes()).collect();
    admin_round_trip(&format!(
        "dynamodb://{}?endpoint={endpoint}&region=us-east-1&create=true",
        unique("cli")
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(url) = reqcache_test::server_url("REQCACHE_POSTGRES_URL") else {
        return;
    };
    admin_round_trip(&format!("{url}#{}", unique("cli"))).await;
}

#[test]
fn a_bad_storage_url_is_refused_before_anything_opens_and_without_its_password() {
    let output = Command::new(BIN)
        .args(["list", "--storage", "postgress://cache:hunter2@db/app"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown storage \"postgress\""), "{stderr}");
    assert!(stderr.contains("postgres://"), "lists the forms: {stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn admin_commands_refuse_a_missing_file_and_report_bad_import_lines() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite:{}", dir.path().join("typo").display());
    for args in [
        vec!["list", "--storage", &missing],
        vec!["stats", "--storage", &missing],
        vec!["show", "--storage", &missing, "k"],
    ] {
        let output = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("typo.sqlite does not exist"),
            "{args:?}: {stderr}"
        );
    }
    assert!(
        !dir.path().join("typo.sqlite").exists(),
        "no empty cache was created"
    );

    let storage = format!("sqlite:{}", dir.path().join("cache").display());
    let input = dir.path().join("bad.jsonl");
    std::fs::write(&input, "not json\n").unwrap();
    let output = Command::new(BIN)
        .args(["import", "--storage", &storage, "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 1 skipped: not JSON"), "{stderr}");
    let output = Command::new(BIN)
        .args(["show", "--storage", &storage, "no-such-key"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no entry for \"no-such-key\""));
}

/// Asked for a URL as a proxy's clients see it, `show` and `delete` say
/// where the entry is: under the upstream's URL (issue 30, item 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxys_own_url_points_to_the_upstreams() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("sqlite:{}", dir.path().join("cache").display());
    let storage = reqcache_cli::storage::open(&spec).await.unwrap();
    let entry = reqcache_test::sample_entry("http://origin.test:9000/base/index.html", &b"1"[..]);
    storage.put("k", Arc::new(entry)).await.unwrap();
    drop(storage);

    let shown = Command::new(BIN)
        .args([
            "show",
            "--storage",
            &spec,
            "http://127.0.0.1:8080/index.html",
        ])
        .output()
        .unwrap();
    assert!(!shown.status.success());
    let stderr = String::from_utf8_lossy(&shown.stderr);
    assert!(
        stderr.contains("no entry for \"http://127.0.0.1:8080/index.html\"")
            && stderr.contains("found http://origin.test:9000/base/index.html"),
        "{stderr}"
    );
    let deleted = Command::new(BIN)
        .args([
            "delete",
            "--storage",
            &spec,
            "http://127.0.0.1:8080/index.html",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&deleted.stdout),
        "deleted 0 entries\n"
    );
    let stderr = String::from_utf8_lossy(&deleted.stderr);
    assert!(
        stderr.contains("found http://origin.test:9000/base/index.html"),
        "{stderr}"
    );
    // An unrelated path gets no hint.
    let other = Command::new(BIN)
        .args(["show", "--storage", &spec, "http://127.0.0.1:8080/other"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(!stderr.contains("found"), "{stderr}");

    // With --upstream, the proxy's own URL reaches the entry.
    let upstream = ["--upstream", "http://origin.test:9000/base"];
    let shown = Command::new(BIN)
        .args([
            "show",
            "--storage",
            &spec,
            "http://127.0.0.1:8080/index.html",
        ])
        .args(upstream)
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("http://origin.test:9000/base/index.html")
    );
    let deleted = Command::new(BIN)
        .args([
            "delete",
            "--storage",
            &spec,
            "http://127.0.0.1:8080/index.html",
        ])
        .args(upstream)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&deleted.stdout),
        "deleted 1 entry\n"
    );
}

/// Two responses for one URL (keyed on a redacted parameter, credentials
/// or `Vary`) list as two lines that say why, each with its key; `show`
/// reaches each by its key (issue 30, item 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_that_share_a_url_say_so_in_the_listing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("sqlite:{}", dir.path().join("cache").display());
    let storage = reqcache_cli::storage::open(&spec).await.unwrap();
    let url = "https://api.test/weather?city=oslo";
    for key in ["key-for-one-api-key", "key-for-another"] {
        let entry = reqcache_test::sample_entry(url, &b"1"[..]);
        storage.put(key, Arc::new(entry)).await.unwrap();
    }
    let alone = reqcache_test::sample_entry("https://api.test/other", &b"1"[..]);
    storage.put("alone", Arc::new(alone)).await.unwrap();
    drop(storage);

    let listed = Command::new(BIN)
        .args(["list", "--storage", &spec])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    let noted: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("2 responses for this URL"))
        .collect();
    assert_eq!(noted.len(), 2, "{text}");
    assert!(
        noted
            .iter()
            .any(|line| line.starts_with("key-for-one-api-key"))
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("alone") && l.contains("responses for"))
    );
    let json = Command::new(BIN)
        .args(["list", "--storage", &spec, "--json"])
        .output()
        .unwrap();
    let counts: Vec<u64> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["same_url"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let mut sorted = counts.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 2, 2]);
    let shown = Command::new(BIN)
        .args(["show", "--storage", &spec, "key-for-another"])
        .output()
        .unwrap();
    assert!(shown.status.success());
}
