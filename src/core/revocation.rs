//! Token revocation (RFC 7009 §2) — R29.

use url::Url;

use super::error::{ErrorCode, McpError, said, server_said};
use super::http::{HttpRequest, HttpResponse};
use super::registration::{Client, OAuthErrorBody};

/// RFC 7009 §2.1: `token` and `token_type_hint`, with the client's authentication (R13).
pub fn prepare_revocation(
    endpoint: &Url,
    client: &Client,
    supported_auth: Option<&[String]>,
    token: &str,
    hint: &str,
) -> HttpRequest {
    super::token::with_client_auth(
        endpoint,
        vec![("token", token), ("token_type_hint", hint)],
        client,
        supported_auth,
    )
}

/// What one RFC 7009 request achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Any 2xx: the token is revoked, or was not valid (RFC 7009 §2.2).
    Revoked,
    /// `unsupported_token_type`: the server cannot revoke that kind of token.
    Unsupported,
}

/// RFC 7009 §2.2: any 2xx is success, whatever the body; §2.2.1 errors carry an OAuth error
/// code; `unsupported_token_type` is [`Revocation::Unsupported`].
pub fn parse_revocation(resp: &HttpResponse) -> Result<Revocation, McpError> {
    if resp.is_success() {
        return Ok(Revocation::Revoked);
    }
    let body = resp.json::<OAuthErrorBody>();
    if body.as_ref().is_some_and(|b| b.error == "unsupported_token_type") {
        return Ok(Revocation::Unsupported);
    }
    let (error, description) = body.map_or((None, None), |b| (Some(b.error), b.error_description));
    // R38: the message quotes what the server said
    let message = format!(
        "the revocation endpoint refused (HTTP {}){}",
        resp.status,
        said(server_said(&resp.body).as_deref())
    );
    Err(McpError::new(ErrorCode::RevocationFailed, message)
        .with_status(Some(resp.status))
        .with_oauth(error, description))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::registration::ClientSource;

    #[test]
    fn r29_revocation_request_and_outcomes() {
        let c = Client {
            client_id: "c".into(),
            client_secret: None,
            auth_method: None,
            redirect_uri: "x".into(),
            source: ClientSource::Dynamic,
        };
        let req = prepare_revocation(
            &Url::parse("https://as/revoke").unwrap(),
            &c,
            None,
            "rt",
            "refresh_token",
        );
        let b: Vec<(String, String)> = url::form_urlencoded::parse(req.body.as_deref().unwrap().as_bytes())
            .into_owned()
            .collect();
        assert!(b.contains(&("token".into(), "rt".into())));
        assert!(b.contains(&("token_type_hint".into(), "refresh_token".into())));
        assert!(b.contains(&("client_id".into(), "c".into())));
        assert_eq!(
            parse_revocation(&HttpResponse::new(200, vec![], "")),
            Ok(Revocation::Revoked)
        );
        assert_eq!(
            parse_revocation(&HttpResponse::new(204, vec![], "")),
            Ok(Revocation::Revoked)
        );
        let unsupported = HttpResponse::new(400, vec![], r#"{"error":"unsupported_token_type"}"#);
        assert_eq!(parse_revocation(&unsupported), Ok(Revocation::Unsupported));
        let e = parse_revocation(&HttpResponse::new(503, vec![], "")).unwrap_err();
        assert_eq!((e.code.as_str(), e.status), ("revocation_failed", Some(503)));
        let e = parse_revocation(&HttpResponse::new(
            400,
            vec![],
            r#"{"error":"invalid_client","error_description":"who"}"#,
        ))
        .unwrap_err();
        assert_eq!(
            (e.oauth_error.as_deref(), e.description.as_deref()),
            (Some("invalid_client"), Some("who"))
        );
        // R38 (issue 17): the Python SDK's answer to a public client, quoted
        let body = r#"{"error":"invalid_request","error_description":"client_secret: Field required"}"#;
        let e = parse_revocation(&HttpResponse::new(400, vec![], body)).unwrap_err();
        assert_eq!(e.code.as_str(), "revocation_failed");
        assert_eq!(
            e.message,
            r#"the revocation endpoint refused (HTTP 400); the server said "invalid_request: client_secret: Field required""#
        );
    }
}
