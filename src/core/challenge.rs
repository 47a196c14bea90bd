//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1, §11.2; RFC 6750 §3; RFC 9728 §5.1) — R2.
//!
//! ```text
//! WWW-Authenticate = #challenge
//! challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param = token BWS "=" BWS ( token / quoted-string )
//! ```
//! Several challenges may share one header, separated by commas like their parameters; a name
//! followed by `=` continues the current challenge, anything else starts a new one.

/// One challenge: a lower-cased scheme and either a token68 or lower-cased parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    /// The auth-scheme, lower-cased (`bearer`, `dpop`, …).
    pub scheme: String,
    /// The token68 form's value, when the challenge has one instead of parameters.
    pub token68: Option<String>,
    /// The auth-params in header order, names lower-cased, quoted strings unescaped.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The first parameter with exactly this (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What R2 reads from the `Bearer` challenge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BearerChallenge {
    /// RFC 9728 §5.1: the protected-resource metadata URL to GET instead of the well-known ones
    /// (R3).
    pub resource_metadata: Option<String>,
    /// RFC 6750 §3: the scope the resource asks for, authoritative over `scopes_supported` (R16,
    /// R28).
    pub scope: Option<String>,
    /// RFC 6750 §3.1: the error code (`invalid_token`, `insufficient_scope`, …), which tells a
    /// step-up from an expired token (R28).
    pub error: Option<String>,
    /// RFC 6750 §3: the resource's description of that error, for the app's message (R38).
    pub error_description: Option<String>,
}

/// Parses every challenge of a header value. Malformed input ends the parse: what was read
/// before it is returned, nothing panics.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        p.skip_ows_and_commas();
        let Some(scheme) = p.token() else { break };
        let mut ch = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            ..Default::default()
        };
        if p.skip_sp() {
            // a token68 stands alone right after the scheme; otherwise auth-params follow
            let save = p.i;
            let param = p.auth_param().is_some();
            p.i = save;
            if !param {
                ch.token68 = p.token68();
            }
        }
        if ch.token68.is_none() {
            // `#auth-param`: empty list elements (`Bearer , a=b,, c=d`) are allowed and skipped
            // (RFC 9110 §5.6.1); a name without `=` starts the next challenge
            loop {
                let save = p.i;
                p.skip_ows_and_commas();
                match p.auth_param() {
                    Some(kv) => ch.params.push(kv),
                    None => {
                        p.i = save;
                        break;
                    }
                }
            }
        }
        out.push(ch);
        p.skip_ows();
        if !p.at_end() && p.peek() != Some(b',') {
            break; // garbage: stop here
        }
    }
    out
}

