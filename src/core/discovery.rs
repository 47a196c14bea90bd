//! Discovery: the unauthenticated probe (R1), protected-resource metadata (RFC 9728, R3–R5) and
//! authorization-server metadata (RFC 8414 §3, OpenID Connect Discovery 1.0 §4, R6–R8).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use url::Url;

use super::challenge::{BearerChallenge, bearer_challenge};
use super::error::{ErrorCode, HttpError, McpError};
use super::http::{HttpRequest, HttpResponse, parse_json};
use super::resource::{ServerUrl, UrlError, parse_secure, path_trimmed, resource_covers};

/// The protocol version sent on the probe (MCP basic/transports, "Protocol Version Header").
pub const MCP_PROTOCOL_VERSION: &str = "2025-06-18";

/// R3–R8: why discovery stopped; [`DiscoveryError::code`] gives the error code the app sees.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DiscoveryError {
    /// A URL that does not parse (`invalid_input`).
    #[error("{what} is not a usable URL: {err}")]
    InvalidUrl {
        /// Which URL it was (`the server URL`, …), for the message.
        what: &'static str,
        /// Why it does not parse.
        err: UrlError,
    },
    /// R8: the named URL is neither `https:` nor `http:` on a loopback host (`insecure_url`).
    #[error("{0} is neither https nor http on a loopback host")]
    Insecure(&'static str),
    /// A request failed or was answered with an unexpected status or body.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// R4: the metadata's `resource` does not cover the server URL (`resource_mismatch`).
    #[error("the protected resource metadata names resource {resource}, which does not cover {server}")]
    ResourceMismatch {
        /// The metadata's `resource`.
        resource: String,
        /// The server URL it should cover.
        server: String,
    },
    /// R7: the metadata's `issuer` is not the issuer it was fetched for (`issuer_mismatch`).
    #[error("the authorization server metadata names issuer {found}, expected {expected}")]
    IssuerMismatch {
        /// The issuer the metadata was fetched for.
        expected: String,
        /// The metadata's `issuer` (empty when absent).
        found: String,
    },
}

impl DiscoveryError {
    /// R32: the stable error code this failure reaches the app as.
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
        McpError::new(e.code(), e.to_string()).with_status(status)
    }
}

/// Parses the URL the app gave for an MCP server: absolute, R8-secure, canonical (R15). `ascii`
/// is `typed` as the browser serializes it (see [`ServerUrl::parse_as`]).
pub fn parse_server_url(typed: &str, ascii: &str) -> Result<ServerUrl, DiscoveryError> {
    ServerUrl::parse_as(typed, ascii).map_err(|err| match err {
        UrlError::Insecure => DiscoveryError::Insecure("the server URL"),
        err => DiscoveryError::InvalidUrl {
            what: "the server URL",
            err,
        },
    })
}

/// R1: an MCP `initialize` POST without credentials.
pub fn prepare_probe(server: &ServerUrl) -> HttpRequest {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": MCP_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "mcp-oauth-wasm", "version": env!("CARGO_PKG_VERSION") },
        },
    });
    let mut req = HttpRequest::json(server.url().clone(), body.to_string());
    req.headers = vec![
        ("content-type".into(), "application/json".into()),
        ("accept".into(), "application/json, text/event-stream".into()),
        ("mcp-protocol-version".into(), MCP_PROTOCOL_VERSION.into()),
    ];
    req
}

/// R1: what the unauthenticated probe's answer says about authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// 401, or 403 with a Bearer challenge: authorization is needed.
    AuthRequired(Option<BearerChallenge>),
    /// Not the last word (R1): a 2xx, or a 400/404/405 from a server whose protocol revision
    /// expects another first request (the stateless 2026-07-28 revision answers an `initialize`
    /// POST with 400). Protected-resource metadata decides; without any, a 2xx means no
    /// authorization is needed and another status is an error.
    Open(u16),
}

/// R1: what the probe's answer means.
pub fn parse_probe(resp: &HttpResponse) -> Result<ProbeOutcome, DiscoveryError> {
    let challenge = resp.header("www-authenticate").and_then(bearer_challenge);
    match resp.status {
        401 => Ok(ProbeOutcome::AuthRequired(challenge)),
        403 if challenge.is_some() => Ok(ProbeOutcome::AuthRequired(challenge)),
        s if (200..300).contains(&s) || matches!(s, 400 | 404 | 405) => Ok(ProbeOutcome::Open(s)),
        _ => Err(HttpError::unexpected(resp).into()),
    }
}

