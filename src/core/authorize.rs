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
    pub state: String,
    pub verifier: CodeVerifier,
    pub server_url: String,
    pub issuer: String,
    /// R18: the server advertised `authorization_response_iss_parameter_supported`.
    #[serde(default)]
    pub iss_required: bool,
    pub client_id: String,
    pub redirect_uri: String,
    pub resource: String,
    #[serde(default)]
    pub scope: Option<String>,
    pub created_at: u64,
    /// R24: where a full-page redirect returns to.
    #[serde(default)]
    pub return_to: Option<String>,
    #[serde(default)]
    pub popup: bool,
    /// F1 (R9, R13, R34): what the code exchange needs, fixed when the flow began from the
    /// metadata of `issuer`: its token endpoint, the authentication methods it lists, and
    /// whether the tokens are bound with DPoP. The exchange uses these and nothing read later,
    /// so a rediscovery during sign-in cannot send this code, its verifier or this issuer's
    /// client secret anywhere else.
    pub token_endpoint: Url,
    #[serde(default)]
    pub token_auth_methods: Option<Vec<String>>,
    #[serde(default)]
    pub dpop: bool,
}

/// R16: the challenge's scope, else the resource's `scopes_supported`, else none;
/// `offline_access` added only when the AS lists it and the app wants refresh tokens.
pub fn choose_scope(
    challenge_scope: Option<&str>,
    resource_scopes: Option<&[String]>,
    as_scopes: Option<&[String]>,
    want_offline: bool,
) -> Option<String> {
    let mut scope = match (challenge_scope, resource_scopes) {
        (Some(s), _) if !s.trim().is_empty() => s.trim().to_string(),
        (_, Some(list)) => list.join(" "),
        _ => String::new(),
    };
    let offline_listed = as_scopes.is_some_and(|l| l.iter().any(|s| s == "offline_access"));
    if want_offline && offline_listed && !scope.split(' ').any(|s| s == "offline_access") {
        if !scope.is_empty() {
            scope.push(' ');
        }
        scope.push_str("offline_access");
    }
    (!scope.is_empty()).then_some(scope)
}

