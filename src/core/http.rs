//! Plain HTTP request and response values. The core builds `HttpRequest`s and parses
//! `HttpResponse`s; the shell moves the bytes (sans-IO, as oauth2-rs does).

#[allow(unused_imports)]
use crate::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// RFC 9700 §4.11 / R20: token endpoint requests must not follow redirects.
    pub follow_redirects: bool,
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: Method::Get,
            url: url.into(),
            headers: vec![("accept".into(), "application/json".into())],
            body: None,
            follow_redirects: true,
        }
    }

    /// A POST with an `application/x-www-form-urlencoded` body (RFC 6749 Appendix B).
    pub fn form(url: impl Into<String>, pairs: &[(&str, &str)]) -> Self {
        Self {
            method: Method::Post,
            url: url.into(),
            headers: vec![
                ("content-type".into(), "application/x-www-form-urlencoded".into()),
                ("accept".into(), "application/json".into()),
            ],
            body: Some(form_encode(pairs)),
            follow_redirects: false,
        }
    }

    pub fn json(url: impl Into<String>, body: String) -> Self {
        Self {
            method: Method::Post,
            url: url.into(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("accept".into(), "application/json".into()),
            ],
            body: Some(body),
            follow_redirects: true,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn new(status: u16, headers: Vec<(String, String)>, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers, body: body.into() }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as a JSON object, or `None` when it is not one.
    pub fn json_object(&self) -> Option<super::json::Json> {
        super::json::Json::parse_bytes(&self.body).filter(super::json::Json::is_object)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `application/x-www-form-urlencoded` serialization (WHATWG URL §5.2).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_component(k, &mut out);
        out.push('=');
        encode_component(v, &mut out);
    }
    out
}

/// Percent-encodes everything but the unreserved set; space becomes `+`.
pub fn encode_component(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
}

/// Parses an `application/x-www-form-urlencoded` string (a URL query) into pairs.
pub fn form_decode(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match b {
            b'+' => out.push(b' '),
            b'%' => match s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    out.push(v);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
    }
    // a value that is not UTF-8 once decoded is not one we sent or can use: it becomes U+FFFD
    // (so a `state` or `code` like that fails its check) without the lossy decoder's code
    String::from_utf8(out).unwrap_or_else(|_| "\u{FFFD}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_round_trip() {
        let enc = form_encode(&[("a b", "x&y=z"), ("resource", "https://h/mcp?q=1"), ("e", "é%")]);
        assert_eq!(enc, "a+b=x%26y%3Dz&resource=https%3A%2F%2Fh%2Fmcp%3Fq%3D1&e=%C3%A9%25");
        // R18: a value that is not UTF-8 once decoded cannot match anything we sent
        assert_eq!(form_decode("state=%FF%FE&x=%E2%9C%93")[0].1, "\u{FFFD}");
        assert_eq!(form_decode("x=%E2%9C%93")[0].1, "✓");
        let dec = form_decode(&enc);
        assert_eq!(dec[0], ("a b".to_string(), "x&y=z".to_string()));
        assert_eq!(dec[1].1, "https://h/mcp?q=1");
        assert_eq!(dec[2].1, "é%");
        // malformed escapes are kept, never panic
        assert_eq!(form_decode("a=%zz%4")[0].1, "%zz%4");
    }

    #[test]
    fn headers_are_case_insensitive() {
        let r = HttpResponse::new(401, vec![("WWW-Authenticate".into(), "Bearer".into())], "");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_eq!(r.header("x"), None);
    }
}
