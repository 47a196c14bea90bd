//! The flows: discover → client → authorize → callback → tokens, over the `Http`, `Store` and
//! `Env` traits. Every network step goes through a core `prepare_*` / `parse_*` pair; server
//! URLs arrive parsed and canonical ([`ServerUrl`]).

use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::core::authorize::{
    CallbackError, CallbackParams, PendingFlow, build_authorization_url, check_callback, choose_scope, union_scopes,
};
use crate::core::challenge::{BearerChallenge, bearer_challenge};
use crate::core::discovery::{
    AuthServerMetadata, Document, ProbeOutcome, authorization_server_metadata_urls, default_metadata, may_fall_back,
    parse_authorization_server_metadata, parse_probe, parse_resource_metadata, prepare_probe, resource_metadata_urls,
};
use crate::core::dpop::{self, DpopMode, PublicJwk};
use crate::core::error::{ErrorCode, HttpError, McpError};
use crate::core::http::{HttpRequest, HttpResponse, check_body, parse_json};
use crate::core::pkce::{CodeVerifier, random_state, s256_allowed};
use crate::core::registration::{Client, ClientSource, choose_client_source, parse_registration, prepare_registration};
use crate::core::resource::{ServerUrl, parse_secure};
use crate::core::revocation::{parse_revocation, prepare_revocation};
use crate::core::secret::{AccessToken, ClientSecret};
use crate::core::token::{RefreshFailure, TokenSet, parse_token_response, prepare_code_exchange, prepare_refresh};

use super::records::{ClientRecord, RECORD_VERSION, ServerInfo, ServerRecord, Status, Warning};
use super::{Credentials, Env, Http, Lock, Sent, Store, Vault};

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
    /// R16: ask for `offline_access` where the authorization server lists it.
    pub offline_access: bool,
    /// R34: when new tokens are bound with DPoP.
    pub dpop: DpopMode,
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
    Navigate { url: Url, state: String },
}

pub struct Engine<H, S, E, L, V> {
    pub http: H,
    pub store: S,
    pub env: E,
    pub lock: L,
    pub vault: V,
    /// Where a full-page redirect's flow waits for its return (R24, R33): sessionStorage in the
    /// browser — the same tab comes back, and the verifier never reaches localStorage.
    pub redirect_flows: S,
    pub config: Config,
    /// Pending popup flows, verifier included, in this page's memory only (R33): the popup's
    /// callback page hands its parameters here (R22), whatever the storage mode.
    pub popup_flows: std::cell::RefCell<Vec<PendingFlow>>,
    /// R34: the latest `DPoP-Nonce` per origin (RFC 9449 §8, §9), for the next proof there.
    pub dpop_nonces: std::cell::RefCell<std::collections::BTreeMap<String, String>>,
    /// The record's token set per server, as last read or written, so that a fresh token costs
    /// no storage read and no parse; dropped on every write here and in other tabs.
    /// Shared by the instances of a page that use the same storage (the shell hands them one
    /// map), so one instance's write is seen by the others at once.
    pub token_cache: TokenCache,
}

/// R28: step-up attempts per server and request.
pub const MAX_STEP_UPS: u32 = 3;

/// R34: `use_dpop_nonce` retries of one request at a resource server.
const MAX_NONCE_RETRIES: u32 = 2;

/// F4 (R25): the largest server record kept (its metadata's members this client reads, and
/// its tokens): a hostile server's lists cannot fill the origin's storage.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// R26: how long a refresh waits for another caller's or tab's refresh of the same server.
pub const REFRESH_LOCK_TIMEOUT_MS: u32 = 10_000;

fn not_authorized(server_url: &str) -> McpError {
    McpError::new(
        ErrorCode::AuthorizationRequired,
        "no usable token for this server: authorize first",
    )
    .with_server(server_url)
}

/// R14, R38: which of the two cases it is, and what the app can do about it.
fn pkce_unsupported(methods: Option<&[String]>) -> McpError {
    let message = match methods {
        None => {
            "the authorization server's metadata has no code_challenge_methods_supported, so PKCE with S256 cannot be \
                 confirmed; if the server does support it, create McpAuth with allowMissingPkceMetadata: true"
                .to_string()
        }
        Some(list) => format!(
            "the authorization server's code_challenge_methods_supported lists {} but not S256: it does not offer PKCE \
             with S256 (allowMissingPkceMetadata only covers a missing list)",
            crate::core::error::quote(&format!("[{}]", list.join(", "))).unwrap_or_default()
        ),
    };
    McpError::new(ErrorCode::PkceUnsupported, message)
}

impl<H: Http, S: Store, E: Env, L: Lock, V: Vault> Engine<H, S, E, L, V> {
    // ---- storage keys and records -------------------------------------------------------

    pub fn server_key(&self, server_url: &str) -> String {
        format!("{}:server:{server_url}", self.config.prefix)
    }
    fn client_key(&self, issuer: &str) -> String {
        format!("{}:client:{issuer}", self.config.prefix)
    }
    /// The Web Lock under which a server's tokens change (R26).
    fn token_lock(&self, server_url: &str) -> String {
        format!("{}:refresh:{server_url}", self.config.prefix)
    }

    /// The vault's key for a server's token set, refresh token included (R33).
    fn tokens_key(&self, server_url: &str) -> String {
        format!("{}:tokens:{server_url}", self.config.prefix)
    }
    pub fn flow_key(&self, state: &str) -> String {
        format!("{}:flow:{state}", self.config.prefix)
    }

