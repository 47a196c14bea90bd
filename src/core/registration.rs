//! Client identity (R11–R13): the choice between a pre-registered client, a client ID metadata
//! document and dynamic client registration (RFC 7591 §3), and the registration itself.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use url::Url;

use super::discovery::AuthServerMetadata;
use super::error::{ErrorCode, HttpError, McpError, said, server_said};
use super::http::{HttpRequest, HttpResponse};
use super::secret::ClientSecret;

/// R11, R12: why the client could not get a client id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistrationError {
    /// R11: no pre-registered client, no usable metadata document and no registration endpoint
    /// (`client_registration_required`).
    #[error("no client id for this authorization server: it offers no registration; enter a client id")]
    Required,
    /// RFC 7591 §3.2.2: the registration endpoint answered with a 4xx (`registration_failed`).
    #[error("the registration endpoint refused the registration (HTTP {status}){tail}", tail = said(said_text.as_deref()))]
    Refused {
        /// The HTTP status of the refusal.
        status: u16,
        /// RFC 7591 §3.2.2: the `error` code, when the body is an OAuth error.
        error: Option<String>,
        /// RFC 7591 §3.2.2: the `error_description`, when there is one.
        description: Option<String>,
        /// What the message quotes from the body (R38, [`server_said`]).
        said_text: Option<String>,
    },
    /// R12: the response lists `redirect_uris` without ours.
    #[error("the registration does not include our redirect URI")]
    RedirectUriMissing,
    /// The request failed, or a status or body other than a registration or its refusal came back.
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl From<RegistrationError> for McpError {
    fn from(e: RegistrationError) -> Self {
        let msg = e.to_string();
        match e {
            RegistrationError::Required => McpError::new(ErrorCode::ClientRegistrationRequired, msg),
            RegistrationError::Refused {
                status,
                error,
                description,
                ..
            } => McpError::new(ErrorCode::RegistrationFailed, msg)
                .with_status(Some(status))
                .with_oauth(error, description),
            RegistrationError::RedirectUriMissing => McpError::new(ErrorCode::RegistrationFailed, msg),
            RegistrationError::Http(h) => h.into(),
        }
    }
}

/// How the client id was obtained (the `registration` field of `ServerInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientSource {
    /// The app configured a client for this issuer (`clients[issuer].clientId`).
    Preregistered,
    /// The app's client ID metadata document URL, which the server accepts.
    MetadataDocument,
    /// RFC 7591 dynamic registration at the server's `registration_endpoint`.
    Dynamic,
    /// None of those: the client id comes from the app (`authorize`'s `clientId`, the Client ID
    /// form).
    Manual,
}

/// A client of one authorization server, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// The client id, valid at this issuer only (R9).
    pub client_id: String,
    /// Never written with the rest (R33: a client secret is kept in the vault); read from a
    /// record written before it moved there.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<ClientSecret>,
    /// The `token_endpoint_auth_method` the registration returned.
    #[serde(default)]
    pub auth_method: Option<String>,
    /// The redirect URI the client was registered with.
    pub redirect_uri: String,
    /// How the client id was obtained (R11).
    pub source: ClientSource,
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
        && meta.client_id_metadata_document_supported
        && Url::parse(u).is_ok_and(|u| u.scheme() == "https" && u.path() != "/")
    {
        return Ok(ClientSource::MetadataDocument);
    }
    if meta.registration_endpoint.is_some() {
        return Ok(ClientSource::Dynamic);
    }
    Err(RegistrationError::Required)
}