/// The parameters of the challenge a refusal stands on (R2): the `Bearer` challenge, or the
/// `DPoP` one a server answering a DPoP-bound token sends (RFC 9449 §7.1) — whichever carries an
/// `error`, else Bearer. `None` when there is neither.
pub fn bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let all = parse_challenges(header);
    let of = |scheme: &str| all.iter().find(|c| c.scheme == scheme);
    let with_error = |c: &&Challenge| c.param("error").is_some();
    let ch = of("bearer")
        .filter(with_error)
        .or_else(|| of("dpop").filter(with_error))
        .or_else(|| of("bearer"))
        .or_else(|| of("dpop"))?;
    let get = |n: &str| ch.param(n).map(str::to_string);
    Some(BearerChallenge {
        resource_metadata: get("resource_metadata").or_else(|| {
            of("bearer")
                .and_then(|b| b.param("resource_metadata"))
                .map(str::to_string)
        }),
        scope: get("scope"),
        error: get("error"),
        error_description: get("error_description"),
    })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    /// At least one space; true if any was skipped.
    fn skip_sp(&mut self) -> bool {
        let start = self.i;
        self.skip_ows();
        self.i > start
    }
    fn skip_ows_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &str {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        // only ASCII bytes were accepted, so this is valid UTF-8
        std::str::from_utf8(self.s.get(start..self.i).unwrap_or_default()).unwrap_or_default()
    }
    fn token(&mut self) -> Option<String> {
        let t = self.take_while(is_tchar);
        (!t.is_empty()).then(|| t.to_string())
    }
    /// `token BWS "=" BWS ( token / quoted-string )`; restores nothing on failure.
    fn auth_param(&mut self) -> Option<(String, String)> {
        let name = self.token()?;
        self.skip_ows();
        if !self.eat(b'=') {
            return None;
        }
        self.skip_ows();
        let value = if self.peek() == Some(b'"') {
            self.quoted_string()?
        } else {
            self.token()?
        };
        // `name=value` must be followed by the end, a comma or spaces; `abc==` is a token68
        let save = self.i;
        self.skip_ows();
        if !(self.at_end() || self.peek() == Some(b',')) {
            self.i = save;
            return None;
        }
        self.i = save;
        Some((name.to_ascii_lowercase(), value))
    }
    fn quoted_string(&mut self) -> Option<String> {
        if !self.eat(b'"') {
            return None;
        }
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return String::from_utf8(out).ok();
                }
                b'\\' => {
                    self.i += 1;
                    out.push(self.peek()?);
                    self.i += 1;
                }
                b => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }
    fn token68(&mut self) -> Option<String> {
        let start = self.i;
        let body = self.take_while(is_token68_char).len();
        if body == 0 {
            return None;
        }
        while self.eat(b'=') {}
        std::str::from_utf8(self.s.get(start..self.i)?).ok().map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r2_reads_bearer_resource_metadata_and_scope() {
        let b = bearer_challenge(
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="files:read files:write""#,
        )
        .unwrap();
        assert_eq!(
            b.resource_metadata.as_deref(),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(b.scope.as_deref(), Some("files:read files:write"));
        assert_eq!(b.error, None);
    }

    #[test]
    fn r2_several_challenges_in_one_header() {
        let h = r#"Basic realm="a, b", Bearer error="insufficient_scope", scope="x y", error_description="need \"x\"", Newauth"#;
        let all = parse_challenges(h);
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(all[0].scheme, "basic");
        assert_eq!(all[0].param("realm"), Some("a, b"));
        assert_eq!(all[2].scheme, "newauth");
        let b = bearer_challenge(h).unwrap();
        assert_eq!(b.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(b.scope.as_deref(), Some("x y"));
        assert_eq!(b.error_description.as_deref(), Some("need \"x\""));
    }

    #[test]
    fn r2_token68_then_bearer() {
        let all = parse_challenges("Negotiate dGVzdA==, Bearer scope=read");
        assert_eq!(all[0].token68.as_deref(), Some("dGVzdA=="));
        assert_eq!(all[1].scheme, "bearer");
        assert_eq!(all[1].param("scope"), Some("read"));
        let all = parse_challenges("Bearer abc, Basic realm=x");
        assert_eq!(all[0].token68.as_deref(), Some("abc"));
        assert_eq!(all[1].param("realm"), Some("x"));
    }

    #[test]
    fn r2_case_insensitive_names_and_bws() {
        let b = bearer_challenge(r#"BEARER Resource_Metadata = "https://x/m" , SCOPE=a"#).unwrap();
        assert_eq!(b.resource_metadata.as_deref(), Some("https://x/m"));
        assert_eq!(b.scope.as_deref(), Some("a"));
    }

    #[test]
    fn r2_only_the_bearer_challenge_and_only_exact_names() {
        let b = bearer_challenge(r#"DPoPx scope="wrong", Bearer error_scope="nope", xscope="no""#).unwrap();
        assert_eq!(b.scope, None);
        let b = bearer_challenge(r#"Basic scope="other", Bearer realm="r""#).unwrap();
        assert_eq!(b.scope, None);
        assert!(bearer_challenge(r#"Basic realm="r""#).is_none());
    }

    /// RFC 9110 §5.6.1: empty list elements count for nothing, before the first parameter,
    /// between parameters and between challenges.
    #[test]
    fn r2_empty_list_elements_are_skipped() {
        let b = bearer_challenge(r#"Bearer , resource_metadata="https://x/m""#).unwrap();
        assert_eq!(b.resource_metadata.as_deref(), Some("https://x/m"));
        let all = parse_challenges(
            r#"Basic realm="r",, , Bearer ,scope="a b",, error="insufficient_scope" ,, DPoP algs="ES256""#,
        );
        let schemes: Vec<&str> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["basic", "bearer", "dpop"]);
        assert_eq!(all[1].param("scope"), Some("a b"));
        assert_eq!(all[1].param("error"), Some("insufficient_scope"));
        assert_eq!(all[2].param("algs"), Some("ES256"));
        // a scheme alone, then another challenge: not a parameter of the first
        let all = parse_challenges("Bearer, Basic realm=x");
        assert_eq!(
            (all.len(), all[0].params.len(), all[1].param("realm")),
            (2, 0, Some("x"))
        );
    }

    #[test]
    fn r2_malformed_input_never_panics() {
        for h in [
            "",
            ",,,",
            "Bearer scope=\"unterminated",
            "Bearer =x",
            "\"",
            "Bearer a=\"\\",
            "Bearer a=b c=d",
            "é",
        ] {
            let _ = parse_challenges(h);
            let _ = bearer_challenge(h);
        }
        // an unterminated quoted string yields no value for that param
        assert_eq!(bearer_challenge("Bearer scope=\"x").map(|b| b.scope), Some(None));
    }

    /// R28, RFC 9449 §7.1: a DPoP resource server refuses with the DPoP scheme; its error, scope
    /// and metadata count as a Bearer challenge's would, and an error-less DPoP challenge beside
    /// a Bearer one does not hide the Bearer one's parameters.
    #[test]
    fn r28_r34_a_dpop_scheme_challenge_is_read_too() {
        let c = bearer_challenge(r#"DPoP error="insufficient_scope", scope="mcp:admin", algs="ES256""#).unwrap();
        assert_eq!(
            (c.error.as_deref(), c.scope.as_deref()),
            (Some("insufficient_scope"), Some("mcp:admin"))
        );
        let c = bearer_challenge(r#"Bearer resource_metadata="https://m.example/prm", DPoP algs="ES256""#).unwrap();
        assert_eq!(
            (c.resource_metadata.as_deref(), c.error),
            (Some("https://m.example/prm"), None)
        );
        let c = bearer_challenge(
            r#"Bearer resource_metadata="https://m.example/prm", DPoP error="invalid_token", algs="ES256""#,
        )
        .unwrap();
        assert_eq!(
            (c.error.as_deref(), c.resource_metadata.as_deref()),
            (Some("invalid_token"), Some("https://m.example/prm"))
        );
        assert!(bearer_challenge(r#"Basic realm="x""#).is_none());
    }
}
