//! The stable error codes of the JS contract (`shared/spec/js-api.md`, "Errors") and the one error
//! value every operation ends in. Each operation has its own `thiserror` enum (`DiscoveryError`,
//! `RegistrationError`, `CallbackError`, `TokenError`, …) that maps to a code here, once.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// The contract's error codes, written once: the enum, [`ErrorCode::ALL`] and
/// [`ErrorCode::as_str`] (the JS strings, which serde uses too) all come from this one list.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident => $js:literal,)*) => {
        /// R32: the stable `code` of every error the app sees (js-api.md, "Errors").
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the contract's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The `.d.ts` union of the codes' JS strings, from the same list.
            pub const TS_UNION: &'static str = concat!("export type McpAuthErrorCode =", $(" | \"", $js, "\"",)* ";\n");

            /// The `code` string JS sees. Stable: apps switch on it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $js,)*
                }
            }
        }
    };
}

error_codes! {
    /// A malformed argument or option (a bad URL, a `redirectUri` on another origin, an unknown
    /// option).
    InvalidInput => "invalid_input",
    /// R8: an endpoint neither `https:` nor `http:` on a loopback host.
    InsecureUrl => "insecure_url",
    /// The request did not complete (offline, DNS, CORS, reset; R39).
    Network => "network",
    /// A 5xx, or a status the operation did not expect.
    ServerError => "server_error",
    /// A response that does not parse or lacks a required member.
    InvalidResponse => "invalid_response",
    /// R4: the protected-resource metadata names another resource.
    ResourceMismatch => "resource_mismatch",
    /// R7, R18: the metadata's or the callback's issuer is not the one expected.
    IssuerMismatch => "issuer_mismatch",
    /// R14: the authorization server does not list `S256`.
    PkceUnsupported => "pkce_unsupported",
    /// R11: no way to get a client id; the app shows a Client ID form.
    ClientRegistrationRequired => "client_registration_required",
    /// R12: the registration endpoint refused, or its answer lacks our redirect URI.
    RegistrationFailed => "registration_failed",
    /// R21: `window.open` failed in mode `popup`.
    PopupBlocked => "popup_blocked",
    /// R23: the user closed the popup before the result landed.
    PopupClosed => "popup_closed",
    /// R23: the flow did not finish within `popupTimeoutSeconds`.
    Timeout => "timeout",
    /// R23: the app aborted `authorize` through its `signal`.
    Cancelled => "cancelled",
    /// R17: the callback matches no pending flow (unknown, used, or expired).
    StateMismatch => "state_mismatch",
    /// R19: the server returned an error to the callback or the code exchange; `oauthError` holds
    /// it.
    AuthorizationFailed => "authorization_failed",
    /// R27, R28: no usable token; the app must call `authorize`.
    AuthorizationRequired => "authorization_required",
    /// R28: a step-up was impossible or its attempts are exhausted.
    InsufficientScope => "insufficient_scope",
    /// R29: the refresh token's revocation failed.
    RevocationFailed => "revocation_failed",
    /// R25: storage is full or disabled (also a warning's code).
    StorageUnavailable => "storage_unavailable",
}

/// The code as its contract string; an unknown string (a newer module's) reads as
/// `authorization_failed`.
impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .unwrap_or(ErrorCode::AuthorizationFailed))
    }
}

/// A failure of the request itself, or of the status it answered with; shared by operations.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HttpError {
    /// The request did not complete (offline, DNS, CORS, reset): `network`, with the browser's
    /// reason.
    #[error("the request did not complete: {0}")]
    Network(String),
    /// A status this client did not expect, with what the server said in its body (R38).
    #[error("unexpected HTTP status {0}{tail}", tail = said(.1.as_deref()))]
    Status(u16, Option<String>),
    /// A response that does not parse or lacks a required member (`invalid_response`); the text
    /// says what was expected.
    #[error("invalid response: {0}")]
    InvalidResponse(&'static str),
    /// R25, R32: a body past the request's `max_body` bytes (not read further).
    #[error("invalid response: the response body is larger than {} KB", .0 / 1024)]
    BodyTooLarge(usize),
}

