//! Discovery (R1–R10): the probe, protected-resource metadata, authorization-server metadata, cached per server.

use url::Url;

use crate::core::discovery::{
    ProbeOutcome, authorization_server_metadata_urls, default_metadata, may_fall_back,
    parse_authorization_server_metadata, parse_probe, parse_resource_metadata, prepare_probe, resource_metadata_urls,
};
use crate::core::error::{ErrorCode, HttpError, McpError};
use crate::core::http::{HttpRequest, HttpResponse};
use crate::core::registration::{ClientSource, choose_client_source};
use crate::core::resource::{ServerUrl, parse_secure};

use super::engine::*;
use super::records::{RECORD_VERSION, ServerInfo, ServerRecord, Step};
use super::{Env, Http, Lock, Store, Vault};

impl<H: Http, S: Store, E: Env, L: Lock, V: Vault> Engine<H, S, E, L, V> {
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

    pub(super) async fn discover_fresh(&self, server: &ServerUrl) -> Result<ServerRecord, McpError> {
        let href = server.as_str();
        self.env.step(href, Step::Probe, href);
        let probe = self.send(prepare_probe(server)).await?;
        let (challenge, open) = match parse_probe(&probe)? {
            ProbeOutcome::AuthRequired(c) => (c, None),
            ProbeOutcome::Open(status) => (None, Some(status)),
        };
        let prm_urls = resource_metadata_urls(server, challenge.as_ref())?;
        let prm = match self.first_found(href, Step::ResourceMetadata, prm_urls).await? {
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
        let meta = self.authorization_server_metadata(href, &issuer).await?;
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

    /// R6–R8: `issuer`'s metadata: the first document found at its well-known URLs (its
    /// `issuer` exactly this one, every endpoint secure), else the 2025-03-26 defaults.
    async fn authorization_server_metadata(
        &self,
        href: &str,
        issuer: &str,
    ) -> Result<crate::core::discovery::Document<crate::core::discovery::AuthServerMetadata>, McpError> {
        let issuer_url = parse_secure(issuer).map_err(|_| {
            McpError::new(
                ErrorCode::InsecureUrl,
                "the authorization server is neither https nor http on a loopback host",
            )
        })?;
        let urls = authorization_server_metadata_urls(&issuer_url);
        Ok(
            match self.first_found(href, Step::AuthorizationServerMetadata, urls).await? {
                Some((_, r)) => parse_authorization_server_metadata(&r, issuer)?,
                None => default_metadata(issuer, &issuer_url),
            },
        )
    }

    /// R3, R6: the first candidate URL that answers 200; 4xx, 502 and network failures move
    /// on to the next, other statuses stop.
    async fn first_found(
        &self,
        server: &str,
        step: Step,
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
}
