//! What is stored per server and per issuer, and the shapes handed to JS (`Status`,
//! `ServerInfo` of the JS contract). Versioned: a record of another version is dropped (R25).

use serde::{Deserialize, Serialize};

use crate::core::discovery::{AuthServerMetadata, ResourceMetadata};
use crate::core::registration::{Client, ClientSource};
use crate::core::token::TokenSet;

pub const RECORD_VERSION: u32 = 1;

/// One record per server (R25): discovery results (R9) and tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerRecord {
    pub v: u32,
    pub server_url: String,
    pub resource: String,
    pub requires_auth: bool,
    pub resource_metadata_url: Option<String>,
    pub resource_metadata: Option<ResourceMetadata>,
    pub challenge_scope: Option<String>,
    pub issuer: Option<String>,
    pub as_metadata: Option<AuthServerMetadata>,
    pub tokens: Option<TokenSet>,
}

/// A client registration, kept per issuer (R9).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRecord {
    pub v: u32,
    pub issuer: String,
    pub client: Client,
}

/// The JS contract's `Status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub server_url: String,
    pub state: &'static str,
    pub expires_at: Option<f64>,
    pub refreshable: bool,
    pub scope: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
}

impl Status {
    pub fn unknown(server_url: &str) -> Status {
        Status {
            server_url: server_url.to_string(),
            state: "unknown",
            expires_at: None,
            refreshable: false,
            scope: None,
            issuer: None,
            client_id: None,
        }
    }

    /// R30: from what is stored, at `now_ms`.
    pub fn from_record(rec: &ServerRecord, client_id: Option<String>, now_ms: f64) -> Status {
        let mut s = Status::unknown(&rec.server_url);
        s.issuer = rec.issuer.clone();
        s.client_id = client_id;
        match &rec.tokens {
            Some(t) => {
                s.expires_at = t.expires_at;
                s.refreshable = t.refresh_token.is_some();
                s.scope = t.scope.clone();
                let expired = t.expires_within(now_ms, 0.0);
                s.state = match (expired, s.refreshable) {
                    (false, _) => "authorized",
                    (true, true) => "expired",
                    (true, false) => "authorization_required",
                };
            }
            None if rec.requires_auth => s.state = "authorization_required",
            None => {}
        }
        s
    }
}

/// The JS contract's `ServerInfo`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    pub server_url: String,
    pub resource: String,
    pub requires_auth: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_metadata_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_metadata: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_server_metadata: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_scope: Option<String>,
    pub registration: &'static str,
}

impl ServerInfo {
    pub fn new(rec: &ServerRecord, registration: ClientSource) -> ServerInfo {
        let raw = |s: &str| serde_json::from_str(s).ok();
        ServerInfo {
            server_url: rec.server_url.clone(),
            resource: rec.resource.clone(),
            requires_auth: rec.requires_auth,
            resource_metadata_url: rec.resource_metadata_url.clone(),
            resource_metadata: rec.resource_metadata.as_ref().and_then(|m| raw(&m.raw)),
            issuer: rec.issuer.clone(),
            authorization_server_metadata: rec.as_metadata.as_ref().and_then(|m| raw(&m.raw)),
            scopes_supported: rec.resource_metadata.as_ref().and_then(|m| m.scopes_supported.clone()),
            challenge_scope: rec.challenge_scope.clone(),
            registration: registration.as_str(),
        }
    }
}

/// The outcome of a popup's callback, stored and broadcast for the opener (R22).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowResult {
    pub ok: bool,
    pub code: Option<String>,
    pub message: Option<String>,
    pub oauth_error: Option<String>,
    pub description: Option<String>,
}
