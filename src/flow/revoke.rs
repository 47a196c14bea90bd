//! Ending a session (R29): revocation at the server, and forgetting everything kept here.

use crate::core::authorize::PendingFlow;
use crate::core::discovery::Document;
use crate::core::error::{ErrorCode, McpError};
use crate::core::http::HttpRequest;
use crate::core::resource::ServerUrl;
use crate::core::revocation::{Revocation, parse_revocation, prepare_revocation};

use super::engine::*;
use super::records::{ServerRecord, Status, Step, Warning};
use super::{Env, Http, Lock, Store, Vault};

impl<H: Http, S: Store, E: Env, L: Lock, V: Vault> Engine<H, S, E, L, V> {
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
        self.env.step(&rec.server_url, Step::Revocation, endpoint.as_str());
        let revoke =
            |token: &str, hint: &'static str| self.revoke_one(prepare_revocation(endpoint, &client, auth, token, hint));
        let refresh_revoked = match &tokens.refresh_token {
            Some(rt) => match revoke(rt.secret(), "refresh_token").await? {
                Revocation::Revoked => true,
                Revocation::Unsupported => return Err(unsupported("refresh token")),
            },
            None => false,
        };
        match revoke(tokens.access_token.secret(), "access_token").await? {
            Revocation::Revoked => Ok(Revoked::Both),
            Revocation::Unsupported if refresh_revoked => Ok(Revoked::RefreshTokenOnly),
            Revocation::Unsupported => Err(unsupported("access token")),
        }
    }

    /// One RFC 7009 request.
    async fn revoke_one(&self, req: HttpRequest) -> Result<Revocation, McpError> {
        let resp = self
            .send(req)
            .await
            .map_err(|e| McpError::from(e).recode(ErrorCode::RevocationFailed))?;
        parse_revocation(&resp)
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

/// R29: a token the server cannot revoke (`unsupported_token_type`).
fn unsupported(what: &str) -> McpError {
    McpError::new(
        ErrorCode::RevocationFailed,
        format!("the server cannot revoke the {what} (unsupported_token_type)"),
    )
}
