//! DPoP for the flows (R34, RFC 9449): proofs with the issuer's key, nonces per origin, the token requests that carry them.

use url::Url;

use crate::core::dpop::{self, PublicJwk};
use crate::core::error::{ErrorCode, McpError};
use crate::core::http::{HttpRequest, HttpResponse, parse_json};
use crate::core::pkce::random_state;
use crate::core::resource::ServerUrl;
use crate::core::secret::AccessToken;
use crate::core::token::TokenSet;

use super::engine::*;
use super::{Credentials, Env, Http, Lock, Store, Vault};

impl<H: Http, S: Store, E: Env, L: Lock, V: Vault> Engine<H, S, E, L, V> {
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
    pub(super) fn remember_nonce(&self, url: &Url, resource: bool, nonce: Option<&str>) {
        if let Some(n) = nonce.filter(|n| !n.is_empty()) {
            self.dpop_nonces
                .borrow_mut()
                .insert(Self::nonce_key(url, resource), n.to_string());
        }
    }

    /// A token-endpoint request (R17, R26), with a DPoP proof made with `dpop_issuer`'s key when
    /// there is one, and one retry when the server answers `use_dpop_nonce` (RFC 9449 §8).
    pub(super) async fn send_token_request(
        &self,
        req: HttpRequest,
        dpop_issuer: Option<&str>,
    ) -> Result<HttpResponse, McpError> {
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
    pub(super) async fn credentials(
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
}