/// R38: at most this many characters of what a server said reach a message.
pub const MAX_QUOTE_CHARS: usize = 200;

/// R38: what a server said in a response body, as a message may quote it: an OAuth error body's
/// `error` and `error_description`; otherwise the start of the body, JSON or text. Control
/// characters are removed, whitespace is collapsed, at most [`MAX_QUOTE_CHARS`] characters
/// are kept, and anything that looks like a credential — a run of 20 or more token characters
/// with both letters and digits, as tokens, codes, verifiers and generated secrets are — is
/// replaced by `[redacted]` (R31: a server that echoes a request must not make us print it).
/// `None` for an empty body.
pub fn server_said(body: &str) -> Option<String> {
    // a body is read for its start only (8 bytes a character quoted, cut at a character
    // boundary): nothing here grows with the body's size
    let mut cut = body.len().min(8 * MAX_QUOTE_CHARS);
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &body[..cut];
    let words = match (head.len() == body.len())
        .then(|| serde_json::from_str::<serde_json::Value>(body).ok())
        .flatten()
    {
        Some(serde_json::Value::Object(o)) if o.get("error").is_some_and(serde_json::Value::is_string) => {
            let error = o.get("error").and_then(serde_json::Value::as_str).unwrap_or_default();
            match o
                .get("error_description")
                .and_then(serde_json::Value::as_str)
                .filter(|d| !d.trim().is_empty())
            {
                Some(d) => format!("{error}: {d}"),
                None => error.to_string(),
            }
        }
        Some(v) => v.to_string(),
        None => head.to_string(),
    };
    quote(&words)
}

/// R38, R31: `text` cleaned for a message (see [`server_said`]).
pub fn quote(text: &str) -> Option<String> {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let secret_like =
            run.len() >= 20 && run.chars().any(|c| c.is_ascii_digit()) && run.chars().any(|c| c.is_ascii_alphabetic());
        out.push_str(if secret_like { "[redacted]" } else { run });
        run.clear();
    };
    // the start of the text only, and no more of it than the quote can show: a quote costs the
    // same for any length beyond that
    for c in text.chars().take(8 * MAX_QUOTE_CHARS) {
        if out.len() > 4 * MAX_QUOTE_CHARS {
            break;
        }
        if is_token_char(c) {
            run.push(c);
            if run.len() <= 4 * MAX_QUOTE_CHARS {
                continue;
            }
        }
        flush(&mut run, &mut out);
        let c = if c.is_control() || c.is_whitespace() { ' ' } else { c };
        if !is_token_char(c) && !(c == ' ' && (out.is_empty() || out.ends_with(' '))) {
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    let out = out.trim_end();
    match out.char_indices().nth(MAX_QUOTE_CHARS) {
        _ if out.is_empty() => None,
        Some((i, _)) => Some(format!("{}…", &out[..i])),
        None => Some(out.to_string()),
    }
}

/// The tail of a message that quotes the server: `; the server said "…"`, or nothing.
pub fn said(words: Option<&str>) -> String {
    words.map(|w| format!("; the server said \"{w}\"")).unwrap_or_default()
}

impl HttpError {
    /// A response whose status this client did not expect, quoting its body (R38).
    pub fn unexpected(resp: &super::http::HttpResponse) -> HttpError {
        HttpError::Status(resp.status, server_said(&resp.body))
    }

    /// R32: the stable error code this failure reaches the app as.
    pub fn code(&self) -> ErrorCode {
        match self {
            HttpError::Network(_) => ErrorCode::Network,
            HttpError::Status(..) => ErrorCode::ServerError,
            HttpError::InvalidResponse(_) | HttpError::BodyTooLarge(_) => ErrorCode::InvalidResponse,
        }
    }
    /// The HTTP status, for a status error; it becomes the error's `status`.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status(s, _) => Some(*s),
            _ => None,
        }
    }
}

