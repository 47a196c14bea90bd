//! The authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636 §4.3, and RFC 8707 §2), the
//! pending-flow record, and the callback checks (RFC 6749 §4.1.2, RFC 9207 §2.4) — R15–R19.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use url::Url;

use super::error::{ErrorCode, McpError};
use super::pkce::CodeVerifier;
use super::secret::AuthCode;

/// R17: pending flows expire after 10 minutes.
pub const FLOW_LIFETIME_MS: u64 = 10 * 60 * 1000;

/// Everything the callback needs, stored under the flow's `state` (R17, R24).
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingFlow {
    /// R17: the fresh random `state` sent with the request; the callback must carry it back
    /// exactly.
    pub state: String,
    /// R14: the PKCE verifier; the authorization URL carries only its S256 challenge, the code
    /// exchange sends it.
    pub verifier: CodeVerifier,
    /// The canonical URL of the MCP server this flow authorizes (R15), the key of its record.
    pub server_url: String,
    /// The authorization server the request went to; a callback's `iss` must equal it (R18).
    pub issuer: String,
    /// R18: the server advertised `authorization_response_iss_parameter_supported`.
    #[serde(default)]
    pub iss_required: bool,
    /// The client id the request was sent with, for this `issuer` only (R9, R11).
    pub client_id: String,
    /// The `redirect_uri` sent with the request; the code exchange must send the same one.
    pub redirect_uri: String,
    /// R15: the RFC 8707 `resource` sent with the request, and again on the code exchange.
    pub resource: String,
    /// R16: the scope asked for, if any; none when neither the challenge nor the resource names
    /// one.
    #[serde(default)]
    pub scope: Option<String>,
    /// R17: when the flow began, in ms since the epoch on the browser's clock; it expires
    /// [`FLOW_LIFETIME_MS`] later.
    pub created_at: u64,
    /// R24: where a full-page redirect returns to.
    #[serde(default)]
    pub return_to: Option<String>,
    /// R22, R24: a popup flow (kept in the opener's memory) rather than a full-page redirect (kept
    /// in sessionStorage).
    #[serde(default)]
    pub popup: bool,
    /// F1 (R9, R13, R34): what the code exchange needs, fixed when the flow began from the
    /// metadata of `issuer`: its token endpoint, the authentication methods it lists, and
    /// whether the tokens are bound with DPoP. The exchange uses these and nothing read later,
    /// so a rediscovery during sign-in cannot send this code, its verifier or this issuer's
    /// client secret anywhere else.
    pub token_endpoint: Url,
    /// RFC 8414 §2: the issuer's `token_endpoint_auth_methods_supported`, for the exchange's client
    /// authentication (R13).
    #[serde(default)]
    pub token_auth_methods: Option<Vec<String>>,
    /// R34: the code exchange sends a DPoP proof, so the tokens are bound to this issuer's key.
    #[serde(default)]
    pub dpop: bool,
}

/// R32: at most this many scopes are read from one list a server sends (a resource's
/// `scopes_supported`, a challenge's `scope`, a granted scope), and a union holds at most as many.
pub const MAX_SCOPES: usize = 256;
/// R32: the longest scope read from a server, in bytes.
pub const MAX_SCOPE_BYTES: usize = 256;

/// R32: a scope list from a server past the caps; nothing beyond the cap is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ScopeError {
    /// More than [`MAX_SCOPES`] scopes in one list, or in a union.
    #[error("a scope list from the server has more than {MAX_SCOPES} scopes, more than this client reads")]
    TooMany,
    /// One scope longer than [`MAX_SCOPE_BYTES`] bytes.
    #[error("a scope from the server is longer than {MAX_SCOPE_BYTES} bytes, more than this client reads")]
    TooLong,
}

impl From<ScopeError> for McpError {
    fn from(e: ScopeError) -> Self {
        McpError::new(ErrorCode::InvalidResponse, e.to_string())
    }
}

