//! Client identity (R11–R13): the choice between a pre-registered client, a client ID metadata
//! document and dynamic client registration (RFC 7591 §3), and the registration itself.

#[allow(unused_imports)]
use crate::prelude::*;

use thiserror::Error;

use super::discovery::AuthServerMetadata;
use super::error::{ErrorCode, HttpError, McpError};
use super::http::{HttpRequest, HttpResponse};
use super::json::{Json, Record, obj};
use super::secret::ClientSecret;
use super::url::Url;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", self.message())]
pub enum RegistrationError {
    Required,
    Refused { status: u16, error: Option<String>, description: Option<String> },
    RedirectUriMissing,
    Http(#[from] HttpError),
}

impl RegistrationError {
    pub fn message(&self) -> String {
        match self {
            RegistrationError::Required => "no client id for this authorization server: it offers no registration; enter a client id".into(),
            RegistrationError::Refused { status, .. } => {
                cat!("the registration endpoint refused the registration (HTTP ", super::text::num(u64::from(*status)), ")")
            }
            RegistrationError::RedirectUriMissing => "the registration does not include our redirect URI".into(),
            RegistrationError::Http(e) => e.message(),
        }
    }
}

impl From<RegistrationError> for McpError {
    fn from(e: RegistrationError) -> Self {
        let msg = e.message();
        match e {
            RegistrationError::Required => McpError::new(ErrorCode::ClientRegistrationRequired, msg),
            RegistrationError::Refused { status, error, description } => {
                McpError::new(ErrorCode::RegistrationFailed, msg).with_status(Some(status)).with_oauth(error, description)
            }
            RegistrationError::RedirectUriMissing => McpError::new(ErrorCode::RegistrationFailed, msg),
            RegistrationError::Http(h) => h.into(),
        }
    }
}

/// How the client id was obtained (the `registration` field of `ServerInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSource {
    Preregistered,
    MetadataDocument,
    Dynamic,
    Manual,
}

impl ClientSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientSource::Preregistered => "preregistered",
            ClientSource::MetadataDocument => "metadata_document",
            ClientSource::Dynamic => "dynamic",
            ClientSource::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<ClientSource> {
        [ClientSource::Preregistered, ClientSource::MetadataDocument, ClientSource::Dynamic, ClientSource::Manual]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// A client of one authorization server, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
    /// The `token_endpoint_auth_method` the registration returned.
    pub auth_method: Option<String>,
    pub redirect_uri: String,
    pub source: ClientSource,
}

impl Record for Client {
    fn to_json(&self) -> Json {
        obj([
            ("client_id", (&self.client_id).into()),
            ("client_secret", self.client_secret.as_ref().map(|s| s.secret()).into()),
            ("auth_method", self.auth_method.as_ref().into()),
            ("redirect_uri", (&self.redirect_uri).into()),
            ("source", self.source.as_str().into()),
        ])
    }
    fn from_json(v: &Json) -> Option<Self> {
        Some(Client {
            client_id: v.str("client_id")?,
            client_secret: v.str("client_secret").map(ClientSecret::new),
            auth_method: v.str("auth_method"),
            redirect_uri: v.str("redirect_uri")?,
            source: ClientSource::parse(v.get("source")?.as_str()?)?,
        })
    }
}

/// R11: which way to get a client, given what the app configured and the server offers.
pub fn choose_client_source(
    preregistered: bool,
    metadata_url: Option<&str>,
    meta: &AuthServerMetadata,
) -> Result<ClientSource, RegistrationError> {
    if preregistered {
        return Ok(ClientSource::Preregistered);
    }
    if let Some(u) = metadata_url
        && meta.flag("client_id_metadata_document_supported")
        && Url::parse(u).is_ok_and(|u| u.scheme() == "https" && !u.path_trimmed().is_empty())
    {
        return Ok(ClientSource::MetadataDocument);
    }
    if meta.endpoint("registration_endpoint").is_some() {
        return Ok(ClientSource::Dynamic);
    }
    Err(RegistrationError::Required)
}

/// R12: the RFC 7591 §2 registration request of a public web client.
pub fn prepare_registration(endpoint: &str, client_name: &str, redirect_uri: &str, scope: Option<&str>) -> HttpRequest {
    let list = |items: &[&str]| Json::Arr(items.iter().map(|s| Json::from(*s)).collect());
    let body = super::json::obj_sparse([
        ("client_name", client_name.into()),
        ("redirect_uris", list(&[redirect_uri])),
        ("grant_types", list(&["authorization_code", "refresh_token"])),
        ("response_types", list(&["code"])),
        ("token_endpoint_auth_method", "none".into()),
        ("application_type", "web".into()),
        ("scope", scope.into()),
    ]);
    HttpRequest::json(endpoint, body.text())
}

