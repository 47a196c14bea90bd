//! A small JSON (RFC 8259) value, parser and writer. serde + serde_json cost ~55 KB of wasm for
//! the dozen shapes this library reads and writes; this costs a few. Numbers keep their text
//! (no float formatting is linked); objects keep their order; nesting is bounded, so no input
//! can exhaust the stack (R32).

#[allow(unused_imports)]
use crate::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number's text, as validated by the grammar.
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

const MAX_DEPTH: usize = 64;

/// A value kept in storage or handed to JS as JSON.
pub trait Record: Sized {
    fn to_json(&self) -> Json;
    fn from_json(v: &Json) -> Option<Self>;
}

impl Json {
    /// Parses a whole JSON text; `None` for anything malformed.
    pub fn parse(text: &str) -> Option<Json> {
        let mut p = Parser { s: text.as_bytes(), i: 0 };
        let v = p.value(0)?;
        p.ws();
        (p.i == p.s.len()).then_some(v)
    }

    pub fn parse_bytes(bytes: &[u8]) -> Option<Json> {
        Json::parse(core::str::from_utf8(bytes).ok()?)
    }

    /// The value of `key` in an object (the last one, as `JSON.parse` does).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(pairs) => pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A number's value (from its text; exponents included).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(t) => number_value(t),
            _ => None,
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Obj(_))
    }

    /// `key`'s string value, borrowed.
    pub fn str_ref(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    /// `key`'s string value.
    pub fn str(&self, key: &str) -> Option<String> {
        self.get(key)?.as_str().map(str::to_string)
    }

    /// `key`'s array of strings (non-strings skipped); `None` when absent or not an array.
    pub fn strs(&self, key: &str) -> Option<Vec<String>> {
        match self.get(key)? {
            Json::Arr(a) => Some(a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()),
            _ => None,
        }
    }

    /// `key` is `true`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some(Json::Bool(true)))
    }

    /// `key`'s value as a whole non-negative number (ms timestamps and the like).
    pub fn u64(&self, key: &str) -> Option<u64> {
        let v = self.get(key)?.as_f64()?;
        (v.is_finite() && v >= 0.0).then_some(v as u64)
    }

    /// The JSON text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(t) => out.push_str(t),
            Json::Str(s) => write_str(s, out),
            Json::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// An object from `(key, value)` pairs, nulls kept.
#[inline]
pub fn obj<const N: usize>(mut pairs: [(&str, Json); N]) -> Json {
    object(&mut pairs, false)
}

/// An object from `(key, value)` pairs, null members left out (for optional fields).
#[inline]
pub fn obj_sparse<const N: usize>(mut pairs: [(&str, Json); N]) -> Json {
    object(&mut pairs, true)
}

/// One body for every object size: the values are taken out of a slice (a generic body, or a
/// `dyn Iterator` over arrays, costs wasm per array length).
fn object(pairs: &mut [(&str, Json)], sparse: bool) -> Json {
    let mut out = Vec::new();
    for (k, v) in pairs.iter_mut() {
        let v = core::mem::replace(v, Json::Null);
        if !(sparse && matches!(v, Json::Null)) {
            // `String::from(*k)`: `to_string()` on the `&mut &str` here would go through
            // `Display` and pull `core::fmt`'s padding code into the wasm
            out.push((String::from(*k), v));
        }
    }
    Json::Obj(out)
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}
impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}
impl From<&String> for Json {
    fn from(s: &String) -> Json {
        Json::Str(s.clone())
    }
}
impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}
impl From<u64> for Json {
    fn from(n: u64) -> Json {
        Json::Num(super::text::num(n))
    }
}
impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(v: Option<T>) -> Json {
        v.map_or(Json::Null, Into::into)
    }
}
impl From<&[String]> for Json {
    fn from(v: &[String]) -> Json {
        Json::Arr(v.iter().map(Json::from).collect())
    }
}
impl From<&Vec<String>> for Json {
    fn from(v: &Vec<String>) -> Json {
        Json::from(v.as_slice())
    }
}