/// R32: the scopes of one list, checked against the caps as they are read: a list of any size
/// costs at most `MAX_SCOPES + 1` of its entries.
fn capped<'a>(list: impl IntoIterator<Item = &'a str>) -> Result<Vec<&'a str>, ScopeError> {
    let mut out = Vec::new();
    for s in list {
        if out.len() == MAX_SCOPES {
            return Err(ScopeError::TooMany);
        }
        if s.len() > MAX_SCOPE_BYTES {
            return Err(ScopeError::TooLong);
        }
        out.push(s);
    }
    Ok(out)
}

/// R16: the challenge's scope, else the resource's `scopes_supported`, else none;
/// `offline_access` added only when the AS lists it and the app wants refresh tokens. R32: the
/// list it takes is capped ([`MAX_SCOPES`], [`MAX_SCOPE_BYTES`]).
pub fn choose_scope(
    challenge_scope: Option<&str>,
    resource_scopes: Option<&[String]>,
    as_scopes: Option<&[String]>,
    want_offline: bool,
) -> Result<Option<String>, ScopeError> {
    let mut scope = match (challenge_scope, resource_scopes) {
        (Some(s), _) if !s.trim().is_empty() => capped(s.split_whitespace())?.join(" "),
        (_, Some(list)) => capped(list.iter().map(String::as_str))?.join(" "),
        _ => String::new(),
    };
    let offline_listed = as_scopes.is_some_and(|l| l.iter().any(|s| s == "offline_access"));
    if want_offline && offline_listed && !scope.split(' ').any(|s| s == "offline_access") {
        if !scope.is_empty() {
            scope.push(' ');
        }
        scope.push_str("offline_access");
    }
    Ok((!scope.is_empty()).then_some(scope))
}

/// R16, R28: the union of the granted and the challenged scopes, each once, in that order
/// (first occurrence first). R32: linear (a set of the scopes seen), each list and the union
/// capped at [`MAX_SCOPES`], each scope at [`MAX_SCOPE_BYTES`].
pub fn union_scopes(granted: Option<&str>, challenged: Option<&str>) -> Result<Option<String>, ScopeError> {
    let mut seen = std::collections::HashSet::new();
    let mut all: Vec<&str> = Vec::new();
    for list in granted.into_iter().chain(challenged) {
        for s in capped(list.split_whitespace())? {
            if seen.insert(s) {
                if all.len() == MAX_SCOPES {
                    return Err(ScopeError::TooMany);
                }
                all.push(s);
            }
        }
    }
    Ok((!all.is_empty()).then(|| all.join(" ")))
}

/// R24: a `returnTo` on another origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReturnToError {
    /// The resolved `returnTo` is not on the page's origin.
    #[error("option returnTo must be on the page's own origin")]
    OtherOrigin,
}

impl From<ReturnToError> for McpError {
    fn from(e: ReturnToError) -> Self {
        McpError::new(ErrorCode::InvalidInput, e.to_string())
    }
}

/// R24: where a full-page redirect returns to, for `resolved` (the app's `returnTo` or the page's
/// own address, resolved against the page): its path, query and fragment, on the page's origin
/// only. A path that starts with `//` (`https://app//evil.example/x`, or `/\evil.example/x`
/// once resolved) would read as protocol-relative, so that `location.replace` leaves the origin:
/// it comes back as `/.//evil.example/x`, which resolves to the very same same-origin URL (the
/// WHATWG URL serializer's own `/.` for such paths).
pub fn return_path(page_origin: &Url, resolved: &Url) -> Result<String, ReturnToError> {
    if resolved.origin() != page_origin.origin() {
        return Err(ReturnToError::OtherOrigin);
    }
    let path = &resolved[url::Position::BeforePath..];
    Ok(match path.starts_with("//") || path.starts_with("/\\") {
        true => format!("/.{path}"),
        false => path.to_string(),
    })
}