/// An error as it reaches the app: a code, a message without secrets, and the details the
/// contract lists (`status`, `oauthError`, `description`, `serverUrl`). Boxed, so that every
/// `Result<_, McpError>` is one pointer wide. Its JSON form is the contract's shape: the own
/// properties of the JS `McpAuthError`, and how a popup hands its error to the opener (R22).
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
#[error("{}", self.0.message)]
#[serde(transparent)]
pub struct McpError(Box<ErrorDetails>);

impl std::ops::Deref for McpError {
    type Target = ErrorDetails;
    fn deref(&self) -> &ErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for McpError {
    fn deref_mut(&mut self) -> &mut ErrorDetails {
        &mut self.0
    }
}

/// The fields of an [`McpError`], the own properties of the JS `McpAuthError` (js-api.md,
/// "Errors").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetails {
    /// The stable code apps switch on (R32).
    pub code: ErrorCode,
    /// What happened, quoting the server (R38) and never a secret (R31).
    pub message: String,
    /// The HTTP status of the answer that failed, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The OAuth `error` code the server sent (`invalid_grant`, `access_denied`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_error: Option<String>,
    /// The server's `error_description` for that code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The canonical URL of the MCP server the operation was for (R15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    /// For `authorization_required` after a challenge and for `insufficient_scope`: the scope
    /// the next `authorize` asks for (R28).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl McpError {
    /// An error with this code and message and no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorDetails {
            code,
            message: message.into(),
            status: None,
            oauth_error: None,
            description: None,
            server_url: None,
            scope: None,
        }))
    }
    /// Names the MCP server the error concerns, unless one is named already.
    pub fn with_server(mut self, server_url: &str) -> Self {
        if self.server_url.is_none() {
            self.server_url = Some(server_url.to_string());
        }
        self
    }
    /// Sets the HTTP status (`None` clears it).
    pub fn with_status(mut self, status: Option<u16>) -> Self {
        self.status = status;
        self
    }
    /// The same error under another code (its message and details kept).
    pub fn recode(mut self, code: ErrorCode) -> Self {
        self.code = code;
        self
    }
    /// Sets the OAuth `error` and `error_description` the server sent (R19, R38).
    pub fn with_oauth(mut self, error: Option<String>, description: Option<String>) -> Self {
        self.oauth_error = error;
        self.description = description;
        self
    }
}