/// `url` with another path and no query or fragment.
fn with_path(url: &Url, path: &str) -> Url {
    let mut u = url.clone();
    u.set_path(path);
    u.set_query(None);
    u.set_fragment(None);
    u
}

/// R3: the protected-resource metadata URLs to try, in order. With `resource_metadata` in the
/// challenge, exactly that URL (R8-checked); else the path-aware well-known URL (RFC 9728 §3.1,
/// query kept) and then the root one.
pub fn resource_metadata_urls(
    server: &ServerUrl,
    challenge: Option<&BearerChallenge>,
) -> Result<Vec<Url>, DiscoveryError> {
    if let Some(url) = challenge.and_then(|c| c.resource_metadata.as_deref()) {
        return Ok(vec![
            parse_secure(url).map_err(|_| DiscoveryError::Insecure("resource_metadata"))?,
        ]);
    }
    const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";
    let server = server.url();
    let root = with_path(server, WELL_KNOWN);
    let mut path_aware = with_path(server, &format!("{WELL_KNOWN}{}", path_trimmed(server)));
    path_aware.set_query(server.query());
    Ok(if path_aware == root {
        vec![root]
    } else {
        vec![path_aware, root]
    })
}

/// R3/R6: may the next candidate URL be tried after this status? 4xx and 502 yes, other 5xx no.
pub fn may_fall_back(status: u16) -> bool {
    (400..500).contains(&status) || status == 502
}

/// A metadata document as served — the API hands it back whole, unknown members included —
/// with the members this client reads taken from it. Read as `JSON.parse` reads (a repeated
/// member: the last one counts). Stored as those members alone (F4, R25: a server's padding
/// never fills the origin's storage), which are read again from it when a stored record loads.
#[derive(Debug, Clone, PartialEq)]
pub struct Document<T> {
    /// The members this client reads, taken from `raw`; all that is stored.
    pub fields: T,
    /// The whole document as served, unknown members included, for the API to hand back.
    pub raw: Value,
}

impl<T: DeserializeOwned> Document<T> {
    /// A JSON object whose members fit `T`.
    pub fn from_value(raw: Value) -> Result<Document<T>, serde_json::Error> {
        if !raw.is_object() {
            return Err(serde::de::Error::custom("not a JSON object"));
        }
        Ok(Document {
            fields: T::deserialize(&raw)?,
            raw,
        })
    }

    fn parse(body: &str, what: &'static str) -> Result<Document<T>, HttpError> {
        parse_json(body)
            .and_then(|raw| Document::from_value(raw).ok())
            .ok_or(HttpError::InvalidResponse(what))
    }
}

impl<T: Serialize> Serialize for Document<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.fields.serialize(s)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Document<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Document::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An optional member given as `null` reads as absent (`false`), as it does for `Option`.
fn null_as_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// RFC 9728 §2: the members of a protected-resource metadata document this client reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceMetadata {
    /// RFC 9728 §2: the resource the metadata is for; it must cover the server URL (R4) and is sent
    /// as the RFC 8707 `resource` (R15).
    pub resource: String,
    /// RFC 9728 §2: the authorization servers' issuers; the first one is used unless the app
    /// chooses (R5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_servers: Option<Vec<String>>,
    /// RFC 9728 §2: the scopes the resource takes, asked for without a challenged scope (R16) and
    /// registered for (R12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// RFC 9449 §5.2 (R34).
    #[serde(
        default,
        deserialize_with = "null_as_false",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub dpop_bound_access_tokens_required: bool,
    /// RFC 9728 §2: the DPoP proof algorithms the resource takes (R34).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
}