/// R12: RFC 7591 §3.2.1 response; `client_id` required, our redirect URI among any listed.
pub fn parse_registration(resp: &HttpResponse, redirect_uri: &str) -> Result<Client, RegistrationError> {
    let obj = resp.json_object();
    if !resp.is_success() {
        if (400..500).contains(&resp.status) {
            return Err(RegistrationError::Refused {
                status: resp.status,
                error: obj.as_ref().and_then(|o| o.str("error")),
                description: obj.as_ref().and_then(|o| o.str("error_description")),
            });
        }
        return Err(HttpError::Status(resp.status).into());
    }
    let o = obj.ok_or(HttpError::InvalidResponse("registration response is not a JSON object"))?;
    let client_id = o.str("client_id")
        .filter(|s| !s.is_empty())
        .ok_or(HttpError::InvalidResponse("registration response has no client_id"))?;
    if let Some(uris) = o.strs("redirect_uris")
        && !uris.iter().any(|u| u == redirect_uri)
    {
        return Err(RegistrationError::RedirectUriMissing);
    }
    Ok(Client {
        client_id,
        client_secret: o.str("client_secret").map(ClientSecret::new),
        auth_method: o.str("token_endpoint_auth_method"),
        redirect_uri: redirect_uri.to_string(),
        source: ClientSource::Dynamic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::discovery::default_metadata;
    use crate::core::json::obj;

    #[test]
    fn r11_client_source_order() {
        let m = default_metadata(&Url::parse("https://as.example").unwrap());
        let doc = Some("https://app.example/client.json");
        assert_eq!(choose_client_source(true, doc, &m).unwrap(), ClientSource::Preregistered);
        assert_eq!(choose_client_source(false, doc, &m).unwrap(), ClientSource::Dynamic);
        let m = AuthServerMetadata(obj([("client_id_metadata_document_supported", true.into()), ("registration_endpoint", "https://as.example/register".into())]));
        assert_eq!(choose_client_source(false, doc, &m).unwrap(), ClientSource::MetadataDocument);
        // the document URL must be https with a path
        assert_eq!(choose_client_source(false, Some("https://app.example"), &m).unwrap(), ClientSource::Dynamic);
        let m = AuthServerMetadata(obj([("client_id_metadata_document_supported", true.into())]));
        assert_eq!(choose_client_source(false, None, &m).unwrap_err(), RegistrationError::Required);
        let e: McpError = RegistrationError::Required.into();
        assert_eq!(e.code.as_str(), "client_registration_required");
    }

    #[test]
    fn r12_registration_body() {
        let req = prepare_registration("https://as.example/reg", "My App", "https://app.example/cb", Some("mcp:tools"));
        let v: serde_json::Value = serde_json::from_str(req.body.as_deref().unwrap()).unwrap();
        assert_eq!(v["client_name"], "My App");
        assert_eq!(v["redirect_uris"], serde_json::json!(["https://app.example/cb"]));
        assert_eq!(v["grant_types"], serde_json::json!(["authorization_code", "refresh_token"]));
        assert_eq!(v["response_types"], serde_json::json!(["code"]));
        assert_eq!(v["token_endpoint_auth_method"], "none");
        assert_eq!(v["application_type"], "web");
        assert_eq!(v["scope"], "mcp:tools");
        let req = prepare_registration("https://as.example/reg", "A", "https://app.example/cb", None);
        assert!(!req.body.unwrap().contains("scope"));
    }

    #[test]
    fn r9_stored_client_round_trips() {
        let c = Client {
            client_id: "c".into(),
            client_secret: Some(ClientSecret::new("s")),
            auth_method: Some("client_secret_post".into()),
            redirect_uri: "https://app.example/cb".into(),
            source: ClientSource::Manual,
        };
        assert_eq!(Client::from_json(&Json::parse(&c.to_json().text()).unwrap()), Some(c));
    }

    #[test]
    fn r12_registration_response_checks() {
        let cb = "https://app.example/cb";
        let ok = HttpResponse::new(201, vec![], format!(r#"{{"client_id":"c1","redirect_uris":["{cb}"]}}"#));
        let c = parse_registration(&ok, cb).unwrap();
        assert_eq!((c.client_id.as_str(), c.source), ("c1", ClientSource::Dynamic));
        let other = HttpResponse::new(201, vec![], r#"{"client_id":"c1","redirect_uris":["https://x/cb"]}"#);
        assert_eq!(parse_registration(&other, cb).unwrap_err(), RegistrationError::RedirectUriMissing);
        let none = HttpResponse::new(201, vec![], r#"{"client_name":"x"}"#);
        assert_eq!(McpError::from(parse_registration(&none, cb).unwrap_err()).code.as_str(), "invalid_response");
        let refused = HttpResponse::new(400, vec![], r#"{"error":"invalid_redirect_uri","error_description":"no"}"#);
        let e = McpError::from(parse_registration(&refused, cb).unwrap_err());
        assert_eq!(e.code.as_str(), "registration_failed");
        assert_eq!(e.oauth_error.as_deref(), Some("invalid_redirect_uri"));
        assert_eq!(e.status, Some(400));
    }
}
