//! Token requests and responses (RFC 6749 §4.1.3, §5, §6; RFC 7636 §4.5; RFC 8707 §2.2), client
//! authentication (R13), expiry and the refresh decision (R20, R26, R27).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use url::Url;
use url::form_urlencoded::byte_serialize;

use super::error::{ErrorCode, HttpError, McpError, said, server_said};
use super::http::{HttpRequest, HttpResponse};
use super::pkce::CodeVerifier;
use super::registration::{Client, OAuthErrorBody};
use super::secret::{AccessToken, AuthCode, RefreshToken};

/// A token set as stored (R20).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSet {
    /// RFC 6749 §5.1: the access token; never in `Debug` output (R31).
    pub access_token: AccessToken,
    /// RFC 6749 §5.1: `Bearer`, or `DPoP` for a bound token (R34), as the server spelled it.
    pub token_type: String,
    /// Absolute expiry, ms since the epoch on the browser's clock at receipt; at most
    /// [`MAX_EXPIRY_MS`], also when a record an older release wrote says more (R25, R30).
    #[serde(default, deserialize_with = "clamped_expiry")]
    pub expires_at: Option<u64>,
    /// Kept in the vault's copy of the set only (R33); a record's copy has `refreshable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// RFC 6749 §5.1, §3.3: the scope granted, when the server said; the base of a step-up's union
    /// (R28).
    #[serde(default)]
    pub scope: Option<String>,
    /// A refresh token is kept for this set in the vault (R30 `refreshable`).
    #[serde(default)]
    pub refreshable: bool,
}

/// R25, R30: a stored expiry past `Number.MAX_SAFE_INTEGER` (older releases kept any) loads as
/// [`MAX_EXPIRY_MS`]: handed to JS it would fail, and with it `list()` for every server.
fn clamped_expiry<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.map(|t| t.min(MAX_EXPIRY_MS)))
}

impl TokenSet {
    /// R26: expired, or expiring within `skew_ms`.
    pub fn expires_within(&self, now_ms: u64, skew_ms: u64) -> bool {
        self.expires_at.is_some_and(|t| t.saturating_sub(skew_ms) <= now_ms)
    }

    /// R26: a rotated refresh token replaces the old one; an absent one keeps the old one. An
    /// absent `scope` means the scope is unchanged (RFC 6749 §5.1): the old one stays.
    pub fn merge_refresh(
        mut self,
        previous_refresh_token: Option<RefreshToken>,
        previous_scope: Option<String>,
    ) -> Self {
        if self.refresh_token.is_none() {
            self.refresh_token = previous_refresh_token;
        }
        if self.scope.is_none() {
            self.scope = previous_scope;
        }
        self
    }

    /// Whether a refresh token is at hand, here or in the vault.
    pub fn can_refresh(&self) -> bool {
        self.refreshable || self.refresh_token.is_some()
    }
}

/// R27: what a failed refresh does to what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshFailure {
    /// `invalid_grant`: the tokens go; the registration and metadata stay.
    DropTokens,
    /// `invalid_client` / `unauthorized_client`: the tokens and the registration go.
    DropRegistration,
    /// Anything else: everything stays.
    KeepAll,
}