/// R3, R4: reads a protected-resource metadata answer (200, a JSON object with a `resource` that
/// covers `server`).
pub fn parse_resource_metadata(
    resp: &HttpResponse,
    server: &ServerUrl,
) -> Result<Document<ResourceMetadata>, DiscoveryError> {
    if resp.status != 200 {
        return Err(HttpError::unexpected(resp).into());
    }
    let doc = Document::<ResourceMetadata>::parse(
        &resp.body,
        "protected resource metadata is not a JSON object with a resource",
    )?;
    let resource = &doc.fields.resource;
    // R4
    if !Url::parse(resource).is_ok_and(|r| resource_covers(&r, server.url())) {
        return Err(DiscoveryError::ResourceMismatch {
            resource: resource.clone(),
            server: server.to_string(),
        });
    }
    Ok(doc)
}

/// R6: authorization-server metadata URLs for an issuer, in order (RFC 8414 §3.1, OIDC
/// Discovery §4, and the path-appended OIDC form).
pub fn authorization_server_metadata_urls(issuer: &Url) -> Vec<Url> {
    let p = path_trimmed(issuer);
    let at = |path: String| with_path(issuer, &path);
    if p.is_empty() {
        vec![
            at("/.well-known/oauth-authorization-server".into()),
            at("/.well-known/openid-configuration".into()),
        ]
    } else {
        vec![
            at(format!("/.well-known/oauth-authorization-server{p}")),
            at(format!("/.well-known/openid-configuration{p}")),
            at(format!("{p}/.well-known/openid-configuration")),
        ]
    }
}

/// RFC 8414 §2: the members of an authorization server's metadata this client reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthServerMetadata {
    /// RFC 8414 §2: the issuer identifier, equal to the issuer it was fetched for (R7).
    pub issuer: String,
    /// RFC 8414 §2: where the authorization request goes (R8-checked).
    pub authorization_endpoint: Url,
    /// RFC 8414 §2: where the token requests go: code exchange and refresh (R6, R20).
    pub token_endpoint: Url,
    /// RFC 8414 §2: RFC 7591 dynamic registration, when the server offers it (R11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<Url>,
    /// RFC 8414 §2: RFC 7009 revocation, when the server offers it (R29).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<Url>,
    /// RFC 8414 §2: the scopes the server knows; `offline_access` is added only when listed (R16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// RFC 8414 §2: the PKCE methods; without `S256` the flow is refused (R14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 8414 §2: the token endpoint's client authentication methods (R13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// RFC 9207 §3 (R18).
    #[serde(
        default,
        deserialize_with = "null_as_false",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub authorization_response_iss_parameter_supported: bool,
    /// Client ID metadata documents (R11).
    #[serde(
        default,
        deserialize_with = "null_as_false",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub client_id_metadata_document_supported: bool,
    /// RFC 9449 §5.1 (R34).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
}

/// The endpoints that must be https (or http on loopback) when present (R8).
const ENDPOINTS: [&str; 4] = [
    "authorization_endpoint",
    "token_endpoint",
    "registration_endpoint",
    "revocation_endpoint",
];

/// R6–R8: parses a metadata document fetched for `issuer`: its `issuer` is exactly that string
/// (RFC 8414 §3.3, no normalisation) and every endpoint is secure.
pub fn parse_authorization_server_metadata(
    resp: &HttpResponse,
    issuer: &str,
) -> Result<Document<AuthServerMetadata>, DiscoveryError> {
    if resp.status != 200 {
        return Err(HttpError::unexpected(resp).into());
    }
    let raw: Value = parse_json(&resp.body)
        .filter(Value::is_object)
        .ok_or(HttpError::InvalidResponse(
            "authorization server metadata is not a JSON object",
        ))?;
    let found = raw.get("issuer").and_then(Value::as_str).unwrap_or_default();
    if found != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            expected: issuer.to_string(),
            found: found.to_string(),
        });
    }
    for name in ENDPOINTS {
        if raw
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|u| parse_secure(u).is_err())
        {
            return Err(DiscoveryError::Insecure(name));
        }
    }
    Document::from_value(raw).map_err(|_| {
        HttpError::InvalidResponse("authorization server metadata lacks a required endpoint or has a malformed member")
            .into()
    })
}

