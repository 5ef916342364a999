//! Cross-origin access for browsers, from an allow-list of exact origins
//! (`LINKWELL_CORS_ORIGINS`). A web front end or a directory widget on an allowed origin may
//! call the API with a bearer token; a page anywhere else gets no CORS headers, so the browser
//! keeps the answer from it, and its preflight is refused 403 with a problem body (clearer to
//! whoever debugs it than a bare answer the browser silently drops).
//!
//! Tokens travel in `Authorization`, never in cookies, so no response says
//! `Access-Control-Allow-Credentials`, and `*` is refused: each origin is named exactly.
//! Errors carry the headers too, so a script can read the problem.

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};

/// Methods the API answers.
const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";
/// Request headers the API reads beyond the CORS-safelisted ones.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id, Action-Token";
/// Response headers the API sends that a script may need, beyond the safelisted ones.
const EXPOSE_HEADERS: &str = "ETag, Location, Retry-After, RateLimit, RateLimit-Policy, \
     Idempotent-Replayed, X-Request-Id, WWW-Authenticate, Allow";
/// How long a browser may reuse a preflight's answer (Chromium caps it at 7200 s).
pub const MAX_AGE_SECONDS: u32 = 3600;

/// The response header naming the origin allowed to read the answer.
pub const ALLOW_ORIGIN: &str = "Access-Control-Allow-Origin";

/// The longest origin `normalise` lets through: `https://`, a host of at most 253
/// characters, and `:` with a port of at most five digits.
pub const MAX_ORIGIN_CHARS: usize = 8 + 253 + 6;

/// The origins allowed to call the API from a browser, each as browsers write `Origin`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Vec<String>,
}

/// An entry of `LINKWELL_CORS_ORIGINS` that is not an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("LINKWELL_CORS_ORIGINS: `{origin}` {reason}; refusing to start")]
pub struct BadOrigin {
    pub origin: String,
    pub reason: &'static str,
}

impl CorsPolicy {
    /// Checks each origin and writes it as a browser serialises it (lower case, no default
    /// port), so matching `Origin` is a plain comparison.
    pub fn new<S: AsRef<str>>(origins: &[S]) -> Result<Self, BadOrigin> {
        let origins = origins
            .iter()
            .map(|origin| normalise(origin.as_ref().trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { origins })
    }

    /// `LINKWELL_CORS_ORIGINS`: comma-separated; empty entries are skipped.
    pub fn split(list: &str) -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        origin
            .to_str()
            .is_ok_and(|origin| self.origins.iter().any(|allowed| allowed == origin))
    }

    /// For a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`):
    /// `Some(true)` when its origin is allowed, `Some(false)` when not; `None` for any other
    /// request.
    pub fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<bool> {
        if method != Method::OPTIONS || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let origin = headers.get(header::ORIGIN)?;
        Some(self.allows(origin))
    }

    /// Writes an allowed preflight's answer headers.
    pub fn write_preflight(&self, origin: &HeaderValue, headers: &mut HeaderMap) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(MAX_AGE_SECONDS),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }

    /// Writes the CORS headers on any other answer to `origin`: nothing for an origin not
    /// allowed. Every answer says it varies by `Origin` while the list is in use, so a cache
    /// never hands one origin's answer to another.
    pub fn write_actual(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        if self.origins.is_empty() {
            return;
        }
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = origin.filter(|origin| self.allows(origin)) else {
            return;
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
}

/// `scheme://host[:port]` with scheme http or https, an ASCII host (IDNs in punycode) and
/// nothing after; the default port is dropped, as browsers do.
fn normalise(origin: &str) -> Result<String, BadOrigin> {
    let bad = |reason| BadOrigin {
        origin: origin.to_owned(),
        reason,
    };
    if origin == "*" {
        return Err(bad(
            "allows every origin: name each origin exactly (tokens are sent in Authorization, \
             so a wildcard is never needed)",
        ));
    }
    let lower = origin.to_ascii_lowercase();
    let (scheme, rest) = lower
        .split_once("://")
        .ok_or_else(|| bad("is not an origin such as https://app.example.org"))?;
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return Err(bad("must start with https:// or http://")),
    };
    if rest.contains(['/', '?', '#']) {
        return Err(bad(
            "has a path, query or fragment; an origin is only scheme://host[:port]",
        ));
    }
    if rest.contains('@') {
        return Err(bad(
            "has user information; an origin is only scheme://host[:port]",
        ));
    }
    let (host, port) = match rest.rfind(':') {
        // A colon inside an IPv6 literal's brackets is not a port separator.
        Some(colon) if !rest[colon..].contains(']') => (&rest[..colon], Some(&rest[colon + 1..])),
        _ => (rest, None),
    };
    let host_ok = if let Some(literal) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        literal.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    if !host_ok {
        return Err(bad(
            "has no valid host (ASCII letters, digits, hyphens and dots; an IDN in punycode)",
        ));
    }
    match port {
        None => Ok(format!("{scheme}://{host}")),
        Some(port) => {
            let number = port
                .parse::<u16>()
                .ok()
                .filter(|n| *n > 0 && !port.starts_with('0'))
                .ok_or_else(|| bad("has a port that is not 1 to 65535"))?;
            if port == default_port {
                Ok(format!("{scheme}://{host}"))
            } else {
                Ok(format!("{scheme}://{host}:{number}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_written_as_browsers_send_them() {
        let policy = CorsPolicy::new(&[
            "https://App.Example.org",
            " http://localhost:8081 ",
            "https://widget.example.org:443",
            "http://[::1]:3000",
        ]);
        assert_eq!(
            policy.map(|p| p.origins),
            Ok(vec![
                "https://app.example.org".to_owned(),
                "http://localhost:8081".to_owned(),
                "https://widget.example.org".to_owned(),
                "http://[::1]:3000".to_owned(),
            ])
        );
    }

    #[test]
    fn anything_but_an_exact_origin_is_refused() {
        for origin in [
            "*",
            "app.example.org",
            "ftp://app.example.org",
            "https://app.example.org/",
            "https://app.example.org/path",
            "https://app.example.org?q",
            "https://user@app.example.org",
            "https://",
            "https://app..example.org",
            "https://app.example.org:0",
            "https://app.example.org:70000",
            "https://app.example.org:x",
            "https://*.example.org",
            "null",
        ] {
            assert!(CorsPolicy::new(&[origin]).is_err(), "{origin} was accepted");
        }
    }

    #[test]
    fn the_list_splits_on_commas() {
        assert_eq!(
            CorsPolicy::split(" https://a.example, ,https://b.example "),
            vec!["https://a.example", "https://b.example"]
        );
        assert!(CorsPolicy::split("").is_empty());
    }
}
