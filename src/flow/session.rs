//! The session's tokens (R26, R27, R33): storing them, the access token, the single-flight refresh, migration.

use crate::core::dpop::{self};
use crate::core::error::{ErrorCode, McpError};
use crate::core::http::parse_json;
use crate::core::resource::ServerUrl;
use crate::core::secret::AccessToken;
use crate::core::token::{RefreshFailure, TokenSet, parse_token_response, prepare_refresh};

use super::engine::*;
use super::records::{ClientRecord, ServerRecord, Step, Warning};
use super::{Env, Http, Lock, Store, Vault};

impl<H: Http, S: Store, E: Env, L: Lock, V: Vault> Engine<H, S, E, L, V> {
    /// The server's whole token set, refresh token included: the vault's copy (R33), or the
    /// record's own for a record written before refresh tokens moved to the vault. `None` when
    /// the record holds no tokens.
    pub(super) async fn full_tokens(&self, rec: &ServerRecord) -> Option<TokenSet> {
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
    pub(super) async fn store_tokens(&self, rec: &mut ServerRecord, mut tokens: TokenSet) -> Result<(), McpError> {
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
    pub(super) async fn drop_tokens(&self, rec: &mut ServerRecord) -> Result<(), McpError> {
        rec.tokens = None;
        self.vault.delete(&self.tokens_key(&rec.server_url)).await;
        self.save_server(rec)?;
        self.emit_status(rec);
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
                if self
                    .load_server(server)
                    .and_then(|r| r.tokens)
                    .is_none_or(|t| t.refresh_token.is_none())
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

    /// R26, R27: a valid access token, refreshed first when it expires within the skew.
    pub async fn access_token(&self, server: &ServerUrl) -> Result<AccessToken, McpError> {
        self.current_tokens(server).await.map(|t| t.access_token)
    }

    /// The token set whose access token [`Engine::access_token`] gives (its type says how to
    /// send it, R34).
    pub(super) async fn current_tokens(&self, server: &ServerUrl) -> Result<TokenSet, McpError> {
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
        match self.refresh_single_flight(server, &tokens.access_token).await {
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
    pub async fn refresh_single_flight(&self, server: &ServerUrl, seen: &AccessToken) -> Result<TokenSet, McpError> {
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
            self.emit_status(&rec);
            return Err(not_authorized(href));
        }
        if current.access_token != *seen && !current.expires_within(self.env.now_ms(), 0) {
            return self.adopt_newer_tokens(&mut rec, current).await;
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
        self.env.step(&server, Step::Refresh, m.token_endpoint.as_str());
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
                    self.emit_status(&rec);
                }
                return Ok(t);
            }
            Err(e) => e,
        };
        let failure = e.refresh_failure();
        if failure != RefreshFailure::KeepAll
            && let Some(theirs) = self
                .after_refused_refresh(&server, &issuer, &refresh_token, failure)
                .await?
        {
            return Ok(theirs);
        }
        Err(e.into_refresh_error().with_server(&server))
    }

    /// R26, R27: a refresh refused for good (`invalid_grant`, or the client gone). When another
    /// caller or tab had already rotated the token, theirs are the answer (and stay); otherwise
    /// the tokens go, and with `DropRegistration` the registration too.
    async fn after_refused_refresh(
        &self,
        server: &str,
        issuer: &str,
        refresh_token: &crate::core::secret::RefreshToken,
        failure: RefreshFailure,
    ) -> Result<Option<TokenSet>, McpError> {
        // read again: what is kept now may no longer be what this caller refreshed with
        let mut current = self.load_server(server);
        let theirs = match &current {
            Some(c) => self
                .full_tokens(c)
                .await
                .filter(|t| t.refresh_token.as_ref() != Some(refresh_token)),
            None => None,
        };
        if let (Some(theirs), Some(cur)) = (theirs, current.as_mut()) {
            return self.adopt_newer_tokens(cur, theirs).await.map(Some);
        }
        if failure == RefreshFailure::DropRegistration {
            self.drop_client(issuer).await;
        }
        if let Some(cur) = current.as_mut() {
            self.drop_tokens(cur).await?;
        }
        Ok(None)
    }

    /// R26: another caller or tab already replaced the tokens: theirs are the answer, and this
    /// tab's record takes them when it had not seen them yet.
    async fn adopt_newer_tokens(&self, rec: &mut ServerRecord, theirs: TokenSet) -> Result<TokenSet, McpError> {
        if rec
            .tokens
            .as_ref()
            .is_some_and(|t| t.access_token != theirs.access_token)
        {
            self.store_tokens(rec, theirs.clone()).await?;
        }
        Ok(theirs)
    }
}
