//! [`purge_remote`]: `reqcache purge --admin URL`, a purge sent to a
//! running proxy's admin API.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::BoxError;

use super::purge_request::PurgeRequest;
use super::token::read_token;

/// How long the admin API may take to answer a purge (a large group on a
/// remote storage takes a while).
const PURGE_TIMEOUT: Duration = Duration::from_secs(300);

/// Sends `request` to the admin API at `api` (`http://127.0.0.1:9180`),
/// with the bearer token in `token_file`; the API's JSON answer.
///
/// # Errors
/// A token file that cannot be read, an API that cannot be reached or
/// does not answer in five minutes, or any answer but `200` (its error,
/// with the status).
pub async fn purge_remote(
    api: &str,
    token_file: &Path,
    request: &PurgeRequest,
) -> Result<serde_json::Value, BoxError> {
    let token = read_token(token_file)?;
    let base = api.trim_end_matches('/');
    if !base.starts_with("http://") {
        return Err(format!("--admin {api}: give the admin API's http:// URL").into());
    }
    let body = serde_json::to_vec(request)?;
    let post = Request::builder()
        .method(Method::POST)
        .uri(format!("{base}/purge"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = tokio::time::timeout(PURGE_TIMEOUT, client.request(post))
        .await
        .map_err(|_| format!("{base}: no answer in {PURGE_TIMEOUT:?}"))?
        .map_err(|e| format!("{base}: {e}"))?;
    let status = response.status();
    let answer = Limited::new(response.into_body(), 1 << 20)
        .collect()
        .await
        .map_err(|e| format!("{base}: {e}"))?
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&answer)
        .map_err(|_| format!("{base}: {status}: {}", String::from_utf8_lossy(&answer)))?;
    if !status.is_success() {
        let why = json["error"].as_str().unwrap_or("no reason given");
        return Err(format!("{base}: {status}: {why}").into());
    }
    Ok(json)
}
