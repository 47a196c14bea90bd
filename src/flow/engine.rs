//! The flows: discover → client → authorize → callback → tokens, over the `Http`, `Store` and
//! `Env` traits. Every network step goes through a core `prepare_*` / `parse_*` pair.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::authorize::{CallbackError, CallbackParams, PendingFlow, build_authorization_url, check_callback, choose_scope, parse_callback_url};
use crate::core::discovery::{
    AuthServerMetadata, ProbeOutcome, authorization_server_metadata_urls, default_metadata,
    may_fall_back, parse_authorization_server_metadata, parse_probe, parse_resource_metadata, parse_server_url,
    prepare_probe, resource_metadata_urls,
};
use crate::core::error::{ErrorCode, HttpError, McpError};
use crate::core::http::{HttpRequest, HttpResponse};
use crate::core::pkce::{CodeVerifier, random_state, s256_allowed};
use crate::core::registration::{Client, ClientSource, choose_client_source, parse_registration, prepare_registration};
use crate::core::revocation::{parse_revocation, prepare_revocation};
use crate::core::secret::{AccessToken, ClientSecret};
use crate::core::token::{TokenSet, parse_token_response, prepare_code_exchange, prepare_refresh};
use crate::core::url::Url;

use super::records::{ClientRecord, ServerRecord, Status, server_info};
use crate::core::json::{Json, Record};
use super::{Env, Http, Store};

/// A client the app registered beforehand with an issuer (R11).
#[derive(Debug, Clone)]
pub struct PreregisteredClient {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
}

/// The `McpAuth` options that the flows use.
#[derive(Debug, Clone)]
pub struct Config {
    pub redirect_uri: String,
    pub client_name: String,
    pub client_metadata_url: Option<String>,
    pub clients: Vec<PreregisteredClient>,
    pub prefix: String,
    pub refresh_skew_ms: u64,
    pub allow_missing_pkce: bool,
}

/// `authorize(url, opts)` options that reach the flow.
#[derive(Debug, Default)]
pub struct AuthorizeOptions {
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<ClientSecret>,
    pub return_to: Option<String>,
    pub popup: bool,
}

/// What `begin_authorization` decided.
#[derive(Debug)]
pub enum Begin {
    /// The server needs no authorization (R1: the probe got a 2xx).
    NotNeeded(Status),
    /// Send the user here; the flow is stored under `state`.
    Navigate { url: String, state: String },
}

pub struct Engine<H, S, E> {
    pub http: H,
    pub store: S,
    pub env: E,
    pub config: Config,
}

