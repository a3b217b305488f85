//! [`read_token`]: the admin API's bearer token, from its file (read by
//! the proxy that serves the API and by `reqcache purge --admin`).

/// The token in the file at `path`, its surrounding whitespace trimmed.
/// A file other users can read is used, with a warning.
///
/// # Errors
/// A file that cannot be read, or holds no token.
pub fn read_token(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--admin-token-file {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("--admin-token-file {}: empty", path.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(),
                "reqcache admin: the token file is readable by other users (chmod 600 it)");
        }
    }
    Ok(token.to_owned())
}
