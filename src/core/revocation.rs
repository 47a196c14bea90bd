//! Token revocation (RFC 7009 §2) — R29.

#[allow(unused_imports)]
use crate::prelude::*;

use super::error::{ErrorCode, HttpError, McpError};
use super::http::{HttpRequest, HttpResponse};
use super::registration::Client;

/// RFC 7009 §2.1: `token` and `token_type_hint`, with the client's authentication (R13).
pub fn prepare_revocation(endpoint: &str, client: &Client, supported_auth: Option<&[String]>, token: &str, hint: &str) -> HttpRequest {
    super::token::with_client_auth(endpoint, vec![("token", token), ("token_type_hint", hint)], client, supported_auth)
}

/// RFC 7009 §2.2: 200 is success, whatever the body; §2.2.1 errors carry an OAuth error code.
/// `Ok(false)` for `unsupported_token_type` (the server cannot revoke that kind of token).
pub fn parse_revocation(resp: &HttpResponse) -> Result<bool, McpError> {
    if resp.status == 200 {
        return Ok(true);
    }
    let o = resp.json_object();
    let error = o.as_ref().and_then(|o| o.str("error"));
    if error.as_deref() == Some("unsupported_token_type") {
        return Ok(false);
    }
    let description = o.as_ref().and_then(|o| o.str("error_description"));
    Err(McpError::from(HttpError::Status(resp.status)).with_oauth(error, description).recode(ErrorCode::RevocationFailed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::http::form_decode;
    use crate::core::registration::ClientSource;

    #[test]
    fn r29_revocation_request_and_outcomes() {
        let c = Client { client_id: "c".into(), client_secret: None, auth_method: None, redirect_uri: "x".into(), source: ClientSource::Dynamic };
        let req = prepare_revocation("https://as/revoke", &c, None, "rt", "refresh_token");
        let b = form_decode(req.body.as_deref().unwrap());
        assert!(b.contains(&("token".into(), "rt".into())));
        assert!(b.contains(&("token_type_hint".into(), "refresh_token".into())));
        assert!(b.contains(&("client_id".into(), "c".into())));
        assert_eq!(parse_revocation(&HttpResponse::new(200, vec![], "")), Ok(true));
        let unsupported = HttpResponse::new(400, vec![], r#"{"error":"unsupported_token_type"}"#);
        assert_eq!(parse_revocation(&unsupported), Ok(false));
        let e = parse_revocation(&HttpResponse::new(503, vec![], "")).unwrap_err();
        assert_eq!((e.code.as_str(), e.status), ("revocation_failed", Some(503)));
    }
}
