//! Connecting (R11–R20): the client identity, the authorization request, the callback and the code exchange.

use crate::core::authorize::{
    CallbackError, CallbackParams, PendingFlow, build_authorization_url, check_callback, choose_scope, union_scopes,
};
use crate::core::discovery::AuthServerMetadata;
use crate::core::dpop::{self};
use crate::core::error::{ErrorCode, McpError};
use crate::core::pkce::{CodeVerifier, random_state, s256_allowed};
use crate::core::registration::{Client, ClientSource, choose_client_source, parse_registration, prepare_registration};
use crate::core::resource::ServerUrl;
use crate::core::secret::ClientSecret;
use crate::core::token::{parse_token_response, prepare_code_exchange};

use super::engine::*;
use super::records::{ClientRecord, ServerRecord, Status, Step};
use super::{Env, Http, Lock, Store, Vault};

impl<H: Http, S: Store, E: Env, L: Lock, V: Vault> Engine<H, S, E, L, V> {
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
        let mut kept = None;
        if let Some(c) = self.client_for_requests(issuer).await {
            match self.wider_registration(issuer, &c, meta, registration_scope.as_deref())? {
                Some(wider) => {
                    registration_scope = Some(wider);
                    kept = Some(c);
                }
                None => return Ok(c),
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
            (_, Some(endpoint)) => match (
                self.register(&rec.server_url, endpoint, registration_scope.as_deref())
                    .await,
                kept,
            ) {
                (Ok(client), _) => self.save_client(issuer, client, registration_scope).await,
                // F6: a wider registration the server refuses leaves the one that works
                (Err(_), Some(kept)) => Ok(kept),
                (Err(e), None) => Err(e),
            },
            (_, None) => Err(crate::core::registration::RegistrationError::Required.into()),
        }
    }

    /// F6 (R12): the scope to register again for, when `client` is a dynamic registration made
    /// for another server's scope that does not cover `needed` (servers sharing an issuer share
    /// its registration; the first one must not fix its scope for all); `None` to keep it.
    /// Scopes the authorization server does not list are its to refuse at authorization.
    fn wider_registration(
        &self,
        issuer: &str,
        client: &Client,
        meta: &AuthServerMetadata,
        needed: Option<&str>,
    ) -> Result<Option<String>, McpError> {
        let registered = self
            .load::<ClientRecord>(&self.client_key(issuer))
            .and_then(|r| r.scope);
        let (ClientSource::Dynamic, Some(have), Some(_)) =
            (client.source, registered.as_deref(), &meta.registration_endpoint)
        else {
            return Ok(None);
        };
        let listed = |s: &str| meta.scopes_supported.as_ref().is_none_or(|l| l.iter().any(|x| x == s));
        let covered = needed.is_none_or(|need| {
            need.split_whitespace()
                .filter(|s| listed(s))
                .all(|s| have.split_whitespace().any(|h| h == s))
        });
        if covered {
            return Ok(None);
        }
        let wanted = union_scopes(Some(have), needed)?;
        Ok(wanted.map(|w| w.split_whitespace().filter(|s| listed(s)).collect::<Vec<_>>().join(" ")))
    }

    /// R12: one RFC 7591 registration at `endpoint` for `scope`.
    async fn register(&self, server_url: &str, endpoint: &url::Url, scope: Option<&str>) -> Result<Client, McpError> {
        self.env.step(server_url, Step::Registration, endpoint.as_str());
        let req = prepare_registration(endpoint, &self.config.client_name, &self.config.redirect_uri, scope);
        let resp = self.send(req).await?;
        Ok(parse_registration(&resp, &self.config.redirect_uri)?)
    }

    /// R1, R14–R17, R21: starts an authorization of `server`: discovery (again, if it last said
    /// "not needed"), the client (R11), then the pending flow, kept, and the URL to send the user
    /// to; or [`Begin::NotNeeded`].
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
        let (scope, registration_scope) = self.scopes_for(&rec, meta, opts.scope.as_deref())?;
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
        self.keep_pending(flow)?;
        // the whole URL the popup or page opens: it holds the code challenge, never the verifier
        self.env.step(&rec.server_url, Step::Authorization, url.as_str());
        Ok(Begin::Navigate { url, state })
    }

    /// R16, R12: the scope to ask for — the app's, else the challenge's, else the resource's,
    /// with `offline_access` when the app asked for refresh tokens and the authorization server
    /// lists it — and the scope to register for: every scope the resource lists and this
    /// request's, never just this request's, so that a later step-up is not refused at servers
    /// holding a client to its registered scope.
    fn scopes_for(
        &self,
        rec: &ServerRecord,
        meta: &AuthServerMetadata,
        asked: Option<&str>,
    ) -> Result<(Option<String>, Option<String>), McpError> {
        let resource_scopes = rec
            .resource_metadata
            .as_ref()
            .and_then(|m| m.fields.scopes_supported.as_deref());
        let scope = choose_scope(
            asked.or(rec.challenge_scope.as_deref()),
            resource_scopes,
            meta.scopes_supported.as_deref(),
            self.config.offline_access,
        )?;
        let supported = resource_scopes.map(|s| s.join(" "));
        let registration_scope = union_scopes(supported.as_deref(), scope.as_deref())?;
        Ok((scope, registration_scope))
    }

    /// A popup's flow waits in this page's memory; a full-page redirect leaves the page, so its
    /// flow waits in this tab's session (R24, R33).
    fn keep_pending(&self, flow: PendingFlow) -> Result<(), McpError> {
        if flow.popup {
            self.popup_flows.borrow_mut().push(flow);
            return Ok(());
        }
        self.redirect_flows.set(&self.flow_key(&flow.state), &flow)
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
        self.env
            .step(&flow.server_url, Step::Token, flow.token_endpoint.as_str());
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
        Ok(self.emit_status(&rec))
    }
}

/// R14, R38: which of the two cases it is, and what the app can do about it.
pub(super) fn pkce_unsupported(methods: Option<&[String]>) -> McpError {
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
