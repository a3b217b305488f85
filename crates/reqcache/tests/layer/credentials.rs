//! Responses to credentialed requests are never answered to other credentials.

use http::Method;

use crate::support::*;

fn with_header(name: &str, value: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    request(Method::GET, "http://e.com/me", &[(name, value)], b"")
}

#[tokio::test]
async fn different_credentials_never_share_a_response() {
    for header in ["authorization", "cookie", "proxy-authorization"] {
        let upstream = Upstream::new(move |seen, _| {
            let who = seen
                .headers
                .get(header)
                .map_or("anonymous".to_owned(), |v| v.to_str().unwrap().to_owned());
            Ok(response(200, &[], format!("data of {who}")))
        });
        let mut h = Harness::new(upstream, |b| b);
        let alice = h.send(with_header(header, "alice")).await;
        let bob = h.send(with_header(header, "bob")).await;
        let anonymous = h.get("http://e.com/me").await;
        assert_eq!(alice.body, "data of alice");
        assert_eq!(bob.body, "data of bob", "{header}");
        assert_eq!(anonymous.body, "data of anonymous");
        assert!(!bob.cache.from_cache() && !anonymous.cache.from_cache());
        let alice_again = h.send(with_header(header, "alice")).await;
        assert!(alice_again.cache.from_cache());
        assert_eq!(alice_again.body, "data of alice");
        assert_eq!(h.calls(), 3);
    }
}

#[tokio::test]
async fn credentials_are_never_stored() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    h.send(request(
        Method::GET,
        "http://e.com/",
        &[
            ("authorization", "Bearer SECRET1"),
            ("cookie", "session=SECRET2"),
            ("proxy-authorization", "SECRET3"),
        ],
        b"",
    ))
    .await;
    let info = &h.cache().entries().await.unwrap()[0];
    let entry = h.cache().get(&info.key).await.unwrap().unwrap();
    assert!(
        entry.request.headers.is_empty(),
        "{:?}",
        entry.request.headers
    );
}

#[tokio::test]
async fn credentials_even_when_ignored_still_separate_users() {
    let upstream = Upstream::new(|seen, _| {
        Ok(response(
            200,
            &[],
            format!("{:?}", seen.headers.get("authorization")),
        ))
    });
    let mut h = Harness::new(upstream, |b| b.ignored_parameters(["Authorization"]));
    h.send(with_header("authorization", "alice")).await;
    assert!(
        !h.send(with_header("authorization", "bob"))
            .await
            .cache
            .from_cache()
    );
}

#[tokio::test]
async fn opting_out_shares_one_entry_across_credentials() {
    let mut h = Harness::new(Upstream::ok("public", &[]), |b| b.credentials_in_key(false));
    h.send(with_header("authorization", "alice")).await;
    assert!(
        h.send(with_header("authorization", "bob"))
            .await
            .cache
            .from_cache()
    );
    assert_eq!(h.calls(), 1);
}

#[tokio::test]
async fn a_vary_on_a_redacted_header_is_a_miss_not_a_cross_user_hit() {
    let upstream = Upstream::new(|seen, _| {
        Ok(response(
            200,
            &[("vary", "X-Api-Key")],
            format!("{:?}", seen.headers.get("x-api-key")),
        ))
    });
    let mut h = Harness::new(upstream, |b| b.ignored_parameters(["x-api-key"]));
    h.send(request(
        Method::GET,
        "http://e.com/",
        &[("x-api-key", "alice")],
        b"",
    ))
    .await;
    let bob = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("x-api-key", "bob")],
            b"",
        ))
        .await;
    assert!(!bob.cache.from_cache());
    assert!(bob.body.ends_with(b"\"bob\")"));
}

#[tokio::test]
async fn vary_on_an_unredacted_header_compares_values() {
    let upstream = Upstream::new(|seen, _| {
        Ok(response(
            200,
            &[("vary", "accept-language")],
            format!("{:?}", seen.headers.get("accept-language")),
        ))
    });
    let mut h = Harness::new(upstream, |b| b);
    let en = || {
        request(
            Method::GET,
            "http://e.com/",
            &[("accept-language", "en")],
            b"",
        )
    };
    let fr = || {
        request(
            Method::GET,
            "http://e.com/",
            &[("accept-language", "fr")],
            b"",
        )
    };
    h.send(en()).await;
    assert!(h.send(en()).await.cache.from_cache());
    assert!(!h.send(fr()).await.cache.from_cache());
    let star = Upstream::ok("x", &[("vary", "*")]);
    let mut h = Harness::new(star, |b| b);
    h.get("http://e.com/").await;
    assert!(!h.get("http://e.com/").await.cache.from_cache());
}
