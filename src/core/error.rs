//! The stable error codes of the JS contract (`shared/spec/js-api.md`, "Errors") and the one error
//! value every operation ends in. Each operation has its own `thiserror` enum (`DiscoveryError`,
//! `RegistrationError`, `CallbackError`, `TokenError`, …) that maps to a code here, once.

#[allow(unused_imports)]
use crate::prelude::*;

use thiserror::Error;

use super::json::{Json, Record, obj_sparse};
use super::text::num;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidInput,
    InsecureUrl,
    Network,
    ServerError,
    InvalidResponse,
    ResourceMismatch,
    IssuerMismatch,
    PkceUnsupported,
    ClientRegistrationRequired,
    RegistrationFailed,
    PopupBlocked,
    PopupClosed,
    Timeout,
    Cancelled,
    StateMismatch,
    AuthorizationFailed,
    AuthorizationRequired,
    InsufficientScope,
    RevocationFailed,
    StorageUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::InvalidInput,
        ErrorCode::InsecureUrl,
        ErrorCode::Network,
        ErrorCode::ServerError,
        ErrorCode::InvalidResponse,
        ErrorCode::ResourceMismatch,
        ErrorCode::IssuerMismatch,
        ErrorCode::PkceUnsupported,
        ErrorCode::ClientRegistrationRequired,
        ErrorCode::RegistrationFailed,
        ErrorCode::PopupBlocked,
        ErrorCode::PopupClosed,
        ErrorCode::Timeout,
        ErrorCode::Cancelled,
        ErrorCode::StateMismatch,
        ErrorCode::AuthorizationFailed,
        ErrorCode::AuthorizationRequired,
        ErrorCode::InsufficientScope,
        ErrorCode::RevocationFailed,
        ErrorCode::StorageUnavailable,
    ];

    /// The `code` string JS sees. Stable: apps switch on it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InsecureUrl => "insecure_url",
            ErrorCode::Network => "network",
            ErrorCode::ServerError => "server_error",
            ErrorCode::InvalidResponse => "invalid_response",
            ErrorCode::ResourceMismatch => "resource_mismatch",
            ErrorCode::IssuerMismatch => "issuer_mismatch",
            ErrorCode::PkceUnsupported => "pkce_unsupported",
            ErrorCode::ClientRegistrationRequired => "client_registration_required",
            ErrorCode::RegistrationFailed => "registration_failed",
            ErrorCode::PopupBlocked => "popup_blocked",
            ErrorCode::PopupClosed => "popup_closed",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::StateMismatch => "state_mismatch",
            ErrorCode::AuthorizationFailed => "authorization_failed",
            ErrorCode::AuthorizationRequired => "authorization_required",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::RevocationFailed => "revocation_failed",
            ErrorCode::StorageUnavailable => "storage_unavailable",
        }
    }
}

/// A failure of the request itself, or of the status it answered with; shared by operations.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", self.message())]
pub enum HttpError {
    Network(String),
    Status(u16),
    InvalidResponse(&'static str),
}

impl HttpError {
    pub fn message(&self) -> String {
        match self {
            HttpError::Network(m) => cat!("the request did not complete: ", m),
            HttpError::Status(s) => cat!("unexpected HTTP status ", num(u64::from(*s))),
            HttpError::InvalidResponse(m) => cat!("invalid response: ", m),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            HttpError::Network(_) => ErrorCode::Network,
            HttpError::Status(_) => ErrorCode::ServerError,
            HttpError::InvalidResponse(_) => ErrorCode::InvalidResponse,
        }
    }
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status(s) => Some(*s),
            _ => None,
        }
    }
}

/// An error as it reaches the app: a code, a message without secrets, and the details the
/// contract lists (`status`, `oauthError`, `description`, `serverUrl`). Boxed, so that every
/// `Result<_, McpError>` is one pointer wide: the async state machines move and drop far less
/// (9 KB less wasm, measured). Fields are read and written through `Deref`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", self.0.message)]
pub struct McpError(Box<ErrorDetails>);

impl core::ops::Deref for McpError {
    type Target = ErrorDetails;
    fn deref(&self) -> &ErrorDetails {
        &self.0
    }
}