/// R16, R28: the union of the granted and the challenged scopes, each once, in that order.
pub fn union_scopes(granted: Option<&str>, challenged: Option<&str>) -> Option<String> {
    let mut all: Vec<&str> = Vec::new();
    for s in granted.into_iter().chain(challenged).flat_map(str::split_whitespace) {
        if !all.contains(&s) {
            all.push(s);
        }
    }
    (!all.is_empty()).then(|| all.join(" "))
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<AuthCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl CallbackParams {
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

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallbackError {
    #[error("the callback's state matches no pending authorization (already used, or from another flow)")]
    StateMismatch,
    #[error("the pending authorization expired")]
    Expired,
    #[error("the callback's iss does not match the authorization server")]
    IssuerMismatch,
    #[error("the callback lacks the iss parameter the authorization server promised")]
    IssuerMissing,
    #[error("the authorization server returned {error}")]
    Denied { error: String, description: Option<String> },
    #[error("the callback carries no authorization code")]
    MissingCode,
}

impl From<CallbackError> for McpError {
    fn from(e: CallbackError) -> Self {
        let msg = e.to_string();
        match e {
            CallbackError::StateMismatch | CallbackError::Expired => McpError::new(ErrorCode::StateMismatch, msg),
            CallbackError::IssuerMismatch | CallbackError::IssuerMissing => McpError::new(ErrorCode::IssuerMismatch, msg),
            CallbackError::Denied { error, description } => {
                McpError::new(ErrorCode::AuthorizationFailed, msg).with_oauth(Some(error), description)
            }
            CallbackError::MissingCode => McpError::new(ErrorCode::InvalidResponse, msg),
        }
    }
}

/// R17–R19: checks a callback against its pending flow (looked up by `state`), in order:
/// state and expiry, then `iss`, then an error response, then the code.
pub fn check_callback(params: CallbackParams, flow: Option<&PendingFlow>, now_ms: u64) -> Result<AuthCode, CallbackError> {
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
        return Err(CallbackError::Denied { error, description: params.error_description });
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
        assert!(url.as_str().starts_with("https://as.example/auth?tenant=x&response_type=code&"), "{url}");
        assert_eq!(url.fragment(), None);
        let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("client_id"), Some("client 1"));
        assert_eq!(get("redirect_uri"), Some("https://app.example/cb"));
        assert_eq!(get("resource"), Some("https://mcp.example/mcp"));
        assert_eq!(get("scope"), Some("a b"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("code_challenge").map(str::to_string), Some(f.verifier.challenge_s256()));
        assert!(!url.as_str().contains(f.verifier.secret()));
    }

    #[test]
    fn r16_scope_choice() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let prm = v(&["mcp:tools", "mcp:read"]);
        let asl = v(&["openid", "offline_access"]);
        assert_eq!(choose_scope(Some("files:read"), Some(&prm), None, false).as_deref(), Some("files:read"));
        assert_eq!(choose_scope(None, Some(&prm), None, false).as_deref(), Some("mcp:tools mcp:read"));
        assert_eq!(choose_scope(None, None, Some(&asl), false), None);
        assert_eq!(choose_scope(None, None, Some(&asl), true).as_deref(), Some("offline_access"));
        assert_eq!(choose_scope(Some("x"), None, Some(&v(&["x"])), true).as_deref(), Some("x"));
        assert_eq!(choose_scope(Some("x"), None, Some(&asl), true).as_deref(), Some("x offline_access"));
    }

    #[test]
    fn r28_step_up_asks_for_the_union_of_granted_and_challenged_scopes() {
        assert_eq!(union_scopes(Some("a b"), Some("b  c")).as_deref(), Some("a b c"));
        assert_eq!(union_scopes(None, Some("x")).as_deref(), Some("x"));
        assert_eq!(union_scopes(Some(" "), None), None);
    }

    #[test]
    fn r17_pending_flow_round_trips_through_storage() {
        let f = flow();
        let back: PendingFlow = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back.verifier.secret(), f.verifier.secret());
        assert_eq!((back.state, back.created_at, back.scope, back.popup), (f.state, f.created_at, f.scope, f.popup));
    }

    #[test]
    fn r17_state_must_match_and_flows_expire() {
        let f = flow();
        let cb = |q: &str| parse_callback_url(&format!("https://app.example/cb?{q}"));
        assert_eq!(check_callback(cb("code=c&state=st4te"), Some(&f), 1_000_100).unwrap().secret(), "c");
        assert_eq!(check_callback(cb("code=c&state=other"), Some(&f), 1_000_100), Err(CallbackError::StateMismatch));
        assert_eq!(check_callback(cb("code=c"), Some(&f), 1_000_100), Err(CallbackError::StateMismatch));
        assert_eq!(check_callback(cb("code=c&state=st4te"), None, 1_000_100), Err(CallbackError::StateMismatch));
        let late = 1_000_000 + FLOW_LIFETIME_MS + 1;
        assert_eq!(check_callback(cb("code=c&state=st4te"), Some(&f), late), Err(CallbackError::Expired));
        assert_eq!(McpError::from(CallbackError::Expired).code.as_str(), "state_mismatch");
    }

    #[test]
    fn r18_iss_checked_and_required_when_advertised() {
        let mut f = flow();
        let cb = |q: &str| parse_callback_url(&format!("https://app.example/cb?{q}#frag"));
        assert!(check_callback(cb("code=c&state=st4te&iss=https%3A%2F%2Fas.example"), Some(&f), 1_000_000).is_ok());
        assert_eq!(
            check_callback(cb("code=c&state=st4te&iss=https%3A%2F%2Fevil.example"), Some(&f), 1_000_000),
            Err(CallbackError::IssuerMismatch)
        );
        f.iss_required = true;
        assert_eq!(check_callback(cb("code=c&state=st4te"), Some(&f), 1_000_000), Err(CallbackError::IssuerMissing));
        assert_eq!(McpError::from(CallbackError::IssuerMissing).code.as_str(), "issuer_mismatch");
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
        assert_eq!(parse_callback_url("https://app.example/cb?state=%FF%FE").state.as_deref(), Some("\u{FFFD}\u{FFFD}"));
        // the first of a repeated parameter counts; a URL that does not parse has none
        assert_eq!(parse_callback_url("https://app.example/cb?state=a&state=b").state.as_deref(), Some("a"));
        assert!(!parse_callback_url("not a url?state=a").is_oauth_response());
    }

    #[test]
    fn r22_callback_parameters_travel_as_tagged_json() {
        let p = parse_callback_url("https://app.example/cb?code=c1&state=s1&iss=https%3A%2F%2Fas.example");
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(text, r#"{"type":"mcp-oauth-wasm:callback","code":"c1","state":"s1","iss":"https://as.example"}"#);
        assert_eq!(serde_json::from_str::<CallbackParams>(&text).unwrap(), p);
    }

    #[test]
    fn r19_error_responses_reach_the_app() {
        let f = flow();
        let p = parse_callback_url("https://app.example/cb?error=access_denied&error_description=User+said+no&state=st4te");
        let e = McpError::from(check_callback(p, Some(&f), 1_000_000).unwrap_err());
        assert_eq!(e.code.as_str(), "authorization_failed");
        assert_eq!(e.oauth_error.as_deref(), Some("access_denied"));
        assert_eq!(e.description.as_deref(), Some("User said no"));
        let p = parse_callback_url("https://app.example/cb?state=st4te");
        assert_eq!(check_callback(p, Some(&f), 1_000_000), Err(CallbackError::MissingCode));
    }
}
