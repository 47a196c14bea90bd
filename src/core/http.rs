//! Plain HTTP request and response values. The core builds `HttpRequest`s and parses
//! `HttpResponse`s; the shell moves the bytes (sans-IO, as oauth2-rs does).

use serde::de::DeserializeOwned;
use url::Url;
use url::form_urlencoded;

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
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// RFC 9700 §4.11 / R20: token endpoint requests must not follow redirects.
    pub follow_redirects: bool,
}

const JSON: &str = "application/json";

impl HttpRequest {
    pub fn get(url: Url) -> Self {
        Self { method: Method::Get, url, headers: vec![("accept".into(), JSON.into())], body: None, follow_redirects: true }
    }

    /// A POST with an `application/x-www-form-urlencoded` body (RFC 6749 Appendix B).
    pub fn form(url: Url, pairs: &[(&str, &str)]) -> Self {
        Self {
            method: Method::Post,
            url,
            headers: vec![
                ("content-type".into(), "application/x-www-form-urlencoded".into()),
                ("accept".into(), JSON.into()),
            ],
            body: Some(form_encode(pairs)),
            follow_redirects: false,
        }
    }

    pub fn json(url: Url, body: String) -> Self {
        Self {
            method: Method::Post,
            url,
            headers: vec![("content-type".into(), JSON.into()), ("accept".into(), JSON.into())],
            body: Some(body),
            follow_redirects: true,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// A response as the shell read it: the body is the browser's `Response.text()` (UTF-8
/// decoded, invalid sequences replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn new(status: u16, headers: Vec<(String, String)>, body: impl Into<String>) -> Self {
        Self { status, headers, body: body.into() }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, read the way `Response.json()` reads it (serde_json, after a leading
    /// byte order mark); `None` when it does not parse as a `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Option<T> {
        parse_json(&self.body)
    }
}

/// JSON text as `Response.json()` takes it: a leading U+FEFF is not part of the text (the
/// Encoding Standard's UTF-8 decode strips it); the rest is serde_json's RFC 8259 grammar.
pub fn parse_json<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(text)).ok()
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// `application/x-www-form-urlencoded` serialization (WHATWG URL §5.2).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_is_the_whatwg_serializer() {
        let enc = form_encode(&[("a b", "x&y=z"), ("resource", "https://h/mcp?q=1"), ("e", "é%*~")]);
        assert_eq!(enc, "a+b=x%26y%3Dz&resource=https%3A%2F%2Fh%2Fmcp%3Fq%3D1&e=%C3%A9%25*%7E");
        let back: Vec<(String, String)> = form_urlencoded::parse(enc.as_bytes()).into_owned().collect();
        assert_eq!(back[0], ("a b".to_string(), "x&y=z".to_string()));
        assert_eq!(back[2].1, "é%*~");
    }

    #[test]
    fn headers_are_case_insensitive() {
        let r = HttpResponse::new(401, vec![("WWW-Authenticate".into(), "Bearer".into())], "");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_eq!(r.header("x"), None);
    }

    /// `Response.json()` accepts a body that starts with a UTF-8 byte order mark.
    #[test]
    fn r32_a_json_body_may_start_with_a_byte_order_mark() {
        let r = HttpResponse::new(200, vec![], "\u{feff}{\"issuer\":\"x\"}");
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["issuer"], "x");
    }

    /// `JSON.parse('"\\u+041"')` throws: a `\u` escape takes exactly four hex digits.
    #[test]
    fn r32_a_unicode_escape_takes_four_hex_digits() {
        assert_eq!(parse_json::<String>(r#""\u0041""#).as_deref(), Some("A"));
        assert_eq!(parse_json::<String>(r#""\u+041""#), None);
        assert_eq!(parse_json::<String>(r#""\u004""#), None);
    }

    /// Numbers read as `JSON.parse` reads them, for the values the old parser got wrong and the
    /// ones a token response carries. (serde_json's default number parser may differ from
    /// `JSON.parse` by one unit in the last place in rare cases; the only number this client
    /// reads is `expires_in`.)
    #[test]
    fn r20_numbers_read_as_json_parse_reads_them() {
        assert_eq!(parse_json::<f64>("1e308"), Some(1e308));
        assert_eq!(parse_json::<f64>("0.1"), Some(0.1));
        assert_eq!(parse_json::<f64>("3600.0"), Some(3600.0));
        assert_eq!(parse_json::<f64>("2.2250738585072014e-308"), Some(2.2250738585072014e-308));
    }

    /// Deep nesting within serde_json's limit (128) parses; far deeper is refused, never a
    /// stack overflow.
    #[test]
    fn r32_nesting_is_bounded_without_a_crash() {
        let nested = |n: usize| "[".repeat(n) + &"]".repeat(n);
        assert!(parse_json::<serde_json::Value>(&nested(100)).is_some());
        assert!(parse_json::<serde_json::Value>(&nested(100_000)).is_none());
    }
}
