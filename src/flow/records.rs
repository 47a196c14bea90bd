//! What is stored per server and per issuer, and the shapes handed to JS (`Status`,
//! `ServerInfo`, events of the JS contract). Stored records carry a schema version: a record of
//! another version does not deserialize, so it is dropped like a corrupt one (R25).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::core::discovery::{AuthServerMetadata, Document, ResourceMetadata};
use crate::core::registration::{Client, ClientSource};
use crate::core::token::TokenSet;

/// R25: the schema version stored records carry; a record of another version is dropped as corrupt.
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
    /// R25: the schema version, always [`RECORD_VERSION`] once read.
    #[serde(deserialize_with = "current_version")]
    pub v: u32,
    /// The canonical server URI (R15), which also keys the record.
    pub server_url: String,
    /// R15: the RFC 8707 resource sent for this server: the metadata's `resource` (R4), else the
    /// canonical server URI.
    pub resource: String,
    /// R1: the probe was challenged or protected-resource metadata exists; "not needed" is never
    /// final (R28).
    pub requires_auth: bool,
    /// R3: where the protected-resource metadata was found, for `ServerInfo.resourceMetadataUrl`.
    #[serde(default)]
    pub resource_metadata_url: Option<String>,
    /// Boxed, like `as_metadata`: the record is moved through the async flows, and a small
    /// record keeps those moves small.
    #[serde(default)]
    pub resource_metadata: Option<Box<Document<ResourceMetadata>>>,
    /// R2, R16: the `scope` of the server's last Bearer challenge, asked for by the next
    /// `authorize`.
    #[serde(default)]
    pub challenge_scope: Option<String>,
    /// R5: the authorization server's issuer; `None` until discovery finds one.
    #[serde(default)]
    pub issuer: Option<String>,
    /// R6: the issuer's metadata, cached so that a refresh or a revocation costs no discovery (R9).
    #[serde(default)]
    pub as_metadata: Option<Box<Document<AuthServerMetadata>>>,
    /// R20, R25: the token set; its refresh token is kept in the vault, not here (R33).
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
    /// R25: the schema version, always [`RECORD_VERSION`] once read.
    #[serde(deserialize_with = "current_version")]
    pub v: u32,
    /// The issuer the client belongs to, which keys the record; it is never used with another (R9).
    pub issuer: String,
    /// The client itself (its secret kept in the vault, R33).
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
    /// R1: the unauthenticated probe; detail: the server URL.
    Probe,
    /// R3: a protected-resource metadata request; detail: its URL.
    ResourceMetadata,
    /// R6: an authorization-server metadata request; detail: its URL.
    AuthorizationServerMetadata,
    /// R12: a dynamic registration; detail: the registration endpoint.
    Registration,
    /// R21, R24: the authorization request; detail: the URL the popup or page opens (the code
    /// challenge, never the verifier).
    Authorization,
    /// R23: the popup's handle was severed; the flow still waits for its result.
    PopupDetached,
    /// R20: the code exchange; detail: the token endpoint.
    Token,
    /// R26: a refresh; detail: the token endpoint.
    Refresh,
    /// R28: `fetch` opens a step-up popup; detail: the scope it asks for.
    StepUp,
    /// R29: a revocation request; detail: the revocation endpoint.
    Revocation,
}

impl Step {
    /// The contract's `FlowStep` string, as serde writes it.
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
    /// Nothing says the server needs authorization: never discovered, or open when it was (R1).
    Unknown,
    /// No usable token: the app must call `authorize` (R27, R28).
    AuthorizationRequired,
    /// An access token that has not expired.
    Authorized,
    /// The access token is out of date and a refresh is possible.
    Expired,
}

impl AuthState {
    /// The contract's `Status.state` string, as serde writes it.
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
    /// R15: the canonical server URI the status is for.
    pub server_url: String,
    /// Where authorization stands for that server.
    pub state: AuthState,
    /// R30: the access token's expiry, in ms since the epoch on the browser's clock; `None` without
    /// one, or when the server gave no `expires_in`.
    pub expires_at: Option<u64>,
    /// R30: a refresh token is kept, so an expired token can be refreshed without the user.
    pub refreshable: bool,
    /// R20: the scope granted with the tokens.
    pub scope: Option<String>,
    /// R5: the authorization server's issuer, once discovered.
    pub issuer: Option<String>,
    /// The client id known for that issuer (R11), if any.
    pub client_id: Option<String>,
}

impl Status {
    /// The status of a server nothing is known of: `unknown`, no details.
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
    /// R15: the canonical server URI.
    pub server_url: &'a str,
    /// R15: the RFC 8707 resource that will be sent.
    pub resource: &'a str,
    /// R1: whether the server needs authorization, as far as discovery saw.
    pub requires_auth: bool,
    /// R3: where the protected-resource metadata was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_metadata_url: Option<&'a str>,
    /// RFC 9728: the protected-resource metadata as served; handed to JS by the shell.
    #[serde(skip)]
    pub resource_metadata: Option<&'a Value>,
    /// R5: the authorization server's issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<&'a str>,
    /// RFC 8414 / OIDC: the authorization-server metadata as served; handed to JS by the shell.
    #[serde(skip)]
    pub authorization_server_metadata: Option<&'a Value>,
    /// The resource's `scopes_supported` (R16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<&'a [String]>,
    /// The `scope` of the server's last Bearer challenge (R2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_scope: Option<&'a str>,
    /// R11: how the client id will come, or came.
    pub registration: ClientSource,
}

impl<'a> ServerInfo<'a> {
    /// The `ServerInfo` of a record, borrowing from it; `registration` as R11 decides it.
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
    /// R30: a server's status changed (in this tab or another).
    Status {
        /// The server's new status.
        status: &'a Status,
    },
    /// A flow step began, for a debugger or a progress display.
    Step {
        /// The server the flow is for.
        server_url: &'a str,
        /// Which step.
        step: Step,
        /// What the step sends to or reads from, secrets masked (R31): a URL, a scope.
        detail: &'a str,
    },
    /// Something the library handled on its own but the app should know.
    Warning {
        /// The server it concerns, when it concerns one.
        #[serde(skip_serializing_if = "Option::is_none")]
        server_url: Option<&'a str>,
        /// Which warning.
        code: Warning,
        /// What happened, in words.
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
