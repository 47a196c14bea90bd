//! What is stored per server and per issuer, and the shapes handed to JS (`Status`,
//! `ServerInfo`, events of the JS contract). Stored records carry a schema version: a record of
//! another version does not deserialize, so it is dropped like a corrupt one (R25).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::core::discovery::{AuthServerMetadata, Document, ResourceMetadata};
use crate::core::registration::{Client, ClientSource};
use crate::core::token::TokenSet;

pub const RECORD_VERSION: u32 = 1;

/// The `v` member of a stored record: only the current version deserializes.
fn current_version<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match u32::deserialize(d)? {
        RECORD_VERSION => Ok(RECORD_VERSION),
        _ => Err(D::Error::custom("a record of another schema version")),
    }
}

/// One record per server (R25): discovery results (R9) and tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerRecord {
    #[serde(deserialize_with = "current_version")]
    pub v: u32,
    /// The canonical server URI (R15), which also keys the record.
    pub server_url: String,
    pub resource: String,
    pub requires_auth: bool,
    #[serde(default)]
    pub resource_metadata_url: Option<String>,
    /// Boxed, like `as_metadata`: the record is moved through the async flows, and a small
    /// record keeps those moves small.
    #[serde(default)]
    pub resource_metadata: Option<Box<Document<ResourceMetadata>>>,
    #[serde(default)]
    pub challenge_scope: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub as_metadata: Option<Box<Document<AuthServerMetadata>>>,
    #[serde(default)]
    pub tokens: Option<TokenSet>,
}

impl ServerRecord {
    /// A record that knows only whether the server needs authorization: no metadata, no
    /// tokens; its resource the canonical server URI (R15).
    pub fn bare(server_url: &str, requires_auth: bool) -> ServerRecord {
        ServerRecord {
            v: RECORD_VERSION,
            server_url: server_url.to_string(),
            resource: server_url.to_string(),
            requires_auth,
            resource_metadata_url: None,
            resource_metadata: None,
            challenge_scope: None,
            issuer: None,
            as_metadata: None,
            tokens: None,
        }
    }
}

/// A client registration, kept per issuer (R9).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRecord {
    #[serde(deserialize_with = "current_version")]
    pub v: u32,
    pub issuer: String,
    pub client: Client,
    /// F6 (R12): the scope a dynamic registration asked for; `None` when unknown (a record of an
    /// earlier release, or a client the app gave).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A flow step (R30 `step` events), serialized as the contract's `FlowStep` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Probe,
    ResourceMetadata,
    AuthorizationServerMetadata,
    Registration,
    Authorization,
    PopupDetached,
    Token,
    Refresh,
    StepUp,
    Revocation,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Probe => "probe",
            Step::ResourceMetadata => "resource_metadata",
            Step::AuthorizationServerMetadata => "authorization_server_metadata",
            Step::Registration => "registration",
            Step::Authorization => "authorization",
            Step::PopupDetached => "popup_detached",
            Step::Token => "token",
            Step::Refresh => "refresh",
            Step::StepUp => "step_up",
            Step::Revocation => "revocation",
        }
    }
}

/// The contract's `Status.state` (R30), serialized as its JS string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthState {
    Unknown,
    AuthorizationRequired,
    Authorized,
    /// The access token is out of date and a refresh is possible.
    Expired,
}

impl AuthState {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthState::Unknown => "unknown",
            AuthState::AuthorizationRequired => "authorization_required",
            AuthState::Authorized => "authorized",
            AuthState::Expired => "expired",
        }
    }
}

/// Compared with the contract's string, as tests and logs read it.
impl PartialEq<&str> for AuthState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The JS contract's `Status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub server_url: String,
    pub state: AuthState,
    pub expires_at: Option<u64>,
    pub refreshable: bool,
    pub scope: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
}

impl Status {
    pub fn unknown(server_url: &str) -> Status {
        Status {
            server_url: server_url.to_string(),
            state: AuthState::Unknown,
            expires_at: None,
            refreshable: false,
            scope: None,
            issuer: None,
            client_id: None,
        }
    }

    /// R30: from what is stored, at `now_ms`.
    pub fn from_record(rec: &ServerRecord, client_id: Option<String>, now_ms: u64) -> Status {
        let mut s = Status::unknown(&rec.server_url);
        s.issuer = rec.issuer.clone();
        s.client_id = client_id;
        match &rec.tokens {
            Some(t) => {
                s.expires_at = t.expires_at;
                s.refreshable = t.can_refresh();
                s.scope = t.scope.clone();
                s.state = match (t.expires_within(now_ms, 0), s.refreshable) {
                    (false, _) => AuthState::Authorized,
                    (true, true) => AuthState::Expired,
                    (true, false) => AuthState::AuthorizationRequired,
                };
            }
            None if rec.requires_auth => s.state = AuthState::AuthorizationRequired,
            None => {}
        }
        s
    }
}