/// A code exchange or a refresh that yielded no token set (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    /// An OAuth error answer (RFC 6749 §5.2); `said` is what the message quotes (R38).
    #[error("the token endpoint answered {error} (HTTP {status}){tail}", tail = said(said_text.as_deref()))]
    OAuth {
        /// The HTTP status of the answer.
        status: u16,
        /// RFC 6749 §5.2: the `error` code (`invalid_grant`, `invalid_client`, …), which decides
        /// R27.
        error: String,
        /// RFC 6749 §5.2: the `error_description`, if any.
        description: Option<String>,
        /// What the message quotes from the body (R38, [`server_said`]).
        said_text: Option<String>,
    },
    /// The request failed, or the answer was not a token response nor an OAuth error.
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl TokenError {
    /// The OAuth `error` code of the answer, if it was one.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            TokenError::OAuth { error, .. } => Some(error),
            TokenError::Http(_) => None,
        }
    }

    /// The error of a code exchange: an OAuth error is `authorization_failed`.
    pub fn into_exchange_error(self) -> McpError {
        self.into_error(ErrorCode::AuthorizationFailed)
    }

    /// R27: what a failed refresh means for what is stored.
    pub fn refresh_failure(&self) -> RefreshFailure {
        match self.oauth_error() {
            Some("invalid_grant") => RefreshFailure::DropTokens,
            Some("invalid_client" | "unauthorized_client") => RefreshFailure::DropRegistration,
            _ => RefreshFailure::KeepAll,
        }
    }

    /// R27: the error of a refresh: when the grant or the client is gone the user must
    /// authorize again (`authorization_required`); any other answer — network, 5xx, 429, another
    /// OAuth error — is `network` or `server_error`, and nothing stored changes.
    pub fn into_refresh_error(self) -> McpError {
        match self.refresh_failure() {
            RefreshFailure::KeepAll => self.into_error(ErrorCode::ServerError),
            _ => self.into_error(ErrorCode::AuthorizationRequired),
        }
    }

    fn into_error(self, oauth_code: ErrorCode) -> McpError {
        let msg = self.to_string();
        match self {
            TokenError::OAuth {
                status,
                error,
                description,
                ..
            } => McpError::new(oauth_code, msg)
                .with_status(Some(status))
                .with_oauth(Some(error), description),
            TokenError::Http(h) => h.into(),
        }
    }
}

/// R13: adds client authentication to a token-endpoint form: `client_id` in the body for a
/// public client; with a secret, the registered method, else `client_secret_basic` when the
/// server supports it (or lists nothing: RFC 8414 §2 default), else `client_secret_post`.
pub(crate) fn with_client_auth<'a>(
    endpoint: &Url,
    mut pairs: Vec<(&'a str, &'a str)>,
    client: &'a Client,
    supported: Option<&[String]>,
) -> HttpRequest {
    let Some(secret) = &client.client_secret else {
        pairs.push(("client_id", &client.client_id));
        return HttpRequest::form(endpoint.clone(), &pairs);
    };
    let basic = match client.auth_method.as_deref() {
        Some("client_secret_basic") => true,
        Some("client_secret_post") => false,
        _ => supported.is_none_or(|l| l.iter().any(|m| m == "client_secret_basic")),
    };
    if basic {
        let mut req = HttpRequest::form(endpoint.clone(), &pairs);
        // RFC 6749 §2.3.1: both parts form-encoded before base64
        let encode = |s: &str| byte_serialize(s.as_bytes()).collect::<String>();
        let creds = format!("{}:{}", encode(&client.client_id), encode(secret.secret()));
        req.headers
            .push(("authorization".into(), format!("Basic {}", STANDARD.encode(creds))));
        req
    } else {
        pairs.push(("client_id", &client.client_id));
        pairs.push(("client_secret", secret.secret()));
        HttpRequest::form(endpoint.clone(), &pairs)
    }
}

/// RFC 6749 §4.1.3 + RFC 7636 §4.5 + RFC 8707 §2.2.
pub fn prepare_code_exchange(
    endpoint: &Url,
    client: &Client,
    supported_auth: Option<&[String]>,
    code: &AuthCode,
    verifier: &CodeVerifier,
    resource: &str,
) -> HttpRequest {
    let pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code.secret()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", verifier.secret()),
        ("resource", resource),
    ];
    with_client_auth(endpoint, pairs, client, supported_auth)
}

/// RFC 6749 §6 + RFC 8707 §2.2 (R15: the same `resource` on every refresh).
pub fn prepare_refresh(
    endpoint: &Url,
    client: &Client,
    supported_auth: Option<&[String]>,
    refresh_token: &RefreshToken,
    resource: &str,
) -> HttpRequest {
    let pairs = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.secret()),
        ("resource", resource),
    ];
    with_client_auth(endpoint, pairs, client, supported_auth)
}

