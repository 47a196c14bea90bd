//! What the fuzz targets share: how an input's bytes become the parsers' arguments, and the
//! oracles the invariants are checked against (written apart from the crate's own checks, so
//! that a target does not merely ask the code whether it agrees with itself).
//!
//! Inputs are text, so that the seeds under `fuzz/seeds/` are real-world-shaped documents a
//! person can read and libFuzzer's mutations stay close to them:
//!
//! * an HTTP response is `STATUS [ARG]`, then `name: value` header lines, a blank line, and the
//!   body (the rest, as the browser's `Response.text()` gives it: invalid UTF-8 replaced). `ARG`
//!   is what the parser is judged against: the server URL, the issuer, the redirect URI, the
//!   clock. A status that does not parse reads as 200.
//! * other inputs are lines; see each target.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use mcp_oauth_wasm::core::http::HttpResponse;
use url::{Host, Url};

/// The input as text, as the browser would hand it over (invalid UTF-8 replaced).
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// `(first line, the rest)`; the rest is empty when there is no newline.
pub fn split_line(s: &str) -> (&str, &str) {
    match s.split_once('\n') {
        Some((a, b)) => (a.strip_suffix('\r').unwrap_or(a), b),
        None => (s, ""),
    }
}

/// An HTTP response and the argument on its status line (see the module's doc).
pub fn response(data: &[u8]) -> (HttpResponse, String) {
    let s = text(data);
    let (status_line, mut rest) = split_line(&s);
    let (status, arg) = status_line.split_once(' ').unwrap_or((status_line, ""));
    let status = status.trim().parse::<u16>().unwrap_or(200);
    let mut headers = Vec::new();
    loop {
        if rest.is_empty() {
            break;
        }
        let (line, tail) = split_line(rest);
        rest = tail;
        if line.is_empty() {
            break;
        }
        match line.split_once(':') {
            Some((k, v)) => headers.push((k.trim().to_string(), v.trim().to_string())),
            None => headers.push((line.trim().to_string(), String::new())),
        }
    }
    (HttpResponse::new(status, headers, rest.to_string()), arg.to_string())
}

/// R8, said again without the crate's code: `https:`, or `http:` on `localhost`, 127.0.0.0/8
/// or `[::1]`, and no user info.
pub fn secure_oracle(url: &Url) -> bool {
    let loopback = match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.octets()[0] == 127,
        Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        None => false,
    };
    let no_user_info = url.username().is_empty() && url.password().is_none();
    no_user_info && (url.scheme() == "https" || (url.scheme() == "http" && loopback))
}

/// R4, said again: same scheme, host and port, and the resource's path is the server's or a
/// whole-segment prefix of it (trailing slashes aside).
pub fn covers_oracle(resource: &Url, server: &Url) -> bool {
    let segments = |u: &Url| -> Vec<String> {
        let mut v: Vec<String> = u.path_segments().map(|s| s.map(str::to_string).collect()).unwrap_or_default();
        while v.last().is_some_and(String::is_empty) {
            v.pop();
        }
        v
    };
    let (r, s) = (segments(resource), segments(server));
    resource.username().is_empty()
        && resource.password().is_none()
        && resource.scheme() == server.scheme()
        && resource.host() == server.host()
        && resource.port_or_known_default() == server.port_or_known_default()
        && r.len() <= s.len()
        && r.iter().zip(&s).all(|(a, b)| a == b)
}

/// R31: whether `s` holds what the crate's redaction treats as a credential: a run of 20 or
/// more token characters with both a letter and a digit.
pub fn has_secret_like_run(s: &str) -> bool {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || "-._~+/=".contains(c)))
        .any(|run| run.len() >= 20 && run.bytes().any(|b| b.is_ascii_digit()) && run.bytes().any(|b| b.is_ascii_alphabetic()))
}

/// The fastest of `rounds` runs of `f` (the minimum is what noise cannot make smaller).
pub fn fastest(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// A growable input: `prefix`, then `unit` repeated, then `suffix`, with every `#` of the unit
/// replaced by the copy's number, so that repeated copies can differ (distinct scopes, distinct
/// JSON members) as well as be equal.
pub struct Scalable<'a> {
    pub prefix: &'a str,
    pub unit: &'a str,
    pub suffix: &'a str,
}

impl<'a> Scalable<'a> {
    /// From `prefix\nunit\nsuffix` (the suffix is the rest, newlines and all).
    pub fn from_text(s: &'a str) -> Scalable<'a> {
        let (prefix, rest) = split_line(s);
        let (unit, suffix) = split_line(rest);
        Scalable { prefix, unit, suffix }
    }

    pub fn build(&self, copies: usize) -> String {
        let mut out = String::with_capacity(self.prefix.len() + self.suffix.len() + copies * (self.unit.len() + 8));
        out.push_str(self.prefix);
        for i in 0..copies {
            for (j, part) in self.unit.split('#').enumerate() {
                if j > 0 {
                    out.push_str(&i.to_string());
                }
                out.push_str(part);
            }
        }
        out.push_str(self.suffix);
        out
    }
}

/// The rule for linear time: an input scaled 4× may cost at most about 6× (1.5× per
/// byte). `run` is timed on `scalable` grown to about `base_bytes` and to four times that, the
/// fastest of several rounds each; a violation is measured again at twice the size with more
/// rounds before it counts. Returns the offending figures, or `None` when the cost is linear
/// (or too small to judge: below `floor` for the large input).
pub fn superlinear(scalable: &Scalable<'_>, base_bytes: usize, floor: Duration, mut run: impl FnMut(&str)) -> Option<String> {
    if scalable.unit.is_empty() {
        return None;
    }
    let copies = base_bytes.div_ceil(scalable.unit.len()).max(1);
    let mut measure = |copies: usize, rounds: usize| {
        let (small, large) = (scalable.build(copies), scalable.build(4 * copies));
        let t1 = fastest(rounds, || run(&small));
        let t4 = fastest(rounds, || run(&large));
        // cost per byte, large over small
        let ratio = (t4.as_secs_f64() / large.len() as f64) / (t1.as_secs_f64().max(1e-9) / small.len() as f64);
        (ratio, t1, t4, small.len(), large.len())
    };
    let first = measure(copies, 3);
    if first.0 <= 1.5 || first.2 < floor {
        return None;
    }
    let second = measure(2 * copies, 9);
    if second.0 <= 1.5 || second.2 < floor {
        return None;
    }
    Some(format!(
        "4x the input costs {:.1}x per byte ({} bytes: {:?}, {} bytes: {:?}; again {:.1}x: {:?} / {:?})",
        first.0, first.3, first.1, first.4, first.2, second.0, second.1, second.2
    ))
}