impl From<HttpError> for McpError {
    fn from(e: HttpError) -> Self {
        McpError::new(e.code(), e.to_string()).with_status(e.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R38, R31: what a server said, as a message quotes it.
    #[test]
    fn r38_server_words_are_quoted_cleaned_bounded_and_never_a_secret() {
        let oauth = r#"{"error":"invalid_request","error_description":"client_secret: Field required"}"#;
        assert_eq!(
            server_said(oauth).as_deref(),
            Some("invalid_request: client_secret: Field required")
        );
        assert_eq!(
            server_said(r#"{"error":"invalid_client"}"#).as_deref(),
            Some("invalid_client")
        );
        assert_eq!(
            server_said(r#"{"error":"invalid_client","error_description":"  "}"#).as_deref(),
            Some("invalid_client")
        );
        // JSON that is no OAuth error: its compact text
        assert_eq!(
            server_said(r#"{ "message" : "Forbidden" }"#).as_deref(),
            Some(r#"{"message":"Forbidden"}"#)
        );
        assert_eq!(
            server_said(r#"{"error":{"code":7}}"#).as_deref(),
            Some(r#"{"error":{"code":7}}"#)
        );
        // text: control characters gone, whitespace collapsed
        assert_eq!(
            server_said("Invalid\r\n\torigin\u{7}!\n").as_deref(),
            Some("Invalid origin !")
        );
        assert_eq!(server_said(""), None);
        assert_eq!(server_said(" \n "), None);
        // at most 200 characters, on a character boundary
        let long = "é".repeat(1000);
        let q = server_said(&long).unwrap();
        assert_eq!(q.chars().count(), MAX_QUOTE_CHARS + 1, "200 and an ellipsis");
        assert!(q.ends_with('…'));
        // a huge body is read for its start only, JSON or not
        let huge = format!(r#"{{"error":"x","error_description":"{}"}}"#, "a ".repeat(500_000));
        assert!(server_said(&huge).unwrap().chars().count() <= MAX_QUOTE_CHARS + 1);
        // R31: whatever looks like a token, code, verifier or secret is not repeated
        let echo = r#"{"error":"invalid_grant","error_description":"code Xk3v9QpL2mNw8RtY6uZa1 already used for eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"}"#;
        let q = server_said(echo).unwrap();
        assert!(!q.contains("Xk3v9QpL2mNw8RtY6uZa1") && !q.contains("eyJ"), "{q}");
        assert_eq!(q, "invalid_grant: code [redacted] already used for [redacted]");
        // words, long identifiers without digits and short ids stay
        assert_eq!(
            quote("redirect_uri_mismatch for client abc123").as_deref(),
            Some("redirect_uri_mismatch for client abc123")
        );
        assert_eq!(said(Some("x")), r#"; the server said "x""#);
        assert_eq!(said(None), "");
    }

    #[test]
    fn r22_an_error_survives_its_json_round_trip() {
        let e = McpError::new(ErrorCode::AuthorizationFailed, "denied")
            .with_oauth(Some("access_denied".into()), Some("the user said no".into()))
            .with_status(Some(400))
            .with_server("https://mcp.example/mcp");
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"code":"authorization_failed","message":"denied","status":400,"oauthError":"access_denied","description":"the user said no","serverUrl":"https://mcp.example/mcp"}"#
        );
        assert_eq!(serde_json::from_str::<McpError>(&text).unwrap(), e);
        let bare = McpError::new(ErrorCode::PopupClosed, "closed");
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            r#"{"code":"popup_closed","message":"closed"}"#
        );
        let unknown: McpError = serde_json::from_str(r#"{"code":"nope","message":"m"}"#).unwrap();
        assert_eq!(unknown.code, ErrorCode::AuthorizationFailed);
    }

    #[test]
    fn http_error_message_carries_the_status() {
        assert_eq!(HttpError::Status(503, None).to_string(), "unexpected HTTP status 503");
    }

    #[test]
    fn r32_every_code_is_the_contracts_string() {
        let contract = std::fs::read_to_string(format!("{}/../shared/spec/js-api.md", env!("CARGO_MANIFEST_DIR")));
        let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        let expected = [
            "invalid_input",
            "insecure_url",
            "network",
            "server_error",
            "invalid_response",
            "resource_mismatch",
            "issuer_mismatch",
            "pkce_unsupported",
            "client_registration_required",
            "registration_failed",
            "popup_blocked",
            "popup_closed",
            "timeout",
            "cancelled",
            "state_mismatch",
            "authorization_failed",
            "authorization_required",
            "insufficient_scope",
            "revocation_failed",
            "storage_unavailable",
        ];
        assert_eq!(codes, expected);
        // the `.d.ts` union comes from the same list: every code, quoted, and nothing else
        let union: Vec<&str> = ErrorCode::TS_UNION
            .trim_start_matches("export type McpAuthErrorCode =")
            .trim_end()
            .trim_end_matches(';')
            .split('|')
            .map(|c| c.trim().trim_matches('"'))
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(union, expected);
        // When the contract is beside the repo (as in CI), every code in its table is ours.
        if let Ok(text) = contract {
            for line in text.lines().filter(|l| l.starts_with("| `")) {
                let code = line.trim_start_matches("| `").split('`').next().unwrap_or_default();
                if line.contains(" | ")
                    && !code.contains('(')
                    && code.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                {
                    assert!(codes.contains(&code), "contract code {code} missing");
                }
            }
        }
    }

    #[test]
    fn http_errors_map_to_codes() {
        let e: McpError = HttpError::Status(503, None).into();
        assert_eq!((e.code, e.status), (ErrorCode::ServerError, Some(503)));
        let e: McpError = HttpError::Network("reset".into()).into();
        assert_eq!(e.code.as_str(), "network");
        let e: McpError = HttpError::InvalidResponse("not JSON").into();
        assert_eq!(e.code.as_str(), "invalid_response");
    }
}