/// R24: a return path read back after the redirect (from sessionStorage, perhaps written by an
/// older release), checked as [`return_path`] checks it against the page it returns from;
/// `None` when it is not on that page's origin.
pub fn stored_return_path(page: &Url, stored: &str) -> Option<String> {
    return_path(page, &page.join(stored).ok()?).ok()
}

/// RFC 6749 §4.1.1 + RFC 7636 §4.3 + RFC 8707 §2: the URL the popup (or the page) goes to. The
/// endpoint's own query is kept (RFC 6749 §3.1); the verifier never appears, only its challenge.
pub fn build_authorization_url(endpoint: &Url, flow: &PendingFlow) -> Url {
    let mut url = endpoint.clone();
    url.set_fragment(None);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &flow.client_id)
            .append_pair("redirect_uri", &flow.redirect_uri)
            .append_pair("state", &flow.state)
            .append_pair("code_challenge", &flow.verifier.challenge_s256())
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", &flow.resource);
        if let Some(s) = &flow.scope {
            q.append_pair("scope", s);
        }
    }
    url
}

/// The parameters of an authorization response (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207 §2). A
/// popup's callback page hands them to the opener as JSON (R22), tagged
/// `"type": "mcp-oauth-wasm:callback"` so that an app's own `message` listeners can tell them
/// apart; the code is useless without the verifier, which never leaves the opener.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "mcp-oauth-wasm:callback")]
pub struct CallbackParams {
    /// RFC 6749 §4.1.2: the authorization code, kept out of `Debug` output (R31).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<AuthCode>,
    /// RFC 6749 §4.1.2: the `state` the request sent, naming the pending flow (R17).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// RFC 9207 §2: the issuer that answered, checked against the flow's (R18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// RFC 6749 §4.1.2.1: the error code of a refused request (`access_denied`, …), reported as
    /// given (R19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// RFC 6749 §4.1.2.1: the server's description of that error, for the app's message (R19, R38).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl CallbackParams {
    /// R35: the URL carries a `state`, a `code` or an `error`; a URL with none is not an
    /// authorization response (`invalid_input`).
    pub fn is_oauth_response(&self) -> bool {
        self.state.is_some() || self.code.is_some() || self.error.is_some()
    }
}

/// Reads the callback URL's query as `URLSearchParams` does (`url`'s `query_pairs`); the first
/// of a repeated parameter counts. A URL that does not parse carries no parameters.
pub fn parse_callback_url(url: &str) -> CallbackParams {
    let mut p = CallbackParams::default();
    let Ok(url) = Url::parse(url) else { return p };
    for (k, v) in url.query_pairs() {
        let slot = match &*k {
            "code" => {
                p.code.get_or_insert_with(|| AuthCode::new(v));
                continue;
            }
            "state" => &mut p.state,
            "iss" => &mut p.iss,
            "error" => &mut p.error,
            "error_description" => &mut p.error_description,
            _ => continue,
        };
        slot.get_or_insert_with(|| v.into_owned());
    }
    p
}

/// R17–R19: why a callback does not yield a code (see [`check_callback`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallbackError {
    /// R17: no pending flow has the callback's `state` (unknown, already used, or absent).
    #[error("the callback's state matches no pending authorization (already used, or from another flow)")]
    StateMismatch,
    /// R17: the pending flow is older than [`FLOW_LIFETIME_MS`].
    #[error("the pending authorization expired")]
    Expired,
    /// R18: the callback's `iss` is not the issuer recorded with the flow.
    #[error("the callback's iss does not match the authorization server")]
    IssuerMismatch,
    /// R18: the server advertised `authorization_response_iss_parameter_supported`, but the
    /// callback has no `iss`.
    #[error("the callback lacks the iss parameter the authorization server promised")]
    IssuerMissing,
    /// R19: the authorization server answered with an error (`access_denied`, …).
    #[error("the authorization server returned {error}")]
    Denied {
        /// RFC 6749 §4.1.2.1: the `error` code, as the server sent it.
        error: String,
        /// RFC 6749 §4.1.2.1: the `error_description`, if any.
        description: Option<String>,
    },
    /// Neither an error nor a `code`: nothing to exchange.
    #[error("the callback carries no authorization code")]
    MissingCode,
}

