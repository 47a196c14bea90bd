//! The engine's storage: record keys, the server and client records, the in-memory token copies, status.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::core::error::{ErrorCode, HttpError, McpError};
use crate::core::http::{HttpRequest, HttpResponse, check_body};
use crate::core::registration::{Client, ClientSource};
use crate::core::resource::ServerUrl;
use crate::core::secret::{AccessToken, ClientSecret};

use super::engine::*;
use super::records::{ClientRecord, RECORD_VERSION, ServerRecord, Status, Warning};
use super::{Env, Http, Lock, Store, Vault};

impl<H: Http, S: Store, E: Env, L: Lock, V: Vault> Engine<H, S, E, L, V> {
    /// R25: the storage key of a server's record (one per server).
    pub fn server_key(&self, server_url: &str) -> String {
        format!("{}:server:{server_url}", self.config.prefix)
    }
    pub(super) fn client_key(&self, issuer: &str) -> String {
        format!("{}:client:{issuer}", self.config.prefix)
    }
    /// The Web Lock under which a server's tokens change (R26).
    pub(super) fn token_lock(&self, server_url: &str) -> String {
        format!("{}:refresh:{server_url}", self.config.prefix)
    }

    /// The vault's key for a server's token set, refresh token included (R33).
    pub(super) fn tokens_key(&self, server_url: &str) -> String {
        format!("{}:tokens:{server_url}", self.config.prefix)
    }
    /// R17: the key a full-page redirect's pending flow is kept under, by its `state`.
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

    /// R25: the stored record of a server; `None` when absent, or corrupt (then removed and
    /// reported).
    pub fn load_server(&self, server_url: &str) -> Option<ServerRecord> {
        self.load(&self.server_key(server_url))
    }

    /// Stores a server's record, and keeps in memory what it stored of the tokens (nothing when
    /// the write fails).
    pub(super) fn save_server(&self, rec: &ServerRecord) -> Result<(), McpError> {
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

    /// Drops every cached token set, so the next read goes to storage (another tab wrote, R30).
    pub fn uncache_all(&self) {
        self.token_cache.borrow_mut().clear();
    }

    fn stored_client(&self, issuer: &str) -> Option<Client> {
        self.load::<ClientRecord>(&self.client_key(issuer))
            .filter(|r| r.issuer == issuer && r.client.redirect_uri == self.config.redirect_uri)
            .map(|r| r.client)
    }

    /// R34: one DPoP key per issuer.
    pub(super) fn dpop_key(&self, issuer: &str) -> String {
        format!("{}:dpop:{issuer}", self.config.prefix)
    }
    /// The vault's key for an issuer's client secret (R33).
    pub(super) fn secret_key(&self, issuer: &str) -> String {
        format!("{}:client-secret:{issuer}", self.config.prefix)
    }

    /// Stores `client` for `issuer` — its secret in the vault (R33), with the scope it was
    /// registered for (F6) — and hands it back.
    pub(super) async fn save_client(
        &self,
        issuer: &str,
        client: Client,
        scope: Option<String>,
    ) -> Result<Client, McpError> {
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
    pub(super) async fn drop_client(&self, issuer: &str) {
        self.store.remove(&self.client_key(issuer));
        self.vault.delete(&self.secret_key(issuer)).await;
    }

    /// The client to authenticate with at `issuer`'s endpoints: [`Engine::known_client`], with
    /// its secret from the vault (R13, R33).
    pub(super) async fn client_for_requests(&self, issuer: &str) -> Option<Client> {
        let mut client = self.known_client(issuer)?;
        if client.client_secret.is_none() && client.source != ClientSource::Preregistered {
            client.client_secret = self.vault.get(&self.secret_key(issuer)).await.map(ClientSecret::new);
        }
        Some(client)
    }

    pub(super) fn preregistered(&self, issuer: &str) -> Option<Client> {
        self.config.clients.iter().find(|c| c.issuer == issuer).map(|c| Client {
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.clone(),
            auth_method: None,
            redirect_uri: self.config.redirect_uri.clone(),
            source: ClientSource::Preregistered,
        })
    }

    /// The client to use with `issuer` without contacting anyone, if there is one.
    pub(super) fn known_client(&self, issuer: &str) -> Option<Client> {
        self.preregistered(issuer).or_else(|| self.stored_client(issuer))
    }

    pub(super) fn status_of(&self, rec: &ServerRecord) -> Status {
        let client_id = rec
            .issuer
            .as_deref()
            .and_then(|i| self.known_client(i))
            .map(|c| c.client_id);
        Status::from_record(rec, client_id, self.env.now_ms())
    }

    pub(super) fn emit_status(&self, rec: &ServerRecord) -> Status {
        let s = self.status_of(rec);
        self.env.status_changed(&s);
        s
    }

    pub(super) fn random<const N: usize>(&self) -> Result<[u8; N], McpError> {
        let mut buf = [0u8; N];
        self.env.fill_random(&mut buf)?;
        Ok(buf)
    }

    /// R25, R32: no body past the request's `max_body` is parsed, whatever the shell read.
    pub(super) async fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let max = req.max_body;
        let resp = self.http.send(req).await?;
        check_body(resp.body.len(), max)?;
        Ok(resp)
    }

    /// R30: the synchronous status of `server`, from its stored record; `unknown` when there is
    /// none.
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

    /// R26, R30: another tab wrote `key` (`None`: it cleared the storage). The in-memory tokens
    /// give way to what it stored, and a server's record that changed reaches this tab's
    /// subscribers as a status event.
    pub fn other_tab_wrote(&self, key: Option<&str>) {
        let Some(key) = key else { return self.uncache_all() };
        if let Some(server) = key.strip_prefix(&self.server_key("")) {
            self.uncache(server);
            if let Ok(server) = ServerUrl::parse(server) {
                self.env.status_changed(&self.status(&server));
            }
        }
    }
}