/// R6: with no metadata found, the 2025-03-26 defaults relative to the issuer's origin; the
/// issuer stays the string it was found as.
pub fn default_metadata(issuer: &str, issuer_url: &Url) -> Document<AuthServerMetadata> {
    let at = |path: &str| with_path(issuer_url, path);
    let fields = AuthServerMetadata {
        issuer: issuer.to_string(),
        authorization_endpoint: at("/authorize"),
        token_endpoint: at("/token"),
        registration_endpoint: Some(at("/register")),
        revocation_endpoint: None,
        scopes_supported: None,
        // R14: with no metadata there is no list to check: S256 is used
        code_challenge_methods_supported: Some(vec!["S256".into()]),
        token_endpoint_auth_methods_supported: None,
        authorization_response_iss_parameter_supported: false,
        client_id_metadata_document_supported: false,
        dpop_signing_alg_values_supported: None,
    };
    // the stored copy is this document alone, read again on load: it states every default the
    // fields above assume, S256 included, so that a record read back decides the same (issue 17)
    let raw = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": fields.authorization_endpoint.as_str(),
        "token_endpoint": fields.token_endpoint.as_str(),
        "registration_endpoint": at("/register").as_str(),
        "code_challenge_methods_supported": ["S256"],
    });
    Document { fields, raw }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R6, R14 (issue 17): the 2025-03-26 defaults read back from their stored form are the same
    /// fields, so `discover()` then `authorize()` decides as `authorize()` alone does.
    #[test]
    fn r6_r14_the_default_metadata_survives_its_stored_form() {
        let issuer = "https://legacy.example";
        let doc = default_metadata(issuer, &Url::parse(issuer).unwrap());
        let stored = serde_json::to_string(&doc).unwrap();
        let back: Document<AuthServerMetadata> = serde_json::from_str(&stored).unwrap();
        assert_eq!(back.fields, doc.fields);
        assert_eq!(
            back.fields.code_challenge_methods_supported.as_deref(),
            Some(&["S256".to_string()][..])
        );
    }

    fn server(s: &str) -> ServerUrl {
        ServerUrl::parse(s).unwrap()
    }
    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }
    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(status, vec![], body)
    }
    fn strs(urls: Vec<Url>) -> Vec<String> {
        urls.into_iter().map(String::from).collect()
    }

    #[test]
    fn r1_probe_is_an_initialize_post_with_protocol_version() {
        let req = prepare_probe(&server("https://mcp.example.com/mcp"));
        assert_eq!(req.method.as_str(), "POST");
        assert_eq!(req.url.as_str(), "https://mcp.example.com/mcp");
        assert_eq!(req.header("MCP-Protocol-Version"), Some(MCP_PROTOCOL_VERSION));
        assert!(req.header("authorization").is_none());
        let body: Value = serde_json::from_str(req.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["method"], "initialize");
        assert_eq!(body["params"]["protocolVersion"], MCP_PROTOCOL_VERSION);
    }

    #[test]
    fn r1_probe_outcomes() {
        assert_eq!(parse_probe(&resp(200, "")).unwrap(), ProbeOutcome::Open(200));
        for s in [400, 404, 405] {
            assert_eq!(
                parse_probe(&resp(s, "")).unwrap(),
                ProbeOutcome::Open(s),
                "R1: not the last word"
            );
        }
        let h = vec![(
            "WWW-Authenticate".to_string(),
            r#"Bearer resource_metadata="https://x/m""#.to_string(),
        )];
        match parse_probe(&HttpResponse::new(401, h.clone(), "")).unwrap() {
            ProbeOutcome::AuthRequired(Some(c)) => assert_eq!(c.resource_metadata.as_deref(), Some("https://x/m")),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_probe(&resp(401, "")).unwrap(), ProbeOutcome::AuthRequired(None));
        assert!(matches!(
            parse_probe(&HttpResponse::new(403, h, "")).unwrap(),
            ProbeOutcome::AuthRequired(Some(_))
        ));
        let e = parse_probe(&resp(403, "")).unwrap_err();
        assert_eq!(
            (e.code(), McpError::from(e).status),
            (ErrorCode::ServerError, Some(403))
        );
        assert_eq!(parse_probe(&resp(500, "")).unwrap_err().code(), ErrorCode::ServerError);
        assert_eq!(parse_probe(&resp(418, "")).unwrap_err().code(), ErrorCode::ServerError);
    }

    #[test]
    fn r3_well_known_protected_resource_urls() {
        let s = server("https://mcp.example.com/api/mcp?tenant=1");
        assert_eq!(
            strs(resource_metadata_urls(&s, None).unwrap()),
            vec![
                "https://mcp.example.com/.well-known/oauth-protected-resource/api/mcp?tenant=1",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ]
        );
        assert_eq!(
            strs(resource_metadata_urls(&server("https://mcp.example.com"), None).unwrap()),
            vec!["https://mcp.example.com/.well-known/oauth-protected-resource"]
        );
        let c = BearerChallenge {
            resource_metadata: Some("https://other.example/prm".into()),
            ..Default::default()
        };
        assert_eq!(
            strs(resource_metadata_urls(&s, Some(&c)).unwrap()),
            vec!["https://other.example/prm"]
        );
        let c = BearerChallenge {
            resource_metadata: Some("http://evil.example/prm".into()),
            ..Default::default()
        };
        assert_eq!(
            resource_metadata_urls(&s, Some(&c)).unwrap_err().code(),
            ErrorCode::InsecureUrl
        );
    }

    /// A server path with dot segments builds its well-known URL from the resolved path, so it
    /// stays under `/.well-known/oauth-protected-resource/`.
    #[test]
    fn r3_a_dot_segment_path_stays_under_the_well_known_prefix() {
        let s = server("https://mcp.example.com/a/../../mcp");
        assert_eq!(
            strs(resource_metadata_urls(&s, None).unwrap())[0],
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
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
        let s = server("https://h.example/api/mcp");
        let body = r#"{"resource":"https://h.example/api2","authorization_servers":["https://as.example"]}"#;
        assert_eq!(
            parse_resource_metadata(&resp(200, body), &s).unwrap_err().code(),
            ErrorCode::ResourceMismatch
        );
        let body = r#"{"resource":"https://h.example/api","authorization_servers":["https://as.example"],"scopes_supported":["a","b"],"x-extra":1}"#;
        let m = parse_resource_metadata(&resp(200, body), &s).unwrap();
        assert_eq!(
            m.fields.authorization_servers,
            Some(vec!["https://as.example".to_string()])
        );
        assert_eq!(m.fields.scopes_supported, Some(vec!["a".into(), "b".into()]));
        assert_eq!(m.raw["x-extra"], 1, "the document keeps its unknown members");
        assert_eq!(
            parse_resource_metadata(&resp(200, "[]"), &s).unwrap_err().code(),
            ErrorCode::InvalidResponse
        );
        assert_eq!(
            parse_resource_metadata(&resp(200, "{}"), &s).unwrap_err().code(),
            ErrorCode::InvalidResponse
        );
        // the server URL with dot segments is judged as resolved
        let body = r#"{"resource":"https://h.example/api"}"#;
        let e = parse_resource_metadata(&resp(200, body), &server("https://h.example/api/../mcp")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::ResourceMismatch);
    }

    #[test]
    fn r6_authorization_server_metadata_urls() {
        assert_eq!(
            strs(authorization_server_metadata_urls(&url("https://as.example"))),
            vec![
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            strs(authorization_server_metadata_urls(&url("https://as.example/tenant/1/"))),
            vec![
                "https://as.example/.well-known/oauth-authorization-server/tenant/1",
                "https://as.example/.well-known/openid-configuration/tenant/1",
                "https://as.example/tenant/1/.well-known/openid-configuration",
            ]
        );
        let d = default_metadata("https://legacy.example", &url("https://legacy.example"));
        assert_eq!(
            d.fields.issuer, "https://legacy.example",
            "the issuer as found, no slash added"
        );
        assert_eq!(
            d.fields.authorization_endpoint.as_str(),
            "https://legacy.example/authorize"
        );
        assert_eq!(d.fields.token_endpoint.as_str(), "https://legacy.example/token");
        assert_eq!(
            d.fields.registration_endpoint.as_ref().map(Url::as_str),
            Some("https://legacy.example/register")
        );
        assert_eq!(d.raw["token_endpoint"], "https://legacy.example/token");
        assert_eq!(
            d.fields.code_challenge_methods_supported,
            Some(vec!["S256".to_string()]),
            "R14: no list to check, S256"
        );
    }

    const AS: &str = r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/auth",
        "token_endpoint":"https://as.example/token","registration_endpoint":"https://as.example/reg",
        "code_challenge_methods_supported":["S256"],"authorization_response_iss_parameter_supported":true,
        "x-vendor":{"a":[1,2]}}"#;

    #[test]
    fn r7_issuer_must_match_exactly() {
        let m = parse_authorization_server_metadata(&resp(200, AS), "https://as.example").unwrap();
        assert_eq!(m.fields.token_endpoint.as_str(), "https://as.example/token");
        assert!(m.fields.authorization_response_iss_parameter_supported);
        assert_eq!(
            m.fields.code_challenge_methods_supported,
            Some(vec!["S256".to_string()])
        );
        assert_eq!(m.raw["x-vendor"]["a"][1], 2);
        // no normalisation: a trailing slash or another case is another issuer
        for other in ["https://as.example/", "https://AS.example", "https://evil.example"] {
            let e = parse_authorization_server_metadata(&resp(200, AS), other).unwrap_err();
            assert_eq!(e.code(), ErrorCode::IssuerMismatch, "{other}");
        }
    }

    /// Optional members given as `null` read as absent; a repeated member counts once, the last
    /// (as `JSON.parse` reads it).
    #[test]
    fn r6_null_members_and_repeated_members_read_as_json_parse_reads_them() {
        let body = r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/a",
            "token_endpoint":"https://as.example/old","token_endpoint":"https://as.example/t","scopes_supported":null,
            "authorization_response_iss_parameter_supported":null,"client_id_metadata_document_supported":null}"#;
        let m = parse_authorization_server_metadata(&resp(200, body), "https://as.example").unwrap();
        assert_eq!(m.fields.token_endpoint.as_str(), "https://as.example/t");
        assert_eq!(
            (
                m.fields.scopes_supported,
                m.fields.authorization_response_iss_parameter_supported
            ),
            (None, false)
        );
        let body = r#"{"resource":"https://h.example/api","authorization_servers":null}"#;
        let r = parse_resource_metadata(&resp(200, body), &server("https://h.example/api")).unwrap();
        assert_eq!(r.fields.authorization_servers, None);
    }

    /// R9, F4 (R25, issue 18): a cached document keeps the members this client reads — they
    /// decide the same after the round trip — and nothing else: a server's unknown members and
    /// padding never reach storage.
    #[test]
    fn r9_r25_cached_metadata_round_trips_with_the_members_read_only() {
        let m = parse_authorization_server_metadata(&resp(200, AS), "https://as.example").unwrap();
        assert!(m.raw.get("x-vendor").is_some(), "the served document, whole, in memory");
        let text = serde_json::to_string(&m).unwrap();
        assert!(!text.contains("x-vendor"), "{text}");
        let back: Document<AuthServerMetadata> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.fields, m.fields);
        let padding = "p".repeat(200_000);
        let body = format!(
            r#"{{"resource":"https://h.example/api","authorization_servers":["https://as.example"],"padding":"{padding}","scopes_supported":["a"]}}"#
        );
        let r = parse_resource_metadata(
            &resp(200, Box::leak(body.into_boxed_str())),
            &server("https://h.example/api"),
        )
        .unwrap();
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.len() < 200, "{} bytes stored", text.len());
        let back: Document<ResourceMetadata> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.fields, r.fields);
    }

    #[test]
    fn r8_insecure_endpoints_are_refused() {
        for (field, bad) in [
            ("token_endpoint", "http://as.example/token"),
            ("authorization_endpoint", "javascript:alert(1)"),
            ("registration_endpoint", "/reg"),
            ("revocation_endpoint", "data:text/plain,x"),
        ] {
            let mut v: Value = serde_json::from_str(AS).unwrap();
            v[field] = Value::String(bad.into());
            let e = parse_authorization_server_metadata(&resp(200, &v.to_string()), "https://as.example").unwrap_err();
            assert_eq!(e.code(), ErrorCode::InsecureUrl, "{field}");
        }
        let body = r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/a"}"#;
        let e = parse_authorization_server_metadata(&resp(200, body), "https://as.example").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidResponse);
    }
}
