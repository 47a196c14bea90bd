//! Discovery: the unauthenticated probe (R1), protected-resource metadata (RFC 9728, R3–R5) and
//! authorization-server metadata (RFC 8414 §3, OpenID Connect Discovery 1.0 §4, R6–R8).

#[allow(unused_imports)]
use crate::prelude::*;

use thiserror::Error;

use super::challenge::{BearerChallenge, bearer_challenge};
use super::error::{ErrorCode, HttpError, McpError};
use super::http::{HttpRequest, HttpResponse};
use super::json::{Json, Record, obj};
use super::url::{Url, UrlError};

/// The protocol version sent on the probe (MCP basic/transports, "Protocol Version Header").
pub const MCP_PROTOCOL_VERSION: &str = "2025-06-18";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", self.message())]
pub enum DiscoveryError {
    InvalidUrl { what: &'static str, err: UrlError },
    Insecure(&'static str),
    Http(#[from] HttpError),
    ResourceMismatch { resource: String, server: String },
    IssuerMismatch { expected: String, found: String },
}

impl DiscoveryError {
    pub fn message(&self) -> String {
        match self {
            DiscoveryError::InvalidUrl { what, err } => cat!(what, " is not a usable URL: ", err.message()),
            DiscoveryError::Insecure(what) => cat!(what, " is neither https nor http on a loopback host"),
            DiscoveryError::Http(e) => e.message(),
            DiscoveryError::ResourceMismatch { resource, server } => {
                cat!("the protected resource metadata names resource ", resource, ", which does not cover ", server)
            }
            DiscoveryError::IssuerMismatch { expected, found } => {
                cat!("the authorization server metadata names issuer ", found, ", expected ", expected)
            }
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            DiscoveryError::InvalidUrl { .. } => ErrorCode::InvalidInput,
            DiscoveryError::Insecure(_) => ErrorCode::InsecureUrl,
            DiscoveryError::Http(e) => e.code(),
            DiscoveryError::ResourceMismatch { .. } => ErrorCode::ResourceMismatch,
            DiscoveryError::IssuerMismatch { .. } => ErrorCode::IssuerMismatch,
        }
    }
}

impl From<DiscoveryError> for McpError {
    fn from(e: DiscoveryError) -> Self {
        let status = match &e {
            DiscoveryError::Http(h) => h.status(),
            _ => None,
        };
        McpError::new(e.code(), e.message()).with_status(status)
    }
}

/// Parses the URL the app gave for an MCP server: absolute, and R8-secure.
pub fn parse_server_url(input: &str) -> Result<Url, DiscoveryError> {
    let url = Url::parse(input).map_err(|err| DiscoveryError::InvalidUrl { what: "the server URL", err })?;
    if !url.is_secure() {
        return Err(DiscoveryError::Insecure("the server URL"));
    }
    Ok(url)
}

/// R1: an MCP `initialize` POST without credentials.
pub fn prepare_probe(server: &Url) -> HttpRequest {
    let body = cat!(
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":""#,
        MCP_PROTOCOL_VERSION,
        r#"","capabilities":{},"clientInfo":{"name":"mcp-oauth-wasm","version":""#,
        env!("CARGO_PKG_VERSION"),
        r#""}}}"#
    );
    let mut req = HttpRequest::json(server.href(), body);
    req.headers = vec![
        ("content-type".into(), "application/json".into()),
        ("accept".into(), "application/json, text/event-stream".into()),
        ("mcp-protocol-version".into(), MCP_PROTOCOL_VERSION.into()),
    ];
    req
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    NoAuthRequired,
    AuthRequired(Option<BearerChallenge>),
}

/// R1: 2xx → no authorization; 401, or 403 with a Bearer challenge → authorization needed.
pub fn parse_probe(resp: &HttpResponse) -> Result<ProbeOutcome, DiscoveryError> {
    let challenge = resp.header("www-authenticate").and_then(bearer_challenge);
    match resp.status {
        s if (200..300).contains(&s) => Ok(ProbeOutcome::NoAuthRequired),
        401 => Ok(ProbeOutcome::AuthRequired(challenge)),
        403 if challenge.is_some() => Ok(ProbeOutcome::AuthRequired(challenge)),
        s => Err(HttpError::Status(s).into()),
    }
}

/// R3: the protected-resource metadata URLs to try, in order. With `resource_metadata` in the
/// challenge, exactly that URL (R8-checked); else the path-aware well-known URL (RFC 9728 §3.1)
/// and then the root one.
pub fn resource_metadata_urls(server: &Url, challenge: Option<&BearerChallenge>) -> Result<Vec<String>, DiscoveryError> {
    if let Some(url) = challenge.and_then(|c| c.resource_metadata.as_deref()) {
        let url = Url::parse_secure(url).map_err(|_| DiscoveryError::Insecure("resource_metadata"))?;
        return Ok(vec![url.href()]);
    }
    let root = cat!(server.origin(), "/.well-known/oauth-protected-resource");
    let mut with_path = cat!(root, server.path_trimmed());
    if let Some(q) = server.query() {
        with_path.push('?');
        with_path.push_str(q);
    }
    Ok(if with_path == root { vec![root] } else { vec![with_path, root] })
}

/// R3/R6: may the next candidate URL be tried after this status? 4xx and 502 yes, other 5xx no.
pub fn may_fall_back(status: u16) -> bool {
    (400..500).contains(&status) || status == 502
}

/// RFC 9728 §2: a protected-resource metadata document, R4-checked, kept as served (the fields
/// are read where they are used, so no second copy of the document is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMetadata(pub Json);

impl ResourceMetadata {
    /// `resource` (required, and checked against the server by R4).
    pub fn resource(&self) -> &str {
        self.0.str_ref("resource").unwrap_or_default()
    }
    /// R5: the first of `authorization_servers`.
    pub fn first_authorization_server(&self) -> Option<&str> {
        match self.0.get("authorization_servers")? {
            Json::Arr(a) => a.first()?.as_str(),
            _ => None,
        }
    }
    pub fn scopes_supported(&self) -> Option<Vec<String>> {
        self.0.strs("scopes_supported")
    }
}

/// R4: `resource` must be this server: same origin, and a segment-wise prefix of its path.
pub fn resource_covers(resource: &Url, server: &Url) -> bool {
    let r = resource.path_trimmed();
    let s = server.path();
    resource.same_origin(server) && (r.is_empty() || s == r || s.trim_end_matches('/') == r || s.strip_prefix(r).is_some_and(|rest| rest.starts_with('/')))
}

pub fn parse_resource_metadata(resp: &HttpResponse, server: &Url) -> Result<ResourceMetadata, DiscoveryError> {
    if resp.status != 200 {
        return Err(HttpError::Status(resp.status).into());
    }
    let o = resp.json_object().ok_or(HttpError::InvalidResponse("protected resource metadata is not a JSON object"))?;
    let resource = o.str("resource").ok_or(HttpError::InvalidResponse("protected resource metadata has no resource"))?;
    let mismatch = || DiscoveryError::ResourceMismatch { resource: resource.clone(), server: server.href() };
    let parsed = Url::parse(&resource).map_err(|_| mismatch())?;
    if !resource_covers(&parsed, server) {
        return Err(mismatch());
    }
    Ok(ResourceMetadata(o))
}

/// R6: authorization-server metadata URLs for an issuer, in order (RFC 8414 §3.1, OIDC
/// Discovery §4, and the path-appended OIDC form).
pub fn authorization_server_metadata_urls(issuer: &Url) -> Vec<String> {
    let o = issuer.origin();
    let p = issuer.path_trimmed();
    if p.is_empty() {
        vec![cat!(o, "/.well-known/oauth-authorization-server"), cat!(o, "/.well-known/openid-configuration")]
    } else {
        vec![
            cat!(o, "/.well-known/oauth-authorization-server", p),
            cat!(o, "/.well-known/openid-configuration", p),
            cat!(o, p, "/.well-known/openid-configuration"),
        ]
    }
}

/// RFC 8414 §2: an authorization server's metadata document, R7/R8-checked, kept as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthServerMetadata(pub Json);

impl AuthServerMetadata {
    /// An endpoint URL (R8-checked when the document was parsed).
    pub fn endpoint(&self, name: &str) -> Option<&str> {
        self.0.str_ref(name)
    }
    pub fn authorization_endpoint(&self) -> &str {
        self.endpoint("authorization_endpoint").unwrap_or_default()
    }
    pub fn token_endpoint(&self) -> &str {
        self.endpoint("token_endpoint").unwrap_or_default()
    }
    /// A list member such as `scopes_supported` or `code_challenge_methods_supported`.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.0.strs(name)
    }
    /// A boolean member such as `authorization_response_iss_parameter_supported`.
    pub fn flag(&self, name: &str) -> bool {
        self.0.flag(name)
    }
}

/// The endpoints that must be https (or http on loopback) when present (R8).
const ENDPOINTS: [&str; 4] = ["authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint"];

/// R6–R8: parses a metadata document fetched for `issuer`.
pub fn parse_authorization_server_metadata(resp: &HttpResponse, issuer: &str) -> Result<AuthServerMetadata, DiscoveryError> {
    if resp.status != 200 {
        return Err(HttpError::Status(resp.status).into());
    }
    let o = resp.json_object().ok_or(HttpError::InvalidResponse("authorization server metadata is not a JSON object"))?;
    let found = o.str("issuer").unwrap_or_default();
    if found != issuer {
        return Err(DiscoveryError::IssuerMismatch { expected: issuer.to_string(), found });
    }
    for name in ENDPOINTS {
        if o.str_ref(name).is_some_and(|u| Url::parse_secure(u).is_err()) {
            return Err(DiscoveryError::Insecure(name));
        }
    }
    if o.str_ref(ENDPOINTS[0]).is_none() || o.str_ref(ENDPOINTS[1]).is_none() {
        return Err(HttpError::InvalidResponse("authorization server metadata lacks a required endpoint").into());
    }
    Ok(AuthServerMetadata(o))
}

/// Cached as the document itself (R9).
impl Record for ResourceMetadata {
    fn to_json(&self) -> Json {
        self.0.clone()
    }
    fn from_json(v: &Json) -> Option<Self> {
        v.is_object().then(|| ResourceMetadata(v.clone()))
    }
}

impl Record for AuthServerMetadata {
    fn to_json(&self) -> Json {
        self.0.clone()
    }
    fn from_json(v: &Json) -> Option<Self> {
        v.is_object().then(|| AuthServerMetadata(v.clone()))
    }
}

/// R6: with no metadata found, the 2025-03-26 defaults relative to the issuer's origin.
pub fn default_metadata(issuer: &Url) -> AuthServerMetadata {
    let o = issuer.origin();
    AuthServerMetadata(obj([
        ("issuer", issuer.href().into()),
        (ENDPOINTS[0], cat!(o, "/authorize").into()),
        (ENDPOINTS[1], cat!(o, "/token").into()),
        (ENDPOINTS[2], cat!(o, "/register").into()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }
    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(status, vec![], body)
    }

    #[test]
    fn r1_probe_is_an_initialize_post_with_protocol_version() {
        let req = prepare_probe(&url("https://mcp.example.com/mcp"));
        assert_eq!(req.method.as_str(), "POST");
        assert_eq!(req.url, "https://mcp.example.com/mcp");
        assert_eq!(req.header("MCP-Protocol-Version"), Some(MCP_PROTOCOL_VERSION));
        assert!(req.header("authorization").is_none());
        let body: serde_json::Value = serde_json::from_str(req.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["method"], "initialize");
    }

    #[test]
    fn r1_probe_outcomes() {
        assert_eq!(parse_probe(&resp(200, "")).unwrap(), ProbeOutcome::NoAuthRequired);
        let h = vec![("WWW-Authenticate".to_string(), r#"Bearer resource_metadata="https://x/m""#.to_string())];
        match parse_probe(&HttpResponse::new(401, h.clone(), "")).unwrap() {
            ProbeOutcome::AuthRequired(Some(c)) => assert_eq!(c.resource_metadata.as_deref(), Some("https://x/m")),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_probe(&resp(401, "")).unwrap(), ProbeOutcome::AuthRequired(None));
        assert!(matches!(parse_probe(&HttpResponse::new(403, h, "")).unwrap(), ProbeOutcome::AuthRequired(Some(_))));
        let e = parse_probe(&resp(403, "")).unwrap_err();
        assert_eq!((e.code(), McpError::from(e).status), (ErrorCode::ServerError, Some(403)));
        assert_eq!(parse_probe(&resp(500, "")).unwrap_err().code(), ErrorCode::ServerError);
    }

    #[test]
    fn r3_well_known_protected_resource_urls() {
        let s = url("https://mcp.example.com/api/mcp?tenant=1");
        assert_eq!(
            resource_metadata_urls(&s, None).unwrap(),
            vec![
                "https://mcp.example.com/.well-known/oauth-protected-resource/api/mcp?tenant=1",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ]
        );
        assert_eq!(
            resource_metadata_urls(&url("https://mcp.example.com"), None).unwrap(),
            vec!["https://mcp.example.com/.well-known/oauth-protected-resource"]
        );
        let c = BearerChallenge { resource_metadata: Some("https://other.example/prm".into()), ..Default::default() };
        assert_eq!(resource_metadata_urls(&s, Some(&c)).unwrap(), vec!["https://other.example/prm"]);
        let c = BearerChallenge { resource_metadata: Some("http://evil.example/prm".into()), ..Default::default() };
        assert_eq!(resource_metadata_urls(&s, Some(&c)).unwrap_err().code(), ErrorCode::InsecureUrl);
    }

    #[test]
    fn r3_r6_fallback_statuses() {
        for s in [400, 401, 404, 410, 502] {
            assert!(may_fall_back(s), "{s}");
        }
        for s in [500, 503, 504, 200, 301] {
            assert!(!may_fall_back(s), "{s}");
        }
    }

    #[test]
    fn r4_resource_must_cover_the_server() {
        let s = url("https://h.example/api/mcp");
        for ok in ["https://h.example/api/mcp", "https://h.example/api", "https://h.example/api/", "https://h.example", "https://h.example/"] {
            assert!(resource_covers(&url(ok), &s), "{ok}");
        }
        for bad in ["https://h.example/api2", "https://h.example/api/mcp/x", "https://other.example/api/mcp", "http://h.example/api/mcp", "https://h.example:8443/api"] {
            assert!(!resource_covers(&url(bad), &s), "{bad}");
        }
        let body = r#"{"resource":"https://h.example/api2","authorization_servers":["https://as.example"]}"#;
        assert_eq!(parse_resource_metadata(&resp(200, body), &s).unwrap_err().code(), ErrorCode::ResourceMismatch);
        let body = r#"{"resource":"https://h.example/api","authorization_servers":["https://as.example"],"scopes_supported":["a","b"]}"#;
        let m = parse_resource_metadata(&resp(200, body), &s).unwrap();
        assert_eq!(m.first_authorization_server(), Some("https://as.example"));
        assert_eq!(m.scopes_supported(), Some(vec!["a".into(), "b".into()]));
        assert_eq!(parse_resource_metadata(&resp(200, "[]"), &s).unwrap_err().code(), ErrorCode::InvalidResponse);
        assert_eq!(parse_resource_metadata(&resp(200, "{}"), &s).unwrap_err().code(), ErrorCode::InvalidResponse);
    }

    #[test]
    fn r6_authorization_server_metadata_urls() {
        assert_eq!(
            authorization_server_metadata_urls(&url("https://as.example")),
            vec!["https://as.example/.well-known/oauth-authorization-server", "https://as.example/.well-known/openid-configuration"]
        );
        assert_eq!(
            authorization_server_metadata_urls(&url("https://as.example/tenant/1/")),
            vec![
                "https://as.example/.well-known/oauth-authorization-server/tenant/1",
                "https://as.example/.well-known/openid-configuration/tenant/1",
                "https://as.example/tenant/1/.well-known/openid-configuration",
            ]
        );
        let d = default_metadata(&url("https://legacy.example/mcp"));
        assert_eq!(d.authorization_endpoint(), "https://legacy.example/authorize");
        assert_eq!(d.token_endpoint(), "https://legacy.example/token");
        assert_eq!(d.endpoint("registration_endpoint"), Some("https://legacy.example/register"));
    }

    const AS: &str = r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/auth",
        "token_endpoint":"https://as.example/token","registration_endpoint":"https://as.example/reg",
        "code_challenge_methods_supported":["S256"],"authorization_response_iss_parameter_supported":true}"#;

    #[test]
    fn r7_issuer_must_match() {
        let m = parse_authorization_server_metadata(&resp(200, AS), "https://as.example").unwrap();
        assert_eq!(m.token_endpoint(), "https://as.example/token");
        assert!(m.flag("authorization_response_iss_parameter_supported"));
        assert_eq!(m.list("code_challenge_methods_supported"), Some(vec!["S256".to_string()]));
        let e = parse_authorization_server_metadata(&resp(200, AS), "https://as.example/").unwrap_err();
        assert_eq!(e.code(), ErrorCode::IssuerMismatch);
        let e = parse_authorization_server_metadata(&resp(200, AS), "https://evil.example").unwrap_err();
        assert_eq!(e.code(), ErrorCode::IssuerMismatch);
    }

    #[test]
    fn r9_cached_metadata_round_trips() {
        let m = parse_authorization_server_metadata(&resp(200, AS), "https://as.example").unwrap();
        assert_eq!(AuthServerMetadata::from_json(&Json::parse(&m.to_json().text()).unwrap()), Some(m));
        let body = r#"{"resource":"https://h.example/api","authorization_servers":["https://as.example"]}"#;
        let r = parse_resource_metadata(&resp(200, body), &url("https://h.example/api")).unwrap();
        assert_eq!(ResourceMetadata::from_json(&r.to_json()), Some(r));
    }

    #[test]
    fn r8_insecure_endpoints_are_refused() {
        for (field, bad) in [
            ("token_endpoint", "http://as.example/token"),
            ("authorization_endpoint", "javascript:alert(1)"),
            ("registration_endpoint", "/reg"),
            ("revocation_endpoint", "data:text/plain,x"),
        ] {
            let mut v: serde_json::Value = serde_json::from_str(AS).unwrap();
            v[field] = serde_json::Value::String(bad.into());
            let e = parse_authorization_server_metadata(&resp(200, &v.to_string()), "https://as.example").unwrap_err();
            assert_eq!(e.code(), ErrorCode::InsecureUrl, "{field}");
        }
        let body = r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/a"}"#;
        let e = parse_authorization_server_metadata(&resp(200, body), "https://as.example").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidResponse);
    }
}