impl core::ops::DerefMut for McpError {
    fn deref_mut(&mut self) -> &mut ErrorDetails {
        &mut self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetails {
    pub code: ErrorCode,
    pub message: String,
    pub status: Option<u16>,
    pub oauth_error: Option<String>,
    pub description: Option<String>,
    pub server_url: Option<String>,
}

impl McpError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorDetails { code, message: message.into(), status: None, oauth_error: None, description: None, server_url: None }))
    }
    pub fn with_server(mut self, server_url: &str) -> Self {
        if self.server_url.is_none() {
            self.server_url = Some(server_url.to_string());
        }
        self
    }
    pub fn with_status(mut self, status: Option<u16>) -> Self {
        self.status = status;
        self
    }
    /// The same error under another code (its message and details kept).
    pub fn recode(mut self, code: ErrorCode) -> Self {
        self.code = code;
        self
    }
    pub fn with_oauth(mut self, error: Option<String>, description: Option<String>) -> Self {
        self.oauth_error = error;
        self.description = description;
        self
    }
}

/// The contract's shape (`code`, `message`, and `status`, `oauthError`, `description`,
/// `serverUrl` when present): the own properties of the JS `McpAuthError`, and how a popup
/// hands its error to the opener (R22).
impl Record for McpError {
    fn to_json(&self) -> Json {
        obj_sparse([
            ("code", self.code.as_str().into()),
            ("message", (&self.message).into()),
            ("status", self.status.map(u64::from).into()),
            ("oauthError", self.oauth_error.as_ref().into()),
            ("description", self.description.as_ref().into()),
            ("serverUrl", self.server_url.as_ref().into()),
        ])
    }
    /// An unknown `code` reads as `authorization_failed`.
    fn from_json(v: &Json) -> Option<Self> {
        let code = v.str_ref("code").and_then(|c| ErrorCode::ALL.into_iter().find(|k| k.as_str() == c));
        let mut e = McpError::new(code.unwrap_or(ErrorCode::AuthorizationFailed), v.str("message")?);
        e.status = v.u64("status").and_then(|s| u16::try_from(s).ok());
        e.oauth_error = v.str("oauthError");
        e.description = v.str("description");
        e.server_url = v.str("serverUrl");
        Some(e)
    }
}

impl From<HttpError> for McpError {
    fn from(e: HttpError) -> Self {
        let status = e.status();
        McpError::new(e.code(), e.message()).with_status(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r22_an_error_survives_its_json_round_trip() {
        let e = McpError::new(ErrorCode::AuthorizationFailed, "denied")
            .with_oauth(Some("access_denied".into()), Some("the user said no".into()))
            .with_status(Some(400))
            .with_server("https://mcp.example/mcp");
        let text = e.to_json().text();
        assert_eq!(
            text,
            r#"{"code":"authorization_failed","message":"denied","status":400,"oauthError":"access_denied","description":"the user said no","serverUrl":"https://mcp.example/mcp"}"#
        );
        assert_eq!(McpError::from_json(&Json::parse(&text).unwrap()), Some(e));
        let bare = McpError::new(ErrorCode::PopupClosed, "closed");
        assert_eq!(bare.to_json().text(), r#"{"code":"popup_closed","message":"closed"}"#);
        let unknown = Json::parse(r#"{"code":"nope","message":"m"}"#).unwrap();
        assert_eq!(McpError::from_json(&unknown).unwrap().code, ErrorCode::AuthorizationFailed);
    }

    #[test]
    fn http_error_message_carries_the_status() {
        assert_eq!(HttpError::Status(503).message(), "unexpected HTTP status 503");
    }

    #[test]
    fn r32_every_code_is_the_contracts_string() {
        let contract = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/spec/js-api.md"));
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
        // When the contract is beside the repo (as in CI), every code in its table is ours.
        if let Ok(text) = contract {
            for line in text.lines().filter(|l| l.starts_with("| `")) {
                let code = line.trim_start_matches("| `").split('`').next().unwrap_or_default();
                if line.contains(" | ") && !code.contains('(') && code.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    assert!(codes.contains(&code), "contract code {code} missing");
                }
            }
        }
    }

    #[test]
    fn http_errors_map_to_codes() {
        let e: McpError = HttpError::Status(503).into();
        assert_eq!((e.code, e.status), (ErrorCode::ServerError, Some(503)));
        let e: McpError = HttpError::Network("reset".into()).into();
        assert_eq!(e.code.as_str(), "network");
        let e: McpError = HttpError::InvalidResponse("not JSON").into();
        assert_eq!(e.code.as_str(), "invalid_response");
    }
}
