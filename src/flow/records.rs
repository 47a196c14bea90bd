//! What is stored per server and per issuer, and the shapes handed to JS (`Status`,
//! `ServerInfo` of the JS contract). Versioned: a record of another version is dropped (R25).

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::discovery::{AuthServerMetadata, ResourceMetadata};
use crate::core::error::McpError;
use crate::core::json::{Json, Record, obj, obj_sparse};
use crate::core::registration::{Client, ClientSource};
use crate::core::token::TokenSet;

pub const RECORD_VERSION: u64 = 1;

/// One record per server (R25): discovery results (R9) and tokens.
#[derive(Debug, Clone)]
pub struct ServerRecord {
    pub server_url: String,
    pub resource: String,
    pub requires_auth: bool,
    pub resource_metadata_url: Option<String>,
    /// Boxed, like `as_metadata`: the record is moved through the async flows, and a small
    /// record keeps those moves (and the wasm) small.
    pub resource_metadata: Option<Box<ResourceMetadata>>,
    pub challenge_scope: Option<String>,
    pub issuer: Option<String>,
    pub as_metadata: Option<Box<AuthServerMetadata>>,
    pub tokens: Option<TokenSet>,
}

fn nested<T: Record>(v: &Json, key: &str) -> Option<Option<T>> {
    match v.get(key) {
        None | Some(Json::Null) => Some(None),
        Some(inner) => T::from_json(inner).map(Some),
    }
}

/// `Some` only for the current schema version.
fn versioned(v: &Json) -> Option<()> {
    (v.u64("v")? == RECORD_VERSION).then_some(())
}

impl Record for ServerRecord {
    fn to_json(&self) -> Json {
        obj([
            ("v", RECORD_VERSION.into()),
            ("server_url", (&self.server_url).into()),
            ("resource", (&self.resource).into()),
            ("requires_auth", self.requires_auth.into()),
            ("resource_metadata_url", self.resource_metadata_url.as_ref().into()),
            ("resource_metadata", self.resource_metadata.as_ref().map_or(Json::Null, |m| m.to_json())),
            ("challenge_scope", self.challenge_scope.as_ref().into()),
            ("issuer", self.issuer.as_ref().into()),
            ("as_metadata", self.as_metadata.as_ref().map_or(Json::Null, |m| m.to_json())),
            ("tokens", self.tokens.as_ref().map_or(Json::Null, Record::to_json)),
        ])
    }
    fn from_json(v: &Json) -> Option<Self> {
        versioned(v)?;
        Some(ServerRecord {
            server_url: v.str("server_url")?,
            resource: v.str("resource")?,
            requires_auth: v.flag("requires_auth"),
            resource_metadata_url: v.str("resource_metadata_url"),
            resource_metadata: nested(v, "resource_metadata")?.map(Box::new),
            challenge_scope: v.str("challenge_scope"),
            issuer: v.str("issuer"),
            as_metadata: nested(v, "as_metadata")?.map(Box::new),
            tokens: nested(v, "tokens")?,
        })
    }
}

/// A client registration, kept per issuer (R9).
#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub issuer: String,
    pub client: Client,
}

impl Record for ClientRecord {
    fn to_json(&self) -> Json {
        obj([("v", RECORD_VERSION.into()), ("issuer", (&self.issuer).into()), ("client", self.client.to_json())])
    }
    fn from_json(v: &Json) -> Option<Self> {
        versioned(v)?;
        Some(ClientRecord { issuer: v.str("issuer")?, client: Client::from_json(v.get("client")?)? })
    }
}

/// The JS contract's `Status`.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub server_url: String,
    pub state: &'static str,
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
            state: "unknown",
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
                s.refreshable = t.refresh_token.is_some();
                s.scope = t.scope.clone();
                let expired = t.expires_within(now_ms, 0);
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

    /// The contract's shape: camelCase, nulls kept.
    pub fn to_json(&self) -> Json {
        obj([
            ("serverUrl", (&self.server_url).into()),
            ("state", self.state.into()),
            ("expiresAt", self.expires_at.into()),
            ("refreshable", self.refreshable.into()),
            ("scope", self.scope.as_ref().into()),
            ("issuer", self.issuer.as_ref().into()),
            ("clientId", self.client_id.as_ref().into()),
        ])
    }
}

/// The JS contract's `ServerInfo`: optional members left out when absent.
pub fn server_info(rec: &ServerRecord, registration: ClientSource) -> Json {
    obj_sparse([
        ("serverUrl", (&rec.server_url).into()),
        ("resource", (&rec.resource).into()),
        ("requiresAuth", rec.requires_auth.into()),
        ("resourceMetadataUrl", rec.resource_metadata_url.as_ref().into()),
        ("resourceMetadata", rec.resource_metadata.as_ref().map_or(Json::Null, |m| m.0.clone())),
        ("issuer", rec.issuer.as_ref().into()),
        ("authorizationServerMetadata", rec.as_metadata.as_ref().map_or(Json::Null, |m| m.0.clone())),
        ("scopesSupported", rec.resource_metadata.as_ref().and_then(|m| m.scopes_supported()).as_ref().into()),
        ("challengeScope", rec.challenge_scope.as_ref().into()),
        ("registration", registration.as_str().into()),
    ])
}

/// The `type` member of a [`FlowResult`] message, so an app's own `message` listeners can tell
/// ours apart.
pub const RESULT_TYPE: &str = "mcp-oauth-wasm:callback";

/// The outcome of a popup's callback, for the opener (R22): the same JSON text goes by
/// storage, `BroadcastChannel` and `postMessage`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowResult {
    /// The flow's `state`: the opener takes only its own flow's result.
    pub state: String,
    /// `None` when the callback completed.
    pub error: Option<McpError>,
}

impl Record for FlowResult {
    fn to_json(&self) -> Json {
        obj([
            ("type", RESULT_TYPE.into()),
            ("state", (&self.state).into()),
            ("error", self.error.as_ref().map_or(Json::Null, Record::to_json)),
        ])
    }
    fn from_json(v: &Json) -> Option<Self> {
        Some(FlowResult { state: v.str("state")?, error: nested(v, "error")? })
    }
}
