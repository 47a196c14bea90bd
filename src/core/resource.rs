//! URLs as the browser parses them (the WHATWG URL Standard, through the `url` crate): the
//! canonical server URI (RFC 8707 §2, R15), the resource match (RFC 9728 §3.3, R4) and the
//! https-or-loopback rule for every endpoint (R8, RFC 8252 §8.3).

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;
use url::{Host, Position, Url};

/// Why a URL is not usable as a server URL or an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    /// It does not parse as an absolute URL.
    #[error("not an absolute URL ({0})")]
    Invalid(#[from] url::ParseError),
    /// It has a user name or password, which no endpoint may carry.
    #[error("the URL carries user info")]
    UserInfo,
    /// R8: neither `https:` nor `http:` on a loopback host.
    #[error("the URL is neither https nor http on a loopback host")]
    Insecure,
}

/// R8: `https:`, or `http:` on `localhost`, `127.0.0.0/8` or `[::1]`, judged on the parsed host
/// (so `127.1`, `0x7f.1` and `2130706433` are the loopback address the browser connects to).
pub fn is_secure(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(Host::Domain(d)) => d == "localhost",
            Some(Host::Ipv4(ip)) => Ipv4Addr::is_loopback(&ip),
            Some(Host::Ipv6(ip)) => Ipv6Addr::is_loopback(&ip),
            None => false,
        },
        _ => false,
    }
}

fn has_user_info(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// R8: parses an absolute URL and accepts it only when it is secure and carries no user info
/// (which `fetch` refuses, and which has no place in an endpoint or a resource).
pub fn parse_secure(input: &str) -> Result<Url, UrlError> {
    let url = Url::parse(input)?;
    match () {
        _ if has_user_info(&url) => Err(UrlError::UserInfo),
        _ if !is_secure(&url) => Err(UrlError::Insecure),
        _ => Ok(url),
    }
}

/// An MCP server's URL, parsed once where it enters the library: absolute, R8-secure, without
/// user info, and with its canonical text (R15) — what keys its record and, without metadata,
/// the RFC 8707 `resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    url: Url,
    canonical: String,
}

impl ServerUrl {
    /// R15: scheme and host lower-cased, dot segments and numeric IPv4 forms resolved, default
    /// port and fragment dropped (all as the browser does), and no trailing slash added to a bare
    /// origin: `https://mcp.example` stays `https://mcp.example`.
    pub fn parse(input: &str) -> Result<ServerUrl, UrlError> {
        Self::parse_as(input, input)
    }

    /// [`ServerUrl::parse`] of `ascii`, the browser's own serialization of what the user typed
    /// (`typed`, whose non-ASCII host the browser turned into punycode): whether it was a bare
    /// origin is read from `typed`, since the browser's serialization always has a path.
    pub fn parse_as(typed: &str, ascii: &str) -> Result<ServerUrl, UrlError> {
        let mut url = parse_secure(ascii)?;
        url.set_fragment(None);
        let canonical = if url.path() == "/" && is_bare_origin(typed) {
            format!("{}{}", &url[..Position::BeforePath], &url[Position::AfterPath..])
        } else {
            url.to_string()
        };
        Ok(ServerUrl { url, canonical })
    }

    /// The canonical server URI (R15).
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The server URL as parsed, for building requests to it.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

impl std::fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical)
    }
}

/// Whether a URL's text has nothing after its authority but a query or fragment, read as the
/// WHATWG parser reads a special-scheme URL: tabs and newlines dropped, `\` a slash, any number
/// of slashes after the scheme (`https:a.example` is `https://a.example/`).
fn is_bare_origin(typed: &str) -> bool {
    let text: String = typed
        .trim()
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let Some((_, rest)) = text.split_once(':') else {
        return false;
    };
    let after_slashes = rest.trim_start_matches(['/', '\\']);
    let before_query = after_slashes.split(['?', '#']).next().unwrap_or_default();
    !before_query.contains(['/', '\\'])
}

/// `url`'s path without trailing slashes (`/` gives ``).
pub fn path_trimmed(url: &Url) -> &str {
    url.path().trim_end_matches('/')
}