/// RFC 6749 §5.1: the members of a successful token response this client reads.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    /// A number, or a string holding one (R20); read by [`seconds`].
    #[serde(default)]
    expires_in: Value,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// R20: `expires_in` as a non-negative number of seconds, or a string holding one (some
/// servers send `"3600"`); absent or `null` is `None`; anything else is not a valid response.
fn seconds(v: &Value) -> Result<Option<f64>, HttpError> {
    let n = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64(),
        // the string's number in JSON's grammar, read by the same parser as the rest
        Value::String(s) => serde_json::from_str::<f64>(s.trim()).ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(HttpError::InvalidResponse("expires_in is not a non-negative number")),
    }
}

/// The latest expiry kept: `Number.MAX_SAFE_INTEGER` ms, so `Status.expiresAt` is always an exact
/// JS number, however long a lifetime a server announces.
pub const MAX_EXPIRY_MS: u64 = (1 << 53) - 1;

/// R20: RFC 6749 §5.1 success or §5.2 error.
pub fn parse_token_response(resp: &HttpResponse, now_ms: u64) -> Result<TokenSet, TokenError> {
    if resp.status != 200 {
        if (400..500).contains(&resp.status)
            && let Some(body) = resp.json::<OAuthErrorBody>()
        {
            return Err(TokenError::OAuth {
                status: resp.status,
                error: body.error,
                description: body.error_description,
                said_text: server_said(&resp.body),
            });
        }
        return Err(HttpError::unexpected(resp).into());
    }
    let t: TokenResponse = resp.json().ok_or(HttpError::InvalidResponse(
        "token response is not a JSON object with access_token and token_type",
    ))?;
    let expires_in = seconds(&t.expires_in)?;
    if t.access_token.is_empty() {
        return Err(HttpError::InvalidResponse("token response has an empty access_token").into());
    }
    // RFC 6750 Bearer, or a DPoP-bound token (RFC 9449 §5, R34)
    if !t.token_type.eq_ignore_ascii_case("bearer") && !t.token_type.eq_ignore_ascii_case("dpop") {
        return Err(HttpError::InvalidResponse("token_type is neither Bearer nor DPoP").into());
    }
    Ok(TokenSet {
        access_token: AccessToken::new(t.access_token),
        token_type: t.token_type,
        expires_at: expires_in.map(|s| now_ms.saturating_add((s * 1000.0) as u64).min(MAX_EXPIRY_MS)),
        refresh_token: t.refresh_token.filter(|s| !s.is_empty()).map(RefreshToken::new),
        // an empty scope says nothing (some servers send `""` for "as requested")
        scope: t.scope.filter(|s| !s.trim().is_empty()),
        refreshable: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::registration::ClientSource;
    use crate::core::secret::ClientSecret;

    fn public_client() -> Client {
        Client {
            client_id: "pub".into(),
            client_secret: None,
            auth_method: None,
            redirect_uri: "https://app.example/cb".into(),
            source: ClientSource::Dynamic,
        }
    }

    fn body(req: &HttpRequest) -> Vec<(String, String)> {
        url::form_urlencoded::parse(req.body.as_deref().unwrap().as_bytes())
            .into_owned()
            .collect()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn ok(body: &str) -> HttpResponse {
        HttpResponse::new(200, vec![], body)
    }

    #[test]
    fn r15_r20_code_exchange_request() {
        let v = CodeVerifier::from_random_bytes(&[1; 32]);
        let req = prepare_code_exchange(
            &url("https://as.example/token"),
            &public_client(),
            None,
            &AuthCode::new("the code"),
            &v,
            "https://mcp.example/mcp",
        );
        assert!(!req.follow_redirects, "R20: token requests do not follow redirects");
        assert_eq!(req.header("content-type"), Some("application/x-www-form-urlencoded"));
        let b = body(&req);
        let get = |k: &str| b.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("grant_type").as_deref(), Some("authorization_code"));
        assert_eq!(get("code").as_deref(), Some("the code"));
        assert_eq!(get("code_verifier").as_deref(), Some(v.secret()));
        assert_eq!(get("redirect_uri").as_deref(), Some("https://app.example/cb"));
        assert_eq!(get("resource").as_deref(), Some("https://mcp.example/mcp"));
        assert_eq!(get("client_id").as_deref(), Some("pub"));
        assert!(req.header("authorization").is_none());
    }

    #[test]
    fn r13_client_authentication_methods() {
        let mut c = public_client();
        c.client_secret = Some(ClientSecret::new("s3cr:t"));
        let rt = RefreshToken::new("rt");
        let basic = prepare_refresh(&url("https://as/t"), &c, None, &rt, "r");
        assert_eq!(basic.header("authorization"), Some("Basic cHViOnMzY3IlM0F0"));
        assert!(!body(&basic).iter().any(|(k, _)| k == "client_secret"));
        let post_only = vec!["client_secret_post".to_string()];
        let post = prepare_refresh(&url("https://as/t"), &c, Some(&post_only), &rt, "r");
        assert!(post.header("authorization").is_none());
        assert!(body(&post).contains(&("client_secret".into(), "s3cr:t".into())));
        c.auth_method = Some("client_secret_post".into());
        assert!(
            prepare_refresh(&url("https://as/t"), &c, None, &rt, "r")
                .header("authorization")
                .is_none()
        );
        let b = body(&prepare_refresh(&url("https://as/t"), &c, None, &rt, "https://mcp/x"));
        assert!(b.contains(&("grant_type".into(), "refresh_token".into())));
        assert!(b.contains(&("resource".into(), "https://mcp/x".into())));
    }

    #[test]
    fn r20_token_response_parsing() {
        let t = parse_token_response(
            &ok(r#"{"access_token":"at","token_type":"bearer","expires_in":3600,"refresh_token":"rt","scope":"a b"}"#),
            1000,
        )
        .unwrap();
        assert_eq!(t.access_token.secret(), "at");
        assert_eq!(t.expires_at, Some(1000 + 3_600_000));
        assert_eq!(t.refresh_token.as_ref().map(|r| r.secret()), Some("rt"));
        assert_eq!(t.scope.as_deref(), Some("a b"));
        let t = parse_token_response(
            &ok(r#"{"access_token":"at","token_type":"Bearer","expires_in":"60"}"#),
            0,
        )
        .unwrap();
        assert_eq!(t.expires_at, Some(60_000));
        let t = parse_token_response(
            &ok(r#"{"access_token":"at","token_type":"Bearer","expires_in":1e300}"#),
            5,
        )
        .unwrap();
        assert_eq!(
            t.expires_at,
            Some(MAX_EXPIRY_MS),
            "a lifetime past what JS counts exactly is capped"
        );
        let t = parse_token_response(
            &ok(r#"{"access_token":"at","token_type":"BEARER","expires_in":null}"#),
            0,
        )
        .unwrap();
        assert_eq!((t.expires_at, t.refresh_token), (None, None));
        // R20: an empty scope (workers-oauth-provider, FastMCP) is no scope: the requested one stands
        let t = parse_token_response(&ok(r#"{"access_token":"at","token_type":"Bearer","scope":" "}"#), 0).unwrap();
        assert_eq!(t.scope, None);
        for bad in [
            r#"{"token_type":"Bearer"}"#,
            r#"{"access_token":"at"}"#,
            r#"{"access_token":"at","token_type":"mac"}"#,
            r#"{"access_token":"at","token_type":"Bearer","expires_in":"soon"}"#,
            r#"{"access_token":"at","token_type":"Bearer","expires_in":-5}"#,
            r#"{"access_token":"at","token_type":"Bearer","expires_in":true}"#,
            r#"{"access_token":"","token_type":"Bearer"}"#,
            "not json",
        ] {
            let e = parse_token_response(&ok(bad), 0).unwrap_err();
            assert_eq!(e.into_exchange_error().code.as_str(), "invalid_response", "{bad}");
        }
    }

    #[test]
    fn r27_token_errors_are_classified() {
        let e = parse_token_response(
            &HttpResponse::new(400, vec![], r#"{"error":"invalid_grant","error_description":"used"}"#),
            0,
        )
        .unwrap_err();
        assert_eq!(e.oauth_error(), Some("invalid_grant"));
        let m = e.clone().into_refresh_error();
        assert_eq!(
            (m.code.as_str(), m.oauth_error.as_deref(), m.description.as_deref()),
            ("authorization_required", Some("invalid_grant"), Some("used"))
        );
        assert_eq!(e.into_exchange_error().code.as_str(), "authorization_failed");
        let failure =
            |status: u16, body: &str| parse_token_response(&HttpResponse::new(status, vec![], body), 0).unwrap_err();
        assert_eq!(
            failure(400, r#"{"error":"invalid_grant"}"#).refresh_failure(),
            RefreshFailure::DropTokens
        );
        for code in ["invalid_client", "unauthorized_client"] {
            let e = failure(401, &format!(r#"{{"error":"{code}"}}"#));
            assert_eq!(e.refresh_failure(), RefreshFailure::DropRegistration);
            assert_eq!(e.into_refresh_error().code.as_str(), "authorization_required");
        }
        // anything else keeps everything and is no reason to authorize again
        for (status, body) in [
            (503, "{}"),
            (429, ""),
            (400, r#"{"error":"temporarily_unavailable"}"#),
            (400, "oops"),
        ] {
            let e = failure(status, body);
            assert_eq!(e.refresh_failure(), RefreshFailure::KeepAll, "{status} {body}");
            let m = e.into_refresh_error();
            assert_eq!(
                (m.code.as_str(), m.status),
                ("server_error", Some(status)),
                "{status} {body}"
            );
        }
    }

    /// R25, R30 (issue 18, F5): an expiry past 2^53 ms in a stored set loads clamped.
    #[test]
    fn r25_a_stored_expiry_past_2_pow_53_loads_clamped() {
        let load = |t: &str| {
            serde_json::from_str::<TokenSet>(&format!(r#"{{"access_token":"a","token_type":"Bearer"{t}}}"#))
                .unwrap()
                .expires_at
        };
        assert_eq!(load(&format!(r#","expires_at":{}"#, 1u64 << 60)), Some(MAX_EXPIRY_MS));
        assert_eq!(load(&format!(r#","expires_at":{}"#, u64::MAX)), Some(MAX_EXPIRY_MS));
        assert_eq!(load(r#","expires_at":1712345678901"#), Some(1712345678901));
        assert_eq!((load(r#","expires_at":null"#), load("")), (None, None));
    }

    #[test]
    fn r25_token_set_round_trips_through_storage() {
        let t = parse_token_response(
            &ok(r#"{"access_token":"at","token_type":"Bearer","expires_in":60,"refresh_token":"rt"}"#),
            5,
        )
        .unwrap();
        assert_eq!(
            serde_json::from_str::<TokenSet>(&serde_json::to_string(&t).unwrap()).unwrap(),
            t
        );
    }

    #[test]
    fn r26_refresh_decision_and_rotation() {
        let t = TokenSet {
            access_token: AccessToken::new("a"),
            token_type: "Bearer".into(),
            expires_at: Some(100_000),
            refresh_token: None,
            scope: None,
            refreshable: false,
        };
        assert!(!t.expires_within(0, 60_000));
        assert!(t.expires_within(40_000, 60_000));
        let kept = t
            .clone()
            .merge_refresh(Some(RefreshToken::new("old")), Some("a b".into()));
        assert!(kept.refresh_token.is_some());
        assert_eq!(
            kept.scope.as_deref(),
            Some("a b"),
            "no scope in the response: the granted one stands"
        );
        let rotated = TokenSet {
            refresh_token: Some(RefreshToken::new("new")),
            ..t
        };
        let rotated = TokenSet {
            scope: Some("c".into()),
            ..rotated
        };
        let merged = rotated.merge_refresh(Some(RefreshToken::new("old")), Some("a b".into()));
        assert_eq!(
            (merged.refresh_token.unwrap().secret(), merged.scope.as_deref()),
            ("new", Some("c"))
        );
    }
}