fn write_str(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The value of a number's text (validated by the parser): mantissa digits, then the
/// decimal exponent applied by repeated ×10 / ÷10 (bounded: ±400 steps at most).
fn number_value(t: &str) -> Option<f64> {
    // one pass over the (grammar-checked) text: sign, digits, fraction, exponent
    let (mut v, mut scale, mut exp) = (0f64, 0i32, 0i32);
    let (mut neg, mut exp_neg, mut part) = (false, false, 0u8);
    for (i, b) in t.bytes().enumerate() {
        match (part, b) {
            (0, b'-') if i == 0 => neg = true,
            (0, b'.') => part = 1,
            (0 | 1, b'e' | b'E') => part = 2,
            (0 | 1, b'0'..=b'9') => {
                v = v * 10.0 + f64::from(b - b'0');
                scale -= i32::from(part);
            }
            (2, b'-') => exp_neg = true,
            (2, b'+') => {}
            (2, b'0'..=b'9') => exp = (exp * 10 + i32::from(b - b'0')).min(1000),
            _ => return None,
        }
    }
    let exp = (if exp_neg { -exp } else { exp } + scale).clamp(-400, 400);
    for _ in 0..exp.unsigned_abs() {
        v = if exp > 0 { v * 10.0 } else { v / 10.0 };
    }
    Some(if neg { -v } else { v })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn lit(&mut self, word: &[u8], v: Json) -> Option<Json> {
        if self.s.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }
    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'n' => self.lit(b"null", Json::Null),
            b't' => self.lit(b"true", Json::Bool(true)),
            b'f' => self.lit(b"false", Json::Bool(false)),
            b'"' => self.string().map(Json::Str),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Some(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.bump()? {
                        b',' => {}
                        b']' => return Some(Json::Arr(items)),
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut pairs = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Some(Json::Obj(pairs));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    if self.bump()? != b':' {
                        return None;
                    }
                    pairs.push((k, self.value(depth + 1)?));
                    self.ws();
                    match self.bump()? {
                        b',' => {}
                        b'}' => return Some(Json::Obj(pairs)),
                        _ => return None,
                    }
                }
            }
            _ => self.number(),
        }
    }
    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }
    fn number(&mut self) -> Option<Json> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        let n = self.digits();
        if n == 0 || (n > 1 && self.s.get(int_start) == Some(&b'0')) {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        let text = core::str::from_utf8(self.s.get(start..self.i)?).ok()?;
        Some(Json::Num(text.to_string()))
    }
    fn hex4(&mut self) -> Option<u32> {
        let h = core::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
        let v = u32::from_str_radix(h, 16).ok()?;
        self.i += 4;
        Some(v)
    }
    fn string(&mut self) -> Option<String> {
        if self.bump()? != b'"' {
            return None;
        }
        let mut out = Vec::new();
        loop {
            match self.bump()? {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let c = match self.bump()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                if self.bump()? != b'\\' || self.bump()? != b'u' {
                                    return None;
                                }
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(code)?
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b if b < 0x20 => return None,
                b => out.push(b),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back() {
        let text = r#"{"a":[1,-2.5e1,true,false,null],"b":"x\"y\\z\n\u00e9\ud83d\ude00","c":{}}"#;
        let v = Json::parse(text).unwrap();
        assert_eq!(v.get("b").and_then(Json::as_str), Some("x\"y\\z\né😀"));
        let again = Json::parse(&v.text()).unwrap();
        assert_eq!(again, v);
        // agrees with serde_json on what it reads
        let serde: serde_json::Value = serde_json::from_str(&v.text()).unwrap();
        assert_eq!(serde["b"], "x\"y\\z\né😀");
        assert_eq!(serde["a"][1], -25.0);
    }

    #[test]
    fn numbers() {
        for (t, want) in [("0", 0.0), ("3600", 3600.0), ("-1", -1.0), ("1.5", 1.5), ("2e3", 2000.0), ("25E-1", 2.5), ("1.75e+2", 175.0)] {
            assert_eq!(Json::parse(t).unwrap().as_f64(), Some(want), "{t}");
        }
        let v = Json::parse(r#"{"t":1712345678901,"f":-3}"#).unwrap();
        assert_eq!(v.u64("t"), Some(1_712_345_678_901));
        assert_eq!(v.u64("f"), None);
        assert_eq!(Json::from(1_712_345_678_901u64).text(), "1712345678901");
    }

    #[test]
    fn r32_malformed_input_is_none_never_a_panic() {
        for bad in [
            "", "{", "[1,]", "{\"a\"}", "{\"a\":}", "01", "1.", "-", "1e", "\"\\x\"", "\"\\ud800\"", "\"\\u12\"",
            "\"a\nb\"", "tru", "nul", "[1 2]", "{} x", "\"unterminated",
        ] {
            assert_eq!(Json::parse(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(Json::parse(&deep), None);
        assert_eq!(Json::parse_bytes(&[b'"', 0xff, b'"']), None);
    }

    #[test]
    fn accessors_and_builders() {
        let v = obj([("s", "x".into()), ("n", Json::Null), ("l", Json::from(&vec!["a".to_string()])), ("f", true.into())]);
        assert_eq!(v.text(), r#"{"s":"x","n":null,"l":["a"],"f":true}"#);
        assert_eq!(obj_sparse([("s", "x".into()), ("n", Json::from(None::<String>))]).text(), r#"{"s":"x"}"#);
        assert_eq!(v.strs("l"), Some(vec!["a".to_string()]));
        assert!(v.flag("f") && !v.flag("s"));
        assert_eq!(v.str("missing"), None);
        assert_eq!(Json::parse(r#"{"a":1,"a":2}"#).unwrap().get("a").and_then(Json::as_f64), Some(2.0));
        assert_eq!(Json::from("\u{1}").text(), "\"\\u0001\"");
    }
}
