//! Plain HTTP request and response values. The core builds `HttpRequest`s and parses
//! `HttpResponse`s; the shell moves the bytes (sans-IO, as oauth2-rs does).

use serde::de::DeserializeOwned;
use url::Url;

use super::error::HttpError;
use url::form_urlencoded;

/// The two methods this client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Metadata documents (R3, R6).
    Get,
    /// The probe (R1), registration, token and revocation requests.
    Post,
}

impl Method {
    /// The method's name as `fetch` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request the core built, for the shell to send as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The HTTP method.
    pub method: Method,
    /// Where the request goes; the core has checked it is secure (R8).
    pub url: Url,
    /// Header names (lower-case) and values, in the order they are set.
    pub headers: Vec<(String, String)>,
    /// The body as sent, already encoded (JSON or form); `None` for a GET.
    pub body: Option<String>,
    /// RFC 9700 §4.11 / R20: token endpoint requests must not follow redirects.
    pub follow_redirects: bool,
    /// R25, R32: the most bytes of the response body that are read ([`check_body`]).
    pub max_body: usize,
}

/// R25, R32: the largest body read for the library's own requests (metadata, registration,
/// token, revocation and the probe), whose bodies it parses itself.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// R25, R32: a body of `len` bytes may be read for a request that reads at most `max`; the
/// shell checks the announced `Content-Length` and then what it read, the flow what it got.
pub fn check_body(len: usize, max: usize) -> Result<(), HttpError> {
    match len > max {
        true => Err(HttpError::BodyTooLarge(max)),
        false => Ok(()),
    }
}

const JSON: &str = "application/json";

impl HttpRequest {
    /// A GET that accepts JSON, following redirects: a metadata request (R3, R6).
    pub fn get(url: Url) -> Self {
        Self {
            method: Method::Get,
            url,
            headers: vec![("accept".into(), JSON.into())],
            body: None,
            follow_redirects: true,
            max_body: MAX_BODY_BYTES,
        }
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
            max_body: MAX_BODY_BYTES,
        }
    }

    /// A POST with a JSON body that follows redirects: the probe (R1) and registration (R12).
    pub fn json(url: Url, body: String) -> Self {
        Self {
            method: Method::Post,
            url,
            headers: vec![("content-type".into(), JSON.into()), ("accept".into(), JSON.into())],
            body: Some(body),
            follow_redirects: true,
            max_body: MAX_BODY_BYTES,
        }
    }

    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// A response as the shell read it: the body is the browser's `Response.text()` (UTF-8
/// decoded, invalid sequences replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status (a request that got no answer is an [`HttpError`] instead).
    pub status: u16,
    /// The headers the core reads (`www-authenticate`, `content-type`, `dpop-nonce`), names
    /// lower-case.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl HttpResponse {
    /// A response of this status, these headers and this body.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: impl Into<String>) -> Self {
        Self {
            status,
            headers,
            body: body.into(),
        }
    }

    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The status is 2xx.
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
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// R20, R28, R34: whether what the browser gave back for `req` stands as the answer of its
/// server. A request that does not follow redirects (`redirect: "manual"`) gets an opaque
/// redirect, status 0, for a redirect; one that does follow them may end at another origin, whose
/// body and headers (a nonce, a challenge, a metadata document) are not the server's. Both are
/// `invalid_response`. `final_url` is `Response.url`; empty when unknown (a response an app's
/// `fetch` made up), which counts as the request's own.
pub fn check_answered_by(req: &HttpRequest, status: u16, final_url: &str) -> Result<(), HttpError> {
    if status == 0 {
        return Err(HttpError::InvalidResponse(
            "the server answered with a redirect, which this request does not follow",
        ));
    }
    match final_url.is_empty()
        || Url::parse(final_url)
            .is_ok_and(|u| u.origin().ascii_serialization() == req.url.origin().ascii_serialization())
    {
        true => Ok(()),
        false => Err(HttpError::InvalidResponse(
            "the response came through a redirect to another origin, which does not speak for the server",
        )),
    }
}

/// `application/x-www-form-urlencoded` serialization (WHATWG URL §5.2).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_is_the_whatwg_serializer() {
        let enc = form_encode(&[("a b", "x&y=z"), ("resource", "https://h/mcp?q=1"), ("e", "é%*~")]);
        assert_eq!(
            enc,
            "a+b=x%26y%3Dz&resource=https%3A%2F%2Fh%2Fmcp%3Fq%3D1&e=%C3%A9%25*%7E"
        );
        let back: Vec<(String, String)> = form_urlencoded::parse(enc.as_bytes()).into_owned().collect();
        assert_eq!(back[0], ("a b".to_string(), "x&y=z".to_string()));
        assert_eq!(back[2].1, "é%*~");
    }

    /// R25, R32 (issue 18, F4): every request the library makes reads at most 256 KB of body;
    /// past that, a typed `invalid_response` that says so.
    #[test]
    fn r25_request_bodies_are_read_up_to_256_kb() {
        let u = Url::parse("https://as.example/x").unwrap();
        for req in [
            HttpRequest::get(u.clone()),
            HttpRequest::form(u.clone(), &[]),
            HttpRequest::json(u, "{}".into()),
        ] {
            assert_eq!(req.max_body, MAX_BODY_BYTES);
        }
        assert_eq!(MAX_BODY_BYTES, 262_144);
        assert_eq!(check_body(MAX_BODY_BYTES, MAX_BODY_BYTES), Ok(()));
        let e = crate::core::error::McpError::from(check_body(MAX_BODY_BYTES + 1, MAX_BODY_BYTES).unwrap_err());
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                "invalid_response",
                "invalid response: the response body is larger than 256 KB"
            )
        );
    }

    /// R20, R28, R34 (issue 18, F8): the library's own requests trust no answer from another
    /// origin: an opaque redirect (a token or revocation request, which follows none) and a
    /// redirect followed to another origin are typed errors; a redirect within the origin, or a
    /// response with no URL (an app's `fetch` made it up), is the server's.
    #[test]
    fn r28_r34_the_librarys_requests_trust_no_redirect_to_another_origin() {
        let token = HttpRequest::form(Url::parse("https://as.example/token").unwrap(), &[]);
        let meta = HttpRequest::get(Url::parse("https://as.example/.well-known/oauth-authorization-server").unwrap());
        let code = |r: Result<(), HttpError>| crate::core::error::McpError::from(r.unwrap_err()).code.as_str();
        assert_eq!(code(check_answered_by(&token, 0, "")), "invalid_response");
        assert!(
            check_answered_by(&token, 0, "")
                .unwrap_err()
                .to_string()
                .contains("redirect")
        );
        assert_eq!(
            code(check_answered_by(&meta, 200, "https://evil.example/meta")),
            "invalid_response"
        );
        assert_eq!(
            code(check_answered_by(&meta, 200, "https://as.example:8443/x")),
            "invalid_response"
        );
        assert_eq!(code(check_answered_by(&meta, 200, "not a url")), "invalid_response");
        assert_eq!(check_answered_by(&meta, 200, "https://as.example/other"), Ok(()));
        assert_eq!(check_answered_by(&token, 400, "https://as.example/token"), Ok(()));
        assert_eq!(check_answered_by(&meta, 200, ""), Ok(()));
        let data = HttpRequest::get(Url::parse("data:application/json,{}").unwrap());
        assert_eq!(check_answered_by(&data, 200, "data:application/json,{}"), Ok(()));
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
        assert_eq!(
            parse_json::<f64>("2.2250738585072014e-308"),
            Some(2.2250738585072014e-308)
        );
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