/// The JS contract's `ServerInfo`: optional members left out when absent. The two metadata
/// documents are not serialized with the rest: the shell hands them to JS as `JSON.parse`
/// gives them (any number, however large, as a JS number).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo<'a> {
    pub server_url: &'a str,
    pub resource: &'a str,
    pub requires_auth: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_metadata_url: Option<&'a str>,
    #[serde(skip)]
    pub resource_metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<&'a str>,
    #[serde(skip)]
    pub authorization_server_metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_scope: Option<&'a str>,
    pub registration: ClientSource,
}

impl<'a> ServerInfo<'a> {
    pub fn new(rec: &'a ServerRecord, registration: ClientSource) -> ServerInfo<'a> {
        let prm = rec.resource_metadata.as_deref();
        ServerInfo {
            server_url: &rec.server_url,
            resource: &rec.resource,
            requires_auth: rec.requires_auth,
            resource_metadata_url: rec.resource_metadata_url.as_deref(),
            resource_metadata: prm.map(|m| &m.raw),
            issuer: rec.issuer.as_deref(),
            authorization_server_metadata: rec.as_metadata.as_deref().map(|m| &m.raw),
            scopes_supported: prm.and_then(|m| m.fields.scopes_supported.as_deref()),
            challenge_scope: rec.challenge_scope.as_deref(),
            registration,
        }
    }
}

/// The `code` of a `warning` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Warning {
    /// R25: a stored record did not parse (or had another schema version) and was removed.
    CorruptRecord,
    /// R25: the storage asked for is unavailable; the page's memory is used instead.
    StorageUnavailable,
    /// R29: the tokens were dropped here without being revoked at the server (it has no
    /// revocation endpoint, no client is known for it, or the app forced the removal).
    NotRevoked,
}

/// A `subscribe` event (R30). Step details and warnings never hold a secret.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase", rename_all_fields = "camelCase")]
pub enum Event<'a> {
    Status {
        status: &'a Status,
    },
    Step {
        server_url: &'a str,
        step: Step,
        detail: &'a str,
    },
    Warning {
        #[serde(skip_serializing_if = "Option::is_none")]
        server_url: Option<&'a str>,
        code: Warning,
        message: &'a str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r30_events_have_the_contracts_shape() {
        let s = Status::unknown("https://m.example/mcp");
        let v = serde_json::to_value(Event::Status { status: &s }).unwrap();
        assert_eq!(v["type"], "status");
        assert_eq!(v["status"]["serverUrl"], "https://m.example/mcp");
        assert_eq!(v["status"]["expiresAt"], Value::Null);
        let v = serde_json::to_value(Event::Step {
            server_url: "u",
            step: Step::Probe,
            detail: "d",
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "step", "serverUrl": "u", "step": "probe", "detail": "d"})
        );
        let v = serde_json::to_value(Event::Warning {
            server_url: None,
            code: Warning::CorruptRecord,
            message: "m",
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "warning", "code": "corrupt_record", "message": "m"})
        );
    }

    /// Records as the previous releases wrote them (nulls kept, documents as served) load.
    #[test]
    fn r25_records_written_by_earlier_releases_still_load() {
        let server = r#"{"v":1,"server_url":"https://m.example/mcp","resource":"https://m.example/mcp","requires_auth":true,
            "resource_metadata_url":"https://m.example/prm","resource_metadata":{"resource":"https://m.example/mcp","authorization_servers":["https://as.example"],"x":1},
            "challenge_scope":null,"issuer":"https://as.example","as_metadata":{"issuer":"https://as.example","authorization_endpoint":"https://as.example/a",
            "token_endpoint":"https://as.example/t"},"tokens":{"access_token":"at","token_type":"Bearer","expires_at":1712345678901,"refresh_token":"rt","scope":null}}"#;
        let rec: ServerRecord = serde_json::from_str(server).unwrap();
        assert_eq!(
            rec.tokens
                .as_ref()
                .and_then(|t| t.refresh_token.as_ref())
                .map(|r| r.secret()),
            Some("rt")
        );
        assert_eq!(
            rec.as_metadata.as_ref().map(|m| m.fields.token_endpoint.as_str()),
            Some("https://as.example/t")
        );
        assert_eq!(
            rec.resource_metadata.as_ref().map(|m| &m.raw["x"]),
            Some(&Value::from(1))
        );
        let client = r#"{"v":1,"issuer":"https://as.example","client":{"client_id":"c","client_secret":null,"auth_method":null,
            "redirect_uri":"https://app.example/cb","source":"dynamic"}}"#;
        assert_eq!(
            serde_json::from_str::<ClientRecord>(client).unwrap().client.client_id,
            "c"
        );
    }

    #[test]
    fn r25_a_record_of_another_version_does_not_load() {
        let ok = r#"{"v":1,"server_url":"u","resource":"u","requires_auth":false}"#;
        assert!(serde_json::from_str::<ServerRecord>(ok).is_ok());
        assert!(serde_json::from_str::<ServerRecord>(&ok.replace(r#""v":1"#, r#""v":2"#)).is_err());
        assert!(serde_json::from_str::<ServerRecord>(&ok.replace(r#""v":1,"#, "")).is_err());
    }
}
