//! Authorized requests (R28): the token on the server's requests, the retry after a refresh, step-up, refusals.

use url::Url;

use crate::core::authorize::union_scopes;
use crate::core::challenge::{BearerChallenge, bearer_challenge};
use crate::core::dpop::{self};
use crate::core::error::{ErrorCode, McpError};
use crate::core::resource::ServerUrl;

use super::engine::*;
use super::records::ServerRecord;
use super::records::Step;
use super::{Credentials, Env, Http, Lock, Sent, Store, Vault};

impl<H: Http, S: Store, E: Env, L: Lock, V: Vault> Engine<H, S, E, L, V> {
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
        let mut tokens = self.tokens_if_any(server).await?;
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
            if bound && nonce_retries < MAX_NONCE_RETRIES && wants_nonce(&sent) {
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
                match self.refresh_single_flight(server, &t.access_token).await {
                    Ok(fresh) => {
                        tokens = Some(fresh);
                        continue;
                    }
                    Err(e) if e.code != ErrorCode::AuthorizationRequired => return Err(e),
                    Err(_) => {}
                }
            }
            let refused = self.refusal_error(server, sent.status, challenge, tokens.is_some());
            return Err(match bound && sent.status == 401 {
                true => bound_token_refused(refused, sent.www_authenticate.as_deref()),
                false => refused,
            });
        }
    }

    /// The token set to send with a request, or `None` when there is no usable one: the request
    /// goes without (a server may need authorization for some requests only).
    async fn tokens_if_any(&self, server: &ServerUrl) -> Result<Option<crate::core::token::TokenSet>, McpError> {
        match self.current_tokens(server).await {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.code == ErrorCode::AuthorizationRequired => Ok(None),
            Err(e) => Err(e),
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
                        .step(server.as_str(), Step::StepUp, e.scope.as_deref().unwrap_or_default());
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
    pub(super) fn refusal_error(
        &self,
        server: &ServerUrl,
        status: u16,
        challenge: Option<BearerChallenge>,
        had_token: bool,
    ) -> McpError {
        let href = server.as_str();
        let challenge = challenge.unwrap_or_default();
        let insufficient = status == 403 && had_token && challenge.error.as_deref() == Some("insufficient_scope");
        // a server never discovered gets a record from the challenge, which the next
        // authorization completes (its discovery keeps the challenged scope)
        let mut rec = self.load_server(href).unwrap_or_else(|| ServerRecord::bare(href, true));
        let granted = rec.tokens.as_ref().and_then(|t| t.scope.clone());
        // R32: capped, as every scope list a server sends; past the cap nothing is learnt
        let scope = match insufficient {
            true => union_scopes(granted.as_deref(), challenge.scope.as_deref()),
            false => union_scopes(None, challenge.scope.as_deref()),
        };
        let scope = match scope {
            Ok(s) => s,
            Err(e) => return e.into(),
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
        // a refusal whose record cannot be kept says why
        if let Err(e) = self.save_server(&rec) {
            return e;
        }
        self.emit_status(&rec);
        refused(href, status, insufficient, scope, challenge)
    }
}

/// R28: the error a refusal that stands ends in: `insufficient_scope` or
/// `authorization_required`, with the scope the next `authorize` asks for and the server's
/// `error` and `error_description`.
fn refused(href: &str, status: u16, insufficient: bool, scope: Option<String>, challenge: BearerChallenge) -> McpError {
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
    e
}

/// R34, RFC 9449 §9: the answer asks for a retry with the resource server's nonce.
fn wants_nonce<R>(sent: &Sent<R>) -> bool {
    dpop::resource_server_nonce(
        sent.status,
        sent.www_authenticate.as_deref(),
        sent.dpop_nonce.as_deref(),
    )
    .is_some()
}

/// R34: a bound token refused by a server whose challenge offers no DPoP scheme: the server
/// takes Bearer tokens only, and binding again would be refused again — the message says so.
fn bound_token_refused(mut refused: McpError, www_authenticate: Option<&str>) -> McpError {
    if www_authenticate.is_some_and(dpop::offers_bearer_only) {
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
    refused
}
