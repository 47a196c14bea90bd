//! A small absolute-URL type for the URLs this library handles: `scheme://host[:port]/path?query`.
//!
//! Parsing is strict: no user info, ASCII only, no whitespace or backslashes. The scheme and host
//! are lower-cased and a default port is dropped, the path is kept exactly as given and no
//! trailing slash is added to a bare origin, so `href()` is the canonical server URI of
//! RFC 8707 §2 / R15. The fragment is dropped (RFC 8707 §2: "MUST NOT include a fragment").
//! (The `url` crate would cost ~28 KB gzipped; the browser's `URL` is used by the shell where a
//! non-ASCII host has to be turned into punycode.)

#[allow(unused_imports)]
use crate::prelude::*;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
    query: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", self.message())]
pub enum UrlError {
    NotAbsolute,
    InvalidHost,
    InvalidPort,
    InvalidCharacter,
    UserInfo,
    /// R8: neither `https:` nor `http:` on a loopback host.
    Insecure,
}

impl UrlError {
    pub fn message(&self) -> &'static str {
        match self {
            UrlError::NotAbsolute => "not an absolute URL",
            UrlError::InvalidHost => "the URL has an invalid host",
            UrlError::InvalidPort => "the URL has an invalid port",
            UrlError::InvalidCharacter => "the URL contains characters that are not allowed",
            UrlError::UserInfo => "the URL carries user info",
            UrlError::Insecure => "the URL is neither https nor http on a loopback host",
        }
    }
}

impl Url {
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        let input = input.trim_matches(|c: char| c.is_ascii_whitespace());
        if input.bytes().any(|b| b <= b' ' || b >= 0x7f || b == b'\\') {
            return Err(UrlError::InvalidCharacter);
        }
        // (char patterns and `strip_prefix` only: a `&str` search pattern links core's
        // two-way searcher, and slicing by index links its panic formatting — wasm size)
        let (scheme, rest) = input.split_once(':').ok_or(UrlError::NotAbsolute)?;
        let rest = rest.strip_prefix("//").ok_or(UrlError::NotAbsolute)?;
        let mut sc = scheme.chars();
        let scheme_ok = sc.next().is_some_and(|c| c.is_ascii_alphabetic())
            && sc.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err(UrlError::NotAbsolute);
        }
        let scheme = scheme.to_ascii_lowercase();
        let rest = rest.split('#').next().unwrap_or_default();
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at_checked(auth_end).unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            None => None,
            Some("") => None,
            Some(p) => {
                if !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(UrlError::InvalidPort);
                }
                let n: u16 = p.parse().map_err(|_| UrlError::InvalidPort)?;
                match (scheme.as_str(), n) {
                    ("http", 80) | ("https", 443) => None,
                    _ => Some(n),
                }
            }
        };
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (tail, None),
        };
        Ok(Url { scheme, host, port, path: path.to_string(), query })
    }

    /// R8: parses and accepts only `https:`, or `http:` on a loopback host.
    pub fn parse_secure(input: &str) -> Result<Url, UrlError> {
        let url = Url::parse(input).map_err(|_| UrlError::Insecure)?;
        if url.is_secure() { Ok(url) } else { Err(UrlError::Insecure) }
    }

    pub fn is_secure(&self) -> bool {
        self.scheme == "https" || (self.scheme == "http" && self.is_loopback())
    }

    /// `localhost`, `127.0.0.0/8` or `[::1]` (RFC 8252 §8.3).
    pub fn is_loopback(&self) -> bool {
        if self.host == "localhost" || self.host == "[::1]" {
            return true;
        }
        let parts: Vec<&str> = self.host.split('.').collect();
        parts.len() == 4
            && parts.first() == Some(&"127")
            && parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
    }

    pub fn scheme(&self) -> &str {
        &self.scheme
    }
    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// `scheme://host[:port]` (RFC 6454 §6.2).
    pub fn origin(&self) -> String {
        match self.port {
            Some(p) => cat!(self.scheme, "://", self.host, ":", super::text::num(u64::from(p))),
            None => cat!(self.scheme, "://", self.host),
        }
    }

    pub fn same_origin(&self, other: &Url) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    /// The serialized URL, canonical as described in the module docs.
    pub fn href(&self) -> String {
        let mut s = self.origin();
        s.push_str(&self.path);
        if let Some(q) = &self.query {
            s.push('?');
            s.push_str(q);
        }
        s
    }

    /// The path with any trailing `/` removed (so `/` and `` both give ``).
    pub fn path_trimmed(&self) -> &str {
        self.path.trim_end_matches('/')
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<&str>), UrlError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (inner, after) = v6.split_once(']').ok_or(UrlError::InvalidHost)?;
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return Err(UrlError::InvalidHost);
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::InvalidPort)?),
        };
        (cat!("[", inner.to_ascii_lowercase(), "]"), port)
    } else {
        let (h, p) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
            return Err(UrlError::InvalidHost);
        }
        (h.to_ascii_lowercase(), p)
    };
    Ok((host, port))
}

impl core::fmt::Display for Url {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.href())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r15_canonical_server_uri() {
        let u = Url::parse("HTTPS://MCP.Example.COM:443/Api/MCP?x=1#frag").unwrap();
        assert_eq!(u.href(), "https://mcp.example.com/Api/MCP?x=1");
        // no trailing slash added to a bare origin
        assert_eq!(Url::parse("https://a.example").unwrap().href(), "https://a.example");
        assert_eq!(Url::parse("https://a.example/").unwrap().href(), "https://a.example/");
        assert_eq!(Url::parse("http://127.0.0.1:80/mcp").unwrap().href(), "http://127.0.0.1/mcp");
        assert_eq!(Url::parse("http://127.0.0.1:8080/mcp").unwrap().origin(), "http://127.0.0.1:8080");
        assert_eq!(Url::parse("https://[::1]:8443/x").unwrap().host(), "[::1]");
    }

    #[test]
    fn r8_only_https_or_loopback_http() {
        for ok in ["https://as.example/token", "http://localhost:3000/x", "http://127.0.0.5/t", "http://[::1]/t"] {
            assert!(Url::parse_secure(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://as.example/token",
            "javascript:alert(1)",
            "data:text/html,x",
            "/relative/token",
            "http://127.0.0.1.evil.example/x",
            "http://localhost.evil.example/x",
            "ftp://127.0.0.1/x",
            "",
        ] {
            assert_eq!(Url::parse_secure(bad), Err(UrlError::Insecure), "{bad}");
        }
    }

    #[test]
    fn rejects_malformed_urls_without_panicking() {
        for bad in [
            "https://user:pw@host/x",
            "https://ho st/x",
            "https://host:99999/x",
            "https://host:8a/x",
            "https://[zz]/x",
            "https://[::1/x",
            "https:///x",
            "https://h\\x",
            "https://hé/x",
            "://x",
            "1http://x",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }
}