/// RFC 7591 §2: the metadata of a public web client (R12).
#[derive(Serialize)]
struct RegistrationRequest<'a> {
    client_name: &'a str,
    redirect_uris: [&'a str; 1],
    grant_types: [&'a str; 2],
    response_types: [&'a str; 1],
    token_endpoint_auth_method: &'a str,
    application_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

/// R12: the RFC 7591 §3.1 registration request.
pub fn prepare_registration(endpoint: &Url, client_name: &str, redirect_uri: &str, scope: Option<&str>) -> HttpRequest {
    let body = RegistrationRequest {
        client_name,
        redirect_uris: [redirect_uri],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
        application_type: "web",
        scope,
    };
    HttpRequest::json(endpoint.clone(), serde_json::to_string(&body).unwrap_or_default())
}

/// RFC 7591 §3.2.1: the members of the registration response this client reads.
#[derive(Deserialize)]
struct RegistrationResponse {
    client_id: String,
    #[serde(default)]
    client_secret: Option<ClientSecret>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
}

/// RFC 6749 §5.2 / RFC 7591 §3.2.2: an error response's members.
#[derive(Deserialize)]
pub struct OAuthErrorBody {
    /// RFC 6749 §5.2: the error code.
    pub error: String,
    /// RFC 6749 §5.2: the human-readable description, if any.
    #[serde(default)]
    pub error_description: Option<String>,
}

/// R12: RFC 7591 §3.2.1 response; `client_id` required, our redirect URI among any listed.
pub fn parse_registration(resp: &HttpResponse, redirect_uri: &str) -> Result<Client, RegistrationError> {
    if !resp.is_success() {
        if (400..500).contains(&resp.status) {
            let body = resp.json::<OAuthErrorBody>();
            return Err(RegistrationError::Refused {
                status: resp.status,
                error: body.as_ref().map(|b| b.error.clone()),
                description: body.and_then(|b| b.error_description),
                said_text: server_said(&resp.body),
            });
        }
        return Err(HttpError::unexpected(resp).into());
    }
    let r: RegistrationResponse = resp.json().ok_or(HttpError::InvalidResponse(
        "registration response is not a JSON object with a client_id",
    ))?;
    if r.client_id.is_empty() {
        return Err(HttpError::InvalidResponse("registration response has an empty client_id").into());
    }
    if r.redirect_uris
        .is_some_and(|uris| !uris.iter().any(|u| u == redirect_uri))
    {
        return Err(RegistrationError::RedirectUriMissing);
    }
    Ok(Client {
        client_id: r.client_id,
        client_secret: r.client_secret,
        auth_method: r.token_endpoint_auth_method,
        redirect_uri: redirect_uri.to_string(),
        source: ClientSource::Dynamic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::discovery::default_metadata;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn r11_client_source_order() {
        let mut m = default_metadata("https://as.example", &url("https://as.example")).fields;
        let doc = Some("https://app.example/client.json");
        assert_eq!(
            choose_client_source(true, doc, &m).unwrap(),
            ClientSource::Preregistered
        );
        assert_eq!(choose_client_source(false, doc, &m).unwrap(), ClientSource::Dynamic);
        m.client_id_metadata_document_supported = true;
        assert_eq!(
            choose_client_source(false, doc, &m).unwrap(),
            ClientSource::MetadataDocument
        );
        // the document URL must be https with a path
        assert_eq!(
            choose_client_source(false, Some("https://app.example"), &m).unwrap(),
            ClientSource::Dynamic
        );
        assert_eq!(
            choose_client_source(false, Some("http://app.example/c.json"), &m).unwrap(),
            ClientSource::Dynamic
        );
        m.registration_endpoint = None;
        assert_eq!(
            choose_client_source(false, None, &m).unwrap_err(),
            RegistrationError::Required
        );
        let e: McpError = RegistrationError::Required.into();
        assert_eq!(e.code.as_str(), "client_registration_required");
    }

    #[test]
    fn r12_registration_body() {
        let req = prepare_registration(
            &url("https://as.example/reg"),
            "My App",
            "https://app.example/cb",
            Some("mcp:tools"),
        );
        let v: serde_json::Value = serde_json::from_str(req.body.as_deref().unwrap()).unwrap();
        assert_eq!(v["client_name"], "My App");
        assert_eq!(v["redirect_uris"], serde_json::json!(["https://app.example/cb"]));
        assert_eq!(
            v["grant_types"],
            serde_json::json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(v["response_types"], serde_json::json!(["code"]));
        assert_eq!(v["token_endpoint_auth_method"], "none");
        assert_eq!(v["application_type"], "web");
        assert_eq!(v["scope"], "mcp:tools");
        let req = prepare_registration(&url("https://as.example/reg"), "A", "https://app.example/cb", None);
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
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains(r#""source":"manual""#), "{text}");
        assert!(
            !text.contains(r#""client_secret":"#),
            "R33: the secret is kept elsewhere: {text}"
        );
        assert_eq!(
            serde_json::from_str::<Client>(&text).unwrap(),
            Client {
                client_secret: None,
                ..c.clone()
            }
        );
        // a record written before the secret moved out still gives it
        let legacy = text.replacen('{', r#"{"client_secret":"s","#, 1);
        assert_eq!(serde_json::from_str::<Client>(&legacy).unwrap(), c);
    }

    #[test]
    fn r12_registration_response_checks() {
        let cb = "https://app.example/cb";
        let ok = HttpResponse::new(201, vec![], format!(r#"{{"client_id":"c1","redirect_uris":["{cb}"]}}"#));
        let c = parse_registration(&ok, cb).unwrap();
        assert_eq!((c.client_id.as_str(), c.source), ("c1", ClientSource::Dynamic));
        let other = HttpResponse::new(201, vec![], r#"{"client_id":"c1","redirect_uris":["https://x/cb"]}"#);
        assert_eq!(
            parse_registration(&other, cb).unwrap_err(),
            RegistrationError::RedirectUriMissing
        );
        for bad in [
            r#"{"client_name":"x"}"#,
            r#"{"client_id":""}"#,
            r#"{"client_id":7}"#,
            "[]",
        ] {
            let none = HttpResponse::new(201, vec![], bad);
            assert_eq!(
                McpError::from(parse_registration(&none, cb).unwrap_err()).code.as_str(),
                "invalid_response",
                "{bad}"
            );
        }
        let refused = HttpResponse::new(
            400,
            vec![],
            r#"{"error":"invalid_redirect_uri","error_description":"no"}"#,
        );
        let e = McpError::from(parse_registration(&refused, cb).unwrap_err());
        assert_eq!(e.code.as_str(), "registration_failed");
        assert_eq!(e.oauth_error.as_deref(), Some("invalid_redirect_uri"));
        assert_eq!(e.description.as_deref(), Some("no"));
        assert_eq!(e.status, Some(400));
    }
}