/// Sorts a handful of keys for a stable `list()` order: an insertion sort, because the std
/// sorts add kilobytes to the module for lists this short.
fn sort_small(v: &mut [String]) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && v[j - 1] > v[j] {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

fn not_authorized(server_url: &str) -> McpError {
    McpError::new(ErrorCode::AuthorizationRequired, "no usable token for this server: authorize first").with_server(server_url)
}

impl<H: Http, S: Store, E: Env> Engine<H, S, E> {
    // ---- storage keys and records -------------------------------------------------------

    pub fn server_key(&self, server_url: &str) -> String {
        cat!(self.config.prefix, ":server:", server_url)
    }
    fn client_key(&self, issuer: &str) -> String {
        cat!(self.config.prefix, ":client:", issuer)
    }
    pub fn flow_key(&self, state: &str) -> String {
        cat!(self.config.prefix, ":flow:", state)
    }
    pub fn result_key(&self, state: &str) -> String {
        cat!(self.config.prefix, ":result:", state)
    }

    /// R25: a record that does not parse, or has another version, is removed; nothing else is.
    pub fn load<T: Record>(&self, key: &str) -> Option<T> {
        let text = self.store.get(key)?;
        let value = Json::parse(&text).and_then(|v| T::from_json(&v));
        if value.is_none() {
            self.store.remove(key);
        }
        value
    }

    fn save<T: Record>(&self, key: &str, value: &T) -> Result<(), McpError> {
        self.store.set(key, &value.to_json().text())
    }

    pub fn load_server(&self, server_url: &str) -> Option<ServerRecord> {
        self.load(&self.server_key(server_url))
    }

    fn save_server(&self, rec: &ServerRecord) -> Result<(), McpError> {
        self.save(&self.server_key(&rec.server_url), rec)
    }

    fn stored_client(&self, issuer: &str) -> Option<Client> {
        self.load::<ClientRecord>(&self.client_key(issuer))
            .filter(|r| r.issuer == issuer && r.client.redirect_uri == self.config.redirect_uri)
            .map(|r| r.client)
    }

    /// Stores `client` for `issuer` and hands it back.
    fn save_client(&self, issuer: &str, client: Client) -> Result<Client, McpError> {
        let rec = ClientRecord { issuer: issuer.to_string(), client };
        self.save(&self.client_key(issuer), &rec)?;
        Ok(rec.client)
    }

    fn preregistered(&self, issuer: &str) -> Option<Client> {
        self.config.clients.iter().find(|c| c.issuer == issuer).map(|c| Client {
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.clone(),
            auth_method: None,
            redirect_uri: self.config.redirect_uri.clone(),
            source: ClientSource::Preregistered,
        })
    }

    /// The client to use with `issuer` without contacting anyone, if there is one.
    fn known_client(&self, issuer: &str) -> Option<Client> {
        self.preregistered(issuer).or_else(|| self.stored_client(issuer))
    }

    fn status_of(&self, rec: &ServerRecord) -> Status {
        let client_id = rec.issuer.as_deref().and_then(|i| self.known_client(i)).map(|c| c.client_id);
        Status::from_record(rec, client_id, self.env.now_ms())
    }

    fn changed(&self, rec: &ServerRecord) -> Status {
        let s = self.status_of(rec);
        self.env.status_changed(&s);
        s
    }

    fn random<const N: usize>(&self) -> Result<[u8; N], McpError> {
        let mut buf = [0u8; N];
        self.env.fill_random(&mut buf)?;
        Ok(buf)
    }

    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.http.send(req).await
    }

    // ---- discovery (R1–R10) --------------------------------------------------------------

    /// Normalizes the app's server URL (R8, R15).
    pub fn server_url(input: &str) -> Result<Url, McpError> {
        parse_server_url(input).map_err(McpError::from)
    }

    /// R9: the cached discovery when there is one, else a fresh one.
    pub async fn discover(&self, server_url: &str) -> Result<ServerRecord, McpError> {
        let url = Self::server_url(server_url)?;
        let href = url.href();
        if let Some(rec) = self.load_server(&href).filter(|r| !r.requires_auth || r.as_metadata.is_some()) {
            return Ok(rec);
        }
        self.discover_fresh(&url).await.map_err(|e| e.with_server(&href))
    }

    /// `ServerInfo` for a discovered server: which way the client id will come (R11).
    pub fn server_info(&self, rec: &ServerRecord) -> Json {
        let source = match (&rec.issuer, &rec.as_metadata) {
            (Some(issuer), Some(meta)) => match self.known_client(issuer) {
                Some(c) => c.source,
                None => choose_client_source(false, self.config.client_metadata_url.as_deref(), meta).unwrap_or(ClientSource::Manual),
            },
            _ => ClientSource::Manual,
        };
        server_info(rec, source)
    }

    async fn discover_fresh(&self, server: &Url) -> Result<ServerRecord, McpError> {
        let href = server.href();
        self.env.step(&href, "probe", &href);
        let probe = self.send(prepare_probe(server)).await?;
        let challenge = match parse_probe(&probe)? {
            ProbeOutcome::NoAuthRequired => {
                let rec = ServerRecord {
                    server_url: href.clone(),
                    resource: href,
                    requires_auth: false,
                    resource_metadata_url: None,
                    resource_metadata: None,
                    challenge_scope: None,
                    issuer: None,
                    as_metadata: None,
                    tokens: None,
                };
                self.save_server(&rec)?;
                return Ok(rec);
            }
            ProbeOutcome::AuthRequired(c) => c,
        };

        let prm_urls = resource_metadata_urls(server, challenge.as_ref())?;
        let prm = match self.first_found(&href, "resource_metadata", prm_urls).await? {
            Some((url, r)) => Some((url, parse_resource_metadata(&r, server)?)),
            None => None,
        };
        // R5: the first authorization server, or the server's origin for 2025-03-26 servers
        let issuer = prm
            .as_ref()
            .and_then(|(_, m)| m.first_authorization_server().map(str::to_string))
            .unwrap_or_else(|| server.origin());
        let issuer_url = Url::parse_secure(&issuer)
            .map_err(|_| McpError::new(ErrorCode::InsecureUrl, "the authorization server is neither https nor http on a loopback host"))?;
        // R6, R7: the first metadata document found, else the 2025-03-26 defaults
        let meta = match self.first_found(&href, "authorization_server_metadata", authorization_server_metadata_urls(&issuer_url)).await? {
            Some((_, r)) => parse_authorization_server_metadata(&r, &issuer)?,
            None => default_metadata(&issuer_url),
        };

        let previous = self.load_server(&href);
        // R9: a change of issuer discards what belonged to the old one
        let tokens = previous.filter(|p| p.issuer.as_deref() == Some(issuer.as_str())).and_then(|p| p.tokens);
        let rec = ServerRecord {
            server_url: href.clone(),
            // R15: the metadata's resource (checked by R4), else the canonical server URI
            resource: prm.as_ref().map(|(_, m)| m.resource().to_string()).unwrap_or(href),
            requires_auth: true,
            resource_metadata_url: prm.as_ref().map(|(u, _)| u.clone()),
            resource_metadata: prm.map(|(_, m)| Box::new(m)),
            challenge_scope: challenge.and_then(|c| c.scope),
            issuer: Some(issuer),
            as_metadata: Some(Box::new(meta)),
            tokens,
        };
        self.save_server(&rec)?;
        Ok(rec)
    }

    /// R3, R6: the first candidate URL that answers 200; 4xx, 502 and network failures move
    /// on to the next, other statuses stop.
    async fn first_found(&self, server: &str, step: &str, urls: Vec<String>) -> Result<Option<(String, HttpResponse)>, McpError> {
        for url in urls {
            self.env.step(server, step, &url);
            match self.send(HttpRequest::get(&url)).await {
                Err(HttpError::Network(_)) => continue,
                Err(e) => return Err(e.into()),
                Ok(r) if r.status == 200 => return Ok(Some((url, r))),
                Ok(r) if may_fall_back(r.status) => continue,
                Ok(r) => return Err(HttpError::Status(r.status).into()),
            }
        }
        Ok(None)
    }

    // ---- client identity (R11–R13) -------------------------------------------------------

    async fn ensure_client(&self, rec: &ServerRecord, meta: &AuthServerMetadata, issuer: &str, opts: &AuthorizeOptions, scope: Option<&str>) -> Result<Client, McpError> {
        if let Some(id) = &opts.client_id {
            let client = Client {
                client_id: id.clone(),
                client_secret: opts.client_secret.clone(),
                auth_method: None,
                redirect_uri: self.config.redirect_uri.clone(),
                source: ClientSource::Manual,
            };
            return self.save_client(issuer, client);
        }
        if let Some(c) = self.known_client(issuer) {
            return Ok(c);
        }
        match choose_client_source(false, self.config.client_metadata_url.as_deref(), meta)? {
            ClientSource::MetadataDocument => Ok(Client {
                client_id: self.config.client_metadata_url.clone().unwrap_or_default(),
                client_secret: None,
                auth_method: None,
                redirect_uri: self.config.redirect_uri.clone(),
                source: ClientSource::MetadataDocument,
            }),
            _ => {
                let endpoint = meta.endpoint("registration_endpoint").unwrap_or_default();
                self.env.step(&rec.server_url, "registration", endpoint);
                let req = prepare_registration(endpoint, &self.config.client_name, &self.config.redirect_uri, scope);
                let resp = self.send(req).await?;
                let client = parse_registration(&resp, &self.config.redirect_uri)?;
                self.save_client(issuer, client)
            }
        }
    }

    // ---- authorization (R14–R19) ---------------------------------------------------------

    pub async fn begin_authorization(&self, server_url: &str, opts: AuthorizeOptions) -> Result<Begin, McpError> {
        let rec = self.discover(server_url).await?;
        let server = rec.server_url.clone();
        self.begin_for(rec, opts).await.map_err(|e| e.with_server(&server))
    }

    async fn begin_for(&self, rec: ServerRecord, opts: AuthorizeOptions) -> Result<Begin, McpError> {
        let (Some(issuer), Some(meta)) = (rec.issuer.clone(), rec.as_metadata.clone()) else {
            return Ok(Begin::NotNeeded(self.status_of(&rec)));
        };
        if !s256_allowed(meta.list("code_challenge_methods_supported").as_deref(), self.config.allow_missing_pkce) {
            return Err(McpError::new(ErrorCode::PkceUnsupported, "the authorization server does not offer PKCE with S256"));
        }
        let scope = opts.scope.clone().or_else(|| {
            choose_scope(
                rec.challenge_scope.as_deref(),
                rec.resource_metadata.as_ref().and_then(|m| m.scopes_supported()).as_deref(),
                meta.list("scopes_supported").as_deref(),
                false,
            )
        });
        let client = self.ensure_client(&rec, &meta, &issuer, &opts, scope.as_deref()).await?;
        let state = random_state(&self.random::<16>()?);
        let flow = PendingFlow {
            state: state.clone(),
            verifier: CodeVerifier::from_random_bytes(&self.random::<32>()?),
            server_url: rec.server_url.clone(),
            issuer,
            iss_required: meta.flag("authorization_response_iss_parameter_supported"),
            client_id: client.client_id,
            redirect_uri: self.config.redirect_uri.clone(),
            resource: rec.resource.clone(),
            scope,
            created_at: self.env.now_ms(),
            return_to: opts.return_to,
            popup: opts.popup,
        };
        let url = build_authorization_url(meta.authorization_endpoint(), &flow);
        self.save(&self.flow_key(&state), &flow)?;
        self.env.step(&rec.server_url, "authorization", meta.authorization_endpoint());
        Ok(Begin::Navigate { url, state })
    }

    /// R17: the callback's parameters and the pending flow its `state` names. The flow is removed
    /// here, before anything else, so a second use of the same callback is a `state_mismatch`.
    pub fn take_flow(&self, callback_url: &str) -> (CallbackParams, Option<PendingFlow>) {
        let params = parse_callback_url(callback_url);
        let flow = params.state.as_deref().and_then(|s| {
            let key = self.flow_key(s);
            let flow = self.load::<PendingFlow>(&key);
            self.store.remove(&key);
            flow
        });
        (params, flow)
    }

    /// R17–R20: checks the callback against its flow, exchanges the code, stores the tokens.
    pub async fn complete_callback(&self, params: CallbackParams, flow: Option<&PendingFlow>) -> Result<Status, McpError> {
        match flow {
            Some(f) => self.exchange_code(params, f).await.map_err(|e| e.with_server(&f.server_url)),
            None => Err(CallbackError::StateMismatch.into()),
        }
    }

    async fn exchange_code(&self, params: CallbackParams, flow: &PendingFlow) -> Result<Status, McpError> {
        let code = check_callback(params, Some(flow), self.env.now_ms())?;
        let mut rec = self.load_server(&flow.server_url).ok_or_else(|| McpError::new(ErrorCode::StateMismatch, "the server's discovery record is gone"))?;
        let meta = rec.as_metadata.clone().ok_or_else(|| McpError::new(ErrorCode::StateMismatch, "the server's metadata is gone"))?;
        let client = self
            .known_client(&flow.issuer)
            .filter(|c| c.client_id == flow.client_id)
            .unwrap_or(Client {
                client_id: flow.client_id.clone(),
                client_secret: None,
                auth_method: None,
                redirect_uri: flow.redirect_uri.clone(),
                source: ClientSource::MetadataDocument,
            });
        self.env.step(&flow.server_url, "token", meta.token_endpoint());
        let req = prepare_code_exchange(
            meta.token_endpoint(),
            &client,
            meta.list("token_endpoint_auth_methods_supported").as_deref(),
            &code,
            &flow.verifier,
            &flow.resource,
        );
        let resp = self.send(req).await?;
        rec.tokens = Some(parse_token_response(&resp, self.env.now_ms()).map_err(|e| e.into_exchange_error())?);
        self.save_server(&rec)?;
        Ok(self.changed(&rec))
    }

    // ---- tokens (R26–R29) -----------------------------------------------------------------

    /// R26, R27: a valid access token, refreshed first when it expires within the skew.
    pub async fn access_token(&self, server_url: &str) -> Result<AccessToken, McpError> {
        let href = Self::server_url(server_url)?.href();
        let rec = self.load_server(&href).ok_or_else(|| not_authorized(&href))?;
        let tokens = rec.tokens.clone().ok_or_else(|| not_authorized(&href))?;
        let now = self.env.now_ms();
        if !tokens.expires_within(now, self.config.refresh_skew_ms) {
            return Ok(tokens.access_token);
        }
        if tokens.refresh_token.is_none() {
            return if tokens.expires_within(now, 0) { Err(not_authorized(&href)) } else { Ok(tokens.access_token) };
        }
        match self.refresh(rec).await {
            Ok(t) => Ok(t.access_token),
            // R27: a network or server failure keeps everything; an unexpired token still serves
            Err(e) if matches!(e.code, ErrorCode::Network | ErrorCode::ServerError) && !tokens.expires_within(now, 0) => {
                Ok(tokens.access_token)
            }
            Err(e) => Err(e.with_server(&href)),
        }
    }

    /// R26, R27: one refresh. `invalid_grant` drops the tokens; `invalid_client` /
    /// `unauthorized_client` drop the registration too; network and 5xx keep everything.
    pub async fn refresh(&self, mut rec: ServerRecord) -> Result<TokenSet, McpError> {
        let server = rec.server_url.clone();
        let (Some(issuer), Some(meta), Some(old)) = (rec.issuer.clone(), rec.as_metadata.clone(), rec.tokens.clone()) else {
            return Err(not_authorized(&server));
        };
        let (Some(refresh_token), Some(client)) = (old.refresh_token.clone(), self.known_client(&issuer)) else {
            return Err(not_authorized(&server));
        };
        self.env.step(&server, "refresh", meta.token_endpoint());
        let req = prepare_refresh(meta.token_endpoint(), &client, meta.list("token_endpoint_auth_methods_supported").as_deref(), &refresh_token, &rec.resource);
        let resp = self.send(req).await?;
        match parse_token_response(&resp, self.env.now_ms()) {
            Ok(t) => {
                let t = t.merge_refresh(Some(refresh_token));
                rec.tokens = Some(t.clone());
                self.save_server(&rec)?;
                self.changed(&rec);
                Ok(t)
            }
            Err(e) => {
                if let Some(code) = e.oauth_error() {
                    if matches!(code, "invalid_client" | "unauthorized_client") {
                        self.store.remove(&self.client_key(&issuer));
                    }
                    rec.tokens = None;
                    self.save_server(&rec)?;
                    self.changed(&rec);
                }
                Err(e.into_refresh_error().with_server(&server))
            }
        }
    }

    /// R29: revoke the refresh token, then the access token; forget locally after.
    pub async fn revoke(&self, server_url: &str, force: bool) -> Result<(), McpError> {
        let href = Self::server_url(server_url)?.href();
        let Some(rec) = self.load_server(&href) else { return Ok(()) };
        let result = self.revoke_record(&rec).await.map_err(|e| e.with_server(&href));
        if result.is_ok() || force {
            self.forget(&href);
        }
        result
    }

    async fn revoke_record(&self, rec: &ServerRecord) -> Result<(), McpError> {
        let (Some(issuer), Some(meta), Some(tokens)) = (&rec.issuer, &rec.as_metadata, &rec.tokens) else { return Ok(()) };
        let (Some(endpoint), Some(client)) = (meta.endpoint("revocation_endpoint"), self.known_client(issuer)) else { return Ok(()) };
        let auth = meta.list("token_endpoint_auth_methods_supported");
        let auth = auth.as_deref();
        self.env.step(&rec.server_url, "revocation", endpoint);
        let mut refresh_revoked = false;
        if let Some(rt) = &tokens.refresh_token {
            let resp = self.send(prepare_revocation(endpoint, &client, auth, rt.secret(), "refresh_token")).await;
            let resp = resp.map_err(|e| McpError::from(e).recode(ErrorCode::RevocationFailed))?;
            refresh_revoked = parse_revocation(&resp)?;
        }
        let resp = self.send(prepare_revocation(endpoint, &client, auth, tokens.access_token.secret(), "access_token")).await;
        let resp = resp.map_err(|e| McpError::from(e).recode(ErrorCode::RevocationFailed))?;
        match parse_revocation(&resp)? {
            false if !refresh_revoked => Err(McpError::new(ErrorCode::RevocationFailed, "the server cannot revoke this access token")),
            _ => Ok(()),
        }
    }

    // ---- status (R30) ---------------------------------------------------------------------

    pub fn status(&self, server_url: &str) -> Status {
        match Self::server_url(server_url) {
            Ok(url) => match self.load_server(&url.href()) {
                Some(rec) => self.status_of(&rec),
                None => Status::unknown(&url.href()),
            },
            Err(_) => Status::unknown(server_url),
        }
    }

    pub fn list(&self) -> Vec<Status> {
        let prefix = self.server_key("");
        let mut keys: Vec<String> = self.store.keys().into_iter().filter(|k| k.starts_with(&prefix)).collect();
        sort_small(&mut keys);
        keys.iter().filter_map(|k| self.load_server(k.get(prefix.len()..)?)).map(|r| self.status_of(&r)).collect()
    }

    pub fn forget(&self, server_url: &str) {
        let href = Self::server_url(server_url).map(|u| u.href()).unwrap_or_else(|_| server_url.to_string());
        self.store.remove(&self.server_key(&href));
        self.env.status_changed(&Status::unknown(&href));
    }
}