/// R4: the metadata's `resource` identifies this server: same origin, and its path is a
/// segment-wise prefix of the server's (`/api` covers `/api/mcp`, not `/api2`). Both are
/// parsed URLs, so `/api/../mcp` is `/mcp` here as on the wire.
pub fn resource_covers(resource: &Url, server: &Url) -> bool {
    let r = path_trimmed(resource);
    let s = server.path();
    !has_user_info(resource)
        && resource.origin() == server.origin()
        && (r.is_empty() || s.trim_end_matches('/') == r || s.strip_prefix(r).is_some_and(|rest| rest.starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(s: &str) -> String {
        ServerUrl::parse(s).unwrap().as_str().to_string()
    }

    #[test]
    fn r15_canonical_server_uri() {
        assert_eq!(
            server("HTTPS://MCP.Example.COM:443/Api/MCP?x=1#frag"),
            "https://mcp.example.com/Api/MCP?x=1"
        );
        // no trailing slash added to a bare origin, one kept when given
        assert_eq!(server("https://a.example"), "https://a.example");
        assert_eq!(server("https://a.example/"), "https://a.example/");
        assert_eq!(server("https://a.example?q=1"), "https://a.example?q=1");
        // however the bare origin is spelt, as the WHATWG parser reads it
        for bare in [
            "https:a.example",
            "https:\\\\a.example",
            "https:///a.example",
            " https://a.ex\tample ",
        ] {
            assert_eq!(server(bare), "https://a.example", "{bare:?}");
        }
        assert_eq!(server("https://a.example\\"), "https://a.example/");
        // the browser's punycode serialization, shaped as typed
        let idn = ServerUrl::parse_as("https://bücher.example", "https://xn--bcher-kva.example/").unwrap();
        assert_eq!(idn.as_str(), "https://xn--bcher-kva.example");
        assert_eq!(server("http://127.0.0.1:80/mcp"), "http://127.0.0.1/mcp");
        let u = ServerUrl::parse("http://127.0.0.1:8080/mcp").unwrap();
        assert_eq!(u.url().origin().ascii_serialization(), "http://127.0.0.1:8080");
        assert_eq!(
            ServerUrl::parse("https://[::1]:8443/x").unwrap().url().host_str(),
            Some("[::1]")
        );
    }

    /// What `new URL(…)` gives in the browser: dot segments resolved, backslashes are slashes.
    #[test]
    fn r15_dot_segments_and_backslashes_resolve_as_in_the_browser() {
        assert_eq!(server("https://h.example/api/../mcp"), "https://h.example/mcp");
        assert_eq!(server("https://h.example/a/./b/%2e%2E/mcp"), "https://h.example/a/mcp");
        assert_eq!(server("https://h.example\\mcp"), "https://h.example/mcp");
    }

    /// R8 on numeric hosts: the browser reads `127.1`, `0x7f.1`, `2130706433` and `127.0.0.1.`
    /// as 127.0.0.1, a loopback address, and so do we — with the origin the browser derives.
    #[test]
    fn r8_numeric_ipv4_hosts_are_the_address_the_browser_connects_to() {
        for input in [
            "http://127.1/mcp",
            "http://0x7f.1/mcp",
            "http://2130706433/mcp",
            "http://127.0.0.1./mcp",
            "http://0177.0.0.1/mcp",
        ] {
            assert_eq!(server(input), "http://127.0.0.1/mcp", "{input}");
        }
        for input in ["http://128.1/mcp", "http://0x80.0.0.1/mcp", "http://3232235777/mcp"] {
            assert_eq!(ServerUrl::parse(input), Err(UrlError::Insecure), "{input}");
        }
        assert_eq!(server("http://[0:0:0:0:0:0:0:1]:3000/mcp"), "http://[::1]:3000/mcp");
    }

    #[test]
    fn r8_only_https_or_loopback_http() {
        for ok in [
            "https://as.example/token",
            "http://localhost:3000/x",
            "http://LOCALHOST/x",
            "http://127.0.0.5/t",
            "http://[::1]/t",
        ] {
            assert!(parse_secure(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://as.example/token",
            "javascript:alert(1)",
            "data:text/html,x",
            "http://127.0.0.1.evil.example/x",
            "http://localhost.evil.example/x",
            "ftp://127.0.0.1/x",
            "http://[::2]/x",
        ] {
            assert_eq!(parse_secure(bad), Err(UrlError::Insecure), "{bad}");
        }
        assert_eq!(
            parse_secure("https://user:pw@as.example/token"),
            Err(UrlError::UserInfo)
        );
        for not_absolute in ["/relative/token", "", "://x", "1http://x"] {
            assert!(
                matches!(parse_secure(not_absolute), Err(UrlError::Invalid(_))),
                "{not_absolute}"
            );
        }
    }

    #[test]
    fn rejects_malformed_server_urls_without_panicking() {
        assert_eq!(ServerUrl::parse("https://user:pw@host/x"), Err(UrlError::UserInfo));
        for bad in [
            "https://ho st/x",
            "https://host:99999/x",
            "https://host:8a/x",
            "https://[zz]/x",
            "https://[::1/x",
            "https://",
        ] {
            assert!(matches!(ServerUrl::parse(bad), Err(UrlError::Invalid(_))), "{bad}");
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn r4_resource_must_cover_the_server() {
        let s = url("https://h.example/api/mcp");
        for ok in [
            "https://h.example/api/mcp",
            "https://h.example/api",
            "https://h.example/api/",
            "https://h.example",
            "https://h.example/",
            "https://H.EXAMPLE:443/api",
        ] {
            assert!(resource_covers(&url(ok), &s), "{ok}");
        }
        for bad in [
            "https://h.example/api2",
            "https://h.example/api/mcp/x",
            "https://other.example/api/mcp",
            "http://h.example/api/mcp",
            "https://h.example:8443/api",
            "https://evil@h.example/api",
        ] {
            assert!(!resource_covers(&url(bad), &s), "{bad}");
        }
    }

    /// R4 with dot segments: the browser sends `https://h/api/../mcp` to `/mcp`, which `/api`
    /// does not cover.
    #[test]
    fn r4_a_dot_segment_path_is_judged_as_the_browser_resolves_it() {
        let s = ServerUrl::parse("https://h.example/api/../mcp").unwrap();
        assert!(!resource_covers(&url("https://h.example/api"), s.url()));
        assert!(resource_covers(&url("https://h.example/mcp"), s.url()));
        assert!(resource_covers(
            &url("https://h.example/x/../api"),
            &url("https://h.example/api/mcp")
        ));
    }
}