impl From<CallbackError> for McpError {
    fn from(e: CallbackError) -> Self {
        let msg = e.to_string();
        match e {
            CallbackError::StateMismatch | CallbackError::Expired => McpError::new(ErrorCode::StateMismatch, msg),
            CallbackError::IssuerMismatch | CallbackError::IssuerMissing => {
                McpError::new(ErrorCode::IssuerMismatch, msg)
            }
            CallbackError::Denied { error, description } => {
                McpError::new(ErrorCode::AuthorizationFailed, msg).with_oauth(Some(error), description)
            }
            CallbackError::MissingCode => McpError::new(ErrorCode::InvalidResponse, msg),
        }
    }
}

/// R17–R19: checks a callback against its pending flow (looked up by `state`), in order:
/// state and expiry, then `iss`, then an error response, then the code.
pub fn check_callback(
    params: CallbackParams,
    flow: Option<&PendingFlow>,
    now_ms: u64,
) -> Result<AuthCode, CallbackError> {
    let flow = match (&params.state, flow) {
        (Some(s), Some(f)) if *s == f.state => f,
        _ => return Err(CallbackError::StateMismatch),
    };
    if now_ms.saturating_sub(flow.created_at) > FLOW_LIFETIME_MS {
        return Err(CallbackError::Expired);
    }
    match &params.iss {
        Some(iss) if *iss != flow.issuer => return Err(CallbackError::IssuerMismatch),
        None if flow.iss_required => return Err(CallbackError::IssuerMissing),
        _ => {}
    }
    if let Some(error) = params.error {
        return Err(CallbackError::Denied {
            error,
            description: params.error_description,
        });
    }
    params.code.ok_or(CallbackError::MissingCode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> PendingFlow {
        PendingFlow {
            state: "st4te".into(),
            verifier: CodeVerifier::from_random_bytes(&[7; 32]),
            server_url: "https://mcp.example/mcp".into(),
            issuer: "https://as.example".into(),
            iss_required: false,
            client_id: "client 1".into(),
            redirect_uri: "https://app.example/cb".into(),
            resource: "https://mcp.example/mcp".into(),
            scope: Some("a b".into()),
            created_at: 1_000_000,
            return_to: None,
            popup: true,
            token_endpoint: Url::parse("https://as.example/token").unwrap(),
            token_auth_methods: None,
            dpop: false,
        }
    }

    #[test]
    fn r14_r15_authorization_url_carries_pkce_resource_and_scope_but_no_verifier() {
        let f = flow();
        let url = build_authorization_url(&Url::parse("https://as.example/auth?tenant=x#f").unwrap(), &f);
        assert!(
            url.as_str()
                .starts_with("https://as.example/auth?tenant=x&response_type=code&"),
            "{url}"
        );
        assert_eq!(url.fragment(), None);
        let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("client_id"), Some("client 1"));
        assert_eq!(get("redirect_uri"), Some("https://app.example/cb"));
        assert_eq!(get("resource"), Some("https://mcp.example/mcp"));
        assert_eq!(get("scope"), Some("a b"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(
            get("code_challenge").map(str::to_string),
            Some(f.verifier.challenge_s256())
        );
        assert!(!url.as_str().contains(f.verifier.secret()));
    }

    #[test]
    fn r16_scope_choice() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let prm = v(&["mcp:tools", "mcp:read"]);
        let asl = v(&["openid", "offline_access"]);
        let choose = |c, r, a: Option<&[String]>, o| choose_scope(c, r, a, o).unwrap();
        let x = v(&["x"]);
        assert_eq!(
            choose(Some("files:read"), Some(&prm), None, false).as_deref(),
            Some("files:read")
        );
        assert_eq!(
            choose(None, Some(&prm), None, false).as_deref(),
            Some("mcp:tools mcp:read")
        );
        assert_eq!(choose(None, None, Some(&asl), false), None);
        assert_eq!(choose(None, None, Some(&asl), true).as_deref(), Some("offline_access"));
        assert_eq!(choose(Some("x"), None, Some(&x), true).as_deref(), Some("x"));
        assert_eq!(
            choose(Some("x"), None, Some(&asl), true).as_deref(),
            Some("x offline_access")
        );
    }

    #[test]
    fn r28_step_up_asks_for_the_union_of_granted_and_challenged_scopes() {
        assert_eq!(
            union_scopes(Some("a b"), Some("b  c")).unwrap().as_deref(),
            Some("a b c")
        );
        assert_eq!(union_scopes(None, Some("x")).unwrap().as_deref(), Some("x"));
        assert_eq!(union_scopes(Some(" "), None), Ok(None));
    }

    /// R32 (issue 18, F3): a union of server-sized lists is linear and bounded: 40 000 scopes
    /// end at the cap with a typed error after reading at most 257 of them; a list at the cap
    /// is kept whole, each scope once, in first-occurrence order; one scope longer than
    /// 256 bytes is refused too.
    #[test]
    fn r32_scope_unions_are_linear_and_capped() {
        let many: Vec<String> = (0..40_000).map(|i| format!("s{i}")).collect();
        let text = many.join(" ");
        for (granted, challenged) in [
            (Some(text.as_str()), Some("x")),
            (Some("x"), Some(text.as_str())),
            (None, Some(text.as_str())),
        ] {
            let e = union_scopes(granted, challenged).unwrap_err();
            assert_eq!(e, ScopeError::TooMany);
            let e = McpError::from(e);
            assert_eq!(e.code.as_str(), "invalid_response");
            assert!(e.message.contains("more than 256 scopes"), "{}", e.message);
        }
        // 40 000 copies of one scope are a list of 40 000 all the same
        let same = "a ".repeat(40_000);
        assert_eq!(union_scopes(Some(&same), None), Err(ScopeError::TooMany));
        let longest = "a".repeat(MAX_SCOPE_BYTES);
        // at the cap: whole, deduplicated, first occurrence first
        let at_cap = many[..MAX_SCOPES].join(" ");
        let reversed = many[..MAX_SCOPES]
            .iter()
            .rev()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            union_scopes(Some(&at_cap), Some(&reversed)).unwrap().as_deref(),
            Some(at_cap.as_str())
        );
        // the union itself is capped: two lists at the cap with nothing in common are too many
        let other = many[MAX_SCOPES..2 * MAX_SCOPES].join(" ");
        assert_eq!(union_scopes(Some(&at_cap), Some(&other)), Err(ScopeError::TooMany));
        let long = "a".repeat(MAX_SCOPE_BYTES + 1);
        assert_eq!(union_scopes(Some("x"), Some(&long)), Err(ScopeError::TooLong));
        assert!(
            McpError::from(ScopeError::TooLong)
                .message
                .contains("longer than 256 bytes")
        );
        assert_eq!(
            union_scopes(Some("x"), Some(&longest)).unwrap().map(|s| s.len()),
            Some(2 + MAX_SCOPE_BYTES)
        );
    }

    /// R32 (issue 18, F3): the scope chosen from a challenge or a resource's `scopes_supported`
    /// is bounded the same way.
    #[test]
    fn r32_the_chosen_scope_is_capped() {
        let many: Vec<String> = (0..40_000).map(|i| format!("s{i}")).collect();
        assert_eq!(choose_scope(None, Some(&many), None, false), Err(ScopeError::TooMany));
        assert_eq!(
            choose_scope(Some(&many.join(" ")), None, None, false),
            Err(ScopeError::TooMany)
        );
        let long = vec!["a".repeat(MAX_SCOPE_BYTES + 1)];
        assert_eq!(choose_scope(None, Some(&long), None, false), Err(ScopeError::TooLong));
        assert_eq!(
            choose_scope(None, Some(&many[..MAX_SCOPES]), None, false)
                .unwrap()
                .map(|s| s.split(' ').count()),
            Some(MAX_SCOPES)
        );
    }

    /// R24 (issue 18, F7): a return path is never protocol-relative. `https://app//evil.example/x`
    /// and `/\evil.example/x` resolve on the page's origin, but their path `//evil.example/x`
    /// would take `location.replace` off-site: it comes back as `/.//evil.example/x`, which
    /// resolves to the same same-origin URL. Another origin is refused.
    #[test]
    fn r24_a_return_path_cannot_leave_the_origin() {
        let page = Url::parse("https://app.example/page?q=1#h").unwrap();
        let back = |input: &str| return_path(&page, &page.join(input).unwrap());
        assert_eq!(back("/after?x=1#y").as_deref(), Ok("/after?x=1#y"));
        assert_eq!(back("https://app.example/a").as_deref(), Ok("/a"));
        for evil in [
            "https://app.example//evil.example/x",
            "https://app.example/\\/evil.example/x",
            "https://app.example/\\\\evil.example/x",
            "/.//evil.example/x",
            "/a/..//evil.example/x",
        ] {
            let path = back(evil).unwrap();
            assert!(path.starts_with("/./"), "{evil} -> {path}");
            let again = page.join(&path).unwrap();
            assert_eq!(again.origin(), page.origin(), "{evil} -> {path}");
            assert_eq!(again, page.join(evil).unwrap(), "the same URL: {evil} -> {path}");
        }
        // `/\` and `//` on their own are protocol-relative already: another origin
        assert_eq!(back("//evil.example/x"), Err(ReturnToError::OtherOrigin));
        assert_eq!(back("/\\evil.example/x"), Err(ReturnToError::OtherOrigin));
        assert_eq!(back("https://evil.example/"), Err(ReturnToError::OtherOrigin));
        assert_eq!(back("http://app.example/"), Err(ReturnToError::OtherOrigin));
        assert_eq!(
            McpError::from(ReturnToError::OtherOrigin).code.as_str(),
            "invalid_input"
        );
    }

    /// R24 (issue 18, F7): a return path read back after the redirect (sessionStorage, possibly
    /// written by an older release) goes through the same check: a protocol-relative one stays
    /// on the origin, one of another origin is dropped.
    #[test]
    fn r24_a_stored_return_path_is_checked_again_after_the_redirect() {
        let page = Url::parse("https://app.example/cb?code=c&state=s").unwrap();
        let back = |stored: &str| stored_return_path(&page, stored);
        assert_eq!(back("/after?x=1#y").as_deref(), Some("/after?x=1#y"));
        for stored in [
            "//evil.example/x",
            "/\\evil.example/x",
            "\\\\evil.example/x",
            "\t//evil.example/x",
            " //evil.example",
            "https://evil.example/x",
        ] {
            let path = back(stored);
            assert!(
                path.as_deref()
                    .is_none_or(|p| page.join(p).unwrap().origin() == page.origin() && !p.starts_with("//")),
                "{stored:?} -> {path:?}"
            );
        }
        assert_eq!(back("//evil.example/x"), None);
        assert_eq!(
            back("https://app.example//evil.example/x").as_deref(),
            Some("/.//evil.example/x")
        );
    }

    #[test]
    fn r17_pending_flow_round_trips_through_storage() {
        let f = flow();
        let back: PendingFlow = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back.verifier.secret(), f.verifier.secret());
        assert_eq!(
            (back.state, back.created_at, back.scope, back.popup),
            (f.state, f.created_at, f.scope, f.popup)
        );
    }

    #[test]
    fn r17_state_must_match_and_flows_expire() {
        let f = flow();
        let cb = |q: &str| parse_callback_url(&format!("https://app.example/cb?{q}"));
        assert_eq!(
            check_callback(cb("code=c&state=st4te"), Some(&f), 1_000_100)
                .unwrap()
                .secret(),
            "c"
        );
        assert_eq!(
            check_callback(cb("code=c&state=other"), Some(&f), 1_000_100),
            Err(CallbackError::StateMismatch)
        );
        assert_eq!(
            check_callback(cb("code=c"), Some(&f), 1_000_100),
            Err(CallbackError::StateMismatch)
        );
        assert_eq!(
            check_callback(cb("code=c&state=st4te"), None, 1_000_100),
            Err(CallbackError::StateMismatch)
        );
        let late = 1_000_000 + FLOW_LIFETIME_MS + 1;
        assert_eq!(
            check_callback(cb("code=c&state=st4te"), Some(&f), late),
            Err(CallbackError::Expired)
        );
        assert_eq!(McpError::from(CallbackError::Expired).code.as_str(), "state_mismatch");
    }

    #[test]
    fn r18_iss_checked_and_required_when_advertised() {
        let mut f = flow();
        let cb = |q: &str| parse_callback_url(&format!("https://app.example/cb?{q}#frag"));
        assert!(
            check_callback(
                cb("code=c&state=st4te&iss=https%3A%2F%2Fas.example"),
                Some(&f),
                1_000_000
            )
            .is_ok()
        );
        assert_eq!(
            check_callback(
                cb("code=c&state=st4te&iss=https%3A%2F%2Fevil.example"),
                Some(&f),
                1_000_000
            ),
            Err(CallbackError::IssuerMismatch)
        );
        f.iss_required = true;
        assert_eq!(
            check_callback(cb("code=c&state=st4te"), Some(&f), 1_000_000),
            Err(CallbackError::IssuerMissing)
        );
        assert_eq!(
            McpError::from(CallbackError::IssuerMissing).code.as_str(),
            "issuer_mismatch"
        );
    }

    /// The callback's query is read as `URLSearchParams` reads it: `+` is a space before
    /// percent-decoding, and a `%` not followed by two hex digits stays as it is.
    #[test]
    fn r17_callback_parameters_decode_as_url_search_params() {
        let p = parse_callback_url("https://app.example/cb?state=%+A&code=a%2Bb+c&iss=%zz%4");
        assert_eq!(p.state.as_deref(), Some("% A"));
        assert_eq!(p.code.as_ref().map(|c| c.secret()), Some("a+b c"));
        assert_eq!(p.iss.as_deref(), Some("%zz%4"));
        // a value that is not UTF-8 once decoded cannot match anything we sent
        assert_eq!(
            parse_callback_url("https://app.example/cb?state=%FF%FE")
                .state
                .as_deref(),
            Some("\u{FFFD}\u{FFFD}")
        );
        // the first of a repeated parameter counts; a URL that does not parse has none
        assert_eq!(
            parse_callback_url("https://app.example/cb?state=a&state=b")
                .state
                .as_deref(),
            Some("a")
        );
        assert!(!parse_callback_url("not a url?state=a").is_oauth_response());
    }

    #[test]
    fn r22_callback_parameters_travel_as_tagged_json() {
        let p = parse_callback_url("https://app.example/cb?code=c1&state=s1&iss=https%3A%2F%2Fas.example");
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(
            text,
            r#"{"type":"mcp-oauth-wasm:callback","code":"c1","state":"s1","iss":"https://as.example"}"#
        );
        assert_eq!(serde_json::from_str::<CallbackParams>(&text).unwrap(), p);
    }

    #[test]
    fn r19_error_responses_reach_the_app() {
        let f = flow();
        let p =
            parse_callback_url("https://app.example/cb?error=access_denied&error_description=User+said+no&state=st4te");
        let e = McpError::from(check_callback(p, Some(&f), 1_000_000).unwrap_err());
        assert_eq!(e.code.as_str(), "authorization_failed");
        assert_eq!(e.oauth_error.as_deref(), Some("access_denied"));
        assert_eq!(e.description.as_deref(), Some("User said no"));
        let p = parse_callback_url("https://app.example/cb?state=st4te");
        assert_eq!(check_callback(p, Some(&f), 1_000_000), Err(CallbackError::MissingCode));
    }
}
