//! Cache keys: URL normalization, bodies, matched headers, ignored parameters.

use http::Method;
use reqcache::key::MatchHeaders;

use crate::support::*;

#[tokio::test]
async fn equivalent_urls_share_an_entry() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    h.get("https://example.com/a/b?x=1&y=2").await;
    for same in [
        "HTTPS://EXAMPLE.COM/a/b?y=2&x=1",
        "https://example.com:443/a/b?x=1&y=2",
        "https://example.com/a/b?x=1&y=2#section",
    ] {
        assert!(h.get(same).await.cache.from_cache(), "{same}");
    }
    for different in [
        "https://example.com/a/B?x=1&y=2",
        "https://example.com:8443/a/b?x=1&y=2",
    ] {
        assert!(!h.get(different).await.cache.from_cache(), "{different}");
    }
    assert_eq!(h.calls(), 3);
}

#[tokio::test]
async fn json_bodies_match_whatever_their_key_order() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.allowable_methods([Method::POST])
    });
    let json = [("content-type", "application/json")];
    h.send(request(
        Method::POST,
        "http://e.com/q",
        &json,
        br#"{"a": 1, "b": [1, 2]}"#,
    ))
    .await;
    let same = h
        .send(request(
            Method::POST,
            "http://e.com/q",
            &json,
            br#"{"b":[1,2],"a":1}"#,
        ))
        .await;
    assert!(same.cache.from_cache());
    let different = h
        .send(request(
            Method::POST,
            "http://e.com/q",
            &json,
            br#"{"b":[2,1],"a":1}"#,
        ))
        .await;
    assert!(!different.cache.from_cache());
}

#[tokio::test]
async fn match_headers_keys_on_the_named_headers() {
    let mut h = Harness::new(
        Upstream::new(|seen, _| {
            let accept = seen.headers["accept"].to_str().unwrap().to_owned();
            Ok(response(200, &[], accept))
        }),
        |b| b.match_headers(MatchHeaders::only([http::header::ACCEPT])),
    );
    let text = || {
        request(
            Method::GET,
            "http://e.com/",
            &[("accept", "text/plain"), ("x-other", "1")],
            b"",
        )
    };
    let json = || {
        request(
            Method::GET,
            "http://e.com/",
            &[("accept", "application/json")],
            b"",
        )
    };
    assert_eq!(h.send(text()).await.body, "text/plain");
    assert_eq!(h.send(json()).await.body, "application/json");
    let again = h.send(text()).await;
    assert!(again.cache.from_cache());
    assert_eq!(again.body, "text/plain");
    // Headers not named do not matter.
    let other = request(
        Method::GET,
        "http://e.com/",
        &[("accept", "text/plain"), ("x-other", "2")],
        b"",
    );
    assert!(h.send(other).await.cache.from_cache());
    assert_eq!(h.calls(), 2);
}

#[tokio::test]
async fn match_all_headers_is_include_get_headers() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.match_headers(MatchHeaders::All)
    });
    h.send(request(Method::GET, "http://e.com/", &[("x-a", "1")], b""))
        .await;
    assert!(
        !h.send(request(Method::GET, "http://e.com/", &[("x-a", "2")], b""))
            .await
            .cache
            .from_cache()
    );
    assert!(
        h.send(request(Method::GET, "http://e.com/", &[("x-a", "1")], b""))
            .await
            .cache
            .from_cache()
    );
}

#[tokio::test]
async fn ignored_parameters_are_left_out_of_the_key_and_out_of_storage() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.ignored_parameters(["auth-token", "api_key"])
            .allowable_methods([Method::GET, Method::POST])
    });
    h.get("http://e.com/get?auth-token=2F63E5DF4F44&q=1").await;
    let second = h.get("http://e.com/get?q=1&auth-token=D9FAEB3449D3").await;
    assert!(
        second.cache.from_cache(),
        "the guide's example: only the first request is sent"
    );
    assert_eq!(h.calls(), 1);

    let json = [
        ("content-type", "application/json"),
        ("auth-token", "HEADERSECRET"),
        ("accept", "*/*"),
    ];
    h.send(request(
        Method::POST,
        "http://e.com/post",
        &json,
        br#"{"api_key": "BODYSECRET", "q": 1}"#,
    ))
    .await;
    let form = [("content-type", "application/x-www-form-urlencoded")];
    h.send(request(
        Method::POST,
        "http://e.com/form",
        &form,
        b"q=1&api_key=FORMSECRET",
    ))
    .await;

    for info in h.cache().entries().await.unwrap() {
        let entry = h.cache().get(&info.key).await.unwrap().unwrap();
        let stored = format!(
            "{:?} {:?} {:?}",
            entry.request.url, entry.request.headers, entry.request.body
        );
        for secret in [
            "2F63E5DF4F44",
            "HEADERSECRET",
            "BODYSECRET",
            "FORMSECRET",
            "auth-token",
            "api_key",
        ] {
            assert!(
                !stored.contains(secret),
                "{secret} reached storage: {stored}"
            );
        }
        assert!(!entry.request.url.contains("auth-token"));
    }
    let post = h
        .cache()
        .entries()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.url.ends_with("/post"))
        .unwrap();
    let entry = h.cache().get(&post.key).await.unwrap().unwrap();
    assert_eq!(entry.request.body, r#"{"q":1}"#);
    assert_eq!(entry.request.headers["accept"], "*/*");
}