    /// R25: a record that does not parse, or has another version, is removed and reported;
    /// nothing else is touched.
    pub fn load<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        match self.store.get(key)? {
            Ok(v) => Some(v),
            Err(_) => {
                self.store.remove(key);
                self.env.warning(
                    None,
                    Warning::CorruptRecord,
                    &format!("the stored record {key} did not parse and was removed"),
                );
                None
            }
        }
    }

    fn save<T: Serialize>(&self, key: &str, value: &T) -> Result<(), McpError> {
        self.store.set(key, value)
    }

    pub fn load_server(&self, server_url: &str) -> Option<ServerRecord> {
        self.load(&self.server_key(server_url))
    }

    /// Stores a server's record, and keeps in memory what it stored of the tokens (nothing when
    /// the write fails).
    fn save_server(&self, rec: &ServerRecord) -> Result<(), McpError> {
        // F4 (R25): one server's record never takes the room every other server needs
        let size = serde_json::to_string(rec).map_or(0, |t| t.len());
        if size > MAX_RECORD_BYTES {
            return Err(McpError::new(
                ErrorCode::InvalidResponse,
                format!(
                    "the server's metadata is too large to keep ({} KB stored; at most {} KB)",
                    size / 1024,
                    MAX_RECORD_BYTES / 1024
                ),
            ));
        }
        self.uncache(&rec.server_url);
        self.save(&self.server_key(&rec.server_url), rec)?;
        if let Some(t) = &rec.tokens {
            self.token_cache.borrow_mut().insert(rec.server_url.clone(), t.clone());
        }
        Ok(())
    }

    /// Drops the in-memory copy of a server's tokens, as when another tab wrote its record (the
    /// shell calls it on the `storage` event); [`Engine::uncache_all`] drops every server's.
    pub fn uncache(&self, server_url: &str) {
        self.token_cache.borrow_mut().remove(server_url);
    }
    /// The fresh access token kept in memory for the server whose canonical URL is exactly
    /// `href`, if there is one: what `getAccessToken` answers without a future (issue 13).
    pub fn fresh_cached_token(&self, href: &str) -> Option<AccessToken> {
        let now = self.env.now_ms();
        let cache = self.token_cache.borrow();
        cache
            .get(href)
            .filter(|t| !t.expires_within(now, self.config.refresh_skew_ms))
            .map(|t| t.access_token.clone())
    }

    pub fn uncache_all(&self) {
        self.token_cache.borrow_mut().clear();
    }

    fn stored_client(&self, issuer: &str) -> Option<Client> {
        self.load::<ClientRecord>(&self.client_key(issuer))
            .filter(|r| r.issuer == issuer && r.client.redirect_uri == self.config.redirect_uri)
            .map(|r| r.client)
    }

    /// R34: one DPoP key per issuer.
    fn dpop_key(&self, issuer: &str) -> String {
        format!("{}:dpop:{issuer}", self.config.prefix)
    }
    /// The vault's key for an issuer's client secret (R33).
    fn secret_key(&self, issuer: &str) -> String {
        format!("{}:client-secret:{issuer}", self.config.prefix)
    }

    /// Stores `client` for `issuer` — its secret in the vault (R33), with the scope it was
    /// registered for (F6) — and hands it back.
    async fn save_client(&self, issuer: &str, client: Client, scope: Option<String>) -> Result<Client, McpError> {
        match &client.client_secret {
            Some(secret) => self.vault.put(&self.secret_key(issuer), secret.secret()).await?,
            None => self.vault.delete(&self.secret_key(issuer)).await,
        }
        let rec = ClientRecord {
            v: RECORD_VERSION,
            issuer: issuer.to_string(),
            client,
            scope,
        };
        self.save(&self.client_key(issuer), &rec)?;
        Ok(rec.client)
    }

    /// Drops the registration with `issuer`, its secret included.
    async fn drop_client(&self, issuer: &str) {
        self.store.remove(&self.client_key(issuer));
        self.vault.delete(&self.secret_key(issuer)).await;
    }

    /// The client to authenticate with at `issuer`'s endpoints: [`Engine::known_client`], with
    /// its secret from the vault (R13, R33).
    async fn client_for_requests(&self, issuer: &str) -> Option<Client> {
        let mut client = self.known_client(issuer)?;
        if client.client_secret.is_none() && client.source != ClientSource::Preregistered {
            client.client_secret = self.vault.get(&self.secret_key(issuer)).await.map(ClientSecret::new);
        }
        Some(client)
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
        let client_id = rec
            .issuer
            .as_deref()
            .and_then(|i| self.known_client(i))
            .map(|c| c.client_id);
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

    /// R25, R32: no body past the request's `max_body` is parsed, whatever the shell read.
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let max = req.max_body;
        let resp = self.http.send(req).await?;
        check_body(resp.body.len(), max)?;
        Ok(resp)
    }

    // ---- DPoP (R34, RFC 9449) ------------------------------------------------------------

    /// Where a nonce is kept: per origin, and apart for the token endpoint and for resource
    /// requests, whose servers may share an origin and each keep their own (RFC 9449 §8, §9).
    fn nonce_key(url: &Url, resource: bool) -> String {
        format!(
            "{}|{}",
            if resource { "resource" } else { "token" },
            url.origin().ascii_serialization()
        )
    }

    /// A proof for `htm` on `url` with the issuer's key (RFC 9449 §4.2): a fresh `jti`, the
    /// latest nonce of that server, and `ath` for a resource request's token.
    async fn dpop_proof(
        &self,
        issuer: &str,
        htm: &str,
        url: &Url,
        token: Option<&AccessToken>,
    ) -> Result<String, McpError> {
        let name = self.dpop_key(issuer);
        let jwk = parse_json::<PublicJwk>(&self.vault.dpop_public_key(&name).await?)
            .ok_or_else(|| McpError::new(ErrorCode::StorageUnavailable, "the DPoP key could not be read"))?;
        let jti = random_state(&self.random::<16>()?);
        let nonce = self
            .dpop_nonces
            .borrow()
            .get(&Self::nonce_key(url, token.is_some()))
            .cloned();
        let claims = dpop::Claims {
            jti: &jti,
            htm,
            htu: dpop::htu(url),
            iat: self.env.now_ms() / 1000,
            nonce: nonce.as_deref(),
            ath: token.map(dpop::ath),
        };
        let input = dpop::signing_input(&jwk, &claims);
        let signature = self.vault.dpop_sign(&name, input.as_bytes()).await?;
        Ok(dpop::compact(&input, &signature))
    }

    /// RFC 9449 §8.2: a server may give a new nonce with any response.
    fn remember_nonce(&self, url: &Url, resource: bool, nonce: Option<&str>) {
        if let Some(n) = nonce.filter(|n| !n.is_empty()) {
            self.dpop_nonces
                .borrow_mut()
                .insert(Self::nonce_key(url, resource), n.to_string());
        }
    }

    /// A token-endpoint request (R17, R26), with a DPoP proof made with `dpop_issuer`'s key when
    /// there is one, and one retry when the server answers `use_dpop_nonce` (RFC 9449 §8).
    async fn send_token_request(&self, req: HttpRequest, dpop_issuer: Option<&str>) -> Result<HttpResponse, McpError> {
        let Some(issuer) = dpop_issuer else {
            return Ok(self.send(req).await?);
        };
        let mut retried = false;
        loop {
            let mut with_proof = req.clone();
            with_proof
                .headers
                .push(("dpop".into(), self.dpop_proof(issuer, "POST", &req.url, None).await?));
            let resp = self.send(with_proof).await?;
            self.remember_nonce(&req.url, false, resp.header("dpop-nonce"));
            if !retried && dpop::authorization_server_nonce(&resp).is_some() {
                retried = true;
                continue;
            }
            return Ok(resp);
        }
    }

    /// R28, R34: how a request carries `tokens`: `DPoP` and a proof for a bound token,
    /// `Bearer` otherwise.
    async fn credentials(
        &self,
        server: &ServerUrl,
        tokens: &TokenSet,
        method: &str,
        url: &Url,
    ) -> Result<Credentials, McpError> {
        let token = tokens.access_token.clone();
        // the issuer (whose key signs) is read only for a bound token
        let issuer = match dpop::is_dpop_bound(&tokens.token_type) {
            true => self.load_server(server.as_str()).and_then(|r| r.issuer),
            false => None,
        };
        match issuer {
            Some(issuer) => Ok(Credentials {
                scheme: "DPoP",
                proof: Some(self.dpop_proof(&issuer, method, url, Some(&token)).await?),
                token,
            }),
            None => Ok(Credentials {
                scheme: "Bearer",
                token,
                proof: None,
            }),
        }
    }

    // ---- discovery (R1–R10) --------------------------------------------------------------

    /// R9: the cached discovery when there is one, else a fresh one.
    pub async fn discover(&self, server: &ServerUrl) -> Result<ServerRecord, McpError> {
        if let Some(rec) = self
            .load_server(server.as_str())
            .filter(|r| !r.requires_auth || r.as_metadata.is_some())
        {
            return Ok(rec);
        }
        self.discover_fresh(server)
            .await
            .map_err(|e| e.with_server(server.as_str()))
    }

    /// `ServerInfo` for a discovered server: which way the client id will come (R11).
    pub fn server_info<'a>(&self, rec: &'a ServerRecord) -> ServerInfo<'a> {
        let source = match (&rec.issuer, &rec.as_metadata) {
            (Some(issuer), Some(meta)) => match self.known_client(issuer) {
                Some(c) => c.source,
                None => choose_client_source(false, self.config.client_metadata_url.as_deref(), &meta.fields)
                    .unwrap_or(ClientSource::Manual),
            },
            _ => ClientSource::Manual,
        };
        ServerInfo::new(rec, source)
    }

    async fn discover_fresh(&self, server: &ServerUrl) -> Result<ServerRecord, McpError> {
        let href = server.as_str();
        self.env.step(href, "probe", href);
        let probe = self.send(prepare_probe(server)).await?;
        let (challenge, open) = match parse_probe(&probe)? {
            ProbeOutcome::AuthRequired(c) => (c, None),
            ProbeOutcome::Open(status) => (None, Some(status)),
        };
        let prm_urls = resource_metadata_urls(server, challenge.as_ref())?;
        let prm = match self.first_found(href, "resource_metadata", prm_urls).await? {
            Some((url, r)) => Some((url, parse_resource_metadata(&r, server)?)),
            None => None,
        };
        // R1: an open probe with no protected-resource metadata behind it
        match (open, &prm) {
            (Some(status), None) if (200..300).contains(&status) => {
                let rec = ServerRecord::bare(href, false);
                self.save_server(&rec)?;
                return Ok(rec);
            }
            (Some(_), None) => return Err(HttpError::unexpected(&probe).into()),
            _ => {}
        }
        // R5: the first authorization server, or the server's origin for 2025-03-26 servers
        let issuer = prm
            .as_ref()
            .and_then(|(_, m)| m.fields.authorization_servers.as_ref()?.first().cloned())
            .unwrap_or_else(|| server.url().origin().ascii_serialization());
        let issuer_url = parse_secure(&issuer).map_err(|_| {
            McpError::new(
                ErrorCode::InsecureUrl,
                "the authorization server is neither https nor http on a loopback host",
            )
        })?;
        // R6, R7: the first metadata document found, else the 2025-03-26 defaults
        let meta = match self
            .first_found(
                href,
                "authorization_server_metadata",
                authorization_server_metadata_urls(&issuer_url),
            )
            .await?
        {
            Some((_, r)) => parse_authorization_server_metadata(&r, &issuer)?,
            None => default_metadata(&issuer, &issuer_url),
        };

        let previous = self.load_server(href);
        // a scope a refusal named (R28) stands until a challenge names another
        let challenge_scope = challenge
            .and_then(|c| c.scope)
            .or_else(|| previous.as_ref().and_then(|p| p.challenge_scope.clone()));
        // R9: a change of issuer discards what belonged to the old one
        let tokens = previous
            .filter(|p| p.issuer.as_deref() == Some(issuer.as_str()))
            .and_then(|p| p.tokens);
        let rec = ServerRecord {
            v: RECORD_VERSION,
            server_url: href.to_string(),
            // R15: the metadata's resource (checked by R4), else the canonical server URI
            resource: prm
                .as_ref()
                .map_or_else(|| href.to_string(), |(_, m)| m.fields.resource.clone()),
            requires_auth: true,
            resource_metadata_url: prm.as_ref().map(|(u, _)| u.to_string()),
            resource_metadata: prm.map(|(_, m)| Box::new(m)),
            challenge_scope,
            issuer: Some(issuer),
            as_metadata: Some(Box::new(meta)),
            tokens,
        };
        self.save_server(&rec)?;
        Ok(rec)
    }

    /// R3, R6: the first candidate URL that answers 200; 4xx, 502 and network failures move
    /// on to the next, other statuses stop.
    async fn first_found(
        &self,
        server: &str,
        step: &str,
        urls: Vec<Url>,
    ) -> Result<Option<(Url, HttpResponse)>, McpError> {
        for url in urls {
            self.env.step(server, step, url.as_str());
            match self.send(HttpRequest::get(url.clone())).await {
                Err(HttpError::Network(_)) => continue,
                Err(e) => return Err(e.into()),
                Ok(r) if r.status == 200 => return Ok(Some((url, r))),
                Ok(r) if may_fall_back(r.status) => continue,
                Ok(r) => return Err(HttpError::unexpected(&r).into()),
            }
        }
        Ok(None)
    }

    // ---- client identity (R11–R13) -------------------------------------------------------

    async fn ensure_client(
        &self,
        rec: &ServerRecord,
        meta: &AuthServerMetadata,
        issuer: &str,
        opts: &AuthorizeOptions,
        registration_scope: Option<&str>,
    ) -> Result<Client, McpError> {
        let client = |client_id: String, client_secret: Option<ClientSecret>, source: ClientSource| Client {
            client_id,
            client_secret,
            auth_method: None,
            redirect_uri: self.config.redirect_uri.clone(),
            source,
        };
        if let Some(id) = &opts.client_id {
            return self
                .save_client(
                    issuer,
                    client(id.clone(), opts.client_secret.clone(), ClientSource::Manual),
                    None,
                )
                .await;
        }
        let mut registration_scope = registration_scope.map(str::to_string);
        if let Some(c) = self.client_for_requests(issuer).await {
            // F6 (R12): a dynamic registration made for another server's scope, which does not
            // cover this server's, is replaced by one for both (servers sharing an issuer share
            // its registration; the first one must not fix its scope for all)
            let registered = self
                .load::<ClientRecord>(&self.client_key(issuer))
                .and_then(|r| r.scope);
            let covers = |have: &str| {
                registration_scope
                    .as_deref()
                    .is_none_or(|need| need.split_whitespace().all(|s| have.split_whitespace().any(|h| h == s)))
            };
            match (c.source, registered.as_deref(), &meta.registration_endpoint) {
                (ClientSource::Dynamic, Some(have), Some(_)) if !covers(have) => {
                    registration_scope = union_scopes(Some(have), registration_scope.as_deref())?;
                }
                _ => return Ok(c),
            }
        }
        match (
            choose_client_source(false, self.config.client_metadata_url.as_deref(), meta)?,
            &meta.registration_endpoint,
        ) {
            (ClientSource::MetadataDocument, _) => Ok(client(
                self.config.client_metadata_url.clone().unwrap_or_default(),
                None,
                ClientSource::MetadataDocument,
            )),
            (_, Some(endpoint)) => {
                self.env.step(&rec.server_url, "registration", endpoint.as_str());
                let req = prepare_registration(
                    endpoint,
                    &self.config.client_name,
                    &self.config.redirect_uri,
                    registration_scope.as_deref(),
                );
                let resp = self.send(req).await?;
                let client = parse_registration(&resp, &self.config.redirect_uri)?;
                self.save_client(issuer, client, registration_scope).await
            }
            (_, None) => Err(crate::core::registration::RegistrationError::Required.into()),
        }
    }

    // ---- authorization (R14–R19) ---------------------------------------------------------

    pub async fn begin_authorization(&self, server: &ServerUrl, opts: AuthorizeOptions) -> Result<Begin, McpError> {
        // R1: "no authorization needed" is never final: an explicit authorize probes again
        let rec = match self.load_server(server.as_str()) {
            Some(r) if !r.requires_auth => self
                .discover_fresh(server)
                .await
                .map_err(|e| e.with_server(server.as_str()))?,
            _ => self.discover(server).await?,
        };
        self.begin_for(rec, opts)
            .await
            .map_err(|e| e.with_server(server.as_str()))
    }

    async fn begin_for(&self, rec: ServerRecord, opts: AuthorizeOptions) -> Result<Begin, McpError> {
        let (Some(issuer), Some(meta)) = (rec.issuer.clone(), rec.as_metadata.as_deref()) else {
            return Ok(Begin::NotNeeded(self.status_of(&rec)));
        };
        let meta = &meta.fields;
        if !s256_allowed(
            meta.code_challenge_methods_supported.as_deref(),
            self.config.allow_missing_pkce,
        ) {
            return Err(pkce_unsupported(meta.code_challenge_methods_supported.as_deref()));
        }
        // R16: the app's scope, else the challenge's, else the resource's; `offline_access` added
        // when the app asked for refresh tokens and the authorization server lists it
        let scope = choose_scope(
            opts.scope.as_deref().or(rec.challenge_scope.as_deref()),
            rec.resource_metadata
                .as_ref()
                .and_then(|m| m.fields.scopes_supported.as_deref()),
            meta.scopes_supported.as_deref(),
            self.config.offline_access,
        )?;
        // R12: a registration is for every scope the resource lists (and this request's), never
        // just this request's, so that a later step-up is not refused at servers holding a client
        // to its registered scope
        let supported = rec
            .resource_metadata
            .as_ref()
            .and_then(|m| m.fields.scopes_supported.as_deref())
            .map(|s| s.join(" "));
        let registration_scope = union_scopes(supported.as_deref(), scope.as_deref())?;
        let client = self
            .ensure_client(&rec, meta, &issuer, &opts, registration_scope.as_deref())
            .await?;
        let state = random_state(&self.random::<16>()?);
        let flow = PendingFlow {
            state: state.clone(),
            verifier: CodeVerifier::from_random_bytes(&self.random::<32>()?),
            server_url: rec.server_url.clone(),
            issuer,
            iss_required: meta.authorization_response_iss_parameter_supported,
            client_id: client.client_id,
            redirect_uri: self.config.redirect_uri.clone(),
            resource: rec.resource.clone(),
            scope,
            created_at: self.env.now_ms(),
            return_to: opts.return_to,
            popup: opts.popup,
            token_endpoint: meta.token_endpoint.clone(),
            token_auth_methods: meta.token_endpoint_auth_methods_supported.clone(),
            dpop: dpop::server_uses_dpop(
                self.config.dpop,
                meta,
                rec.resource_metadata.as_ref().map(|d| &d.fields),
            ),
        };
        let url = build_authorization_url(&meta.authorization_endpoint, &flow);
        if flow.popup {
            self.popup_flows.borrow_mut().push(flow);
        } else {
            // a full-page redirect leaves this page: the flow waits in this tab's session
            self.redirect_flows.set(&self.flow_key(&state), &flow)?;
        }
        // the whole URL the popup or page opens: it holds the code challenge, never the verifier
        self.env.step(&rec.server_url, "authorization", url.as_str());
        Ok(Begin::Navigate { url, state })
    }

    /// R17: the pending flow that `state` names, taken out — from this page's memory (a popup
    /// flow) or from storage (a full-page redirect flow) — so that a second use of the same
    /// callback is a `state_mismatch`.
    pub fn take_flow(&self, state: Option<&str>) -> Option<PendingFlow> {
        let state = state?;
        let mut popups = self.popup_flows.borrow_mut();
        if let Some(i) = popups.iter().position(|f| f.state == state) {
            return Some(popups.swap_remove(i));
        }
        drop(popups);
        let key = self.flow_key(state);
        let flow = self.redirect_flows.get::<PendingFlow>(&key).and_then(Result::ok);
        self.redirect_flows.remove(&key);
        flow
    }

    /// R17–R20: checks the callback against its flow, exchanges the code, stores the tokens.
    pub async fn complete_callback(
        &self,
        params: CallbackParams,
        flow: Option<&PendingFlow>,
    ) -> Result<Status, McpError> {
        match flow {
            Some(f) => self
                .exchange_code(params, f)
                .await
                .map_err(|e| e.with_server(&f.server_url)),
            None => Err(CallbackError::StateMismatch.into()),
        }
    }

    /// F1 (R9, R18): the server's record as the flow may complete it: still there, and still
    /// naming the flow's issuer and resource. A record that a rediscovery during sign-in pointed
    /// at another authorization server (or another resource) gets nothing of this flow.
    fn record_for_flow(&self, flow: &PendingFlow) -> Result<ServerRecord, McpError> {
        let rec = self.load_server(&flow.server_url).ok_or_else(|| {
            McpError::new(
                ErrorCode::StateMismatch,
                "the server's record was removed during sign-in: nothing is kept",
            )
        })?;
        match (rec.issuer.as_deref(), rec.resource == flow.resource) {
            (Some(issuer), true) if issuer == flow.issuer => Ok(rec),
            (now, _) => Err(McpError::new(
                ErrorCode::IssuerMismatch,
                format!(
                    "the server's authorization server changed during sign-in (the flow began at {}, the server now names {}): \
                     the tokens are not kept; authorize again",
                    flow.issuer,
                    now.unwrap_or("none")
                ),
            )),
        }
    }

    async fn exchange_code(&self, params: CallbackParams, flow: &PendingFlow) -> Result<Status, McpError> {
        let code = check_callback(params, Some(flow), self.env.now_ms())?;
        // F1: a record that names another issuer now: the code goes nowhere
        self.record_for_flow(flow)?;
        // the flow's issuer's client (its secret from the vault), and only that issuer's
        let client = self
            .client_for_requests(&flow.issuer)
            .await
            .filter(|c| c.client_id == flow.client_id)
            .unwrap_or(Client {
                client_id: flow.client_id.clone(),
                client_secret: None,
                auth_method: None,
                redirect_uri: flow.redirect_uri.clone(),
                source: ClientSource::MetadataDocument,
            });
        // F1: the token endpoint, its authentication methods and the DPoP decision the flow
        // began with, from the flow's issuer's metadata — never the record's as it is now
        self.env.step(&flow.server_url, "token", flow.token_endpoint.as_str());
        let req = prepare_code_exchange(
            &flow.token_endpoint,
            &client,
            flow.token_auth_methods.as_deref(),
            &code,
            &flow.verifier,
            &flow.resource,
        );
        let resp = self
            .send_token_request(req, flow.dpop.then_some(flow.issuer.as_str()))
            .await?;
        let mut tokens = parse_token_response(&resp, self.env.now_ms()).map_err(|e| e.into_exchange_error())?;
        // RFC 6749 §5.1: no scope in the response means the scope requested
        tokens.scope = tokens.scope.or_else(|| flow.scope.clone());
        // under the server's token lock: a refresh in flight lands first, then these replace it;
        // the record is read again, and a change of issuer meanwhile keeps nothing (F1)
        let _held = self
            .lock
            .acquire(&self.token_lock(&flow.server_url), REFRESH_LOCK_TIMEOUT_MS)
            .await?;
        let mut rec = self.record_for_flow(flow)?;
        self.store_tokens(&mut rec, tokens).await?;
        Ok(self.changed(&rec))
    }

    // ---- tokens (R26–R29, R33) ------------------------------------------------------------

    /// The server's whole token set, refresh token included: the vault's copy (R33), or the
    /// record's own for a record written before refresh tokens moved to the vault. `None` when
    /// the record holds no tokens.
    async fn full_tokens(&self, rec: &ServerRecord) -> Option<TokenSet> {
        let own = rec.tokens.as_ref()?;
        let kept = self
            .vault
            .get(&self.tokens_key(&rec.server_url))
            .await
            .and_then(|t| parse_json::<TokenSet>(&t));
        kept.or_else(|| Some(own.clone()))
    }

    /// Stores a token set (R25, R33): whole in the vault, and in the record without its refresh
    /// token, so that `status` stays synchronous and no storage dump shows a refresh token.
    async fn store_tokens(&self, rec: &mut ServerRecord, mut tokens: TokenSet) -> Result<(), McpError> {
        let key = self.tokens_key(&rec.server_url);
        tokens.refreshable = false;
        if tokens.refresh_token.is_some() {
            let kept = match serde_json::to_string(&tokens) {
                Ok(text) => self.vault.put(&key, &text).await,
                Err(e) => Err(McpError::new(ErrorCode::StorageUnavailable, e.to_string())),
            };
            match kept {
                Ok(()) => tokens.refreshable = true,
                Err(e) => {
                    // no stale set may stay behind to be refreshed with later
                    self.vault.delete(&key).await;
                    self.env.warning(
                        Some(&rec.server_url),
                        Warning::StorageUnavailable,
                        &format!("the refresh token cannot be kept: {}", e.message),
                    );
                }
            }
        } else {
            self.vault.delete(&key).await;
        }
        tokens.refresh_token = None;
        rec.tokens = Some(tokens);
        self.save_server(rec)
    }

    /// Drops a server's tokens, here and in the vault; the rest of its record stays.
    async fn drop_tokens(&self, rec: &mut ServerRecord) -> Result<(), McpError> {
        rec.tokens = None;
        self.vault.delete(&self.tokens_key(&rec.server_url)).await;
        self.save_server(rec)?;
        self.changed(rec);
        Ok(())
    }

    /// R33: moves what earlier releases kept in plain storage — refresh tokens in server records,
    /// client secrets in client records — into the vault, and removes their pending-flow and
    /// result keys (which held verifiers). Each server's tokens move under its token lock.
    pub async fn migrate(&self) {
        let (servers, clients) = (self.server_key(""), self.client_key(""));
        let (flows, results) = (self.flow_key(""), format!("{}:result:", self.config.prefix));
        // F2 (R24, R25): where the store is the tab's sessionStorage, its flow keys are this
        // release's own full-page redirect flows, waiting for their callback page: they stay
        let own_flows = self.store.shares_keys_with(&self.redirect_flows);
        for key in self.store.keys() {
            if (key.starts_with(&flows) && !own_flows) || key.starts_with(&results) {
                self.store.remove(&key);
            } else if let Some(server) = key.strip_prefix(&servers) {
                if !self
                    .load_server(server)
                    .and_then(|r| r.tokens)
                    .is_some_and(|t| t.refresh_token.is_some())
                {
                    continue;
                }
                let Ok(_held) = self
                    .lock
                    .acquire(&self.token_lock(server), REFRESH_LOCK_TIMEOUT_MS)
                    .await
                else {
                    continue;
                };
                if let Some(mut rec) = self.load_server(server)
                    && let Some(tokens) = rec.tokens.clone().filter(|t| t.refresh_token.is_some())
                {
                    let _ = self.store_tokens(&mut rec, tokens).await;
                }
            } else if let Some(issuer) = key.strip_prefix(&clients)
                && let Some(rec) = self
                    .load::<ClientRecord>(&key)
                    .filter(|r| r.client.client_secret.is_some())
            {
                let _ = self.save_client(issuer, rec.client, rec.scope).await;
            }
        }
    }

    /// R29, R33: removes what `forget` cannot reach synchronously: the server's tokens in the
    /// vault, and the client secret of the registration `forget` dropped, if it dropped one.
    pub async fn forget_secrets(&self, server: &ServerUrl, dropped_issuer: Option<&str>) {
        self.vault.delete(&self.tokens_key(server.as_str())).await;
        if let Some(issuer) = dropped_issuer {
            self.vault.delete(&self.secret_key(issuer)).await;
            // R34: the issuer's DPoP key goes with the last server that used it
            self.vault.dpop_delete(&self.dpop_key(issuer)).await;
        }
    }

    /// R26, R27: a valid access token, refreshed first when it expires within the skew.
    pub async fn access_token(&self, server: &ServerUrl) -> Result<AccessToken, McpError> {
        self.current_tokens(server).await.map(|t| t.access_token)
    }

    /// The token set whose access token [`Engine::access_token`] gives (its type says how to
    /// send it, R34).
    async fn current_tokens(&self, server: &ServerUrl) -> Result<TokenSet, McpError> {
        let href = server.as_str();
        let now = self.env.now_ms();
        let cached = self.token_cache.borrow().get(href).cloned();
        let tokens = match cached {
            Some(t) => t,
            None => {
                let t = self
                    .load_server(href)
                    .and_then(|r| r.tokens)
                    .ok_or_else(|| not_authorized(href))?;
                self.token_cache.borrow_mut().insert(href.to_string(), t.clone());
                t
            }
        };
        if !tokens.expires_within(now, self.config.refresh_skew_ms) {
            return Ok(tokens);
        }
        if !tokens.can_refresh() {
            return if tokens.expires_within(now, 0) {
                Err(not_authorized(href))
            } else {
                Ok(tokens)
            };
        }
        match self.refreshed(server, &tokens.access_token).await {
            Ok(t) => Ok(t),
            // R27: a network or server failure (or a lock held too long) keeps everything; an
            // unexpired token still serves
            Err(e)
                if matches!(e.code, ErrorCode::Network | ErrorCode::ServerError | ErrorCode::Timeout)
                    && !tokens.expires_within(now, 0) =>
            {
                Ok(tokens)
            }
            Err(e) => Err(e.with_server(href)),
        }
    }

    /// R26: the single flight. Fresh tokens for a caller that found the access token `seen`
    /// stale: under the server's lock, the token set is read again from the vault (consistent
    /// across tabs, where localStorage is not), and when another caller or tab has already
    /// replaced `seen` with tokens that have not expired, those are the answer (even when their
    /// whole lifetime is shorter than the refresh skew); otherwise this caller refreshes, and
    /// the new set is stored before the lock is released.
    pub async fn refreshed(&self, server: &ServerUrl, seen: &AccessToken) -> Result<TokenSet, McpError> {
        let href = server.as_str();
        let _held = self
            .lock
            .acquire(&self.token_lock(href), REFRESH_LOCK_TIMEOUT_MS)
            .await?;
        // a caller in this page refreshed while this one waited: its tokens, from memory, with no
        // record to parse and no vault to read (another tab's write has dropped this copy)
        let now = self.env.now_ms();
        let theirs = self
            .token_cache
            .borrow()
            .get(href)
            .filter(|t| t.access_token != *seen && !t.expires_within(now, 0))
            .cloned();
        if let Some(t) = theirs {
            return Ok(t);
        }
        let mut rec = self.load_server(href).ok_or_else(|| not_authorized(href))?;
        let current = self.full_tokens(&rec).await.ok_or_else(|| not_authorized(href))?;
        if current.refresh_token.is_none() {
            // the record says refreshable, but the token is gone (a vault that did not outlive
            // the page): say so from now on
            self.store_tokens(&mut rec, current).await?;
            self.changed(&rec);
            return Err(not_authorized(href));
        }
        if current.access_token != *seen && !current.expires_within(self.env.now_ms(), 0) {
            if rec
                .tokens
                .as_ref()
                .is_some_and(|t| t.access_token != current.access_token)
            {
                // this tab's record had not seen the other tab's refresh yet
                self.store_tokens(&mut rec, current.clone()).await?;
            }
            return Ok(current);
        }
        self.refresh(rec, current).await
    }

    /// R26, R27: one refresh with the refresh token of `rec` (the record the caller saw).
    /// `invalid_grant` drops the tokens; `invalid_client` / `unauthorized_client` drop the
    /// registration too; anything else keeps everything. A refresh that failed because another
    /// caller or tab had already rotated the token leaves that caller's tokens alone and hands
    /// them back.
    pub async fn refresh(&self, mut rec: ServerRecord, full: TokenSet) -> Result<TokenSet, McpError> {
        let server = rec.server_url.clone();
        // F1: the issuer's client and key go to that issuer's own endpoints only
        let (Some(issuer), Some(meta)) = (
            rec.issuer.clone(),
            rec.as_metadata
                .take()
                .filter(|m| Some(&m.fields.issuer) == rec.issuer.as_ref()),
        ) else {
            return Err(not_authorized(&server));
        };
        let (Some(refresh_token), Some(client)) = (full.refresh_token.clone(), self.client_for_requests(&issuer).await)
        else {
            return Err(not_authorized(&server));
        };
        let m = &meta.fields;
        self.env.step(&server, "refresh", m.token_endpoint.as_str());
        let req = prepare_refresh(
            &m.token_endpoint,
            &client,
            m.token_endpoint_auth_methods_supported.as_deref(),
            &refresh_token,
            &rec.resource,
        );
        // R34: tokens already bound stay bound until replaced: a bound refresh token needs a
        // proof from the same key (RFC 9449 §5.0), whatever the mode says of new tokens
        let uses_dpop = dpop::is_dpop_bound(&full.token_type)
            || dpop::server_uses_dpop(self.config.dpop, m, rec.resource_metadata.as_ref().map(|d| &d.fields));
        let resp = self.send_token_request(req, uses_dpop.then_some(issuer.as_str())).await;
        rec.as_metadata = Some(meta);
        let e = match parse_token_response(&resp?, self.env.now_ms()) {
            Ok(t) => {
                let t = t.merge_refresh(Some(refresh_token), full.scope);
                // forgotten meanwhile (forget takes no lock): the answer stands, nothing is kept
                if self.load_server(&server).is_some() {
                    self.store_tokens(&mut rec, t.clone()).await?;
                    self.changed(&rec);
                }
                return Ok(t);
            }
            Err(e) => e,
        };
        let failure = e.refresh_failure();
        if failure != RefreshFailure::KeepAll {
            // read again: what is kept now may no longer be what this caller refreshed with
            let mut current = self.load_server(&server);
            let theirs = match &current {
                Some(c) => self
                    .full_tokens(c)
                    .await
                    .filter(|t| t.refresh_token.as_ref() != Some(&refresh_token)),
                None => None,
            };
            if let (Some(theirs), Some(cur)) = (theirs, current.as_mut()) {
                if cur
                    .tokens
                    .as_ref()
                    .is_some_and(|t| t.access_token != theirs.access_token)
                {
                    // this tab's record had not seen the other tab's refresh yet
                    self.store_tokens(cur, theirs.clone()).await?;
                }
                return Ok(theirs);
            }
            if failure == RefreshFailure::DropRegistration {
                self.drop_client(&issuer).await;
            }
            if let Some(cur) = current.as_mut() {
                self.drop_tokens(cur).await?;
            }
        }
        Err(e.into_refresh_error().with_server(&server))
    }

    /// R28: the app's request, with the server's bearer token when it goes to the server's
    /// origin (never to another origin, never in the URL), and without one when there is none.
    /// `send` is the shell's: it sends a fresh copy of the request with
    /// `Authorization: Bearer <token>` (or none). A 401 with a token costs one refresh and one
    /// retry; a refusal that stands (401, or 403 with a Bearer challenge) updates the server's
    /// discovery from its challenge and rejects `authorization_required` — or, for a 403
    /// `insufficient_scope`, `insufficient_scope` — with the scope the next `authorize` asks for.
    pub async fn authorized_fetch<R, F, Fut>(
        &self,
        server: &ServerUrl,
        method: &str,
        request_url: &str,
        mut send: F,
    ) -> Result<R, McpError>
    where
        F: FnMut(Option<Credentials>) -> Fut,
        Fut: Future<Output = Result<Sent<R>, McpError>>,
    {
        let url = match Url::parse(request_url) {
            Ok(u) if u.origin() == server.url().origin() => u,
            _ => return send(None).await.map(|s| s.response),
        };
        let mut tokens = match self.current_tokens(server).await {
            Ok(t) => Some(t),
            // no usable token: the request goes without one (a server may need authorization for
            // some requests only)
            Err(e) if e.code == ErrorCode::AuthorizationRequired => None,
            Err(e) => return Err(e),
        };
        let (mut retried, mut nonce_retries) = (false, 0);
        loop {
            let credentials = match &tokens {
                Some(t) => Some(self.credentials(server, t, method, &url).await?),
                None => None,
            };
            let bound = credentials.as_ref().is_some_and(|c| c.proof.is_some());
            let sent = send(credentials).await?;
            // R28, R34: an answer reached through a redirect to another origin is not the
            // server's: handed back as it is, its status, challenge and nonce drive nothing here
            if !sent.from_origin_of(&url) {
                return Ok(sent.response);
            }
            self.remember_nonce(&url, true, sent.dpop_nonce.as_deref());
            // R34, RFC 9449 §9: a resource server that wants a nonce gets a retry with it (two at
            // most: a refresh in between may meet a nonce that changed meanwhile)
            if bound
                && nonce_retries < MAX_NONCE_RETRIES
                && dpop::resource_server_nonce(
                    sent.status,
                    sent.www_authenticate.as_deref(),
                    sent.dpop_nonce.as_deref(),
                )
                .is_some()
            {
                nonce_retries += 1;
                continue;
            }
            let challenge = sent.www_authenticate.as_deref().and_then(bearer_challenge);
            if sent.status != 401 && !(sent.status == 403 && challenge.is_some()) {
                return Ok(sent.response);
            }
            if let (401, false, Some(t)) = (sent.status, retried, &tokens) {
                // R26, R28: the retry's refresh goes through the same single flight as any other
                retried = true;
                match self.refreshed(server, &t.access_token).await {
                    Ok(fresh) => {
                        tokens = Some(fresh);
                        continue;
                    }
                    Err(e) if e.code != ErrorCode::AuthorizationRequired => return Err(e),
                    Err(_) => {}
                }
            }
            let mut refused = self.challenged(server, sent.status, challenge, tokens.is_some())?;
            // R34: a bound token refused by a server whose challenge offers no DPoP scheme: the
            // server takes Bearer tokens only, and binding again would be refused again
            let bearer_only = sent.www_authenticate.as_deref().is_some_and(dpop::offers_bearer_only);
            if bound && sent.status == 401 && bearer_only {
                let said = refused
                    .oauth_error
                    .as_deref()
                    .map(|e| format!(" (the server said {e})"))
                    .unwrap_or_default();
                refused.message = format!(
                    "the server refused a DPoP-bound token and its challenge offers only Bearer: it does not take DPoP \
                     tokens{said}; create McpAuth with dpop: \"never\" (or \"auto\", which binds tokens only where the \
                     server's metadata says it takes DPoP) and authorize again"
                );
            }
            return Err(refused);
        }
    }

    /// R28: [`Engine::authorized_fetch`] with step-up: on `insufficient_scope`, `step_up` is
    /// asked to authorize again for the scope the error names (the shell opens the popup while
    /// the click that started the call still counts; it answers `false` when it cannot), and the
    /// request goes again — at most [`MAX_STEP_UPS`] times per request.
    pub async fn fetch_with_step_up<R, F, Fut, U, UFut>(
        &self,
        server: &ServerUrl,
        method: &str,
        request_url: &str,
        send: F,
        mut step_up: U,
    ) -> Result<R, McpError>
    where
        F: FnMut(Option<Credentials>) -> Fut + Copy,
        Fut: Future<Output = Result<Sent<R>, McpError>>,
        U: FnMut(Option<String>) -> UFut,
        UFut: Future<Output = Result<bool, McpError>>,
    {
        let mut attempts = 0;
        loop {
            match self.authorized_fetch(server, method, request_url, send).await {
                Err(e) if e.code == ErrorCode::InsufficientScope && attempts < MAX_STEP_UPS => {
                    attempts += 1;
                    self.env
                        .step(server.as_str(), "step_up", e.scope.as_deref().unwrap_or_default());
                    if !step_up(e.scope.clone()).await? {
                        return Err(e);
                    }
                }
                outcome => return outcome,
            }
        }
    }

    /// R28, R1, R9: a refusal that stands. The server's record (a bare one for a server never
    /// discovered) learns from the challenge — it needs authorization ("not needed" is never
    /// final), its scope, and a change of protected-resource metadata (a migration) makes
    /// discovery run again — and the error carries the scope to ask for: the challenge's, or on
    /// `insufficient_scope` the union of the granted and the challenged scopes, which the next
    /// `authorize` asks for by default.
    fn challenged(
        &self,
        server: &ServerUrl,
        status: u16,
        challenge: Option<BearerChallenge>,
        had_token: bool,
    ) -> Result<McpError, McpError> {
        let href = server.as_str();
        let challenge = challenge.unwrap_or_default();
        let insufficient = status == 403 && had_token && challenge.error.as_deref() == Some("insufficient_scope");
        // a server never discovered gets a record from the challenge, which the next
        // authorization completes (its discovery keeps the challenged scope)
        let mut rec = self.load_server(href).unwrap_or_else(|| ServerRecord::bare(href, true));
        let granted = rec.tokens.as_ref().and_then(|t| t.scope.clone());
        // R32: capped, as every scope list a server sends; past the cap nothing is learnt
        let scope = match insufficient {
            true => union_scopes(granted.as_deref(), challenge.scope.as_deref())?,
            false => union_scopes(None, challenge.scope.as_deref())?,
        };
        rec.requires_auth = true;
        if scope.is_some() {
            rec.challenge_scope = scope.clone();
        }
        // R9: a token refused for good, or a challenge naming other protected-resource metadata,
        // may mean the server moved to another authorization server: the next authorization
        // discovers again (and registers there if the issuer changed)
        if (status == 401 && had_token)
            || challenge
                .resource_metadata
                .as_ref()
                .is_some_and(|u| Some(u) != rec.resource_metadata_url.as_ref())
        {
            rec.as_metadata = None;
        }
        self.save_server(&rec)?;
        self.changed(&rec);
        let (code, message) = match insufficient {
            true => (
                ErrorCode::InsufficientScope,
                "the server asks for more scope than the token carries",
            ),
            false => (
                ErrorCode::AuthorizationRequired,
                "the server refused the request: authorize first",
            ),
        };
        let mut e = McpError::new(code, message).with_server(href).with_status(Some(status));
        e.scope = scope;
        e.oauth_error = challenge.error;
        e.description = challenge.error_description;
        Ok(e)
    }

    /// R29: revokes the refresh token, then the access token, then drops the tokens here; the
    /// registration and the metadata stay, so Connect again costs no discovery. A revocation
    /// that fails keeps the tokens and rejects `revocation_failed`, unless `force` drops them
    /// anyway (with a warning). Where nothing can be revoked at the server (no revocation
    /// endpoint, no known client) the tokens are dropped here and a warning says so.
    pub async fn revoke(&self, server: &ServerUrl, force: bool) -> Result<(), McpError> {
        let href = server.as_str();
        // under the server's token lock: a refresh in flight lands first, and its tokens are the
        // ones revoked
        let _held = self
            .lock
            .acquire(&self.token_lock(href), REFRESH_LOCK_TIMEOUT_MS)
            .await?;
        let Some(rec) = self.load_server(href).filter(|r| r.tokens.is_some()) else {
            return Ok(());
        };
        match self.revoke_record(&rec).await {
            Ok(Revoked::Both) => {}
            Ok(Revoked::RefreshTokenOnly) => self.env.warning(
                Some(href),
                Warning::NotRevoked,
                "the refresh token was revoked, but the server cannot revoke the access token (unsupported_token_type): dropped here, it stays valid at the server until it expires",
            ),
            Ok(Revoked::Nothing) => self.env.warning(Some(href), Warning::NotRevoked, "the server offers no revocation: the tokens were dropped here only"),
            Err(e) if force => self.env.warning(Some(href), Warning::NotRevoked, &format!("revocation failed ({e}); the tokens were dropped here as asked")),
            Err(e) => return Err(e.with_server(href)),
        }
        if let Some(mut current) = self.load_server(href) {
            self.drop_tokens(&mut current).await?;
        }
        Ok(())
    }

    /// RFC 7009 requests for the refresh token, then the access token. `Revoked::Nothing` when
    /// the server cannot be asked. `unsupported_token_type` is a failure for the refresh token,
    /// and for the access token only when no refresh token was revoked (oidc-provider cannot
    /// revoke its JWT access tokens): then `Revoked::RefreshTokenOnly`, which the app hears of.
    async fn revoke_record(&self, rec: &ServerRecord) -> Result<Revoked, McpError> {
        let Some(tokens) = self.full_tokens(rec).await else {
            return Ok(Revoked::Nothing);
        };
        // F1: the issuer's client goes to that issuer's own endpoints only
        let (Some(issuer), Some(meta)) = (
            &rec.issuer,
            rec.as_metadata
                .as_deref()
                .filter(|m| Some(&m.fields.issuer) == rec.issuer.as_ref()),
        ) else {
            return Ok(Revoked::Nothing);
        };
        let Document { fields: meta, .. } = meta;
        let (Some(endpoint), Some(client)) = (&meta.revocation_endpoint, self.client_for_requests(issuer).await) else {
            return Ok(Revoked::Nothing);
        };
        let auth = meta.token_endpoint_auth_methods_supported.as_deref();
        self.env.step(&rec.server_url, "revocation", endpoint.as_str());
        let unsupported = |what: &str| {
            McpError::new(
                ErrorCode::RevocationFailed,
                format!("the server cannot revoke the {what} (unsupported_token_type)"),
            )
        };
        let refresh_revoked = match &tokens.refresh_token {
            Some(rt) => match self
                .revoke_one(prepare_revocation(
                    endpoint,
                    &client,
                    auth,
                    rt.secret(),
                    "refresh_token",
                ))
                .await?
            {
                true => true,
                false => return Err(unsupported("refresh token")),
            },
            None => false,
        };
        match self
            .revoke_one(prepare_revocation(
                endpoint,
                &client,
                auth,
                tokens.access_token.secret(),
                "access_token",
            ))
            .await?
        {
            true => Ok(Revoked::Both),
            false if refresh_revoked => Ok(Revoked::RefreshTokenOnly),
            false => Err(unsupported("access token")),
        }
    }

    /// One RFC 7009 request: `Ok(false)` when the server cannot revoke that kind of token.
    async fn revoke_one(&self, req: HttpRequest) -> Result<bool, McpError> {
        let resp = self
            .send(req)
            .await
            .map_err(|e| McpError::from(e).recode(ErrorCode::RevocationFailed))?;
        parse_revocation(&resp)
    }

    // ---- status (R30) ---------------------------------------------------------------------

    pub fn status(&self, server: &ServerUrl) -> Status {
        match self.load_server(server.as_str()) {
            Some(rec) => self.status_of(&rec),
            None => Status::unknown(server.as_str()),
        }
    }

    /// Every server this origin has a record for, in key order.
    pub fn list(&self) -> Vec<Status> {
        let prefix = self.server_key("");
        let mut keys: Vec<String> = self
            .store
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(&prefix))
            .collect();
        keys.sort_unstable();
        keys.iter()
            .filter_map(|k| self.load_server(k.get(prefix.len()..)?))
            .map(|r| self.status_of(&r))
            .collect()
    }

    /// R29: removes everything kept for the server without contacting anyone: its record, its
    /// pending flows, and its issuer's registration when no other server uses that issuer.
    /// Returns the issuer whose registration went with it, for [`Engine::forget_secrets`].
    pub fn forget(&self, server: &ServerUrl) -> Option<String> {
        let href = server.as_str();
        let issuer = self.load_server(href).and_then(|r| r.issuer);
        self.uncache(href);
        self.store.remove(&self.server_key(href));
        self.popup_flows.borrow_mut().retain(|f| f.server_url != href);
        let flows = self.flow_key("");
        for key in self.redirect_flows.keys().into_iter().filter(|k| k.starts_with(&flows)) {
            if self
                .redirect_flows
                .get::<PendingFlow>(&key)
                .and_then(Result::ok)
                .is_some_and(|f| f.server_url == href)
            {
                self.redirect_flows.remove(&key);
            }
        }
        let servers = self.server_key("");
        let mut issuer_in_use = false;
        for key in self.store.keys() {
            if let Some(other) = key.strip_prefix(&servers) {
                issuer_in_use |= issuer.is_some() && self.load_server(other).is_some_and(|r| r.issuer == issuer);
            }
        }
        let dropped = issuer.filter(|_| !issuer_in_use);
        if let Some(issuer) = &dropped {
            self.store.remove(&self.client_key(issuer));
        }
        self.env.status_changed(&Status::unknown(href));
        dropped
    }
}

/// What a revocation reached at the server (R29).
enum Revoked {
    Both,
    /// The access token could not be revoked (`unsupported_token_type`): it stays valid there
    /// until it expires.
    RefreshTokenOnly,
    /// The server cannot be asked: no revocation endpoint, or no client to ask with.
    Nothing,
}

/// The in-memory copies of the servers' token sets (see `Engine::token_cache`).
pub type TokenCache = std::rc::Rc<std::cell::RefCell<std::collections::BTreeMap<String, TokenSet>>>;
